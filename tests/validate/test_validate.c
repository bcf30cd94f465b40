/*
 * Unit tests of ade-validate: every rule kind over a hand-made frame whose
 * expected counts are worked out in the comments, `mostly` at its exact
 * boundary, GE's null semantics, each severity's effect on the return
 * code and status, samples with row numbers, the unique rule's bitmap and
 * hash-set paths, the frame passed through by hard links, and refused
 * configuration (messages without positions: ADE_CONFIG_POS is not set
 * here; tests/validate/validate_e2e.sh checks FILE:LINE:COL through ade).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/util.h"
#include "stages/validate/validate.h"

#include <locale.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 10
#define NUL INT64_MIN /* a null in the fixture's integer arrays */

static char *tmp;   /* fixture root: in/frame, out, config.json */
static char *out;
static char *frame;

/*
 * The fixture, row by row (N = null):
 * row id big   age score dept  name        hired       ts                 remote years
 *  0   1 0      17 1.5   Eng   Ana         2020-01-01  2026-01-10T12:00Z  t      0
 *  1   2 1e15   20 NaN   HR    Zoë         2026-01-10  2026-01-01T00:00Z  f      25
 *  2   3 2e15   30 3.0   Sales ""          2026-01-11  2025-06-01T00:00Z  t      5
 *  3   4 3e15   N  4.0   N     Bob         N           2025-01-01T00:00Z  t      3
 *  4   5 4e15   40 N     Eng   Éowyn Ng    2025-12-31  2024-01-01T00:00Z  t      50
 *  5   6 5e15   65 5.0   HR    N           2019-05-05  N                  f      10
 *  6   7 6e15   66 2.5   Zzz   "  x"       2026-01-09  2023-01-01T00:00Z  t      1
 *  7   8 7e15   N  0.5   Eng   Al          2021-01-01  2022-01-01T00:00Z  t      2
 *  8   9 8e15   50 4.5   N     Li Wei      2022-02-02  2021-01-01T00:00Z  t      N
 *  9   9 1e15   18 3.5   Sales Ana         2023-03-03  2020-01-01T00:00Z  t      0
 * plus allnull (int64, every row null).  ds is 2026-01-10.
 */
static const int64_t ids[N] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 9};
static const int64_t ages[N] = {17, 20, 30, NUL, 40, 65, 66, NUL, 50, 18};
static const int64_t years[N] = {0, 25, 5, 3, 50, 10, 1, 2, NUL, 0};
static const double scores[N] = {1.5, NAN, 3.0, 4.0, -99, 5.0, 2.5, 0.5, 4.5, 3.5};
static const int32_t depts[N] = {0, 1, 2, -1, 0, 1, 3, 0, -1, 2};
static const char *const names[N] = {"Ana", "Zo\xc3\xab", "", "Bob", "\xc3\x89owyn Ng",
				     NULL, "  x", "Al", "Li Wei", "Ana"};
static const char *const hired[N] = {"2020-01-01", "2026-01-10", "2026-01-11", NULL,
				     "2025-12-31", "2019-05-05", "2026-01-09", "2021-01-01",
				     "2022-02-02", "2023-03-03"};
static const char *const tss[N] = {"2026-01-10T12:00:00Z", "2026-01-01T00:00:00Z",
				   "2025-06-01T00:00:00Z", "2025-01-01T00:00:00Z",
				   "2024-01-01T00:00:00Z", NULL, "2023-01-01T00:00:00Z",
				   "2022-01-01T00:00:00Z", "2021-01-01T00:00:00Z",
				   "2020-01-01T00:00:00Z"};
static const int remote[N] = {1, 0, 1, 1, 1, 0, 1, 1, 1, 1};

