#!/bin/sh
# e2e_fs_tools.sh - real tools over the mount: tar of a mount extracted into
# a second fresh mount gives identical content and attributes; rsync -a
# into the mount twice transfers nothing the second time (and exactly the
# changed file after a change); cp -a and mv across filesystems; the
# read-only user.caravan.* attributes are read by name but not listed, so
# cp -a, mv and rsync -aX across filesystems run without a message.
. "$(dirname "$0")/e2e/lib.sh"

A=$T/a
B=$T/b
if ! mount_fs "$T/store-a" "$A" || ! mount_fs "$T/store-b" "$B"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi

# listing DIR: name, size, mode, owner, group, mtime of everything below
listing() {
	(cd "$1" && find . -mindepth 1 -exec stat -c '%n %s %a %u %g %Y' {} + | sort)
}

# ---- populate A ----
mkdir "$A/users" "$A/orders" "$A/empty"
i=0
while [ $i -lt 40 ]; do
	printf '{"id":%d,"name":"user %d","tags":["a","b"],"price":%d.25}\n' $i $i $i >"$A/users/u$i"
	echo "{\"visits\":$i}" >>"$A/users/u$i"
	i=$((i + 1))
done
printf '{"order":1,"lines":[{"sku":"x","n":2}]}\n' >"$A/orders/o1"
printf '[1,2,3]\n' >"$A/orders/list"
printf '"just a string"\n' >"$A/orders/str"
chmod 0600 "$A/orders/o1"
chown "$OWNER" "$A/orders/list"
touch -m -d '2020-01-02 03:04:05' "$A/orders/str"
chmod 0750 "$A/orders"
touch -m -d '2019-05-06 07:08:09' "$A/orders" "$A/empty"

# ---- tar ----
check "tar c of a mount" tar -C "$A" -cf "$T/a.tar" .
check "tar x into a second fresh mount" tar -C "$B" -xf "$T/a.tar"
check "identical content (diff -r)" diff -r "$A" "$B"
listing "$A" >"$T/la"
listing "$B" >"$T/lb"
check "identical sizes, modes, owners and mtimes" cmp "$T/la" "$T/lb"
check_eq "tar t lists every document" "$(tar -tf "$T/a.tar" | grep -c '^\./users/u')" 40

# ---- rsync ----
SRC=$T/src
mkdir -p "$SRC/alpha" "$SRC/beta"
i=0
while [ $i -lt 30 ]; do
	printf '{"n":%d,"s":"row %d"}\n' $i $i >"$SRC/alpha/r$i"
	i=$((i + 1))
done
printf '{"deep":{"x":[1,{"y":null}]}}\n' >"$SRC/beta/doc"
chmod 0640 "$SRC/beta/doc"
check "rsync -a into the mount (spaces at its root)" rsync -a "$SRC/" "$B/"
check "the copy is identical" sh -c 'diff -r "$1/alpha" "$2/alpha" && diff -r "$1/beta" "$2/beta"' sh "$SRC" "$B"
rsync -a --stats "$SRC/" "$B/" >"$T/rs2" 2>&1
check_eq "a second rsync -a transfers nothing" \
	"$(grep 'Number of regular files transferred' "$T/rs2" | awk -F: '{gsub(/ /, "", $2); print $2}')" 0
check_eq "... and itemizes no change" "$(rsync -a -i "$SRC/" "$B/" | wc -l)" 0
printf '{"n":5,"s":"changed"}\n' >"$SRC/alpha/r5"
touch -m -d '2021-01-01 00:00:00' "$SRC/alpha/r5"
rsync -a --stats "$SRC/" "$B/" >"$T/rs3" 2>&1
check_eq "after one change rsync transfers exactly that file" \
	"$(grep 'Number of regular files transferred' "$T/rs3" | awk -F: '{gsub(/ /, "", $2); print $2}')" 1
check_eq "... the document changed" "$(cat "$B/alpha/r5")" '{"n":5,"s":"changed"}'
check "rsync out of the mount" rsync -a "$B/alpha" "$B/beta" "$T/back/"
check "... gives the same tree back" diff -r "$SRC" "$T/back"

# ---- cp -a, mv ----
mkdir "$A/copy"
check "cp -a of documents into the mount" cp -a "$SRC/alpha/." "$A/copy/"
check "... identical" diff -r "$SRC/alpha" "$A/copy"
check_eq "... mtimes kept" "$(stat -c %Y "$A/copy/r5")" "$(stat -c %Y "$SRC/alpha/r5")"
printf '{"moved":true}\n' >"$T/moveme"
check "mv from another filesystem into the mount" mv "$T/moveme" "$A/copy/moved"
check_eq "... arrives" "$(cat "$A/copy/moved")" '{"moved":true}'
check "mv out of the mount" mv "$A/copy/moved" "$T/moved-out"
check_eq "... leaves" "$(ls "$A/copy" | grep -c moved)" 0
check_eq "... and arrives" "$(cat "$T/moved-out")" '{"moved":true}'

# ---- extended attributes: read by name, never listed, never copied ----
check_eq "getfattr -n user.caravan.seq reads the attribute" \
	"$(getfattr --absolute-names --only-values -n user.caravan.seq "$A/users/u1")" 2
check_eq "getfattr -d -m - lists no user.caravan attribute" \
	"$(getfattr --absolute-names -d -m - "$A/users/u1" 2>&1 | grep -c caravan)" 0
# quiet COMMAND...: succeeds and prints nothing at all (copy tools print
# "setting attribute ... Operation not permitted" when they try to copy
# read-only attributes)
quiet() {
	"$@" >"$T/quiet" 2>&1 || { cat "$T/quiet"; echo "status $?"; return 1; }
	if [ -s "$T/quiet" ]; then cat "$T/quiet"; return 1; fi
	return 0
}
mkdir -p "$T/ext"
check "cp -a of a space from the mount to another filesystem: no message" \
	quiet cp -a "$A/users" "$T/ext/users"
check_eq "... the copies carry no user.caravan attribute" \
	"$(getfattr -R --absolute-names -d -m - "$T/ext/users" 2>&1 | grep -c caravan)" 0
check_eq "... and the content" "$(cat "$T/ext/users/u3")" '{"id":3,"name":"user 3","tags":["a","b"],"price":3.25,"visits":3}'
check "mv of a space from mount to mount (across filesystems): no message" \
	quiet mv "$A/orders" "$B/orders-moved"
check_eq "... it arrives" "$(cat "$B/orders-moved/list")" '[1,2,3]'
check_fails "... and leaves" test -e "$A/orders"
check "mv of a document from mount to mount: no message" \
	quiet mv "$B/orders-moved/o1" "$A/users/o1"
check "rsync -aX from mount to mount: status 0, no message" \
	quiet rsync -aX "$A/users/" "$B/users-x/"
check_eq "... with the content" "$(cat "$B/users-x/u7")" "$(cat "$A/users/u7")"
check "rsync -aX from the mount to another filesystem: no message" \
	quiet rsync -aX "$A/users/" "$T/ext/users-x/"
check "rsync -aX back into the mount: no message" \
	quiet rsync -aX "$T/ext/users-x/" "$B/users-back/"
check "mv from another filesystem into the mount: no message" \
	quiet mv "$T/ext/users" "$B/users-moved"

check "clean unmount of A" umount_fs "$A"
check "clean unmount of B" umount_fs "$B"
check "fsck A" "$CARAVAN" fsck "$T/store-a"
check "fsck B" "$CARAVAN" fsck "$T/store-b"

e2e_finish
