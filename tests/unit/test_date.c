/* Unit tests for core/date: civil <-> day conversion, parsing, formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/date.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 ? 28 + (unsigned)is_leap(y) : dim[m - 1];
}

static void test_epoch_anchors(void **state)
{
	(void)state;
	assert_int_equal(ade_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(ade_days_from_civil(1970, 1, 2), 1);
	assert_int_equal(ade_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(ade_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(ade_days_from_civil(2026, 1, 1), 20454);
	assert_int_equal(ade_days_from_civil(1600, 1, 1), -135140);
	assert_int_equal(ade_days_from_civil(1, 1, 1), -719162);
}

/* Walks every calendar day of 1600..2400 and checks both directions. */
static void test_round_trip_1600_2400(void **state)
{
	int64_t expect = ade_days_from_civil(1600, 1, 1);
	long n = 0;

	(void)state;
	for (int64_t y = 1600; y <= 2400; y++) {
		for (unsigned m = 1; m <= 12; m++) {
			for (unsigned d = 1; d <= month_days(y, m); d++) {
				int64_t z = ade_days_from_civil(y, m, d), yy;
				unsigned mm, dd;
				if (z != expect)
					fail_msg("%04lld-%02u-%02u: %lld, expected %lld", (long long)y,
						 m, d, (long long)z, (long long)expect);
				ade_civil_from_days(z, &yy, &mm, &dd);
				if (yy != y || mm != m || dd != d)
					fail_msg("%lld -> %04lld-%02u-%02u, expected %04lld-%02u-%02u",
						 (long long)z, (long long)yy, mm, dd, (long long)y, m, d);
				expect++;
				n++;
			}
		}
	}
	/* 801 years, 195 of them leap (4-year rule minus 1700, 1800, 1900, 2100, 2200, 2300). */
	assert_int_equal(n, 801 * 365 + 195);
	assert_int_equal(expect, ade_days_from_civil(2401, 1, 1));
}

/* ade_date_parse agrees with the conversion and format reverses it. */
static void test_parse_format_round_trip(void **state)
{
	(void)state;
	for (int32_t z = (int32_t)ade_days_from_civil(1600, 1, 1);
	     z <= (int32_t)ade_days_from_civil(2400, 12, 31); z += 7) {
		char s[11];
		int32_t back = 0;
		ade_date_format(z, s);
		assert_int_equal(strlen(s), 10);
		assert_int_equal(ade_date_parse(s, &back, NULL), 0);
		assert_int_equal(back, z);
		assert_int_equal(ade_date_parse_n(s, 10, &back), 0);
		assert_int_equal(back, z);
	}
}

static void test_leap_years(void **state)
{
	int32_t d = 0;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_date_parse("2000-02-29", &d, &err), 0);
	assert_int_equal(d, ade_days_from_civil(2000, 2, 29));
	assert_int_equal(ade_date_parse("2024-02-29", &d, &err), 0);
	assert_int_equal(ade_date_parse("2400-02-29", &d, &err), 0);
	assert_int_equal(ade_date_parse("1900-02-29", &d, &err), ADE_EINVAL);
	assert_int_equal(ade_date_parse("2026-02-29", &d, &err), ADE_EINVAL);
	assert_int_equal(ade_date_parse("2100-02-29", &d, &err), ADE_EINVAL);
	assert_int_equal(ade_date_parse("2026-02-28", &d, &err), 0);
	/* 2000-02-29 and 2000-03-01 are consecutive days. */
	assert_int_equal(ade_days_from_civil(2000, 3, 1) - ade_days_from_civil(2000, 2, 29), 1);
	assert_int_equal(ade_days_from_civil(1900, 3, 1) - ade_days_from_civil(1900, 2, 28), 1);
}

