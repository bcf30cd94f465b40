/* Field parsers; see numparse.h. */
#include "numparse.h"
#include "date.h"
#include "util.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ade_parse_i64(const char *p, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;

	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n)
		return ADE_NUM_SYNTAX;
	/* 18 digits cannot overflow, so only longer numbers pay for checks. */
	size_t fast_end = n - i > 18 ? i + 18 : n;
	for (; i < fast_end; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return ADE_NUM_SYNTAX;
		v = v * 10 + d;
	}
	int range = 0;
	for (; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return ADE_NUM_SYNTAX;
		if (!range && (v > (UINT64_MAX - d) / 10))
			range = 1;
		else if (!range)
			v = v * 10 + d;
	}
	if (range)
		return ADE_NUM_RANGE;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return ADE_NUM_RANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return ADE_NUM_RANGE;
		*out = (int64_t)v;
	}
	return ADE_NUM_OK;
}

static const double pow10_exact[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static int ieq(const char *p, size_t n, const char *word)
{
	size_t m = strlen(word);

	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != word[i])
			return 0;
	}
	return 1;
}

static locale_t c_locale(void)
{
	/* Created once and never freed: strtod_l needs it for the process life. */
	static locale_t loc;

	if (!loc)
		loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	return loc;
}

static double slow_strtod(const char *p, size_t n)
{
	char small[512];
	char *buf = n < sizeof(small) ? small : ade_xmalloc(n + 1);
	double v;

	memcpy(buf, p, n);
	buf[n] = '\0';
	v = strtod_l(buf, NULL, c_locale());
	if (buf != small)
		free(buf);
	return v;
}

int ade_parse_f64(const char *p, size_t n, double *out)
{
	if (!ade_parse_f64_short(p, n, out))
		return 0;
	size_t i = 0;
	int neg = 0;
	uint64_t w = 0;
	int ndig = 0;          /* significant digits accumulated into w */
	int dropped = 0;       /* digits that did not fit in w */
	int frac = 0;          /* digits after the point that went into w */
	int digits = 0;        /* all digits in the significand */
	long exp10 = 0;

	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i < n && (p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') {
		const char *q = p + i;
		size_t m = n - i;
		if (ieq(q, m, "nan")) {
			*out = neg ? -NAN : NAN;
			return 0;
		}
		if (ieq(q, m, "inf") || ieq(q, m, "infinity")) {
			*out = neg ? -INFINITY : INFINITY;
			return 0;
		}
		return -1;
	}
	for (; i < n && (unsigned)(p[i] - '0') <= 9; i++, digits++) {
		if (ndig < 19) {
			if (w || p[i] != '0') {
				w = w * 10 + (uint64_t)(p[i] - '0');
				ndig++;
			}
		} else {
			dropped++;
		}
	}
	if (i < n && p[i] == '.') {
		i++;
		for (; i < n && (unsigned)(p[i] - '0') <= 9; i++, digits++) {
			if (ndig < 19) {
				if (w || p[i] != '0')
					ndig++;
				w = w * 10 + (uint64_t)(p[i] - '0');
				frac++;
			} else {
				dropped++;
			}
		}
	}
	if (!digits)
		return -1;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		int eneg = 0;
		i++;
		if (i < n && (p[i] == '-' || p[i] == '+')) {
			eneg = p[i] == '-';
			i++;
		}
		if (i == n)
			return -1;
		for (; i < n && (unsigned)(p[i] - '0') <= 9; i++)
			if (exp10 < 100000)
				exp10 = exp10 * 10 + (p[i] - '0');
		if (eneg)
			exp10 = -exp10;
	}
	if (i != n)
		return -1;
	/* Integer-part digits past 19 were dropped (scale up by them); dropped
	 * fractional digits are inexact, so take the slow path for any drop. */
	long k = exp10 - frac;
	if (!dropped && w <= (UINT64_C(1) << 53) && k >= -22 && k <= 22) {
		double d = (double)w;
		d = k < 0 ? d / pow10_exact[-k] : d * pow10_exact[k];
		*out = neg ? -d : d;
		return 0;
	}
	*out = slow_strtod(p, n);
	return 0;
}

int ade_parse_bool(const char *p, size_t n, int *out)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* b | 0x20 equals a lowercase letter only for that letter in either
	 * case, so this is the case-insensitive compare, four bytes at once. */
	uint32_t x;

	if (n == 4) {
		memcpy(&x, p, 4);
		if ((x | 0x20202020u) == 0x65757274u) { /* "true" */
			*out = 1;
			return 0;
		}
	} else if (n == 5) {
		memcpy(&x, p, 4);
		if ((x | 0x20202020u) == 0x736c6166u && (p[4] | 0x20) == 'e') { /* "fals" "e" */
			*out = 0;
			return 0;
		}
	}
	return -1;
#else
	if (ieq(p, n, "true")) {
		*out = 1;
		return 0;
	}
	if (ieq(p, n, "false")) {
		*out = 0;
		return 0;
	}
	return -1;
#endif
}

static int digits_at(const char *p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return -1;
		x = x * 10 + (int)d;
	}
	*v = x;
	return 0;
}

