/*
 * run_summary.json: one small file per run with what a user checks first
 * (date, state, rows, quality score, model error, every stage's state and
 * duration), written when the run ends (docs/report.md).
 */
#include "report.h"
#include "internal.h"
#include "scheduler/exec.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESULT_MAX (64u << 20)

/* Numbers go in as printed text: the summary is only printed (core/json.h). */
static void add_num_or_null(cJSON *o, const char *k, double v)
{
	if (isnan(v))
		cJSON_AddNullToObject(o, k);
	else
		ade_json_add_number_raw(o, k, v);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static const char *ctext(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static double cnum(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* A number member of o (path "a.b" one level deep at most), else NaN. */
static double jnum(const cJSON *o, const char *k, const char *k2)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (k2)
		x = cJSON_GetObjectItemCaseSensitive(x, k2);
	return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* What the run's stages reported in their result.json, first producer of each kind wins. */
struct facts {
	double rows_in, rows_quarantined, quarantine_rate, rows_out, rows_loaded;
	double quality_score, mae, rmse, r2;
	cJSON *dimensions;  /* owned */
	cJSON *validation;  /* owned */
	char *model_version;
	int have_validate_rows;
};

static void read_result(int run_fd, const char *run_dir, const char *stage, struct facts *f)
{
	char rel[128];
	cJSON *r = NULL;

	/* A stage without result.json (a user's script) is opaque: nothing to add. */
	if (snprintf(rel, sizeof(rel), "%s/out/result.json", stage) >= (int)sizeof(rel) ||
	    ade_json_read_file_at(run_fd, run_dir, rel, &r, NULL))
		return;
	const char *prod = ade_json_str(r, "producer", "");
	if (!strcmp(prod, "ade-ingest") && isnan(f->rows_in)) {
		f->rows_in = jnum(r, "rows_read", NULL);
		if (isnan(f->rows_in))
			f->rows_in = jnum(r, "rows_in", NULL);
		f->rows_quarantined = jnum(r, "rows_quarantined", NULL);
		f->quarantine_rate = jnum(r, "quarantine", "rate");
	} else if (!strcmp(prod, "ade-quality") && isnan(f->quality_score)) {
		f->quality_score = jnum(r, "score", NULL);
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(r, "quality"), "dimensions");
		if (cJSON_IsObject(d))
			f->dimensions = cJSON_Duplicate(d, 1);
		if (!f->have_validate_rows)
			f->rows_out = jnum(r, "rows_out", NULL);
	} else if (!strcmp(prod, "ade-validate") && !f->validation) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "summary");
		f->validation = cJSON_CreateObject();
		add_num_or_null(f->validation, "rules", jnum(s, "rules", NULL));
		add_num_or_null(f->validation, "passed", jnum(s, "passed", NULL));
		add_num_or_null(f->validation, "failed", jnum(s, "failed", NULL));
		f->rows_out = jnum(r, "rows_out", NULL);
		f->have_validate_rows = 1;
	} else if (!strcmp(prod, "ade-train") && !f->model_version) {
		f->model_version = ade_xstrdup(ade_json_str(r, "model_version", ""));
		f->mae = jnum(r, "metrics", "mae");
		f->rmse = jnum(r, "metrics", "rmse");
		f->r2 = jnum(r, "metrics", "r2");
	} else if (!strcmp(prod, "ade-warehouse") && isnan(f->rows_loaded)) {
		f->rows_loaded = jnum(r, "facts", "rows");
	}
	cJSON_Delete(r);
}

/*
 * What state.db holds about one stage of the run, read for all stages at
 * once: three queries over the run's rows, not three per stage.
 */
struct stage_row {
	int have_state, have_last, attempts;
	char *state, *note;                 /* owned */
	double all_ms;                      /* NaN: no attempt */
	char *started_at, *ended_at, *reason; /* the last attempt's; owned */
	double wall_ms, user_ms, sys_ms, maxrss_kb, exit_code, signal;
};

static char *cdup(sqlite3_stmt *s, int i)
{
	return ctext(s, i) ? ade_xstrdup(ctext(s, i)) : NULL;
}

