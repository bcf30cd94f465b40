/*
 * Unit tests of ade-analytics: every metric on a hand-checked frame with
 * nulls and NaN (values worked out in the comments), group keys that are
 * null, strings, bools and pairs of columns, the quantile definition
 * against sorting, empty input, refused configuration (messages without
 * positions here: tests/analytics/analytics_e2e.sh checks FILE:LINE:COL
 * through ade), and random frames recomputed by SQLite (sqlcheck.c), plus
 * a tampered result that the SQLite check must catch.
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
#include "sqlcheck.h"
#include "stages/analytics/analytics.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp;
static int nrun;

static void put_date(struct ade_frame_writer *w, int c, const char *s)
{
	int32_t d;

	if (!s) {
		ade_frame_put_null(w, c);
		return;
	}
	assert_int_equal(ade_date_parse(s, &d, NULL), 0);
	ade_frame_put_i64(w, c, d);
}

/*
 * The small fixture (N = null):
 * row dept city sal  age remote hired
 *  0  A    X    10   30  t      2020-01-01
 *  1  A    Y    20   N   f      2021-01-01
 *  2  A    X    N    40  t      N
 *  3  B    X    5.5  20  f      2019-06-01
 *  4  B    N    NaN  25  t      2022-02-02
 *  5  N    Y    7    50  f      2018-01-01
 *  6  B    Z    1.5  35  t      2023-03-03
 *  7  A    X    30   45  f      2020-05-05
 */
static char *make_small(int rows)
{
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	const char *dict[] = {"A", "B"};
	size_t lens[] = {1, 1};
	static const int32_t dept[] = {0, 0, 0, 1, 1, -1, 1, 0};
	static const char *const city[] = {"X", "Y", "X", "X", NULL, "Y", "Z", "X"};
	static const double sal[] = {10, 20, -1, 5.5, NAN, 7, 1.5, 30};
	static const int64_t age[] = {30, -1, 40, 20, 25, 50, 35, 45};
	static const int remote[] = {1, 0, 1, 0, 1, 0, 1, 0};
	static const char *const hired[] = {"2020-01-01", "2021-01-01", NULL, "2019-06-01",
					    "2022-02-02", "2018-01-01", "2023-03-03",
					    "2020-05-05"};
	char *dir = ade_xasprintf("%s/in%d", tmp, nrun++);
	char *fdir = ade_xasprintf("%s/frame", dir);

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(ade_frame_writer_open(fdir, &w, &err), 0);
	int cd = ade_frame_writer_add(w, "dept", ADE_TYPE_CATEGORICAL, &err);
	int cc = ade_frame_writer_add(w, "city", ADE_TYPE_STRING, &err);
	int cs = ade_frame_writer_add(w, "sal", ADE_TYPE_FLOAT64, &err);
	int ca = ade_frame_writer_add(w, "age", ADE_TYPE_INT64, &err);
	int cr = ade_frame_writer_add(w, "remote", ADE_TYPE_BOOL, &err);
	int ch = ade_frame_writer_add(w, "hired", ADE_TYPE_DATE, &err);
	ade_frame_writer_set_dict(w, cd, dict, lens, 2);
	for (int i = 0; i < rows; i++) {
		if (dept[i] < 0)
			ade_frame_put_null(w, cd);
		else
			ade_frame_put_code(w, cd, dept[i]);
		if (city[i])
			ade_frame_put_str(w, cc, city[i], strlen(city[i]));
		else
			ade_frame_put_null(w, cc);
		if (i == 2)
			ade_frame_put_null(w, cs);
		else
			ade_frame_put_f64(w, cs, sal[i]);
		if (age[i] < 0)
			ade_frame_put_null(w, ca);
		else
			ade_frame_put_i64(w, ca, age[i]);
		ade_frame_put_bool(w, cr, remote[i]);
		put_date(w, ch, hired[i]);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	free(fdir);
	return dir;
}

/*
 * Runs the library with config (JSON text) over in_dir/frame; returns its
 * code, the result in *res (NULL when none was written) and the out dir.
 */
static int run(const char *config, const char *in_dir, cJSON **res, char **out_dir,
	       struct ade_error *err)
{
	struct ade_stage_ctx ctx = {0};
	char *out = ade_xasprintf("%s/out%d", tmp, nrun++);
	char *rp = ade_xasprintf("%s/result.json", out);
	int rc;

	assert_int_equal(mkdir(out, 0755), 0);
	assert_int_equal(setenv("ADE_IN_SRC", in_dir, 1), 0);
	ctx.pipeline = "p";
	ctx.stage = "analytics";
	ctx.ds = "2026-01-01";
	ctx.run_id = "r";
	ctx.out = out;
	assert_int_equal(ade_json_parse("config", config, strlen(config), &ctx.config, err), 0);
	rc = ade_analytics_run(&ctx, err);
	*res = NULL;
	if (ade_fs_exists(rp))
		assert_int_equal(ade_json_read_file(rp, res, NULL), 0);
	cJSON_Delete(ctx.config);
	free(rp);
	if (out_dir)
		*out_dir = out;
	else
		free(out);
	return rc;
}

static const cJSON *set_rows(const cJSON *res, const char *set)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(res, "sets"), set);
	assert_non_null(s);
	return cJSON_GetObjectItemCaseSensitive(s, "rows");
}

