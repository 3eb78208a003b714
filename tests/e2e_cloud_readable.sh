#!/bin/sh
# e2e_cloud_readable.sh - the cloud copy of a document is readable without
# caravanfs, through real mounts, against s3rver and a dir: target:
#
#  s3:   curl --aws-sigv4 GETs PREFIX/<space>/<key>: the body is exactly
#        what `cat` prints through the mount, jq parses it, Content-Type
#        is application/json, x-amz-meta-seq/-mode/-uid/-gid/-mtime are
#        the document's and x-amz-meta-sha256 is the body's SHA-256;
#  dir:  `cat TARGET/<space>/<key> | jq` is the document, the same bytes;
#        `ls` of a space shows the documents only (the sidecars are
#        hidden files, private);
#  both: an empty store mounted on the target restores the same bytes,
#        mode and owner; a later change reaches the object too.
#
# s3rver comes from $CARAVAN_S3RVER (its bin/s3rver.js) or
# tests/s3/node_modules (scripts/s3rver-install.sh); without node, s3rver,
# curl or jq the test fails.
. "$(dirname "$0")/e2e/lib.sh"

LC_ALL=C
export LC_ALL
CT=$BUILD/tests/cloud_tool

for p in node curl jq sha256sum; do
	if ! command -v "$p" >/dev/null 2>&1; then
		not_ok "$p is needed (scripts/deps.sh)"
		e2e_finish
		exit 1
	fi
done
if [ ! -x "$CT" ]; then
	not_ok "cloud_tool is needed (make check builds it)"
	e2e_finish
	exit 1
fi
s3_setup

# The documents: space, key, and what is written (JSON texts, appended
# as merge patches after the first).
SPACE="sp ace"
KEY1="ada"
KEY2="k ey%é"

uploaded_at() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null |
		grep -q "^uploaded seq=$2 "
}

# seg NAME: the object key segment of a short name, as a URL path
# component ('%' of the encoding escaped again)
seg() {
	"$CT" encode "$1" | sed 's/%/%25/g'
}

# s3_get SPACE KEY OUT: the object through curl, headers to OUT.h (s3rver
# wants x-amz-content-sha256 on every request: an empty body's)
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3_get() {
	curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: $EMPTY_SHA" -D "$3.h" -o "$3" \
		"http://127.0.0.1:$PORT/caravan/readable/$(seg "$1")/$(seg "$2")"
}

# header FILE NAME: a response header's value
header() {
	tr -d '\r' <"$1" | awk -v n="$2" 'BEGIN { n = tolower(n) }
		{ i = index($0, ":"); if (tolower(substr($0, 1, i - 1)) == n) { print substr($0, i + 2); exit } }'
}

