/*
 * ade-schema: the profile, hash and rename confidence on their own, and
 * ade_schema_run on small frames for every change kind, every policy,
 * renames that are and are not healed, required columns, contracts, the
 * warehouse baseline and bad configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/stage.h"
#include "core/util.h"
#include "stages/schema/schema.h"

#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------- frames from a compact description ---------- */

struct colspec {
	const char *name;
	enum ade_type type;
	int64_t a, b;   /* generator parameters, per type below */
	int null_every; /* row i is null when i % null_every == 0 (0: never) */
};

static const char *colors[] = {"blue", "green", "red"};

/*
 * int64: a + i*7919 % b (b = 0: a + i); float64: a + (i % b) / 2;
 * date, timestamp: a + i % b; categorical: colors[i % 3]; string: "s<i % b>";
 * bool: i % 2.
 */
static void make_frame(const char *dir, const struct colspec *cols, int n, int64_t rows)
{
	struct ade_frame_writer *w;
	struct ade_error err = {0};
	size_t lens[3] = {4, 5, 3};

	assert_int_equal(ade_frame_writer_open(dir, &w, &err), 0);
	for (int c = 0; c < n; c++) {
		assert_int_equal(ade_frame_writer_add(w, cols[c].name, cols[c].type, &err), c);
		if (cols[c].type == ADE_TYPE_CATEGORICAL)
			ade_frame_writer_set_dict(w, c, colors, lens, 3);
	}
	for (int64_t i = 0; i < rows; i++)
		for (int c = 0; c < n; c++) {
			const struct colspec *s = &cols[c];
			if (s->null_every && i % s->null_every == 0) {
				ade_frame_put_null(w, c);
				continue;
			}
			switch (s->type) {
			case ADE_TYPE_INT64:
				ade_frame_put_i64(w, c, s->b ? s->a + i * 7919 % s->b : s->a + i);
				break;
			case ADE_TYPE_FLOAT64:
				ade_frame_put_f64(w, c, (double)s->a + (double)(i % s->b) / 2);
				break;
			case ADE_TYPE_DATE:
			case ADE_TYPE_TIMESTAMP:
				ade_frame_put_i64(w, c, s->a + i % s->b);
				break;
			case ADE_TYPE_CATEGORICAL:
				ade_frame_put_code(w, c, (int32_t)(i % 3));
				break;
			case ADE_TYPE_STRING: {
				char buf[32];
				int len = snprintf(buf, sizeof(buf), "s%lld", (long long)(i % s->b));
				ade_frame_put_str(w, c, buf, (size_t)len);
				break;
			}
			case ADE_TYPE_BOOL:
				ade_frame_put_bool(w, c, (int)(i % 2));
				break;
			}
		}
	assert_int_equal(ade_frame_writer_finish(w, NULL, NULL, &err), 0);
	ade_frame_writer_free(w);
}

/* ---------- running the stage in process ---------- */

struct run {
	char *dir;
	int n;
	int rc;
	struct ade_error err;
	cJSON *result;
	struct ade_frame *in, *out;
	char *result_path;
};

static void run_reset(struct run *r)
{
	cJSON_Delete(r->result);
	ade_frame_close(r->in);
	ade_frame_close(r->out);
	free(r->result_path);
	r->result = NULL;
	r->in = r->out = NULL;
	r->result_path = NULL;
}

static void run_free(struct run *r)
{
	run_reset(r);
	tu_rmdir(r->dir);
}

static void run_schema(struct run *r, const char *ds, const char *config,
		       const struct colspec *cols, int ncols, int64_t rows)
{
	struct ade_stage_ctx ctx;
	char *in, *frame, *out, *cfg, *ofr, *wh;

	run_reset(r);
	r->n++;
	in = ade_xasprintf("%s/in-%d", r->dir, r->n);
	frame = ade_xasprintf("%s/frame", in);
	out = ade_xasprintf("%s/out-%d", r->dir, r->n);
	assert_int_equal(mkdir(in, 0755), 0);
	assert_int_equal(mkdir(out, 0755), 0);
	make_frame(frame, cols, ncols, rows);
	char *cname = ade_xasprintf("cfg-%d.json", r->n);
	cfg = tu_write(r->dir, cname, config);
	free(cname);
	wh = ade_xasprintf("%s/warehouse.db", r->dir);
	setenv("ADE_PIPELINE", "p", 1);
	setenv("ADE_STAGE", "schema", 1);
	setenv("ADE_DS", ds, 1);
	setenv("ADE_OUT", out, 1);
	setenv("ADE_CONFIG", cfg, 1);
	setenv("ADE_IN_INGEST", in, 1);
	setenv("ADE_WAREHOUSE", wh, 1);
	unsetenv("ADE_CONFIG_POS");
	memset(&r->err, 0, sizeof(r->err));
	assert_int_equal(ade_stage_init(&ctx, &r->err), 0);
	r->rc = ade_schema_run(&ctx, &r->err);
	ade_stage_release(&ctx);
	r->result_path = ade_xasprintf("%s/result.json", out);
	if (ade_fs_exists(r->result_path))
		assert_int_equal(ade_json_read_file(r->result_path, &r->result, NULL), 0);
	assert_int_equal(ade_frame_open(frame, &r->in, NULL), 0);
	ofr = ade_xasprintf("%s/frame", out);
	if (ade_fs_exists(ofr))
		assert_int_equal(ade_frame_open(ofr, &r->out, &r->err), 0);
	/* Nothing but the frame and result.json is left in ADE_OUT. */
	char *gen = ade_xasprintf("%s/.generated", out);
	assert_false(ade_fs_exists(gen));
	free(gen);
	free(in);
	free(frame);
	free(out);
	free(cfg);
	free(ofr);
	free(wh);
}

