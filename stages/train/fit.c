/*
 * ade-train: the fit.  Three passes over the mmapped frame, each split
 * over `threads` pthreads with single-threaded OpenBLAS (reference
 * performance.md §7: threaded skinny SYRK does not scale, private
 * partial sums do):
 *
 *   1. training rows: numeric means (imputation and centering), target
 *      mean, level counts of categorical features;
 *   2. training rows, in blocks of `block_rows`: encode, centre with the
 *      pass-1 means, append the centred target as a last column, and add
 *      the block's Gram matrix with cblas_dsyrk, so X'X and X'y come out
 *      of one call and memory is O(columns^2), not O(rows);
 *   3. holdout rows: predict, accumulate MAE, RMSE, R^2 and the baseline.
 *
 * Partial sums are added in thread order, so a fit is deterministic for a
 * given thread count.  The algorithm and its numerical choices are in
 * docs/train.md.
 */
#include "train.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096         /* rows per encoded block */
#define DROP_EVERY 16      /* chunks between madvise calls */
#define RCOND_CHOL 1e-10   /* below: Cholesky is not trusted, use dgelsd */
#define RCOND_LSD 1e-12    /* dgelsd: relative singular value cut-off */

struct cfg {
	const char *target;
	const char *key;
	int nnum, ncat;
	const char **num, **cat;
	int ridge;
	double alpha;
	int standardize;
	double test_fraction;
	uint64_t seed;
	const cJSON *reference;
	int threads;
};

static int cfg_err(const struct ade_stage_ctx *ctx, struct ade_error *err, const char *ptr,
		   const char *msg)
{
	if (ctx)
		return ade_stage_config_error(ctx, err, ptr, "%s", msg);
	return ade_error_set(err, ADE_EINVAL, "ADE_CONFIG %s: %s", ptr, msg);
}

static int str_list(const struct ade_stage_ctx *ctx, const cJSON *e, const char *key,
		    const char ***out, int *n, struct ade_error *err)
{
	char ptr[300];

	snprintf(ptr, sizeof(ptr), "/%s", key);
	if (!cJSON_IsArray(e))
		return cfg_err(ctx, err, ptr, "must be a list of column names");
	*n = cJSON_GetArraySize(e);
	*out = ade_xcalloc((size_t)*n + 1, sizeof(char *));
	int i = 0;
	for (const cJSON *c = e->child; c; c = c->next, i++) {
		if (!cJSON_IsString(c) || !*c->valuestring) {
			snprintf(ptr, sizeof(ptr), "/%s/%d", key, i);
			return cfg_err(ctx, err, ptr, "must be a column name");
		}
		(*out)[i] = c->valuestring;
	}
	return 0;
}

static int parse_cfg(const struct ade_stage_ctx *ctx, const cJSON *conf, struct cfg *c,
		     struct ade_error *err)
{
	const cJSON *alpha = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	c->standardize = 1;
	c->test_fraction = 0.2;
	c->threads = 2;
	for (const cJSON *e = conf ? conf->child : NULL; e; e = e->next) {
		const char *k = e->string;
		char ptr[300];
		snprintf(ptr, sizeof(ptr), "/%s", k);
		if (!strcmp(k, "target")) {
			if (!cJSON_IsString(e) || !*e->valuestring)
				return cfg_err(ctx, err, ptr, "target must be a column name");
			c->target = e->valuestring;
		} else if (!strcmp(k, "key")) {
			if (!cJSON_IsString(e) || !*e->valuestring)
				return cfg_err(ctx, err, ptr, "key must be a column name");
			c->key = e->valuestring;
		} else if (!strcmp(k, "numeric")) {
			if ((rc = str_list(ctx, e, k, &c->num, &c->nnum, err)))
				return rc;
		} else if (!strcmp(k, "categorical")) {
			if ((rc = str_list(ctx, e, k, &c->cat, &c->ncat, err)))
				return rc;
		} else if (!strcmp(k, "model")) {
			if (cJSON_IsString(e) && !strcmp(e->valuestring, "ols"))
				c->ridge = 0;
			else if (cJSON_IsString(e) && !strcmp(e->valuestring, "ridge"))
				c->ridge = 1;
			else
				return cfg_err(ctx, err, ptr, "model must be ols or ridge");
		} else if (!strcmp(k, "alpha")) {
			if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0) || !isfinite(e->valuedouble))
				return cfg_err(ctx, err, ptr, "alpha must be a number >= 0");
			alpha = e;
		} else if (!strcmp(k, "standardize")) {
			if (!cJSON_IsBool(e))
				return cfg_err(ctx, err, ptr, "standardize must be true or false");
			c->standardize = cJSON_IsTrue(e);
		} else if (!strcmp(k, "test_fraction")) {
			if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < 1))
				return cfg_err(ctx, err, ptr,
					       "test_fraction must be a number from 0 to below 1");
			c->test_fraction = e->valuedouble;
		} else if (!strcmp(k, "seed")) {
			if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 9007199254740991.0 ||
			    e->valuedouble != floor(e->valuedouble))
				return cfg_err(ctx, err, ptr, "seed must be an integer >= 0");
			c->seed = (uint64_t)e->valuedouble;
		} else if (!strcmp(k, "reference")) {
			if (!cJSON_IsObject(e))
				return cfg_err(ctx, err, ptr,
					       "reference must map categorical features to a level");
			for (const cJSON *r = e->child; r; r = r->next)
				if (!cJSON_IsString(r)) {
					snprintf(ptr, sizeof(ptr), "/reference/%s", r->string);
					return cfg_err(ctx, err, ptr, "must be a level (a string)");
				}
			c->reference = e;
		} else if (!strcmp(k, "threads")) {
			if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 64 ||
			    e->valuedouble != floor(e->valuedouble))
				return cfg_err(ctx, err, ptr, "threads must be an integer 1..64");
			c->threads = (int)e->valuedouble;
		} else if (!strcmp(k, "input")) {
			/* read by ade_stage_main_input */
		} else {
			char msg[400];
			snprintf(msg, sizeof(msg), "unknown key '%s' (see docs/train.md)", k);
			return cfg_err(ctx, err, ptr, msg);
		}
	}
	if (!c->target)
		return cfg_err(ctx, err, "", "target is required: the column to predict");
	if (c->nnum + c->ncat == 0)
		return cfg_err(ctx, err, "", "no features: list columns under numeric and/or categorical");
	if (alpha && !c->ridge && alpha->valuedouble != 0)
		return cfg_err(ctx, err, "/alpha", "alpha needs model: ridge");
	c->alpha = c->ridge ? (alpha ? alpha->valuedouble : 1.0) : 0.0;
	if (c->reference)
		for (const cJSON *r = c->reference->child; r; r = r->next) {
			int found = 0;
			for (int i = 0; i < c->ncat; i++)
				found |= !strcmp(c->cat[i], r->string);
			if (!found) {
				char ptr[300];
				snprintf(ptr, sizeof(ptr), "/reference/%s", r->string);
				return cfg_err(ctx, err, ptr, "not one of the categorical features");
			}
		}
	return 0;
}

