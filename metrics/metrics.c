/*
 * Rendering the Prometheus text format from state.db and the warehouse,
 * and the run-end observer that writes HOME/metrics/ade.prom.
 */
#include "metrics.h"

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"
#include "scheduler/exec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The exposition format wants every sample of a family together under its
 * HELP and TYPE lines, while one query naturally yields several families
 * per row; so samples collect in a buffer per family and are joined at the
 * end.
 */
enum fam {
	F_LAST_SUCCESS,
	F_LAST_STATE,
	F_LAST_OK,
	F_LAST_DURATION,
	F_LAST_END,
	F_LAST_DS,
	F_ACTIVE,
	F_RUNS,
	F_STAGE_DURATION,
	F_STAGE_CPU,
	F_STAGE_RSS,
	F_STAGE_ATTEMPTS,
	F_STAGE_OK,
	F_KPI,
	F_KPI_DS,
	F_N
};

static const struct {
	const char *name, *help;
} fams[F_N] = {
	[F_LAST_SUCCESS] = {"ade_pipeline_last_success_timestamp_seconds",
			    "When the newest successful run of the pipeline ended (Unix time)."},
	[F_LAST_STATE] = {"ade_pipeline_last_run_state",
			  "State of the pipeline's most recently finished run: 1 for its state, 0 for the other."},
	[F_LAST_OK] = {"ade_pipeline_last_run_success",
		       "1 if the pipeline's most recently finished run succeeded, else 0."},
	[F_LAST_DURATION] = {"ade_pipeline_last_run_duration_seconds",
			     "Wall time of the pipeline's most recently finished run."},
	[F_LAST_END] = {"ade_pipeline_last_run_end_timestamp_seconds",
			"When the pipeline's most recently finished run ended (Unix time)."},
	[F_LAST_DS] = {"ade_pipeline_last_run_date_timestamp_seconds",
		       "Execution date (ds, 00:00 UTC) of the pipeline's most recently finished run."},
	[F_ACTIVE] = {"ade_pipeline_runs_active", "Runs of the pipeline queued or running now."},
	[F_RUNS] = {"ade_pipeline_runs", "Runs of the pipeline recorded in state.db, by state."},
	[F_STAGE_DURATION] = {"ade_stage_duration_seconds",
			      "Wall time of the stage's last attempt in the pipeline's most recently finished run."},
	[F_STAGE_CPU] = {"ade_stage_cpu_seconds",
			 "User plus system CPU time of the stage's last attempt in that run."},
	[F_STAGE_RSS] = {"ade_stage_peak_rss_bytes",
			 "Peak resident set size of the stage's last attempt in that run (wait4 ru_maxrss)."},
	[F_STAGE_ATTEMPTS] = {"ade_stage_attempts", "Attempts the stage took in that run."},
	[F_STAGE_OK] = {"ade_stage_success", "1 if the stage succeeded in that run, else 0."},
	[F_KPI] = {"ade_kpi", "Value of each warehouse KPI for the pipeline's newest loaded date."},
	[F_KPI_DS] = {"ade_kpi_date_timestamp_seconds",
		      "The newest date (ds, 00:00 UTC) with KPIs in the warehouse."},
};

struct render {
	struct ade_strbuf f[F_N];
};

static void add_value(struct ade_strbuf *sb, double v)
{
	if (isnan(v)) {
		ade_strbuf_adds(sb, "NaN");
	} else if (isinf(v)) {
		ade_strbuf_adds(sb, v > 0 ? "+Inf" : "-Inf");
	} else {
		/* The shortest text that reads back as v, integers as digits (core/json.h). */
		char t[32];
		int n = ade_json_format_number(v, t);
		ade_strbuf_add(sb, t, (size_t)n);
	}
}

/* A label value: backslash, double quote and newline escaped, per the format. */
static void add_label_value(struct ade_strbuf *sb, const char *s)
{
	size_t plain = strcspn(s, "\\\"\n");
	ade_strbuf_add(sb, s, plain);
	for (s += plain; *s; s++) {
		if (*s == '\\')
			ade_strbuf_adds(sb, "\\\\");
		else if (*s == '"')
			ade_strbuf_adds(sb, "\\\"");
		else if (*s == '\n')
			ade_strbuf_adds(sb, "\\n");
		else
			ade_strbuf_addc(sb, *s);
	}
}

