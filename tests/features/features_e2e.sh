#!/bin/sh
# End-to-end: ade-features through `ade run` and `ade backfill` with real
# pipeline files, and `ade features list|get`.
#  - a backfill with -j2 over four dates (two with identical data) stores
#    three snapshots, one per distinct content, and indexes four dates;
#  - a rerun of a date keeps its version and hash; a changed value changes it;
#  - `get --as-of` picks the latest date on or before D, and a date before
#    the first snapshot is an error (exit 1);
#  - the encoding matches an independent numpy computation, and the CSV
#    output reads back to exactly the stored float64 values;
#  - bad configuration is refused with FILE:LINE:COL (stage exit 2), bad
#    command lines exit 2.
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-features-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
expect_rc() { if [ "$1" = "$2" ]; then ok "$3 (exit $2)"; else bad "$3: exit $2, wanted $1"; fi; }
cd "$T" || exit 1
H=$T/home
ade() { "$BIN/ade" --home "$H" "$@"; }

mkdir data
"$BIN/ade-gen" employees --rows 2000 --seed 5 --date 2026-01-01 --missing age=0.01 -o a.csv || exit 1
"$BIN/ade-gen" employees --rows 1500 --seed 6 --date 2026-01-03 -o b.csv || exit 1
cp a.csv data/2026-01-01.csv
cp a.csv data/2026-01-02.csv   # same data on another date
cp b.csv data/2026-01-03.csv
# a.csv with one salary changed in its third data line
awk -F, 'NR == 4 { sub(/[0-9.]+$/, "12345.67") } { print }' a.csv > data/2026-01-04.csv
check "the changed copy differs from a.csv" sh -c '! cmp -s a.csv data/2026-01-04.csv'

# pipeline NAME WITH_LINES: ingest -> features, WITH_LINES after "with:".
pipeline() {
  {
    printf 'pipeline: ft\nsource: data/{{ ds }}.csv\nstages:\n'
    printf '  ingest: {run: ade-ingest}\n'
    printf '  features:\n    run: ade-features\n    needs: [ingest]\n    with:\n'
    printf '%s\n' "$2"
  } > "$1.yaml"
}
GOOD='      target: salary
      key: employee_id
      numeric: [age, years_experience, job_level, performance_score, remote]
      categorical: [department]
      reference: {department: Marketing}'
pipeline ft "$GOOD"

# --- a parallel backfill -------------------------------------------------
ade backfill ft.yaml --from 2026-01-01 --to 2026-01-04 --max-active-runs 2 -j2 > bf.out 2>&1
RC=$?
expect_rc 0 $RC "backfill -j2 over four dates"
[ $RC = 0 ] || sed 's/^/    /' bf.out

S=$H/features/ft
check "index lists four dates, three snapshots, versions 1-3, no leftovers" $PY - "$S" <<'EOF'
import json, os, sys
s = sys.argv[1]
idx = json.load(open(os.path.join(s, "index.json")))
dates = idx["dates"]; snaps = idx["snapshots"]
assert [d["ds"] for d in dates] == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"], dates
assert len(snaps) == 3, snaps
assert sorted(x["version"] for x in snaps) == [1, 2, 3]
by = {d["ds"]: d for d in dates}
assert by["2026-01-01"]["hash"] == by["2026-01-02"]["hash"]
assert by["2026-01-01"]["version"] == by["2026-01-02"]["version"]
assert by["2026-01-04"]["hash"] != by["2026-01-01"]["hash"]
dirs = [e for e in os.listdir(s) if not e.startswith(".") and e != "index.json"]
assert len(dirs) == 3, dirs
for x in snaps:
    sch = json.load(open(os.path.join(s, x["dir"], "schema.json")))
    assert sch["content_hash"] == x["hash"], (sch["content_hash"], x)
    assert x["hash"].endswith(x["dir"])
assert not [e for e in os.listdir(s) if e.startswith(".incoming")]
EOF

man() { ls "$H"/runs/ft/"$1"/run-"$2"/features/out/manifest.json; }
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
M1=$(man 2026-01-01 1)
check "result.json carries the feature_versions row" $PY - "$H/runs/ft/2026-01-01/run-1/features/out/result.json" "$M1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
fv = r["feature_versions"]
assert len(fv) == 1
assert fv[0] == {"pipeline": "ft", "ds": "2026-01-01", "version": m["version"],
                 "hash": m["hash"], "rows": 2000, "columns": 14}, fv
