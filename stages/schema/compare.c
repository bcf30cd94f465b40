/*
 * The schema comparison and the on_change policy: which changes there
 * are, which the policy accepts, heals or rejects, and the plan of the
 * output frame's columns.  No I/O here, so tests drive it with JSON.
 */
#include "schema.h"
#include "core/json.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Two rename candidates closer than this are ambiguous: neither is healed. */
#define AMBIGUITY_MARGIN 0.02

struct pair {
	int b, c;
	double conf;
	cJSON *ev;
};

static int pair_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	if (a->conf != b->conf)
		return a->conf > b->conf ? -1 : 1;
	if (a->b != b->b)
		return a->b - b->b;
	return a->c - b->c;
}

static const char *col_name(const cJSON *c)
{
	return ade_json_str(c, "name", "");
}

static const char *col_type(const cJSON *c)
{
	return ade_json_str(c, "type", NULL);
}

static cJSON *change(cJSON *changes, const char *kind, const char *column)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "column", column);
	cJSON_AddItemToArray(changes, o);
	return o;
}

static void set_action(cJSON *ch, const char *action, const char *reason)
{
	cJSON_AddStringToObject(ch, "action", action);
	if (reason)
		cJSON_AddStringToObject(ch, "reason", reason);
}

static void plan_add(cJSON *plan, const char *name, const char *from, const char *fill,
		     const char *type)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", name);
	if (from)
		cJSON_AddStringToObject(o, "from", from);
	else
		cJSON_AddNullToObject(o, "from");
	if (fill)
		cJSON_AddStringToObject(o, "fill", fill);
	if (type)
		cJSON_AddStringToObject(o, "type", type);
	cJSON_AddItemToArray(plan, o);
}

cJSON *ade_schema_compare(const cJSON *baseline, const cJSON *current,
			  enum ade_schema_policy policy, double threshold)
{
	const cJSON *bcols = cJSON_GetObjectItem(baseline, "columns");
	const cJSON *ccols = cJSON_GetObjectItem(current, "columns");
	int nb = baseline ? cJSON_GetArraySize(bcols) : 0, nc = cJSON_GetArraySize(ccols);
	const cJSON **B = ade_xcalloc((size_t)nb + 1, sizeof(*B));
	const cJSON **C = ade_xcalloc((size_t)nc + 1, sizeof(*C));
	int *mb = ade_xcalloc((size_t)nb + 1, sizeof(int)); /* baseline -> current, or -1 */
	int *mc = ade_xcalloc((size_t)nc + 1, sizeof(int));
	int *renamed = ade_xcalloc((size_t)nb + 1, sizeof(int));
	int *no_rename = ade_xcalloc((size_t)nb + (size_t)nc + 1, sizeof(int));
	double *rconf = ade_xcalloc((size_t)nb + 1, sizeof(double));
	cJSON **rev = ade_xcalloc((size_t)nb + 1, sizeof(cJSON *));
	cJSON **best_cand = ade_xcalloc((size_t)nb + 1, sizeof(cJSON *));
	cJSON *report = cJSON_CreateObject();
	cJSON *changes = cJSON_AddArrayToObject(report, "changes");
	cJSON *healing = cJSON_AddArrayToObject(report, "healing");
	cJSON *plan = cJSON_AddArrayToObject(report, "plan");
	cJSON *ambiguous = NULL;
	int rejected = 0, healed = 0, evolved = 0, warned = 0;
	int k;
	const cJSON *e;

	k = 0;
	cJSON_ArrayForEach(e, bcols) B[k++] = e;
	k = 0;
	cJSON_ArrayForEach(e, ccols) C[k++] = e;
	for (int i = 0; i < nb; i++)
		mb[i] = -1;
	for (int j = 0; j < nc; j++)
		mc[j] = -1;

	if (!baseline) {
		for (int j = 0; j < nc; j++)
			plan_add(plan, col_name(C[j]), col_name(C[j]), NULL, NULL);
		cJSON_AddStringToObject(report, "decision", "first_version");
		goto done;
	}

	/* 1. Same name. */
	for (int i = 0; i < nb; i++)
		for (int j = 0; j < nc; j++)
			if (mc[j] < 0 && !strcmp(col_name(B[i]), col_name(C[j]))) {
				mb[i] = j;
				mc[j] = i;
				break;
			}

