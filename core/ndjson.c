/* Streaming NDJSON reader; see ndjson.h. */
#include "ndjson.h"
#include "error.h"
#include "input.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define ND_CHUNK (1u << 20)
#define RAW_KEEP 4096

struct gbuf {
	char *p;
	size_t len, cap;
};

static void gbuf_reserve(struct gbuf *g, size_t extra)
{
	if (g->p && g->len + extra <= g->cap)
		return;
	size_t c = g->cap ? g->cap : 1024;
	while (c < g->len + extra)
		c *= 2;
	g->p = ade_xrealloc(g->p, c);
	g->cap = c;
}

struct ade_nd_reader {
	struct ade_window w;
	int bom_done, skipping;
	int64_t line;
	struct ade_nd_field *fields;
	size_t nf, fcap;
	struct gbuf path, keys, vals;
	/* Per field: which of key and p are offsets into keys / vals. */
	unsigned char *val_off;
};

static struct ade_nd_reader *nd_new(size_t max_record)
{
	struct ade_nd_reader *r = ade_xcalloc(1, sizeof(*r));

	ade_window_init(&r->w, ND_CHUNK, 0, max_record);
	r->line = 1;
	r->fcap = 32;
	r->fields = ade_xmalloc(r->fcap * sizeof(*r->fields));
	r->val_off = ade_xmalloc(r->fcap);
	return r;
}

struct ade_nd_reader *ade_nd_new(struct ade_input *in, size_t max_record)
{
	struct ade_nd_reader *r = nd_new(max_record);

	r->w.in = in;
	return r;
}

struct ade_nd_reader *ade_nd_new_mem(const char *data, size_t len, size_t max_record)
{
	struct ade_nd_reader *r = nd_new(max_record);

	ade_window_set_mem(&r->w, data, len);
	return r;
}

void ade_nd_set_tap(struct ade_nd_reader *r, void (*tap)(void *, const void *, size_t),
		    void *arg)
{
	r->w.tap = tap;
	r->w.tap_arg = arg;
}

int64_t ade_nd_bytes(const struct ade_nd_reader *r)
{
	return r->w.base_off + (int64_t)r->w.start;
}

void ade_nd_free(struct ade_nd_reader *r)
{
	if (!r)
		return;
	ade_window_release(&r->w);
	free(r->fields);
	free(r->val_off);
	free(r->path.p);
	free(r->keys.p);
	free(r->vals.p);
	free(r);
}

static int refill(struct ade_nd_reader *r, struct ade_error *err)
{
	return ade_window_refill(&r->w, err);
}

/* ---- the parser over one line ---- */

struct pctx {
	struct ade_nd_reader *r;
	const char *s;
	size_t n, i;
	const char *error;
};

static void ws(struct pctx *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' ||
			       c->s[c->i] == '\n'))
		c->i++;
}

static int fail(struct pctx *c, const char *why)
{
	if (!c->error)
		c->error = why;
	return -1;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static unsigned hex4(const char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
			  hexval(p[3]));
}

/*
 * Scans a string whose opening quote is at c->i; sets [*b, *e) to its
 * escaped body and *esc when it holds escapes.
 */
static int scan_string(struct pctx *c, size_t *b, size_t *e, int *esc)
{
	size_t i = c->i + 1;

	*esc = 0;
	*b = i;
	for (;;) {
		if (i >= c->n)
			return fail(c, "unterminated string");
		unsigned char ch = (unsigned char)c->s[i];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return fail(c, "control character in string");
		if (ch == '\\') {
			*esc = 1;
			if (i + 1 >= c->n)
				return fail(c, "unterminated string");
			char x = c->s[i + 1];
			if (x == 'u') {
				if (i + 6 > c->n)
					return fail(c, "bad \\u escape");
				for (int k = 2; k < 6; k++)
					if (hexval(c->s[i + (size_t)k]) < 0)
						return fail(c, "bad \\u escape");
				i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", x) || !x)
				return fail(c, "bad escape");
			i += 2;
			continue;
		}
		i++;
	}
	*e = i;
	c->i = i + 1;
	return 0;
}

static void put_utf8(struct gbuf *g, unsigned cp)
{
	char *o = g->p + g->len;

	if (cp < 0x80) {
		o[0] = (char)cp;
		g->len += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		g->len += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		g->len += 3;
	} else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char)(0x80 | (cp & 0x3F));
		g->len += 4;
	}
}

