#!/bin/sh
# bench_history.sh - the cloud history measured (docs/cloud-history.md),
# on a dir: target:
#   1. change-to-bucket delay at BENCH_RATE (1000) changes/s over 1,000
#      documents for BENCH_SECONDS (10), for each backup_delay_ms in
#      BENCH_DELAYS ("1000 100"): the feed's beside the objects' (the
#      baseline, same run), and the feed PUTs per backup_delay_ms;
#   2. bucket bytes after BENCH_DAY_HOURS (24) simulated hours of 100
#      changes/s with retention=1h (injected clock, a batch every 10
#      simulated seconds);
#   3. restore of BENCH_DOCS (10,000) documents: the latest-state restore
#      from the objects (baseline) and the point-in-time restore from the
#      feed and snapshots, BENCH_ROUNDS (3) rounds, alternately first.
#
#   sh bench/bench_history.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds bench/bench_history (make bench) and caravan; WORK_DIR
# (default /var/tmp) gets the stores and targets, removed at the end.
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-history.$$
b="$build/bench/bench_history"
rounds=${BENCH_ROUNDS:-3}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

for d in ${BENCH_DELAYS:-1000 100}; do
	rm -rf "$work/d" && mkdir -p "$work/d"
	"$b" delay "$work/d" "${BENCH_SECONDS:-10}" "${BENCH_RATE:-1000}" 1000 "$d" 2>/dev/null
done
rm -rf "$work/d" && mkdir -p "$work/d"
"$b" day "$work/d" "${BENCH_DAY_HOURS:-24}" 100 10 3600 2>/dev/null
rm -rf "$work/d" && mkdir -p "$work/f"
"$b" fill "$work/f" "${BENCH_DOCS:-10000}" 2>/dev/null
at=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
secs() { # secs CMD...: wall seconds of CMD
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	e=$(date +%s.%N)
	echo "$e - $s" | bc
}
i=1
while [ $i -le "$rounds" ]; do
	rm -rf "$work/r1" "$work/r2"
	if [ $((i % 2)) = 1 ]; then
		l=$(secs "$build/caravan" restore --cloud "dir:$work/f/cloud" "$work/r1")
		p=$(secs "$build/caravan" restore --cloud "dir:$work/f/cloud" --at "$at" "$work/r2")
	else
		p=$(secs "$build/caravan" restore --cloud "dir:$work/f/cloud" --at "$at" "$work/r2")
		l=$(secs "$build/caravan" restore --cloud "dir:$work/f/cloud" "$work/r1")
	fi
	echo "restore round $i docs=${BENCH_DOCS:-10000} latest_state_s=$l point_in_time_s=$p ratio=$(echo "scale=2; $p / $l" | bc)"
	i=$((i + 1))
done
