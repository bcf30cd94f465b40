/*
 * The lineage document of one run: what every stage read and wrote (from
 * its result.json), how it ran (from state.db, read-only), and which
 * input columns each output column comes from.
 */
#include "lineage.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets obj[key] = item, replacing any value (takes item). */
static void set_item(cJSON *obj, const char *key, cJSON *item)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddItemToObject(obj, key, item);
}

/* ---- datasets ------------------------------------------------------------ */

const cJSON *ade_lineage_doc_dataset(const cJSON *doc, const char *id)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "datasets"))
		if (!strcmp(ade_json_str(d, "id", ""), id))
			return d;
	return NULL;
}

static cJSON *dataset_get(cJSON *doc, const char *ns, const char *name, const char *label)
{
	char *id = ade_xasprintf("%s:%s", ns, name);
	cJSON *d = (cJSON *)ade_lineage_doc_dataset(doc, id);

	if (!d) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "id", id);
		cJSON_AddStringToObject(d, "namespace", ns);
		cJSON_AddStringToObject(d, "name", name);
		cJSON_AddStringToObject(d, "label", label);
		cJSON_AddNullToObject(d, "producer");
		cJSON_AddArrayToObject(d, "consumers");
		cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "datasets"), d);
	}
	free(id);
	return d;
}

static const cJSON *find_column(const cJSON *cols, const char *name)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cols)
		if (!strcmp(ade_json_str(c, "name", ""), name))
			return c;
	return NULL;
}

/* Copies a result.json schema array ([{name, type, null_count, stats}]). */
static cJSON *columns_from_schema(const cJSON *schema)
{
	cJSON *cols = cJSON_CreateArray();
	const cJSON *c;

	cJSON_ArrayForEach(c, schema) {
		const char *name = ade_json_str(c, "name", NULL);
		if (!name)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "type", ade_json_str(c, "type", "unknown"));
		const cJSON *nc = cJSON_GetObjectItem(c, "null_count");
		if (cJSON_IsNumber(nc))
			cJSON_AddNumberToObject(o, "null_count", nc->valuedouble);
		const cJSON *st = cJSON_GetObjectItem(c, "stats");
		if (cJSON_IsObject(st))
			cJSON_AddItemToObject(o, "stats", cJSON_Duplicate(st, 1));
		cJSON_AddItemToArray(cols, o);
	}
	return cols;
}

/*
 * Turns one datasets.inputs/outputs entry of stage's result.json into a
 * dataset of doc (created on first sight) and returns it.
 */
static cJSON *dataset_from_entry(cJSON *doc, const struct ade_lineage_run *run,
				 const cJSON *result, const char *out_dir, const cJSON *e)
{
	const char *path = ade_json_str(e, "path", NULL);
	const char *table = ade_json_str(e, "table", NULL);
	const char *format = ade_json_str(e, "format", "");
	cJSON *d;

	if (!path && !table)
		return NULL;
	if (table || !strcmp(format, "sqlite")) {
		/* Warehouse tables: namespace "sqlite:" + the db file's URI. */
		char *db = NULL;
		const char *hash = path ? strchr(path, '#') : NULL;
		if (path && path[0] == '/')
			db = hash ? ade_xstrndup(path, (size_t)(hash - path)) : ade_xstrdup(path);
		else if (ade_json_str(result, "warehouse", NULL))
			db = ade_xstrdup(ade_json_str(result, "warehouse", ""));
		else
			db = ade_xasprintf("%s/warehouse.db", run->home);
		if (!table)
			table = hash ? hash + 1 : "unknown";
		char *ns = ade_xasprintf("sqlite:file://%s", db);
		d = dataset_get(doc, ns, table, table);
		free(ns);
		free(db);
	} else {
		char *abs = path[0] == '/' ? ade_xstrdup(path) : ade_xasprintf("%s/%s", out_dir, path);
		size_t rl = strlen(run->run_dir);
		char *label;
		if (!strncmp(abs, run->run_dir, rl) && abs[rl] == '/') {
			/* "<stage>/out/frame" reads better as "<stage>/frame". */
			const char *rel = abs + rl + 1;
			const char *slash = strchr(rel, '/');
			if (slash && !strncmp(slash, "/out/", 5))
				label = ade_xasprintf("%.*s/%s", (int)(slash - rel), rel, slash + 5);
			else
				label = ade_xstrdup(rel);
		} else {
			const char *b = strrchr(abs, '/');
			label = ade_xstrdup(b && b[1] ? b + 1 : abs);
		}
		d = dataset_get(doc, "file", abs, label);
		free(label);
		free(abs);
	}
	if (*format && !cJSON_GetObjectItem(d, "format"))
		cJSON_AddStringToObject(d, "format", format);
	static const char *nums[] = {"rows", "bytes"};
	for (int i = 0; i < 2; i++) {
		const cJSON *n = cJSON_GetObjectItem(e, nums[i]);
		if (cJSON_IsNumber(n) && !cJSON_GetObjectItem(d, nums[i]))
			cJSON_AddNumberToObject(d, nums[i], n->valuedouble);
	}
	const char *ver = ade_json_str(e, "hash", ade_json_str(e, "version", NULL));
	if (ver && !cJSON_GetObjectItem(d, "version"))
		cJSON_AddStringToObject(d, "version", ver);
	const cJSON *schema = cJSON_GetObjectItem(e, "schema");
	if (cJSON_IsArray(schema) && !cJSON_GetObjectItem(d, "columns"))
		cJSON_AddItemToObject(d, "columns", columns_from_schema(schema));
	return d;
}

