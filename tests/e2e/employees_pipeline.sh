#!/bin/sh
# The shipped employees pipeline end to end on generated data: a backfill of
# three days (the third with a renamed column that ade-schema must heal),
# a rerun that leaves exactly one copy in the warehouse, and the KPIs,
# model and feature snapshot a user looks at afterwards.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
mkdir -p pipe/data/employees
cp "$ADE_SRC/pipelines/employees.yaml" pipe/
"$ADE_BIN/ade-gen" employees --rows 3000 --seed 1 --date 2026-03-01 --missing city=0.08 \
  --duplicates 0.01 --outliers 0.005 --poison 0.002 -o pipe/data/employees/2026-03-01.csv
"$ADE_BIN/ade-gen" employees --rows 3000 --seed 2 --date 2026-03-02 --missing city=0.08 \
  --duplicates 0.01 --outliers 0.005 --poison 0.002 -o pipe/data/employees/2026-03-02.csv
"$ADE_BIN/ade-gen" employees --rows 3000 --seed 3 --date 2026-03-03 --missing city=0.08 \
  --rename performance_score=perf_score -o pipe/data/employees/2026-03-03.csv

case_ backfill
ade_out out backfill pipe/employees.yaml --from 2026-03-01 --to 2026-03-02 -j2
expect_rc 0 "$RC" "two days through every stage"
# The third day alone, so the schema baseline (the day before) is loaded.
ade_out out run pipe/employees.yaml --date 2026-03-03 -j2
expect_rc 0 "$RC" "a day with a renamed column runs through"
expect_eq "3" "$(sql "SELECT count(*) FROM runs WHERE state='success'")" "three successful runs"

wsql() { sqlite3 -batch -noheader "$ADE_HOME/warehouse.db" "$1"; }
case_ warehouse
for d in 2026-03-01 2026-03-02 2026-03-03; do
  want=$(sed -n 's/.*"rows_out":[[:space:]]*\([0-9]*\).*/\1/p' \
    "$ADE_HOME/runs/employees/$d/run-1/validate/out/result.json")
  expect_eq "$want" "$(wsql "SELECT count(*) FROM employees WHERE ds='$d'")" "$d: the validated rows are the facts"
done
expect_eq "0" "$(wsql "SELECT count(*) FROM (SELECT ds, employee_id FROM employees GROUP BY 1,2 HAVING count(*)>1)")" \
  "no employee twice on a day"

case_ dictionaries
for f in "$ADE_HOME"/runs/employees/2026-03-01/run-1/ingest/out/frame/*.dict.json; do
  expect_eq "" "$(tr -d '[]' < "$f" | tr ',' '\n' | sort | uniq -d)" "$(basename "$f"): every value once"
done

case_ healed_rename
expect_eq "0" "$(wsql "SELECT count(*) FROM employees WHERE ds='2026-03-03' AND performance_score IS NULL")" \
  "perf_score was mapped back to performance_score"
expect_grep '"perf_score"' "$ADE_HOME/runs/employees/2026-03-03/run-1/schema/out/result.json" \
  "the schema result records the rename"

case_ rerun_is_idempotent
before=$(wsql "SELECT count(*) FROM employees; SELECT count(*) FROM kpi_history; SELECT count(*) FROM analytics")
ade_out out run pipe/employees.yaml --date 2026-03-02 -j2
expect_rc 0 "$RC" "rerun of a day"
expect_eq "2" "$(sql "SELECT max(run_number) FROM runs WHERE ds='2026-03-02'")" "the rerun is run 2"
expect_eq "$before" "$(wsql "SELECT count(*) FROM employees; SELECT count(*) FROM kpi_history; SELECT count(*) FROM analytics")" \
  "facts, KPI history and analytics unchanged in size"

case_ inspect
ade_out out kpis employees --kpi overall.headcount --format csv
expect_rc 0 "$RC" "ade kpis"
expect_eq "4" "$(wc -l < out)" "a header and one line per day"
ade_out out models employees
expect_rc 0 "$RC" "ade models"
r2=$(wsql "SELECT value FROM model_metrics WHERE ds='2026-03-01' AND metric='r2'")
check "the salary model explains the data (R2 $r2 > 0.9)" awk -v r="$r2" 'BEGIN{exit !(r > 0.9)}'
ade_out out features list employees
expect_rc 0 "$RC" "ade features list"
ade_out out features get employees --as-of 2026-03-02 --format csv --out "$T/f.csv"
expect_rc 0 "$RC" "ade features get"
check "the snapshot has rows" test "$(wc -l < "$T/f.csv")" -gt 100

finish
