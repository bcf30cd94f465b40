/*
 * A byte stream over one input file, decompressed on the fly: plain files
 * are read with read(2); gzip, zstd, xz and bzip2 (recognised by their
 * magic bytes, not by the name) go through libarchive's raw format and
 * its filters.  Also the expansion of a source that may be a glob.
 */
#ifndef ADE_INPUT_H
#define ADE_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ade_error;
struct ade_input;

/* Opens path; *out is the caller's, closed with ade_input_close. */
int ade_input_open(const char *path, struct ade_input **out, struct ade_error *err);

/*
 * Reads up to cap decompressed bytes into buf.  Returns the count, 0 at
 * the end of the stream, or a negative ADE_E* code with err filled.
 */
ssize_t ade_input_read(struct ade_input *in, void *buf, size_t cap, struct ade_error *err);

/* "none", "gzip", "zstd", "xz" or "bzip2". */
const char *ade_input_compression(const struct ade_input *in);

/* Size of the file as stored (compressed), in bytes. */
int64_t ade_input_stored_bytes(const struct ade_input *in);

void ade_input_close(struct ade_input *in);

/*
 * The files a source names: the path itself, or when it holds any of
 * * ? [ the glob's matches in sorted (strcmp) order.  No match, or a
 * missing plain path, is ADE_ENOTFOUND.  *paths (an array of *n strings)
 * and each string are the caller's: free with ade_input_paths_free.
 */
int ade_input_expand(const char *source, char ***paths, size_t *n, struct ade_error *err);
void ade_input_paths_free(char **paths, size_t n);

#endif
