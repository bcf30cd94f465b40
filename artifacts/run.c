/*
 * Archiving finished runs: the pipeline's `artifacts:` section, the run's
 * metadata for the manifest, retention, and the executor observer.
 */
#include "artifacts.h"
#include "internal.h"

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"
#include "scheduler/exec.h"
#include "scheduler/pipeline.h"
#include "scheduler/state.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ade_artifacts_conf_read(const struct ade_pipeline *p, struct ade_artifacts_conf *c,
			    struct ade_error *err)
{
	const cJSON *sec = p && p->extra ? cJSON_GetObjectItemCaseSensitive(p->extra, "artifacts")
					 : NULL;

	c->enabled = 1;
	c->include_all = 0;
	c->keep_runs = 0;
	if (!sec || cJSON_IsNull(sec))
		return 0;
	if (!cJSON_IsObject(sec))
		return ade_error_set(err, ADE_EINVAL, "%s: artifacts: must be a mapping", p->path);
	for (const cJSON *it = sec->child; it; it = it->next) {
		if (!strcmp(it->string, "enabled")) {
			if (!cJSON_IsBool(it))
				return ade_error_set(err, ADE_EINVAL,
						     "%s: artifacts.enabled must be true or false", p->path);
			c->enabled = cJSON_IsTrue(it);
		} else if (!strcmp(it->string, "include")) {
			if (!cJSON_IsString(it) ||
			    (strcmp(it->valuestring, "all") && strcmp(it->valuestring, "default")))
				return ade_error_set(err, ADE_EINVAL,
						     "%s: artifacts.include must be all or default", p->path);
			c->include_all = !strcmp(it->valuestring, "all");
		} else if (!strcmp(it->string, "keep_runs")) {
			double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
			if (v < 1 || v > 1000000 || floor(v) != v)
				return ade_error_set(err, ADE_EINVAL,
						     "%s: artifacts.keep_runs must be a whole number >= 1",
						     p->path);
			c->keep_runs = (int)v;
		} else {
			return ade_error_set(err, ADE_EINVAL, "%s: unknown key 'artifacts.%s'", p->path,
					     it->string);
		}
	}
	return 0;
}

char *ade_artifacts_path(const char *home, const char *pipeline, const char *ds, int run_number)
{
	return ade_xasprintf("%s/artifacts/%s/%s/run-%d.tar.zst", home, pipeline, ds, run_number);
}

/* A stage's state and attempts in the run, as state.db holds them. */
struct stage_state {
	char *state; /* owned; NULL: not in state.db */
	int attempts;
};

/*
 * The run's and its stages' states, from state.db when it has them.  The
 * stages are read in one query and written as text, one line each: a
 * query and a tree of nodes per stage were most of the manifest's cost
 * for a run of a thousand stages.
 */
