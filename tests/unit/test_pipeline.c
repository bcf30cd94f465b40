/*
 * Unit tests for the pipeline loader (scheduler/pipeline.c): every refusal
 * with its exact "PATH:LINE:COL: reason" (1-based), and what a loaded
 * pipeline holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "scheduler/pipeline.h"
#include "testutil.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char *dir;     /* holds pipeline files and ok.sh */
	char *bin;     /* an exec_dir with ade-fake and sh */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_mkdtemp();
	free(tu_write_mode(f->dir, "ok.sh", "#!/bin/sh\nexit 0\n", 0755));
	free(tu_write_mode(f->dir, "noexec.sh", "#!/bin/sh\nexit 0\n", 0644));
	assert_int_equal(ade_fs_mkdirs(f->dir, NULL), 0);
	f->bin = ade_xasprintf("%s/bin", f->dir);
	assert_int_equal(ade_fs_mkdirs(f->bin, NULL), 0);
	free(tu_write_mode(f->bin, "ade-fake", "#!/bin/sh\nexit 0\n", 0755));
	free(tu_write_mode(f->bin, "sh", "#!/bin/sh\nexit 0\n", 0755));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->bin);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

/* Loads text as dir/name; returns the code and fills err and *out. */
static int load_text(struct fixture *f, const char *name, const char *text, const char *exec_dir,
		     struct ade_pipeline **out, struct ade_error *err, char **path)
{
	*path = tu_write(f->dir, name, text);
	return ade_pipeline_load(*path, exec_dir, out, err);
}

static struct ade_pipeline *load_ok(struct fixture *f, const char *text, const char *exec_dir)
{
	struct ade_pipeline *p = NULL;
	struct ade_error err = {0};
	char *path = NULL;

	if (load_text(f, "ok.yaml", text, exec_dir, &p, &err, &path))
		fail_msg("refused: %s\n--- pipeline:\n%s", err.msg, text);
	assert_non_null(p);
	free(path);
	return p;
}

struct refusal {
	const char *what;
	const char *yaml;
	const char *msg; /* after "PATH:" */
};

#define HDR "pipeline: p\nstages:\n"

