#!/bin/sh
# e2e_cloud_history.sh - the oracle test of point-in-time restore: a
# seeded random workload through a real mount (creates, patches,
# replacements, renames, deletes, chmods, space removals) backed up to a
# dir: target, or to s3rver with CARAVAN_HISTORY_TARGET=s3.  At 20
# moments, once the change feed holds everything (polled: a restore at
# "now" equals the namespace), the namespace is recorded with the time;
# `caravan restore --at` each moment must reproduce it exactly (content,
# seq, mode, mtime), also after `rm -rf` of everything in the mount.
# Beside it: --only, versions, refusal of a non-empty store without
# --force, and a time before the history.
#
# Environment: CARAVAN_HISTORY_SEED (default 1), CARAVAN_HISTORY_TARGET
# (dir or s3; default dir), CARAVAN_S3RVER (s3rver.js for s3).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

SEED=${CARAVAN_HISTORY_SEED:-1}
KIND=${CARAVAN_HISTORY_TARGET:-dir}
A=$T/a
R=$T/r
RM=$T/rm
if [ "$KIND" = s3 ]; then
	s3_setup
	check "s3rver starts" s3_start
	URL=s3://caravan/hist
	S3ARGS="--s3-endpoint http://127.0.0.1:$PORT --s3-region us-east-1 --s3-path-style"
	O="cloud=$URL,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
else
	URL=dir:$T/cloud
	S3ARGS=""
	O="cloud=$URL,backup_delay_ms=50"
fi

# shellcheck source=tests/e2e/history.sh
. "$(dirname "$0")/e2e/history.sh"

check "mount with history" mount_fs "$T/store" "$A" "$O"
before=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
moments=0
i=0
while [ $i -lt 20 ]; do
	j=0
	while [ $j -lt 12 ]; do
		one_op
		j=$((j + 1))
	done
	dump "$A" >"$T/want.$i"
	if wait_feed "$T/want.$i"; then
		date -u +%Y-%m-%dT%H:%M:%S.%NZ >"$T/at.$i"
		moments=$((moments + 1))
	else
		not_ok "the feed holds moment $i" "$(diff "$T/want.$i" "$T/poll" | head -5)"
		date -u +%Y-%m-%dT%H:%M:%S.%NZ >"$T/at.$i"
	fi
	i=$((i + 1))
done
check_eq "the feed held all 20 moments" "$moments" 20
check "the workload touched many documents" test "$(cat "$T"/want.* | cut -d' ' -f1 | sort -u | wc -l)" -ge 10

replay_all() { # replay_all LABEL
	bad=0
	i=0
	while [ $i -lt 20 ]; do
		if ! restore_at "$(cat "$T/at.$i")" "$T/got.$i" ||
			! cmp -s "$T/got.$i" "$T/want.$i"; then
			bad=$((bad + 1))
			echo "moment $i differs:"
			diff "$T/want.$i" "$T/got.$i" | head -5
		fi
		i=$((i + 1))
	done
	check_eq "$1: every moment restores exactly" "$bad" 0
}
replay_all "before rm -rf"

# ---- --only, versions, refusals ----
sp=$(head -1 "$T/want.19" | cut -d/ -f1)
if [ -n "$sp" ]; then
	restore_at "$(cat "$T/at.19")" "$T/only" --only "$sp"
	check_eq "--only SPACE restores that space alone" "$(cat "$T/only")" "$(grep "^$sp/" "$T/want.19")"
	doc=$(head -1 "$T/want.19" | cut -d' ' -f1)
	# shellcheck disable=SC2086
	"$CARAVAN" versions --cloud "$URL" $S3ARGS "$doc" >"$T/versions"
	check "versions lists the document's changes" grep -q "seq $(head -1 "$T/want.19" | cut -d' ' -f2) " "$T/versions"
	check "... with RFC 3339 times" grep -qE '^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z ' "$T/versions"
else
	not_ok "the last moment holds a document"
fi
mkdir -p "$T/full" && echo x >"$T/full/file"
# shellcheck disable=SC2086
check_fails "a non-empty directory is refused" "$CARAVAN" restore --cloud "$URL" $S3ARGS --at "$(cat "$T/at.5")" "$T/full"
check "... and left alone" test -f "$T/full/file"
# shellcheck disable=SC2086
check "--force replaces it" "$CARAVAN" restore --cloud "$URL" $S3ARGS --at "$(cat "$T/at.5")" --force "$T/full"
check "... with a store" "$CARAVAN" fsck "$T/full"
restore_at "$before" "$T/empty"
check_eq "a time before the first change: an empty store" "$(cat "$T/empty")" ""
# shellcheck disable=SC2086
check_fails "a malformed time is refused" "$CARAVAN" restore --cloud "$URL" $S3ARGS --at "yesterday" "$T/x"
check "... leaving nothing behind" test ! -e "$T/x"

# ---- rm -rf of everything: the history keeps it ----
rm -rf "${A:?}"/*
: >"$T/nothing"
check "the feed holds the removal" wait_feed "$T/nothing"
replay_all "after rm -rf"
check "clean unmount" umount_fs "$A"

# ---- retention=0: the current objects only ----
if [ "$KIND" = dir ]; then
	check "mount with retention=0" mount_fs "$T/store0" "$T/m0" "cloud=dir:$T/cloud0,backup_delay_ms=50,retention=0"
	mkdir "$T/m0/sp" && echo '{"a":1}' >"$T/m0/sp/d"
	check "... uploads" wait_for sh -c 'getfattr --absolute-names --only-values -n user.caravan.backup "$1" | grep -q "^uploaded"' sh "$T/m0/sp/d"
	check_eq "... and keeps no feed" "$(ls "$T/cloud0/.caravan" | grep -c -E '^(feed|snap)-')" 0
	check "clean unmount" umount_fs "$T/m0"
	check_fails "a malformed retention= is refused" "$CARAVANFS" -f -o cloud=none,retention=7x "$T/store0" "$T/m0"
fi

# ---- caravan backup (offline) feeds the history as a mount would ----
if [ "$KIND" = dir ]; then
	URL=dir:$T/cloud1
	check "mount with history" mount_fs "$T/store1" "$T/m1" "cloud=$URL,backup_delay_ms=50"
	mkdir "$T/m1/sp" && echo '{"v":1}' >"$T/m1/sp/d" && echo '{"x":1}' >"$T/m1/sp/x"
	dump "$T/m1" >"$T/off.before"
	check "... feeds it" wait_feed "$T/off.before"
	check "clean unmount" umount_fs "$T/m1"
	before_off=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	check "mount without backup" mount_fs "$T/store1" "$T/m1"
	echo '{"v":2}' >"$T/m1/sp/d"
	echo '{"e":1}' >"$T/m1/sp/e"
	rm "$T/m1/sp/x"
	dump "$T/m1" >"$T/off.after"
	check "clean unmount" umount_fs "$T/m1"
	check "caravan backup" "$CARAVAN" backup --cloud "$URL" "$T/store1"
	restore_at "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$T/off.got"
	check_eq "a restore at now has the offline changes (the feed holds them)" "$(cat "$T/off.got")" "$(cat "$T/off.after")"
	restore_at "$before_off" "$T/off.old"
	check_eq "... and one before them the state the mount uploaded" "$(cat "$T/off.old")" "$(cat "$T/off.before")"
	"$CARAVAN" versions --cloud "$URL" sp/d >"$T/off.versions"
	check "versions lists the offline change" grep -q "seq $(grep '^sp/d ' "$T/off.after" | cut -d' ' -f2) " "$T/off.versions"
fi
s3_stop
e2e_finish
