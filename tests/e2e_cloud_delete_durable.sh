#!/bin/sh
# e2e_cloud_delete_durable.sh - the cloud is never ahead of the disk for a
# delete: a document deleted (rm) or renamed away (mv) here has its cloud
# copy deleted, and the delete fed to the history, only once the delete is
# durable locally.  The mount runs with a background commit interval far
# longer than the test (commit_ms), so only the uploader's own sync can
# make the delete durable: a kill -9 after the cloud copy is gone must
# find the delete on the next mount, not the document back while the
# cloud and the feed hold it deleted (what a follower taking over then
# sees: the document gone; what the writer saw: the document there).
# dir: target.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

A=$T/a

uploaded() { # uploaded FILE: its latest change is confirmed in the cloud
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
gone_from_cloud() { test ! -e "$T/cloud-$op/$1"; }

for op in rm mv; do
	O="cloud=dir:$T/cloud-$op,backup_delay_ms=20,commit_ms=3600000"
	check "$op: mount" mount_fs "$T/store-$op" "$A" "$O"
	mkdir "$A/sp"
	echo '{"v":1}' >"$A/sp/doc"
	echo '{"k":1}' >"$A/sp/keep"
	check "$op: the documents are uploaded" wait_for uploaded "$A/sp/doc"
	check "$op: ... both" wait_for uploaded "$A/sp/keep"
	check "$op: the cloud holds the document" test -e "$T/cloud-$op/sp/doc"
	if [ "$op" = rm ]; then
		rm "$A/sp/doc"
	else
		mv "$A/sp/doc" "$A/sp/moved"
	fi
	check "$op: its cloud copy under the old name is deleted" wait_for gone_from_cloud sp/doc
	kill -9 "$MOUNT_PID"
	wait "$MOUNT_PID" 2>/dev/null
	fusermount3 -u -z "$A" 2>/dev/null
	check "$op: remount after kill -9" mount_fs "$T/store-$op" "$A" "$O"
	check_fails "$op: the deleted name stays deleted here too" test -e "$A/sp/doc"
	if [ "$op" = mv ]; then
		check_eq "$op: the document is under its new name" "$(cat "$A/sp/moved")" '{"v":1}'
	fi
	check_eq "$op: the other document is as it was" "$(cat "$A/sp/keep")" '{"k":1}'
	check "$op: clean unmount" umount_fs "$A"
done
e2e_finish
