#!/bin/sh
# e2e_cloud.sh - the end-to-end proof of cloud backup and restore.  The
# same checks run against two targets: s3:// on a real S3-compatible
# server (s3rver, started here on a free loopback port, path-style, the
# credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and dir: (a
# directory).  What the target holds is read with tests/cloud_tool, which
# decodes each object with the product's archive decoder and entry format.
#
#  1. backup: 200 documents in 3 spaces with odd names (spaces, '%',
#     quotes, tabs, UTF-8, 255-byte names) are all uploaded
#     (user.caravan.backup); each object holds the file's content and its
#     user.caravan.seq; unlink and rename remove the old object;
#  2. restore: the local store wiped, a mount on the same target shows the
#     whole namespace and every document reads back identical;
#     `caravan restore` does the same eagerly, and fsck is clean;
#  3. outage: the target goes down while a writer runs (s3rver killed;
#     dir: made read-only by a read-only bind mount as root, mode 000
#     otherwise), writes keep succeeding, the target comes back (same port,
#     same data) and once the backlog drained the target matches the mount;
#  4. crash: changes queued behind a long backup_delay_ms, fsynced, then
#     kill -9; after the remount the backlog drains and nothing is missing
#     or stale in the target;
#  5. damage: a truncated and a bit-flipped body of documents not held
#     locally (their metadata, checksum included, left as it was) are EIO
#     with a log line naming them, the daemon keeps
#     serving the others, nothing is imported.  Credentials (s3 only):
#     wrong ones make the mount fail with a message naming the refusal
#     (s3rver checks the access key id, not V4 signatures); so do no
#     credentials at all; a target that is down at mount only warns.
#
# s3rver comes from $CARAVAN_S3RVER (its bin/s3rver.js) or
# tests/s3/node_modules (scripts/s3rver-install.sh); without node or
# s3rver the test fails.
. "$(dirname "$0")/e2e/lib.sh"

LC_ALL=C
export LC_ALL
CT=$BUILD/tests/cloud_tool
WPID=""
RO_BIND=""
DIRT=$T/dirtarget
REF=$T/ref

cleanup() {
	: >"$T/stop"
	if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null; fi
	if [ -n "$RO_BIND" ]; then umount "$RO_BIND" 2>/dev/null; fi
	if [ -d "$DIRT" ]; then chmod 755 "$DIRT" 2>/dev/null; fi
	s3_stop -9
	e2e_cleanup
}
trap cleanup EXIT

if [ ! -x "$CT" ]; then
	not_ok "missing program $CT"
	e2e_finish
	exit 1
fi
# the S3 server (tests/e2e/lib.sh): s3_start, s3_stop
s3_setup

# ---- helpers ----

# ct ARGS...: cloud_tool on the current target's options
ct() {
	# shellcheck disable=SC2086 # COPT is a list of words
	"$CT" $COPT "$@"
}

# name PREFIX LEN FILL: PREFIX padded with FILL to exactly LEN bytes
# (FILL one or two bytes; 'x' completes an odd remainder)
name() {
	n=$1
	while [ $((${#n} + ${#3})) -le "$2" ]; do n=$n$3; done
	while [ ${#n} -lt "$2" ]; do n=${n}x; done
	printf '%s' "$n"
}

# key I: the name of document I (odd ones on purpose)
key() {
	case $(($1 % 9)) in
	0) printf 'doc %s' "$1" ;;
	1) printf '%s%%41 100%%' "$1" ;;
	2) printf 'ключ-%s-日本語' "$1" ;;
	3) printf "a'b\"c\\\\d*?[%s]" "$1" ;;
	4) printf '#hash+%s=~:;,' "$1" ;;
	5) printf -- '-dash\t%s' "$1" ;;
	6) name "long-$1-" 255 x ;;
	7) name "long-é-$1-" 255 é ;;
	8) printf 'x..%s..' "$1" ;;
	esac
}

SPACE1='plain'
SPACE2='sp ace %41%% 100%'
SPACE3=$(name 'ünï ☃ 日本語 ' 255 ä)

