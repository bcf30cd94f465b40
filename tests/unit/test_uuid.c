/* Unit tests for core/uuid: UUIDv7 layout, time ordering, uniqueness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/uuid.h"

#include <stdlib.h>
#include <string.h>

/* Checks the 8-4-4-4-12 lowercase hex layout, version 7 and variant 10xx. */
static void check_format(const char *u)
{
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				fail_msg("'%s': expected '-' at %d", u, i);
		} else if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'))) {
			fail_msg("'%s': not lowercase hex at %d", u, i);
		}
	}
	if (u[14] != '7')
		fail_msg("'%s': version nibble is not 7", u);
	if (!strchr("89ab", u[19]))
		fail_msg("'%s': variant is not 10xx", u);
}

/* The 48-bit millisecond timestamp in the first 12 hex digits. */
static uint64_t uuid_ms(const char *u)
{
	char hex[13];

	memcpy(hex, u, 8);
	memcpy(hex + 8, u + 9, 4);
	hex[12] = '\0';
	return strtoull(hex, NULL, 16);
}

static void test_format(void **state)
{
	char u[37];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		ade_uuid7(u);
		check_format(u);
	}
	ade_uuid7_at(0, u);
	check_format(u);
	assert_memory_equal(u, "00000000-0000-7", 15);
	ade_uuid7_at(0xffffffffffffULL, u);
	check_format(u);
	assert_memory_equal(u, "ffffffff-ffff-7", 15);
}

static void test_timestamp_encoded(void **state)
{
	static const uint64_t times[] = {1, 255, 256, 1767616496789ULL, 0x123456789abcULL};
	char u[37];

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		ade_uuid7_at(times[i], u);
		check_format(u);
		assert_int_equal(uuid_ms(u), times[i]);
	}
	ade_uuid7_at(0x0123456789abULL, u);
	assert_memory_equal(u, "01234567-89ab-7", 15);
}

/* Ids for later milliseconds sort after ids for earlier ones, as strings. */
static void test_ordering_by_time(void **state)
{
	uint64_t ms = 1767616496000ULL;
	char prev[37], cur[37];

	(void)state;
	ade_uuid7_at(ms, prev);
	for (int t = 1; t < 5000; t++) {
		/* Steps of 1 ms, with larger ones that carry across timestamp bytes. */
		ms += t % 7 == 0 ? 257 : 1;
		ade_uuid7_at(ms, cur);
		if (strcmp(prev, cur) >= 0)
			fail_msg("'%s' does not sort before '%s'", prev, cur);
		assert_int_equal(uuid_ms(cur), ms);
		memcpy(prev, cur, sizeof(cur));
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_uniqueness(void **state)
{
	enum { N = 10000 };
	char (*ids)[37] = calloc(N, sizeof(*ids));

	(void)state;
	assert_non_null(ids);
	/* All in the same millisecond: only the random bits tell them apart. */
	for (int i = 0; i < N; i++)
		ade_uuid7_at(1767616496789ULL, ids[i]);
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (int i = 1; i < N; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			fail_msg("duplicate id '%s'", ids[i]);
	/* And with the real clock. */
	for (int i = 0; i < N; i++)
		ade_uuid7(ids[i]);
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (int i = 1; i < N; i++)
		if (!strcmp(ids[i - 1], ids[i]))
			fail_msg("duplicate id '%s'", ids[i]);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_timestamp_encoded),
		cmocka_unit_test(test_ordering_by_time),
		cmocka_unit_test(test_uniqueness),
	};

	return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