/* The change of kind on column in result.json, or NULL. */
static const cJSON *find_change(const struct run *r, const char *kind, const char *column)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(r->result, "changes"))
		if (!strcmp(ade_json_str(c, "kind", ""), kind) &&
		    !strcmp(ade_json_str(c, "column", ""), column))
			return c;
	return NULL;
}

static const char *action(const struct run *r, const char *kind, const char *column)
{
	const cJSON *c = find_change(r, kind, column);

	assert_non_null(c);
	return ade_json_str(c, "action", "");
}

static int nchanges(const struct run *r)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(r->result, "changes"));
}

static const char *decision(const struct run *r)
{
	return ade_json_str(r->result, "decision", "");
}

static char *cfg_with_baseline(const char *prev_result, const char *rest)
{
	return ade_xasprintf("{\"baseline\": \"%s\"%s%s}", prev_result, *rest ? ", " : "", rest);
}

static ino_t inode_of(const struct ade_frame *f, const char *col, const char *key)
{
	const cJSON *c;
	struct stat st;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(f->schema, "columns"))
		if (!strcmp(ade_json_str(c, "name", ""), col)) {
			char *p = ade_xasprintf("%s/%s", f->dir,
						ade_json_str(cJSON_GetObjectItem(c, "files"), key, "?"));
			assert_int_equal(stat(p, &st), 0);
			free(p);
			return st.st_ino;
		}
	fail_msg("no column %s", col);
	return 0;
}

/* ---------- the pieces ---------- */

static void test_type_change(void **state)
{
	assert_string_equal(ade_schema_type_change(ADE_TYPE_INT64, ADE_TYPE_FLOAT64), "widening");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_FLOAT64, ADE_TYPE_INT64), "narrowing");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_CATEGORICAL, ADE_TYPE_STRING), "widening");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_STRING, ADE_TYPE_CATEGORICAL), "narrowing");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_DATE, ADE_TYPE_TIMESTAMP), "widening");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_TIMESTAMP, ADE_TYPE_DATE), "narrowing");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_INT64, ADE_TYPE_STRING), "incompatible");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_BOOL, ADE_TYPE_INT64), "incompatible");
	assert_string_equal(ade_schema_type_change(ADE_TYPE_BOOL, ADE_TYPE_BOOL), "same");
}

static cJSON *J(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	return j;
}

