/*
 * ade-quality: duplicates, missing values, outliers, score; see
 * quality.h and docs/quality.md.
 *
 * The work is a few column-at-a-time passes over the mapped input frame,
 * in this order, each over the rows the previous ones kept:
 *   1. duplicates: one XXH3-128 hash of each row's canonical encoding,
 *      inserted into a set (16 bytes per slot, freed after the pass);
 *   2. null counts and rates, then the missing policy per column;
 *   3. statistics: imputation values and quartiles (struct colstats);
 *   4. outliers: counts, and the rows that `action: drop` removes;
 *   5. output: rewritten columns through the frame writer, unchanged ones
 *      hard-linked when no row was removed;
 *   6. optional CSV export, score, result.json.
 * Pages of the input are released as each pass moves on, so RSS is the
 * hash set (pass 1) or one column's copy (pass 3), not the frame.
 */
#include "quality.h"
#include "qinternal.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/numparse.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define BLOCK 65536 /* rows between page releases */

enum action { ACT_AUTO, ACT_NONE, ACT_DROP, ACT_IMPUTE, ACT_FLAG, ACT_KEEP };
static const char *action_names[] = {"auto", "none", "drop", "impute", "flag", "keep"};

enum strategy { IMP_AUTO, IMP_MEDIAN, IMP_MEAN, IMP_MODE, IMP_CONSTANT };
static const char *strategy_names[] = {"auto", "median", "mean", "mode", "constant"};

enum oaction { OUT_FLAG, OUT_DROP, OUT_CLIP };
static const char *oaction_names[] = {"flag", "drop", "clip"};

/* Marks per input row. */
#define MARK_DUP 1
#define MARK_OUT 2

/* Per input column: what the configuration says. */
struct colcfg {
	int key, protect, outlier;
	enum action action;       /* ACT_AUTO: the policy decides */
	enum strategy strategy;   /* IMP_AUTO: the default for the type */
	const cJSON *value;       /* constant */
	char ptr[256];            /* JSON pointer of the column's override */
};

/*
 * The statistics the policies apply: from the input itself
 * (compute_stats), or, with `baseline:`, from a saved quality result
 * (struct colbase) so that a micro-batch applies the day's statistics and
 * not its own 200 rows' (docs/quality.md, "Baseline").  The apply step
 * reads only this record and does not know where it came from.
 */
struct colstats {
	int64_t nulls, nonnull, nonfinite;
	double rate;
	enum action action;
	const char *reason;
	enum strategy strategy;
	/* fill value for imputation, by type */
	int has_fill;
	double statistic; /* exact median/mean, before rounding to the type */
	int64_t fill_i64;
	double fill_f64;
	int fill_bool;
	int32_t fill_code; /* categorical; may be n_dict: a new value */
	const char *fill_str;
	size_t fill_len;
	int64_t touched;
	/* outliers */
	int has_fences;
	double q1, q3, lower, upper;
	int64_t outliers, clipped;
	int dropped_outlier_col; /* listed but dropped by the missing policy */
	/* what came from the baseline */
	int base_rate, base_fill, base_fences;
	double decided_rate; /* the rate the bands were applied to */
};

/* One column's part of a baseline (a quality result.json). */
struct colbase {
	int has_rate;       /* the baseline saw missing values in the column */
	double rate;
	const cJSON *heal;  /* its healing_log entry, or NULL */
	int has_fences;
	double q1, q3;
};

struct qcfg {
	int dedup;
	int *keys, nkeys;
	double drop_above, impute_below;
	enum strategy impute;
	const cJSON *impute_value;
	double k;
	enum oaction oaction;
	int export_csv;
	double min_score; /* < 0: none */
	struct colcfg *cols;
	const char *baseline; /* path: a quality result.json or a directory with one */
};

struct quality {
	const struct ade_stage_ctx *ctx;
	struct qcfg c;
	struct ade_frame *f;
	char *in_dir;
	uint8_t *mark;
	int64_t rows_in, rows_dedup, rows_out, dups, outlier_rows;
	struct colstats *st;
	cJSON *warnings;
	int64_t quarantined, read; /* upstream ingest's counts, if known */
	cJSON *base_json;          /* the baseline's result.json */
	char *base_path;
	struct colbase *base;      /* per input column, or NULL without a baseline */
};

/* ---------------- configuration ---------------- */

static void ptr_append(char *buf, size_t cap, const char *key)
{
	size_t n = strlen(buf);

	if (n + 1 < cap)
		buf[n++] = '/';
	for (const char *p = key; *p && n + 2 < cap; p++) {
		if (*p == '~' || *p == '/') {
			buf[n++] = '~';
			buf[n++] = *p == '~' ? '0' : '1';
		} else {
			buf[n++] = *p;
		}
	}
	buf[n] = '\0';
}

static int parse_enum(const cJSON *v, const char *const *names, int n, int *out)
{
	if (!cJSON_IsString(v))
		return -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(v->valuestring, names[i])) {
			*out = i;
			return 0;
		}
	return -1;
}

/* Index of a named column, or a config error at ptr. */
static int col_index(struct quality *q, const cJSON *v, const char *ptr, int *out,
		     struct ade_error *err)
{
	if (!cJSON_IsString(v) || !*v->valuestring)
		return ade_stage_config_error(q->ctx, err, ptr, "must be a column name");
	int i = ade_frame_find(q->f, v->valuestring);
	if (i < 0)
		return ade_stage_config_error(q->ctx, err, ptr,
					      "no column '%s' in the input frame",
					      v->valuestring);
	*out = i;
	return 0;
}

static int is_numeric(enum ade_type t)
{
	return t == ADE_TYPE_INT64 || t == ADE_TYPE_FLOAT64 || t == ADE_TYPE_DATE ||
	       t == ADE_TYPE_TIMESTAMP;
}

static int name_list(struct quality *q, const cJSON *e, const char *ptr, int **out, int *n,
		     struct ade_error *err)
{
	char p[256];

	if (!cJSON_IsArray(e))
		return ade_stage_config_error(q->ctx, err, ptr, "must be a list of column names");
	*n = cJSON_GetArraySize(e);
	*out = ade_xcalloc((size_t)*n + 1, sizeof(int));
	int i = 0;
	for (const cJSON *v = e->child; v; v = v->next, i++) {
		snprintf(p, sizeof(p), "%s/%d", ptr, i);
		int rc = col_index(q, v, p, &(*out)[i], err);
		if (rc)
			return rc;
		for (int j = 0; j < i; j++)
			if ((*out)[j] == (*out)[i])
				return ade_stage_config_error(q->ctx, err, p, "'%s' is listed twice",
							      v->valuestring);
	}
	return 0;
}

static int fraction(struct quality *q, const cJSON *v, const char *ptr, double *out,
		    struct ade_error *err)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1) {
		*out = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v) && *v->valuestring) {
		char *end;
		double d = strtod(v->valuestring, &end);
		if (end != v->valuestring && !strcmp(end, "%") && d >= 0 && d <= 100) {
			*out = d / 100;
			return 0;
		}
	}
	return ade_stage_config_error(q->ctx, err, ptr,
				      "must be a fraction 0..1 or a percentage like \"5%%\"");
}

/* Checks that a constant fits the column's type. */
static int check_constant(struct quality *q, int ci, const cJSON *v, const char *ptr,
			  struct ade_error *err)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	int64_t x;

	if (!v)
		return ade_stage_config_error(q->ctx, err, ptr,
					      "impute: constant needs a value: for column '%s'",
					      c->name);
	switch (c->type) {
	case ADE_TYPE_INT64:
		if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) < 9007199254740992.0)
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr, "column '%s' needs an integer",
					      c->name);
	case ADE_TYPE_FLOAT64:
		if (cJSON_IsNumber(v))
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr, "column '%s' needs a number",
					      c->name);
	case ADE_TYPE_BOOL:
		if (cJSON_IsBool(v))
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr, "column '%s' needs true or false",
					      c->name);
	case ADE_TYPE_DATE:
		if (cJSON_IsString(v) &&
		    !ade_parse_date(v->valuestring, strlen(v->valuestring), &x))
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr,
					      "column '%s' needs a date YYYY-MM-DD", c->name);
	case ADE_TYPE_TIMESTAMP:
		if (cJSON_IsString(v) &&
		    !ade_parse_timestamp(v->valuestring, strlen(v->valuestring), &x))
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr,
					      "column '%s' needs an ISO 8601 timestamp", c->name);
	case ADE_TYPE_CATEGORICAL:
	case ADE_TYPE_STRING:
		if (cJSON_IsString(v))
			return 0;
		return ade_stage_config_error(q->ctx, err, ptr, "column '%s' needs a string",
					      c->name);
	}
	return 0;
}