static void add_state_meta(const char *home, const struct ade_pipeline *p, const char *run_id,
			   cJSON *meta)
{
	struct ade_state st;
	struct ade_run_row r;
	char *db = ade_xasprintf("%s/state.db", home);
	int have = ade_fs_exists(db) && ade_state_open(&st, home, NULL) == 0;
	struct stage_state *ss = ade_xcalloc((size_t)p->n_stages + 1, sizeof(*ss));

	free(db);
	/* One read transaction for the run and its stages: one snapshot. */
	if (have)
		ade_state_exec(&st, "BEGIN", NULL);
	if (have && run_id && ade_state_run_find(&st, run_id, &r, NULL) == 0) {
		if (r.started_at)
			cJSON_AddStringToObject(meta, "started_at", r.started_at);
		if (r.ended_at)
			cJSON_AddStringToObject(meta, "ended_at", r.ended_at);
		ade_run_row_release(&r);
	}
	sqlite3_stmt *q = NULL;
	if (have && run_id &&
	    sqlite3_prepare_v2(st.db, "SELECT stage, state, attempts FROM stages WHERE run_id=?1", -1,
			       &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, run_id, -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(q, 0);
			const struct ade_stage_def *d = name ? ade_pipeline_stage(p, name) : NULL;
			const char *state = (const char *)sqlite3_column_text(q, 1);
			if (!d || ss[d->index].state)
				continue;
			ss[d->index].state = ade_xstrdup(state ? state : "unknown");
			ss[d->index].attempts = sqlite3_column_int(q, 2);
		}
	}
	sqlite3_finalize(q);
	struct ade_strbuf t = ADE_STRBUF_INIT;
	ade_strbuf_addc(&t, '[');
	for (int k = 0; k < p->n_stages; k++) {
		const struct ade_stage_def *d = &p->stages[p->order[k]];
		const struct stage_state *x = &ss[d->index];
		const char *base = strrchr(d->argv[0], '/');
		ade_strbuf_adds(&t, k ? ",\n\t\t{\"name\":" : "\n\t\t{\"name\":");
		ade_json_put_string(&t, d->name);
		ade_strbuf_adds(&t, ",\"run\":");
		ade_json_put_string(&t, base ? base + 1 : d->argv[0]);
		ade_strbuf_adds(&t, ",\"needs\":[");
		for (int j = 0; j < d->n_needs; j++) {
			if (j)
				ade_strbuf_addc(&t, ',');
			ade_json_put_string(&t, p->stages[d->needs[j]].name);
		}
		ade_strbuf_adds(&t, "],\"state\":");
		ade_json_put_string(&t, x->state ? x->state : "unknown");
		ade_strbuf_adds(&t, ",\"attempts\":");
		ade_json_put_number(&t, x->attempts);
		ade_strbuf_addc(&t, '}');
	}
	ade_strbuf_adds(&t, p->n_stages ? "\n\t]" : "]");
	cJSON_AddRawToObject(meta, "stages", t.buf);
	ade_strbuf_release(&t);
	for (int k = 0; k < p->n_stages; k++)
		free(ss[k].state);
	free(ss);
	if (have) {
		ade_state_exec(&st, "COMMIT", NULL);
		ade_state_close(&st);
	}
}

int ade_artifacts_pack_run_ex(const char *home, const struct ade_pipeline *p, const char *ds,
			      int run_number, const char *run_id, const char *run_dir,
			      const char *state, const struct ade_artifacts_pack_opts *o,
			      struct ade_artifacts_stats *stats, char **path_out,
			      struct ade_error *err)
{
	struct ade_artifacts_conf c;
	int rc;

	if ((rc = ade_artifacts_conf_read(p, &c, err)))
		return rc;
	if (!c.enabled && !(o && o->out))
		return 0;
	if (o && o->include >= 0)
		c.include_all = o->include;
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "pipeline", p->name);
	cJSON_AddStringToObject(meta, "ds", ds);
	cJSON_AddStringToObject(meta, "run_id", run_id ? run_id : "");
	cJSON_AddNumberToObject(meta, "run_number", run_number);
	cJSON_AddStringToObject(meta, "state", state ? state : "unknown");
	cJSON_AddStringToObject(meta, "pipeline_path", p->path ? p->path : "");
	cJSON_AddStringToObject(meta, "pipeline_hash", p->hash ? p->hash : "");
	cJSON_AddStringToObject(meta, "ade_version", ADE_VERSION);
	add_state_meta(home, p, run_id, meta);
	char *out = o && o->out ? ade_xstrdup(o->out)
				: ade_artifacts_path(home, p->name, ds, run_number);
	rc = ade_art_pack_dir_cached(run_dir, out, p, c.include_all, meta, o ? o->cache : NULL,
				     run_id, stats, err);
	cJSON_Delete(meta);
	if (!rc && c.keep_runs && !(o && o->out))
		rc = ade_artifacts_retain(home, p->name, ds, c.keep_runs, NULL, err);
	if (!rc && path_out)
		*path_out = out;
	else
		free(out);
	return rc;
}