static void make_frame(const char *dir)
{
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	const char *dict[] = {"Eng", "HR", "Sales", "Zzz"};
	size_t lens[] = {3, 2, 5, 3};

	assert_int_equal(ade_frame_writer_open(dir, &w, &err), 0);
	int c_id = ade_frame_writer_add(w, "id", ADE_TYPE_INT64, &err);
	int c_big = ade_frame_writer_add(w, "big", ADE_TYPE_INT64, &err);
	int c_age = ade_frame_writer_add(w, "age", ADE_TYPE_INT64, &err);
	int c_score = ade_frame_writer_add(w, "score", ADE_TYPE_FLOAT64, &err);
	int c_dept = ade_frame_writer_add(w, "dept", ADE_TYPE_CATEGORICAL, &err);
	int c_name = ade_frame_writer_add(w, "name", ADE_TYPE_STRING, &err);
	int c_hired = ade_frame_writer_add(w, "hired", ADE_TYPE_DATE, &err);
	int c_ts = ade_frame_writer_add(w, "ts", ADE_TYPE_TIMESTAMP, &err);
	int c_remote = ade_frame_writer_add(w, "remote", ADE_TYPE_BOOL, &err);
	int c_years = ade_frame_writer_add(w, "years", ADE_TYPE_INT64, &err);
	int c_null = ade_frame_writer_add(w, "allnull", ADE_TYPE_INT64, &err);
	ade_frame_writer_set_dict(w, c_dept, dict, lens, 4);
	for (int i = 0; i < N; i++) {
		int64_t us;
		int32_t days;
		ade_frame_put_i64(w, c_id, ids[i]);
		ade_frame_put_i64(w, c_big, i == 9 ? INT64_C(1000000000000000)
						   : i * INT64_C(1000000000000000));
		if (ages[i] == NUL)
			ade_frame_put_null(w, c_age);
		else
			ade_frame_put_i64(w, c_age, ages[i]);
		if (i == 4)
			ade_frame_put_null(w, c_score);
		else
			ade_frame_put_f64(w, c_score, scores[i]);
		if (depts[i] < 0)
			ade_frame_put_null(w, c_dept);
		else
			ade_frame_put_code(w, c_dept, depts[i]);
		if (names[i])
			ade_frame_put_str(w, c_name, names[i], strlen(names[i]));
		else
			ade_frame_put_null(w, c_name);
		if (hired[i]) {
			assert_int_equal(ade_date_parse(hired[i], &days, NULL), 0);
			ade_frame_put_i64(w, c_hired, days);
		} else {
			ade_frame_put_null(w, c_hired);
		}
		if (tss[i]) {
			assert_int_equal(ade_validate_parse_time(tss[i], strlen(tss[i]), &us), 0);
			ade_frame_put_i64(w, c_ts, us);
		} else {
			ade_frame_put_null(w, c_ts);
		}
		ade_frame_put_bool(w, c_remote, remote[i]);
		if (years[i] == NUL)
			ade_frame_put_null(w, c_years);
		else
			ade_frame_put_i64(w, c_years, years[i]);
		ade_frame_put_null(w, c_null);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
}

static int setup(void **state)
{
	(void)state;
	setlocale(LC_CTYPE, "C.UTF-8");
	tmp = tu_mkdtemp();
	char *in = ade_xasprintf("%s/in", tmp);
	assert_int_equal(mkdir(in, 0755), 0);
	frame = ade_xasprintf("%s/frame", in);
	make_frame(frame);
	out = ade_xasprintf("%s/out", tmp);
	setenv("ADE_PIPELINE", "p", 1);
	setenv("ADE_STAGE", "validate", 1);
	setenv("ADE_DS", "2026-01-10", 1);
	setenv("ADE_INTERVAL_START", "2026-01-10T00:00:00Z", 1);
	setenv("ADE_INTERVAL_END", "2026-01-11T00:00:00Z", 1);
	setenv("ADE_OUT", out, 1);
	setenv("ADE_IN_INGEST", in, 1);
	unsetenv("ADE_CONFIG_POS");
	unsetenv("ADE_PIPELINE_FILE");
	free(in);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmdir(tmp);
	free(out);
	free(frame);
	return 0;
}

/* Runs the stage on config (JSON text); returns result.json (NULL if none). */
static cJSON *run(const char *config, int *rc, char *msg)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	cJSON *res = NULL;
	char *path;

	ade_fs_remove_tree(out, NULL);
	assert_int_equal(mkdir(out, 0755), 0);
	path = tu_write(tmp, "config.json", config);
	setenv("ADE_CONFIG", path, 1);
	free(path);
	assert_int_equal(ade_stage_init(&ctx, &err), 0);
	*rc = ade_validate_run(&ctx, &err);
	if (msg)
		snprintf(msg, ADE_ERROR_MSG_MAX, "%s", err.msg);
	ade_stage_release(&ctx);
	path = ade_xasprintf("%s/result.json", out);
	if (ade_fs_exists(path))
		assert_int_equal(ade_json_read_file(path, &res, NULL), 0);
	free(path);
	return res;
}

static const cJSON *rule(const cJSON *res, int i)
{
	const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "rules"), i);
	assert_non_null(r);
	return r;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItem(o, k);
	assert_non_null(j);
	return j->valuedouble;
}

static int passed(const cJSON *r)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(r, "passed"));
}

/* The samples' row numbers as "r1,r2,...". */
static char *sample_rows(const cJSON *r)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const cJSON *s;

	ade_strbuf_adds(&sb, "");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(r, "samples"))
		ade_strbuf_addf(&sb, "%s%d", sb.len ? "," : "", cJSON_GetObjectItem(s, "row")->valueint);
	return ade_strbuf_detach(&sb);
}

static void assert_counts(const cJSON *r, int evaluated, int missing, int failures, int pass,
			  const char *rows)
{
	char *got = sample_rows(r);

	if ((int)num(r, "evaluated") != evaluated || (int)num(r, "missing") != missing ||
	    (int)num(r, "failures") != failures || passed(r) != pass ||
	    (rows && strcmp(got, rows))) {
		char *t = cJSON_PrintUnformatted(r);
		fail_msg("want evaluated %d missing %d failures %d passed %d rows [%s]; got %s", evaluated,
			 missing, failures, pass, rows ? rows : "*", t);
	}
	free(got);
}

/* Runs one rule (JSON object text) with severity warn, so rc is always 0. */
static cJSON *run1(const char *rule_json)
{
	char *cfg = ade_xasprintf("{\"severity\": \"warn\", \"rules\": [%s]}", rule_json);
	int rc;
	char msg[ADE_ERROR_MSG_MAX];
	cJSON *res = run(cfg, &rc, msg);

	if (rc)
		fail_msg("rc %d: %s", rc, msg);
	free(cfg);
	assert_non_null(res);
	return res;
}

#define CHECK1(rule_json, ev, miss, fails, pass, rows)                     \
	do {                                                               \
		cJSON *res_ = run1(rule_json);                             \
		assert_counts(rule(res_, 0), ev, miss, fails, pass, rows); \
		cJSON_Delete(res_);                                        \
	} while (0)

/* ---------- rule kinds ---------- */

