# Watch mode: a file written slowly in place (taken at close), one written
# elsewhere and moved in, one with malformed records (quarantined); a
# restart takes nothing twice; a file repeating loaded keys loads nothing.
. "$(dirname "$0")/lib.sh"
D=2026-03-02
W="$T/in"; mkdir -p "$W" "$T/stage"
"$GEN" employees --rows 300 --seed 1 --date $D -o "$T/stage/a.csv"
"$GEN" employees --rows 300 --seed 2 --date $D -o "$T/stage/b0.csv"
"$GEN" employees --rows 300 --seed 3 --date $D --poison 0.05 -o "$T/stage/c.csv"
# Different seeds give the same ids: shift b and c to ids of their own.
awk -F, -v OFS=, 'NR>1{$1=$1+1000} 1' "$T/stage/b0.csv" > "$T/stage/b.csv"
awk -F, -v OFS=, 'NR>1 && $1 ~ /^[0-9]+$/ {$1=$1+2000} 1' "$T/stage/c.csv" > "$T/stage/c2.csv"

"$ADE" -q --home "$T/h" stream "$T/p.yaml" --watch "$W" --date $D --max-files 3 > "$T/w1.out" 2>"$T/w1.err" &
pid=$!
# Wait until it watches (it prints a line).
for i in $(seq 1 100); do grep -q watching "$T/w1.out" 2>/dev/null && break; sleep 0.1; done
# a.csv: written slowly, in pieces, directly in the directory.
( exec 3> "$W/a.csv"; n=0; while IFS= read -r line; do printf '%s\n' "$line" >&3;
	n=$((n + 1)); [ $((n % 100)) -eq 0 ] && sleep 0.2; done < "$T/stage/a.csv"; exec 3>&- )
# b.csv: written under a temporary name, then moved in.
cp "$T/stage/b.csv" "$W/.b.csv.tmp"; sleep 0.2; mv "$W/.b.csv.tmp" "$W/b.csv"
cp "$T/stage/c2.csv" "$W/c.csv.part"; mv "$W/c.csv.part" "$W/c.csv"
wait $pid || fail "watcher exit $?"
cat "$T/w1.out"
eq "$(q "$T/h/state.db" "select count(*) from stream_files where state='done'")" 3 "files done"
eq "$(q "$T/h/state.db" "select group_concat(name, ' ') from (select name from stream_files order by batch)")" "a.csv b.csv c.csv" "arrival order"
eq "$(q "$T/h/warehouse.db" "select count(distinct batch) from employees where ds='$D'")" 3 "batches loaded"
[ "$(q "$T/h/warehouse.db" "select sum(count) from quarantine_counts where ds='$D' and kind='quarantined'")" -gt 0 ] || fail "no quarantine for the malformed file"
# The partial file never got a batch of its own: a.csv is one batch of 300 records.
eq "$(q "$T/h/state.db" "select rows from stream_batches b join stream_files f on f.batch=b.batch where f.name='a.csv'")" 300 "a.csv rows"
before=$(q "$T/h/warehouse.db" "select count(*) from employees")

# Restart: the three files are still there and are not taken again.
"$ADE" -q --home "$T/h" stream "$T/p.yaml" --watch "$W" --date $D --idle-exit 1 > "$T/w2.out"
eq "$(q "$T/h/state.db" "select count(*) from stream_batches")" 3 "batches after restart"
eq "$(q "$T/h/warehouse.db" "select count(*) from employees")" "$before" "rows after restart"

# A new file repeating a.csv's rows: every key was loaded, nothing more is.
"$ADE" -q --home "$T/h" stream "$T/p.yaml" --watch "$W" --date $D --max-files 1 > "$T/w3.out" &
pid=$!
for i in $(seq 1 100); do grep -q watching "$T/w3.out" 2>/dev/null && break; sleep 0.1; done
cp "$T/stage/a.csv" "$W/.d.tmp"; mv "$W/.d.tmp" "$W/d.csv"
wait $pid || fail "watcher 3"
eq "$(q "$T/h/warehouse.db" "select count(*) from employees")" "$before" "rows after a repeated file"
eq "$(q "$T/h/state.db" "select dups_skipped + dups_earlier from stream_batches b join stream_files f on f.batch=b.batch where f.name='d.csv'")" 300 "repeated keys skipped"
eq "$(q "$T/h/warehouse.db" "select count(*) - count(distinct employee_id) from employees")" 0 "duplicate ids"

# SIGTERM stops a watcher with exit 0.
"$ADE" -q --home "$T/h" stream "$T/p.yaml" --watch "$W" --date $D > "$T/w4.out" &
pid=$!
for i in $(seq 1 100); do grep -q watching "$T/w4.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM $pid
wait $pid || fail "SIGTERM exit $?"
echo ok
