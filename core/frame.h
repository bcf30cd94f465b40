/*
 * Frames: how stages pass tables (DESIGN.md, "Frames"; the format is
 * specified in docs/frames.md).  A frame is a directory with schema.json
 * and, per column, NumPy 1.0 .npy files:
 *
 *   int64 <i8, float64 <f8, bool |b1, date <M8[D], timestamp <M8[us]
 *   categorical  <col>.npy <i4 codes (-1 = null) + <col>.dict.json
 *   string       <col>.offsets.npy <i8 (rows+1) + <col>.bytes (UTF-8)
 *   nulls        <col>.valid.npy |b1, only when the column has nulls
 *
 * <col> is the column's file stem (see docs/frames.md); schema.json maps
 * names to files, so readers never derive file names themselves.
 *
 * The writer streams: values are appended row by row into small
 * per-file buffers flushed with write(2); each .npy reserves a 128-byte
 * header that is filled in by ade_frame_writer_finish, which then writes
 * schema.json and renames the temporary directory into place.
 */
#ifndef ADE_FRAME_H
#define ADE_FRAME_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct ade_error;

enum ade_type {
	ADE_TYPE_INT64,
	ADE_TYPE_FLOAT64,
	ADE_TYPE_BOOL,
	ADE_TYPE_DATE,      /* days since 1970-01-01 as int64 */
	ADE_TYPE_TIMESTAMP, /* microseconds since the epoch, UTC, as int64 */
	ADE_TYPE_CATEGORICAL,
	ADE_TYPE_STRING,
};

/* "int64", "float64", "bool", "date", "timestamp", "categorical", "string". */
const char *ade_type_name(enum ade_type t);
/* The inverse; 0 or ADE_EINVAL. */
int ade_type_parse(const char *name, enum ade_type *t);

/* What a null holds in the data file, so a reader ignoring valid sees it. */
#define ADE_FRAME_NULL_I64 INT64_MIN /* numpy NaT for dates and timestamps */

/* ---- writing ---- */

struct ade_frame_writer;

/*
 * Starts a frame that will appear at dir (which must not exist, or be an
 * empty directory) when finished.  Files go to "<dir>.tmp-<pid>" first.
 * *out is the caller's: ade_frame_writer_finish or _abort, then _free.
 */
int ade_frame_writer_open(const char *dir, struct ade_frame_writer **out,
			  struct ade_error *err);

/* Adds a column before any value is appended; returns its index (>= 0). */
int ade_frame_writer_add(struct ade_frame_writer *w, const char *name, enum ade_type type,
			 struct ade_error *err);

/*
 * Sets a categorical column's dictionary (copied); code i means vals[i].
 * Values must be valid UTF-8.
 */
void ade_frame_writer_set_dict(struct ade_frame_writer *w, int col, const char *const *vals,
			       const size_t *lens, int32_t n);

/*
 * Appends one value to a column.  Write errors are sticky and reported by
 * ade_frame_writer_finish, so the hot path has nothing to check.
 * put_i64 serves int64, date and timestamp columns.
 */
void ade_frame_put_i64(struct ade_frame_writer *w, int col, int64_t v);
void ade_frame_put_f64(struct ade_frame_writer *w, int col, double v);
void ade_frame_put_bool(struct ade_frame_writer *w, int col, int v);
void ade_frame_put_code(struct ade_frame_writer *w, int col, int32_t code);
void ade_frame_put_str(struct ade_frame_writer *w, int col, const char *p, size_t len);
void ade_frame_put_null(struct ade_frame_writer *w, int col);

/* Every column must have the same number of rows. */
struct ade_frame_info {
	int64_t rows;
	int64_t bytes;        /* all files of the frame */
	char hash[64];        /* "xxh3-128:<32 hex>" over the columns' contents */
	cJSON *schema;        /* the "columns" array of schema.json; caller's */
};

/*
 * Fills headers, writes schema.json (with extra's members merged in, if
 * extra is not NULL), renames the frame into place.  info may be NULL.
 */
int ade_frame_writer_finish(struct ade_frame_writer *w, const cJSON *extra,
			    struct ade_frame_info *info, struct ade_error *err);
/* Removes the temporary directory of an unfinished frame. */
void ade_frame_writer_abort(struct ade_frame_writer *w);
void ade_frame_writer_free(struct ade_frame_writer *w);

/* ---- reading ---- */

struct ade_frame_column {
	char *name;
	enum ade_type type;
	int64_t null_count;
	/* Mapped read-only; NULL when absent.  data is int64_t*, double*,
	 * uint8_t* (bool) or int32_t* (categorical codes); NULL for strings. */
	const void *data;
	const uint8_t *valid;      /* NULL: no nulls */
	const int64_t *offsets;    /* strings: rows + 1 entries */
	const char *bytes;         /* strings */
	int64_t bytes_len;
	char **dict;               /* categorical: n_dict NUL-terminated values */
	size_t *dict_len;
	int32_t n_dict;
};

struct ade_frame {
	char *dir;
	int64_t rows;
	int ncols;
	struct ade_frame_column *cols;
	cJSON *schema; /* the parsed schema.json, owned by the frame */
	/* mappings to release */
	void **maps;
	size_t *map_lens;
	int nmaps;
};

/*
 * Opens the frame at dir, checks every file's header against schema.json
 * (magic, version 1.0, dtype, C order, shape) and maps the columns.
 * *out is the caller's, released with ade_frame_close.
 */
int ade_frame_open(const char *dir, struct ade_frame **out, struct ade_error *err);
/* The index of a column, or -1. */
int ade_frame_find(const struct ade_frame *f, const char *name);
/* 1 when row i of column c is null. */
int ade_frame_is_null(const struct ade_frame_column *c, int64_t i);
/* String value of row i (strings and categoricals); *len is set. */
const char *ade_frame_str(const struct ade_frame_column *c, int64_t i, size_t *len);
void ade_frame_close(struct ade_frame *f);

#endif