int ade_artifacts_pack_run(const char *home, const struct ade_pipeline *p, const char *ds,
			   int run_number, const char *run_id, const char *run_dir,
			   const char *state, struct ade_error *err)
{
	return ade_artifacts_pack_run_ex(home, p, ds, run_number, run_id, run_dir, state, NULL,
					 NULL, NULL, err);
}

struct arch {
	int n;
	char *path;
};

static int by_n(const void *a, const void *b)
{
	return ((const struct arch *)a)->n - ((const struct arch *)b)->n;
}

int ade_artifacts_retain(const char *home, const char *pipeline, const char *ds, int keep_runs,
			 int *removed, struct ade_error *err)
{
	char *dir = ade_xasprintf("%s/artifacts/%s/%s", home, pipeline, ds);
	DIR *d = opendir(dir);
	struct arch *v = NULL;
	int n = 0, cap = 0, gone = 0, rc = 0;

	if (removed)
		*removed = 0;
	if (!d) {
		free(dir);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		int num;
		char tail[16];
		if (sscanf(de->d_name, "run-%d.tar.zs%15s", &num, tail) != 2 || strcmp(tail, "t") ||
		    num < 1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = ade_xrealloc(v, sizeof(*v) * (size_t)cap);
		}
		v[n].n = num;
		v[n].path = ade_xasprintf("%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof(*v), by_n);
	/* The newest archive of a successful run survives whatever keep_runs says. */
	int keep_ok = -1;
	for (int i = n - 1; i >= 0 && keep_ok < 0; i--) {
		cJSON *m = NULL;
		if (ade_artifacts_manifest(v[i].path, &m, NULL) == 0) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "state");
			if (cJSON_IsString(s) && !strcmp(s->valuestring, "success"))
				keep_ok = i;
			cJSON_Delete(m);
		}
	}
	for (int i = 0; i < n - keep_runs; i++) {
		if (i == keep_ok)
			continue;
		if (unlink(v[i].path) < 0 && errno != ENOENT) {
			rc = ade_error_set(err, ADE_EIO, "cannot remove '%s': %s", v[i].path,
					   strerror(errno));
			break;
		}
		gone++;
	}
	for (int i = 0; i < n; i++)
		free(v[i].path);
	free(v);
	if (gone)
		ade_fs_sync_dir(dir, NULL);
	free(dir);
	if (removed)
		*removed = gone;
	return rc;
}

void ade_artifacts_on_event(void *arg, const struct ade_exec_event *ev)
{
	const struct ade_artifacts_observer *o = arg;
	struct ade_error err = {0};
	struct ade_artifacts_stats s = {0};
	char *path = NULL;

	if (ev->kind != ADE_EV_RUN_END || !ev->run_dir || !ev->pipeline)
		return;
	int64_t t0 = ade_now_mono_ns();
	struct ade_artifacts_pack_opts po = {.out = NULL, .include = -1, .cache = o ? o->cache : NULL};
	if (ade_artifacts_pack_run_ex(ev->home, ev->pipeline, ev->ds, ev->run_number, ev->run_id,
				      ev->run_dir, ev->state, &po, &s, &path, &err)) {
		/* The run's outcome stands; a missing archive is reported, not fatal. */
		fprintf(stderr, "ade: %s %s run %d: not archived: %s\n", ev->pipeline->name, ev->ds,
			ev->run_number, err.msg);
		return;
	}
	if (path && !(o && o->quiet)) {
		printf("%s %s run %d archived: %s (%d files, %.1f MB -> %.1f MB, %.2fs)\n",
		       ev->pipeline->name, ev->ds, ev->run_number, path, s.files, s.bytes_in / 1e6,
		       s.bytes_out / 1e6, (ade_now_mono_ns() - t0) / 1e9);
		fflush(stdout);
	}
	free(path);
}
