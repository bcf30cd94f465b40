/*
 * Unit tests of the ingest path: the CSV and NDJSON readers (table
 * driven, also with one-byte reads so every record crosses a buffer
 * boundary), the number parsers against strtod, frames written and read
 * back, and ade_ingest_run on small inputs: inference, every quarantine
 * reason, on_malformed modes, thresholds and bad configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/ndjson.h"
#include "core/numparse.h"
#include "core/util.h"
#include "stages/ingest/ingest.h"

#include <locale.h>
#include <math.h>

/* ---------- CSV reader ---------- */

/* Records as text: fields joined by '|', records by ';', '!' = bad. */
static char *csv_dump(const char *text, size_t len, char delim)
{
	struct ade_csv_reader *r = ade_csv_new_mem(text, len, delim, 0);
	struct ade_csv_record rec;
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	int rc, n = 0;

	ade_strbuf_adds(&sb, "");
	while ((rc = ade_csv_next(r, &rec, NULL)) > 0) {
		if (n++)
			ade_strbuf_addc(&sb, ';');
		if (rec.status)
			ade_strbuf_addc(&sb, '!');
		for (size_t i = 0; i < rec.nfields; i++) {
			if (i)
				ade_strbuf_addc(&sb, '|');
			ade_strbuf_add(&sb, rec.fields[i].p, rec.fields[i].len);
		}
	}
	assert_int_equal(rc, 0);
	ade_csv_free(r);
	return ade_strbuf_detach(&sb);
}

static const struct {
	const char *in;
	char delim;
	const char *want;
} csv_cases[] = {
	{"a,b\n1,2\n", ',', "a|b;1|2"},
	{"a,b\n1,2", ',', "a|b;1|2"},                       /* no final newline */
	{"a,b\r\n1,2\r\n", ',', "a|b;1|2"},                 /* CRLF */
	{"a,b\r1,2\r", ',', "a|b;1|2"},                     /* lone CR ends a record */
	{"a\rb", ',', "a;b"},
	{"\"x,y\",z\n", ',', "x,y|z"},                     /* embedded delimiter */
	{"\"a\"\"b\",c\n", ',', "a\"b|c"},                 /* doubled quote */
	{"\"\"\"\"\n", ',', "\""},                         /* only a quote */
	{"\"a\nb\",c\n", ',', "a\nb|c"},                   /* embedded LF */
	{"\"a\r\nb\",c\r\n", ',', "a\r\nb|c"},             /* embedded CRLF */
	{",,\n", ',', "||"},                               /* empty fields */
	{"\"\",x\n", ',', "|x"},                           /* empty quoted */
	{"a,b,\n", ',', "a|b|"},                           /* trailing delimiter */
	{"", ',', ""},                                     /* empty file */
	{"a,b\n", ',', "a|b"},                             /* header only */
	{"\xEF\xBB\xBF" "a,b\n", ',', "a|b"},              /* BOM */
	{"a\n\n\r\n\nb\n", ',', "a;b"},                    /* blank lines */
	{"\"abc\"", ',', "abc"},                           /* quoted at EOF */
	{"a\"b,c\n", ',', "a\"b|c"},                       /* quote inside unquoted */
	{"\"abc\n", ',', "!abc\n"},                        /* unterminated */
	{"\"a\"b,c\n1,2\n", ',', "!a|c;1|2"},              /* text after quote */
	{"a;b\n\"1;2\";3\n", ';', "a|b;1;2|3"},
	{"a\tb\n1\t2\n", '\t', "a|b;1|2"},
	{"a|b\n1|\"2|3\"\n", '|', "a|b;1|2|3"},
	{"a,b\n1,2\n", ';', "a,b;1,2"},                    /* other delimiter */
	{"\"x\"\r\n\"y\"", ',', "x;y"},
};

static void test_csv_table(void **state)
{
	for (int pass = 0; pass < 3; pass++) {
		/* Pass 1 reads one byte at a time, pass 2 three: every record
		 * then crosses buffer refills. */
		if (pass == 1)
			setenv("ADE_CSV_READ_LIMIT", "1", 1);
		if (pass == 2)
			setenv("ADE_CSV_READ_LIMIT", "3", 1);
		for (size_t i = 0; i < sizeof(csv_cases) / sizeof(csv_cases[0]); i++) {
			char *got = csv_dump(csv_cases[i].in, strlen(csv_cases[i].in), csv_cases[i].delim);
			if (strcmp(got, csv_cases[i].want))
				fail_msg("case %zu (pass %d): got '%s' want '%s'", i, pass, got,
					 csv_cases[i].want);
			free(got);
		}
	}
	unsetenv("ADE_CSV_READ_LIMIT");
}

