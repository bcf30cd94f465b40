#!/bin/sh
# End-to-end: ade-gen output (plain and in every compression) through the
# real ade-ingest binary, numpy reading the frame, and exit codes.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-ingest-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

# ingest SOURCE CONFIG_JSON: runs ade-ingest into a fresh $T/out; sets RC.
ingest() {
  rm -rf "$T/out"; mkdir -p "$T/out"
  printf '%s' "$2" > "$T/config.json"
  ADE_PIPELINE=p ADE_STAGE=ingest ADE_DS=2026-01-01 ADE_OUT="$T/out" \
    ADE_SOURCE="$1" ADE_CONFIG="$T/config.json" "$BIN/ade-ingest" 2>"$T/stderr"
  RC=$?
}
jget() { $PY -c "import json,sys; d=json.load(open('$T/out/result.json')); print($1)"; }

# Determinism and CLI errors.
"$BIN/ade-gen" employees --rows 2000 --seed 3 -o "$T/a.csv"
"$BIN/ade-gen" employees --rows 2000 --seed 3 -o "$T/b.csv"
check "same seed, same bytes" cmp -s "$T/a.csv" "$T/b.csv"
"$BIN/ade-gen" employees --rows 2000 --seed 4 -o "$T/b.csv"
check "other seed, other bytes" sh -c "! cmp -s '$T/a.csv' '$T/b.csv'"
"$BIN/ade-gen" employees --rows x 2>/dev/null; check "bad --rows exits 2" test $? = 2
"$BIN/ade-gen" employees --missing nosuch=0.1 2>/dev/null; check "bad --missing exits 2" test $? = 2
"$BIN/ade-gen" planets 2>/dev/null; check "bad dataset exits 2" test $? = 2

# Plain CSV: types, numpy.
# name is low-cardinality here (categorical by inference); hint it to string to read offsets.
ingest "$T/a.csv" '{"format": "csv", "schema_hints": {"name": "string"}}'
check "plain csv exits 0" test "$RC" = 0
check "2000 rows written" test "$(jget "d['rows_written']")" = 2000
check "salary is float64" test "$(jget "[c['type'] for c in d['schema'] if c['name']=='salary'][0]")" = float64
check "department is categorical" test "$(jget "[c['type'] for c in d['schema'] if c['name']=='department'][0]")" = categorical
check "numpy reads age" $PY -c "
import numpy as np
a = np.load('$T/out/frame/age.npy', mmap_mode='r')
assert a.dtype == np.int64 and a.shape == (2000,) and 22 <= a.min() and a.max() <= 65, a
h = np.load('$T/out/frame/hire_date.npy')
assert h.dtype == np.dtype('<M8[D]')
o = np.load('$T/out/frame/name.offsets.npy'); b = open('$T/out/frame/name.bytes','rb').read()
assert len(o) == 2001 and o[-1] == len(b)
import csv
rows = list(csv.DictReader(open('$T/a.csv', newline='', encoding='utf-8')))
for i in (0, 1, 999, 1999):
    assert b[o[i]:o[i+1]].decode() == rows[i]['name'], (i, rows[i]['name'])
s = np.load('$T/out/frame/salary.npy')
assert all(s[i] == float(rows[i]['salary']) for i in range(2000))
"
HASH=$(jget "d['input_hash']")

# Every compression gives the same frame content.
for c in gz zst xz bz2; do
  "$BIN/ade-gen" employees --rows 2000 --seed 3 --compress $c -o "$T/a.csv.$c"
  ingest "$T/a.csv.$c" '{"format": "csv"}'
  check "$c: exits 0" test "$RC" = 0
  check "$c: same input hash as plain" test "$(jget "d['input_hash']")" = "$HASH"
  check "$c: 2000 rows" test "$(jget "d['rows_written']")" = 2000
done
gzip -c "$T/a.csv" > "$T/std.csv.gz"
ingest "$T/std.csv.gz" '{}'
check "gzip(1) output reads too" test "$(jget "d['input_hash']")" = "$HASH"

# Faults: poison is quarantined, duplicates kept, NDJSON events.
"$BIN/ade-gen" employees --rows 20000 --seed 5 --poison 0.005 --duplicates 0.01 \
  --missing salary=0.02 -o "$T/p.csv"
ingest "$T/p.csv" '{"thresholds": {"warn": "0.1%", "fail": "5%"}}'
check "poisoned csv exits 0" test "$RC" = 0
check "quarantine holds every poison kind" $PY -c "
import json
d = json.load(open('$T/out/result.json'))
q = d['quarantine']['by_reason']
assert q['type_mismatch'] > 0 and q['field_count'] > 0 and q['invalid_utf8'] > 0, q
assert d['rows_read'] == d['rows_written'] + d['rows_quarantined']
lines = [json.loads(l) for l in open('$T/out/quarantine.ndjson')]
assert len(lines) == d['rows_quarantined']
assert all('raw_base64' in l for l in lines if l['reason'] == 'invalid_utf8')
assert [c['type'] for c in d['schema'] if c['name'] == 'age'] == ['int64']
"
ingest "$T/p.csv" '{"thresholds": {"fail": "0.1%"}}'
check "over the fail threshold exits 65" test "$RC" = 65

"$BIN/ade-gen" events --rows 5000 --seed 9 --format ndjson --compress zst \
  --rename user_id=uid --missing amount=0.1 -o "$T/ev.ndjson.zst"
ingest "$T/ev.ndjson.zst" '{}'
check "ndjson.zst exits 0" test "$RC" = 0
check "events typed" $PY -c "
import json, numpy as np
d = json.load(open('$T/out/result.json'))
t = {c['name']: c['type'] for c in d['schema']}
assert t['uid'] == 'int64' and t['event_timestamp'] == 'timestamp' and t['amount'] == 'float64', t
ts = np.load('$T/out/frame/event_timestamp.npy')
assert ts.dtype == np.dtype('<M8[us]') and str(ts[0])[:10] == '2026-01-01'
"

# Exit codes of the stage.
ingest "$T/nosuch.csv" '{}'
check "missing source exits 1" test "$RC" = 1
check "missing source is named" grep -q nosuch.csv "$T/stderr"
ingest "$T/a.csv" '{"delimiter": "x"}'
check "bad config exits 2" test "$RC" = 2
check "bad config names the key" grep -q delimiter "$T/stderr"

if [ "$FAIL" = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit "$FAIL"
