/*
 * ade-validate as a library: evaluates the rules of the stage's `with:`
 * block over the input frame (column-wise, over the mmapped files),
 * hard-links the frame unchanged to ADE_OUT/frame, writes one line per
 * failing sample to ADE_OUT/violations.ndjson and the per-rule results
 * to ADE_OUT/result.json.  Rule reference and semantics: docs/validate.md.
 */
#ifndef ADE_VALIDATE_H
#define ADE_VALIDATE_H

#include "core/stage.h"

#include <stddef.h>
#include <stdint.h>

struct ade_error;

/*
 * Runs the stage.  Returns 0 when every rule of severity fail or critical
 * passed (warn rules never fail the run); ADE_EDATA when one did not,
 * after every output is written (exit 65); ADE_EINVAL for a bad `with:`
 * block, reported with ade_stage_config_error (exit 2); another code when
 * the input cannot be read or an output cannot be written (exit 1).
 */
int ade_validate_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_validate_run. */
int ade_validate_exit_code(int rc);

/*
 * The number of UTF-8 characters in s[0..n): bytes that are not
 * continuation bytes (10xxxxxx), so a malformed sequence counts each of
 * its lead bytes.  This is what `length` rules measure.
 */
size_t ade_validate_utf8_chars(const char *s, size_t n);

/*
 * Parses an ISO 8601 date or timestamp: "YYYY-MM-DD", optionally
 * followed by 'T' or ' ' and "HH:MM[:SS[.ffffff]]" and "Z" or "+HH:MM" /
 * "-HH:MM".  Sets *us to microseconds since the epoch, UTC.  Returns 0 or
 * ADE_EINVAL.
 */
int ade_validate_parse_time(const char *s, size_t n, int64_t *us);

#endif
