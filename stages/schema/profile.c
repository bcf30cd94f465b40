/*
 * Column profiles (the statistics a schema version carries so that a
 * later day can recognise a renamed column), the schema hash and the
 * rename confidence.  See docs/schema.md.
 */
#include "schema.h"
#include "core/date.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

/* ---- distinct counting: exact table, then HyperLogLog ---- */

struct slot {
	uint64_t key;   /* 0 = empty */
	int64_t count;
	int64_t first;  /* row of the first occurrence, to print the value */
};

#define TABLE_CAP (2 * ADE_SCHEMA_DISTINCT_EXACT_MAX) /* load factor <= 1/2 */
#define HLL_M (1u << ADE_SCHEMA_HLL_P)

struct counter {
	struct slot *t;   /* NULL once more than the exact maximum were seen */
	int64_t n;        /* distinct keys in t */
	uint8_t *hll;
};

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: a bijection, so distinct ints stay distinct */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void counter_init(struct counter *c)
{
	c->t = ade_xcalloc(TABLE_CAP, sizeof(*c->t));
	c->n = 0;
	c->hll = ade_xcalloc(HLL_M, 1);
}

static void counter_free(struct counter *c)
{
	free(c->t);
	free(c->hll);
	c->t = NULL;
	c->hll = NULL;
}

static void counter_add(struct counter *c, uint64_t h, int64_t row)
{
	uint32_t idx = (uint32_t)(h >> (64 - ADE_SCHEMA_HLL_P));
	uint64_t rest = h << ADE_SCHEMA_HLL_P;
	uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : (uint8_t)(64 - ADE_SCHEMA_HLL_P + 1);

	if (rank > c->hll[idx])
		c->hll[idx] = rank;
	if (!c->t)
		return;
	uint64_t key = h ? h : 1;
	size_t i = (size_t)(key & (TABLE_CAP - 1));
	for (;;) {
		struct slot *s = &c->t[i];
		if (s->key == key) {
			s->count++;
			return;
		}
		if (!s->key) {
			if (c->n == ADE_SCHEMA_DISTINCT_EXACT_MAX) {
				/* Too many to count exactly: keep only the sketch. */
				free(c->t);
				c->t = NULL;
				return;
			}
			s->key = key;
			s->count = 1;
			s->first = row;
			c->n++;
			return;
		}
		i = (i + 1) & (TABLE_CAP - 1);
	}
}

static double hll_estimate(const uint8_t *r)
{
	double m = HLL_M, sum = 0;
	int zeros = 0;

	for (uint32_t i = 0; i < HLL_M; i++) {
		sum += ldexp(1.0, -r[i]);
		zeros += r[i] == 0;
	}
	double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (e <= 2.5 * m && zeros) /* small range: linear counting */
		e = m * log(m / zeros);
	return e;
}

/* ---- values as JSON ---- */

static cJSON *value_json(const struct ade_frame_column *c, int64_t row)
{
	char buf[40];
	size_t len;
	const char *s;

	switch (c->type) {
	case ADE_TYPE_INT64: return cJSON_CreateNumber((double)((const int64_t *)c->data)[row]);
	case ADE_TYPE_FLOAT64: {
		double v = ((const double *)c->data)[row];
		return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateString(isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
	}
	case ADE_TYPE_BOOL: return cJSON_CreateBool(((const uint8_t *)c->data)[row]);
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)((const int64_t *)c->data)[row], buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_TIMESTAMP:
		ade_date_format_us(((const int64_t *)c->data)[row], buf);
		return cJSON_CreateString(buf);
	case ADE_TYPE_CATEGORICAL:
	case ADE_TYPE_STRING: {
		s = ade_frame_str(c, row, &len);
		char *t = ade_xstrndup(s, len > 256 ? 256 : len); /* top values are for humans */
		cJSON *j = cJSON_CreateString(t);
		free(t);
		return j;
	}
	}
	return cJSON_CreateNull();
}

/* The top_k slots by count (ties: first occurrence first), as JSON. */
struct top { int64_t count, first; };

static int top_cmp(const void *a, const void *b)
{
	const struct top *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->first > y->first) - (x->first < y->first);
}

