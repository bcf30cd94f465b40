/*
 * The model file and the encoding.  Training, holdout evaluation and
 * `ade predict` all encode rows with ade_encode_rows, so a served model
 * sees exactly what the fit saw.
 */
#include "train.h"
#include "core/error.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

/* ---------------- model lifetime ---------------- */

void ade_model_free(struct ade_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nfeat; i++) {
		struct ade_model_feature *f = &m->feat[i];
		free(f->name);
		for (int j = 0; j < f->nlevels; j++)
			free(f->levels[j]);
		free(f->levels);
		free(f->level_lens);
	}
	free(m->feat);
	for (int j = 0; j < m->p; j++)
		free(m->colnames ? m->colnames[j] : NULL);
	free(m->colnames);
	free(m->coef);
	free(m->col_mean);
	free(m->col_scale);
	free(m->target);
	free(m->key);
	cJSON_Delete(m->doc);
	free(m);
}

/* ---------------- version ---------------- */

/*
 * The version is a content hash of what decides a prediction: target,
 * features, encoding, imputation, coefficients and intercept (numbers as
 * %.17g, which round-trips).  Retraining on identical data with the same
 * config gives the same version; any change to the fit gives a new one.
 */
void ade_model_compute_version(struct ade_model *m)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_addf(&sb, "ade-model\n%s\n", m->target);
	for (int i = 0; i < m->nfeat; i++) {
		const struct ade_model_feature *f = &m->feat[i];
		if (f->kind == ADE_FEAT_NUMERIC) {
			ade_strbuf_addf(&sb, "N\t%s\t%.17g\n", f->name, f->impute);
		} else {
			ade_strbuf_addf(&sb, "C\t%s\t%d", f->name, f->ref);
			for (int j = 0; j < f->nlevels; j++) {
				ade_strbuf_addc(&sb, '\t');
				ade_strbuf_add(&sb, f->levels[j], f->level_lens[j] + 1);
			}
			ade_strbuf_addc(&sb, '\n');
		}
	}
	for (int j = 0; j < m->p; j++)
		ade_strbuf_addf(&sb, "%.17g\n", m->coef[j]);
	ade_strbuf_addf(&sb, "%.17g\n", m->intercept);
	XXH64_hash_t h = XXH3_64bits(sb.buf, sb.len);
	snprintf(m->version, sizeof(m->version), "%016llx", (unsigned long long)h);
	ade_strbuf_release(&sb);
}

/* ---------------- writing ---------------- */

/*
 * Model parameters are written as raw %.17g text: cJSON's own printer
 * keeps a number when it reads back within an epsilon, which would let a
 * served model differ from the trained one in the last bit (and change
 * its version).  %.17g round-trips every finite double through strtod.
 */
static cJSON *exact(double v)
{
	char buf[40];
	snprintf(buf, sizeof(buf), "%.17g", isfinite(v) ? v : 0.0);
	return cJSON_CreateRaw(buf);
}

static cJSON *num_array(const double *v, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, exact(v[i]));
	return a;
}

