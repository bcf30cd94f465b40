/*
 * Loads a pipeline file with libyaml's document API and checks it whole
 * before anything runs.  Every refusal names file:line:column, taken from
 * the node's start mark (libyaml counts from 0; we print from 1).
 */
#include "pipeline.h"
#include "cron.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PIPELINE_MAX_BYTES (16u << 20)
#define MAX_STAGES 100000

struct loader {
	const char *path;
	const char *text;   /* the file's bytes, for positions inside scalars */
	size_t len;
	yaml_document_t doc;
	struct ade_error *err;
	struct ade_pipeline *p;
	const char *exec_dir;
	char *exe_name, *exe_path; /* the last run: resolved, most stages share it */
};

static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[ADE_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ade_error_set(L->err, ADE_EPARSE, "%s:%zu:%zu: %s", L->path,
			     n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1,
			     msg);
}

static yaml_node_t *node(struct loader *L, yaml_node_item_t id)
{
	return yaml_document_get_node(&L->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int want_scalar(struct loader *L, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail_at(L, n, "%s must be a scalar, not %s", what, kind_name(n));
	return 0;
}

static int want_string(struct loader *L, yaml_node_t *n, const char *what, char **out)
{
	int rc = want_scalar(L, n, what);

	if (rc)
		return rc;
	if (is_plain(n) && (!strcmp(scalar(n), "~") || !strcmp(scalar(n), "null") || !*scalar(n)))
		return fail_at(L, n, "%s must not be empty", what);
	free(*out);
	*out = ade_xstrdup(scalar(n));
	return 0;
}

static int want_bool(struct loader *L, yaml_node_t *n, const char *what, int *out)
{
	int rc = want_scalar(L, n, what);
	const char *s;

	if (rc)
		return rc;
	s = scalar(n);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no"))
		*out = 0;
	else
		return fail_at(L, n, "%s must be true or false, not '%s'", what, s);
	return 0;
}

static int want_int(struct loader *L, yaml_node_t *n, const char *what, long min, long max,
		    int *out)
{
	int rc = want_scalar(L, n, what);
	char *end;
	long v;

	if (rc)
		return rc;
	errno = 0;
	v = strtol(scalar(n), &end, 10);
	if (!*scalar(n) || *end || errno || !is_plain(n))
		return fail_at(L, n, "%s must be an integer, not '%s'", what, scalar(n));
	if (v < min || v > max)
		return fail_at(L, n, "%s must be between %ld and %ld, not %ld", what, min, max, v);
	*out = (int)v;
	return 0;
}

static int want_duration(struct loader *L, yaml_node_t *n, const char *what, int64_t *ms)
{
	int rc = want_scalar(L, n, what);

	if (rc)
		return rc;
	if (ade_parse_duration_ms(scalar(n), ms))
		return fail_at(L, n, "%s must be a duration such as 30s, 10m or 2h, not '%s'",
			       what, scalar(n));
	return 0;
}

/* Calls fn for each key of a mapping; refuses non-scalar keys. */
typedef int (*pair_fn)(struct loader *L, yaml_node_t *key, yaml_node_t *val, void *arg);

static int each_pair(struct loader *L, yaml_node_t *map, const char *what, pair_fn fn,
		     void *arg)
{
	if (map->type != YAML_MAPPING_NODE)
		return fail_at(L, map, "%s must be a mapping, not %s", what, kind_name(map));
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(L, pr->key), *v = node(L, pr->value);
		if (k->type != YAML_SCALAR_NODE)
			return fail_at(L, k, "keys of %s must be scalars", what);
		/* YAML allows duplicate keys; a pipeline that has one is a mistake. */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *k2 = node(L, q->key);
			if (k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), scalar(k)))
				return fail_at(L, k, "duplicate key '%s' in %s", scalar(k), what);
		}
		int rc = fn(L, k, v, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Anchors let one node appear many times, even inside itself (&a [*a]),
 * and to_json and check_templates recurse over the tree: refuse a value
 * that contains itself, nesting deeper than the stack allows, and aliases
 * that expand without bound ("billion laughs") before anything walks it.
 */
#define MAX_DEPTH 1000
#define MAX_EXPANDED_NODES 10000000

static int check_shape(struct loader *L, yaml_node_t *n, char *on_path, size_t *visits,
		       int depth)
{
	size_t id = (size_t)(n - L->doc.nodes.start);
	int rc = 0;

	if (on_path[id])
		return fail_at(L, n, "this value contains itself through an alias");
	if (depth > MAX_DEPTH)
		return fail_at(L, n, "values nested deeper than %d levels", MAX_DEPTH);
	if (++*visits > MAX_EXPANDED_NODES)
		return fail_at(L, n, "aliases expand to more than %d values", MAX_EXPANDED_NODES);
	on_path[id] = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     !rc && it < n->data.sequence.items.top; it++)
			rc = check_shape(L, node(L, *it), on_path, visits, depth + 1);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     !rc && pr < n->data.mapping.pairs.top; pr++) {
			rc = check_shape(L, node(L, pr->key), on_path, visits, depth + 1);
			if (!rc)
				rc = check_shape(L, node(L, pr->value), on_path, visits, depth + 1);
		}
	}
	on_path[id] = 0;
	return rc;
}