static int parse_missing(struct quality *q, const cJSON *m, struct ade_error *err)
{
	char p[256];

	if (!cJSON_IsObject(m))
		return ade_stage_config_error(q->ctx, err, "/missing", "must be a mapping");
	for (const cJSON *e = m->child; e; e = e->next) {
		snprintf(p, sizeof(p), "/missing");
		ptr_append(p, sizeof(p), e->string);
		int rc = 0;
		if (!strcmp(e->string, "drop_above")) {
			rc = fraction(q, e, p, &q->c.drop_above, err);
		} else if (!strcmp(e->string, "impute_below")) {
			rc = fraction(q, e, p, &q->c.impute_below, err);
		} else if (!strcmp(e->string, "impute")) {
			int s;
			if (parse_enum(e, strategy_names, 5, &s))
				return ade_stage_config_error(
					q->ctx, err, p, "must be median, mean, mode, constant or auto");
			q->c.impute = (enum strategy)s;
		} else if (!strcmp(e->string, "value")) {
			q->c.impute_value = e;
		} else if (!strcmp(e->string, "columns")) {
			if (!cJSON_IsObject(e))
				return ade_stage_config_error(q->ctx, err, p,
							      "must map column names to settings");
			for (const cJSON *o = e->child; o; o = o->next) {
				char cp[256];
				int ci = 0;
				snprintf(cp, sizeof(cp), "%s", p);
				ptr_append(cp, sizeof(cp), o->string);
				cJSON name = {.type = cJSON_String, .valuestring = o->string};
				rc = col_index(q, &name, cp, &ci, err);
				if (rc)
					return rc;
				struct colcfg *cc = &q->c.cols[ci];
				snprintf(cc->ptr, sizeof(cc->ptr), "%s", cp);
				if (!cJSON_IsObject(o))
					return ade_stage_config_error(
						q->ctx, err, cp,
						"must be a mapping with action:, impute: or value:");
				for (const cJSON *k = o->child; k; k = k->next) {
					char kp[256];
					int x;
					snprintf(kp, sizeof(kp), "%s", cp);
					ptr_append(kp, sizeof(kp), k->string);
					if (!strcmp(k->string, "action")) {
						if (parse_enum(k, action_names, 6, &x) || x == ACT_NONE)
							return ade_stage_config_error(
								q->ctx, err, kp,
								"must be auto, drop, impute, flag or keep");
						cc->action = (enum action)x;
					} else if (!strcmp(k->string, "impute")) {
						if (parse_enum(k, strategy_names, 5, &x))
							return ade_stage_config_error(
								q->ctx, err, kp,
								"must be median, mean, mode, constant or auto");
						cc->strategy = (enum strategy)x;
					} else if (!strcmp(k->string, "value")) {
						cc->value = k;
					} else {
						return ade_stage_config_error(
							q->ctx, err, kp,
							"unknown key '%s' (action, impute, value)", k->string);
					}
				}
			}
		} else {
			return ade_stage_config_error(
				q->ctx, err, p,
				"unknown key '%s' (drop_above, impute_below, impute, value, columns)",
				e->string);
		}
		if (rc)
			return rc;
	}
	if (q->c.impute_below > q->c.drop_above)
		return ade_stage_config_error(q->ctx, err, "/missing/impute_below",
					      "must not be above drop_above (%g)", q->c.drop_above);
	return 0;
}

static int parse_outliers(struct quality *q, const cJSON *o, struct ade_error *err)
{
	char p[256];

	if (!cJSON_IsObject(o))
		return ade_stage_config_error(q->ctx, err, "/outliers",
					      "must be a mapping {columns: [...], k: 1.5, action: flag}");
	for (const cJSON *e = o->child; e; e = e->next) {
		snprintf(p, sizeof(p), "/outliers");
		ptr_append(p, sizeof(p), e->string);
		if (!strcmp(e->string, "columns")) {
			int *idx = NULL, n = 0;
			int rc = name_list(q, e, p, &idx, &n, err);
			if (!rc)
				for (int i = 0; i < n; i++) {
					const struct ade_frame_column *c = &q->f->cols[idx[i]];
					if (c->type != ADE_TYPE_INT64 && c->type != ADE_TYPE_FLOAT64) {
						char ip[256];
						snprintf(ip, sizeof(ip), "%s/%d", p, i);
						rc = ade_stage_config_error(
							q->ctx, err, ip,
							"column '%s' is %s; outliers need int64 or float64",
							c->name, ade_type_name(c->type));
						break;
					}
					q->c.cols[idx[i]].outlier = 1;
				}
			free(idx);
			if (rc)
				return rc;
		} else if (!strcmp(e->string, "k")) {
			if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
				return ade_stage_config_error(q->ctx, err, p,
							      "must be a positive number (1.5 is Tukey's)");
			q->c.k = e->valuedouble;
		} else if (!strcmp(e->string, "action")) {
			int x;
			if (parse_enum(e, oaction_names, 3, &x))
				return ade_stage_config_error(q->ctx, err, p,
							      "must be flag, drop or clip");
			q->c.oaction = (enum oaction)x;
		} else {
			return ade_stage_config_error(q->ctx, err, p,
						      "unknown key '%s' (columns, k, action)", e->string);
		}
	}
	return 0;
}

static int cfg_parse(struct quality *q, struct ade_error *err)
{
	const cJSON *conf = q->ctx->config;
	char p[256];
	int rc = 0;

	q->c.dedup = 1;
	q->c.drop_above = 0.50;
	q->c.impute_below = 0.05;
	q->c.k = 1.5;
	q->c.min_score = -1;
	q->c.cols = ade_xcalloc((size_t)q->f->ncols + 1, sizeof(struct colcfg));
	for (const cJSON *e = conf->child; e && !rc; e = e->next) {
		snprintf(p, sizeof(p), "%s", "");
		ptr_append(p, sizeof(p), e->string);
		if (!strcmp(e->string, "input")) {
			continue; /* ade_stage_main_input read it */
		} else if (!strcmp(e->string, "keys")) {
			rc = name_list(q, e, p, &q->c.keys, &q->c.nkeys, err);
			if (!rc && q->c.nkeys == 0)
				rc = ade_stage_config_error(q->ctx, err, p,
							    "must name at least one column");
			for (int i = 0; !rc && i < q->c.nkeys; i++)
				q->c.cols[q->c.keys[i]].key = 1;
		} else if (!strcmp(e->string, "dedup")) {
			if (!cJSON_IsBool(e))
				rc = ade_stage_config_error(q->ctx, err, p, "must be true or false");
			q->c.dedup = cJSON_IsTrue(e);
		} else if (!strcmp(e->string, "protect")) {
			int *idx = NULL, n = 0;
			rc = name_list(q, e, p, &idx, &n, err);
			for (int i = 0; !rc && i < n; i++)
				q->c.cols[idx[i]].protect = 1;
			free(idx);
		} else if (!strcmp(e->string, "missing")) {
			rc = parse_missing(q, e, err);
		} else if (!strcmp(e->string, "outliers")) {
			rc = parse_outliers(q, e, err);
		} else if (!strcmp(e->string, "export_csv")) {
			if (!cJSON_IsBool(e))
				rc = ade_stage_config_error(q->ctx, err, p, "must be true or false");
			q->c.export_csv = cJSON_IsTrue(e);
		} else if (!strcmp(e->string, "baseline")) {
			/* false or null: none (a pipeline can turn a stream's default off) */
			if (cJSON_IsString(e) && *e->valuestring)
				q->c.baseline = e->valuestring;
			else if (!cJSON_IsFalse(e) && !cJSON_IsNull(e))
				rc = ade_stage_config_error(q->ctx, err, p,
							    "must be the path of a quality result.json "
							    "(or its directory), or false");
		} else if (!strcmp(e->string, "min_score")) {
			if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 100)
				rc = ade_stage_config_error(q->ctx, err, p, "must be a number 0..100");
			else
				q->c.min_score = e->valuedouble;
		} else {
			rc = ade_stage_config_error(q->ctx, err, p,
						    "unknown key '%s' (keys, dedup, protect, missing, "
						    "outliers, export_csv, min_score, baseline, input)",
						    e->string);
		}
	}
	if (rc)
		return rc;
	/* Per-column settings that need the column's type. */
	for (int i = 0; i < q->f->ncols; i++) {
		struct colcfg *cc = &q->c.cols[i];
		const struct ade_frame_column *c = &q->f->cols[i];
		const char *ptr = *cc->ptr ? cc->ptr : "/missing";
		if (cc->action == ACT_DROP && (cc->key || cc->protect))
			return ade_stage_config_error(q->ctx, err, ptr,
						      "column '%s' is a %s column and is never dropped",
						      c->name, cc->key ? "key" : "protected");
		if ((cc->action == ACT_IMPUTE) && cc->key)
			return ade_stage_config_error(q->ctx, err, ptr,
						      "key column '%s' is never imputed", c->name);
		if ((cc->strategy == IMP_MEDIAN || cc->strategy == IMP_MEAN) &&
		    !is_numeric(c->type))
			return ade_stage_config_error(q->ctx, err, ptr,
						      "column '%s' is %s; median and mean need numbers",
						      c->name, ade_type_name(c->type));
		enum strategy s = cc->strategy != IMP_AUTO ? cc->strategy : q->c.impute;
		if (s == IMP_CONSTANT) {
			const cJSON *v = cc->strategy == IMP_CONSTANT ? cc->value : q->c.impute_value;
			char vp[300];
			snprintf(vp, sizeof(vp), "%s",
				 cc->strategy == IMP_CONSTANT ? ptr : "/missing/value");
			if (v && cc->strategy == IMP_CONSTANT)
				snprintf(vp, sizeof(vp), "%s/value", ptr);
			/* Only columns the policy could impute need a fitting value. */
			if (c->null_count > 0 && !cc->key) {
				int rc2 = check_constant(q, i, v, vp, err);
				if (rc2)
					return rc2;
			}
		}
	}
	return 0;
}

/* ---------------- pass 1: duplicates ---------------- */

/* Orders whole-row columns by name (then position, for equal names). */
static const struct ade_frame *sort_frame;
static int cmp_col_name(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcmp(sort_frame->cols[x].name, sort_frame->cols[y].name);
	return c ? c : (x > y) - (x < y);
}

/*
 * The seed of the row hashes: the hashed columns' names and types, so two
 * frames' hashes are only comparable when they hash the same columns with
 * the same types (a categorical is hashed as its string: the same value
 * whichever of the two types a batch's ingest gave the column).
 */
static uint64_t dedup_seed(const struct ade_frame *f, const int *idx, int nk)
{
	XXH3_state_t *h = XXH3_createState();
	uint64_t seed;

	XXH3_64bits_reset(h);
	for (int k = 0; k < nk; k++) {
		const struct ade_frame_column *c = &f->cols[idx[k]];
		enum ade_type t = c->type == ADE_TYPE_CATEGORICAL ? ADE_TYPE_STRING : c->type;
		uint8_t tb = (uint8_t)t;
		XXH3_64bits_update(h, c->name, strlen(c->name) + 1);
		XXH3_64bits_update(h, &tb, 1);
	}
	seed = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return seed;
}

