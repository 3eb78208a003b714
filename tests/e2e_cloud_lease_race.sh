#!/bin/sh
# e2e_cloud_lease_race.sh - two stores started at once on one free s3
# prefix race for its writer lease; the conditional create of the lease
# (If-None-Match: *, cloud_target_put_new) decides: exactly one mounts,
# the other is refused with a message naming the first (its pid), every
# round.  s3rver ignores If-None-Match, so it sits behind
# tests/cloud_cond_proxy.js, which honours it as S3 does and holds the two
# conditional PUTs until both arrived (BARRIER=2): both stores have read
# the lease absent, the race is the same each round.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

ROUNDS=${CARAVAN_LEASE_ROUNDS:-4}
s3_setup
check "s3rver starts" s3_start
BARRIER=2 node "$(dirname "$0")/cloud_cond_proxy.js" "$PORT" >"$T/proxy.port" 2>"$T/proxy.log" &
echo "$! $T/none" >>"$T/mounts" # stopped by the cleanup
check "the conditional proxy starts" wait_for test -s "$T/proxy.port"
PPORT=$(head -1 "$T/proxy.port")

# start_one STORE MNT LOG URL: a mount in the background; its pid in PID
start_one() {
	mkdir -p "$2"
	"$CARAVANFS" -f -o "cloud=$4,s3_endpoint=http://127.0.0.1:$PPORT,s3_region=us-east-1,s3_path_style,backup_delay_ms=50" \
		"$1" "$2" 2>"$3" &
	PID=$!
	echo "$PID $2" >>"$T/mounts"
}

# settled PID MNT: the mount is live, or its daemon has exited
settled() {
	mountpoint -q "$2" || ! kill -0 "$1" 2>/dev/null
}

r=1
wins=0
while [ $r -le "$ROUNDS" ]; do
	url=s3://caravan/race$r
	start_one "$T/a$r" "$T/ma$r" "$T/a$r.log" "$url"
	pa=$PID
	start_one "$T/b$r" "$T/mb$r" "$T/b$r.log" "$url"
	pb=$PID
	if ! wait_for settled "$pa" "$T/ma$r" || ! wait_for settled "$pb" "$T/mb$r"; then
		not_ok "round $r: both mounts settle"
	fi
	if mountpoint -q "$T/ma$r"; then won=a wpid=$pa lost=b lpid=$pb; else won=b wpid=$pb lost=a lpid=$pa; fi
	if mountpoint -q "$T/m$won$r" && ! mountpoint -q "$T/m$lost$r"; then
		wins=$((wins + 1))
		ok "round $r: exactly one store mounts"
	else
		not_ok "round $r: exactly one store mounts" "a: $(tail -2 "$T/a$r.log") b: $(tail -2 "$T/b$r.log")"
		umount_fs "$T/m$lost$r"
	fi
	if wait "$lpid"; then
		not_ok "round $r: the other exits with an error"
	else
		ok "round $r: the other exits with an error"
	fi
	if grep -q "is written by another store (.*pid $wpid," "$T/$lost$r.log"; then
		ok "round $r: its message names the first"
	else
		not_ok "round $r: its message names the first" "$(grep -i lease "$T/$lost$r.log" | head -3) (winner pid $wpid)"
	fi
	mkdir -p "$T/m$won$r/sp" && echo '{"round":'$r'}' >"$T/m$won$r/sp/doc"
	check "round $r: the winner writes and stops cleanly" umount_fs "$T/m$won$r"
	r=$((r + 1))
done
check_eq "every round had one winner" "$wins" "$ROUNDS"
stats=$(curl -s "http://127.0.0.1:$PPORT/__stats")
check_eq "each round one conditional create was refused (412)" "$stats" "{\"conditional\":$((2 * ROUNDS)),\"refused\":$ROUNDS}"

e2e_finish
