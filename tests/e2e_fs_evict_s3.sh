#!/bin/sh
# e2e_fs_evict_s3.sh - eviction (tests/e2e_fs_evict.sh) against s3rver on
# loopback.
CARAVAN_EVICT_TARGET=s3 exec sh "$(dirname "$0")/e2e_fs_evict.sh" "$@"
