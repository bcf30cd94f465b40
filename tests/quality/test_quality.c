/*
 * Unit tests of ade-quality: exact quantiles against hand-computed and
 * sorted values, the row-hash set, float printing, and ade_quality_run on
 * small frames made by ade-ingest: the missing-policy bands at their exact
 * boundaries, median and mode with nulls and even counts, IQR fences,
 * duplicate counts, protected and key columns, hard links, bad config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "stages/ingest/ingest.h"
#include "stages/quality/quality.h"

#include <math.h>
#include <sys/stat.h>

/* ---------- quantiles ---------- */

static void quartiles(const double *v, size_t n, double out[3])
{
	static const double ps[3] = {0.25, 0.5, 0.75};
	double *a = ade_xmalloc(n * sizeof(double));

	memcpy(a, v, n * sizeof(double));
	ade_quality_quantiles(a, n, ps, 3, out);
	free(a);
}

static void test_quantiles_hand(void **state)
{
	double o[3];
	/* numpy.percentile([1,2,3,4], [25,50,75]) = 1.75, 2.5, 3.25 */
	double a[] = {4, 1, 3, 2};
	quartiles(a, 4, o);
	assert_true(o[0] == 1.75 && o[1] == 2.5 && o[2] == 3.25);
	/* [7,15,36,39,40,41]: h = 1.25, 2.5, 3.75 -> 20.25, 37.5, 39.75 */
	double b[] = {41, 39, 7, 36, 40, 15};
	quartiles(b, 6, o);
	assert_true(o[0] == 20.25 && o[1] == 37.5 && o[2] == 39.75);
	double c[] = {5};
	quartiles(c, 1, o);
	assert_true(o[0] == 5 && o[1] == 5 && o[2] == 5);
	double d[] = {3, 1};
	quartiles(d, 2, o);
	assert_true(o[0] == 1.5 && o[1] == 2 && o[2] == 2.5);
	(void)state;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Against a sort, on shapes that break naive quickselects. */
static void test_select_vs_sort(void **state)
{
	size_t sizes[] = {2, 3, 17, 100, 1001, 20000};
	uint64_t x = 88172645463325252ULL;

	for (int shape = 0; shape < 5; shape++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];
			double *a = ade_xmalloc(n * sizeof(double)), *s = ade_xmalloc(n * sizeof(double));
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				switch (shape) {
				case 0: a[i] = (double)(x % 1000000) / 100; break;   /* random */
				case 1: a[i] = (double)(x % 3); break;                /* 3 distinct */
				case 2: a[i] = (double)i; break;                      /* sorted */
				case 3: a[i] = (double)(n - i); break;                /* reversed */
				default: a[i] = 7; break;                             /* all equal */
				}
			}
			memcpy(s, a, n * sizeof(double));
			qsort(s, n, sizeof(double), cmpd);
			size_t ks[] = {0, n / 4, n / 2, n - 1};
			for (int k = 0; k < 4; k++) {
				double *b = ade_xmalloc(n * sizeof(double));
				memcpy(b, a, n * sizeof(double));
				ade_quality_select(b, n, ks[k]);
				assert_true(b[ks[k]] == s[ks[k]]);
				for (size_t i = 0; i < ks[k]; i++)
					assert_true(b[i] <= b[ks[k]]);
				for (size_t i = ks[k] + 1; i < n; i++)
					assert_true(b[i] >= b[ks[k]]);
				free(b);
			}
			double o[3], ps[3] = {0.25, 0.5, 0.75};
			quartiles(a, n, o);
			for (int k = 0; k < 3; k++) {
				double h = (double)(n - 1) * ps[k];
				size_t lo = (size_t)floor(h);
				double want = s[lo] + (lo + 1 < n ? (h - (double)lo) * (s[lo + 1] - s[lo]) : 0);
				assert_true(o[k] == want);
			}
			free(a);
			free(s);
		}
	(void)state;
}

/* ---------- hash set ---------- */

static void test_dedup_set(void **state)
{
	struct ade_dedup d;

	ade_dedup_init(&d, 1000);
	assert_true((d.mask + 1) * 3 >= 1000 * 5); /* load <= 0.6 */
	assert_int_equal(ade_dedup_insert(&d, 0, 0), 1);
	assert_int_equal(ade_dedup_insert(&d, 0, 0), 0);
	assert_int_equal(ade_dedup_insert(&d, 1, 0), 0); /* zero is stored as 1 */
	for (uint64_t i = 2; i < 1000; i++)
		assert_int_equal(ade_dedup_insert(&d, i * 0x9E3779B97F4A7C15ULL, i), 1);
	for (uint64_t i = 2; i < 1000; i++)
		assert_int_equal(ade_dedup_insert(&d, i * 0x9E3779B97F4A7C15ULL, i), 0);
	/* Same low word, other high word: a different hash. */
	assert_int_equal(ade_dedup_insert(&d, 2 * 0x9E3779B97F4A7C15ULL, 3), 1);
	assert_int_equal(d.count, 1000);
	ade_dedup_release(&d);
	(void)state;
}

