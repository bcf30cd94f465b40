#!/bin/sh
# ade artifacts restore refuses hostile archives: absolute paths, '..',
# symlinks and hard links out of the target, writes through a symlink,
# devices and FIFOs.  Nothing is left behind: no target, no temporary
# directory, no file outside.
. "$ADE_SRC/tests/e2e/lib.sh"
PY=/usr/bin/python3
require "python3 is installed" test -x $PY

D=2026-03-01
A=$ADE_HOME/artifacts/evil/$D
mkdir -p "$A" "$T/outside"
n=0
for kind in absolute dotdot symlink_abs symlink_up symlink_then_file symlink_dotdot_inside \
            hardlink_out hardlink_dotdot device fifo duplicate; do
  n=$((n + 1))
  case_ "$kind"
  case $kind in
    absolute) arg=$T/outside/pwned-abs ;;
    *) arg=outside/pwned-$kind ;;
  esac
  $PY "$ADE_SRC/tests/artifacts/hostile.py" "$A/run-$n.tar.zst" $kind "$arg" || { not_ok "cannot build the archive"; continue; }
  mkdir -p "$T/r$n"
  ade_out "$T/out-$kind" artifacts restore evil --date $D --run $n --to "$T/r$n/target"
  expect_rc 1 "$RC" "refused"
  expect_grep "refusing to restore" "$T/out-$kind" "the message says why"
  check "no target left" test ! -e "$T/r$n/target"
  left=$(ls -A "$T/r$n")
  expect_eq "" "$left" "no temporary directory left"
  left=$(ls -A "$T/outside")
  expect_eq "" "$left" "nothing written outside"
done
check "nothing written to /etc" test ! -e /etc/ade-hostile-test

case_ "links that stay inside are restored"
n=$((n + 1))
$PY "$ADE_SRC/tests/artifacts/hostile.py" "$A/run-$n.tar.zst" fine x
ade_out "$T/out-fine" artifacts restore evil --date $D --run $n --to "$T/fine"
expect_rc 0 "$RC" "restored"
expect_eq "{}" "$(cat "$T/fine/ok/link")" "a relative symlink inside works"
expect_eq "{}" "$(cat "$T/fine/ok/hard")" "a hard link inside works"

case_ "bad arguments"
ade_out "$T/b1" artifacts restore evil; expect_rc 2 "$RC" "no --date"
ade_out "$T/b2" artifacts restore --date $D; expect_rc 2 "$RC" "no pipeline"
ade_out "$T/b3" artifacts restore evil --date 2026-13-01; expect_rc 2 "$RC" "bad date"
ade_out "$T/b4" artifacts restore evil --date $D --run zero; expect_rc 2 "$RC" "bad run number"
ade_out "$T/b5" artifacts frobnicate; expect_rc 2 "$RC" "unknown subcommand"
ade_out "$T/b6" artifacts restore ../x --date $D; expect_rc 2 "$RC" "a path as a pipeline name"
ade_out "$T/b7" artifacts restore evil --date $D --run 99; expect_rc 1 "$RC" "missing archive"
ade_out "$T/b8" artifacts restore evil --date $D --run 1 --to "$T/outside"; expect_rc 1 "$RC" "existing target"
finish
