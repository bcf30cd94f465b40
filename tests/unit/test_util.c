/* Unit tests for core/util: strbuf, string helpers, durations, UTC format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void test_strbuf_growth(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	char expect[10001];

	(void)state;
	assert_null(sb.buf);
	for (int i = 0; i < 10000; i++) {
		ade_strbuf_addc(&sb, (char)('a' + i % 26));
		expect[i] = (char)('a' + i % 26);
		assert_int_equal(sb.len, (size_t)i + 1);
		assert_true(sb.cap > sb.len);
		assert_int_equal(sb.buf[sb.len], '\0');
	}
	expect[10000] = '\0';
	assert_string_equal(sb.buf, expect);
	ade_strbuf_release(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
}

static void test_strbuf_add_variants(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	char big[300];

	(void)state;
	ade_strbuf_adds(&sb, "abc");
	ade_strbuf_add(&sb, "defXYZ", 3);
	ade_strbuf_addc(&sb, '-');
	ade_strbuf_addf(&sb, "%d/%s", 42, "x");
	assert_string_equal(sb.buf, "abcdef-42/x");
	assert_int_equal(sb.len, strlen("abcdef-42/x"));

	/* addf longer than the slack it reserves first. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ade_strbuf_addf(&sb, "[%s]", big);
	assert_int_equal(sb.len, 11 + 2 + 299);
	assert_int_equal(sb.buf[11], '[');
	assert_int_equal(sb.buf[sb.len - 1], ']');
	assert_int_equal(strlen(sb.buf), sb.len);

	/* Binary data with a NUL keeps its length. */
	ade_strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	ade_strbuf_add(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.buf, "a\0b", 4);

	/* grow reserves room for extra bytes and the NUL. */
	ade_strbuf_grow(&sb, 1000);
	assert_true(sb.cap >= sb.len + 1001);
	ade_strbuf_release(&sb);
}

static void test_strbuf_detach(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	char *s;

	(void)state;
	/* Detaching an untouched buffer still gives a string. */
	s = ade_strbuf_detach(&sb);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);

	ade_strbuf_addf(&sb, "run-%d", 7);
	s = ade_strbuf_detach(&sb);
	assert_string_equal(s, "run-7");
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
	/* sb is reusable and independent of the detached string. */
	ade_strbuf_adds(&sb, "next");
	assert_string_equal(sb.buf, "next");
	assert_string_equal(s, "run-7");
	free(s);
	ade_strbuf_release(&sb);
}

static void test_string_helpers(void **state)
{
	char *s;

	(void)state;
	s = ade_xstrdup("hello");
	assert_string_equal(s, "hello");
	free(s);
	s = ade_xstrndup("hello", 3);
	assert_string_equal(s, "hel");
	free(s);
	s = ade_xasprintf("%s-%03d", "x", 5);
	assert_string_equal(s, "x-005");
	free(s);
	/* Zero-size allocations return a usable pointer. */
	s = ade_xmalloc(0);
	assert_non_null(s);
	free(s);
	s = ade_xcalloc(0, 0);
	assert_non_null(s);
	free(s);
}

static void test_xconcat(void **state)
{
	(void)state;
	char *s = ade_xconcat("ADE_DS", "=", "2026-01-01", NULL);
	assert_string_equal(s, "ADE_DS=2026-01-01");
	free(s);
	s = ade_xconcat("", NULL);
	assert_string_equal(s, "");
	free(s);
	s = ade_xconcat("/h", "/", "", "s0", "/out", NULL);
	assert_string_equal(s, "/h/s0/out");
	free(s);
}

static void test_ms_to_s(void **state)
{
	(void)state;
	assert_true(ade_ms_to_s(0.712) == 712 / 1e6);
	assert_true(ade_ms_to_s(1500) == 1.5);
	assert_true(ade_ms_to_s(0.0004) == 0); /* below the microsecond */
	assert_true(isnan(ade_ms_to_s(NAN)));
	char t[32];
	ade_json_format_number(ade_ms_to_s(12.345678), t);
	assert_string_equal(t, "0.012346");
}

