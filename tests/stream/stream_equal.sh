# A day streamed in 200-row batches gives the counts of the same day run as
# one batch (`ade run`): records read, quarantined by reason, duplicates,
# rows into and out of ade-quality, rows with outliers (dropped), values
# imputed, validate failures per rule, and the warehouse rows themselves
# (count and column sums).  Each batch's ade-quality applies the day's
# quality baseline, the full run's missing rates, imputation values and
# IQR quartiles (docs/stream.md, "Quality baseline").
#
# The data is made so that per-batch statistics would differ, and the test
# checks that they do with the baseline turned off:
# - performance_score is 4% missing over the day (imputed with the day's
#   median); in 200-row batches the rate is binomial and some batches go
#   over 5% (flagged, not imputed), and each batch's median differs;
# - 1% outliers in salary and age, dropped against fences that differ per
#   batch;
# - copies of earlier rows appended at the end of the day, among them the
#   highest salary (an outlier) and a record ingest quarantines: in the
#   full run the copy of the outlier is a duplicate (its first occurrence
#   reached quality) and the good copy of the quarantined record is not.
. "$(dirname "$0")/lib.sh"
D=2026-03-03
"$GEN" employees --rows 6000 --seed 11 --date $D --duplicates 0.03 --poison 0.01 \
	--missing performance_score=0.04,city=0.08 --outliers 0.01 -o "$T/gen.csv"
# The copies go 150 records before the end, not into a small last batch of
# their own (ingest's quarantine-rate threshold applies per batch).
{
	head -n 5851 "$T/gen.csv"
	# The highest-salary row (an outlier) and 40 early rows, copied.
	tail -n +2 "$T/gen.csv" | awk -F, 'NF == 11 && $11 ~ /^[0-9.]+$/' | sort -t, -k11,11 -g | tail -n 1
	sed -n '2,41p' "$T/gen.csv"
	# A good copy of a record quarantined for its age.
	awk -F, 'NR > 1 && NF == 11 && $6 == "unknown" {$6 = 40; print; exit}' OFS=, "$T/gen.csv"
	tail -n +5852 "$T/gen.csv"
} > "$T/data/$D.csv"
grep -q ',unknown,' "$T/gen.csv" || fail "the data has no record quarantined for its age"

"$ADE" -q --home "$T/h" run "$T/p.yaml" --date $D > /dev/null 2>&1 || fail "ade run"
"$ADE" -q --home "$T/h" stream "$T/p.yaml" --date $D > "$T/s.out" || fail "ade stream"
W="$T/h/warehouse.db"; S="$T/h/state.db"
[ -f "$T/h/stream/employees/$D/baseline.json" ] || fail "no baseline.json"
q "$W" "select count(*) from quality_results where ds='$D' and batch<>''" | grep -qv '^0$' || fail "no streamed batches"

