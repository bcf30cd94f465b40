/* Unit tests for scheduler/template.c: {{ name }} rendering and checking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "scheduler/pipeline.h"

#include <stdlib.h>
#include <string.h>

static cJSON *params;
static struct ade_template_vars vars;

static int setup(void **state)
{
	(void)state;
	params = cJSON_Parse("{\"region\": \"eu-west\", \"limit\": 500, \"ratio\": 0.25,"
			     " \"neg\": -3, \"big\": 1e20, \"on\": true, \"off\": false,"
			     " \"nothing\": null, \"obj\": {\"a\": 1}}");
	assert_non_null(params);
	vars = (struct ade_template_vars){
		.ds = "2026-01-05",
		.ds_nodash = "20260105",
		.interval_start = "2026-01-05T00:00:00Z",
		.interval_end = "2026-01-06T00:00:00Z",
		.run_id = "0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
		.batch = "7",
		.home = "/srv/ade-home",
		.params = params,
	};
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cJSON_Delete(params);
	params = NULL;
	return 0;
}

static void expect_render(const char *in, const char *want)
{
	char *out = NULL;
	struct ade_error err = {0};

	if (ade_template_render(in, &vars, &out, &err))
		fail_msg("'%s' was refused: %s", in, err.msg);
	if (strcmp(out, want))
		fail_msg("'%s' rendered as '%s', expected '%s'", in, out, want);
	free(out);
	/* Everything render accepts, check accepts too. */
	size_t off = 99;
	char *bad = NULL;
	if (ade_template_check(in, params, &off, &bad))
		fail_msg("'%s' refused by check at %zu: %s", in, off, bad);
	assert_null(bad);
}

static void test_render_every_name(void **state)
{
	(void)state;
	expect_render("{{ ds }}", "2026-01-05");
	expect_render("{{ ds_nodash }}", "20260105");
	expect_render("{{ interval_start }}", "2026-01-05T00:00:00Z");
	expect_render("{{ interval_end }}", "2026-01-06T00:00:00Z");
	expect_render("{{ run_id }}", "0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b");
	expect_render("{{ batch }}", "7");
	expect_render("{{ home }}", "/srv/ade-home");
	expect_render("{{ params.region }}", "eu-west");
	expect_render("{{ params.limit }}", "500");
	expect_render("{{ params.ratio }}", "0.25");
	expect_render("{{ params.neg }}", "-3");
	expect_render("{{ params.big }}", "1e+20");
	expect_render("{{ params.on }}", "true");
	expect_render("{{ params.off }}", "false");
	expect_render("{{ params.nothing }}", "");
}

static void test_render_in_context(void **state)
{
	(void)state;
	expect_render("", "");
	expect_render("no templates here", "no templates here");
	expect_render("data/{{ ds }}.csv", "data/2026-01-05.csv");
	expect_render("{{ds}}/{{ds_nodash}}", "2026-01-05/20260105");
	expect_render("{{   ds   }}", "2026-01-05");
	expect_render("{{\tds\t}}", "2026-01-05");
	expect_render("{{ds }}{{ ds}}", "2026-01-052026-01-05");
	expect_render("{{ home }}/x-{{ params.limit }}-{{ params.on }}",
		      "/srv/ade-home/x-500-true");
	/* Single braces and a lone "}}" are literal. */
	expect_render("{ds} }} {", "{ds} }} {");
	/* Batch mode: batch renders as empty. */
	vars.batch = NULL;
	expect_render("b={{ batch }}", "b=");
	vars.batch = "7";
}

static void expect_check_fail(const char *in, size_t want_off, const char *want_bad)
{
	size_t off = 999;
	char *bad = NULL;

	if (ade_template_check(in, params, &off, &bad) != ADE_EPARSE)
		fail_msg("'%s' passed the check", in);
	assert_non_null(bad);
	if (off != want_off || strcmp(bad, want_bad))
		fail_msg("'%s': got '%s' at %zu, expected '%s' at %zu", in, bad, off, want_bad,
			 want_off);
	free(bad);
}

