#!/bin/sh
# Files made ahead: while stages run, the executor's files thread makes
# the folders, private output folders and logs of the stages that come
# next (prep_far in scheduler/exec.c).  A user must see no difference:
# every stage's output published once with its inputs, and no folder for a
# stage that never ran.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-06-01
OK=$STAGES/ok.sh

# chain NAME N [FAILING_STAGE]: a chain of N stages s0..s(N-1), each
# sleeping 20 ms, s7 with a config; the failing one waits for the file
# 'go' and exits 3.
cat > waitfail.sh <<'EOF2'
#!/bin/sh
while [ ! -e "$1" ]; do sleep 0.05; done
exit 3
EOF2
chmod +x waitfail.sh
chain() {
  echo "pipeline: $1"
  echo "stages:"
  echo "  s0: {run: [$OK, 0.02]}"
  i=1
  while [ "$i" -lt "$2" ]; do
    if [ "$i" = "${3:-}" ]; then
      echo "  s$i: {run: [$T/waitfail.sh, $T/go], needs: [s$((i - 1))]}"
    elif [ "$i" = 7 ]; then
      echo "  s$i: {run: [$OK, 0.02], needs: [s$((i - 1))], with: {answer: 42}}"
    else
      echo "  s$i: {run: [$OK, 0.02], needs: [s$((i - 1))]}"
    fi
    i=$((i + 1))
  done
}

case_ chain
chain ahead 40 > ahead.yaml
ADE_LOG=debug ade_out out run ahead.yaml --date $D -j1
expect_rc 0 "$RC" "the chain succeeds"
expect_eq 40 "$(sql "SELECT count(*) FROM stages WHERE state='success'")" "40 stages succeeded"
expect_eq 40 "$(sql "SELECT count(*) FROM attempts WHERE attempt=1 AND state='success'")" \
  "each in one attempt"
# How many depends on how busy the machine is (a stage whose files are
# not made yet when it is due gets them from the executor): at least one.
# That prep_far looks far enough ahead is the failure case's s12 below.
n=$(sed -n 's/.*debug: \([0-9]*\) of 40 attempts started with files the files thread made ahead$/\1/p' out)
check "stages started with files made ahead (${n:-no count} of 40)" test "${n:-0}" -ge 1
R=$T/home/runs/ahead/$D/run-1
check "every stage published once" test "$(find "$R" -name out -type d | wc -l)" -eq 40
check "no attempt-*.tmp left" test -z "$(find "$R" -name 'attempt-*.tmp')"
expect_grep "^ADE_IN_S38=$R/s38/out$" "$R/s39/out/out.txt" "s39's input is s38's output"
expect_eq "stage=s39 ds=$D attempt=1 run=$(run_id_of ahead $D 1)" "$(head -1 "$R/s39/out/out.txt")" \
  "s39 saw its own stage, attempt and run"

case_ failure
D=2026-06-02
chain fails 30 5 > fails.yaml
ade_bg out2 run fails.yaml --date $D -j1
reap_later "$BG"
R=$T/home/runs/fails/$D/run-1
# While s5 waits, the stages after it have their files made ahead ...
check "s12's files were made while s5 ran" wait_for test -e "$R/s12/attempt-1.log"
expect_grep '"answer": *42' "$R/s7/config.json" "s7's config too"
touch go
wait "$BG"
expect_rc 1 $? "the run fails"
expect_eq 24 "$(sql "SELECT count(*) FROM stages WHERE state='upstream_failed'")" \
  "s6..s29 are upstream_failed"
# ... and once s5 has failed, nothing of them is left.
check "no folder for a stage that never ran" test ! -e "$R/s6" -a ! -e "$R/s7" -a ! -e "$R/s12" -a ! -e "$R/s29"
check "s5 keeps its log" test -f "$R/s5/attempt-1.log"
check "s5 published nothing" test ! -e "$R/s5/out"
check "s4 published its output" test -f "$R/s4/out/result.json"
expect_eq 5 "$(awk -v d=$D '$1 == d' count/executions | wc -l | tr -d ' ')" "only s0..s4 ran ok.sh"

finish
