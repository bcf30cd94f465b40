/* The lineage document as text and Graphviz DOT, and column traces. */
#include "lineage.h"
#include "core/error.h"
#include "core/json.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static const char *label_of(const cJSON *doc, const char *id)
{
	const cJSON *d = ade_lineage_doc_dataset(doc, id);

	return d ? ade_json_str(d, "label", id) : id;
}

static void dataset_line(struct ade_strbuf *sb, const cJSON *d)
{
	ade_strbuf_addf(sb, "%s", ade_json_str(d, "label", ""));
	const cJSON *rows = cJSON_GetObjectItem(d, "rows");
	const char *ver = ade_json_str(d, "version", NULL);
	ade_strbuf_addf(sb, "  [%s:%s", ade_json_str(d, "namespace", ""), ade_json_str(d, "name", ""));
	if (cJSON_IsNumber(rows))
		ade_strbuf_addf(sb, ", %.0f rows", rows->valuedouble);
	if (ver)
		ade_strbuf_addf(sb, ", version %s", ver);
	ade_strbuf_adds(sb, "]\n");
}

char *ade_lineage_doc_text(const cJSON *doc)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const cJSON *s, *x;

	ade_strbuf_addf(&sb, "lineage of %s %s run %d (%s)%s%s\n", ade_json_str(doc, "pipeline", ""),
			ade_json_str(doc, "ds", ""), (int)ade_json_num(doc, "run_number", 0),
			ade_json_str(doc, "state", ""), *ade_json_str(doc, "run_id", "") ? " run id " : "",
			ade_json_str(doc, "run_id", ""));
	ade_strbuf_adds(&sb, "stages:\n");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stages")) {
		const cJSON *a = cJSON_GetObjectItem(s, "last_attempt");
		ade_strbuf_addf(&sb, "  %s  %s", ade_json_str(s, "name", ""), ade_json_str(s, "state", ""));
		if (a)
			ade_strbuf_addf(&sb, "  attempt %d  %.2fs  peak %.1f MB",
					(int)ade_json_num(a, "attempt", 0),
					ade_json_num(a, "duration_ms", 0) / 1000.0,
					ade_json_num(a, "peak_rss_kb", 0) / 1024.0);
		if (*ade_json_str(s, "producer", ""))
			ade_strbuf_addf(&sb, "  (%s, column lineage %s)", ade_json_str(s, "producer", ""),
					ade_json_str(s, "column_lineage", "none"));
		ade_strbuf_addc(&sb, '\n');
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(s, "inputs")) {
			ade_strbuf_adds(&sb, "    reads  ");
			dataset_line(&sb, ade_lineage_doc_dataset(doc, x->valuestring));
		}
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(s, "outputs")) {
			ade_strbuf_adds(&sb, "    writes ");
			dataset_line(&sb, ade_lineage_doc_dataset(doc, x->valuestring));
		}
	}
	ade_strbuf_adds(&sb, "column lineage:\n");
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(doc, "column_lineage")) {
		const cJSON *o = cJSON_GetObjectItem(x, "output"), *i = cJSON_GetObjectItem(x, "input");
		ade_strbuf_addf(&sb, "  %s.%s <- %s.%s  (%s: %s%s)\n",
				label_of(doc, ade_json_str(o, "dataset", "")), ade_json_str(o, "field", ""),
				label_of(doc, ade_json_str(i, "dataset", "")), ade_json_str(i, "field", ""),
				ade_json_str(x, "stage", ""), ade_json_str(x, "transformation", ""),
				ade_json_bool(x, "inferred", 0) ? ", inferred" : "");
	}
	return ade_strbuf_detach(&sb);
}

/* A DOT string literal. */
static void dot_str(struct ade_strbuf *sb, const char *s)
{
	ade_strbuf_addc(sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			ade_strbuf_addc(sb, '\\');
		if (*s == '\n')
			ade_strbuf_adds(sb, "\\n");
		else
			ade_strbuf_addc(sb, *s);
	}
	ade_strbuf_addc(sb, '"');
}