static const struct refusal refusals[] = {
	/* Unknown keys. */
	{"unknown top-level key",
	 "pipeline: p\nschedul: daily\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:1: unknown key 'schedul' in pipeline"},
	{"unknown stage key",
	 HDR "  a:\n    run: ./ok.sh\n    retires: 3\n",
	 "5:5: unknown key 'retires' in stage 'a'"},
	{"unknown key in defaults",
	 "pipeline: p\ndefaults: {retries: 1, tmeout: 5s}\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:24: unknown key 'tmeout' in defaults"},

	/* Wrong types. */
	{"retries: abc",
	 HDR "  a:\n    run: ./ok.sh\n    retries: abc\n",
	 "5:14: retries must be an integer, not 'abc'"},
	{"retries: -1",
	 HDR "  a:\n    run: ./ok.sh\n    retries: -1\n",
	 "5:14: retries must be between 0 and 1000, not -1"},
	{"retries quoted",
	 HDR "  a:\n    run: ./ok.sh\n    retries: \"3\"\n",
	 "5:14: retries must be an integer, not '3'"},
	{"retries: [1]",
	 HDR "  a:\n    run: ./ok.sh\n    retries: [1]\n",
	 "5:14: retries must be a scalar, not a list"},
	{"catchup: maybe",
	 "pipeline: p\ncatchup: maybe\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:10: catchup must be true or false, not 'maybe'"},
	{"max_active_runs: 0",
	 "pipeline: p\nmax_active_runs: 0\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:18: max_active_runs must be between 1 and 10000, not 0"},
	{"timeout: 5x",
	 HDR "  a:\n    run: ./ok.sh\n    timeout: 5x\n",
	 "5:14: timeout must be a duration such as 30s, 10m or 2h, not '5x'"},
	{"retry_delay: -1s in defaults",
	 "pipeline: p\ndefaults:\n  retry_delay: -1s\nstages:\n  a: {run: ./ok.sh}\n",
	 "3:16: retry_delay must be a duration such as 30s, 10m or 2h, not '-1s'"},
	{"needs: {a: b}",
	 HDR "  a: {run: ./ok.sh}\n  b:\n    run: ./ok.sh\n    needs: {a: b}\n",
	 "6:12: needs must be a list of stage names, not a mapping"},
	{"needs: [[a]]",
	 HDR "  a: {run: ./ok.sh}\n  b:\n    run: ./ok.sh\n    needs: [[a]]\n",
	 "6:13: a name in needs must be a scalar, not a list"},
	{"run: {x: 1}",
	 HDR "  a:\n    run: {x: 1}\n",
	 "4:10: run must be a string or a list, not a mapping"},
	{"run: []",
	 HDR "  a:\n    run: []\n",
	 "4:10: run must name an executable"},
	{"run: blank string",
	 HDR "  a:\n    run: \"  \"\n",
	 "4:10: run must name an executable"},
	{"run: [./ok.sh, [x]]",
	 HDR "  a:\n    run: [./ok.sh, [x]]\n",
	 "4:20: an argument of run must be a scalar, not a list"},
	{"run: unterminated quote",
	 HDR "  a:\n    run: ./ok.sh \"abc\n",
	 "4:10: unterminated quote in run"},
	{"with: [1]",
	 HDR "  a:\n    run: ./ok.sh\n    with: [1]\n",
	 "5:11: with must be a mapping, not a list"},
	{"stage is a scalar",
	 HDR "  a: ./ok.sh\n",
	 "3:6: stage 'a' must be a mapping, not a scalar"},
	{"stage without run",
	 HDR "  a:\n    retries: 1\n",
	 "4:5: stage 'a' has no run"},
	{"stages: a list",
	 "pipeline: p\nstages:\n  - a\n",
	 "3:3: stages must be a mapping of name to stage, not a list"},
	{"backoff: linear",
	 HDR "  a:\n    run: ./ok.sh\n    backoff: linear\n",
	 "5:14: backoff must be constant or exponential, not 'linear'"},
	{"trigger: sometimes",
	 HDR "  a:\n    run: ./ok.sh\n    trigger: sometimes\n",
	 "5:14: trigger must be all_success, all_done, one_failed or none_failed, not 'sometimes'"},
	{"retry_on: often",
	 HDR "  a:\n    run: ./ok.sh\n    retry_on: often\n",
	 "5:15: retry_on must be 'any' or a list of exit codes"},
	{"retry_on: [75, 0]",
	 HDR "  a:\n    run: ./ok.sh\n    retry_on: [75, 0]\n",
	 "5:20: an exit code in retry_on must be between 1 and 255, not 0"},
	{"start_date: 2026-02-30",
	 "pipeline: p\nstart_date: 2026-02-30\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:13: start_date must be a date YYYY-MM-DD, not '2026-02-30'"},
	{"pipeline name with a space",
	 "pipeline: my pipe\nstages:\n  a: {run: ./ok.sh}\n",
	 "1:11: pipeline name 'my pipe' must be letters, digits, '_' or '-'"},
	{"pipeline: ~",
	 "pipeline: ~\nstages:\n  a: {run: ./ok.sh}\n",
	 "1:11: pipeline must not be empty"},
	{"stage name with a dot",
	 HDR "  a.b: {run: ./ok.sh}\n",
	 "3:3: stage name 'a.b' must be letters, digits, '_' or '-'"},
	{"env sets an ADE_ name",
	 HDR "  a:\n    run: ./ok.sh\n    env: {ADE_OUT: /tmp}\n",
	 "5:11: env may not set 'ADE_OUT': ADE_ names belong to the stage contract"},
	{"env bad name",
	 HDR "  a:\n    run: ./ok.sh\n    env: {1X: y}\n",
	 "5:11: '1X' is not a valid environment variable name"},
	{"root is a list",
	 "- pipeline\n- stages\n",
	 "1:1: the pipeline file must be a mapping, not a list"},
	{"non-scalar key",
	 "pipeline: p\n[a]: 1\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:1: keys of the pipeline file must be scalars"},

	/* Duplicates. */
	{"duplicate top-level key",
	 "pipeline: p\nstages:\n  a: {run: ./ok.sh}\npipeline: q\n",
	 "4:1: duplicate key 'pipeline' in the pipeline file"},
	{"duplicate stage key",
	 HDR "  a:\n    run: ./ok.sh\n    retries: 1\n    retries: 2\n",
	 "6:5: duplicate key 'retries' in stage 'a'"},
	{"duplicate key in with",
	 HDR "  a:\n    run: ./ok.sh\n    env: {X: 1, X: 2}\n",
	 "5:17: duplicate key 'X' in env"},
	{"duplicate stage",
	 HDR "  a: {run: ./ok.sh}\n  b: {run: ./ok.sh}\n  a: {run: ./ok.sh}\n",
	 "5:3: duplicate stage 'a'"},
	{"duplicate need",
	 HDR "  a: {run: ./ok.sh}\n  b:\n    run: ./ok.sh\n    needs: [a, a]\n",
	 "6:16: stage 'b' lists 'a' twice in needs"},

	/* The graph. */
	{"cycle a -> b -> a",
	 HDR "  a:\n    run: ./ok.sh\n    needs: [b]\n  b:\n    run: ./ok.sh\n    needs: [a]\n",
	 "5:12: dependency cycle: a -> b -> a"},
	{"cycle a -> b -> c -> a",
	 HDR "  a:\n    run: ./ok.sh\n    needs: b\n"
	     "  b:\n    run: ./ok.sh\n    needs: [c]\n"
	     "  c:\n    run: ./ok.sh\n    needs: [a]\n",
	 "5:12: dependency cycle: a -> b -> c -> a"},
	{"cycle reached from outside it",
	 HDR "  x: {run: ./ok.sh, needs: [a]}\n"
	     "  a:\n    run: ./ok.sh\n    needs: [b]\n"
	     "  b:\n    run: ./ok.sh\n    needs: [a]\n",
	 "6:12: dependency cycle: a -> b -> a"},
	{"self-need",
	 HDR "  a:\n    run: ./ok.sh\n    needs: [a]\n",
	 "5:13: dependency cycle: a -> a"},
	{"unknown need",
	 HDR "  a:\n    run: ./ok.sh\n    needs: [zz]\n",
	 "5:13: stage 'a' needs 'zz', which is not a stage"},
	{"unknown need as a scalar",
	 HDR "  a:\n    run: ./ok.sh\n    needs: zz\n",
	 "5:12: stage 'a' needs 'zz', which is not a stage"},

	/* Templates. */
	{"unknown template in source",
	 "pipeline: p\nsource: data/{{ dss }}.csv\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:17: unknown template name 'dss'"},
	{"unknown template after a known one",
	 "pipeline: p\nsource: data/{{ ds }}/{{ dss }}.csv\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:26: unknown template name 'dss'"},
	{"unknown template in quoted source",
	 "pipeline: p\nsource: \"data/{{ dss }}.csv\"\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:18: unknown template name 'dss'"},
	{"unknown template in with",
	 HDR "  a:\n    run: ./ok.sh\n    with: {path: \"{{ nope }}\"}\n",
	 "5:22: unknown template name 'nope'"},
	{"unknown template deep in with",
	 HDR "  a:\n    run: ./ok.sh\n    with:\n      rules:\n        - {col: x, when: '{{ ds }} {{ bad }}'}\n",
	 "7:39: unknown template name 'bad'"},
	{"unknown template in run list",
	 HDR "  a:\n    run: [./ok.sh, \"{{ ds }}\", \"{{ bad }}\"]\n",
	 "4:36: unknown template name 'bad'"},
	{"unknown template in run string",
	 HDR "  a:\n    run: ./ok.sh --date={{ dz }}\n",
	 "4:28: unknown template name 'dz'"},
	{"unknown template in env",
	 HDR "  a:\n    run: ./ok.sh\n    env: {X: \"{{ when }}\"}\n",
	 "5:18: unknown template name 'when'"},
	{"unterminated template",
	 HDR "  a:\n    run: ./ok.sh\n    with: {p: \"x {{ ds\"}\n",
	 "5:18: unterminated template: '{{' without '}}'"},
	{"params.X undefined",
	 "pipeline: p\nsource: in/{{ params.region }}/{{ params.zone }}.csv\n"
	 "params: {region: eu}\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:35: unknown template name 'params.zone'"},
	{"params.X without params",
	 "pipeline: p\nsource: in/{{ params.region }}.csv\nstages:\n  a: {run: ./ok.sh}\n",
	 "2:15: unknown template name 'params.region'"},
	{"unknown template in a literal block scalar",
	 HDR "  a:\n    run: ./ok.sh\n    with:\n      q: |\n        select *\n"
	     "        from t where d = {{ bad }}\n",
	 "8:29: unknown template name 'bad'"},
	{"unknown template in a folded block scalar",
	 HDR "  a:\n    run: ./ok.sh\n    with:\n      q: >\n        first line\n"
	     "        second {{ bad }}\n",
	 "8:19: unknown template name 'bad'"},
	{"unknown template in a multi-line plain scalar",
	 HDR "  a:\n    run: ./ok.sh\n    with:\n      p: first\n        {{ ds }} then {{ bad }}\n",
	 "7:26: unknown template name 'bad'"},
	{"unknown template after escapes",
	 HDR "  a:\n    run: ./ok.sh\n    with:\n      q: \"\\u00e9\\t{{ bad }}\"\n",
	 "6:22: unknown template name 'bad'"},
	{"unknown template after non-ASCII text",
	 "# caf\303\251 \342\200\224 \303\274n\303\257code\n" HDR
	 "  a:\n    run: ./ok.sh\n    with: {note: \"d\303\251j\303\240 vu\", p: \"\303\251 {{ bad }}\"}\n",
	 "6:38: unknown template name 'bad'"},
	{"unknown template after a byte-order mark",
	 "\357\273\277source: x/{{ bad }}\npipeline: p\nstages:\n  a: {run: ./ok.sh}\n",
	 "1:14: unknown template name 'bad'"},
	{"template in the executable",
	 HDR "  a:\n    run: \"{{ home }}/ok.sh\"\n",
	 "4:10: the executable in run must not use templates"},

	/* Executables. */
	{"relative executable not found",
	 HDR "  a:\n    run: ./nope.sh --x\n",
	 "4:10: executable './nope.sh' not found or not executable"},
	{"relative file not executable",
	 HDR "  a:\n    run: [./noexec.sh]\n",
	 "4:10: executable './noexec.sh' not found or not executable"},
	{"a directory is not an executable",
	 HDR "  a:\n    run: ./bin\n",
	 "4:10: executable './bin' not found or not executable"},
	{"bare name not found",
	 HDR "  a:\n    run: ade-no-such-stage-x9\n",
	 "4:10: executable 'ade-no-such-stage-x9' not found next to ade or on PATH"},

	/* Files that are not pipelines. */
	{"empty file", "", "1:1: the pipeline file is empty"},
	{"only comments", "# nothing here\n\n# still nothing\n", "1:1: the pipeline file is empty"},
	{"missing pipeline",
	 "stages:\n  a: {run: ./ok.sh}\n",
	 "1:1: missing required key 'pipeline' (the pipeline's name)"},
	{"missing stages",
	 "# a comment\npipeline: p\n",
	 "2:1: missing required key 'stages'"},
	{"empty stages",
	 "pipeline: p\nstages: {}\n",
	 "2:9: stages must list at least one stage"},
	{"null stages",
	 "pipeline: p\nstages:\n",
	 "2:8: stages must be a mapping of name to stage, not a scalar"},
};

