#!/bin/sh
# e2e_fs_s3.sh - the mount against a real S3-compatible server (s3rver,
# started here on a free loopback port): uploads, restore into an empty
# store, and S3 going away: the filesystem keeps working locally, a
# restore is EIO, and the backlog drains when S3 is back.
. "$(dirname "$0")/e2e/lib.sh"

s3_setup
O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
check "s3rver starts" s3_start
A=$T/a
B=$T/b
mount_fs "$T/store-a" "$A" "$O" || not_ok "mount against s3://"
mkdir "$A/sp"
echo '{"k":"v","n":1}' >"$A/sp/one"
echo '{"n":2}' >>"$A/sp/one"
printf '{"odd name":true}\n' >"$A/sp/a b%c"
echo '{"two":2}' >"$A/sp/two"
uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
check "a document is uploaded to S3" wait_for uploaded "$A/sp/one"
check "an odd name is uploaded" wait_for uploaded "$A/sp/a b%c"
check "a third one" wait_for uploaded "$A/sp/two"
check "clean unmount" umount_fs "$A"

mount_fs "$T/store-b" "$B" "$O" || not_ok "mount an empty store against s3://"
check_eq "an empty store lists the bucket's documents" "$(ls "$B/sp" | tr '\n' '|')" "a b%c|one|two|"
check_eq "and restores them on access" "$(cat "$B/sp/one")" '{"k":"v","n":2}'
check_eq "an odd name too" "$(cat "$B/sp/a b%c")" '{"odd name":true}'

# ---- S3 goes away ----
s3_stop
echo '{"offline":1}' >>"$B/sp/one"
check_eq "the mount keeps working while S3 is down" "$(cat "$B/sp/one")" '{"k":"v","n":2,"offline":1}'
echo '{"new":1}' >"$B/sp/new"
check_eq "... changes wait as pending" "$(getfattr --absolute-names --only-values -n user.caravan.backup "$B/sp/new" | cut -d' ' -f1)" pending
check_eq "creating a new document works while S3 is down" "$(cat "$B/sp/new")" '{"new":1}'
check_eq "a name the cloud does not hold: ENOENT at once" "$("$TOOL" writes "$B/sp/missing" plain '{}')" "open:ENOENT"
check_eq "restoring a document while S3 is down: EIO" "$(cat "$B/sp/two" 2>&1 | grep -c 'Input/output error')" 1
check "s3rver comes back" s3_start
check "the backlog drains" wait_for uploaded "$B/sp/new"
check "... also the change made while S3 was down" wait_for sh -c 'getfattr --absolute-names --only-values -n user.caravan.backup "$1" | grep -q "^uploaded seq=3"' sh "$B/sp/one"
check "clean unmount" umount_fs "$B"
check "fsck" "$CARAVAN" fsck "$T/store-b"

e2e_finish
