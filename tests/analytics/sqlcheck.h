/*
 * Recomputes every set of an ade-analytics result.json with SQLite over
 * the same frame and reports each difference on log (see sqlcheck.c for
 * the SQL and the tolerances).  Returns the number of differences; sets
 * *checked to the number of sets compared.
 */
#ifndef ADE_TESTS_ANALYTICS_SQLCHECK_H
#define ADE_TESTS_ANALYTICS_SQLCHECK_H

#include <stdio.h>

int analytics_sqlcheck(const char *frame_dir, const char *result_path, FILE *log,
		       int *checked);

#endif
