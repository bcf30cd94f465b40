/*
 * ade-analytics: SQL-style GROUP BY aggregates over a frame (see
 * analytics.h, docs/analytics.md).
 *
 * The `with:` block is checked completely, then against the frame's
 * columns, before any row is read, so a typo is refused with its position
 * and nothing is written.  Each set is one pass over the mmapped columns:
 * a row's group key (one 64-bit id per group column plus a null mask) is
 * looked up in an open-addressing table, and each metric updates its
 * accumulator for that group.  What a set keeps is O(groups x metrics),
 * plus O(distinct (group, value) pairs) for count_distinct and 8 bytes per
 * non-null value of each median/quantile column: exact quantiles need the
 * values, and at 10M rows that is 80 MB per column.
 */
#include "analytics.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MAX_GROUP_BY 16
#define MAX_NAME 63
/* Integers beyond 2^53 do not survive a double: printed as raw JSON. */
#define EXACT_DOUBLE_INT (INT64_C(1) << 53)

enum fn {
	F_COUNT,
	F_COUNT_DISTINCT,
	F_SUM,
	F_AVG,
	F_MIN,
	F_MAX,
	F_MEDIAN,
	F_QUANTILE,
	F_STDDEV,
	F_STDDEV_POP,
	F_N
};

static const char *const fn_names[F_N] = {
	"count", "count_distinct", "sum", "avg", "min", "max",
	"median", "quantile", "stddev", "stddev_pop",
};

static const char fn_list[] =
	"count, count_distinct, sum, avg, min, max, median, quantile, stddev, stddev_pop";

static int fn_numeric(enum fn f)
{
	return f == F_SUM || f == F_AVG || f == F_MEDIAN || f == F_QUANTILE || f == F_STDDEV ||
	       f == F_STDDEV_POP;
}

struct metric {
	char *name;
	char *ptr;    /* JSON pointer of its value, for errors */
	enum fn fn;
	char *column; /* NULL: count(*) */
	double p;     /* quantile; 0.5 for median */
	int col;      /* frame column, -1 for count(*) */
	int qv;       /* index of its value vector in the set, -1 */
	int collects; /* the first metric of its vector fills it */
	enum ade_type out;
};

/* Accumulator of one metric for one group. */
struct acc {
	int64_t n;          /* rows (count(*)) or non-null values */
	int64_t isum;       /* integer sum while it fits */
	int ovf;            /* isum overflowed: lsum holds the sum */
	long double lsum;
	double s, c;        /* Neumaier sum and its compensation */
	long double mean, m2; /* Welford */
	int64_t best;       /* min/max: the row holding it, -1 none */
	int64_t distinct;
};

struct dvec {
	double *v;
	size_t n, cap;
};

/* A set of (a, b) pairs: count_distinct's (group*metrics+metric, value id). */
struct pairset {
	uint64_t *a, *b;
	uint8_t *used;
	size_t cap, n;
};

/* Per-column string interning, so strings group and count by id. */
struct intern {
	uint32_t *slots; /* id + 1, 0 empty */
	size_t cap;
	uint32_t n, ncap;
	const char **p;
	size_t *len;
	uint64_t *h;
	uint32_t *canon; /* categorical: code -> id */
};

struct aset {
	char *name;
	char *ptr;
	int ng;
	char **gname;
	char **gptr;
	int *gcol;
	int nm;
	struct metric *m;
	int nq;
	int *qcol;

	int64_t ngroups, cap;
	uint64_t *keys; /* (ng + 1) words per group: ids, then null mask */
	uint32_t *slots;
	size_t nslots;
	struct acc *acc;   /* ngroups * nm */
	struct dvec *qv;   /* ngroups * nq */
	struct pairset ps;
	int64_t *order;
	int int_overflow;
};

struct astate {
	const struct ade_stage_ctx *ctx;
	struct aset *sets;
	int nsets;
	struct ade_frame *f;
	struct intern *in; /* per frame column, lazily built */
};

/* ---- small helpers ---- */

static char *ptr_join(const char *base, const char *key)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_adds(&sb, base);
	ade_strbuf_addc(&sb, '/');
	for (const char *p = key; *p; p++) {
		if (*p == '~')
			ade_strbuf_adds(&sb, "~0");
		else if (*p == '/')
			ade_strbuf_adds(&sb, "~1");
		else
			ade_strbuf_addc(&sb, *p);
	}
	return ade_strbuf_detach(&sb);
}

/* Set and metric names become warehouse table and column names. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static int col_present(const struct ade_frame_column *c, int64_t i)
{
	if (c->valid && !c->valid[i])
		return 0;
	if (c->type == ADE_TYPE_CATEGORICAL)
		return ((const int32_t *)c->data)[i] >= 0;
	/* A NaN is missing, as in pandas and SQLite (which stores it as NULL). */
	if (c->type == ADE_TYPE_FLOAT64)
		return !isnan(((const double *)c->data)[i]);
	return 1;
}

static double col_num(const struct ade_frame_column *c, int64_t i)
{
	switch (c->type) {
	case ADE_TYPE_FLOAT64:
		return ((const double *)c->data)[i];
	case ADE_TYPE_BOOL:
		return ((const uint8_t *)c->data)[i] != 0;
	default:
		return (double)((const int64_t *)c->data)[i];
	}
}

static int64_t col_int(const struct ade_frame_column *c, int64_t i)
{
	if (c->type == ADE_TYPE_BOOL)
		return ((const uint8_t *)c->data)[i] != 0;
	return ((const int64_t *)c->data)[i];
}

static int type_is_int(enum ade_type t)
{
	return t == ADE_TYPE_INT64 || t == ADE_TYPE_BOOL;
}

static int type_is_str(enum ade_type t)
{
	return t == ADE_TYPE_STRING || t == ADE_TYPE_CATEGORICAL;
}

/* ---- interning ---- */

