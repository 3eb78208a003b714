#!/bin/sh
# bench_big.sh - big namespaces through the mount (issue 20, goal 3): a
# store of N documents with one space of a million.
#
#   sh bench/bench_big.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs and bench/bench_space (make; make
# bench/bench_space).  WORK_DIR (default /var/tmp) gets the store, removed
# at the end.  BENCH_BIG_DOCS documents (default 10000000) in spaces s0,
# s1, ... of BENCH_BIG_SPACE each (default 1000000): keys "doc%09d" (12
# bytes), one small entry each (`bench_space build`, the engine without
# the mount, closed cleanly).  Then, each step timed with the wall clock:
#   open       the engine alone opens and closes the store
#              (`bench_space open`);
#   mount      caravanfs (cloud=none, plus BENCH_MOUNT_OPTS) started until
#              a name of the root answers (the store is opened before the
#              mount appears), and its resident memory then (RssAnon per
#              document, mount idle);
#   ls -f      of s0 (BENCH_BIG_SPACE documents): the first name
#              (opendir + the first getdents64, python's os.scandir) and
#              the whole listing;
#   create/unlink  BENCH_BIG_OPS (default 2000) creates of new empty
#              files then as many unlinks through the mount, in s0 and in
#              a new empty space, twice each alternating: mean
#              microseconds per operation;
#   remount    unmount (timed), then mount again after that clean unmount;
#   kill -9    `bench_space tail` appends 100 B entries to random documents
#              until BENCH_BIG_TAIL_MIB (default 64) MiB of log are past
#              the last checkpoint, waits for them to be durable and kills
#              itself with SIGKILL; then the mount of that store is timed
#              (replay of the tail).
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-big.$$
n=${BENCH_BIG_DOCS:-10000000}
per=${BENCH_BIG_SPACE:-1000000}
ops=${BENCH_BIG_OPS:-2000}
tailmib=${BENCH_BIG_TAIL_MIB:-64}
bs="$build/bench/bench_space"
[ -x "$bs" ] || { echo "'$bs' not found: make bench/bench_space" >&2; exit 1; }
store="$work/store"
mnt="$work/mnt"
pid=

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || true; fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work" "$mnt"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# mount: start caravanfs in the foreground (pid in $pid), wait until the
# space s0 answers; the seconds it took in $t.
mount_store() {
	t0=$(now)
	"$build/caravanfs" -f -o "cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}" "$store" "$mnt" 2>"$work/fs.log" &
	pid=$!
	until [ -d "$mnt/s0" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "caravanfs did not mount:" >&2
			cat "$work/fs.log" >&2
			exit 1
		fi
		sleep 0.01
	done
	t=$(since "$t0")
}

unmount_store() {
	t0=$(now)
	fusermount3 -u "$mnt"
	wait "$pid" || true
	pid=
	t=$(since "$t0")
}

anon() { awk '$1 == "RssAnon:" { print $2 }' "/proc/$pid/status"; }

echo "caravanfs big namespace bench: $(date -u +%Y-%m-%dT%H:%MZ), $n documents, $per per space, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bs" build "$store" "$n" "$per"
"$bs" open "$store"

mount_store </dev/null >/dev/null
a=$(anon)
echo "mount after the build's clean close: $t s ($(awk -v t="$t" -v n="$n" 'BEGIN { printf "%.2f", t * 1e6 / n }') s per million); RssAnon idle $a kB ($(awk -v a="$a" -v n="$n" 'BEGIN { printf "%.1f", a * 1024 / n }') B per document)"

python3 - "$mnt/s0" "$per" <<'EOF'
import os, sys, time
p, want = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
it = os.scandir(p)
next(it)
t1 = time.monotonic()
n = 1 + sum(1 for _ in it)
t2 = time.monotonic()
it.close()
assert n >= want, (n, want)
print("ls -f of %d names: first name after %.1f ms, all in %.2f s" % (n, (t1 - t0) * 1e3, t2 - t0))
EOF

mkdir "$mnt/small"
python3 - "$mnt" "$ops" <<'EOF'
import os, sys, time
mnt, ops = sys.argv[1], int(sys.argv[2])
# twice each, alternating, so a background checkpoint or a cold cache
# does not fall on one space only
for rnd, (sp, what) in enumerate((("small", "empty space"), ("s0", "space of the million"),
                                  ("s0", "space of the million"), ("small", "empty space"))):
    d = os.path.join(mnt, sp)
    names = [os.path.join(d, "bench-new-%d-%d" % (rnd, i)) for i in range(ops)]
    t0 = time.monotonic()
    for nm in names:
        os.close(os.open(nm, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    t1 = time.monotonic()
    for nm in names:
        os.unlink(nm)
    t2 = time.monotonic()
    print("%s: create %.0f us, unlink %.0f us (mean of %d)" % (what, (t1 - t0) / ops * 1e6, (t2 - t1) / ops * 1e6, ops))
EOF
rmdir "$mnt/small"

unmount_store
echo "unmount (checkpoint): $t s"
mount_store </dev/null >/dev/null
echo "mount after a clean unmount: $t s ($(awk -v t="$t" -v n="$n" 'BEGIN { printf "%.2f", t * 1e6 / n }') s per million)"
unmount_store

"$bs" tail "$store" "$tailmib" || true
mount_store </dev/null >/dev/null
echo "mount after kill -9 with a $tailmib MiB log tail: $t s"
unmount_store
