/*
 * ade-validate: a rule engine over frames (see validate.h, docs/validate.md).
 *
 * The `with:` block is checked completely before the frame is opened, so
 * a typo in rule 7 is refused with its position before any work is done.
 * Rules then run one at a time, each as one pass (two for unique) over
 * the mmapped files of the columns it names: nothing is materialised per
 * row, and what a rule keeps is O(samples), or O(distinct) for unique.
 */
#include "validate.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define US_PER_DAY INT64_C(86400000000)
#define DEFAULT_SAMPLES 20
#define MAX_SAMPLES 10000
/* A sample's text is cut here: a sample shows the value, not a payload. */
#define SAMPLE_MAX_BYTES 1024

/* ---- rules ---- */

enum kind {
	K_NOT_NULL,
	K_UNIQUE,
	K_BETWEEN,
	K_IN_SET,
	K_REGEX,
	K_LENGTH,
	K_ROW_COUNT,
	K_COLUMN_EXISTS,
	K_COMPARE,
	K_FRESHNESS,
	K_NKINDS
};

static const char *const kind_names[K_NKINDS] = {
	"not_null", "unique", "between", "in_set", "regex",
	"length", "row_count", "column_exists", "compare", "freshness",
};

/* Keys each kind accepts besides the common ones; NULL-terminated. */
static const char *const kind_keys[K_NKINDS][8] = {
	[K_NOT_NULL] = {NULL},
	[K_UNIQUE] = {NULL},
	[K_BETWEEN] = {"min", "max", "strict", "strict_min", "strict_max", NULL},
	[K_IN_SET] = {"values", NULL},
	[K_REGEX] = {"pattern", NULL},
	[K_LENGTH] = {"min", "max", NULL},
	[K_ROW_COUNT] = {"min", "max", NULL},
	[K_COLUMN_EXISTS] = {"type", NULL},
	[K_COMPARE] = {"op", "other", "value", "expr", NULL},
	[K_FRESHNESS] = {"max_age", NULL},
};

/* Table rules judge the table as one unit: no `mostly`, no row samples. */
static int kind_is_table(enum kind k)
{
	return k == K_ROW_COUNT || k == K_COLUMN_EXISTS || k == K_FRESHNESS;
}

enum severity { SEV_WARN, SEV_FAIL, SEV_CRITICAL, SEV_N };
static const char *const sev_names[SEV_N] = {"warn", "fail", "critical"};

enum op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_N };
static const char *const op_names[OP_N] = {"<", "<=", ">", ">=", "==", "!="};
static const char *const op_words[OP_N] = {"lt", "le", "gt", "ge", "eq", "ne"};

struct sample {
	int64_t row;
	cJSON *value;
	cJSON *key;
};

struct rule {
	int idx;
	enum kind kind;
	char *name;
	char *column;
	enum severity severity;
	double mostly;
	int samples;
	/* between, length, row_count */
	const cJSON *min, *max; /* borrowed from the config (or owned_*) */
	int strict_min, strict_max;
	/* in_set */
	const cJSON *values;
	/* regex */
	regex_t re;
	int has_re;
	uint64_t *rcache; /* value hash -> verdict, see regex_match */
	/* compare */
	enum op op;
	char *other;
	const cJSON *value;
	cJSON *owned_value; /* a literal parsed from expr */
	/* freshness */
	int64_t max_age_us;
	/* column_exists */
	int has_type;
	enum ade_type want_type;

	/* outcome */
	int passed;
	char reason[256];
	int64_t rows, missing, evaluated, failures;
	struct sample *smp;
	int nsmp;
	cJSON *extra; /* kind-specific report members, merged into the result */
	double seconds;
};

/* ---- typed values ---- */

/* How values of a column compare: numbers with numbers, times with times. */
enum dom { DOM_NUM, DOM_BOOL, DOM_TIME, DOM_STR };


enum vk { VK_NULL, VK_INT, VK_F64, VK_STR };

struct val {
	enum vk k;
	int64_t i;   /* int64, bool 0/1, or time in microseconds */
	double f;
	const char *s;
	size_t n;
};

static enum dom type_dom(enum ade_type t)
{
	switch (t) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_FLOAT64:
		return DOM_NUM;
	case ADE_TYPE_BOOL:
		return DOM_BOOL;
	case ADE_TYPE_DATE:
	case ADE_TYPE_TIMESTAMP:
		return DOM_TIME;
	default:
		return DOM_STR;
	}
}

static int col_null(const struct ade_frame_column *c, int64_t i)
{
	if (c->valid && !c->valid[i])
		return 1;
	if (c->type == ADE_TYPE_CATEGORICAL)
		return ((const int32_t *)c->data)[i] < 0;
	return 0;
}

/* Reads row i; dates become microseconds so they compare with timestamps. */
static void col_get(const struct ade_frame_column *c, int64_t i, struct val *v)
{
	if (col_null(c, i)) {
		v->k = VK_NULL;
		return;
	}
	switch (c->type) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_TIMESTAMP:
		v->k = VK_INT;
		v->i = ((const int64_t *)c->data)[i];
		break;
	case ADE_TYPE_DATE:
		v->k = VK_INT;
		v->i = ((const int64_t *)c->data)[i] * US_PER_DAY;
		break;
	case ADE_TYPE_FLOAT64:
		v->k = VK_F64;
		v->f = ((const double *)c->data)[i];
		break;
	case ADE_TYPE_BOOL:
		v->k = VK_INT;
		v->i = ((const uint8_t *)c->data)[i] != 0;
		break;
	case ADE_TYPE_CATEGORICAL:
	case ADE_TYPE_STRING:
		v->k = VK_STR;
		v->s = ade_frame_str(c, i, &v->n);
		break;
	}
}

/*
 * Keeps resident memory flat as rows grow: the frame's files are mapped
 * read-only, so once a chunk of rows has been read its pages can be dropped
 * from this process (they stay in the page cache and fault back in if read
 * again, with the same bytes).  Without this, peak RSS would reach the size
 * of every column a run touches.
 */
#define CHUNK_ROWS ((int64_t)1 << 18)

