/*
 * The routes of `ade serve` (docs/serve.md).  Each validates its
 * parameters (400), finds what they name (404) and answers JSON, the
 * Prometheus text or the HTML report.  Paths are only ever built from a
 * validated pipeline name, a canonical date and a run number, and are
 * checked to resolve inside the home before anything is opened.
 */
#include "internal.h"
#include "serve.h"

#include "artifacts/artifacts.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"
#include "lineage/lineage.h"
#include "metrics/metrics.h"
#include "report/report.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define JSON "application/json"

static void json_body(struct req *r, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	ade_strbuf_adds(&r->body, text);
	ade_strbuf_addc(&r->body, '\n');
	free(text);
	r->status = 200;
	r->ctype = JSON;
}

/*
 * Any SQLite error is 503 (with Retry-After): a writer held the file past
 * ADE_SERVE_BUSY_TIMEOUT_MS or the request's deadline passed (busy,
 * locked, interrupted), or the file cannot be read now (corrupt, being
 * replaced).  Either way the request was fine and the server cannot
 * answer it at the moment.
 */
static void db_failed(struct req *r, sqlite3 *db, const char *what)
{
	int code = sqlite3_errcode(db) & 0xff;
	const char *path = sqlite3_db_filename(db, "main");

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_INTERRUPT)
		serve_error(r, 503, "%s: '%s' is locked by a writer; try again (%s)", what,
			    path ? path : "?", sqlite3_errmsg(db));
	else
		serve_error(r, 503, "%s: cannot read '%s': %s", what, path ? path : "?",
			    sqlite3_errmsg(db));
}

/* 1 when the last error of db is a table it does not have (yet): no rows, not an error. */
static int missing_table(sqlite3 *db)
{
	return (sqlite3_errcode(db) & 0xff) == SQLITE_ERROR &&
	       !strncmp(sqlite3_errmsg(db), "no such table", 13);
}

