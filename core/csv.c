/* Streaming CSV reader; see csv.h. */
#include "csv.h"
#include "error.h"
#include "input.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) && !defined(ADE_CSV_NO_SIMD)
#define CSV_SSE2 1
#include <emmintrin.h>
#endif

#define CSV_CHUNK (1u << 20)
/* Zeroed bytes kept after buf[cap], so the field scanner may load 16
 * bytes at any position before end without reading outside the buffer or
 * reading uninitialised memory; what it finds past end is ignored. */
#define CSV_PAD 64
#define IDX_WINDOW 65536 /* bytes indexed at a time (uint16 offsets) */
#define RAW_KEEP 4096 /* bytes of a too-large record kept for quarantine */

enum { P_DONE, P_NEED, P_EOF };

struct ade_csv_reader {
	struct ade_window w;
	int bom_done;
	char delim;
	unsigned char special[256];
	struct ade_csv_field *fields;
	size_t fcap;
	char *scratch;
	size_t scap;
	int64_t line;
	int skipping;
	uint16_t *idx;         /* field index of the window [ibase, ito) */
	size_t ibase, ito, ilen, ipos;
	int ivalid;            /* 0 after a refill moved the bytes */
	int avx2;              /* index with AVX2 + BMI1 + POPCNT */
	uint64_t high[IDX_WINDOW / 64]; /* bytes >= 0x80 in the window, bit per byte */
};

static struct ade_csv_reader *reader_new(char delim, size_t max_record)
{
	struct ade_csv_reader *r = ade_xcalloc(1, sizeof(*r));

	ade_window_init(&r->w, CSV_CHUNK, CSV_PAD, max_record);
	r->delim = delim;
	r->special[(unsigned char)delim] = 1;
	r->special['\n'] = 1;
	r->special['\r'] = 1;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(ADE_CSV_NO_SIMD)
	__builtin_cpu_init();
	r->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
		  __builtin_cpu_supports("popcnt") && !getenv("ADE_CSV_NO_AVX2");
#endif
	r->idx = ade_xmalloc((IDX_WINDOW + 4) * sizeof(*r->idx)); /* + unconditional writes */
	r->fcap = 64;
	r->fields = ade_xmalloc(r->fcap * sizeof(*r->fields));
	r->line = 1;
	return r;
}

struct ade_csv_reader *ade_csv_new(struct ade_input *in, char delim, size_t max_record)
{
	struct ade_csv_reader *r = reader_new(delim, max_record);

	r->w.in = in;
	return r;
}

struct ade_csv_reader *ade_csv_new_mem(const char *data, size_t len, char delim,
				       size_t max_record)
{
	struct ade_csv_reader *r = reader_new(delim, max_record);

	ade_window_set_mem(&r->w, data, len);
	return r;
}

void ade_csv_set_tap(struct ade_csv_reader *r, void (*tap)(void *, const void *, size_t),
		     void *arg)
{
	r->w.tap = tap;
	r->w.tap_arg = arg;
}

int64_t ade_csv_bytes(const struct ade_csv_reader *r)
{
	return r->w.base_off + (int64_t)r->w.start;
}

void ade_csv_free(struct ade_csv_reader *r)
{
	if (!r)
		return;
	ade_window_release(&r->w);
	free(r->fields);
	free(r->scratch);
	free(r->idx);
	free(r);
}

