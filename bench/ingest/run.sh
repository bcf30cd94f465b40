#!/bin/sh
# Ingest benchmark: generates employee CSVs with ade-gen (1M and 10M rows
# by default), then runs ade-ingest under /usr/bin/time -v and `wc -l` on
# the same file in the same run, best of RUNS, and prints MB/s, rows/s,
# peak RSS and the time ratio to wc -l.  Data goes under $BENCH_TMP
# (default /tmp) and is deleted afterwards.
# Usage: sh bench/ingest/run.sh [BIN_DIR] [ROWS...]
set -eu
BIN=${1:-build/bin}
shift 2>/dev/null || true
SIZES=${*:-"1000000 10000000"}
RUNS=${RUNS:-3}
D=$(mktemp -d "${BENCH_TMP:-/tmp}/ade-bench-ingest.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
echo '{"format": "csv"}' > "$D/config.json"

best() { sort -n | head -1; }

printf '%-10s %8s %9s %9s %10s %9s %9s %9s\n' rows MB ingest_s "MB/s" "rows/s" RSS_MB wc_l_s ratio
for n in $SIZES; do
  "$BIN/ade-gen" employees --rows "$n" --seed 1 --date 2026-01-01 -o "$D/emp.csv"
  bytes=$(stat -c %s "$D/emp.csv")
  cat "$D/emp.csv" > /dev/null # into the page cache, as for wc -l
  : > "$D/ing.times"; : > "$D/wc.times"; : > "$D/rss"
  i=0
  while [ $i -lt "$RUNS" ]; do
    rm -rf "$D/out"; mkdir "$D/out"
    ADE_PIPELINE=bench ADE_STAGE=ingest ADE_DS=2026-01-01 ADE_OUT="$D/out" \
      ADE_SOURCE="$D/emp.csv" ADE_CONFIG="$D/config.json" ADE_LOG=warn \
      /usr/bin/time -v "$BIN/ade-ingest" 2> "$D/time.txt"
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
      for (k = 1; k <= n; k++) s = s * 60 + t[k]; print s }' "$D/time.txt" >> "$D/ing.times"
    awk -F': ' '/Maximum resident/ { print $2 }' "$D/time.txt" >> "$D/rss"
    s=$(date +%s.%N); wc -l "$D/emp.csv" > /dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc -l >> "$D/wc.times"
    i=$((i + 1))
  done
  t=$(best < "$D/ing.times"); w=$(best < "$D/wc.times"); rss=$(sort -n "$D/rss" | tail -1)
  awk -v n="$n" -v b="$bytes" -v t="$t" -v w="$w" -v r="$rss" 'BEGIN {
    printf "%-10d %8.1f %9.3f %9.1f %10.0f %9.1f %9.3f %9.1f\n",
      n, b / 1e6, t, b / 1e6 / t, n / t, r / 1024, w, t / w }'
  rm -f "$D/emp.csv"; rm -rf "$D/out"
done
