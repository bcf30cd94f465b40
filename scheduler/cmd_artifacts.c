/*
 * ade artifacts list|show|verify|diff|restore|pack and ade rollback: the
 * run archives under HOME/artifacts (docs/artifacts.md).
 */
#include "cli.h"
#include "pipeline.h"
#include "state.h"
#include "artifacts/artifacts.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct args {
	const char *sub;
	const char *pipeline; /* a name */
	struct ade_pipeline *p; /* when PIPELINE was a file */
	char ds[11];
	int have_ds;
	int runs[2];
	int n_runs;
	const char *to;
	const char *out;
	int include_all;
	int include_set;
	int json;
};

/*
 * Parses the options shared by every subcommand.  `cmd` names it in
 * messages.  Returns 0 or an exit code.
 */
static int parse(int argc, char **argv, struct ade_cli *cli, const char *cmd, struct args *a)
{
	static const struct option opts[] = {
		{"date", required_argument, NULL, 'd'}, {"run", required_argument, NULL, 'r'},
		{"to", required_argument, NULL, 't'},   {"to-run", required_argument, NULL, 'R'},
		{"out", required_argument, NULL, 'o'},  {"include", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},       {NULL, 0, NULL, 0}};
	struct ade_error err = {0};
	int c;
	int32_t days;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ade_date_parse(optarg, &days, &err))
				return ade_cli_usage_error(cmd, "%s", err.msg);
			ade_date_format(days, a->ds);
			a->have_ds = 1;
			break;
		case 'r':
		case 'R':
			if (a->n_runs == 2)
				return ade_cli_usage_error(cmd, "--run given more than twice");
			if (ade_cli_parse_int(optarg, 1, 1000000000, &a->runs[a->n_runs]))
				return ade_cli_usage_error(cmd, "a run number is a whole number >= 1, not '%s'",
							   optarg);
			a->n_runs++;
			break;
		case 't': a->to = optarg; break;
		case 'o': a->out = optarg; break;
		case 'i':
			if (strcmp(optarg, "all") && strcmp(optarg, "default"))
				return ade_cli_usage_error(cmd, "--include must be all or default");
			a->include_all = !strcmp(optarg, "all");
			a->include_set = 1;
			break;
		case 'j': a->json = 1; break;
		default:
			return ade_cli_usage_error(cmd, "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		const char *s = argv[optind++];
		if (ade_cli_is_file_arg(s)) {
			int rc = ade_pipeline_load(s, cli->exec_dir, &a->p, &err);
			if (rc) {
				fprintf(stderr, "%s\n", err.msg);
				return rc == ADE_EPARSE ? ADE_EXIT_PIPELINE : ADE_EXIT_USAGE;
			}
			a->pipeline = a->p->name;
		} else {
			if (!ade_cli_name_ok(s))
				return ade_cli_usage_error(cmd, "'%s' is not a pipeline name", s);
			a->pipeline = s;
		}
	}
	if (optind < argc)
		return ade_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Run numbers of the archives of one date, ascending (caller frees). */
static int list_runs(const char *home, const char *pipeline, const char *ds, int **out)
{
	char *dir = ade_xasprintf("%s/artifacts/%s/%s", home, pipeline, ds);
	DIR *d = opendir(dir);
	struct dirent *de;
	int *v = NULL, n = 0;

	free(dir);
	*out = NULL;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int num, len = 0;
		if (sscanf(de->d_name, "run-%d.tar.zst%n", &num, &len) == 1 &&
		    len == (int)strlen(de->d_name) && num > 0) {
			v = ade_xrealloc(v, sizeof(int) * (size_t)(n + 1));
			int k = n++;
			while (k > 0 && v[k - 1] > num) {
				v[k] = v[k - 1];
				k--;
			}
			v[k] = num;
		}
	}
	closedir(d);
	*out = v;
	return n;
}

/* The archive of --run N, or of the newest run; NULL (message printed) if none. */
static char *pick(struct ade_cli *cli, const struct args *a, int run, int *number)
{
	if (!run) {
		int *v;
		int n = list_runs(cli->home, a->pipeline, a->ds, &v);
		run = n ? v[n - 1] : 0;
		free(v);
		if (!run) {
			fprintf(stderr, "ade artifacts: no archive of %s for %s under %s/artifacts\n",
				a->pipeline, a->ds, cli->home);
			return NULL;
		}
	}
	char *path = ade_artifacts_path(cli->home, a->pipeline, a->ds, run);
	if (!ade_fs_exists(path)) {
		fprintf(stderr, "ade artifacts: no archive of %s %s run %d (%s)\n", a->pipeline, a->ds,
			run, path);
		free(path);
		return NULL;
	}
	if (number)
		*number = run;
	return path;
}

