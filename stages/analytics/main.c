/* ade-analytics: the stage executable; the work is in analytics.c. */
#include "analytics.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stage.h"

int main(void)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	int rc;

	ade_log_set_prog("ade-analytics");
	ade_log_init_from_env();
	rc = ade_stage_init(&ctx, &err);
	if (rc) {
		ade_log_error("%s", err.msg);
		return ADE_EXIT_USAGE;
	}
	rc = ade_analytics_run(&ctx, &err);
	if (rc)
		ade_log_error("%s", err.msg);
	ade_stage_release(&ctx);
	return ade_analytics_exit_code(rc);
}