static const cJSON *cell(const cJSON *rows, int r, const char *name)
{
	const cJSON *row = cJSON_GetArrayItem(rows, r);
	assert_non_null(row);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);
	if (!v)
		fail_msg("row %d has no %s", r, name);
	return v;
}

static void expect_num(const cJSON *rows, int r, const char *name, double want)
{
	const cJSON *v = cell(rows, r, name);
	if (!cJSON_IsNumber(v) || v->valuedouble != want)
		fail_msg("row %d %s: want %.17g, got %s %.17g", r, name, want,
			 cJSON_IsNumber(v) ? "" : "non-number", v->valuedouble);
}

static void expect_near(const cJSON *rows, int r, const char *name, double want)
{
	const cJSON *v = cell(rows, r, name);
	assert_true(cJSON_IsNumber(v));
	if (fabs(v->valuedouble - want) > 1e-12 * fabs(want))
		fail_msg("row %d %s: want %.17g, got %.17g", r, name, want, v->valuedouble);
}

static void expect_str(const cJSON *rows, int r, const char *name, const char *want)
{
	const cJSON *v = cell(rows, r, name);
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, want);
}

static void expect_null(const cJSON *rows, int r, const char *name)
{
	if (!cJSON_IsNull(cell(rows, r, name)))
		fail_msg("row %d %s: want null", r, name);
}

static const char all_metrics[] =
	"\"n\": \"count\", \"n_sal\": \"count(sal)\", \"sum_sal\": \"sum(sal)\","
	"\"avg_sal\": \"avg(sal)\", \"min_sal\": \"min(sal)\", \"max_sal\": \"max(sal)\","
	"\"med_sal\": \"median(sal)\", \"p90_sal\": \"quantile(sal, 0.9)\","
	"\"q25_sal\": {\"fn\": \"quantile\", \"column\": \"sal\", \"p\": 0.25},"
	"\"sd_sal\": \"stddev(sal)\", \"sdp_sal\": \"stddev_pop(sal)\","
	"\"cities\": \"count_distinct(city)\", \"min_city\": \"min(city)\","
	"\"max_city\": \"max( city )\", \"sum_age\": \"sum(age)\", \"avg_age\": \"avg(age)\","
	"\"med_age\": \"median(age)\", \"remote_n\": \"sum(remote)\","
	"\"remote_share\": \"avg(remote)\", \"first\": \"min(hired)\", \"last\": \"max(hired)\"";

