#!/bin/sh
# ade serve under load: wrk on loopback against a home that holds a year of
# KPI history (365 dates), built by `ade backfill` of a tiny pipeline
# (ade-gen employees, ROWS rows a date, ingest -> warehouse, archives off).
# In the same run, on the same server:
#   - /healthz, the baseline: no database, a constant body (what the HTTP
#     layer and the thread pool cost);
#   - /api/v1/kpis over the whole year (365 dates x 4 KPIs, ~40 KB JSON);
#   - /metrics (the Prometheus text rendered from state.db and the warehouse).
# Prints requests/s and p50/p99 latency from wrk --latency.
# Usage: sh bench/serve/run.sh [BIN_DIR]    (DURATION=10s CONNS=16 THREADS=2 ROWS=20)
set -eu
BIN=$(cd "${1:-build/bin}" && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
WRK_THREADS=${THREADS:-2}
ROWS=${ROWS:-20}
command -v wrk > /dev/null || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }
D=$(mktemp -d "${BENCH_TMP:-/tmp}/ade-bench-serve.XXXXXX")
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$D"' EXIT INT TERM
cd "$D"
mkdir data
cat > bench.yaml <<'EOF2'
pipeline: bench
schedule: "0 2 * * *"
start_date: 2025-01-01
source: data/{{ ds }}.csv
defaults: {retries: 0}
artifacts: {enabled: false}
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: employees, facts: ingest}}
EOF2
t0=$(date +%s)
BIN=$BIN /usr/bin/python3 - "$ROWS" <<'EOF2'
import datetime, subprocess, sys, os
d = datetime.date(2025, 1, 1)
for i in range(365):
    ds = (d + datetime.timedelta(days=i)).isoformat()
    subprocess.run([os.environ["BIN"] + "/ade-gen", "employees", "--rows", sys.argv[1], "--seed",
                    str(i + 1), "--date", ds, "-o", f"data/{ds}.csv"], check=True)
EOF2
"$BIN/ade" -q --home h backfill bench.yaml --from 2025-01-01 --to 2025-12-31 --max-active-runs 4 -j2 \
  > backfill.log 2>&1 || { tail -20 backfill.log; exit 1; }
t1=$(date +%s)
dates=$(sqlite3 h/warehouse.db "SELECT count(DISTINCT ds) FROM kpi_history WHERE pipeline='bench'")
kpis=$(sqlite3 h/warehouse.db "SELECT count(*) FROM kpi_history WHERE pipeline='bench'")
echo "home: $dates dates, $kpis KPI values, built in $((t1 - t0)) s (ade-gen + ade backfill -j2)"

"$BIN/ade" --home h serve --listen 127.0.0.1:0 > serve.out 2>&1 &
SPID=$!
U=""
n=0
while [ -z "$U" ] && [ $n -lt 100 ]; do
  sleep 0.1; n=$((n + 1))
  U=$(sed -n 's/^ade serve: listening on \(http:[^ ]*\) .*/\1/p' serve.out)
done
[ -n "$U" ] || { cat serve.out; exit 1; }
KPIS="api/v1/kpis?pipeline=bench&from=2025-01-01&to=2025-12-31"
bytes=$(curl -s "$U$KPIS" | wc -c)
echo "server: $U, $(nproc) CPUs; wrk -t$WRK_THREADS -c$CONNS -d$DURATION --latency; /api/v1/kpis body $bytes bytes"
printf '%-40s %12s %10s %10s %8s\n' route "requests/s" p50 p99 errors
for path in healthz "$KPIS" metrics; do
  curl -sf -o /dev/null "$U$path" || { echo "$path does not answer 200" >&2; exit 1; }
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "$U$path" > wrk.out 2>&1
  awk -v p="/$path" '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    /Non-2xx/ { err += $NF } /Socket errors/ { err += 1 }
    END { if (length(p) > 40) p = substr(p, 1, 37) "..."; printf "%-40s %12s %10s %10s %8d\n", p, rps, p50, p99, err }' wrk.out
done
