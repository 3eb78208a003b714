#!/bin/sh
# bench_cloud.sh - the cloud backup against a real S3-compatible server
# (s3rver on a free loopback port, path-style, credentials S3RVER/S3RVER):
# change-to-bucket delay at 1,000 changes/s, upload throughput of the
# current objects (readable JSON with their metadata) beside plain curl
# PUTs of the same bytes, and a full restore of 10,000 documents
# (`caravan restore`) beside parallel curl GETs of the same objects, all
# against the same server in the same run.
#
#   sh bench/bench_cloud.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds bench/bench_cloud (make bench).  WORK_DIR (default
# /var/tmp) gets the server's data directory and the stores, all removed
# at the end.  s3rver must be installed (scripts/s3rver-install.sh puts it
# under tests/s3/node_modules; CARAVAN_S3RVER may name its bin/s3rver.js);
# this script installs nothing.
#
# Settings (environment): BENCH_SECONDS (10) of changes per latency run,
# BENCH_RATE (1000) changes/s, BENCH_DELAYS ("default 100") the
# backup_delay_ms of the latency runs, BENCH_UP_DOCS (2000) and
# BENCH_UP_BYTES (4096) of the upload runs, BENCH_ROUNDS (3) upload
# rounds (the uploader and curl, alternately first); BENCH_RESTORE_DOCS
# (10000) and BENCH_RESTORE_BYTES (1024) of the restore runs,
# BENCH_RESTORE_ROUNDS (3); BENCH_PARTS ("latency upload restore").
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-cloud.$$
b="$build/bench/bench_cloud"
caravan="$build/caravan"
js=${CARAVAN_S3RVER:-$src/tests/s3/node_modules/s3rver/bin/s3rver.js}
bucket=bench
delays=${BENCH_DELAYS:-default 100}
rounds=${BENCH_ROUNDS:-3}
ndocs=${BENCH_UP_DOCS:-2000}
parts=${BENCH_PARTS:-latency upload restore}
rdocs=${BENCH_RESTORE_DOCS:-10000}
rbytes=${BENCH_RESTORE_BYTES:-1024}
rrounds=${BENCH_RESTORE_ROUNDS:-3}
export BENCH_UP_DOCS="$ndocs"

if [ ! -r "$js" ]; then
	echo "s3rver not found at '$js': run scripts/s3rver-install.sh" >&2
	exit 1
fi
for tool in node curl; do
	if ! command -v $tool >/dev/null; then
		echo "'$tool' not found" >&2
		exit 1
	fi
done
[ -x "$b" ] || { echo "'$b' not found: make bench" >&2; exit 1; }
[ -x "$caravan" ] || { echo "'$caravan' not found: make" >&2; exit 1; }

pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/s3"

port=$(node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
ep="http://127.0.0.1:$port"
# s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its
# legacy provider.
node --openssl-legacy-provider "$js" --directory "$work/s3" \
	--address 127.0.0.1 --port "$port" --silent >"$work/s3rver.log" 2>&1 &
pid=$!
i=0
until curl -s -o /dev/null "$ep/"; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "s3rver did not start; its log:" >&2
		cat "$work/s3rver.log" >&2
		exit 1
	fi
	sleep 0.05
done

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
# curl 7.88 signs no payload hash of its own: S3 wants the header.  No
# "Expect: 100-continue" round trip (the uploader sends none either).
s3curl() {
	curl -sS --no-progress-meter --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		-H "Expect:" "$@"
}
s3curl -X PUT "$ep/$bucket" >/dev/null

now() { date +%s.%N; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "caravanfs cloud bench: $(date -u +%Y-%m-%dT%H:%MZ), s3rver" \
	"$(node -p 'require(process.argv[1]).version' \
	"$(dirname "$js")/../package.json") on $ep, curl" \
	"$(curl --version | awk 'NR == 1 { print $2 }'), $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"

case " $parts " in *" latency "*)
	for d in $delays; do
		arg=$d
		[ "$d" = default ] && arg=
		out=$("$b" "$ep" "s3://$bucket/lat-$d" "$work/run" latency $arg)
		echo "$out"
		l=$(echo "$out" | grep '^latency ')
		echo "change-to-bucket delay, backup_delay_ms=$(field "$l" backup_delay_ms)," \
			"$(field "$l" made_per_s) changes/s:" \
			"p50 $(field "$l" p50_ms) ms, p90 $(field "$l" p90_ms) ms," \
			"p99 $(field "$l" p99_ms) ms, max $(field "$l" max_ms) ms"
	done
esac

# The uploader: a fresh store of $ndocs documents uploaded to up-$1/.
run_uploader() {
	out=$("$b" "$ep" "s3://$bucket/up-$1" "$work/run" upload)
	echo "$out"
	u_ops=$(field "$out" objects_per_s)
	u_mbs=$(field "$out" mb_per_s)
	size=$(field "$out" archive_bytes)
	inflight=$(field "$out" in_flight)
}

# The same number of PUTs of an archive of the same size (one the uploader
# wrote) to curl-$1/, as many in flight, then checked by HEADs.
run_curl() {
	awk -v n="$ndocs" -v base="$ep/$bucket/curl-$1/tput" \
		-v f="$work/run/archive.bin" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "url = \"%s/doc%06d\"\nupload-file = \"%s\"\n", base, i, f
	}' >"$work/curl.cfg"
	# the headers the uploader sends with a document
	t0=$(now)
	s3curl --parallel --parallel-max "$inflight" \
		-H "Content-Type: application/json" -H "x-amz-meta-seq: 1" \
		-H "x-amz-meta-mode: 33188" -H "x-amz-meta-uid: 0" \
		-H "x-amz-meta-gid: 0" -H "x-amz-meta-mtime: 1.000000000" \
		-H "x-amz-meta-ctime: 1.000000000" \
		-H "x-amz-meta-sha256: $(sha256sum "$work/run/archive.bin" | cut -d' ' -f1)" \
		-K "$work/curl.cfg" >/dev/null
	t1=$(now)
	"$b" "$ep" "s3://$bucket/curl-$1" "$work/run" verify tput \
		"$ndocs" "$size" >/dev/null
	c=$(awk -v n="$ndocs" -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN {
		printf "%.1f %.2f %.3f", n / (b - a), n * s / (b - a) / 1e6, b - a }')
	c_ops=$(echo "$c" | awk '{ print $1 }')
	c_mbs=$(echo "$c" | awk '{ print $2 }')
	echo "curl objects=$ndocs archive_bytes=$size in_flight=$inflight" \
		"seconds=$(echo "$c" | awk '{ print $3 }')" \
		"objects_per_s=$c_ops mb_per_s=$c_mbs"
}

case " $parts " in *" upload "*)
	# Odd rounds run the uploader first, even rounds curl first (the
	# first round's uploader provides the archive).
	ratios=
	r=1
	while [ $r -le "$rounds" ]; do
		if [ $((r % 2)) -eq 1 ]; then
			run_uploader $r
			run_curl $r
		else
			run_curl $r
			run_uploader $r
		fi
		ratio=$(awk -v a="$u_ops" -v b="$c_ops" 'BEGIN { printf "%.2f", a / b }')
		echo "round $r: uploader $u_ops objects/s ($u_mbs MB/s)," \
			"curl $c_ops objects/s ($c_mbs MB/s), ratio ${ratio}x"
		ratios="$ratios $ratio"
		r=$((r + 1))
	done
	echo "upload throughput / curl PUTs (target 0.8x), by round:$ratios;" \
		"median $(echo $ratios | tr ' ' '\n' | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')x"
