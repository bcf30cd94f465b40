/*
 * ade-features: the encoding (docs/features.md, "Encoding") applied to the
 * validated frame, written as a frame and published into the store.
 *
 * The encoding must agree with ade-train's (docs/train.md): numeric
 * features as float64, missing values imputed with the mean, optionally
 * standardized with the population standard deviation; categoricals
 * one-hot over the observed levels in byte order with the reference level
 * (the first, unless `reference:` names one) dropped.
 */
#include "features.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct numf {
	const char *name;
	const struct ade_frame_column *col;
	double mean, scale;
	int64_t missing;
};

struct level {
	const char *p; /* borrowed from the frame, or owned text for int64/bool */
	size_t len;
	int64_t iv;    /* int64 and bool inputs */
};

struct catf {
	const char *name;
	const struct ade_frame_column *col;
	struct level *levels;
	char **owned; /* texts of int64/bool levels */
	int nlev;
	int ref;          /* dropped level, -1 when none */
	int32_t *code_to; /* categorical input: dict code -> level */
	int64_t missing;
};

struct fstate {
	const struct ade_stage_ctx *ctx;
	const char *target, *key;
	int standardize;
	const cJSON *reference;
	const cJSON *numeric, *categorical;
	struct ade_frame *f;
	struct numf *num;
	int nnum;
	struct catf *cat;
	int ncat;
	const struct ade_frame_column *tcol, *kcol;
	cJSON *warnings;
};

static void warn(struct fstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct fstate *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ade_log_warn("%s", buf);
	cJSON_AddItemToArray(s->warnings, cJSON_CreateString(buf));
}

/* ---- configuration ---- */

static int name_list(struct fstate *s, const char *key, const cJSON **out, struct ade_error *err)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->ctx->config, key), *v;
	char ptr[64];
	int i = 0;

	*out = NULL;
	if (!e)
		return 0;
	snprintf(ptr, sizeof(ptr), "/%s", key);
	if (!cJSON_IsArray(e))
		return ade_stage_config_error(s->ctx, err, ptr, "%s must be a list of column names",
					      key);
	cJSON_ArrayForEach(v, e) {
		snprintf(ptr, sizeof(ptr), "/%s/%d", key, i);
		if (!cJSON_IsString(v) || !*v->valuestring)
			return ade_stage_config_error(s->ctx, err, ptr,
						      "%s must be a list of column names", key);
		if (s->target && !strcmp(v->valuestring, s->target))
			return ade_stage_config_error(s->ctx, err, ptr,
						      "'%s' is the target; it cannot be a feature",
						      v->valuestring);
		i++;
	}
	*out = e;
	return 0;
}

/* A column named twice, in either list, would give duplicate columns. */
static int check_dups(struct fstate *s, struct ade_error *err)
{
	const cJSON *lists[2] = {s->numeric, s->categorical};
	const char *keys[2] = {"numeric", "categorical"};

	for (int a = 0; a < 2; a++) {
		int i = 0;
		const cJSON *v, *w;
		cJSON_ArrayForEach(v, lists[a]) {
			for (int b = 0; b <= a; b++) {
				int j = 0;
				cJSON_ArrayForEach(w, lists[b]) {
					if (b == a && j >= i)
						break;
					if (!strcmp(v->valuestring, w->valuestring)) {
						char ptr[64];
						snprintf(ptr, sizeof(ptr), "/%s/%d", keys[a], i);
						return ade_stage_config_error(s->ctx, err, ptr,
							"column '%s' is listed twice", v->valuestring);
					}
					j++;
				}
			}
			i++;
		}
	}
	return 0;
}