# write_docs MNT: the 200 documents, and their expected text under $REF
write_docs() {
	i=1
	while [ $i -le 200 ]; do
		case $((i % 3)) in
		0) s=$SPACE1 ;;
		1) s=$SPACE2 ;;
		2) s=$SPACE3 ;;
		esac
		k=$(key $i)
		f=$1/$s/$k
		t='"t":"ünï ☃ \"q\" \\ €","n":9007199254740993,"f":0.1'
		if [ $((i % 5)) = 0 ]; then
			printf '{\n  "i": %s,\n  %s\n}\n' $i "$t" >"$f" || return 1
		else
			printf '{"i":%s,%s}\n' $i "$t" >"$f" || return 1
		fi
		printf '{"p":%s}\n' $i >>"$f" || return 1
		if [ $((i % 4)) = 0 ]; then
			printf '{"t":null,"arr":[1,2.5,"x"]}' >>"$f" || return 1
			printf '{"i":%s,"n":9007199254740993,"f":0.1,"p":%s,"arr":[1,2.5,"x"]}\n' \
				$i $i >"$REF/$s/$k"
		else
			printf '{"i":%s,%s,"p":%s}\n' $i "$t" $i >"$REF/$s/$k"
		fi
		i=$((i + 1))
	done
}

# ndocs MNT: the number of documents under MNT
ndocs() {
	find "$1" -mindepth 2 -type f | wc -l
}

# all_uploaded MNT: every document's user.caravan.backup says "uploaded"
# (one getfattr for the whole tree)
all_uploaded() {
	au_n=$(ndocs "$1")
	au_u=$(getfattr -R --absolute-names -n user.caravan.backup "$1" 2>/dev/null |
		grep -c '^user\.caravan\.backup="uploaded ')
	[ "$au_n" -gt 0 ] && [ "$au_u" = "$au_n" ]
}

# wait_long COMMAND...: poll until it succeeds (90 s at most: a drain
# after an outage waits out the uploader's backoff)
wait_long() {
	wl_i=0
	while ! "$@" >/dev/null 2>&1; do
		wl_i=$((wl_i + 1))
		if [ $wl_i -ge 1800 ]; then return 1; fi
		sleep 0.05
	done
	return 0
}

# absent SPACE KEY: the target has no such object
absent() {
	ct get "$URL" "$1" "$2" >/dev/null 2>&1
	[ $? = 3 ]
}

# lists_match DIR: the target lists exactly DIR's spaces and documents
lists_match() {
	ls -A "$1" | sort >"$T/l.want" && ct list "$URL" | sort >"$T/l.ct" &&
		cmp -s "$T/l.want" "$T/l.ct" || return 1
	for lm_d in "$1"/*; do
		lm_s=${lm_d##*/}
		ls -A "$lm_d" | sort >"$T/l.want" &&
			ct list "$URL" "$lm_s" | sort >"$T/l.ct" &&
			cmp -s "$T/l.want" "$T/l.ct" || return 1
	done
}

# target_matches MNT [WANT]: the target lists exactly the names of WANT
# (default MNT; the mount's own listings include the target's names),
# and the object of each document of MNT, decoded by cloud_tool (get-all:
# "get" of every object into a tree), holds the file's content (one line)
# and its user.caravan.seq.  Prints what differs.
target_matches() {
	: >"$T/diffs"
	lists_match "${2:-$1}" || echo "the listings differ from ${2:-$1}" >>"$T/diffs"
	rm -rf "$T/objs"
	ct get-all "$URL" "$T/objs" 2>>"$T/diffs"
	tm_n=0
	for tm_d in "$1"/*; do
		tm_s=${tm_d##*/}
		# the sequence numbers of the space's documents, in glob order
		getfattr --absolute-names -n user.caravan.seq -- "$tm_d"/* 2>>"$T/diffs" |
			sed -n 's/^user\.caravan\.seq="\(.*\)"$/\1/p' >"$T/seqs"
		exec 3<"$T/seqs"
		for tm_f in "$tm_d"/*; do
			[ -e "$tm_f" ] || continue
			tm_k=${tm_f##*/}
			tm_o=$T/objs/$tm_s/$tm_k
			tm_n=$((tm_n + 1))
			tm_seq="" tm_oseq="" tm_otext="" tm_text=""
			IFS= read -r tm_seq <&3
			if [ ! -f "$tm_o" ]; then
				echo "$tm_s/$tm_k: no object" >>"$T/diffs"
				continue
			fi
			{ IFS= read -r tm_oseq && IFS= read -r tm_otext && ! IFS= read -r _; } <"$tm_o" &&
				IFS= read -r tm_text <"$tm_f" &&
				[ "$tm_oseq" = "$tm_seq" ] && [ "$tm_otext" = "$tm_text" ] ||
				echo "$tm_s/$tm_k: object seq $tm_oseq [$tm_otext], file seq $tm_seq [$tm_text]" >>"$T/diffs"
		done
		exec 3<&-
	done
	echo "$tm_n documents compared"
	head -5 "$T/diffs"
	[ $tm_n -gt 0 ] && [ ! -s "$T/diffs" ]
}

