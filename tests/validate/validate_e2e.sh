#!/bin/sh
# End-to-end: ade-validate through `ade run` with real pipeline files.
#  - malformed rule configuration is refused with the exact
#    "FILE:LINE:COL: message" of the offending value, and the stage exits 2;
#  - the employees rules block of docs/validate.md runs over ade-gen data:
#    failures counted exactly (checked against the CSV with Python), sample
#    row numbers pointing at the right rows, exit 65 for fail rules, and with
#    warn rules the run succeeds and a downstream stage reads the frame.
set -u
BIN=${ADE_BIN:?}
SRC=${ADE_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-validate-e2e.XXXXXX")
PY=/usr/bin/python3
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

"$BIN/ade-gen" employees --rows 3000 --seed 11 --date 2026-01-01 --outliers 0.01 \
  --missing department=0.02 -o data.csv || exit 1

# pipeline NAME RULES_YAML [EXTRA_STAGES]: writes NAME.yaml with ingest ->
# validate; RULES_YAML is the text after "rules:" (one line or a block).
pipeline() {
  {
    printf 'pipeline: vt\nsource: data.csv\nstages:\n'
    printf '  ingest: {run: ade-ingest}\n'
    printf '  validate:\n    run: ade-validate\n    needs: [ingest]\n    with:\n'
    printf '      rules:\n%s\n' "$2"
    if [ $# -ge 3 ]; then printf '%s\n' "$3"; fi
  } > "$1.yaml"
}

# run NAME: runs NAME.yaml in a fresh home; sets RC and OUT (ade's output).
run() {
  rm -rf "$T/home"
  OUT=$("$BIN/ade" --home "$T/home" run "$1.yaml" --date 2026-01-01 2>&1)
  RC=$?
}
log() { cat "$T"/home/runs/vt/2026-01-01/run-1/validate/attempt-1.log; }

# expect_refused NAME RULE_LINE WANT: the stage exits 2 and its log holds
# exactly "ade-validate: error: WANT".
expect_refused() {
  pipeline "$1" "        - {kind: not_null, column: age}
        - $2"
  run "$1"
  if ! printf '%s\n' "$OUT" | grep -q "validate (exit 2)"; then
    bad "$1: stage exits 2 (got: $OUT)"
    return
  fi
  got=$(log | grep '^ade-validate: error: ')
  if [ "$got" = "ade-validate: error: $3" ]; then ok "$1: $3"
  else bad "$1: want '$3', got '$got'"; fi
}

# Line 11 is the second rule; columns count from 1.
expect_refused unknown_kind '{kind: betwen, column: age, min: 1}' \
  "unknown_kind.yaml:11:18: unknown rule kind 'betwen' (kinds: not_null, unique, between, in_set, regex, length, row_count, column_exists, compare, freshness)"
expect_refused no_bounds '{kind: between, column: age}' \
  "no_bounds.yaml:11:11: between needs min or max (or both)"
expect_refused mostly_range '{kind: not_null, column: age, mostly: 1.5}' \
  "mostly_range.yaml:11:49: mostly must be a number from 0 to 1 (the share of values that must pass)"
expect_refused mostly_type '{kind: not_null, column: age, mostly: x}' \
  "mostly_type.yaml:11:49: mostly must be a number from 0 to 1 (the share of values that must pass)"
expect_refused bad_regex '{kind: regex, column: name, pattern: "[a-"}' \
  "bad_regex.yaml:11:48: invalid regular expression '[a-': Unmatched [, [^, [:, [., or [= (POSIX ERE)"
expect_refused bad_severity '{kind: unique, column: age, severity: high}' \
  "bad_severity.yaml:11:49: severity must be warn, fail or critical, not 'high'"
expect_refused unknown_key '{kind: between, column: age, min: 1, mx: 3}' \
  "unknown_key.yaml:11:52: unknown key 'mx' in a between rule (keys: column, name, severity, mostly, samples, description, min, max, strict, strict_min, strict_max)"
expect_refused table_mostly '{kind: row_count, min: 1, mostly: 0.5}' \
  "table_mostly.yaml:11:45: mostly does not apply to row_count: it judges the table as a whole"
# A block-style rule: the position is the value's own line.
pipeline block_style "        - kind: compare
          column: hire_date
          op: '=<'
          value: ds"
run block_style
check "block style: op's line and column" \
  test "$(log | grep '^ade-validate: error: ')" = "ade-validate: error: block_style.yaml:12:15: op must be <, <=, >, >=, == or !="

# The employees rules of docs/validate.md, as shipped (between the markers).
sed -n '/<!-- employees-rules:begin -->/,/<!-- employees-rules:end -->/p' "$SRC/docs/validate.md" |
  sed -n '/^  validate:/,/^```/p' | sed '$d' > rules.block
check "docs hold the employees rules block" test -s rules.block
{
  printf 'pipeline: vt\nsource: data.csv\nstages:\n  ingest: {run: ade-ingest}\n'
  sed 's/needs: \[quality\]/needs: [ingest]/' rules.block
} > employees.yaml
run employees
check "employees rules: age outliers fail the run with exit 65" \
  sh -c "printf '%s\n' \"\$0\" | grep -q 'validate (exit 65)'" "$OUT"
check "log names the failed rule" sh -c "grep -q \"rule 'between_age' (fail) failed\" \"\$0\"" \
  "$T/home/runs/vt/2026-01-01/run-1/validate/attempt-1.log"

# Direct run over the published ingest frame: result.json and violations
# are written before exit 65, and agree with the CSV.
mkdir -p direct
ADE_PIPELINE=vt ADE_STAGE=validate ADE_DS=2026-01-01 ADE_OUT="$T/direct" \
  ADE_CONFIG="$T/home/runs/vt/2026-01-01/run-1/validate/config.json" \
  ADE_IN_INGEST="$T/home/runs/vt/2026-01-01/run-1/ingest/out" \
  "$BIN/ade-validate" 2>direct.log
check "direct run exits 65" test $? = 65
check "result.json and violations agree with the CSV" $PY - "$T" <<'EOF'
import csv, json, sys
t = sys.argv[1]
rows = list(csv.DictReader(open(t + '/data.csv', newline='', encoding='utf-8')))
res = json.load(open(t + '/direct/result.json'))
assert res['status'] == 'failed', res['status']
assert res['rows_in'] == len(rows) == 3000
rules = {r['name']: r for r in res['rules']}
age = rules['between_age']
bad = [i for i, r in enumerate(rows) if not 18 <= int(r['age']) <= 65]
assert age['failures'] == len(bad) > 0, (age['failures'], len(bad))
assert age['evaluated'] == 3000 and not age['passed']
assert [s['row'] for s in age['samples']] == bad[:20], age['samples']
for s in age['samples']:
    assert s['value'] == int(rows[s['row']]['age'])
    assert s['employee_id'] == int(rows[s['row']]['employee_id'])
dept = rules['not_null_department']
nulls = [i for i, r in enumerate(rows) if r['department'] == '']
assert dept['failures'] == len(nulls) > 0 and dept['evaluated'] == 3000
sal = rules['between_salary']
assert sal['passed'] and sal['failures'] == 0
assert rules['in_set_department']['missing'] == len(nulls)
assert rules['unique_employee_id']['passed']
assert rules['hire_date_not_in_future']['passed']
# one violations line per sample
lines = [json.loads(l) for l in open(t + '/direct/violations.ndjson')]
assert len(lines) == res['summary']['violations'] == sum(len(r['samples']) for r in res['rules'])
assert [l['row'] for l in lines if l['rule'] == 'between_age'] == bad[:20]
assert all(set(l) >= {'rule', 'column', 'row', 'value', 'severity'} for l in lines)
bys = res['summary']['by_severity']
assert bys['fail']['failed'] >= 2 and bys['critical']['failed'] == 0
EOF
check "direct run: frame hard-linked" sh -c \
  "test \"\$(stat -c %i '$T/direct/frame/age.npy')\" = \"\$(stat -c %i '$T/home/runs/vt/2026-01-01/run-1/ingest/out/frame/age.npy')\""

# Every rule as warn: the run succeeds and the next stage reads the frame.
cat > downstream.sh <<'EOF'
#!/bin/sh
test -f "$ADE_IN_VALIDATE/frame/schema.json" && test -f "$ADE_IN_VALIDATE/result.json" &&
  cp "$ADE_IN_VALIDATE/frame/schema.json" "$ADE_OUT/seen.json"
EOF
chmod +x downstream.sh
{
  sed 's/severity: [a-z]*/severity: warn/' employees.yaml | sed 's/^    with:$/    with:\n      severity: warn/'
  printf '  downstream: {run: ./downstream.sh, needs: [validate]}\n'
} > warned.yaml
run warned
check "warn rules: the run succeeds" test "$RC" = 0
[ "$RC" = 0 ] || printf '%s\n' "$OUT"
check "warn rules: downstream read the validated frame" \
  test -f "$T/home/runs/vt/2026-01-01/run-1/downstream/out/seen.json"
check "warn rules: result status warn" $PY -c "
import json
d = json.load(open('$T/home/runs/vt/2026-01-01/run-1/validate/out/result.json'))
assert d['status'] == 'warn', d['status']
assert d['summary']['by_severity']['warn']['failed'] >= 2
"

if [ "$FAIL" -ne 0 ]; then
  echo "$FAIL check(s) failed"
  exit 1
fi
echo "all checks passed"
