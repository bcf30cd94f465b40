/*
 * Reading archives: the manifest, verification, restore and diff.
 */
#include "artifacts.h"
#include "internal.h"

#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ade_art_open_read(const char *path, struct archive **out, struct ade_error *err)
{
	struct archive *a = archive_read_new();

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		int rc = ade_fs_exists(path) ? ADE_EDATA : ADE_ENOTFOUND;
		ade_error_set(err, rc, "cannot read archive '%s': %s", path,
			      archive_error_string(a) ? archive_error_string(a) : "unknown error");
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int ade_art_path_safe(const char *p)
{
	if (!*p || p[0] == '/')
		return 0;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
		if (e && !*s) /* a trailing slash: a directory entry, allowed */
			break;
	}
	return 1;
}

static int corrupt(struct archive *a, const char *path, struct ade_error *err)
{
	return ade_error_set(err, ADE_EDATA, "archive '%s' is corrupt or truncated: %s", path,
			     archive_error_string(a) ? archive_error_string(a) : "read error");
}

/* Reads the current entry's data into a new buffer (at most max bytes). */
static int read_entry(struct archive *a, const char *path, size_t max, char **out, size_t *len,
		      struct ade_error *err)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	char buf[1 << 16];

	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
		if (n < 0) {
			ade_strbuf_release(&sb);
			return corrupt(a, path, err);
		}
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max) {
			ade_strbuf_release(&sb);
			return ade_error_set(err, ADE_EDATA, "'%s': entry larger than %zu bytes", path,
					     max);
		}
		ade_strbuf_add(&sb, buf, (size_t)n);
	}
	ade_strbuf_add(&sb, "", 0);
	*len = sb.len;
	*out = ade_strbuf_detach(&sb);
	return 0;
}

static int read_manifest(struct archive *a, const char *path, cJSON **out, struct ade_error *err)
{
	struct archive_entry *ae;
	char *text = NULL;
	size_t len = 0;
	int r = archive_read_next_header(a, &ae);

	if (r == ARCHIVE_EOF)
		return ade_error_set(err, ADE_EDATA, "archive '%s' is empty", path);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return corrupt(a, path, err);
	if (strcmp(archive_entry_pathname(ae), ADE_ART_MANIFEST))
		return ade_error_set(err, ADE_EDATA, "archive '%s' does not start with %s", path,
				     ADE_ART_MANIFEST);
	if ((r = read_entry(a, path, ADE_ART_MANIFEST_MAX, &text, &len, err)))
		return r;
	cJSON *m = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(m) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "files"))) {
		cJSON_Delete(m);
		return ade_error_set(err, ADE_EDATA, "archive '%s': %s is not a manifest", path,
				     ADE_ART_MANIFEST);
	}
	*out = m;
	return 0;
}

int ade_artifacts_manifest(const char *archive, cJSON **out, struct ade_error *err)
{
	struct archive *a;
	int rc = ade_art_open_read(archive, &a, err);

	if (rc)
		return rc;
	rc = read_manifest(a, archive, out, err);
	archive_read_free(a);
	return rc;
}

/* ---- manifest index ---------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct mfile {
	const char *path;
	const char *sha;     /* NULL for symlinks */
	const char *target;  /* symlinks */
	double size;
	int seen;
	char got[65];        /* hash found in the archive */
};

struct mindex {
	struct mfile *v;
	int n;
};

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->path, ((const struct mfile *)b)->path);
}

static void index_manifest(const cJSON *m, struct mindex *ix)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
	int n = cJSON_GetArraySize(files), k = 0;

	ix->v = ade_xcalloc((size_t)n + 1, sizeof(*ix->v));
	for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
		if (!cJSON_IsString(p))
			continue;
		struct mfile *e = &ix->v[k++];
		e->path = p->valuestring;
		e->sha = jstr(f, "sha256");
		e->target = jstr(f, "target");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(f, "size");
		e->size = cJSON_IsNumber(s) ? s->valuedouble : 0;
	}
	ix->n = k;
	qsort(ix->v, (size_t)k, sizeof(*ix->v), by_path);
}

static struct mfile *lookup(struct mindex *ix, const char *path)
{
	struct mfile key = {.path = path};

