#!/bin/sh
# e2e_fs_cloud_hostile.sh - a hostile cloud target through real mounts
# (issue 12, the target's side): a dir: target whose entries are symlinks
# never makes the mount read, write, list or delete outside the target;
# a listing that never ends does not keep SIGTERM or an unmount waiting;
# an object larger than the store could hold is refused before its body
# is read; a server certificate that does not verify fails the mount; a
# name with a newline cannot forge a log line; a restore whose download
# stalls after its headers does not keep SIGTERM waiting, and imports
# nothing.  The misbehaving S3
# endpoint is tests/cloud_hostile_server.js on a loopback port.
. "$(dirname "$0")/e2e/lib.sh"

SERVER=$(cd "$(dirname "$0")" && pwd)/cloud_hostile_server.js
HPID=""
# hostile_start MODE [ARGS...]: the server in the background; its port in
# HPORT.
hostile_start() {
	: >"$T/hport"
	BASE=e2e/ node "$SERVER" "$@" >"$T/hport" 2>>"$T/hostile.log" &
	HPID=$!
	wait_for test -s "$T/hport" || return 1
	HPORT=$(head -1 "$T/hport")
}
hostile_stop() {
	if [ -n "$HPID" ]; then
		kill "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
	fi
	HPID=""
}
hostile_lists() {
	curl -s "http://127.0.0.1:$HPORT/__stats" | sed 's/.*"lists":\([0-9]*\).*/\1/'
}
# A daemon that does not stop is killed at the end, so the script ends.
hostile_cleanup() {
	hostile_stop
	while read -r p m; do kill -9 "$p" 2>/dev/null; done <"$T/mounts"
	e2e_cleanup
}
trap hostile_cleanup EXIT
export AWS_ACCESS_KEY_ID=HOSTILE AWS_SECRET_ACCESS_KEY=HOSTILE
unset AWS_SESSION_TOKEN AWS_PROFILE

# wait_gone PID SECONDS: poll until the process has exited
wait_gone() {
	wg_i=0
	while kill -0 "$1" 2>/dev/null; do
		wg_i=$((wg_i + 1))
		if [ $wg_i -ge $(($2 * 20)) ]; then return 1; fi
		sleep 0.05
	done
	return 0
}

# ---- dir: a target that holds symlinks ----
C=$T/cloud
OUT=$T/elsewhere
A=$T/a
mkdir -p "$C" "$OUT/x"
echo '{"outside":true}' >"$OUT/x/victim"
echo 'keep me' >"$OUT/x/doc"
mount_fs "$T/store-a" "$A" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target"
mkdir "$A/lnk" "$A/sp"
echo '{"local":1}' >"$A/lnk/doc"
echo '{"n":1}' >"$A/sp/real"
check "the documents are uploaded" wait_for test -f "$C/lnk/doc" -a -f "$C/sp/real"
check "clean unmount" umount_fs "$A"
# Now the space directory lnk is a link out of the target (one the store
# has locally, lnk, and one it has not, lnk2), and an object is a link out.
rm -r "$C/lnk"
ln -s "$OUT/x" "$C/lnk"
ln -s "$OUT/x" "$C/lnk2"
ln -s "$OUT/x/victim" "$C/sp/obj"
mount_fs "$T/store-a" "$A" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target holding links"
check_eq "a linked space is not listed" "$(ls "$A" | tr '\n' ' ')" "lnk sp "
check_eq "a linked space lists nothing from outside" "$(ls "$A/lnk" | tr '\n' ' ')" "doc "
check_eq "a linked object is not listed" "$(ls "$A/sp" | tr '\n' ' ')" "real "
check_eq "nothing is restored from outside" "$("$TOOL" writes "$A/lnk/victim" plain '{}')" "open:ENOENT"
check_eq "... nor through a linked object" "$("$TOOL" writes "$A/sp/obj" plain '{}')" "open:ENOENT"
echo '{"new":1}' >"$A/lnk/new"
check "an upload into a linked space is refused and logged" wait_for grep -q "refusing 'dir:$C/lnk': not a directory" "$T/caravanfs.log"
check "... and writes nothing outside" test ! -e "$OUT/x/new"
rm "$A/lnk/doc"
check "a delete in a linked space is refused and logged" wait_for grep -q "cannot delete the cloud copy of 'lnk/doc'" "$T/caravanfs.log"
check "... and removes nothing outside" test -f "$OUT/x/doc"
check_eq "the outside files are intact" "$(cat "$OUT/x/victim" "$OUT/x/doc" | tr '\n' ' ')" '{"outside":true} keep me '
check "the links are still there" test -L "$C/lnk" -a -L "$C/sp/obj"
check "clean unmount" umount_fs "$A"
check "new target directories are private" test "$(stat -c %a "$C/sp")" = 700 -a "$(stat -c %a "$C/sp/real")" = 600

# ---- a listing that never ends ----
hostile_start endless || not_ok "the hostile server starts"
S3O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$HPORT,s3_region=us-east-1,s3_path_style"
B=$T/b
mount_fs "$T/store-b" "$B" "$S3O" || not_ok "mount against an endless listing"
BPID=$MOUNT_PID
ls "$B" >"$T/ls1.out" 2>&1 &
LSPID=$!
check "the listing is under way" wait_for sh -c 'test "$(curl -s "http://127.0.0.1:$1/__stats" | sed "s/.*\"lists\":\([0-9]*\).*/\1/")" -ge 5' sh "$HPORT"
kill -TERM "$BPID"
check "SIGTERM stops the daemon during an endless listing" wait_gone "$BPID" 20
check "... and the ls returns" wait_gone "$LSPID" 20
if kill -0 "$BPID" 2>/dev/null; then
	kill -9 "$BPID" # (a stat of its mount would hang)
	fusermount3 -u -z "$B"
