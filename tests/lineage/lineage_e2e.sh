#!/bin/sh
# End-to-end lineage: the shipped employees pipeline plus an ade-lineage
# stage, run with an OpenLineage HTTP receiver on loopback.  Checks the
# events of a successful and of a failing run (fields, order, parents,
# UUIDs, times), their conformance to the official JSON Schemas (skipped
# with a message when ../shared/openlineage-spec is absent), delivery over
# HTTP with the bearer token, the outbox when the receiver is down and its
# delivery on the next run, the column lineage of salary from the CSV to
# the warehouse, the features and the model, and bad command lines.
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
PY=/usr/bin/python3
D=$SRC/tests/lineage
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-lineage-e2e.XXXXXX")
FAIL=0
RPID=
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', wanted '$2'"; fi; }
cleanup() { [ -n "$RPID" ] && kill "$RPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
cd "$T" || exit 1
# A proxy from the environment must not intercept loopback.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
H=$T/h
ade() { "$BIN/ade" --home "$H" "$@"; }
start_receiver() { # [PORT]
	rm -f "$T/port"
	$PY "$D/receiver.py" "$T/port" "$T/received.ndjson" ${1:-} &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	PORT=$(cat "$T/port")
}
stop_receiver() { kill "$RPID"; wait "$RPID" 2>/dev/null; RPID=; }
run_id_of() { # N
	sqlite3 -batch -noheader "$H/state.db" \
		"SELECT run_id FROM runs WHERE pipeline='employees' AND run_number=$1"
}

# ---- the pipeline: shipped stages + lineage + an HTTP endpoint ------------
mkdir -p p/data/employees
"$BIN/ade-gen" employees --rows 400 --seed 7 --date 2026-01-01 \
	-o p/data/employees/2026-01-01.csv >/dev/null 2>&1 || bad "ade-gen"
start_receiver
# The shipped pipeline ends with its lineage stage and stream section: drop
# them, the test adds its own lineage stage and transport below.
sed -e 's/^defaults:.*/defaults: {retries: 0, timeout: 10m}/' -e '/^  lineage:/,$d' \
  "$SRC/pipelines/employees.yaml" > p/employees.yaml
cat >> p/employees.yaml <<YAML
  lineage:
    run: ade-lineage
    needs: [warehouse]
    trigger: all_done
lineage: {url: "http://127.0.0.1:$PORT", api_key_env: OL_TEST_KEY, namespace: ade-test}
YAML
export OL_TEST_KEY=s3cret

# ---- a successful run ---------------------------------------------------------
ade run p/employees.yaml --date 2026-01-01 >run1.log 2>&1
same "run 1 succeeds" 0 $?
EV=$H/lineage/events.ndjson
same "events: 2 for the run and 2 per stage" 20 "$(wc -l < "$EV")"
R1=$(run_id_of 1)
check "success events: fields, order, parents, uuids, times" \
	$PY "$D/check_events.py" "$EV" "$R1" success
same "the receiver got every event" 20 "$(wc -l < "$T/received.ndjson")"
check "POSTed to /api/v1/lineage with the bearer token and JSON" $PY -c "
import json,sys
r=[json.loads(l) for l in open('$T/received.ndjson')]
sys.exit(not all(x['path']=='/api/v1/lineage' and x['auth']=='Bearer s3cret' and x['type']=='application/json' for x in r))"
check "received events equal the file's, in order" $PY -c "
import json,sys
a=[json.loads(l) for l in open('$EV')]
b=[json.loads(l)['event'] for l in open('$T/received.ndjson')]
sys.exit(a!=b)"
check "every line of events.ndjson is whole" $PY -c "
import json
d=open('$EV').read()
assert d.endswith('\n')
[json.loads(l) for l in d.splitlines()]"
check "facets: schema, dataSource, version, columnLineage, statistics, quality" $PY -c "
import json,sys
ev=[json.loads(l) for l in open('$EV')]
def st(name, t='COMPLETE'):
    return [e for e in ev if e['job']['name']=='employees.'+name and e['eventType']==t][0]
wh=st('warehouse')['outputs'][0]
assert wh['namespace']=='sqlite:file://$H/warehouse.db' and wh['name']=='employees', wh['namespace']
cl=wh['facets']['columnLineage']['fields']['salary']['inputFields'][0]
assert cl['name'].endswith('/validate/out/frame') and cl['field']=='salary'
assert wh['outputFacets']['outputStatistics']['rowCount']>0
ing=st('ingest')
assert ing['inputs'][0]['namespace']=='file' and ing['inputs'][0]['name']=='$T/p/data/employees/2026-01-01.csv'
assert 'version' in ing['inputs'][0]['facets']
val=st('validate')['inputs'][0]['inputFacets']
a=val['dataQualityAssertions']['assertions']
assert any(x['assertion']=='unique' and x.get('column')=='employee_id' and x['success'] for x in a)
m=val['dataQualityMetrics']
assert m['rowCount']>0 and 'nullCount' in m['columnMetrics']['salary']
sch=st('schema')['outputs'][0]['facets']
assert [f['name'] for f in sch['schema']['fields']][0]=='employee_id'
assert sch['columnLineage']['fields']['salary']['inputFields'][0]['transformations'][0]['subtype']=='IDENTITY'
q=st('quality','START')
assert q['inputs'] and q['inputs'][0]['name'].endswith('/schema/out/frame')
"

# ---- conformance to the official JSON Schemas -----------------------------------
SPEC=$SRC/../shared/openlineage-spec
if [ ! -f "$SPEC/OpenLineage.json" ]; then
	echo "ok - # SKIP schema conformance: $SPEC not found"
elif ! $PY -c 'import jsonschema' 2>/dev/null; then
	echo "ok - # SKIP schema conformance: python3-jsonschema not installed"
else
	check "every event validates against the OpenLineage 2-0-2 schemas" \
		$PY "$D/validate_events.py" "$SPEC" "$EV"
fi

# ---- the lineage document and column lineage ----------------------------------
check "ade-lineage wrote lineage.json" test -s "$H/runs/employees/2026-01-01/run-1/lineage/out/lineage.json"
ade lineage employees --date 2026-01-01 > doc.json
same "ade lineage exits 0" 0 $?
check "document: stages with states and peak RSS, datasets with versions" $PY -c "
import json
d=json.load(open('doc.json'))
s={x['name']:x for x in d['stages']}
assert d['state']=='success' and s['warehouse']['state']=='success'
assert s['train']['last_attempt']['peak_rss_kb']>0
assert any(e['from']=='validate' and e['to']=='warehouse' for e in d['edges'])
assert all('version' in x for x in d['datasets'] if x['label'].endswith('/frame'))
"
ade lineage employees --date 2026-01-01 --column employees.salary > up.json
check "salary in the warehouse comes from the source CSV" $PY -c "
import json
t=json.load(open('up.json'))
u=t['upstream']
assert any(x['dataset']=='file:$T/p/data/employees/2026-01-01.csv' and x['field']=='salary' for x in u), u
assert any(x['stage']=='schema' and x['label']=='ingest/frame' and not x['inferred'] for x in u), u
"
ade lineage employees --date 2026-01-01 --column 2026-01-01.csv.salary > down.json
check "salary flows from the CSV to the warehouse, the features and the model" $PY -c "
import json
t=json.load(open('down.json'))
got={(x['label'],x['field']) for x in t['downstream']}
for want in [('employees','salary'),('features/snapshot','salary'),('train/model.json','salary'),('analytics/sets/overall','avg_salary')]:
    assert want in got, (want, got)
"
ade lineage p/employees.yaml --date 2026-01-01 --run 1 --format text > tree.txt
check "text tree" grep -q "employees.salary <- validate/frame.salary" tree.txt
ade lineage employees --date 2026-01-01 --format dot > g.dot
check "dot graph" grep -q '^digraph lineage' g.dot
ade lineage employees --date 2026-01-01 --column employees.no_such > /dev/null 2>&1
same "unknown column exits 1" 1 $?
ade lineage employees --date 2026-02-01 > /dev/null 2>&1
same "no run of that date exits 1" 1 $?

# ---- bad command lines -----------------------------------------------------------
for args in "employees" "employees --date 2026-13-01" "employees --date 2026-01-01 --format xml" \
	"employees --date 2026-01-01 --column salary" "employees --date 2026-01-01 --run x" \
	"employees --date 2026-01-01 --bogus" "--date 2026-01-01" "a b --date 2026-01-01" \
	"../x --date 2026-01-01" "employees --date 2026-01-01 --column a.b --format dot"; do
	# shellcheck disable=SC2086
	ade lineage $args > /dev/null 2>&1
	same "ade lineage $args exits 2" 2 $?
done
sed 's/namespace: ade-test}/namespace: ade-test, colour: red}/' p/employees.yaml > p/badcfg.yaml
ade run p/badcfg.yaml --date 2026-01-01 > /dev/null 2>err.txt
same "an unknown lineage key refuses the pipeline" 3 $?
check "the message names the key" grep -q "colour" err.txt

# ---- receiver down: the outbox, delivered on the next run -----------------------
stop_receiver
N0=$(wc -l < "$T/received.ndjson")
ade run p/employees.yaml --date 2026-01-01 >run2.log 2>&1
same "run 2 succeeds with the receiver down" 0 $?
same "events.ndjson has every event" 40 "$(wc -l < "$EV")"
same "undelivered events wait in the outbox" 20 "$(wc -l < "$H/lineage/outbox.ndjson")"
start_receiver "$PORT"
ade run p/employees.yaml --date 2026-01-01 >run3.log 2>&1
same "run 3 succeeds" 0 $?
check "the outbox is empty" test ! -s "$H/lineage/outbox.ndjson"
same "run 2 and run 3 events reached the receiver" 40 "$(($(wc -l < "$T/received.ndjson") - N0))"
check "in order: run 2 before run 3, nothing lost" $PY -c "
import json,sys
a=[json.loads(l) for l in open('$EV')][20:]
b=[json.loads(l)['event'] for l in open('$T/received.ndjson')][$N0:]
sys.exit(a!=b)"

# ---- a failing run --------------------------------------------------------------
cat > p/broken.yaml <<YAML
pipeline: broken
schedule: "0 2 * * *"
defaults: {retries: 0}
stages:
  first: {run: "true"}
  bad:
    run: [sh, -c, "echo starting; echo boom-line >&2; exit 3"]
    needs: [first]
  after: {run: "true", needs: [bad]}
lineage: {namespace: ade-test}
YAML
ade run p/broken.yaml --date 2026-01-01 > broken.log 2>&1
same "the broken run fails" 1 $?
RB=$(sqlite3 -batch -noheader "$H/state.db" "SELECT run_id FROM runs WHERE pipeline='broken'")
check "failure events: FAIL with exit code and log lines, parents" \
	$PY "$D/check_events.py" "$EV" "$RB" failed bad
if [ -f "$SPEC/OpenLineage.json" ] && $PY -c 'import jsonschema' 2>/dev/null; then
	check "the failing run's events validate too" $PY "$D/validate_events.py" "$SPEC" "$EV"
fi
# Stages without result.json get their events from a short path written as
# text; they must have the general path's shape (its FAIL, and an ade
# stage's events above): the same keys in the same order, empty datasets.
check "events of stages without result.json: same keys and order as the general path" $PY -c "
import json,sys
ev=[json.loads(l) for l in open('$EV')]
mine=[e for e in ev if e['run']['facets'].get('parent',{}).get('run',{}).get('runId')=='$RB']
first=[e for e in mine if e['job']['name']=='broken.first']
bad=[e for e in mine if e['job']['name']=='broken.bad' and e['eventType']=='FAIL'][0]
ade_stage=[e for e in ev if e['job']['name']=='employees.ingest'][0]
want=list(ade_stage)
ok=[e['eventType'] for e in first]==['START','COMPLETE'] and list(bad)==want
for e in first:
    ok=ok and list(e)==want and list(e['run'])==['runId','facets'] and \
       list(e['run']['facets'])==['nominalTime','processing_engine','parent'] and \
       list(e['job'])==['namespace','name','facets'] and list(e['job']['facets'])==['jobType'] and \
       e['inputs']==[] and e['outputs']==[] and \
       e['run']['facets']['parent']==bad['run']['facets']['parent'] and \
       e['job']['facets']==bad['job']['facets']
sys.exit(not ok)"

if [ "$FAIL" -ne 0 ]; then
	echo "$FAIL check(s) failed; kept $T" >&2
	trap - EXIT
	[ -n "$RPID" ] && kill "$RPID"
	exit 1
fi
echo "all lineage checks passed"
