#!/bin/sh
# ade and its stages start without libarchive (and the libxml2, ICU and
# libstdc++ it brings): core/larchive.c opens it on first use.  A module
# that links libarchive again would make every command and stage start
# slower; this fails then.  The archives themselves are tested elsewhere.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1

for bin in "$ADE_BIN"/ade "$ADE_BIN"/ade-*; do
  [ -x "$bin" ] || continue
  case_ "$(basename "$bin") at start"
  # What the dynamic loader maps before main, as ldd prints it.
  LD_TRACE_LOADED_OBJECTS=1 "$bin" > libs 2>&1
  check "the loader lists its libraries" grep -q "libc.so" libs
  if grep -Eq "libarchive|libxml2|libicu" libs; then
    not_ok "loads $(grep -Eo 'lib(archive|xml2|icu[a-z]*)[^ ]*' libs | tr '\n' ' ')"
  else
    ok "no libarchive, libxml2 or ICU"
  fi
done

# The library is there when it is needed: a run is archived.
cat > p.yaml <<EOF2
pipeline: p
stages: {a: {run: $STAGES/ok.sh}}
EOF2
case_ "archive at a run's end"
ade run p.yaml --date 2026-01-01 > out 2> err
expect_rc 0 $? "run"
check "archive written" test -s "$ADE_HOME/artifacts/p/2026-01-01/run-1.tar.zst"
ade artifacts verify p --date 2026-01-01 > out 2> err
expect_rc 0 $? "archive verified"

finish
