#!/bin/sh
# End-to-end: ade-analytics through `ade run` with real pipeline files.
#  - bad configuration (unknown metric, bad p, unknown column in group_by
#    and in a metric, a metric that does not suit the column's type) is
#    refused with the exact "FILE:LINE:COL: message" and exit 2;
#  - the employees block of docs/analytics.md runs over ade-gen data with
#    missing values: every set recomputed by SQLite (analytics-sqlcheck),
#    headcount and average salary by department recomputed from the CSV,
#    result.json's shape as documented, the set frames readable by numpy;
#  - a CSV with a header and no rows gives count 0 and nulls.
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-analytics-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

"$BIN/ade-gen" employees --rows 4000 --seed 21 --date 2026-01-01 \
  --missing department=0.03,salary=0.02,city=0.01,performance_score=0.02 -o data.csv || exit 1

# pipeline NAME WITH_BLOCK: ingest -> analytics; WITH_BLOCK is indented
# under "with:" (line 9 is its first line).
pipeline() {
  {
    printf 'pipeline: at\nsource: data.csv\nstages:\n'
    printf '  ingest: {run: ade-ingest}\n'
    printf '  analytics:\n    run: ade-analytics\n    needs: [ingest]\n    with:\n'
    printf '%s\n' "$2"
  } > "$1.yaml"
}

run() {
  rm -rf "$T/home"
  OUT=$("$BIN/ade" --home "$T/home" run "$1.yaml" --date 2026-01-01 2>&1)
  RC=$?
}
RUN=$T/home/runs/at/2026-01-01/run-1
log() { cat "$RUN/analytics/attempt-1.log"; }

# expect_refused NAME METRICS_LINE WANT: line 13 is METRICS_LINE.
expect_refused() {
  pipeline "$1" "      sets:
        by_department:
          group_by: [department, city]
          metrics:
            $2"
  run "$1"
  if ! printf '%s\n' "$OUT" | grep -q "analytics (exit 2)"; then
    bad "$1: stage exits 2 (got: $OUT)"
    return
  fi
  got=$(log | grep '^ade-analytics: error: ')
  if [ "$got" = "ade-analytics: error: $3" ]; then ok "$1: $3"
  else bad "$1: want '$3', got '$got'"; fi
}

expect_refused unknown_metric 'avg_salary: mean(salary)' \
  "unknown_metric.yaml:13:25: unknown metric 'mean' in 'mean(salary)' (metrics: count, count_distinct, sum, avg, min, max, median, quantile, stddev, stddev_pop)"
expect_refused bad_p 'p90: quantile(salary, 90)' \
  "bad_p.yaml:13:18: quantile's p must be a number from 0 to 1, not '90'"
expect_refused unknown_column 'avg_salary: avg(salry)' \
  "unknown_column.yaml:13:25: unknown column 'salry' in metric 'avg_salary' of set 'by_department' (the input has: employee_id, name, department, city, hire_date, age, years_experience, job_level, performance_score, remote, salary)"
expect_refused wrong_type 'x: stddev(name)' \
  "wrong_type.yaml:13:16: stddev needs a number or bool column; 'name' is string"
expect_refused arity 'x: median(salary, 0.5)' \
  "arity.yaml:13:16: median takes one column, as in median(salary), not 'median(salary, 0.5)'"
# Unknown column in group_by: the position of the list item.
pipeline group_col "      sets:
        by_department:
          group_by: [department, twon]
          metrics: {headcount: count}"
run group_col
check "group_by: unknown column at its item" \
  test "$(log | grep '^ade-analytics: error: ')" = "ade-analytics: error: group_col.yaml:11:34: unknown column 'twon' in group_by of set 'by_department' (the input has: employee_id, name, department, city, hire_date, age, years_experience, job_level, performance_score, remote, salary)"
check "refused config writes no result" test ! -e "$RUN/analytics/out"

# The employees block of docs/analytics.md, as shipped (between the markers).
sed -n '/<!-- employees-analytics:begin -->/,/<!-- employees-analytics:end -->/p' \
  "$SRC/docs/analytics.md" | sed -n '/^  analytics:/,/^```/p' | sed '$d' > block.yaml
check "docs hold the employees analytics block" grep -q 'ade-analytics' block.yaml
{
  printf 'pipeline: at\nsource: data.csv\nstages:\n  ingest: {run: ade-ingest}\n'
  sed 's/needs: \[validate\]/needs: [ingest]/' block.yaml
} > employees.yaml
run employees
check "employees: the run succeeds" test "$RC" = 0
[ "$RC" = 0 ] || { printf '%s\n' "$OUT"; log; }
R=$RUN/analytics/out/result.json
check "employees: SQLite computes the same sets" \
  "$BIN/analytics-sqlcheck" "$RUN/ingest/out/frame" "$R"