static uint32_t intern_add(struct intern *t, const char *p, size_t len)
{
	uint64_t h = XXH3_64bits(p, len);
	size_t i;

	if ((size_t)(t->n + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 1024;
		uint32_t *ns = ade_xcalloc(ncap, sizeof(*ns));
		for (uint32_t id = 0; id < t->n; id++) {
			size_t j = t->h[id] & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = id + 1;
		}
		free(t->slots);
		t->slots = ns;
		t->cap = ncap;
	}
	for (i = h & (t->cap - 1); t->slots[i]; i = (i + 1) & (t->cap - 1)) {
		uint32_t id = t->slots[i] - 1;
		if (t->h[id] == h && t->len[id] == len && memcmp(t->p[id], p, len) == 0)
			return id;
	}
	if (t->n == t->ncap) {
		t->ncap = t->ncap ? t->ncap * 2 : 512;
		t->p = ade_xrealloc(t->p, t->ncap * sizeof(*t->p));
		t->len = ade_xrealloc(t->len, t->ncap * sizeof(*t->len));
		t->h = ade_xrealloc(t->h, t->ncap * sizeof(*t->h));
	}
	t->p[t->n] = p;
	t->len[t->n] = len;
	t->h[t->n] = h;
	t->slots[i] = t->n + 1;
	return t->n++;
}

static struct intern *intern_for(struct astate *st, int col)
{
	struct intern *t = &st->in[col];
	const struct ade_frame_column *c = &st->f->cols[col];

	if (c->type == ADE_TYPE_CATEGORICAL && !t->canon) {
		/* Codes are mapped through the values, so a dictionary holding a
		 * value twice still groups it once. */
		t->canon = ade_xcalloc(c->n_dict ? (size_t)c->n_dict : 1, sizeof(*t->canon));
		for (int32_t k = 0; k < c->n_dict; k++)
			t->canon[k] = intern_add(t, c->dict[k], c->dict_len[k]);
	}
	return t;
}

static void intern_free(struct intern *t)
{
	free(t->slots);
	free(t->p);
	free(t->len);
	free(t->h);
	free(t->canon);
}

/* A 64-bit id of a present value: equal values, equal ids (per column). */
static uint64_t value_id(struct astate *st, int col, int64_t i)
{
	const struct ade_frame_column *c = &st->f->cols[col];

	switch (c->type) {
	case ADE_TYPE_FLOAT64: {
		double d = ((const double *)c->data)[i];
		uint64_t u;
		if (d == 0)
			d = 0; /* -0.0 equals 0.0 */
		memcpy(&u, &d, sizeof(u));
		return u;
	}
	case ADE_TYPE_BOOL:
		return ((const uint8_t *)c->data)[i] != 0;
	case ADE_TYPE_CATEGORICAL: {
		int32_t code = ((const int32_t *)c->data)[i];
		return code < c->n_dict ? intern_for(st, col)->canon[code] : UINT64_MAX - (uint64_t)code;
	}
	case ADE_TYPE_STRING: {
		size_t len;
		const char *s = ade_frame_str(c, i, &len);
		return intern_add(intern_for(st, col), s, len);
	}
	default:
		return (uint64_t)((const int64_t *)c->data)[i];
	}
}

/* ---- pair set ---- */

static int pairset_add(struct pairset *s, uint64_t a, uint64_t b)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct pairset ns = {0};
		ns.cap = s->cap ? s->cap * 2 : 1024;
		ns.a = ade_xmalloc(ns.cap * sizeof(*ns.a));
		ns.b = ade_xmalloc(ns.cap * sizeof(*ns.b));
		ns.used = ade_xcalloc(ns.cap, 1);
		for (size_t k = 0; k < s->cap; k++)
			if (s->used[k])
				pairset_add(&ns, s->a[k], s->b[k]);
		free(s->a);
		free(s->b);
		free(s->used);
		*s = ns;
	}
	for (i = mix64(a * UINT64_C(0x9e3779b97f4a7c15) ^ mix64(b)) & (s->cap - 1); s->used[i];
	     i = (i + 1) & (s->cap - 1))
		if (s->a[i] == a && s->b[i] == b)
			return 0;
	s->used[i] = 1;
	s->a[i] = a;
	s->b[i] = b;
	s->n++;
	return 1;
}