/*
 * The stream's day set: a zeroed struct, grown past any estimate, every
 * entry still found and the load still <= 0.6.
 */
static void test_dedup_grow(void **state)
{
	struct ade_dedup d = {0};

	assert_int_equal(ade_dedup_contains(NULL, 1, 2), 0);
	assert_int_equal(ade_dedup_contains(&d, 1, 2), 0);
	for (uint64_t i = 0; i < 100000; i++)
		assert_int_equal(ade_dedup_insert(&d, i * 0x9E3779B97F4A7C15ULL, ~i), 1);
	assert_int_equal(d.count, 100000);
	assert_true((d.mask + 1) * 3 >= d.count * 5);
	for (uint64_t i = 0; i < 100000; i++) {
		assert_int_equal(ade_dedup_contains(&d, i * 0x9E3779B97F4A7C15ULL, ~i), 1);
		assert_int_equal(ade_dedup_contains(&d, i * 0x9E3779B97F4A7C15ULL, i), 0);
	}
	assert_int_equal(ade_dedup_insert(&d, 0, ~(uint64_t)0), 0);
	ade_dedup_release(&d);
	(void)state;
}

/* ---------- float printing ---------- */

static void test_format_double(void **state)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{0.1, "0.1"}, {5, "5.0"}, {55531.64, "55531.64"}, {-0.5, "-0.5"},
		{1.5, "1.5"}, {1e20, "1e+20"}, {-0.0, "-0.0"}, {0, "0.0"},
		{1.0 / 3, "0.3333333333333333"}, {123456789012.25, "123456789012.25"},
		{0.30000000000000004, "0.30000000000000004"}, {1e-7, "1e-07"},
	};
	char buf[40];
	uint64_t x = 1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = ade_quality_format_double(cases[i].v, buf);
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(n, strlen(cases[i].s));
	}
	ade_quality_format_double(NAN, buf);
	assert_string_equal(buf, "nan");
	ade_quality_format_double(-INFINITY, buf);
	assert_string_equal(buf, "-inf");
	for (int i = 0; i < 200000; i++) {
		double v;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&v, &x, 8);
		if (!isfinite(v))
			continue;
		if (i & 1)
			v = (double)(x % 100000000) / 100; /* cents */
		ade_quality_format_double(v, buf);
		assert_true(strtod(buf, NULL) == v);
	}
	(void)state;
}

/* ---------- the stage on small frames ---------- */

struct fx {
	char *dir;
	char *in; /* the upstream output directory (holds frame/) */
	int runs;
};

static int fx_setup(void **state)
{
	struct fx *f = ade_xcalloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	tu_rmdir(f->dir);
	free(f->in);
	free(f);
	return 0;
}

/* Ingests csv (with `with:` block ingest_cfg) into a new upstream dir. */
static void make_input(struct fx *f, const char *csv, const char *ingest_cfg)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	char *src = tu_write(f->dir, "in.csv", csv);

	free(f->in);
	f->in = ade_xasprintf("%s/in%d", f->dir, f->runs++);
	assert_int_equal(mkdir(f->in, 0755), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.pipeline = "p";
	ctx.stage = "ingest";
	ctx.ds = "2026-01-01";
	ctx.out = f->in;
	ctx.source = src;
	assert_int_equal(ade_json_parse("cfg", ingest_cfg, strlen(ingest_cfg), &ctx.config, &err),
			 0);
	int rc = ade_ingest_run(&ctx, &err);
	if (rc)
		fail_msg("ingest: %s", err.msg);
	cJSON_Delete(ctx.config);
	free(src);
}

/* Runs ade-quality on f->in with config; returns result.json (or NULL) and rc. */
static cJSON *run_q(struct fx *f, const char *config, int *rc, struct ade_error *err,
		    char **outdir)
{
	struct ade_stage_ctx ctx;
	cJSON *res = NULL;
	char *out = ade_xasprintf("%s/out%d", f->dir, f->runs++);
	char *text = ade_xasprintf("{\"input\": \"up\"%s%s}", *config ? ", " : "", config);

	assert_int_equal(mkdir(out, 0755), 0);
	setenv("ADE_IN_UP", f->in, 1);
	memset(&ctx, 0, sizeof(ctx));
	ctx.pipeline = "p";
	ctx.stage = "quality";
	ctx.ds = "2026-01-01";
	ctx.out = out;
	assert_int_equal(ade_json_parse("cfg", text, strlen(text), &ctx.config, err), 0);
	*rc = ade_quality_run(&ctx, err);
	char *p = ade_xasprintf("%s/result.json", out);
	if (ade_fs_exists(p))
		assert_int_equal(ade_json_read_file(p, &res, NULL), 0);
	free(p);
	cJSON_Delete(ctx.config);
	free(text);
	if (outdir)
		*outdir = out;
	else
		free(out);
	return res;
}

