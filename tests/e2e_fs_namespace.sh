#!/bin/sh
# e2e_fs_namespace.sh - SPEC 3 (namespace) and SPEC 7 (the program) through a
# real mount: spaces and keys, name rules, rmdir, stable inode numbers,
# rename (over a target, RENAME_NOREPLACE, RENAME_EXCHANGE), links, readdir
# under concurrent change, statfs, metrics, remount, the lock, options,
# daemon mode and SIGTERM, mount(8), and the caravan admin command.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
if ! mount_fs "$S" "$M" "capacity=32M,allow_other,default_permissions"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
ok "mount a new store (STORE_DIR created)"

# ---- spaces and keys ----
check_eq "a new store lists nothing" "$(ls -A "$M")" ""
check "mkdir a space" mkdir "$M/notes"
check "mkdir a second space" mkdir "$M/other"
check_eq "the root lists spaces" "$(ls "$M" | tr '\n' ' ')" "notes other "
check_eq "a space is a directory" "$(stat -c %F "$M/notes")" "directory"
check_eq "mkdir of an existing space: EEXIST" "$("$TOOL" sys mkdir "$M/notes")" EEXIST
check_eq "mkdir inside a space: EPERM" "$("$TOOL" sys mkdir "$M/notes/deeper")" EPERM
check_eq "a file at the root: EPERM" "$("$TOOL" sys creat "$M/file")" EPERM
echo '{"a":1}' >"$M/notes/doc1"
check_eq "a space lists its keys" "$(ls "$M/notes")" "doc1"
check_eq "a document is a regular file" "$(stat -c %F "$M/notes/doc1")" "regular file"
check_eq "the root is inode 1" "$(stat -c %i "$M")" 1

# ---- names ----
n255=$(printf '%0255d' 0)
check_eq "a 255-byte name" "$("$TOOL" sys creat "$M/notes/$n255")" OK
check_eq "a 256-byte key: ENAMETOOLONG" "$("$TOOL" sys creat "$M/notes/${n255}1")" ENAMETOOLONG
check_eq "a 256-byte space: ENAMETOOLONG" "$("$TOOL" sys mkdir "$M/${n255}1")" ENAMETOOLONG
check_eq "a .caravan key is reserved" "$("$TOOL" sys creat "$M/notes/.caravan-x")" EINVAL
check_eq "a .caravan space is reserved" "$("$TOOL" sys mkdir "$M/.caravan")" EINVAL
odd=$(printf 'a b\tc\303\247\nz\001')
check "any byte but / and NUL in a key" sh -c 'echo "{}" >"$1"' sh "$M/notes/$odd"
check_eq "the odd key reads back" "$(cat "$M/notes/$odd")" "{}"
check "a space named with odd bytes" mkdir "$M/$odd"
check_eq "dotfiles are ordinary names" "$("$TOOL" sys creat "$M/notes/.hidden")" OK
rm -f "$M/notes/$n255" "$M/notes/.hidden" "$M/notes/$odd"
rmdir "$M/$odd"

# ---- rmdir, unlink ----
check_eq "rmdir of a non-empty space: ENOTEMPTY" "$("$TOOL" sys rmdir "$M/notes")" ENOTEMPTY
check_eq "rmdir of an empty space" "$("$TOOL" sys rmdir "$M/other")" OK
check_eq "rmdir of a document: ENOTDIR" "$("$TOOL" sys rmdir "$M/notes/doc1")" ENOTDIR
check_eq "unlink of a space: EISDIR" "$("$TOOL" sys unlink "$M/notes")" EISDIR
check_eq "unlink of a missing key: ENOENT" "$("$TOOL" sys unlink "$M/notes/nope")" ENOENT
mkdir "$M/empty"

# ---- rename ----
ino1=$(stat -c %i "$M/notes/doc1")
space_ino=$(stat -c %i "$M/notes")
echo '{"b":2}' >"$M/notes/doc2"
ino2=$(stat -c %i "$M/notes/doc2")
mkdir "$M/archive"
check_eq "rename within a space" "$("$TOOL" sys rename "$M/notes/doc2" "$M/notes/doc3")" OK
check_eq "rename keeps the inode" "$(stat -c %i "$M/notes/doc3")" "$ino2"
check_eq "rename across spaces" "$("$TOOL" sys rename "$M/notes/doc3" "$M/archive/doc3")" OK
check_eq "the content follows" "$(cat "$M/archive/doc3")" '{"b":2}'
check_eq "the old name is gone" "$(ls "$M/notes")" doc1
echo '{"t":1}' >"$M/archive/target"
check_eq "rename over a target" "$("$TOOL" sys rename "$M/archive/doc3" "$M/archive/target")" OK
check_eq "the target now holds the source" "$(cat "$M/archive/target")" '{"b":2}'
check_eq "the target has the source's inode" "$(stat -c %i "$M/archive/target")" "$ino2"
check_eq "only the target name is left" "$(ls "$M/archive")" target
echo '{"c":3}' >"$M/archive/other"
check_eq "RENAME_NOREPLACE over a target: EEXIST" \
	"$("$TOOL" sys rename_noreplace "$M/archive/other" "$M/archive/target")" EEXIST