static void pairset_free(struct pairset *s)
{
	free(s->a);
	free(s->b);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

/* ---- quantiles ---- */

static void swapd(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * Puts the k-th smallest of v[0..n) at v[k], smaller ones left of it and
 * larger ones right.  Hoare partitioning with a median-of-3 pivot stays
 * linear on many equal values (Lomuto does not); after 2*log2(n) rounds
 * the remaining range is sorted, which caps the worst case at O(n log n).
 */
static void select_k(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	int depth = 0, limit = 2;

	for (size_t m = n; m > 1; m >>= 1)
		limit += 2;
	while (hi > lo) {
		if (hi - lo < 16 || depth++ > limit) {
			qsort(v + lo, hi - lo + 1, sizeof(*v), cmp_double);
			return;
		}
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < v[lo])
			swapd(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swapd(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swapd(&v[hi], &v[mid]);
		double piv = v[mid];
		size_t i = lo, j = hi;
		for (;;) {
			while (v[i] < piv)
				i++;
			while (v[j] > piv)
				j--;
			if (i >= j)
				break;
			swapd(&v[i], &v[j]);
			i++;
			j--;
		}
		/* v[lo..j] <= piv <= v[j+1..hi] */
		if (k <= j)
			hi = j;
		else
			lo = j + 1;
	}
}

double ade_analytics_quantile(double *v, size_t n, double p)
{
	double h = (double)(n - 1) * p;
	size_t lo = (size_t)floor(h);
	double t, a, b, d;

	if (lo >= n - 1)
		lo = n - 1;
	select_k(v, n, lo);
	a = v[lo];
	t = h - (double)lo;
	if (t <= 0 || lo + 1 >= n)
		return a;
	b = v[lo + 1];
	for (size_t i = lo + 2; i < n; i++)
		if (v[i] < b)
			b = v[i];
	/* numpy's lerp: exact at both ends and monotonic in t. */
	d = b - a;
	return t < 0.5 ? a + d * t : b - d * (1 - t);
}

/* ---- configuration ---- */

static void metric_free(struct metric *m)
{
	free(m->name);
	free(m->ptr);
	free(m->column);
}

static void sets_free(struct astate *st)
{
	for (int s = 0; s < st->nsets; s++) {
		struct aset *a = &st->sets[s];
		free(a->name);
		free(a->ptr);
		for (int g = 0; g < a->ng; g++) {
			free(a->gname[g]);
			free(a->gptr[g]);
		}
		free(a->gname);
		free(a->gptr);
		free(a->gcol);
		for (int m = 0; m < a->nm; m++)
			metric_free(&a->m[m]);
		free(a->m);
		free(a->qcol);
		free(a->keys);
		free(a->slots);
		free(a->acc);
		if (a->qv)
			for (int64_t k = 0; k < a->ngroups * a->nq; k++)
				free(a->qv[k].v);
		free(a->qv);
		pairset_free(&a->ps);
		free(a->order);
	}
	free(st->sets);
	st->sets = NULL;
	st->nsets = 0;
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * Parses one argument of "fn(arg, arg)": a double-quoted name ("" for a
 * quote, so names with commas or parentheses can be written) or the text
 * up to the next ',' or ')', trimmed.  *s is left after the argument.
 */
static char *parse_arg(const char **s)
{
	const char *p = skip_ws(*s);
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	if (*p == '"') {
		for (p++; *p; p++) {
			if (*p == '"') {
				if (p[1] != '"')
					break;
				p++;
			}
			ade_strbuf_addc(&sb, *p);
		}
		if (*p != '"') {
			ade_strbuf_release(&sb);
			return NULL;
		}
		p++;
	} else {
		const char *e = p;
		while (*e && *e != ',' && *e != ')')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		ade_strbuf_add(&sb, p, (size_t)(t - p));
		p = e;
	}
	*s = skip_ws(p);
	ade_strbuf_addc(&sb, '\0');
	sb.len--;
	return ade_strbuf_detach(&sb);
}

static int parse_p(const char *text, double *p)
{
	char *end;
	double v;

	if (!text || !*text)
		return -1;
	v = strtod(text, &end);
	if (*skip_ws(end) || !isfinite(v) || v < 0 || v > 1)
		return -1;
	*p = v;
	return 0;
}

static int fn_lookup(const char *s, enum fn *f)
{
	for (int i = 0; i < F_N; i++)
		if (strcmp(s, fn_names[i]) == 0) {
			*f = (enum fn)i;
			return 0;
		}
	return -1;
}

/* Checks arity: fills column and p from the parsed arguments. */
static int metric_args(struct astate *st, struct metric *m, const char *text, char **args,
		       int nargs, struct ade_error *err)
{
	const struct ade_stage_ctx *ctx = st->ctx;
	const char *fname = fn_names[m->fn];

	switch (m->fn) {
	case F_COUNT:
		if (nargs > 1)
			return ade_stage_config_error(ctx, err, m->ptr,
						      "count takes one column or none, not '%s'", text);
		if (nargs == 1 && strcmp(args[0], "*") != 0) {
			if (!*args[0])
				return ade_stage_config_error(ctx, err, m->ptr,
							      "empty column name in '%s'", text);
			m->column = ade_xstrdup(args[0]);
		}
		return 0;
	case F_QUANTILE:
		if (nargs != 2 || !*args[0])
			return ade_stage_config_error(ctx, err, m->ptr,
						      "quantile takes a column and p, as in "
						      "quantile(salary, 0.9), not '%s'", text);
		if (parse_p(args[1], &m->p))
			return ade_stage_config_error(ctx, err, m->ptr,
						      "quantile's p must be a number from 0 to 1, "
						      "not '%s'", args[1]);
		m->column = ade_xstrdup(args[0]);
		return 0;
	default:
		if (nargs != 1 || !*args[0] || strcmp(args[0], "*") == 0)
			return ade_stage_config_error(ctx, err, m->ptr,
						      "%s takes one column, as in %s(salary), not '%s'",
						      fname, fname, text);
		m->column = ade_xstrdup(args[0]);
		if (m->fn == F_MEDIAN)
			m->p = 0.5;
		return 0;
	}
}

static int parse_metric_string(struct astate *st, struct metric *m, const char *text,
			       struct ade_error *err)
{
	const char *s = skip_ws(text), *e;
	char fname[64];
	char *args[3] = {NULL, NULL, NULL};
	int nargs = 0, rc;
	size_t n;

	for (e = s; isalnum((unsigned char)*e) || *e == '_'; e++)
		;
	n = (size_t)(e - s);
	if (n == 0 || n >= sizeof(fname))
		return ade_stage_config_error(st->ctx, err, m->ptr,
					      "a metric is fn or fn(column[, p]), not '%s'", text);
	memcpy(fname, s, n);
	fname[n] = '\0';
	if (fn_lookup(fname, &m->fn))
		return ade_stage_config_error(st->ctx, err, m->ptr,
					      "unknown metric '%s' in '%s' (metrics: %s)", fname,
					      text, fn_list);
	s = skip_ws(e);
	if (*s == '(') {
		s = skip_ws(s + 1);
		if (*s == ')') {
			s++;
		} else {
			for (;;) {
				char *a = parse_arg(&s);
				if (!a || nargs == 3) {
					free(a);
					rc = ade_stage_config_error(
						st->ctx, err, m->ptr,
						"cannot read the arguments of '%s' (quote a column "
						"name holding , or ) with double quotes)", text);
					goto out;
				}
				args[nargs++] = a;
				if (*s == ',') {
					s++;
					continue;
				}
				if (*s == ')') {
					s++;
					break;
				}
				rc = ade_stage_config_error(st->ctx, err, m->ptr,
							    "missing ')' in '%s'", text);
				goto out;
			}
		}
		if (*skip_ws(s)) {
			rc = ade_stage_config_error(st->ctx, err, m->ptr,
						    "unexpected text after ')' in '%s'", text);
			goto out;
		}
	} else if (*s) {
		rc = ade_stage_config_error(st->ctx, err, m->ptr,
					    "a metric is fn or fn(column[, p]), not '%s'", text);
		goto out;
	}
	rc = metric_args(st, m, text, args, nargs, err);
out:
	for (int i = 0; i < nargs; i++)
		free(args[i]);
	return rc;
}

static int parse_metric_object(struct astate *st, struct metric *m, const cJSON *o,
			       struct ade_error *err)
{
	const cJSON *it, *jf = NULL, *jc = NULL, *jp = NULL;
	char *args[2];
	char pbuf[64];
	int nargs = 0, rc;

	cJSON_ArrayForEach(it, o) {
		char *kp = ptr_join(m->ptr, it->string);
		if (strcmp(it->string, "fn") == 0)
			jf = it;
		else if (strcmp(it->string, "column") == 0)
			jc = it;
		else if (strcmp(it->string, "p") == 0)
			jp = it;
		else {
			rc = ade_stage_config_error(st->ctx, err, kp,
						    "unknown key '%s' in a metric (keys: fn, column, p)",
						    it->string);
			free(kp);
			return rc;
		}
		if (it != jp && !cJSON_IsString(it)) {
			rc = ade_stage_config_error(st->ctx, err, kp, "%s must be a string",
						    it->string);
			free(kp);
			return rc;
		}
		if (it == jp && !cJSON_IsNumber(it)) {
			rc = ade_stage_config_error(st->ctx, err, kp,
						    "p must be a number from 0 to 1");
			free(kp);
			return rc;
		}
		free(kp);
	}
	if (!jf)
		return ade_stage_config_error(st->ctx, err, m->ptr, "a metric needs fn (%s)",
					      fn_list);
	if (fn_lookup(jf->valuestring, &m->fn)) {
		char *kp = ptr_join(m->ptr, "fn");
		rc = ade_stage_config_error(st->ctx, err, kp, "unknown metric '%s' (metrics: %s)",
					    jf->valuestring, fn_list);
		free(kp);
		return rc;
	}
	if (jp && m->fn != F_QUANTILE) {
		char *kp = ptr_join(m->ptr, "p");
		rc = ade_stage_config_error(st->ctx, err, kp, "p applies to quantile only");
		free(kp);
		return rc;
	}
	if (jc)
		args[nargs++] = jc->valuestring;
	if (jp) {
		snprintf(pbuf, sizeof(pbuf), "%.17g", jp->valuedouble);
		if (!jc)
			args[nargs++] = (char *)"";
		args[nargs++] = pbuf;
	}
	return metric_args(st, m, jf->valuestring, args, nargs, err);
}

static int parse_set(struct astate *st, struct aset *a, const cJSON *o, struct ade_error *err)
{
	const struct ade_stage_ctx *ctx = st->ctx;
	const cJSON *it, *gb = NULL, *ms = NULL;
	int rc;

	if (!valid_name(a->name))
		return ade_stage_config_error(ctx, err, a->ptr,
					      "set name '%s' must be a letter or _ then letters, "
					      "digits or _ (at most %d): it names a warehouse table",
					      a->name, MAX_NAME);
	if (!cJSON_IsObject(o))
		return ade_stage_config_error(ctx, err, a->ptr,
					      "a set is an object with group_by and metrics");
	cJSON_ArrayForEach(it, o) {
		if (strcmp(it->string, "group_by") == 0)
			gb = it;
		else if (strcmp(it->string, "metrics") == 0)
			ms = it;
		else if (strcmp(it->string, "description") != 0) {
			char *kp = ptr_join(a->ptr, it->string);
			rc = ade_stage_config_error(ctx, err, kp,
						    "unknown key '%s' in set '%s' (keys: group_by, "
						    "metrics, description)",
						    it->string, a->name);
			free(kp);
			return rc;
		}
	}
	if (gb) {
		char *gp = ptr_join(a->ptr, "group_by");
		int single = cJSON_IsString(gb);
		int n = single ? 1 : cJSON_GetArraySize(gb);
		if (!single && !cJSON_IsArray(gb)) {
			rc = ade_stage_config_error(ctx, err, gp,
						    "group_by must be a list of column names");
			free(gp);
			return rc;
		}
		if (n > MAX_GROUP_BY) {
			rc = ade_stage_config_error(ctx, err, gp,
						    "group_by has %d columns; at most %d", n,
						    MAX_GROUP_BY);
			free(gp);
			return rc;
		}
		a->gname = ade_xcalloc((size_t)n + 1, sizeof(char *));
		a->gptr = ade_xcalloc((size_t)n + 1, sizeof(char *));
		a->gcol = ade_xcalloc((size_t)n + 1, sizeof(int));
		for (int i = 0; i < n; i++) {
			const cJSON *g = single ? gb : cJSON_GetArrayItem(gb, i);
			char idx[16];
			snprintf(idx, sizeof(idx), "%d", i);
			a->gptr[i] = single ? ade_xstrdup(gp) : ptr_join(gp, idx);
			a->gname[i] = ade_xstrdup(cJSON_IsString(g) ? g->valuestring : "");
			a->ng = i + 1;
			if (!cJSON_IsString(g) || !*g->valuestring) {
				free(gp);
				return ade_stage_config_error(ctx, err, a->gptr[i],
							      "group_by entries are column names");
			}
			for (int j = 0; j < i; j++)
				if (strcmp(a->gname[j], a->gname[i]) == 0) {
					free(gp);
					return ade_stage_config_error(
						ctx, err, a->gptr[i],
						"column '%s' is twice in group_by", a->gname[i]);
				}
		}
		free(gp);
	}
	if (!ms || !cJSON_IsObject(ms) || !ms->child) {
		char *mp = ms ? ptr_join(a->ptr, "metrics") : ade_xstrdup(a->ptr);
		rc = ade_stage_config_error(ctx, err, mp,
					    "set '%s' needs metrics: an object of name: metric, "
					    "as in {headcount: count, avg_salary: avg(salary)}",
					    a->name);
		free(mp);
		return rc;
	}
	char *mp = ptr_join(a->ptr, "metrics");
	a->m = ade_xcalloc((size_t)cJSON_GetArraySize(ms), sizeof(*a->m));
	rc = 0;
	cJSON_ArrayForEach(it, ms) {
		struct metric *m = &a->m[a->nm++];
		m->name = ade_xstrdup(it->string);
		m->ptr = ptr_join(mp, it->string);
		m->col = -1;
		m->qv = -1;
		if (!valid_name(m->name)) {
			rc = ade_stage_config_error(ctx, err, m->ptr,
						    "metric name '%s' must be a letter or _ then "
						    "letters, digits or _ (at most %d): it names a "
						    "warehouse column",
						    m->name, MAX_NAME);
			break;
		}
		for (int g = 0; g < a->ng && !rc; g++)
			if (strcmp(a->gname[g], m->name) == 0)
				rc = ade_stage_config_error(ctx, err, m->ptr,
							    "metric '%s' has the name of a group_by "
							    "column",
							    m->name);
		if (rc)
			break;
		if (cJSON_IsString(it))
			rc = parse_metric_string(st, m, it->valuestring, err);
		else if (cJSON_IsObject(it))
			rc = parse_metric_object(st, m, it, err);
		else
			rc = ade_stage_config_error(ctx, err, m->ptr,
						    "a metric is a string such as avg(salary), or "
						    "{fn: avg, column: salary}");
		if (rc)
			break;
	}
	free(mp);
	return rc;
}

static int parse_config(struct astate *st, struct ade_error *err)
{
	const struct ade_stage_ctx *ctx = st->ctx;
	const cJSON *it, *sets = NULL;
	int rc;

	cJSON_ArrayForEach(it, ctx->config) {
		if (strcmp(it->string, "sets") == 0) {
			sets = it;
		} else if (strcmp(it->string, "input") == 0) {
			if (!cJSON_IsString(it))
				return ade_stage_config_error(ctx, err, "/input",
							      "input must be a stage name");
		} else {
			char *kp = ptr_join("", it->string);
			rc = ade_stage_config_error(ctx, err, kp,
						    "unknown key '%s' (keys: sets, input)", it->string);
			free(kp);
			return rc;
		}
	}
	if (!sets || !cJSON_IsObject(sets) || !sets->child)
		return ade_stage_config_error(ctx, err, sets ? "/sets" : "",
					      "sets must name at least one set, as in {sets: "
					      "{overall: {metrics: {rows: count}}}}");
	st->sets = ade_xcalloc((size_t)cJSON_GetArraySize(sets), sizeof(*st->sets));
	cJSON_ArrayForEach(it, sets) {
		struct aset *a = &st->sets[st->nsets++];
		a->name = ade_xstrdup(it->string);
		a->ptr = ptr_join("/sets", it->string);
		rc = parse_set(st, a, it, err);
		if (rc)
			return rc;
	}
	return 0;
}

static void columns_list(const struct ade_frame *f, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < f->ncols && off + 8 < n; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", f->cols[i].name);
		if (w < 0 || (size_t)w >= n - off) {
			snprintf(buf + off, n - off, ", ...");
			break;
		}
		off += (size_t)w;
	}
}

/* Resolves column names against the frame; a miss is a config error. */
static int bind_columns(struct astate *st, struct ade_error *err)
{
	char cols[512];

	columns_list(st->f, cols, sizeof(cols));
	for (int s = 0; s < st->nsets; s++) {
		struct aset *a = &st->sets[s];
		for (int g = 0; g < a->ng; g++) {
			a->gcol[g] = ade_frame_find(st->f, a->gname[g]);
			if (a->gcol[g] < 0)
				return ade_stage_config_error(st->ctx, err, a->gptr[g],
							      "unknown column '%s' in group_by of set "
							      "'%s' (the input has: %s)",
							      a->gname[g], a->name, cols);
		}
		a->qcol = ade_xcalloc((size_t)a->nm + 1, sizeof(int));
		for (int i = 0; i < a->nm; i++) {
			struct metric *m = &a->m[i];
			enum ade_type t;
			if (!m->column) {
				m->out = ADE_TYPE_INT64;
				continue;
			}
			m->col = ade_frame_find(st->f, m->column);
			if (m->col < 0)
				return ade_stage_config_error(st->ctx, err, m->ptr,
							      "unknown column '%s' in metric '%s' of "
							      "set '%s' (the input has: %s)",
							      m->column, m->name, a->name, cols);
			t = st->f->cols[m->col].type;
			if (fn_numeric(m->fn) && !type_is_int(t) && t != ADE_TYPE_FLOAT64)
				return ade_stage_config_error(st->ctx, err, m->ptr,
							      "%s needs a number or bool column; '%s' "
							      "is %s",
							      fn_names[m->fn], m->column,
							      ade_type_name(t));
			switch (m->fn) {
			case F_COUNT:
			case F_COUNT_DISTINCT:
				m->out = ADE_TYPE_INT64;
				break;
			case F_SUM:
				m->out = type_is_int(t) ? ADE_TYPE_INT64 : ADE_TYPE_FLOAT64;
				break;
			case F_MIN:
			case F_MAX:
				m->out = t;
				break;
			default:
				m->out = ADE_TYPE_FLOAT64;
			}
			if (m->fn == F_MEDIAN || m->fn == F_QUANTILE) {
				int q;
				for (q = 0; q < a->nq; q++)
					if (a->qcol[q] == m->col)
						break;
				if (q == a->nq) {
					a->qcol[a->nq++] = m->col;
					m->collects = 1;
				}
				m->qv = q;
			}
		}
	}
	return 0;
}

/* ---- aggregation ---- */

static void groups_grow(struct aset *a)
{
	int64_t ncap = a->cap ? a->cap * 2 : 64;
	size_t kw = (size_t)a->ng + 1;

	a->keys = ade_xrealloc(a->keys, (size_t)ncap * kw * sizeof(*a->keys));
	a->acc = ade_xrealloc(a->acc, (size_t)ncap * (size_t)a->nm * sizeof(*a->acc));
	if (a->nq) {
		a->qv = ade_xrealloc(a->qv, (size_t)ncap * (size_t)a->nq * sizeof(*a->qv));
		memset(a->qv + a->cap * a->nq, 0,
		       (size_t)(ncap - a->cap) * (size_t)a->nq * sizeof(*a->qv));
	}
	a->cap = ncap;
}

static void slots_rebuild(struct aset *a, size_t nslots)
{
	size_t kw = (size_t)a->ng + 1;

	free(a->slots);
	a->slots = ade_xcalloc(nslots, sizeof(*a->slots));
	a->nslots = nslots;
	for (int64_t g = 0; g < a->ngroups; g++) {
		size_t i = XXH3_64bits(a->keys + (size_t)g * kw, kw * 8) & (nslots - 1);
		while (a->slots[i])
			i = (i + 1) & (nslots - 1);
		a->slots[i] = (uint32_t)g + 1;
	}
}

static int64_t group_find(struct aset *a, const uint64_t *key)
{
	size_t kw = (size_t)a->ng + 1;
	size_t i;

	if ((size_t)(a->ngroups + 1) * 2 > a->nslots)
		slots_rebuild(a, a->nslots ? a->nslots * 2 : 256);
	for (i = XXH3_64bits(key, kw * 8) & (a->nslots - 1); a->slots[i];
	     i = (i + 1) & (a->nslots - 1)) {
		int64_t g = a->slots[i] - 1;
		if (memcmp(a->keys + (size_t)g * kw, key, kw * 8) == 0)
			return g;
	}
	if (a->ngroups == a->cap)
		groups_grow(a);
	int64_t g = a->ngroups++;
	memcpy(a->keys + (size_t)g * kw, key, kw * 8);
	for (int m = 0; m < a->nm; m++) {
		struct acc *ac = &a->acc[g * a->nm + m];
		memset(ac, 0, sizeof(*ac));
		ac->best = -1;
	}
	a->slots[i] = (uint32_t)g + 1;
	return g;
}

/* <0, 0, >0 as row i's value is below, equal to or above row j's. */
static int cell_cmp(const struct ade_frame_column *c, int64_t i, int64_t j)
{
	switch (c->type) {
	case ADE_TYPE_FLOAT64: {
		double x = ((const double *)c->data)[i], y = ((const double *)c->data)[j];
		return (x > y) - (x < y);
	}
	case ADE_TYPE_BOOL:
	case ADE_TYPE_INT64:
	case ADE_TYPE_DATE:
	case ADE_TYPE_TIMESTAMP: {
		int64_t x = col_int(c, i), y = col_int(c, j);
		return (x > y) - (x < y);
	}
	default: {
		size_t n1, n2;
		const char *s1 = ade_frame_str(c, i, &n1), *s2 = ade_frame_str(c, j, &n2);
		int r = memcmp(s1, s2, n1 < n2 ? n1 : n2);
		return r ? r : (n1 > n2) - (n1 < n2);
	}
	}
}

static void update(struct astate *st, struct aset *a, int64_t g, int mi, int64_t i)
{
	struct metric *m = &a->m[mi];
	struct acc *ac = &a->acc[g * a->nm + mi];
	const struct ade_frame_column *c;

	if (m->col < 0) {
		ac->n++;
		return;
	}
	c = &st->f->cols[m->col];
	if (!col_present(c, i))
		return;
	ac->n++;
	switch (m->fn) {
	case F_COUNT:
		break;
	case F_COUNT_DISTINCT:
		if (pairset_add(&a->ps, (uint64_t)(g * a->nm + mi), value_id(st, m->col, i)))
			ac->distinct++;
		break;
	case F_SUM:
	case F_AVG:
		if (type_is_int(c->type)) {
			int64_t v = col_int(c, i);
			if (!ac->ovf && __builtin_add_overflow(ac->isum, v, &ac->isum)) {
				/* isum is unspecified after an overflow: redo it wide. */
				ac->ovf = 1;
				a->int_overflow = 1;
				ac->lsum = (long double)(int64_t)((uint64_t)ac->isum - (uint64_t)v) +
					   (long double)v;
			} else if (ac->ovf) {
				ac->lsum += (long double)v;
			}
		} else {
			/* Neumaier's compensated sum: exact to the last bit for
			 * any n the frame can hold, unlike a running double. */
			double v = ((const double *)c->data)[i], t = ac->s + v;
			if (fabs(ac->s) >= fabs(v))
				ac->c += (ac->s - t) + v;
			else
				ac->c += (v - t) + ac->s;
			ac->s = t;
		}
		break;
	case F_MIN:
	case F_MAX:
		if (ac->best < 0) {
			ac->best = i;
		} else {
			int r = cell_cmp(c, i, ac->best);
			if ((m->fn == F_MIN && r < 0) || (m->fn == F_MAX && r > 0))
				ac->best = i;
		}
		break;
	case F_MEDIAN:
	case F_QUANTILE:
		/* Quantiles of one column share its values: selection only
		 * reorders them. */
		if (m->collects) {
			struct dvec *d = &a->qv[g * a->nq + m->qv];
			if (d->n == d->cap) {
				d->cap = d->cap ? d->cap * 2 : 16;
				d->v = ade_xrealloc(d->v, d->cap * sizeof(*d->v));
			}
			d->v[d->n++] = col_num(c, i);
		}
		break;
	case F_STDDEV:
	case F_STDDEV_POP: {
		/* Welford in long double: no cancellation from sum of squares. */
		long double x = (long double)col_num(c, i), d = x - ac->mean;
		ac->mean += d / (long double)ac->n;
		ac->m2 += d * (x - ac->mean);
		break;
	}
	default:
		break;
	}
}

static void aggregate(struct astate *st, struct aset *a)
{
	size_t kw = (size_t)a->ng + 1;
	uint64_t key[MAX_GROUP_BY + 1];
	int64_t rows = st->f->rows;

	for (int64_t i = 0; i < rows; i++) {
		uint64_t mask = 0;
		for (int k = 0; k < a->ng; k++) {
			const struct ade_frame_column *c = &st->f->cols[a->gcol[k]];
			if (col_present(c, i)) {
				key[k] = value_id(st, a->gcol[k], i);
			} else {
				key[k] = 0;
				mask |= UINT64_C(1) << k;
			}
		}
		key[kw - 1] = mask;
		int64_t g = group_find(a, key);
		for (int m = 0; m < a->nm; m++)
			update(st, a, g, m, i);
	}
	/* SQL: an aggregate without GROUP BY has one row even over no rows. */
	if (a->ng == 0 && a->ngroups == 0) {
		key[0] = 0;
		group_find(a, key);
	}
}

struct sort_ctx {
	struct astate *st;
	struct aset *a;
};

/* Nulls first, as SQLite orders them. */
static int group_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct aset *a = sc->a;
	size_t kw = (size_t)a->ng + 1;
	const uint64_t *k1 = a->keys + (size_t)*(const int64_t *)x * kw;
	const uint64_t *k2 = a->keys + (size_t)*(const int64_t *)y * kw;

	for (int k = 0; k < a->ng; k++) {
		int n1 = (int)((k1[kw - 1] >> k) & 1), n2 = (int)((k2[kw - 1] >> k) & 1);
		if (n1 || n2) {
			if (n1 != n2)
				return n2 - n1;
			continue;
		}
		const struct ade_frame_column *c = &sc->st->f->cols[a->gcol[k]];
		int r;
		if (type_is_str(c->type)) {
			const struct intern *t = &sc->st->in[a->gcol[k]];
			if (k1[k] >= t->n || k2[k] >= t->n) {
				r = (k1[k] > k2[k]) - (k1[k] < k2[k]);
			} else {
				size_t l1 = t->len[k1[k]], l2 = t->len[k2[k]];
				r = memcmp(t->p[k1[k]], t->p[k2[k]], l1 < l2 ? l1 : l2);
				if (!r)
					r = (l1 > l2) - (l1 < l2);
			}
		} else if (c->type == ADE_TYPE_FLOAT64) {
			double d1, d2;
			memcpy(&d1, &k1[k], 8);
			memcpy(&d2, &k2[k], 8);
			r = (d1 > d2) - (d1 < d2);
		} else {
			int64_t v1 = (int64_t)k1[k], v2 = (int64_t)k2[k];
			r = (v1 > v2) - (v1 < v2);
		}
		if (r)
			return r;
	}
	return 0;
}

/* ---- output ---- */

static cJSON *int_json(int64_t v)
{
	if (v > EXACT_DOUBLE_INT || v < -EXACT_DOUBLE_INT) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
		return cJSON_CreateRaw(buf);
	}
	return cJSON_CreateNumber((double)v);
}

/*
 * cJSON prints a double with 15 digits whenever that reads back within
 * DBL_EPSILON, which loses the last bit; results must read back exactly,
 * so the shortest of 15, 16 or 17 digits that strtod returns unchanged is
 * written as raw JSON.
 */
static cJSON *num_json(double v)
{
	char buf[40];

	if (!isfinite(v))
		return cJSON_CreateNull();
	if (v == 0)
		v = 0; /* no "-0" */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(buf);
}

static cJSON *cell_json(const struct ade_frame_column *c, int64_t i)
{
	char buf[40];
	size_t len;
	const char *s;

	switch (c->type) {
	case ADE_TYPE_INT64:
		return int_json(((const int64_t *)c->data)[i]);
	case ADE_TYPE_FLOAT64:
		return num_json(((const double *)c->data)[i]);
	case ADE_TYPE_BOOL:
		return cJSON_CreateBool(((const uint8_t *)c->data)[i] != 0);
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)((const int64_t *)c->data)[i], buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us(((const int64_t *)c->data)[i], buf);
		return cJSON_CreateString(buf);
	default: {
		s = ade_frame_str(c, i, &len);
		char *t = ade_xstrndup(s, len);
		cJSON *j = cJSON_CreateString(t);
		free(t);
		return j;
	}
	}
}

