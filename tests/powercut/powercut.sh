#!/bin/sh
# powercut.sh - real power cuts under the store.
#
# A 256 MiB ext4 image on a loop device is mounted; each round runs
# tests/powercut/powercut_workload (threads appending, each append
# fsync'd by store_sync, the log cut over about every hundred appends), which
# prints every acknowledged append down a pipe to this script.  After a
# random number of acknowledgements the file system is shut down with
# FS_IOC_SHUTDOWN / FS_GOING_DOWN_NOLOGFLUSH (nothing more reaches the
# disk, not even the journal: a power cut), the workload is killed, the
# file system unmounted and mounted again (journal recovery), and the
# store must hold every append acknowledged in any round so far, with no
# hole and fsck clean.  The store carries over from round to round, so
# recoveries of recovered stores are covered too.
#
# Which acknowledgements count: those read from the pipe before the
# shutdown ioctl is issued (their fdatasync had returned before the cut
# began).  An fdatasync that runs while the shutdown takes effect may
# return 0 and still lose its commit: measured on ext4 with a plain
# pwrite+fdatasync loop and no store at all (17 of 300 cuts lost the one
# write acknowledged during the cut, none lost a write acknowledged
# before it).  Acknowledgements printed after the ioctl are therefore "in
# flight": counted and checked for intact bytes when they survive, never
# required.
#
# A second scenario cuts the power during growth: a store created with
# 64 KiB of capacity, written without trims (it grows online) while a
# thread of the workload grows it by 64 KiB at a time (`run DIR SEED
# grow`), so cuts strike preallocations, header rewrites and appends into
# new space.  Same checks, on its own store.
#
# A third cuts the power during eviction: documents are backed up to a
# "cloud" directory outside the file system that is cut (it survives the
# cut, as a bucket would), confirmed, evicted by a thread of the workload
# while the writers append, and refilled from that directory when
# appended to (`run DIR SEED evict CLOUD`); each backup, eviction and
# refill is acknowledged like an append.  verify then also checks each
# document against them: an evicted one holds no entries, is confirmed at
# its seq and its content at that seq is in the cloud with the recorded
# size; a local one acknowledged as evicted holds nothing older than the
# eviction (it came back by a refill); backed-up seqs never go back.  Each
# round evicts one document before its writers' first append (the first
# three acknowledgements), so every round has an eviction to check,
# however early the cut.
#
# Needs root and loop devices; without them the test FAILS (the suite runs
# as root in CI).  Rounds: 10 + 5 growth + 5 eviction, CARAVAN_LONG=1:
# 100 + 50 + 50, CARAVAN_POWERCUT_ROUNDS=N: N + N/2 + N/2.
# CARAVAN_POWERCUT_SEED fixes the moments.
set -u
BUILD=${CARAVAN_BUILD:-$(pwd)}
W=$BUILD/tests/powercut/powercut_workload
if [ -n "${CARAVAN_LONG:-}" ] && [ "$CARAVAN_LONG" != 0 ]; then
	ROUNDS=100
else
	ROUNDS=10
fi
ROUNDS=${CARAVAN_POWERCUT_ROUNDS:-$ROUNDS}
GROW_ROUNDS=$(((ROUNDS + 1) / 2))
EVICT_ROUNDS=$(((ROUNDS + 1) / 2))
SEED=${CARAVAN_POWERCUT_SEED:-$$}

T=""
LOOP=""
WPID=""
done_rounds=0
STORE=store
ACKS=acks

fail() {
	echo "FAIL: $*"
	if [ -n "$T" ] && [ -d "$T/mnt/$STORE" ]; then
		keep=$(mktemp -d "${TMPDIR:-/tmp}/caravan-powercut-failed-XXXXXX")
		cp -a "$T/mnt/$STORE" "$T/$ACKS" "$T/inflight" "$keep/" 2>/dev/null
		[ "$STORE" = store-evict ] && cp -a "$T/cloud" "$keep/" 2>/dev/null
		cp -a "$T/workload.err" "$keep/" 2>/dev/null
		echo "the store, the acknowledgements and the workload's errors are kept in $keep"
	fi
	[ -n "$T" ] && [ -f "$T/workload.err" ] && tail -5 "$T/workload.err"
	echo "powercut: $done_rounds power cuts verified before the failure: $done_rounds passed, 1 failed"
	exit 1
}

cleanup() {
	if [ -n "$WPID" ]; then
		kill -9 "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
	if [ -n "$T" ]; then
		if mountpoint -q "$T/mnt" 2>/dev/null; then
			umount "$T/mnt" 2>/dev/null || umount -l "$T/mnt"
		fi
		[ -n "$LOOP" ] && losetup -d "$LOOP"
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ "$(id -u)" = 0 ] || fail "the power-cut test needs root (loop device, mount)"
[ -x "$W" ] || fail "missing $W"
for p in losetup mkfs.ext4 mount umount mountpoint; do
	command -v $p >/dev/null 2>&1 || fail "missing $p"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/caravan-powercut-XXXXXX") || fail "mktemp"
