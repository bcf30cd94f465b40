/*
 * ade-ingest: CSV / NDJSON into a frame, in two passes over the input.
 *
 * Pass 1 reads every record and, per column, counts how many values look
 * like each type and collects up to categorical_max distinct values.  The
 * types follow from those counts (docs/ingest.md), so a late row can never
 * leave a column mistyped.  Pass 2 reads the input again, converts each
 * field straight into the frame writer's buffers and quarantines what does
 * not fit.  Memory is the read buffer, the per-column counters and the
 * dictionaries, whatever the number of rows; the price is reading (and
 * decompressing) the input twice, which is cheaper than keeping it.
 */
#include "ingest.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/input.h"
#include "core/json.h"
#include "core/log.h"
#include "core/ndjson.h"
#include "core/numparse.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static const char *reason_names[] = {"field_count",   "bad_quote",       "bad_json",
				     "invalid_utf8",  "field_too_large", "type_mismatch"};

const char *ade_ingest_reason_name(int reason)
{
	return reason >= 0 && reason < ADE_Q_NREASONS ? reason_names[reason] : "?";
}

int ade_ingest_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	case ADE_EDATA: return ADE_EXIT_DATA;
	case ADE_EBUSY: return ADE_EXIT_TEMPFAIL;
	default: return ADE_EXIT_FAILED;
	}
}

enum { FMT_CSV, FMT_NDJSON };
enum { ON_QUARANTINE, ON_NULL, ON_FAIL };

#define MAX_DICT_VALUE 256
#define RAW_MAX (64 * 1024)

struct cfg {
	const char *source;
	int format; /* -1: by file name */
	char delim;
	int header;             /* -1: unless columns are given */
	char **columns;
	int ncolumns;
	cJSON *hints;           /* borrowed from the config */
	char **missing;
	size_t *missing_len;
	int nmissing;
	unsigned char missing_first[256];
	uint64_t missing_lens; /* bit n: a token of n bytes (n < 64) */
	int missing_long;      /* a token of 64 bytes or more */
	int on_malformed;
	double warn, fail;      /* fractions; fail < 0: none */
	size_t max_field;
	int cat_max;
	double tolerance;
};

/* Distinct values of one column, for categorical inference and codes. */
struct dict {
	int32_t *slots; /* entry index or -1 */
	size_t mask;
	uint64_t *hash;
	size_t *off, *len;
	int32_t *code;
	int32_t n, cap;
	char *arena;
	size_t alen, acap;
	int over; /* too many or too long values: not categorical */
	int32_t limit;
};

struct col {
	char *name;
	int hinted;
	enum ade_type type;
	int64_t present;
	int64_t cls[7]; /* by ade_classify bit */
	struct dict d;
	int dict_started;
	int w; /* writer column */
	/* per record */
	const char *vp;
	size_t vl;
	uint32_t gen;
	int bad; /* field-level problem in this record (null mode); pass 2: null */
	union {
		int64_t i;
		double f;
		int b;
		int32_t code;
	} v; /* pass 2: the converted value */
};

struct qstat {
	int64_t quarantined[ADE_Q_NREASONS];
	int64_t nulled[ADE_Q_NREASONS];
};

struct ingest {
	const struct ade_stage_ctx *ctx;
	struct cfg c;
	char **paths;
	size_t npaths;
	struct col *cols;
	int ncols, ccap;
	uint32_t gen;
	int *fmap; /* CSV: field i of the current file -> column */
	int fmap_n, fmap_cap;
	int *kmap; /* NDJSON: field i -> column it mapped to last time */
	int kmap_cap;
	int pass;
	/* per file */
	const char *path;
	int format;
	/* counters */
	int64_t rows_read, rows_written, bytes, stored_bytes;
	struct qstat q;
	XXH3_state_t *hash;
	char hash1[64], hash2[64];
	struct ade_frame_writer *fw;
	int qfd;
	struct ade_strbuf qbuf;
	int failed_data;
	int utf8_bad_seen; /* pass 1 met a record with invalid UTF-8 */
	char fail_msg[512];
	cJSON *warnings;
	cJSON *inputs;
};

/* ---------------- configuration ---------------- */

static int cfg_fraction(const cJSON *v, const char *key, double *out, struct ade_error *err)
{
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1) {
		*out = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v) && *v->valuestring) {
		char *end;
		double d = strtod(v->valuestring, &end);
		int pct = *end == '%';
		if (pct)
			end++;
		if (!*end && end != v->valuestring) {
			if (pct)
				d /= 100;
			if (d >= 0 && d <= 1) {
				*out = d;
				return 0;
			}
		}
	}
	return ade_error_set(err, ADE_EINVAL,
			     "with.%s must be a fraction 0..1 or a percentage like \"5%%\"", key);
}

