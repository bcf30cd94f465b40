/*
 * ade kpis, ade sql and ade warehouse info: reading the warehouse
 * (docs/warehouse.md).  The warehouse is always opened read-only.
 */
#include "cli.h"
#include "warehouse/warehouse.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON };

/* A result held in memory so the table format can size its columns. */
enum cell_type { CELL_NULL, CELL_INT, CELL_REAL, CELL_TEXT };
struct cell {
	enum cell_type type;
	char *text; /* every non-null cell, formatted */
	double d;
};
struct grid {
	int ncols;
	char **names;
	struct cell *cells; /* nrows * ncols */
	size_t nrows, cap;
};

static void grid_init(struct grid *g, int ncols)
{
	memset(g, 0, sizeof(*g));
	g->ncols = ncols;
	g->names = ade_xcalloc((size_t)(ncols ? ncols : 1), sizeof(char *));
}

static struct cell *grid_add_row(struct grid *g)
{
	if (g->nrows == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->cells = ade_xrealloc(g->cells, g->cap * (size_t)g->ncols * sizeof(struct cell) + 1);
	}
	struct cell *r = g->cells + g->nrows++ * (size_t)g->ncols;
	memset(r, 0, (size_t)g->ncols * sizeof(struct cell));
	return r;
}

static void grid_free(struct grid *g)
{
	for (size_t i = 0; i < g->nrows * (size_t)g->ncols; i++)
		free(g->cells[i].text);
	for (int j = 0; j < g->ncols; j++)
		free(g->names[j]);
	free(g->names);
	free(g->cells);
}

/* The shortest text that reads back as the same double. */
static char *fmt_real(double d)
{
	char buf[64];

	if (isnan(d))
		return ade_xstrdup("NaN");
	if (isinf(d))
		return ade_xstrdup(d > 0 ? "Infinity" : "-Infinity");
	for (int p = 15; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return ade_xstrdup(buf);
}

static void cell_set(struct cell *c, sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_NULL:
		c->type = CELL_NULL;
		break;
	case SQLITE_INTEGER:
		c->type = CELL_INT;
		c->d = (double)sqlite3_column_int64(s, i);
		c->text = ade_xasprintf("%lld", (long long)sqlite3_column_int64(s, i));
		break;
	case SQLITE_FLOAT:
		c->type = CELL_REAL;
		c->d = sqlite3_column_double(s, i);
		c->text = fmt_real(c->d);
		break;
	default: {
		const char *t = (const char *)sqlite3_column_text(s, i);
		c->type = CELL_TEXT;
		c->text = ade_xstrndup(t ? t : "", (size_t)sqlite3_column_bytes(s, i));
	}
	}
}

static void csv_field(const char *t)
{
	if (!strpbrk(t, ",\"\r\n")) {
		fputs(t, stdout);
		return;
	}
	putchar('"');
	for (; *t; t++) {
		if (*t == '"')
			putchar('"');
		putchar(*t);
	}
	putchar('"');
}

/* Display width of UTF-8 text: code points, which is right for most text. */
static size_t width(const char *t)
{
	size_t w = 0;

	for (; *t; t++)
		w += ((unsigned char)*t & 0xC0) != 0x80;
	return w;
}