static int parse_config(struct fstate *s, struct ade_error *err)
{
	static const char *keys[] = {"target", "numeric", "categorical", "key", "standardize",
				     "reference", "input"};
	const cJSON *cfg = s->ctx->config, *e;
	char ptr[256];
	int rc;

	for (e = cfg->child; e; e = e->next) {
		size_t k, n = sizeof(keys) / sizeof(keys[0]);
		for (k = 0; k < n && strcmp(e->string, keys[k]); k++)
			;
		if (k == n) {
			snprintf(ptr, sizeof(ptr), "/%s", e->string);
			return ade_stage_config_error(s->ctx, err, ptr,
				"unknown key '%s' (ade-features takes target, numeric, categorical, key, standardize, reference, input)",
				e->string);
		}
	}
	e = cJSON_GetObjectItemCaseSensitive(cfg, "target");
	if (!e)
		return ade_stage_config_error(s->ctx, err, "",
					      "ade-features needs target: the column to predict");
	if (!cJSON_IsString(e) || !*e->valuestring)
		return ade_stage_config_error(s->ctx, err, "/target",
					      "target must be a column name");
	s->target = e->valuestring;
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "key"))) {
		if (!cJSON_IsString(e) || !*e->valuestring)
			return ade_stage_config_error(s->ctx, err, "/key", "key must be a column name");
		s->key = e->valuestring;
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "standardize"))) {
		if (!cJSON_IsBool(e))
			return ade_stage_config_error(s->ctx, err, "/standardize",
						      "standardize must be true or false");
		s->standardize = cJSON_IsTrue(e);
	}
	rc = name_list(s, "numeric", &s->numeric, err);
	if (!rc)
		rc = name_list(s, "categorical", &s->categorical, err);
	if (rc)
		return rc;
	if (cJSON_GetArraySize(s->numeric) + cJSON_GetArraySize(s->categorical) == 0)
		return ade_stage_config_error(s->ctx, err, s->numeric ? "/numeric" : "",
					      "ade-features needs at least one numeric or categorical column");
	rc = check_dups(s, err);
	if (rc)
		return rc;
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "reference"))) {
		const cJSON *r;
		if (!cJSON_IsObject(e))
			return ade_stage_config_error(s->ctx, err, "/reference",
				"reference must map categorical columns to their reference level");
		cJSON_ArrayForEach(r, e) {
			const cJSON *v;
			int found = 0;
			snprintf(ptr, sizeof(ptr), "/reference/%s", r->string);
			cJSON_ArrayForEach(v, s->categorical)
				found |= !strcmp(v->valuestring, r->string);
			if (!found)
				return ade_stage_config_error(s->ctx, err, ptr,
					"'%s' is not one of the categorical columns", r->string);
			if (!cJSON_IsString(r) && !cJSON_IsNumber(r) && !cJSON_IsBool(r))
				return ade_stage_config_error(s->ctx, err, ptr,
					"a reference level must be a string, a number or a boolean");
		}
		s->reference = e;
	}
	return 0;
}

/* The column named at JSON pointer ptr, or a config error naming it. */
static int column(struct fstate *s, const char *name, const char *ptr,
		  const struct ade_frame_column **out, struct ade_error *err)
{
	int i = ade_frame_find(s->f, name);

	if (i < 0)
		return ade_stage_config_error(s->ctx, err, ptr, "column '%s' is not in the input frame",
					      name);
	*out = &s->f->cols[i];
	return 0;
}

/* ---- encoding ---- */

