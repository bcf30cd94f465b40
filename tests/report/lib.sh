# Shared by the report tests: a small known history.  Sourced with T set
# to a private directory; leaves a home in $H and the pipeline file in
# $T/pipe/employees.yaml.  Dates 2026-03-01..05 of the shipped employees
# pipeline on ade-gen data, 400 rows each; 2026-03-04 has no source file,
# so its run fails at ingest; 2026-03-05 adds a column whose name is HTML.
BIN=${ADE_BIN:?ADE_BIN must point at the bin directory of the build}
SRC=${ADE_SRC:?ADE_SRC must point at the source tree}
H=$T/h
HOSTILE='<script>alert(1)</script>'
make_history() {
  mkdir -p "$T/pipe/data/employees"
  cp "$SRC/pipelines/employees.yaml" "$T/pipe/"
  for i in 1 2 3; do
    "$BIN/ade-gen" employees --rows 400 --seed $i --date 2026-03-0$i --missing city=0.08 \
      --duplicates 0.01 --outliers 0.01 -o "$T/pipe/data/employees/2026-03-0$i.csv" || return 1
  done
  "$BIN/ade-gen" employees --rows 400 --seed 5 --date 2026-03-05 --add-column "$HOSTILE" \
    -o "$T/pipe/data/employees/2026-03-05.csv" || return 1
  # Exit 1: the run of 2026-03-04 fails; every other date succeeds.
  "$BIN/ade" --home "$H" backfill "$T/pipe/employees.yaml" --from 2026-03-01 --to 2026-03-05 -j2 \
    > "$T/backfill.log" 2>&1
  [ $? = 1 ] || { cat "$T/backfill.log"; return 1; }
}