cJSON *ade_model_to_json(const struct ade_model *m)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "format", "ade-model");
	cJSON_AddNumberToObject(d, "format_version", ADE_MODEL_FORMAT_VERSION);
	cJSON_AddStringToObject(d, "model_version", m->version);
	cJSON_AddStringToObject(d, "target", m->target);
	if (m->key)
		cJSON_AddStringToObject(d, "key", m->key);
	else
		cJSON_AddNullToObject(d, "key");
	cJSON *fa = cJSON_AddArrayToObject(d, "features");
	for (int i = 0; i < m->nfeat; i++) {
		const struct ade_model_feature *f = &m->feat[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", f->name);
		if (f->kind == ADE_FEAT_NUMERIC) {
			cJSON_AddStringToObject(o, "kind", "numeric");
			cJSON_AddItemToObject(o, "impute", exact(f->impute));
		} else {
			cJSON_AddStringToObject(o, "kind", "categorical");
			cJSON *lv = cJSON_AddArrayToObject(o, "levels");
			for (int j = 0; j < f->nlevels; j++)
				cJSON_AddItemToArray(lv, cJSON_CreateString(f->levels[j]));
			if (f->ref >= 0)
				cJSON_AddStringToObject(o, "reference", f->levels[f->ref]);
			else
				cJSON_AddNullToObject(o, "reference");
		}
		cJSON_AddItemToArray(fa, o);
	}
	cJSON *cn = cJSON_AddArrayToObject(d, "columns");
	for (int j = 0; j < m->p; j++)
		cJSON_AddItemToArray(cn, cJSON_CreateString(m->colnames[j]));
	cJSON_AddItemToObject(d, "coefficients", num_array(m->coef, m->p));
	cJSON_AddItemToObject(d, "intercept", exact(m->intercept));
	cJSON *st = cJSON_AddObjectToObject(d, "standardization");
	cJSON_AddItemToObject(st, "mean", num_array(m->col_mean, m->p));
	cJSON_AddItemToObject(st, "scale", num_array(m->col_scale, m->p));
	return d;
}

/* ---------------- reading ---------------- */

static int bad(struct ade_error *err, const char *path, const char *what)
{
	return ade_error_set(err, ADE_EPARSE, "model file %s: %s", path, what);
}

static int read_nums(const cJSON *a, int n, double **out)
{
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
		return -1;
	double *v = ade_xcalloc((size_t)n + 1, sizeof(double));
	int i = 0;
	for (const cJSON *e = a->child; e; e = e->next, i++) {
		if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
			free(v);
			return -1;
		}
		v[i] = e->valuedouble;
	}
	*out = v;
	return 0;
}

static int level_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