/* Invalid YAML: libyaml's message, at its problem mark. */
static const struct refusal yaml_refusals[] = {
	{"unclosed quote",
	 "pipeline: \"p\nstages:\n  a: {run: ./ok.sh}\n",
	 "4:1: invalid YAML: found unexpected end of stream"
	 " (while scanning a quoted scalar started at 1:11)"},
	{"bad indentation",
	 HDR "  a:\n    run: ./ok.sh\n   needs: [b]\n",
	 "5:4: invalid YAML: did not find expected key"
	 " (while parsing a block mapping started at 3:3)"},
	{"unclosed flow mapping",
	 HDR "  a: {run: ./ok.sh\n",
	 "4:1: invalid YAML: did not find expected ',' or '}'"
	 " (while parsing a flow mapping started at 3:6)"},
	{"tab indentation",
	 HDR "  a:\n\trun: ./ok.sh\n",
	 "4:1: invalid YAML: found character that cannot start any token"},
	{"undefined alias",
	 HDR "  a: *nowhere\n",
	 "3:6: invalid YAML: found undefined alias"},
};

static void run_refusals(struct fixture *f, const struct refusal *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		struct ade_pipeline *p = (struct ade_pipeline *)1;
		struct ade_error err = {0};
		char *path = NULL;
		char name[64];
		snprintf(name, sizeof(name), "case-%zu.yaml", i);
		int rc = load_text(f, name, cases[i].yaml, NULL, &p, &err, &path);
		char *want = ade_xasprintf("%s:%s", path, cases[i].msg);
		if (rc != ADE_EPARSE || p != NULL || strcmp(err.msg, want)) {
			print_error("case '%s': rc %d\n  got:      %s\n  expected: %s\n",
				    cases[i].what, rc, err.msg, want);
			failures++;
		}
		if (rc == 0)
			ade_pipeline_free(p);
		assert_int_equal(err.code, rc);
		free(want);
		free(path);
	}
	if (failures)
		fail_msg("%d of %zu cases failed", failures, n);
}

