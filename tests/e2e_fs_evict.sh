#!/bin/sh
# e2e_fs_evict.sh - a store that holds more than its bound: eviction.
#
# A store mounted with capacity=4M,max_capacity=16M and a cloud target
# (dir:, or s3rver on loopback with CARAVAN_EVICT_TARGET=s3) receives 64
# MiB of documents (1024 of 64 KiB) through the mount: no write fails,
# the data file never exceeds the bound plus its header (sampled during
# the writes), documents were evicted (metric, caravan stats, the xattr
# user.caravan.local), an evicted document keeps its size in stat and in
# listings, and every document reads back exactly: at once, after a clean
# remount (the evicted ones fetched back from the cloud: refills), and
# after kill -9 and a remount.  An O_APPEND patch to an evicted document
# applies to its whole content; mv and chmod of evicted documents work
# (they are brought back first).  With the cloud down, reading an evicted
# document is EIO and changes nothing; with the cloud back it reads.
# fsck is clean throughout.
#
# Then a second store with its target down from the start (an S3
# endpoint on a loopback port nobody listens on): nothing is confirmed,
# so nothing is evicted,
# and the bound gives ENOSPC as without a cloud; every acknowledged
# document reads back.
#
# Environment: CARAVAN_EVICT_TARGET (dir or s3; default dir),
# CARAVAN_S3RVER (s3rver.js for s3).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

KIND=${CARAVAN_EVICT_TARGET:-dir}
M=$T/mnt
S=$T/store
DOC=65536
N=1024
MAX=16777216
pad=$(printf "%0${DOC}d" 0)
if [ "$KIND" = s3 ]; then
	s3_setup
	check "s3rver starts" s3_start
	O="cloud=s3://caravan/evict,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style"
else
	O="cloud=dir:$T/cloud"
fi
# cache=1M: few documents stay materialized in memory, so reads of
# evicted ones go to the cloud; cutover=4M: the log (which holds every
# append until a cut-over) is cut over well before it could reach the
# bound, so "the log stays small" is the product's rule, not a race with
# the default 64 MiB cut-over
O="$O,capacity=4M,max_capacity=16M,backup_delay_ms=100,cache=1M,cutover=4M"

# doc I: the text of document I
doc() {
	printf '{"i":%d,"pad":"%s"}\n' "$1" "$pad"
}

# check_docs DIR N: how many of documents 1..N do not read back exactly
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

metric() {
	sed -n "s/^caravanfs_$1 \([0-9]*\)$/\1/p" "$M/.caravan-metrics"
}

