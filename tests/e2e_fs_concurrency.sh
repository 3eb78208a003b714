#!/bin/sh
# e2e_fs_concurrency.sh - threads appending to one shared and to private
# documents while others read through the mount: every read is a whole
# document equal to a state the writes passed through (never torn, never
# going back, never behind an acknowledged write), and at the end every
# acknowledged patch is there.  Then the same with readdir while
# documents come and go, and with compaction running all the time.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
if ! mount_fs "$S" "$M"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
mkdir "$M/c" "$M/d"
"$TOOL" concurrency "$M/c" 4 >"$T/conc" 2>&1
check "writers and readers on shared and private documents" test $? -eq 0
echo "       $(cat "$T/conc")"
check "readdir under churn" "$TOOL" listrace "$M/d" 20
check "clean unmount" umount_fs "$M"

# compaction on every few patches while readers read
mount_fs "$S" "$M" "compact_entries=8,history=0" || not_ok "remount with compact_entries=8,history=0"
"$TOOL" concurrency "$M/c" 3 >"$T/conc" 2>&1
check "the same while compaction runs constantly" test $? -eq 0
echo "       $(cat "$T/conc")"
check_eq "the shared document holds few entries" \
	"$(test "$(getfattr --absolute-names --only-values -n user.caravan.entries "$M/c/shared")" -le 9 && echo yes)" yes
check "clean unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

e2e_finish
