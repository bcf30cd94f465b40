/* Frame writer and reader; see frame.h and docs/frames.md. */
#include "frame.h"
#include "error.h"
#include "fs.h"
#include "json.h"
#include "date.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define NPY_HEADER 128
#define WBUF (64 * 1024)

static const char *type_names[] = {"int64", "float64", "bool", "date",
				   "timestamp", "categorical", "string"};

const char *ade_type_name(enum ade_type t)
{
	return (unsigned)t < 7 ? type_names[t] : "?";
}

int ade_type_parse(const char *name, enum ade_type *t)
{
	for (int i = 0; i < 7; i++)
		if (!strcmp(name, type_names[i])) {
			*t = (enum ade_type)i;
			return 0;
		}
	return ADE_EINVAL;
}

static const char *type_descr(enum ade_type t)
{
	switch (t) {
	case ADE_TYPE_INT64: return "<i8";
	case ADE_TYPE_FLOAT64: return "<f8";
	case ADE_TYPE_BOOL: return "|b1";
	case ADE_TYPE_DATE: return "<M8[D]";
	case ADE_TYPE_TIMESTAMP: return "<M8[us]";
	case ADE_TYPE_CATEGORICAL: return "<i4";
	case ADE_TYPE_STRING: return "<i8"; /* the offsets */
	}
	return "?";
}

static size_t type_width(enum ade_type t)
{
	switch (t) {
	case ADE_TYPE_BOOL: return 1;
	case ADE_TYPE_CATEGORICAL: return 4;
	default: return 8;
	}
}

/* ---- writing ---- */

struct wfile {
	int fd;
	char *name;      /* file name inside the frame */
	char *buf;
	size_t len;
	int64_t count;   /* elements (npy) or bytes (.bytes) written */
	int64_t size;    /* bytes in the file */
	int npy;
	const char *descr;
	XXH3_state_t *h;
};

struct wcol {
	char *name, *stem;
	enum ade_type type;
	struct wfile data, valid, bytes;
	int has_bytes;
	int64_t rows, nulls;
	int64_t str_off;
	/* statistics */
	int64_t imin, imax, n_true, n_nan;
	double fmin, fmax, sum;
	size_t lmin, lmax;
	char **dict;
	size_t *dict_len;
	int32_t n_dict;
};

struct ade_frame_writer {
	char *dir, *tmp;
	struct wcol *cols;
	int ncols, ccap;
	int started, finished;
	int err_code;
	char err_msg[256];
};

static void sticky(struct ade_frame_writer *w, const char *what, const char *name)
{
	if (w->err_code)
		return;
	w->err_code = ADE_EIO;
	snprintf(w->err_msg, sizeof(w->err_msg), "%s '%s': %s", what, name, strerror(errno));
}

static int wfile_open(struct ade_frame_writer *w, struct wfile *f, char *name, int npy,
		      const char *descr, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/%s", w->tmp, name);

	memset(f, 0, sizeof(*f));
	f->name = name;
	f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(path);
	if (f->fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot create frame file '%s': %s", name,
				     strerror(errno));
	f->buf = ade_xmalloc(WBUF);
	f->npy = npy;
	f->descr = descr;
	f->h = XXH3_createState();
	XXH3_128bits_reset(f->h);
	if (npy) {
		/* The header is filled in at the end; reserve its bytes now. */
		memset(f->buf, ' ', NPY_HEADER);
		f->len = NPY_HEADER;
	}
	return 0;
}

