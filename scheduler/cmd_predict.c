/*
 * ade models and ade predict: finding the models ade-train left in the
 * run directories, and serving one.  The encoding is ade-train's own
 * (stages/train/model.c), so a prediction sees exactly what the fit saw;
 * rows are read by the ingest library into a temporary frame, so CSV and
 * NDJSON are parsed exactly as the pipeline parses them.  docs/train.md.
 */
#include "cli.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/stage.h"
#include "core/util.h"
#include "stages/ingest/ingest.h"
#include "stages/train/train.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- finding models ---------------- */

struct found {
	char ds[11];
	int run;
	char *stage;
	char *path;       /* .../out/model.json */
	cJSON *doc;       /* parsed, or NULL when unreadable */
};

struct found_list {
	struct found *v;
	int n, cap;
};

static void found_free(struct found_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->v[i].stage);
		free(l->v[i].path);
		cJSON_Delete(l->v[i].doc);
	}
	free(l->v);
}

static int valid_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c = strcmp(y->ds, x->ds);
	if (c)
		return c;
	if (x->run != y->run)
		return y->run - x->run;
	return strcmp(x->stage, y->stage);
}

/*
 * Every <home>/runs/<pipeline>/<ds>/run-N/<stage>/out/model.json written
 * by ade-train, newest date first, then newest run.  A stage's out/ is
 * published only when it exits 0, so each of these is a finished model.
 */
static void find_models(const char *home, const char *pipeline, struct found_list *l)
{
	char *root = ade_xasprintf("%s/runs/%s", home, pipeline);
	DIR *d1 = opendir(root);
	struct dirent *e1;

	while (d1 && (e1 = readdir(d1))) {
		int32_t days;
		if (strlen(e1->d_name) != 10 || ade_date_parse_n(e1->d_name, 10, &days))
			continue;
		char *dsdir = ade_xasprintf("%s/%s", root, e1->d_name);
		DIR *d2 = opendir(dsdir);
		struct dirent *e2;
		while (d2 && (e2 = readdir(d2))) {
			int run;
			char tail;
			if (sscanf(e2->d_name, "run-%d%c", &run, &tail) != 1)
				continue;
			char *rdir = ade_xasprintf("%s/%s", dsdir, e2->d_name);
			DIR *d3 = opendir(rdir);
			struct dirent *e3;
			while (d3 && (e3 = readdir(d3))) {
				if (e3->d_name[0] == '.')
					continue;
				char *mp = ade_xasprintf("%s/%s/out/model.json", rdir, e3->d_name);
				if (!ade_fs_exists(mp)) {
					free(mp);
					continue;
				}
				if (l->n == l->cap) {
					l->cap = l->cap ? 2 * l->cap : 16;
					l->v = ade_xrealloc(l->v, (size_t)l->cap * sizeof(*l->v));
				}
				struct found *f = &l->v[l->n++];
				memset(f, 0, sizeof(*f));
				memcpy(f->ds, e1->d_name, 10);
				f->run = run;
				f->stage = ade_xstrdup(e3->d_name);
				f->path = mp;
				if (ade_json_read_file(mp, &f->doc, NULL))
					f->doc = NULL;
			}
			if (d3)
				closedir(d3);
			free(rdir);
		}
		if (d2)
			closedir(d2);
		free(dsdir);
	}
	if (d1)
		closedir(d1);
	free(root);
	if (l->n)
		qsort(l->v, (size_t)l->n, sizeof(*l->v), found_cmp);
}

/* ---------------- ade models ---------------- */

static const char *metric_names[] = {"n_train", "n_test", "mae", "rmse", "r2", "baseline_mae"};
#define NMETRICS 6

static void print_header(void)
{
	printf("%-10s %4s  %-16s %9s %8s %12s %12s %8s %12s\n", "DS", "RUN", "MODEL_VERSION",
	       "N_TRAIN", "N_TEST", "MAE", "RMSE", "R2", "BASELINE_MAE");
}