truncate -s 256M "$T/fs.img" || fail "cannot create the image"
mkfs.ext4 -q -F "$T/fs.img" || fail "mkfs.ext4"
LOOP=$(losetup -f --show "$T/fs.img") || fail "no loop device support (losetup)"
mkdir "$T/mnt"
mount -t ext4 "$LOOP" "$T/mnt" || fail "cannot mount $LOOP"
mkdir "$T/cloud" || fail "mkdir"
echo "powercut: $ROUNDS rounds + $GROW_ROUNDS during growth + $EVICT_ROUNDS during eviction on $LOOP (seed $SEED)"

# rounds N STORE ACKS [grow | evict]: N power cuts of the workload on
# $T/mnt/STORE, every acknowledgement of every round kept in $T/ACKS
rounds() {
	STORE=$2
	ACKS=$3
	: >"$T/$ACKS"
	r=1
	while [ "$r" -le "$1" ]; do
		# how many acknowledgements to let through before the cut
		k=$(((SEED * 7919 + r * 104729) % 500 + 10))
		mkfifo "$T/pipe" || fail "mkfifo"
		case "${4:-}" in
		evict) mode="evict $T/cloud" ;;
		*) mode=${4:-} ;;
		esac
		# shellcheck disable=SC2086 # mode is words
		"$W" run "$T/mnt/$STORE" $((SEED + r)) $mode >"$T/pipe" 2>"$T/workload.err" &
		WPID=$!
		exec 3<"$T/pipe"
		n=0
		while [ "$n" -lt "$k" ] && IFS= read -r line <&3; do
			printf '%s\n' "$line" >>"$T/$ACKS"
			n=$((n + 1))
		done
		[ "$n" -eq "$k" ] || fail "$STORE round $r: the workload stopped after $n acknowledgements"
		"$W" shutdown "$T/mnt" || fail "$STORE round $r: FS_IOC_SHUTDOWN"
		kill -9 "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
		WPID=""
		# printed while the shutdown took effect: in flight, not required
		cat <&3 >"$T/inflight"
		exec 3<&-
		rm -f "$T/pipe"
		umount "$T/mnt" || fail "$STORE round $r: umount after the shutdown"
		mount -t ext4 "$LOOP" "$T/mnt" || fail "$STORE round $r: mount after the power cut"
		if [ "${4:-}" = evict ]; then
			out=$("$W" verify "$T/mnt/$STORE" "$T/$ACKS" "$T/inflight" "$T/cloud")
		else
			out=$("$W" verify "$T/mnt/$STORE" "$T/$ACKS" "$T/inflight")
		fi
		rc=$?
		echo "  $STORE round $r: cut after $n acknowledgements; $(echo "$out" | tail -1)"
		if [ "$rc" != 0 ]; then
			echo "$out" | tail -25
			fail "$STORE round $r: acknowledged data lost or store damaged"
		fi
		done_rounds=$((done_rounds + 1))
		r=$((r + 1))
	done
}

rounds "$ROUNDS" store acks
rounds "$GROW_ROUNDS" store-grow acks-grow grow
cap=$(stat -c %s "$T/mnt/store-grow/data")
# Each growth round grows the store once before its first acknowledgement
# (and then as often as the cut allows): every one of those must survive.
want=$(((1 + GROW_ROUNDS) * 65536 + 4096))
echo "powercut: the growth store's data file reached $cap bytes from 64 KiB + 4 KiB (at least $want after $GROW_ROUNDS rounds)"
[ "$cap" -ge "$want" ] || fail "the growth store lost a growth: $cap bytes, want at least $want"
rounds "$EVICT_ROUNDS" store-evict acks-evict evict
# Each eviction round evicts once before its writers start (acknowledged
# within its first three lines): every round's eviction was checked.
ev=$(grep -c '^E ' "$T/acks-evict")
echo "powercut: $ev acknowledged evictions, $(grep -c '^R ' "$T/acks-evict") refills, $(grep -c '^B ' "$T/acks-evict") backups in $EVICT_ROUNDS eviction rounds"
[ "$ev" -ge "$EVICT_ROUNDS" ] || fail "an eviction round acknowledged no eviction: $ev in $EVICT_ROUNDS rounds"
total=$((ROUNDS + GROW_ROUNDS + EVICT_ROUNDS))
echo "powercut: $total power cuts, $(cat "$T/acks" "$T/acks-grow" "$T/acks-evict" | wc -l) acknowledged changes verified, 0 lost: $total passed, 0 failed"
