#!/bin/sh
# bench_list.sh - what a listing of cloud-only names costs through the
# mount (issue 12, defect 5): `ls -f` of a space of N names held only by
# the target, first (fetched) and again (cached), and the create of a new
# document in a space of N cloud names never listed before, for a dir:
# target and for s3rver, beside `ls -f` of a plain directory of the same
# names in the same run.
#
#   sh bench/bench_list.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs (make) and tests/cloud_tool (make check), which
# times the server's own listing beside the mount's.  WORK_DIR (default /var/tmp) gets the
# directories, the stores and s3rver's data, all removed at the end.
# Settings (environment): BENCH_LIST_SIZES ("10000 100000"), BENCH_PARTS
# ("plain dir s3"), BENCH_REPEAT (3: each dir: measure, and the plain
# ls, that many times), BENCH_S3_OWN_MAX (time s3rver's own listing up to
# this N; all by default: at 100k it takes s3rver over 11 minutes), BENCH_BEFORE (a second build directory, e.g. of
# the previous commit: its caravanfs is measured beside BUILD_DIR's, turn
# about, in the same run).  s3rver as for bench_cloud.sh (CARAVAN_S3RVER).
#
# s3rver takes a PUT in about 3.6 ms here (100k names: 362 s), so the
# s3 part PUTs the first name of a space through s3rver's S3 API and
# makes the others from it in s3rver's own store layout (each object is
# three files: KEY._S3rver_object, .md5, ._S3rver_metadata.json, copies
# of the PUT's), then checks through the S3 API (cloud_tool list)
# that s3rver serves every name before anything is timed (the mount's
# listing counts them again when BENCH_S3_OWN_MAX skips that).
#
# Profiling (not part of the figures): `perf record --call-graph dwarf -p
# PID` on the daemon while `ls -f` runs (perf: apt-get install
# linux-perf), then `perf report --children --stdio -g none`.
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-list.$$
sizes=${BENCH_LIST_SIZES:-10000 100000}
parts=${BENCH_PARTS:-plain dir s3}
repeat=${BENCH_REPEAT:-3}
own_max=${BENCH_S3_OWN_MAX:-1000000000}
before=
[ -z "$BENCH_BEFORE" ] || before=$(cd "$BENCH_BEFORE" && pwd)
js=${CARAVAN_S3RVER:-$src/tests/s3/node_modules/s3rver/bin/s3rver.js}
[ -x "$build/caravanfs" ] || { echo "'$build/caravanfs' not found: make" >&2; exit 1; }

pid=
mpid=
mnt=$work/mnt
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || true; fi
	[ -z "$mpid" ] || wait "$mpid" 2>/dev/null || true
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work" "$mnt"

ms() { echo $(($(date +%s%N) / 1000000)); }
# cpu: the daemon's CPU time so far (user + system), in ms: what a listing
# costs whatever else the machine runs
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$mpid/stat"; }
names() { seq -f "n%06g" 1 "$1"; }

# mount OPTIONS [BUILD]: an empty store on $mnt
mount_it() {
	rm -rf "$work/store"
	"${2:-$build}/caravanfs" -f -o "$1" "$work/store" "$mnt" 2>>"$work/caravanfs.log" &
	mpid=$!
	i=0
	until mountpoint -q "$mnt"; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then echo "mount failed" >&2; tail "$work/caravanfs.log" >&2; exit 1; fi
		sleep 0.05
	done
}
umount_it() {
	fusermount3 -u "$mnt"
	wait "$mpid" || true
	mpid=
}