	return bsearch(&key, ix->v, (size_t)ix->n, sizeof(*ix->v), by_path);
}

/* ---- verify ------------------------------------------------------------ */

static void problem(FILE *report, int *problems, const char *fmt, const char *a, const char *b)
{
	(*problems)++;
	if (report) {
		fprintf(report, fmt, a, b);
		fputc('\n', report);
	}
}

int ade_artifacts_verify(const char *archive, FILE *report, int *problems, struct ade_error *err)
{
	struct archive *a;
	struct archive_entry *ae;
	cJSON *m = NULL;
	struct mindex ix = {0};
	EVP_MD_CTX *ctx = NULL;
	int rc, r;

	*problems = 0;
	if ((rc = ade_art_open_read(archive, &a, err)))
		return rc;
	if ((rc = read_manifest(a, archive, &m, err)))
		goto done;
	index_manifest(m, &ix);
	ctx = EVP_MD_CTX_new();
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(ae);
		struct mfile *f = lookup(&ix, path);
		if (!f) {
			problem(report, problems, "unexpected: %s%s (not in the manifest)", path, "");
			archive_read_data_skip(a);
			continue;
		}
		if (f->seen) {
			problem(report, problems, "duplicate: %s%s", path, "");
			archive_read_data_skip(a);
			continue;
		}
		f->seen = 1;
		if (archive_entry_filetype(ae) == AE_IFLNK) {
			const char *t = archive_entry_symlink(ae);
			if (!f->target || !t || strcmp(t, f->target))
				problem(report, problems, "changed: %s (symlink target %s)", path,
					t ? t : "");
			continue;
		}
		/* A hard link's header carries no file type, only the link. */
		const char *hl = archive_entry_hardlink(ae);
		if (!hl && archive_entry_filetype(ae) != AE_IFREG) {
			problem(report, problems, "changed: %s%s (not a regular file)", path, "");
			continue;
		}
		if (hl) {
			struct mfile *t = lookup(&ix, hl);
			if (!t || !t->seen)
				problem(report, problems, "changed: %s (hard link to unknown '%s')", path, hl);
			else
				memcpy(f->got, t->got, sizeof(f->got));
		} else {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned mdlen = 0;
			const void *blk;
			size_t n;
			la_int64_t off;
			uint64_t total = 0;
			EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
			while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK) {
				EVP_DigestUpdate(ctx, blk, n);
				total += n;
			}
			if (r != ARCHIVE_EOF) {
				rc = corrupt(a, archive, err);
				if (report)
					fprintf(report, "unreadable: %s\n", path);
				goto done;
			}
			EVP_DigestFinal_ex(ctx, md, &mdlen);
			ade_art_hex(md, mdlen, f->got);
			if ((double)total != f->size) {
				char sz[64];
				snprintf(sz, sizeof(sz), "%llu bytes, manifest %.0f",
					 (unsigned long long)total, f->size);
				problem(report, problems, "changed: %s (%s)", path, sz);
				continue;
			}
		}
		if (!f->sha || strcmp(f->sha, f->got))
			problem(report, problems, "changed: %s (sha256 %s differs from the manifest)",
				path, f->got);
	}
	if (r != ARCHIVE_EOF) {
		rc = corrupt(a, archive, err);
		goto done;
	}
	for (int i = 0; i < ix.n; i++)
		if (!ix.v[i].seen)
			problem(report, problems, "missing: %s%s", ix.v[i].path, "");
done:
	EVP_MD_CTX_free(ctx);
	free(ix.v);
	cJSON_Delete(m);
	archive_read_free(a);
	return rc;
}

/* ---- restore ----------------------------------------------------------- */

struct strset {
	char **v;
	int n, cap;
};

static void set_add(struct strset *s, const char *p)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = ade_xrealloc(s->v, sizeof(char *) * (size_t)s->cap);
	}
	s->v[s->n++] = ade_xstrdup(p);
}

static int set_has(const struct strset *s, const char *p)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], p))
			return 1;
	return 0;
}

/* 1 if some proper prefix directory of p is in s. */
static int set_has_prefix_of(const struct strset *s, const char *p)
{
	for (int i = 0; i < s->n; i++) {
		size_t n = strlen(s->v[i]);
		if (!strncmp(s->v[i], p, n) && p[n] == '/')
			return 1;
	}
	return 0;
}

