/*
 * The idempotent loader: one transaction that replaces a (pipeline, ds
 * [, batch]) partition in every table with the facts frame and what the
 * upstream stages' result.json files report.
 */
#include "warehouse.h"
#include "internal.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* Tables the warehouse owns that are partitioned by (pipeline, ds, batch). */
static const char *const owned_tables[] = {
	"loads",           "kpi_history",       "analytics",          "quality_results",
	"healing_log",     "validation_results", "validation_violations", "schema_versions",
	"schema_changes",  "quarantine_counts", "model_metrics",      "feature_versions",
	NULL,
};

/* Columns every facts table starts with; frame columns may not reuse them. */
static const char *const partition_cols[] = {"pipeline", "ds", "batch", "run_id", NULL};

struct counter {
	const char *table;
	int64_t rows;
};

struct loader {
	sqlite3 *db;
	const struct ade_warehouse_load *ld;
	const char *batch; /* "" in batch mode */
	struct ade_error *err;
	cJSON *notes;
	struct counter counts[32];
	int ncounts;
	sqlite3_stmt *kpi;
	char loaded_at[32];
	int64_t replaced; /* facts rows of the loaded table the recorded ranges held */
};

static int db_error(struct loader *L, const char *what)
{
	int code = sqlite3_errcode(L->db);

	return ade_error_set(L->err,
			     code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
			     "warehouse: %s: %s", what, sqlite3_errmsg(L->db));
}

static void note(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct loader *L, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (L->notes)
		cJSON_AddItemToArray(L->notes, cJSON_CreateString(buf));
}

static void count(struct loader *L, const char *table, int64_t n)
{
	for (int i = 0; i < L->ncounts; i++)
		if (!strcmp(L->counts[i].table, table)) {
			L->counts[i].rows += n;
			return;
		}
	if (L->ncounts < (int)(sizeof(L->counts) / sizeof(L->counts[0])))
		L->counts[L->ncounts++] = (struct counter){table, n};
}

static int exec_sql(struct loader *L, const char *sql)
{
	if (sqlite3_exec(L->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(L, sql);
	return 0;
}

/*
 * Prepares a statement whose ?1..?4 are pipeline, ds, batch and run_id;
 * SQLite keeps bindings across sqlite3_reset, so they are bound once.
 */
static int prep(struct loader *L, const char *sql, sqlite3_stmt **s)
{
	if (sqlite3_prepare_v2(L->db, sql, -1, s, NULL) != SQLITE_OK)
		return db_error(L, "preparing a statement");
	sqlite3_bind_text(*s, 1, L->ld->pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(*s, 2, L->ld->ds, -1, SQLITE_STATIC);
	sqlite3_bind_text(*s, 3, L->batch, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(*s) >= 4) {
		if (L->ld->run_id)
			sqlite3_bind_text(*s, 4, L->ld->run_id, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(*s, 4);
	}
	return 0;
}

/* Steps an INSERT once and resets it, keeping its bindings. */
static int step(struct loader *L, sqlite3_stmt *s, const char *table)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(L, table);
	count(L, table, sqlite3_changes(L->db));
	return 0;
}

/* Binds a JSON value as text: strings as they are, others as JSON. */
static void bind_json_text(sqlite3_stmt *s, int i, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		sqlite3_bind_text(s, i, v->valuestring, -1, SQLITE_TRANSIENT);
	} else if (v && !cJSON_IsNull(v)) {
		char *t = cJSON_PrintUnformatted(v);
		sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
		free(t);
	} else {
		sqlite3_bind_null(s, i);
	}
}

/* Binds a JSON value: numbers as integers when integral, booleans as 0/1, else as text. */
static void bind_json(sqlite3_stmt *s, int i, const cJSON *v)
{
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 9e15)
			sqlite3_bind_int64(s, i, (sqlite3_int64)d);
		else
			sqlite3_bind_double(s, i, d);
	} else if (cJSON_IsBool(v)) {
		sqlite3_bind_int(s, i, cJSON_IsTrue(v));
	} else {
		bind_json_text(s, i, v);
	}
}

static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* ---- KPI history ---- */

/*
 * Adds a KPI; a later value of the same name replaces an earlier one
 * (analytics' own KPIs come last and win over derived ones).
 */
static int kpi(struct loader *L, const char *name, const cJSON *v)
{
	if ((!cJSON_IsNumber(v) && !cJSON_IsBool(v)) || !name || !*name)
		return 0;
	if (!L->kpi) {
		int rc = prep(L,
			      "INSERT OR REPLACE INTO kpi_history(pipeline, ds, batch, run_id, kpi, value) "
			      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			      &L->kpi);
		if (rc)
			return rc;
	}
	sqlite3_bind_text(L->kpi, 5, name, -1, SQLITE_TRANSIENT);
	if (cJSON_IsBool(v))
		sqlite3_bind_double(L->kpi, 6, cJSON_IsTrue(v));
	else
		sqlite3_bind_double(L->kpi, 6, v->valuedouble);
	return step(L, L->kpi, "kpi_history");
}

static int kpi_num(struct loader *L, const char *name, double v)
{
	cJSON *n = cJSON_CreateNumber(v);
	int rc = kpi(L, name, n);

	cJSON_Delete(n);
	return rc;
}

/* ---- one loader per producer ---- */