static void wfile_flush(struct ade_frame_writer *w, struct wfile *f)
{
	const char *p = f->buf;
	size_t n = f->len;
	size_t skip = f->size == 0 && f->npy ? NPY_HEADER : 0;

	if (n > skip)
		XXH3_128bits_update(f->h, p + skip, n - skip);
	while (n) {
		ssize_t k = write(f->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			sticky(w, "cannot write frame file", f->name);
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	f->size += (int64_t)f->len;
	f->len = 0;
}

static inline void wfile_put(struct ade_frame_writer *w, struct wfile *f, const void *v,
			     size_t n)
{
	if (f->len + n > WBUF) {
		wfile_flush(w, f);
		while (n > WBUF) { /* a long string goes straight out */
			memcpy(f->buf, v, WBUF);
			f->len = WBUF;
			wfile_flush(w, f);
			v = (const char *)v + WBUF;
			n -= WBUF;
		}
	}
	memcpy(f->buf + f->len, v, n);
	f->len += n;
}

static void wfile_release(struct wfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->buf);
	f->buf = NULL;
	free(f->name);
	f->name = NULL;
	if (f->h)
		XXH3_freeState(f->h);
	f->h = NULL;
}

int ade_frame_writer_open(const char *dir, struct ade_frame_writer **out,
			  struct ade_error *err)
{
	struct ade_frame_writer *w = ade_xcalloc(1, sizeof(*w));

	*out = NULL;
	w->dir = ade_xstrdup(dir);
	w->tmp = ade_xasprintf("%s.tmp-%ld", dir, (long)getpid());
	ade_fs_remove_tree(w->tmp, NULL);
	if (mkdir(w->tmp, 0755) < 0) {
		ade_error_set(err, ADE_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
		free(w->dir);
		free(w->tmp);
		free(w);
		return ADE_EIO;
	}
	*out = w;
	return 0;
}

/* A stem of [A-Za-z0-9_-] unique among the frame's columns (ignoring case). */
static char *make_stem(struct ade_frame_writer *w, const char *name)
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
	for (int i = 0; i < w->ncols; i++)
		if (!strcasecmp(w->cols[i].stem, sb.buf) ||
		    !strcasecmp(sb.buf, "schema")) {
			ade_strbuf_addf(&sb, "_%d", w->ncols);
			break;
		}
	if (!strcasecmp(sb.buf, "schema"))
		ade_strbuf_addf(&sb, "_%d", w->ncols);
	return ade_strbuf_detach(&sb);
}

int ade_frame_writer_add(struct ade_frame_writer *w, const char *name, enum ade_type type,
			 struct ade_error *err)
{
	struct wcol *c;
	int rc;

	if (w->started)
		return ade_error_set(err, ADE_EINVAL, "column '%s' added after the first value",
				     name);
	if (w->ncols == w->ccap) {
		w->ccap = w->ccap ? w->ccap * 2 : 16;
		w->cols = ade_xrealloc(w->cols, (size_t)w->ccap * sizeof(*w->cols));
	}
	c = &w->cols[w->ncols];
	memset(c, 0, sizeof(*c));
	c->name = ade_xstrdup(name);
	c->stem = make_stem(w, name);
	c->type = type;
	c->data.fd = c->valid.fd = c->bytes.fd = -1;
	c->imin = INT64_MAX;
	c->imax = INT64_MIN;
	c->fmin = INFINITY;
	c->fmax = -INFINITY;
	c->lmin = SIZE_MAX;
	w->ncols++;
	const char *suffix = type == ADE_TYPE_STRING ? ".offsets.npy" : ".npy";
	rc = wfile_open(w, &c->data, ade_xasprintf("%s%s", c->stem, suffix), 1,
			type_descr(type), err);
	if (!rc)
		rc = wfile_open(w, &c->valid, ade_xasprintf("%s.valid.npy", c->stem), 1, "|b1",
				err);
	if (!rc && type == ADE_TYPE_STRING) {
		c->has_bytes = 1;
		rc = wfile_open(w, &c->bytes, ade_xasprintf("%s.bytes", c->stem), 0, NULL, err);
		if (!rc) {
			int64_t zero = 0;
			wfile_put(w, &c->data, &zero, 8);
		}
	}
	return rc ? rc : w->ncols - 1;
}

void ade_frame_writer_set_dict(struct ade_frame_writer *w, int col, const char *const *vals,
			       const size_t *lens, int32_t n)
{
	struct wcol *c = &w->cols[col];

	for (int32_t i = 0; i < c->n_dict; i++)
		free(c->dict[i]);
	free(c->dict);
	free(c->dict_len);
	c->dict = ade_xcalloc((size_t)n + 1, sizeof(char *));
	c->dict_len = ade_xcalloc((size_t)n + 1, sizeof(size_t));
	for (int32_t i = 0; i < n; i++) {
		c->dict[i] = ade_xstrndup(vals[i], lens[i]);
		c->dict_len[i] = lens[i];
	}
	c->n_dict = n;
}

static inline void put_valid(struct ade_frame_writer *w, struct wcol *c, uint8_t v)
{
	w->started = 1;
	wfile_put(w, &c->valid, &v, 1);
	c->rows++;
}

void ade_frame_put_i64(struct ade_frame_writer *w, int col, int64_t v)
{
	struct wcol *c = &w->cols[col];

	put_valid(w, c, 1);
	wfile_put(w, &c->data, &v, 8);
	if (v < c->imin)
		c->imin = v;
	if (v > c->imax)
		c->imax = v;
	c->sum += (double)v;
}

void ade_frame_put_f64(struct ade_frame_writer *w, int col, double v)
{
	struct wcol *c = &w->cols[col];

	put_valid(w, c, 1);
	wfile_put(w, &c->data, &v, 8);
	if (isnan(v)) {
		c->n_nan++;
		return;
	}
	if (v < c->fmin)
		c->fmin = v;
	if (v > c->fmax)
		c->fmax = v;
	c->sum += v;
}

void ade_frame_put_bool(struct ade_frame_writer *w, int col, int v)
{
	struct wcol *c = &w->cols[col];
	uint8_t b = v ? 1 : 0;

	put_valid(w, c, 1);
	wfile_put(w, &c->data, &b, 1);
	c->n_true += b;
}

void ade_frame_put_code(struct ade_frame_writer *w, int col, int32_t code)
{
	struct wcol *c = &w->cols[col];

	put_valid(w, c, 1);
	wfile_put(w, &c->data, &code, 4);
}

void ade_frame_put_str(struct ade_frame_writer *w, int col, const char *p, size_t len)
{
	struct wcol *c = &w->cols[col];

	put_valid(w, c, 1);
	wfile_put(w, &c->bytes, p, len);
	c->str_off += (int64_t)len;
	wfile_put(w, &c->data, &c->str_off, 8);
	if (len < c->lmin)
		c->lmin = len;
	if (len > c->lmax)
		c->lmax = len;
}

void ade_frame_put_null(struct ade_frame_writer *w, int col)
{
	struct wcol *c = &w->cols[col];
	int64_t nat = ADE_FRAME_NULL_I64;
	double nan = NAN;
	int32_t code = -1;
	uint8_t zero = 0;

	put_valid(w, c, 0);
	c->nulls++;
	switch (c->type) {
	case ADE_TYPE_INT64:
	case ADE_TYPE_DATE:
	case ADE_TYPE_TIMESTAMP: wfile_put(w, &c->data, &nat, 8); break;
	case ADE_TYPE_FLOAT64: wfile_put(w, &c->data, &nan, 8); break;
	case ADE_TYPE_BOOL: wfile_put(w, &c->data, &zero, 1); break;
	case ADE_TYPE_CATEGORICAL: wfile_put(w, &c->data, &code, 4); break;
	case ADE_TYPE_STRING: wfile_put(w, &c->data, &c->str_off, 8); break;
	}
}

static void npy_header(char out[NPY_HEADER], const char *descr, int64_t n)
{
	char dict[NPY_HEADER];
	int len = snprintf(dict, sizeof(dict),
			   "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
			   (long long)n);
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)(NPY_HEADER - 10);
	out[9] = 0;
	memset(out + 10, ' ', NPY_HEADER - 10);
	memcpy(out + 10, dict, (size_t)len);
	out[NPY_HEADER - 1] = '\n';
}

