/*
 * OpenLineage RunEvents for the executor's events: one OpenLineage run
 * per pipeline run (runId = ade's run id) and one per stage attempt (a
 * new UUIDv7, parent = the pipeline run).
 */
#include "lineage.h"
#include "scheduler/exec.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/uuid.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ade_lineage_outbox_add(const char *home, const char *line, size_t len, struct ade_error *err);

#define FACETS "https://openlineage.io/spec/facets/"

/* ---- configuration ----------------------------------------------------- */

void ade_lineage_config_release(struct ade_lineage_config *c)
{
	free(c->url);
	free(c->api_key_env);
	free(c->ns);
	memset(c, 0, sizeof(*c));
}

int ade_lineage_config_parse(const cJSON *sec, struct ade_lineage_config *c, struct ade_error *err)
{
	const cJSON *x;

	memset(c, 0, sizeof(*c));
	c->connect_timeout_ms = 500;
	c->timeout_ms = 2000;
	c->retries = 2;
	if (sec && !cJSON_IsObject(sec))
		return ade_error_set(err, ADE_EINVAL, "lineage: must be a mapping");
	cJSON_ArrayForEach(x, sec) {
		const char *k = x->string;
		int64_t ms;
		if (!strcmp(k, "url") || !strcmp(k, "api_key_env") || !strcmp(k, "namespace")) {
			if (!cJSON_IsString(x) || !*x->valuestring) {
				ade_lineage_config_release(c);
				return ade_error_set(err, ADE_EINVAL, "lineage.%s: must be a non-empty string", k);
			}
			char **dst = !strcmp(k, "url") ? &c->url : !strcmp(k, "api_key_env") ? &c->api_key_env
											   : &c->ns;
			*dst = ade_xstrdup(x->valuestring);
		} else if (!strcmp(k, "timeout") || !strcmp(k, "connect_timeout")) {
			if (!cJSON_IsString(x) || ade_parse_duration_ms(x->valuestring, &ms) || ms <= 0 ||
			    ms > 60000) {
				ade_lineage_config_release(c);
				return ade_error_set(err, ADE_EINVAL,
						     "lineage.%s: a duration up to 60s such as \"2s\"", k);
			}
			*(!strcmp(k, "timeout") ? &c->timeout_ms : &c->connect_timeout_ms) = (long)ms;
		} else if (!strcmp(k, "retries")) {
			if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 10) {
				ade_lineage_config_release(c);
				return ade_error_set(err, ADE_EINVAL, "lineage.retries: a number from 0 to 10");
			}
			c->retries = x->valueint;
		} else {
			ade_lineage_config_release(c);
			return ade_error_set(err, ADE_EINVAL,
					     "lineage: unknown key '%s' (known: url, api_key_env, namespace, "
					     "timeout, connect_timeout, retries)", k);
		}
	}
	if (c->url && strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) {
		ade_lineage_config_release(c);
		return ade_error_set(err, ADE_EINVAL, "lineage.url: must start with http:// or https://");
	}
	if (!c->ns)
		c->ns = ade_xstrdup("ade");
	return 0;
}

/* ---- facets --------------------------------------------------------------- */

static cJSON *facet(const char *schema)
{
	cJSON *f = cJSON_CreateObject();
	char *url = ade_xasprintf(FACETS "%s", schema);

	cJSON_AddStringToObject(f, "_producer", ADE_LINEAGE_PRODUCER);
	cJSON_AddStringToObject(f, "_schemaURL", url);
	free(url);
	return f;
}

static int is_int(const cJSON *n)
{
	return cJSON_IsNumber(n) && n->valuedouble == (double)(long long)n->valuedouble;
}