static int cfg_parse(struct cfg *c, const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	static const char *default_missing[] = {"NA", "N/A", "null", "NULL"};
	const cJSON *conf = ctx->config;

	memset(c, 0, sizeof(*c));
	c->source = ctx->source;
	c->format = -1;
	c->delim = ',';
	c->header = -1;
	c->on_malformed = ON_QUARANTINE;
	c->warn = 0.01;
	c->fail = -1;
	c->max_field = 4u << 20;
	c->cat_max = 1000;
	c->tolerance = 0.01;
	int missing_set = 0;
	for (const cJSON *e = conf ? conf->child : NULL; e; e = e->next) {
		const char *k = e->string;
		if (!strcmp(k, "format")) {
			if (cJSON_IsString(e) && !strcmp(e->valuestring, "csv"))
				c->format = FMT_CSV;
			else if (cJSON_IsString(e) && !strcmp(e->valuestring, "ndjson"))
				c->format = FMT_NDJSON;
			else if (!(cJSON_IsString(e) && !strcmp(e->valuestring, "auto")))
				return ade_error_set(err, ADE_EINVAL,
						     "with.format must be csv, ndjson or auto");
		} else if (!strcmp(k, "source")) {
			if (!cJSON_IsString(e) || !*e->valuestring)
				return ade_error_set(err, ADE_EINVAL, "with.source must be a path");
			c->source = e->valuestring;
		} else if (!strcmp(k, "delimiter")) {
			const char *s = cJSON_IsString(e) ? e->valuestring : "";
			if (!strcmp(s, "\\t") || !strcmp(s, "tab"))
				s = "\t";
			if (strlen(s) != 1 || !strchr(",;\t|", s[0]))
				return ade_error_set(err, ADE_EINVAL,
						     "with.delimiter must be one of , ; | or \\t");
			c->delim = s[0];
		} else if (!strcmp(k, "header")) {
			if (!cJSON_IsBool(e))
				return ade_error_set(err, ADE_EINVAL, "with.header must be true or false");
			c->header = cJSON_IsTrue(e);
		} else if (!strcmp(k, "columns")) {
			if (!cJSON_IsArray(e) || !cJSON_GetArraySize(e))
				return ade_error_set(err, ADE_EINVAL,
						     "with.columns must be a non-empty list of names");
			c->ncolumns = cJSON_GetArraySize(e);
			c->columns = ade_xcalloc((size_t)c->ncolumns, sizeof(char *));
			int i = 0;
			for (const cJSON *n = e->child; n; n = n->next, i++) {
				if (!cJSON_IsString(n) || !*n->valuestring)
					return ade_error_set(err, ADE_EINVAL,
							     "with.columns[%d] must be a non-empty string", i);
				c->columns[i] = n->valuestring;
			}
		} else if (!strcmp(k, "schema_hints")) {
			if (!cJSON_IsObject(e))
				return ade_error_set(err, ADE_EINVAL,
						     "with.schema_hints must map column names to types");
			for (const cJSON *h = e->child; h; h = h->next) {
				enum ade_type t;
				if (!cJSON_IsString(h) || ade_type_parse(h->valuestring, &t))
					return ade_error_set(
						err, ADE_EINVAL,
						"with.schema_hints.%s must be one of int64, float64, bool, "
						"date, timestamp, categorical, string",
						h->string);
			}
			c->hints = (cJSON *)e;
		} else if (!strcmp(k, "missing")) {
			if (!cJSON_IsArray(e))
				return ade_error_set(err, ADE_EINVAL,
						     "with.missing must be a list of strings");
			for (const cJSON *n = e->child; n; n = n->next)
				if (!cJSON_IsString(n))
					return ade_error_set(err, ADE_EINVAL,
							     "with.missing must be a list of strings");
			missing_set = 1;
			c->nmissing = cJSON_GetArraySize(e);
			c->missing = ade_xcalloc((size_t)c->nmissing + 1, sizeof(char *));
			c->missing_len = ade_xcalloc((size_t)c->nmissing + 1, sizeof(size_t));
			int i = 0;
			for (const cJSON *n = e->child; n; n = n->next, i++) {
				c->missing[i] = n->valuestring;
				c->missing_len[i] = strlen(n->valuestring);
			}
		} else if (!strcmp(k, "on_malformed")) {
			const char *s = cJSON_IsString(e) ? e->valuestring : "";
			if (!strcmp(s, "quarantine"))
				c->on_malformed = ON_QUARANTINE;
			else if (!strcmp(s, "null"))
				c->on_malformed = ON_NULL;
			else if (!strcmp(s, "fail"))
				c->on_malformed = ON_FAIL;
			else
				return ade_error_set(err, ADE_EINVAL,
						     "with.on_malformed must be quarantine, null or fail");
		} else if (!strcmp(k, "thresholds")) {
			if (!cJSON_IsObject(e))
				return ade_error_set(err, ADE_EINVAL,
						     "with.thresholds must be {warn: ..., fail: ...}");
			for (const cJSON *t = e->child; t; t = t->next) {
				int rc;
				if (!strcmp(t->string, "warn"))
					rc = cfg_fraction(t, "thresholds.warn", &c->warn, err);
				else if (!strcmp(t->string, "fail"))
					rc = cfg_fraction(t, "thresholds.fail", &c->fail, err);
				else
					rc = ade_error_set(err, ADE_EINVAL,
							   "with.thresholds.%s: unknown key (warn, fail)",
							   t->string);
				if (rc)
					return rc;
			}
		} else if (!strcmp(k, "max_field_bytes")) {
			if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > (1 << 30) ||
			    e->valuedouble != floor(e->valuedouble))
				return ade_error_set(err, ADE_EINVAL,
						     "with.max_field_bytes must be an integer 1..2^30");
			c->max_field = (size_t)e->valuedouble;
		} else if (!strcmp(k, "categorical_max")) {
			if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1000000 ||
			    e->valuedouble != floor(e->valuedouble))
				return ade_error_set(err, ADE_EINVAL,
						     "with.categorical_max must be an integer 0..1000000");
			c->cat_max = (int)e->valuedouble;
		} else if (!strcmp(k, "type_tolerance")) {
			int rc = cfg_fraction(e, "type_tolerance", &c->tolerance, err);
			if (rc)
				return rc;
		} else {
			return ade_error_set(err, ADE_EINVAL,
					     "with.%s: unknown key (see docs/ingest.md)", k);
		}
	}
	if (!missing_set) {
		c->nmissing = 4;
		c->missing = ade_xcalloc(5, sizeof(char *));
		c->missing_len = ade_xcalloc(5, sizeof(size_t));
		for (int i = 0; i < 4; i++) {
			c->missing[i] = (char *)default_missing[i];
			c->missing_len[i] = strlen(default_missing[i]);
		}
	}
	for (int i = 0; i < c->nmissing; i++)
		if (c->missing_len[i])
			c->missing_first[(unsigned char)c->missing[i][0]] = 1;
	for (int i = 0; i < c->nmissing; i++) {
		if (c->missing_len[i] < 64)
			c->missing_lens |= UINT64_C(1) << c->missing_len[i];
		else
			c->missing_long = 1;
	}
	if (c->header == 0 && !c->columns)
		return ade_error_set(err, ADE_EINVAL,
				     "with.header is false, so with.columns must name the columns");
	if (c->header < 0)
		c->header = c->columns ? 0 : 1;
	if (c->fail >= 0 && c->warn > c->fail)
		c->warn = c->fail;
	if (!c->source)
		return ade_error_set(err, ADE_EINVAL,
				     "no source: set the pipeline's source (ADE_SOURCE) or with.source");
	return 0;
}

static void cfg_free(struct cfg *c)
{
	free(c->columns);
	free(c->missing);
	free(c->missing_len);
}

static inline int is_missing(const struct cfg *c, const char *p, size_t n)
{
	if (!n)
		return 1;
	if (n < 64 ? !(c->missing_lens >> n & 1) : !c->missing_long)
		return 0;
	if (!c->missing_first[(unsigned char)p[0]])
		return 0;
	for (int i = 0; i < c->nmissing; i++)
		if (c->missing_len[i] == n && !memcmp(c->missing[i], p, n))
			return 1;
	return 0;
}

/* ---------------- UTF-8 ---------------- */

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0;
		if (c == 0xED && p[1] >= 0xA0)
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;
		if (c == 0xF4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	/* ASCII sixteen bytes at a time; after a multibyte sequence, back to
	 * sixteen at a time (names like "García" have one non-ASCII letter). */
	while (i < n) {
		while (i + 16 <= n) {
			uint64_t w0, w1;
			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + i + 8, 8);
			if ((w0 | w1) & UINT64_C(0x8080808080808080))
				break;
			i += 16;
		}
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			w &= UINT64_C(0x8080808080808080);
			if (w) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				i += (size_t)__builtin_ctzll(w) / 8;
#endif
				break;
			}
			i += 8;
		}
		if (i >= n)
			break;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD. */
static void json_escape(struct ade_strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	ade_strbuf_grow(sb, n + 2);
	ade_strbuf_addc(sb, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			ade_strbuf_addc(sb, '\\');
			ade_strbuf_addc(sb, (char)c);
			i++;
		} else if (c < 0x20) {
			char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			ade_strbuf_adds(sb, e);
			i++;
		} else if (c < 0x80) {
			ade_strbuf_addc(sb, (char)c);
			i++;
		} else {
			size_t k = utf8_seq(p + i, n - i);
			if (k) {
				ade_strbuf_add(sb, p + i, k);
				i += k;
			} else {
				ade_strbuf_adds(sb, "\xEF\xBF\xBD");
				i++;
			}
		}
	}
	ade_strbuf_addc(sb, '"');
}

