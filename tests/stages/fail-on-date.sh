#!/bin/sh
# Test stage: fails (exit 1) when ADE_DS equals the given date, or when the
# file named by ADE_TEST_FAIL_FLAG exists and holds that date.
if [ "$ADE_DS" = "${1:-}" ] && { [ -z "${ADE_TEST_FAIL_FLAG:-}" ] || [ -e "$ADE_TEST_FAIL_FLAG" ]; }; then
  echo "bad data for $ADE_DS" >&2
  exit 1
fi
echo ok > "$ADE_OUT/out.txt"