/* 1 more data, 0 end of stream, 2 buffer full at max_record, <0 error. */
static int refill(struct ade_csv_reader *r, struct ade_error *err)
{
	r->ivalid = 0; /* a parse that asked for more restarts at its record */
	return ade_window_refill(&r->w, err);
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
		r->scratch = ade_xmalloc(r->scap + 8);
	}
	for (size_t i = 0; i < nf; i++) {
		struct ade_csv_field *f = &r->fields[i];
		if (f->quoted != 2)
			continue;
		char *dst = r->scratch + off;
		size_t k = 0;
		for (size_t j = 0; j < f->len; j++) {
			/* Eight bytes at a time up to the next quote.  The field lies
			 * in buf, which has CSV_PAD bytes after its end; scratch
			 * has 8 bytes of slack. */
			for (;;) {
				uint64_t w, t;
				memcpy(&w, f->p + j, 8);
				t = w ^ UINT64_C(0x2222222222222222);
				t = ~(((t & UINT64_C(0x7f7f7f7f7f7f7f7f)) + UINT64_C(0x7f7f7f7f7f7f7f7f)) | t |
				      UINT64_C(0x7f7f7f7f7f7f7f7f));
				if (t || j + 8 > f->len)
					break;
				memcpy(dst + k, &w, 8);
				j += 8;
				k += 8;
			}
			if (j >= f->len)
				break;
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

/*
 * The field index.  Records are parsed from a list of the positions of
 * every delimiter, CR, LF and quote (the "special" bytes), built for a
 * window of up to 64 KiB at a time from 64-bit maps of 64 bytes each
 * (SSE2 compares, part of x86-64; a SWAR zero-byte test elsewhere).  The
 * parser then jumps from special byte to special byte instead of testing
 * every byte, and a field costs one index entry (performance.md, section
 * 1).  Positions are uint16 offsets from the window's start.
 */
static inline uint64_t special_map(const char *b, char delim, uint64_t *high)
{
#ifdef CSV_SSE2
	const __m128i vd = _mm_set1_epi8(delim), vn = _mm_set1_epi8('\n'),
		      vr = _mm_set1_epi8('\r'), vq = _mm_set1_epi8('"');
	uint64_t m = 0, h = 0;
	for (int k = 0; k < 4; k++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k));
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vn)),
					   _mm_or_si128(_mm_cmpeq_epi8(x, vr), _mm_cmpeq_epi8(x, vq)));
		m |= (uint64_t)(unsigned)_mm_movemask_epi8(hit) << (16 * k);
		h |= (uint64_t)(unsigned)_mm_movemask_epi8(x) << (16 * k);
	}
	*high = h;
	return m;
#else
	const uint64_t ones = UINT64_C(0x0101010101010101), lows = ~(ones << 7) /* 0x7f.. */;
	const uint64_t k4[4] = {ones * (unsigned char)delim, ones * '\n', ones * '\r', ones * '"'};
	uint64_t m = 0;
	for (int k = 0; k < 8; k++) {
		const unsigned char *q = (const unsigned char *)b + 8 * k;
		uint64_t w = 0, z = 0;
		for (int j = 0; j < 8; j++) /* little-endian order whatever the host */
			w |= (uint64_t)q[j] << (8 * j);
		for (int j = 0; j < 4; j++) { /* exact zero-byte test: high bit of each zero byte */
			uint64_t t = w ^ k4[j];
			z |= ~(((t & lows) + lows) | t | lows);
		}
		for (int j = 0; j < 8; j++)
			m |= ((z >> (8 * j + 7)) & 1) << (8 * k + j);
	}
	*high = ~UINT64_C(0); /* not computed: "may hold non-ASCII" */
	return m;
#endif
}

/* Bits set in x (no popcnt instruction in the baseline x86-64). */
static inline unsigned popcount64(uint64_t x)
{
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
	return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/*
 * Indexes buf[from, min(from + IDX_WINDOW, end)).  The body is compiled
 * twice: for the baseline (SSE2) and, on x86-64 CPUs that have them, with
 * AVX2 compares and BMI1/POPCNT bit extraction (chosen once per reader
 * with __builtin_cpu_supports).
 */
#define INDEX_BODY(MAP, POPCNT)                                                          \
	const char *b = r->w.buf;                                                          \
	size_t len = end - from < IDX_WINDOW ? end - from : IDX_WINDOW;                  \
	uint16_t *idx = r->idx;                                                          \
	size_t n = 0;                                                                    \
	for (size_t k = 0; k < len; k += 64) {                                           \
		uint64_t h;                                                              \
		uint64_t m = MAP(b + from + k, r->delim, &h);                            \
		if (len - k < 64) {                                                      \
			m &= (UINT64_C(1) << (len - k)) - 1;                             \
			h &= (UINT64_C(1) << (len - k)) - 1;                             \
		}                                                                        \
		r->high[k / 64] = h;                                                     \
		/* Four entries per step, written whether or not they exist (the \
		 * array has room), so the loop exits after about a quarter of   \
		 * the branches.  ctz of m | 2^63 is ctz(m) for m != 0 and       \
		 * defined for 0. */                                              \
		uint16_t *o = idx + n;                                                   \
		n += POPCNT(m);                                                          \
		while (m) {                                                              \
			for (int j = 0; j < 4; j++) {                                    \
				*o++ = (uint16_t)(k + (size_t)__builtin_ctzll(           \
							  m | (UINT64_C(1) << 63)));     \
				m &= m - 1;                                              \
			}                                                                \
		}                                                                        \
	}                                                                                \
	r->ibase = from;                                                                 \
	r->ito = from + len;                                                             \
	r->ilen = n;                                                                     \
	r->ipos = 0;

static void index_window_base(struct ade_csv_reader *r, size_t from, size_t end)
{
	INDEX_BODY(special_map, popcount64)
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(ADE_CSV_NO_SIMD)
#include <immintrin.h>
__attribute__((target("avx2,bmi,popcnt"))) static inline uint64_t
special_map_avx2(const char *b, char delim, uint64_t *high)
{
	const __m256i vd = _mm256_set1_epi8(delim), vn = _mm256_set1_epi8('\n'),
		      vr = _mm256_set1_epi8('\r'), vq = _mm256_set1_epi8('"');
	__m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)b);
	__m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32));
	__m256i h0 = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x0, vd), _mm256_cmpeq_epi8(x0, vn)),
				     _mm256_or_si256(_mm256_cmpeq_epi8(x0, vr), _mm256_cmpeq_epi8(x0, vq)));
	__m256i h1 = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x1, vd), _mm256_cmpeq_epi8(x1, vn)),
				     _mm256_or_si256(_mm256_cmpeq_epi8(x1, vr), _mm256_cmpeq_epi8(x1, vq)));
	*high = (uint64_t)(uint32_t)_mm256_movemask_epi8(x0) |
		(uint64_t)(uint32_t)_mm256_movemask_epi8(x1) << 32;
	return (uint64_t)(uint32_t)_mm256_movemask_epi8(h0) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(h1) << 32;
}