static void base64(struct ade_strbuf *sb, const unsigned char *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		ade_strbuf_addc(sb, t[v >> 18 & 63]);
		ade_strbuf_addc(sb, t[v >> 12 & 63]);
		ade_strbuf_addc(sb, i + 1 < n ? t[v >> 6 & 63] : '=');
		ade_strbuf_addc(sb, i + 2 < n ? t[v & 63] : '=');
	}
}

/* ---------------- dictionaries ---------------- */

static void dict_init(struct dict *d, int32_t limit)
{
	size_t slots = 64;

	memset(d, 0, sizeof(*d));
	d->limit = limit;
	d->slots = ade_xmalloc(slots * sizeof(int32_t));
	memset(d->slots, 0xff, slots * sizeof(int32_t));
	d->mask = slots - 1;
}

static void dict_free(struct dict *d)
{
	free(d->slots);
	free(d->hash);
	free(d->off);
	free(d->len);
	free(d->code);
	free(d->arena);
	memset(d, 0, sizeof(*d));
	d->over = 1;
}

/*
 * Hash of a dictionary value.  Categorical values are short (department,
 * city, device), so up to 16 bytes are mixed inline with two multiplies
 * instead of a library call per value; longer ones go to XXH3.  Only this
 * process sees the hashes.
 */
static inline uint64_t val_hash(const char *p, size_t n)
{
	uint64_t a = 0, b = 0;

	if (n > 16)
		return XXH3_64bits(p, n);
	if (n >= 8) {
		memcpy(&a, p, 8);
		memcpy(&b, p + n - 8, 8);
	} else if (n >= 4) {
		uint32_t x, y;
		memcpy(&x, p, 4);
		memcpy(&y, p + n - 4, 4);
		a = x;
		b = y;
	} else if (n > 0) {
		a = (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n / 2] << 8 |
		    (unsigned char)p[n - 1];
	}
	a ^= UINT64_C(0x9E3779B97F4A7C15) * (n + 1);
	unsigned __int128 m = (unsigned __int128)(a ^ UINT64_C(0xA0761D6478BD642F)) *
			      (b ^ UINT64_C(0xE7037ED1A0B428DB));
	uint64_t h = (uint64_t)m ^ (uint64_t)(m >> 64);
	return h ^ (h >> 29);
}

/* memcmp(a, b, n) == 0 for the short values dictionaries hold, inline. */
static inline int val_eq(const char *a, const char *b, size_t n)
{
	if (n >= 8 && n <= 16) {
		uint64_t x0, x1, y0, y1;
		memcpy(&x0, a, 8);
		memcpy(&y0, b, 8);
		memcpy(&x1, a + n - 8, 8);
		memcpy(&y1, b + n - 8, 8);
		return ((x0 ^ y0) | (x1 ^ y1)) == 0;
	}
	if (n >= 4 && n < 8) {
		uint32_t x0, x1, y0, y1;
		memcpy(&x0, a, 4);
		memcpy(&y0, b, 4);
		memcpy(&x1, a + n - 4, 4);
		memcpy(&y1, b + n - 4, 4);
		return ((x0 ^ y0) | (x1 ^ y1)) == 0;
	}
	return !memcmp(a, b, n);
}

static inline int32_t dict_find(const struct dict *d, uint64_t h, const char *p, size_t n)
{
	for (size_t s = h & d->mask;; s = (s + 1) & d->mask) {
		int32_t e = d->slots[s];
		if (e < 0)
			return -1;
		if (d->hash[e] == h && d->len[e] == n && val_eq(d->arena + d->off[e], p, n))
			return e;
	}
}

static void dict_grow_slots(struct dict *d)
{
	size_t slots = (d->mask + 1) * 2;

	free(d->slots);
	d->slots = ade_xmalloc(slots * sizeof(int32_t));
	memset(d->slots, 0xff, slots * sizeof(int32_t));
	d->mask = slots - 1;
	for (int32_t e = 0; e < d->n; e++) {
		size_t s = d->hash[e] & d->mask;
		while (d->slots[s] >= 0)
			s = (s + 1) & d->mask;
		d->slots[s] = e;
	}
}

/* Adds a value seen in pass 1; gives up (over) past the limit. */
static void dict_add(struct dict *d, const char *p, size_t n)
{
	if (d->over)
		return;
	if (n > MAX_DICT_VALUE) {
		dict_free(d);
		return;
	}
	uint64_t h = val_hash(p, n);
	if (dict_find(d, h, p, n) >= 0)
		return;
	if (d->n >= d->limit) {
		dict_free(d);
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->hash = ade_xrealloc(d->hash, (size_t)d->cap * sizeof(*d->hash));
		d->off = ade_xrealloc(d->off, (size_t)d->cap * sizeof(*d->off));
		d->len = ade_xrealloc(d->len, (size_t)d->cap * sizeof(*d->len));
	}
	if (d->alen + n > d->acap) {
		d->acap = (d->acap + n) * 2;
		d->arena = ade_xrealloc(d->arena, d->acap);
	}
	if (n)
		memcpy(d->arena + d->alen, p, n);
	d->hash[d->n] = h;
	d->off[d->n] = d->alen;
	d->len[d->n] = n;
	d->alen += n;
	/* The new entry must be findable at once, not only after a regrow. */
	size_t s = h & d->mask;
	while (d->slots[s] >= 0)
		s = (s + 1) & d->mask;
	d->slots[s] = d->n;
	d->n++;
	if ((size_t)d->n * 2 > d->mask + 1)
		dict_grow_slots(d);
}

static const struct dict *sort_dict;
static int cmp_entry(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	size_t lx = sort_dict->len[x], ly = sort_dict->len[y];
	int c = memcmp(sort_dict->arena + sort_dict->off[x], sort_dict->arena + sort_dict->off[y],
		       lx < ly ? lx : ly);
	return c ? c : (lx > ly) - (lx < ly);
}

/* Codes in byte order of the values, so code order is string order. */
static void dict_assign_codes(struct dict *d, struct ade_frame_writer *w, int wcol)
{
	int32_t *order = ade_xmalloc(((size_t)d->n + 1) * sizeof(int32_t));
	const char **vals = ade_xmalloc(((size_t)d->n + 1) * sizeof(char *));
	size_t *lens = ade_xmalloc(((size_t)d->n + 1) * sizeof(size_t));

	for (int32_t i = 0; i < d->n; i++)
		order[i] = i;
	sort_dict = d;
	qsort(order, (size_t)d->n, sizeof(int32_t), cmp_entry);
	d->code = ade_xmalloc(((size_t)d->n + 1) * sizeof(int32_t));
	for (int32_t i = 0; i < d->n; i++) {
		d->code[order[i]] = i;
		vals[i] = d->arena + d->off[order[i]];
		lens[i] = d->len[order[i]];
	}
	ade_frame_writer_set_dict(w, wcol, vals, lens, d->n);
	free(order);
	free(vals);
	free(lens);
}

