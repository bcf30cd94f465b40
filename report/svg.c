/* Escaping, number formatting and the line chart of the report; see internal.h. */
#include "internal.h"
#include "core/date.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rp_escn(struct ade_strbuf *o, const char *s, size_t n)
{
	size_t start = 0;

	if (!s)
		return;
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			/* Control characters are not allowed in HTML text; drop them. */
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				rep = "";
		}
		if (rep) {
			ade_strbuf_add(o, s + start, i - start);
			ade_strbuf_adds(o, rep);
			start = i + 1;
		}
	}
	size_t end = start;
	while (end < n && s[end])
		end++;
	ade_strbuf_add(o, s + start, end - start);
}

void rp_esc(struct ade_strbuf *o, const char *s)
{
	if (s)
		rp_escn(o, s, strlen(s));
}

const char *rp_series_color(int i)
{
	/* Tableau 10 without its red, which means failure here. */
	static const char *const pal[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
					  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"};
	return pal[(i < 0 ? 0 : i) % (int)(sizeof(pal) / sizeof(pal[0]))];
}

const char *rp_state_color(const char *st)
{
	if (!st)
		return RP_GREY;
	if (!strcmp(st, "success"))
		return RP_GREEN;
	if (!strcmp(st, "failed"))
		return RP_RED;
	if (!strcmp(st, "up_for_retry"))
		return RP_AMBER;
	if (!strcmp(st, "running") || !strcmp(st, "queued"))
		return RP_BLUE;
	return RP_GREY; /* skipped, upstream_failed */
}

void rp_num(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "n/a");
	else if (fabs(v) < 1e15 && v == floor(v))
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.6g", v);
}

void rp_series_add(struct rp_series *s, int32_t day, double v, int bad)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->pts = ade_xrealloc(s->pts, sizeof(*s->pts) * (size_t)s->cap);
	}
	s->pts[s->n++] = (struct rp_point){day, v, bad};
}

void rp_series_free(struct rp_series *s)
{
	free(s->name);
	free(s->pts);
	memset(s, 0, sizeof(*s));
}

void rp_nice_range(double lo, double hi, int want, double *nlo, double *nhi, double *step)
{
	if (hi < lo) {
		double t = lo;
		lo = hi;
		hi = t;
	}
	/*
	 * Values an ulp or so apart are equal for a chart: their difference
	 * would give a step below the spacing of doubles near them, and
	 * lo + step would then never pass hi.
	 */
	if (hi - lo < fabs(hi) * 1e-12)
		hi = lo;
	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0; /* callers drop non-finite values; never loop on them anyway */
		hi = 1;
	} else if (hi == lo && lo == 0) {
		hi = 1; /* all zeros: counts and rates, which are never negative */
	} else if (hi == lo) {
		double d = fabs(lo) * 0.1;
		lo -= d;
		hi += d;
	}
	double raw = (hi - lo) / (want > 0 ? want : 5);
	double mag = pow(10, floor(log10(raw)));
	double f = raw / mag;
	double nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
	*step = nf * mag;
	*nlo = floor(lo / *step + 1e-9) * *step;
	*nhi = ceil(hi / *step - 1e-9) * *step;
	if (*nhi <= *nlo)
		*nhi = *nlo + *step;
}

int rp_tick_count(double lo, double hi, double step)
{
	if (!(step > 0) || !isfinite(lo) || !isfinite(hi) || hi < lo)
		return 0;
	double n = floor((hi - lo) / step + 1e-6);
	return n > RP_MAX_TICKS ? RP_MAX_TICKS : (int)n;
}

/* A tick label: thousands as k and millions as M when the step allows it. */
static void tick_label(char *buf, size_t n, double v, double step)
{
	const char *suf = "";
	double a = fabs(v) > fabs(step) ? fabs(v) : fabs(step);

	if (a >= 1e6 && step >= 1e5) {
		v /= 1e6;
		step /= 1e6;
		suf = "M";
	} else if (a >= 1e4 && step >= 1e3) {
		v /= 1e3;
		step /= 1e3;
		suf = "k";
	}
	int dec = 0;
	if (step < 1) {
		dec = (int)ceil(-log10(step) - 1e-9);
		/* 0.25 needs one digit more than its order of magnitude says. */
		if (fabs(step * pow(10, dec) - round(step * pow(10, dec))) > 1e-6)
			dec++;
	}
	if (fabs(v) < step * 1e-6)
		v = 0;
	snprintf(buf, n, "%.*f%s", dec, v, suf);
}