/* The group's key value k as JSON (ids are values for non-strings). */
static cJSON *key_json(struct astate *st, struct aset *a, const uint64_t *key, int k)
{
	size_t kw = (size_t)a->ng + 1;
	const struct ade_frame_column *c = &st->f->cols[a->gcol[k]];
	char buf[40];

	if ((key[kw - 1] >> k) & 1)
		return cJSON_CreateNull();
	switch (c->type) {
	case ADE_TYPE_INT64:
		return int_json((int64_t)key[k]);
	case ADE_TYPE_FLOAT64: {
		double d;
		memcpy(&d, &key[k], 8);
		return num_json(d);
	}
	case ADE_TYPE_BOOL:
		return cJSON_CreateBool(key[k] != 0);
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)(int64_t)key[k], buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us((int64_t)key[k], buf);
		return cJSON_CreateString(buf);
	default: {
		const struct intern *t = &st->in[a->gcol[k]];
		if (key[k] >= t->n)
			return cJSON_CreateString(""); /* a code outside the dictionary */
		char *s = ade_xstrndup(t->p[key[k]], t->len[key[k]]);
		cJSON *j = cJSON_CreateString(s);
		free(s);
		return j;
	}
	}
}

/* A metric's final value; *isnull set when SQL would give NULL. */
struct mval {
	int isnull;
	int is_int;
	int64_t i;
	double d;
	int64_t row; /* min/max */
};

