#!/bin/sh
# The inspection commands: ade plan (resolved argv, env, config, order),
# ade runs (table, filters, --json), ade show (stages with state, attempts,
# metrics), ade logs (last or a given attempt), and their errors.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-03-04
ln -s "$STAGES" st

case_ plan
cat > pl.yaml <<EOF2
pipeline: pl
params: {region: eu}
source: data/{{ ds }}.csv
stages:
  load-it:
    run: st/ok.sh
    needs: [extract]
    trigger: all_done
  extract:
    run: [st/ok.sh, "--day={{ ds_nodash }}", "{{ params.region }}", "a b", "{{ interval_end }}"]
    env: {COLOR: blue}
    with: {path: "in/{{ ds }}/{{ params.region }}.csv", n: 3}
    retries: 2
EOF2
ade_out out plan pl.yaml --date $D
expect_rc 0 "$RC" "plan exits 0"
expect_line "pipeline pl (pl.yaml) for $D, interval [2026-03-04T00:00:00Z, 2026-03-05T00:00:00Z)" out "header with interval"
expect_line "source: $T/data/$D.csv" out "source resolved against the pipeline's directory"
expect_line "1. extract" out "extract first ..."
expect_line "2. load-it (needs extract)" out "... then load-it, with its needs"
expect_line "   argv: $T/st/ok.sh --day=20260304 eu 'a b' 2026-03-05T00:00:00Z" out "argv resolved and quoted"
expect_line "   cwd:  $T" out "cwd is the pipeline's directory"
expect_line "   env:  ADE_PIPELINE=pl ADE_STAGE=extract ADE_DS=$D" out "contract env"
expect_line "         ADE_HOME=$ADE_HOME ADE_WAREHOUSE=$ADE_HOME/warehouse.db" out "home and warehouse"
expect_line "         COLOR=blue" out "env: from the pipeline"
expect_line "         ADE_IN_EXTRACT=$ADE_HOME/runs/pl/$D/run-<N>/extract/out" out "inputs of load-it"
expect_line '   config (ADE_CONFIG): {"path":"in/2026-03-04/eu.csv","n":3}' out "with: resolved"
expect_line "   retries 2, timeout none, trigger all_success" out "options of extract"
expect_line "   retries 0, timeout none, trigger all_done" out "options of load-it"
check "plan runs nothing" test ! -e "$ADE_HOME"

# Runs to inspect: one success, one failure after a retry.
cat > ins.yaml <<EOF2
pipeline: ins
stages:
  a: {run: st/ok.sh}
  b: {run: st/flaky.sh 2, needs: [a], retries: 1, retry_delay: 50ms}
  c: {run: st/fail.sh 3, needs: [b]}
EOF2
cat > other.yaml <<EOF2
pipeline: other
stages:
  x: {run: st/ok.sh}
EOF2
ade_out out run ins.yaml --date $D
expect_rc 1 "$RC" "(setup) ins fails at c"
ade_out out run other.yaml --date $D
expect_rc 0 "$RC" "(setup) other succeeds"
ID=$(run_id_of ins $D 1)

case_ runs
ade_out out runs
expect_rc 0 "$RC" "runs exits 0"
expect_grep "^PIPELINE  *DS  *RUN  STATE  *SECONDS  RUN ID$" out "header"
expect_grep "^ins  *$D  *1  failed  .* $ID$" out "the failed run"
expect_grep "^other  *$D  *1  success " out "the successful run"
check "newest first" test "$(sed -n 2p out | cut -c1-5)" = other
ade_out out runs --pipeline ins
expect_eq 2 "$(wc -l < out | tr -d ' ')" "--pipeline filters"
ade_out out runs --state success
expect_no_grep "^ins " out "--state filters"
ade_out out runs --limit 1
expect_eq 2 "$(wc -l < out | tr -d ' ')" "--limit 1"
ade_out out runs --json --pipeline ins
expect_rc 0 "$RC" "--json exits 0"
check "--json is valid JSON with the run" python3 -c "
import json,sys
r=json.load(open('out'))
assert len(r)==1 and r[0]['run_id']=='$ID' and r[0]['state']=='failed' and r[0]['run_number']==1, r
"

case_ show
ade_out out show ins/$D/1
expect_rc 0 "$RC" "show exits 0"
expect_line "run $ID" out "names the run id"
expect_line "  pipeline ins, date $D, run 1, state failed" out "summary line"
expect_grep "^a  *success  *1 " out "a: success, 1 attempt"
expect_grep "^b  *success  *2 " out "b: success, 2 attempts"
expect_grep "^c  *failed  *1 .* exit 3$" out "c: failed, with its exit code"
ade_out out2 show "$(echo "$ID" | cut -c1-30)"
expect_rc 0 "$RC" "show by unique id prefix"
check "the same run" cmp -s out out2
ade_out out2 show ins/$D
check "pipeline/ds means the newest run" cmp -s out out2
ade_out out show --json ins/$D/1
check "--json has stages with metrics" python3 -c "
import json
r=json.load(open('out'))
s={x['stage']:x for x in r['stages']}
assert r['run_id']=='$ID' and r['state']=='failed', r
assert s['b']['attempts']==2 and s['b']['state']=='success', s['b']
assert s['b']['wall_ms']>0 and s['b']['maxrss_kb']>0, s['b']
assert s['c']['exit_code']==3, s['c']
"

case_ logs
ade_out out logs ins/$D/1 b
expect_rc 0 "$RC" "logs exits 0"
expect_line "attempt 2 succeeded" out "last attempt by default"
ade_out out logs "$ID" b --attempt 1
expect_line "attempt 1 of 2: temporary failure" out "--attempt 1"
ade_out out logs ins/$D/1 c
expect_line "failing on purpose with exit 3" out "a failed stage's log"

case_ errors
ade_out out show ins/$D/7
expect_rc 1 "$RC" "show of a run that does not exist"
expect_grep "no run 'ins/$D/7'" out "says so"
ade_out out show 'a%'
expect_rc 1 "$RC" "a LIKE wildcard is not a run id"
ade_out out logs ins/$D/1 nope
expect_rc 1 "$RC" "logs of a stage that does not exist"
expect_grep "has no attempt of stage 'nope'" out "says so"
ade_out out logs ins/$D/1 b --attempt 5
expect_rc 1 "$RC" "logs of an attempt that does not exist"
ade_out out --home "$T/empty" runs
expect_rc 4 "$RC" "runs on a home without state.db"
expect_grep "no runs yet in '$T/empty'" out "says so"
check "and does not create it" test ! -e "$T/empty"

finish
