/*
 * The HTML report of a pipeline: reads state.db and the warehouse
 * read-only and writes one self-contained document (docs/report.md).
 */
#include "report.h"
#include "internal.h"
#include "lineage/lineage.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows shown in a table before the rest is summarised in one line. */
#define MAX_TABLE_ROWS 300
/* Dates shown in the validation heatmap (the newest ones). */
#define MAX_HEAT_DATES 31
/* Runs shown in the run-history bar chart (the newest ones). */
#define MAX_RUN_BARS 60
#define STR_(x) #x
#define STR(x) STR_(x)

struct ctx {
	const char *home, *pipeline, *from, *to;
	sqlite3 *st; /* state.db, or NULL when there is none */
	sqlite3 *wh; /* warehouse.db, or NULL when there is none */
	int32_t xmin, xmax; /* the dates on every chart's x axis */
	int have_dates;
	int32_t *fail_days; /* dates whose newest run failed (owned) */
	int nfail;
	struct ade_strbuf *o;
	/* The last run: the newest run of the newest date in range (owned strings). */
	char *last_id, *last_ds, *last_state, *last_dir;
	int last_num;
	int busy_ms;         /* how long one statement waits for a writer's lock */
	int64_t deadline_ns; /* ade_now_mono_ns() after which queries fail; 0: none */
	/*
	 * The first SQLite error other than a missing table (owned by the
	 * caller): once set, no further query runs and the render fails with it.
	 */
	struct ade_error *err;
	int rc;
};

/* ---- SQLite helpers --------------------------------------------------- */

/*
 * SQLite's busy handler: retry every few milliseconds for at most
 * c->busy_ms per lock wait and never past the deadline.  A long-lived
 * server passes a short wait so that a writer holding a lock makes a
 * request fail fast (503) instead of tying up one of its few threads.
 */
static int busy_wait(void *arg, int n)
{
	const struct ctx *c = arg;

	if ((int64_t)n * 5 >= c->busy_ms)
		return 0;
	if (c->deadline_ns && ade_now_mono_ns() >= c->deadline_ns)
		return 0;
	sqlite3_sleep(5);
	return 1;
}

/* Interrupts a statement still running at the deadline (SQLITE_INTERRUPT). */
static int past_deadline(void *arg)
{
	const struct ctx *c = arg;

	return c->deadline_ns && ade_now_mono_ns() >= c->deadline_ns;
}

static int open_ro(struct ctx *c, const char *path, sqlite3 **out, struct ade_error *err)
{
	sqlite3 *db = NULL;

	*out = NULL;
	if (!ade_fs_exists(path))
		return 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		int rc = ade_error_set(err, ADE_EDB, "cannot open '%s': %s", path,
				       db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	/* A run may be writing the file: wait (a bounded time) for its short transactions. */
	sqlite3_busy_handler(db, busy_wait, c);
	if (c->deadline_ns)
		sqlite3_progress_handler(db, 1000, past_deadline, c);
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	*out = db;
	return 0;
}

/*
 * Records the first failure of db in c (a lock or the deadline is
 * ADE_EBUSY, anything else ADE_EDB), naming the file.
 */
static void db_fail(struct ctx *c, sqlite3 *db)
{
	int code = sqlite3_errcode(db) & 0xff;
	const char *path = sqlite3_db_filename(db, "main");

	if (c->rc)
		return;
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_INTERRUPT)
		c->rc = ade_error_set(c->err, ADE_EBUSY,
				      "'%s' is locked by a writer (%s); try again when it is done",
				      path ? path : "?",
				      code == SQLITE_INTERRUPT ? "gave up at the deadline" : sqlite3_errmsg(db));
	else
		c->rc = ade_error_set(c->err, ADE_EDB, "cannot read '%s': %s", path ? path : "?",
				      sqlite3_errmsg(db));
}

/* 1 when the last error of db says a table or column is absent: an older or fresh file. */
static int missing_table(sqlite3 *db)
{
	const char *m = sqlite3_errmsg(db);

	return (sqlite3_errcode(db) & 0xff) == SQLITE_ERROR &&
	       (!strncmp(m, "no such table", 13) || !strncmp(m, "no such column", 14));
}

/*
 * Prepares q and binds ?1 pipeline, ?2 from, ?3 to.  NULL when db is NULL
 * or the query does not apply (a table an older file lacks): the section
 * then says "no data".  NULL too on any other error, which is recorded in
 * c and fails the render: a corrupt or locked file is not "no data".
 */
static sqlite3_stmt *prep(struct ctx *c, sqlite3 *db, const char *q)
{
	sqlite3_stmt *s = NULL;

	if (!db || c->rc)
		return NULL;
	if (c->deadline_ns && ade_now_mono_ns() >= c->deadline_ns) {
		c->rc = ade_error_set(c->err, ADE_EBUSY,
				      "the report took longer than its deadline (a writer holds "
				      "'%s'?); try again",
				      sqlite3_db_filename(db, "main"));
		return NULL;
	}
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
		if (!missing_table(db))
			db_fail(c, db);
		sqlite3_finalize(s);
		return NULL;
	}
	int n = sqlite3_bind_parameter_count(s);
	if (n >= 1)
		sqlite3_bind_text(s, 1, c->pipeline, -1, SQLITE_STATIC);
	if (n >= 2 && c->from)
		sqlite3_bind_text(s, 2, c->from, -1, SQLITE_STATIC);
	if (n >= 3 && c->to)
		sqlite3_bind_text(s, 3, c->to, -1, SQLITE_STATIC);
	return s;
}

/* Steps s (NULL: no rows): 1 for a row; 0 at the end or on an error, which is recorded. */
static int row(struct ctx *c, sqlite3_stmt *s)
{
	if (!s)
		return 0;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		db_fail(c, sqlite3_db_handle(s));
	return 0;
}

#define RANGE " (?2 IS NULL OR ds >= ?2) AND (?3 IS NULL OR ds <= ?3) "

static const char *col_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return t ? t : "";
}

static double col_num(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static int day_of(const char *ds, int32_t *d)
{
	return ds && strlen(ds) == 10 && !ade_date_parse_n(ds, 10, d) ? 0 : -1;
}

/* ---- small HTML pieces ------------------------------------------------ */

static void h2(struct ctx *c, const char *id, const char *title, const char *note)
{
	ade_strbuf_addf(c->o, "<section id=\"%s\"><h2>", id);
	rp_esc(c->o, title);
	ade_strbuf_adds(c->o, "</h2>\n");
	if (note) {
		ade_strbuf_adds(c->o, "<p class=\"note\">");
		rp_esc(c->o, note);
		ade_strbuf_adds(c->o, "</p>\n");
	}
}

static void td(struct ade_strbuf *o, const char *cls, const char *text)
{
	if (cls)
		ade_strbuf_addf(o, "<td class=\"%s\">", cls);
	else
		ade_strbuf_adds(o, "<td>");
	rp_esc(o, text);
	ade_strbuf_adds(o, "</td>");
}

static void td_num(struct ade_strbuf *o, double v)
{
	char b[64];

	rp_num(b, sizeof(b), v);
	ade_strbuf_addf(o, "<td class=\"n\">%s</td>", isnan(v) ? "" : b);
}

static void state_td(struct ade_strbuf *o, const char *state)
{
	ade_strbuf_addf(o, "<td class=\"state\" style=\"color:%s\">", rp_state_color(state));
	rp_esc(o, state);
	ade_strbuf_adds(o, "</td>");
}

static void figure_open(struct ctx *c, int wide)
{
	ade_strbuf_addf(c->o, "<figure%s>", wide ? " class=\"wide\"" : "");
}

/* ---- the dates of the report ------------------------------------------ */

static int pipeline_known(struct ctx *c)
{
	static const char *const qs[] = {
		"SELECT 1 FROM runs WHERE pipeline=?1 LIMIT 1",
		"SELECT 1 FROM loads WHERE pipeline=?1 LIMIT 1",
		"SELECT 1 FROM kpi_history WHERE pipeline=?1 LIMIT 1",
	};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		sqlite3_stmt *s = prep(c, i ? c->wh : c->st, qs[i]);
		int found = row(c, s);
		sqlite3_finalize(s);
		if (found)
			return 1;
	}
	/* A file that cannot be read says nothing about the pipeline: not "unknown". */
	return c->rc ? -1 : 0;
}

static void widen(struct ctx *c, const char *ds)
{
	int32_t d;

	if (day_of(ds, &d))
		return;
	if (!c->have_dates || d < c->xmin)
		c->xmin = d;
	if (!c->have_dates || d > c->xmax)
		c->xmax = d;
	c->have_dates = 1;
}

