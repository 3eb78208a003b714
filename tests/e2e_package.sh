#!/bin/sh
# e2e_package.sh - build the Debian package from the source tree and check
# it with the real tools: dpkg-buildpackage -us -uc -b in a copy of the
# tree, dpkg -c for its contents, lintian (any error fails), and, when run
# as root, a real dpkg -i: caravanfs --version, man caravanfs,
# systemd-analyze verify on the installed unit, the README's fstab line
# mounted with mount -T (type fuse.caravanfs, through mount.fuse3), a
# document written and read, umount, then dpkg -r and dpkg -P.
#
# Run by scripts/test.sh as its own phase (it builds from the source tree,
# not from a build directory, so it is not part of make check).
#   sh tests/e2e_package.sh [SOURCE_TREE]
set -u
top=$(cd "${1:-$(dirname "$0")/..}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/caravan-pkg.XXXXXX")
PASS=0
FAIL=0
INSTALLED=""
MNT=""

ok() {
	PASS=$((PASS + 1))
	echo "ok   - $1"
}
not_ok() {
	FAIL=$((FAIL + 1))
	echo "FAIL - $1"
	if [ $# -gt 1 ]; then echo "$2" | head -30 | sed 's/^/       /'; fi
}
check() {
	name=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$name"; else not_ok "$name" "$(cat "$T/out")"; fi
}
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got [$2] want [$3]"; fi
}
# wait_gone PATTERN: poll (20 s at most) until no process runs PATTERN
wait_gone() {
	i=0
	while pgrep -f "$1" >/dev/null; do
		i=$((i + 1))
		[ $i -lt 400 ] || return 1
		sleep 0.05
	done
}
cleanup() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		umount "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
	if [ -n "$INSTALLED" ]; then dpkg -P caravanfs >/dev/null 2>&1; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

version=$(sed -n 's/^AC_INIT(\[caravanfs\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
check_eq "debian/changelog's version is configure.ac's ($version)" \
	"$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)" "$version"

# ---- build in a copy of the tree (the files git knows, as they are now)
mkdir "$T/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached |
		xargs -0 tar cf - 2>/dev/null) | tar xf - -C "$T/src"
else
	tar cf - -C "$top" --exclude='./build*' --exclude=./run \
		--exclude=node_modules . | tar xf - -C "$T/src"
fi
start=$(date +%s)
if (cd "$T/src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b builds ($(($(date +%s) - start)) s)"
else
	not_ok "dpkg-buildpackage -us -uc -b builds" "$(tail -30 "$T/build.log")"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
arch=$(dpkg --print-architecture)
deb=$T/caravanfs_${version}_$arch.deb
check "the package is caravanfs_${version}_$arch.deb" test -f "$deb"

# ---- contents
dpkg -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/caravanfs /usr/bin/caravan \
	/usr/share/man/man8/caravanfs.8.gz /usr/share/man/man8/caravan.8.gz \
	/usr/share/bash-completion/completions/caravanfs \
	/usr/share/bash-completion/completions/caravan \
	/lib/systemd/system/caravanfs@.service \
	/usr/share/doc/caravanfs/caravanfs.conf.example \
	/usr/share/doc/caravanfs/copyright; do
	check "dpkg -c lists $f" grep -qx "$f" "$T/contents"
done
check "the package depends on fuse3 and libsystemd0" \
	sh -c "dpkg-deb -f '$deb' Depends | grep -q fuse3 &&
		dpkg-deb -f '$deb' Depends | grep -q libsystemd0"
check "the packaged unit runs /usr/bin/caravanfs" \
	sh -c "dpkg-deb --fsys-tarfile '$deb' |
		tar xOf - ./lib/systemd/system/caravanfs@.service |
		grep -q '^ExecStart=/usr/bin/caravanfs -f '"

# ---- lintian: errors fail, every other tag is shown
lintian --fail-on error --display-info --tag-display-limit 0 \
	"$deb" >"$T/lintian.out" 2>&1
rc=$?
check_eq "lintian reports no errors ($(grep -c '^[EWIXP]: ' "$T/lintian.out") tags: $(grep -c '^E: ' "$T/lintian.out") E, $(grep -c '^W: ' "$T/lintian.out") W, $(grep -c '^I: ' "$T/lintian.out") I)" "$rc" 0
grep -v 'root privileges' "$T/lintian.out" | sed 's/^/       lintian: /'

# ---- install, use, remove (root only)
if [ "$(id -u)" != 0 ]; then
	echo "not root: dpkg -i, the mount and dpkg -r were not run"
	echo "$PASS passed, $FAIL failed"
	[ $FAIL -eq 0 ]
	exit
fi
if dpkg -s caravanfs >/dev/null 2>&1; then
	not_ok "caravanfs is not installed before the test" \
		"remove the installed package first (dpkg -r caravanfs)"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
INSTALLED=1
check "dpkg -i installs the package" dpkg -i "$deb"
check_eq "caravanfs --version runs from /usr/bin" \
	"$(PATH=/usr/bin:/bin caravanfs --version | cut -d' ' -f1-2)" \
	"caravanfs $version"
check_eq "caravan --version runs from /usr/bin" \
	"$(PATH=/usr/bin:/bin caravan --version)" "caravan $version"
check "man caravanfs shows the page" \
	sh -c "man -P cat caravanfs 2>/dev/null | grep -q 'crash-safe JSON document store'"
check "man caravan shows the page" \
	sh -c "man -P cat caravan 2>/dev/null | grep -q 'caravan fsck'"
check "systemd-analyze verify accepts the installed caravanfs@.service" \
	sh -c "out=\$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
		caravanfs@pkgtest.service 2>&1) && [ -z \"\$out\" ] ||
		{ echo \"\$out\"; exit 1; }"

# The README's fstab line, with the test's directories.
line=$(grep -E '^ *[^ #]+ +[^ ]+ +fuse\.caravanfs ' "$top/README.md" | head -1)
check "README.md has an fstab line of type fuse.caravanfs" test -n "$line"
STORE=$T/store
MNT=$T/mnt
mkdir "$MNT"
echo "$line" | sed -e "s|^ *[^ ]*|$STORE|" \
	-e "s|^\([^ ]*  *\)[^ ]*|\1$MNT|" >"$T/fstab"
check "mount -T FSTAB MOUNTPOINT mounts the README's line" \
	mount -T "$T/fstab" "$MNT"
check "the mount is live and of type fuse.caravanfs" \
	sh -c "findmnt -n -o FSTYPE '$MNT' | grep -qx fuse.caravanfs"
mkdir "$MNT/s" 2>/dev/null
echo '{"pkg":1}' >"$MNT/s/d" 2>/dev/null
echo '{"n":2}' >>"$MNT/s/d" 2>/dev/null
check_eq "a document written through the packaged mount reads back" \
	"$(cat "$MNT/s/d" 2>&1)" '{"pkg":1,"n":2}'
check "umount unmounts it" umount "$MNT"
check "the daemon exits after umount" wait_gone "caravanfs $STORE "
check "caravan fsck finds the store clean" caravan fsck "$STORE"

check "dpkg -r removes the package" dpkg -r caravanfs
check "the programs are gone" sh -c '! test -e /usr/bin/caravanfs && ! test -e /usr/bin/caravan'
check "dpkg -P purges it" dpkg -P caravanfs
check "dpkg no longer knows caravanfs" sh -c '! dpkg -s caravanfs >/dev/null 2>&1'
INSTALLED=""

echo "$PASS passed, $FAIL failed"
[ $FAIL -eq 0 ]
