/*
 * ade-warehouse: loads one (pipeline, ds[, batch]) into the warehouse in
 * one transaction: the facts frame of the stage named by `facts:` into
 * the table named by `table:`, and the result.json of every upstream
 * stage (ADE_IN_*), dispatched on its producer.  See docs/warehouse.md.
 */
#include "warehouse/warehouse.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/stage.h"
#include "core/util.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

struct input_list {
	struct ade_warehouse_input *v;
	char **names;
	int n;
};

/* Every ADE_IN_<STAGE>, the stage name lower-cased. */
static void collect_inputs(struct input_list *in)
{
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "ADE_IN_", 7) || !eq || eq == *e + 7 || !eq[1])
			continue;
		char *name = ade_xstrndup(*e + 7, (size_t)(eq - *e - 7));
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		in->v = ade_xrealloc(in->v, sizeof(*in->v) * (size_t)(in->n + 1));
		in->names = ade_xrealloc(in->names, sizeof(*in->names) * (size_t)(in->n + 1));
		in->names[in->n] = name;
		in->v[in->n] = (struct ade_warehouse_input){name, eq + 1};
		in->n++;
	}
}

/*
 * Without `facts:`, the frame of the most downstream upstream stage that
 * has one: validate, quality, schema, ingest by producer; else the only
 * upstream frame.
 */
static const char *default_facts(const struct input_list *in, const char **stage)
{
	static const char *const order[] = {"ade-validate", "ade-quality", "ade-schema", "ade-ingest"};
	int best = 99, only = -1, nframes = 0;
	const char *dir = NULL;

	for (int i = 0; i < in->n; i++) {
		char *f = ade_xasprintf("%s/frame/schema.json", in->v[i].dir);
		char *r = ade_xasprintf("%s/result.json", in->v[i].dir);
		cJSON *res = NULL;
		if (ade_fs_exists(f)) {
			nframes++;
			only = i;
			if (ade_fs_exists(r) && !ade_json_read_file(r, &res, NULL)) {
				const char *p = ade_json_str(res, "producer", "");
				for (int k = 0; k < 4; k++)
					if (!strcmp(p, order[k]) && k < best) {
						best = k;
						dir = in->v[i].dir;
						*stage = in->v[i].stage;
					}
				cJSON_Delete(res);
			}
		}
		free(f);
		free(r);
	}
	if (!dir && nframes == 1) {
		dir = in->v[only].dir;
		*stage = in->v[only].stage;
	}
	return dir;
}