/* ---------------- the passes ---------------- */

struct fit;

struct part {
	struct fit *F;
	int64_t from, to;
	/* pass 1 */
	int64_t n_train, n_test, n_skipped;
	double *sum;      /* numeric features, training non-nulls */
	int64_t *cnt;
	double ysum;
	int64_t **codes;  /* categorical: per code count (training rows) */
	int64_t *catnull;
	/* pass 2 */
	double *C;        /* q x q upper, q = p + 1 */
	int64_t syrk_ns;  /* time inside cblas_dsyrk */
	/* pass 3 */
	double abs_err, sq_err, dsum, dsq, base_abs;
	int64_t n_eval;
	/* scratch */
	double *X;
	int64_t *idx;
	uint8_t *mask;
};

struct fit {
	struct cfg cfg;
	struct ade_frame *fr;
	const struct ade_frame_column *key, *target;
	const struct ade_frame_column **numc, **catc;
	struct ade_model *m;
	struct ade_binding *bind;
	double *mean;     /* p: centring of each encoded column */
	double ymean;
	int pass;
};

static inline int is_null(const struct ade_frame_column *c, int64_t i)
{
	return c->valid && !c->valid[i];
}

static double target_value(const struct ade_frame_column *c, int64_t i, int *ok)
{
	double v;
	if (is_null(c, i)) {
		*ok = 0;
		return 0;
	}
	if (c->type == ADE_TYPE_FLOAT64)
		v = ((const double *)c->data)[i];
	else if (c->type == ADE_TYPE_BOOL)
		v = ((const uint8_t *)c->data)[i] != 0;
	else
		v = (double)((const int64_t *)c->data)[i];
	*ok = isfinite(v);
	return v;
}

/* mask: 0 training, 1 holdout, 2 skipped (no target) */
static void chunk_mask(struct fit *F, int64_t s, int n, uint8_t *mask)
{
	for (int r = 0; r < n; r++) {
		int ok;
		target_value(F->target, s + r, &ok);
		if (!ok) {
			mask[r] = 2;
			continue;
		}
		mask[r] = (uint8_t)ade_train_is_test(ade_train_key_hash(F->key, s + r, F->cfg.seed),
						     F->cfg.test_fraction);
	}
}

static void drop_all(struct fit *F, int64_t from, int64_t to)
{
	if (F->key)
		ade_train_drop_pages(F->key, from, to);
	ade_train_drop_pages(F->target, from, to);
	for (int i = 0; i < F->cfg.nnum; i++)
		ade_train_drop_pages(F->numc[i], from, to);
	for (int i = 0; i < F->cfg.ncat; i++)
		ade_train_drop_pages(F->catc[i], from, to);
}

static void pass1_chunk(struct part *P, int64_t s, int n)
{
	struct fit *F = P->F;
	uint8_t *mask = P->mask;

	for (int r = 0; r < n; r++) {
		P->n_train += mask[r] == 0;
		P->n_test += mask[r] == 1;
		P->n_skipped += mask[r] == 2;
	}
	for (int j = 0; j < F->cfg.nnum; j++) {
		const struct ade_frame_column *c = F->numc[j];
		double sum = 0;
		int64_t cnt = 0;
		for (int r = 0; r < n; r++) {
			int64_t i = s + r;
			if (mask[r] || is_null(c, i))
				continue;
			double v = c->type == ADE_TYPE_FLOAT64 ? ((const double *)c->data)[i]
				   : c->type == ADE_TYPE_BOOL  ? ((const uint8_t *)c->data)[i] != 0
							       : (double)((const int64_t *)c->data)[i];
			if (!isfinite(v))
				continue;
			sum += v;
			cnt++;
		}
		/* a chunk's sum is small; chunk sums are added to the total */
		P->sum[j] += sum;
		P->cnt[j] += cnt;
	}
	double ys = 0;
	for (int r = 0; r < n; r++) {
		int ok;
		if (!mask[r])
			ys += target_value(F->target, s + r, &ok);
	}
	P->ysum += ys;
	for (int j = 0; j < F->cfg.ncat; j++) {
		const struct ade_frame_column *c = F->catc[j];
		for (int r = 0; r < n; r++) {
			int64_t i = s + r;
			if (mask[r])
				continue;
			if (is_null(c, i)) {
				P->catnull[j]++;
				continue;
			}
			int32_t code = c->type == ADE_TYPE_BOOL ? ((const uint8_t *)c->data)[i] != 0
								: ((const int32_t *)c->data)[i];
			if (code < 0)
				P->catnull[j]++;
			else
				P->codes[j][code]++;
		}
	}
}