static int load_ingest(struct loader *L, const char *stage, const cJSON *r)
{
	const cJSON *q = get(r, "quarantine");
	static const char *const kinds[][2] = {{"by_reason", "quarantined"},
					       {"nulled_by_reason", "nulled"}};
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO quarantine_counts(pipeline, ds, batch, run_id, stage, kind, "
		       "reason, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		       &s)))
		return rc;
	sqlite3_bind_text(s, 5, stage, -1, SQLITE_TRANSIENT);
	for (int k = 0; k < 2 && !rc; k++) {
		const cJSON *by = get(q, kinds[k][0]), *e;
		sqlite3_bind_text(s, 6, kinds[k][1], -1, SQLITE_STATIC);
		cJSON_ArrayForEach(e, by)
		{
			if (!cJSON_IsNumber(e) || !e->string)
				continue;
			sqlite3_bind_text(s, 7, e->string, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(s, 8, (sqlite3_int64)e->valuedouble);
			if ((rc = step(L, s, "quarantine_counts")))
				break;
		}
	}
	sqlite3_finalize(s);
	if (!rc)
		rc = kpi(L, "rows_read", get(r, "rows_read"));
	if (!rc)
		rc = kpi(L, "rows_quarantined", get(r, "rows_quarantined"));
	if (!rc)
		rc = kpi(L, "quarantine_rate", get(q, "rate"));
	return rc;
}

static int healing_row(struct loader *L, sqlite3_stmt *s, int seq, const char *column,
		       const char *kind, const char *action, const cJSON *detail)
{
	sqlite3_bind_int(s, 7, seq);
	bind_str(s, 8, column);
	bind_str(s, 9, kind);
	bind_str(s, 10, action);
	bind_json_text(s, 11, detail);
	return step(L, s, "healing_log");
}

static int prep_healing(struct loader *L, const char *stage, const char *producer,
			sqlite3_stmt **s)
{
	int rc = prep(L,
		      "INSERT INTO healing_log(pipeline, ds, batch, run_id, stage, producer, seq, "
		      "column_name, kind, action, detail) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
		      s);
	if (!rc) {
		sqlite3_bind_text(*s, 5, stage, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(*s, 6, producer, -1, SQLITE_STATIC);
	}
	return rc;
}

static int load_schema(struct loader *L, const char *stage, const cJSON *r)
{
	const char *dataset = ade_json_str(r, "dataset", L->ld->pipeline);
	const cJSON *e;
	sqlite3_stmt *s = NULL;
	int rc, seq = 0;

	if ((rc = prep(L,
		       "INSERT OR REPLACE INTO schema_versions(pipeline, ds, batch, run_id, dataset, "
		       "version, hash, schema_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		       &s)))
		return rc;
	sqlite3_bind_text(s, 5, dataset, -1, SQLITE_TRANSIENT);
	bind_json(s, 6, get(r, "schema_version"));
	bind_json(s, 7, get(r, "schema_hash"));
	bind_json_text(s, 8, get(r, "schema"));
	rc = step(L, s, "schema_versions");
	sqlite3_finalize(s);
	s = NULL;
	if (!rc)
		rc = prep(L,
			  "INSERT INTO schema_changes(pipeline, ds, batch, run_id, dataset, seq, kind, "
			  "column_name, from_value, to_value, action, confidence, detail) "
			  "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
			  &s);
	if (rc)
		return rc;
	sqlite3_bind_text(s, 5, dataset, -1, SQLITE_TRANSIENT);
	cJSON_ArrayForEach(e, get(r, "changes"))
	{
		sqlite3_bind_int(s, 6, ++seq);
		bind_json_text(s, 7, get(e, "kind"));
		bind_json_text(s, 8, get(e, "column"));
		bind_json_text(s, 9, get(e, "from"));
		bind_json_text(s, 10, get(e, "to"));
		bind_json_text(s, 11, get(e, "action"));
		bind_json(s, 12, get(e, "confidence"));
		bind_json_text(s, 13, e);
		if ((rc = step(L, s, "schema_changes")))
			break;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (!rc)
		rc = prep_healing(L, stage, "ade-schema", &s);
	seq = 0;
	const cJSON *heal = rc ? NULL : get(r, "healing");
	cJSON_ArrayForEach(e, heal)
	{
		const char *col = ade_json_str(e, "column", ade_json_str(e, "to", NULL));
		const char *kind = ade_json_str(e, "kind", NULL);
		if ((rc = healing_row(L, s, ++seq, col, kind, kind, e)))
			break;
	}
	sqlite3_finalize(s);
	if (!rc)
		rc = kpi(L, "schema_version", get(r, "schema_version"));
	if (!rc && cJSON_IsArray(get(r, "changes")))
		rc = kpi_num(L, "schema_changes", cJSON_GetArraySize(get(r, "changes")));
	return rc;
}

static int load_quality(struct loader *L, const char *stage, const cJSON *r)
{
	const cJSON *q = get(r, "quality"), *dims = get(q, "dimensions"), *e;
	const cJSON *score = get(r, "score");
	static const char *const dim_names[] = {"completeness", "uniqueness", "validity",
						"consistency"};
	sqlite3_stmt *s = NULL;
	int rc, seq = 0;

	if (!cJSON_IsNumber(score))
		score = get(q, "score");
	if ((rc = prep(L,
		       "INSERT INTO quality_results(pipeline, ds, batch, run_id, stage, score, "
		       "completeness, uniqueness, validity, consistency, rows_in, rows_out, "
		       "duplicates_removed, rows_with_outliers) "
		       "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
		       &s)))
		return rc;
	sqlite3_bind_text(s, 5, stage, -1, SQLITE_TRANSIENT);
	bind_json(s, 6, score);
	for (int i = 0; i < 4; i++)
		bind_json(s, 7 + i, get(dims, dim_names[i]));
	bind_json(s, 11, get(r, "rows_in"));
	bind_json(s, 12, get(r, "rows_out"));
	bind_json(s, 13, get(get(r, "duplicates"), "removed"));
	bind_json(s, 14, get(get(r, "outliers"), "rows_with_outliers"));
	rc = step(L, s, "quality_results");
	sqlite3_finalize(s);
	s = NULL;
	if (!rc)
		rc = prep_healing(L, stage, "ade-quality", &s);
	const cJSON *hl = rc ? NULL : get(r, "healing_log");
	cJSON_ArrayForEach(e, hl)
	{
		const char *action = ade_json_str(e, "action", NULL);
		if ((rc = healing_row(L, s, ++seq, ade_json_str(e, "column", NULL),
				      ade_json_str(e, "kind", "missing"), action, e)))
			break;
	}
	const cJSON *oc = rc ? NULL : get(get(r, "outliers"), "columns");
	cJSON_ArrayForEach(e, oc)
	{
		if ((rc = healing_row(L, s, ++seq, e->string, "outliers",
				      ade_json_str(e, "action", NULL), e)))
			break;
	}
	sqlite3_finalize(s);
	if (!rc)
		rc = kpi(L, "quality_score", score);
	for (int i = 0; i < 4 && !rc; i++) {
		char name[64];
		snprintf(name, sizeof(name), "quality_%s", dim_names[i]);
		rc = kpi(L, name, get(dims, dim_names[i]));
	}
	if (!rc)
		rc = kpi(L, "duplicates_removed", get(get(r, "duplicates"), "removed"));
	return rc;
}

static int load_violations(struct loader *L, const char *stage, const char *dir)
{
	char *path = ade_xasprintf("%s/violations.ndjson", dir);
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	sqlite3_stmt *s = NULL;
	int rc = 0;

	free(path);
	if (!f)
		return 0;
	if ((rc = prep(L,
		       "INSERT INTO validation_violations(pipeline, ds, batch, run_id, stage, rule, "
		       "row_index, sample) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
		       &s))) {
		fclose(f);
		return rc;
	}
	sqlite3_bind_text(s, 5, stage, -1, SQLITE_TRANSIENT);
	while ((n = getline(&line, &cap, f)) > 0) {
		cJSON *v;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n || !(v = cJSON_ParseWithLength(line, (size_t)n)))
			continue;
		bind_json_text(s, 6, get(v, "rule"));
		bind_json(s, 7, get(v, "row"));
		sqlite3_bind_text(s, 8, line, (int)n, SQLITE_TRANSIENT);
		cJSON_Delete(v);
		if ((rc = step(L, s, "validation_violations")))
			break;
	}
	free(line);
	fclose(f);
	sqlite3_finalize(s);
	return rc;
}

static int load_validate(struct loader *L, const char *stage, const char *dir, const cJSON *r)
{
	const cJSON *e, *sum = get(r, "summary");
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO validation_results(pipeline, ds, batch, run_id, stage, rule, "
		       "kind, column_name, severity, status, passed, evaluated, failures, percent, "
		       "params) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
		       &s)))
		return rc;
	sqlite3_bind_text(s, 5, stage, -1, SQLITE_TRANSIENT);
	cJSON_ArrayForEach(e, get(r, "rules"))
	{
		bind_json_text(s, 6, get(e, "name"));
		bind_json_text(s, 7, get(e, "kind"));
		bind_json_text(s, 8, get(e, "column"));
		bind_json_text(s, 9, get(e, "severity"));
		bind_json_text(s, 10, get(e, "status"));
		bind_json(s, 11, get(e, "passed"));
		bind_json(s, 12, get(e, "evaluated"));
		bind_json(s, 13, get(e, "failures"));
		bind_json(s, 14, get(e, "percent"));
		bind_json_text(s, 15, get(e, "params"));
		if ((rc = step(L, s, "validation_results")))
			break;
	}
	sqlite3_finalize(s);
	if (!rc)
		rc = load_violations(L, stage, dir);
	if (!rc)
		rc = kpi(L, "validation_rules_failed", get(sum, "failed"));
	if (!rc)
		rc = kpi(L, "validation_violations", get(sum, "violations"));
	return rc;
}

/*
 * One row of an analytics set: {"group": {...}, "metrics": {...}}, or a
 * flat object whose group_by members are the group and the rest metrics.
 */
static int analytics_row(struct loader *L, sqlite3_stmt *s, const cJSON *set, const cJSON *row)
{
	const cJSON *group_by = get(set, "group_by"), *decl = get(set, "columns");
	const cJSON *g = get(row, "group"), *m = get(row, "metrics"), *e;
	cJSON *key = cJSON_CreateObject(), *metrics = NULL;
	struct ade_strbuf label = ADE_STRBUF_INIT;
	int rc = 0;

	if (cJSON_IsObject(m)) {
		cJSON_ArrayForEach(e, g)
			cJSON_AddItemToObject(key, e->string, cJSON_Duplicate(e, 1));
		metrics = cJSON_Duplicate(m, 1);
	} else {
		metrics = cJSON_CreateObject();
		cJSON_ArrayForEach(e, row)
		{
			int is_key = 0;
			const cJSON *k;
			cJSON_ArrayForEach(k, group_by)
				if (cJSON_IsString(k) && !strcmp(k->valuestring, e->string))
					is_key = 1;
			cJSON_AddItemToObject(is_key ? key : metrics, e->string, cJSON_Duplicate(e, 1));
		}
	}
	cJSON_ArrayForEach(e, key)
	{
		if (label.len)
			ade_strbuf_addc(&label, '|');
		if (cJSON_IsString(e)) {
			ade_strbuf_adds(&label, e->valuestring);
		} else {
			char *t = cJSON_PrintUnformatted(e);
			ade_strbuf_adds(&label, t);
			free(t);
		}
	}
	char *kj = cJSON_PrintUnformatted(key);
	sqlite3_bind_text(s, 6, kj, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 7, label.len ? label.buf : "", -1, SQLITE_TRANSIENT);
	free(kj);
	cJSON_ArrayForEach(e, metrics)
	{
		const cJSON *c;
		int real = 0;
		/* JSON has one number type: a metric declared float64 stays REAL. */
		cJSON_ArrayForEach(c, decl)
			if (!strcmp(ade_json_str(c, "name", ""), e->string) &&
			    !strcmp(ade_json_str(c, "type", ""), "float64"))
				real = 1;
		sqlite3_bind_text(s, 8, e->string, -1, SQLITE_TRANSIENT);
		if (real && cJSON_IsNumber(e))
			sqlite3_bind_double(s, 9, e->valuedouble);
		else
			bind_json(s, 9, e);
		if ((rc = step(L, s, "analytics")))
			break;
	}
	ade_strbuf_release(&label);
	cJSON_Delete(key);
	cJSON_Delete(metrics);
	return rc;
}

static int load_analytics(struct loader *L, const cJSON *r)
{
	const cJSON *sets = get(r, "sets"), *set, *row, *e;
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO analytics(pipeline, ds, batch, run_id, set_name, group_key, "
		       "group_label, metric, value) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
		       &s)))
		return rc;
	/* sets: an array of {name, group_by, rows} or an object name -> set. */
	cJSON_ArrayForEach(set, sets)
	{
		const char *name = cJSON_IsArray(sets) ? ade_json_str(set, "name", NULL) : set->string;
		const cJSON *rows = get(set, "rows");
		if (!name) {
			note(L, "analytics: a set without a name was skipped");
			continue;
		}
		if (!rows)
			rows = get(set, "groups");
		sqlite3_bind_text(s, 5, name, -1, SQLITE_TRANSIENT);
		cJSON_ArrayForEach(row, rows)
			if ((rc = analytics_row(L, s, set, row)))
				goto out;
	}
	/* kpis: an object name -> number, or an array of {name|kpi, value}. */
	cJSON_ArrayForEach(e, get(r, "kpis"))
	{
		if (cJSON_IsObject(e))
			rc = kpi(L, ade_json_str(e, "name", ade_json_str(e, "kpi", "")), get(e, "value"));
		else if (e->string)
			rc = kpi(L, e->string, e);
		if (rc)
			break;
	}
out:
	sqlite3_finalize(s);
	return rc;
}

/*
 * ade-train: "model_metrics" is an array of {model_version, metric,
 * value} rows; an object metric -> value (with "model_version") is also
 * read.
 */
static int load_train(struct loader *L, const cJSON *r)
{
	const cJSON *mm = get(r, "model_metrics"), *e;
	const char *version = ade_json_str(r, "model_version", NULL);
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO model_metrics(pipeline, ds, batch, run_id, model_version, metric, "
		       "value) VALUES (?1,?2,?3,?4,?5,?6,?7)",
		       &s)))
		return rc;
	cJSON_ArrayForEach(e, mm)
	{
		const cJSON *v = cJSON_IsArray(mm) ? get(e, "value") : e;
		const char *metric = cJSON_IsArray(mm) ? ade_json_str(e, "metric", NULL) : e->string;
		if (!cJSON_IsNumber(v) || !metric)
			continue;
		bind_str(s, 5, cJSON_IsArray(mm) ? ade_json_str(e, "model_version", version) : version);
		sqlite3_bind_text(s, 6, metric, -1, SQLITE_TRANSIENT);
		sqlite3_bind_double(s, 7, v->valuedouble);
		if ((rc = step(L, s, "model_metrics")))
			break;
	}
	sqlite3_finalize(s);
	return rc;
}