static void test_parse_refusals(void **state)
{
	static const char *bad[] = {
		"2026-1-01",  "2026-13-01", "2026-00-10", "2026-02-30", "2026-04-31",
		"2026-01-00", "2026-01-32", "",           "2026-01-01x", "2026-01-01 ",
		" 2026-01-01", "0000-01-01", "2026/01/01", "20260101",   "2026-01-1",
		"+026-01-01", "2026-0a-01", "2026-01-01T00:00:00Z", "abcd-ef-gh",
	};
	int32_t d = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ade_error err = {0};
		char want[128];
		if (ade_date_parse(bad[i], &d, &err) != ADE_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.code, ADE_EINVAL);
		snprintf(want, sizeof(want), "invalid date '%s' (expected YYYY-MM-DD)", bad[i]);
		assert_string_equal(err.msg, want);
		assert_int_equal(ade_date_parse_n(bad[i], strlen(bad[i]), &d), ADE_EINVAL);
	}
	/* A refused date leaves the output alone. */
	assert_int_equal(d, 12345);
	/* NULL is refused, not dereferenced. */
	assert_int_equal(ade_date_parse(NULL, &d, NULL), ADE_EINVAL);
	/* The length-delimited form reads exactly n bytes. */
	assert_int_equal(ade_date_parse_n("2026-03-04garbage", 10, &d), 0);
	assert_int_equal(d, ade_days_from_civil(2026, 3, 4));
	assert_int_equal(ade_date_parse_n("2026-03-04", 9, &d), ADE_EINVAL);
	/* The extremes of the documented range. */
	assert_int_equal(ade_date_parse("0001-01-01", &d, NULL), 0);
	assert_int_equal(d, ade_days_from_civil(1, 1, 1));
	assert_int_equal(ade_date_parse("9999-12-31", &d, NULL), 0);
	assert_int_equal(d, ade_days_from_civil(9999, 12, 31));
}

/* Frame timestamps: the fraction only when there is one; before 1970 too. */
static void test_format_us(void **state)
{
	char out[40];
	(void)state;

	ade_date_format_us(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	ade_date_format_us(INT64_C(1767616496789123), out);
	assert_string_equal(out, "2026-01-05T12:34:56.789123Z");
	ade_date_format_us(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
	ade_date_format_us(-INT64_C(86400000000), out);
	assert_string_equal(out, "1969-12-31T00:00:00Z");
}

static void test_format_and_interval(void **state)
{
	char s[11], nd[9], a[21], b[21];
	int32_t z;

	(void)state;
	assert_int_equal(ade_date_parse("2026-01-05", &z, NULL), 0);
	ade_date_format(z, s);
	assert_string_equal(s, "2026-01-05");
	ade_date_format_nodash(z, nd);
	assert_string_equal(nd, "20260105");
	ade_date_interval(z, a, b);
	assert_string_equal(a, "2026-01-05T00:00:00Z");
	assert_string_equal(b, "2026-01-06T00:00:00Z");

	/* Month, year and leap-day boundaries. */
	ade_date_interval((int32_t)ade_days_from_civil(2025, 12, 31), a, b);
	assert_string_equal(a, "2025-12-31T00:00:00Z");
	assert_string_equal(b, "2026-01-01T00:00:00Z");
	ade_date_interval((int32_t)ade_days_from_civil(2024, 2, 28), a, b);
	assert_string_equal(b, "2024-02-29T00:00:00Z");
	ade_date_interval((int32_t)ade_days_from_civil(2026, 2, 28), a, b);
	assert_string_equal(b, "2026-03-01T00:00:00Z");

	/* Years below 1000 keep four digits. */
	ade_date_format((int32_t)ade_days_from_civil(999, 3, 7), s);
	assert_string_equal(s, "0999-03-07");
	ade_date_format_nodash((int32_t)ade_days_from_civil(1, 1, 1), nd);
	assert_string_equal(nd, "00010101");
	ade_date_format(0, s);
	assert_string_equal(s, "1970-01-01");
	ade_date_format(-1, s);
	assert_string_equal(s, "1969-12-31");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_anchors),
		cmocka_unit_test(test_round_trip_1600_2400),
		cmocka_unit_test(test_parse_format_round_trip),
		cmocka_unit_test(test_leap_years),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_format_us),
		cmocka_unit_test(test_format_and_interval),
	};

	return cmocka_run_group_tests_name("date", tests, NULL, NULL);
}
