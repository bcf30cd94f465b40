/*
 * state.db in SQLite.  Every write is its own short transaction: the
 * scheduler never holds a write lock across a stage, so parallel ade
 * processes (a backfill next to a daily run) only ever wait milliseconds.
 */
#include "state.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"
#include "core/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *schema_sql =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
	"CREATE TABLE IF NOT EXISTS runs(\n"
	"  run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, ds TEXT NOT NULL,\n"
	"  run_number INTEGER NOT NULL, state TEXT NOT NULL,\n"
	"  started_at TEXT, ended_at TEXT, owner_pid INTEGER, owner_start INTEGER,\n"
	"  pipeline_path TEXT, pipeline_hash TEXT, dir TEXT,\n"
	"  UNIQUE(pipeline, ds, run_number));\n"
	"CREATE INDEX IF NOT EXISTS runs_state ON runs(state);\n"
	"CREATE TABLE IF NOT EXISTS stages(\n"
	"  run_id TEXT NOT NULL REFERENCES runs(run_id), stage TEXT NOT NULL,\n"
	"  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, note TEXT,\n"
	"  updated_at TEXT, PRIMARY KEY(run_id, stage));\n"
	"CREATE TABLE IF NOT EXISTS attempts(\n"
	"  run_id TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL,\n"
	"  state TEXT NOT NULL, pid INTEGER, pid_start INTEGER,\n"
	"  started_at TEXT, ended_at TEXT, wall_ms REAL, user_ms REAL, sys_ms REAL,\n"
	"  maxrss_kb INTEGER, exit_code INTEGER, signal INTEGER, reason TEXT, log_path TEXT,\n"
	"  PRIMARY KEY(run_id, stage, attempt));\n";

#define STATE_SCHEMA_VERSION 2

static int db_fail(struct ade_state *st, struct ade_error *err, const char *what)
{
	int code = sqlite3_errcode(st->db);

	return ade_error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
			     "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

int ade_state_exec(struct ade_state *st, const char *sql, struct ade_error *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st, err, sql);
	return 0;
}

/* The schema version state.db records, or 0 (no such table yet, or unreadable). */
static int schema_version(struct ade_state *st)
{
	sqlite3_stmt *s = NULL;
	int version = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &s,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		version = atoi((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return version;
}

int ade_state_open(struct ade_state *st, const char *home, struct ade_error *err)
{
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = ade_fs_mkdirs(home, err)))
		return rc;
	st->path = ade_xasprintf("%s/state.db", home);
	struct stat sb;
	int fresh = stat(st->path, &sb) < 0 && errno == ENOENT;
	if (sqlite3_open_v2(st->path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "cannot open '%s': %s", st->path,
				   st->db ? sqlite3_errmsg(st->db) : "out of memory");
		ade_state_close(st);
		return rc;
	}
	sqlite3_busy_timeout(st->db, 30000);
	/*
	 * WAL lets readers (ade runs, ade serve) go on while a scheduler
	 * writes; synchronous=NORMAL keeps commits durable up to the last
	 * checkpoint, which is what a scheduler needs to resume.
	 */
	/*
	 * A file this call creates holds nothing to lose until its schema is
	 * in: switching it to WAL and creating the tables need not wait for
	 * the disk (four fsyncs, most of a fresh home's first ade run start).
	 */
	if ((fresh && (rc = ade_state_exec(st, "PRAGMA synchronous=OFF", err))) ||
	    (rc = ade_state_exec(st, "PRAGMA journal_mode=WAL", err)) ||
	    (!fresh && (rc = ade_state_exec(st, "PRAGMA synchronous=NORMAL", err))) ||
	    (rc = ade_state_exec(st, "PRAGMA foreign_keys=ON", err)))
		goto fail;
	/*
	 * The WAL is kept when the last connection closes (after the usual
	 * checkpoint, so state.db alone is complete): deleting a 1000-stage
	 * run's 4 MB WAL at every exit and growing it again at the next run
	 * was a block release and allocation per run for nothing.
	 */
	int persist = 1;
	sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	/* Already at this schema: no write transaction at every open. */
	if (schema_version(st) == STATE_SCHEMA_VERSION)
		return 0;
	if ((rc = ade_state_exec(st, "BEGIN IMMEDIATE", err)))
		goto fail;
	if ((rc = ade_state_exec(st, schema_sql, err))) {
		ade_state_exec(st, "ROLLBACK", NULL);
		goto fail;
	}
	{
		int version = schema_version(st);
		if (version > STATE_SCHEMA_VERSION) {
			ade_state_exec(st, "ROLLBACK", NULL);
			rc = ade_error_set(err, ADE_EDB,
					   "%s was written by a newer ade (schema %d, this ade knows %d)",
					   st->path, version, STATE_SCHEMA_VERSION);
			goto fail;
		}
		/* Version 2 added runs.reason; older files get the column. */
		if (sqlite3_exec(st->db, "SELECT reason FROM runs LIMIT 0", NULL, NULL, NULL) !=
			    SQLITE_OK &&
		    (rc = ade_state_exec(st, "ALTER TABLE runs ADD COLUMN reason TEXT", err))) {
			ade_state_exec(st, "ROLLBACK", NULL);
			goto fail;
		}
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO meta VALUES('schema_version','%d')",
			 STATE_SCHEMA_VERSION);
		if ((rc = ade_state_exec(st, sql, err)) || (rc = ade_state_exec(st, "COMMIT", err))) {
			ade_state_exec(st, "ROLLBACK", NULL);
			goto fail;
		}
		if (fresh && (rc = ade_state_exec(st, "PRAGMA synchronous=NORMAL", err)))
			goto fail;
	}
	return 0;
