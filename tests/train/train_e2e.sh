#!/bin/sh
# ade-train and ade predict end to end: pipelines run by `ade run`, the
# coefficients checked against numpy.linalg.lstsq on the design matrix the
# shared encoder produces (train_export), the minimum-norm answer for a
# duplicated column, predict reproducing train, split stability, refused
# model files and config errors with FILE:LINE:COLUMN, and the employees
# data recovering ade-gen's true coefficients.
. "$ADE_SRC/tests/e2e/lib.sh"
PY=/usr/bin/python3
EXPORT=$ADE_BIN/train_export
cd "$T" || exit 1
mkdir -p data/syn

# ---- synthetic data: y = 3 + 2 x1 - 0.5 x2 + 1.5 flag + cat effect + N(0, 1) ----
gen() { # gen FILE N SEED [shuffle-half]
  $PY - "$@" <<'EOF'
import sys, numpy as np
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
ids = np.arange(1000, 1000 + n)
x1 = rng.uniform(-5, 5, n); x2 = rng.integers(0, 100, n); fl = rng.random(n) < 0.3
cat = rng.integers(0, 4, n); eff = np.array([0.0, 1.0, -2.0, 4.0])[cat]
y = 3 + 2 * x1 - 0.5 * x2 + 1.5 * fl + eff + rng.normal(0, 1, n)
order = np.arange(n)
if len(sys.argv) > 4:
    order = rng.permutation(n)[: n // 2]
with open(path, "w") as f:
    f.write("id,x1,x2,flag,cat,y,x1b\n")
    for i in order:
        f.write("%d,%.17g,%d,%s,%s,%.17g,%.17g\n" % (ids[i], x1[i], x2[i], "true" if fl[i] else "false",
                "abcd"[cat[i]], y[i], x1[i]))
EOF
}
gen data/syn/2026-03-01.csv 3000 1
gen data/syn/2026-03-02.csv 3000 1 shuffle

cat > syn.yaml <<'EOF'
pipeline: syn
start_date: 2026-03-01
source: data/syn/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  train:
    run: ade-train
    needs: [ingest]
    with: {target: y, numeric: [x1, x2, flag], categorical: [cat], key: id, seed: 7, test_fraction: 0.25}
  train_dup:
    run: ade-train
    needs: [ingest]
    with: {target: y, numeric: [x1, x2, x1b], key: id, seed: 7, standardize: false}
  ridge:
    run: ade-train
    needs: [ingest]
    with: {target: y, numeric: [x1, x2, flag], categorical: [cat], key: id, seed: 7, model: ridge, alpha: 10}
EOF
printf '{"target": "y", "numeric": ["x1", "x2", "flag"], "categorical": ["cat"], "key": "id", "seed": 7, "test_fraction": 0.25}\n' > ols.json
printf '{"target": "y", "numeric": ["x1", "x2", "x1b"], "key": "id", "seed": 7, "standardize": false}\n' > dup.json

case_ "syn pipeline runs"
ade_out run.out run syn.yaml --date 2026-03-01
expect_rc 0 "$RC" "ade run syn"
R1=$ADE_HOME/runs/syn/2026-03-01/run-1
FRAME=$R1/ingest/out/frame

case_ "agreement with numpy.linalg.lstsq"
mkdir -p ex_ols ex_dup
"$EXPORT" "$FRAME" ols.json ex_ols 2>/dev/null && "$EXPORT" "$FRAME" dup.json ex_dup 2>/dev/null
expect_rc 0 $? "train_export"
# the stage and the helper fit the same model
V1=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['model_version'])" "$R1/train/out/model.json")
V2=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['model_version'])" ex_ols/model.json)
expect_eq "$V1" "$V2" "the stage's model is the helper's"
cat > lstsq.py <<'EOF'
import json, sys, numpy as np
d, tol = sys.argv[1], float(sys.argv[2])
m = json.load(open(d + "/model.json"))
X = np.load(d + "/X.npy"); y = np.load(d + "/y.npy"); s = np.load(d + "/split.npy")
tr = (s == 0) & np.isfinite(y)
A = np.hstack([np.ones((tr.sum(), 1)), X[tr]])
# centred columns: the intercept is not part of the minimum norm, as in ade-train
Xc = X[tr] - X[tr].mean(axis=0); yc = y[tr] - y[tr].mean()
b, _, rank, sv = np.linalg.lstsq(Xc, yc, rcond=None)
icpt = y[tr].mean() - X[tr].mean(axis=0) @ b
ours = np.array(m["coefficients"])
err = np.linalg.norm(ours - b) / np.linalg.norm(b)
per = np.max(np.abs(ours - b) / np.maximum(np.abs(b), 1e-3 * np.abs(b).max()))
ierr = abs(m["intercept"] - icpt) / abs(icpt)
print("rank %d normwise %.3g per-coefficient %.3g intercept %.3g" % (rank, err, per, ierr))
sys.exit(0 if err < tol and per < tol * 10 and ierr < tol * 10 and rank == m["model"]["rank"] else 1)
EOF
$PY lstsq.py ex_ols 1e-9 > lstsq_ols.out
expect_rc 0 $? "OLS coefficients agree with lstsq within 1e-9 ($(cat lstsq_ols.out))"
$PY lstsq.py ex_dup 1e-9 > lstsq_dup.out
expect_rc 0 $? "duplicated column: the minimum-norm solution of lstsq ($(cat lstsq_dup.out))"
expect_grep "rank deficient (rank 2 of 3 columns)" "$R1/train_dup/attempt-1.log" "rank deficiency warned in the log"
expect_grep "'x1' and 'x1b' are collinear" "$R1/train_dup/out/result.json" "the collinear pair named in result.json"
expect_grep '"solver":[[:space:]]*"dgelsd"' "$R1/train_dup/out/model.json" "solved with dgelsd"

