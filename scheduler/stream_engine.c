/*
 * The stream engine (stream_engine.h): ade's own stages called in-process
 * per micro-batch.  Environment: only ADE_IN_* is set (stages find their
 * upstream through it); everything else a stage reads comes from the
 * context filled here.
 */
#include "stream_engine.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/stage.h"
#include "core/util.h"
#include "stages/ingest/ingest.h"
#include "stages/quality/quality.h"
#include "stages/schema/schema.h"
#include "stages/validate/validate.h"
#include "warehouse/warehouse.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

extern char **environ;

enum kind { K_INGEST, K_SCHEMA, K_QUALITY, K_VALIDATE, K_WAREHOUSE };

const char *const ade_stream_phase_names[ADE_PH_N] = {
	"read", "setup", "ingest", "schema", "quality", "validate", "load", "keys",
	"checkpoint",
};

/* The phase of a stage kind (kinds[] is in enum kind order). */
static const enum ade_stream_phase kind_phase[] = {
	ADE_PH_INGEST, ADE_PH_SCHEMA, ADE_PH_QUALITY, ADE_PH_VALIDATE, ADE_PH_LOAD,
};

static const struct {
	const char *exe;
	enum kind kind;
	int (*run)(const struct ade_stage_ctx *, struct ade_error *);
	int (*exit_code)(int);
} kinds[] = {
	{"ade-ingest", K_INGEST, ade_ingest_run, ade_ingest_exit_code},
	{"ade-schema", K_SCHEMA, ade_schema_run, ade_schema_exit_code},
	{"ade-quality", K_QUALITY, ade_quality_run, ade_quality_exit_code},
	{"ade-validate", K_VALIDATE, ade_validate_run, ade_validate_exit_code},
	{"ade-warehouse", K_WAREHOUSE, NULL, NULL},
};

struct sstage {
	struct ade_stage_def *def;
	int k; /* index in kinds */
	char *env_name; /* ADE_IN_<NAME> */
	char *dirs[2];  /* <work>/<name>: [0] on disk, [1] in the memory scratch */
	const char *dir; /* the batch's: one of dirs */
};

/*
 * The background WAL checkpointer (docs/stream.md, "Latency"): its own
 * connection to warehouse.db, woken by the WAL hook of the loading
 * connection when the WAL has grown past CKPT_FRAMES frames.
 */
#define CKPT_FRAMES 256 /* 16 MiB of 64 KiB pages */
struct ckpt {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending, stop;
	sqlite3 *db;
	int64_t count, total_ns, max_ns; /* under mu */
};

/* A batch whose input is larger than this runs on disk, not in memory. */
#define MEM_BATCH_MAX (16u << 20)

struct ade_streamer {
	struct ade_streamer_opts o;
	struct sstage *st;
	int n;
	int wh;           /* index of the warehouse stage, -1 if none */
	int facts;        /* index of the stage whose frame is loaded */
	const char *table;
	const cJSON *indexes;
	int rows_per_insert;
	sqlite3 *db;
	struct ckpt ck;
	char *describe;
	char *mem;        /* the memory scratch directory, or NULL */
	char *mem_work;   /* the batch's working directory in it */
	char *baseline;   /* quality baseline result.json, or NULL */
	char *csv_paths[2];
	/*
	 * Cross-batch duplicates: the day's set of row hashes.  keys_format
	 * ADE_STREAM_KEYS_TYPED: ade-quality's own duplicate-pass hashes
	 * (typed, whole row or keys:), given to it through qs; the stage
	 * decides, as in a one-batch run.  ADE_STREAM_KEYS_RAW (a day begun
	 * by an older ade): hashes of the raw CSV keys:, records filtered
	 * here before ingest, whole rows only inside a batch.
	 */
	int keys_format;
	struct ade_quality_seen qs;
	char **keys;      /* key column names (from quality's keys:) */
	int nkeys;
	int *key_idx;     /* their positions in the current header, -1 missing (raw) */
	size_t nfields;
	struct ade_dedup seen;
	/* The batch being built. */
	struct ade_strbuf buf;
	int64_t rows_in, dups;
	/* Keys of its records (with their offsets in buf), and those added to seen. */
	struct pkey {
		uint64_t lo, hi;
		size_t off;
	} *pend;
	size_t npend, cappend;
	uint64_t *added; /* lo, hi pairs: the batch's contribution, for state.db (raw) */
	size_t nadded;
};

/* ---------------- key set ---------------- */

/* The day's set is ade-quality's hash set (quality.h), grown as it fills. */
static int ks_find(const struct ade_dedup *k, uint64_t lo, uint64_t hi)
{
	return ade_dedup_contains(k, lo, hi);
}

static void ks_insert(struct ade_dedup *k, uint64_t lo, uint64_t hi)
{
	ade_dedup_insert(k, lo, hi);
}

/*
 * A key value's canonical text: an integer literal (optional sign,
 * digits, surrounding blanks) as its decimal value, so that "007" in the
 * CSV and 7 in the warehouse are the same key; anything else as is.
 */
static void canon_add(struct ade_strbuf *sb, const char *p, size_t n)
{
	size_t a = 0, b = n;
	while (a < b && isspace((unsigned char)p[a]))
		a++;
	while (b > a && isspace((unsigned char)p[b - 1]))
		b--;
	if (b > a && b - a < 20) {
		char tmp[24], *end;
		memcpy(tmp, p + a, b - a);
		tmp[b - a] = '\0';
		errno = 0;
		long long v = strtoll(tmp, &end, 10);
		if (!*end && !errno && (isdigit((unsigned char)tmp[0]) || tmp[0] == '-' || tmp[0] == '+')) {
			ade_strbuf_addf(sb, "%lld", v);
			ade_strbuf_addc(sb, '\x1f');
			return;
		}
	}
	ade_strbuf_add(sb, p, n);
	ade_strbuf_addc(sb, '\x1f');
}