/* The OpenLineage form of one dataset of the lineage document. */
static cJSON *ol_dataset(const cJSON *doc, const cJSON *d, int output, const char *stage,
			 const cJSON *stage_obj, int complete)
{
	cJSON *o = cJSON_CreateObject();
	const char *id = ade_json_str(d, "id", "");
	const char *ns = ade_json_str(d, "namespace", "");
	const cJSON *cols = cJSON_GetObjectItem(d, "columns");
	const cJSON *c;

	cJSON_AddStringToObject(o, "namespace", ns);
	cJSON_AddStringToObject(o, "name", ade_json_str(d, "name", ""));
	cJSON *fs = cJSON_AddObjectToObject(o, "facets");
	if (cJSON_GetArraySize(cols)) {
		cJSON *f = facet("1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet");
		cJSON *fields = cJSON_AddArrayToObject(f, "fields");
		int pos = 1;
		cJSON_ArrayForEach(c, cols) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "name", ade_json_str(c, "name", ""));
			cJSON_AddStringToObject(x, "type", ade_json_str(c, "type", "unknown"));
			cJSON_AddNumberToObject(x, "ordinal_position", pos++);
			cJSON_AddItemToArray(fields, x);
		}
		cJSON_AddItemToObject(fs, "schema", f);
	}
	cJSON *src = facet("1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet");
	cJSON_AddStringToObject(src, "name", ns);
	cJSON_AddStringToObject(src, "uri", strcmp(ns, "file") ? ns : "file:///");
	cJSON_AddItemToObject(fs, "dataSource", src);
	if (ade_json_str(d, "version", NULL)) {
		cJSON *f = facet("1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet");
		cJSON_AddStringToObject(f, "datasetVersion", ade_json_str(d, "version", ""));
		cJSON_AddItemToObject(fs, "version", f);
	}
	if (output && complete) {
		/* Column lineage of this dataset (by this stage, or by any for a run). */
		cJSON *fields = cJSON_CreateObject();
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "column_lineage")) {
			const cJSON *out = cJSON_GetObjectItem(e, "output"), *in = cJSON_GetObjectItem(e, "input");
			if (strcmp(ade_json_str(out, "dataset", ""), id) ||
			    (stage && strcmp(ade_json_str(e, "stage", ""), stage)))
				continue;
			const cJSON *ind = ade_lineage_doc_dataset(doc, ade_json_str(in, "dataset", ""));
			const char *field = ade_json_str(out, "field", "");
			cJSON *fo = cJSON_GetObjectItem(fields, field);
			if (!fo) {
				fo = cJSON_AddObjectToObject(fields, field);
				cJSON_AddArrayToObject(fo, "inputFields");
			}
			cJSON *inf = cJSON_CreateObject();
			cJSON_AddStringToObject(inf, "namespace", ade_json_str(ind, "namespace", ""));
			cJSON_AddStringToObject(inf, "name", ade_json_str(ind, "name", ""));
			cJSON_AddStringToObject(inf, "field", ade_json_str(in, "field", ""));
			cJSON *tr = cJSON_AddArrayToObject(inf, "transformations");
			cJSON *t = cJSON_CreateObject();
			cJSON_AddStringToObject(t, "type", ade_json_str(e, "type", "DIRECT"));
			cJSON_AddStringToObject(t, "subtype", ade_json_str(e, "subtype", "IDENTITY"));
			char *desc = ade_xasprintf("%s%s", ade_json_str(e, "transformation", ""),
						   ade_json_bool(e, "inferred", 0) ? " (inferred by column name)" : "");
			cJSON_AddStringToObject(t, "description", desc);
			free(desc);
			cJSON_AddItemToArray(tr, t);
			cJSON_AddItemToArray(cJSON_GetObjectItem(fo, "inputFields"), inf);
		}
		if (fields->child) {
			cJSON *f = facet("1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet");
			cJSON_AddItemToObject(f, "fields", fields);
			cJSON_AddItemToObject(fs, "columnLineage", f);
		} else {
			cJSON_Delete(fields);
		}
	}
	const cJSON *rows = cJSON_GetObjectItem(d, "rows"), *bytes = cJSON_GetObjectItem(d, "bytes");
	if (output) {
		if (complete && (is_int(rows) || is_int(bytes))) {
			cJSON *of = cJSON_AddObjectToObject(o, "outputFacets");
			cJSON *f = facet("1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/"
					 "OutputStatisticsOutputDatasetFacet");
			if (is_int(rows))
				cJSON_AddNumberToObject(f, "rowCount", rows->valuedouble);
			if (is_int(bytes))
				cJSON_AddNumberToObject(f, "size", bytes->valuedouble);
			cJSON_AddItemToObject(of, "outputStatistics", f);
		}
		return o;
	}
	cJSON *inf = cJSON_CreateObject();
	if (cJSON_GetArraySize(cols)) {
		cJSON *f = facet("1-0-3/DataQualityMetricsInputDatasetFacet.json#/$defs/"
				 "DataQualityMetricsInputDatasetFacet");
		if (is_int(rows))
			cJSON_AddNumberToObject(f, "rowCount", rows->valuedouble);
		if (is_int(bytes))
			cJSON_AddNumberToObject(f, "bytes", bytes->valuedouble);
		cJSON *cm = cJSON_AddObjectToObject(f, "columnMetrics");
		cJSON_ArrayForEach(c, cols) {
			const cJSON *st = cJSON_GetObjectItem(c, "stats");
			cJSON *m = cJSON_CreateObject();
			const cJSON *nc = cJSON_GetObjectItem(c, "null_count");
			if (is_int(nc))
				cJSON_AddNumberToObject(m, "nullCount", nc->valuedouble);
			const cJSON *dc = cJSON_GetObjectItem(st, "distinct");
			if (is_int(dc) && ade_json_bool(st, "distinct_exact", 1))
				cJSON_AddNumberToObject(m, "distinctCount", dc->valuedouble);
			static const char *nums[] = {"min", "max", "sum"};
			for (int k = 0; k < 3; k++) {
				const cJSON *v = cJSON_GetObjectItem(st, nums[k]);
				if (cJSON_IsNumber(v))
					cJSON_AddNumberToObject(m, nums[k], v->valuedouble);
			}
			const cJSON *q = cJSON_GetObjectItem(st, "quantiles"), *qv;
			if (cJSON_IsObject(q)) {
				cJSON *qo = cJSON_AddObjectToObject(m, "quantiles");
				cJSON_ArrayForEach(qv, q)
					if (cJSON_IsNumber(qv))
						cJSON_AddNumberToObject(qo, qv->string, qv->valuedouble);
			}
			cJSON_AddItemToObject(cm, ade_json_str(c, "name", ""), m);
		}
		cJSON_AddItemToObject(inf, "dataQualityMetrics", f);
	}
	cJSON *as = NULL;
	const cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(stage_obj, "assertions")) {
		if (strcmp(ade_json_str(a, "dataset", ""), id) || !complete)
			continue;
		if (!as)
			as = cJSON_CreateArray();
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "assertion", ade_json_str(a, "assertion", ""));
		cJSON_AddBoolToObject(x, "success", ade_json_bool(a, "success", 0));
		if (ade_json_str(a, "column", NULL))
			cJSON_AddStringToObject(x, "column", ade_json_str(a, "column", ""));
		cJSON_AddStringToObject(x, "severity", ade_json_str(a, "severity", ""));
		cJSON_AddStringToObject(x, "name", ade_json_str(a, "name", ""));
		if (ade_json_str(a, "actual", NULL))
			cJSON_AddStringToObject(x, "actual", ade_json_str(a, "actual", ""));
		cJSON_AddItemToArray(as, x);
	}
	if (as) {
		cJSON *f = facet("1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/"
				 "DataQualityAssertionsDatasetFacet");
		cJSON_AddItemToObject(f, "assertions", as);
		cJSON_AddItemToObject(inf, "dataQualityAssertions", f);
	}
	if (inf->child)
		cJSON_AddItemToObject(o, "inputFacets", inf);
	else
		cJSON_Delete(inf);
	return o;
}

