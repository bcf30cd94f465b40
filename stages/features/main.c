/* ade-features: the stage executable; the work is in features.c. */
#include "features.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stage.h"

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	int rc;

	ade_log_set_prog("ade-features");
	ade_log_init_from_env();
	rc = ade_stage_init(&ctx, &err);
	if (rc) {
		ade_log_error("%s", err.msg);
		return ADE_EXIT_USAGE;
	}
	rc = ade_features_run(&ctx, &err);
	if (rc)
		ade_log_error("%s", err.msg);
	ade_stage_release(&ctx);
	return ade_features_exit_code(rc);
}
