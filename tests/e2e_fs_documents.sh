#!/bin/sh
# e2e_fs_documents.sh - SPEC 4 (documents) through a real mount: reading
# (materialized compact JSON, st_size, one version per open, number and
# member rules, any value), writing (append and overwrite handles, NDJSON,
# pretty JSON one byte per write, offsets, invalid JSON, incomplete values
# at close, size limits, a full store), truncate, chmod/chown/utimens,
# unlink (also of a document still open), extended attributes and
# durability (fsync, -o sync).
. "$(dirname "$0")/e2e/lib.sh"

S=$T/store
M=$T/mnt
if ! mount_fs "$S" "$M" "commit_ms=600000"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
D=$M/docs
mkdir "$D"

# unchanged NAME FILE WANT: the document still reads WANT
unchanged() {
	check_eq "$1: the document is unchanged" "$(cat "$2")" "$3"
}

# ---- reading ----
printf '{ "a" : 1 ,\n  "b": [1, 2, {"c": "d"}] }\n' >"$D/pretty"
check_eq "a document reads back compact with a newline" "$(cat "$D/pretty")" '{"a":1,"b":[1,2,{"c":"d"}]}'
check_eq "st_size is exactly what a read returns" "$(stat -c %s "$D/pretty")" "$(cat "$D/pretty" | wc -c)"
check_eq "ls -l shows that size" "$(ls -l "$D/pretty" | awk '{print $5}')" 28
echo '{"v":1}' >"$D/snap"
check_eq "an open handle keeps one version while a writer appends" \
	"$("$TOOL" snapread "$D/snap" '{"v":2,"w":3}\n' | tr '\n' ' ')" '{"v":1} {"v":2,"w":3} '
echo '{"id":9007199254740993,"p":0.1,"r":1.5e300,"neg":-9223372036854775808,"f":1.0}' >"$D/num"
check_eq "numbers keep what the writer meant" "$(cat "$D/num")" \
	'{"id":9007199254740993,"p":0.1,"r":1.5e300,"neg":-9223372036854775808,"f":1.0}'
check_eq "an integer outside 64 bits: EINVAL" "$("$TOOL" writes "$D/num" append '{"x":99999999999999999999}\n')" "EINVAL close:OK"
check_eq "a number overflowing a double: EINVAL" "$("$TOOL" writes "$D/num" append '{"x":1e400}\n')" "EINVAL close:OK"
unchanged "refused numbers" "$D/num" '{"id":9007199254740993,"p":0.1,"r":1.5e300,"neg":-9223372036854775808,"f":1.0}'
echo '{"z":1,"a":2,"m":3}' >"$D/order"
echo '{"b":4,"a":5}' >>"$D/order"
check_eq "members keep first-insertion order; a patch adds at the end" "$(cat "$D/order")" '{"z":1,"a":5,"m":3,"b":4}'
echo '{"k":1,"j":2,"k":3}' >"$D/dup"
check_eq "a repeated key: the last one wins" "$(cat "$D/dup")" '{"k":3,"j":2}'
check_eq "invalid UTF-8: EINVAL" "$("$TOOL" writes "$D/dup" append '{"s":"\xff"}\n')" "EINVAL close:OK"
unchanged "invalid UTF-8" "$D/dup" '{"k":3,"j":2}'
echo '{"s":"h\u00e9\u20ac"}' >"$D/utf8"
check_eq "strings are UTF-8" "$(cat "$D/utf8")" "$(printf '{"s":"h\303\251\342\202\254"}')"
for v in '[1,2]' '"text"' 'null' 'true' '42' '-0.5'; do
	echo "$v" >"$D/any"
	check_eq "any value is a document: $v" "$(cat "$D/any")" "$v"