static int run(struct ade_stage_ctx *ctx, struct ade_error *err, int *exit_code)
{
	static const char *const keys[] = {"table", "facts", "indexes", "rows_per_insert", NULL};
	struct input_list in = {0};
	struct ade_warehouse_load ld = {0};
	const cJSON *e, *cfg = ctx->config;
	const char *table = ctx->pipeline, *facts_stage = NULL, *facts_dir = NULL;
	char *frame = NULL;
	sqlite3 *db = NULL;
	cJSON *report = cJSON_CreateObject();
	int64_t t0 = ade_now_mono_ns();
	int rc = 0, no_facts = 0;

	*exit_code = ADE_EXIT_USAGE;
	cJSON_ArrayForEach(e, cfg)
	{
		int known = 0;
		for (int k = 0; keys[k]; k++)
			known |= !strcmp(e->string, keys[k]);
		if (!known) {
			char ptr[300];
			snprintf(ptr, sizeof(ptr), "/%s", e->string);
			rc = ade_stage_config_error(ctx, err, ptr,
						    "unknown key '%s' (known: table, facts, indexes, "
						    "rows_per_insert)",
						    e->string);
			goto out;
		}
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "table"))) {
		if (!cJSON_IsString(e) || ade_warehouse_ident_check("table", e->valuestring, NULL) ||
		    !strncasecmp(e->valuestring, "sqlite_", 7)) {
			rc = ade_stage_config_error(ctx, err, "/table",
						    "table must be a name (1..256 bytes of UTF-8, no "
						    "control characters, not sqlite_*)");
			goto out;
		}
		table = e->valuestring;
	}
	static const char *const reserved[] = {
		"loads",          "kpi_history",        "analytics",         "quality_results",
		"healing_log",    "validation_results", "validation_violations", "schema_versions",
		"schema_changes", "quarantine_counts",  "model_metrics",     "feature_versions",
		"facts_columns",  NULL};
	for (int k = 0; reserved[k]; k++)
		if (!strcasecmp(table, reserved[k])) {
			rc = ade_stage_config_error(ctx, err, "/table",
						    "'%s' is one of the warehouse's own tables; "
						    "choose another name",
						    table);
			goto out;
		}
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "indexes"))) {
		const cJSON *ix, *c;
		int okay = cJSON_IsArray(e);
		const cJSON *list = okay ? e : NULL;
		cJSON_ArrayForEach(ix, list)
		{
			if (cJSON_IsString(ix))
				continue;
			okay &= cJSON_IsArray(ix) && cJSON_GetArraySize(ix) > 0;
			cJSON_ArrayForEach(c, ix)
				okay &= cJSON_IsString(c);
		}
		if (!okay) {
			rc = ade_stage_config_error(ctx, err, "/indexes",
						    "indexes must be a list of column names or of "
						    "lists of column names");
			goto out;
		}
		ld.indexes = e;
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "rows_per_insert"))) {
		if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 1000 ||
		    e->valuedouble != (int)e->valuedouble) {
			rc = ade_stage_config_error(ctx, err, "/rows_per_insert",
						    "rows_per_insert must be an integer from 1 to 1000");
			goto out;
		}
		ld.rows_per_insert = e->valueint;
	}
	collect_inputs(&in);
	if ((e = cJSON_GetObjectItemCaseSensitive(cfg, "facts"))) {
		if (cJSON_IsFalse(e) || cJSON_IsNull(e)) {
			no_facts = 1;
		} else if (!cJSON_IsString(e) || !(facts_dir = ade_stage_input_dir(e->valuestring))) {
			rc = ade_stage_config_error(ctx, err, "/facts",
						    "facts must name an upstream stage listed in needs:");
			goto out;
		} else {
			facts_stage = e->valuestring;
		}
	} else {
		facts_dir = default_facts(&in, &facts_stage);
	}
	if (facts_dir) {
		frame = ade_xasprintf("%s/frame", facts_dir);
		if (!ade_fs_exists(frame)) {
			*exit_code = ADE_EXIT_FAILED;
			rc = ade_error_set(err, ADE_ENOTFOUND, "stage %s wrote no frame (%s)",
					   facts_stage, frame);
			goto out;
		}
	}
	if (!ctx->warehouse) {
		rc = ade_error_set(err, ADE_EINVAL, "ADE_WAREHOUSE is not set");
		goto out;
	}

	ld.pipeline = ctx->pipeline;
	ld.ds = ctx->ds;
	ld.batch = ctx->batch;
	ld.run_id = ctx->run_id;
	ld.table = frame ? table : NULL;
	ld.facts_dir = frame;
	ld.facts_stage = facts_stage;
	ld.inputs = in.v;
	ld.n_inputs = in.n;
	*exit_code = ADE_EXIT_FAILED;
	if (!(rc = ade_warehouse_open(ctx->warehouse, &db, err)))
		rc = ade_warehouse_load(db, &ld, report, err);
	if (rc) {
		if (rc == ADE_EBUSY)
			*exit_code = ADE_EXIT_TEMPFAIL;
		goto out;
	}
	if (!frame && !no_facts)
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(report, "notes"),
				     cJSON_CreateString("no upstream frame: no facts loaded"));

	double secs = (double)(ade_now_mono_ns() - t0) / 1e9;
	const cJSON *facts = cJSON_GetObjectItemCaseSensitive(report, "facts");
	double rows = ade_json_num(facts, "rows", 0);
	cJSON *res = ade_stage_result_new(ctx, "ok");
	cJSON_AddNumberToObject(res, "rows_in", rows);
	cJSON_AddNumberToObject(res, "rows_out", rows);
	cJSON_AddStringToObject(res, "warehouse", ctx->warehouse);
	cJSON_AddNumberToObject(res, "schema_version", ADE_WAREHOUSE_SCHEMA_VERSION);
	cJSON_AddStringToObject(res, "batch", ctx->batch ? ctx->batch : "");
	cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
	cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
	cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
	if (frame) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "path", frame);
		cJSON_AddStringToObject(d, "format", "ade-frame");
		cJSON_AddNumberToObject(d, "rows", rows);
		if (ade_json_str(facts, "hash", NULL))
			cJSON_AddStringToObject(d, "hash", ade_json_str(facts, "hash", ""));
		cJSON_AddItemToArray(ins, d);
		d = cJSON_CreateObject();
		char *p = ade_xasprintf("%s#%s", ctx->warehouse, table);
		cJSON_AddStringToObject(d, "path", p);
		free(p);
		cJSON_AddStringToObject(d, "format", "sqlite");
		cJSON_AddStringToObject(d, "table", table);
		cJSON_AddNumberToObject(d, "rows", rows);
		cJSON_AddItemToArray(outs, d);
	}
	cJSON_AddItemToObject(res, "facts", cJSON_Duplicate(facts, 1));
	cJSON_AddItemToObject(res, "tables",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(report, "tables"), 1));
	cJSON_AddItemToObject(res, "notes",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(report, "notes"), 1));
	cJSON *m = cJSON_AddObjectToObject(res, "metrics");
	cJSON_AddNumberToObject(m, "seconds", secs);
	if (rows > 0 && ade_json_num(facts, "seconds", 0) > 0)
		cJSON_AddNumberToObject(m, "rows_per_second", rows / ade_json_num(facts, "seconds", 1));
	cJSON_AddArrayToObject(res, "warnings");
	rc = ade_stage_result_write(ctx, res, err);
	cJSON_Delete(res);
	if (!rc) {
		const cJSON *n;
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(report, "notes"))
			ade_log_info("%s", n->valuestring);
		ade_log_info("loaded %s %s%s%s: %.0f facts rows into %s in %.2fs", ctx->pipeline,
			     ctx->ds, ctx->batch ? " batch " : "", ctx->batch ? ctx->batch : "", rows,
			     frame ? table : "(no facts)", secs);
		*exit_code = 0;
	}
out:
	sqlite3_close(db);
	cJSON_Delete(report);
	free(frame);
	for (int i = 0; i < in.n; i++)
		free(in.names[i]);
	free(in.names);
	free(in.v);
	return rc;
}

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	int rc, code;

	ade_warehouse_config_single_thread();
	ade_log_set_prog("ade-warehouse");
	ade_log_init_from_env();
	rc = ade_stage_init(&ctx, &err);
	if (rc) {
		ade_log_error("%s", err.msg);
		return ADE_EXIT_USAGE;
	}
	rc = run(&ctx, &err, &code);
	if (rc)
		ade_log_error("%s", err.msg);
	ade_stage_release(&ctx);
	return rc ? code : 0;
}