static void test_confidence(void **state)
{
	cJSON *a = J("{\"name\":\"a\",\"type\":\"int64\",\"stats\":{\"rows\":1000,\"null_count\":0,"
		     "\"distinct\":500,\"min\":0,\"max\":499,\"mean\":250}}");
	cJSON *b = J("{\"name\":\"b\",\"type\":\"int64\",\"stats\":{\"rows\":1000,\"null_count\":0,"
		     "\"distinct\":500,\"min\":0,\"max\":499,\"mean\":250}}");
	cJSON *ev = cJSON_CreateObject();

	/* Equal statistics: certain. */
	assert_true(fabs(ade_schema_rename_confidence(a, b, ev) - 1.0) < 1e-12);
	assert_int_equal((int)ade_json_num(ev, "components", 0), 4);
	cJSON_Delete(ev);

	/* A null rate 5 points away scores 0 on that component: mean of 0,1,1,1. */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(b, "stats"), "null_count",
				  cJSON_CreateNumber(50));
	ev = cJSON_CreateObject();
	double c = ade_schema_rename_confidence(a, b, ev);
	assert_true(fabs(ade_json_num(ev, "null_rate", -1)) < 1e-12);
	assert_true(c < 0.9);
	cJSON_Delete(ev);

	/* Widening keeps a candidate at 0.95 of the score. */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(b, "stats"), "null_count",
				  cJSON_CreateNumber(0));
	cJSON_ReplaceItemInObject(b, "type", cJSON_CreateString("float64"));
	assert_true(fabs(ade_schema_rename_confidence(a, b, NULL) - 0.95) < 1e-12);

	/* Incompatible types never match. */
	cJSON_ReplaceItemInObject(b, "type", cJSON_CreateString("string"));
	assert_true(ade_schema_rename_confidence(a, b, NULL) == 0);

	/* One statistic alone is too little evidence. */
	cJSON *x = J("{\"name\":\"x\",\"type\":\"string\",\"stats\":{\"distinct\":3}}");
	cJSON *y = J("{\"name\":\"y\",\"type\":\"string\",\"stats\":{\"distinct\":3}}");
	assert_true(ade_schema_rename_confidence(x, y, NULL) == 0);
	cJSON_Delete(x);
	cJSON_Delete(y);

	/* Categoricals: top values' shares intersect. */
	x = J("{\"name\":\"x\",\"type\":\"categorical\",\"stats\":{\"rows\":100,\"null_count\":0,"
	      "\"distinct\":2,\"top\":[{\"value\":\"a\",\"count\":60},{\"value\":\"b\",\"count\":40}]}}");
	y = J("{\"name\":\"y\",\"type\":\"categorical\",\"stats\":{\"rows\":100,\"null_count\":0,"
	      "\"distinct\":2,\"top\":[{\"value\":\"a\",\"count\":40},{\"value\":\"c\",\"count\":60}]}}");
	ev = cJSON_CreateObject();
	ade_schema_rename_confidence(x, y, ev);
	assert_true(fabs(ade_json_num(ev, "top_values", -1) - 0.4) < 1e-12);
	cJSON_Delete(ev);
	cJSON_Delete(x);
	cJSON_Delete(y);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_profile_and_hash(void **state)
{
	char *dir = tu_mkdtemp();
	char *f1 = ade_xasprintf("%s/f1", dir), *f2 = ade_xasprintf("%s/f2", dir);
	struct colspec c1[] = {{"u", ADE_TYPE_INT64, 10, 500, 0},
			       {"c", ADE_TYPE_CATEGORICAL, 0, 0, 4},
			       {"s", ADE_TYPE_STRING, 0, 7, 0},
			       {"f", ADE_TYPE_FLOAT64, 1, 4, 0},
			       {"big", ADE_TYPE_INT64, 0, 0, 0}};
	struct colspec c2[] = {{"u", ADE_TYPE_INT64, 99, 50, 0},
			       {"c", ADE_TYPE_CATEGORICAL, 0, 0, 4},
			       {"s", ADE_TYPE_STRING, 0, 9, 0},
			       {"f", ADE_TYPE_FLOAT64, 5, 4, 0},
			       {"big", ADE_TYPE_INT64, 7, 0, 0}};
	struct ade_frame *f;
	char h1[64], h2[64];

	make_frame(f1, c1, 5, 100000);
	make_frame(f2, c2, 5, 1000);
	assert_int_equal(ade_frame_open(f1, &f, NULL), 0);
	cJSON *p = ade_schema_profile(f, 3);
	const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 0);
	const cJSON *us = cJSON_GetObjectItem(u, "stats");
	assert_int_equal((int)ade_json_num(us, "distinct", 0), 500);
	assert_true(ade_json_bool(us, "distinct_exact", 0));
	assert_int_equal((int)ade_json_num(us, "min", 0), 10);
	assert_int_equal((int)ade_json_num(us, "max", 0), 509);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(us, "top")), 3);
	assert_int_equal((int)ade_json_num(cJSON_GetArrayItem(cJSON_GetObjectItem(us, "top"), 0),
					   "count", 0), 200);
	const cJSON *cs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 1),
					      "stats");
	/* i % 4 == 0 is null: 25000 nulls; of the rest, codes i % 3. */
	assert_int_equal((int)ade_json_num(cs, "null_count", 0), 25000);
	assert_int_equal((int)ade_json_num(cs, "distinct", 0), 3);
	assert_true(ade_json_bool(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 1),
				  "nullable", 0));
	const cJSON *ss = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 2),
					      "stats");
	assert_int_equal((int)ade_json_num(ss, "distinct", 0), 7);
	assert_int_equal((int)ade_json_num(ss, "min_length", 0), 2);
	const cJSON *fs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 3),
					      "stats");
	assert_int_equal((int)ade_json_num(fs, "distinct", 0), 4);
	assert_true(ade_json_num(fs, "max", 0) == 2.5);
	/* 100000 distinct values: past the exact maximum, HyperLogLog within 3%. */
	const cJSON *bs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 4),
					      "stats");
	assert_false(ade_json_bool(bs, "distinct_exact", 1));
	assert_true(fabs(ade_json_num(bs, "distinct", 0) - 100000) < 3000);
	assert_null(cJSON_GetObjectItem(bs, "top")); /* all unique: no top values */
	ade_schema_hash(p, h1);
	cJSON_Delete(p);
	ade_frame_close(f);

	/* Other values, same structure: same hash. */
	assert_int_equal(ade_frame_open(f2, &f, NULL), 0);
	p = ade_schema_profile(f, 3);
	ade_schema_hash(p, h2);
	assert_string_equal(h1, h2);
	/* Another type: another hash. */
	cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "columns"), 0), "type",
				  cJSON_CreateString("float64"));
	ade_schema_hash(p, h2);
	assert_string_not_equal(h1, h2);
	cJSON_Delete(p);
	ade_frame_close(f);
	free(f1);
	free(f2);
	tu_rmdir(dir);
}

