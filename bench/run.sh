#!/bin/sh
# Runs every benchmark: each bench/*/run.sh in turn (`make bench` calls this).
# Environment variables are passed through (ADE=, N=, REPS=, RECORD=1, ...;
# see each benchmark's run.sh).  Exits non-zero if any benchmark failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
status=0
found=0
for script in "$here"/*/run.sh; do
	[ -f "$script" ] || continue
	found=1
	name=$(basename "$(dirname "$script")")
	echo "==> bench/$name" >&2
	if ! sh "$script"; then
		echo "==> bench/$name FAILED" >&2
		status=1
	fi
done
[ "$found" = 1 ] || { echo "bench: no bench/*/run.sh found" >&2; exit 1; }
exit $status
