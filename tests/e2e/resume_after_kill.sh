#!/bin/sh
# SIGKILL of the scheduler in the middle of a run, then the same command
# again: the run is resumed (same run number, "(resumed)"), stages that
# succeeded are not run again, the orphaned stage is stopped and run again
# as a new attempt, and every stage's output is published exactly once.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-06-01

cat > rs.yaml <<EOF2
pipeline: rs
stages:
  a:    {run: $STAGES/ok.sh}
  b:    {run: $STAGES/ok.sh, needs: [a]}
  slow: {run: [$STAGES/block.sh, $T/marks, 2], needs: [b]}
  c:    {run: $STAGES/ok.sh, needs: [slow]}
EOF2

case_ kill_mid_run
ade_bg out1 run rs.yaml --date $D
reap_later "$BG"
# block.sh writes its pid when attempt 1 runs, then blocks until killed.
require "slow stage started" wait_for test -s marks/slow.1.pid
ORPHAN=$(cat marks/slow.1.pid 2>/dev/null)
reap_later "$ORPHAN"
kill -9 "$BG"
wait "$BG" 2>/dev/null
expect_rc 137 $? "ade died of SIGKILL"
expect_eq "running" "$(sql "SELECT state FROM runs WHERE pipeline='rs'")" "state.db still says running"
check "the orphaned stage outlived ade" kill -0 "$ORPHAN"

case_ resume
ade_out out2 run rs.yaml --date $D
expect_rc 0 "$RC" "the second ade succeeds"
expect_grep "^rs $D run 1 (resumed): " out2 "the run is resumed as run 1"
expect_eq "1|success" "$(sql "SELECT group_concat(run_number||'|'||state) FROM runs WHERE pipeline='rs'")" \
  "one run, number 1, now success"
expect_eq "1" "$(executions $D a)" "a ran once"
expect_eq "1" "$(executions $D b)" "b ran once"
expect_eq "1" "$(executions $D slow)" "slow completed once (attempt 2)"
expect_eq "1" "$(executions $D c)" "c ran once"
expect_no_grep " a started" out2 "a not started again"
expect_no_grep " b started" out2 "b not started again"
expect_eq "failed|scheduler lost,success|" \
  "$(sql "SELECT group_concat(x) FROM (SELECT state||'|'||coalesce(reason,'') AS x FROM attempts WHERE stage='slow' ORDER BY attempt)")" \
  "slow: attempt 1 lost with the scheduler, attempt 2 succeeded"
# c's files were made ahead while slow ran (an empty attempt-1.log): that is
# not an attempt, so c runs as attempt 1.
expect_eq "1|success" \
  "$(sql "SELECT group_concat(attempt||'|'||state) FROM attempts WHERE stage='c' AND run_id=(SELECT run_id FROM runs WHERE pipeline='rs')")" \
  "c: one attempt, number 1"
check "the orphaned attempt was stopped" wait_for dead "$ORPHAN"
R=$T/home/runs/rs/$D/run-1
for s in a b slow c; do
  check "$s published once" test "$(find "$R/$s" -name out -type d | wc -l)" -eq 1
done
check "no run-2 directory" test ! -e "$T/home/runs/rs/$D/run-2"
check "no attempt-*.tmp left anywhere" test -z "$(find "$T/home/runs" -name 'attempt-*.tmp')"
# c read slow's published output of this run.
expect_grep "^ADE_IN_SLOW=$R/slow/out$" "$R/c/out/out.txt" "c's input is slow's single output"

# ade records an attempt just after spawning it (the commit overlaps the
# stage), so a SIGKILL can land between the two.  Simulate that window by
# removing the attempt's record: the resumed run must still find and stop
# the orphan (it holds the attempt's log open) and not reuse its number.
case_ kill_before_record
cat > rs2.yaml <<EOF2
pipeline: rs2
stages:
  a:    {run: $STAGES/ok.sh}
  slow: {run: [$STAGES/block.sh, $T/marks2, 2], needs: [a]}
EOF2
ade_bg out3 run rs2.yaml --date $D
reap_later "$BG"
require "slow stage started" wait_for test -s marks2/slow.1.pid
ORPHAN2=$(cat marks2/slow.1.pid 2>/dev/null)
reap_later "$ORPHAN2"
kill -9 "$BG"
wait "$BG" 2>/dev/null
RID2=$(sql "SELECT run_id FROM runs WHERE pipeline='rs2'")
sql "DELETE FROM attempts WHERE run_id='$RID2' AND stage='slow';
     UPDATE stages SET state='queued', attempts=0 WHERE run_id='$RID2' AND stage='slow'"
ade_out out4 run rs2.yaml --date $D
expect_rc 0 "$RC" "the resumed run succeeds"
check "the unrecorded orphan was stopped" wait_for dead "$ORPHAN2"
expect_eq "failed|scheduler lost,success|" \
  "$(sql "SELECT group_concat(x) FROM (SELECT state||'|'||coalesce(reason,'') AS x FROM attempts WHERE run_id='$RID2' AND stage='slow' ORDER BY attempt)")" \
  "slow: the unrecorded attempt 1 recorded as lost, attempt 2 succeeded"
check "attempt 2 ran as attempt 2" test -s marks2/slow.2.pid

finish
