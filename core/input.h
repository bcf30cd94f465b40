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
 * The buffer the record readers (CSV, NDJSON) parse in: a window of bytes
 * over an input or a block of memory.  Records are parsed in
 * buf[start, end); a refill moves what is left to the front, grows the
 * buffer (up to max_record) when one record fills it, and reads more.
 * buf has pad zero bytes after cap, for parsers that load words past the
 * end.  The reader owns buf; in and mem are borrowed.
 */
struct ade_window {
	struct ade_input *in; /* NULL: read from mem */
	const char *mem;
	size_t mem_len, mem_pos;
	size_t read_limit; /* bytes per refill, 0 = no limit (tests: ADE_CSV_READ_LIMIT) */
	char *buf;
	size_t cap, start, end, pad;
	int64_t base_off; /* stream offset of buf[0] */
	int eof;
	size_t max_record;
	void (*tap)(void *, const void *, size_t); /* sees every byte read, in order */
	void *tap_arg;
};

/* Allocates buf (cap bytes and pad zeros); max_record is raised to cap. */
void ade_window_init(struct ade_window *w, size_t cap, size_t pad, size_t max_record);

/* Reads from data[0, len) instead of an input (and honours ADE_CSV_READ_LIMIT). */
void ade_window_set_mem(struct ade_window *w, const char *data, size_t len);

/*
 * Returns 1 when more bytes were read, 0 at the end of the stream, 2 when
 * the buffer is full at max_record, or a negative ADE_E* code with err set.
 */
int ade_window_refill(struct ade_window *w, struct ade_error *err);

/* Frees buf. */
void ade_window_release(struct ade_window *w);

/*
 * The files a source names: the path itself, or when it holds any of
 * * ? [ the glob's matches in sorted (strcmp) order.  No match, or a
 * missing plain path, is ADE_ENOTFOUND.  *paths (an array of *n strings)
 * and each string are the caller's: free with ade_input_paths_free.
 */
int ade_input_expand(const char *source, char ***paths, size_t *n, struct ade_error *err);
void ade_input_paths_free(char **paths, size_t n);

#endif