/* The x range: --from/--to when given, else the dates that have data. */
static void find_dates(struct ctx *c)
{
	sqlite3_stmt *s;

	if ((s = prep(c, c->st, "SELECT min(ds), max(ds) FROM runs WHERE pipeline=?1 AND" RANGE)) &&
	    row(c, s)) {
		widen(c, col_text(s, 0));
		widen(c, col_text(s, 1));
	}
	sqlite3_finalize(s);
	if ((s = prep(c, c->wh,
		      "SELECT min(ds), max(ds) FROM kpi_history WHERE pipeline=?1 AND batch='' AND" RANGE)) &&
	    row(c, s)) {
		widen(c, col_text(s, 0));
		widen(c, col_text(s, 1));
	}
	sqlite3_finalize(s);
	int32_t d;
	if (c->from && c->to && !day_of(c->from, &d)) {
		c->xmin = d;
		day_of(c->to, &c->xmax);
		c->have_dates = 1;
	}

	s = prep(c, c->st,
		 "SELECT ds FROM runs r WHERE pipeline=?1 AND" RANGE "AND state='failed' AND "
		 "run_number=(SELECT max(run_number) FROM runs x WHERE x.pipeline=r.pipeline AND "
		 "x.ds=r.ds) ORDER BY ds");
	int cap = 0;
	while (row(c, s)) {
		if (day_of(col_text(s, 0), &d))
			continue;
		if (c->nfail == cap) {
			cap = cap ? cap * 2 : 8;
			c->fail_days = ade_xrealloc(c->fail_days, sizeof(*c->fail_days) * (size_t)cap);
		}
		c->fail_days[c->nfail++] = d;
	}
	sqlite3_finalize(s);

	s = prep(c, c->st,
		 "SELECT run_id, ds, run_number, state, dir FROM runs WHERE pipeline=?1 AND" RANGE
		 "ORDER BY ds DESC, run_number DESC LIMIT 1");
	if (row(c, s)) {
		c->last_id = ade_xstrdup(col_text(s, 0));
		c->last_ds = ade_xstrdup(col_text(s, 1));
		c->last_num = sqlite3_column_int(s, 2);
		c->last_state = ade_xstrdup(col_text(s, 3));
		c->last_dir = ade_xstrdup(col_text(s, 4));
	}
	sqlite3_finalize(s);
}

/* ---- series from the warehouse ---------------------------------------- */

static void series_from(struct ctx *c, sqlite3 *db, const char *q, const char *arg4,
			const char *name, struct rp_series *out)
{
	sqlite3_stmt *s = prep(c, db, q);
	int32_t d;

	memset(out, 0, sizeof(*out));
	out->name = ade_xstrdup(name);
	if (s && arg4)
		sqlite3_bind_text(s, 4, arg4, -1, SQLITE_STATIC);
	while (row(c, s))
		if (!day_of(col_text(s, 0), &d) && sqlite3_column_type(s, 1) != SQLITE_NULL)
			rp_series_add(out, d, sqlite3_column_double(s, 1), 0);
	sqlite3_finalize(s);
}

static void kpi_series(struct ctx *c, const char *kpi, const char *name, struct rp_series *out)
{
	series_from(c, c->wh,
		    "SELECT ds, value FROM kpi_history WHERE pipeline=?1 AND batch='' AND" RANGE
		    "AND kpi=?4 ORDER BY ds",
		    kpi, name, out);
}

/* One value per date: the mean over the date's model versions (normally one). */
static void model_series(struct ctx *c, const char *metric, const char *name,
			 struct rp_series *out)
{
	series_from(c, c->wh,
		    "SELECT ds, avg(value) FROM model_metrics WHERE pipeline=?1 AND batch='' AND" RANGE
		    "AND metric=?4 GROUP BY ds ORDER BY ds",
		    metric, name, out);
}

static double last_value(const struct rp_series *s)
{
	return s->n ? s->pts[s->n - 1].v : NAN;
}

#define CH_BARS 1    /* stacked bars: counts per date */
#define CH_INTEGER 2 /* whole-number ticks */

static void chart(struct ctx *c, const char *title, const char *unit, struct rp_series *s, int ns,
		  int from_zero, double scale, int flags)
{
	struct rp_chart ch = {
		.title = title, .unit = unit, .s = s, .ns = ns, .fail_days = c->fail_days,
		.nfail = c->nfail, .xmin = c->xmin, .xmax = c->xmax, .from_zero = from_zero,
		.scale = scale, .bars = !!(flags & CH_BARS), .integer = !!(flags & CH_INTEGER),
	};
	figure_open(c, 0);
	if (!c->have_dates)
		rp_no_data(c->o, title, "no data for these dates");
	else
		rp_line_chart(c->o, &ch);
	ade_strbuf_adds(c->o, "</figure>\n");
}

/* The KPI named avg_salary, or <set>.avg_salary of an ungrouped analytics set. */
static char *avg_salary_kpi(struct ctx *c)
{
	char *k = NULL;
	sqlite3_stmt *s = prep(c, c->wh,
			       "SELECT kpi FROM kpi_history WHERE pipeline=?1 AND batch='' AND "
			       "(kpi='avg_salary' OR kpi LIKE '%.avg\\_salary' ESCAPE '\\') GROUP BY kpi "
			       "ORDER BY kpi='avg_salary' DESC, count(*) DESC, kpi LIMIT 1");
	if (row(c, s))
		k = ade_xstrdup(col_text(s, 0));
	sqlite3_finalize(s);
	return k;
}

/* ---- sections ---------------------------------------------------------- */

static void tile(struct ctx *c, const char *label, const char *value, int bad, const char *sub)
{
	ade_strbuf_addf(c->o, "<div class=\"tile%s\"><span>", bad ? " fail" : "");
	rp_esc(c->o, label);
	ade_strbuf_adds(c->o, "</span><b>");
	rp_esc(c->o, value);
	ade_strbuf_adds(c->o, "</b>");
	if (sub) {
		ade_strbuf_adds(c->o, "<span>");
		rp_esc(c->o, sub);
		ade_strbuf_adds(c->o, "</span>");
	}
	ade_strbuf_adds(c->o, "</div>\n");
}

static void tile_num(struct ctx *c, const char *label, const struct rp_series *s, double scale,
		     const char *suffix)
{
	char b[64], v[80], sub[32];

	if (!s->n) {
		tile(c, label, "n/a", 0, "no data");
		return;
	}
	double x = last_value(s) * scale;
	if (fabs(x) >= 100 || x == floor(x))
		rp_num(b, sizeof(b), round(x * 100) / 100);
	else
		snprintf(b, sizeof(b), "%.4g", x);
	snprintf(v, sizeof(v), "%s%s", b, suffix);
	ade_date_format(s->pts[s->n - 1].day, sub);
	tile(c, label, v, 0, sub);
}

static void section_kpis(struct ctx *c)
{
	struct rp_series rows[2], q[1], quality[5], mae[1], r2[1], sal[1];
	char *salk = avg_salary_kpi(c);

	kpi_series(c, "rows_read", "rows read (ingest)", &rows[0]);
	if (!rows[0].n) {
		rp_series_free(&rows[0]);
		kpi_series(c, "rows_in", "rows in", &rows[0]);
	}
	kpi_series(c, "rows", "rows loaded (facts)", &rows[1]);
	kpi_series(c, "quarantine_rate", "quarantine rate", &q[0]);
	kpi_series(c, "quality_score", "score", &quality[0]);
	kpi_series(c, "quality_completeness", "completeness", &quality[1]);
	kpi_series(c, "quality_uniqueness", "uniqueness", &quality[2]);
	kpi_series(c, "quality_validity", "validity", &quality[3]);
	kpi_series(c, "quality_consistency", "consistency", &quality[4]);
	model_series(c, "mae", "MAE", &mae[0]);
	model_series(c, "r2", "R²", &r2[0]);
	kpi_series(c, salk ? salk : "avg_salary", salk ? salk : "avg_salary", &sal[0]);

	/* The tiles first: the newest value of each. */
	ade_strbuf_adds(c->o, "<section id=\"summary\"><div class=\"tiles\">\n");
	if (c->last_id) {
		char sub[64];
		snprintf(sub, sizeof(sub), "%s, run %d", c->last_ds, c->last_num);
		tile(c, "last run", c->last_state, !strcmp(c->last_state, "failed"), sub);
	} else {
		tile(c, "last run", "none", 0, "no run in state.db");
	}
	tile_num(c, "rows loaded", &rows[1], 1, "");
	tile_num(c, "quality score", &quality[0], 1, "");
	tile_num(c, "quarantine rate", &q[0], 100, " %");
	tile_num(c, "MAE", &mae[0], 1, "");
	tile_num(c, "R²", &r2[0], 1, "");
	{
		char v[32];
		snprintf(v, sizeof(v), "%d", c->nfail);
		tile(c, "dates failed", v, c->nfail > 0, "newest run of the date failed");
	}
	ade_strbuf_adds(c->o, "</div></section>\n");

	h2(c, "kpis", "KPI trends",
	   "One point per execution date, from the warehouse's batch-mode loads. A red band marks a "
	   "date whose newest run failed. Hover a point for its value.");
	ade_strbuf_adds(c->o, "<div class=\"grid\">\n");
	chart(c, "Rows in and out", "rows", rows, 2, 1, 1, CH_INTEGER);
	chart(c, "Quarantine rate", "quarantined (% of rows read)", q, 1, 1, 100, 0);
	chart(c, "Quality score and dimensions", "score (0-100)", quality, 5, 0, 1, 0);
	chart(c, "Model MAE (holdout)", "mean absolute error (target units)", mae, 1, 1, 1, 0);
	chart(c, "Model R² (holdout)", "R² (1 = perfect)", r2, 1, 0, 1, 0);
	char title[300];
	snprintf(title, sizeof(title), "Average salary (%s)", salk ? salk : "no avg_salary KPI");
	chart(c, title, "salary (data units)", sal, 1, 0, 1, 0);
	ade_strbuf_adds(c->o, "</div></section>\n");

	for (int i = 0; i < 2; i++)
		rp_series_free(&rows[i]);
	for (int i = 0; i < 5; i++)
		rp_series_free(&quality[i]);
	rp_series_free(&q[0]);
	rp_series_free(&mae[0]);
	rp_series_free(&r2[0]);
	rp_series_free(&sal[0]);
	free(salk);
}