static const cJSON *doc_stage(const cJSON *doc, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stages"))
		if (!strcmp(ade_json_str(s, "name", ""), name))
			return s;
	return NULL;
}

static void add_ids(const cJSON *doc, cJSON *arr, const cJSON *ids, int output, const char *stage,
		    const cJSON *stage_obj, int complete)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, ids) {
		const cJSON *d = ade_lineage_doc_dataset(doc, x->valuestring);
		int dup = 0;
		const cJSON *y;
		cJSON_ArrayForEach(y, arr)
			if (!strcmp(ade_json_str(y, "namespace", ""), ade_json_str(d, "namespace", "")) &&
			    !strcmp(ade_json_str(y, "name", ""), ade_json_str(d, "name", "")))
				dup = 1;
		if (d && !dup)
			cJSON_AddItemToArray(arr, ol_dataset(doc, d, output, stage, stage_obj, complete));
	}
}

/* The last lines of a log, at most max bytes (caller frees), or NULL. */
static char *log_tail(const char *path, size_t max, int lines)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat sb;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || sb.st_size == 0) {
		close(fd);
		return NULL;
	}
	size_t n = (size_t)sb.st_size < max ? (size_t)sb.st_size : max;
	char *buf = ade_xmalloc(n + 1);
	ssize_t got = pread(fd, buf, n, sb.st_size - (off_t)n);
	close(fd);
	if (got <= 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	char *p = buf + got;
	if (p > buf && p[-1] == '\n')
		p--;
	for (int k = 0; k < lines && p > buf; k++) {
		do
			p--;
		while (p > buf && *p != '\n');
	}
	if (*p == '\n')
		p++;
	char *r = ade_xstrdup(p);
	free(buf);
	return r;
}

/*
 * The facets every stage event of a run repeats (nominal time, engine,
 * parent, job type), printed once per run and added as raw text: built as
 * trees they were most of an event's cost, twice per stage.
 */