/* ---------- the stage ---------- */

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct colspec day1[] = {
	{"id", ADE_TYPE_INT64, 1000, 0, 0},
	{"user", ADE_TYPE_INT64, 1, 500, 0},
	{"score", ADE_TYPE_FLOAT64, 0, 10, 0},
	{"cat", ADE_TYPE_CATEGORICAL, 0, 0, 0},
	{"d", ADE_TYPE_DATE, 20000, 30, 0},
	{"flag", ADE_TYPE_BOOL, 0, 0, 0},
};

static void test_first_version(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};

	run_schema(&r, "2026-01-01", "{}", day1, N(day1), 1000);
	assert_int_equal(r.rc, 0);
	assert_string_equal(decision(&r), "first_version");
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(r.result, "baseline"), "source", ""),
			    "none");
	assert_int_equal(nchanges(&r), 0);
	assert_int_equal((int)ade_json_num(r.result, "schema_version", 0), 1);
	/* Same table: same content hash, every file hard-linked. */
	assert_string_equal(ade_json_str(r.out->schema, "content_hash", "a"),
			    ade_json_str(r.in->schema, "content_hash", "b"));
	assert_true(inode_of(r.in, "user", "data") == inode_of(r.out, "user", "data"));
	assert_true(inode_of(r.in, "cat", "dict") == inode_of(r.out, "cat", "dict"));
	assert_int_equal((int)ade_json_num(cJSON_GetObjectItem(r.result, "metrics"), "files_copied", -1), 0);
	/* The schema for the warehouse: hash over the structure, stats per column. */
	const cJSON *s = cJSON_GetObjectItem(r.result, "schema");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "columns")), 6);
	const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "columns"), 1);
	assert_string_equal(ade_json_str(u, "name", ""), "user");
	assert_int_equal((int)ade_json_num(u, "position", -1), 1);
	assert_int_equal((int)ade_json_num(cJSON_GetObjectItem(u, "stats"), "distinct", 0), 500);
	assert_non_null(strstr(ade_json_str(r.result, "schema_hash", ""), "xxh3-128:"));
	run_free(&r);
}

/* Day 2 with every kind of change at once. */
static const struct colspec day2_all[] = {
	{"cat", ADE_TYPE_CATEGORICAL, 0, 0, 0},     /* reordered: before the others */
	{"key", ADE_TYPE_INT64, 1000, 0, 0},        /* renamed from id */
	{"user", ADE_TYPE_INT64, 1, 500, 10},       /* nullability: now has nulls */
	{"score", ADE_TYPE_INT64, 0, 0, 0},         /* narrowing float64 -> int64 */
	{"d", ADE_TYPE_TIMESTAMP, 0, 30, 0},        /* widening date -> timestamp */
	{"extra", ADE_TYPE_STRING, 0, 5, 0},        /* added */
	                                            /* flag removed */
};

