/* analytics-sqlcheck FRAME_DIR RESULT_JSON: exit 0 when SQLite agrees. */
#include "sqlcheck.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	int checked, bad;

	if (argc != 3) {
		fprintf(stderr, "usage: analytics-sqlcheck FRAME_DIR RESULT_JSON\n");
		return 2;
	}
	bad = analytics_sqlcheck(argv[1], argv[2], stderr, &checked);
	printf("%d sets checked against SQLite, %d differences\n", checked, bad);
	return bad ? 1 : 0;
}
