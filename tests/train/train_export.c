/*
 * train_export FRAME CONFIG.json OUTDIR: fits like ade-train and writes
 * what an independent check needs: model.json, X.npy (every row encoded
 * by the shared encoder, rows x columns, raw units), y.npy, split.npy
 * (1 = holdout) and pred.npy (the encoder's predictions).
 */
#include "stages/train/train.h"
#include "core/error.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_npy(const char *path, const char *descr, int64_t rows, int cols,
		     const void *data, size_t elem)
{
	char hdr[256];
	int n = cols ? snprintf(hdr, sizeof(hdr),
				"{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }",
				descr, (long long)rows, cols)
		     : snprintf(hdr, sizeof(hdr),
				"{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
				(long long)rows);
	int total = 10 + n + 1;
	int pad = (64 - total % 64) % 64;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	unsigned short hl = (unsigned short)(n + pad + 1);
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc(hl & 0xff, f);
	fputc(hl >> 8, f);
	fwrite(hdr, 1, (size_t)n, f);
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(data, elem, (size_t)rows * (size_t)(cols ? cols : 1), f);
	return fclose(f);
}

int main(int argc, char **argv)
{
	struct ade_error err = {0};
	cJSON *conf = NULL;
	struct ade_model *m = NULL;
	struct ade_frame *f = NULL;
	struct ade_binding *b = NULL;

	if (argc != 4) {
		fprintf(stderr, "usage: train_export FRAME CONFIG.json OUTDIR\n");
		return 2;
	}
	if (ade_json_read_file(argv[2], &conf, &err) ||
	    ade_train_fit(NULL, conf, argv[1], &m, &err) || ade_frame_open(argv[1], &f, &err) ||
	    ade_model_bind(m, f, &b, &err)) {
		fprintf(stderr, "train_export: %s\n", err.msg);
		return 1;
	}
	char *p = ade_xasprintf("%s/model.json", argv[3]);
	if (ade_json_write_file(p, m->doc, 1, &err)) {
		fprintf(stderr, "train_export: %s\n", err.msg);
		return 1;
	}
	free(p);
	int64_t n = f->rows;
	int pc = m->p;
	double *X = ade_xmalloc((size_t)n * (size_t)(pc ? pc : 1) * sizeof(double));
	double *y = ade_xmalloc((size_t)n * sizeof(double) + 1);
	double *pred = ade_xmalloc((size_t)n * sizeof(double) + 1);
	uint8_t *split = ade_xmalloc((size_t)n + 1);
	ade_encode_rows(b, NULL, 0, (int)n, X, pc, NULL);
	double *scratch = ade_xmalloc((size_t)n * (size_t)(pc ? pc : 1) * sizeof(double));
	ade_model_predict_rows(b, 0, (int)n, scratch, pred, NULL);
	free(scratch);
	const struct ade_frame_column *t = &f->cols[ade_frame_find(f, m->target)];
	int k = m->key ? ade_frame_find(f, m->key) : -1;
	const cJSON *sp = cJSON_GetObjectItem(m->doc, "split");
	uint64_t seed = (uint64_t)ade_json_num(sp, "seed", 0);
	double frac = ade_json_num(sp, "test_fraction", 0);
	for (int64_t i = 0; i < n; i++) {
		int nul = t->valid && !t->valid[i];
		y[i] = nul ? NAN
		       : t->type == ADE_TYPE_FLOAT64 ? ((const double *)t->data)[i]
		       : t->type == ADE_TYPE_BOOL    ? ((const uint8_t *)t->data)[i]
						     : (double)((const int64_t *)t->data)[i];
		split[i] = (uint8_t)ade_train_is_test(
			ade_train_key_hash(k >= 0 ? &f->cols[k] : NULL, i, seed), frac);
	}
	int rc = 0;
	char *px = ade_xasprintf("%s/X.npy", argv[3]), *py = ade_xasprintf("%s/y.npy", argv[3]);
	char *ps = ade_xasprintf("%s/split.npy", argv[3]), *pp = ade_xasprintf("%s/pred.npy", argv[3]);
	rc |= write_npy(px, "<f8", n, pc, X, sizeof(double));
	rc |= write_npy(py, "<f8", n, 0, y, sizeof(double));
	rc |= write_npy(ps, "|u1", n, 0, split, 1);
	rc |= write_npy(pp, "<f8", n, 0, pred, sizeof(double));
	free(px);
	free(py);
	free(ps);
	free(pp);
	free(X);
	free(y);
	free(pred);
	free(split);
	ade_binding_free(b);
	ade_frame_close(f);
	ade_model_free(m);
	cJSON_Delete(conf);
	return rc ? 1 : 0;
}