static void test_every_metric(void **state)
{
	(void)state;
	char *in = make_small(8), *out;
	char *cfg = ade_xasprintf("{\"sets\": {\"by_dept\": {\"group_by\": [\"dept\"], "
				  "\"metrics\": {%s}}, \"overall\": {\"group_by\": [], "
				  "\"metrics\": {%s}}}}",
				  all_metrics, all_metrics);
	struct ade_error err = {0};
	cJSON *res;

	int rc = run(cfg, in, &res, &out, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_non_null(res);
	const cJSON *rows = set_rows(res, "by_dept");
	assert_int_equal(cJSON_GetArraySize(rows), 3);
	/* null group first (row 5 only) */
	expect_null(rows, 0, "dept");
	expect_num(rows, 0, "n", 1);
	expect_num(rows, 0, "n_sal", 1);
	expect_num(rows, 0, "sum_sal", 7);
	expect_num(rows, 0, "med_sal", 7);
	expect_num(rows, 0, "p90_sal", 7);
	expect_null(rows, 0, "sd_sal"); /* sample stddev of one value */
	expect_num(rows, 0, "sdp_sal", 0);
	expect_num(rows, 0, "cities", 1);
	/* A: rows 0 1 2 7; sal 10 20 (null) 30; age 30 (null) 40 45 */
	expect_str(rows, 1, "dept", "A");
	expect_num(rows, 1, "n", 4);
	expect_num(rows, 1, "n_sal", 3);
	expect_num(rows, 1, "sum_sal", 60);
	expect_num(rows, 1, "avg_sal", 20);
	expect_num(rows, 1, "min_sal", 10);
	expect_num(rows, 1, "max_sal", 30);
	expect_num(rows, 1, "med_sal", 20);
	expect_num(rows, 1, "p90_sal", 28);  /* h = 1.8: 20 + 0.8 * 10 */
	expect_num(rows, 1, "q25_sal", 15);  /* h = 0.5 */
	expect_num(rows, 1, "sd_sal", 10);
	expect_near(rows, 1, "sdp_sal", 8.16496580927726);
	expect_num(rows, 1, "cities", 2);
	expect_str(rows, 1, "min_city", "X");
	expect_str(rows, 1, "max_city", "Y");
	expect_num(rows, 1, "sum_age", 115);
	expect_num(rows, 1, "avg_age", 115.0 / 3);
	expect_num(rows, 1, "med_age", 40);
	expect_num(rows, 1, "remote_n", 2);
	expect_num(rows, 1, "remote_share", 0.5);
	expect_str(rows, 1, "first", "2020-01-01");
	expect_str(rows, 1, "last", "2021-01-01");
	/* B: rows 3 4 6; sal 5.5 NaN 1.5 (NaN is missing); city X null Z */
	expect_str(rows, 2, "dept", "B");
	expect_num(rows, 2, "n", 3);
	expect_num(rows, 2, "n_sal", 2);
	expect_num(rows, 2, "sum_sal", 7);
	expect_num(rows, 2, "avg_sal", 3.5);
	expect_num(rows, 2, "med_sal", 3.5); /* even count: the mean of the middle two */
	expect_near(rows, 2, "sd_sal", 2.8284271247461903);
	expect_num(rows, 2, "cities", 2);
	expect_str(rows, 2, "max_city", "Z");
	expect_num(rows, 2, "med_age", 25);
	/* overall: sal 10 20 5.5 7 1.5 30 */
	rows = set_rows(res, "overall");
	assert_int_equal(cJSON_GetArraySize(rows), 1);
	expect_num(rows, 0, "n", 8);
	expect_num(rows, 0, "n_sal", 6);
	expect_num(rows, 0, "sum_sal", 74);
	expect_num(rows, 0, "med_sal", 8.5);
	expect_num(rows, 0, "q25_sal", 5.875);
	expect_num(rows, 0, "cities", 3);
	expect_str(rows, 0, "first", "2018-01-01");
	/* KPIs: numeric metrics of the ungrouped set, plus run KPIs */
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(res, "kpis");
	assert_int_equal(ade_json_num(k, "rows_in", -1), 8);
	assert_int_equal(ade_json_num(k, "overall.n", -1), 8);
	assert_true(ade_json_num(k, "overall.med_sal", -1) == 8.5);
	assert_int_equal(ade_json_num(k, "by_dept.groups", -1), 3);
	assert_null(cJSON_GetObjectItemCaseSensitive(k, "overall.min_city"));
	assert_null(cJSON_GetObjectItemCaseSensitive(k, "overall.first"));
	assert_null(cJSON_GetObjectItemCaseSensitive(k, "by_dept.n"));
	assert_int_equal(ade_json_num(res, "rows_in", -1), 8);
	assert_int_equal(ade_json_num(res, "rows_out", -1), 4);
	assert_string_equal(ade_json_str(res, "status", ""), "ok");

	/* The set's frame holds the same rows. */
	struct ade_frame *f;
	char *fd = ade_xasprintf("%s/sets/by_dept", out);
	assert_int_equal(ade_frame_open(fd, &f, &err), 0);
	assert_int_equal(f->rows, 3);
	int c = ade_frame_find(f, "dept");
	assert_int_equal(f->cols[c].type, ADE_TYPE_CATEGORICAL);
	assert_true(ade_frame_is_null(&f->cols[c], 0) ||
		    ((const int32_t *)f->cols[c].data)[0] < 0);
	size_t len;
	assert_memory_equal(ade_frame_str(&f->cols[c], 2, &len), "B", 1);
	c = ade_frame_find(f, "p90_sal");
	assert_true(((const double *)f->cols[c].data)[1] == 28);
	c = ade_frame_find(f, "sd_sal");
	assert_true(ade_frame_is_null(&f->cols[c], 0));
	c = ade_frame_find(f, "max_city");
	assert_int_equal(f->cols[c].type, ADE_TYPE_STRING);
	c = ade_frame_find(f, "n");
	assert_int_equal(((const int64_t *)f->cols[c].data)[1], 4);
	ade_frame_close(f);
	free(fd);

	/* And SQLite agrees with all of it. */
	int checked;
	char *frame = ade_xasprintf("%s/frame", in), *rp = ade_xasprintf("%s/result.json", out);
	assert_int_equal(analytics_sqlcheck(frame, rp, stderr, &checked), 0);
	assert_int_equal(checked, 2);
	free(frame);
	free(rp);
	cJSON_Delete(res);
	free(cfg);
	free(in);
	free(out);
}

static void test_group_keys(void **state)
{
	(void)state;
	char *in = make_small(8);
	struct ade_error err = {0};
	cJSON *res;
	const char *cfg =
		"{\"sets\": {\"by_city\": {\"group_by\": \"city\", \"metrics\": {\"n\": \"count\"}},"
		"\"pair\": {\"group_by\": [\"dept\", \"remote\"], \"metrics\": {\"n\": \"count()\","
		" \"ages\": \"count(*)\"}}}}";

	assert_int_equal(run(cfg, in, &res, NULL, &err), 0);
	const cJSON *rows = set_rows(res, "by_city");
	/* null (row 4), X (0 2 3 7), Y (1 5), Z (6) */
	assert_int_equal(cJSON_GetArraySize(rows), 4);
	expect_null(rows, 0, "city");
	expect_num(rows, 0, "n", 1);
	expect_str(rows, 1, "city", "X");
	expect_num(rows, 1, "n", 4);
	expect_str(rows, 3, "city", "Z");
	rows = set_rows(res, "pair");
	/* (null,f) (A,f) (A,t) (B,f) (B,t) */
	assert_int_equal(cJSON_GetArraySize(rows), 5);
	expect_null(rows, 0, "dept");
	assert_true(cJSON_IsFalse(cell(rows, 0, "remote")));
	expect_str(rows, 2, "dept", "A");
	assert_true(cJSON_IsTrue(cell(rows, 2, "remote")));
	expect_num(rows, 2, "n", 2);
	expect_num(rows, 4, "n", 2);
	expect_num(rows, 4, "ages", 2);
	cJSON_Delete(res);
	free(in);
}

static void test_empty_input(void **state)
{
	(void)state;
	char *in = make_small(0);
	char *cfg = ade_xasprintf("{\"sets\": {\"by_dept\": {\"group_by\": [\"dept\"], "
				  "\"metrics\": {%s}}, \"overall\": {\"metrics\": {%s}}}}",
				  all_metrics, all_metrics);
	struct ade_error err = {0};
	cJSON *res;

	assert_int_equal(run(cfg, in, &res, NULL, &err), 0);
	assert_int_equal(cJSON_GetArraySize(set_rows(res, "by_dept")), 0);
	const cJSON *rows = set_rows(res, "overall");
	assert_int_equal(cJSON_GetArraySize(rows), 1);
	expect_num(rows, 0, "n", 0);
	expect_num(rows, 0, "n_sal", 0);
	expect_num(rows, 0, "cities", 0);
	const char *nulls[] = {"sum_sal", "avg_sal", "min_sal", "max_sal", "med_sal",
			       "p90_sal", "sd_sal", "sdp_sal", "min_city", "first", "sum_age"};
	for (size_t i = 0; i < sizeof(nulls) / sizeof(*nulls); i++)
		expect_null(rows, 0, nulls[i]);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(res, "kpis");
	assert_int_equal(ade_json_num(k, "rows_in", -1), 0);
	assert_int_equal(ade_json_num(k, "overall.n", -1), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(k, "overall.avg_sal")));
	assert_int_equal(ade_json_num(k, "by_dept.groups", -1), 0);
	cJSON_Delete(res);
	free(cfg);
	free(in);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_quantile_definition(void **state)
{
	(void)state;
	static const double ps[] = {0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1};
	uint64_t seed = 42;

	for (int trial = 0; trial < 300; trial++) {
		size_t n = 1 + (size_t)(trial * 7 % 400);
		double *v = ade_xmalloc(n * sizeof(*v)), *s = ade_xmalloc(n * sizeof(*v));
		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			/* few distinct values on odd trials: the quadratic case of Lomuto */
			v[i] = trial % 2 ? (double)((seed >> 33) % 5)
					 : (double)(int64_t)(seed >> 20) / 1e3 - 4e9;
			if (trial % 7 == 0)
				v[i] = (double)i; /* already sorted */
		}
		memcpy(s, v, n * sizeof(*v));
		qsort(s, n, sizeof(*s), dcmp);
		for (size_t k = 0; k < sizeof(ps) / sizeof(*ps); k++) {
			double p = ps[k], h = (double)(n - 1) * p;
			size_t lo = (size_t)floor(h);
			double t = h - (double)lo, want = s[lo];
			if (t > 0) {
				double d = s[lo + 1] - s[lo];
				want = t < 0.5 ? s[lo] + d * t : s[lo + 1] - d * (1 - t);
			}
			double got = ade_analytics_quantile(v, n, p);
			if (got != want)
				fail_msg("n=%zu p=%g: want %.17g got %.17g", n, p, want, got);
		}
		free(v);
		free(s);
	}
	double two[] = {1, 2};
	assert_true(ade_analytics_quantile(two, 2, 0.5) == 1.5);
	double one[] = {3};
	assert_true(ade_analytics_quantile(one, 1, 0.9) == 3);
}

