#!/bin/sh
# bench_floor.sh - every filesystem workload on a plain directory, through
# our own FUSE passthrough of a plain directory (bench/passthrough_ll, the
# FUSE floor) and through caravanfs, all on the same disk in the same run,
# printed as seconds and ratios.
#
#   sh bench/bench_floor.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR holds caravanfs, bench/bench_fs and bench/passthrough_ll
# (make bench); WORK_DIR (on the disk to measure, default /var/tmp) gets
# the stores, mount points and trees, all removed at the end.  Run as root:
# the cold runs drop the kernel's caches (/proc/sys/vm/drop_caches).
#
# Environment:
#   BENCH_DOCS="10000 100000"  tree sizes, one fresh set of mounts each
#                              (add 1000000 for the million-document tree)
#   BENCH_DOC_BYTES=1024       size of every document
#   BENCH_COPY_DOCS=10000      documents copied by rsync -a and cp -a
#   BENCH_RUNS=3               runs of each workload; the median is shown
#   BENCH_SECONDS=3            length of each timed patch run
#   BENCH_MOUNT_OPTS           extra caravanfs mount options
#   BENCH_PT_OPTS              extra passthrough_ll options (e.g. writeback)
#   BENCH_COUNT=1              also count the FUSE requests of one extra,
#                              untimed run of every workload on both FUSE
#                              mounts (perf, tracepoint fuse:fuse_request_send)
#                              and the CPU time each daemon used for it
#   BENCH_PROFILE=DIR          also record one extra, untimed run of every
#                              workload with perf record -g on each FUSE
#                              daemon; DIR gets the reports (perf report
#                              --no-children), kept after the run
#   BENCH_ONLY="cat_cold tar"  run only these workloads (create always runs)
#   BENCH_BASE=PATH            a second caravanfs binary (e.g. the build
#                              before a change), mounted beside the others
#                              with its own store and run interleaved with
#                              them: two more columns, its time and
#                              base/caravanfs (a before/after in one run)
#
# A workload's runs are interleaved across the three (plain, passthrough,
# caravanfs, then again), so a burst of load from elsewhere hits all three.
# Ratios are speed ratios: the other's time / caravanfs' time (>= 1.0:
# caravanfs is as fast or faster); for the patch rates, caravanfs' rate /
# the other's rate.
set -e
build=$(cd "$1" && pwd)
work=$(mktemp -d "${2:-/var/tmp}/caravan-bench-floor.XXXXXX")
sizes=${BENCH_DOCS:-10000 100000}
dbytes=${BENCH_DOC_BYTES:-1024}
ncopy=${BENCH_COPY_DOCS:-10000}
runs=${BENCH_RUNS:-3}
secs=${BENCH_SECONDS:-3}
b="$build/bench/bench_fs"
fss="plain pt cfs"
base=${BENCH_BASE:+$(cd "$(dirname "$BENCH_BASE")" && pwd)/$(basename "$BENCH_BASE")}
[ -n "$base" ] && fss="plain pt base cfs"
cfs_pid=; pt_pid=; base_pid=

unmount_all() {
	for m in "$work/pt" "$work/cfs" "$work/base"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" || true
		fi
	done
	for p in $cfs_pid $pt_pid $base_pid; do
		while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
	done
	cfs_pid=; pt_pid=; base_pid=
}
cleanup() {
	unmount_all
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_mount() {
	n=0
	while ! mountpoint -q "$1"; do
		n=$((n + 1))
		if [ $n -gt 600 ]; then echo "bench_floor: '$1' did not mount" >&2; exit 1; fi
		sleep 0.05
	done
}

mount_all() {
	rm -rf "$work/plain" "$work/pt-src" "$work/store"
	mkdir -p "$work/plain" "$work/pt-src" "$work/pt" "$work/cfs" "$work/store"
	"$build/bench/passthrough_ll" ${BENCH_PT_OPTS:+-o "$BENCH_PT_OPTS"} \
		"$work/pt-src" "$work/pt" 2>"$work/pt.log" &
	pt_pid=$!
	"$build/caravanfs" -f -o "capacity=4G,cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}" \
		"$work/store/s" "$work/cfs" 2>"$work/cfs.log" &
	cfs_pid=$!
	wait_mount "$work/pt"
	wait_mount "$work/cfs"
	[ -n "$base" ] || return 0
	rm -rf "$work/base-store"
	mkdir -p "$work/base" "$work/base-store"
	"$base" -f -o "capacity=4G,cloud=none${BENCH_MOUNT_OPTS:+,$BENCH_MOUNT_OPTS}" \
		"$work/base-store/s" "$work/base" 2>"$work/base.log" &
	base_pid=$!
	wait_mount "$work/base"
}

root() {
	case $1 in
	plain) echo "$work/plain" ;;
	pt) echo "$work/pt" ;;
	cfs) echo "$work/cfs" ;;
	base) echo "$work/base" ;;
	esac
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# The command of one run of workload $1 on root $2 (run number $3).
cmd_of() {
	w=$1; d=$2; r=$3
	case $w in
	create) echo "mkdir '$d/c$r' && '$b' mkdocs '$d/c$r' $ndocs $dbytes >/dev/null" ;;
	cat_cold | cat_warm) echo "'$b' cat '$d/c1' >/dev/null" ;;
	# through cat: GNU tar writing to /dev/null itself reads no file
	tar) echo "tar cf - -C '$d' c1 | cat >/dev/null" ;;
	ls_l) echo "ls -l '$d/c1' >/dev/null" ;;
	find) echo "find '$d/c1' >/dev/null" ;;
	rsync) echo "rsync -a '$work/src/' '$d/r$r/'" ;;
	cp) echo "cp -a '$work/src' '$d/p$r'" ;;
	append) echo "mkdir -p '$d/a$r' && '$b' append '$d/a$r' $secs" ;;
	fsync) echo "mkdir -p '$d/f$r' && '$b' fsync '$d/f$r' 1 $secs" ;;
	esac
}