static struct mval metric_value(struct astate *st, struct aset *a, int64_t g, int mi)
{
	const struct metric *m = &a->m[mi];
	struct acc *ac = &a->acc[g * a->nm + mi];
	const struct ade_frame_column *c = m->col >= 0 ? &st->f->cols[m->col] : NULL;
	struct mval v = {0};

	v.row = -1;
	switch (m->fn) {
	case F_COUNT:
		v.is_int = 1;
		v.i = ac->n;
		break;
	case F_COUNT_DISTINCT:
		v.is_int = 1;
		v.i = ac->distinct;
		break;
	case F_SUM:
	case F_AVG:
		if (ac->n == 0) {
			v.isnull = 1;
		} else if (type_is_int(c->type)) {
			if (m->fn == F_SUM && !ac->ovf) {
				v.is_int = 1;
				v.i = ac->isum;
			} else {
				long double s = ac->ovf ? ac->lsum : (long double)ac->isum;
				v.d = m->fn == F_SUM ? (double)s
						     : (ac->ovf ? (double)(s / (long double)ac->n)
								: (double)ac->isum / (double)ac->n);
			}
		} else {
			double s = ac->s + ac->c;
			v.d = m->fn == F_SUM ? s : s / (double)ac->n;
		}
		break;
	case F_MIN:
	case F_MAX:
		v.isnull = ac->best < 0;
		v.row = ac->best;
		break;
	case F_MEDIAN:
	case F_QUANTILE: {
		struct dvec *d = &a->qv[g * a->nq + m->qv];
		if (d->n == 0)
			v.isnull = 1;
		else
			v.d = ade_analytics_quantile(d->v, d->n, m->p);
		break;
	}
	case F_STDDEV:
		if (ac->n < 2)
			v.isnull = 1;
		else
			v.d = (double)sqrtl(ac->m2 / (long double)(ac->n - 1));
		break;
	case F_STDDEV_POP:
		if (ac->n < 1)
			v.isnull = 1;
		else
			v.d = (double)sqrtl(ac->m2 / (long double)ac->n);
		break;
	default:
		break;
	}
	return v;
}

