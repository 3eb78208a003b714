#!/bin/sh
# s3rver-install.sh - install the S3-compatible test server (npm package
# s3rver) into tests/s3/node_modules unless it is already there.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/tests/s3"
[ -x node_modules/.bin/s3rver ] && exit 0
npm install --no-audit --no-fund --loglevel=error >/dev/null