# One run of workload $1 on root $2 (run number $3); prints seconds, or
# for the patch workloads, patches per second.
run_one() {
	[ "$1" = cat_cold ] && drop_caches
	c=$(cmd_of "$@")
	case $1 in
	append | fsync) sh -c "$c" | awk '{ print $3 }' ;;
	*) t0=$(now); sh -c "$c"; elapsed "$t0" "$(now)" ;;
	esac
}

# What a run left behind that the next must not find (untimed).
tidy() {
	w=$1; d=$2; r=$3
	case $w in
	create) [ "$r" = 1 ] || rm -rf "$d/c$r" ;;
	rsync) rm -rf "$d/r$r" ;;
	cp) rm -rf "$d/p$r" ;;
	append) rm -rf "$d/a$r" ;;
	fsync) rm -rf "$d/f$r" ;;
	esac
}

# CPU seconds (user + system) process $1 has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
pid_of() { case $1 in "$work/pt") echo "$pt_pid" ;; "$work/base") echo "$base_pid" ;; *) echo "$cfs_pid" ;; esac; }

# One untimed run of $1 on FUSE root $2 under perf record -g of its daemon;
# the report goes to $BENCH_PROFILE/$ndocs-$1-<fs>.txt.
profile_one() {
	case $2 in "$work/pt") n=passthrough ;; *) n=caravanfs ;; esac
	[ "$1" = cat_cold ] && drop_caches
	perf record -q -g -p "$(pid_of "$2")" -o "$work/prof.data" -- \
		sh -c "$(cmd_of "$1" "$2" 9)" >/dev/null 2>&1 || true
	perf report -i "$work/prof.data" --stdio --no-children \
		--percent-limit 1.5 2>/dev/null >"$BENCH_PROFILE/$ndocs-$1-$n.txt" || true
	tidy "$1" "$2" 9
	rm -rf "$2/c9"
}

# The FUSE requests of one untimed run of $1 on FUSE root $2, by opcode
# (a cold run's cache drop comes before perf starts and is not counted;
# the connection number is the mount's device minor).
count_requests() {
	conn=$(mountpoint -d "$2" | cut -d: -f2) # other mounts' requests are not ours
	[ "$1" = cat_cold ] && drop_caches
	cpu0=$(cpu_of "$(pid_of "$2")")
	perf record -q -e fuse:fuse_request_send -a -o "$work/perf.data" -- \
		sh -c "$(cmd_of "$1" "$2" 9)" >/dev/null 2>&1 || true
	perf script -i "$work/perf.data" 2>/dev/null |
		grep " connection $conn " |
		sed -n 's/.*opcode [0-9]* (FUSE_\([A-Z_0-9]*\)).*/\1/p' | sort | uniq -c | sort -rn |
		awk '{ s = s sep $2 " " $1; sep = ", "; t += $1 } END { printf "%d (%s)", t, s }'
	printf ', daemon CPU %ss' "$(awk -v a="$cpu0" -v b="$(cpu_of "$(pid_of "$2")")" 'BEGIN { printf "%.2f", b - a }')"
	tidy "$1" "$2" 9
	rm -rf "$2/c9"
}

