#!/bin/sh
# Test stage: fails with CODE (default 75) until attempt N, then succeeds.
# Usage: flaky.sh N [CODE]
n=${1:-2}; code=${2:-75}
if [ "$ADE_ATTEMPT" -lt "$n" ]; then
  echo "attempt $ADE_ATTEMPT of $n: temporary failure" >&2
  exit "$code"
fi
echo "attempt $ADE_ATTEMPT succeeded"
echo ok > "$ADE_OUT/out.txt"