/* ---------------- columns ---------------- */

static int col_find(struct ingest *g, const char *name, size_t n)
{
	for (int i = 0; i < g->ncols; i++)
		if (strlen(g->cols[i].name) == n && !memcmp(g->cols[i].name, name, n))
			return i;
	return -1;
}

/* A column name as valid UTF-8 without control characters. */
static char *clean_name(const char *p, size_t n)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		size_t k = utf8_seq((const unsigned char *)p + i, n - i);
		if (!k || c < 0x20) {
			ade_strbuf_addc(&sb, '_');
			i++;
		} else {
			ade_strbuf_add(&sb, p + i, k);
			i += k;
		}
	}
	if (!sb.len)
		ade_strbuf_adds(&sb, "");
	return ade_strbuf_detach(&sb);
}

static int col_add(struct ingest *g, const char *name, size_t n)
{
	char *clean = clean_name(name, n);
	int i = col_find(g, clean, strlen(clean));

	if (i >= 0) {
		free(clean);
		return i;
	}
	if (g->ncols == g->ccap) {
		g->ccap = g->ccap ? g->ccap * 2 : 16;
		g->cols = ade_xrealloc(g->cols, (size_t)g->ccap * sizeof(*g->cols));
	}
	struct col *c = &g->cols[g->ncols];
	memset(c, 0, sizeof(*c));
	c->name = clean;
	c->w = -1;
	const cJSON *h = g->c.hints ? cJSON_GetObjectItem(g->c.hints, clean) : NULL;
	if (h) {
		c->hinted = 1;
		ade_type_parse(h->valuestring, &c->type);
	}
	int32_t limit = c->hinted && c->type == ADE_TYPE_CATEGORICAL ? (1 << 24)
			: c->hinted ? 0 : g->c.cat_max;
	dict_init(&c->d, limit);
	if (c->hinted && c->type != ADE_TYPE_CATEGORICAL)
		dict_free(&c->d);
	return g->ncols++;
}

/* ---------------- quarantine ---------------- */