static void test_refusals(void **state)
{
	run_refusals(*state, refusals, sizeof(refusals) / sizeof(refusals[0]));
}

static void test_invalid_yaml(void **state)
{
	run_refusals(*state, yaml_refusals, sizeof(yaml_refusals) / sizeof(yaml_refusals[0]));
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = NULL;
	struct ade_error err = {0};
	char *path = ade_xasprintf("%s/missing.yaml", f->dir);

	assert_int_equal(ade_pipeline_load(path, NULL, &p, &err), ADE_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err.msg, path));
	free(path);
}

static void test_defaults_applied(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = load_ok(
		f,
		"pipeline: p\n"
		"stages:\n"
		"  a: {run: ./ok.sh}\n"
		"  b:\n"
		"    run: ./ok.sh\n"
		"    retries: 0\n"
		"    retry_on: any\n"
		"    timeout: 250ms\n"
		"    trigger: one_failed\n"
		"defaults:\n"
		"  retries: 2\n"
		"  retry_delay: 10s\n"
		"  max_retry_delay: 1h\n"
		"  backoff: exponential\n"
		"  timeout: 10m\n"
		"  timeout_grace: 1s\n"
		"  retry_on: [1, 75]\n"
		"  trigger: all_done\n",
		NULL);
	struct ade_stage_def *a = ade_pipeline_stage(p, "a"), *b = ade_pipeline_stage(p, "b");

	assert_non_null(a);
	assert_non_null(b);
	assert_null(ade_pipeline_stage(p, "c"));
	/* a takes every default, even though defaults come after stages. */
	assert_int_equal(a->retries, 2);
	assert_int_equal(a->retry_delay_ms, 10000);
	assert_int_equal(a->max_retry_delay_ms, 3600000);
	assert_int_equal(a->backoff_exponential, 1);
	assert_int_equal(a->timeout_ms, 600000);
	assert_int_equal(a->timeout_grace_ms, 1000);
	assert_int_equal(a->retry_on_any, 0);
	assert_int_equal(a->n_retry_on, 2);
	assert_int_equal(a->retry_on[0], 1);
	assert_int_equal(a->retry_on[1], 75);
	assert_int_equal(a->trigger, ADE_TRIGGER_ALL_DONE);
	/* b overrides some and keeps the rest. */
	assert_int_equal(b->retries, 0);
	assert_int_equal(b->retry_on_any, 1);
	assert_int_equal(b->n_retry_on, 0);
	assert_int_equal(b->timeout_ms, 250);
	assert_int_equal(b->trigger, ADE_TRIGGER_ONE_FAILED);
	assert_int_equal(b->retry_delay_ms, 10000);
	assert_int_equal(b->backoff_exponential, 1);
	/* Positions of the stage names. */
	assert_int_equal(a->pos.line, 3);
	assert_int_equal(a->pos.col, 3);
	assert_int_equal(b->pos.line, 4);
	assert_int_equal(b->index, 1);
	ade_pipeline_free(p);
}