static cJSON *run_ok(struct fx *f, const char *config, char **outdir)
{
	struct ade_error err = {0};
	int rc;
	cJSON *r = run_q(f, config, &rc, &err, outdir);
	if (rc)
		fail_msg("quality: %s", err.msg);
	assert_non_null(r);
	return r;
}

static const cJSON *log_entry(const cJSON *res, const char *col)
{
	const cJSON *log = cJSON_GetObjectItem(res, "healing_log");
	for (const cJSON *e = log ? log->child : NULL; e; e = e->next)
		if (!strcmp(ade_json_str(e, "column", ""), col))
			return e;
	return NULL;
}

static const char *action_of(const cJSON *res, const char *col)
{
	const cJSON *e = log_entry(res, col);
	return e ? ade_json_str(e, "action", "?") : "none";
}

/* n rows with an id and columns whose first nulls[i] values are empty. */
static char *band_csv(int n, const int *nulls, int ncols)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_adds(&sb, "id");
	for (int c = 0; c < ncols; c++)
		ade_strbuf_addf(&sb, ",c%d", c);
	ade_strbuf_addc(&sb, '\n');
	for (int r = 0; r < n; r++) {
		ade_strbuf_addf(&sb, "%d", r);
		for (int c = 0; c < ncols; c++) {
			if (r < nulls[c])
				ade_strbuf_addc(&sb, ',');
			else
				ade_strbuf_addf(&sb, ",%d.5", r % 7);
		}
		ade_strbuf_addc(&sb, '\n');
	}
	return ade_strbuf_detach(&sb);
}

static void test_bands_exact(void **state)
{
	struct fx *f = *state;
	/* 100 rows: 4% 5% 6% 49% 50% 51% 0% */
	int nulls[] = {4, 5, 6, 49, 50, 51, 0};
	char *csv = band_csv(100, nulls, 7);
	make_input(f, csv, "{\"schema_hints\": {\"c0\": \"float64\", \"c1\": \"float64\", "
			   "\"c2\": \"float64\", \"c3\": \"float64\", \"c4\": \"float64\", "
			   "\"c5\": \"float64\", \"c6\": \"float64\"}}");
	free(csv);
	cJSON *r = run_ok(f, "", NULL);
	assert_string_equal(action_of(r, "c0"), "impute"); /* 0.04 < 0.05 */
	assert_string_equal(action_of(r, "c1"), "flag");   /* 0.05: flag, boundary inclusive */
	assert_string_equal(action_of(r, "c2"), "flag");
	assert_string_equal(action_of(r, "c3"), "flag");
	assert_string_equal(action_of(r, "c4"), "flag");   /* 0.50: flag, boundary inclusive */
	assert_string_equal(action_of(r, "c5"), "drop");   /* 0.51 > 0.50 */
	assert_string_equal(action_of(r, "c6"), "none");
	assert_int_equal(ade_json_num(log_entry(r, "c0"), "rows_touched", -1), 4);
	assert_true(ade_json_num(log_entry(r, "c1"), "rate", 0) == 0.05);
	const cJSON *dropped = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "frame"), "dropped_columns");
	assert_int_equal(cJSON_GetArraySize(dropped), 1);
	assert_string_equal(cJSON_GetArrayItem(dropped, 0)->valuestring, "c5");
	assert_int_equal(ade_json_num(r, "columns_out", 0), 7);
	cJSON_Delete(r);

	/* 20 rows: 1 null is exactly 5%; 10 nulls exactly 50%; 11 over. */
	int n2[] = {1, 10, 11};
	csv = band_csv(20, n2, 3);
	make_input(f, csv, "{\"schema_hints\": {\"c0\": \"float64\", \"c1\": \"float64\", "
			   "\"c2\": \"float64\"}}");
	free(csv);
	r = run_ok(f, "", NULL);
	assert_string_equal(action_of(r, "c0"), "flag");
	assert_string_equal(action_of(r, "c1"), "flag");
	assert_string_equal(action_of(r, "c2"), "drop");
	cJSON_Delete(r);
	/* Thresholds are configurable; percentages are accepted. */
	r = run_ok(f, "\"missing\": {\"impute_below\": \"6%\", \"drop_above\": 0.5}", NULL);
	assert_string_equal(action_of(r, "c0"), "impute");
	cJSON_Delete(r);
}

