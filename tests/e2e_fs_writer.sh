#!/bin/sh
# e2e_fs_writer.sh - one writer per cloud prefix, through real mounts on
# a dir: target: a second store is refused at mount with a message naming
# the first, also after the first was killed; the same store takes its
# own lease back after a crash; a clean unmount hands the prefix on;
# -o cloud_takeover hands it over from a live writer, which then stops
# writing (its changes stay local and pending).
. "$(dirname "$0")/e2e/lib.sh"

C=$T/cloud
A=$T/a
B=$T/b
O="cloud=dir:$C,backup_delay_ms=50"
uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
metric() { # metric MNT NAME: the value of caravanfs_NAME
	awk -v n="caravanfs_$2" '$1 == n { print $2 }' "$1/.caravan-metrics"
}

mount_fs "$T/store-a" "$A" "$O" || not_ok "mount A"
mkdir "$A/sp"
echo '{"from":"a"}' >"$A/sp/doc"
check "A uploads" wait_for uploaded "$A/sp/doc"
check_eq "A holds the writer lease" "$(metric "$A" cloud_writer)" 1
check "the lease object is readable text naming A's pid" grep -q "^pid $MOUNT_PID\$" "$C/.caravan/writer"
APID=$MOUNT_PID

: >"$T/caravanfs.log"
check_fails "a second store on A's prefix is refused" mount_fs "$T/store-b" "$B" "$O"
check "... with a message naming the writer" grep -q "is written by another store (store .* pid $APID" "$T/caravanfs.log"
check "... and how to take it over" grep -q "cloud_takeover" "$T/caravanfs.log"

kill -9 "$APID"
wait "$APID" 2>/dev/null
fusermount3 -u -z "$A" 2>/dev/null
check_eq "a kill -9 leaves the lease active" "$(sed -n 's/^state //p' "$C/.caravan/writer")" active
check_fails "the second store is still refused" mount_fs "$T/store-b" "$B" "$O"

mount_fs "$T/store-a" "$A" "$O" || not_ok "the same store mounts again after its crash"
check_eq "... and holds the lease" "$(metric "$A" cloud_writer)" 1
check "clean unmount of A" umount_fs "$A"
check_eq "a clean unmount releases the lease" "$(sed -n 's/^state //p' "$C/.caravan/writer")" released

mount_fs "$T/store-b" "$B" "$O" || not_ok "after A's clean unmount B takes the prefix"
check_eq "B sees A's documents" "$(cat "$B/sp/doc")" '{"from":"a"}'
check "clean unmount of B" umount_fs "$B"

# ---- takeover from a live writer ----
mount_fs "$T/store-a" "$A" "$O,cloud_lease_ms=100" || not_ok "A mounts again (B released)"
check_eq "A holds the lease again" "$(metric "$A" cloud_writer)" 1
mount_fs "$T/store-b" "$B" "$O,cloud_takeover" || not_ok "B takes the prefix over with -o cloud_takeover"
fenced() { [ "$(metric "$A" cloud_fenced)" = 1 ]; }
check "A finds out and is fenced" wait_for fenced
check_eq "... and no longer holds the lease" "$(metric "$A" cloud_writer)" 0
check "... with a log line" grep -q "is now written by another store" "$T/caravanfs.log"
echo '{"late":"a"}' >>"$A/sp/doc"
echo '{"from":"b"}' >"$B/sp/other"
check "B uploads" wait_for uploaded "$B/sp/other"
check_fails "A's later change is not uploaded" uploaded "$A/sp/doc"
check_eq "A's change stays readable locally" "$(cat "$A/sp/doc")" '{"from":"a","late":"a"}'
check "clean unmount of A" umount_fs "$A"
check_eq "a fenced store's unmount leaves B's lease active" "$(sed -n 's/^state //p' "$C/.caravan/writer")" active
check "clean unmount of B" umount_fs "$B"
check "fsck A" "$CARAVAN" fsck "$T/store-a"
check "fsck B" "$CARAVAN" fsck "$T/store-b"
e2e_finish