/* -- the last run's Gantt chart -- */

struct bar {
	char *stage;
	int attempt;
	char *state, *reason;
	int64_t t0, t1; /* ms since the epoch; t1 -1 while running */
	double wall_ms;
	long rss_kb;
	int exit_code, signal, has_exit;
};

static void gantt(struct ctx *c)
{
	struct bar *b = NULL;
	int nb = 0, cap = 0;
	char **rows = NULL, **row_state = NULL;
	int nrows = 0;
	sqlite3_stmt *s;

	h2(c, "gantt", "Last run: stages over time", NULL);
	if (!c->last_id) {
		figure_open(c, 1);
		rp_no_data(c->o, "Gantt chart of the last run", "no run of this pipeline in these dates");
		ade_strbuf_adds(c->o, "</figure></section>\n");
		return;
	}
	s = prep(c, c->st,
		 "SELECT stage, attempt, state, started_at, ended_at, wall_ms, maxrss_kb, exit_code, "
		 "signal, reason FROM attempts WHERE run_id=?4 ORDER BY started_at, stage, attempt");
	if (s)
		sqlite3_bind_text(s, 4, c->last_id, -1, SQLITE_STATIC);
	while (row(c, s)) {
		int64_t t0 = rp_parse_utc_ms(col_text(s, 3));
		if (t0 < 0)
			continue;
		if (nb == cap) {
			cap = cap ? cap * 2 : 16;
			b = ade_xrealloc(b, sizeof(*b) * (size_t)cap);
		}
		struct bar *x = &b[nb++];
		x->stage = ade_xstrdup(col_text(s, 0));
		x->attempt = sqlite3_column_int(s, 1);
		x->state = ade_xstrdup(col_text(s, 2));
		x->reason = ade_xstrdup(col_text(s, 9));
		x->t0 = t0;
		x->t1 = rp_parse_utc_ms(col_text(s, 4));
		x->wall_ms = col_num(s, 5);
		x->rss_kb = sqlite3_column_int64(s, 6);
		x->has_exit = sqlite3_column_type(s, 7) != SQLITE_NULL;
		x->exit_code = sqlite3_column_int(s, 7);
		x->signal = sqlite3_column_int(s, 8);
	}
	sqlite3_finalize(s);
	/* Rows: stages in the order they first started, then those that never ran. */
	for (int i = 0; i < nb; i++) {
		int k = 0;
		while (k < nrows && strcmp(rows[k], b[i].stage))
			k++;
		if (k == nrows) {
			rows = ade_xrealloc(rows, sizeof(*rows) * (size_t)(nrows + 1));
			row_state = ade_xrealloc(row_state, sizeof(*row_state) * (size_t)(nrows + 1));
			rows[nrows] = ade_xstrdup(b[i].stage);
			row_state[nrows++] = NULL;
		}
	}
	s = prep(c, c->st, "SELECT stage, state FROM stages WHERE run_id=?4 ORDER BY rowid");
	if (s)
		sqlite3_bind_text(s, 4, c->last_id, -1, SQLITE_STATIC);
	while (row(c, s)) {
		int k = 0;
		while (k < nrows && strcmp(rows[k], col_text(s, 0)))
			k++;
		if (k == nrows) {
			rows = ade_xrealloc(rows, sizeof(*rows) * (size_t)(nrows + 1));
			row_state = ade_xrealloc(row_state, sizeof(*row_state) * (size_t)(nrows + 1));
			rows[nrows] = ade_xstrdup(col_text(s, 0));
			row_state[nrows++] = NULL;
		}
		free(row_state[k]);
		row_state[k] = ade_xstrdup(col_text(s, 1));
	}
	sqlite3_finalize(s);

	int64_t t0 = INT64_MAX, t1 = INT64_MIN;
	for (int i = 0; i < nb; i++) {
		int64_t e = b[i].t1 >= 0 ? b[i].t1 : b[i].t0 + (int64_t)(isnan(b[i].wall_ms) ? 0 : b[i].wall_ms);
		t0 = b[i].t0 < t0 ? b[i].t0 : t0;
		t1 = e > t1 ? e : t1;
		if (b[i].t1 < 0)
			b[i].t1 = e;
	}
	char title[256];
	snprintf(title, sizeof(title), "Run %d of %s: %s", c->last_num, c->last_ds, c->last_state);
	figure_open(c, 1);
	if (!nrows) {
		rp_no_data(c->o, title, "the run has no stage attempts");
	} else {
		const double W = 1200, L = 170, R = 70, T = 34, rowh = 26;
		double H = T + rowh * nrows + 50;
		double total = nb ? (double)(t1 - t0) : 1;
		int ms = total < 2000;
		double unit = ms ? 1 : 1000;
		double lo, hi, step;
		rp_nice_range(0, (total > 0 ? total : 1) / unit, 8, &lo, &hi, &step);
		lo = 0;
#define GX(t) (L + ((double)(t) / unit) / hi * (W - L - R))
		ade_strbuf_addf(c->o, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
				      "aria-label=\"Gantt chart of the last run\">"
				      "<text class=\"ct\" x=\"8\" y=\"20\">",
				W, H);
		rp_esc(c->o, title);
		ade_strbuf_adds(c->o, "</text>\n");
		double y1 = T + rowh * nrows;
		for (int i_ = 0, nt_ = rp_tick_count(0, hi, step); i_ <= nt_; i_++) {
			double v = i_ * step;
			char lab[64];
			rp_num(lab, sizeof(lab), round(v * 1e6) / 1e6);
			double x = GX(v * unit);
			ade_strbuf_addf(c->o, "<line class=\"gl\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
					      "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
					      "text-anchor=\"middle\">%s</text>\n",
					x, T, x, y1 + 4, x, y1 + 18, lab);
		}
		ade_strbuf_addf(c->o, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
				      "time since the run's first stage started (%s)</text>\n",
				(L + W - R) / 2, H - 8, ms ? "ms" : "s");
		for (int r = 0; r < nrows; r++) {
			double y = T + rowh * r;
			ade_strbuf_addf(c->o, "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
					L - 8, y + rowh / 2 + 4);
			rp_esc(c->o, rows[r]);
			ade_strbuf_adds(c->o, "</text>");
			int any = 0;
			double endx = L;
			for (int i = 0; i < nb; i++) {
				if (strcmp(b[i].stage, rows[r]))
					continue;
				any = 1;
				double x0 = GX(b[i].t0 - t0), x1 = GX(b[i].t1 - t0);
				if (x1 - x0 < 2)
					x1 = x0 + 2;
				endx = x1 > endx ? x1 : endx;
				char dur[64], rss[64];
				rp_num(dur, sizeof(dur), isnan(b[i].wall_ms) ? NAN : round(b[i].wall_ms) / 1000);
				rp_num(rss, sizeof(rss), round(b[i].rss_kb / 102.4) / 10);
				int bad = !strcmp(b[i].state, "failed");
				ade_strbuf_addf(c->o, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
						      "height=\"%.1f\" fill=\"%s\" rx=\"2\"><title>",
						bad ? " fail" : "", x0, y + 5, x1 - x0, rowh - 10,
						rp_state_color(b[i].state));
				rp_esc(c->o, b[i].stage);
				ade_strbuf_addf(c->o, " attempt %d: ", b[i].attempt);
				rp_esc(c->o, b[i].state);
				ade_strbuf_addf(c->o, ", %s s, peak RSS %s MB", dur, rss);
				if (b[i].has_exit && b[i].signal)
					ade_strbuf_addf(c->o, ", signal %d", b[i].signal);
				else if (b[i].has_exit)
					ade_strbuf_addf(c->o, ", exit %d", b[i].exit_code);
				/* "exit" and "signal" say again what the line already says. */
				if (*b[i].reason && strcmp(b[i].reason, "exit") && strcmp(b[i].reason, "signal")) {
					ade_strbuf_adds(c->o, " (");
					rp_esc(c->o, b[i].reason);
					ade_strbuf_adds(c->o, ")");
				}
				ade_strbuf_adds(c->o, "</title></rect>\n");
			}
			if (any) {
				/* The stage's last attempt's duration, right of its bars. */
				double wall = NAN;
				const char *st = NULL;
				for (int i = 0; i < nb; i++)
					if (!strcmp(b[i].stage, rows[r])) {
						wall = b[i].wall_ms;
						st = b[i].state;
					}
				char dur[64];
				rp_num(dur, sizeof(dur), ms ? round(wall * 10) / 10 : round(wall) / 1000);
				ade_strbuf_addf(c->o, "<text class=\"val\" x=\"%.1f\" y=\"%.1f\"%s>%s %s%s</text>\n",
						endx + 5, y + rowh / 2 + 4,
						!strcmp(st, "failed") ? " style=\"fill:" RP_RED "\"" : "", dur,
						ms ? "ms" : "s", !strcmp(st, "failed") ? " failed" : "");
			} else {
				const char *st = row_state[r] ? row_state[r] : "not started";
				ade_strbuf_addf(c->o, "<text class=\"val\" x=\"%.1f\" y=\"%.1f\" style=\"fill:%s\">",
						L + 4, y + rowh / 2 + 4, rp_state_color(st));
				rp_esc(c->o, st);
				ade_strbuf_adds(c->o, "</text>\n");
			}
		}
		ade_strbuf_addf(c->o, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
				      "</svg>\n",
				L, y1, W - R, y1);
#undef GX
		ade_strbuf_adds(c->o, "<div class=\"legend\"><span><i style=\"background:" RP_GREEN
				      "\"></i>success</span><span><i style=\"background:" RP_RED
				      "\"></i>failed</span><span><i style=\"background:" RP_AMBER
				      "\"></i>failed, retried</span><span><i style=\"background:" RP_BLUE
				      "\"></i>running</span></div>\n");
	}
	ade_strbuf_adds(c->o, "</figure></section>\n");
	for (int i = 0; i < nb; i++) {
		free(b[i].stage);
		free(b[i].state);
		free(b[i].reason);
	}
	free(b);
	for (int i = 0; i < nrows; i++) {
		free(rows[i]);
		free(row_state[i]);
	}
	free(rows);
	free(row_state);
}

