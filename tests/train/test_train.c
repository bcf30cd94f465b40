/*
 * ade-train unit tests over hand-made frames: exact recovery of a known
 * linear model, ridge shrinkage, the split's stability, holdout metrics
 * checked by hand, rank deficiency, the model file's refusals, and
 * prediction through the shared encoder.
 */
#include "stages/train/train.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmp[256];

static const char *cat_levels[] = {"a", "b", "c", "d"};
static const double cat_effect[] = {0, 1, -2, 4};

/* xorshift, so the data does not depend on libc's rand */
static uint64_t rng = 88172645463325252ull;
static double unif(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-53;
}
static double gauss(void)
{
	double u = unif() + 1e-300, v = unif();
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

struct spec {
	int64_t n;
	double noise;
	int dup;          /* add x1b = x1 */
	const double *y;  /* explicit target, else the linear model */
	const double *x1; /* explicit x1 */
	int null_x2_every;
};

/* id, x1 (f64), x2 (i64), flag (bool), cat (categorical a..d), y [, x1b] */
static char *make_frame(const char *name, const struct spec *s)
{
	char *dir = ade_xasprintf("%s/%s", tmp, name);
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	size_t lens[4] = {1, 1, 1, 1};

	ade_fs_remove_tree(dir, NULL);
	assert_int_equal(ade_frame_writer_open(dir, &w, &err), 0);
	int cid = ade_frame_writer_add(w, "id", ADE_TYPE_INT64, &err);
	int cx1 = ade_frame_writer_add(w, "x1", ADE_TYPE_FLOAT64, &err);
	int cx2 = ade_frame_writer_add(w, "x2", ADE_TYPE_INT64, &err);
	int cfl = ade_frame_writer_add(w, "flag", ADE_TYPE_BOOL, &err);
	int cc = ade_frame_writer_add(w, "cat", ADE_TYPE_CATEGORICAL, &err);
	int cy = ade_frame_writer_add(w, "y", ADE_TYPE_FLOAT64, &err);
	int cb = s->dup ? ade_frame_writer_add(w, "x1b", ADE_TYPE_FLOAT64, &err) : -1;
	ade_frame_writer_set_dict(w, cc, cat_levels, lens, 4);
	for (int64_t i = 0; i < s->n; i++) {
		double x1 = s->x1 ? s->x1[i] : 10 * unif() - 5;
		int64_t x2 = (int64_t)(unif() * 100);
		int fl = unif() < 0.3;
		int c = (int)(unif() * 4);
		double y = 3 + 2 * x1 - 0.5 * (double)x2 + 1.5 * fl + cat_effect[c] +
			   s->noise * gauss();
		ade_frame_put_i64(w, cid, 1000 + i);
		ade_frame_put_f64(w, cx1, x1);
		if (s->null_x2_every && i % s->null_x2_every == 0)
			ade_frame_put_null(w, cx2);
		else
			ade_frame_put_i64(w, cx2, x2);
		ade_frame_put_bool(w, cfl, fl);
		ade_frame_put_code(w, cc, c);
		ade_frame_put_f64(w, cy, s->y ? s->y[i] : y);
		if (cb >= 0)
			ade_frame_put_f64(w, cb, x1);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	return dir;
}

static cJSON *config(const char *extra)
{
	char *s = ade_xasprintf("{\"target\": \"y\", \"numeric\": [\"x1\", \"x2\", \"flag\"], "
				"\"categorical\": [\"cat\"], \"key\": \"id\", \"seed\": 1%s%s}",
				extra && *extra ? ", " : "", extra ? extra : "");
	cJSON *c = cJSON_Parse(s);
	assert_non_null(c);
	free(s);
	return c;
}

static int col_index(const struct ade_model *m, const char *name)
{
	for (int j = 0; j < m->p; j++)
		if (!strcmp(m->colnames[j], name))
			return j;
	fail_msg("no column %s", name);
	return -1;
}

static const cJSON *metric(const struct ade_model *m, const char *k)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(m->doc, "metrics"), k);
}

