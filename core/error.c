/* Error values and their messages; see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ade_error_set(struct ade_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int ade_error_prefix(struct ade_error *err, const char *fmt, ...)
{
	char prefix[ADE_ERROR_MSG_MAX];
	char old[ADE_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return ADE_EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return err->code;
}

void ade_error_clear(struct ade_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

int ade_exit_code_for(int code)
{
	switch (code) {
	case ADE_OK:
		return ADE_EXIT_OK;
	case ADE_EINVAL:
		return ADE_EXIT_USAGE;
	case ADE_EPARSE:
		return ADE_EXIT_PIPELINE;
	case ADE_EDATA:
		return ADE_EXIT_DATA;
	case ADE_EBUSY:
	case ADE_EDB:
		return ADE_EXIT_STATE;
	default:
		return ADE_EXIT_FAILED;
	}
}

const char *ade_errcode_name(int code)
{
	switch (code) {
	case ADE_OK: return "ok";
	case ADE_EINVAL: return "invalid";
	case ADE_EIO: return "io";
	case ADE_ENOMEM: return "nomem";
	case ADE_EPARSE: return "parse";
	case ADE_ENOTFOUND: return "notfound";
	case ADE_EDB: return "db";
	case ADE_EBUSY: return "busy";
	case ADE_EDATA: return "data";
	case ADE_ESYS: return "sys";
	}
	return "unknown";
}
