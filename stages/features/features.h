/*
 * ade-features as a library: encodes the validated frame into a feature
 * snapshot (numeric columns as-is or standardized, categoricals one-hot
 * with a reference level dropped, the target), stores it once per content
 * hash in the home's feature store and records which snapshot each date
 * has.  `ade features list|get` read the store through the same functions.
 * Formats, encoding and the store's layout: docs/features.md.
 */
#ifndef ADE_FEATURES_H
#define ADE_FEATURES_H

#include "core/stage.h"

#include <stdint.h>
#include <stdio.h>

struct ade_error;
struct ade_frame_info;

/*
 * Runs the stage: reads the main input's frame, writes the snapshot to
 * ADE_OUT/snapshot, publishes it into the store, writes manifest.json and
 * result.json.  Returns 0; ADE_EINVAL for a bad `with:` block (reported
 * with FILE:LINE:COL, exit 2); another code when an input cannot be read
 * or an output written (exit 1).
 */
int ade_features_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_features_run. */
int ade_features_exit_code(int rc);

/* One date of the store's index, joined with its snapshot. */
struct ade_features_entry {
	char ds[11];
	int64_t version;
	char hash[64];  /* "xxh3-128:<32 hex>" */
	int64_t rows;
	int64_t columns;
	char dir[300];  /* absolute directory of the snapshot frame */
};

/*
 * The store of a pipeline: "<home>/features/<pipeline>" in a new string
 * (caller frees).  The pipeline name must be a plain file name (no '/',
 * not "." or "..", not empty); otherwise NULL and ADE_EINVAL in err.
 */
char *ade_features_store_dir(const char *home, const char *pipeline, struct ade_error *err);

/*
 * Publishes the finished frame at frame_dir (whose content hash is
 * info->hash) as the snapshot of ds: under the store's lock, a snapshot
 * with that hash is reused, else the frame's files are hard-linked (or
 * copied) into "<store>/<hex>" by an atomic rename and get the next
 * version; the index entry of ds is then replaced.  On success *entry
 * describes the stored snapshot and the files of frame_dir are hard links
 * to it where the file system allows.
 */
int ade_features_store_put(const char *home, const char *pipeline, const char *ds,
			   const char *run_id, const char *frame_dir,
			   const struct ade_frame_info *info, struct ade_features_entry *entry,
			   struct ade_error *err);

/*
 * Every date of the store's index, oldest first, in a new array (caller
 * frees *out).  A pipeline without a store is ADE_ENOTFOUND.
 */
int ade_features_list(const char *home, const char *pipeline, struct ade_features_entry **out,
		      size_t *n, struct ade_error *err);

/*
 * Point-in-time retrieval: the entry of the latest date on or before
 * as_of ("YYYY-MM-DD").  ADE_ENOTFOUND when there is none.
 */
int ade_features_find(const char *home, const char *pipeline, const char *as_of,
		      struct ade_features_entry *entry, struct ade_error *err);

/*
 * Writes the frame at frame_dir as CSV (RFC 4180, header line, nulls as
 * empty fields, floats in their shortest round-trip form) to f.
 */
int ade_features_write_csv(const char *frame_dir, FILE *f, struct ade_error *err);

/*
 * Makes dst (which must not exist) a copy of the frame directory src:
 * files hard-linked where possible, else copied; built under a temporary
 * name and renamed into place.
 */
int ade_features_copy_frame(const char *src, const char *dst, struct ade_error *err);

/*
 * The shortest of %.15g, %.16g and %.17g that strtod reads back as v
 * exactly (non-finite values as "nan", "inf", "-inf"); returns the length.
 */
int ade_features_format_double(double v, char out[32]);

#endif