label() {
	case $1 in
	create) echo "create $ndocs documents ($dbytes B)" ;;
	cat_cold) echo "cat $ndocs documents, cold" ;;
	cat_warm) echo "cat $ndocs documents, warm" ;;
	tar) echo "tar of the $ndocs-document space" ;;
	ls_l) echo "ls -l of the $ndocs-document space" ;;
	find) echo "find of the $ndocs-document space" ;;
	rsync) echo "rsync -a of $ncopy documents in" ;;
	cp) echo "cp -a of $ncopy documents in" ;;
	append) echo "O_APPEND 200 B patches, 1 thread, no fsync (/s)" ;;
	fsync) echo "O_APPEND 200 B patch+fsync, 1 thread (/s)" ;;
	esac
}
target() {
	case $1 in
	rsync | cp | append | fsync) echo 0.8 ;;
	*) echo 1.0 ;;
	esac
}

workloads="create cat_cold cat_warm tar ls_l find rsync cp append fsync"
if [ -n "$BENCH_ONLY" ]; then workloads="create $BENCH_ONLY"; fi

echo "caravanfs bench_floor: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), work dir $work, $runs runs each (median)"
mkdir -p "$work/src"
$b mkdocs "$work/src" "$ncopy" "$dbytes" >/dev/null
for ndocs in $sizes; do
	mount_all
	echo
	echo "## $ndocs documents of $dbytes B"
	echo
	if [ -n "$base" ]; then
		echo "| workload | plain | passthrough | caravanfs base | caravanfs | passthrough/caravanfs | plain/caravanfs | passthrough/base | base/caravanfs | target | |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	else
		echo "| workload | plain | passthrough | caravanfs | passthrough/caravanfs | plain/caravanfs | target | |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	fi
	for w in $workloads; do
		cat "$work/src"/* >/dev/null # the copies' source: warm for every run
		[ "$w" = cat_warm ] && for fs in $fss; do run_one cat_warm "$(root $fs)" 0 >/dev/null; done
		all_plain=; all_pt=; all_cfs=; all_base=
		for r in $(seq "$runs"); do
			for fs in $fss; do
				v=$(run_one "$w" "$(root $fs)" "$r")
				tidy "$w" "$(root $fs)" "$r"
				eval "all_$fs=\"\$all_$fs $v\""
			done
		done
		p=$(median $all_plain); t=$(median $all_pt); c=$(median $all_cfs)
		case $w in
		append | fsync) rp=$(ratio "$c" "$t"); rl=$(ratio "$c" "$p") ;;
		*) rp=$(ratio "$t" "$c"); rl=$(ratio "$p" "$c") ;;
		esac
		tg=$(target "$w")
		met=$(awk -v r="$rp" -v t="$tg" 'BEGIN { print (r + 0 >= t ? "met" : "**missed**") }')
		if [ -n "$base" ]; then
			o=$(median $all_base)
			case $w in
			append | fsync) rb=$(ratio "$o" "$t"); ro=$(ratio "$c" "$o") ;;
			*) rb=$(ratio "$t" "$o"); ro=$(ratio "$o" "$c") ;;
			esac
			echo "| $(label "$w") | $p | $t | $o | $c | $rp | $rl | $rb | $ro | >= $tg | $met |"
		else
			echo "| $(label "$w") | $p | $t | $c | $rp | $rl | >= $tg | $met |"
		fi
		echo "$ndocs $w runs: plain$all_plain; pt$all_pt;${base:+ base$all_base;} cfs$all_cfs" >>"$work/runs.txt"
		if [ -n "$BENCH_COUNT" ]; then
			echo "$ndocs $w FUSE requests: passthrough $(count_requests "$w" "$work/pt"); caravanfs $(count_requests "$w" "$work/cfs")" >>"$work/counts.txt"
		fi
		if [ -n "$BENCH_PROFILE" ]; then
			mkdir -p "$BENCH_PROFILE"
			profile_one "$w" "$work/pt"
			profile_one "$w" "$work/cfs"
		fi
	done
	echo
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	m() { awk -v k="caravanfs_$1" '$1 == k { print $2 }' "$work/$mnt/.caravan-metrics"; }
	counters() { echo "$(m cache_hits_total) materialized-cache hits, $(m cache_misses_total) misses, $(m cache_documents) documents in $(m cache_bytes) B charged; $(m opens_total) opens, $(m cached_opens_total) through the page cache; $(m lookups_total) lookups; $(m node_retirements_total) writers sent to a fresh node; $(m cutovers_total) log cut-overs, the longest holding changes $(m cutover_pause_max_seconds) s; daemon resident $(awk '/VmRSS/ { print $2, $3 }' "/proc/$1/status")"; }
	mnt=cfs; echo "caravanfs counters: $(counters "$cfs_pid")"
	if [ -n "$base" ]; then mnt=base; echo "caravanfs base counters: $(counters "$base_pid")"; fi
	unmount_all
done
echo
echo "every run (seconds, or patches/s):"
cat "$work/runs.txt"
if [ -n "$BENCH_COUNT" ]; then
	echo
	echo "FUSE requests of one untimed run, by opcode:"
	cat "$work/counts.txt"
fi