esac
# ---- restore ----

# caravan restore of the $rdocs documents of rest/ into a fresh store.
run_restore() {
	rm -rf "$work/rstore"
	t0=$(now)
	"$caravan" restore --cloud "s3://$bucket/rest" --s3-endpoint "$ep" \
		--s3-region us-east-1 --s3-path-style "$work/rstore" \
		>"$work/restore.out" 2>"$work/restore.err"
	t1=$(now)
	got=$(awk '{ print $1 }' "$work/restore.out")
	if [ "$got" != "$rdocs" ]; then
		echo "caravan restore restored '$got' documents, not $rdocs:" >&2
		cat "$work/restore.out" >&2
		tail -n 5 "$work/restore.err" >&2
		exit 1
	fi
	r_ops=$(awk -v n="$rdocs" -v a="$t0" -v b="$t1" 'BEGIN {
		printf "%.1f", n / (b - a) }')
	echo "restore documents=$rdocs seconds=$(awk -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.3f", b - a }') documents_per_s=$r_ops"
}

# GETs of the same objects, $inflight in flight, bodies kept and counted.
run_get() {
	rm -rf "$work/get"
	mkdir -p "$work/get"
	awk -v n="$rdocs" -v base="$ep/$bucket/rest/tput" -v d="$work/get" \
		'BEGIN { for (i = 0; i < n; i++)
			printf "url = \"%s/doc%06d\"\noutput = \"%s/%d\"\n", base, i, d, i
	}' >"$work/get.cfg"
	t0=$(now)
	s3curl --parallel --parallel-max "$inflight" -K "$work/get.cfg"
	t1=$(now)
	n=$(find "$work/get" -type f | wc -l)
	[ "$n" = "$rdocs" ] || { echo "curl got $n objects, not $rdocs" >&2; exit 1; }
	g_ops=$(awk -v n="$rdocs" -v a="$t0" -v b="$t1" 'BEGIN {
		printf "%.1f", n / (b - a) }')
	echo "curl GETs objects=$rdocs in_flight=$inflight seconds=$(awk \
		-v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
		"objects_per_s=$g_ops"
}

case " $parts " in *" restore "*)
	# the objects: the uploader's, readable JSON of rbytes each
	out=$(BENCH_UP_DOCS=$rdocs BENCH_UP_BYTES=$rbytes \
		"$b" "$ep" "s3://$bucket/rest" "$work/run" upload)
	echo "$out"
	inflight=$(field "$out" in_flight)
	ratios=
	r=1
	while [ $r -le "$rrounds" ]; do
		if [ $((r % 2)) -eq 1 ]; then
			run_restore
			run_get
		else
			run_get
			run_restore
		fi
		ratio=$(awk -v a="$r_ops" -v b="$g_ops" 'BEGIN { printf "%.2f", a / b }')
		echo "round $r: caravan restore $r_ops documents/s," \
			"curl GETs $g_ops objects/s, ratio ${ratio}x"
		ratios="$ratios $ratio"
		r=$((r + 1))
	done
	echo "full restore / curl GETs (target 0.8x), by round:$ratios;" \
		"median $(echo $ratios | tr ' ' '\n' | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')x"
esac
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