/* Opens a database for this request; on failure answers 500 and returns -1. */
static int need_db(struct req *r, enum serve_db which, sqlite3 **db)
{
	struct ade_error err = {0};

	if (serve_db(r, which, db, &err)) {
		serve_error(r, 500, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* The pipeline loader's rule for names (scheduler/pipeline.c). */
static int valid_pipeline(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return 0;
	return (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_';
}

/* 1 if state.db or the warehouse knows the pipeline, 0 if not, -1 (answered) on error. */
static int pipeline_known(struct req *r, const char *name)
{
	static const char *const sql[DB_N] = {
		[DB_STATE] = "SELECT 1 FROM runs WHERE pipeline=?1 LIMIT 1",
		[DB_WAREHOUSE] = "SELECT 1 FROM loads WHERE pipeline=?1 LIMIT 1",
	};

	for (int w = 0; w < DB_N; w++) {
		sqlite3 *db;
		sqlite3_stmt *s = NULL;
		if (need_db(r, (enum serve_db)w, &db))
			return -1;
		if (!db)
			continue;
		if (sqlite3_prepare_v2(db, sql[w], -1, &s, NULL) != SQLITE_OK) {
			if (missing_table(db))
				continue;
			db_failed(r, db, "looking up the pipeline");
			return -1;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		int step = sqlite3_step(s);
		sqlite3_finalize(s);
		if (step == SQLITE_ROW)
			return 1;
		if (step != SQLITE_DONE) {
			db_failed(r, db, "looking up the pipeline");
			return -1;
		}
	}
	return 0;
}

/*
 * The `pipeline` parameter: required or not; checked and known.  Returns
 * 0 with *out set (NULL when absent and optional), -1 when answered.
 */
static int arg_pipeline(struct req *r, int required, const char **out)
{
	const char *p = serve_arg(r, "pipeline");

	*out = NULL;
	if (!p || !*p) {
		if (!required)
			return 0;
		serve_error(r, 400, "parameter 'pipeline' is required");
		return -1;
	}
	if (!valid_pipeline(p)) {
		serve_error(r, 400,
			    "'%.80s' is not a pipeline name (letters, digits, '_' and '-', at most 64)", p);
		return -1;
	}
	int k = pipeline_known(r, p);
	if (k < 0)
		return -1;
	if (!k) {
		serve_error(r, 404, "no pipeline '%s' in this home", p);
		return -1;
	}
	*out = p;
	return 0;
}

/* A date parameter into out ("" when absent and optional); -1 when answered. */
static int arg_date(struct req *r, const char *name, int required, char out[11])
{
	const char *v = serve_arg(r, name);
	int32_t days;

	out[0] = '\0';
	if (!v || !*v) {
		if (!required)
			return 0;
		serve_error(r, 400, "parameter '%s' is required (YYYY-MM-DD)", name);
		return -1;
	}
	if (ade_date_parse(v, &days, NULL)) {
		serve_error(r, 400, "parameter '%s': '%.40s' is not a date YYYY-MM-DD", name, v);
		return -1;
	}
	ade_date_format(days, out);
	return 0;
}

/* An integer parameter in [min, max], def when absent; -1 when answered. */
static int arg_int(struct req *r, const char *name, long min, long max, long def, long *out)
{
	const char *v = serve_arg(r, name);
	char *end;

	*out = def;
	if (!v)
		return 0;
	/* Digits only: strtol alone would take " +5" or "-0". */
	size_t nd = strspn(v, "0123456789");
	errno = 0;
	long n = nd ? strtol(v, &end, 10) : 0;
	if (!nd || v[nd] || errno || n < min || n > max) {
		serve_error(r, 400, "parameter '%s' must be an integer from %ld to %ld, not '%.40s'",
			    name, min, max, v);
		return -1;
	}
	*out = n;
	return 0;
}

/*
 * 1 when path resolves (symbolic links followed) to home or below it, so
 * that a link planted in the home cannot lead a request elsewhere.
 */
static int inside_home(struct req *r, const char *path)
{
	char real[PATH_MAX];
	size_t n = strlen(r->srv->home_real);

	if (!realpath(path, real))
		return 0;
	return !strncmp(real, r->srv->home_real, n) && (real[n] == '/' || real[n] == '\0');
}

static void add_text(cJSON *o, const char *k, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddStringToObject(o, k, (const char *)sqlite3_column_text(s, i));
}

static void add_num(cJSON *o, const char *k, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, sqlite3_column_double(s, i));
}

/* ---- /api/v1/runs ---------------------------------------------------- */

/* Seconds to the millisecond (julianday's day fractions would print 0.18800944). */
#define SECS(x) \
	"(CAST(strftime('%s'," x ") AS REAL)+strftime('%f'," x ")-CAST(strftime('%S'," x \
	") AS INTEGER))"
#define RUN_COLS \
	"run_id, pipeline, ds, run_number, state, started_at, ended_at, reason, " \
	SECS("ended_at") "-" SECS("started_at")

static cJSON *run_json(sqlite3_stmt *s)
{
	cJSON *o = cJSON_CreateObject();

	add_text(o, "run_id", s, 0);
	add_text(o, "pipeline", s, 1);
	add_text(o, "ds", s, 2);
	add_num(o, "run_number", s, 3);
	add_text(o, "state", s, 4);
	add_text(o, "started_at", s, 5);
	add_text(o, "ended_at", s, 6);
	add_text(o, "reason", s, 7);
	add_num(o, "duration_seconds", s, 8);
	return o;
}

void route_runs(struct req *r)
{
	static const char *const allowed[] = {"pipeline", "state", "date", "limit", "offset", NULL};
	static const char *const states[] = {"queued", "running", "success", "failed", NULL};
	const char *pipeline, *state = serve_arg(r, "state");
	char ds[11];
	long limit, offset;
	sqlite3 *db;
	sqlite3_stmt *s = NULL;

	if (serve_args_check(r, allowed, NULL) || arg_pipeline(r, 0, &pipeline) ||
	    arg_date(r, "date", 0, ds) || arg_int(r, "limit", 1, 1000, 100, &limit) ||
	    arg_int(r, "offset", 0, 1000000000, 0, &offset))
		return;
	if (state) {
		const char *const *k = states;
		while (*k && strcmp(*k, state))
			k++;
		if (!*k) {
			serve_error(r, 400, "parameter 'state' must be queued, running, success or "
					    "failed, not '%.40s'", state);
			return;
		}
	}
	if (need_db(r, DB_STATE, &db))
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON *runs = cJSON_AddArrayToObject(o, "runs");
	cJSON_AddNumberToObject(o, "limit", (double)limit);
	cJSON_AddNumberToObject(o, "offset", (double)offset);
	if (db) {
		if (sqlite3_prepare_v2(db,
				       "SELECT " RUN_COLS " FROM runs WHERE (?1 IS NULL OR pipeline=?1) "
				       "AND (?2 IS NULL OR state=?2) AND (?3 IS NULL OR ds=?3) "
				       "ORDER BY started_at DESC, rowid DESC LIMIT ?4 OFFSET ?5",
				       -1, &s, NULL) != SQLITE_OK) {
			db_failed(r, db, "runs");
			cJSON_Delete(o);
			return;
		}
		if (pipeline)
			sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
		if (state)
			sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
		if (ds[0])
			sqlite3_bind_text(s, 3, ds, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, limit);
		sqlite3_bind_int64(s, 5, offset);
		int step;
		while ((step = sqlite3_step(s)) == SQLITE_ROW)
			cJSON_AddItemToArray(runs, run_json(s));
		if (step != SQLITE_DONE) {
			db_failed(r, db, "runs");
			sqlite3_finalize(s);
			cJSON_Delete(o);
			return;
		}
		sqlite3_finalize(s);
	}
	json_body(r, o);
	cJSON_Delete(o);
}

/* ---- /api/v1/runs/{id} ----------------------------------------------- */

static int valid_run_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F') || *s == '-'))
			return 0;
	return 1;
}

static int add_stages(struct req *r, sqlite3 *db, const char *run_id, cJSON *run)
{
	sqlite3_stmt *s = NULL, *a = NULL;
	cJSON *stages = cJSON_AddArrayToObject(run, "stages");
	int step;

	if (sqlite3_prepare_v2(db,
			       "SELECT stage, state, attempts, note, updated_at FROM stages "
			       "WHERE run_id=?1 ORDER BY rowid",
			       -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT stage, attempt, state, started_at, ended_at, wall_ms, user_ms, "
			       "sys_ms, maxrss_kb, exit_code, signal, reason FROM attempts "
			       "WHERE run_id=?1 ORDER BY stage, attempt",
			       -1, &a, NULL) != SQLITE_OK) {
		db_failed(r, db, "stages");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(a, 1, run_id, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		add_text(o, "name", s, 0);
		add_text(o, "state", s, 1);
		add_num(o, "attempts", s, 2);
		add_text(o, "note", s, 3);
		add_text(o, "updated_at", s, 4);
		cJSON_AddArrayToObject(o, "attempt_list");
		cJSON_AddItemToArray(stages, o);
	}
	if (step == SQLITE_DONE) {
		while ((step = sqlite3_step(a)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(a, 0);
			cJSON *st, *found = NULL;
			cJSON_ArrayForEach(st, stages)
				if (name && !strcmp(ade_json_str(st, "name", ""), name))
					found = st;
			if (!found)
				continue;
			cJSON *o = cJSON_CreateObject();
			add_num(o, "attempt", a, 1);
			add_text(o, "state", a, 2);
			add_text(o, "started_at", a, 3);
			add_text(o, "ended_at", a, 4);
			add_num(o, "wall_ms", a, 5);
			add_num(o, "user_ms", a, 6);
			add_num(o, "sys_ms", a, 7);
			add_num(o, "peak_rss_kb", a, 8);
			add_num(o, "exit_code", a, 9);
			add_num(o, "signal", a, 10);
			add_text(o, "reason", a, 11);
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(found, "attempt_list"), o);
		}
	}
	int rc = 0;
	if (step != SQLITE_DONE) {
		db_failed(r, db, "stages");
		rc = -1;
	}
	sqlite3_finalize(s);
	sqlite3_finalize(a);
	return rc;
}

void route_run(struct req *r, const char *id)
{
	static const char *const none[] = {NULL};
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	cJSON *run = NULL;
	int step, n = 0;

	if (serve_args_check(r, none, NULL))
		return;
	if (!valid_run_id(id)) {
		serve_error(r, 400, "'%.80s' is not a run id (or a prefix of one: 4 to 64 hex digits "
				    "and '-')", id);
		return;
	}
	if (need_db(r, DB_STATE, &db))
		return;
	if (!db) {
		serve_error(r, 404, "no run '%s' (no state.db yet)", id);
		return;
	}
	/* The exact id first; else a unique prefix, as `ade show` takes. */
	if (sqlite3_prepare_v2(db,
			       "SELECT " RUN_COLS ", run_id=?1 AS exact FROM runs WHERE run_id=?1 OR "
			       "substr(run_id, 1, length(?1))=?1 ORDER BY exact DESC LIMIT 2",
			       -1, &s, NULL) != SQLITE_OK) {
		db_failed(r, db, "run");
		return;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (n++ == 0) {
			run = run_json(s);
			if (sqlite3_column_int(s, 9))
				break;
		}
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		db_failed(r, db, "run");
	} else if (!run) {
		serve_error(r, 404, "no run '%s'", id);
	} else if (n > 1) {
		serve_error(r, 400, "'%s' is the prefix of several run ids; give more of it", id);
	} else {
		char *rid = ade_xstrdup(ade_json_str(run, "run_id", ""));
		char *link = ade_xasprintf("/api/v1/lineage?pipeline=%s&date=%s&run=%d",
					   ade_json_str(run, "pipeline", ""), ade_json_str(run, "ds", ""),
					   (int)ade_json_num(run, "run_number", 0));
		cJSON_AddStringToObject(run, "lineage", link);
		free(link);
		sqlite3_finalize(s);
		s = NULL;
		if (!add_stages(r, db, rid, run))
			json_body(r, run);
		free(rid);
	}
	sqlite3_finalize(s);
	cJSON_Delete(run);
}

/* ---- /api/v1/kpis ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct kpi_names {
	const char *want[64]; /* the kpi parameters, in order */
	int n_want;
};

static enum MHD_Result collect_kpi(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct kpi_names *k = cls;

	(void)kind;
	if (strcmp(key, "kpi"))
		return MHD_YES;
	if (k->n_want < 64)
		k->want[k->n_want] = value ? value : "";
	k->n_want++;
	return MHD_YES;
}

void route_kpis(struct req *r)
{
	static const char *const allowed[] = {"pipeline", "from", "to", "kpi", NULL};
	static const char *const repeatable[] = {"kpi", NULL};
	const char *pipeline;
	char from[11], to[11];
	struct kpi_names k = {0};
	sqlite3 *db;
	sqlite3_stmt *s = NULL;

	if (serve_args_check(r, allowed, repeatable) || arg_date(r, "from", 0, from) ||
	    arg_date(r, "to", 0, to))
		return;
	if (from[0] && to[0] && strcmp(from, to) > 0) {
		serve_error(r, 400, "'from' %s is after 'to' %s", from, to);
		return;
	}
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_kpi, &k);
	if (k.n_want > 64) {
		serve_error(r, 400, "at most 64 'kpi' parameters, not %d", k.n_want);
		return;
	}
	for (int i = 0; i < k.n_want; i++)
		if (!*k.want[i] || strlen(k.want[i]) > 256) {
			serve_error(r, 400, "parameter 'kpi' needs a KPI name of 1 to 256 bytes");
			return;
		}
	if (arg_pipeline(r, 1, &pipeline) || need_db(r, DB_WAREHOUSE, &db))
		return;

	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "pipeline", pipeline);
	if (from[0])
		cJSON_AddStringToObject(o, "from", from);
	else
		cJSON_AddNullToObject(o, "from");
	if (to[0])
		cJSON_AddStringToObject(o, "to", to);
	else
		cJSON_AddNullToObject(o, "to");
	cJSON *names = cJSON_AddArrayToObject(o, "kpis");
	cJSON *dates = cJSON_AddArrayToObject(o, "dates");
	char **seen = NULL;
	int n_seen = 0, cap = 0, step = SQLITE_DONE;
	if (db) {
		struct ade_strbuf sql = ADE_STRBUF_INIT;
		ade_strbuf_adds(&sql, "SELECT ds, kpi, value FROM kpi_history WHERE pipeline=?1 AND "
				      "batch='' AND (?2 IS NULL OR ds>=?2) AND (?3 IS NULL OR ds<=?3)");
		if (k.n_want) {
			ade_strbuf_adds(&sql, " AND kpi IN (");
			for (int i = 0; i < k.n_want; i++)
				ade_strbuf_addf(&sql, "%s?%d", i ? "," : "", i + 4);
			ade_strbuf_adds(&sql, ")");
		}
		ade_strbuf_adds(&sql, " ORDER BY ds, kpi");
		if (sqlite3_prepare_v2(db, sql.buf, -1, &s, NULL) != SQLITE_OK) {
			ade_strbuf_release(&sql);
			db_failed(r, db, "KPIs");
			cJSON_Delete(o);
			return;
		}
		ade_strbuf_release(&sql);
		sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
		if (from[0])
			sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
		if (to[0])
			sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC);
		for (int i = 0; i < k.n_want; i++)
			sqlite3_bind_text(s, i + 4, k.want[i], -1, SQLITE_STATIC);
		cJSON *values = NULL;
		char prev[11] = "";
		while ((step = sqlite3_step(s)) == SQLITE_ROW) {
			const char *ds = (const char *)sqlite3_column_text(s, 0);
			const char *kpi = (const char *)sqlite3_column_text(s, 1);
			if (!ds || !kpi)
				continue;
			if (!values || strncmp(prev, ds, sizeof(prev))) {
				cJSON *d = cJSON_CreateObject();
				cJSON_AddStringToObject(d, "ds", ds);
				values = cJSON_AddObjectToObject(d, "values");
				cJSON_AddItemToArray(dates, d);
				snprintf(prev, sizeof(prev), "%s", ds);
			}
			if (sqlite3_column_type(s, 2) == SQLITE_NULL)
				cJSON_AddNullToObject(values, kpi);
			else
				cJSON_AddNumberToObject(values, kpi, sqlite3_column_double(s, 2));
			if (k.n_want)
				continue;
			/* Few distinct names (tens), many rows: a linear look is enough. */
			int i = 0;
			while (i < n_seen && strcmp(seen[i], kpi))
				i++;
			if (i == n_seen) {
				if (n_seen == cap) {
					cap = cap ? cap * 2 : 16;
					seen = ade_xrealloc(seen, sizeof(*seen) * (size_t)cap);
				}
				seen[n_seen++] = ade_xstrdup(kpi);
			}
		}
		if (step != SQLITE_DONE)
			db_failed(r, db, "KPIs");
		sqlite3_finalize(s);
	}
	if (step == SQLITE_DONE) {
		if (k.n_want) {
			for (int i = 0; i < k.n_want; i++)
				cJSON_AddItemToArray(names, cJSON_CreateString(k.want[i]));
		} else {
			if (n_seen)
				qsort(seen, (size_t)n_seen, sizeof(*seen), cmp_str);
			for (int i = 0; i < n_seen; i++)
				cJSON_AddItemToArray(names, cJSON_CreateString(seen[i]));
		}
		json_body(r, o);
	}
	for (int i = 0; i < n_seen; i++)
		free(seen[i]);
	free(seen);
	cJSON_Delete(o);
}