static void seen_append(struct ade_quality_seen *s, uint64_t lo, uint64_t hi)
{
	if (s->nkept == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->kept = ade_xrealloc(s->kept, s->cap * 2 * sizeof(uint64_t));
	}
	s->kept[2 * s->nkept] = lo;
	s->kept[2 * s->nkept + 1] = hi;
	s->nkept++;
}

static void dedup_pass(struct quality *q, struct ade_quality_seen *seen)
{
	struct ade_frame *f = q->f;
	int nk = q->c.nkeys ? q->c.nkeys : f->ncols;
	int *idx = ade_xcalloc((size_t)nk + 1, sizeof(int));
	size_t cap = 4096, len;
	char *buf = ade_xmalloc(cap);
	struct ade_dedup set;
	const struct ade_dedup *day = seen && seen->day && seen->day->count ? seen->day : NULL;

	for (int i = 0; i < nk; i++)
		idx[i] = q->c.nkeys ? q->c.keys[i] : i;
	/*
	 * Whole rows in column-name order: the hash then does not depend on
	 * the order of the CSV's columns (two watched files of one stream may
	 * list them differently).  keys: are hashed in their configured order.
	 */
	if (!q->c.nkeys) {
		sort_frame = f;
		qsort(idx, (size_t)nk, sizeof(int), cmp_col_name);
		sort_frame = NULL;
	}
	uint64_t seed = dedup_seed(f, idx, nk);
	ade_dedup_init(&set, (size_t)f->rows);
	for (int64_t r = 0; r < f->rows; r++) {
		len = 0;
		for (int k = 0; k < nk; k++) {
			const struct ade_frame_column *c = &f->cols[idx[k]];
			size_t need = 1 + 8;
			if (c->type == ADE_TYPE_STRING)
				need += (size_t)(c->offsets[r + 1] - c->offsets[r]);
			if (len + need > cap) {
				while (len + need > cap)
					cap *= 2;
				buf = ade_xrealloc(buf, cap);
			}
			/* Canonical typed encoding: tag byte, then the value. */
			if (c->valid && !c->valid[r]) {
				buf[len++] = 0;
				continue;
			}
			buf[len++] = 1;
			switch (c->type) {
			case ADE_TYPE_FLOAT64: {
				double v = ((const double *)c->data)[r];
				if (v == 0)
					v = 0; /* -0.0 equals 0.0 */
				if (isnan(v))
					v = NAN; /* one NaN */
				memcpy(buf + len, &v, 8);
				len += 8;
				break;
			}
			case ADE_TYPE_BOOL:
				buf[len++] = (char)((const uint8_t *)c->data)[r];
				break;
			case ADE_TYPE_CATEGORICAL: {
				/*
				 * The value, as for a string, not the code: codes
				 * are per frame, and the hash is compared with
				 * other frames' (struct ade_quality_seen).
				 */
				int32_t code = ((const int32_t *)c->data)[r];
				int64_t n = 0;
				const char *v = "";
				if (code < 0 || code >= c->n_dict) {
					/* No value for the code: null, as a reader takes it. */
					buf[len - 1] = 0;
					break;
				}
				v = c->dict[code];
				n = (int64_t)c->dict_len[code];
				if (len + 8 + (size_t)n > cap) {
					while (len + 8 + (size_t)n > cap)
						cap *= 2;
					buf = ade_xrealloc(buf, cap);
				}
				memcpy(buf + len, &n, 8);
				memcpy(buf + len + 8, v, (size_t)n);
				len += 8 + (size_t)n;
				break;
			}
			case ADE_TYPE_STRING: {
				int64_t n = c->offsets[r + 1] - c->offsets[r];
				memcpy(buf + len, &n, 8);
				memcpy(buf + len + 8, c->bytes + c->offsets[r], (size_t)n);
				len += 8 + (size_t)n;
				break;
			}
			default:
				memcpy(buf + len, (const int64_t *)c->data + r, 8);
				len += 8;
			}
		}
		XXH128_hash_t h = XXH3_128bits_withSeed(buf, len, seed);
		if (day && ade_dedup_contains(day, h.low64, h.high64)) {
			/* Its first copy reached this pass in an earlier batch. */
			q->mark[r] |= MARK_DUP;
			q->dups++;
			seen->dups_day++;
		} else if (!ade_dedup_insert(&set, h.low64, h.high64)) {
			q->mark[r] |= MARK_DUP;
			q->dups++;
		} else if (seen) {
			seen_append(seen, h.low64, h.high64);
		}
		if ((r & (BLOCK - 1)) == BLOCK - 1)
			for (int k = 0; k < nk; k++)
				ade_quality_release_col(&f->cols[idx[k]], r + 1 - BLOCK, r + 1);
	}
	ade_dedup_release(&set);
	free(buf);
	free(idx);
}

/* ---------------- pass 2/3: nulls, policy, statistics ---------------- */

static inline int row_kept_dedup(const struct quality *q, int64_t r)
{
	return !(q->mark[r] & MARK_DUP);
}

static void count_nulls(struct quality *q, int ci)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	struct colstats *s = &q->st[ci];

	for (int64_t r = 0; r < q->f->rows; r++) {
		if (!row_kept_dedup(q, r))
			continue;
		if (c->valid && !c->valid[r]) {
			s->nulls++;
			continue;
		}
		s->nonnull++;
		if (c->type == ADE_TYPE_FLOAT64 && !isfinite(((const double *)c->data)[r]))
			s->nonfinite++;
	}
	ade_quality_release_col(c, 0, q->f->rows);
}

static void decide(struct quality *q, int ci)
{
	const struct colcfg *cc = &q->c.cols[ci];
	struct colstats *s = &q->st[ci];
	const struct ade_frame_column *c = &q->f->cols[ci];

	s->rate = q->rows_dedup ? (double)s->nulls / (double)q->rows_dedup : 0;
	/*
	 * With a baseline that saw missing values in the column, the bands
	 * apply to its rate, not this input's: every micro-batch of a day then
	 * takes the day's decision, and a column dropped for the day is
	 * dropped from every batch (even one without a null in it).
	 */
	double rate = s->rate;
	const struct colbase *b = q->base ? &q->base[ci] : NULL;
	if (b && b->has_rate) {
		rate = b->rate;
		s->base_rate = 1;
	} else if (b && s->nulls) {
		char *m = ade_xasprintf("baseline: column '%s' has missing values here but none in "
					"the baseline; its missing policy uses this input's rate",
					c->name);
		cJSON_AddItemToArray(q->warnings, cJSON_CreateString(m));
		free(m);
	}
	s->decided_rate = rate;
	if (cc->action != ACT_AUTO) {
		s->action = cc->action;
		s->reason = "configured";
		if (s->action == ACT_IMPUTE && !s->nulls)
			s->action = ACT_NONE;
	} else if (!s->nulls && !(s->base_rate && rate > q->c.drop_above)) {
		s->action = ACT_NONE;
		s->reason = "no missing values";
	} else if (rate > q->c.drop_above) {
		/* Bands (docs/quality.md): drop r > drop_above, impute r < impute_below. */
		if (cc->key || cc->protect) {
			s->action = ACT_FLAG;
			s->reason = cc->key ? "over drop_above, but a key column is never dropped"
					    : "over drop_above, but a protected column is never dropped";
		} else {
			s->action = ACT_DROP;
			s->reason = "missing rate over drop_above";
		}
	} else if (rate < q->c.impute_below) {
		if (cc->key) {
			s->action = ACT_FLAG;
			s->reason = "under impute_below, but a key column is never imputed";
		} else {
			s->action = ACT_IMPUTE;
			s->reason = "missing rate under impute_below";
		}
	} else {
		s->action = ACT_FLAG;
		s->reason = "missing rate between impute_below and drop_above: review";
	}
	if (s->action == ACT_IMPUTE) {
		enum strategy st = cc->strategy != IMP_AUTO ? cc->strategy : q->c.impute;
		/* The global median/mean default applies to numbers; others take the mode. */
		if (st == IMP_AUTO || ((st == IMP_MEDIAN || st == IMP_MEAN) && !is_numeric(c->type)))
			st = is_numeric(c->type) ? IMP_MEDIAN : IMP_MODE;
		s->strategy = st;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Non-null, non-NaN values of kept rows as doubles; caller frees. */
static double *numeric_copy(struct quality *q, int ci, size_t *n)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	double *a = ade_xmalloc(((size_t)q->st[ci].nonnull + 1) * sizeof(double));
	size_t k = 0;

	for (int64_t r = 0; r < q->f->rows; r++) {
		if (!row_kept_dedup(q, r) || (c->valid && !c->valid[r]))
			continue;
		double v = c->type == ADE_TYPE_FLOAT64 ? ((const double *)c->data)[r]
						       : (double)((const int64_t *)c->data)[r];
		if (!isnan(v))
			a[k++] = v;
	}
	ade_quality_release_col(c, 0, q->f->rows);
	*n = k;
	return a;
}

/*
 * Mode of a string column in bounded memory: Misra-Gries with 1024
 * counters finds every value more frequent than n/1025; a second pass
 * counts the candidates exactly (comparing bytes, not only hashes).
 * Ties go to the value seen first.
 */
#define MG_K 1024
#define MG_SLOTS 4096
struct mg {
	uint64_t h[MG_K];
	int64_t row[MG_K], cnt[MG_K];
	int n;
	int16_t slot[MG_SLOTS]; /* -1 empty, else candidate index */
};

static void mg_reindex(struct mg *m)
{
	for (int i = 0; i < MG_SLOTS; i++)
		m->slot[i] = -1;
	for (int i = 0; i < m->n; i++) {
		size_t s = m->h[i] & (MG_SLOTS - 1);
		while (m->slot[s] >= 0)
			s = (s + 1) & (MG_SLOTS - 1);
		m->slot[s] = (int16_t)i;
	}
}

static int mg_find(const struct mg *m, const struct ade_frame_column *c, uint64_t h,
		   const char *p, size_t n, int exact)
{
	for (size_t s = h & (MG_SLOTS - 1); m->slot[s] >= 0; s = (s + 1) & (MG_SLOTS - 1)) {
		int i = m->slot[s];
		if (m->h[i] != h)
			continue;
		if (!exact)
			return i;
		size_t l;
		const char *v = ade_frame_str(c, m->row[i], &l);
		if (l == n && !memcmp(v, p, n))
			return i;
	}
	return -1;
}

static void string_mode(struct quality *q, int ci, struct colstats *s)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	struct mg *m = ade_xcalloc(1, sizeof(*m));

	mg_reindex(m);
	for (int64_t r = 0; r < q->f->rows; r++) {
		if (!row_kept_dedup(q, r) || (c->valid && !c->valid[r]))
			continue;
		size_t n;
		const char *p = ade_frame_str(c, r, &n);
		uint64_t h = XXH3_64bits(p, n);
		int i = mg_find(m, c, h, p, n, 0);
		if (i >= 0) {
			m->cnt[i]++;
		} else if (m->n < MG_K) {
			m->h[m->n] = h;
			m->row[m->n] = r;
			m->cnt[m->n] = 1;
			m->n++;
			mg_reindex(m);
		} else {
			int k = 0;
			for (int j = 0; j < m->n; j++)
				if (--m->cnt[j] > 0) {
					m->h[k] = m->h[j];
					m->row[k] = m->row[j];
					m->cnt[k] = m->cnt[j];
					k++;
				}
			m->n = k;
			mg_reindex(m);
		}
	}
	for (int i = 0; i < m->n; i++)
		m->cnt[i] = 0;
	for (int64_t r = 0; r < q->f->rows; r++) {
		if (!row_kept_dedup(q, r) || (c->valid && !c->valid[r]))
			continue;
		size_t n;
		const char *p = ade_frame_str(c, r, &n);
		int i = mg_find(m, c, XXH3_64bits(p, n), p, n, 1);
		if (i >= 0)
			m->cnt[i]++;
	}
	int best = -1;
	for (int i = 0; i < m->n; i++)
		if (best < 0 || m->cnt[i] > m->cnt[best] ||
		    (m->cnt[i] == m->cnt[best] && m->row[i] < m->row[best]))
			best = i;
	if (best >= 0) {
		s->fill_str = ade_frame_str(c, m->row[best], &s->fill_len);
		s->has_fill = 1;
	}
	free(m);
}

