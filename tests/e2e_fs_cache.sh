#!/bin/sh
# e2e_fs_cache.sh - SPEC 4 under kernel caching (page cache for read-only
# opens, cached attributes and names, readdirplus): a descriptor opened
# before a change keeps its version (and fstat on it that version's size,
# nlink 0 once the document is gone) whatever the change (append, O_TRUNC
# rewrite, truncate, rename over, unlink); an open
# after a change reads the new version and stat gives its size at once;
# ls -l after a change shows the new size; readers and writers racing never
# see a torn document, a descriptor never changes version, and stat never
# shows a size older than the last acknowledged change.  The same with
# -o direct_io.
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
if ! mount_fs "$S" "$M"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi

# versions NAME HOW DATA AFTER: a reader opened on {"v":1} (read once
# before, so its pages may be cached) keeps it across change HOW; a new
# open then reads AFTER (or fails: AFTER is "new:ENOENT")
versions() {
	echo '{"v":1}' >"$D/$1"
	cat "$D/$1" >/dev/null
	"$TOOL" cacheread "$D/$1" "$2" "$3" >"$T/cr"
	check_eq "$2: a reader opened before the change keeps its version" \
		"$(sed -n 1p "$T/cr")" 'old={"v":1}'
	nlink=1
	case $2 in unlink | renameover) nlink=0 ;; esac
	if [ -z "$DIRECT" ]; then
		check_eq "$2: fstat on it gives that version's size, before and after" \
			"$(sed -n 2p "$T/cr")" "old_len=8 fstat_before=8 fstat_after=8 nlink=$nlink"
	else
		check_eq "$2: fstat on it works (nlink $nlink)" \
			"$(sed -n 2p "$T/cr" | sed 's/fstat_after=[0-9]*/fstat_after=N/')" \
			"old_len=8 fstat_before=8 fstat_after=N nlink=$nlink"
	fi
	if [ "$4" = new:ENOENT ]; then
		check_eq "$2: the name is gone" "$(sed -n 3p "$T/cr")" new:ENOENT
		return
	fi
	check_eq "$2: an open after the change reads the new version" \
		"$(sed -n 3p "$T/cr")" "new=$4"
	len=$(printf '%s\n' "$4" | wc -c)
	check_eq "$2: stat right after the change gives its size" \
		"$(sed -n 4p "$T/cr")" "new_len=$len stat=$len"
}

# all_versions LABEL: every kind of change
all_versions() {
	D=$M/$1
	mkdir "$D"
	versions a append '{"w":2}\n' '{"v":1,"w":2}'
	versions b trunc '{"x":3}\n' '{"x":3}'
	versions c truncate '' '{}'
	versions d renameover '{"y":[1,2]}\n' '{"y":[1,2]}'
	versions e unlink '' new:ENOENT
}

DIRECT=
all_versions v

# ---- stat, ls -l and read agree right after every change ----
D=$M/s
mkdir "$D"
echo '{}' >"$D/doc"
exec 3<"$D/doc" # a reader holding the old version all along
bad=0
i=1
while [ $i -le 60 ]; do
	pad=$(head -c $((i * 37 % 200)) /dev/zero | tr '\0' x)
	if [ $((i % 3)) = 0 ]; then
		printf '{"p":"%s","i":%d}\n' "$pad" $i >"$D/doc"
	else
		printf '{"p":"%s","i":%d}\n' "$pad" $i >>"$D/doc"
	fi
	size=$(stat -c %s "$D/doc")
	lsize=$(ls -l "$D" | awk '$9 == "doc" { print $5 }')
	rlen=$(wc -c <"$D/doc")
	if [ "$size" != "$rlen" ] || [ "$lsize" != "$rlen" ]; then
		bad=$((bad + 1))
		echo "       change $i: stat $size, ls -l $lsize, read $rlen"
	fi
	i=$((i + 1))
done
check_eq "60 changes: stat and ls -l equal the read length after each" "$bad" 0
check_eq "the reader opened first still reads the first version" "$(cat <&3)" '{}'
exec 3<&-

# ---- readers and writers racing ----
mkdir "$M/churn"
for pause in 0 500; do
	"$TOOL" cachechurn "$M/churn" 3 $pause >"$T/churn" 2>&1
	check "racing readers and writers (writers resting ${pause} us): no torn, mixed or stale observation" test $? -eq 0
	echo "       $(cat "$T/churn")"
done
check "the page cache served read-only opens" grep -qE '^caravanfs_cached_opens_total [1-9]' "$M/.caravan-metrics"
check "writers met page-cache readers and were sent to a fresh node" grep -qE '^caravanfs_node_retirements_total [1-9]' "$M/.caravan-metrics"
# two documents for the i_size checks below, left alone until then
mkdir "$M/k"
echo '{"v":1}' >"$M/k/trunc"
echo '{"v":1}' >"$M/k/append"
check "clean unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

# ---- the same without the page cache ----
mount_fs "$S" "$M" direct_io || not_ok "mount with -o direct_io"

# ---- the kernel's own i_size stays off nodes whose attributes it caches ----
# A writer's open sets the i_size of the node it opens by itself (0 with
# O_TRUNC, the old size plus the bytes written after a write), and a stat
# that judged that node's attributes valid an instant before the writer
# came reads exactly that i_size (a stat of doc1 saw size 0 during an
# O_TRUNC rewrite in the racing readers below, once in CI).  A descriptor
# opened first holds the node a lookup gave, attributes cached;
# stat --cached=always through it reads the kernel's i_size as such a
# stat would: it must be a size the document had (8), not the kernel's.
# (A first lookup after the mount gives a node with cached attributes;
# read-only opens here are direct_io, so the writer meets no cached
# reader.)
exec 3<"$M/k/trunc"
exec 4>"$M/k/trunc"
trunc_during=$(stat --cached=always -L -c %s /dev/fd/3)
printf '{"x":[1,2,3]}\n' >&4
exec 4>&-
exec 3<&-
check_eq "a stat racing an O_TRUNC rewrite never finds the kernel's size 0" \
	"$trunc_during" 8
exec 3<"$M/k/append"
exec 4>>"$M/k/append"
printf '{"w":2}\n' >&4
append_after=$(stat --cached=always -L -c %s /dev/fd/3)
exec 4>&-
exec 3<&-
check_eq "... nor an append's old size plus the bytes written (16)" \
	"$append_after" 8
check_eq "the documents are the new versions" \
	"$(cat "$M/k/trunc" "$M/k/append")" '{"x":[1,2,3]}
{"v":1,"w":2}'
# a direct_io descriptor reads its version too, but fstat (which the
# kernel answers per inode) shows the document's current size
DIRECT=1
all_versions w
"$TOOL" cachechurn "$M/churn" 2 200 >"$T/churn" 2>&1
check "-o direct_io: racing readers and writers" test $? -eq 0
echo "       $(cat "$T/churn")"
check_eq "-o direct_io: no open uses the page cache" \
	"$(awk '$1 == "caravanfs_cached_opens_total" { print $2 }' "$M/.caravan-metrics")" 0
check "clean unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$S"

e2e_finish