static void test_builtin_defaults(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = load_ok(f, HDR "  a: {run: ./ok.sh, retry_on: 3}\n  b: {run: ./ok.sh}\n",
					 NULL);
	struct ade_stage_def *a = &p->stages[0], *b = &p->stages[1];
	char *abs = realpath(f->dir, NULL);

	assert_string_equal(p->name, "p");
	assert_string_equal(p->dir, abs);
	assert_int_equal(p->catchup, 1);
	assert_int_equal(p->max_active_runs, 16);
	assert_int_equal(p->depends_on_past, 0);
	assert_null(p->schedule);
	assert_null(p->start_date);
	assert_null(p->source);
	assert_true(cJSON_IsObject(p->params));
	assert_int_equal(strlen(p->hash), 64);
	assert_int_equal(strspn(p->hash, "0123456789abcdef"), 64);
	assert_int_equal(p->n_stages, 2);
	assert_int_equal(a->n_retry_on, 1);
	assert_int_equal(a->retry_on[0], 3);
	assert_int_equal(b->retries, 0);
	assert_int_equal(b->retry_delay_ms, 5000);
	assert_int_equal(b->max_retry_delay_ms, 600000);
	assert_int_equal(b->backoff_exponential, 0);
	assert_int_equal(b->timeout_ms, 0);
	assert_int_equal(b->timeout_grace_ms, 5000);
	assert_int_equal(b->trigger, ADE_TRIGGER_ALL_SUCCESS);
	/* Exit 75 is retried by default. */
	assert_int_equal(b->retry_on_any, 0);
	assert_int_equal(b->n_retry_on, 1);
	assert_int_equal(b->retry_on[0], 75);
	assert_int_equal(b->n_needs, 0);
	assert_int_equal(b->n_env, 0);
	assert_true(cJSON_IsObject(b->with));
	assert_null(b->with->child);
	free(abs);
	ade_pipeline_free(p);
}