/* ---- column lineage ------------------------------------------------------ */

/* Maps a result.json transformation name to OpenLineage's type/subtype. */
static void map_transform(const char *t, const char **type, const char **subtype)
{
	*type = "DIRECT";
	if (!t || !strcmp(t, "identity") || !strcmp(t, "rename"))
		*subtype = "IDENTITY";
	else if (!strcmp(t, "aggregation") || !strcmp(t, "aggregate"))
		*subtype = "AGGREGATION";
	else if (!strcmp(t, "filter") || !strcmp(t, "group_by") || !strcmp(t, "join") ||
		 !strcmp(t, "sort")) {
		*type = "INDIRECT";
		*subtype = !strcmp(t, "filter") ? "FILTER" : !strcmp(t, "group_by") ? "GROUP_BY"
			   : !strcmp(t, "join") ? "JOIN" : "SORT";
	} else
		*subtype = "TRANSFORMATION";
}

static void add_edge(cJSON *doc, const char *stage, const cJSON *out_ds, const char *out_field,
		     const cJSON *in_ds, const char *in_field, const char *transformation,
		     int inferred)
{
	const char *type, *subtype;
	cJSON *e = cJSON_CreateObject();

	map_transform(transformation, &type, &subtype);
	cJSON_AddStringToObject(e, "stage", stage);
	cJSON *o = cJSON_AddObjectToObject(e, "output");
	cJSON_AddStringToObject(o, "dataset", ade_json_str(out_ds, "id", ""));
	cJSON_AddStringToObject(o, "field", out_field);
	cJSON *i = cJSON_AddObjectToObject(e, "input");
	cJSON_AddStringToObject(i, "dataset", ade_json_str(in_ds, "id", ""));
	cJSON_AddStringToObject(i, "field", in_field);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddStringToObject(e, "subtype", subtype);
	cJSON_AddStringToObject(e, "transformation", transformation ? transformation : "identity");
	cJSON_AddBoolToObject(e, "inferred", inferred);
	cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "column_lineage"), e);
}

