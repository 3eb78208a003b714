#!/bin/sh
# run-cloud.sh - build the cloud module's fuzz targets (archive decoder
# and the gate to the store behind it, the metadata of readable objects
# and their gate, S3 XML readers, the writer lease, the change feed, base
# snapshot indexes) with
# libFuzzer, ASan and UBSan straight from the sources
# and run each for a bounded time.
#
# usage: tests/fuzz/run-cloud.sh [SECONDS]     (default 20 per target)
#
# Environment: CC (default clang); FUZZ_OUT for binaries, working corpora,
# logs and crash artifacts (default build-fuzz-cloud/ in the top source
# directory).  The seed corpus tests/fuzz/corpus/cloud/ is only read.
# Exits non-zero when a target crashes; the input is $FUZZ_OUT/<target>-*.
set -eu

secs=${1:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$top/build-fuzz-cloud}
cc=${CC:-clang}
flags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 -Wall -Wextra -Werror -Wno-unused-parameter -I$out -I$top \
 $(pkg-config --cflags jansson)"
util="$top/util/crc32c.c $top/util/name.c $top/util/buf.c $top/util/grow.c"

. "$top/tests/fuzz/lib.sh"
mkdir -p "$out"
: >"$out/config.h"
echo "building fuzz_archive"
# shellcheck disable=SC2086 # flags are words on purpose
$cc $flags -o "$out/fuzz_archive" "$top/tests/fuzz/fuzz_archive.c" \
	"$top/cloud/archive.c" "$top/cloud/frame.c" "$top/cloud/verify.c" \
	"$top/store/doc_entry.c" "$top"/json/*.c $util \
	$(pkg-config --libs jansson) -lm
echo "building fuzz_feed"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_feed" "$top/tests/fuzz/fuzz_feed.c" \
	"$top/cloud/feed.c" "$top/cloud/frame.c" $util
echo "building fuzz_docmeta"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_docmeta" "$top/tests/fuzz/fuzz_docmeta.c" \
	"$top/cloud/docmeta.c" "$top/cloud/verify.c" \
	"$top/store/doc_entry.c" "$top"/json/*.c $util \
	$(pkg-config --libs jansson) -lm
echo "building fuzz_s3_list"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_s3_list" "$top/tests/fuzz/fuzz_s3_list.c" \
	"$top/cloud/s3_xml.c" "$top/util/buf.c" "$top/util/grow.c"
echo "building fuzz_lease"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_lease" "$top/tests/fuzz/fuzz_lease.c" \
	"$top/cloud/lease_format.c"
echo "building fuzz_snap_index"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_snap_index" "$top/tests/fuzz/fuzz_snap_index.c" \
	"$top/cloud/snap_index.c" $util
echo "building fuzz_follow_state"
# shellcheck disable=SC2086
$cc $flags -o "$out/fuzz_follow_state" \
	"$top/tests/fuzz/fuzz_follow_state.c" "$top/cloud/follow_state.c"

for t in fuzz_archive fuzz_s3_list fuzz_lease; do
	fuzz_run "$t" "$top/tests/fuzz/corpus/cloud" 16384
done
fuzz_run fuzz_feed "$top/tests/fuzz/corpus/feed" 16384
fuzz_run fuzz_docmeta "$top/tests/fuzz/corpus/docmeta" 4096
fuzz_run fuzz_follow_state "$top/tests/fuzz/corpus/follow" 1024
fuzz_run fuzz_snap_index "$top/tests/fuzz/corpus/snap_index" 65536
exit $status