/* ---- /api/v1/lineage ------------------------------------------------- */

/* ade_lineage_doc_stored's vetting: only files inside the served home. */
static int allow_path(void *arg, const char *path)
{
	return inside_home(arg, path);
}

/* OpenLineage events of one run (pipeline run and its stage runs) from events.ndjson. */
static int run_events(struct req *r, const char *run_id, cJSON *out)
{
	char *path = ade_xasprintf("%s/lineage/events.ndjson", r->srv->home);
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!ade_fs_exists(path) || !inside_home(r, path) || !(f = fopen(path, "re"))) {
		free(path);
		return 0;
	}
	free(path);
	while ((n = getline(&line, &cap, f)) > 0) {
		/* Cheap filter first: the run id appears in every event of the run. */
		if (!strstr(line, run_id))
			continue;
		cJSON *ev = cJSON_ParseWithLength(line, (size_t)n);
		if (!ev)
			continue;
		const cJSON *run = cJSON_GetObjectItemCaseSensitive(ev, "run");
		const cJSON *facets = cJSON_GetObjectItemCaseSensitive(run, "facets");
		const cJSON *parent = cJSON_GetObjectItemCaseSensitive(facets, "parent");
		const cJSON *prun = cJSON_GetObjectItemCaseSensitive(parent, "run");
		if (!strcmp(ade_json_str(run, "runId", ""), run_id) ||
		    !strcmp(ade_json_str(prun, "runId", ""), run_id))
			cJSON_AddItemToArray(out, ev);
		else
			cJSON_Delete(ev);
	}
	free(line);
	fclose(f);
	return 0;
}