/* -- duration and peak memory per stage over dates -- */

static struct rp_series *series_named(struct rp_series **v, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((*v)[i].name, name))
			return &(*v)[i];
	*v = ade_xrealloc(*v, sizeof(**v) * (size_t)(*n + 1));
	memset(&(*v)[*n], 0, sizeof(**v));
	(*v)[*n].name = ade_xstrdup(name);
	return &(*v)[(*n)++];
}

static void section_stages(struct ctx *c)
{
	struct rp_series *dur = NULL, *mem = NULL;
	int nd = 0, nm = 0;
	double maxms = 0;
	int32_t d;

	/* Per date its newest run; per stage its last attempt, the one that counted. */
	sqlite3_stmt *s = prep(
		c, c->st,
		"SELECT r.ds, a.stage, a.wall_ms, a.maxrss_kb, a.state FROM runs r JOIN attempts a "
		"ON a.run_id=r.run_id WHERE r.pipeline=?1 AND (?2 IS NULL OR r.ds >= ?2) AND "
		"(?3 IS NULL OR r.ds <= ?3) AND r.run_number=(SELECT max(run_number) FROM runs x "
		"WHERE x.pipeline=r.pipeline AND x.ds=r.ds) AND a.attempt=(SELECT max(attempt) FROM "
		"attempts y WHERE y.run_id=a.run_id AND y.stage=a.stage) AND a.ended_at IS NOT NULL "
		"ORDER BY r.ds, a.started_at");
	while (row(c, s)) {
		if (day_of(col_text(s, 0), &d))
			continue;
		int bad = strcmp(col_text(s, 4), "success") != 0;
		double ms = col_num(s, 2);
		rp_series_add(series_named(&dur, &nd, col_text(s, 1)), d, ms, bad);
		rp_series_add(series_named(&mem, &nm, col_text(s, 1)), d, col_num(s, 3), bad);
		maxms = ms > maxms ? ms : maxms;
	}
	sqlite3_finalize(s);
	h2(c, "stages", "Stages over dates",
	   "Wall time and peak resident memory of each stage's last attempt in the newest run of "
	   "each date (state.db). A red point is an attempt that failed.");
	ade_strbuf_adds(c->o, "<div class=\"grid\">\n");
	int ms = maxms < 1000;
	chart(c, "Duration per stage", ms ? "wall time (ms)" : "wall time (s)", dur, nd, 1,
	      ms ? 1 : 0.001, 0);
	chart(c, "Peak memory per stage", "peak RSS (MB)", mem, nm, 1, 1.0 / 1024, 0);
	ade_strbuf_adds(c->o, "</div></section>\n");
	for (int i = 0; i < nd; i++)
		rp_series_free(&dur[i]);
	for (int i = 0; i < nm; i++)
		rp_series_free(&mem[i]);
	free(dur);
	free(mem);
}

/* -- validation -- */

struct vcell {
	int rule, date;
	char *status, *severity;
	double failures, evaluated, percent;
};

static int str_index(char ***v, int *n, const char *s, int add)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return i;
	if (!add)
		return -1;
	*v = ade_xrealloc(*v, sizeof(**v) * (size_t)(*n + 1));
	(*v)[*n] = ade_xstrdup(s);
	return (*n)++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *vcolor(const char *status, const char *severity)
{
	if (!strcmp(status, "passed"))
		return RP_GREEN;
	if (!strcmp(status, "failed"))
		return !strcmp(severity, "warn") ? RP_AMBER : RP_RED;
	return RP_GREY;
}

static void section_validation(struct ctx *c)
{
	char **dates = NULL, **rules = NULL;
	int ndates = 0, nrules = 0, ncells = 0, cap = 0;
	struct vcell *v = NULL;
	sqlite3_stmt *s;

	h2(c, "validation", "Validation results",
	   "Each rule on each date (newest 31 dates): green passed, amber failed with severity "
	   "warn, red failed with severity fail or critical, grey not evaluated.");
	/* Columns: the dates with results and the failed dates, the newest ones, oldest first. */
	s = prep(c, c->wh,
		 "SELECT DISTINCT ds FROM validation_results WHERE pipeline=?1 AND batch='' AND" RANGE);
	/* Only real dates become columns: ds is data and is written into the SVG. */
	while (row(c, s)) {
		int32_t d;
		if (!day_of(col_text(s, 0), &d))
			str_index(&dates, &ndates, col_text(s, 0), 1);
	}
	sqlite3_finalize(s);
	int nvalid = ndates;
	for (int i = 0; i < c->nfail; i++) {
		char ds[11];
		ade_date_format(c->fail_days[i], ds);
		str_index(&dates, &ndates, ds, 1);
	}
	if (ndates > 1)
		qsort(dates, (size_t)ndates, sizeof(*dates), cmp_str);
	if (ndates > MAX_HEAT_DATES) {
		int drop = ndates - MAX_HEAT_DATES;
		for (int i = 0; i < drop; i++)
			free(dates[i]);
		memmove(dates, dates + drop, sizeof(*dates) * MAX_HEAT_DATES);
		ndates = MAX_HEAT_DATES;
	}
	s = prep(c, c->wh,
		 "SELECT ds, rule, status, severity, failures, evaluated, percent FROM "
		 "validation_results WHERE pipeline=?1 AND batch='' AND" RANGE "ORDER BY ds, rowid");
	while (row(c, s)) {
		int di = str_index(&dates, &ndates, col_text(s, 0), 0);
		if (di < 0)
			continue;
		if (ncells == cap) {
			cap = cap ? cap * 2 : 64;
			v = ade_xrealloc(v, sizeof(*v) * (size_t)cap);
		}
		struct vcell *x = &v[ncells++];
		x->date = di;
		x->rule = str_index(&rules, &nrules, col_text(s, 1), 1);
		x->status = ade_xstrdup(col_text(s, 2));
		x->severity = ade_xstrdup(col_text(s, 3));
		x->failures = col_num(s, 4);
		x->evaluated = col_num(s, 5);
		x->percent = col_num(s, 6);
	}
	sqlite3_finalize(s);

	figure_open(c, 1);
	if (!nvalid || !nrules) {
		rp_no_data(c->o, "Validation rules by date", "no validation results for these dates");
	} else {
		const double L = 250, T = 92, rowh = 20, W = 1200;
		double cw = (W - L - 20) / ndates;
		if (cw > 44)
			cw = 44;
		double H = T + rowh * nrules + 12;
		int every = ndates > 16 ? (ndates + 15) / 16 : 1;
		ade_strbuf_addf(c->o, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
				      "aria-label=\"Validation rules by date\">"
				      "<text class=\"ct\" x=\"8\" y=\"20\">Validation rules by date</text>\n",
				W, H);
		for (int j = 0; j < ndates; j++) {
			double x = L + cw * j + cw / 2;
			int32_t d;
			int failed = 0;
			if (!day_of(dates[j], &d))
				for (int k = 0; k < c->nfail; k++)
					failed |= c->fail_days[k] == d;
			if (j % every == 0 || failed) {
				ade_strbuf_addf(c->o, "<text class=\"tick\" transform=\"translate(%.1f %.1f) "
						      "rotate(-50)\"%s>",
						x + 3, T - 6, failed ? " style=\"fill:" RP_RED "\"" : "");
				rp_esc(c->o, dates[j]);
				ade_strbuf_adds(c->o, "</text>\n");
			}
		}
		for (int j = 0; j < ndates; j++) {
			int has = 0;
			for (int i = 0; i < ncells && !has; i++)
				has = v[i].date == j;
			if (!has) {
				ade_strbuf_addf(c->o, "<rect class=\"cell fail\" x=\"%.1f\" y=\"%.1f\" "
						      "width=\"%.1f\" height=\"%.1f\" fill=\"" RP_RED "\" "
						      "fill-opacity=\"0.15\" stroke=\"" RP_RED "\"><title>",
						L + cw * j + 1, T + 1, cw - 2, rowh * nrules - 2);
				rp_esc(c->o, dates[j]);
				ade_strbuf_adds(c->o, ": run failed, no validation results</title></rect>\n");
			}
		}
		for (int r = 0; r < nrules; r++) {
			ade_strbuf_addf(c->o, "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
					L - 8, T + rowh * r + rowh / 2 + 4);
			rp_escn(c->o, rules[r], 40);
			ade_strbuf_adds(c->o, strlen(rules[r]) > 40 ? "…</text>" : "</text>");
		}
		for (int i = 0; i < ncells; i++) {
			struct vcell *x = &v[i];
			char f[64], e[64], p[64];
			rp_num(f, sizeof(f), x->failures);
			rp_num(e, sizeof(e), x->evaluated);
			rp_num(p, sizeof(p), x->percent);
			int bad = !strcmp(x->status, "failed") && strcmp(x->severity, "warn");
			ade_strbuf_addf(c->o, "<rect class=\"cell%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					      "height=\"%.1f\" fill=\"%s\"><title>",
					bad ? " fail" : "", L + cw * x->date + 1, T + rowh * x->rule + 1,
					cw - 2, rowh - 2, vcolor(x->status, x->severity));
			rp_esc(c->o, rules[x->rule]);
			ade_strbuf_adds(c->o, " ");
			rp_esc(c->o, dates[x->date]);
			ade_strbuf_adds(c->o, ": ");
			rp_esc(c->o, x->status);
			ade_strbuf_adds(c->o, " (");
			rp_esc(c->o, x->severity);
			ade_strbuf_addf(c->o, "), %s of %s failed (%s %%)</title></rect>\n", f, e, p);
		}
		ade_strbuf_adds(c->o, "</svg>\n<div class=\"legend\"><span><i style=\"background:" RP_GREEN
				      "\"></i>passed</span><span><i style=\"background:" RP_AMBER
				      "\"></i>failed (warn)</span><span><i style=\"background:" RP_RED
				      "\"></i>failed (fail, critical)</span></div>\n");
	}
	ade_strbuf_adds(c->o, "</figure>\n");

	/* The newest date's rules in full. */
	const char *last = NULL;
	for (int j = 0; j < ndates; j++)
		for (int i = 0; i < ncells; i++)
			if (v[i].date == j)
				last = dates[j];
	if (last) {
		ade_strbuf_adds(c->o, "<h3>Rules on ");
		rp_esc(c->o, last);
		ade_strbuf_adds(c->o, "</h3>\n<div class=\"scroll\"><table><tr><th>rule</th>"
				      "<th>kind</th><th>column</th><th>severity</th><th>status</th>"
				      "<th>failures</th><th>evaluated</th><th>% failed</th></tr>\n");
		s = prep(c, c->wh,
			 "SELECT rule, kind, column_name, severity, status, failures, evaluated, percent "
			 "FROM validation_results WHERE pipeline=?1 AND batch='' AND ds=?4 ORDER BY rowid");
		if (s)
			sqlite3_bind_text(s, 4, last, -1, SQLITE_STATIC);
		while (row(c, s)) {
			const char *st = col_text(s, 4), *sev = col_text(s, 3);
			const char *cls = !strcmp(st, "failed") ? (!strcmp(sev, "warn") ? "warn" : "fail") : NULL;
			ade_strbuf_addf(c->o, "<tr%s%s%s>", cls ? " class=\"" : "", cls ? cls : "",
					cls ? "\"" : "");
			for (int k = 0; k < 5; k++)
				td(c->o, NULL, col_text(s, k));
			td_num(c->o, col_num(s, 5));
			td_num(c->o, col_num(s, 6));
			td_num(c->o, col_num(s, 7));
			ade_strbuf_adds(c->o, "</tr>\n");
		}
		sqlite3_finalize(s);
		ade_strbuf_adds(c->o, "</table></div>\n");
	}
	ade_strbuf_adds(c->o, "</section>\n");
	for (int i = 0; i < ncells; i++) {
		free(v[i].status);
		free(v[i].severity);
	}
	free(v);
	for (int i = 0; i < ndates; i++)
		free(dates[i]);
	for (int i = 0; i < nrules; i++)
		free(rules[i]);
	free(dates);
	free(rules);
}