/* Refused with the pointer of the value and the reason; nothing written. */
static void expect_refused(const char *cfg, const char *want)
{
	char *in = make_small(8), *out;
	struct ade_error err = {0};
	cJSON *res;

	int rc = run(cfg, in, &res, &out, &err);
	if (rc != ADE_EINVAL || !strstr(err.msg, want))
		fail_msg("config %s: want EINVAL with '%s', got %d '%s'", cfg, want, rc, err.msg);
	assert_int_equal(ade_analytics_exit_code(rc), 2);
	assert_null(res);
	char *sets = ade_xasprintf("%s/sets", out);
	assert_false(ade_fs_exists(sets));
	free(sets);
	free(in);
	free(out);
}

static void test_bad_config(void **state)
{
	(void)state;
	expect_refused("{}", "ADE_CONFIG /: sets must name at least one set");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"avgg(sal)\"}}}}",
		       "ADE_CONFIG /sets/a/metrics/x: unknown metric 'avgg' in 'avgg(sal)' "
		       "(metrics: count, count_distinct,");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"quantile(sal, 1.5)\"}}}}",
		       "ADE_CONFIG /sets/a/metrics/x: quantile's p must be a number from 0 to 1, "
		       "not '1.5'");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"quantile(sal)\"}}}}",
		       "quantile takes a column and p");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": {\"fn\": \"quantile\", "
		       "\"column\": \"sal\", \"p\": -0.1}}}}}",
		       "quantile's p must be a number from 0 to 1");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"avg(salary)\"}}}}",
		       "ADE_CONFIG /sets/a/metrics/x: unknown column 'salary' in metric 'x' of "
		       "set 'a' (the input has: dept, city, sal, age, remote, hired)");
	expect_refused("{\"sets\": {\"a\": {\"group_by\": [\"dept\", \"town\"], \"metrics\": "
		       "{\"x\": \"count\"}}}}",
		       "ADE_CONFIG /sets/a/group_by/1: unknown column 'town' in group_by");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"avg(city)\"}}}}",
		       "avg needs a number or bool column; 'city' is string");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"sum\"}}}}",
		       "sum takes one column, as in sum(salary), not 'sum'");
	expect_refused("{\"sets\": {\"a b\": {\"metrics\": {\"x\": \"count\"}}}}",
		       "ADE_CONFIG /sets/a b: set name 'a b' must be");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x;y\": \"count\"}}}}",
		       "metric name 'x;y' must be");
	expect_refused("{\"sets\": {\"a\": {\"group_by\": [\"dept\"], \"metrics\": "
		       "{\"dept\": \"count\"}}}}",
		       "metric 'dept' has the name of a group_by column");
	expect_refused("{\"sets\": {\"a\": {\"metric\": {\"x\": \"count\"}}}}",
		       "ADE_CONFIG /sets/a/metric: unknown key 'metric' in set 'a'");
	expect_refused("{\"sets\": {\"a\": {\"group_by\": []}}}", "set 'a' needs metrics");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"count(sal) x\"}}}}",
		       "unexpected text after ')'");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": 3}}}}",
		       "a metric is a string such as avg(salary)");
	expect_refused("{\"sets\": {\"a\": {\"metrics\": {\"x\": \"count\"}}}, \"set\": 1}",
		       "ADE_CONFIG /set: unknown key 'set' (keys: sets, input)");
	expect_refused("{\"sets\": {\"a/b\": {\"metrics\": {\"x\": \"count\"}}}}",
		       "ADE_CONFIG /sets/a~1b: set name");
}

