/*
 * ade lineage: prints a run's lineage document (the one ade-lineage
 * wrote, else one built on the fly from the run directory), as JSON, a
 * tree or Graphviz DOT, or traces one column (docs/lineage.md).
 */
#include "cli.h"
#include "lineage/lineage.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pipeline name, or a pipeline file's name (employees.yaml -> employees). */
static char *pipeline_name(const char *arg)
{
	const char *b = strrchr(arg, '/');
	const char *base = b ? b + 1 : arg;
	size_t n = strlen(base);

	if (n > 5 && !strcmp(base + n - 5, ".yaml"))
		n -= 5;
	else if (n > 4 && !strcmp(base + n - 4, ".yml"))
		n -= 4;
	else if (b)
		return NULL;
	if (!n)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = base[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return NULL;
	}
	return ade_xstrndup(base, n);
}

/* The newest run-<N> under dir, 0 if none. */
static int latest_run(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int best = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		if (strncmp(de->d_name, "run-", 4))
			continue;
		long n = strtol(de->d_name + 4, &end, 10);
		if (!*end && n > best && n < 1000000000)
			best = (int)n;
	}
	closedir(d);
	return best;
}

int ade_cmd_lineage(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {
		{"date", required_argument, NULL, 'd'},   {"run", required_argument, NULL, 'r'},
		{"format", required_argument, NULL, 'f'}, {"column", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0}};
	const char *format = "json", *column = NULL;
	char ds[11] = "";
	int run = 0, c;
	int32_t days;
	struct ade_error err = {0};

	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ade_date_parse(optarg, &days, &err))
				return ade_cli_usage_error("lineage", "%s", err.msg);
			ade_date_format(days, ds);
			break;
		case 'r':
			if (ade_cli_parse_int(optarg, 1, 1000000000, &run))
				return ade_cli_usage_error("lineage", "--run needs a run number, not '%s'", optarg);
			break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text") && strcmp(optarg, "dot"))
				return ade_cli_usage_error("lineage", "--format must be json, text or dot, not '%s'",
							   optarg);
			format = optarg;
			break;
		case 'c':
			if (!strchr(optarg, '.') || optarg[0] == '.' || optarg[strlen(optarg) - 1] == '.')
				return ade_cli_usage_error("lineage", "--column needs TABLE.COLUMN, not '%s'", optarg);
			column = optarg;
			break;
		default:
			return ade_cli_usage_error("lineage", "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("lineage", "give exactly one pipeline");
	if (!ds[0])
		return ade_cli_usage_error("lineage", "--date is required");
	if (column && !strcmp(format, "dot"))
		return ade_cli_usage_error("lineage", "--column prints json or text, not dot");
	char *name = pipeline_name(argv[optind]);
	if (!name)
		return ade_cli_usage_error("lineage", "'%s' is not a pipeline name or file", argv[optind]);
	char *date_dir = ade_xasprintf("%s/runs/%s/%s", cli->home, name, ds);
	if (!run)
		run = latest_run(date_dir);
	char *run_dir = ade_xasprintf("%s/run-%d", date_dir, run);
	int rc = ADE_EXIT_OK;
	cJSON *doc = NULL;
	if (!run || !ade_fs_exists(run_dir)) {
		fprintf(stderr, "ade lineage: no run of %s for %s%s\n", name, ds,
			run ? " with that number" : "");
		rc = ADE_EXIT_FAILED;
		goto out;
	}
	char *db = ade_xasprintf("%s/state.db", cli->home);
	struct ade_lineage_run lr = {.home = cli->home, .run_dir = run_dir, .pipeline = name,
				     .ds = ds, .run_number = run, .use_state_db = ade_fs_exists(db)};
	free(db);
	if ((doc = ade_lineage_doc_stored(run_dir, NULL, NULL))) {
		/* States as they are now, not as they were when ade-lineage ran. */
		if (lr.use_state_db)
			ade_lineage_doc_refresh_state(doc, &lr, NULL);
	} else {
		if (ade_lineage_doc_build(&lr, &doc, &err)) {
			fprintf(stderr, "ade lineage: %s\n", err.msg);
			rc = ADE_EXIT_FAILED;
			goto out;
		}
	}
	char *text = NULL;
	if (column) {
		cJSON *t = NULL;
		if (ade_lineage_trace(doc, column, &t, &err)) {
			fprintf(stderr, "ade lineage: %s\n", err.msg);
			rc = ADE_EXIT_FAILED;
			goto out;
		}
		text = !strcmp(format, "text") ? ade_lineage_trace_text(t) : cJSON_Print(t);
		cJSON_Delete(t);
	} else if (!strcmp(format, "text")) {
		text = ade_lineage_doc_text(doc);
	} else if (!strcmp(format, "dot")) {
		text = ade_lineage_doc_dot(doc);
	} else {
		text = cJSON_Print(doc);
	}
	fputs(text, stdout);
	if (!*text || text[strlen(text) - 1] != '\n')
		fputc('\n', stdout);
	free(text);
out:
	cJSON_Delete(doc);
	free(run_dir);
	free(date_dir);
	free(name);
	return rc;
}
