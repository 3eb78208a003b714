#!/bin/sh
# bench_doc_history.sh - what document history costs a patch-heavy
# document: N merge patches to one document through the mount with
# history=0 (the baseline, what compaction alone keeps) and history=16 (the
# default), alternating A/B ROUNDS times in one run.  Prints per run the
# patches/s, the entries the document holds at the end and the bytes kept
# only for history (caravanfs_history_pinned_bytes).
#
#   sh bench/bench_doc_history.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs and tests/e2e/e2e_tool (make check builds it);
# BENCH_PATCHES (default 100000), BENCH_ROUNDS (default 2).
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-dochist.$$
n=${BENCH_PATCHES:-100000}
rounds=${BENCH_ROUNDS:-2}
mnt="$work/mnt"

cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt" || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

run() { # HISTORY
	rm -rf "$work/s"
	mkdir -p "$mnt"
	"$build/caravanfs" -o "cloud=none,history=$1" "$work/s" "$mnt"
	while ! mountpoint -q "$mnt"; do sleep 0.05; done
	mkdir "$mnt/c"
	t0=$(date +%s.%N)
	"$build/tests/e2e/e2e_tool" patches "$mnt/c/doc" "$n" 100 >/dev/null
	t1=$(date +%s.%N)
	ents=$(getfattr --absolute-names --only-values -n user.caravan.entries "$mnt/c/doc")
	hb=$(sed -n 's/^caravanfs_history_pinned_bytes //p' "$mnt/.caravan-metrics")
	fusermount3 -u "$mnt"
	while mountpoint -q "$mnt"; do sleep 0.05; done
	awk -v a="$t0" -v b="$t1" -v n="$n" -v h="$1" -v e="$ents" -v p="$hb" \
		'BEGIN { printf "history=%-3s %8.0f patches/s  %4d entries  %8d history bytes\n", h, n / (b - a), e, p }'
}

i=0
while [ $i -lt "$rounds" ]; do
	run 0
	run 16
	i=$((i + 1))
done
