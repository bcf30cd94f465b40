/*
 * Execution dates and their intervals.  A date is a count of days since
 * 1970-01-01 (proleptic Gregorian, UTC), the same unit as numpy's
 * datetime64[D].  The run for date ds covers the half-open interval
 * [ds 00:00:00Z, ds+1 00:00:00Z).
 */
#ifndef ADE_DATE_H
#define ADE_DATE_H

#include <stddef.h>
#include <stdint.h>

struct ade_error;

/* Hinnant's days_from_civil: days since the epoch of y-m-d. */
int64_t ade_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse of ade_days_from_civil. */
void ade_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/*
 * Parses exactly "YYYY-MM-DD" (a real calendar date, years 1..9999).
 * Returns 0, or ADE_EINVAL with a message naming the text.
 */
int ade_date_parse(const char *s, int32_t *days, struct ade_error *err);
/* Same, for a length-delimited string; no message. */
int ade_date_parse_n(const char *s, size_t n, int32_t *days);

/* Writes "YYYY-MM-DD" and a NUL into out. */
void ade_date_format(int32_t days, char out[11]);
/* Writes "YYYYMMDD". */
void ade_date_format_nodash(int32_t days, char out[9]);
/*
 * Writes a frame timestamp (microseconds since the epoch, UTC) as
 * "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" before the Z when it has a
 * fraction of a second; times before 1970 round down, as the calendar does.
 */
void ade_date_format_us(int64_t us, char out[40]);
/* Writes the interval's bounds as "YYYY-MM-DDT00:00:00Z". */
void ade_date_interval(int32_t days, char start[21], char end[21]);

#endif
