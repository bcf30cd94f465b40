/*
 * ade: runs pipelines of stage executables per execution date.  This file
 * holds the command table, global options and the exit-code contract.
 */
#include "cli.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * `ade serve` is its own executable, ade-serve, built from this file with
 * ADE_SERVE_ONLY: linking libmicrohttpd (and gnutls behind it) into ade
 * cost every other command about 1 ms of start-up.  ade execs it with
 * the same command line, so the pid, the signals and the exit code are
 * those of `ade serve`.
 */
#ifdef ADE_SERVE_ONLY
#define SERVE_FN ade_cmd_serve
#else
static int serve_exec(int argc, char **argv, struct ade_cli *cli);
#define SERVE_FN serve_exec
#endif

const struct ade_cmd ade_commands[] = {
#ifndef ADE_SERVE_ONLY
	{"check", ade_cmd_check, "ade check PIPELINE...",
	 "Load and check pipeline files without running anything: unknown keys, wrong\n"
	 "types, cycles, needs that name no stage, unknown template names and missing\n"
	 "executables are reported as FILE:LINE:COLUMN: reason.  Exit 0 when every file\n"
	 "is valid, 3 when one was refused, 2 when one cannot be read (a missing file\n"
	 "is a bad command line, not a bad pipeline)."},
	{"plan", ade_cmd_plan, "ade plan PIPELINE [--date D]",
	 "Print the stages of PIPELINE in the order they would start for date D, with\n"
	 "their resolved argv, working directory and contract environment.  Runs nothing."},
	{"run", ade_cmd_run,
	 "ade run PIPELINE [--date D] [--only S] [--from-stage S] [--force] [-j N]",
	 "Run PIPELINE for date D (default: yesterday, UTC: the newest complete day).\n"
	 "An unfinished run of that date left by a killed ade is resumed: stages that\n"
	 "succeeded are not run again.  Otherwise a new run is created; the same date\n"
	 "run twice gets run numbers 1 and 2.\n"
	 "  --only S        run only stage S; stages it needs are reused from the newest\n"
	 "                  earlier run of that date where they succeeded\n"
	 "  --from-stage S  run S and everything downstream of it, reusing the rest\n"
	 "  --force         start a new run even if an unfinished one exists\n"
	 "  -j, --jobs N    run up to N stages at once (default 1)"},
	{"backfill", ade_cmd_backfill,
	 "ade backfill PIPELINE --from D1 --to D2 [--reprocess missing|failed|all]\n"
	 "             [--max-active-runs N] [--reverse] [--dry-run] [-j N]",
	 "Run PIPELINE for every date from D1 to D2 inclusive, oldest first (or newest\n"
	 "first with --reverse), up to N dates at once and -j stages at once in all.\n"
	 "  --reprocess missing  dates without a successful run (default); unfinished\n"
	 "                       runs are resumed, so a killed backfill is continued by\n"
	 "                       running the same command again\n"
	 "  --reprocess failed   only dates whose newest run failed or is unfinished\n"
	 "  --reprocess all      every date\n"
	 "  --dry-run            print what would run and why, run nothing"},
	{"runs", ade_cmd_runs, "ade runs [--pipeline P] [--state S] [--limit N] [--json]",
	 "List runs, newest first: pipeline, date, run number, state, duration, run id."},
	{"show", ade_cmd_show, "ade show RUN [--json]",
	 "Show one run: every stage with its state, attempts, duration, CPU time and\n"
	 "peak memory.  RUN is a run id, a unique prefix of one, or PIPELINE/DS[/N]."},
	{"logs", ade_cmd_logs, "ade logs RUN STAGE [--attempt N]",
	 "Print the log of a stage's attempt (default: the last attempt)."},
	{"schedule", ade_cmd_schedule, "ade schedule PIPELINE... [--once] [--now TIME] [-j N]",
	 "Run pipelines on their cron schedules (UTC) until stopped with SIGTERM.  The\n"
	 "run for a day starts at the first time its `schedule:` fires after the day\n"
	 "ends.  `catchup: true` runs every day since start_date that has no run yet,\n"
	 "oldest first, up to max_active_runs at once; `catchup: false` only the newest.\n"
	 "`depends_on_past: true` holds a day until the day before succeeded.\n"
	 "One scheduler per home (scheduler.lock); SIGHUP reloads the pipeline files.\n"
	 "  --once      start what is due, wait for it, and exit (for cron or systemd)\n"
	 "  --now TIME  pretend the clock reads TIME (YYYY-MM-DD[THH:MM[:SS]Z] or\n"
	 "              @SECONDS, UTC) and runs on from there; also ADE_NOW\n"
	 "  -j N        stages at once across all runs (default 1)"},
	{"stream", ade_cmd_stream,
	 "ade stream PIPELINE --date D [--batch-rows N] [--rate ROWS_PER_S]\n"
	 "             ade stream PIPELINE --watch DIR [--date D] [--max-files N] [--idle-exit S]",
	 "Replay date D's source as micro-batches of N rows (default stream.batch_rows,\n"
	 "else 200) through the pipeline's stream.stages, run in-process, each loaded\n"
	 "into the warehouse by (pipeline, ds, batch) and checkpointed in state.db.\n"
	 "Killed and started again, it goes on from the first uncommitted batch; every\n"
	 "source row ends in the warehouse once.  Prints rows/s and p50/p99 latency.\n"
	 "With --watch, each file that lands complete in DIR (closed after writing or\n"
	 "moved in) is one batch, in arrival order, never taken twice; SIGTERM stops it\n"
	 "(exit 0).  Only ade's own stages can stream (docs/stream.md).\n"
	 "  --rate R        hold the replay to R rows per second\n"
	 "  --max-files N   exit after N files; --idle-exit S: after S seconds without one"},
	{"models", ade_cmd_models, "ade models PIPELINE [--json] [--runs]",
	 "List PIPELINE's model versions with their holdout metrics (N_TRAIN, N_TEST,\n"
	 "MAE, RMSE, R2 and the MAE of always predicting the training mean), newest\n"
	 "date first: from the warehouse table model_metrics when it has rows for\n"
	 "PIPELINE (read-only), else (or with --runs) from the model.json files that\n"
	 "ade-train left under HOME/runs/PIPELINE/DS/run-N/STAGE/out (docs/train.md)."},
	{"predict", ade_cmd_predict,
	 "ade predict PIPELINE [--model VERSION|--as-of D] [--stage S] --input FILE\n"
	 "             [--out FILE] [--format csv|ndjson|auto]",
	 "Apply a model that ade-train wrote to the rows of FILE (CSV or NDJSON, read\n"
	 "as ade-ingest reads them) with exactly the training encoding and imputation,\n"
	 "and write CSV to stdout or --out FILE: the model's key column when FILE has\n"
	 "it, then `prediction`.  The model is the newest one, the newest on or before\n"
	 "date D (--as-of), or the one whose version starts with VERSION (--model);\n"
	 "--stage S picks among runs with several training stages.\n"
	 "Null numbers are imputed with the training mean; unseen and null categories\n"
	 "encode as all zeros; both are counted on stderr.  Exit 2 for bad arguments,\n"
	 "1 when no model matches, the model file is truncated or from a newer format\n"
	 "version, FILE cannot be read or lacks a feature column (docs/train.md)."},
	{"kpis", ade_cmd_kpis,
	 "ade kpis PIPELINE [--from D1] [--to D2] [--kpi NAME]... [--format table|csv|json]",
	 "Print PIPELINE's KPI history from the warehouse: one row per date, one column\n"
	 "per KPI (every KPI by name, or those given with --kpi, in that order).  Dates\n"
	 "are the batch-mode loads; micro-batch KPIs are in the table kpi_history.\n"
	 "Exit 1 when the warehouse has no KPIs for PIPELINE, 4 when there is no warehouse."},
	{"sql", ade_cmd_sql, "ade sql [--format table|csv|json] \"SELECT ...\"",
	 "Run one read-only query on the warehouse and print its result.  The warehouse\n"
	 "is opened read-only: a statement that would change it (INSERT, UPDATE, DELETE,\n"
	 "CREATE, DROP, ATTACH, ...) is refused with exit 2, an SQL error exits 1, and a\n"
	 "missing warehouse exits 4."},
	{"warehouse", ade_cmd_warehouse, "ade warehouse info [--format table|json]",
	 "Describe the warehouse: its schema version and size, every table with its row\n"
	 "count, the dates loaded per pipeline and the last load of each pipeline."},
	{"features", ade_cmd_features,
	 "ade features list PIPELINE [--json]\n"
	 "             ade features get PIPELINE --as-of D [--format csv|frame] [--out PATH]",
	 "Read the feature store that ade-features writes (docs/features.md).\n"
	 "  list  every date with its snapshot: version, rows, columns, content hash\n"
	 "  get   the snapshot as it was for the latest date on or before D (point in\n"
	 "        time): CSV to stdout or --out FILE, or with --format frame the frame\n"
	 "        directory, hard-linked to --out DIR (which must not exist)\n"
	 "Exit 1 when the pipeline has no snapshot on or before D, 2 for bad arguments."},
	{"artifacts", ade_cmd_artifacts,
	 "ade artifacts list [PIPELINE] [--date D]\n"
	 "             ade artifacts show|verify PIPELINE --date D [--run N]\n"
	 "             ade artifacts diff PIPELINE --date D --run N1 --run N2\n"
	 "             ade artifacts restore PIPELINE --date D [--run N] [--to DIR]\n"
	 "             ade artifacts pack PIPELINE-FILE --date D [--run N] [--include all] [--out F]",
	 "The versioned archives of finished runs, HOME/artifacts/PIPELINE/DS/run-N.tar.zst\n"
	 "(docs/artifacts.md).  PIPELINE is a pipeline name or file; --run defaults to\n"
	 "the newest archive of the date.\n"
	 "  list     the archives, with their run's state, file count and size\n"
	 "  show     the archive's MANIFEST.json (files with size and SHA-256, run metadata)\n"
	 "  verify   re-hash every file against the manifest; names each file that\n"
	 "           differs; exit 1 on a mismatch or a corrupt or truncated archive\n"
	 "  diff     files added, removed and changed between two runs; for JSON files\n"
	 "           the changed keys\n"
	 "  restore  extract into DIR (default: the run's directory under HOME/runs), which\n"
	 "           must not exist; refuses absolute paths, '..', links out of DIR and\n"
	 "           devices\n"
	 "  pack     pack a run directory again (with --out: to that file, no retention)\n"
	 "Exit 2 for bad arguments, 1 when an archive is missing or fails verification."},
	{"rollback", ade_cmd_rollback, "ade rollback PIPELINE --date D --to-run N",
	 "Reload the warehouse for date D from the archive of run N: the archive is\n"
	 "verified, restored to a temporary directory and ade-warehouse runs over it with\n"
	 "the contract environment of run N (its run id, its stage configuration), in one\n"
	 "transaction that replaces the date.  Idempotent.  Exit 1 when the archive is\n"
	 "missing or damaged or run N's warehouse stage did not succeed."},
	{"lineage", ade_cmd_lineage,
	 "ade lineage PIPELINE --date D [--run N] [--format json|text|dot]\n"
	 "             ade lineage PIPELINE --date D [--run N] --column TABLE.COLUMN [--format json|text]",
	 "Print the lineage of a run of PIPELINE (a name or its file) for date D (default\n"
	 "the newest run): the document ade-lineage wrote, else one built from the run\n"
	 "directory; as JSON, a readable tree (text) or Graphviz DOT.  --column traces one\n"
	 "column upstream to its sources and downstream to everything derived from it;\n"
	 "TABLE is a warehouse table, a dataset label such as validate/frame, or a file\n"
	 "name.  Exit 1 when there is no such run or column, 2 for bad arguments\n"
	 "(docs/lineage.md)."},
	{"report", ade_cmd_report, "ade report PIPELINE [--from D1] [--to D2] [--out FILE]",
	 "Write one self-contained HTML file about PIPELINE (a name or its file): KPI\n"
	 "trends, the last run's stages as a Gantt chart, duration and peak memory per\n"
	 "stage over dates, validation results, schema changes, the healing log, the last\n"
	 "run's lineage graph and the run history; failures in red.  No script and nothing\n"
	 "fetched from elsewhere: it opens offline in any browser (docs/report.md).\n"
	 "  --from, --to  only these execution dates (inclusive)\n"
	 "  --out FILE    where to write it (default HOME/reports/PIPELINE.html; - for\n"
	 "                stdout); the path written is printed\n"
	 "Exit 2 for bad arguments, 1 when the home knows nothing of PIPELINE or FILE\n"
	 "cannot be written, 4 when state.db or the warehouse cannot be read."},
#endif
	{"serve", SERVE_FN, "ade serve [--listen HOST:PORT] [--token TOKEN] [--threads N]",
	 "Serve the home read-only over HTTP (docs/serve.md): the HTML report at /, JSON\n"
	 "at /api/v1/runs, /api/v1/runs/ID, /api/v1/kpis, /api/v1/lineage, /api/v1/artifacts\n"
	 "(described at /api/v1/openapi.json), Prometheus metrics at /metrics and /healthz.\n"
	 "Prints the bound address on stdout; SIGTERM or SIGINT stops it (exit 0).\n"
	 "  --listen HOST:PORT  numeric IPv4 or [IPv6] address (default 127.0.0.1:8080;\n"
	 "                      port 0 picks a free one).  A non-loopback address needs\n"
	 "                      a token, else ade refuses to start (exit 2)\n"
	 "  --token TOKEN       require Authorization: Bearer TOKEN on every route but\n"
	 "                      /healthz (also ADE_SERVE_TOKEN, which stays out of ps)\n"
	 "  --threads N         request threads (default 4)\n"
	 "Exit 2 for bad arguments, 4 when the home is missing, 1 when the address cannot\n"
	 "be bound (in use, or not allowed)."},
	{NULL, NULL, NULL, NULL},
};