int ade_model_read(const char *path, struct ade_model **out, struct ade_error *err)
{
	cJSON *d = NULL;
	int rc = ade_json_read_file(path, &d, err);

	*out = NULL;
	if (rc) {
		if (rc == ADE_EPARSE)
			ade_error_prefix(err, "model file is truncated or not JSON");
		return rc;
	}
	if (!cJSON_IsObject(d) || strcmp(ade_json_str(d, "format", ""), "ade-model")) {
		cJSON_Delete(d);
		return bad(err, path, "not an ade model (\"format\" is not \"ade-model\")");
	}
	const cJSON *fv = cJSON_GetObjectItemCaseSensitive(d, "format_version");
	if (!cJSON_IsNumber(fv) || fv->valuedouble < 1 || fv->valuedouble != floor(fv->valuedouble)) {
		cJSON_Delete(d);
		return bad(err, path, "\"format_version\" is missing or not a positive integer");
	}
	if (fv->valuedouble > ADE_MODEL_FORMAT_VERSION) {
		rc = ade_error_set(err, ADE_EINVAL,
				   "model file %s has format version %.0f; this ade reads versions "
				   "up to %d: upgrade ade to use it",
				   path, fv->valuedouble, ADE_MODEL_FORMAT_VERSION);
		cJSON_Delete(d);
		return rc;
	}

	struct ade_model *m = ade_xcalloc(1, sizeof(*m));
	m->doc = d;
	m->format_version = (int)fv->valuedouble;
	const char *s = ade_json_str(d, "model_version", NULL);
	const char *target = ade_json_str(d, "target", NULL);
	const cJSON *feats = cJSON_GetObjectItemCaseSensitive(d, "features");
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(d, "columns");
	const cJSON *coef = cJSON_GetObjectItemCaseSensitive(d, "coefficients");
	const cJSON *icpt = cJSON_GetObjectItemCaseSensitive(d, "intercept");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "standardization");
	const char *why = NULL;

	if (!s || strlen(s) != 16)
		why = "\"model_version\" is missing";
	else if (!target || !*target)
		why = "\"target\" is missing";
	else if (!cJSON_IsArray(feats) || !cJSON_GetArraySize(feats))
		why = "\"features\" is missing or empty";
	else if (!cJSON_IsArray(cols))
		why = "\"columns\" is missing";
	else if (!cJSON_IsNumber(icpt) || !isfinite(icpt->valuedouble))
		why = "\"intercept\" is missing or not a finite number";
	if (why)
		goto fail;
	memcpy(m->version, s, 16);
	m->target = ade_xstrdup(target);
	s = ade_json_str(d, "key", NULL);
	m->key = s && *s ? ade_xstrdup(s) : NULL;
	m->intercept = icpt->valuedouble;
	m->nfeat = cJSON_GetArraySize(feats);
	m->feat = ade_xcalloc((size_t)m->nfeat, sizeof(*m->feat));
	int i = 0, p = 0;
	for (const cJSON *e = feats->child; e; e = e->next, i++) {
		struct ade_model_feature *f = &m->feat[i];
		const char *name = ade_json_str(e, "name", NULL);
		const char *kind = ade_json_str(e, "kind", "");
		if (!name || !*name) {
			why = "a feature has no name";
			goto fail;
		}
		f->name = ade_xstrdup(name);
		f->first = p;
		f->ref = -1;
		if (!strcmp(kind, "numeric")) {
			const cJSON *imp = cJSON_GetObjectItemCaseSensitive(e, "impute");
			if (!cJSON_IsNumber(imp) || !isfinite(imp->valuedouble)) {
				why = "a numeric feature has no finite \"impute\"";
				goto fail;
			}
			f->kind = ADE_FEAT_NUMERIC;
			f->impute = imp->valuedouble;
			f->width = 1;
		} else if (!strcmp(kind, "categorical")) {
			const cJSON *lv = cJSON_GetObjectItemCaseSensitive(e, "levels");
			const cJSON *ref = cJSON_GetObjectItemCaseSensitive(e, "reference");
			f->kind = ADE_FEAT_CATEGORICAL;
			if (!cJSON_IsArray(lv)) {
				why = "a categorical feature has no \"levels\"";
				goto fail;
			}
			f->nlevels = cJSON_GetArraySize(lv);
			f->levels = ade_xcalloc((size_t)f->nlevels + 1, sizeof(char *));
			f->level_lens = ade_xcalloc((size_t)f->nlevels + 1, sizeof(size_t));
			int j = 0;
			for (const cJSON *l = lv->child; l; l = l->next, j++) {
				if (!cJSON_IsString(l)) {
					why = "a level is not a string";
					goto fail;
				}
				f->levels[j] = ade_xstrdup(l->valuestring);
				f->level_lens[j] = strlen(l->valuestring);
				/* predict binary-searches the levels */
				if (j && level_cmp(f->levels[j - 1], f->level_lens[j - 1], f->levels[j],
						   f->level_lens[j]) >= 0) {
					why = "levels are not sorted and distinct";
					goto fail;
				}
				if (cJSON_IsString(ref) && !strcmp(ref->valuestring, l->valuestring))
					f->ref = j;
			}
			if (cJSON_IsString(ref) && f->ref < 0) {
				why = "a \"reference\" is not one of the levels";
				goto fail;
			}
			f->width = f->nlevels - (f->ref >= 0);
		} else {
			why = "a feature's \"kind\" is neither numeric nor categorical";
			goto fail;
		}
		p += f->width;
	}
	m->p = p;
	if (cJSON_GetArraySize(cols) != p) {
		why = "\"columns\" does not match the features' encoding";
		goto fail;
	}
	m->colnames = ade_xcalloc((size_t)p + 1, sizeof(char *));
	i = 0;
	for (const cJSON *e = cols->child; e; e = e->next, i++)
		m->colnames[i] = ade_xstrdup(cJSON_IsString(e) ? e->valuestring : "");
	if (read_nums(coef, p, &m->coef)) {
		why = "\"coefficients\" is missing, of the wrong length or not finite";
		goto fail;
	}
	if (read_nums(cJSON_GetObjectItemCaseSensitive(st, "mean"), p, &m->col_mean) ||
	    read_nums(cJSON_GetObjectItemCaseSensitive(st, "scale"), p, &m->col_scale)) {
		why = "\"standardization\" is missing or of the wrong length";
		goto fail;
	}
	*out = m;
	return 0;