check_eq "... both unchanged" "$(cat "$M/archive/other" "$M/archive/target" | tr '\n' ' ')" '{"c":3} {"b":2} '
check_eq "RENAME_NOREPLACE to a free name" \
	"$("$TOOL" sys rename_noreplace "$M/archive/other" "$M/archive/fresh")" OK
check_eq "RENAME_EXCHANGE: EINVAL" \
	"$("$TOOL" sys rename_exchange "$M/archive/fresh" "$M/archive/target")" EINVAL
check_eq "rename to the root: EPERM" "$("$TOOL" sys rename "$M/archive/fresh" "$M/fresh")" EPERM
check "mv over a target" mv "$M/archive/fresh" "$M/archive/target"
check_eq "mv replaced the target" "$(cat "$M/archive/target")" '{"c":3}'
check_eq "rename of a space is one rename(2)" "$("$TOOL" sys rename "$M/empty" "$M/empty2")" OK
check_eq "the space moved" "$(ls "$M" | tr '\n' ' ')" "archive empty2 notes "
# a space with documents, renamed in place: same inode, same documents
mkdir "$M/sp"
for d in a b c; do echo "{\"d\":\"$d\"}" >"$M/sp/$d"; done
ino_sp=$(stat -c %i "$M/sp")
ino_a=$(stat -c %i "$M/sp/a")
check "mv of a space with documents" mv "$M/sp" "$M/sp2"
check_eq "... keeps its inode number" "$(stat -c %i "$M/sp2")" "$ino_sp"
check_eq "... and its documents' (and their content)" \
	"$(stat -c %i "$M/sp2/a") $(cat "$M/sp2/a" "$M/sp2/c" | tr '\n' ' ')" \
	"$ino_a {\"d\":\"a\"} {\"d\":\"c\"} "
check_fails "... the old name is gone" test -e "$M/sp"
check_eq "... and no copy was made (still 3 documents)" "$(ls "$M/sp2" | tr '\n' ' ')" "a b c "
mkdir "$M/full"
echo '{}' >"$M/full/x"
check_eq "rename of a space over a non-empty space: ENOTEMPTY" \
	"$("$TOOL" sys rename "$M/sp2" "$M/full")" ENOTEMPTY
mkdir "$M/hollow"
check_eq "RENAME_NOREPLACE over an empty space: EEXIST" \
	"$("$TOOL" sys rename_noreplace "$M/sp2" "$M/hollow")" EEXIST
check_eq "rename of a space over an empty space replaces it" \
	"$("$TOOL" sys rename "$M/sp2" "$M/hollow")" OK
check_eq "... with the documents" "$(ls "$M/hollow" | tr '\n' ' ')" "a b c "
check_eq "rename of a space into a space: EPERM" \
	"$("$TOOL" sys rename "$M/hollow" "$M/full/hollow")" EPERM
check_eq "rename of a space to a reserved name: EINVAL" \
	"$("$TOOL" sys rename "$M/hollow" "$M/.caravan-x")" EINVAL
check_eq "rename of a space onto itself changes nothing" \
	"$("$TOOL" sys rename "$M/hollow" "$M/hollow")" OK
check "the renamed space is writable" sh -c "echo '{\"e\":1}' >>'$M/hollow/a'"
check_eq "... under its new name" "$(cat "$M/hollow/a")" '{"d":"a","e":1}'
check_eq "link: EPERM" "$("$TOOL" sys link "$M/notes/doc1" "$M/notes/hard")" EPERM
check_eq "symlink: EPERM" "$("$TOOL" sys symlink doc1 "$M/notes/soft")" EPERM

# ---- readdir while documents come and go ----
mkdir "$M/churn"
check "readdir returns each name once under concurrent change" "$TOOL" listrace "$M/churn" 40