static void pass2_chunk(struct part *P, int64_t s, int n)
{
	struct fit *F = P->F;
	const int p = F->m->p, q = p + 1;
	int k = 0;

	for (int r = 0; r < n; r++)
		if (!P->mask[r])
			P->idx[k++] = s + r;
	if (!k)
		return;
	ade_encode_rows(F->bind, P->idx, 0, k, P->X, q, NULL);
	for (int r = 0; r < k; r++) {
		double *x = P->X + (size_t)r * q;
		int ok;
		for (int j = 0; j < p; j++)
			x[j] -= F->mean[j];
		x[p] = target_value(F->target, P->idx[r], &ok) - F->ymean;
	}
	int64_t t0 = ade_now_mono_ns();
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, q, k, 1.0, P->X, q, 1.0, P->C, q);
	P->syrk_ns += ade_now_mono_ns() - t0;
}

static void pass3_chunk(struct part *P, int64_t s, int n)
{
	struct fit *F = P->F;
	double pred[CHUNK];
	int k = 0;

	for (int r = 0; r < n; r++)
		if (P->mask[r] == 1)
			P->idx[k++] = s + r;
	if (!k)
		return;
	/* the function `ade predict` uses, so predictions agree bit for bit */
	ade_model_predict_idx(F->bind, P->idx, 0, k, P->X, pred, NULL);
	double ae = 0, se = 0, ds = 0, dq = 0, ba = 0;
	for (int r = 0; r < k; r++) {
		int ok;
		double y = target_value(F->target, P->idx[r], &ok);
		double e = y - pred[r];
		double d = y - F->ymean; /* shifted by the training mean: exact enough */
		ae += fabs(e);
		se += e * e;
		ds += d;
		dq += d * d;
		ba += fabs(d);
	}
	P->abs_err += ae;
	P->sq_err += se;
	P->dsum += ds;
	P->dsq += dq;
	P->base_abs += ba;
	P->n_eval += k;
}

static void *run_part(void *arg)
{
	struct part *P = arg;
	struct fit *F = P->F;
	int64_t dropped = P->from;
	int nchunk = 0;

	for (int64_t s = P->from; s < P->to; s += CHUNK) {
		int n = (int)(P->to - s < CHUNK ? P->to - s : CHUNK);
		chunk_mask(F, s, n, P->mask);
		if (F->pass == 1)
			pass1_chunk(P, s, n);
		else if (F->pass == 2)
			pass2_chunk(P, s, n);
		else
			pass3_chunk(P, s, n);
		if (++nchunk % DROP_EVERY == 0) {
			drop_all(F, dropped, s + n);
			dropped = s + n;
		}
	}
	drop_all(F, dropped, P->to);
	return NULL;
}

static int run_pass(struct fit *F, struct part *parts, int T, int pass, struct ade_error *err)
{
	pthread_t tid[64];
	int started = 0;

	F->pass = pass;
	for (int t = 1; t < T; t++) {
		if (pthread_create(&tid[t], NULL, run_part, &parts[t]))
			break;
		started = t;
	}
	/* threads that could not start are run here, in order */
	run_part(&parts[0]);
	for (int t = started + 1; t < T; t++)
		run_part(&parts[t]);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	(void)err;
	return 0;
}

/* ---------------- levels ---------------- */

static int lvl_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t xl = strlen(x), yl = strlen(y);
	int c = memcmp(x, y, xl < yl ? xl : yl);
	return c ? c : (xl > yl) - (xl < yl);
}

/* The training levels of categorical feature j: values with a count, sorted, distinct. */
static void build_levels(struct fit *F, struct part *parts, int T, int j,
			 struct ade_model_feature *f)
{
	const struct ade_frame_column *c = F->catc[j];
	int nd = c->type == ADE_TYPE_BOOL ? 2 : c->n_dict;
	char **lv = ade_xcalloc((size_t)nd + 1, sizeof(char *));
	int n = 0;

	for (int code = 0; code < nd; code++) {
		int64_t cnt = 0;
		for (int t = 0; t < T; t++)
			cnt += parts[t].codes[j][code];
		if (!cnt)
			continue;
		lv[n++] = ade_xstrdup(c->type == ADE_TYPE_BOOL ? (code ? "true" : "false") : c->dict[code]);
	}
	qsort(lv, (size_t)n, sizeof(char *), lvl_cmp);
	/* a dictionary may list a value twice: keep one level */
	int w = 0;
	for (int i = 0; i < n; i++) {
		if (w && !strcmp(lv[w - 1], lv[i])) {
			free(lv[i]);
			continue;
		}
		lv[w++] = lv[i];
	}
	f->levels = lv;
	f->nlevels = w;
	f->level_lens = ade_xcalloc((size_t)w + 1, sizeof(size_t));
	for (int i = 0; i < w; i++)
		f->level_lens[i] = strlen(lv[i]);
}

/* ---------------- solve ---------------- */

struct solve_info {
	const char *solver;
	int rank;
	double cond;      /* of the solved matrix (X'X, scaled); INFINITY if singular */
	double eff_cond;  /* largest / smallest kept singular value (dgelsd) */
};

/*
 * Solves A x = r for the p x p symmetric A (row-major, upper filled):
 * Cholesky with a condition estimate; if it fails or the estimate is
 * below RCOND_CHOL, the SVD-based dgelsd, whose answer is the
 * minimum-norm least-squares solution when A is singular.
 */
