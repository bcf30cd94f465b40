/*
 * ade-schema, the stage: configuration, baseline lookup (contract, file,
 * warehouse), the output frame (hard links plus generated columns) and
 * result.json.  See schema.h and docs/schema.md.
 */
#include "schema.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

struct cfg {
	enum ade_schema_policy policy;
	const char *dataset;
	const char *baseline_path;
	double threshold;
	int top_k;
	const cJSON *columns;  /* contract, or NULL */
	const cJSON *required; /* array of names, or NULL */
};

static const char *policy_name(enum ade_schema_policy p)
{
	return p == ADE_SCHEMA_FAIL ? "fail" : p == ADE_SCHEMA_EVOLVE ? "evolve" : "heal";
}

/* ---- configuration ---- */

static int parse_config(const struct ade_stage_ctx *ctx, struct cfg *c, struct ade_error *err)
{
	static const char *keys[] = {"on_change", "columns", "required", "baseline", "dataset",
				     "rename_threshold", "top_values", "input"};
	const cJSON *cfg = ctx->config, *e;
	char ptr[256];

	memset(c, 0, sizeof(*c));
	c->policy = ADE_SCHEMA_FAIL;
	c->dataset = ctx->pipeline;
	c->threshold = 0.9;
	c->top_k = 10;
	for (e = cfg->child; e; e = e->next) {
		size_t k, n = sizeof(keys) / sizeof(keys[0]);
		for (k = 0; k < n && strcmp(e->string, keys[k]); k++)
			;
		if (k == n) {
			snprintf(ptr, sizeof(ptr), "/%s", e->string);
			return ade_stage_config_error(ctx, err, ptr,
				"unknown key '%s' (ade-schema takes on_change, columns, required, baseline, dataset, rename_threshold, top_values, input)",
				e->string);
		}
	}
	if ((e = cJSON_GetObjectItem(cfg, "on_change"))) {
		const char *v = cJSON_GetStringValue(e);
		if (v && !strcmp(v, "fail"))
			c->policy = ADE_SCHEMA_FAIL;
		else if (v && !strcmp(v, "evolve"))
			c->policy = ADE_SCHEMA_EVOLVE;
		else if (v && !strcmp(v, "heal"))
			c->policy = ADE_SCHEMA_HEAL;
		else
			return ade_stage_config_error(ctx, err, "/on_change",
						      "on_change must be fail, evolve or heal");
	}
	if ((e = cJSON_GetObjectItem(cfg, "dataset"))) {
		if (!cJSON_IsString(e) || !*e->valuestring)
			return ade_stage_config_error(ctx, err, "/dataset",
						      "dataset must be a non-empty string");
		c->dataset = e->valuestring;
	}
	if ((e = cJSON_GetObjectItem(cfg, "baseline"))) {
		if (!cJSON_IsString(e) || !*e->valuestring)
			return ade_stage_config_error(ctx, err, "/baseline",
						      "baseline must be the path of a schema JSON file");
		c->baseline_path = e->valuestring;
	}
	if ((e = cJSON_GetObjectItem(cfg, "rename_threshold"))) {
		if (!cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble <= 1))
			return ade_stage_config_error(ctx, err, "/rename_threshold",
						      "rename_threshold must be a number in (0, 1]");
		c->threshold = e->valuedouble;
	}
	if ((e = cJSON_GetObjectItem(cfg, "top_values"))) {
		if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
		    e->valuedouble < 0 || e->valuedouble > 100)
			return ade_stage_config_error(ctx, err, "/top_values",
						      "top_values must be an integer from 0 to 100");
		c->top_k = (int)e->valuedouble;
	}
	if ((e = cJSON_GetObjectItem(cfg, "required"))) {
		int i = 0;
		const cJSON *r;
		if (!cJSON_IsArray(e))
			return ade_stage_config_error(ctx, err, "/required",
						      "required must be a list of column names");
		cJSON_ArrayForEach(r, e) {
			if (!cJSON_IsString(r) || !*r->valuestring) {
				snprintf(ptr, sizeof(ptr), "/required/%d", i);
				return ade_stage_config_error(ctx, err, ptr,
							      "a required column must be a non-empty name");
			}
			i++;
		}
		c->required = e;
	}
	if ((e = cJSON_GetObjectItem(cfg, "columns"))) {
		int i = 0;
		const cJSON *col;
		if (!cJSON_IsArray(e))
			return ade_stage_config_error(ctx, err, "/columns",
				"columns must be a list of {name, type, required, nullable}");
		cJSON_ArrayForEach(col, e) {
			const cJSON *f;
			snprintf(ptr, sizeof(ptr), "/columns/%d", i);
			if (!cJSON_IsObject(col))
				return ade_stage_config_error(ctx, err, ptr,
					"a contract column must be a mapping {name, type, required, nullable}");
			for (f = col->child; f; f = f->next)
				if (strcmp(f->string, "name") && strcmp(f->string, "type") &&
				    strcmp(f->string, "required") && strcmp(f->string, "nullable") &&
				    strcmp(f->string, "description")) {
					snprintf(ptr, sizeof(ptr), "/columns/%d/%s", i, f->string);
					return ade_stage_config_error(ctx, err, ptr,
						"unknown key '%s' in a contract column (name, type, required, nullable, description)",
						f->string);
				}
			f = cJSON_GetObjectItem(col, "name");
			snprintf(ptr, sizeof(ptr), "/columns/%d/name", i);
			if (!cJSON_IsString(f) || !*f->valuestring)
				return ade_stage_config_error(ctx, err, cJSON_IsString(f) ? ptr : (snprintf(ptr, sizeof(ptr), "/columns/%d", i), ptr),
							      "a contract column needs a non-empty name");
			for (const cJSON *o = e->child; o != col; o = o->next)
				if (!strcmp(ade_json_str(o, "name", ""), f->valuestring))
					return ade_stage_config_error(ctx, err, ptr,
								      "column '%s' is listed twice",
								      f->valuestring);
			if ((f = cJSON_GetObjectItem(col, "type"))) {
				enum ade_type t;
				snprintf(ptr, sizeof(ptr), "/columns/%d/type", i);
				if (!cJSON_IsString(f) || ade_type_parse(f->valuestring, &t))
					return ade_stage_config_error(ctx, err, ptr,
						"type must be one of int64, float64, bool, date, timestamp, categorical, string");
			}
			if ((f = cJSON_GetObjectItem(col, "required")) && !cJSON_IsBool(f)) {
				snprintf(ptr, sizeof(ptr), "/columns/%d/required", i);
				return ade_stage_config_error(ctx, err, ptr, "required must be true or false");
			}
			if ((f = cJSON_GetObjectItem(col, "nullable")) && !cJSON_IsBool(f)) {
				snprintf(ptr, sizeof(ptr), "/columns/%d/nullable", i);
				return ade_stage_config_error(ctx, err, ptr, "nullable must be true or false");
			}
			i++;
		}
		c->columns = e;
	}
	return 0;
}