/* ade-features: "feature_versions" is an array of {version, hash, rows, columns}. */
static int load_features(struct loader *L, const cJSON *r)
{
	const cJSON *fv = get(r, "feature_versions"), *e;
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO feature_versions(pipeline, ds, batch, run_id, version, hash, rows, "
		       "columns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
		       &s)))
		return rc;
	cJSON_ArrayForEach(e, fv)
	{
		const cJSON *cols = get(e, "columns");
		bind_json_text(s, 5, get(e, "version"));
		bind_json_text(s, 6, get(e, "hash"));
		bind_json(s, 7, get(e, "rows"));
		if (cJSON_IsArray(cols))
			sqlite3_bind_int(s, 8, cJSON_GetArraySize(cols));
		else
			bind_json(s, 8, cols);
		if ((rc = step(L, s, "feature_versions")))
			break;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * Pass 0 loads every producer but ade-analytics, pass 1 only it, so the
 * KPIs analytics names win over the ones derived from other stages.
 */
static int load_result(struct loader *L, const struct ade_warehouse_input *in, int pass)
{
	char *path = ade_xasprintf("%s/result.json", in->dir);
	cJSON *r = NULL;
	int rc;

	if (!ade_fs_exists(path)) {
		if (!pass)
			note(L, "stage %s: no result.json, nothing loaded from it", in->stage);
		free(path);
		return 0;
	}
	rc = ade_json_read_file(path, &r, L->err);
	free(path);
	if (rc)
		return rc;
	const char *producer = ade_json_str(r, "producer", "");
	if ((pass == 1) != !strcmp(producer, "ade-analytics"))
		rc = 0;
	else if (!strcmp(producer, "ade-ingest"))
		rc = load_ingest(L, in->stage, r);
	else if (!strcmp(producer, "ade-schema"))
		rc = load_schema(L, in->stage, r);
	else if (!strcmp(producer, "ade-quality"))
		rc = load_quality(L, in->stage, r);
	else if (!strcmp(producer, "ade-validate"))
		rc = load_validate(L, in->stage, in->dir, r);
	else if (!strcmp(producer, "ade-analytics"))
		rc = load_analytics(L, r);
	else if (!strcmp(producer, "ade-train"))
		rc = load_train(L, r);
	else if (!strcmp(producer, "ade-features"))
		rc = load_features(L, r);
	else
		note(L, "stage %s: producer '%s' is not one the warehouse loads; ignored", in->stage,
		     *producer ? producer : "(none)");
	cJSON_Delete(r);
	if (rc)
		ade_error_prefix(L->err, "stage %s", in->stage);
	return rc;
}

/* ---- facts ---- */

static const char *decl_type(enum ade_type t)
{
	switch (t) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_BOOL:
		return "INTEGER";
	case ADE_TYPE_FLOAT64:
		return "REAL";
	default:
		return "TEXT";
	}
}