char *ade_lineage_doc_dot(const cJSON *doc)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const cJSON *s, *d, *x;

	ade_strbuf_adds(&sb, "digraph lineage {\n  rankdir=LR;\n  label=");
	char *title = ade_xasprintf("%s %s run %d", ade_json_str(doc, "pipeline", ""),
				    ade_json_str(doc, "ds", ""), (int)ade_json_num(doc, "run_number", 0));
	dot_str(&sb, title);
	free(title);
	ade_strbuf_adds(&sb, ";\n");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stages")) {
		char *id = ade_xasprintf("stage:%s", ade_json_str(s, "name", ""));
		char *lab = ade_xasprintf("%s\n%s", ade_json_str(s, "name", ""), ade_json_str(s, "state", ""));
		ade_strbuf_adds(&sb, "  ");
		dot_str(&sb, id);
		ade_strbuf_adds(&sb, " [shape=box, style=filled, fillcolor=");
		ade_strbuf_adds(&sb, !strcmp(ade_json_str(s, "state", ""), "success") ? "palegreen"
				     : !strcmp(ade_json_str(s, "state", ""), "failed") ? "salmon" : "lightgrey");
		ade_strbuf_adds(&sb, ", label=");
		dot_str(&sb, lab);
		ade_strbuf_adds(&sb, "];\n");
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(s, "inputs")) {
			ade_strbuf_adds(&sb, "  ");
			dot_str(&sb, x->valuestring);
			ade_strbuf_adds(&sb, " -> ");
			dot_str(&sb, id);
			ade_strbuf_adds(&sb, ";\n");
		}
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(s, "outputs")) {
			ade_strbuf_adds(&sb, "  ");
			dot_str(&sb, id);
			ade_strbuf_adds(&sb, " -> ");
			dot_str(&sb, x->valuestring);
			ade_strbuf_adds(&sb, ";\n");
		}
		free(id);
		free(lab);
	}
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "datasets")) {
		ade_strbuf_adds(&sb, "  ");
		dot_str(&sb, ade_json_str(d, "id", ""));
		ade_strbuf_adds(&sb, " [shape=ellipse, label=");
		dot_str(&sb, ade_json_str(d, "label", ""));
		ade_strbuf_adds(&sb, "];\n");
	}
	ade_strbuf_adds(&sb, "}\n");
	return ade_strbuf_detach(&sb);
}

/* ---- column traces ---------------------------------------------------------- */

static int has_column(const cJSON *d, const char *col)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(d, "columns"))
		if (!strcmp(ade_json_str(c, "name", ""), col))
			return 1;
	return 0;
}

static int matches(const cJSON *d, const char *table)
{
	const char *name = ade_json_str(d, "name", "");
	const char *base = strrchr(name, '/');

	return !strcmp(name, table) || !strcmp(ade_json_str(d, "label", ""), table) ||
	       (base && !strcmp(base + 1, table));
}

static int seen(const cJSON *arr, const char *ds, const char *field)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, arr)
		if (!strcmp(ade_json_str(x, "dataset", ""), ds) && !strcmp(ade_json_str(x, "field", ""), field))
			return 1;
	return 0;
}

