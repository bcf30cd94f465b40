/*
 * ade-gen: a deterministic generator of test data (employees, events),
 * with faults on demand.  The same arguments give the same bytes.  The
 * data model and the salary formula are documented in docs/ingest.md
 * ("ade-gen"), so the train stage can check that it recovers them.
 *
 * Rows are formatted by hand into one buffer and written in 1 MiB
 * chunks: printf would cap it well below a million rows a second.
 */
#include "core/date.h"
#include "core/error.h"
#include "core/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTBUF (1 << 20)

/* ---- random numbers: splitmix64 seeding xoshiro256** ---- */
static uint64_t rs[4];

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rnd(void)
{
	uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
	rs[2] ^= rs[0];
	rs[3] ^= rs[1];
	rs[1] ^= rs[2];
	rs[0] ^= rs[3];
	rs[2] ^= t;
	rs[3] = rotl(rs[3], 45);
	return r;
}

static inline double unif(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

static inline int64_t range(int64_t lo, int64_t hi) /* inclusive */
{
	return lo + (int64_t)(unif() * (double)(hi - lo + 1));
}

static double normal(void)
{
	/* Box-Muller; one of the pair is enough here. */
	double u = unif(), v = unif();
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- output ---- */
struct out {
	int fd;
	struct archive *ar;
	char *buf;
	size_t len;
	int err;
};

static void out_flush(struct out *o)
{
	if (!o->len || o->err)
		return;
	if (o->ar) {
		if (archive_write_data(o->ar, o->buf, o->len) < 0) {
			fprintf(stderr, "ade-gen: %s\n", archive_error_string(o->ar));
			o->err = 1;
		}
	} else {
		const char *p = o->buf;
		size_t n = o->len;
		while (n) {
			ssize_t k = write(o->fd, p, n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				fprintf(stderr, "ade-gen: write: %s\n", strerror(errno));
				o->err = 1;
				break;
			}
			p += k;
			n -= (size_t)k;
		}
	}
	o->len = 0;
}

/* ---- a row under construction ---- */
static char row[1 << 16], prev[1 << 16];
static size_t rlen, plen;

static inline void put(const char *s, size_t n)
{
	memcpy(row + rlen, s, n);
	rlen += n;
}
static inline void puts_(const char *s) { put(s, strlen(s)); }
static inline void putc_(char c) { row[rlen++] = c; }

static void put_i64(int64_t v)
{
	char t[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)-v : (uint64_t)v;
	if (v < 0)
		putc_('-');
	do {
		t[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		putc_(t[--n]);
}

/* v/10^dec with exactly dec decimals, v an integer count of the unit. */
static void put_fixed(int64_t v, int dec)
{
	int64_t p = 1;
	for (int i = 0; i < dec; i++)
		p *= 10;
	if (v < 0) {
		putc_('-');
		v = -v;
	}
	put_i64(v / p);
	if (dec) {
		putc_('.');
		int64_t f = v % p;
		for (int64_t q = p / 10; q; q /= 10) {
			putc_((char)('0' + f / q));
			f %= q;
		}
	}
}

static void put_date(int64_t days)
{
	char d[11];
	ade_date_format((int32_t)days, d);
	put(d, 10);
}

static int g_csv = 1;
static char g_delim = ',';

/* A CSV field with RFC 4180 quoting when needed, or a JSON string. */
static void put_text(const char *s)
{
	if (!g_csv) {
		putc_('"');
		for (; *s; s++) {
			if (*s == '"' || *s == '\\')
				putc_('\\');
			putc_(*s);
		}
		putc_('"');
		return;
	}
	if (!strpbrk(s, "\",\n\r;|\t")) {
		puts_(s);
		return;
	}
	putc_('"');
	for (; *s; s++) {
		if (*s == '"')
			putc_('"');
		putc_(*s);
	}
	putc_('"');
}

/* ---- columns and faults ---- */
#define MAXC 16
struct spec {
	const char *name;
	const char *out_name; /* after --rename */
	double missing;
	int dropped;
};

static struct spec cols[MAXC];
static int ncols;
static const char *added[8];
static int nadded;
static double f_dup, f_outlier, f_poison, f_drift;
static int64_t g_rows = 1000, g_date;
static uint64_t g_seed = 1;

static int col_index(const char *name)
{
	for (int i = 0; i < ncols; i++)
		if (!strcmp(cols[i].name, name))
			return i;
	return -1;
}

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "ade-gen: %s\n", msg);
	fprintf(stderr,
		"usage: ade-gen employees|events [--rows N] [--seed S] [--date YYYY-MM-DD]\n"
		"         [--format csv|ndjson] [--delimiter C] [--compress gz|zst|xz|bz2]\n"
		"         [--missing COL=RATE,...] [--duplicates RATE] [--outliers RATE]\n"
		"         [--poison RATE] [--rename OLD=NEW,...] [--add-column NAME,...]\n"
		"         [--drop-column NAME,...] [--drift AMOUNT] [-o FILE]\n");
	return ADE_EXIT_USAGE;
}

static int parse_rate(const char *s, double *out)
{
	char *end;
	double d = strtod(s, &end);
	if (*end == '%') {
		d /= 100;
		end++;
	}
	if (end == s || *end || !(d >= 0 && d <= 1))
		return -1;
	*out = d;
	return 0;
}

/* ---- the datasets ---- */
static const char *first_names[] = {"Mary", "James", "Ana", "Wei", "Fatima", "John", "Olga",
				    "Luis", "Aisha", "Kenji", "Sofia", "Ahmed", "Emma", "Noah",
				    "Priya", "Lars"};
static const char *last_names[] = {"O'Brien", "Smith", "García", "Müller", "Nguyen",
				   "Kowalski", "Okafor", "Rossi", "Tanaka", "Johansson",
				   "Dubois", "Silva", "Cohen", "Patel", "Ivanova", "Brown"};
static const char *nicknames[] = {"Mo", "Jim", "Ace", "Bo"};
static const char *departments[] = {"Engineering", "Sales", "Marketing", "Finance",
				    "HR", "Operations", "Legal", "Support"};
static const double dept_effect[] = {10000, 2000, 0, 6000, -1000, 0, 8000, -3000};
static const char *cities[] = {"New York", "London", "Berlin", "Tokyo", "Paris",
			       "São Paulo", "Toronto", "Sydney", "Mumbai", "Lagos"};
static const char *event_types[] = {"view", "click", "add_to_cart", "purchase", "signup"};
static const char *devices[] = {"ios", "android", "web", "desktop"};

enum { E_ID, E_NAME, E_DEPT, E_CITY, E_HIRE, E_AGE, E_YEARS, E_LEVEL, E_PERF, E_REMOTE,
       E_SALARY };
enum { V_ID, V_TS, V_TYPE, V_USER, V_AMOUNT, V_DEVICE };

static int dataset_employees;

static void field_sep(int *first, int c)
{
	if (!*first)
		putc_(g_csv ? g_delim : ',');
	*first = 0;
	if (!g_csv) {
		putc_('"');
		puts_(cols[c].out_name);
		puts_("\":");
	}
}

/*
 * One row.  poison_kind: 0 none, 1 type error, 2 short row, 3 invalid
 * UTF-8.  Values are drawn in the same order whatever the faults, so a
 * fault changes only its own row.
 */
static void make_row(int64_t i, int poison_kind, int outlier)
{
	char name[128];
	int first = 1;
	double drift = f_drift;
	rlen = 0;
	if (!g_csv)
		putc_('{');
	if (dataset_employees) {
		int64_t age = range(22, 65);
		int64_t years = range(0, age - 22 < 40 ? age - 22 : 40);
		int64_t level = 1 + years / 8 + (unif() < 0.3);
		if (level > 5)
			level = 5;
		int64_t perf10 = range(10, 50);
		int remote = unif() < 0.3;
		int dept = (int)range(0, 7);
		if (drift > 0 && unif() < drift)
			dept = 0; /* drift: more engineers */
		int city = (int)range(0, 9);
		int64_t hire = g_date - range(0, 365 * 20);
		const char *fn = first_names[range(0, 15)], *ln = last_names[range(0, 15)];
		double noise = normal() * 4000;
		double salary = 25000 + 1500.0 * (double)years + 8000.0 * (double)level +
				3000.0 * (double)perf10 / 10 + 200.0 * (double)age -
				2500.0 * remote + dept_effect[dept] + noise;
		salary *= 1 + drift;
		age += (int64_t)(drift * 10);
		if (outlier) {
			salary *= 40;
			age += 100;
		}
		if (unif() < 0.25)
			snprintf(name, sizeof(name), "%s, %s \"%s\"", ln, fn, nicknames[range(0, 3)]);
		else if (unif() < 0.5)
			snprintf(name, sizeof(name), "%s, %s", ln, fn);
		else
			snprintf(name, sizeof(name), "%s %s", fn, ln);
		if (poison_kind == 3)
			snprintf(name, sizeof(name), "%s \xff\xfe%s", fn, ln);
		int64_t cents = (int64_t)llround(salary * 100);
		for (int c = 0; c < ncols; c++) {
			if (cols[c].dropped)
				continue;
			if (poison_kind == 2 && c >= ncols - 3)
				break;
			int miss = cols[c].missing > 0 && unif() < cols[c].missing;
			if (miss && !g_csv)
				continue; /* a missing key */
			field_sep(&first, c);
			if (miss)
				continue;
			switch (c) {
			case E_ID: put_i64(100000 + i); break;
			case E_NAME: put_text(name); break;
			case E_DEPT: put_text(departments[dept]); break;
			case E_CITY: put_text(cities[city]); break;
			case E_HIRE:
				if (!g_csv)
					putc_('"');
				put_date(hire);
				if (!g_csv)
					putc_('"');
				break;
			case E_AGE:
				if (poison_kind == 1)
					puts_(g_csv ? "unknown" : "\"unknown\"");
				else
					put_i64(age);
				break;
			case E_YEARS: put_i64(years); break;
			case E_LEVEL: put_i64(level); break;
			case E_PERF: put_fixed(perf10, 1); break;
			case E_REMOTE: puts_(remote ? "true" : "false"); break;
			case E_SALARY: put_fixed(cents, 2); break;
			}
		}
	} else {
		int type = (int)range(0, 99);
		type = type < 50 ? 0 : type < 75 ? 1 : type < 87 ? 2 : type < 95 ? 3 : 4;
		int64_t user = 1 + (int64_t)(unif() * unif() * 100000);
		int64_t amount = type == 3 ? range(500, 50000) : 0;
		amount = (int64_t)((double)amount * (1 + drift));
		if (outlier)
			amount = amount * 100 + 1000000;
		int dev = (int)range(0, 3);
		int64_t us = (g_date * 86400 + (int64_t)((double)i * 86400.0 / (double)g_rows)) *
				     1000000 + range(0, 999999);
		for (int c = 0; c < ncols; c++) {
			if (cols[c].dropped)
				continue;
			if (poison_kind == 2 && c >= ncols - 2)
				break;
			int miss = cols[c].missing > 0 && unif() < cols[c].missing;
			if (miss && !g_csv)
				continue;
			field_sep(&first, c);
			if (miss)
				continue;
			switch (c) {
			case V_ID: put_i64(g_date * 100000000 + i); break;
			case V_TS: {
				int64_t s = us / 1000000, days = s / 86400, sod = s % 86400;
				if (!g_csv)
					putc_('"');
				put_date(days);
				putc_('T');
				char t[32];
				snprintf(t, sizeof(t), "%02d:%02d:%02d.%06dZ", (int)(sod / 3600),
					 (int)(sod / 60 % 60), (int)(sod % 60), (int)(us % 1000000));
				puts_(t);
				if (!g_csv)
					putc_('"');
				break;
			}
			case V_TYPE: put_text(event_types[type]); break;
			case V_USER:
				if (poison_kind == 1)
					puts_(g_csv ? "unknown" : "\"unknown\"");
				else
					put_i64(user);
				break;
			case V_AMOUNT: put_fixed(amount, 2); break;
			case V_DEVICE:
				if (poison_kind == 3)
					put_text("mob\xff\xfeile");
				else
					put_text(devices[dev]);
				break;
			}
		}
	}
	for (int a = 0; a < nadded; a++) {
		if (!first)
			putc_(g_csv ? g_delim : ',');
		first = 0;
		if (!g_csv) {
			putc_('"');
			puts_(added[a]);
			puts_("\":");
		}
		put_i64(range(0, 999));
	}
	if (!g_csv)
		putc_(poison_kind == 2 ? ',' : '}'); /* a cut-off object is bad JSON */
	putc_('\n');
}

int main(int argc, char **argv)
{
	const char *out_path = "-", *compress = NULL, *format = "csv";
	const char *missing = NULL, *rename_ = NULL, *drop = NULL, *add = NULL;
	struct out o = {.fd = 1};

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return usage(argc < 2 ? "a dataset is required" : NULL);
	if (!strcmp(argv[1], "employees"))
		dataset_employees = 1;
	else if (strcmp(argv[1], "events"))
		return usage("the dataset must be employees or events");
	int32_t d0;
	ade_date_parse_n("2026-01-01", 10, &d0);
	g_date = d0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (!v)
				return usage("-o needs a file");
			out_path = v;
		} else if (!strcmp(a, "--rows")) {
			char *end;
			if (!v || (g_rows = strtoll(v, &end, 10)) < 0 || *end || end == v)
				return usage("--rows needs a count >= 0");
		} else if (!strcmp(a, "--seed")) {
			char *end;
			if (!v || (g_seed = strtoull(v, &end, 10), *end || end == v))
				return usage("--seed needs an integer");
		} else if (!strcmp(a, "--date")) {
			int32_t d;
			if (!v || ade_date_parse_n(v, strlen(v), &d))
				return usage("--date needs YYYY-MM-DD");
			g_date = d;
		} else if (!strcmp(a, "--format")) {
			if (!v || (strcmp(v, "csv") && strcmp(v, "ndjson")))
				return usage("--format must be csv or ndjson");
			format = v;
		} else if (!strcmp(a, "--delimiter")) {
			if (!v || strlen(v) != 1 || !strchr(",;|\t", v[0]))
				return usage("--delimiter must be one of , ; | or a tab");
			g_delim = v[0];
		} else if (!strcmp(a, "--compress")) {
			if (!v || (strcmp(v, "gz") && strcmp(v, "zst") && strcmp(v, "xz") &&
				   strcmp(v, "bz2")))
				return usage("--compress must be gz, zst, xz or bz2");
			compress = v;
		} else if (!strcmp(a, "--missing")) {
			if (!v)
				return usage("--missing needs COL=RATE,...");
			missing = v;
		} else if (!strcmp(a, "--duplicates") || !strcmp(a, "--outliers") ||
			   !strcmp(a, "--poison") || !strcmp(a, "--drift")) {
			double *dst = a[2] == 'd' && a[3] == 'u' ? &f_dup
				      : a[2] == 'o'              ? &f_outlier
				      : a[2] == 'p'              ? &f_poison
								 : &f_drift;
			if (!v || parse_rate(v, dst)) {
				fprintf(stderr, "ade-gen: %s needs a rate 0..1 or a percentage\n", a);
				return usage(NULL);
			}
		} else if (!strcmp(a, "--rename")) {
			if (!v)
				return usage("--rename needs OLD=NEW,...");
			rename_ = v;
		} else if (!strcmp(a, "--drop-column")) {
			if (!v)
				return usage("--drop-column needs a name");
			drop = v;
		} else if (!strcmp(a, "--add-column")) {
			if (!v)
				return usage("--add-column needs a name");
			add = v;
		} else {
			fprintf(stderr, "ade-gen: unknown option '%s'\n", a);
			return usage(NULL);
		}
		i++;
	}
	g_csv = !strcmp(format, "csv");
	static const char *emp[] = {"employee_id", "name", "department", "city", "hire_date",
				    "age", "years_experience", "job_level", "performance_score",
				    "remote", "salary"};
	static const char *evt[] = {"event_id", "event_timestamp", "event_type",
				    "user_id", "amount", "device"};
	ncols = dataset_employees ? 11 : 6;
	for (int c = 0; c < ncols; c++)
		cols[c].name = cols[c].out_name = dataset_employees ? emp[c] : evt[c];

	/* COL=VALUE lists, cut in place in private copies. */
	char *lists[3] = {missing ? ade_xstrdup(missing) : NULL, rename_ ? ade_xstrdup(rename_) : NULL,
			  NULL};
	for (int l = 0; l < 2; l++) {
		for (char *tok = lists[l] ? strtok(lists[l], ",") : NULL; tok; tok = strtok(NULL, ",")) {
			char *eq = strchr(tok, '=');
			if (!eq) {
				fprintf(stderr, "ade-gen: '%s' is not COL=VALUE\n", tok);
				return usage(NULL);
			}
			*eq = '\0';
			int c = col_index(tok);
			if (c < 0) {
				fprintf(stderr, "ade-gen: no column '%s' in %s\n", tok, argv[1]);
				return usage(NULL);
			}
			if (l == 0 && parse_rate(eq + 1, &cols[c].missing)) {
				fprintf(stderr, "ade-gen: --missing %s: bad rate '%s'\n", tok, eq + 1);
				return usage(NULL);
			}
			if (l == 1)
				cols[c].out_name = eq + 1;
		}
	}
	char *dl = drop ? ade_xstrdup(drop) : NULL;
	for (char *tok = dl ? strtok(dl, ",") : NULL; tok; tok = strtok(NULL, ",")) {
		int c = col_index(tok);
		if (c < 0) {
			fprintf(stderr, "ade-gen: no column '%s' in %s\n", tok, argv[1]);
			return usage(NULL);
		}
		cols[c].dropped = 1;
	}
	char *al = add ? ade_xstrdup(add) : NULL;
	for (char *tok = al ? strtok(al, ",") : NULL; tok && nadded < 8; tok = strtok(NULL, ","))
		added[nadded++] = tok;

	uint64_t sm = g_seed ^ ((uint64_t)g_date * 0x9E3779B97F4A7C15ull);
	for (int k = 0; k < 4; k++)
		rs[k] = splitmix(&sm);

	if (strcmp(out_path, "-")) {
		if (compress) {
			o.ar = archive_write_new();
			archive_write_set_format_raw(o.ar);
			int r = !strcmp(compress, "gz")    ? archive_write_add_filter_gzip(o.ar)
				: !strcmp(compress, "zst") ? archive_write_add_filter_zstd(o.ar)
				: !strcmp(compress, "xz")  ? archive_write_add_filter_xz(o.ar)
							   : archive_write_add_filter_bzip2(o.ar);
			if (r != ARCHIVE_OK || archive_write_open_filename(o.ar, out_path) != ARCHIVE_OK) {
				fprintf(stderr, "ade-gen: %s: %s\n", out_path, archive_error_string(o.ar));
				return ADE_EXIT_FAILED;
			}
			struct archive_entry *e = archive_entry_new();
			archive_entry_set_pathname(e, "data");
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_write_header(o.ar, e);
			archive_entry_free(e);
		} else {
			o.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (o.fd < 0) {
				fprintf(stderr, "ade-gen: cannot create '%s': %s\n", out_path,
					strerror(errno));
				return ADE_EXIT_FAILED;
			}
		}
	} else if (compress) {
		return usage("--compress needs -o FILE");
	}
	o.buf = ade_xmalloc(OUTBUF + sizeof(row));

	if (g_csv) {
		int first = 1;
		rlen = 0;
		for (int c = 0; c < ncols; c++) {
			if (cols[c].dropped)
				continue;
			if (!first)
				putc_(g_delim);
			first = 0;
			puts_(cols[c].out_name);
		}
		for (int a = 0; a < nadded; a++) {
			putc_(g_delim);
			puts_(added[a]);
		}
		putc_('\n');
		memcpy(o.buf, row, rlen);
		o.len = rlen;
	}
	for (int64_t i = 0; i < g_rows && !o.err; i++) {
		if (i > 0 && f_dup > 0 && unif() < f_dup) {
			memcpy(o.buf + o.len, prev, plen);
			o.len += plen;
		} else {
			int pk = f_poison > 0 && unif() < f_poison ? (int)range(1, 3) : 0;
			int outlier = f_outlier > 0 && unif() < f_outlier;
			make_row(i, pk, outlier);
			memcpy(o.buf + o.len, row, rlen);
			o.len += rlen;
			memcpy(prev, row, rlen);
			plen = rlen;
		}
		if (o.len >= OUTBUF)
			out_flush(&o);
	}
	out_flush(&o);
	int rc = o.err ? ADE_EXIT_FAILED : 0;
	if (o.ar) {
		if (archive_write_close(o.ar) != ARCHIVE_OK) {
			fprintf(stderr, "ade-gen: %s\n", archive_error_string(o.ar));
			rc = ADE_EXIT_FAILED;
		}
		archive_write_free(o.ar);
	} else if (o.fd != 1 && close(o.fd) < 0) {
		fprintf(stderr, "ade-gen: %s: %s\n", out_path, strerror(errno));
		rc = ADE_EXIT_FAILED;
	}
	free(o.buf);
	free(lists[0]);
	free(lists[1]);
	free(dl);
	free(al);
	return rc;
}
