#!/bin/sh
# e2e_cloud_s3fs.sh - the bucket is readable by another filesystem: s3fs
# (s3fs-fuse, the Debian package) mounts the bucket caravanfs backs up to
# on s3rver, and shows each document as a file holding the same bytes
# `cat` prints through caravanfs, with the same mode, owner, size and
# mtime (caravanfs writes the metadata in s3fs's conventions: see
# docs/cloud.md); jq parses it.
. "$(dirname "$0")/e2e/lib.sh"

for p in s3fs jq curl; do
	if ! command -v "$p" >/dev/null 2>&1; then
		not_ok "$p is needed (scripts/deps.sh)"
		e2e_finish
		exit 1
	fi
done
s3_setup
S=$T/s3fs
trap 'fusermount3 -u -z "$S" 2>/dev/null; e2e_cleanup' EXIT
check "s3rver starts" s3_start

M=$T/m
O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
mount_fs "$T/store" "$M" "$O" || not_ok "mount against s3rver"
mkdir "$M/sp" "$M/other"
echo '{"a":1,"text":"h\u00e9llo"}' >"$M/sp/doc"
echo '{"b":[1,2,{"c":null}]}' >>"$M/sp/doc"
printf '{"odd name":true}\n' >"$M/sp/a b%c"
echo '[1,2,3]' >"$M/other/list"
chmod 600 "$M/other/list"
for f in "$M/sp/doc" "$M/sp/a b%c" "$M/other/list"; do
	check "uploaded: ${f#"$M"/}" wait_for uploaded "$f"
done

printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/s3fs.pw"
chmod 600 "$T/s3fs.pw"
mkdir -p "$S"
s3fs caravan:/e2e "$S" -o url="http://127.0.0.1:$PORT" \
	-o use_path_request_style -o passwd_file="$T/s3fs.pw" \
	-o dbglevel=warn 2>>"$T/s3fs.log"
check "s3fs mounts the bucket" wait_for mountpoint -q "$S"

check_eq "s3fs lists the spaces" "$(ls "$S" | tr '\n' '|')" "other|sp|"
# names keep their object-key form: percent-encoded where they need it
check_eq "s3fs lists a space's documents" "$(ls "$S/sp" | tr '\n' '|')" "a%20b%25c|doc|"
for f in sp/doc "sp/a b%c=sp/a%20b%25c" other/list; do
	mf=${f%%=*}
	sf=${f#*=}
	check_eq "s3fs reads $sf as cat prints $mf" \
		"$(od -An -tx1 "$S/$sf")" "$(od -An -tx1 "$M/$mf")"
	check_eq "... same mode, owner, size and mtime" \
		"$(stat -c '%a %u %g %s %Y' "$S/$sf")" \
		"$(stat -c '%a %u %g %s %Y' "$M/$mf")"
	check "... and jq parses it" jq -e . "$S/$sf"
done
check_eq "a document's content through s3fs and jq" \
	"$(jq -c .b "$S/sp/doc")" '[1,2,{"c":null}]'

echo '{"later":1}' >>"$M/sp/doc"
changed() { jq -e '.later == 1' "$S/sp/doc"; }
check "a later change reaches s3fs's view" wait_for changed

check "s3fs unmounts" fusermount3 -u "$S"
check "clean unmount" umount_fs "$M"
e2e_finish