/* One sample; labels are name/value pairs ending with NULL. */
static void sample(struct render *r, enum fam f, double v, ...)
{
	struct ade_strbuf *sb = &r->f[f];
	va_list ap;
	const char *k;
	int n = 0;

	ade_strbuf_adds(sb, fams[f].name);
	va_start(ap, v);
	while ((k = va_arg(ap, const char *))) {
		const char *val = va_arg(ap, const char *);
		ade_strbuf_addc(sb, n++ ? ',' : '{');
		ade_strbuf_adds(sb, k);
		ade_strbuf_add(sb, "=\"", 2);
		add_label_value(sb, val ? val : "");
		ade_strbuf_addc(sb, '"');
	}
	va_end(ap);
	if (n)
		ade_strbuf_addc(sb, '}');
	ade_strbuf_addc(sb, ' ');
	add_value(sb, v);
	ade_strbuf_addc(sb, '\n');
}

static int db_err(sqlite3 *db, struct ade_error *err, const char *what)
{
	int code = sqlite3_errcode(db) & 0xff;

	/* Interrupted: a server's per-request deadline passed while waiting or reading. */
	int busy = code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_INTERRUPT;

	return ade_error_set(err, busy ? ADE_EBUSY : ADE_EDB,
			     "metrics: %s: %s", what, sqlite3_errmsg(db));
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

/*
 * Seconds since the epoch of an ISO 8601 text column, to the millisecond.
 * Not julianday(): its day fractions print 10.000 s as 9.99999.
 */
#define EPOCH(x) \
	"(CAST(strftime('%s'," x ") AS REAL)+strftime('%f'," x ")-CAST(strftime('%S'," x \
	") AS INTEGER))"

static int render_runs(struct render *r, sqlite3 *db, struct ade_error *err)
{
	sqlite3_stmt *s = NULL, *st = NULL;
	int rc = 0, step;

	/* Counts per state, and how many are still going. */
	if (sqlite3_prepare_v2(db,
			       "SELECT pipeline, state, count(*) FROM runs GROUP BY pipeline, state "
			       "ORDER BY pipeline, state",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(db, err, "runs by state");
	{
		char *prev = NULL;
		double active = 0;
		while ((step = sqlite3_step(s)) == SQLITE_ROW) {
			const char *p = col_text(s, 0), *state = col_text(s, 1);
			double n = sqlite3_column_double(s, 2);
			if (prev && strcmp(prev, p)) {
				sample(r, F_ACTIVE, active, "pipeline", prev, NULL);
				active = 0;
			}
			if (!prev || strcmp(prev, p)) {
				free(prev);
				prev = ade_xstrdup(p);
			}
			if (!strcmp(state, "running") || !strcmp(state, "queued"))
				active += n;
			sample(r, F_RUNS, n, "pipeline", p, "state", state, NULL);
		}
		if (prev)
			sample(r, F_ACTIVE, active, "pipeline", prev, NULL);
		free(prev);
	}
	if (step != SQLITE_DONE)
		rc = db_err(db, err, "runs by state");
	sqlite3_finalize(s);
	s = NULL;
	if (rc)
		return rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT pipeline, max(" EPOCH("ended_at") ") FROM runs "
			       "WHERE state='success' AND ended_at IS NOT NULL "
			       "GROUP BY pipeline ORDER BY pipeline",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(db, err, "last success");
	while ((step = sqlite3_step(s)) == SQLITE_ROW)
		sample(r, F_LAST_SUCCESS, sqlite3_column_double(s, 1), "pipeline", col_text(s, 0),
		       NULL);
	if (step != SQLITE_DONE)
		rc = db_err(db, err, "last success");
	sqlite3_finalize(s);
	s = NULL;
	if (rc)
		return rc;

	/*
	 * "Last run" is the one that ended last, not the newest date: after a
	 * reverse backfill the newest date ran first, and a dashboard wants
	 * what just happened.
	 */
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT pipeline, run_id, state, " EPOCH("ended_at") ", "
		    EPOCH("ended_at") "-" EPOCH("started_at") ", " EPOCH("ds") " FROM "
		    "(SELECT *, row_number() OVER (PARTITION BY pipeline ORDER BY ended_at DESC, "
		    "rowid DESC) AS rn FROM runs WHERE state IN ('success','failed') "
		    "AND ended_at IS NOT NULL) WHERE rn=1 ORDER BY pipeline",
		    -1, &s, NULL) != SQLITE_OK)
		return db_err(db, err, "last runs");
	/*
	 * The last attempt of each stage of that run; a stage reused from an
	 * earlier run (--only) has no attempt in it and only its state counts.
	 */
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT s.stage, s.state, s.attempts, a.wall_ms, "
		    "coalesce(a.user_ms,0)+coalesce(a.sys_ms,0), a.maxrss_kb FROM stages s "
		    "LEFT JOIN attempts a ON a.run_id=s.run_id AND a.stage=s.stage AND "
		    "a.attempt=(SELECT max(attempt) FROM attempts b WHERE b.run_id=s.run_id AND "
		    "b.stage=s.stage) WHERE s.run_id=?1 ORDER BY s.stage",
		    -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return db_err(db, err, "stages of the last runs");
	}
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *p = col_text(s, 0), *state = col_text(s, 2);
		int ok = !strcmp(state, "success");
		sample(r, F_LAST_STATE, ok, "pipeline", p, "state", "success", NULL);
		sample(r, F_LAST_STATE, !ok, "pipeline", p, "state", "failed", NULL);
		sample(r, F_LAST_OK, ok, "pipeline", p, NULL);
		sample(r, F_LAST_END, sqlite3_column_double(s, 3), "pipeline", p, NULL);
		if (sqlite3_column_type(s, 4) != SQLITE_NULL)
			sample(r, F_LAST_DURATION, sqlite3_column_double(s, 4), "pipeline", p, NULL);
		if (sqlite3_column_type(s, 5) != SQLITE_NULL)
			sample(r, F_LAST_DS, sqlite3_column_double(s, 5), "pipeline", p, NULL);
		sqlite3_bind_text(st, 1, col_text(s, 1), -1, SQLITE_TRANSIENT);
		int sstep;
		while ((sstep = sqlite3_step(st)) == SQLITE_ROW) {
			const char *stage = col_text(st, 0);
			sample(r, F_STAGE_OK, !strcmp(col_text(st, 1), "success"), "pipeline", p,
			       "stage", stage, NULL);
			sample(r, F_STAGE_ATTEMPTS, sqlite3_column_double(st, 2), "pipeline", p, "stage",
			       stage, NULL);
			if (sqlite3_column_type(st, 3) == SQLITE_NULL)
				continue;
			sample(r, F_STAGE_DURATION, ade_ms_to_s(sqlite3_column_double(st, 3)), "pipeline", p,
			       "stage", stage, NULL);
			sample(r, F_STAGE_CPU, ade_ms_to_s(sqlite3_column_double(st, 4)), "pipeline", p,
			       "stage", stage, NULL);
			if (sqlite3_column_type(st, 5) != SQLITE_NULL)
				sample(r, F_STAGE_RSS, sqlite3_column_double(st, 5) * 1024.0, "pipeline", p,
				       "stage", stage, NULL);
		}
		if (sstep != SQLITE_DONE) {
			rc = db_err(db, err, "stages of the last runs");
			break;
		}
		sqlite3_reset(st);
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_err(db, err, "last runs");
	sqlite3_finalize(st);
	sqlite3_finalize(s);
	return rc;
}