static void test_csv_lines_offsets(void **state)
{
	const char *t = "h1,h2\n\"a\nb\",c\nd,e\r\n\nf,g";
	struct ade_csv_reader *r = ade_csv_new_mem(t, strlen(t), ',', 0);
	struct ade_csv_record rec;
	int64_t lines[4], offs[4];
	int n = 0;

	while (ade_csv_next(r, &rec, NULL) > 0 && n < 4) {
		lines[n] = rec.line;
		offs[n] = rec.offset;
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(lines[0], 1);
	assert_int_equal(lines[1], 2);
	assert_int_equal(lines[2], 4);
	assert_int_equal(lines[3], 6);
	assert_int_equal(offs[1], 6);
	assert_int_equal(offs[2], 14);
	assert_int_equal(offs[3], 20);
	ade_csv_free(r);
}

/*
 * Records straddling the reader's 64 KiB index windows and its refills:
 * quoted fields with delimiters, doubled quotes and line breaks, quotes
 * inside unquoted fields and non-ASCII bytes, checked field by field, with
 * line numbers, and rec.ascii never claiming ASCII for a non-ASCII record.
 */
static void test_csv_index_windows(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const int n = 6000;

	for (int i = 0; i < n; i++) {
		int pad = (i * 37) % 90;
		ade_strbuf_addf(&sb, "%d,", i);
		switch (i % 4) {
		case 0: ade_strbuf_addf(&sb, "\"a,%*s\"", pad, ""); break;
		case 1: ade_strbuf_addf(&sb, "\"q\"\"%d\"\"\n%*s\"", i, pad, ""); break;
		case 2: ade_strbuf_addf(&sb, "b\"%*s", pad, ""); break;
		default: ade_strbuf_addf(&sb, "\xC3\xA9%*s", pad, ""); break;
		}
		ade_strbuf_adds(&sb, i % 5 ? ",z\n" : ",z\r\n");
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			setenv("ADE_CSV_READ_LIMIT", "5000", 1);
		struct ade_csv_reader *r = ade_csv_new_mem(sb.buf, sb.len, ',', 0);
		struct ade_csv_record rec;
		int i = 0, ascii = 0;
		int64_t line = 1;
		while (ade_csv_next(r, &rec, NULL) > 0) {
			char want[256];
			int pad = (i * 37) % 90;
			assert_int_equal(rec.status, ADE_CSV_OK);
			assert_int_equal(rec.nfields, 3);
			assert_int_equal(rec.line, line);
			line += 1 + (i % 4 == 1);
			switch (i % 4) {
			case 0: snprintf(want, sizeof(want), "a,%*s", pad, ""); break;
			case 1: snprintf(want, sizeof(want), "q\"%d\"\n%*s", i, pad, ""); break;
			case 2: snprintf(want, sizeof(want), "b\"%*s", pad, ""); break;
			default: snprintf(want, sizeof(want), "\xC3\xA9%*s", pad, ""); break;
			}
			assert_int_equal(rec.fields[1].len, strlen(want));
			assert_memory_equal(rec.fields[1].p, want, strlen(want));
			assert_int_equal(rec.fields[2].len, 1);
			if (rec.ascii) {
				for (size_t k = 0; k < rec.raw_len; k++)
					assert_true((unsigned char)rec.raw[k] < 0x80);
				ascii++;
			}
			i++;
		}
		assert_int_equal(i, n);
#if defined(__SSE2__) && !defined(ADE_CSV_NO_SIMD)
		assert_true(ascii > n / 2); /* the index found the ASCII records */
#endif
		ade_csv_free(r);
	}
	unsetenv("ADE_CSV_READ_LIMIT");
	ade_strbuf_release(&sb);
}

static void test_csv_big_field(void **state)
{
	size_t big = 1 << 20; /* a 1 MiB field: the buffer grows for it */
	char *t = ade_xmalloc(big + 64);
	size_t n = 0;

	memcpy(t, "a,b\n\"", 5);
	n = 5;
	memset(t + n, 'x', big);
	n += big;
	memcpy(t + n, "\",2\n3,4\n", 8);
	n += 8;
	struct ade_csv_reader *r = ade_csv_new_mem(t, n, ',', 4u << 20);
	struct ade_csv_record rec;
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_int_equal(rec.status, 0);
	assert_int_equal(rec.nfields, 2);
	assert_int_equal(rec.fields[0].len, big);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_memory_equal(rec.fields[0].p, "3", 1);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 0);
	ade_csv_free(r);

	/* Over max_record: reported once, then the next record is intact. */
	r = ade_csv_new_mem(t, n, ',', 1 << 20);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_int_equal(rec.status, ADE_CSV_TOO_LARGE);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 1);
	assert_int_equal(rec.status, 0);
	assert_memory_equal(rec.fields[0].p, "3", 1);
	assert_int_equal(ade_csv_next(r, &rec, NULL), 0);
	ade_csv_free(r);
	free(t);
}

