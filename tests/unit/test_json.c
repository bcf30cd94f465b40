/* Unit tests for core/json: file round trip, error positions, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "core/util.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_read_back(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = ade_xasprintf("%s/out.json", dir);
	struct ade_error err = {0};
	cJSON *j = cJSON_CreateObject(), *back = NULL;

	(void)state;
	cJSON_AddStringToObject(j, "name", "employees");
	cJSON_AddNumberToObject(j, "rows", 1234);
	cJSON_AddBoolToObject(j, "ok", 1);
	cJSON *arr = cJSON_AddArrayToObject(j, "cols");
	cJSON_AddItemToArray(arr, cJSON_CreateString("a\"b\n"));
	for (int pretty = 0; pretty <= 1; pretty++) {
		assert_int_equal(ade_json_write_file(path, j, pretty, &err), 0);
		/* The file ends with a newline and no temporary is left. */
		char *text = tu_read(path);
		assert_int_equal(text[strlen(text) - 1], '\n');
		free(text);
		assert_int_equal(count_entries(dir), 1);
		assert_int_equal(ade_json_read_file(path, &back, &err), 0);
		assert_true(cJSON_Compare(j, back, 1));
		cJSON_Delete(back);
		back = NULL;
	}
	/* Overwriting replaces the whole file. */
	cJSON *small = cJSON_CreateArray();
	assert_int_equal(ade_json_write_file(path, small, 0, &err), 0);
	char *text = tu_read(path);
	assert_string_equal(text, "[]\n");
	free(text);
	cJSON_Delete(small);

	cJSON_Delete(j);
	free(path);
	tu_rmdir(dir);
}

static void test_syntax_error_position(void **state)
{
	char *dir = tu_mkdtemp();
	/* Line 3 has a stray '?' at column 10. */
	char *path = tu_write(dir, "bad.json", "{\n  \"a\": 1,\n  \"b\": 2 ?,\n  \"c\": 3\n}\n");
	struct ade_error err = {0};
	cJSON *j = NULL;
	char *want = ade_xasprintf("%s:3:10: invalid JSON", path);

	(void)state;
	assert_int_equal(ade_json_read_file(path, &j, &err), ADE_EPARSE);
	assert_null(j);
	assert_int_equal(err.code, ADE_EPARSE);
	assert_string_equal(err.msg, want);
	free(want);
	free(path);
	tu_rmdir(dir);
}

static void test_parse_positions(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{"{\"a\": tru}", "x.json:1:7: invalid JSON"},
		{"[1,\n2,\n3,,\n]", "x.json:3:3: invalid JSON"},
		{"\n\n   @", "x.json:3:4: invalid JSON"},
		{"", "x.json:1:1: invalid JSON"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ade_error err = {0};
		cJSON *j = NULL;
		assert_int_equal(ade_json_parse("x.json", cases[i].text, strlen(cases[i].text), &j,
						&err),
				 ADE_EPARSE);
		assert_null(j);
		if (strcmp(err.msg, cases[i].msg))
			fail_msg("case %zu: got '%s', expected '%s'", i, err.msg, cases[i].msg);
	}
	/* Content after the value is an error at its position; blanks are fine. */
	static const struct {
		const char *text;
		const char *msg;
	} trailing[] = {
		{"{\"a\": 1} xyz", "x.json:1:10: invalid JSON"},
		{"{}\n{}\n", "x.json:2:1: invalid JSON"},
		{"[1]\n\n  ,", "x.json:3:3: invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(trailing) / sizeof(trailing[0]); i++) {
		struct ade_error err = {0};
		cJSON *t = NULL;
		assert_int_equal(ade_json_parse("x.json", trailing[i].text, strlen(trailing[i].text),
						&t, &err),
				 ADE_EPARSE);
		assert_null(t);
		assert_string_equal(err.msg, trailing[i].msg);
	}
	cJSON *ok = NULL;
	const char *blanks = " {\"a\": [1, 2]} \r\n\t\n";
	assert_int_equal(ade_json_parse("x.json", blanks, strlen(blanks), &ok, NULL), 0);
	cJSON_Delete(ok);

	/* Only len bytes are parsed. */
	cJSON *j = NULL;
	assert_int_equal(ade_json_parse("x", "[1]garbage", 3, &j, NULL), 0);
	assert_true(cJSON_IsArray(j));
	cJSON_Delete(j);
}

static void test_lookups_and_fallbacks(void **state)
{
	cJSON *j = cJSON_Parse("{\"s\": \"text\", \"n\": 2.5, \"t\": true, \"f\": false,"
			       " \"z\": null, \"o\": {}, \"ns\": \"3\"}");

	(void)state;
	assert_non_null(j);
	assert_string_equal(ade_json_str(j, "s", "fb"), "text");
	assert_string_equal(ade_json_str(j, "n", "fb"), "fb");
	assert_string_equal(ade_json_str(j, "missing", "fb"), "fb");
	assert_null(ade_json_str(j, "z", NULL));
	assert_true(ade_json_num(j, "n", -1) == 2.5);
	assert_true(ade_json_num(j, "ns", -1) == -1);
	assert_true(ade_json_num(j, "missing", 7) == 7);
	assert_true(ade_json_num(j, "t", 7) == 7);
	assert_int_equal(ade_json_bool(j, "t", 0), 1);
	assert_int_equal(ade_json_bool(j, "f", 1), 0);
	assert_int_equal(ade_json_bool(j, "n", 5), 5);
	assert_int_equal(ade_json_bool(j, "missing", 5), 5);
	/* Keys are case-sensitive. */
	assert_string_equal(ade_json_str(j, "S", "fb"), "fb");
	/* A NULL or non-object tree gives the fallback. */
	assert_string_equal(ade_json_str(NULL, "s", "fb"), "fb");
	assert_true(ade_json_num(NULL, "n", 3) == 3);
	assert_int_equal(ade_json_bool(NULL, "t", 4), 4);
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(j, "s"), "s", "fb"), "fb");
	cJSON_Delete(j);
}

