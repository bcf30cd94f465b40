# Replay killed with SIGKILL at random moments, then resumed: every source
# row that the same uninterrupted replay loads is loaded exactly once.
. "$(dirname "$0")/lib.sh"
D=2026-03-01
"$GEN" employees --rows 12000 --seed 7 --date $D --duplicates 0.02 --poison 0.01 \
	-o "$T/data/$D.csv"
# Reference: one uninterrupted replay.
"$ADE" -q --home "$T/ref" stream "$T/p.yaml" --date $D > "$T/ref.out"
ref=$(q "$T/ref/warehouse.db" "select count(*) || ' ' || sum(employee_id) from employees")

# Killed: --rate slows the replay so kills land in the middle.
kills=0
for i in 1 2 3 4 5 6 7 8; do
	"$ADE" -q --home "$T/k" stream "$T/p.yaml" --date $D --rate 6000 > /dev/null 2>&1 &
	pid=$!
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | awk '{printf "%d", 10 + $1 % 60}')"
	if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
	wait $pid 2>/dev/null || true
done
"$ADE" -q --home "$T/k" stream "$T/p.yaml" --date $D > "$T/k.out" || fail "final resume failed"
echo "killed $kills times"
got=$(q "$T/k/warehouse.db" "select count(*) || ' ' || sum(employee_id) from employees")
eq "$got" "$ref" "rows after kills vs uninterrupted"
eq "$(q "$T/k/warehouse.db" "select count(*) - count(distinct employee_id) from employees where ds='$D'")" 0 "duplicate employee_id"
# Every batch committed once, covering every source record.
src=$(($(wc -l < "$T/data/$D.csv") - 1))
eq "$(q "$T/k/state.db" "select sum(rows) from stream_batches where ds='$D'")" "$src" "source records in batches"
eq "$(q "$T/k/state.db" "select count(*) from stream_batches where ds='$D'")" 60 "batches"
eq "$(q "$T/k/state.db" "select count(*) from stream_batches where latency_ms > 0")" 60 "latencies recorded"
# The warehouse partitions: one per batch, no stray batch.
eq "$(q "$T/k/warehouse.db" "select count(distinct batch) from employees")" 60 "batch partitions"
# A finished day is not streamed again.
"$ADE" -q --home "$T/k" stream "$T/p.yaml" --date $D | grep -q "already streamed" || fail "rerun of a done day"
# A resume with another batch size is refused (batches are numbered by it).
rm -rf "$T/k2"
"$ADE" -q --home "$T/k2" stream "$T/p.yaml" --date $D --rate 20000 >/dev/null 2>&1 &
pid=$!; sleep 0.3; kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
if [ "$(q "$T/k2/state.db" "select count(*) from stream_runs where done=0" 2>/dev/null)" = 1 ]; then
	set +e; "$ADE" -q --home "$T/k2" stream "$T/p.yaml" --date $D --batch-rows 500 2>/dev/null; rc=$?; set -e
	eq "$rc" 2 "resume with another --batch-rows"
fi
grep -q "p50" "$T/ref.out" || fail "no latency summary"
echo ok
