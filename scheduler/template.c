/*
 * {{ name }} templates in pipeline values.  The set of names is closed so
 * that a typo is caught by 'ade check' instead of reaching a stage as
 * literal text.
 */
#include "pipeline.h"
#include "core/error.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *known[] = {"ds", "ds_nodash", "interval_start", "interval_end",
			      "run_id", "batch", "home"};

/*
 * Finds the next "{{ name }}" at or after s.  Sets name/len and returns
 * the start of "{{" and *end past "}}"; NULL when there is none.  An
 * unterminated "{{" returns the start with len 0 and *end NULL.
 */
static const char *next_tag(const char *s, const char **name, size_t *len, const char **end)
{
	const char *open = strstr(s, "{{");
	const char *p, *close;

	if (!open)
		return NULL;
	close = strstr(open + 2, "}}");
	if (!close) {
		*name = open;
		*len = 0;
		*end = NULL;
		return open;
	}
	p = open + 2;
	while (p < close && (*p == ' ' || *p == '\t'))
		p++;
	const char *q = close;
	while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	*name = p;
	*len = (size_t)(q - p);
	*end = close + 2;
	return open;
}

static int name_known(const char *name, size_t len, const cJSON *params)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == len && !memcmp(known[i], name, len))
			return 1;
	if (len > 7 && !memcmp(name, "params.", 7)) {
		char *key = ade_xstrndup(name + 7, len - 7);
		int ok = cJSON_GetObjectItemCaseSensitive(params, key) != NULL;
		free(key);
		return ok;
	}
	return 0;
}

int ade_template_check(const char *s, const cJSON *params, size_t *offset, char **bad)
{
	const char *name, *end, *at;
	const char *start = s; /* offsets count from the start, not the last tag */
	size_t len;

	while ((at = next_tag(s, &name, &len, &end))) {
		if (!end) {
			*offset = (size_t)(at - start);
			*bad = ade_xstrdup("{{ without }}");
			return ADE_EPARSE;
		}
		if (!name_known(name, len, params)) {
			*offset = (size_t)(name - start);
			*bad = ade_xstrndup(name, len);
			return ADE_EPARSE;
		}
		s = end;
	}
	return 0;
}

static const char *lookup(const char *name, size_t len, const struct ade_template_vars *v,
			  char *numbuf, size_t numlen)
{
#define IS(lit) (len == sizeof(lit) - 1 && !memcmp(name, lit, len))
	if (IS("ds")) return v->ds;
	if (IS("ds_nodash")) return v->ds_nodash;
	if (IS("interval_start")) return v->interval_start;
	if (IS("interval_end")) return v->interval_end;
	if (IS("run_id")) return v->run_id;
	if (IS("batch")) return v->batch ? v->batch : "";
	if (IS("home")) return v->home;
#undef IS
	if (len > 7 && !memcmp(name, "params.", 7) && v->params) {
		char *key = ade_xstrndup(name + 7, len - 7);
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(v->params, key);
		free(key);
		if (cJSON_IsString(p))
			return p->valuestring;
		if (cJSON_IsNumber(p)) {
			/* Only cast values that fit: a bigger double overflows (UB). */
			if (p->valuedouble > -9e18 && p->valuedouble < 9e18 &&
			    p->valuedouble == (double)(long long)p->valuedouble)
				snprintf(numbuf, numlen, "%lld", (long long)p->valuedouble);
			else
				snprintf(numbuf, numlen, "%.17g", p->valuedouble);
			return numbuf;
		}
		if (cJSON_IsBool(p))
			return cJSON_IsTrue(p) ? "true" : "false";
		if (cJSON_IsNull(p))
			return "";
	}
	return NULL;
}

int ade_template_render(const char *s, const struct ade_template_vars *v, char **out,
			struct ade_error *err)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	const char *name, *end, *at;
	char num[64];
	size_t len;

	while ((at = next_tag(s, &name, &len, &end))) {
		const char *val = end ? lookup(name, len, v, num, sizeof(num)) : NULL;
		if (!val) {
			ade_strbuf_release(&sb);
			if (!end)
				return ade_error_set(err, ADE_EINVAL,
						     "unterminated template: '{{' without '}}'");
			return ade_error_set(err, ADE_EINVAL, "unknown template name '%.*s'",
					     (int)len, name);
		}
		ade_strbuf_add(&sb, s, (size_t)(at - s));
		ade_strbuf_adds(&sb, val);
		s = end;
	}
	ade_strbuf_adds(&sb, s);
	*out = ade_strbuf_detach(&sb);
	return 0;
}

cJSON *ade_template_render_json(const cJSON *json, const struct ade_template_vars *v,
				struct ade_error *err)
{
	cJSON *copy;

	if (cJSON_IsString(json)) {
		char *s = NULL;
		if (ade_template_render(json->valuestring, v, &s, err))
			return NULL;
		copy = cJSON_CreateString(s);
		free(s);
		return copy;
	}
	if (!cJSON_IsArray(json) && !cJSON_IsObject(json))
		return cJSON_Duplicate(json, 0);
	copy = cJSON_IsArray(json) ? cJSON_CreateArray() : cJSON_CreateObject();
	for (const cJSON *c = json->child; c; c = c->next) {
		cJSON *cc = ade_template_render_json(c, v, err);
		if (!cc) {
			cJSON_Delete(copy);
			return NULL;
		}
		if (cJSON_IsObject(json))
			cJSON_AddItemToObject(copy, c->string, cc);
		else
			cJSON_AddItemToArray(copy, cc);
	}
	return copy;
}