static void grid_print(const struct grid *g, enum fmt f)
{
	if (f == FMT_JSON) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t r = 0; r < g->nrows; r++) {
			cJSON *o = cJSON_CreateObject();
			for (int j = 0; j < g->ncols; j++) {
				const struct cell *c = &g->cells[r * (size_t)g->ncols + (size_t)j];
				if (c->type == CELL_NULL || (c->type == CELL_REAL && !isfinite(c->d)))
					cJSON_AddNullToObject(o, g->names[j]);
				else if (c->type == CELL_TEXT)
					cJSON_AddStringToObject(o, g->names[j], c->text);
				else
					cJSON_AddItemToObject(o, g->names[j], cJSON_CreateRaw(c->text));
			}
			cJSON_AddItemToArray(arr, o);
		}
		char *t = cJSON_Print(arr);
		puts(t);
		free(t);
		cJSON_Delete(arr);
		return;
	}
	if (f == FMT_CSV) {
		for (int j = 0; j < g->ncols; j++) {
			if (j)
				putchar(',');
			csv_field(g->names[j]);
		}
		fputs("\r\n", stdout);
		for (size_t r = 0; r < g->nrows; r++) {
			for (int j = 0; j < g->ncols; j++) {
				const struct cell *c = &g->cells[r * (size_t)g->ncols + (size_t)j];
				if (j)
					putchar(',');
				if (c->type != CELL_NULL)
					csv_field(c->text);
			}
			fputs("\r\n", stdout);
		}
		return;
	}
	size_t *w = ade_xcalloc((size_t)g->ncols + 1, sizeof(size_t));
	for (int j = 0; j < g->ncols; j++)
		w[j] = width(g->names[j]);
	for (size_t r = 0; r < g->nrows; r++)
		for (int j = 0; j < g->ncols; j++) {
			const struct cell *c = &g->cells[r * (size_t)g->ncols + (size_t)j];
			size_t cw = c->type == CELL_NULL ? 0 : width(c->text);
			if (cw > w[j])
				w[j] = cw;
		}
	for (int j = 0; j < g->ncols; j++)
		printf("%s%s%*s", j ? "  " : "", g->names[j],
		       j + 1 < g->ncols ? (int)(w[j] - width(g->names[j])) : 0, "");
	putchar('\n');
	for (size_t r = 0; r < g->nrows; r++) {
		for (int j = 0; j < g->ncols; j++) {
			const struct cell *c = &g->cells[r * (size_t)g->ncols + (size_t)j];
			const char *t = c->type == CELL_NULL ? "" : c->text;
			int pad = (int)(w[j] - width(t));
			if (j)
				fputs("  ", stdout);
			/* Numbers right-aligned, text left-aligned, as psql does. */
			if (c->type == CELL_INT || c->type == CELL_REAL)
				printf("%*s%s", pad, "", t);
			else
				printf("%s%*s", t, j + 1 < g->ncols ? pad : 0, "");
		}
		putchar('\n');
	}
	free(w);
}

static int parse_format(const char *cmd, const char *v, enum fmt *f)
{
	if (!strcmp(v, "table"))
		*f = FMT_TABLE;
	else if (!strcmp(v, "csv"))
		*f = FMT_CSV;
	else if (!strcmp(v, "json"))
		*f = FMT_JSON;
	else
		return ade_cli_usage_error(cmd, "--format must be table, csv or json, not '%s'", v);
	return 0;
}

static int open_wh(const char *cmd, struct ade_cli *cli, sqlite3 **db)
{
	struct ade_error err = {0};
	char *path = ade_xasprintf("%s/warehouse.db", cli->home);
	int rc = ade_warehouse_open_readonly(path, db, &err);

	if (rc == ADE_ENOTFOUND)
		fprintf(stderr,
			"ade %s: no warehouse yet in '%s' (no warehouse.db); a pipeline with an "
			"ade-warehouse stage creates it\n",
			cmd, cli->home);
	else if (rc)
		fprintf(stderr, "ade %s: %s\n", cmd, err.msg);
	free(path);
	return rc ? ADE_EXIT_STATE : 0;
}

/* Fills g from every row of s; returns 0 or an SQLite error code. */
static int grid_fill(struct grid *g, sqlite3_stmt *s)
{
	int rc;

	grid_init(g, sqlite3_column_count(s));
	for (int j = 0; j < g->ncols; j++)
		g->names[j] = ade_xstrdup(sqlite3_column_name(s, j));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cell *r = grid_add_row(g);
		for (int j = 0; j < g->ncols; j++)
			cell_set(&r[j], s, j);
	}
	return rc == SQLITE_DONE ? 0 : rc;
}