struct facet_cache {
	char *key;                /* run id, interval, namespace and pipeline */
	char *nominal, *engine, *parent, *task;
};

static void facet_cache_free(struct facet_cache *fc)
{
	free(fc->key);
	cJSON_free(fc->nominal);
	cJSON_free(fc->engine);
	cJSON_free(fc->parent);
	cJSON_free(fc->task);
	memset(fc, 0, sizeof(*fc));
}

static char *print_free(cJSON *f)
{
	char *t = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	return t;
}

static cJSON *nominal_facet(const struct ade_exec_event *ev)
{
	cJSON *f = facet("1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet");
	cJSON_AddStringToObject(f, "nominalStartTime", ev->interval_start);
	cJSON_AddStringToObject(f, "nominalEndTime", ev->interval_end);
	return f;
}

static cJSON *engine_facet(void)
{
	cJSON *f = facet("1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet");
	cJSON_AddStringToObject(f, "version", ADE_VERSION);
	cJSON_AddStringToObject(f, "name", "ade");
	cJSON_AddStringToObject(f, "openlineageAdapterVersion", ADE_VERSION);
	return f;
}

static cJSON *parent_facet(const struct ade_lineage_config *c, const struct ade_exec_event *ev)
{
	cJSON *f = facet("1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet");
	for (int k = 0; k < 2; k++) {
		cJSON *x = k ? cJSON_AddObjectToObject(f, "root") : f;
		cJSON_AddStringToObject(cJSON_AddObjectToObject(x, "run"), "runId", ev->run_id);
		cJSON *j = cJSON_AddObjectToObject(x, "job");
		cJSON_AddStringToObject(j, "namespace", c->ns);
		cJSON_AddStringToObject(j, "name", ev->pipeline->name);
	}
	return f;
}

static cJSON *jobtype_facet(int stage_ev)
{
	cJSON *f = facet("2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet");
	cJSON_AddStringToObject(f, "processingType", "BATCH");
	cJSON_AddStringToObject(f, "integration", "ADE");
	cJSON_AddStringToObject(f, "jobType", stage_ev ? "TASK" : "PIPELINE");
	return f;
}

/* fc's texts for this stage event's run, rendered when the run changed. */
static int facet_cache_fill(struct facet_cache *fc, const struct ade_lineage_config *c,
			    const struct ade_exec_event *ev)
{
	char *key = ade_xconcat(ev->run_id ? ev->run_id : "", "|",
				ev->interval_start ? ev->interval_start : "", "|",
				ev->interval_end ? ev->interval_end : "", "|", c->ns, "|",
				ev->pipeline->name, NULL);
	if (fc->key && !strcmp(fc->key, key)) {
		free(key);
		return 1;
	}
	facet_cache_free(fc);
	fc->key = key;
	fc->nominal = print_free(nominal_facet(ev));
	fc->engine = print_free(engine_facet());
	fc->parent = print_free(parent_facet(c, ev));
	fc->task = print_free(jobtype_facet(1));
	if (fc->nominal && fc->engine && fc->parent && fc->task)
		return 1;
	facet_cache_free(fc);
	return 0;
}

static cJSON *event_build(const struct ade_lineage_config *c, const struct ade_exec_event *ev,
			  const char *stage_run_id, const char *event_type,
			  struct facet_cache *fc, struct ade_lineage_results *results);

/*
 * The run whose lineage document an event reads: for a stage's event its
 * needs' folders, and its own once it has published (complete).  The
 * names go in *only, which the caller frees.
 */
static struct ade_lineage_run event_run(const struct ade_exec_event *ev, int complete,
					struct ade_lineage_results *results, const char ***only)
{
	const struct ade_pipeline *p = ev->pipeline;
	struct ade_lineage_run lr = {.home = ev->home, .run_dir = ev->run_dir, .pipeline = p->name,
				     .ds = ev->ds, .run_number = ev->run_number, .run_id = ev->run_id,
				     .results = results};

	*only = NULL;
	if (ev->stage) {
		int self = complete ? 1 : 0;
		*only = ade_xcalloc((size_t)ev->stage->n_needs + 1, sizeof(**only));
		(*only)[0] = ev->stage->name;
		for (int k = 0; k < ev->stage->n_needs; k++)
			(*only)[k + self] = p->stages[ev->stage->needs[k]].name;
		lr.only = *only;
		lr.n_only = ev->stage->n_needs + self;
	}
	return lr;
}

/*
 * An event's eventTime: when it happened, not when this (possibly later)
 * worker got to it; an attempt that never started has only its end.
 */
