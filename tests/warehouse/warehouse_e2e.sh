#!/bin/sh
# End-to-end through `ade run`: KPIs of a hand-made dataset against values
# computed by hand, through ingest, schema, quality, validate, analytics and
# the warehouse; the same date three times and dates out of order leave one
# copy; schema evolution over three dates of ade-gen data (a column added,
# a type widened, a column removed); hostile column names; and the
# inspection commands: ade kpis, ade sql (which refuses writes) and
# ade warehouse info, with their exit codes.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-wh-e2e.XXXXXX")
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# same DESCRIPTION WANT GOT
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', wanted '$2'"; fi; }
cd "$T" || exit 1
H=$T/h
ade() { "$BIN/ade" --home "$H" "$@"; }
q() { sqlite3 -batch -noheader "$H/warehouse.db" "$1"; }

# ---- KPIs by hand ----------------------------------------------------------
mkdir -p data/k
cat > data/k/2026-01-01.csv <<'CSV'
employee_id,department,salary,age
1,Eng,100,30
2,Eng,200,40
3,Ops,50,25
4,Ops,70,35
5,Ops,90,45
6,HR,60,50
CSV
head -6 data/k/2026-01-01.csv > data/k/2026-01-02.csv   # employee 6 left
cat > k.yaml <<'EOF2'
pipeline: k
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/k/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  schema: {run: ade-schema, needs: [ingest], with: {on_change: evolve}}
  quality: {run: ade-quality, needs: [schema], with: {keys: [employee_id]}}
  validate:
    run: ade-validate
    needs: [quality]
    with: {rules: [{kind: between, column: age, min: 18, max: 44, severity: warn}]}
  analytics:
    run: ade-analytics
    needs: [validate]
    with:
      sets:
        by_department: {group_by: [department], metrics: {headcount: count, avg_salary: "avg(salary)"}}
        total: {group_by: [], metrics: {headcount: count, avg_salary: "avg(salary)"}}
  warehouse:
    run: ade-warehouse
    needs: [ingest, schema, quality, validate, analytics]
    with: {table: employees, facts: validate}
EOF2
ade kpis k > out 2>&1
same "ade kpis without a warehouse exits 4" 4 $?
check "and says so" grep -q "no warehouse yet" out

for i in 1 2 3; do ade run k.yaml --date 2026-01-01 > run.log 2>&1 || bad "run k 2026-01-01 #$i"; done
ade run k.yaml --date 2026-01-02 > run.log 2>&1 || bad "run k 2026-01-02"
ade run k.yaml --date 2026-01-01 > run.log 2>&1 || bad "run k 2026-01-01 #4"
ade kpis k --kpi total.headcount --kpi total.avg_salary --format csv | tr -d '\r' > kpis.csv
printf 'ds,total.headcount,total.avg_salary\n2026-01-01,6,95\n2026-01-02,5,102\n' > want.csv
check "KPIs equal the hand-computed values (headcount 6 and 5, avg salary 95 and 102)" cmp -s want.csv kpis.csv
[ -s kpis.csv ] || cat run.log
same "avg salary by department, day 1, computed by hand" "Eng|2|150.0;HR|1|60.0;Ops|3|70.0;" \
  "$(q "SELECT group_concat(l || '|' || h || '|' || a, ';') || ';' FROM (SELECT group_label l,
        max(CASE metric WHEN 'headcount' THEN value END) h, max(CASE metric WHEN 'avg_salary' THEN value END) a
        FROM analytics WHERE pipeline='k' AND ds='2026-01-01' AND set_name='by_department'
        GROUP BY l ORDER BY l)")"
same "one copy of each date after five runs in any order" "2026-01-01|6;2026-01-02|5" \
  "$(q "SELECT group_concat(ds || '|' || n, ';') FROM (SELECT ds, count(*) n FROM employees GROUP BY ds ORDER BY ds)")"
same "KPI history holds one value per date and KPI" 0 \
  "$(q "SELECT count(*) FROM (SELECT ds, kpi FROM kpi_history GROUP BY pipeline, ds, batch, kpi HAVING count(*) > 1)")"
same "validation results loaded once (one rule, 2 failures on day 1)" "1|2" \
  "$(q "SELECT count(*) || '|' || sum(failures) FROM validation_results WHERE ds='2026-01-01'")"
same "violations loaded" 2 "$(q "SELECT count(*) FROM validation_violations WHERE ds='2026-01-01'")"
same "schema version stored for ade-schema's next baseline" "1|k" \
  "$(q "SELECT version || '|' || dataset FROM schema_versions WHERE ds='2026-01-02'")"
