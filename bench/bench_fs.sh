#!/bin/sh
# bench_fs.sh - the filesystem workloads through a caravanfs mount and on a
# plain directory of the same disk, in the same run, printed as ratios.
#
#   sh bench/bench_fs.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs and bench/bench_fs (make bench); WORK_DIR (on
# the disk to measure, default /var/tmp) gets a store, a mount point and a
# plain directory, all removed at the end.  BENCH_SECONDS (default 3) sets
# the length of the timed write runs; BENCH_DOCS (default 100000) the size
# of the tar and ls trees; BENCH_MOUNT_OPTS (e.g. cache=512M) is added to
# the mount options.
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-fs.$$
secs=${BENCH_SECONDS:-3}
ndocs=${BENCH_DOCS:-100000}
b="$build/bench/bench_fs"
mnt="$work/mnt"; plain="$work/plain"; store="$work/store"

cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt" || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$mnt" "$plain" "$store"
"$build/caravanfs" -o "capacity=4G,cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}" \
	"$store/s" "$mnt"
while ! mountpoint -q "$mnt"; do sleep 0.05; done

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
rate() { echo "$1" | awk '{print $3}'; }
timed() { t0=$(now); "$@" >/dev/null; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }

echo "caravanfs bench: $(date -u +%Y-%m-%dT%H:%MZ), work dir $work, $(nproc) cores"
for w in append; do
	mkdir -p "$mnt/$w" "$plain/$w"
	f=$(rate "$($b append "$mnt/$w" "$secs")")
	p=$(rate "$($b append "$plain/$w" "$secs")")
	echo "200 B O_APPEND patches, 1 thread, no fsync: caravanfs $f/s, plain $p/s, ratio $(ratio "$f" "$p")"
done
for th in 1 16; do
	mkdir -p "$mnt/fsync$th" "$plain/fsync$th"
	f=$(rate "$($b fsync "$mnt/fsync$th" "$th" "$secs")")
	p=$(rate "$($b fsync "$plain/fsync$th" "$th" "$secs")")
	echo "patch+fsync, $th threads: caravanfs $f/s, plain $p/s, ratio $(ratio "$f" "$p")"
	eval "fs_fsync$th=$f"
done
echo "16 fsyncing threads / 1 fsyncing thread through caravanfs: $(ratio "$fs_fsync16" "$fs_fsync1")x"

mkdir -p "$mnt/cat" "$plain/cat"
$b mkdocs "$mnt/cat" 10000 1024 >/dev/null
$b mkdocs "$plain/cat" 10000 1024 >/dev/null
f=$(rate "$($b cat "$mnt/cat")"); p=$(rate "$($b cat "$plain/cat")")
echo "cat of 10k 1 KiB documents: caravanfs $f files/s, plain $p files/s, ratio $(ratio "$f" "$p")"
f=$(rate "$($b cat "$mnt/cat")"); p=$(rate "$($b cat "$plain/cat")")
echo "the same cat again (page cache warm): caravanfs $f files/s, plain $p files/s, ratio $(ratio "$f" "$p")"

mkdir -p "$mnt/tree" "$plain/tree"
mk=$($b mkdocs "$mnt/tree" "$ndocs" 200)
$b mkdocs "$plain/tree" "$ndocs" 200 >/dev/null
echo "created $ndocs documents through caravanfs at $(rate "$mk")/s"
ft=$(timed sh -c "tar cf - -C '$mnt' tree | cat >/dev/null")
pt=$(timed sh -c "tar cf - -C '$plain' tree | cat >/dev/null")
echo "tar of a $ndocs-document tree: caravanfs ${ft}s, plain ${pt}s, speed ratio $(ratio "$pt" "$ft")"
fl=$(timed ls -l "$mnt/tree")
pl=$(timed ls -l "$plain/tree")
echo "ls -l of a $ndocs-document space: caravanfs ${fl}s, plain ${pl}s, speed ratio $(ratio "$pl" "$fl")"
m() { awk -v k="caravanfs_$1" '$1 == k { print $2 }' "$mnt/.caravan-metrics"; }
echo "caravanfs: $(m cache_hits_total) materialized-cache hits, $(m cache_misses_total) misses"
echo "caravanfs: $(m opens_total) opens, $(m cached_opens_total) through the page cache, $(m node_retirements_total) writers sent to a fresh node, $(m lookups_total) lookups"
