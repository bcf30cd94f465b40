/*
 * ade stream: replay a day's source as micro-batches, or ingest files as
 * they land in a directory; exactly once across kills (docs/stream.md).
 */
#include "cli.h"
#include "pipeline.h"
#include "state.h"
#include "stream.h"
#include "stream_engine.h"
#include "core/csv.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/input.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/uuid.h"
#include "warehouse/warehouse.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_ROWS 10000

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

struct opts {
	const char *pipeline;
	char ds[11];
	int have_date;
	int batch_rows;
	double rate;
	const char *watch;
	int max_files;
	double idle_exit;
};

struct lat {
	double *v;
	size_t n, cap;
	int64_t rows;
	int64_t t0_ns;
	/* ADE_STREAM_PROFILE: each batch's phases in ms (ADE_PH_N per batch). */
	int profile;
	double *ph;
};

static void lat_add(struct lat *l, double ms, int64_t rows, const struct ade_batch_stats *bs)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = ade_xrealloc(l->v, l->cap * sizeof(double));
		if (l->profile)
			l->ph = ade_xrealloc(l->ph, l->cap * ADE_PH_N * sizeof(double));
	}
	if (l->profile)
		for (int i = 0; i < ADE_PH_N; i++)
			l->ph[l->n * ADE_PH_N + i] = (double)bs->phase_ns[i] / 1e6;
	l->v[l->n++] = ms;
	l->rows += rows;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static int profile_wanted(void)
{
	const char *e = getenv("ADE_STREAM_PROFILE");
	return e && *e && strcmp(e, "0");
}

static double mean_of(const double *ph, size_t from, size_t to, int i)
{
	double sum = 0;
	for (size_t b = from; b < to; b++)
		sum += ph[b * ADE_PH_N + i];
	return to > from ? sum / (double)(to - from) : 0;
}

/*
 * The per-phase breakdown (ADE_STREAM_PROFILE=1), on stderr: per phase the
 * mean, p50, p99 and max over all batches, the mean over the first and the
 * last tenth of the batches (growth with the batches already loaded), and
 * the mean over the slowest 1% of batches by latency (what the p99 is made
 * of).  Called before the latencies are sorted.
 */
static void print_profile(const struct lat *l, struct ade_streamer *s)
{
	size_t n = l->n, tenth = n / 10 ? n / 10 : 1, slow = n / 100 ? n / 100 : 1;
	double *col = ade_xmalloc((n + 1) * sizeof(double));
	size_t *order = ade_xmalloc((n + 1) * sizeof(size_t));
	double sum_lat_slow = 0;

	if (!n) {
		free(col);
		free(order);
		return;
	}
	/* The slowest batches: a selection by latency, n is small. */
	for (size_t b = 0; b < n; b++)
		order[b] = b;
	for (size_t i = 0; i < slow; i++)
		for (size_t j = i + 1; j < n; j++)
			if (l->v[order[j]] > l->v[order[i]]) {
				size_t t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	for (size_t i = 0; i < slow; i++)
		sum_lat_slow += l->v[order[i]];
	fprintf(stderr, "phase ms     %8s %8s %8s %8s %10s %10s %12s\n", "mean", "p50", "p99",
		"max", "first 10%", "last 10%", "slowest 1%");
	for (int i = 0; i < ADE_PH_N; i++) {
		double slow_sum = 0;
		for (size_t b = 0; b < n; b++)
			col[b] = l->ph[b * ADE_PH_N + i];
		for (size_t k = 0; k < slow; k++)
			slow_sum += l->ph[order[k] * ADE_PH_N + i];
		double mean = mean_of(l->ph, 0, n, i);
		qsort(col, n, sizeof(double), cmp_dbl);
		fprintf(stderr, "%-12s %8.2f %8.2f %8.2f %8.2f %10.2f %10.2f %12.2f\n",
			ade_stream_phase_names[i], mean, pct(col, n, 0.5), pct(col, n, 0.99),
			col[n - 1], mean_of(l->ph, 0, tenth, i), mean_of(l->ph, n - tenth, n, i),
			slow_sum / (double)slow);
	}
	fprintf(stderr, "%-12s %8s %8s %8s %8s %10s %10s %12.2f\n", "latency", "", "", "", "", "",
		"", sum_lat_slow / (double)slow);
	if (s) {
		int64_t c, total, max;
		ade_streamer_wal_stats(s, &c, &total, &max);
		fprintf(stderr, "warehouse WAL checkpoints in the background: %" PRId64
			", %.1f ms in all, longest %.1f ms\n",
			c, (double)total / 1e6, (double)max / 1e6);
	}
	free(col);
	free(order);
}

static void print_summary(struct lat *l, struct ade_streamer *s, const char *what)
{
	struct rusage ru;
	double secs = (double)(ade_now_mono_ns() - l->t0_ns) / 1e9;

	if (l->profile)
		print_profile(l, s);
	if (l->n)
		qsort(l->v, l->n, sizeof(double), cmp_dbl);
	getrusage(RUSAGE_SELF, &ru);
	printf("%s: %zu batches, %" PRId64 " rows in %.2f s: %.0f rows/s; batch latency "
	       "p50 %.2f ms, p99 %.2f ms, max %.2f ms; peak RSS %ld KiB\n",
	       what, l->n, l->rows, secs, secs > 0 ? (double)l->rows / secs : 0.0,
	       pct(l->v, l->n, 0.50), pct(l->v, l->n, 0.99), l->n ? l->v[l->n - 1] : 0.0,
	       ru.ru_maxrss);
	fflush(stdout);
}

static char delimiter_of(struct ade_pipeline *p)
{
	for (int i = 0; i < p->n_stages; i++) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(p->stages[i].with, "delimiter");
		if (cJSON_IsString(d)) {
			if (!strcmp(d->valuestring, "tab") || !strcmp(d->valuestring, "\t"))
				return '\t';
			if (strlen(d->valuestring) == 1)
				return d->valuestring[0];
		}
	}
	return ',';
}

