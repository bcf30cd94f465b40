#!/bin/sh
# bench/quality: ade-ingest, ade-quality and ade-validate on ROWS generated
# employee rows (default 10M), each under /usr/bin/time -v; prints wall
# time and peak RSS of each and (quality + validate) / ingest, and checks
# the quality result.  Targets (issue 4): quality + validate within 1.5x
# the ingest time; peak RSS of each under 400 MB.
# Env: ROWS (default 10000000), ADE_BIN (default build/bin), WORK (a
# scratch directory, default a new one under /tmp; removed at the end),
# RECORD=1 appends the section to bench/RESULTS.md.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ADE_BIN:-$SRC/build/bin}
ROWS=${ROWS:-10000000}
WORK=${WORK:-$(mktemp -d /tmp/ade-bench-quality.XXXXXX)}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN/ade-quality" ] || { echo "build first: $BIN/ade-quality missing" >&2; exit 2; }

"$BIN/ade-gen" employees --rows "$ROWS" --seed 42 --duplicates 0.01 --outliers 0.005 \
  --missing salary=0.02,city=0.1 -o "$WORK/emp.csv"
CSV_MB=$(($(stat -c %s "$WORK/emp.csv") / 1000000))

echo "{}" > "$WORK/ingest.json"
cat > "$WORK/quality.json" <<'EOF'
{"keys": ["employee_id"], "outliers": {"columns": ["salary", "age"], "k": 1.5, "action": "flag"}}
EOF
cat > "$WORK/validate.json" <<'EOF'
{"rules": [
  {"kind": "between", "column": "age", "min": 18, "max": 65, "mostly": 0.99, "severity": "warn"},
  {"kind": "between", "column": "salary", "min": 0, "strict_min": true, "severity": "warn"},
  {"kind": "not_null", "column": "department", "severity": "warn"},
  {"kind": "unique", "column": "employee_id", "severity": "warn"}
]}
EOF

# run NAME OUT ENV...: runs stage NAME with the contract's variables.
run() {
  name=$1; out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  env ADE_PIPELINE=bench ADE_STAGE="$name" ADE_DS=2026-01-01 ADE_OUT="$out" ADE_LOG=error "$@" \
    /usr/bin/time -v -o "$WORK/$name.time" "$BIN/ade-$name"
}
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
  for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s}' "$WORK/$1.time"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/$1.time"; }

sync
run ingest "$WORK/ingest" ADE_SOURCE="$WORK/emp.csv" ADE_CONFIG="$WORK/ingest.json"
run quality "$WORK/quality" ADE_IN_INGEST="$WORK/ingest" ADE_CONFIG="$WORK/quality.json"
VALIDATE=no
if [ -x "$BIN/ade-validate" ]; then
  VALIDATE=yes
  run validate "$WORK/validate" ADE_IN_QUALITY="$WORK/quality" ADE_CONFIG="$WORK/validate.json" \
    || [ $? = 65 ]
fi

python3 - "$WORK/quality/result.json" "$ROWS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d['rows_in'] == int(sys.argv[2]), d['rows_in']
assert d['duplicates']['removed'] > 0 and d['rows_out'] == d['rows_in'] - d['duplicates']['removed']
EOF

TI=$(wall ingest); TQ=$(wall quality); RI=$(rss ingest); RQ=$(rss quality)
if [ $VALIDATE = yes ]; then TV=$(wall validate); RV=$(rss validate); else TV=0; RV=-; fi
RATIO=$(echo "$TQ $TV $TI" | awk '{printf "%.2f", ($1 + $2) / $3}')
MET=$(echo "$RATIO $RQ $RV" | awk '{print ($1 <= 1.5 && $2 < 400 && ($3 == "-" || $3 < 400)) ? "met" : "NOT met"}')
QM=$(python3 -c "import json; m = json.load(open('$WORK/quality/result.json'))['metrics']; print('dedup %.2f s, stats %.2f s, write %.2f s' % (m['dedup_seconds'], m['stats_seconds'], m['write_seconds']))")
DUPS=$(python3 -c "import json; print(json.load(open('$WORK/quality/result.json'))['duplicates']['removed'])")

SECTION=$(cat <<EOF
## quality

$(date -u +%Y-%m-%d) · commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown) (stages/quality uncommitted) · $(nproc) cores · $ROWS rows, $CSV_MB MB CSV

| stage | wall s | peak RSS MB |
|---|---|---|
| ade-ingest | $TI | $RI |
| ade-quality | $TQ | $RQ |
| ade-validate | $( [ $VALIDATE = yes ] && echo "$TV" || echo "not built" ) | $RV |

(quality + validate) / ingest = $RATIO; target ≤ 1.5 and every peak RSS < 400 MB: $MET.
Quality removed $DUPS duplicates by employee_id (so every column was rewritten), flagged
salary and age outliers; its phases: $QM.

Reproduce: \`ROWS=$ROWS sh bench/quality/run.sh\`
EOF
)
echo "$SECTION"
if [ "${RECORD:-0}" = 1 ]; then printf '\n%s\n' "$SECTION" >> "$SRC/bench/RESULTS.md"; fi