/* Converts a YAML subtree into cJSON, typing plain scalars as YAML 1.2 core. */
static cJSON *to_json(struct loader *L, yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = scalar(n);
		if (is_plain(n)) {
			char *end;
			if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null"))
				return cJSON_CreateNull();
			if (!strcmp(s, "true") || !strcmp(s, "True"))
				return cJSON_CreateTrue();
			if (!strcmp(s, "false") || !strcmp(s, "False"))
				return cJSON_CreateFalse();
			if (isdigit((unsigned char)s[0]) ||
			    ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
			     isdigit((unsigned char)s[1]))) {
				double d = strtod(s, &end);
				if (!*end)
					return cJSON_CreateNumber(d);
			}
		}
		return cJSON_CreateString(s);
	}
	case YAML_SEQUENCE_NODE: {
		cJSON *a = cJSON_CreateArray();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			cJSON_AddItemToArray(a, to_json(L, node(L, *it)));
		return a;
	}
	case YAML_MAPPING_NODE: {
		cJSON *o = cJSON_CreateObject();
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = node(L, pr->key);
			const char *ks = k->type == YAML_SCALAR_NODE ? scalar(k) : "?";
			cJSON_AddItemToObject(o, ks, to_json(L, node(L, pr->value)));
		}
		return o;
	}
	default:
		return cJSON_CreateNull();
	}
}

/*
 * The file position (0-based) of byte off of scalar n's value.  A value
 * differs from its source when it is a block scalar, folds lines or has
 * escapes, so the k-th "{{" of the value is found as the k-th "{{" of the
 * scalar's source, and the position counted from there.  libyaml counts
 * marks in characters, not bytes.
 */
static void value_pos(struct loader *L, const yaml_node_t *n, size_t off, size_t *line,
		      size_t *col)
{
	const char *v = scalar(n), *t = L->text, *end = L->text + L->len;
	size_t k = 0, open = 0, chars = 0;

	*line = n->start_mark.line;
	*col = n->start_mark.column + off + !is_plain(n); /* right for one-line scalars */
	for (const char *q = v; (q = strstr(q, "{{")) && (size_t)(q - v) <= off; q += 2) {
		k++;
		open = (size_t)(q - v);
	}
	if (!k)
		return;
	if (L->len >= 3 && !memcmp(t, "\xef\xbb\xbf", 3))
		t += 3; /* libyaml does not count a BOM */
	/* To the scalar's first character. */
	for (; t < end && chars < n->start_mark.index; t++)
		if (((unsigned char)*t & 0xc0) != 0x80)
			chars++;
	size_t l = n->start_mark.line, c = n->start_mark.column;
	for (; t + 1 < end && chars < n->end_mark.index; t++) {
		if (((unsigned char)*t & 0xc0) == 0x80)
			continue; /* a continuation byte: the same character */
		if (t[0] == '{' && t[1] == '{') {
			if (--k == 0) {
				/* "{{" and blanks: as many characters as bytes in the value. */
				*line = l;
				*col = c + (off - open);
				return;
			}
			t++; /* the first brace; the second is counted below */
			chars++;
			c++;
		}
		chars++;
		if (*t == '\n') {
			l++;
			c = 0;
		} else if (*t != '\r') {
			c++;
		}
	}
}

/*
 * Records where each value under a `with:` block sits in the file, keyed
 * by its JSON pointer ("/rules/2/mostly"), so a stage that refuses its
 * configuration can name the file, line and column like the loader does.
 */
static void to_pos(struct loader *L, yaml_node_t *n, const char *ptr, cJSON *pos)
{
	cJSON *lc = cJSON_CreateArray();

	cJSON_AddItemToArray(lc, cJSON_CreateNumber((double)n->start_mark.line + 1));
	cJSON_AddItemToArray(lc, cJSON_CreateNumber((double)n->start_mark.column + 1));
	cJSON_AddItemToObject(pos, *ptr ? ptr : "/", lc);
	if (n->type == YAML_SEQUENCE_NODE) {
		int k = 0;
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++, k++) {
			char *sub = ade_xasprintf("%s/%d", ptr, k);
			to_pos(L, node(L, *it), sub, pos);
			free(sub);
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = node(L, pr->key);
			if (k->type != YAML_SCALAR_NODE)
				continue;
			/* RFC 6901 escapes '~' and '/' in keys. */
			struct ade_strbuf sb = ADE_STRBUF_INIT;
			ade_strbuf_adds(&sb, ptr);
			ade_strbuf_addc(&sb, '/');
			for (const char *c = scalar(k); *c; c++) {
				if (*c == '~')
					ade_strbuf_adds(&sb, "~0");
				else if (*c == '/')
					ade_strbuf_adds(&sb, "~1");
				else
					ade_strbuf_addc(&sb, *c);
			}
			to_pos(L, node(L, pr->value), sb.buf, pos);
			ade_strbuf_release(&sb);
		}
	}
}