/*
 * Calls try(dir, arg) on the folders of the latest successful full runs of
 * the pipeline (the same date first, then the newest; eight at most) until
 * it returns non-NULL, and returns that.
 */
static void *from_recent_runs(struct ade_state *st, struct ade_pipeline *p, const char *ds,
			      void *(*try)(const char *dir, void *arg), void *arg)
{
	sqlite3_stmt *s = NULL;
	void *found = NULL;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT dir FROM runs WHERE pipeline=? AND state='success' "
			       "ORDER BY ds=? DESC, ds DESC, run_number DESC LIMIT 8",
			       -1, &s, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(s, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ds, -1, SQLITE_STATIC);
	while (!found && sqlite3_step(s) == SQLITE_ROW) {
		const char *dir = (const char *)sqlite3_column_text(s, 0);
		if (dir)
			found = try(dir, arg);
	}
	sqlite3_finalize(s);
	return found;
}

static void *hints_in(const char *dir, void *ingest)
{
	char *path = ade_xasprintf("%s/%s/out/frame/schema.json", dir, (const char *)ingest);
	cJSON *h = ade_stream_hints_from_schema(path);

	if (h)
		ade_log_info("stream: column types from %s", path);
	free(path);
	return h;
}

/*
 * The types of the latest successful full run's ingest output (the same
 * date preferred), or NULL.
 */
static cJSON *hints_from_runs(struct ade_state *st, struct ade_pipeline *p, const char *ds)
{
	const char *ingest = NULL;

	for (int i = 0; i < p->n_stages && !ingest; i++) {
		const char *b = strrchr(p->stages[i].exe ? p->stages[i].exe : "", '/');
		if (b && !strcmp(b + 1, "ade-ingest"))
			ingest = p->stages[i].name;
	}
	return ingest ? from_recent_runs(st, p, ds, hints_in, (void *)ingest) : NULL;
}

/*
 * The quality baseline: the statistics part of the quality result.json of
 * the latest successful full run of the pipeline (the same date preferred,
 * then the newest), as JSON text with `baseline_of` naming the file; NULL
 * when there is none.
 */
static void *baseline_in(const char *dir, void *qstage)
{
	static const char *const keep[] = {"run_id", "ds", "missing", "healing_log", "outliers"};
	char *path = ade_xasprintf("%s/%s/out/result.json", dir, (const char *)qstage);
	char *text = NULL;
	cJSON *r = NULL;

	if (!ade_json_read_file(path, &r, NULL) &&
	    cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(r, "missing"), "rates"))) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "baseline_of", path);
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, keep[i]);
			if (e)
				cJSON_AddItemToObject(b, keep[i], cJSON_Duplicate(e, 1));
		}
		text = cJSON_PrintUnformatted(b);
		cJSON_Delete(b);
	}
	cJSON_Delete(r);
	free(path);
	return text;
}

static char *baseline_from_runs(struct ade_state *st, struct ade_pipeline *p, const char *ds,
				const char *qstage)
{
	return from_recent_runs(st, p, ds, baseline_in, (void *)qstage);
}

/*
 * Fixes the day's quality baseline at the first start of (pipeline, ds)
 * (stream_runs.baseline; "" for none), so that a resume applies the same
 * statistics even if a full run happened or was pruned in between, writes
 * it to HOME/stream/<pipeline>/<ds>/baseline.json and gives that to the
 * engine.  Nothing to do without a quality stage, or when its `with:`
 * names a baseline itself.
 */
static int setup_baseline(struct ade_state *st, struct ade_pipeline *p, const char *ds,
			  const char *home, struct ade_stream_run_row *row, int64_t next,
			  struct ade_streamer *s, struct ade_error *err)
{
	int user = 0, rc;
	const char *qs = ade_streamer_quality_stage(s, &user);

