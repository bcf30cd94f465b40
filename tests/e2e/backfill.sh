#!/bin/sh
# A backfill of 10 dates with -j2 where one date fails; then, with the
# failure fixed, --reprocess failed reruns only that date; --dry-run shows
# what would run and runs nothing; a completed backfill has nothing to do.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
BAD=2026-01-05

# A stage that records how many stages run at once (never more than -j).
cat > conc.sh <<'EOF2'
#!/bin/sh
mkdir -p "$CONC_DIR/now"
: > "$CONC_DIR/now/$$"
ls "$CONC_DIR/now" | wc -l >> "$CONC_DIR/seen"
sleep 0.02
rm -f "$CONC_DIR/now/$$"
EOF2
chmod +x conc.sh
export CONC_DIR=$T/conc

cat > bf.yaml <<EOF2
pipeline: bf
stages:
  extract:   {run: $STAGES/ok.sh}
  measure:   {run: ./conc.sh, needs: [extract]}
  transform: {run: $STAGES/fail-on-date.sh $BAD, needs: [extract]}
  load:      {run: $STAGES/ok.sh, needs: [transform, measure]}
EOF2
export ADE_TEST_FAIL_FLAG=$T/failflag
: > "$ADE_TEST_FAIL_FLAG"

case_ dry_run_before
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-10 --dry-run
expect_rc 0 "$RC" "dry run exits 0"
expect_line "2026-01-01  run    (never run)" out "a date never run would run"
expect_line "10 dates to run, 0 skipped" out "summary"
check "nothing ran" test ! -s "$T/count/executions"
expect_eq 0 "$(sql "SELECT count(*) FROM runs")" "no runs recorded"

case_ backfill_one_fails
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-10 -j2
expect_rc 1 "$RC" "exits 1: one date failed"
expect_line "backfill bf: 10 dates to run, 0 skipped (--reprocess missing)" out "announces the dates"
expect_eq 10 "$(sql "SELECT count(DISTINCT ds) FROM runs WHERE pipeline='bf'")" "every date has a run"
expect_eq "$BAD" "$(sql "SELECT group_concat(ds) FROM runs WHERE state<>'success'")" "only $BAD failed"
expect_eq 9 "$(sql "SELECT count(*) FROM runs WHERE state='success' AND run_number=1")" "nine dates succeeded"
expect_eq "failed" "$(stage_state bf $BAD 1 transform)" "$BAD transform failed"
expect_eq "upstream_failed" "$(stage_state bf $BAD 1 load)" "$BAD load upstream_failed"
expect_grep "FAILED: bf $BAD transform (exit 1)" out "the failure is reported"
expect_grep "  | bad data for $BAD" out "with its log tail"
MAX=$(sort -n "$CONC_DIR/seen" | tail -1)
check "never more than 2 stages at once (max seen: $MAX)" test "$MAX" -le 2
expect_eq 10 "$(wc -l < "$CONC_DIR/seen" | tr -d ' ')" "measure ran once per date"

case_ dry_run_failed
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-10 --reprocess failed --dry-run
expect_rc 0 "$RC" "dry run exits 0"
expect_line "$BAD  run    (failed)" out "the failed date would run"
expect_line "2026-01-04  skip   (succeeded)" out "a good date is skipped"
expect_line "1 date to run, 9 skipped" out "summary"

case_ dry_run_reverse
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-03 --reprocess all --dry-run --reverse
expect_eq "2026-01-03  run    (succeeded)
2026-01-02  run    (succeeded)
2026-01-01  run    (succeeded)
3 dates to run, 0 skipped" "$(cat out)" "--reverse --reprocess all lists newest first, all dates"

case_ reprocess_failed
rm -f "$ADE_TEST_FAIL_FLAG"
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-10 -j2 --reprocess failed
expect_rc 0 "$RC" "the rerun succeeds"
expect_line "backfill bf: 1 date to run, 9 skipped (--reprocess failed)" out "only one date"
expect_eq "$BAD|2|success" "$(sql "SELECT ds||'|'||run_number||'|'||state FROM runs WHERE run_number>1")" \
  "only $BAD got a new run, number 2, which succeeded"
expect_eq 11 "$(sql "SELECT count(*) FROM runs")" "eleven runs in all"
expect_eq 2 "$(executions $BAD extract)" "$BAD extract ran in both runs"
expect_eq 1 "$(executions 2026-01-04 extract)" "other dates did not run again"
expect_eq 1 "$(executions $BAD load)" "$BAD load ran once, in run 2"

case_ nothing_left
ade_out out backfill bf.yaml --from 2026-01-01 --to 2026-01-10 -j2
expect_rc 0 "$RC" "exits 0"
expect_line "backfill bf: 0 dates to run, 10 skipped (--reprocess missing)" out "nothing to do"
expect_eq 11 "$(sql "SELECT count(*) FROM runs")" "no new runs"

finish
