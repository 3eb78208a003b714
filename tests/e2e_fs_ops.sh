#!/bin/sh
# e2e_fs_ops.sh - what make install puts beside the programs, checked
# with the real tools: the manual pages (every option of `caravanfs
# --help` and every subcommand and option of `caravan --help` documented,
# rendered by man(1) without a warning), the bash completions (run by
# bash with bash-completion), and the systemd unit (systemd-analyze
# verify; its ExecStart and ExecStartPre lines run as systemd would run
# them, with NOTIFY_SOCKET pointing at a listener that checks READY=1
# comes when the mount is live and STOPPING=1 at unmount, also after a
# kill -9 and a restart).  The package itself: tests/e2e_package.sh.
. "${srcdir:-.}/tests/e2e/lib.sh"
SRC=${srcdir:-.}
LISTEN=$BUILD/tests/e2e/notify_listen

# ---- manual pages

opts=$("$CARAVANFS" --help |
	sed -n 's/^ *\(-d, \)\{0,1\}-o \([a-z0-9_]*\).*/\2/p')
missing=""
for o in $opts; do
	grep -Eq "^\.It .*Cm $o( |$)" "$SRC/ops/caravanfs.8" ||
		missing="$missing $o"
done
check_eq "caravanfs(8) documents every -o option of --help ($(echo $opts | wc -w))" \
	"$missing" ""

subs=$("$CARAVAN" --help | awk '{ for (i = 1; i < NF; i++) if ($i == "caravan") print $(i + 1) }' | sort -u)
missing=""
for s in $subs; do
	grep -Eq "^\.It Cm $s( |$)" "$SRC/ops/caravan.8" || missing="$missing $s"
done
check_eq "caravan(8) documents every subcommand of --help ($(echo $subs | wc -w))" \
	"$missing" ""
flags=$("$CARAVAN" --help | grep -oE -- '--[a-z0-9-]+' | sort -u)
missing=""
for f in $flags; do
	grep -Fq "Fl \\${f#-}" "$SRC/ops/caravan.8" || missing="$missing $f"
done
check_eq "caravan(8) documents every option of --help ($(echo $flags | wc -w))" \
	"$missing" ""

for page in caravanfs caravan; do
	# what lintian runs on a manual page
	warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		man --warnings -E UTF-8 -l -Tutf8 -Z "$SRC/ops/$page.8" 2>&1 >/dev/null)
	check_eq "man renders $page.8 without warnings" "$warn" ""
done
check "man -l shows caravanfs(8) with its options" \
	sh -c "man -l -P cat '$SRC/ops/caravanfs.8' | grep -q 'max_pinned=SIZE'"
check "man -l shows caravan(8) with its exit status" \
	sh -c "man -l -P cat '$SRC/ops/caravan.8' | grep -q 'EXIT STATUS'"

# ---- bash completion

BC=/usr/share/bash-completion/bash_completion
# complete WORD...: what bash completes for the command line WORD...
complete_line() {
	PATH="$BUILD:$PATH" bash -c '
		. "$1" && . "$2" || exit 1
		shift 2
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		f=$(complete -p "$1" | sed "s/.*-F \([^ ]*\) .*/\1/")
		# (compopt complains outside a real completion: ignored)
		$f "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
	' _ "$BC" "$SRC/ops/bash-completion/$1" "$@"
}
check_eq "bash completes 'caravanfs -o ca' to the options of --help" \
	"$(complete_line caravanfs -o ca)" "cache= capacity= "
check_eq "bash completes after a comma in -o" \
	"$(complete_line caravanfs -o cloud=none,max_p)" \
	"cloud=none,max_patch= cloud=none,max_pending= cloud=none,max_pinned= "
check_eq "bash completes 'caravanfs --v'" "$(complete_line caravanfs --v)" \
	"--version "
check_eq "bash completes the subcommands of caravan" \
	"$(complete_line caravan s)" "stats "
check_eq "bash completes the options of a caravan subcommand" \
	"$(complete_line caravan restore --s3-p)" "--s3-path-style "

# ---- the systemd unit

