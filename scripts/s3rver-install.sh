#!/bin/sh
# s3rver-install.sh - install the S3-compatible test server (npm package
# s3rver) into tests/s3/node_modules unless it is already there, then make
# sure it carries the one fix below.
#
# s3rver 3.7.1 keeps each object as files under a directory per key
# prefix, and a DELETE removes the prefix's directory when it is left
# empty.  A PUT under that prefix running at the same moment has made the
# directory and is about to open its file: the open fails with ENOENT in an
# 'error' event nobody handles, and the whole server exits (upstream
# jamhall/s3rver issue 788, fix proposed in pull request 789, not
# released).  Our uploader runs up to 8 requests at once, so a delete and
# an upload in one space meet often enough to kill a test run.  S3 has no
# directories; listings build common prefixes from objects only, so empty
# directories left behind change nothing a client sees: the fix is to not
# remove them.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/tests/s3"
[ -x node_modules/.bin/s3rver ] ||
	npm install --no-audit --no-fund --loglevel=error >/dev/null
store=node_modules/s3rver/lib/stores/filesystem.js
if grep -q '^      parts.length &&$' "$store"; then
	sed -i 's/^      parts.length &&$/      false \&\& parts.length \&\& \/\/ caravanfs: keep empty directories (s3rver issue 788)/' "$store"
fi
grep -q 'caravanfs: keep empty directories' "$store" || {
	echo "s3rver-install.sh: cannot apply the empty-directory fix to $store" >&2
	exit 1
}