check "employees: result.json as documented, seed KPIs from the CSV" $PY - "$T" "$R" <<'EOF'
import csv, json, math, sys
t, rp = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(t + '/data.csv', newline='', encoding='utf-8')))
res = json.load(open(rp))
assert res['producer'] == 'ade-analytics' and res['status'] == 'ok'
assert res['rows_in'] == len(rows) == 4000
sets = res['sets']
assert {'by_department', 'by_city', 'by_job_level', 'overall'} <= set(sets), sets.keys()
for name, s in sets.items():
    assert s['frame'] == 'sets/' + name
    assert s['row_count'] == len(s['rows'])
    assert [c['name'] for c in s['columns']] == s['group_by'] + [m['name'] for m in s['metrics']]
    for r in s['rows']:
        assert list(r) == [c['name'] for c in s['columns']]
assert res['rows_out'] == sum(s['row_count'] for s in sets.values())
# what the seed computed: headcount and average salary by department
by = {}
for r in rows:
    d = r['department'] or None
    by.setdefault(d, []).append(float(r['salary']) if r['salary'] else None)
dep = {r['department']: r for r in sets['by_department']['rows']}
assert set(dep) == set(by), (set(dep), set(by))
assert list(dep)[0] is None  # the null group first
for d, sal in by.items():
    vals = [v for v in sal if v is not None]
    assert dep[d]['headcount'] == len(sal)
    want = math.fsum(vals) / len(vals)
    assert abs(dep[d]['avg_salary'] - want) <= 1e-12 * want, (d, dep[d]['avg_salary'], want)
    vals.sort()
    n = len(vals); h = (n - 1) * 0.5; lo = int(h); f = h - lo
    med = vals[lo] if f == 0 else vals[lo] + (vals[lo + 1] - vals[lo]) * f
    assert abs(dep[d]['median_salary'] - med) <= 1e-9, (d, dep[d]['median_salary'], med)
k = res['kpis']
assert k['rows_in'] == 4000
assert k['overall.headcount'] == 4000
assert k['by_department.groups'] == len(by)
assert all(isinstance(v, (int, float)) or v is None for v in k.values())
assert all('.' in n or n == 'rows_in' for n in k)
outs = res['datasets']['outputs']
assert sorted(o['path'] for o in outs) == sorted('sets/' + n for n in sets)
assert all(o['format'] == 'ade-frame' and o['hash'].startswith('xxh3-128:') for o in outs)
EOF
check "employees: set frames load in numpy" $PY - "$RUN/analytics/out" <<'EOF'
import json, sys
import numpy as np
d = sys.argv[1]
res = json.load(open(d + '/result.json'))
for name, s in res['sets'].items():
    sch = json.load(open(f'{d}/sets/{name}/schema.json'))
    assert sch['rows'] == s['row_count']
    for c in sch['columns']:
        if c['type'] in ('int64', 'float64'):
            a = np.load(f"{d}/sets/{name}/{c['files']['data']}", mmap_mode='r')
            want = [r[c['name']] for r in s['rows']]
            valid = np.load(f"{d}/sets/{name}/{c['files']['valid']}") if 'valid' in c['files'] else None
            for i, w in enumerate(want):
                if w is None:
                    assert valid is not None and not valid[i]
                else:
                    assert a[i] == w, (name, c['name'], i, a[i], w)
EOF

# A header and no rows: count 0, every other aggregate null.
# An empty file types every column as string: the hints give the real types.
head -1 data.csv > empty.csv
sed -e 's/^source: data.csv/source: empty.csv/' \
  -e 's/^  ingest: {run: ade-ingest}/  ingest: {run: ade-ingest, with: {schema_hints: {employee_id: int64, department: categorical, city: categorical, hire_date: date, age: int64, years_experience: int64, job_level: int64, performance_score: float64, remote: bool, salary: float64}}}/' \
  employees.yaml > empty.yaml
run empty
check "empty input: the run succeeds" test "$RC" = 0
[ "$RC" = 0 ] || { printf '%s\n' "$OUT"; log; }
check "empty input: count 0, others null, grouped sets empty" $PY - "$RUN/analytics/out/result.json" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))
assert res['rows_in'] == 0
for name, s in res['sets'].items():
    if s['group_by']:
        assert s['rows'] == [], name
        continue
    (row,) = s['rows']
    for m in s['metrics']:
        v = row[m['name']]
        if m['fn'] in ('count', 'count_distinct'):
            assert v == 0, (m, v)
        else:
            assert v is None, (m, v)
assert res['kpis']['rows_in'] == 0 and res['kpis']['overall.headcount'] == 0
assert res['kpis']['overall.avg_salary'] is None
EOF

if [ "$FAIL" -ne 0 ]; then
  echo "$FAIL check(s) failed"
  exit 1
fi
echo "all checks passed"