static void test_between(void **state)
{
	(void)state;
	/* age: 8 non-null, 17 (row 0) and 66 (row 6) outside [18, 65]: 6/8 = 0.75 */
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65}", 8, 2, 2, 0, "0,6");
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65,\"mostly\":0.75}",
	       8, 2, 2, 1, "0,6");
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65,\"mostly\":0.7501}",
	       8, 2, 2, 0, NULL);
	/* strict_min also rejects 18 (row 9); strict rejects 65 (row 5) too */
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65,\"strict_min\":true}",
	       8, 2, 3, 0, "0,6,9");
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65,\"strict\":true}",
	       8, 2, 4, 0, "0,5,6,9");
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65,\"strict\":true,"
	       "\"strict_max\":false}", 8, 2, 3, 0, "0,6,9");
	/* one bound; fractional bounds on an integer column */
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"min\":17.5}", 8, 2, 1, 0, "0");
	CHECK1("{\"kind\":\"between\",\"column\":\"age\",\"max\":65.5}", 8, 2, 1, 0, "6");
	/* score: NaN (row 1) is a value and is not between; 0.5 (row 7) is out */
	CHECK1("{\"kind\":\"between\",\"column\":\"score\",\"min\":1,\"max\":5}", 9, 1, 2, 0, "1,7");
	/* dates, with the run's date as a bound: 2026-01-11 (row 2) is after ds */
	CHECK1("{\"kind\":\"between\",\"column\":\"hired\",\"min\":\"2020-01-01\",\"max\":\"ds\"}",
	       9, 1, 2, 0, "2,5");
	/* all null: nothing to evaluate passes, as in GE */
	CHECK1("{\"kind\":\"between\",\"column\":\"allnull\",\"min\":0,\"max\":1}", 0, 10, 0, 1, "");

	/* sample values: numbers, NaN as text */
	cJSON *res = run1("{\"kind\":\"between\",\"column\":\"score\",\"min\":1,\"max\":5}");
	const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(rule(res, 0), "samples"), 0);
	assert_string_equal(cJSON_GetObjectItem(s, "value")->valuestring, "NaN");
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(rule(res, 0), "samples"), 1);
	assert_true(cJSON_GetObjectItem(s, "value")->valuedouble == 0.5);
	assert_true(fabs(num(rule(res, 0), "percent") - 100.0 * 2 / 9) < 1e-9);
	cJSON_Delete(res);
}

static void test_not_null(void **state)
{
	(void)state;
	/* not_null divides by every row: 8 of 10 present */
	CHECK1("{\"kind\":\"not_null\",\"column\":\"dept\"}", 10, 0, 2, 0, "3,8");
	CHECK1("{\"kind\":\"not_null\",\"column\":\"dept\",\"mostly\":0.8}", 10, 0, 2, 1, "3,8");
	CHECK1("{\"kind\":\"not_null\",\"column\":\"dept\",\"mostly\":0.81}", 10, 0, 2, 0, NULL);
	CHECK1("{\"kind\":\"not_null\",\"column\":\"id\"}", 10, 0, 0, 1, "");
	CHECK1("{\"kind\":\"not_null\",\"column\":\"allnull\",\"mostly\":0}", 10, 0, 10, 1, NULL);
	CHECK1("{\"kind\":\"not_null\",\"column\":\"name\"}", 10, 0, 1, 0, "5");
}

static void test_in_set(void **state)
{
	(void)state;
	/* categorical: Zzz (row 6); nulls leave the denominator: 7/8 */
	CHECK1("{\"kind\":\"in_set\",\"column\":\"dept\",\"values\":[\"Eng\",\"HR\",\"Sales\"]}",
	       8, 2, 1, 0, "6");
	CHECK1("{\"kind\":\"in_set\",\"column\":\"dept\",\"values\":[\"Eng\",\"HR\",\"Sales\"],"
	       "\"mostly\":0.875}", 8, 2, 1, 1, "6");
	/* integers, booleans, strings */
	CHECK1("{\"kind\":\"in_set\",\"column\":\"id\",\"values\":[1,2,3,4,5,6,7,8]}", 10, 0, 2, 0,
	       "8,9");
	CHECK1("{\"kind\":\"in_set\",\"column\":\"remote\",\"values\":[true]}", 10, 0, 2, 0, "1,5");
	CHECK1("{\"kind\":\"in_set\",\"column\":\"name\",\"values\":[\"Ana\",\"Bob\",\"Al\"]}", 9, 1,
	       5, 0, "1,2,4,6,8");
}

static void test_regex(void **state)
{
	(void)state;
	/* an unanchored search: "", "Éowyn Ng" (É is not A-Z) and "  x" fail */
	CHECK1("{\"kind\":\"regex\",\"column\":\"name\",\"pattern\":\"^[A-Z]\"}", 9, 1, 3, 0,
	       "2,4,6");
	CHECK1("{\"kind\":\"regex\",\"column\":\"name\",\"pattern\":\"^[A-Z]\",\"mostly\":0.66}", 9, 1,
	       3, 1, NULL);
	CHECK1("{\"kind\":\"regex\",\"column\":\"name\",\"pattern\":\"n\"}", 9, 1, 6, 0, NULL);
	/* categorical, judged per dictionary value */
	CHECK1("{\"kind\":\"regex\",\"column\":\"dept\",\"pattern\":\"^(Eng|HR)$\"}", 8, 2, 3, 0,
	       "2,6,9");
	/* integers and dates are matched as their text */
	CHECK1("{\"kind\":\"regex\",\"column\":\"id\",\"pattern\":\"^[1-8]$\"}", 10, 0, 2, 0, "8,9");
	CHECK1("{\"kind\":\"regex\",\"column\":\"hired\",\"pattern\":\"^2026-\"}", 9, 1, 6, 0,
	       "0,4,5,7,8,9");
	/* '.' is one UTF-8 character in C.UTF-8: "Zoë" is 3 characters */
	CHECK1("{\"kind\":\"regex\",\"column\":\"name\",\"pattern\":\"^...$\"}", 9, 1, 4, 0,
	       "2,4,7,8");
}

