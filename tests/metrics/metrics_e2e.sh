#!/bin/sh
# HOME/metrics/ade.prom after real runs of small pipelines: what it holds
# (stage duration and peak RSS, run state and duration, last success, KPIs,
# with pipeline/stage/kpi labels), that `promtool check metrics` accepts it,
# that label values are escaped, and that every rewrite is atomic (a new
# inode each time, no temporary file left, and a reader polling during a
# backfill never sees a partial file).
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-metrics.XXXXXX")
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
has() { # DESCRIPTION FIXED-LINE-PREFIX FILE
  if grep -qF -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; fi
}
PROMTOOL=$(command -v promtool || true)
promcheck() { # DESCRIPTION FILE
  [ -n "$PROMTOOL" ] || return 0
  if "$PROMTOOL" check metrics < "$2" > "$T/promtool.out" 2>&1; then ok "$1"
  else bad "$1"; sed 's/^/    /' "$T/promtool.out" | head -20; fi
}
cd "$T" || exit 1
H=$T/h
P=$H/metrics/ade.prom

mkdir data
for d in 01 02 03 04 05 06 07 08 09 10; do
  "$BIN/ade-gen" employees --rows 200 --seed "$d" --date "2026-01-$d" -o "data/2026-01-$d.csv"
done
cat > emp.yaml <<'EOF2'
pipeline: emp
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/{{ ds }}.csv
defaults: {retries: 0}
artifacts: {enabled: false}
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: employees, facts: ingest}}
EOF2
cat > bad.yaml <<EOF2
pipeline: bad
schedule: "0 2 * * *"
start_date: 2026-01-01
defaults: {retries: 0}
artifacts: {enabled: false}
stages:
  first: {run: [$SRC/tests/stages/ok.sh]}
  broken: {run: [$SRC/tests/stages/fail.sh, "3"], needs: [first]}
EOF2

"$BIN/ade" --home "$H" run emp.yaml --date 2026-01-01 > run1.log 2>&1
[ $? = 0 ] && ok "a run of emp succeeds" || { bad "a run of emp succeeds"; cat run1.log; }
if [ -f "$P" ]; then ok "the run wrote metrics/ade.prom"; else bad "no $P after a run"; fi
promcheck "promtool check metrics accepts ade.prom" "$P"
has "stage duration per pipeline and stage" 'ade_stage_duration_seconds{pipeline="emp",stage="ingest"} ' "$P"
has "stage peak RSS" 'ade_stage_peak_rss_bytes{pipeline="emp",stage="warehouse"} ' "$P"
has "stage CPU time" 'ade_stage_cpu_seconds{pipeline="emp",stage="ingest"} ' "$P"
has "stage success" 'ade_stage_success{pipeline="emp",stage="warehouse"} 1' "$P"
has "run state (success)" 'ade_pipeline_last_run_state{pipeline="emp",state="success"} 1' "$P"
has "run state (failed is 0)" 'ade_pipeline_last_run_state{pipeline="emp",state="failed"} 0' "$P"
has "run duration" 'ade_pipeline_last_run_duration_seconds{pipeline="emp"} ' "$P"
has "last success time" 'ade_pipeline_last_success_timestamp_seconds{pipeline="emp"} ' "$P"
has "run's execution date (2026-01-01 = 1767225600)" \
  'ade_pipeline_last_run_date_timestamp_seconds{pipeline="emp"} 1767225600' "$P"
has "KPI rows as a gauge" 'ade_kpi{pipeline="emp",kpi="rows"} ' "$P"
has "KPI rows_read" 'ade_kpi{pipeline="emp",kpi="rows_read"} 200' "$P"
has "HELP and TYPE lines" '# TYPE ade_kpi gauge' "$P"
# The peak RSS is wait4's figure in bytes: the same number as state.db's KB x 1024.
want=$(sqlite3 -batch -noheader "$H/state.db" "SELECT maxrss_kb*1024 FROM attempts WHERE stage='ingest'")
has "peak RSS equals state.db's maxrss_kb x 1024" "ade_stage_peak_rss_bytes{pipeline=\"emp\",stage=\"ingest\"} $want" "$P"
ino1=$(stat -c %i "$P")
success1=$(sed -n 's/^ade_pipeline_last_success_timestamp_seconds{pipeline="emp"} //p' "$P")