case_ "result.json for the warehouse"
$PY - "$R1/train/out/result.json" <<'EOF' > res.out 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
rows = {x["metric"]: x["value"] for x in r["model_metrics"]}
assert all(x["model_version"] == r["model_version"] for x in r["model_metrics"])
for k in ("mae", "rmse", "r2", "n_train", "n_test", "baseline_mae"):
    assert k in rows, k
assert rows["n_train"] + rows["n_test"] == 3000
assert rows["mae"] < rows["baseline_mae"] / 5
assert r["datasets"]["inputs"][0]["hash"].startswith("xxh3-128:")
EOF
expect_rc 0 $? "model_metrics rows, metrics and input hash"

case_ "ridge"
$PY - "$R1/train/out/model.json" "$R1/ridge/out/model.json" <<'EOF'
import json, sys, numpy as np
o, r = (json.load(open(p)) for p in sys.argv[1:])
def norm(m):  # standardized coefficients of the numeric columns
    c = np.array(m["coefficients"]); s = np.array(m["standardization"]["scale"])
    return np.linalg.norm((c * s)[:3])
assert r["model"]["kind"] == "ridge" and r["features"][3]["reference"] is None
assert len(r["coefficients"]) == 7
assert norm(r) < norm(o), (norm(r), norm(o))
EOF
expect_rc 0 $? "ridge keeps every level and shrinks"

case_ "predict reproduces train"
ade predict syn --stage train --as-of 2026-03-01 --input data/syn/2026-03-01.csv --out pred.csv 2> pred.err
expect_rc 0 $? "ade predict"
$PY - ex_ols/pred.npy pred.csv <<'EOF'
import sys, numpy as np
p = np.load(sys.argv[1])
lines = open(sys.argv[2]).read().split("\n")
assert lines[0] == "id,prediction", lines[0]
rows = [l.split(",") for l in lines[1:] if l]
ids = np.array([int(r[0]) for r in rows]); q = np.array([float(r[1]) for r in rows])
assert (ids == np.arange(1000, 4000)).all()
d = np.max(np.abs(p - q) / np.abs(p))
assert d <= 1e-12, d
EOF
expect_rc 0 $? "predictions equal the encoder's on the training rows"
expect_grep "3000 rows predicted" pred.err "row count on stderr"
expect_grep "imputed values: 0" pred.err "no imputation"

case_ "predict NDJSON with unseen and missing values"
cat > new.ndjson <<'EOF'
{"id": 1, "x1": 1.0, "x2": 10, "flag": true, "cat": "b"}
{"id": 2, "x1": 1.0, "x2": null, "flag": false, "cat": "zz"}
{"id": 3, "x1": 1.0, "flag": false, "cat": "a"}
EOF
ade predict syn --as-of 2026-03-01 --stage train --input new.ndjson > new.csv 2> new.err
expect_rc 0 $? "ade predict NDJSON"
expect_grep "imputed values: 2 (x2 2)" new.err "two imputed x2 values counted"
expect_grep "unseen categories: 1 (cat 1)" new.err "the unseen category counted"
$PY - "$R1/train/out/model.json" new.csv <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); c = dict(zip(m["columns"], m["coefficients"]))
imp = m["features"][1]["impute"]
want = [m["intercept"] + c["x1"] + 10 * c["x2"] + c["flag"] + c["cat=b"],
        m["intercept"] + c["x1"] + imp * c["x2"],
        m["intercept"] + c["x1"] + imp * c["x2"]]
