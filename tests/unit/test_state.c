/* Unit tests for scheduler/state.c: state.db runs, stages and attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/util.h"
#include "scheduler/state.h"
#include "testutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char *dir;
	char *home;
	struct ade_state st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ade_error err = {0};

	f->dir = tu_mkdtemp();
	/* A home that does not exist yet: open creates it. */
	f->home = ade_xasprintf("%s/home/nested", f->dir);
	if (ade_state_open(&f->st, f->home, &err))
		fail_msg("open: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ade_state_close(&f->st);
	free(f->home);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static int table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s = NULL;
	int found;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

static char *query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		out = ade_xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static void create_run(struct fixture *f, const char *pipeline, const char *ds,
		       struct ade_run_row *r)
{
	struct ade_error err = {0};

	if (ade_state_run_create(&f->st, pipeline, ds, "/p/x.yaml", "abc123", f->home, r, &err))
		fail_msg("run_create: %s", err.msg);
}

static void test_open_creates_tables(void **state)
{
	struct fixture *f = *state;
	char *path = ade_xasprintf("%s/state.db", f->home);
	struct ade_error err = {0};

	assert_true(ade_fs_exists(path));
	assert_string_equal(f->st.path, path);
	assert_true(table_exists(f->st.db, "meta"));
	assert_true(table_exists(f->st.db, "runs"));
	assert_true(table_exists(f->st.db, "stages"));
	assert_true(table_exists(f->st.db, "attempts"));
	char *v = query_text(f->st.db, "SELECT value FROM meta WHERE key='schema_version'");
	assert_string_equal(v, "2");
	free(v);
	char *mode = query_text(f->st.db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	/* Opening again keeps the data. */
	struct ade_run_row r;
	create_run(f, "p", "2026-01-01", &r);
	ade_state_close(&f->st);
	assert_null(f->st.db);
	assert_int_equal(ade_state_open(&f->st, f->home, &err), 0);
	struct ade_run_row r2;
	assert_int_equal(ade_state_run_find(&f->st, r.run_id, &r2, &err), 0);
	assert_string_equal(r2.run_id, r.run_id);
	ade_run_row_release(&r2);
	ade_run_row_release(&r);
	free(path);
}

static void test_run_numbers(void **state)
{
	struct fixture *f = *state;
	struct ade_run_row a, b, c, d;

	create_run(f, "p", "2026-01-01", &a);
	create_run(f, "p", "2026-01-01", &b);
	create_run(f, "p", "2026-01-02", &c);
	create_run(f, "q", "2026-01-01", &d);
	assert_int_equal(a.run_number, 1);
	assert_int_equal(b.run_number, 2);
	assert_int_equal(c.run_number, 1);
	assert_int_equal(d.run_number, 1);
	assert_string_not_equal(a.run_id, b.run_id);
	assert_int_equal(strlen(a.run_id), 36);
	assert_string_equal(a.pipeline, "p");
	assert_string_equal(a.ds, "2026-01-01");
	assert_string_equal(a.state, "running");
	assert_non_null(a.started_at);
	assert_null(a.ended_at);
	assert_int_equal(a.owner_pid, getpid());
	assert_true(a.owner_start > 0);
	assert_int_equal(a.owner_start, ade_proc_start_time(getpid()));
	assert_string_equal(a.pipeline_path, "/p/x.yaml");
	assert_string_equal(a.pipeline_hash, "abc123");
	char *dir = ade_xasprintf("%s/runs/p/2026-01-01/run-2", f->home);
	assert_string_equal(b.dir, dir);
	free(dir);
	ade_run_row_release(&a);
	assert_null(a.run_id);
	ade_run_row_release(&b);
	ade_run_row_release(&c);
	ade_run_row_release(&d);
}

static void test_run_find(void **state)
{
	struct fixture *f = *state;
	struct ade_run_row a, b, c, r;
	struct ade_error err = {0};
	char prefix[37];
	size_t n = 0;

	create_run(f, "p", "2026-01-01", &a);
	create_run(f, "p", "2026-01-01", &b);
	create_run(f, "other", "2026-01-01", &c);

	/* By full id, in either case. */
	assert_int_equal(ade_state_run_find(&f->st, b.run_id, &r, &err), 0);
	assert_string_equal(r.run_id, b.run_id);
	assert_int_equal(r.run_number, 2);
	ade_run_row_release(&r);

	/* By a unique prefix: the shortest one that tells a from the rest. */
	while (n < 36 && (!strncmp(a.run_id, b.run_id, n) || !strncmp(a.run_id, c.run_id, n)))
		n++;
	assert_true(n < 36);
	memcpy(prefix, a.run_id, n);
	prefix[n] = '\0';
	assert_int_equal(ade_state_run_find(&f->st, prefix, &r, &err), 0);
	assert_string_equal(r.run_id, a.run_id);
	ade_run_row_release(&r);

	/* An ambiguous prefix (shared by a and b) is refused. */
	n = 0;
	while (a.run_id[n] == b.run_id[n])
		n++;
	if (n > 0) {
		memcpy(prefix, a.run_id, n);
		prefix[n] = '\0';
		assert_int_equal(ade_state_run_find(&f->st, prefix, &r, &err), ADE_EINVAL);
		char *want = ade_xasprintf("run id prefix '%s' is ambiguous", prefix);
		assert_string_equal(err.msg, want);
		free(want);
		assert_null(r.run_id);
	}

	/* As pipeline/ds/N and pipeline/ds (the newest). */
	assert_int_equal(ade_state_run_find(&f->st, "p/2026-01-01/1", &r, &err), 0);
	assert_string_equal(r.run_id, a.run_id);
	ade_run_row_release(&r);
	assert_int_equal(ade_state_run_find(&f->st, "p/2026-01-01/2", &r, &err), 0);
	assert_string_equal(r.run_id, b.run_id);
	ade_run_row_release(&r);
	assert_int_equal(ade_state_run_find(&f->st, "p/2026-01-01", &r, &err), 0);
	assert_string_equal(r.run_id, b.run_id);
	ade_run_row_release(&r);
	assert_int_equal(ade_state_run_find(&f->st, "other/2026-01-01/1", &r, &err), 0);
	assert_string_equal(r.run_id, c.run_id);
	ade_run_row_release(&r);

	/* Not found. */
	static const char *missing[] = {
		"p/2026-01-01/3", "p/2026-01-02/1", "p/2026-01-01/x", "nope/2026-01-01",
		"ffffffff",       "not-an-id",      "",               "%",
		"_",              "________-____-____-____-____________",
	};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		int rc = ade_state_run_find(&f->st, missing[i], &r, &err);
		if (rc != ADE_ENOTFOUND)
			fail_msg("'%s': rc %d (%s)", missing[i], rc, rc ? err.msg : r.run_id);
		char *want = ade_xasprintf(
			"no run '%s' (give a run id, an id prefix, or pipeline/ds[/N])", missing[i]);
		assert_string_equal(err.msg, want);
		free(want);
	}

	/* latest and unfinished. */
	assert_int_equal(ade_state_run_latest(&f->st, "p", "2026-01-01", &r, &err), 0);
	assert_string_equal(r.run_id, b.run_id);
	ade_run_row_release(&r);
	assert_int_equal(ade_state_run_set_state(&f->st, b.run_id, "failed", 1, &err), 0);
	assert_int_equal(ade_state_run_unfinished(&f->st, "p", "2026-01-01", &r, &err), 0);
	assert_string_equal(r.run_id, a.run_id);
	ade_run_row_release(&r);
	assert_int_equal(ade_state_run_set_state(&f->st, a.run_id, "success", 1, &err), 0);
	assert_int_equal(ade_state_run_unfinished(&f->st, "p", "2026-01-01", &r, &err),
			 ADE_ENOTFOUND);
	assert_int_equal(ade_state_run_find(&f->st, a.run_id, &r, &err), 0);
	assert_string_equal(r.state, "success");
	assert_non_null(r.ended_at);
	ade_run_row_release(&r);
	/* Claiming a run (resume) makes it running again and clears nothing else. */
	assert_int_equal(ade_state_run_claim(&f->st, b.run_id, &err), 0);
	assert_int_equal(ade_state_run_find(&f->st, b.run_id, &r, &err), 0);
	assert_string_equal(r.state, "running");
	assert_int_equal(r.owner_pid, getpid());
	ade_run_row_release(&r);

	ade_run_row_release(&a);
	ade_run_row_release(&b);
	ade_run_row_release(&c);
}

static void test_stage_state(void **state)
{
	struct fixture *f = *state;
	struct ade_run_row r;
	struct ade_error err = {0};
	int attempts = -1;
	char *s;

	create_run(f, "p", "2026-01-01", &r);
	assert_null(ade_state_stage_get(&f->st, r.run_id, "ingest", &attempts));
	assert_int_equal(attempts, -1);
	assert_int_equal(ade_state_stage_set(&f->st, r.run_id, "ingest", "running", 1, "first", 0, &err),
			 0);
	s = ade_state_stage_get(&f->st, r.run_id, "ingest", &attempts);
	assert_string_equal(s, "running");
	assert_int_equal(attempts, 1);
	free(s);
	/* An update replaces state and attempts and keeps the note when none is given. */
	assert_int_equal(ade_state_stage_set(&f->st, r.run_id, "ingest", "success", 2, NULL,
					     (int64_t)1767616496 * 1000000 + 789000, &err), 0);
	s = ade_state_stage_get(&f->st, r.run_id, "ingest", &attempts);
	assert_string_equal(s, "success");
	assert_int_equal(attempts, 2);
	free(s);
	char *note = query_text(f->st.db, "SELECT note FROM stages WHERE stage='ingest'");
	assert_string_equal(note, "first");
	free(note);
	/* The time given is the one recorded: changes are written after they happen. */
	char *at = query_text(f->st.db, "SELECT updated_at FROM stages WHERE stage='ingest'");
	assert_string_equal(at, "2026-01-05T12:34:56.789Z");
	free(at);
	/* Stages are per run. */
	assert_null(ade_state_stage_get(&f->st, "other-run", "ingest", NULL));
	s = ade_state_stage_get(&f->st, r.run_id, "ingest", NULL);
	assert_string_equal(s, "success");
	free(s);
	/* A stage of a run that does not exist is refused (foreign key). */
	assert_int_equal(ade_state_stage_set(&f->st, "no-such-run", "x", "running", 1, NULL, 0, &err),
			 ADE_EDB);
	ade_run_row_release(&r);
}

static void test_attempts(void **state)
{
	struct fixture *f = *state;
	struct ade_run_row r;
	struct ade_error err = {0};
	struct ade_attempt_row a;

	create_run(f, "p", "2026-01-01", &r);
	assert_int_equal(ade_state_attempt_running(&f->st, r.run_id, "train", &a), ADE_ENOTFOUND);
	assert_null(a.state);
	assert_int_equal(ade_state_attempt_start(&f->st, r.run_id, "train", 1, 4242, 99,
						 (int64_t)1767616496 * 1000000, "/l/1.log", &err),
			 0);
	assert_int_equal(ade_state_attempt_running(&f->st, r.run_id, "train", &a), 0);
	assert_int_equal(a.attempt, 1);
	assert_int_equal(a.pid, 4242);
	assert_int_equal(a.pid_start, 99);
	assert_string_equal(a.state, "running");
	assert_string_equal(a.log_path, "/l/1.log");
	ade_attempt_row_release(&a);
	assert_null(a.log_path);

	struct ade_attempt_end e1 = {.state = "up_for_retry", .wall_ms = 12.5, .user_ms = 3,
				     .sys_ms = 1, .maxrss_kb = 2048, .exit_code = 75, .signal = 0,
				     .reason = "exit", .ended_us = (int64_t)1767616497 * 1000000};
	assert_int_equal(ade_state_attempt_end(&f->st, r.run_id, "train", 1, &e1, &err), 0);
	assert_int_equal(ade_state_attempt_running(&f->st, r.run_id, "train", &a), ADE_ENOTFOUND);

	assert_int_equal(ade_state_attempt_start(&f->st, r.run_id, "train", 2, 4243, 100, 0, "/l/2.log",
						 &err),
			 0);
	assert_int_equal(ade_state_attempt_running(&f->st, r.run_id, "train", &a), 0);
	assert_int_equal(a.attempt, 2);
	ade_attempt_row_release(&a);
	struct ade_attempt_end e2 = {.state = "failed", .wall_ms = 1, .exit_code = -1,
				     .signal = 9, .reason = "timeout"};
	assert_int_equal(ade_state_attempt_end(&f->st, r.run_id, "train", 2, &e2, &err), 0);

	char *v = query_text(f->st.db, "SELECT state || ',' || exit_code || ',' || maxrss_kb || ','"
				       " || wall_ms || ',' || reason || ',' || (ended_at IS NOT NULL)"
				       " FROM attempts WHERE attempt=1");
	assert_string_equal(v, "up_for_retry,75,2048,12.5,exit,1");
	free(v);
	v = query_text(f->st.db, "SELECT started_at || ' ' || ended_at FROM attempts WHERE attempt=1");
	assert_string_equal(v, "2026-01-05T12:34:56.000Z 2026-01-05T12:34:57.000Z");
	free(v);
	v = query_text(f->st.db, "SELECT state || ',' || coalesce(exit_code, 'null') || ',' ||"
				 " signal || ',' || reason FROM attempts WHERE attempt=2");
	assert_string_equal(v, "failed,null,9,timeout");
	free(v);
	v = query_text(f->st.db, "SELECT count(*) FROM attempts");
	assert_string_equal(v, "2");
	free(v);

	/* Start and end written as one row: the same row as the two calls leave. */
	assert_int_equal(ade_state_attempt_record(&f->st, r.run_id, "load", 1, 4242, 99,
						  (int64_t)1767616496 * 1000000, "/l/1.log", &e1,
						  &err),
			 0);
	const char *cols = "state, pid, pid_start, started_at, ended_at, wall_ms, user_ms, sys_ms, "
			   "maxrss_kb, exit_code, signal, reason, log_path";
	char *q1 = ade_xasprintf("SELECT %s FROM attempts WHERE stage='train' AND attempt=1", cols);
	char *q2 = ade_xasprintf("SELECT %s FROM attempts WHERE stage='load' AND attempt=1", cols);
	char *sq = ade_xasprintf("SELECT count(*) FROM (%s EXCEPT %s)", q1, q2);
	v = query_text(f->st.db, sq);
	assert_string_equal(v, "0");
	free(v);
	free(sq);
	free(q1);
	free(q2);
	ade_run_row_release(&r);
}

/*
 * A child's start time, taken from the clock just before it is forked,
 * matches what /proc says of it; another process's (pid 1) does not.
 */
static void test_proc_ticks(void **state)
{
	(void)state;
	for (int k = 0; k < 20; k++) {
		int64_t before = ade_proc_ticks_now();
		pid_t pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		assert_true(pid > 0);
		int64_t actual = ade_proc_start_time(pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		assert_true(actual > 0);
		assert_true(ade_proc_same_start(before, actual));
		assert_false(ade_proc_same_start(before, actual + 3));
		assert_false(ade_proc_same_start(before, actual - 1 - (actual - before)));
	}
	assert_false(ade_proc_same_start(ade_proc_ticks_now(), ade_proc_start_time(1)));
}

/* A version-1 file (no runs.reason) is migrated in place when opened. */
static void test_migrates_v1(void **state)
{
	struct fixture *f = *state;
	struct ade_error err = {0};
	struct ade_state st2;

	assert_int_equal(ade_state_exec(&f->st, "ALTER TABLE runs DROP COLUMN reason", &err), 0);
	assert_int_equal(ade_state_exec(&f->st, "UPDATE meta SET value='1' WHERE key='schema_version'",
					&err),
			 0);
	ade_state_close(&f->st);
	assert_int_equal(ade_state_open(&st2, f->home, &err), 0);
	char *v = query_text(st2.db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name='reason'");
	assert_string_equal(v, "1");
	free(v);
	v = query_text(st2.db, "SELECT value FROM meta WHERE key='schema_version'");
	assert_string_equal(v, "2");
	free(v);
	f->st = st2;
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct ade_error err = {0};
	struct ade_state st2;

	assert_int_equal(ade_state_exec(&f->st, "UPDATE meta SET value='3' WHERE key='schema_version'",
					&err),
			 0);
	ade_state_close(&f->st);
	assert_int_equal(ade_state_open(&st2, f->home, &err), ADE_EDB);
	assert_null(st2.db);
	assert_null(st2.path);
	char *want = ade_xasprintf("%s/state.db was written by a newer ade (schema 3, this ade knows 2)",
				   f->home);
	assert_string_equal(err.msg, want);
	free(want);
	/* The refusal did not downgrade the file. */
	sqlite3 *db = NULL;
	char *path = ade_xasprintf("%s/state.db", f->home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *v = query_text(db, "SELECT value FROM meta WHERE key='schema_version'");
	assert_string_equal(v, "3");
	free(v);
	sqlite3_close(db);
	free(path);
	/* teardown closes f->st again: that must be harmless. */
}

static void test_open_refusals(void **state)
{
	struct fixture *f = *state;
	struct ade_error err = {0};
	struct ade_state st2;
	char *file = tu_write(f->dir, "plainfile", "x");

	/* A home that is a file. */
	assert_int_not_equal(ade_state_open(&st2, file, &err), 0);
	assert_null(st2.db);
	/* A state.db that is not a database. */
	char *home = ade_xasprintf("%s/badhome", f->dir);
	assert_int_equal(ade_fs_mkdirs(home, NULL), 0);
	free(tu_write(home, "state.db", "this is not sqlite, just text that is long enough......"));
	assert_int_equal(ade_state_open(&st2, home, &err), ADE_EDB);
	assert_null(st2.db);
	free(home);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_v1, setup, teardown),
		cmocka_unit_test(test_proc_ticks),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
