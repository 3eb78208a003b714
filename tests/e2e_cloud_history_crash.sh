#!/bin/sh
# e2e_cloud_history_crash.sh - kill -9 of the mount while it uploads and
# feeds the history, at a random point of a seeded random workload; after
# the remount the uploader drains, and then the latest restore equals the
# namespace (polled: the feed holds it), the moment recorded after each
# earlier round still restores exactly, and a restore at any time between
# works (the history is never left unreadable).
#
# 8 rounds, 50 in the long campaign (CARAVAN_LONG=1) or
# CARAVAN_HISTORY_CRASH_ROUNDS=N; CARAVAN_HISTORY_SEED (default 1).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

if [ -n "${CARAVAN_LONG:-}" ]; then ROUNDS=50; else ROUNDS=8; fi
ROUNDS=${CARAVAN_HISTORY_CRASH_ROUNDS:-$ROUNDS}
SEED=${CARAVAN_HISTORY_SEED:-1}
A=$T/a
R=$T/r
RM=$T/rm
URL=dir:$T/cloud
S3ARGS=""
O="cloud=$URL,backup_delay_ms=50"
# shellcheck source=tests/e2e/history.sh
. "$(dirname "$0")/e2e/history.sh"

now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# conflicts_explained: what a failed conflict check saw (so a failure in
# CI explains itself): the seed and round, the conflict copies in the
# namespace and the cloud, the daemon's lines about them and the
# operations of the round
conflicts_explained() {
	echo "       seed $SEED round $round (replay: CARAVAN_HISTORY_SEED=$SEED)"
	echo "       in the namespace:"
	grep 'caravan-conflict-' "$T/want.$round" | sed 's/^/         /'
	echo "       in the cloud:"
	find "$T/cloud" -name '*caravan-conflict-*' | sed "s|^$T/||; s/^/         /"
	for ce_name in $(find "$T/cloud" -name '*caravan-conflict-*' ! -name '.caravan-meta.*' |
		sed "s|^$T/cloud/||; s/\.caravan-conflict-.*//" | sort -u); do
		echo "       the operations on $ce_name, by round (the last one up to the kill -9):"
		for ce_i in $(seq 1 "$round"); do
			grep -n " $ce_name\( \|\$\)\|rm -rf ${ce_name%%/*} (0)" "$T/ops.$ce_i" |
				sed "s/^/         round $ce_i op /"
		done
	done
	echo "       the daemon's log about them:"
	grep -n 'conflict\|unknown to this store\|written by another store\|pending\|lacks this store' \
		"$T/caravanfs.log" | tail -20 | sed 's/^/         /'
}

if ! mount_fs "$T/store" "$A" "$O"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
APID=$MOUNT_PID # (restore_at mounts too)
round=1
while [ "$round" -le "$ROUNDS" ]; do
	r=$((SEED * 7919 + round))
	rnd 60
	kill_after=$((v + 5))
	: >"$T/ops"
	(
		r=$((SEED * 104729 + round))
		while :; do
			one_op 2>/dev/null
			echo "$op" >>"$T/ops"
		done
	) &
	wpid=$!
	wait_for sh -c '[ "$(wc -l <"$1")" -ge "$2" ]' sh "$T/ops" "$kill_after"
	kill -9 "$APID"
	wait "$APID" 2>/dev/null
	kill "$wpid"
	wait "$wpid" 2>/dev/null
	cp "$T/ops" "$T/ops.$round"
	fusermount3 -u -z "$A"
	if ! mount_fs "$T/store" "$A" "$O"; then
		not_ok "round $round: remount after kill -9"
		break
	fi
	APID=$MOUNT_PID
	# the namespace after the remount's uploads drained: a change the
	# crash caught between its upload and its mark is uploaded again,
	# and the earlier upload is known as the store's own even when its
	# name was deleted and made again (docs/cloud-history.md)
	check "round $round: the uploads drain after the remount" wait_drained "$A"
	dump "$A" >"$T/want.$round"
	check_eq "round $round: no conflict copy in the namespace" "$(grep -c 'caravan-conflict-' "$T/want.$round")" 0
	check_eq "round $round: ... nor in the cloud" "$(find "$T/cloud" -name '*caravan-conflict-*' | wc -l)" 0
	if grep -q 'caravan-conflict-' "$T/want.$round" ||
		[ -n "$(find "$T/cloud" -name '*caravan-conflict-*')" ]; then
		conflicts_explained
	fi
	if wait_feed "$T/want.$round"; then
		ok "round $round: killed after $kill_after operations; after the remount the latest restore equals the namespace"
	else
		not_ok "round $round: the latest restore equals the namespace" "$(diff "$T/want.$round" "$T/poll" | head -5)"
	fi
	now >"$T/at.$round"
	# the previous moment, and one earlier at random, still restore
	for i in $((round - 1)) $((r % round)); do
		[ "$i" -ge 1 ] || continue
		restore_at "$(cat "$T/at.$i")" "$T/got"
		check_eq "round $round: moment $i still restores exactly" "$(cmp "$T/got" "$T/want.$i" 2>&1)" ""
	done
	round=$((round + 1))
done
# between two moments (inside a crash window): a restore works
check "a restore at a time inside a crash window works" restore_at "$(sed 's/\.[0-9]*Z/Z/' "$T/at.1")" "$T/got"
bad=0
i=1
while [ $i -lt "$round" ]; do
	restore_at "$(cat "$T/at.$i")" "$T/got"
	cmp -s "$T/got" "$T/want.$i" || bad=$((bad + 1))
	i=$((i + 1))
done
check_eq "every recorded moment restores exactly at the end" "$bad" 0
check "clean unmount" umount_fs "$A"
check "fsck after the crashes" "$CARAVAN" fsck "$T/store"
e2e_finish