/* Breadth-first over the column edges, up (output -> input) or down. */
static cJSON *walk(const cJSON *doc, const char *ds, const char *field, int up)
{
	cJSON *res = cJSON_CreateArray();
	cJSON *queue = cJSON_CreateArray();
	const char *from = up ? "output" : "input", *to = up ? "input" : "output";

	cJSON *start = cJSON_CreateObject();
	cJSON_AddStringToObject(start, "dataset", ds);
	cJSON_AddStringToObject(start, "field", field);
	cJSON_AddNumberToObject(start, "depth", 0);
	cJSON_AddItemToArray(queue, start);
	for (int qi = 0; qi < cJSON_GetArraySize(queue); qi++) {
		const cJSON *q = cJSON_GetArrayItem(queue, qi);
		const char *qd = ade_json_str(q, "dataset", ""), *qf = ade_json_str(q, "field", "");
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "column_lineage")) {
			const cJSON *a = cJSON_GetObjectItem(e, from), *b = cJSON_GetObjectItem(e, to);
			if (strcmp(ade_json_str(a, "dataset", ""), qd) || strcmp(ade_json_str(a, "field", ""), qf))
				continue;
			const char *bd = ade_json_str(b, "dataset", ""), *bf = ade_json_str(b, "field", "");
			if (seen(queue, bd, bf))
				continue;
			cJSON *n = cJSON_CreateObject();
			cJSON_AddStringToObject(n, "dataset", bd);
			cJSON_AddStringToObject(n, "label", label_of(doc, bd));
			cJSON_AddStringToObject(n, "field", bf);
			cJSON_AddStringToObject(n, "stage", ade_json_str(e, "stage", ""));
			cJSON_AddStringToObject(n, "transformation", ade_json_str(e, "transformation", ""));
			cJSON_AddBoolToObject(n, "inferred", ade_json_bool(e, "inferred", 0));
			cJSON_AddNumberToObject(n, "depth", ade_json_num(q, "depth", 0) + 1);
			cJSON_AddItemToArray(res, cJSON_Duplicate(n, 1));
			cJSON_AddItemToArray(queue, n);
		}
	}
	cJSON_Delete(queue);
	return res;
}

int ade_lineage_trace(const cJSON *doc, const char *spec, cJSON **out, struct ade_error *err)
{
	const char *dot = strrchr(spec, '.');
	const cJSON *d, *hit = NULL;

	*out = NULL;
	if (!dot || dot == spec || !dot[1])
		return ade_error_set(err, ADE_EINVAL, "'%s' is not TABLE.COLUMN", spec);
	char *table = ade_xstrndup(spec, (size_t)(dot - spec));
	const char *col = dot + 1;
	/* Warehouse tables first: "employees.salary" means the table. */
	for (int pass = 0; pass < 2 && !hit; pass++)
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "datasets")) {
			int wh = !strncmp(ade_json_str(d, "namespace", ""), "sqlite:", 7);
			if ((pass == 0) == wh && matches(d, table) && has_column(d, col)) {
				hit = d;
				break;
			}
		}
	free(table);
	if (!hit)
		return ade_error_set(err, ADE_ENOTFOUND, "no dataset of the run has column '%s'", spec);
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "column", col);
	cJSON_AddStringToObject(t, "dataset", ade_json_str(hit, "id", ""));
	cJSON_AddStringToObject(t, "label", ade_json_str(hit, "label", ""));
	cJSON_AddItemToObject(t, "upstream", walk(doc, ade_json_str(hit, "id", ""), col, 1));
	cJSON_AddItemToObject(t, "downstream", walk(doc, ade_json_str(hit, "id", ""), col, 0));
	*out = t;
	return 0;
}

char *ade_lineage_trace_text(const cJSON *t)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	static const char *dirs[] = {"upstream", "downstream"};

	ade_strbuf_addf(&sb, "%s.%s  [%s]\n", ade_json_str(t, "label", ""), ade_json_str(t, "column", ""),
			ade_json_str(t, "dataset", ""));
	for (int k = 0; k < 2; k++) {
		const cJSON *x;
		ade_strbuf_addf(&sb, "%s:\n", dirs[k]);
		if (!cJSON_GetArraySize(cJSON_GetObjectItem(t, dirs[k])))
			ade_strbuf_adds(&sb, "  (none)\n");
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, dirs[k])) {
			int depth = (int)ade_json_num(x, "depth", 1);
			ade_strbuf_addf(&sb, "%*s%s %s.%s  (%s: %s%s)\n", 2 * depth, "", k ? "->" : "<-",
					ade_json_str(x, "label", ""), ade_json_str(x, "field", ""),
					ade_json_str(x, "stage", ""), ade_json_str(x, "transformation", ""),
					ade_json_bool(x, "inferred", 0) ? ", inferred" : "");
		}
	}
	return ade_strbuf_detach(&sb);
}
