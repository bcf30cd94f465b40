/* Opening, migrating and naming things in the warehouse. */
#include "warehouse.h"
#include "internal.h"
#include "schema_sql.h" /* generated from schema.sql by CMake */
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *ade_warehouse_schema_sql(void)
{
	return ade_schema_sql;
}

void ade_warehouse_config_single_thread(void)
{
	/* Both fail harmlessly (SQLITE_MISUSE) once SQLite is initialised. */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int db_error(sqlite3 *db, struct ade_error *err, const char *what)
{
	int code = sqlite3_errcode(db);

	return ade_error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ADE_EBUSY : ADE_EDB,
			     "warehouse: %s: %s", what, sqlite3_errmsg(db));
}

int ade_warehouse_version(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int v = ADE_EDB;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * The text of migration `version`: the lines after "-- version N" up to
 * the next such line.  Returns a new string or NULL when absent.
 */
static char *migration_text(int version)
{
	const char *p = ade_schema_sql, *start = NULL;
	char mark[32];
	int n = snprintf(mark, sizeof(mark), "-- version %d\n", version);

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);

		if (!start && len == (size_t)n && !memcmp(p, mark, (size_t)n)) {
			start = p + len;
		} else if (start && !strncmp(p, "-- version ", 11)) {
			return ade_xstrndup(start, (size_t)(p - start));
		}
		p += len;
	}
	return start ? ade_xstrdup(start) : NULL;
}

int ade_warehouse_migrate(sqlite3 *db, int version, struct ade_error *err)
{
	int v = ade_warehouse_version(db);
	char *errmsg = NULL;

	if (v < 0)
		return db_error(db, err, "reading the schema version");
	if (v > ADE_WAREHOUSE_SCHEMA_VERSION)
		return ade_error_set(err, ADE_EDB,
				     "warehouse schema version %d is newer than this ade knows (%d); "
				     "upgrade ade",
				     v, ADE_WAREHOUSE_SCHEMA_VERSION);
	if (v >= version)
		return 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, err, "starting the migration");
	/* Another process may have migrated while this one waited. */
	v = ade_warehouse_version(db);
	for (int m = v + 1; m <= version; m++) {
		char *sql = migration_text(m);

		if (!sql) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return ade_error_set(err, ADE_EDB, "warehouse: schema.sql has no version %d", m);
		}
		int rc = sqlite3_exec(db, sql, NULL, NULL, &errmsg);
		free(sql);
		/* Version 3 also needs data only C can reach: dynamic table names. */
		if (rc == SQLITE_OK && m == 3) {
			int mrc = ade_warehouse_migrate_ranges(db, err);
			if (mrc) {
				ade_error_prefix(err, "warehouse: migration to version 3");
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
				return mrc;
			}
		}
		if (rc != SQLITE_OK) {
			ade_error_set(err, ADE_EDB, "warehouse: migration to version %d: %s", m,
				      errmsg ? errmsg : sqlite3_errmsg(db));
			sqlite3_free(errmsg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return ADE_EDB;
		}
	}
	/* The version is a compile-time integer, not data. */
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", version > v ? version : v);
	if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = db_error(db, err, "committing the migration");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

/*
 * Switching a new file to WAL needs an exclusive lock, and SQLite may
 * return SQLITE_BUSY for it without calling the busy handler, so two
 * backfill processes creating the warehouse at once retry here.
 */
static int set_wal(sqlite3 *db, struct ade_error *err)
{
	int64_t deadline = ade_now_mono_ns() + (int64_t)ADE_WAREHOUSE_BUSY_MS * 1000000;

	for (;;) {
		sqlite3_stmt *s = NULL;
		int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const char *m = (const char *)sqlite3_column_text(s, 0);
			int wal = m && !strcmp(m, "wal");
			sqlite3_finalize(s);
			if (!wal)
				return ade_error_set(err, ADE_EDB,
						     "warehouse: cannot switch to WAL mode");
			return 0;
		}
		sqlite3_finalize(s);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || ade_now_mono_ns() > deadline)
			return db_error(db, err, "PRAGMA journal_mode=WAL");
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
}

int ade_warehouse_open(const char *path, sqlite3 **out, struct ade_error *err)
{
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "warehouse '%s': %s", path,
				   db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, ADE_WAREHOUSE_BUSY_MS);
	sqlite3_extended_result_codes(db, 0);
	/*
	 * 64 KiB pages make bulk inserts about 20% faster
	 * (reference/performance.md, section 4); only a new, empty file takes
	 * the setting, so it must precede the switch to WAL.
	 */
	sqlite3_exec(db, "PRAGMA page_size=65536", NULL, NULL, NULL);
	if ((rc = set_wal(db, err)))
		goto fail;
	/*
	 * NORMAL is durable across a process crash in WAL mode; a power loss
	 * can lose the last commits but never corrupts the file
	 * (docs/warehouse.md, "Durability").  The WAL of a large load is
	 * truncated back after its checkpoint.  An 8 MB page cache: facts
	 * tables have no index since version 3, so a load only appends to
	 * one B-tree whose few interior pages stay cached; 64 MB took 58 MB
	 * more memory and was no faster.
	 */
	if (sqlite3_exec(db,
			 "PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864; "
			 "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-8192",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_error(db, err, "setting pragmas");
		goto fail;
	}
	if ((rc = ade_warehouse_migrate(db, ADE_WAREHOUSE_SCHEMA_VERSION, err)))
		goto fail;
	*out = db;
	return 0;
fail:
	ade_error_prefix(err, "%s", path);
	sqlite3_close(db);
	return rc;
}

int ade_warehouse_open_readonly(const char *path, sqlite3 **out, struct ade_error *err)
{
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	if (!ade_fs_exists(path))
		return ade_error_set(err, ADE_ENOTFOUND, "no warehouse at '%s'", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = ade_error_set(err, ADE_EDB, "warehouse '%s': %s", path,
				   db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 10000);
	/* Read-only twice over, and no other file can be attached. */
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	if (ade_warehouse_version(db) < 0) {
		rc = ade_error_set(err, ADE_EDB, "'%s' is not a warehouse: %s", path,
				   sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

int ade_warehouse_ident_check(const char *what, const char *name, struct ade_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return ade_error_set(err, ADE_EINVAL, "%s: empty name", what);
	if (n > 256)
		return ade_error_set(err, ADE_EINVAL, "%s '%.40s...': longer than 256 bytes", what,
				     name);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7F)
			return ade_error_set(err, ADE_EINVAL,
					     "%s: name has a control character (byte %zu)", what, i);
		size_t l = utf8_len((const unsigned char *)name + i, n - i);
		if (!l)
			return ade_error_set(err, ADE_EINVAL, "%s: name is not valid UTF-8 (byte %zu)",
					     what, i);
		i += l;
	}
	return 0;
}

void ade_warehouse_quote(struct ade_strbuf *sb, const char *name)
{
	ade_strbuf_addc(sb, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			ade_strbuf_addc(sb, '"');
		ade_strbuf_addc(sb, *p);
	}
	ade_strbuf_addc(sb, '"');
}

const char *ade_warehouse_rowid_name(sqlite3 *db, const char *table)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};
	int hidden[3] = {0, 0, 0}, ncols = 0;
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &s, NULL) !=
	    SQLITE_OK)
		return NULL;
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 0);
		ncols++;
		for (int i = 0; i < 3 && n; i++)
			hidden[i] |= !strcasecmp(n, names[i]);
	}
	sqlite3_finalize(s);
	for (int i = 0; i < 3 && ncols; i++)
		if (!hidden[i])
			return names[i];
	return NULL;
}
