#!/bin/sh
# e2e_cloud_upgrade.sh - a store and a dir: target written by b7b8ede (the
# archive format: each document a CVDO file holding a CVAR archive, no
# store marker) keep working with this build, through real mounts:
#
#  1. reading the old format: an empty store mounted on a copy of the old
#     target shows and restores every document (content, mode, owner),
#     and each document restored from an archive is uploaded back as a
#     readable object (`jq` parses the file, a sidecar beside it);
#  2. migrating: the old store mounted on the old target uploads every
#     document again as a readable object (the same bytes `cat` prints),
#     keeps no conflict copy (the archives are its own), writes the marker
#     of format 2 and says so once in its log: a remount migrates nothing;
#     fsck of the store is clean.
#
# The fixture tests/data/cloud/v1-b7b8ede.tar.gz holds store/ and target/
# as the caravanfs of commit b7b8ede left them: mounted with
# cloud=dir:TARGET,capacity=2M,backup_delay_ms=50; people/ada written
# '{"name":"ada","n":1}' then appended '{"n":2,"tags":["x","y"]}';
# people/list '[1,2,3]'; people/bob '{"name":"bob"}', chmod 640, chown
# 1234:5678; 'sp ace/k ey%é' '{"s":"\u00e9t\u00e9"}'; 'sp ace/' + three
# spaces and 240 'x' (a hashed segment) '{"long":true}'; every document
# uploaded, then unmounted.
. "$(dirname "$0")/e2e/lib.sh"

LC_ALL=C
export LC_ALL
FIXTURE=$(cd "$(dirname "$0")" && pwd)/data/cloud/v1-b7b8ede.tar.gz
LONG="   $(printf '%240s' '' | tr ' ' x)"

for p in jq tar; do
	if ! command -v "$p" >/dev/null 2>&1; then
		not_ok "$p is needed (scripts/deps.sh)"
		e2e_finish
		exit 1
	fi
done
mkdir -p "$T/a" "$T/b"
tar -C "$T/a" -xzf "$FIXTURE" || not_ok "unpack the fixture"
tar -C "$T/b" -xzf "$FIXTURE" || not_ok "unpack the fixture again"
check "the fixture is the old format (a CVDO file, no marker)" sh -c 'head -c 4 "$1/target/people/ada" | grep -q CVDO && ! test -e "$1/target/.caravan"' sh "$T/a"

# readable: the object file parses as JSON and has its sidecar
readable() {
	jq -e . "$1" >/dev/null 2>&1 && test -f "$(dirname "$1")/.caravan-meta.$(basename "$1")"
}

expect_docs() {
	check_eq "$1 people/ada" "$(cat "$2/people/ada")" '{"name":"ada","n":2,"tags":["x","y"]}'
	check_eq "$1 people/list" "$(cat "$2/people/list")" '[1,2,3]'
	check_eq "$1 people/bob" "$(cat "$2/people/bob")" '{"name":"bob"}'
	check_eq "$1 people/bob: mode and owner" "$(stat -c '%a %u:%g' "$2/people/bob")" "640 1234:5678"
	check_eq "$1 'sp ace/k ey%é'" "$(jq -r .s "$2/sp ace/k ey%é")" "été"
	check_eq "$1 the long name" "$(cat "$2/sp ace/$LONG")" '{"long":true}'
}

# 1. an empty store on the old target
A=$T/a/target
mount_fs "$T/empty" "$T/me" "cloud=dir:$A,backup_delay_ms=50" || not_ok "mount an empty store on the old target"
check_eq "[read] the spaces" "$(ls "$T/me" | tr '\n' ' ')" "people sp ace "
check_eq "[read] the documents of people" "$(ls "$T/me/people" | tr '\n' ' ')" "ada bob list "
expect_docs "[read]" "$T/me"
for f in people/ada people/bob people/list "sp%20ace/k%20ey%25%C3%A9"; do
	check "[read] $f is uploaded back, readable" wait_for readable "$A/$f"
done
check "[read] ... the same bytes cat prints" cmp "$A/people/ada" "$T/me/people/ada"
check "[read] clean unmount" umount_fs "$T/me"

# 2. the old store on the old target
B=$T/b/target
mark=$(wc -l <"$T/caravanfs.log")
mount_fs "$T/b/store" "$T/mb" "cloud=dir:$B,backup_delay_ms=50" || not_ok "mount the old store on its target"
expect_docs "[migrate]" "$T/mb"
for f in people/ada people/bob people/list "sp%20ace/k%20ey%25%C3%A9"; do
	check "[migrate] $f becomes readable" wait_for readable "$B/$f"
done
check "[migrate] the hashed name too" wait_for sh -c 'for f in "$1"/sp%20ace/*; do jq -e . "$f" >/dev/null || exit 1; done' sh "$B"
for f in people/ada people/bob people/list; do
	check "[migrate] $f: the bytes cat prints" cmp "$B/$f" "$T/mb/$f"
done
check_eq "[migrate] cat TARGET/people/ada | jq" "$(jq -c .tags "$B/people/ada")" '["x","y"]'
check_eq "[migrate] no conflict copy" "$(ls "$B/people" "$B/sp%20ace" | grep -c caravan-conflict)" 0
check "[migrate] the marker is written" test -f "$B/.caravan/store"
check "[migrate] clean unmount" umount_fs "$T/mb"
mount_fs "$T/b/store" "$T/mb" "cloud=dir:$B,backup_delay_ms=50" || not_ok "remount the old store"
check "[migrate] clean unmount after the remount" umount_fs "$T/mb"
check_eq "[migrate] migrated once (one log line over two mounts)" "$(tail -n +$((mark + 1)) "$T/caravanfs.log" | grep -c 'written by an older build')" 1
check "[migrate] fsck" "$CARAVAN" fsck "$T/b/store"

e2e_finish