got = [float(l.split(",")[1]) for l in open(sys.argv[2]).read().split("\n")[1:] if l]
assert all(abs(a - b) < 1e-9 * abs(a) for a, b in zip(want, got)), (want, got)
EOF
expect_rc 0 $? "imputation with the training mean, unseen as the reference"

case_ "split stable across runs and dates"
ade_out run2.out run syn.yaml --date 2026-03-02
expect_rc 0 "$RC" "second date (rows shuffled, half of them)"
mkdir -p ex_2
"$EXPORT" "$ADE_HOME/runs/syn/2026-03-02/run-1/ingest/out/frame" ols.json ex_2 2>/dev/null
$PY - "$FRAME" ex_ols "$ADE_HOME/runs/syn/2026-03-02/run-1/ingest/out/frame" ex_2 <<'EOF'
import sys, numpy as np
def sides(frame, ex):
    ids = np.load(frame + "/id.npy"); s = np.load(ex + "/split.npy")
    return dict(zip(ids.tolist(), s.tolist()))
a = sides(sys.argv[1], sys.argv[2]); b = sides(sys.argv[3], sys.argv[4])
common = set(a) & set(b)
assert len(common) == 1500
assert all(a[i] == b[i] for i in common)
EOF
expect_rc 0 $? "every id on the same side on both dates"
ade_out run3.out run syn.yaml --date 2026-03-01
V3=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['model_version'])" "$ADE_HOME/runs/syn/2026-03-01/run-2/train/out/model.json")
expect_eq "$V1" "$V3" "a rerun of the date gives the same model version"

case_ "ade models"
ade models syn > models.out 2>&1
expect_rc 0 $? "ade models"
expect_grep "run directories" models.out "source named"
expect_grep "^2026-03-02 " models.out "newest date listed"
head -3 models.out | tail -1 | grep -q "^2026-03-02" && ok "newest first" || not_ok "newest first: $(cat models.out)"
ade models syn --json > models.json && $PY -c "import json,sys; a=json.load(open('models.json')); assert len(a) >= 4 and a[0]['ds']=='2026-03-02'"
expect_rc 0 $? "ade models --json"
ade predict syn --model "$(echo "$V1" | cut -c1-8)" --input new.ndjson > /dev/null 2> byver.err
expect_rc 0 $? "predict --model with a version prefix"

case_ "ade models from the warehouse"
# the table as warehouse/schema.sql declares it, filled as ade-warehouse would
sqlite3 "$ADE_HOME/warehouse.db" "CREATE TABLE model_metrics(pipeline TEXT NOT NULL, ds TEXT NOT NULL,
  batch TEXT NOT NULL DEFAULT '', model_version TEXT, metric TEXT NOT NULL, value REAL, run_id TEXT);
  INSERT INTO model_metrics(pipeline, ds, model_version, metric, value) VALUES
  ('syn', '2026-03-01', 'aaaa000011112222', 'mae', 0.8), ('syn', '2026-03-01', 'aaaa000011112222', 'n_test', 750),
  ('syn', '2026-03-02', 'bbbb000011112222', 'mae', 0.7), ('other', '2026-03-02', 'cccc000011112222', 'mae', 1);"
ade models syn > wmodels.out 2>&1
expect_rc 0 $? "ade models"
expect_grep "from the warehouse table model_metrics" wmodels.out "source named"
sed -n 3p wmodels.out | grep -q "^2026-03-02 *- *bbbb000011112222 .* 0.70 " && ok "newest first, one row per version" || not_ok "rows: $(cat wmodels.out)"
expect_no_grep cccc wmodels.out "other pipelines left out"
ade models syn --runs > rmodels.out 2>&1
expect_grep "run directories" rmodels.out "--runs reads the run directories"
rm -f "$ADE_HOME/warehouse.db"

