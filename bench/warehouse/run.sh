#!/bin/sh
# Warehouse benchmark: for each size (1M and 10M rows by default) ade-gen
# writes an employees CSV, ade-ingest turns it into a frame, and then, in
# the same run, into a fresh database each time:
#   - ade-warehouse loads the frame (as the stage does in a pipeline: WAL,
#     synchronous=NORMAL, one transaction, the rowid range recorded in
#     loads; facts tables have no partition index since schema version 3);
#   - the sqlite3 CLI's `.import --csv` loads the same rows from the CSV
#     into an empty typed table (its defaults: rollback journal).
# Both under /usr/bin/time -v: wall seconds (best of RUNS), rows/s, peak RSS
# (max of RUNS).  Data goes under $BENCH_TMP (default /tmp) and is deleted.
# Usage: sh bench/warehouse/run.sh [BIN_DIR] [ROWS...]
set -eu
BIN=${1:-build/bin}
shift 2>/dev/null || true
SIZES=${*:-"1000000 10000000"}
RUNS=${RUNS:-1}
D=$(mktemp -d "${BENCH_TMP:-/tmp}/ade-bench-warehouse.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
echo '{"format": "csv"}' > "$D/ingest.json"
echo '{"table": "employees", "facts": "ingest"}' > "$D/warehouse.json"

# wall seconds and max RSS (kB) from a /usr/bin/time -v report
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
  for (k = 1; k <= n; k++) s = s * 60 + t[k]; print s }' "$1"; }
rss() { awk -F': ' '/Maximum resident/ { print $2 }' "$1"; }

printf '%-10s %10s %10s %9s %10s %10s %9s %7s\n' rows ade_s "ade_rows/s" ade_MB import_s \
  "imp_rows/s" imp_MB speedup
for n in $SIZES; do
  "$BIN/ade-gen" employees --rows "$n" --seed 1 --date 2026-01-01 -o "$D/emp.csv"
  rm -rf "$D/ingest"; mkdir "$D/ingest"
  ADE_PIPELINE=bench ADE_STAGE=ingest ADE_DS=2026-01-01 ADE_OUT="$D/ingest" ADE_LOG=warn \
    ADE_SOURCE="$D/emp.csv" ADE_CONFIG="$D/ingest.json" "$BIN/ade-ingest"
  : > "$D/a.t"; : > "$D/a.r"; : > "$D/i.t"; : > "$D/i.r"
  i=0
  while [ $i -lt "$RUNS" ]; do
    rm -rf "$D/wh.db"* "$D/out"; mkdir "$D/out"
    sync
    ADE_PIPELINE=bench ADE_STAGE=warehouse ADE_DS=2026-01-01 ADE_RUN_ID=bench ADE_OUT="$D/out" \
      ADE_HOME="$D" ADE_WAREHOUSE="$D/wh.db" ADE_CONFIG="$D/warehouse.json" \
      ADE_IN_INGEST="$D/ingest" ADE_LOG=warn \
      /usr/bin/time -v "$BIN/ade-warehouse" 2> "$D/time.txt"
    wall "$D/time.txt" >> "$D/a.t"; rss "$D/time.txt" >> "$D/a.r"
    got=$(sqlite3 "$D/wh.db" "SELECT count(*) FROM employees")
    [ "$got" = "$n" ] || { echo "ade-warehouse loaded $got rows, not $n" >&2; exit 1; }
    rm -rf "$D/wh.db"*

    rm -f "$D/imp.db"
    sqlite3 "$D/imp.db" "CREATE TABLE employees(employee_id INTEGER, name TEXT,
      department TEXT, city TEXT, hire_date TEXT, age INTEGER, years_experience INTEGER,
      job_level INTEGER, performance_score REAL, remote TEXT, salary REAL)"
    sync
    /usr/bin/time -v sqlite3 "$D/imp.db" ".import --csv --skip 1 $D/emp.csv employees" \
      2> "$D/time.txt"
    wall "$D/time.txt" >> "$D/i.t"; rss "$D/time.txt" >> "$D/i.r"
    got=$(sqlite3 "$D/imp.db" "SELECT count(*) FROM employees")
    [ "$got" = "$n" ] || { echo ".import loaded $got rows, not $n" >&2; exit 1; }
    rm -f "$D/imp.db"
    i=$((i + 1))
  done
  a=$(sort -n "$D/a.t" | head -1); ar=$(sort -n "$D/a.r" | tail -1)
  it=$(sort -n "$D/i.t" | head -1); ir=$(sort -n "$D/i.r" | tail -1)
  awk -v n="$n" -v a="$a" -v ar="$ar" -v it="$it" -v ir="$ir" 'BEGIN {
    printf "%-10d %10.2f %10.0f %9.1f %10.2f %10.0f %9.1f %6.2fx\n",
      n, a, n / a, ar / 1024, it, n / it, ir / 1024, it / a }'
  rm -rf "$D/emp.csv" "$D/ingest" "$D/out"
done