static int render_kpis(struct render *r, sqlite3 *db, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	int step, rc = 0;

	/* Batch-mode loads only: a micro-batch's KPIs describe part of a day. */
	if (sqlite3_prepare_v2(db,
			       "SELECT k.pipeline, k.kpi, k.value, " EPOCH("k.ds") " FROM kpi_history k "
			       "JOIN (SELECT pipeline, max(ds) AS ds FROM kpi_history WHERE batch='' "
			       "GROUP BY pipeline) m ON m.pipeline=k.pipeline AND m.ds=k.ds "
			       "WHERE k.batch='' ORDER BY k.pipeline, k.kpi",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(db, err, "KPIs");
	char *prev = NULL;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *p = col_text(s, 0);
		if (!prev || strcmp(prev, p)) {
			sample(r, F_KPI_DS, sqlite3_column_double(s, 3), "pipeline", p, NULL);
			free(prev);
			prev = ade_xstrdup(p);
		}
		/* A NaN KPI is stored as NULL; Prometheus has NaN for it. */
		double v = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 2);
		sample(r, F_KPI, v, "pipeline", p, "kpi", col_text(s, 1), NULL);
	}
	free(prev);
	if (step != SQLITE_DONE)
		rc = db_err(db, err, "KPIs");
	sqlite3_finalize(s);
	return rc;
}

