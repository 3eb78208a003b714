#!/bin/sh
# e2e_cloud_follow.sh - read-only followers and writer hand-over, through
# real mounts against one s3rver on loopback (docs/cloud.md, "Followers";
# README "More than one machine").
#
# One writer and two followers, separate processes with separate stores.
# A seeded random workload on the writer (writes, deletes, renames)
# records every state it made (name, seq, content).  Samplers read each
# follower all along: the position xattr, every document (seq and
# content), the position again; a sample whose two positions agree must
# be (a) per document a state the writer recorded, and (b) as a whole
# exactly the namespace the bucket's history has at that feed position
# (cloud_tool at: names and seqs), and positions never go back.  Both
# followers converge to the writer's namespace.  Then the writer is
# killed (-9) while uploading; the follower catches up with the feed and
# is mounted with -o cloud_takeover: every change the old writer's
# uploader confirmed (its store's backup_seq) is there; the new writer
# PUTs only the documents the bucket holds otherwise than follower 1 did
# (uploads_total), adopts the others (cloud_adopted_total) and keeps each
# newer object of the old writer as a conflict copy; the old writer
# mounted again is refused with a message; the other follower follows
# the new writer.  Last, a follower that was down while the feed batch
# after its position was removed (as retention does) says so, falls back
# to a base snapshot, samples consistent throughout, and converges.
#
# CARAVAN_FOLLOW_SEED fixes the workload (printed either way).
. "$(dirname "$0")/e2e/lib.sh"

s3_setup
s3_start || not_ok "s3rver starts"
URL=s3://caravan/follow
S3ARGS="--s3-endpoint http://127.0.0.1:$PORT --s3-region us-east-1 --s3-path-style"
S3O="cloud=$URL,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style"
OW="$S3O,backup_delay_ms=100,cloud_lease_ms=500"
OF="follow,$S3O,follow_poll_ms=200"
CT="$BUILD/tests/cloud_tool"
SEED=${CARAVAN_FOLLOW_SEED:-$(date +%s)}
echo "# seed $SEED"

W=$T/w
F1=$T/f1
F2=$T/f2
STATES=$T/states

pos() { getfattr --absolute-names --only-values -n user.caravan.follow_position "$1" 2>/dev/null; }
metric() { awk -v n="caravanfs_$2" '$1 == n { print $2 }' "$1/.caravan-metrics"; }

# wait_long COMMAND...: poll until it succeeds (180 s at most: a slow,
# shared machine)
wait_long() {
	wl_i=0
	while ! "$@" >/dev/null 2>&1; do
		wl_i=$((wl_i + 1))
		if [ $wl_i -ge 1800 ]; then return 1; fi
		sleep 0.1
	done
}

