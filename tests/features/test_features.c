/*
 * ade-features' store and CSV writer, driven directly:
 *  - shortest round-trip float formatting reads back exactly;
 *  - identical content is stored once (two dates, one snapshot, same
 *    version), a changed value gets a new hash and the next version;
 *  - a rerun of a date replaces its entry, keeping version and hash;
 *  - point-in-time lookup picks the latest date on or before D;
 *  - many processes publishing at once (as a parallel backfill does)
 *    leave a consistent index: every date present, one directory per hash,
 *    versions 1..N without gaps or duplicates, no temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/json.h"
#include "core/util.h"
#include "stages/features/features.h"

#include <dirent.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

/* A two-column frame whose values depend on seed, under dir/name. */
static char *make_frame(const char *dir, const char *name, int seed, struct ade_frame_info *info)
{
	char *path = ade_xasprintf("%s/%s", dir, name);
	struct ade_frame_writer *w;
	struct ade_error err = {0};

	assert_int_equal(ade_frame_writer_open(path, &w, &err), 0);
	assert_int_equal(ade_frame_writer_add(w, "x", ADE_TYPE_FLOAT64, &err), 0);
	assert_int_equal(ade_frame_writer_add(w, "y", ADE_TYPE_FLOAT64, &err), 1);
	for (int i = 0; i < 100; i++) {
		ade_frame_put_f64(w, 0, (double)i / 3.0 + seed);
		if (i == 7)
			ade_frame_put_null(w, 1);
		else
			ade_frame_put_f64(w, 1, 0.1 * i);
	}
	assert_int_equal(ade_frame_writer_finish(w, NULL, info, &err), 0);
	ade_frame_writer_free(w);
	return path;
}

static void test_format_double(void **state)
{
	double vals[] = {0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-300, 5e-324, 1.7976931348623157e308,
			 -0.0, 123456.78, 0.30000000000000004, 100.0, -2.5e-7};
	char b[32];

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		ade_features_format_double(vals[i], b);
		assert_true(strtod(b, NULL) == vals[i]);
	}
	ade_features_format_double(0.1, b);
	assert_string_equal(b, "0.1"); /* shortest, not %.17g's 0.10000000000000001 */
	ade_features_format_double(123456.78, b);
	assert_string_equal(b, "123456.78");
	/* Pseudo-random bit patterns: every finite one must round-trip. */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 200000; i++) {
		double v;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		if (!isfinite(v))
			continue;
		ade_features_format_double(v, b);
		assert_true(strtod(b, NULL) == v);
	}
}