static void set_free(struct strset *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/*
 * A symlink stays inside the target when its text is relative, has `..`
 * only as leading components, no more of them than the link's own depth,
 * and no `.`/empty parts.  Stricter than resolving it, on purpose: `..`
 * after a component that is itself a link could climb out.
 */
static int symlink_safe(const char *link_path, const char *target)
{
	int depth = 0, leading = 1;

	if (!*target || target[0] == '/')
		return 0;
	for (const char *s = link_path; *s; s++)
		if (*s == '/')
			depth++;
	for (const char *s = target; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		int dotdot = n == 2 && s[0] == '.' && s[1] == '.';
		if (n == 0 || (n == 1 && s[0] == '.'))
			return 0;
		if (dotdot) {
			if (!leading || --depth < 0)
				return 0;
		} else {
			leading = 0;
		}
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

static int refuse(const char *archive, const char *path, const char *why, struct ade_error *err)
{
	return ade_error_set(err, ADE_EDATA, "refusing to restore '%s' from '%s': %s", path, archive,
			     why);
}

static int extract_all(struct archive *a, const char *archive, struct ade_error *err)
{
	struct archive *w = archive_write_disk_new();
	struct archive_entry *ae;
	struct strset files = {0}, links = {0}, all = {0};
	int r, rc = 0;

	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(ae);
		mode_t type = archive_entry_filetype(ae);
		const char *hl = archive_entry_hardlink(ae);
		if (!path || !ade_art_path_safe(path)) {
			rc = refuse(archive, path ? path : "", "absolute path or '..' component", err);
			break;
		}
		if (set_has_prefix_of(&links, path)) {
			rc = refuse(archive, path, "it lies below a symbolic link", err);
			break;
		}
		if (set_has(&all, path)) {
			rc = refuse(archive, path, "it appears twice", err);
			break;
		}
		if (hl) {
			if (!ade_art_path_safe(hl) || !set_has(&files, hl)) {
				rc = refuse(archive, path, "hard link to a file outside the archive", err);
				break;
			}
		} else if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(ae);
			if (!t || !symlink_safe(path, t)) {
				rc = refuse(archive, path, "symbolic link pointing out of the target", err);
				break;
			}
		} else if (type != AE_IFREG && type != AE_IFDIR) {
			rc = refuse(archive, path, "device, FIFO or socket", err);
			break;
		}
		/* No owners, no set-id bits: a restored run belongs to whoever restores it. */
		archive_entry_set_perm(ae, archive_entry_perm(ae) & 0777);
		if (archive_write_header(w, ae) != ARCHIVE_OK) {
			rc = ade_error_set(err, ADE_EIO, "cannot restore '%s': %s", path,
					   archive_error_string(w));
			break;
		}
		if (!hl && type == AE_IFREG) {
			const void *blk;
			size_t n;
			la_int64_t off;
			while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK) {
				if (archive_write_data_block(w, blk, n, off) < 0) {
					rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", path,
							   archive_error_string(w));
					break;
				}
			}
			if (rc)
				break;
			if (r != ARCHIVE_EOF) {
				rc = corrupt(a, archive, err);
				break;
			}
		}
		if (archive_write_finish_entry(w) != ARCHIVE_OK) {
			rc = ade_error_set(err, ADE_EIO, "cannot finish '%s': %s", path,
					   archive_error_string(w));
			break;
		}
		set_add(&all, path);
		if (type == AE_IFLNK)
			set_add(&links, path);
		else if (type == AE_IFREG)
			set_add(&files, path);
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = corrupt(a, archive, err);
	if (archive_write_close(w) != ARCHIVE_OK && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot restore: %s", archive_error_string(w));
	archive_write_free(w);
	set_free(&files);
	set_free(&links);
	set_free(&all);
	return rc;
}

int ade_artifacts_restore(const char *archive, const char *dir, struct ade_error *err)
{
	struct archive *a;
	char *parent = NULL, *tmp = NULL;
	int rc, cwd = -1;

	if (ade_fs_exists(dir))
		return ade_error_set(err, ADE_EINVAL, "'%s' already exists", dir);
	if ((rc = ade_art_open_read(archive, &a, err)))
		return rc;
	parent = ade_fs_dirname(dir);
	if ((rc = ade_fs_mkdirs(parent, err)))
		goto done;
	const char *base = strrchr(dir, '/');
	base = base ? base + 1 : dir;
	tmp = ade_xasprintf("%s/.%s.restore-XXXXXX", parent, base);
	if (!mkdtemp(tmp)) {
		rc = ade_error_set(err, ADE_EIO, "cannot create a directory in '%s': %s", parent,
				   strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	/*
	 * archive_write_disk's SECURE_NOABSOLUTEPATHS refuses the absolute
	 * paths a prefix would make, so entries are extracted relative to the
	 * temporary directory: the process's working directory moves there
	 * for the extraction and back after it.
	 */
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || chdir(tmp) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot enter '%s': %s", tmp, strerror(errno));
		goto done;
	}
	rc = extract_all(a, archive, err);
	if (fchdir(cwd) < 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot return to the working directory: %s",
				   strerror(errno));
	if (!rc && rename(tmp, dir) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s' to '%s': %s", tmp, dir,
				   strerror(errno));
done:
	if (cwd >= 0)
		close(cwd);
	if (rc && tmp)
		ade_fs_remove_tree(tmp, NULL);
	archive_read_free(a);
	free(tmp);
	free(parent);
	return rc;
}

/* ---- diff -------------------------------------------------------------- */

/* Contents of the wanted paths (hard links resolved to their first path). */
static int load_contents(const char *archive, struct strset *want, char **data, size_t *lens,
			 struct ade_error *err)
{
	struct archive *a;
	struct archive_entry *ae;
	int r, rc;

	if ((rc = ade_art_open_read(archive, &a, err)))
		return rc;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *p = archive_entry_pathname(ae);
		int k = -1;
		for (int i = 0; i < want->n; i++)
			if (!data[i] && !strcmp(want->v[i], p))
				k = i;
		if (k < 0 || archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae))
			continue;
		if ((rc = read_entry(a, archive, 64u << 20, &data[k], &lens[k], err)))
			break;
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = corrupt(a, archive, err);
	archive_read_free(a);
	return rc;
}

static void print_value(FILE *out, const cJSON *v)
{
	if (!v) {
		fputs("(none)", out);
		return;
	}
	char *s = cJSON_PrintUnformatted(v);
	if (strlen(s) > 60)
		fprintf(out, "%.57s...", s);
	else
		fputs(s, out);
	free(s);
}

struct jdiff {
	FILE *out;
	int n;
};

static void json_diff(struct jdiff *d, struct ade_strbuf *path, const cJSON *a, const cJSON *b)
{
	size_t keep = path->len;

	if (a && b && cJSON_IsObject(a) && cJSON_IsObject(b)) {
		for (const cJSON *x = a->child; x; x = x->next) {
			ade_strbuf_addf(path, ".%s", x->string);
			json_diff(d, path, x, cJSON_GetObjectItemCaseSensitive(b, x->string));
			path->len = keep;
			path->buf[keep] = '\0';
		}
		for (const cJSON *y = b->child; y; y = y->next) {
			if (cJSON_GetObjectItemCaseSensitive(a, y->string))
				continue;
			ade_strbuf_addf(path, ".%s", y->string);
			json_diff(d, path, NULL, y);
			path->len = keep;
			path->buf[keep] = '\0';
		}
		return;
	}
	if (a && b && cJSON_IsArray(a) && cJSON_IsArray(b)) {
		int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
		const cJSON *x = a->child, *y = b->child;
		for (int i = 0; i < na || i < nb; i++) {
			ade_strbuf_addf(path, "[%d]", i);
			json_diff(d, path, i < na ? x : NULL, i < nb ? y : NULL);
			path->len = keep;
			path->buf[keep] = '\0';
			if (x)
				x = x->next;
			if (y)
				y = y->next;
		}
		return;
	}
	if (a && b && cJSON_Compare(a, b, 1))
		return;
	d->n++;
	if (d->n > 40) /* the count still grows; only the first lines are printed */
		return;
	fprintf(d->out, "    $%s: ", path->len ? path->buf : "");
	print_value(d->out, a);
	fputs(" -> ", d->out);
	print_value(d->out, b);
	fputc('\n', d->out);
}

static const char *mfile_sha(const struct mfile *f)
{
	return f->sha ? f->sha : f->target ? f->target : "";
}

static int is_json(const char *p)
{
	size_t n = strlen(p);

	return n > 5 && !strcmp(p + n - 5, ".json");
}

/* The first path of a hard-linked inode, as stored in the archive. */
static const char *stored_as(const cJSON *m, const char *path)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");

	for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
		if (cJSON_IsString(p) && !strcmp(p->valuestring, path)) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(f, "same_as");
			return cJSON_IsString(s) ? s->valuestring : path;
		}
	}
	return path;
}