# dump MNT [TAG]: "SPACE/KEY<TAB>SEQ<TAB>CONTENT" for every document,
# sorted (two processes for the whole namespace, so samples are quick)
dump() {
	d_t="$T/dump.${2:-x}"
	set -- "$1" "$1"/*/*
	[ -e "$2" ] || return 0 # no document
	d_m=$1
	shift
	getfattr --absolute-names -n user.caravan.seq "$@" >"$d_t" 2>/dev/null || return 1
	grep -H '' "$@" >"$d_t.c" 2>/dev/null || return 1
	awk -v m="$d_m/" 'NR == FNR {
			if ($0 ~ /^# file: /) f = substr($0, 9)
			else if ($0 ~ /^user\.caravan\.seq="/) { v = substr($0, 19); seq[f] = substr(v, 1, length(v) - 1) }
			next }
		{ i = index($0, ":"); f = substr($0, 1, i - 1)
		  if (!(f in seq)) { bad = 1; exit }
		  print substr(f, length(m) + 1) "\t" seq[f] "\t" substr($0, i + 1) }
		END { exit bad }' "$d_t" "$d_t.c" | LC_ALL=C sort
}

# record MNT NAME: the writer's states of NAME after a write: the one it
# wrote, and the one before it (an O_TRUNC open of the shell's '>' makes
# the document {} at seq - 1, then the value closes at seq: the uploader
# may catch either)
record() {
	r_s=$(getfattr --absolute-names --only-values -n user.caravan.seq "$1/$2") &&
		printf '%s\t%s\t%s\n%s\t%s\t{}\n' "$2" "$r_s" "$(cat "$1/$2")" \
			"$2" "$((r_s - 1))" >>"$STATES"
}
record_mv() { # record_mv MNT NAME: after a rename, the state it keeps
	r_s=$(getfattr --absolute-names --only-values -n user.caravan.seq "$1/$2") &&
		printf '%s\t%s\t%s\n' "$2" "$r_s" "$(cat "$1/$2")" >>"$STATES"
}

# workload MNT SEED N PAD: N seeded operations over 3 spaces of 8 keys
workload() {
	awk -v seed="$2" -v n="$3" 'BEGIN { srand(seed)
		for (i = 0; i < n; i++) { r = rand(); s = int(rand() * 3); k = int(rand() * 8)
			if (r < 0.7) print "w", s, k, i
			else if (r < 0.85) print "d", s, k, 0
			else print "m", s, k, int(rand() * 8) } }' |
		while read -r op s k x; do
			[ -e "$T/stop.workload" ] && break
			mkdir -p "$1/sp$s" 2>/dev/null
			case $op in
			w) printf '{"i":%d,"seed":%d,"pad":"%s"}\n' "$x" "$2" "$4" >"$1/sp$s/k$k" &&
				record "$1" "sp$s/k$k" ;;
			d) rm -f "$1/sp$s/k$k" ;;
			m) if [ -f "$1/sp$s/k$k" ] && [ "$k" != "$x" ]; then
				mv -f "$1/sp$s/k$k" "$1/sp$s/k$x" && record_mv "$1" "sp$s/k$x"
			fi ;;
			esac
		done
}

# sampler MNT OUT: until $T/stop.OUT exists, samples of MNT into OUT:
# "P POSITION" then dump lines, for the samples whose positions agree
sampler() {
	while [ ! -e "$T/stop.${2##*/}" ]; do
		s_p1=$(pos "$1")
		s_body=$(dump "$1" "${2##*/}") || continue
		s_p2=$(pos "$1")
		if [ -n "$s_p1" ] && [ "$s_p1" = "$s_p2" ]; then
			printf 'P %s\n%s\n' "$s_p1" "$s_body" >>"$2"
		else
			echo "X $s_p1 $s_p2" >>"$2"
		fi
	done
}