BUILT=$BUILD/ops/caravanfs@.service
UNIT=$T/units/caravanfs@e2e.service
mkdir -p "$T/units" "$T/man/man8"
# systemd-analyze verify wants the programs the unit runs and its manual
# page to exist: the unit as built, with ExecStart pointing into the build
# directory, and MANPATH at our pages.
sed "s|^ExecStart=[^ ]*/caravanfs |ExecStart=$CARAVANFS |" "$BUILT" >"$UNIT"
cp "$SRC/ops/caravanfs.8" "$T/man/man8/"
check "the unit is a template for a Type=notify service that restarts on failure" \
	sh -c "grep -qx 'Type=notify' '$BUILT' && grep -qx 'Restart=on-failure' '$BUILT' &&
		grep -q '^ExecStart=.*/caravanfs -f ' '$BUILT'"
check "systemd-analyze verify accepts caravanfs@.service" \
	sh -c "out=\$(MANPATH='$T/man' SYSTEMD_LOG_LEVEL=warning \
		systemd-analyze verify '$UNIT' 2>&1) && [ -z \"\$out\" ] ||
		{ echo \"\$out\"; exit 1; }"

# The example configuration, pointed at the test's directories.
STORE=$T/store MOUNTPOINT=$T/mnt
OPTIONS=$(sed -n 's/^OPTIONS=//p' "$SRC/ops/caravanfs.conf.example")
mkdir -p "$MOUNTPOINT"
exec_line() {
	sed -n "s/^$1=-\{0,1\}//p" "$UNIT"
}

# start_unit: run the unit's ExecStartPre and ExecStart lines with
# NOTIFY_SOCKET set, as systemd would; MOUNT_PID is the daemon.
start_unit() {
	rm -f "$T/notify.sock"
	"$LISTEN" "$T/notify.sock" "$MOUNTPOINT" 30 >"$T/notify.out" &
	LISTEN_PID=$!
	wait_for test -S "$T/notify.sock" || return 1
	eval "$(exec_line ExecStartPre)" >/dev/null 2>&1
	eval "set -- $(exec_line ExecStart)"
	NOTIFY_SOCKET=$T/notify.sock "$@" 2>>"$T/caravanfs.log" &
	MOUNT_PID=$!
	echo "$MOUNT_PID $MOUNTPOINT" >>"$T/mounts"
	wait_for grep -q '^mounted=' "$T/notify.out"
}

check "the unit's ExecStart reports READY=1 through NOTIFY_SOCKET" start_unit
check_eq "the mount is live when READY=1 arrives" \
	"$(grep '^mounted=' "$T/notify.out")" "mounted=yes"
check "STATUS= names the store" grep -q "^STATUS=serving '$STORE'" "$T/notify.out"
mountpoint -q "$MOUNTPOINT" && mkdir "$MOUNTPOINT/s" &&
	echo '{"a":1}' >"$MOUNTPOINT/s/d"
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID"
check_eq "SIGTERM (systemctl stop) ends caravanfs with status 0" "$?" 0
wait "$LISTEN_PID"
check_eq "STOPPING=1 arrives at unmount" "$?" 0
check_fails "the mount is gone after SIGTERM" mountpoint -q "$MOUNTPOINT"
check "the store is clean after SIGTERM" "$CARAVAN" fsck "$STORE"

# Restart=on-failure after a crash: ExecStartPre clears the dead mount.
start_unit
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null
kill "$LISTEN_PID" 2>/dev/null
wait "$LISTEN_PID" 2>/dev/null
check "after kill -9, ExecStartPre and ExecStart mount again (READY=1)" start_unit
check_eq "the restarted mount serves what was written" \
	"$(mountpoint -q "$MOUNTPOINT" && cat "$MOUNTPOINT/s/d")" '{"a":1}'
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID"
check_eq "the restarted caravanfs stops with status 0" "$?" 0
wait "$LISTEN_PID"

# ---- a start that fails creates nothing (issue 15 item 11)

# start_fails NAME STORE MOUNTPOINT OPTIONS [-f]: caravanfs fails with
# status 1, one error line naming the program, and STORE does not exist
start_fails() {
	"$CARAVANFS" ${5:-} -o "$4" "$2" "$3" >"$T/start.out" 2>&1
	sf_rc=$?
	check_eq "$1: status 1" "$sf_rc" 1
	check_fails "$1: the store directory is not left behind" test -e "$2"
	check "$1: the error names caravanfs" \
		grep -q '^caravanfs: ' "$T/start.out"
}
mkdir -p "$T/fail/mnt"
touch "$T/fail/file"
start_fails "an unknown -o option" "$T/fail/new1" "$T/fail/mnt" cloud=none,no_such_opt=1 -f
check_eq "... libfuse's complaint is one line" \
	"$(grep -c "unknown option(s): .-o no_such_opt=1'" "$T/start.out")" 1
start_fails "an unknown option, daemonized" "$T/fail/new1" "$T/fail/mnt" cloud=none,no_such_opt=1
start_fails "a bad option value" "$T/fail/new2" "$T/fail/mnt" cloud=none,capacity=zz -f
start_fails "a missing mount point" "$T/fail/new3" "$T/fail/nowhere" cloud=none -f
start_fails "a mount point that is a file" "$T/fail/new4" "$T/fail/file" cloud=none -f
check "... says so" grep -q "Not a directory" "$T/start.out"
start_fails "a store the disk cannot hold" "$T/fail/deep/new5" "$T/fail/mnt" cloud=none,capacity=1000T -f
check_eq "... the parents mkdir -p made go too" "$(ls "$T/fail")" "file
mnt"
# a port in use: held by a listener of ours for the two starts
node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => console.log(s.address().port));' >"$T/port" &
PORT_PID=$!
wait_for test -s "$T/port"
PORT=$(cat "$T/port")
start_fails "a metrics port in use" "$T/fail/new6" "$T/fail/mnt" "cloud=none,metrics_listen=127.0.0.1:$PORT" -f
check "... says so" grep -q "Address already in use" "$T/start.out"
check_fails "... and nothing was mounted" mountpoint -q "$T/fail/mnt"
start_fails "a metrics port in use, daemonized" "$T/fail/new6" "$T/fail/mnt" "cloud=none,metrics_listen=127.0.0.1:$PORT"
kill "$PORT_PID" 2>/dev/null
wait "$PORT_PID" 2>/dev/null