fail:
	ade_state_close(st);
	return rc;
}

void ade_state_close(struct ade_state *st)
{
	for (size_t i = 0; i < sizeof(st->cache) / sizeof(st->cache[0]); i++) {
		sqlite3_finalize(st->cache[i]);
		st->cache[i] = NULL;
	}
	if (st->db)
		sqlite3_close(st->db);
	st->db = NULL;
	free(st->path);
	st->path = NULL;
}

int ade_state_begin(struct ade_state *st, struct ade_error *err)
{
	return ade_state_exec(st, "BEGIN IMMEDIATE", err);
}

int ade_state_commit(struct ade_state *st, struct ade_error *err)
{
	int rc = ade_state_exec(st, "COMMIT", err);

	if (rc)
		ade_state_exec(st, "ROLLBACK", NULL);
	return rc;
}

enum { STMT_STAGE_SET, STMT_ATTEMPT_START, STMT_ATTEMPT_END, STMT_STAGE_GET, STMT_ATTEMPT_FULL };

/*
 * A statement prepared once per handle: the executor writes a few rows per
 * stage, and parsing the SQL each time was half of its instructions.
 */
static sqlite3_stmt *cached(struct ade_state *st, int slot, const char *sql)
{
	if (!st->cache[slot])
		sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->cache[slot],
				   NULL);
	return st->cache[slot];
}

static int step_cached(struct ade_state *st, sqlite3_stmt *s, struct ade_error *err,
		       const char *what)
{
	int rc = s && sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, err, what);

	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	return rc;
}

static char *col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? ade_xstrdup((const char *)t) : NULL;
}

void ade_run_row_release(struct ade_run_row *r)
{
	free(r->run_id);
	free(r->pipeline);
	free(r->ds);
	free(r->state);
	free(r->started_at);
	free(r->ended_at);
	free(r->pipeline_path);
	free(r->pipeline_hash);
	free(r->dir);
	memset(r, 0, sizeof(*r));
}

#define RUN_COLS \
	"run_id, pipeline, ds, run_number, state, started_at, ended_at, owner_pid, " \
	"owner_start, pipeline_path, pipeline_hash, dir"

static void fill_run(sqlite3_stmt *s, struct ade_run_row *r)
{
	r->run_id = col_str(s, 0);
	r->pipeline = col_str(s, 1);
	r->ds = col_str(s, 2);
	r->run_number = sqlite3_column_int(s, 3);
	r->state = col_str(s, 4);
	r->started_at = col_str(s, 5);
	r->ended_at = col_str(s, 6);
	r->owner_pid = sqlite3_column_int(s, 7);
	r->owner_start = sqlite3_column_int64(s, 8);
	r->pipeline_path = col_str(s, 9);
	r->pipeline_hash = col_str(s, 10);
	r->dir = col_str(s, 11);
}

