#!/bin/sh
# e2e_cloud_history_s3.sh - the point-in-time oracle test
# (tests/e2e_cloud_history.sh) against s3rver on loopback.
CARAVAN_HISTORY_TARGET=s3 exec sh "$(dirname "$0")/e2e_cloud_history.sh" "$@"