# ---- statfs, metrics ----
check_eq "statfs shows the capacity" "$(stat -f -c '%S %b' "$M")" "4096 8192"
check_eq "statfs name length" "$(stat -f -c %l "$M")" 255
check "df works" df "$M"
check_eq "the metrics file is not listed" "$(ls -a "$M" | grep -c caravan)" 0
check "metrics in Prometheus text" grep -q '^# TYPE caravanfs_appends_total counter' "$M/.caravan-metrics"
check "metrics count appends" grep -q '^caravanfs_appends_total [0-9]' "$M/.caravan-metrics"
check "metrics show free bytes" grep -q '^caravanfs_bytes_free [0-9]' "$M/.caravan-metrics"
check "metrics show fsync latency" grep -q '^caravanfs_fsync_seconds_bucket{le="+Inf"}' "$M/.caravan-metrics"
check "metrics show the upload queue" grep -q '^caravanfs_upload_queue ' "$M/.caravan-metrics"
check_eq "the metrics file is read-only" "$("$TOOL" writes "$M/.caravan-metrics" append '{}')" "open:EACCES"

# ---- remount ----
check "clean unmount" umount_fs "$M"
check "fsck after a clean unmount" "$CARAVAN" fsck "$S"
mount_fs "$S" "$M" "metrics_file=$T/metrics.prom,metrics_ms=100" || not_ok "remount"
check_eq "spaces persist" "$(ls "$M" | tr '\n' ' ')" "archive churn empty2 full hollow notes "
check_eq "a renamed space persists with its documents" "$(ls "$M/hollow" | tr '\n' ' ')" "a b c "
check_eq "documents persist" "$(cat "$M/notes/doc1")" '{"a":1}'
check_eq "a document's inode survives a remount" "$(stat -c %i "$M/notes/doc1")" "$ino1"
check_eq "a space's inode survives a remount" "$(stat -c %i "$M/notes")" "$space_ino"
check "metrics_file is written" wait_for grep -q '^caravanfs_documents ' "$T/metrics.prom"

# ---- one owner at a time ----
mkdir -p "$T/mnt2"
"$CARAVANFS" -f -o cloud=none "$S" "$T/mnt2" >"$T/second.out" 2>&1
check "a second mount of the store is refused" test $? -ne 0
check "... with a message" grep -qiE 'lock|busy|pid' "$T/second.out"
check "clean unmount again" umount_fs "$M"

# ---- options ----
"$CARAVANFS" --help >"$T/help" 2>&1
for o in capacity= sync commit_ms= cloud= s3_endpoint= s3_region= s3_path_style \
	backup_delay_ms= allow_other default_permissions cache= max_doc= max_patch= \
	compact_entries= compact_ratio= compact_min= cutover= entry_timeout= \
	close_sync metrics_file= metrics_ms= max_threads= attr_timeout= direct_io \
	max_pinned= max_pending= ro; do
	grep -q -- "-o $o" "$T/help" || not_ok "--help lists $o"
done
check "--help gives defaults" grep -q 'default 64M' "$T/help"
check "--version" sh -c '"$1" --version | grep -q "^caravanfs [0-9]"' sh "$CARAVANFS"
check_fails "a bad size is refused" "$CARAVANFS" -f -o capacity=lots "$S" "$M"
check_fails "a bad cloud target is refused" "$CARAVANFS" -f -o cloud=ftp://x "$S" "$M"
check_fails "an unknown option is refused" "$CARAVANFS" -f -o no_such_option "$S" "$M"
check_fails "a missing mount point is refused" "$CARAVANFS" -f "$S"

# ---- daemon mode, SIGTERM ----
check "daemon mode returns once mounted" "$CARAVANFS" -o cloud=none "$S" "$M"
check "... and the mount is live" mountpoint -q "$M"
check_eq "... serving the store" "$(cat "$M/notes/doc1")" '{"a":1}'
dpid=$(daemon_pid "$M")
if [ -n "$dpid" ]; then
	kill -TERM "$dpid"
	check "SIGTERM unmounts" wait_for sh -c '! mountpoint -q "$1"' sh "$M"
	check "SIGTERM ends the daemon" wait_for sh -c '! kill -0 "$1"' sh "$dpid"
else
	not_ok "find the daemon"
fi
check "fsck after SIGTERM" "$CARAVAN" fsck "$S"

# ---- mount(8) and /etc/fstab ----
# fstab: PROGRAM#STORE_DIR MOUNTPOINT fuse OPTIONS (mount.fuse3 runs the
# program with "STORE_DIR MOUNTPOINT -o OPTIONS", without -f)
if [ "$(id -u)" = 0 ]; then
	mount -t fuse "$CARAVANFS#$S" "$M" -o cloud=none,defaults,noatime,nofail,_netdev >"$T/mount.out" 2>&1
	check "mount -t fuse PROGRAM#STORE (the fstab convention)" mountpoint -q "$M"
	check_eq "... serving the store" "$(cat "$M/notes/doc1" 2>/dev/null)" '{"a":1}'
	mpid=$(daemon_pid "$M")
	check "umount(8)" umount "$M"
	if [ -n "$mpid" ]; then
		check "... ends the daemon" wait_for sh -c '! kill -0 "$1"' sh "$mpid"
	fi
