/*
 * ade-schema as a library: profiles the input frame, compares its schema
 * with a baseline (a `columns:` contract, a schema file, or the latest
 * earlier version in the warehouse), applies the `on_change` policy and
 * writes ADE_OUT/frame and ADE_OUT/result.json.  Configuration, the
 * rename-confidence formula and the result format: docs/schema.md.
 *
 * The pieces are public so tests can call them without a process.
 * Every cJSON tree returned is the caller's (cJSON_Delete).
 */
#ifndef ADE_SCHEMA_H
#define ADE_SCHEMA_H

#include "core/frame.h"
#include "core/stage.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct ade_error;

/* Distinct values are counted exactly up to this many, then by HyperLogLog. */
#define ADE_SCHEMA_DISTINCT_EXACT_MAX 65536
/* HyperLogLog precision: 2^14 one-byte registers, standard error ~0.81%. */
#define ADE_SCHEMA_HLL_P 14

enum ade_schema_policy { ADE_SCHEMA_FAIL, ADE_SCHEMA_EVOLVE, ADE_SCHEMA_HEAL };

/*
 * The profile of one column: a schema column object
 *   {"name", "type", "nullable", "position", "stats": {...}}
 * computed from the data in one pass over the column (memory bounded by
 * the exact-distinct table, whatever the number of rows).  top_k is how
 * many most frequent values to keep (0: none).
 */
cJSON *ade_schema_profile_column(const struct ade_frame *f, int col, int top_k);

/* {"rows": N, "columns": [profile of every column in order]}. */
cJSON *ade_schema_profile(const struct ade_frame *f, int top_k);

/*
 * The content hash of a schema: "xxh3-128:<32 hex>" over the canonical
 * text (see docs/schema.md) of its columns' names, types and nullability
 * in order.  Statistics do not enter it, so a day with other values but
 * the same structure has the same hash.
 */
void ade_schema_hash(const cJSON *schema, char out[64]);

/*
 * How alike a baseline column and a current column are, from their
 * statistics: 0..1 (docs/schema.md, "Rename detection").  evidence, when
 * not NULL, receives the components that were computed.  Columns of
 * incompatible types score 0.
 */
double ade_schema_rename_confidence(const cJSON *base_col, const cJSON *cur_col,
				    cJSON *evidence);

/*
 * "widening", "narrowing", "same" or "incompatible" for a change of type
 * from -> to.
 */
const char *ade_schema_type_change(enum ade_type from, enum ade_type to);

/*
 * The comparison itself.  baseline is a schema object ({"columns": [...]},
 * columns with name, type (may be absent in a contract), nullable,
 * required, stats) or NULL for a first version; current is a profile.
 * Returns the report object:
 *   {"changes": [...], "healing": [...], "decision": "...", "plan": [...]}
 * where plan lists the output columns in order:
 *   {"name", "from": current name | null, "fill": "null" | "cast", "type"}
 */
cJSON *ade_schema_compare(const cJSON *baseline, const cJSON *current,
			  enum ade_schema_policy policy, double threshold);

/*
 * Runs the stage.  Returns 0; ADE_EINVAL for a bad `with:` block (exit
 * 2); ADE_EDATA when the policy rejects a change (exit 65, result.json
 * written); another code for I/O or database errors (exit 1).
 */
int ade_schema_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_schema_run. */
int ade_schema_exit_code(int rc);

#endif
