/*
 * The exactness check of ade-analytics: loads a frame into an in-memory
 * SQLite table and recomputes every set of a result.json with SQL, then
 * compares row by row.  Independent of analytics.c: it reads only the
 * frame and the result (each metric's fn, column and p are in it).
 *
 *   count, count_distinct, sum, avg, min, max  plain SQL aggregates
 *   median, quantile   n = count(col), h = (n-1)p, lo = floor(h); the
 *                      values at OFFSET lo and lo+1 of ORDER BY col
 *                      (LIMIT 1), interpolated as numpy does: exact
 *   stddev(_pop)       two passes: sqrt(sum((x-avg)^2)/(n-1 or n))
 *
 * Tolerances (docs/analytics.md): integers, strings, dates, quantiles
 * exact; sum and avg of REAL columns relative 1e-12 (SQLite 3.40 sums
 * doubles naively in row order, ade with Neumaier compensation); stddev
 * relative 1e-9.
 *
 * Tables get the frame's column names quoted; values are bound.  Dates
 * are stored as ISO text (which sorts as the date), bools as 0/1,
 * timestamps as integers.
 */
#include "sqlcheck.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *quote_ident(const char *s)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	ade_strbuf_addc(&sb, '"');
	for (; *s; s++) {
		if (*s == '"')
			ade_strbuf_addc(&sb, '"');
		ade_strbuf_addc(&sb, *s);
	}
	ade_strbuf_addc(&sb, '"');
	return ade_strbuf_detach(&sb);
}