static void test_length(void **state)
{
	(void)state;
	/* characters, not bytes: "Zoë" (4 bytes) has length 3 */
	CHECK1("{\"kind\":\"length\",\"column\":\"name\",\"max\":3}", 9, 1, 2, 0, "4,8");
	CHECK1("{\"kind\":\"length\",\"column\":\"name\",\"min\":1,\"max\":3}", 9, 1, 3, 0, "2,4,8");
	CHECK1("{\"kind\":\"length\",\"column\":\"dept\",\"min\":3}", 8, 2, 2, 0, "1,5");
	assert_int_equal(ade_validate_utf8_chars("Zo\xc3\xab", 4), 3);
	assert_int_equal(ade_validate_utf8_chars("\xe2\x82\xac\xf0\x9f\x98\x80", 7), 2);
	assert_int_equal(ade_validate_utf8_chars("", 0), 0);
}

static void test_unique(void **state)
{
	(void)state;
	cJSON *res;

	/* every row of a repeated value is unexpected (GE): id 9 at rows 8 and 9 */
	res = run1("{\"kind\":\"unique\",\"column\":\"id\"}");
	assert_counts(rule(res, 0), 10, 0, 2, 0, "8,9");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "method")->valuestring, "bitmap");
	assert_int_equal((int)num(rule(res, 0), "distinct"), 9);
	assert_int_equal((int)num(rule(res, 0), "duplicated_values"), 1);
	cJSON_Delete(res);
	/* a range too wide for a bitmap goes through the hash set */
	res = run1("{\"kind\":\"unique\",\"column\":\"big\",\"mostly\":0.8}");
	assert_counts(rule(res, 0), 10, 0, 2, 1, "1,9");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "method")->valuestring,
			    "xxh3-128 hash set");
	cJSON_Delete(res);
	/* strings; nulls are not values */
	CHECK1("{\"kind\":\"unique\",\"column\":\"name\"}", 9, 1, 2, 0, "0,9");
	/* categorical: Eng x3, HR x2, Sales x2 repeat, Zzz once */
	CHECK1("{\"kind\":\"unique\",\"column\":\"dept\"}", 8, 2, 7, 0, "0,1,2,4,5,7,9");
	CHECK1("{\"kind\":\"unique\",\"column\":\"score\"}", 9, 1, 0, 1, "");
	CHECK1("{\"kind\":\"unique\",\"column\":\"hired\"}", 9, 1, 0, 1, "");
	CHECK1("{\"kind\":\"unique\",\"column\":\"allnull\"}", 0, 10, 0, 1, "");
}

static void test_unique_large(void **state)
{
	(void)state;
	/* 200k strings through the hash set's growth: exactly 1000 values repeat */
	char *dir = ade_xasprintf("%s/big", tmp);
	char *fdir = ade_xasprintf("%s/frame", dir);
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	char buf[32];
	int rc;

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(ade_frame_writer_open(fdir, &w, &err), 0);
	int c = ade_frame_writer_add(w, "s", ADE_TYPE_STRING, &err);
	int k = ade_frame_writer_add(w, "k", ADE_TYPE_INT64, &err);
	for (int i = 0; i < 200000; i++) {
		int v = i < 199000 ? i : i - 199000; /* the last 1000 repeat 0..999 */
		int n = snprintf(buf, sizeof(buf), "v%d", v);
		ade_frame_put_str(w, c, buf, (size_t)n);
		ade_frame_put_i64(w, k, (int64_t)v * 1000003);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	setenv("ADE_IN_INGEST", dir, 1);
	cJSON *res = run("{\"samples\": 3, \"rules\": [{\"kind\":\"unique\",\"column\":\"s\"},"
			 "{\"kind\":\"unique\",\"column\":\"k\"}]}", &rc, NULL);
	assert_int_equal(rc, ADE_EDATA);
	for (int r = 0; r < 2; r++) {
		assert_counts(rule(res, r), 200000, 0, 2000, 0, "0,1,2");
		assert_int_equal((int)num(rule(res, r), "distinct"), 199000);
	}
	cJSON_Delete(res);
	char *in = ade_xasprintf("%s/in", tmp);
	setenv("ADE_IN_INGEST", in, 1);
	free(in);
	free(fdir);
	free(dir);
}

static void test_compare(void **state)
{
	(void)state;
	/* years < age over rows where both are present (7): rows 1 and 4 fail */
	CHECK1("{\"kind\":\"compare\",\"column\":\"years\",\"op\":\"<\",\"other\":\"age\"}", 7, 3, 2,
	       0, "1,4");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"years < age\",\"mostly\":0.7}", 7, 3, 2, 1, NULL);
	/* a date against the run's date: 2026-01-11 (row 2) is after ds */
	CHECK1("{\"kind\":\"compare\",\"expr\":\"hired <= ds\"}", 9, 1, 1, 0, "2");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"hired <= interval_end\"}", 9, 1, 0, 1, "");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"hired < interval_end\"}", 9, 1, 1, 0, "2");
	CHECK1("{\"kind\":\"compare\",\"column\":\"hired\",\"op\":\"<\",\"value\":\"2026-01-10\"}", 9,
	       1, 2, 0, "1,2");
	/* a date against a timestamp column, compared as instants */
	CHECK1("{\"kind\":\"compare\",\"column\":\"hired\",\"op\":\">=\",\"other\":\"ts\"}", 8, 2, 2,
	       0, "0,7");
	/* numbers, strings, booleans */
	CHECK1("{\"kind\":\"compare\",\"expr\":\"score >= 2.5\"}", 9, 1, 3, 0, "0,1,7");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"score != 3\"}", 9, 1, 1, 0, "2");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"name > 'B'\"}", 9, 1, 5, 0, "0,2,6,7,9");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"dept == 'Eng'\"}", 8, 2, 5, 0, "1,2,5,6,9");
	CHECK1("{\"kind\":\"compare\",\"expr\":\"remote == true\"}", 10, 0, 2, 0, "1,5");
	/* a pair's sample shows both values */
	cJSON *res = run1("{\"kind\":\"compare\",\"expr\":\"years < age\"}");
	const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(rule(res, 0), "samples"), 0);
	const cJSON *v = cJSON_GetObjectItem(s, "value");
	assert_int_equal(cJSON_GetArraySize(v), 2);
	assert_int_equal(cJSON_GetArrayItem(v, 0)->valueint, 25);
	assert_int_equal(cJSON_GetArrayItem(v, 1)->valueint, 20);
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "name")->valuestring,
			    "compare_years_lt_age");
	cJSON_Delete(res);
	/* the default name of a compare with ds */
	res = run1("{\"kind\":\"compare\",\"expr\":\"hired <= ds\"}");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "name")->valuestring,
			    "compare_hired_le_ds");
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(rule(res, 0), "samples"), 0);
	assert_string_equal(cJSON_GetObjectItem(s, "value")->valuestring, "2026-01-11");
	cJSON_Delete(res);
}