static void drop_range(const void *p, size_t len)
{
	static uintptr_t page;
	uintptr_t a, b;

	if (!p || !len)
		return;
	if (!page)
		page = (uintptr_t)sysconf(_SC_PAGESIZE);
	a = ((uintptr_t)p + page - 1) & ~(page - 1);
	b = ((uintptr_t)p + len) & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Drops the pages of rows [from, to) of c. */
static void drop_rows(const struct ade_frame_column *c, int64_t from, int64_t to)
{
	size_t w = c->type == ADE_TYPE_BOOL ? 1 : c->type == ADE_TYPE_CATEGORICAL ? 4 : 8;

	if (c->valid)
		drop_range(c->valid + from, (size_t)(to - from));
	if (c->type == ADE_TYPE_STRING) {
		drop_range(c->offsets + from, (size_t)(to - from) * 8);
		drop_range(c->bytes + c->offsets[from], (size_t)(c->offsets[to] - c->offsets[from]));
	} else if (c->data) {
		drop_range((const char *)c->data + (size_t)from * w, (size_t)(to - from) * w);
	}
}

/* Called after row i of a loop: drops each finished chunk behind it. */
static inline void row_done(const struct ade_frame_column *c, int64_t i)
{
	if (((i + 1) & (CHUNK_ROWS - 1)) == 0)
		drop_rows(c, i + 1 - CHUNK_ROWS, i + 1);
}

/* -1, 0, 1, or 2 when unordered (a NaN is involved). */
static int val_cmp(const struct val *a, const struct val *b)
{
	if (a->k == VK_STR) {
		size_t n = a->n < b->n ? a->n : b->n;
		int c = n ? memcmp(a->s, b->s, n) : 0;
		if (c)
			return c < 0 ? -1 : 1;
		return a->n < b->n ? -1 : a->n > b->n;
	}
	if (a->k == VK_INT && b->k == VK_INT)
		return a->i < b->i ? -1 : a->i > b->i;
	/* long double holds every int64 exactly on x86-64 and aarch64. */
	long double x = a->k == VK_INT ? (long double)a->i : (long double)a->f;
	long double y = b->k == VK_INT ? (long double)b->i : (long double)b->f;
	if (isnan(x) || isnan(y))
		return 2;
	return x < y ? -1 : x > y;
}

static int op_holds(enum op op, int c)
{
	if (c == 2)
		return op == OP_NE;
	switch (op) {
	case OP_LT: return c < 0;
	case OP_LE: return c <= 0;
	case OP_GT: return c > 0;
	case OP_GE: return c >= 0;
	case OP_EQ: return c == 0;
	default: return c != 0;
	}
}

size_t ade_validate_utf8_chars(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int ade_validate_parse_time(const char *s, size_t n, int64_t *us)
{
	int32_t days;
	int hh = 0, mm = 0, ss = 0, oh = 0, om = 0;
	int64_t frac = 0;
	size_t p = 10;

	if (n < 10 || ade_date_parse_n(s, 10, &days))
		return ADE_EINVAL;
	if (p < n) {
		if ((s[p] != 'T' && s[p] != ' ') || n < p + 6 || s[p + 3] != ':' ||
		    digits(s + p + 1, 2, &hh) || digits(s + p + 4, 2, &mm) || hh > 23 || mm > 59)
			return ADE_EINVAL;
		p += 6;
		if (p < n && s[p] == ':') {
			if (n < p + 3 || digits(s + p + 1, 2, &ss) || ss > 60)
				return ADE_EINVAL;
			p += 3;
			if (p < n && (s[p] == '.' || s[p] == ',')) {
				int nd = 0;
				p++;
				while (p < n && s[p] >= '0' && s[p] <= '9') {
					if (nd < 6)
						frac = frac * 10 + (s[p] - '0');
					nd++;
					p++;
				}
				if (!nd)
					return ADE_EINVAL;
				for (; nd < 6; nd++)
					frac *= 10;
			}
		}
		if (p < n && s[p] == 'Z') {
			p++;
		} else if (p < n && (s[p] == '+' || s[p] == '-')) {
			int sign = s[p] == '-' ? -1 : 1;
			if (n < p + 6 || s[p + 3] != ':' || digits(s + p + 1, 2, &oh) ||
			    digits(s + p + 4, 2, &om) || oh > 23 || om > 59)
				return ADE_EINVAL;
			oh *= sign;
			om *= sign;
			p += 6;
		}
		if (p != n)
			return ADE_EINVAL;
	}
	*us = (int64_t)days * US_PER_DAY +
	      ((int64_t)(hh - oh) * 3600 + (int64_t)(mm - om) * 60 + ss) * 1000000 + frac;
	return 0;
}

/* ---- the stage's state ---- */

struct vstate {
	const struct ade_stage_ctx *ctx;
	struct rule *rules;
	int nrules;
	int samples;
	char *key; /* `key:` column shown with every sample */
	int64_t ds_us, istart_us, iend_us;
	struct ade_frame *f;
	const struct ade_frame_column *keycol;
	struct ade_strbuf text; /* scratch for regex subjects */
};

/* Resolves a config literal for a column domain; NULL on success, else why not. */
static const char *lit_resolve(const struct vstate *vs, const cJSON *j, enum dom d,
			       struct val *v)
{
	switch (d) {
	case DOM_NUM:
		if (!cJSON_IsNumber(j))
			return "expects a number";
		v->k = VK_F64;
		v->f = j->valuedouble;
		return NULL;
	case DOM_BOOL:
		if (!cJSON_IsBool(j))
			return "expects true or false";
		v->k = VK_INT;
		v->i = cJSON_IsTrue(j);
		return NULL;
	case DOM_TIME:
		if (!cJSON_IsString(j))
			return "expects a date (YYYY-MM-DD), a timestamp, ds, interval_start or interval_end";
		v->k = VK_INT;
		if (!strcmp(j->valuestring, "ds"))
			v->i = vs->ds_us;
		else if (!strcmp(j->valuestring, "interval_start"))
			v->i = vs->istart_us;
		else if (!strcmp(j->valuestring, "interval_end"))
			v->i = vs->iend_us;
		else if (ade_validate_parse_time(j->valuestring, strlen(j->valuestring), &v->i))
			return "expects a date (YYYY-MM-DD), a timestamp, ds, interval_start or interval_end";
		return NULL;
	default:
		if (!cJSON_IsString(j))
			return "expects a string";
		v->k = VK_STR;
		v->s = j->valuestring;
		v->n = strlen(j->valuestring);
		return NULL;
	}
}

/* ---- configuration ---- */

static int cfg_err(const struct vstate *vs, struct ade_error *err, const char *fmt, int i,
		   const char *key, const char *msg)
{
	char ptr[128];

	if (i < 0)
		snprintf(ptr, sizeof(ptr), "%s", key ? key : "");
	else if (key)
		snprintf(ptr, sizeof(ptr), "/rules/%d/%s", i, key);
	else
		snprintf(ptr, sizeof(ptr), "/rules/%d", i);
	return ade_stage_config_error(vs->ctx, err, ptr, fmt, msg);
}

static int is_integer(const cJSON *j, double lo, double hi)
{
	return cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) &&
	       j->valuedouble >= lo && j->valuedouble <= hi;
}

static int key_allowed(enum kind k, const char *key)
{
	static const char *const common[] = {"kind", "name", "column", "severity", "samples",
					     "description", "mostly"};

	/* Table rules have no rows to sample or share; row_count has no column. */
	if (kind_is_table(k) && (!strcmp(key, "mostly") || !strcmp(key, "samples")))
		return 0;
	if (k == K_ROW_COUNT && !strcmp(key, "column"))
		return 0;
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (!strcmp(key, common[i]))
			return 1;
	for (int i = 0; kind_keys[k][i]; i++)
		if (!strcmp(key, kind_keys[k][i]))
			return 1;
	return 0;
}

static void keys_list(enum kind k, char *buf, size_t n)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_adds(&sb, k == K_ROW_COUNT ? "name, severity, description" :
			kind_is_table(k) ? "column, name, severity, description" :
			"column, name, severity, mostly, samples, description");
	for (int i = 0; kind_keys[k][i]; i++)
		ade_strbuf_addf(&sb, ", %s", kind_keys[k][i]);
	snprintf(buf, n, "%s", sb.buf);
	ade_strbuf_release(&sb);
}

static int parse_op(const char *s, size_t n, enum op *op)
{
	for (int i = 0; i < OP_N; i++)
		if (strlen(op_names[i]) == n && !strncmp(s, op_names[i], n)) {
			*op = (enum op)i;
			return 0;
		}
	if (n == 1 && *s == '=') { /* SQL's equality */
		*op = OP_EQ;
		return 0;
	}
	if (n == 2 && !strncmp(s, "<>", 2)) {
		*op = OP_NE;
		return 0;
	}
	return -1;
}

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/*
 * "COLUMN OP RHS": RHS is a number, a quoted string, ds / interval_start /
 * interval_end (the run's dates), or another column's name.
 */
static int parse_expr(struct vstate *vs, struct rule *r, const char *e, struct ade_error *err)
{
	const char *p = e, *a, *b;
	char why[160];

	while (*p == ' ')
		p++;
	a = p;
	while (ident_char(*p))
		p++;
	if (p == a) {
		snprintf(why, sizeof(why), "expr '%s' must start with a column name", e);
		return cfg_err(vs, err, "%s", r->idx, "expr", why);
	}
	r->column = ade_xstrndup(a, (size_t)(p - a));
	while (*p == ' ')
		p++;
	b = p;
	while (*p && strchr("<>=!", *p))
		p++;
	if (parse_op(b, (size_t)(p - b), &r->op)) {
		snprintf(why, sizeof(why),
			 "expr '%s' needs an operator after '%s': <, <=, >, >=, == or !=", e,
			 r->column);
		return cfg_err(vs, err, "%s", r->idx, "expr", why);
	}
	while (*p == ' ')
		p++;
	b = p;
	if (*p == '\'' || *p == '"') {
		const char *q = strchr(p + 1, *p);
		if (!q) {
			snprintf(why, sizeof(why), "expr '%s' has an unterminated string", e);
			return cfg_err(vs, err, "%s", r->idx, "expr", why);
		}
		char *s = ade_xstrndup(p + 1, (size_t)(q - p - 1));
		r->owned_value = cJSON_CreateString(s);
		free(s);
		p = q + 1;
	} else {
		while (*p && *p != ' ')
			p++;
		char *tok = ade_xstrndup(b, (size_t)(p - b));
		char *end;
		double d = strtod(tok, &end);
		if (!*tok) {
			snprintf(why, sizeof(why), "expr '%s' needs a value or column after the operator", e);
			free(tok);
			return cfg_err(vs, err, "%s", r->idx, "expr", why);
		}
		if (*end == '\0' && (isdigit((unsigned char)*tok) || *tok == '-' || *tok == '+' || *tok == '.')) {
			r->owned_value = cJSON_CreateNumber(d);
		} else if (!strcmp(tok, "ds") || !strcmp(tok, "interval_start") ||
			   !strcmp(tok, "interval_end")) {
			r->owned_value = cJSON_CreateString(tok);
		} else if (!strcmp(tok, "true") || !strcmp(tok, "false")) {
			r->owned_value = cJSON_CreateBool(!strcmp(tok, "true"));
		} else {
			for (const char *c = tok; *c; c++)
				if (!ident_char(*c)) {
					snprintf(why, sizeof(why),
						 "expr '%s': '%s' is not a column name, number or quoted string",
						 e, tok);
					free(tok);
					return cfg_err(vs, err, "%s", r->idx, "expr", why);
				}
			r->other = tok;
			tok = NULL;
		}
		free(tok);
	}
	while (*p == ' ')
		p++;
	if (*p) {
		snprintf(why, sizeof(why), "expr '%s' has text after the comparison: '%s'", e, p);
		return cfg_err(vs, err, "%s", r->idx, "expr", why);
	}
	r->value = r->owned_value;
	return 0;
}

static int parse_bound_pair(struct vstate *vs, struct rule *r, const cJSON *o,
			    struct ade_error *err)
{
	char why[160];
	int ints = r->kind != K_BETWEEN;