static int wfile_finish(struct ade_frame_writer *w, struct wfile *f, int64_t elems,
			uint8_t digest[16])
{
	wfile_flush(w, f);
	if (f->npy) {
		char hdr[NPY_HEADER];
		npy_header(hdr, f->descr, elems);
		if (pwrite(f->fd, hdr, NPY_HEADER, 0) != NPY_HEADER)
			sticky(w, "cannot write frame file", f->name);
	}
	if (close(f->fd) < 0)
		sticky(w, "cannot close frame file", f->name);
	f->fd = -1;
	XXH128_hash_t h = XXH3_128bits_digest(f->h);
	XXH128_canonical_t canon;
	XXH128_canonicalFromHash(&canon, h);
	memcpy(digest, canon.digest, 16);
	return w->err_code;
}

/* JSON text of a UTF-8 string (control characters escaped). */
static void json_str(struct ade_strbuf *sb, const char *s, size_t n)
{
	ade_strbuf_addc(sb, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			ade_strbuf_addc(sb, '\\');
			ade_strbuf_addc(sb, (char)c);
		} else if (c < 0x20) {
			ade_strbuf_addf(sb, "\\u%04x", c);
		} else {
			ade_strbuf_addc(sb, (char)c);
		}
	}
	ade_strbuf_addc(sb, '"');
}

