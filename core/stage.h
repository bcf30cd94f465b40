/*
 * The stage contract, seen from a stage written in C.
 *
 * The scheduler starts a stage with ADE_* variables in its environment
 * (see DESIGN.md, "The stage contract").  A stage:
 *   1. calls ade_stage_init() to read them and parse ADE_CONFIG;
 *   2. reads its inputs (ade_stage_input_dir() for upstream outputs);
 *   3. writes only below ctx.out;
 *   4. builds a result with ade_stage_result_new() and writes it with
 *      ade_stage_result_write(), which must be its last output;
 *   5. calls ade_stage_release() and exits with 0, 65 (data failed a
 *      check), 75 (temporary failure) or 1.
 */
#ifndef ADE_STAGE_H
#define ADE_STAGE_H

#include <cjson/cJSON.h>

struct ade_error;

struct ade_stage_ctx {
	/* Borrowed from the environment; valid while the process runs. */
	const char *pipeline;
	const char *stage;
	const char *ds;
	const char *interval_start;
	const char *interval_end;
	const char *run_id;
	const char *batch; /* NULL in batch mode */
	const char *home;
	const char *warehouse;
	const char *out;
	const char *source; /* the pipeline's source, resolved; may be NULL */
	int attempt;
	/* The stage's `with:` block; owned by ctx, never NULL after init. */
	cJSON *config;
	/* Where each config value is in the pipeline file (may be NULL). */
	cJSON *config_pos;
	const char *pipeline_file;
};

/*
 * Reads the contract's variables.  ADE_OUT must name an existing
 * directory; ADE_CONFIG, when set, must be a JSON object.  Missing names
 * are reported in err.
 */
int ade_stage_init(struct ade_stage_ctx *ctx, struct ade_error *err);

/* Frees what ctx owns. */
void ade_stage_release(struct ade_stage_ctx *ctx);

/*
 * The published output directory of upstream stage name (ADE_IN_<NAME>,
 * upper-cased, '-' as '_'), or NULL when the stage is not upstream.
 */
const char *ade_stage_input_dir(const char *name);

/*
 * The output directory of the stage this one reads its table from: the
 * upstream named by `with: {input: NAME}` in config when given, else the
 * only ADE_IN_* variable.  Several inputs without `input:`, or none, are
 * an error naming what was found.  The string is borrowed from the
 * environment.  By convention a stage's table is the frame "<dir>/frame".
 */
int ade_stage_main_input(const cJSON *config, const char **dir, struct ade_error *err);

/*
 * Reports a bad configuration value the way the pipeline loader does:
 * "FILE:LINE:COLUMN: message" for the value at JSON pointer ptr (e.g.
 * "/rules/2/mostly") when the scheduler passed positions, else
 * "ADE_CONFIG <ptr>: message".  Returns ADE_EINVAL; stages exit 2 on it.
 */
int ade_stage_config_error(const struct ade_stage_ctx *ctx, struct ade_error *err,
			   const char *ptr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * A new result object with status, pipeline, stage, ds and run_id filled
 * in; the caller adds rows_in, rows_out, datasets, metrics, warnings and
 * owns the tree.
 */
cJSON *ade_stage_result_new(const struct ade_stage_ctx *ctx, const char *status);

/* Writes result to ADE_OUT/result.json atomically. */
int ade_stage_result_write(const struct ade_stage_ctx *ctx, const cJSON *result,
			   struct ade_error *err);

#endif