# ---- capacity= on an existing store (issue 15 item 12)

CAP=$T/cap
mount_fs "$CAP/store" "$CAP/mnt" capacity=8M
mkdir "$CAP/mnt/s" && echo '{"kept":1}' >"$CAP/mnt/s/d"
umount_fs "$CAP/mnt"
capacity() { "$CARAVAN" stats "$1" --json | sed 's/.*"capacity_bytes":\([0-9]*\).*/\1/'; }
check_eq "a new store has the capacity= it was made with" "$(capacity "$CAP/store")" 8388608
: >"$T/caravanfs.log"
check "capacity=32M on the 8M store mounts" mount_fs "$CAP/store" "$CAP/mnt" capacity=32M
check_eq "... and the store grew to it" "$(capacity "$CAP/store")" 33554432
check_eq "... with its documents" "$(cat "$CAP/mnt/s/d")" '{"kept":1}'
check "... saying so" grep -q "grew to 33554432 bytes" "$T/caravanfs.log"
umount_fs "$CAP/mnt"
check_eq "the growth persists" "$(capacity "$CAP/store")" 33554432
: >"$T/caravanfs.log"
check "capacity=16M on the 32M store mounts" mount_fs "$CAP/store" "$CAP/mnt" capacity=16M
check "... saying the store never shrinks" grep -q "capacity=16777216 is below the capacity of store .*never shrinks" "$T/caravanfs.log"
umount_fs "$CAP/mnt"
check_eq "... and it keeps its size" "$(capacity "$CAP/store")" 33554432
"$CARAVANFS" -f -o cloud=none,capacity=1000T "$CAP/store" "$CAP/mnt" >"$T/start.out" 2>&1
check_eq "a growth the disk cannot hold fails the mount" "$?" 1
check "... saying why" grep -q "cannot grow store .*capacity=" "$T/start.out"
check_fails "... with nothing mounted" mountpoint -q "$CAP/mnt"
check_eq "... and the store keeps its size" "$(capacity "$CAP/store")" 33554432
check "... clean" "$CARAVAN" fsck "$CAP/store"
mount_fs "$CAP/store" "$CAP/mnt"
check_eq "... and its documents" "$(cat "$CAP/mnt/s/d")" '{"kept":1}'
check_eq "caravan grow of a mounted store: status 2 (unmount first)" \
	"$("$CARAVAN" grow "$CAP/store" 64M 2>/dev/null; echo $?)" 2