static void print_row(const char *ds, const char *run, const char *version, const double *v,
		      const int *have)
{
	printf("%-10s %4s  %-16s", ds, run, version);
	for (int i = 0; i < NMETRICS; i++) {
		int w = i == 0 ? 9 : i == 1 ? 8 : i == 4 ? 8 : 12;
		if (!have[i])
			printf(" %*s", w, "-");
		else if (i < 2)
			printf(" %*.0f", w, v[i]);
		else if (i == 4)
			printf(" %*.4f", w, v[i]);
		else
			printf(" %*.2f", w, v[i]);
	}
	printf("\n");
}

/* Lists from the warehouse; returns the number of rows, -1 when it has no table. */
static int models_from_warehouse(const char *home, const char *pipeline, int json, cJSON *arr)
{
	char *path = ade_xasprintf("%s/warehouse.db", home);
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int n = -1;

	if (!ade_fs_exists(path) ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db,
			       "SELECT ds, model_version, metric, value FROM model_metrics "
			       "WHERE pipeline = ?1 ORDER BY ds DESC, model_version",
			       -1, &s, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(s, 1, pipeline, -1, SQLITE_STATIC);
	char ds[64] = "", ver[64] = "";
	double v[NMETRICS];
	int have[NMETRICS] = {0}, open_row = 0;
	cJSON *o = NULL;
	n = 0;
	for (;;) {
		int st = sqlite3_step(s);
		const char *rds = st == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
		const char *rver = st == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 1) : NULL;
		rds = rds ? rds : "";
		rver = rver ? rver : "";
		if (open_row && (st != SQLITE_ROW || strcmp(rds, ds) || strcmp(rver, ver))) {
			if (!json)
				print_row(ds, "-", ver, v, have);
			else
				cJSON_AddItemToArray(arr, o);
			o = NULL;
			open_row = 0;
			n++;
		}
		if (st != SQLITE_ROW)
			break;
		if (!open_row) {
			if (!n && !json) {
				printf("# from the warehouse table model_metrics\n");
				print_header();
			}
			snprintf(ds, sizeof(ds), "%s", rds);
			snprintf(ver, sizeof(ver), "%s", rver);
			memset(have, 0, sizeof(have));
			open_row = 1;
			if (json) {
				o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "ds", ds);
				cJSON_AddStringToObject(o, "model_version", ver);
				cJSON_AddStringToObject(o, "source", "warehouse");
				cJSON_AddObjectToObject(o, "metrics");
			}
		}
		const char *metric = (const char *)sqlite3_column_text(s, 2);
		double val = sqlite3_column_double(s, 3);
		for (int i = 0; metric && i < NMETRICS; i++)
			if (!strcmp(metric, metric_names[i])) {
				v[i] = val;
				have[i] = 1;
			}
		if (o && metric && sqlite3_column_type(s, 3) != SQLITE_NULL)
			cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "metrics"), metric, val);
	}
	cJSON_Delete(o);
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(path);
	return n;
}

int ade_cmd_models(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'J'},
					     {"runs", no_argument, NULL, 'R'},
					     {NULL, 0, NULL, 0}};
	int json = 0, runs_only = 0, c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'J': json = 1; break;
		case 'R': runs_only = 1; break;
		default:
			return ade_cli_usage_error("models", "unrecognized option '%s'",
						   argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("models", optind == argc ? "a pipeline name is needed"
								    : "unexpected argument '%s'",
					   argv[optind + 1 < argc ? optind + 1 : 0]);
	const char *pipeline = argv[optind];
	if (!valid_name(pipeline))
		return ade_cli_usage_error("models", "'%s' is not a pipeline name", pipeline);

	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	int n = runs_only ? -1 : models_from_warehouse(cli->home, pipeline, json, arr);
	if (n <= 0) {
		struct found_list l = {0};
		find_models(cli->home, pipeline, &l);
		if (!json && l.n) {
			printf("# from the run directories under %s/runs/%s\n", cli->home, pipeline);
			print_header();
		}
		for (int i = 0; i < l.n; i++) {
			const struct found *f = &l.v[i];
			const cJSON *me = cJSON_GetObjectItemCaseSensitive(f->doc, "metrics");
			const char *ver = ade_json_str(f->doc, "model_version", "(unreadable)");
			double v[NMETRICS];
			int have[NMETRICS];
			char run[16];
			for (int k = 0; k < NMETRICS; k++) {
				const cJSON *x = cJSON_GetObjectItemCaseSensitive(me, metric_names[k]);
				have[k] = cJSON_IsNumber(x);
				v[k] = have[k] ? x->valuedouble : 0;
			}
			snprintf(run, sizeof(run), "%d", f->run);
			if (!json) {
				print_row(f->ds, run, ver, v, have);
				continue;
			}
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "ds", f->ds);
			cJSON_AddNumberToObject(o, "run", f->run);
			cJSON_AddStringToObject(o, "stage", f->stage);
			cJSON_AddStringToObject(o, "model_version", ver);
			cJSON_AddStringToObject(o, "path", f->path);
			cJSON_AddStringToObject(o, "source", "runs");
			cJSON_AddItemToObject(o, "metrics", me ? cJSON_Duplicate(me, 1) : cJSON_CreateObject());
			cJSON_AddItemToArray(arr, o);
		}
		if (!json && !l.n)
			fprintf(stderr, "ade models: no models for pipeline '%s' in %s\n", pipeline,
				cli->home);
		found_free(&l);
	}
	if (json) {
		char *s = cJSON_Print(arr);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(arr);
	}
	return 0;
}