static void event_time(const struct ade_exec_event *ev, int terminal, char out[32])
{
	int64_t at = terminal ? ev->end_us : ev->start_us > 0 ? ev->start_us : ev->end_us;

	ade_format_utc(at > 0 ? at : ade_now_wall_us(), out);
}

cJSON *ade_lineage_event_build(const struct ade_lineage_config *c, const struct ade_exec_event *ev,
			       const char *stage_run_id, const char *event_type)
{
	return event_build(c, ev, stage_run_id, event_type, NULL, NULL);
}

static cJSON *event_build(const struct ade_lineage_config *c, const struct ade_exec_event *ev,
			  const char *stage_run_id, const char *event_type, struct facet_cache *fc,
			  struct ade_lineage_results *results)
{
	const struct ade_pipeline *p = ev->pipeline;
	const int stage_ev = ev->stage != NULL;
	const int terminal = !strcmp(event_type, "COMPLETE") || !strcmp(event_type, "FAIL");
	const int complete = !strcmp(event_type, "COMPLETE");
	char now[32];
	cJSON *e = cJSON_CreateObject();

	event_time(ev, terminal, now);
	cJSON_AddStringToObject(e, "eventType", event_type);
	cJSON_AddStringToObject(e, "eventTime", now);
	cJSON_AddStringToObject(e, "producer", ADE_LINEAGE_PRODUCER);
	cJSON_AddStringToObject(e, "schemaURL", ADE_LINEAGE_SCHEMA_URL);

	cJSON *run = cJSON_AddObjectToObject(e, "run");
	cJSON_AddStringToObject(run, "runId", stage_ev ? stage_run_id : ev->run_id);
	cJSON *rf = cJSON_AddObjectToObject(run, "facets");
	cJSON *f;
	int cached = stage_ev && fc && facet_cache_fill(fc, c, ev);
	if (cached) {
		cJSON_AddRawToObject(rf, "nominalTime", fc->nominal);
		cJSON_AddRawToObject(rf, "processing_engine", fc->engine);
		cJSON_AddRawToObject(rf, "parent", fc->parent);
	} else {
		cJSON_AddItemToObject(rf, "nominalTime", nominal_facet(ev));
		cJSON_AddItemToObject(rf, "processing_engine", engine_facet());
		if (stage_ev)
			cJSON_AddItemToObject(rf, "parent", parent_facet(c, ev));
	}
	if (!strcmp(event_type, "FAIL")) {
		f = facet("1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet");
		char *msg;
		if (!stage_ev)
			msg = ade_xasprintf("run %d of %s for %s failed%s%s", ev->run_number, p->name, ev->ds,
					    ev->reason ? ": " : "", ev->reason ? ev->reason : "");
		else if (ev->signal)
			msg = ade_xasprintf("stage '%s' attempt %d was killed by signal %d%s%s", ev->stage->name,
					    ev->attempt, ev->signal, ev->reason ? ": " : "",
					    ev->reason ? ev->reason : "");
		else
			msg = ade_xasprintf("stage '%s' attempt %d failed: exit code %d%s%s", ev->stage->name,
					    ev->attempt, ev->exit_code, ev->reason ? ", " : "",
					    ev->reason ? ev->reason : "");
		cJSON_AddStringToObject(f, "message", msg);
		free(msg);
		cJSON_AddStringToObject(f, "programmingLanguage", "C");
		char *tail = stage_ev ? log_tail(ev->log_path, 4096, 20) : NULL;
		if (tail)
			cJSON_AddStringToObject(f, "stackTrace", tail);
		free(tail);
		cJSON_AddItemToObject(rf, "errorMessage", f);
	}

	cJSON *job = cJSON_AddObjectToObject(e, "job");
	cJSON_AddStringToObject(job, "namespace", c->ns);
	char *jname = stage_ev ? ade_xasprintf("%s.%s", p->name, ev->stage->name) : ade_xstrdup(p->name);
	cJSON_AddStringToObject(job, "name", jname);
	free(jname);
	if (cached)
		cJSON_AddRawToObject(cJSON_AddObjectToObject(job, "facets"), "jobType", fc->task);
	else
		cJSON_AddItemToObject(cJSON_AddObjectToObject(job, "facets"), "jobType",
				      jobtype_facet(stage_ev));

