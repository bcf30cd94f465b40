/* JSON files over cJSON; see json.h. */
#include "json.h"
#include "error.h"
#include "fs.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_BYTES (256u << 20)

int ade_json_parse(const char *name, const char *text, size_t len, cJSON **out,
		   struct ade_error *err)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	/* One value per file: anything after it but blanks is an error there. */
	if (j && end) {
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' ||
					    *end == '\r'))
			end++;
		if (end < text + len) {
			cJSON_Delete(j);
			j = NULL;
		}
	}
	if (!j) {
		int line = 1, col = 1;
		const char *stop = end ? end : text;
		for (const char *p = text; p < stop && p < text + len; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		return ade_error_set(err, ADE_EPARSE, "%s:%d:%d: invalid JSON", name, line, col);
	}
	*out = j;
	return 0;
}

int ade_json_read_file(const char *path, cJSON **out, struct ade_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = ade_fs_read_all(path, JSON_MAX_BYTES, &text, &len, err);

	if (rc)
		return rc;
	rc = ade_json_parse(path, text, len, out, err);
	free(text);
	return rc;
}

int ade_json_write_file(const char *path, const cJSON *json, int pretty,
			struct ade_error *err)
{
	char *text = pretty ? cJSON_Print(json) : cJSON_PrintUnformatted(json);
	int rc;

	if (!text)
		return ade_error_set(err, ADE_ENOMEM, "cannot serialise JSON for '%s'", path);
	size_t n = strlen(text);
	text[n] = '\n';
	rc = ade_fs_write_atomic(path, text, n + 1, err);
	free(text);
	return rc;
}

const char *ade_json_str(const cJSON *obj, const char *key, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : fallback;
}

double ade_json_num(const cJSON *obj, const char *key, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int ade_json_bool(const cJSON *obj, const char *key, int fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}