/* Identity by name, one-hot "col=value" from col; marked inferred. */
static int infer_columns(cJSON *doc, const char *stage, const cJSON *out_ds, cJSON *in_ds)
{
	const cJSON *icols = cJSON_GetObjectItem(in_ds, "columns");
	const cJSON *c;
	int n = 0;

	if (!icols && cJSON_GetArraySize(cJSON_GetObjectItem(out_ds, "columns"))) {
		/* An input of unknown shape (a CSV file) has the columns read from it. */
		cJSON *cols = cJSON_CreateArray();
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(out_ds, "columns")) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "name", ade_json_str(c, "name", ""));
			cJSON_AddStringToObject(x, "type", ade_json_str(c, "type", "unknown"));
			cJSON_AddItemToArray(cols, x);
		}
		cJSON_AddItemToObject(in_ds, "columns", cols);
		cJSON_AddBoolToObject(in_ds, "columns_inferred", 1);
		icols = cols;
	}

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(out_ds, "columns")) {
		const char *name = ade_json_str(c, "name", "");
		const char *eq = strchr(name, '=');
		if (find_column(icols, name)) {
			add_edge(doc, stage, out_ds, name, in_ds, name, "identity", 1);
			n++;
		} else if (eq && eq > name) {
			char *base = ade_xstrndup(name, (size_t)(eq - name));
			if (find_column(icols, base)) {
				add_edge(doc, stage, out_ds, name, in_ds, base, "one_hot_encoding", 1);
				n++;
			}
			free(base);
		}
	}
	return n;
}

/* ade-train's model.json: the target and every feature come from the input. */
static int model_lineage(cJSON *doc, const char *stage, cJSON *out_ds, const cJSON *in_ds)
{
	cJSON *m = NULL;
	int n = 0;

	if (ade_json_read_file(ade_json_str(out_ds, "name", ""), &m, NULL))
		return 0;
	const char *target = ade_json_str(m, "target", NULL);
	cJSON *cols = cJSON_CreateArray();
	if (target) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", target);
		cJSON_AddStringToObject(c, "type", "target");
		cJSON_AddItemToArray(cols, c);
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(m, "features")) {
		const char *name = ade_json_str(f, "name", NULL);
		if (!name)
			continue;
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", name);
		cJSON_AddStringToObject(c, "type", ade_json_str(f, "kind", "feature"));
		cJSON_AddItemToArray(cols, c);
	}
	if (!cJSON_GetObjectItem(out_ds, "columns"))
		cJSON_AddItemToObject(out_ds, "columns", cols);
	else
		cJSON_Delete(cols);
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(out_ds, "columns")) {
		const char *name = ade_json_str(c, "name", "");
		add_edge(doc, stage, out_ds, name, in_ds, name,
			 target && !strcmp(name, target) ? "model_target" : "model_feature", 0);
		n++;
	}
	cJSON_Delete(m);
	return n;
}

/* ade-analytics' sets: group columns are kept, metrics aggregate a column. */
static int analytics_lineage(cJSON *doc, const char *stage, const cJSON *result,
			     const cJSON *out_ds, const cJSON *in_ds)
{
	const char *label = ade_json_str(out_ds, "label", "");
	const char *set = strstr(label, "/sets/");
	const cJSON *def, *x;
	int n = 0;

	if (!set || !(def = cJSON_GetObjectItem(cJSON_GetObjectItem(result, "sets"), set + 6)))
		return 0;
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(def, "group_by")) {
		if (cJSON_IsString(x)) {
			add_edge(doc, stage, out_ds, x->valuestring, in_ds, x->valuestring, "identity", 0);
			n++;
		}
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(def, "metrics")) {
		const char *col = ade_json_str(x, "column", NULL);
		if (col) {
			add_edge(doc, stage, out_ds, ade_json_str(x, "name", ""), in_ds, col,
				 "aggregation", 0);
			n++;
		}
	}
	return n;
}

/* ---- stages ---------------------------------------------------------------- */

struct stage_in {
	char *name;
	cJSON *result; /* NULL: opaque stage */
	int borrowed;  /* result belongs to the results cache */
	char *out_dir;
	int done;
};

/* Keyed by "run_dir/stage"; result NULL: published without result.json. */
struct ade_lineage_results {
	struct ade_strmap map;
	struct cached_result {
		char *key;
		cJSON *result;
	} *v;
	int n, cap;
};

struct ade_lineage_results *ade_lineage_results_new(void)
{
	return ade_xcalloc(1, sizeof(struct ade_lineage_results));
}