	if (!qs || user)
		return 0;
	/* A stream of an older ade, already under way, goes on without one. */
	if (!row->baseline && next == 0) {
		row->baseline = baseline_from_runs(st, p, ds, qs);
		if (!row->baseline)
			row->baseline = ade_xstrdup("");
		if ((rc = ade_stream_run_put(st, p->name, ds, row, err)))
			return rc;
	}
	if (!row->baseline || !*row->baseline) {
		ade_log_warn("stream: %s %s: no quality baseline (no successful full run of the "
			     "pipeline when this day's stream started): every batch uses its own "
			     "medians, modes, missing rates and IQR fences (docs/stream.md)",
			     p->name, ds);
		return 0;
	}
	char *path = ade_xasprintf("%s/stream/%s/%s/baseline.json", home, p->name, ds);
	char *dir = ade_xasprintf("%s/stream/%s/%s", home, p->name, ds);
	rc = ade_fs_mkdirs(dir, err);
	if (!rc)
		rc = ade_fs_write_atomic(path, row->baseline, strlen(row->baseline), err);
	if (!rc) {
		cJSON *b = cJSON_Parse(row->baseline);
		ade_log_info("stream: quality baseline from %s",
			     ade_json_str(b, "baseline_of", "state.db"));
		cJSON_Delete(b);
		ade_streamer_set_baseline(s, path);
	}
	free(dir);
	free(path);
	return rc;
}

struct reader {
	struct ade_input *in;
	struct ade_csv_reader *csv;
};

static int reader_open(struct reader *r, const char *path, char delim, struct ade_error *err)
{
	int rc = ade_input_open(path, &r->in, err);
	if (rc)
		return rc;
	r->csv = ade_csv_new(r->in, delim, 16u << 20);
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->csv)
		ade_csv_free(r->csv);
	if (r->in)
		ade_input_close(r->in);
	memset(r, 0, sizeof(*r));
}

/* Infers the day's types from the first SAMPLE_ROWS records of path. */
static cJSON *hints_from_sample(const struct ade_streamer_opts *so, const char *path, char delim,
				struct ade_error *err)
{
	struct reader r = {0};
	struct ade_csv_record rec;
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	cJSON *h = NULL;
	int rc, n = 0;

	if (reader_open(&r, path, delim, err))
		return NULL;
	while (n <= SAMPLE_ROWS && (rc = ade_csv_next(r.csv, &rec, err)) == 1) {
		ade_strbuf_add(&sb, rec.raw, rec.raw_len);
		ade_strbuf_addc(&sb, '\n');
		n++;
	}
	reader_close(&r);
	if (n > 1) {
		char *csv = ade_xasprintf("%s.sample.csv", so->work);
		char *dir = ade_xasprintf("%s.sample", so->work);
		if (!ade_fs_mkdirs(so->work, err) && !ade_fs_write_atomic(csv, sb.buf, sb.len, err))
			h = ade_streamer_infer_hints(so, csv, dir, err);
		unlink(csv);
		free(csv);
		free(dir);
	} else {
		h = cJSON_CreateObject();
	}
	ade_strbuf_release(&sb);
	return h;
}

static int commit_batch(struct ade_state *st, struct ade_pipeline *p, const char *ds,
			int64_t batch, const struct ade_batch_stats *bs, int64_t offset,
			const char *file, double ms, const char *run_id,
			const struct ade_streamer *s, struct ade_error *err)
{
	struct ade_stream_batch_row b = {
		.batch = batch, .state = "committed", .rows_in = bs->rows_in,
		.rows_loaded = bs->rows_loaded, .dups_skipped = bs->dups_skipped,
		.dups_earlier = bs->dups_earlier,
		.quarantined = bs->quarantined, .source_offset = offset, .source_file = file,
		.latency_ms = ms, .run_id = run_id,
	};
	ade_streamer_batch_keys(s, &b.keys, &b.keys_bytes);
	return ade_stream_batch_commit(st, p->name, ds, &b, err);
}

struct keys_arg {
	struct ade_streamer *s;
	int64_t *old; /* batches without keys in state.db */
	size_t n, cap;
};

static void on_batch_keys(void *arg, int64_t batch, const void *keys, size_t bytes)
{
	struct keys_arg *a = arg;

	if (keys) {
		ade_streamer_add_key_blob(a->s, keys, bytes);
		return;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 256;
		a->old = ade_xrealloc(a->old, a->cap * sizeof(int64_t));
	}
	a->old[a->n++] = batch;
}

/*
 * The day's key set at a (re)start: the hashes each committed batch added,
 * from its checkpoint; for batches checkpointed by an older ade, the keys
 * of their rows in the facts table (raw format only).
 *
 * First its format (docs/stream.md, "Duplicates across batches"): a day
 * with no batch yet, or begun with typed hashes, uses ade-quality's typed
 * hashes; a day an older ade began (keys_format NULL, batches committed)
 * has raw-key hashes in its checkpoints, which cannot be turned into typed
 * ones, so it goes on with raw keys to its end.  next is the day's next
 * batch number (0: none yet).
 */
