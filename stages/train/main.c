/* ade-train: the stage executable; the work is in fit.c. */
#include "train.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stage.h"

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	int rc;

	ade_log_set_prog("ade-train");
	ade_log_init_from_env();
	rc = ade_stage_init(&ctx, &err);
	if (rc) {
		ade_log_error("%s", err.msg);
		return ADE_EXIT_USAGE;
	}
	rc = ade_train_run(&ctx, &err);
	if (rc)
		ade_log_error("%s", err.msg);
	ade_stage_release(&ctx);
	return ade_train_exit_code(rc);
}