static int load(sqlite3 *db, const struct ade_frame *f, FILE *log)
{
	struct ade_strbuf sql = ADE_STRBUF_INIT, ins = ADE_STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = 0;

	ade_strbuf_adds(&sql, "CREATE TABLE t(");
	ade_strbuf_adds(&ins, "INSERT INTO t VALUES(");
	for (int c = 0; c < f->ncols; c++) {
		char *q = quote_ident(f->cols[c].name);
		enum ade_type t = f->cols[c].type;
		ade_strbuf_addf(&sql, "%s%s %s", c ? ", " : "", q,
				t == ADE_TYPE_FLOAT64 ? "REAL"
				: (t == ADE_TYPE_STRING || t == ADE_TYPE_CATEGORICAL ||
				   t == ADE_TYPE_DATE)
					? "TEXT"
					: "INTEGER");
		ade_strbuf_addf(&ins, "%s?", c ? ", " : "");
		free(q);
	}
	ade_strbuf_adds(&sql, ")");
	ade_strbuf_adds(&ins, ")");
	if (sqlite3_exec(db, sql.buf, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, ins.buf, -1, &st, NULL) != SQLITE_OK) {
		fprintf(log, "sqlcheck: %s\n", sqlite3_errmsg(db));
		rc = -1;
		goto out;
	}
	for (int64_t i = 0; i < f->rows; i++) {
		for (int c = 0; c < f->ncols; c++) {
			const struct ade_frame_column *col = &f->cols[c];
			int p = c + 1;
			size_t len;
			const char *s;
			char buf[16];
			if (ade_frame_is_null(col, i) ||
			    (col->type == ADE_TYPE_CATEGORICAL && ((const int32_t *)col->data)[i] < 0) ||
			    (col->type == ADE_TYPE_FLOAT64 && isnan(((const double *)col->data)[i]))) {
				sqlite3_bind_null(st, p);
				continue;
			}
			switch (col->type) {
			case ADE_TYPE_FLOAT64:
				sqlite3_bind_double(st, p, ((const double *)col->data)[i]);
				break;
			case ADE_TYPE_BOOL:
				sqlite3_bind_int(st, p, ((const uint8_t *)col->data)[i] != 0);
				break;
			case ADE_TYPE_DATE:
				ade_date_format((int32_t)((const int64_t *)col->data)[i], buf);
				sqlite3_bind_text(st, p, buf, -1, SQLITE_TRANSIENT);
				break;
			case ADE_TYPE_STRING:
			case ADE_TYPE_CATEGORICAL:
				s = ade_frame_str(col, i, &len);
				sqlite3_bind_text(st, p, s, (int)len, SQLITE_TRANSIENT);
				break;
			default:
				sqlite3_bind_int64(st, p, ((const int64_t *)col->data)[i]);
			}
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(log, "sqlcheck: insert: %s\n", sqlite3_errmsg(db));
			rc = -1;
			goto out;
		}
		sqlite3_reset(st);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	ade_strbuf_release(&sql);
	ade_strbuf_release(&ins);
	return rc;
}

static int close_enough(double want, double got, double rel)
{
	if (want == got)
		return 1;
	return fabs(want - got) <= rel * fmax(fabs(want), fabs(got));
}

/* Compares a SQL value with a JSON one; rel < 0: exact. */
static int same(sqlite3_value *v, const cJSON *j, double rel, char *why, size_t n)
{
	int t = sqlite3_value_type(v);

	if (t == SQLITE_NULL) {
		if (cJSON_IsNull(j))
			return 1;
		snprintf(why, n, "SQL NULL, ade %s", cJSON_IsString(j) ? j->valuestring : "a value");
		return 0;
	}
	if (t == SQLITE_TEXT) {
		const char *s = (const char *)sqlite3_value_text(v);
		if (cJSON_IsString(j) && strcmp(s, j->valuestring) == 0)
			return 1;
		snprintf(why, n, "SQL '%s', ade '%s'", s,
			 cJSON_IsString(j) ? j->valuestring : "(not a string)");
		return 0;
	}
	double want = sqlite3_value_double(v), got;
	if (cJSON_IsBool(j))
		got = cJSON_IsTrue(j);
	else if (cJSON_IsNumber(j))
		got = j->valuedouble;
	else if (cJSON_IsRaw(j))
		got = strtod(j->valuestring, NULL);
	else {
		snprintf(why, n, "SQL %.17g, ade not a number", want);
		return 0;
	}
	if (t == SQLITE_INTEGER && cJSON_IsRaw(j)) {
		long long w = sqlite3_value_int64(v), g = strtoll(j->valuestring, NULL, 10);
		if (w == g)
			return 1;
		snprintf(why, n, "SQL %lld, ade %lld", w, g);
		return 0;
	}
	if (rel < 0 ? want == got : close_enough(want, got, rel))
		return 1;
	snprintf(why, n, "SQL %.17g, ade %.17g (rel diff %.3g)", want, got,
		 fabs(want - got) / fmax(fabs(want), 1e-300));
	return 0;
}

static const char *sql_fn(const char *fn)
{
	if (!strcmp(fn, "count_distinct"))
		return "count(DISTINCT %s)";
	if (!strcmp(fn, "count"))
		return "count(%s)";
	if (!strcmp(fn, "sum"))
		return "sum(%s)";
	if (!strcmp(fn, "avg"))
		return "avg(%s)";
	if (!strcmp(fn, "min"))
		return "min(%s)";
	if (!strcmp(fn, "max"))
		return "max(%s)";
	return NULL; /* computed per group */
}

/* " WHERE g1 IS ?1 AND g2 IS ?2" plus the column's own condition. */
static char *group_where(const cJSON *gb, const char *col)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const cJSON *g;
	int k = 0;
	char *qc = quote_ident(col);

	ade_strbuf_addf(&sb, " WHERE %s IS NOT NULL", qc);
	cJSON_ArrayForEach(g, gb) {
		char *q = quote_ident(g->valuestring);
		ade_strbuf_addf(&sb, " AND %s IS ?%d", q, ++k);
		free(q);
	}
	free(qc);
	return ade_strbuf_detach(&sb);
}

static int bind_groups(sqlite3_stmt *st, sqlite3_stmt *row, int ng)
{
	for (int k = 0; k < ng; k++)
		sqlite3_bind_value(st, k + 1, sqlite3_column_value(row, k));
	return 0;
}

/* One double from a statement returning at most one row; NAN for none. */
static double one_double(sqlite3_stmt *st, int *isnull)
{
	double d = NAN;

	*isnull = 1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		d = sqlite3_column_double(st, 0);
		*isnull = 0;
	}
	sqlite3_reset(st);
	return d;
}

