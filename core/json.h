/*
 * JSON files over cJSON.  Ownership follows cJSON: a cJSON tree returned
 * to the caller is the caller's, freed with cJSON_Delete; a tree passed to
 * a write function is only read.
 */
#ifndef ADE_JSON_H
#define ADE_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct ade_error;

/*
 * Parses a JSON file.  On a syntax error the message names the file, the
 * line and the column.  Files over 256 MB are refused.
 */
int ade_json_read_file(const char *path, cJSON **out, struct ade_error *err);
/* The same for rel relative to the directory open as dirfd (core/fs.h's ade_fs_read_all_at). */
int ade_json_read_file_at(int dirfd, const char *dir, const char *rel, cJSON **out,
			  struct ade_error *err);

/* Parses len bytes; name is used in error messages. */
int ade_json_parse(const char *name, const char *text, size_t len, cJSON **out,
		   struct ade_error *err);

/* Writes a tree atomically (see ade_fs_write_atomic), indented if pretty. */
int ade_json_write_file(const char *path, const cJSON *json, int pretty,
			struct ade_error *err);

/* Lookups that return a fallback when the key is missing or mistyped. */
const char *ade_json_str(const cJSON *obj, const char *key, const char *fallback);
double ade_json_num(const cJSON *obj, const char *key, double fallback);
int ade_json_bool(const cJSON *obj, const char *key, int fallback);

/*
 * Writes v as JSON text that reads back as exactly v: an integer, or a
 * decimal of at most nine places when one round-trips (durations, rates),
 * else the shorter of %.15g and %.17g that does; NaN and infinities are
 * null.  Returns the length.  cJSON prints a fraction with a printf and a
 * sscanf, which was half the cost of a run summary of 1000 stages.
 */
int ade_json_format_number(double v, char out[32]);

/*
 * Adds v under key as a raw item holding ade_json_format_number's text.
 * For trees that are only printed: a reader of the tree sees cJSON_IsRaw,
 * not cJSON_IsNumber.  Returns the item (owned by obj).
 */
cJSON *ade_json_add_number_raw(cJSON *obj, const char *key, double v);

/*
 * Appends JSON text for large arrays built without a node per value (a
 * run summary has fifteen values for each of thousands of stages): s as a
 * JSON string (NULL: null), escaped by cJSON unless it is plain printable
 * ASCII; v as ade_json_format_number prints it (NaN: null).
 */
struct ade_strbuf;
void ade_json_put_string(struct ade_strbuf *sb, const char *s);
void ade_json_put_number(struct ade_strbuf *sb, double v);

#endif