assert m["rows"] == 2000 and m["columns"] == 14
assert m["column_names"][0] == "employee_id" and m["column_names"][-1] == "salary"
assert "department=Marketing" not in m["column_names"]
assert "department=Engineering" in m["column_names"]
EOF

# --- rerun: same version and hash ----------------------------------------
ade run ft.yaml --date 2026-01-01 --force > rerun.out 2>&1
expect_rc 0 $? "rerun of 2026-01-01"
M2=$(man 2026-01-01 2)
check "rerun keeps the hash" [ "$(field "$M1" hash)" = "$(field "$M2" hash)" ]
check "rerun keeps the version" [ "$(field "$M1" version)" = "$(field "$M2" version)" ]
check "a changed value changes the hash" \
  [ "$(field "$(man 2026-01-04 1)" hash)" != "$(field "$M1" hash)" ]

# --- list -----------------------------------------------------------------
ade features list ft > list.out 2>&1
expect_rc 0 $? "features list"
check "list shows four dates" [ "$(grep -c '^2026-01-0' list.out)" = 4 ]
check "list shows the hash of 2026-01-01" grep -q "^2026-01-01 .*$(field "$M1" hash)" list.out

# --- point in time ---------------------------------------------------------
ade features get ft --as-of 2025-12-31 > early.out 2> early.err
expect_rc 1 $? "as-of before the first snapshot"
check "it says so" grep -q "no feature snapshot of 'ft' on or before 2025-12-31" early.err
check "and prints no CSV" [ ! -s early.out ]
ade features get ft --as-of 2026-01-03 --out mid.csv 2> mid.err
expect_rc 0 $? "as-of 2026-01-03"
check "picks 2026-01-03" grep -q "snapshot of 2026-01-03" mid.err
ade features get ft --as-of 2026-06-30 --out late.csv 2> late.err
check "a later as-of picks the newest date (2026-01-04)" grep -q "snapshot of 2026-01-04" late.err
ade features get ft --as-of 2026-01-02 > jan2.csv
expect_rc 0 $? "CSV to stdout"
check "1500 rows + header for 2026-01-03" [ "$(wc -l < mid.csv)" = 1501 ]
ade features get ft --as-of 2026-01-03 --format frame --out snapframe 2> /dev/null
expect_rc 0 $? "get --format frame"
check "the frame copy has the snapshot's hash" [ "$($PY -c 'import json;print(json.load(open("snapframe/schema.json"))["content_hash"])')" = \
  "$(field "$(man 2026-01-03 1)" hash)" ]

# --- the encoding and the CSV round trip ---------------------------------
check "CSV round-trips exactly and the encoding matches numpy" $PY - jan2.csv "$S" a.csv <<'EOF'
import csv, json, os, sys
import numpy as np
csvp, store, src = sys.argv[1:4]
idx = json.load(open(os.path.join(store, "index.json")))
d = [x for x in idx["dates"] if x["ds"] == "2026-01-02"][0]
snap = [x for x in idx["snapshots"] if x["hash"] == d["hash"]][0]
fdir = os.path.join(store, snap["dir"])
sch = json.load(open(os.path.join(fdir, "schema.json")))
rows = list(csv.reader(open(csvp, newline="")))
head, body = rows[0], rows[1:]
assert head == [c["name"] for c in sch["columns"]], head
assert len(body) == 2000
for j, c in enumerate(sch["columns"]):
    a = np.load(os.path.join(fdir, c["files"]["data"]), mmap_mode="r")
    for i, r in enumerate(body):
        v = r[j]
        if c["type"] == "int64":
            assert int(v) == int(a[i])
        else:
            assert float(v) == float(a[i]) and len(v) <= 24, (c["name"], i, v, a[i])
# the encoding, recomputed from the source CSV
src_rows = list(csv.DictReader(open(src, newline="")))
col = {c["name"]: np.load(os.path.join(fdir, c["files"]["data"])) for c in sch["columns"]}
age = np.array([float(r["age"]) if r["age"] else np.nan for r in src_rows])
assert np.isnan(age).sum() > 0
imputed = np.where(np.isnan(age), np.nanmean(age), age)
assert np.allclose(col["age"], imputed, rtol=0, atol=1e-9)
remote = np.array([1.0 if r["remote"] == "true" else 0.0 for r in src_rows])
assert np.array_equal(col["remote"], remote)
levels = sorted({r["department"] for r in src_rows})
for lv in levels:
    name = "department=" + lv
    if lv == "Marketing":
        assert name not in col
        continue
    want = np.array([1.0 if r["department"] == lv else 0.0 for r in src_rows])
    assert np.array_equal(col[name], want), lv