done
echo '{"a":1}' >"$D/replace"
echo '[1]' >>"$D/replace"
check_eq "a patch that is not an object replaces the document" "$(cat "$D/replace")" '[1]'
echo '{"b":1}' >>"$D/replace"
check_eq "an object patch onto a non-object replaces it" "$(cat "$D/replace")" '{"b":1}'
touch "$D/touched"
check_eq "created and closed with nothing written: {}" "$(cat "$D/touched")" '{}'
check_eq "... and 3 bytes long" "$(stat -c %s "$D/touched")" 3

# ---- writing ----
printf '{"a":1}\n{"b":2}\n{"a":null,"c":3}\n' >>"$D/ndjson"
check_eq "NDJSON on an append handle: patches in order" "$(cat "$D/ndjson")" '{"b":2,"c":3}'
printf '{\n  "name": "pretty",\n  "list": [\n    1,\n    2\n  ],\n  "nested": {\n    "k": true\n  }\n}\n{\n  "more": null\n}\n' >"$T/pretty.json"
check_eq "pretty JSON one byte per write (append)" "$("$TOOL" bytewise "$D/bytes" append <"$T/pretty.json")" "writes:OK close:OK"
check_eq "... all of it applied" "$(cat "$D/bytes")" '{"name":"pretty","list":[1,2],"nested":{"k":true}}'
printf '{"x":1}\n{"y":2}' | "$TOOL" bytewise "$D/bytes" trunc >"$T/out"
check_eq "one byte per write on an overwrite handle" "$(cat "$T/out")" "writes:OK close:OK"
check_eq "... first value replaces, later ones patch" "$(cat "$D/bytes")" '{"x":1,"y":2}'
printf '{"x":1,"n":null}\n{"y":2}\n' >"$D/over"
check_eq "> replaces (null members kept), then patches" "$(cat "$D/over")" '{"x":1,"n":null,"y":2}'
printf '{"q":1}' >"$D/over"
check_eq "> onto an existing document replaces it" "$(cat "$D/over")" '{"q":1}'
printf '{"from":"cp",\n "n":[1, 2]}\n' >"$T/src.json"
check "cp into the mount" cp "$T/src.json" "$D/copied"
check_eq "cp gives the canonical document" "$(cat "$D/copied")" '{"from":"cp","n":[1,2]}'
echo '{"old":true}' >"$D/cpover"
check "cp over an existing document" cp "$T/src.json" "$D/cpover"
check_eq "... replaces it" "$(cat "$D/cpover")" '{"from":"cp","n":[1,2]}'
check_eq "printf 5 > doc: a trailing scalar completes at close" "$("$TOOL" writes "$D/scalar" trunc '5')" "OK close:OK"
check_eq "... stored" "$(cat "$D/scalar")" 5
echo '{"s":1}' >"$D/off"
check_eq "overwrite handle: a write past the end of the stream: EINVAL" "$("$TOOL" pwrite "$D/off" 100 '{"a":1}')" "EINVAL close:OK"
unchanged "a bad offset" "$D/off" '{"s":1}'
check_eq "overwrite handle: a write at the end of the stream" "$("$TOOL" pwrite "$D/off" 0 '{"t":2}\n')" "OK close:OK"
check_eq "... replaces" "$(cat "$D/off")" '{"t":2}'
check_eq "append handle: the kernel's offset is ignored" "$("$TOOL" writes "$D/off" append '{"u":3}\n' '{"v":4}\n')" "OK OK close:OK"
check_eq "... every value appended" "$(cat "$D/off")" '{"t":2,"u":3,"v":4}'
echo '{"base":0}' >"$D/bad"
check_eq "invalid JSON: that write fails, later writes fail too" \
	"$("$TOOL" writes "$D/bad" append '{"a":1}\n' '{"b":' 'x}' '{"c":3}\n')" "OK OK EINVAL EINVAL close:OK"
check_eq "... values before it stand, nothing of it stored" "$(cat "$D/bad")" '{"base":0,"a":1}'
check_eq "a write completing one value and breaking the next" \
	"$("$TOOL" writes "$D/bad" append '{"p":1}\n]' '{"q":2}\n')" "EINVAL EINVAL close:OK"
