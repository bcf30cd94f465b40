/*
 * The stream engine: runs one micro-batch (a small CSV file with its
 * header) through the pipeline's stream stages in-process, by calling the
 * stage libraries (ade_ingest_run, ade_schema_run, ade_quality_run,
 * ade_validate_run) with a filled stage context, and loads it into the
 * warehouse with ade_warehouse_load on one connection kept open.
 * docs/stream.md explains the choice.
 */
#ifndef ADE_STREAM_ENGINE_H
#define ADE_STREAM_ENGINE_H

#include "pipeline.h"
#include "state.h"
#include "core/csv.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct ade_error;
struct ade_streamer;

struct ade_streamer_opts {
	const char *home;
	struct ade_pipeline *p;
	const char *ds;
	const char *run_id;
	const char *work;        /* per-batch working directory (recreated per batch) */
	const cJSON *hints;      /* schema_hints for ingest (may be NULL) */
	int verbose;
};

/*
 * Checks the stream stages (ade's own only) and opens the warehouse.
 * ADE_EINVAL with a message for a stage that cannot run in stream mode.
 */
int ade_streamer_open(const struct ade_streamer_opts *o, struct ade_streamer **out,
		      struct ade_error *err);
void ade_streamer_free(struct ade_streamer *s);

/* The stream stages, for messages: "ingest -> quality -> ...". */
const char *ade_streamer_describe(const struct ade_streamer *s);

/*
 * What the day's duplicate set holds (stream_runs.keys_format, docs/stream.md,
 * "Column types and duplicates across batches"):
 * - TYPED: ade-quality's own duplicate-pass hashes of the rows that reached
 *   it (whole rows or keys:, typed, quality.h struct ade_quality_seen); the
 *   stage removes a batch's rows already in the set.  The default.
 * - RAW: hashes of the raw CSV keys: fields, records left out before
 *   ingest, whole rows deduplicated inside a batch only: how a day begun by
 *   an older ade (NULL keys_format, batches committed) goes on.
 */
#define ADE_STREAM_KEYS_RAW 0
#define ADE_STREAM_KEYS_TYPED 1
/* Sets the format before the first batch or restored blob; get it back. */
void ade_streamer_set_keys_format(struct ade_streamer *s, int format);
int ade_streamer_keys_format(const struct ade_streamer *s);

/*
 * RAW format only (a no-op for TYPED): fills the set of keys already loaded by committed batches (those listed
 * in committed[0..n), sorted) from the warehouse's facts table: for
 * batches checkpointed by an older ade, without their keys in state.db.
 */
int ade_streamer_load_keys(struct ade_streamer *s, const int64_t *committed, size_t n,
			   struct ade_error *err);

/*
 * The keys a committed batch added to the day's set, as stored with its
 * checkpoint (stream_batches.keys: 16 bytes per key, XXH3-128 low then
 * high word, host order).  NULL when there is nothing to store: TYPED, no
 * duplicate pass ran (no quality stage, dedup: false); RAW, no keys:.
 */
void ade_streamer_batch_keys(const struct ade_streamer *s, const void **keys, size_t *bytes);
/* Adds such a blob of a committed batch to the set (at a restart). */
void ade_streamer_add_key_blob(struct ade_streamer *s, const void *keys, size_t bytes);

/* Starts a batch: the header record of its input. */
void ade_streamer_begin(struct ade_streamer *s, const struct ade_csv_record *header);
/*
 * Adds one source record to the batch; RAW format: unless its key was
 * loaded by a committed batch (then it is counted as a duplicate and left
 * out).
 */
void ade_streamer_add(struct ade_streamer *s, const struct ade_csv_record *rec);

/*
 * Where a batch's time goes (ADE_STREAM_PROFILE=1 prints a breakdown):
 * READ is the source read (cmd_stream), SETUP the working directory and
 * input.csv, then each stage kind, LOAD the warehouse transaction, KEYS
 * the cross-batch key set update and CKPT the state.db checkpoint (after
 * the latency is taken).  Warehouse WAL checkpoints run in a thread of
 * their own (ade_streamer_wal_stats).
 */
enum ade_stream_phase {
	ADE_PH_READ, ADE_PH_SETUP, ADE_PH_INGEST, ADE_PH_SCHEMA, ADE_PH_QUALITY,
	ADE_PH_VALIDATE, ADE_PH_LOAD, ADE_PH_KEYS, ADE_PH_CKPT, ADE_PH_N
};
extern const char *const ade_stream_phase_names[ADE_PH_N];

struct ade_batch_stats {
	int64_t phase_ns[ADE_PH_N];
	int64_t rows_in;       /* records given to the batch */
	int64_t dups_skipped;  /* RAW: left out, key already loaded by a committed batch */
	int64_t quarantined;   /* ingest's quarantined records */
	int64_t rows_loaded;   /* facts rows loaded into the warehouse */
	int64_t duplicates;    /* removed by quality (TYPED: cross-batch ones included) */
	int64_t dups_earlier;  /* TYPED: of those, copies of rows of earlier batches */
};

/*
 * Runs the batch through the stages and the warehouse load (committed on
 * return 0), then adds its loaded keys to the set.  Returns 0, or the
 * ADE_E* code of the stage that failed with err naming it; *exit_code is
 * then the code the stage's executable would have exited with.
 */
int ade_streamer_run(struct ade_streamer *s, int64_t batch, struct ade_batch_stats *bs,
		     int *exit_code, struct ade_error *err);

/*
 * The name of the stream's ade-quality stage, or NULL; and whether its
 * `with:` sets `baseline:` itself (then the stream passes none).
 */
const char *ade_streamer_quality_stage(const struct ade_streamer *s, int *user_baseline);

/*
 * The quality baseline every batch's ade-quality applies (a result.json
 * path, copied; NULL for none): docs/stream.md, "Quality baseline".
 */
void ade_streamer_set_baseline(struct ade_streamer *s, const char *path);

/* The background WAL checkpoints so far: how many, their total and longest time. */
void ade_streamer_wal_stats(struct ade_streamer *s, int64_t *count, int64_t *total_ns,
			    int64_t *max_ns);

/* The rendered `with:` of the ingest stage (for schema inference), or NULL. */
const cJSON *ade_streamer_ingest_config(const struct ade_streamer *s);

/*
 * Infers the day's column types: ingests csv_path (a sample of the day,
 * header included) into dir with the ingest stage's configuration and
 * returns {column: type} from the frame's schema.  Caller frees.
 */
cJSON *ade_streamer_infer_hints(const struct ade_streamer_opts *o, const char *csv_path,
				const char *dir, struct ade_error *err);

/* {column: type} from a frame's schema.json, or NULL. */
cJSON *ade_stream_hints_from_schema(const char *schema_json);

#endif
