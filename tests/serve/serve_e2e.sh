#!/bin/sh
# ade serve against a home built by real runs: every route with good and
# bad parameters, HEAD, refused methods, path traversal, oversized
# requests, the bearer token and the loopback rule, SIGTERM, and answers
# that stay 200 while a backfill writes the warehouse and state.db.
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-serve.XXXXXX")
FAIL=0
PIDS=""
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', wanted '$2'"; fi; }
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
cd "$T" || exit 1
H=$T/h
PY=/usr/bin/python3

# start_server OUTFILE ARGS...: starts ade serve, waits for its address; sets SPID and U.
start_server() {
  out=$1; shift
  : > "$out"
  "$BIN/ade" --home "$H" serve "$@" > "$out" 2> "$out.err" &
  SPID=$!
  PIDS="$PIDS $SPID"
  n=0
  U=""
  while [ -z "$U" ] && [ $n -lt 200 ]; do
    U=$(sed -n 's/^ade serve: listening on \(http:[^ ]*\) .*/\1/p' "$out")
    kill -0 "$SPID" 2>/dev/null || break
    [ -n "$U" ] || sleep 0.1
    n=$((n + 1))
  done
  [ -n "$U" ]
}
# get EXPECTED-STATUS PATH [CURL-ARGS...]: body into $T/body; checks the status.
get() {
  want=$1; path=$2; shift 2
  code=$(curl -s --path-as-is -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$U$path")
  if [ "$code" = "$want" ]; then ok "$path ${*:+($*) }-> $want"
  else bad "$path ${*:+($*) }-> $code, wanted $want: $(head -c 300 "$T/body")"; fi
}
# json KIND [ARG]: checks $T/body with check.py.
json() {
  if msg=$($PY "$SRC/tests/serve/check.py" "$1" "$T/body" "${2:-}" 2>&1); then ok "  body: $1 ${2:-}"
  else bad "  body: $1: $msg"; fi
}

mkdir data
for d in 01 02 03; do
  "$BIN/ade-gen" employees --rows 50 --seed "$d" --date "2026-01-$d" -o "data/2026-01-$d.csv"
done
cat > emp.yaml <<'EOF2'
pipeline: emp
schedule: "0 2 * * *"
start_date: 2026-01-01
source: data/{{ ds }}.csv
defaults: {retries: 0}
stages:
  ingest: {run: ade-ingest, with: {format: csv}}
  warehouse: {run: ade-warehouse, needs: [ingest], with: {table: employees, facts: ingest}}
EOF2
"$BIN/ade" --home "$H" backfill emp.yaml --from 2026-01-01 --to 2026-01-03 > bf.log 2>&1 ||
  { bad "setup backfill failed"; cat bf.log; exit 1; }
# A link planted in the home must not lead the artifacts listing out of it.
ln -s /etc "$H/artifacts/evil"

start_server s1.out --listen 127.0.0.1:0 || { bad "ade serve did not start"; cat s1.out s1.out.err; exit 1; }
ok "ade serve prints its bound address: $U"
RID=$(sqlite3 -batch -noheader "$H/state.db" "SELECT run_id FROM runs WHERE ds='2026-01-02'")

# --- every route, good parameters
get 200 healthz; json healthz
get 200 api/v1/openapi.json; json openapi
get 200 api/v1/runs; json runs 3
get 200 "api/v1/runs?pipeline=emp&state=success&limit=2"; json runs 2
get 200 "api/v1/runs?date=2026-01-02"; json runs 1
get 200 "api/v1/runs?state=failed"; json runs 0
get 200 "api/v1/runs/$RID"; json run "$RID"
get 200 "api/v1/runs/$(echo "$RID" | cut -c1-30)"; json run "$RID"
get 200 "api/v1/kpis?pipeline=emp"; json kpis "3:quarantine_rate,rows,rows_quarantined,rows_read"
get 200 "api/v1/kpis?pipeline=emp&from=2026-01-02&to=2026-01-03"; json kpis "2:"
get 200 "api/v1/kpis?pipeline=emp&from=2026-01-02&to=2026-01-02&kpi=rows_read&kpi=rows"; json kpis "1:rows_read,rows"
get 200 "api/v1/kpis?pipeline=emp&from=2027-01-01"; json kpis "0:"
get 200 "api/v1/lineage?pipeline=emp&date=2026-01-02"; json lineage 2026-01-02
get 200 "api/v1/lineage?pipeline=emp&date=2026-01-02&run=1&view=events"; json events
get 200 api/v1/artifacts; json artifacts 3
get 200 "api/v1/artifacts?pipeline=emp&date=2026-01-03"; json artifacts 1
get 200 metrics
grep -q '^ade_kpi{pipeline="emp",kpi="rows"} 50' "$T/body" && ok "  /metrics has the KPI gauges" \
  || bad "  /metrics lacks ade_kpi rows"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" && ok "  /metrics content type" \
  || bad "  /metrics content type: $(grep -i content-type "$T/headers")"
if command -v promtool > /dev/null; then
  promtool check metrics < "$T/body" > pt.out 2>&1 && ok "  promtool accepts /metrics" \
    || { bad "  promtool rejects /metrics"; cat pt.out; }
fi
get 200 ""
grep -q '<!DOCTYPE html>' "$T/body" && grep -q 'emp' "$T/body" && ok "  / is the pipeline's HTML report" \
  || bad "  / is not the report: $(head -c 200 "$T/body")"
grep -qi "^content-security-policy: default-src 'none'" "$T/headers" && ok "  the HTML has a strict CSP" \
  || bad "  no CSP header"
get 200 "?from=2026-01-02&to=2026-01-03"
get 200 "report/emp"
code=$(curl -s -I -o "$T/headers" -w '%{http_code}' "${U}api/v1/runs")
same "HEAD /api/v1/runs is 200" 200 "$code"
grep -qi '^content-length: [1-9]' "$T/headers" && ok "  HEAD gives the length without a body" \
  || bad "  HEAD headers: $(cat "$T/headers")"

# --- bad parameters: 400, unknown things: 404, all JSON errors
get 400 "api/v1/runs?foo=1"; json error 400
get 400 "api/v1/runs?limit=0"; json error 400
get 400 "api/v1/runs?limit=abc"; json error 400
get 400 "api/v1/runs?state=bogus"; json error 400
get 400 "api/v1/runs?date=2026-02-30"; json error 400
get 400 "api/v1/runs?pipeline=emp&pipeline=emp"; json error 400
get 404 "api/v1/runs?pipeline=nope"; json error 404
get 400 "api/v1/runs/xyz"; json error 400
get 400 "api/v1/runs/01"; json error 400
get 404 "api/v1/runs/0000-0000"; json error 404
get 400 "api/v1/kpis"; json error 400
get 400 "api/v1/kpis?pipeline=emp&from=2026-1-1"; json error 400
get 400 "api/v1/kpis?pipeline=emp&from=2026-01-03&to=2026-01-01"; json error 400
get 400 "api/v1/kpis?pipeline=emp&to=yesterday"; json error 400
get 400 "api/v1/kpis?pipeline=emp&kpi="; json error 400
get 404 "api/v1/kpis?pipeline=nope"; json error 404
get 400 "api/v1/kpis?pipeline=bad%20name"; json error 400
get 400 "api/v1/lineage?pipeline=emp"; json error 400
get 400 "api/v1/lineage?date=2026-01-01"; json error 400
get 400 "api/v1/lineage?pipeline=emp&date=2026-01-01&view=dot"; json error 400
get 400 "api/v1/lineage?pipeline=emp&date=2026-01-01&run=-1"; json error 400
get 404 "api/v1/lineage?pipeline=emp&date=2026-01-09"; json error 404
get 404 "api/v1/lineage?pipeline=emp&date=2026-01-01&run=7"; json error 404
get 404 "api/v1/lineage?pipeline=nope&date=2026-01-01"; json error 404
get 400 "api/v1/artifacts?date=x"; json error 400
get 404 "api/v1/artifacts?pipeline=nope"; json error 404
get 400 "metrics?x=1"; json error 400
get 404 "report/nope"; json error 404
get 400 "?from=2026-01-03&to=2026-01-01"; json error 400
get 404 "api/v1/nothing"; json error 404
get 404 "api/v1/runs/"; json error 404
get 404 "healthz/"; json error 404

# --- path traversal: no route maps to a file; nothing outside the home is read
for p in "../../etc/passwd" "%2e%2e/%2e%2e/etc/passwd" "api/v1/runs/../../x" \
         "report/..%2f..%2fetc%2fpasswd" "report/../../../etc/passwd" "..%252f..%252fetc/passwd" \
         "api/v1/lineage?pipeline=..%2f..%2fetc&date=2026-01-01" \
         "api/v1/artifacts?pipeline=evil"; do
  code=$(curl -s --path-as-is -o "$T/body" -w '%{http_code}' "$U$p")
  case $code in
    400|404) if grep -q 'root:' "$T/body"; then bad "traversal $p leaked a file"
             else ok "traversal $p refused ($code)"; fi ;;
    *) bad "traversal $p -> $code" ;;
  esac