static void test_heal_every_kind(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};

	run_schema(&r, "2026-01-01", "{}", day1, N(day1), 1000);
	char *base = ade_xstrdup(r.result_path);
	char *cfg = cfg_with_baseline(base, "\"on_change\": \"heal\"");
	run_schema(&r, "2026-01-02", cfg, day2_all, N(day2_all), 1000);
	assert_int_equal(r.rc, 0);
	assert_string_equal(decision(&r), "healed");
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(r.result, "baseline"), "source", ""),
			    "file");
	assert_string_equal(action(&r, "renamed", "id"), "healed");
	assert_string_equal(ade_json_str(find_change(&r, "renamed", "id"), "to", ""), "key");
	assert_true(ade_json_num(find_change(&r, "renamed", "id"), "confidence", 0) >= 0.9);
	assert_string_equal(action(&r, "removed", "flag"), "filled");
	assert_string_equal(action(&r, "added", "extra"), "accepted");
	assert_string_equal(action(&r, "retyped", "d"), "accepted");
	assert_string_equal(ade_json_str(find_change(&r, "retyped", "d"), "direction", ""), "widening");
	assert_string_equal(action(&r, "retyped", "score"), "healed");
	assert_string_equal(ade_json_str(find_change(&r, "retyped", "score"), "direction", ""),
			    "narrowing");
	assert_string_equal(action(&r, "nullability", "user"), "warned");
	assert_string_equal(action(&r, "reordered", "cat"), "accepted");
	/* Two healings: the rename and the cast. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.result, "healing")), 2);

	/* The output: baseline order, then the new column; renamed back; flag all null. */
	static const char *want[] = {"id", "user", "score", "cat", "d", "flag", "extra"};
	assert_int_equal(r.out->ncols, 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(r.out->cols[i].name, want[i]);
	assert_true(inode_of(r.in, "key", "data") == inode_of(r.out, "id", "data"));
	assert_int_equal(((const int64_t *)r.out->cols[0].data)[5], 1005);
	assert_int_equal(r.out->cols[5].type, ADE_TYPE_BOOL);
	assert_int_equal(r.out->cols[5].null_count, 1000);
	assert_true(ade_frame_is_null(&r.out->cols[5], 999));
	assert_int_equal(r.out->cols[2].type, ADE_TYPE_FLOAT64);
	assert_true(((const double *)r.out->cols[2].data)[7] == 7.0);
	assert_int_equal(r.out->cols[4].type, ADE_TYPE_TIMESTAMP); /* widened: kept */
	/* The output's schema in result.json names the output's columns. */
	const cJSON *cols = cJSON_GetObjectItem(cJSON_GetObjectItem(r.result, "schema"), "columns");
	assert_string_equal(ade_json_str(cJSON_GetArrayItem(cols, 0), "name", ""), "id");
	assert_string_equal(ade_json_str(cJSON_GetArrayItem(cols, 2), "type", ""), "float64");
	assert_int_equal((int)ade_json_num(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, 5), "stats"),
					   "null_count", 0), 1000);
	free(cfg);

	/* The same change set under fail: 65, every change named, no frame. */
	cfg = cfg_with_baseline(base, "\"on_change\": \"fail\"");
	run_schema(&r, "2026-01-02", cfg, day2_all, N(day2_all), 1000);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_int_equal(ade_schema_exit_code(r.rc), 65);
	assert_string_equal(decision(&r), "failed");
	assert_string_equal(ade_json_str(r.result, "status", ""), "failed");
	assert_null(r.out);
	assert_string_equal(action(&r, "renamed", "id"), "rejected");
	assert_string_equal(action(&r, "added", "extra"), "rejected");
	assert_string_equal(action(&r, "removed", "flag"), "rejected");
	assert_string_equal(action(&r, "retyped", "d"), "rejected");
	assert_string_equal(action(&r, "reordered", "cat"), "rejected");
	assert_non_null(strstr(r.err.msg, "added 'extra'"));
	assert_non_null(strstr(r.err.msg, "removed 'flag'"));
	free(cfg);

	/* Under evolve the narrowing fails. */
	cfg = cfg_with_baseline(base, "\"on_change\": \"evolve\"");
	run_schema(&r, "2026-01-02", cfg, day2_all, N(day2_all), 1000);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "retyped", "score"), "rejected");
	free(cfg);
	free(base);
	run_free(&r);
}

static void test_evolve(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	static const struct colspec day2[] = {
		{"key", ADE_TYPE_INT64, 1000, 0, 0},   /* renamed from id */
		{"user", ADE_TYPE_FLOAT64, 1, 500, 0}, /* widening */
		{"score", ADE_TYPE_FLOAT64, 0, 10, 0},
		{"cat", ADE_TYPE_CATEGORICAL, 0, 0, 0},
		{"d", ADE_TYPE_DATE, 20000, 30, 0},
		{"extra", ADE_TYPE_STRING, 0, 5, 0},
	};

	run_schema(&r, "2026-01-01", "{}", day1, N(day1), 1000);
	char *base = ade_xstrdup(r.result_path);
	char *cfg = cfg_with_baseline(base, "\"on_change\": \"evolve\"");
	run_schema(&r, "2026-01-02", cfg, day2, N(day2), 1000);
	assert_int_equal(r.rc, 0);
	assert_string_equal(decision(&r), "evolved");
	assert_string_equal(action(&r, "retyped", "user"), "accepted");
	assert_string_equal(action(&r, "added", "extra"), "accepted");
	assert_string_equal(action(&r, "removed", "flag"), "filled");
	/* The rename is reported, not applied: id filled with nulls, key kept. */
	assert_string_equal(action(&r, "renamed", "id"), "filled");
	assert_string_equal(action(&r, "added", "key"), "accepted");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.result, "healing")), 0);
	int id = ade_frame_find(r.out, "id"), key = ade_frame_find(r.out, "key");
	assert_true(id == 0 && key >= 0);
	assert_int_equal(r.out->cols[id].null_count, 1000);
	assert_int_equal(r.out->cols[ade_frame_find(r.out, "user")].type, ADE_TYPE_FLOAT64);

	/* A required column is never filled. */
	free(cfg);
	cfg = cfg_with_baseline(base, "\"on_change\": \"evolve\", \"required\": [\"flag\"]");
	run_schema(&r, "2026-01-02", cfg, day2, N(day2), 1000);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "removed", "flag"), "rejected");
	assert_string_equal(ade_json_str(find_change(&r, "removed", "flag"), "reason", ""),
			    "required column missing");
	free(cfg);
	free(base);
	run_free(&r);
}