static int level_cmp(const void *a, const void *b)
{
	const struct level *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int int_cmp(const void *a, const void *b)
{
	const struct level *x = a, *y = b;
	return (x->iv > y->iv) - (x->iv < y->iv);
}

static int reference_matches(const cJSON *r, const struct level *l, enum ade_type t)
{
	if (cJSON_IsString(r))
		return strlen(r->valuestring) == l->len && !memcmp(r->valuestring, l->p, l->len);
	if (cJSON_IsBool(r))
		return t == ADE_TYPE_BOOL && l->iv == cJSON_IsTrue(r);
	return t == ADE_TYPE_INT64 && (double)l->iv == r->valuedouble;
}

static int build_levels(struct fstate *s, struct catf *c, const char *ptr, struct ade_error *err)
{
	const struct ade_frame_column *col = c->col;
	int64_t rows = s->f->rows;

	if (col->type == ADE_TYPE_CATEGORICAL) {
		uint8_t *seen = ade_xcalloc((size_t)col->n_dict + 1, 1);
		const int32_t *codes = col->data;
		for (int64_t i = 0; i < rows; i++) {
			if (ade_frame_is_null(col, i) || codes[i] < 0 || codes[i] >= col->n_dict)
				c->missing++;
			else
				seen[codes[i]] = 1;
		}
		c->levels = ade_xcalloc((size_t)col->n_dict + 1, sizeof(*c->levels));
		for (int32_t k = 0; k < col->n_dict; k++)
			if (seen[k]) {
				c->levels[c->nlev].p = col->dict[k];
				c->levels[c->nlev].len = col->dict_len[k];
				c->levels[c->nlev].iv = k;
				c->nlev++;
			}
		/* Byte order, whatever order the writer gave its dictionary. */
		qsort(c->levels, (size_t)c->nlev, sizeof(*c->levels), level_cmp);
		c->code_to = ade_xmalloc(((size_t)col->n_dict + 1) * sizeof(int32_t));
		for (int32_t k = 0; k < col->n_dict; k++)
			c->code_to[k] = -1;
		for (int k = 0; k < c->nlev; k++)
			c->code_to[c->levels[k].iv] = k;
		free(seen);
	} else if (col->type == ADE_TYPE_STRING) {
		struct level *all = ade_xmalloc(((size_t)rows + 1) * sizeof(*all));
		int64_t n = 0;
		for (int64_t i = 0; i < rows; i++) {
			if (ade_frame_is_null(col, i)) {
				c->missing++;
				continue;
			}
			all[n].p = ade_frame_str(col, i, &all[n].len);
			n++;
		}
		qsort(all, (size_t)n, sizeof(*all), level_cmp);
		c->levels = ade_xmalloc(((size_t)n + 1) * sizeof(*c->levels));
		for (int64_t i = 0; i < n; i++)
			if (c->nlev == 0 || level_cmp(&c->levels[c->nlev - 1], &all[i]))
				c->levels[c->nlev++] = all[i];
		free(all);
	} else if (col->type == ADE_TYPE_INT64 || col->type == ADE_TYPE_BOOL) {
		struct level *all = ade_xmalloc(((size_t)rows + 1) * sizeof(*all));
		int64_t n = 0;
		for (int64_t i = 0; i < rows; i++) {
			if (ade_frame_is_null(col, i)) {
				c->missing++;
				continue;
			}
			all[n++].iv = col->type == ADE_TYPE_INT64 ? ((const int64_t *)col->data)[i]
								  : ((const uint8_t *)col->data)[i] != 0;
		}
		qsort(all, (size_t)n, sizeof(*all), int_cmp);
		c->levels = ade_xmalloc(((size_t)n + 1) * sizeof(*c->levels));
		for (int64_t i = 0; i < n; i++)
			if (c->nlev == 0 || c->levels[c->nlev - 1].iv != all[i].iv)
				c->levels[c->nlev++] = all[i];
		free(all);
		c->owned = ade_xcalloc((size_t)c->nlev + 1, sizeof(char *));
		for (int k = 0; k < c->nlev; k++) {
			if (col->type == ADE_TYPE_BOOL)
				c->owned[k] = ade_xstrdup(c->levels[k].iv ? "true" : "false");
			else
				c->owned[k] = ade_xasprintf("%" PRId64, c->levels[k].iv);
			c->levels[k].p = c->owned[k];
			c->levels[k].len = strlen(c->owned[k]);
		}
		/* Byte order of the text, as for strings: "10" before "9". */
		qsort(c->levels, (size_t)c->nlev, sizeof(*c->levels), level_cmp);
	} else {
		return ade_stage_config_error(s->ctx, err, ptr,
			"column '%s' is %s; categorical features must be categorical, string, int64 or bool",
			c->name, ade_type_name(col->type));
	}

	c->ref = c->nlev ? 0 : -1;
	const cJSON *r = s->reference ? cJSON_GetObjectItemCaseSensitive(s->reference, c->name) : NULL;
	if (r) {
		c->ref = -1;
		for (int k = 0; k < c->nlev && c->ref < 0; k++)
			if (reference_matches(r, &c->levels[k], col->type))
				c->ref = k;
		/* As ade-train refuses it: the columns would silently differ. */
		if (c->ref < 0) {
			char rp[300];
			snprintf(rp, sizeof(rp), "/reference/%s", c->name);
			return ade_stage_config_error(s->ctx, err, rp,
						      "the reference is not a level of '%s' on this date",
						      c->name);
		}
	}
	if (c->nlev == 0)
		warn(s, "categorical column '%s' has no values on this date; it adds no columns",
		     c->name);
	if (c->missing)
		warn(s, "%" PRId64 " missing value(s) in '%s' encoded as all zeros", c->missing,
		     c->name);
	return 0;
}

/* The level of row i, or -1 for a missing value. */
static int level_of(const struct catf *c, int64_t i)
{
	const struct ade_frame_column *col = c->col;
	struct level key;
	const struct level *hit;

	if (ade_frame_is_null(col, i))
		return -1;
	switch (col->type) {
	case ADE_TYPE_CATEGORICAL: {
		int32_t code = ((const int32_t *)col->data)[i];
		return code < 0 || code >= col->n_dict ? -1 : c->code_to[code];
	}
	case ADE_TYPE_STRING:
		key.p = ade_frame_str(col, i, &key.len);
		hit = bsearch(&key, c->levels, (size_t)c->nlev, sizeof(key), level_cmp);
		break;
	default: {
		char buf[24];
		if (col->type == ADE_TYPE_INT64)
			snprintf(buf, sizeof(buf), "%" PRId64, ((const int64_t *)col->data)[i]);
		else
			snprintf(buf, sizeof(buf), "%s", ((const uint8_t *)col->data)[i] ? "true" : "false");
		key.p = buf;
		key.len = strlen(buf);
		hit = bsearch(&key, c->levels, (size_t)c->nlev, sizeof(key), level_cmp);
		break;
	}
	}
	return hit ? (int)(hit - c->levels) : -1;
}

static int numeric_value(const struct ade_frame_column *c, int64_t i, double *v)
{
	if (ade_frame_is_null(c, i))
		return 0;
	switch (c->type) {
	case ADE_TYPE_INT64: *v = (double)((const int64_t *)c->data)[i]; break;
	case ADE_TYPE_FLOAT64: *v = ((const double *)c->data)[i]; break;
	case ADE_TYPE_BOOL: *v = ((const uint8_t *)c->data)[i] != 0; break;
	default: return 0;
	}
	return !isnan(*v);
}

static int build_numeric(struct fstate *s, struct numf *n, const char *ptr, struct ade_error *err)
{
	const struct ade_frame_column *c = n->col;
	double mean = 0, m2 = 0, v;
	int64_t k = 0;

	if (c->type != ADE_TYPE_INT64 && c->type != ADE_TYPE_FLOAT64 && c->type != ADE_TYPE_BOOL)
		return ade_stage_config_error(s->ctx, err, ptr,
			"column '%s' is %s; numeric features must be int64, float64 or bool",
			n->name, ade_type_name(c->type));
	/* Welford: one pass, no cancellation on large means such as salaries. */
	for (int64_t i = 0; i < s->f->rows; i++) {
		if (!numeric_value(c, i, &v)) {
			n->missing++;
			continue;
		}
		k++;
		double d = v - mean;
		mean += d / (double)k;
		m2 += d * (v - mean);
	}
	n->mean = k ? mean : 0;
	n->scale = 1;
	if (s->standardize && k > 0 && m2 > 0)
		n->scale = sqrt(m2 / (double)k);
	if (n->missing)
		warn(s, "%" PRId64 " missing value(s) in '%s' imputed with the mean %.17g",
		     n->missing, n->name, n->mean);
	return 0;
}

static int build_encoding(struct fstate *s, struct ade_error *err)
{
	char ptr[64];
	const cJSON *v;
	int i, rc;

	rc = column(s, s->target, "/target", &s->tcol, err);
	if (rc)
		return rc;
	if (s->tcol->type != ADE_TYPE_INT64 && s->tcol->type != ADE_TYPE_FLOAT64 &&
	    s->tcol->type != ADE_TYPE_BOOL)
		return ade_stage_config_error(s->ctx, err, "/target",
					      "target '%s' is %s; it must be int64, float64 or bool",
					      s->target, ade_type_name(s->tcol->type));
	if (s->key) {
		rc = column(s, s->key, "/key", &s->kcol, err);
		if (rc)
			return rc;
	}
	s->nnum = cJSON_GetArraySize(s->numeric);
	s->num = ade_xcalloc((size_t)s->nnum + 1, sizeof(*s->num));
	i = 0;
	cJSON_ArrayForEach(v, s->numeric) {
		snprintf(ptr, sizeof(ptr), "/numeric/%d", i);
		s->num[i].name = v->valuestring;
		rc = column(s, v->valuestring, ptr, &s->num[i].col, err);
		if (!rc)
			rc = build_numeric(s, &s->num[i], ptr, err);
		if (rc)
			return rc;
		i++;
	}
	s->ncat = cJSON_GetArraySize(s->categorical);
	s->cat = ade_xcalloc((size_t)s->ncat + 1, sizeof(*s->cat));
	i = 0;
	cJSON_ArrayForEach(v, s->categorical) {
		snprintf(ptr, sizeof(ptr), "/categorical/%d", i);
		s->cat[i].name = v->valuestring;
		rc = column(s, v->valuestring, ptr, &s->cat[i].col, err);
		if (!rc)
			rc = build_levels(s, &s->cat[i], ptr, err);
		if (rc)
			return rc;
		i++;
	}
	return 0;
}

/* What schema.json and manifest.json say about the encoding. */
static cJSON *encoding_json(const struct fstate *s)
{
	cJSON *e = cJSON_CreateObject(), *a;

	cJSON_AddStringToObject(e, "target", s->target);
	if (s->key)
		cJSON_AddStringToObject(e, "key", s->key);
	cJSON_AddBoolToObject(e, "standardize", s->standardize);
	cJSON_AddStringToObject(e, "impute", "mean");
	a = cJSON_AddArrayToObject(e, "numeric");
	for (int i = 0; i < s->nnum; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", s->num[i].name);
		cJSON_AddNumberToObject(o, "mean", s->num[i].mean);
		cJSON_AddNumberToObject(o, "scale", s->num[i].scale);
		cJSON_AddNumberToObject(o, "missing", (double)s->num[i].missing);
		cJSON_AddItemToArray(a, o);
	}
	a = cJSON_AddArrayToObject(e, "categorical");
	for (int i = 0; i < s->ncat; i++) {
		const struct catf *c = &s->cat[i];
		cJSON *o = cJSON_CreateObject(), *l = cJSON_AddArrayToObject(o, "levels");
		cJSON_AddStringToObject(o, "name", c->name);
		for (int k = 0; k < c->nlev; k++) {
			char *t = ade_xstrndup(c->levels[k].p, c->levels[k].len);
			cJSON_AddItemToArray(l, cJSON_CreateString(t));
			if (k == c->ref)
				cJSON_AddStringToObject(o, "reference", t);
			free(t);
		}
		if (c->ref < 0)
			cJSON_AddNullToObject(o, "reference");
		cJSON_AddNumberToObject(o, "missing", (double)c->missing);
		cJSON_AddItemToArray(a, o);
	}
	return e;
}

static int add_col(struct ade_frame_writer *w, const char *name, enum ade_type t, cJSON *names,
		   struct ade_error *err)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, names)
		if (!strcmp(v->valuestring, name))
			return ade_error_set(err, ADE_EINVAL,
					     "the encoding gives two columns named '%s'", name);
	cJSON_AddItemToArray(names, cJSON_CreateString(name));
	return ade_frame_writer_add(w, name, t, err);
}

