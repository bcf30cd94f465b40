/*
 * A streaming RFC 4180 CSV reader.
 *
 * Records are parsed from one reused buffer (1 MiB, grown only for a
 * record longer than that, up to max_record bytes), so memory does not
 * grow with the input.  Fields are views into the buffer; a quoted field
 * with doubled quotes is unescaped into a per-record scratch buffer, so
 * the record's raw bytes stay intact for quarantine.  Views are valid
 * until the next call of ade_csv_next.  Fields are found through an index
 * of the delimiter, CR, LF and quote positions, built for 64 KiB of the
 * buffer at a time with AVX2 (when the CPU has it), SSE2 or SWAR compares;
 * ADE_CSV_NO_AVX2 in the environment turns the AVX2 variant off (tests).
 *
 * Dialect: delimiter one byte; records end with LF, CRLF or a lone CR;
 * a UTF-8 BOM at the start is skipped; blank lines are skipped; a quote
 * inside an unquoted field is kept literally; anything but a delimiter or
 * a line end after a closing quote, or a quote never closed, marks the
 * record ADE_CSV_BAD_QUOTE.
 */
#ifndef ADE_CSV_H
#define ADE_CSV_H

#include <stddef.h>
#include <stdint.h>

struct ade_error;
struct ade_input;
struct ade_csv_reader;

/* A record that cannot be used as it is (ade_csv_record.status). */
enum ade_csv_status {
	ADE_CSV_OK = 0,
	ADE_CSV_BAD_QUOTE = 1,  /* unterminated quote or text after a closing quote */
	ADE_CSV_TOO_LARGE = 2,  /* longer than max_record; raw is its first bytes */
	ADE_CSV_TOO_MANY = 3,   /* more than ADE_CSV_MAX_FIELDS fields */
};

#define ADE_CSV_MAX_FIELDS 65536

struct ade_csv_field {
	const char *p;
	size_t len;
	int quoted;
};

struct ade_csv_record {
	struct ade_csv_field *fields; /* owned by the reader */
	size_t nfields;
	const char *raw;  /* the record's bytes without its line end */
	size_t raw_len;
	int64_t line;     /* 1-based line of its first byte */
	int64_t offset;   /* byte offset of its first byte in the stream */
	int status;       /* enum ade_csv_status */
	int ascii;        /* 1: raw is all ASCII (so valid UTF-8); 0: not known */
};

/*
 * A reader over in (borrowed; must outlive the reader).  max_record
 * bounds one record's bytes (at least 1 MiB is used).
 */
struct ade_csv_reader *ade_csv_new(struct ade_input *in, char delim, size_t max_record);

/*
 * Same over a memory buffer (borrowed), for tests and fuzzing.
 */
struct ade_csv_reader *ade_csv_new_mem(const char *data, size_t len, char delim,
				       size_t max_record);

/* 1 and *rec filled, 0 at the end, or a negative ADE_E* (read error). */
int ade_csv_next(struct ade_csv_reader *r, struct ade_csv_record *rec, struct ade_error *err);

/* Bytes consumed so far (decompressed), and a hook fed every byte read. */
int64_t ade_csv_bytes(const struct ade_csv_reader *r);
void ade_csv_set_tap(struct ade_csv_reader *r, void (*tap)(void *, const void *, size_t),
		     void *arg);

void ade_csv_free(struct ade_csv_reader *r);

#endif
