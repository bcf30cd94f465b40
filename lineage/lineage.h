/*
 * Lineage: OpenLineage RunEvents (spec 2-0-2) for pipeline runs and stage
 * attempts, and the run's lineage document (stages, datasets, column
 * lineage) that ade-lineage writes and `ade lineage` prints.
 * See docs/lineage.md.
 *
 * Ownership: every cJSON tree returned is the caller's (cJSON_Delete);
 * strings passed in are borrowed for the duration of the call.
 */
#ifndef ADE_LINEAGE_H
#define ADE_LINEAGE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct ade_error;
struct ade_pipeline;
struct ade_exec_event;

/* The producer URI of every event and facet (the spec wants a URI). */
#define ADE_LINEAGE_PRODUCER "https://github.com/ade-data/ade/tree/v" ADE_VERSION
#define ADE_LINEAGE_SCHEMA_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

/* ---- the lineage document ---------------------------------------------- */

/* Which run to describe. */
struct ade_lineage_run {
	const char *home;      /* absolute; state.db and warehouse.db live here */
	const char *run_dir;   /* absolute runs/<p>/<ds>/run-<N> */
	const char *pipeline;
	const char *ds;
	int run_number;
	const char *run_id;    /* may be NULL: looked up in state.db */
	int use_state_db;      /* read stage states and resources from state.db (read-only) */
	/*
	 * When not NULL, only these stage folders are read: an event about one
	 * stage needs that stage and its needs, and reading the whole run for
	 * every event made a 1000-stage run quadratic.
	 */
	const char *const *only;
	int n_only;
	/* May be NULL: published stages' result.json, each read once (below). */
	struct ade_lineage_results *results;
};

/*
 * The result.json of published stages, kept across the documents of one
 * run's events: a published out/ never changes, and an event of each stage
 * and its dependents read the same files again (three times a stage on a
 * chain, and all of them for the run's end).  The owner frees it with
 * ade_lineage_results_free; ade_lineage_results_forget drops one run's.
 */
struct ade_lineage_results;
struct ade_lineage_results *ade_lineage_results_new(void);

/*
 * 1 when run->only is set and every stage it names has published no
 * result.json, or nothing: its document would hold no dataset, so an
 * event about them needs none.  Reads (and caches in run->results, which
 * must be set) what ade_lineage_doc_build would read.
 */
int ade_lineage_doc_opaque(const struct ade_lineage_run *run);
void ade_lineage_results_forget(struct ade_lineage_results *r, const char *run_dir);
void ade_lineage_results_free(struct ade_lineage_results *r);

/*
 * Builds the lineage document of a run from every <stage>/out/result.json
 * below run_dir and, when use_state_db, the run's rows in state.db:
 *   {format, format_version, pipeline, ds, run_number, run_id, state,
 *    stages[], edges[], datasets[], column_lineage[]}
 * Stages that wrote no result.json are opaque: listed, without datasets.
 * Column lineage a stage does not report is inferred by column name and
 * marked "inferred": true.  Caller owns *out.
 */
int ade_lineage_doc_build(const struct ade_lineage_run *run, cJSON **out, struct ade_error *err);

/*
 * The document an ade-lineage stage left in the run (<stage>/out/
 * lineage.json with format ade-lineage), or NULL.  allow (may be NULL)
 * vets each candidate path first (ade serve keeps to its home).  Caller
 * owns the result.
 */
cJSON *ade_lineage_doc_stored(const char *run_dir, int (*allow)(void *arg, const char *path),
			      void *arg);

/*
 * Updates the run's and the stages' states and resources in doc from
 * state.db (read-only): a document written by ade-lineage while the run
 * was still going says "running" for the run and for itself.
 */
int ade_lineage_doc_refresh_state(cJSON *doc, const struct ade_lineage_run *run,
				  struct ade_error *err);

/* A dataset of doc by id ("namespace:name"), or NULL (borrowed). */
const cJSON *ade_lineage_doc_dataset(const cJSON *doc, const char *id);

