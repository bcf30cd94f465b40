/*
 * The pipeline file: a YAML DAG of stage executables (DESIGN.md, "The
 * pipeline file").  ade_pipeline_load() refuses, before anything runs and
 * with file:line:column, unknown keys, mistyped values, cycles, needs that
 * name no stage, unknown template names and executables that cannot be
 * found.  A loaded pipeline is immutable and owned by the caller, who
 * frees it with ade_pipeline_free().
 */
#ifndef ADE_PIPELINE_H
#define ADE_PIPELINE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/util.h"

struct ade_error;

enum ade_trigger {
	ADE_TRIGGER_ALL_SUCCESS,
	ADE_TRIGGER_ALL_DONE,
	ADE_TRIGGER_ONE_FAILED,
	ADE_TRIGGER_NONE_FAILED,
};

/* A sensor: wait for a file to exist before starting (`wait_for:`). */
struct ade_sensor {
	char *path;          /* templates unresolved; relative to the pipeline's dir */
	int64_t poke_ms;     /* between checks; default 30 s */
	int64_t timeout_ms;  /* give up and fail after; default 6 h */
};

/* Where a value came from in the file, for messages about it. */
struct ade_pos {
	int line;
	int col;
};

struct ade_stage_def {
	char *name;
	int index;          /* position in pipeline->stages */
	struct ade_pos pos;
	char **argv;        /* argv[0] as written; NULL-terminated */
	int argc;
	char *exe;          /* argv[0] resolved to an absolute path */
	int *needs;         /* indices of upstream stages */
	int n_needs;
	cJSON *with;        /* the `with:` block, templates unresolved */
	cJSON *with_pos;    /* JSON pointer under `with` -> [line, column] */
	char **env;         /* extra "NAME=value" from `env:`, NULL-terminated */
	int n_env;
	int retries;
	int64_t retry_delay_ms;
	int64_t max_retry_delay_ms;
	int backoff_exponential;
	int retry_on_any;   /* retry_on: any */
	int *retry_on;      /* exit codes that are retried */
	int n_retry_on;
	int64_t timeout_ms; /* 0 = none */
	int64_t timeout_grace_ms;
	enum ade_trigger trigger;
	struct ade_sensor *wait_for; /* NULL: none */
};

struct ade_pipeline {
	char *name;
	char *path;         /* the file as given */
	char *dir;          /* directory of the file, absolute */
	char *hash;         /* SHA-256 of the file's bytes, hex */
	char *schedule;
	char *start_date;   /* may be NULL */
	int catchup;
	int max_active_runs;
	int depends_on_past;
	char *source;       /* templates unresolved; may be NULL */
	cJSON *params;      /* object of name -> scalar; never NULL */
	cJSON *extra;       /* sections later modules read (stream, lineage, ...) */
	struct ade_sensor *wait_for; /* NULL: none */
	struct ade_stage_def *stages;
	int n_stages;
	int *order;         /* a topological order of stage indices */
	struct ade_strmap by_name; /* stage index by name; keys are the stages' names */
};

/*
 * Loads and checks a pipeline file.  exec_dir is where ade's own stages
 * live (the directory of the ade binary); NULL skips it.
 */
int ade_pipeline_load(const char *path, const char *exec_dir, struct ade_pipeline **out,
		      struct ade_error *err);
void ade_pipeline_free(struct ade_pipeline *p);

/* The stage called name, or NULL. */
struct ade_stage_def *ade_pipeline_stage(const struct ade_pipeline *p, const char *name);

/* The values templates may use for one run. */
struct ade_template_vars {
	const char *ds;
	const char *ds_nodash;
	const char *interval_start;
	const char *interval_end;
	const char *run_id;
	const char *batch;
	const char *home;
	const cJSON *params;
};

/*
 * Expands {{ name }} in s (caller frees *out).  Unknown names are an
 * error; the loader has already refused them, so at run time they mean a
 * bug.
 */
int ade_template_render(const char *s, const struct ade_template_vars *v, char **out,
			struct ade_error *err);
/*
 * Checks that every {{ name }} in s is known (params names against
 * params); on failure returns ADE_EPARSE with *offset at the bad name.
 */
int ade_template_check(const char *s, const cJSON *params, size_t *offset, char **bad);
/* A deep copy of json with every string rendered (caller frees). */
cJSON *ade_template_render_json(const cJSON *json, const struct ade_template_vars *v,
				struct ade_error *err);

#endif