static int restore_keys(struct ade_state *st, struct ade_pipeline *p, const char *ds,
			struct ade_stream_run_row *row, int64_t next, struct ade_streamer *s,
			struct ade_error *err)
{
	struct keys_arg a = {.s = s};
	int rc;

	if (row->keys_format != ADE_STREAM_KEYS_TYPED && next == 0) {
		row->keys_format = ADE_STREAM_KEYS_TYPED;
		if ((rc = ade_stream_run_put(st, p->name, ds, row, err)))
			return rc;
	}
	if (row->keys_format != ADE_STREAM_KEYS_TYPED)
		ade_log_info("stream: %s %s was begun by an older ade: duplicates across batches "
			     "go on by the raw keys: fields (docs/stream.md)", p->name, ds);
	ade_streamer_set_keys_format(s, row->keys_format == ADE_STREAM_KEYS_TYPED
						? ADE_STREAM_KEYS_TYPED
						: ADE_STREAM_KEYS_RAW);
	rc = ade_stream_batch_keys(st, p->name, ds, on_batch_keys, &a, err);

	if (!rc && a.n)
		rc = ade_streamer_load_keys(s, a.old, a.n, err);
	free(a.old);
	return rc;
}

/* ---------------- replay ---------------- */

static int replay(struct opts *o, struct ade_cli *cli, struct ade_pipeline *p,
		  struct ade_state *st)
{
	struct ade_error err = {0};
	struct ade_stream_run_row row = {0};
	struct ade_streamer *s = NULL;
	struct reader rd = {0};
	struct lat lat = {0};
	cJSON *hints = NULL;
	char *source = NULL, *work = NULL;
	int64_t next = 0;
	int rc = ADE_EXIT_FAILED, r;
	char nodash[9], is[21], ie[21];
	int32_t days = 0;
	char delim = delimiter_of(p);

