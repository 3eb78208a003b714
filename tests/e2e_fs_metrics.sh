#!/bin/sh
# e2e_fs_metrics.sh - metrics for a real scraper: -o metrics_listen serves
# GET /metrics (labelled with store and mountpoint, with
# caravanfs_build_info), promtool accepts it and MOUNT/.caravan-metrics, a
# real Prometheus (Debian's, started here on loopback with its own config
# and storage) scrapes the mount for several intervals and answers queries
# about our series; other paths are 404, a port that cannot be bound fails
# the mount with a message, and the endpoint is gone after unmount.
. "$(dirname "$0")/e2e/lib.sh"

for p in prometheus promtool curl node; do
	if ! command -v "$p" >/dev/null 2>&1; then
		not_ok "$p is needed (scripts/deps.sh installs it)"
		e2e_finish
		exit 1
	fi
done
free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
PROMPID=""
trap '[ -n "$PROMPID" ] && kill "$PROMPID" 2>/dev/null; wait; e2e_cleanup' EXIT

check "--help lists metrics_listen" sh -c '"$1" --help | grep -q "metrics_listen=ADDR:PORT"' sh "$CARAVANFS"
"$CARAVANFS" -f -o cloud=none,metrics_listen=1.2.3:x "$T/bad" "$T" 2>"$T/bad.log"
check "a bad metrics_listen is refused" test $? -ne 0
check "... with a message naming it" grep -q "invalid value in option 'metrics_listen=1.2.3:x'" "$T/bad.log"
check_fails "... and leaves no store behind" test -e "$T/bad"

# A mount point whose name needs escaping in a label value.
S=$T/store
M="$T/mnt \"q\""
: >"$T/caravanfs.log"
mount_fs "$S" "$M" "metrics_listen=0" || not_ok "mount with metrics_listen"
ADDR=$(sed -n 's|.*serving metrics on http://\([^/]*\)/metrics.*|\1|p' "$T/caravanfs.log" | tail -1)
check "the endpoint's address is logged" test -n "$ADDR"
case "$ADDR" in 127.0.0.1:*) ok "a port alone listens on loopback" ;; *) not_ok "a port alone listens on loopback" "$ADDR" ;; esac
URL="http://$ADDR/metrics"
mkdir "$M/sp"
for i in 1 2 3; do echo "{\"n\":$i}" >>"$M/sp/doc"; done

check "GET /metrics answers 200" curl -sf -o "$T/scrape" -D "$T/headers" "$URL"
check "... as Prometheus text 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers"
check "... with caravanfs_build_info" grep -q "^caravanfs_build_info{version=\"[0-9][^\"]*\",store=\"$S\",mountpoint=\"$T/mnt \\\\\"q\\\\\"\"} 1\$" "$T/scrape"
check "... the series carry store and mountpoint labels" grep -q "^caravanfs_appends_total{store=\"$S\",mountpoint=\"$T/mnt \\\\\"q\\\\\"\"} 3\$" "$T/scrape"
check "... the histogram too" grep -q "^caravanfs_fsync_seconds_bucket{le=\"+Inf\",store=\"$S\"," "$T/scrape"
check_eq "... and every series of the file in the mount" \
	"$(grep -v '^#' "$T/scrape" | sed 's/{.*}//; s/ .*//' | sort | tr '\n' ' ')" \
	"$(grep -v '^#' "$M/.caravan-metrics" | sed 's/{.*}//; s/ .*//' | sort | tr '\n' ' ')"
check "promtool check metrics passes on the endpoint" sh -c 'promtool check metrics <"$1"' sh "$T/scrape"
check "promtool check metrics passes on .caravan-metrics" sh -c 'promtool check metrics <"$1"' sh "$M/.caravan-metrics"
check_eq "another path is 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/")" 404
check_eq "... so is a near miss" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/x")" 404
check_eq "POST is 405" "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL")" 405
check_eq "HEAD is 200" "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL")" 200

# ---- a real Prometheus scrapes the mount ----
PPORT=$(free_port)
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: caravanfs
    static_configs:
      - targets: ['$ADDR']
EOF
check "promtool accepts the scrape config" promtool check config "$T/prometheus.yml"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$T/prometheus.log" 2>&1 &
PROMPID=$!
Q="http://127.0.0.1:$PPORT/api/v1/query"
# query PROMQL: the API's answer (JSON) in $T/q
query() {
	curl -sf -G --data-urlencode "query=$1" "$Q" >"$T/q"
}
# has PROMQL PATTERN: the answer of PROMQL matches PATTERN
has() {
	query "$1" && grep -q "$2" "$T/q"
}
check "prometheus answers queries" wait_for query 'up'
check "prometheus scrapes the mount" wait_for has 'up{job="caravanfs"} == 1' '"value":\[[0-9.]*,"1"\]'
check "... for several intervals" wait_for has 'count_over_time(caravanfs_build_info[1m]) >= 3' '"result":\[{'
check "the query API returns caravanfs_build_info" has 'caravanfs_build_info' '"__name__":"caravanfs_build_info"'
check "... with its version" grep -q '"version":"[0-9][^"]*"' "$T/q"
check "... naming store and mount point" grep -q "\"mountpoint\":\"$T/mnt \\\\\"q\\\\\"\"" "$T/q"
echo '{"n":4}' >>"$M/sp/doc"
check "a new append reaches prometheus" wait_for has "caravanfs_appends_total{store=\"$S\"}" '"value":\[[0-9.]*,"4"\]'
check "the fsync histogram is queryable" has 'caravanfs_fsync_seconds_count' '"result":\[{'
check "the scrapes were clean" has 'scrape_samples_scraped{job="caravanfs"} > 50' '"result":\[{'
kill "$PROMPID"
wait "$PROMPID"
PROMPID=""

# ---- a port in use fails the mount, with a message ----
: >"$T/second.log"
mkdir -p "$T/mnt2"
"$CARAVANFS" -f -o "cloud=none,metrics_listen=$ADDR" "$T/store2" "$T/mnt2" 2>"$T/second.log"
check "a metrics port in use fails the mount" test $? -ne 0
check "... with a message" grep -q "cannot listen for metrics on '$ADDR': Address already in use" "$T/second.log"
check_fails "... and nothing is mounted" mountpoint -q "$T/mnt2"

# ---- unmount stops the endpoint ----
# (umount_fs finds the daemon by a mount point without spaces: wait here)
check "clean unmount" fusermount3 -u "$M"
wait "$MOUNT_PID"
check_eq "... the daemon exits 0" "$?" 0
check "... logs that the endpoint stopped" grep -q "metrics endpoint on '$ADDR' stopped" "$T/caravanfs.log"
check_fails "... and nothing answers on its port" curl -s -o /dev/null "$URL"

e2e_finish
