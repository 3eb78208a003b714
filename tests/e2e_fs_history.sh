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
#
# Times (real clocks, no sleeps): each write of sp/c is bracketed by two
# readings of the wall clock; every version it made must have its mtime
# and ctime within that window (so versions of different writes have
# distinct, ordered mtimes), live, after a remount and after kill -9.
# history_age=DURATION: a bad duration is refused; with history_age=1s
# the versions of sp/b, replaced long before, leave the listing (polled
# with a deadline) while the newest stays.
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

# write_c N: N patches of sp/c, each version's write window recorded
LASTC=0
write_c() {
	j=0
	while [ $j -lt "$1" ]; do
		prev=$LASTC
		lo=$(date +%s%N)
		echo "{\"c\":$j,\"w$((j % 4))\":$lo}" >>"$M/sp/c"
		hi=$(date +%s%N)
		n=$(newest c)
		q=$((prev + 1))
		while [ "$q" -le "$n" ]; do
			echo "$lo $hi" >"$T/v/c.$q.w"
			q=$((q + 1))
		done
		LASTC=$n
		j=$((j + 1))
	done
}

# check_times WHAT: every listed version of sp/c has its mtime and ctime
# (ns) in the window of the write that made it
check_times() {
	bad=""
	nv=0
	for f in "$H/sp/c"/*; do
		q=$(basename "$f" | sed 's/^0*//')
		read -r lo hi <"$T/v/c.$q.w" || lo=""
		mt=$(stat -c %.9Y "$f" | tr -d .)
		ct=$(stat -c %.9Z "$f" | tr -d .)
		if [ -z "$lo" ] || [ "$mt" -lt "$lo" ] || [ "$mt" -gt "$hi" ] ||
			[ "$ct" != "$mt" ]; then
			bad="$bad $q:$mt"
		fi
		nv=$((nv + 1))
	done
	check_eq "c: every version's mtime is when its write was made ($1)" \
		"$bad" ""
	check "c: $nv versions listed ($1)" test "$nv" -eq 5
}
write_c 9
check_times "live"

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
check_times "after a remount"

# ---- kill -9: changes made durable (fsync) before it stay readable
i=41
while [ $i -le 50 ]; do
	prev=$LAST
	echo "{\"n\":$i}" >>"$M/sp/a"
	rec a "$prev"
	i=$((i + 1))
done
write_c 3
check "fsync the document" sync "$M/sp/a"
check "fsync sp/c" sync "$M/sp/c"
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
check_times "after kill -9"
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

# ---- history_age
check_fails "a bad history_age is refused" mount_fs "$S" "$M" history_age=soon
if ! mount_fs "$S" "$M" history=4,history_age=1h; then
	not_ok "mount with history_age=1h"
	e2e_finish
	exit 1
fi
verify b 4 "history_age=1h"
check "clean unmount" umount_fs "$M"
if ! mount_fs "$S" "$M" history=4,history_age=1s; then
	not_ok "mount with history_age=1s"
	e2e_finish
	exit 1
fi
# sp/b was last written before the remounts: within a second its older
# versions were all replaced more than 1 s ago
i=0
while [ "$(ls "$H/sp/b" | wc -l)" -ne 1 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
verify b 0 "history_age=1s"
check "the document itself is unchanged" cmp -s "$M/sp/b" "$T/v/b.$(newest b)"
check "clean unmount" umount_fs "$M"
check "fsck at the end" "$CARAVAN" fsck "$S"
e2e_finish