same "quality score and quarantine counts loaded" "100|1" \
  "$(q "SELECT (SELECT score FROM quality_results WHERE ds='2026-01-01') || '|' ||
        (SELECT count(DISTINCT ds) FROM quarantine_counts WHERE ds='2026-01-01')" | sed 's/\.0|/|/')"
same "loads: one row per table and date" 0 \
  "$(q "SELECT count(*) FROM (SELECT 1 FROM loads GROUP BY pipeline, ds, batch, \"table\" HAVING count(*) > 1)")"
same "dates in ISO text that date() reads" "2026-01-02" "$(q "SELECT date(min(ds), '+1 day') FROM employees")"

# ---- ade kpis / ade sql / ade warehouse info -------------------------------
ade kpis k --from 2026-01-02 --kpi rows --format json > kj.json
same "ade kpis --from --kpi --format json" '[{"ds":"2026-01-02","rows":5}]' "$(tr -d ' \t\n' < kj.json)"
ade kpis k > kt.txt
check "ade kpis table has one row per date" test "$(wc -l < kt.txt)" -eq 3
check "ade kpis table has a column per KPI" grep -q "quality_score" kt.txt
ade kpis k --from 2026-13-01 > out 2>&1; same "ade kpis bad date exits 2" 2 $?
ade kpis k --from 2026-01-02 --to 2026-01-01 > out 2>&1; same "ade kpis --from after --to exits 2" 2 $?
ade kpis > out 2>&1; same "ade kpis without a pipeline exits 2" 2 $?
ade kpis k --format xml > out 2>&1; same "ade kpis --format xml exits 2" 2 $?
ade kpis nosuch > out 2>&1; same "ade kpis of an unknown pipeline exits 1" 1 $?

ade sql "SELECT department, count(*) AS n FROM employees WHERE ds='2026-01-01' GROUP BY 1 ORDER BY 1" > s.txt
same "ade sql table output" "department n|Eng 2|HR 1|Ops 3|" "$(tr -s ' ' < s.txt | tr '\n' '|')"
ade sql --format csv "SELECT 'a,b' AS x, NULL AS y, 1.5 AS z" | tr -d '\r' > s.csv
same "ade sql csv output quotes and leaves nulls empty" 'x,y,z|"a,b",,1.5|' "$(tr '\n' '|' < s.csv)"
ade sql --format json "SELECT 1 AS one, 'x' AS s, NULL AS n" > s.json
same "ade sql json output" '[{"one":1,"s":"x","n":null}]' "$(tr -d ' \t\n' < s.json)"
before=$(q "SELECT count(*) FROM employees")
md5a=$(md5sum < "$H/warehouse.db")
for stmt in "DELETE FROM employees" "DROP TABLE loads" "INSERT INTO kpi_history(pipeline, ds, kpi, value) VALUES ('k','2030-01-01','x',1)" \
    "UPDATE employees SET salary = 0" "CREATE TABLE evil(x)" "ATTACH '$T/evil.db' AS e" "PRAGMA user_version=7" \
    "VACUUM" "SELECT 1; DELETE FROM employees"; do
  ade sql "$stmt" > out 2>&1
  rc=$?
  if [ $rc = 2 ]; then ok "ade sql refuses: $stmt (exit $rc)"; else bad "ade sql '$stmt' exit $rc"; cat out; fi
done
check "a refused write says why" grep -q "refused\|one statement" out
same "the warehouse is unchanged after refused writes" "$before" "$(q "SELECT count(*) FROM employees")"
check "no file was attached or created" test ! -e "$T/evil.db"
same "warehouse file unchanged" "$md5a" "$(md5sum < "$H/warehouse.db")"
ade sql "SELEC nonsense" > out 2>&1; same "ade sql syntax error exits 1" 1 $?
ade sql > out 2>&1; same "ade sql without a query exits 2" 2 $?
ade sql --format xml "SELECT 1" > out 2>&1; same "ade sql --format xml exits 2" 2 $?
"$BIN/ade" --home "$T/none" sql "SELECT 1" > out 2>&1; same "ade sql without a warehouse exits 4" 4 $?

ade warehouse info > info.txt; same "ade warehouse info exits 0" 0 $?
check "info lists tables with row counts" grep -q "^employees *11$" info.txt
check "info lists dates per pipeline" grep -q "^k *2 *2026-01-01 *2026-01-02" info.txt
check "info shows the schema version" grep -q "schema version 3" info.txt
ade warehouse info --format json > info.json
check "info --format json parses" /usr/bin/python3 -c "import json,sys; d=json.load(open('info.json')); sys.exit(0 if d['schema_version']==3 and d['pipelines'][0]['dates']==2 else 1)"
ade warehouse > out 2>&1; same "ade warehouse without a subcommand exits 2" 2 $?
ade warehouse drop > out 2>&1; same "ade warehouse with an unknown subcommand exits 2" 2 $?
"$BIN/ade" --home "$T/none" warehouse info > out 2>&1; same "ade warehouse info without a warehouse exits 4" 4 $?