static void test_dedup_versions_and_as_of(void **state)
{
	char *home = tu_mkdtemp();
	struct ade_frame_info a = {0}, b = {0}, a2 = {0};
	struct ade_features_entry e1, e2, e3, e;
	struct ade_error err = {0};
	char *fa = make_frame(home, "a", 1, &a);
	char *fa2 = make_frame(home, "a2", 1, &a2);
	char *fb = make_frame(home, "b", 2, &b);

	assert_string_equal(a.hash, a2.hash);
	assert_string_not_equal(a.hash, b.hash);
	assert_int_equal(ade_features_store_put(home, "p", "2026-01-05", "r1", fa, &a, &e1, &err), 0);
	assert_int_equal(ade_features_store_put(home, "p", "2026-01-02", "r2", fa2, &a2, &e2, &err), 0);
	assert_int_equal(ade_features_store_put(home, "p", "2026-01-09", "r3", fb, &b, &e3, &err), 0);
	assert_int_equal(e1.version, 1);
	assert_int_equal(e2.version, 1);
	assert_string_equal(e1.dir, e2.dir);
	assert_int_equal(e3.version, 2);
	assert_int_equal(e1.rows, 100);
	assert_int_equal(e1.columns, 2);

	/* Stored once: the store holds two snapshot directories. */
	char *store = ade_xasprintf("%s/features/p", home);
	DIR *d = opendir(store);
	int dirs = 0;
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "index.json"))
			dirs++;
	closedir(d);
	assert_int_equal(dirs, 2);

	/* The run's copy shares its files with the store. */
	char *p1 = ade_xasprintf("%s/x.npy", fa2), *p2 = ade_xasprintf("%s/x.npy", e1.dir);
	struct stat s1, s2;
	assert_int_equal(stat(p1, &s1), 0);
	assert_int_equal(stat(p2, &s2), 0);
	assert_true(s1.st_ino == s2.st_ino);

	struct ade_features_entry *all;
	size_t n;
	assert_int_equal(ade_features_list(home, "p", &all, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(all[0].ds, "2026-01-02");
	assert_string_equal(all[1].ds, "2026-01-05");
	assert_string_equal(all[2].ds, "2026-01-09");
	free(all);

	assert_int_equal(ade_features_find(home, "p", "2026-01-01", &e, &err), ADE_ENOTFOUND);
	assert_non_null(strstr(err.msg, "on or before 2026-01-01"));
	assert_int_equal(ade_features_find(home, "p", "2026-01-02", &e, &err), 0);
	assert_string_equal(e.ds, "2026-01-02");
	assert_int_equal(ade_features_find(home, "p", "2026-01-08", &e, &err), 0);
	assert_string_equal(e.ds, "2026-01-05");
	assert_int_equal(ade_features_find(home, "p", "2027-01-01", &e, &err), 0);
	assert_string_equal(e.ds, "2026-01-09");
	assert_int_equal(e.version, 2);
	assert_int_equal(ade_features_find(home, "p", "2026-02-30", &e, &err), ADE_EINVAL);
	assert_int_equal(ade_features_find(home, "nope", "2026-01-01", &e, &err), ADE_ENOTFOUND);
	assert_int_equal(ade_features_find(home, "../p", "2026-01-01", &e, &err), ADE_EINVAL);

	/* A rerun of 2026-01-05 with other data re-points that date only. */
	struct ade_frame_info b2 = {0};
	char *fb2 = make_frame(home, "b2", 2, &b2);
	assert_int_equal(ade_features_store_put(home, "p", "2026-01-05", "r4", fb2, &b2, &e, &err), 0);
	assert_int_equal(e.version, 2);
	assert_int_equal(ade_features_list(home, "p", &all, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(all[1].version, 2);
	assert_int_equal(all[0].version, 1);
	free(all);

	/* CSV: header, null as an empty field, shortest floats. */
	char *csvp = ade_xasprintf("%s/out.csv", home);
	FILE *f = fopen(csvp, "w");
	assert_int_equal(ade_features_write_csv(e1.dir, f, &err), 0);
	fclose(f);
	char *text = tu_read(csvp);
	assert_true(!strncmp(text, "x,y\n1,0\n1.3333333333333333,0.1\n", 31));
	assert_non_null(strstr(text, "\n3.3333333333333335,\n"));
	free(text);

	cJSON_Delete(a.schema);
	cJSON_Delete(a2.schema);
	cJSON_Delete(b.schema);
	cJSON_Delete(b2.schema);
	free(csvp);
	free(p1);
	free(p2);
	free(store);
	free(fa);
	free(fa2);
	free(fb);
	free(fb2);
	tu_rmdir(home);
}

#define NPROC 8
#define NDATES 6

/* Each child publishes NDATES dates; data repeats every 3 seeds. */
static void test_concurrent_publishers(void **state)
{
	char *home = tu_mkdtemp();
	pid_t pids[NPROC];

	(void)state;
	for (int p = 0; p < NPROC; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			int bad = 0;
			for (int k = 0; k < NDATES; k++) {
				struct ade_frame_info info = {0};
				struct ade_features_entry e;
				struct ade_error err = {0};
				char name[32], ds[16];
				int date = p * NDATES + k;
				snprintf(name, sizeof(name), "f%d", date);
				snprintf(ds, sizeof(ds), "2026-%02d-%02d", 1 + date / 28, 1 + date % 28);
				char *fr = make_frame(home, name, date % 3, &info);
				if (ade_features_store_put(home, "c", ds, name, fr, &info, &e, &err)) {
					fprintf(stderr, "%s\n", err.msg);
					bad = 1;
				}
				cJSON_Delete(info.schema);
				free(fr);
			}
			_exit(bad);
		}
	}
	for (int p = 0; p < NPROC; p++) {
		int st;
		assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	struct ade_features_entry *all;
	struct ade_error err = {0};
	size_t n;
	int seen[4] = {0};
	char hashes[4][64] = {{0}};
	assert_int_equal(ade_features_list(home, "c", &all, &n, &err), 0);
	assert_int_equal(n, NPROC * NDATES);
	for (size_t i = 0; i < n; i++) {
		assert_true(all[i].version >= 1 && all[i].version <= 3);
		if (!seen[all[i].version])
			snprintf(hashes[all[i].version], 64, "%s", all[i].hash);
		seen[all[i].version] = 1;
		/* One hash per version, and every snapshot opens. */
		assert_string_equal(hashes[all[i].version], all[i].hash);
		struct ade_frame *f;
		assert_int_equal(ade_frame_open(all[i].dir, &f, &err), 0);
		assert_string_equal(ade_json_str(f->schema, "content_hash", ""), all[i].hash);
		ade_frame_close(f);
		if (i)
			assert_true(strcmp(all[i - 1].ds, all[i].ds) < 0);
	}
	assert_true(seen[1] && seen[2] && seen[3]);
	free(all);

	char *store = ade_xasprintf("%s/features/c", home);
	DIR *d = opendir(store);
	struct dirent *de;
	int dirs = 0;
	while ((de = readdir(d))) {
		assert_null(strstr(de->d_name, ".incoming"));
		if (de->d_name[0] != '.' && strcmp(de->d_name, "index.json"))
			dirs++;
	}
	closedir(d);
	assert_int_equal(dirs, 3);
	free(store);
	tu_rmdir(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_double),
		cmocka_unit_test(test_dedup_versions_and_as_of),
		cmocka_unit_test(test_concurrent_publishers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
