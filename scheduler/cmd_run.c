/* ade check, plan, run and backfill. */
#include "cli.h"
#include "exec.h"
#include "observe.h"
#include "pipeline.h"
#include "state.h"
#include "artifacts/artifacts.h"
#include "lineage/lineage.h"
#include "report/report.h"
#include "metrics/metrics.h"
#include "core/date.h"
#include "core/error.h"
#include "core/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int load(struct ade_cli *cli, const char *path, struct ade_pipeline **p)
{
	struct ade_error err = {0};
	int rc = ade_pipeline_load(path, cli->exec_dir, p, &err);

	if (rc) {
		fprintf(stderr, "%s\n", err.msg);
		return rc == ADE_EPARSE ? ADE_EXIT_PIPELINE : ADE_EXIT_USAGE;
	}
	return 0;
}

int ade_cmd_check(int argc, char **argv, struct ade_cli *cli)
{
	int bad = 0;

	if (argc < 2)
		return ade_cli_usage_error("check", "no pipeline file given");
	for (int i = 1; i < argc; i++) {
		struct ade_pipeline *p = NULL;
		if (argv[i][0] == '-')
			return ade_cli_usage_error("check", "unknown option '%s'", argv[i]);
		int rc = load(cli, argv[i], &p);
		if (rc) {
			/* A refused pipeline (3) outranks an unreadable file (2). */
			if (rc > bad)
				bad = rc;
			continue;
		}
		printf("%s: ok: pipeline '%s', %d stage%s\n", argv[i], p->name, p->n_stages,
		       p->n_stages == 1 ? "" : "s");
		ade_pipeline_free(p);
	}
	return bad;
}

/* Yesterday in UTC: the newest day whose interval has ended. */
static void default_date(char out[11])
{
	int64_t days = ade_now_wall_us() / 1000000 / 86400 - 1;

	ade_date_format((int32_t)days, out);
}