void ade_lineage_results_forget(struct ade_lineage_results *r, const char *run_dir)
{
	size_t n = strlen(run_dir);
	int kept = 0;

	if (!r)
		return;
	ade_strmap_free(&r->map);
	for (int i = 0; i < r->n; i++) {
		if (!strncmp(r->v[i].key, run_dir, n) && r->v[i].key[n] == '/') {
			free(r->v[i].key);
			cJSON_Delete(r->v[i].result);
			continue;
		}
		r->v[kept] = r->v[i];
		ade_strmap_put(&r->map, r->v[kept].key, kept);
		kept++;
	}
	r->n = kept;
}

void ade_lineage_results_free(struct ade_lineage_results *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++) {
		free(r->v[i].key);
		cJSON_Delete(r->v[i].result);
	}
	free(r->v);
	ade_strmap_free(&r->map);
	free(r);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct stage_in *)a)->name, ((const struct stage_in *)b)->name);
}

/* 1 when every input of s that another stage of the run writes is known. */
static int inputs_ready(cJSON *doc, struct stage_in *st, int n, struct stage_in *s,
			const struct ade_lineage_run *run)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(s->result, "datasets"), "inputs")) {
		const char *path = ade_json_str(e, "path", "");
		for (int k = 0; k < n; k++) {
			size_t l = strlen(st[k].out_dir);
			if (&st[k] != s && !st[k].done && st[k].result && !strncmp(path, st[k].out_dir, l) &&
			    (path[l] == '/' || !path[l]))
				return 0;
		}
	}
	(void)doc;
	(void)run;
	return 1;
}

static void process_stage(cJSON *doc, const struct ade_lineage_run *run, struct stage_in *s,
			  cJSON *stage_obj)
{
	const cJSON *dsets = cJSON_GetObjectItem(s->result, "datasets");
	cJSON *ins = cJSON_AddArrayToObject(stage_obj, "inputs");
	cJSON *outs = cJSON_AddArrayToObject(stage_obj, "outputs");
	cJSON *main_in = NULL;
	const cJSON *e;
	int reported = 0, inferred = 0;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(dsets, "inputs")) {
		cJSON *d = dataset_from_entry(doc, run, s->result, s->out_dir, e);
		if (!d)
			continue;
		cJSON_AddItemToArray(ins, cJSON_CreateString(ade_json_str(d, "id", "")));
		cJSON_AddItemToArray(cJSON_GetObjectItem(d, "consumers"), cJSON_CreateString(s->name));
		if (!main_in || (strcmp(ade_json_str(main_in, "format", ""), "ade-frame") &&
				 !strcmp(ade_json_str(d, "format", ""), "ade-frame")))
			main_in = d;
	}
	/* Richer per-column statistics (ade-schema's profile) for its output frame. */
	const cJSON *profile = cJSON_GetObjectItem(cJSON_GetObjectItem(s->result, "schema"), "columns");
	const cJSON *cl = cJSON_GetObjectItem(s->result, "column_lineage");
	cJSON *frame_out = NULL;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(dsets, "outputs")) {
		cJSON *d = dataset_from_entry(doc, run, s->result, s->out_dir, e);
		if (!d)
			continue;
		cJSON_AddItemToArray(outs, cJSON_CreateString(ade_json_str(d, "id", "")));
		set_item(d, "producer", cJSON_CreateString(s->name));
		if (!frame_out && !strcmp(ade_json_str(d, "format", ""), "ade-frame"))
			frame_out = d;
		if (profile && d == frame_out) {
			cJSON *c;
			cJSON_ArrayForEach(c, cJSON_GetObjectItem(d, "columns")) {
				const cJSON *p = find_column(profile, ade_json_str(c, "name", ""));
				const cJSON *pst = p ? cJSON_GetObjectItem(p, "stats") : NULL;
				if (cJSON_IsObject(pst))
					set_item(c, "stats", cJSON_Duplicate(pst, 1));
			}
		}
		if (!main_in)
			continue;
		const char *fmt = ade_json_str(d, "format", "");
		if (cJSON_IsArray(cl) && d == frame_out) {
			const cJSON *x;
			cJSON_ArrayForEach(x, cl) {
				const cJSON *from;
				cJSON_ArrayForEach(from, cJSON_GetObjectItem(x, "inputs")) {
					if (!cJSON_IsString(from))
						continue;
					add_edge(doc, s->name, d, ade_json_str(x, "output", ""), main_in,
						 from->valuestring, ade_json_str(x, "transformation", NULL), 0);
					reported++;
				}
			}
		} else if (!strcmp(fmt, "ade-model")) {
			reported += model_lineage(doc, s->name, d, main_in);
		} else if (strstr(ade_json_str(d, "label", ""), "/sets/") &&
			   cJSON_GetObjectItem(s->result, "sets")) {
			reported += analytics_lineage(doc, s->name, s->result, d, main_in);
		} else if (!strcmp(fmt, "ade-frame") || !strcmp(fmt, "sqlite") ||
			   cJSON_GetObjectItem(d, "table")) {
			/*
			 * A warehouse table without a schema in result.json holds
			 * the columns of the frame it was loaded from.
			 */
			if (!cJSON_GetObjectItem(d, "columns") && cJSON_GetObjectItem(main_in, "columns")) {
				cJSON_AddItemToObject(d, "columns",
						      cJSON_Duplicate(cJSON_GetObjectItem(main_in, "columns"), 1));
				cJSON_AddBoolToObject(d, "columns_inferred", 1);
			}
			inferred += infer_columns(doc, s->name, d, main_in);
		}
	}
	cJSON_AddStringToObject(stage_obj, "column_lineage",
				reported ? "reported" : inferred ? "inferred" : "none");
	/* ade-validate's rules, as data-quality assertions on its input. */
	const cJSON *rules = cJSON_GetObjectItem(s->result, "rules");
	if (cJSON_IsArray(rules) && main_in) {
		cJSON *as = cJSON_AddArrayToObject(stage_obj, "assertions");
		const cJSON *r;
		cJSON_ArrayForEach(r, rules) {
			cJSON *a = cJSON_CreateObject();
			cJSON_AddStringToObject(a, "dataset", ade_json_str(main_in, "id", ""));
			cJSON_AddStringToObject(a, "assertion", ade_json_str(r, "kind", "custom"));
			cJSON_AddBoolToObject(a, "success", ade_json_bool(r, "passed", 0));
			if (ade_json_str(r, "column", NULL))
				cJSON_AddStringToObject(a, "column", ade_json_str(r, "column", ""));
			cJSON_AddStringToObject(a, "severity", ade_json_str(r, "severity", "fail"));
			cJSON_AddStringToObject(a, "name", ade_json_str(r, "name", ""));
			const cJSON *f = cJSON_GetObjectItem(r, "failures");
			if (cJSON_IsNumber(f)) {
				char buf[32];
				snprintf(buf, sizeof(buf), "%.0f", f->valuedouble);
				cJSON_AddStringToObject(a, "actual", buf);
			}
			cJSON_AddItemToArray(as, a);
		}
	}
}