/* ---------- NDJSON reader ---------- */

static void test_ndjson(void **state)
{
	const char *t = "{\"a\":1,\"b\":{\"c\":\"x\\\"y\",\"d\":{\"e\":true}},\"f\":[1,{\"g\":2}],\"h\":null}\n"
			"\n"
			"{\"u\":\"\\u00e9\\ud83d\\ude00\"}\r\n"
			"[1,2]\n"
			"{\"a\":1,}\n"
			"{\"a\":1} x\n"
			"{\"a\":\"unterminated}\n"
			"{}";
	struct ade_nd_reader *r = ade_nd_new_mem(t, strlen(t), 0);
	struct ade_nd_record rec;

	assert_int_equal(ade_nd_next(r, &rec, NULL), 1);
	assert_int_equal(rec.status, ADE_ND_OK);
	assert_int_equal(rec.nfields, 5);
	assert_int_equal(rec.fields[1].key_len, 3);
	assert_memory_equal(rec.fields[1].key, "b.c", 3);
	assert_memory_equal(rec.fields[1].p, "x\"y", 3);
	assert_memory_equal(rec.fields[2].key, "b.d.e", 5);
	assert_int_equal(rec.fields[2].kind, ADE_ND_BOOL);
	assert_int_equal(rec.fields[3].kind, ADE_ND_ARRAY);
	assert_memory_equal(rec.fields[3].p, "[1,{\"g\":2}]", 11);
	assert_int_equal(rec.fields[4].kind, ADE_ND_NULL);
	assert_int_equal(ade_nd_next(r, &rec, NULL), 1);
	assert_int_equal(rec.line, 3);
	assert_int_equal(rec.fields[0].len, 6);
	assert_memory_equal(rec.fields[0].p, "\xc3\xa9\xf0\x9f\x98\x80", 6);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ade_nd_next(r, &rec, NULL), 1);
		assert_int_equal(rec.status, ADE_ND_BAD_JSON);
	}
	assert_int_equal(ade_nd_next(r, &rec, NULL), 1);
	assert_int_equal(rec.status, ADE_ND_OK);
	assert_int_equal(rec.nfields, 0);
	assert_int_equal(ade_nd_next(r, &rec, NULL), 0);
	ade_nd_free(r);
}

/* ---------- numbers ---------- */