/* -- schema versions and changes -- */

static int count_rows(struct ctx *c, sqlite3 *db, const char *q)
{
	sqlite3_stmt *s = prep(c, db, q);
	int n = row(c, s) ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return n;
}

static void more_rows(struct ctx *c, int shown, int total, int cols)
{
	if (total > shown)
		ade_strbuf_addf(c->o, "<tr><td colspan=\"%d\" class=\"note\">%d more rows not shown "
				      "(use ade sql)</td></tr>\n",
				cols, total - shown);
}


static void section_schema(struct ctx *c)
{
	struct rp_series *ver = NULL;
	int nv = 0;
	int32_t d;
	sqlite3_stmt *s;

	h2(c, "schema", "Schema changes",
	   "The schema version of each dataset per date (ade-schema), then every change detected "
	   "and what was done about it, newest first.");
	s = prep(c, c->wh,
		 "SELECT ds, dataset, version FROM schema_versions WHERE pipeline=?1 AND" RANGE
		 "ORDER BY ds");
	while (row(c, s))
		if (!day_of(col_text(s, 0), &d) && sqlite3_column_type(s, 2) != SQLITE_NULL)
			rp_series_add(series_named(&ver, &nv, col_text(s, 1)), d, col_num(s, 2), 0);
	sqlite3_finalize(s);
	ade_strbuf_adds(c->o, "<div class=\"grid\">\n");
	chart(c, "Schema version per dataset", "schema version", ver, nv, 1, 1, CH_INTEGER);
	for (int i = 0; i < nv; i++)
		rp_series_free(&ver[i]);
	free(ver);

	/* Changes per date, one series per action taken. */
	struct rp_series *act = NULL;
	int na = 0;
	s = prep(c, c->wh,
		 "SELECT ds, coalesce(action, kind, '?'), count(*) FROM schema_changes WHERE "
		 "pipeline=?1 AND batch='' AND" RANGE "GROUP BY 1, 2 ORDER BY 1, 2");
	while (row(c, s))
		if (!day_of(col_text(s, 0), &d))
			rp_series_add(series_named(&act, &na, col_text(s, 1)), d, col_num(s, 2), 0);
	sqlite3_finalize(s);
	chart(c, "Schema changes per date, by action", "changes", act, na, 1, 1, CH_BARS | CH_INTEGER);
	for (int i = 0; i < na; i++)
		rp_series_free(&act[i]);
	free(act);
	ade_strbuf_adds(c->o, "</div>\n");

	int total = count_rows(c, c->wh,
			       "SELECT count(*) FROM schema_changes WHERE pipeline=?1 AND batch='' AND" RANGE);
	if (!total) {
		ade_strbuf_adds(c->o, "<p class=\"note\">No schema change in these dates.</p></section>\n");
		return;
	}
	ade_strbuf_adds(c->o, "<div class=\"scroll\"><table><tr><th>date</th><th>dataset</th>"
			      "<th>kind</th><th>column</th><th>from</th><th>to</th><th>action</th>"
			      "<th>confidence</th></tr>\n");
	s = prep(c, c->wh,
		 "SELECT ds, dataset, kind, column_name, from_value, to_value, action, confidence FROM "
		 "schema_changes WHERE pipeline=?1 AND batch='' AND" RANGE
		 "ORDER BY ds DESC, seq LIMIT " STR(MAX_TABLE_ROWS));
	int shown = 0;
	while (row(c, s)) {
		const char *action = col_text(s, 6);
		int bad = !strcmp(action, "fail") || !strcmp(action, "failed");
		ade_strbuf_addf(c->o, "<tr%s>", bad ? " class=\"fail\"" : "");
		for (int k = 0; k < 7; k++)
			td(c->o, NULL, col_text(s, k));
		td_num(c->o, col_num(s, 7));
		ade_strbuf_adds(c->o, "</tr>\n");
		shown++;
	}
	sqlite3_finalize(s);
	more_rows(c, shown, total, 8);
	ade_strbuf_adds(c->o, "</table></div></section>\n");
}

/* -- the healing log -- */

static void section_healing(struct ctx *c)
{
	struct rp_series *act = NULL;
	int na = 0;
	int32_t d;
	sqlite3_stmt *s;

	h2(c, "healing", "Healing log",
	   "What ade-quality and ade-schema repaired, flagged or dropped (warehouse table "
	   "healing_log), newest first.");
	s = prep(c, c->wh,
		 "SELECT ds, coalesce(action, '?'), count(*) FROM healing_log WHERE pipeline=?1 AND "
		 "batch='' AND" RANGE "GROUP BY 1, 2 ORDER BY 1, 2");
	while (row(c, s))
		if (!day_of(col_text(s, 0), &d))
			rp_series_add(series_named(&act, &na, col_text(s, 1)), d, col_num(s, 2), 0);
	sqlite3_finalize(s);
	ade_strbuf_adds(c->o, "<div class=\"grid\">\n");
	chart(c, "Healing log entries per date, by action", "entries", act, na, 1, 1, CH_BARS | CH_INTEGER);
	ade_strbuf_adds(c->o, "</div>\n");
	for (int i = 0; i < na; i++)
		rp_series_free(&act[i]);
	free(act);

	int total = count_rows(c, c->wh,
			       "SELECT count(*) FROM healing_log WHERE pipeline=?1 AND batch='' AND" RANGE);
	if (!total) {
		ade_strbuf_adds(c->o, "<p class=\"note\">Nothing was healed in these dates.</p></section>\n");
		return;
	}
	ade_strbuf_adds(c->o, "<div class=\"scroll\"><table><tr><th>date</th><th>stage</th>"
			      "<th>column</th><th>kind</th><th>action</th><th>detail</th></tr>\n");
	s = prep(c, c->wh,
		 "SELECT ds, stage, column_name, kind, action, detail FROM healing_log WHERE "
		 "pipeline=?1 AND batch='' AND" RANGE "ORDER BY ds DESC, stage, seq LIMIT " STR(MAX_TABLE_ROWS));
	int shown = 0;
	while (row(c, s)) {
		const char *action = col_text(s, 4);
		ade_strbuf_addf(c->o, "<tr%s>", !strcmp(action, "drop") ? " class=\"warn\"" : "");
		for (int k = 0; k < 5; k++)
			td(c->o, NULL, col_text(s, k));
		const char *detail = col_text(s, 5);
		ade_strbuf_adds(c->o, "<td><code>");
		rp_escn(c->o, detail, 240);
		ade_strbuf_adds(c->o, strlen(detail) > 240 ? "…</code></td></tr>\n" : "</code></td></tr>\n");
		shown++;
	}
	sqlite3_finalize(s);
	more_rows(c, shown, total, 6);
	ade_strbuf_adds(c->o, "</table></div></section>\n");
}

