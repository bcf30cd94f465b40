/*
 * Parsers for the text of one field, over (pointer, length) views that
 * need not be NUL-terminated.  They never allocate (a float that needs
 * strtod and is longer than 511 bytes is copied to a temporary buffer that
 * is freed before returning), never read past p[n-1], and never depend on
 * the process locale.
 */
#ifndef ADE_NUMPARSE_H
#define ADE_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Return values of ade_parse_i64. */
#define ADE_NUM_OK 0
#define ADE_NUM_RANGE 1 /* integer syntax, but outside int64 */
#define ADE_NUM_SYNTAX (-1)

/* [+-]?[0-9]+ into *out; ADE_NUM_OK, ADE_NUM_RANGE or ADE_NUM_SYNTAX. */
int ade_parse_i64(const char *p, size_t n, int64_t *out);

/*
 * A decimal float: [+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?, or nan,
 * inf, infinity (any case, optional sign).  The result is bit-for-bit
 * what strtod gives in the C locale: Clinger's fast path when the
 * significand has at most 19 digits, is at most 2^53 and the decimal
 * exponent is within [-22, 22]; strtod_l with the C locale otherwise.
 * Returns 0, or -1 for any other text (hex floats included).
 */
int ade_parse_f64(const char *p, size_t n, double *out);

/*
 * ade_parse_f64's common case, inline for hot loops: [+-]?d*[.d*] with
 * 1..19 digits in all, so the digits fit a uint64 without checks.
 * Returns 0 with *out set when Clinger's fast path applies (w <= 2^53, at
 * most 22 fractional digits: w and 10^frac are exact doubles, so one
 * division is correctly rounded, as strtod), else -1: call ade_parse_f64.
 */
static const double ade_pow10_exact_[23] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline int ade_parse_f64_short(const char *p, size_t n, double *out)
{
	size_t i = 0, s;
	int neg = 0;
	uint64_t w = 0;
	unsigned d;

	if (n > 21)
		return -1;
	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	s = i;
	for (; i < n && (d = (unsigned char)p[i] - '0') <= 9; i++)
		w = w * 10 + d;
	size_t ndig = i - s, frac = 0;
	if (i < n && p[i] == '.') {
		size_t f = ++i;
		for (; i < n && (d = (unsigned char)p[i] - '0') <= 9; i++)
			w = w * 10 + d;
		frac = i - f;
		ndig += frac;
	}
	if (i != n || ndig == 0 || ndig > 19 || w > (UINT64_C(1) << 53) || frac > 22)
		return -1;
	double v = (double)w;
	if (frac)
		v /= ade_pow10_exact_[frac];
	*out = neg ? -v : v;
	return 0;
}

/* true / false in any case; 0 or -1. */
int ade_parse_bool(const char *p, size_t n, int *out);

/*
 * A calendar date as days since 1970-01-01, in one of the formats
 * YYYY-MM-DD, YYYY/MM/DD or DD.MM.YYYY; 0 or -1.
 */
int ade_parse_date(const char *p, size_t n, int64_t *days);

/*
 * A timestamp as microseconds since the epoch, UTC:
 * YYYY-MM-DD('T'|' ')HH:MM[:SS[.fraction]][Z|+HH:MM|-HH:MM|+HHMM|-HHMM].
 * No zone means UTC.  Fraction digits past the sixth are truncated.
 * 0 or -1.
 */
int ade_parse_timestamp(const char *p, size_t n, int64_t *us);

/* Classes reported by ade_classify, as bits. */
enum {
	ADE_CLS_INT = 1,     /* fits int64 */
	ADE_CLS_BIGINT = 2,  /* integer syntax past int64 */
	ADE_CLS_FLOAT = 4,   /* a float that is not integer syntax */
	ADE_CLS_BOOL = 8,
	ADE_CLS_DATE = 16,
	ADE_CLS_TIMESTAMP = 32,
	ADE_CLS_OTHER = 64,  /* none of the above */
};

/* The class of a non-empty value, for type inference (one bit set). */
int ade_classify(const char *p, size_t n);

#endif