static const char *exit_codes =
	"Exit codes:\n"
	"  0    success\n"
	"  1    a run or a stage failed\n"
	"  2    bad command line\n"
	"  3    the pipeline file was refused (the message gives FILE:LINE:COLUMN)\n"
	"  4    the home, state.db or the warehouse is unusable or held by another ade\n"
	"  65   (stages) the data failed a check of severity fail; never retried\n"
	"  75   (stages) temporary failure; retried\n"
	"  130  interrupted by Ctrl-C or SIGTERM; running stages were stopped\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: ade [--home DIR] [-v|-q] COMMAND [ARGS]\n\nCommands:\n");
	for (const struct ade_cmd *c = ade_commands; c->name; c++)
		fprintf(f, "  %s\n", c->usage);
	fprintf(f, "  ade help COMMAND\n  ade version\n\n"
		   "Options:\n"
		   "  --home DIR  where runs, state.db and the warehouse live (default $ADE_HOME,\n"
		   "              else ./ade-home)\n"
		   "  -v, -q      more or less output (also ADE_LOG=error|warn|info|debug)\n\n%s",
		exit_codes);
}

int ade_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ade %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (const struct ade_cmd *c = ade_commands; c->name; c++)
		if (!strcmp(c->name, cmd))
			fprintf(stderr, "usage: %s\n", c->usage);
	return ADE_EXIT_USAGE;
}

