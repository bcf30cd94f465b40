/* Unit tests for core/stage: reading the stage contract and writing results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "core/stage.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *contract_vars[] = {
	"ADE_PIPELINE", "ADE_STAGE",  "ADE_DS",       "ADE_INTERVAL_START", "ADE_INTERVAL_END",
	"ADE_RUN_ID",   "ADE_ATTEMPT", "ADE_BATCH",   "ADE_HOME",           "ADE_WAREHOUSE",
	"ADE_OUT",      "ADE_CONFIG", "ADE_SOURCE",   "ADE_IN_QUALITY",     "ADE_IN_FEATURE_STORE",
};

struct fixture {
	char *dir;
	char *out;
};

/* A clean contract: a temp ADE_OUT and the required names set. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	for (size_t i = 0; i < sizeof(contract_vars) / sizeof(contract_vars[0]); i++)
		unsetenv(contract_vars[i]);
	f->dir = tu_mkdtemp();
	f->out = ade_xasprintf("%s/out", f->dir);
	assert_int_equal(ade_fs_mkdirs(f->out, NULL), 0);
	setenv("ADE_PIPELINE", "employees", 1);
	setenv("ADE_STAGE", "quality", 1);
	setenv("ADE_DS", "2026-01-05", 1);
	setenv("ADE_OUT", f->out, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(contract_vars) / sizeof(contract_vars[0]); i++)
		unsetenv(contract_vars[i]);
	free(f->out);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static void test_init_full_contract(void **state)
{
	struct fixture *f = *state;
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	char *cfg = tu_write(f->dir, "config.json",
			     "{\"threshold\": 0.25, \"mode\": \"strict\", \"on\": true}");

	setenv("ADE_CONFIG", cfg, 1);
	setenv("ADE_INTERVAL_START", "2026-01-05T00:00:00Z", 1);
	setenv("ADE_INTERVAL_END", "2026-01-06T00:00:00Z", 1);
	setenv("ADE_RUN_ID", "0190a3b4-0000-7000-8000-000000000000", 1);
	setenv("ADE_ATTEMPT", "3", 1);
	setenv("ADE_BATCH", "", 1);
	setenv("ADE_HOME", "/srv/ade-home", 1);
	setenv("ADE_WAREHOUSE", "/srv/ade-home/warehouse.db", 1);
	setenv("ADE_SOURCE", "data/2026-01-05.csv", 1);
	assert_int_equal(ade_stage_init(&ctx, &err), 0);
	assert_string_equal(ctx.pipeline, "employees");
	assert_string_equal(ctx.stage, "quality");
	assert_string_equal(ctx.ds, "2026-01-05");
	assert_string_equal(ctx.interval_start, "2026-01-05T00:00:00Z");
	assert_string_equal(ctx.interval_end, "2026-01-06T00:00:00Z");
	assert_string_equal(ctx.run_id, "0190a3b4-0000-7000-8000-000000000000");
	assert_int_equal(ctx.attempt, 3);
	/* An empty ADE_BATCH means batch mode. */
	assert_null(ctx.batch);
	assert_string_equal(ctx.home, "/srv/ade-home");
	assert_string_equal(ctx.warehouse, "/srv/ade-home/warehouse.db");
	assert_string_equal(ctx.out, f->out);
	assert_string_equal(ctx.source, "data/2026-01-05.csv");
	assert_non_null(ctx.config);
	assert_true(ade_json_num(ctx.config, "threshold", 0) == 0.25);
	assert_string_equal(ade_json_str(ctx.config, "mode", ""), "strict");
	assert_int_equal(ade_json_bool(ctx.config, "on", 0), 1);
	ade_stage_release(&ctx);
	assert_null(ctx.config);
	free(cfg);
}

static void test_init_minimal(void **state)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_stage_init(&ctx, &err), 0);
	/* No ADE_CONFIG: an empty object, never NULL. */
	assert_true(cJSON_IsObject(ctx.config));
	assert_null(ctx.config->child);
	assert_int_equal(ctx.attempt, 1);
	assert_null(ctx.batch);
	assert_null(ctx.run_id);
	assert_null(ctx.source);
	ade_stage_release(&ctx);
}