static void test_table_rules(void **state)
{
	(void)state;
	cJSON *res;

	/* freshness: newest ts is 2026-01-10T12:00Z, 12h before the interval end */
	res = run1("{\"kind\":\"freshness\",\"column\":\"ts\",\"max_age\":\"12h\"}");
	assert_true(passed(rule(res, 0)));
	assert_int_equal((int)num(rule(res, 0), "age_seconds"), 43200);
	cJSON_Delete(res);
	res = run1("{\"kind\":\"freshness\",\"column\":\"ts\",\"max_age\":\"11h\"}");
	assert_false(passed(rule(res, 0)));
	assert_int_equal((int)num(rule(res, 0), "failures"), 1);
	assert_int_equal((int)num(rule(res, 0), "evaluated"), 1);
	cJSON_Delete(res);
	/* a date counts from its midnight: 2026-01-11 is 0s old at 2026-01-11T00:00Z */
	res = run1("{\"kind\":\"freshness\",\"column\":\"hired\",\"max_age\":0}");
	assert_true(passed(rule(res, 0)));
	cJSON_Delete(res);
	res = run1("{\"kind\":\"freshness\",\"column\":\"allnull\",\"max_age\":\"1d\"}");
	assert_false(passed(rule(res, 0)));
	cJSON_Delete(res);
	/* row_count */
	res = run1("{\"kind\":\"row_count\",\"min\":10,\"max\":10}");
	assert_true(passed(rule(res, 0)));
	assert_int_equal((int)num(rule(res, 0), "observed"), 10);
	cJSON_Delete(res);
	res = run1("{\"kind\":\"row_count\",\"min\":11}");
	assert_false(passed(rule(res, 0)));
	cJSON_Delete(res);
	/* column_exists, with a type */
	res = run1("{\"kind\":\"column_exists\",\"column\":\"dept\",\"type\":\"categorical\"}");
	assert_true(passed(rule(res, 0)));
	cJSON_Delete(res);
	res = run1("{\"kind\":\"column_exists\",\"column\":\"dept\",\"type\":\"string\"}");
	assert_false(passed(rule(res, 0)));
	cJSON_Delete(res);
	res = run1("{\"kind\":\"column_exists\",\"column\":\"salary\"}");
	assert_false(passed(rule(res, 0)));
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "reason")->valuestring,
			    "column missing");
	cJSON_Delete(res);
}

static void test_missing_column_and_types(void **state)
{
	(void)state;
	cJSON *res;
	int rc;

	/* a rule on an absent column fails with a reason; it is not a config error */
	res = run("{\"rules\":[{\"kind\":\"not_null\",\"column\":\"salary\"}]}", &rc, NULL);
	assert_int_equal(rc, ADE_EDATA);
	assert_false(passed(rule(res, 0)));
	assert_non_null(strstr(cJSON_GetObjectItem(rule(res, 0), "reason")->valuestring,
			       "column missing"));
	cJSON_Delete(res);
	/* bounds of the wrong type for the column */
	res = run1("{\"kind\":\"between\",\"column\":\"name\",\"min\":1}");
	assert_false(passed(rule(res, 0)));
	assert_non_null(strstr(cJSON_GetObjectItem(rule(res, 0), "reason")->valuestring,
			       "type mismatch"));
	cJSON_Delete(res);
	res = run1("{\"kind\":\"compare\",\"expr\":\"age < name\"}");
	assert_false(passed(rule(res, 0)));
	cJSON_Delete(res);
	res = run1("{\"kind\":\"length\",\"column\":\"age\",\"max\":3}");
	assert_false(passed(rule(res, 0)));
	cJSON_Delete(res);
}

/* ---------- severities, samples, outputs ---------- */