static void key_hash(const struct ade_strbuf *sb, uint64_t *lo, uint64_t *hi)
{
	XXH128_hash_t h = XXH3_128bits(sb->buf ? sb->buf : "", sb->len);
	*lo = h.low64;
	*hi = h.high64;
}

/* ---------------- setup ---------------- */

static int kind_of(const struct ade_stage_def *d)
{
	const char *b = strrchr(d->exe ? d->exe : d->argv[0], '/');
	b = b ? b + 1 : (d->exe ? d->exe : d->argv[0]);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(b, kinds[i].exe))
			return (int)i;
	return -1;
}

static char *env_name_of(const char *stage)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	ade_strbuf_adds(&sb, "ADE_IN_");
	for (const char *c = stage; *c; c++)
		ade_strbuf_addc(&sb, *c == '-' ? '_' : (char)toupper((unsigned char)*c));
	return ade_strbuf_detach(&sb);
}

/* The stream section's stage names, or the default chain. */
static int stream_stage_names(struct ade_pipeline *p, const char ***names, int *n,
			      struct ade_error *err)
{
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(p->extra, "stream");
	const cJSON *list = sec ? cJSON_GetObjectItemCaseSensitive(sec, "stages") : NULL, *e;
	static const char *const def[] = {"ingest", "quality", "validate", "warehouse"};

	*n = 0;
	*names = NULL;
	if (list) {
		if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list))
			return ade_error_set(err, ADE_EINVAL,
					     "%s: stream.stages must be a list of stage names",
					     p->path);
		*names = ade_xcalloc((size_t)cJSON_GetArraySize(list), sizeof(char *));
		cJSON_ArrayForEach(e, list)
		{
			if (!cJSON_IsString(e)) {
				free(*names);
				*names = NULL;
				return ade_error_set(err, ADE_EINVAL,
						     "%s: stream.stages must be a list of stage names",
						     p->path);
			}
			(*names)[(*n)++] = e->valuestring;
		}
		return 0;
	}
	/* No stream section: ingest -> quality -> validate -> warehouse, those present. */
	*names = ade_xcalloc(4, sizeof(char *));
	for (int i = 0; i < 4; i++)
		if (ade_pipeline_stage(p, def[i]))
			(*names)[(*n)++] = def[i];
	if (!*n) {
		free(*names);
		*names = NULL;
		return ade_error_set(err, ADE_EINVAL,
				     "%s: no stream section and none of the stages ingest, quality, "
				     "validate, warehouse",
				     p->path);
	}
	return 0;
}

/* ---------------- scratch and checkpoints ---------------- */

/*
 * The per-batch working directory is scratch: it is recreated for every
 * batch and nothing in it is needed after the warehouse commit, so the
 * durability of the stages' files buys nothing.  The stages fsync each
 * file and directory they write (about 28 fsyncs per batch), and on a
 * shared disk an fsync waits for the file system's journal, other
 * processes' writes included: that was most of a batch's time at p50 and
 * its worst stalls.  A memory file system makes those fsyncs free.  So the
 * batches run in a directory under ADE_STREAM_SCRATCH (default /dev/shm),
 * if one can be made there, and under HOME/stream/... otherwise or when a
 * batch's input is over MEM_BATCH_MAX (a big watched file must not fill
 * memory).  ADE_STREAM_SCRATCH=off keeps every batch on disk.
 */
/*
 * A stream killed with SIGKILL leaves its scratch directory behind (one
 * batch's files).  The directory names its process, so the next stream
 * removes those of processes that no longer exist (ours only: the
 * directories are made 0700).
 */
static void remove_stale_scratch(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *end;
		if (strncmp(de->d_name, "ade-stream-", 11))
			continue;
		long pid = strtol(de->d_name + 11, &end, 10);
		if (pid <= 0 || *end != '-' || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		char *path = ade_xasprintf("%s/%s", base, de->d_name);
		struct stat sb;
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid())
			ade_fs_remove_tree(path, NULL);
		free(path);
	}
	if (d)
		closedir(d);
}

static void open_scratch(struct ade_streamer *s)
{
	const char *base = getenv("ADE_STREAM_SCRATCH");
	struct ade_error e = {0};

	if (!base || !*base)
		base = "/dev/shm";
	if (!strcmp(base, "off") || !strcmp(base, "0"))
		return;
	remove_stale_scratch(base);
	char *tmpl = ade_xasprintf("%s/ade-stream-%ld-XXXXXX", base, (long)getpid());
	if (!mkdtemp(tmpl) || ade_fs_mkdirs(tmpl, &e)) {
		/* The default may simply be missing; a folder the user named should work. */
		if (getenv("ADE_STREAM_SCRATCH") && *getenv("ADE_STREAM_SCRATCH"))
			ade_log_warn("stream: ADE_STREAM_SCRATCH: no scratch directory in '%s' (%s); "
				     "batches run on disk", base, strerror(errno));
		else
			ade_log_debug("stream: no scratch directory in %s (%s); batches run on disk",
				      base, strerror(errno));
		free(tmpl);
		return;
	}
	/* Batches work in mem/b: only mkdtemp's own directory is removed and made again. */
	s->mem = tmpl;
	s->mem_work = ade_xasprintf("%s/b", s->mem);
	s->csv_paths[1] = ade_xasprintf("%s/input.csv", s->mem_work);
	for (int i = 0; i < s->n; i++)
		s->st[i].dirs[1] = ade_xasprintf("%s/%s", s->mem_work, s->st[i].def->name);
}