static int write_snapshot(struct fstate *s, const char *dir, cJSON *names,
			  struct ade_frame_info *info, struct ade_error *err)
{
	struct ade_frame_writer *w = NULL;
	int rc = ade_frame_writer_open(dir, &w, err), kc = -1, tc, c;
	int *first = NULL; /* first output column of each categorical */
	cJSON *extra = NULL;

	if (rc)
		return rc;
	if (s->kcol) {
		kc = rc = add_col(w, s->key, s->kcol->type, names, err);
		if (rc < 0)
			goto fail;
		if (s->kcol->type == ADE_TYPE_CATEGORICAL)
			ade_frame_writer_set_dict(w, kc, (const char *const *)s->kcol->dict,
						  s->kcol->dict_len, s->kcol->n_dict);
	}
	for (int i = 0; i < s->nnum; i++)
		if ((rc = add_col(w, s->num[i].name, ADE_TYPE_FLOAT64, names, err)) < 0)
			goto fail;
	first = ade_xcalloc((size_t)s->ncat + 1, sizeof(int));
	for (int i = 0; i < s->ncat; i++) {
		first[i] = -1;
		for (int k = 0; k < s->cat[i].nlev; k++) {
			if (k == s->cat[i].ref)
				continue;
			char *n = ade_xasprintf("%s=%.*s", s->cat[i].name, (int)s->cat[i].levels[k].len,
						s->cat[i].levels[k].p);
			rc = add_col(w, n, ADE_TYPE_FLOAT64, names, err);
			free(n);
			if (rc < 0)
				goto fail;
			if (first[i] < 0)
				first[i] = rc;
		}
	}
	tc = rc = add_col(w, s->target, ADE_TYPE_FLOAT64, names, err);
	if (rc < 0)
		goto fail;