	/* 2. Renames, detected from statistics; best pairs first, one to one. */
	{
		struct pair *pairs = NULL;
		int np = 0;
		for (int i = 0; i < nb; i++) {
			if (mb[i] >= 0)
				continue;
			for (int j = 0; j < nc; j++) {
				if (mc[j] >= 0)
					continue;
				cJSON *ev = cJSON_CreateObject();
				double conf = ade_schema_rename_confidence(B[i], C[j], ev);
				if (conf <= 0) {
					cJSON_Delete(ev);
					continue;
				}
				pairs = ade_xrealloc(pairs, (size_t)(np + 1) * sizeof(*pairs));
				pairs[np++] = (struct pair){i, j, conf, ev};
			}
		}
		if (np)
			qsort(pairs, (size_t)np, sizeof(*pairs), pair_cmp);
		for (int p = 0; p < np; p++) {
			struct pair *P = &pairs[p];
			if (!best_cand[P->b] && mb[P->b] < 0) {
				/* Kept for the report of a column left removed. */
				best_cand[P->b] = cJSON_CreateObject();
				cJSON_AddStringToObject(best_cand[P->b], "column", col_name(C[P->c]));
				cJSON_AddNumberToObject(best_cand[P->b], "confidence",
							round(P->conf * 1e4) / 1e4);
				cJSON_AddItemToObject(best_cand[P->b], "evidence",
						      cJSON_Duplicate(P->ev, 1));
			}
			if (P->conf < threshold || mb[P->b] >= 0 || mc[P->c] >= 0 ||
			    no_rename[P->b] || no_rename[nb + P->c])
				continue;
			/* Another candidate for either side almost as good: do not choose. */
			int amb = -1;
			for (int q = p + 1; q < np; q++) {
				struct pair *Q = &pairs[q];
				if (Q->conf < threshold || P->conf - Q->conf >= AMBIGUITY_MARGIN)
					break;
				if ((Q->b == P->b || Q->c == P->c) && mb[Q->b] < 0 && mc[Q->c] < 0) {
					amb = q;
					break;
				}
			}
			if (amb >= 0) {
				struct pair *Q = &pairs[amb];
				if (!ambiguous)
					ambiguous = cJSON_AddArrayToObject(report, "ambiguous_renames");
				cJSON *a = cJSON_CreateObject();
				cJSON_AddStringToObject(a, "column", col_name(B[P->b]));
				cJSON *cands = cJSON_AddArrayToObject(a, "candidates");
				cJSON_AddItemToArray(cands, cJSON_CreateString(col_name(C[P->c])));
				cJSON_AddItemToArray(cands, cJSON_CreateString(col_name(C[Q->c])));
				cJSON_AddItemToArray(ambiguous, a);
				no_rename[P->b] = no_rename[Q->b] = 1;
				no_rename[nb + P->c] = no_rename[nb + Q->c] = 1;
				continue;
			}
			mb[P->b] = P->c;
			mc[P->c] = P->b;
			renamed[P->b] = 1;
			rconf[P->b] = P->conf;
			rev[P->b] = cJSON_Duplicate(P->ev, 1);
		}
		for (int p = 0; p < np; p++)
			cJSON_Delete(pairs[p].ev);
		free(pairs);
	}

	/* Under fail and evolve a rename is reported, not applied. */
	int apply_renames = policy == ADE_SCHEMA_HEAL;
	int *mapped = ade_xcalloc((size_t)nc + 1, sizeof(int)); /* current col is in the plan */
	int *fill = ade_xcalloc((size_t)nb + 1, sizeof(int));   /* baseline col filled with nulls */
	int *cast = ade_xcalloc((size_t)nb + 1, sizeof(int));