/* The seed's case: user_id arrives as uid the next day, with that day's values. */
static void test_rename_healed(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	static const struct colspec d1[] = {{"event_id", ADE_TYPE_INT64, 0, 0, 0},
					    {"user_id", ADE_TYPE_INT64, 1, 100000, 0},
					    {"device", ADE_TYPE_CATEGORICAL, 0, 0, 0}};
	static const struct colspec d2[] = {{"event_id", ADE_TYPE_INT64, 5000, 0, 0},
					    {"uid", ADE_TYPE_INT64, 3, 99991, 0},
					    {"device", ADE_TYPE_CATEGORICAL, 0, 0, 0}};

	run_schema(&r, "2026-01-01", "{}", d1, 3, 5000);
	char *base = ade_xstrdup(r.result_path);
	char *cfg = cfg_with_baseline(base, "\"on_change\": \"heal\"");
	run_schema(&r, "2026-01-02", cfg, d2, 3, 5200);
	assert_int_equal(r.rc, 0);
	assert_string_equal(decision(&r), "healed");
	assert_int_equal(nchanges(&r), 1);
	const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(r.result, "healing"), 0);
	assert_string_equal(ade_json_str(h, "kind", ""), "rename");
	assert_string_equal(ade_json_str(h, "from", ""), "uid");
	assert_string_equal(ade_json_str(h, "to", ""), "user_id");
	assert_true(ade_json_num(h, "confidence", 0) >= 0.9);
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "evidence"), "range"));
	/* The output is the baseline's schema again, uid's file linked as user_id. */
	assert_int_equal(ade_frame_find(r.out, "uid"), -1);
	assert_int_equal(ade_frame_find(r.out, "user_id"), 1);
	assert_true(inode_of(r.in, "uid", "data") == inode_of(r.out, "user_id", "data"));
	/* Same structure as the baseline: same schema hash. */
	cJSON *b = NULL;
	assert_int_equal(ade_json_read_file(base, &b, NULL), 0);
	assert_string_equal(ade_json_str(b, "schema_hash", "a"), ade_json_str(r.result, "schema_hash", "b"));
	cJSON_Delete(b);
	free(cfg);
	free(base);
	run_free(&r);
}

static void test_rename_not_guessed(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	static const struct colspec d1[] = {{"event_id", ADE_TYPE_INT64, 0, 0, 0},
					    {"user_id", ADE_TYPE_INT64, 1, 100000, 0}};
	/* uid holds other numbers (another range, nulls): not user_id renamed. */
	static const struct colspec d2[] = {{"event_id", ADE_TYPE_INT64, 0, 0, 0},
					    {"uid", ADE_TYPE_INT64, 500000, 1000, 5}};

	run_schema(&r, "2026-01-01", "{}", d1, 2, 5000);
	char *base = ade_xstrdup(r.result_path);
	char *cfg = cfg_with_baseline(base, "\"on_change\": \"heal\"");
	run_schema(&r, "2026-01-02", cfg, d2, 2, 5000);
	assert_int_equal(r.rc, 0);
	assert_null(find_change(&r, "renamed", "user_id"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.result, "healing")), 0);
	const cJSON *rm = find_change(&r, "removed", "user_id");
	assert_non_null(rm);
	assert_string_equal(ade_json_str(rm, "action", ""), "filled");
	/* The best candidate and its confidence are reported, below the threshold. */
	const cJSON *cand = cJSON_GetObjectItem(rm, "rename_candidate");
	assert_string_equal(ade_json_str(cand, "column", ""), "uid");
	assert_true(ade_json_num(cand, "confidence", 1) < 0.9);
	assert_string_equal(action(&r, "added", "uid"), "accepted");
	assert_int_equal(r.out->cols[ade_frame_find(r.out, "user_id")].null_count, 5000);
	assert_true(ade_frame_find(r.out, "uid") >= 0);
	free(cfg);

	/* With user_id required, heal cannot help: 65. */
	cfg = cfg_with_baseline(base, "\"on_change\": \"heal\", \"required\": [\"user_id\"]");
	run_schema(&r, "2026-01-02", cfg, d2, 2, 5000);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "removed", "user_id"), "rejected");
	free(cfg);

	/* A threshold the evidence passes heals it after all. */
	cfg = cfg_with_baseline(base, "\"on_change\": \"heal\", \"rename_threshold\": 0.01");
	run_schema(&r, "2026-01-02", cfg, d2, 2, 5000);
	assert_int_equal(r.rc, 0);
	assert_string_equal(action(&r, "renamed", "user_id"), "healed");
	free(cfg);
	free(base);
	run_free(&r);
}