/* Refuses unknown {{ names }} in every string scalar under n. */
static int check_templates(struct loader *L, yaml_node_t *n)
{
	if (n->type == YAML_SCALAR_NODE) {
		size_t off = 0, line, col;
		char *bad = NULL;
		if (ade_template_check(scalar(n), L->p->params, &off, &bad)) {
			value_pos(L, n, off, &line, &col);
			int rc = ade_error_set(L->err, ADE_EPARSE, "%s:%zu:%zu: unknown template name '%s'",
					       L->path, line + 1, col + 1, bad);
			if (!strcmp(bad, "{{ without }}"))
				ade_error_set(L->err, ADE_EPARSE,
					      "%s:%zu:%zu: unterminated template: '{{' without '}}'",
					      L->path, line + 1, col + 1);
			free(bad);
			return rc ? rc : ADE_EPARSE;
		}
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			int rc = check_templates(L, node(L, *it));
			if (rc)
				return rc;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top; pr++) {
			int rc = check_templates(L, node(L, pr->value));
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return isalpha((unsigned char)s[0]) || s[0] == '_';
}

/* Options that a stage and `defaults:` share. */
static int stage_option(struct loader *L, struct ade_stage_def *s, const char *k,
			yaml_node_t *v, int *handled)
{
	*handled = 1;
	if (!strcmp(k, "retries"))
		return want_int(L, v, "retries", 0, 1000, &s->retries);
	if (!strcmp(k, "retry_delay"))
		return want_duration(L, v, "retry_delay", &s->retry_delay_ms);
	if (!strcmp(k, "max_retry_delay"))
		return want_duration(L, v, "max_retry_delay", &s->max_retry_delay_ms);
	if (!strcmp(k, "timeout"))
		return want_duration(L, v, "timeout", &s->timeout_ms);
	if (!strcmp(k, "timeout_grace"))
		return want_duration(L, v, "timeout_grace", &s->timeout_grace_ms);
	if (!strcmp(k, "backoff")) {
		int rc = want_scalar(L, v, "backoff");
		if (rc)
			return rc;
		if (!strcmp(scalar(v), "exponential"))
			s->backoff_exponential = 1;
		else if (!strcmp(scalar(v), "constant"))
			s->backoff_exponential = 0;
		else
			return fail_at(L, v, "backoff must be constant or exponential, not '%s'",
				       scalar(v));
		return 0;
	}
	if (!strcmp(k, "trigger")) {
		static const char *names[] = {"all_success", "all_done", "one_failed",
					      "none_failed"};
		int rc = want_scalar(L, v, "trigger");
		if (rc)
			return rc;
		for (int i = 0; i < 4; i++)
			if (!strcmp(scalar(v), names[i])) {
				s->trigger = (enum ade_trigger)i;
				return 0;
			}
		return fail_at(L, v,
			       "trigger must be all_success, all_done, one_failed or none_failed, not '%s'",
			       scalar(v));
	}
	if (!strcmp(k, "retry_on")) {
		free(s->retry_on);
		s->retry_on = NULL;
		s->n_retry_on = 0;
		s->retry_on_any = 0;
		if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "any")) {
			s->retry_on_any = 1;
			return 0;
		}
		if (v->type == YAML_SCALAR_NODE) {
			int code;
			int rc = want_int(L, v, "retry_on", 1, 255, &code);
			if (rc)
				return fail_at(L, v, "retry_on must be 'any' or a list of exit codes");
			s->retry_on = ade_xmalloc(sizeof(int));
			s->retry_on[s->n_retry_on++] = code;
			return 0;
		}
		if (v->type != YAML_SEQUENCE_NODE)
			return fail_at(L, v, "retry_on must be 'any' or a list of exit codes");
		size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		s->retry_on = ade_xcalloc(n, sizeof(int));
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			int rc = want_int(L, node(L, *it), "an exit code in retry_on", 1, 255,
					  &s->retry_on[s->n_retry_on]);
			if (rc)
				return rc;
			s->n_retry_on++;
		}
		return 0;
	}
	*handled = 0;
	return 0;
}