static void add_stats(cJSON *col, struct wcol *c)
{
	cJSON *st = cJSON_AddObjectToObject(col, "stats");
	int64_t nv = c->rows - c->nulls;
	char buf[40];

	switch (c->type) {
	case ADE_TYPE_INT64:
		if (nv) {
			cJSON_AddNumberToObject(st, "min", (double)c->imin);
			cJSON_AddNumberToObject(st, "max", (double)c->imax);
			cJSON_AddNumberToObject(st, "mean", c->sum / (double)nv);
		}
		break;
	case ADE_TYPE_FLOAT64:
		if (nv - c->n_nan > 0) {
			cJSON_AddNumberToObject(st, "min", c->fmin);
			cJSON_AddNumberToObject(st, "max", c->fmax);
			cJSON_AddNumberToObject(st, "mean", c->sum / (double)(nv - c->n_nan));
		}
		cJSON_AddNumberToObject(st, "nan_count", (double)c->n_nan);
		break;
	case ADE_TYPE_BOOL:
		cJSON_AddNumberToObject(st, "true_count", (double)c->n_true);
		break;
	case ADE_TYPE_DATE:
		if (nv) {
			char d[11];
			ade_date_format((int32_t)c->imin, d);
			cJSON_AddStringToObject(st, "min", d);
			ade_date_format((int32_t)c->imax, d);
			cJSON_AddStringToObject(st, "max", d);
		}
		break;
	case ADE_TYPE_TIMESTAMP:
		if (nv) {
			ade_date_format_us(c->imin, buf);
			cJSON_AddStringToObject(st, "min", buf);
			ade_date_format_us(c->imax, buf);
			cJSON_AddStringToObject(st, "max", buf);
		}
		break;
	case ADE_TYPE_CATEGORICAL:
		cJSON_AddNumberToObject(st, "categories", c->n_dict);
		break;
	case ADE_TYPE_STRING:
		if (nv) {
			cJSON_AddNumberToObject(st, "min_length", (double)c->lmin);
			cJSON_AddNumberToObject(st, "max_length", (double)c->lmax);
		}
		break;
	}
}

int ade_frame_writer_finish(struct ade_frame_writer *w, const cJSON *extra,
			    struct ade_frame_info *info, struct ade_error *err)
{
	XXH3_state_t *all = XXH3_createState();
	cJSON *schema = cJSON_CreateObject(), *cols;
	int64_t rows = w->ncols ? w->cols[0].rows : 0, total = 0;
	char hash[64];
	uint8_t dg[16];
	int rc = 0;

