#!/bin/sh
# Retention: keep_runs per date, oldest first, never the last successful run;
# enabled: false packs nothing.
. "$ADE_SRC/tests/e2e/lib.sh"

cat > "$T/flip.sh" <<'SH'
#!/bin/sh
# Fails while $FLAG exists.
echo "result for $ADE_DS" > "$ADE_OUT/report.txt"
[ -e "$ADE_TEST_FLAG" ] && { echo "failing on purpose" >&2; exit 1; }
exit 0
SH
chmod +x "$T/flip.sh"
export ADE_TEST_FLAG="$T/fail-now"
cat > "$T/p.yaml" <<EOF2
pipeline: keep
schedule: "0 2 * * *"
artifacts: {keep_runs: 2}
stages:
  a: {run: $T/flip.sh, retries: 0}
EOF2
D=2026-02-01
A=$ADE_HOME/artifacts/keep/$D

case_ "runs 1 failed, 2 success, 3 failed, 4 failed"
touch "$ADE_TEST_FLAG"; ade_out "$T/o1" run "$T/p.yaml" --date $D --force; expect_rc 1 "$RC" "run 1 fails"
rm -f "$ADE_TEST_FLAG"; ade_out "$T/o2" run "$T/p.yaml" --date $D --force; expect_rc 0 "$RC" "run 2 succeeds"
touch "$ADE_TEST_FLAG"; ade_out "$T/o3" run "$T/p.yaml" --date $D --force; expect_rc 1 "$RC" "run 3 fails"
check "after run 3, runs 2 and 3 are kept" test -e "$A/run-2.tar.zst" -a -e "$A/run-3.tar.zst"
check "run 1 removed after run 3" test ! -e "$A/run-1.tar.zst"
ade_out "$T/o4" run "$T/p.yaml" --date $D --force; expect_rc 1 "$RC" "run 4 fails"
got=$(ls "$A" | tr '\n' ' ')
expect_eq "run-2.tar.zst run-3.tar.zst run-4.tar.zst " "$got" "keep_runs 2 keeps runs 3, 4 and the last successful run 2"
ade artifacts show keep --date $D --run 2 > "$T/show2"
expect_grep '"state":	"success"' "$T/show2" "run 2's manifest says success"
ade artifacts show keep --date $D --run 4 > "$T/show4"
expect_grep '"state":	"failed"' "$T/show4" "run 4's manifest says failed"
expect_grep '"report.txt"\|a/attempt-1.log' "$T/show4" "a failed run's archive holds its log"

case_ "a later success lets the old one go"
rm -f "$ADE_TEST_FLAG"; ade_out "$T/o5" run "$T/p.yaml" --date $D --force; expect_rc 0 "$RC" "run 5 succeeds"
got=$(ls "$A" | tr '\n' ' ')
expect_eq "run-4.tar.zst run-5.tar.zst " "$got" "runs 4 and 5 kept"

case_ "enabled: false"
sed 's/artifacts: {keep_runs: 2}/artifacts: {enabled: false}/; s/pipeline: keep/pipeline: nokeep/' "$T/p.yaml" > "$T/q.yaml"
ade_out "$T/o6" run "$T/q.yaml" --date $D; expect_rc 0 "$RC" "run succeeds"
check "no archive written" test ! -e "$ADE_HOME/artifacts/nokeep"

case_ "bad artifacts section"
sed 's/artifacts: {keep_runs: 2}/artifacts: {keep_runs: 0}/; s/pipeline: keep/pipeline: badkeep/' "$T/p.yaml" > "$T/b.yaml"
ade_out "$T/o7" run "$T/b.yaml" --date $D; expect_rc 0 "$RC" "the run itself is not failed by it"
expect_grep "keep_runs must be" "$T/o7" "the bad value is reported"
finish