/*
 * The type a column keeps when a load brings another one: the wider of a
 * widening pair, else the old one for a narrowing, else string.
 */
static const char *widen(const char *old, const char *now)
{
	static const char *const pairs[][2] = {{"int64", "float64"},    {"bool", "int64"},
					       {"bool", "float64"},     {"date", "timestamp"},
					       {"categorical", "string"}};

	if (!strcmp(old, now))
		return old;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (!strcmp(old, pairs[i][0]) && !strcmp(now, pairs[i][1]))
			return now;
		if (!strcmp(old, pairs[i][1]) && !strcmp(now, pairs[i][0]))
			return old;
	}
	return "string";
}

/* YYYY-MM-DD for days since the epoch; 10 bytes, no NUL. */
static int fmt_date(int64_t days, char *out)
{
	int64_t y;
	unsigned m, d;

	ade_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return snprintf(out, 32, "%lld-%02u-%02u", (long long)y, m, d);
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	return 10;
}

/* ISO 8601 UTC: YYYY-MM-DDTHH:MM:SS[.ffffff]Z, at most 40 bytes. */
static int fmt_ts(int64_t us, char *out)
{
	int64_t days = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
	int64_t rem = us - days * 86400000000LL;
	int64_t secs = rem / 1000000, frac = rem % 1000000;
	int n = fmt_date(days, out);

	n += snprintf(out + n, 40 - (size_t)n, "T%02d:%02d:%02d", (int)(secs / 3600),
		      (int)(secs / 60 % 60), (int)(secs % 60));
	if (frac)
		n += snprintf(out + n, 40 - (size_t)n, ".%06d", (int)frac);
	out[n++] = 'Z';
	return n;
}

#define SLOT_TEXT 40

struct facts {
	struct ade_frame *f;
	const char *table;
	int rows_per_stmt;
	char *scratch; /* SLOT_TEXT bytes per (row slot, column) for dates and timestamps */
	long page;
	int64_t first_rowid, last_rowid; /* what this load inserted (loads records it) */
	/*
	 * Dates as text, formatted once per distinct day: DATE_SPAN days
	 * around the first date seen, 10 bytes each, '\0' first until
	 * formatted.  Entries never change once written, so they are bound
	 * SQLITE_STATIC; formatting was about 4% of a load's CPU.
	 */
	char *days;
	int64_t day0;
};

#define DATE_SPAN 32768 /* about 90 years, 320 KiB */

/* The day as YYYY-MM-DD in F->days, or NULL outside its span or years. */
static const char *date_text(struct facts *F, int64_t v)
{
	if (!F->days) {
		F->days = ade_xcalloc(DATE_SPAN, 10);
		F->day0 = v > INT64_MIN + DATE_SPAN / 2 ? v - DATE_SPAN / 2 : v;
	}
	/* Unsigned: a hostile day far from day0 must not overflow. */
	uint64_t k = (uint64_t)v - (uint64_t)F->day0;
	if (v < F->day0 || k >= DATE_SPAN)
		return NULL;
	char *t = F->days + (size_t)k * 10;
	if (!t[0]) {
		char buf[SLOT_TEXT];
		if (fmt_date(v, buf) != 10)
			return NULL;
		memcpy(t, buf, 10);
	}
	return t;
}

static int table_exists(struct loader *L, const char *table, int *exists)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(L->db,
			       "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1 COLLATE NOCASE",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(L, "reading the catalogue");
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*exists = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(L, "reading the catalogue");
}

/*
 * The name of the (pipeline, ds, batch) index that versions 1 and 2 gave
 * every facts table, when the table still has it (caller frees), else
 * NULL.  ade_warehouse_migrate_ranges drops it once every row of the
 * table lies in a range recorded in loads; a table that keeps it may hold
 * partitions no range covers, which are then deleted by column as well.
 * Matched by name and first column, so a user's `indexes:` entry on a
 * column named "partition" is not taken for it.
 */
