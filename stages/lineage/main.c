/*
 * ade-lineage: writes ADE_OUT/lineage.json, the lineage document of the
 * run it is part of (docs/lineage.md).  It reads every stage's published
 * result.json under ADE_RUN_DIR and the run's rows in ADE_HOME/state.db
 * (read-only), so it runs last, with `trigger: all_done`.
 */
#include "lineage/lineage.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/stage.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	cJSON *doc = NULL;
	int rc;

	ade_log_set_prog("ade-lineage");
	ade_log_init_from_env();
	if ((rc = ade_stage_init(&ctx, &err))) {
		fprintf(stderr, "ade-lineage: %s\n", err.msg);
		return 2;
	}
	const char *run_dir = getenv("ADE_RUN_DIR");
	const char *base = run_dir ? strrchr(run_dir, '/') : NULL;
	int run_number = base && !strncmp(base, "/run-", 5) ? atoi(base + 5) : 0;
	if (!run_dir || !*run_dir || run_dir[0] != '/') {
		fprintf(stderr, "ade-lineage: ADE_RUN_DIR is not set to an absolute path\n");
		ade_stage_release(&ctx);
		return 2;
	}
	struct ade_lineage_run run = {.home = ctx.home, .run_dir = run_dir, .pipeline = ctx.pipeline,
				      .ds = ctx.ds, .run_number = run_number, .run_id = ctx.run_id,
				      .use_state_db = 1};
	if ((rc = ade_lineage_doc_build(&run, &doc, &err))) {
		fprintf(stderr, "ade-lineage: %s\n", err.msg);
		ade_stage_release(&ctx);
		return 1;
	}
	char *path = ade_xasprintf("%s/lineage.json", ctx.out);
	rc = ade_json_write_file(path, doc, 1, &err);
	free(path);
	if (!rc) {
		cJSON *res = ade_stage_result_new(&ctx, "ok");
		cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
		cJSON_AddArrayToObject(ds, "inputs");
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", "lineage.json");
		cJSON_AddStringToObject(o, "format", "ade-lineage");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(ds, "outputs"), o);
		cJSON *m = cJSON_AddObjectToObject(res, "metrics");
		static const char *keys[] = {"stages", "edges", "datasets", "column_lineage"};
		for (int k = 0; k < 4; k++)
			cJSON_AddNumberToObject(m, keys[k], cJSON_GetArraySize(cJSON_GetObjectItem(doc, keys[k])));
		cJSON *w = cJSON_AddArrayToObject(res, "warnings");
		if (ade_json_str(doc, "warning", NULL))
			cJSON_AddItemToArray(w, cJSON_CreateString(ade_json_str(doc, "warning", "")));
		rc = ade_stage_result_write(&ctx, res, &err);
		cJSON_Delete(res);
	}
	cJSON_Delete(doc);
	ade_stage_release(&ctx);
	if (rc) {
		fprintf(stderr, "ade-lineage: %s\n", err.msg);
		return 1;
	}
	return 0;
}
