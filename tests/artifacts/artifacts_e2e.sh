#!/bin/sh
# Run archives end to end with the employees pipeline: packed when the run
# ends, reproducible bytes, verify (a changed file, a flipped byte, a
# truncated archive), diff, list/show, restore, rollback of the warehouse
# after a bad run, and bad command lines.
. "$ADE_SRC/tests/e2e/lib.sh"
PY=/usr/bin/python3
D=2026-01-01
P=$T/p/employees.yaml
mkdir -p "$T/p/data/employees"
cp "$ADE_SRC/pipelines/employees.yaml" "$P"
"$ADE_BIN/ade-gen" employees --rows 2000 --seed 1 --date $D -o "$T/p/data/employees/$D.csv" >/dev/null 2>&1
A=$ADE_HOME/artifacts/employees/$D

case_ "run 1 is archived"
ade_out "$T/run1" run "$P" --date $D
require "run 1 succeeds" test "$RC" = 0
expect_grep "run 1 archived: " "$T/run1" "the run says where its archive is"
require "the archive exists" test -s "$A/run-1.tar.zst"
ade_out "$T/v1" artifacts verify employees --date $D
expect_rc 0 "$RC" "verify passes"
ade artifacts show employees --date $D > "$T/m1"
expect_grep '"run_number":	1' "$T/m1" "the manifest has the run number"
expect_grep '"pipeline_hash":	"[0-9a-f]\{64\}"' "$T/m1" "the manifest has the pipeline's hash"
expect_grep '"ade_version":' "$T/m1" "the manifest has ade's version"
expect_grep '"sha256":	"[0-9a-f]\{64\}"' "$T/m1" "files have SHA-256"
expect_grep '"path":	"validate/out/frame/salary.npy"' "$T/m1" "the facts frame the warehouse loads is kept"
expect_grep '"path":	"train/out/model.json"' "$T/m1" "the model is kept"
expect_grep '"path":	"quality/out/cleaned.csv"' "$T/m1" "the cleaned dataset is kept"
expect_grep '"path":	"ingest/out/result.json"' "$T/m1" "results are kept"
expect_no_grep '"path":	"ingest/out/frame/' "$T/m1" "the superseded ingest frame is left out"
expect_grep '"excluded":	\["ingest/out/frame", "schema/out/frame", "quality/out/frame"\]' "$T/m1" "the manifest names what it left out"

case_ "reproducible"
ade_out "$T/p1" artifacts pack "$P" --date $D --run 1 --out "$T/x1.tar.zst"; expect_rc 0 "$RC" "pack 1"
ade_out "$T/p2" artifacts pack "$P" --date $D --run 1 --out "$T/x2.tar.zst"; expect_rc 0 "$RC" "pack 2"
check "packing twice gives the same bytes" cmp -s "$T/x1.tar.zst" "$T/x2.tar.zst"
check "and the same bytes as the archive written at run end" cmp -s "$T/x1.tar.zst" "$A/run-1.tar.zst"
ade_out "$T/p3" artifacts pack "$P" --date $D --run 1 --include all --out "$T/x3.tar.zst"
ade_out "$T/p4" artifacts pack "$P" --date $D --run 1 --include all --out "$T/x4.tar.zst"
check "include all is reproducible too (hard links)" cmp -s "$T/x3.tar.zst" "$T/x4.tar.zst"
cp "$T/x3.tar.zst" "$A/run-6.tar.zst"
ade artifacts show employees --date $D --run 6 > "$T/m6"
expect_grep '"path":	"ingest/out/frame/salary.npy"' "$T/m6" "include all keeps the ingest frame"
expect_grep '"same_as":	"ingest/out/frame/age.npy"' "$T/m6" "hard-linked columns are stored once"
ade_out "$T/v6" artifacts verify employees --date $D --run 6
expect_rc 0 "$RC" "verify passes with hard links"
rm -f "$A/run-6.tar.zst"

case_ "verify catches a changed file"
ade_out "$T/r" artifacts restore employees --date $D --to "$T/restored"
require "restore" test "$RC" = 0
check "the restored results equal the run's" cmp -s "$T/restored/train/out/model.json" "$ADE_HOME/runs/employees/$D/run-1/train/out/model.json"
sed 's/"rows_out"/"rows_Out"/' "$T/restored/quality/out/result.json" > "$T/q" && cat "$T/q" > "$T/restored/quality/out/result.json"
$PY "$ADE_SRC/tests/artifacts/repack.py" "$T/restored" "$A/run-7.tar.zst"
ade_out "$T/v7" artifacts verify employees --date $D --run 7
expect_rc 1 "$RC" "verify fails"
expect_grep "changed: quality/out/result.json" "$T/v7" "it names the changed file"
lines=$(grep -c "^changed" "$T/v7")
expect_eq 1 "$lines" "and only that file"

