/*
 * The warehouse library: identifiers, migrations from version 1, the
 * idempotent load (same date again, dates out of order, micro-batches),
 * schema evolution over three dates, hostile column and table names,
 * every producer's result.json and KPI values computed by hand, a
 * failed load leaving the warehouse as it was, the rowid ranges that
 * replace a date without a partition index, and migrating a version 2
 * warehouse to them.
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
#include "core/util.h"
#include "warehouse/warehouse.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* ---------- helpers ---------- */

struct col {
	const char *name;
	enum ade_type type;
};

/*
 * A frame of `rows` rows: int64 i*mul, float64 i + 0.5, categorical
 * colors[i % 3], string "s<i>", date 20454 + i (2026-01-01 + i), bool i%2,
 * timestamp day 20454 at i seconds.  Row 0 of every column is null when
 * with_nulls.
 */
static void make_frame(const char *dir, const struct col *cols, int n, int64_t rows, int64_t mul,
		       int with_nulls)
{
	static const char *colors[] = {"blue", "green", "red"};
	size_t lens[3] = {4, 5, 3};
	struct ade_frame_writer *w;
	struct ade_error err = {0};

	assert_int_equal(ade_frame_writer_open(dir, &w, &err), 0);
	for (int c = 0; c < n; c++) {
		assert_int_equal(ade_frame_writer_add(w, cols[c].name, cols[c].type, &err), c);
		if (cols[c].type == ADE_TYPE_CATEGORICAL)
			ade_frame_writer_set_dict(w, c, colors, lens, 3);
	}
	for (int64_t i = 0; i < rows; i++)
		for (int c = 0; c < n; c++) {
			if (with_nulls && i == 0) {
				ade_frame_put_null(w, c);
				continue;
			}
			char buf[32];
			switch (cols[c].type) {
			case ADE_TYPE_INT64: ade_frame_put_i64(w, c, i * mul); break;
			case ADE_TYPE_FLOAT64: ade_frame_put_f64(w, c, (double)i + 0.5); break;
			case ADE_TYPE_BOOL: ade_frame_put_bool(w, c, (int)(i % 2)); break;
			case ADE_TYPE_DATE: ade_frame_put_i64(w, c, 20454 + i); break;
			case ADE_TYPE_TIMESTAMP:
				ade_frame_put_i64(w, c, 20454LL * 86400000000LL + i * 1000000 + (i % 2) * 250);
				break;
			case ADE_TYPE_CATEGORICAL: ade_frame_put_code(w, c, (int32_t)(i % 3)); break;
			case ADE_TYPE_STRING:
				snprintf(buf, sizeof(buf), "s%lld", (long long)i);
				ade_frame_put_str(w, c, buf, strlen(buf));
				break;
			}
		}
	if (ade_frame_writer_finish(w, NULL, NULL, &err))
		fail_msg("%s", err.msg);
	ade_frame_writer_free(w);
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static double q_dbl(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	double v = NAN;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_double(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The first column of the first row as text (caller frees), or NULL. */
static char *q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = ade_xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return v;
}

static void load_ok(sqlite3 *db, const char *ds, const char *batch, const char *table,
		    const char *frame, const struct ade_warehouse_input *in, int nin)
{
	struct ade_warehouse_load ld = {.pipeline = "p", .ds = ds, .batch = batch,
					.run_id = "run-1", .table = table, .facts_dir = frame,
					.facts_stage = "quality", .inputs = in, .n_inputs = nin,
					.rows_per_insert = 7};
	struct ade_error err = {0};
	cJSON *rep = cJSON_CreateObject();

	if (ade_warehouse_load(db, &ld, rep, &err))
		fail_msg("load %s: %s", ds, err.msg);
	cJSON_Delete(rep);
}

static sqlite3 *open_wh(const char *dir)
{
	char *path = ade_xasprintf("%s/warehouse.db", dir);
	struct ade_error err = {0};
	sqlite3 *db = NULL;

	if (ade_warehouse_open(path, &db, &err))
		fail_msg("%s", err.msg);
	free(path);
	return db;
}

/* ---------- identifiers ---------- */

static void test_ident(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_warehouse_quote(&sb, "a\"; DROP TABLE x; --");
	assert_string_equal(sb.buf, "\"a\"\"; DROP TABLE x; --\"");
	ade_strbuf_release(&sb);
	assert_int_equal(ade_warehouse_ident_check("c", "a\"; DROP TABLE x; --", NULL), 0);
	assert_int_equal(ade_warehouse_ident_check("c", "prénom", NULL), 0);
	assert_int_equal(ade_warehouse_ident_check("c", "", NULL), ADE_EINVAL);
	assert_int_equal(ade_warehouse_ident_check("c", "a\nb", NULL), ADE_EINVAL);
	assert_int_equal(ade_warehouse_ident_check("c", "bad\xff", NULL), ADE_EINVAL);
	assert_int_equal(ade_warehouse_ident_check("c", "\xed\xa0\x80", NULL), ADE_EINVAL);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[299] = '\0';
	assert_int_equal(ade_warehouse_ident_check("c", big, NULL), ADE_EINVAL);
	(void)state;
}

/* ---------- migrations ---------- */

static void test_migrate_from_v1(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = ade_xasprintf("%s/warehouse.db", dir);
	struct ade_error err = {0};
	sqlite3 *db = NULL;

	/* A warehouse as schema version 1 left it, with history in it. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(ade_warehouse_migrate(db, 1, &err), 0);
	assert_int_equal(ade_warehouse_version(db), 1);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO kpi_history(pipeline, ds, kpi, value) VALUES "
				      "('p', '2025-12-31', 'rows', 42);"
				      "INSERT INTO schema_versions VALUES ('p', '2025-12-31', 'p', 1, "
				      "'h', '{}');"
				      "INSERT INTO loads(pipeline, ds, \"table\", rows, loaded_at) VALUES "
				      "('p', '2025-12-31', 't', 42, 'x')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='model_metrics'"),
			 0);
	sqlite3_close(db);

	db = open_wh(dir);
	assert_int_equal(ade_warehouse_version(db), ADE_WAREHOUSE_SCHEMA_VERSION);
	assert_int_equal(q_int(db, "SELECT value FROM kpi_history WHERE ds='2025-12-31'"), 42);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
				   "('model_metrics','feature_versions','facts_columns')"),
			 3);
	assert_int_equal(q_int(db, "SELECT count(*) FROM schema_versions WHERE batch=''"), 1);
	char *jm = q_text(db, "PRAGMA journal_mode");
	assert_string_equal(jm, "wal");
	free(jm);
	/* and loads into it */
	char *fr = ade_xasprintf("%s/f", dir);
	struct col cols[] = {{"n", ADE_TYPE_INT64}};
	make_frame(fr, cols, 1, 10, 1, 0);
	load_ok(db, "2026-01-01", NULL, "t", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 10);
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history"), 2);
	sqlite3_close(db);

	/* A newer file than this code is refused, not damaged. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	db = NULL;
	assert_int_equal(ade_warehouse_open(path, &db, &err), ADE_EDB);
	assert_non_null(strstr(err.msg, "newer"));
	assert_null(db);
	free(fr);
	free(path);
	tu_rmdir(dir);
	(void)state;
}

/* ---------- idempotency ---------- */

static void test_idempotent(void **state)
{
	char *dir = tu_mkdtemp();
	sqlite3 *db = open_wh(dir);
	char *f1 = ade_xasprintf("%s/f1", dir), *f2 = ade_xasprintf("%s/f2", dir);
	struct col cols[] = {{"id", ADE_TYPE_INT64}, {"x", ADE_TYPE_FLOAT64},
			     {"c", ADE_TYPE_CATEGORICAL}, {"s", ADE_TYPE_STRING},
			     {"d", ADE_TYPE_DATE}, {"b", ADE_TYPE_BOOL},
			     {"ts", ADE_TYPE_TIMESTAMP}};

	make_frame(f1, cols, 7, 100, 1, 1);
	make_frame(f2, cols, 7, 30, 2, 0);
	/* Same date three times, then an earlier date, then the first again. */
	for (int i = 0; i < 3; i++)
		load_ok(db, "2026-01-02", NULL, "facts", f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts"), 100);
	load_ok(db, "2026-01-01", NULL, "facts", f2, NULL, 0);
	load_ok(db, "2026-01-02", NULL, "facts", f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE ds='2026-01-02'"), 100);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE ds='2026-01-01'"), 30);
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history WHERE kpi='rows'"), 2);
	assert_int_equal(q_int(db, "SELECT count(*) FROM loads WHERE \"table\"='facts'"), 2);
	assert_int_equal(q_int(db, "SELECT sum(id) FROM facts WHERE ds='2026-01-01'"), 870);

	/* Values: nulls, ISO dates that date() reads, timestamps, bools, categoricals. */
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE ds='2026-01-02' AND id IS NULL "
				   "AND x IS NULL AND c IS NULL AND s IS NULL AND d IS NULL AND ts IS NULL"),
			 1);
	char *t = q_text(db, "SELECT d || '|' || date(d, '+1 day') || '|' || ts || '|' || c || '|' || "
			     "s || '|' || b || '|' || typeof(x) FROM facts WHERE ds='2026-01-02' AND id=3");
	assert_string_equal(t, "2026-01-04|2026-01-05|2026-01-01T00:00:03.000250Z|blue|s3|1|real");
	free(t);
	t = q_text(db, "SELECT datetime(ts) FROM facts WHERE ds='2026-01-02' AND id=2");
	assert_string_equal(t, "2026-01-01 00:00:02");
	free(t);

	/* Micro-batches replace only themselves; a batch-mode load the whole date. */
	load_ok(db, "2026-01-03", "1", "facts", f2, NULL, 0);
	load_ok(db, "2026-01-03", "2", "facts", f2, NULL, 0);
	load_ok(db, "2026-01-03", "1", "facts", f2, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE ds='2026-01-03'"), 60);
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history WHERE ds='2026-01-03'"), 2);
	load_ok(db, "2026-01-03", "", "facts", f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE ds='2026-01-03'"), 100);
	assert_int_equal(q_int(db, "SELECT count(*) FROM facts WHERE batch<>''"), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history WHERE ds='2026-01-03'"), 1);
	sqlite3_close(db);
	free(f1);
	free(f2);
	tu_rmdir(dir);
	(void)state;
}

/* ---------- schema evolution ---------- */

static void test_evolution(void **state)
{
	char *dir = tu_mkdtemp();
	sqlite3 *db = open_wh(dir);
	char *f1 = ade_xasprintf("%s/f1", dir), *f2 = ade_xasprintf("%s/f2", dir),
	     *f3 = ade_xasprintf("%s/f3", dir);
	struct col day1[] = {{"id", ADE_TYPE_INT64}, {"amount", ADE_TYPE_INT64},
			     {"dept", ADE_TYPE_CATEGORICAL}, {"note", ADE_TYPE_STRING}};
	/* day 2: amount widened to float64, dept to string, a new column */
	struct col day2[] = {{"id", ADE_TYPE_INT64}, {"amount", ADE_TYPE_FLOAT64},
			     {"dept", ADE_TYPE_STRING}, {"note", ADE_TYPE_STRING},
			     {"bonus", ADE_TYPE_INT64}};
	/* day 3: note removed */
	struct col day3[] = {{"id", ADE_TYPE_INT64}, {"amount", ADE_TYPE_FLOAT64},
			     {"dept", ADE_TYPE_STRING}, {"bonus", ADE_TYPE_INT64}};

	make_frame(f1, day1, 4, 10, 3, 0);
	make_frame(f2, day2, 5, 10, 3, 0);
	make_frame(f3, day3, 4, 10, 3, 0);
	load_ok(db, "2026-01-01", NULL, "emp", f1, NULL, 0);
	load_ok(db, "2026-01-02", NULL, "emp", f2, NULL, 0);
	load_ok(db, "2026-01-03", NULL, "emp", f3, NULL, 0);
	/* Old rows keep their values, new ones are as loaded. */
	assert_int_equal(q_int(db, "SELECT sum(amount) FROM emp WHERE ds='2026-01-01'"), 135);
	assert_int_equal(q_int(db, "SELECT typeof(amount) = 'integer' FROM emp WHERE "
				   "ds='2026-01-01' AND id=3"),
			 1);
	assert_true(q_dbl(db, "SELECT sum(amount) FROM emp WHERE ds='2026-01-02'") == 50.0);
	assert_true(q_dbl(db, "SELECT amount FROM emp WHERE ds='2026-01-02' AND id=6") == 2.5);
	assert_int_equal(q_int(db, "SELECT count(*) FROM emp WHERE ds='2026-01-01' AND bonus IS NULL"),
			 10);
	assert_int_equal(q_int(db, "SELECT count(note) FROM emp WHERE ds IN ('2026-01-01', "
				   "'2026-01-02')"),
			 20);
	assert_int_equal(q_int(db, "SELECT count(note) FROM emp WHERE ds='2026-01-03'"), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM emp WHERE dept='green'"), 3);
	assert_int_equal(q_int(db, "SELECT count(*) FROM emp WHERE dept LIKE 's%'"), 20);
	char *t = q_text(db, "SELECT group_concat(column_name || ':' || ade_type, ',') FROM "
			     "(SELECT * FROM facts_columns WHERE tbl='emp' ORDER BY column_name)");
	assert_string_equal(t, "amount:float64,bonus:int64,dept:string,id:int64,note:string");
	free(t);
	/* Re-running day 1 after the widening does not narrow the catalogue. */
	load_ok(db, "2026-01-01", NULL, "emp", f1, NULL, 0);
	t = q_text(db, "SELECT ade_type FROM facts_columns WHERE tbl='emp' AND column_name='amount'");
	assert_string_equal(t, "float64");
	free(t);
	assert_int_equal(q_int(db, "SELECT count(*) FROM emp"), 30);
	sqlite3_close(db);
	free(f1);
	free(f2);
	free(f3);
	tu_rmdir(dir);
	(void)state;
}

/* ---------- hostile identifiers ---------- */

static void test_hostile(void **state)
{
	char *dir = tu_mkdtemp();
	sqlite3 *db = open_wh(dir);
	char *f1 = ade_xasprintf("%s/f1", dir);
	struct col cols[] = {{"a\"; DROP TABLE x; --", ADE_TYPE_INT64},
			     {"b'); DELETE FROM loads; --", ADE_TYPE_STRING},
			     {"[c]", ADE_TYPE_FLOAT64},
			     {"ünï cødé", ADE_TYPE_CATEGORICAL}};
	const char *table = "t\"; DROP TABLE x; --";

	assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(v); INSERT INTO x VALUES (1)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	make_frame(f1, cols, 4, 20, 1, 0);
	load_ok(db, "2026-01-01", NULL, table, f1, NULL, 0);
	load_ok(db, "2026-01-01", NULL, table, f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM x"), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM loads"), 2);
	assert_int_equal(q_int(db, "SELECT sum(\"a\"\"; DROP TABLE x; --\") FROM "
				   "\"t\"\"; DROP TABLE x; --\""),
			 190);
	char *t = q_text(db, "SELECT \"b'); DELETE FROM loads; --\" || \"[c]\" || \"ünï cødé\" FROM "
			     "\"t\"\"; DROP TABLE x; --\" WHERE \"a\"\"; DROP TABLE x; --\"=4");
	assert_string_equal(t, "s44.5green");
	free(t);

	/* A column named like a partition column, or with a control
	 * character, is refused and the warehouse is left as it was. */
	char *f2 = ade_xasprintf("%s/f2", dir), *f3 = ade_xasprintf("%s/f3", dir);
	struct col clash[] = {{"id", ADE_TYPE_INT64}, {"DS", ADE_TYPE_STRING}};
	struct col ctrl[] = {{"id", ADE_TYPE_INT64}, {"bad\x01name", ADE_TYPE_STRING}};
	make_frame(f2, clash, 2, 5, 1, 0);
	make_frame(f3, ctrl, 2, 5, 1, 0);
	struct ade_warehouse_load ld = {.pipeline = "p", .ds = "2026-01-01", .table = table,
					.facts_dir = f2};
	struct ade_error err = {0};
	assert_int_equal(ade_warehouse_load(db, &ld, NULL, &err), ADE_EINVAL);
	assert_non_null(strstr(err.msg, "partition column"));
	ld.facts_dir = f3;
	assert_int_equal(ade_warehouse_load(db, &ld, NULL, &err), ADE_EINVAL);
	assert_int_equal(q_int(db, "SELECT count(*) FROM \"t\"\"; DROP TABLE x; --\""), 20);
	assert_int_equal(q_int(db, "SELECT count(*) FROM loads"), 2);
	assert_int_equal(sqlite3_get_autocommit(db), 1);

	/*
	 * Columns named rowid and OID hide those names of the rowid, which
	 * the ranges of loads are about: the loader reaches it as _rowid_,
	 * and re-loads delete exactly the date's rows, not rows whose
	 * "rowid" column happens to fall in a range.
	 */
	char *f4 = ade_xasprintf("%s/f4", dir), *f5 = ade_xasprintf("%s/f5", dir);
	struct col hide[] = {{"rowid", ADE_TYPE_INT64}, {"OID", ADE_TYPE_STRING}};
	struct col all[] = {{"rowid", ADE_TYPE_INT64}, {"OID", ADE_TYPE_STRING},
			    {"_rowid_", ADE_TYPE_INT64}};
	make_frame(f4, hide, 2, 20, 1, 0);
	make_frame(f5, all, 3, 5, 1, 0);
	load_ok(db, "2026-01-01", NULL, "h", f4, NULL, 0);
	load_ok(db, "2026-01-02", NULL, "h", f4, NULL, 0);
	load_ok(db, "2026-01-01", NULL, "h", f4, NULL, 0);
	load_ok(db, "2026-01-02", NULL, "h", f4, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM h WHERE ds='2026-01-01'"), 20);
	assert_int_equal(q_int(db, "SELECT count(*) FROM h WHERE ds='2026-01-02'"), 20);
	assert_int_equal(q_int(db, "SELECT sum(\"rowid\") FROM h"), 380);
	assert_int_equal(q_int(db, "SELECT min(_rowid_) FROM h"), 41);
	/* All three hidden: refused, nothing changed. */
	ld.table = "h";
	ld.facts_dir = f5;
	assert_int_equal(ade_warehouse_load(db, &ld, NULL, &err), ADE_EINVAL);
	assert_non_null(strstr(err.msg, "_rowid_"));
	assert_int_equal(q_int(db, "SELECT count(*) FROM h"), 40);
	assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('h')"), 6);
	sqlite3_close(db);
	free(f1);
	free(f2);
	free(f3);
	free(f4);
	free(f5);
	tu_rmdir(dir);
	(void)state;
}

/* ---------- rowid ranges instead of a partition index ---------- */

/* Every facts row lies in exactly one range recorded in loads. */
static void assert_ranges_cover(sqlite3 *db, const char *table)
{
	char *sql = ade_xasprintf(
		"SELECT (SELECT count(*) FROM \"%s\") = (SELECT coalesce(sum(last_rowid - "
		"first_rowid + 1), 0) FROM loads WHERE \"table\"='%s' AND last_rowid >= first_rowid) "
		"AND NOT EXISTS (SELECT 1 FROM loads l JOIN \"%s\" t ON t.rowid BETWEEN "
		"l.first_rowid AND l.last_rowid WHERE l.\"table\"='%s' AND (t.pipeline<>l.pipeline "
		"OR t.ds<>l.ds OR t.batch<>l.batch))",
		table, table, table, table);
	assert_int_equal(q_int(db, sql), 1);
	free(sql);
}

static void test_ranges(void **state)
{
	char *dir = tu_mkdtemp();
	sqlite3 *db = open_wh(dir);
	char *f1 = ade_xasprintf("%s/f1", dir), *f0 = ade_xasprintf("%s/f0", dir);
	struct col cols[] = {{"id", ADE_TYPE_INT64}, {"d", ADE_TYPE_DATE}};
	struct ade_error err = {0};

	make_frame(f1, cols, 2, 50, 1, 1);
	make_frame(f0, cols, 2, 0, 1, 0);
	load_ok(db, "2026-01-01", NULL, "a", f1, NULL, 0);
	load_ok(db, "2026-01-02", NULL, "a", f1, NULL, 0);
	load_ok(db, "2026-01-01", NULL, "a", f1, NULL, 0);
	/* No index on a facts table; the ranges hold exactly the rows. */
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE tbl_name='a' AND "
				   "type='index'"),
			 0);
	assert_int_equal(q_int(db, "SELECT first_rowid FROM loads WHERE \"table\"='a' AND "
				   "ds='2026-01-01'"),
			 101);
	assert_ranges_cover(db, "a");
	/* Same date, no rows: an empty range, the old rows gone. */
	load_ok(db, "2026-01-02", NULL, "a", f0, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a WHERE ds='2026-01-02'"), 0);
	assert_int_equal(q_int(db, "SELECT last_rowid - first_rowid FROM loads WHERE "
				   "\"table\"='a' AND ds='2026-01-02'"),
			 -1);
	assert_ranges_cover(db, "a");
	/* Dates formatted through the per-day cache read back as loaded. */
	char *t = q_text(db, "SELECT group_concat(coalesce(d, 'null'), ',') FROM (SELECT d FROM a "
			     "WHERE ds='2026-01-01' ORDER BY id LIMIT 3)");
	assert_string_equal(t, "null,2026-01-02,2026-01-03");
	free(t);

	/* Another table for the same date: the rows in the old one go too,
	 * since the record that would delete them is replaced. */
	load_ok(db, "2026-01-01", NULL, "b", f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a WHERE ds='2026-01-01'"), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM b WHERE ds='2026-01-01'"), 50);
	assert_ranges_cover(db, "a");
	assert_ranges_cover(db, "b");
	/* So does a re-run without facts. */
	struct ade_warehouse_load nf = {.pipeline = "p", .ds = "2026-01-01", .run_id = "run-2"};
	assert_int_equal(ade_warehouse_load(db, &nf, NULL, &err), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM b"), 0);
	/* Another pipeline's rows in the same table are not touched. */
	struct ade_warehouse_load other = {.pipeline = "q", .ds = "2026-01-02", .table = "a",
					   .facts_dir = f1};
	assert_int_equal(ade_warehouse_load(db, &other, NULL, &err), 0);
	load_ok(db, "2026-01-02", NULL, "a", f1, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a WHERE pipeline='q'"), 50);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a WHERE pipeline='p'"), 50);
	assert_ranges_cover(db, "a");

	/*
	 * When SQLite cannot number a load's rows consecutively (the largest
	 * rowid is taken), the load fails and nothing changes: a range that
	 * might take in other rows is never recorded.
	 */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO a(rowid, pipeline, ds) VALUES "
					  "(9223372036854775807, 'x', 'x')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	struct ade_warehouse_load ld = {.pipeline = "p", .ds = "2026-01-02", .table = "a",
					.facts_dir = f1};
	assert_int_equal(ade_warehouse_load(db, &ld, NULL, &err), ADE_EDB);
	assert_non_null(strstr(err.msg, "rowid"));
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a"), 101);
	assert_int_equal(q_int(db, "SELECT count(*) FROM a WHERE ds='2026-01-02' AND pipeline='p'"),
			 50);
	sqlite3_close(db);
	free(f1);
	free(f0);
	tu_rmdir(dir);
	(void)state;
}

/*
 * A version 2 warehouse: facts tables with the (pipeline, ds, batch)
 * index and loads without ranges.  Table t was loaded as version 2 did
 * (each partition's rows consecutive); in u two partitions' rows
 * interleave, as only a hand edit could leave them.
 */
static void test_migrate_from_v2(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = ade_xasprintf("%s/warehouse.db", dir);
	char *fr = ade_xasprintf("%s/f", dir);
	struct col cols[] = {{"n", ADE_TYPE_INT64}};
	struct ade_error err = {0};
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(ade_warehouse_migrate(db, 2, &err), 0);
	assert_int_equal(
		sqlite3_exec(
			db,
			"CREATE TABLE t(pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL "
			"DEFAULT '', run_id TEXT, n INTEGER);"
			"CREATE INDEX t_partition ON t(pipeline, ds, batch);"
			"CREATE TABLE u(pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL "
			"DEFAULT '', run_id TEXT, n INTEGER);"
			"CREATE INDEX u_partition ON u(pipeline, ds, batch);"
			"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 40) "
			"INSERT INTO t(rowid, pipeline, ds, batch, n) SELECT i, 'p', CASE WHEN i <= 10 "
			"THEN '2026-01-01' WHEN i <= 30 THEN '2026-01-02' ELSE '2026-01-03' END, "
			"CASE WHEN i <= 30 THEN '' WHEN i <= 35 THEN '1' ELSE '2' END, i FROM c;"
			"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20) "
			"INSERT INTO u(pipeline, ds, n) SELECT 'p', CASE i % 2 WHEN 0 THEN '2026-01-01' "
			"ELSE '2026-01-02' END, i FROM c;"
			"INSERT INTO loads(pipeline, ds, batch, \"table\", rows, loaded_at) VALUES "
			"('p', '2026-01-01', '', 't', 10, 'x'), ('p', '2026-01-02', '', 't', 20, 'x'), "
			"('p', '2026-01-03', '1', 't', 5, 'x'), ('p', '2026-01-03', '2', 't', 5, 'x'), "
			"('p', '2026-01-01', '', 'kpi_history', 1, 'x'), "
			"('p', '2026-01-01', '', 'u', 10, 'x'), ('p', '2026-01-02', '', 'u', 10, 'x'), "
			"('p', '2026-01-05', '', 'gone', 3, 'x')",
			NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);

	db = open_wh(dir);
	assert_int_equal(ade_warehouse_version(db), 3);
	char *t = q_text(db, "SELECT group_concat(ds || '/' || batch || ':' || first_rowid || '-' || "
			     "last_rowid, ' ') FROM (SELECT * FROM loads WHERE \"table\"='t' ORDER BY "
			     "ds, batch)");
	assert_string_equal(t, "2026-01-01/:1-10 2026-01-02/:11-30 2026-01-03/1:31-35 "
			       "2026-01-03/2:36-40");
	free(t);
	assert_int_equal(q_int(db, "SELECT count(*) FROM loads WHERE \"table\" IN ('u', 'gone', "
				   "'kpi_history') AND first_rowid IS NOT NULL"),
			 0);
	/* t's index is no longer needed; u keeps its own. */
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='t_partition'"), 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='u_partition'"), 1);

	/* Dates replace exactly themselves, in both tables. */
	make_frame(fr, cols, 1, 7, 1, 0);
	load_ok(db, "2026-01-02", NULL, "t", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE ds='2026-01-02'"), 7);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 27);
	load_ok(db, "2026-01-03", "1", "t", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE ds='2026-01-03' AND batch='1'"), 7);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE ds='2026-01-03' AND batch='2'"), 5);
	load_ok(db, "2026-01-03", NULL, "t", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE ds='2026-01-03'"), 7);
	assert_int_equal(q_int(db, "SELECT sum(n) FROM t WHERE ds='2026-01-01'"), 55);
	assert_ranges_cover(db, "t");
	load_ok(db, "2026-01-01", NULL, "u", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM u WHERE ds='2026-01-01'"), 7);
	assert_int_equal(q_int(db, "SELECT count(*) FROM u WHERE ds='2026-01-02'"), 10);
	load_ok(db, "2026-01-01", NULL, "u", fr, NULL, 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM u"), 17);
	sqlite3_close(db);
	free(fr);
	free(path);
	tu_rmdir(dir);
	(void)state;
}

/* ---------- result.json of every producer, KPIs by hand ---------- */

static void write_result(const char *dir, const char *json)
{
	char *p = ade_xasprintf("%s/result.json", dir);
	assert_int_equal(ade_fs_mkdirs(dir, NULL), 0);
	assert_int_equal(ade_fs_write_atomic(p, json, strlen(json), NULL), 0);
	free(p);
}

static void test_results(void **state)
{
	char *dir = tu_mkdtemp();
	sqlite3 *db = open_wh(dir);
	char *d[8];
	const char *names[] = {"ingest", "schema", "quality",  "validate",
			       "analytics", "train", "mystery", "features"};
	struct ade_warehouse_input in[8];

	for (int i = 0; i < 8; i++) {
		d[i] = ade_xasprintf("%s/%s", dir, names[i]);
		in[i] = (struct ade_warehouse_input){names[i], d[i]};
	}
	write_result(d[0], "{\"producer\":\"ade-ingest\",\"rows_read\":10,\"rows_quarantined\":2,"
			   "\"quarantine\":{\"rate\":0.2,\"by_reason\":{\"malformed\":1,"
			   "\"type_mismatch\":1,\"too_long\":0},\"nulled_by_reason\":{\"x\":3}}}");
	write_result(d[1], "{\"producer\":\"ade-schema\",\"dataset\":\"emp\",\"schema_version\":2,"
			   "\"schema_hash\":\"xxh3-128:ab\",\"schema\":{\"columns\":[]},"
			   "\"changes\":[{\"kind\":\"renamed\",\"column\":\"uid\",\"from\":\"uid\","
			   "\"to\":\"user_id\",\"confidence\":0.99,\"action\":\"healed\"}],"
			   "\"healing\":[{\"kind\":\"rename\",\"from\":\"uid\",\"to\":\"user_id\"}]}");
	write_result(d[2], "{\"producer\":\"ade-quality\",\"rows_in\":8,\"rows_out\":7,"
			   "\"duplicates\":{\"removed\":1},\"score\":91.25,"
			   "\"quality\":{\"dimensions\":{\"completeness\":99.5,\"uniqueness\":87.5,"
			   "\"validity\":80,\"consistency\":null}},"
			   "\"healing_log\":[{\"column\":\"age\",\"action\":\"impute\",\"value\":40}],"
			   "\"outliers\":{\"rows_with_outliers\":0,\"columns\":{\"salary\":"
			   "{\"action\":\"flag\",\"count\":0}}}}");
	write_result(d[3], "{\"producer\":\"ade-validate\",\"summary\":{\"failed\":1,"
			   "\"violations\":2},\"rules\":[{\"name\":\"between_age\",\"kind\":\"between\","
			   "\"column\":\"age\",\"severity\":\"warn\",\"status\":\"failed\","
			   "\"passed\":false,\"evaluated\":7,\"failures\":2,\"percent\":28.57,"
			   "\"params\":{\"min\":18}},{\"name\":\"nn\",\"kind\":\"not_null\","
			   "\"passed\":true}]}");
	char *vp = ade_xasprintf("%s/violations.ndjson", d[3]);
	const char *viol = "{\"rule\":\"between_age\",\"row\":1,\"value\":3}\n"
			   "{\"rule\":\"between_age\",\"row\":5,\"value\":99}\n";
	assert_int_equal(ade_fs_write_atomic(vp, viol, strlen(viol), NULL), 0);
	free(vp);
	/* ade-analytics' shape: sets by name with flat rows, KPIs by name. */
	write_result(d[4], "{\"producer\":\"ade-analytics\",\"sets\":{\"by_dept\":{\"group_by\":"
			   "[\"dept\"],\"rows\":[{\"dept\":\"A\",\"headcount\":2,\"avg_salary\":15},"
			   "{\"dept\":\"B\",\"headcount\":1,\"avg_salary\":30}]},\"total\":"
			   "{\"group_by\":[],\"rows\":[{\"headcount\":3,\"avg_salary\":20}]}},"
			   "\"kpis\":{\"total.headcount\":3,\"total.avg_salary\":20,\"rows\":3}}");
	write_result(d[5], "{\"producer\":\"ade-train\",\"model_version\":\"m1\","
			   "\"model_metrics\":[{\"model_version\":\"m1\",\"metric\":\"r2\","
			   "\"value\":0.75},{\"model_version\":\"m1\",\"metric\":\"rmse\","
			   "\"value\":12.5},{\"metric\":\"note\",\"value\":\"x\"}]}");
	write_result(d[6], "{\"producer\":\"someone-else\"}");
	write_result(d[7], "{\"producer\":\"ade-features\",\"feature_versions\":[{"
			   "\"version\":4,\"hash\":\"xxh3-128:cd\",\"rows\":7,\"columns\":12}]}");

	char *fr = ade_xasprintf("%s/frame", dir);
	struct col cols[] = {{"id", ADE_TYPE_INT64}};
	make_frame(fr, cols, 1, 7, 1, 0);
	struct ade_warehouse_load ld = {.pipeline = "p", .ds = "2026-01-05", .run_id = "r",
					.table = "emp", .facts_dir = fr, .inputs = in,
					.n_inputs = 8};
	struct ade_error err = {0};
	for (int rep = 0; rep < 2; rep++) {
		cJSON *report = cJSON_CreateObject();
		if (ade_warehouse_load(db, &ld, report, &err))
			fail_msg("%s", err.msg);
		char *notes = cJSON_PrintUnformatted(cJSON_GetObjectItem(report, "notes"));
		assert_non_null(strstr(notes, "someone-else"));
		free(notes);
		cJSON_Delete(report);
	}
	assert_int_equal(q_int(db, "SELECT count(*) FROM quarantine_counts"), 4);
	assert_int_equal(q_int(db, "SELECT count FROM quarantine_counts WHERE reason='malformed'"), 1);
	assert_int_equal(q_int(db, "SELECT version FROM schema_versions WHERE pipeline='p' AND "
				   "ds='2026-01-05' AND dataset='emp'"),
			 2);
	assert_int_equal(q_int(db, "SELECT count(*) FROM schema_changes WHERE kind='renamed' AND "
				   "to_value='user_id'"),
			 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM healing_log"), 3);
	assert_true(q_dbl(db, "SELECT score FROM quality_results") == 91.25);
	assert_true(isnan(q_dbl(db, "SELECT consistency FROM quality_results")));
	assert_int_equal(q_int(db, "SELECT count(*) FROM validation_results"), 2);
	assert_int_equal(q_int(db, "SELECT failures FROM validation_results WHERE rule='between_age'"),
			 2);
	assert_int_equal(q_int(db, "SELECT sum(row_index) FROM validation_violations"), 6);
	assert_int_equal(q_int(db, "SELECT count(*) FROM analytics"), 6);
	assert_true(q_dbl(db, "SELECT value FROM analytics WHERE set_name='by_dept' AND "
			      "json_extract(group_key, '$.dept')='A' AND metric='avg_salary'") == 15);
	assert_int_equal(q_int(db, "SELECT count(*) FROM analytics WHERE group_label='B'"), 2);
	assert_int_equal(q_int(db, "SELECT count(*) FROM model_metrics WHERE model_version='m1'"), 2);
	assert_true(q_dbl(db, "SELECT value FROM model_metrics WHERE metric='rmse'") == 12.5);
	assert_int_equal(q_int(db, "SELECT columns FROM feature_versions WHERE version='4' AND "
				   "hash='xxh3-128:cd' AND rows=7"),
			 12);
	/* KPIs: one row each, analytics' own value wins over the derived "rows". */
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history WHERE kpi='rows'"), 1);
	assert_int_equal(q_int(db, "SELECT value FROM kpi_history WHERE kpi='rows'"), 3);
	assert_true(q_dbl(db, "SELECT value FROM kpi_history WHERE kpi='total.avg_salary'") == 20);
	assert_true(q_dbl(db, "SELECT value FROM kpi_history WHERE kpi='quarantine_rate'") == 0.2);
	assert_true(q_dbl(db, "SELECT value FROM kpi_history WHERE kpi='quality_score'") == 91.25);
	assert_int_equal(q_int(db, "SELECT value FROM kpi_history WHERE kpi='validation_rules_failed'"),
			 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM kpi_history WHERE kpi='quality_consistency'"),
			 0);
	assert_int_equal(q_int(db, "SELECT rows FROM loads WHERE \"table\"='analytics'"), 6);
	assert_int_equal(q_int(db, "SELECT rows FROM loads WHERE \"table\"='kpi_history'"),
			 q_int(db, "SELECT count(*) FROM kpi_history"));
	assert_int_equal(q_int(db, "SELECT count(*) FROM loads WHERE ds='2026-01-05'"),
			 q_int(db, "SELECT count(DISTINCT \"table\") FROM loads"));

	/* A broken result.json fails the load and rolls everything back. */
	write_result(d[2], "{\"producer\": ");
	assert_int_not_equal(ade_warehouse_load(db, &ld, NULL, &err), 0);
	assert_non_null(strstr(err.msg, "quality"));
	assert_int_equal(q_int(db, "SELECT count(*) FROM analytics"), 6);
	assert_int_equal(q_int(db, "SELECT count(*) FROM emp"), 7);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	sqlite3_close(db);
	for (int i = 0; i < 8; i++)
		free(d[i]);
	free(fr);
	tu_rmdir(dir);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident),      cmocka_unit_test(test_migrate_from_v1),
		cmocka_unit_test(test_idempotent), cmocka_unit_test(test_evolution),
		cmocka_unit_test(test_hostile),    cmocka_unit_test(test_results),
		cmocka_unit_test(test_ranges),     cmocka_unit_test(test_migrate_from_v2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