	/* Datasets: from the run directory's published result.json files. */
	cJSON *ins = cJSON_AddArrayToObject(e, "inputs");
	cJSON *outs = cJSON_AddArrayToObject(e, "outputs");
	cJSON *doc = NULL;
	const char **only;
	struct ade_lineage_run lr = event_run(ev, complete, results, &only);
	if (ev->run_dir && ade_lineage_doc_build(&lr, &doc, NULL))
		doc = NULL;
	free(only);
	if (doc && stage_ev) {
		const cJSON *so = doc_stage(doc, ev->stage->name);
		if (complete && so && cJSON_GetObjectItem(so, "inputs")) {
			add_ids(doc, ins, cJSON_GetObjectItem(so, "inputs"), 0, ev->stage->name, so, 1);
			add_ids(doc, outs, cJSON_GetObjectItem(so, "outputs"), 1, ev->stage->name, so, 1);
		} else {
			/* Not published (yet): what its needs published is what it reads. */
			for (int k = 0; k < ev->stage->n_needs; k++) {
				const cJSON *up = doc_stage(doc, p->stages[ev->stage->needs[k]].name);
				add_ids(doc, ins, cJSON_GetObjectItem(up, "outputs"), 0, NULL, NULL, 0);
			}
		}
	} else if (doc) {
		/* The run reads what no stage wrote and leaves what no stage read. */
		const cJSON *d;
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(doc, "datasets")) {
			int produced = cJSON_IsString(cJSON_GetObjectItem(d, "producer"));
			int consumed = cJSON_GetArraySize(cJSON_GetObjectItem(d, "consumers")) > 0;
			if (!produced)
				cJSON_AddItemToArray(ins, ol_dataset(doc, d, 0, NULL, NULL, 0));
			else if (!consumed)
				cJSON_AddItemToArray(outs, ol_dataset(doc, d, 1, NULL, NULL, terminal));
		}
	}
	cJSON_Delete(doc);
	return e;
}

/* ---- the emitter ---------------------------------------------------------- */

struct attempt_id {
	char *run_id;
	char *stage;
	int attempt;
	char ol_id[37];
};

struct ade_lineage_emitter {
	char *home;
	struct ade_lineage_config cfg; /* from the pipeline given at creation */
	int have_cfg;
	struct attempt_id *ids;
	int n_ids, cap_ids;
	int64_t backoff_until_ns; /* after a failed send, queue without trying */
	int outbox_pending;
	/*
	 * events.ndjson, kept open across events (a 1000-stage run appends
	 * 2000 lines); reopened when someone deleted or replaced the file.
	 */
	int events_fd;
	char *events_path;
	int64_t events_checked_ns; /* when the path last named events_fd's file */
	struct facet_cache facets;
	struct ade_lineage_results *results; /* of the runs going on */
};

/* After a failed send, events go straight to the outbox for this long. */
#define BACKOFF_NS (30LL * 1000000000LL)

int ade_lineage_emitter_new(const char *home, const struct ade_pipeline *p,
			    struct ade_lineage_emitter **out, struct ade_error *err)
{
	struct ade_lineage_emitter *em = ade_xcalloc(1, sizeof(*em));
	int rc;

	*out = NULL;
	em->home = ade_xstrdup(home);
	em->events_fd = -1;
	em->events_path = ade_xasprintf("%s/lineage/events.ndjson", home);
	if (p) {
		if ((rc = ade_lineage_config_parse(cJSON_GetObjectItem(p->extra, "lineage"), &em->cfg, err))) {
			ade_error_prefix(err, "%s", p->path);
			ade_lineage_emitter_free(em);
			return rc;
		}
		em->have_cfg = 1;
		if (em->cfg.url) {
			struct ade_error e2 = {0};
			int sent = 0, left = 0;
			if (ade_lineage_outbox_flush(home, &em->cfg, &sent, &left, &e2) || left)
				ade_log_warn("lineage: %d event%s still in the outbox: %s", left,
					     left == 1 ? "" : "s", e2.msg);
			if (sent)
				ade_log_info("lineage: sent %d event%s from the outbox", sent, sent == 1 ? "" : "s");
			if (left) {
				em->outbox_pending = 1;
				em->backoff_until_ns = ade_now_mono_ns() + BACKOFF_NS;
			}
		}
	}
	*out = em;
	return 0;
}

void ade_lineage_emitter_free(struct ade_lineage_emitter *em)
{
	if (!em)
		return;
	for (int k = 0; k < em->n_ids; k++) {
		free(em->ids[k].run_id);
		free(em->ids[k].stage);
	}
	free(em->ids);
	ade_lineage_config_release(&em->cfg);
	if (em->events_fd >= 0)
		close(em->events_fd);
	free(em->events_path);
	free(em->home);
	facet_cache_free(&em->facets);
	ade_lineage_results_free(em->results);
	free(em);
}

