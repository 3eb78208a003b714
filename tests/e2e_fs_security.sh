#!/bin/sh
# e2e_fs_security.sh - SPEC 7c (local security, issue 14) through real
# mounts, as another local user (uid 65534 by setpriv) and as an unlucky
# admin: private modes of the store's files, access control under
# allow_other, the metrics file and planted links, mount points inside the
# store, core dumps, memory a client can pin, errnos that stay what they
# were, read-only media and truncate to the current size.
# docs/security.md says which check proves which rule.
. "$(dirname "$0")/e2e/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "runs as root: it mounts with allow_other and acts as uid 65534"
	exit 1
fi
# the other user must reach the mount point and run the tool
chmod 0755 "$T"
cp "$TOOL" "$T/e2e_tool"
NB="setpriv --reuid=65534 --regid=65534 --clear-groups"
# nb CALL ARGS...: one call of e2e_tool sys as uid 65534
nb() {
	$NB "$T/e2e_tool" sys "$@"
}
RO=$T/ro
cleanup_ro() {
	if mountpoint -q "$RO" 2>/dev/null; then umount "$RO"; fi
}
trap 'cleanup_ro; e2e_cleanup' EXIT

# ---- 1. the store's files are private ----
S=$T/store
M=$T/mnt
if ! mount_fs "$S" "$M" "allow_other,commit_ms=600000"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
check_eq "a new store directory is 0700" "$(stat -c %a "$S")" 700
for f in data wal LOCK; do
	check_eq "the store's $f is 0600" "$(stat -c %a "$S/$f")" 600
done

# ---- 2. access control with allow_other ----
check "allow_other brings default_permissions" \
	grep -q " $M fuse.caravanfs .*default_permissions" /proc/mounts
mkdir "$M/priv" "$M/pub" "$M/team"
chmod 0700 "$M/priv"
chmod 1777 "$M/team"
echo '{"s":1}' >"$M/priv/doc"
echo '{"s":2}' >"$M/pub/secret"
echo '{"p":3}' >"$M/pub/shared"
echo '{"t":4}' >"$M/team/rootfile"
chmod 0600 "$M/priv/doc" "$M/pub/secret"
chmod 0644 "$M/pub/shared"
chmod 0666 "$M/team/rootfile"
check_eq "other user: a document in a 0700 space cannot be read" "$(nb read "$M/priv/doc")" EACCES
check_eq "... nor listed" "$($NB ls "$M/priv" >/dev/null 2>&1 && echo listed || echo refused)" refused
check_eq "... nor removed" "$(nb unlink "$M/priv/doc")" EACCES
check_eq "... nor renamed" "$(nb rename "$M/priv/doc" "$M/team/stolen")" EACCES
P=$M/pub/secret
check_eq "other user: a 0600 document cannot be opened for reading" "$(nb read "$P")" EACCES
check_eq "... for appending" "$(nb write "$P")" EACCES
check_eq "... with O_TRUNC" "$(nb otrunc "$P")" EACCES
check_eq "... nor truncated" "$(nb truncate "$P" 0)" EACCES
check_eq "... nor its extended attributes read" "$(nb getxattr "$P" user.caravan.seq)" EACCES
check_eq "... nor chmod" "$(nb chmod "$P" 0666)" EPERM
check_eq "... nor chown to itself" "$(nb chown "$P" 65534 -1)" EPERM
check_eq "... nor chgrp" "$(nb chown "$P" -1 65534)" EPERM
check_eq "... nor given explicit times" "$(nb utimes "$P")" EPERM
check_eq "... nor touched" "$(nb touchnow "$P")" EACCES
check_eq "other user: no document created in a 0755 space of root's" "$(nb creat "$M/pub/new")" EACCES
check_eq "... none removed there" "$(nb unlink "$M/pub/shared")" EACCES
check_eq "... none renamed there" "$(nb rename "$M/pub/shared" "$M/pub/mine")" EACCES
check_eq "... no space made in a 0755 root" "$(nb mkdir "$M/nbspace")" EACCES
check_eq "... no space removed there" "$(nb rmdir "$M/team")" EACCES
check_eq "... extended attributes cannot be set" "$(nb setxattr "$M/pub/shared" user.caravan.seq)" EACCES
check_eq "the document is unchanged" "$(cat "$P")" '{"s":2}'
check_eq "other user: a 0644 document can be read" "$(nb read "$M/pub/shared")" OK
check_eq "... and its extended attributes" "$(nb getxattr "$M/pub/shared" user.caravan.seq)" OK
check_eq "... not written" "$(nb write "$M/pub/shared")" EACCES
check_eq "other user: a 0666 document can be written" "$(nb write "$M/team/rootfile")" OK
check_eq "... but in a sticky space not removed" "$(nb unlink "$M/team/rootfile")" EPERM
N=$M/team/mine
check_eq "other user: creates in a 1777 space" "$(nb creat "$N")" OK
check_eq "... owns what it made" "$(stat -c %u:%g "$N")" 65534:65534
check_eq "... writes it" "$($NB sh -c "echo '{\"n\":1}' >>'$N'" && cat "$N")" '{"n":1}'
check_eq "... truncates it" "$(nb truncate "$N" 0)" OK
check_eq "... chmods it" "$(nb chmod "$N" 0640)" OK
check_eq "... gives it explicit times" "$(nb utimes "$N")" OK
check_eq "... touches it" "$(nb touchnow "$N")" OK
check_eq "... chgrps it to its own group" "$(nb chown "$N" -1 65534)" OK
check_eq "... not to a group it is not in" "$(nb chown "$N" -1 0)" EPERM
check_eq "... gives it away to nobody else" "$(nb chown "$N" 0 -1)" EPERM
check_eq "... renames it" "$(nb rename "$N" "$N.2")" OK
check_eq "... removes it" "$(nb unlink "$N.2")" OK
chmod 0777 "$M"
check_eq "other user: makes a space in a 0777 root" "$(nb mkdir "$M/nbspace")" OK
check_eq "... and removes it" "$(nb rmdir "$M/nbspace")" OK
chmod 0755 "$M"
check "root may chgrp to any group" chgrp 4321 "$M/pub/shared"

