/* Cron expressions; see cron.h. */
#include "cron.h"
#include "core/date.h"
#include "core/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *months[] = {"jan", "feb", "mar", "apr", "may", "jun",
			       "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field {
	const char *name;
	int min, max;
	const char **names; /* value min + i */
	int n_names;
};

static const struct field fields[5] = {
	{"minute", 0, 59, NULL, 0},
	{"hour", 0, 23, NULL, 0},
	{"day of month", 1, 31, NULL, 0},
	{"month", 1, 12, months, 12},
	{"day of week", 0, 7, day_names, 7},
};

/* A number or a name; advances *p. */
static int value(const struct field *f, const char **p, int *out)
{
	const char *s = *p;

	if (isdigit((unsigned char)*s)) {
		long v = 0;
		while (isdigit((unsigned char)*s) && v < 1000)
			v = v * 10 + (*s++ - '0');
		*out = (int)v;
		*p = s;
		return 0;
	}
	for (int i = 0; i < f->n_names; i++) {
		if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
			*out = i + (f == &fields[3] ? 1 : 0);
			*p = s + 3;
			return 0;
		}
	}
	return -1;
}

static int parse_field(const struct field *f, const char *text, uint64_t *bits, int *any,
		       struct ade_error *err)
{
	const char *p = text;

	*bits = 0;
	*any = !strcmp(text, "*") || !strcmp(text, "?");
	for (;;) {
		int lo, hi, step = 1;
		const char *item = p;
		if (*p == '*') {
			lo = f->min;
			hi = f->max == 7 ? 6 : f->max;
			p++;
		} else {
			if (value(f, &p, &lo))
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (value(f, &p, &hi))
					goto bad;
			}
		}
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char)*p))
				goto bad;
			step = atoi(p);
			while (isdigit((unsigned char)*p))
				p++;
			if (step < 1 || step > f->max + 1)
				return ade_error_set(err, ADE_EINVAL, "cron %s: step in '%s' is out of range",
						     f->name, text);
			/* "5/15" means 5-max/15, as in Vixie cron. */
			if (item[0] != '*' && hi == lo && item[strcspn(item, "-/")] == '/')
				hi = f->max == 7 ? 6 : f->max;
		}
		if (lo < f->min || hi > f->max || lo > hi)
			return ade_error_set(err, ADE_EINVAL,
					     "cron %s: '%s' is outside %d-%d or reversed", f->name, text,
					     f->min, f->max);
		for (int v = lo; v <= hi; v += step)
			*bits |= (uint64_t)1 << (f->max == 7 && v == 7 ? 0 : v);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			return 0;
		goto bad;
	}
bad:
	return ade_error_set(err, ADE_EINVAL, "cron %s: cannot read '%s'", f->name, text);
}

int ade_cron_parse(const char *expr, struct ade_cron *c, struct ade_error *err)
{
	static const struct {
		const char *name, *expr;
	} macros[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},
		      {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
		      {"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
		      {"@annually", "0 0 1 1 *"}};
	char buf[256], *tok[6], *save = NULL;
	int n = 0;
	uint64_t bits[5];
	int any[5];

	memset(c, 0, sizeof(*c));
	if (!expr)
		return ade_error_set(err, ADE_EINVAL, "no cron expression");
	if (expr[0] == '@') {
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
			if (!strcmp(expr, macros[i].name))
				return ade_cron_parse(macros[i].expr, c, err);
		return ade_error_set(err, ADE_EINVAL,
				     "unknown cron macro '%s' (@hourly, @daily, @weekly, @monthly, @yearly)",
				     expr);
	}
	if (strlen(expr) >= sizeof(buf))
		return ade_error_set(err, ADE_EINVAL, "cron expression too long");
	strcpy(buf, expr);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 5)
			return ade_error_set(err, ADE_EINVAL,
					     "cron expression '%s' has more than 5 fields", expr);
		tok[n++] = t;
	}
	if (n != 5)
		return ade_error_set(err, ADE_EINVAL,
				     "cron expression '%s' needs 5 fields (minute hour day month weekday)",
				     expr);
	for (int i = 0; i < 5; i++) {
		int rc = parse_field(&fields[i], tok[i], &bits[i], &any[i], err);
		if (rc)
			return rc;
	}
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint16_t)bits[3];
	c->dow = (uint8_t)bits[4];
	c->dom_any = any[2];
	c->dow_any = any[4];
	return 0;
}

static int day_matches(const struct ade_cron *c, int64_t days)
{
	int64_t y;
	unsigned m, d;
	int wd = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */

	ade_civil_from_days(days, &y, &m, &d);
	if (!(c->month >> m & 1))
		return 0;
	int dom_ok = c->dom >> d & 1, dow_ok = c->dow >> wd & 1;
	if (c->dom_any && c->dow_any)
		return 1;
	if (c->dom_any)
		return dow_ok;
	if (c->dow_any)
		return dom_ok;
	return dom_ok || dow_ok;
}

int64_t ade_cron_next(const struct ade_cron *c, int64_t t)
{
	/* Start at the next whole minute after t. */
	int64_t m = (t >= 0 ? t / 60 : (t - 59) / 60) + 1;
	int64_t day = m >= 0 ? m / 1440 : (m - 1439) / 1440;
	int minute_of_day = (int)(m - day * 1440);

	for (int64_t limit = day + 366 * 5; day < limit; day++, minute_of_day = 0) {
		if (!day_matches(c, day))
			continue;
		for (int h = minute_of_day / 60; h < 24; h++) {
			if (!(c->hour >> h & 1))
				continue;
			int start = h == minute_of_day / 60 ? minute_of_day % 60 : 0;
			for (int mi = start; mi < 60; mi++)
				if (c->minute >> mi & 1)
					return (day * 1440 + h * 60 + mi) * 60;
		}
	}
	return -1;
}