	/* 3. Per baseline column. */
	for (int i = 0; i < nb; i++) {
		const char *bn = col_name(B[i]);
		int required = ade_json_bool(B[i], "required", 0);
		int j = mb[i];
		cJSON *ch;

		if (j >= 0 && renamed[i]) {
			ch = change(changes, "renamed", bn);
			cJSON_AddStringToObject(ch, "from", bn);
			cJSON_AddStringToObject(ch, "to", col_name(C[j]));
			cJSON_AddNumberToObject(ch, "confidence", round(rconf[i] * 1e4) / 1e4);
			cJSON_AddItemToObject(ch, "evidence", rev[i]);
			rev[i] = NULL;
			if (apply_renames) {
				set_action(ch, "healed", NULL);
				cJSON *h = cJSON_CreateObject();
				cJSON_AddStringToObject(h, "kind", "rename");
				cJSON_AddStringToObject(h, "from", col_name(C[j]));
				cJSON_AddStringToObject(h, "to", bn);
				cJSON_AddNumberToObject(h, "confidence", round(rconf[i] * 1e4) / 1e4);
				cJSON_AddItemToObject(h, "evidence",
						      cJSON_Duplicate(cJSON_GetObjectItem(ch, "evidence"), 1));
				cJSON_AddItemToArray(healing, h);
				healed++;
			} else {
				/* The new name stays a new column; the old one is removed. */
				mc[j] = -1;
				mb[i] = -1;
				j = -1;
				if (required) {
					set_action(ch, "rejected", "required column missing; only on_change: heal maps renames");
					rejected++;
				} else if (policy == ADE_SCHEMA_EVOLVE) {
					set_action(ch, "filled", "evolve does not map renames: the old name is filled with nulls, the new column kept");
					fill[i] = 1;
					evolved++;
				} else {
					set_action(ch, "rejected", NULL);
					rejected++;
				}
				continue;
			}
		}
		if (j < 0) {
			ch = change(changes, "removed", bn);
			if (col_type(B[i]))
				cJSON_AddStringToObject(ch, "from", col_type(B[i]));
			cJSON_AddBoolToObject(ch, "required", required);
			if (best_cand[i]) {
				cJSON_AddItemToObject(ch, "rename_candidate", best_cand[i]);
				best_cand[i] = NULL;
			}
			if (required) {
				set_action(ch, "rejected", "required column missing");
				rejected++;
			} else if (policy == ADE_SCHEMA_FAIL) {
				set_action(ch, "rejected", NULL);
				rejected++;
			} else {
				set_action(ch, "filled", "optional column filled with nulls");
				fill[i] = 1;
				evolved++;
			}
			continue;
		}
		mapped[j] = 1;
		/* Type. */
		const char *bt = col_type(B[i]), *ct = col_type(C[j]);
		enum ade_type tb, tc;
		if (bt && ct && !ade_type_parse(bt, &tb) && !ade_type_parse(ct, &tc) && tb != tc) {
			const char *dir = ade_schema_type_change(tb, tc);
			ch = change(changes, "retyped", bn);
			cJSON_AddStringToObject(ch, "from", bt);
			cJSON_AddStringToObject(ch, "to", ct);
			cJSON_AddStringToObject(ch, "direction", dir);
			if (!strcmp(dir, "incompatible")) {
				set_action(ch, "rejected", "incompatible types");
				rejected++;
			} else if (policy == ADE_SCHEMA_FAIL) {
				set_action(ch, "rejected", NULL);
				rejected++;
			} else if (!strcmp(dir, "widening")) {
				set_action(ch, "accepted", NULL);
				evolved++;
			} else if (policy == ADE_SCHEMA_HEAL) {
				/* Every value of the narrower type fits the wider one. */
				set_action(ch, "healed", "cast back to the baseline type");
				cast[i] = 1;
				cJSON *h = cJSON_CreateObject();
				cJSON_AddStringToObject(h, "kind", "cast");
				cJSON_AddStringToObject(h, "column", bn);
				cJSON_AddStringToObject(h, "from", ct);
				cJSON_AddStringToObject(h, "to", bt);
				cJSON_AddItemToArray(healing, h);
				healed++;
			} else {
				set_action(ch, "rejected", "narrowing; on_change: heal casts it back");
				rejected++;
			}
		}
		/* Nullability. */
		const cJSON *bnull = cJSON_GetObjectItem(B[i], "nullable");
		int cnull = ade_json_bool(C[j], "nullable", 0);
		if (cJSON_IsBool(bnull) && cJSON_IsTrue(bnull) != cnull) {
			ch = change(changes, "nullability", bn);
			cJSON_AddStringToObject(ch, "from", cJSON_IsTrue(bnull) ? "nullable" : "not_null");
			cJSON_AddStringToObject(ch, "to", cnull ? "nullable" : "not_null");
			if (!cnull) {
				set_action(ch, "info", NULL);
			} else if (ade_json_bool(B[i], "contract", 0)) {
				set_action(ch, "rejected", "the contract says nullable: false");
				rejected++;
			} else {
				set_action(ch, "warned", "nulls in a column that had none");
				warned++;
			}
		}
	}