	r->min = cJSON_GetObjectItemCaseSensitive(o, "min");
	r->max = cJSON_GetObjectItemCaseSensitive(o, "max");
	if (!r->min && !r->max) {
		snprintf(why, sizeof(why), "%s needs min or max (or both)", kind_names[r->kind]);
		return cfg_err(vs, err, "%s", r->idx, NULL, why);
	}
	for (int k = 0; k < 2; k++) {
		const cJSON *b = k ? r->max : r->min;
		const char *key = k ? "max" : "min";
		if (!b)
			continue;
		if (ints && !is_integer(b, 0, 9007199254740992.0)) {
			snprintf(why, sizeof(why), "%s must be an integer >= 0", key);
			return cfg_err(vs, err, "%s", r->idx, key, why);
		}
		if (!ints && !cJSON_IsNumber(b) && !cJSON_IsString(b) && !cJSON_IsBool(b)) {
			snprintf(why, sizeof(why),
				 "%s must be a number, a date or timestamp, or a string", key);
			return cfg_err(vs, err, "%s", r->idx, key, why);
		}
		if (cJSON_IsNumber(b) && isnan(b->valuedouble)) {
			snprintf(why, sizeof(why), "%s must not be NaN", key);
			return cfg_err(vs, err, "%s", r->idx, key, why);
		}
	}
	if (r->min && r->max && cJSON_IsNumber(r->min) && cJSON_IsNumber(r->max) &&
	    r->min->valuedouble > r->max->valuedouble) {
		snprintf(why, sizeof(why), "min %g is greater than max %g", r->min->valuedouble,
			 r->max->valuedouble);
		return cfg_err(vs, err, "%s", r->idx, "min", why);
	}
	if (r->kind == K_BETWEEN) {
		const char *sk[3] = {"strict", "strict_min", "strict_max"};
		for (int k = 0; k < 3; k++) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, sk[k]);
			if (!s)
				continue;
			if (!cJSON_IsBool(s)) {
				snprintf(why, sizeof(why), "%s must be true or false", sk[k]);
				return cfg_err(vs, err, "%s", r->idx, sk[k], why);
			}
			if (k == 0)
				r->strict_min = r->strict_max = cJSON_IsTrue(s);
		}
		/* strict_min / strict_max override strict, as in Great Expectations. */
		if (cJSON_GetObjectItemCaseSensitive(o, "strict_min"))
			r->strict_min = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "strict_min"));
		if (cJSON_GetObjectItemCaseSensitive(o, "strict_max"))
			r->strict_max = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "strict_max"));
	}
	return 0;
}

static int parse_rule(struct vstate *vs, struct rule *r, const cJSON *o, int default_sev,
		      struct ade_error *err)
{
	char why[512];
	const cJSON *j;
	int i = r->idx;

	if (!cJSON_IsObject(o))
		return cfg_err(vs, err, "%s", i, NULL,
			       "a rule must be a mapping, e.g. {kind: not_null, column: id}");
	j = cJSON_GetObjectItemCaseSensitive(o, "kind");
	if (!j)
		return cfg_err(vs, err, "%s", i, NULL,
			       "rule needs kind: not_null, unique, between, in_set, regex, length, "
			       "row_count, column_exists, compare or freshness");
	if (!cJSON_IsString(j))
		return cfg_err(vs, err, "%s", i, "kind", "kind must be a string");
	r->kind = K_NKINDS;
	for (int k = 0; k < K_NKINDS; k++)
		if (!strcmp(j->valuestring, kind_names[k]))
			r->kind = (enum kind)k;
	if (r->kind == K_NKINDS) {
		snprintf(why, sizeof(why),
			 "unknown rule kind '%.64s' (kinds: not_null, unique, between, in_set, regex, "
			 "length, row_count, column_exists, compare, freshness)",
			 j->valuestring);
		return cfg_err(vs, err, "%s", i, "kind", why);
	}
	for (const cJSON *c = o->child; c; c = c->next)
		if (!key_allowed(r->kind, c->string)) {
			char keys[256];
			keys_list(r->kind, keys, sizeof(keys));
			if (!strcmp(c->string, "mostly"))
				snprintf(why, sizeof(why),
					 "mostly does not apply to %s: it judges the table as a whole",
					 kind_names[r->kind]);
			else
				snprintf(why, sizeof(why), "unknown key '%.64s' in a %s rule (keys: %s)",
					 c->string, kind_names[r->kind], keys);
			return cfg_err(vs, err, "%s", i, c->string, why);
		}

	/* severity, mostly, samples */
	r->severity = (enum severity)default_sev;
	j = cJSON_GetObjectItemCaseSensitive(o, "severity");
	if (j) {
		int s = -1;
		for (int k = 0; k < SEV_N && cJSON_IsString(j); k++)
			if (!strcmp(j->valuestring, sev_names[k]))
				s = k;
		if (s < 0 && cJSON_IsString(j)) {
			snprintf(why, sizeof(why), "severity must be warn, fail or critical, not '%.64s'",
				 j->valuestring);
			return cfg_err(vs, err, "%s", i, "severity", why);
		}
		if (s < 0)
			return cfg_err(vs, err, "%s", i, "severity", "severity must be warn, fail or critical");
		r->severity = (enum severity)s;
	}
	r->mostly = 1.0;
	j = cJSON_GetObjectItemCaseSensitive(o, "mostly");
	if (j) {
		if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0 && j->valuedouble <= 1))
			return cfg_err(vs, err, "%s", i, "mostly",
				       "mostly must be a number from 0 to 1 (the share of values that must pass)");
		r->mostly = j->valuedouble;
	}
	r->samples = vs->samples;
	j = cJSON_GetObjectItemCaseSensitive(o, "samples");
	if (j) {
		if (!is_integer(j, 0, MAX_SAMPLES))
			return cfg_err(vs, err, "%s", i, "samples", "samples must be an integer from 0 to 10000");
		r->samples = j->valueint;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "description");
	if (j && !cJSON_IsString(j))
		return cfg_err(vs, err, "%s", i, "description", "description must be a string");

	/* column */
	j = cJSON_GetObjectItemCaseSensitive(o, "column");
	if (j) {
		if (!cJSON_IsString(j) || !*j->valuestring)
			return cfg_err(vs, err, "%s", i, "column", "column must be a non-empty string");
		if (cJSON_GetObjectItemCaseSensitive(o, "expr"))
			return cfg_err(vs, err, "%s", i, "column",
				       "give either expr or column/op/other|value, not both");
		r->column = ade_xstrdup(j->valuestring);
	} else if (r->kind != K_ROW_COUNT &&
		   !(r->kind == K_COMPARE && cJSON_GetObjectItemCaseSensitive(o, "expr"))) {
		snprintf(why, sizeof(why), "%s needs column", kind_names[r->kind]);
		return cfg_err(vs, err, "%s", i, NULL, why);
	}

	switch (r->kind) {
	case K_BETWEEN:
	case K_LENGTH:
	case K_ROW_COUNT:
		if (parse_bound_pair(vs, r, o, err))
			return ADE_EINVAL;
		break;
	case K_IN_SET:
		r->values = cJSON_GetObjectItemCaseSensitive(o, "values");
		if (!r->values)
			return cfg_err(vs, err, "%s", i, NULL, "in_set needs values: [...]");
		if (!cJSON_IsArray(r->values) || !r->values->child)
			return cfg_err(vs, err, "%s", i, "values", "values must be a non-empty list");
		for (const cJSON *v = r->values->child; v; v = v->next)
			if (!cJSON_IsString(v) && !cJSON_IsNumber(v) && !cJSON_IsBool(v))
				return cfg_err(vs, err, "%s", i, "values",
					       "values must hold strings, numbers or booleans");
		break;
	case K_REGEX: {
		j = cJSON_GetObjectItemCaseSensitive(o, "pattern");
		if (!j)
			return cfg_err(vs, err, "%s", i, NULL, "regex needs pattern");
		if (!cJSON_IsString(j))
			return cfg_err(vs, err, "%s", i, "pattern", "pattern must be a string");
		int rc = regcomp(&r->re, j->valuestring, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[200];
			regerror(rc, &r->re, msg, sizeof(msg));
			snprintf(why, sizeof(why), "invalid regular expression '%.128s': %s (POSIX ERE)",
				 j->valuestring, msg);
			return cfg_err(vs, err, "%s", i, "pattern", why);
		}
		r->has_re = 1;
		break;
	}
	case K_COLUMN_EXISTS:
		j = cJSON_GetObjectItemCaseSensitive(o, "type");
		if (j) {
			if (!cJSON_IsString(j) || ade_type_parse(j->valuestring, &r->want_type))
				return cfg_err(vs, err, "%s", i, "type",
					       "type must be int64, float64, bool, date, timestamp, "
					       "categorical or string");
			r->has_type = 1;
		}
		break;
	case K_COMPARE: {
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "expr");
		const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
		const cJSON *other = cJSON_GetObjectItemCaseSensitive(o, "other");
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
		if (ex) {
			if (op || other || value)
				return cfg_err(vs, err, "%s", i, "expr",
					       "give either expr or column/op/other|value, not both");
			if (!cJSON_IsString(ex))
				return cfg_err(vs, err, "%s", i, "expr",
					       "expr must be a string such as 'hire_date <= ds'");
			if (parse_expr(vs, r, ex->valuestring, err))
				return ADE_EINVAL;
			break;
		}
		if (!op)
			return cfg_err(vs, err, "%s", i, NULL,
				       "compare needs op and other (a column) or value, or expr");
		if (!cJSON_IsString(op) || parse_op(op->valuestring, strlen(op->valuestring), &r->op))
			return cfg_err(vs, err, "%s", i, "op", "op must be <, <=, >, >=, == or !=");
		if (!!other == !!value)
			return cfg_err(vs, err, "%s", i, NULL,
				       "compare needs exactly one of other (a column) and value");
		if (other) {
			if (!cJSON_IsString(other) || !*other->valuestring)
				return cfg_err(vs, err, "%s", i, "other", "other must be a column name");
			r->other = ade_xstrdup(other->valuestring);
		} else {
			if (!cJSON_IsString(value) && !cJSON_IsNumber(value) && !cJSON_IsBool(value))
				return cfg_err(vs, err, "%s", i, "value",
					       "value must be a number, a string or a boolean");
			r->value = value;
		}
		break;
	}
	case K_FRESHNESS:
		j = cJSON_GetObjectItemCaseSensitive(o, "max_age");
		if (!j)
			return cfg_err(vs, err, "%s", i, NULL, "freshness needs max_age, e.g. 26h or 2d");
		if (cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < 1e12) {
			r->max_age_us = (int64_t)(j->valuedouble * 1e6);
		} else {
			int64_t ms;
			if (!cJSON_IsString(j) || ade_parse_duration_ms(j->valuestring, &ms) || ms < 0)
				return cfg_err(vs, err, "%s", i, "max_age",
					       "max_age must be a duration such as 30m, 26h or 2d");
			r->max_age_us = ms * 1000;
		}
		break;
	default:
		break;
	}

	/* name, last: the default is made of what was parsed above */
	j = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (j) {
		if (!cJSON_IsString(j) || !*j->valuestring)
			return cfg_err(vs, err, "%s", i, "name", "name must be a non-empty string");
		for (int k = 0; k < i; k++)
			if (vs->rules[k].name && !strcmp(vs->rules[k].name, j->valuestring)) {
				snprintf(why, sizeof(why), "rule name '%.64s' is already used by rule %d",
					 j->valuestring, k + 1);
				return cfg_err(vs, err, "%s", i, "name", why);
			}
		r->name = ade_xstrdup(j->valuestring);
	}
	return 0;
}

