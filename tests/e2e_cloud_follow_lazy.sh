#!/bin/sh
# e2e_cloud_follow_lazy.sh - a follower's lazy start from a base
# snapshot's index (docs/cloud.md, "Followers", "The base snapshot
# index"), through real mounts against s3rver on loopback.
#
# A writer fills N documents (about 1.2 MB of bodies: past the 1 MiB of
# feed that makes it write a base snapshot, and its index); one document
# (X) is changed after the snapshot (by the writer mounted again).  A follower mounted then starts from
# the index: the bytes it read at the start (caravanfs_follow_start_bytes)
# are a fraction of the bodies, and the snapshot's documents are read on
# first access (caravanfs_follow_refills_total).  The follower polls once
# an hour, so it stays at its start position while the writer changes
# another document (Y): Y's current object is then newer than the
# follower's position, and the follower must show Y's state at its
# position (from the snapshot part), never the newer one.  Every
# document read on the follower is the writer's content at that position;
# X shows its change.  Then a second follower, started lazily and
# stopped before reading anything, takes the prefix over after the
# writer is killed (-9) past its position (Z changed): it reads every
# body first (Z as it was at its position), uploads nothing unreadable
# and keeps Z's newer object as a conflict copy.  fsck of the stores.
#
# CARAVAN_LAZY_DOCS sets N (1400).
. "$(dirname "$0")/e2e/lib.sh"

s3_setup
s3_start || not_ok "s3rver starts"
URL=s3://caravan/lazy
S3ARGS="--s3-endpoint http://127.0.0.1:$PORT --s3-region us-east-1 --s3-path-style"
S3O="cloud=$URL,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style"
CT="$BUILD/tests/cloud_tool"
N=${CARAVAN_LAZY_DOCS:-1400}
W=$T/w
F=$T/f

pos() { getfattr --absolute-names --only-values -n user.caravan.follow_position "$1" 2>/dev/null; }
metric() { awk -v n="caravanfs_$2" '$1 == n { print $2 }' "$1/.caravan-metrics"; }
wait_long() { # poll until it succeeds (180 s at most: a shared machine)
	wl_end=$(($(date +%s) + 180))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$wl_end" ]; then return 1; fi
		sleep 0.1
	done
}
uploaded() { # uploaded FILE: its latest state is confirmed in the cloud
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" | grep -q '^uploaded'
}
uploaded_all() {
	for u_f in "$W"/*/*; do
		uploaded "$u_f" || return 1
	done
}
indexed() { # a base snapshot and its index are in the bucket
	# shellcheck disable=SC2086
	"$CT" $S3ARGS list "$URL" .caravan >"$T/list" &&
		grep -q '^sidx-' "$T/list" && grep -q '^snap-.*-00000000$' "$T/list"
}
snaps() { # the base snapshot objects and indexes in the bucket
	# shellcheck disable=SC2086
	"$CT" $S3ARGS list "$URL" .caravan | grep '^s'
}
contents() { # contents MNT: "SPACE/KEY:CONTENT" of every document, sorted
	(cd "$1" && grep -r '' sp0 sp1 sp2) | LC_ALL=C sort
}

mount_fs "$T/store-w" "$W" "$S3O,backup_delay_ms=100" || not_ok "the writer mounts"
pad=$(awk 'BEGIN { while (n++ < 10) printf "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789" }')
mkdir "$W/sp0" "$W/sp1" "$W/sp2"
i=0
while [ $i -lt "$N" ]; do
	printf '{"i":%d,"pad":"%s"}\n' "$i" "$pad" >"$W/sp$((i % 3))/d$i"
	i=$((i + 1))
done
check "the writer uploads $N documents" wait_long uploaded_all
check "... and writes a base snapshot with its index" wait_long indexed
body_bytes=$(cat "$W"/*/* | wc -c)
echo "# $N documents, $body_bytes bytes of bodies; $(grep -c '^snap-' "$T/list") snapshot parts"
# X: changed after the snapshot, before the follower starts (by the
# writer mounted again: a new generation, whose one small batch makes
# no snapshot)
check "clean unmount of the writer" umount_fs "$W"
snaps >"$T/snaps.before"
mount_fs "$T/store-w" "$W" "$S3O,backup_delay_ms=100" || not_ok "the writer mounts again"
WPID=$MOUNT_PID
echo '{"x":"after the snapshot"}' >"$W/sp1/d1"
check "X's change is uploaded" wait_long uploaded "$W/sp1/d1"
snaps >"$T/snaps.after"
check "... after the newest base snapshot" cmp -s "$T/snaps.before" "$T/snaps.after"
contents "$W" >"$T/at-start"

mount_fs "$T/store-f" "$F" "follow,$S3O,follow_poll_ms=3600000" || not_ok "the follower mounts"
P=$(pos "$F")
check "the follower shows a feed position" test -n "$P"
check_eq "it started from the index" "$(metric "$F" follow_start_lazy)" 1
lazy=$(metric "$F" follow_lazy_documents)
start=$(metric "$F" follow_start_bytes)
echo "# follower start: $start bytes read, $lazy documents left to their first access"
check "the start read less than half the bodies' bytes" test "${start:-$body_bytes}" -lt "$((body_bytes / 2))"
check "most documents wait for their first access" test "${lazy:-0}" -gt "$((N / 2))"
check_eq "nothing read back yet" "$(metric "$F" follow_refills_total)" 0