static int count_lines(const char *path)
{
	char *t = tu_read(path);
	int n = 0;

	for (char *p = t; *p; p++)
		n += *p == '\n';
	free(t);
	return n;
}

static void test_severities(void **state)
{
	(void)state;
	cJSON *res;
	int rc;
	char *vpath = ade_xasprintf("%s/violations.ndjson", out);
	const char *bad = "\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65";
	char *cfg;

	/* warn: the run succeeds, status warn */
	cfg = ade_xasprintf("{\"rules\":[{%s,\"severity\":\"warn\"}]}", bad);
	res = run(cfg, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_string_equal(cJSON_GetObjectItem(res, "status")->valuestring, "warn");
	assert_int_equal(count_lines(vpath), 2);
	cJSON_Delete(res);
	free(cfg);
	/* fail (the default): ADE_EDATA after result.json and the violations */
	cfg = ade_xasprintf("{\"rules\":[{%s}]}", bad);
	res = run(cfg, &rc, NULL);
	assert_int_equal(rc, ADE_EDATA);
	assert_int_equal(ade_validate_exit_code(rc), 65);
	assert_non_null(res);
	assert_string_equal(cJSON_GetObjectItem(res, "status")->valuestring, "failed");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "severity")->valuestring, "fail");
	assert_int_equal(count_lines(vpath), 2);
	cJSON_Delete(res);
	free(cfg);
	/* critical */
	cfg = ade_xasprintf("{\"rules\":[{%s,\"severity\":\"critical\"},"
			    "{\"kind\":\"not_null\",\"column\":\"id\",\"severity\":\"critical\"}]}", bad);
	res = run(cfg, &rc, NULL);
	assert_int_equal(rc, ADE_EDATA);
	const cJSON *c = cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(res, "summary"), "by_severity"), "critical");
	assert_int_equal((int)num(c, "rules"), 2);
	assert_int_equal((int)num(c, "failed"), 1);
	assert_int_equal((int)num(c, "passed"), 1);
	cJSON_Delete(res);
	free(cfg);
	/* a failing rule that passes under mostly does not fail the run */
	cfg = ade_xasprintf("{\"rules\":[{%s,\"mostly\":0.75}]}", bad);
	res = run(cfg, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_string_equal(cJSON_GetObjectItem(res, "status")->valuestring, "ok");
	cJSON_Delete(res);
	free(cfg);
	/* everything passes */
	res = run("{\"rules\":[]}", &rc, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(vpath), 0);
	cJSON_Delete(res);
	free(vpath);
}

static void test_samples_and_violations(void **state)
{
	(void)state;
	int rc;
	char *vpath = ade_xasprintf("%s/violations.ndjson", out);
	cJSON *res = run("{\"samples\":1,\"key\":\"id\",\"rules\":["
			 "{\"kind\":\"between\",\"column\":\"age\",\"min\":18,\"max\":65},"
			 "{\"kind\":\"not_null\",\"column\":\"dept\",\"samples\":5,\"name\":\"dept_req\"},"
			 "{\"kind\":\"row_count\",\"min\":100,\"severity\":\"warn\"}]}",
			 &rc, NULL);

	assert_int_equal(rc, ADE_EDATA);
	/* samples caps what is shown, not what is counted */
	assert_counts(rule(res, 0), 8, 2, 2, 0, "0");
	assert_counts(rule(res, 1), 10, 0, 2, 0, "3,8");
	const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(rule(res, 1), "samples"), 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(s, "value")));
	assert_int_equal(cJSON_GetObjectItem(s, "id")->valueint, 9);
	/* one line per sample, and one for the failed table rule */
	char *t = tu_read(vpath);
	assert_string_equal(
		t,
		"{\"rule\":\"between_age\",\"kind\":\"between\",\"severity\":\"fail\",\"column\":\"age\","
		"\"row\":0,\"value\":17,\"id\":1}\n"
		"{\"rule\":\"dept_req\",\"kind\":\"not_null\",\"severity\":\"fail\",\"column\":\"dept\","
		"\"row\":3,\"value\":null,\"id\":4}\n"
		"{\"rule\":\"dept_req\",\"kind\":\"not_null\",\"severity\":\"fail\",\"column\":\"dept\","
		"\"row\":8,\"value\":null,\"id\":9}\n"
		"{\"rule\":\"row_count\",\"kind\":\"row_count\",\"severity\":\"warn\",\"column\":null,"
		"\"row\":null,\"value\":10,\"reason\":\"10 rows\"}\n");
	free(t);
	const cJSON *sum = cJSON_GetObjectItem(res, "summary");
	assert_int_equal((int)num(sum, "rules"), 3);
	assert_int_equal((int)num(sum, "failed"), 3);
	assert_int_equal((int)num(sum, "violations"), 4);
	cJSON_Delete(res);
	free(vpath);
}

static void test_default_names(void **state)
{
	(void)state;
	int rc;
	cJSON *res = run("{\"rules\":[{\"kind\":\"not_null\",\"column\":\"id\"},"
			 "{\"kind\":\"not_null\",\"column\":\"id\"},"
			 "{\"kind\":\"row_count\",\"min\":1},"
			 "{\"kind\":\"not_null\",\"column\":\"id\",\"name\":\"x\"}]}",
			 &rc, NULL);

	assert_int_equal(rc, 0);
	assert_string_equal(cJSON_GetObjectItem(rule(res, 0), "name")->valuestring, "not_null_id");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 1), "name")->valuestring, "not_null_id_2");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 2), "name")->valuestring, "row_count");
	assert_string_equal(cJSON_GetObjectItem(rule(res, 3), "name")->valuestring, "x");
	cJSON_Delete(res);
}