	XXH3_128bits_reset(all);
	for (int i = 0; i < w->ncols; i++)
		if (w->cols[i].rows != rows) {
			rc = ade_error_set(err, ADE_EINVAL,
					   "frame column '%s' has %lld rows, '%s' has %lld",
					   w->cols[i].name, (long long)w->cols[i].rows,
					   w->cols[0].name, (long long)rows);
			goto out;
		}
	cJSON_AddStringToObject(schema, "format", "ade-frame");
	cJSON_AddNumberToObject(schema, "version", 1);
	cJSON_AddNumberToObject(schema, "rows", (double)rows);
	cols = cJSON_CreateArray();
	for (int i = 0; i < w->ncols; i++) {
		struct wcol *c = &w->cols[i];
		cJSON *col = cJSON_CreateObject(), *files;
		XXH3_128bits_update(all, c->name, strlen(c->name) + 1);
		XXH3_128bits_update(all, ade_type_name(c->type), strlen(ade_type_name(c->type)) + 1);
		cJSON_AddStringToObject(col, "name", c->name);
		cJSON_AddStringToObject(col, "type", ade_type_name(c->type));
		cJSON_AddStringToObject(col, "dtype", type_descr(c->type));
		files = cJSON_AddObjectToObject(col, "files");
		int64_t elems = c->type == ADE_TYPE_STRING ? rows + 1 : rows;
		rc = wfile_finish(w, &c->data, elems, dg);
		XXH3_128bits_update(all, dg, 16);
		total += c->data.size;
		cJSON_AddStringToObject(files, c->type == ADE_TYPE_STRING ? "offsets" : "data",
					c->data.name);
		if (c->has_bytes) {
			rc = rc ? rc : wfile_finish(w, &c->bytes, 0, dg);
			XXH3_128bits_update(all, dg, 16);
			total += c->bytes.size;
			cJSON_AddStringToObject(files, "bytes", c->bytes.name);
		}
		rc = rc ? rc : wfile_finish(w, &c->valid, rows, dg);
		if (c->nulls) {
			XXH3_128bits_update(all, dg, 16);
			total += c->valid.size;
			cJSON_AddStringToObject(files, "valid", c->valid.name);
		} else {
			char *p = ade_xasprintf("%s/%s", w->tmp, c->valid.name);
			unlink(p);
			free(p);
		}
		if (c->type == ADE_TYPE_CATEGORICAL) {
			struct ade_strbuf sb = ADE_STRBUF_INIT;
			char *name = ade_xasprintf("%s.dict.json", c->stem);
			char *p = ade_xasprintf("%s/%s", w->tmp, name);
			ade_strbuf_addc(&sb, '[');
			for (int32_t k = 0; k < c->n_dict; k++) {
				if (k)
					ade_strbuf_addc(&sb, ',');
				json_str(&sb, c->dict[k], c->dict_len[k]);
			}
			ade_strbuf_adds(&sb, "]\n");
			XXH3_128bits_update(all, sb.buf, sb.len);
			total += (int64_t)sb.len;
			int r2 = ade_fs_write_atomic(p, sb.buf, sb.len, err);
			cJSON_AddStringToObject(files, "dict", name);
			free(name);
			free(p);
			ade_strbuf_release(&sb);
			if (r2 && !rc)
				rc = r2;
		}
		cJSON_AddNumberToObject(col, "null_count", (double)c->nulls);
		add_stats(col, c);
		cJSON_AddItemToArray(cols, col);
		if (rc)
			break;
	}
	if (rc || w->err_code) {
		if (!rc)
			rc = ade_error_set(err, w->err_code, "%s", w->err_msg);
		cJSON_Delete(cols);
		goto out;
	}
	{
		XXH128_hash_t h = XXH3_128bits_digest(all);
		snprintf(hash, sizeof(hash), "xxh3-128:%016llx%016llx", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
	}
	cJSON_AddStringToObject(schema, "content_hash", hash);
	cJSON_AddNumberToObject(schema, "bytes", (double)total);
	cJSON_AddItemToObject(schema, "columns", cols);
	if (extra)
		for (const cJSON *e = extra->child; e; e = e->next)
			if (!cJSON_HasObjectItem(schema, e->string))
				cJSON_AddItemToObject(schema, e->string, cJSON_Duplicate(e, 1));
	{
		char *p = ade_xasprintf("%s/schema.json", w->tmp);
		rc = ade_json_write_file(p, schema, 1, err);
		free(p);
		if (rc)
			goto out;
	}
	/* rename() replaces an empty directory; a non-empty one is refused. */
	if (rename(w->tmp, w->dir) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot rename frame into '%s': %s", w->dir,
				   strerror(errno));
		goto out;
	}
	{
		char *parent = ade_fs_dirname(w->dir);
		ade_fs_sync_dir(parent, NULL);
		free(parent);
	}
	w->finished = 1;
	if (info) {
		info->rows = rows;
		info->bytes = total;
		snprintf(info->hash, sizeof(info->hash), "%s", hash);
		info->schema = cJSON_Duplicate(cJSON_GetObjectItem(schema, "columns"), 1);
	}
out:
	XXH3_freeState(all);
	cJSON_Delete(schema);
	return rc;
}

