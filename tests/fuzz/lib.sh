# lib.sh - sourced by tests/fuzz/run-*.sh after they have built their
# targets into $out: runs one target for $secs seconds and reports it.
#
#   fuzz_run TARGET SEED_DIR MAX_LEN [LIBFUZZER_FLAG...]
#
# The target runs in $out on its work corpus $out/corpus-TARGET (what it
# finds accumulates there across runs) and the seed directory, which is
# only read.  Its log is $out/TARGET.log; a crash, leak, timeout or
# out-of-memory input is $out/TARGET-<kind>-<sha1>.  One line is printed,
# "TARGET: ok, N executions, 0 crashes" or "TARGET: FAILED ...", and
# status is set to 1 on a failure (the caller exits with $status).

status=0

fuzz_run() {
	t=$1 seeds=$2 max_len=$3
	shift 3
	mkdir -p "$out/corpus-$t"
	touch "$out/.start-$t"
	set +e
	(cd "$out" && "./$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
		-artifact_prefix="$out/$t-" "$@" "corpus-$t" "$seeds") \
		>"$out/$t.log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	# artifacts of this run only (earlier ones stay for inspection)
	crashes=$(find "$out" -maxdepth 1 -name "$t-*" -newer "$out/.start-$t" \
		\( -name "$t-crash-*" -o -name "$t-leak-*" -o \
		-name "$t-timeout-*" -o -name "$t-oom-*" \) | wc -l)
	if [ "$rc" = 0 ]; then
		echo "$t: ok, ${execs:-?} executions, $crashes crashes"
	else
		status=1
		echo "$t: FAILED (exit $rc), ${execs:-?} executions, see $out/$t.log"
		tail -n 40 "$out/$t.log"
	fi
}
