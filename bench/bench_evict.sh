#!/bin/sh
# bench_evict.sh - reading an evicted document back from S3 (issue 17):
# open + read of an evicted 4 KiB document through the mount (the content
# fetched from s3rver on loopback, verified and refilled before the open
# answers) beside a plain signed curl GET of the same object, and beside a
# read of the same document once it is local, all in the same run against
# the same server.
#
#   sh bench/bench_evict.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs.  WORK_DIR (default /var/tmp) gets the
# server's data directory, the store and the mount point, all removed at
# the end.  s3rver must be installed (scripts/s3rver-install.sh;
# CARAVAN_S3RVER may name its bin/s3rver.js).
#
# How: BENCH_DOCS (200) documents of 4 KiB are written into a store
# bounded at 2 MiB (capacity=2M,max_capacity=2M) with evict_low=90, so
# the evictor evicts each once its upload is confirmed (the script waits
# up to 60 s for all); the mount is then restarted (no materialized copy
# left in memory).  Each document still evicted (user.caravan.local 0) is
# timed three ways, one process each (`date +%s%N` around it, so the
# process start is in every figure): `cat` of the evicted document,
# `cat` of it again (now local), and `curl` of its object (a signed GET,
# as the mount's).  curl's own time_total (no process start) is reported
# too.  Figures: p50, p90, p99 and max in milliseconds.
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-evict.$$
js=${CARAVAN_S3RVER:-$src/tests/s3/node_modules/s3rver/bin/s3rver.js}
ndocs=${BENCH_DOCS:-200}
fs="$build/caravanfs"

[ -r "$js" ] || { echo "s3rver not found at '$js'" >&2; exit 1; }
[ -x "$fs" ] || { echo "'$fs' not found: make" >&2; exit 1; }

pid=
fspid=
cleanup() {
	if mountpoint -q "$work/mnt" 2>/dev/null; then
		fusermount3 -u "$work/mnt" 2>/dev/null || true
	fi
	if [ -n "$fspid" ]; then wait "$fspid" 2>/dev/null || true; fi
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/s3" "$work/mnt"

port=$(node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
ep="http://127.0.0.1:$port"
node --openssl-legacy-provider "$js" --directory "$work/s3" \
	--address 127.0.0.1 --port "$port" --silent \
	--configure-bucket bench >"$work/s3rver.log" 2>&1 &
pid=$!
i=0
until curl -s -o /dev/null "$ep/"; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "s3rver did not start" >&2
		exit 1
	fi
	sleep 0.05
done
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE

opts="cloud=s3://bench/ev,s3_endpoint=$ep,s3_region=us-east-1,s3_path_style"
opts="$opts,capacity=2M,max_capacity=2M,evict_low=90,backup_delay_ms=50"

mount_it() {
	"$fs" -f -o "$opts" "$work/store" "$work/mnt" 2>>"$work/caravanfs.log" &
	fspid=$!
	i=0
	until mountpoint -q "$work/mnt"; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$fspid" 2>/dev/null; then
			echo "caravanfs did not mount" >&2
			tail -5 "$work/caravanfs.log" >&2
			exit 1
		fi
		sleep 0.05
	done
}

metric() {
	sed -n "s/^caravanfs_$1 \([0-9]*\)$/\1/p" "$work/mnt/.caravan-metrics"
}

# wait_evicted N: poll until N documents are evicted (60 s at most)
wait_evicted() {
	i=0
	until [ "$(metric docs_evicted)" -ge "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 1200 ]; then
			echo "only $(metric docs_evicted) of $1 evicted" \
				"after 60 s: the others are not timed" >&2
			return
		fi
		sleep 0.05
	done
}

mount_it
mkdir "$work/mnt/sp"
pad=$(printf "%04071d" 0) # {"i":NNNN,"pad":"..."}\n = 4096 bytes
i=1
while [ $i -le "$ndocs" ]; do
	printf '{"i":%d,"pad":"%s"}\n' $((1000 + i)) "$pad" >"$work/mnt/sp/d$i"
	i=$((i + 1))
done
wait_evicted "$ndocs"
fusermount3 -u "$work/mnt"
wait "$fspid"
mount_it

ns() { date +%s%N; }
: >"$work/evicted.ms"
: >"$work/local.ms"
: >"$work/curl.ms"
: >"$work/curl_total.ms"
i=1
timed=0
back=0
while [ $i -le "$ndocs" ]; do
	f="$work/mnt/sp/d$i"
	if [ "$(getfattr --only-values -n user.caravan.local "$f" 2>/dev/null)" != 0 ]; then
		i=$((i + 1))
		continue
	fi
	timed=$((timed + 1))
	t0=$(ns)
	cat "$f" >/dev/null
	t1=$(ns)
	cat "$f" >/dev/null
	t2=$(ns)
	if [ "$(getfattr --only-values -n user.caravan.local "$f" 2>/dev/null)" = 1 ]; then
		back=$((back + 1))
	fi
	tt=$(curl -sS --fail -o /dev/null -w '%{time_total}' \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$ep/bench/ev/sp/d$i")
	t3=$(ns)
	echo "$(((t1 - t0) / 1000))" >>"$work/evicted.ms"
	echo "$(((t2 - t1) / 1000))" >>"$work/local.ms"
	echo "$(((t3 - t2) / 1000))" >>"$work/curl.ms"
	echo "$tt" | awk '{ printf "%d\n", $1 * 1000000 }' >>"$work/curl_total.ms"
	i=$((i + 1))
done

# pct FILE: p50 p90 p99 max of microsecond values, in ms
pct() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		printf "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f", v[int(NR * 0.5) + 1] / 1000,
			v[int(NR * 0.9) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000, v[NR] / 1000 }'
}
echo "caravanfs evict bench: $(date -u +%Y-%m-%dT%H:%MZ), s3rver on loopback," \
	"$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $ndocs documents of 4096 bytes," \
	"$timed of them timed while evicted, $back of those local after the read"
echo "cat of an evicted document (refill + read):  $(pct "$work/evicted.ms")"
echo "cat of the same document, local:             $(pct "$work/local.ms")"
echo "curl GET of its object (process included):   $(pct "$work/curl.ms")"
echo "curl GET, curl's time_total:                 $(pct "$work/curl_total.ms")"