void rp_no_data(struct ade_strbuf *o, const char *title, const char *why)
{
	ade_strbuf_addf(o, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\">", RP_W, RP_H);
	ade_strbuf_adds(o, "<text class=\"ct\" x=\"8\" y=\"20\">");
	rp_esc(o, title);
	ade_strbuf_addf(o, "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f6f6f6\" "
			   "stroke=\"#ddd\"/><text class=\"nodata\" x=\"%d\" y=\"%d\" "
			   "text-anchor=\"middle\">",
			RP_ML, RP_MT, RP_W - RP_ML - RP_MR, RP_H - RP_MT - RP_MB,
			(RP_ML + RP_W - RP_MR) / 2, (RP_MT + RP_H - RP_MB) / 2);
	rp_esc(o, why ? why : "no data");
	ade_strbuf_adds(o, "</text></svg>\n");
}

/* The step between date ticks, in days, for at most about 6 labels. */
static int date_step(int span)
{
	static const int steps[] = {1, 2, 3, 7, 14, 28, 56, 91, 182, 364, 728, 1456, 3640};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (span / steps[i] <= 5)
			return steps[i];
	return span / 5 + 1;
}

/* The sum of the series before i on day d (stacked bars). */
static double stack_below(const struct rp_chart *c, int i, int32_t d)
{
	double sum = 0, scale = c->scale ? c->scale : 1;

	for (int j = 0; j < i; j++)
		for (int k = 0; k < c->s[j].n; k++)
			if (c->s[j].pts[k].day == d && isfinite(c->s[j].pts[k].v))
				sum += c->s[j].pts[k].v * scale;
	return sum;
}

static int fail_between(const struct rp_chart *c, int32_t a, int32_t b)
{
	for (int i = 0; i < c->nfail; i++)
		if (c->fail_days[i] > a && c->fail_days[i] < b)
			return 1;
	return 0;
}