static void *ckpt_main(void *arg)
{
	struct ckpt *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->pending && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->pending = 0;
		pthread_mutex_unlock(&c->mu);
		/*
		 * PASSIVE takes no writer lock: the loading connection goes on
		 * committing into the WAL meanwhile, and restarts the WAL from
		 * its start once a checkpoint has copied all of it.
		 */
		int64_t t0 = ade_now_mono_ns();
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		int64_t ns = ade_now_mono_ns() - t0;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			ade_log_debug("stream: WAL checkpoint: %s", sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->mu);
		c->count++;
		c->total_ns += ns;
		if (ns > c->max_ns)
			c->max_ns = ns;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Called by SQLite after each commit of the loading connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct ckpt *c = arg;

	(void)db;
	(void)name;
	if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&c->mu);
		c->pending = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

/*
 * SQLite's automatic checkpoint runs inside the COMMIT of the batch that
 * crosses 1000 WAL pages (64 MiB here): it copies the WAL into the
 * database and fsyncs it, tens of milliseconds on a 2 ms load, which
 * made the p99 batch latency.  Here the WAL hook replaces the automatic
 * checkpoint (setting a hook turns it off) and a thread of ours does the
 * checkpoint on its own connection, concurrently with the next batches.
 * Without a thread-safe SQLite, or if the connection cannot be opened,
 * the automatic checkpoint stays.
 */
static void ckpt_start(struct ade_streamer *s)
{
	struct ckpt *c = &s->ck;
	char *path = ade_xasprintf("%s/warehouse.db", s->o.home);

	if (!sqlite3_threadsafe() ||
	    sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK) {
		sqlite3_close(c->db);
		c->db = NULL;
		free(path);
		return;
	}
	free(path);
	/*
	 * A connection learns that the file is in WAL mode when it first reads
	 * it; until then a checkpoint on it does nothing.
	 */
	if (sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(c->db);
		c->db = NULL;
		return;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->th, NULL, ckpt_main, c)) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		sqlite3_close(c->db);
		c->db = NULL;
		return;
	}
	c->started = 1;
	sqlite3_wal_hook(s->db, wal_hook, c);
}

static void ckpt_stop(struct ade_streamer *s)
{
	struct ckpt *c = &s->ck;

	if (!c->started)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	sqlite3_close(c->db);
	c->db = NULL;
	c->started = 0;
}

const char *ade_streamer_quality_stage(const struct ade_streamer *s, int *user_baseline)
{
	for (int i = 0; i < s->n; i++)
		if (kinds[s->st[i].k].kind == K_QUALITY) {
			*user_baseline = cJSON_GetObjectItemCaseSensitive(s->st[i].def->with,
									  "baseline") != NULL;
			return s->st[i].def->name;
		}
	*user_baseline = 0;
	return NULL;
}

void ade_streamer_set_baseline(struct ade_streamer *s, const char *path)
{
	free(s->baseline);
	s->baseline = path ? ade_xstrdup(path) : NULL;
}

void ade_streamer_wal_stats(struct ade_streamer *s, int64_t *count, int64_t *total_ns,
			    int64_t *max_ns)
{
	*count = *total_ns = *max_ns = 0;
	if (!s->ck.started)
		return;
	pthread_mutex_lock(&s->ck.mu);
	*count = s->ck.count;
	*total_ns = s->ck.total_ns;
	*max_ns = s->ck.max_ns;
	pthread_mutex_unlock(&s->ck.mu);
}

int ade_streamer_open(const struct ade_streamer_opts *o, struct ade_streamer **out,
		      struct ade_error *err)
{
	struct ade_streamer *s = ade_xcalloc(1, sizeof(*s));
	struct ade_strbuf d = ADE_STRBUF_INIT;
	const char **names = NULL;
	int n = 0, rc;