void route_lineage(struct req *r)
{
	static const char *const allowed[] = {"pipeline", "date", "run", "view", NULL};
	const char *pipeline, *view = serve_arg(r, "view");
	char ds[11];
	long run;
	sqlite3 *db;
	sqlite3_stmt *s = NULL;

	if (serve_args_check(r, allowed, NULL) || arg_date(r, "date", 1, ds) ||
	    arg_int(r, "run", 1, 1000000000, 0, &run))
		return;
	if (view && strcmp(view, "document") && strcmp(view, "events")) {
		serve_error(r, 400, "parameter 'view' must be document or events, not '%.40s'", view);
		return;
	}
	if (arg_pipeline(r, 1, &pipeline) || need_db(r, DB_STATE, &db))
		return;
	if (!db) {
		serve_error(r, 404, "no run of %s for %s", pipeline, ds);
		return;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT run_number, run_id FROM runs WHERE pipeline=?1 AND ds=?2 AND "
			       "(?3 = 0 OR run_number=?3) ORDER BY run_number DESC LIMIT 1",
			       -1, &s, NULL) != SQLITE_OK) {
		db_failed(r, db, "run");
		return;
	}
	sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ds, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, run);
	int step = sqlite3_step(s);
	if (step != SQLITE_ROW) {
		if (step == SQLITE_DONE)
			if (run)
				serve_error(r, 404, "no run %ld of %s for %s", run, pipeline, ds);
			else
				serve_error(r, 404, "no run of %s for %s", pipeline, ds);
		else
			db_failed(r, db, "run");
		sqlite3_finalize(s);
		return;
	}
	int number = sqlite3_column_int(s, 0);
	const char *rid = (const char *)sqlite3_column_text(s, 1);
	if (!rid) {
		/* NULL for a NULL column, or when SQLite ran out of memory converting it. */
		serve_error(r, 500, "run %d of %s for %s has no run id in state.db", number, pipeline, ds);
		sqlite3_finalize(s);
		return;
	}
	char *run_id = ade_xstrdup(rid);
	sqlite3_finalize(s);

	cJSON *doc = NULL;
	if (view && !strcmp(view, "events")) {
		doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "pipeline", pipeline);
		cJSON_AddStringToObject(doc, "ds", ds);
		cJSON_AddNumberToObject(doc, "run_number", number);
		cJSON_AddStringToObject(doc, "run_id", run_id);
		run_events(r, run_id, cJSON_AddArrayToObject(doc, "events"));
		json_body(r, doc);
		cJSON_Delete(doc);
		free(run_id);
		return;
	}
	char *run_dir = ade_xasprintf("%s/runs/%s/%s/run-%d", r->srv->home, pipeline, ds, number);
	if (!ade_fs_exists(run_dir) || !inside_home(r, run_dir)) {
		serve_error(r, 404, "the directory of %s %s run %d is gone", pipeline, ds, number);
	} else {
		char *state = ade_xasprintf("%s/state.db", r->srv->home);
		struct ade_lineage_run lr = {.home = r->srv->home, .run_dir = run_dir,
					     .pipeline = pipeline, .ds = ds, .run_number = number,
					     .run_id = run_id, .use_state_db = ade_fs_exists(state)};
		struct ade_error err = {0};
		free(state);
		if ((doc = ade_lineage_doc_stored(run_dir, allow_path, r))) {
			/* States as they are now, not as they were when ade-lineage ran. */
			if (lr.use_state_db)
				ade_lineage_doc_refresh_state(doc, &lr, NULL);
			json_body(r, doc);
		} else if (ade_lineage_doc_build(&lr, &doc, &err)) {
			serve_error(r, 500, "lineage of %s %s run %d: %s", pipeline, ds, number, err.msg);
		} else {
			json_body(r, doc);
		}
	}
	cJSON_Delete(doc);
	free(run_dir);
	free(run_id);
}