	ade_date_parse(o->ds, &days, NULL);
	ade_date_format_nodash(days, nodash);
	ade_date_interval(days, is, ie);
	if (!p->source) {
		fprintf(stderr, "ade stream: %s has no source: to replay\n", p->path);
		return ADE_EXIT_USAGE;
	}
	struct ade_template_vars v = {.ds = o->ds, .ds_nodash = nodash, .interval_start = is,
				      .interval_end = ie, .run_id = "", .batch = NULL,
				      .home = cli->home, .params = p->params};
	if (ade_template_render(p->source, &v, &source, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		return ADE_EXIT_FAILED;
	}
	if (source[0] != '/') {
		char *abs = ade_xasprintf("%s/%s", p->dir, source);
		free(source);
		source = abs;
	}
	struct stat sb;
	if (stat(source, &sb) < 0) {
		fprintf(stderr, "ade stream: source '%s': %s\n", source, strerror(errno));
		free(source);
		return ADE_EXIT_FAILED;
	}
	work = ade_xasprintf("%s/stream/%s/%s/work", cli->home, p->name, o->ds);
	int64_t mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;

	r = ade_stream_run_get(st, p->name, o->ds, &row, &err);
	if (r && r != ADE_ENOTFOUND)
		goto db_fail;
	if (!r) {
		if (o->batch_rows && o->batch_rows != row.batch_rows) {
			fprintf(stderr,
				"ade stream: %s %s was started with --batch-rows %d; batches are "
				"numbered by it, so a resume must use the same size\n",
				p->name, o->ds, row.batch_rows);
			rc = ADE_EXIT_USAGE;
			goto out;
		}
		if (!row.done && (row.source_size != (int64_t)sb.st_size ||
				  row.source_mtime_ns != mtime_ns || strcmp(row.source, source))) {
			fprintf(stderr,
				"ade stream: the source %s changed since the stream of %s started "
				"(size or mtime); the committed batches no longer match it\n",
				source, o->ds);
			goto out;
		}
		if (row.hints && *row.hints)
			hints = cJSON_Parse(row.hints);
	} else {
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(p->extra, "stream");
		const cJSON *br = sec ? cJSON_GetObjectItemCaseSensitive(sec, "batch_rows") : NULL;
		char uuid[37];
		ade_uuid7(uuid);
		row.run_id = ade_xstrdup(uuid);
		row.batch_rows = o->batch_rows ? o->batch_rows
			       : cJSON_IsNumber(br) && br->valuedouble >= 1 ? br->valueint : 200;
		row.source = ade_xstrdup(source);
		row.source_size = (int64_t)sb.st_size;
		row.source_mtime_ns = mtime_ns;
	}
	if (row.done) {
		printf("%s %s: already streamed (every batch committed); nothing to do\n", p->name,
		       o->ds);
		rc = 0;
		goto out;
	}

	struct ade_streamer_opts so = {.home = cli->home, .p = p, .ds = o->ds,
				       .run_id = row.run_id, .work = work, .hints = NULL};
	if (!hints) {
		hints = hints_from_runs(st, p, o->ds);
		if (!hints && !(hints = hints_from_sample(&so, source, delim, &err))) {
			fprintf(stderr, "ade stream: inferring column types: %s\n", err.msg);
			goto out;
		}
		free(row.hints);
		row.hints = cJSON_PrintUnformatted(hints);
		if (ade_stream_run_put(st, p->name, o->ds, &row, &err))
			goto db_fail;
	}
	so.hints = hints;
	if (ade_streamer_open(&so, &s, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		rc = ADE_EXIT_PIPELINE;
		goto out;
	}
	if (ade_stream_next_batch(st, p->name, o->ds, &next, &err))
		goto db_fail;
	if ((r = setup_baseline(st, p, o->ds, cli->home, &row, next, s, &err))) {
		if (r == ADE_EDB || r == ADE_EBUSY)
			goto db_fail;
		fprintf(stderr, "ade stream: %s\n", err.msg);
		goto out;
	}
	if (restore_keys(st, p, o->ds, &row, next, s, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		goto out;
	}
	if (reader_open(&rd, source, delim, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		goto out;
	}
	struct ade_csv_record rec, header;
	if ((r = ade_csv_next(rd.csv, &rec, &err)) != 1) {
		if (r < 0) {
			fprintf(stderr, "ade stream: %s\n", err.msg);
			goto out;
		}
		printf("%s %s: the source is empty\n", p->name, o->ds);
		rc = 0;
		goto out;
	}
	/* The header's views die with the next record: keep a parsed copy. */
	char *hraw = ade_xstrndup(rec.raw, rec.raw_len);
	struct ade_csv_reader *hr = ade_csv_new_mem(hraw, rec.raw_len, delim, 1u << 20);
	ade_csv_next(hr, &header, NULL);
	/* Skip the committed batches: batch k is records [k*N, (k+1)*N). */
	int64_t skip = next * row.batch_rows, skipped = 0;
	while (skipped < skip && (r = ade_csv_next(rd.csv, &rec, &err)) == 1)
		skipped++;
	if (next)
		printf("%s %s: resuming at batch %" PRId64 " (%" PRId64 " batches committed)\n",
		       p->name, o->ds, next, next);
	printf("%s %s: streaming %s in batches of %d rows through %s\n", p->name, o->ds, source,
	       row.batch_rows, ade_streamer_describe(s));
	fflush(stdout);
	install_signals();
	lat.t0_ns = ade_now_mono_ns();
	lat.profile = profile_wanted();
	int64_t batch = next;
	int eof = skipped < skip;
	rc = 0;
	while (!eof && !stop_signal) {
		int64_t t0 = ade_now_mono_ns(), offset = -1, n = 0;
		ade_streamer_begin(s, &header);
		while (n < row.batch_rows && (r = ade_csv_next(rd.csv, &rec, &err)) == 1) {
			if (!n)
				offset = rec.offset;
			ade_streamer_add(s, &rec);
			n++;
		}
		if (r < 0) {
			fprintf(stderr, "ade stream: %s\n", err.msg);
			rc = ADE_EXIT_FAILED;
			break;
		}
		if (r == 0)
			eof = 1;
		if (!n)
			break;
		struct ade_batch_stats bs;
		int code;
		int64_t t_read = ade_now_mono_ns() - t0;
		if (ade_streamer_run(s, batch, &bs, &code, &err)) {
			fprintf(stderr, "ade stream: %s %s: %s\n", p->name, o->ds, err.msg);
			fprintf(stderr, "ade stream: batch %" PRId64 " is not committed; run the same "
				"command again to retry it\n", batch);
			rc = code ? code : ADE_EXIT_FAILED;
			break;
		}
		int64_t t1 = ade_now_mono_ns();
		double ms = (double)(t1 - t0) / 1e6;
		if (commit_batch(st, p, o->ds, batch, &bs, offset, NULL, ms, row.run_id, s, &err))
			goto db_fail;
		bs.phase_ns[ADE_PH_READ] = t_read;
		bs.phase_ns[ADE_PH_CKPT] = ade_now_mono_ns() - t1;
		lat_add(&lat, ms, n, &bs);
		ade_log_debug("batch %" PRId64 ": %" PRId64 " rows, %" PRId64 " loaded, %.2f ms",
			      batch, n, bs.rows_loaded, ms);
		batch++;
		if (o->rate > 0) {
			/* Hold the pace: rows so far at `rate` rows per second. */
			int64_t due = lat.t0_ns + (int64_t)((double)lat.rows / o->rate * 1e9);
			int64_t now = ade_now_mono_ns();
			if (due > now) {
				struct timespec ts = {(time_t)((due - now) / 1000000000),
						      (long)((due - now) % 1000000000)};
				while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_signal)
					;
			}
		}
	}
	ade_csv_free(hr);
	free(hraw);
	if (!rc && eof) {
		if (ade_stream_run_set_done(st, p->name, o->ds, &err))
			goto db_fail;
		ade_fs_remove_tree(work, NULL);
	}
	print_summary(&lat, s, stop_signal ? "stopped" : eof && !rc ? "done" : "ended");
	if (!rc && stop_signal)
		rc = ADE_EXIT_INTERRUPTED;
	goto out;
db_fail:
	fprintf(stderr, "ade stream: %s\n", err.msg);
	rc = ADE_EXIT_STATE;
out:
	reader_close(&rd);
	ade_streamer_free(s);
	ade_stream_run_row_release(&row);
	cJSON_Delete(hints);
	free(lat.v);
	free(lat.ph);
	free(source);
	free(work);
	return rc;
}

/* ---------------- watch ---------------- */

struct wfile {
	char *name;
	int64_t mtime_ns;
};

static int cmp_wfile(const void *a, const void *b)
{
	const struct wfile *x = a, *y = b;
	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Names a writer uses while a file is incomplete: dot-files, *.tmp, *.part. */
static int ignored_name(const char *n)
{
	size_t l = strlen(n);
	return n[0] == '.' || (l > 4 && !strcmp(n + l - 4, ".tmp")) ||
	       (l > 5 && !strcmp(n + l - 5, ".part"));
}

struct watcher {
	struct opts *o;
	struct ade_cli *cli;
	struct ade_pipeline *p;
	struct ade_state *st;
	const char *dir;
	char *work;
	struct ade_stream_run_row row;
	cJSON *hints;
	struct ade_streamer *s;
	struct lat lat;
	int files_done, failed;
	char delim;
};

static int watcher_ready(struct watcher *w, const char *first_file, struct ade_error *err)
{
	int r;

	if (w->s)
		return 0;
	struct ade_streamer_opts so = {.home = w->cli->home, .p = w->p, .ds = w->o->ds,
				       .run_id = w->row.run_id, .work = w->work};
	if (!w->hints) {
		w->hints = hints_from_runs(w->st, w->p, w->o->ds);
		if (!w->hints && !(w->hints = hints_from_sample(&so, first_file, w->delim, err)))
			return ADE_EXIT_FAILED;
		free(w->row.hints);
		w->row.hints = cJSON_PrintUnformatted(w->hints);
		if (ade_stream_run_put(w->st, w->p->name, w->o->ds, &w->row, err))
			return ADE_EXIT_STATE;
	}
	so.hints = w->hints;
	if (ade_streamer_open(&so, &w->s, err))
		return ADE_EXIT_PIPELINE;
	int64_t next = 0;
	if (ade_stream_next_batch(w->st, w->p->name, w->o->ds, &next, err))
		return ADE_EXIT_STATE;
	if ((r = setup_baseline(w->st, w->p, w->o->ds, w->cli->home, &w->row, next, w->s, err)))
		return r == ADE_EDB || r == ADE_EBUSY ? ADE_EXIT_STATE : ADE_EXIT_FAILED;
	r = restore_keys(w->st, w->p, w->o->ds, &w->row, next, w->s, err);
	return r ? ADE_EXIT_FAILED : 0;
}

/* Takes one complete file as one batch.  Returns 0, or an exit code to stop with. */
static int watch_file(struct watcher *w, const char *name)
{
	struct ade_error err = {0};
	struct stat sb;
	char *path = ade_xasprintf("%s/%s", w->dir, name);
	char *fds = NULL;
	int64_t batch = -1;
	int rc = 0, r;

	if (ignored_name(name) || stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	int64_t mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	r = ade_stream_file_get(w->st, w->p->name, w->dir, name, (int64_t)sb.st_size, mtime_ns,
				&batch, &fds, &err);
	if (r < 0) {
		rc = ADE_EXIT_STATE;
		goto fail;
	}
	if (r == ADE_SF_DONE) {
		ade_log_debug("stream: %s was taken before; skipped", name);
		goto out;
	}
	if ((rc = watcher_ready(w, path, &err)))
		goto fail;
	if (r == ADE_SF_NEW) {
		if (ade_stream_next_batch(w->st, w->p->name, w->o->ds, &batch, &err) ||
		    ade_stream_file_set(w->st, w->p->name, w->dir, name, (int64_t)sb.st_size,
					mtime_ns, w->o->ds, batch, "started", &err)) {
			rc = ADE_EXIT_STATE;
			goto fail;
		}
	}
	int64_t t0 = ade_now_mono_ns();
	struct reader rd = {0};
	struct ade_csv_record rec;
	struct ade_batch_stats bs;
	int code = 0;
	if (reader_open(&rd, path, w->delim, &err)) {
		w->failed++;
		fprintf(stderr, "ade stream: %s: %s\n", name, err.msg);
		goto out;
	}
	if ((r = ade_csv_next(rd.csv, &rec, &err)) == 1) {
		ade_streamer_begin(w->s, &rec);
		while ((r = ade_csv_next(rd.csv, &rec, &err)) == 1)
			ade_streamer_add(w->s, &rec);
	}
	reader_close(&rd);
	if (r < 0 || ade_streamer_run(w->s, batch, &bs, &code, &err)) {
		w->failed++;
		fprintf(stderr, "ade stream: %s (batch %" PRId64 "): %s\n", name, batch, err.msg);
		ade_stream_file_set(w->st, w->p->name, w->dir, name, (int64_t)sb.st_size, mtime_ns,
				    w->o->ds, batch, "failed", NULL);
		goto out;
	}
	double ms = (double)(ade_now_mono_ns() - t0) / 1e6;
	if (ade_state_begin(w->st, &err) ||
	    commit_batch(w->st, w->p, w->o->ds, batch, &bs, -1, path, ms, w->row.run_id, w->s,
			 &err) ||
	    ade_stream_file_set(w->st, w->p->name, w->dir, name, (int64_t)sb.st_size, mtime_ns,
				w->o->ds, batch, "done", &err) ||
	    ade_state_commit(w->st, &err)) {
		ade_state_exec(w->st, "ROLLBACK", NULL);
		rc = ADE_EXIT_STATE;
		goto fail;
	}
	lat_add(&w->lat, ms, bs.rows_in, &bs);
	w->files_done++;
	printf("%s: batch %" PRId64 ": %" PRId64 " rows, %" PRId64 " loaded, %" PRId64
	       " quarantined, %" PRId64 " duplicates, %.2f ms\n",
	       name, batch, bs.rows_in, bs.rows_loaded, bs.quarantined,
	       bs.duplicates + bs.dups_skipped, ms);
	fflush(stdout);
	goto out;
fail:
	fprintf(stderr, "ade stream: %s: %s\n", name, err.msg);
out:
	free(fds);
	free(path);
	return rc;
}

static int watch(struct opts *o, struct ade_cli *cli, struct ade_pipeline *p,
		 struct ade_state *st)
{
	struct ade_error err = {0};
	struct watcher w = {.o = o, .cli = cli, .p = p, .st = st, .delim = delimiter_of(p)};
	char *dir = realpath(o->watch, NULL);
	int fd = -1, rc = 0, r;
	struct stat sb;

	if (!dir || stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		free(dir);
		return ade_cli_usage_error("stream", "--watch '%s' is not a directory", o->watch);
	}
	w.dir = dir;
	w.work = ade_xasprintf("%s/stream/%s/%s/watch-work", cli->home, p->name, o->ds);
	r = ade_stream_run_get(st, p->name, o->ds, &w.row, &err);
	if (r && r != ADE_ENOTFOUND) {
		rc = ADE_EXIT_STATE;
		goto fail;
	}
	if (r == ADE_ENOTFOUND) {
		char uuid[37];
		ade_uuid7(uuid);
		w.row.run_id = ade_xstrdup(uuid);
		w.row.source = ade_xstrdup(dir);
	} else if (w.row.hints && *w.row.hints) {
		w.hints = cJSON_Parse(w.row.hints);
	}
	/* Watch first, then list: a file landing in between is seen twice, taken once. */
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		ade_error_set(&err, ADE_ESYS, "inotify on %s: %s", dir, strerror(errno));
		rc = ADE_EXIT_FAILED;
		goto fail;
	}
	install_signals();
	w.lat.t0_ns = ade_now_mono_ns();
	w.lat.profile = profile_wanted();
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		struct wfile *fs = NULL;
		size_t n = 0;
		while (d && (de = readdir(d))) {
			char *pth = ade_xasprintf("%s/%s", dir, de->d_name);
			if (!ignored_name(de->d_name) && !stat(pth, &sb) && S_ISREG(sb.st_mode)) {
				fs = ade_xrealloc(fs, (n + 1) * sizeof(*fs));
				fs[n].name = ade_xstrdup(de->d_name);
				fs[n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
				n++;
			}
			free(pth);
		}
		if (d)
			closedir(d);
		if (n)
			qsort(fs, n, sizeof(*fs), cmp_wfile);
		for (size_t i = 0; i < n; i++) {
			if (!rc && !stop_signal && (!o->max_files || w.files_done < o->max_files))
				rc = watch_file(&w, fs[i].name);
			free(fs[i].name);
		}
		free(fs);
	}
	printf("%s: watching %s for %s through %s\n", p->name, dir, o->ds,
	       w.s ? ade_streamer_describe(w.s) : "the stream stages");
	fflush(stdout);
	int64_t last = ade_now_mono_ns();
	while (!rc && !stop_signal && (!o->max_files || w.files_done < o->max_files)) {
		int timeout = 500;
		if (o->idle_exit > 0) {
			int64_t left = last + (int64_t)(o->idle_exit * 1e9) - ade_now_mono_ns();
			if (left <= 0)
				break;
			if (left / 1000000 < timeout)
				timeout = (int)(left / 1000000) + 1;
		}
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, timeout) <= 0)
			continue;
		char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t len;
		while ((len = read(fd, buf, sizeof(buf))) > 0 && !rc) {
			for (char *q = buf; q < buf + len && !rc;) {
				struct inotify_event *ev = (struct inotify_event *)q;
				q += sizeof(*ev) + ev->len;
				if (!ev->len || (o->max_files && w.files_done >= o->max_files))
					continue;
				int before = w.files_done;
				rc = watch_file(&w, ev->name);
				if (w.files_done != before)
					last = ade_now_mono_ns();
			}
		}
	}
	print_summary(&w.lat, w.s, stop_signal ? "stopped" : "done");
	if (!rc && w.failed)
		rc = ADE_EXIT_FAILED;
	goto out;
fail:
	fprintf(stderr, "ade stream: %s\n", err.msg);
out:
	if (fd >= 0)
		close(fd);
	ade_streamer_free(w.s);
	ade_stream_run_row_release(&w.row);
	cJSON_Delete(w.hints);
	free(w.lat.v);
	free(w.lat.ph);
	free(w.work);
	free(dir);
	return rc;
}

/* ---------------- command line ---------------- */

static int parse_double(const char *s, double min, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min) || v > 1e12)
		return -1;
	*out = v;
	return 0;
}

