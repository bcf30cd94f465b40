/* ade runs, show and logs: reading state.db. */
#include "cli.h"
#include "state.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_existing(struct ade_cli *cli, struct ade_state *st)
{
	struct ade_error err = {0};
	char *path = ade_xasprintf("%s/state.db", cli->home);
	int exists = ade_fs_exists(path);

	free(path);
	if (!exists) {
		fprintf(stderr, "ade: no runs yet in '%s' (no state.db)\n", cli->home);
		return ADE_EXIT_STATE;
	}
	if (ade_state_open(st, cli->home, &err)) {
		fprintf(stderr, "ade: %s\n", err.msg);
		return ADE_EXIT_STATE;
	}
	return 0;
}

static const char *txt(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static void add_col(cJSON *o, sqlite3_stmt *s, int i)
{
	const char *name = sqlite3_column_name(s, i);

	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
	case SQLITE_FLOAT:
		cJSON_AddNumberToObject(o, name, sqlite3_column_double(s, i));
		break;
	case SQLITE_NULL:
		cJSON_AddNullToObject(o, name);
		break;
	default:
		cJSON_AddStringToObject(o, name, txt(s, i));
	}
}

int ade_cmd_runs(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"pipeline", required_argument, NULL, 'p'},
					     {"state", required_argument, NULL, 's'},
					     {"limit", required_argument, NULL, 'n'},
					     {"json", no_argument, NULL, 'J'},
					     {NULL, 0, NULL, 0}};
	const char *pipeline = NULL, *state = NULL;
	int limit = 50, json = 0, c, rc;
	struct ade_state st;
	sqlite3_stmt *s = NULL;

	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pipeline = optarg; break;
		case 's':
			if (strcmp(optarg, "running") && strcmp(optarg, "success") &&
			    strcmp(optarg, "failed") && strcmp(optarg, "queued"))
				return ade_cli_usage_error("runs",
							   "--state must be queued, running, success or failed");
			state = optarg;
			break;
		case 'n':
			if (ade_cli_parse_int(optarg, 1, 1000000, &limit))
				return ade_cli_usage_error("runs", "--limit needs a positive number");
			break;
		case 'J': json = 1; break;
		default: return ade_cli_usage_error("runs", "unrecognized option \'%s\'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return ade_cli_usage_error("runs", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_existing(cli, &st)))
		return rc;
	sqlite3_prepare_v2(st.db,
			   "SELECT pipeline, ds, run_number, state, started_at, ended_at, "
			   "round((julianday(coalesce(ended_at, strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
			   " - julianday(started_at)) * 86400, 3) AS duration_s, run_id, dir "
			   "FROM runs WHERE (?1 IS NULL OR pipeline=?1) AND (?2 IS NULL OR state=?2) "
			   "ORDER BY started_at DESC, run_number DESC LIMIT ?3",
			   -1, &s, NULL);
	if (pipeline)
		sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	if (state)
		sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, limit);
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	if (!json)
		printf("%-20s %-10s %4s  %-8s %9s  %s\n", "PIPELINE", "DS", "RUN", "STATE", "SECONDS",
		       "RUN ID");
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (json) {
			cJSON *o = cJSON_CreateObject();
			for (int i = 0; i < sqlite3_column_count(s); i++)
				add_col(o, s, i);
			cJSON_AddItemToArray(arr, o);
		} else {
			printf("%-20s %-10s %4d  %-8s %9.2f  %s\n", txt(s, 0), txt(s, 1),
			       sqlite3_column_int(s, 2), txt(s, 3), sqlite3_column_double(s, 6),
			       txt(s, 7));
		}
	}
	sqlite3_finalize(s);
	if (json) {
		char *t = cJSON_Print(arr);
		puts(t);
		free(t);
		cJSON_Delete(arr);
	}
	ade_state_close(&st);
	return 0;
}