fail:
	rc = bad(err, path, why);
	ade_model_free(m);
	return rc;
}

/* ---------------- binding and encoding ---------------- */

enum src {
	SRC_MISSING,  /* never bound: ade_model_bind refuses missing columns */
	SRC_I64,
	SRC_F64,
	SRC_BOOL,
	SRC_CODES,    /* categorical: code → column through map */
	SRC_STRING,   /* categorical from a string column: binary search */
	SRC_I64_TEXT, /* categorical from int64: its decimal text */
	SRC_ALLNULL,  /* numeric feature whose input column has only nulls */
};

struct bound {
	const struct ade_model_feature *f;
	const struct ade_frame_column *c;
	enum src src;
	/* SRC_CODES: code → encoded offset within the feature, -1 no column
	 * (the reference), -2 unseen; bool uses map[0], map[1] */
	int32_t *map;
};

struct ade_binding {
	const struct ade_model *m;
	const struct ade_frame *f;
	struct bound *b;
};

/* The level index of a value, or -1 when not among the levels. */
static int find_level(const struct ade_model_feature *f, const char *s, size_t len)
{
	int lo = 0, hi = f->nlevels - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = level_cmp(f->levels[mid], f->level_lens[mid], s, len);
		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int32_t level_slot(const struct ade_model_feature *f, int lv)
{
	if (lv < 0)
		return -2;
	if (lv == f->ref)
		return -1;
	return lv - (f->ref >= 0 && lv > f->ref);
}

int ade_model_bind(const struct ade_model *m, const struct ade_frame *fr,
		   struct ade_binding **out, struct ade_error *err)
{
	struct ade_binding *b = ade_xcalloc(1, sizeof(*b));

	b->m = m;
	b->f = fr;
	b->b = ade_xcalloc((size_t)m->nfeat, sizeof(*b->b));
	for (int i = 0; i < m->nfeat; i++) {
		const struct ade_model_feature *f = &m->feat[i];
		struct bound *bd = &b->b[i];
		int k = ade_frame_find(fr, f->name);
		bd->f = f;
		if (k < 0) {
			ade_binding_free(b);
			return ade_error_set(err, ADE_EINVAL,
					     "the input has no column '%s', a feature of the model",
					     f->name);
		}
		const struct ade_frame_column *c = &fr->cols[k];
		bd->c = c;
		if (f->kind == ADE_FEAT_NUMERIC) {
			if (c->type == ADE_TYPE_INT64)
				bd->src = SRC_I64;
			else if (c->type == ADE_TYPE_FLOAT64)
				bd->src = SRC_F64;
			else if (c->type == ADE_TYPE_BOOL)
				bd->src = SRC_BOOL;
			else if (c->null_count == fr->rows)
				bd->src = SRC_ALLNULL;
			else {
				ade_binding_free(b);
				return ade_error_set(err, ADE_EINVAL,
						     "column '%s' is %s; the model needs a number "
						     "(int64, float64 or bool)",
						     f->name, ade_type_name(c->type));
			}
			continue;
		}
		if (c->type == ADE_TYPE_CATEGORICAL) {
			bd->src = SRC_CODES;
			bd->map = ade_xcalloc((size_t)c->n_dict + 1, sizeof(int32_t));
			for (int32_t j = 0; j < c->n_dict; j++)
				bd->map[j] = level_slot(f, find_level(f, c->dict[j], c->dict_len[j]));
		} else if (c->type == ADE_TYPE_BOOL) {
			bd->src = SRC_CODES;
			bd->map = ade_xcalloc(2, sizeof(int32_t));
			bd->map[0] = level_slot(f, find_level(f, "false", 5));
			bd->map[1] = level_slot(f, find_level(f, "true", 4));
		} else if (c->type == ADE_TYPE_STRING) {
			bd->src = SRC_STRING;
		} else if (c->type == ADE_TYPE_INT64) {
			bd->src = SRC_I64_TEXT;
		} else {
			ade_binding_free(b);
			return ade_error_set(err, ADE_EINVAL,
					     "column '%s' is %s; the model needs a category "
					     "(categorical, string, bool or int64)",
					     f->name, ade_type_name(c->type));
		}
	}
	*out = b;
	return 0;
}

void ade_binding_free(struct ade_binding *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->m->nfeat; i++)
		free(b->b[i].map);
	free(b->b);
	free(b);
}