done

# --- methods and oversized requests
for m in POST PUT DELETE PATCH OPTIONS; do
  get 405 healthz -X "$m"
done
grep -qi '^allow: GET, HEAD' "$T/headers" && ok "  405 names the allowed methods" || bad "  no Allow header"
get 413 healthz -X GET --data-binary 'x=1'
long=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' "$U$long")
case $code in 414|431) ok "a 20 KB URL is refused ($code)" ;; *) bad "a 20 KB URL -> $code" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' "${U}api/v1/runs?x=$(head -c 5000 /dev/zero | tr '\0' b)")
case $code in 400|414|431) ok "a 5 KB query is refused ($code)" ;; *) bad "a 5 KB query -> $code" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $long" "${U}healthz")
same "a 20 KB header is refused" 431 "$code"
set --
for i in $(seq 1 80); do set -- "$@" -H "X-H$i: v"; done
get 431 healthz "$@"; json error 431
get 200 healthz # still serving after all that

# --- integers are digits only; truncated only when archives were left out
get 400 "api/v1/runs?limit=%20%2B5"; json error 400
get 400 "api/v1/runs?limit=%2B5"; json error 400
get 200 "api/v1/artifacts?limit=3"; json artifacts 3
grep -q '"truncated":false' "$T/body" && ok "  exactly limit archives: not truncated" \
  || bad "  exactly limit archives said truncated: $(cat "$T/body")"
