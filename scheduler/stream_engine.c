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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

extern char **environ;

enum kind { K_INGEST, K_SCHEMA, K_QUALITY, K_VALIDATE, K_WAREHOUSE };

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
	char *dir;      /* work/<name> */
};

/* A set of 128-bit hashes with lookup (open addressing, linear probing). */
struct keyset {
	uint64_t *slots;
	size_t mask, count;
};

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
	char *describe;
	char *csv_path;
	/* Cross-batch duplicate keys. */
	char **keys;      /* key column names (from quality's keys:) */
	int nkeys;
	int *key_idx;     /* their positions in the current header, -1 missing */
	size_t nfields;
	struct keyset seen;
	/* The batch being built. */
	struct ade_strbuf buf;
	int64_t rows_in, dups;
};

/* ---------------- key set ---------------- */

static void ks_grow(struct keyset *k);

static int ks_find(const struct keyset *k, uint64_t lo, uint64_t hi, size_t *pos)
{
	if (!k->slots)
		return 0;
	if (!lo && !hi)
		lo = 1;
	for (size_t i = (size_t)lo & k->mask;; i = (i + 1) & k->mask) {
		uint64_t a = k->slots[2 * i], b = k->slots[2 * i + 1];
		if (!a && !b) {
			*pos = i;
			return 0;
		}
		if (a == lo && b == hi)
			return 1;
	}
}

static void ks_insert(struct keyset *k, uint64_t lo, uint64_t hi)
{
	size_t pos;

	if (!lo && !hi)
		lo = 1;
	if (!k->slots || (k->count + 1) * 10 > (k->mask + 1) * 6)
		ks_grow(k);
	if (ks_find(k, lo, hi, &pos))
		return;
	k->slots[2 * pos] = lo;
	k->slots[2 * pos + 1] = hi;
	k->count++;
}

static void ks_grow(struct keyset *k)
{
	struct keyset n = {0};
	size_t cap = k->slots ? (k->mask + 1) * 2 : 4096;

	n.slots = ade_xcalloc(cap * 2, sizeof(uint64_t));
	n.mask = cap - 1;
	if (k->slots)
		for (size_t i = 0; i <= k->mask; i++)
			if (k->slots[2 * i] || k->slots[2 * i + 1]) {
				size_t pos;
				ks_find(&n, k->slots[2 * i], k->slots[2 * i + 1], &pos);
				n.slots[2 * pos] = k->slots[2 * i];
				n.slots[2 * pos + 1] = k->slots[2 * i + 1];
				n.count++;
			}
	free(k->slots);
	*k = n;
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

int ade_streamer_open(const struct ade_streamer_opts *o, struct ade_streamer **out,
		      struct ade_error *err)
{
	struct ade_streamer *s = ade_xcalloc(1, sizeof(*s));
	struct ade_strbuf d = ADE_STRBUF_INIT;
	const char **names = NULL;
	int n = 0, rc;

	s->o = *o;
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
		s->st[s->n].dir = ade_xasprintf("%s/%s", o->work, def->name);
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
	s->csv_path = ade_xasprintf("%s/input.csv", o->work);
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
	for (int i = 0; i < s->n; i++) {
		free(s->st[i].env_name);
		free(s->st[i].dir);
	}
	free(s->st);
	sqlite3_close(s->db);
	free(s->describe);
	free(s->csv_path);
	free(s->keys);
	free(s->key_idx);
	free(s->seen.slots);
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

	if (!s->nkeys || !s->db || s->facts < 0)
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
	ade_strbuf_adds(&q, batch >= 0 ? " WHERE pipeline=?1 AND ds=?2 AND batch=?3"
				       : " WHERE pipeline=?1 AND ds=?2 AND batch<>''");
	if (sqlite3_prepare_v2(s->db, q.buf, -1, &st, NULL) != SQLITE_OK) {
		/* A key column the facts table lacks: nothing to compare with. */
		ade_log_debug("stream: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, s->o.p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->o.ds, -1, SQLITE_STATIC);
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
	/* Only well-formed records are compared; the others go to ingest's quarantine. */
	if (s->nkeys && s->seen.count && rec->status == ADE_CSV_OK && rec->nfields == s->nfields) {
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
			size_t pos;
			key_hash(&k, &lo, &hi);
			if (ks_find(&s->seen, lo, hi, &pos)) {
				ade_strbuf_release(&k);
				s->dups++;
				return;
			}
		}
		ade_strbuf_release(&k);
	}
	ade_strbuf_add(&s->buf, rec->raw, rec->raw_len);
	ade_strbuf_addc(&s->buf, '\n');
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
	if ((rc = ade_fs_remove_tree(s->o.work, err)) || (rc = ade_fs_mkdirs(s->o.work, err)) ||
	    (rc = ade_fs_write_atomic(s->csv_path, s->buf.buf, s->buf.len, err)))
		goto out;
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
			.source = kinds[t->k].kind == K_INGEST ? s->csv_path : NULL, .attempt = 1,
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
		rc = kinds[t->k].run(&ctx, err);
		program_invocation_short_name = prog;
		cJSON_Delete(ctx.config);
		if (rc) {
			*exit_code = kinds[t->k].exit_code(rc);
			char msg[ADE_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			ade_error_set(err, rc, "batch %s: stage %s: %s", bt, t->def->name, msg);
			goto out;
		}
		if (kinds[t->k].kind == K_INGEST || kinds[t->k].kind == K_QUALITY) {
			cJSON *r = read_result(t->dir);
			if (kinds[t->k].kind == K_INGEST)
				bs->quarantined = (int64_t)ade_json_num(r, "rows_quarantined", 0);
			else
				bs->duplicates = (int64_t)ade_json_num(
					cJSON_GetObjectItemCaseSensitive(r, "metrics"),
					"duplicates_removed", 0);
			cJSON_Delete(r);
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
		rc = ade_warehouse_load(s->db, &ld, report, err);
		free(frame);
		if (rc) {
			*exit_code = rc == ADE_EBUSY ? ADE_EXIT_TEMPFAIL : ADE_EXIT_FAILED;
			char msg[ADE_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			ade_error_set(err, rc, "batch %s: stage %s: %s", bt, s->st[s->wh].def->name, msg);
			goto out;
		}
		bs->rows_loaded = (int64_t)ade_json_num(
			cJSON_GetObjectItemCaseSensitive(report, "facts"), "rows", 0);
		/* Committed: its keys now count as loaded. */
		rc = add_keys(s, batch, NULL, 0, err);
	}
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