static const char *mstr(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double mnum(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void list_date(struct ade_cli *cli, const char *pipeline, const char *ds, int *count)
{
	int *v;
	int n = list_runs(cli->home, pipeline, ds, &v);

	for (int i = 0; i < n; i++) {
		char *path = ade_artifacts_path(cli->home, pipeline, ds, v[i]);
		cJSON *m = NULL;
		struct stat st;
		struct ade_error err = {0};
		if (stat(path, &st) < 0)
			st.st_size = 0;
		if (ade_artifacts_manifest(path, &m, &err)) {
			printf("%-16s %-10s %5d  %-8s %10s %9.1f MB  %s\n", pipeline, ds, v[i], "corrupt",
			       "-", st.st_size / 1e6, path);
		} else {
			printf("%-16s %-10s %5d  %-8s %10.0f %9.1f MB  %s\n", pipeline, ds, v[i],
			       mstr(m, "state"), mnum(m, "n_files"), st.st_size / 1e6, path);
		}
		cJSON_Delete(m);
		free(path);
		(*count)++;
	}
	free(v);
}

static int sub_list(struct ade_cli *cli, struct args *a)
{
	char *root = ade_xasprintf("%s/artifacts", cli->home);
	int count = 0;

	printf("%-16s %-10s %5s  %-8s %10s %12s  %s\n", "PIPELINE", "DATE", "RUN", "STATE", "FILES",
	       "SIZE", "ARCHIVE");
	DIR *pd = opendir(root);
	struct dirent *pe;
	while (pd && (pe = readdir(pd))) {
		if (pe->d_name[0] == '.' || (a->pipeline && strcmp(pe->d_name, a->pipeline)))
			continue;
		if (a->have_ds) {
			list_date(cli, pe->d_name, a->ds, &count);
			continue;
		}
		char *pdir = ade_xasprintf("%s/%s", root, pe->d_name);
		struct dirent **dates = NULL;
		int nd = scandir(pdir, &dates, NULL, alphasort);
		for (int i = 0; i < nd; i++) {
			if (dates[i]->d_name[0] != '.')
				list_date(cli, pe->d_name, dates[i]->d_name, &count);
			free(dates[i]);
		}
		free(dates);
		free(pdir);
	}
	if (pd)
		closedir(pd);
	free(root);
	if (!count && a->pipeline) {
		fprintf(stderr, "ade artifacts: no archives of %s%s%s\n", a->pipeline,
			a->have_ds ? " for " : "", a->have_ds ? a->ds : "");
		return ADE_EXIT_FAILED;
	}
	return 0;
}

static int sub_show(struct ade_cli *cli, struct args *a)
{
	struct ade_error err = {0};
	cJSON *m = NULL;
	char *path = pick(cli, a, a->n_runs ? a->runs[0] : 0, NULL);

	if (!path)
		return ADE_EXIT_FAILED;
	if (ade_artifacts_manifest(path, &m, &err)) {
		fprintf(stderr, "ade artifacts: %s\n", err.msg);
		free(path);
		return ADE_EXIT_FAILED;
	}
	char *text = cJSON_Print(m);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(m);
	free(path);
	return 0;
}

static int sub_verify(struct ade_cli *cli, struct args *a)
{
	struct ade_error err = {0};
	int problems = 0, n = 0;
	char *path = pick(cli, a, a->n_runs ? a->runs[0] : 0, &n);

	if (!path)
		return ADE_EXIT_FAILED;
	int rc = ade_artifacts_verify(path, stdout, &problems, &err);
	if (rc) {
		fprintf(stderr, "ade artifacts verify: %s\n", err.msg);
	} else if (problems) {
		fprintf(stderr, "ade artifacts verify: %s: %d file%s differ%s from the manifest\n", path,
			problems, problems == 1 ? "" : "s", problems == 1 ? "s" : "");
	} else {
		printf("%s %s run %d: ok: every file matches the manifest (%s)\n", a->pipeline, a->ds, n,
		       path);
	}
	free(path);
	return rc || problems ? ADE_EXIT_FAILED : 0;
}

static int sub_diff(struct ade_cli *cli, struct args *a)
{
	struct ade_error err = {0};
	int changes = 0;

	if (a->n_runs != 2)
		return ade_cli_usage_error("artifacts", "diff needs --run N1 --run N2");
	char *pa = pick(cli, a, a->runs[0], NULL);
	char *pb = pa ? pick(cli, a, a->runs[1], NULL) : NULL;
	if (!pa || !pb) {
		free(pa);
		return ADE_EXIT_FAILED;
	}
	printf("--- %s %s run %d\n+++ %s %s run %d\n", a->pipeline, a->ds, a->runs[0], a->pipeline,
	       a->ds, a->runs[1]);
	int rc = ade_artifacts_diff(pa, pb, stdout, &changes, &err);
	free(pa);
	free(pb);
	if (rc) {
		fprintf(stderr, "ade artifacts diff: %s\n", err.msg);
		return ADE_EXIT_FAILED;
	}
	printf("%d difference%s\n", changes, changes == 1 ? "" : "s");
	return 0;
}

static int sub_restore(struct ade_cli *cli, struct args *a)
{
	struct ade_error err = {0};
	int n = 0;
	char *path = pick(cli, a, a->n_runs ? a->runs[0] : 0, &n);

	if (!path)
		return ADE_EXIT_FAILED;
	char *to = a->to ? ade_xstrdup(a->to)
			 : ade_xasprintf("%s/runs/%s/%s/run-%d", cli->home, a->pipeline, a->ds, n);
	int rc = ade_artifacts_restore(path, to, &err);
	if (rc) {
		fprintf(stderr, "ade artifacts restore: %s%s\n", err.msg,
			rc == ADE_EINVAL && !a->to ? " (give --to DIR)" : "");
	} else {
		printf("restored %s %s run %d into %s\n", a->pipeline, a->ds, n, to);
	}
	free(to);
	free(path);
	return rc ? ADE_EXIT_FAILED : 0;
}

/* Re-packs a run directory that is still under HOME/runs. */
static int sub_pack(struct ade_cli *cli, struct args *a)
{
	struct ade_error err = {0};
	struct ade_state st;
	struct ade_run_row r;
	int rc;

	if (!a->p)
		return ade_cli_usage_error("artifacts", "pack needs the pipeline file, not a name");
	if (ade_state_open(&st, cli->home, &err)) {
		fprintf(stderr, "ade: %s\n", err.msg);
		return ADE_EXIT_STATE;
	}
	char spec[64] = "";
	if (a->n_runs)
		snprintf(spec, sizeof(spec), "%d", a->runs[0]);
	char *full = ade_xasprintf("%s/%s/%s", a->pipeline, a->ds, spec);
	rc = a->n_runs ? ade_state_run_find(&st, full, &r, &err)
		       : ade_state_run_latest(&st, a->pipeline, a->ds, &r, &err);
	free(full);
	ade_state_close(&st);
	if (rc) {
		fprintf(stderr, "ade artifacts pack: no run of %s for %s: %s\n", a->pipeline, a->ds,
			err.msg);
		return ADE_EXIT_FAILED;
	}
	char *dir = r.dir[0] == '/' ? ade_xstrdup(r.dir) : ade_xasprintf("%s/%s", cli->home, r.dir);
	struct ade_artifacts_pack_opts o = {.out = a->out, .include = a->include_set ? a->include_all : -1};
	struct ade_artifacts_stats s = {0};
	char *out = NULL;
	rc = ade_artifacts_pack_run_ex(cli->home, a->p, r.ds, r.run_number, r.run_id, dir, r.state, &o,
				       &s, &out, &err);
	if (!rc && out)
		printf("packed %s (%d files, %.1f MB -> %.1f MB)\n", out, s.files, s.bytes_in / 1e6,
		       s.bytes_out / 1e6);
	else if (!rc)
		printf("archives are disabled for %s (artifacts: {enabled: false}); give --out FILE\n",
		       a->pipeline);
	free(out);
	free(dir);
	ade_run_row_release(&r);
	if (rc) {
		fprintf(stderr, "ade artifacts pack: %s\n", err.msg);
		return ADE_EXIT_FAILED;
	}
	return 0;
}

int ade_cmd_artifacts(int argc, char **argv, struct ade_cli *cli)
{
	struct args a = {0};
	int rc;

	if (argc < 2)
		return ade_cli_usage_error("artifacts", "give a subcommand: list, show, verify, diff, "
							"restore or pack");
	a.sub = argv[1];
	static const char *subs[] = {"list", "show", "verify", "diff", "restore", "pack"};
	int known = 0;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= !strcmp(a.sub, subs[i]);
	if (!known)
		return ade_cli_usage_error("artifacts", "unknown subcommand '%s'", a.sub);
	if ((rc = parse(argc - 1, argv + 1, cli, "artifacts", &a)))
		goto done;
	if (strcmp(a.sub, "list")) {
		if (!a.pipeline) {
			rc = ade_cli_usage_error("artifacts", "%s needs a pipeline", a.sub);
			goto done;
		}
		if (!a.have_ds) {
			rc = ade_cli_usage_error("artifacts", "%s needs --date D", a.sub);
			goto done;
		}
		if (strcmp(a.sub, "diff") && a.n_runs > 1) {
			rc = ade_cli_usage_error("artifacts", "%s takes one --run", a.sub);
			goto done;
		}
	}
	if ((a.to && strcmp(a.sub, "restore")) || (a.out && strcmp(a.sub, "pack")) ||
	    (a.include_set && strcmp(a.sub, "pack"))) {
		rc = ade_cli_usage_error("artifacts", "option not valid for '%s'", a.sub);
		goto done;
	}
	if (!strcmp(a.sub, "list"))
		rc = sub_list(cli, &a);
	else if (!strcmp(a.sub, "show"))
		rc = sub_show(cli, &a);
	else if (!strcmp(a.sub, "verify"))
		rc = sub_verify(cli, &a);
	else if (!strcmp(a.sub, "diff"))
		rc = sub_diff(cli, &a);
	else if (!strcmp(a.sub, "restore"))
		rc = sub_restore(cli, &a);
	else
		rc = sub_pack(cli, &a);
done:
	ade_pipeline_free(a.p);
	return rc;
}

/* ---- ade rollback ------------------------------------------------------ */

static char *env_entry(const char *name, const char *value)
{
	return ade_xasprintf("%s=%s", name, value);
}

/* Runs the warehouse stage w of the manifest over the restored run in dir. */
static int reload(struct ade_cli *cli, const cJSON *m, const cJSON *w, const char *dir,
		  struct ade_error *err)
{
	const char *stage = mstr(w, "name");
	const char *ds = mstr(m, "ds");
	char is[21], ie[21];
	int32_t days;
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	if (ade_date_parse(ds, &days, err))
		return ADE_EDATA;
	ade_date_interval(days, is, ie);
	char *exe = cli->exec_dir ? ade_xasprintf("%s/ade-warehouse", cli->exec_dir) : NULL;
	if (!exe || access(exe, X_OK) < 0) {
		free(exe);
		exe = ade_xstrdup("ade-warehouse"); /* on PATH, as the loader would find it */
	}
	char *out = ade_xasprintf("%s/%s/rollback.tmp", dir, stage);
	char *cfg = ade_xasprintf("%s/%s/config.json", dir, stage);
	char *pos = ade_xasprintf("%s/%s/config.pos.json", dir, stage);
	char *wh = ade_xasprintf("%s/warehouse.db", cli->home);
	int rc = ade_fs_mkdirs(out, err);
	if (!rc && !ade_fs_exists(cfg)) {
		free(cfg);
		cfg = ade_xasprintf("%s/empty-config.json", dir);
		rc = ade_fs_write_atomic(cfg, "{}\n", 3, err);
	}
	size_t n_env = 0;
	for (char **e = environ; *e; e++)
		n_env++;
	const cJSON *needs = cJSON_GetObjectItemCaseSensitive(w, "needs");
	size_t n_needs = (size_t)cJSON_GetArraySize(needs);
	char **envp = ade_xcalloc(n_env + 24 + n_needs, sizeof(char *));
	char **own = ade_xcalloc(24 + n_needs, sizeof(char *));
	size_t m_env = 0, k = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "ADE_", 4) || !strncmp(*e, "ADE_LOG=", 8) ||
		    !strncmp(*e, "ADE_TEST_", 9))
			envp[m_env++] = *e;
#define ADD(name, value) (own[k] = env_entry(name, value), envp[m_env++] = own[k++])
	ADD("ADE_PIPELINE", mstr(m, "pipeline"));
	ADD("ADE_STAGE", stage);
	ADD("ADE_DS", ds);
	ADD("ADE_INTERVAL_START", is);
	ADD("ADE_INTERVAL_END", ie);
	/* The rows carry run N's id: the warehouse holds exactly what run N loaded. */
	ADD("ADE_RUN_ID", mstr(m, "run_id"));
	ADD("ADE_ATTEMPT", "1");
	ADD("ADE_BATCH", "");
	ADD("ADE_HOME", cli->home);
	ADD("ADE_WAREHOUSE", wh);
	ADD("ADE_OUT", out);
	ADD("ADE_CONFIG", cfg);
	if (ade_fs_exists(pos))
		ADD("ADE_CONFIG_POS", pos);
	ADD("ADE_RUN_DIR", dir);
	ADD("ADE_PIPELINE_FILE", mstr(m, "pipeline_path"));
	for (const cJSON *nd = needs ? needs->child : NULL; nd && !rc; nd = nd->next) {
		if (!cJSON_IsString(nd))
			continue;
		char *in = ade_xasprintf("%s/%s/out", dir, nd->valuestring);
		if (!ade_fs_exists(in)) {
			rc = ade_error_set(err, ADE_ENOTFOUND,
					   "the archive has no output of stage '%s' that '%s' loads",
					   nd->valuestring, stage);
			free(in);
			break;
		}
		ade_strbuf_reset(&sb);
		ade_strbuf_adds(&sb, "ADE_IN_");
		for (const char *c = nd->valuestring; *c; c++)
			ade_strbuf_addc(&sb, isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c)
									 : '_');
		ADD(sb.buf, in);
		free(in);
	}
