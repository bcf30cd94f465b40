/* Streaming CSV reader; see csv.h. */
#include "csv.h"
#include "error.h"
#include "input.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK (1u << 20)
#define RAW_KEEP 4096 /* bytes of a too-large record kept for quarantine */

enum { P_DONE, P_NEED, P_EOF };

struct ade_csv_reader {
	struct ade_input *in;
	const char *mem;
	size_t mem_len, mem_pos;
	size_t read_limit; /* tests: bytes per refill, 0 = no limit */
	char *buf;
	size_t cap, start, end;
	int64_t base_off; /* stream offset of buf[0] */
	int eof;
	int bom_done;
	size_t max_record;
	char delim;
	unsigned char special[256];
	struct ade_csv_field *fields;
	size_t fcap;
	char *scratch;
	size_t scap;
	int64_t line;
	int skipping;
	void (*tap)(void *, const void *, size_t);
	void *tap_arg;
};

static struct ade_csv_reader *reader_new(char delim, size_t max_record)
{
	struct ade_csv_reader *r = ade_xcalloc(1, sizeof(*r));

	r->cap = CSV_CHUNK;
	r->buf = ade_xmalloc(r->cap);
	r->max_record = max_record < CSV_CHUNK ? CSV_CHUNK : max_record;
	r->delim = delim;
	r->special[(unsigned char)delim] = 1;
	r->special['\n'] = 1;
	r->special['\r'] = 1;
	r->fcap = 64;
	r->fields = ade_xmalloc(r->fcap * sizeof(*r->fields));
	r->line = 1;
	return r;
}

struct ade_csv_reader *ade_csv_new(struct ade_input *in, char delim, size_t max_record)
{
	struct ade_csv_reader *r = reader_new(delim, max_record);

	r->in = in;
	return r;
}

struct ade_csv_reader *ade_csv_new_mem(const char *data, size_t len, char delim,
				       size_t max_record)
{
	struct ade_csv_reader *r = reader_new(delim, max_record);

	r->mem = data;
	r->mem_len = len;
	if (getenv("ADE_CSV_READ_LIMIT"))
		r->read_limit = (size_t)atol(getenv("ADE_CSV_READ_LIMIT"));
	return r;
}

void ade_csv_set_tap(struct ade_csv_reader *r, void (*tap)(void *, const void *, size_t),
		     void *arg)
{
	r->tap = tap;
	r->tap_arg = arg;
}

int64_t ade_csv_bytes(const struct ade_csv_reader *r)
{
	return r->base_off + (int64_t)r->start;
}

void ade_csv_free(struct ade_csv_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->fields);
	free(r->scratch);
	free(r);
}

/* 1 more data, 0 end of stream, 2 buffer full at max_record, <0 error. */
static int refill(struct ade_csv_reader *r, struct ade_error *err)
{
	ssize_t n;
	size_t want;

	if (r->eof)
		return 0;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->base_off += (int64_t)r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		if (r->cap >= r->max_record)
			return 2;
		r->cap = r->cap * 2 > r->max_record ? r->max_record : r->cap * 2;
		r->buf = ade_xrealloc(r->buf, r->cap);
	}
	want = r->cap - r->end;
	if (r->read_limit && want > r->read_limit)
		want = r->read_limit;
	if (r->in) {
		n = ade_input_read(r->in, r->buf + r->end, want, err);
		if (n < 0)
			return (int)n;
	} else {
		n = (ssize_t)(r->mem_len - r->mem_pos < want ? r->mem_len - r->mem_pos : want);
		memcpy(r->buf + r->end, r->mem + r->mem_pos, (size_t)n);
		r->mem_pos += (size_t)n;
	}
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	if (r->tap)
		r->tap(r->tap_arg, r->buf + r->end, (size_t)n);
	r->end += (size_t)n;
	return 1;
}

static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;
	const char *e = p + n;

	while ((p = memchr(p, '\n', (size_t)(e - p)))) {
		c++;
		p++;
	}
	return c;
}

/* Collapses "" in the quoted fields that hold them into r->scratch. */
static void unescape(struct ade_csv_reader *r, size_t nf)
{
	size_t need = 0, off = 0;

	for (size_t i = 0; i < nf; i++)
		if (r->fields[i].quoted == 2)
			need += r->fields[i].len;
	if (need > r->scap) {
		free(r->scratch);
		r->scap = need < 4096 ? 4096 : need;
		r->scratch = ade_xmalloc(r->scap);
	}
	for (size_t i = 0; i < nf; i++) {
		struct ade_csv_field *f = &r->fields[i];
		if (f->quoted != 2)
			continue;
		char *dst = r->scratch + off;
		size_t k = 0;
		for (size_t j = 0; j < f->len; j++) {
			dst[k++] = f->p[j];
			if (f->p[j] == '"' && j + 1 < f->len && f->p[j + 1] == '"')
				j++;
		}
		f->p = dst;
		f->len = k;
		f->quoted = 1;
		off += k;
	}
}