static void test_missing_file(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = ade_xasprintf("%s/nope.json", dir);
	struct ade_error err = {0};
	cJSON *j = NULL;

	(void)state;
	assert_int_equal(ade_json_read_file(path, &j, &err), ADE_ENOTFOUND);
	assert_null(j);
	assert_non_null(strstr(err.msg, path));
	/* A directory is not a JSON file. */
	assert_int_equal(ade_json_read_file(dir, &j, &err), ADE_EIO);
	assert_null(j);
	/* Writing into a missing directory fails and says where. */
	char *deep = ade_xasprintf("%s/no/such/dir/x.json", dir);
	cJSON *o = cJSON_CreateObject();
	assert_int_equal(ade_json_write_file(deep, o, 0, &err), ADE_EIO);
	assert_non_null(strstr(err.msg, "no/such/dir"));
	cJSON_Delete(o);
	free(deep);
	free(path);
	tu_rmdir(dir);
}

/* Every text reads back as the same double, and common values print short. */
static void test_format_number(void **state)
{
	static const struct {
		double v;
		const char *text;
	} fixed[] = {
		{0, "0"}, {-0.0, "0"}, {42, "42"}, {-7, "-7"}, {0.5, "0.5"}, {-0.25, "-0.25"},
		{0.1, "0.1"}, {1234.5678, "1234.5678"}, {0.000412, "0.000412"},
		{1e-9, "0.000000001"}, {1e20, "1e+20"}, {0.1 + 0.2, "0.30000000000000004"},
		{9007199254740993.0, "9007199254740992"},
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		ade_json_format_number(fixed[i].v, out);
		assert_string_equal(out, fixed[i].text);
	}
	ade_json_format_number(NAN, out);
	assert_string_equal(out, "null");
	ade_json_format_number(-INFINITY, out);
	assert_string_equal(out, "null");
	/* Random bit patterns and random decimals: all must round-trip. */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		if (i % 2) {
			memcpy(&v, &x, sizeof(v));
			if (!isfinite(v))
				continue;
		} else {
			v = (double)(int64_t)(x % 2000000001ull - 1000000000) / 1e6;
		}
		int n = ade_json_format_number(v, out);
		assert_int_equal(n, (int)strlen(out));
		if (strtod(out, NULL) != v)
			fail_msg("%.17g printed as %s", v, out);
	}
	/* As a raw item, the text lands in the printed tree. */
	cJSON *o = cJSON_CreateObject();
	ade_json_add_number_raw(o, "d", 0.125);
	char *text = cJSON_PrintUnformatted(o);
	assert_string_equal(text, "{\"d\":0.125}");
	free(text);
	cJSON_Delete(o);
}

/* Strings come back as they went in, whatever they hold. */
static void test_put_string(void **state)
{
	static const char *const in[] = {"plain name_1-x", "", "a \"quoted\" \\ path",
					 "tab\tnew\nline", "caf\xc3\xa9 \xe2\x82\xac", "\x01ctl"};
	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		ade_strbuf_adds(&sb, "{\"k\":");
		ade_json_put_string(&sb, in[i]);
		ade_strbuf_adds(&sb, ",\"n\":");
		ade_json_put_number(&sb, 0.25);
		ade_strbuf_addc(&sb, '}');
		cJSON *o = cJSON_Parse(sb.buf);
		assert_non_null(o);
		assert_string_equal(cJSON_GetObjectItem(o, "k")->valuestring, in[i]);
		assert_true(cJSON_GetObjectItem(o, "n")->valuedouble == 0.25);
		cJSON_Delete(o);
		ade_strbuf_release(&sb);
	}
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	ade_json_put_string(&sb, NULL);
	ade_strbuf_addc(&sb, ' ');
	ade_json_put_number(&sb, NAN);
	assert_string_equal(sb.buf, "null null");
	ade_strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_back),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_parse_positions),
		cmocka_unit_test(test_lookups_and_fallbacks),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_format_number),
		cmocka_unit_test(test_put_string),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
