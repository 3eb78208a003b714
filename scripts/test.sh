#!/bin/sh
# test.sh - the README's test command: install what is missing, build, and
# run every suite twice (plain, and under AddressSanitizer +
# UndefinedBehaviorSanitizer), the unit suites once more in a debug build
# (configure --enable-debug: the engine's invariants asserted), build and
# check the Debian package (tests/e2e_package.sh), then the unit suites
# under valgrind.
# Exits non-zero on any failure or skipped test.
#
#   CARAVAN_LONG=1  long campaigns (crash rounds, fuzzing time) instead of
#                   the bounded CI amounts.
#   CARAVAN_FUZZ_SECONDS=N  seconds per fuzz target (30; 1800 when long)
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/deps.sh
sh scripts/s3rver-install.sh
# The S3 tests start this server; exported so `make distcheck` (which
# builds from an unpacked tarball without node_modules) finds it too.
export CARAVAN_S3RVER="$top/tests/s3/node_modules/s3rver/bin/s3rver.js"
if [ -n "$CARAVAN_LONG" ]; then
	export CARAVAN_CRASH_ROUNDS=${CARAVAN_CRASH_ROUNDS:-2000}
fi

[ -f configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
if [ -f config.status ]; then
	make distclean >/dev/null 2>&1 || true
fi

status=0

# Production code is formatted by the tool (.clang-format, kernel style,
# clang-format 14): any deviation fails the run.
echo "== format: clang-format on util json wal store cloud fs admin"
unformatted=$(for f in util/*.[ch] json/*.[ch] wal/*.[ch] store/*.[ch] \
	cloud/*.[ch] fs/*.[ch] admin/*.[ch]; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$unformatted" ]; then
	echo "  not formatted:" $unformatted; status=1
else
	echo "  every production file formatted"
fi

report() {
	# Print each suite's closing line so the log shows what ran.
	for f in $(find "$1/tests" -name '*.log' ! -name 'test-suite.log' | sort); do
		line=$(grep -E '^[0-9]+%: Checks:|^# (passed|failed)|[0-9]+ passed, [0-9]+ failed' "$f" | tail -1)
		echo "  $(basename "$f" .log): ${line:-$(tail -1 "$f")}"
	done
}

failed_logs() {
	# Each failed test's failing checks and the end of its log, so a
	# failure in CI can be diagnosed from CI's output alone.
	for t in $(find "$1" -name '*.trs' -exec grep -l -E '^:test-result: (FAIL|ERROR)' {} + 2>/dev/null); do
		l=${t%.trs}.log
		echo "---- $(basename "$l"): failing checks"
		grep -E '^not ok' "$l" | head -20
		echo "---- $(basename "$l"): last 60 lines"
		tail -60 "$l"
	done
}

run_build() {
	name=$1; shift
	dir="$top/build-$name"
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
	"$top/configure" -q --enable-werror "$@"
	make -s -j"$(nproc)" >/dev/null
	echo "== $name: make check${check_tests:+ (unit suites)}"
	if make -s -j"$(nproc)" check ${check_tests:+"TESTS=$check_tests"} \
		>/dev/null 2>&1; then r=0; else r=1; fi
	report "$dir"
	grep -E '^# (TOTAL|PASS|SKIP|FAIL|XPASS|ERROR):' tests/../test-suite.log 2>/dev/null | tr '\n' ' '; echo
	skipped=$(grep -E '^# SKIP:' test-suite.log | awk '{print $3}')
	if [ "$r" != 0 ] || [ "${skipped:-0}" != 0 ]; then
		echo "== $name: FAILED (see $dir/test-suite.log)"
		failed_logs "$dir/tests"
		status=1
	else
		echo "== $name: all passed"
	fi
	cd "$top"
}

run_build plain
# Under the sanitizers the campaigns run smaller samples (the plain build
# ran them at full size): they look for memory errors there, not for rare
# interleavings.
if [ -n "$CARAVAN_LONG" ]; then
	run_build sanitize --enable-sanitizers
else
	CARAVAN_CRASH_ROUNDS=50 CARAVAN_POWERCUT_ROUNDS=5 \
		run_build sanitize --enable-sanitizers
fi

# The Check unit suites (tests/check_*) in a debug build, where
# util/debug.h's debug_assert checks the numbered invariants of
# wal/log.c, store/alloc.c and store/doc.c at entry and exit of their
# stateful functions.  The end-to-end scripts ran twice above.
debug_start=$(date +%s)
check_tests=$(ls tests/check_*.c | sed 's/\.c$//' | tr '\n' ' ')
CARAVAN_CRASH_ROUNDS=50 CARAVAN_POWERCUT_ROUNDS=5 \
	run_build debug --enable-debug
check_tests=
echo "  debug build and unit suites: $(($(date +%s) - debug_start)) s"

# distcheck proves the tarball builds and passes every suite; the
# campaigns (kill -9 rounds, power cuts) ran at full size above, so here
# they run a few rounds each.
echo "== distcheck"
cd "$top/build-plain"
if CARAVAN_CRASH_ROUNDS=20 CARAVAN_POWERCUT_ROUNDS=2 \
	make -s -j"$(nproc)" distcheck >distcheck.out 2>&1; then
	echo "  make distcheck: passed"
else
	echo "  make distcheck: FAILED"; tail -40 distcheck.out
	failed_logs "$top/build-plain/caravanfs-"*/_build
	status=1
fi
cd "$top"

# The Debian package: built from the source tree with dpkg-buildpackage,
# checked with dpkg -c and lintian, installed, used and removed.
echo "== package"
pkg_start=$(date +%s)
if sh tests/e2e_package.sh "$top" >"$top/build-plain/package.out" 2>&1; then
	grep -E 'passed, [0-9]+ failed' "$top/build-plain/package.out" | sed 's/^/  /'
	echo "  package: passed ($(($(date +%s) - pkg_start)) s)"
else
	echo "  package: FAILED"; grep -v '^ok ' "$top/build-plain/package.out" | tail -40
	status=1
fi

# The valgrind and fuzz phases run one job per core; each job writes
# its own output file, printed in order when all have finished.
jobs=$(nproc)

echo "== valgrind: unit suites ($jobs at a time)"
cd "$top/build-plain"
# The kill -9 rounds ran 200 times in each build above; under valgrind a
# sample of 20 checks the same code for memory errors.
ls tests/check_* | grep -v '\.' | CK_FORK=no CARAVAN_VALGRIND=1 \
	CARAVAN_CRASH_ROUNDS=20 xargs -P "$jobs" -I{} sh -c \
	'valgrind -q --error-exitcode=9 --leak-check=full \
		--errors-for-leak-kinds=definite {} >{}.valgrind 2>&1;
	echo $? >{}.vgrc'
for t in $(ls tests/check_* | grep -v '\.'); do
	if [ "$(cat "$t.vgrc" 2>/dev/null)" = 0 ]; then
		echo "  $(basename "$t"): valgrind clean"
	else
		echo "  $(basename "$t"): valgrind FAILED"; tail -30 "$t.valgrind"; status=1
	fi
done
cd "$top"

echo "== fuzz (libFuzzer + ASan + UBSan, bounded time per target, $jobs scripts at a time)"
fuzz_secs=${CARAVAN_FUZZ_SECONDS:-30}
if [ -n "$CARAVAN_LONG" ]; then fuzz_secs=${CARAVAN_FUZZ_SECONDS:-1800}; fi
ls tests/fuzz/run-*.sh | xargs -P "$jobs" -I{} sh -c \
	"sh {} $fuzz_secs >{}.out 2>&1; echo \$? >{}.rc"
for r in tests/fuzz/run-*.sh; do
	if [ "$(cat "$r.rc" 2>/dev/null)" = 0 ]; then
		grep -E ': ok,' "$r.out" | sed 's/^/  /'
	else
		echo "  $r: FAILED"; tail -40 "$r.out"; status=1
	fi
	rm -f "$r.out" "$r.rc"
done

if [ "$status" = 0 ]; then echo "caravanfs: every suite passed"; else echo "caravanfs: FAILURES"; fi
exit $status