static void test_median_mode(void **state)
{
	struct fx *f = *state;
	/*
	 * f: 1, 2, null, 10, 4  -> non-null 1 2 4 10, even count: median 3
	 * i: 1, 2, null, 3, 4   -> median 2.5, an int column gets 3 (rounded)
	 * c: b, a, null, b, a, b, a -> a string column: the tie goes to the
	 *    value seen first, "b" (rows 6 and 7 hold only c)
	 * s: ..., "x y" twice   -> mode of a string column
	 * t: true, false, null, true, false -> tie goes to false
	 */
	make_input(f,
		   "id,f,i,c,s,t\n"
		   "1,1,1,b,x y,true\n"
		   "2,2,2,a,x y,false\n"
		   "3,,,,,\n"
		   "4,10,3,b,p,true\n"
		   "5,4,4,a,q,false\n"
		   "6,,,b,,\n"
		   "7,,,a,,\n",
		   "{\"schema_hints\": {\"f\": \"float64\", \"i\": \"int64\", "
		   "\"c\": \"string\", \"s\": \"string\", \"t\": \"bool\"}}");
	cJSON *r = run_ok(f,
			  "\"missing\": {\"columns\": {\"f\": {\"action\": \"impute\"}, "
			  "\"i\": {\"action\": \"impute\"}, \"c\": {\"action\": \"impute\"}, "
			  "\"s\": {\"action\": \"impute\"}, \"t\": {\"action\": \"impute\"}}}",
			  NULL);
	const cJSON *e = log_entry(r, "f");
	assert_string_equal(ade_json_str(e, "strategy", ""), "median");
	assert_true(ade_json_num(e, "value", 0) == 3);
	e = log_entry(r, "i");
	assert_true(ade_json_num(e, "statistic", 0) == 2.5);
	assert_true(ade_json_num(e, "value", 0) == 3);
	e = log_entry(r, "c");
	assert_string_equal(ade_json_str(e, "strategy", ""), "mode");
	assert_string_equal(ade_json_str(e, "value", ""), "b"); /* string: first seen */
	assert_string_equal(ade_json_str(log_entry(r, "s"), "value", ""), "x y");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(log_entry(r, "t"), "value")));
	assert_int_equal(ade_json_num(log_entry(r, "s"), "rows_touched", 0), 3);
	cJSON_Delete(r);

	/* mean and constant, and the frame holds the imputed values. */
	char *out;
	r = run_ok(f,
		   "\"missing\": {\"columns\": {\"f\": {\"action\": \"impute\", \"impute\": \"mean\"}, "
		   "\"i\": {\"action\": \"impute\", \"impute\": \"constant\", \"value\": -7}}}",
		   &out);
	assert_true(ade_json_num(log_entry(r, "f"), "value", 0) == 4.25);
	assert_true(ade_json_num(log_entry(r, "i"), "value", 0) == -7);
	char *fd = ade_xasprintf("%s/frame", out);
	struct ade_frame *fr;
	struct ade_error err = {0};
	assert_int_equal(ade_frame_open(fd, &fr, &err), 0);
	const struct ade_frame_column *fc = &fr->cols[ade_frame_find(fr, "f")];
	const struct ade_frame_column *ic = &fr->cols[ade_frame_find(fr, "i")];
	assert_null(fc->valid);
	assert_true(((const double *)fc->data)[2] == 4.25);
	assert_true(((const int64_t *)ic->data)[2] == -7);
	ade_frame_close(fr);
	free(fd);
	free(out);
	cJSON_Delete(r);
}

