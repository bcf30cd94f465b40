#!/bin/sh
# Ctrl-C (SIGINT) or SIGTERM to a running `ade run`: the running stages are
# stopped (a stage that ignores SIGTERM is SIGKILLed after its grace),
# marked failed (interrupted), stages not started are not started, and ade
# exits 130.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1

# interrupt SIGNAL DS
interrupt() {
  sig=$1; D=$2
  case_ "$sig"
  rm -rf marks pids
  ade_bg out run in.yaml --date "$D" -j2
  reap_later "$BG"
  require "both stages started" wait_for test -s marks/blocker.1.pid -a -s pids
  PIDS="$(cat marks/blocker.1.pid pids 2>/dev/null)"
  reap_later $PIDS
  kill -"$sig" "$BG"
  wait "$BG"
  expect_rc 130 $? "ade exits 130"
  check "every stage process is gone" wait_for all_dead $PIDS
  for s in blocker stubborn; do
    expect_eq "failed" "$(stage_state inp "$D" 1 $s)" "$s marked failed"
    expect_eq "interrupted" "$(sql "SELECT a.reason FROM attempts a JOIN runs r USING(run_id) WHERE r.ds='$D' AND a.stage='$s'")" \
      "$s's attempt: interrupted"
  done
  expect_eq "1" "$(sql "SELECT count(*) FROM attempts a JOIN runs r USING(run_id) WHERE r.ds='$D' AND a.stage='blocker'")" \
    "an interrupted stage is not retried"
  expect_eq "9" "$(sql "SELECT a.signal FROM attempts a JOIN runs r USING(run_id) WHERE r.ds='$D' AND a.stage='stubborn'")" \
    "the stage that ignores SIGTERM was SIGKILLed"
  expect_eq "0" "$(sql "SELECT count(*) FROM attempts a JOIN runs r USING(run_id) WHERE r.ds='$D' AND a.stage='after'")" \
    "the downstream stage never started"
  expect_no_grep "after started" out "not announced as started either"
  st=$(stage_state inp "$D" 1 after)
  check "the downstream stage is not left queued or running ($st)" test "$st" = failed -o "$st" = upstream_failed
  expect_eq "failed" "$(sql "SELECT state FROM runs WHERE ds='$D'")" "the run is failed, not left running"
  expect_grep "interrupted: stopping running stages" out "ade says it was interrupted"
  check "nothing published" test -z "$(find "$T/home/runs/inp/$D" -name out)"
  check "no attempt output left" test -z "$(find "$T/home/runs/inp/$D" -name 'attempt-*.tmp')"
}

cat > in.yaml <<EOF2
pipeline: inp
stages:
  blocker:  {run: [$STAGES/block.sh, $T/marks], retries: 3, retry_delay: 50ms, retry_on: any}
  stubborn: {run: [$STAGES/stubborn.sh, $T/pids], timeout_grace: 300ms}
  after:    {run: $STAGES/ok.sh, needs: [blocker]}
EOF2

interrupt TERM 2026-08-01
interrupt INT 2026-08-02

case_ next_run
# An interrupted run is over: running the date again starts run 2.
cat > quick.yaml <<EOF2
pipeline: inp
stages:
  blocker:  {run: $STAGES/ok.sh}
  stubborn: {run: $STAGES/ok.sh}
  after:    {run: $STAGES/ok.sh, needs: [blocker]}
EOF2
ade_out out run quick.yaml --date 2026-08-01
expect_rc 0 "$RC" "runs again"
expect_grep "^inp 2026-08-01 run 2: " out "as run 2"

finish
