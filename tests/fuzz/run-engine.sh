#!/bin/sh
# run-engine.sh - build the storage engine's libFuzzer targets with clang
# straight from the sources (no automake) and run each on its seed corpus.
#
#   tests/fuzz/run-engine.sh [SECONDS] [TARGET...]   run each SECONDS (20)
#   tests/fuzz/run-engine.sh --seeds                 regenerate the seeds
#
# Targets (tests/fuzz/fuzz_*.c): fuzz_wal_record (record decoder against
# its encoder), fuzz_wal_log (a whole log through store replay, fsck and a
# recovery + checkpoint round trip), fuzz_snapshot (SNAP_* records through
# replay and the snapshot writer).  Built with
# -fsanitize=fuzzer,address,undefined.  New inputs go to a work corpus
# under $FUZZ_OUT, never into the checked-in seeds; a crash leaves its input there as crash-* and
# makes this script exit 1.  Add a fixed crash's input to the seed corpus:
# `make check` replays every seed (tests/fuzz/fuzz_*_replay).
#
# Environment: CC (default clang); FUZZ_OUT for binaries, working corpora,
# logs and crash artifacts (default build-fuzz-engine/ in the top source
# directory).  One line per target: "NAME: ok, N executions, 0 crashes".
#
# The seeds come from real logs: fuzz_wal_log.c built with
# -DFUZZ_SEED_MAIN runs a store workload and harvests its logs.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$top/build-fuzz-engine}
cc=${CC:-clang}
. "$top/tests/fuzz/lib.sh"
mkdir -p "$out"

# the library sources, from the modules' automake fragments
srcs() {
	sed -n "/^$2_SOURCES/,/^\$/p" "$top/$1" | tr ' \\\t' '\n\n\n' |
		grep '\.c$' | sed "s|^|$top/|"
}
LIBS="$(srcs util/local.mk util_libutil_a) $(srcs wal/local.mk wal_libwal_a)
$(srcs store/local.mk store_libstore_a)"
flags="-g -O1 -std=gnu11 -fno-omit-frame-pointer -I$top -D_GNU_SOURCE \
 -D_FILE_OFFSET_BITS=64 -pthread -Wall -Wextra -Werror -Wno-unused-parameter"

if [ "${1:-}" = "--seeds" ]; then
	# shellcheck disable=SC2086 # flags are words on purpose
	$cc $flags -DFUZZ_SEED_MAIN -o "$out/fuzz_wal_log_seeds" \
		"$top/tests/fuzz/fuzz_wal_log.c" $LIBS -lm
	for c in wal snapshot; do
		rm -rf "$top/tests/fuzz/corpus/$c"
		mkdir -p "$top/tests/fuzz/corpus/$c"
	done
	"$out/fuzz_wal_log_seeds" "$top/tests/fuzz/corpus/wal" \
		"$top/tests/fuzz/corpus/snapshot"
	exit 0
fi

secs=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_wal_record fuzz_wal_log fuzz_snapshot}
for t in $targets; do
	case $t in
	fuzz_wal_log) corpus=wal ;;
	*) corpus=snapshot ;;
	esac
	echo "== $t: building"
	# shellcheck disable=SC2086
	$cc $flags -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o "$out/$t" \
		"$top/tests/fuzz/$t.c" $LIBS -lm
	fuzz_run "$t" "$top/tests/fuzz/corpus/$corpus" 65536 -close_fd_mask=2
done
exit $status