assert np.array_equal(col["salary"], np.array([float(r["salary"]) for r in src_rows]))
EOF

# standardized: long floats, checked against numpy and read back from CSV
pipeline st "      target: salary
      numeric: [age, performance_score]
      categorical: [job_level]
      standardize: true"
sed -i 's/^pipeline: ft/pipeline: st/' st.yaml
ade run st.yaml --date 2026-01-03 > st.out 2>&1
expect_rc 0 $? "standardized run"
ade features get st --as-of 2026-01-03 > st.csv
check "standardized values: population sd, exact CSV round trip" $PY - st.csv b.csv <<'EOF'
import csv, sys
import numpy as np
rows = list(csv.reader(open(sys.argv[1], newline="")))
src = list(csv.DictReader(open(sys.argv[2], newline="")))
head, body = rows[0], rows[1:]
assert head[:2] == ["age", "performance_score"] and head[-1] == "salary", head
assert head[2:-1] == ["job_level=%d" % k for k in range(2, 6)], head  # level 1 dropped
for j, name in enumerate(["age", "performance_score"]):
    x = np.array([float(r[name]) for r in src])
    z = (x - x.mean()) / x.std()
    got = np.array([float(r[j]) for r in body])
    assert np.allclose(got, z, rtol=0, atol=1e-12), name
    assert abs(got.mean()) < 1e-12 and abs(got.std() - 1) < 1e-12
EOF

# --- bad configuration, through ade run ------------------------------------
# refused NAME WITH_LINES WANT: the stage exits 2 and its log says WANT.
refused() {
  pipeline "$1" "$2"
  rm -rf "$T/h2"
  out=$("$BIN/ade" --home "$T/h2" run "$1.yaml" --date 2026-01-01 2>&1)
  if ! printf '%s\n' "$out" | grep -q "features (exit 2)"; then
    bad "$1: stage exits 2 (got: $out)"
    return
  fi
  got=$(grep '^ade-features: error: ' "$T"/h2/runs/ft/2026-01-01/run-1/features/attempt-1.log)
  if [ "$got" = "ade-features: error: $3" ]; then ok "$1: $3"
  else bad "$1: want '$3', got '$got'"; fi
}
refused bad_std '      target: salary
      numeric: [age]
      standardize: maybe' "bad_std.yaml:11:20: standardize must be true or false"
refused bad_col '      target: salary
      numeric: [age, agee]' "bad_col.yaml:10:22: column 'agee' is not in the input frame"
refused no_target '      numeric: [age]' "no_target.yaml:9:7: ade-features needs target: the column to predict"
refused target_feature '      target: salary
      numeric: [age, salary]' "target_feature.yaml:10:22: 'salary' is the target; it cannot be a feature"
refused bad_key '      target: salary
      numeric: [age]
      colour: red' "bad_key.yaml:11:15: unknown key 'colour' (ade-features takes target, numeric, categorical, key, standardize, reference, input)"
refused bad_ref '      target: salary
      categorical: [department]
      reference: {department: Nope}' "bad_ref.yaml:11:31: the reference is not a level of 'department' on this date"
refused bad_type '      target: salary
      numeric: [name]' "bad_type.yaml:10:17: column 'name' is categorical; numeric features must be int64, float64 or bool"

# --- bad command lines -------------------------------------------------------
cli() { want=$1; shift; ade "$@" > cli.out 2>&1; expect_rc "$want" $? "ade $*"; }
cli 2 features
cli 2 features frob
cli 2 features list
cli 2 features list ft extra
cli 2 features get ft
cli 2 features get ft --as-of 2026-13-01
cli 2 features get ft --as-of 2026-01-01 --format xml
cli 2 features get ft --as-of 2026-01-01 --format frame
cli 2 features get ft --as-of 2026-01-01 --format frame --out snapframe
cli 2 features get ft --as-of 2026-01-01 --bogus
cli 2 features get ../ft --as-of 2026-01-01
cli 1 features list nosuch
cli 1 features get nosuch --as-of 2026-01-01
ade features get ft > cli.out 2>&1
check "a usage error prints the usage" grep -q "^usage: ade features list PIPELINE" cli.out

if [ "$FAIL" -eq 0 ]; then echo "all passed"; rm -rf "$T"; exit 0; fi
echo "$FAIL failed; kept $T"
exit 1