static int has_warning(const struct ade_model *m, const char *needle)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItem(m->doc, "warnings"))
		if (strstr(w->valuestring, needle))
			return 1;
	return 0;
}

/* A linear model with 1e-9 noise is recovered to 1e-6. */
static void test_exact_recovery(void **state)
{
	struct spec s = {.n = 20000, .noise = 1e-9};
	char *dir = make_frame("exact", &s);
	cJSON *c = config(NULL);
	struct ade_model *m;
	struct ade_error err = {0};

	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	assert_int_equal(m->p, 6); /* x1 x2 flag cat=b cat=c cat=d */
	assert_true(fabs(m->coef[col_index(m, "x1")] - 2) < 1e-6);
	assert_true(fabs(m->coef[col_index(m, "x2")] + 0.5) < 1e-6);
	assert_true(fabs(m->coef[col_index(m, "flag")] - 1.5) < 1e-6);
	assert_true(fabs(m->coef[col_index(m, "cat=b")] - 1) < 1e-6);
	assert_true(fabs(m->coef[col_index(m, "cat=c")] + 2) < 1e-6);
	assert_true(fabs(m->coef[col_index(m, "cat=d")] - 4) < 1e-6);
	assert_true(fabs(m->intercept - 3) < 1e-6);
	assert_string_equal(m->feat[3].levels[m->feat[3].ref], "a");
	assert_true(metric(m, "r2")->valuedouble > 1 - 1e-12);
	assert_int_equal(metric(m, "rank")->valueint, 6);
	/* the split is near the configured 20% */
	double nt = metric(m, "n_test")->valuedouble;
	assert_true(nt > 0.18 * 20000 && nt < 0.22 * 20000);
	assert_true(!has_warning(m, "rank"));
	ade_model_free(m);
	cJSON_Delete(c);
	free(dir);
}

static double std_norm(const struct ade_model *m)
{
	double s = 0;
	for (int j = 0; j < m->p; j++)
		s += (m->coef[j] * m->col_scale[j]) * (m->coef[j] * m->col_scale[j]);
	return sqrt(s);
}

/* The standardized coefficients' norm falls as alpha grows. */
static void test_ridge_shrinks(void **state)
{
	struct spec s = {.n = 5000, .noise = 1.0};
	char *dir = make_frame("ridge", &s);
	const char *alphas[] = {"0", "10", "1000", "100000", "10000000"};
	double prev = INFINITY;
	struct ade_error err = {0};

	for (int i = 0; i < 5; i++) {
		char extra[100];
		snprintf(extra, sizeof(extra), "\"model\": \"ridge\", \"alpha\": %s", alphas[i]);
		cJSON *c = config(extra);
		struct ade_model *m;
		assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
		/* ridge keeps every level: no reference */
		assert_int_equal(m->feat[3].ref, -1);
		assert_int_equal(m->p, 7);
		double nrm = std_norm(m);
		assert_true(nrm < prev);
		prev = nrm;
		ade_model_free(m);
		cJSON_Delete(c);
	}
	assert_true(prev < 0.01);
	free(dir);
}

