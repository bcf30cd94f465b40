/*
 * The `ade` command: one function per subcommand, each parsing its own
 * options and returning an exit code (ADE_EXIT_*); only main() exits.
 */
#ifndef ADE_CLI_H
#define ADE_CLI_H

struct ade_cli {
	const char *home;     /* absolute home directory */
	const char *exec_dir; /* directory of the ade binary */
	int tty;              /* stdout is a smart terminal */
};

struct ade_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct ade_cli *cli);
	const char *usage;
	const char *help;
};

extern const struct ade_cmd ade_commands[];

int ade_cmd_check(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_plan(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_run(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_backfill(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_runs(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_show(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_logs(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_schedule(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_stream(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_models(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_predict(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_features(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_kpis(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_sql(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_warehouse(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_artifacts(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_rollback(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_lineage(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_report(int argc, char **argv, struct ade_cli *cli);
int ade_cmd_serve(int argc, char **argv, struct ade_cli *cli);

struct ade_observers;
struct ade_exec_opts;
struct ade_lineage_emitter;
/*
 * Registers the observers of every run (archives, OpenLineage events, ...)
 * and points o->on_event at them; obs and lineage (which may be NULL) are
 * borrowed and must outlive the executor.  `ade run`, `ade backfill` and
 * `ade schedule` all call this, so a new observer is added here once.
 */
void ade_cli_add_observers(struct ade_observers *obs, struct ade_exec_opts *o,
			   struct ade_lineage_emitter *lineage);

/* Prints "ade CMD: msg" and the command's usage line to stderr; returns 2. */
int ade_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Checks that option opt's value v is a date YYYY-MM-DD; returns 0, or
 * prints the usage error of cmd and returns ADE_EXIT_USAGE.
 */
int ade_cli_check_date(const char *cmd, const char *opt, const char *v);

/* A PIPELINE argument that names a file (a path, or *.yaml / *.yml), not a name. */
int ade_cli_is_file_arg(const char *s);

/* A pipeline name usable as one path component (no '/', '.', '..', controls). */
int ade_cli_name_ok(const char *s);

/* Parses a positive integer option value; returns 0 or -1. */
int ade_cli_parse_int(const char *s, int min, int max, int *out);

#endif