void ade_frame_writer_abort(struct ade_frame_writer *w)
{
	if (w && !w->finished)
		ade_fs_remove_tree(w->tmp, NULL);
}

void ade_frame_writer_free(struct ade_frame_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->ncols; i++) {
		struct wcol *c = &w->cols[i];
		wfile_release(&c->data);
		wfile_release(&c->valid);
		wfile_release(&c->bytes);
		for (int32_t k = 0; k < c->n_dict; k++)
			free(c->dict[k]);
		free(c->dict);
		free(c->dict_len);
		free(c->name);
		free(c->stem);
	}
	free(w->cols);
	free(w->dir);
	free(w->tmp);
	free(w);
}

/* ---- reading ---- */

static int map_file(struct ade_frame *f, const char *name, const void **base, size_t *len,
		    struct ade_error *err)
{
	char *path = ade_xasprintf("%s/%s", f->dir, name);
	struct stat st;
	int fd;

	*base = NULL;
	*len = 0;
	if (strchr(name, '/') || !strcmp(name, "..")) {
		free(path);
		return ade_error_set(err, ADE_EPARSE, "frame '%s': bad file name '%s'", f->dir,
				     name);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		ade_error_set(err, ADE_EIO, "cannot open '%s': %s", path, strerror(e));
		free(path);
		return ADE_EIO;
	}
	free(path);
	if (st.st_size == 0) {
		close(fd);
		*base = "";
		return 0;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return ade_error_set(err, ADE_EIO, "cannot map '%s/%s': %s", f->dir, name,
				     strerror(errno));
	f->maps = ade_xrealloc(f->maps, (size_t)(f->nmaps + 1) * sizeof(void *));
	f->map_lens = ade_xrealloc(f->map_lens, (size_t)(f->nmaps + 1) * sizeof(size_t));
	f->maps[f->nmaps] = m;
	f->map_lens[f->nmaps] = (size_t)st.st_size;
	f->nmaps++;
	*base = m;
	*len = (size_t)st.st_size;
	return 0;
}

/* Maps an .npy file and checks its header; *data points past it. */
static int map_npy(struct ade_frame *f, const char *name, const char *descr, int64_t elems,
		   size_t width, const void **data, struct ade_error *err)
{
	const void *base;
	size_t len;
	int rc = map_file(f, name, &base, &len, err);

	if (rc)
		return rc;
	const unsigned char *b = base;
	if (len < 10 || memcmp(b, "\x93NUMPY", 6) || b[6] != 1 || b[7] != 0)
		return ade_error_set(err, ADE_EPARSE, "%s/%s: not a NumPy 1.0 file", f->dir, name);
	size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
	if (10 + hl > len)
		return ade_error_set(err, ADE_EPARSE, "%s/%s: truncated header", f->dir, name);
	char want[160];
	snprintf(want, sizeof(want), "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
		 descr, (long long)elems);
	size_t wl = strlen(want);
	if (hl < wl || memcmp(b + 10, want, wl))
		return ade_error_set(err, ADE_EPARSE,
				     "%s/%s: header does not match schema.json (want %s)", f->dir,
				     name, want);
	if (len - 10 - hl < (size_t)elems * width)
		return ade_error_set(err, ADE_EPARSE, "%s/%s: truncated data", f->dir, name);
	*data = b + 10 + hl;
	return 0;
}

static int read_dict(struct ade_frame *f, struct ade_frame_column *c, const char *name,
		     struct ade_error *err)
{
	char *path = ade_xasprintf("%s/%s", f->dir, name);
	cJSON *d = NULL;
	int rc = ade_json_read_file(path, &d, err);