static void test_numparse(void **state)
{
	int64_t i;
	double d;

	assert_int_equal(ade_parse_i64("9223372036854775807", 19, &i), ADE_NUM_OK);
	assert_true(i == INT64_MAX);
	assert_int_equal(ade_parse_i64("-9223372036854775808", 20, &i), ADE_NUM_OK);
	assert_true(i == INT64_MIN);
	assert_int_equal(ade_parse_i64("9223372036854775808", 19, &i), ADE_NUM_RANGE);
	assert_int_equal(ade_parse_i64("-9223372036854775809", 20, &i), ADE_NUM_RANGE);
	assert_int_equal(ade_parse_i64("123456789012345678901234", 24, &i), ADE_NUM_RANGE);
	assert_int_equal(ade_parse_i64("12a", 3, &i), ADE_NUM_SYNTAX);
	assert_int_equal(ade_parse_i64("-", 1, &i), ADE_NUM_SYNTAX);
	assert_int_equal(ade_parse_i64("", 0, &i), ADE_NUM_SYNTAX);
	assert_int_equal(ade_parse_f64("0x10", 4, &d), -1);
	assert_int_equal(ade_parse_f64("1e", 2, &d), -1);
	assert_int_equal(ade_parse_f64(".", 1, &d), -1);
	assert_int_equal(ade_parse_f64("1,5", 3, &d), -1);
	assert_int_equal(ade_parse_f64("-0", 2, &d), 0);
	assert_true(d == 0 && signbit(d));
	assert_int_equal(ade_parse_f64("NaN", 3, &d), 0);
	assert_true(isnan(d));
	assert_int_equal(ade_parse_f64("-inf", 4, &d), 0);
	assert_true(isinf(d) && d < 0);

	/* Bit-for-bit strtod, in a locale whose decimal point is a comma if
	 * one is installed (the parser must not care). */
	setlocale(LC_NUMERIC, "de_DE.UTF-8");
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	uint64_t x = 88172645463325252ull;
	char buf[64];
	for (int k = 0; k < 200000; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int kind = (int)(x % 5);
		int n;
		switch (kind) {
		case 0: n = snprintf(buf, sizeof(buf), "%llu.%02llu", (unsigned long long)(x >> 40) % 100000, (unsigned long long)(x >> 20) % 100); break;
		case 1: n = snprintf(buf, sizeof(buf), "-%llu.%llu", (unsigned long long)(x >> 30), (unsigned long long)(x >> 3)); break;
		case 2: n = snprintf(buf, sizeof(buf), "%.17g", (double)(x >> 11) * 0x1.0p-53 * 1e6); break;
		case 3: n = snprintf(buf, sizeof(buf), "%llue%d", (unsigned long long)(x >> 45), (int)(x % 61) - 30); break;
		default: n = snprintf(buf, sizeof(buf), "0.%019llu", (unsigned long long)x % 10000000000000000000ull); break;
		}
		double want = strtod_l(buf, NULL, c), got;
		assert_int_equal(ade_parse_f64(buf, (size_t)n, &got), 0);
		if (memcmp(&want, &got, 8))
			fail_msg("'%s': got %.17g want %.17g", buf, got, want);
	}
	freelocale(c);
	setlocale(LC_NUMERIC, "C");

	int64_t days, us;
	assert_int_equal(ade_parse_date("2024-02-29", 10, &days), 0);
	int64_t d2;
	assert_int_equal(ade_parse_date("29.02.2024", 10, &d2), 0);
	assert_true(days == d2);
	assert_int_equal(ade_parse_date("2024/02/29", 10, &d2), 0);
	assert_true(days == d2);
	assert_int_equal(ade_parse_date("2023-02-29", 10, &d2), -1);
	assert_int_equal(ade_parse_timestamp("1970-01-02T00:00:01.5Z", 22, &us), 0);
	assert_true(us == 86401500000);
	assert_int_equal(ade_parse_timestamp("1970-01-01 01:00:00+01:00", 25, &us), 0);
	assert_true(us == 0);
	assert_int_equal(ade_parse_timestamp("1970-01-01T25:00:00", 19, &us), -1);
}

/* ---------- frames ---------- */

