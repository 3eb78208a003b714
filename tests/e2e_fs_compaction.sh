#!/bin/sh
# e2e_fs_compaction.sh - 100,000 patches to one document: the log holds a
# bounded number of entries (user.caravan.entries) and the document is
# exactly the result of all of them, also after a remount.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
N=${CARAVAN_COMPACT_PATCHES:-100000}
# compact_entries 256 and history 16 (the defaults): what compaction leaves
# plus the entries history keeps, at most 2 x 257 + 16 (docs/semantics.md)
BOUND=530
if ! mount_fs "$S" "$M"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
mkdir "$M/c"
t0=$(date +%s.%N)
want=$("$TOOL" patches "$M/c/doc" "$N" 100)
t1=$(date +%s.%N)
check "$N patches written" test -n "$want"
echo "       $(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f patches/s", n / (b - a) }')"
check_eq "the document is the result of every patch" "$(cat "$M/c/doc")" "$want"
check_eq "user.caravan.seq counts patches and snapshots" \
	"$(test "$(getfattr --absolute-names --only-values -n user.caravan.seq "$M/c/doc")" -gt "$N" && echo yes)" yes
entries=$(getfattr --absolute-names --only-values -n user.caravan.entries "$M/c/doc")
check_eq "the log holds a bounded number of entries ($entries)" "$(test "$entries" -le $BOUND && echo yes)" yes
check "metrics count compactions" grep -qE '^caravanfs_compactions_total [1-9]' "$M/.caravan-metrics"
check "clean unmount" umount_fs "$M"
check_eq "caravan dump shows a snapshot first" "$("$CARAVAN" dump "$S" c/doc | head -1 | cut -d' ' -f2)" S
mount_fs "$S" "$M" || not_ok "remount"
check_eq "after a remount the document is unchanged" "$(cat "$M/c/doc")" "$want"
check_eq "... and still bounded" \
	"$(test "$(getfattr --absolute-names --only-values -n user.caravan.entries "$M/c/doc")" -le $BOUND && echo yes)" yes
check "clean unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

e2e_finish