/* 1 when text holds only white space and SQL comments. */
static int only_blank(const char *p)
{
	while (*p) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';') {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			if (!e)
				return 1;
			p = e + 2;
		} else {
			return 0;
		}
	}
	return 1;
}

/*
 * ATTACH is "read-only" for sqlite3_stmt_readonly (it changes no page of
 * this file) but would open, or create, another file: refused by name.
 */
static int deny_attach(void *refused, int action, const char *a, const char *b, const char *c,
		       const char *d)
{
	if (action == SQLITE_ATTACH || action == SQLITE_DETACH) {
		*(int *)refused = 1;
		return SQLITE_DENY;
	}
	return SQLITE_OK;
}

static const char refusal[] =
	"ade sql: refused: the statement would change the warehouse or open another file; "
	"ade sql runs read-only queries (SELECT, WITH, EXPLAIN, read-only PRAGMAs)\n";

int ade_cmd_sql(int argc, char **argv, struct ade_cli *cli)
{
	int refused = 0;
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	enum fmt f = FMT_TABLE;
	const char *tail = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct grid g;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f') {
			if ((rc = parse_format("sql", optarg, &f)))
				return rc;
		} else {
			return ade_cli_usage_error("sql", "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("sql", "give exactly one query, quoted");
	const char *q = argv[optind];
	if (only_blank(q))
		return ade_cli_usage_error("sql", "the query is empty");
	if ((rc = open_wh("sql", cli, &db)))
		return rc;
	sqlite3_set_authorizer(db, deny_attach, &refused);
	int prc = sqlite3_prepare_v2(db, q, -1, &s, &tail);
	if (prc != SQLITE_OK || !s) {
		if (refused)
			fputs(refusal, stderr);
		else if (prc == SQLITE_OK)
			fprintf(stderr, "ade sql: the query is empty\n");
		else
			fprintf(stderr, "ade sql: %s\n", sqlite3_errmsg(db));
		sqlite3_finalize(s);
		sqlite3_close(db);
		return refused || prc == SQLITE_OK ? ADE_EXIT_USAGE : ADE_EXIT_FAILED;
	}
	/*
	 * The connection is read-only already; checking the statement too
	 * gives a clear message instead of "attempt to write a readonly
	 * database", and refuses a write before it runs.
	 */
	if (!sqlite3_stmt_readonly(s)) {
		fputs(refusal, stderr);
		rc = ADE_EXIT_USAGE;
		goto out;
	}
	if (tail && !only_blank(tail)) {
		fprintf(stderr, "ade sql: give one statement at a time (text after the first: "
				"'%.40s')\n",
			tail);
		rc = ADE_EXIT_USAGE;
		goto out;
	}
	rc = grid_fill(&g, s);
	if (rc) {
		fprintf(stderr, "ade sql: %s\n", sqlite3_errmsg(db));
		rc = ADE_EXIT_FAILED;
	} else {
		grid_print(&g, f);
	}
	grid_free(&g);
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}

int ade_cmd_kpis(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'F'},
					     {"to", required_argument, NULL, 'T'},
					     {"kpi", required_argument, NULL, 'k'},
					     {"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	const char *from = NULL, *to = NULL;
	const char **want = NULL;
	int nwant = 0, c, rc;
	enum fmt f = FMT_TABLE;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct ade_strbuf sql = ADE_STRBUF_INIT;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if ((rc = ade_cli_check_date("kpis", "--from", optarg)))
				goto out;
			from = optarg;
			break;
		case 'T':
			if ((rc = ade_cli_check_date("kpis", "--to", optarg)))
				goto out;
			to = optarg;
			break;
		case 'k':
			if (!*optarg) {
				rc = ade_cli_usage_error("kpis", "--kpi needs a name");
				goto out;
			}
			want = ade_xrealloc(want, sizeof(*want) * (size_t)(nwant + 1));
			want[nwant++] = optarg;
			break;
		case 'f':
			if ((rc = parse_format("kpis", optarg, &f)))
				goto out;
			break;
		default:
			rc = ade_cli_usage_error("kpis", "unrecognized option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = ade_cli_usage_error("kpis", "give exactly one pipeline");
		goto out;
	}
	if (from && to && strcmp(from, to) > 0) {
		rc = ade_cli_usage_error("kpis", "--from %s is after --to %s", from, to);
		goto out;
	}
	const char *pipeline = argv[optind];
	if ((rc = open_wh("kpis", cli, &db)))
		goto out;
	/* Names are bound as parameters ?4..; only placeholders are formatted. */
	ade_strbuf_adds(&sql, "SELECT ds, kpi, value FROM kpi_history WHERE pipeline=?1 AND "
			      "batch='' AND (?2 IS NULL OR ds>=?2) AND (?3 IS NULL OR ds<=?3)");
	if (nwant) {
		ade_strbuf_adds(&sql, " AND kpi IN (");
		for (int i = 0; i < nwant; i++)
			ade_strbuf_addf(&sql, "%s?%d", i ? "," : "", 4 + i);
		ade_strbuf_addc(&sql, ')');
	}
	ade_strbuf_adds(&sql, " ORDER BY ds, kpi");
	if (sqlite3_prepare_v2(db, sql.buf, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "ade kpis: %s\n", sqlite3_errmsg(db));
		rc = ADE_EXIT_STATE;
		goto out;
	}
	sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	if (from)
		sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
	if (to)
		sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC);
	for (int i = 0; i < nwant; i++)
		sqlite3_bind_text(s, 4 + i, want[i], -1, SQLITE_STATIC);

	/* Pivot: columns are the KPIs asked for in order, else all by name. */
	char **names = NULL;
	int nnames = 0;
	for (int i = 0; i < nwant; i++) {
		int dup = 0;
		for (int k = 0; k < nnames; k++)
			dup |= !strcmp(names[k], want[i]);
		if (dup)
			continue;
		names = ade_xrealloc(names, sizeof(*names) * (size_t)(nnames + 1));
		names[nnames++] = ade_xstrdup(want[i]);
	}
	char (*dss)[11] = NULL;
	char **rk = NULL; /* per fetched row: kpi */
	double *rv = NULL;
	int *rnull = NULL, *rds = NULL;
	size_t n = 0, cap = 0, ndates = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *ds = (const char *)sqlite3_column_text(s, 0);
		const char *k = (const char *)sqlite3_column_text(s, 1);
		if (!ds || !k)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			rk = ade_xrealloc(rk, cap * sizeof(*rk));
			rv = ade_xrealloc(rv, cap * sizeof(*rv));
			rnull = ade_xrealloc(rnull, cap * sizeof(*rnull));
			rds = ade_xrealloc(rds, cap * sizeof(*rds));
		}
		if (!ndates || strncmp(dss[ndates - 1], ds, 10)) {
			dss = ade_xrealloc(dss, (ndates + 1) * sizeof(*dss));
			snprintf(dss[ndates++], 11, "%s", ds);
		}
		rk[n] = ade_xstrdup(k);
		rnull[n] = sqlite3_column_type(s, 2) == SQLITE_NULL;
		rv[n] = sqlite3_column_double(s, 2);
		rds[n] = (int)ndates - 1;
		if (!nwant) {
			int found = 0;
			for (int i = 0; i < nnames && !found; i++)
				found = !strcmp(names[i], k);
			if (!found) {
				names = ade_xrealloc(names, sizeof(*names) * (size_t)(nnames + 1));
				names[nnames++] = ade_xstrdup(k);
			}
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "ade kpis: %s\n", sqlite3_errmsg(db));
		rc = ADE_EXIT_STATE;
	} else if (!ndates) {
		fprintf(stderr, "ade kpis: no KPIs for pipeline '%s'%s\n", pipeline,
			from || to || nwant ? " with these filters" : " in the warehouse");
		rc = ADE_EXIT_FAILED;
	} else {
		/* Sorted by name when not asked for, so columns are stable. */
		if (!nwant)
			for (int i = 1; i < nnames; i++)
				for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
					char *t = names[j];
					names[j] = names[j - 1];
					names[j - 1] = t;
				}
		struct grid g;
		grid_init(&g, nnames + 1);
		g.names[0] = ade_xstrdup("ds");
		for (int i = 0; i < nnames; i++)
			g.names[i + 1] = ade_xstrdup(names[i]);
		for (size_t d = 0; d < ndates; d++) {
			struct cell *r = grid_add_row(&g);
			r[0].type = CELL_TEXT;
			r[0].text = ade_xstrdup(dss[d]);
		}
		for (size_t i = 0; i < n; i++) {
			for (int j = 0; j < nnames; j++) {
				if (strcmp(names[j], rk[i]) || rnull[i])
					continue;
				struct cell *cl = &g.cells[(size_t)rds[i] * (size_t)g.ncols + (size_t)j + 1];
				free(cl->text);
				cl->d = rv[i];
				cl->type = rv[i] == floor(rv[i]) && fabs(rv[i]) < 9e15 ? CELL_INT : CELL_REAL;
				cl->text = cl->type == CELL_INT ? ade_xasprintf("%.0f", rv[i]) : fmt_real(rv[i]);
			}
		}
		grid_print(&g, f);
		grid_free(&g);
		rc = 0;
	}
	for (size_t i = 0; i < n; i++)
		free(rk[i]);
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(rk);
	free(rv);
	free(rnull);
	free(rds);
	free(dss);
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	ade_strbuf_release(&sql);
	free(want);
	return rc;
}

