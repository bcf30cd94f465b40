/*
 * Small utilities every module uses: allocation that aborts on OOM (as
 * redis' zmalloc and tmux's xmalloc do, so callers never test for NULL),
 * a growable string buffer, and monotonic and wall clocks.
 */
#ifndef ADE_UTIL_H
#define ADE_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *ade_xmalloc(size_t n);
void *ade_xcalloc(size_t n, size_t size);
void *ade_xrealloc(void *p, size_t n);
char *ade_xstrdup(const char *s);
char *ade_xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *ade_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The strings given, joined, in a new string (caller frees); the list ends
 * with NULL.  For paths and NAME=VALUE pairs built for every stage, where
 * printf's format machinery cost ten times the copying.
 */
char *ade_xconcat(const char *first, ...) __attribute__((sentinel));

/*
 * A growable NUL-terminated buffer.  Initialise with ADE_STRBUF_INIT;
 * buf is never NULL after the first append.  The owner releases it with
 * ade_strbuf_release() or takes the string with ade_strbuf_detach().
 */
struct ade_strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define ADE_STRBUF_INIT {NULL, 0, 0}

void ade_strbuf_grow(struct ade_strbuf *sb, size_t extra);
void ade_strbuf_add(struct ade_strbuf *sb, const void *data, size_t len);
void ade_strbuf_adds(struct ade_strbuf *sb, const char *s);
void ade_strbuf_addc(struct ade_strbuf *sb, char c);
void ade_strbuf_addf(struct ade_strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ade_strbuf_reset(struct ade_strbuf *sb);
void ade_strbuf_release(struct ade_strbuf *sb);
/* Returns the string (never NULL; caller frees) and resets sb. */
char *ade_strbuf_detach(struct ade_strbuf *sb);

/*
 * A table from strings to non-negative ints (open addressing), for lookups
 * by name over thousands of stages.  The keys are borrowed: the caller
 * keeps them alive and unchanged while the table holds them.  Initialise
 * with ADE_STRMAP_INIT; the owner frees the table with ade_strmap_free().
 */
struct ade_strmap {
	const char **keys;
	int *vals;
	uint32_t mask; /* slots - 1; 0 before the first put */
	int n;
};
#define ADE_STRMAP_INIT {NULL, NULL, 0, 0}

/* The value stored for key, or -1. */
int ade_strmap_get(const struct ade_strmap *m, const char *key);
/* Stores val (>= 0) for key, replacing an earlier value. */
void ade_strmap_put(struct ade_strmap *m, const char *key, int val);
void ade_strmap_free(struct ade_strmap *m);

/*
 * Puts the calling thread in SCHED_IDLE, for threads that do bookkeeping
 * beside stages (the executor's helper, the observers' worker).  The
 * kernel counts a CPU that runs only such threads as idle when it places
 * a woken task, so the executor's thread and the stages never queue
 * behind them; under full load they still get a small share (SCHED_IDLE
 * is CFS's lowest weight, not starvation).  Returns 0 or an errno.
 */
int ade_thread_set_background(void);

/* Monotonic time in nanoseconds. */
int64_t ade_now_mono_ns(void);
/* Wall-clock time in microseconds since the epoch. */
int64_t ade_now_wall_us(void);
/* Formats a wall time (us since epoch) as ISO 8601 UTC with milliseconds. */
void ade_format_utc(int64_t us, char out[32]);
/*
 * Milliseconds as seconds, to the microsecond ade measures (NaN stays
 * NaN): m / 10^6 prints in a few digits (ade_json_format_number), where
 * ms / 1000 of a float could need seventeen.
 */
double ade_ms_to_s(double ms);

/*
 * Parses a duration: "250ms", "5s", "10m", "2h", "1d", or a bare number of
 * seconds.  Returns 0 and sets *ms, or ADE_EINVAL.
 */
int ade_parse_duration_ms(const char *s, int64_t *ms);

#endif