static struct ade_stage_def stage_defaults;

static int sensor_pair(struct loader *L, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct ade_sensor *w = arg;
	const char *key = scalar(k);

	if (!strcmp(key, "path"))
		return want_string(L, v, "wait_for.path", &w->path);
	if (!strcmp(key, "poke_interval")) {
		int rc = want_duration(L, v, "wait_for.poke_interval", &w->poke_ms);
		if (!rc && w->poke_ms < 10)
			rc = fail_at(L, v, "wait_for.poke_interval must be at least 10ms");
		return rc;
	}
	if (!strcmp(key, "timeout"))
		return want_duration(L, v, "wait_for.timeout", &w->timeout_ms);
	return fail_at(L, k, "unknown key '%s' in wait_for (path, poke_interval, timeout)", key);
}

static int load_sensor(struct loader *L, yaml_node_t *v, struct ade_sensor **out)
{
	struct ade_sensor *w = ade_xcalloc(1, sizeof(*w));
	int rc;

	w->poke_ms = 30000;
	w->timeout_ms = 6 * 3600 * 1000;
	*out = w;
	if ((rc = each_pair(L, v, "wait_for", sensor_pair, w)))
		return rc;
	if (!w->path)
		return fail_at(L, v, "wait_for needs a path");
	return check_templates(L, v);
}

static void free_sensor(struct ade_sensor *w)
{
	if (w) {
		free(w->path);
		free(w);
	}
}

static int defaults_pair(struct loader *L, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	int handled = 0;
	int rc = stage_option(L, arg, scalar(k), v, &handled);

	if (rc)
		return rc;
	if (!handled)
		return fail_at(L, k, "unknown key '%s' in defaults", scalar(k));
	return 0;
}

static int env_pair(struct loader *L, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct ade_stage_def *s = arg;
	const char *name = scalar(k);
	int rc = want_scalar(L, v, "an env value");

	if (rc)
		return rc;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return fail_at(L, k, "'%s' is not a valid environment variable name", name);
	if (!*name || isdigit((unsigned char)*name))
		return fail_at(L, k, "'%s' is not a valid environment variable name", name);
	if (!strncmp(name, "ADE_", 4))
		return fail_at(L, k, "env may not set '%s': ADE_ names belong to the stage contract",
			       name);
	s->env = ade_xrealloc(s->env, sizeof(char *) * (size_t)(s->n_env + 2));
	s->env[s->n_env++] = ade_xasprintf("%s=%s", name, scalar(v));
	s->env[s->n_env] = NULL;
	return 0;
}

/* Splits a `run:` string on blanks; quotes group words, no shell is involved. */
static int split_run(struct loader *L, yaml_node_t *v, struct ade_stage_def *s)
{
	const char *p = scalar(v);
	struct ade_strbuf word = ADE_STRBUF_INIT;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		int any = 0;
		ade_strbuf_reset(&word);
		while (*p && *p != ' ' && *p != '\t') {
			const char *close;
			if (p[0] == '{' && p[1] == '{' && (close = strstr(p + 2, "}}"))) {
				/* "{{ ds }}" is one template, blanks and all. */
				ade_strbuf_add(&word, p, (size_t)(close + 2 - p));
				p = close + 2;
				any = 1;
			} else if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p && *p != q)
					ade_strbuf_addc(&word, *p++);
				if (*p != q) {
					ade_strbuf_release(&word);
					return fail_at(L, v, "unterminated quote in run");
				}
				p++;
				any = 1;
			} else {
				ade_strbuf_addc(&word, *p++);
				any = 1;
			}
		}
		if (any) {
			s->argv = ade_xrealloc(s->argv, sizeof(char *) * (size_t)(s->argc + 2));
			s->argv[s->argc++] = ade_xstrdup(word.buf ? word.buf : "");
			s->argv[s->argc] = NULL;
		}
	}
	ade_strbuf_release(&word);
	if (!s->argc)
		return fail_at(L, v, "run must name an executable");
	return 0;
}

static int is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *find_executable(struct loader *L, const char *name)
{
	if (strchr(name, '/')) {
		char *path = name[0] == '/' ? ade_xstrdup(name)
					    : ade_xasprintf("%s/%s", L->p->dir, name);
		if (is_executable_file(path))
			return path;
		free(path);
		return NULL;
	}
	if (L->exec_dir) {
		char *path = ade_xasprintf("%s/%s", L->exec_dir, name);
		if (is_executable_file(path))
			return path;
		free(path);
	}
	const char *envpath = getenv("PATH");
	if (!envpath)
		envpath = "/usr/local/bin:/usr/bin:/bin";
	char *copy = ade_xstrdup(envpath), *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *path = ade_xasprintf("%s/%s", *d ? d : ".", name);
		if (is_executable_file(path)) {
			free(copy);
			return path;
		}
		free(path);
	}
	free(copy);
	return NULL;
}

