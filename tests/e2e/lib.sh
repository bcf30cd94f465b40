# Shared helpers for end-to-end tests; sourced by tests/e2e/*.sh.
# Each test gets a private directory T with its own ade home, removed on
# success and kept (and named) on failure.
set -u
ADE_BIN=${ADE_BIN:?ADE_BIN must point at the build's bin directory}
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
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      "$ADE_BIN/ade" "$@"
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

finish() {
  echo "$PASS passed, $FAIL failed"
  if [ "$FAIL" -eq 0 ]; then rm -rf "$T"; exit 0; fi
  echo "kept $T for inspection"
  exit 1
}