static int solve(int p, const double *A, const double *r, double *x, struct solve_info *si,
		 struct ade_error *err)
{
	double *L = ade_xmalloc((size_t)p * p * sizeof(double));
	double anorm = 0, rcond = 0;
	lapack_int info;

	memcpy(L, A, (size_t)p * p * sizeof(double));
	for (int j = 0; j < p; j++) {
		double s = 0;
		for (int i = 0; i < p; i++)
			s += fabs(i <= j ? A[(size_t)i * p + j] : A[(size_t)j * p + i]);
		anorm = s > anorm ? s : anorm;
	}
	info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', p, L, p);
	if (info == 0)
		info = LAPACKE_dpocon(LAPACK_ROW_MAJOR, 'U', p, L, p, anorm, &rcond);
	if (info == 0 && rcond >= RCOND_CHOL) {
		memcpy(x, r, (size_t)p * sizeof(double));
		info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', p, 1, L, p, x, 1);
		free(L);
		if (info)
			return ade_error_set(err, ADE_ESYS, "dpotrs failed (info %d)", (int)info);
		si->solver = "cholesky";
		si->rank = p;
		si->cond = 1.0 / rcond;
		si->eff_cond = si->cond;
		return 0;
	}
	/* full symmetric matrix for dgelsd */
	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++)
			L[(size_t)i * p + j] = i <= j ? A[(size_t)i * p + j] : A[(size_t)j * p + i];
	double *sv = ade_xcalloc((size_t)p, sizeof(double));
	lapack_int rank = 0;
	memcpy(x, r, (size_t)p * sizeof(double));
	info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, p, p, 1, L, p, x, 1, sv, RCOND_LSD, &rank);
	free(L);
	if (info) {
		free(sv);
		return ade_error_set(err, ADE_ESYS, "dgelsd did not converge (info %d)", (int)info);
	}
	si->solver = "dgelsd";
	si->rank = (int)rank;
	si->cond = sv[p - 1] > 0 ? sv[0] / sv[p - 1] : INFINITY;
	si->eff_cond = rank > 0 ? sv[0] / sv[rank - 1] : INFINITY;
	free(sv);
	return 0;
}

/* ---------------- the fit ---------------- */

