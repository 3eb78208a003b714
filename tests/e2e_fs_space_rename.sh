#!/bin/sh
# e2e_fs_space_rename.sh - renaming a space is atomic and durable (SPEC 3):
# kill -9 of caravanfs while a space of many documents is renamed back
# and forth shows, after the remount, the space under one name or the
# other with every document, never a mix; and with a dir: target the
# documents' cloud copies follow the rename in the background (uploaded
# under the new name, removed under the old one).
. "$(dirname "$0")/e2e/lib.sh"

M=$T/m
S=$T/store
DOCS=60

# ---- kill -9 in the middle of renames

mount_fs "$S" "$M" || { not_ok "mount"; e2e_finish; exit 1; }
mkdir "$M/a"
i=0
while [ $i -lt $DOCS ]; do
	echo "{\"i\":$i}" >"$M/a/d$i"
	i=$((i + 1))
done
check "the documents are durable before the renames (fsync)" "$TOOL" sys fsync "$M/a/d0"
umount_fs "$M"

# layout MNT: "a N" or "b N" when exactly one of the names holds all
# DOCS documents with their content, else what it found
layout() {
	lo=$(ls "$1" | tr '\n' ' ')
	case "$lo" in
	"a ") lo_s=a ;;
	"b ") lo_s=b ;;
	*) echo "spaces: $lo"; return ;;
	esac
	lo_n=0
	for f in "$1/$lo_s"/*; do
		k=${f##*/d}
		[ "$(cat "$f")" = "{\"i\":$k}" ] && lo_n=$((lo_n + 1))
	done
	echo "$lo_s $lo_n"
}

seen=""
round=1
while [ $round -le 6 ]; do
	# commit_ms=3: the background committer makes renames durable while
	# they go on, so the kill finds either name last durable
	mount_fs "$S" "$M" commit_ms=3 || { not_ok "round $round: mount"; break; }
	# rename back and forth until killed
	(
		while :; do
			if [ -d "$M/a" ]; then
				r=$("$TOOL" sys rename "$M/a" "$M/b")
			else
				r=$("$TOOL" sys rename "$M/b" "$M/a")
			fi
			[ "$r" = OK ] || exit 0
		done
	) &
	RN=$!
	# let it run for a number of renames, then kill -9 the daemon
	wait_for sh -c '[ "$(awk "\$1 == \"caravanfs_renames_total\" { print \$2 }" "$1/.caravan-metrics")" -ge $2 ]' sh "$M" $((round * 7 + 10))
	kill -9 "$MOUNT_PID"
	wait "$MOUNT_PID" 2>/dev/null
	kill "$RN" 2>/dev/null
	wait "$RN" 2>/dev/null
	fusermount3 -u -z "$M" 2>/dev/null
	check "round $round: fsck after kill -9" "$CARAVAN" fsck "$S"
	mount_fs "$S" "$M" || { not_ok "round $round: remount"; break; }
	got=$(layout "$M")
	case "$got" in
	"a $DOCS" | "b $DOCS")
		ok "round $round: one name with all $DOCS documents ($got)"
		seen="$seen ${got% *}"
		;;
	*) not_ok "round $round: one name with all $DOCS documents" "$got" ;;
	esac
	umount_fs "$M"
	round=$((round + 1))
done

echo "# names found after the crashes:$seen"

# ---- the cloud copies follow

C=$T/cloud
mount_fs "$T/store-c" "$M" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target"
mkdir "$M/old"
for d in x y z; do echo "{\"d\":\"$d\"}" >"$M/old/$d"; done
check "the documents are uploaded" wait_for sh -c 'test -f "$1/old/x" && test -f "$1/old/y" && test -f "$1/old/z"' sh "$C"
check "mv of the space" mv "$M/old" "$M/new"
check "the copies are uploaded under the new name" wait_for sh -c 'test -f "$1/new/x" && test -f "$1/new/y" && test -f "$1/new/z"' sh "$C"
check "... and removed under the old one" wait_for sh -c '! test -e "$1/old/x" && ! test -e "$1/old/y" && ! test -e "$1/old/z"' sh "$C"
check "... holding the document" grep -aqF '{"d":"y"}' "$C/new/y"
check_eq "the old name does not come back from the cloud" "$(ls "$M" | tr '\n' ' ')" "new "
check "clean unmount" umount_fs "$M"
mount_fs "$T/store-d" "$M" "cloud=dir:$C" || not_ok "mount an empty store against the target"
check_eq "an empty store sees the space under its new name" "$(ls "$M" | tr '\n' ' ')" "new "
check_eq "... and restores its documents" "$(cat "$M/new/z")" '{"d":"z"}'
check "clean unmount" umount_fs "$M"

e2e_finish