/* ---- baselines ---- */

/*
 * A schema object from any of the JSON documents a user may point at:
 * a schema ({"columns": [...]}), a result.json of ade-schema ({"schema":
 * {...}}) or a frame's schema.json (columns with null_count, no
 * nullable).  Returns a new normalised object or NULL.
 */
static cJSON *normalise_schema(const cJSON *doc)
{
	const cJSON *s = doc, *cols, *c;
	cJSON *out, *arr;
	int pos = 0;

	if (cJSON_IsObject(cJSON_GetObjectItem(doc, "schema")))
		s = cJSON_GetObjectItem(doc, "schema");
	cols = cJSON_GetObjectItem(s, "columns");
	if (!cJSON_IsArray(cols))
		return NULL;
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "columns");
	cJSON_ArrayForEach(c, cols) {
		if (!cJSON_IsString(cJSON_GetObjectItem(c, "name")))
			continue;
		cJSON *o = cJSON_CreateObject();
		const cJSON *st = cJSON_GetObjectItem(c, "stats");
		cJSON_AddStringToObject(o, "name", ade_json_str(c, "name", ""));
		if (ade_json_str(c, "type", NULL))
			cJSON_AddStringToObject(o, "type", ade_json_str(c, "type", NULL));
		if (cJSON_IsBool(cJSON_GetObjectItem(c, "nullable")))
			cJSON_AddBoolToObject(o, "nullable", ade_json_bool(c, "nullable", 0));
		else if (cJSON_IsNumber(cJSON_GetObjectItem(c, "null_count")))
			cJSON_AddBoolToObject(o, "nullable", ade_json_num(c, "null_count", 0) > 0);
		if (ade_json_bool(c, "required", 0))
			cJSON_AddBoolToObject(o, "required", 1);
		cJSON_AddNumberToObject(o, "position", ade_json_num(c, "position", pos));
		cJSON *nst = cJSON_IsObject(st) ? cJSON_Duplicate(st, 1) : cJSON_CreateObject();
		/* A frame schema keeps rows and null_count outside stats. */
		if (!cJSON_GetObjectItem(nst, "rows") && cJSON_IsNumber(cJSON_GetObjectItem(s, "rows")))
			cJSON_AddNumberToObject(nst, "rows", ade_json_num(s, "rows", 0));
		if (!cJSON_GetObjectItem(nst, "null_count") &&
		    cJSON_IsNumber(cJSON_GetObjectItem(c, "null_count")))
			cJSON_AddNumberToObject(nst, "null_count", ade_json_num(c, "null_count", 0));
		cJSON_AddItemToObject(o, "stats", nst);
		cJSON_AddItemToArray(arr, o);
		pos++;
	}
	return out;
}

struct history {
	cJSON *schema; /* normalised, or NULL */
	char ds[32];
	int version;
	char hash[80];
};

/*
 * The latest version of (pipeline, dataset) for a date before ds, read
 * only, when the warehouse and its schema_versions table exist.
 */
