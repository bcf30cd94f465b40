/*
 * The stream tables of state.db: one row per streamed (pipeline, ds) with
 * the settings fixed at its first start, one row per committed batch (the
 * checkpoint, with its latency), and one row per watched file.  They are
 * created on demand, next to the scheduler's own tables, without changing
 * the state schema version (nothing else reads them).
 */
#include "stream.h"
#include "core/error.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static const char stream_sql[] =
	"CREATE TABLE IF NOT EXISTS stream_runs(\n"
	"  pipeline TEXT NOT NULL, ds TEXT NOT NULL, run_id TEXT NOT NULL,\n"
	"  batch_rows INTEGER NOT NULL, hints TEXT, source TEXT, source_size INTEGER,\n"
	"  source_mtime_ns INTEGER, done INTEGER NOT NULL DEFAULT 0,\n"
	"  started_at TEXT, ended_at TEXT, baseline TEXT, keys_format INTEGER,\n"
	"  PRIMARY KEY(pipeline, ds));\n"
	"CREATE TABLE IF NOT EXISTS stream_batches(\n"
	"  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch INTEGER NOT NULL,\n"
	"  state TEXT NOT NULL, rows INTEGER, rows_loaded INTEGER, dups_skipped INTEGER,\n"
	"  quarantined INTEGER, source_offset INTEGER, source_file TEXT,\n"
	"  committed_at TEXT, latency_ms REAL, run_id TEXT, keys BLOB, dups_earlier INTEGER,\n"
	"  PRIMARY KEY(pipeline, ds, batch));\n"
	"CREATE TABLE IF NOT EXISTS stream_files(\n"
	"  pipeline TEXT NOT NULL, dir TEXT NOT NULL, name TEXT NOT NULL,\n"
	"  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ds TEXT, batch INTEGER,\n"
	"  state TEXT NOT NULL, seen_at TEXT,\n"
	"  PRIMARY KEY(pipeline, dir, name, size, mtime_ns));\n";

static int fail(struct ade_state *st, struct ade_error *err, const char *what)
{
	int code = sqlite3_errcode(st->db);

	return ade_error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
			     "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static void now_text(char out[32])
{
	ade_format_utc(ade_now_wall_us(), out);
}

/*
 * Prepares sql and binds its first two parameters, the pipeline and the
 * date (or watched folder) every statement here is keyed by; NULL on error.
 */
static sqlite3_stmt *prep(struct ade_state *st, const char *sql, const char *pipeline,
			  const char *key)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	return s;
}

int ade_stream_state_init(struct ade_state *st, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int have = 0, rc = ade_state_exec(st, stream_sql, err);

	if (rc)
		return rc;
	/* Tables of an older ade lack the newer columns: add them. */
	static const char *const cols[][3] = {
		{"stream_runs", "baseline", "ALTER TABLE stream_runs ADD COLUMN baseline TEXT"},
		{"stream_batches", "keys", "ALTER TABLE stream_batches ADD COLUMN keys BLOB"},
		{"stream_runs", "keys_format", "ALTER TABLE stream_runs ADD COLUMN keys_format INTEGER"},
		{"stream_batches", "dups_earlier",
		 "ALTER TABLE stream_batches ADD COLUMN dups_earlier INTEGER"},
	};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2",
				       -1, &s, NULL) != SQLITE_OK)
			return fail(st, err, cols[i][0]);
		sqlite3_bind_text(s, 1, cols[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, cols[i][1], -1, SQLITE_STATIC);
		have = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_finalize(s);
		if (!have && (rc = ade_state_exec(st, cols[i][2], err)))
			return rc;
	}
	return 0;
}

int ade_stream_batch_keys(struct ade_state *st, const char *pipeline, const char *ds,
			  void (*fn)(void *arg, int64_t batch, const void *keys, size_t bytes),
			  void *arg, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (!(s = prep(st,
			    "SELECT batch, keys FROM stream_batches WHERE pipeline=? AND ds=? AND "
			    "state='committed' ORDER BY batch",
			    pipeline, ds)))
		return fail(st, err, "stream_batches");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int null = sqlite3_column_type(s, 1) == SQLITE_NULL;
		const void *k = null ? NULL : sqlite3_column_blob(s, 1);
		size_t n = null ? 0 : (size_t)sqlite3_column_bytes(s, 1);
		fn(arg, sqlite3_column_int64(s, 0), null ? NULL : k ? k : "", n);
	}
	rc = rc == SQLITE_DONE ? 0 : fail(st, err, "stream_batches");
	sqlite3_finalize(s);
	return rc;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? ade_xstrdup((const char *)t) : NULL;
}

int ade_stream_run_get(struct ade_state *st, const char *pipeline, const char *ds,
		       struct ade_stream_run_row *r, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!(s = prep(st,
			    "SELECT run_id, batch_rows, hints, source, source_size, "
			    "source_mtime_ns, done, baseline, keys_format FROM stream_runs "
			    "WHERE pipeline=? AND ds=?",
			    pipeline, ds)))
		return fail(st, err, "stream_runs");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		r->run_id = col_dup(s, 0);
		r->batch_rows = sqlite3_column_int(s, 1);
		r->hints = col_dup(s, 2);
		r->source = col_dup(s, 3);
		r->source_size = sqlite3_column_int64(s, 4);
		r->source_mtime_ns = sqlite3_column_int64(s, 5);
		r->done = sqlite3_column_int(s, 6);
		r->baseline = col_dup(s, 7);
		r->keys_format = sqlite3_column_int(s, 8); /* NULL: 0, an older ade's */
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = ADE_ENOTFOUND;
	} else {
		rc = fail(st, err, "stream_runs");
	}
	sqlite3_finalize(s);
	return rc;
}

