/*
 * ade features list|get: reading the feature store that ade-features
 * writes (stages/features, docs/features.md).  The store's index is
 * replaced atomically, so reading needs no lock.
 */
#include "cli.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"
#include "stages/features/features.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exit_for(int code)
{
	/* A missing store or snapshot is an answer, not a broken home. */
	return code == ADE_EINVAL ? ADE_EXIT_USAGE : ADE_EXIT_FAILED;
}

static int features_list(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'J'},
					     {NULL, 0, NULL, 0}};
	struct ade_features_entry *all = NULL;
	struct ade_error err = {0};
	size_t n;
	int json = 0, c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'J': json = 1; break;
		default:
			return ade_cli_usage_error("features", "list: unknown option '%s'",
						   argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("features", "list takes one PIPELINE name");
	rc = ade_features_list(cli->home, argv[optind], &all, &n, &err);
	if (rc) {
		fprintf(stderr, "ade features: %s\n", err.msg);
		return exit_for(rc);
	}
	if (json) {
		cJSON *a = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "ds", all[i].ds);
			cJSON_AddNumberToObject(o, "version", (double)all[i].version);
			cJSON_AddStringToObject(o, "hash", all[i].hash);
			cJSON_AddNumberToObject(o, "rows", (double)all[i].rows);
			cJSON_AddNumberToObject(o, "columns", (double)all[i].columns);
			cJSON_AddStringToObject(o, "path", all[i].dir);
			cJSON_AddItemToArray(a, o);
		}
		char *s = cJSON_Print(a);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(a);
	} else {
		printf("%-10s  %7s  %10s  %7s  %s\n", "DS", "VERSION", "ROWS", "COLUMNS", "HASH");
		for (size_t i = 0; i < n; i++)
			printf("%-10s  %7" PRId64 "  %10" PRId64 "  %7" PRId64 "  %s\n", all[i].ds,
			       all[i].version, all[i].rows, all[i].columns, all[i].hash);
	}
	free(all);
	return fflush(stdout) ? ADE_EXIT_FAILED : 0;
}

/* Writes the CSV to a temporary file renamed over path, so a reader never sees half. */
static int csv_to_file(const char *frame, const char *path, struct ade_error *err)
{
	char *tmp = ade_xasprintf("%s.tmp-%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int rc;

	if (!f) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	rc = ade_features_write_csv(frame, f, err);
	if (fclose(f) != 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
				   strerror(errno));
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int features_get(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"as-of", required_argument, NULL, 'a'},
					     {"format", required_argument, NULL, 'f'},
					     {"out", required_argument, NULL, 'o'},
					     {NULL, 0, NULL, 0}};
	struct ade_features_entry e;
	struct ade_error err = {0};
	const char *as_of = NULL, *out = NULL;
	int frame = 0, c, rc;
	int32_t day;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		switch (c) {
		case 'a': as_of = optarg; break;
		case 'o': out = optarg; break;
		case 'f':
			if (!strcmp(optarg, "csv"))
				frame = 0;
			else if (!strcmp(optarg, "frame"))
				frame = 1;
			else
				return ade_cli_usage_error("features", "--format must be csv or frame, not '%s'",
							   optarg);
			break;
		case ':':
			return ade_cli_usage_error("features", "get: option '%s' needs a value",
						   argv[optind - 1]);
		default:
			return ade_cli_usage_error("features", "get: unknown option '%s'",
						   argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("features", "get takes one PIPELINE name");
	if (!as_of)
		return ade_cli_usage_error("features", "get needs --as-of D");
	if (ade_date_parse(as_of, &day, NULL))
		return ade_cli_usage_error("features", "--as-of must be a date YYYY-MM-DD, not '%s'",
					   as_of);
	if (frame && !out)
		return ade_cli_usage_error("features", "--format frame needs --out DIR");
	if (frame && ade_fs_exists(out))
		return ade_cli_usage_error("features", "--out '%s' already exists", out);
	rc = ade_features_find(cli->home, argv[optind], as_of, &e, &err);
	if (!rc) {
		if (frame)
			rc = ade_features_copy_frame(e.dir, out, &err);
		else if (out)
			rc = csv_to_file(e.dir, out, &err);
		else
			rc = ade_features_write_csv(e.dir, stdout, &err);
	}
	if (rc) {
		fprintf(stderr, "ade features: %s\n", err.msg);
		return exit_for(rc);
	}
	if (out)
		fprintf(stderr, "ade features: %s as of %s: snapshot of %s, version %" PRId64
				", %s, %" PRId64 " rows -> %s\n",
			argv[optind], as_of, e.ds, e.version, e.hash, e.rows, out);
	return 0;
}

int ade_cmd_features(int argc, char **argv, struct ade_cli *cli)
{
	if (argc < 2)
		return ade_cli_usage_error("features", "missing subcommand: list or get");
	if (!strcmp(argv[1], "list"))
		return features_list(argc - 1, argv + 1, cli);
	if (!strcmp(argv[1], "get"))
		return features_get(argc - 1, argv + 1, cli);
	return ade_cli_usage_error("features", "unknown subcommand '%s' (list or get)", argv[1]);
}