/* Appends the unescaped form of an already validated body to g. */
static void unescape_to(struct gbuf *g, const char *s, size_t n)
{
	gbuf_reserve(g, n + 4);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			g->p[g->len++] = s[i];
			continue;
		}
		char x = s[++i];
		switch (x) {
		case 'b': g->p[g->len++] = '\b'; break;
		case 'f': g->p[g->len++] = '\f'; break;
		case 'n': g->p[g->len++] = '\n'; break;
		case 'r': g->p[g->len++] = '\r'; break;
		case 't': g->p[g->len++] = '\t'; break;
		case 'u': {
			unsigned cp = hex4(s + i + 1);
			i += 4;
			/* The body is validated: "\\u" is followed by four hex digits. */
			if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < n && s[i + 1] == '\\' &&
			    s[i + 2] == 'u') {
				unsigned lo = hex4(s + i + 3);
				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					i += 6;
				} else {
					cp = 0xFFFD;
				}
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD; /* a lone surrogate has no UTF-8 form */
			}
			put_utf8(g, cp);
			break;
		}
		default: g->p[g->len++] = x; break;
		}
	}
}

static int emit(struct pctx *c, int kind, const char *p, size_t len, int esc)
{
	struct ade_nd_reader *r = c->r;

	if (r->nf == r->fcap) {
		if (r->fcap >= ADE_ND_MAX_FIELDS)
			return fail(c, "too many fields");
		r->fcap *= 2;
		r->fields = ade_xrealloc(r->fields, r->fcap * sizeof(*r->fields));
		r->val_off = ade_xrealloc(r->val_off, r->fcap);
	}
	struct ade_nd_field *f = &r->fields[r->nf];
	/* Scratch buffers may move while the record grows: keep offsets now,
	 * pointers once the line is parsed. */
	gbuf_reserve(&r->keys, r->path.len + 1);
	f->key = (const char *)(uintptr_t)r->keys.len;
	f->key_len = r->path.len;
	if (r->path.len)
		memcpy(r->keys.p + r->keys.len, r->path.p, r->path.len);
	r->keys.len += r->path.len;
	if (esc) {
		size_t at = r->vals.len;
		unescape_to(&r->vals, p, len);
		f->p = (const char *)(uintptr_t)at;
		f->len = r->vals.len - at;
	} else {
		f->p = p;
		f->len = len;
	}
	f->kind = kind;
	r->val_off[r->nf] = (unsigned char)esc;
	r->nf++;
	return 0;
}

static int skip_value(struct pctx *c, int depth);

static int scan_number(struct pctx *c)
{
	size_t i = c->i;
	const char *s = c->s;

	if (i < c->n && s[i] == '-')
		i++;
	if (i >= c->n)
		return fail(c, "bad number");
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < c->n && (unsigned)(s[i] - '0') <= 9)
			i++;
	} else {
		return fail(c, "bad number");
	}
	if (i < c->n && s[i] == '.') {
		i++;
		if (i >= c->n || (unsigned)(s[i] - '0') > 9)
			return fail(c, "bad number");
		while (i < c->n && (unsigned)(s[i] - '0') <= 9)
			i++;
	}
	if (i < c->n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < c->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= c->n || (unsigned)(s[i] - '0') > 9)
			return fail(c, "bad number");
		while (i < c->n && (unsigned)(s[i] - '0') <= 9)
			i++;
	}
	c->i = i;
	return 0;
}

static int literal(struct pctx *c, const char *word)
{
	size_t m = strlen(word);

	if (c->n - c->i < m || memcmp(c->s + c->i, word, m))
		return fail(c, "bad literal");
	c->i += m;
	return 0;
}