suite() {
	P="[$KIND]"
	M=$T/m-$KIND
	R=$T/r-$KIND
	mount_fs "$T/store-$KIND" "$M" "$MOPT,backup_delay_ms=50" || not_ok "$P mount"
	mkdir "$M/$SPACE"
	echo '{"name":"ada","n":1,"tags":["x"]}' >"$M/$SPACE/$KEY1"
	echo '{"n":2,"deep":{"a":[1,2,{"b":null}]}}' >>"$M/$SPACE/$KEY1"
	printf '[1, "\\u00e9t\\u00e9", 2.5e3, true]\n' >"$M/$SPACE/$KEY2"
	chmod 640 "$M/$SPACE/$KEY1"
	chown "$OWNER" "$M/$SPACE/$KEY1"
	check "$P the documents are uploaded" wait_for sh -c 'getfattr --absolute-names --only-values -n user.caravan.backup "$1" | grep -q "^uploaded" && getfattr --absolute-names --only-values -n user.caravan.backup "$2" | grep -q "^uploaded"' sh "$M/$SPACE/$KEY1" "$M/$SPACE/$KEY2"
	seq1=$(getfattr --absolute-names --only-values -n user.caravan.seq "$M/$SPACE/$KEY1")
	check "$P ... the latest change of each (seq $seq1)" wait_for uploaded_at "$M/$SPACE/$KEY1" "$seq1"
	for k in "$KEY1" "$KEY2"; do
		n=$(printf %s "$k" | tr -c 'a-z' _)
		cat "$M/$SPACE/$k" >"$T/cat-$KIND-$n"
		if [ "$KIND" = s3 ]; then
			check "$P curl --aws-sigv4 gets '$k'" s3_get "$SPACE" "$k" "$T/obj-$KIND-$n"
			h=$T/obj-$KIND-$n.h
			check_eq "$P '$k': Content-Type" "$(header "$h" content-type)" "application/json"
			check_eq "$P '$k': x-amz-meta-sha256 is the body's" "$(header "$h" x-amz-meta-sha256)" "$(sha256sum <"$T/obj-$KIND-$n" | cut -d' ' -f1)"
			check_eq "$P '$k': x-amz-meta-seq" "$(header "$h" x-amz-meta-seq)" "$(getfattr --absolute-names --only-values -n user.caravan.seq "$M/$SPACE/$k")"
			check_eq "$P '$k': x-amz-meta-mode (st_mode, decimal)" "$(header "$h" x-amz-meta-mode)" "$(printf %d 0x"$(stat -c %f "$M/$SPACE/$k")")"
			check_eq "$P '$k': x-amz-meta-uid" "$(header "$h" x-amz-meta-uid)" "$(stat -c %u "$M/$SPACE/$k")"
			check_eq "$P '$k': x-amz-meta-gid" "$(header "$h" x-amz-meta-gid)" "$(stat -c %g "$M/$SPACE/$k")"
			check_eq "$P '$k': x-amz-meta-mtime (seconds)" "$(header "$h" x-amz-meta-mtime | cut -d. -f1)" "$(stat -c %Y "$M/$SPACE/$k")"
		else
			cp "$DIRT/$("$CT" encode "$SPACE")/$("$CT" encode "$k")" "$T/obj-$KIND-$n"
		fi
		check "$P '$k': the object is the bytes cat prints" cmp "$T/obj-$KIND-$n" "$T/cat-$KIND-$n"
		check "$P '$k': jq parses the object" jq -e . "$T/obj-$KIND-$n"
	done
	check_eq "$P jq reads a field" "$(jq -c .deep.a "$T/obj-$KIND-ada")" '[1,2,{"b":null}]'
	if [ "$KIND" = dir ]; then
		check_eq "$P cat TARGET/space/key | jq" "$(cat "$DIRT/sp%20ace/ada" | jq -r .name)" ada
		check_eq "$P ls of a space shows the documents only" "$(ls "$DIRT/sp%20ace" | tr '\n' ' ')" "ada k%20ey%25%C3%A9 "
		check_eq "$P ... their sidecars are hidden files" "$(ls -A "$DIRT/sp%20ace" | grep -c '^\.caravan-meta\.')" 2
		check_eq "$P the sidecars are private" "$(stat -c %a "$DIRT/sp%20ace/.caravan-meta.ada")" 600
	fi
	echo '{"n":3}' >>"$M/$SPACE/$KEY1"
	seq1=$(getfattr --absolute-names --only-values -n user.caravan.seq "$M/$SPACE/$KEY1")
	check "$P a later change is uploaded (seq $seq1)" wait_for uploaded_at "$M/$SPACE/$KEY1" "$seq1"
	cat "$M/$SPACE/$KEY1" >"$T/cat-$KIND-ada"
	stat -c '%a %u %g %Y' "$M/$SPACE/$KEY1" >"$T/stat-$KIND"
	if [ "$KIND" = s3 ]; then
		check "$P curl gets the later version" s3_get "$SPACE" "$KEY1" "$T/obj-$KIND-ada"
	else
		cp "$DIRT/sp%20ace/ada" "$T/obj-$KIND-ada"
	fi
	check "$P ... the bytes cat prints" cmp "$T/obj-$KIND-ada" "$T/cat-$KIND-ada"
	check "$P clean unmount" umount_fs "$M"

	# an empty store on the target restores the same document
	mount_fs "$T/store-$KIND-r" "$R" "$MOPT,backup_delay_ms=50" || not_ok "$P mount an empty store"
	check "$P restored: the same bytes" cmp "$R/$SPACE/$KEY1" "$T/cat-$KIND-ada"
	check "$P restored: the other document" cmp "$R/$SPACE/$KEY2" "$T/cat-$KIND-k_ey___"
	check_eq "$P restored: mode, owner, mtime" "$(stat -c '%a %u %g %Y' "$R/$SPACE/$KEY1")" "$(cat "$T/stat-$KIND")"
	check_eq "$P restored: the seq" "$(getfattr --absolute-names --only-values -n user.caravan.backup_seq "$R/$SPACE/$KEY1")" "$seq1"
	check "$P clean unmount of the restored store" umount_fs "$R"
}

check "s3rver starts on 127.0.0.1:$PORT" s3_start
KIND=s3
MOPT="cloud=s3://caravan/readable,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style"
suite
KIND=dir
DIRT=$T/dirtarget
MOPT="cloud=dir:$DIRT"
suite

e2e_finish