/* A categorical column made with the frame writer: ties go to the smaller code. */
static void test_categorical_mode(void **state)
{
	struct fx *f = *state;
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	const char *vals[] = {"a", "b", "c"};
	size_t lens[] = {1, 1, 1};
	int32_t codes[] = {1, 0, -1, 1, 0, 2};

	f->in = ade_xasprintf("%s/cat", f->dir);
	assert_int_equal(mkdir(f->in, 0755), 0);
	char *fd = ade_xasprintf("%s/frame", f->in);
	assert_int_equal(ade_frame_writer_open(fd, &w, &err), 0);
	int id = ade_frame_writer_add(w, "id", ADE_TYPE_INT64, &err);
	int c = ade_frame_writer_add(w, "c", ADE_TYPE_CATEGORICAL, &err);
	ade_frame_writer_set_dict(w, c, vals, lens, 3);
	for (int i = 0; i < 6; i++) {
		ade_frame_put_i64(w, id, i);
		if (codes[i] < 0)
			ade_frame_put_null(w, c);
		else
			ade_frame_put_code(w, c, codes[i]);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	free(fd);
	cJSON *r = run_ok(f, "\"missing\": {\"columns\": {\"c\": {\"action\": \"impute\"}}}", NULL);
	const cJSON *e = log_entry(r, "c");
	assert_string_equal(ade_json_str(e, "type", ""), "categorical");
	assert_string_equal(ade_json_str(e, "value", ""), "a");
	assert_int_equal(ade_json_num(e, "rows_touched", 0), 1);
	cJSON_Delete(r);
	/* A constant outside the dictionary is appended to it. */
	char *out;
	r = run_ok(f, "\"missing\": {\"columns\": {\"c\": {\"action\": \"impute\", "
		      "\"impute\": \"constant\", \"value\": \"zz\"}}}", &out);
	fd = ade_xasprintf("%s/frame", out);
	struct ade_frame *fr;
	assert_int_equal(ade_frame_open(fd, &fr, &err), 0);
	size_t n;
	const char *v = ade_frame_str(&fr->cols[1], 2, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(v, "zz", 2);
	ade_frame_close(fr);
	free(fd);
	free(out);
	cJSON_Delete(r);
}

static void test_iqr_fences(void **state)
{
	struct fx *f = *state;
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	/*
	 * a: 1..9, 1000 (n = 10): Q1 at h = 2.25 -> 3.25, Q3 at h = 6.75 ->
	 * 7.75, IQR 4.5, fences 3.25 - 6.75 = -3.5 and 7.75 + 6.75 = 14.5:
	 * one outlier (1000).  b (int): 1..20 with 100 as the 10th value and
	 * a null; non-null sorted 1..9,11..20,100 (n = 20): Q1 at h = 4.75 ->
	 * 5.75, Q3 at h = 14.25 -> 16.25, IQR 10.5, fences -10 and 32.
	 */
	ade_strbuf_adds(&sb, "id,a,b\n");
	for (int r = 0; r < 21; r++) {
		ade_strbuf_addf(&sb, "%d,", r);
		if (r < 9)
			ade_strbuf_addf(&sb, "%d.0", r + 1);
		else if (r == 9)
			ade_strbuf_adds(&sb, "1000.0");
		ade_strbuf_addc(&sb, ',');
		if (r == 9)
			ade_strbuf_adds(&sb, "100");
		else if (r != 20)
			ade_strbuf_addf(&sb, "%d", r + 1);
		ade_strbuf_addc(&sb, '\n');
	}
	make_input(f, sb.buf, "{}");
	ade_strbuf_release(&sb);
	char *out;
	cJSON *r = run_ok(f,
			  "\"missing\": {\"columns\": {\"a\": {\"action\": \"keep\"}, "
			  "\"b\": {\"action\": \"keep\"}}}, "
			  "\"outliers\": {\"columns\": [\"a\", \"b\"]}",
			  &out);
	const cJSON *oc = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "outliers"), "columns");
	const cJSON *a = cJSON_GetObjectItem(oc, "a"), *b = cJSON_GetObjectItem(oc, "b");
	assert_true(ade_json_num(a, "q1", 0) == 3.25 && ade_json_num(a, "q3", 0) == 7.75);
	assert_true(ade_json_num(a, "lower", 0) == -3.5 && ade_json_num(a, "upper", 0) == 14.5);
	assert_int_equal(ade_json_num(a, "count", 0), 1);
	assert_true(ade_json_num(b, "q1", 0) == 5.75 && ade_json_num(b, "q3", 0) == 16.25);
	assert_true(ade_json_num(b, "lower", 0) == -10 && ade_json_num(b, "upper", 0) == 32);
	assert_int_equal(ade_json_num(b, "count", 0), 1);
	/* flag: a bool column right after each, true on row 9 only. */
	char *fd = ade_xasprintf("%s/frame", out);
	struct ade_frame *fr;
	struct ade_error err = {0};
	assert_int_equal(ade_frame_open(fd, &fr, &err), 0);
	int k = ade_frame_find(fr, "a_outlier");
	assert_int_equal(k, ade_frame_find(fr, "a") + 1);
	assert_int_equal(fr->cols[k].type, ADE_TYPE_BOOL);
	for (int i = 0; i < 21; i++)
		assert_int_equal(((const uint8_t *)fr->cols[k].data)[i], i == 9);
	ade_frame_close(fr);
	free(fd);
	free(out);
	cJSON_Delete(r);

	/* clip keeps rows and moves values to the fences; drop removes the row. */
	r = run_ok(f,
		   "\"missing\": {\"columns\": {\"a\": {\"action\": \"keep\"}, "
		   "\"b\": {\"action\": \"keep\"}}}, "
		   "\"outliers\": {\"columns\": [\"a\", \"b\"], \"action\": \"clip\"}",
		   &out);
	fd = ade_xasprintf("%s/frame", out);
	assert_int_equal(ade_frame_open(fd, &fr, &err), 0);
	assert_true(((const double *)fr->cols[ade_frame_find(fr, "a")].data)[9] == 14.5);
	assert_true(((const int64_t *)fr->cols[ade_frame_find(fr, "b")].data)[9] == 32);
	assert_int_equal(fr->rows, 21);
	ade_frame_close(fr);
	free(fd);
	free(out);
	cJSON_Delete(r);
	r = run_ok(f,
		   "\"missing\": {\"columns\": {\"a\": {\"action\": \"keep\"}}}, "
		   "\"outliers\": {\"columns\": [\"a\"], \"action\": \"drop\", \"k\": 3}",
		   NULL);
	assert_int_equal(ade_json_num(r, "rows_out", 0), 20);
	cJSON_Delete(r);
}

