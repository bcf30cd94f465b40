/*
 * ade-quality as a library: reads the frame "<input>/frame", removes
 * exact duplicates, applies the missing-value policy, handles IQR
 * outliers, scores the data and writes ADE_OUT/frame (unchanged columns
 * hard-linked from the input), optionally ADE_OUT/cleaned.csv, and
 * ADE_OUT/result.json.  Configuration, formulas and decisions:
 * docs/quality.md.
 *
 * The pieces below the stage entry point are exported so unit tests can
 * check them against hand-computed values.
 */
#ifndef ADE_QUALITY_H
#define ADE_QUALITY_H

#include "core/stage.h"

#include <stddef.h>
#include <stdint.h>

struct ade_error;
struct ade_dedup;

/*
 * Runs the stage.  Returns 0; ADE_EINVAL for a bad `with:` block (the
 * message is "FILE:LINE:COLUMN: ..." when positions are known; exit 2);
 * ADE_EDATA when the score is below `min_score` (exit 65, after writing
 * every output); another code for I/O errors (exit 1).
 */
int ade_quality_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/*
 * Duplicates across calls (the stream's micro-batches, docs/stream.md):
 * the caller owns a set of the row hashes (or `keys:` hashes) of the rows
 * that reached the duplicate pass of earlier calls.  A row whose hash is
 * in `day` is removed as a duplicate, exactly as if the earlier rows were
 * in this frame; the hashes of the rows the pass kept (first copies, new
 * to `day`) are appended to kept, for the caller to add to `day` once it
 * has committed this call's output (a failed call must not make its rows
 * "seen").  A kept row counts even if a later pass drops it (an outlier):
 * in one frame its later copies would be duplicates too.
 *
 * The hash is a stable format (stored by the stream in state.db): XXH3-128
 * of the canonical typed encoding of docs/quality.md ("Duplicates"),
 * seeded with the names and types of the hashed columns, whole rows in
 * column-name order.  Changing it needs a new stream_runs.keys_format.
 */
struct ade_quality_seen {
	const struct ade_dedup *day; /* NULL or empty: nothing seen yet */
	uint64_t *kept;              /* out: (lo, hi) pairs, appended; caller frees */
	size_t nkept, cap;           /* pairs in kept, and its capacity in pairs */
	int64_t dups_day;            /* out: rows removed because their hash was in day */
	int active;                  /* out: 1 if the pass ran (dedup not off) */
};

/* ade_quality_run with a day set; seen NULL is ade_quality_run. */
int ade_quality_run_seen(const struct ade_stage_ctx *ctx, struct ade_quality_seen *seen,
			 struct ade_error *err);

/* The exit code for a return value of ade_quality_run. */
int ade_quality_exit_code(int rc);

/* ---- exact quantiles (qstats.c) ---- */

/*
 * Rearranges a[0..n) so that a[k] is the value of rank k (0-based) in
 * sorted order, everything before it <= a[k] and everything after >= it.
 * Hoare-partition quickselect with a median-of-3 pivot, insertion sort
 * below 16 elements and an introselect depth guard (2 log2 n levels, then
 * heapsort of the remaining range), so many equal values or adversarial
 * orders cannot make it quadratic.  a must hold no NaN.
 */
void ade_quality_select(double *a, size_t n, size_t k);

/*
 * Quantiles of a[0..n) (n > 0, no NaN) by linear interpolation between
 * order statistics, R's type 7 and numpy's default: h = (n-1)p,
 * q = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * ps[0..np) must be ascending, each in [0, 1].  a is rearranged.
 */
void ade_quality_quantiles(double *a, size_t n, const double *ps, int np, double *out);

/* ---- duplicate detection (dedup.c) ---- */

/*
 * A set of 128-bit row hashes: open addressing with linear probing in a
 * power-of-two table sized for load <= 0.6 of the expected count; the
 * all-zero slot means empty, so a zero hash is stored as 1.  16 bytes per
 * slot, nothing else per row.
 */
struct ade_dedup {
	uint64_t *slots; /* 2 words per slot: low, high */
	size_t mask;
	size_t count;
};

/*
 * Sizes the table for up to expected entries; release with _release.  A
 * zeroed struct is an empty set too (allocated at the first insert).
 */
void ade_dedup_init(struct ade_dedup *d, size_t expected);
/*
 * 1 if (lo, hi) was new and is now in the set, 0 if it was there.  Past
 * the expected count the table doubles (never inside a sized pass).
 */
int ade_dedup_insert(struct ade_dedup *d, uint64_t lo, uint64_t hi);
/* 1 if (lo, hi) is in the set (d may be NULL). */
int ade_dedup_contains(const struct ade_dedup *d, uint64_t lo, uint64_t hi);
void ade_dedup_release(struct ade_dedup *d);

/* ---- CSV export (export.c) ---- */

/*
 * Writes the shortest decimal text of v that strtod reads back as v (up
 * to 17 significant digits) into out (>= 32 bytes) and returns its
 * length.  Values that are whole cents take a fast path; integral values
 * get ".0" so that a reader infers a float column again.  NaN and
 * infinities are "nan", "inf", "-inf".
 */
size_t ade_quality_format_double(double v, char *out);

struct ade_frame;

/*
 * Writes frame f as RFC 4180 CSV to path (atomically: a temporary file
 * renamed into place): a header row, then one record per row; nulls are
 * empty fields, dates YYYY-MM-DD, timestamps ISO 8601 UTC with
 * microseconds, bools true/false.  *bytes gets the file size.
 */
int ade_quality_export_csv(const struct ade_frame *f, const char *path, int64_t *bytes,
			   struct ade_error *err);

#endif