	/*
	 * 4. Order of the columns both have.  The columns that moved are those
	 * outside a longest run that kept its baseline order (a longest
	 * increasing subsequence), so moving one column reports one column.
	 */
	{
		int *seq = ade_xcalloc((size_t)nc + 1, sizeof(int)), n = 0;
		int *len = ade_xcalloc((size_t)nc + 1, sizeof(int));
		int *prev = ade_xcalloc((size_t)nc + 1, sizeof(int));
		int *keep = ade_xcalloc((size_t)nb + 1, sizeof(int));
		int best = -1;
		for (int j = 0; j < nc; j++)
			if (mc[j] >= 0)
				seq[n++] = mc[j];
		for (int p = 0; p < n; p++) {
			len[p] = 1;
			prev[p] = -1;
			for (int q = 0; q < p; q++)
				if (seq[q] < seq[p] && len[q] + 1 > len[p]) {
					len[p] = len[q] + 1;
					prev[p] = q;
				}
			if (best < 0 || len[p] > len[best])
				best = p;
		}
		for (int p = best; p >= 0; p = prev[p])
			keep[seq[p]] = 1;
		for (int p = 0; p < n; p++) {
			int i = seq[p];
			if (keep[i])
				continue;
			cJSON *ch = change(changes, "reordered", col_name(B[i]));
			cJSON_AddNumberToObject(ch, "from", ade_json_num(B[i], "position", i));
			cJSON_AddNumberToObject(ch, "to", ade_json_num(C[mb[i]], "position", mb[i]));
			if (policy == ADE_SCHEMA_FAIL) {
				set_action(ch, "rejected", NULL);
				rejected++;
			} else {
				set_action(ch, "accepted", "output keeps the baseline order");
				evolved++;
			}
		}
		free(seq);
		free(len);
		free(prev);
		free(keep);
	}

	/* 5. New columns. */
	for (int j = 0; j < nc; j++) {
		if (mc[j] >= 0)
			continue;
		cJSON *ch = change(changes, "added", col_name(C[j]));
		cJSON_AddStringToObject(ch, "to", col_type(C[j]));
		if (policy == ADE_SCHEMA_FAIL) {
			set_action(ch, "rejected", NULL);
			rejected++;
		} else {
			set_action(ch, "accepted", NULL);
			evolved++;
		}
	}

	/* 6. The output: under fail it is the input; otherwise baseline order, then new columns. */
	if (policy == ADE_SCHEMA_FAIL) {
		for (int j = 0; j < nc; j++)
			plan_add(plan, col_name(C[j]), col_name(C[j]), NULL, NULL);
	} else {
		for (int i = 0; i < nb; i++) {
			if (mb[i] >= 0)
				plan_add(plan, col_name(B[i]), col_name(C[mb[i]]),
					 cast[i] ? "cast" : NULL, cast[i] ? col_type(B[i]) : NULL);
			else if (fill[i])
				plan_add(plan, col_name(B[i]), NULL, "null",
					 col_type(B[i]) ? col_type(B[i]) : "string");
		}
		for (int j = 0; j < nc; j++)
			if (!mapped[j])
				plan_add(plan, col_name(C[j]), col_name(C[j]), NULL, NULL);
	}

	cJSON_AddStringToObject(report, "decision",
				rejected ? "failed"
				: healed ? "healed"
				: evolved ? "evolved"
				: warned ? "warned" : "unchanged");
	cJSON_AddNumberToObject(report, "rejected", rejected);
	free(mapped);
	free(fill);
	free(cast);
done:
	for (int i = 0; i < nb; i++) {
		cJSON_Delete(rev[i]);
		cJSON_Delete(best_cand[i]);
	}
	free(rev);
	free(best_cand);
	free(rconf);
	free(no_rename);
	free(renamed);
	free(mb);
	free(mc);
	free(B);
	free(C);
	return report;
}