	for (int64_t i = 0; i < s->f->rows; i++) {
		double v;
		if (kc >= 0) {
			const struct ade_frame_column *k = s->kcol;
			size_t len;
			if (ade_frame_is_null(k, i)) {
				ade_frame_put_null(w, kc);
			} else {
				switch (k->type) {
				case ADE_TYPE_FLOAT64: ade_frame_put_f64(w, kc, ((const double *)k->data)[i]); break;
				case ADE_TYPE_BOOL: ade_frame_put_bool(w, kc, ((const uint8_t *)k->data)[i]); break;
				case ADE_TYPE_CATEGORICAL: ade_frame_put_code(w, kc, ((const int32_t *)k->data)[i]); break;
				case ADE_TYPE_STRING: {
					const char *p = ade_frame_str(k, i, &len);
					ade_frame_put_str(w, kc, p, len);
					break;
				}
				default: ade_frame_put_i64(w, kc, ((const int64_t *)k->data)[i]); break;
				}
			}
		}
		c = kc + 1;
		for (int j = 0; j < s->nnum; j++) {
			const struct numf *n = &s->num[j];
			if (!numeric_value(n->col, i, &v))
				v = n->mean;
			if (s->standardize)
				v = (v - n->mean) / n->scale;
			ade_frame_put_f64(w, c++, v);
		}
		for (int j = 0; j < s->ncat; j++) {
			const struct catf *ct = &s->cat[j];
			int l = level_of(ct, i);
			for (int k = 0; k < ct->nlev; k++)
				if (k != ct->ref)
					ade_frame_put_f64(w, c++, k == l ? 1.0 : 0.0);
		}
		if (numeric_value(s->tcol, i, &v))
			ade_frame_put_f64(w, tc, v);
		else
			ade_frame_put_null(w, tc);
	}
	extra = cJSON_CreateObject();
	cJSON_AddItemToObject(extra, "encoding", encoding_json(s));
	rc = ade_frame_writer_finish(w, extra, info, err);
	cJSON_Delete(extra);
	free(first);
	ade_frame_writer_free(w);
	return rc;
fail:
	free(first);
	ade_frame_writer_abort(w);
	ade_frame_writer_free(w);
	return rc;
}

