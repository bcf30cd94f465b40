/*
 * Levelled logging to stderr.  The level check happens in the macro so a
 * disabled debug line costs one comparison and evaluates no arguments.
 * ADE_LOG (error|warn|info|debug) sets the level of a process at start.
 */
#ifndef ADE_LOG_H
#define ADE_LOG_H

enum ade_log_level {
	ADE_LOG_ERROR = 0,
	ADE_LOG_WARN = 1,
	ADE_LOG_INFO = 2,
	ADE_LOG_DEBUG = 3,
};

extern int ade_log_level_current;

/* Sets the level; returns the previous one. */
int ade_log_set_level(int level);
/* Reads ADE_LOG from the environment; unknown values are ignored. */
void ade_log_init_from_env(void);
/* Name shown in front of every line, e.g. "ade" or "ade-ingest". */
void ade_log_set_prog(const char *prog);

void ade_log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define ade_log(level, ...)                                 \
	do {                                                \
		if ((level) <= ade_log_level_current)       \
			ade_log_write((level), __VA_ARGS__); \
	} while (0)
#define ade_log_error(...) ade_log(ADE_LOG_ERROR, __VA_ARGS__)
#define ade_log_warn(...) ade_log(ADE_LOG_WARN, __VA_ARGS__)
#define ade_log_info(...) ade_log(ADE_LOG_INFO, __VA_ARGS__)
#define ade_log_debug(...) ade_log(ADE_LOG_DEBUG, __VA_ARGS__)

#endif
