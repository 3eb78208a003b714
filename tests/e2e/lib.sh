# lib.sh - shared by tests/e2e_*.sh: a fresh temporary directory,
# mounting caravanfs in the foreground and waiting for the mount by polling
# mountpoint(1), result counting, s3rver on a loopback port, and a trap
# that always unmounts, stops s3rver and cleans up.  Source it, call e2e_finish at the end.
#
# The programs come from the build directory: $CARAVAN_BUILD, by default
# the current directory (make check runs the tests there).
set -u

BUILD=${CARAVAN_BUILD:-$(pwd)}
CARAVANFS=$BUILD/caravanfs
CARAVAN=$BUILD/caravan
TOOL=$BUILD/tests/e2e/e2e_tool
# Owners to chown to: any as root, else our own (a user may only keep them).
if [ "$(id -u)" = 0 ]; then OWNER=1234:5678; else OWNER=$(id -u):$(id -g); fi
E2E_PASS=0
E2E_FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/caravan-e2e.XXXXXX")
: >"$T/mounts"

for p in "$CARAVANFS" "$CARAVAN" "$TOOL"; do
	if [ ! -x "$p" ]; then
		echo "missing program $p (run from the build directory)"
		exit 1
	fi
done

ok() {
	E2E_PASS=$((E2E_PASS + 1))
	echo "ok   - $1"
}

not_ok() {
	E2E_FAIL=$((E2E_FAIL + 1))
	echo "FAIL - $1"
	if [ $# -gt 1 ]; then echo "       $2"; fi
}

# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got [$2] want [$3]"; fi
}

# check NAME COMMAND...: the command succeeds
check() {
	e2e_name=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$e2e_name"; else not_ok "$e2e_name" "$(head -c 600 "$T/out")"; fi
}

# check_fails NAME COMMAND...: the command fails
check_fails() {
	e2e_name=$1
	shift
	if "$@" >"$T/out" 2>&1; then not_ok "$e2e_name" "succeeded"; else ok "$e2e_name"; fi
}

# wait_for COMMAND...: poll until it succeeds (20 s at most)
wait_for() {
	e2e_i=0
	while ! "$@" >/dev/null 2>&1; do
		e2e_i=$((e2e_i + 1))
		if [ $e2e_i -ge 400 ]; then return 1; fi
		sleep 0.05
	done
	return 0
}

# mount_fs STORE MNT [OPTIONS]: caravanfs -f in the background (cloud=none
# unless OPTIONS says otherwise); returns when the mount is live.  The pid
# is in MOUNT_PID.
mount_fs() {
	mkdir -p "$2"
	if [ -n "${3:-}" ]; then e2e_o="cloud=none,$3"; else e2e_o=cloud=none; fi
	"$CARAVANFS" -f -o "$e2e_o" "$1" "$2" 2>>"$T/caravanfs.log" &
	MOUNT_PID=$!
	echo "$MOUNT_PID $2" >>"$T/mounts"
	e2e_i=0
	while ! mountpoint -q "$2"; do
		if ! kill -0 "$MOUNT_PID" 2>/dev/null; then
			echo "caravanfs exited before mounting $2:"
			tail -5 "$T/caravanfs.log"
			return 1
		fi
		e2e_i=$((e2e_i + 1))
		if [ $e2e_i -ge 400 ]; then
			echo "timeout mounting $2"
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# umount_fs MNT: clean unmount; waits for the daemon to exit and returns
# its exit status.
# A program that has just exited may still hold the mount for a moment
# (its last descriptors are closed by the kernel as it goes away): EBUSY
# is tried again for up to 10 s, any other error fails at once.
umount_fs() {
	e2e_pid=$(awk -v m="$1" '$2 == m { p = $1 } END { print p }' "$T/mounts")
	e2e_u=0
	until e2e_err=$(fusermount3 -u "$1" 2>&1); do
		case "$e2e_err" in
		*busy*) ;;
		*) echo "$e2e_err" >&2; return 1 ;;
		esac
		e2e_u=$((e2e_u + 1))
		if [ $e2e_u -ge 100 ]; then
			echo "$e2e_err (still busy after 10 s)" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ -n "$e2e_pid" ]; then
		wait "$e2e_pid"
		return $?
	fi
	return 0
}