/* -- the lineage graph of the last run -- */

struct lnode {
	const char *name;  /* borrowed from the document */
	const char *state; /* stages; NULL for datasets */
	const char *id;    /* datasets */
	double rows;
	int depth, row;
};

static int lnode_find(const struct lnode *n, int nn, const char *name, int stage)
{
	for (int i = 0; i < nn; i++)
		if ((stage ? n[i].state != NULL : n[i].state == NULL) &&
		    !strcmp(stage ? n[i].name : n[i].id, name))
			return i;
	return -1;
}

static void lineage_svg(struct ctx *c, const cJSON *doc)
{
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(doc, "stages");
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(doc, "edges");
	const cJSON *dsets = cJSON_GetObjectItemCaseSensitive(doc, "datasets");
	int cap = cJSON_GetArraySize(stages) + cJSON_GetArraySize(dsets) + 1;
	struct lnode *n = ade_xcalloc((size_t)cap, sizeof(*n));
	int nn = 0, ne = 0;
	int(*e)[2] = NULL;
	const cJSON *x;

#define ADD_EDGE(a, b)                                                                      \
	do {                                                                                \
		int dup_ = 0;                                                               \
		for (int q_ = 0; q_ < ne; q_++)                                             \
			dup_ |= e[q_][0] == (a) && e[q_][1] == (b);                         \
		if (!dup_ && (a) >= 0 && (b) >= 0 && (a) != (b)) {                          \
			e = ade_xrealloc(e, sizeof(*e) * (size_t)(ne + 1));                 \
			e[ne][0] = (a);                                                     \
			e[ne++][1] = (b);                                                   \
		}                                                                           \
	} while (0)

	cJSON_ArrayForEach(x, stages) {
		const char *name = ade_json_str(x, "name", NULL);
		if (!name)
			continue;
		n[nn].name = name;
		n[nn].state = ade_json_str(x, "state", NULL);
		if (!n[nn].state)
			n[nn].state = "unknown";
		n[nn++].rows = NAN;
	}
	int nstages = nn;
	/* Sources (read, not produced by the run) and warehouse tables written. */
	cJSON_ArrayForEach(x, dsets) {
		const char *id = ade_json_str(x, "id", NULL);
		const char *prod = ade_json_str(x, "producer", NULL);
		const char *ns = ade_json_str(x, "namespace", NULL);
		const cJSON *cons = cJSON_GetObjectItemCaseSensitive(x, "consumers");
		int source = !prod && cJSON_GetArraySize(cons) > 0;
		int table = prod && ns && !strncmp(ns, "sqlite", 6);
		if (!id || (!source && !table))
			continue;
		n[nn].id = id;
		n[nn].name = ade_json_str(x, "label", NULL);
		if (!n[nn].name)
			n[nn].name = id;
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "rows");
		n[nn].rows = cJSON_IsNumber(r) ? r->valuedouble : NAN;
		int me = nn++;
		if (source) {
			const cJSON *k;
			cJSON_ArrayForEach(k, cons)
				if (cJSON_IsString(k))
					ADD_EDGE(me, lnode_find(n, nstages, k->valuestring, 1));
		} else {
			ADD_EDGE(lnode_find(n, nstages, prod, 1), me);
		}
	}
	cJSON_ArrayForEach(x, edges) {
		const char *f = ade_json_str(x, "from", NULL), *t = ade_json_str(x, "to", NULL);
		if (f && t)
			ADD_EDGE(lnode_find(n, nstages, f, 1), lnode_find(n, nstages, t, 1));
	}
#undef ADD_EDGE
	/* Columns by longest path; a bounded relaxation, so a cycle cannot hang it. */
	for (int i = 0; i < nn; i++)
		n[i].depth = n[i].state ? 1 : 0;
	for (int pass = 0; pass < nn + 1; pass++) {
		int changed = 0;
		for (int k = 0; k < ne; k++)
			if (n[e[k][1]].depth < n[e[k][0]].depth + 1 && n[e[k][0]].depth < nn + 2) {
				n[e[k][1]].depth = n[e[k][0]].depth + 1;
				changed = 1;
			}
		if (!changed)
			break;
	}
	int maxd = 0, maxrows = 0;
	for (int i = 0; i < nn; i++)
		maxd = n[i].depth > maxd ? n[i].depth : maxd;
	/*
	 * A stage that exchanged no dataset (ade-lineage itself, a user's
	 * script) has no place in the flow: it goes in a last column, which is
	 * where such stages usually run.
	 */
	int isolated = 0;
	for (int i = 0; i < nstages && ne; i++) {
		int linked = 0;
		for (int k = 0; k < ne && !linked; k++)
			linked = e[k][0] == i || e[k][1] == i;
		if (!linked) {
			n[i].depth = maxd + 1;
			isolated = 1;
		}
	}
	maxd += isolated;
	int *cnt = ade_xcalloc((size_t)maxd + 1, sizeof(int));
	for (int i = 0; i < nn; i++) {
		n[i].row = cnt[n[i].depth]++;
		maxrows = cnt[n[i].depth] > maxrows ? cnt[n[i].depth] : maxrows;
	}
	const double W = 1200, T = 40, nh = 38, gap = 58;
	/* Columns share the width; nodes leave room for the arrows between them. */
	double colw = (W - 40) / (maxd + 1);
	if (colw > 200)
		colw = 200;
	double nw = colw - 36 < 140 ? colw - 36 : 140;
	/* Deep graphs (30-odd levels) leave no width: keep a sliver, and a non-negative count. */
	if (nw < 8)
		nw = 8;
	size_t chars = (size_t)(nw / 7.5);
	double H = T + maxrows * gap + 10;
#define NX(i) (20 + n[i].depth * colw)
#define NY(i) (T + n[i].row * gap + (maxrows - cnt[n[i].depth]) * gap / 2.0)
	ade_strbuf_addf(c->o, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
			      "aria-label=\"Lineage graph of the last run\">"
			      "<defs><marker id=\"rp-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
			      "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
			      "<path d=\"M0 0L10 5L0 10z\" fill=\"#777\"/></marker></defs>"
			      "<text class=\"ct\" x=\"8\" y=\"20\">Stages and datasets of run %d of ",
			W, H, c->last_num);
	rp_esc(c->o, c->last_ds);
	ade_strbuf_adds(c->o, "</text>\n");
	for (int k = 0; k < ne; k++) {
		int a = e[k][0], b = e[k][1];
		double xa = NX(a) + nw, ya = NY(a) + nh / 2, xb = NX(b), yb = NY(b) + nh / 2;
		double mx = (xa + xb) / 2;
		ade_strbuf_addf(c->o, "<path class=\"edge\" d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f\" "
				      "fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\" "
				      "marker-end=\"url(#rp-arrow)\"><title>",
				xa, ya, mx, ya, mx, yb, xb - 1, yb);
		rp_esc(c->o, n[a].name);
		ade_strbuf_adds(c->o, " → ");
		rp_esc(c->o, n[b].name);
		ade_strbuf_adds(c->o, "</title></path>\n");
	}
	for (int i = 0; i < nn; i++) {
		double x0 = NX(i), y0 = NY(i);
		if (n[i].state) {
			int bad = !strcmp(n[i].state, "failed") || !strcmp(n[i].state, "upstream_failed");
			ade_strbuf_addf(c->o, "<g class=\"node%s\"><title>stage ", bad ? " fail" : "");
			rp_esc(c->o, n[i].name);
			ade_strbuf_adds(c->o, ": ");
			rp_esc(c->o, n[i].state);
			ade_strbuf_addf(c->o, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
					      "rx=\"5\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"/>",
					x0, y0, nw, nh, bad ? "#fdecea" : "#fff", rp_state_color(n[i].state),
					bad ? "2.5" : "1.5");
			ade_strbuf_addf(c->o, "<text class=\"nname\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
					x0 + nw / 2, y0 + 16);
			rp_escn(c->o, n[i].name, chars);
			ade_strbuf_addf(c->o, "</text><text class=\"nsub\" x=\"%.1f\" y=\"%.1f\" "
					      "text-anchor=\"middle\" style=\"fill:%s\">",
					x0 + nw / 2, y0 + 31, rp_state_color(n[i].state));
			rp_esc(c->o, n[i].state);
			ade_strbuf_adds(c->o, "</text></g>\n");
		} else {
			char rows[64];
			rp_num(rows, sizeof(rows), n[i].rows);
			ade_strbuf_adds(c->o, "<g class=\"dataset\"><title>dataset ");
			rp_esc(c->o, n[i].id);
			ade_strbuf_addf(c->o, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
					      "rx=\"17\" fill=\"#eef3f8\" stroke=\"#6b8fb3\"/>",
					x0, y0, nw, nh);
			ade_strbuf_addf(c->o, "<text class=\"nname\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
					x0 + nw / 2, y0 + 16);
			rp_escn(c->o, n[i].name, chars);
			ade_strbuf_addf(c->o, "</text><text class=\"nsub\" x=\"%.1f\" y=\"%.1f\" "
					      "text-anchor=\"middle\">%s%s</text></g>\n",
					x0 + nw / 2, y0 + 31, isnan(n[i].rows) ? "dataset" : rows,
					isnan(n[i].rows) ? "" : " rows");
		}
	}