struct stage_load {
	struct ade_stage_def *s;
	yaml_node_t *needs;
	yaml_node_t *run;
};

static int stage_pair(struct loader *L, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct stage_load *sl = arg;
	struct ade_stage_def *s = sl->s;
	const char *key = scalar(k);
	int handled = 0;
	int rc = stage_option(L, s, key, v, &handled);

	if (rc || handled)
		return rc;
	if (!strcmp(key, "run")) {
		sl->run = v;
		if (v->type == YAML_SCALAR_NODE)
			return split_run(L, v, s);
		if (v->type != YAML_SEQUENCE_NODE)
			return fail_at(L, v, "run must be a string or a list, not %s", kind_name(v));
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *a = node(L, *it);
			if ((rc = want_scalar(L, a, "an argument of run")))
				return rc;
			s->argv = ade_xrealloc(s->argv, sizeof(char *) * (size_t)(s->argc + 2));
			s->argv[s->argc++] = ade_xstrdup(scalar(a));
			s->argv[s->argc] = NULL;
		}
		if (!s->argc)
			return fail_at(L, v, "run must name an executable");
		return 0;
	}
	if (!strcmp(key, "needs")) {
		if (v->type != YAML_SEQUENCE_NODE && v->type != YAML_SCALAR_NODE)
			return fail_at(L, v, "needs must be a list of stage names, not %s",
				       kind_name(v));
		sl->needs = v;
		return 0;
	}
	if (!strcmp(key, "with")) {
		if (v->type != YAML_MAPPING_NODE)
			return fail_at(L, v, "with must be a mapping, not %s", kind_name(v));
		cJSON_Delete(s->with);
		s->with = to_json(L, v);
		cJSON_Delete(s->with_pos);
		s->with_pos = cJSON_CreateObject();
		to_pos(L, v, "", s->with_pos);
		return check_templates(L, v);
	}
	if (!strcmp(key, "env")) {
		if ((rc = each_pair(L, v, "env", env_pair, s)))
			return rc;
		return check_templates(L, v);
	}
	if (!strcmp(key, "description"))
		return want_scalar(L, v, "description");
	if (!strcmp(key, "wait_for")) {
		free_sensor(s->wait_for);
		s->wait_for = NULL;
		return load_sensor(L, v, &s->wait_for);
	}
	return fail_at(L, k, "unknown key '%s' in stage '%s'", key, s->name);
}

static void copy_options(struct ade_stage_def *dst, const struct ade_stage_def *src)
{
	dst->retries = src->retries;
	dst->retry_delay_ms = src->retry_delay_ms;
	dst->max_retry_delay_ms = src->max_retry_delay_ms;
	dst->backoff_exponential = src->backoff_exponential;
	dst->retry_on_any = src->retry_on_any;
	dst->n_retry_on = src->n_retry_on;
	dst->retry_on = NULL;
	if (src->n_retry_on) {
		dst->retry_on = ade_xcalloc((size_t)src->n_retry_on, sizeof(int));
		memcpy(dst->retry_on, src->retry_on, sizeof(int) * (size_t)src->n_retry_on);
	}
	dst->timeout_ms = src->timeout_ms;
	dst->timeout_grace_ms = src->timeout_grace_ms;
	dst->trigger = src->trigger;
}

/* Stage names are looked up once per need and once per stage while loading. */
static int find_stage(const struct ade_pipeline *p, const char *name)
{
	return ade_strmap_get(&p->by_name, name);
}

static int resolve_needs(struct loader *L, struct stage_load *sl)
{
	struct ade_stage_def *s = sl->s;
	yaml_node_t *v = sl->needs;

	if (!v)
		return 0;
	size_t n = v->type == YAML_SCALAR_NODE
			   ? 1
			   : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	s->needs = ade_xcalloc(n, sizeof(int));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *a = v->type == YAML_SCALAR_NODE
					 ? v
					 : node(L, v->data.sequence.items.start[i]);
		int rc = want_scalar(L, a, "a name in needs");
		if (rc)
			return rc;
		int idx = find_stage(L->p, scalar(a));
		if (idx < 0)
			return fail_at(L, a, "stage '%s' needs '%s', which is not a stage", s->name,
				       scalar(a));
		if (idx == s->index)
			return fail_at(L, a, "dependency cycle: %s -> %s", s->name, s->name);
		for (int j = 0; j < s->n_needs; j++)
			if (s->needs[j] == idx)
				return fail_at(L, a, "stage '%s' lists '%s' twice in needs", s->name,
					       scalar(a));
		s->needs[s->n_needs++] = idx;
	}
	return 0;
}