static void test_duplicates(void **state)
{
	struct fx *f = *state;
	/* Rows 2 and 4 repeat row 1 exactly (1.5 and 1.50 are one value);
	 * row 5 repeats row 3's id only; nulls equal nulls. */
	make_input(f,
		   "id,x,s\n"
		   "1,1.5,a\n"
		   "1,1.50,a\n"
		   "2,2.5,\n"
		   "1,1.5,a\n"
		   "2,9.5,\n"
		   "3,,\n"
		   "3,,\n",
		   "{\"schema_hints\": {\"s\": \"string\"}}");
	cJSON *r = run_ok(f, "", NULL);
	assert_int_equal(ade_json_num(cJSON_GetObjectItem(r, "duplicates"), "removed", -1), 3);
	assert_int_equal(ade_json_num(r, "rows_out", 0), 4);
	cJSON_Delete(r);
	r = run_ok(f, "\"keys\": [\"id\"]", NULL);
	assert_int_equal(ade_json_num(cJSON_GetObjectItem(r, "duplicates"), "removed", -1), 4);
	assert_int_equal(ade_json_num(r, "rows_out", 0), 3);
	cJSON_Delete(r);
	r = run_ok(f, "\"dedup\": false", NULL);
	assert_int_equal(ade_json_num(r, "rows_out", 0), 7);
	cJSON_Delete(r);
}

static void test_protect_and_keys(void **state)
{
	struct fx *f = *state;
	/* k and p are 60% null; k is the key, p protected, q neither. */
	make_input(f,
		   "k,p,q,v\n,,,1\n,,,2\n,,,3\n1,1,1,4\n2,2,2,5\n",
		   "{\"schema_hints\": {\"k\": \"int64\", \"p\": \"int64\", \"q\": \"int64\"}}");
	cJSON *r = run_ok(f, "\"keys\": [\"k\", \"v\"], \"protect\": [\"p\"]", NULL);
	assert_string_equal(action_of(r, "k"), "flag");
	assert_string_equal(action_of(r, "p"), "flag");
	assert_string_equal(action_of(r, "q"), "drop");
	assert_int_equal(ade_json_num(r, "columns_out", 0), 3);
	cJSON_Delete(r);
	/* A key is never imputed either, even under impute_below. */
	r = run_ok(f, "\"keys\": [\"k\", \"v\"], \"missing\": {\"impute_below\": 0.7, "
		      "\"drop_above\": 0.9}", NULL);
	assert_string_equal(action_of(r, "k"), "flag");
	assert_string_equal(action_of(r, "p"), "impute");
	cJSON_Delete(r);
}

static void test_links(void **state)
{
	struct fx *f = *state;
	char *out;
	struct stat a, b;

	make_input(f, "id,x,y\n1,1.5,a\n2,,b\n3,2.5,c\n4,3.5,d\n5,4.5,e\n", "{}");
	cJSON *r = run_ok(f, "\"missing\": {\"columns\": {\"x\": {\"action\": \"impute\"}}}", &out);
	char *p1 = ade_xasprintf("%s/frame/id.npy", f->in), *p2 = ade_xasprintf("%s/frame/id.npy", out);
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev); /* linked */
	free(p1);
	free(p2);
	p1 = ade_xasprintf("%s/frame/x.npy", f->in);
	p2 = ade_xasprintf("%s/frame/x.npy", out);
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_true(a.st_ino != b.st_ino); /* rewritten */
	free(p1);
	free(p2);
	free(out);
	cJSON_Delete(r);
	/* Nothing changed: every column linked, and the content hash is the input's. */
	r = run_ok(f, "\"missing\": {\"columns\": {\"x\": {\"action\": \"keep\"}}}", NULL);
	char *sp = ade_xasprintf("%s/frame/schema.json", f->in);
	cJSON *in;
	assert_int_equal(ade_json_read_file(sp, &in, NULL), 0);
	const cJSON *o = cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(r, "datasets"), "outputs"), 0);
	assert_string_equal(ade_json_str(o, "hash", ""), ade_json_str(in, "content_hash", "-"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "frame"),
								"rewritten_columns")),
			 0);
	cJSON_Delete(in);
	free(sp);
	cJSON_Delete(r);
}

