#!/bin/sh
# Test stage: fails with the given exit code (default 1).
echo "failing on purpose with exit ${1:-1}" >&2
if [ -n "${ADE_TEST_COUNTER_DIR:-}" ]; then
  echo "$ADE_DS $ADE_STAGE $ADE_ATTEMPT" >> "$ADE_TEST_COUNTER_DIR/executions"
fi
exit "${1:-1}"
