/*
 * Versioned run archives (docs/artifacts.md).
 *
 * When a run ends, its directory home/runs/<pipeline>/<ds>/run-<N>/ is
 * packed into home/artifacts/<pipeline>/<ds>/run-<N>.tar.zst: a pax
 * (restricted) tar, zstd level 3, whose first entry is MANIFEST.json (every
 * file's path, size and SHA-256, the run's metadata) followed by the files
 * in byte order of their paths.  Owners, modes and times are fixed, so the
 * same files give the same bytes.  Archives are written to a temporary name
 * and renamed into place.
 *
 * Every function returns 0 or a negative ADE_E* code with a message in err.
 * Strings and cJSON trees handed back are owned by the caller.
 */
#ifndef ADE_ARTIFACTS_H
#define ADE_ARTIFACTS_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

struct ade_error;
struct ade_pipeline;
struct ade_exec_event;

#define ADE_ARTIFACTS_FORMAT "ade-artifact/1"

/* The pipeline's `artifacts:` section. */
struct ade_artifacts_conf {
	int enabled;     /* default 1 */
	int include_all; /* include: all (default: the rule in docs/artifacts.md) */
	int keep_runs;   /* archives kept per date; 0 = all */
};

/* Reads p->extra "artifacts"; unknown keys and bad values are ADE_EINVAL. */
int ade_artifacts_conf_read(const struct ade_pipeline *p, struct ade_artifacts_conf *c,
			    struct ade_error *err);

/* home/artifacts/<pipeline>/<ds>/run-<N>.tar.zst (caller frees). */
char *ade_artifacts_path(const char *home, const char *pipeline, const char *ds,
			 int run_number);

/* What one pack wrote. */
struct ade_artifacts_stats {
	int files;         /* regular files and links archived */
	int excluded_dirs; /* frame directories left out */
	uint64_t bytes_in; /* file bytes read */
	uint64_t bytes_out;/* archive size */
};

/*
 * Packs run_dir into `out` (atomically).  meta (borrowed, may be NULL) is
 * copied into the manifest's top level; p (may be NULL: then everything
 * is kept) gives the stage graph for the default include rule.
 */
int ade_artifacts_pack_dir(const char *run_dir, const char *out, const struct ade_pipeline *p,
			   int include_all, const cJSON *meta, struct ade_artifacts_stats *stats,
			   struct ade_error *err);

/*
 * Packs one finished run into its archive with the manifest's metadata
 * (stage states from home/state.db when it exists), then applies
 * retention.  Does nothing (returns 0) when the pipeline says
 * `artifacts: {enabled: false}`.
 */
int ade_artifacts_pack_run(const char *home, const struct ade_pipeline *p, const char *ds,
			   int run_number, const char *run_id, const char *run_dir,
			   const char *state, struct ade_error *err);

/*
 * Stage folders of runs still going, walked and hashed when each stage
 * ended (on the observers' worker, beside the next stages), so that the
 * pack at a run's end walks only the rest: for a run of a thousand small
 * stages that walk was most of the pack.  Made and freed by the caller;
 * thread-safe between the worker and the run-end pack.
 */
struct ade_artifacts_cache;
struct ade_artifacts_cache *ade_artifacts_cache_new(void);
void ade_artifacts_cache_free(struct ade_artifacts_cache *c);

/*
 * An asynchronous on_event callback (arg: the cache): collects a stage's
 * folder when the stage has ended for good (success, or failed without a
 * retry left).  Nothing in a collected folder may change before the pack.
 */
void ade_artifacts_on_stage_event(void *arg, const struct ade_exec_event *ev);

/* Overrides for ade_artifacts_pack_run_ex. */
struct ade_artifacts_pack_opts {
	const char *out; /* write here instead (no retention, packs even if disabled) */
	int include;     /* -1: the pipeline's rule, 0: default, 1: all */
	struct ade_artifacts_cache *cache; /* folders collected for the run; may be NULL */
};

/*
 * ade_artifacts_pack_run with overrides (o may be NULL), what it wrote
 * (stats may be NULL) and where (*path_out, caller frees; NULL when
 * archiving is disabled).
 */
int ade_artifacts_pack_run_ex(const char *home, const struct ade_pipeline *p, const char *ds,
			      int run_number, const char *run_id, const char *run_dir,
			      const char *state, const struct ade_artifacts_pack_opts *o,
			      struct ade_artifacts_stats *stats, char **path_out,
			      struct ade_error *err);

/*
 * Retention for one date: keeps the keep_runs newest archives and, in
 * addition, the newest one of a successful run; removes the rest, oldest
 * first.  *removed (may be NULL) counts them.
 */
int ade_artifacts_retain(const char *home, const char *pipeline, const char *ds, int keep_runs,
			 int *removed, struct ade_error *err);

/* Options of the run-end observer; NULL means all defaults. */
struct ade_artifacts_observer {
	int quiet; /* no line on stderr per archive */
	struct ade_artifacts_cache *cache; /* borrowed; may be NULL */
};

/*
 * An ade_exec on_event callback: packs the run on ADE_EV_RUN_END, with
 * the stage folders the cache collected for it.  A failure to pack is
 * reported on stderr and never fails the run.
 */
void ade_artifacts_on_event(void *arg, const struct ade_exec_event *ev);

/* Reads MANIFEST.json, the archive's first entry (*out: caller deletes). */
int ade_artifacts_manifest(const char *archive, cJSON **out, struct ade_error *err);

/*
 * Re-hashes every entry against the manifest.  Each problem is printed to
 * `report` (may be NULL) as one line naming the file; *problems counts
 * them.  Returns 0 when the archive could be read to its end (problems or
 * not), ADE_EDATA when it is corrupt or truncated.
 */
int ade_artifacts_verify(const char *archive, FILE *report, int *problems,
			 struct ade_error *err);

/*
 * Extracts an archive into dir, which must not exist: into a temporary
 * directory beside it, renamed into place at the end.  Refuses (ADE_EDATA,
 * nothing left behind) absolute paths, `..` components, links that point
 * out of the target, entries through a symlink, and devices, FIFOs and
 * sockets.
 */
int ade_artifacts_restore(const char *archive, const char *dir, struct ade_error *err);

/*
 * Compares two archives: files added, removed and changed; for changed
 * *.json files, the changed key paths.  Printed to out; *changes counts
 * the differences.
 */
int ade_artifacts_diff(const char *a, const char *b, FILE *out, int *changes,
		       struct ade_error *err);

#endif