# daemon_pid MNT: the pid of the caravanfs process serving MNT (for a
# daemon started without -f); empty when there is none
daemon_pid() {
	for e2e_p in /proc/[0-9]*; do
		e2e_c=$(tr '\0' ' ' <"$e2e_p/cmdline" 2>/dev/null) || continue
		case "$e2e_c" in
		*caravanfs*" $1 "* | *caravanfs*" $1") echo "${e2e_p#/proc/}"; return 0 ;;
		esac
	done
	return 0
}

e2e_cleanup() {
	s3_stop
	while read -r e2e_pid e2e_mnt; do
		if mountpoint -q "$e2e_mnt" 2>/dev/null; then
			fusermount3 -u "$e2e_mnt" 2>/dev/null ||
				fusermount3 -u -z "$e2e_mnt" 2>/dev/null
		fi
		kill "$e2e_pid" 2>/dev/null
	done <"$T/mounts"
	# a dead daemon leaves "transport endpoint not connected" behind
	while read -r e2e_pid e2e_mnt; do
		fusermount3 -u -z "$e2e_mnt" 2>/dev/null
	done <"$T/mounts"
	wait 2>/dev/null
	[ -n "${E2E_KEEP:-}" ] || rm -rf "$T"
}
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM HUP

# e2e_finish: the closing line and the exit status
e2e_finish() {
	if grep -qE 'Sanitizer|runtime error:' "$T/caravanfs.log" 2>/dev/null; then
		not_ok "the daemon's log has sanitizer reports"
		grep -E -A12 'Sanitizer|runtime error:' "$T/caravanfs.log" | head -40
	fi
	if [ $E2E_FAIL -ne 0 ] && [ -s "$T/caravanfs.log" ]; then
		echo "--- caravanfs log (tail)"
		tail -20 "$T/caravanfs.log"
	fi
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[ $E2E_FAIL -eq 0 ]
}

# free_port: a TCP port free on 127.0.0.1 just now
free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# ---- s3rver on a loopback port, for the tests against a real S3 server ----
# s3rver comes from $CARAVAN_S3RVER (its bin/s3rver.js) or tests/s3/
# node_modules (scripts/s3rver-install.sh).  s3_setup fails the test
# (closing line, exit 1) without node or s3rver; else it picks PORT, makes
# $T/s3data and exports s3rver's credentials.  s3_start starts the server
# (bucket "caravan", path-style on 127.0.0.1:$PORT, same data each time)
# and returns once it answers; s3_stop [-9] stops it (e2e_cleanup does it
# too).  The server's pid is S3PID, its output $T/s3rver.log.
S3PID=""
s3_setup() {
	S3JS=${CARAVAN_S3RVER:-$(cd "$(dirname "$0")" && pwd)/s3/node_modules/s3rver/bin/s3rver.js}
	if ! command -v node >/dev/null 2>&1 || [ ! -r "$S3JS" ]; then
		not_ok "node and s3rver are needed (scripts/s3rver-install.sh)"
		e2e_finish
		exit 1
	fi
	PORT=$(free_port)
	mkdir -p "$T/s3data"
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
	unset AWS_SESSION_TOKEN AWS_PROFILE
}

s3_start() {
	node --openssl-legacy-provider "$S3JS" --directory "$T/s3data" \
		--address 127.0.0.1 --port "$PORT" --silent \
		--configure-bucket caravan --service-endpoint localhost \
		>>"$T/s3rver.log" 2>&1 &
	S3PID=$!
	wait_for curl -s -o /dev/null "http://127.0.0.1:$PORT/"
}

s3_stop() {
	if [ -n "$S3PID" ]; then
		kill ${1:-} "$S3PID" 2>/dev/null
		wait "$S3PID" 2>/dev/null
	fi
	S3PID=""
}

# flip_bit FILE OFFSET: invert bit 4 of the byte at OFFSET
flip_bit() {
	fb_v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf '%b' "\\0$(printf %o $((fb_v ^ 16)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