# All counts of one day, for batch='' (the run) or batch<>'' (the stream).
# Cross-batch duplicates are removed by each batch's ade-quality against
# the day's set of its row hashes, so they are in its rows_in and
# duplicates_removed as in the run; dups_skipped (records a day begun by an
# older ade leaves out before ingest) is 0 then, and added for such a day.
counts() { # db state.db where
	skipped=0
	[ "$3" = "batch<>''" ] && skipped=$(q "$2" "select coalesce(sum(dups_skipped), 0) from stream_batches where ds='$D'")
	echo "quarantined $(q "$1" "select group_concat(n, ' ') from (select kind || '/' || reason || '=' || sum(count) n from quarantine_counts where ds='$D' and $3 group by kind, reason order by kind, reason)")"
	echo "quality rows in $(( $(q "$1" "select sum(rows_in) from quality_results where ds='$D' and $3") + skipped ))"
	echo "quality rows out $(q "$1" "select sum(rows_out) from quality_results where ds='$D' and $3")"
	echo "duplicates $(( $(q "$1" "select sum(duplicates_removed) from quality_results where ds='$D' and $3") + skipped ))"
	echo "rows with outliers $(q "$1" "select sum(rows_with_outliers) from quality_results where ds='$D' and $3")"
	echo "imputed $(q "$1" "select group_concat(n, ' ') from (select column_name || '=' || sum(json_extract(detail, '$.rows_touched')) n from healing_log where ds='$D' and $3 and kind='missing' and action='impute' group by column_name order by column_name)")"
	echo "validate failures $(q "$1" "select group_concat(n, ' ') from (select rule || '=' || sum(failures) n from validation_results where ds='$D' and $3 and evaluated > 1 group by rule order by rule)")"
	echo "warehouse $(q "$1" "select count(*) || ' ' || sum(employee_id) || ' ' || sum(salary) || ' ' || total(performance_score) || ' ' || count(city) || ' ' || sum(age) from employees where ds='$D' and $3")"
}
counts "$W" "$S" "batch=''" > "$T/batch.txt"
counts "$W" "$S" "batch<>''" > "$T/stream.txt"
diff "$T/batch.txt" "$T/stream.txt" || fail "streamed counts differ from the batch run's (< batch, > stream)"
eq "$(q "$S" "select sum(rows) from stream_batches where ds='$D'")" "$(($(wc -l < "$T/data/$D.csv") - 1))" "streamed records"
eq "$(q "$W" "select count(*) - count(distinct employee_id) from employees where ds='$D' and batch<>''")" 0 "duplicate ids streamed"
[ "$(q "$S" "select sum(dups_earlier) from stream_batches where ds='$D'")" -gt 0 ] || fail "no duplicate across batches"
grep -q "rows with outliers 0$" "$T/batch.txt" && fail "the data has no outliers"
grep -q "performance_score=" "$T/batch.txt" || fail "nothing imputed"

# The same day streamed without the baseline (`baseline: false`): the
# counts differ, so the data above does exercise the baseline.
sed 's|      export_csv: true|      export_csv: true\n      baseline: false|' "$T/p.yaml" > "$T/p0.yaml"
grep -q 'baseline: false' "$T/p0.yaml" || fail "could not turn the baseline off"
"$ADE" -q --home "$T/h0" stream "$T/p0.yaml" --date $D > /dev/null || fail "ade stream without baseline"
counts "$T/h0/warehouse.db" "$T/h0/state.db" "batch<>''" > "$T/nobase.txt"
if diff -q "$T/batch.txt" "$T/nobase.txt" > /dev/null; then
	fail "without the baseline the counts are equal too: the data does not exercise it"
fi
# Whole-row duplicates (no keys:, ade-quality's default): the same day
# through a pipeline whose quality stage compares whole typed rows.  The
# copies above are whole rows spread over the day (ade-gen --duplicates and
# the block near the end), so most of them are in another batch than their
# first copy: the stream must remove them as the run does.
sed '/^      keys: \[employee_id\]$/d' "$T/p.yaml" > "$T/prow.yaml"
grep -q 'keys:' "$T/prow.yaml" && fail "could not remove keys:"
"$ADE" -q --home "$T/hr" run "$T/prow.yaml" --date $D > /dev/null 2>&1 || fail "ade run (whole rows)"
"$ADE" -q --home "$T/hr" stream "$T/prow.yaml" --date $D > /dev/null || fail "ade stream (whole rows)"
counts "$T/hr/warehouse.db" "$T/hr/state.db" "batch=''" > "$T/rbatch.txt"
counts "$T/hr/warehouse.db" "$T/hr/state.db" "batch<>''" > "$T/rstream.txt"
diff "$T/rbatch.txt" "$T/rstream.txt" || fail "whole rows: streamed counts differ from the batch run's (< batch, > stream)"
grep -q '^duplicates 0$' "$T/rbatch.txt" && fail "whole rows: the data has no duplicates"
[ "$(q "$T/hr/state.db" "select sum(dups_earlier) from stream_batches where ds='$D'")" -gt 0 ] ||
	fail "whole rows: no duplicate across batches"
eq "$(q "$T/hr/warehouse.db" "select count(*) - count(distinct employee_id) from employees where ds='$D' and batch<>''")" 0 "whole rows: duplicate ids streamed"

echo "batch run and stream:"; cat "$T/batch.txt"
echo "whole rows, batch run and stream:"; cat "$T/rbatch.txt"
echo "stream with the baseline off, the counts that differ:"; diff "$T/batch.txt" "$T/nobase.txt" | grep '^>' || true
echo ok