/* ---------------- ade predict ---------------- */

/* CSV field: quoted when it holds a delimiter, quote or line break. */
static void put_csv(FILE *o, const char *s, size_t n)
{
	if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) &&
	    !memchr(s, '\r', n)) {
		fwrite(s, 1, n, o);
		return;
	}
	fputc('"', o);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', o);
		fputc(s[i], o);
	}
	fputc('"', o);
}

static void put_key(FILE *o, const struct ade_frame_column *c, int64_t i)
{
	char buf[40];
	int n;

	if (c->valid && !c->valid[i])
		return;
	switch (c->type) {
	case ADE_TYPE_STRING:
	case ADE_TYPE_CATEGORICAL: {
		size_t len;
		const char *s = ade_frame_str(c, i, &len);
		if (s)
			put_csv(o, s, len);
		return;
	}
	case ADE_TYPE_FLOAT64:
		n = snprintf(buf, sizeof(buf), "%.17g", ((const double *)c->data)[i]);
		break;
	case ADE_TYPE_BOOL:
		n = snprintf(buf, sizeof(buf), "%s", ((const uint8_t *)c->data)[i] ? "true" : "false");
		break;
	case ADE_TYPE_DATE: {
		char d[11];
		ade_date_format((int32_t)((const int64_t *)c->data)[i], d);
		n = snprintf(buf, sizeof(buf), "%s", d);
		break;
	}
	default:
		n = snprintf(buf, sizeof(buf), "%lld", (long long)((const int64_t *)c->data)[i]);
	}
	fwrite(buf, 1, (size_t)n, o);
}

/* Runs the ingest library on input into dir/frame; returns an exit code. */
static int ingest_input(const char *input, const char *format, const struct ade_model *m,
			const char *dir, int64_t *quarantined)
{
	struct ade_stage_ctx ctx;
	struct ade_error err = {0};
	cJSON *conf = cJSON_CreateObject();
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.pipeline = "predict";
	ctx.stage = "predict";
	ctx.ds = "";
	ctx.run_id = "";
	ctx.home = "";
	ctx.warehouse = "";
	ctx.out = dir;
	ctx.source = input;
	ctx.attempt = 1;
	cJSON_AddStringToObject(conf, "format", format);
	/* a bad field becomes a null, imputed and counted, not a lost row */
	cJSON_AddStringToObject(conf, "on_malformed", "null");
	cJSON_AddItemToObject(conf, "thresholds", cJSON_Parse("{\"warn\": 1}"));
	/*
	 * No schema_hints: inference is left to ingest, and the binding
	 * accepts a categorical feature as categorical, string, int64 or bool
	 * and a numeric one as int64, float64 or bool.
	 */
	(void)m;
	ctx.config = conf;
	/* ingest's own progress line would only name the temporary frame */
	int level = ade_log_level_current;
	if (level == ADE_LOG_INFO)
		ade_log_set_level(ADE_LOG_WARN);
	rc = ade_ingest_run(&ctx, &err);
	ade_log_set_level(level);
	cJSON_Delete(conf);
	if (rc) {
		fprintf(stderr, "ade predict: reading %s: %s\n", input, err.msg);
		return rc == ADE_EINVAL ? ADE_EXIT_USAGE : ADE_EXIT_FAILED;
	}
	char *rp = ade_xasprintf("%s/result.json", dir);
	cJSON *res = NULL;
	if (!ade_json_read_file(rp, &res, NULL))
		*quarantined = (int64_t)ade_json_num(res, "rows_quarantined", 0);
	cJSON_Delete(res);
	free(rp);
	return 0;
}