static void add_top(cJSON *st, const struct ade_frame_column *c, const struct slot *t, size_t n,
		    int top_k)
{
	struct top *best = ade_xcalloc((size_t)top_k + 1, sizeof(*best));
	int nb = 0;

	for (size_t i = 0; i < n; i++) {
		if (!t[i].key)
			continue;
		struct top e = {t[i].count, t[i].first};
		if (nb == top_k && top_cmp(&e, &best[nb - 1]) >= 0)
			continue;
		int j = nb < top_k ? nb++ : nb - 1;
		while (j > 0 && top_cmp(&e, &best[j - 1]) < 0) {
			best[j] = best[j - 1];
			j--;
		}
		best[j] = e;
	}
	/* A value seen once tells nothing about the distribution: leave it out. */
	while (nb > 0 && best[nb - 1].count < 2)
		nb--;
	cJSON *arr = cJSON_AddArrayToObject(st, "top");
	for (int i = 0; i < nb; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "value", value_json(c, best[i].first));
		cJSON_AddNumberToObject(o, "count", (double)best[i].count);
		cJSON_AddItemToArray(arr, o);
	}
	free(best);
}

cJSON *ade_schema_profile_column(const struct ade_frame *f, int col, int top_k)
{
	const struct ade_frame_column *c = &f->cols[col];
	cJSON *o = cJSON_CreateObject(), *st;
	int64_t rows = f->rows, nulls = 0, nan = 0, nv;
	int64_t imin = INT64_MAX, imax = INT64_MIN;
	double fmin = INFINITY, fmax = -INFINITY, sum = 0;
	size_t lmin = SIZE_MAX, lmax = 0;
	struct counter cnt = {0};
	int64_t *codes = NULL;
	char buf[40];

	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "type", ade_type_name(c->type));
	if (c->type == ADE_TYPE_CATEGORICAL || c->type == ADE_TYPE_BOOL)
		codes = ade_xcalloc((size_t)(c->type == ADE_TYPE_BOOL ? 2 : c->n_dict) + 1,
				    sizeof(int64_t));
	else
		counter_init(&cnt);

	for (int64_t i = 0; i < rows; i++) {
		if (ade_frame_is_null(c, i)) {
			nulls++;
			continue;
		}
		switch (c->type) {
		case ADE_TYPE_INT64:
		case ADE_TYPE_DATE:
		case ADE_TYPE_TIMESTAMP: {
			int64_t v = ((const int64_t *)c->data)[i];
			if (v < imin)
				imin = v;
			if (v > imax)
				imax = v;
			sum += (double)v;
			counter_add(&cnt, mix64((uint64_t)v), i);
			break;
		}
		case ADE_TYPE_FLOAT64: {
			double v = ((const double *)c->data)[i];
			uint64_t bits;
			if (isnan(v)) {
				nan++;
				v = NAN; /* one NaN, whatever its payload */
			} else {
				if (v < fmin)
					fmin = v;
				if (v > fmax)
					fmax = v;
				sum += v;
				if (v == 0)
					v = 0; /* -0.0 and 0.0 are one value */
			}
			memcpy(&bits, &v, 8);
			counter_add(&cnt, mix64(bits), i);
			break;
		}
		case ADE_TYPE_BOOL:
			codes[((const uint8_t *)c->data)[i] ? 1 : 0]++;
			break;
		case ADE_TYPE_CATEGORICAL: {
			int32_t k = ((const int32_t *)c->data)[i];
			if (k >= 0 && k < c->n_dict)
				codes[k]++;
			break;
		}
		case ADE_TYPE_STRING: {
			size_t len;
			const char *s = ade_frame_str(c, i, &len);
			if (len < lmin)
				lmin = len;
			if (len > lmax)
				lmax = len;
			counter_add(&cnt, XXH3_64bits(s, len), i);
			break;
		}
		}
	}
	nv = rows - nulls;
	cJSON_AddBoolToObject(o, "nullable", nulls > 0);
	cJSON_AddNumberToObject(o, "position", col);
	st = cJSON_AddObjectToObject(o, "stats");
	cJSON_AddNumberToObject(st, "rows", (double)rows);
	cJSON_AddNumberToObject(st, "null_count", (double)nulls);
	cJSON_AddNumberToObject(st, "null_rate", rows ? (double)nulls / (double)rows : 0);

	if (codes) {
		int n = c->type == ADE_TYPE_BOOL ? 2 : c->n_dict;
		int64_t d = 0;
		/* The exact counts, viewed as slots so add_top ranks them alike. */
		struct slot *t = ade_xcalloc((size_t)n + 1, sizeof(*t));
		for (int k = 0; k < n; k++)
			if (codes[k]) {
				d++;
				t[k].key = 1;
				t[k].count = codes[k];
				t[k].first = k;
			}
		cJSON_AddNumberToObject(st, "distinct", (double)d);
		cJSON_AddBoolToObject(st, "distinct_exact", 1);
		if (c->type == ADE_TYPE_BOOL)
			cJSON_AddNumberToObject(st, "true_count", (double)codes[1]);
		if (top_k > 0) {
			/* add_top prints row values; build the list from codes directly. */
			struct top *best = ade_xcalloc((size_t)n + 1, sizeof(*best));
			int nb = 0;
			for (int k = 0; k < n; k++)
				if (t[k].key)
					best[nb++] = (struct top){t[k].count, k};
			qsort(best, (size_t)nb, sizeof(*best), top_cmp);
			cJSON *arr = cJSON_AddArrayToObject(st, "top");
			for (int i = 0; i < nb && i < top_k; i++) {
				cJSON *e = cJSON_CreateObject();
				int k = (int)best[i].first;
				if (c->type == ADE_TYPE_BOOL)
					cJSON_AddBoolToObject(e, "value", k);
				else
					cJSON_AddStringToObject(e, "value", c->dict[k]);
				cJSON_AddNumberToObject(e, "count", (double)best[i].count);
				cJSON_AddItemToArray(arr, e);
			}
			cJSON_AddBoolToObject(st, "top_exact", 1);
			free(best);
		}
		free(t);
		free(codes);
		return o;
	}

	if (cnt.t) {
		cJSON_AddNumberToObject(st, "distinct", (double)cnt.n);
		cJSON_AddBoolToObject(st, "distinct_exact", 1);
	} else {
		cJSON_AddNumberToObject(st, "distinct", round(hll_estimate(cnt.hll)));
		cJSON_AddBoolToObject(st, "distinct_exact", 0);
	}
	switch (c->type) {
	case ADE_TYPE_INT64:
		if (nv) {
			cJSON_AddNumberToObject(st, "min", (double)imin);
			cJSON_AddNumberToObject(st, "max", (double)imax);
			cJSON_AddNumberToObject(st, "mean", sum / (double)nv);
		}
		break;
	case ADE_TYPE_FLOAT64:
		if (nv - nan > 0) {
			cJSON_AddNumberToObject(st, "min", fmin);
			cJSON_AddNumberToObject(st, "max", fmax);
			cJSON_AddNumberToObject(st, "mean", sum / (double)(nv - nan));
		}
		cJSON_AddNumberToObject(st, "nan_count", (double)nan);
		break;
	case ADE_TYPE_DATE:
		if (nv) {
			ade_date_format((int32_t)imin, buf);
			cJSON_AddStringToObject(st, "min", buf);
			ade_date_format((int32_t)imax, buf);
			cJSON_AddStringToObject(st, "max", buf);
			/* Microseconds since the epoch, so a date compares with a timestamp. */
			cJSON_AddNumberToObject(st, "min_us", (double)imin * 86400e6);
			cJSON_AddNumberToObject(st, "max_us", (double)imax * 86400e6);
		}
		break;
	case ADE_TYPE_TIMESTAMP:
		if (nv) {
			ade_date_format_us(imin, buf);
			cJSON_AddStringToObject(st, "min", buf);
			ade_date_format_us(imax, buf);
			cJSON_AddStringToObject(st, "max", buf);
			cJSON_AddNumberToObject(st, "min_us", (double)imin);
			cJSON_AddNumberToObject(st, "max_us", (double)imax);
		}
		break;
	case ADE_TYPE_STRING:
		if (nv) {
			cJSON_AddNumberToObject(st, "min_length", (double)lmin);
			cJSON_AddNumberToObject(st, "max_length", (double)lmax);
		}
		break;
	default:
		break;
	}
	if (top_k > 0 && cnt.t) {
		add_top(st, c, cnt.t, TABLE_CAP, top_k);
		cJSON_AddBoolToObject(st, "top_exact", 1);
	}
	counter_free(&cnt);
	return o;
}