get 200 "api/v1/artifacts?limit=2"; json artifacts 2
grep -q '"truncated":true' "$T/body" && ok "  more than limit archives: truncated" \
  || bad "  more than limit archives not truncated: $(cat "$T/body")"

# --- without a token, only loopback Host names are answered (DNS rebinding)
get 421 healthz -H "Host: evil.example"; json error 421
get 421 api/v1/runs -H "Host: attacker.example:8080"; json error 421
get 421 "" -H "Host: 127.0.0.1.evil.example"
get 421 api/v1/runs -H "Host: [::2]:80"
get 200 healthz -H "Host: localhost:8080"
get 200 api/v1/runs -H "Host: 127.0.0.2"
get 200 api/v1/runs -H "Host: [::1]:80"

# --- SIGTERM stops it with exit 0
kill -TERM "$SPID"; wait "$SPID"; rc=$?
same "SIGTERM stops ade serve with exit 0" 0 "$rc"
grep -q 'stopped' s1.out && ok "it says it stopped" || bad "no 'stopped' line"

# --- listen addresses and the token
"$BIN/ade" --home "$H" serve --listen 0.0.0.0:0 > nt.out 2>&1; rc=$?
same "0.0.0.0 without a token is refused" 2 "$rc"
grep -q 'token' nt.out && ok "  and says a token is needed" || bad "  message: $(cat nt.out)"
"$BIN/ade" --home "$H" serve --listen localhost:8080 > ln.out 2>&1
same "a host name is refused (not resolved)" 2 $?
"$BIN/ade" --home "$H" serve --listen 127.0.0.1:99999 > ln.out 2>&1
same "a bad port is refused" 2 $?
"$BIN/ade" --home "$H" serve --bogus > ln.out 2>&1
same "an unknown option is refused" 2 $?
"$BIN/ade" --home "$T/nohome" serve --listen 127.0.0.1:0 > ln.out 2>&1
same "a missing home is refused with exit 4" 4 $?
# ade serve runs ade-serve from ade's own folder: an ade copied without it
# says what it could not run, with exit 4, instead of serving nothing.
mkdir -p "$T/lone" && cp "$BIN/ade" "$T/lone/ade"
timeout 10 "$T/lone/ade" --home "$H" serve --listen 127.0.0.1:0 > lone.out 2>&1
same "ade without ade-serve next to it exits 4" 4 $?
grep -q "cannot run '$T/lone/ade-serve'" lone.out && ok "  the message names the missing executable" ||
  bad "  message: $(cat lone.out)"
"$BIN/ade" help serve > help.out 2>&1
grep -q '^usage: ade serve' help.out && ok "ade help serve still answers from ade" || bad "ade help serve: $(cat help.out)"
start_server s2.out --listen 0.0.0.0:0 --token s3cret-token ||
  { bad "ade serve on 0.0.0.0 with a token did not start"; cat s2.out.err; }
grep -q 'Authorization: Bearer' s2.out && ok "it says a bearer token is required" \
  || bad "no token notice: $(cat s2.out)"
U=$(echo "$U" | sed 's|0\.0\.0\.0|127.0.0.1|')
get 401 api/v1/runs; json error 401
grep -qi '^www-authenticate: Bearer' "$T/headers" && ok "  401 asks for a bearer token" || bad "  no WWW-Authenticate"
get 401 api/v1/runs -H "Authorization: Bearer wrong"
get 401 api/v1/runs -H "Authorization: Bearer s3cret-toke"
get 401 api/v1/runs -H "Authorization: Bearer s3cret-tokenX"
get 401 api/v1/runs -H "Authorization: Basic czNjcmV0LXRva2Vu"
get 200 api/v1/runs -H "Authorization: Bearer s3cret-token"; json runs 3
get 200 healthz
get 401 ""
get 200 api/v1/runs -H "Authorization: Bearer s3cret-token" -H "Host: ade.example.com"
kill -TERM "$SPID"; wait "$SPID"
same "the token server stops with exit 0" 0 $?

