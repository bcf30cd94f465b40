/* Cron parsing and next fire times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/date.h"
#include "core/error.h"
#include "scheduler/cron.h"

/* Seconds since the epoch of "YYYY-MM-DD HH:MM" (UTC). */
static int64_t at(const char *s)
{
	int32_t d;
	int h, m;

	assert_int_equal(ade_date_parse_n(s, 10, &d), 0);
	assert_int_equal(sscanf(s + 11, "%d:%d", &h, &m), 2);
	return (int64_t)d * 86400 + h * 3600 + m * 60;
}

static void expect_next(const char *expr, const char *from, const char *want)
{
	struct ade_cron c;
	struct ade_error err = {0};

	assert_int_equal(ade_cron_parse(expr, &c, &err), 0);
	int64_t got = ade_cron_next(&c, at(from));
	if (got != at(want)) {
		int64_t y;
		unsigned mo, d;
		ade_civil_from_days(got / 86400, &y, &mo, &d);
		fail_msg("'%s' after %s: got %04d-%02u-%02u %02d:%02d, wanted %s", expr, from, (int)y, mo,
			 d, (int)(got % 86400 / 3600), (int)(got % 3600 / 60), want);
	}
}

static void test_next(void **state)
{
	(void)state;
	expect_next("0 2 * * *", "2026-01-01 00:00", "2026-01-01 02:00");
	expect_next("0 2 * * *", "2026-01-01 02:00", "2026-01-02 02:00"); /* strictly after */
	expect_next("@daily", "2026-12-31 23:59", "2027-01-01 00:00");
	expect_next("@hourly", "2026-03-01 10:30", "2026-03-01 11:00");
	expect_next("@weekly", "2026-01-01 00:00", "2026-01-04 00:00"); /* 2026-01-04 is a Sunday */
	expect_next("@monthly", "2026-01-31 12:00", "2026-02-01 00:00");
	expect_next("@yearly", "2026-06-01 00:00", "2027-01-01 00:00");
	/* Month ends and leap years. */
	expect_next("0 0 31 * *", "2026-04-01 00:00", "2026-05-31 00:00");
	expect_next("0 0 29 2 *", "2026-01-01 00:00", "2028-02-29 00:00");
	expect_next("0 0 29 2 *", "2099-03-01 00:00", "2104-02-29 00:00"); /* 2100 is not leap */
	expect_next("59 23 28-29 feb *", "2100-02-28 23:59", "2101-02-28 23:59");
	/* Steps, ranges, lists, names. */
	expect_next("*/15 * * * *", "2026-01-01 00:01", "2026-01-01 00:15");
	expect_next("5/20 * * * *", "2026-01-01 00:26", "2026-01-01 00:45");
	expect_next("0 9-17/4 * * *", "2026-01-01 10:00", "2026-01-01 13:00");
	expect_next("30 8 * * mon-fri", "2026-01-02 09:00", "2026-01-05 08:30"); /* Fri -> Mon */
	expect_next("0 0 * jan,jul *", "2026-02-01 00:00", "2026-07-01 00:00");
	expect_next("0 12 * * 7", "2026-01-01 00:00", "2026-01-04 12:00"); /* 7 = Sunday */
	expect_next("0 12 * * SUN", "2026-01-01 00:00", "2026-01-04 12:00");
	/* Both day fields restricted: either matches (Vixie cron). */
	expect_next("0 0 13 * fri", "2026-01-01 00:00", "2026-01-02 00:00");
	expect_next("0 0 13 * fri", "2026-01-10 00:00", "2026-01-13 00:00");
}

static void test_never(void **state)
{
	struct ade_cron c;

	(void)state;
	assert_int_equal(ade_cron_parse("0 0 30 2 *", &c, NULL), 0);
	assert_int_equal(ade_cron_next(&c, at("2026-01-01 00:00")), -1);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *expr, *msg;
	} cases[] = {
		{"", "cron expression '' needs 5 fields (minute hour day month weekday)"},
		{"* * * *", "cron expression '* * * *' needs 5 fields (minute hour day month weekday)"},
		{"* * * * * *", "cron expression '* * * * * *' has more than 5 fields"},
		{"60 * * * *", "cron minute: '60' is outside 0-59 or reversed"},
		{"* 24 * * *", "cron hour: '24' is outside 0-23 or reversed"},
		{"* * 0 * *", "cron day of month: '0' is outside 1-31 or reversed"},
		{"* * * 13 *", "cron month: '13' is outside 1-12 or reversed"},
		{"* * * * 8", "cron day of week: '8' is outside 0-7 or reversed"},
		{"5-1 * * * *", "cron minute: '5-1' is outside 0-59 or reversed"},
		{"*/0 * * * *", "cron minute: step in '*/0' is out of range"},
		{"a * * * *", "cron minute: cannot read 'a'"},
		{"* * * foo *", "cron month: cannot read 'foo'"},
		{"1,,2 * * * *", "cron minute: cannot read '1,,2'"},
		{"@sometimes", "unknown cron macro '@sometimes' (@hourly, @daily, @weekly, @monthly, @yearly)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ade_cron c;
		struct ade_error err = {0};
		assert_int_equal(ade_cron_parse(cases[i].expr, &c, &err), ADE_EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_never),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