/* ---- state.db ------------------------------------------------------------ */

static void col_text(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_TEXT)
		cJSON_AddStringToObject(o, key, (const char *)sqlite3_column_text(s, i));
}

static void col_num(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) != SQLITE_NULL)
		cJSON_AddNumberToObject(o, key, sqlite3_column_double(s, i));
}

/*
 * The document's stage objects by name: a run of a thousand stages looks
 * one up per stage and per state.db row.  Keys are the objects' own name
 * strings.
 */
struct stage_index {
	struct ade_strmap map;
	cJSON **objs;
	int n, cap;
};

static void index_add(struct stage_index *ix, cJSON *s)
{
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");

	if (!cJSON_IsString(nm) || ade_strmap_get(&ix->map, nm->valuestring) >= 0)
		return;
	if (ix->n == ix->cap) {
		ix->cap = ix->cap ? 2 * ix->cap : 64;
		ix->objs = ade_xrealloc(ix->objs, sizeof(*ix->objs) * (size_t)ix->cap);
	}
	ix->objs[ix->n] = s;
	ade_strmap_put(&ix->map, nm->valuestring, ix->n);
	ix->n++;
}

/* An index of the stages doc holds now. */
static void index_init(struct stage_index *ix, cJSON *doc)
{
	cJSON *s;

	memset(ix, 0, sizeof(*ix));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stages"))
		index_add(ix, s);
}