/*
 * BEGIN is deferred: the snapshot (and any wait for a lock) comes with the
 * first query.  A connection the caller left in a transaction is used as is.
 */
static int begin_read(sqlite3 *db, struct ade_error *err)
{
	if (!sqlite3_get_autocommit(db))
		return 0;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(db, err, "BEGIN");
	return 0;
}

/* Ends the read transaction; the connection may be kept (ade serve reuses it). */
static void end_read(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int ade_metrics_render_db(sqlite3 *state, sqlite3 *warehouse, struct ade_strbuf *out,
			  struct ade_error *err)
{
	struct render r;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	/*
	 * One read transaction per file: its queries see one snapshot (a run
	 * ending between them cannot make the families disagree) and wait for
	 * a lock once, not once per query.
	 */
	if (state && !(rc = begin_read(state, err))) {
		rc = render_runs(&r, state, err);
		end_read(state);
	}
	if (!rc && warehouse && !(rc = begin_read(warehouse, err))) {
		rc = render_kpis(&r, warehouse, err);
		end_read(warehouse);
	}
	for (int f = 0; f < F_N; f++) {
		if (!rc && r.f[f].len) {
			ade_strbuf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", fams[f].name, fams[f].help,
					fams[f].name);
			ade_strbuf_add(out, r.f[f].buf, r.f[f].len);
		}
		ade_strbuf_release(&r.f[f]);
	}
	return rc;
}

int ade_metrics_open_readonly(const char *path, sqlite3 **out, struct ade_error *err)
{
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	if (!ade_fs_exists(path))
		return ade_error_set(err, ADE_ENOTFOUND, "no database at '%s'", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "cannot open '%s': %s", path,
				   db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	/* A writer's commit is short; waiting a little beats failing a read. */
	sqlite3_busy_timeout(db, ADE_METRICS_BUSY_TIMEOUT_MS);
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	*out = db;
	return 0;
}

/* Opens home/name read-only; *db stays NULL when the file does not exist. */
static int open_opt(const char *home, const char *name, sqlite3 **db, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/%s", home, name);
	int rc = ade_metrics_open_readonly(path, db, err);

	free(path);
	if (rc == ADE_ENOTFOUND) {
		ade_error_clear(err);
		return 0;
	}
	return rc;
}

int ade_metrics_render(const char *home, struct ade_strbuf *out, struct ade_error *err)
{
	sqlite3 *state = NULL, *wh = NULL;
	int rc;

	if (!(rc = open_opt(home, "state.db", &state, err)) &&
	    !(rc = open_opt(home, "warehouse.db", &wh, err)))
		rc = ade_metrics_render_db(state, wh, out, err);
	sqlite3_close(state);
	sqlite3_close(wh);
	return rc;
}

int ade_metrics_write(const char *home, struct ade_error *err)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	char *dir = ade_xasprintf("%s/metrics", home);
	char *path = ade_xasprintf("%s/ade.prom", dir);
	int rc;

	if (!(rc = ade_metrics_render(home, &sb, err)) && !(rc = ade_fs_mkdirs(dir, err)))
		rc = ade_fs_write_replace(path, sb.buf ? sb.buf : "", sb.len, err);
	ade_strbuf_release(&sb);
	free(path);
	free(dir);
	return rc;
}

void ade_metrics_on_event(void *arg, const struct ade_exec_event *ev)
{
	struct ade_error err = {0};

	(void)arg;
	if (ev->kind != ADE_EV_RUN_END || !ev->home)
		return;
	/* Monitoring must never fail the run it monitors. */
	if (ade_metrics_write(ev->home, &err))
		fprintf(stderr, "ade: warning: metrics/ade.prom not written: %s\n", err.msg);
}
