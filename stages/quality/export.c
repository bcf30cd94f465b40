/*
 * CSV export of a frame; see quality.h.  Pure C, so floats take the
 * exact-cents fast path and otherwise the shortest of %.15g, %.16g and
 * %.17g that strtod reads back exactly (reference/performance.md §3).
 */
#include "quality.h"
#include "qinternal.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t put_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[k++] = tmp[--n];
	return k;
}

static size_t put_i64(char *out, int64_t v)
{
	if (v < 0) {
		out[0] = '-';
		return 1 + put_u64(out + 1, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(out, (uint64_t)v);
}

size_t ade_quality_format_double(double v, char *out)
{
	if (isnan(v)) {
		memcpy(out, "nan", 4);
		return 3;
	}
	if (isinf(v)) {
		strcpy(out, v < 0 ? "-inf" : "inf");
		return v < 0 ? 4 : 3;
	}
	/*
	 * Whole cents: if m = round(v * 100) and m / 100 == v, then the
	 * decimal m/100 rounds to v, and with at most 15 significant digits
	 * it is also the shortest text that does.
	 */
	if (fabs(v) < 1e13) {
		double m = nearbyint(v * 100);
		if (m / 100 == v && !(v == 0 && signbit(v))) {
			int64_t mi = (int64_t)m;
			uint64_t a = mi < 0 ? (uint64_t)0 - (uint64_t)mi : (uint64_t)mi;
			size_t n = 0;
			if (mi < 0)
				out[n++] = '-';
			n += put_u64(out + n, a / 100);
			unsigned c = (unsigned)(a % 100);
			out[n++] = '.';
			out[n++] = (char)('0' + c / 10);
			if (c % 10)
				out[n++] = (char)('0' + c % 10);
			out[n] = '\0';
			return n;
		}
	}
	for (int prec = 15; prec <= 17; prec++) {
		int n = snprintf(out, 32, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v) {
			/* An integral value keeps a float look: "1e+20" does, "42" not. */
			if (!strpbrk(out, ".eEn")) {
				memcpy(out + n, ".0", 3);
				n += 2;
			}
			return (size_t)n;
		}
	}
	return 0; /* not reached */
}

struct csvbuf {
	int fd;
	char *buf;
	size_t len, cap;
	int64_t total;
	int err; /* errno of the first failed write */
};

static void cb_flush(struct csvbuf *b)
{
	const char *p = b->buf;
	size_t n = b->len;

	while (n && !b->err) {
		ssize_t k = write(b->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = errno;
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	b->total += (int64_t)b->len;
	b->len = 0;
}

/* Room for need more bytes; a field larger than the buffer grows it. */
static inline char *cb_room(struct csvbuf *b, size_t need)
{
	if (b->len + need > b->cap) {
		cb_flush(b);
		if (need > b->cap) {
			b->cap = need;
			b->buf = ade_xrealloc(b->buf, b->cap);
		}
	}
	return b->buf + b->len;
}

/* A string field, quoted when it holds a delimiter, quote or line break. */
static void cb_str(struct csvbuf *b, const char *s, size_t n)
{
	int quote = n == 0;

	for (size_t i = 0; i < n && !quote; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = 1;
	if (!quote) {
		memcpy(cb_room(b, n), s, n);
		b->len += n;
		return;
	}
	char *o = cb_room(b, 2 * n + 2), *start = o;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			*o++ = '"';
		*o++ = s[i];
	}
	*o++ = '"';
	b->len += (size_t)(o - start);
}

void ade_quality_release_col(const struct ade_frame_column *col, int64_t from, int64_t to)
{
	static long pg;
	const char *ranges[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};

	if (!pg)
		pg = sysconf(_SC_PAGESIZE);
	if (to <= from)
		return;
	switch (col->type) {
	case ADE_TYPE_BOOL:
		ranges[0][0] = (const char *)col->data + from;
		ranges[0][1] = (const char *)col->data + to;
		break;
	case ADE_TYPE_CATEGORICAL:
		ranges[0][0] = (const char *)col->data + 4 * from;
		ranges[0][1] = (const char *)col->data + 4 * to;
		break;
	case ADE_TYPE_STRING:
		ranges[0][0] = (const char *)(col->offsets + from);
		ranges[0][1] = (const char *)(col->offsets + to);
		ranges[2][0] = col->bytes + col->offsets[from];
		ranges[2][1] = col->bytes + col->offsets[to];
		break;
	default:
		ranges[0][0] = (const char *)col->data + 8 * from;
		ranges[0][1] = (const char *)col->data + 8 * to;
	}
	if (col->valid) {
		ranges[1][0] = (const char *)col->valid + from;
		ranges[1][1] = (const char *)col->valid + to;
	}
	for (int r = 0; r < 3; r++) {
		if (!ranges[r][0])
			continue;
		uintptr_t a = ((uintptr_t)ranges[r][0] + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
		uintptr_t e = (uintptr_t)ranges[r][1] & ~((uintptr_t)pg - 1);
		if (e > a)
			madvise((void *)a, e - a, MADV_DONTNEED);
	}
}

int ade_quality_export_csv(const struct ade_frame *f, const char *path, int64_t *bytes,
			   struct ade_error *err)
{
	char *tmp = ade_xasprintf("%s.tmp-%ld", path, (long)getpid());
	struct csvbuf b = {.fd = -1, .cap = 1 << 20};
	int rc = 0;

	b.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (b.fd < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	b.buf = ade_xmalloc(b.cap);
	for (int c = 0; c < f->ncols; c++) {
		if (c)
			*cb_room(&b, 1) = ',', b.len++;
		cb_str(&b, f->cols[c].name, strlen(f->cols[c].name));
	}
	memcpy(cb_room(&b, 2), "\r\n", 2);
	b.len += 2;
	for (int64_t i = 0; i < f->rows; i++) {
		for (int c = 0; c < f->ncols; c++) {
			const struct ade_frame_column *col = &f->cols[c];
			char *o;
			if (c) {
				*cb_room(&b, 1) = ',';
				b.len++;
			}
			if (ade_frame_is_null(col, i))
				continue;
			switch (col->type) {
			case ADE_TYPE_INT64:
				o = cb_room(&b, 24);
				b.len += put_i64(o, ((const int64_t *)col->data)[i]);
				break;
			case ADE_TYPE_FLOAT64:
				o = cb_room(&b, 32);
				b.len += ade_quality_format_double(((const double *)col->data)[i], o);
				break;
			case ADE_TYPE_BOOL:
				if (((const uint8_t *)col->data)[i]) {
					memcpy(cb_room(&b, 4), "true", 4);
					b.len += 4;
				} else {
					memcpy(cb_room(&b, 5), "false", 5);
					b.len += 5;
				}
				break;
			case ADE_TYPE_DATE:
				o = cb_room(&b, 11);
				ade_date_format((int32_t)((const int64_t *)col->data)[i], o);
				b.len += strlen(o);
				break;
			case ADE_TYPE_TIMESTAMP:
				o = cb_room(&b, 48);
				ade_date_format_us(((const int64_t *)col->data)[i], o);
				b.len += strlen(o);
				break;
			case ADE_TYPE_CATEGORICAL:
			case ADE_TYPE_STRING: {
				size_t n;
				const char *s = ade_frame_str(col, i, &n);
				cb_str(&b, s, n);
				break;
			}
			}
		}
		memcpy(cb_room(&b, 2), "\r\n", 2);
		b.len += 2;
		if ((i & 0xffff) == 0xffff)
			for (int c = 0; c < f->ncols; c++)
				ade_quality_release_col(&f->cols[c], i - 0xffff, i + 1);
	}
	cb_flush(&b);
	if (b.err)
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", tmp, strerror(b.err));
	if (close(b.fd) < 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot close '%s': %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
	if (rc)
		unlink(tmp);
	else if (bytes)
		*bytes = b.total;
	free(b.buf);
	free(tmp);
	return rc;
}