/*
 * Depth-first search for a cycle (ninja's VerifyDAG): a stage met again
 * while on the stack closes a cycle, printed from that stage round.
 */
static int visit(struct loader *L, int i, char *mark, int *stack, int depth, int *order,
		 int *n_order, struct stage_load *sls)
{
	struct ade_pipeline *p = L->p;

	if (mark[i] == 2)
		return 0;
	if (mark[i] == 1) {
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		int start = depth - 1;
		while (start > 0 && stack[start] != i)
			start--;
		for (int k = start; k < depth; k++)
			ade_strbuf_addf(&sb, "%s -> ", p->stages[stack[k]].name);
		ade_strbuf_adds(&sb, p->stages[i].name);
		int at = stack[start];
		int rc = fail_at(L, sls[at].needs ? sls[at].needs : NULL, "dependency cycle: %s",
				 sb.buf);
		ade_strbuf_release(&sb);
		return rc;
	}
	mark[i] = 1;
	stack[depth] = i;
	for (int k = 0; k < p->stages[i].n_needs; k++) {
		int rc = visit(L, p->stages[i].needs[k], mark, stack, depth + 1, order, n_order, sls);
		if (rc)
			return rc;
	}
	mark[i] = 2;
	order[(*n_order)++] = i;
	return 0;
}

static int topo_sort(struct loader *L, struct stage_load *sls)
{
	struct ade_pipeline *p = L->p;
	char *mark = ade_xcalloc((size_t)p->n_stages, 1);
	int *stack = ade_xcalloc((size_t)p->n_stages + 1, sizeof(int));
	int n_order = 0;
	int rc = 0;

	p->order = ade_xcalloc((size_t)p->n_stages, sizeof(int));
	/*
	 * Iterative over roots, recursive per chain: depth is bounded by the
	 * number of stages, which is capped, and 100k frames fit the stack.
	 */
	for (int i = 0; i < p->n_stages && !rc; i++)
		rc = visit(L, i, mark, stack, 0, p->order, &n_order, sls);
	free(mark);
	free(stack);
	return rc;
}

static int top_pair(struct loader *L, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct ade_pipeline *p = L->p;
	const char *key = scalar(k);
	yaml_node_t **stages_node = arg;

	if (!strcmp(key, "pipeline")) {
		int rc = want_string(L, v, "pipeline", &p->name);
		if (!rc && !valid_name(p->name))
			return fail_at(L, v, "pipeline name '%s' must be letters, digits, '_' or '-'",
				       p->name);
		return rc;
	}
	if (!strcmp(key, "schedule")) {
		/* Checked here so `ade check` refuses a bad cron, not `ade schedule` later. */
		struct ade_cron c;
		struct ade_error cerr = {0};
		int rc = want_string(L, v, "schedule", &p->schedule);
		if (!rc && ade_cron_parse(p->schedule, &c, &cerr))
			rc = fail_at(L, v, "%s", cerr.msg);
		return rc;
	}
	if (!strcmp(key, "start_date") || !strcmp(key, "end_date")) {
		char *d = NULL;
		int32_t days;
		int rc = want_string(L, v, key, &d);
		if (!rc && ade_date_parse_n(d, strlen(d), &days))
			rc = fail_at(L, v, "%s must be a date YYYY-MM-DD, not '%s'", key, d);
		if (!rc && !strcmp(key, "start_date")) {
			free(p->start_date);
			p->start_date = d;
			d = NULL;
		}
		if (!rc && !strcmp(key, "end_date"))
			cJSON_AddStringToObject(p->extra, "end_date", d);
		free(d);
		return rc;
	}
	if (!strcmp(key, "catchup"))
		return want_bool(L, v, "catchup", &p->catchup);
	if (!strcmp(key, "depends_on_past"))
		return want_bool(L, v, "depends_on_past", &p->depends_on_past);
	if (!strcmp(key, "max_active_runs"))
		return want_int(L, v, "max_active_runs", 1, 10000, &p->max_active_runs);
	if (!strcmp(key, "source"))
		return want_string(L, v, "source", &p->source);
	if (!strcmp(key, "description") || !strcmp(key, "owner"))
		return want_scalar(L, v, key);
	if (!strcmp(key, "params")) {
		if (v->type != YAML_MAPPING_NODE)
			return fail_at(L, v, "params must be a mapping, not %s", kind_name(v));
		cJSON_Delete(p->params);
		p->params = to_json(L, v);
		return 0;
	}
	if (!strcmp(key, "defaults"))
		return each_pair(L, v, "defaults", defaults_pair, &stage_defaults);
	if (!strcmp(key, "stages")) {
		if (v->type != YAML_MAPPING_NODE)
			return fail_at(L, v, "stages must be a mapping of name to stage, not %s",
				       kind_name(v));
		*stages_node = v;
		return 0;
	}
	/*
	 * Sections read by later parts of ade: kept as JSON, their own
	 * modules check their contents.
	 */
	if (!strcmp(key, "wait_for")) {
		free_sensor(p->wait_for);
		p->wait_for = NULL;
		return load_sensor(L, v, &p->wait_for);
	}
	static const char *sections[] = {"stream", "lineage", "artifacts",
					 "columns", "tags", "warehouse"};
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (!strcmp(key, sections[i])) {
			int rc = check_templates(L, v);
			if (rc)
				return rc;
			cJSON_AddItemToObject(p->extra, key, to_json(L, v));
			return 0;
		}
	}
	return fail_at(L, k, "unknown key '%s' in pipeline", key);
}