/* Renders doc as a readable tree or as Graphviz DOT (caller frees). */
char *ade_lineage_doc_text(const cJSON *doc);
char *ade_lineage_doc_dot(const cJSON *doc);

/*
 * Traces "TABLE.COLUMN" through doc: TABLE is a dataset's name, its label
 * ("validate/frame"), its file name or a warehouse table.  Returns
 * {column, dataset, upstream[], downstream[]} (caller owns *out), or
 * ADE_ENOTFOUND when no dataset has that column.
 */
int ade_lineage_trace(const cJSON *doc, const char *spec, cJSON **out, struct ade_error *err);
char *ade_lineage_trace_text(const cJSON *trace);

/* ---- OpenLineage events ------------------------------------------------- */

struct ade_lineage_config {
	char *url;          /* NULL: file transport only */
	char *api_key_env;  /* name of the variable holding the bearer token; may be NULL */
	char *ns;           /* job namespace; default "ade" */
	long connect_timeout_ms; /* default 500 */
	long timeout_ms;    /* whole request; default 2000 */
	int retries;        /* extra tries per event; default 2 */
};

/* Reads a `lineage:` section (may be NULL: defaults).  Caller releases. */
int ade_lineage_config_parse(const cJSON *section, struct ade_lineage_config *c,
			     struct ade_error *err);
void ade_lineage_config_release(struct ade_lineage_config *c);

struct ade_lineage_emitter;

/*
 * An emitter for events of runs under home.  p (may be NULL) gives the
 * `lineage:` section; without it each event's pipeline gives its own.
 * Creating it sends what an earlier process left in the outbox.
 * Caller frees with ade_lineage_emitter_free().
 */
int ade_lineage_emitter_new(const char *home, const struct ade_pipeline *p,
			    struct ade_lineage_emitter **out, struct ade_error *err);
void ade_lineage_emitter_free(struct ade_lineage_emitter *em);

/*
 * The executor observer (ade_exec_opts.on_event, event_arg = the
 * emitter).  Errors are logged, never fatal: lineage must not fail a run.
 */
void ade_lineage_on_event(void *arg, const struct ade_exec_event *ev);

/*
 * Builds the RunEvent for ev (caller owns).  stage_run_id is the
 * attempt's OpenLineage runId (stage events only).
 */
cJSON *ade_lineage_event_build(const struct ade_lineage_config *c, const struct ade_exec_event *ev,
			       const char *stage_run_id, const char *event_type);

/* Appends event to events.ndjson and sends it (or keeps it in the outbox). */
int ade_lineage_emit(struct ade_lineage_emitter *em, const struct ade_lineage_config *c,
		     const cJSON *event, struct ade_error *err);

/* ---- transports ---------------------------------------------------------- */

/*
 * Appends one line (len bytes, ending in '\n') to path with a single
 * write(2) on an O_APPEND descriptor; a short write is undone by
 * truncating back to the size before it, so a reader never sees a torn
 * line.  The file is locked (flock) so that concurrent ade processes do
 * not interleave.
 */
/*
 * ade_lineage_append_line's halves, for a writer that keeps the file open:
 * open_append makes the folder and opens path for appending (the caller
 * closes *fd); append_fd writes one whole line under an exclusive flock,
 * path naming the file in messages.
 */
int ade_lineage_open_append(const char *path, int *fd, struct ade_error *err);
int ade_lineage_append_fd(int fd, const char *path, const char *line, size_t len,
			  struct ade_error *err);
int ade_lineage_append_line(const char *path, const char *line, size_t len,
			    struct ade_error *err);

/*
 * POSTs body to {url}/api/v1/lineage (retries on failure).  Returns 0 on
 * a 2xx answer, ADE_EIO otherwise.
 */
int ade_lineage_http_post(const struct ade_lineage_config *c, const char *body,
			  struct ade_error *err);

/*
 * Sends every event of home/lineage/outbox.ndjson, in order; those still
 * not sent stay.  *sent and *left (may be NULL) count them.
 */
int ade_lineage_outbox_flush(const char *home, const struct ade_lineage_config *c, int *sent,
			     int *left, struct ade_error *err);

#endif