case_ "verify catches a flipped byte and a truncated archive"
cp "$A/run-1.tar.zst" "$A/run-8.tar.zst"
size=$(wc -c < "$A/run-8.tar.zst")
off=$((size / 2))
byte=$(od -An -tu1 -j $off -N1 "$A/run-8.tar.zst" | tr -d ' ')
printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$A/run-8.tar.zst" bs=1 seek=$off conv=notrunc 2>/dev/null
ade_out "$T/v8" artifacts verify employees --date $D --run 8
expect_rc 1 "$RC" "verify fails on a flipped byte"
expect_grep "corrupt\|changed:\|differ" "$T/v8" "with a clear message"
head -c $((size / 2)) "$A/run-1.tar.zst" > "$A/run-9.tar.zst"
ade_out "$T/v9" artifacts verify employees --date $D --run 9
expect_rc 1 "$RC" "verify fails on a truncated archive"
expect_grep "corrupt or truncated" "$T/v9" "and says it is truncated"
rm -f "$A/run-7.tar.zst" "$A/run-8.tar.zst" "$A/run-9.tar.zst"

case_ "a bad run, diff and rollback"
Q="SELECT * FROM employees ORDER BY employee_id"
K="SELECT pipeline, ds, batch, run_id, kpi, value FROM kpi_history ORDER BY kpi"
ade sql --format csv "$Q" > "$T/facts1"
ade sql --format csv "$K" > "$T/kpi1"
require "the warehouse has run 1's rows" test -s "$T/facts1"
"$ADE_BIN/ade-gen" employees --rows 1500 --seed 7 --date $D -o "$T/p/data/employees/$D.csv" >/dev/null 2>&1
ade_out "$T/run2" run "$P" --date $D --force
require "run 2 runs" test "$RC" = 0
ade sql --format csv "$Q" > "$T/facts2"
check "run 2 changed the warehouse" sh -c "! cmp -s '$T/facts1' '$T/facts2'"
ade_out "$T/diff" artifacts diff employees --date $D --run 1 --run 2
expect_rc 0 "$RC" "diff"
expect_grep "^changed: analytics/out/result.json" "$T/diff" "names a changed file"
expect_grep '^    \$.rows_in: 1991 -> 1492' "$T/diff" "and the changed JSON key"
ade_out "$T/rb" rollback employees --date $D --to-run 1
expect_rc 0 "$RC" "rollback"
ade sql --format csv "$Q" > "$T/facts3"
ade sql --format csv "$K" > "$T/kpi3"
check "the facts are run 1's again, exactly" cmp -s "$T/facts1" "$T/facts3"
check "the KPIs are run 1's again, exactly" cmp -s "$T/kpi1" "$T/kpi3"
ade_out "$T/rb2" rollback employees --date $D --to-run 1
expect_rc 0 "$RC" "rollback again"
ade sql --format csv "$Q" > "$T/facts4"
check "idempotent" cmp -s "$T/facts1" "$T/facts4"
n=$(ade sql --format csv "SELECT count(*) FROM employees WHERE ds='$D'" | tail -1 | tr -d '\r ')
expect_eq 1991 "$n" "one copy of the date"
left=$(ls -A "$ADE_HOME/runs/employees/$D" | grep -c rollback)
expect_eq 0 "$left" "no temporary directory left"

case_ "list"
ade_out "$T/l" artifacts list
expect_rc 0 "$RC" "list"
expect_grep "employees *$D *1 *success" "$T/l" "run 1"
expect_grep "employees *$D *2 *success" "$T/l" "run 2"
ade_out "$T/l2" artifacts list nosuch; expect_rc 1 "$RC" "no archives of an unknown pipeline"