/* Rounds a statistic into an int64-backed column (half away from zero). */
static int64_t to_i64(double v)
{
	return (int64_t)llround(v);
}

static void set_numeric_fill(struct quality *q, int ci, struct colstats *s, double v)
{
	s->statistic = v;
	s->has_fill = 1;
	if (q->f->cols[ci].type == ADE_TYPE_FLOAT64)
		s->fill_f64 = v;
	else
		s->fill_i64 = to_i64(v);
}

/*
 * A string fill value; for a categorical column its code, or n_dict when
 * the column's dictionary lacks it (appended at write, as for constants).
 */
static void set_string_fill(const struct ade_frame_column *c, struct colstats *s, const char *v)
{
	if (c->type == ADE_TYPE_CATEGORICAL) {
		s->fill_code = c->n_dict;
		for (int32_t k = 0; k < c->n_dict; k++)
			if (!strcmp(c->dict[k], v))
				s->fill_code = k;
	}
	s->fill_str = v;
	s->fill_len = strlen(v);
}

/* ---------------- baseline ---------------- */

static void base_warn(struct quality *q, const char *fmt, const char *col)
{
	char *m = ade_xasprintf(fmt, col);
	cJSON_AddItemToArray(q->warnings, cJSON_CreateString(m));
	free(m);
}

/*
 * Reads `baseline:` (docs/quality.md, "Baseline"): a quality result.json,
 * or a directory holding one.  Its missing.rates, healing_log and
 * outliers.columns give, per column, the rate the bands apply to, the
 * imputation value and the quartiles of the fences.
 */
static int load_baseline(struct quality *q, struct ade_error *err)
{
	struct stat sb;
	const cJSON *rates, *e;
	int rc;

	if (!q->c.baseline)
		return 0;
	if (stat(q->c.baseline, &sb) == 0 && S_ISDIR(sb.st_mode))
		q->base_path = ade_xasprintf("%s/result.json", q->c.baseline);
	else
		q->base_path = ade_xstrdup(q->c.baseline);
	rc = ade_json_read_file(q->base_path, &q->base_json, err);
	if (rc) {
		char why[ADE_ERROR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		return ade_stage_config_error(q->ctx, err, "/baseline",
					      "cannot read the baseline: %s", why);
	}
	rates = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(q->base_json, "missing"), "rates");
	if (!cJSON_IsObject(rates))
		return ade_stage_config_error(q->ctx, err, "/baseline",
					      "'%s' is not an ade-quality result.json (no "
					      "missing.rates)",
					      q->base_path);
	q->base = ade_xcalloc((size_t)q->f->ncols + 1, sizeof(*q->base));
	for (int ci = 0; ci < q->f->ncols; ci++) {
		struct colbase *b = &q->base[ci];
		const char *name = q->f->cols[ci].name;
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(rates, name);
		/* A rate of 0 decides nothing: the baseline has no statistic for it. */
		if (cJSON_IsNumber(r) && r->valuedouble > 0) {
			b->has_rate = 1;
			b->rate = r->valuedouble;
		}
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(q->base_json, "healing_log"))
			if (!strcmp(ade_json_str(e, "column", ""), name))
				b->heal = e;
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(q->base_json, "outliers"), "columns"),
			name);
		const cJSON *q1 = cJSON_GetObjectItemCaseSensitive(o, "q1");
		const cJSON *q3 = cJSON_GetObjectItemCaseSensitive(o, "q3");
		if (cJSON_IsNumber(q1) && cJSON_IsNumber(q3) && q1->valuedouble <= q3->valuedouble) {
			b->has_fences = 1;
			b->q1 = q1->valuedouble;
			b->q3 = q3->valuedouble;
		}
	}
	return 0;
}

/*
 * The imputation value of column ci from the baseline: its healing_log
 * entry must have imputed the same type with the same strategy.  0 (and
 * a warning) when it cannot serve: the input's own statistic is used.
 */
static int base_fill(struct quality *q, int ci, struct colstats *s)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	const cJSON *h = q->base[ci].heal;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, "value");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(h, "statistic");
	int64_t x = 0;

	if (!h || strcmp(ade_json_str(h, "action", ""), "impute") ||
	    strcmp(ade_json_str(h, "strategy", ""), strategy_names[s->strategy]) ||
	    strcmp(ade_json_str(h, "type", ""), ade_type_name(c->type)) || !v || cJSON_IsNull(v)) {
		base_warn(q, "baseline: no imputation value of the same type and strategy for '%s'; "
			     "this input's statistic is used", c->name);
		return 0;
	}
	switch (c->type) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_FLOAT64:
		if (!cJSON_IsNumber(v))
			goto bad;
		if (c->type == ADE_TYPE_FLOAT64)
			s->fill_f64 = v->valuedouble;
		else
			s->fill_i64 = (int64_t)llround(v->valuedouble);
		break;
	case ADE_TYPE_BOOL:
		if (!cJSON_IsBool(v))
			goto bad;
		s->fill_bool = cJSON_IsTrue(v);
		break;
	case ADE_TYPE_DATE:
		if (!cJSON_IsString(v) || ade_parse_date(v->valuestring, strlen(v->valuestring), &x))
			goto bad;
		s->fill_i64 = x;
		break;
	case ADE_TYPE_TIMESTAMP:
		if (!cJSON_IsString(v) ||
		    ade_parse_timestamp(v->valuestring, strlen(v->valuestring), &x))
			goto bad;
		s->fill_i64 = x;
		break;
	case ADE_TYPE_CATEGORICAL:
	case ADE_TYPE_STRING:
		if (!cJSON_IsString(v))
			goto bad;
		set_string_fill(c, s, v->valuestring);
		break;
	}
	s->statistic = cJSON_IsNumber(st) ? st->valuedouble : 0;
	s->has_fill = 1;
	s->base_fill = 1;
	return 1;
bad:
	base_warn(q, "baseline: the imputation value of '%s' does not fit its type; this "
		     "input's statistic is used", c->name);
	return 0;
}

/* The fences of column ci from the baseline's quartiles and this stage's k. */
static int base_fences(struct quality *q, int ci, struct colstats *s)
{
	const struct colbase *b = &q->base[ci];

	if (!b->has_fences) {
		base_warn(q, "baseline: no quartiles for outlier column '%s'; this input's are used",
			  q->f->cols[ci].name);
		return 0;
	}
	/* The same expressions as compute_stats: equal quartiles give equal fences. */
	double iqr = b->q3 - b->q1;
	s->has_fences = 1;
	s->base_fences = 1;
	s->q1 = b->q1;
	s->q3 = b->q3;
	s->lower = b->q1 - q->c.k * iqr;
	s->upper = b->q3 + q->c.k * iqr;
	return 1;
}