static int skip_value(struct pctx *c, int depth)
{
	size_t b, e;
	int esc;

	if (depth > ADE_ND_MAX_DEPTH)
		return fail(c, "nested too deeply");
	ws(c);
	if (c->i >= c->n)
		return fail(c, "value expected");
	switch (c->s[c->i]) {
	case '"':
		return scan_string(c, &b, &e, &esc);
	case '{':
	case '[': {
		char close = c->s[c->i] == '{' ? '}' : ']';
		c->i++;
		ws(c);
		if (c->i < c->n && c->s[c->i] == close) {
			c->i++;
			return 0;
		}
		for (;;) {
			ws(c);
			if (close == '}') {
				if (c->i >= c->n || c->s[c->i] != '"')
					return fail(c, "key expected");
				if (scan_string(c, &b, &e, &esc))
					return -1;
				ws(c);
				if (c->i >= c->n || c->s[c->i] != ':')
					return fail(c, "':' expected");
				c->i++;
			}
			if (skip_value(c, depth + 1))
				return -1;
			ws(c);
			if (c->i < c->n && c->s[c->i] == ',') {
				c->i++;
				continue;
			}
			if (c->i < c->n && c->s[c->i] == close) {
				c->i++;
				return 0;
			}
			return fail(c, "',' or end of container expected");
		}
	}
	case 't': return literal(c, "true");
	case 'f': return literal(c, "false");
	case 'n': return literal(c, "null");
	default: return scan_number(c);
	}
}

static int object(struct pctx *c, int depth);

static int value(struct pctx *c, int depth)
{
	size_t b, e;
	int esc;

	ws(c);
	if (c->i >= c->n)
		return fail(c, "value expected");
	size_t at = c->i;
	switch (c->s[c->i]) {
	case '{':
		return object(c, depth + 1);
	case '[':
		if (skip_value(c, depth + 1))
			return -1;
		return emit(c, ADE_ND_ARRAY, c->s + at, c->i - at, 0);
	case '"':
		if (scan_string(c, &b, &e, &esc))
			return -1;
		return emit(c, ADE_ND_STRING, c->s + b, e - b, esc);
	case 't':
		if (literal(c, "true"))
			return -1;
		return emit(c, ADE_ND_BOOL, c->s + at, 4, 0);
	case 'f':
		if (literal(c, "false"))
			return -1;
		return emit(c, ADE_ND_BOOL, c->s + at, 5, 0);
	case 'n':
		if (literal(c, "null"))
			return -1;
		return emit(c, ADE_ND_NULL, c->s + at, 0, 0);
	default:
		if (scan_number(c))
			return -1;
		return emit(c, ADE_ND_NUMBER, c->s + at, c->i - at, 0);
	}
}

/* An object at c->i whose keys extend the current path. */
static int object(struct pctx *c, int depth)
{
	struct ade_nd_reader *r = c->r;
	size_t plen = r->path.len;

	if (depth > ADE_ND_MAX_DEPTH)
		return fail(c, "nested too deeply");
	c->i++; /* '{' */
	ws(c);
	if (c->i < c->n && c->s[c->i] == '}') {
		c->i++;
		return 0;
	}
	for (;;) {
		size_t b, e;
		int esc;
		ws(c);
		if (c->i >= c->n || c->s[c->i] != '"')
			return fail(c, "key expected");
		if (scan_string(c, &b, &e, &esc))
			return -1;
		r->path.len = plen;
		if (plen) {
			gbuf_reserve(&r->path, 1);
			r->path.p[r->path.len++] = '.';
		}
		if (esc) {
			unescape_to(&r->path, c->s + b, e - b);
		} else {
			gbuf_reserve(&r->path, e - b);
			memcpy(r->path.p + r->path.len, c->s + b, e - b);
			r->path.len += e - b;
		}
		ws(c);
		if (c->i >= c->n || c->s[c->i] != ':')
			return fail(c, "':' expected");
		c->i++;
		if (value(c, depth))
			return -1;
		r->path.len = plen;
		ws(c);
		if (c->i < c->n && c->s[c->i] == ',') {
			c->i++;
			continue;
		}
		if (c->i < c->n && c->s[c->i] == '}') {
			c->i++;
			return 0;
		}
		return fail(c, "',' or '}' expected");
	}
}

