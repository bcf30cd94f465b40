-- The ade warehouse: DDL and migrations (docs/warehouse.md).
--
-- Each "-- version N" section is one migration.  ade_warehouse_open()
-- applies the sections above the file's PRAGMA user_version, in order,
-- inside one BEGIN IMMEDIATE transaction, then sets user_version to the
-- last.  So an older warehouse opens under a newer ade, and two processes
-- opening a new file at once migrate it once.  Never edit a released
-- section: add a new one.
--
-- Every partitioned table has pipeline, ds ('YYYY-MM-DD') and batch (''
-- in batch mode, the micro-batch number as text otherwise), and an index
-- on them so a load's DELETE of its partition does not scan the table.

-- version 1
CREATE TABLE loads(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  "table" TEXT NOT NULL, run_id TEXT, rows INTEGER NOT NULL, hash TEXT,
  loaded_at TEXT NOT NULL);
CREATE INDEX loads_partition ON loads(pipeline, ds, batch);

CREATE TABLE kpi_history(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  kpi TEXT NOT NULL, value REAL, run_id TEXT);
CREATE UNIQUE INDEX kpi_history_key ON kpi_history(pipeline, ds, batch, kpi);

CREATE TABLE analytics(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  set_name TEXT NOT NULL, group_key TEXT NOT NULL, group_label TEXT,
  metric TEXT NOT NULL, value, run_id TEXT); -- value untyped: no affinity converts it
CREATE INDEX analytics_partition ON analytics(pipeline, ds, batch);

CREATE TABLE quality_results(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  stage TEXT, score REAL, completeness REAL, uniqueness REAL, validity REAL,
  consistency REAL, rows_in INTEGER, rows_out INTEGER, duplicates_removed INTEGER,
  rows_with_outliers INTEGER, run_id TEXT);
CREATE INDEX quality_results_partition ON quality_results(pipeline, ds, batch);

CREATE TABLE healing_log(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  stage TEXT, producer TEXT, seq INTEGER, column_name TEXT, kind TEXT, action TEXT,
  detail TEXT, run_id TEXT);
CREATE INDEX healing_log_partition ON healing_log(pipeline, ds, batch);

CREATE TABLE validation_results(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  stage TEXT, rule TEXT, kind TEXT, column_name TEXT, severity TEXT, status TEXT,
  passed INTEGER, evaluated INTEGER, failures INTEGER, percent REAL, params TEXT,
  run_id TEXT);
CREATE INDEX validation_results_partition ON validation_results(pipeline, ds, batch);

-- ade-schema reads its baseline from here: keep these six columns.
CREATE TABLE schema_versions(
  pipeline TEXT, ds TEXT, dataset TEXT, version INTEGER, hash TEXT, schema_json TEXT,
  PRIMARY KEY(pipeline, ds, dataset));

CREATE TABLE schema_changes(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  dataset TEXT, seq INTEGER, kind TEXT, column_name TEXT, from_value TEXT,
  to_value TEXT, action TEXT, confidence REAL, detail TEXT, run_id TEXT);
CREATE INDEX schema_changes_partition ON schema_changes(pipeline, ds, batch);

CREATE TABLE quarantine_counts(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  stage TEXT, kind TEXT, reason TEXT, count INTEGER, run_id TEXT);
CREATE INDEX quarantine_counts_partition ON quarantine_counts(pipeline, ds, batch);

-- version 2
-- Micro-batches of a date may each carry a schema; who wrote the row.
ALTER TABLE schema_versions ADD COLUMN batch TEXT NOT NULL DEFAULT '';
ALTER TABLE schema_versions ADD COLUMN run_id TEXT;
-- Which stage's output a load came from and how long it took.
ALTER TABLE loads ADD COLUMN stage TEXT;
ALTER TABLE loads ADD COLUMN seconds REAL;

CREATE TABLE validation_violations(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  stage TEXT, rule TEXT, row_index INTEGER, sample TEXT, run_id TEXT);
CREATE INDEX validation_violations_partition ON validation_violations(pipeline, ds, batch);

CREATE TABLE model_metrics(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  model_version TEXT, metric TEXT NOT NULL, value REAL, run_id TEXT);
CREATE INDEX model_metrics_partition ON model_metrics(pipeline, ds, batch);

CREATE TABLE feature_versions(
  pipeline TEXT NOT NULL, ds TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
  version TEXT, hash TEXT, rows INTEGER, columns INTEGER, run_id TEXT);
CREATE INDEX feature_versions_partition ON feature_versions(pipeline, ds, batch);

-- The ade type of every facts column: SQLite keeps the declared type of
-- the first load, this keeps the widest type seen (docs/warehouse.md).
CREATE TABLE facts_columns(
  tbl TEXT NOT NULL COLLATE NOCASE, column_name TEXT NOT NULL COLLATE NOCASE, ade_type TEXT NOT NULL,
  declared_type TEXT, added_ds TEXT, last_ds TEXT,
  PRIMARY KEY(tbl, column_name));

-- version 3
-- The rowids a facts load inserted, first_rowid..last_rowid (an empty
-- load has last_rowid = first_rowid - 1), on the facts row of loads; NULL
-- on the rows of the warehouse's own tables.  A re-load deletes these
-- ranges, so a facts table needs no (pipeline, ds, batch) index, which
-- cost about 40% of a bulk load.  ade_warehouse_migrate fills them in for
-- the facts loads made before this version and drops the facts tables'
-- partition indexes when every row is accounted for (load.c,
-- ade_warehouse_migrate_ranges).
ALTER TABLE loads ADD COLUMN first_rowid INTEGER;
ALTER TABLE loads ADD COLUMN last_rowid INTEGER;