int ade_stream_run_put(struct ade_state *st, const char *pipeline, const char *ds,
		       const struct ade_stream_run_row *r, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];
	int rc = 0;

	now_text(now);
	if (!(s = prep(st,
			    "INSERT OR REPLACE INTO stream_runs(pipeline, ds, run_id, batch_rows, "
			    "hints, source, source_size, source_mtime_ns, done, started_at, "
			    "baseline, keys_format) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
			    pipeline, ds)))
		return fail(st, err, "stream_runs");
	sqlite3_bind_text(s, 3, r->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, r->batch_rows);
	sqlite3_bind_text(s, 5, r->hints, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, r->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, r->source_size);
	sqlite3_bind_int64(s, 8, r->source_mtime_ns);
	sqlite3_bind_int(s, 9, r->done);
	sqlite3_bind_text(s, 10, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, r->baseline, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 12, r->keys_format);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = fail(st, err, "stream_runs");
	sqlite3_finalize(s);
	return rc;
}

int ade_stream_run_set_done(struct ade_state *st, const char *pipeline, const char *ds,
			    struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];
	int rc = 0;

	now_text(now);
	if (sqlite3_prepare_v2(st->db,
			       "UPDATE stream_runs SET done=1, ended_at=? WHERE pipeline=? AND ds=?",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "stream_runs");
	sqlite3_bind_text(s, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ds, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = fail(st, err, "stream_runs");
	sqlite3_finalize(s);
	return rc;
}

void ade_stream_run_row_release(struct ade_stream_run_row *r)
{
	free(r->run_id);
	free(r->hints);
	free(r->source);
	free(r->baseline);
	memset(r, 0, sizeof(*r));
}

int ade_stream_next_batch(struct ade_state *st, const char *pipeline, const char *ds,
			  int64_t *next, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = 0;

	if (!(s = prep(st,
			    "SELECT max(coalesce((SELECT max(batch) FROM stream_batches "
			    "WHERE pipeline=?1 AND ds=?2), -1), coalesce((SELECT max(batch) "
			    "FROM stream_files WHERE pipeline=?1 AND ds=?2), -1)) + 1",
			    pipeline, ds)))
		return fail(st, err, "stream_batches");
	if (sqlite3_step(s) == SQLITE_ROW)
		*next = sqlite3_column_int64(s, 0);
	else
		rc = fail(st, err, "stream_batches");
	sqlite3_finalize(s);
	return rc;
}

int ade_stream_batch_commit(struct ade_state *st, const char *pipeline, const char *ds,
			    const struct ade_stream_batch_row *b, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];
	int rc = 0;

	now_text(now);
	if (!(s = prep(st,
			    "INSERT OR REPLACE INTO stream_batches(pipeline, ds, batch, state, rows, "
			    "rows_loaded, dups_skipped, quarantined, source_offset, source_file, "
			    "committed_at, latency_ms, run_id, keys, dups_earlier) "
			    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			    pipeline, ds)))
		return fail(st, err, "stream_batches");
	sqlite3_bind_int64(s, 3, b->batch);
	sqlite3_bind_text(s, 4, b->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, b->rows_in);
	sqlite3_bind_int64(s, 6, b->rows_loaded);
	sqlite3_bind_int64(s, 7, b->dups_skipped);
	sqlite3_bind_int64(s, 8, b->quarantined);
	if (b->source_offset >= 0)
		sqlite3_bind_int64(s, 9, b->source_offset);
	else
		sqlite3_bind_null(s, 9);
	sqlite3_bind_text(s, 10, b->source_file, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, now, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 12, b->latency_ms);
	sqlite3_bind_text(s, 13, b->run_id, -1, SQLITE_STATIC);
	if (b->keys)
		sqlite3_bind_blob(s, 14, b->keys, (int)b->keys_bytes, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 14);
	sqlite3_bind_int64(s, 15, b->dups_earlier);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = fail(st, err, "stream_batches");
	sqlite3_finalize(s);
	return rc;
}

int ade_stream_file_get(struct ade_state *st, const char *pipeline, const char *dir,
			const char *name, int64_t size, int64_t mtime_ns, int64_t *batch,
			char **ds, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*ds = NULL;
	*batch = -1;
	if (!(s = prep(st,
			    "SELECT state, batch, ds FROM stream_files WHERE pipeline=? AND dir=? "
			    "AND name=? AND size=? AND mtime_ns=?",
			    pipeline, dir)))
		return fail(st, err, "stream_files");
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, size);
	sqlite3_bind_int64(s, 5, mtime_ns);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 0);
		rc = state && !strcmp(state, "done") ? ADE_SF_DONE : ADE_SF_STARTED;
		*batch = sqlite3_column_int64(s, 1);
		*ds = col_dup(s, 2);
	} else if (rc == SQLITE_DONE) {
		rc = ADE_SF_NEW;
	} else {
		rc = fail(st, err, "stream_files");
	}
	sqlite3_finalize(s);
	return rc;
}

int ade_stream_file_set(struct ade_state *st, const char *pipeline, const char *dir,
			const char *name, int64_t size, int64_t mtime_ns, const char *ds,
			int64_t batch, const char *state, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];
	int rc = 0;

	now_text(now);
	if (!(s = prep(st,
			    "INSERT OR REPLACE INTO stream_files(pipeline, dir, name, size, "
			    "mtime_ns, ds, batch, state, seen_at) VALUES(?,?,?,?,?,?,?,?,?)",
			    pipeline, dir)))
		return fail(st, err, "stream_files");
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, size);
	sqlite3_bind_int64(s, 5, mtime_ns);
	sqlite3_bind_text(s, 6, ds, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, batch);
	sqlite3_bind_text(s, 8, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, now, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = fail(st, err, "stream_files");
	sqlite3_finalize(s);
	return rc;
}