static int load_stages(struct loader *L, yaml_node_t *v)
{
	struct ade_pipeline *p = L->p;
	size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	struct stage_load *sls;
	int rc = 0;

	if (n == 0)
		return fail_at(L, v, "stages must list at least one stage");
	if (n > MAX_STAGES)
		return fail_at(L, v, "more than %d stages", MAX_STAGES);
	p->stages = ade_xcalloc(n, sizeof(*p->stages));
	sls = ade_xcalloc(n, sizeof(*sls));
	/* Names first, so needs may point forward. */
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pr = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = node(L, pr->key);
		struct ade_stage_def *s = &p->stages[i];
		if (k->type != YAML_SCALAR_NODE) {
			rc = fail_at(L, k, "stage names must be scalars");
			goto out;
		}
		if (!valid_name(scalar(k))) {
			rc = fail_at(L, k, "stage name '%s' must be letters, digits, '_' or '-'",
				     scalar(k));
			goto out;
		}
		if (find_stage(p, scalar(k)) >= 0) {
			rc = fail_at(L, k, "duplicate stage '%s'", scalar(k));
			goto out;
		}
		s->name = ade_xstrdup(scalar(k));
		s->index = (int)i;
		ade_strmap_put(&p->by_name, s->name, (int)i);
		s->pos.line = (int)k->start_mark.line + 1;
		s->pos.col = (int)k->start_mark.column + 1;
		p->n_stages++;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pr = &v->data.mapping.pairs.start[i];
		yaml_node_t *val = node(L, pr->value);
		struct ade_stage_def *s = &p->stages[i];
		char what[128];
		copy_options(s, &stage_defaults);
		sls[i].s = s;
		snprintf(what, sizeof(what), "stage '%s'", s->name);
		if ((rc = each_pair(L, val, what, stage_pair, &sls[i])))
			goto out;
		if (!sls[i].run) {
			rc = fail_at(L, val, "stage '%s' has no run", s->name);
			goto out;
		}
		if ((rc = check_templates(L, sls[i].run)))
			goto out;
		if (strstr(s->argv[0], "{{")) {
			rc = fail_at(L, sls[i].run, "the executable in run must not use templates");
			goto out;
		}
		if (!L->exe_name || strcmp(L->exe_name, s->argv[0])) {
			free(L->exe_name);
			free(L->exe_path);
			L->exe_name = ade_xstrdup(s->argv[0]);
			L->exe_path = find_executable(L, s->argv[0]);
		}
		s->exe = L->exe_path ? ade_xstrdup(L->exe_path) : NULL;
		if (!s->exe) {
			rc = fail_at(L, sls[i].run,
				     strchr(s->argv[0], '/')
					     ? "executable '%s' not found or not executable"
					     : "executable '%s' not found next to ade or on PATH",
				     s->argv[0]);
			goto out;
		}
		if (!s->with)
			s->with = cJSON_CreateObject();
		if (!s->retry_on_any && !s->n_retry_on) {
			s->retry_on = ade_xmalloc(sizeof(int));
			s->retry_on[0] = 75;
			s->n_retry_on = 1;
		}
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = resolve_needs(L, &sls[i]);
	if (!rc)
		rc = topo_sort(L, sls);
out:
	free(sls);
	return rc;
}

static char *sha256_hex(const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *hex;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex = ade_xmalloc(mdlen * 2 + 1);
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return hex;
}

int ade_pipeline_load(const char *path, const char *exec_dir, struct ade_pipeline **out,
		      struct ade_error *err)
{
	struct loader L = {.path = path, .err = err, .exec_dir = exec_dir};
	yaml_parser_t parser;
	char *text = NULL;
	size_t len = 0;
	yaml_node_t *root, *stages_node = NULL;
	int rc;