# --- it keeps serving while a backfill writes the warehouse and state.db
for d in 04 05 06 07 08 09 10 11 12 13 14 15; do
  "$BIN/ade-gen" employees --rows 20000 --seed "$d" --date "2026-01-$d" -o "data/2026-01-$d.csv"
done
start_server s3.out --listen 127.0.0.1:0 || { bad "restart failed"; cat s3.out.err; }
"$BIN/ade" --home "$H" backfill emp.yaml --from 2026-01-04 --to 2026-01-15 --max-active-runs 2 -j2 \
  > bf2.log 2>&1 &
BF=$!
PIDS="$PIDS $BF"
n=0; badn=0
: > codes
while kill -0 "$BF" 2>/dev/null; do
  for p in "api/v1/kpis?pipeline=emp" "api/v1/runs?limit=5" metrics ""; do
    c=$(curl -s -o /dev/null -w '%{http_code}' "$U$p")
    n=$((n + 1))
    [ "$c" = 200 ] || { badn=$((badn + 1)); echo "$c $p" >> codes; }
  done
done
wait "$BF"; rc=$?
same "the backfill during serving succeeds" 0 "$rc"
[ "$n" -gt 0 ] && [ "$badn" = 0 ] && ok "$n requests during the backfill all got 200" \
  || bad "$badn of $n requests during the backfill were not 200: $(sort codes | uniq -c | head)"
get 200 "api/v1/kpis?pipeline=emp"; json kpis "15:"
kill -TERM "$SPID"; wait "$SPID"
same "stopped cleanly after the backfill" 0 $?

# --- a writer holding the warehouse: 503 with Retry-After, soon; /healthz stays up
start_server s4.out --listen 127.0.0.1:0 || { bad "restart failed"; cat s4.out.err; }
mkfifo lockfifo
sqlite3 "$H/warehouse.db" < lockfifo > lock.out 2>&1 &
LOCKER=$!
PIDS="$PIDS $LOCKER"
exec 3> lockfifo
# WAL lets readers past BEGIN EXCLUSIVE; exclusive locking mode shuts them out.
# It needs the file to itself for a moment, hence before any request opens it.
printf '.timeout 10000\nPRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT count(*) FROM loads;\n' >&3
n=0
until sqlite3 -readonly "$H/warehouse.db" 'SELECT 1 FROM loads LIMIT 1' 2>&1 | grep -q locked; do
  n=$((n + 1)); [ $n -lt 100 ] || break; sleep 0.1
done
[ $n -lt 100 ] && ok "the warehouse is locked by another process" || bad "could not lock the warehouse"
get 503 "api/v1/kpis?pipeline=emp"; json error 503
grep -qi '^retry-after: [0-9]' "$T/headers" && ok "  503 has Retry-After" || bad "  no Retry-After"
get 503 ""
grep -qi '^content-type: text/html' "$T/headers" && grep -q '503' "$T/body" \
  && ok "  / answers a 503 page in HTML" || bad "  / 503 is not HTML: $(head -c 200 "$T/body")"
get 503 "report/emp"
get 503 metrics; json error 503
get 200 healthz
get 200 "api/v1/runs?limit=1"
exec 3>&-
wait "$LOCKER"
get 200 "api/v1/kpis?pipeline=emp"
get 200 ""
kill -TERM "$SPID"; wait "$SPID"

# --- a warehouse.db that is not a database: 503, not "no data"
cp -R "$H" "$T/hc"
yes 'not a database' | head -c 8192 > "$T/hc/warehouse.db"
rm -f "$T/hc/warehouse.db-wal" "$T/hc/warehouse.db-shm"
HS=$H; H=$T/hc
start_server s5.out --listen 127.0.0.1:0 || { bad "start on the corrupt home failed"; cat s5.out.err; }
H=$HS
get 503 "api/v1/kpis?pipeline=emp"; json error 503
grep -q 'warehouse.db' "$T/body" && ok "  the message names the file" || bad "  message: $(cat "$T/body")"
get 503 ""
get 503 "report/emp"
grep -qi '^retry-after: [0-9]' "$T/headers" && ok "  503 has Retry-After" || bad "  no Retry-After"
get 200 healthz
kill -TERM "$SPID"; wait "$SPID"

if [ $FAIL = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
exit $((FAIL > 0))