# ---- 9. truncate to the current size ----
echo '{"k":"v"}' >"$M/pub/t"
check_eq "truncate to the current size succeeds" "$("$TOOL" sys truncate "$M/pub/t" 10)" OK
check_eq "ftruncate to the current size succeeds" "$("$TOOL" sys ftruncate "$M/pub/t" 10)" OK
check_eq "... and changes nothing" "$(cat "$M/pub/t")" '{"k":"v"}'
check_eq "another size: EINVAL" "$("$TOOL" sys truncate "$M/pub/t" 4)" EINVAL

# ---- 5. no core dumps ----
# The kernel's own verdict, PR_GET_DUMPABLE in the daemon, is a metric.
check_eq "the daemon does not dump core" \
	"$(grep '^caravanfs_process_dumpable ' "$M/.caravan-metrics")" "caravanfs_process_dumpable 0"
check "unmount" umount_fs "$M"
for f in data wal LOCK; do
	check_eq "after the checkpoint the store's $f is 0600" "$(stat -c %a "$S/$f")" 600
done

mount_fs "$S" "$M" "debug" 2>/dev/null || not_ok "mount with -d"
check_eq "... unless debugging is asked for (-d)" \
	"$(grep '^caravanfs_process_dumpable ' "$M/.caravan-metrics")" "caravanfs_process_dumpable 1"
check "unmount" umount_fs "$M"

# ---- 8. read-only media ----
mkdir "$RO"
mount --bind "$S" "$RO" && mount -o remount,bind,ro "$RO"
check_eq "the bind mount is read-only" "$(touch "$RO/x" 2>&1 >/dev/null | grep -c 'Read-only')" 1
if mount_fs "$RO" "$M" "ro"; then
	ok "-o ro mounts a store on read-only media"
	check_eq "... its documents read" "$(cat "$M/pub/t")" '{"k":"v"}'
	check_eq "... writes are refused" "$("$TOOL" sys write "$M/pub/t")" EROFS
	mkdir "$T/mnt2"
	timeout -k 5 20 "$CARAVANFS" -f -o cloud=none "$S" "$T/mnt2" >"$T/out" 2>&1
	check_eq "... a writer of the same store is refused meanwhile" \
		"$?:$(grep -c 'in use' "$T/out")" 1:1
	check "unmount the read-only mount" umount_fs "$M"
else
	not_ok "-o ro mounts a store on read-only media"
fi
check "caravan fsck on read-only media" "$CARAVAN" fsck "$RO"
check "caravan dump on read-only media" "$CARAVAN" dump "$RO" pub/t
check "caravan stats on read-only media" "$CARAVAN" stats "$RO"
cleanup_ro

# ---- 1 again: a looser directory an admin made is kept; restore ----
L=$T/loose
mkdir -m 0750 "$L"
if mount_fs "$L" "$M" "cloud=dir:$T/cloud,backup_delay_ms=0"; then
	mkdir "$M/s"
	echo '{"r":1}' >"$M/s/d"
	check "unmount (uploads)" umount_fs "$M"
else
	not_ok "mount a store in an existing 0750 directory"
fi
check_eq "an existing 0750 store directory keeps its mode" "$(stat -c %a "$L")" 750
check_eq "... its files are 0600" "$(stat -c %a "$L/data" "$L/wal" "$L/LOCK" | sort -u)" 600
check "caravan restore" "$CARAVAN" restore --cloud "dir:$T/cloud" "$T/restored"
check_eq "a restored store directory is 0700" "$(stat -c %a "$T/restored")" 700
check_eq "... its files are 0600" "$(stat -c %a "$T/restored/data" "$T/restored/wal" "$T/restored/LOCK" | sort -u)" 600