case_ "bad arguments exit 2"
ade predict syn > /dev/null 2>&1; expect_rc 2 $? "no --input"
ade predict > /dev/null 2>&1; expect_rc 2 $? "no pipeline"
ade predict syn --input new.ndjson --as-of 2026-13-01 > /dev/null 2>&1; expect_rc 2 $? "bad date"
ade predict syn --input new.ndjson --as-of 2026-03-01 --model abc > /dev/null 2>&1; expect_rc 2 $? "--model with --as-of"
ade predict syn --input new.ndjson --frobnicate > /dev/null 2>&1; expect_rc 2 $? "unknown option"
ade models > /dev/null 2>&1; expect_rc 2 $? "ade models without a pipeline"
ade predict syn --input new.ndjson > /dev/null 2> amb.err; expect_rc 2 $? "several training stages need --stage"
expect_grep "has 3 models (stages ridge, train, train_dup): choose one with --stage or --model" amb.err "says which"
ade predict syn --stage train --input new.ndjson --as-of 2025-01-01 > /dev/null 2> none.err; expect_rc 1 $? "no model on or before the date"
expect_grep "no model of stage 'train' for pipeline 'syn' on or before 2025-01-01" none.err "says so"

case_ "refused model files"
M=$ADE_HOME/runs/syn/2026-03-02/run-1/train/out/model.json
cp "$M" model.bak
head -c 300 model.bak > "$M"
ade predict syn --stage train --input new.ndjson > /dev/null 2> trunc.err
expect_rc 1 $? "truncated model refused"
expect_grep "truncated" trunc.err "message says truncated"
sed 's/"format_version":[[:space:]]*1/"format_version": 2/' model.bak > "$M"
ade predict syn --stage train --input new.ndjson > /dev/null 2> newer.err
expect_rc 1 $? "newer format version refused"
expect_grep "format version 2; this ade reads versions up to 1: upgrade ade" newer.err "message says upgrade"
cp model.bak "$M"

case_ "bad config through ade run"
bad_config() { # NAME WITH EXPECTED-SUFFIX
  cat > "$1.yaml" <<EOF
pipeline: bad
start_date: 2026-03-01
source: data/syn/{{ ds }}.csv
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  train:
    run: ade-train
    needs: [ingest]
    with: $2
EOF
  ade_out "$1.out" run "$1.yaml" --date 2026-03-01
  expect_rc 1 "$RC" "$1: the run fails"
  expect_grep "train (exit 2)" "$1.out" "$1: ade-train exits 2"
  expect_grep "ade-train: error: $1.yaml:9:$3" "$ADE_HOME/runs/bad/2026-03-01/run-$4/train/attempt-1.log" "$1: FILE:LINE:COLUMN"
}
bad_config alpha '{target: y, numeric: [x1], model: ridge, alpha: -1}' "59: alpha must be a number >= 0" 1
bad_config col '{target: y, numeric: [x1, nope]}' "37: column 'nope' is not in the input frame" 2

case_ "employees: ade-gen's coefficients recovered"
mkdir -p data/employees
"$ADE_BIN/ade-gen" employees --rows 100000 --seed 3 --date 2026-02-01 -o data/employees/2026-02-01.csv
# the employees pipeline with the train stage (ingest, schema, quality, validate, train)
cp "$ADE_SRC/tests/train/employees_train.yaml" emp.yaml
ade_out emp.out run emp.yaml --date 2026-02-01
expect_rc 0 "$RC" "ade run employees + train (100k rows)"
$PY - "$ADE_HOME/runs/employees/2026-02-01/run-1/train/out/model.json" <<'EOF' > emp.check 2>&1
import json, sys
m = json.load(open(sys.argv[1])); c = dict(zip(m["columns"], m["coefficients"]))
true = {"years_experience": 1500, "job_level": 8000, "performance_score": 3000, "age": 200,
        "remote": -2500, "department=Engineering": 10000, "department=Sales": 2000,
        "department=Finance": 6000, "department=HR": -1000, "department=Operations": 0,
        "department=Legal": 8000, "department=Support": -3000}
bad = []
for k, v in true.items():
    # a few percent, or 150 (about 3 standard errors) for the small effects
    if abs(c[k] - v) > max(0.03 * abs(v), 150):
        bad.append((k, c[k], v))
for k in c:
    if k.startswith("city=") and abs(c[k]) > 150:
        bad.append((k, c[k], 0))
me = m["metrics"]
print("residual_std %.1f r2 %.4f mae %.1f baseline %.1f" % (me["residual_std"], me["r2"], me["mae"], me["baseline_mae"]))
assert not bad, bad
assert abs(me["residual_std"] - 4000) < 120, me["residual_std"]
assert me["mae"] < me["baseline_mae"] / 3
EOF
expect_rc 0 $? "within a few percent ($(head -1 emp.check))"

finish
