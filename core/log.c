/* Levelled logging to stderr; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ade_log_level_current = ADE_LOG_INFO;
static const char *log_prog = "ade";

int ade_log_set_level(int level)
{
	int old = ade_log_level_current;

	ade_log_level_current = level;
	return old;
}

void ade_log_set_prog(const char *prog)
{
	log_prog = prog;
}

void ade_log_init_from_env(void)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	const char *v = getenv("ADE_LOG");

	if (!v)
		return;
	for (int i = 0; i < 4; i++)
		if (!strcmp(v, names[i]))
			ade_log_level_current = i;
}

void ade_log_write(int level, const char *fmt, ...)
{
	static const char *tags[] = {"error", "warning", "info", "debug"};
	char line[4096];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s: %s: ", log_prog,
		     tags[level < 0 ? 0 : level > 3 ? 3 : level]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines whole when stages share a log. */
	strncat(line, "\n", sizeof(line) - strlen(line) - 1);
	fputs(line, stderr);
}
