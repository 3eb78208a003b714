#!/bin/sh
# e2e_fs_snapshots.sh - MNT/.caravan-snapshots against an oracle.
#
# A seeded random workload (spaces made and removed, documents written,
# rewritten, renamed and deleted) takes snapshots with mkdir at random
# points; right before each, the live tree is recorded (every path with
# its type, mode, mtime, size and content checksum).  Each snapshot read
# back must equal its record: through the mount, through tar and rsync -a
# of its directory while a writer keeps changing the live documents, after a
# clean remount, and after kill -9 of the daemon and a remount.  Also:
# writes inside a snapshot are EROFS, the directory never shows in the
# root's listing, rmdir drops a snapshot, `caravan snapshot` lists, takes
# and drops them offline, and fsck stays clean.
#
# CARAVAN_E2E_SEED sets the workload's seed (default: the time).
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
SD=$M/.caravan-snapshots
SEED=${CARAVAN_E2E_SEED:-$(date +%s)}
echo "       seed $SEED"
mkdir -p "$T/rec"

# rnd N: a number in 0..N-1 in R (a linear congruential sequence)
R=0
rnd() {
	SEED=$(((SEED * 1103515245 + 12345) % 2147483648))
	R=$(((SEED / 65536) % $1))
}

# record DIR: one line per path under DIR, sorted: type mode mtime size
# md5 path (size and md5 of files only)
record() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
		if [ -f "$p" ]; then
			sum="$(stat -c %s "$p") $(md5sum <"$p" | cut -c1-32)"
		else
			sum="- -" # a directory's size is the file system's own
		fi
		echo "$(stat -c '%F %a %Y' "$p") $sum $p"
	done)
}

if ! mount_fs "$S" "$M"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi

# ---- the workload, with snapshots

NSNAP=0
g=0
while [ $g -lt 240 ]; do
	rnd 4
	sp=s$R
	rnd 6
	key=k$R
	rnd 20
	case $R in
	0 | 1) mkdir "$M/$sp" 2>/dev/null ;;
	2) rmdir "$M/$sp" 2>/dev/null ;;
	3 | 4 | 5 | 6 | 7 | 8)
		[ -d "$M/$sp" ] && echo "{\"g\":$g,\"k\":\"$key\"}" >"$M/$sp/$key"
		;;
	9 | 10) [ -f "$M/$sp/$key" ] && rm "$M/$sp/$key" ;;
	11)
		rnd 4
		[ -f "$M/$sp/$key" ] && [ -d "$M/s$R" ] && [ "s$R" != "$sp" ] &&
			mv "$M/$sp/$key" "$M/s$R/$key"
		;;
	12) [ -f "$M/$sp/$key" ] && chmod 600 "$M/$sp/$key" ;;
	13 | 14)
		name=snap$NSNAP
		record "$M" >"$T/rec/$name"
		if mkdir "$SD/$name"; then
			NSNAP=$((NSNAP + 1))
		else
			not_ok "mkdir $SD/$name"
			rm -f "$T/rec/$name"
		fi
		;;
	*) [ -f "$M/$sp/$key" ] && echo "{\"g\":$g}" >"$M/$sp/$key" ;;
	esac
	g=$((g + 1))
done
# a last one, so there is always one to read
record "$M" >"$T/rec/last"
check "mkdir takes a snapshot" mkdir "$SD/last"
echo "       $NSNAP random snapshots and one last"

# compare_all WHAT: every recorded snapshot read back through the mount
compare_all() {
	bad=""
	for f in "$T"/rec/*; do
		name=${f##*/}
		record "$SD/$name" >"$T/got"
		cmp -s "$f" "$T/got" || bad="$bad $name"
	done
	check_eq "$1: every snapshot equals the namespace recorded when it was taken" \
		"$bad" ""
}
compare_all "live"

got=$(ls "$SD" | LC_ALL=C sort | tr '\n' ' ')
want=$(ls "$T/rec" | LC_ALL=C sort | tr '\n' ' ')
check_eq "ls lists the snapshots" "$got" "$want"
t_rec=$(stat -c %Y "$T/rec/last")
t_dir=$(stat -c %Y "$SD/last")
check "a snapshot's mtime is its creation time" \
	test $((t_dir - t_rec)) -ge 0 -a $((t_dir - t_rec)) -le 60
check_eq "the root never lists the snapshots" \
	"$(ls -a "$M" | grep -c caravan)" "0"
check_fails "mkdir of an existing snapshot fails" mkdir "$SD/last"

# ---- read-only