/* Appends one event's text (len bytes, a newline and a NUL after them in line) and sends it. */
static int emit_line(struct ade_lineage_emitter *em, const struct ade_lineage_config *c,
		     char *line, size_t len, struct ade_error *err)
{
	int rc = 0;

	/* Rotated or deleted by someone else: checked at most once a second. */
	int64_t now_ns = ade_now_mono_ns();
	if (em->events_fd >= 0 && now_ns - em->events_checked_ns > 1000000000LL) {
		struct stat a, b;
		if (fstat(em->events_fd, &a) < 0 || stat(em->events_path, &b) < 0 ||
		    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			close(em->events_fd);
			em->events_fd = -1;
		}
		em->events_checked_ns = now_ns;
	}
	if (em->events_fd < 0) {
		rc = ade_lineage_open_append(em->events_path, &em->events_fd, err);
		em->events_checked_ns = now_ns;
	}
	if (!rc)
		rc = ade_lineage_append_fd(em->events_fd, em->events_path, line, len + 1, err);
	if (!rc && c->url) {
		int64_t now = ade_now_mono_ns();
		if (em->outbox_pending || now < em->backoff_until_ns) {
			/* Keep the order: behind what is already waiting. */
			rc = ade_lineage_outbox_add(em->home, line, len + 1, err);
			em->outbox_pending = 1;
			if (!rc && now >= em->backoff_until_ns) {
				int left = 0;
				struct ade_error e2 = {0};
				ade_lineage_outbox_flush(em->home, c, NULL, &left, &e2);
				em->outbox_pending = left > 0;
				if (left)
					em->backoff_until_ns = now + BACKOFF_NS;
			}
		} else {
			line[len] = '\0';
			struct ade_error e2 = {0};
			if (ade_lineage_http_post(c, line, &e2)) {
				ade_log_warn("lineage: %s; kept in %s/lineage/outbox.ndjson", e2.msg, em->home);
				line[len] = '\n';
				rc = ade_lineage_outbox_add(em->home, line, len + 1, err);
				em->outbox_pending = 1;
				em->backoff_until_ns = now + BACKOFF_NS;
			}
		}
	}
	return rc;
}

