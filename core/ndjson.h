/*
 * A streaming NDJSON reader: one JSON object per line, nested objects
 * flattened into dotted keys ({"a":{"b":1}} gives the key "a.b"), arrays
 * kept as their JSON text.  Like the CSV reader it parses from one reused
 * buffer and never allocates per field; keys and unescaped strings live
 * in per-record scratch buffers.  Views are valid until the next call.
 * Blank lines are skipped; a line that is not one JSON object is a record
 * with status ADE_ND_BAD_JSON and a reason in error.
 */
#ifndef ADE_NDJSON_H
#define ADE_NDJSON_H

#include <stddef.h>
#include <stdint.h>

struct ade_error;
struct ade_input;
struct ade_nd_reader;

enum ade_nd_kind {
	ADE_ND_NULL,
	ADE_ND_STRING, /* p is the unescaped UTF-8 text */
	ADE_ND_NUMBER, /* p is the number's JSON text */
	ADE_ND_BOOL,   /* p is "true" or "false" */
	ADE_ND_ARRAY,  /* p is the array's JSON text */
};

enum ade_nd_status {
	ADE_ND_OK = 0,
	ADE_ND_BAD_JSON = 1,
	ADE_ND_TOO_LARGE = 2,
};

#define ADE_ND_MAX_DEPTH 64
#define ADE_ND_MAX_FIELDS 65536

struct ade_nd_field {
	const char *key;
	size_t key_len;
	const char *p;
	size_t len;
	int kind; /* enum ade_nd_kind */
};

struct ade_nd_record {
	struct ade_nd_field *fields; /* owned by the reader */
	size_t nfields;
	const char *raw; /* the line without its line end */
	size_t raw_len;
	int64_t line;
	int64_t offset;
	int status;        /* enum ade_nd_status */
	const char *error; /* static text when status is not OK */
	size_t error_at;   /* byte in raw where parsing stopped */
};

/* in is borrowed; max_record bounds one line (at least 1 MiB is used). */
struct ade_nd_reader *ade_nd_new(struct ade_input *in, size_t max_record);
struct ade_nd_reader *ade_nd_new_mem(const char *data, size_t len, size_t max_record);

/* 1 and *rec filled, 0 at the end, or a negative ADE_E* (read error). */
int ade_nd_next(struct ade_nd_reader *r, struct ade_nd_record *rec, struct ade_error *err);

int64_t ade_nd_bytes(const struct ade_nd_reader *r);
void ade_nd_set_tap(struct ade_nd_reader *r, void (*tap)(void *, const void *, size_t),
		    void *arg);
void ade_nd_free(struct ade_nd_reader *r);

#endif