static void fstate_free(struct fstate *s)
{
	for (int i = 0; i < s->ncat; i++) {
		struct catf *c = &s->cat[i];
		if (c->owned)
			for (int k = 0; k < c->nlev; k++)
				free(c->owned[k]);
		free(c->owned);
		free(c->levels);
		free(c->code_to);
	}
	free(s->cat);
	free(s->num);
	if (s->f)
		ade_frame_close(s->f);
	cJSON_Delete(s->warnings);
}

int ade_features_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	struct fstate s = {0};
	struct ade_frame_info info = {0};
	struct ade_features_entry entry;
	const char *indir;
	char *frame_dir = NULL, *snap = NULL, *mpath = NULL;
	cJSON *names = cJSON_CreateArray(), *manifest = NULL, *res = NULL;
	int64_t t0, t1;
	int rc;

	s.ctx = ctx;
	s.warnings = cJSON_CreateArray();
	rc = parse_config(&s, err);
	if (!rc)
		rc = ade_stage_main_input(ctx->config, &indir, err);
	if (rc)
		goto out;
	frame_dir = ade_xasprintf("%s/frame", indir);
	rc = ade_frame_open(frame_dir, &s.f, err);
	if (rc) {
		ade_error_prefix(err, "input frame");
		goto out;
	}
	t0 = ade_now_mono_ns();
	rc = build_encoding(&s, err);
	if (rc)
		goto out;
	snap = ade_xasprintf("%s/snapshot", ctx->out);
	rc = write_snapshot(&s, snap, names, &info, err);
	t1 = ade_now_mono_ns();
	if (rc)
		goto out;
	rc = ade_features_store_put(ctx->home, ctx->pipeline, ctx->ds, ctx->run_id, snap, &info,
				    &entry, err);
	if (rc)
		goto out;

	manifest = cJSON_CreateObject();
	cJSON_AddStringToObject(manifest, "format", "ade-feature-snapshot");
	cJSON_AddNumberToObject(manifest, "format_version", 1);
	cJSON_AddStringToObject(manifest, "pipeline", ctx->pipeline);
	cJSON_AddStringToObject(manifest, "ds", ctx->ds);
	cJSON_AddNumberToObject(manifest, "version", (double)entry.version);
	cJSON_AddStringToObject(manifest, "hash", entry.hash);
	cJSON_AddNumberToObject(manifest, "rows", (double)entry.rows);
	cJSON_AddNumberToObject(manifest, "columns", (double)entry.columns);
	cJSON_AddItemToObject(manifest, "column_names", cJSON_Duplicate(names, 1));
	cJSON_AddStringToObject(manifest, "path", entry.dir);
	cJSON_AddStringToObject(manifest, "run_copy", "snapshot");
	cJSON_AddItemToObject(manifest, "encoding", encoding_json(&s));
	mpath = ade_xasprintf("%s/manifest.json", ctx->out);
	rc = ade_json_write_file(mpath, manifest, 1, err);
	if (rc)
		goto out;

	res = ade_stage_result_new(ctx, cJSON_GetArraySize(s.warnings) ? "warn" : "ok");
	cJSON_AddNumberToObject(res, "rows_in", (double)s.f->rows);
	cJSON_AddNumberToObject(res, "rows_out", (double)entry.rows);
	cJSON *fv = cJSON_AddArrayToObject(res, "feature_versions"), *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "pipeline", ctx->pipeline);
	cJSON_AddStringToObject(o, "ds", ctx->ds);
	cJSON_AddNumberToObject(o, "version", (double)entry.version);
	cJSON_AddStringToObject(o, "hash", entry.hash);
	cJSON_AddNumberToObject(o, "rows", (double)entry.rows);
	cJSON_AddNumberToObject(o, "columns", (double)entry.columns);
	cJSON_AddItemToArray(fv, o);
	cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
	cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", frame_dir);
	cJSON_AddStringToObject(o, "format", "ade-frame");
	cJSON_AddNumberToObject(o, "rows", (double)s.f->rows);
	cJSON_AddNumberToObject(o, "bytes", ade_json_num(s.f->schema, "bytes", 0));
	cJSON_AddStringToObject(o, "hash", ade_json_str(s.f->schema, "content_hash", ""));
	cJSON_AddItemToArray(ins, o);
	cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", "snapshot");
	cJSON_AddStringToObject(o, "format", "ade-frame");
	cJSON_AddNumberToObject(o, "rows", (double)info.rows);
	cJSON_AddNumberToObject(o, "bytes", (double)info.bytes);
	cJSON_AddStringToObject(o, "hash", info.hash);
	cJSON_AddStringToObject(o, "store_path", entry.dir);
	cJSON_AddItemToObject(o, "schema", info.schema ? cJSON_Duplicate(info.schema, 1)
						       : cJSON_CreateArray());
	cJSON_AddItemToArray(outs, o);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", "manifest.json");
	cJSON_AddStringToObject(o, "format", "json");
	cJSON_AddItemToArray(outs, o);
	cJSON *m = cJSON_AddObjectToObject(res, "metrics");
	double sec = (double)(t1 - t0) / 1e9;
	cJSON_AddNumberToObject(m, "encode_seconds", sec);
	if (sec > 0)
		cJSON_AddNumberToObject(m, "rows_per_second", (double)s.f->rows / sec);
	cJSON_AddNumberToObject(m, "feature_columns", (double)(entry.columns - 1 - (s.key != NULL)));
	cJSON_AddItemToObject(res, "warnings", s.warnings);
	s.warnings = NULL;
	rc = ade_stage_result_write(ctx, res, err);
	if (!rc)
		ade_log_info("feature snapshot of %s: version %" PRId64 ", %s, %" PRId64
			     " rows, %" PRId64 " columns",
			     ctx->ds, entry.version, entry.hash, entry.rows, entry.columns);
out:
	cJSON_Delete(res);
	cJSON_Delete(manifest);
	cJSON_Delete(names);
	cJSON_Delete(info.schema);
	fstate_free(&s);
	free(frame_dir);
	free(snap);
	free(mpath);
	return rc;
}

int ade_features_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	default: return ADE_EXIT_FAILED;
	}
}
