#!/bin/sh
# Test stage: blocks (until killed) while ADE_ATTEMPT is below UNTIL, then
# behaves as ok.sh.  On start it writes its pid to MARKDIR/STAGE.ATTEMPT.pid
# (renamed into place), so a test can wait for it to run and check it died.
# With DS given, it blocks only when ADE_DS is that date.
# Usage: block.sh MARKDIR [UNTIL [DS]]   (UNTIL default: block on every attempt)
mark=$1; until_attempt=${2:-1000000}
if [ -n "${3:-}" ] && [ "$ADE_DS" != "$3" ]; then
  exec "$(dirname "$0")/ok.sh"
fi
mkdir -p "$mark"
echo $$ > "$mark/$ADE_STAGE.$ADE_ATTEMPT.tmp"
mv "$mark/$ADE_STAGE.$ADE_ATTEMPT.tmp" "$mark/$ADE_STAGE.$ADE_ATTEMPT.pid"
if [ "$ADE_ATTEMPT" -lt "$until_attempt" ]; then
  echo "blocking on attempt $ADE_ATTEMPT"
  # Bounded, so a stage leaked by a broken scheduler ends on its own.
  n=0
  while [ "$n" -lt 3000 ]; do sleep 0.1; n=$((n + 1)); done
  exit 1
fi
exec "$(dirname "$0")/ok.sh"