/* Default names: kind_column[_op_rhs], then _2, _3... until unique. */
static void default_names(struct vstate *vs)
{
	for (int i = 0; i < vs->nrules; i++) {
		struct rule *r = &vs->rules[i];
		if (r->name)
			continue;
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		ade_strbuf_adds(&sb, kind_names[r->kind]);
		if (r->column)
			ade_strbuf_addf(&sb, "_%s", r->column);
		if (r->kind == K_COMPARE) {
			ade_strbuf_addf(&sb, "_%s_", op_words[r->op]);
			if (r->other)
				ade_strbuf_adds(&sb, r->other);
			else if (cJSON_IsString(r->value))
				ade_strbuf_adds(&sb, r->value->valuestring);
			else if (cJSON_IsNumber(r->value))
				ade_strbuf_addf(&sb, "%g", r->value->valuedouble);
			else
				ade_strbuf_adds(&sb, cJSON_IsTrue(r->value) ? "true" : "false");
		}
		char *base = ade_strbuf_detach(&sb);
		char *name = ade_xstrdup(base);
		for (int n = 2;; n++) {
			int clash = 0;
			for (int k = 0; k < vs->nrules && !clash; k++)
				clash = k != i && vs->rules[k].name && !strcmp(vs->rules[k].name, name);
			if (!clash)
				break;
			free(name);
			name = ade_xasprintf("%s_%d", base, n);
		}
		free(base);
		r->name = name;
	}
}

static int parse_config(struct vstate *vs, struct ade_error *err)
{
	static const char *const top[] = {"rules", "samples", "severity", "key", "input"};
	const cJSON *cfg = vs->ctx->config, *j;
	int default_sev = SEV_FAIL;
	char why[256];

	for (const cJSON *c = cfg->child; c; c = c->next) {
		size_t k;
		for (k = 0; k < sizeof(top) / sizeof(top[0]); k++)
			if (!strcmp(c->string, top[k]))
				break;
		if (k == sizeof(top) / sizeof(top[0])) {
			char ptr[160];
			snprintf(why, sizeof(why),
				 "unknown key '%.64s' (keys: rules, samples, severity, key, input)",
				 c->string);
			snprintf(ptr, sizeof(ptr), "/%.150s", c->string);
			return cfg_err(vs, err, "%s", -1, ptr, why);
		}
	}
	vs->samples = DEFAULT_SAMPLES;
	j = cJSON_GetObjectItemCaseSensitive(cfg, "samples");
	if (j) {
		if (!is_integer(j, 0, MAX_SAMPLES))
			return cfg_err(vs, err, "%s", -1, "/samples",
				       "samples must be an integer from 0 to 10000");
		vs->samples = j->valueint;
	}
	j = cJSON_GetObjectItemCaseSensitive(cfg, "severity");
	if (j) {
		default_sev = -1;
		for (int k = 0; k < SEV_N && cJSON_IsString(j); k++)
			if (!strcmp(j->valuestring, sev_names[k]))
				default_sev = k;
		if (default_sev < 0)
			return cfg_err(vs, err, "%s", -1, "/severity",
				       "severity must be warn, fail or critical");
	}
	j = cJSON_GetObjectItemCaseSensitive(cfg, "key");
	if (j) {
		if (!cJSON_IsString(j) || !*j->valuestring)
			return cfg_err(vs, err, "%s", -1, "/key", "key must be a column name");
		vs->key = ade_xstrdup(j->valuestring);
	}
	j = cJSON_GetObjectItemCaseSensitive(cfg, "input");
	if (j && !cJSON_IsString(j))
		return cfg_err(vs, err, "%s", -1, "/input", "input must be a stage name");
	j = cJSON_GetObjectItemCaseSensitive(cfg, "rules");
	if (!j)
		return cfg_err(vs, err, "%s", -1, "",
			       "rules is required: a list such as [{kind: not_null, column: id}]");
	if (!cJSON_IsArray(j))
		return cfg_err(vs, err, "%s", -1, "/rules", "rules must be a list of rules");
	vs->nrules = cJSON_GetArraySize(j);
	vs->rules = ade_xcalloc((size_t)vs->nrules + 1, sizeof(struct rule));
	int i = 0;
	for (const cJSON *o = j->child; o; o = o->next, i++) {
		vs->rules[i].idx = i;
		if (parse_rule(vs, &vs->rules[i], o, default_sev, err))
			return ADE_EINVAL;
	}
	default_names(vs);
	return 0;
}

static void rules_free(struct vstate *vs)
{
	for (int i = 0; i < vs->nrules; i++) {
		struct rule *r = &vs->rules[i];
		free(r->name);
		free(r->column);
		free(r->other);
		cJSON_Delete(r->owned_value);
		if (r->has_re)
			regfree(&r->re);
		free(r->rcache);
		for (int k = 0; k < r->nsmp; k++) {
			cJSON_Delete(r->smp[k].value);
			cJSON_Delete(r->smp[k].key);
		}
		free(r->smp);
		cJSON_Delete(r->extra);
	}
	free(vs->rules);
	free(vs->key);
}

/* ---- samples ---- */

static cJSON *str_json(const char *s, size_t n)
{
	char *t;
	cJSON *j;

	if (n > SAMPLE_MAX_BYTES) {
		n = SAMPLE_MAX_BYTES;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--; /* cut at a character boundary */
	}
	t = ade_xstrndup(s, n);
	j = cJSON_CreateString(t);
	free(t);
	return j;
}

/* The value of row i as JSON: dates and timestamps as ISO text, NaN as text. */
static cJSON *cell_json(const struct ade_frame_column *c, int64_t i)
{
	char buf[40];

	if (col_null(c, i))
		return cJSON_CreateNull();
	switch (c->type) {
	case ADE_TYPE_INT64:
		return cJSON_CreateNumber((double)((const int64_t *)c->data)[i]);
	case ADE_TYPE_FLOAT64: {
		double d = ((const double *)c->data)[i];
		if (isnan(d))
			return cJSON_CreateString("NaN");
		if (isinf(d))
			return cJSON_CreateString(d > 0 ? "Infinity" : "-Infinity");
		return cJSON_CreateNumber(d);
	}
	case ADE_TYPE_BOOL:
		return cJSON_CreateBool(((const uint8_t *)c->data)[i] != 0);
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)((const int64_t *)c->data)[i], buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us(((const int64_t *)c->data)[i], buf);
		return cJSON_CreateString(buf);
	default: {
		size_t n;
		const char *s = ade_frame_str(c, i, &n);
		return str_json(s, n);
	}
	}
}

/*
 * Records an unexpected row; keeps the first r->samples of them, so memory
 * is O(samples) whatever the failure count.  other is the second column
 * of a column-pair compare, shown next to the first.
 */
static void add_failure(struct vstate *vs, struct rule *r, const struct ade_frame_column *c,
			const struct ade_frame_column *other, int64_t row)
{
	r->failures++;
	if (r->nsmp >= r->samples)
		return;
	if (!r->smp)
		r->smp = ade_xcalloc((size_t)r->samples, sizeof(*r->smp));
	struct sample *s = &r->smp[r->nsmp++];
	s->row = row;
	if (c && other) {
		s->value = cJSON_CreateArray();
		cJSON_AddItemToArray(s->value, cell_json(c, row));
		cJSON_AddItemToArray(s->value, cell_json(other, row));
	} else {
		s->value = c ? cell_json(c, row) : cJSON_CreateNull();
	}
	if (vs->keycol)
		s->key = cell_json(vs->keycol, row);
}

/* ---- predicates over single values ---- */

struct pred {
	struct rule *r;
	enum dom dom;
	struct val lo, hi;     /* between */
	int has_lo, has_hi;
	struct val *set;       /* in_set, sorted */
	int nset;
	struct val rhs;        /* compare with a value */
};