umount_fs "$CAP/mnt"
check_eq "caravan grow DIR 64M: status 0" "$("$CARAVAN" grow "$CAP/store" 64M >/dev/null 2>&1; echo $?)" 0
check_eq "... the store has it" "$(capacity "$CAP/store")" 67108864
check_eq "caravan grow to a smaller size: status 2, the store keeps its size" \
	"$("$CARAVAN" grow "$CAP/store" 1M 2>/dev/null; echo $?) $(capacity "$CAP/store")" "2 67108864"
check_eq "caravan grow of no store: status 2, nothing made" \
	"$("$CARAVAN" grow "$CAP/none" 1M 2>/dev/null; echo $?) $(test -e "$CAP/none" && echo made)" "2 "
check "... clean" "$CARAVAN" fsck "$CAP/store"

# ---- caravan restore's progress (issue 15 item 13)

RS=$T/restore
mount_fs "$RS/store" "$RS/mnt" "cloud=dir:$RS/cloud,backup_delay_ms=20"
mkdir "$RS/mnt/a" "$RS/mnt/b"
i=0
while [ $i -lt 25 ]; do
	echo "{\"i\":$i}" >"$RS/mnt/a/d$i"
	echo "{\"j\":$i}" >"$RS/mnt/b/e$i"
	i=$((i + 1))
done
check "the documents are uploaded" wait_for sh -c '[ "$(ls "$1/a" "$1/b" 2>/dev/null | grep -c "^[de]")" = 50 ]' sh "$RS/cloud"
umount_fs "$RS/mnt"
CARAVAN_PROGRESS_MS=0 "$CARAVAN" restore --cloud "dir:$RS/cloud" "$RS/r1" \
	>"$RS/out" 2>"$RS/err"
check_eq "restore not on a terminal: status 0" "$?" 0
check_eq "... one plain progress line per interval (here: per document)" \
	"$(grep -c '^caravan: restore: [0-9]*/50 documents, [0-9.]* [KMG]*i*B, [0-9.]* documents/s, ' "$RS/err")" 50
check "... the last one says it is done, with the time it took" \
	sh -c 'tail -1 "$1" | grep -q "^caravan: restore: 50/50 documents, .* took [0-9]*:[0-9][0-9]$"' sh "$RS/err"
check "... the others give an ETA" grep -q '^caravan: restore: 1/50 documents, .* ETA ' "$RS/err"
check_eq "... no redrawing (no carriage return, no escape)" \
	"$(tr -d '\n' <"$RS/err" | tr -cd '\r\033' | wc -c)" 0
check_eq "... nothing but progress on stderr (no per-document or pending lines)" \
	"$(grep -vc '^caravan: restore: ' "$RS/err")" 0
check_eq "... and the summary on stdout" "$(cat "$RS/out")" \
	"50 documents restored from 'dir:$RS/cloud', 0 failed"
"$CARAVAN" restore --cloud "dir:$RS/cloud" "$RS/r2" >/dev/null 2>"$RS/err2"
check_eq "restore with the default interval: only the final line on a quick run" \
	"$(grep -c '^caravan: restore: 50/50 documents' "$RS/err2") $(wc -l <"$RS/err2")" "1 1"
# on a terminal (script(1) gives it one): one line redrawn in place
script -qec "'$CARAVAN' restore --cloud 'dir:$RS/cloud' '$RS/r3' 2>&1 >/dev/null" /dev/null >"$RS/tty"
check "restore on a terminal redraws one line (carriage return, clear to end)" \
	grep -q "$(printf '\r')\[####################\] 50/50 documents" "$RS/tty"
check_eq "... which ends with one newline" \
	"$(tr -d '\r' <"$RS/tty" | grep -c 'documents')" 1
check "the restored store is clean" "$CARAVAN" fsck "$RS/r1"

e2e_finish