	s->o = *o;
	s->keys_format = ADE_STREAM_KEYS_TYPED;
	s->wh = -1;
	s->facts = -1;
	s->table = o->p->name;
	if ((rc = stream_stage_names(o->p, &names, &n, err)))
		goto fail;
	s->st = ade_xcalloc((size_t)n, sizeof(*s->st));
	for (int i = 0; i < n; i++) {
		struct ade_stage_def *def = ade_pipeline_stage(o->p, names[i]);
		if (!def) {
			rc = ade_error_set(err, ADE_EINVAL, "%s: stream.stages names '%s', which is "
					   "not a stage of the pipeline", o->p->path, names[i]);
			goto fail;
		}
		int k = kind_of(def);
		if (k < 0) {
			rc = ade_error_set(err, ADE_EINVAL,
					   "%s: stage '%s' runs '%s': stream mode runs ade's own stages "
					   "in-process (ade-ingest, ade-schema, ade-quality, ade-validate, "
					   "ade-warehouse) and cannot run other executables; leave it out "
					   "of stream.stages (docs/stream.md)",
					   o->p->path, def->name, def->argv[0]);
			goto fail;
		}
		if (kinds[k].kind == K_INGEST && i != 0) {
			rc = ade_error_set(err, ADE_EINVAL, "%s: stream.stages: the ingest stage "
					   "'%s' must come first", o->p->path, def->name);
			goto fail;
		}
		if (kinds[k].kind == K_WAREHOUSE) {
			if (i != n - 1) {
				rc = ade_error_set(err, ADE_EINVAL, "%s: stream.stages: the warehouse "
						   "stage '%s' must come last", o->p->path, def->name);
				goto fail;
			}
			s->wh = i;
		}
		s->st[s->n].def = def;
		s->st[s->n].k = k;
		s->st[s->n].env_name = env_name_of(def->name);
		s->st[s->n].dirs[0] = ade_xasprintf("%s/%s", o->work, def->name);
		s->n++;
		if (d.len)
			ade_strbuf_adds(&d, " -> ");
		ade_strbuf_adds(&d, def->name);
	}
	if (kinds[s->st[0].k].kind != K_INGEST) {
		rc = ade_error_set(err, ADE_EINVAL, "%s: stream.stages must start with an ade-ingest "
				   "stage (each batch is a CSV file)", o->p->path);
		goto fail;
	}
	s->describe = ade_strbuf_detach(&d);
	/* The warehouse stage's settings (docs/warehouse.md). */
	if (s->wh >= 0) {
		const cJSON *w = s->st[s->wh].def->with, *e;
		if ((e = cJSON_GetObjectItemCaseSensitive(w, "table")) && cJSON_IsString(e))
			s->table = e->valuestring;
		s->indexes = cJSON_GetObjectItemCaseSensitive(w, "indexes");
		if ((e = cJSON_GetObjectItemCaseSensitive(w, "rows_per_insert")) && cJSON_IsNumber(e))
			s->rows_per_insert = e->valueint;
		if ((e = cJSON_GetObjectItemCaseSensitive(w, "facts")) && cJSON_IsString(e)) {
			for (int i = 0; i < s->wh; i++)
				if (!strcmp(s->st[i].def->name, e->valuestring))
					s->facts = i;
			if (s->facts < 0)
				ade_log_warn("stream: warehouse facts '%s' is not a stream stage; loading "
					     "the frame of '%s'", e->valuestring,
					     s->st[s->wh - 1].def->name);
		}
		if (s->facts < 0 && s->wh > 0)
			s->facts = s->wh - 1;
		char *wpath = ade_xasprintf("%s/warehouse.db", o->home);
		rc = ade_warehouse_open(wpath, &s->db, err);
		free(wpath);
		if (rc)
			goto fail;
	}
	/* Keys for duplicates across batches: the quality stage's keys:. */
	for (int i = 0; i < s->n; i++) {
		if (kinds[s->st[i].k].kind != K_QUALITY)
			continue;
		const cJSON *w = s->st[i].def->with, *e;
		const cJSON *dd = cJSON_GetObjectItemCaseSensitive(w, "dedup");
		if (cJSON_IsFalse(dd))
			break;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(w, "keys"))
			if (cJSON_IsString(e)) {
				s->keys = ade_xrealloc(s->keys, sizeof(char *) * (size_t)(s->nkeys + 1));
				s->keys[s->nkeys++] = e->valuestring;
			}
		break;
	}
	s->csv_paths[0] = ade_xasprintf("%s/input.csv", o->work);
	open_scratch(s);
	if (s->db)
		ckpt_start(s);
	free(names);
	*out = s;
	return 0;
fail:
	ade_strbuf_release(&d);
	free(names);
	ade_streamer_free(s);
	return rc;
}

void ade_streamer_free(struct ade_streamer *s)
{
	if (!s)
		return;
	ckpt_stop(s);
	for (int i = 0; i < s->n; i++) {
		free(s->st[i].env_name);
		free(s->st[i].dirs[0]);
		free(s->st[i].dirs[1]);
	}
	free(s->st);
	sqlite3_close(s->db);
	free(s->describe);
	if (s->mem)
		ade_fs_remove_tree(s->mem, NULL);
	free(s->mem);
	free(s->mem_work);
	free(s->baseline);
	free(s->csv_paths[0]);
	free(s->csv_paths[1]);
	free(s->keys);
	free(s->key_idx);
	ade_dedup_release(&s->seen);
	free(s->qs.kept);
	free(s->pend);
	free(s->added);
	ade_strbuf_release(&s->buf);
	free(s);
}

const char *ade_streamer_describe(const struct ade_streamer *s)
{
	return s->describe;
}

/* ---------------- keys already loaded ---------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/*
 * Adds the keys of the facts rows of (pipeline, ds) to the set: of one
 * batch (batch >= 0), or of every batch listed in committed.
 */
static int add_keys(struct ade_streamer *s, int64_t batch, const int64_t *committed, size_t n,
		    struct ade_error *err)
{
	struct ade_strbuf q = ADE_STRBUF_INIT, k = ADE_STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	char bt[32];
	int rc = 0, exists = 0;