static inline int64_t row_of(const int64_t *rows, int64_t start, int r)
{
	return rows ? rows[r] : start + r;
}

static inline int is_null(const struct ade_frame_column *c, int64_t i)
{
	return c->valid && !c->valid[i];
}

void ade_encode_rows(const struct ade_binding *b, const int64_t *rows, int64_t start, int n,
		     double *X, int ld, struct ade_encode_counts *counts)
{
	const struct ade_model *m = b->m;

	/* Column by column: each feature's source is read sequentially. */
	for (int fi = 0; fi < m->nfeat; fi++) {
		const struct bound *bd = &b->b[fi];
		const struct ade_model_feature *f = bd->f;
		const struct ade_frame_column *c = bd->c;
		double *x = X + f->first;
		int64_t nimp = 0, nunseen = 0, nnull = 0;

		if (f->kind == ADE_FEAT_NUMERIC) {
			const double imp = f->impute;
			switch (bd->src) {
			case SRC_I64: {
				const int64_t *v = c->data;
				for (int r = 0; r < n; r++) {
					int64_t i = row_of(rows, start, r);
					int nul = is_null(c, i);
					x[(size_t)r * ld] = nul ? imp : (double)v[i];
					nimp += nul;
				}
				break;
			}
			case SRC_F64: {
				const double *v = c->data;
				for (int r = 0; r < n; r++) {
					int64_t i = row_of(rows, start, r);
					double d = v[i];
					/* a NaN value is as unknown as a null */
					int nul = is_null(c, i) || isnan(d) || isinf(d);
					x[(size_t)r * ld] = nul ? imp : d;
					nimp += nul;
				}
				break;
			}
			case SRC_BOOL: {
				const uint8_t *v = c->data;
				for (int r = 0; r < n; r++) {
					int64_t i = row_of(rows, start, r);
					int nul = is_null(c, i);
					x[(size_t)r * ld] = nul ? imp : (double)(v[i] != 0);
					nimp += nul;
				}
				break;
			}
			default:
				for (int r = 0; r < n; r++)
					x[(size_t)r * ld] = imp;
				nimp = n;
				break;
			}
			if (counts)
				counts->imputed[fi] += nimp;
			continue;
		}

		for (int r = 0; r < n; r++)
			for (int j = 0; j < f->width; j++)
				x[(size_t)r * ld + j] = 0.0;
		for (int r = 0; r < n; r++) {
			int64_t i = row_of(rows, start, r);
			int32_t slot;
			if (is_null(c, i)) {
				nnull++;
				continue;
			}
			if (bd->src == SRC_CODES) {
				int32_t code = c->type == ADE_TYPE_BOOL ? ((const uint8_t *)c->data)[i] != 0
									 : ((const int32_t *)c->data)[i];
				if (code < 0) {
					nnull++;
					continue;
				}
				slot = bd->map[code];
			} else if (bd->src == SRC_STRING) {
				size_t len;
				const char *s = ade_frame_str(c, i, &len);
				slot = level_slot(f, find_level(f, s, len));
			} else {
				char buf[24];
				int len = snprintf(buf, sizeof(buf), "%lld",
						   (long long)((const int64_t *)c->data)[i]);
				slot = level_slot(f, find_level(f, buf, (size_t)len));
			}
			if (slot >= 0)
				x[(size_t)r * ld + slot] = 1.0;
			else if (slot == -2)
				nunseen++;
		}
		if (counts) {
			counts->unseen[fi] += nunseen;
			counts->nulls[fi] += nnull;
		}
	}
}

