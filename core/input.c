/* Input byte streams; see input.h. */
#include "input.h"
#include "error.h"
#include "util.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ade_input {
	char *path;
	int fd;                 /* plain files */
	struct archive *ar;     /* compressed files */
	const char *compression;
	int64_t stored;
	int eof;
};

static const char *sniff(const unsigned char *b, ssize_t n)
{
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return "gzip";
	if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return "zstd";
	if (n >= 6 && !memcmp(b, "\xfd" "7zXZ\0", 6))
		return "xz";
	if (n >= 3 && !memcmp(b, "BZh", 3))
		return "bzip2";
	return "none";
}

int ade_input_open(const char *path, struct ade_input **out, struct ade_error *err)
{
	unsigned char magic[8];
	struct stat st;
	struct ade_input *in;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return ade_error_set(err, errno == ENOENT ? ADE_ENOTFOUND : ADE_EIO,
				     "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		close(fd);
		return ade_error_set(err, ADE_EIO, "cannot read '%s': %s", path,
				     S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
	}
	n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0) {
		int e = errno;
		close(fd);
		return ade_error_set(err, ADE_EIO, "cannot read '%s': %s", path, strerror(e));
	}
	in = ade_xcalloc(1, sizeof(*in));
	in->path = ade_xstrdup(path);
	in->fd = fd;
	in->stored = st.st_size;
	in->compression = sniff(magic, n);
	if (strcmp(in->compression, "none")) {
		in->ar = archive_read_new();
		archive_read_support_filter_all(in->ar);
		archive_read_support_format_raw(in->ar);
		if (archive_read_open_fd(in->ar, fd, 1 << 20) != ARCHIVE_OK) {
			ade_error_set(err, ADE_EIO, "cannot read '%s': %s", path,
				      archive_error_string(in->ar));
			ade_input_close(in);
			return ADE_EIO;
		}
		struct archive_entry *e;
		if (archive_read_next_header(in->ar, &e) != ARCHIVE_OK) {
			ade_error_set(err, ADE_EIO, "cannot read '%s' (%s): %s", path,
				      in->compression, archive_error_string(in->ar));
			ade_input_close(in);
			return ADE_EIO;
		}
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = in;
	return 0;
}

ssize_t ade_input_read(struct ade_input *in, void *buf, size_t cap, struct ade_error *err)
{
	if (in->eof)
		return 0;
	if (in->ar) {
		la_ssize_t n = archive_read_data(in->ar, buf, cap);
		if (n < 0)
			return ade_error_set(err, ADE_EIO, "cannot decompress '%s' (%s): %s",
					     in->path, in->compression,
					     archive_error_string(in->ar));
		if (n == 0)
			in->eof = 1;
		return n;
	}
	for (;;) {
		ssize_t n = read(in->fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ade_error_set(err, ADE_EIO, "cannot read '%s': %s", in->path,
					     strerror(errno));
		if (n == 0)
			in->eof = 1;
		return n;
	}
}

const char *ade_input_compression(const struct ade_input *in)
{
	return in->compression;
}

int64_t ade_input_stored_bytes(const struct ade_input *in)
{
	return in->stored;
}

void ade_input_close(struct ade_input *in)
{
	if (!in)
		return;
	if (in->ar)
		archive_read_free(in->ar);
	if (in->fd >= 0)
		close(in->fd);
	free(in->path);
	free(in);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ade_input_expand(const char *source, char ***paths, size_t *n, struct ade_error *err)
{
	*paths = NULL;
	*n = 0;
	if (!strpbrk(source, "*?[")) {
		struct stat st;
		if (stat(source, &st) < 0)
			return ade_error_set(err, ADE_ENOTFOUND, "source '%s' does not exist",
					     source);
		*paths = ade_xcalloc(1, sizeof(char *));
		(*paths)[0] = ade_xstrdup(source);
		*n = 1;
		return 0;
	}
	glob_t g;
	int rc = glob(source, GLOB_ERR, NULL, &g);
	if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
		if (rc == 0)
			globfree(&g);
		return ade_error_set(err, ADE_ENOTFOUND, "source '%s' matches no file", source);
	}
	if (rc)
		return ade_error_set(err, ADE_EIO, "cannot expand source '%s'", source);
	/* glob sorts with the locale's collation; strcmp order is reproducible. */
	*paths = ade_xcalloc(g.gl_pathc, sizeof(char *));
	for (size_t i = 0; i < g.gl_pathc; i++)
		(*paths)[i] = ade_xstrdup(g.gl_pathv[i]);
	*n = g.gl_pathc;
	globfree(&g);
	qsort(*paths, *n, sizeof(char *), cmp_str);
	return 0;
}

void ade_input_paths_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

void ade_window_init(struct ade_window *w, size_t cap, size_t pad, size_t max_record)
{
	memset(w, 0, sizeof(*w));
	w->cap = cap;
	w->pad = pad;
	w->buf = ade_xcalloc(1, cap + pad);
	w->max_record = max_record < cap ? cap : max_record;
}

void ade_window_set_mem(struct ade_window *w, const char *data, size_t len)
{
	const char *limit = getenv("ADE_CSV_READ_LIMIT");

	w->mem = data;
	w->mem_len = len;
	if (limit)
		w->read_limit = (size_t)atol(limit);
}

int ade_window_refill(struct ade_window *w, struct ade_error *err)
{
	ssize_t n;
	size_t want;

	if (w->eof)
		return 0;
	if (w->start > 0) {
		memmove(w->buf, w->buf + w->start, w->end - w->start);
		w->end -= w->start;
		w->base_off += (int64_t)w->start;
		w->start = 0;
	}
	if (w->end == w->cap) {
		if (w->cap >= w->max_record)
			return 2;
		size_t old = w->cap;
		w->cap = w->cap * 2 > w->max_record ? w->max_record : w->cap * 2;
		w->buf = ade_xrealloc(w->buf, w->cap + w->pad);
		memset(w->buf + old, 0, w->cap + w->pad - old);
	}
	want = w->cap - w->end;
	if (w->read_limit && want > w->read_limit)
		want = w->read_limit;
	if (w->in) {
		n = ade_input_read(w->in, w->buf + w->end, want, err);
		if (n < 0)
			return (int)n;
	} else {
		n = (ssize_t)(w->mem_len - w->mem_pos < want ? w->mem_len - w->mem_pos : want);
		memcpy(w->buf + w->end, w->mem + w->mem_pos, (size_t)n);
		w->mem_pos += (size_t)n;
	}
	if (n == 0) {
		w->eof = 1;
		return 0;
	}
	if (w->tap)
		w->tap(w->tap_arg, w->buf + w->end, (size_t)n);
	w->end += (size_t)n;
	return 1;
}

void ade_window_release(struct ade_window *w)
{
	free(w->buf);
	w->buf = NULL;
}