int ade_cmd_show(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'J'}, {NULL, 0, NULL, 0}};
	int json = 0, c, rc;
	struct ade_state st;
	struct ade_run_row r;
	struct ade_error err = {0};
	sqlite3_stmt *s = NULL;

	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'J')
			json = 1;
		else
			return ade_cli_usage_error("show", "unrecognized option \'%s\'", argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("show", "give exactly one run");
	if ((rc = open_existing(cli, &st)))
		return rc;
	if (ade_state_run_find(&st, argv[optind], &r, &err)) {
		fprintf(stderr, "ade show: %s\n", err.msg);
		ade_state_close(&st);
		return ADE_EXIT_FAILED;
	}
	sqlite3_prepare_v2(st.db,
			   "SELECT s.stage, s.state, s.attempts, a.wall_ms, a.user_ms, a.sys_ms, "
			   "a.maxrss_kb, a.exit_code, a.signal, a.reason, s.note, a.log_path "
			   "FROM stages s LEFT JOIN attempts a ON a.run_id=s.run_id AND "
			   "a.stage=s.stage AND a.attempt=s.attempts WHERE s.run_id=? "
			   "ORDER BY coalesce(a.started_at, s.updated_at), s.stage",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, r.run_id, -1, SQLITE_STATIC);
	cJSON *root = NULL, *stages = NULL;
	if (json) {
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "run_id", r.run_id);
		cJSON_AddStringToObject(root, "pipeline", r.pipeline);
		cJSON_AddStringToObject(root, "ds", r.ds);
		cJSON_AddNumberToObject(root, "run_number", r.run_number);
		cJSON_AddStringToObject(root, "state", r.state);
		cJSON_AddStringToObject(root, "started_at", r.started_at ? r.started_at : "");
		if (r.ended_at)
			cJSON_AddStringToObject(root, "ended_at", r.ended_at);
		cJSON_AddStringToObject(root, "dir", r.dir ? r.dir : "");
		stages = cJSON_AddArrayToObject(root, "stages");
	} else {
		printf("run %s\n  pipeline %s, date %s, run %d, state %s\n  started %s, ended %s\n  dir %s\n\n",
		       r.run_id, r.pipeline, r.ds, r.run_number, r.state,
		       r.started_at ? r.started_at : "-", r.ended_at ? r.ended_at : "-",
		       r.dir ? r.dir : "-");
		printf("%-16s %-15s %8s %9s %9s %9s %10s  %s\n", "STAGE", "STATE", "ATTEMPTS",
		       "WALL s", "USER s", "SYS s", "PEAK MB", "NOTE");
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (json) {
			cJSON *o = cJSON_CreateObject();
			for (int i = 0; i < sqlite3_column_count(s); i++)
				add_col(o, s, i);
			cJSON_AddItemToArray(stages, o);
			continue;
		}
		char note[160] = "";
		if (sqlite3_column_type(s, 10) != SQLITE_NULL)
			snprintf(note, sizeof(note), "%s", txt(s, 10));
		printf("%-16s %-15s %8d %9.3f %9.3f %9.3f %10.1f  %s\n", txt(s, 0), txt(s, 1),
		       sqlite3_column_int(s, 2), sqlite3_column_double(s, 3) / 1000,
		       sqlite3_column_double(s, 4) / 1000, sqlite3_column_double(s, 5) / 1000,
		       sqlite3_column_double(s, 6) / 1024, note);
	}
	sqlite3_finalize(s);
	if (json) {
		char *t = cJSON_Print(root);
		puts(t);
		free(t);
		cJSON_Delete(root);
	}
	ade_run_row_release(&r);
	ade_state_close(&st);
	return 0;
}

int ade_cmd_logs(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"attempt", required_argument, NULL, 'a'},
					     {NULL, 0, NULL, 0}};
	int attempt = 0, c, rc;
	struct ade_state st;
	struct ade_run_row r;
	struct ade_error err = {0};
	sqlite3_stmt *s = NULL;
	char *path = NULL;

	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'a')
			return ade_cli_usage_error("logs", "unrecognized option '%s'", argv[optind - 1]);
		if (ade_cli_parse_int(optarg, 1, 1000000, &attempt))
			return ade_cli_usage_error("logs", "--attempt needs a positive number");
	}
	if (optind + 2 != argc)
		return ade_cli_usage_error("logs", "give a run and a stage");
	if ((rc = open_existing(cli, &st)))
		return rc;
	if (ade_state_run_find(&st, argv[optind], &r, &err)) {
		fprintf(stderr, "ade logs: %s\n", err.msg);
		ade_state_close(&st);
		return ADE_EXIT_FAILED;
	}
	sqlite3_prepare_v2(st.db,
			   "SELECT log_path, attempt FROM attempts WHERE run_id=? AND stage=? AND "
			   "(?3 = 0 OR attempt=?3) ORDER BY attempt DESC LIMIT 1",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, r.run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, argv[optind + 1], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, attempt);
	if (sqlite3_step(s) == SQLITE_ROW)
		path = ade_xstrdup(txt(s, 0));
	sqlite3_finalize(s);
	rc = 0;
	if (!path) {
		fprintf(stderr, "ade logs: run %s has no %s of stage '%s'\n", r.run_id,
			attempt ? "such attempt" : "attempt", argv[optind + 1]);
		rc = ADE_EXIT_FAILED;
	} else {
		char *text = NULL;
		size_t len = 0;
		if (ade_fs_read_all(path, (size_t)1 << 34, &text, &len, &err)) {
			fprintf(stderr, "ade logs: %s\n", err.msg);
			rc = ADE_EXIT_FAILED;
		} else {
			fwrite(text, 1, len, stdout);
			free(text);
		}
	}
	free(path);
	ade_run_row_release(&r);
	ade_state_close(&st);
	return rc;
}
