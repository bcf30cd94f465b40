#!/bin/sh
# The same date run twice gets run numbers 1 and 2, each in its own
# directory; --only and --from-stage run a part of the pipeline and reuse
# the outputs of the stages it needs from the newest earlier run.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-07-01
cat > o.yaml <<EOF2
pipeline: o
stages:
  a: {run: $STAGES/ok.sh}
  b: {run: $STAGES/ok.sh, needs: [a]}
  c: {run: $STAGES/ok.sh, needs: [b]}
  d: {run: $STAGES/ok.sh}
EOF2
H=$T/home/runs/o/$D

case_ run_twice
ade_out out1 run o.yaml --date $D
expect_rc 0 "$RC" "first run"
expect_grep "^o $D run 1: $H/run-1$" out1 "first run is run 1"
ade_out out2 run o.yaml --date $D
expect_rc 0 "$RC" "second run"
expect_grep "^o $D run 2: $H/run-2$" out2 "second run is run 2"
expect_no_grep "resumed" out2 "a finished run is not resumed"
expect_eq "1|success,2|success" "$(sql "SELECT group_concat(run_number||'|'||state) FROM (SELECT * FROM runs ORDER BY run_number)")" \
  "state.db has runs 1 and 2"
check "run ids differ" test "$(sql "SELECT count(DISTINCT run_id) FROM runs")" = 2
check "each run has its own outputs" test -f "$H/run-1/c/out/out.txt" -a -f "$H/run-2/c/out/out.txt"
expect_eq 2 "$(executions $D a)" "a ran in each run"
expect_grep "^ADE_IN_A=$H/run-2/a/out$" "$H/run-2/b/out/out.txt" "run 2 reads its own upstream outputs"

case_ only
ade_out out run o.yaml --date $D --only b
expect_rc 0 "$RC" "--only b succeeds"
expect_grep "^o $D run 3: " out "is run 3"
expect_eq 3 "$(executions $D b)" "b ran"
expect_eq 2 "$(executions $D a)" "a was not run again"
expect_eq 2 "$(executions $D c)" "c was not run"
expect_eq "success" "$(stage_state o $D 3 a)" "a counts as success ..."
expect_eq "reused" "$(sql "SELECT note FROM stages s JOIN runs r USING(run_id) WHERE run_number=3 AND stage='a'")" "... reused"
expect_eq "skipped" "$(stage_state o $D 3 c)" "c skipped"
expect_eq "skipped" "$(stage_state o $D 3 d)" "d skipped"
expect_grep "^ADE_IN_A=$H/run-2/a/out$" "$H/run-3/b/out/out.txt" "b read a's output of run 2"
check "a was not published again" test ! -e "$H/run-3/a/out"

case_ from_stage
ade_out out run o.yaml --date $D --from-stage b
expect_rc 0 "$RC" "--from-stage b succeeds"
expect_grep "^o $D run 4: " out "is run 4"
expect_eq 4 "$(executions $D b)" "b ran"
expect_eq 3 "$(executions $D c)" "c, downstream of b, ran"
expect_eq 2 "$(executions $D a)" "a reused"
expect_eq 2 "$(executions $D d)" "d, not downstream of b, not run"
expect_eq "success success success skipped" \
  "$(for s in a b c d; do stage_state o $D 4 $s; done | tr '\n' ' ' | sed 's/ $//')" "states of run 4"
# a succeeded last in run 2 (run 3 only reused it).
expect_grep "^ADE_IN_A=$H/run-2/a/out$" "$H/run-4/b/out/out.txt" "b read a from the newest run that produced it"
expect_grep "^ADE_IN_B=$H/run-4/b/out$" "$H/run-4/c/out/out.txt" "c read b from this run"

case_ only_without_earlier_run
ade_out out run o.yaml --date 2026-07-02 --only b
expect_rc 1 "$RC" "--only with nothing to reuse fails"
expect_grep "stage 'a' has no successful output for 2026-07-02 to reuse" out "and says why"
expect_eq 0 "$(executions 2026-07-02 b)" "b did not run"

case_ only_a_root
ade_out out run o.yaml --date 2026-07-02 --only d
expect_rc 0 "$RC" "--only a stage without needs runs on a fresh date"
expect_eq 1 "$(executions 2026-07-02 d)" "d ran"

finish
