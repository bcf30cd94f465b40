#!/bin/sh
# Timeouts: a stage that ignores SIGTERM and forks a child that ignores it
# too is killed, with its child, at its timeout (SIGTERM to the group, the
# grace period, then SIGKILL); a stage that exits 0 on SIGTERM still failed.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-04-01

case_ stubborn_killed_with_child
cat > to.yaml <<EOF2
pipeline: to
stages:
  stubborn:
    run: [$STAGES/stubborn.sh, $T/pids]
    timeout: 1s
    timeout_grace: 500ms
  after: {run: $STAGES/ok.sh, needs: [stubborn]}
EOF2
ade_out out run to.yaml --date $D
expect_rc 1 "$RC" "ade exits 1"
check "stubborn.sh wrote its pids" test -s pids
PIDS=$(cat pids 2>/dev/null)
reap_later $PIDS
set -- $PIDS
check "the stage and its child both existed" test $# -eq 2
check "the stage and its child are gone" wait_for all_dead $PIDS
expect_eq "failed" "$(stage_state to $D 1 stubborn)" "stage failed"
expect_eq "9|timeout|failed" "$(sql "SELECT signal||'|'||reason||'|'||state FROM attempts WHERE stage='stubborn'")" \
  "attempt: SIGKILL, reason timeout"
expect_eq "upstream_failed" "$(stage_state to $D 1 after)" "downstream upstream_failed"
expect_grep "FAILED: to $D stubborn (killed by signal 9 (Killed), timeout)" out "reported as a timeout"
check "nothing published" test ! -e "$T/home/runs/to/$D/run-1/stubborn/out"

case_ sigterm_is_enough
# A stage that exits on SIGTERM is not SIGKILLed: the grace is long, the
# recorded signal is 15.  Timeouts are retried like other failures.
cat > polite.yaml <<EOF2
pipeline: polite
stages:
  sleepy: {run: $STAGES/ok.sh 30, timeout: 200ms, timeout_grace: 60s, retries: 1, retry_delay: 50ms}
EOF2
ade_out out run polite.yaml --date $D
expect_rc 1 "$RC" "ade exits 1"
expect_eq "15|timeout|up_for_retry,15|timeout|failed" \
  "$(sql "SELECT group_concat(x) FROM (SELECT signal||'|'||reason||'|'||state AS x FROM attempts WHERE stage='sleepy' ORDER BY attempt)")" \
  "both attempts ended by SIGTERM at the timeout; the timeout was retried"
expect_eq "0" "$(executions $D sleepy)" "the stage never got past its sleep"

case_ exit0_after_timeout
cat > cheat.sh <<'EOF2'
#!/bin/sh
trap 'echo > "$ADE_OUT/out.txt"; exit 0' TERM
while :; do sleep 0.05; done
EOF2
chmod +x cheat.sh
cat > cheat.yaml <<EOF2
pipeline: cheat
stages:
  c: {run: ./cheat.sh, timeout: 200ms, timeout_grace: 60s}
EOF2
ade_out out run cheat.yaml --date $D
expect_rc 1 "$RC" "ade exits 1"
expect_eq "0|timeout|failed" "$(sql "SELECT exit_code||'|'||reason||'|'||state FROM attempts WHERE stage='c'")" \
  "exit 0 after the timeout's SIGTERM is still a timeout"
check "its output is not published" test ! -e "$T/home/runs/cheat/$D/run-1/c/out"

finish
