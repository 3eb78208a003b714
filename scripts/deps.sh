#!/bin/sh
# deps.sh - install what building and testing caravanfs needs on Debian
# bookworm, skipping what is already there.  Sourced by run.sh and test.sh.
# libsystemd-dev: sd_notify (readiness under systemd); systemd:
# systemd-analyze verify; bash-completion, man-db: the completion and
# manual page tests; debhelper, dpkg-dev, fakeroot, lintian: building and
# checking the Debian package (tests/e2e_package.sh); vim, nano,
# emacs-nox, tmux: editors driven for real (tests/e2e_fs_editors.sh).
set -e
CARAVAN_PKGS="build-essential autoconf automake libtool pkg-config \
libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev check libjansson-dev \
rsync attr tar curl jq s3fs openssl util-linux clang clang-format libclang-rt-14-dev valgrind sqlite3 libsqlite3-dev \
libsystemd-dev systemd bash-completion man-db procps \
debhelper dpkg-dev fakeroot lintian libmicrohttpd-dev prometheus \
vim nano emacs-nox tmux"

caravan_missing=""
for p in $CARAVAN_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		caravan_missing="$caravan_missing $p"
done
command -v node >/dev/null 2>&1 || caravan_missing="$caravan_missing nodejs"
command -v npm >/dev/null 2>&1 || caravan_missing="$caravan_missing npm"
if [ -n "$caravan_missing" ]; then
	echo "installing:$caravan_missing"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $caravan_missing >/dev/null
fi
