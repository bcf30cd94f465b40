/*
 * The warehouse: one SQLite file (ADE_HOME/warehouse.db) in WAL mode that
 * ade-warehouse loads and `ade kpis|sql|warehouse` read.  The DDL and its
 * migrations are warehouse/schema.sql, compiled into the library; the
 * tables and the load semantics are described in docs/warehouse.md.
 *
 * Every function returns 0 or a negative ADE_E* code with a message in
 * err.  ADE_EBUSY means the warehouse stayed locked for the whole busy
 * timeout (ade-warehouse exits 75 on it: worth a retry).
 */
#ifndef ADE_WAREHOUSE_H
#define ADE_WAREHOUSE_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>

struct ade_error;
struct ade_strbuf;

/* The version PRAGMA user_version holds after ade_warehouse_open(). */
#define ADE_WAREHOUSE_SCHEMA_VERSION 3
/* How long a writer waits for another one, in milliseconds. */
#define ADE_WAREHOUSE_BUSY_MS 60000

/*
 * Process-wide SQLite settings for a process with one connection used by
 * one thread (ade-warehouse): no mutexes and no memory statistics, which
 * cost about a fifth of a bulk load (reference/performance.md, section
 * 4).  Call before any other SQLite use; later calls do nothing.
 */
void ade_warehouse_config_single_thread(void);

/* schema.sql as compiled in (static storage). */
const char *ade_warehouse_schema_sql(void);

/*
 * Opens (creating when absent) the warehouse at path for writing: WAL,
 * synchronous=NORMAL, busy timeout, foreign keys off, then migrates it to
 * ADE_WAREHOUSE_SCHEMA_VERSION.  A file newer than this code is refused.
 * *db is the caller's, closed with sqlite3_close.
 */
int ade_warehouse_open(const char *path, sqlite3 **db, struct ade_error *err);

/*
 * Opens an existing warehouse read-only (SQLITE_OPEN_READONLY, query_only,
 * no ATTACH).  ADE_ENOTFOUND when the file does not exist.
 */
int ade_warehouse_open_readonly(const char *path, sqlite3 **db, struct ade_error *err);

/*
 * Applies the migrations from the database's user_version up to version
 * (<= ADE_WAREHOUSE_SCHEMA_VERSION) in one BEGIN IMMEDIATE transaction.
 * ade_warehouse_open calls it with the current version; tests call it with
 * older ones to build an old warehouse.
 */
int ade_warehouse_migrate(sqlite3 *db, int version, struct ade_error *err);

/* PRAGMA user_version, or a negative code. */
int ade_warehouse_version(sqlite3 *db);

/*
 * Checks a name that comes from data or configuration before it is used
 * as an identifier: 1..256 bytes, valid UTF-8, no control characters.
 * Quoting makes any such name safe; the check keeps names a user can
 * type back in `ade sql`.
 */
int ade_warehouse_ident_check(const char *what, const char *name, struct ade_error *err);

/* Appends name as an SQL identifier: in double quotes, quotes doubled. */
void ade_warehouse_quote(struct ade_strbuf *sb, const char *name);

/*
 * The name that reaches table's rowid in SQL: "rowid", or "_rowid_" or
 * "oid" when a column of that name hides the one before (facts columns
 * come from data), NULL when columns hide all three or table is missing.
 * Facts loads record and delete rowid ranges through it.  Static storage.
 */
const char *ade_warehouse_rowid_name(sqlite3 *db, const char *table);

/* ---- loading ---- */

/* One upstream stage output: a directory with result.json (and frames). */
struct ade_warehouse_input {
	const char *stage; /* the upstream stage's name */
	const char *dir;
};

struct ade_warehouse_load {
	const char *pipeline;
	const char *ds;     /* YYYY-MM-DD */
	const char *batch;  /* NULL or "" in batch mode */
	const char *run_id; /* may be NULL */
	/* The facts: a frame loaded into table `table` (both NULL: none). */
	const char *table;
	const char *facts_dir;   /* the frame directory */
	const char *facts_stage; /* recorded in loads.stage */
	/* Extra indexes on the facts table, built after the first bulk load:
	 * each a cJSON array of column names (may be NULL). */
	const cJSON *indexes;
	/* The upstream outputs whose result.json are loaded. */
	const struct ade_warehouse_input *inputs;
	int n_inputs;
	/* Rows per INSERT statement (0: the default, 64). */
	int rows_per_insert;
};

/*
 * Loads everything of (pipeline, ds[, batch]) in one BEGIN IMMEDIATE
 * transaction on db (from ade_warehouse_open): deletes that partition in
 * every table the warehouse owns and, in the facts tables, the rowid
 * ranges its earlier loads recorded in loads, then inserts.
 * A batch-mode load replaces the whole date, micro-batches included; a
 * batch load replaces only its batch.  report (may be NULL) receives
 * "tables" {name: rows}, "notes" [...] and "facts" {...}.  On error the
 * transaction is rolled back and the warehouse is as it was.
 */
int ade_warehouse_load(sqlite3 *db, const struct ade_warehouse_load *ld, cJSON *report,
		       struct ade_error *err);

#endif
