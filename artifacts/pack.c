/*
 * Packing a run directory into a reproducible tar.zst.
 *
 * Two passes: the first hashes every file (two threads, since SHA-256 is
 * the other half of the work and the machine has two cores), so that
 * MANIFEST.json can be the archive's first entry and `show`, `list` and
 * retention read it without decompressing the rest; the second streams
 * the files, now in the page cache, into libarchive.
 */
#include "artifacts.h"
#include "internal.h"

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/larchive.h"
#include "core/util.h"
#include "scheduler/exec.h"
#include "scheduler/pipeline.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

enum { E_FILE, E_SYMLINK, E_HARDLINK };

struct entry {
	char *rel;     /* path inside the archive */
	char *abs;
	int type;
	uint64_t size;
	mode_t mode;
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	int link_to;   /* E_HARDLINK: index of the first path of the inode */
	char *target;  /* E_SYMLINK */
	char sha[65];
};

struct entries {
	struct entry *v;
	int n, cap;
	char **excluded; /* relative directories left out */
	int n_excluded;
	const struct ade_strmap *skip; /* top-level folders already collected; may be NULL */
};

/* A new zeroed entry at the end of es (owned by es). */
static struct entry *entry_add(struct entries *es)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 256;
		es->v = ade_xrealloc(es->v, sizeof(*es->v) * (size_t)es->cap);
	}
	struct entry *e = &es->v[es->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

void ade_art_hex(const unsigned char *md, unsigned n, char out[65])
{
	static const char hx[] = "0123456789abcdef";

	for (unsigned i = 0; i < n && i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[2 * (n < 32 ? n : 32)] = '\0';
}

/* ---- which frame directories are left out ------------------------------ */

static int has_frame(int run_fd, const char *stage)
{
	char *p = ade_xasprintf("%s/out/frame", stage);
	struct stat st;
	int r = fstatat(run_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return r;
}

static int needs(const struct ade_stage_def *d, int u)
{
	for (int j = 0; j < d->n_needs; j++)
		if (d->needs[j] == u)
			return 1;
	return 0;
}

/* 1 if stage b is downstream of stage a (transitively). */
static int descends(const struct ade_pipeline *p, int a, int b)
{
	const struct ade_stage_def *d = &p->stages[b];

	for (int j = 0; j < d->n_needs; j++)
		if (d->needs[j] == a || descends(p, a, d->needs[j]))
			return 1;
	return 0;
}

static int is_warehouse(const struct ade_stage_def *d)
{
	const char *base = strrchr(d->argv[0], '/');

	base = base ? base + 1 : d->argv[0];
	return !strcmp(base, "ade-warehouse");
}

/*
 * The frame a warehouse stage loads as its facts must stay, or the
 * archive could not reload the warehouse (ade rollback): the stage named
 * by `with: {facts: S}`, or without it, each frame among its needs that no
 * other need with a frame is downstream of (docs/warehouse.md).
 */
static int warehouse_loads(const struct ade_pipeline *p, const char *run_dir, const int *frame,
			   int s)
{
	for (int w = 0; w < p->n_stages; w++) {
		const struct ade_stage_def *d = &p->stages[w];
		if (!is_warehouse(d) || !needs(d, s))
			continue;
		const cJSON *facts = d->with ? cJSON_GetObjectItemCaseSensitive(d->with, "facts") : NULL;
		if (facts) {
			if (cJSON_IsString(facts) && !strcmp(facts->valuestring, p->stages[s].name))
				return 1;
			continue;
		}
		int newest = 1;
		for (int j = 0; j < d->n_needs; j++) {
			int t = d->needs[j];
			if (t != s && frame[t] && descends(p, s, t))
				newest = 0;
		}
		if (newest)
			return 1;
	}
	(void)run_dir;
	return 0;
}

/*
 * The default rule (docs/artifacts.md): a stage's out/frame/ is left out
 * when a stage that needs it wrote a frame of its own in this run (it
 * consumed and superseded it), unless a warehouse stage loads it.
 */
static void select_frames(const struct ade_pipeline *p, const char *run_dir, const int *known,
			  struct entries *es)
{
	int *frame = ade_xcalloc((size_t)p->n_stages + 1, sizeof(int));
	int run_fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (int i = 0; i < p->n_stages; i++)
		frame[i] = known && known[i] >= 0 ? known[i]
			   : run_fd >= 0	       ? has_frame(run_fd, p->stages[i].name)
						       : 0;
	if (run_fd >= 0)
		close(run_fd);
	for (int s = 0; s < p->n_stages; s++) {
		if (!frame[s])
			continue;
		int superseded = 0;
		for (int d = 0; d < p->n_stages; d++)
			if (d != s && frame[d] && needs(&p->stages[d], s))
				superseded = 1;
		if (!superseded || warehouse_loads(p, run_dir, frame, s))
			continue;
		es->excluded = ade_xrealloc(es->excluded, sizeof(char *) * (size_t)(es->n_excluded + 1));
		es->excluded[es->n_excluded++] = ade_xasprintf("%s/out/frame", p->stages[s].name);
	}
	free(frame);
}

/* ---- collecting entries ------------------------------------------------ */

static int excluded(const struct entries *es, const char *rel, const char *name, int depth)
{
	for (int i = 0; i < es->n_excluded; i++)
		if (!strcmp(es->excluded[i], rel))
			return 1;
	/* An attempt still being written (or left by a killed ade) is not output. */
	size_t n = strlen(name);
	if (depth == 1 && !strncmp(name, "attempt-", 8) && n > 4 && !strcmp(name + n - 4, ".tmp"))
		return 1;
	return 0;
}

/*
 * Collects the regular files and symbolic links under the open directory
 * dfd (abs names it in messages); takes dfd.  Names are resolved against
 * the directory's descriptor, not the whole path, because a run of a
 * thousand stages has thousands of entries and a lookup of the full path
 * walked every component again.
 */
static int walk(struct entries *es, int dfd, const char *abs, const char *rel, int depth,
		struct ade_error *err)
{
	DIR *dir = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!dir) {
		close(dfd);
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", abs, strerror(errno));
	}
	while (!rc && (de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* The manifest's own name at the top would collide with it. */
		if (depth == 0 && !strcmp(de->d_name, ADE_ART_MANIFEST))
			continue;
		char *a = ade_xasprintf("%s/%s", abs, de->d_name);
		char *r = rel[0] ? ade_xasprintf("%s/%s", rel, de->d_name) : ade_xstrdup(de->d_name);
		struct stat st;
		if (depth == 0 && es->skip && de->d_type == DT_DIR &&
		    ade_strmap_get(es->skip, de->d_name) >= 0) {
			/* collected when its stage ended */
		} else if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = ade_error_set(err, ADE_EIO, "cannot stat '%s': %s", a, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (depth == 0 && es->skip && ade_strmap_get(es->skip, de->d_name) >= 0) {
				/* collected when its stage ended */
			} else if (!excluded(es, r, de->d_name, depth)) {
				int sub = openat(dirfd(dir), de->d_name,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				rc = sub < 0 ? ade_error_set(err, ADE_EIO, "cannot open '%s': %s", a,
							     strerror(errno))
					     : walk(es, sub, a, r, depth + 1, err);
			}
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			struct entry *e = entry_add(es);
			e->rel = r;
			e->abs = a;
			r = a = NULL;
			e->mode = st.st_mode;
			e->dev = st.st_dev;
			e->ino = st.st_ino;
			e->nlink = st.st_nlink;
			e->link_to = -1;
			e->type = E_FILE;
			e->size = (uint64_t)st.st_size;
			if (S_ISLNK(st.st_mode)) {
				char buf[4096];
				ssize_t n = readlinkat(dirfd(dir), de->d_name, buf, sizeof(buf) - 1);
				if (n < 0) {
					rc = ade_error_set(err, ADE_EIO, "cannot read link '%s': %s",
							   e->abs, strerror(errno));
				} else {
					buf[n] = '\0';
					e->type = E_SYMLINK;
					e->size = 0;
					e->target = ade_xstrdup(buf);
				}
			}
		}
		/* FIFOs, sockets and devices are not results. */
		free(a);
		free(r);
	}
	closedir(dir);
	return rc;
}

static int by_rel(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

static const struct entry *g_sort_base;
static int by_inode(const void *a, const void *b)
{
	const struct entry *x = &g_sort_base[*(const int *)a], *y = &g_sort_base[*(const int *)b];

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

/*
 * Paths that share an inode (frames hard-link unchanged columns) are
 * stored once: the first in path order as a file, the others as tar
 * hard links to it, as GNU tar does.
 */
static void link_inodes(struct entries *es)
{
	int *idx = ade_xmalloc(sizeof(int) * (size_t)(es->n + 1));
	int m = 0;

	for (int i = 0; i < es->n; i++)
		if (es->v[i].type == E_FILE && es->v[i].nlink > 1)
			idx[m++] = i;
	g_sort_base = es->v;
	qsort(idx, (size_t)m, sizeof(int), by_inode);
	for (int k = 1; k < m; k++) {
		struct entry *a = &es->v[idx[k - 1]], *b = &es->v[idx[k]];
		if (a->dev == b->dev && a->ino == b->ino) {
			b->type = E_HARDLINK;
			b->link_to = a->link_to >= 0 ? a->link_to : idx[k - 1];
		}
	}
	free(idx);
}

static void entries_free(struct entries *es)
{
	for (int i = 0; i < es->n; i++) {
		free(es->v[i].rel);
		free(es->v[i].abs);
		free(es->v[i].target);
	}
	free(es->v);
	for (int i = 0; i < es->n_excluded; i++)
		free(es->excluded[i]);
	free(es->excluded);
}

/* ---- hashing ----------------------------------------------------------- */

struct hash_job {
	struct entries *es;
	EVP_MD *sha256; /* fetched once: an implicit fetch per file cost more than a small file's hash */
	atomic_int next;
	atomic_int failed;
	char msg[ADE_ERROR_MSG_MAX];
	pthread_mutex_t mu;
};

/* SHA-256 of no bytes. */
static const char SHA256_EMPTY[65] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static int hash_file(const char *path, uint64_t size, unsigned char *buf, EVP_MD_CTX *ctx,
		     const EVP_MD *sha256, char out[65], char *msg, size_t msglen)
{
	uint64_t total = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	/*
	 * An empty file (a quiet stage's log) is hashed without being opened:
	 * a run of a thousand no-op stages has a thousand of them, and the run
	 * is over, so nothing writes to them any more.
	 */
	if (size == 0) {
		memcpy(out, SHA256_EMPTY, sizeof(SHA256_EMPTY));
		return 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	EVP_DigestInit_ex(ctx, sha256, NULL);
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(msg, msglen, "cannot read '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	if (total != size) {
		snprintf(msg, msglen, "'%s' changed while being packed", path);
		return -1;
	}
	ade_art_hex(md, mdlen, out);
	return 0;
}

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;
	unsigned char *buf = ade_xmalloc(CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char msg[ADE_ERROR_MSG_MAX];

	for (;;) {
		int i = atomic_fetch_add(&j->next, 1);
		if (i >= j->es->n || atomic_load(&j->failed))
			break;
		struct entry *e = &j->es->v[i];
		if (e->type != E_FILE || e->sha[0])
			continue; /* a link, or hashed when its stage ended */
		if (hash_file(e->abs, e->size, buf, ctx, j->sha256, e->sha, msg, sizeof(msg))) {
			pthread_mutex_lock(&j->mu);
			if (!atomic_load(&j->failed))
				snprintf(j->msg, sizeof(j->msg), "%s", msg);
			atomic_store(&j->failed, 1);
			pthread_mutex_unlock(&j->mu);
			break;
		}
	}
	EVP_MD_CTX_free(ctx);
	free(buf);
	return NULL;
}

/*
 * Below this many bytes of files, hashing and compressing use one thread:
 * starting threads cost more than they saved on a run of small files.
 */
#define THREADS_MIN_BYTES (4u << 20)

static uint64_t bytes_of(const struct entries *es)
{
	uint64_t n = 0;

	for (int i = 0; i < es->n; i++)
		if (es->v[i].type == E_FILE)
			n += es->v[i].size;
	return n;
}

static int hash_all(struct entries *es, struct ade_error *err)
{
	struct hash_job j;
	pthread_t th;
	int threaded;

	memset(&j, 0, sizeof(j));
	j.es = es;
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);
	pthread_mutex_init(&j.mu, NULL);
	j.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!j.sha256) {
		pthread_mutex_destroy(&j.mu);
		return ade_error_set(err, ADE_EIO, "OpenSSL has no SHA-256");
	}
	/* A second thread pays for itself only with some data to hash. */
	threaded = es->n > 8 && bytes_of(es) >= THREADS_MIN_BYTES &&
		   pthread_create(&th, NULL, hash_worker, &j) == 0;
	hash_worker(&j);
	if (threaded)
		pthread_join(th, NULL);
	EVP_MD_free(j.sha256);
	pthread_mutex_destroy(&j.mu);
	if (atomic_load(&j.failed))
		return ade_error_set(err, ADE_EIO, "%s", j.msg);
	for (int i = 0; i < es->n; i++)
		if (es->v[i].type == E_HARDLINK)
			memcpy(es->v[i].sha, es->v[es->v[i].link_to].sha, sizeof(es->v[i].sha));
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

static cJSON *build_manifest(const struct entries *es, const cJSON *meta, int include_all)
{
	cJSON *m = cJSON_CreateObject();
	uint64_t total = 0;

	cJSON_AddStringToObject(m, "format", ADE_ARTIFACTS_FORMAT);
	for (const cJSON *it = meta ? meta->child : NULL; it; it = it->next)
		if (it->string && strcmp(it->string, "format") && strcmp(it->string, "files"))
			cJSON_AddItemToObject(m, it->string, cJSON_Duplicate(it, 1));
	cJSON_AddStringToObject(m, "include", include_all ? "all" : "default");
	cJSON *ex = cJSON_CreateArray();
	for (int i = 0; i < es->n_excluded; i++)
		cJSON_AddItemToArray(ex, cJSON_CreateString(es->excluded[i]));
	cJSON_AddItemToObject(m, "excluded", ex);
	/*
	 * The entries are written as text, one line each: a tree of a node
	 * per value was most of the manifest's cost for thousands of files.
	 * `ade artifacts show` prints the parsed manifest, indented as before.
	 */
	struct ade_strbuf t = ADE_STRBUF_INIT;
	ade_strbuf_addc(&t, '[');
	for (int i = 0; i < es->n; i++) {
		const struct entry *e = &es->v[i];
		ade_strbuf_adds(&t, i ? ",\n\t\t{\"path\":" : "\n\t\t{\"path\":");
		ade_json_put_string(&t, e->rel);
		if (e->type == E_SYMLINK) {
			ade_strbuf_adds(&t, ",\"type\":\"symlink\",\"target\":");
			ade_json_put_string(&t, e->target);
		} else {
			ade_strbuf_adds(&t, ",\"type\":\"file\",\"size\":");
			ade_json_put_number(&t, (double)e->size);
			ade_strbuf_adds(&t, ",\"sha256\":");
			ade_json_put_string(&t, e->sha);
			if (e->type == E_HARDLINK) {
				ade_strbuf_adds(&t, ",\"same_as\":");
				ade_json_put_string(&t, es->v[e->link_to].rel);
			}
			if (e->mode & 0111)
				ade_strbuf_adds(&t, ",\"executable\":true");
			total += e->size;
		}
		ade_strbuf_addc(&t, '}');
	}
	ade_strbuf_adds(&t, es->n ? "\n\t]" : "]");
	cJSON_AddNumberToObject(m, "n_files", es->n);
	cJSON_AddNumberToObject(m, "bytes", (double)total);
	cJSON_AddRawToObject(m, "files", t.buf);
	ade_strbuf_release(&t);
	return m;
}

/* A header with every field that could vary between machines fixed. */
static struct archive_entry *fixed_entry(const char *path)
{
	struct archive_entry *ae = archive_entry_new();

	archive_entry_set_pathname(ae, path);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	return ae;
}

static int ar_fail(struct archive *a, const char *what, struct ade_error *err)
{
	return ade_error_set(err, ADE_EIO, "%s: %s", what,
			     archive_error_string(a) ? archive_error_string(a) : "libarchive error");
}

static int write_blob(struct archive *a, const char *path, const void *data, size_t len,
		      struct ade_error *err)
{
	struct archive_entry *ae = fixed_entry(path);

	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, (la_int64_t)len);
	int rc = archive_write_header(a, ae);
	archive_entry_free(ae);
	if (rc != ARCHIVE_OK)
		return ar_fail(a, path, err);
	if (len && archive_write_data(a, data, len) != (la_ssize_t)len)
		return ar_fail(a, path, err);
	return 0;
}

static int write_file(struct archive *a, const struct entry *e, const struct entries *es,
		      unsigned char *buf, struct ade_error *err)
{
	struct archive_entry *ae = fixed_entry(e->rel);
	int rc;

	if (e->type == E_SYMLINK) {
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_perm(ae, 0777);
		archive_entry_set_symlink(ae, e->target);
	} else {
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, (e->mode & 0111) ? 0755 : 0644);
		if (e->type == E_HARDLINK) {
			archive_entry_set_hardlink(ae, es->v[e->link_to].rel);
			archive_entry_set_size(ae, 0);
		} else {
			archive_entry_set_size(ae, (la_int64_t)e->size);
		}
	}
	rc = archive_write_header(a, ae);
	archive_entry_free(ae);
	if (rc != ARCHIVE_OK)
		return ar_fail(a, e->rel, err);
	if (e->type != E_FILE || e->size == 0)
		return 0;
	int fd = open(e->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", e->abs, strerror(errno));
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				int er = errno;
				close(fd);
				return ade_error_set(err, ADE_EIO, "cannot read '%s': %s", e->abs,
						     strerror(er));
			}
			break;
		}
		/* Never more than the header announced, or the tar is broken. */
		if (total + (uint64_t)n > e->size)
			break;
		if (archive_write_data(a, buf, (size_t)n) != n) {
			close(fd);
			return ar_fail(a, e->rel, err);
		}
		total += (uint64_t)n;
	}
	close(fd);
	if (total != e->size)
		return ade_error_set(err, ADE_EIO, "'%s' changed while being packed", e->abs);
	return 0;
}

/* ---- stage folders collected while the run goes on ----------------------- */

/* One run's stage folders, walked and hashed as their stages ended. */
struct art_run {
	char *run_id;
	int off;               /* the pipeline archives nothing: collect nothing */
	struct entries es;     /* rel paths start with the stage's name */
	struct ade_strmap done; /* stage names collected; keys in names[] */
	char **names;
	char *frame;           /* per name: out/frame/ is a folder (has_frame) */
	int n_names, cap_names;
};

struct ade_artifacts_cache {
	pthread_mutex_t mu; /* guards runs[]; a run's own data has one user at a time */
	struct art_run **runs;
	int n, cap;
	/*
	 * collect_stage's hashing tools, made at the first file that has
	 * bytes and kept: a fetch of SHA-256 and a 1 MiB buffer (an mmap and
	 * a munmap, whose TLB flush interrupts the executor's CPU) per stage
	 * were most of collecting a quiet stage's folder.  Owned.
	 */
	EVP_MD *sha256;
	EVP_MD_CTX *ctx;
	unsigned char *buf;
};

struct ade_artifacts_cache *ade_artifacts_cache_new(void)
{
	struct ade_artifacts_cache *c = ade_xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void art_run_free(struct art_run *r)
{
	if (!r)
		return;
	entries_free(&r->es);
	ade_strmap_free(&r->done);
	for (int i = 0; i < r->n_names; i++)
		free(r->names[i]);
	free(r->names);
	free(r->frame);
	free(r->run_id);
	free(r);
}

void ade_artifacts_cache_free(struct ade_artifacts_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++)
		art_run_free(c->runs[i]);
	free(c->runs);
	EVP_MD_CTX_free(c->ctx);
	EVP_MD_free(c->sha256);
	free(c->buf);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The run's entry, made when create is set; removed from c when take is set. */
static struct art_run *art_run_find(struct ade_artifacts_cache *c, const char *run_id,
				    int create, int take)
{
	struct art_run *r = NULL;

	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->n && !r; i++) {
		if (strcmp(c->runs[i]->run_id, run_id))
			continue;
		r = c->runs[i];
		if (take)
			c->runs[i] = c->runs[--c->n];
	}
	if (!r && create) {
		if (c->n == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 4;
			c->runs = ade_xrealloc(c->runs, sizeof(*c->runs) * (size_t)c->cap);
		}
		r = ade_xcalloc(1, sizeof(*r));
		r->run_id = ade_xstrdup(run_id);
		c->runs[c->n++] = r;
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

static int under(const char *rel, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(rel, dir, n) && rel[n] == '/';
}

/*
 * Walks and hashes a finished stage's folder into its run's entries.
 * Files under out/frame/ are hashed at the pack, which decides whether
 * the frame is archived at all.  A folder that cannot be read is left to
 * the pack's own walk.
 */
static void collect_stage(struct ade_artifacts_cache *c, const struct ade_exec_event *ev)
{
	const char *stage = ev->stage->name;
	struct art_run *r = art_run_find(c, ev->run_id, 1, 0);
	struct ade_error err = {0};

	if (!r->n_names && !r->off) {
		struct ade_artifacts_conf conf;
		r->off = ade_artifacts_conf_read(ev->pipeline, &conf, NULL) || !conf.enabled;
	}
	if (r->off || ade_strmap_get(&r->done, stage) >= 0 || strchr(stage, '/') ||
	    stage[0] == '.')
		return;
	char *abs = ade_xconcat(ev->run_dir, "/", stage, NULL);
	int fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct entries es = {0};
	struct stat sb;
	int has = fd >= 0 && fstatat(fd, "out/frame", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISDIR(sb.st_mode);
	if (fd < 0 || walk(&es, fd, abs, stage, 1, &err)) {
		entries_free(&es);
		free(abs);
		return;
	}
	free(abs);
	char *frame = ade_xconcat(stage, "/out/frame", NULL);
	char msg[ADE_ERROR_MSG_MAX];
	for (int i = 0; i < es.n; i++) {
		struct entry *e = &es.v[i];
		if (e->type != E_FILE || under(e->rel, frame))
			continue;
		if (e->size && !c->buf) {
			c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
			c->ctx = EVP_MD_CTX_new();
			c->buf = ade_xmalloc(CHUNK);
		}
		if ((e->size && (!c->sha256 || !c->ctx)) ||
		    hash_file(e->abs, e->size, c->buf, c->ctx, c->sha256, e->sha, msg, sizeof(msg)))
			e->sha[0] = '\0'; /* the pack tries again and reports */
	}
	free(frame);
	/* Moved into the run's entries, strings and all. */
	for (int i = 0; i < es.n; i++) {
		*entry_add(&r->es) = es.v[i];
	}
	free(es.v);
	if (r->n_names == r->cap_names) {
		r->cap_names = r->cap_names ? 2 * r->cap_names : 64;
		r->names = ade_xrealloc(r->names, sizeof(*r->names) * (size_t)r->cap_names);
		r->frame = ade_xrealloc(r->frame, (size_t)r->cap_names);
	}
	r->frame[r->n_names] = (char)has;
	r->names[r->n_names] = ade_xstrdup(stage);
	ade_strmap_put(&r->done, r->names[r->n_names], r->n_names);
	r->n_names++;
}

void ade_artifacts_on_stage_event(void *arg, const struct ade_exec_event *ev)
{
	/*
	 * libarchive is opened here, on the worker, while stages run, so the
	 * pack at the run's end does not wait for it (core/larchive.h).
	 */
	ade_larchive_error();
	/* A stage's last word: success, or failed with no retry left. */
	if (!arg || ev->kind != ADE_EV_STAGE_END || !ev->stage || !ev->run_dir || !ev->run_id ||
	    !ev->state || (strcmp(ev->state, "success") && strcmp(ev->state, "failed")))
		return;
	collect_stage(arg, ev);
}

/*
 * Packs run_dir; the stage folders in pre (may be NULL) were collected
 * when their stages ended and are not walked again.
 */
static int pack_dir(const char *run_dir, const char *out, const struct ade_pipeline *p,
		    int include_all, const cJSON *meta, struct art_run *pre,
		    struct ade_artifacts_stats *stats, struct ade_error *err)
{
	struct entries es = {0};
	struct archive *a = NULL;
	char *dir = NULL, *tmp = NULL, *text = NULL;
	unsigned char *buf = NULL;
	int fd = -1, rc;

	if (!include_all && p) {
		/* A collected stage's frame is in its entries: no look on disk. */
		int *known = NULL;
		if (pre) {
			known = ade_xmalloc(sizeof(int) * ((size_t)p->n_stages + 1));
			for (int i = 0; i < p->n_stages; i++) {
				int k = ade_strmap_get(&pre->done, p->stages[i].name);
				known[i] = k >= 0 ? pre->frame[k] : -1;
			}
		}
		select_frames(p, run_dir, known, &es);
		free(known);
	}
	int top = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot open '%s': %s", run_dir, strerror(errno));
		goto done;
	}
	es.skip = pre ? &pre->done : NULL;
	if ((rc = walk(&es, top, run_dir, "", 0, err)))
		goto done;
	for (int i = 0; pre && i < pre->es.n; i++) {
		struct entry *e = &pre->es.v[i];
		int left_out = 0;
		for (int k = 0; k < es.n_excluded && !left_out; k++)
			left_out = under(e->rel, es.excluded[k]);
		if (left_out)
			continue;
		*entry_add(&es) = *e;
		memset(e, 0, sizeof(*e)); /* its strings are es's now */
	}
	qsort(es.v, (size_t)es.n, sizeof(*es.v), by_rel);
	link_inodes(&es);
	if ((rc = hash_all(&es, err)))
		goto done;

	cJSON *m = build_manifest(&es, meta, include_all);
	text = cJSON_Print(m);
	cJSON_Delete(m);

	dir = ade_fs_dirname(out);
	if ((rc = ade_fs_mkdirs(dir, err)))
		goto done;
	tmp = ade_xasprintf("%s.tmp.%ld", out, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto done;
	}
	a = archive_write_new();
	archive_write_add_filter_zstd(a);
	archive_write_set_format_pax_restricted(a);
	/*
	 * Level 3 is zstd's default; two worker threads overlap compression
	 * with reading (reference/performance.md section 8) once there are
	 * THREADS_MIN_BYTES to read.  zstd's multithreaded output depends
	 * only on the parameters, not on timing, and the choice only on the
	 * files' sizes, so it stays reproducible (tested).
	 */
	if (archive_write_set_filter_option(a, "zstd", "compression-level", "3") != ARCHIVE_OK ||
	    (bytes_of(&es) >= THREADS_MIN_BYTES &&
	     archive_write_set_filter_option(a, "zstd", "threads", "2") != ARCHIVE_OK)) {
		/* An older libarchive without the option: single-threaded is fine. */
		archive_clear_error(a);
	}
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		rc = ar_fail(a, tmp, err);
		goto done;
	}
	if ((rc = write_blob(a, ADE_ART_MANIFEST, text, strlen(text), err)))
		goto done;
	buf = ade_xmalloc(CHUNK);
	uint64_t bytes_in = 0;
	for (int i = 0; i < es.n; i++) {
		if ((rc = write_file(a, &es.v[i], &es, buf, err)))
			goto done;
		if (es.v[i].type == E_FILE)
			bytes_in += es.v[i].size;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = ar_fail(a, tmp, err);
		goto done;
	}
	if (fsync(fd) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
		goto done;
	}
	struct stat st;
	fstat(fd, &st);
	close(fd);
	fd = -1;
	if (rename(tmp, out) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
		goto done;
	}
	ade_fs_sync_dir(dir, NULL);
	if (stats) {
		stats->files = es.n;
		stats->excluded_dirs = es.n_excluded;
		stats->bytes_in = bytes_in;
		stats->bytes_out = (uint64_t)st.st_size;
	}
	rc = 0;
done:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(buf);
	free(text);
	free(tmp);
	free(dir);
	entries_free(&es);
	return rc;
}

int ade_artifacts_pack_dir(const char *run_dir, const char *out, const struct ade_pipeline *p,
			   int include_all, const cJSON *meta, struct ade_artifacts_stats *stats,
			   struct ade_error *err)
{
	return pack_dir(run_dir, out, p, include_all, meta, NULL, stats, err);
}

int ade_art_pack_dir_cached(const char *run_dir, const char *out, const struct ade_pipeline *p,
			    int include_all, const cJSON *meta, struct ade_artifacts_cache *cache,
			    const char *run_id, struct ade_artifacts_stats *stats,
			    struct ade_error *err)
{
	struct art_run *pre = cache && run_id ? art_run_find(cache, run_id, 0, 1) : NULL;
	int rc = pack_dir(run_dir, out, p, include_all, meta, pre, stats, err);

	art_run_free(pre);
	return rc;
}