static void test_check_unknown(void **state)
{
	(void)state;
	expect_check_fail("{{ dss }}", 3, "dss");
	expect_check_fail("{{dss}}", 2, "dss");
	expect_check_fail("data/{{ ds }}/{{   nope  }}.csv", 19, "nope");
	expect_check_fail("{{ ds }}{{ ds_nodash }}{{ x }}", 26, "x");
	expect_check_fail("{{ DS }}", 3, "DS");
	expect_check_fail("{{ params.zone }}", 3, "params.zone");
	expect_check_fail("{{ params. }}", 3, "params.");
	expect_check_fail("{{ params }}", 3, "params");
	expect_check_fail("{{ ds.x }}", 3, "ds.x");
	expect_check_fail("{{ ds nodash }}", 3, "ds nodash");
	expect_check_fail("{{}}", 2, "");
	/* An unterminated "{{" is reported at the braces. */
	expect_check_fail("ok {{ ds }} then {{ ds", 17, "{{ without }}");
	expect_check_fail("{{", 0, "{{ without }}");
	/* Without params, params.X is unknown. */
	size_t off = 0;
	char *bad = NULL;
	assert_int_equal(ade_template_check("{{ params.region }}", NULL, &off, &bad), ADE_EPARSE);
	assert_string_equal(bad, "params.region");
	free(bad);
	bad = NULL;
	assert_int_equal(ade_template_check("x", NULL, &off, &bad), 0);
	assert_null(bad);
}

static void test_render_refusals(void **state)
{
	static const char *bad[] = {
		"{{ nope }}", "a {{ ds", "{{ params.zone }}", "{{ params.obj }}", "{{}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = (char *)"untouched";
		struct ade_error err = {0};
		if (ade_template_render(bad[i], &vars, &out, &err) != ADE_EINVAL)
			fail_msg("'%s' rendered", bad[i]);
		assert_string_equal(out, "untouched");
		assert_int_equal(err.code, ADE_EINVAL);
	}
	struct ade_error err = {0};
	char *out = NULL;
	assert_int_equal(ade_template_render("x {{ nope }}", &vars, &out, &err), ADE_EINVAL);
	assert_string_equal(err.msg, "unknown template name 'nope'");
	assert_int_equal(ade_template_render("x {{ ds", &vars, &out, &err), ADE_EINVAL);
	assert_string_equal(err.msg, "unterminated template: '{{' without '}}'");
}

static void test_render_json_deep_copy(void **state)
{
	cJSON *in = cJSON_Parse("{\"path\": \"data/{{ ds }}.csv\", \"n\": 3, \"flag\": true,"
				" \"z\": null, \"list\": [\"{{ ds_nodash }}\", 1, [\"{{ home }}\"]],"
				" \"nested\": {\"region\": \"{{ params.region }}\", \"empty\": {}}}");
	cJSON *want = cJSON_Parse("{\"path\": \"data/2026-01-05.csv\", \"n\": 3, \"flag\": true,"
				  " \"z\": null, \"list\": [\"20260105\", 1, [\"/srv/ade-home\"]],"
				  " \"nested\": {\"region\": \"eu-west\", \"empty\": {}}}");
	cJSON *orig = cJSON_Duplicate(in, 1);
	struct ade_error err = {0};
	cJSON *out;

	(void)state;
	out = ade_template_render_json(in, &vars, &err);
	assert_non_null(out);
	assert_true(cJSON_Compare(out, want, 1));
	/* The input is unchanged and shares nothing with the copy. */
	assert_true(cJSON_Compare(in, orig, 1));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(out, "nested"), "region",
				  cJSON_CreateString("changed"));
	cJSON_GetArrayItem(cJSON_GetObjectItem(out, "list"), 1)->valuedouble = 42;
	assert_true(cJSON_Compare(in, orig, 1));
	cJSON_Delete(out);
	/* The input is still usable after the copy is gone. */
	assert_string_equal(ade_json_str(in, "path", ""), "data/{{ ds }}.csv");

	/* An unknown name anywhere fails the whole copy. */
	cJSON *badj = cJSON_Parse("{\"a\": \"ok\", \"b\": [1, {\"c\": \"{{ nope }}\"}]}");
	assert_null(ade_template_render_json(badj, &vars, &err));
	assert_string_equal(err.msg, "unknown template name 'nope'");
	cJSON_Delete(badj);

	/* Scalars are copied too. */
	cJSON *num = cJSON_CreateNumber(5);
	cJSON *num2 = ade_template_render_json(num, &vars, &err);
	assert_non_null(num2);
	assert_ptr_not_equal(num, num2);
	assert_true(cJSON_Compare(num, num2, 1));
	cJSON_Delete(num);
	cJSON_Delete(num2);

	cJSON_Delete(in);
	cJSON_Delete(orig);
	cJSON_Delete(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_render_every_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_in_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_json_deep_copy, setup, teardown),
	};

	return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
