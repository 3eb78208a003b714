#!/bin/sh
# e2e_cloud_restore_mount.sh - a store restored as of TIME and mounted on
# its own target shows exactly the namespace at TIME: documents, spaces
# and states made after TIME are neither listed nor lazily restored from
# the target's current objects (ENOENT), and the target comes to hold the
# restored namespace (its newer objects deleted, the deletes in the
# history, nothing kept as a conflict copy).  First --only SPACE: that
# space as of TIME, the other spaces as the target holds them now; then
# a full restore.
# dir: target.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

SEED=1
A=$T/a
M=$T/m
R=$T/r
RM=$T/rm
URL=dir:$T/cloud
S3ARGS=""
O="cloud=$URL,backup_delay_ms=50"
# shellcheck source=tests/e2e/history.sh
. "$(dirname "$0")/e2e/history.sh"

# ls_names DIR: the names in DIR, one line, sorted
ls_names() {
	(cd "$1" && LC_ALL=C ls -1 | tr '\n' ' ')
}

# enoent PATH: stat fails with "No such file or directory"
enoent() {
	! stat "$1" >"$T/stat.out" 2>&1 && grep -q "No such file" "$T/stat.out"
}

check "mount with history" mount_fs "$T/store" "$A" "$O"
mkdir "$A/sp" "$A/keep"
echo '{"v":1}' >"$A/sp/old"
echo '{"g":1}' >"$A/sp/gone"
echo '{"k":1}' >"$A/keep/k"
dump "$A" >"$T/want.then"
check "the feed holds the first namespace" wait_feed "$T/want.then"
then=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
echo '{"v":2}' >"$A/sp/old"
rm "$A/sp/gone"
echo '{"n":1}' >"$A/sp/new"
mkdir "$A/newsp"
echo '{"x":1}' >"$A/newsp/x"
echo '{"k":2}' >"$A/keep/k"
echo '{"k":1}' >"$A/keep/later"
dump "$A" >"$T/want.now"
check "the feed holds the second namespace" wait_feed "$T/want.now"
check "the first mount stops cleanly" umount_fs "$A"

# ---- --only SPACE: that space as of then, the others as now ----
check "restore --at --only sp" "$CARAVAN" restore --cloud "$URL" --at "$then" --only sp "$T/only"
check "the --only store mounts on its target" mount_fs "$T/only" "$M" "$O"
check_eq "sp is as it was then" "$(ls_names "$M/sp")" "gone old "
check_eq "its document has its content of then" "$(cat "$M/sp/old")" '{"v":1}'
check "a document made in sp since is absent (ENOENT)" enoent "$M/sp/new"
check_eq "another space is the target's now (lazily restored)" "$(cat "$M/keep/k")" '{"k":2}'
check_eq "with its documents made since" "$(ls_names "$M/keep")" "k later "
check_eq "a space made since is there" "$(cat "$M/newsp/x")" '{"x":1}'
check "the --only mount drains" wait_drained "$M"
check "the name made in sp since is deleted from the target" test ! -e "$T/cloud/sp/new"
check "the other spaces' names stay in the target" test -e "$T/cloud/keep/later"
check "the --only store stops cleanly" umount_fs "$M"

# ---- a full restore as of then, mounted on the same target ----
check "restore --at" "$CARAVAN" restore --cloud "$URL" --at "$then" "$T/back"
check "the restored store mounts on its target" mount_fs "$T/back" "$M" "$O"
check_eq "the spaces are those of then" "$(ls_names "$M")" "keep sp "
check_eq "the documents of sp are those of then" "$(ls_names "$M/sp")" "gone old "
check_eq "a document has its content of then" "$(cat "$M/sp/old")" '{"v":1}'
check_eq "a document deleted since is back" "$(cat "$M/sp/gone")" '{"g":1}'
check "a document made since is absent (ENOENT)" enoent "$M/sp/new"
check "a space made since is absent (ENOENT)" enoent "$M/newsp"
check "a document of it is absent (ENOENT)" enoent "$M/newsp/x"
check_eq "another space is as it was then" "$(ls_names "$M/keep")" "k "
check_eq "with its content of then" "$(cat "$M/keep/k")" '{"k":1}'
check "its document made since is absent (ENOENT)" enoent "$M/keep/later"
check "the mount drains" wait_drained "$M"
check "the names made since are deleted from the target" test ! -e "$T/cloud/keep/later"
check "so is the space made since" test ! -e "$T/cloud/newsp/x"
check "the deleted document is in the target again" test -e "$T/cloud/sp/gone"
check_eq "no conflict copy was kept" "$(find "$T/cloud" -name '*caravan-conflict*' | wc -l)" 0
dump "$M" >"$T/got.mount"
check_eq "the mount shows exactly the namespace of then" "$(cut -d' ' -f1,4- "$T/got.mount")" "$(cut -d' ' -f1,4- "$T/want.then")"
check "it stops cleanly" umount_fs "$M"
check "remounted" mount_fs "$T/back" "$M" "$O"
check_eq "the namespace of then stays after a remount" "$(ls_names "$M/sp")" "gone old "
check "still absent after a remount" enoent "$M/sp/new"
check "unmounted" umount_fs "$M"
restore_at "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$T/got.latest"
check_eq "a restore at now is the namespace of then (the deletes are in the history)" "$(cut -d' ' -f1,4- "$T/got.latest")" "$(cut -d' ' -f1,4- "$T/want.then")"
check "the newer states are still in the history" sh -c "'$CARAVAN' versions --cloud '$URL' sp/new | grep -q seq"

e2e_finish