#undef ADD
	envp[m_env] = NULL;
	if (!rc) {
		posix_spawn_file_actions_t fa;
		pid_t pid;
		char *argv[] = {exe, NULL};
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_addchdir_np(&fa, dir);
		int e = posix_spawnp(&pid, exe, &fa, NULL, argv, envp);
		posix_spawn_file_actions_destroy(&fa);
		if (e) {
			rc = ade_error_set(err, ADE_ESYS, "cannot start '%s': %s", exe, strerror(e));
		} else {
			int status;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				rc = ade_error_set(err, ADE_EDATA, "%s (stage '%s') failed: %s %d", exe, stage,
						   WIFEXITED(status) ? "exit" : "signal",
						   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		}
	}
	for (size_t i = 0; i < k; i++)
		free(own[i]);
	free(own);
	free(envp);
	ade_strbuf_release(&sb);
	free(exe);
	free(out);
	free(cfg);
	free(pos);
	free(wh);
	return rc;
}

int ade_cmd_rollback(int argc, char **argv, struct ade_cli *cli)
{
	struct args a = {0};
	struct ade_error err = {0};
	cJSON *m = NULL;
	char *path = NULL, *tmp = NULL;
	int rc, problems = 0, n_loaded = 0;

	if ((rc = parse(argc, argv, cli, "rollback", &a)))
		goto done;
	if (!a.pipeline || !a.have_ds || a.n_runs != 1) {
		rc = ade_cli_usage_error("rollback", "give PIPELINE --date D --to-run N");
		goto done;
	}
	if (a.to || a.out || a.include_set || a.json) {
		rc = ade_cli_usage_error("rollback", "only --date and --to-run are accepted");
		goto done;
	}
	rc = ADE_EXIT_FAILED;
	if (!(path = pick(cli, &a, a.runs[0], NULL)))
		goto done;
	/* A damaged archive must not reach the warehouse. */
	if (ade_artifacts_verify(path, stderr, &problems, &err) || problems) {
		fprintf(stderr, "ade rollback: %s: %s\n", path,
			problems ? "does not match its manifest" : err.msg);
		goto done;
	}
	if (ade_artifacts_manifest(path, &m, &err)) {
		fprintf(stderr, "ade rollback: %s\n", err.msg);
		goto done;
	}
	tmp = ade_xasprintf("%s/runs/%s/%s/.rollback-run-%d.%ld", cli->home, a.pipeline, a.ds,
			    a.runs[0], (long)getpid());
	ade_fs_remove_tree(tmp, NULL);
	if (ade_artifacts_restore(path, tmp, &err)) {
		fprintf(stderr, "ade rollback: %s\n", err.msg);
		goto done;
	}
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(m, "stages");
	for (const cJSON *s = stages ? stages->child : NULL; s; s = s->next) {
		if (strcmp(mstr(s, "run"), "ade-warehouse"))
			continue;
		if (strcmp(mstr(s, "state"), "success")) {
			fprintf(stderr,
				"ade rollback: stage '%s' did not succeed in run %d (%s): it loaded "
				"nothing to go back to\n",
				mstr(s, "name"), a.runs[0], mstr(s, "state"));
			goto done;
		}
		if (reload(cli, m, s, tmp, &err)) {
			fprintf(stderr, "ade rollback: %s\n", err.msg);
			goto done;
		}
		n_loaded++;
	}
	if (!n_loaded) {
		fprintf(stderr, "ade rollback: run %d of %s has no ade-warehouse stage to reload\n",
			a.runs[0], a.pipeline);
		goto done;
	}
	printf("rolled back %s %s to run %d (%s): warehouse reloaded from %s\n", a.pipeline, a.ds,
	       a.runs[0], mstr(m, "run_id"), path);
	rc = 0;
done:
	if (tmp)
		ade_fs_remove_tree(tmp, NULL);
	free(tmp);
	free(path);
	cJSON_Delete(m);
	ade_pipeline_free(a.p);
	return rc;
}
