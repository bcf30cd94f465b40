/* Dates and intervals; see date.h. */
#include "date.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

/* http://howardhinnant.github.io/date_algorithms.html, days_from_civil */
int64_t ade_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void ade_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dim[m - 1];
}

int ade_date_parse_n(const char *s, size_t n, int32_t *days)
{
	int v[8];

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return ADE_EINVAL;
	for (int i = 0, j = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return ADE_EINVAL;
		v[j++] = s[i] - '0';
	}
	int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	unsigned m = (unsigned)(v[4] * 10 + v[5]);
	unsigned d = (unsigned)(v[6] * 10 + v[7]);
	if (y < 1 || m < 1 || m > 12 || d < 1 || (int)d > days_in_month(y, m))
		return ADE_EINVAL;
	*days = (int32_t)ade_days_from_civil(y, m, d);
	return 0;
}

int ade_date_parse(const char *s, int32_t *days, struct ade_error *err)
{
	if (!s || ade_date_parse_n(s, strlen(s), days))
		return ade_error_set(err, ADE_EINVAL, "invalid date '%s' (expected YYYY-MM-DD)",
				     s ? s : "");
	return 0;
}

void ade_date_format(int32_t days, char out[11])
{
	int64_t y;
	unsigned m, d;

	ade_civil_from_days(days, &y, &m, &d);
	snprintf(out, 11, "%04d-%02u-%02u", (int)y, m, d);
}

void ade_date_format_nodash(int32_t days, char out[9])
{
	int64_t y;
	unsigned m, d;

	ade_civil_from_days(days, &y, &m, &d);
	snprintf(out, 9, "%04d%02u%02u", (int)y, m, d);
}

void ade_date_format_us(int64_t us, char out[40])
{
	const int64_t day = INT64_C(86400000000);
	int64_t days = us / day, rem = us % day;
	char d[11];

	if (rem < 0) {
		rem += day;
		days--;
	}
	ade_date_format((int32_t)days, d);
	int64_t sec = rem / 1000000, frac = rem % 1000000;
	if (frac)
		snprintf(out, 40, "%sT%02d:%02d:%02d.%06dZ", d, (int)(sec / 3600),
			 (int)(sec / 60 % 60), (int)(sec % 60), (int)frac);
	else
		snprintf(out, 40, "%sT%02d:%02d:%02dZ", d, (int)(sec / 3600), (int)(sec / 60 % 60),
			 (int)(sec % 60));
}

void ade_date_interval(int32_t days, char start[21], char end[21])
{
	char a[11], b[11];

	ade_date_format(days, a);
	ade_date_format(days + 1, b);
	snprintf(start, 21, "%sT00:00:00Z", a);
	snprintf(end, 21, "%sT00:00:00Z", b);
}