#define POPCNT_HW(m) ((size_t)__builtin_popcountll(m))
__attribute__((target("avx2,bmi,popcnt"))) static void
index_window_avx2(struct ade_csv_reader *r, size_t from, size_t end)
{
	INDEX_BODY(special_map_avx2, POPCNT_HW)
}
#define HAVE_AVX2_INDEX 1
#endif

static void index_window(struct ade_csv_reader *r, size_t from, size_t end)
{
#ifdef HAVE_AVX2_INDEX
	if (r->avx2) {
		index_window_avx2(r, from, end);
		return;
	}
#endif
	index_window_base(r, from, end);
}

/*
 * The parser's copy of the cursor, in locals: stores into the field array
 * could otherwise alias r->ipos and force a reload per field.
 */
struct cursor {
	const uint16_t *idx;
	size_t base, pos, len;
};

static inline void cur_load(const struct ade_csv_reader *r, struct cursor *c)
{
	c->idx = r->idx;
	c->base = r->ibase;
	c->pos = r->ipos;
	c->len = r->ilen;
}

/* Position of the next special byte not yet consumed (consuming it), or end. */
static inline size_t cur_next(struct ade_csv_reader *r, struct cursor *c, size_t end)
{
	while (c->pos == c->len) {
		if (r->ito >= end)
			return end;
		index_window(r, r->ito, end);
		cur_load(r, c);
	}
	return c->base + c->idx[c->pos++];
}

/* Position of the next special byte not yet consumed, or end. */
static inline size_t peek_special(struct ade_csv_reader *r, size_t end)
{
	while (r->ipos == r->ilen) {
		if (r->ito >= end)
			return end;
		index_window(r, r->ito, end);
	}
	return r->ibase + r->idx[r->ipos];
}

/* Moves the cursor to the first special byte at or after p. */
static inline void index_seek(struct ade_csv_reader *r, size_t p, size_t end)
{
	if (!r->ivalid || p < r->ibase || p >= r->ito) {
		r->ivalid = 1;
		r->ibase = r->ito = p;
		r->ilen = r->ipos = 0;
		return;
	}
	while (peek_special(r, end) < p)
		r->ipos++;
}

/* 1 when buf[a, e) lies in the indexed window and is all ASCII. */
static inline int ascii_range(const struct ade_csv_reader *r, size_t a, size_t e)
{
	if (!r->ivalid || a < r->ibase || e > r->ito)
		return 0;
	if (a == e)
		return 1;
	size_t o = a - r->ibase, f = e - r->ibase; /* [o, f) in the window */
	size_t k0 = o / 64, k1 = (f - 1) / 64;
	uint64_t lo = ~UINT64_C(0) << (o % 64);
	uint64_t hi = f % 64 ? (UINT64_C(1) << (f % 64)) - 1 : ~UINT64_C(0);

	if (k0 == k1)
		return !(r->high[k0] & lo & hi);
	if (r->high[k0] & lo)
		return 0;
	for (size_t k = k0 + 1; k < k1; k++)
		if (r->high[k])
			return 0;
	return !(r->high[k1] & hi);
}

