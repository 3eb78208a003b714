#!/bin/sh
# e2e_cloud_integrity.sh - issue 12, the store's side: nothing that comes
# from the target can break the store.  Hostile archives are planted in a
# dir: target and in a real S3 server (s3rver on loopback, started here)
# through cloud_tool put-archive, then looked up through a real mount:
#   - a sequence number of 2^64-1 is EIO and never imported; the largest
#     allowed one is imported and an append past it fails cleanly, so the
#     store keeps working and remounts (defect 1);
#   - entries that are not JSON, of an unknown kind, invalid UTF-8, or
#     empty are EIO and never imported (defect 2);
#   - set-id and sticky bits of an archived mode are dropped (defect 9);
#   - another target, by remount or by caravan backup --cloud, gets every
#     document (defect 7).
# CLOUD_TOOL may name another build's cloud_tool (to run this script
# against an older caravanfs).
. "$(dirname "$0")/e2e/lib.sh"

CT=${CLOUD_TOOL:-$BUILD/tests/cloud_tool}
A=$T/a
# Each part has its own store and target, so that each defect shows on
# its own.  Hostile archives are planted before the mount (the mount
# caches what the cloud holds for a few seconds).

eio() {
	cat "$1" 2>&1 | grep -c 'Input/output error'
}

uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}

# ---- defect 1: absurd sequence numbers ----
C=$T/cloud1
"$CT" put-archive "dir:$C" sp huge 18446744073709551615 644 'P{"x":1}'
"$CT" put-archive "dir:$C" sp top 4611686018427387904 644 'P{"x":1}'
mount_fs "$T/store1" "$A" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target"
mkdir -p "$A/sp"
echo '{"a":1}' >"$A/sp/local"
check_eq "an archive with seq 2^64-1: EIO" "$(eio "$A/sp/huge")" 1
check "... logged" grep -q "cannot restore 'sp/huge'" "$T/caravanfs.log"
echo '{"y":2}' 2>/dev/null >>"$A/sp/huge"
check_eq "... an append to the name does not wrap the store" "$(eio "$A/sp/huge")" 1
check_eq "the largest allowed seq is imported" "$(cat "$A/sp/top")" '{"x":1}'
check_fails "... an append past it fails" sh -c 'echo "{\"y\":2}" >>"$1"' sh "$A/sp/top"
check_eq "... and changes nothing" "$(cat "$A/sp/top")" '{"x":1}'
echo '{"b":2}' >>"$A/sp/local"
check_eq "the store still takes changes" "$(cat "$A/sp/local")" '{"a":1,"b":2}'
check "clean unmount" umount_fs "$A"
check "the store remounts" mount_fs "$T/store1" "$A" "cloud=dir:$C,backup_delay_ms=50"
check_eq "... with its documents" "$(cat "$A/sp/local")" '{"a":1,"b":2}'
check "clean unmount" umount_fs "$A"
check "fsck" "$CARAVAN" fsck "$T/store1"
check_fails "nothing of 'huge' was imported" "$CARAVAN" dump "$T/store1" sp/huge

# ---- defect 2: invalid entries; defect 9: archived modes ----
C=$T/cloud2
"$CT" put-archive "dir:$C" sp notjson 1 644 'Rnot json'
"$CT" put-archive "dir:$C" sp kind 1 644 'X{}'
"$CT" put-archive "dir:$C" sp utf8 1 644 "$(printf 'P{"s":"\377"}')"
"$CT" put-archive "dir:$C" sp empty 1 644 ''
"$CT" put-archive "dir:$C" sp half 2 644 'P{"a":1}' 'P{"a":'
"$CT" put-archive "dir:$C" sp suid 1 7777 'P{"m":1}'
"$CT" put-archive "dir:$C" sp sgid 1 2750 'P{"m":2}'
mount_fs "$T/store2" "$A" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target"
for k in notjson kind utf8 empty half; do
	check_eq "an archive with an invalid entry ($k): EIO" "$(eio "$A/sp/$k")" 1