int ade_artifacts_diff(const char *pa, const char *pb, FILE *out, int *changes,
		       struct ade_error *err)
{
	cJSON *ma = NULL, *mb = NULL;
	struct mindex a = {0}, b = {0};
	struct strset wa = {0}, wb = {0}, changed = {0};
	char **da = NULL, **db = NULL;
	size_t *la = NULL, *lb = NULL;
	int rc;

	*changes = 0;
	if ((rc = ade_artifacts_manifest(pa, &ma, err)) || (rc = ade_artifacts_manifest(pb, &mb, err)))
		goto done;
	index_manifest(ma, &a);
	index_manifest(mb, &b);
	for (int i = 0, j = 0; i < a.n || j < b.n;) {
		int c = i >= a.n ? 1 : j >= b.n ? -1 : strcmp(a.v[i].path, b.v[j].path);
		if (c < 0) {
			fprintf(out, "removed: %s\n", a.v[i++].path);
			(*changes)++;
		} else if (c > 0) {
			fprintf(out, "added:   %s\n", b.v[j++].path);
			(*changes)++;
		} else {
			if (strcmp(mfile_sha(&a.v[i]), mfile_sha(&b.v[j]))) {
				(*changes)++;
				set_add(&changed, a.v[i].path);
				if (is_json(a.v[i].path) && a.v[i].size < (64u << 20) &&
				    b.v[j].size < (64u << 20)) {
					set_add(&wa, stored_as(ma, a.v[i].path));
					set_add(&wb, stored_as(mb, b.v[j].path));
				} else {
					set_add(&wa, "");
					set_add(&wb, "");
				}
			}
			i++;
			j++;
		}
	}
	if (!changed.n)
		goto done;
	da = ade_xcalloc((size_t)changed.n, sizeof(char *));
	db = ade_xcalloc((size_t)changed.n, sizeof(char *));
	la = ade_xcalloc((size_t)changed.n, sizeof(size_t));
	lb = ade_xcalloc((size_t)changed.n, sizeof(size_t));
	if ((rc = load_contents(pa, &wa, da, la, err)) || (rc = load_contents(pb, &wb, db, lb, err)))
		goto done;
	for (int k = 0; k < changed.n; k++) {
		fprintf(out, "changed: %s\n", changed.v[k]);
		if (!da[k] || !db[k])
			continue;
		cJSON *ja = cJSON_ParseWithLength(da[k], la[k]);
		cJSON *jb = cJSON_ParseWithLength(db[k], lb[k]);
		if (ja && jb) {
			struct jdiff d = {out, 0};
			struct ade_strbuf path = ADE_STRBUF_INIT;
			ade_strbuf_adds(&path, "");
			json_diff(&d, &path, ja, jb);
			if (d.n > 40)
				fprintf(out, "    ... %d more changed keys\n", d.n - 40);
			ade_strbuf_release(&path);
		}
		cJSON_Delete(ja);
		cJSON_Delete(jb);
	}
done:
	if (da)
		for (int k = 0; k < changed.n; k++) {
			free(da[k]);
			free(db[k]);
		}
	free(da);
	free(db);
	free(la);
	free(lb);
	set_free(&wa);
	set_free(&wb);
	set_free(&changed);
	free(a.v);
	free(b.v);
	cJSON_Delete(ma);
	cJSON_Delete(mb);
	return rc;
}