/* A row's side depends on its key and the seed only. */
static void test_split_stable(void **state)
{
	struct spec a = {.n = 3000, .noise = 1};
	char *d1 = make_frame("split1", &a);
	struct ade_frame *f1;
	struct ade_error err = {0};

	assert_int_equal(ade_frame_open(d1, &f1, &err), 0);
	const struct ade_frame_column *id = &f1->cols[ade_frame_find(f1, "id")];
	int ntest = 0;
	for (int64_t i = 0; i < f1->rows; i++) {
		uint64_t h = ade_train_key_hash(id, i, 5);
		/* the same value as text in a string column hashes the same */
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)((const int64_t *)id->data)[i]);
		struct ade_frame_column sc = {0};
		int64_t offs[2] = {0, (int64_t)strlen(buf)};
		sc.type = ADE_TYPE_STRING;
		sc.offsets = offs;
		sc.bytes = buf;
		sc.bytes_len = offs[1];
		assert_true(ade_train_key_hash(&sc, 0, 5) == h);
		/* and is the same on every call (no hidden state) */
		assert_true(ade_train_key_hash(id, i, 5) == h);
		ntest += ade_train_is_test(h, 0.25);
		/* a larger fraction only moves rows into the holdout */
		if (ade_train_is_test(h, 0.25))
			assert_true(ade_train_is_test(h, 0.5));
	}
	assert_true(ntest > 0.22 * 3000 && ntest < 0.28 * 3000);
	/* another seed gives another split */
	int same = 0;
	for (int64_t i = 0; i < f1->rows; i++)
		same += ade_train_is_test(ade_train_key_hash(id, i, 5), 0.25) ==
			ade_train_is_test(ade_train_key_hash(id, i, 6), 0.25);
	assert_true(same < f1->rows);
	ade_frame_close(f1);

	/* two fits on the same frame: the same model version */
	cJSON *c = config("\"test_fraction\": 0.25");
	struct ade_model *m1, *m2;
	assert_int_equal(ade_train_fit(NULL, c, d1, &m1, &err), 0);
	assert_int_equal(ade_train_fit(NULL, c, d1, &m2, &err), 0);
	assert_string_equal(m1->version, m2->version);
	ade_model_free(m1);
	ade_model_free(m2);
	cJSON_Delete(c);
	free(d1);
}

/*
 * 40 rows: training rows lie exactly on y = 2 x1 + 1 (other features
 * constant... here only x1 is used); holdout rows are off by known
 * residuals.  MAE, RMSE, R^2 and the baseline are then known in closed form.
 */
static void test_holdout_by_hand(void **state)
{
	enum { N = 40 };
	double x1[N], y[N];
	struct spec s = {.n = N, .noise = 0, .x1 = x1};
	struct ade_error err = {0};

	for (int i = 0; i < N; i++)
		x1[i] = i * 0.5;
	/* which ids are held out with seed 1 and 30%? */
	s.y = x1;
	char *dir = make_frame("tiny", &s);
	struct ade_frame *f;
	assert_int_equal(ade_frame_open(dir, &f, &err), 0);
	const struct ade_frame_column *id = &f->cols[ade_frame_find(f, "id")];
	int test[N], nt = 0, ntr = 0;
	for (int i = 0; i < N; i++) {
		test[i] = ade_train_is_test(ade_train_key_hash(id, i, 1), 0.3);
		nt += test[i];
	}
	ade_frame_close(f);
	ntr = N - nt;
	assert_true(nt >= 3 && ntr >= 3);
	double ae = 0, se = 0, ytr = 0, yte = 0, k = 0;
	for (int i = 0; i < N; i++) {
		double r = test[i] ? ((k++ ? (int)k % 2 : 0) ? 3.0 : -1.0) : 0.0;
		y[i] = 2 * x1[i] + 1 + r;
		ae += fabs(r);
		se += r * r;
		if (test[i])
			yte += y[i];
		else
			ytr += y[i];
	}
	ytr /= ntr;
	yte /= nt;
	double base = 0, sst = 0;
	for (int i = 0; i < N; i++)
		if (test[i]) {
			base += fabs(y[i] - ytr);
			sst += (y[i] - yte) * (y[i] - yte);
		}
	s.y = y;
	free(dir);
	dir = make_frame("tiny", &s);
	cJSON *c = cJSON_Parse("{\"target\": \"y\", \"numeric\": [\"x1\"], \"key\": \"id\", "
			       "\"seed\": 1, \"test_fraction\": 0.3}");
	struct ade_model *m;
	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	assert_true(fabs(m->coef[0] - 2) < 1e-12);
	assert_true(fabs(m->intercept - 1) < 1e-12);
	assert_int_equal(metric(m, "n_test")->valueint, nt);
	assert_int_equal(metric(m, "n_train")->valueint, ntr);
	assert_true(fabs(metric(m, "mae")->valuedouble - ae / nt) < 1e-9);
	assert_true(fabs(metric(m, "rmse")->valuedouble - sqrt(se / nt)) < 1e-9);
	assert_true(fabs(metric(m, "r2")->valuedouble - (1 - se / sst)) < 1e-9);
	assert_true(fabs(metric(m, "baseline_mae")->valuedouble - base / nt) < 1e-9);
	ade_model_free(m);
	cJSON_Delete(c);
	free(dir);
}