static void read_rows(sqlite3 *db, const char *run_id, const struct ade_strmap *idx,
		      struct stage_row *rows)
{
	sqlite3_stmt *s = NULL;
	int i;

	if (sqlite3_prepare_v2(db, "SELECT stage, state, attempts, note FROM stages WHERE run_id=?1",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW)
			if (ctext(s, 0) && (i = ade_strmap_get(idx, ctext(s, 0))) >= 0 &&
			    !rows[i].have_state) {
				rows[i].have_state = 1;
				rows[i].state = ade_xstrdup(ctext(s, 1) ? ctext(s, 1) : "");
				rows[i].attempts = sqlite3_column_int(s, 2);
				rows[i].note = cdup(s, 3);
			}
	}
	sqlite3_finalize(s);
	s = NULL;
	/*
	 * In attempt order: the last row of a stage is its last attempt, and
	 * the sum of its wall times (as SQL's sum: NULL without any) is
	 * gathered in the same pass.
	 */
	if (sqlite3_prepare_v2(db,
			       "SELECT stage, started_at, ended_at, wall_ms, user_ms, sys_ms, maxrss_kb, "
			       "exit_code, signal, reason FROM attempts WHERE run_id=?1 ORDER BY stage, "
			       "attempt",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW) {
			if (!ctext(s, 0) || (i = ade_strmap_get(idx, ctext(s, 0))) < 0)
				continue;
			struct stage_row *r = &rows[i];
			free(r->started_at);
			free(r->ended_at);
			free(r->reason);
			r->have_last = 1;
			r->started_at = cdup(s, 1);
			r->ended_at = cdup(s, 2);
			r->wall_ms = cnum(s, 3);
			if (!isnan(r->wall_ms))
				r->all_ms = isnan(r->all_ms) ? r->wall_ms : r->all_ms + r->wall_ms;
			r->user_ms = cnum(s, 4);
			r->sys_ms = cnum(s, 5);
			r->maxrss_kb = cnum(s, 6);
			r->exit_code = cnum(s, 7);
			r->signal = cnum(s, 8);
			r->reason = cdup(s, 9);
		}
	}
	sqlite3_finalize(s);
}

static void row_release(struct stage_row *r)
{
	free(r->state);
	free(r->note);
	free(r->started_at);
	free(r->ended_at);
	free(r->reason);
}

/*
 * One stage's entry, appended as text: its state in the run and its last
 * attempt.  A node per value made the tree of a 1000-stage run most of the
 * summary's cost; the keys and their order are those of docs/report.md.
 */
static void put_key(struct ade_strbuf *sb, const char *key)
{
	if (sb->len && sb->buf[sb->len - 1] != '{')
		ade_strbuf_addc(sb, ',');
	ade_strbuf_addc(sb, '"');
	ade_strbuf_adds(sb, key);
	ade_strbuf_add(sb, "\":", 2);
}

static void put_str(struct ade_strbuf *sb, const char *key, const char *v)
{
	put_key(sb, key);
	ade_json_put_string(sb, v);
}

static void put_num(struct ade_strbuf *sb, const char *key, double v)
{
	put_key(sb, key);
	ade_json_put_number(sb, v);
}

static const char *stage_text(struct ade_strbuf *sb, const struct stage_row *r,
			      const char *name, double *total_s)
{
	const char *state = r->have_state ? r->state : "queued";

	ade_strbuf_addc(sb, '{');
	put_str(sb, "name", name);
	put_str(sb, "state", state);
	put_num(sb, "attempts", r->have_state ? r->attempts : 0);
	put_str(sb, "note", r->have_state ? r->note : NULL);
	/* Reused, skipped or never started: no attempt in this run, all null. */
	int a = r->have_last;
	put_str(sb, "started_at", a ? r->started_at : NULL);
	put_str(sb, "ended_at", a ? r->ended_at : NULL);
	put_num(sb, "duration_s", a ? ade_ms_to_s(r->wall_ms) : NAN);
	put_num(sb, "user_s", a ? ade_ms_to_s(r->user_ms) : NAN);
	put_num(sb, "sys_s", a ? ade_ms_to_s(r->sys_ms) : NAN);
	put_num(sb, "peak_rss_kb", a ? r->maxrss_kb : NAN);
	put_num(sb, "exit_code", a ? r->exit_code : NAN);
	put_num(sb, "signal", a ? r->signal : NAN);
	put_str(sb, "reason", a ? r->reason : NULL);
	put_num(sb, "all_attempts_s", ade_ms_to_s(r->all_ms));
	ade_strbuf_addc(sb, '}');
	if (!isnan(r->all_ms))
		*total_s += r->all_ms / 1000;
	return state;
}

