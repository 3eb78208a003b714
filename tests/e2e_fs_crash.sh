#!/bin/sh
# e2e_fs_crash.sh - kill -9 of caravanfs while writers append and fsync
# after each patch; after the dead mount is lazily unmounted and the store
# mounted again, every document parses and holds every acknowledged patch
# with no hole (a prefix of what was written).  Several rounds on one
# store, each checking all rounds before it; the background committer is
# slow (commit_ms=2000) so only fsync makes a patch durable early.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
# 3 rounds, 20 in the long campaign (CARAVAN_LONG=1)
if [ -n "${CARAVAN_LONG:-}" ]; then ROUNDS=20; else ROUNDS=3; fi
ROUNDS=${CARAVAN_E2E_CRASH_ROUNDS:-$ROUNDS}
DOCS=4
if ! mount_fs "$S" "$M" "commit_ms=2000"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
r=1
while [ $r -le "$ROUNDS" ]; do
	mkdir "$M/r$r"
	: >"$T/ack$r"
	"$TOOL" crashwriter "$M/r$r" $DOCS "$T/ack$r" &
	wpid=$!
	# let the writers get a few hundred acknowledged patches in
	wait_for sh -c '[ "$(wc -l <"$1")" -ge 300 ]' sh "$T/ack$r"
	kill -9 "$MOUNT_PID"
	wait "$MOUNT_PID" 2>/dev/null
	wait "$wpid"
	echo "       round $r: $(wc -l <"$T/ack$r") acknowledged patches at the kill"
	fusermount3 -u -z "$M"
	if ! mount_fs "$S" "$M" "commit_ms=2000"; then
		not_ok "round $r: remount after kill -9"
		break
	fi
	ok "round $r: remount after kill -9"
	i=1
	while [ $i -le $r ]; do
		"$TOOL" crashcheck "$M/r$i" $DOCS "$T/ack$i" >"$T/check" 2>&1
		check "round $r: round $i's documents parse and hold every acknowledged patch" test $? -eq 0
		grep -v '^OK' "$T/check" | head -5
		i=$((i + 1))
	done
	r=$((r + 1))
done
check "clean unmount" umount_fs "$M"
check "fsck after the crashes" "$CARAVAN" fsck "$S"

e2e_finish
