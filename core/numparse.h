/*
 * Parsers for the text of one field, over (pointer, length) views that
 * need not be NUL-terminated.  They never allocate (a float that needs
 * strtod and is longer than 511 bytes is copied to a temporary buffer that
 * is freed before returning), never read past p[n-1], and never depend on
 * the process locale.
 */
#ifndef ADE_NUMPARSE_H
#define ADE_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Return values of ade_parse_i64. */
#define ADE_NUM_OK 0
#define ADE_NUM_RANGE 1 /* integer syntax, but outside int64 */
#define ADE_NUM_SYNTAX (-1)

/* [+-]?[0-9]+ into *out; ADE_NUM_OK, ADE_NUM_RANGE or ADE_NUM_SYNTAX. */
int ade_parse_i64(const char *p, size_t n, int64_t *out);

/*
 * A decimal float: [+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?, or nan,
 * inf, infinity (any case, optional sign).  The result is bit-for-bit
 * what strtod gives in the C locale: Clinger's fast path when the
 * significand has at most 19 digits, is at most 2^53 and the decimal
 * exponent is within [-22, 22]; strtod_l with the C locale otherwise.
 * Returns 0, or -1 for any other text (hex floats included).
 */
int ade_parse_f64(const char *p, size_t n, double *out);

/* true / false in any case; 0 or -1. */
int ade_parse_bool(const char *p, size_t n, int *out);

/*
 * A calendar date as days since 1970-01-01, in one of the formats
 * YYYY-MM-DD, YYYY/MM/DD or DD.MM.YYYY; 0 or -1.
 */
int ade_parse_date(const char *p, size_t n, int64_t *days);

/*
 * A timestamp as microseconds since the epoch, UTC:
 * YYYY-MM-DD('T'|' ')HH:MM[:SS[.fraction]][Z|+HH:MM|-HH:MM|+HHMM|-HHMM].
 * No zone means UTC.  Fraction digits past the sixth are truncated.
 * 0 or -1.
 */
int ade_parse_timestamp(const char *p, size_t n, int64_t *us);

/* Classes reported by ade_classify, as bits. */
enum {
	ADE_CLS_INT = 1,     /* fits int64 */
	ADE_CLS_BIGINT = 2,  /* integer syntax past int64 */
	ADE_CLS_FLOAT = 4,   /* a float that is not integer syntax */
	ADE_CLS_BOOL = 8,
	ADE_CLS_DATE = 16,
	ADE_CLS_TIMESTAMP = 32,
	ADE_CLS_OTHER = 64,  /* none of the above */
};

/* The class of a non-empty value, for type inference (one bit set). */
int ade_classify(const char *p, size_t n);

#endif
