/*
 * Calls ade_report_render repeatedly on one home, as `ade serve` does, and
 * checks that it leaves no file descriptor open and gives the same
 * document every time (but for the generation time).  Under ASan it also
 * shows that nothing leaks.
 * usage: report_render_loop HOME PIPELINE [N]
 */
#include "report/report.h"
#include "core/error.h"
#include "core/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* The document without its "generated ..." time, which changes per call. */
static char *stable(struct ade_strbuf *sb)
{
	char *s = ade_strbuf_detach(sb), *g = strstr(s, "generated ");
	if (g)
		memset(g, '-', strcspn(g, "b") - 1);
	return s;
}

int main(int argc, char **argv)
{
	struct ade_error err = {0};
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	int n = argc > 3 ? atoi(argv[3]) : 20, rc = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: report_render_loop HOME PIPELINE [N]\n");
		return 2;
	}
	if (ade_report_render(argv[1], argv[2], NULL, NULL, &sb, &err)) {
		fprintf(stderr, "render: %s\n", err.msg);
		return 1;
	}
	char *first = stable(&sb);
	int fds = open_fds();
	for (int i = 0; i < n && !rc; i++) {
		if (ade_report_render(argv[1], argv[2], i % 2 ? "2026-03-02" : NULL, NULL, &sb, &err)) {
			fprintf(stderr, "render %d: %s\n", i, err.msg);
			rc = 1;
			break;
		}
		char *doc = stable(&sb);
		if (i % 2 == 0 && strcmp(doc, first)) {
			fprintf(stderr, "render %d gave a different document\n", i);
			rc = 1;
		}
		free(doc);
	}
	if (!rc && open_fds() != fds) {
		fprintf(stderr, "file descriptors: %d before, %d after\n", fds, open_fds());
		rc = 1;
	}
	/* Errors leave nothing open either. */
	if (!ade_report_render(argv[1], "no-such-pipeline", NULL, NULL, &sb, &err) ||
	    err.code != ADE_ENOTFOUND || open_fds() != fds) {
		fprintf(stderr, "unknown pipeline: want ADE_ENOTFOUND and no fd left open\n");
		rc = 1;
	}
	ade_strbuf_release(&sb);
	free(first);
	if (!rc)
		printf("%d renders: same document, no file descriptor left open\n", n);
	return rc;
}