static void test_top_level_values(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = load_ok(
		f,
		"pipeline: employees\n"
		"description: test\n"
		"schedule: \"0 2 * * *\"\n"
		"start_date: 2026-01-01\n"
		"end_date: 2026-01-31\n"
		"catchup: false\n"
		"depends_on_past: yes\n"
		"max_active_runs: 2\n"
		"source: data/{{ params.region }}/{{ ds }}.csv\n"
		"params: {region: eu, limit: 5}\n"
		"stream: {stages: [a], batch_rows: 200}\n"
		"stages:\n"
		"  a:\n"
		"    run: ./ok.sh\n"
		"    env: {MY_VAR: \"{{ ds }}\", N: 3}\n"
		"    with: {n: 5, f: 1.5, t: true, s: \"5\", z: null, l: [x, -2], o: {k: v},"
		" p: \"{{ params.limit }}\"}\n",
		NULL);
	struct ade_stage_def *a = &p->stages[0];
	cJSON *want_with = cJSON_Parse("{\"n\": 5, \"f\": 1.5, \"t\": true, \"s\": \"5\", \"z\": null,"
				       " \"l\": [\"x\", -2], \"o\": {\"k\": \"v\"},"
				       " \"p\": \"{{ params.limit }}\"}");

	assert_string_equal(p->name, "employees");
	assert_string_equal(p->schedule, "0 2 * * *");
	assert_string_equal(p->start_date, "2026-01-01");
	assert_string_equal(ade_json_str(p->extra, "end_date", ""), "2026-01-31");
	assert_int_equal(p->catchup, 0);
	assert_int_equal(p->depends_on_past, 1);
	assert_int_equal(p->max_active_runs, 2);
	assert_string_equal(p->source, "data/{{ params.region }}/{{ ds }}.csv");
	assert_string_equal(ade_json_str(p->params, "region", ""), "eu");
	assert_true(ade_json_num(p->params, "limit", 0) == 5);
	cJSON *stream = cJSON_GetObjectItem(p->extra, "stream");
	assert_non_null(stream);
	assert_true(ade_json_num(stream, "batch_rows", 0) == 200);
	assert_true(cJSON_Compare(a->with, want_with, 1));
	assert_int_equal(a->n_env, 2);
	assert_string_equal(a->env[0], "MY_VAR={{ ds }}");
	assert_string_equal(a->env[1], "N=3");
	assert_null(a->env[2]);
	cJSON_Delete(want_with);
	ade_pipeline_free(p);
}