/* ---- /api/v1/artifacts ----------------------------------------------- */

/* A real directory (not a link to one) below the home. */
static int is_dir_nolink(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

struct art_walk {
	struct req *r;
	cJSON *list;
	long limit;
	int n;
};

static void art_date(struct art_walk *w, const char *pipeline, const char *ds)
{
	char *dir = ade_xasprintf("%s/artifacts/%s/%s", w->r->srv->home, pipeline, ds);
	struct dirent **ents = NULL;
	int n = is_dir_nolink(dir) ? scandir(dir, &ents, NULL, versionsort) : 0;

	for (int i = 0; i < n; i++) {
		int num, len = 0;
		const char *name = ents[i]->d_name;
		if (w->n <= w->limit && sscanf(name, "run-%d.tar.zst%n", &num, &len) == 1 &&
		    len == (int)strlen(name) && num > 0) {
			char *path = ade_xasprintf("%s/%s", dir, name);
			struct stat st;
			/* Regular files only: a planted link is not followed. */
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				cJSON *o = cJSON_CreateObject();
				cJSON *m = NULL;
				cJSON_AddStringToObject(o, "pipeline", pipeline);
				cJSON_AddStringToObject(o, "ds", ds);
				cJSON_AddNumberToObject(o, "run_number", num);
				char *rel = ade_xasprintf("artifacts/%s/%s/%s", pipeline, ds, name);
				cJSON_AddStringToObject(o, "path", rel);
				free(rel);
				cJSON_AddNumberToObject(o, "size_bytes", (double)st.st_size);
				if (ade_artifacts_manifest(path, &m, NULL)) {
					cJSON_AddStringToObject(o, "state", "corrupt");
				} else {
					cJSON_AddStringToObject(o, "state", ade_json_str(m, "state", ""));
					cJSON_AddStringToObject(o, "run_id", ade_json_str(m, "run_id", ""));
					cJSON_AddNumberToObject(o, "files", ade_json_num(m, "n_files", 0));
					cJSON_AddNumberToObject(o, "content_bytes", ade_json_num(m, "bytes", 0));
					cJSON_AddStringToObject(o, "ended_at", ade_json_str(m, "ended_at", ""));
				}
				cJSON_Delete(m);
				cJSON_AddItemToArray(w->list, o);
				w->n++;
			}
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
}

static void art_pipeline(struct art_walk *w, const char *pipeline, const char *only_ds)
{
	if (only_ds) {
		art_date(w, pipeline, only_ds);
		return;
	}
	char *dir = ade_xasprintf("%s/artifacts/%s", w->r->srv->home, pipeline);
	struct dirent **ents = NULL;
	int n = is_dir_nolink(dir) ? scandir(dir, &ents, NULL, alphasort) : 0;

	for (int i = 0; i < n; i++) {
		int32_t days;
		char canon[11];
		const char *name = ents[i]->d_name;
		/* Only names that are dates, written as ade writes them. */
		if (!ade_date_parse(name, &days, NULL)) {
			ade_date_format(days, canon);
			if (!strcmp(canon, name))
				art_date(w, pipeline, name);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
}

void route_artifacts(struct req *r)
{
	static const char *const allowed[] = {"pipeline", "date", "limit", NULL};
	const char *pipeline;
	char ds[11];
	long limit;

	if (serve_args_check(r, allowed, NULL) || arg_date(r, "date", 0, ds) ||
	    arg_int(r, "limit", 1, 10000, 1000, &limit) || arg_pipeline(r, 0, &pipeline))
		return;
	struct art_walk w = {.r = r, .limit = limit};
	cJSON *o = cJSON_CreateObject();
	w.list = cJSON_AddArrayToObject(o, "artifacts");
	char *root = ade_xasprintf("%s/artifacts", r->srv->home);
	if (is_dir_nolink(root)) {
		if (pipeline) {
			art_pipeline(&w, pipeline, ds[0] ? ds : NULL);
		} else {
			struct dirent **ents = NULL;
			int n = scandir(root, &ents, NULL, alphasort);
			for (int i = 0; i < n; i++) {
				if (valid_pipeline(ents[i]->d_name))
					art_pipeline(&w, ents[i]->d_name, ds[0] ? ds : NULL);
				free(ents[i]);
			}
			free(ents);
		}
	}
	free(root);
	/* One more than the limit was collected: only then is the list really cut. */
	int truncated = w.n > limit;
	if (truncated)
		cJSON_DeleteItemFromArray(w.list, (int)limit);
	cJSON_AddBoolToObject(o, "truncated", truncated);
	json_body(r, o);
	cJSON_Delete(o);
}

/* ---- /metrics, openapi ----------------------------------------------- */

void route_metrics(struct req *r)
{
	static const char *const none[] = {NULL};
	struct ade_error err = {0};
	sqlite3 *state, *wh;

	if (serve_args_check(r, none, NULL) || need_db(r, DB_STATE, &state) ||
	    need_db(r, DB_WAREHOUSE, &wh))
		return;
	if (ade_metrics_render_db(state, wh, &r->body, &err)) {
		/* Locked past the short timeout, or unreadable: see db_failed. */
		serve_error(r, err.code == ADE_EBUSY || err.code == ADE_EDB ? 503 : 500, "%s", err.msg);
		return;
	}
	r->status = 200;
	r->ctype = ADE_METRICS_CONTENT_TYPE;
}

void route_openapi(struct req *r)
{
	static const char *const none[] = {NULL};

	if (serve_args_check(r, none, NULL))
		return;
	ade_strbuf_adds(&r->body, serve_openapi_json);
	r->status = 200;
	r->ctype = JSON;
}

/* ---- / : the dashboard ----------------------------------------------- */

static void html_escape(struct ade_strbuf *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': ade_strbuf_adds(sb, "&amp;"); break;
		case '<': ade_strbuf_adds(sb, "&lt;"); break;
		case '>': ade_strbuf_adds(sb, "&gt;"); break;
		case '"': ade_strbuf_adds(sb, "&quot;"); break;
		case '\'': ade_strbuf_adds(sb, "&#39;"); break;
		default: ade_strbuf_addc(sb, *s);
		}
	}
}

/*
 * A path segment: everything but RFC 3986's unreserved characters
 * percent-encoded, so the result is also safe inside an HTML attribute.
 */
static void url_escape(struct ade_strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			ade_strbuf_addc(sb, (char)c);
		else
			ade_strbuf_addf(sb, "%%%02X", c);
	}
}

/* Every pipeline state.db or the warehouse knows, sorted, into a cJSON array. */
static int list_pipelines(struct req *r, cJSON *out)
{
	static const char *const sql[DB_N] = {
		[DB_STATE] = "SELECT DISTINCT pipeline FROM runs",
		[DB_WAREHOUSE] = "SELECT DISTINCT pipeline FROM loads",
	};
	char **v = NULL;
	int n = 0;

	for (int w = 0; w < DB_N; w++) {
		sqlite3 *db;
		sqlite3_stmt *s = NULL;
		int step;
		if (need_db(r, (enum serve_db)w, &db))
			goto fail;
		if (!db)
			continue;
		if (sqlite3_prepare_v2(db, sql[w], -1, &s, NULL) != SQLITE_OK) {
			if (missing_table(db))
				continue;
			db_failed(r, db, "pipelines");
			goto fail;
		}
		while ((step = sqlite3_step(s)) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(s, 0);
			int i = 0;
			while (p && i < n && strcmp(v[i], p))
				i++;
			if (p && i == n) {
				v = ade_xrealloc(v, sizeof(*v) * (size_t)(n + 1));
				v[n++] = ade_xstrdup(p);
			}
		}
		sqlite3_finalize(s);
		if (step != SQLITE_DONE) {
			db_failed(r, db, "pipelines");
			goto fail;
		}
	}
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_str);
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(out, cJSON_CreateString(v[i]));
		free(v[i]);
	}
	free(v);
	return 0;