#undef NX
#undef NY
	ade_strbuf_adds(c->o, "</svg>\n");
	free(cnt);
	free(e);
	free(n);
}

static void lineage_table(struct ctx *c, const cJSON *doc)
{
	const cJSON *x, *dsets = cJSON_GetObjectItemCaseSensitive(doc, "datasets");
	int shown = 0, total = cJSON_GetArraySize(dsets);

	ade_strbuf_adds(c->o, "<div class=\"scroll\"><table><tr><th>dataset</th><th>format</th>"
			      "<th>rows</th><th>written by</th><th>read by</th></tr>\n");
	cJSON_ArrayForEach(x, dsets) {
		if (shown == MAX_TABLE_ROWS)
			break;
		const cJSON *cons = cJSON_GetObjectItemCaseSensitive(x, "consumers"), *k;
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "rows");
		ade_strbuf_adds(c->o, "<tr><td title=\"");
		rp_esc(c->o, ade_json_str(x, "id", NULL));
		ade_strbuf_adds(c->o, "\">");
		rp_esc(c->o, ade_json_str(x, "label", NULL));
		ade_strbuf_adds(c->o, "</td>");
		td(c->o, NULL, ade_json_str(x, "format", NULL));
		td_num(c->o, cJSON_IsNumber(r) ? r->valuedouble : NAN);
		td(c->o, NULL, ade_json_str(x, "producer", NULL) ? ade_json_str(x, "producer", NULL) : "(source)");
		ade_strbuf_adds(c->o, "<td>");
		int first = 1;
		cJSON_ArrayForEach(k, cons) {
			if (!cJSON_IsString(k))
				continue;
			if (!first)
				ade_strbuf_adds(c->o, ", ");
			rp_esc(c->o, k->valuestring);
			first = 0;
		}
		ade_strbuf_adds(c->o, "</td></tr>\n");
		shown++;
	}
	more_rows(c, shown, total, 5);
	ade_strbuf_adds(c->o, "</table></div>\n");
}

static void section_lineage(struct ctx *c)
{
	cJSON *doc = NULL;
	struct ade_error err = {0};

	h2(c, "lineage", "Lineage of the last run",
	   "Stages (boxes, outlined in the colour of their state) and the datasets the run read "
	   "and the warehouse tables it wrote (rounded); arrows are data flowing between them. "
	   "The table lists every dataset. Full detail: ade lineage PIPELINE --date D.");
	figure_open(c, 1);
	if (!c->last_id) {
		rp_no_data(c->o, "Lineage graph", "no run of this pipeline in these dates");
	} else {
		struct ade_lineage_run run = {
			.home = c->home, .run_dir = c->last_dir, .pipeline = c->pipeline,
			.ds = c->last_ds, .run_number = c->last_num, .run_id = c->last_id,
			.use_state_db = 1,
		};
		if (!c->last_dir || !*c->last_dir || ade_lineage_doc_build(&run, &doc, &err)) {
			char why[ADE_ERROR_MSG_MAX + 32];
			snprintf(why, sizeof(why), "no lineage: %s",
				 err.msg[0] ? err.msg : "the run has no directory");
			rp_no_data(c->o, "Lineage graph", why);
		} else {
			lineage_svg(c, doc);
		}
	}
	ade_strbuf_adds(c->o, "</figure>\n");
	if (doc)
		lineage_table(c, doc);
	ade_strbuf_adds(c->o, "</section>\n");
	cJSON_Delete(doc);
}

/* -- the run history -- */

static void section_runs(struct ctx *c)
{
	sqlite3_stmt *s;

	h2(c, "runs", "Run history",
	   "Every run of the pipeline in these dates (state.db): duration from the run's start to "
	   "its end, failed runs in red.");
	int total = count_rows(c, c->st, "SELECT count(*) FROM runs WHERE pipeline=?1 AND" RANGE);
	figure_open(c, 1);
	if (!total) {
		rp_no_data(c->o, "Run durations", "no run of this pipeline in these dates");
	} else {
		/* The newest runs, drawn oldest first. */
		s = prep(c, c->st,
			 "SELECT * FROM (SELECT ds, run_number, state, started_at, ended_at FROM runs "
			 "WHERE pipeline=?1 AND" RANGE "ORDER BY ds DESC, run_number DESC LIMIT " STR(
				 MAX_RUN_BARS) ") ORDER BY ds, run_number");
		struct {
			char ds[11], state[24];
			int num;
			double ms;
		} r[MAX_RUN_BARS];
		int n = 0;
		double maxms = 0;
		while (row(c, s) && n < MAX_RUN_BARS) {
			/* Written unescaped below: only a well-formed date gets through. */
			int32_t d;
			snprintf(r[n].ds, sizeof(r[n].ds), "%s",
				 day_of(col_text(s, 0), &d) ? "bad date" : col_text(s, 0));
			r[n].num = sqlite3_column_int(s, 1);
			snprintf(r[n].state, sizeof(r[n].state), "%s", col_text(s, 2));
			int64_t a = rp_parse_utc_ms(col_text(s, 3)), b = rp_parse_utc_ms(col_text(s, 4));
			r[n].ms = a >= 0 && b >= a ? (double)(b - a) : NAN;
			if (!isnan(r[n].ms) && r[n].ms > maxms)
				maxms = r[n].ms;
			n++;
		}
		sqlite3_finalize(s);
		int ms = maxms < 1000;
		double unit = ms ? 1 : 1000, lo, hi, step;
		rp_nice_range(0, maxms > 0 ? maxms / unit : 1, 5, &lo, &hi, &step);
		lo = 0;
		const double W = 1200, L = 72, R = 18, T = 34, B = 100, H = 330;
		double slot = (W - L - R) / (n ? n : 1), bw = slot * 0.7 > 40 ? 40 : slot * 0.7;
		int every = n > 24 ? (n + 23) / 24 : 1;
		ade_strbuf_addf(c->o, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
				      "aria-label=\"Run durations\"><text class=\"ct\" x=\"8\" y=\"20\">"
				      "Run durations (newest %d runs)</text>\n",
				W, H, n);
		for (int i_ = 0, nt_ = rp_tick_count(0, hi, step); i_ <= nt_; i_++) {
			double v = i_ * step;
			char lab[64];
			double y = H - B - v / hi * (H - B - T);
			rp_num(lab, sizeof(lab), round(v * 1e6) / 1e6);
			ade_strbuf_addf(c->o, "<line class=\"gl\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
					      "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
					L, y, W - R, y, L - 6, y + 4, lab);
		}
		ade_strbuf_addf(c->o, "<text class=\"axis\" transform=\"translate(14 %.1f) rotate(-90)\" "
				      "text-anchor=\"middle\">run duration (%s)</text>\n",
				(T + H - B) / 2, ms ? "ms" : "s");
		for (int i = 0; i < n; i++) {
			double x = L + slot * i + (slot - bw) / 2;
			double v = isnan(r[i].ms) ? 0 : r[i].ms / unit;
			double h = v / hi * (H - B - T);
			char lab[64];
			rp_num(lab, sizeof(lab), isnan(r[i].ms) ? NAN : round(v * 1000) / 1000);
			int bad = !strcmp(r[i].state, "failed");
			ade_strbuf_addf(c->o, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					      "height=\"%.1f\" fill=\"%s\"><title>%s run %d: ",
					bad ? " fail" : "", x, H - B - (h < 1 ? 1 : h), bw, h < 1 ? 1 : h,
					rp_state_color(r[i].state), r[i].ds, r[i].num);
			rp_esc(c->o, r[i].state);
			ade_strbuf_addf(c->o, ", %s %s</title></rect>\n", isnan(r[i].ms) ? "unfinished" : lab,
					isnan(r[i].ms) ? "" : ms ? "ms" : "s");
			if (i % every == 0 || bad)
				ade_strbuf_addf(c->o, "<text class=\"tick\" transform=\"translate(%.1f %.1f) "
						      "rotate(-45)\" text-anchor=\"end\"%s>%s #%d</text>\n",
						x + bw / 2 + 4, H - B + 12, bad ? " style=\"fill:" RP_RED "\"" : "",
						r[i].ds, r[i].num);
		}
		ade_strbuf_addf(c->o, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
				      "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
				      "execution date and run number</text></svg>\n",
				L, H - B, W - R, H - B, (L + W - R) / 2, H - 6);
		ade_strbuf_adds(c->o, "<div class=\"legend\"><span><i style=\"background:" RP_GREEN
				      "\"></i>success</span><span><i style=\"background:" RP_RED
				      "\"></i>failed</span><span><i style=\"background:" RP_BLUE
				      "\"></i>running or queued</span></div>\n");
	}
	ade_strbuf_adds(c->o, "</figure>\n");
	if (total) {
		ade_strbuf_adds(c->o, "<div class=\"scroll\"><table><tr><th>date</th><th>run</th>"
				      "<th>state</th><th>started (UTC)</th><th>duration (s)</th>"
				      "<th>failed stages</th><th>run id</th></tr>\n");
		s = prep(c, c->st,
			 "SELECT r.ds, r.run_number, r.state, r.started_at, r.ended_at, "
			 "(SELECT group_concat(stage, ', ') FROM stages s WHERE s.run_id=r.run_id AND "
			 "s.state='failed'), r.run_id FROM runs r WHERE r.pipeline=?1 AND "
			 "(?2 IS NULL OR r.ds >= ?2) AND (?3 IS NULL OR r.ds <= ?3) "
			 "ORDER BY r.ds DESC, r.run_number DESC LIMIT " STR(MAX_TABLE_ROWS));
		int shown = 0;
		while (row(c, s)) {
			const char *st = col_text(s, 2);
			int64_t a = rp_parse_utc_ms(col_text(s, 3)), b = rp_parse_utc_ms(col_text(s, 4));
			ade_strbuf_addf(c->o, "<tr%s>", !strcmp(st, "failed") ? " class=\"fail\"" : "");
			td(c->o, NULL, col_text(s, 0));
			td_num(c->o, sqlite3_column_int(s, 1));
			state_td(c->o, st);
			td(c->o, NULL, col_text(s, 3));
			td_num(c->o, a >= 0 && b >= a ? (double)(b - a) / 1000 : NAN);
			td(c->o, NULL, col_text(s, 5));
			td(c->o, "id", col_text(s, 6));
			ade_strbuf_adds(c->o, "</tr>\n");
			shown++;
		}
		sqlite3_finalize(s);
		more_rows(c, shown, total, 7);
		ade_strbuf_adds(c->o, "</table></div>\n");
	}
	ade_strbuf_adds(c->o, "</section>\n");
}