	free(path);
	if (rc)
		return rc;
	if (!cJSON_IsArray(d)) {
		cJSON_Delete(d);
		return ade_error_set(err, ADE_EPARSE, "%s/%s: not an array", f->dir, name);
	}
	int n = cJSON_GetArraySize(d);
	c->dict = ade_xcalloc((size_t)n + 1, sizeof(char *));
	c->dict_len = ade_xcalloc((size_t)n + 1, sizeof(size_t));
	int k = 0;
	for (cJSON *e = d->child; e; e = e->next, k++) {
		const char *s = cJSON_IsString(e) ? e->valuestring : "";
		c->dict[k] = ade_xstrdup(s);
		c->dict_len[k] = strlen(s);
	}
	c->n_dict = n;
	cJSON_Delete(d);
	return 0;
}

int ade_frame_open(const char *dir, struct ade_frame **out, struct ade_error *err)
{
	struct ade_frame *f = ade_xcalloc(1, sizeof(*f));
	char *path = ade_xasprintf("%s/schema.json", dir);
	cJSON *cols;
	int rc;

	*out = NULL;
	f->dir = ade_xstrdup(dir);
	rc = ade_json_read_file(path, &f->schema, err);
	free(path);
	if (rc)
		goto fail;
	cols = cJSON_GetObjectItem(f->schema, "columns");
	const cJSON *rows = cJSON_GetObjectItem(f->schema, "rows");
	if (strcmp(ade_json_str(f->schema, "format", ""), "ade-frame") || !cJSON_IsArray(cols) ||
	    !cJSON_IsNumber(rows) || rows->valuedouble < 0) {
		rc = ade_error_set(err, ADE_EPARSE, "%s/schema.json: not an ade frame schema", dir);
		goto fail;
	}
	f->rows = (int64_t)rows->valuedouble;
	f->ncols = cJSON_GetArraySize(cols);
	f->cols = ade_xcalloc((size_t)f->ncols + 1, sizeof(*f->cols));
	int i = 0;
	for (cJSON *cj = cols->child; cj; cj = cj->next, i++) {
		struct ade_frame_column *c = &f->cols[i];
		const cJSON *files = cJSON_GetObjectItem(cj, "files");
		const char *tn = ade_json_str(cj, "type", "");
		c->name = ade_xstrdup(ade_json_str(cj, "name", ""));
		if (ade_type_parse(tn, &c->type) || !cJSON_IsObject(files)) {
			rc = ade_error_set(err, ADE_EPARSE, "%s/schema.json: column '%s' has type '%s'",
					   dir, c->name, tn);
			goto fail;
		}
		c->null_count = (int64_t)ade_json_num(cj, "null_count", 0);
		const char *valid = ade_json_str(files, "valid", NULL);
		const void *p;
		if (valid) {
			rc = map_npy(f, valid, "|b1", f->rows, 1, &p, err);
			if (rc)
				goto fail;
			c->valid = p;
		}
		if (c->type == ADE_TYPE_STRING) {
			const char *off = ade_json_str(files, "offsets", NULL);
			const char *bytes = ade_json_str(files, "bytes", NULL);
			size_t bl;
			if (!off || !bytes) {
				rc = ade_error_set(err, ADE_EPARSE, "%s: column '%s' lacks its files",
						   dir, c->name);
				goto fail;
			}
			rc = map_npy(f, off, "<i8", f->rows + 1, 8, &p, err);
			if (rc)
				goto fail;
			c->offsets = p;
			rc = map_file(f, bytes, &p, &bl, err);
			if (rc)
				goto fail;
			c->bytes = p;
			c->bytes_len = (int64_t)bl;
			/* Offsets index the blob; check them once so accessors need not. */
			int64_t prev = 0;
			long page = sysconf(_SC_PAGESIZE);
			uintptr_t dropped = (uintptr_t)c->offsets & ~(uintptr_t)(page - 1);
			for (int64_t r = 0; r <= f->rows; r++) {
				/*
				 * Give checked pages back as we go: a reader that never
				 * touches this column must not pay its size in RSS
				 * (10M names are 80 MB of offsets).
				 */
				if ((r & ((1 << 17) - 1)) == 0 && r) {
					uintptr_t upto = (uintptr_t)&c->offsets[r] & ~(uintptr_t)(page - 1);
					if (upto > dropped) {
						madvise((void *)dropped, upto - dropped, MADV_DONTNEED);
						dropped = upto;
					}
				}
				int64_t o = c->offsets[r];
				if (o < prev || o > c->bytes_len || (r == 0 && o != 0)) {
					rc = ade_error_set(err, ADE_EPARSE,
							   "%s: column '%s' has a bad offset at row %lld",
							   dir, c->name, (long long)r);
					goto fail;
				}
				prev = o;
			}
		} else {
			const char *data = ade_json_str(files, "data", NULL);
			if (!data) {
				rc = ade_error_set(err, ADE_EPARSE, "%s: column '%s' lacks its files",
						   dir, c->name);
				goto fail;
			}
			rc = map_npy(f, data, type_descr(c->type), f->rows, type_width(c->type), &p,
				     err);
			if (rc)
				goto fail;
			c->data = p;
			if (c->type == ADE_TYPE_CATEGORICAL) {
				const char *dict = ade_json_str(files, "dict", NULL);
				if (!dict) {
					rc = ade_error_set(err, ADE_EPARSE, "%s: column '%s' lacks its dict",
							   dir, c->name);
					goto fail;
				}
				rc = read_dict(f, c, dict, err);
				if (rc)
					goto fail;
			}
		}
	}
	*out = f;
	return 0;
fail:
	ade_frame_close(f);
	return rc;
}

int ade_frame_find(const struct ade_frame *f, const char *name)
{
	for (int i = 0; i < f->ncols; i++)
		if (!strcmp(f->cols[i].name, name))
			return i;
	return -1;
}

int ade_frame_is_null(const struct ade_frame_column *c, int64_t i)
{
	return c->valid && !c->valid[i];
}

const char *ade_frame_str(const struct ade_frame_column *c, int64_t i, size_t *len)
{
	if (c->type == ADE_TYPE_STRING) {
		*len = (size_t)(c->offsets[i + 1] - c->offsets[i]);
		return c->bytes + c->offsets[i];
	}
	if (c->type == ADE_TYPE_CATEGORICAL) {
		int32_t code = ((const int32_t *)c->data)[i];
		if (code >= 0 && code < c->n_dict) {
			*len = c->dict_len[code];
			return c->dict[code];
		}
	}
	*len = 0;
	return "";
}

void ade_frame_close(struct ade_frame *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->nmaps; i++)
		munmap(f->maps[i], f->map_lens[i]);
	free(f->maps);
	free(f->map_lens);
	for (int i = 0; i < f->ncols; i++) {
		struct ade_frame_column *c = &f->cols[i];
		free(c->name);
		for (int32_t k = 0; k < c->n_dict; k++)
			free(c->dict[k]);
		free(c->dict);
		free(c->dict_len);
	}
	free(f->cols);
	cJSON_Delete(f->schema);
	free(f->dir);
	free(f);
}
