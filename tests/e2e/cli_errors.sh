#!/bin/sh
# Malformed command lines: exit 2 with a message on stderr naming the
# problem, nothing run, and no home created.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
cat > p.yaml <<EOF2
pipeline: p
stages: {a: {run: $STAGES/ok.sh}}
EOF2

# bad WANT_PATTERN ARGS...: ade ARGS exits 2 with WANT_PATTERN on stderr.
bad() {
  want=$1; shift
  case_ "ade $*"
  ade "$@" > out 2> err
  expect_rc 2 $? "refused"
  expect_grep "$want" err "message"
  check "nothing on stdout" test ! -s out
}

bad "ade run: invalid date '2026-02-30' (expected YYYY-MM-DD)" run p.yaml --date 2026-02-30
bad "ade run: invalid date '2025-02-29'" run p.yaml --date 2025-02-29
bad "ade run: invalid date '2026-13-01'" run p.yaml --date 2026-13-01
bad "ade run: invalid date '2026-1-5'" run p.yaml --date 2026-1-5
bad "ade run: invalid date 'yesterday'" run p.yaml --date yesterday
bad "ade run: invalid date '2026-01-01x'" run p.yaml --date 2026-01-01x
bad "ade run: invalid date ''" run p.yaml --date ""
bad "ade run: -j needs a number from 1 to 1024, not '0'" run p.yaml -j 0
bad "ade run: -j needs a number from 1 to 1024, not 'abc'" run p.yaml -j abc
bad "ade run: -j needs a number from 1 to 1024, not '-3'" run p.yaml -j -3
bad "ade run: -j needs a number from 1 to 1024, not '2x'" run p.yaml --jobs 2x
bad "unrecognized option '--bogus'" run p.yaml --bogus
bad "ade run: give exactly one pipeline file" run
bad "ade run: give exactly one pipeline file" run p.yaml p.yaml
bad "usage: ade run PIPELINE" run --date 2026-01-01
bad "ade run: --only and --from-stage cannot be combined" run p.yaml --only a --from-stage a
bad "pipeline 'p' has no stage 'nope'" run p.yaml --only nope --date 2026-01-01
bad "pipeline 'p' has no stage 'nope'" run p.yaml --from-stage nope --date 2026-01-01
bad "cannot open 'missing.yaml': No such file or directory" run missing.yaml --date 2026-01-01
bad "ade backfill: --to is before --from" backfill p.yaml --from 2026-01-05 --to 2026-01-01
bad "ade backfill: --from and --to are required" backfill p.yaml --from 2026-01-05
bad "ade backfill: --from and --to are required" backfill p.yaml
bad "ade backfill: --from: invalid date '2026-02-30'" backfill p.yaml --from 2026-02-30 --to 2026-03-01
bad "ade backfill: --to: invalid date '2026-04-31'" backfill p.yaml --from 2026-04-01 --to 2026-04-31
bad "ade backfill: --reprocess must be missing, failed or all, not 'some'" backfill p.yaml --from 2026-01-01 --to 2026-01-02 --reprocess some
bad "ade backfill: -j needs a number" backfill p.yaml --from 2026-01-01 --to 2026-01-02 -j 0
bad "ade backfill: --max-active-runs needs a number" backfill p.yaml --from 2026-01-01 --to 2026-01-02 --max-active-runs 0
bad "ade backfill: give exactly one pipeline file" backfill --from 2026-01-01 --to 2026-01-02
bad "ade plan: invalid date '2026-02-29'" plan p.yaml --date 2026-02-29
bad "ade plan: give exactly one pipeline file" plan
bad "ade check: no pipeline file given" check
bad "ade: 'frobnicate' is not a command; see 'ade --help'" frobnicate
bad "ade: unknown option '--bogus'" --bogus run p.yaml
bad "usage: ade \[--home DIR\]" 
bad "ade help: no command 'nope'" help nope
bad "ade runs: --state must be queued, running, success or failed" runs --state weird
bad "ade runs: --limit needs a positive number" runs --limit 0
bad "ade runs: unexpected argument 'x'" runs x
bad "ade show: give exactly one run" show
bad "ade logs: give a run and a stage" logs p/2026-01-01
bad "ade logs: --attempt needs a positive number" logs p/2026-01-01 a --attempt 0

case_ nothing_created
check "no home was created by any of these" test ! -e "$ADE_HOME"
check "no ./ade-home either" test ! -e "$T/ade-home"

case_ help
ade --help > out 2> err
expect_rc 0 $? "--help exits 0"
expect_grep "^  130  interrupted by Ctrl-C or SIGTERM" out "--help documents exit codes"
for c in check plan run backfill runs show logs; do
  ade help $c > out 2> err
  rc=$?
  if [ $rc = 0 ] && grep -q "^usage: ade $c" out && grep -q "^Exit codes:" out; then
    ok "ade help $c"; else not_ok "ade help $c: exit $rc"; fi
done

finish
