#!/bin/sh
# e2e_fs_history.sh - MNT/.caravan-history against a record.
#
# Documents are written through the mount (a replacement, merge patches
# with >>, replacements with >) with history=4 and a small
# compact_entries, so compactions and replacements drop entries often.
# After each write the document's text is recorded for each seq the write
# made (a patch and the compaction after it are two seqs with one text).
# Then the history directory of each document must list exactly the last
# seq and the 4 before it (names zero-padded to 20 digits), each file must
# cat as its record, diff between two versions shows the change, and it
# holds after a clean remount and after kill -9 and a remount.  Also:
# writes inside are EROFS, the tree never shows in the root's listing,
# history_pinned_bytes shows in the metrics and in caravan stats,
# history=0 leaves only the newest version, and fsck stays clean.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
H=$M/.caravan-history
OPTS=history=4,compact_entries=6
mkdir -p "$T/v"

if ! mount_fs "$S" "$M" "$OPTS"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi

# newest KEY: the newest version of sp/KEY in the history (as a number)
newest() {
	ls "$H/sp/$1" | tail -1 | sed 's/^0*//'
}

# rec KEY FROM [TRUNC]: record the document's text for the seqs
# FROM+1..newest; with TRUNC the first of them is the truncation of a
# write with > (the empty document {}), the rest the text written
rec() {
	n=$(newest "$1")
	q=$(($2 + 1))
	if [ -n "${3:-}" ]; then
		echo '{}' >"$T/v/$1.$q"
		q=$((q + 1))
	fi
	while [ "$q" -le "$n" ]; do
		cat "$M/sp/$1" >"$T/v/$1.$q"
		q=$((q + 1))
	done
	LAST=$n
}

# verify KEY N WHAT: the history of sp/KEY lists the last N + 1 seqs
# (as far as the document goes) and each reads as recorded
verify() {
	last=$(newest "$1")
	first=$((last > $2 ? last - $2 : 1))
	want=""
	q=$first
	while [ "$q" -le "$last" ]; do
		want="$want$(printf '%020d' "$q") "
		q=$((q + 1))
	done
	got=$(ls "$H/sp/$1" | tr '\n' ' ')
	check_eq "$1: the history lists seqs $first..$last ($3)" "$got" "$want"
	bad=""
	q=$first
	while [ "$q" -le "$last" ]; do
		cmp -s "$H/sp/$1/$(printf '%020d' "$q")" "$T/v/$1.$q" ||
			bad="$bad $q"
		q=$((q + 1))
	done
	check_eq "$1: every version reads as recorded ($3)" "$bad" ""
}

check "mkdir a space" mkdir "$M/sp"
LAST=0
echo '{"name":"ada","n":0}' >"$M/sp/a"
rec a 0 trunc
i=1
while [ $i -le 40 ]; do
	prev=$LAST
	echo "{\"n\":$i,\"t$((i % 3))\":$i}" >>"$M/sp/a"
	rec a "$prev"
	i=$((i + 1))
done
# replacements only
LAST=0
i=1
while [ $i -le 12 ]; do
	prev=$LAST
	echo "{\"r\":$i}" >"$M/sp/b"
	rec b "$prev" trunc
	i=$((i + 1))
done
check "40 patches made more seqs than the history keeps" test "$(newest a)" -gt 30
verify a 4 "live"
verify b 4 "live"

# cat and diff of versions
last=$(newest a)
old=$H/sp/a/$(printf '%020d' $((last - 4)))
check "cat of an old version is its JSON" sh -c "grep -q '\"name\":\"ada\"' '$old'"
rc=0
diff "$old" "$M/sp/a" >"$T/diff" || rc=$?
check_eq "diff of an old version and the live document differs" "$rc" "1"
check "the diff shows the change" grep -q '^> .*"n":40' "$T/diff"
check "a version outside the history is gone" \
	sh -c "! test -e '$H/sp/a/$(printf '%020d' $((last - 5)))'"

# read-only, hidden
check_fails "write into a version: EROFS" sh -c "echo '{}' >'$old'"
check "the error is EROFS" sh -c \
	"echo '{}' 2>&1 >'$old' | grep -q 'Read-only file system'"
check_fails "append to a version" sh -c "echo '{}' >>'$old'"
check_fails "create in the history" sh -c "echo '{}' >'$H/sp/a/new'"
check_fails "remove a version" rm -f "$old"
check_fails "mkdir in the history" mkdir "$H/sp/x"
check_fails "rename in the history" mv "$old" "$H/sp/a/moved"
check "the root never lists it" sh -c "! ls -a '$M' | grep -q caravan-history"
check "the space list of the history" test "$(ls "$H")" = "sp"
pinned=$(sed -n 's/^caravanfs_history_pinned_bytes \([0-9]*\)$/\1/p' \
	"$M/.caravan-metrics")
check "the metrics show the bytes history keeps ($pinned)" \
	test "${pinned:-0}" -gt 0

# ---- remount
check "clean unmount" umount_fs "$M"
check "fsck with history" "$CARAVAN" fsck "$S"
spinned=$("$CARAVAN" stats "$S" --json |
	sed -n 's/.*"history_pinned_bytes":\([0-9]*\).*/\1/p')
check_eq "caravan stats shows the same bytes offline" "$spinned" "$pinned"
if ! mount_fs "$S" "$M" "$OPTS"; then
	not_ok "remount"
	e2e_finish
	exit 1
fi
verify a 4 "after a remount"
verify b 4 "after a remount"

# ---- kill -9: changes made durable (fsync) before it stay readable
i=41
while [ $i -le 50 ]; do
	prev=$LAST
	echo "{\"n\":$i}" >>"$M/sp/a"
	rec a "$prev"
	i=$((i + 1))
done
check "fsync the document" sync "$M/sp/a"
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null
fusermount3 -u -z "$M"
if ! mount_fs "$S" "$M" "$OPTS"; then
	not_ok "remount after kill -9"
	e2e_finish
	exit 1
fi
ok "remount after kill -9"
check_eq "the last version survived" "$(newest a)" "$LAST"
verify a 4 "after kill -9"
verify b 4 "after kill -9"
check "clean unmount" umount_fs "$M"
check "fsck after kill -9" "$CARAVAN" fsck "$S"

# ---- history=0: the newest version only
if ! mount_fs "$S" "$M" history=0; then
	not_ok "mount with history=0"
	e2e_finish
	exit 1
fi
verify a 0 "history=0"
check "clean unmount" umount_fs "$M"
e2e_finish
