#!/bin/sh
# Artifacts benchmark: packing and verifying the archive of a large run.
# For each size (default 1M and 10M rows) ade-gen writes an employees CSV
# and `ade run` runs ingest, schema, quality and validate over it (archives
# off, so the run itself packs nothing); then, in the same run, over the
# same run directory:
#   - ade artifacts pack --include all (every frame; hard-linked columns
#     stored once), zstd level 3, two threads, SHA-256 of every file;
#   - GNU tar --zstd -cf of the directory (tar piping to the zstd process,
#     level 3; also stores hard links once);
#   - ade artifacts verify (decompress and re-hash everything) and, as a
#     reference, tar --zstd -xOf > /dev/null (decompress only).
# Wall seconds (best of RUNS), MB/s of file bytes (hard links counted once),
# peak RSS (max of RUNS), archive size.  Data under $BENCH_TMP (default /tmp).
# Usage: sh bench/artifacts/run.sh [BIN_DIR] [ROWS...]
set -eu
BIN=${1:-build/bin}
shift 2>/dev/null || true
SIZES=${*:-"1000000 10000000"}
RUNS=${RUNS:-2}
D=$(mktemp -d "${BENCH_TMP:-/tmp}/ade-bench-artifacts.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
BIN=$(cd "$BIN" && pwd)
DS=2026-01-01

wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
  for (k = 1; k <= n; k++) s = s * 60 + t[k]; print s }' "$1"; }
rss() { awk -F': ' '/Maximum resident/ { print $2 }' "$1"; }
best() { sort -g "$1" | head -1; }
most() { sort -g "$1" | tail -1; }

mkdir -p "$D/p/data/employees"
cat > "$D/p/bench.yaml" <<'YAML'
pipeline: bench
schedule: "0 2 * * *"
source: data/employees/{{ ds }}.csv
artifacts: {enabled: false}
stages:
  ingest:   {run: ade-ingest, with: {format: csv, on_malformed: quarantine}}
  schema:   {run: ade-schema, needs: [ingest]}
  quality:  {run: ade-quality, needs: [schema], with: {keys: [employee_id], export_csv: true}}
  validate:
    run: ade-validate
    needs: [quality]
    with:
      rules:
        - {kind: not_null, column: employee_id}
        - {kind: between, column: age, min: 18, max: 65, mostly: 0.99}
YAML

# time_it NAME COMMAND...: appends wall and RSS to $D/NAME.t and $D/NAME.r
time_it() {
  name=$1; shift
  sync
  /usr/bin/time -v "$@" 2> "$D/time.txt" > /dev/null || { cat "$D/time.txt" >&2; exit 1; }
  wall "$D/time.txt" >> "$D/$name.t"; rss "$D/time.txt" >> "$D/$name.r"
}

printf '%-9s %8s | %7s %7s %7s %8s | %7s %7s %7s %8s | %8s %7s | %8s\n' rows data_MB \
  pack_s MB/s RSS_MB arch_MB tar_s MB/s RSS_MB arch_MB verify_s RSS_MB untar_s
for n in $SIZES; do
  H=$D/home-$n
  "$BIN/ade-gen" employees --rows "$n" --seed 1 --date $DS -o "$D/p/data/employees/$DS.csv"
  ADE_LOG=warn "$BIN/ade" --home "$H" run "$D/p/bench.yaml" --date $DS > "$D/run.txt" 2>&1 ||
    { cat "$D/run.txt" >&2; exit 1; }
  rm -f "$D/p/data/employees/$DS.csv"
  RUN=$H/runs/bench/$DS/run-1
  bytes=$(du -sb "$RUN" | cut -f1) # hard links once, as both archivers store them
  A=$H/artifacts/bench/$DS/run-1.tar.zst
  rm -f "$D"/*.t "$D"/*.r
  i=0
  while [ $i -lt "$RUNS" ]; do
    rm -f "$A" "$D/tar.tar.zst"
    time_it pack "$BIN/ade" --home "$H" artifacts pack "$D/p/bench.yaml" --date $DS --run 1 \
      --include all --out "$A"
    time_it tar tar --zstd -cf "$D/tar.tar.zst" -C "$RUN" .
    time_it verify "$BIN/ade" --home "$H" artifacts verify bench --date $DS --run 1
    time_it untar sh -c "tar --zstd -xOf '$D/tar.tar.zst' > /dev/null"
    i=$((i + 1))
  done
  mb=$(echo "$bytes" | awk '{ printf "%.0f", $1 / 1e6 }')
  ps=$(best "$D/pack.t"); ts=$(best "$D/tar.t")
  printf '%-9s %8s | %7s %7.0f %7.0f %8.0f | %7s %7.0f %7.0f %8.0f | %8s %7.0f | %8s\n' "$n" "$mb" \
    "$ps" "$(echo "$bytes $ps" | awk '{ print $1 / 1e6 / $2 }')" \
    "$(most "$D/pack.r" | awk '{ print $1 / 1024 }')" \
    "$(wc -c < "$A" | awk '{ print $1 / 1e6 }')" \
    "$ts" "$(echo "$bytes $ts" | awk '{ print $1 / 1e6 / $2 }')" \
    "$(most "$D/tar.r" | awk '{ print $1 / 1024 }')" \
    "$(wc -c < "$D/tar.tar.zst" | awk '{ print $1 / 1e6 }')" \
    "$(best "$D/verify.t")" "$(most "$D/verify.r" | awk '{ print $1 / 1024 }')" \
    "$(best "$D/untar.t")"
  rm -rf "$H"
done