# ---- 3. metrics_file never follows a planted link ----
echo precious >"$T/victim"
echo precious >"$T/victim2"
ln -s "$T/victim" "$T/metrics.prom.tmp"
ln -s "$T/victim2" "$T/metrics.prom"
if mount_fs "$S" "$M" "metrics_file=$T/metrics.prom,metrics_ms=50"; then
	check "the metrics file is written" wait_for test -f "$T/metrics.prom" -a ! -L "$T/metrics.prom"
	check_eq "... as a regular 0644 file" "$(stat -c %F:%a "$T/metrics.prom")" "regular file:644"
	check "... with metrics in it" grep -q '^caravanfs_pinned_bytes ' "$T/metrics.prom"
	check "unmount" umount_fs "$M"
else
	not_ok "mount with metrics_file"
fi
check_eq "a link planted at the old temporary name is not followed" "$(cat "$T/victim")" precious
check_eq "a link at the file's own name is replaced, not followed" "$(cat "$T/victim2")" precious
check_eq "a clean unmount removes the metrics file" "$(ls "$T" | grep -c '^metrics.prom$')" 0
check_eq "... and leaves no temporary behind" "$(ls "$T" | grep -c '^metrics.prom\.')" 1

# ---- 4. a mount point inside the store (and the like) is refused ----
# refused NAME MESSAGE STORE MNT [OPTIONS]
refused() {
	rf_name=$1
	rf_msg=$2
	shift 2
	mkdir -p "$2"
	timeout -k 5 20 "$CARAVANFS" -f -o "cloud=none${3:+,$3}" "$1" "$2" >"$T/refused.log" 2>&1 &
	echo "$! $2" >>"$T/mounts" # a mount that happened is cleaned up
	wait $!
	rf_st=$?
	if [ $rf_st -ne 0 ] && [ $rf_st -ne 124 ] && grep -q "$rf_msg" "$T/refused.log"; then
		ok "$rf_name"
	else
		not_ok "$rf_name" "status $rf_st: $(head -c 300 "$T/refused.log")"
	fi
}
refused "caravanfs STORE STORE is refused" "lies inside" "$S" "$S"
mkdir -p "$S/sub"
refused "a mount point inside the store is refused" "mount point lies inside the store" "$S" "$S/sub"
rmdir "$S/sub"
refused "a store inside the mount point is refused" "store lies inside the mount point" "$T/m3/store" "$T/m3"
check_eq "... and not created there" "$(ls "$T/m3" | wc -l)" 0
refused "a dir: target inside the mount point is refused" "inside the mount point" "$S" "$T/m4" "cloud=dir:$T/m4/backup"
ln -s "$S" "$T/storelink"
refused "... also through a symlink" "lies inside" "$T/storelink" "$S"

# ---- 6. memory a client can pin ----
if mount_fs "$T/mem" "$M" "max_pinned=16M,max_pending=8M"; then
	D=$M/mem
	mkdir "$D"
	printf '{"big":"%s"}\n' "$(head -c 3000000 /dev/zero | tr '\0' x)" >"$D/big"
	res=$("$TOOL" pin "$D/big" 20)
	case "$res" in
	"opened:"[1-9]" next:ENOMEM after:OK") ok "read handles pinning versions past max_pinned: ENOMEM at open ($res)" ;;
	*) not_ok "read handles pinning versions past max_pinned: ENOMEM at open" "$res" ;;
	esac
	res=$("$TOOL" hold "$D" 30 3000000)
	case "$res" in
	"held:"[1-9]" next:ENOMEM finish:OK close:OK") ok "unfinished values past max_pending: ENOMEM at write ($res)" ;;
	*) not_ok "unfinished values past max_pending: ENOMEM at write" "$res" ;;
	esac
	check_eq "... the handle refused nothing keeps its stream" "$(stat -c %s "$D/h0")" 3000003
	check "... the daemon lives on" cat "$D/big" >/dev/null
	check "unmount" umount_fs "$M"
else
	not_ok "mount with max_pinned and max_pending"
fi

# ---- 7. a retried write learns the error of its first part ----
if mount_fs "$T/small" "$M" "capacity=256K,max_capacity=256K"; then
	mkdir "$M/e"
	check_eq "a 16 MiB write of a too-big value: EFBIG, also for the retry" \
		"$("$TOOL" bigwrite "$M/e/big" 16777216 complete)" "first:short EFBIG"
	check_eq "a 4 MiB value into a full store: ENOSPC, also for the retry" \
		"$("$TOOL" bigwrite "$M/e/full" 4194304 complete)" "first:short ENOSPC"
	check_eq "invalid JSON still fails with EINVAL" \
		"$("$TOOL" writes "$M/e/bad" append '{"a":' 'x}' '{}')" "OK EINVAL EINVAL close:OK"
	check "unmount" umount_fs "$M"
else
	not_ok "mount a small store"
fi
e2e_finish