static void parse_line(struct ade_nd_reader *r, const char *s, size_t n,
		       struct ade_nd_record *rec)
{
	struct pctx c = {.r = r, .s = s, .n = n};

	r->nf = 0;
	r->path.len = 0;
	r->keys.len = 0;
	r->vals.len = 0;
	rec->status = ADE_ND_OK;
	rec->error = NULL;
	rec->error_at = 0;
	ws(&c);
	if (c.i >= n || s[c.i] != '{') {
		fail(&c, "not a JSON object");
	} else if (!object(&c, 1)) {
		ws(&c);
		if (c.i != n)
			fail(&c, "text after the object");
	}
	if (c.error) {
		rec->status = ADE_ND_BAD_JSON;
		rec->error = c.error;
		rec->error_at = c.i;
		r->nf = 0;
	}
	for (size_t k = 0; k < r->nf; k++) {
		struct ade_nd_field *f = &r->fields[k];
		f->key = r->keys.p ? r->keys.p + (uintptr_t)f->key : "";
		if (r->val_off[k])
			f->p = r->vals.p + (uintptr_t)f->p;
	}
	rec->fields = r->fields;
	rec->nfields = r->nf;
}

int ade_nd_next(struct ade_nd_reader *r, struct ade_nd_record *rec, struct ade_error *err)
{
	for (;;) {
		if (!r->bom_done) {
			if (r->w.end - r->w.start < 3 && !r->w.eof)
				goto more;
			if (r->w.end - r->w.start >= 3 && !memcmp(r->w.buf + r->w.start, "\xEF\xBB\xBF", 3))
				r->w.start += 3;
			r->bom_done = 1;
		}
		if (r->w.start < r->w.end || r->w.eof) {
			const char *b = r->w.buf + r->w.start;
			size_t avail = r->w.end - r->w.start;
			const char *nl = memchr(b, '\n', avail);
			if (r->skipping) {
				if (!nl) {
					r->w.start = r->w.end;
					if (r->w.eof)
						return 0;
					goto more;
				}
				r->w.start += (size_t)(nl - b) + 1;
				r->line++;
				r->skipping = 0;
				continue;
			}
			if (!nl && !r->w.eof)
				goto more;
			if (!nl && avail == 0)
				return 0;
			size_t len = nl ? (size_t)(nl - b) : avail;
			size_t next = r->w.start + len + (nl ? 1 : 0);
			size_t raw_len = len;
			if (raw_len && b[raw_len - 1] == '\r')
				raw_len--;
			size_t k = 0;
			while (k < raw_len && (b[k] == ' ' || b[k] == '\t' || b[k] == '\r'))
				k++;
			if (k == raw_len) { /* blank line */
				r->w.start = next;
				r->line++;
				continue;
			}
			rec->raw = b;
			rec->raw_len = raw_len;
			rec->line = r->line;
			rec->offset = r->w.base_off + (int64_t)r->w.start;
			parse_line(r, b, raw_len, rec);
			r->w.start = next;
			r->line++;
			return 1;
		}
more:;
		int rc = refill(r, err);
		if (rc < 0)
			return rc;
		if (rc == 2) {
			rec->fields = r->fields;
			rec->nfields = 0;
			rec->raw = r->w.buf + r->w.start;
			rec->raw_len = RAW_KEEP;
			rec->line = r->line;
			rec->offset = r->w.base_off + (int64_t)r->w.start;
			rec->status = ADE_ND_TOO_LARGE;
			rec->error = "line too long";
			rec->error_at = 0;
			r->skipping = 1;
			r->w.start = r->w.end;
			/* raw stays readable: refill moves data only on the next call. */
			return 1;
		}
	}
}
