/*
 * ade-analytics as a library: named aggregate sets (group_by + metrics,
 * SQL semantics) over the input frame.  Writes one small frame per set to
 * ADE_OUT/sets/<set>/ and every set's rows inline, plus scalar KPIs, to
 * ADE_OUT/result.json.  Syntax, semantics and the result.json shape:
 * docs/analytics.md.
 */
#ifndef ADE_ANALYTICS_H
#define ADE_ANALYTICS_H

#include "core/stage.h"

#include <stddef.h>

struct ade_error;

/*
 * Runs the stage.  Returns 0 when every set was written; ADE_EINVAL for a
 * bad `with:` block, including a column the input does not have or whose
 * type does not suit the metric, reported with ade_stage_config_error
 * (exit 2); another code when the input cannot be read or an output
 * cannot be written (exit 1).
 */
int ade_analytics_run(const struct ade_stage_ctx *ctx, struct ade_error *err);

/* The exit code for a return value of ade_analytics_run. */
int ade_analytics_exit_code(int rc);

/*
 * The p-quantile (0 <= p <= 1) of v[0..n), n >= 1, no NaN: linear
 * interpolation between the closest ranks (Hyndman & Fan type 7, numpy's
 * default, R's default).  Reorders v (introselect); allocates nothing.
 */
double ade_analytics_quantile(double *v, size_t n, double p);

#endif
