/* Allocation, string buffers and clocks; see util.h. */
#include "util.h"
#include "date.h"
#include "error.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "ade: out of memory allocating %zu bytes\n", n);
	abort();
}

void *ade_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *ade_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void *ade_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *ade_xstrdup(const char *s)
{
	return ade_xstrndup(s, strlen(s));
}

char *ade_xstrndup(const char *s, size_t n)
{
	char *p = ade_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *ade_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return p;
}

char *ade_xconcat(const char *first, ...)
{
	va_list ap;
	size_t n = 0;
	const char *s;

	va_start(ap, first);
	for (s = first; s; s = va_arg(ap, const char *))
		n += strlen(s);
	va_end(ap);
	char *out = ade_xmalloc(n + 1), *at = out;
	va_start(ap, first);
	for (s = first; s; s = va_arg(ap, const char *)) {
		size_t k = strlen(s);
		memcpy(at, s, k);
		at += k;
	}
	va_end(ap);
	*at = '\0';
	return out;
}

void ade_strbuf_grow(struct ade_strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	sb->buf = ade_xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void ade_strbuf_add(struct ade_strbuf *sb, const void *data, size_t len)
{
	ade_strbuf_grow(sb, len);
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void ade_strbuf_adds(struct ade_strbuf *sb, const char *s)
{
	ade_strbuf_add(sb, s, strlen(s));
}

void ade_strbuf_addc(struct ade_strbuf *sb, char c)
{
	ade_strbuf_add(sb, &c, 1);
}

void ade_strbuf_addf(struct ade_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	ade_strbuf_grow(sb, 64);
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sb->cap - sb->len) {
		ade_strbuf_grow(sb, n);
		va_start(ap, fmt);
		vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += n;
}

void ade_strbuf_reset(struct ade_strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void ade_strbuf_release(struct ade_strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

char *ade_strbuf_detach(struct ade_strbuf *sb)
{
	char *s = sb->buf ? sb->buf : ade_xstrdup("");

	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return s;
}

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of key, or of the empty slot where it would go. */
static uint32_t strmap_slot(const struct ade_strmap *m, const char *key)
{
	uint32_t k = str_hash(key) & m->mask;

	while (m->keys[k] && strcmp(m->keys[k], key))
		k = (k + 1) & m->mask;
	return k;
}

int ade_strmap_get(const struct ade_strmap *m, const char *key)
{
	if (!m->mask)
		return -1;
	uint32_t k = strmap_slot(m, key);
	return m->keys[k] ? m->vals[k] : -1;
}

void ade_strmap_put(struct ade_strmap *m, const char *key, int val)
{
	/* Grown at half full, so a probe stays short and always ends. */
	if (2 * (uint32_t)(m->n + 1) > m->mask) {
		struct ade_strmap old = *m;
		uint32_t slots = old.mask ? 2 * (old.mask + 1) : 64;
		m->keys = ade_xcalloc(slots, sizeof(*m->keys));
		m->vals = ade_xmalloc(sizeof(*m->vals) * slots);
		m->mask = slots - 1;
		m->n = 0;
		for (uint32_t k = 0; old.mask && k <= old.mask; k++)
			if (old.keys[k])
				ade_strmap_put(m, old.keys[k], old.vals[k]);
		ade_strmap_free(&old);
	}
	uint32_t k = strmap_slot(m, key);
	if (!m->keys[k]) {
		m->keys[k] = key;
		m->n++;
	}
	m->vals[k] = val;
}

void ade_strmap_free(struct ade_strmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->mask = 0;
	m->n = 0;
}

int ade_thread_set_background(void)
{
	struct sched_param sp = {0};

	return pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
}

int64_t ade_now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ade_now_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void ade_format_utc(int64_t us, char out[32])
{
	/* Floor division: a time before 1970 is in the second and day before. */
	int64_t s = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	int64_t days = s / 86400, sod = s % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	ade_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
			 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)(frac / 1000));
		return;
	}
	/*
	 * By hand: gmtime_r and snprintf took 3,700 instructions, and state.db
	 * and the lineage events stamp several times per stage.
	 */
	memcpy(out, "0000-00-00T00:00:00.000Z", 25);
	put_digits(out, (unsigned)y, 4);
	put_digits(out + 5, m, 2);
	put_digits(out + 8, d, 2);
	put_digits(out + 11, (unsigned)(sod / 3600), 2);
	put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
	put_digits(out + 17, (unsigned)(sod % 60), 2);
	put_digits(out + 20, (unsigned)(frac / 1000), 3);
}

double ade_ms_to_s(double ms)
{
	return round(ms * 1e3) / 1e6;
}

int ade_parse_duration_ms(const char *s, int64_t *ms)
{
	char *end;
	double v;
	double mult = 1000;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return ADE_EINVAL;
	v = strtod(s, &end);
	if (end == s || v != v)
		return ADE_EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (!strcmp(end, "d"))
		mult = 86400000;
	else
		return ADE_EINVAL;
	v *= mult;
	if (v < 0 || v > 1e15)
		return ADE_EINVAL;
	*ms = (int64_t)v;
	return 0;
}
