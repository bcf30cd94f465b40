/*
 * ade-train as a library: a linear regression (OLS or ridge) fitted on
 * the frame of the stage's main input with OpenBLAS/LAPACK, plus the model
 * file (ADE_OUT/model.json) and the encoding that `ade predict` reuses, so
 * serving applies exactly the training encoding and imputation.
 *
 * Config keys, the algorithm, the model file format and exit codes:
 * docs/train.md.
 */
#ifndef ADE_TRAIN_H
#define ADE_TRAIN_H

#include "core/frame.h"
#include "core/stage.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct ade_error;

/* The model file format this code writes and the newest it reads. */
#define ADE_MODEL_FORMAT_VERSION 1

enum ade_feature_kind { ADE_FEAT_NUMERIC, ADE_FEAT_CATEGORICAL };

struct ade_model_feature {
	char *name;                 /* input column name */
	enum ade_feature_kind kind;
	int first;                  /* index of its first encoded column */
	int width;                  /* number of encoded columns */
	/* numeric: the training mean, used for nulls (and NaN) */
	double impute;
	/* categorical: levels in byte order; levels[ref] has no column
	 * (ref = -1: every level has one, as for ridge) */
	char **levels;
	size_t *level_lens;
	int nlevels;
	int ref;
};

/*
 * A fitted model.  Everything is owned by the model; ade_model_free
 * releases it.  coef[] is in the units of the raw encoded columns
 * (prediction = intercept + sum coef[j] * x[j]); col_mean/col_scale
 * record the standardization the solve used.
 */
struct ade_model {
	int format_version;
	char version[17];           /* 16 hex digits, see docs/train.md */
	char *target;
	char *key;                  /* split/identity column, may be NULL */
	int nfeat;
	struct ade_model_feature *feat;
	int p;                      /* encoded columns */
	char **colnames;            /* "age", "department=Sales" */
	double *coef;
	double intercept;
	double *col_mean;
	double *col_scale;
	cJSON *doc;                 /* the whole model document (metrics, ds, ...) */
};

void ade_model_free(struct ade_model *m);

/*
 * Reads and checks a model file: refuses anything that is not a complete
 * ade-model document, a format version newer than
 * ADE_MODEL_FORMAT_VERSION (ADE_EINVAL, "... upgrade ade"), and
 * inconsistent or non-finite coefficients (ADE_EPARSE).  *out is the
 * caller's, released with ade_model_free.
 */
int ade_model_read(const char *path, struct ade_model **out, struct ade_error *err);

/* Fills m->version from the encoding and the coefficients. */
void ade_model_compute_version(struct ade_model *m);

/*
 * The model's document: format, version, encoding, coefficients,
 * standardization; the caller adds metrics and provenance.  Caller owns.
 */
cJSON *ade_model_to_json(const struct ade_model *m);

/* ---- encoding: shared by training, evaluation and `ade predict` ---- */

/* Counts of what the encoder had to fill in, per feature. */
struct ade_encode_counts {
	int64_t *imputed; /* numeric: null or NaN → training mean */
	int64_t *unseen;  /* categorical: a level not seen in training */
	int64_t *nulls;   /* categorical: null value */
};

struct ade_binding;

/*
 * Binds a model's features to the columns of a frame (by name).  A
 * missing feature column, or one whose type cannot be read as the
 * feature's kind, is ADE_EINVAL with a message naming it.  The binding
 * borrows m and f; free it with ade_binding_free before either.
 */
int ade_model_bind(const struct ade_model *m, const struct ade_frame *f,
		   struct ade_binding **out, struct ade_error *err);
void ade_binding_free(struct ade_binding *b);

/*
 * Encodes n rows into X (row-major, leading dimension ld >= m->p): raw
 * numeric values (nulls imputed), one-hot levels (reference, unseen and
 * null all zero).  rows lists the row indices, or is NULL for rows
 * start..start+n-1.  counts may be NULL; else its arrays (nfeat each)
 * are incremented.  Thread-safe for distinct X and counts.
 */
void ade_encode_rows(const struct ade_binding *b, const int64_t *rows, int64_t start, int n,
		     double *X, int ld, struct ade_encode_counts *counts);

/*
 * Predicts rows start..start+n-1 into pred (intercept + X coef), using
 * the caller's scratch buffer X of n * m->p doubles.
 */
void ade_model_predict_rows(const struct ade_binding *b, int64_t start, int n, double *X,
			    double *pred, struct ade_encode_counts *counts);
/* The same for the listed rows (rows as in ade_encode_rows). */
void ade_model_predict_idx(const struct ade_binding *b, const int64_t *rows, int64_t start,
			   int n, double *X, double *pred, struct ade_encode_counts *counts);

/*
 * Releases the pages of rows [from, to) of every bound column from this
 * process's memory (madvise), so a pass over a large mmapped frame keeps
 * RSS flat; the data is re-read from the page cache if touched again.
 */
void ade_binding_drop_pages(const struct ade_binding *b, int64_t from, int64_t to);
/* The same for one column. */
void ade_train_drop_pages(const struct ade_frame_column *c, int64_t from, int64_t to);

/* ---- the deterministic holdout split ---- */

/*
 * The split hash of row i of key column c (NULL: the row number):
 * XXH3-64 of the value's text (int64 in decimal, strings and categorical
 * levels as their bytes) with seed.  A null key hashes as "".
 */
uint64_t ade_train_key_hash(const struct ade_frame_column *c, int64_t i, uint64_t seed);

/* 1 when a row with hash h is in the holdout for test_fraction. */
int ade_train_is_test(uint64_t h, double test_fraction);

/* ---- the stage ---- */

/*
 * Runs the stage: fits the configured model on the main input's frame,
 * writes ADE_OUT/model.json and result.json.  Returns 0; ADE_EINVAL for
 * a bad `with:` block (exit 2); ADE_EDATA when there is nothing to train
 * on (exit 65); another code for I/O errors (exit 1).
 */
int ade_train_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_train_run. */
int ade_train_exit_code(int rc);

/*
 * For tests: fits like the stage does on frame dir with config (the
 * `with:` block) and returns the model (its doc holds the metrics and
 * warnings).  ctx may be NULL (config errors then name ADE_CONFIG).
 */
int ade_train_fit(const struct ade_stage_ctx *ctx, const cJSON *config, const char *frame_dir,
		  struct ade_model **out, struct ade_error *err);

#endif
