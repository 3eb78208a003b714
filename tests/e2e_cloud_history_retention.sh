#!/bin/sh
# e2e_cloud_history_retention.sh - retention= through a real mount on a
# dir: target: with a short window (retention=5s, the smallest useful in
# a test: any N s above 0 is accepted), once the history older than the
# window is pruned (the first feed batch gone, polled while the workload
# goes on), a time before the window is refused, the latest state
# restores exactly, and so does a moment inside the window.
#
# Pruning keeps the newest complete snapshot at or before the window's
# start (docs/cloud-history.md): snapshots follow 1 MiB of feed, so the
# workload writes documents of ~150 KB.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

SEED=1
A=$T/a
R=$T/r
RM=$T/rm
URL=dir:$T/cloud
S3ARGS=""
# shellcheck source=tests/e2e/history.sh
. "$(dirname "$0")/e2e/history.sh"

pad=$(head -c 150000 /dev/zero | tr '\0' a)
big() { # big N FILE: a document of ~150 KB
	printf '{"n":%s,"pad":"%s"}\n' "$1" "$pad" >"$2"
}

before=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
check "mount with retention=5s" mount_fs "$T/store" "$A" "cloud=$URL,backup_delay_ms=50,retention=5s"
mkdir "$A/sp"
i=0
while [ $i -lt 8 ]; do
	big $i "$A/sp/d$i"
	i=$((i + 1))
done
dump "$A" >"$T/first"
check "the feed holds the first state" wait_feed "$T/first"
first=
for f in "$T/cloud/.caravan"/feed-*; do # the oldest (names sort by age)
	[ -e "$f" ] && first=${f##*/}
	break
done
check "... in feed batches" test -n "$first"
restore_at "$before" "$T/empty"
check_eq "before pruning, a time before the first change restores empty" "$(cat "$T/empty")" ""

# Keep changing until retention removed the first batch (polled; each
# round a change of ~150 KB, so snapshots keep coming).
n=0
while [ -e "$T/cloud/.caravan/$first" ]; do
	n=$((n + 1))
	if [ $n -ge 600 ]; then break; fi
	big $((n + 8)) "$A/sp/d$((n % 8))"
	sleep 0.2
done
check "history older than the window is pruned (the first feed batch is gone)" test ! -e "$T/cloud/.caravan/$first"
set -- "$T/cloud/.caravan"/snap-*
check "... a snapshot is kept" test -e "$1"
if restore_at "$before" "$T/gone" 2>/dev/null; then
	not_ok "a time before the window is refused"
else
	check "a time before the window is refused" grep -q "before the oldest restore point" "$T/restore.err"
fi
check "... leaving nothing behind" test ! -e "$R"

# The latest state and a moment inside the window restore exactly.
dump "$A" >"$T/m1"
check "the latest state restores exactly" wait_feed "$T/m1"
at1=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
echo '{"last":true}' >"$A/sp/d0"
dump "$A" >"$T/m2"
check "... after one more change too" wait_feed "$T/m2"
restore_at "$at1" "$T/got1"
check "a moment inside the window restores exactly" cmp -s "$T/got1" "$T/m1"
check "clean unmount" umount_fs "$A"
check "fsck" "$CARAVAN" fsck "$T/store"
e2e_finish
