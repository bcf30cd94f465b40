/*
 * Cron expressions, UTC: five fields (minute hour day-of-month month
 * day-of-week) with lists, ranges, steps, and month and day names, plus
 * @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).
 * As in Vixie cron, when both day fields are restricted a day matches if
 * either matches.
 */
#ifndef ADE_CRON_H
#define ADE_CRON_H

#include <stdint.h>

struct ade_error;

struct ade_cron {
	uint64_t minute;  /* bit i: minute i */
	uint32_t hour;
	uint32_t dom;     /* bit 1..31 */
	uint16_t month;   /* bit 1..12 */
	uint8_t dow;      /* bit 0..6, Sunday = 0 */
	int dom_any, dow_any;
};

/* Parses expr; the message names the field and the text at fault. */
int ade_cron_parse(const char *expr, struct ade_cron *c, struct ade_error *err);

/*
 * The first time strictly after t (seconds since the epoch, UTC) at which
 * c fires, in seconds; -1 if there is none within 5 years (e.g. 30 Feb).
 */
int64_t ade_cron_next(const struct ade_cron *c, int64_t t);

#endif
