/*
 * Shared by the report's sources: HTML escaping and the SVG charts.
 * Everything here appends to a caller's ade_strbuf; structures own what
 * they point to and are released with the matching *_free.
 */
#ifndef ADE_REPORT_INTERNAL_H
#define ADE_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct ade_strbuf;

#define RP_RED "#d62728"     /* failures, and only failures */
#define RP_GREEN "#2e7d32"
#define RP_AMBER "#e69500"
#define RP_GREY "#9e9e9e"
#define RP_BLUE "#1f77b4"

/* Appends s with & < > " ' escaped and control characters dropped. */
void rp_esc(struct ade_strbuf *o, const char *s);
/* The same for at most n bytes. */
void rp_escn(struct ade_strbuf *o, const char *s, size_t n);

/* The colour of series i (never the failure red). */
const char *rp_series_color(int i);
/* The colour of a run, stage or attempt state. */
const char *rp_state_color(const char *state);

/* A number for a label: integers without decimals, others to 4 significant digits. */
void rp_num(char *buf, size_t n, double v);

struct rp_point {
	int32_t day;   /* days since the epoch */
	double v;
	int bad;       /* drawn in red: a failed attempt */
};

struct rp_series {
	char *name;    /* owned */
	struct rp_point *pts; /* owned, ascending by day */
	int n, cap;
};

struct rp_chart {
	const char *title;
	const char *unit;    /* the y axis' label, with its unit */
	struct rp_series *s; /* borrowed */
	int ns;
	const int32_t *fail_days; /* dates whose newest run failed (borrowed) */
	int nfail;
	int32_t xmin, xmax;  /* the date range shown */
	int from_zero;       /* y axis starts at 0 */
	double scale;        /* values are multiplied by this when drawn (0: 1) */
	int bars;            /* stacked bars per date instead of lines (counts) */
	int integer;         /* whole-number ticks only */
};

void rp_series_add(struct rp_series *s, int32_t day, double v, int bad);
void rp_series_free(struct rp_series *s);

/*
 * A line chart (or stacked bars) over dates with axes, ticks, units and a
 * legend; every point has a <title> "NAME DATE: VALUE".  Dates in
 * fail_days get a red band and a red marker on the x axis, and lines break
 * there.  With no point at all, a box that says "no data".
 */
void rp_line_chart(struct ade_strbuf *o, const struct rp_chart *c);

/* An SVG box of the chart size saying why there is nothing to draw. */
void rp_no_data(struct ade_strbuf *o, const char *title, const char *why);

/* Nice axis ticks over [lo, hi]: fills *step and the rounded bounds. */
void rp_nice_range(double lo, double hi, int want, double *nlo, double *nhi, double *step);

/* At most this many intervals between axis ticks, whatever the range. */
#define RP_MAX_TICKS 50
/*
 * The number of step intervals from lo to hi (ticks are lo + i * step for
 * i = 0..n), capped at RP_MAX_TICKS; 0 for a degenerate range.
 */
int rp_tick_count(double lo, double hi, double step);

/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" to milliseconds since the epoch; -1 if malformed. */
int64_t rp_parse_utc_ms(const char *s);

/* Chart geometry shared by the SVG writers (a 600 x 270 viewBox). */
#define RP_W 600
#define RP_H 270
#define RP_ML 72
#define RP_MR 18
#define RP_MT 34
#define RP_MB 52

#endif