stat_field() {
	"$CARAVAN" stats "$1" --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# an evicted document of $M/g: the first whose xattr says 0 (empty: none)
evicted_one() {
	e_i=1
	while [ $e_i -le $N ]; do
		if [ "$(getfattr --only-values -n user.caravan.local "$M/g/d$e_i" 2>/dev/null)" = 0 ]; then
			echo $e_i
			return
		fi
		e_i=$((e_i + 1))
	done
}

# ---- 64 MiB through a 16 MiB bound ----
mount_fs "$S" "$M" "$O" || not_ok "mount"
mkdir "$M/g"
i=0
fails=0
big=0
while [ $i -lt $N ]; do
	i=$((i + 1))
	r=$("$TOOL" writes "$M/g/d$i" append "$(doc $i)")
	if [ "$r" != "OK close:OK" ]; then
		fails=$((fails + 1))
		echo "       d$i: $r"
	fi
	if [ "$(stat -c %s "$S/data")" -gt $((MAX + 4096)) ]; then big=$((big + 1)); fi
done
check_eq "64 MiB of documents written through a 16 MiB bound: no error" $fails 0
check_eq "the data file never exceeded the bound plus its header" $big 0
wal=$(stat -c %s "$S/wal")
check "... and the log stays small beside it ($wal B < 16 MiB, cut over at 4 MiB)" \
	test "$wal" -lt $MAX
ev=$(metric evictions_total)
check "documents were evicted (caravanfs_evictions_total $ev)" test "${ev:-0}" -gt 0
check "caravanfs_docs_evicted is above 0 ($(metric docs_evicted))" \
	test "$(metric docs_evicted)" -gt 0
# both gauges from one scrape: the evictor may still be running, and two
# reads of the file are two moments
scrape=$(cat "$M/.caravan-metrics")
one_local=$(echo "$scrape" | sed -n 's/^caravanfs_docs_local \([0-9]*\)$/\1/p')
one_evicted=$(echo "$scrape" | sed -n 's/^caravanfs_docs_evicted \([0-9]*\)$/\1/p')
check_eq "caravanfs_docs_local + docs_evicted = documents (one scrape)" \
	$((one_local + one_evicted)) $N
e=$(evicted_one)
check "an evicted document says user.caravan.local=0" test -n "$e"
check_eq "... its stat size is its content's" "$(stat -c %s "$M/g/d${e:-1}")" \
	"$(doc "${e:-1}" | wc -c)"
check_eq "... it is listed" "$(ls "$M/g" | grep -cx "d${e:-1}")" 1
check_eq "the listing holds every document" "$(ls "$M/g" | wc -l)" $N
check_eq "every document reads back exactly" "$(check_docs "$M/g" $N)" 0
check "clean unmount" umount_fs "$M"
check "caravan stats: evicted documents" test "$(stat_field "$S" docs_evicted)" -gt 0
check "fsck" "$CARAVAN" fsck "$S"

# ---- remount: evicted documents come back from the cloud ----
mount_fs "$S" "$M" "$O" || not_ok "remount"
e=$(evicted_one)
check "after the remount a document is still evicted" test -n "$e"
check_eq "after the remount every document reads back exactly" \
	"$(check_docs "$M/g" $N)" 0
check "... evicted ones were brought back (caravanfs_refills_total $(metric refills_total))" \
	test "$(metric refills_total)" -gt 0
e=$(evicted_one)
if [ -n "$e" ]; then
	check_eq "an O_APPEND patch to an evicted document" \
		"$("$TOOL" writes "$M/g/d$e" append '{"more":1}\n')" "OK close:OK"
	doc "$e" | sed 's/}$/,"more":1}/' >"$T/want"
	check "... applies to its whole content" cmp -s "$T/want" "$M/g/d$e"
	check_eq "... and it is written back as it was" \
		"$("$TOOL" writes "$M/g/d$e" trunc "$(doc "$e")")" "OK close:OK"
else
	not_ok "an evicted document to patch"
fi
# the cloud down: an evicted document cannot be read (EIO), nothing changes
e=$(evicted_one)
if [ "$KIND" = s3 ]; then s3_stop; else mv "$T/cloud" "$T/cloud.away"; fi
check_eq "the cloud down: reading an evicted document is EIO" \
	"$("$TOOL" sys read "$M/g/d${e:-1}")" EIO
check_eq "... it stays evicted, with its size" \
	"$(getfattr --only-values -n user.caravan.local "$M/g/d${e:-1}" 2>/dev/null) $(stat -c %s "$M/g/d${e:-1}")" \
	"0 $(doc "${e:-1}" | wc -c)"
if [ "$KIND" = s3 ]; then s3_start; else mv "$T/cloud.away" "$T/cloud"; fi
doc "${e:-1}" >"$T/want"
check "... the cloud back: it reads back exactly" cmp -s "$T/want" "$M/g/d${e:-1}"
# rename and chmod of evicted documents bring them back first
e=$(evicted_one)
check "mv of an evicted document" mv "$M/g/d${e:-1}" "$M/g/moved"
doc "${e:-1}" >"$T/want"
check "... it reads back exactly under its new name" cmp -s "$T/want" "$M/g/moved"
check "... and back under its old one" mv "$M/g/moved" "$M/g/d${e:-1}"
e=$(evicted_one)
check "chmod of an evicted document" chmod 600 "$M/g/d${e:-1}"
check_eq "... its mode is set" "$(stat -c %a "$M/g/d${e:-1}")" 600
doc "${e:-1}" >"$T/want"
check "... it reads back exactly" cmp -s "$T/want" "$M/g/d${e:-1}"
check "unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

# ---- kill -9 with evictions in flight, remount ----
mount_fs "$S" "$M" "$O" || not_ok "remount"
mkdir "$M/k"
i=0
while [ $i -lt 256 ]; do
	i=$((i + 1))
	"$TOOL" writes "$M/k/d$i" append "$(doc $i)" >/dev/null
done
# the log is sequential: the last document's fsync makes all durable
check_eq "fsync" "$("$TOOL" sys fsync "$M/k/d$i")" OK
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null
fusermount3 -u -z "$M"
check "fsck after kill -9" "$CARAVAN" fsck "$S"
mount_fs "$S" "$M" "$O" || not_ok "remount after kill -9"
check_eq "after kill -9 every document reads back exactly" \
	"$(check_docs "$M/g" $N)" 0
check_eq "... and the ones written just before it" \
	"$(check_docs "$M/k" 256)" 0
check "unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

# ---- the target down: nothing is confirmed, nothing evicted ----
if [ "$KIND" = dir ]; then
	S2=$T/store2
	DOWN=$(free_port)
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
	mount_fs "$S2" "$M" "cloud=s3://caravan/down,s3_endpoint=http://127.0.0.1:$DOWN,s3_region=us-east-1,s3_path_style,capacity=4M,max_capacity=16M,backup_delay_ms=100" ||
		not_ok "mount with the target down"
	mkdir "$M/g"
	i=0
	r="none"
	while [ $i -lt 512 ]; do
		i=$((i + 1))
		r=$("$TOOL" writes "$M/g/d$i" append "$(doc $i)")
		[ "$r" = "OK close:OK" ] || break
	done
	check_eq "with the target down the bound gives ENOSPC" "$r" "ENOSPC close:OK"
	check_eq "... and nothing was evicted" "$(metric evictions_total)" 0
	check_eq "... every acknowledged document reads back" \
		"$(check_docs "$M/g" $((i - 1)))" 0
	check "unmount" umount_fs "$M"
	check "fsck" "$CARAVAN" fsck "$S2"
fi

e2e_finish