static int read_warehouse(const char *path, const char *pipeline, const char *dataset,
			  const char *ds, struct history *h, struct ade_error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0, src;

	if (!path || !ade_fs_exists(path))
		return 0;
	src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (src != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "cannot open warehouse '%s': %s", path,
				   db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
		goto out;
	}
	/* Loads of parallel backfills hold the write lock briefly (WAL). */
	sqlite3_busy_timeout(db, 10000);
	src = sqlite3_prepare_v2(db,
				 "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'",
				 -1, &st, NULL);
	if (src != SQLITE_OK)
		goto dberr;
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (src == SQLITE_DONE)
		goto out; /* no table yet: no history */
	if (src != SQLITE_ROW)
		goto dberr;
	src = sqlite3_prepare_v2(db,
				 "SELECT ds, version, hash, schema_json FROM schema_versions "
				 "WHERE pipeline = ?1 AND dataset = ?2 AND ds < ?3 "
				 "ORDER BY ds DESC LIMIT 1",
				 -1, &st, NULL);
	if (src != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ds, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const char *rds = (const char *)sqlite3_column_text(st, 0);
		const char *hash = (const char *)sqlite3_column_text(st, 2);
		const char *js = (const char *)sqlite3_column_text(st, 3);
		cJSON *doc = NULL;
		snprintf(h->ds, sizeof(h->ds), "%s", rds ? rds : "");
		h->version = sqlite3_column_int(st, 1);
		snprintf(h->hash, sizeof(h->hash), "%s", hash ? hash : "");
		if (js && !ade_json_parse("schema_versions.schema_json", js, strlen(js), &doc, NULL)) {
			h->schema = normalise_schema(doc);
			cJSON_Delete(doc);
		}
		if (!h->schema) {
			rc = ade_error_set(err, ADE_EDB,
					   "warehouse '%s': schema_versions row for %s/%s/%s holds no schema",
					   path, pipeline, dataset, h->ds);
			goto out;
		}
	} else if (src != SQLITE_DONE) {
		goto dberr;
	}
	goto out;
dberr:
	rc = ade_error_set(err, ADE_EDB, "warehouse '%s': %s", path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static const cJSON *find_col(const cJSON *schema, const char *name)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(schema, "columns"))
		if (!strcmp(ade_json_str(c, "name", ""), name))
			return c;
	return NULL;
}

/* The contract as a baseline; statistics and observed types from history. */
static cJSON *contract_baseline(const cJSON *columns, const cJSON *hist)
{
	cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "columns");
	const cJSON *c;
	int pos = 0;

	cJSON_ArrayForEach(c, columns) {
		const char *name = ade_json_str(c, "name", "");
		const cJSON *h = hist ? find_col(hist, name) : NULL;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		if (ade_json_str(c, "type", NULL))
			cJSON_AddStringToObject(o, "type", ade_json_str(c, "type", NULL));
		else if (h && ade_json_str(h, "type", NULL))
			cJSON_AddStringToObject(o, "type", ade_json_str(h, "type", NULL));
		if (cJSON_IsBool(cJSON_GetObjectItem(c, "nullable"))) {
			cJSON_AddBoolToObject(o, "nullable", ade_json_bool(c, "nullable", 1));
			cJSON_AddBoolToObject(o, "contract", 1);
		} else if (h && cJSON_IsBool(cJSON_GetObjectItem(h, "nullable"))) {
			cJSON_AddBoolToObject(o, "nullable", ade_json_bool(h, "nullable", 1));
		}
		/* A contract lists what consumers depend on: required unless said. */
		cJSON_AddBoolToObject(o, "required", ade_json_bool(c, "required", 1));
		cJSON_AddNumberToObject(o, "position", pos++);
		if (h && cJSON_GetObjectItem(h, "stats"))
			cJSON_AddItemToObject(o, "stats",
					      cJSON_Duplicate(cJSON_GetObjectItem(h, "stats"), 1));
		cJSON_AddItemToArray(arr, o);
	}
	return out;
}

/* ---- the output frame ---- */

/* The writer's file stem rule (docs/frames.md, "File stems"). */
static char *make_stem(char **stems, int n, const char *name)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;

	for (const char *p = name; *p && sb.len < 100; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '-';
		ade_strbuf_addc(&sb, ok ? c : '_');
	}
	if (!sb.len)
		ade_strbuf_adds(&sb, "col");
	int clash = !strcasecmp(sb.buf, "schema");
	for (int i = 0; i < n && !clash; i++)
		clash = !strcasecmp(stems[i], sb.buf);
	if (clash)
		ade_strbuf_addf(&sb, "_%d", n);
	return ade_strbuf_detach(&sb);
}

struct linker {
	int linked, copied;
};

static int copy_file(const char *from, const char *to, struct ade_error *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	char *buf = NULL;

	if (in < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", to, strerror(errno));
		goto done;
	}
	buf = ade_xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(in, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ade_error_set(err, ADE_EIO, "cannot read '%s': %s", from, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", to,
						   strerror(errno));
				goto done;
			}
			off += w;
		}
	}