case_ "bad arguments"
ade_out "$T/e1" artifacts; expect_rc 2 "$RC" "no subcommand"
ade_out "$T/e2" artifacts verify employees; expect_rc 2 "$RC" "no date"
ade_out "$T/e3" artifacts diff employees --date $D --run 1; expect_rc 2 "$RC" "diff with one run"
ade_out "$T/e4" artifacts show employees --date $D --bogus; expect_rc 2 "$RC" "unknown option"
ade_out "$T/e5" artifacts show employees --date $D --run -1; expect_rc 2 "$RC" "negative run"
ade_out "$T/e6" rollback employees --date $D; expect_rc 2 "$RC" "rollback without --to-run"
ade_out "$T/e7" rollback employees --date $D --to-run 42; expect_rc 1 "$RC" "rollback to a run without archive"
ade_out "$T/e8" artifacts verify employees --date 2025-01-01; expect_rc 1 "$RC" "verify a date without archives"
ade_out "$T/e9" artifacts list --date nope; expect_rc 2 "$RC" "list with a bad date"
case_ "empty files"
# A quiet stage leaves an empty log: packed without being read, hashed as
# the empty string, verified and restored as an empty file.
cat > "$T/p/quiet.yaml" <<EOF2
pipeline: quiet
stages:
  hush: {run: "true"}
EOF2
ade_out "$T/q1" run "$T/p/quiet.yaml" --date $D
require "the quiet run succeeds" test "$RC" = 0
ade artifacts show quiet --date $D > "$T/mq"
expect_grep '"sha256":	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"' "$T/mq" \
  "the empty log has the SHA-256 of nothing"
ade_out "$T/vq" artifacts verify quiet --date $D
expect_rc 0 "$RC" "verify passes"
ade_out "$T/rq" artifacts restore quiet --date $D --to "$T/restored-quiet"
expect_rc 0 "$RC" "restore succeeds"
check "the empty log is restored empty" test -f "$T/restored-quiet/hush/attempt-1.log" -a ! -s "$T/restored-quiet/hush/attempt-1.log"

case_ "folders collected as stages end"
# The run-end archive takes stage folders walked when each stage ended
# for good: a retried stage's every attempt, a failed stage, a stage that
# never ran, and a superseded frame left out must all come out exactly as
# a pack that walks the whole folder.
cat > "$T/p/frame.sh" <<'EOF2'
#!/bin/sh
mkdir -p "$ADE_OUT/frame"
# e1 leaves its frame folder empty: still a frame for the include rule.
[ "$ADE_STAGE" = e1 ] || echo "$ADE_STAGE" > "$ADE_OUT/frame/col.npy"
echo '{"status":"success"}' > "$ADE_OUT/result.json"
echo "wrote a frame"
EOF2
chmod +x "$T/p/frame.sh"
cat > "$T/p/collect.yaml" <<EOF2
pipeline: collect
defaults: {retry_delay: 10ms}
stages:
  f1: {run: $T/p/frame.sh}
  f2: {run: $T/p/frame.sh, needs: [f1]}
  flaky: {run: $STAGES/flaky.sh 2, retries: 1}
  bad: {run: $STAGES/fail.sh, needs: [f1]}
  never: {run: $STAGES/ok.sh, needs: [bad]}
  e1: {run: $T/p/frame.sh}
  e2: {run: $T/p/frame.sh, needs: [e1]}
EOF2
ade_out "$T/c1" run "$T/p/collect.yaml" --date $D
expect_rc 1 "$RC" "the run fails (bad)"
AC=$ADE_HOME/artifacts/collect/$D/run-1.tar.zst
require "the failed run is archived" test -s "$AC"
ade_out "$T/c2" artifacts pack "$T/p/collect.yaml" --date $D --run 1 --out "$T/c.tar.zst"
expect_rc 0 "$RC" "a fresh pack succeeds"
check "the run-end archive equals a pack that walks everything" cmp -s "$AC" "$T/c.tar.zst"
ade artifacts show collect --date $D > "$T/mc"
expect_grep '"path":	"flaky/attempt-1.log"' "$T/mc" "the retried stage's first attempt is archived"
expect_grep '"path":	"flaky/attempt-2.log"' "$T/mc" "and its second"
expect_grep '"path":	"bad/attempt-1.log"' "$T/mc" "the failed stage's log is archived"
expect_grep '"path":	"f2/out/frame/col.npy"' "$T/mc" "the newest frame is kept"
expect_no_grep '"path":	"f1/out/frame/' "$T/mc" "the superseded frame is left out"
expect_grep '"excluded":	\["f1/out/frame", "e1/out/frame"\]' "$T/mc" "an empty superseded frame is named as left out"
ade_out "$T/vc" artifacts verify collect --date $D
expect_rc 0 "$RC" "verify passes"

finish