static void test_contract(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	static const struct colspec d[] = {{"id", ADE_TYPE_INT64, 0, 0, 0},
					   {"name", ADE_TYPE_STRING, 0, 50, 7},
					   {"age", ADE_TYPE_INT64, 20, 40, 0}};

	/* Matching contract; optional column absent and filled; order as in the contract. */
	run_schema(&r, "2026-01-01",
		   "{\"on_change\": \"heal\", \"columns\": ["
		   "{\"name\": \"id\", \"type\": \"int64\", \"nullable\": false},"
		   "{\"name\": \"age\", \"type\": \"float64\"},"
		   "{\"name\": \"name\", \"type\": \"string\"},"
		   "{\"name\": \"email\", \"type\": \"string\", \"required\": false}]}",
		   d, 3, 100);
	assert_int_equal(r.rc, 0);
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(r.result, "baseline"), "source", ""),
			    "contract");
	/* age: contract float64, data int64 -> narrowing healed by a cast. */
	assert_string_equal(action(&r, "retyped", "age"), "healed");
	assert_int_equal(r.out->cols[ade_frame_find(r.out, "age")].type, ADE_TYPE_FLOAT64);
	assert_string_equal(action(&r, "removed", "email"), "filled");
	assert_string_equal(r.out->cols[0].name, "id");
	assert_string_equal(r.out->cols[1].name, "age");
	assert_string_equal(r.out->cols[3].name, "email");

	/* A required contract column missing fails, even under heal. */
	run_schema(&r, "2026-01-01",
		   "{\"on_change\": \"heal\", \"columns\": [{\"name\": \"id\"}, {\"name\": \"salary\", \"type\": \"float64\"}]}",
		   d, 3, 100);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "removed", "salary"), "rejected");
	assert_null(r.out);

	/* nullable: false in the contract is a hard rule. */
	run_schema(&r, "2026-01-01",
		   "{\"on_change\": \"heal\", \"columns\": [{\"name\": \"id\"}, {\"name\": \"name\", \"nullable\": false}]}",
		   d, 3, 100);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "nullability", "name"), "rejected");
	run_free(&r);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static void insert_version(sqlite3 *db, const char *pipeline, const char *ds, const char *dataset,
			   int version, const char *columns)
{
	sqlite3_stmt *st;
	char *json = ade_xasprintf("{\"rows\": 10, \"columns\": [%s]}", columns);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO schema_versions VALUES (?,?,?,?,?,?)",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, version);
	sqlite3_bind_text(st, 5, "xxh3-128:stored", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, json, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(json);
}

static void test_warehouse_baseline(void **state)
{
	struct run r = {.dir = tu_mkdtemp()};
	static const struct colspec d[] = {{"a", ADE_TYPE_INT64, 0, 0, 0},
					   {"b", ADE_TYPE_INT64, 0, 0, 0},
					   {"c", ADE_TYPE_INT64, 0, 0, 0}};
#define COL(n) "{\"name\": \"" n "\", \"type\": \"int64\", \"nullable\": false}"
	char *path = ade_xasprintf("%s/warehouse.db", r.dir);
	sqlite3 *db;

	/* No warehouse file: no history. */
	run_schema(&r, "2026-01-01", "{}", d, 3, 10);
	assert_string_equal(decision(&r), "first_version");
	assert_false(ade_fs_exists(path)); /* read-only: never created */

	/* A warehouse without the table: no history either. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "CREATE TABLE other(x)");
	run_schema(&r, "2026-01-01", "{\"on_change\": \"fail\"}", d, 3, 10);
	assert_int_equal(r.rc, 0);
	assert_string_equal(decision(&r), "first_version");

	exec_sql(db, "CREATE TABLE schema_versions(pipeline TEXT, ds TEXT, dataset TEXT, "
		     "version INTEGER, hash TEXT, schema_json TEXT, PRIMARY KEY(pipeline, ds, dataset))");
	/* Inserted out of order; only 2025-12-31 of (p, p) matches a, b, c exactly. */
	insert_version(db, "p", "2026-01-02", "p", 3, COL("a"));
	insert_version(db, "p", "2025-12-30", "p", 1, COL("a") "," COL("b"));
	insert_version(db, "p", "2025-12-31", "p", 2, COL("a") "," COL("b") "," COL("c"));
	insert_version(db, "p", "2026-01-01", "p", 9, COL("z"));        /* the same date: not earlier */
	insert_version(db, "other", "2025-12-31", "p", 7, COL("x"));   /* another pipeline */
	insert_version(db, "p", "2025-12-31", "events", 5, COL("y"));  /* another dataset */
	sqlite3_close(db);

	run_schema(&r, "2026-01-01", "{\"on_change\": \"fail\"}", d, 3, 10);
	assert_int_equal(r.rc, 0);
	const cJSON *b = cJSON_GetObjectItem(r.result, "baseline");
	assert_string_equal(ade_json_str(b, "source", ""), "warehouse");
	const cJSON *w = cJSON_GetObjectItem(b, "warehouse");
	assert_string_equal(ade_json_str(w, "ds", ""), "2025-12-31");
	assert_int_equal((int)ade_json_num(w, "version", 0), 2);
	assert_string_equal(decision(&r), "unchanged");
	/* The stored hash differs from ours, so this is the next version. */
	assert_int_equal((int)ade_json_num(r.result, "schema_version", 0), 3);

	/* The dataset name picks the rows; a backfill of an older date sees older history. */
	run_schema(&r, "2025-12-31", "{\"on_change\": \"evolve\"}", d, 3, 10);
	assert_int_equal(r.rc, 0);
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(r.result, "baseline"),
							     "warehouse"), "ds", ""), "2025-12-30");
	assert_string_equal(action(&r, "added", "c"), "accepted");
	run_schema(&r, "2026-01-01", "{\"dataset\": \"events\", \"on_change\": \"fail\"}", d, 3, 10);
	assert_int_equal(r.rc, ADE_EDATA);
	assert_string_equal(action(&r, "removed", "y"), "rejected");
	free(path);
	run_free(&r);
