/* ade-validate: the stage executable; the work is in validate.c. */
#include "validate.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stage.h"

#include <locale.h>

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	int rc;

	/*
	 * Regular expressions see characters, not bytes: in C.UTF-8 '.'
	 * matches one UTF-8 character, as `length` counts them.
	 */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "C");
	ade_log_set_prog("ade-validate");
	ade_log_init_from_env();
	rc = ade_stage_init(&ctx, &err);
	if (rc) {
		ade_log_error("%s", err.msg);
		return ADE_EXIT_USAGE;
	}
	rc = ade_validate_run(&ctx, &err);
	if (rc)
		ade_log_error("%s", err.msg);
	ade_stage_release(&ctx);
	return ade_validate_exit_code(rc);
}
