# The counts that do not depend on the batch size are equal for a day run
# as one batch (`ade run`) and the same day streamed in 200-row batches:
# source records, quarantined records by reason, and duplicates removed
# (inside batches by ade-quality plus across batches by the stream's key
# set).  Outlier fences and imputation values are per batch (ade-quality
# has no baseline mode yet), so rows dropped as outliers may differ:
# docs/stream.md.
. "$(dirname "$0")/lib.sh"
D=2026-03-03
"$GEN" employees --rows 6000 --seed 11 --date $D --duplicates 0.03 --poison 0.01 \
	-o "$T/data/$D.csv"
"$ADE" -q --home "$T/h" run "$T/p.yaml" --date $D > /dev/null 2>&1 || fail "ade run"
"$ADE" -q --home "$T/h" stream "$T/p.yaml" --date $D > "$T/s.out" || fail "ade stream"
W="$T/h/warehouse.db"; S="$T/h/state.db"
src=$(($(wc -l < "$T/data/$D.csv") - 1))
eq "$(q "$S" "select sum(rows) from stream_batches where ds='$D'")" "$src" "streamed records"
eq "$(q "$W" "select sum(count) from quarantine_counts where ds='$D' and batch<>'' group by reason, kind order by kind, reason" | tr '\n' ' ')" \
   "$(q "$W" "select sum(count) from quarantine_counts where ds='$D' and batch='' group by reason, kind order by kind, reason" | tr '\n' ' ')" "quarantine by reason"
bdup=$(q "$W" "select duplicates_removed from quality_results where ds='$D' and batch=''")
sdup=$(( $(q "$W" "select sum(duplicates_removed) from quality_results where ds='$D' and batch<>''") + $(q "$S" "select sum(dups_skipped) from stream_batches where ds='$D'") ))
eq "$sdup" "$bdup" "duplicates removed"
# Rows reaching ade-quality: the same.
eq "$(( $(q "$W" "select sum(rows_in) from quality_results where ds='$D' and batch<>''") + $(q "$S" "select sum(dups_skipped) from stream_batches where ds='$D'") ))" \
   "$(q "$W" "select rows_in from quality_results where ds='$D' and batch=''")" "rows into quality"
eq "$(q "$W" "select count(*) - count(distinct employee_id) from employees where ds='$D' and batch<>''")" 0 "duplicate ids streamed"
echo "batch: $(q "$W" "select count(*) from employees where batch=''") rows; stream: $(q "$W" "select count(*) from employees where batch<>''") rows"
echo ok
