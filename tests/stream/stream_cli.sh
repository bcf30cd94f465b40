# Bad command lines exit 2; a stream stage that is not one of ade's own is
# refused (exit 3) before anything runs.
. "$(dirname "$0")/lib.sh"
"$GEN" employees --rows 10 --seed 1 --date 2026-03-01 -o "$T/data/2026-03-01.csv"
code() { set +e; "$ADE" --home "$T/h" stream "$@" >/dev/null 2>"$T/err"; echo $?; set -e; }
eq "$(code)" 2 "no pipeline"
eq "$(code "$T/p.yaml")" 2 "no --date"
eq "$(code "$T/p.yaml" --date 2026-02-30)" 2 "bad date"
eq "$(code "$T/p.yaml" --date 2026-03-01 --batch-rows 0)" 2 "--batch-rows 0"
eq "$(code "$T/p.yaml" --date 2026-03-01 --batch-rows x)" 2 "--batch-rows x"
eq "$(code "$T/p.yaml" --date 2026-03-01 --rate -5)" 2 "--rate -5"
eq "$(code "$T/p.yaml" --date 2026-03-01 --rate)" 2 "--rate without value"
eq "$(code "$T/p.yaml" --date 2026-03-01 --bogus)" 2 "unknown option"
eq "$(code "$T/p.yaml" --date 2026-03-01 --max-files 2)" 2 "--max-files without --watch"
eq "$(code "$T/p.yaml" --watch "$T" --batch-rows 5)" 2 "--watch with --batch-rows"
eq "$(code "$T/p.yaml" --watch "$T/nope")" 2 "--watch missing dir"
eq "$(code "$T/p.yaml" --watch "$T" --idle-exit 0)" 2 "--idle-exit 0"
eq "$(code "$T/nope.yaml" --date 2026-03-01)" 2 "missing pipeline file"
eq "$(code "$T/p.yaml" extra --date 2026-03-01)" 2 "two pipelines"
# A user's script in stream.stages: refused with a clear message.
mkdir -p "$T/u"
cat > "$T/u/p.yaml" <<'Y'
pipeline: u
source: data.csv
stages:
  ingest: {run: ade-ingest}
  mine: {run: [sh, -c, "true"], needs: [ingest]}
stream: {stages: [ingest, mine]}
Y
cp "$T/data/2026-03-01.csv" "$T/u/data.csv"
eq "$(code "$T/u/p.yaml" --date 2026-03-01)" 3 "user script in stream"
grep -q "ade's own stages" "$T/err" || fail "message: $(cat "$T/err")"
# A scratch folder that cannot be used: said so, and the batches run on disk.
set +e
ADE_STREAM_SCRATCH="$T/no/such/dir" "$ADE" --home "$T/h" stream "$T/p.yaml" --date 2026-03-01 >/dev/null 2>"$T/err"
rc=$?
set -e
eq "$rc" 0 "a bad ADE_STREAM_SCRATCH still streams"
grep -q "ADE_STREAM_SCRATCH: no scratch directory in '$T/no/such/dir'" "$T/err" || fail "message: $(cat "$T/err")"
eq "$(sqlite3 "$T/h/warehouse.db" "select count(*) > 0 from loads")" 1 "the day was loaded"
echo ok
