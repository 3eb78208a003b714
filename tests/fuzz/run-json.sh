#!/bin/sh
# run-json.sh - build the json module's fuzz targets with libFuzzer, ASan
# and UBSan straight from the sources (no configure needed) and run each
# for a bounded time.
#
# usage: tests/fuzz/run-json.sh [SECONDS]     (default 20 per target)
#
# Environment:
#   CC        compiler with libFuzzer (default: clang)
#   FUZZ_OUT  where binaries, working corpora, logs and crash artifacts go
#             (default: build-fuzz-json/ in the top source directory)
#
# The seed corpus tests/fuzz/corpus/json/ is only read; what a run finds
# accumulates in $FUZZ_OUT/corpus-<target>/ and is reused by later runs.
# Exits non-zero when a target crashes or fails an oracle; the input that
# did it is $FUZZ_OUT/<target>-crash-*, and the log $FUZZ_OUT/<target>.log.
set -eu

secs=${1:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$top/build-fuzz-json}
cc=${CC:-clang}
targets="fuzz_json_value fuzz_json_splitter fuzz_json_compact"

jansson_cflags=$(pkg-config --cflags jansson)
jansson_libs=$(pkg-config --libs jansson)
flags="-std=gnu11 -g -O1 -fno-omit-frame-pointer \
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -I$top $jansson_cflags"

. "$top/tests/fuzz/lib.sh"
mkdir -p "$out"
for t in $targets; do
	echo "building $t"
	# shellcheck disable=SC2086 # flags are words on purpose
	$cc $flags -o "$out/$t" "$top/tests/fuzz/$t.c" "$top"/json/*.c \
		"$top/util/grow.c" \
		$jansson_libs -lm
done

for t in $targets; do
	fuzz_run "$t" "$top/tests/fuzz/corpus/json" 8192
done
exit $status