void rp_line_chart(struct ade_strbuf *o, const struct rp_chart *c)
{
	double lo = INFINITY, hi = -INFINITY, scale = c->scale ? c->scale : 1;
	int npts = 0;
	char a[64];

	for (int i = 0; i < c->ns; i++)
		for (int k = 0; k < c->s[i].n; k++) {
			double v = c->s[i].pts[k].v * scale;
			if (!isfinite(v))
				continue;
			if (c->bars)
				v = stack_below(c, i, c->s[i].pts[k].day) + v;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
			npts++;
		}
	if (!npts && !c->nfail) {
		rp_no_data(o, c->title, "no data for these dates");
		return;
	}
	if (!npts) {
		lo = 0;
		hi = 1;
	}
	if (c->from_zero && lo > 0)
		lo = 0;
	if (c->bars && lo > 0)
		lo = 0;
	double ylo, yhi, ystep;
	rp_nice_range(lo, hi, 5, &ylo, &yhi, &ystep);
	if (c->integer && ystep < 1) {
		ystep = 1;
		ylo = floor(ylo);
		yhi = ceil(yhi) > ylo ? ceil(yhi) : ylo + 1;
	}

	const double x0 = RP_ML, x1 = RP_W - RP_MR, y0 = RP_MT, y1 = RP_H - RP_MB;
	double span = c->xmax - c->xmin;
	double pad = span == 0 ? 1 : (span * 0.04 > 0.5 ? span * 0.04 : 0.5);
	double dlo = c->xmin - pad, dhi = c->xmax + pad;
	double ppd = (x1 - x0) / (dhi - dlo);
#define XP(d) (x0 + ((d) - dlo) * ppd)
#define YP(v) (y1 - ((v) - ylo) / (yhi - ylo) * (y1 - y0))

	ade_strbuf_addf(o, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
			RP_W, RP_H);
	rp_esc(o, c->title);
	ade_strbuf_adds(o, "\"><text class=\"ct\" x=\"8\" y=\"20\">");
	rp_esc(o, c->title);
	ade_strbuf_adds(o, "</text>\n");
	/* Horizontal grid and y labels. */
	/* Counted, not accumulated: v += step can stall or drift on large values. */
	for (int i = 0, nt = rp_tick_count(ylo, yhi, ystep); i <= nt; i++) {
		double v = ylo + i * ystep;
		double y = YP(v);
		tick_label(a, sizeof(a), v, ystep);
		ade_strbuf_addf(o, "<line class=\"gl\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
				   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
				x0, y, x1, y, x0 - 6, y + 4, a);
	}
	ade_strbuf_addf(o, "<text class=\"axis\" transform=\"translate(14 %.1f) rotate(-90)\" "
			   "text-anchor=\"middle\">",
			(y0 + y1) / 2);
	rp_esc(o, c->unit);
	ade_strbuf_adds(o, "</text>\n");
	/* Failed dates under everything else, so the lines stay visible. */
	double bw = ppd * 0.8 > 6 ? ppd * 0.8 : 6;
	for (int i = 0; i < c->nfail; i++) {
		int32_t d = c->fail_days[i];
		if (d < c->xmin || d > c->xmax)
			continue;
		char ds[11];
		ade_date_format(d, ds);
		ade_strbuf_addf(o, "<g class=\"fail\"><title>%s: run failed</title>"
				   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" RP_RED
				   "\" fill-opacity=\"0.13\"/>"
				   "<path d=\"M%.1f %.1fl-6 9h12z\" fill=\"" RP_RED "\"/>",
				ds, XP(d) - bw / 2, y0, bw, y1 - y0, XP(d), y1 + 1);
		if (c->nfail <= 6)
			ade_strbuf_addf(o, "<text class=\"failtxt\" x=\"%.1f\" y=\"%.1f\" "
					   "text-anchor=\"middle\">failed</text>",
					XP(d), y0 + 11);
		ade_strbuf_adds(o, "</g>\n");
	}
	/* Axes and date ticks. */
	ade_strbuf_addf(o, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			   "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
			x0, y1, x1, y1, x0, y0, x0, y1);
	int step = date_step((int)span);
	for (int32_t d = c->xmin; d <= c->xmax; d += step) {
		char ds[11];
		ade_date_format(d, ds);
		ade_strbuf_addf(o, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
				   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
				XP(d), y1, XP(d), y1 + 4, XP(d), y1 + 22, ds);
	}
	ade_strbuf_addf(o, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
			   "execution date (UTC)</text>\n",
			(x0 + x1) / 2, RP_H - 6);
	/* Stacked bars: one column per date, series in order from the axis up. */
	for (int i = 0; c->bars && i < c->ns; i++) {
		const struct rp_series *s = &c->s[i];
		double w = ppd * 0.6 < 36 ? ppd * 0.6 : 36;
		for (int k = 0; k < s->n; k++) {
			const struct rp_point *p = &s->pts[k];
			char ds[11];
			if (!isfinite(p->v) || p->v == 0)
				continue;
			double base = stack_below(c, i, p->day);
			double ya = YP(base), yb = YP(base + p->v * scale);
			ade_date_format(p->day, ds);
			rp_num(a, sizeof(a), p->v * scale);
			ade_strbuf_addf(o, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					   "height=\"%.1f\" fill=\"%s\"><title>",
					XP(p->day) - w / 2, yb, w, ya - yb, rp_series_color(i));
			rp_esc(o, s->name);
			ade_strbuf_addf(o, " %s: %s</title></rect>\n", ds, a);
		}
	}
	/* The series: a line through the points, then the points with their values. */
	for (int i = 0; !c->bars && i < c->ns; i++) {
		const struct rp_series *s = &c->s[i];
		const char *col = rp_series_color(i);
		int open = 0, prev = -1;
		for (int k = 0; k < s->n; k++) {
			if (!isfinite(s->pts[k].v))
				continue;
			/* A failed date between two points breaks the line: no value was loaded. */
			if (open && prev >= 0 && fail_between(c, s->pts[prev].day, s->pts[k].day)) {
				ade_strbuf_adds(o, "\"/>\n");
				open = 0;
			}
			if (!open) {
				ade_strbuf_addf(o, "<polyline class=\"line\" fill=\"none\" stroke=\"%s\" "
						   "stroke-width=\"2\" points=\"",
						col);
				open = 1;
			}
			ade_strbuf_addf(o, "%.1f,%.1f ", XP(s->pts[k].day), YP(s->pts[k].v * scale));
			prev = k;
		}
		if (open)
			ade_strbuf_adds(o, "\"/>\n");
		for (int k = 0; k < s->n; k++) {
			const struct rp_point *p = &s->pts[k];
			char ds[11];
			if (!isfinite(p->v))
				continue;
			ade_date_format(p->day, ds);
			rp_num(a, sizeof(a), p->v * scale);
			ade_strbuf_addf(o, "<circle class=\"pt%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\">"
					   "<title>",
					p->bad ? " fail" : "", XP(p->day), YP(p->v * scale),
					p->bad ? "4.5" : "3", p->bad ? RP_RED : col);
			rp_esc(o, s->name);
			ade_strbuf_addf(o, " %s: %s", ds, a);
			if (p->bad)
				ade_strbuf_adds(o, " (failed)");
			ade_strbuf_adds(o, "</title></circle>\n");
		}
	}
	ade_strbuf_adds(o, "</svg>\n");
	if (c->ns > 1 || c->nfail) {
		ade_strbuf_adds(o, "<div class=\"legend\">");
		for (int i = 0; i < c->ns; i++) {
			ade_strbuf_addf(o, "<span><i style=\"background:%s\"></i>", rp_series_color(i));
			rp_esc(o, c->s[i].name);
			ade_strbuf_adds(o, "</span>");
		}
		if (c->nfail)
			ade_strbuf_adds(o, "<span><i style=\"background:" RP_RED "\"></i>run failed</span>");
		ade_strbuf_adds(o, "</div>\n");
	}
#undef XP
#undef YP
}

int64_t rp_parse_utc_ms(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return -1;
	int64_t ms = (ade_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
		      mi * 60 + sec) * 1000;
	if (s[n] == '.') {
		int scale = 100;
		for (const char *p = s + n + 1; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	return ms;
}
