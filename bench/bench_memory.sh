#!/bin/sh
# bench_memory.sh - resident memory per document of the engine and of a
# caravanfs mount of a store of N documents.
#
#   sh bench/bench_memory.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs and bench/bench_store (make; make
# bench/bench_store).  WORK_DIR (default /var/tmp) gets two stores, made by
# `bench_store DIR mkmem N`: N documents (BENCH_MEM_DOCS, default 1000000)
# of one small entry each in space "many", keys "doc%09d" (12 bytes), and
# an empty one (the baseline); both removed at the end.
#
# Figures, each per document:
#   engine      bench_store mem1: the difference of VmRSS, RssAnon and
#               malloc'd bytes (mallinfo2) across store_open in a fresh
#               process;
#   mount       RssAnon (and VmRSS) of the caravanfs process of the full
#               store minus that of the empty store, each mounted with
#               cloud=none, at four moments:
#                 idle     mounted, nothing listed;
#                 ls -f    after `ls -f` of the space: every name went to
#                          the kernel by READDIRPLUS, so the kernel holds
#                          one lookup of each document's node and the
#                          mount keeps a node for each (fs/node.c);
#                 ls -l    after `ls -l` of the space (stats through
#                          those nodes, attributes remembered);
#                 find     after `find -type f` of the mount.
#               The kernel keeps its lookups until it forgets them (memory
#               pressure, unmount): the figures are those of a mount whose
#               kernel holds every name.  The data file's mapped pages are
#               in VmRSS (file-backed), not in RssAnon: RssAnon is what
#               this bench reports per document.
# BENCH_MOUNT_OPTS (e.g. cache=1M) is added to the mount options: the
# document cache (cache=, default 256M) holds the documents that stat
# materialized to learn their size, so `ls -f` of N documents fills it;
# a small cache shows what is left.
set -e
build=$(cd "$1" && pwd)
work=${2:-/var/tmp}/caravan-bench-mem.$$
n=${BENCH_MEM_DOCS:-1000000}
bs="$build/bench/bench_store"
[ -x "$bs" ] || { echo "'$bs' not found: make bench/bench_store" >&2; exit 1; }
mnt="$work/mnt"
pid=

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || true; fi
	if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/full" "$work/empty" "$mnt"

status() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

echo "caravanfs memory bench: $(date -u +%Y-%m-%dT%H:%MZ), $n documents, $(nproc) cores, mount options cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}"
"$bs" "$work/full" mkmem "$n"
"$bs" "$work/empty" mkmem 0 >/dev/null
"$bs" "$work/full" mem1 "$n"

# mount STORE: start caravanfs in the foreground (its pid in $pid) and
# wait until the mount is up.
mount_store() {
	"$build/caravanfs" -f -o "cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}" "$1" "$mnt" 2>"$work/fs.log" &
	pid=$!
	i=0
	until mountpoint -q "$mnt"; do
		i=$((i + 1))
		if [ "$i" -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "caravanfs did not mount:" >&2
			cat "$work/fs.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

unmount_store() {
	fusermount3 -u "$mnt"
	wait "$pid" || true
	pid=
}

# measure TAG: RssAnon and VmRSS in KiB into TAG_anon, TAG_rss.
measure() {
	eval "$1_anon=$(status "$pid" RssAnon)"
	eval "$1_rss=$(status "$pid" VmRSS)"
}

run_stages() { # PREFIX DIR NAMES
	measure "$1_idle"
	c=$(ls -f "$2" | wc -l)
	[ "$c" -ge "$3" ] || { echo "$2: $c names listed, want $3" >&2; exit 1; }
	measure "$1_lsf"
	ls -l "$2" >/dev/null
	measure "$1_lsl"
	find "$mnt" -type f >/dev/null
	measure "$1_find"
}

mount_store "$work/empty/bench-store"
run_stages e "$mnt" 2
unmount_store
mount_store "$work/full/bench-store"
run_stages f "$mnt/many" "$((n + 2))"
unmount_store

per() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }'; }
for st in idle lsf lsl find; do
	eval "fa=\$f_${st}_anon; ea=\$e_${st}_anon; fr=\$f_${st}_rss; er=\$e_${st}_rss"
	case $st in
	idle) what="mounted, idle" ;;
	lsf) what="after ls -f" ;;
	lsl) what="after ls -l" ;;
	find) what="after find -type f" ;;
	esac
	echo "mount, $what: RssAnon $(per "$fa" "$ea") B/doc, VmRSS $(per "$fr" "$er") B/doc (RssAnon $fa kB, empty store $ea kB)"
done