void ade_model_predict_idx(const struct ade_binding *b, const int64_t *rows, int64_t start,
			   int n, double *X, double *pred, struct ade_encode_counts *counts)
{
	const struct ade_model *m = b->m;
	const int p = m->p;

	ade_encode_rows(b, rows, start, n, X, p, counts);
	/*
	 * A plain dot product, not BLAS: `ade` links this file without
	 * OpenBLAS (whose thread pool would start in every `ade` process),
	 * and training's holdout pass calls this same function, so both
	 * produce bit-identical predictions.
	 */
	for (int r = 0; r < n; r++) {
		const double *x = X + (size_t)r * p;
		double s = 0;
		for (int j = 0; j < p; j++)
			s += x[j] * m->coef[j];
		pred[r] = m->intercept + s;
	}
}

void ade_model_predict_rows(const struct ade_binding *b, int64_t start, int n, double *X,
			    double *pred, struct ade_encode_counts *counts)
{
	ade_model_predict_idx(b, NULL, start, n, X, pred, counts);
}

static void drop_range(const void *base, size_t elem, int64_t from, int64_t to)
{
	static long page;
	if (!base || to <= from)
		return;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)base + (uintptr_t)from * elem;
	uintptr_t e = (uintptr_t)base + (uintptr_t)to * elem;
	/* inward rounding: a page shared with a neighbouring range stays */
	a = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	e &= ~((uintptr_t)page - 1);
	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

void ade_train_drop_pages(const struct ade_frame_column *c, int64_t from, int64_t to)
{
	size_t elem = c->type == ADE_TYPE_BOOL		  ? 1
		      : c->type == ADE_TYPE_CATEGORICAL ? 4
		      : c->type == ADE_TYPE_STRING	  ? 0
							  : 8;
	if (elem)
		drop_range(c->data, elem, from, to);
	else
		drop_range(c->offsets, 8, from, to);
	drop_range(c->valid, 1, from, to);
}

void ade_binding_drop_pages(const struct ade_binding *b, int64_t from, int64_t to)
{
	for (int i = 0; i < b->m->nfeat; i++)
		ade_train_drop_pages(b->b[i].c, from, to);
}

/* ---------------- split ---------------- */

uint64_t ade_train_key_hash(const struct ade_frame_column *c, int64_t i, uint64_t seed)
{
	char buf[24];
	int len;

	if (!c) {
		len = snprintf(buf, sizeof(buf), "%lld", (long long)i);
		return XXH3_64bits_withSeed(buf, (size_t)len, seed);
	}
	if (is_null(c, i))
		return XXH3_64bits_withSeed("", 0, seed);
	switch (c->type) {
	case ADE_TYPE_STRING:
	case ADE_TYPE_CATEGORICAL: {
		size_t n;
		const char *s = ade_frame_str(c, i, &n);
		if (!s)
			return XXH3_64bits_withSeed("", 0, seed);
		return XXH3_64bits_withSeed(s, n, seed);
	}
	case ADE_TYPE_BOOL:
		return ((const uint8_t *)c->data)[i] ? XXH3_64bits_withSeed("true", 4, seed)
						     : XXH3_64bits_withSeed("false", 5, seed);
	case ADE_TYPE_FLOAT64:
		len = snprintf(buf, sizeof(buf), "%.17g", ((const double *)c->data)[i]);
		return XXH3_64bits_withSeed(buf, (size_t)len, seed);
	default: {
		/* decimal text, so an id is on the same side whatever its type */
		int64_t v = ((const int64_t *)c->data)[i];
		uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
		char *p = buf + sizeof(buf);
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0)
			*--p = '-';
		return XXH3_64bits_withSeed(p, (size_t)(buf + sizeof(buf) - p), seed);
	}
	}
}

int ade_train_is_test(uint64_t h, double test_fraction)
{
	/* the top 53 bits as a uniform number in [0, 1) */
	return (double)(h >> 11) * 0x1.0p-53 < test_fraction;
}
