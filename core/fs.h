/*
 * File-system helpers: whole-file reads, atomic writes (temporary file,
 * fsync, rename, fsync of the directory, so a reader sees the old file or
 * the new one and never a torn one), recursive mkdir and removal.
 */
#ifndef ADE_FS_H
#define ADE_FS_H

#include <stddef.h>

struct ade_error;

/* Creates path and its parents (mode 0755); existing directories are fine. */
int ade_fs_mkdirs(const char *path, struct ade_error *err);

/*
 * Reads a whole file into a new NUL-terminated buffer (caller frees *out).
 * Files larger than max bytes are refused with ADE_EINVAL.
 */
int ade_fs_read_all(const char *path, size_t max, char **out, size_t *len,
		    struct ade_error *err);

/*
 * The same for rel, relative to the directory open as dirfd (AT_FDCWD:
 * the working directory): a loop over the files of a run opens each
 * relative to the run folder instead of walking its whole path again.
 * Messages name dir/rel (dir may be NULL).
 */
int ade_fs_read_all_at(int dirfd, const char *dir, const char *rel, size_t max, char **out,
		       size_t *len, struct ade_error *err);

/* Atomically replaces path with len bytes of data, durably (fsync of the file and its folder). */
int ade_fs_write_atomic(const char *path, const void *data, size_t len,
			struct ade_error *err);

/*
 * Atomically replaces path with len bytes of data without waiting for the
 * disk: readers see the old file or the new one, never a torn one, but a
 * power cut in the next seconds may leave the old one or an empty one.  For
 * files derived from state.db that every run rewrites (run_summary.json,
 * metrics/ade.prom): on a journalled ext4 the two fsyncs cost 10-20 ms at
 * every run's end, for files that can be made again.
 */
int ade_fs_write_replace(const char *path, const void *data, size_t len,
			 struct ade_error *err);

/* Removes a directory tree; a missing path is not an error. */
int ade_fs_remove_tree(const char *path, struct ade_error *err);

/* fsyncs a directory so that a rename inside it is durable. */
int ade_fs_sync_dir(const char *dir, struct ade_error *err);

/* 1 if path exists (any type), 0 otherwise. */
int ade_fs_exists(const char *path);

/* Directory part of a path, in a new string (caller frees); "." if none. */
char *ade_fs_dirname(const char *path);

/* An absolute, normalised form of path (caller frees), or NULL. */
char *ade_fs_abspath(const char *path);

#endif