#undef COL
}

static void test_bad_config(void **state)
{
	static const struct {
		const char *cfg, *want;
	} cases[] = {
		{"{\"on_change\": \"sometimes\"}", "ADE_CONFIG /on_change: on_change must be fail, evolve or heal"},
		{"{\"on_chnage\": \"heal\"}", "ADE_CONFIG /on_chnage: unknown key"},
		{"{\"columns\": {}}", "ADE_CONFIG /columns: "},
		{"{\"columns\": [{\"name\": \"a\", \"type\": \"integer\"}]}", "ADE_CONFIG /columns/0/type: "},
		{"{\"columns\": [{\"name\": \"a\"}, {\"type\": \"int64\"}]}", "ADE_CONFIG /columns/1: "},
		{"{\"columns\": [{\"name\": \"a\", \"requird\": true}]}", "ADE_CONFIG /columns/0/requird: "},
		{"{\"columns\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}", "ADE_CONFIG /columns/1/name: column 'a' is listed twice"},
		{"{\"columns\": [{\"name\": \"a\", \"required\": \"yes\"}]}", "ADE_CONFIG /columns/0/required: "},
		{"{\"rename_threshold\": 1.5}", "ADE_CONFIG /rename_threshold: "},
		{"{\"required\": [\"a\", 3]}", "ADE_CONFIG /required/1: "},
		{"{\"top_values\": 2.5}", "ADE_CONFIG /top_values: "},
		{"{\"dataset\": \"\"}", "ADE_CONFIG /dataset: "},
		{"{\"baseline\": 1}", "ADE_CONFIG /baseline: "},
	};
	struct run r = {.dir = tu_mkdtemp()};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_schema(&r, "2026-01-01", cases[i].cfg, day1, 2, 10);
		assert_int_equal(r.rc, ADE_EINVAL);
		assert_int_equal(ade_schema_exit_code(r.rc), 2);
		if (strncmp(r.err.msg, cases[i].want, strlen(cases[i].want)))
			fail_msg("config %s: got '%s', want '%s...'", cases[i].cfg, r.err.msg,
				 cases[i].want);
		assert_null(r.result);
	}
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_change),
		cmocka_unit_test(test_confidence),
		cmocka_unit_test(test_profile_and_hash),
		cmocka_unit_test(test_first_version),
		cmocka_unit_test(test_heal_every_kind),
		cmocka_unit_test(test_evolve),
		cmocka_unit_test(test_rename_healed),
		cmocka_unit_test(test_rename_not_guessed),
		cmocka_unit_test(test_contract),
		cmocka_unit_test(test_warehouse_baseline),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