/* ---- the page ----------------------------------------------------------- */

static const char css[] =
	"*{box-sizing:border-box}"
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
	"margin:0;color:#222;background:#f4f5f7}"
	"header{background:#263238;color:#fff;padding:14px 24px}"
	"header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cfd8dc;font-size:13px}"
	"nav{margin-top:8px;font-size:13px}nav a{color:#9ecbff;margin-right:14px;text-decoration:none}"
	"main{max-width:1260px;margin:0 auto;padding:4px 20px 40px}"
	"h2{font-size:18px;border-bottom:2px solid #dfe3e8;padding-bottom:4px;margin:28px 0 8px}"
	"h3{font-size:15px;margin:14px 0 6px}"
	".note{color:#555;font-size:13px;margin:4px 0 10px}"
	".grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px}"
	"figure{margin:0 0 12px;background:#fff;border:1px solid #dfe3e8;border-radius:6px;padding:8px}"
	"svg.chart{width:100%;height:auto;display:block}"
	".ct{font-size:15px;font-weight:600;fill:#222}"
	".tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}"
	".lab{font-size:12px;fill:#222}.val{font-size:11px;fill:#444}"
	".nname{font-size:12px;font-weight:600;fill:#222}.nsub{font-size:11px;fill:#555}"
	".gl{stroke:#ebedf0}.ax{stroke:#888}"
	".failtxt{font-size:11px;font-weight:600;fill:#d62728}.nodata{font-size:14px;fill:#888}"
	".legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;padding:4px 8px 0}"
	".legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;"
	"vertical-align:-1px}"
	".scroll{max-height:460px;overflow:auto;border:1px solid #dfe3e8;border-radius:6px;"
	"margin-bottom:12px}"
	"table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}"
	"th,td{border-bottom:1px solid #eef0f2;padding:4px 8px;text-align:left;vertical-align:top}"
	"th{background:#f0f2f4;position:sticky;top:0}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}td.id{font-family:monospace;"
	"font-size:12px;color:#555}code{font-size:12px;word-break:break-all}"
	"tr.fail td{color:#b71c1c}tr.fail{background:#fdecea}tr.warn{background:#fff6e0}"
	".state{font-weight:600}"
	".tiles{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}"
	".tile{background:#fff;border:1px solid #dfe3e8;border-radius:6px;padding:8px 16px;"
	"min-width:140px}.tile b{display:block;font-size:22px}.tile span{font-size:12px;color:#666}"
	".tile.fail{border-color:#d62728}.tile.fail b{color:#d62728}"
	"footer{color:#777;font-size:12px;text-align:center;padding:20px}";

static void page_head(struct ctx *c)
{
	char now[32], from[11], to[11];

	ade_format_utc(ade_now_wall_us(), now);
	ade_strbuf_adds(c->o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			      /* Nothing may be fetched: the file must work offline, as it is. */
			      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
			      "style-src 'unsafe-inline'\">"
			      "<title>ade report: ");
	rp_esc(c->o, c->pipeline);
	ade_strbuf_addf(c->o, "</title><style>%s</style></head>\n<body><header><h1>Pipeline ", css);
	rp_esc(c->o, c->pipeline);
	if (c->have_dates) {
		ade_date_format(c->xmin, from);
		ade_date_format(c->xmax, to);
	}
	ade_strbuf_addf(c->o, "</h1><p>execution dates %s to %s · generated %s by ade %s · home ",
			c->have_dates ? from : "(none)", c->have_dates ? to : "(none)", now, ADE_VERSION);
	rp_esc(c->o, c->home);
	ade_strbuf_adds(c->o, "</p><nav><a href=\"#kpis\">KPIs</a><a href=\"#gantt\">last run</a>"
			      "<a href=\"#stages\">stages</a><a href=\"#validation\">validation</a>"
			      "<a href=\"#schema\">schema</a><a href=\"#healing\">healing</a>"
			      "<a href=\"#lineage\">lineage</a><a href=\"#runs\">runs</a></nav>"
			      "</header>\n<main>\n");
	if (!c->wh)
		ade_strbuf_adds(c->o, "<p class=\"note\">No warehouse in this home yet (warehouse.db): "
				      "the sections that come from it have no data.</p>\n");
}

static int check_date(const char *what, const char *v, struct ade_error *err)
{
	int32_t d;

	if (v && (strlen(v) != 10 || ade_date_parse(v, &d, NULL)))
		return ade_error_set(err, ADE_EINVAL, "%s needs a date YYYY-MM-DD, not '%s'", what, v);
	return 0;
}

int ade_report_render_opts(const char *home, const char *pipeline, const char *from,
			   const char *to, const struct ade_report_opts *o, struct ade_strbuf *out,
			   struct ade_error *err)
{
	struct ctx c = {.home = home, .pipeline = pipeline, .from = from, .to = to, .o = out,
			.err = err};
	char *path;
	int rc;

	c.busy_ms = o && o->busy_timeout_ms > 0 ? o->busy_timeout_ms : ADE_REPORT_BUSY_TIMEOUT_MS;
	c.deadline_ns = o ? o->deadline_ns : 0;
	if (!pipeline || !*pipeline)
		return ade_error_set(err, ADE_EINVAL, "no pipeline given");
	if ((rc = check_date("--from", from, err)) || (rc = check_date("--to", to, err)))
		return rc;
	if (from && to && strcmp(from, to) > 0)
		return ade_error_set(err, ADE_EINVAL, "--from %s is after --to %s", from, to);
	path = ade_xasprintf("%s/state.db", home);
	rc = open_ro(&c, path, &c.st, err);
	free(path);
	if (rc)
		return rc;
	path = ade_xasprintf("%s/warehouse.db", home);
	rc = open_ro(&c, path, &c.wh, err);
	free(path);
	if (rc)
		goto out;
	int known = pipeline_known(&c);
	if (known < 0) {
		rc = c.rc;
		goto out;
	}
	if (!known) {
		rc = ade_error_set(err, ADE_ENOTFOUND,
				   "no pipeline '%s' in '%s': no run in state.db and no load in the "
				   "warehouse",
				   pipeline, home);
		goto out;
	}
	find_dates(&c);
	page_head(&c);
	section_kpis(&c);
	gantt(&c);
	section_stages(&c);
	section_validation(&c);
	section_schema(&c);
	section_healing(&c);
	section_lineage(&c);
	section_runs(&c);
	ade_strbuf_adds(out, "</main><footer>ade report · self-contained: no script, no external "
			     "file · docs/report.md</footer></body></html>\n");
	/* Sections after a failed query have been skipped: the document is not the data. */
	rc = c.rc;
out:
	sqlite3_close(c.st);
	sqlite3_close(c.wh);
	free(c.fail_days);
	free(c.last_id);
	free(c.last_ds);
	free(c.last_state);
	free(c.last_dir);
	return rc;
}

int ade_report_render(const char *home, const char *pipeline, const char *from, const char *to,
		      struct ade_strbuf *out, struct ade_error *err)
{
	return ade_report_render_opts(home, pipeline, from, to, NULL, out, err);
}