static void compute_stats(struct quality *q, int ci)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	struct colstats *s = &q->st[ci];
	int impute = s->action == ACT_IMPUTE;
	int fences = q->c.cols[ci].outlier && s->action != ACT_DROP;

	if (q->c.cols[ci].outlier && s->action == ACT_DROP)
		s->dropped_outlier_col = 1;
	if (impute && s->strategy != IMP_CONSTANT && q->base && base_fill(q, ci, s))
		impute = 0;
	if (fences && q->base && base_fences(q, ci, s))
		fences = 0;
	if (!impute && !fences)
		return;
	if (impute && s->strategy == IMP_CONSTANT) {
		const struct colcfg *cc = &q->c.cols[ci];
		const cJSON *v = cc->strategy == IMP_CONSTANT ? cc->value : q->c.impute_value;
		int64_t x = 0;
		s->has_fill = 1;
		switch (c->type) {
		case ADE_TYPE_INT64: s->fill_i64 = (int64_t)v->valuedouble; break;
		case ADE_TYPE_FLOAT64: s->fill_f64 = v->valuedouble; break;
		case ADE_TYPE_BOOL: s->fill_bool = cJSON_IsTrue(v); break;
		case ADE_TYPE_DATE:
			ade_parse_date(v->valuestring, strlen(v->valuestring), &x);
			s->fill_i64 = x;
			break;
		case ADE_TYPE_TIMESTAMP:
			ade_parse_timestamp(v->valuestring, strlen(v->valuestring), &x);
			s->fill_i64 = x;
			break;
		case ADE_TYPE_CATEGORICAL:
		case ADE_TYPE_STRING:
			set_string_fill(c, s, v->valuestring);
			break;
		}
		impute = 0;
	}
	if (impute && s->strategy == IMP_MODE && !is_numeric(c->type)) {
		if (c->type == ADE_TYPE_STRING) {
			string_mode(q, ci, s);
		} else if (c->type == ADE_TYPE_BOOL) {
			int64_t t = 0, n = 0;
			for (int64_t r = 0; r < q->f->rows; r++)
				if (row_kept_dedup(q, r) && !(c->valid && !c->valid[r])) {
					n++;
					t += ((const uint8_t *)c->data)[r] != 0;
				}
			s->has_fill = n > 0;
			s->fill_bool = t > n - t; /* a tie goes to false */
		} else { /* categorical: ties go to the smaller code */
			int64_t *cnt = ade_xcalloc((size_t)c->n_dict + 1, sizeof(int64_t));
			for (int64_t r = 0; r < q->f->rows; r++) {
				int32_t code = ((const int32_t *)c->data)[r];
				if (row_kept_dedup(q, r) && code >= 0 && code < c->n_dict)
					cnt[code]++;
			}
			int32_t best = -1;
			for (int32_t k = 0; k < c->n_dict; k++)
				if (cnt[k] && (best < 0 || cnt[k] > cnt[best]))
					best = k;
			if (best >= 0) {
				s->has_fill = 1;
				s->fill_code = best;
				s->fill_str = c->dict[best];
				s->fill_len = c->dict_len[best];
			}
			free(cnt);
		}
		ade_quality_release_col(c, 0, q->f->rows);
		impute = 0;
	}
	if (!impute && !fences)
		return;
	/* Numbers: one copy of the non-null values serves every statistic. */
	size_t n;
	double *a = numeric_copy(q, ci, &n);
	if (n > 0 && impute && s->strategy == IMP_MEAN) {
		long double sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += a[i];
		set_numeric_fill(q, ci, s, (double)(sum / (long double)n));
	}
	if (n > 0 && impute && s->strategy == IMP_MODE) {
		/* An explicit mode of numbers sorts the copy: O(n log n), opt-in. */
		qsort(a, n, sizeof(double), cmp_double);
		size_t best = 0, bestn = 0;
		for (size_t i = 0; i < n;) {
			size_t j = i;
			while (j < n && a[j] == a[i])
				j++;
			if (j - i > bestn) {
				bestn = j - i;
				best = i;
			}
			i = j;
		}
		set_numeric_fill(q, ci, s, a[best]);
	}
	if (n > 0 && ((impute && s->strategy == IMP_MEDIAN) || fences)) {
		static const double ps[3] = {0.25, 0.5, 0.75};
		double out[3];
		ade_quality_quantiles(a, n, ps, 3, out);
		if (impute && s->strategy == IMP_MEDIAN)
			set_numeric_fill(q, ci, s, out[1]);
		if (fences) {
			double iqr = out[2] - out[0];
			s->has_fences = 1;
			s->q1 = out[0];
			s->q3 = out[2];
			s->lower = out[0] - q->c.k * iqr;
			s->upper = out[2] + q->c.k * iqr;
		}
	}
	free(a);
}

/* ---------------- outliers ---------------- */

static inline double num_at(const struct ade_frame_column *c, int64_t r)
{
	return c->type == ADE_TYPE_FLOAT64 ? ((const double *)c->data)[r]
					   : (double)((const int64_t *)c->data)[r];
}

static inline int is_outlier(const struct ade_frame_column *c, const struct colstats *s,
			     int64_t r)
{
	if (!s->has_fences || (c->valid && !c->valid[r]))
		return 0;
	double v = num_at(c, r);
	return v < s->lower || v > s->upper; /* NaN is neither */
}

static void outlier_pass(struct quality *q)
{
	for (int ci = 0; ci < q->f->ncols; ci++) {
		const struct ade_frame_column *c = &q->f->cols[ci];
		struct colstats *s = &q->st[ci];
		if (!s->has_fences)
			continue;
		for (int64_t r = 0; r < q->f->rows; r++)
			if (row_kept_dedup(q, r) && is_outlier(c, s, r)) {
				s->outliers++;
				q->mark[r] |= MARK_OUT;
			}
		ade_quality_release_col(c, 0, q->f->rows);
	}
	for (int64_t r = 0; r < q->f->rows; r++)
		if (row_kept_dedup(q, r) && (q->mark[r] & MARK_OUT))
			q->outlier_rows++;
}

static inline int row_out(const struct quality *q, int64_t r)
{
	if (q->mark[r] & MARK_DUP)
		return 0;
	return !(q->c.oaction == OUT_DROP && (q->mark[r] & MARK_OUT));
}

/* ---------------- output ---------------- */

enum okind { O_LINK, O_WRITE, O_FLAG };

struct ocol {
	int src;
	enum okind kind;
	char *name; /* flag columns: "<col>_outlier" */
	int w;      /* writer column */
};

/* Writes column ci's kept rows, imputed and clipped, to writer column wc. */
static void write_col(struct quality *q, struct ade_frame_writer *w, int wc, int ci)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	struct colstats *s = &q->st[ci];
	int fill = s->action == ACT_IMPUTE && s->has_fill;
	int clip = s->has_fences && q->c.oaction == OUT_CLIP;
	int64_t lo_i = clip ? (int64_t)ceil(s->lower) : 0, hi_i = clip ? (int64_t)floor(s->upper) : 0;

	if (c->type == ADE_TYPE_CATEGORICAL) {
		int32_t n = c->n_dict;
		const char **vals = ade_xcalloc((size_t)n + 2, sizeof(char *));
		size_t *lens = ade_xcalloc((size_t)n + 2, sizeof(size_t));
		for (int32_t k = 0; k < n; k++) {
			vals[k] = c->dict[k];
			lens[k] = c->dict_len[k];
		}
		if (fill && s->fill_code == n) { /* a constant not in the dictionary */
			vals[n] = s->fill_str;
			lens[n] = s->fill_len;
			n++;
		}
		ade_frame_writer_set_dict(w, wc, vals, lens, n);
		free(vals);
		free(lens);
	}
	for (int64_t r = 0; r < q->f->rows; r++) {
		if ((r & (BLOCK - 1)) == BLOCK - 1)
			ade_quality_release_col(c, r + 1 - BLOCK, r + 1);
		if (!row_out(q, r))
			continue;
		if (c->valid && !c->valid[r]) {
			if (!fill) {
				ade_frame_put_null(w, wc);
				continue;
			}
			s->touched++;
			switch (c->type) {
			case ADE_TYPE_FLOAT64: ade_frame_put_f64(w, wc, s->fill_f64); break;
			case ADE_TYPE_BOOL: ade_frame_put_bool(w, wc, s->fill_bool); break;
			case ADE_TYPE_CATEGORICAL: ade_frame_put_code(w, wc, s->fill_code); break;
			case ADE_TYPE_STRING: ade_frame_put_str(w, wc, s->fill_str, s->fill_len); break;
			default: ade_frame_put_i64(w, wc, s->fill_i64);
			}
			continue;
		}
		switch (c->type) {
		case ADE_TYPE_FLOAT64: {
			double v = ((const double *)c->data)[r];
			if (clip && v < s->lower) {
				v = s->lower;
				s->clipped++;
			} else if (clip && v > s->upper) {
				v = s->upper;
				s->clipped++;
			}
			ade_frame_put_f64(w, wc, v);
			break;
		}
		case ADE_TYPE_BOOL: ade_frame_put_bool(w, wc, ((const uint8_t *)c->data)[r]); break;
		case ADE_TYPE_CATEGORICAL:
			ade_frame_put_code(w, wc, ((const int32_t *)c->data)[r]);
			break;
		case ADE_TYPE_STRING: {
			size_t n;
			const char *p = ade_frame_str(c, r, &n);
			ade_frame_put_str(w, wc, p, n);
			break;
		}
		default: {
			int64_t v = ((const int64_t *)c->data)[r];
			if (clip && (double)v < s->lower) {
				v = lo_i;
				s->clipped++;
			} else if (clip && (double)v > s->upper) {
				v = hi_i;
				s->clipped++;
			}
			ade_frame_put_i64(w, wc, v);
		}
		}
	}
	ade_quality_release_col(c, 0, q->f->rows);
}

static void write_flag(struct quality *q, struct ade_frame_writer *w, int wc, int ci)
{
	const struct ade_frame_column *c = &q->f->cols[ci];

	for (int64_t r = 0; r < q->f->rows; r++)
		if (row_out(q, r))
			ade_frame_put_bool(w, wc, is_outlier(c, &q->st[ci], r));
	ade_quality_release_col(c, 0, q->f->rows);
}

