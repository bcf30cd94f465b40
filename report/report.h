/*
 * The HTML report of a pipeline (`ade report`, the `ade serve` dashboard)
 * and the run summary every run writes (run_summary.json).  See
 * docs/report.md.
 *
 * The report is one self-contained HTML document: inline CSS and
 * hand-written SVG, no script, font, image or stylesheet from anywhere
 * else, so it can be mailed, archived or opened offline.
 *
 * Ownership: every string argument is borrowed for the duration of the
 * call; `out` is the caller's and is only appended to.
 */
#ifndef ADE_REPORT_H
#define ADE_REPORT_H

struct ade_error;
struct ade_strbuf;
struct ade_exec_event;

#include <stdint.h>

/* How long one query of the report waits for a writer's lock by default (the CLI). */
#define ADE_REPORT_BUSY_TIMEOUT_MS 10000

struct ade_report_opts {
	/* Per statement, how long to wait for a writer's lock; 0: ADE_REPORT_BUSY_TIMEOUT_MS. */
	int busy_timeout_ms;
	/* An ade_now_mono_ns() value after which every query fails (ADE_EBUSY); 0: none. */
	int64_t deadline_ns;
};

/*
 * Appends the whole HTML report of pipeline (a pipeline NAME) under home
 * to out: KPI trends, the last run's Gantt chart, stage durations and
 * peak memory over dates, validation results, schema changes, the healing
 * log, the last run's lineage graph and the run history.  from and to
 * ("YYYY-MM-DD", inclusive; NULL: unbounded) restrict every section to
 * those execution dates.
 *
 * state.db and warehouse.db are opened read-only with a busy timeout, so
 * a run may be writing them meanwhile; a missing warehouse (or table)
 * gives sections that say "no data".  No global state: safe to call
 * repeatedly and from several threads of a long-lived process.
 *
 * Returns 0, or a negative code with err set: ADE_EINVAL for a malformed
 * date or from after to, ADE_ENOTFOUND when home knows nothing of the
 * pipeline (no run in state.db and no row in the warehouse), ADE_EBUSY
 * when a writer held a file past the busy timeout (or the deadline
 * passed), ADE_EDB when a file exists but cannot be read (corrupt, not a
 * database).  The message names the file.  On error out may hold a
 * partial document.
 */
int ade_report_render(const char *home, const char *pipeline, const char *from, const char *to,
		      struct ade_strbuf *out, struct ade_error *err);

/* The same with explicit waits (o may be NULL: the defaults above); for `ade serve`. */
int ade_report_render_opts(const char *home, const char *pipeline, const char *from,
			   const char *to, const struct ade_report_opts *o, struct ade_strbuf *out,
			   struct ade_error *err);

/*
 * An executor observer (ade_exec_opts.on_event; arg is unused and may be
 * NULL).  On ADE_EV_RUN_END it writes ev->run_dir/run_summary.json
 * atomically: the run's date, state, rows, quality score, model metrics
 * and every stage's state, attempts, duration and peak memory.  Errors
 * are printed to stderr and never change the run's outcome.
 */
void ade_report_on_event(void *arg, const struct ade_exec_event *ev);

/*
 * Builds the run summary's JSON text (caller frees) for the run run_id of
 * pipeline under home, whose directory is run_dir.  stage_names (n of
 * them, may be NULL) gives the stages' order; without it the order of
 * state.db.  The observer above writes it; tests call it directly.
 */
int ade_report_run_summary(const char *home, const char *pipeline, const char *run_id,
			   const char *run_dir, const char *const *stage_names, int n_stages,
			   char **out, struct ade_error *err);

#endif