static cJSON *mval_json(struct astate *st, const struct metric *m, const struct mval *v)
{
	if (v->isnull)
		return cJSON_CreateNull();
	if (m->fn == F_MIN || m->fn == F_MAX)
		return cell_json(&st->f->cols[m->col], v->row);
	if (v->is_int)
		return int_json(v->i);
	return num_json(v->d);
}

static void set_dict(struct ade_frame_writer *w, int col, const struct ade_frame_column *c)
{
	ade_frame_writer_set_dict(w, col, (const char *const *)c->dict, c->dict_len, c->n_dict);
}

static void put_cell(struct ade_frame_writer *w, int col, const struct ade_frame_column *c,
		     int64_t i)
{
	size_t len;
	const char *s;

	switch (c->type) {
	case ADE_TYPE_FLOAT64:
		ade_frame_put_f64(w, col, ((const double *)c->data)[i]);
		break;
	case ADE_TYPE_BOOL:
		ade_frame_put_bool(w, col, ((const uint8_t *)c->data)[i] != 0);
		break;
	case ADE_TYPE_CATEGORICAL:
		ade_frame_put_code(w, col, ((const int32_t *)c->data)[i]);
		break;
	case ADE_TYPE_STRING:
		s = ade_frame_str(c, i, &len);
		ade_frame_put_str(w, col, s, len);
		break;
	default:
		ade_frame_put_i64(w, col, ((const int64_t *)c->data)[i]);
	}
}

