#!/bin/sh
# bench/stream: `ade stream` replaying ROWS employee rows in 200-row batches
# (in-process stages: ingest -> quality -> validate -> warehouse, one
# checkpoint per batch), next to the same rows as ONE batch through the
# same stages (`ade stream --batch-rows ROWS`) and through `ade run` of the
# whole 8-stage employees pipeline (a process per stage).  Prints rows/s,
# p50/p99/max batch latency (from ade's summary line, which are also in
# state.db stream_batches.latency_ms), wall time and peak RSS
# (/usr/bin/time -v).
#
# The streamed day has a quality baseline, as in production: the previous
# day (generated the same way) is run first with `ade run` in the stream's home, so
# every batch applies that run's medians and IQR fences (docs/stream.md).
#
# Environment:
#   ADE_BIN=build/bin   where ade and ade-gen are
#   ROWS=1000000        rows of the day
#   BATCH=200           rows per micro-batch
#   PROFILE=1           print the per-phase breakdown of the streamed run
#                       (ADE_STREAM_PROFILE, docs/stream.md)
#   KEEP=1              keep the work directory
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ADE_BIN:-$ROOT/build/bin}
ROWS=${ROWS:-1000000}
BATCH=${BATCH:-200}
D=2026-04-01
PREV=2026-03-31
W=$(mktemp -d "${TMPDIR:-/tmp}/ade-bench-stream.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
mkdir -p "$W/data"
# The shipped pipeline has a stream: section; this one streams without schema.
sed -e 's|^source: .*|source: data/{{ ds }}.csv|' -e '/^stream:/d' "$ROOT/pipelines/employees.yaml" > "$W/p.yaml"
echo "stream: {stages: [ingest, quality, validate, warehouse], batch_rows: $BATCH}" >> "$W/p.yaml"
"$BIN/ade-gen" employees --rows "$ROWS" --seed 1 --date $D --duplicates 0.01 --poison 0.001 \
	-o "$W/data/$D.csv"
"$BIN/ade-gen" employees --rows "$ROWS" --seed 1 --date $PREV --duplicates 0.01 --poison 0.001 \
	-o "$W/data/$PREV.csv"
echo "rows: $ROWS; batch: $BATCH; $(nproc) cores; $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # label, home, command...
	label=$1; home=$2; shift 2
	s=$(date +%s%N)
	/usr/bin/time -v -o "$W/time.$label" "$@" > "$W/out.$label" 2>"$W/err.$label" ||
		{ echo "$label failed"; cat "$W/err.$label"; exit 1; }
	e=$(date +%s%N)
	rss=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$W/time.$label")
	secs=$(echo "$s $e" | awk '{printf "%.2f", ($2 - $1) / 1e9}')
	rows=$(sqlite3 "$home/warehouse.db" "select count(*) from employees where ds='$D'")
	echo "$label: wall ${secs}s, $(echo "$ROWS $secs" | awk '{printf "%.0f", $1 / $2}') source rows/s, peak RSS $((rss / 1024)) MB, $rows rows loaded"
	grep -h "batches" "$W/out.$label" || true
}
"$BIN/ade" -q --home "$W/s" run "$W/p.yaml" --date $PREV > /dev/null 2>&1 || { echo "baseline run failed"; exit 1; }
if [ -n "${PROFILE:-}" ]; then export ADE_STREAM_PROFILE=1; fi
run stream "$W/s" "$BIN/ade" -q --home "$W/s" stream "$W/p.yaml" --date $D
unset ADE_STREAM_PROFILE
[ -z "${PROFILE:-}" ] || grep -v '^ade' "$W/err.stream" || true
echo "  latency from state.db: $(sqlite3 "$W/s/state.db" "select 'batches ' || count(*) || ', mean ' || round(avg(latency_ms), 2) || ' ms' from stream_batches")"
# The one-batch stream gets the same baseline (the previous day's run), so
# its counts equal the streamed ones; `ade run` of the day uses the day's own
# statistics, so its outlier counts may differ by a few rows.
"$BIN/ade" -q --home "$W/o" run "$W/p.yaml" --date $PREV > /dev/null 2>&1 || { echo "baseline run failed"; exit 1; }
run one_batch "$W/o" "$BIN/ade" -q --home "$W/o" stream "$W/p.yaml" --date $D --batch-rows "$ROWS"
run ade_run "$W/r" "$BIN/ade" -q --home "$W/r" run "$W/p.yaml" --date $D