static char *legacy_index(sqlite3 *db, const char *table)
{
	sqlite3_stmt *s = NULL;
	char *name = NULL;

	if (sqlite3_prepare_v2(db,
			       "SELECT m.name FROM sqlite_master m WHERE m.type='index' AND "
			       "m.tbl_name=?1 COLLATE NOCASE AND m.name=(?1 || '_partition') COLLATE NOCASE "
			       "AND EXISTS (SELECT 1 FROM pragma_index_info(m.name) i WHERE i.seqno=0 "
			       "AND i.name='pipeline' COLLATE NOCASE)",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
			name = ade_xstrdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	return name;
}

/* Creates the facts table or adds the columns it lacks. */
static int evolve_table(struct loader *L, struct facts *F)
{
	struct ade_frame *f = F->f;
	struct ade_strbuf sql = ADE_STRBUF_INIT;
	sqlite3_stmt *s = NULL, *cat = NULL;
	char **have = NULL;
	int nhave = 0, exists = 0, rc;

	if ((rc = table_exists(L, F->table, &exists)))
		return rc;
	if (!exists) {
		ade_strbuf_adds(&sql, "CREATE TABLE ");
		ade_warehouse_quote(&sql, F->table);
		ade_strbuf_adds(&sql, "(pipeline TEXT NOT NULL, ds TEXT NOT NULL, "
				      "batch TEXT NOT NULL DEFAULT '', run_id TEXT");
		for (int j = 0; j < f->ncols; j++) {
			ade_strbuf_adds(&sql, ", ");
			ade_warehouse_quote(&sql, f->cols[j].name);
			ade_strbuf_addf(&sql, " %s", decl_type(f->cols[j].type));
		}
		ade_strbuf_adds(&sql, ")");
		rc = exec_sql(L, sql.buf);
		ade_strbuf_release(&sql);
		if (rc)
			return rc;
	} else {
		int part = 0;
		if (sqlite3_prepare_v2(L->db, "SELECT name FROM pragma_table_info(?1)", -1, &s,
				       NULL) != SQLITE_OK)
			return db_error(L, "reading the facts table's columns");
		sqlite3_bind_text(s, 1, F->table, -1, SQLITE_STATIC);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *n = (const char *)sqlite3_column_text(s, 0);
			have = ade_xrealloc(have, sizeof(*have) * (size_t)(nhave + 1));
			have[nhave++] = ade_xstrdup(n ? n : "");
			for (int k = 0; partition_cols[k]; k++)
				part += n && !strcasecmp(n, partition_cols[k]);
		}
		sqlite3_finalize(s);
		s = NULL;
		if (part < 4) {
			rc = ade_error_set(L->err, ADE_EINVAL,
					   "table '%s' exists in the warehouse and is not a facts table "
					   "(no pipeline, ds, batch, run_id columns); choose another `table:`",
					   F->table);
			goto out;
		}
		for (int j = 0; j < f->ncols; j++) {
			int found = 0;
			for (int k = 0; k < nhave && !found; k++)
				found = !strcasecmp(have[k], f->cols[j].name);
			if (found)
				continue;
			ade_strbuf_reset(&sql);
			ade_strbuf_adds(&sql, "ALTER TABLE ");
			ade_warehouse_quote(&sql, F->table);
			ade_strbuf_adds(&sql, " ADD COLUMN ");
			ade_warehouse_quote(&sql, f->cols[j].name);
			ade_strbuf_addf(&sql, " %s", decl_type(f->cols[j].type));
			if ((rc = exec_sql(L, sql.buf)))
				goto out;
			note(L, "facts: new column '%s' (%s) added to %s", f->cols[j].name,
			     ade_type_name(f->cols[j].type), F->table);
		}
		/* Columns the frame no longer has keep their history; new rows get NULL. */
		for (int k = 0; k < nhave; k++) {
			int found = 0;
			for (int j = 0; j < f->ncols && !found; j++)
				found = !strcasecmp(have[k], f->cols[j].name);
			for (int p = 0; partition_cols[p] && !found; p++)
				found = !strcasecmp(have[k], partition_cols[p]);
			if (!found)
				note(L, "facts: column '%s' is not in this frame; loaded as NULL", have[k]);
		}
	}
	/*
	 * No (pipeline, ds, batch) index: a re-load deletes the rowid ranges
	 * recorded in loads (delete_recorded), which need none, and the index
	 * cost about 40% of a bulk load (SQLite rebalances index pages on
	 * every split, where a rowid table appends).
	 */

	/* The column catalogue: the widest ade type seen per column. */
	if (sqlite3_prepare_v2(L->db,
			       "SELECT ade_type FROM facts_columns WHERE tbl=?1 AND column_name=?2", -1,
			       &s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(L->db,
			       "INSERT INTO facts_columns(tbl, column_name, ade_type, declared_type, "
			       "added_ds, last_ds) VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
			       "ON CONFLICT(tbl, column_name) DO UPDATE SET ade_type=excluded.ade_type, "
			       "last_ds=max(last_ds, excluded.last_ds), "
			       "added_ds=min(added_ds, excluded.added_ds)",
			       -1, &cat, NULL) != SQLITE_OK) {
		rc = db_error(L, "the facts_columns catalogue");
		goto out;
	}
	for (int j = 0; j < f->ncols; j++) {
		const char *now = ade_type_name(f->cols[j].type), *keep = now;
		char *old = NULL;
		sqlite3_bind_text(s, 1, F->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->cols[j].name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
			old = ade_xstrdup((const char *)sqlite3_column_text(s, 0));
		sqlite3_reset(s);
		if (old) {
			keep = widen(old, now);
			if (strcmp(old, keep))
				note(L, "facts: column '%s' widened from %s to %s", f->cols[j].name, old,
				     keep);
		}
		sqlite3_bind_text(cat, 1, F->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(cat, 2, f->cols[j].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(cat, 3, keep, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(cat, 4, decl_type(f->cols[j].type), -1, SQLITE_STATIC);
		sqlite3_bind_text(cat, 5, L->ld->ds, -1, SQLITE_STATIC);
		rc = sqlite3_step(cat) == SQLITE_DONE ? 0 : db_error(L, "facts_columns");
		sqlite3_reset(cat);
		free(old);
		if (rc)
			goto out;
	}
out:
	sqlite3_finalize(s);
	sqlite3_finalize(cat);
	for (int k = 0; k < nhave; k++)
		free(have[k]);
	free(have);
	ade_strbuf_release(&sql);
	return rc;
}

static int prep_insert(struct loader *L, struct facts *F, int rows, sqlite3_stmt **s)
{
	struct ade_strbuf sql = ADE_STRBUF_INIT;
	int nc = F->f->ncols, rc;

	/*
	 * OR FAIL, not the default ABORT: a multi-row INSERT that can abort
	 * half-way makes SQLite save every page it touches in a statement
	 * journal (a temporary file) so it can undo just that statement: the
	 * last leaf, 64 KiB, written and truncated again for every statement,
	 * 3,788 of the 4,358 write calls of a 100k-row load, and half its
	 * system time.  A failed statement fails the whole load anyway
	 * (ROLLBACK), and the only constraints, NOT NULL on pipeline, ds and
	 * batch, always hold.
	 */
	ade_strbuf_adds(&sql, "INSERT OR FAIL INTO ");
	ade_warehouse_quote(&sql, F->table);
	ade_strbuf_adds(&sql, "(pipeline, ds, batch, run_id");
	for (int j = 0; j < nc; j++) {
		ade_strbuf_adds(&sql, ", ");
		ade_warehouse_quote(&sql, F->f->cols[j].name);
	}
	ade_strbuf_adds(&sql, ") VALUES ");
	for (int r = 0; r < rows; r++) {
		ade_strbuf_adds(&sql, r ? ", (?1,?2,?3,?4" : "(?1,?2,?3,?4");
		for (int j = 0; j < nc; j++)
			ade_strbuf_addf(&sql, ",?%d", 5 + r * nc + j);
		ade_strbuf_addc(&sql, ')');
	}
	rc = prep(L, sql.buf, s);
	ade_strbuf_release(&sql);
	return rc;
}

/* Binds row i of the frame into row slot `slot` of s. */
static void bind_row(struct facts *F, sqlite3_stmt *s, int slot, int64_t i)
{
	const struct ade_frame *f = F->f;
	int nc = f->ncols, base = 5 + slot * nc;

	for (int j = 0; j < nc; j++) {
		const struct ade_frame_column *c = &f->cols[j];
		int p = base + j;

		if (c->valid && !c->valid[i]) {
			sqlite3_bind_null(s, p);
			continue;
		}
		switch (c->type) {
		case ADE_TYPE_INT64:
			sqlite3_bind_int64(s, p, ((const int64_t *)c->data)[i]);
			break;
		case ADE_TYPE_FLOAT64:
			sqlite3_bind_double(s, p, ((const double *)c->data)[i]);
			break;
		case ADE_TYPE_BOOL:
			sqlite3_bind_int(s, p, ((const uint8_t *)c->data)[i] != 0);
			break;
		case ADE_TYPE_DATE:
		case ADE_TYPE_TIMESTAMP: {
			int64_t v = ((const int64_t *)c->data)[i];
			char *t = F->scratch + ((size_t)slot * (size_t)nc + (size_t)j) * SLOT_TEXT;
			if (v == ADE_FRAME_NULL_I64) {
				sqlite3_bind_null(s, p);
				break;
			}
			const char *d = c->type == ADE_TYPE_DATE ? date_text(F, v) : NULL;
			if (d) {
				sqlite3_bind_text(s, p, d, 10, SQLITE_STATIC);
				break;
			}
			int n = c->type == ADE_TYPE_DATE ? fmt_date(v, t) : fmt_ts(v, t);
			sqlite3_bind_text(s, p, t, n, SQLITE_STATIC);
			break;
		}
		case ADE_TYPE_CATEGORICAL: {
			int32_t code = ((const int32_t *)c->data)[i];
			if (code < 0 || code >= c->n_dict)
				sqlite3_bind_null(s, p);
			else
				sqlite3_bind_text(s, p, c->dict[code], (int)c->dict_len[code],
						  SQLITE_STATIC);
			break;
		}
		case ADE_TYPE_STRING: {
			int64_t a = c->offsets[i], b = c->offsets[i + 1];
			sqlite3_bind_text(s, p, b > a ? c->bytes + a : "", (int)(b - a), SQLITE_STATIC);
			break;
		}
		}
	}
}

static void drop_pages(long page, const void *base, size_t upto)
{
	uintptr_t a = (uintptr_t)base & ~(uintptr_t)(page - 1);
	uintptr_t e = ((uintptr_t)base + upto) & ~(uintptr_t)(page - 1);

	if (base && e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

/*
 * Pages of the mapped frame already bound are released, so the resident
 * size stays flat however large the frame is: the mappings are read-only
 * and file-backed, so the kernel drops them without writing anything.
 */
static void release_rows(struct facts *F, int64_t done)
{
	for (int j = 0; j < F->f->ncols; j++) {
		const struct ade_frame_column *c = &F->f->cols[j];
		size_t w = c->type == ADE_TYPE_BOOL ? 1 : c->type == ADE_TYPE_CATEGORICAL ? 4 : 8;
		if (c->type == ADE_TYPE_STRING) {
			drop_pages(F->page, c->offsets, (size_t)done * 8);
			drop_pages(F->page, c->bytes, (size_t)c->offsets[done]);
		} else {
			drop_pages(F->page, c->data, (size_t)done * w);
		}
		drop_pages(F->page, c->valid, (size_t)done);
	}
}

/*
 * The rowid the next insert into the facts table gets: SQLite gives a
 * rowid table without INTEGER PRIMARY KEY max(rowid) + 1 (unless the
 * largest rowid is already taken), and this transaction holds the write
 * lock, so one load's rows are first_rowid, first_rowid + 1, ...
 */
static int next_rowid(struct loader *L, struct facts *F)
{
	struct ade_strbuf sql = ADE_STRBUF_INIT;
	sqlite3_stmt *s = NULL;
	const char *rowid = ade_warehouse_rowid_name(L->db, F->table);
	int rc;

	if (!rowid)
		return ade_error_set(L->err, ADE_EINVAL,
				     "facts table %s has columns named rowid, _rowid_ and oid, so its "
				     "rows cannot be addressed; rename one upstream",
				     F->table);
	ade_strbuf_addf(&sql, "SELECT coalesce(max(%s), 0) + 1 FROM ", rowid);
	ade_warehouse_quote(&sql, F->table);
	rc = sqlite3_prepare_v2(L->db, sql.buf, -1, &s, NULL) == SQLITE_OK &&
			     sqlite3_step(s) == SQLITE_ROW
		     ? 0
		     : db_error(L, "reading the facts table's last rowid");
	if (!rc && sqlite3_column_type(s, 0) != SQLITE_INTEGER)
		rc = ade_error_set(L->err, ADE_EDB, "warehouse: table %s has no rowid left",
				   F->table);
	if (!rc)
		F->first_rowid = F->last_rowid = sqlite3_column_int64(s, 0);
	F->last_rowid--;
	sqlite3_finalize(s);
	ade_strbuf_release(&sql);
	return rc;
}

static int insert_rows(struct loader *L, struct facts *F)
{
	int64_t rows = F->f->rows, i = 0;
	int R = F->rows_per_stmt, rc = 0;
	sqlite3_stmt *full = NULL, *rest = NULL;

	if (rows >= R && (rc = prep_insert(L, F, R, &full)))
		return rc;
	if (rows % R && (rc = prep_insert(L, F, (int)(rows % R), &rest))) {
		sqlite3_finalize(full);
		return rc;
	}
	for (; i + R <= rows; i += R) {
		for (int k = 0; k < R; k++)
			bind_row(F, full, k, i + k);
		if (sqlite3_step(full) != SQLITE_DONE) {
			rc = db_error(L, "inserting facts");
			break;
		}
		sqlite3_reset(full);
		if ((i / R) % 2048 == 2047)
			release_rows(F, i + R);
	}
	if (!rc && rest) {
		for (int k = 0; i + k < rows; k++)
			bind_row(F, rest, k, i + k);
		if (sqlite3_step(rest) != SQLITE_DONE)
			rc = db_error(L, "inserting facts");
	}
	if (!rc && rows > 0) {
		F->last_rowid = sqlite3_last_insert_rowid(L->db);
		/*
		 * The range is what a re-load deletes: had SQLite not numbered the
		 * rows consecutively (only when the largest rowid is taken), it
		 * could take in other rows, so the load fails instead.
		 */
		if (F->last_rowid - F->first_rowid + 1 != rows)
			rc = ade_error_set(L->err, ADE_EDB,
					   "warehouse: the rows inserted into %s did not get "
					   "consecutive rowids (%lld..%lld for %lld rows)",
					   F->table, (long long)F->first_rowid,
					   (long long)F->last_rowid, (long long)rows);
	}
	if (!rc)
		count(L, "facts", rows);
	sqlite3_finalize(full);
	sqlite3_finalize(rest);
	return rc;
}

static int build_indexes(struct loader *L, struct facts *F)
{
	const cJSON *ix;
	int rc = 0;

	cJSON_ArrayForEach(ix, L->ld->indexes)
	{
		struct ade_strbuf name = ADE_STRBUF_INIT, sql = ADE_STRBUF_INIT;
		const cJSON *c;
		ade_strbuf_adds(&name, F->table);
		const cJSON *cols = cJSON_IsArray(ix) ? ix : NULL;
		cJSON_ArrayForEach(c, cols)
		{
			if (!cJSON_IsString(c) || (rc = ade_warehouse_ident_check("index column",
									     c->valuestring, L->err)))
				break;
			ade_strbuf_addc(&name, '_');
			ade_strbuf_adds(&name, c->valuestring);
		}
		if (!rc && cJSON_IsString(ix)) {
			ade_strbuf_addc(&name, '_');
			ade_strbuf_adds(&name, ix->valuestring);
		}
		ade_strbuf_adds(&sql, "CREATE INDEX IF NOT EXISTS ");
		ade_warehouse_quote(&sql, name.buf);
		ade_strbuf_adds(&sql, " ON ");
		ade_warehouse_quote(&sql, F->table);
		ade_strbuf_addc(&sql, '(');
		if (cJSON_IsString(ix)) {
			ade_warehouse_quote(&sql, ix->valuestring);
		} else {
			int first = 1;
			cJSON_ArrayForEach(c, ix)
			{
				if (!first)
					ade_strbuf_adds(&sql, ", ");
				first = 0;
				ade_warehouse_quote(&sql, c->valuestring);
			}
		}
		ade_strbuf_addc(&sql, ')');
		if (!rc)
			rc = exec_sql(L, sql.buf);
		ade_strbuf_release(&name);
		ade_strbuf_release(&sql);
		if (rc)
			return rc;
	}
	return 0;
}

static int load_facts(struct loader *L, cJSON *report)
{
	const struct ade_warehouse_load *ld = L->ld;
	struct facts F = {0};
	struct ade_strbuf sql = ADE_STRBUF_INIT;
	sqlite3_stmt *s = NULL;
	int64_t t0 = ade_now_mono_ns();
	int rc;

	char *fdir = ade_xasprintf("%s", ld->facts_dir);
	rc = ade_frame_open(fdir, &F.f, L->err);
	free(fdir);
	if (rc)
		return rc;
	F.table = ld->table;
	F.page = sysconf(_SC_PAGESIZE);
	/*
	 * ade_frame_open reads every string column's offsets once to check
	 * them; release those pages now rather than as the insert passes.
	 */
	release_rows(&F, F.f->rows);
	for (int j = 0; j < F.f->ncols; j++) {
		if ((rc = ade_warehouse_ident_check("facts column", F.f->cols[j].name, L->err)))
			goto out;
		for (int k = 0; partition_cols[k]; k++)
			if (!strcasecmp(F.f->cols[j].name, partition_cols[k])) {
				rc = ade_error_set(L->err, ADE_EINVAL,
						   "facts column '%s' clashes with the warehouse's "
						   "partition column of that name; rename it upstream",
						   F.f->cols[j].name);
				goto out;
			}
	}
	int nc = F.f->ncols > 0 ? F.f->ncols : 1;
	F.rows_per_stmt = ld->rows_per_insert > 0 ? ld->rows_per_insert : 64;
	/* Every statement stays under SQLite's 32766 host parameters. */
	if (F.rows_per_stmt > (32766 - 4) / nc)
		F.rows_per_stmt = (32766 - 4) / nc;
	if (F.rows_per_stmt < 1)
		F.rows_per_stmt = 1;
	F.scratch = ade_xmalloc((size_t)F.rows_per_stmt * (size_t)nc * SLOT_TEXT);
	if ((rc = evolve_table(L, &F)))
		goto out;

	/*
	 * delete_recorded has removed the partition's recorded ranges; a table
	 * that still has the index of versions 1-2 may also hold partitions
	 * loaded before any range was recorded, deleted here by column.
	 */
	int64_t deleted = L->replaced;
	char *legacy = legacy_index(L->db, F.table);
	if (legacy) {
		free(legacy);
		ade_strbuf_adds(&sql, "DELETE FROM ");
		ade_warehouse_quote(&sql, F.table);
		ade_strbuf_adds(&sql, *L->batch ? " WHERE pipeline=?1 AND ds=?2 AND batch=?3"
						: " WHERE pipeline=?1 AND ds=?2");
		if ((rc = prep(L, sql.buf, &s)))
			goto out;
		rc = sqlite3_step(s) == SQLITE_DONE ? 0
						    : db_error(L, "deleting the facts partition");
		deleted += sqlite3_changes(L->db);
		sqlite3_finalize(s);
		s = NULL;
		if (rc)
			goto out;
	}
	if ((rc = next_rowid(L, &F)))
		goto out;
	if (F.f->ncols > 0 && (rc = insert_rows(L, &F)))
		goto out;
	if ((rc = build_indexes(L, &F)))
		goto out;

	const char *hash = ade_json_str(F.f->schema, "content_hash", NULL);
	if ((rc = prep(L,
		       "INSERT INTO loads(pipeline, ds, batch, run_id, \"table\", rows, hash, "
		       "loaded_at, stage, seconds, first_rowid, last_rowid) "
		       "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
		       &s)))
		goto out;
	sqlite3_bind_int64(s, 11, F.first_rowid);
	sqlite3_bind_int64(s, 12, F.last_rowid);
	sqlite3_bind_text(s, 5, F.table, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, F.f->rows);
	bind_str(s, 7, hash);
	sqlite3_bind_text(s, 8, L->loaded_at, -1, SQLITE_STATIC);
	bind_str(s, 9, ld->facts_stage);
	sqlite3_bind_double(s, 10, (double)(ade_now_mono_ns() - t0) / 1e9);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(L, "recording the load");
	sqlite3_finalize(s);
	s = NULL;
	if (!rc)
		rc = kpi_num(L, "rows", (double)F.f->rows);
	if (report && !rc) {
		cJSON *o = cJSON_AddObjectToObject(report, "facts");
		cJSON_AddStringToObject(o, "table", F.table);
		cJSON_AddNumberToObject(o, "rows", (double)F.f->rows);
		cJSON_AddNumberToObject(o, "columns", F.f->ncols);
		cJSON_AddNumberToObject(o, "rows_replaced", (double)deleted);
		cJSON_AddNumberToObject(o, "rows_per_insert", F.rows_per_stmt);
		if (hash)
			cJSON_AddStringToObject(o, "hash", hash);
		cJSON_AddNumberToObject(o, "seconds", (double)(ade_now_mono_ns() - t0) / 1e9);
	}
out:
	ade_strbuf_release(&sql);
	free(F.scratch);
	free(F.days);
	ade_frame_close(F.f);
	return rc;
}

/*
 * Deletes the facts rows of the partition's earlier loads: the rowid
 * ranges recorded in their rows of loads, in whichever table they went to.
 * A range holds only its load's rows: the load took max(rowid) + 1
 * onwards under the write lock, and rowids below a table's largest are
 * never handed out again.  It runs before delete_partition removes those
 * rows of loads, and for every load of the partition (also one with
 * `facts: false` or another `table:` now), so no facts row outlives the
 * record that would delete it.
 */
static int delete_recorded(struct loader *L)
{
	struct range {
		char *table;
		int64_t first, last;
	} *r = NULL;
	size_t n = 0;
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       *L->batch ? "SELECT \"table\", first_rowid, last_rowid FROM loads WHERE "
				   "pipeline=?1 AND ds=?2 AND batch=?3 AND last_rowid >= first_rowid"
				 : "SELECT \"table\", first_rowid, last_rowid FROM loads WHERE "
				   "pipeline=?1 AND ds=?2 AND last_rowid >= first_rowid",
		       &s)))
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		if (!t)
			continue;
		r = ade_xrealloc(r, sizeof(*r) * (n + 1));
		r[n++] = (struct range){ade_xstrdup(t), sqlite3_column_int64(s, 1),
					sqlite3_column_int64(s, 2)};
	}
	sqlite3_finalize(s);
	s = NULL;
	rc = rc == SQLITE_DONE ? 0 : db_error(L, "reading the partition's loads");
	for (size_t i = 0; i < n && !rc; i++) {
		struct ade_strbuf sql = ADE_STRBUF_INIT;
		int exists = 0;
		/* A table dropped by hand since has nothing left to delete. */
		if ((rc = table_exists(L, r[i].table, &exists)) || !exists)
			continue;
		/* A range was recorded only where a name reached the rowid, and
		 * columns are never dropped, so one still does. */
		const char *rowid = ade_warehouse_rowid_name(L->db, r[i].table);
		if (!rowid) {
			rc = ade_error_set(L->err, ADE_EDB, "warehouse: no name reaches the rowid of %s",
					   r[i].table);
			continue;
		}
		ade_strbuf_adds(&sql, "DELETE FROM ");
		ade_warehouse_quote(&sql, r[i].table);
		ade_strbuf_addf(&sql, " WHERE %s BETWEEN ?1 AND ?2", rowid);
		if (sqlite3_prepare_v2(L->db, sql.buf, -1, &s, NULL) != SQLITE_OK) {
			rc = db_error(L, "deleting the facts partition");
		} else {
			sqlite3_bind_int64(s, 1, r[i].first);
			sqlite3_bind_int64(s, 2, r[i].last);
			rc = sqlite3_step(s) == SQLITE_DONE ? 0
							    : db_error(L, "deleting the facts partition");
			if (!rc && L->ld->table && !strcasecmp(r[i].table, L->ld->table))
				L->replaced += sqlite3_changes(L->db);
		}
		sqlite3_finalize(s);
		s = NULL;
		ade_strbuf_release(&sql);
	}
	for (size_t i = 0; i < n; i++)
		free(r[i].table);
	free(r);
	return rc;
}

static int delete_partition(struct loader *L)
{
	for (int i = 0; owned_tables[i]; i++) {
		char sql[160];
		sqlite3_stmt *s = NULL;
		int rc;
		/* Table names here are this file's constants, not data. */
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE pipeline=?1 AND ds=?2%s",
			 owned_tables[i], *L->batch ? " AND batch=?3" : "");
		if ((rc = prep(L, sql, &s)))
			return rc;
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(L, "deleting the partition");
		sqlite3_finalize(s);
		if (rc)
			return rc;
	}
	return 0;
}

static int record_loads(struct loader *L)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = prep(L,
		       "INSERT INTO loads(pipeline, ds, batch, run_id, \"table\", rows, loaded_at) "
		       "VALUES (?1,?2,?3,?4,?5,?6,?7)",
		       &s)))
		return rc;
	sqlite3_bind_text(s, 7, L->loaded_at, -1, SQLITE_STATIC);
	for (int i = 0; i < L->ncounts && !rc; i++) {
		/* The facts' row was recorded by load_facts, with its hash. */
		if (!strcmp(L->counts[i].table, "facts"))
			continue;
		/* A KPI named twice was replaced, not added: count what is there. */
		if (!strcmp(L->counts[i].table, "kpi_history")) {
			sqlite3_stmt *c = NULL;
			if (!prep(L, *L->batch ? "SELECT count(*) FROM kpi_history WHERE pipeline=?1 "
						 "AND ds=?2 AND batch=?3"
					       : "SELECT count(*) FROM kpi_history WHERE pipeline=?1 AND ds=?2",
				  &c) &&
			    sqlite3_step(c) == SQLITE_ROW)
				L->counts[i].rows = sqlite3_column_int64(c, 0);
			sqlite3_finalize(c);
		}
		sqlite3_bind_text(s, 5, L->counts[i].table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, L->counts[i].rows);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = db_error(L, "recording the load");
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return rc;
}

int ade_warehouse_load(sqlite3 *db, const struct ade_warehouse_load *ld, cJSON *report,
		       struct ade_error *err)
{
	struct loader L = {.db = db, .ld = ld, .err = err};
	int rc;

	if (!ld->pipeline || !ld->ds)
		return ade_error_set(err, ADE_EINVAL, "warehouse load: pipeline and ds are required");
	L.batch = ld->batch ? ld->batch : "";
	if (report)
		L.notes = cJSON_AddArrayToObject(report, "notes");
	ade_format_utc(ade_now_wall_us(), L.loaded_at);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(&L, "BEGIN IMMEDIATE");
	rc = delete_recorded(&L);
	if (!rc)
		rc = delete_partition(&L);
	/* Facts first: KPIs other stages report replace the derived ones. */
	if (!rc && ld->facts_dir && ld->table)
		rc = load_facts(&L, report);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ld->n_inputs && !rc; i++)
			rc = load_result(&L, &ld->inputs[i], pass);
	sqlite3_finalize(L.kpi);
	L.kpi = NULL;
	if (!rc)
		rc = record_loads(&L);
	if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_error(&L, "COMMIT");
	if (rc) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	if (report) {
		cJSON *t = cJSON_AddObjectToObject(report, "tables");
		for (int i = 0; i < L.ncounts; i++)
			cJSON_AddNumberToObject(t, !strcmp(L.counts[i].table, "facts") ? ld->table
											  : L.counts[i].table,
						(double)L.counts[i].rows);
	}
	return 0;
}