/* A duplicated column: rank p-1, a warning, the minimum-norm split. */
static void test_rank_deficient(void **state)
{
	struct spec s = {.n = 4000, .noise = 0.1, .dup = 1};
	char *dir = make_frame("dup", &s);
	cJSON *c = cJSON_Parse("{\"target\": \"y\", \"numeric\": [\"x1\", \"x2\", \"x1b\"], "
			       "\"key\": \"id\"}");
	struct ade_model *m;
	struct ade_error err = {0};

	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	assert_int_equal(metric(m, "rank")->valueint, 2);
	assert_true(has_warning(m, "rank deficient"));
	assert_true(has_warning(m, "'x1' and 'x1b' are collinear"));
	/* minimum norm: the duplicated effect splits equally */
	assert_true(fabs(m->coef[0] - m->coef[2]) < 1e-8);
	assert_true(fabs(m->coef[0] + m->coef[2] - 2) < 0.05);
	assert_true(isfinite(m->intercept));
	ade_model_free(m);
	cJSON_Delete(c);
	free(dir);
}

static void write_text(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(s, 1, n, f);
	fclose(f);
}

/* Round trip; truncated, newer and inconsistent files are refused. */
static void test_model_file(void **state)
{
	struct spec s = {.n = 3000, .noise = 1};
	char *dir = make_frame("file", &s);
	cJSON *c = config(NULL);
	struct ade_model *m, *r;
	struct ade_error err = {0};
	char *path = ade_xasprintf("%s/model.json", tmp);

	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	assert_int_equal(ade_json_write_file(path, m->doc, 1, &err), 0);
	assert_int_equal(ade_model_read(path, &r, &err), 0);
	assert_string_equal(r->version, m->version);
	assert_int_equal(r->p, m->p);
	for (int j = 0; j < m->p; j++)
		assert_true(r->coef[j] == m->coef[j]);
	assert_true(r->intercept == m->intercept);
	/* the version is a function of the content */
	ade_model_compute_version(r);
	assert_string_equal(r->version, m->version);
	ade_model_free(r);

	char *text = cJSON_Print(m->doc);
	size_t n = strlen(text);
	write_text(path, text, n / 2);
	assert_int_not_equal(ade_model_read(path, &r, &err), 0);
	assert_non_null(strstr(err.msg, "truncated"));
	write_text(path, text, 0);
	assert_int_not_equal(ade_model_read(path, &r, &err), 0);

	cJSON *d = cJSON_Duplicate(m->doc, 1);
	cJSON_ReplaceItemInObject(d, "format_version", cJSON_CreateNumber(2));
	assert_int_equal(ade_json_write_file(path, d, 1, &err), 0);
	assert_int_equal(ade_model_read(path, &r, &err), ADE_EINVAL);
	assert_non_null(strstr(err.msg, "format version 2"));
	assert_non_null(strstr(err.msg, "upgrade"));
	cJSON_Delete(d);

	d = cJSON_Duplicate(m->doc, 1);
	cJSON_DeleteItemFromArray(cJSON_GetObjectItem(d, "coefficients"), 0);
	assert_int_equal(ade_json_write_file(path, d, 1, &err), 0);
	assert_int_equal(ade_model_read(path, &r, &err), ADE_EPARSE);
	assert_non_null(strstr(err.msg, "coefficients"));
	cJSON_Delete(d);

	free(text);
	free(path);
	ade_model_free(m);
	cJSON_Delete(c);
	free(dir);
}