/* Runs a query expected to return at most one run, binding text params. */
static int query_run(struct ade_state *st, const char *sql, int nparams, const char **params,
		     struct ade_run_row *r, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_fail(st, err, "prepare");
	for (int i = 0; i < nparams; i++)
		sqlite3_bind_text(s, i + 1, params[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		fill_run(s, r);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = ADE_ENOTFOUND;
		ade_error_set(err, ADE_ENOTFOUND, "no such run");
	} else {
		rc = db_fail(st, err, "query");
	}
	sqlite3_finalize(s);
	return rc;
}

int64_t ade_proc_start_time(int pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	long long start = 0;
	/* After ')': state is field 3; starttime is field 22. */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%lld", &start) != 1)
		return 0;
	return start;
}

int64_t ade_proc_ticks_now(void)
{
	static long hz;
	struct timespec ts;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	/* The kernel's start_time is CLOCK_BOOTTIME at the fork, in these ticks, rounded down. */
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) / (1000000000 / hz);
}

int ade_proc_same_start(int64_t recorded, int64_t now_start)
{
	/*
	 * Recorded from the clock just before the spawn: the child's own
	 * start is the same tick or the next (two: a slow vfork).  A pid
	 * reused within 20 ms is not a real case; one read from /proc
	 * matches exactly, which this also accepts.
	 */
	return now_start >= recorded && now_start - recorded <= 2;
}

int ade_state_run_create(struct ade_state *st, const char *pipeline, const char *ds,
			 const char *pipeline_path, const char *pipeline_hash,
			 const char *home, struct ade_run_row *r, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char id[37], now[32];
	int rc, number = 1;

	ade_uuid7(id);
	ade_format_utc(ade_now_wall_us(), now);
	if ((rc = ade_state_exec(st, "BEGIN IMMEDIATE", err)))
		return rc;
	sqlite3_prepare_v2(st->db,
			   "SELECT coalesce(max(run_number),0)+1 FROM runs WHERE pipeline=? AND ds=?",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ds, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		number = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	char *dir = ade_xasprintf("%s/runs/%s/%s/run-%d", home, pipeline, ds, number);
	sqlite3_prepare_v2(st->db,
			   "INSERT INTO runs(" RUN_COLS ") VALUES(?,?,?,?,'running',?,NULL,?,?,?,?,?)",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ds, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, number);
	sqlite3_bind_text(s, 5, now, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, getpid());
	sqlite3_bind_int64(s, 7, ade_proc_start_time(getpid()));
	sqlite3_bind_text(s, 8, pipeline_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, pipeline_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(dir);
	if (rc != SQLITE_DONE) {
		rc = db_fail(st, err, "insert run");
		ade_state_exec(st, "ROLLBACK", NULL);
		return rc;
	}
	if ((rc = ade_state_exec(st, "COMMIT", err)))
		return rc;
	const char *params[] = {id};
	return query_run(st, "SELECT " RUN_COLS " FROM runs WHERE run_id=?", 1, params, r, err);
}

int ade_state_run_unfinished(struct ade_state *st, const char *pipeline, const char *ds,
			     struct ade_run_row *r, struct ade_error *err)
{
	const char *params[] = {pipeline, ds};

	return query_run(st,
			 "SELECT " RUN_COLS " FROM runs WHERE pipeline=? AND ds=? AND state IN "
			 "('queued','running') ORDER BY run_number DESC LIMIT 1",
			 2, params, r, err);
}

int ade_state_run_latest(struct ade_state *st, const char *pipeline, const char *ds,
			 struct ade_run_row *r, struct ade_error *err)
{
	const char *params[] = {pipeline, ds};

	return query_run(st,
			 "SELECT " RUN_COLS " FROM runs WHERE pipeline=? AND ds=? "
			 "ORDER BY run_number DESC LIMIT 1",
			 2, params, r, err);
}

int ade_state_run_find(struct ade_state *st, const char *spec, struct ade_run_row *r,
		       struct ade_error *err)
{
	const char *slash = strchr(spec, '/');
	int rc;

	if (slash) {
		/* pipeline/ds[/N]: N defaults to the newest run of that date. */
		char *copy = ade_xstrdup(spec);
		char *pl = copy, *ds = strchr(copy, '/') + 1, *num = strchr(ds, '/');
		ds[-1] = '\0';
		if (num)
			*num++ = '\0';
		if (num) {
			const char *params[] = {pl, ds, num};
			rc = query_run(st,
				       "SELECT " RUN_COLS " FROM runs WHERE pipeline=? AND ds=? AND "
				       "run_number=CAST(? AS INTEGER)",
				       3, params, r, err);
		} else {
			rc = ade_state_run_latest(st, pl, ds, r, err);
		}
		free(copy);
	} else if (!*spec || spec[strspn(spec, "0123456789abcdefABCDEF-")]) {
		/* Not an id prefix; never let '%' or '_' reach LIKE as wildcards. */
		rc = ADE_ENOTFOUND;
		memset(r, 0, sizeof(*r));
	} else {
		char *like = ade_xasprintf("%s%%", spec);
		const char *params[] = {like};
		rc = query_run(st,
			       "SELECT " RUN_COLS " FROM runs WHERE run_id LIKE ? "
			       "ORDER BY run_id LIMIT 2",
			       1, params, r, err);
		if (!rc) {
			/* Refuse an ambiguous prefix rather than guess. */
			sqlite3_stmt *s = NULL;
			int n = 0;
			sqlite3_prepare_v2(st->db, "SELECT count(*) FROM runs WHERE run_id LIKE ?", -1,
					   &s, NULL);
			sqlite3_bind_text(s, 1, like, -1, SQLITE_STATIC);
			if (sqlite3_step(s) == SQLITE_ROW)
				n = sqlite3_column_int(s, 0);
			sqlite3_finalize(s);
			if (n > 1) {
				ade_run_row_release(r);
				rc = ade_error_set(err, ADE_EINVAL, "run id prefix '%s' is ambiguous",
						   spec);
			}
		}
		free(like);
	}
	if (rc == ADE_ENOTFOUND)
		ade_error_set(err, ADE_ENOTFOUND,
			      "no run '%s' (give a run id, an id prefix, or pipeline/ds[/N])", spec);
	return rc;
}

int ade_state_run_claim(struct ade_state *st, const char *run_id, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	sqlite3_prepare_v2(st->db,
			   "UPDATE runs SET owner_pid=?, owner_start=?, state='running' WHERE run_id=?",
			   -1, &s, NULL);
	sqlite3_bind_int(s, 1, getpid());
	sqlite3_bind_int64(s, 2, ade_proc_start_time(getpid()));
	sqlite3_bind_text(s, 3, run_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, err, "claim run");
	sqlite3_finalize(s);
	return rc;
}

int ade_state_run_set_state(struct ade_state *st, const char *run_id, const char *state,
			    int ended, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];
	int rc;

	ade_format_utc(ade_now_wall_us(), now);
	sqlite3_prepare_v2(st->db,
			   "UPDATE runs SET state=?1, ended_at=?2 WHERE run_id=?3", -1, &s, NULL);
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	if (ended)
		sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, run_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, err, "update run");
	sqlite3_finalize(s);
	return rc;
}

