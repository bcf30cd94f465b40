#!/bin/sh
# Parallel backfill against one warehouse: 30 dates of ade-gen data,
# ingest -> warehouse, two dates at once (-j2, --max-active-runs 2), twice
# (the second time every date again, newest first).  No attempt may fail
# or log a busy/locked error, and every date is present exactly once.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-wh-bf.XXXXXX")
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', wanted '$2'"; fi; }
cd "$T" || exit 1
H=$T/h
q() { sqlite3 -batch -noheader "$H/warehouse.db" "$1"; }
ROWS=20000

mkdir data
for d in $(seq 1 30); do
  ds=$(printf '2026-01-%02d' "$d")
  "$BIN/ade-gen" employees --rows $ROWS --seed "$d" --date "$ds" -o "data/$ds.csv"
done
cat > p.yaml <<'EOF2'
pipeline: emp
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/{{ ds }}.csv
defaults: {retries: 0}
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: employees, facts: ingest}}
EOF2

verify() { # LABEL
  same "$1: 30 dates with $ROWS rows each" "30|30|$((30 * ROWS))" \
    "$(q "SELECT count(*) || '|' || sum(n = $ROWS) || '|' || sum(n) FROM (SELECT ds, count(*) n FROM employees GROUP BY ds)")"
  same "$1: one KPI row per date and KPI" "0|30" \
    "$(q "SELECT (SELECT count(*) FROM (SELECT 1 FROM kpi_history GROUP BY pipeline, ds, batch, kpi HAVING count(*) > 1)) || '|' || (SELECT count(DISTINCT ds) FROM kpi_history)")"
  same "$1: one loads row per date for the facts" "30|30" \
    "$(q "SELECT count(*) || '|' || count(DISTINCT ds) FROM loads WHERE \"table\"='employees'")"
  if grep -rqiE "busy|locked" "$H/runs" 2>/dev/null; then
    bad "$1: a stage log mentions busy or locked"; grep -rliE "busy|locked" "$H/runs" | head -3
  else
    ok "$1: no busy or locked error in any stage log"
  fi
  same "$1: no attempt failed" 0 \
    "$(sqlite3 -batch -noheader "$H/state.db" "SELECT count(*) FROM attempts WHERE coalesce(exit_code, 0) <> 0 OR signal IS NOT NULL AND signal <> 0" 2>/dev/null || echo '?')"
}

"$BIN/ade" --home "$H" backfill p.yaml --from 2026-01-01 --to 2026-01-30 --max-active-runs 2 -j2 > bf1.log 2>&1
same "backfill of 30 dates with -j2 succeeds" 0 $?
verify "first backfill"
"$BIN/ade" --home "$H" backfill p.yaml --from 2026-01-01 --to 2026-01-30 --reprocess all --reverse \
  --max-active-runs 2 -j2 > bf2.log 2>&1
same "backfill again, every date, newest first" 0 $?
verify "second backfill"
same "ade kpis shows 30 dates" 31 "$("$BIN/ade" --home "$H" kpis emp --kpi rows | wc -l)"

if [ $FAIL = 0 ]; then rm -rf "$T"; else echo "kept $T"; tail -5 bf1.log bf2.log; fi
exit $((FAIL > 0))