# verify SAMPLES NAME: (a) every document of a stable sample is a state
# the writer recorded, (b) every stable sample is the history's namespace
# at its position, (c) positions never go back
verify() {
	v_n=$(grep -c '^P ' "$1")
	v_bad=$(awk -F '\t' 'NR == FNR { st[$0] = 1; next }
		/^[PX] / { next }
		$1 ~ /caravan-conflict/ { next }
		!($0 in st) { print; exit }' "$STATES" "$1")
	check_eq "$2: every document sampled ($v_n stable samples) is a state the writer had" "$v_bad" ""
	v_back=$(awk '/^P / { if ($2 < last) { print last " then " $2; exit } last = $2 }' "$1")
	check_eq "$2: the feed position never goes back" "$v_back" ""
	v_fail=""
	for v_p in $(awk '/^P / { print $2 }' "$1" | sort -u); do
		# shellcheck disable=SC2086
		"$CT" $S3ARGS at "$URL" "$v_p" | LC_ALL=C sort >"$T/at.$v_p" ||
			{ v_fail="cannot replay $v_p"; break; }
		awk -v p="$v_p" '/^[PX] / { on = ($1 == "P" && $2 == p); if (on) n++; next }
			on { split($0, a, "\t"); print n "\t" a[1] " " a[2] }' "$1" |
			LC_ALL=C sort -t "$(printf '\t')" -k1,1n -k2 >"$T/got.$v_p"
		for v_i in $(cut -f1 "$T/got.$v_p" | sort -u); do
			awk -F '\t' -v i="$v_i" '$1 == i { print $2 }' "$T/got.$v_p" | LC_ALL=C sort >"$T/one"
			if ! cmp -s "$T/one" "$T/at.$v_p"; then
				v_fail="sample at $v_p: $(diff "$T/one" "$T/at.$v_p" | head -4 | tr '\n' ' ')"
				break 2
			fi
		done
	done
	check_eq "$2: each stable sample is the namespace of the history at its feed position" "$v_fail" ""
}

# since_mark: the daemons' log since the last mark (the log is kept whole
# for e2e_finish's sanitizer check)
mark() { LOGMARK=$(wc -l <"$T/caravanfs.log"); }
since_mark() { tail -n +$((LOGMARK + 1)) "$T/caravanfs.log"; }

same_ns() { # same_ns MNT_A MNT_B
	dump "$1" >"$T/ns.a" && dump "$2" >"$T/ns.b" && cmp -s "$T/ns.a" "$T/ns.b"
}

# ---- one writer, two followers ----
: >"$STATES"
mount_fs "$T/store-w" "$W" "$OW" || not_ok "the writer mounts"
WPID=$MOUNT_PID
workload "$W" "$SEED" 40 a
uploaded_all() {
	for u_f in "$W"/*/*; do
		[ -f "$u_f" ] || continue
		getfattr --absolute-names --only-values -n user.caravan.backup "$u_f" | grep -q '^uploaded' || return 1
	done
}
check "the writer uploads its first changes" wait_long uploaded_all
mount_fs "$T/store-f1" "$F1" "$OF" || not_ok "follower 1 mounts"
F1PID=$MOUNT_PID
mount_fs "$T/store-f2" "$F2" "$OF" || not_ok "follower 2 mounts"
F2PID=$MOUNT_PID
check "follower 1 shows a feed position" test -n "$(pos "$F1")"
check_fails "a write on a follower fails" sh -c "echo '{}' >'$F1/sp0/new'"
cp "$T/out" "$T/erofs"
check "... with EROFS" grep -q "Read-only file system" "$T/erofs"
some=$(ls -d "$F1"/*/* | head -1)
check_fails "a delete on a follower fails" rm -f "$some"
check "... and the document stays" test -f "$some"
check_fails "a mkdir on a follower fails" mkdir "$F1/newspace"
check "the position is a metric" grep -q '^caravanfs_follow_position{generation="[0-9a-f]*"} [0-9]' "$F1/.caravan-metrics"
check "the lag is a metric" grep -q '^caravanfs_follow_lag_seconds [0-9.]*$' "$F1/.caravan-metrics"
# shellcheck disable=SC2086
"$CT" $S3ARGS get-raw "$URL" .caravan writer "$T/lease" >/dev/null
check "the writer lease names the writer's pid" grep -q "^pid $WPID\$" "$T/lease"
check_fails "... not a follower's" grep -q "^pid \($F1PID\|$F2PID\)\$" "$T/lease"

sampler "$F1" "$T/s1" &
S1=$!
sampler "$F2" "$T/s2" &
S2=$!
workload "$W" "$((SEED + 1))" 300 b
check "the writer uploads everything" wait_long uploaded_all
check "follower 1 converges to the writer's namespace" wait_long same_ns "$W" "$F1"
check "follower 2 converges to the writer's namespace" wait_long same_ns "$W" "$F2"
touch "$T/stop.s1" "$T/stop.s2"
wait "$S1" "$S2"
verify "$T/s1" "follower 1"
verify "$T/s2" "follower 2"

# ---- kill -9 of the writer mid-upload, takeover by follower 1 ----
up0=$(metric "$W" uploads_total)
workload "$W" "$((SEED + 2))" 400 c &
WL=$!
more_uploads() { [ "$(metric "$W" uploads_total)" -ge $((up0 + 30)) ]; }
check "the writer is uploading" wait_long more_uploads
kill -9 "$WPID"
touch "$T/stop.workload"
wait "$WPID" 2>/dev/null
wait "$WL" 2>/dev/null
fusermount3 -u -z "$W" 2>/dev/null
rm -f "$T/stop.workload"
mount_fs "$T/store-w" "$T/wro" "ro" || not_ok "the dead writer's store mounts read-only"
: >"$T/confirmed"
for f in "$T/wro"/*/*; do
	[ -f "$f" ] || continue
	bt=$(getfattr --absolute-names --only-values -n user.caravan.backup_time "$f")
	bs=$(getfattr --absolute-names --only-values -n user.caravan.backup_seq "$f")
	[ -n "$bt" ] && [ "$bs" -gt 0 ] && echo "${f#"$T/wro"/} $bs" >>"$T/confirmed"
done
# its final states, recorded or not before the kill (a state uploaded
# just before the kill may have missed its record)
dump "$T/wro" >>"$STATES"
umount_fs "$T/wro"
echo "# $(wc -l <"$T/confirmed") documents confirmed by the dead writer"
check "the dead writer had confirmed uploads" test -s "$T/confirmed"
# last_batch: the newest batch the bucket serves whole. A kill -9 in the
# middle of a feed PUT can leave s3rver with an empty object and no
# metadata (S3 itself never shows a PUT that did not complete); no
# follower can apply it, nor should: it was never confirmed.
last_batch() {
	# shellcheck disable=SC2086
	for lb in $("$CT" $S3ARGS list "$URL" .caravan | sed -n 's/^feed-//p' | LC_ALL=C sort -r); do
		# shellcheck disable=SC2086
		if "$CT" $S3ARGS get-raw "$URL" .caravan "feed-$lb" "$T/last-batch" >/dev/null 2>&1; then
			echo "$lb"
			return 0
		fi
	done
}
caught_up() { [ "$(pos "$F1")" = "$(last_batch)" ]; }
check "follower 1 applies the feed to its end" wait_long caught_up
# what the new writer will find: follower 1's documents, and which of
# them the bucket holds with other content (the dead writer uploaded a
# later state, or deleted it, after the end of its feed): only those
# need a PUT after the takeover
dump "$F1" >"$T/f1.final"
rm -rf "$T/bucket"
# shellcheck disable=SC2086
"$CT" $S3ARGS get-all "$URL" "$T/bucket" >/dev/null 2>&1 || true
n_f1=$(wc -l <"$T/f1.final")
differ=0
newer=0
while IFS="$(printf '\t')" read -r name seq content; do
	b_f=$T/bucket/$name # cloud_tool: the seq, then the body
	if [ ! -f "$b_f" ] || [ "$(sed -n 1p "$b_f")" != "$seq" ] || [ "$(sed 1d "$b_f")" != "$content" ]; then
		differ=$((differ + 1))
		[ -f "$b_f" ] && [ "$(sed -n 1p "$b_f")" -gt "$seq" ] && newer=$((newer + 1))
	fi
done <"$T/f1.final"
echo "# follower 1 holds $n_f1 documents, $differ of them not as the bucket does ($newer newer there)"
check "clean unmount of follower 1" umount_fs "$F1"
NW=$T/nw
mark
# s3rver now and then serves a lease object it is still writing (0 bytes,
# or the one before): the lease's read-back then refuses the takeover,
# safely; a second attempt takes it
took=no
for try in 1 2 3; do
	if mount_fs "$T/store-f1" "$NW" "$OW,cloud_takeover"; then
		took=yes
		break
	fi
	echo "# takeover attempt $try refused: $(tail -1 "$T/caravanfs.log")"
done
check_eq "follower 1's store takes the prefix over" "$took" yes
# each confirmed document read as a user would (a name the new writer
# holds only in the bucket is restored on that first access), then its
# seq; what is missing is explained: follower 1's state of it, the
# bucket's, and what the read said
missing=""
while read -r name bs; do
	rd=$(cat "$NW/$name" 2>&1 >/dev/null)
	s=$(getfattr --absolute-names --only-values -n user.caravan.seq "$NW/$name" 2>/dev/null)
	if [ -z "$s" ] || [ "$s" -lt "$bs" ]; then
		missing="$missing $name(seq ${s:-none} < $bs)"
		echo "# $name: follower 1 had [$(awk -F '\t' -v n="$name" '$1 == n { print $2 }' "$T/f1.final")], the bucket [$(sed -n 1p "$T/bucket/$name" 2>/dev/null)], the read said [$rd]"
		echo "# the states the writer recorded for $name, and the log's lines naming it:"
		grep -F "$name" "$STATES" 2>/dev/null | tail -5 | sed 's/^/#   /'
		grep -F "$name" "$T/caravanfs.log" 2>/dev/null | tail -10 | sed 's/^/#   /'
	fi
done <"$T/confirmed"
check_eq "every change the old writer confirmed is on the new writer" "$missing" ""
echo "# $(ls "$NW"/*/ | grep -c caravan-conflict) conflict copies on the new writer (objects uploaded, not confirmed)"
check_eq "the new writer holds the lease" "$(metric "$NW" cloud_writer)" 1
uploaded_nw() {
	for u_f in "$NW"/*/*; do
		[ -f "$u_f" ] || continue
		getfattr --absolute-names --only-values -n user.caravan.backup "$u_f" | grep -q '^uploaded' || return 1
	done
}
check "the new writer has every document in the cloud" wait_long uploaded_nw
puts=$(metric "$NW" uploads_total)
adopted=$(metric "$NW" cloud_adopted_total)
echo "# after the takeover: $puts document PUTs, ${adopted:-no} adopted, of $n_f1 ($differ differing)"
check "the new writer re-uploads only what the bucket lacks" test "$puts" -le "$differ"
check "... and adopts the bucket's copies of its states" test "${adopted:-0}" -ge $((n_f1 - differ))
check "... keeping each newer object of the old writer as a conflict copy" test "$(metric "$NW" cloud_conflicts_total)" -ge "$newer"
check_fails "the old writer mounted again is refused" mount_fs "$T/store-w" "$W" "$OW"
check "... with a message" sh -c "tail -n +$((LOGMARK + 1)) '$T/caravanfs.log' | grep -q 'is written by another store'"
mkdir -p "$NW/sp0"
echo '{"after":"takeover"}' >"$NW/sp0/handed"
record "$NW" sp0/handed
shows_new() { [ "$(cat "$F2/sp0/handed" 2>/dev/null)" = '{"after":"takeover"}' ]; }
check "follower 2 follows the new writer" wait_long shows_new

# ---- a follower down while the feed after its position was pruned ----
check "clean unmount of follower 2" umount_fs "$F2"
# its position as it stopped (the new writer may have fed more meanwhile)
p2=$(awk '$1 == "gen" { g = $2 } $1 == "batch" { b = $2 } END { print g "-" b }' "$T/store-f2/follow.position")
big=$(awk 'BEGIN { while (n++ < 4000) printf "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz" }')
for i in 1 2 3 4 5 6; do
	printf '{"big":%d,"s":"%s"}\n' "$i" "$big" >"$NW/sp1/big$i" && record "$NW" "sp1/big$i"
done
snap_after() {
	# shellcheck disable=SC2086
	"$CT" $S3ARGS list "$URL" .caravan | awk -v p="snap-$p2-" '/^snap-.*-00000000$/ && $0 > p { f = 1 } END { exit !f }'
}
check "the new writer writes a base snapshot past follower 2's position" wait_long snap_after
# shellcheck disable=SC2086
gone=$("$CT" $S3ARGS list "$URL" .caravan | awk -v p="feed-$p2" '/^feed-/ && $0 > p' | LC_ALL=C sort | head -1)
check "the feed batch after follower 2's position is removed" "$CT" $S3ARGS delete "$URL" .caravan "$gone"
mark
mount_fs "$T/store-f2" "$F2" "$OF" || not_ok "follower 2 mounts again"
since_mark >"$T/since"
check "it says the batch is missing" grep -q "feed batch '$gone' is missing" "$T/since"
check "... and falls back to a base snapshot" grep -q "falling back to the base snapshot" "$T/since"
sampler "$F2" "$T/s3" &
S3=$!
workload "$NW" "$((SEED + 3))" 60 d
check "the new writer uploads everything" wait_long uploaded_nw
check "follower 2 converges to the new writer's namespace" wait_long same_ns "$NW" "$F2"
touch "$T/stop.s3"
wait "$S3"
verify "$T/s3" "follower 2 after the fallback"
check "fallbacks are a metric" grep -q '^caravanfs_follow_damaged_total [1-9]' "$F2/.caravan-metrics"

check "clean unmount of follower 2" umount_fs "$F2"
check "clean unmount of the new writer" umount_fs "$NW"
check_fails "a store that became a writer cannot follow" mount_fs "$T/store-f1" "$T/again" "$OF"
check "fsck follower 2" "$CARAVAN" fsck "$T/store-f2"
check "fsck the new writer" "$CARAVAN" fsck "$T/store-f1"
e2e_finish
