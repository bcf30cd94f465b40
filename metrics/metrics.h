/*
 * Prometheus metrics (docs/metrics.md): the text exposition format
 * (version 0.0.4) rendered from state.db and the warehouse, written after
 * every run to HOME/metrics/ade.prom for node_exporter's textfile
 * collector and served live by `ade serve` at /metrics.
 *
 * Every family is a gauge: a textfile is a snapshot, and node_exporter
 * adds its own scrape time, so counters would only mislead rate().
 *
 * Every function returns 0 or a negative ADE_E* code with a message in err.
 */
#ifndef ADE_METRICS_H
#define ADE_METRICS_H

#include <sqlite3.h>

struct ade_error;
struct ade_strbuf;
struct ade_exec_event;

/* The Content-Type of the text format, for HTTP. */
#define ADE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Appends the metrics to out from two open connections (borrowed; either
 * may be NULL, and then its families are left out).  Only reads: the
 * queries on each file run in one read transaction (one snapshot), ended
 * before returning.  How long a locked file is waited for is the
 * connection's busy timeout, so the caller's choice.  A lock held past it
 * is ADE_EBUSY; any other SQLite error ADE_EDB; out is then unchanged.
 */
int ade_metrics_render_db(sqlite3 *state, sqlite3 *warehouse, struct ade_strbuf *out,
			  struct ade_error *err);

/*
 * Appends the metrics of home (its state.db and warehouse.db, opened
 * read-only; a missing file contributes nothing) to out.
 */
int ade_metrics_render(const char *home, struct ade_strbuf *out, struct ade_error *err);

/*
 * Renders and atomically replaces home/metrics/ade.prom (temporary file,
 * fsync, rename: the collector never reads a partial file; the temporary
 * name does not end in .prom, so the collector never reads it either).
 */
int ade_metrics_write(const char *home, struct ade_error *err);

/*
 * An executor observer: rewrites home/metrics/ade.prom on ADE_EV_RUN_END.
 * arg is unused (NULL).  A failure is printed as a warning and never
 * changes the run's outcome.
 */
void ade_metrics_on_event(void *arg, const struct ade_exec_event *ev);

/*
 * Opens an existing SQLite file read-only (SQLITE_OPEN_READONLY, query_only,
 * no ATTACH, a busy timeout of ADE_METRICS_BUSY_TIMEOUT_MS, which a caller
 * that must answer quickly replaces) for a reader such as the renderer or
 * `ade serve`.  ADE_ENOTFOUND when path does not exist.  *db is the caller's.
 */
#define ADE_METRICS_BUSY_TIMEOUT_MS 5000
int ade_metrics_open_readonly(const char *path, sqlite3 **db, struct ade_error *err);

#endif
