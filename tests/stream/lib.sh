# Shared by the stream tests: a private temporary directory, a pipeline
# with a stream section over data/{{ ds }}.csv, and small checks.
set -eu
: "${ADE_BIN:?}" "${ADE_SRC:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-stream.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
ADE="$ADE_BIN/ade"
GEN="$ADE_BIN/ade-gen"
mkdir -p "$T/data"
sed -e 's|^source: .*|source: data/{{ ds }}.csv|' -e '/^stream:/d' "$ADE_SRC/pipelines/employees.yaml" > "$T/p.yaml"
echo 'stream: {stages: [ingest, quality, validate, warehouse], batch_rows: 200}' >> "$T/p.yaml"

fail() { echo "FAIL: $*" >&2; exit 1; }
q() { sqlite3 "$1" "$2"; }
eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; }