# A failing pipeline: its run state, its failed stage, emp's figures unchanged.
"$BIN/ade" --home "$H" run bad.yaml --date 2026-01-01 > bad.log 2>&1
[ $? = 1 ] && ok "the failing pipeline exits 1" || bad "the failing pipeline did not exit 1"
promcheck "promtool accepts ade.prom after a failed run" "$P"
has "failed run: last_run_success 0" 'ade_pipeline_last_run_success{pipeline="bad"} 0' "$P"
has "failed run: state failed 1" 'ade_pipeline_last_run_state{pipeline="bad",state="failed"} 1' "$P"
has "failed stage: success 0" 'ade_stage_success{pipeline="bad",stage="broken"} 0' "$P"
has "failed pipeline runs counted" 'ade_pipeline_runs{pipeline="bad",state="failed"} 1' "$P"
if grep -q '^ade_pipeline_last_success_timestamp_seconds{pipeline="bad"}' "$P"; then
  bad "a pipeline that never succeeded has no last-success time"
else ok "a pipeline that never succeeded has no last-success time"; fi
has "the other pipeline's last success is kept" \
  "ade_pipeline_last_success_timestamp_seconds{pipeline=\"emp\"} $success1" "$P"
ino2=$(stat -c %i "$P")
[ "$ino1" != "$ino2" ] && ok "each run replaces the file (rename: new inode)" \
  || bad "the file was rewritten in place (inode $ino1 kept)"

# Atomic rewrite under a reader: copy the file as fast as possible while a
# backfill rewrites it after every run; every copy must be whole.
mkdir snaps
"$BIN/ade" --home "$H" backfill emp.yaml --from 2026-01-02 --to 2026-01-10 > bf.log 2>&1 &
bfpid=$!
n=0
while kill -0 "$bfpid" 2>/dev/null; do
  n=$((n + 1))
  cp "$P" "snaps/$n.prom" 2>/dev/null
done
wait "$bfpid"
[ $? = 0 ] && ok "backfill of 9 dates succeeds" || { bad "backfill failed"; tail -5 bf.log; }
torn=0
for f in snaps/*.prom; do
  [ -s "$f" ] || { torn=$((torn + 1)); continue; }
  # Whole: ends with a newline and with the last family's sample.
  if [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ] ||
     ! tail -n 1 "$f" | grep -q '^ade_kpi_date_timestamp_seconds{pipeline="emp"} '; then
    torn=$((torn + 1)); echo "    partial: $f"
  fi
done
[ "$torn" = 0 ] && ok "$n reads during the backfill all saw a whole file" \
  || bad "$torn of $n reads saw a partial file"
last=$(ls snaps | sort -n | tail -1)
[ -n "$last" ] && promcheck "promtool accepts a copy taken mid-backfill" "snaps/$last"
if ls "$H/metrics" | grep -v '^ade\.prom$' | grep -q .; then
  bad "temporary files left in metrics/: $(ls "$H/metrics")"
else ok "no temporary file left next to ade.prom"; fi
has "after the backfill the KPI date is 2026-01-10 (1768003200)" \
  'ade_kpi_date_timestamp_seconds{pipeline="emp"} 1768003200' "$P"
has "runs counted by state" 'ade_pipeline_runs{pipeline="emp",state="success"} 10' "$P"

# Label values from data are escaped: a KPI name with a quote, a backslash
# and a newline, on a newer date so it is the one exported.
sqlite3 "$H/warehouse.db" "INSERT INTO kpi_history(pipeline, ds, batch, kpi, value)
  VALUES('emp', '2026-02-01', '', 'we\"ird\\kpi' || char(10) || 'x', 1.5),
        ('emp', '2026-02-01', '', 'huge', 1e20), ('emp', '2026-02-01', '', 'tiny', -1e300)"
"$BIN/ade" --home "$H" run bad.yaml --date 2026-01-02 > bad2.log 2>&1
promcheck "promtool accepts escaped label values" "$P"
has "quote, backslash and newline escaped" 'ade_kpi{pipeline="emp",kpi="we\"ird\\kpi\nx"} 1.5' "$P"
# Beyond long long's range: no conversion (undefined behaviour) on the way.
has "a KPI of 1e20 is exported" 'ade_kpi{pipeline="emp",kpi="huge"} 1e+20' "$P"
has "a KPI of -1e300 is exported" 'ade_kpi{pipeline="emp",kpi="tiny"} -1e+300' "$P"

if [ $FAIL = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
if [ $FAIL = 0 ] && [ -z "$PROMTOOL" ]; then
  echo "skipped: promtool not installed (Debian package prometheus); other checks passed"
  exit 77
fi
exit $((FAIL > 0))