static void test_frame_passthrough(void **state)
{
	(void)state;
	int rc;
	struct stat a, b;
	cJSON *res = run("{\"rules\":[{\"kind\":\"not_null\",\"column\":\"id\"}]}", &rc, NULL);
	const char *files[] = {"schema.json", "id.npy", "name.offsets.npy", "name.bytes",
			       "dept.dict.json", "age.valid.npy"};

	assert_int_equal(rc, 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = ade_xasprintf("%s/%s", frame, files[i]);
		char *q = ade_xasprintf("%s/frame/%s", out, files[i]);
		assert_int_equal(stat(p, &a), 0);
		assert_int_equal(stat(q, &b), 0);
		assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		free(p);
		free(q);
	}
	/* the output frame opens and the result names it */
	struct ade_frame *f;
	char *q = ade_xasprintf("%s/frame", out);
	assert_int_equal(ade_frame_open(q, &f, NULL), 0);
	assert_int_equal(f->rows, N);
	ade_frame_close(f);
	free(q);
	const cJSON *o = cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(res, "datasets"), "outputs"), 0);
	assert_string_equal(cJSON_GetObjectItem(o, "path")->valuestring, "frame");
	assert_string_equal(cJSON_GetObjectItem(o, "format")->valuestring, "ade-frame");
	assert_int_equal((int)num(o, "rows"), N);
	assert_int_equal(strncmp(cJSON_GetObjectItem(o, "hash")->valuestring, "xxh3-128:", 9), 0);
	assert_int_equal((int)num(res, "rows_in"), N);
	assert_int_equal((int)num(res, "rows_out"), N);
	cJSON_Delete(res);
}

/* ---------- refused configuration ---------- */

static const struct {
	const char *config;
	const char *msg;
} bad_configs[] = {
	{"{}", "ADE_CONFIG /: rules is required"},
	{"{\"rules\":{}}", "ADE_CONFIG /rules: rules must be a list"},
	{"{\"rules\":[],\"sampels\":3}", "ADE_CONFIG /sampels: unknown key 'sampels'"},
	{"{\"rules\":[5]}", "ADE_CONFIG /rules/0: a rule must be a mapping"},
	{"{\"rules\":[{\"column\":\"a\"}]}", "ADE_CONFIG /rules/0: rule needs kind"},
	{"{\"rules\":[{\"kind\":\"betwen\",\"column\":\"a\"}]}",
	 "ADE_CONFIG /rules/0/kind: unknown rule kind 'betwen'"},
	{"{\"rules\":[{\"kind\":\"between\",\"column\":\"a\"}]}",
	 "ADE_CONFIG /rules/0: between needs min or max (or both)"},
	{"{\"rules\":[{\"kind\":\"between\",\"column\":\"a\",\"min\":5,\"max\":1}]}",
	 "ADE_CONFIG /rules/0/min: min 5 is greater than max 1"},
	{"{\"rules\":[{\"kind\":\"between\",\"column\":\"a\",\"min\":[1]}]}",
	 "ADE_CONFIG /rules/0/min: min must be a number"},
	{"{\"rules\":[{\"kind\":\"between\",\"column\":\"a\",\"min\":1,\"strict\":\"yes\"}]}",
	 "ADE_CONFIG /rules/0/strict: strict must be true or false"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"mostly\":1.5}]}",
	 "ADE_CONFIG /rules/0/mostly: mostly must be a number from 0 to 1"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"mostly\":\"x\"}]}",
	 "ADE_CONFIG /rules/0/mostly: mostly must be a number from 0 to 1"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"mostly\":-0.1}]}",
	 "ADE_CONFIG /rules/0/mostly: mostly must be a number from 0 to 1"},
	{"{\"rules\":[{\"kind\":\"row_count\",\"min\":1,\"mostly\":0.5}]}",
	 "ADE_CONFIG /rules/0/mostly: mostly does not apply to row_count"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"severity\":\"high\"}]}",
	 "ADE_CONFIG /rules/0/severity: severity must be warn, fail or critical, not 'high'"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"severity\":2}]}",
	 "ADE_CONFIG /rules/0/severity: severity must be warn, fail or critical"},
	{"{\"rules\":[{\"kind\":\"regex\",\"column\":\"a\",\"pattern\":\"[a-\"}]}",
	 "ADE_CONFIG /rules/0/pattern: invalid regular expression '[a-': "},
	{"{\"rules\":[{\"kind\":\"regex\",\"column\":\"a\",\"pattern\":\"(a\"}]}",
	 "ADE_CONFIG /rules/0/pattern: invalid regular expression '(a': "},
	{"{\"rules\":[{\"kind\":\"regex\",\"column\":\"a\"}]}", "ADE_CONFIG /rules/0: regex needs pattern"},
	{"{\"rules\":[{\"kind\":\"in_set\",\"column\":\"a\",\"values\":[]}]}",
	 "ADE_CONFIG /rules/0/values: values must be a non-empty list"},
	{"{\"rules\":[{\"kind\":\"in_set\",\"column\":\"a\",\"values\":[{}]}]}",
	 "ADE_CONFIG /rules/0/values: values must hold"},
	{"{\"rules\":[{\"kind\":\"length\",\"column\":\"a\",\"min\":-1}]}",
	 "ADE_CONFIG /rules/0/min: min must be an integer >= 0"},
	{"{\"rules\":[{\"kind\":\"row_count\",\"max\":1.5}]}",
	 "ADE_CONFIG /rules/0/max: max must be an integer >= 0"},
	{"{\"rules\":[{\"kind\":\"row_count\",\"min\":1,\"column\":\"a\"}]}",
	 "ADE_CONFIG /rules/0/column: unknown key 'column' in a row_count rule (keys: name, severity, "
	 "description, min, max)"},
	{"{\"rules\":[{\"kind\":\"freshness\",\"column\":\"a\",\"max_age\":1,\"samples\":3}]}",
	 "ADE_CONFIG /rules/0/samples: unknown key 'samples' in a freshness rule"},
	{"{\"rules\":[{\"kind\":\"unique\"}]}", "ADE_CONFIG /rules/0: unique needs column"},
	{"{\"rules\":[{\"kind\":\"unique\",\"column\":\"\"}]}",
	 "ADE_CONFIG /rules/0/column: column must be a non-empty string"},
	{"{\"rules\":[{\"kind\":\"unique\",\"column\":\"a\",\"min\":1}]}",
	 "ADE_CONFIG /rules/0/min: unknown key 'min' in a unique rule"},
	{"{\"rules\":[{\"kind\":\"column_exists\",\"column\":\"a\",\"type\":\"int\"}]}",
	 "ADE_CONFIG /rules/0/type: type must be int64"},
	{"{\"rules\":[{\"kind\":\"compare\",\"column\":\"a\",\"op\":\"=<\",\"value\":1}]}",
	 "ADE_CONFIG /rules/0/op: op must be <, <=, >, >=, == or !="},
	{"{\"rules\":[{\"kind\":\"compare\",\"column\":\"a\",\"op\":\"<\"}]}",
	 "ADE_CONFIG /rules/0: compare needs exactly one of other (a column) and value"},
	{"{\"rules\":[{\"kind\":\"compare\",\"expr\":\"a < \"}]}",
	 "ADE_CONFIG /rules/0/expr: expr 'a < ' needs a value or column after the operator"},
	{"{\"rules\":[{\"kind\":\"compare\",\"expr\":\"a < b c\"}]}",
	 "ADE_CONFIG /rules/0/expr: expr 'a < b c' has text after the comparison"},
	{"{\"rules\":[{\"kind\":\"compare\",\"expr\":\"a < 'x\"}]}",
	 "ADE_CONFIG /rules/0/expr: expr 'a < 'x' has an unterminated string"},
	{"{\"rules\":[{\"kind\":\"freshness\",\"column\":\"a\"}]}",
	 "ADE_CONFIG /rules/0: freshness needs max_age"},
	{"{\"rules\":[{\"kind\":\"freshness\",\"column\":\"a\",\"max_age\":\"soon\"}]}",
	 "ADE_CONFIG /rules/0/max_age: max_age must be a duration"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"samples\":-1}]}",
	 "ADE_CONFIG /rules/0/samples: samples must be an integer from 0 to 10000"},
	{"{\"rules\":[{\"kind\":\"not_null\",\"column\":\"a\",\"name\":\"n\"},"
	 "{\"kind\":\"unique\",\"column\":\"a\",\"name\":\"n\"}]}",
	 "ADE_CONFIG /rules/1/name: rule name 'n' is already used by rule 1"},
	{"{\"rules\":[],\"severity\":\"error\"}",
	 "ADE_CONFIG /severity: severity must be warn, fail or critical"},
};