/* Writes the set as a frame and returns its JSON (rows inline). */
static int write_set(struct astate *st, struct aset *a, cJSON **out_json, cJSON *kpis,
		     cJSON *outputs, struct ade_error *err)
{
	const struct ade_stage_ctx *ctx = st->ctx;
	struct ade_frame_writer *w = NULL;
	struct ade_frame_info info = {0};
	size_t kw = (size_t)a->ng + 1;
	char *dir = ade_xasprintf("%s/sets/%s", ctx->out, a->name);
	int rc, *wcol = ade_xcalloc((size_t)(a->ng + a->nm) + 1, sizeof(int));
	cJSON *js = cJSON_CreateObject(), *rows;

	rc = ade_frame_writer_open(dir, &w, err);
	if (rc)
		goto out;
	for (int k = 0; k < a->ng; k++) {
		const struct ade_frame_column *c = &st->f->cols[a->gcol[k]];
		wcol[k] = ade_frame_writer_add(w, a->gname[k], c->type, err);
		if (wcol[k] < 0) {
			rc = wcol[k];
			goto out;
		}
		if (c->type == ADE_TYPE_CATEGORICAL)
			set_dict(w, wcol[k], c);
	}
	for (int mi = 0; mi < a->nm; mi++) {
		const struct metric *m = &a->m[mi];
		int wc = ade_frame_writer_add(w, m->name, m->out, err);
		if (wc < 0) {
			rc = wc;
			goto out;
		}
		wcol[a->ng + mi] = wc;
		if (m->out == ADE_TYPE_CATEGORICAL)
			set_dict(w, wc, &st->f->cols[m->col]);
	}

	cJSON *gb = cJSON_AddArrayToObject(js, "group_by");
	for (int k = 0; k < a->ng; k++)
		cJSON_AddItemToArray(gb, cJSON_CreateString(a->gname[k]));
	cJSON *ma = cJSON_AddArrayToObject(js, "metrics");
	for (int mi = 0; mi < a->nm; mi++) {
		const struct metric *m = &a->m[mi];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", m->name);
		cJSON_AddStringToObject(o, "fn", fn_names[m->fn]);
		if (m->column)
			cJSON_AddStringToObject(o, "column", m->column);
		else
			cJSON_AddNullToObject(o, "column");
		if (m->fn == F_QUANTILE || m->fn == F_MEDIAN)
			cJSON_AddNumberToObject(o, "p", m->p);
		cJSON_AddStringToObject(o, "type", ade_type_name(m->out));
		cJSON_AddItemToArray(ma, o);
	}
	cJSON *cols = cJSON_AddArrayToObject(js, "columns");
	for (int k = 0; k < a->ng; k++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", a->gname[k]);
		cJSON_AddStringToObject(o, "type", ade_type_name(st->f->cols[a->gcol[k]].type));
		cJSON_AddStringToObject(o, "role", "group");
		cJSON_AddItemToArray(cols, o);
	}
	for (int mi = 0; mi < a->nm; mi++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", a->m[mi].name);
		cJSON_AddStringToObject(o, "type", ade_type_name(a->m[mi].out));
		cJSON_AddStringToObject(o, "role", "metric");
		cJSON_AddItemToArray(cols, o);
	}
	cJSON_AddNumberToObject(js, "row_count", (double)a->ngroups);
	rows = cJSON_AddArrayToObject(js, "rows");

	for (int64_t r = 0; r < a->ngroups; r++) {
		int64_t g = a->order[r];
		const uint64_t *key = a->keys + (size_t)g * kw;
		cJSON *row = cJSON_CreateObject();
		for (int k = 0; k < a->ng; k++) {
			const struct ade_frame_column *c = &st->f->cols[a->gcol[k]];
			cJSON_AddItemToObject(row, a->gname[k], key_json(st, a, key, k));
			if ((key[kw - 1] >> k) & 1) {
				ade_frame_put_null(w, wcol[k]);
				continue;
			}
			switch (c->type) {
			case ADE_TYPE_FLOAT64: {
				double d;
				memcpy(&d, &key[k], 8);
				ade_frame_put_f64(w, wcol[k], d);
				break;
			}
			case ADE_TYPE_BOOL:
				ade_frame_put_bool(w, wcol[k], key[k] != 0);
				break;
			case ADE_TYPE_CATEGORICAL:
			case ADE_TYPE_STRING: {
				/* Find a row with this value: the interned pointer is one. */
				const struct intern *t = &st->in[a->gcol[k]];
				const char *s = key[k] < t->n ? t->p[key[k]] : "";
				size_t len = key[k] < t->n ? t->len[key[k]] : 0;
				if (c->type == ADE_TYPE_STRING) {
					ade_frame_put_str(w, wcol[k], s, len);
				} else {
					int32_t code = -1;
					for (int32_t q = 0; q < c->n_dict; q++)
						if (st->in[a->gcol[k]].canon[q] == key[k]) {
							code = q;
							break;
						}
					ade_frame_put_code(w, wcol[k], code);
				}
				break;
			}
			default:
				ade_frame_put_i64(w, wcol[k], (int64_t)key[k]);
			}
		}
		for (int mi = 0; mi < a->nm; mi++) {
			const struct metric *m = &a->m[mi];
			struct mval v = metric_value(st, a, g, mi);
			int wc = wcol[a->ng + mi];
			cJSON *jv = mval_json(st, m, &v);
			if (a->ng == 0 && (m->out == ADE_TYPE_INT64 || m->out == ADE_TYPE_FLOAT64)) {
				char *kn = ade_xasprintf("%s.%s", a->name, m->name);
				cJSON_AddItemToObject(kpis, kn, cJSON_Duplicate(jv, 1));
				free(kn);
			}
			cJSON_AddItemToObject(row, m->name, jv);
			if (v.isnull)
				ade_frame_put_null(w, wc);
			else if (m->fn == F_MIN || m->fn == F_MAX)
				put_cell(w, wc, &st->f->cols[m->col], v.row);
			else if (v.is_int)
				ade_frame_put_i64(w, wc, v.i);
			else if (m->out == ADE_TYPE_INT64)
				/* an int sum past int64: the frame keeps a null, the JSON the double */
				ade_frame_put_null(w, wc);
			else
				ade_frame_put_f64(w, wc, v.d);
		}
		cJSON_AddItemToArray(rows, row);
	}
	if (a->ng > 0) {
		char *kn = ade_xasprintf("%s.groups", a->name);
		cJSON_AddNumberToObject(kpis, kn, (double)a->ngroups);
		free(kn);
	}
	rc = ade_frame_writer_finish(w, NULL, &info, err);
	if (rc)
		goto out;
	char *rel = ade_xasprintf("sets/%s", a->name);
	cJSON_AddStringToObject(js, "frame", rel);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", rel);
	cJSON_AddStringToObject(o, "format", "ade-frame");
	cJSON_AddNumberToObject(o, "rows", (double)info.rows);
	cJSON_AddNumberToObject(o, "bytes", (double)info.bytes);
	cJSON_AddStringToObject(o, "hash", info.hash);
	cJSON_AddItemToObject(o, "schema", info.schema ? info.schema : cJSON_CreateArray());
	info.schema = NULL;
	cJSON_AddItemToArray(outputs, o);
	free(rel);
out:
	if (rc) {
		if (w)
			ade_frame_writer_abort(w);
		cJSON_Delete(js);
		js = NULL;
	}
	if (w)
		ade_frame_writer_free(w);
	cJSON_Delete(info.schema);
	free(wcol);
	free(dir);
	*out_json = js;
	return rc;
}