static int parse(struct ade_csv_reader *r, struct ade_csv_record *rec)
{
	const char *b = r->w.buf;
	size_t p = r->w.start, end = r->w.end;
	const unsigned char *sp = r->special;
	const char delim = r->delim;
	size_t nf = 0, extra_lines = 0, raw_end;
	int status = ADE_CSV_OK, any_esc = 0;

	if (!r->bom_done) {
		if (end - p < 3 && !r->w.eof)
			return P_NEED;
		if (end - p >= 3 && !memcmp(b + p, "\xEF\xBB\xBF", 3))
			r->w.start = p = p + 3;
		r->bom_done = 1;
	}
	/* Blank lines carry no record. */
	while (p < end && (b[p] == '\n' || b[p] == '\r')) {
		if (b[p] == '\r' && p + 1 == end && !r->w.eof)
			return P_NEED;
		if (b[p] == '\r' && p + 1 < end && b[p + 1] == '\n')
			p += 2;
		else
			p++;
		r->line++;
		r->w.start = p;
	}
	if (p == end)
		return r->w.eof ? P_EOF : P_NEED;
	size_t rec_start = p;
	struct cursor cur;
	index_seek(r, p, end);
	cur_load(r, &cur);
	for (;;) {
		const char *fp;
		size_t flen;
		int quoted = 0;

		if (p < end && b[p] == '"') {
			size_t q;
			int esc = 0;
			cur_next(r, &cur, end); /* the opening quote, at p */
			for (;;) {
				q = cur_next(r, &cur, end);
				if (q == end) {
					if (!r->w.eof)
						return P_NEED;
					status = ADE_CSV_BAD_QUOTE;
					break;
				}
				if (b[q] != '"') {
					extra_lines += b[q] == '\n';
					continue;
				}
				if (q + 1 == end && !r->w.eof)
					return P_NEED;
				if (q + 1 < end && b[q + 1] == '"') {
					esc = 1;
					cur_next(r, &cur, end); /* the second quote */
					continue;
				}
				break;
			}
			fp = b + p + 1;
			flen = q - p - 1;
			quoted = esc ? 2 : 1;
			any_esc |= esc;
			p = q < end ? q + 1 : end;
			if (p < end && !sp[(unsigned char)b[p]]) {
				status = ADE_CSV_BAD_QUOTE;
				while (p < end && !sp[(unsigned char)b[p]])
					p++;
				if (p == end && !r->w.eof)
					return P_NEED;
				r->ipos = cur.pos;
				index_seek(r, p, end);
				cur_load(r, &cur);
			}
			if (p < end)
				cur_next(r, &cur, end); /* the byte ending the field */
		} else {
			size_t s = p;
			/* A quote inside an unquoted field is an ordinary byte. */
			do
				p = cur_next(r, &cur, end);
			while (p < end && b[p] == '"');
			if (p == end && !r->w.eof)
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
			if (p + 1 == end && !r->w.eof)
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
	rec->offset = r->w.base_off + (int64_t)rec_start;
	rec->status = status;
	rec->ascii = ascii_range(r, rec_start, raw_end);
	r->line += 1 + (int64_t)extra_lines;
	r->w.start = p;
	r->ipos = cur.pos;
	return P_DONE;
}

/* Drops the rest of a too-large record, following quotes. */
static int skip_record(struct ade_csv_reader *r, struct ade_error *err)
{
	int inq = 0;
	size_t p = r->w.start;

	for (;;) {
		const char *b = r->w.buf;
		for (; p < r->w.end; p++) {
			char c = b[p];
			if (c == '"') {
				inq ^= 1;
			} else if (c == '\n' || c == '\r') {
				if (!inq) {
					r->w.start = p + 1;
					r->line++;
					r->skipping = 0;
					return 0;
				}
				if (c == '\n')
					r->line++;
			}
		}
		r->w.start = r->w.end;
		int rc = refill(r, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			r->skipping = 0;
			return 0;
		}
		p = r->w.start;
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
			rec->raw = r->w.buf + r->w.start;
			rec->raw_len = r->w.end - r->w.start < RAW_KEEP ? r->w.end - r->w.start : RAW_KEEP;
			rec->line = r->line;
			rec->offset = r->w.base_off + (int64_t)r->w.start;
			rec->status = ADE_CSV_TOO_LARGE;
			rec->ascii = 0;
			r->skipping = 1;
			return 1;
		}
	}
}
