/* JSON files over cJSON; see json.h. */
#include "json.h"
#include "error.h"
#include "fs.h"
#include "util.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
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

int ade_json_read_file_at(int dirfd, const char *dir, const char *rel, cJSON **out,
			  struct ade_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = ade_fs_read_all_at(dirfd, dir, rel, JSON_MAX_BYTES, &text, &len, err);

	if (rc)
		return rc;
	if (dir) {
		char *path = ade_xasprintf("%s/%s", dir, rel);
		rc = ade_json_parse(path, text, len, out, err);
		free(path);
	} else {
		rc = ade_json_parse(rel, text, len, out, err);
	}
	free(text);
	return rc;
}

int ade_json_read_file(const char *path, cJSON **out, struct ade_error *err)
{
	return ade_json_read_file_at(AT_FDCWD, NULL, path, out, err);
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

int ade_json_format_number(double v, char out[32])
{
	static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

	if (!isfinite(v))
		return snprintf(out, 32, "null");
	/*
	 * m / 10^k with |m| < 2^53 is correctly rounded by the division and by
	 * strtod alike, so when it equals v the decimal text reads back as v;
	 * the first k that works gives the fewest places.
	 */
	for (int k = 0; k < (int)(sizeof(p10) / sizeof(p10[0])); k++) {
		double x = v * p10[k];
		if (!(fabs(x) < 9e15))
			break;
		long long m = llround(x);
		if ((double)m / p10[k] != v)
			continue;
		/* Digits by hand: snprintf was most of the cost. */
		char digits[24];
		int nd = 0, n = 0;
		unsigned long long u = m < 0 ? 0ull - (unsigned long long)m : (unsigned long long)m;
		do {
			digits[nd++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		while (nd <= k)
			digits[nd++] = '0'; /* 0.00x: zeros before the first digit */
		if (m < 0)
			out[n++] = '-';
		while (nd > 0) {
			if (nd == k)
				out[n++] = '.';
			out[n++] = digits[--nd];
		}
		out[n] = '\0';
		return n;
	}
	int n = snprintf(out, 32, "%.15g", v);
	if (strtod(out, NULL) != v)
		n = snprintf(out, 32, "%.17g", v);
	return n;
}

cJSON *ade_json_add_number_raw(cJSON *obj, const char *key, double v)
{
	char text[32];

	ade_json_format_number(v, text);
	return cJSON_AddRawToObject(obj, key, text);
}

void ade_json_put_string(struct ade_strbuf *sb, const char *s)
{
	if (!s) {
		ade_strbuf_add(sb, "null", 4);
		return;
	}
	const unsigned char *u = (const unsigned char *)s;
	while (*u >= 0x20 && *u < 0x7f && *u != '"' && *u != '\\')
		u++;
	if (!*u) {
		ade_strbuf_addc(sb, '"');
		ade_strbuf_add(sb, s, (size_t)((const char *)u - s));
		ade_strbuf_addc(sb, '"');
		return;
	}
	cJSON *str = cJSON_CreateString(s);
	char *text = str ? cJSON_PrintUnformatted(str) : NULL;
	ade_strbuf_adds(sb, text ? text : "null");
	cJSON_free(text);
	cJSON_Delete(str);
}

void ade_json_put_number(struct ade_strbuf *sb, double v)
{
	char text[32];
	int n = ade_json_format_number(v, text);

	ade_strbuf_add(sb, text, (size_t)n);
}