static void q_flush(struct ingest *g)
{
	const char *p = g->qbuf.buf;
	size_t n = g->qbuf.len;

	while (n && g->qfd >= 0) {
		ssize_t k = write(g->qfd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			ade_log_error("cannot write quarantine.ndjson: %s", strerror(errno));
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	ade_strbuf_reset(&g->qbuf);
}

static void q_write(struct ingest *g, int64_t line, int64_t offset, const char *raw,
		    size_t raw_len, int col, int reason, const char *detail)
{
	struct ade_strbuf *sb = &g->qbuf;
	int trunc = raw_len > RAW_MAX;

	if (trunc)
		raw_len = RAW_MAX;
	ade_strbuf_adds(sb, "{\"file\":");
	json_escape(sb, g->path, strlen(g->path));
	ade_strbuf_addf(sb, ",\"line\":%lld,\"offset\":%lld,\"column\":", (long long)line,
			(long long)offset);
	if (col >= 0)
		json_escape(sb, g->cols[col].name, strlen(g->cols[col].name));
	else
		ade_strbuf_adds(sb, "null");
	ade_strbuf_addf(sb, ",\"reason\":\"%s\",\"detail\":", ade_ingest_reason_name(reason));
	json_escape(sb, detail, strlen(detail));
	ade_strbuf_adds(sb, ",\"raw\":");
	json_escape(sb, raw, raw_len);
	if (!utf8_valid(raw, raw_len)) {
		ade_strbuf_adds(sb, ",\"raw_base64\":\"");
		base64(sb, (const unsigned char *)raw, raw_len);
		ade_strbuf_addc(sb, '"');
	}
	if (trunc)
		ade_strbuf_adds(sb, ",\"raw_truncated\":true");
	ade_strbuf_adds(sb, "}\n");
	if (sb->len > (256 << 10))
		q_flush(g);
}

/*
 * A record-level or field-level problem found in pass 2.  Returns 1 when
 * the record is dropped, 0 when the field is nulled and the record kept.
 */
struct recinfo {
	int64_t line, offset;
	const char *raw;
	size_t raw_len;
};

static int problem(struct ingest *g, const struct recinfo *ri, int col, int reason,
		   const char *detail, int field_level)
{
	if (g->pass != 2)
		return !(field_level && g->c.on_malformed == ON_NULL);
	if (g->c.on_malformed == ON_FAIL) {
		if (!g->failed_data)
			snprintf(g->fail_msg, sizeof(g->fail_msg),
				 "%s:%lld: %s%s%s: %s (on_malformed: fail)", g->path,
				 (long long)ri->line, ade_ingest_reason_name(reason),
				 col >= 0 ? " in column " : "", col >= 0 ? g->cols[col].name : "",
				 detail);
		g->failed_data = 1;
		return 1;
	}
	if (field_level && g->c.on_malformed == ON_NULL) {
		g->q.nulled[reason]++;
		return 0;
	}
	g->q.quarantined[reason]++;
	q_write(g, ri->line, ri->offset, ri->raw, ri->raw_len, col, reason, detail);
	return 1;
}

/* ---------------- one record, both passes ---------------- */

/*
 * ade_classify with its two commonest answers inline: short all-digit
 * integers, and text whose first byte cannot start a number, bool, nan or
 * inf (ade_classify's own first test).
 */
static inline int classify(const char *p, size_t n)
{
	unsigned char c0 = (unsigned char)p[0];

	if ((unsigned)(c0 - '0') <= 9) {
		size_t j = 1;
		while (j < n && (unsigned)((unsigned char)p[j] - '0') <= 9)
			j++;
		if (j == n && n <= 18)
			return ADE_CLS_INT;
		if (j < n && p[j] == '.') { /* d+ . d* is always a float */
			size_t k = j + 1;
			while (k < n && (unsigned)((unsigned char)p[k] - '0') <= 9)
				k++;
			if (k == n)
				return ADE_CLS_FLOAT;
		}
	} else if (c0 != '-' && c0 != '+' && c0 != '.') {
		unsigned lc = c0 | 0x20;
		if (lc != 't' && lc != 'f' && lc != 'n' && lc != 'i')
			return ADE_CLS_OTHER;
	}
	return ade_classify(p, n);
}

static inline __attribute__((always_inline)) void infer_value(struct col *c, const char *p,
							     size_t n)
{
	c->present++;
	if (c->hinted) {
		if (!c->d.over)
			dict_add(&c->d, p, n);
		return;
	}
	int cls = classify(p, n);
	c->cls[__builtin_ctz((unsigned)cls)]++;
	/* Only a column holding text can end up categorical, so distinct
	 * values are collected from its first text value on; hashing every
	 * number of every numeric column would cost a fifth of pass 1.  A
	 * column whose first text value comes after typed values therefore
	 * has an incomplete dictionary and, if it ends up text, is string. */
	if (!c->dict_started && (cls & (ADE_CLS_OTHER | ADE_CLS_BIGINT))) {
		c->dict_started = 1;
		if (c->present > 1)
			dict_free(&c->d);
	}
	if (c->dict_started && !c->d.over)
		dict_add(&c->d, p, n);
}

/*
 * Converts one value into c->v; -1 when it is not of the column's type.
 * Pass 2 converts each value once, checks the whole record, then appends.
 */
static inline __attribute__((always_inline)) int convert(struct col *c, const char *p,
						       size_t n)
{
	switch (c->type) {
	case ADE_TYPE_INT64:
		if (n && n <= 18) { /* all digits: cannot overflow */
			int64_t v = 0;
			size_t j = 0;
			for (; j < n; j++) {
				unsigned d = (unsigned char)p[j] - '0';
				if (d > 9)
					break;
				v = v * 10 + d;
			}
			if (j == n) {
				c->v.i = v;
				return 0;
			}
		}
		return ade_parse_i64(p, n, &c->v.i) == ADE_NUM_OK ? 0 : -1;
	case ADE_TYPE_FLOAT64:
		if (!ade_parse_f64_short(p, n, &c->v.f))
			return 0;
		return ade_parse_f64(p, n, &c->v.f);
	case ADE_TYPE_BOOL:
		return ade_parse_bool(p, n, &c->v.b);
	case ADE_TYPE_DATE:
		return ade_parse_date(p, n, &c->v.i);
	case ADE_TYPE_TIMESTAMP:
		if (ade_parse_timestamp(p, n, &c->v.i)) {
			if (ade_parse_date(p, n, &c->v.i))
				return -1;
			c->v.i *= INT64_C(86400000000);
		}
		return 0;
	case ADE_TYPE_CATEGORICAL: {
		int32_t e = c->d.over ? -1 : dict_find(&c->d, val_hash(p, n), p, n);
		if (e < 0)
			return -1;
		c->v.code = c->d.code[e];
		return 0;
	}
	case ADE_TYPE_STRING:
		return 0;
	}
	return -1;
}

/* Appends the value convert() left in c->v (vp/vl for strings). */
static inline void put_value(struct ingest *g, struct col *c)
{
	switch (c->type) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_DATE:
	case ADE_TYPE_TIMESTAMP:
		ade_frame_put_i64(g->fw, c->w, c->v.i);
		break;
	case ADE_TYPE_FLOAT64:
		ade_frame_put_f64(g->fw, c->w, c->v.f);
		break;
	case ADE_TYPE_BOOL:
		ade_frame_put_bool(g->fw, c->w, c->v.b);
		break;
	case ADE_TYPE_CATEGORICAL:
		ade_frame_put_code(g->fw, c->w, c->v.code);
		break;
	case ADE_TYPE_STRING:
		ade_frame_put_str(g->fw, c->w, c->vp, c->vl);
		break;
	}
}

/*
 * The values of one record are in cols[*].vp/vl for columns whose gen is
 * g->gen.  Checks fields, then infers (pass 1) or writes (pass 2).
 */
static void handle_values(struct ingest *g, const struct recinfo *ri, int raw_checked)
{
	uint32_t gen = g->gen;
	int utf8_bad = !raw_checked && !utf8_valid(ri->raw, ri->raw_len);
	int found_utf8 = 0;

	if (utf8_bad && g->pass == 1)
		g->utf8_bad_seen = 1;
	int ncols = g->ncols;
	struct col *cols = g->cols;

	/* The common case: a valid CSV record no longer than max_field_bytes
	 * (its fields are slices of it, or shorter once unescaped) has no
	 * field-level problem to look for, so one loop per pass does. */
	if (!utf8_bad && g->format == FMT_CSV && ri->raw_len <= g->c.max_field) {
		if (g->pass == 1) {
			for (int i = 0; i < ncols; i++) {
				struct col *c = &cols[i];
				if (c->gen == gen && !is_missing(&g->c, c->vp, c->vl))
					infer_value(c, c->vp, c->vl);
			}
			return;
		}
		for (int i = 0; i < ncols; i++)
			cols[i].bad = 0;
		goto pass2;
	}
	for (int i = 0; i < g->ncols; i++) {
		struct col *c = &g->cols[i];
		if (c->gen != gen)
			continue;
		c->bad = 0;
		if (utf8_bad && !utf8_valid(c->vp, c->vl)) {
			found_utf8 = 1;
			if (problem(g, ri, i, ADE_Q_INVALID_UTF8, "invalid UTF-8", 1))
				return;
			c->bad = 1;
			continue;
		}
		if (c->vl > g->c.max_field) {
			char d[96];
			snprintf(d, sizeof(d), "field of %zu bytes (max_field_bytes %zu)", c->vl,
				 g->c.max_field);
			if (problem(g, ri, i, ADE_Q_FIELD_TOO_LARGE, d, 1))
				return;
			c->bad = 1;
		}
	}
	if (utf8_bad && !found_utf8) {
		problem(g, ri, -1, ADE_Q_INVALID_UTF8, "invalid UTF-8 outside the values", 0);
		return;
	}
	if (g->pass == 1) {
		for (int i = 0; i < g->ncols; i++) {
			struct col *c = &g->cols[i];
			if (c->gen == gen && !c->bad && !is_missing(&g->c, c->vp, c->vl))
				infer_value(c, c->vp, c->vl);
		}
		return;
	}
	/* Pass 2: convert and check every value before appending any, so a
	 * dropped record leaves no partial row in the frame. */
pass2:
	for (int i = 0; i < ncols; i++) {
		struct col *c = &g->cols[i];
		if (c->gen != gen || c->bad || is_missing(&g->c, c->vp, c->vl)) {
			c->bad = 1; /* null in this record */
			continue;
		}
		if (convert(c, c->vp, c->vl)) {
			char d[160];
			int k = (int)(c->vl < 40 ? c->vl : 40);
			snprintf(d, sizeof(d), "'%.*s%s' is not %s", k, c->vp, c->vl > 40 ? "..." : "",
				 ade_type_name(c->type));
			if (problem(g, ri, i, ADE_Q_TYPE_MISMATCH, d, 1))
				return;
			c->bad = 1;
		}
	}
	for (int i = 0; i < ncols; i++) {
		struct col *c = &cols[i];
		if (c->bad)
			ade_frame_put_null(g->fw, c->w);
		else
			put_value(g, c);
	}
	g->rows_written++;
}

static void hash_tap(void *arg, const void *p, size_t n)
{
	struct ingest *g = arg;

	XXH3_128bits_update(g->hash, p, n);
	if (g->pass == 1)
		g->bytes += (int64_t)n;
}

/* ---------------- CSV ---------------- */

static void set_header(struct ingest *g, char **names, size_t *lens, size_t n)
{
	if ((int)n > g->fmap_cap) {
		g->fmap_cap = (int)n;
		g->fmap = ade_xrealloc(g->fmap, n * sizeof(int));
	}
	g->fmap_n = (int)n;
	for (size_t i = 0; i < n; i++) {
		char gen[32];
		const char *nm = names[i];
		size_t nl = lens[i];
		if (!nl) {
			snprintf(gen, sizeof(gen), "column_%zu", i + 1);
			nm = gen;
			nl = strlen(gen);
		}
		/* A repeated name gets a suffix: the second "x" is "x_2". */
		char *cand = ade_xstrndup(nm, nl);
		for (int k = 2;; k++) {
			int dup = 0;
			for (size_t j = 0; j < i; j++) {
				const char *prev = g->cols[g->fmap[j]].name;
				char *pc = clean_name(cand, strlen(cand));
				if (!strcmp(prev, pc))
					dup = 1;
				free(pc);
			}
			if (!dup)
				break;
			free(cand);
			cand = ade_xasprintf("%.*s_%d", (int)nl, nm, k);
		}
		g->fmap[i] = col_add(g, cand, strlen(cand));
		free(cand);
	}
}

static int read_csv(struct ingest *g, struct ade_input *in, struct ade_error *err)
{
	struct ade_csv_reader *r = ade_csv_new(in, g->c.delim, g->c.max_field * 4);
	struct ade_csv_record rec;
	int have_header = 0, rc;

	ade_csv_set_tap(r, hash_tap, g);
	if (g->c.columns) {
		size_t *lens = ade_xcalloc((size_t)g->c.ncolumns, sizeof(size_t));
		for (int i = 0; i < g->c.ncolumns; i++)
			lens[i] = strlen(g->c.columns[i]);
		set_header(g, g->c.columns, lens, (size_t)g->c.ncolumns);
		free(lens);
		have_header = !g->c.header;
	}
	while ((rc = ade_csv_next(r, &rec, err)) > 0) {
		struct recinfo ri = {rec.line, rec.offset, rec.raw, rec.raw_len};
		if (!have_header) {
			have_header = 1;
			if (g->c.columns)
				continue; /* header: true with columns: the row is replaced */
			if (rec.status != ADE_CSV_OK) {
				rc = ade_error_set(err, ADE_EDATA, "%s:%lld: the header row is malformed",
						   g->path, (long long)rec.line);
				break;
			}
			char **names = ade_xcalloc(rec.nfields + 1, sizeof(char *));
			size_t *lens = ade_xcalloc(rec.nfields + 1, sizeof(size_t));
			for (size_t i = 0; i < rec.nfields; i++) {
				names[i] = (char *)rec.fields[i].p;
				lens[i] = rec.fields[i].len;
			}
			set_header(g, names, lens, rec.nfields);
			free(names);
			free(lens);
			continue;
		}
		g->rows_read += g->pass == 2;
		if (rec.status == ADE_CSV_BAD_QUOTE) {
			problem(g, &ri, -1, ADE_Q_BAD_QUOTE, "unterminated quote or text after a closing quote", 0);
			continue;
		}
		if (rec.status == ADE_CSV_TOO_LARGE) {
			problem(g, &ri, -1, ADE_Q_FIELD_TOO_LARGE, "record longer than 4 x max_field_bytes", 0);
			continue;
		}
		if (rec.status == ADE_CSV_TOO_MANY ||
		    (rec.nfields != (size_t)g->fmap_n &&
		     !(rec.nfields < (size_t)g->fmap_n && g->c.on_malformed == ON_NULL))) {
			char d[96];
			snprintf(d, sizeof(d), "%zu fields, the header has %d",
				 rec.status == ADE_CSV_TOO_MANY ? (size_t)ADE_CSV_MAX_FIELDS : rec.nfields,
				 g->fmap_n);
			problem(g, &ri, -1, ADE_Q_FIELD_COUNT, d, 0);
			continue;
		}
		if (g->pass == 1 && rec.nfields == (size_t)g->fmap_n &&
		    rec.raw_len <= g->c.max_field && (rec.ascii || utf8_valid(rec.raw, rec.raw_len))) {
			/* Pass 1's common case (see handle_values): no field-level
			 * problem is possible, so infer straight from the fields. */
			for (size_t i = 0; i < rec.nfields; i++) {
				const char *p = rec.fields[i].p;
				size_t n = rec.fields[i].len;
				if (!is_missing(&g->c, p, n))
					infer_value(&g->cols[g->fmap[i]], p, n);
			}
			continue;
		}
		if (g->pass == 2 && rec.nfields == (size_t)g->fmap_n && g->fmap_n == g->ncols &&
		    rec.raw_len <= g->c.max_field &&
		    (!g->utf8_bad_seen || utf8_valid(rec.raw, rec.raw_len))) {
			/* Pass 2's common case: every column has its field.  Convert
			 * all, then append; on the first value that does not convert,
			 * fall through to handle_values, which reports it (convert
			 * has no effect but on c->v).  UTF-8 was checked in pass 1:
			 * if no record had invalid UTF-8 there, the bytes now are the
			 * same or the input hash differs and the run fails (exit 75)
			 * without a frame. */
			int ok = 1;
			for (size_t i = 0; i < rec.nfields; i++) {
				struct col *c = &g->cols[g->fmap[i]];
				const char *p = rec.fields[i].p;
				size_t n = rec.fields[i].len;
				c->vp = p;
				c->vl = n;
				c->bad = is_missing(&g->c, p, n);
				if (!c->bad && convert(c, p, n)) {
					ok = 0;
					break;
				}
			}
			if (ok) {
				for (int i = 0; i < g->ncols; i++) {
					struct col *c = &g->cols[i];
					if (c->bad)
						ade_frame_put_null(g->fw, c->w);
					else
						put_value(g, c);
				}
				g->rows_written++;
				if (g->failed_data) /* as after handle_values */
					break;
				continue;
			}
		}
		if (rec.nfields < (size_t)g->fmap_n && g->pass == 2)
			g->q.nulled[ADE_Q_FIELD_COUNT]++;
		uint32_t gen = ++g->gen;
		for (size_t i = 0; i < rec.nfields; i++) {
			struct col *c = &g->cols[g->fmap[i]];
			c->vp = rec.fields[i].p;
			c->vl = rec.fields[i].len;
			c->gen = gen;
		}
		handle_values(g, &ri, 0);
		if (g->failed_data)
			break;
	}
	if (rc == 0 && !have_header && !g->c.columns)
		ade_log_info("%s: empty file (no header)", g->path);
	ade_csv_free(r);
	return rc < 0 ? rc : 0;
}

/* ---------------- NDJSON ---------------- */

static int read_ndjson(struct ingest *g, struct ade_input *in, struct ade_error *err)
{
	struct ade_nd_reader *r = ade_nd_new(in, g->c.max_field * 4);
	struct ade_nd_record rec;
	int rc;

	ade_nd_set_tap(r, hash_tap, g);
	while ((rc = ade_nd_next(r, &rec, err)) > 0) {
		struct recinfo ri = {rec.line, rec.offset, rec.raw, rec.raw_len};
		g->rows_read += g->pass == 2;
		if (rec.status == ADE_ND_TOO_LARGE) {
			problem(g, &ri, -1, ADE_Q_FIELD_TOO_LARGE, "line longer than 4 x max_field_bytes", 0);
			continue;
		}
		if (rec.status != ADE_ND_OK) {
			char d[128];
			snprintf(d, sizeof(d), "%s at byte %zu", rec.error, rec.error_at);
			problem(g, &ri, -1, ADE_Q_BAD_JSON, d, 0);
			continue;
		}
		if ((int)rec.nfields > g->kmap_cap) {
			g->kmap = ade_xrealloc(g->kmap, rec.nfields * sizeof(int));
			for (size_t i = (size_t)g->kmap_cap; i < rec.nfields; i++)
				g->kmap[i] = -1;
			g->kmap_cap = (int)rec.nfields;
		}
		uint32_t gen = ++g->gen;
		for (size_t i = 0; i < rec.nfields; i++) {
			const struct ade_nd_field *f = &rec.fields[i];
			int k = g->kmap[i];
			/* Lines usually repeat the same keys in the same order. */
			if (k < 0 || strlen(g->cols[k].name) != f->key_len ||
			    memcmp(g->cols[k].name, f->key, f->key_len)) {
				k = col_find(g, f->key, f->key_len);
				if (k < 0 && g->pass == 1)
					k = col_add(g, f->key, f->key_len);
				if (k < 0)
					continue;
				g->kmap[i] = k;
			}
			struct col *c = &g->cols[k];
			c->vp = f->p;
			c->vl = f->kind == ADE_ND_NULL ? 0 : f->len;
			c->gen = gen;
		}
		handle_values(g, &ri, 0);
		if (g->failed_data)
			break;
	}
	ade_nd_free(r);
	return rc < 0 ? rc : 0;
}

static int is_ndjson_name(const char *path)
{
	static const char *exts[] = {".ndjson", ".jsonl", ".json"};
	static const char *comp[] = {"", ".gz", ".zst", ".xz", ".bz2"};
	size_t n = strlen(path);

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 5; j++) {
			char suf[32];
			snprintf(suf, sizeof(suf), "%s%s", exts[i], comp[j]);
			size_t m = strlen(suf);
			if (n >= m && !strcmp(path + n - m, suf))
				return 1;
		}
	return 0;
}