static void test_duration_ok(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"250ms", 250},         {"5s", 5000},          {"10m", 600000},
		{"2h", 7200000},        {"1d", 86400000},      {"30", 30000},
		{"0", 0},               {"0s", 0},             {"1.5s", 1500},
		{"0.5m", 30000},        {"1ms", 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = -7;
		if (ade_parse_duration_ms(ok[i].s, &ms) != 0)
			fail_msg("'%s' was refused", ok[i].s);
		if (ms != ok[i].ms)
			fail_msg("'%s' gave %lld ms, expected %lld", ok[i].s, (long long)ms,
				 (long long)ok[i].ms);
	}
}

static void test_duration_refusals(void **state)
{
	static const char *bad[] = {
		"", "5x", "-1s", " 5s", "5s ", "nan", "NaN", "inf", "infinity", "s", "ms",
		"5 s", "+5s", "5sec", "5S", "1e300d", "5mss", "--1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = -7;
		if (ade_parse_duration_ms(bad[i], &ms) != ADE_EINVAL)
			fail_msg("'%s' was accepted (%lld ms)", bad[i], (long long)ms);
		assert_int_equal(ms, -7);
	}
	assert_int_equal(ade_parse_duration_ms(NULL, NULL), ADE_EINVAL);
}

static void test_format_utc(void **state)
{
	char out[32];

	(void)state;
	ade_format_utc(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	/* 2026-01-05T12:34:56.789Z */
	ade_format_utc((int64_t)1767616496 * 1000000 + 789123, out);
	assert_string_equal(out, "2026-01-05T12:34:56.789Z");
	/* Before the epoch the second and the day round down, as the calendar does. */
	ade_format_utc(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");

	/* The digits by hand agree with gmtime_r and printf over years 1970-9999. */
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int k = 0; k < 200000; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t us = (int64_t)(x % 253402300800000000ull); /* up to 9999-12-31 */
		if (k < 1000)
			us = (int64_t)(x % 4000000000ull) * 1000000 + (int64_t)(x >> 40) % 1000000;
		time_t t = (time_t)(us / 1000000);
		struct tm tm;
		char want[64];
		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(us % 1000000 / 1000));
		ade_format_utc(us, out);
		assert_string_equal(out, want);
	}
}

/* Enough keys to grow the table several times, with colliding prefixes. */
static void test_strmap(void **state)
{
	struct ade_strmap m = ADE_STRMAP_INIT;
	enum { N = 5000 };
	char **keys = ade_xcalloc(N, sizeof(*keys));

	(void)state;
	assert_int_equal(ade_strmap_get(&m, "absent"), -1);
	for (int i = 0; i < N; i++) {
		keys[i] = ade_xasprintf("s%d", i);
		ade_strmap_put(&m, keys[i], i);
	}
	assert_int_equal(m.n, N);
	for (int i = 0; i < N; i++) {
		char probe[32];
		snprintf(probe, sizeof(probe), "s%d", i);
		assert_int_equal(ade_strmap_get(&m, probe), i);
	}
	assert_int_equal(ade_strmap_get(&m, "s5000"), -1);
	assert_int_equal(ade_strmap_get(&m, ""), -1);
	ade_strmap_put(&m, keys[7], 70); /* replaces, does not add */
	assert_int_equal(m.n, N);
	assert_int_equal(ade_strmap_get(&m, "s7"), 70);
	ade_strmap_free(&m);
	assert_int_equal(ade_strmap_get(&m, "s7"), -1);
	for (int i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_growth),
		cmocka_unit_test(test_strbuf_add_variants),
		cmocka_unit_test(test_strbuf_detach),
		cmocka_unit_test(test_string_helpers),
		cmocka_unit_test(test_xconcat),
		cmocka_unit_test(test_ms_to_s),
		cmocka_unit_test(test_duration_ok),
		cmocka_unit_test(test_duration_refusals),
		cmocka_unit_test(test_format_utc),
		cmocka_unit_test(test_strmap),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