static int civil_ok(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* ade_parse_date's test without the conversion (p has 10 bytes). */
static int date_ok(const char *p)
{
	int y, m, d;

	if ((p[4] == '-' && p[7] == '-') || (p[4] == '/' && p[7] == '/')) {
		if (digits_at(p, 4, &y) || digits_at(p + 5, 2, &m) || digits_at(p + 8, 2, &d))
			return 0;
	} else if (p[2] == '.' && p[5] == '.') {
		if (digits_at(p, 2, &d) || digits_at(p + 3, 2, &m) || digits_at(p + 6, 4, &y))
			return 0;
	} else {
		return 0;
	}
	return civil_ok(y, m, d);
}

int ade_parse_date(const char *p, size_t n, int64_t *days)
{
	int y, m, d;

	if (n != 10)
		return -1;
	if ((p[4] == '-' && p[7] == '-') || (p[4] == '/' && p[7] == '/')) {
		if (digits_at(p, 4, &y) || digits_at(p + 5, 2, &m) || digits_at(p + 8, 2, &d))
			return -1;
	} else if (p[2] == '.' && p[5] == '.') {
		if (digits_at(p, 2, &d) || digits_at(p + 3, 2, &m) || digits_at(p + 6, 4, &y))
			return -1;
	} else {
		return -1;
	}
	if (!civil_ok(y, m, d))
		return -1;
	*days = ade_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

int ade_parse_timestamp(const char *p, size_t n, int64_t *us)
{
	int y, mo, d, h, mi, s = 0;
	int64_t frac = 0;
	long off = 0;
	size_t i;

	if (n < 16 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ') ||
	    p[13] != ':')
		return -1;
	if (digits_at(p, 4, &y) || digits_at(p + 5, 2, &mo) || digits_at(p + 8, 2, &d) ||
	    digits_at(p + 11, 2, &h) || digits_at(p + 14, 2, &mi))
		return -1;
	i = 16;
	if (i < n && p[i] == ':') {
		if (n < 19 || digits_at(p + 17, 2, &s))
			return -1;
		i = 19;
		if (i < n && p[i] == '.') {
			int nd = 0;
			i++;
			for (; i < n && (unsigned)(p[i] - '0') <= 9; i++, nd++)
				if (nd < 6)
					frac = frac * 10 + (p[i] - '0');
			if (!nd)
				return -1;
			for (; nd < 6; nd++)
				frac *= 10;
		}
	}
	if (i < n) {
		if (p[i] == 'Z' && i + 1 == n) {
			i++;
		} else if (p[i] == '+' || p[i] == '-') {
			int oh, om, sign = p[i] == '-' ? -1 : 1;
			size_t rest = n - i - 1;
			const char *q = p + i + 1;
			if (rest == 5 && q[2] == ':') {
				if (digits_at(q, 2, &oh) || digits_at(q + 3, 2, &om))
					return -1;
			} else if (rest == 4) {
				if (digits_at(q, 2, &oh) || digits_at(q + 2, 2, &om))
					return -1;
			} else if (rest == 2) {
				if (digits_at(q, 2, &oh))
					return -1;
				om = 0;
			} else {
				return -1;
			}
			if (oh > 23 || om > 59)
				return -1;
			off = sign * (oh * 3600L + om * 60L);
			i = n;
		} else {
			return -1;
		}
	}
	if (i != n || !civil_ok(y, mo, d) || h > 23 || mi > 59 || s > 60)
		return -1;
	int64_t days = ade_days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - off;
	*us = secs * 1000000 + frac;
	return 0;
}

int ade_classify(const char *p, size_t n)
{
	unsigned char c = (unsigned char)p[0];

	if ((unsigned)(c - '0') <= 9 || c == '-' || c == '+' || c == '.') {
		int64_t iv;
		double dv;
		int64_t t;
		/* The common cases first: short all-digit integers, then short
		 * decimals (the float class needs only the syntax, but the fast
		 * path is as cheap as a syntax check). */
		size_t i = c == '-' || c == '+', j = i;
		while (j < n && (unsigned)((unsigned char)p[j] - '0') <= 9)
			j++;
		if (j == n && j > i && j - i <= 18)
			return ADE_CLS_INT;
		if (j < n && p[j] == '.' && n <= 21 && !ade_parse_f64_short(p, n, &dv))
			return ADE_CLS_FLOAT;
		if (j == n) { /* otherwise not integer syntax */
			int r = ade_parse_i64(p, n, &iv);
			if (r == ADE_NUM_OK)
				return ADE_CLS_INT;
			if (r == ADE_NUM_RANGE)
				return ADE_CLS_BIGINT;
		}
		if (n == 10 && date_ok(p))
			return ADE_CLS_DATE;
		if (n >= 16 && !ade_parse_timestamp(p, n, &t))
			return ADE_CLS_TIMESTAMP;
		if (!ade_parse_f64(p, n, &dv))
			return ADE_CLS_FLOAT;
		return ADE_CLS_OTHER;
	}
	switch (c | 0x20) {
	case 't':
	case 'f': {
		int b;
		return ade_parse_bool(p, n, &b) ? ADE_CLS_OTHER : ADE_CLS_BOOL;
	}
	case 'n':
	case 'i': {
		double dv;
		return ade_parse_f64(p, n, &dv) ? ADE_CLS_OTHER : ADE_CLS_FLOAT;
	}
	default:
		return ADE_CLS_OTHER;
	}
}