static int cmp_for_sort(const void *a, const void *b)
{
	int c = val_cmp(a, b);
	return c == 2 ? 0 : c;
}

/* Renders a non-string value as text, for regex over other types. */
static void val_text(struct vstate *vs, const struct ade_frame_column *c, int64_t i)
{
	char buf[64];

	ade_strbuf_reset(&vs->text);
	switch (c->type) {
	case ADE_TYPE_INT64:
		snprintf(buf, sizeof(buf), "%lld", (long long)((const int64_t *)c->data)[i]);
		break;
	case ADE_TYPE_FLOAT64: {
		double d = ((const double *)c->data)[i];
		/* The shortest text that reads back as the same double. */
		for (int p = 15; p <= 17; p++) {
			snprintf(buf, sizeof(buf), "%.*g", p, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		break;
	}
	case ADE_TYPE_BOOL:
		snprintf(buf, sizeof(buf), "%s", ((const uint8_t *)c->data)[i] ? "true" : "false");
		break;
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)((const int64_t *)c->data)[i], buf);
		break;
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us(((const int64_t *)c->data)[i], buf);
		break;
	default: {
		size_t n;
		const char *s = ade_frame_str(c, i, &n);
		ade_strbuf_add(&vs->text, s, n);
		return;
	}
	}
	ade_strbuf_adds(&vs->text, buf);
}

/*
 * regexec costs ~0.4 us a value, far more than the rest of a pass, and
 * columns repeat values (names, codes), so verdicts are cached by the
 * value's XXH3-128 in a direct-mapped table of RCACHE entries (256 KiB);
 * the top bit of the stored hash holds the verdict.  A collision would
 * need two values with the same 127-bit hash.
 */
#define RCACHE (1u << 14)
#define DUP_BIT (UINT64_C(1) << 63)

static int regex_match(struct vstate *vs, struct rule *r, const char *s, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(s, n);
	uint64_t lo = h.low64 | 1, hi = h.high64 & ~DUP_BIT;
	uint64_t *slot;
	int ok;

	if (!r->rcache)
		r->rcache = ade_xcalloc(RCACHE, 16);
	slot = &r->rcache[2 * (lo & (RCACHE - 1))];
	if (slot[0] == lo && (slot[1] & ~DUP_BIT) == hi)
		return (slot[1] & DUP_BIT) != 0;
	/* An embedded NUL would end the subject early; such a value is unexpected. */
	if (memchr(s, '\0', n)) {
		ok = 0;
	} else {
		ade_strbuf_reset(&vs->text);
		ade_strbuf_add(&vs->text, s, n);
		ok = regexec(&r->re, vs->text.buf, 0, NULL, 0) == 0;
	}
	slot[0] = lo;
	slot[1] = hi | (ok ? DUP_BIT : 0);
	return ok;
}

/* 1 when v (not null) is expected by the rule. */
static int pred_eval(struct vstate *vs, const struct pred *p, const struct val *v)
{
	struct rule *r = p->r;

	switch (r->kind) {
	case K_BETWEEN: {
		if (p->has_lo) {
			int c = val_cmp(v, &p->lo);
			if (c == 2 || c < 0 || (c == 0 && r->strict_min))
				return 0;
		}
		if (p->has_hi) {
			int c = val_cmp(v, &p->hi);
			if (c == 2 || c > 0 || (c == 0 && r->strict_max))
				return 0;
		}
		return 1;
	}
	case K_IN_SET: {
		int lo = 0, hi = p->nset - 1;
		while (lo <= hi) {
			int mid = (lo + hi) / 2, c = val_cmp(v, &p->set[mid]);
			if (c == 0)
				return 1;
			if (c == 2)
				return 0;
			if (c < 0)
				hi = mid - 1;
			else
				lo = mid + 1;
		}
		return 0;
	}
	case K_REGEX:
		return regex_match(vs, r, v->s, v->n);
	case K_LENGTH: {
		size_t n = ade_validate_utf8_chars(v->s, v->n);
		if (r->min && (double)n < r->min->valuedouble)
			return 0;
		if (r->max && (double)n > r->max->valuedouble)
			return 0;
		return 1;
	}
	case K_COMPARE:
		return op_holds(r->op, val_cmp(v, &p->rhs));
	default:
		return 1;
	}
}

static void set_reason(struct rule *r, const char *fmt, const char *a, const char *b)
{
	snprintf(r->reason, sizeof(r->reason), fmt, a, b);
}

/* Resolves the rule's literals for column c; 0, or -1 with r->reason set. */
static int pred_prepare(struct vstate *vs, struct rule *r, const struct ade_frame_column *c,
			struct pred *p)
{
	const char *why;

	memset(p, 0, sizeof(*p));
	p->r = r;
	p->dom = type_dom(c->type);
	switch (r->kind) {
	case K_BETWEEN:
		if (r->min) {
			if ((why = lit_resolve(vs, r->min, p->dom, &p->lo))) {
				set_reason(r, "type mismatch: min %s for a %s column", why,
					   ade_type_name(c->type));
				return -1;
			}
			p->has_lo = 1;
		}
		if (r->max) {
			if ((why = lit_resolve(vs, r->max, p->dom, &p->hi))) {
				set_reason(r, "type mismatch: max %s for a %s column", why,
					   ade_type_name(c->type));
				return -1;
			}
			p->has_hi = 1;
		}
		return 0;
	case K_IN_SET: {
		int n = cJSON_GetArraySize(r->values), k = 0;
		p->set = ade_xcalloc((size_t)n, sizeof(*p->set));
		for (const cJSON *j = r->values->child; j; j = j->next) {
			if ((why = lit_resolve(vs, j, p->dom, &p->set[k]))) {
				set_reason(r, "type mismatch: values %s for a %s column", why,
					   ade_type_name(c->type));
				return -1;
			}
			/* A NaN in the set matches nothing; leaving it out keeps the order total. */
			if (!(p->set[k].k == VK_F64 && isnan(p->set[k].f)))
				k++;
		}
		p->nset = k;
		qsort(p->set, (size_t)k, sizeof(*p->set), cmp_for_sort);
		return 0;
	}
	case K_LENGTH:
		if (p->dom != DOM_STR) {
			set_reason(r, "type mismatch: length applies to string and categorical "
				      "columns, not %s%s", ade_type_name(c->type), "");
			return -1;
		}
		return 0;
	case K_COMPARE:
		if ((why = lit_resolve(vs, r->value, p->dom, &p->rhs))) {
			set_reason(r, "type mismatch: value %s for a %s column", why,
				   ade_type_name(c->type));
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- rule evaluation ---- */

static const struct ade_frame_column *need_column(struct vstate *vs, struct rule *r,
						  const char *name)
{
	int k = ade_frame_find(vs->f, name);

	if (k < 0) {
		snprintf(r->reason, sizeof(r->reason), "column missing: '%.200s' is not in the frame",
			 name);
		return NULL;
	}
	return &vs->f->cols[k];
}

static void eval_not_null(struct vstate *vs, struct rule *r, const struct ade_frame_column *c)
{
	r->evaluated = r->rows;
	if (!c->valid && c->type != ADE_TYPE_CATEGORICAL)
		return; /* no valid.npy: no nulls, nothing to scan */
	for (int64_t i = 0; i < r->rows; row_done(c, i), i++)
		if (col_null(c, i))
			add_failure(vs, r, c, NULL, i);
	r->missing = 0;
}

/* Single-column value rules: between, in_set, regex, length, compare with a value. */
static void eval_values(struct vstate *vs, struct rule *r, const struct ade_frame_column *c)
{
	struct pred p;
	struct val v;

	if (pred_prepare(vs, r, c, &p)) {
		free(p.set);
		return;
	}
	if (c->type == ADE_TYPE_CATEGORICAL) {
		/* Judge each dictionary value once; rows then cost a lookup. */
		uint8_t *ok = ade_xcalloc((size_t)c->n_dict + 1, 1);
		for (int32_t k = 0; k < c->n_dict; k++) {
			v.k = VK_STR;
			v.s = c->dict[k];
			v.n = c->dict_len[k];
			ok[k] = (uint8_t)pred_eval(vs, &p, &v);
		}
		const int32_t *codes = c->data;
		for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
			int32_t code = codes[i];
			if (code < 0 || code >= c->n_dict || (c->valid && !c->valid[i])) {
				r->missing++;
				continue;
			}
			if (!ok[code])
				add_failure(vs, r, c, NULL, i);
		}
		free(ok);
	} else if (r->kind == K_REGEX && p.dom != DOM_STR) {
		for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
			if (col_null(c, i)) {
				r->missing++;
				continue;
			}
			val_text(vs, c, i);
			if (regexec(&r->re, vs->text.buf, 0, NULL, 0) != 0)
				add_failure(vs, r, c, NULL, i);
		}
	} else {
		for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
			col_get(c, i, &v);
			if (v.k == VK_NULL) {
				r->missing++;
				continue;
			}
			if (!pred_eval(vs, &p, &v))
				add_failure(vs, r, c, NULL, i);
		}
	}
	r->evaluated = r->rows - r->missing;
	free(p.set);
}