static void test_bad_config(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *cfg, *ptr;
	} cases[] = {
		{"\"keys\": [\"nope\"]", "/keys/0"},
		{"\"keys\": \"id\"", "/keys"},
		{"\"outliers\": {\"columns\": [\"s\"]}", "/outliers/columns/0"},
		{"\"outliers\": {\"columns\": [\"x\"], \"k\": -1}", "/outliers/k"},
		{"\"outliers\": {\"action\": \"zap\"}", "/outliers/action"},
		{"\"missing\": {\"drop_above\": 2}", "/missing/drop_above"},
		{"\"missing\": {\"impute\": \"avg\"}", "/missing/impute"},
		{"\"missing\": {\"columns\": {\"s\": {\"impute\": \"mean\"}}}", "/missing/columns/s"},
		{"\"missing\": {\"columns\": {\"x\": {\"impute\": \"constant\"}}}",
		 "/missing/columns/x"},
		{"\"missing\": {\"columns\": {\"x\": {\"impute\": \"constant\", \"value\": \"z\"}}}",
		 "/missing/columns/x/value"},
		{"\"protect\": [\"x\"], \"missing\": {\"columns\": {\"x\": {\"action\": \"drop\"}}}",
		 "/missing/columns/x"},
		{"\"bogus\": 1", "/bogus"},
		{"\"export_csv\": \"yes\"", "/export_csv"},
		{"\"min_score\": 101", "/min_score"},
	};

	make_input(f, "id,x,s\n1,1.5,a b c\n2,,d e f\n", "{\"schema_hints\": {\"s\": \"string\"}}");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ade_error err = {0};
		int rc;
		cJSON *r = run_q(f, cases[i].cfg, &rc, &err, NULL);
		if (rc != ADE_EINVAL)
			fail_msg("case %zu (%s): rc %d", i, cases[i].cfg, rc);
		assert_null(r);
		char *want = ade_xasprintf("ADE_CONFIG %s:", cases[i].ptr);
		if (strncmp(err.msg, want, strlen(want)))
			fail_msg("case %zu: got '%s', want prefix '%s'", i, err.msg, want);
		free(want);
		assert_int_equal(ade_quality_exit_code(rc), 2);
	}
}

/*
 * baseline: a micro-batch takes the day's decisions and statistics.  The
 * day: 40 rows, a (float) 1 null and the outlier 1000, c 1 null, d 60%
 * null.  The batch: 5 rows with 1 null in a and c (20%: flagged on its
 * own) and none in d.
 */