static int run_pass(struct ingest *g, int pass, struct ade_error *err)
{
	g->pass = pass;
	XXH3_128bits_reset(g->hash);
	for (size_t i = 0; i < g->npaths; i++) {
		struct ade_input *in;
		int rc = ade_input_open(g->paths[i], &in, err);
		if (rc)
			return rc;
		g->path = g->paths[i];
		g->format = g->c.format >= 0 ? g->c.format
					     : is_ndjson_name(g->paths[i]) ? FMT_NDJSON : FMT_CSV;
		rc = g->format == FMT_CSV ? read_csv(g, in, err) : read_ndjson(g, in, err);
		if (pass == 1) {
			cJSON *d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "path", g->paths[i]);
			cJSON_AddStringToObject(d, "format", g->format == FMT_CSV ? "csv" : "ndjson");
			cJSON_AddStringToObject(d, "compression", ade_input_compression(in));
			cJSON_AddNumberToObject(d, "bytes", (double)ade_input_stored_bytes(in));
			cJSON_AddItemToArray(g->inputs, d);
			g->stored_bytes += ade_input_stored_bytes(in);
		}
		ade_input_close(in);
		if (rc)
			return rc;
		if (g->failed_data)
			return 0;
	}
	XXH128_hash_t h = XXH3_128bits_digest(g->hash);
	snprintf(pass == 1 ? g->hash1 : g->hash2, sizeof(g->hash1), "xxh3-128:%016llx%016llx",
		 (unsigned long long)h.high64, (unsigned long long)h.low64);
	return 0;
}