static void eval_compare_columns(struct vstate *vs, struct rule *r,
				 const struct ade_frame_column *a, const struct ade_frame_column *b)
{
	struct val x, y;

	if (type_dom(a->type) != type_dom(b->type)) {
		snprintf(r->reason, sizeof(r->reason),
			 "type mismatch: cannot compare %s column '%.80s' with %s column '%.80s'",
			 ade_type_name(a->type), r->column, ade_type_name(b->type), r->other);
		return;
	}
	for (int64_t i = 0; i < r->rows; row_done(a, i), row_done(b, i), i++) {
		col_get(a, i, &x);
		col_get(b, i, &y);
		/* A row with either side null is not evaluated, as GE's column-pair rules do. */
		if (x.k == VK_NULL || y.k == VK_NULL) {
			r->missing++;
			continue;
		}
		if (!op_holds(r->op, val_cmp(&x, &y)))
			add_failure(vs, r, a, b, i);
	}
	r->evaluated = r->rows - r->missing;
}

/*
 * unique: GE semantics, every row whose value occurs more than once is
 * unexpected (the first occurrence too), so two passes: the first counts
 * each value up to "seen twice", the second reports.  State per distinct
 * value: one of 2 bits in a bitmap over [min, max] when an integer-like
 * column's range is small (ids), else a 16-byte XXH3-128 key in an
 * open-addressing set whose top bit marks "seen twice".
 */
struct hset {
	uint64_t *k; /* pairs (lo, hi); lo == 0 marks an empty slot */
	size_t cap, n;
};

static uint64_t *hset_slot(struct hset *h, uint64_t lo, uint64_t hi)
{
	size_t mask = h->cap - 1;

	for (size_t i = (size_t)(lo ^ (hi >> 17)) & mask;; i = (i + 1) & mask) {
		uint64_t *s = &h->k[2 * i];
		if (s[0] == 0 || (s[0] == lo && (s[1] & ~DUP_BIT) == hi))
			return s;
	}
}

static void hset_grow(struct hset *h)
{
	struct hset old = *h;

	h->cap = old.cap ? old.cap * 2 : 1024;
	h->k = ade_xcalloc(h->cap, 16);
	for (size_t i = 0; i < old.cap; i++) {
		uint64_t *s = &old.k[2 * i];
		if (s[0]) {
			uint64_t *t = hset_slot(h, s[0], s[1] & ~DUP_BIT);
			t[0] = s[0];
			t[1] = s[1];
		}
	}
	free(old.k);
}

static void value_key(const struct ade_frame_column *c, int64_t i, uint64_t *lo, uint64_t *hi)
{
	XXH128_hash_t h;

	if (c->type == ADE_TYPE_STRING) {
		size_t n;
		const char *s = ade_frame_str(c, i, &n);
		h = XXH3_128bits(s, n);
	} else if (c->type == ADE_TYPE_FLOAT64) {
		double d = ((const double *)c->data)[i];
		if (d == 0)
			d = 0; /* -0.0 equals 0.0 */
		if (isnan(d))
			d = NAN; /* every NaN is one value */
		h = XXH3_128bits(&d, sizeof(d));
	} else {
		h = XXH3_128bits(&((const int64_t *)c->data)[i], sizeof(int64_t));
	}
	*lo = h.low64 | 1; /* never 0: 0 marks an empty slot */
	*hi = h.high64 & ~DUP_BIT;
}

static void eval_unique(struct vstate *vs, struct rule *r, const struct ade_frame_column *c)
{
	int64_t distinct = 0, dupvals = 0;

	for (int64_t i = 0; i < r->rows; row_done(c, i), i++)
		r->missing += col_null(c, i);
	r->evaluated = r->rows - r->missing;
	if (c->type == ADE_TYPE_CATEGORICAL || c->type == ADE_TYPE_BOOL) {
		size_t n = c->type == ADE_TYPE_BOOL ? 2 : (size_t)c->n_dict;
		uint8_t *seen = ade_xcalloc(n + 1, 1);
		for (int pass = 0; pass < 2; pass++)
			for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
				if (col_null(c, i))
					continue;
				size_t k = c->type == ADE_TYPE_BOOL ? ((const uint8_t *)c->data)[i] != 0
								    : (size_t)((const int32_t *)c->data)[i];
				if (pass == 0)
					seen[k] = seen[k] < 2 ? seen[k] + 1 : 2;
				else if (seen[k] == 2)
					add_failure(vs, r, c, NULL, i);
			}
		for (size_t k = 0; k < n; k++) {
			distinct += seen[k] > 0;
			dupvals += seen[k] == 2;
		}
		free(seen);
	} else {
		int intlike = c->type == ADE_TYPE_INT64 || c->type == ADE_TYPE_DATE ||
			      c->type == ADE_TYPE_TIMESTAMP;
		int64_t mn = INT64_MAX, mx = INT64_MIN;
		if (intlike)
			for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
				if (col_null(c, i))
					continue;
				int64_t x = ((const int64_t *)c->data)[i];
				mn = x < mn ? x : mn;
				mx = x > mx ? x : mx;
			}
		/* range <= 16 * rows + 1024 keeps the bitmap under 4 bytes a row */
		if (intlike && r->evaluated > 0 && (uint64_t)mx - (uint64_t)mn <=
							    (uint64_t)r->evaluated * 16 + 1024) {
			uint64_t range = (uint64_t)mx - (uint64_t)mn + 1;
			uint8_t *bm = ade_xcalloc((size_t)(range / 4 + 1), 1);
			for (int pass = 0; pass < 2; pass++)
				for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
					if (col_null(c, i))
						continue;
					uint64_t off = (uint64_t)((const int64_t *)c->data)[i] - (uint64_t)mn;
					unsigned sh = (unsigned)(off % 4) * 2, st = (bm[off / 4] >> sh) & 3;
					if (pass == 0) {
						if (st < 2) {
							bm[off / 4] = (uint8_t)((bm[off / 4] & ~(3u << sh)) |
										((st + 1) << sh));
							distinct += st == 0;
							dupvals += st == 1;
						}
					} else if (st == 2) {
						add_failure(vs, r, c, NULL, i);
					}
				}
			free(bm);
			cJSON_AddStringToObject(r->extra, "method", "bitmap");
		} else {
			struct hset h = {0};
			hset_grow(&h);
			for (int pass = 0; pass < 2; pass++)
				for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
					uint64_t lo, hi;
					if (col_null(c, i))
						continue;
					value_key(c, i, &lo, &hi);
					uint64_t *s = hset_slot(&h, lo, hi);
					if (pass == 1) {
						if (s[1] & DUP_BIT)
							add_failure(vs, r, c, NULL, i);
						continue;
					}
					if (s[0] == 0) {
						s[0] = lo;
						s[1] = hi;
						distinct++;
						if (++h.n * 10 > h.cap * 7)
							hset_grow(&h);
					} else if (!(s[1] & DUP_BIT)) {
						s[1] |= DUP_BIT;
						dupvals++;
					}
				}
			cJSON_AddNumberToObject(r->extra, "hash_set_bytes", (double)(h.cap * 16));
			free(h.k);
			cJSON_AddStringToObject(r->extra, "method", "xxh3-128 hash set");
		}
	}
	cJSON_AddNumberToObject(r->extra, "distinct", (double)distinct);
	cJSON_AddNumberToObject(r->extra, "duplicated_values", (double)dupvals);
}

/* Table rules count as one unit: evaluated 1, failures 0 or 1. */
static void table_verdict(struct rule *r, int ok)
{
	r->evaluated = 1;
	r->failures = !ok;
}

static void eval_freshness(struct vstate *vs, struct rule *r, const struct ade_frame_column *c)
{
	int64_t mx = INT64_MIN;
	struct val v;
	char buf[40];

	if (type_dom(c->type) != DOM_TIME) {
		snprintf(r->reason, sizeof(r->reason),
			 "type mismatch: freshness needs a date or timestamp column, '%.80s' is %s",
			 r->column, ade_type_name(c->type));
		return;
	}
	for (int64_t i = 0; i < r->rows; row_done(c, i), i++) {
		col_get(c, i, &v);
		if (v.k != VK_NULL && v.i > mx)
			mx = v.i;
	}
	cJSON_AddNumberToObject(r->extra, "max_age_seconds", (double)r->max_age_us / 1e6);
	ade_date_format_us(vs->iend_us, buf);
	cJSON_AddStringToObject(r->extra, "reference", buf);
	if (mx == INT64_MIN) {
		snprintf(r->reason, sizeof(r->reason), "no values: '%.80s' is empty or all null",
			 r->column);
		return;
	}
	ade_date_format_us(mx, buf);
	cJSON_AddStringToObject(r->extra, "observed", buf);
	cJSON_AddNumberToObject(r->extra, "age_seconds", (double)(vs->iend_us - mx) / 1e6);
	table_verdict(r, vs->iend_us - mx <= r->max_age_us);
	if (r->failures)
		snprintf(r->reason, sizeof(r->reason), "newest value %s is older than max_age", buf);
}