int ade_cmd_stream(int argc, char **argv, struct ade_cli *cli)
{
	struct opts o = {0};
	struct ade_error err = {0};
	struct ade_pipeline *p = NULL;
	struct ade_state st;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                  \
	do {                                                                    \
		if (!val)                                                       \
			return ade_cli_usage_error("stream", "%s needs a value", a); \
		i++;                                                            \
	} while (0)
		if (!strcmp(a, "--date")) {
			NEED();
			int32_t days;
			if (ade_date_parse(val, &days, &err))
				return ade_cli_usage_error("stream", "--date: %s", err.msg);
			ade_date_format(days, o.ds);
			o.have_date = 1;
		} else if (!strcmp(a, "--batch-rows")) {
			NEED();
			if (ade_cli_parse_int(val, 1, 10000000, &o.batch_rows))
				return ade_cli_usage_error("stream", "--batch-rows must be an integer "
							   "from 1 to 10000000, not '%s'", val);
		} else if (!strcmp(a, "--rate")) {
			NEED();
			if (parse_double(val, 1e-9, &o.rate) || o.rate <= 0)
				return ade_cli_usage_error("stream", "--rate must be a positive number "
							   "of rows per second, not '%s'", val);
		} else if (!strcmp(a, "--watch")) {
			NEED();
			o.watch = val;
		} else if (!strcmp(a, "--max-files")) {
			NEED();
			if (ade_cli_parse_int(val, 1, INT_MAX, &o.max_files))
				return ade_cli_usage_error("stream", "--max-files must be a positive "
							   "integer, not '%s'", val);
		} else if (!strcmp(a, "--idle-exit")) {
			NEED();
			if (parse_double(val, 0, &o.idle_exit) || o.idle_exit <= 0)
				return ade_cli_usage_error("stream", "--idle-exit must be a positive "
							   "number of seconds, not '%s'", val);
		} else if (a[0] == '-' && a[1]) {
			return ade_cli_usage_error("stream", "unknown option '%s'", a);
		} else if (!o.pipeline) {
			o.pipeline = a;
		} else {
			return ade_cli_usage_error("stream", "one pipeline only ('%s' is extra)", a);
		}
#undef NEED
	}
	if (!o.pipeline)
		return ade_cli_usage_error("stream", "no pipeline file given");
	if (!o.watch && !o.have_date)
		return ade_cli_usage_error("stream", "--date D is required to replay a day "
					   "(or --watch DIR)");
	if (!o.watch && (o.max_files || o.idle_exit > 0))
		return ade_cli_usage_error("stream", "--max-files and --idle-exit go with --watch");
	if (o.watch && (o.batch_rows || o.rate > 0))
		return ade_cli_usage_error("stream", "--batch-rows and --rate go with a replay "
					   "(--date), not --watch: each file is one batch");
	if (!o.have_date) {
		/* Watch: files land for today's date (UTC) unless --date says otherwise. */
		ade_date_format((int32_t)(ade_now_wall_us() / 1000000 / 86400), o.ds);
	}

	/*
	 * Multi-thread, not single-thread, SQLite: the warehouse's WAL
	 * checkpoints run on a thread of the stream engine, each connection
	 * used by one thread only (stream_engine.c).
	 */
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	rc = ade_pipeline_load(o.pipeline, cli->exec_dir, &p, &err);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg);
		return rc == ADE_EPARSE ? ADE_EXIT_PIPELINE : ADE_EXIT_USAGE;
	}
	if (ade_fs_mkdirs(cli->home, &err) || ade_state_open(&st, cli->home, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		ade_pipeline_free(p);
		return ADE_EXIT_STATE;
	}
	if (ade_stream_state_init(&st, &err)) {
		fprintf(stderr, "ade stream: %s\n", err.msg);
		rc = ADE_EXIT_STATE;
	} else {
		rc = o.watch ? watch(&o, cli, p, &st) : replay(&o, cli, p, &st);
	}
	ade_state_close(&st);
	ade_pipeline_free(p);
	return rc;
}