int ade_lineage_emit(struct ade_lineage_emitter *em, const struct ade_lineage_config *c,
		     const cJSON *event, struct ade_error *err)
{
	char *text = cJSON_PrintUnformatted(event);
	size_t len = strlen(text);
	char *line = ade_xmalloc(len + 2);

	memcpy(line, text, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	free(text);
	int rc = emit_line(em, c, line, len, err);
	free(line);
	return rc;
}

/*
 * The event about a stage whose stage and needs published no result.json
 * (a user's script, a no-op), as text: without datasets it is the facets
 * cached for the run and a few strings, and building the tree of the
 * general case for it was most of a chain of such stages' lineage cost.
 * The text is what cJSON_PrintUnformatted prints for event_build's tree.
 * NULL when the general case applies (datasets, a FAIL and its message).
 */
static char *event_text_opaque(const struct ade_lineage_config *c, const struct ade_exec_event *ev,
			       const char *stage_run_id, const char *event_type,
			       struct facet_cache *fc, struct ade_lineage_results *results,
			       size_t *len)
{
	const struct ade_pipeline *p = ev->pipeline;
	const int complete = !strcmp(event_type, "COMPLETE");

	if (!ev->stage || !ev->run_dir || !results || (!complete && strcmp(event_type, "START")) ||
	    !facet_cache_fill(fc, c, ev))
		return NULL;
	const char **only;
	struct ade_lineage_run lr = event_run(ev, complete, results, &only);
	int opaque = ade_lineage_doc_opaque(&lr);
	free(only);
	if (!opaque)
		return NULL;
	char when[32];
	event_time(ev, complete, when);
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	ade_strbuf_adds(&sb, "{\"eventType\":");
	ade_json_put_string(&sb, event_type);
	ade_strbuf_adds(&sb, ",\"eventTime\":");
	ade_json_put_string(&sb, when);
	ade_strbuf_adds(&sb, ",\"producer\":");
	ade_json_put_string(&sb, ADE_LINEAGE_PRODUCER);
	ade_strbuf_adds(&sb, ",\"schemaURL\":");
	ade_json_put_string(&sb, ADE_LINEAGE_SCHEMA_URL);
	ade_strbuf_adds(&sb, ",\"run\":{\"runId\":");
	ade_json_put_string(&sb, stage_run_id);
	ade_strbuf_adds(&sb, ",\"facets\":{\"nominalTime\":");
	ade_strbuf_adds(&sb, fc->nominal);
	ade_strbuf_adds(&sb, ",\"processing_engine\":");
	ade_strbuf_adds(&sb, fc->engine);
	ade_strbuf_adds(&sb, ",\"parent\":");
	ade_strbuf_adds(&sb, fc->parent);
	ade_strbuf_adds(&sb, "}},\"job\":{\"namespace\":");
	ade_json_put_string(&sb, c->ns);
	ade_strbuf_adds(&sb, ",\"name\":");
	char *job = ade_xconcat(p->name, ".", ev->stage->name, NULL);
	ade_json_put_string(&sb, job);
	free(job);
	ade_strbuf_adds(&sb, ",\"facets\":{\"jobType\":");
	ade_strbuf_adds(&sb, fc->task);
	ade_strbuf_adds(&sb, "}},\"inputs\":[],\"outputs\":[]}\n");
	*len = sb.len - 1;
	return ade_strbuf_detach(&sb);
}

static struct attempt_id *attempt_find(struct ade_lineage_emitter *em, const struct ade_exec_event *ev)
{
	for (int k = 0; k < em->n_ids; k++)
		if (em->ids[k].attempt == ev->attempt && !strcmp(em->ids[k].run_id, ev->run_id) &&
		    !strcmp(em->ids[k].stage, ev->stage->name))
			return &em->ids[k];
	return NULL;
}

void ade_lineage_on_event(void *arg, const struct ade_exec_event *ev)
{
	struct ade_lineage_emitter *em = arg;
	struct ade_lineage_config local, *c = &em->cfg;
	struct ade_error err = {0};
	const char *types[2] = {NULL, NULL};
	char olid[37] = "";

	if (!em)
		return; /* no emitter (ade backfill --dry-run) */
	if (!em->have_cfg) {
		if (ade_lineage_config_parse(cJSON_GetObjectItem(ev->pipeline->extra, "lineage"), &local,
					     &err)) {
			ade_log_warn("lineage: %s: %s", ev->pipeline->path, err.msg);
			return;
		}
		c = &local;
	}
	switch (ev->kind) {
	case ADE_EV_RUN_START:
		/* A resumed run already sent its START (from the killed ade). */
		types[0] = ev->state && !strcmp(ev->state, "resumed") ? "RUNNING" : "START";
		break;
	case ADE_EV_RUN_END:
		types[0] = ev->state && !strcmp(ev->state, "success") ? "COMPLETE" : "FAIL";
		break;
	case ADE_EV_STAGE_START: {
		if (em->n_ids == em->cap_ids) {
			em->cap_ids = em->cap_ids ? em->cap_ids * 2 : 16;
			em->ids = ade_xrealloc(em->ids, (size_t)em->cap_ids * sizeof(*em->ids));
		}
		struct attempt_id *a = &em->ids[em->n_ids++];
		a->run_id = ade_xstrdup(ev->run_id);
		a->stage = ade_xstrdup(ev->stage->name);
		a->attempt = ev->attempt;
		ade_uuid7_at((uint64_t)(ev->start_us > 0 ? ev->start_us : ade_now_wall_us()) / 1000, a->ol_id);
		memcpy(olid, a->ol_id, sizeof(olid));
		types[0] = "START";
		break;
	}
	case ADE_EV_STAGE_END: {
		struct attempt_id *a = attempt_find(em, ev);
		const char *end = ev->state && !strcmp(ev->state, "success") ? "COMPLETE" : "FAIL";
		if (a) {
			memcpy(olid, a->ol_id, sizeof(olid));
			free(a->run_id);
			free(a->stage);
			*a = em->ids[--em->n_ids];
			types[0] = end;
		} else {
			/* An attempt that never started (spawn failed): a whole cycle. */
			ade_uuid7(olid);
			types[0] = "START";
			types[1] = end;
		}
		break;
	}
	}
	for (int k = 0; k < 2 && types[k]; k++) {
		if (!em->results)
			em->results = ade_lineage_results_new();
		size_t len = 0;
		char *line = event_text_opaque(c, ev, olid, types[k], &em->facets, em->results, &len);
		if (line) {
			if (emit_line(em, c, line, len, &err))
				ade_log_warn("lineage: %s", err.msg);
			free(line);
			continue;
		}
		cJSON *e = event_build(c, ev, olid, types[k], &em->facets, em->results);
		if (ade_lineage_emit(em, c, e, &err))
			ade_log_warn("lineage: %s", err.msg);
		cJSON_Delete(e);
	}
	/* A run that ended reads nothing more: a long ade schedule keeps no result for ever. */
	if (ev->kind == ADE_EV_RUN_END && ev->run_dir)
		ade_lineage_results_forget(em->results, ev->run_dir);
	if (c == &local)
		ade_lineage_config_release(&local);
}
