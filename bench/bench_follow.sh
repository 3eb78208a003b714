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
# BENCH_MODE=start measures a follower's start instead (docs/cloud.md,
# "The base snapshot index"): a writer fills BENCH_DOCS (10000) documents
# of about BENCH_PAD + 40 bytes (BENCH_PAD 150) on a dir: target and is unmounted (its base
# snapshots and their indexes written); then, BENCH_ROUNDS (3) times
# each, a follower on a new store is mounted from the index (lazy) and
# with the indexes moved away (eager, what a bucket of an older writer
# gives): the time from the start of caravanfs to a live mount, the
# bytes of the cloud it read (caravanfs_follow_start_bytes), and for the
# lazy one the time and bytes of a first read of every document after
# it (caravanfs_follow_refill_bytes_total).
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

now_ms() { echo $(($(date +%s%N) / 1000000)); }
mounted_fine() { # mounted_fine MNT: poll every 5 ms until it is a mount point
	i=0
	while ! mountpoint -q "$1"; do
		i=$((i + 1))
		[ $i -lt 12000 ] || { echo "no mount on $1" >&2; exit 1; }
		sleep 0.005
	done
}
metric() { awk -v n="caravanfs_$2" '$1 == n { print $2 }' "$1/.caravan-metrics"; }

if [ "${BENCH_MODE:-lag}" = start ]; then
	docs=${BENCH_DOCS:-10000}
	mkdir -p "$work/mw" "$work/mf"
	"$build/caravanfs" -f -o "cloud=dir:$work/cloud,backup_delay_ms=100" \
		"$work/w" "$work/mw" 2>>"$work/log" &
	mounted "$work/mw"
	mkdir "$work/mw/a" "$work/mw/b" "$work/mw/c" "$work/mw/d"
	awk -v n="$docs" -v pad="${BENCH_PAD:-150}" -v d="$work/mw" 'BEGIN { for (i = 0; i < n; i++) {
		f = d "/" substr("abcd", i % 4 + 1, 1) "/doc" i
		printf "{\"i\":%d,\"name\":\"document %d\",\"pad\":\"%0" pad "d\"}\n", i, i, i > f
		close(f) } }'
	uploaded() { # every document uploaded and confirmed
		i=0
		while getfattr -R --absolute-names -n user.caravan.backup "$work/mw" 2>/dev/null |
			grep -q '^user.caravan.backup="pending'; do
			i=$((i + 1))
			[ $i -lt 3000 ] || { echo "uploads did not finish" >&2; exit 1; }
			sleep 0.1
		done
	}
	uploaded
	# a namespace that has lived a while: documents are rewritten (the
	# same size) until the writer takes a base snapshot of the whole of
	# it, so the feed after the newest snapshot is short, as it is for a
	# writer in its steady state (a bulk load ends with up to one
	# snapshot's worth of feed after it: see bench/README.md)
	nindex() { set -- "$work/cloud/.caravan"/sidx-*; [ -e "$1" ] && echo $# || echo 0; }
	nsnap=$(nindex)
	k=0
	while [ "$(nindex)" -le "$nsnap" ]; do
		awk -v n="$docs" -v k="$k" -v pad="${BENCH_PAD:-150}" -v d="$work/mw" 'BEGIN {
			for (j = 0; j < 200; j++) { i = (k + j) % n
				f = d "/" substr("abcd", i % 4 + 1, 1) "/doc" i
				printf "{\"i\":%d,\"name\":\"document %d\",\"pad\":\"%0" pad "d\"}\n", i, i, k + j > f
				close(f) } }'
		k=$((k + 200))
		[ $k -lt $((docs * 4)) ] || { echo "no snapshot" >&2; exit 1; }
		uploaded
	done
	fusermount3 -u "$work/mw"
	wait
	bodies=$(cat "$work/cloud"/a/* "$work/cloud"/b/* "$work/cloud"/c/* "$work/cloud"/d/* | wc -c)
	echo "documents=$docs bodies_bytes=$bodies snapshots=$(nindex)"
	mkdir -p "$work/away"
	for round in $(seq "${BENCH_ROUNDS:-3}"); do
		for mode in lazy eager; do
			if [ $mode = eager ]; then
				mv "$work/cloud/.caravan"/sidx-* "$work/away/"
			fi
			rm -rf "$work/f"
			t0=$(now_ms)
			"$build/caravanfs" -f -o "follow,cloud=dir:$work/cloud,follow_poll_ms=3600000" \
				"$work/f" "$work/mf" 2>>"$work/log" &
			mounted_fine "$work/mf"
			t1=$(now_ms)
			printf 'round=%s mode=%s start_ms=%s start_bytes=%s' "$round" "$mode" \
				$((t1 - t0)) "$(metric "$work/mf" follow_start_bytes)"
			if [ $mode = lazy ]; then
				t2=$(now_ms)
				cat "$work/mf"/*/* | wc -c >/dev/null
				t3=$(now_ms)
				printf ' first_read_all_ms=%s refill_bytes=%s refills=%s' $((t3 - t2)) \
					"$(metric "$work/mf" follow_refill_bytes_total)" \
					"$(metric "$work/mf" follow_refills_total)"
			fi
			echo
			fusermount3 -u "$work/mf"
			wait
			if [ $mode = eager ]; then
				mv "$work/away"/sidx-* "$work/cloud/.caravan/"
			fi
		done
	done
	exit 0
fi

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
