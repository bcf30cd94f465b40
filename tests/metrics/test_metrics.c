/*
 * The metrics renderer on hand-made databases: which run is "last", the
 * stage figures of its last attempts, KPIs of the newest date only,
 * escaping of label values, NaN, and families left out when a database is
 * absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/util.h"
#include "metrics/metrics.h"

#include <sqlite3.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static sqlite3 *mem(const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static const char *state_sql =
	"CREATE TABLE runs(run_id TEXT PRIMARY KEY, pipeline TEXT, ds TEXT, run_number INTEGER,"
	" state TEXT, started_at TEXT, ended_at TEXT, reason TEXT);"
	"CREATE TABLE stages(run_id TEXT, stage TEXT, state TEXT, attempts INTEGER, note TEXT,"
	" updated_at TEXT);"
	"CREATE TABLE attempts(run_id TEXT, stage TEXT, attempt INTEGER, state TEXT, wall_ms REAL,"
	" user_ms REAL, sys_ms REAL, maxrss_kb INTEGER);"
	/* p: the newest date ran first (a reverse backfill); r2 ended last. */
	"INSERT INTO runs VALUES('r1','p','2026-01-02',1,'success','2026-03-01T00:00:00.000Z',"
	" '2026-03-01T00:00:10.000Z',NULL);"
	"INSERT INTO runs VALUES('r2','p','2026-01-01',1,'failed','2026-03-01T00:01:00.000Z',"
	" '2026-03-01T00:01:30.500Z',NULL);"
	"INSERT INTO runs VALUES('r3','p','2026-01-03',1,'running','2026-03-01T00:02:00.000Z',"
	" NULL,NULL);"
	"INSERT INTO stages VALUES('r2','a','success',1,NULL,NULL);"
	"INSERT INTO stages VALUES('r2','b','failed',2,NULL,NULL);"
	"INSERT INTO attempts VALUES('r2','a',1,'success',1500,200,50,2048);"
	"INSERT INTO attempts VALUES('r2','b',1,'up_for_retry',100,1,1,1000);"
	"INSERT INTO attempts VALUES('r2','b',2,'failed',250,10,15,4096);";

static void test_state_families(void **state)
{
	sqlite3 *db = mem(state_sql);
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_metrics_render_db(db, NULL, &sb, &err), 0);
	const char *want[] = {
		"# TYPE ade_pipeline_last_run_success gauge\n",
		"ade_pipeline_last_run_success{pipeline=\"p\"} 0\n",
		"ade_pipeline_last_run_state{pipeline=\"p\",state=\"failed\"} 1\n",
		"ade_pipeline_last_run_duration_seconds{pipeline=\"p\"} 30.5",
		"ade_pipeline_last_run_date_timestamp_seconds{pipeline=\"p\"} 1767225600\n",
		"ade_pipeline_last_success_timestamp_seconds{pipeline=\"p\"} 1772323210\n",
		"ade_pipeline_runs_active{pipeline=\"p\"} 1\n",
		"ade_pipeline_runs{pipeline=\"p\",state=\"running\"} 1\n",
		"ade_stage_duration_seconds{pipeline=\"p\",stage=\"a\"} 1.5\n",
		"ade_stage_duration_seconds{pipeline=\"p\",stage=\"b\"} 0.25\n",
		"ade_stage_cpu_seconds{pipeline=\"p\",stage=\"b\"} 0.025\n",
		"ade_stage_peak_rss_bytes{pipeline=\"p\",stage=\"b\"} 4194304\n",
		"ade_stage_attempts{pipeline=\"p\",stage=\"b\"} 2\n",
		"ade_stage_success{pipeline=\"p\",stage=\"a\"} 1\n",
		"ade_stage_success{pipeline=\"p\",stage=\"b\"} 0\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(sb.buf, want[i]))
			fail_msg("missing '%s' in:\n%s", want[i], sb.buf);
	assert_null(strstr(sb.buf, "ade_kpi"));
	ade_strbuf_release(&sb);
	sqlite3_close(db);
}

static void test_kpis_newest_date_escaped(void **state)
{
	sqlite3 *wh = mem(
		"CREATE TABLE kpi_history(pipeline TEXT, ds TEXT, batch TEXT, kpi TEXT, value REAL,"
		" run_id TEXT);"
		"INSERT INTO kpi_history VALUES('p','2026-01-01','','rows',10,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-02','','rows',20,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-02','','a\"b\\c' || char(10) || 'd',0.5,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-02','','nan',NULL,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-05','7','rows',99,NULL);");
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_metrics_render_db(NULL, wh, &sb, &err), 0);
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"rows\"} 20\n"));
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"a\\\"b\\\\c\\nd\"} 0.5\n"));
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"nan\"} NaN\n"));
	/* A micro-batch (batch '7') of a later date is not the day's KPI. */
	assert_non_null(strstr(sb.buf, "ade_kpi_date_timestamp_seconds{pipeline=\"p\"} 1767312000\n"));
	assert_null(strstr(sb.buf, " 99\n"));
	assert_null(strstr(sb.buf, "ade_pipeline_"));
	ade_strbuf_release(&sb);
	sqlite3_close(wh);
}

/* Values beyond long long's range print as doubles, with no (undefined) conversion. */
static void test_huge_values(void **state)
{
	sqlite3 *wh = mem(
		"CREATE TABLE kpi_history(pipeline TEXT, ds TEXT, batch TEXT, kpi TEXT, value REAL,"
		" run_id TEXT);"
		"INSERT INTO kpi_history VALUES('p','2026-01-01','','big',1e20,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-01','','neg',-9.3e18,NULL);"
		"INSERT INTO kpi_history VALUES('p','2026-01-01','','int',123456789012345,NULL);");
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_metrics_render_db(NULL, wh, &sb, &err), 0);
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"big\"} 1e+20\n"));
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"neg\"} -9.3e+18\n"));
	assert_non_null(strstr(sb.buf, "ade_kpi{pipeline=\"p\",kpi=\"int\"} 123456789012345\n"));
	ade_strbuf_release(&sb);
	sqlite3_close(wh);
}

/* A file that is not a database is an error (ADE_EDB), not an empty exposition. */
static void test_corrupt_is_error(void **state)
{
	char path[] = "/tmp/ade-metrics-XXXXXX";
	int fd = mkstemp(path);
	sqlite3 *db = NULL;
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	struct ade_error err = {0};

	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(write(fd, "not a database\n", 15), 15);
	close(fd);
	assert_int_equal(ade_metrics_open_readonly(path, &db, &err), 0);
	assert_int_equal(ade_metrics_render_db(NULL, db, &sb, &err), ADE_EDB);
	assert_non_null(strstr(err.msg, "not a database"));
	assert_int_equal(sb.len, 0);
	/* The read transaction was ended: the connection is reusable. */
	assert_true(sqlite3_get_autocommit(db));
	sqlite3_close(db);
	unlink(path);
	ade_strbuf_release(&sb);
}

static void test_empty(void **state)
{
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_metrics_render_db(NULL, NULL, &sb, &err), 0);
	assert_int_equal(sb.len, 0);
	ade_strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_families),
		cmocka_unit_test(test_kpis_newest_date_escaped),
		cmocka_unit_test(test_huge_values),
		cmocka_unit_test(test_corrupt_is_error),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