f=$(cd "$SD/last" && find . -type f | head -1)
if [ -n "$f" ]; then
	out=$(sh -c "echo '{}' >'$SD/last/$f'" 2>&1)
	case $out in
	*"Read-only file system"*) ok "a write inside a snapshot is EROFS" ;;
	*) not_ok "a write inside a snapshot is EROFS" "$out" ;;
	esac
	out=$(rm "$SD/last/$f" 2>&1)
	case $out in
	*"Read-only file system"*) ok "unlink inside a snapshot is EROFS" ;;
	*) not_ok "unlink inside a snapshot is EROFS" "$out" ;;
	esac
fi
out=$(mkdir "$SD/last/newspace" 2>&1)
case $out in
*"Read-only file system"*) ok "mkdir inside a snapshot is EROFS" ;;
*) not_ok "mkdir inside a snapshot is EROFS" "$out" ;;
esac

# ---- tar and rsync of a snapshot while a writer keeps going

mkdir -p "$M/busy"
(
	i=0
	while [ ! -e "$T/stop" ]; do
		for sp in s0 s1 s2 s3; do
			for k in k0 k1 k2 k3 k4 k5; do
				[ -f "$M/$sp/$k" ] &&
					echo "{\"w\":$i}" >"$M/$sp/$k" 2>/dev/null
			done
		done
		echo "{\"w\":$i}" >"$M/busy/w$((i % 50))"
		i=$((i + 1))
	done
) &
wpid=$!
bad=""
for f in "$T"/rec/*; do
	name=${f##*/}
	rm -rf "$T/x"
	mkdir "$T/x"
	if ! tar -C "$SD/$name" -cf - . | tar -C "$T/x" -xpf -; then
		bad="$bad $name(tar)"
		continue
	fi
	record "$T/x" >"$T/got"
	cmp -s "$f" "$T/got" || bad="$bad $name"
	# rsync -a too
	rm -rf "$T/x"
	if ! rsync -a "$SD/$name/" "$T/x/"; then
		bad="$bad $name(rsync)"
		continue
	fi
	record "$T/x" >"$T/got"
	cmp -s "$f" "$T/got" || bad="$bad $name(rsync)"
done
: >"$T/stop"
wait $wpid
check_eq "tar and rsync -a of each snapshot while a writer goes on give its recorded namespace" \
	"$bad" ""
compare_all "after the writer"

# ---- remount, kill -9

check "the metrics count the snapshots" \
	grep -Eq "^caravanfs_snapshots $((NSNAP + 1))\$" "$M/.caravan-metrics"
record "$M" >"$T/live-at-unmount"
check "clean unmount" umount_fs "$M"
check "fsck of the store with snapshots" "$CARAVAN" fsck "$S"
# stat_field NAME: a field of caravan stats --json
stat_field() {
	"$CARAVAN" stats "$S" --json | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
pinned=$(stat_field snapshot_pinned_bytes)
check "caravan stats shows the bytes snapshots keep ($pinned)" \
	test "${pinned:-0}" -gt 0
got=$("$CARAVAN" snapshot list "$S" | cut -f1 | LC_ALL=C sort | tr '\n' ' ')
check_eq "caravan snapshot list names them" "$got" "$want"
check "caravan snapshot create (offline)" "$CARAVAN" snapshot create "$S" offline
if ! mount_fs "$S" "$M"; then
	not_ok "remount"
	e2e_finish
	exit 1
fi
compare_all "after a remount"
check "the offline snapshot shows at the mount" test -d "$SD/offline"
record "$SD/offline" >"$T/got"
check "the offline snapshot equals the namespace at the unmount" \
	cmp "$T/live-at-unmount" "$T/got"
check "rmdir drops a snapshot" rmdir "$SD/offline"
check_fails "it is gone" test -e "$SD/offline"

# a snapshot taken just before the kill survives it
echo '{"after":1}' >"$M/busy/late"
record "$M" >"$T/rec/prekill"
check "mkdir right before the kill" mkdir "$SD/prekill"
echo '{"after":2}' >"$M/busy/late"
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null
fusermount3 -u -z "$M"
if ! mount_fs "$S" "$M"; then
	not_ok "remount after kill -9"
	e2e_finish
	exit 1
fi
ok "remount after kill -9"
compare_all "after kill -9"

# dropping every snapshot frees what they kept
for f in "$T"/rec/*; do
	rmdir "$SD/${f##*/}" || not_ok "rmdir $SD/${f##*/}"
done
check_eq "no snapshot left" "$(ls "$SD" | wc -l)" "0"
check "clean unmount" umount_fs "$M"
check "caravan snapshot delete of a missing one fails" \
	sh -c "! '$CARAVAN' snapshot delete '$S' nosuch 2>/dev/null"
check "fsck after every snapshot was dropped" "$CARAVAN" fsck "$S"
check_eq "dropping them freed what they kept" \
	"$(stat_field snapshots) $(stat_field snapshot_pinned_bytes)" "0 0"
e2e_finish
