#!/bin/sh
# bench_follow.sh - a follower's lag (docs/cloud.md, "Followers"): a
# writer and a follower, separate caravanfs processes with separate
# stores on one dir: target, BENCH_RATE (1000) changes/s for
# BENCH_SECONDS (20) over BENCH_DOCS (200) documents, for each
# "backup_delay_ms:follow_poll_ms" pair in BENCH_PAIRS
# ("1000:1000 100:200"); bench_follow prints p50/p90/p99/max from the end
# of a change's write on the writer to the sweep of the follower that
# saw it, and the goal of issue 18 beside it (p99 <= backup_delay_ms +
# follow_poll_ms + 1 s).  The baseline, same run and rate: the writer's
# change-to-feed delay (bench_history delay: when the bucket's feed holds
# a change, which is all a follower can see).
#
#   sh bench/bench_follow.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs, bench/bench_follow and bench/bench_history
# (make bench); WORK_DIR
# (default /var/tmp) gets the stores and the target, removed at the end.
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-follow.$$
mkdir -p "$work"
cleanup() {
	for m in "$work"/mw "$work"/mf; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"
	done
	wait
	rm -rf "$work"
}
trap cleanup EXIT

mounted() { # mounted MNT: poll until it is a mount point (60 s)
	i=0
	while ! mountpoint -q "$1"; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "no mount on $1" >&2; exit 1; }
		sleep 0.1
	done
}

for pair in ${BENCH_PAIRS:-1000:1000 100:200}; do
	delay=${pair%:*}
	poll=${pair#*:}
	rm -rf "$work/w" "$work/f" "$work/cloud"
	mkdir -p "$work/mw" "$work/mf"
	"$build/caravanfs" -f -o "cloud=dir:$work/cloud,backup_delay_ms=$delay" \
		"$work/w" "$work/mw" 2>>"$work/log" &
	mounted "$work/mw"
	"$build/caravanfs" -f -o "follow,cloud=dir:$work/cloud,follow_poll_ms=$poll" \
		"$work/f" "$work/mf" 2>>"$work/log" &
	mounted "$work/mf"
	rm -rf "$work/h" && mkdir -p "$work/h"
	printf 'baseline: '
	"$build/bench/bench_history" delay "$work/h" "${BENCH_SECONDS:-20}" \
		"${BENCH_RATE:-1000}" "${BENCH_DOCS:-200}" "$delay" 2>/dev/null
	rm -rf "$work/h"
	printf 'backup_delay_ms=%s follow_poll_ms=%s goal_p99_ms=%s ' "$delay" "$poll" \
		$((delay + poll + 1000))
	"$build/bench/bench_follow" "$work/mw" "$work/mf" "${BENCH_SECONDS:-20}" \
		"${BENCH_RATE:-1000}" "${BENCH_DOCS:-200}"
	fusermount3 -u "$work/mf"
	fusermount3 -u "$work/mw"
	wait
done
