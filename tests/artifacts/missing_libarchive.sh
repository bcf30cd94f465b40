#!/bin/sh
# libarchive is opened on first use (core/larchive.h).  Where it cannot
# be, a run still runs and records its outcome, and says why it is not
# archived; reading an archive fails with the reason and a documented exit
# code; nothing already written is touched.
. "$ADE_SRC/tests/e2e/lib.sh"
SHIM=${ADE_TEST_NO_LIBARCHIVE:?ADE_TEST_NO_LIBARCHIVE must name the preload library}
# The preload comes before ASan's runtime in a sanitized build: allowed here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
cd "$T" || exit 1
cat > p.yaml <<EOF2
pipeline: p
stages: {a: {run: $STAGES/ok.sh}}
EOF2
A=$ADE_HOME/artifacts/p/2026-01-01

case_ "a run without libarchive"
LD_PRELOAD=$SHIM ade run p.yaml --date 2026-01-01 > out 2> err
expect_rc 0 $? "the run succeeds"
expect_grep "p 2026-01-01 run 1: not archived: .*cannot load libarchive.so.13" err "the reason"
check "no archive" test ! -e "$A/run-1.tar.zst"
check "no temporary file left" sh -c "! ls '$A' 2>/dev/null | grep -q tmp"
check "state.db has the run" test "$(sql "select state from runs where run_number=1")" = success

case_ "reading an archive without libarchive"
ade run p.yaml --date 2026-01-01 --force > out 2> err
expect_rc 0 $? "run 2, archived with libarchive"
sum=$(sha256sum "$A/run-2.tar.zst")
LD_PRELOAD=$SHIM ade artifacts verify p --date 2026-01-01 > out 2> err
expect_rc 1 $? "verify fails"
expect_grep "cannot load libarchive.so.13" err "the reason"
check "the archive is untouched" test "$(sha256sum "$A/run-2.tar.zst")" = "$sum"
ade artifacts verify p --date 2026-01-01 > out 2> err
expect_rc 0 $? "with libarchive it verifies"

finish
