#!/bin/sh
# e2e_fs_cloud.sh - backup and restore through real mounts against a dir:
# target: changes are uploaded within backup_delay_ms (user.caravan.backup
# says so), a delete removes the cloud copy, an empty store mounted against
# the target shows the whole namespace and restores documents on access,
# a damaged archive is EIO and never imported, a deleted document does not
# come back.
. "$(dirname "$0")/e2e/lib.sh"

C=$T/cloud
A=$T/a
B=$T/b
if ! mount_fs "$T/store-a" "$A" "cloud=dir:$C,backup_delay_ms=50"; then
	not_ok "mount with a dir: target"
	e2e_finish
	exit 1
fi
# (mount_fs puts cloud=none first; the later cloud= wins)
mkdir "$A/people" "$A/empty"
echo '{"name":"ada","n":1}' >"$A/people/ada"
echo '{"n":2}' >>"$A/people/ada"
echo '{"name":"bob"}' >"$A/people/bob"
echo '{"name":"eve"}' >"$A/people/eve"
echo '[1,2,3]' >"$A/people/list"

uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded seq='
}
check "a change is uploaded (user.caravan.backup)" wait_for uploaded "$A/people/ada"
check "every document is uploaded" wait_for sh -c 'for d in ada bob eve list; do getfattr --absolute-names --only-values -n user.caravan.backup "$1/$d" | grep -q "^uploaded" || exit 1; done' sh "$A/people"
check_eq "user.caravan.backup_seq" "$(getfattr --absolute-names --only-values -n user.caravan.backup_seq "$A/people/ada")" 2
check "the target holds the documents" test -f "$C/people/ada"
echo '{"n":3}' >>"$A/people/ada"
check "a later change is uploaded again" wait_for sh -c 'getfattr --absolute-names --only-values -n user.caravan.backup_seq "$1" | grep -qx 3' sh "$A/people/ada"
rm "$A/people/eve"
check "a delete removes the cloud copy" wait_for sh -c '! test -e "$1"' sh "$C/people/eve"
check "metrics count uploads" grep -qE '^caravanfs_uploads_total [1-9]' "$A/.caravan-metrics"
check_eq "nothing is left in the upload queue" "$(awk '$1 == "caravanfs_upload_queue" { print $2 }' "$A/.caravan-metrics")" 0
check "clean unmount" umount_fs "$A"

# ---- an empty store against the same target ----
mount_fs "$T/store-b" "$B" "cloud=dir:$C" || not_ok "mount an empty store against the target"
check_eq "the root lists the cloud's spaces" "$(ls "$B" | tr '\n' ' ')" "people "
check_eq "a space lists the cloud's documents" "$(ls -f "$B/people" | grep -v '^\.' | sort | tr '\n' ' ')" "ada bob list "
check_eq "a document is restored on access" "$(cat "$B/people/ada")" '{"name":"ada","n":3}'
check_eq "... with its sequence number" "$(getfattr --absolute-names --only-values -n user.caravan.seq "$B/people/ada")" 3
check_eq "... and already counted as uploaded" "$(getfattr --absolute-names --only-values -n user.caravan.backup "$B/people/ada" | cut -d' ' -f1)" uploaded
check_eq "another one" "$(cat "$B/people/list")" '[1,2,3]'
check_eq "the listing now shows each name once" "$(ls -f "$B/people" | grep -v '^\.' | sort | tr '\n' ' ')" "ada bob list "
check_eq "a deleted document does not come back" "$("$TOOL" writes "$B/people/eve" plain '{}')" "open:ENOENT"
check "metrics count restores" grep -qE '^caravanfs_restores_total [1-9]' "$B/.caravan-metrics"
# damage bob's archive before anything read it
size=$(stat -c %s "$C/people/bob")
# (a flipped bit: a fixed byte written there may already be the byte)
flip_bit "$C/people/bob" $((size - 3))
check_eq "a damaged archive: EIO" "$(cat "$B/people/bob" 2>&1 | grep -c 'Input/output error')" 1
check "... and logged" grep -q 'bob' "$T/caravanfs.log"
check "clean unmount" umount_fs "$B"
check_fails "... and nothing of it imported" "$CARAVAN" dump "$T/store-b" people/bob
check "fsck" "$CARAVAN" fsck "$T/store-b"

# ---- caravan backup and restore ----
mount_fs "$T/store-a" "$A" || not_ok "mount A without backup"
echo '{"offline":true}' >>"$A/people/ada"
check "clean unmount" umount_fs "$A"
"$CARAVAN" backup --cloud "dir:$C" "$T/store-a" >"$T/backup.out" 2>&1
check "caravan backup uploads what is pending" grep -q '^1 document uploaded' "$T/backup.out"
mount_fs "$T/store-a" "$A" "cloud=dir:$C,backup_delay_ms=600000" || not_ok "mount A with a slow uploader"
check_eq "... and marks it uploaded" "$(getfattr --absolute-names --only-values -n user.caravan.backup "$A/people/ada" | cut -d' ' -f1)" uploaded
check "clean unmount" umount_fs "$A"
"$CARAVAN" restore --cloud "dir:$C" "$T/store-c" >"$T/restore.out" 2>"$T/restore.err"
check_eq "caravan restore reports the damaged archive" "$?" 1
check "... restores the rest" grep -q '^2 documents restored' "$T/restore.out"
check "... with its progress (plain lines off a terminal)" grep -q '^caravan: restore: 3/3 documents' "$T/restore.err"
check "... names what failed" grep -q "cannot restore 'people/bob'" "$T/restore.err"
check "the restored store holds the documents" sh -c '"$1" dump "$2" people/ada --values | grep -q offline' sh "$CARAVAN" "$T/store-c"
check "fsck of the restored store" "$CARAVAN" fsck "$T/store-c"
check_fails "caravan restore needs --cloud" "$CARAVAN" restore "$T/store-d"

e2e_finish