# same_listing A B: ls of the root and of every space of A equals B's
same_listing() {
	[ "$(ls -A "$1")" = "$(ls -A "$2")" ] || return 1
	for sl_d in "$1"/*; do
		[ "$(ls -A "$sl_d")" = "$(ls -A "$2/${sl_d##*/}")" ] || return 1
	done
}

metric() {
	awk -v m="$2" '$1 == m { print $2 }' "$1/.caravan-metrics"
}

# failures_above MNT N: more than N failed upload attempts were counted
failures_above() {
	[ "$(metric "$1" caravanfs_upload_failures_total)" -gt "$2" ]
}

log_mark() {
	wc -l <"$T/caravanfs.log"
}

# logged MARK TEXT PATTERN: a line of the daemon's log after line MARK
# holds TEXT and matches PATTERN
logged() {
	tail -n +$(($1 + 1)) "$T/caravanfs.log" | grep -F -- "$2" | grep -q -- "$3"
}

# pending DOC: the document's backup state is "pending"
pending() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" |
		grep -q '^pending'
}

# writer MNT SPACE: until $T/stop exists, append {"n":I} to "hot I%5",
# and every third I while $T/create exists create "w I"; the count goes
# to $T/wcount (renamed into place: a reader never sees it half-written),
# failed writes to $T/wfail
writer() {
	w_i=0
	while [ ! -e "$T/stop" ]; do
		w_i=$((w_i + 1))
		printf '{"n":%s}\n' $w_i >>"$1/$2/hot $((w_i % 5))" ||
			echo "append $w_i" >>"$T/wfail"
		if [ $((w_i % 3)) = 0 ] && [ -e "$T/create" ]; then
			printf '{"w":%s}\n' $w_i >"$1/$2/w $w_i" ||
				echo "create $w_i" >>"$T/wfail"
		fi
		echo $w_i >"$T/wcount.new" && mv "$T/wcount.new" "$T/wcount"
	done
}

wcount() {
	cat "$T/wcount"
}

wcount_ge() {
	[ "$(wcount)" -ge "$1" ]
}

# w_docs_ok MNT SPACE: there are "w I" documents and each holds {"w":I}
w_docs_ok() {
	wd_n=0
	for wd_f in "$1/$2"/w\ *; do
		[ -e "$wd_f" ] || continue
		wd_n=$((wd_n + 1))
		IFS= read -r wd_t <"$wd_f" && [ "$wd_t" = "{\"w\":${wd_f##*/w }}" ] || return 1
	done
	echo "$wd_n documents"
	[ $wd_n -gt 0 ]
}

target_down() {
	if [ "$KIND" = s3 ]; then
		s3_stop -9
	elif [ "$(id -u)" = 0 ]; then
		# Bound first, then read-only: the remount is refused (EBUSY)
		# while the uploader holds a file open for writing through
		# the new bind, so it is retried until it takes.
		mount --bind "$DIRT" "$DIRT" && RO_BIND=$DIRT &&
			wait_for mount -o remount,bind,ro "$DIRT"
	else
		chmod 000 "$DIRT"
	fi
}

target_up() {
	if [ "$KIND" = s3 ]; then
		s3_start
	elif [ -n "$RO_BIND" ]; then
		umount "$RO_BIND" && RO_BIND=""
	else
		chmod 755 "$DIRT"
	fi
}


# ---- the proof, against the target $KIND ----