check_eq "... the completed value stands" "$(cat "$D/bad")" '{"base":0,"a":1,"p":1}'
check_eq "an incomplete value at close: close fails with EINVAL" \
	"$("$TOOL" writes "$D/bad" append '{"r":1}\n' '{"s":[1,')" "OK OK close:EINVAL"
check_eq "... nothing of it stored" "$(cat "$D/bad")" '{"base":0,"a":1,"p":1,"r":1}'
printf '{\n "pretty": [1,\n' | "$TOOL" bytewise "$D/bad" append >"$T/out"
check_eq "an incomplete pretty value byte by byte: close EINVAL" "$(cat "$T/out")" "writes:OK close:EINVAL"
unchanged "an incomplete value" "$D/bad" '{"base":0,"a":1,"p":1,"r":1}'
check_eq "not JSON at all: EINVAL" "$("$TOOL" writes "$D/bad" trunc 'hello\n')" "EINVAL close:OK"
check_eq "... the failed overwrite put the version it emptied back" "$(cat "$D/bad")" '{"base":0,"a":1,"p":1,"r":1}'

# ---- truncate ----
echo '{"t":1}' >"$D/trunc"
check "truncate -s 0" truncate -s 0 "$D/trunc"
check_eq "truncate to 0 resets to {}" "$(cat "$D/trunc")" '{}'
echo '{"t":1}' >"$D/trunc"
check_eq "truncate to another size: EINVAL" "$("$TOOL" sys truncate "$D/trunc" 5)" EINVAL
unchanged "truncate to 5" "$D/trunc" '{"t":1}'
: >"$D/trunc"
check_eq ": > doc resets it" "$(cat "$D/trunc")" '{}'
check_eq "write, ftruncate(0), seek(0), write through one handle" \
	"$("$TOOL" truncwrite "$D/trunc" '{"a":1,"b":2}\n' '{"c":null}\n')" "OK OK OK OK close:OK"
check_eq "... the second value replaces the document" "$(cat "$D/trunc")" '{"c":null}'

# ---- attributes ----
echo '{"m":1}' >"$D/meta"
check "chmod" chmod 0600 "$D/meta"
check "chown" chown "$OWNER" "$D/meta"
check "touch -d" touch -m -d '2001-02-03 04:05:06' "$D/meta"
check "chmod of a space" chmod 0700 "$D"
check "chmod of the root" chmod 0751 "$M"
check "chown of the root" chown "$OWNER" "$M"
check "touch -d of the root" touch -m -d '2002-03-04 05:06:07' "$M"
check_eq "the root's mode, owner and mtime show" "$(stat -c '%a %u %g %Y' "$M")" "751 $(echo "$OWNER" | tr : " ") 1015218367"
check_eq "mode, owner and mtime show" "$(stat -c '%a %u %g %Y' "$D/meta")" "600 $(echo "$OWNER" | tr : " ") 981173106"

# ---- extended attributes ----
echo '{"x":1}' >"$D/xa"
echo '{"y":2}' >>"$D/xa"
check_eq "user.caravan.seq" "$(getfattr --absolute-names --only-values -n user.caravan.seq "$D/xa")" 2
check_eq "user.caravan.entries" "$(getfattr --absolute-names --only-values -n user.caravan.entries "$D/xa")" 2
check_eq "user.caravan.stored_bytes" "$(getfattr --absolute-names --only-values -n user.caravan.stored_bytes "$D/xa")" 16
check_eq "user.caravan.backup (cloud=none)" "$(getfattr --absolute-names --only-values -n user.caravan.backup "$D/xa")" off
check_eq "listxattr lists none of them (copy tools skip them)" "$(getfattr --absolute-names -d -m - "$D/xa" | grep -c '^user\.caravan\.')" 0
check_eq "setting one: EPERM" "$(setfattr -n user.caravan.seq -v 5 "$D/xa" 2>&1 | grep -c 'not permitted')" 1
check_eq "setting another: ENOTSUP" "$(setfattr -n user.other -v 5 "$D/xa" 2>&1 | grep -c 'not supported')" 1
check_eq "removing one: EPERM" "$(setfattr -x user.caravan.seq "$D/xa" 2>&1 | grep -c 'not permitted')" 1
check_eq "a missing attribute: ENODATA" "$(getfattr --absolute-names -n user.nothing "$D/xa" 2>&1 | grep -c 'No such attribute')" 1

