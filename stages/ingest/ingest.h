/*
 * ade-ingest as a library: reads the source of a stage context into the
 * frame ADE_OUT/frame, quarantines poison records into
 * ADE_OUT/quarantine.ndjson and writes ADE_OUT/result.json.  Config keys,
 * inference rules and exit codes: docs/ingest.md.
 */
#ifndef ADE_INGEST_H
#define ADE_INGEST_H

#include "core/stage.h"

struct ade_error;

/* Quarantine reason codes, in result.json and quarantine.ndjson. */
enum ade_ingest_reason {
	ADE_Q_FIELD_COUNT,     /* wrong number of fields (CSV) */
	ADE_Q_BAD_QUOTE,       /* unterminated quote, text after a closing quote */
	ADE_Q_BAD_JSON,        /* NDJSON line that is not one JSON object */
	ADE_Q_INVALID_UTF8,
	ADE_Q_FIELD_TOO_LARGE, /* a field over max_field_bytes, or a record over the limit */
	ADE_Q_TYPE_MISMATCH,   /* a value that is not of its column's type */
	ADE_Q_NREASONS
};

const char *ade_ingest_reason_name(int reason);

/*
 * Runs the stage.  Returns 0; ADE_EINVAL for a bad `with:` block or a
 * missing source setting (exit 2); ADE_ENOTFOUND when the source names
 * no file (exit 1); ADE_EDATA when on_malformed is fail and a record is
 * malformed, or the quarantine rate crosses the fail threshold (exit 65);
 * ADE_EBUSY when the input changed between the two passes (exit 75);
 * another code for I/O errors (exit 1).  result.json is written
 * whenever the input could be read, with status "ok" or "failed".
 */
int ade_ingest_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_ingest_run. */
int ade_ingest_exit_code(int rc);

#endif