# measure KIND N OPTIONS [BUILD]: ls the root (the spaces: a lookup of a
# space answers from that listing, where one of its own, on the quick
# target, would time out against s3rver at 100k), create in the space
# "big" of N cloud names whose keys were never listed, then ls it twice
# (first: fetched; then cached)
measure() {
	mount_it "$3" "$4"
	t0=$(ms)
	ls -f "$mnt" >/dev/null
	troot=$(($(ms) - t0))
	t0=$(ms)
	echo '{}' >"$mnt/big/new"
	t1=$(ms)
	c1=$(cpu)
	got=$(ls -f "$mnt/big" | grep -vc '^\.')
	t2=$(ms)
	c2=$(cpu)
	ls -f "$mnt/big" >/dev/null
	t3=$(ms)
	c3=$(cpu)
	umount_it
	if [ "$got" -ne $(($2 + 1)) ]; then
		echo "($1 n=$2: $got names listed, not $(($2 + 1)); the daemon's log ends:"
		tail -n 5 "$work/caravanfs.log"
		echo ")"
	fi
	echo "$1 n=$2: ls -f of the spaces $troot ms, create beside $2 cloud names $((t1 - t0)) ms," \
		"ls -f first $((t2 - t1)) ms ($got names), again $((t3 - t2)) ms;" \
		"daemon CPU first $((c2 - c1)) ms, again $((c3 - c2)) ms"
}

echo "caravanfs listing bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $sizes; do
	case " $parts " in *" plain "*)
		mkdir -p "$work/plain-$n"
		(cd "$work/plain-$n" && names "$n" | xargs touch)
		ls -f "$work/plain-$n" >/dev/null
		for r in $(seq "$repeat"); do
			t0=$(ms)
			got=$(ls -f "$work/plain-$n" | grep -vc '^\.')
			t1=$(ms)
			echo "plain n=$n: ls -f $((t1 - t0)) ms ($got names)"
		done
		rm -rf "$work/plain-$n"
	esac
	case " $parts " in *" dir "*)
		mkdir -p "$work/target-$n/big"
		(cd "$work/target-$n/big" && names "$n" | xargs touch)
		for r in $(seq "$repeat"); do
			measure "dir:" "$n" "cloud=dir:$work/target-$n"
			[ -z "$before" ] || measure "dir: (before: $before)" "$n" \
				"cloud=dir:$work/target-$n" "$before"
		done
		rm -rf "$work/target-$n"
	esac
done

case " $parts " in *" s3 "*)
	[ -r "$js" ] || { echo "s3rver not found at '$js'" >&2; exit 1; }
	port=$(node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
	ep="http://127.0.0.1:$port"
	mkdir -p "$work/s3"
	node --openssl-legacy-provider "$js" --directory "$work/s3" \
		--address 127.0.0.1 --port "$port" --silent >"$work/s3rver.log" 2>&1 &
	pid=$!
	i=0
	until curl -s -o /dev/null "$ep/"; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "s3rver did not start" >&2; exit 1; }
		sleep 0.05
	done
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
	unset AWS_SESSION_TOKEN AWS_PROFILE
	s3curl() {
		curl -sS --no-progress-meter --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
			--user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
			-H "Expect:" "$@"
	}
	s3curl -X PUT "$ep/list" >/dev/null
	echo x >"$work/body"
	for n in $sizes; do
		t0=$(ms)
		s3curl -H "x-amz-meta-seq: 1" -T "$work/body" \
			"$ep/list/p$n/big/$(names 1)" >/dev/null
		node -e '
const fs = require("fs"), path = require("path");
const [dir, n] = [process.argv[1], Number(process.argv[2])];
const name = i => "n" + String(i).padStart(6, "0");
const files = ["._S3rver_object", "._S3rver_object.md5",
	"._S3rver_metadata.json"].map(k => [k, fs.readFileSync(path.join(dir, name(1) + k))]);
for (let i = 2; i <= n; i++)
	for (const [k, bytes] of files)
		fs.writeFileSync(path.join(dir, name(i) + k), bytes);
' "$work/s3/list/p$n/big" "$n"
		echo "(s3rver: 1 PUT and $((n - 1)) copies in its store layout in $(($(ms) - t0)) ms)"
		if [ "$n" -le "$own_max" ]; then
			t0=$(ms)
			got=$("$build/tests/cloud_tool" --s3-endpoint "$ep" --s3-region us-east-1 \
				--s3-path-style list "s3://list/p$n" big | wc -l)
			echo "s3rver n=$n: the server's own listing (tests/cloud_tool list, every page) $(($(ms) - t0)) ms ($got names)"
			[ "$got" -eq "$n" ] || { echo "s3rver serves $got names, not $n" >&2; exit 1; }
		fi
		measure "s3rver" "$n" "cloud=s3://list/p$n,s3_endpoint=$ep,s3_region=us-east-1,s3_path_style"
	done
esac