/* Hard link, or a copy when the file system refuses links. */
static int link_or_copy(const char *from, const char *to, struct ade_error *err)
{
	if (link(from, to) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return ade_error_set(err, ADE_EIO, "cannot link '%s' to '%s': %s", from, to,
				     strerror(errno));
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	char buf[1 << 16];
	ssize_t n;
	if (in < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", to, strerror(errno));
	while (!rc && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ade_error_set(err, ADE_EIO, "cannot read '%s': %s", from, strerror(errno));
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t k = write(out, buf + off, (size_t)(n - off));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", to,
						   strerror(errno));
				break;
			}
			off += k;
		}
	}
	close(in);
	if (out >= 0 && close(out) < 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot close '%s': %s", to, strerror(errno));
	return rc;
}

/*
 * Adds a file's contents (after its .npy header when npy) to the frame's
 * content hash as docs/frames.md defines it: the canonical XXH3-128
 * digest of the file, then fed to the frame's state.
 */
static int hash_file(XXH3_state_t *all, const char *path, int npy, int raw, int64_t *size,
		     struct ade_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;
	int64_t skip = 0, total = 0;
	XXH3_state_t *h;

	if (fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", path, strerror(errno));
	buf = ade_xmalloc(1 << 20);
	h = XXH3_createState();
	XXH3_128bits_reset(h);
	if (npy) {
		unsigned char hd[10];
		if (pread(fd, hd, 10, 0) == 10)
			skip = 10 + (int64_t)(hd[8] | hd[9] << 8);
	}
	while ((n = read(fd, buf, 1 << 20)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int64_t from = total < skip ? (skip - total < n ? skip - total : n) : 0;
		if (raw)
			XXH3_128bits_update(all, buf + from, (size_t)(n - from));
		else
			XXH3_128bits_update(h, buf + from, (size_t)(n - from));
		total += n;
	}
	close(fd);
	free(buf);
	if (!raw) {
		XXH128_canonical_t canon;
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h));
		XXH3_128bits_update(all, canon.digest, 16);
	}
	XXH3_freeState(h);
	*size += total;
	if (n < 0)
		return ade_error_set(err, ADE_EIO, "cannot read '%s': %s", path, strerror(errno));
	return 0;
}

static int name_taken(cJSON *names, const char *n)
{
	for (cJSON *e = names->child; e; e = e->next)
		if (!strcasecmp(e->valuestring, n))
			return 1;
	return 0;
}

/*
 * Assembles ADE_OUT/frame when no row was removed: unchanged columns'
 * files are hard-linked from the input frame, rewritten and new columns'
 * files are moved from the scratch frame; schema.json lists them in
 * output order with the content hash recomputed over all of them.
 */
static int assemble(struct quality *q, struct ocol *oc, int noc, const char *scratch,
		    const cJSON *scratch_cols, const char *final, struct ade_frame_info *info,
		    struct ade_error *err)
{
	char *tmp = ade_xasprintf("%s.tmp-%ld", final, (long)getpid());
	cJSON *cols = cJSON_CreateArray(), *names = cJSON_CreateArray();
	const cJSON *in_cols = cJSON_GetObjectItem(q->f->schema, "columns");
	XXH3_state_t *all = XXH3_createState();
	int64_t bytes = 0;
	int rc = 0;

	XXH3_128bits_reset(all);
	ade_fs_remove_tree(tmp, NULL);
	if (mkdir(tmp, 0755) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	/* Linked files keep their names; reserve them before moving others. */
	for (int i = 0; i < noc; i++)
		if (oc[i].kind == O_LINK) {
			const cJSON *files = cJSON_GetObjectItem(cJSON_GetArrayItem(in_cols, oc[i].src),
								 "files");
			for (const cJSON *fl = files ? files->child : NULL; fl; fl = fl->next)
				cJSON_AddItemToArray(names, cJSON_CreateString(fl->valuestring));
		}
	for (int i = 0; i < noc && !rc; i++) {
		cJSON *col;
		if (oc[i].kind == O_LINK) {
			col = cJSON_Duplicate(cJSON_GetArrayItem(in_cols, oc[i].src), 1);
			cJSON *files = cJSON_GetObjectItem(col, "files");
			for (cJSON *fl = files ? files->child : NULL; fl && !rc; fl = fl->next) {
				if (!cJSON_IsString(fl) || strchr(fl->valuestring, '/')) {
					rc = ade_error_set(err, ADE_EPARSE, "%s: bad file name in schema.json",
							   q->f->dir);
					break;
				}
				char *from = ade_xasprintf("%s/%s", q->f->dir, fl->valuestring);
				char *to = ade_xasprintf("%s/%s", tmp, fl->valuestring);
				rc = link_or_copy(from, to, err);
				free(from);
				free(to);
			}
		} else {
			const char *want = oc[i].kind == O_FLAG ? oc[i].name : q->f->cols[oc[i].src].name;
			col = NULL;
			for (const cJSON *e = scratch_cols->child; e; e = e->next)
				if (!strcmp(ade_json_str(e, "name", ""), want))
					col = cJSON_Duplicate(e, 1);
			if (!col) {
				rc = ade_error_set(err, ADE_EIO, "column '%s' missing from scratch frame",
						   want);
				break;
			}
			cJSON *files = cJSON_GetObjectItem(col, "files");
			for (cJSON *fl = files ? files->child : NULL; fl && !rc; fl = fl->next) {
				char *nn = ade_xstrdup(fl->valuestring);
				for (int k = 2; name_taken(names, nn); k++) {
					free(nn);
					nn = ade_xasprintf("q%d_%s", k, fl->valuestring);
				}
				cJSON_AddItemToArray(names, cJSON_CreateString(nn));
				char *from = ade_xasprintf("%s/%s", scratch, fl->valuestring);
				char *to = ade_xasprintf("%s/%s", tmp, nn);
				if (rename(from, to) < 0)
					rc = ade_error_set(err, ADE_EIO, "cannot move '%s': %s", from,
							   strerror(errno));
				cJSON_SetValuestring(fl, nn);
				free(from);
				free(to);
				free(nn);
			}
		}
		cJSON_AddItemToArray(cols, col);
		if (rc)
			break;
		/* Content hash, in docs/frames.md's order. */
		const char *name = ade_json_str(col, "name", ""), *type = ade_json_str(col, "type", "");
		const cJSON *files = cJSON_GetObjectItem(col, "files");
		static const char *order[] = {"data", "offsets", "bytes", "valid", "dict"};
		XXH3_128bits_update(all, name, strlen(name) + 1);
		XXH3_128bits_update(all, type, strlen(type) + 1);
		for (int k = 0; k < 5 && !rc; k++) {
			const char *fn = ade_json_str(files, order[k], NULL);
			if (!fn)
				continue;
			char *p = ade_xasprintf("%s/%s", tmp, fn);
			rc = hash_file(all, p, k != 2 && k != 4, k == 4, &bytes, err);
			free(p);
		}
	}
	if (rc)
		goto out;
	{
		cJSON *schema = cJSON_CreateObject();
		XXH128_hash_t h = XXH3_128bits_digest(all);
		char hash[64];
		snprintf(hash, sizeof(hash), "xxh3-128:%016llx%016llx", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
		cJSON_AddStringToObject(schema, "format", "ade-frame");
		cJSON_AddNumberToObject(schema, "version", 1);
		cJSON_AddNumberToObject(schema, "rows", (double)q->rows_out);
		cJSON_AddStringToObject(schema, "content_hash", hash);
		cJSON_AddNumberToObject(schema, "bytes", (double)bytes);
		cJSON_AddItemToObject(schema, "columns", cols);
		cols = NULL;
		cJSON_AddStringToObject(schema, "derived_from",
					ade_json_str(q->f->schema, "content_hash", ""));
		char *p = ade_xasprintf("%s/schema.json", tmp);
		rc = ade_json_write_file(p, schema, 1, err);
		free(p);
		if (!rc && rename(tmp, final) < 0)
			rc = ade_error_set(err, ADE_EIO, "cannot rename frame into '%s': %s", final,
					   strerror(errno));
		if (!rc) {
			info->rows = q->rows_out;
			info->bytes = bytes;
			snprintf(info->hash, sizeof(info->hash), "%s", hash);
			info->schema = cJSON_Duplicate(cJSON_GetObjectItem(schema, "columns"), 1);
		}
		cJSON_Delete(schema);
	}
out:
	if (rc)
		ade_fs_remove_tree(tmp, NULL);
	cJSON_Delete(cols);
	cJSON_Delete(names);
	XXH3_freeState(all);
	free(tmp);
	return rc;
}

static int write_output(struct quality *q, struct ade_frame_info *info, cJSON *report,
			struct ade_error *err)
{
	int full = q->rows_out != q->rows_in;
	struct ocol *oc = ade_xcalloc((size_t)2 * (size_t)q->f->ncols + 1, sizeof(*oc));
	int noc = 0, rc = 0;
	char *final = ade_xasprintf("%s/frame", q->ctx->out);
	char *scratch = ade_xasprintf("%s/.quality-scratch", q->ctx->out);
	struct ade_frame_writer *w = NULL;
	struct ade_frame_info sinfo = {0};
	cJSON *linked = cJSON_AddArrayToObject(report, "linked_columns");
	cJSON *written = cJSON_AddArrayToObject(report, "rewritten_columns");
	cJSON *added = cJSON_AddArrayToObject(report, "added_columns");
	cJSON *dropped = cJSON_AddArrayToObject(report, "dropped_columns");

	for (int ci = 0; ci < q->f->ncols; ci++) {
		const struct colstats *s = &q->st[ci];
		const char *name = q->f->cols[ci].name;
		if (s->action == ACT_DROP) {
			cJSON_AddItemToArray(dropped, cJSON_CreateString(name));
			continue;
		}
		int changed = full || (s->action == ACT_IMPUTE && s->has_fill && s->nulls) ||
			      (s->has_fences && q->c.oaction == OUT_CLIP && s->outliers);
		oc[noc].src = ci;
		oc[noc].kind = changed ? O_WRITE : O_LINK;
		cJSON_AddItemToArray(changed ? written : linked, cJSON_CreateString(name));
		noc++;
		if (s->has_fences && q->c.oaction == OUT_FLAG) {
			oc[noc].src = ci;
			oc[noc].kind = O_FLAG;
			oc[noc].name = ade_xasprintf("%s_outlier", name);
			if (ade_frame_find(q->f, oc[noc].name) >= 0) {
				rc = ade_error_set(err, ADE_EINVAL,
						   "the input already has a column '%s'; cannot flag "
						   "outliers of '%s'",
						   oc[noc].name, name);
				noc++;
				goto out;
			}
			cJSON_AddItemToArray(added, cJSON_CreateString(oc[noc].name));
			noc++;
		}
	}
	int nwrite = 0;
	for (int i = 0; i < noc; i++)
		nwrite += oc[i].kind != O_LINK;
	if (nwrite) {
		ade_fs_remove_tree(scratch, NULL);
		rc = ade_frame_writer_open(full ? final : scratch, &w, err);
		if (rc)
			goto out;
		for (int i = 0; i < noc; i++) {
			if (oc[i].kind == O_LINK)
				continue;
			const struct ade_frame_column *c = &q->f->cols[oc[i].src];
			oc[i].w = ade_frame_writer_add(w, oc[i].kind == O_FLAG ? oc[i].name : c->name,
						       oc[i].kind == O_FLAG ? ADE_TYPE_BOOL : c->type,
						       err);
			if (oc[i].w < 0) {
				rc = oc[i].w;
				goto out;
			}
		}
		for (int i = 0; i < noc; i++) {
			if (oc[i].kind == O_WRITE)
				write_col(q, w, oc[i].w, oc[i].src);
			else if (oc[i].kind == O_FLAG)
				write_flag(q, w, oc[i].w, oc[i].src);
		}
		cJSON *extra = cJSON_CreateObject();
		cJSON_AddStringToObject(extra, "derived_from",
					ade_json_str(q->f->schema, "content_hash", ""));
		rc = ade_frame_writer_finish(w, extra, full ? info : &sinfo, err);
		cJSON_Delete(extra);
		if (rc)
			goto out;
	}
	if (!full) {
		cJSON *empty = cJSON_CreateArray();
		rc = assemble(q, oc, noc, scratch, sinfo.schema ? sinfo.schema : empty, final, info,
			      err);
		cJSON_Delete(empty);
	}
out:
	if (w) {
		ade_frame_writer_abort(w);
		ade_frame_writer_free(w);
	}
	ade_fs_remove_tree(scratch, NULL);
	cJSON_Delete(sinfo.schema);
	for (int i = 0; i < noc; i++)
		free(oc[i].name);
	free(oc);
	free(final);
	free(scratch);
	return rc;
}

/* ---------------- result ---------------- */

static cJSON *fill_json(const struct quality *q, int ci)
{
	const struct ade_frame_column *c = &q->f->cols[ci];
	const struct colstats *s = &q->st[ci];
	char buf[48];

	switch (c->type) {
	case ADE_TYPE_INT64: return cJSON_CreateNumber((double)s->fill_i64);
	case ADE_TYPE_FLOAT64: return cJSON_CreateNumber(s->fill_f64);
	case ADE_TYPE_BOOL: return cJSON_CreateBool(s->fill_bool);
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)s->fill_i64, buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us(s->fill_i64, buf);
		return cJSON_CreateString(buf);
	default: {
		char *t = ade_xstrndup(s->fill_str, s->fill_len);
		cJSON *j = cJSON_CreateString(t);
		free(t);
		return j;
	}
	}
}

static double round2(double v)
{
	return round(v * 100) / 100;
}

/* Upstream ingest's quarantine counts feed validity (docs/quality.md). */
static void read_upstream(struct quality *q)
{
	char *p = ade_xasprintf("%s/result.json", q->in_dir);
	cJSON *r = NULL;

	if (!ade_json_read_file(p, &r, NULL)) {
		q->read = (int64_t)ade_json_num(r, "rows_read", 0);
		q->quarantined = (int64_t)ade_json_num(r, "rows_quarantined", 0);
		cJSON_Delete(r);
	}
	free(p);
}

static cJSON *score(struct quality *q, double *total)
{
	static const char *dims[] = {"completeness", "uniqueness", "validity", "consistency"};
	static const double weights[] = {0.3, 0.2, 0.3, 0.2};
	double val[4];
	int have[4] = {1, 1, 1, 0};
	int64_t nulls = 0, nonnull = 0, bad = 0;
	cJSON *o = cJSON_CreateObject(), *d, *w;

	for (int ci = 0; ci < q->f->ncols; ci++) {
		nulls += q->st[ci].nulls;
		nonnull += q->st[ci].nonnull;
		bad += q->st[ci].nonfinite;
	}
	double cells = (double)q->rows_dedup * q->f->ncols;
	val[0] = cells > 0 ? 100 * (1 - (double)nulls / cells) : 100;
	val[1] = q->rows_in ? 100 * (1 - (double)q->dups / (double)q->rows_in) : 100;
	double qrate = q->read > 0 ? (double)q->quarantined / (double)q->read : 0;
	val[2] = 100 * (1 - qrate) * (nonnull ? 1 - (double)bad / (double)nonnull : 1);
	for (int ci = 0; ci < q->f->ncols; ci++)
		if (q->st[ci].has_fences)
			have[3] = 1;
	val[3] = q->rows_dedup ? 100 * (1 - (double)q->outlier_rows / (double)q->rows_dedup) : 100;
	double sw = 0, sum = 0;
	d = cJSON_AddObjectToObject(o, "dimensions");
	w = cJSON_AddObjectToObject(o, "weights");
	for (int i = 0; i < 4; i++) {
		cJSON_AddNumberToObject(w, dims[i], weights[i]);
		if (!have[i]) {
			cJSON_AddNullToObject(d, dims[i]);
			continue;
		}
		cJSON_AddNumberToObject(d, dims[i], round2(val[i]));
		sum += weights[i] * val[i];
		sw += weights[i];
	}
	*total = round2(sum / sw);
	cJSON_AddNumberToObject(o, "score", *total);
	cJSON_AddStringToObject(o, "formula",
				"sum(weight * dimension) / sum(weight) over measured dimensions");
	return o;
}

/* ---------------- the stage ---------------- */

int ade_quality_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	case ADE_EDATA: return ADE_EXIT_DATA;
	default: return ADE_EXIT_FAILED; /* the stage contract knows no other code */
	}
}