	*out = NULL;
	if ((rc = ade_fs_read_all(path, PIPELINE_MAX_BYTES, &text, &len, err))) {
		/*
		 * A file that cannot be read is a bad command line (exit 2), not a
		 * malformed pipeline.  Only the code changes: re-formatting err->msg
		 * into itself (as this did) is overlapping vsnprintf and printed an
		 * empty message.
		 */
		if (rc == ADE_ENOTFOUND && err)
			err->code = ADE_EINVAL;
		return rc == ADE_ENOTFOUND ? ADE_EINVAL : rc;
	}
	L.text = text;
	L.len = len;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &L.doc)) {
		/* libyaml's context says where the broken construct began. */
		if (parser.context && (parser.context_mark.line != parser.problem_mark.line ||
				       parser.context_mark.column != parser.problem_mark.column))
			rc = ade_error_set(err, ADE_EPARSE,
					   "%s:%zu:%zu: invalid YAML: %s (%s started at %zu:%zu)", path,
					   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
					   parser.problem ? parser.problem : "syntax error",
					   parser.context, parser.context_mark.line + 1,
					   parser.context_mark.column + 1);
		else
			rc = ade_error_set(err, ADE_EPARSE, "%s:%zu:%zu: invalid YAML: %s", path,
					   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
					   parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		free(text);
		return rc;
	}
	yaml_parser_delete(&parser);

	L.p = ade_xcalloc(1, sizeof(*L.p));
	L.p->path = ade_xstrdup(path);
	{
		char *abs = ade_fs_abspath(path);
		L.p->dir = ade_fs_dirname(abs ? abs : path);
		free(abs);
	}
	L.p->hash = sha256_hex(text, len);
	L.p->params = cJSON_CreateObject();
	L.p->extra = cJSON_CreateObject();
	L.p->max_active_runs = 16;
	L.p->catchup = 1;
	memset(&stage_defaults, 0, sizeof(stage_defaults));
	stage_defaults.retry_delay_ms = 5000;
	stage_defaults.max_retry_delay_ms = 600000;
	stage_defaults.timeout_grace_ms = 5000;

	root = yaml_document_get_root_node(&L.doc);
	if (!root) {
		rc = ade_error_set(err, ADE_EPARSE, "%s:1:1: the pipeline file is empty", path);
		goto out;
	}
	{
		size_t visits = 0;
		char *on_path = ade_xcalloc((size_t)(L.doc.nodes.top - L.doc.nodes.start), 1);
		rc = check_shape(&L, root, on_path, &visits, 0);
		free(on_path);
		if (rc)
			goto out;
	}
	/* params first: templates elsewhere may name them. */
	if (root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = node(&L, pr->key);
			if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), "params") &&
			    (rc = top_pair(&L, k, node(&L, pr->value), &stages_node)))
				goto out;
		}
	}
	if ((rc = each_pair(&L, root, "the pipeline file", top_pair, &stages_node)))
		goto out;
	if (!L.p->name) {
		rc = fail_at(&L, root, "missing required key 'pipeline' (the pipeline's name)");
		goto out;
	}
	if (!stages_node) {
		rc = fail_at(&L, root, "missing required key 'stages'");
		goto out;
	}
	if (L.p->source) {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top; pr++)
			if (!strcmp(scalar(node(&L, pr->key)), "source") &&
			    (rc = check_templates(&L, node(&L, pr->value))))
				goto out;
	}
	rc = load_stages(&L, stages_node);
out:
	free(stage_defaults.retry_on);
	memset(&stage_defaults, 0, sizeof(stage_defaults));
	free(L.exe_name);
	free(L.exe_path);
	yaml_document_delete(&L.doc);
	free(text);
	if (rc) {
		ade_pipeline_free(L.p);
		return rc;
	}
	*out = L.p;
	return 0;
}

void ade_pipeline_free(struct ade_pipeline *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n_stages; i++) {
		struct ade_stage_def *s = &p->stages[i];
		free(s->name);
		for (int j = 0; j < s->argc; j++)
			free(s->argv[j]);
		free(s->argv);
		free(s->exe);
		free(s->needs);
		cJSON_Delete(s->with);
		cJSON_Delete(s->with_pos);
		for (int j = 0; j < s->n_env; j++)
			free(s->env[j]);
		free(s->env);
		free(s->retry_on);
		free_sensor(s->wait_for);
	}
	free_sensor(p->wait_for);
	free(p->stages);
	free(p->order);
	ade_strmap_free(&p->by_name);
	free(p->name);
	free(p->path);
	free(p->dir);
	free(p->hash);
	free(p->schedule);
	free(p->start_date);
	free(p->source);
	cJSON_Delete(p->params);
	cJSON_Delete(p->extra);
	free(p);
}

struct ade_stage_def *ade_pipeline_stage(const struct ade_pipeline *p, const char *name)
{
	int i = find_stage(p, name);

	return i < 0 ? NULL : &p->stages[i];
}
