# shellcheck shell=sh
# history.sh - sourced by tests/e2e_cloud_history*.sh after lib.sh, with
# A (the mount), R and RM (a restored store and its mountpoint), URL,
# S3ARGS and SEED set: dumping a namespace, restoring one as of a time,
# polling until the change feed holds a namespace, and a seeded random
# workload.

# dump DIR: one line per document, sorted: space/key seq mode mtime body
dump() {
	(cd "$1" && for s in *; do
		[ -d "$s" ] || continue
		for k in "$s"/*; do
			[ -f "$k" ] || continue
			printf '%s %s %s %s\n' "$k" \
				"$(getfattr --absolute-names --only-values -n user.caravan.seq "$k")" \
				"$(stat -c '%a %.9Y' "$k")" "$(cat "$k")"
		done
	done) | LC_ALL=C sort
}

# drained MNT: the mount's uploads are done (every change uploaded and
# in the feed, its reconciliation with the cloud finished)
drained() {
	[ "$(awk '$1 == "caravanfs_upload_queue" { print $2 }' "$1/.caravan-metrics")" = 0 ]
}

# wait_drained MNT: poll drained (a longer deadline than wait_for's)
wait_drained() {
	wd_i=0
	while ! drained "$1"; do
		wd_i=$((wd_i + 1))
		if [ $wd_i -ge 1200 ]; then return 1; fi
		sleep 0.05
	done
}

# restore_at TIME OUT [ARGS...]: restore as of TIME and dump it into OUT
restore_at() {
	ra_t=$1 ra_out=$2
	shift 2
	rm -rf "$R"
	# shellcheck disable=SC2086 # S3ARGS are words
	"$CARAVAN" restore --cloud "$URL" $S3ARGS --at "$ra_t" "$@" "$R" \
		>"$T/restore.out" 2>"$T/restore.err" || return 1
	mount_fs "$R" "$RM" ro || return 1
	dump "$RM" >"$ra_out"
	umount_fs "$RM"
}

# feed_holds FILE: a restore at "now" equals FILE
feed_holds() {
	restore_at "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$T/poll" &&
		cmp -s "$T/poll" "$1"
}

# wait_feed FILE: poll feed_holds (restores are slow: a longer deadline
# than wait_for's)
wait_feed() {
	wf_i=0
	while ! feed_holds "$1"; do
		wf_i=$((wf_i + 1))
		if [ $wf_i -ge 300 ]; then return 1; fi
		sleep 0.1
	done
}

r=$SEED
rnd() { # rnd N: a number in 0..N-1 into $v
	r=$(((r * 1103515245 + 12345) % 2147483648))
	v=$(((r / 65536) % $1))
}

# one_op: one random operation on $A; $op says which (for a trace; an
# operation on a name that is missing does nothing)
# shellcheck disable=SC2034 # op is the caller's to read
one_op() {
	rnd 3
	s=s$v
	rnd 6
	k=k$v
	rnd 100
	n=$v
	rnd 12
	case $v in
	0 | 1 | 2)
		op="write $s/$k v$n"
		mkdir -p "$A/$s"
		echo "{\"v\":$n,\"k\":\"$k\"}" >"$A/$s/$k" ;;
	3 | 4 | 5)
		op="append $s/$k p$n"
		if [ -f "$A/$s/$k" ]; then echo "{\"p$n\":$n}" >>"$A/$s/$k"; fi ;;
	6)
		op="replace $s/$k [$n]"
		if [ -f "$A/$s/$k" ]; then echo "[$n]" >"$A/$s/$k"; fi ;;
	7)
		rnd 3
		t=s$v
		rnd 6
		op="mv $s/$k $t/k$v"
		if [ -f "$A/$s/$k" ] && [ -d "$A/$t" ]; then mv "$A/$s/$k" "$A/$t/k$v"; fi ;;
	8 | 9)
		op="rm $s/$k"
		rm -f "$A/$s/$k" ;;
	10)
		op="chmod $s/$k 6$((n % 8))0"
		if [ -f "$A/$s/$k" ]; then chmod "6$((n % 8))0" "$A/$s/$k"; fi ;;
	11)
		rnd 4
		op="rm -rf $s ($v)"
		if [ "$v" = 0 ]; then rm -rf "${A:?}/$s"; fi ;;
	esac
}

