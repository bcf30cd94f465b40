/* Between warehouse.c and load.c only; not part of the library's API. */
#ifndef ADE_WAREHOUSE_INTERNAL_H
#define ADE_WAREHOUSE_INTERNAL_H

#include <sqlite3.h>

struct ade_error;

/*
 * Migration 3's data step, inside the migration's transaction: records
 * the rowid range of every facts load made before version 3 in
 * loads.first_rowid/last_rowid, and drops a facts table's
 * (pipeline, ds, batch) index once every one of its rows lies in a
 * recorded range.  A range that would take in another partition's rows
 * (a file edited by hand) stays NULL and that table keeps its index, so
 * its loads go on deleting by column as well.
 */
int ade_warehouse_migrate_ranges(sqlite3 *db, struct ade_error *err);

#endif