done
check "... logged as invalid" grep -q "cannot restore 'sp/notjson': invalid archive" "$T/caravanfs.log"
check_eq "set-id and sticky bits are dropped (07777)" "$(stat -c %a "$A/sp/suid")" 777
check_eq "... (02750)" "$(stat -c %a "$A/sp/sgid")" 750
check "clean unmount" umount_fs "$A"
check "fsck" "$CARAVAN" fsck "$T/store2"
for k in notjson kind utf8 empty half; do
	check_fails "nothing of '$k' was imported" "$CARAVAN" dump "$T/store2" "sp/$k"
done

# ---- defect 7: another target gets every document ----
mount_fs "$T/store3" "$A" "cloud=dir:$T/cloud3,backup_delay_ms=50" || not_ok "mount with a dir: target"
mkdir "$A/sp"
for k in one two three; do echo "{\"k\":\"$k\"}" >"$A/sp/$k"; done
for k in one two three; do check "'$k' is uploaded" wait_for uploaded "$A/sp/$k"; done
check "clean unmount" umount_fs "$A"
C2=$T/cloud3b
"$CARAVAN" backup --cloud "dir:$C2" "$T/store3" >"$T/backup.out" 2>&1
check "caravan backup --cloud NEW uploads every document" grep -q '^3 documents uploaded' "$T/backup.out"
check_eq "... the new target holds them" "$("$CT" list "dir:$C2" sp | sort | tr '\n' ' ')" "one three two "
"$CARAVAN" backup --cloud "dir:$C2" "$T/store3" >"$T/backup.out" 2>&1
check "... and the same target again: nothing" grep -q '^0 documents uploaded' "$T/backup.out"
C3=$T/cloud3c
mount_fs "$T/store3" "$A" "cloud=dir:$C3,backup_delay_ms=50" || not_ok "mount against a third target"
check "a remount with another cloud= uploads every document" wait_for sh -c 'test "$("$1" list "$2" sp | wc -l)" -eq 3' sh "$CT" "dir:$C3"
check "... logged" grep -q "backup target 'dir:$C3' is new to this store: 3 documents" "$T/caravanfs.log"
for k in one two three; do check "... user.caravan.backup of '$k' says so" wait_for uploaded "$A/sp/$k"; done
check "clean unmount" umount_fs "$A"
check "fsck" "$CARAVAN" fsck "$T/store3"

# ---- defect 1 against a real S3 server: x-amz-meta-seq 2^64-1 ----
s3_setup
check "s3rver starts" s3_start
S3="--s3-endpoint http://127.0.0.1:$PORT --s3-region us-east-1 --s3-path-style"
# shellcheck disable=SC2086
"$CT" $S3 put-archive s3://caravan/e2e sp huge 18446744073709551615 644 'P{"x":1}'
# shellcheck disable=SC2086
"$CT" $S3 put-archive s3://caravan/e2e sp bad 1 644 'Rnot json'
O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
mount_fs "$T/store-s3" "$A" "$O" || not_ok "mount against s3://"
mkdir -p "$A/sp"
echo '{"n":1}' >"$A/sp/mine"
check_eq "S3: an object with x-amz-meta-seq 2^64-1: EIO" "$(eio "$A/sp/huge")" 1
echo '{"y":2}' 2>/dev/null >>"$A/sp/huge"
check_eq "S3: an object with an invalid entry: EIO" "$(eio "$A/sp/bad")" 1
echo '{"n":2}' >>"$A/sp/mine"
check_eq "S3: the store still takes changes" "$(cat "$A/sp/mine")" '{"n":2}'
check "clean unmount" umount_fs "$A"
check "S3: the store remounts" mount_fs "$T/store-s3" "$A" "$O"
check_eq "... with its documents" "$(cat "$A/sp/mine")" '{"n":2}'
check "clean unmount" umount_fs "$A"
check "S3: fsck" "$CARAVAN" fsck "$T/store-s3"

e2e_finish