static void test_bad_config(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
		char msg[ADE_ERROR_MSG_MAX];
		int rc;
		cJSON *res = run(bad_configs[i].config, &rc, msg);
		if (rc != ADE_EINVAL || strncmp(msg, bad_configs[i].msg, strlen(bad_configs[i].msg)))
			fail_msg("config %s: rc %d, message '%s', want '%s'", bad_configs[i].config, rc,
				 msg, bad_configs[i].msg);
		assert_int_equal(ade_validate_exit_code(rc), 2);
		/* refused before any output */
		assert_null(res);
	}
}

static void test_parse_time(void **state)
{
	(void)state;
	int64_t us;

	assert_int_equal(ade_validate_parse_time("1970-01-02", 10, &us), 0);
	assert_true(us == INT64_C(86400000000));
	assert_int_equal(ade_validate_parse_time("1970-01-01T00:00:01.5Z", 22, &us), 0);
	assert_true(us == 1500000);
	assert_int_equal(ade_validate_parse_time("1970-01-01 01:00+01:00", 22, &us), 0);
	assert_true(us == 0);
	assert_int_equal(ade_validate_parse_time("1970-01-01T00:00:00-00:30", 25, &us), 0);
	assert_true(us == INT64_C(1800000000));
	assert_int_equal(ade_validate_parse_time("2026-02-30", 10, &us), ADE_EINVAL);
	assert_int_equal(ade_validate_parse_time("2026-01-01T25:00", 16, &us), ADE_EINVAL);
	assert_int_equal(ade_validate_parse_time("2026-01-01T", 11, &us), ADE_EINVAL);
	assert_int_equal(ade_validate_parse_time("2026-01-01T10:00Zx", 18, &us), ADE_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_between),
		cmocka_unit_test(test_not_null),
		cmocka_unit_test(test_in_set),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_unique_large),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_table_rules),
		cmocka_unit_test(test_missing_column_and_types),
		cmocka_unit_test(test_severities),
		cmocka_unit_test(test_samples_and_violations),
		cmocka_unit_test(test_default_names),
		cmocka_unit_test(test_frame_passthrough),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_parse_time),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