static void eval_rule(struct vstate *vs, struct rule *r)
{
	const struct ade_frame_column *c = NULL, *o = NULL;

	r->rows = vs->f->rows;
	r->extra = cJSON_CreateObject();
	if (r->kind == K_ROW_COUNT) {
		int ok = (!r->min || (double)r->rows >= r->min->valuedouble) &&
			 (!r->max || (double)r->rows <= r->max->valuedouble);
		cJSON_AddNumberToObject(r->extra, "observed", (double)r->rows);
		table_verdict(r, ok);
		if (!ok)
			snprintf(r->reason, sizeof(r->reason), "%lld rows", (long long)r->rows);
		goto verdict;
	}
	if (r->kind == K_COLUMN_EXISTS) {
		int k = ade_frame_find(vs->f, r->column);
		cJSON_AddBoolToObject(r->extra, "observed", k >= 0);
		if (k < 0) {
			table_verdict(r, 0);
			snprintf(r->reason, sizeof(r->reason), "column missing");
		} else {
			cJSON_AddStringToObject(r->extra, "type", ade_type_name(vs->f->cols[k].type));
			table_verdict(r, !r->has_type || vs->f->cols[k].type == r->want_type);
			if (r->failures)
				snprintf(r->reason, sizeof(r->reason), "column is %s, not %s",
					 ade_type_name(vs->f->cols[k].type), ade_type_name(r->want_type));
		}
		goto verdict;
	}
	if (!(c = need_column(vs, r, r->column)))
		goto verdict;
	if (r->other && !(o = need_column(vs, r, r->other)))
		goto verdict;
	switch (r->kind) {
	case K_NOT_NULL:
		eval_not_null(vs, r, c);
		break;
	case K_UNIQUE:
		eval_unique(vs, r, c);
		break;
	case K_FRESHNESS:
		eval_freshness(vs, r, c);
		break;
	case K_COMPARE:
		if (o) {
			eval_compare_columns(vs, r, c, o);
			break;
		}
		eval_values(vs, r, c);
		break;
	default:
		eval_values(vs, r, c);
		break;
	}
verdict:
	if (r->reason[0] && r->evaluated == 0 && r->failures == 0) {
		/* The rule could not be evaluated (column missing, type mismatch). */
		r->passed = 0;
		return;
	}
	if (kind_is_table(r->kind)) {
		r->passed = r->failures == 0;
		return;
	}
	/*
	 * GE's mostly: (evaluated - unexpected) / evaluated >= mostly, where
	 * evaluated excludes nulls (not_null: every row), and nothing to
	 * evaluate passes.  Compared in integers so 0.95 of 100 is exact.
	 */
	if (r->evaluated == 0)
		r->passed = 1;
	else
		r->passed = (long double)(r->evaluated - r->failures) >=
			    (long double)r->mostly * (long double)r->evaluated - 1e-9L;
}

/* ---- outputs ---- */

static int copy_file(const char *a, const char *b, struct ade_error *err)
{
	FILE *in = fopen(a, "rb"), *out = in ? fopen(b, "wb") : NULL;
	char chunk[65536];
	size_t k;
	int rc = 0;

	if (!in || !out)
		rc = ade_error_set(err, ADE_EIO, "cannot copy '%s' to '%s': %s", a, b,
				   strerror(errno));
	while (!rc && (k = fread(chunk, 1, sizeof(chunk), in)) > 0)
		if (fwrite(chunk, 1, k, out) != k)
			rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", b, strerror(errno));
	if (!rc && ferror(in))
		rc = ade_error_set(err, ADE_EIO, "cannot read '%s'", a);
	if (in)
		fclose(in);
	if (out && fclose(out) && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", b, strerror(errno));
	return rc;
}

/*
 * Passes the frame through: every regular file of src is hard-linked into
 * dst, so the validated frame costs no I/O and downstream stages read the
 * very bytes that were checked.  Frames are never modified in place, so
 * sharing inodes is safe.  Copies only across file systems.
 */
static int link_frame(const char *src, const char *dst, int *copied, struct ade_error *err)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return ade_error_set(err, ADE_EIO, "cannot open frame '%s': %s", src, strerror(errno));
	if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
		closedir(d);
		return ade_error_set(err, ADE_EIO, "cannot create '%s': %s", dst, strerror(errno));
	}
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *a = ade_xasprintf("%s/%s", src, e->d_name);
		char *b = ade_xasprintf("%s/%s", dst, e->d_name);
		struct stat st;
		if (stat(a, &st) == 0 && S_ISREG(st.st_mode) && link(a, b) < 0) {
			if (errno == EXDEV || errno == EPERM || errno == EMLINK) {
				rc = copy_file(a, b, err);
				(*copied)++;
			} else {
				rc = ade_error_set(err, ADE_EIO, "cannot link '%s' to '%s': %s", a, b,
						   strerror(errno));
			}
		}
		free(a);
		free(b);
	}
	closedir(d);
	return rc;
}

static cJSON *rule_json(const struct vstate *vs, const struct rule *r)
{
	cJSON *o = cJSON_CreateObject(), *s;

	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "kind", kind_names[r->kind]);
	if (r->column)
		cJSON_AddStringToObject(o, "column", r->column);
	if (r->other)
		cJSON_AddStringToObject(o, "other", r->other);
	cJSON_AddStringToObject(o, "severity", sev_names[r->severity]);
	cJSON_AddStringToObject(o, "status", r->passed ? "passed" : "failed");
	cJSON_AddBoolToObject(o, "passed", r->passed);
	if (r->reason[0])
		cJSON_AddStringToObject(o, "reason", r->reason);
	cJSON_AddStringToObject(o, "unit", kind_is_table(r->kind) ? "table" : "row");
	if (!kind_is_table(r->kind))
		cJSON_AddNumberToObject(o, "mostly", r->mostly);
	cJSON_AddNumberToObject(o, "rows", (double)r->rows);
	cJSON_AddNumberToObject(o, "missing", (double)r->missing);
	cJSON_AddNumberToObject(o, "evaluated", (double)r->evaluated);
	cJSON_AddNumberToObject(o, "failures", (double)r->failures);
	cJSON_AddNumberToObject(o, "percent",
				r->evaluated ? 100.0 * (double)r->failures / (double)r->evaluated : 0.0);
	cJSON_AddNumberToObject(o, "success_ratio",
				r->evaluated ? (double)(r->evaluated - r->failures) / (double)r->evaluated
					     : 1.0);
	/* the rule's parameters, as given */
	cJSON *p = cJSON_AddObjectToObject(o, "params");
	if (r->min)
		cJSON_AddItemToObject(p, "min", cJSON_Duplicate(r->min, 1));
	if (r->max)
		cJSON_AddItemToObject(p, "max", cJSON_Duplicate(r->max, 1));
	if (r->kind == K_BETWEEN) {
		cJSON_AddBoolToObject(p, "strict_min", r->strict_min);
		cJSON_AddBoolToObject(p, "strict_max", r->strict_max);
	}
	if (r->values)
		cJSON_AddItemToObject(p, "values", cJSON_Duplicate(r->values, 1));
	if (r->kind == K_REGEX)
		cJSON_AddStringToObject(p, "pattern",
					ade_json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
									 vs->ctx->config, "rules"),
								 r->idx),
						     "pattern", ""));
	if (r->kind == K_COMPARE) {
		cJSON_AddStringToObject(p, "op", op_names[r->op]);
		if (r->value)
			cJSON_AddItemToObject(p, "value", cJSON_Duplicate(r->value, 1));
	}
	if (r->kind == K_FRESHNESS)
		cJSON_AddNumberToObject(p, "max_age_seconds", (double)r->max_age_us / 1e6);
	if (r->has_type)
		cJSON_AddStringToObject(p, "type", ade_type_name(r->want_type));
	for (cJSON *e = r->extra ? r->extra->child : NULL; e; e = e->next)
		cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, 1));
	cJSON_AddNumberToObject(o, "seconds", r->seconds);
	s = cJSON_AddArrayToObject(o, "samples");
	for (int k = 0; k < r->nsmp; k++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "row", (double)r->smp[k].row);
		cJSON_AddItemToObject(x, "value", cJSON_Duplicate(r->smp[k].value, 1));
		if (r->smp[k].key)
			cJSON_AddItemToObject(x, vs->key, cJSON_Duplicate(r->smp[k].key, 1));
		cJSON_AddItemToArray(s, x);
	}
	return o;
}

/* One line per failing sample; a failed table rule gets one line with row null. */
static int write_violations(const struct vstate *vs, const char *path, int64_t *lines,
			    struct ade_error *err)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	int rc;

	*lines = 0;
	for (int i = 0; i < vs->nrules; i++) {
		const struct rule *r = &vs->rules[i];
		int table = kind_is_table(r->kind) || (r->reason[0] && r->evaluated == 0);
		int n = table ? !r->passed : r->nsmp;
		for (int k = 0; k < n; k++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "rule", r->name);
			cJSON_AddStringToObject(o, "kind", kind_names[r->kind]);
			cJSON_AddStringToObject(o, "severity", sev_names[r->severity]);
			if (r->column)
				cJSON_AddStringToObject(o, "column", r->column);
			else
				cJSON_AddNullToObject(o, "column");
			if (r->other)
				cJSON_AddStringToObject(o, "other", r->other);
			if (table) {
				const cJSON *obs = cJSON_GetObjectItemCaseSensitive(r->extra, "observed");
				cJSON_AddNullToObject(o, "row");
				cJSON_AddItemToObject(o, "value",
						      obs ? cJSON_Duplicate(obs, 1) : cJSON_CreateNull());
				cJSON_AddStringToObject(o, "reason", r->reason);
			} else {
				cJSON_AddNumberToObject(o, "row", (double)r->smp[k].row);
				cJSON_AddItemToObject(o, "value", cJSON_Duplicate(r->smp[k].value, 1));
				if (r->smp[k].key)
					cJSON_AddItemToObject(o, vs->key, cJSON_Duplicate(r->smp[k].key, 1));
			}
			char *t = cJSON_PrintUnformatted(o);
			ade_strbuf_adds(&sb, t);
			ade_strbuf_addc(&sb, '\n');
			free(t);
			cJSON_Delete(o);
			(*lines)++;
		}
	}
	rc = ade_fs_write_atomic(path, sb.buf ? sb.buf : "", sb.len, err);
	ade_strbuf_release(&sb);
	return rc;
}

