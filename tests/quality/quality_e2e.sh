#!/bin/sh
# End-to-end: ade-gen data through `ade run` (ingest -> quality), the
# cleaned CSV read back by ade-ingest with the same values (equal frame
# content hash), links, and a malformed config refused with file:line:col.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-quality-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

"$BIN/ade-gen" employees --rows 5000 --seed 11 --duplicates 0.02 --outliers 0.01 \
  --missing salary=0.03,city=0.2,performance_score=0.7 -o "$T/emp.csv"

cat > "$T/p.yaml" <<EOF
pipeline: qe2e
start_date: 2026-01-01
source: $T/emp.csv
stages:
  ingest: {run: ade-ingest}
  quality:
    run: ade-quality
    needs: [ingest]
    with:
      keys: [employee_id]
      protect: [name]
      outliers: {columns: [salary, age], k: 1.5, action: flag}
      export_csv: true
EOF
"$BIN/ade" --home "$T/home" run "$T/p.yaml" --date 2026-01-01 >"$T/run.out" 2>&1
check "pipeline succeeds" test $? = 0
OUT=$(ls -d "$T"/home/runs/qe2e/2026-01-01/run-*/quality/out | head -1)
IN=$(ls -d "$T"/home/runs/qe2e/2026-01-01/run-*/ingest/out | head -1)
R="$OUT/result.json"
check "result.json written" test -f "$R"
check "result reports duplicates, healing log, outliers, score" $PY -c "
import json
d = json.load(open('$R'))
assert d['duplicates']['removed'] > 0, d['duplicates']
assert d['rows_out'] == d['rows_in'] - d['duplicates']['removed']
acts = {e['column']: e['action'] for e in d['healing_log']}
assert acts['performance_score'] == 'drop', acts
assert acts['city'] == 'flag', acts
assert acts['salary'] == 'impute', acts
sal = [e for e in d['healing_log'] if e['column'] == 'salary'][0]
assert sal['strategy'] == 'median' and sal['rows_touched'] == sal['missing'] > 0, sal
o = d['outliers']['columns']['salary']
assert abs(o['lower'] - (o['q1'] - 1.5 * o['iqr'])) < 1e-6 and o['count'] > 0, o
assert 0 <= d['score'] <= 100 and set(d['quality']['dimensions']) == {'completeness', 'uniqueness', 'validity', 'consistency'}
outs = {x['path']: x for x in d['datasets']['outputs']}
assert outs['frame']['rows'] == d['rows_out'] and outs['cleaned.csv']['rows'] == d['rows_out']
assert d['datasets']['inputs'][0]['format'] == 'ade-frame'
"

# The CSV reads back through ade-ingest with the same values: with the
# output's types as hints and no missing tokens but the empty field, the
# re-ingested frame has the same content hash as the cleaned frame.
$PY -c "
import json
s = json.load(open('$OUT/frame/schema.json'))
json.dump({'schema_hints': {c['name']: c['type'] for c in s['columns']}, 'missing': []},
          open('$T/rt.json', 'w'))
"
mkdir -p "$T/rt"
ADE_PIPELINE=p ADE_STAGE=ingest ADE_DS=2026-01-01 ADE_OUT="$T/rt" ADE_SOURCE="$OUT/cleaned.csv" \
  ADE_CONFIG="$T/rt.json" ADE_LOG=error "$BIN/ade-ingest"
check "re-ingest of cleaned.csv exits 0" test $? = 0
check "cleaned.csv round-trips (same content hash, no quarantine)" $PY -c "
import json
a = json.load(open('$OUT/frame/schema.json'))
b = json.load(open('$T/rt/frame/schema.json'))
r = json.load(open('$T/rt/result.json'))
assert r['rows_quarantined'] == 0, r['quarantine']
assert [c['name'] for c in a['columns']] == [c['name'] for c in b['columns']]
assert a['content_hash'] == b['content_hash'], (a['content_hash'], b['content_hash'])
"
check "csv is RFC 4180 (quoted names with commas and quotes)" $PY -c "
import csv
rows = list(csv.reader(open('$OUT/cleaned.csv', newline='', encoding='utf-8')))
assert any(',' in r[1] for r in rows[1:]) and any('\"' in r[1] for r in rows[1:])
"

# No row removed: unchanged columns are hard links of the input's files.
cat > "$T/p2.yaml" <<EOF
pipeline: qlink
start_date: 2026-01-01
source: $T/emp.csv
stages:
  ingest: {run: ade-ingest}
  quality: {run: ade-quality, needs: [ingest], with: {dedup: false}}
EOF
"$BIN/ade" --home "$T/home" run "$T/p2.yaml" --date 2026-01-01 >"$T/run2.out" 2>&1
check "link pipeline succeeds" test $? = 0
OUT2=$(ls -d "$T"/home/runs/qlink/2026-01-01/run-*/quality/out | head -1)
IN2=$(ls -d "$T"/home/runs/qlink/2026-01-01/run-*/ingest/out | head -1)
check "unchanged column is a hard link" test "$(stat -c %i "$OUT2/frame/employee_id.npy")" = \
  "$(stat -c %i "$IN2/frame/employee_id.npy")"
check "imputed column is rewritten" test "$(stat -c %i "$OUT2/frame/salary.npy")" != \
  "$(stat -c %i "$IN2/frame/salary.npy")"

# A malformed config is refused before any work, with file:line:column.
cat > "$T/bad.yaml" <<EOF
pipeline: qbad
start_date: 2026-01-01
source: $T/emp.csv
stages:
  ingest: {run: ade-ingest}
  quality:
    run: ade-quality
    needs: [ingest]
    with:
      outliers: {columns: [salary], action: shred}
EOF
"$BIN/ade" --home "$T/home" run "$T/bad.yaml" --date 2026-01-01 >"$T/run3.out" 2>&1
check "bad config fails the run" test $? != 0
LOG=$(ls "$T"/home/runs/qbad/2026-01-01/run-*/quality/attempt-1.log | head -1)
check "bad config exits 2" grep -q "exit 2" "$T/run3.out"
check "message names bad.yaml:10:45" grep -q "bad.yaml:10:45: must be flag, drop or clip" "$LOG"
check "no output published" test ! -d "$(dirname "$LOG")/out"
# Unused: IN is kept for debugging a failure.
: "$IN"

if [ $FAIL -eq 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit $FAIL