static void test_baseline(void **state)
{
	struct fx *f = *state;
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const char *cfg = "\"outliers\": {\"columns\": [\"a\"], \"action\": \"drop\"}";
	char *day_out, *batch_in, *text;

	ade_strbuf_adds(&sb, "id,a,c,d\n");
	for (int r = 0; r < 40; r++) {
		ade_strbuf_addf(&sb, "%d,", r);
		if (r == 39)
			ade_strbuf_adds(&sb, "1000.0");
		else if (r != 5)
			ade_strbuf_addf(&sb, "%d.5", r);
		ade_strbuf_addf(&sb, ",%s,", r == 7 ? "" : r % 3 ? "y" : "x");
		if (r >= 24)
			ade_strbuf_addf(&sb, "%d", r);
		ade_strbuf_addc(&sb, '\n');
	}
	make_input(f, sb.buf, "{\"schema_hints\": {\"c\": \"string\"}}");
	ade_strbuf_release(&sb);
	cJSON *day = run_ok(f, cfg, &day_out);
	assert_string_equal(action_of(day, "a"), "impute");
	assert_string_equal(action_of(day, "c"), "impute");
	assert_string_equal(action_of(day, "d"), "drop");
	const cJSON *dayo = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(day, "outliers"),
								      "columns"),
						"a");

	make_input(f, "id,a,c,d\n100,,x,1\n101,1000.0,y,2\n102,2.5,,3\n103,3.5,y,4\n104,4.5,x,5\n",
		   "{\"schema_hints\": {\"c\": \"string\"}}");
	batch_in = ade_xstrdup(f->in);
	/* On its own: 20% missing is flagged, d kept, fences of its own 4 values. */
	cJSON *own = run_ok(f, cfg, NULL);
	assert_string_equal(action_of(own, "a"), "flag");
	assert_string_equal(action_of(own, "c"), "flag");
	assert_string_equal(action_of(own, "d"), "none");
	const cJSON *owno = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(own, "outliers"),
								      "columns"),
						"a");
	assert_false(ade_json_num(owno, "upper", 1) == ade_json_num(dayo, "upper", 2));
	assert_null(cJSON_GetObjectItem(own, "baseline"));
	cJSON_Delete(own);

	/* With the day's result (its directory) as baseline. */
	text = ade_xasprintf("%s, \"baseline\": \"%s\"", cfg, day_out);
	char *out;
	cJSON *b = run_ok(f, text, &out);
	free(text);
	const cJSON *ea = log_entry(b, "a"), *ec = log_entry(b, "c");
	assert_string_equal(action_of(b, "a"), "impute");
	assert_true(ade_json_num(ea, "value", -1) == ade_json_num(log_entry(day, "a"), "value", -2));
	assert_string_equal(ade_json_str(ea, "value_from", ""), "baseline");
	assert_true(ade_json_num(ea, "baseline_rate", 0) == 1.0 / 40);
	assert_true(ade_json_num(ea, "rate", 0) == 0.2); /* the batch's own, reported */
	assert_string_equal(action_of(b, "c"), "impute");
	assert_string_equal(ade_json_str(ec, "value", ""), "y");
	assert_string_equal(action_of(b, "d"), "drop"); /* no null here, dropped for the day */
	const cJSON *bo = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "outliers"),
								    "columns"),
					      "a");
	assert_true(ade_json_num(bo, "lower", 1) == ade_json_num(dayo, "lower", 2));
	assert_true(ade_json_num(bo, "upper", 1) == ade_json_num(dayo, "upper", 2));
	assert_string_equal(ade_json_str(bo, "fences_from", ""), "baseline");
	assert_int_equal(ade_json_num(b, "rows_out", 0), 4); /* 1000 dropped */
	assert_int_equal(ade_json_num(b, "columns_out", 0), 3);
	const cJSON *bl = cJSON_GetObjectItem(b, "baseline");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(bl, "values")), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(bl, "fences")), 1);
	/* The imputed value is in the frame. */
	char *fd = ade_xasprintf("%s/frame", out);
	struct ade_frame *fr;
	struct ade_error err = {0};
	assert_int_equal(ade_frame_open(fd, &fr, &err), 0);
	assert_int_equal(fr->rows, 4);
	assert_true(((const double *)fr->cols[ade_frame_find(fr, "a")].data)[0] ==
		    ade_json_num(ea, "value", -1));
	ade_frame_close(fr);
	free(fd);
	free(out);
	cJSON_Delete(b);

	/* false: none; a bad path or a file that is not a quality result: exit 2. */
	free(f->in);
	f->in = ade_xstrdup(batch_in);
	text = ade_xasprintf("%s, \"baseline\": false", cfg);
	b = run_ok(f, text, NULL);
	free(text);
	assert_string_equal(action_of(b, "a"), "flag");
	cJSON_Delete(b);
	static const char *const bad[] = {"\"baseline\": 5", "\"baseline\": \"/nonexistent/r.json\""};
	for (size_t i = 0; i < 3; i++) {
		int rc;
		struct ade_error e2 = {0};
		char *c2 = i < 2 ? ade_xstrdup(bad[i])
				 : ade_xasprintf("\"baseline\": \"%s/schema.json\"", batch_in);
		if (i == 2) { /* a JSON file, but not a quality result */
			free(c2);
			c2 = ade_xasprintf("\"baseline\": \"%s/frame/schema.json\"", batch_in);
		}
		cJSON *r = run_q(f, c2, &rc, &e2, NULL);
		if (rc != ADE_EINVAL)
			fail_msg("bad baseline %zu: rc %d", i, rc);
		assert_non_null(strstr(e2.msg, "/baseline"));
		assert_null(r);
		free(c2);
	}
	free(batch_in);
	free(day_out);
	cJSON_Delete(day);
}

static void test_score_and_min_score(void **state)
{
	struct fx *f = *state;
	/* 4 rows, 1 duplicate; 3 kept x 2 columns with 1 null: completeness
	 * 5/6, uniqueness 3/4; no outlier columns: consistency not measured. */
	make_input(f, "id,x\n1,1.5\n1,1.5\n2,\n3,2.5\n", "{}");
	cJSON *r = run_ok(f, "", NULL);
	const cJSON *q = cJSON_GetObjectItem(r, "quality");
	const cJSON *d = cJSON_GetObjectItem(q, "dimensions");
	assert_true(ade_json_num(d, "completeness", 0) == 83.33);
	assert_true(ade_json_num(d, "uniqueness", 0) == 75);
	assert_true(ade_json_num(d, "validity", 0) == 100);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "consistency")));
	/* (0.3 * 83.333 + 0.2 * 75 + 0.3 * 100) / 0.8 = 87.5 */
	assert_true(ade_json_num(q, "score", 0) == 87.5);
	cJSON_Delete(r);
	struct ade_error err = {0};
	int rc;
	r = run_q(f, "\"min_score\": 90", &rc, &err, NULL);
	assert_int_equal(rc, ADE_EDATA);
	assert_int_equal(ade_quality_exit_code(rc), 65);
	assert_non_null(r); /* written before failing */
	assert_string_equal(ade_json_str(r, "status", ""), "failed");
	cJSON_Delete(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_hand),
		cmocka_unit_test(test_select_vs_sort),
		cmocka_unit_test(test_dedup_set),
		cmocka_unit_test(test_dedup_grow),
		cmocka_unit_test(test_format_double),
		cmocka_unit_test_setup_teardown(test_bands_exact, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_median_mode, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_categorical_mode, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_iqr_fences, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_protect_and_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_links, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_score_and_min_score, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_baseline, fx_setup, fx_teardown),
	};
	ade_log_set_level(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