static void log_rule(const struct rule *r)
{
	if (r->passed && !r->failures)
		return;
	if (r->passed) {
		ade_log_info("rule '%s' passed with %lld of %lld unexpected (mostly %g)", r->name,
			     (long long)r->failures, (long long)r->evaluated, r->mostly);
		return;
	}
	if (r->reason[0] && kind_is_table(r->kind))
		ade_log_warn("rule '%s' (%s) failed: %s", r->name, sev_names[r->severity], r->reason);
	else if (r->reason[0] && r->evaluated == 0)
		ade_log_warn("rule '%s' (%s) failed: %s", r->name, sev_names[r->severity], r->reason);
	else
		ade_log_warn("rule '%s' (%s) failed: %lld of %lld values unexpected (%.4g%%), "
			     "mostly %g",
			     r->name, sev_names[r->severity], (long long)r->failures,
			     (long long)r->evaluated,
			     r->evaluated ? 100.0 * (double)r->failures / (double)r->evaluated : 0.0,
			     r->mostly);
}

static int parse_times(struct vstate *vs, struct ade_error *err)
{
	const struct ade_stage_ctx *ctx = vs->ctx;
	int32_t days;

	if (ade_date_parse(ctx->ds, &days, err))
		return ade_error_prefix(err, "ADE_DS");
	vs->ds_us = (int64_t)days * US_PER_DAY;
	vs->istart_us = vs->ds_us;
	vs->iend_us = vs->ds_us + US_PER_DAY;
	if (ctx->interval_start &&
	    ade_validate_parse_time(ctx->interval_start, strlen(ctx->interval_start), &vs->istart_us))
		return ade_error_set(err, ADE_EINVAL, "ADE_INTERVAL_START '%s' is not a timestamp",
				     ctx->interval_start);
	if (ctx->interval_end &&
	    ade_validate_parse_time(ctx->interval_end, strlen(ctx->interval_end), &vs->iend_us))
		return ade_error_set(err, ADE_EINVAL, "ADE_INTERVAL_END '%s' is not a timestamp",
				     ctx->interval_end);
	return 0;
}

int ade_validate_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	struct vstate vs = {0};
	const char *indir;
	char *frame_dir = NULL, *out_frame = NULL, *vpath = NULL;
	int rc, copied = 0, data_failed = 0;
	int64_t nviol = 0, t0, t1;
	int counts[SEV_N][2] = {{0}};
	cJSON *warnings = cJSON_CreateArray();

	vs.ctx = ctx;
	rc = parse_config(&vs, err);
	if (!rc)
		rc = parse_times(&vs, err);
	if (!rc)
		rc = ade_stage_main_input(ctx->config, &indir, err);
	if (rc)
		goto out;
	frame_dir = ade_xasprintf("%s/frame", indir);
	rc = ade_frame_open(frame_dir, &vs.f, err);
	if (rc) {
		ade_error_prefix(err, "input frame");
		goto out;
	}
	if (vs.key) {
		int k = ade_frame_find(vs.f, vs.key);
		if (k < 0) {
			char *m = ade_xasprintf("key column '%s' is not in the frame; samples carry "
						"row numbers only", vs.key);
			ade_log_warn("%s", m);
			cJSON_AddItemToArray(warnings, cJSON_CreateString(m));
			free(m);
		} else {
			vs.keycol = &vs.f->cols[k];
		}
	}
	out_frame = ade_xasprintf("%s/frame", ctx->out);
	rc = link_frame(frame_dir, out_frame, &copied, err);
	if (rc)
		goto out;
	if (copied) {
		char *m = ade_xasprintf("%d frame files copied, not hard-linked: the input is on "
					"another file system", copied);
		cJSON_AddItemToArray(warnings, cJSON_CreateString(m));
		free(m);
	}
	if (vs.nrules == 0)
		cJSON_AddItemToArray(warnings, cJSON_CreateString("no rules: nothing was checked"));

	t0 = ade_now_mono_ns();
	for (int i = 0; i < vs.nrules; i++) {
		struct rule *r = &vs.rules[i];
		int64_t r0 = ade_now_mono_ns();
		eval_rule(&vs, r);
		r->seconds = (double)(ade_now_mono_ns() - r0) / 1e9;
		counts[r->severity][r->passed ? 0 : 1]++;
		if (!r->passed && r->severity != SEV_WARN)
			data_failed = 1;
		log_rule(r);
	}
	t1 = ade_now_mono_ns();

	vpath = ade_xasprintf("%s/violations.ndjson", ctx->out);
	rc = write_violations(&vs, vpath, &nviol, err);
	if (rc)
		goto out;

	{
		int nfailed = counts[0][1] + counts[1][1] + counts[2][1];
		const char *status = data_failed ? "failed" : nfailed ? "warn" : "ok";
		cJSON *res = ade_stage_result_new(ctx, status);
		const cJSON *sch = vs.f->schema;
		const cJSON *cols = cJSON_GetObjectItemCaseSensitive(sch, "columns");
		const char *hash = ade_json_str(sch, "content_hash", "");
		double bytes = ade_json_num(sch, "bytes", 0);

		cJSON_AddNumberToObject(res, "rows_in", (double)vs.f->rows);
		cJSON_AddNumberToObject(res, "rows_out", (double)vs.f->rows);
		cJSON *sum = cJSON_AddObjectToObject(res, "summary");
		cJSON_AddNumberToObject(sum, "rules", vs.nrules);
		cJSON_AddNumberToObject(sum, "passed", vs.nrules - nfailed);
		cJSON_AddNumberToObject(sum, "failed", nfailed);
		cJSON *bys = cJSON_AddObjectToObject(sum, "by_severity");
		for (int s = 0; s < SEV_N; s++) {
			cJSON *o = cJSON_AddObjectToObject(bys, sev_names[s]);
			cJSON_AddNumberToObject(o, "rules", counts[s][0] + counts[s][1]);
			cJSON_AddNumberToObject(o, "passed", counts[s][0]);
			cJSON_AddNumberToObject(o, "failed", counts[s][1]);
		}
		cJSON_AddNumberToObject(sum, "violations", (double)nviol);
		cJSON *ra = cJSON_AddArrayToObject(res, "rules");
		for (int i = 0; i < vs.nrules; i++)
			cJSON_AddItemToArray(ra, rule_json(&vs, &vs.rules[i]));

		cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
		cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
		cJSON *in = cJSON_CreateObject();
		cJSON_AddStringToObject(in, "path", frame_dir);
		cJSON_AddStringToObject(in, "format", "ade-frame");
		cJSON_AddNumberToObject(in, "rows", (double)vs.f->rows);
		cJSON_AddNumberToObject(in, "bytes", bytes);
		cJSON_AddStringToObject(in, "hash", hash);
		cJSON_AddItemToArray(ins, in);
		cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", "frame");
		cJSON_AddStringToObject(o, "format", "ade-frame");
		cJSON_AddNumberToObject(o, "rows", (double)vs.f->rows);
		cJSON_AddNumberToObject(o, "bytes", bytes);
		cJSON_AddStringToObject(o, "hash", hash);
		cJSON_AddBoolToObject(o, "hard_linked", copied == 0);
		cJSON_AddItemToObject(o, "schema", cols ? cJSON_Duplicate(cols, 1) : cJSON_CreateArray());
		cJSON_AddItemToArray(outs, o);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", "violations.ndjson");
		cJSON_AddStringToObject(o, "format", "ndjson");
		cJSON_AddNumberToObject(o, "rows", (double)nviol);
		cJSON_AddItemToArray(outs, o);

		cJSON *m = cJSON_AddObjectToObject(res, "metrics");
		double sec = (double)(t1 - t0) / 1e9;
		cJSON_AddNumberToObject(m, "rules_seconds", sec);
		if (sec > 0)
			cJSON_AddNumberToObject(m, "rows_per_second", (double)vs.f->rows / sec);
		cJSON_AddItemToObject(res, "warnings", warnings);
		warnings = NULL;
		rc = ade_stage_result_write(ctx, res, err);
		cJSON_Delete(res);
		if (rc)
			goto out;
		ade_log_info("%d rules over %lld rows: %d passed, %d failed (%d warn, %d fail, "
			     "%d critical); %lld violation lines",
			     vs.nrules, (long long)vs.f->rows, vs.nrules - nfailed, nfailed,
			     counts[SEV_WARN][1], counts[SEV_FAIL][1], counts[SEV_CRITICAL][1],
			     (long long)nviol);
	}
	if (data_failed)
		rc = ade_error_set(err, ADE_EDATA,
				   "%d rule(s) of severity fail or critical failed; see result.json "
				   "and violations.ndjson",
				   counts[SEV_FAIL][1] + counts[SEV_CRITICAL][1]);
out:
	cJSON_Delete(warnings);
	if (vs.f)
		ade_frame_close(vs.f);
	rules_free(&vs);
	ade_strbuf_release(&vs.text);
	free(frame_dir);
	free(out_frame);
	free(vpath);
	return rc;
}

int ade_validate_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	case ADE_EDATA: return ADE_EXIT_DATA;
	default: return ADE_EXIT_FAILED;
	}
}