fi

# ---- the caravan command ----
"$CARAVAN" dump "$S" notes/doc1 >"$T/dump" 2>&1
check "caravan dump: one line per entry (seq kind bytes)" grep -qE '^[0-9]+ [PRS] [0-9]+$' "$T/dump"
check "caravan dump --values" sh -c '"$1" dump "$2" notes/doc1 --values | grep -q "{\"a\":1}"' sh "$CARAVAN" "$S"
check_fails "caravan dump of a missing key fails" "$CARAVAN" dump "$S" notes/missing
check "caravan stats" sh -c '"$1" stats "$2" | grep -q "^documents"' sh "$CARAVAN" "$S"
check "caravan stats --json" sh -c '"$1" stats "$2" --json | grep -q "\"documents\":"' sh "$CARAVAN" "$S"
check "caravan fsck" "$CARAVAN" fsck "$S"
check_fails "caravan with an unknown command fails" "$CARAVAN" frobnicate "$S"

# status STDERR_LINES COMMAND...: "exit status, lines on stderr, whether
# each names the program"
status() {
	"$@" >"$T/st.out" 2>"$T/st.err"
	st_rc=$?
	st_named=yes
	grep -qv '^caravan: ' "$T/st.err" && st_named=no
	echo "$st_rc $(wc -l <"$T/st.err") $st_named"
}
check_eq "caravan: an unknown command: status 2, one error line" \
	"$(status "$CARAVAN" frobnicate "$S")" "2 1 yes"
check_eq "caravan: no command: status 2, one error line" "$(status "$CARAVAN")" "2 1 yes"
check_eq "caravan stats: an unknown option: status 2, one error line" \
	"$(status "$CARAVAN" stats --frob "$S")" "2 1 yes"
check_eq "caravan stats: a missing operand: status 2, one error line" \
	"$(status "$CARAVAN" stats)" "2 1 yes"
check_eq "caravan dump: a bad SPACE/KEY: status 2, one error line" \
	"$(status "$CARAVAN" dump "$S" nokey)" "2 1 yes"
check_eq "caravan dump: a missing document: status 1, one error line" \
	"$(status "$CARAVAN" dump "$S" notes/missing)" "1 1 yes"
check_eq "caravan stats: no store there: status 2, one error line" \
	"$(status "$CARAVAN" stats "$T/nowhere")" "2 1 yes"
check_eq "caravan restore without --cloud: status 2, one error line" \
	"$(status "$CARAVAN" restore "$T/nowhere")" "2 1 yes"
check_eq "options stand anywhere: stats --json DIR is stats DIR --json" \
	"$("$CARAVAN" stats --json "$S")" "$("$CARAVAN" stats "$S" --json)"
check_eq "... and dump --values DIR SPACE/KEY is dump DIR SPACE/KEY --values" \
	"$("$CARAVAN" dump --values "$S" notes/doc1)" "$("$CARAVAN" dump "$S" notes/doc1 --values)"
check_eq "... -- ends the options" "$(status "$CARAVAN" stats -- --json)" "2 1 yes"
for sub in fsck dump stats backup restore; do
	check_eq "caravan $sub --help: status 0, its usage on stdout" \
		"$("$CARAVAN" $sub --help 2>&1 | head -1 | cut -d' ' -f1-3) $?" "usage: caravan $sub 0"
	check "... and its exit statuses" sh -c '"$1" "$2" -h | grep -q "^Exit status: 0 done, 1 .*, 2 "' sh "$CARAVAN" $sub
done
check "caravan --help lists the exit statuses" sh -c '"$1" --help | grep -q "^Exit status: 0"' sh "$CARAVAN"
check_eq "caravan fsck prints its verdict once" "$("$CARAVAN" fsck "$S" | grep -c clean)" 1
# a mounted store: what the mount acknowledged a moment ago is seen
# (commit_ms=60000: the background committer would not have written it)
mount_fs "$T/live" "$T/live-mnt" commit_ms=60000
mkdir "$T/live-mnt/s" && echo '{"fresh":1}' >"$T/live-mnt/s/d"
check_eq "caravan dump of a mounted store sees a change made just before" \
	"$("$CARAVAN" dump "$T/live" s/d --values 2>&1)" '1 R 12 {"fresh":1}'
echo '{"more":2}' >>"$T/live-mnt/s/d"
check_eq "caravan stats of a mounted store counts it" \
	"$("$CARAVAN" stats "$T/live" --json | sed 's/.*"entries":\([0-9]*\).*/\1/')" 2
check "caravan fsck of the mounted store" "$CARAVAN" fsck "$T/live"
umount_fs "$T/live-mnt"

e2e_finish