int ade_quality_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	return ade_quality_run_seen(ctx, NULL, err);
}

int ade_quality_run_seen(const struct ade_stage_ctx *ctx, struct ade_quality_seen *seen,
			 struct ade_error *err)
{
	struct quality q;
	struct ade_frame_info info = {0};
	const char *in = NULL;
	char *in_frame = NULL;
	int rc;
	int64_t t0 = ade_now_mono_ns(), t1, t2, t3, t4;
	double total_score = 100;
	cJSON *res = NULL;
	int64_t csv_bytes = 0;

	memset(&q, 0, sizeof(q));
	q.ctx = ctx;
	q.warnings = cJSON_CreateArray();
	rc = ade_stage_main_input(ctx->config, &in, err);
	if (rc)
		goto out;
	q.in_dir = ade_xstrdup(in);
	in_frame = ade_xasprintf("%s/frame", in);
	rc = ade_frame_open(in_frame, &q.f, err);
	if (rc)
		goto out;
	rc = cfg_parse(&q, err);
	if (!rc)
		rc = load_baseline(&q, err);
	if (rc)
		goto out;
	read_upstream(&q);

	q.rows_in = q.f->rows;
	q.mark = ade_xcalloc((size_t)q.f->rows + 1, 1);
	q.st = ade_xcalloc((size_t)q.f->ncols + 1, sizeof(*q.st));
	if (seen) {
		seen->dups_day = 0;
		seen->active = q.c.dedup;
	}
	if (q.c.dedup)
		dedup_pass(&q, seen);
	q.rows_dedup = q.rows_in - q.dups;
	t1 = ade_now_mono_ns();
	for (int ci = 0; ci < q.f->ncols; ci++) {
		count_nulls(&q, ci);
		decide(&q, ci);
		compute_stats(&q, ci);
		if (q.st[ci].dropped_outlier_col) {
			char *m = ade_xasprintf("outliers of '%s' skipped: the column was dropped "
						"by the missing policy",
						q.f->cols[ci].name);
			cJSON_AddItemToArray(q.warnings, cJSON_CreateString(m));
			free(m);
		}
	}
	t2 = ade_now_mono_ns();
	outlier_pass(&q);
	q.rows_out = 0;
	for (int64_t r = 0; r < q.f->rows; r++)
		q.rows_out += row_out(&q, r);
	cJSON *fr = cJSON_CreateObject();
	rc = write_output(&q, &info, fr, err);
	if (rc) {
		cJSON_Delete(fr);
		goto out;
	}
	t3 = ade_now_mono_ns();
	if (q.c.export_csv) {
		struct ade_frame *of = NULL;
		char *frame = ade_xasprintf("%s/frame", ctx->out);
		char *csv = ade_xasprintf("%s/cleaned.csv", ctx->out);
		rc = ade_frame_open(frame, &of, err);
		if (!rc)
			rc = ade_quality_export_csv(of, csv, &csv_bytes, err);
		ade_frame_close(of);
		free(frame);
		free(csv);
		if (rc) {
			cJSON_Delete(fr);
			goto out;
		}
	}
	t4 = ade_now_mono_ns();