/* Predicting the holdout rows through the shared encoder gives train's MAE. */
static void test_predict_matches_train(void **state)
{
	struct spec s = {.n = 10000, .noise = 2, .null_x2_every = 7};
	char *dir = make_frame("pred", &s);
	cJSON *c = config(NULL);
	struct ade_model *m;
	struct ade_frame *f;
	struct ade_binding *b;
	struct ade_error err = {0};

	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	assert_true(has_warning(m, "imputed with the training mean"));
	assert_int_equal(ade_frame_open(dir, &f, &err), 0);
	assert_int_equal(ade_model_bind(m, f, &b, &err), 0);
	const struct ade_frame_column *id = &f->cols[ade_frame_find(f, "id")];
	const double *y = f->cols[ade_frame_find(f, "y")].data;
	double *X = malloc(sizeof(double) * 4096 * (size_t)m->p), pred[4096], ae = 0;
	int64_t nt = 0, imp[4] = {0}, uns[4] = {0}, nul[4] = {0};
	struct ade_encode_counts cnt = {imp, uns, nul};
	for (int64_t s0 = 0; s0 < f->rows; s0 += 4096) {
		int n = (int)(f->rows - s0 < 4096 ? f->rows - s0 : 4096);
		ade_model_predict_rows(b, s0, n, X, pred, &cnt);
		for (int r = 0; r < n; r++)
			if (ade_train_is_test(ade_train_key_hash(id, s0 + r, 1), 0.2)) {
				ae += fabs(y[s0 + r] - pred[r]);
				nt++;
			}
	}
	assert_int_equal(nt, metric(m, "n_test")->valueint);
	/* same encoder, same dot product, same order of sums per chunk */
	assert_true(fabs(ae / (double)nt - metric(m, "mae")->valuedouble) <
		    1e-12 * metric(m, "mae")->valuedouble);
	assert_int_equal(imp[1], (10000 + 6) / 7);
	assert_int_equal(uns[3], 0);
	free(X);
	ade_binding_free(b);
	ade_frame_close(f);
	ade_model_free(m);
	cJSON_Delete(c);
	free(dir);
}

/* Bad configurations name the offending key. */
static void test_bad_config(void **state)
{
	struct spec s = {.n = 100, .noise = 1};
	char *dir = make_frame("cfg", &s);
	struct {
		const char *json, *msg;
	} cases[] = {
		{"{\"numeric\": [\"x1\"]}", "target is required"},
		{"{\"target\": \"y\"}", "no features"},
		{"{\"target\": \"y\", \"numeric\": [\"x1\"], \"alpha\": 1}", "/alpha: alpha needs model: ridge"},
		{"{\"target\": \"y\", \"numeric\": [\"x1\"], \"model\": \"lasso\"}", "/model: model must be ols or ridge"},
		{"{\"target\": \"y\", \"numeric\": [\"nope\"]}", "/numeric/0: column 'nope' is not"},
		{"{\"target\": \"y\", \"numeric\": [\"x1\"], \"test_fraction\": 1}", "/test_fraction"},
		{"{\"target\": \"y\", \"numeric\": [\"x1\"], \"colour\": 1}", "unknown key 'colour'"},
		{"{\"target\": \"y\", \"categorical\": [\"x1\"]}", "categorical features must be"},
		{"{\"target\": \"y\", \"numeric\": [\"y\"]}", "the target cannot be a feature"},
		{"{\"target\": \"y\", \"categorical\": [\"cat\"], \"reference\": {\"cat\": \"z\"}}",
		 "/reference/cat: 'z' is not a level"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *c = cJSON_Parse(cases[i].json);
		struct ade_model *m = NULL;
		struct ade_error err = {0};
		assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), ADE_EINVAL);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
		assert_null(m);
		cJSON_Delete(c);
	}
	free(dir);
}

