#!/bin/sh
# bench/train: ade-ingest then ade-train on ROWS generated employee rows
# (default 10M), each under /usr/bin/time -v, then `ade predict` on the
# same CSV.  Prints wall time and peak RSS of ingest and train, train's
# achieved GFLOP/s in the Gram pass (dsyrk), train / ingest, and predict's
# rows/s (the prediction part: encode + dot products, from its stderr) and
# its whole wall time (which includes reading the CSV through ingest).
# Targets (issue 6): train within 1.0x the ingest time, peak RSS under 128 MB;
# predict at least 1M rows/s.
# Env: ROWS (default 10000000), ADE_BIN (default build/bin), WORK (scratch,
# default a new directory under /tmp, removed at the end), RECORD=1 appends
# the section to bench/RESULTS.md.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ADE_BIN:-$SRC/build/bin}
ROWS=${ROWS:-10000000}
WORK=${WORK:-$(mktemp -d /tmp/ade-bench-train.XXXXXX)}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN/ade-train" ] || { echo "build first: $BIN/ade-train missing" >&2; exit 2; }

"$BIN/ade-gen" employees --rows "$ROWS" --seed 42 --missing city=0.01 -o "$WORK/emp.csv"
CSV_MB=$(($(stat -c %s "$WORK/emp.csv") / 1000000))
echo "{}" > "$WORK/ingest.json"
cat > "$WORK/train.json" <<'EOF'
{"target": "salary",
 "numeric": ["years_experience", "job_level", "performance_score", "age", "remote"],
 "categorical": ["department", "city"], "reference": {"department": "Marketing"},
 "key": "employee_id", "seed": 1, "test_fraction": 0.2}
EOF

run() {
  name=$1; out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  env ADE_PIPELINE=bench ADE_STAGE="$name" ADE_DS=2026-01-01 ADE_RUN_ID=bench ADE_OUT="$out" \
    ADE_LOG=error "$@" /usr/bin/time -v -o "$WORK/$name.time" "$BIN/ade-$name"
}
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
  for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s}' "$WORK/$1.time"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/$1.time"; }

sync
run ingest "$WORK/ingest" ADE_SOURCE="$WORK/emp.csv" ADE_CONFIG="$WORK/ingest.json"
run train "$WORK/train" ADE_IN_INGEST="$WORK/ingest" ADE_CONFIG="$WORK/train.json"

# ade predict finds models under HOME/runs/PIPELINE/DS/run-N/STAGE/out
M=$WORK/home/runs/bench/2026-01-01/run-1/train/out
mkdir -p "$M"
cp "$WORK/train/model.json" "$M/"
rm -rf "$WORK/ingest"   # keep the disk footprint to one frame at a time
/usr/bin/time -v -o "$WORK/predict.time" "$BIN/ade" --home "$WORK/home" -q predict bench \
  --input "$WORK/emp.csv" --out "$WORK/pred.csv" 2> "$WORK/predict.err"
PRED_ROWS=$(($(wc -l < "$WORK/pred.csv") - 1))
[ "$PRED_ROWS" = "$ROWS" ] || { echo "predict wrote $PRED_ROWS rows" >&2; exit 1; }

TI=$(wall ingest); TT=$(wall train); TP=$(wall predict)
RI=$(rss ingest); RT=$(rss train); RP=$(rss predict)
read -r GFLOPS GRAM P1 P3 MAE R2 SYRK SGFLOPS GFLOP <<EOF
$(python3 -c "
import json; d = json.load(open('$WORK/train/model.json')); t = d['timing']; m = d['metrics']
print('%.1f %.2f %.2f %.2f %.1f %.4f %.2f %.1f %.2f' % (t['gram_gflops'], t['gram_seconds'], t['pass1_seconds'], t['holdout_seconds'], m['mae'], m['r2'], t['dsyrk_seconds'], t['dsyrk_gflops'], t['gram_gflop']))")
EOF
PRS=$(sed -n 's/.*predict \([0-9.]*\) s = \([0-9.e+]*\) rows\/s.*/\2/p' "$WORK/predict.err")
PS=$(sed -n 's/.*predict \([0-9.]*\) s = .*/\1/p' "$WORK/predict.err")
RATIO=$(echo "$TT $TI" | awk '{printf "%.2f", $1 / $2}')
MET=$(echo "$RATIO $RT $PRS" | awk '{print ($1 <= 1.0 && $2 < 128 && $3 >= 1e6) ? "met" : "NOT met"}')

SECTION=$(cat <<EOF
## train

$(date -u +%Y-%m-%d) · commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown) (stages/train uncommitted) · $(nproc) cores · $ROWS employee rows, $CSV_MB MB CSV

| step | wall s | peak RSS MB | notes |
|---|---|---|---|
| ade-ingest | $TI | $RI | CSV → frame |
| ade-train | $TT | $RT | 21 columns + target, $GFLOP GFLOP; pass 1 $P1 s; Gram pass $GRAM s = $GFLOPS GFLOP/s including encoding, dsyrk alone $SYRK s = $SGFLOPS GFLOP/s; holdout $P3 s; MAE $MAE, R² $R2 |
| ade predict (whole) | $TP | $RP | reads the CSV through the ingest library, writes CSV |
| ade predict (prediction part) | $PS | | $PRS rows/s (encode + dot products) |

train / ingest = ${RATIO}x. Targets (train ≤ 1.0x ingest, peak RSS < 128 MB, predict ≥ 1M rows/s): $MET.

Reproduce: \`ROWS=$ROWS sh bench/train/run.sh\` (RECORD=1 appends this section).
EOF
)
printf '%s\n' "$SECTION"
if [ "${RECORD:-0}" = 1 ]; then printf '\n%s\n' "$SECTION" >> "$SRC/bench/RESULTS.md"; fi
