#!/bin/sh
# A backfill whose scheduler is killed with SIGKILL is continued by running
# the same command again: finished dates are skipped, the unfinished one is
# resumed (same run number), the rest run; nothing runs twice.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1

cat > bf.yaml <<EOF2
pipeline: bfr
stages:
  a: {run: $STAGES/ok.sh}
  b: {run: [$STAGES/block.sh, $T/marks, 2, 2026-02-02], needs: [a]}
  c: {run: $STAGES/ok.sh, needs: [b]}
EOF2
# One date at a time, so that where the kill lands is deterministic.
set -- bf.yaml --from 2026-02-01 --to 2026-02-03 -j1 --max-active-runs 1

case_ killed
ade_bg out1 backfill "$@"
reap_later "$BG"
require "2026-02-02's b started" wait_for test -s marks/b.1.pid
ORPHAN=$(cat marks/b.1.pid)
reap_later "$ORPHAN"
kill -9 "$BG"
wait "$BG" 2>/dev/null
expect_rc 137 $? "ade died of SIGKILL"

case_ dry_run
ade_out out backfill "$@" --dry-run
expect_eq "2026-02-01  skip   (succeeded)
2026-02-02  resume (unfinished run)
2026-02-03  run    (never run)
2 dates to run, 1 skipped" "$(cat out)" "finished, unfinished and unstarted dates"

case_ continued
ade_out out backfill "$@"
expect_rc 0 "$RC" "the same command finishes the backfill"
expect_grep "^bfr 2026-02-02 run 1 (resumed): " out "2026-02-02 resumed as run 1"
expect_no_grep "^bfr 2026-02-01 run" out "2026-02-01 not run again"
expect_eq "2026-02-01|1|success,2026-02-02|1|success,2026-02-03|1|success" \
  "$(sql "SELECT group_concat(x) FROM (SELECT ds||'|'||run_number||'|'||state AS x FROM runs ORDER BY ds)")" \
  "three runs, all number 1, all success"
for d in 2026-02-01 2026-02-02 2026-02-03; do
  expect_eq "1 1 1" "$(executions $d a) $(executions $d b) $(executions $d c)" "$d: every stage completed once"
done
check "the orphaned stage was stopped" wait_for dead "$ORPHAN"
check "no attempt-*.tmp left" test -z "$(find "$T/home/runs" -name 'attempt-*.tmp')"

finish
