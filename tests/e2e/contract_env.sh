#!/bin/sh
# The environment every stage gets (docs/stage-contract.md), seen from the
# stages themselves: the contract's names with this run's and this
# stage's values, ADE_IN_* of its needs, the pipeline's env:, the caller's
# variables passed through, and stale contract names from the caller
# dropped.  Several stages and two runs, since the run-wide part is built
# once per run.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-05-06

cat > dump.sh <<'EOF2'
#!/bin/sh
# Records what the stage saw, and whether ADE_OUT was empty when it started.
set -eu
n=$(ls -A "$ADE_OUT" | wc -l)
{ env | grep -E '^(ADE_|COLOR=)' | grep -v '^ADE_TEST_COUNTER_DIR=' | sort; echo "out_entries=$n"; } > "$ADE_OUT/env.txt"
[ -f "$ADE_CONFIG" ] && echo "config=$(cat "$ADE_CONFIG")" >> "$ADE_OUT/env.txt"
EOF2
chmod +x dump.sh
cat > ce.yaml <<EOF2
pipeline: ce
source: data/{{ ds }}.csv
stages:
  a: {run: ./dump.sh}
  load-it: {run: ./dump.sh, needs: [a], env: {COLOR: blue}}
  c: {run: ./dump.sh, needs: [a, load-it], with: {k: "{{ ds_nodash }}"}}
EOF2

for N in 1 2; do
  case_ "run $N"
  ADE_DS=stale ADE_STAGE=stale ADE_IN_OLD=/nowhere ADE_USER_X=keep \
    ade_out out$N run ce.yaml --date $D --force
  expect_rc 0 "$RC" "the run succeeds"
  RID=$(run_id_of ce $D $N)
  R=$ADE_HOME/runs/ce/$D/run-$N
  for s in a load-it c; do
    f=$R/$s/out/env.txt
    expect_line "ADE_PIPELINE=ce" "$f" "$s: ADE_PIPELINE"
    expect_line "ADE_STAGE=$s" "$f" "$s: its own ADE_STAGE, not the caller's"
    expect_line "ADE_DS=$D" "$f" "$s: ADE_DS, not the caller's stale one"
    expect_line "ADE_INTERVAL_START=2026-05-06T00:00:00Z" "$f" "$s: interval start"
    expect_line "ADE_INTERVAL_END=2026-05-07T00:00:00Z" "$f" "$s: interval end"
    expect_line "ADE_RUN_ID=$RID" "$f" "$s: this run's id"
    expect_line "ADE_ATTEMPT=1" "$f" "$s: attempt 1"
    expect_line "ADE_BATCH=" "$f" "$s: empty batch"
    expect_line "ADE_HOME=$ADE_HOME" "$f" "$s: home"
    expect_line "ADE_WAREHOUSE=$ADE_HOME/warehouse.db" "$f" "$s: warehouse"
    expect_line "ADE_OUT=$R/$s/attempt-1.tmp" "$f" "$s: its private output folder"
    expect_line "out_entries=0" "$f" "$s: ADE_OUT empty at the start"
    expect_line "ADE_RUN_DIR=$R" "$f" "$s: this run's folder"
    expect_line "ADE_PIPELINE_FILE=ce.yaml" "$f" "$s: the pipeline file as given"
    expect_line "ADE_SOURCE=$T/data/$D.csv" "$f" "$s: source rendered and resolved"
    expect_line "ADE_USER_X=keep" "$f" "$s: a caller's own ADE_ variable passes"
    expect_no_grep "ADE_IN_OLD" "$f" "$s: a caller's stale ADE_IN_ is dropped"
  done
  expect_no_grep "^ADE_IN_" "$R/a/out/env.txt" "a needs nothing: no ADE_IN_"
  expect_no_grep "^COLOR=" "$R/a/out/env.txt" "env: is per stage"
  expect_line "ADE_IN_A=$R/a/out" "$R/load-it/out/env.txt" "load-it reads a"
  expect_line "COLOR=blue" "$R/load-it/out/env.txt" "load-it's env:"
  expect_line "ADE_CONFIG=$R/empty-config.json" "$R/load-it/out/env.txt" "no with: the empty config"
  expect_line "config={}" "$R/load-it/out/env.txt" "which holds {}"
  expect_line "ADE_IN_A=$R/a/out" "$R/c/out/env.txt" "c reads a"
  expect_line "ADE_IN_LOAD_IT=$R/load-it/out" "$R/c/out/env.txt" "and load-it, named in capitals with _"
  expect_line "ADE_CONFIG=$R/c/config.json" "$R/c/out/env.txt" "with: its own config"
  expect_line 'config={"k":"20260506"}' "$R/c/out/env.txt" "rendered"
  expect_line "ADE_CONFIG_POS=$R/c/config.pos.json" "$R/c/out/env.txt" "and its positions"
done

# A file where a stage's folder would go (left by hand in the run folder):
# that stage fails with a message naming the path, its dependent is
# upstream_failed, the others run, and nothing of the stage is published.
case_ "a file in the way of a stage's folder"
R3=$ADE_HOME/runs/ce/$D/run-3
mkdir -p "$R3"
echo "not a folder" > "$R3/load-it"
ade_out out3 run ce.yaml --date $D --force
expect_rc 1 "$RC" "the run fails"
expect_grep "load-it: cannot create '$R3/load-it/attempt-1.tmp': Not a directory" out3 \
  "the message names the path and the reason"
expect_eq success "$(stage_state ce $D 3 a)" "a ran"
expect_eq failed "$(stage_state ce $D 3 load-it)" "load-it failed"
expect_eq upstream_failed "$(stage_state ce $D 3 c)" "c was not started"
expect_eq "not a folder" "$(cat "$R3/load-it")" "the file in the way is left as it was"
finish