# ---- durability (commit_ms is 10 minutes here) ----
echo '{"durable":1}' >>"$D/dur"
check_eq "fsync returns OK" "$("$TOOL" sys fsync "$D/dur")" OK
check "after fsync the change is in the log on disk" sh -c '"$1" dump "$2" docs/dur --values | grep -q durable' sh "$CARAVAN" "$S"
echo '{"dirsync":1}' >"$D/dirsync"
check_eq "fsyncdir returns OK" "$("$TOOL" sys fsyncdir "$D")" OK
check "after fsyncdir the directory's new document is in the log on disk" sh -c '"$1" dump "$2" docs/dirsync --values | grep -q dirsync' sh "$CARAVAN" "$S"
echo '{}' >"$D/multi"
"$TOOL" sys fsync "$D/multi" >/dev/null
lsn0=$(awk '$1 == "caravanfs_durable_lsn" { print $2 }' "$M/.caravan-metrics")
check_eq "ten values in one write(2)" "$("$TOOL" writes "$D/multi" append '{"a":1}\n{"b":2}\n{"c":3}\n{"d":4}\n{"e":5}\n{"a":null}\n{"f":[6]}\n{"g":7}\n{"h":8}\n{"i":9}\n')" "OK close:OK"
"$TOOL" sys fsync "$D/multi" >/dev/null
lsn1=$(awk '$1 == "caravanfs_durable_lsn" { print $2 }' "$M/.caravan-metrics")
check_eq "... are one log frame" "$((lsn1 - lsn0))" 1
check_eq "... holding ten patches" "$(getfattr --absolute-names --only-values -n user.caravan.entries "$D/multi")" 11
check_eq "... applied in order" "$(cat "$D/multi")" '{"b":2,"c":3,"d":4,"e":5,"f":[6],"g":7,"h":8,"i":9}'
check "sync(1)" sync

# ---- unlink frees space ----
big=$(printf '%060000d' 0)
echo "{\"big\":\"$big\"}" >"$D/big"
free_before=$(stat -f -c %f "$M")
check "rm" rm "$D/big"
check_eq "the document disappears at once" "$(ls "$D" | grep -c '^big$')" 0
check_eq "open after unlink: ENOENT" "$("$TOOL" writes "$D/big" plain '{}')" "open:ENOENT"
echo '{"open":"while unlinked"}' >"$D/gone"
check_eq "unlinked while open: fstat works (nlink 0), reads return the snapshot, writes fail with ENOENT" \
	"$("$TOOL" unlinked "$D/gone")" "fstat:OK size=26 nlink=0 read=26 write:ENOENT fstat_w:OK close_w:OK close_r:OK"
echo '{"n":1}' >"$D/gone2"
cat "$D/gone2" >/dev/null
check_eq "... also when the reader reads through the page cache" \
	"$("$TOOL" unlinked "$D/gone2")" "fstat:OK size=8 nlink=0 read=8 write:ENOENT fstat_w:OK close_w:OK close_r:OK"
"$TOOL" sys fsyncdir "$D" >/dev/null
check "its space is freed" test "$(stat -f -c %f "$M")" -gt "$free_before"