done:
	free(buf);
	if (out >= 0 && close(out) < 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", to, strerror(errno));
	close(in);
	return rc;
}

/* Hard-links a column file, copying only when the file system refuses links. */
static int link_file(struct linker *L, const char *from, const char *to, struct ade_error *err)
{
	if (link(from, to) == 0) {
		L->linked++;
		return 0;
	}
	if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
		return ade_error_set(err, ADE_EIO, "cannot link '%s' to '%s': %s", from, to,
				     strerror(errno));
	L->copied++;
	return copy_file(from, to, err);
}

/*
 * The XXH3-128 digest of a file's content after its .npy header (the
 * whole file when npy is 0), and its size.
 */
static int file_digest(const char *path, int npy, uint8_t dg[16], int64_t *size,
		       struct ade_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	XXH3_state_t *h;
	char *buf;
	int64_t total = 0;
	size_t skip = 0;

	if (fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", path, strerror(errno));
	h = XXH3_createState();
	XXH3_128bits_reset(h);
	buf = ade_xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ade_error_set(err, ADE_EIO, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		size_t off = 0;
		if (npy && total == 0) {
			/* Headers of any 1.0 length: ade_frame_open checked them already. */
			if (n < 10) {
				rc = ade_error_set(err, ADE_EPARSE, "'%s': short .npy file", path);
				break;
			}
			skip = 10 + ((size_t)(unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8);
		}
		if ((size_t)total < skip)
			off = skip - (size_t)total < (size_t)n ? skip - (size_t)total : (size_t)n;
		XXH3_128bits_update(h, buf + off, (size_t)n - off);
		total += n;
	}
	XXH128_canonical_t canon;
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h));
	memcpy(dg, canon.digest, 16);
	XXH3_freeState(h);
	free(buf);
	close(fd);
	*size = total;
	return rc;
}

/* Where an output column's data comes from. */
struct src {
	const struct ade_frame *f;
	int col;
	const char *name; /* output name */
};

struct out_info {
	int64_t rows, bytes;
	char hash[64];
	cJSON *columns; /* schema.json's columns; caller's */
};

/*
 * Builds dir from the given columns: their files linked under the
 * output names' stems, schema.json written (extra members of base kept),
 * then renamed into place.
 */
static int write_linked_frame(const char *dir, const struct src *cols, int n, int64_t rows,
			      const cJSON *base, struct linker *L, struct out_info *info,
			      struct ade_error *err)
{
	static const struct { const char *key, *suffix; int npy; } files[] = {
		{"data", ".npy", 1}, {"offsets", ".offsets.npy", 1}, {"bytes", ".bytes", 0},
		{"valid", ".valid.npy", 1}, {"dict", ".dict.json", 0}};
	char *tmp = ade_xasprintf("%s.tmp-%ld", dir, (long)getpid());
	char **stems = ade_xcalloc((size_t)n + 1, sizeof(char *));
	XXH3_state_t *all = XXH3_createState();
	cJSON *schema = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	int64_t total = 0;
	int rc = 0;

	XXH3_128bits_reset(all);
	ade_fs_remove_tree(tmp, NULL);
	if (mkdir(tmp, 0755) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	for (int i = 0; i < n && !rc; i++) {
		const struct ade_frame *f = cols[i].f;
		const cJSON *scol = cJSON_GetArrayItem(cJSON_GetObjectItem(f->schema, "columns"),
						       cols[i].col);
		const cJSON *sfiles = cJSON_GetObjectItem(scol, "files");
		cJSON *col = cJSON_Duplicate(scol, 1);
		cJSON *nfiles = cJSON_CreateObject();
		const char *type = ade_type_name(f->cols[cols[i].col].type);

		stems[i] = make_stem(stems, i, cols[i].name);
		cJSON_ReplaceItemInObject(col, "name", cJSON_CreateString(cols[i].name));
		XXH3_128bits_update(all, cols[i].name, strlen(cols[i].name) + 1);
		XXH3_128bits_update(all, type, strlen(type) + 1);
		for (size_t k = 0; k < sizeof(files) / sizeof(files[0]) && !rc; k++) {
			const char *fn = ade_json_str(sfiles, files[k].key, NULL);
			if (!fn)
				continue;
			char *from = ade_xasprintf("%s/%s", f->dir, fn);
			char *name = ade_xasprintf("%s%s", stems[i], files[k].suffix);
			char *to = ade_xasprintf("%s/%s", tmp, name);
			uint8_t dg[16];
			int64_t size = 0;
			rc = link_file(L, from, to, err);
			if (!rc)
				rc = file_digest(to, files[k].npy, dg, &size, err);
			if (!rc) {
				total += size;
				if (strcmp(files[k].key, "dict")) {
					XXH3_128bits_update(all, dg, 16);
				} else {
					/* The frame hash takes dict.json's bytes themselves. */
					char *text = NULL;
					size_t len = 0;
					rc = ade_fs_read_all(to, (size_t)1 << 30, &text, &len, err);
					if (!rc)
						XXH3_128bits_update(all, text, len);
					free(text);
				}
				cJSON_AddStringToObject(nfiles, files[k].key, name);
			}
			free(from);
			free(name);
			free(to);
		}
		cJSON_ReplaceItemInObject(col, "files", nfiles);
		cJSON_AddItemToArray(arr, col);
	}
	if (rc)
		goto out;
	{
		XXH128_hash_t h = XXH3_128bits_digest(all);
		snprintf(info->hash, sizeof(info->hash), "xxh3-128:%016llx%016llx",
			 (unsigned long long)h.high64, (unsigned long long)h.low64);
	}
	cJSON_AddStringToObject(schema, "format", "ade-frame");
	cJSON_AddNumberToObject(schema, "version", 1);
	cJSON_AddNumberToObject(schema, "rows", (double)rows);
	cJSON_AddStringToObject(schema, "content_hash", info->hash);
	cJSON_AddNumberToObject(schema, "bytes", (double)total);
	cJSON_AddItemToObject(schema, "columns", arr);
	arr = NULL;
	for (const cJSON *e = base ? base->child : NULL; e; e = e->next)
		if (!cJSON_HasObjectItem(schema, e->string))
			cJSON_AddItemToObject(schema, e->string, cJSON_Duplicate(e, 1));
	{
		char *p = ade_xasprintf("%s/schema.json", tmp);
		rc = ade_json_write_file(p, schema, 1, err);
		free(p);
		if (rc)
			goto out;
	}
	if (rename(tmp, dir) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot rename frame into '%s': %s", dir,
				   strerror(errno));
		goto out;
	}
	info->rows = rows;
	info->bytes = total;
	info->columns = cJSON_Duplicate(cJSON_GetObjectItem(schema, "columns"), 1);
out:
	if (rc)
		ade_fs_remove_tree(tmp, NULL);
	for (int i = 0; i < n; i++)
		free(stems[i]);
	free(stems);
	free(tmp);
	cJSON_Delete(arr);
	cJSON_Delete(schema);
	XXH3_freeState(all);
	return rc;
}

