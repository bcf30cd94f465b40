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
 * Fills the set of keys already loaded by committed batches (those listed
 * in committed[0..n), sorted) from the warehouse's facts table.
 */
int ade_streamer_load_keys(struct ade_streamer *s, const int64_t *committed, size_t n,
			   struct ade_error *err);

/* Starts a batch: the header record of its input. */
void ade_streamer_begin(struct ade_streamer *s, const struct ade_csv_record *header);
/*
 * Adds one source record to the batch, unless its key was loaded by a
 * committed batch (then it is counted as a duplicate and left out).
 */
void ade_streamer_add(struct ade_streamer *s, const struct ade_csv_record *rec);

struct ade_batch_stats {
	int64_t rows_in;       /* records given to the batch */
	int64_t dups_skipped;  /* left out: key already loaded by a committed batch */
	int64_t quarantined;   /* ingest's quarantined records */
	int64_t rows_loaded;   /* facts rows loaded into the warehouse */
	int64_t duplicates;    /* removed by quality inside the batch */
};

/*
 * Runs the batch through the stages and the warehouse load (committed on
 * return 0), then adds its loaded keys to the set.  Returns 0, or the
 * ADE_E* code of the stage that failed with err naming it; *exit_code is
 * then the code the stage's executable would have exited with.
 */
int ade_streamer_run(struct ade_streamer *s, int64_t batch, struct ade_batch_stats *bs,
		     int *exit_code, struct ade_error *err);

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
