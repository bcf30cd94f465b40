#!/bin/sh
# upstream_failed propagation and every trigger rule, against an upstream
# that failed, one that succeeded and one that was skipped.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
D=2026-05-01
OK=$STAGES/ok.sh

cat > tr.yaml <<EOF2
pipeline: tr
stages:
  good:   {run: $OK}
  bad:    {run: $STAGES/fail.sh 1}
  # one good, one failed upstream
  as_mix: {run: $OK, needs: [good, bad]}
  ad_mix: {run: $OK, needs: [good, bad], trigger: all_done}
  of_mix: {run: $OK, needs: [good, bad], trigger: one_failed}
  nf_mix: {run: $OK, needs: [good, bad], trigger: none_failed}
  # upstream_failed propagates down a chain of all_success stages ...
  as_chain: {run: $OK, needs: [as_mix]}
  # ... and counts as failed for the other rules
  ad_uf:  {run: $OK, needs: [as_mix], trigger: all_done}
  of_uf:  {run: $OK, needs: [as_mix], trigger: one_failed}
  nf_uf:  {run: $OK, needs: [as_mix], trigger: none_failed}
  # only successful upstreams
  as_ok:  {run: $OK, needs: [good]}
  ad_ok:  {run: $OK, needs: [good], trigger: all_done}
  of_ok:  {run: $OK, needs: [good], trigger: one_failed}
  nf_ok:  {run: $OK, needs: [good], trigger: none_failed}
  # a skipped upstream (of_ok is skipped: nothing failed)
  as_sk:  {run: $OK, needs: [of_ok, good]}
  nf_sk:  {run: $OK, needs: [of_ok, good], trigger: none_failed}
  ad_sk:  {run: $OK, needs: [of_ok], trigger: all_done}
EOF2

case_ run
ade_out out run tr.yaml --date $D -j2
expect_rc 1 "$RC" "a run with a failed stage exits 1"
expect_eq failed "$(sql "SELECT state FROM runs WHERE pipeline='tr'")" "the run failed"

# expect STAGE STATE [RAN]: its final state, and whether it executed.
expect() {
  case_ "$1"
  expect_eq "$2" "$(stage_state tr $D 1 "$1")" "state $2"
  case $2 in success) want=1 ;; *) want=0 ;; esac
  [ "$1" = bad ] && want=1
  expect_eq "$want" "$(executions $D "$1")" "executed $want time(s)"
}
expect good success
expect bad failed
expect as_mix upstream_failed
expect ad_mix success
expect of_mix success
expect nf_mix upstream_failed
expect as_chain upstream_failed
expect ad_uf success
expect of_uf success
expect nf_uf upstream_failed
expect as_ok success
expect ad_ok success
expect of_ok skipped
expect nf_ok success
expect as_sk skipped
expect nf_sk success
expect ad_sk success

case_ output
expect_grep "tr $D as_mix upstream_failed" out "upstream_failed is reported"
expect_grep "tr $D of_ok skipped" out "skipped is reported"

# ADE_IN_ names only upstreams that succeeded.
case_ inputs
f=$T/home/runs/tr/$D/run-1/ad_mix/out/out.txt
expect_grep "^ADE_IN_GOOD=.*/run-1/good/out$" "$f" "a successful upstream's output is passed"
expect_no_grep "ADE_IN_BAD" "$f" "a failed upstream's is not"

finish
