# Shared helpers for end-to-end tests; sourced by tests/e2e/*.sh.
# Each test gets a private directory T with its own ade home, removed on
# success and kept (and named) on failure.
set -u
ADE_BIN=${ADE_BIN:?ADE_BIN must point at the bin directory of the build}
ADE_SRC=${ADE_SRC:?ADE_SRC must point at the source tree}
STAGES=$ADE_SRC/tests/stages
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-e2e.XXXXXX")
export ADE_HOME=$T/home
PASS=0
FAIL=0
CURRENT=""

# Runs ade; under ADE_VALGRIND=1 through valgrind, failing on any error.
ade() {
  if [ "${ADE_VALGRIND:-}" = 1 ]; then
    valgrind -q --child-silent-after-fork=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      --log-file="$T/valgrind.%p.log" "$ADE_BIN/ade" "$@"
  else
    "$ADE_BIN/ade" "$@"
  fi
}

case_() { CURRENT=$1; }
ok() { PASS=$((PASS + 1)); echo "ok - $CURRENT${1:+: $1}"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $CURRENT: $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# expect_rc WANT GOT DESCRIPTION
expect_rc() {
  if [ "$1" = "$2" ]; then ok "$3 (exit $2)"; else not_ok "$3: exit $2, wanted $1"; fi
}

# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
  if grep -q -- "$1" "$2"; then ok "$3"; else not_ok "$3: '$1' not in $2:"; sed 's/^/    /' "$2" | head -20; fi
}

# sql QUERY: runs a query on the test home's state.db.
sql() { sqlite3 -batch -noheader "$ADE_HOME/state.db" "$1"; }

# --- helpers added for the scheduler suite -------------------------------

# ok.sh and fail.sh append "DS STAGE ATTEMPT" here for each execution.
mkdir -p "$T/count"
export ADE_TEST_COUNTER_DIR="$T/count"

# Polls get longer under valgrind, where ade starts an order of magnitude slower.
if [ "${ADE_VALGRIND:-}" = 1 ]; then POLL_TRIES=1200; else POLL_TRIES=200; fi

# ade_out FILE ARGS...: runs ade with stdout and stderr into FILE; sets RC.
ade_out() {
  f=$1; shift
  ade "$@" > "$f" 2>&1
  RC=$?
}

# ade_bg FILE ARGS...: starts ade in the background, output into FILE; sets
# BG to its pid.  Not through the ade() function: $! must be ade itself (valgrind
# runs the program in its own process), so that signals reach it.  SIGINT
# is reset to the default, as a non-interactive shell ignores it in
# background commands and ade rightly keeps an inherited SIG_IGN.
ade_bg() {
  f=$1; shift
  if [ "${ADE_VALGRIND:-}" = 1 ]; then
    env --default-signal=INT valgrind -q --child-silent-after-fork=yes --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite --log-file="$T/valgrind.%p.log" \
      "$ADE_BIN/ade" "$@" > "$f" 2>&1 &
  else
    env --default-signal=INT "$ADE_BIN/ade" "$@" > "$f" 2>&1 &
  fi
  BG=$!
}

# wait_for COMMAND...: polls until the command succeeds, at most ~20s (2
# minutes under valgrind).  Returns 1 on time-out; never asserts on time.
wait_for() {
  n=0
  while ! "$@"; do
    n=$((n + 1))
    [ "$n" -ge "$POLL_TRIES" ] && return 1
    sleep 0.1
  done
  return 0
}

# dead PID: the process is gone (or a zombie, which runs nothing).
dead() {
  [ -r "/proc/$1/stat" ] || return 0
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
# all_dead PID...: every one of them is dead.
all_dead() {
  for p in "$@"; do dead "$p" || return 1; done
  return 0
}

# Pids a test started or learnt of, killed when the test ends so that a
# failing test leaves no stray processes behind.
reap_later() { echo "$@" >> "$T/.reap"; }
reap_now() {
  [ -f "$T/.reap" ] || return 0
  for p in $(cat "$T/.reap"); do kill -9 "$p" 2>/dev/null; done
  rm -f "$T/.reap"
}
trap 'reap_now' EXIT

# require DESCRIPTION COMMAND...: like check, but ends the test at once when
# it fails, for preconditions whose failure would only make later steps
# hang or fail confusingly.
require() {
  d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d (precondition; stopping here)"; finish; fi
}

# expect_eq WANT GOT DESCRIPTION
expect_eq() {
  if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3: got '$2', wanted '$1'"; fi
}

# expect_no_grep PATTERN FILE DESCRIPTION
expect_no_grep() {
  if grep -q -- "$1" "$2"; then not_ok "$3: '$1' found in $2:"; sed 's/^/    /' "$2" | head -20
  else ok "$3"; fi
}

# expect_fixed LINE FILE DESCRIPTION: FILE holds exactly this line somewhere.
expect_line() {
  if grep -qxF -- "$1" "$2"; then ok "$3"; else not_ok "$3: no line '$1' in $2:"; sed 's/^/    /' "$2" | head -20; fi
}

# stage_state RUN_SPEC STAGE, attempts_of ..., via state.db.  RUN_SPEC is
# pipeline/ds/N.
run_id_of() {
  sql "SELECT run_id FROM runs WHERE pipeline='$1' AND ds='$2' AND run_number=$3"
}
stage_state() {
  sql "SELECT s.state FROM stages s JOIN runs r USING(run_id) WHERE r.pipeline='$1' AND r.ds='$2' AND r.run_number=$3 AND s.stage='$4'"
}
# attempt_states P DS N STAGE: the states of its attempts, in order, joined by spaces.
attempt_states() {
  sql "SELECT a.state FROM attempts a JOIN runs r USING(run_id) WHERE r.pipeline='$1' AND r.ds='$2' AND r.run_number=$3 AND a.stage='$4' ORDER BY a.attempt" | tr '\n' ' ' | sed 's/ $//'
}

# executions DS STAGE: how often ok.sh (or fail.sh) ran that stage for DS,
# counted in $T/count/executions (ADE_TEST_COUNTER_DIR).
executions() {
  [ -f "$T/count/executions" ] || { echo 0; return; }
  awk -v d="$1" -v s="$2" '$1 == d && $2 == s' "$T/count/executions" | wc -l | tr -d ' '
}

finish() {
  reap_now
  # Valgrind's reports go to their own files, so that a test which does
  # not look at some command's exit code still fails on a memory error.
  for f in "$T"/valgrind.*.log; do
    [ -s "$f" ] || continue
    CURRENT=valgrind; not_ok "errors reported in $f:"; sed 's/^/    /' "$f" | head -40
  done
  echo "$PASS passed, $FAIL failed"
  if [ "$FAIL" -eq 0 ]; then rm -rf "$T"; exit 0; fi
  echo "kept $T for inspection"
  exit 1
}