int ade_analytics_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	struct astate st = {0};
	const char *indir;
	char *frame_dir = NULL, *sets_dir = NULL;
	int rc;
	int64_t t0, rows_out = 0;
	cJSON *res = NULL, *warnings = cJSON_CreateArray();

	st.ctx = ctx;
	rc = parse_config(&st, err);
	if (!rc)
		rc = ade_stage_main_input(ctx->config, &indir, err);
	if (rc)
		goto out;
	frame_dir = ade_xasprintf("%s/frame", indir);
	rc = ade_frame_open(frame_dir, &st.f, err);
	if (rc) {
		/* A bad frame is not a bad config: exit 1, not 2. */
		if (rc == ADE_EINVAL)
			rc = err->code = ADE_EPARSE;
		ade_error_prefix(err, "input frame");
		goto out;
	}
	rc = bind_columns(&st, err);
	if (rc)
		goto out;
	st.in = ade_xcalloc((size_t)st.f->ncols + 1, sizeof(*st.in));
	sets_dir = ade_xasprintf("%s/sets", ctx->out);
	rc = ade_fs_mkdirs(sets_dir, err);
	if (rc)
		goto out;

	t0 = ade_now_mono_ns();
	res = ade_stage_result_new(ctx, "ok");
	cJSON_AddNumberToObject(res, "rows_in", (double)st.f->rows);
	cJSON *rows_out_j = cJSON_AddNumberToObject(res, "rows_out", 0);
	cJSON *jsets = cJSON_AddObjectToObject(res, "sets");
	cJSON *kpis = cJSON_AddObjectToObject(res, "kpis");
	cJSON_AddNumberToObject(kpis, "rows_in", (double)st.f->rows);
	cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
	cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
	cJSON *in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "path", frame_dir);
	cJSON_AddStringToObject(in, "format", "ade-frame");
	cJSON_AddNumberToObject(in, "rows", (double)st.f->rows);
	cJSON_AddNumberToObject(in, "bytes", ade_json_num(st.f->schema, "bytes", 0));
	cJSON_AddStringToObject(in, "hash", ade_json_str(st.f->schema, "content_hash", ""));
	cJSON_AddItemToArray(ins, in);
	cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");

	for (int s = 0; s < st.nsets; s++) {
		struct aset *a = &st.sets[s];
		struct sort_ctx sc = {&st, a};
		cJSON *js;

		aggregate(&st, a);
		a->order = ade_xmalloc((size_t)(a->ngroups ? a->ngroups : 1) * sizeof(*a->order));
		for (int64_t g = 0; g < a->ngroups; g++)
			a->order[g] = g;
		qsort_r(a->order, (size_t)a->ngroups, sizeof(*a->order), group_cmp, &sc);
		rc = write_set(&st, a, &js, kpis, outs, err);
		if (rc) {
			ade_error_prefix(err, "set '%s'", a->name);
			goto out;
		}
		cJSON_AddItemToObject(jsets, a->name, js);
		rows_out += a->ngroups;
		if (a->int_overflow) {
			char *m = ade_xasprintf("set '%s': an integer sum passed the int64 range; it "
						"is reported as a float (the frame holds null)",
						a->name);
			ade_log_warn("%s", m);
			cJSON_AddItemToArray(warnings, cJSON_CreateString(m));
			free(m);
		}
		ade_log_info("set '%s': %lld groups, %d metrics", a->name, (long long)a->ngroups,
			     a->nm);
		/* The set's memory is done with; the next set starts clean. */
		for (int64_t k = 0; k < a->ngroups * a->nq; k++) {
			free(a->qv[k].v);
			a->qv[k].v = NULL;
		}
		pairset_free(&a->ps);
	}
	cJSON_SetNumberValue(rows_out_j, (double)rows_out);
	cJSON *m = cJSON_AddObjectToObject(res, "metrics");
	cJSON_AddNumberToObject(m, "sets", st.nsets);
	cJSON_AddNumberToObject(m, "seconds", (double)(ade_now_mono_ns() - t0) / 1e9);
	cJSON_AddItemToObject(res, "warnings", warnings);
	warnings = NULL;
	rc = ade_stage_result_write(ctx, res, err);
	if (!rc)
		ade_log_info("%d sets over %lld rows: %lld result rows", st.nsets,
			     (long long)st.f->rows, (long long)rows_out);
out:
	cJSON_Delete(res);
	cJSON_Delete(warnings);
	if (st.in) {
		for (int c = 0; c < st.f->ncols; c++)
			intern_free(&st.in[c]);
		free(st.in);
	}
	if (st.f)
		ade_frame_close(st.f);
	sets_free(&st);
	free(frame_dir);
	free(sets_dir);
	return rc;
}

int ade_analytics_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	default: return ADE_EXIT_FAILED;
	}
}