/* The per-group metrics (quantiles, stddev) of one group; NULL as NaN. */
static int per_group(sqlite3 *db, const cJSON *gb, int ng, sqlite3_stmt *row,
		     const cJSON *m, double *out, int *isnull, FILE *log)
{
	const char *fn = ade_json_str(m, "fn", ""), *col = ade_json_str(m, "column", "");
	char *where = group_where(gb, col), *qc = quote_ident(col), *sql;
	sqlite3_stmt *st = NULL;
	int rc = -1, nl;
	double n;

	sql = ade_xasprintf("SELECT count(*), avg(%s) FROM t%s", qc, where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	bind_groups(st, row, ng);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	n = (double)sqlite3_column_int64(st, 0);
	double mean = sqlite3_column_double(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	free(sql);
	*isnull = 1;
	if (!strcmp(fn, "median") || !strcmp(fn, "quantile")) {
		double p = ade_json_num(m, "p", -1);
		if (n < 1) {
			rc = 0;
			sql = NULL;
			goto out;
		}
		double h = (n - 1) * p, t;
		long long lo = (long long)floor(h);
		sql = ade_xasprintf("SELECT %s FROM t%s ORDER BY %s LIMIT 1 OFFSET ?%d", qc, where,
				    qc, ng + 1);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		bind_groups(st, row, ng);
		sqlite3_bind_int64(st, ng + 1, lo);
		double a = one_double(st, &nl);
		t = h - (double)lo;
		if (t > 0) {
			sqlite3_bind_int64(st, ng + 1, lo + 1);
			double b = one_double(st, &nl), d = b - a;
			a = t < 0.5 ? a + d * t : b - d * (1 - t);
		}
		*out = a;
		*isnull = 0;
	} else {
		int pop = !strcmp(fn, "stddev_pop");
		if (n < (pop ? 1 : 2)) {
			rc = 0;
			sql = NULL;
			goto out;
		}
		sql = ade_xasprintf("SELECT sqrt(sum((%s - ?%d) * (%s - ?%d)) / ?%d) FROM t%s", qc,
				    ng + 1, qc, ng + 1, ng + 2, where);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
		bind_groups(st, row, ng);
		sqlite3_bind_double(st, ng + 1, mean);
		sqlite3_bind_double(st, ng + 2, pop ? n : n - 1);
		*out = one_double(st, isnull);
	}
	rc = 0;
out:
	if (rc)
		fprintf(log, "sqlcheck: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	free(sql);
	free(where);
	free(qc);
	return rc;
}

static int check_set(sqlite3 *db, const char *name, const cJSON *set, FILE *log)
{
	const cJSON *gb = cJSON_GetObjectItemCaseSensitive(set, "group_by");
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(set, "metrics");
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(set, "rows");
	const cJSON *g, *m;
	struct ade_strbuf sql = ADE_STRBUF_INIT, keys = ADE_STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	int ng = cJSON_GetArraySize(gb), bad = 0, r = 0;
	char why[512];

	ade_strbuf_adds(&sql, "SELECT ");
	cJSON_ArrayForEach(g, gb) {
		char *q = quote_ident(g->valuestring);
		ade_strbuf_addf(&keys, "%s%s", keys.len ? ", " : "", q);
		free(q);
	}
	if (ng)
		ade_strbuf_addf(&sql, "%s, ", keys.buf);
	int k = 0;
	cJSON_ArrayForEach(m, ms) {
		const char *fn = ade_json_str(m, "fn", "");
		const char *col = ade_json_str(m, "column", NULL);
		const char *tmpl = sql_fn(fn);
		char *q = col ? quote_ident(col) : ade_xstrdup("*");
		ade_strbuf_adds(&sql, k++ ? ", " : "");
		if (tmpl)
			ade_strbuf_addf(&sql, tmpl, q);
		else
			ade_strbuf_adds(&sql, "NULL");
		free(q);
	}
	ade_strbuf_adds(&sql, " FROM t");
	if (ng)
		ade_strbuf_addf(&sql, " GROUP BY %s ORDER BY %s", keys.buf, keys.buf);
	if (sqlite3_prepare_v2(db, sql.buf, -1, &st, NULL) != SQLITE_OK) {
		fprintf(log, "sqlcheck: %s: %s\n", sql.buf, sqlite3_errmsg(db));
		bad++;
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const cJSON *jr = cJSON_GetArrayItem(rows, r);
		if (!jr) {
			fprintf(log, "set %s: SQL has more rows than ade's %d\n", name,
				cJSON_GetArraySize(rows));
			bad++;
			break;
		}
		k = 0;
		cJSON_ArrayForEach(g, gb) {
			const cJSON *jv = cJSON_GetObjectItemCaseSensitive(jr, g->valuestring);
			if (!jv || !same(sqlite3_column_value(st, k), jv, -1, why, sizeof(why))) {
				fprintf(log, "set %s row %d key %s: %s\n", name, r, g->valuestring, why);
				bad++;
			}
			k++;
		}
		cJSON_ArrayForEach(m, ms) {
			const char *fn = ade_json_str(m, "fn", "");
			const char *mn = ade_json_str(m, "name", "");
			const cJSON *jv = cJSON_GetObjectItemCaseSensitive(jr, mn);
			int ok;
			if (!jv) {
				fprintf(log, "set %s row %d: no metric %s\n", name, r, mn);
				bad++;
				k++;
				continue;
			}
			if (sql_fn(fn)) {
				double rel = (!strcmp(fn, "sum") || !strcmp(fn, "avg")) ? 1e-12 : -1;
				ok = same(sqlite3_column_value(st, k), jv, rel, why, sizeof(why));
			} else {
				double want = 0;
				int isnull = 1;
				if (per_group(db, gb, ng, st, m, &want, &isnull, log)) {
					bad++;
					goto out;
				}
				double rel = strncmp(fn, "stddev", 6) == 0 ? 1e-9 : -1;
				if (isnull) {
					ok = cJSON_IsNull(jv);
					snprintf(why, sizeof(why), "SQL NULL, ade not null");
				} else if (!cJSON_IsNumber(jv)) {
					ok = 0;
					snprintf(why, sizeof(why), "SQL %.17g, ade not a number", want);
				} else {
					ok = rel < 0 ? want == jv->valuedouble
						     : close_enough(want, jv->valuedouble, rel);
					snprintf(why, sizeof(why), "SQL %.17g, ade %.17g", want,
						 jv->valuedouble);
				}
			}
			if (!ok) {
				fprintf(log, "set %s row %d metric %s (%s): %s\n", name, r, mn, fn,
					why);
				bad++;
			}
			k++;
		}
		r++;
	}
	if (r != cJSON_GetArraySize(rows)) {
		fprintf(log, "set %s: SQL gives %d rows, ade %d\n", name, r,
			cJSON_GetArraySize(rows));
		bad++;
	}
out:
	sqlite3_finalize(st);
	ade_strbuf_release(&sql);
	ade_strbuf_release(&keys);
	return bad;
}

int analytics_sqlcheck(const char *frame_dir, const char *result_path, FILE *log,
		       int *checked)
{
	struct ade_frame *f = NULL;
	struct ade_error err = {0};
	cJSON *res = NULL;
	sqlite3 *db = NULL;
	int bad = 0;

	*checked = 0;
	if (ade_frame_open(frame_dir, &f, &err) || ade_json_read_file(result_path, &res, &err)) {
		fprintf(log, "sqlcheck: %s\n", err.msg);
		bad = 1;
		goto out;
	}
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || load(db, f, log)) {
		bad = 1;
		goto out;
	}
	const cJSON *sets = cJSON_GetObjectItemCaseSensitive(res, "sets"), *s;
	cJSON_ArrayForEach(s, sets) {
		bad += check_set(db, s->string, s, log);
		(*checked)++;
	}
	if (*checked == 0) {
		fprintf(log, "sqlcheck: no sets in %s\n", result_path);
		bad++;
	}
out:
	sqlite3_close(db);
	cJSON_Delete(res);
	if (f)
		ade_frame_close(f);
	return bad;
}
