#!/bin/sh
# e2e_fs_s3_down.sh - the S3 target down from the first second of a mount
# (issue 12, defect 6), against a real s3rver on a loopback port that is
# stopped before the mount and started again during it: every local
# operation works, new names included (mkdir of a space, creating a
# document, also one whose name the cloud holds); when S3 returns the
# backlog drains at once and nothing is lost: the local document replaces
# the cloud copy, which is kept as "<key>.caravan-conflict-<UTC time>",
# shown and restorable as a document, and logged.
. "$(dirname "$0")/e2e/lib.sh"

s3_setup
O="cloud=s3://caravan/down,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
CT=$BUILD/tests/cloud_tool
ct() { "$CT" --s3-endpoint "http://127.0.0.1:$PORT" --s3-region us-east-1 --s3-path-style "$@"; }
uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
A=$T/a
B=$T/b
ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the cloud holds sp/doc and sp/kept, written by store A ----
check "s3rver starts" s3_start
mount_fs "$T/store-a" "$A" "$O" || not_ok "mount A against s3://"
mkdir "$A/sp"
echo '{"v":"cloud"}' >"$A/sp/doc"
echo '{"kept":1}' >"$A/sp/kept"
check "A uploads its documents" wait_for sh -c 'for d in doc kept; do getfattr --absolute-names --only-values -n user.caravan.backup "$1/$d" | grep -q "^uploaded" || exit 1; done' sh "$A/sp"
check "clean unmount of A" umount_fs "$A"

# ---- S3 is down when an empty store B mounts ----
s3_stop
mount_fs "$T/store-b" "$B" "$O" || not_ok "mount B with S3 down"
t0=$(ms)
check "mkdir of a space with S3 down since the mount" mkdir "$B/sp"
check "a new document in it" sh -c 'echo "{\"v\":\"local\"}" >"$1"' sh "$B/sp/doc"
check "another space and document" sh -c 'mkdir "$1/fresh" && echo "{\"f\":1}" >"$1/fresh/x"' sh "$B"
t1=$(ms)
check "... all at once, with no wait on the cloud ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
check_eq "the local document reads back" "$(cat "$B/sp/doc")" '{"v":"local"}'
check_eq "... and waits as pending" "$(getfattr --absolute-names --only-values -n user.caravan.backup "$B/sp/doc" | cut -d' ' -f1)" pending
check_eq "ls shows the local names" "$(ls "$B" | tr '\n' ' ')" "fresh sp "
check_eq "no conflict is counted yet" "$(awk '$1 == "caravanfs_cloud_conflicts_total" { print $2 }' "$B/.caravan-metrics")" 0

# ---- S3 comes back ----
check "s3rver comes back" s3_start
check "the backlog drains" wait_for uploaded "$B/sp/doc"
check "... the other new document too" wait_for uploaded "$B/fresh/x"
check_eq "the cloud holds the local document under its name" "$(ct get s3://caravan/down sp doc | tail -n 1)" '{"v":"local"}'
conflict=$(ct list s3://caravan/down sp | grep '^doc\.caravan-conflict-')
check "the cloud copy it replaced is kept under a conflict name ($conflict)" test -n "$conflict"
check_eq "... holding the cloud's version" "$(ct get s3://caravan/down sp "$conflict" | tail -n 1)" '{"v":"cloud"}'
check "... and logged" grep -q "the cloud held 'sp/doc' (seq 1) unknown to this store: kept as 'sp/$conflict'" "$T/caravanfs.log"
check_eq "... and counted in the metrics" "$(awk '$1 == "caravanfs_cloud_conflicts_total" { print $2 }' "$B/.caravan-metrics")" 1
check_eq "the space lists the cloud's other document and the conflict copy" "$(ls "$B/sp" | tr '\n' ' ')" "doc $conflict kept "
check_eq "the conflict copy restores as a document" "$(cat "$B/sp/$conflict")" '{"v":"cloud"}'
check_eq "the cloud's other document restores" "$(cat "$B/sp/kept")" '{"kept":1}'
check "clean unmount" umount_fs "$B"
check "fsck" "$CARAVAN" fsck "$T/store-b"

e2e_finish