int ade_cli_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int ade_cli_check_date(const char *cmd, const char *opt, const char *v)
{
	int32_t d;

	if (strlen(v) != 10 || ade_date_parse(v, &d, NULL))
		return ade_cli_usage_error(cmd, "%s needs a date YYYY-MM-DD, not '%s'", opt, v);
	return 0;
}

int ade_cli_is_file_arg(const char *s)
{
	size_t n = strlen(s);

	return strchr(s, '/') || (n > 5 && !strcmp(s + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(s + n - 4, ".yml"));
}

int ade_cli_name_ok(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

static const struct ade_cmd *find_cmd(const char *name)
{
	for (const struct ade_cmd *c = ade_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static char **g_argv; /* main's, for serve_exec */

#ifndef ADE_SERVE_ONLY
static int serve_exec(int argc, char **argv, struct ade_cli *cli)
{
	(void)argc;
	(void)argv;
	char *path = ade_xasprintf("%s/ade-serve", cli->exec_dir ? cli->exec_dir : ".");
	char *const *args = g_argv;
	fflush(stdout);
	execv(path, args);
	fprintf(stderr, "ade serve: cannot run '%s': %s\n", path, strerror(errno));
	free(path);
	return ADE_EXIT_STATE;
}
#endif

static char *exec_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return ade_fs_dirname(buf);
}

int main(int argc, char **argv)
{
	struct ade_cli cli = {0};
	const char *home = getenv("ADE_HOME");
	char *home_abs = NULL, *xdir = NULL;
	int i = 1, rc;

	g_argv = argv;
	ade_log_set_prog("ade");
	ade_log_init_from_env();
	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--home") && i + 1 < argc) {
			home = argv[++i];
		} else if (!strncmp(argv[i], "--home=", 7)) {
			home = argv[i] + 7;
		} else if (!strcmp(argv[i], "-v")) {
			ade_log_set_level(ADE_LOG_DEBUG);
		} else if (!strcmp(argv[i], "-q")) {
			ade_log_set_level(ADE_LOG_ERROR);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("ade %s\n", ADE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "ade: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return ADE_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return ADE_EXIT_USAGE;
	}
	const char *name = argv[i];
	if (!strcmp(name, "version")) {
		printf("ade %s\n", ADE_VERSION);
		return 0;
	}
	if (!strcmp(name, "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return 0;
		}
		const struct ade_cmd *c = find_cmd(argv[i + 1]);
		if (!c) {
			fprintf(stderr, "ade help: no command '%s'\n", argv[i + 1]);
			return ADE_EXIT_USAGE;
		}
		printf("usage: %s\n\n%s\n\n%s", c->usage, c->help, exit_codes);
		return 0;
	}
	const struct ade_cmd *c = find_cmd(name);
	if (!c) {
		fprintf(stderr, "ade: '%s' is not a command; see 'ade --help'\n", name);
		return ADE_EXIT_USAGE;
	}
	if (!home || !*home)
		home = "ade-home";
	home_abs = ade_fs_abspath(home);
	xdir = exec_dir();
	cli.home = home_abs ? home_abs : home;
	cli.exec_dir = xdir;
	const char *term = getenv("TERM");
	cli.tty = isatty(1) && term && strcmp(term, "dumb");
	/* Each command parses argv from its own name, like git's builtins. */
	rc = c->fn(argc - i, argv + i, &cli);
	free(home_abs);
	free(xdir);
	return rc;
}