/* Unseen and null categories encode as zeros and are counted. */
static void test_unseen(void **state)
{
	struct spec s = {.n = 3000, .noise = 1};
	char *dir = make_frame("seen", &s);
	cJSON *c = config(NULL);
	struct ade_model *m;
	struct ade_error err = {0};

	assert_int_equal(ade_train_fit(NULL, c, dir, &m, &err), 0);
	/* a frame whose cat column has an unseen level and a null */
	char *d2 = ade_xasprintf("%s/unseen", tmp);
	struct ade_frame_writer *w;
	const char *lv[] = {"b", "zz"};
	size_t ll[] = {1, 2};
	ade_fs_remove_tree(d2, NULL);
	assert_int_equal(ade_frame_writer_open(d2, &w, &err), 0);
	int a = ade_frame_writer_add(w, "x1", ADE_TYPE_FLOAT64, &err);
	int b2 = ade_frame_writer_add(w, "x2", ADE_TYPE_FLOAT64, &err);
	int fl = ade_frame_writer_add(w, "flag", ADE_TYPE_BOOL, &err);
	int cc = ade_frame_writer_add(w, "cat", ADE_TYPE_CATEGORICAL, &err);
	ade_frame_writer_set_dict(w, cc, lv, ll, 2);
	for (int i = 0; i < 3; i++) {
		ade_frame_put_f64(w, a, 1.0);
		if (i == 2)
			ade_frame_put_null(w, b2);
		else
			ade_frame_put_f64(w, b2, 2.0);
		ade_frame_put_bool(w, fl, 0);
		if (i == 2)
			ade_frame_put_null(w, cc);
		else
			ade_frame_put_code(w, cc, i);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
	struct ade_frame *f;
	struct ade_binding *bd;
	assert_int_equal(ade_frame_open(d2, &f, &err), 0);
	assert_int_equal(ade_model_bind(m, f, &bd, &err), 0);
	double X[3 * 8], pred[3];
	int64_t imp[4] = {0}, uns[4] = {0}, nul[4] = {0};
	struct ade_encode_counts cnt = {imp, uns, nul};
	ade_model_predict_rows(bd, 0, 3, X, pred, &cnt);
	assert_int_equal(uns[3], 1);
	assert_int_equal(nul[3], 1);
	assert_int_equal(imp[1], 1);
	double base = m->intercept + m->coef[0] * 1.0 + m->coef[1] * 2.0;
	assert_true(fabs(pred[0] - (base + m->coef[col_index(m, "cat=b")])) < 1e-9);
	assert_true(fabs(pred[1] - base) < 1e-9); /* unseen: all zeros = the reference */
	assert_true(fabs(pred[2] - (m->intercept + m->coef[0] + m->coef[1] * m->feat[1].impute)) < 1e-9);
	ade_binding_free(bd);
	ade_frame_close(f);
	/* a frame without a feature column is refused, naming it */
	assert_int_equal(ade_frame_open(d2, &f, &err), 0);
	cJSON_Delete(c);
	c = cJSON_Parse("{\"target\": \"y\", \"numeric\": [\"x1\", \"id\"]}");
	struct ade_model *m2;
	assert_int_equal(ade_train_fit(NULL, c, dir, &m2, &err), 0);
	assert_int_equal(ade_model_bind(m2, f, &bd, &err), ADE_EINVAL);
	assert_non_null(strstr(err.msg, "no column 'id'"));
	ade_model_free(m2);
	ade_frame_close(f);
	ade_model_free(m);
	cJSON_Delete(c);
	free(d2);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_recovery),
		cmocka_unit_test(test_ridge_shrinks),
		cmocka_unit_test(test_split_stable),
		cmocka_unit_test(test_holdout_by_hand),
		cmocka_unit_test(test_rank_deficient),
		cmocka_unit_test(test_model_file),
		cmocka_unit_test(test_predict_matches_train),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_unseen),
	};
	snprintf(tmp, sizeof(tmp), "%s/ade-test-train.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (!rc)
		ade_fs_remove_tree(tmp, NULL);
	return rc;
}