static cJSON *num_or_null(double v)
{
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void warn(cJSON *warnings, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(cJSON *warnings, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ade_log_warn("%s", buf);
	cJSON_AddItemToArray(warnings, cJSON_CreateString(buf));
}

static int check_columns(const struct ade_stage_ctx *ctx, struct fit *F, struct ade_error *err)
{
	struct cfg *c = &F->cfg;
	char ptr[300], msg[600];
	int k = ade_frame_find(F->fr, c->target);

	if (k < 0) {
		snprintf(msg, sizeof(msg), "target column '%s' is not in the input frame", c->target);
		return cfg_err(ctx, err, "/target", msg);
	}
	F->target = &F->fr->cols[k];
	if (F->target->type != ADE_TYPE_INT64 && F->target->type != ADE_TYPE_FLOAT64 &&
	    F->target->type != ADE_TYPE_BOOL) {
		snprintf(msg, sizeof(msg), "target column '%s' is %s; it must be a number", c->target,
			 ade_type_name(F->target->type));
		return cfg_err(ctx, err, "/target", msg);
	}
	if (c->key) {
		k = ade_frame_find(F->fr, c->key);
		if (k < 0) {
			snprintf(msg, sizeof(msg), "key column '%s' is not in the input frame", c->key);
			return cfg_err(ctx, err, "/key", msg);
		}
		F->key = &F->fr->cols[k];
	}
	F->numc = ade_xcalloc((size_t)c->nnum + 1, sizeof(*F->numc));
	F->catc = ade_xcalloc((size_t)c->ncat + 1, sizeof(*F->catc));
	for (int pass = 0; pass < 2; pass++) {
		int n = pass ? c->ncat : c->nnum;
		for (int i = 0; i < n; i++) {
			const char *name = pass ? c->cat[i] : c->num[i];
			snprintf(ptr, sizeof(ptr), "/%s/%d", pass ? "categorical" : "numeric", i);
			if (!strcmp(name, c->target))
				return cfg_err(ctx, err, ptr, "the target cannot be a feature");
			for (int j = 0; j < c->nnum; j++)
				if ((pass || j < i) && !strcmp(c->num[j], name))
					return cfg_err(ctx, err, ptr, "listed twice");
			for (int j = 0; pass && j < i; j++)
				if (!strcmp(c->cat[j], name))
					return cfg_err(ctx, err, ptr, "listed twice");
			k = ade_frame_find(F->fr, name);
			if (k < 0) {
				snprintf(msg, sizeof(msg), "column '%s' is not in the input frame", name);
				return cfg_err(ctx, err, ptr, msg);
			}
			const struct ade_frame_column *col = &F->fr->cols[k];
			if (!pass) {
				if (col->type != ADE_TYPE_INT64 && col->type != ADE_TYPE_FLOAT64 &&
				    col->type != ADE_TYPE_BOOL) {
					snprintf(msg, sizeof(msg),
						 "column '%s' is %s; numeric features must be int64, "
						 "float64 or bool",
						 name, ade_type_name(col->type));
					return cfg_err(ctx, err, ptr, msg);
				}
				F->numc[i] = col;
			} else {
				if (col->type != ADE_TYPE_CATEGORICAL && col->type != ADE_TYPE_BOOL) {
					snprintf(msg, sizeof(msg),
						 "column '%s' is %s; categorical features must be "
						 "categorical or bool columns (ingest's schema_hints can "
						 "make a column categorical)",
						 name, ade_type_name(col->type));
					return cfg_err(ctx, err, ptr, msg);
				}
				F->catc[i] = col;
			}
		}
	}
	return 0;
}

int ade_train_fit(const struct ade_stage_ctx *ctx, const cJSON *config, const char *frame_dir,
		  struct ade_model **out, struct ade_error *err)
{
	struct fit F;
	struct part *parts = NULL;
	int T = 0, rc;
	cJSON *warnings = cJSON_CreateArray();
	int64_t t0 = ade_now_mono_ns(), t_p1 = 0, t_p2 = 0, t_p3 = 0, t_solve = 0;

	memset(&F, 0, sizeof(F));
	*out = NULL;
	rc = parse_cfg(ctx, config, &F.cfg, err);
	if (rc)
		goto done;
	rc = ade_frame_open(frame_dir, &F.fr, err);
	if (rc) {
		ade_error_prefix(err, "input frame");
		goto done;
	}
	/* ade_frame_open reads every string column's offsets once to check
	 * them; those pages are not needed here, so they leave RSS now */
	for (int i = 0; i < F.fr->ncols; i++)
		ade_train_drop_pages(&F.fr->cols[i], 0, F.fr->rows);
	rc = check_columns(ctx, &F, err);
	if (rc)
		goto done;
	/* 2 pthreads x single-threaded BLAS beat BLAS's own threads here */
	openblas_set_num_threads(1);

	struct cfg *c = &F.cfg;
	const int64_t rows = F.fr->rows;
	T = c->threads;
	if (rows < (int64_t)T * CHUNK)
		T = 1;
	parts = ade_xcalloc((size_t)T, sizeof(*parts));
	for (int t = 0; t < T; t++) {
		struct part *P = &parts[t];
		P->F = &F;
		/* chunk-aligned ranges */
		int64_t nch = (rows + CHUNK - 1) / CHUNK;
		P->from = nch * t / T * CHUNK;
		P->to = t == T - 1 ? rows : nch * (t + 1) / T * CHUNK;
		P->sum = ade_xcalloc((size_t)c->nnum + 1, sizeof(double));
		P->cnt = ade_xcalloc((size_t)c->nnum + 1, sizeof(int64_t));
		P->codes = ade_xcalloc((size_t)c->ncat + 1, sizeof(int64_t *));
		P->catnull = ade_xcalloc((size_t)c->ncat + 1, sizeof(int64_t));
		for (int j = 0; j < c->ncat; j++)
			P->codes[j] = ade_xcalloc((size_t)F.catc[j]->n_dict + 2, sizeof(int64_t));
		P->mask = ade_xmalloc(CHUNK);
		P->idx = ade_xmalloc(CHUNK * sizeof(int64_t));
	}

	/* ---- pass 1 ---- */
	run_pass(&F, parts, T, 1, err);
	t_p1 = ade_now_mono_ns();
	int64_t n_train = 0, n_test = 0, n_skipped = 0;
	double ysum = 0;
	for (int t = 0; t < T; t++) {
		n_train += parts[t].n_train;
		n_test += parts[t].n_test;
		n_skipped += parts[t].n_skipped;
		ysum += parts[t].ysum;
	}
	if (n_train == 0) {
		rc = ade_error_set(err, ADE_EDATA,
				   "no training rows: %lld rows, %lld in the holdout, %lld without a "
				   "target value",
				   (long long)rows, (long long)n_test, (long long)n_skipped);
		goto done;
	}
	if (n_skipped)
		warn(warnings, "%lld rows have no value of target '%s' and were left out",
		     (long long)n_skipped, c->target);

	struct ade_model *m = ade_xcalloc(1, sizeof(*m));
	F.m = m;
	m->format_version = ADE_MODEL_FORMAT_VERSION;
	m->target = ade_xstrdup(c->target);
	m->key = c->key ? ade_xstrdup(c->key) : NULL;
	m->nfeat = c->nnum + c->ncat;
	m->feat = ade_xcalloc((size_t)m->nfeat, sizeof(*m->feat));
	F.ymean = ysum / (double)n_train;
	int p = 0;
	for (int j = 0; j < c->nnum; j++) {
		struct ade_model_feature *f = &m->feat[j];
		double s = 0;
		int64_t n = 0;
		for (int t = 0; t < T; t++) {
			s += parts[t].sum[j];
			n += parts[t].cnt[j];
		}
		f->name = ade_xstrdup(c->num[j]);
		f->kind = ADE_FEAT_NUMERIC;
		f->first = p;
		f->width = 1;
		f->ref = -1;
		/* mean imputation: the imputed column keeps the training mean */
		f->impute = n ? s / (double)n : 0.0;
		if (!n)
			warn(warnings, "numeric feature '%s' has no value in the training rows",
			     f->name);
		else if (n < n_train)
			warn(warnings, "numeric feature '%s': %lld of %lld training values are "
				       "null, imputed with the training mean %.6g",
			     f->name, (long long)(n_train - n), (long long)n_train, f->impute);
		p++;
	}
	for (int j = 0; j < c->ncat; j++) {
		struct ade_model_feature *f = &m->feat[c->nnum + j];
		f->name = ade_xstrdup(c->cat[j]);
		f->kind = ADE_FEAT_CATEGORICAL;
		f->first = p;
		build_levels(&F, parts, T, j, f);
		const char *want = c->reference ? ade_json_str(c->reference, f->name, NULL) : NULL;
		f->ref = c->ridge || !f->nlevels ? -1 : 0;
		if (want) {
			f->ref = -1;
			for (int l = 0; l < f->nlevels; l++)
				if (!strcmp(f->levels[l], want))
					f->ref = l;
			if (f->ref < 0) {
				char ptr[300], msg[600];
				snprintf(ptr, sizeof(ptr), "/reference/%s", f->name);
				snprintf(msg, sizeof(msg), "'%s' is not a level of '%s' in the training rows",
					 want, f->name);
				rc = cfg_err(ctx, err, ptr, msg);
				goto done;
			}
		}
		f->width = f->nlevels - (f->ref >= 0);
		int64_t nn = 0;
		for (int t = 0; t < T; t++)
			nn += parts[t].catnull[j];
		if (nn)
			warn(warnings, "categorical feature '%s': %lld training values are null "
				       "(encoded as all zeros)",
			     f->name, (long long)nn);
		p += f->width;
	}
	m->p = p;
	m->colnames = ade_xcalloc((size_t)p + 1, sizeof(char *));
	m->coef = ade_xcalloc((size_t)p + 1, sizeof(double));
	m->col_mean = ade_xcalloc((size_t)p + 1, sizeof(double));
	m->col_scale = ade_xcalloc((size_t)p + 1, sizeof(double));
	F.mean = m->col_mean;
	for (int i = 0; i < m->nfeat; i++) {
		struct ade_model_feature *f = &m->feat[i];
		if (f->kind == ADE_FEAT_NUMERIC) {
			m->colnames[f->first] = ade_xstrdup(f->name);
			m->col_mean[f->first] = f->impute;
			continue;
		}
		int j = c->ncat ? i - c->nnum : 0;
		for (int l = 0, s = 0; l < f->nlevels; l++) {
			if (l == f->ref)
				continue;
			m->colnames[f->first + s] = ade_xasprintf("%s=%s", f->name, f->levels[l]);
			/* the mean of a one-hot column is its level's share */
			int64_t cnt = 0;
			const struct ade_frame_column *col = F.catc[j];
			int nd = col->type == ADE_TYPE_BOOL ? 2 : col->n_dict;
			for (int code = 0; code < nd; code++) {
				const char *v = col->type == ADE_TYPE_BOOL ? (code ? "true" : "false")
									   : col->dict[code];
				if (strcmp(v, f->levels[l]))
					continue;
				for (int t = 0; t < T; t++)
					cnt += parts[t].codes[j][code];
			}
			m->col_mean[f->first + s] = (double)cnt / (double)n_train;
			s++;
		}
	}
	rc = ade_model_bind(m, F.fr, &F.bind, err);
	if (rc)
		goto done;

	/* ---- pass 2 ---- */
	const int q = p + 1;
	for (int t = 0; t < T; t++) {
		parts[t].C = ade_xcalloc((size_t)q * q, sizeof(double));
		parts[t].X = ade_xmalloc((size_t)CHUNK * q * sizeof(double));
	}
	run_pass(&F, parts, T, 2, err);
	t_p2 = ade_now_mono_ns();
	double *C = parts[0].C;
	for (int t = 1; t < T; t++)
		for (size_t i = 0; i < (size_t)q * q; i++)
			C[i] += parts[t].C[i];

	/* ---- solve ---- */
	double *A = ade_xcalloc((size_t)p * p + 1, sizeof(double));
	double *r = ade_xcalloc((size_t)p + 1, sizeof(double));
	double *g = ade_xcalloc((size_t)p + 1, sizeof(double));
	double *s = m->col_scale;
	const double nt = (double)n_train;
	for (int j = 0; j < p; j++) {
		double d = C[(size_t)j * q + j];
		s[j] = c->standardize && d > 0 ? sqrt(d / nt) : 1.0;
		if (d <= 0)
			warn(warnings, "column '%s' is constant in the training rows", m->colnames[j]);
	}
	for (int i = 0; i < p; i++) {
		for (int j = i; j < p; j++)
			A[(size_t)i * p + j] = C[(size_t)i * q + j] / (s[i] * s[j]);
		r[i] = C[(size_t)i * q + p] / s[i];
	}
	/* exact collinearity between pairs names the culprits of a rank loss */
	int npairs = 0;
	for (int i = 0; i < p && npairs < 5; i++)
		for (int j = i + 1; j < p && npairs < 5; j++) {
			double aii = A[(size_t)i * p + i], ajj = A[(size_t)j * p + j];
			if (aii > 0 && ajj > 0 &&
			    fabs(A[(size_t)i * p + j]) / sqrt(aii * ajj) > 1 - 1e-12) {
				warn(warnings, "columns '%s' and '%s' are collinear in the training rows",
				     m->colnames[i], m->colnames[j]);
				npairs++;
			}
		}
	if (c->ridge)
		for (int j = 0; j < p; j++)
			A[(size_t)j * p + j] += c->alpha;
	struct solve_info si = {"none", 0, 0, 0};
	if (p > 0) {
		rc = solve(p, A, r, g, &si, err);
		if (rc) {
			free(A);
			free(r);
			free(g);
			goto done;
		}
	}
	if (si.rank < p)
		warn(warnings, "the design is rank deficient (rank %d of %d columns): the "
			       "coefficients are the minimum-norm least-squares solution%s",
		     si.rank, p, c->standardize ? " in standardized units" : "");
	else if (p && !strcmp(si.solver, "dgelsd"))
		warn(warnings, "the design is ill-conditioned (condition number %.3g of X'X): "
			       "solved with dgelsd",
		     si.cond);
	if (n_train <= p)
		warn(warnings, "%lld training rows for %d columns: the fit is underdetermined",
		     (long long)n_train, p);
	double icpt = F.ymean;
	for (int j = 0; j < p; j++) {
		m->coef[j] = g[j] / s[j];
		icpt -= m->coef[j] * m->col_mean[j];
	}
	m->intercept = icpt;
	/* training fit from the Gram matrix: SSE = y'y - 2 b'X'y + b'X'X b */
	double yy = C[(size_t)p * q + p], bxy = 0, bxxb = 0;
	for (int i = 0; i < p; i++) {
		bxy += m->coef[i] * C[(size_t)i * q + p];
		for (int j = 0; j < p; j++)
			bxxb += m->coef[i] * m->coef[j] *
				(i <= j ? C[(size_t)i * q + j] : C[(size_t)j * q + i]);
	}
	double sse_train = yy - 2 * bxy + bxxb;
	if (sse_train < 0)
		sse_train = 0;
	free(A);
	free(r);
	free(g);
	ade_model_compute_version(m);
	t_solve = ade_now_mono_ns();

	/* ---- pass 3 ---- */
	double ae = 0, se = 0, dsum = 0, dsq = 0, ba = 0;
	int64_t ne = 0;
	if (n_test) {
		run_pass(&F, parts, T, 3, err);
		for (int t = 0; t < T; t++) {
			ae += parts[t].abs_err;
			se += parts[t].sq_err;
			dsum += parts[t].dsum;
			dsq += parts[t].dsq;
			ba += parts[t].base_abs;
			ne += parts[t].n_eval;
		}
	} else {
		warn(warnings, "test_fraction is 0 or no row fell in the holdout: no holdout metrics");
	}
	t_p3 = ade_now_mono_ns();

	/* ---- the document ---- */
	cJSON *d = ade_model_to_json(m);
	cJSON *mo = cJSON_AddObjectToObject(d, "model");
	cJSON_AddStringToObject(mo, "kind", c->ridge ? "ridge" : "ols");
	cJSON_AddNumberToObject(mo, "alpha", c->alpha);
	cJSON_AddBoolToObject(mo, "standardize", c->standardize);
	cJSON_AddStringToObject(mo, "solver", si.solver);
	cJSON_AddNumberToObject(mo, "rank", si.rank);
	cJSON_AddNumberToObject(mo, "columns", p);
	cJSON_AddItemToObject(mo, "condition_number", num_or_null(si.cond));
	cJSON *sp = cJSON_AddObjectToObject(d, "split");
	if (c->key)
		cJSON_AddStringToObject(sp, "key", c->key);
	else
		cJSON_AddNullToObject(sp, "key");
	cJSON_AddNumberToObject(sp, "seed", (double)c->seed);
	cJSON_AddNumberToObject(sp, "test_fraction", c->test_fraction);
	cJSON_AddStringToObject(sp, "hash", "xxh3-64(key text, seed) / 2^64 < test_fraction");
	cJSON *td = cJSON_AddObjectToObject(d, "training_data");
	cJSON_AddStringToObject(td, "path", frame_dir);
	cJSON_AddStringToObject(td, "content_hash", ade_json_str(F.fr->schema, "content_hash", ""));
	cJSON_AddNumberToObject(td, "rows", (double)rows);
	cJSON_AddNumberToObject(td, "rows_without_target", (double)n_skipped);
	cJSON *me = cJSON_AddObjectToObject(d, "metrics");
	cJSON_AddNumberToObject(me, "n_train", (double)n_train);
	cJSON_AddNumberToObject(me, "n_test", (double)ne);
	if (ne) {
		double mae = ae / (double)ne, bmae = ba / (double)ne;
		double sst = dsq - dsum * dsum / (double)ne;
		cJSON_AddItemToObject(me, "mae", num_or_null(mae));
		cJSON_AddItemToObject(me, "rmse", num_or_null(sqrt(se / (double)ne)));
		cJSON_AddItemToObject(me, "r2", num_or_null(sst > 0 ? 1 - se / sst : NAN));
		cJSON_AddItemToObject(me, "baseline_mae", num_or_null(bmae));
		cJSON_AddItemToObject(me, "mae_lift", num_or_null(bmae > 0 ? 1 - mae / bmae : NAN));
	}
	cJSON_AddItemToObject(me, "train_r2", num_or_null(yy > 0 ? 1 - sse_train / yy : NAN));
	cJSON_AddItemToObject(me, "residual_std",
			      num_or_null(n_train > si.rank + 1
						  ? sqrt(sse_train / (double)(n_train - si.rank - 1))
						  : NAN));
	cJSON_AddNumberToObject(me, "rank", si.rank);
	cJSON_AddItemToObject(me, "condition_number", num_or_null(si.cond));
	double gflop = (double)q * (q + 1) * (double)n_train / 1e9;
	double s2 = (double)(t_p2 - t_p1) / 1e9;
	cJSON *tm = cJSON_AddObjectToObject(d, "timing");
	cJSON_AddNumberToObject(tm, "pass1_seconds", (double)(t_p1 - t0) / 1e9);
	cJSON_AddNumberToObject(tm, "gram_seconds", s2);
	cJSON_AddNumberToObject(tm, "solve_seconds", (double)(t_solve - t_p2) / 1e9);
	cJSON_AddNumberToObject(tm, "holdout_seconds", (double)(t_p3 - t_solve) / 1e9);
	cJSON_AddNumberToObject(tm, "gram_gflop", gflop);
	cJSON_AddItemToObject(tm, "gram_gflops", num_or_null(s2 > 0 ? gflop / s2 : NAN));
	/* dsyrk alone: its flops over the threads' mean time inside it */
	double syrk = 0;
	for (int t = 0; t < T; t++)
		syrk += (double)parts[t].syrk_ns / 1e9;
	syrk /= T;
	cJSON_AddNumberToObject(tm, "dsyrk_seconds", syrk);
	cJSON_AddItemToObject(tm, "dsyrk_gflops", num_or_null(syrk > 0 ? gflop / syrk : NAN));
	cJSON_AddNumberToObject(tm, "threads", T);
	cJSON_AddItemToObject(d, "warnings", warnings);
	warnings = NULL;
	m->doc = d;
	*out = m;
	F.m = NULL;
	rc = 0;
done:
	for (int t = 0; t < T && parts; t++) {
		struct part *P = &parts[t];
		free(P->sum);
		free(P->cnt);
		for (int j = 0; j < F.cfg.ncat; j++)
			free(P->codes ? P->codes[j] : NULL);
		free(P->codes);
		free(P->catnull);
		free(P->C);
		free(P->X);
		free(P->idx);
		free(P->mask);
	}
	free(parts);
	ade_binding_free(F.bind);
	ade_model_free(F.m);
	free(F.numc);
	free(F.catc);
	free(F.cfg.num);
	free(F.cfg.cat);
	ade_frame_close(F.fr);
	cJSON_Delete(warnings);
	return rc;
}

/* ---------------- the stage ---------------- */

int ade_train_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	const char *indir;
	char *frame_dir = NULL, *mpath = NULL;
	struct ade_model *m = NULL;
	int rc = ade_stage_main_input(ctx->config, &indir, err);

	if (rc)
		return rc;
	frame_dir = ade_xasprintf("%s/frame", indir);
	rc = ade_train_fit(ctx, ctx->config, frame_dir, &m, err);
	if (rc)
		goto out;

	cJSON *d = m->doc;
	char now[32];
	ade_format_utc(ade_now_wall_us(), now);
	cJSON_AddStringToObject(d, "pipeline", ctx->pipeline ? ctx->pipeline : "");
	cJSON_AddStringToObject(d, "stage", ctx->stage ? ctx->stage : "");
	cJSON_AddStringToObject(d, "ds", ctx->ds ? ctx->ds : "");
	cJSON_AddStringToObject(d, "run_id", ctx->run_id ? ctx->run_id : "");
	cJSON_AddStringToObject(d, "created_at", now);
	mpath = ade_xasprintf("%s/model.json", ctx->out);
	rc = ade_json_write_file(mpath, d, 1, err);
	if (rc)
		goto out;

	const cJSON *me = cJSON_GetObjectItemCaseSensitive(d, "metrics");
	const cJSON *td = cJSON_GetObjectItemCaseSensitive(d, "training_data");
	const cJSON *wa = cJSON_GetObjectItemCaseSensitive(d, "warnings");
	cJSON *res = ade_stage_result_new(ctx, cJSON_GetArraySize(wa) ? "warn" : "ok");
	cJSON_AddNumberToObject(res, "rows_in", ade_json_num(td, "rows", 0));
	cJSON_AddNumberToObject(res, "rows_out", 0);
	cJSON_AddStringToObject(res, "model_version", m->version);
	cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
	cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
	cJSON *in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "path", frame_dir);
	cJSON_AddStringToObject(in, "format", "ade-frame");
	cJSON_AddNumberToObject(in, "rows", ade_json_num(td, "rows", 0));
	cJSON_AddStringToObject(in, "hash", ade_json_str(td, "content_hash", ""));
	cJSON_AddItemToArray(ins, in);
	cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", "model.json");
	cJSON_AddStringToObject(o, "format", "ade-model");
	cJSON_AddStringToObject(o, "version", m->version);
	cJSON_AddItemToArray(outs, o);
	cJSON_AddItemToObject(res, "metrics", cJSON_Duplicate(me, 1));
	/* rows for the warehouse's model_metrics(pipeline, ds, model_version, metric, value) */
	cJSON *mm = cJSON_AddArrayToObject(res, "model_metrics");
	for (const cJSON *e = me ? me->child : NULL; e; e = e->next) {
		if (!cJSON_IsNumber(e))
			continue;
		cJSON *row = cJSON_CreateObject();
		cJSON_AddStringToObject(row, "model_version", m->version);
		cJSON_AddStringToObject(row, "metric", e->string);
		cJSON_AddNumberToObject(row, "value", e->valuedouble);
		cJSON_AddItemToArray(mm, row);
	}
	cJSON_AddItemToObject(res, "model", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "model"), 1));
	cJSON_AddItemToObject(res, "warnings", cJSON_Duplicate(wa, 1));
	rc = ade_stage_result_write(ctx, res, err);
	cJSON_Delete(res);
	if (!rc)
		ade_log_info("model %s: %lld train / %lld holdout rows, MAE %.6g (baseline %.6g), "
			     "RMSE %.6g, R2 %.6f, rank %.0f, %s",
			     m->version, (long long)ade_json_num(me, "n_train", 0),
			     (long long)ade_json_num(me, "n_test", 0), ade_json_num(me, "mae", NAN),
			     ade_json_num(me, "baseline_mae", NAN), ade_json_num(me, "rmse", NAN),
			     ade_json_num(me, "r2", NAN), ade_json_num(me, "rank", 0),
			     ade_json_str(cJSON_GetObjectItemCaseSensitive(d, "model"), "solver", ""));
out:
	ade_model_free(m);
	free(frame_dir);
	free(mpath);
	return rc;
}

int ade_train_exit_code(int rc)
{
	switch (rc) {
	case 0:
		return ADE_EXIT_OK;
	case ADE_EINVAL:
		return ADE_EXIT_USAGE;
	case ADE_EDATA:
		return ADE_EXIT_DATA;
	default:
		return ADE_EXIT_FAILED;
	}
}
