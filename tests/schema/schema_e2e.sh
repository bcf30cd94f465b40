#!/bin/sh
# End-to-end: ade-gen events through `ade run` (ingest -> schema) over
# three days.  Day 1 is loaded into a warehouse's schema_versions table the
# way the warehouse stage will; day 2 renames user_id to uid (the seed's
# case) and is healed back; the same day under on_change: fail exits 65
# naming the change; a bad `with:` value is refused with file:line:column.
set -u
BIN=${ADE_BIN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-schema-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
cd "$T" || exit 1

mkdir data
"$BIN/ade-gen" events --rows 3000 --seed 1 --date 2026-01-01 -o data/2026-01-01.csv
"$BIN/ade-gen" events --rows 3000 --seed 2 --date 2026-01-02 --rename user_id=uid -o data/2026-01-02.csv
"$BIN/ade-gen" events --rows 3000 --seed 3 --date 2026-01-03 --drop-column device -o data/2026-01-03.csv

pipeline() { # NAME POLICY
  cat > "$1.yaml" <<EOF
pipeline: ev
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  schema:
    run: ade-schema
    needs: [ingest]
    with:
      on_change: $2
EOF
}
out() { echo "$T/h/runs/ev/$1/run-$2/schema/out"; }
jget() { $PY -c "import json; d=json.load(open('$1')); print($2)"; }
# load DS RUN: what the warehouse stage does with ade-schema's result.json.
load() {
  $PY - "$T/h/warehouse.db" "$(out "$1" "$2")/result.json" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); r = json.load(open(sys.argv[2]))
db.execute("CREATE TABLE IF NOT EXISTS schema_versions(pipeline TEXT, ds TEXT, dataset TEXT, "
           "version INTEGER, hash TEXT, schema_json TEXT, PRIMARY KEY(pipeline, ds, dataset))")
db.execute("INSERT OR REPLACE INTO schema_versions VALUES (?,?,?,?,?,?)",
           (r["pipeline"], r["ds"], r["dataset"], r["schema_version"], r["schema_hash"],
            json.dumps(r["schema"])))
db.commit()
EOF
}

pipeline heal heal
pipeline fail fail

"$BIN/ade" --home h run heal.yaml --date 2026-01-01 >log1 2>&1
check "day 1 runs" test $? = 0
R1=$(out 2026-01-01 1)/result.json
check "day 1 is the first version" test "$(jget "$R1" "d['decision']")" = first_version
load 2026-01-01 1

# Day 2: uid is user_id renamed; heal maps it back.
"$BIN/ade" --home h run heal.yaml --date 2026-01-02 >log2 2>&1
check "day 2 heals" test $? = 0
R2=$(out 2026-01-02 1)/result.json
check "baseline is the warehouse's 2026-01-01" test "$(jget "$R2" "d['baseline']['warehouse']['ds']")" = 2026-01-01
check "decision healed" test "$(jget "$R2" "d['decision']")" = healed
check "rename uid -> user_id recorded with confidence" $PY -c "
import json; d = json.load(open('$R2'))
h = d['healing']
assert len(h) == 1 and h[0]['from'] == 'uid' and h[0]['to'] == 'user_id', h
assert 0.9 <= h[0]['confidence'] <= 1 and h[0]['evidence']['components'] >= 3, h
assert d['schema_version'] == 1, d['schema_version']
"
check "output frame has user_id with uid's values, hard-linked" $PY -c "
import json, os, numpy as np
o = '$(out 2026-01-02 1)/frame'; i = '$T/h/runs/ev/2026-01-02/run-1/ingest/out/frame'
s = json.load(open(o + '/schema.json'))
names = [c['name'] for c in s['columns']]
assert names == ['event_id', 'event_timestamp', 'event_type', 'user_id', 'amount', 'device'], names
f = [c for c in s['columns'] if c['name'] == 'user_id'][0]['files']['data']
assert (np.load(o + '/' + f) == np.load(i + '/uid.npy')).all()
assert os.stat(o + '/' + f).st_ino == os.stat(i + '/uid.npy').st_ino
"
load 2026-01-02 1

# The same day under fail: exit 65, and the log says what changed.
"$BIN/ade" --home h run fail.yaml --date 2026-01-02 >log3 2>&1
check "fail policy fails the run" test $? != 0
check "schema stage exited 65" grep -q "schema (exit 65)" log3
LOG=$(ls "$T"/h/runs/ev/2026-01-02/run-*/schema/attempt-1.log | tail -1)
check "the log names the rename" grep -q "renamed 'user_id'" "$LOG"

# Day 3: device dropped; heal fills it with nulls (it was optional).
"$BIN/ade" --home h run heal.yaml --date 2026-01-03 >log4 2>&1
check "day 3 runs" test $? = 0
R3=$(out 2026-01-03 1)/result.json
check "day 3 compares with day 2, the latest earlier date" test "$(jget "$R3" "d['baseline']['warehouse']['ds']")" = 2026-01-02
check "device filled with nulls" test "$(jget "$R3" "[c['action'] for c in d['changes'] if c['column']=='device'][0]")" = filled

# A bad value in `with:` is refused with the pipeline file's line and column.
pipeline bad sometimes
"$BIN/ade" --home h run bad.yaml --date 2026-01-01 >log5 2>&1
check "bad config fails the run" test $? != 0
check "schema stage exited 2" grep -q "schema (exit 2)" log5
check "message has bad.yaml:11:18" grep -q "bad.yaml:11:18: on_change must be fail, evolve or heal" log5

if [ "$FAIL" = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit $((FAIL > 0))
