/*
 * Error values shared by every ade library.
 *
 * Library functions never exit: they return 0 on success or a negative
 * ADE_E* code, and fill an optional struct ade_error with a one-line
 * message (git style: lowercase, no full stop, the subject quoted).  Only
 * main() turns an error into an exit code, with ade_exit_code_for().
 */
#ifndef ADE_ERROR_H
#define ADE_ERROR_H

#include <stddef.h>

enum ade_errcode {
	ADE_OK = 0,
	ADE_EINVAL = -1,    /* bad argument or configuration value */
	ADE_EIO = -2,       /* a system call on a file failed */
	ADE_ENOMEM = -3,
	ADE_EPARSE = -4,    /* malformed input file (YAML, JSON, CSV) */
	ADE_ENOTFOUND = -5, /* a named thing does not exist */
	ADE_EDB = -6,       /* SQLite reported an error */
	ADE_EBUSY = -7,     /* held by another process */
	ADE_EDATA = -8,     /* the data failed a check of severity fail */
	ADE_ESYS = -9,      /* any other system call failure */
};

/*
 * Exit codes of ade and of ade's stages; documented in README.md.
 * 65 and 75 are sysexits' EX_DATAERR and EX_TEMPFAIL, which the stage
 * contract gives a meaning (not retried / retried).
 */
enum ade_exit {
	ADE_EXIT_OK = 0,
	ADE_EXIT_FAILED = 1,      /* a run or a stage failed */
	ADE_EXIT_USAGE = 2,       /* bad command line */
	ADE_EXIT_PIPELINE = 3,    /* the pipeline file was refused */
	ADE_EXIT_STATE = 4,       /* home, state.db or warehouse unusable or busy */
	ADE_EXIT_DATA = 65,       /* data failed a check of severity fail */
	ADE_EXIT_TEMPFAIL = 75,   /* temporary failure, worth a retry */
	ADE_EXIT_INTERRUPTED = 130,
};

#define ADE_ERROR_MSG_MAX 1024

struct ade_error {
	int code;
	char msg[ADE_ERROR_MSG_MAX];
};

/* Records code and message in err (err may be NULL) and returns code. */
int ade_error_set(struct ade_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "prefix: ", keeping its code; returns it. */
int ade_error_prefix(struct ade_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ade_error_clear(struct ade_error *err);

/* The exit code main() should use for a library error code. */
int ade_exit_code_for(int code);

const char *ade_errcode_name(int code);

#endif