	/* result.json */
	cJSON *sc = score(&q, &total_score);
	int below = q.c.min_score >= 0 && total_score < q.c.min_score;
	res = ade_stage_result_new(ctx, below ? "failed" : "ok");
	cJSON_AddNumberToObject(res, "rows_in", (double)q.rows_in);
	cJSON_AddNumberToObject(res, "rows_out", (double)q.rows_out);
	cJSON_AddNumberToObject(res, "columns_in", q.f->ncols);
	cJSON_AddNumberToObject(res, "columns_out", cJSON_GetArraySize(info.schema));
	{
		cJSON *d = cJSON_AddObjectToObject(res, "duplicates");
		cJSON_AddStringToObject(d, "mode", !q.c.dedup ? "off" : q.c.nkeys ? "keys" : "row");
		cJSON *k = cJSON_AddArrayToObject(d, "keys");
		for (int i = 0; i < q.c.nkeys; i++)
			cJSON_AddItemToArray(k, cJSON_CreateString(q.f->cols[q.c.keys[i]].name));
		cJSON_AddStringToObject(d, "keep", "first");
		cJSON_AddNumberToObject(d, "removed", (double)q.dups);
	}
	{
		cJSON *m = cJSON_AddObjectToObject(res, "missing");
		cJSON_AddNumberToObject(m, "drop_above", q.c.drop_above);
		cJSON_AddNumberToObject(m, "impute_below", q.c.impute_below);
		cJSON *rates = cJSON_AddObjectToObject(m, "rates");
		for (int ci = 0; ci < q.f->ncols; ci++)
			cJSON_AddNumberToObject(rates, q.f->cols[ci].name, q.st[ci].rate);
	}
	cJSON *log = cJSON_AddArrayToObject(res, "healing_log");
	for (int ci = 0; ci < q.f->ncols; ci++) {
		const struct colstats *s = &q.st[ci];
		const struct ade_frame_column *c = &q.f->cols[ci];
		if (s->action == ACT_NONE || (s->action == ACT_KEEP && !s->nulls))
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "column", c->name);
		cJSON_AddStringToObject(e, "type", ade_type_name(c->type));
		cJSON_AddNumberToObject(e, "missing", (double)s->nulls);
		cJSON_AddNumberToObject(e, "rows", (double)q.rows_dedup);
		cJSON_AddNumberToObject(e, "rate", s->rate);
		if (s->base_rate)
			cJSON_AddNumberToObject(e, "baseline_rate", s->decided_rate);
		cJSON_AddStringToObject(e, "action", action_names[s->action]);
		cJSON_AddStringToObject(e, "reason", s->reason);
		if (s->action == ACT_IMPUTE) {
			cJSON_AddStringToObject(e, "strategy", strategy_names[s->strategy]);
			if (s->has_fill) {
				cJSON_AddItemToObject(e, "value", fill_json(&q, ci));
				if (s->strategy == IMP_MEDIAN || s->strategy == IMP_MEAN)
					cJSON_AddNumberToObject(e, "statistic", s->statistic);
				if (s->base_fill)
					cJSON_AddStringToObject(e, "value_from", "baseline");
			} else {
				cJSON_AddNullToObject(e, "value");
			}
		}
		cJSON_AddNumberToObject(e, "rows_touched",
					(double)(s->action == ACT_DROP ? q.rows_out : s->touched));
		cJSON_AddItemToArray(log, e);
	}
	{
		cJSON *o = cJSON_AddObjectToObject(res, "outliers");
		cJSON_AddStringToObject(o, "method", "iqr");
		cJSON_AddStringToObject(o, "quantiles", "linear interpolation (R type 7, numpy default)");
		cJSON_AddNumberToObject(o, "k", q.c.k);
		cJSON_AddStringToObject(o, "action", oaction_names[q.c.oaction]);
		cJSON_AddNumberToObject(o, "rows_with_outliers", (double)q.outlier_rows);
		cJSON *cols = cJSON_AddObjectToObject(o, "columns");
		for (int ci = 0; ci < q.f->ncols; ci++) {
			const struct colstats *s = &q.st[ci];
			if (!q.c.cols[ci].outlier || s->dropped_outlier_col)
				continue;
			cJSON *e = cJSON_AddObjectToObject(cols, q.f->cols[ci].name);
			if (!s->has_fences) {
				cJSON_AddStringToObject(e, "note", "no values");
				continue;
			}
			cJSON_AddNumberToObject(e, "q1", s->q1);
			cJSON_AddNumberToObject(e, "q3", s->q3);
			cJSON_AddNumberToObject(e, "iqr", s->q3 - s->q1);
			cJSON_AddNumberToObject(e, "lower", s->lower);
			cJSON_AddNumberToObject(e, "upper", s->upper);
			if (s->base_fences)
				cJSON_AddStringToObject(e, "fences_from", "baseline");
			cJSON_AddNumberToObject(e, "count", (double)s->outliers);
			cJSON_AddStringToObject(e, "action", oaction_names[q.c.oaction]);
			if (q.c.oaction == OUT_CLIP)
				cJSON_AddNumberToObject(e, "clipped", (double)s->clipped);
			if (q.c.oaction == OUT_FLAG) {
				char *n = ade_xasprintf("%s_outlier", q.f->cols[ci].name);
				cJSON_AddStringToObject(e, "flag_column", n);
				free(n);
			}
		}
		if (q.c.oaction == OUT_DROP)
			cJSON_AddNumberToObject(o, "rows_dropped", (double)q.outlier_rows);
	}
	if (q.base) {
		/* Which statistics came from the baseline, column by column. */
		cJSON *b = cJSON_AddObjectToObject(res, "baseline");
		cJSON_AddStringToObject(b, "path", q.base_path);
		const char *rid = ade_json_str(q.base_json, "run_id", NULL);
		if (rid)
			cJSON_AddStringToObject(b, "run_id", rid);
		cJSON *br = cJSON_AddArrayToObject(b, "rates");
		cJSON *bf = cJSON_AddArrayToObject(b, "values");
		cJSON *bo = cJSON_AddArrayToObject(b, "fences");
		for (int ci = 0; ci < q.f->ncols; ci++) {
			const char *n = q.f->cols[ci].name;
			if (q.st[ci].base_rate)
				cJSON_AddItemToArray(br, cJSON_CreateString(n));
			if (q.st[ci].base_fill)
				cJSON_AddItemToArray(bf, cJSON_CreateString(n));
			if (q.st[ci].base_fences)
				cJSON_AddItemToArray(bo, cJSON_CreateString(n));
		}
	}
	cJSON_AddItemToObject(res, "quality", sc);
	cJSON_AddNumberToObject(res, "score", total_score);
	cJSON_AddItemToObject(res, "frame", fr);
	cJSON_AddItemToObject(res, "schema", cJSON_Duplicate(info.schema, 1));
	{
		cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
		cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
		cJSON *i = cJSON_CreateObject();
		char *abs = ade_fs_abspath(in_frame);
		cJSON_AddStringToObject(i, "path", abs ? abs : in_frame);
		free(abs);
		cJSON_AddStringToObject(i, "format", "ade-frame");
		cJSON_AddNumberToObject(i, "rows", (double)q.rows_in);
		cJSON_AddNumberToObject(i, "bytes", ade_json_num(q.f->schema, "bytes", 0));
		cJSON_AddStringToObject(i, "hash", ade_json_str(q.f->schema, "content_hash", ""));
		cJSON_AddItemToArray(ins, i);
		cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", "frame");
		cJSON_AddStringToObject(o, "format", "ade-frame");
		cJSON_AddNumberToObject(o, "rows", (double)info.rows);
		cJSON_AddNumberToObject(o, "bytes", (double)info.bytes);
		cJSON_AddStringToObject(o, "hash", info.hash);
		cJSON_AddItemToObject(o, "schema", cJSON_Duplicate(info.schema, 1));
		cJSON_AddItemToArray(outs, o);
		if (q.c.export_csv) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "path", "cleaned.csv");
			cJSON_AddStringToObject(o, "format", "csv");
			cJSON_AddNumberToObject(o, "rows", (double)q.rows_out);
			cJSON_AddNumberToObject(o, "bytes", (double)csv_bytes);
			cJSON_AddItemToArray(outs, o);
		}
	}
	{
		cJSON *m = cJSON_AddObjectToObject(res, "metrics");
		cJSON_AddNumberToObject(m, "dedup_seconds", (double)(t1 - t0) / 1e9);
		cJSON_AddNumberToObject(m, "stats_seconds", (double)(t2 - t1) / 1e9);
		cJSON_AddNumberToObject(m, "write_seconds", (double)(t3 - t2) / 1e9);
		cJSON_AddNumberToObject(m, "export_seconds", (double)(t4 - t3) / 1e9);
		cJSON_AddNumberToObject(m, "duplicates_removed", (double)q.dups);
		cJSON_AddNumberToObject(m, "score", total_score);
	}
	if (below) {
		char *m = ade_xasprintf("quality score %.2f is below min_score %g", total_score,
					q.c.min_score);
		cJSON_AddStringToObject(res, "error", m);
		free(m);
	}
	cJSON_AddItemToObject(res, "warnings", q.warnings);
	q.warnings = NULL;
	rc = ade_stage_result_write(ctx, res, err);
	if (!rc && below)
		rc = ade_error_set(err, ADE_EDATA, "quality score %.2f is below min_score %g",
				   total_score, q.c.min_score);
	else if (!rc)
		ade_log_info("%lld rows in, %lld out, %lld duplicates, score %.2f",
			     (long long)q.rows_in, (long long)q.rows_out, (long long)q.dups,
			     total_score);
out:
	cJSON_Delete(res);
	cJSON_Delete(info.schema);
	cJSON_Delete(q.warnings);
	ade_frame_close(q.f);
	free(q.mark);
	free(q.st);
	if (q.c.cols)
		free(q.c.cols);
	free(q.c.keys);
	free(q.in_dir);
	free(in_frame);
	free(q.base);
	free(q.base_path);
	cJSON_Delete(q.base_json);
	return rc;
}
