/*
 * ade stream: micro-batches of a day's source (replay) or of files that
 * land in a directory (watch), run IN-PROCESS through ade's own stage
 * libraries and loaded into the warehouse by (pipeline, ds, batch), with
 * a checkpoint per batch in state.db.  Design and guarantees:
 * docs/stream.md.
 */
#ifndef ADE_STREAM_H
#define ADE_STREAM_H

#include "pipeline.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>

struct ade_error;

/* ---- state.db tables (stream_state.c) ---- */

/* Creates stream_runs, stream_batches and stream_files if absent. */
int ade_stream_state_init(struct ade_state *st, struct ade_error *err);

/* The stream of (pipeline, ds): its fixed settings, or ADE_ENOTFOUND. */
struct ade_stream_run_row {
	char *run_id;
	int batch_rows;
	char *hints;      /* JSON object column -> type, fixed at the first start */
	char *source;
	int64_t source_size;
	int64_t source_mtime_ns;
	int done;
	char *baseline;   /* the quality baseline fixed at the first start (JSON), or NULL/"" */
	int keys_format;  /* the day's duplicate set: ADE_STREAM_KEYS_* (stream_engine.h); 0 also
			   * for NULL, a stream of an older ade */
};
int ade_stream_run_get(struct ade_state *st, const char *pipeline, const char *ds,
		       struct ade_stream_run_row *r, struct ade_error *err);
int ade_stream_run_put(struct ade_state *st, const char *pipeline, const char *ds,
		       const struct ade_stream_run_row *r, struct ade_error *err);
int ade_stream_run_set_done(struct ade_state *st, const char *pipeline, const char *ds,
			    struct ade_error *err);
void ade_stream_run_row_release(struct ade_stream_run_row *r);

/*
 * The next batch number of (pipeline, ds): one past the highest committed
 * batch or batch given to a watched file (0 when none).
 */
int ade_stream_next_batch(struct ade_state *st, const char *pipeline, const char *ds,
			  int64_t *next, struct ade_error *err);

struct ade_stream_batch_row {
	int64_t batch;
	const char *state;      /* committed */
	int64_t rows_in;        /* source records in the batch */
	int64_t rows_loaded;    /* facts rows loaded */
	int64_t dups_skipped;   /* raw keys format: records left out, key committed earlier */
	int64_t dups_earlier;   /* typed format: quality's duplicates of earlier batches' rows */
	int64_t quarantined;
	int64_t source_offset;  /* byte offset of its first record (replay) */
	const char *source_file;/* the file (watch) */
	double latency_ms;
	const char *run_id;
	const void *keys;       /* the hashes it added to the day's set, or NULL */
	size_t keys_bytes;
};
/*
 * Calls fn for each committed batch of (pipeline, ds) with the keys stored
 * with its checkpoint (keys NULL: checkpointed by an older ade).
 */
int ade_stream_batch_keys(struct ade_state *st, const char *pipeline, const char *ds,
			  void (*fn)(void *arg, int64_t batch, const void *keys, size_t bytes),
			  void *arg, struct ade_error *err);

/* Records a committed batch (the checkpoint; after the warehouse commit). */
int ade_stream_batch_commit(struct ade_state *st, const char *pipeline, const char *ds,
			    const struct ade_stream_batch_row *b, struct ade_error *err);

/* Watch mode: files by (pipeline, dir, name, size, mtime). */
enum ade_stream_file_state { ADE_SF_NEW, ADE_SF_STARTED, ADE_SF_DONE };
/* Looks a file up: state, and the batch/ds it was given when started. */
int ade_stream_file_get(struct ade_state *st, const char *pipeline, const char *dir,
			const char *name, int64_t size, int64_t mtime_ns, int64_t *batch,
			char **ds, struct ade_error *err);
int ade_stream_file_set(struct ade_state *st, const char *pipeline, const char *dir,
			const char *name, int64_t size, int64_t mtime_ns, const char *ds,
			int64_t batch, const char *state, struct ade_error *err);

#endif