/* Quoted column names: commas and parentheses in a name. */
static void test_quoted_column(void **state)
{
	(void)state;
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	char *dir = ade_xasprintf("%s/in%d", tmp, nrun++), *fd = ade_xasprintf("%s/frame", dir);
	cJSON *res;

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(ade_frame_writer_open(fd, &w, &err), 0);
	int c = ade_frame_writer_add(w, "pay (\"eur\"), gross", ADE_TYPE_INT64, &err);
	ade_frame_put_i64(w, c, 5);
	ade_frame_put_i64(w, c, 7);
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	assert_int_equal(run("{\"sets\": {\"o\": {\"metrics\": {\"s\": "
			     "\"sum(\\\"pay (\\\"\\\"eur\\\"\\\"), gross\\\")\"}}}}",
			     dir, &res, NULL, &err),
			 0);
	expect_num(set_rows(res, "o"), 0, "s", 12);
	cJSON_Delete(res);
	free(dir);
	free(fd);
}

/*
 * A random frame of n rows: keys with nulls (categorical, string with an
 * empty value, bool, date, int), values with nulls, NaN, negatives and
 * magnitudes far apart, so naive and compensated sums differ in the last
 * bits and every code path of grouping is crossed.
 */
static char *make_random(int n, uint64_t seed)
{
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	const char *dict[] = {"north", "south", "east", "west", "Zentral"};
	size_t lens[] = {5, 5, 4, 4, 7};
	char *dir = ade_xasprintf("%s/in%d", tmp, nrun++), *fd = ade_xasprintf("%s/frame", dir);

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(ade_frame_writer_open(fd, &w, &err), 0);
	int cr = ade_frame_writer_add(w, "region", ADE_TYPE_CATEGORICAL, &err);
	int ct = ade_frame_writer_add(w, "team name", ADE_TYPE_STRING, &err);
	int cb = ade_frame_writer_add(w, "flag", ADE_TYPE_BOOL, &err);
	int cd = ade_frame_writer_add(w, "day", ADE_TYPE_DATE, &err);
	int cl = ade_frame_writer_add(w, "level", ADE_TYPE_INT64, &err);
	int cx = ade_frame_writer_add(w, "x", ADE_TYPE_FLOAT64, &err);
	int cn = ade_frame_writer_add(w, "n", ADE_TYPE_INT64, &err);
	ade_frame_writer_set_dict(w, cr, dict, lens, 5);
	for (int i = 0; i < n; i++) {
		uint64_t r[8];
		for (int k = 0; k < 8; k++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			r[k] = seed >> 17;
		}
		if (r[0] % 13 == 0)
			ade_frame_put_null(w, cr);
		else
			ade_frame_put_code(w, cr, (int32_t)(r[0] % 5));
		if (r[1] % 11 == 0) {
			ade_frame_put_null(w, ct);
		} else {
			char b[32];
			int len = r[1] % 17 == 0 ? 0 : snprintf(b, sizeof(b), "team-%d", (int)(r[1] % 23));
			ade_frame_put_str(w, ct, b, (size_t)len);
		}
		ade_frame_put_bool(w, cb, (int)(r[2] & 1));
		if (r[3] % 9 == 0)
			ade_frame_put_null(w, cd);
		else
			ade_frame_put_i64(w, cd, 20000 + (int64_t)(r[3] % 6));
		ade_frame_put_i64(w, cl, (int64_t)(r[4] % 4) - 1);
		if (r[5] % 10 == 0)
			ade_frame_put_null(w, cx);
		else if (r[5] % 10 == 1)
			ade_frame_put_f64(w, cx, NAN);
		else
			ade_frame_put_f64(w, cx, ((double)(r[6] % 2000001) - 1e6) / 7.0 *
						 (r[5] % 10 == 2 ? 1e3 : 1.0));
		if (r[7] % 8 == 0)
			ade_frame_put_null(w, cn);
		else
			ade_frame_put_i64(w, cn, (int64_t)(r[7] % 200000) - 50000);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	free(fd);
	return dir;
}

static const char random_metrics[] =
	"\"rows\": \"count\", \"nx\": \"count(x)\", \"dx\": \"count_distinct(x)\","
	"\"dteam\": \"count_distinct(\\\"team name\\\")\", \"dday\": \"count_distinct(day)\","
	"\"sx\": \"sum(x)\", \"ax\": \"avg(x)\", \"mnx\": \"min(x)\", \"mxx\": \"max(x)\","
	"\"medx\": \"median(x)\", \"q1x\": \"quantile(x, 0.25)\", \"q9x\": \"quantile(x, 0.9)\","
	"\"q0x\": \"quantile(x, 0)\", \"q1\": \"quantile(x, 1)\","
	"\"sdx\": \"stddev(x)\", \"sdpx\": \"stddev_pop(x)\","
	"\"sn\": \"sum(n)\", \"an\": \"avg(n)\", \"mnn\": \"min(n)\", \"mxn\": \"max(n)\","
	"\"medn\": \"median(n)\", \"q3n\": \"quantile(n, 0.75)\", \"sdn\": \"stddev(n)\","
	"\"sflag\": \"sum(flag)\", \"aflag\": \"avg(flag)\", \"mnteam\": \"min(\\\"team name\\\")\","
	"\"mxteam\": \"max(\\\"team name\\\")\", \"mnday\": \"min(day)\", \"mxday\": \"max(day)\","
	"\"mnr\": \"min(region)\", \"mxr\": \"max(region)\"";

/* cJSON prints doubles lossily (see num_json in analytics.c): make every
 * number raw %.17g so a rewritten result differs only where tampered. */
static void exact_numbers(cJSON *j)
{
	for (cJSON *c = j->child; c; c = c->next) {
		if (cJSON_IsNumber(c)) {
			char buf[40];
			snprintf(buf, sizeof(buf), "%.17g", c->valuedouble);
			c->type = cJSON_Raw;
			c->valuestring = ade_xstrdup(buf);
		} else {
			exact_numbers(c);
		}
	}
}

static void test_sqlite_agrees(void **state)
{
	(void)state;
	static const char *const groupings[] = {
		"[]", "[\"region\"]", "[\"team name\"]", "[\"flag\"]", "[\"day\"]",
		"[\"region\", \"flag\", \"level\"]", "[\"day\", \"team name\"]",
	};
	static const int sizes[] = {1, 2, 3, 257, 6000};
	struct ade_strbuf cfg = ADE_STRBUF_INIT;

	ade_strbuf_adds(&cfg, "{\"sets\": {");
	for (size_t g = 0; g < sizeof(groupings) / sizeof(*groupings); g++)
		ade_strbuf_addf(&cfg, "%s\"s%zu\": {\"group_by\": %s, \"metrics\": {%s}}",
				g ? ", " : "", g, groupings[g], random_metrics);
	ade_strbuf_adds(&cfg, "}}");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		char *in = make_random(sizes[s], 1000 + s), *out;
		struct ade_error err = {0};
		cJSON *res;
		int checked;
		int rc = run(cfg.buf, in, &res, &out, &err);
		if (rc)
			fail_msg("%s", err.msg);
		char *frame = ade_xasprintf("%s/frame", in);
		char *rp = ade_xasprintf("%s/result.json", out);
		int bad = analytics_sqlcheck(frame, rp, stderr, &checked);
		if (bad)
			fail_msg("%d rows: %d differences from SQLite", sizes[s], bad);
		assert_int_equal(checked, (int)(sizeof(groupings) / sizeof(*groupings)));

		if (sizes[s] == 6000) {
			/* The check is not vacuous: a median one ulp off, a distinct
			 * count one off and an avg 1e-9 off are all caught. */
			cJSON *rows = (cJSON *)set_rows(res, "s1");
			cJSON *row = cJSON_GetArrayItem(rows, 2);
			cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "medx"),
					     nextafter(cJSON_GetObjectItemCaseSensitive(row, "medx")
							       ->valuedouble, INFINITY));
			cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "dteam"),
					     cJSON_GetObjectItemCaseSensitive(row, "dteam")
						     ->valuedouble + 1);
			cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "ax"),
					     cJSON_GetObjectItemCaseSensitive(row, "ax")
							     ->valuedouble * (1 + 1e-9));
			exact_numbers(res);
			assert_int_equal(ade_json_write_file(rp, res, 1, NULL), 0);
			FILE *devnull = fopen("/dev/null", "w");
			assert_int_equal(analytics_sqlcheck(frame, rp, devnull, &checked), 3);
			fclose(devnull);
		}
		cJSON_Delete(res);
		free(frame);
		free(rp);
		free(in);
		free(out);
	}
	ade_strbuf_release(&cfg);
}

static int setup(void **state)
{
	(void)state;
	tmp = tu_mkdtemp();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmdir(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_metric),
		cmocka_unit_test(test_group_keys),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_quantile_definition),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_quoted_column),
		cmocka_unit_test(test_sqlite_agrees),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