static void index_free(struct stage_index *ix)
{
	ade_strmap_free(&ix->map);
	free(ix->objs);
}

/* The stage object called name, added to doc (and ix) when missing. */
static cJSON *stage_obj_get(cJSON *doc, struct stage_index *ix, const char *name)
{
	int k = ade_strmap_get(&ix->map, name);

	if (k >= 0)
		return ix->objs[k];
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "name", name);
	cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "stages"), s);
	index_add(ix, s);
	return s;
}

/* Adds states and resources; a missing or busy state.db only loses them. */
static int read_state(cJSON *doc, const struct ade_lineage_run *run, struct ade_error *err)
{
	char *path = ade_xasprintf("file:%s/state.db?mode=ro", run->home);
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc = 0;
	struct stage_index ix;

	index_init(&ix, doc);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "cannot open '%s/state.db': %s", run->home,
				   db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db,
			       "SELECT run_id, state, started_at, ended_at FROM runs "
			       "WHERE pipeline = ?1 AND ds = ?2 AND run_number = ?3",
			       -1, &s, NULL) != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "state.db: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(s, 1, run->pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, run->ds, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, run->run_number);
	if (sqlite3_step(s) != SQLITE_ROW) {
		rc = ade_error_set(err, ADE_ENOTFOUND, "no run %s/%s/%d in state.db", run->pipeline,
				   run->ds, run->run_number);
		goto out;
	}
	set_item(doc, "run_id",
				  cJSON_CreateString((const char *)sqlite3_column_text(s, 0)));
	set_item(doc, "state",
				  cJSON_CreateString((const char *)sqlite3_column_text(s, 1)));
	col_text(doc, "started_at", s, 2);
	col_text(doc, "ended_at", s, 3);
	char *run_id = ade_xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT stage, state, attempts FROM stages WHERE run_id = ?1",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(s) == SQLITE_ROW) {
			cJSON *o = stage_obj_get(doc, &ix, (const char *)sqlite3_column_text(s, 0));
			set_item(o, "state", cJSON_CreateString(
							      (const char *)sqlite3_column_text(s, 1)));
			cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 2));
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	/* The last attempt of each stage is the one that counts. */
	if (sqlite3_prepare_v2(db,
			       "SELECT stage, attempt, started_at, ended_at, wall_ms, user_ms, sys_ms, "
			       "maxrss_kb, exit_code, signal, reason FROM attempts WHERE run_id = ?1 "
			       "ORDER BY stage, attempt",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(s) == SQLITE_ROW) {
			cJSON *o = stage_obj_get(doc, &ix, (const char *)sqlite3_column_text(s, 0));
			cJSON *a = cJSON_CreateObject();
			cJSON_AddNumberToObject(a, "attempt", sqlite3_column_int(s, 1));
			col_text(a, "started_at", s, 2);
			col_text(a, "ended_at", s, 3);
			col_num(a, "duration_ms", s, 4);
			col_num(a, "user_ms", s, 5);
			col_num(a, "sys_ms", s, 6);
			col_num(a, "peak_rss_kb", s, 7);
			col_num(a, "exit_code", s, 8);
			col_num(a, "signal", s, 9);
			col_text(a, "reason", s, 10);
			set_item(o, "last_attempt", a);
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	free(run_id);
out:
	index_free(&ix);
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(path);
	return rc;
}

/* ---- the document ---------------------------------------------------------- */

/* Keeps a published stage's result (NULL: none) under key, which cache takes. */
static void cache_put(struct ade_lineage_results *cache, char *key, cJSON *result)
{
	if (cache->n == cache->cap) {
		cache->cap = cache->cap ? 2 * cache->cap : 64;
		cache->v = ade_xrealloc(cache->v, sizeof(*cache->v) * (size_t)cache->cap);
	}
	cache->v[cache->n].key = key;
	cache->v[cache->n].result = result;
	ade_strmap_put(&cache->map, key, cache->n);
	cache->n++;
}

/* Whether out_dir is published, and its result.json (NULL: none) when it is. */
static int read_published(const char *out_dir, cJSON **result)
{
	struct stat sb;

	*result = NULL;
	if (stat(out_dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return 0;
	char *rp = ade_xconcat(out_dir, "/result.json", NULL);
	/* No result.json (a stage that wrote none) reads as no result. */
	if (ade_json_read_file(rp, result, NULL))
		*result = NULL;
	free(rp);
	return 1;
}

/*
 * Adds run_dir/name to st[] if it is a stage folder: one that holds out/ or
 * an attempt's log.  The stat of out/ settles the common case without
 * listing the folder.
 */
static void stage_add(const char *run_dir, const char *name, struct ade_lineage_results *cache,
		      struct stage_in **st, int *n, int *cap)
{
	char *p = ade_xconcat(run_dir, "/", name, NULL);
	char *outd = ade_xconcat(p, "/out", NULL);
	int hit = cache ? ade_strmap_get(&cache->map, p) : -1;
	if (hit >= 0) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*st = ade_xrealloc(*st, (size_t)*cap * sizeof(**st));
		}
		(*st)[(*n)++] = (struct stage_in){.name = ade_xstrdup(name), .out_dir = outd,
						  .result = cache->v[hit].result, .borrowed = 1};
		free(p);
		return;
	}
	cJSON *result = NULL;
	int published = read_published(outd, &result);
	int is_stage = published;
	if (!is_stage) {
		DIR *sd = opendir(p);
		if (sd) {
			struct dirent *x;
			while (!is_stage && (x = readdir(sd)))
				is_stage = !strncmp(x->d_name, "attempt-", 8);
			closedir(sd);
		}
	}
	if (!is_stage) {
		free(p);
		free(outd);
		return;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*st = ade_xrealloc(*st, (size_t)*cap * sizeof(**st));
	}
	struct stage_in *s = &(*st)[*n];
	*s = (struct stage_in){.name = ade_xstrdup(name), .out_dir = outd, .result = result};
	if (cache && published) {
		cache_put(cache, p, s->result);
		s->borrowed = 1;
		p = NULL;
	}
	free(p);
	(*n)++;
}

/* The stage names of run->only that a document reads (no duplicates, no paths). */
static int only_wanted(const struct ade_lineage_run *run, int k)
{
	if (run->only[k][0] == '.' || strchr(run->only[k], '/'))
		return 0;
	for (int j = 0; j < k; j++)
		if (!strcmp(run->only[j], run->only[k]))
			return 0;
	return 1;
}

int ade_lineage_doc_opaque(const struct ade_lineage_run *run)
{
	if (!run->only || !run->results)
		return 0;
	for (int k = 0; k < run->n_only; k++) {
		if (!only_wanted(run, k))
			continue;
		char *key = ade_xconcat(run->run_dir, "/", run->only[k], NULL);
		int hit = ade_strmap_get(&run->results->map, key);
		if (hit >= 0) {
			free(key);
			if (run->results->v[hit].result)
				return 0;
			continue;
		}
		/* Read once, as ade_lineage_doc_build would, and kept for it. */
		char *outd = ade_xconcat(key, "/out", NULL);
		cJSON *result = NULL;
		int published = read_published(outd, &result);
		free(outd);
		if (published)
			cache_put(run->results, key, result);
		else
			free(key); /* unpublished: no datasets, nothing to keep */
		if (result)
			return 0;
	}
	return 1;
}

int ade_lineage_doc_build(const struct ade_lineage_run *run, cJSON **out, struct ade_error *err)
{
	struct stage_in *st = NULL;
	int n = 0, cap = 0, rc = 0;

	*out = NULL;
	if (run->only) {
		/*
		 * A stage event names its few stages: listing a run of thousands
		 * of stages for each event made a long chain quadratic.
		 */
		for (int k = 0; k < run->n_only; k++)
			if (only_wanted(run, k))
				stage_add(run->run_dir, run->only[k], run->results, &st, &n, &cap);
	} else {
		DIR *dir = opendir(run->run_dir);
		struct dirent *de;
		if (!dir)
			return ade_error_set(err, ADE_ENOTFOUND, "no run directory '%s'", run->run_dir);
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				stage_add(run->run_dir, de->d_name, run->results, &st, &n, &cap);
		closedir(dir);
	}
	if (n > 1)
		qsort(st, (size_t)n, sizeof(*st), cmp_name);

	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "format", "ade-lineage");
	cJSON_AddNumberToObject(doc, "format_version", 1);
	cJSON_AddStringToObject(doc, "producer", ADE_LINEAGE_PRODUCER);
	cJSON_AddStringToObject(doc, "pipeline", run->pipeline);
	cJSON_AddStringToObject(doc, "ds", run->ds);
	cJSON_AddNumberToObject(doc, "run_number", run->run_number);
	cJSON_AddStringToObject(doc, "run_id", run->run_id ? run->run_id : "");
	cJSON_AddStringToObject(doc, "run_dir", run->run_dir);
	cJSON_AddStringToObject(doc, "state", "unknown");
	cJSON_AddArrayToObject(doc, "stages");
	cJSON_AddArrayToObject(doc, "edges");
	cJSON_AddArrayToObject(doc, "datasets");
	cJSON_AddArrayToObject(doc, "column_lineage");
	struct stage_index ix;
	index_init(&ix, doc);
	for (int k = 0; k < n; k++) {
		cJSON *o = stage_obj_get(doc, &ix, st[k].name);
		cJSON_AddStringToObject(o, "state", st[k].result ? "success" : "unknown");
		if (st[k].result) {
			cJSON_AddStringToObject(o, "producer", ade_json_str(st[k].result, "producer", ""));
			cJSON_AddStringToObject(o, "status", ade_json_str(st[k].result, "status", ""));
		} else {
			cJSON_AddBoolToObject(o, "opaque", 1);
		}
	}
	/* Upstream stages first, so inferred columns flow down the DAG. */
	for (int left = n, pass = 0; left > 0 && pass <= n; pass++) {
		for (int k = 0; k < n; k++) {
			if (st[k].done)
				continue;
			if (st[k].result && pass < n && !inputs_ready(doc, st, n, &st[k], run))
				continue;
			if (st[k].result)
				process_stage(doc, run, &st[k], stage_obj_get(doc, &ix, st[k].name));
			st[k].done = 1;
			left--;
		}
	}
	/* Edges between stages: one per dataset that flows from one to another. */
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "datasets")) {
		const char *prod = ade_json_str(d, "producer", NULL);
		const cJSON *c;
		if (!prod)
			continue;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(d, "consumers")) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "from", prod);
			cJSON_AddStringToObject(e, "to", c->valuestring);
			cJSON_AddStringToObject(e, "dataset", ade_json_str(d, "id", ""));
			cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "edges"), e);
		}
	}
	index_free(&ix);
	if (run->use_state_db && (rc = read_state(doc, run, err)))
		ade_error_prefix(err, "lineage");
	for (int k = 0; k < n; k++) {
		free(st[k].name);
		free(st[k].out_dir);
		if (!st[k].borrowed)
			cJSON_Delete(st[k].result);
	}
	free(st);
	if (rc && rc != ADE_EDB) {
		cJSON_Delete(doc);
		return rc;
	}
	/* An unreadable state.db loses states, not the lineage. */
	if (rc)
		cJSON_AddStringToObject(doc, "warning", err ? err->msg : "state.db unreadable");
	*out = doc;
	return 0;
}

int ade_lineage_doc_refresh_state(cJSON *doc, const struct ade_lineage_run *run,
				  struct ade_error *err)
{
	return read_state(doc, run, err);
}

cJSON *ade_lineage_doc_stored(const char *run_dir, int (*allow)(void *arg, const char *path),
			      void *arg)
{
	DIR *d = opendir(run_dir);
	struct dirent *de;
	cJSON *doc = NULL;

	if (!d)
		return NULL;
	while (!doc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = ade_xasprintf("%s/%s/out/lineage.json", run_dir, de->d_name);
		if (ade_fs_exists(p) && (!allow || allow(arg, p)) &&
		    ade_json_read_file(p, &doc, NULL))
			doc = NULL;
		if (doc && strcmp(ade_json_str(doc, "format", ""), "ade-lineage")) {
			cJSON_Delete(doc);
			doc = NULL;
		}
		free(p);
	}
	closedir(d);
	return doc;
}