# Y: changed on the writer after the follower's position
Y=sp2/d2
old_y=$(cat "$W/$Y")
echo '{"y":"newer than the position"}' >"$W/$Y"
check "Y's newer object is uploaded" wait_long uploaded "$W/$Y"
check_eq "the follower is still at its position" "$(pos "$F")" "$P"
check_eq "Y shows its state at the position" "$(cat "$F/$Y")" "$old_y"
check_eq "X shows its change" "$(cat "$F/sp1/d1")" '{"x":"after the snapshot"}'
check_eq "... at the same position" "$(pos "$F")" "$P"
# first reads from three readers at once (they overlap), then compared
readers=""
for sp in sp0 sp1 sp2; do
	(cd "$F" && grep -r '' "$sp" >"$T/first.$sp") &
	readers="$readers $!"
done
# shellcheck disable=SC2086
wait $readers
LC_ALL=C sort "$T/first.sp0" "$T/first.sp1" "$T/first.sp2" >"$T/first"
check "three readers at once read the position's documents" cmp -s "$T/first" "$T/at-start"
contents "$F" >"$T/follower"
check "every document on first access is the writer's at the position" cmp -s "$T/follower" "$T/at-start"
diff "$T/follower" "$T/at-start" | head -5
refills=$(metric "$F" follow_refills_total)
rbytes=$(metric "$F" follow_refill_bytes_total)
echo "# $refills documents read back on first access, $rbytes bytes"
check_eq "each document of the index was read back once" "$refills" "$lazy"
check "a second read reads nothing more" cmp -s "$T/follower" "$T/at-start"
contents "$F" >/dev/null
check_eq "... from the cloud" "$(metric "$F" follow_refills_total)" "$refills"
check "the follower logs its start from the index" grep -q "from the index of base snapshot" "$T/caravanfs.log"

contents "$W" >"$T/final"
check "clean unmount of the follower" umount_fs "$F"
check "fsck the follower's store" "$CARAVAN" fsck "$T/store-f"

# ---- a lazily started follower that read nothing takes over ----
mount_fs "$T/store-f2" "$T/f2" "follow,$S3O,follow_poll_ms=3600000" || not_ok "follower 2 mounts"
check_eq "follower 2 starts from the index" "$(metric "$T/f2" follow_start_lazy)" 1
check "clean unmount of follower 2 (nothing read)" umount_fs "$T/f2"
# Z: changed after follower 2's position, then the writer is lost
Z=sp0/d3
echo '{"z":"newer than follower 2"}' >"$W/$Z"
check "Z's newer object is uploaded" wait_long uploaded "$W/$Z"
kill -9 "$WPID"
wait "$WPID" 2>/dev/null
fusermount3 -u -z "$W" 2>/dev/null
mark=$(wc -l <"$T/caravanfs.log")
NW=$T/nw
mount_fs "$T/store-f2" "$NW" "$S3O,cloud_takeover,backup_delay_ms=100" || not_ok "follower 2's store takes the prefix over"
tail -n +$((mark + 1)) "$T/caravanfs.log" >"$T/since"
check "it reads the documents it never read before taking over" grep -q "taking over '$URL': [1-9][0-9]* documents read" "$T/since"
contents "$NW" | grep -v caravan-conflict >"$T/nw.txt"
check "the new writer holds follower 2's position, Z as it was there" cmp -s "$T/nw.txt" "$T/final"
diff "$T/nw.txt" "$T/final" | head -5
uploaded_nw() {
	for u_f in "$NW"/*/*; do
		uploaded "$u_f" || return 1
	done
}
check "the new writer has every document in the cloud" wait_long uploaded_nw
tail -n +$((mark + 1)) "$T/caravanfs.log" >"$T/since"
check_fails "... none unreadable for its upload" grep -q "for upload" "$T/since"
check "Z's newer object is kept as a conflict copy" sh -c "ls '$NW/sp0' | grep -q '^d3.caravan-conflict'"
check "clean unmount of the new writer" umount_fs "$NW"
check "fsck the new writer's store" "$CARAVAN" fsck "$T/store-f2"
# restarted, the first follower catches up with the feed (Y's change)
mount_fs "$T/store-f" "$F" "follow,$S3O,follow_poll_ms=200" || not_ok "the follower mounts again"
newy() { [ "$(cat "$F/$Y")" = '{"y":"newer than the position"}' ]; }
check "restarted, it catches up with Y's change" wait_long newy
shows_nw() {
	contents "$F" | grep -v caravan-conflict >"$T/follower" &&
		cmp -s "$T/follower" "$T/final"
}
check "... and comes to show the new writer's namespace" wait_long shows_nw
check "clean unmount of the follower" umount_fs "$F"
check "fsck the follower's store" "$CARAVAN" fsck "$T/store-f"
e2e_finish