# ---- schema evolution over three dates of ade-gen data ----------------------
mkdir -p data/ev
"$BIN/ade-gen" employees --rows 300 --seed 1 --date 2026-02-01 -o data/ev/2026-02-01.csv
"$BIN/ade-gen" employees --rows 300 --seed 2 --date 2026-02-02 --add-column bonus -o data/ev/g2.csv
# day 2 also widens age from int64 to float64: every age gets a fraction
/usr/bin/python3 -c "
import csv,sys
r=csv.reader(open('data/ev/g2.csv', newline='')); w=csv.writer(open('data/ev/2026-02-02.csv','w', newline=''))
h=next(r); a=h.index('age'); w.writerow(h)
for row in r:
    if row[a]: row[a]=row[a]+'.5'
    w.writerow(row)"
"$BIN/ade-gen" employees --rows 300 --seed 3 --date 2026-02-03 --add-column bonus --drop-column city -o data/ev/2026-02-03.csv
cat > ev.yaml <<'EOF2'
pipeline: ev
schedule: "0 2 * * *"
start_date: 2026-02-01
source: data/ev/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: ev_facts}}
EOF2
age1=$(/usr/bin/python3 -c "
import csv; r=list(csv.DictReader(open('data/ev/2026-02-01.csv'))); print(sum(int(x['age']) for x in r if x['age']))")
for d in 2026-02-01 2026-02-02 2026-02-03; do
  ade run ev.yaml --date $d > ev.log 2>&1 || { bad "run ev $d"; cat ev.log; }
done
same "day 2 added column bonus: NULL on day 1, values on day 2" "0|300" \
  "$(q "SELECT count(bonus) FROM ev_facts WHERE ds='2026-02-01'")|$(q "SELECT count(bonus) FROM ev_facts WHERE ds='2026-02-02'")"
same "widened age kept day 1's integer values" "$age1|integer" \
  "$(q "SELECT sum(age) || '|' || max(typeof(age)) FROM ev_facts WHERE ds='2026-02-01'")"
check "widened age holds the fractions on day 2" test "$(q "SELECT count(*) FROM ev_facts WHERE ds='2026-02-02' AND age - CAST(age AS INTEGER) = 0.5")" -gt 250
same "the catalogue records age as float64" float64 \
  "$(q "SELECT ade_type FROM facts_columns WHERE tbl='ev_facts' AND column_name='age'")"
same "removed column city keeps its history, NULL on day 3" "300|300|0" \
  "$(q "SELECT group_concat(n, '|') FROM (SELECT count(city) n FROM ev_facts GROUP BY ds ORDER BY ds)")"
ade run ev.yaml --date 2026-02-01 > ev.log 2>&1 || bad "rerun ev day 1 after evolution"
same "rerunning day 1 after the evolution keeps one copy" "300|300|300" \
  "$(q "SELECT group_concat(n, '|') FROM (SELECT count(*) n FROM ev_facts GROUP BY ds ORDER BY ds)")"

# ---- hostile identifiers from data -----------------------------------------
mkdir -p data/x
printf 'id,"a""; DROP TABLE x; --",b'"'"'); DELETE FROM loads; --\n1,10,p\n2,20,q\n' > data/x/2026-03-01.csv
cat > x.yaml <<'EOF2'
pipeline: x
schedule: "0 2 * * *"
start_date: 2026-03-01
source: data/x/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: "x_facts\"; DROP TABLE x; --"}}
EOF2
q "CREATE TABLE x(v); INSERT INTO x VALUES (42)"
nloads=$(q "SELECT count(*) FROM loads")
ade run x.yaml --date 2026-03-01 > x.log 2>&1; same "hostile column and table names load" 0 $?
ade run x.yaml --date 2026-03-01 > x.log 2>&1
same "table x is intact" 42 "$(q "SELECT v FROM x")"
same "loads intact (one more row per table loaded)" 1 "$(q "SELECT count(*) > $nloads FROM loads")"
ade sql --format csv 'SELECT * FROM "x_facts""; DROP TABLE x; --" ORDER BY id' | tr -d '\r' > x.csv
check "hostile column names come back quoted in ade sql csv" grep -qF ',id,"a""; DROP TABLE x; --",b'"'"'); DELETE FROM loads; --' x.csv
check "with their values" grep -q ',1,10,p$' x.csv
same "and are addressable with quoting" 30 "$(q 'SELECT sum("a""; DROP TABLE x; --") FROM "x_facts""; DROP TABLE x; --"')"

if [ $FAIL = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit $((FAIL > 0))