fail:
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -1;
}

static void render_report(struct req *r, const char *pipeline, const char *from, const char *to)
{
	struct ade_error err = {0};
	/* Short waits and the request's deadline: see ADE_SERVE_BUSY_TIMEOUT_MS. */
	struct ade_report_opts o = {.busy_timeout_ms = ADE_SERVE_BUSY_TIMEOUT_MS,
				    .deadline_ns = r->deadline_ns};

	if (ade_report_render_opts(r->srv->home, pipeline, from, to, &o, &r->body, &err)) {
		int code = err.code;
		serve_error(r, code == ADE_EINVAL ? 400 : code == ADE_ENOTFOUND ? 404
			       : code == ADE_EBUSY || code == ADE_EDB ? 503 : 500,
			    "%s", err.msg);
		return;
	}
	r->status = 200;
	r->ctype = "text/html; charset=utf-8";
	r->html = 1;
}

void route_dashboard(struct req *r, const char *pipeline)
{
	static const char *const allowed[] = {"pipeline", "from", "to", NULL};
	char from[11], to[11];

	r->html_errors = 1;
	if (serve_args_check(r, allowed, NULL) || arg_date(r, "from", 0, from) ||
	    arg_date(r, "to", 0, to))
		return;
	if (from[0] && to[0] && strcmp(from, to) > 0) {
		serve_error(r, 400, "'from' %s is after 'to' %s", from, to);
		return;
	}
	if (!pipeline) {
		pipeline = serve_arg(r, "pipeline");
		if (pipeline && !*pipeline)
			pipeline = NULL;
	} else if (serve_arg(r, "pipeline")) {
		serve_error(r, 400, "give the pipeline in the path or as a parameter, not both");
		return;
	}
	if (pipeline) {
		if (!valid_pipeline(pipeline)) {
			serve_error(r, 404, "no pipeline '%.80s' in this home", pipeline);
			return;
		}
		int k = pipeline_known(r, pipeline);
		if (k < 0)
			return;
		if (!k) {
			serve_error(r, 404, "no pipeline '%s' in this home", pipeline);
			return;
		}
		render_report(r, pipeline, from[0] ? from : NULL, to[0] ? to : NULL);
		return;
	}
	cJSON *names = cJSON_CreateArray();
	if (list_pipelines(r, names)) {
		cJSON_Delete(names);
		return;
	}
	int n = cJSON_GetArraySize(names);
	if (n == 1) {
		render_report(r, cJSON_GetArrayItem(names, 0)->valuestring, from[0] ? from : NULL,
			      to[0] ? to : NULL);
		cJSON_Delete(names);
		return;
	}
	struct ade_strbuf *sb = &r->body;
	ade_strbuf_adds(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<title>ade</title><style>body{font-family:system-ui,sans-serif;"
			    "margin:2em auto;max-width:50em;color:#222}li{margin:.3em 0}"
			    "code{background:#f3f3f3;padding:0 .2em}</style></head><body>\n"
			    "<h1>ade</h1>\n<p>Home <code>");
	html_escape(sb, r->srv->home);
	ade_strbuf_adds(sb, "</code></p>\n");
	if (!n) {
		ade_strbuf_adds(sb, "<p>No pipeline has run in this home yet.</p>\n");
	} else {
		ade_strbuf_adds(sb, "<h2>Pipelines</h2>\n<ul>\n");
		const cJSON *it;
		cJSON_ArrayForEach(it, names) {
			ade_strbuf_adds(sb, "<li><a href=\"/report/");
			url_escape(sb, it->valuestring);
			if (from[0] || to[0])
				ade_strbuf_addf(sb, "?%s%s%s%s%s", from[0] ? "from=" : "", from,
						from[0] && to[0] ? "&amp;" : "", to[0] ? "to=" : "", to);
			ade_strbuf_adds(sb, "\">");
			html_escape(sb, it->valuestring);
			ade_strbuf_adds(sb, "</a></li>\n");
		}
		ade_strbuf_adds(sb, "</ul>\n");
	}
	ade_strbuf_adds(sb, "<p>API: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> · "
			    "<a href=\"/metrics\">/metrics</a></p>\n</body></html>\n");
	cJSON_Delete(names);
	r->status = 200;
	r->ctype = "text/html; charset=utf-8";
	r->html = 1;
}