fi
check_fails "... and the mount is gone" mountpoint -q "$B"
wait "$BPID" 2>/dev/null
mount_fs "$T/store-b" "$B" "$S3O" || not_ok "mount again against an endless listing"
BPID=$MOUNT_PID
ls "$B" >"$T/ls2.out" 2>&1 &
LSPID=$!
check "an endless listing ends by its bounds" wait_gone "$LSPID" 120
check "... with a log line" grep -q "more pages than a listing may have" "$T/caravanfs.log"
if kill -0 "$LSPID" 2>/dev/null; then
	kill -9 "$BPID"
	fusermount3 -u -z "$B"
fi
check "then the unmount works" umount_fs "$B"
hostile_stop

# ---- an object larger than the store could hold ----
hostile_start huge || not_ok "the hostile server starts"
S3O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$HPORT,s3_region=us-east-1,s3_path_style"
mount_fs "$T/store-c" "$B" "$S3O" || not_ok "mount against a huge object"
check_eq "the huge object is listed" "$(ls "$B/sp" | tr '\n' ' ')" "big "
check_eq "its lookup is refused at once, not downloaded" "$("$TOOL" writes "$B/sp/big" plain '{}')" "open:EFBIG"
check "... logged with the bound derived from max_doc" grep -q "/e2e/sp/big': response larger than" "$T/caravanfs.log"
check "clean unmount" umount_fs "$B"
hostile_stop

# ---- a restore whose download stalls: SIGTERM cuts it ----
hostile_start stallget || not_ok "the hostile server starts"
S3O="cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$HPORT,s3_region=us-east-1,s3_path_style"
mount_fs "$T/store-f" "$B" "$S3O" || not_ok "mount against a stalling download"
BPID=$MOUNT_PID
cat "$B/sp/doc" >"$T/cat.out" 2>"$T/cat.err" &
CATPID=$!
check "the restore's download has stalled" wait_for sh -c 'curl -s "http://127.0.0.1:$1/__stats" | grep -q "\"stalled\":[1-9]"' sh "$HPORT"
kill -TERM "$BPID"
check "SIGTERM stops the daemon during a stalled download" wait_gone "$BPID" 20
check "... and the cat returns" wait_gone "$CATPID" 20
if kill -0 "$CATPID" 2>/dev/null || kill -0 "$BPID" 2>/dev/null; then
	kill -9 "$BPID" 2>/dev/null
	fusermount3 -u -z "$B"
fi
wait "$CATPID"
CATRC=$?
check_fails "... with an error" test "$CATRC" -eq 0
check_eq "... and no bytes" "$(wc -c <"$T/cat.out")" 0
check_fails "... and the mount is gone" mountpoint -q "$B"
wait "$BPID" 2>/dev/null
hostile_stop
mount_fs "$T/store-f" "$B" || not_ok "mount that store without a target"
check "nothing was imported" test ! -e "$B/sp/doc"
check "clean unmount" umount_fs "$B"

# ---- a certificate that does not verify ----
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
	-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
hostile_start tls "$T/cert.pem" "$T/key.pem" || not_ok "the TLS server starts"
mkdir -p "$T/d"
"$CARAVANFS" -f -o "cloud=s3://caravan/e2e,s3_endpoint=https://127.0.0.1:$HPORT,s3_region=us-east-1,s3_path_style" \
	"$T/store-d" "$T/d" 2>"$T/tls.log" &
DPID=$!
echo "$DPID $T/d" >>"$T/mounts"
check "an untrusted certificate fails the mount" wait_gone "$DPID" 30
if kill -0 "$DPID" 2>/dev/null; then
	fusermount3 -u "$T/d" 2>/dev/null || kill -9 "$DPID"
fi
wait "$DPID"
check_fails "... with a non-zero exit" test $? -eq 0
check "... and a message" grep -q "sent a certificate that does not verify" "$T/tls.log"
hostile_stop

# ---- a name with a newline in a log line ----
NL='x
error: forged'
mount_fs "$T/store-e" "$B" || not_ok "mount without a target"
mkdir "$B/$NL"
check "clean unmount" umount_fs "$B"
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mount_fs "$T/store-e" "$B" "cloud=s3://caravan/e2e,s3_endpoint=http://127.0.0.1:$PORT,s3_region=us-east-1,s3_path_style" || not_ok "mount against an unreachable target"
check_eq "a lookup in that space finds nothing (the cloud cannot be asked: the name is free)" "$("$TOOL" writes "$B/$NL/missing" plain '{}')" "open:ENOENT"
check "a listing of that space shows its local names" ls "$B/$NL"
check "the failed cloud listing is logged with the name escaped" grep -q "cannot list 'x%0Aerror%3A%20forged' in the cloud" "$T/caravanfs.log"
check_eq "... and no line is forged" "$(grep -c '^error: forged' "$T/caravanfs.log")" 0
check "clean unmount" umount_fs "$B"

e2e_finish
