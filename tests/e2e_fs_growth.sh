#!/bin/sh
# e2e_fs_growth.sh - a store that grows online: capacity=4M,
# max_capacity=16M, cloud=none receives 32 KiB documents through the
# mount until the bound.  No write fails before the 16 MiB are used
# (clean unmount, then caravan stats: capacity 16M, less than two
# documents free), the next one is ENOSPC, the data file is 16 MiB plus
# its header page, every document reads back exactly, after a remount
# too.  Then the same on a second store mounted with -o sync, killed
# with kill -9 as soon as the bound is hit: after the remount every
# acknowledged document reads back exactly and fsck is clean.  Last,
# caravan grow grows the unmounted store offline and the mount uses the
# room.
. "$(dirname "$0")/e2e/lib.sh"

M=$T/mnt
DOC=32768
MAX=16777216
pad=$(printf "%0${DOC}d" 0)

# doc I: the text written as document I (and read back)
doc() {
	printf '{"i":%d,"pad":"%s"}\n' "$1" "$pad"
}

# fill DIR: write documents d1, d2, ... until a write fails; prints the
# number written (each acknowledged by close) and leaves the refusal in
# $T/refusal
fill() {
	f_i=0
	while [ $f_i -lt 2000 ]; do
		f_i=$((f_i + 1))
		f_res=$("$TOOL" writes "$1/d$f_i" append "$(doc $f_i)")
		if [ "$f_res" != "OK close:OK" ]; then
			echo "$f_res" >"$T/refusal"
			echo $((f_i - 1))
			return
		fi
	done
	echo "none" >"$T/refusal"
	echo $f_i
}

# check_docs DIR N: documents 1..N read back exactly
check_docs() {
	c_i=1
	c_bad=0
	while [ $c_i -le "$2" ]; do
		doc $c_i >"$T/want"
		cmp -s "$T/want" "$1/d$c_i" || c_bad=$((c_bad + 1))
		c_i=$((c_i + 1))
	done
	echo $c_bad
}

stat_field() {
	"$CARAVAN" stats "$1" --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# ---- growth to the bound, clean unmount, remount ----
S=$T/store
mount_fs "$S" "$M" "capacity=4M,max_capacity=16M" || not_ok "mount"
mkdir "$M/g"
doc 1 >"$T/one"
"$TOOL" writes "$M/g/probe" append "$(doc 1)" >/dev/null
if cmp -s "$T/one" "$M/g/probe"; then
	ok "a document reads back as written"
else
	not_ok "a document reads back as written" "$(head -c 80 "$M/g/probe")"
fi
rm "$M/g/probe"
n=$(fill "$M/g")
check_eq "writes go on past the initial 4M until the bound: then ENOSPC" \
	"$(cat "$T/refusal")" "ENOSPC close:OK"
echo "       $n documents of $DOC bytes written"
check_eq "every document reads back exactly" "$(check_docs "$M/g" "$n")" 0
check "clean unmount" umount_fs "$M"
check_eq "the store grew to max_capacity" "$(stat_field "$S" capacity_bytes)" $MAX
free=$(stat_field "$S" free_bytes)
if [ "$free" -lt $((2 * DOC)) ]; then
	ok "nothing was refused before the bound was used ($free bytes free)"
else
	not_ok "nothing was refused before the bound was used" "$free bytes free"
fi
check_eq "the data file is the bound plus its header" "$(stat -c %s "$S/data")" $((MAX + 4096))
check "fsck" "$CARAVAN" fsck "$S"
mount_fs "$S" "$M" "capacity=4M,max_capacity=16M" || not_ok "remount"
check_eq "after the remount every document reads back exactly" "$(check_docs "$M/g" "$n")" 0
mkdir "$M/h"
n2=$(fill "$M/h")
check_eq "... and the bound still holds: ENOSPC" "$(cat "$T/refusal")" "ENOSPC close:OK"
check "... after at most the one document the space left holds ($n2)" test "$n2" -le 1
check "unmount" umount_fs "$M"

# ---- caravan grow: offline growth past the bound ----
check "caravan grow" "$CARAVAN" grow "$S" 20M
check_eq "... the capacity is 20M" "$(stat_field "$S" capacity_bytes)" 20971520
check "... fsck" "$CARAVAN" fsck "$S"
check_fails "caravan grow refuses a bad size" "$CARAVAN" grow "$S" lots
mount_fs "$S" "$M" "max_capacity=16M" || not_ok "mount after caravan grow"
check_eq "the mount writes into the room caravan grow made" \
	"$("$TOOL" writes "$M/g/more" append "$(doc 0)")" "OK close:OK"
check "... through max_capacity, lower than the capacity now: no growth" \
	test "$(grep -c "grew" "$T/caravanfs.log")" -eq 2
check_eq "... every document still reads back" "$(check_docs "$M/g" "$n")" 0
check "unmount" umount_fs "$M"

# ---- growth under -o sync, then kill -9 ----
S2=$T/store2
mount_fs "$S2" "$M" "capacity=4M,max_capacity=16M,sync" || not_ok "mount"
mkdir "$M/g"
n=$(fill "$M/g")
check_eq "with -o sync: ENOSPC only at the bound" "$(cat "$T/refusal")" "ENOSPC close:OK"
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null
fusermount3 -u -z "$M"
check "fsck after kill -9" "$CARAVAN" fsck "$S2"
check_eq "... the grown capacity is kept" "$(stat_field "$S2" capacity_bytes)" $MAX
mount_fs "$S2" "$M" "capacity=4M,max_capacity=16M" || not_ok "remount after kill -9"
check_eq "after kill -9 every acknowledged document reads back exactly" \
	"$(check_docs "$M/g" "$n")" 0
check "unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S2"

e2e_finish