int ade_state_run_note(struct ade_state *st, const char *run_id, const char *note,
		       struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	sqlite3_prepare_v2(st->db, "UPDATE runs SET reason=? WHERE run_id=?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, run_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, err, "update run note");
	sqlite3_finalize(s);
	return rc;
}

int ade_state_stage_set(struct ade_state *st, const char *run_id, const char *stage,
			const char *state, int attempts, const char *note, int64_t at_us,
			struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];

	ade_format_utc(at_us ? at_us : ade_now_wall_us(), now);
	s = cached(st, STMT_STAGE_SET,
		   "INSERT INTO stages(run_id, stage, state, attempts, note, updated_at) "
		   "VALUES(?,?,?,?,?,?) ON CONFLICT(run_id, stage) DO UPDATE SET "
		   "state=excluded.state, attempts=excluded.attempts, "
		   "note=coalesce(excluded.note, note), updated_at=excluded.updated_at");
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, attempts);
	if (note)
		sqlite3_bind_text(s, 5, note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, now, -1, SQLITE_STATIC);
	return step_cached(st, s, err, "update stage");
}

char *ade_state_stage_get(struct ade_state *st, const char *run_id, const char *stage,
			  int *attempts)
{
	sqlite3_stmt *s = cached(st, STMT_STAGE_GET,
				 "SELECT state, attempts FROM stages WHERE run_id=? AND stage=?");
	char *state = NULL;

	if (!s)
		return NULL;
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		state = col_str(s, 0);
		if (attempts)
			*attempts = sqlite3_column_int(s, 1);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return state;
}

/*
 * Binds an attempt's key and start to parameters 1-7 (run_id, stage,
 * attempt, pid, pid_start, started_at, log_path); started holds the
 * formatted start time, which s borrows.
 */