static void print_quoted(const char *s)
{
	if (*s && !strpbrk(s, " \t'\"\\$`")) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

int ade_cmd_plan(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"date", required_argument, NULL, 'd'},
					     {NULL, 0, NULL, 0}};
	char ds[11];
	int32_t days;
	struct ade_pipeline *p = NULL;
	struct ade_error err = {0};
	int c, rc;

	default_date(ds);
	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (c == 'd') {
			if (ade_date_parse(optarg, &days, &err))
				return ade_cli_usage_error("plan", "%s", err.msg);
			ade_date_format(days, ds);
		} else {
			return ade_cli_usage_error("plan", "unrecognized option \'%s\'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("plan", "give exactly one pipeline file");
	if ((rc = load(cli, argv[optind], &p)))
		return rc;
	ade_date_parse(ds, &days, NULL);
	char nodash[9], is[21], ie[21];
	ade_date_format_nodash(days, nodash);
	ade_date_interval(days, is, ie);
	struct ade_template_vars v = {.ds = ds, .ds_nodash = nodash, .interval_start = is,
				      .interval_end = ie, .run_id = "<run-id>", .batch = NULL,
				      .home = cli->home, .params = p->params};
	printf("pipeline %s (%s) for %s, interval [%s, %s)\n", p->name, p->path, ds, is, ie);
	if (p->source) {
		char *src = NULL;
		if (!ade_template_render(p->source, &v, &src, &err)) {
			printf("source: %s%s%s\n", src[0] == '/' ? "" : p->dir,
			       src[0] == '/' ? "" : "/", src);
			free(src);
		}
	}
	for (int k = 0; k < p->n_stages; k++) {
		struct ade_stage_def *d = &p->stages[p->order[k]];
		printf("\n%d. %s", k + 1, d->name);
		if (d->n_needs) {
			printf(" (needs");
			for (int j = 0; j < d->n_needs; j++)
				printf(" %s", p->stages[d->needs[j]].name);
			printf(")");
		}
		printf("\n   argv: ");
		print_quoted(d->exe);
		for (int j = 1; j < d->argc; j++) {
			char *a = NULL;
			ade_template_render(d->argv[j], &v, &a, NULL);
			putchar(' ');
			print_quoted(a ? a : d->argv[j]);
			free(a);
		}
		printf("\n   cwd:  %s\n", p->dir);
		printf("   env:  ADE_PIPELINE=%s ADE_STAGE=%s ADE_DS=%s\n", p->name, d->name, ds);
		printf("         ADE_INTERVAL_START=%s ADE_INTERVAL_END=%s\n", is, ie);
		printf("         ADE_RUN_ID=<run-id> ADE_ATTEMPT=<A> ADE_BATCH=\n");
		printf("         ADE_HOME=%s ADE_WAREHOUSE=%s/warehouse.db\n", cli->home, cli->home);
		printf("         ADE_RUN_DIR=%s/runs/%s/%s/run-<N>\n", cli->home, p->name, ds);
		printf("         ADE_CONFIG=%s/runs/%s/%s/run-<N>/%s\n", cli->home, p->name, ds,
		       d->with->child ? "<stage>/config.json" : "empty-config.json");
		printf("         ADE_OUT=%s/runs/%s/%s/run-<N>/%s/attempt-<A>.tmp\n", cli->home,
		       p->name, ds, d->name);
		for (int j = 0; j < d->n_needs; j++) {
			printf("         ADE_IN_");
			for (const char *s = p->stages[d->needs[j]].name; *s; s++)
				putchar(*s == '-' ? '_' : (*s >= 'a' && *s <= 'z' ? *s - 32 : *s));
			printf("=%s/runs/%s/%s/run-<N>/%s/out\n", cli->home, p->name, ds,
			       p->stages[d->needs[j]].name);
		}
		for (int j = 0; j < d->n_env; j++)
			printf("         %s\n", d->env[j]);
		cJSON *cfg = ade_template_render_json(d->with, &v, &err);
		if (cfg && cfg->child) {
			char *text = cJSON_PrintUnformatted(cfg);
			printf("   config (ADE_CONFIG): %s\n", text);
			free(text);
		}
		cJSON_Delete(cfg);
		char timeout[32] = "none";
		if (d->timeout_ms)
			snprintf(timeout, sizeof(timeout), "%.3gs", d->timeout_ms / 1000.0);
		printf("   retries %d, timeout %s, trigger %s\n", d->retries, timeout,
		       (const char *[]){"all_success", "all_done", "one_failed",
					"none_failed"}[d->trigger]);
	}
	ade_pipeline_free(p);
	return 0;
}

static int open_state(struct ade_cli *cli, struct ade_state *st)
{
	struct ade_error err = {0};

	if (ade_state_open(st, cli->home, &err)) {
		fprintf(stderr, "ade: %s\n", err.msg);
		return ADE_EXIT_STATE;
	}
	return 0;
}

static int finish(struct ade_exec *ex, struct ade_state *st, struct ade_pipeline *p,
		  struct ade_observers *obs)
{
	struct ade_exec_summary sum = {0};
	struct ade_error err = {0};
	int rc = ade_exec_run(ex, &sum, &err);

	ade_observers_close(obs); /* its queued events point into p */
	ade_exec_free(ex);
	ade_state_close(st);
	ade_pipeline_free(p);
	if (rc) {
		fprintf(stderr, "ade: %s\n", err.msg);
		return ADE_EXIT_STATE;
	}
	if (sum.interrupted)
		return ADE_EXIT_INTERRUPTED;
	return sum.runs_failed ? ADE_EXIT_FAILED : ADE_EXIT_OK;
}

static void artifacts_observer_free(void *p)
{
	struct ade_artifacts_observer *ao = p;

	ade_artifacts_cache_free(ao->cache);
	free(ao);
}

void ade_cli_add_observers(struct ade_observers *obs, struct ade_exec_opts *o,
			   struct ade_lineage_emitter *lineage)
{
	/*
	 * Each stage's folder is walked for the archive when the stage ends,
	 * on the worker; the pack at the run's end takes what was collected.
	 */
	struct ade_artifacts_observer *ao = ade_xcalloc(1, sizeof(*ao));
	ao->cache = ade_artifacts_cache_new();
	ade_observers_own(obs, artifacts_observer_free, ao);
	ade_observers_add(obs, ade_report_on_event, NULL); /* first: the archive includes run_summary.json */
	ade_observers_add_after_async(obs, ade_artifacts_on_event, ao); /* uses what the worker collected */
	if (lineage && ade_observers_add_async(obs, ade_lineage_on_event, lineage))
		ade_observers_add(obs, ade_lineage_on_event, lineage);
	/* Only at a run's end, from state.db: beside the summary and the archive. */
	if (ade_observers_add_async(obs, ade_metrics_on_event, NULL))
		ade_observers_add(obs, ade_metrics_on_event, NULL);
	if (ade_observers_add_async(obs, ade_artifacts_on_stage_event, ao->cache))
		ade_observers_add(obs, ade_artifacts_on_stage_event, ao->cache);
	o->on_event = ade_observers_dispatch;
	o->on_wait = ade_observers_wake;
	o->event_arg = obs;
}

int ade_cmd_run(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {
		{"date", required_argument, NULL, 'd'},  {"only", required_argument, NULL, 'o'},
		{"from-stage", required_argument, NULL, 'f'}, {"force", no_argument, NULL, 'F'},
		{"jobs", required_argument, NULL, 'j'},  {NULL, 0, NULL, 0}};
	const char *only = NULL, *from = NULL;
	char ds[11];
	int jobs = 1, force = 0, c, rc;
	int32_t days;
	struct ade_error err = {0};
	struct ade_pipeline *p = NULL;
	struct ade_state st;

	default_date(ds);
	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "d:j:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ade_date_parse(optarg, &days, &err))
				return ade_cli_usage_error("run", "%s", err.msg);
			ade_date_format(days, ds);
			break;
		case 'o': only = optarg; break;
		case 'f': from = optarg; break;
		case 'F': force = 1; break;
		case 'j':
			if (ade_cli_parse_int(optarg, 1, 1024, &jobs))
				return ade_cli_usage_error("run", "-j needs a number from 1 to 1024, not '%s'",
							   optarg);
			break;
		default:
			return ade_cli_usage_error("run", "unrecognized option \'%s\'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("run", "give exactly one pipeline file");
	if (only && from)
		return ade_cli_usage_error("run", "--only and --from-stage cannot be combined");
	if ((rc = load(cli, argv[optind], &p)))
		return rc;
	/*
	 * A stage name that is not in the pipeline is a bad command line:
	 * refuse it before the home and state.db are created.
	 */
	const char *stage = only ? only : from;
	if (stage && !ade_pipeline_stage(p, stage)) {
		rc = ade_cli_usage_error("run", "pipeline '%s' has no stage '%s'", p->name, stage);
		ade_pipeline_free(p);
		return rc;
	}
	if ((rc = open_state(cli, &st))) {
		ade_pipeline_free(p);
		return rc;
	}
	struct ade_exec_opts o = {.home = cli->home, .jobs = jobs, .max_active_runs = 1,
				  .progress = cli->tty ? 2 : 1};
	struct ade_observers obs = {0};
	struct ade_lineage_emitter *lineage = NULL;
	if (ade_lineage_emitter_new(cli->home, p, &lineage, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		ade_state_close(&st);
		ade_pipeline_free(p);
		return ADE_EXIT_PIPELINE;
	}
	ade_cli_add_observers(&obs, &o, lineage);
	struct ade_exec *ex = ade_exec_new(&st, &o);
	if (ade_exec_add(ex, p, ds, force ? ADE_ADD_NEW : ADE_ADD_RESUME_OR_NEW, only, from, &err)) {
		ade_observers_close(&obs);
		ade_lineage_emitter_free(lineage);
		ade_exec_free(ex);
		ade_state_close(&st);
		ade_pipeline_free(p);
		return ade_cli_usage_error("run", "%s", err.msg);
	}
	rc = finish(ex, &st, p, &obs);
	ade_lineage_emitter_free(lineage); /* after the executor, which calls it */
	return rc;
}

/* What a backfill does with a date, given its newest run. */
static const char *backfill_action(struct ade_state *st, struct ade_pipeline *p, const char *ds,
				   const char *reprocess, const char **why)
{
	struct ade_run_row r;
	const char *action;

	if (ade_state_run_latest(st, p->name, ds, &r, NULL)) {
		*why = "never run";
		return !strcmp(reprocess, "failed") ? NULL : "run";
	}
	int unfinished = !strcmp(r.state, "running") || !strcmp(r.state, "queued");
	if (unfinished) {
		*why = "unfinished run";
		action = "resume";
	} else if (!strcmp(r.state, "success")) {
		*why = "succeeded";
		action = !strcmp(reprocess, "all") ? "run" : NULL;
	} else {
		*why = "failed";
		action = "run";
	}
	ade_run_row_release(&r);
	return action;
}

int ade_cmd_backfill(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'a'},
		{"to", required_argument, NULL, 'b'},
		{"reprocess", required_argument, NULL, 'r'},
		{"max-active-runs", required_argument, NULL, 'm'},
		{"reverse", no_argument, NULL, 'R'},
		{"dry-run", no_argument, NULL, 'n'},
		{"jobs", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0}};
	int32_t from = 0, to = 0;
	int have_from = 0, have_to = 0, reverse = 0, dry = 0, jobs = 1, max_active = 0, c, rc;
	const char *reprocess = "missing";
	struct ade_error err = {0};
	struct ade_pipeline *p = NULL;
	struct ade_state st;

	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (ade_date_parse(optarg, &from, &err))
				return ade_cli_usage_error("backfill", "--from: %s", err.msg);
			have_from = 1;
			break;
		case 'b':
			if (ade_date_parse(optarg, &to, &err))
				return ade_cli_usage_error("backfill", "--to: %s", err.msg);
			have_to = 1;
			break;
		case 'r':
			if (strcmp(optarg, "missing") && strcmp(optarg, "failed") && strcmp(optarg, "all"))
				return ade_cli_usage_error(
					"backfill", "--reprocess must be missing, failed or all, not '%s'",
					optarg);
			reprocess = optarg;
			break;
		case 'm':
			if (ade_cli_parse_int(optarg, 1, 10000, &max_active))
				return ade_cli_usage_error("backfill",
							   "--max-active-runs needs a number from 1 to 10000");
			break;
		case 'R': reverse = 1; break;
		case 'n': dry = 1; break;
		case 'j':
			if (ade_cli_parse_int(optarg, 1, 1024, &jobs))
				return ade_cli_usage_error("backfill", "-j needs a number from 1 to 1024, not '%s'",
							   optarg);
			break;
		default:
			return ade_cli_usage_error("backfill", "unrecognized option \'%s\'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("backfill", "give exactly one pipeline file");
	if (!have_from || !have_to)
		return ade_cli_usage_error("backfill", "--from and --to are required");
	if (to < from)
		return ade_cli_usage_error("backfill", "--to is before --from");
	if (to - from > 36600)
		return ade_cli_usage_error("backfill", "more than 100 years of dates");
	if ((rc = load(cli, argv[optind], &p)))
		return rc;
	if ((rc = open_state(cli, &st))) {
		ade_pipeline_free(p);
		return rc;
	}
	if (!max_active)
		max_active = p->max_active_runs;
	struct ade_exec_opts o = {.home = cli->home, .jobs = jobs, .max_active_runs = max_active,
				  .progress = cli->tty ? 2 : 1};
	struct ade_observers obs = {0};
	struct ade_lineage_emitter *lineage = NULL;
	if (!dry && ade_lineage_emitter_new(cli->home, p, &lineage, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		ade_state_close(&st);
		ade_pipeline_free(p);
		return ADE_EXIT_PIPELINE;
	}
	ade_cli_add_observers(&obs, &o, lineage);
	struct ade_exec *ex = ade_exec_new(&st, &o);
	int n = 0, n_skip = 0;
	for (int32_t k = 0; k <= to - from; k++) {
		int32_t d = reverse ? to - k : from + k;
		char ds[11];
		const char *why = "";
		ade_date_format(d, ds);
		const char *action = backfill_action(&st, p, ds, reprocess, &why);
		if (dry)
			printf("%s  %-6s (%s)\n", ds, action ? action : "skip", why);
		if (!action) {
			n_skip++;
			continue;
		}
		if (!dry && ade_exec_add(ex, p, ds, ADE_ADD_RESUME_OR_NEW, NULL, NULL, &err)) {
			fprintf(stderr, "ade backfill: %s\n", err.msg);
			ade_observers_close(&obs);
			ade_lineage_emitter_free(lineage);
			ade_exec_free(ex);
			ade_state_close(&st);
			ade_pipeline_free(p);
			return ADE_EXIT_FAILED;
		}
		n++;
	}
	if (dry) {
		printf("%d date%s to run, %d skipped\n", n, n == 1 ? "" : "s", n_skip);
		ade_observers_close(&obs);
		ade_exec_free(ex);
		ade_state_close(&st);
		ade_pipeline_free(p);
		return 0;
	}
	printf("backfill %s: %d date%s to run, %d skipped (--reprocess %s)\n", p->name, n,
	       n == 1 ? "" : "s", n_skip, reprocess);
	fflush(stdout);
	rc = finish(ex, &st, p, &obs);
	ade_lineage_emitter_free(lineage); /* after the executor, which calls it */
	return rc;
}