/* Runs a fixed query and prints it under a heading (table format). */
static int section(sqlite3 *db, const char *title, const char *q, enum fmt f, cJSON *root)
{
	sqlite3_stmt *s = NULL;
	struct grid g;
	int rc;

	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "ade warehouse info: %s\n", sqlite3_errmsg(db));
		return ADE_EXIT_STATE;
	}
	rc = grid_fill(&g, s);
	sqlite3_finalize(s);
	if (rc) {
		grid_free(&g);
		fprintf(stderr, "ade warehouse info: %s\n", sqlite3_errmsg(db));
		return ADE_EXIT_STATE;
	}
	if (f == FMT_JSON) {
		cJSON *arr = cJSON_AddArrayToObject(root, title);
		for (size_t r = 0; r < g.nrows; r++) {
			cJSON *o = cJSON_CreateObject();
			for (int j = 0; j < g.ncols; j++) {
				const struct cell *c = &g.cells[r * (size_t)g.ncols + (size_t)j];
				if (c->type == CELL_NULL)
					cJSON_AddNullToObject(o, g.names[j]);
				else if (c->type == CELL_TEXT)
					cJSON_AddStringToObject(o, g.names[j], c->text);
				else
					cJSON_AddNumberToObject(o, g.names[j], c->d);
			}
			cJSON_AddItemToArray(arr, o);
		}
	} else {
		printf("\n%s:\n", title);
		grid_print(&g, FMT_TABLE);
	}
	grid_free(&g);
	return 0;
}