	if (s->keys_format != ADE_STREAM_KEYS_RAW || !s->nkeys || !s->db || s->facts < 0)
		return 0;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, s->table, -1, SQLITE_STATIC);
		exists = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!exists)
		return 0;
	ade_strbuf_adds(&q, "SELECT batch");
	for (int i = 0; i < s->nkeys; i++) {
		ade_strbuf_adds(&q, ", ");
		ade_warehouse_quote(&q, s->keys[i]);
	}
	ade_strbuf_adds(&q, " FROM ");
	ade_warehouse_quote(&q, s->table);
	/*
	 * The facts table has no (pipeline, ds, batch) index: the rowid
	 * ranges recorded in loads bound the scan (docs/warehouse.md).  A
	 * load recorded without one (an older warehouse) lifts the bound.
	 */
	static const char bound[] =
		"coalesce((SELECT CASE WHEN count(first_rowid) = count(*) THEN %s END FROM loads "
		"WHERE pipeline=?1 AND ds=?2 AND %s AND \"table\"=?4), %s)";
	/* No bound if columns hide the rowid's names (ade_warehouse_rowid_name). */
	const char *rowid = ade_warehouse_rowid_name(s->db, s->table);
	if (!rowid) {
		ade_strbuf_adds(&q, batch >= 0 ? " WHERE pipeline=?1 AND ds=?2 AND batch=?3"
					       : " WHERE pipeline=?1 AND ds=?2 AND batch<>''");
	} else if (batch >= 0) {
		ade_strbuf_addf(&q, " WHERE %s BETWEEN ", rowid);
		ade_strbuf_addf(&q, bound, "min(first_rowid)", "batch=?3", "-9223372036854775807-1");
		ade_strbuf_adds(&q, " AND ");
		ade_strbuf_addf(&q, bound, "max(last_rowid)", "batch=?3", "9223372036854775807");
		ade_strbuf_adds(&q, " AND pipeline=?1 AND ds=?2 AND batch=?3");
	} else {
		ade_strbuf_addf(&q, " WHERE %s >= ", rowid);
		ade_strbuf_addf(&q, bound, "min(first_rowid)", "batch<>''", "-9223372036854775807-1");
		ade_strbuf_adds(&q, " AND pipeline=?1 AND ds=?2 AND batch<>''");
	}
	if (sqlite3_prepare_v2(s->db, q.buf, -1, &st, NULL) != SQLITE_OK) {
		/* A key column the facts table lacks: nothing to compare with. */
		ade_log_debug("stream: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, s->o.p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->o.ds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->table, -1, SQLITE_STATIC);
	if (batch >= 0) {
		snprintf(bt, sizeof(bt), "%" PRId64, batch);
		sqlite3_bind_text(st, 3, bt, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (batch < 0) {
			const char *b = (const char *)sqlite3_column_text(st, 0);
			char *end;
			int64_t v = b ? strtoll(b, &end, 10) : -1;
			if (!b || *end || !bsearch(&v, committed, n, sizeof(v), cmp_i64))
				continue;
		}
		ade_strbuf_reset(&k);
		for (int i = 0; i < s->nkeys; i++) {
			int t = sqlite3_column_type(st, i + 1);
			if (t == SQLITE_INTEGER) {
				ade_strbuf_addf(&k, "%lld\x1f", (long long)sqlite3_column_int64(st, i + 1));
			} else {
				const char *txt = (const char *)sqlite3_column_text(st, i + 1);
				canon_add(&k, txt ? txt : "", txt ? (size_t)sqlite3_column_bytes(st, i + 1) : 0);
			}
		}
		uint64_t lo, hi;
		key_hash(&k, &lo, &hi);
		ks_insert(&s->seen, lo, hi);
	}
	rc = rc == SQLITE_DONE ? 0
			       : ade_error_set(err, ADE_EDB, "warehouse: reading keys of %s: %s",
					       s->table, sqlite3_errmsg(s->db));
out:
	sqlite3_finalize(st);
	ade_strbuf_release(&q);
	ade_strbuf_release(&k);
	return rc;
}

int ade_streamer_load_keys(struct ade_streamer *s, const int64_t *committed, size_t n,
			   struct ade_error *err)
{
	if (!n)
		return 0;
	return add_keys(s, -1, committed, n, err);
}

/* ---------------- building a batch ---------------- */

void ade_streamer_begin(struct ade_streamer *s, const struct ade_csv_record *header)
{
	ade_strbuf_reset(&s->buf);
	ade_strbuf_add(&s->buf, header->raw, header->raw_len);
	ade_strbuf_addc(&s->buf, '\n');
	s->rows_in = 0;
	s->dups = 0;
	s->npend = 0;
	s->nadded = 0;
	s->qs.nkept = 0;
	s->qs.dups_day = 0;
	s->qs.active = 0;
	s->nfields = header->nfields;
	free(s->key_idx);
	s->key_idx = ade_xcalloc((size_t)(s->nkeys ? s->nkeys : 1), sizeof(int));
	for (int i = 0; i < s->nkeys; i++) {
		s->key_idx[i] = -1;
		for (size_t f = 0; f < header->nfields; f++)
			if (header->fields[f].len == strlen(s->keys[i]) &&
			    !memcmp(header->fields[f].p, s->keys[i], header->fields[f].len))
				s->key_idx[i] = (int)f;
	}
}

void ade_streamer_add(struct ade_streamer *s, const struct ade_csv_record *rec)
{
	s->rows_in++;
	/*
	 * Raw keys only (a day begun by an older ade): only well-formed
	 * records are compared; the others go to ingest's quarantine.
	 */
	if (s->keys_format == ADE_STREAM_KEYS_RAW && s->nkeys && rec->status == ADE_CSV_OK && rec->nfields == s->nfields) {
		struct ade_strbuf k = ADE_STRBUF_INIT;
		int ok = 1;
		for (int i = 0; i < s->nkeys && ok; i++) {
			if (s->key_idx[i] < 0) {
				ok = 0;
				break;
			}
			const struct ade_csv_field *f = &rec->fields[s->key_idx[i]];
			canon_add(&k, f->p, f->len);
		}
		if (ok) {
			uint64_t lo, hi;
			key_hash(&k, &lo, &hi);
			ade_strbuf_release(&k);
			if (ks_find(&s->seen, lo, hi)) {
				s->dups++;
				return;
			}
			if (s->npend == s->cappend) {
				s->cappend = s->cappend ? 2 * s->cappend : 256;
				s->pend = ade_xrealloc(s->pend, s->cappend * sizeof(*s->pend));
			}
			s->pend[s->npend++] = (struct pkey){lo, hi, s->buf.len};
		}
		ade_strbuf_release(&k);
	}
	ade_strbuf_add(&s->buf, rec->raw, rec->raw_len);
	ade_strbuf_addc(&s->buf, '\n');
}

/* ---------------- the day's keys ---------------- */

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/*
 * After a batch's commit: the keys of its records that ingest did not
 * quarantine go into the day's set.  That is the set ade-quality's
 * duplicate pass would hold had the day run as one batch: a record that
 * reached quality counts even if quality or validate then dropped it (an
 * outlier, say), so a later copy of it is a duplicate in both modes; a
 * quarantined record never reached quality, so a later good copy is not.
 * Ingest names each quarantined record by its byte offset in input.csv.
 */
static void seen_add_batch(struct ade_streamer *s)
{
	size_t *qoff = NULL, nq = 0, cap = 0;
	char *path = NULL, *text = NULL;
	size_t len = 0;

	for (int i = 0; i < s->n; i++)
		if (kinds[s->st[i].k].kind == K_INGEST)
			path = ade_xasprintf("%s/quarantine.ndjson", s->st[i].dir);
	if (path && !ade_fs_read_all(path, (size_t)1 << 30, &text, &len, NULL)) {
		for (char *line = text; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			cJSON *j = cJSON_Parse(line);
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "offset");
			if (cJSON_IsNumber(o) && o->valuedouble >= 0) {
				if (nq == cap) {
					cap = cap ? 2 * cap : 64;
					qoff = ade_xrealloc(qoff, cap * sizeof(size_t));
				}
				qoff[nq++] = (size_t)o->valuedouble;
			}
			cJSON_Delete(j);
			line = nl ? nl + 1 : NULL;
		}
	}
	if (nq)
		qsort(qoff, nq, sizeof(size_t), cmp_size);
	s->added = ade_xrealloc(s->added, (2 * s->npend + 1) * sizeof(uint64_t));
	s->nadded = 0;
	for (size_t i = 0; i < s->npend; i++) {
		const struct pkey *k = &s->pend[i];
		if (nq && bsearch(&k->off, qoff, nq, sizeof(size_t), cmp_size))
			continue;
		if (ks_find(&s->seen, k->lo, k->hi))
			continue; /* a duplicate inside the batch */
		ks_insert(&s->seen, k->lo, k->hi);
		s->added[2 * s->nadded] = k->lo;
		s->added[2 * s->nadded + 1] = k->hi;
		s->nadded++;
	}
	free(qoff);
	free(text);
	free(path);
}

/*
 * After a batch's commit (typed format): the hashes of the rows
 * ade-quality's duplicate pass kept join the day's set.  The pass saw
 * every row that reached quality, so this is the set a one-batch run's
 * pass holds at the same point (see seen_add_batch for why rows dropped
 * after the pass count and quarantined ones do not).
 */
static void seen_add_kept(struct ade_streamer *s)
{
	for (size_t i = 0; i < s->qs.nkept; i++)
		ks_insert(&s->seen, s->qs.kept[2 * i], s->qs.kept[2 * i + 1]);
}

void ade_streamer_set_keys_format(struct ade_streamer *s, int format)
{
	s->keys_format = format;
}

int ade_streamer_keys_format(const struct ade_streamer *s)
{
	return s->keys_format;
}

void ade_streamer_batch_keys(const struct ade_streamer *s, const void **keys, size_t *bytes)
{
	if (s->keys_format == ADE_STREAM_KEYS_TYPED) {
		/* NULL when no duplicate pass ran (no quality stage, dedup: false). */
		*keys = s->qs.active ? (s->qs.nkept ? (const void *)s->qs.kept : "") : NULL;
		*bytes = s->qs.active ? s->qs.nkept * 2 * sizeof(uint64_t) : 0;
		return;
	}
	*keys = s->nkeys ? (const void *)s->added : NULL;
	*bytes = s->nkeys ? s->nadded * 2 * sizeof(uint64_t) : 0;
	if (s->nkeys && !s->added)
		*keys = "";
}

void ade_streamer_add_key_blob(struct ade_streamer *s, const void *keys, size_t bytes)
{
	const unsigned char *p = keys;

	for (size_t i = 0; i + 16 <= bytes; i += 16) {
		uint64_t lo, hi;
		memcpy(&lo, p + i, 8);
		memcpy(&hi, p + i + 8, 8);
		ks_insert(&s->seen, lo, hi);
	}
}

/* ---------------- running a batch ---------------- */

static void clear_inputs(void)
{
	char *names[64];
	int n;

	do {
		n = 0;
		for (char **e = environ; *e && n < 64; e++)
			if (!strncmp(*e, "ADE_IN_", 7)) {
				const char *eq = strchr(*e, '=');
				names[n++] = ade_xstrndup(*e, eq ? (size_t)(eq - *e) : strlen(*e));
			}
		for (int i = 0; i < n; i++) {
			unsetenv(names[i]);
			free(names[i]);
		}
	} while (n == 64);
}

static cJSON *read_result(const char *dir)
{
	char *p = ade_xasprintf("%s/result.json", dir);
	cJSON *r = NULL;
	if (ade_json_read_file(p, &r, NULL))
		r = NULL;
	free(p);
	return r;
}

static cJSON *stage_config(const struct ade_streamer *s, const struct sstage *t,
			   const struct ade_template_vars *v, struct ade_error *err)
{
	cJSON *cfg = ade_template_render_json(t->def->with, v, err);
	if (!cfg)
		return NULL;
	if (kinds[t->k].kind == K_INGEST) {
		/* The batch is the source; the day's types are fixed by hints. */
		cJSON_DeleteItemFromObjectCaseSensitive(cfg, "source");
		if (s->o.hints && cJSON_GetArraySize(s->o.hints)) {
			cJSON *h = cJSON_GetObjectItemCaseSensitive(cfg, "schema_hints");
			if (!h)
				h = cJSON_AddObjectToObject(cfg, "schema_hints");
			const cJSON *e;
			cJSON_ArrayForEach(e, s->o.hints)
				if (!cJSON_GetObjectItemCaseSensitive(h, e->string))
					cJSON_AddItemToObject(h, e->string, cJSON_Duplicate(e, 1));
		}
	}
	/* The day's statistics for every batch; the stage's own baseline: wins. */
	if (kinds[t->k].kind == K_QUALITY && s->baseline &&
	    !cJSON_GetObjectItemCaseSensitive(cfg, "baseline"))
		cJSON_AddStringToObject(cfg, "baseline", s->baseline);
	return cfg;
}

int ade_streamer_run(struct ade_streamer *s, int64_t batch, struct ade_batch_stats *bs,
		     int *exit_code, struct ade_error *err)
{
	char bt[32], is[21], ie[21], nodash[9];
	int32_t days = 0;
	int rc = 0, level = ade_log_level_current;
	char *wpath = ade_xasprintf("%s/warehouse.db", s->o.home);
	struct ade_warehouse_input *ins = NULL;
	cJSON *report = NULL;

	memset(bs, 0, sizeof(*bs));
	bs->rows_in = s->rows_in;
	bs->dups_skipped = s->dups;
	*exit_code = ADE_EXIT_FAILED;
	snprintf(bt, sizeof(bt), "%" PRId64, batch);
	ade_date_parse(s->o.ds, &days, NULL);
	ade_date_interval(days, is, ie);
	ade_date_format_nodash(days, nodash);
	struct ade_template_vars v = {.ds = s->o.ds, .ds_nodash = nodash, .interval_start = is,
				      .interval_end = ie, .run_id = s->o.run_id, .batch = bt,
				      .home = s->o.home, .params = s->o.p->params};

	if (s->rows_in == s->dups) {
		/* Every record's key was loaded by an earlier batch: nothing to load. */
		*exit_code = 0;
		free(wpath);
		return 0;
	}
	int64_t tp = ade_now_mono_ns(), tn;
	int m = s->mem && s->buf.len <= MEM_BATCH_MAX;
	const char *work = m ? s->mem_work : s->o.work;
	for (int i = 0; i < s->n; i++)
		s->st[i].dir = s->st[i].dirs[m];
	if ((rc = ade_fs_remove_tree(work, err)) || (rc = ade_fs_mkdirs(work, err)) ||
	    (rc = ade_fs_write_atomic(s->csv_paths[m], s->buf.buf, s->buf.len, err)))
		goto out;
	tn = ade_now_mono_ns();
	bs->phase_ns[ADE_PH_SETUP] += tn - tp;
	tp = tn;
	if (level < ADE_LOG_DEBUG && !s->o.verbose)
		ade_log_set_level(ADE_LOG_ERROR);
	clear_inputs();
	for (int i = 0; i < s->n; i++) {
		struct sstage *t = &s->st[i];
		if (kinds[t->k].kind == K_WAREHOUSE)
			break;
		if ((rc = ade_fs_mkdirs(t->dir, err)))
			goto out;
		if (i > 0) {
			if (i > 1)
				unsetenv(s->st[i - 2].env_name);
			setenv(s->st[i - 1].env_name, s->st[i - 1].dir, 1);
		}
		struct ade_stage_ctx ctx = {
			.pipeline = s->o.p->name, .stage = t->def->name, .ds = s->o.ds,
			.interval_start = is, .interval_end = ie, .run_id = s->o.run_id,
			.batch = bt, .home = s->o.home, .warehouse = wpath, .out = t->dir,
			.source = kinds[t->k].kind == K_INGEST ? s->csv_paths[m] : NULL, .attempt = 1,
			.pipeline_file = s->o.p->path,
		};
		if (!(ctx.config = stage_config(s, t, &v, err))) {
			rc = err->code ? err->code : ADE_EINVAL;
			goto out;
		}
		/*
		 * result.json names its producer after the program
		 * (program_invocation_short_name), which the warehouse
		 * dispatches on: in-process, the stage's executable name.
		 */
		char *prog = program_invocation_short_name;
		program_invocation_short_name = (char *)kinds[t->k].exe;
		if (kinds[t->k].kind == K_QUALITY && s->keys_format == ADE_STREAM_KEYS_TYPED) {
			/* The day's rows so far: cross-batch duplicates are quality's to remove. */
			s->qs.day = &s->seen;
			rc = ade_quality_run_seen(&ctx, &s->qs, err);
			bs->dups_earlier = s->qs.dups_day;
		} else {
			rc = kinds[t->k].run(&ctx, err);
		}
		program_invocation_short_name = prog;
		cJSON_Delete(ctx.config);
		tn = ade_now_mono_ns();
		bs->phase_ns[kind_phase[kinds[t->k].kind]] += tn - tp;
		tp = tn;
		if (rc) {
			*exit_code = kinds[t->k].exit_code(rc);
			char msg[ADE_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			ade_error_set(err, rc, "batch %s: stage %s: %s", bt, t->def->name, msg);
			goto out;
		}
		if (kinds[t->k].kind == K_INGEST || kinds[t->k].kind == K_QUALITY) {
			cJSON *r = read_result(t->dir);
			int64_t qin = 0;
			if (kinds[t->k].kind == K_INGEST) {
				bs->quarantined = (int64_t)ade_json_num(r, "rows_quarantined", 0);
			} else {
				bs->duplicates = (int64_t)ade_json_num(
					cJSON_GetObjectItemCaseSensitive(r, "metrics"),
					"duplicates_removed", 0);
				qin = (int64_t)ade_json_num(r, "rows_in", -1);
			}
			cJSON_Delete(r);
			/*
			 * Every record of the batch reached quality and each
			 * is a copy of an earlier batch's row: nothing to load,
			 * and nothing to check (an empty frame would fail
			 * validate's row_count).  What the raw-keys format did
			 * before ingest; the batch is committed with its count
			 * in dups_earlier.
			 */
			if (kinds[t->k].kind == K_QUALITY && s->rows_in > 0 &&
			    qin == s->rows_in && s->qs.dups_day == s->rows_in) {
				clear_inputs();
				goto committed;
			}
		}
	}
	clear_inputs();
	if (s->wh >= 0) {
		struct ade_warehouse_load ld = {0};
		char *frame = s->facts >= 0 ? ade_xasprintf("%s/frame", s->st[s->facts].dir) : NULL;
		ins = ade_xcalloc((size_t)s->wh + 1, sizeof(*ins));
		for (int i = 0; i < s->wh; i++)
			ins[i] = (struct ade_warehouse_input){s->st[i].def->name, s->st[i].dir};
		ld.pipeline = s->o.p->name;
		ld.ds = s->o.ds;
		ld.batch = bt;
		ld.run_id = s->o.run_id;
		ld.table = frame ? s->table : NULL;
		ld.facts_dir = frame;
		ld.facts_stage = s->facts >= 0 ? s->st[s->facts].def->name : NULL;
		ld.indexes = s->indexes;
		ld.inputs = ins;
		ld.n_inputs = s->wh;
		ld.rows_per_insert = s->rows_per_insert;
		report = cJSON_CreateObject();
		tp = ade_now_mono_ns();
		rc = ade_warehouse_load(s->db, &ld, report, err);
		free(frame);
		tn = ade_now_mono_ns();
		bs->phase_ns[ADE_PH_LOAD] += tn - tp;
		tp = tn;
		if (rc) {
			*exit_code = rc == ADE_EBUSY ? ADE_EXIT_TEMPFAIL : ADE_EXIT_FAILED;
			char msg[ADE_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			ade_error_set(err, rc, "batch %s: stage %s: %s", bt, s->st[s->wh].def->name, msg);
			goto out;
		}
		bs->rows_loaded = (int64_t)ade_json_num(
			cJSON_GetObjectItemCaseSensitive(report, "facts"), "rows", 0);
	}
committed:
	/* Committed: the keys of its records that reached ade-quality are the day's now. */
	tp = ade_now_mono_ns();
	if (s->keys_format == ADE_STREAM_KEYS_TYPED)
		seen_add_kept(s);
	else if (s->nkeys)
		seen_add_batch(s);
	bs->phase_ns[ADE_PH_KEYS] += ade_now_mono_ns() - tp;
out:
	ade_log_set_level(level);
	cJSON_Delete(report);
	free(ins);
	free(wpath);
	if (!rc)
		*exit_code = 0;
	return rc;
}

/* ---------------- the day's types ---------------- */

cJSON *ade_stream_hints_from_schema(const char *schema_json)
{
	cJSON *sch = NULL, *h, *c;

	if (ade_json_read_file(schema_json, &sch, NULL))
		return NULL;
	h = cJSON_CreateObject();
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(sch, "columns"))
	{
		const char *name = ade_json_str(c, "name", NULL), *type = ade_json_str(c, "type", NULL);
		if (name && type && !cJSON_GetObjectItemCaseSensitive(h, name))
			cJSON_AddStringToObject(h, name, type);
	}
	cJSON_Delete(sch);
	return h;
}

cJSON *ade_streamer_infer_hints(const struct ade_streamer_opts *o, const char *csv_path,
				const char *dir, struct ade_error *err)
{
	struct ade_stage_def *def = NULL;
	char is[21], ie[21], nodash[9];
	int32_t days = 0;
	cJSON *hints = NULL;

	for (int i = 0; i < o->p->n_stages && !def; i++)
		if (kind_of(&o->p->stages[i]) >= 0 &&
		    kinds[kind_of(&o->p->stages[i])].kind == K_INGEST)
			def = &o->p->stages[i];
	if (!def) {
		ade_error_set(err, ADE_EINVAL, "%s: no ade-ingest stage", o->p->path);
		return NULL;
	}
	ade_date_parse(o->ds, &days, NULL);
	ade_date_interval(days, is, ie);
	ade_date_format_nodash(days, nodash);
	struct ade_template_vars v = {.ds = o->ds, .ds_nodash = nodash, .interval_start = is,
				      .interval_end = ie, .run_id = o->run_id, .batch = NULL,
				      .home = o->home, .params = o->p->params};
	struct ade_stage_ctx ctx = {
		.pipeline = o->p->name, .stage = def->name, .ds = o->ds, .interval_start = is,
		.interval_end = ie, .run_id = o->run_id, .home = o->home, .out = dir,
		.source = csv_path, .attempt = 1, .pipeline_file = o->p->path,
	};
	if (ade_fs_remove_tree(dir, err) || ade_fs_mkdirs(dir, err))
		return NULL;
	if (!(ctx.config = ade_template_render_json(def->with, &v, err)))
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(ctx.config, "source");
	/* A sample never fails on its quarantine rate. */
	cJSON_DeleteItemFromObjectCaseSensitive(ctx.config, "thresholds");
	int level = ade_log_level_current;
	if (level < ADE_LOG_DEBUG)
		ade_log_set_level(ADE_LOG_ERROR);
	int rc = ade_ingest_run(&ctx, err);
	ade_log_set_level(level);
	cJSON_Delete(ctx.config);
	if (!rc) {
		char *p = ade_xasprintf("%s/frame/schema.json", dir);
		hints = ade_stream_hints_from_schema(p);
		free(p);
		if (!hints)
			ade_error_set(err, ADE_EIO, "%s: no schema after inference", dir);
	}
	ade_fs_remove_tree(dir, NULL);
	return hints;
}