/*
 * Drops the pages of column col's files from this process: the frame is
 * mapped read-only from files, so they fault back in if read again.
 * Without this, profiling every column would leave the whole frame
 * resident and peak RSS would grow with the rows.
 */
static void release_column(const struct ade_frame *f, int col)
{
	const struct ade_frame_column *c = &f->cols[col];
	const void *ptrs[4] = {c->data, c->valid, c->offsets, c->bytes};

	for (int m = 0; m < f->nmaps; m++) {
		const char *base = f->maps[m];
		for (int k = 0; k < 4; k++)
			if (ptrs[k] && (const char *)ptrs[k] >= base &&
			    (const char *)ptrs[k] < base + f->map_lens[m]) {
				madvise(f->maps[m], f->map_lens[m], MADV_DONTNEED);
				break;
			}
	}
}

cJSON *ade_schema_profile(const struct ade_frame *f, int top_k)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *cols;

	cJSON_AddNumberToObject(s, "rows", (double)f->rows);
	cols = cJSON_AddArrayToObject(s, "columns");
	for (int i = 0; i < f->ncols; i++) {
		cJSON_AddItemToArray(cols, ade_schema_profile_column(f, i, top_k));
		release_column(f, i);
	}
	return s;
}

/* ---- hash ---- */

void ade_schema_hash(const cJSON *schema, char out[64])
{
	/* Canonical text: {"columns":[{"name":..,"type":..,"nullable":..},...]}
	 * in this key order, compact, so any writer reproduces it. */
	cJSON *canon = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(canon, "columns");
	const cJSON *cols = cJSON_GetObjectItem(schema, "columns");
	const cJSON *c;

	cJSON_ArrayForEach(c, cols) {
		cJSON *o = cJSON_CreateObject();
		const cJSON *t = cJSON_GetObjectItem(c, "type");
		cJSON_AddStringToObject(o, "name", ade_json_str(c, "name", ""));
		if (cJSON_IsString(t))
			cJSON_AddStringToObject(o, "type", t->valuestring);
		else
			cJSON_AddNullToObject(o, "type");
		cJSON_AddBoolToObject(o, "nullable", cJSON_IsTrue(cJSON_GetObjectItem(c, "nullable")));
		cJSON_AddItemToArray(arr, o);
	}
	char *text = cJSON_PrintUnformatted(canon);
	XXH128_hash_t h = XXH3_128bits(text, strlen(text));
	snprintf(out, 64, "xxh3-128:%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
	cJSON_free(text);
	cJSON_Delete(canon);
}

/* ---- types ---- */

/* Each type's family and its rank in it: a higher rank holds every lower one. */
static int family(enum ade_type t, int *rank)
{
	switch (t) {
	case ADE_TYPE_INT64: *rank = 0; return 1;
	case ADE_TYPE_FLOAT64: *rank = 1; return 1;
	case ADE_TYPE_DATE: *rank = 0; return 2;
	case ADE_TYPE_TIMESTAMP: *rank = 1; return 2;
	case ADE_TYPE_CATEGORICAL: *rank = 0; return 3;
	case ADE_TYPE_STRING: *rank = 1; return 3;
	case ADE_TYPE_BOOL: *rank = 0; return 4;
	}
	*rank = 0;
	return 0;
}

const char *ade_schema_type_change(enum ade_type from, enum ade_type to)
{
	int rf, rt;

	if (from == to)
		return "same";
	if (family(from, &rf) != family(to, &rt))
		return "incompatible";
	return rt > rf ? "widening" : "narrowing";
}

/* ---- rename confidence ---- */

static int num(const cJSON *o, const char *k, double *v)
{
	const cJSON *j = cJSON_GetObjectItem(o, k);

	if (!cJSON_IsNumber(j))
		return 0;
	*v = j->valuedouble;
	return 1;
}

/* Intersection over union of [a0, a1] and [b0, b1]; points count as width w. */
static double iou(double a0, double a1, double b0, double b1, double w)
{
	a1 += w;
	b1 += w;
	double lo = fmax(a0, b0), hi = fmin(a1, b1);
	double un = fmax(a1, b1) - fmin(a0, b0);
	if (un <= 0)
		return a0 == b0 ? 1 : 0;
	return hi > lo ? (hi - lo) / un : 0;
}

static double ratio(double a, double b)
{
	if (a <= 0 && b <= 0)
		return 1;
	return fmin(a, b) / fmax(a, b);
}

static double top_count(const cJSON *x)
{
	return ade_json_num(x, "count", 0);
}

/* Value shares of the top list, keyed by the value's JSON text. */
static double top_overlap(const cJSON *ta, double nva, const cJSON *tb, double nvb, int *ok)
{
	double cov_a = 0, cov_b = 0, s = 0;
	const cJSON *x, *y;

	*ok = 0;
	if (!cJSON_IsArray(ta) || !cJSON_IsArray(tb) || nva <= 0 || nvb <= 0)
		return 0;
	cJSON_ArrayForEach(x, ta) cov_a += top_count(x);
	cJSON_ArrayForEach(y, tb) cov_b += top_count(y);
	/* Only a list that covers most values describes the distribution. */
	if (cov_a / nva < 0.5 || cov_b / nvb < 0.5)
		return 0;
	cJSON_ArrayForEach(x, ta) {
		char *vx = cJSON_PrintUnformatted(cJSON_GetObjectItem(x, "value"));
		cJSON_ArrayForEach(y, tb) {
			char *vy = cJSON_PrintUnformatted(cJSON_GetObjectItem(y, "value"));
			int eq = vx && vy && !strcmp(vx, vy);
			cJSON_free(vy);
			if (eq) {
				s += fmin(top_count(x) / nva, top_count(y) / nvb);
				break;
			}
		}
		cJSON_free(vx);
	}
	*ok = 1;
	return s;
}

double ade_schema_rename_confidence(const cJSON *bc, const cJSON *cc, cJSON *ev)
{
	const cJSON *bs = cJSON_GetObjectItem(bc, "stats"), *cs = cJSON_GetObjectItem(cc, "stats");
	const char *bt = cJSON_GetStringValue(cJSON_GetObjectItem(bc, "type"));
	const char *ct = cJSON_GetStringValue(cJSON_GetObjectItem(cc, "type"));
	enum ade_type tb, tc;
	double sum = 0, type_factor, a, b, a2, b2;
	int n = 0;

	if (!bt || !ct || ade_type_parse(bt, &tb) || ade_type_parse(ct, &tc))
		return 0;
	const char *change = ade_schema_type_change(tb, tc);
	if (!strcmp(change, "incompatible"))
		return 0;
	type_factor = !strcmp(change, "same") ? 1.0 : 0.95;
	if (!cJSON_IsObject(bs) || !cJSON_IsObject(cs))
		return 0;

	double rb = 0, rc = 0, nb = 0, nc = 0, nvb, nvc;
	num(bs, "rows", &rb);
	num(cs, "rows", &rc);
	num(bs, "null_count", &nb);
	num(cs, "null_count", &nc);
	nvb = rb - nb;
	nvc = rc - nc;
#define COMPONENT(name, val)                                     \
	do {                                                     \
		double v_ = (val);                               \
		sum += v_;                                       \
		n++;                                             \
		if (ev)                                          \
			cJSON_AddNumberToObject(ev, name, v_);   \
	} while (0)

	if (rb > 0 && rc > 0)
		COMPONENT("null_rate", fmax(0, 1 - fabs(nb / rb - nc / rc) / 0.05));
	if (num(bs, "distinct", &a) && num(cs, "distinct", &b)) {
		double s = ratio(a, b);
		if (nvb > 0 && nvc > 0)
			s = fmax(s, ratio(a / nvb, b / nvc));
		COMPONENT("distinct", s);
	}
	if ((tb == ADE_TYPE_INT64 || tb == ADE_TYPE_FLOAT64) && num(bs, "min", &a) &&
	    num(bs, "max", &a2) && num(cs, "min", &b) && num(cs, "max", &b2)) {
		int ints = tb == ADE_TYPE_INT64 && tc == ADE_TYPE_INT64;
		COMPONENT("range", iou(a, a2, b, b2, ints ? 1 : 0));
		double ma, mb;
		if (num(bs, "mean", &ma) && num(cs, "mean", &mb)) {
			double w = fmax(a2, b2) - fmin(a, b);
			COMPONENT("mean", w > 0 ? fmax(0, 1 - fabs(ma - mb) / w) : (ma == mb));
		}
	}
	if ((tb == ADE_TYPE_DATE || tb == ADE_TYPE_TIMESTAMP) && num(bs, "min_us", &a) &&
	    num(bs, "max_us", &a2) && num(cs, "min_us", &b) && num(cs, "max_us", &b2))
		COMPONENT("range", iou(a, a2, b, b2, 1));
	if (tb == ADE_TYPE_STRING && tc == ADE_TYPE_STRING && num(bs, "min_length", &a) &&
	    num(bs, "max_length", &a2) && num(cs, "min_length", &b) && num(cs, "max_length", &b2))
		COMPONENT("length_range", iou(a, a2, b, b2, 1));
	{
		int ok;
		double s = top_overlap(cJSON_GetObjectItem(bs, "top"), nvb,
				       cJSON_GetObjectItem(cs, "top"), nvc, &ok);
		if (ok)
			COMPONENT("top_values", s);
	}
#undef COMPONENT
	if (ev) {
		cJSON_AddNumberToObject(ev, "type_factor", type_factor);
		cJSON_AddNumberToObject(ev, "components", n);
	}
	/* Two statistics at least: one alone matches too many columns. */
	if (n < 2)
		return 0;
	return type_factor * sum / n;
}
