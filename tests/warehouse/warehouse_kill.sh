#!/bin/sh
# SIGKILL during a large load: ade-warehouse is killed with kill -9 while
# it inserts 2M rows (seen in the process list, its WAL growing), and
# once right after it starts; each time the warehouse is exactly as
# before (same counts, same checksum, integrity ok, not locked).  The
# rerun then completes the date, and another rerun leaves one copy.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-wh-kill.XXXXXX")
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', wanted '$2'"; fi; }
cd "$T" || exit 1
H=$T/h
W=$H/warehouse.db
q() { sqlite3 -batch -noheader "$W" "$1"; }
BIG=${ADE_WH_KILL_ROWS:-2000000}

mkdir data
"$BIN/ade-gen" employees --rows 2000 --seed 1 --date 2026-01-01 -o data/2026-01-01.csv
"$BIN/ade-gen" employees --rows "$BIG" --seed 2 --date 2026-01-02 -o data/2026-01-02.csv
for f in p i; do
  cat > $f.yaml <<EOF2
pipeline: emp
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
EOF2
done
echo '  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: employees, facts: ingest}}' >> p.yaml

"$BIN/ade" --home "$H" run p.yaml --date 2026-01-01 > run.log 2>&1 || { bad "day 1 loads"; cat run.log; }
"$BIN/ade" --home "$H" run i.yaml --date 2026-01-02 > run.log 2>&1 || { bad "day 2 ingests"; cat run.log; }
IN=$(ls -d "$H"/runs/emp/2026-01-02/run-*/ingest/out | tail -1)
echo '{"table": "employees", "facts": "ingest"}' > config.json

state() {
  q "SELECT (SELECT count(*) FROM employees) || '|' || (SELECT coalesce(sum(employee_id), 0) FROM employees)
     || '|' || (SELECT count(*) FROM loads) || '|' || (SELECT count(*) FROM kpi_history)
     || '|' || (SELECT count(*) FROM quarantine_counts) || '|' || (SELECT count(*) FROM facts_columns)
     || '|' || (SELECT group_concat(ds) FROM (SELECT DISTINCT ds FROM employees ORDER BY ds))"
}
A=$(state)
same "state before: day 1 only" "2000" "$(echo "$A" | cut -d'|' -f1)"

# start_load N: runs ade-warehouse for day 2 as the scheduler would; sets PID.
start_load() {
  rm -rf "out$1"; mkdir "out$1"
  env ADE_PIPELINE=emp ADE_STAGE=warehouse ADE_DS=2026-01-02 ADE_RUN_ID="run-$1" ADE_ATTEMPT=1 \
    ADE_BATCH= ADE_HOME="$H" ADE_WAREHOUSE="$W" ADE_OUT="$T/out$1" ADE_CONFIG="$T/config.json" \
    ADE_INTERVAL_START=2026-01-02T00:00:00Z ADE_INTERVAL_END=2026-01-03T00:00:00Z \
    ADE_IN_INGEST="$IN" "$BIN/ade-warehouse" > "load$1.log" 2>&1 &
  PID=$!
}
wal_bytes() { stat -c %s "$W-wal" 2>/dev/null || echo 0; }
# in_plist PID: the pid is in the process list as ade-warehouse.
in_plist() { ps -o comm= -p "$1" 2>/dev/null | grep -q '^ade-warehouse$'; }

# 1. killed in the middle of the insert
start_load 1
i=0; seen=0
while [ $i -lt 3000 ]; do
  if in_plist $PID; then
    seen=1
    [ "$(wal_bytes)" -gt 16000000 ] && break
  elif [ $seen = 1 ]; then
    break
  fi
  sleep 0.01; i=$((i + 1))
done
kill -9 $PID 2>/dev/null
wait $PID; rc=$?
same "ade-warehouse was seen in the process list and killed mid-insert (WAL $(wal_bytes) bytes)" 137 $rc
same "after SIGKILL mid-insert the warehouse is as before" "$A" "$(state)"
same "integrity check" ok "$(q 'PRAGMA integrity_check')"
check "the warehouse is not left locked" q "BEGIN IMMEDIATE; ROLLBACK"
check "killed load wrote no result.json" test ! -e out1/result.json

# 2. killed as soon as it starts
start_load 2
i=0; while [ $i -lt 2000 ] && ! in_plist $PID; do sleep 0.002; i=$((i + 1)); done
kill -9 $PID 2>/dev/null
wait $PID
same "after SIGKILL at start the warehouse is as before" "$A" "$(state)"

# 3. the rerun completes the date
start_load 3
wait $PID; rc=$?
same "the rerun succeeds" 0 $rc
[ $rc = 0 ] || cat load3.log
same "day 2 loaded once, day 1 untouched" "2026-01-01|2000;2026-01-02|$BIG" \
  "$(q "SELECT group_concat(ds || '|' || n, ';') FROM (SELECT ds, count(*) n FROM employees GROUP BY ds ORDER BY ds)")"
start_load 4
wait $PID
same "another rerun still leaves one copy" "$((2000 + BIG))" "$(q 'SELECT count(*) FROM employees')"
same "one loads row for the facts of each date" "1|1" \
  "$(q "SELECT group_concat(n, '|') FROM (SELECT count(*) n FROM loads WHERE \"table\"='employees' GROUP BY ds ORDER BY ds)")"
same "integrity check after the reruns" ok "$(q 'PRAGMA integrity_check')"

if [ $FAIL = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit $((FAIL > 0))