# ---- remount: everything above persists ----
check "clean unmount" umount_fs "$M"
mount_fs "$S" "$M" "sync,commit_ms=600000" || not_ok "remount with -o sync"
check_eq "attributes persist across a remount" "$(stat -c '%a %u %g %Y' "$D/meta")" "600 $(echo "$OWNER" | tr : " ") 981173106"
check_eq "a space's mode persists" "$(stat -c %a "$D")" 700
check_eq "the root's mode, owner and mtime persist across a remount" "$(stat -c '%a %u %g %Y' "$M")" "751 $(echo "$OWNER" | tr : " ") 1015218367"
check_eq "documents persist" "$(cat "$D/ndjson" "$D/over" | tr '\n' ' ')" '{"b":2,"c":3} {"q":1} '
echo '{"sync":1}' >>"$D/syncdoc"
check "-o sync: a write is on disk when it returns" sh -c '"$1" dump "$2" docs/syncdoc --values | grep -q sync' sh "$CARAVAN" "$S"
check "clean unmount" umount_fs "$M"

# ---- size limits ----
mount_fs "$S" "$M" "max_doc=2K,max_patch=512,close_sync,commit_ms=600000" || not_ok "mount with limits"
echo '{"a":1}' >"$D/lim"
check "-o close_sync: a change is on disk when close returns" sh -c '"$1" dump "$2" docs/lim --values | grep -q "{\"a\":1}"' sh "$CARAVAN" "$S"
p600="{\"p\":\"$(printf '%0600d' 0)\"}\n"
check_eq "a patch over max_patch: EFBIG" "$("$TOOL" writes "$D/lim" append "$p600")" "EFBIG close:OK"
unchanged "a patch too big" "$D/lim" '{"a":1}'
p400="$(printf '%0400d' 0)"
"$TOOL" writes "$D/lim" append "{\"b\":\"$p400\"}\n" "{\"c\":\"$p400\"}\n" "{\"d\":\"$p400\"}\n" "{\"e\":\"$p400\"}\n" >/dev/null
before=$(cat "$D/lim")
p490="$(printf '%0490d' 0)"
check_eq "a patch growing the document over max_doc: EFBIG" "$("$TOOL" writes "$D/lim" append "{\"f\":\"$p490\"}\n")" "EFBIG close:OK"
check_eq "... the document is unchanged" "$(cat "$D/lim")" "$before"
printf '{"big":"%03000d"}\n' 0 >"$T/big.json"
check_fails "cp of a document over max_doc fails" cp "$T/big.json" "$D/lim2"
check "clean unmount" umount_fs "$M"

# ---- a full store ----
mount_fs "$T/small" "$M" "capacity=256K,max_capacity=256K" || not_ok "mount a small store"
mkdir "$M/full"
echo '{"keep":1}' >"$M/full/other"
p8k=$(printf '%08000d' 0)
res=""
i=0
while [ $i -lt 100 ]; do
	i=$((i + 1))
	cat "$M/full/big" >"$T/prev" 2>/dev/null || echo '{}' >"$T/prev"
	res=$("$TOOL" writes "$M/full/big" append "{\"k$i\":\"$p8k\"}\n")
	[ "$res" = "OK close:OK" ] || break
done
check_eq "a full store: ENOSPC" "$res" "ENOSPC close:OK"
check_eq "... the document is unchanged" "$(cat "$M/full/big")" "$(cat "$T/prev")"
check_eq "... other documents still read" "$(cat "$M/full/other")" '{"keep":1}'
check "... rm frees space" rm "$M/full/big"
"$TOOL" sys fsyncdir "$M/full" >/dev/null
check_eq "... and writes work again" "$("$TOOL" writes "$M/full/other" append '{"more":2}\n')" "OK close:OK"
check "clean unmount" umount_fs "$M"
check "fsck of the store that was full" "$CARAVAN" fsck "$T/small"
check "fsck" "$CARAVAN" fsck "$S"

e2e_finish