static void test_run_forms(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = load_ok(
		f,
		HDR
		"  s: {run: ./ok.sh \"a b\" 'c d'  e\"\"f '' --x=\"1 2\"}\n"
		"  q:\n"
		"    run: '\t./ok.sh   --date={{ ds }}  '\n"
		"  l:\n"
		"    run:\n"
		"      - ./ok.sh\n"
		"      - \"with space\"\n"
		"      - \"{{ ds_nodash }}\"\n"
		"      - ''\n",
		NULL);
	struct ade_stage_def *s = ade_pipeline_stage(p, "s"), *q = ade_pipeline_stage(p, "q"),
			     *l = ade_pipeline_stage(p, "l");
	static const char *s_argv[] = {"./ok.sh", "a b", "c d", "ef", "", "--x=1 2"};
	static const char *l_argv[] = {"./ok.sh", "with space", "{{ ds_nodash }}", ""};
	char *want_exe = ade_xasprintf("%s/ok.sh", f->dir);
	char *real_want = realpath(want_exe, NULL);

	assert_int_equal(s->argc, 6);
	for (int i = 0; i < 6; i++)
		assert_string_equal(s->argv[i], s_argv[i]);
	assert_null(s->argv[6]);
	assert_int_equal(q->argc, 2);
	assert_string_equal(q->argv[0], "./ok.sh");
	assert_string_equal(q->argv[1], "--date={{ ds }}");
	assert_null(q->argv[2]);
	assert_int_equal(l->argc, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(l->argv[i], l_argv[i]);
	assert_null(l->argv[4]);
	/* A relative executable resolves against the pipeline's directory. */
	for (int i = 0; i < p->n_stages; i++) {
		char *real = realpath(p->stages[i].exe, NULL);
		assert_int_equal(p->stages[i].exe[0], '/');
		assert_non_null(real);
		assert_string_equal(real, real_want);
		free(real);
	}
	free(real_want);
	free(want_exe);
	ade_pipeline_free(p);
}

static void test_topological_order(void **state)
{
	struct fixture *f = *state;
	/* Listed against the flow, with a diamond and a forward reference. */
	struct ade_pipeline *p = load_ok(f,
					 HDR
					 "  lineage: {run: ./ok.sh, needs: [warehouse], trigger: all_done}\n"
					 "  warehouse: {run: ./ok.sh, needs: [analytics, train, features]}\n"
					 "  features: {run: ./ok.sh, needs: validate}\n"
					 "  train: {run: ./ok.sh, needs: [validate]}\n"
					 "  analytics: {run: ./ok.sh, needs: [validate]}\n"
					 "  validate: {run: ./ok.sh, needs: [quality]}\n"
					 "  quality: {run: ./ok.sh, needs: [schema]}\n"
					 "  schema: {run: ./ok.sh, needs: [ingest]}\n"
					 "  ingest: {run: ./ok.sh}\n"
					 "  lonely: {run: ./ok.sh}\n",
					 NULL);
	int pos[16];
	int seen[16] = {0};

	assert_int_equal(p->n_stages, 10);
	for (int i = 0; i < p->n_stages; i++) {
		int s = p->order[i];
		assert_in_range(s, 0, p->n_stages - 1);
		assert_int_equal(seen[s], 0);
		seen[s] = 1;
		pos[s] = i;
	}
	for (int s = 0; s < p->n_stages; s++)
		for (int k = 0; k < p->stages[s].n_needs; k++)
			if (pos[p->stages[s].needs[k]] >= pos[s])
				fail_msg("'%s' is ordered before its need '%s'", p->stages[s].name,
					 p->stages[p->stages[s].needs[k]].name);
	struct ade_stage_def *w = ade_pipeline_stage(p, "warehouse");
	assert_int_equal(w->n_needs, 3);
	assert_string_equal(p->stages[w->needs[0]].name, "analytics");
	assert_string_equal(p->stages[w->needs[1]].name, "train");
	assert_string_equal(p->stages[w->needs[2]].name, "features");
	assert_int_equal(ade_pipeline_stage(p, "features")->n_needs, 1);
	assert_string_equal(p->stages[p->order[0]].name, "ingest");
	ade_pipeline_free(p);
}

static void test_exec_dir_lookup(void **state)
{
	struct fixture *f = *state;
	const char *text = HDR "  a: {run: ade-fake --flag}\n  b: {run: sh -c true}\n";
	struct ade_pipeline *p = load_ok(f, text, f->bin);
	char *fake = ade_xasprintf("%s/ade-fake", f->bin);
	char *sh = ade_xasprintf("%s/sh", f->bin);

	assert_string_equal(p->stages[0].exe, fake);
	assert_string_equal(p->stages[0].argv[0], "ade-fake");
	assert_string_equal(p->stages[0].argv[1], "--flag");
	/* exec_dir comes before PATH. */
	assert_string_equal(p->stages[1].exe, sh);
	ade_pipeline_free(p);

	/* Without exec_dir, sh comes from PATH and ade-fake is not found. */
	p = load_ok(f, HDR "  b: {run: sh -c true}\n", NULL);
	assert_string_not_equal(p->stages[0].exe, sh);
	assert_int_equal(p->stages[0].exe[0], '/');
	assert_int_equal(access(p->stages[0].exe, X_OK), 0);
	ade_pipeline_free(p);

	struct ade_error err = {0};
	char *path = NULL;
	p = NULL;
	assert_int_equal(load_text(f, "noexec.yaml", text, NULL, &p, &err, &path), ADE_EPARSE);
	char *want = ade_xasprintf("%s:3:12: executable 'ade-fake' not found next to ade or on PATH",
				   path);
	assert_string_equal(err.msg, want);
	assert_null(p);
	free(want);
	free(path);
	free(fake);
	free(sh);
}

/* A pipeline that references itself through anchors must not crash the loader. */
static void test_recursive_alias(void **state)
{
	struct fixture *f = *state;
	struct ade_pipeline *p = NULL;
	struct ade_error err = {0};
	char *path = NULL;
	int rc = load_text(f, "alias.yaml",
			   HDR "  a:\n    run: ./ok.sh\n    with: &w {self: *w}\n", NULL, &p, &err,
			   &path);

	assert_int_equal(rc, ADE_EPARSE);
	assert_null(p);
	char *want = ade_xasprintf("%s:5:11: this value contains itself through an alias", path);
	assert_string_equal(err.msg, want);
	free(want);
	free(path);

	/* Nesting deeper than the loader recurses. */
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	ade_strbuf_adds(&sb, HDR "  a:\n    run: ./ok.sh\n    with: {x: ");
	for (int i = 0; i < 5000; i++)
		ade_strbuf_addc(&sb, '[');
	for (int i = 0; i < 5000; i++)
		ade_strbuf_addc(&sb, ']');
	ade_strbuf_adds(&sb, "}\n");
	rc = load_text(f, "deep.yaml", sb.buf, NULL, &p, &err, &path);
	ade_strbuf_release(&sb);
	assert_int_equal(rc, ADE_EPARSE);
	assert_null(p);
	want = ade_xasprintf("%s:5:1012: values nested deeper than 1000 levels", path);
	assert_string_equal(err.msg, want);
	free(want);
	free(path);

	/* Aliases that multiply ("billion laughs") are refused, not expanded. */
	ade_strbuf_adds(&sb, "pipeline: p\nlineage:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i <= 8; i++)
		ade_strbuf_addf(&sb, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
				i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	ade_strbuf_adds(&sb, "stages:\n  a: {run: ./ok.sh}\n");
	rc = load_text(f, "laughs.yaml", sb.buf, NULL, &p, &err, &path);
	ade_strbuf_release(&sb);
	assert_int_equal(rc, ADE_EPARSE);
	assert_null(p);
	assert_non_null(strstr(err.msg, ": aliases expand to more than 10000000 values"));
	free(path);

	/* Aliases that do not recurse are fine. */
	p = load_ok(f,
		    "pipeline: p\nparams: &pp {region: eu}\nstages:\n"
		    "  a: {run: ./ok.sh, with: {cfg: *pp}}\n",
		    NULL);
	assert_string_equal(ade_json_str(cJSON_GetObjectItem(p->stages[0].with, "cfg"), "region", ""),
			    "eu");
	ade_pipeline_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_yaml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_level_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topological_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_dir_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recursive_alias, setup, teardown),
	};

	return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