int ade_cmd_warehouse(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {"json", no_argument, NULL, 'J'},
					     {NULL, 0, NULL, 0}};
	enum fmt f = FMT_TABLE;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct ade_strbuf q = ADE_STRBUF_INIT;
	int c, rc;

	if (argc < 2 || strcmp(argv[1], "info"))
		return ade_cli_usage_error("warehouse", argc < 2 ? "give a subcommand: info"
								 : "unknown subcommand '%s'; known: info",
					   argc < 2 ? "" : argv[1]);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (c == 'f') {
			if ((rc = parse_format("warehouse", optarg, &f)))
				return rc;
			if (f == FMT_CSV)
				return ade_cli_usage_error("warehouse", "info prints table or json");
		} else if (c == 'J') {
			f = FMT_JSON;
		} else {
			return ade_cli_usage_error("warehouse", "unrecognized option '%s'",
						   argv[optind]);
		}
	}
	if (optind != argc - 1)
		return ade_cli_usage_error("warehouse", "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = open_wh("warehouse", cli, &db)))
		return rc;
	char *path = ade_xasprintf("%s/warehouse.db", cli->home);
	struct stat st;
	double mb = stat(path, &st) ? 0 : (double)st.st_size / 1e6;
	int version = ade_warehouse_version(db);
	cJSON *root = cJSON_CreateObject();
	if (f == FMT_JSON) {
		cJSON_AddStringToObject(root, "path", path);
		cJSON_AddNumberToObject(root, "schema_version", version);
		cJSON_AddNumberToObject(root, "bytes", mb * 1e6);
	} else {
		printf("warehouse %s: schema version %d, %.1f MB\n", path, version, mb);
	}
	free(path);

	/* Row counts: one count(*) per table, its name quoted as an identifier. */
	if (sqlite3_prepare_v2(db,
			       "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
			       "'sqlite_%' ORDER BY name",
			       -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "ade warehouse info: %s\n", sqlite3_errmsg(db));
		rc = ADE_EXIT_STATE;
		goto out;
	}
	struct grid g;
	grid_init(&g, 2);
	g.names[0] = ade_xstrdup("table");
	g.names[1] = ade_xstrdup("rows");
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		sqlite3_stmt *cs = NULL;
		ade_strbuf_reset(&q);
		ade_strbuf_adds(&q, "SELECT count(*) FROM ");
		ade_warehouse_quote(&q, name);
		struct cell *r = grid_add_row(&g);
		r[0].type = CELL_TEXT;
		r[0].text = ade_xstrdup(name);
		if (sqlite3_prepare_v2(db, q.buf, -1, &cs, NULL) == SQLITE_OK &&
		    sqlite3_step(cs) == SQLITE_ROW)
			cell_set(&r[1], cs, 0);
		sqlite3_finalize(cs);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (f == FMT_JSON) {
		cJSON *arr = cJSON_AddArrayToObject(root, "tables");
		for (size_t i = 0; i < g.nrows; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "table", g.cells[i * 2].text);
			cJSON_AddNumberToObject(o, "rows", g.cells[i * 2 + 1].d);
			cJSON_AddItemToArray(arr, o);
		}
	} else {
		printf("\ntables:\n");
		grid_print(&g, FMT_TABLE);
	}
	grid_free(&g);
	if ((rc = section(db, "pipelines",
			  "SELECT pipeline, count(DISTINCT ds) AS dates, min(ds) AS first_ds, "
			  "max(ds) AS last_ds, sum(batch <> '') AS batch_loads FROM "
			  "(SELECT DISTINCT pipeline, ds, batch FROM loads) GROUP BY pipeline ORDER BY pipeline",
			  f, root)))
		goto out;
	if ((rc = section(db, "last_loads",
			  "SELECT l.pipeline, l.ds, l.batch, l.\"table\", l.rows, l.loaded_at, l.run_id "
			  "FROM loads l JOIN (SELECT pipeline, max(loaded_at) AS at FROM loads "
			  "GROUP BY pipeline) m ON l.pipeline=m.pipeline AND l.loaded_at=m.at "
			  "WHERE l.stage IS NOT NULL OR NOT EXISTS (SELECT 1 FROM loads x WHERE "
			  "x.pipeline=l.pipeline AND x.loaded_at=l.loaded_at AND x.stage IS NOT NULL) "
			  "ORDER BY l.pipeline, l.\"table\"",
			  f, root)))
		goto out;
	if (f == FMT_JSON) {
		char *t = cJSON_Print(root);
		puts(t);
		free(t);
	}
out:
	cJSON_Delete(root);
	ade_strbuf_release(&q);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}