suite() {
	P="[$KIND]"
	M=$T/$KIND/mnt
	S=$T/$KIND
	rm -rf "$REF"
	mkdir -p "$REF/$SPACE1" "$REF/$SPACE2" "$REF/$SPACE3" "$S"
	if [ "$KIND" = s3 ]; then
		URL=s3://caravan/proof/e2e
		COPT="--s3-endpoint http://127.0.0.1:$PORT --s3-region us-east-1 --s3-path-style"
		MOPT="cloud=$URL,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style"
	else
		URL=dir:$DIRT
		COPT=""
		MOPT="cloud=$URL"
	fi
	t0=$(date +%s)

	# 1. backup
	if ! mount_fs "$S/store-a" "$M" "$MOPT,backup_delay_ms=50"; then
		not_ok "$P mount with cloud=$URL"
		return
	fi
	check_eq "$P names of 255 bytes" "$(printf %s "$SPACE3" | wc -c) $(key 6 | wc -c) $(key 7 | wc -c)" "255 255 255"
	check "$P create 3 spaces with odd names" mkdir "$M/$SPACE1" "$M/$SPACE2" "$M/$SPACE3"
	check "$P write 200 documents with odd names" write_docs "$M"
	check "$P the mount reads back what was written" diff -r "$REF" "$M"
	check "$P every document is uploaded (user.caravan.backup)" wait_for all_uploaded "$M"
	k6=$(key 6)
	k11=$(key 11)
	k12=$(key 12)
	rm "$M/$SPACE1/$k6" "$M/$SPACE3/$k11" && rm "$REF/$SPACE1/$k6" "$REF/$SPACE3/$k11"
	check "$P unlink removes the object (255-byte name)" wait_for absent "$SPACE1" "$k6"
	check "$P unlink removes the object (UTF-8 space)" wait_for absent "$SPACE3" "$k11"
	mv "$M/$SPACE1/$k12" "$M/$SPACE2/renamed $k12" &&
		mv "$REF/$SPACE1/$k12" "$REF/$SPACE2/renamed $k12"
	check "$P rename removes the old object" wait_for absent "$SPACE1" "$k12"
	check "$P ... and uploads the new name" wait_for all_uploaded "$M"
	check "$P the mount holds what is left" diff -r "$REF" "$M"
	check "$P each object holds the file's content and user.caravan.seq" target_matches "$M" "$REF"
	check "$P clean unmount" umount_fs "$M"
	t1=$(date +%s)

	# 2. restore: the local store wiped
	rm -rf "$S/store-a"
	if ! mount_fs "$S/store-a" "$M" "$MOPT,backup_delay_ms=50"; then
		not_ok "$P mount an empty store on the target"
		return
	fi
	check "$P an empty store lists every space and document" same_listing "$REF" "$M"
	check "$P every document reads back identical" diff -r "$REF" "$M"
	check "$P ... with the cloud's sequence numbers" target_matches "$M" "$REF"
	check "$P clean unmount" umount_fs "$M"
	check "$P fsck of the lazily restored store" "$CARAVAN" fsck "$S/store-a"
	# shellcheck disable=SC2086
	"$CARAVAN" restore --cloud "$URL" $COPT "$S/store-r" >"$T/restore.out" 2>"$T/restore.err"
	check_eq "$P caravan restore succeeds" "$?" 0
	check "$P ... restores every document" grep -q "^$(ndocs "$REF") documents restored" "$T/restore.out"
	mount_fs "$S/store-r" "$M" || not_ok "$P mount the restored store (cloud=none)"
	check "$P the restored store holds every space and document" same_listing "$REF" "$M"
	check "$P ... identical" diff -r "$REF" "$M"
	check "$P clean unmount" umount_fs "$M"
	check "$P fsck of the restored store" "$CARAVAN" fsck "$S/store-r"
	t2=$(date +%s)

	# 3. the target goes down while a writer runs
	mount_fs "$S/store-a" "$M" "$MOPT,backup_delay_ms=50" || not_ok "$P remount"
	for h in 0 1 2 3 4; do echo '{"hot":true}' >"$M/$SPACE2/hot $h"; done
	rm -f "$T/stop" "$T/wfail" "$T/wcount" "$T/create"
	writer "$M" "$SPACE2" &
	WPID=$!
	check "$P the writer runs" wait_for wcount_ge 30
	fails0=$(metric "$M" caravanfs_upload_failures_total)
	check "$P the target goes down" target_down
	down_at=$(wcount)
	: >"$T/create"
	check "$P writes keep succeeding while the target is down" wait_long wcount_ge $((down_at + 150))
	check "$P ... uploads fail and are retried" wait_long failures_above "$M" "$fails0"
	check "$P ... changes wait as pending" pending "$M/$SPACE2/hot 1"
	rm "$T/create"
	check "$P the target comes back (same port, same data)" target_up
	up_at=$(wcount)
	check "$P the writer keeps going" wait_long wcount_ge $((up_at + 30))
	: >"$T/stop"
	wait "$WPID"
	WPID=""
	check_eq "$P no write failed" "$(cat "$T/wfail" 2>/dev/null)" ""
	check "$P the documents created while the target was down" w_docs_ok "$M" "$SPACE2"
	check "$P the backlog drains" wait_long all_uploaded "$M"
	check "$P the target matches the mount" target_matches "$M"
	check_eq "$P the upload queue is empty" "$(metric "$M" caravanfs_upload_queue)" 0
	# from here on the expected state is the mount's (it matches the target)
	rm -rf "$REF" && mkdir "$REF" && cp -r "$M/." "$REF"
	check "$P clean unmount" umount_fs "$M"
	t3=$(date +%s)

	# 4. kill -9 with uploads pending
	mount_fs "$S/store-a" "$M" "$MOPT,backup_delay_ms=600000" || not_ok "$P mount with a long backup delay"
	for i in 3 4 5 7 8 9 10 13 14 15; do
		k=$(key $i)
		for s in "$SPACE1" "$SPACE2" "$SPACE3"; do
			[ -e "$REF/$s/$k" ] || continue
			echo "{\"crash\":$i}" >>"$M/$s/$k"
			sed "s/}\$/,\"crash\":$i}/" "$REF/$s/$k" >"$T/x" && mv "$T/x" "$REF/$s/$k"
		done
	done
	for i in 1 2 3 4 5 6 7 8; do
		echo "{\"new\":$i}" >"$M/$SPACE3/new $i"
		echo "{\"new\":$i}" >"$REF/$SPACE3/new $i"
	done
	k=$(key 17)
	rm "$M/$SPACE3/$k" "$REF/$SPACE3/$k"
	k=$(key 18)
	rm "$M/$SPACE1/$k" "$REF/$SPACE1/$k"
	k=$(key 21)
	mv "$M/$SPACE1/$k" "$M/$SPACE3/moved" && mv "$REF/$SPACE1/$k" "$REF/$SPACE3/moved"
	echo '{"last":1}' >>"$M/$SPACE2/hot 0" &&
		sed 's/}$/,"last":1}/' "$REF/$SPACE2/hot 0" >"$T/x" && mv "$T/x" "$REF/$SPACE2/hot 0"
	check_eq "$P fsync" "$("$TOOL" sys fsync "$M/$SPACE2/hot 0")" OK
	check "$P the changes are pending" pending "$M/$SPACE3/new 8"
	check_eq "$P ... queued" "$(metric "$M" caravanfs_uploads_total)" 0
	kill -9 "$MOUNT_PID"
	wait "$MOUNT_PID" 2>/dev/null
	fusermount3 -u -z "$M"
	mount_fs "$S/store-a" "$M" "$MOPT,backup_delay_ms=50" || not_ok "$P remount after kill -9"
	check "$P every fsynced change survived" diff -r "$REF" "$M"
	check "$P the backlog drains" wait_long all_uploaded "$M"
	check "$P ... and the deletions" wait_long lists_match "$REF"
	check "$P nothing is missing or stale in the target" target_matches "$M" "$REF"
	check "$P nothing deleted came back" diff -r "$REF" "$M"
	check "$P clean unmount" umount_fs "$M"
	check "$P fsck" "$CARAVAN" fsck "$S/store-a"
	t4=$(date +%s)

	# 5. damaged bodies of documents not held locally, their metadata
	# (checksum included) kept
	kx=$(key 10)
	ky=$(key 13)
	ct get-raw "$URL" "$SPACE2" "$kx" "$T/ax" >"$T/sx"
	ct get-raw "$URL" "$SPACE2" "$ky" "$T/ay" >"$T/sy"
	sumx=$(sha256sum "$T/ax" | cut -d' ' -f1)
	sumy=$(sha256sum "$T/ay" | cut -d' ' -f1)
	size=$(stat -c %s "$T/ax")
	head -c $((size - 7)) "$T/ax" >"$T/ax.trunc"
	flip_bit "$T/ay" $(($(stat -c %s "$T/ay") / 2))
	check "$P plant a truncated body" ct put-doc "$URL" "$SPACE2" "$kx" "$T/ax.trunc" "$(cat "$T/sx")" 100644 "$sumx"
	check "$P plant a bit-flipped body" ct put-doc "$URL" "$SPACE2" "$ky" "$T/ay" "$(cat "$T/sy")" 100644 "$sumy"
	check_fails "$P the checksum refuses the truncated one" ct get "$URL" "$SPACE2" "$kx"
	check_fails "$P ... and the bit-flipped one" ct get "$URL" "$SPACE2" "$ky"
	mark=$(log_mark)
	mount_fs "$S/store-e" "$M" "$MOPT,backup_delay_ms=50" || not_ok "$P mount an empty store"
	check_eq "$P a truncated body: EIO" "$(cat "$M/$SPACE2/$kx" 2>&1 >/dev/null | grep -c 'Input/output error')" 1
	check_eq "$P a bit-flipped body: EIO" "$(cat "$M/$SPACE2/$ky" 2>&1 >/dev/null | grep -c 'Input/output error')" 1
	check_eq "$P ... again on a second read" "$(cat "$M/$SPACE2/$ky" 2>&1 >/dev/null | grep -c 'Input/output error')" 1
	check "$P the daemon keeps running" kill -0 "$MOUNT_PID"
	rm "$REF/$SPACE2/$kx" "$REF/$SPACE2/$ky"
	check "$P the other documents read fine" sh -c 'for f in "$1"/*/*; do cmp -s "$f" "$2/${f#"$1"/}" || { echo "$f"; exit 1; }; done' sh "$REF" "$M"
	ex="$(ct encode "$SPACE2")/$(ct encode "$kx")"
	ey="$(ct encode "$SPACE2")/$(ct encode "$ky")"
	check "$P the log names the truncated document" logged "$mark" "'$ex'" "not imported"
	check "$P the log names the bit-flipped document" logged "$mark" "'$ey'" "not imported"
	check "$P clean unmount" umount_fs "$M"
	check_fails "$P nothing of the truncated one is imported" "$CARAVAN" dump "$S/store-e" "$SPACE2/$kx"
	check_fails "$P nothing of the bit-flipped one is imported" "$CARAVAN" dump "$S/store-e" "$SPACE2/$ky"
	check "$P fsck" "$CARAVAN" fsck "$S/store-e"
	t5=$(date +%s)

	if [ "$KIND" = s3 ]; then
		# Wrong credentials: the mount asks the target once and fails
		# with a message naming the refusal.  The wrong part is the
		# access key id: s3rver does not verify V4 signatures, so a
		# wrong secret key goes unnoticed by it.
		mark=$(log_mark)
		AWS_ACCESS_KEY_ID=WRONGKEYID
		AWS_SECRET_ACCESS_KEY=secret-e2e-never-logged
		mount_fs "$S/store-w" "$T/s3/mnt-w" "$MOPT,backup_delay_ms=50" >/dev/null
		AWS_ACCESS_KEY_ID=S3RVER
		AWS_SECRET_ACCESS_KEY=S3RVER
		check_fails "$P wrong credentials: the mount fails" mountpoint -q "$T/s3/mnt-w"
		check "$P ... with a message naming the refusal" logged "$mark" "refused the credentials" "$URL"
		check_fails "$P ... and the daemon is gone" kill -0 "$MOUNT_PID"
		check_fails "$P the secret key is never logged" grep -q secret-e2e-never-logged "$T/caravanfs.log"
		# A target that cannot be reached at mount only warns: the
		# mount comes up, local documents work, uploads wait.
		mount_fs "$S/store-w" "$M" "$MOPT,backup_delay_ms=50"
		mkdir "$M/local-w" && echo '{"a":1}' >"$M/local-w/doc"
		check "$P clean unmount" umount_fs "$M"
		target_down
		mark=$(log_mark)
		mount_fs "$S/store-w" "$M" "$MOPT,backup_delay_ms=50"
		check_eq "$P target down at mount: the mount comes up" "$?" 0
		check "$P ... with a warning" logged "$mark" "cannot reach the cloud target" "$URL"
		echo '{"b":2}' >>"$M/local-w/doc"
		check_eq "$P ... and a local document works" "$(cat "$M/local-w/doc" 2>&1)" '{"a":1,"b":2}'
		check "$P clean unmount" umount_fs "$M"
		target_up
		# No credentials at all: the mount fails with a message.
		mark=$(log_mark)
		unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
		mkdir -p "$T/nohome"
		home=${HOME:-}
		export HOME="$T/nohome" AWS_EC2_METADATA_DISABLED=true
		mount_fs "$S/store-n" "$T/s3/mnt-n" "$MOPT" >/dev/null
		HOME=$home
		unset AWS_EC2_METADATA_DISABLED
		check_fails "$P no credentials: the mount fails" mountpoint -q "$T/s3/mnt-n"
		check "$P ... with a message" logged "$mark" "cannot open cloud target" "$URL"
		export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
	fi
	echo "# $KIND: backup $((t1 - t0)) s, restore $((t2 - t1)) s, outage $((t3 - t2)) s, kill -9 $((t4 - t3)) s, damage $((t5 - t4)) s, total $(($(date +%s) - t0)) s"
}

check "s3rver starts on 127.0.0.1:$PORT" s3_start
for KIND in s3 dir; do
	suite
done
s3_stop -9

e2e_finish
