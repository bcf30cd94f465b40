#!/bin/sh
# Test stage: succeeds, recording what it saw of the stage contract.
# Usage: ok.sh [SECONDS_TO_SLEEP]
set -eu
[ -n "${1:-}" ] && sleep "$1"
{
  echo "stage=$ADE_STAGE ds=$ADE_DS attempt=$ADE_ATTEMPT run=$ADE_RUN_ID"
  env | grep '^ADE_IN_' | sort || true
} > "$ADE_OUT/out.txt"
echo "stage $ADE_STAGE ran for $ADE_DS"
printf '{"status":"success","stage":"%s","ds":"%s"}\n' "$ADE_STAGE" "$ADE_DS" > "$ADE_OUT/result.json"
# Count executions in a place tests can read, to prove nothing ran twice.
if [ -n "${ADE_TEST_COUNTER_DIR:-}" ]; then
  echo "$ADE_DS $ADE_STAGE $ADE_ATTEMPT" >> "$ADE_TEST_COUNTER_DIR/executions"
fi
