/* File-system helpers; see fs.h. */
#include "fs.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ade_fs_mkdirs(const char *path, struct ade_error *err)
{
	char *p;
	int rc = 0;
	struct stat st;

	if (!*path)
		return ade_error_set(err, ADE_EINVAL, "cannot create a directory with an empty name");
	/* Most calls create one directory under an existing one: try that first. */
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	p = ade_xstrdup(path);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			/* EEXIST is fine only for a directory, not a file in the way. */
			if (mkdir(p, 0755) < 0 &&
			    (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
				rc = ade_error_set(err, ADE_EIO, "cannot create directory '%s': %s",
						   p, errno == EEXIST ? strerror(ENOTDIR)
								      : strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

int ade_fs_read_all_at(int dirfd, const char *dir, const char *rel, size_t max, char **out,
		       size_t *len, struct ade_error *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	const char *sep = dir ? "/" : "";

	if (!dir)
		dir = "";
	if (fd < 0)
		return ade_error_set(err, errno == ENOENT ? ADE_ENOTFOUND : ADE_EIO,
				     "cannot open '%s%s%s': %s", dir, sep, rel, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ade_error_set(err, ADE_EIO, "'%s%s%s' is not a regular file", dir, sep, rel);
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return ade_error_set(err, ADE_EINVAL, "'%s%s%s' is larger than %zu bytes", dir, sep,
				     rel, max);
	}
	buf = ade_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	return 0;
}

int ade_fs_read_all(const char *path, size_t max, char **out, size_t *len,
		    struct ade_error *err)
{
	return ade_fs_read_all_at(AT_FDCWD, NULL, path, max, out, len, err);
}

int ade_fs_sync_dir(const char *dir, struct ade_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open directory '%s': %s", dir,
				     strerror(errno));
	fsync(fd);
	close(fd);
	return 0;
}

static int write_replace(const char *path, const void *data, size_t len, int durable,
			 struct ade_error *err)
{
	char *tmp = ade_xasprintf("%s.tmp.%ld", path, (long)getpid());
	const char *p = data;
	size_t done = 0;
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", tmp,
					   strerror(errno));
			break;
		}
		done += (size_t)n;
	}
	if (!rc && durable && fsync(fd) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot fsync '%s': %s", tmp, strerror(errno));
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
				   strerror(errno));
	if (rc) {
		unlink(tmp);
	} else if (durable) {
		char *dir = ade_fs_dirname(path);
		ade_fs_sync_dir(dir, NULL);
		free(dir);
	}
out:
	free(tmp);
	return rc;
}

int ade_fs_write_atomic(const char *path, const void *data, size_t len,
			struct ade_error *err)
{
	return write_replace(path, data, len, 1, err);
}

int ade_fs_write_replace(const char *path, const void *data, size_t len,
			 struct ade_error *err)
{
	return write_replace(path, data, len, 0, err);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int ade_fs_remove_tree(const char *path, struct ade_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0)
			return ade_error_set(err, ADE_EIO, "cannot remove '%s': %s", path,
					     strerror(errno));
		return 0;
	}
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return ade_error_set(err, ADE_EIO, "cannot remove '%s': %s", path,
				     strerror(errno));
	return 0;
}

int ade_fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

char *ade_fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return ade_xstrdup(".");
	if (slash == path)
		return ade_xstrdup("/");
	return ade_xstrndup(path, (size_t)(slash - path));
}

char *ade_fs_abspath(const char *path)
{
	char *r = realpath(path, NULL);

	if (r)
		return r;
	/* The file may not exist yet: resolve its directory instead. */
	if (path[0] == '/')
		return ade_xstrdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	return ade_xasprintf("%s/%s", cwd, path);
}