static int parse(struct ade_csv_reader *r, struct ade_csv_record *rec)
{
	const char *b = r->buf;
	size_t p = r->start, end = r->end;
	const unsigned char *sp = r->special;
	const char delim = r->delim;
	size_t nf = 0, extra_lines = 0, raw_end;
	int status = ADE_CSV_OK, any_esc = 0;

	if (!r->bom_done) {
		if (end - p < 3 && !r->eof)
			return P_NEED;
		if (end - p >= 3 && !memcmp(b + p, "\xEF\xBB\xBF", 3))
			r->start = p = p + 3;
		r->bom_done = 1;
	}
	/* Blank lines carry no record. */
	while (p < end && (b[p] == '\n' || b[p] == '\r')) {
		if (b[p] == '\r' && p + 1 == end && !r->eof)
			return P_NEED;
		if (b[p] == '\r' && p + 1 < end && b[p + 1] == '\n')
			p += 2;
		else
			p++;
		r->line++;
		r->start = p;
	}
	if (p == end)
		return r->eof ? P_EOF : P_NEED;
	size_t rec_start = p;
	for (;;) {
		const char *fp;
		size_t flen;
		int quoted = 0;

		if (p < end && b[p] == '"') {
			size_t q = p + 1;
			int esc = 0;
			for (;;) {
				const char *x = memchr(b + q, '"', end - q);
				if (!x) {
					if (!r->eof)
						return P_NEED;
					status = ADE_CSV_BAD_QUOTE;
					q = end;
					break;
				}
				q = (size_t)(x - b);
				if (q + 1 == end && !r->eof)
					return P_NEED;
				if (q + 1 < end && b[q + 1] == '"') {
					esc = 1;
					q += 2;
					continue;
				}
				break;
			}
			fp = b + p + 1;
			flen = q - p - 1;
			quoted = esc ? 2 : 1;
			any_esc |= esc;
			extra_lines += count_nl(fp, flen);
			p = q < end ? q + 1 : end;
			if (p < end && !sp[(unsigned char)b[p]]) {
				status = ADE_CSV_BAD_QUOTE;
				while (p < end && !sp[(unsigned char)b[p]])
					p++;
				if (p == end && !r->eof)
					return P_NEED;
			}
		} else {
			size_t s = p;
			while (p < end && !sp[(unsigned char)b[p]])
				p++;
			if (p == end && !r->eof)
				return P_NEED;
			fp = b + s;
			flen = p - s;
		}
		if (nf == r->fcap) {
			if (r->fcap >= ADE_CSV_MAX_FIELDS) {
				status = ADE_CSV_TOO_MANY;
				nf = 0;
			} else {
				r->fcap *= 2;
				r->fields = ade_xrealloc(r->fields, r->fcap * sizeof(*r->fields));
			}
		}
		r->fields[nf].p = fp;
		r->fields[nf].len = flen;
		r->fields[nf].quoted = quoted;
		nf++;
		if (p == end) {
			raw_end = p;
			break;
		}
		if (b[p] == delim) {
			p++;
			continue;
		}
		raw_end = p;
		if (b[p] == '\r') {
			if (p + 1 == end && !r->eof)
				return P_NEED;
			p++;
			if (p < end && b[p] == '\n')
				p++;
		} else {
			p++;
		}
		break;
	}
	if (status == ADE_CSV_TOO_MANY)
		nf = 0;
	else if (any_esc)
		unescape(r, nf);
	rec->fields = r->fields;
	rec->nfields = nf;
	rec->raw = b + rec_start;
	rec->raw_len = raw_end - rec_start;
	rec->line = r->line;
	rec->offset = r->base_off + (int64_t)rec_start;
	rec->status = status;
	r->line += 1 + (int64_t)extra_lines;
	r->start = p;
	return P_DONE;
}

/* Drops the rest of a too-large record, following quotes. */
static int skip_record(struct ade_csv_reader *r, struct ade_error *err)
{
	int inq = 0;
	size_t p = r->start;

	for (;;) {
		const char *b = r->buf;
		for (; p < r->end; p++) {
			char c = b[p];
			if (c == '"') {
				inq ^= 1;
			} else if (c == '\n' || c == '\r') {
				if (!inq) {
					r->start = p + 1;
					r->line++;
					r->skipping = 0;
					return 0;
				}
				if (c == '\n')
					r->line++;
			}
		}
		r->start = r->end;
		int rc = refill(r, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			r->skipping = 0;
			return 0;
		}
		p = r->start;
	}
}

int ade_csv_next(struct ade_csv_reader *r, struct ade_csv_record *rec, struct ade_error *err)
{
	if (r->skipping) {
		int rc = skip_record(r, err);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		int pr = parse(r, rec);
		if (pr == P_DONE)
			return 1;
		if (pr == P_EOF)
			return 0;
		int rc = refill(r, err);
		if (rc < 0)
			return rc;
		if (rc == 2) {
			rec->fields = r->fields;
			rec->nfields = 0;
			rec->raw = r->buf + r->start;
			rec->raw_len = r->end - r->start < RAW_KEEP ? r->end - r->start : RAW_KEEP;
			rec->line = r->line;
			rec->offset = r->base_off + (int64_t)r->start;
			rec->status = ADE_CSV_TOO_LARGE;
			r->skipping = 1;
			return 1;
		}
	}
}