/* Writes a generated column's values: nulls, or a lossless cast to a wider type. */
static void put_generated(struct ade_frame_writer *w, int wc, const struct ade_frame_column *c,
			  enum ade_type to, int64_t i)
{
	if (!c || ade_frame_is_null(c, i)) {
		ade_frame_put_null(w, wc);
		return;
	}
	switch (to) {
	case ADE_TYPE_FLOAT64: /* from int64 */
		ade_frame_put_f64(w, wc, (double)((const int64_t *)c->data)[i]);
		break;
	case ADE_TYPE_TIMESTAMP: /* from date */
		ade_frame_put_i64(w, wc, ((const int64_t *)c->data)[i] * 86400000000LL);
		break;
	case ADE_TYPE_STRING: { /* from categorical */
		size_t len;
		const char *s = ade_frame_str(c, i, &len);
		ade_frame_put_str(w, wc, s, len);
		break;
	}
	default:
		ade_frame_put_null(w, wc);
		break;
	}
}

/* ---- the stage ---- */

static cJSON *dataset_entry(const char *path, int64_t rows, int64_t bytes, const char *hash)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "path", path);
	cJSON_AddStringToObject(d, "format", "ade-frame");
	cJSON_AddNumberToObject(d, "rows", (double)rows);
	cJSON_AddNumberToObject(d, "bytes", (double)bytes);
	cJSON_AddStringToObject(d, "hash", hash);
	return d;
}

static void log_changes(const cJSON *changes)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, changes) {
		const char *action = ade_json_str(c, "action", "");
		const cJSON *from = cJSON_GetObjectItem(c, "from"), *to = cJSON_GetObjectItem(c, "to");
		char *f = from ? cJSON_PrintUnformatted(from) : NULL;
		char *t = to ? cJSON_PrintUnformatted(to) : NULL;
		const char *reason = ade_json_str(c, "reason", NULL);
		int lvl = !strcmp(action, "rejected") ? ADE_LOG_ERROR
			  : !strcmp(action, "info") ? ADE_LOG_INFO : ADE_LOG_WARN;
		ade_log(lvl, "schema change: %s '%s'%s%s%s%s: %s%s%s%s", ade_json_str(c, "kind", ""),
			ade_json_str(c, "column", ""), f ? " from " : "", f ? f : "",
			t ? " to " : "", t ? t : "", action, reason ? " (" : "",
			reason ? reason : "", reason ? ")" : "");
		cJSON_free(f);
		cJSON_free(t);
	}
}