/* ---- migration 3: ranges for the facts loads of versions 1 and 2 ---- */

static int owned(const char *table)
{
	for (int i = 0; owned_tables[i]; i++)
		if (!strcasecmp(table, owned_tables[i]))
			return 1;
	return 0;
}

/* Runs sql with ?1 bound to text a; the number of rows it changed, or -1. */
static int64_t exec_bound(sqlite3 *db, const char *sql, const char *a)
{
	sqlite3_stmt *s = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		else if (rc == SQLITE_DONE)
			n = sqlite3_changes(db);
	}
	sqlite3_finalize(s);
	return n;
}

/*
 * One facts table: each load's range is its partition's min..max rowid
 * (versions 1-2 also inserted a load's rows consecutively in one
 * transaction and deleted only whole partitions).  A range is kept only
 * when it holds exactly its partition's rows and nothing else.
 */
static int migrate_table(sqlite3 *db, const char *table, struct ade_error *err)
{
	struct ade_strbuf q = ADE_STRBUF_INIT, t = ADE_STRBUF_INIT;
	const char *r = ade_warehouse_rowid_name(db, table);
	int rc = 0;

	/* No name reaches the rowid: the table keeps its index and its loads NULL. */
	if (!r)
		return 0;
	ade_warehouse_quote(&t, table);
	/* An empty partition gets an empty range (1..0). */
	ade_strbuf_addf(&q,
			"UPDATE loads SET first_rowid=coalesce((SELECT min(x.%s) FROM %s x WHERE "
			"x.pipeline=loads.pipeline AND x.ds=loads.ds AND x.batch=loads.batch), 1), "
			"last_rowid=coalesce((SELECT max(x.%s) FROM %s x WHERE "
			"x.pipeline=loads.pipeline AND x.ds=loads.ds AND x.batch=loads.batch), 0) "
			"WHERE \"table\"=?1 COLLATE NOCASE AND first_rowid IS NULL",
			r, t.buf, r, t.buf);
	if (exec_bound(db, q.buf, table) < 0)
		goto fail;
	ade_strbuf_reset(&q);
	ade_strbuf_addf(&q,
			"UPDATE loads SET first_rowid=NULL, last_rowid=NULL WHERE \"table\"=?1 "
			"COLLATE NOCASE AND last_rowid >= first_rowid AND "
			"((SELECT count(*) FROM %s x WHERE x.%s BETWEEN loads.first_rowid AND "
			"loads.last_rowid) <> last_rowid - first_rowid + 1 OR "
			"(SELECT count(*) FROM %s x WHERE x.pipeline=loads.pipeline AND "
			"x.ds=loads.ds AND x.batch=loads.batch) <> last_rowid - first_rowid + 1)",
			t.buf, r, t.buf);
	int64_t impure = exec_bound(db, q.buf, table);
	if (impure < 0)
		goto fail;
	/* Every row in some range: the partition index has no more use. */
	ade_strbuf_reset(&q);
	ade_strbuf_addf(&q,
			"SELECT (SELECT count(*) FROM %s) = (SELECT coalesce(sum(last_rowid - "
			"first_rowid + 1), 0) FROM loads WHERE \"table\"=?1 COLLATE NOCASE AND "
			"last_rowid >= first_rowid)",
			t.buf);
	int64_t all = exec_bound(db, q.buf, table);
	if (all < 0)
		goto fail;
	char *ix = impure == 0 && all == 1 ? legacy_index(db, table) : NULL;
	if (ix) {
		ade_strbuf_reset(&q);
		ade_strbuf_adds(&q, "DROP INDEX ");
		ade_warehouse_quote(&q, ix);
		free(ix);
		if (sqlite3_exec(db, q.buf, NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
	}
	goto out;
fail:
	rc = ade_error_set(err, ADE_EDB, "facts table %s: %s", table, sqlite3_errmsg(db));
out:
	ade_strbuf_release(&q);
	ade_strbuf_release(&t);
	return rc;
}

int ade_warehouse_migrate_ranges(sqlite3 *db, struct ade_error *err)
{
	sqlite3_stmt *s = NULL;
	char **tables = NULL;
	size_t n = 0;
	int rc = 0;

	/* The facts tables: loaded, still there, with the partition columns. */
	if (sqlite3_prepare_v2(db,
			       "SELECT DISTINCT l.\"table\" COLLATE NOCASE FROM loads l JOIN sqlite_master m "
			       "ON m.type='table' AND m.name=l.\"table\" COLLATE NOCASE "
			       "WHERE (SELECT count(*) FROM pragma_table_info(m.name) c WHERE c.name "
			       "COLLATE NOCASE IN ('pipeline', 'ds', 'batch')) = 3",
			       -1, &s, NULL) != SQLITE_OK)
		return ade_error_set(err, ADE_EDB, "reading loads: %s", sqlite3_errmsg(db));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		if (!t || owned(t))
			continue;
		tables = ade_xrealloc(tables, sizeof(*tables) * (n + 1));
		tables[n++] = ade_xstrdup(t);
	}
	rc = rc == SQLITE_DONE ? 0 : ade_error_set(err, ADE_EDB, "reading loads: %s",
						   sqlite3_errmsg(db));
	sqlite3_finalize(s);
	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = migrate_table(db, tables[i], err);
		free(tables[i]);
	}
	free(tables);
	return rc;
}
