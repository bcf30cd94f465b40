#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60).  Usage: sh tests/fuzz/run.sh [BUILD_DIR]
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build-fuzz}
SECS=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"
CORE="$SRC/core/csv.c $SRC/core/ndjson.c $SRC/core/input.c $SRC/core/error.c $SRC/core/util.c"
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I$SRC $(pkg-config --cflags libarchive libcjson)"
LIBS="$(pkg-config --libs libarchive)"
for t in csv ndjson; do
  $CC $FLAGS -o "$OUT/fuzz_$t" "$SRC/tests/fuzz/fuzz_$t.c" $CORE $LIBS
done
for t in csv ndjson; do
  mkdir -p "$OUT/corpus_$t"
  cp "$SRC/tests/fuzz/corpus/$t/"* "$OUT/corpus_$t/"
  echo "fuzz_$t: ${SECS}s"
  ADE_CSV_READ_LIMIT=7 "$OUT/fuzz_$t" -max_total_time="$SECS" -max_len=65536 \
    -artifact_prefix="$OUT/crash_$t-" \
    -print_final_stats=1 "$OUT/corpus_$t"
done