int ade_schema_run(const struct ade_stage_ctx *ctx, struct ade_error *err)
{
	struct cfg cfg;
	const char *indir;
	char *inpath = NULL, *outpath = NULL, *genpath = NULL;
	struct ade_frame *in = NULL, *gen = NULL;
	struct history hist = {0};
	cJSON *cur = NULL, *base = NULL, *report = NULL, *res = NULL, *out_schema = NULL;
	cJSON *file_schema = NULL;
	struct out_info oi = {0};
	struct linker L = {0};
	struct src *srcs = NULL;
	const char *base_source = "none";
	char hash[64], in_hash[64];
	int rc, failed = 0, ngen = 0;
	int64_t t0 = ade_now_mono_ns();

	rc = parse_config(ctx, &cfg, err);
	if (rc)
		return rc;
	rc = ade_stage_main_input(ctx->config, &indir, err);
	if (rc)
		return rc;
	inpath = ade_xasprintf("%s/frame", indir);
	rc = ade_frame_open(inpath, &in, err);
	if (rc)
		goto out;

	/* Baseline: the explicit file, else the warehouse's latest earlier version. */
	if (cfg.baseline_path) {
		cJSON *doc = NULL;
		rc = ade_json_read_file(cfg.baseline_path, &doc, err);
		if (rc)
			goto out;
		file_schema = normalise_schema(doc);
		cJSON_Delete(doc);
		if (!file_schema) {
			rc = ade_error_set(err, ADE_EPARSE, "%s: no \"columns\" list: not a schema",
					   cfg.baseline_path);
			goto out;
		}
	}
	rc = read_warehouse(ctx->warehouse, ctx->pipeline, cfg.dataset, ctx->ds, &hist, err);
	if (rc)
		goto out;
	{
		const cJSON *stats_src = file_schema ? file_schema : hist.schema;
		if (cfg.columns) {
			base = contract_baseline(cfg.columns, stats_src);
			base_source = "contract";
		} else if (file_schema) {
			base = cJSON_Duplicate(file_schema, 1);
			base_source = "file";
		} else if (hist.schema) {
			base = cJSON_Duplicate(hist.schema, 1);
			base_source = "warehouse";
		}
	}
	/* `required:` marks baseline columns; names the baseline lacks are checked below. */
	if (cfg.required && base) {
		const cJSON *r;
		cJSON_ArrayForEach(r, cfg.required) {
			cJSON *c = (cJSON *)find_col(base, r->valuestring);
			if (c) {
				cJSON_DeleteItemFromObject(c, "required");
				cJSON_AddBoolToObject(c, "required", 1);
			}
		}
	}

	int64_t t1 = ade_now_mono_ns();
	cur = ade_schema_profile(in, cfg.top_k);
	int64_t t2 = ade_now_mono_ns();
	ade_schema_hash(cur, in_hash);
	report = ade_schema_compare(base, cur, cfg.policy, cfg.threshold);
	{
		/* Required names that neither the baseline nor the input has. */
		const cJSON *r;
		cJSON *changes = cJSON_GetObjectItem(report, "changes");
		cJSON_ArrayForEach(r, cfg.required) {
			if ((base && find_col(base, r->valuestring)) || find_col(cur, r->valuestring))
				continue;
			cJSON *ch = cJSON_CreateObject();
			cJSON_AddStringToObject(ch, "kind", "removed");
			cJSON_AddStringToObject(ch, "column", r->valuestring);
			cJSON_AddBoolToObject(ch, "required", 1);
			cJSON_AddStringToObject(ch, "action", "rejected");
			cJSON_AddStringToObject(ch, "reason", "required column missing");
			cJSON_AddItemToArray(changes, ch);
			cJSON_ReplaceItemInObject(report, "decision", cJSON_CreateString("failed"));
		}
	}
	failed = !strcmp(ade_json_str(report, "decision", ""), "failed");
	log_changes(cJSON_GetObjectItem(report, "changes"));

	/* The output frame. */
	const cJSON *plan = cJSON_GetObjectItem(report, "plan");
	int nout = cJSON_GetArraySize(plan);
	outpath = ade_xasprintf("%s/frame", ctx->out);
	if (!failed) {
		const cJSON *p;
		struct ade_frame_writer *w = NULL;
		int *wcol = ade_xcalloc((size_t)nout + 1, sizeof(int));
		const struct ade_frame_column **gsrc = ade_xcalloc((size_t)nout + 1, sizeof(*gsrc));
		enum ade_type *gtype = ade_xcalloc((size_t)nout + 1, sizeof(*gtype));
		int k = 0;

		cJSON_ArrayForEach(p, plan) {
			wcol[k] = -1;
			if (ade_json_str(p, "fill", NULL)) {
				if (!w) {
					genpath = ade_xasprintf("%s/.generated", ctx->out);
					rc = ade_frame_writer_open(genpath, &w, err);
					if (rc)
						break;
				}
				ade_type_parse(ade_json_str(p, "type", "string"), &gtype[k]);
				const char *from = ade_json_str(p, "from", NULL);
				gsrc[k] = from ? &in->cols[ade_frame_find(in, from)] : NULL;
				wcol[k] = ade_frame_writer_add(w, ade_json_str(p, "name", ""), gtype[k], err);
				if (wcol[k] < 0) {
					rc = wcol[k];
					break;
				}
				ngen++;
			}
			k++;
		}
		if (!rc && w) {
			/* Generated columns are written row by row: flat memory. */
			for (int64_t i = 0; i < in->rows; i++)
				for (k = 0; k < nout; k++)
					if (wcol[k] >= 0)
						put_generated(w, wcol[k], gsrc[k], gtype[k], i);
			rc = ade_frame_writer_finish(w, NULL, NULL, err);
			if (!rc)
				rc = ade_frame_open(genpath, &gen, err);
		}
		if (w) {
			if (rc)
				ade_frame_writer_abort(w);
			ade_frame_writer_free(w);
		}
		if (!rc) {
			srcs = ade_xcalloc((size_t)nout + 1, sizeof(*srcs));
			k = 0;
			cJSON_ArrayForEach(p, plan) {
				srcs[k].name = ade_json_str(p, "name", "");
				if (wcol[k] >= 0) {
					srcs[k].f = gen;
					srcs[k].col = wcol[k];
				} else {
					srcs[k].f = in;
					srcs[k].col = ade_frame_find(in, ade_json_str(p, "from", ""));
				}
				k++;
			}
			const cJSON *extra = in->schema;
			rc = write_linked_frame(outpath, srcs, nout, in->rows, extra, &L, &oi, err);
		}
		free(wcol);
		free(gsrc);
		free(gtype);
		if (rc)
			goto out;
	}

	/* The output's schema: profiles of the input's columns under their output names. */
	out_schema = cJSON_CreateObject();
	cJSON_AddNumberToObject(out_schema, "rows", (double)in->rows);
	{
		cJSON *arr = cJSON_AddArrayToObject(out_schema, "columns");
		const cJSON *p;
		int k = 0;
		const cJSON *oplan = failed ? NULL : plan;
		cJSON_ArrayForEach(p, oplan) {
			cJSON *col;
			if (srcs[k].f == gen)
				col = ade_schema_profile_column(gen, srcs[k].col, cfg.top_k);
			else
				col = cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(cur, "columns"),
									 srcs[k].col), 1);
			cJSON_ReplaceItemInObject(col, "name", cJSON_CreateString(srcs[k].name));
			cJSON_ReplaceItemInObject(col, "position", cJSON_CreateNumber(k));
			cJSON_AddItemToArray(arr, col);
			k++;
		}
		if (failed) /* nothing written: describe the input as it came */
			cJSON_ReplaceItemInObject(out_schema, "columns",
						  cJSON_Duplicate(cJSON_GetObjectItem(cur, "columns"), 1));
	}
	ade_schema_hash(out_schema, hash);

	/* result.json */
	res = ade_stage_result_new(ctx, failed ? "failed" : "ok");
	cJSON_AddNumberToObject(res, "rows_in", (double)in->rows);
	cJSON_AddNumberToObject(res, "rows_out", failed ? 0 : (double)in->rows);
	cJSON_AddStringToObject(res, "dataset", cfg.dataset);
	cJSON_AddStringToObject(res, "on_change", policy_name(cfg.policy));
	cJSON_AddStringToObject(res, "decision", ade_json_str(report, "decision", ""));
	cJSON_AddStringToObject(res, "schema_hash", hash);
	{
		int version = 1;
		if (hist.schema)
			version = strcmp(hist.hash, hash) ? hist.version + 1 : hist.version;
		cJSON_AddNumberToObject(res, "schema_version", version);
	}
	cJSON_AddItemToObject(res, "schema", out_schema);
	out_schema = NULL;
	cJSON_AddStringToObject(res, "input_schema_hash", in_hash);
	{
		cJSON *b = cJSON_AddObjectToObject(res, "baseline");
		cJSON_AddStringToObject(b, "source", base_source);
		if (cfg.baseline_path)
			cJSON_AddStringToObject(b, "path", cfg.baseline_path);
		if (hist.schema) {
			cJSON *w = cJSON_AddObjectToObject(b, "warehouse");
			cJSON_AddStringToObject(w, "ds", hist.ds);
			cJSON_AddNumberToObject(w, "version", hist.version);
			cJSON_AddStringToObject(w, "hash", hist.hash);
		}
		cJSON_AddStringToObject(b, "stats_from",
					file_schema ? "file" : hist.schema ? "warehouse" : "none");
		if (base) {
			char bh[64];
			ade_schema_hash(base, bh);
			cJSON_AddStringToObject(b, "hash", bh);
		}
		cJSON_AddNumberToObject(b, "rename_threshold", cfg.threshold);
	}
	cJSON_AddItemToObject(res, "changes",
			      cJSON_DetachItemFromObject(report, "changes"));
	cJSON_AddItemToObject(res, "healing", cJSON_DetachItemFromObject(report, "healing"));
	if (cJSON_GetObjectItem(report, "ambiguous_renames"))
		cJSON_AddItemToObject(res, "ambiguous_renames",
				      cJSON_DetachItemFromObject(report, "ambiguous_renames"));
	{
		cJSON *ds = cJSON_AddObjectToObject(res, "datasets");
		cJSON *ins = cJSON_AddArrayToObject(ds, "inputs");
		char *abs = ade_fs_abspath(inpath);
		cJSON_AddItemToArray(ins, dataset_entry(abs ? abs : inpath, in->rows,
							(int64_t)ade_json_num(in->schema, "bytes", 0),
							ade_json_str(in->schema, "content_hash", "")));
		free(abs);
		cJSON *outs = cJSON_AddArrayToObject(ds, "outputs");
		if (!failed) {
			cJSON *o = dataset_entry("frame", oi.rows, oi.bytes, oi.hash);
			cJSON_AddItemToObject(o, "schema", oi.columns);
			oi.columns = NULL;
			cJSON_AddItemToArray(outs, o);
		}
	}
	if (!failed) {
		/* Column lineage: every output column and the input column it is. */
		cJSON *cl = cJSON_AddArrayToObject(res, "column_lineage");
		const cJSON *p;
		cJSON_ArrayForEach(p, plan) {
			cJSON *o = cJSON_CreateObject();
			const char *from = ade_json_str(p, "from", NULL);
			const char *fill = ade_json_str(p, "fill", NULL);
			cJSON_AddStringToObject(o, "output", ade_json_str(p, "name", ""));
			cJSON *ia = cJSON_AddArrayToObject(o, "inputs");
			if (from)
				cJSON_AddItemToArray(ia, cJSON_CreateString(from));
			cJSON_AddStringToObject(o, "transformation",
						fill && !strcmp(fill, "null") ? "null_fill"
						: fill ? "cast"
						: strcmp(from, ade_json_str(p, "name", "")) ? "rename"
						: "identity");
			cJSON_AddItemToArray(cl, o);
		}
	}
	{
		cJSON *m = cJSON_AddObjectToObject(res, "metrics");
		int64_t t3 = ade_now_mono_ns();
		cJSON_AddNumberToObject(m, "changes", cJSON_GetArraySize(cJSON_GetObjectItem(res, "changes")));
		cJSON_AddNumberToObject(m, "healed", cJSON_GetArraySize(cJSON_GetObjectItem(res, "healing")));
		cJSON_AddNumberToObject(m, "files_linked", L.linked);
		cJSON_AddNumberToObject(m, "files_copied", L.copied);
		cJSON_AddNumberToObject(m, "columns_generated", ngen);
		cJSON_AddNumberToObject(m, "profile_seconds", (double)(t2 - t1) / 1e9);
		cJSON_AddNumberToObject(m, "seconds", (double)(t3 - t0) / 1e9);
	}
	{
		cJSON *warn = cJSON_AddArrayToObject(res, "warnings");
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(res, "changes")) {
			const char *a = ade_json_str(c, "action", "");
			if (!strcmp(a, "warned") || !strcmp(a, "rejected")) {
				char *m = ade_xasprintf("%s column '%s': %s", ade_json_str(c, "kind", ""),
							ade_json_str(c, "column", ""),
							ade_json_str(c, "reason", a));
				cJSON_AddItemToArray(warn, cJSON_CreateString(m));
				free(m);
			}
		}
		if (L.copied)
			cJSON_AddItemToArray(warn, cJSON_CreateString(
				"column files were copied: the input frame is on another file system"));
	}
	if (failed) {
		/* Say what changed, not only that something did. */
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		int nrej = 0;
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(res, "changes")) {
			if (strcmp(ade_json_str(c, "action", ""), "rejected"))
				continue;
			if (nrej < 20)
				ade_strbuf_addf(&sb, "%s%s '%s'", nrej ? ", " : "",
						ade_json_str(c, "kind", ""), ade_json_str(c, "column", ""));
			nrej++;
		}
		if (nrej > 20)
			ade_strbuf_addf(&sb, " and %d more", nrej - 20);
		char *m = ade_xasprintf("schema of '%s' changed, rejected by on_change: %s: %s",
					cfg.dataset, policy_name(cfg.policy), sb.buf ? sb.buf : "");
		cJSON_AddStringToObject(res, "error", m);
		free(m);
		ade_strbuf_release(&sb);
	}
	rc = ade_stage_result_write(ctx, res, err);
	if (!rc && failed)
		rc = ade_error_set(err, ADE_EDATA, "%s", ade_json_str(res, "error", "schema change rejected"));
out:
	if (genpath)
		ade_fs_remove_tree(genpath, NULL);
	ade_frame_close(gen);
	ade_frame_close(in);
	free(srcs);
	free(inpath);
	free(outpath);
	free(genpath);
	cJSON_Delete(cur);
	cJSON_Delete(base);
	cJSON_Delete(report);
	cJSON_Delete(res);
	cJSON_Delete(out_schema);
	cJSON_Delete(file_schema);
	cJSON_Delete(hist.schema);
	cJSON_Delete(oi.columns);
	return rc;
}

int ade_schema_exit_code(int rc)
{
	switch (rc) {
	case 0: return ADE_EXIT_OK;
	case ADE_EINVAL: return ADE_EXIT_USAGE;
	case ADE_EDATA: return ADE_EXIT_DATA;
	case ADE_EBUSY: return ADE_EXIT_TEMPFAIL;
	default: return ADE_EXIT_FAILED;
	}
}