/* Final types from pass 1's counts; see docs/ingest.md. */
static void decide_type(const struct cfg *cf, struct col *c)
{
	if (c->hinted)
		return;
	int64_t n = c->present;
	int64_t tol = (int64_t)floor(cf->tolerance * (double)n);
	int64_t n_int = c->cls[0], n_big = c->cls[1], n_flt = c->cls[2], n_bool = c->cls[3];
	int64_t n_date = c->cls[4], n_ts = c->cls[5];
	int64_t num = n_int + n_big + n_flt;

	if (n > 0 && n_bool > 0 && n_bool >= n - tol)
		c->type = ADE_TYPE_BOOL;
	else if (n > 0 && num > 0 && num >= n - tol && !(n_flt == 0 && n_big > 0))
		c->type = n_flt == 0 && n_big == 0 ? ADE_TYPE_INT64 : ADE_TYPE_FLOAT64;
	else if (n > 0 && n_date > 0 && n_date >= n - tol)
		c->type = ADE_TYPE_DATE;
	else if (n > 0 && n_ts > 0 && n_date + n_ts >= n - tol)
		c->type = ADE_TYPE_TIMESTAMP;
	else if (n > 0 && !c->d.over && c->d.n <= cf->cat_max && (int64_t)c->d.n * 2 <= n)
		c->type = ADE_TYPE_CATEGORICAL;
	else
		c->type = ADE_TYPE_STRING;
	if (c->type != ADE_TYPE_CATEGORICAL)
		dict_free(&c->d);
}

static cJSON *counts(const int64_t *v)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; i < ADE_Q_NREASONS; i++)
		cJSON_AddNumberToObject(o, reason_names[i], (double)v[i]);
	return o;
}

