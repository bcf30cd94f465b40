/* The stage contract for stages written in C; see stage.h. */
#include "stage.h"
#include "error.h"
#include "json.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int ade_stage_init(struct ade_stage_ctx *ctx, struct ade_error *err)
{
	static const char *required[] = {"ADE_PIPELINE", "ADE_STAGE", "ADE_DS", "ADE_OUT"};
	struct stat st;
	const char *cfg;

	memset(ctx, 0, sizeof(*ctx));
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!env_or_null(required[i]))
			return ade_error_set(err, ADE_EINVAL,
					     "%s is not set; a stage is started by 'ade run'",
					     required[i]);
	ctx->pipeline = getenv("ADE_PIPELINE");
	ctx->stage = getenv("ADE_STAGE");
	ctx->ds = getenv("ADE_DS");
	ctx->interval_start = env_or_null("ADE_INTERVAL_START");
	ctx->interval_end = env_or_null("ADE_INTERVAL_END");
	ctx->run_id = env_or_null("ADE_RUN_ID");
	ctx->batch = env_or_null("ADE_BATCH");
	ctx->home = env_or_null("ADE_HOME");
	ctx->warehouse = env_or_null("ADE_WAREHOUSE");
	ctx->out = getenv("ADE_OUT");
	ctx->source = env_or_null("ADE_SOURCE");
	ctx->attempt = env_or_null("ADE_ATTEMPT") ? atoi(getenv("ADE_ATTEMPT")) : 1;
	if (stat(ctx->out, &st) < 0 || !S_ISDIR(st.st_mode))
		return ade_error_set(err, ADE_EINVAL, "ADE_OUT '%s' is not a directory", ctx->out);
	cfg = env_or_null("ADE_CONFIG");
	if (cfg) {
		int rc = ade_json_read_file(cfg, &ctx->config, err);
		if (rc)
			return rc;
		if (!cJSON_IsObject(ctx->config)) {
			cJSON_Delete(ctx->config);
			ctx->config = NULL;
			return ade_error_set(err, ADE_EINVAL, "%s: the stage config is not an object",
					     cfg);
		}
	} else {
		ctx->config = cJSON_CreateObject();
	}
	ctx->pipeline_file = env_or_null("ADE_PIPELINE_FILE");
	/* Positions only improve messages: a missing or bad file is ignored. */
	if (env_or_null("ADE_CONFIG_POS") &&
	    ade_json_read_file(getenv("ADE_CONFIG_POS"), &ctx->config_pos, NULL))
		ctx->config_pos = NULL;
	return 0;
}

int ade_stage_config_error(const struct ade_stage_ctx *ctx, struct ade_error *err,
			   const char *ptr, const char *fmt, ...)
{
	char msg[ADE_ERROR_MSG_MAX];
	va_list ap;
	const cJSON *lc = ctx->config_pos ? cJSON_GetObjectItemCaseSensitive(ctx->config_pos,
									       *ptr ? ptr : "/")
					  : NULL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cJSON_GetArraySize(lc) == 2 && ctx->pipeline_file)
		return ade_error_set(err, ADE_EINVAL, "%s:%d:%d: %s", ctx->pipeline_file,
				     cJSON_GetArrayItem(lc, 0)->valueint,
				     cJSON_GetArrayItem(lc, 1)->valueint, msg);
	return ade_error_set(err, ADE_EINVAL, "ADE_CONFIG %s: %s", *ptr ? ptr : "/", msg);
}

void ade_stage_release(struct ade_stage_ctx *ctx)
{
	cJSON_Delete(ctx->config);
	ctx->config = NULL;
	cJSON_Delete(ctx->config_pos);
	ctx->config_pos = NULL;
}

const char *ade_stage_input_dir(const char *name)
{
	char var[256] = "ADE_IN_";
	size_t n = strlen(var);

	for (const char *p = name; *p && n + 1 < sizeof(var); p++)
		var[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	var[n] = '\0';
	return env_or_null(var);
}

extern char **environ;

int ade_stage_main_input(const cJSON *config, const char **dir, struct ade_error *err)
{
	const char *name = ade_json_str(config, "input", NULL);
	const char *found = NULL;
	int n = 0;

	if (name) {
		*dir = ade_stage_input_dir(name);
		if (!*dir)
			return ade_error_set(err, ADE_EINVAL,
					     "input '%s' is not a stage this stage needs (no ADE_IN_ for it)",
					     name);
		return 0;
	}
	for (char **e = environ; *e; e++) {
		if (!strncmp(*e, "ADE_IN_", 7) && strchr(*e, '=') && strchr(*e, '=')[1]) {
			found = strchr(*e, '=') + 1;
			n++;
		}
	}
	if (n == 0)
		return ade_error_set(err, ADE_EINVAL,
				     "no input: this stage needs an upstream stage (needs: [...])");
	if (n > 1)
		return ade_error_set(err, ADE_EINVAL,
				     "%d upstream stages: say which one to read with `with: {input: NAME}`",
				     n);
	*dir = found;
	return 0;
}

cJSON *ade_stage_result_new(const struct ade_stage_ctx *ctx, const char *status)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddNumberToObject(r, "version", 1);
	cJSON_AddStringToObject(r, "status", status);
	/*
	 * Which program wrote the result ("ade-quality"), so readers such as
	 * ade-warehouse know its shape whatever the stage is called.
	 */
	cJSON_AddStringToObject(r, "producer", program_invocation_short_name);
	cJSON_AddStringToObject(r, "pipeline", ctx->pipeline);
	cJSON_AddStringToObject(r, "stage", ctx->stage);
	cJSON_AddStringToObject(r, "ds", ctx->ds);
	if (ctx->run_id)
		cJSON_AddStringToObject(r, "run_id", ctx->run_id);
	if (ctx->batch)
		cJSON_AddStringToObject(r, "batch", ctx->batch);
	return r;
}

int ade_stage_result_write(const struct ade_stage_ctx *ctx, const cJSON *result,
			   struct ade_error *err)
{
	char *path = ade_xasprintf("%s/result.json", ctx->out);
	int rc = ade_json_write_file(path, result, 1, err);

	free(path);
	return rc;
}