int ade_report_run_summary(const char *home, const char *pipeline, const char *run_id,
			   const char *run_dir, const char *const *stage_names, int n_stages,
			   char **out, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/state.db", home);
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	cJSON *root = NULL;
	struct facts f = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NULL, NULL, NULL, 0};
	int rc = 0;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "cannot open '%s': %s", path,
				   db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	/* One read transaction: one snapshot and one lock for every query. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db,
			       "SELECT ds, run_number, state, started_at, ended_at FROM runs WHERE "
			       "run_id=?1",
			       -1, &s, NULL) != SQLITE_OK) {
		int code = sqlite3_errcode(db) & 0xff;
		rc = ade_error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
				   "'%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	/*
	 * Past this first read the transaction holds its snapshot, so the
	 * queries below cannot meet a lock; they only lack rows or tables.
	 */
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	int step = sqlite3_step(s);
	if (step == SQLITE_DONE) {
		rc = ade_error_set(err, ADE_ENOTFOUND, "no run '%s' in '%s'", run_id, path);
		goto out;
	}
	if (step != SQLITE_ROW) {
		/* A lock held past the timeout, or a damaged file: not "no such run". */
		int code = sqlite3_errcode(db) & 0xff;
		rc = ade_error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
				   "reading run '%s' from '%s': %s", run_id, path, sqlite3_errmsg(db));
		goto out;
	}
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "format", "ade-run-summary");
	ade_json_add_number_raw(root, "format_version", 1);
	cJSON_AddStringToObject(root, "pipeline", pipeline);
	add_str_or_null(root, "ds", ctext(s, 0));
	ade_json_add_number_raw(root, "run_number", sqlite3_column_int(s, 1));
	cJSON_AddStringToObject(root, "run_id", run_id);
	add_str_or_null(root, "state", ctext(s, 2));
	add_str_or_null(root, "started_at", ctext(s, 3));
	add_str_or_null(root, "ended_at", ctext(s, 4));
	int64_t a = rp_parse_utc_ms(ctext(s, 3)), b = rp_parse_utc_ms(ctext(s, 4));
	add_num_or_null(root, "duration_s", a >= 0 && b >= a ? (double)(b - a) / 1000 : NAN);
	sqlite3_finalize(s);
	s = NULL;

	/* The stages: the pipeline's order, then any other state.db knows of. */
	char **names = NULL;
	int nn = 0, cap = 0;
	struct ade_strmap idx = ADE_STRMAP_INIT;
	for (int i = 0; i < n_stages; i++) {
		if (ade_strmap_get(&idx, stage_names[i]) >= 0)
			continue;
		if (nn == cap) {
			cap = cap ? 2 * cap : 64;
			names = ade_xrealloc(names, sizeof(*names) * (size_t)cap);
		}
		names[nn] = ade_xstrdup(stage_names[i]);
		ade_strmap_put(&idx, names[nn], nn);
		nn++;
	}
	if (sqlite3_prepare_v2(db, "SELECT stage FROM stages WHERE run_id=?1 ORDER BY rowid", -1, &s,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *n = ctext(s, 0);
			if (!n || ade_strmap_get(&idx, n) >= 0)
				continue;
			if (nn == cap) {
				cap = cap ? 2 * cap : 64;
				names = ade_xrealloc(names, sizeof(*names) * (size_t)cap);
			}
			names[nn] = ade_xstrdup(n);
			ade_strmap_put(&idx, names[nn], nn);
			nn++;
		}
	}
	sqlite3_finalize(s);
	s = NULL;

	struct stage_row *rows = ade_xcalloc((size_t)nn + 1, sizeof(*rows));
	/* result.json files are opened relative to the run folder: three path components each. */
	int run_fd = run_dir ? open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	for (int i = 0; i < nn; i++)
		rows[i].all_ms = NAN;
	read_rows(db, run_id, &idx, rows);
	cJSON *failed = cJSON_CreateArray();
	struct ade_strbuf stages = ADE_STRBUF_INIT;
	double total_s = 0;
	ade_strbuf_addc(&stages, '[');
	for (int i = 0; i < nn; i++) {
		ade_strbuf_adds(&stages, i ? ",\n\t\t" : "\n\t\t");
		const char *state = stage_text(&stages, &rows[i], names[i], &total_s);
		if (!strcmp(state, "failed"))
			cJSON_AddItemToArray(failed, cJSON_CreateString(names[i]));
		/* Only this run's own published outputs: a reused stage's are elsewhere. */
		const char *note = rows[i].have_state && rows[i].note ? rows[i].note : "";
		if (!strcmp(state, "success") && strcmp(note, "reused") && run_fd >= 0 &&
		    !strchr(names[i], '/'))
			read_result(run_fd, run_dir, names[i], &f);
	}
	if (run_fd >= 0)
		close(run_fd);
	ade_strbuf_adds(&stages, nn ? "\n\t]" : "]");

	add_num_or_null(root, "rows_in", f.rows_in);
	add_num_or_null(root, "rows_quarantined", f.rows_quarantined);
	add_num_or_null(root, "quarantine_rate", f.quarantine_rate);
	add_num_or_null(root, "rows_out", f.rows_out);
	add_num_or_null(root, "rows_loaded", f.rows_loaded);
	add_num_or_null(root, "quality_score", f.quality_score);
	if (f.dimensions)
		cJSON_AddItemToObject(root, "quality_dimensions", f.dimensions);
	else
		cJSON_AddNullToObject(root, "quality_dimensions");
	if (f.validation)
		cJSON_AddItemToObject(root, "validation", f.validation);
	else
		cJSON_AddNullToObject(root, "validation");
	add_str_or_null(root, "model_version", f.model_version);
	add_num_or_null(root, "mae", f.mae);
	add_num_or_null(root, "rmse", f.rmse);
	add_num_or_null(root, "r2", f.r2);
	ade_json_add_number_raw(root, "stage_seconds_total", total_s);
	cJSON_AddItemToObject(root, "failed_stages", failed);
	cJSON_AddRawToObject(root, "stages", stages.buf);
	ade_strbuf_release(&stages);

	for (int i = 0; i < nn; i++) {
		row_release(&rows[i]);
		free(names[i]);
	}
	free(rows);
	free(names);
	ade_strmap_free(&idx);
	free(f.model_version);
	char *text = cJSON_Print(root);
	if (!text) {
		rc = ade_error_set(err, ADE_ENOMEM, "out of memory printing the run summary");
		goto out;
	}
	*out = ade_xasprintf("%s\n", text);
	cJSON_free(text);
out:
	sqlite3_finalize(s);
	if (db && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	cJSON_Delete(root);
	free(path);
	return rc;
}

void ade_report_on_event(void *arg, const struct ade_exec_event *ev)
{
	struct ade_error err = {0};
	char *text = NULL, *path = NULL;
	const char **names = NULL;

	(void)arg;
	if (ev->kind != ADE_EV_RUN_END || !ev->run_dir || !ev->pipeline || !ev->run_id)
		return;
	const struct ade_pipeline *p = ev->pipeline;
	names = ade_xcalloc((size_t)p->n_stages + 1, sizeof(*names));
	for (int i = 0; i < p->n_stages; i++)
		names[i] = p->stages[i].name;
	path = ade_xasprintf("%s/run_summary.json", ev->run_dir);
	if (ade_report_run_summary(ev->home, p->name, ev->run_id, ev->run_dir, names, p->n_stages,
				   &text, &err) ||
	    ade_fs_write_replace(path, text, strlen(text), &err))
		/* The run's outcome stands; a missing summary is reported, not fatal. */
		fprintf(stderr, "ade: %s %s run %d: no run_summary.json: %s\n", p->name, ev->ds,
			ev->run_number, err.msg);
	free(text);
	free(path);
	free(names);
}