int ade_ingest_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	struct ingest g;
	struct ade_frame_info info = {0};
	int rc;
	int64_t t0 = ade_now_mono_ns(), t1 = 0, t2 = 0;
	char *frame_dir = NULL, *qpath = NULL;

	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	g.qfd = -1;
	g.hash = XXH3_createState();
	g.warnings = cJSON_CreateArray();
	g.inputs = cJSON_CreateArray();
	rc = cfg_parse(&g.c, ctx, err);
	if (rc)
		goto out;
	rc = ade_input_expand(g.c.source, &g.paths, &g.npaths, err);
	if (rc)
		goto out;
	if (g.c.hints)
		for (const cJSON *h = g.c.hints->child; h; h = h->next)
			col_add(&g, h->string, strlen(h->string));
	rc = run_pass(&g, 1, err);
	if (rc)
		goto out;
	t1 = ade_now_mono_ns();
	if (g.c.hints)
		for (const cJSON *h = g.c.hints->child; h; h = h->next) {
			int k = col_find(&g, h->string, strlen(h->string));
			if (k >= 0 && g.cols[k].present == 0) {
				char *m = ade_xasprintf("schema_hints names '%s', which has no values",
							h->string);
				cJSON_AddItemToArray(g.warnings, cJSON_CreateString(m));
				free(m);
			}
		}

	frame_dir = ade_xasprintf("%s/frame", ctx->out);
	qpath = ade_xasprintf("%s/quarantine.ndjson", ctx->out);
	g.qfd = open(qpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (g.qfd < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", qpath, strerror(errno));
		goto out;
	}
	rc = ade_frame_writer_open(frame_dir, &g.fw, err);
	if (rc)
		goto out;
	for (int i = 0; i < g.ncols; i++) {
		struct col *c = &g.cols[i];
		decide_type(&g.c, c);
		c->w = ade_frame_writer_add(g.fw, c->name, c->type, err);
		if (c->w < 0) {
			rc = c->w;
			goto out;
		}
		if (c->type == ADE_TYPE_CATEGORICAL) {
			if (c->d.over) { /* a hinted categorical past 2^24 values */
				rc = ade_error_set(err, ADE_EDATA,
						   "column '%s' has too many values to be categorical",
						   c->name);
				goto out;
			}
			dict_assign_codes(&c->d, g.fw, c->w);
		}
	}
	rc = run_pass(&g, 2, err);
	if (rc)
		goto out;
	t2 = ade_now_mono_ns();
	q_flush(&g);
	if (!g.failed_data && strcmp(g.hash1, g.hash2)) {
		rc = ade_error_set(err, ADE_EBUSY, "source '%s' changed while it was read",
				   g.c.source);
		goto out;
	}
	int64_t nq = 0;
	for (int i = 0; i < ADE_Q_NREASONS; i++)
		nq += g.q.quarantined[i];
	double rate = g.rows_read ? (double)nq / (double)g.rows_read : 0;
	if (!g.failed_data && g.c.fail >= 0 && rate > g.c.fail) {
		g.failed_data = 1;
		snprintf(g.fail_msg, sizeof(g.fail_msg),
			 "quarantined %lld of %lld records (%.4g%%), over the fail threshold %.4g%%",
			 (long long)nq, (long long)g.rows_read, rate * 100, g.c.fail * 100);
	} else if (!g.failed_data && rate > g.c.warn) {
		char *m = ade_xasprintf("quarantined %lld of %lld records (%.4g%%), over the warn "
					"threshold %.4g%%",
					(long long)nq, (long long)g.rows_read, rate * 100,
					g.c.warn * 100);
		ade_log_warn("%s", m);
		cJSON_AddItemToArray(g.warnings, cJSON_CreateString(m));
		free(m);
	}
	if (!g.failed_data) {
		cJSON *extra = cJSON_CreateObject();
		cJSON_AddStringToObject(extra, "source_hash", g.hash1);
		rc = ade_frame_writer_finish(g.fw, extra, &info, err);
		cJSON_Delete(extra);
		if (rc)
			goto out;
	}

	/* result.json */
	{
		cJSON *res = ade_stage_result_new(ctx, g.failed_data ? "failed" : "ok");
		cJSON *schema = info.schema ? info.schema : cJSON_CreateArray();
		cJSON_AddNumberToObject(res, "rows_in", (double)g.rows_read);
		cJSON_AddNumberToObject(res, "rows_out", (double)g.rows_written);
		cJSON_AddNumberToObject(res, "rows_read", (double)g.rows_read);
		cJSON_AddNumberToObject(res, "rows_written", (double)g.rows_written);
		cJSON_AddNumberToObject(res, "rows_quarantined", (double)nq);
		cJSON *q = cJSON_AddObjectToObject(res, "quarantine");
		cJSON_AddStringToObject(q, "file", "quarantine.ndjson");
		cJSON_AddNumberToObject(q, "rate", rate);
		cJSON_AddItemToObject(q, "by_reason", counts(g.q.quarantined));
		cJSON_AddItemToObject(q, "nulled_by_reason", counts(g.q.nulled));
		cJSON_AddNumberToObject(q, "warn", g.c.warn);
		if (g.c.fail >= 0)
			cJSON_AddNumberToObject(q, "fail", g.c.fail);
		cJSON_AddNumberToObject(res, "bytes", (double)g.bytes);
		cJSON_AddNumberToObject(res, "input_bytes", (double)g.stored_bytes);
		cJSON_AddStringToObject(res, "input_hash", g.hash1);
		if (g.failed_data)
			cJSON_AddStringToObject(res, "error", g.fail_msg);
		cJSON_AddItemToObject(res, "schema", cJSON_Duplicate(schema, 1));
		cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
		for (cJSON *d = g.inputs->child; d; d = d->next) {
			cJSON_AddNumberToObject(d, "rows", (double)g.rows_read);
			cJSON_AddStringToObject(d, "hash", g.hash1);
		}
		if (cJSON_GetArraySize(g.inputs) > 1)
			for (cJSON *d = g.inputs->child; d; d = d->next) {
				/* Rows and hash are of the whole source, not this file. */
				cJSON_AddBoolToObject(d, "part_of_source", 1);
			}
		cJSON_AddItemToObject(ds, "inputs", g.inputs);
		g.inputs = NULL;
		cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
		if (!g.failed_data) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "path", "frame");
			cJSON_AddStringToObject(o, "format", "ade-frame");
			cJSON_AddNumberToObject(o, "rows", (double)info.rows);
			cJSON_AddNumberToObject(o, "bytes", (double)info.bytes);
			cJSON_AddStringToObject(o, "hash", info.hash);
			cJSON_AddItemToObject(o, "schema", cJSON_Duplicate(schema, 1));
			cJSON_AddItemToArray(outs, o);
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", "quarantine.ndjson");
		cJSON_AddStringToObject(o, "format", "ndjson");
		cJSON_AddNumberToObject(o, "rows", (double)nq);
		cJSON_AddItemToArray(outs, o);
		cJSON *m = cJSON_AddObjectToObject(res, "metrics");
		double s1 = (double)(t1 - t0) / 1e9, s2 = (double)(t2 - t1) / 1e9;
		cJSON_AddNumberToObject(m, "pass1_seconds", s1);
		cJSON_AddNumberToObject(m, "pass2_seconds", s2);
		if (s1 + s2 > 0) {
			cJSON_AddNumberToObject(m, "mb_per_second", (double)g.bytes / 1e6 / (s1 + s2));
			cJSON_AddNumberToObject(m, "rows_per_second", (double)g.rows_read / (s1 + s2));
		}
		cJSON_AddItemToObject(res, "warnings", g.warnings);
		g.warnings = NULL;
		cJSON_Delete(schema); /* info.schema, when there is one */
		info.schema = NULL;
		int r2 = ade_stage_result_write(ctx, res, err);
		cJSON_Delete(res);
		if (r2) {
			rc = r2;
			goto out;
		}
	}
	if (g.failed_data)
		rc = ade_error_set(err, ADE_EDATA, "%s", g.fail_msg);
	else
		ade_log_info("%lld rows read, %lld written, %lld quarantined; frame in %s",
			     (long long)g.rows_read, (long long)g.rows_written, (long long)nq,
			     frame_dir);
out:
	if (g.fw) {
		ade_frame_writer_abort(g.fw);
		ade_frame_writer_free(g.fw);
	}
	if (g.qfd >= 0)
		close(g.qfd);
	ade_strbuf_release(&g.qbuf);
	for (int i = 0; i < g.ncols; i++) {
		free(g.cols[i].name);
		dict_free(&g.cols[i].d);
	}
	free(g.cols);
	free(g.fmap);
	free(g.kmap);
	ade_input_paths_free(g.paths, g.npaths);
	cfg_free(&g.c);
	cJSON_Delete(info.schema);
	cJSON_Delete(g.warnings);
	cJSON_Delete(g.inputs);
	XXH3_freeState(g.hash);
	free(frame_dir);
	free(qpath);
	return rc;
}