static void test_init_missing_names(void **state)
{
	static const char *required[] = {"ADE_PIPELINE", "ADE_STAGE", "ADE_DS", "ADE_OUT"};
	struct fixture *f = *state;
	struct ade_stage_ctx ctx;

	for (size_t i = 0; i < 4; i++) {
		struct ade_error err = {0};
		char *want = ade_xasprintf("%s is not set; a stage is started by 'ade run'",
					   required[i]);
		char *saved = ade_xstrdup(getenv(required[i]));
		unsetenv(required[i]);
		assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
		assert_string_equal(err.msg, want);
		/* Empty counts as missing. */
		setenv(required[i], "", 1);
		assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
		assert_string_equal(err.msg, want);
		setenv(required[i], saved, 1);
		free(saved);
		free(want);
	}
	/* ADE_OUT must be an existing directory. */
	char *file = tu_write(f->dir, "not-a-dir", "x");
	struct ade_error err = {0};
	setenv("ADE_OUT", file, 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
	char *want = ade_xasprintf("ADE_OUT '%s' is not a directory", file);
	assert_string_equal(err.msg, want);
	free(want);
	setenv("ADE_OUT", "/no/such/ade/out", 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
	free(file);
}

static void test_init_bad_config(void **state)
{
	struct fixture *f = *state;
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	char *arr = tu_write(f->dir, "array.json", "[1, 2]");
	char *str = tu_write(f->dir, "string.json", "\"x\"");
	char *bad = tu_write(f->dir, "bad.json", "{\n  \"a\": 1,\n  \"b\": }\n");
	char *missing = ade_xasprintf("%s/missing.json", f->dir);
	char *want;

	setenv("ADE_CONFIG", arr, 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
	want = ade_xasprintf("%s: the stage config is not an object", arr);
	assert_string_equal(err.msg, want);
	assert_null(ctx.config);
	free(want);

	setenv("ADE_CONFIG", str, 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_EINVAL);
	assert_null(ctx.config);

	setenv("ADE_CONFIG", bad, 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_EPARSE);
	want = ade_xasprintf("%s:3:8: invalid JSON", bad);
	assert_string_equal(err.msg, want);
	assert_null(ctx.config);
	free(want);

	setenv("ADE_CONFIG", missing, 1);
	assert_int_equal(ade_stage_init(&ctx, &err), ADE_ENOTFOUND);
	assert_null(ctx.config);
	ade_stage_release(&ctx); /* safe after a failed init */

	free(arr);
	free(str);
	free(bad);
	free(missing);
}

static void test_input_dir(void **state)
{
	(void)state;
	assert_null(ade_stage_input_dir("quality"));
	setenv("ADE_IN_QUALITY", "/runs/x/quality", 1);
	setenv("ADE_IN_FEATURE_STORE", "/runs/x/feature-store", 1);
	assert_string_equal(ade_stage_input_dir("quality"), "/runs/x/quality");
	assert_string_equal(ade_stage_input_dir("Quality"), "/runs/x/quality");
	assert_string_equal(ade_stage_input_dir("feature-store"), "/runs/x/feature-store");
	assert_string_equal(ade_stage_input_dir("feature_store"), "/runs/x/feature-store");
	assert_null(ade_stage_input_dir("schema"));
	/* Empty means not upstream. */
	setenv("ADE_IN_QUALITY", "", 1);
	assert_null(ade_stage_input_dir("quality"));
}

static void test_result_write(void **state)
{
	struct fixture *f = *state;
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	cJSON *r, *back = NULL;

	setenv("ADE_RUN_ID", "run-1", 1);
	setenv("ADE_BATCH", "4", 1);
	assert_int_equal(ade_stage_init(&ctx, &err), 0);
	r = ade_stage_result_new(&ctx, "success");
	assert_non_null(r);
	cJSON_AddNumberToObject(r, "rows_in", 10);
	cJSON_AddNumberToObject(r, "rows_out", 9);
	assert_int_equal(ade_stage_result_write(&ctx, r, &err), 0);

	char *path = ade_xasprintf("%s/result.json", f->out);
	assert_int_equal(ade_json_read_file(path, &back, &err), 0);
	assert_true(cJSON_Compare(r, back, 1));
	assert_true(ade_json_num(back, "version", 0) == 1);
	assert_string_equal(ade_json_str(back, "status", ""), "success");
	assert_string_equal(ade_json_str(back, "pipeline", ""), "employees");
	assert_string_equal(ade_json_str(back, "stage", ""), "quality");
	assert_string_equal(ade_json_str(back, "ds", ""), "2026-01-05");
	assert_string_equal(ade_json_str(back, "run_id", ""), "run-1");
	assert_string_equal(ade_json_str(back, "batch", ""), "4");
	assert_true(ade_json_num(back, "rows_out", 0) == 9);
	cJSON_Delete(back);
	cJSON_Delete(r);

	/* Without run id or batch those keys are absent. */
	unsetenv("ADE_RUN_ID");
	unsetenv("ADE_BATCH");
	ade_stage_release(&ctx);
	assert_int_equal(ade_stage_init(&ctx, &err), 0);
	r = ade_stage_result_new(&ctx, "failed");
	assert_null(cJSON_GetObjectItem(r, "run_id"));
	assert_null(cJSON_GetObjectItem(r, "batch"));
	assert_string_equal(ade_json_str(r, "status", ""), "failed");
	cJSON_Delete(r);
	ade_stage_release(&ctx);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_full_contract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_missing_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_write, setup, teardown),
	};

	return cmocka_run_group_tests_name("stage", tests, NULL, NULL);
}