/* " (age 3, city 2)" for the features with a count. */
static void print_counts(const struct ade_model *m, const int64_t *v)
{
	int first = 1;
	for (int i = 0; i < m->nfeat; i++) {
		if (!v[i])
			continue;
		fprintf(stderr, "%s%s %lld", first ? " (" : ", ", m->feat[i].name, (long long)v[i]);
		first = 0;
	}
	if (!first)
		fputc(')', stderr);
}

static const char *guess_format(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* look through one compression suffix */
	char *tmp = ade_xstrdup(base);
	char *d = strrchr(tmp, '.');
	if (d && (!strcmp(d, ".gz") || !strcmp(d, ".zst") || !strcmp(d, ".xz") || !strcmp(d, ".bz2")))
		*d = '\0';
	d = strrchr(tmp, '.');
	const char *f = d && (!strcmp(d, ".ndjson") || !strcmp(d, ".jsonl")) ? "ndjson"
			: d && !strcmp(d, ".csv")				 ? "csv"
										 : "auto";
	free(tmp);
	return f;
}

int ade_cmd_predict(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
					     {"as-of", required_argument, NULL, 'a'},
					     {"input", required_argument, NULL, 'i'},
					     {"out", required_argument, NULL, 'o'},
					     {"format", required_argument, NULL, 'f'},
					     {"stage", required_argument, NULL, 's'},
					     {NULL, 0, NULL, 0}};
	const char *version = NULL, *asof = NULL, *input = NULL, *outp = NULL, *format = NULL;
	const char *stage = NULL;
	int c, rc = ADE_EXIT_FAILED;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'm': version = optarg; break;
		case 'a': asof = optarg; break;
		case 'i': input = optarg; break;
		case 'o': outp = optarg; break;
		case 's': stage = optarg; break;
		case 'f':
			if (strcmp(optarg, "csv") && strcmp(optarg, "ndjson") && strcmp(optarg, "auto"))
				return ade_cli_usage_error("predict", "--format must be csv, ndjson or auto");
			format = optarg;
			break;
		default:
			if (optopt && strchr("maiofs", optopt))
				return ade_cli_usage_error("predict", "option '%s' needs a value",
							   argv[optind - 1]);
			return ade_cli_usage_error("predict", "unrecognized option '%s'",
						   argv[optind - 1]);
		}
	}
	if (optind == argc)
		return ade_cli_usage_error("predict", "a pipeline name is needed");
	if (optind + 1 != argc)
		return ade_cli_usage_error("predict", "unexpected argument '%s'", argv[optind + 1]);
	const char *pipeline = argv[optind];
	if (!valid_name(pipeline))
		return ade_cli_usage_error("predict", "'%s' is not a pipeline name", pipeline);
	if (!input)
		return ade_cli_usage_error("predict", "--input FILE is needed");
	if (version && asof)
		return ade_cli_usage_error("predict", "--model and --as-of cannot be combined");
	int32_t days;
	if (asof && (strlen(asof) != 10 || ade_date_parse_n(asof, 10, &days)))
		return ade_cli_usage_error("predict", "--as-of needs a date YYYY-MM-DD, not '%s'", asof);
	if (version && (!*version || strlen(version) > 16 ||
			strspn(version, "0123456789abcdef") != strlen(version)))
		return ade_cli_usage_error("predict", "--model needs a model version (hex digits), "
					   "not '%s'", version);
	if (!ade_fs_exists(input)) {
		fprintf(stderr, "ade predict: %s: no such file\n", input);
		return ADE_EXIT_FAILED;
	}

	/* ---- the model ---- */
	struct found_list l = {0};
	const struct found *pick = NULL;
	find_models(cli->home, pipeline, &l);
	for (int i = 0; i < l.n && !pick; i++) {
		const struct found *f = &l.v[i];
		if (asof && strcmp(f->ds, asof) > 0)
			continue;
		if (stage && strcmp(f->stage, stage))
			continue;
		if (version) {
			const char *v = ade_json_str(f->doc, "model_version", "");
			if (strncmp(v, version, strlen(version)))
				continue;
			/* a prefix must name one version */
			for (int j = i + 1; j < l.n; j++) {
				const char *w = ade_json_str(l.v[j].doc, "model_version", "");
				if (!strncmp(w, version, strlen(version)) && strcmp(w, v)) {
					fprintf(stderr, "ade predict: model version '%s' is ambiguous (%s, %s)\n",
						version, v, w);
					found_free(&l);
					return ADE_EXIT_USAGE;
				}
			}
		}
		pick = f;
	}
	/* several training stages in one run: the user must say which */
	if (pick && !version && !stage) {
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		int n = 0;
		for (int i = 0; i < l.n; i++)
			if (!strcmp(l.v[i].ds, pick->ds) && l.v[i].run == pick->run) {
				ade_strbuf_addf(&sb, "%s%s", n ? ", " : "", l.v[i].stage);
				n++;
			}
		if (n > 1) {
			fprintf(stderr, "ade predict: %s %s run %d has %d models (stages %s): choose "
					"one with --stage or --model\n",
				pipeline, pick->ds, pick->run, n, sb.buf);
			ade_strbuf_release(&sb);
			found_free(&l);
			return ADE_EXIT_USAGE;
		}
		ade_strbuf_release(&sb);
	}
	if (!pick) {
		if (stage)
			fprintf(stderr, "ade predict: no model of stage '%s' for pipeline '%s'%s%s in %s\n",
				stage, pipeline, asof ? " on or before " : "", asof ? asof : "",
				cli->home);
		else if (version)
			fprintf(stderr, "ade predict: no model %s for pipeline '%s' in %s (see ade models)\n",
				version, pipeline, cli->home);
		else if (asof)
			fprintf(stderr, "ade predict: no model for pipeline '%s' on or before %s in %s\n",
				pipeline, asof, cli->home);
		else
			fprintf(stderr, "ade predict: no model for pipeline '%s' in %s\n", pipeline,
				cli->home);
		found_free(&l);
		return ADE_EXIT_FAILED;
	}
	struct ade_model *m = NULL;
	struct ade_error err = {0};
	if (ade_model_read(pick->path, &m, &err)) {
		fprintf(stderr, "ade predict: %s\n", err.msg);
		found_free(&l);
		return ADE_EXIT_FAILED;
	}
	fprintf(stderr, "ade predict: model %s (%s %s run %d, stage %s)\n", m->version, pipeline,
		pick->ds, pick->run, pick->stage);

	/* ---- the rows ---- */
	const char *tmpdir = getenv("TMPDIR");
	char *tmpl = ade_xasprintf("%s/ade-predict.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	struct ade_frame *fr = NULL;
	struct ade_binding *b = NULL;
	FILE *o = NULL;
	double *X = NULL, *pred = NULL;
	struct ade_encode_counts cnt = {0};
	int64_t quarantined = 0;
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "ade predict: cannot create a directory under %s\n",
			tmpdir ? tmpdir : "/tmp");
		goto out;
	}
	int64_t t0 = ade_now_mono_ns();
	rc = ingest_input(input, format ? format : guess_format(input), m, tmpl, &quarantined);
	if (rc)
		goto out;
	rc = ADE_EXIT_FAILED;
	char *fdir = ade_xasprintf("%s/frame", tmpl);
	int orc = ade_frame_open(fdir, &fr, &err);
	free(fdir);
	if (orc) {
		fprintf(stderr, "ade predict: %s\n", err.msg);
		goto out;
	}
	/* pages the frame's open touched (string offsets) are not needed */
	for (int i = 0; i < fr->ncols; i++)
		ade_train_drop_pages(&fr->cols[i], 0, fr->rows);
	if (ade_model_bind(m, fr, &b, &err)) {
		fprintf(stderr, "ade predict: %s: %s\n", input, err.msg);
		goto out;
	}
	int64_t t1 = ade_now_mono_ns();
	o = outp ? fopen(outp, "w") : stdout;
	if (!o) {
		fprintf(stderr, "ade predict: cannot write %s: %m\n", outp);
		goto out;
	}
	setvbuf(o, NULL, _IOFBF, 1 << 20);
	int k = m->key ? ade_frame_find(fr, m->key) : -1;
	const struct ade_frame_column *kc = k >= 0 ? &fr->cols[k] : NULL;
	if (kc) {
		put_csv(o, m->key, strlen(m->key));
		fputs(",prediction\n", o);
	} else {
		fputs("prediction\n", o);
	}
	enum { BLOCK = 4096 };
	X = ade_xmalloc((size_t)BLOCK * (m->p ? m->p : 1) * sizeof(double));
	pred = ade_xmalloc(BLOCK * sizeof(double));
	cnt.imputed = ade_xcalloc((size_t)m->nfeat, sizeof(int64_t));
	cnt.unseen = ade_xcalloc((size_t)m->nfeat, sizeof(int64_t));
	cnt.nulls = ade_xcalloc((size_t)m->nfeat, sizeof(int64_t));
	int64_t t_pred = 0;
	for (int64_t s = 0; s < fr->rows; s += BLOCK) {
		int n = (int)(fr->rows - s < BLOCK ? fr->rows - s : BLOCK);
		int64_t a = ade_now_mono_ns();
		ade_model_predict_rows(b, s, n, X, pred, &cnt);
		t_pred += ade_now_mono_ns() - a;
		for (int r = 0; r < n; r++) {
			char buf[32];
			if (kc) {
				put_key(o, kc, s + r);
				fputc(',', o);
			}
			int len = snprintf(buf, sizeof(buf), "%.17g\n", pred[r]);
			fwrite(buf, 1, (size_t)len, o);
		}
		/* keep RSS flat on big inputs: these rows are done */
		ade_binding_drop_pages(b, s, s + n);
		if (kc)
			ade_train_drop_pages(kc, s, s + n);
	}
	if (fflush(o) || ferror(o) || (outp && fclose(o))) {
		fprintf(stderr, "ade predict: writing %s: %m\n", outp ? outp : "stdout");
		o = NULL;
		goto out;
	}
	if (outp)
		o = NULL;
	int64_t t2 = ade_now_mono_ns();

	/* ---- the summary, on stderr so stdout stays CSV ---- */
	double ps = (double)t_pred / 1e9;
	fprintf(stderr, "ade predict: %lld rows predicted (read %.2f s, predict %.3f s = %.3g rows/s, "
			"total %.2f s)\n",
		(long long)fr->rows, (double)(t1 - t0) / 1e9, ps,
		ps > 0 ? (double)fr->rows / ps : 0.0, (double)(t2 - t0) / 1e9);
	if (quarantined)
		fprintf(stderr, "ade predict: %lld input records were malformed and left out (no "
				"prediction)\n",
			(long long)quarantined);
	int64_t timp = 0, tuns = 0, tnul = 0;
	for (int i = 0; i < m->nfeat; i++) {
		timp += cnt.imputed[i];
		tuns += cnt.unseen[i];
		tnul += cnt.nulls[i];
	}
	fprintf(stderr, "ade predict: imputed values: %lld", (long long)timp);
	print_counts(m, cnt.imputed);
	fprintf(stderr, "\nade predict: unseen categories: %lld", (long long)tuns);
	print_counts(m, cnt.unseen);
	fprintf(stderr, "\nade predict: null categories: %lld", (long long)tnul);
	print_counts(m, cnt.nulls);
	fputc('\n', stderr);
	rc = 0;
out:
	if (o && o != stdout)
		fclose(o);
	if (rc && outp)
		remove(outp);
	free(X);
	free(pred);
	free(cnt.imputed);
	free(cnt.unseen);
	free(cnt.nulls);
	ade_binding_free(b);
	ade_frame_close(fr);
	ade_fs_remove_tree(tmpl, NULL);
	free(tmpl);
	ade_model_free(m);
	found_free(&l);
	return rc;
}