static void bind_start(sqlite3_stmt *s, const char *run_id, const char *stage, int attempt,
		       int pid, int64_t pid_start, int64_t started_us, const char *log_path,
		       char started[32])
{
	ade_format_utc(started_us ? started_us : ade_now_wall_us(), started);
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, attempt);
	sqlite3_bind_int(s, 4, pid);
	sqlite3_bind_int64(s, 5, pid_start);
	sqlite3_bind_text(s, 6, started, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, log_path, -1, SQLITE_STATIC);
}

int ade_state_attempt_start(struct ade_state *st, const char *run_id, const char *stage,
			    int attempt, int pid, int64_t pid_start, int64_t started_us,
			    const char *log_path, struct ade_error *err)
{
	sqlite3_stmt *s = cached(st, STMT_ATTEMPT_START,
				 "INSERT OR REPLACE INTO attempts(run_id, stage, attempt, pid, "
				 "pid_start, started_at, log_path, state) VALUES(?,?,?,?,?,?,?,'running')");
	char started[32];

	bind_start(s, run_id, stage, attempt, pid, pid_start, started_us, log_path, started);
	return step_cached(st, s, err, "insert attempt");
}

/*
 * Binds an attempt's end to parameters at, at+1, ... in the order state,
 * ended_at, wall_ms, user_ms, sys_ms, maxrss_kb, exit_code, signal,
 * reason; ended holds the formatted end time, which s borrows.
 */
static void bind_end(sqlite3_stmt *s, int at, const struct ade_attempt_end *e, char ended[32])
{
	ade_format_utc(e->ended_us ? e->ended_us : ade_now_wall_us(), ended);
	sqlite3_bind_text(s, at, e->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, at + 1, ended, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, at + 2, e->wall_ms);
	sqlite3_bind_double(s, at + 3, e->user_ms);
	sqlite3_bind_double(s, at + 4, e->sys_ms);
	sqlite3_bind_int64(s, at + 5, e->maxrss_kb);
	if (e->exit_code >= 0)
		sqlite3_bind_int(s, at + 6, e->exit_code);
	if (e->signal)
		sqlite3_bind_int(s, at + 7, e->signal);
	if (e->reason)
		sqlite3_bind_text(s, at + 8, e->reason, -1, SQLITE_STATIC);
}

int ade_state_attempt_end(struct ade_state *st, const char *run_id, const char *stage,
			  int attempt, const struct ade_attempt_end *e, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char now[32];

	s = cached(st, STMT_ATTEMPT_END,
		   "UPDATE attempts SET state=?, ended_at=?, wall_ms=?, user_ms=?, sys_ms=?, "
		   "maxrss_kb=?, exit_code=?, signal=?, reason=? "
		   "WHERE run_id=? AND stage=? AND attempt=?");
	bind_end(s, 1, e, now);
	sqlite3_bind_text(s, 10, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 12, attempt);
	return step_cached(st, s, err, "update attempt");
}

int ade_state_attempt_record(struct ade_state *st, const char *run_id, const char *stage,
			     int attempt, int pid, int64_t pid_start, int64_t started_us,
			     const char *log_path, const struct ade_attempt_end *e,
			     struct ade_error *err)
{
	sqlite3_stmt *s = cached(st, STMT_ATTEMPT_FULL,
				 "INSERT OR REPLACE INTO attempts(run_id, stage, attempt, pid, pid_start, "
				 "started_at, log_path, state, ended_at, wall_ms, user_ms, sys_ms, "
				 "maxrss_kb, exit_code, signal, reason) "
				 "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	char started[32], ended[32];

	bind_start(s, run_id, stage, attempt, pid, pid_start, started_us, log_path, started);
	bind_end(s, 8, e, ended);
	return step_cached(st, s, err, "insert attempt");
}

int ade_state_attempt_running(struct ade_state *st, const char *run_id, const char *stage,
			      struct ade_attempt_row *a)
{
	sqlite3_stmt *s = NULL;
	int rc = ADE_ENOTFOUND;

	memset(a, 0, sizeof(*a));
	sqlite3_prepare_v2(st->db,
			   "SELECT attempt, pid, pid_start, state, log_path FROM attempts "
			   "WHERE run_id=? AND stage=? AND state='running' ORDER BY attempt DESC LIMIT 1",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		a->attempt = sqlite3_column_int(s, 0);
		a->pid = sqlite3_column_int(s, 1);
		a->pid_start = sqlite3_column_int64(s, 2);
		a->state = col_str(s, 3);
		a->log_path = col_str(s, 4);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

void ade_attempt_row_release(struct ade_attempt_row *a)
{
	free(a->state);
	free(a->log_path);
	memset(a, 0, sizeof(*a));
}