static void test_frame_roundtrip(void **state)
{
	char *dir = tu_mkdtemp();
	char *fdir = ade_xasprintf("%s/frame", dir);
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	const char *dict[] = {"blue", "red"};
	size_t dl[] = {4, 3};
	const int64_t rows = 70000; /* several buffer flushes */

	assert_int_equal(ade_frame_writer_open(fdir, &w, &err), 0);
	assert_int_equal(ade_frame_writer_add(w, "i", ADE_TYPE_INT64, &err), 0);
	assert_int_equal(ade_frame_writer_add(w, "f", ADE_TYPE_FLOAT64, &err), 1);
	assert_int_equal(ade_frame_writer_add(w, "b", ADE_TYPE_BOOL, &err), 2);
	assert_int_equal(ade_frame_writer_add(w, "d", ADE_TYPE_DATE, &err), 3);
	assert_int_equal(ade_frame_writer_add(w, "t", ADE_TYPE_TIMESTAMP, &err), 4);
	assert_int_equal(ade_frame_writer_add(w, "c", ADE_TYPE_CATEGORICAL, &err), 5);
	assert_int_equal(ade_frame_writer_add(w, "s/weird.name", ADE_TYPE_STRING, &err), 6);
	ade_frame_writer_set_dict(w, 5, dict, dl, 2);
	for (int64_t r = 0; r < rows; r++) {
		char s[32];
		int n = snprintf(s, sizeof(s), "v%lld", (long long)r);
		ade_frame_put_i64(w, 0, r * 3);
		if (r % 7 == 0)
			ade_frame_put_null(w, 1);
		else
			ade_frame_put_f64(w, 1, (double)r / 4);
		ade_frame_put_bool(w, 2, r & 1);
		ade_frame_put_i64(w, 3, r);
		ade_frame_put_i64(w, 4, r * 1000000);
		if (r % 5 == 0)
			ade_frame_put_null(w, 5);
		else
			ade_frame_put_code(w, 5, (int32_t)(r & 1));
		ade_frame_put_str(w, 6, s, (size_t)n);
	}
	struct ade_frame_info info = {0};
	assert_int_equal(ade_frame_writer_finish(w, NULL, &info, &err), 0);
	ade_frame_writer_free(w);
	assert_int_equal(info.rows, rows);
	assert_non_null(info.schema);
	cJSON_Delete(info.schema);

	struct ade_frame *f;
	if (ade_frame_open(fdir, &f, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(f->rows, rows);
	assert_int_equal(f->ncols, 7);
	assert_null(f->cols[0].valid);
	assert_non_null(f->cols[1].valid);
	assert_int_equal(f->cols[1].null_count, (rows + 6) / 7);
	assert_int_equal(ade_frame_find(f, "s/weird.name"), 6);
	for (int64_t r = 0; r < rows; r++) {
		assert_true(((const int64_t *)f->cols[0].data)[r] == r * 3);
		if (r % 7 == 0)
			assert_true(ade_frame_is_null(&f->cols[1], r));
		else
			assert_true(((const double *)f->cols[1].data)[r] == (double)r / 4);
		assert_int_equal(((const uint8_t *)f->cols[2].data)[r], r & 1);
		assert_true(((const int64_t *)f->cols[4].data)[r] == r * 1000000);
		size_t len;
		const char *s = ade_frame_str(&f->cols[5], r, &len);
		if (r % 5 == 0)
			assert_int_equal(len, 0);
		else
			assert_memory_equal(s, r & 1 ? "red" : "blue", len);
		char want[32];
		int n = snprintf(want, sizeof(want), "v%lld", (long long)r);
		s = ade_frame_str(&f->cols[6], r, &len);
		assert_int_equal(len, (size_t)n);
		assert_memory_equal(s, want, len);
	}
	ade_frame_close(f);

	/* A frame is not written over a non-empty directory. */
	assert_int_equal(ade_frame_writer_open(fdir, &w, &err), 0);
	assert_int_equal(ade_frame_writer_add(w, "x", ADE_TYPE_INT64, &err), 0);
	assert_int_not_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_abort(w);
	ade_frame_writer_free(w);
	free(fdir);
	tu_rmdir(dir);
}

/* ---------- ade_ingest_run ---------- */

struct run {
	char *dir;
	int rc;
	struct ade_error err;
	cJSON *result;
	struct ade_frame *frame;
};

static void run_ingest(struct run *r, const char *name, const char *data, size_t len,
		       const char *config)
{
	struct ade_stage_ctx ctx = {0};
	char *src = ade_xasprintf("%s/%s", r->dir, name);
	char *out = ade_xasprintf("%s/out", r->dir);

	if (data) {
		FILE *f = fopen(src, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, len, f), len);
		fclose(f);
	}
	ade_fs_remove_tree(out, NULL);
	assert_int_equal(ade_fs_mkdirs(out, NULL), 0);
	ctx.pipeline = "p";
	ctx.stage = "ingest";
	ctx.ds = "2026-01-01";
	ctx.out = out;
	ctx.source = src;
	if (ade_json_parse("config", config, strlen(config), &ctx.config, NULL))
		fail_msg("bad test config %s", config);
	memset(&r->err, 0, sizeof(r->err));
	r->rc = ade_ingest_run(&ctx, &r->err);
	cJSON_Delete(ctx.config);
	cJSON_Delete(r->result);
	r->result = NULL;
	ade_frame_close(r->frame);
	r->frame = NULL;
	char *res = ade_xasprintf("%s/result.json", out);
	if (ade_fs_exists(res))
		assert_int_equal(ade_json_read_file(res, &r->result, NULL), 0);
	free(res);
	char *fd = ade_xasprintf("%s/frame", out);
	if (ade_fs_exists(fd))
		assert_int_equal(ade_frame_open(fd, &r->frame, NULL), 0);
	free(fd);
	free(src);
	free(out);
}

static void run_free(struct run *r)
{
	cJSON_Delete(r->result);
	ade_frame_close(r->frame);
	tu_rmdir(r->dir);
}

static const char *col_type(struct run *r, const char *name)
{
	int i = ade_frame_find(r->frame, name);
	assert_true(i >= 0);
	return ade_type_name(r->frame->cols[i].type);
}

static double quarantined(struct run *r, const char *reason)
{
	cJSON *q = cJSON_GetObjectItem(r->result, "quarantine");
	return ade_json_num(cJSON_GetObjectItem(q, "by_reason"), reason, -1);
}

static char *qfile(struct run *r)
{
	char *p = ade_xasprintf("%s/out/quarantine.ndjson", r->dir), *text = NULL;
	size_t n;
	assert_int_equal(ade_fs_read_all(p, 1 << 20, &text, &n, NULL), 0);
	free(p);
	return text;
}

static void test_inference(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_adds(&sb, "i,f,big,bigf,d,ts,b,cat,s,late\n");
	for (int k = 0; k < 300; k++)
		ade_strbuf_addf(&sb, "%d,%d,99999999999999999%03d,1%d,%s,2026-01-01T00:00:%02dZ,%s,%s,name%d,%d\n",
				k, k, k, k, k % 2 ? "2024-01-05" : "06.01.2024", k % 60,
				k % 3 ? "true" : "FALSE", k % 2 ? "x" : "y", k, k);
	ade_strbuf_adds(&sb, "1,3.5,99999999999999999999,0.5,2024/01/07,2026-01-01,true,x,z,NA\n");
	run_ingest(&r, "in.csv", sb.buf, sb.len, "{}");
	assert_int_equal(r.rc, 0);
	assert_string_equal(col_type(&r, "i"), "int64");
	assert_string_equal(col_type(&r, "f"), "float64");     /* int until the last row */
	assert_string_equal(col_type(&r, "big"), "string");    /* past int64: string */
	assert_string_equal(col_type(&r, "bigf"), "float64");
	assert_string_equal(col_type(&r, "d"), "date");        /* three date formats */
	assert_string_equal(col_type(&r, "ts"), "timestamp");  /* a date among timestamps */
	assert_string_equal(col_type(&r, "b"), "bool");
	assert_string_equal(col_type(&r, "cat"), "categorical");
	assert_string_equal(col_type(&r, "s"), "string");
	assert_string_equal(col_type(&r, "late"), "int64");
	int fi = ade_frame_find(r.frame, "f");
	assert_true(((const double *)r.frame->cols[fi].data)[300] == 3.5);
	int li = ade_frame_find(r.frame, "late");
	assert_true(ade_frame_is_null(&r.frame->cols[li], 300));
	int di = ade_frame_find(r.frame, "d");
	const int64_t *dd = r.frame->cols[di].data;
	assert_true(dd[0] == dd[1] + 1 && dd[300] == dd[1] + 2);
	assert_int_equal((int)ade_json_num(r.result, "rows_written", 0), 301);

	/* Hints win over inference. */
	run_ingest(&r, "in.csv", sb.buf, sb.len,
		   "{\"schema_hints\": {\"i\": \"float64\", \"cat\": \"string\", \"big\": \"float64\"}}");
	assert_int_equal(r.rc, 0);
	assert_string_equal(col_type(&r, "i"), "float64");
	assert_string_equal(col_type(&r, "cat"), "string");
	assert_string_equal(col_type(&r, "big"), "float64");
	ade_strbuf_release(&sb);
	run_free(&r);
}

static void test_quarantine_reasons(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_adds(&sb, "id,name,score\n");
	for (int k = 0; k < 500; k++)
		ade_strbuf_addf(&sb, "%d,n%d,%d.5\n", k, k, k);
	ade_strbuf_adds(&sb, "1,short\n");                 /* field_count */
	ade_strbuf_adds(&sb, "2,\"bad\"quote,1\n");        /* bad_quote */
	ade_strbuf_adds(&sb, "3,\xff\xfe,1\n");            /* invalid_utf8 */
	ade_strbuf_adds(&sb, "4,aaaaaaaaaaaaaaaaaaaaaaaaaaaa,1\n"); /* field_too_large */
	ade_strbuf_adds(&sb, "unknown,x,1\n");             /* type_mismatch in int */
	ade_strbuf_adds(&sb, "6,x,N/A\n");                 /* N/A not missing here */
	run_ingest(&r, "in.csv", sb.buf, sb.len,
		   "{\"max_field_bytes\": 20, \"missing\": [\"NA\"]}");
	assert_int_equal(r.rc, 0);
	assert_string_equal(col_type(&r, "id"), "int64");
	assert_string_equal(col_type(&r, "score"), "float64");
	assert_int_equal((int)quarantined(&r, "field_count"), 1);
	assert_int_equal((int)quarantined(&r, "bad_quote"), 1);
	assert_int_equal((int)quarantined(&r, "invalid_utf8"), 1);
	assert_int_equal((int)quarantined(&r, "field_too_large"), 1);
	assert_int_equal((int)quarantined(&r, "type_mismatch"), 2);
	assert_int_equal((int)ade_json_num(r.result, "rows_read", 0), 506);
	assert_int_equal((int)ade_json_num(r.result, "rows_written", 0), 500);
	assert_int_equal(r.frame->rows, 500);
	char *q = qfile(&r);
	assert_non_null(strstr(q, "\"line\":502,\"offset\":"));
	assert_non_null(strstr(q, "\"column\":\"name\",\"reason\":\"invalid_utf8\""));
	assert_non_null(strstr(q, "\"raw\":\"3,\xEF\xBF\xBD\xEF\xBF\xBD,1\",\"raw_base64\":\"Myz//iwx\""));
	assert_non_null(strstr(q, "\"column\":\"score\",\"reason\":\"type_mismatch\""));
	/* Every line is JSON. */
	for (char *line = strtok(q, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *j;
		assert_int_equal(ade_json_parse("q", line, strlen(line), &j, NULL), 0);
		cJSON_Delete(j);
	}
	free(q);

	/* on_malformed: null keeps the rows, nulling the bad fields. */
	run_ingest(&r, "in.csv", sb.buf, sb.len,
		   "{\"max_field_bytes\": 20, \"missing\": [\"NA\"], \"on_malformed\": \"null\"}");
	assert_int_equal(r.rc, 0);
	/* Only the bad quote is dropped; the short row is padded with nulls. */
	assert_int_equal((int)ade_json_num(r.result, "rows_written", 0), 505);
	assert_int_equal((int)quarantined(&r, "bad_quote"), 1);
	assert_int_equal((int)quarantined(&r, "type_mismatch"), 0);

	/* on_malformed: fail stops at the first bad record. */
	run_ingest(&r, "in.csv", sb.buf, sb.len, "{\"on_malformed\": \"fail\"}");
	assert_int_equal(r.rc, ADE_EDATA);
	assert_int_equal(ade_ingest_exit_code(r.rc), 65);
	assert_non_null(strstr(r.err.msg, "field_count"));
	assert_null(r.frame);

	/* Thresholds: 6 of 506 is 1.2%. */
	run_ingest(&r, "in.csv", sb.buf, sb.len, "{\"max_field_bytes\": 20, \"missing\": [\"NA\"], "
		   "\"thresholds\": {\"warn\": 0.001, \"fail\": \"1%\"}}");
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(ade_json_str(r.result, "status", ""), "failed");
	run_ingest(&r, "in.csv", sb.buf, sb.len, "{\"max_field_bytes\": 20, \"missing\": [\"NA\"], "
		   "\"thresholds\": {\"warn\": \"1%\", \"fail\": \"2%\"}}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.result, "warnings")), 1);
	ade_strbuf_release(&sb);
	run_free(&r);
}

static void test_ndjson_ingest(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	const char *t = "{\"id\":1,\"user\":{\"name\":\"a\",\"age\":30},\"amount\":1.5}\n"
			"{\"id\":2,\"user\":{\"name\":\"b\"},\"extra\":\"x\"}\n"
			"{\"id\":3,\"amount\":null}\n"
			"{\"id\":4,\n"
			"{\"id\":5,\"user\":{\"name\":\"c\",\"age\":41},\"amount\":2}\n";

	run_ingest(&r, "ev.ndjson", t, strlen(t), "{}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.frame->rows, 4);
	assert_string_equal(col_type(&r, "user.age"), "int64");
	assert_string_equal(col_type(&r, "amount"), "float64");
	int e = ade_frame_find(r.frame, "extra");
	assert_true(e >= 0);
	assert_int_equal(r.frame->cols[e].null_count, 3);
	int a = ade_frame_find(r.frame, "user.age");
	assert_int_equal(r.frame->cols[a].null_count, 2);
	assert_int_equal((int)quarantined(&r, "bad_json"), 1);
	run_free(&r);
}

static void test_bad_config(void **state)
{
	static const struct {
		const char *config, *key;
	} cases[] = {
		{"{\"delimter\": \",\"}", "delimter"},
		{"{\"delimiter\": \"::\"}", "delimiter"},
		{"{\"format\": \"xml\"}", "format"},
		{"{\"on_malformed\": \"skip\"}", "on_malformed"},
		{"{\"thresholds\": {\"fail\": \"150%\"}}", "thresholds.fail"},
		{"{\"thresholds\": {\"warn\": \"abc\"}}", "thresholds.warn"},
		{"{\"thresholds\": {\"panic\": 1}}", "thresholds.panic"},
		{"{\"schema_hints\": {\"a\": \"integer\"}}", "schema_hints.a"},
		{"{\"missing\": \"NA\"}", "missing"},
		{"{\"max_field_bytes\": -1}", "max_field_bytes"},
		{"{\"header\": false}", "columns"},
		{"{\"header\": \"yes\"}", "header"},
	};
	struct run r = {.dir = tu_mkdtemp()};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_ingest(&r, "in.csv", "a\n1\n", 4, cases[i].config);
		assert_int_equal(r.rc, ADE_EINVAL);
		assert_int_equal(ade_ingest_exit_code(r.rc), 2);
		if (!strstr(r.err.msg, cases[i].key))
			fail_msg("'%s' does not name '%s'", r.err.msg, cases[i].key);
	}
	run_ingest(&r, "missing.csv", NULL, 0, "{}");
	assert_int_equal(r.rc, ADE_ENOTFOUND);
	assert_int_equal(ade_ingest_exit_code(r.rc), 1);
	assert_non_null(strstr(r.err.msg, "missing.csv"));
	run_free(&r);
}

static void test_columns_and_glob(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};

	/* No header: columns name the fields. */
	run_ingest(&r, "in.csv", "1;x\n2;y\n", 8,
		   "{\"columns\": [\"n\", \"s\"], \"delimiter\": \";\"}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.frame->rows, 2);
	assert_string_equal(col_type(&r, "n"), "int64");

	/* A glob reads files in sorted order, matching columns by name. */
	char *p = ade_xasprintf("%s/b.csv", r.dir);
	FILE *f = fopen(p, "w");
	fputs("id,v\n3,c\n", f);
	fclose(f);
	free(p);
	p = ade_xasprintf("%s/a.csv", r.dir);
	f = fopen(p, "w");
	fputs("v,id\na,1\nb,2\n", f);
	fclose(f);
	free(p);
	run_ingest(&r, "[ab].csv", NULL, 0, "{}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.frame->rows, 3);
	int id = ade_frame_find(r.frame, "id");
	const int64_t *v = r.frame->cols[id].data;
	assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3);

	/* Empty and header-only files give an empty frame. */
	run_ingest(&r, "empty.csv", "", 0, "{}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.frame->rows, 0);
	run_ingest(&r, "h.csv", "a,b\n", 4, "{}");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.frame->rows, 0);
	assert_int_equal(r.frame->ncols, 2);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_table),
		cmocka_unit_test(test_csv_lines_offsets),
		cmocka_unit_test(test_csv_index_windows),
		cmocka_unit_test(test_csv_big_field),
		cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_numparse),
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_inference),
		cmocka_unit_test(test_quarantine_reasons),
		cmocka_unit_test(test_ndjson_ingest),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_columns_and_glob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
