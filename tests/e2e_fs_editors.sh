#!/bin/sh
# e2e_fs_editors.sh - programs that write documents the way people do:
# a failed overwrite leaves no trace (a name it created is gone again, an
# existing document keeps its content), and real editors (vim, nano,
# emacs) save a document in place with exit 0, leaving no swap, backup
# or lock file behind as a document (docs/semantics.md, "Editors").
. "$(dirname "$0")/e2e/lib.sh"

M=$T/m
if ! mount_fs "$T/store" "$M"; then
	not_ok "mount"
	e2e_finish
	exit 1
fi
mkdir "$M/s"

# ---- a failed create or overwrite leaves nothing behind

check_fails "echo notjson > new fails" sh -c "echo notjson >'$M/s/new'"
check_eq "... with EINVAL from the write" \
	"$("$TOOL" writes "$M/s/new" create 'notjson\n')" "EINVAL close:OK"
check_eq "... and leaves no document" "$(ls -A "$M/s")" ""
check_fails "... not even by its name" test -e "$M/s/new"
check "the name can be created afterwards" sh -c "echo '{\"a\":1}' >'$M/s/new'"
check_eq "... and holds its value" "$(cat "$M/s/new")" '{"a":1}'
check_fails "a bad overwrite of an existing document fails" sh -c "echo bad >'$M/s/new'"
check_eq "... and the document keeps its content" "$(cat "$M/s/new")" '{"a":1}'
check_fails "a value then garbage fails" sh -c "printf '{\"b\":2} x' >'$M/s/new'"
check_eq "... and the value before the garbage stands" "$(cat "$M/s/new")" '{"b":2}'
check_fails "a valid value then garbage on a new name fails" sh -c "printf '{\"c\":3} x' >'$M/s/made'"
check_eq "... and the document stays with the value" "$(cat "$M/s/made")" '{"c":3}'
check_eq "an incomplete value on a new name fails at close" \
	"$("$TOOL" writes "$M/s/cut" create '{"c":')" "OK close:EINVAL"
check_fails "... and leaves no document" test -e "$M/s/cut"
check "truncating with no value empties an existing document" sh -c ": >'$M/s/made'"
check_eq "... to {}" "$(cat "$M/s/made")" '{}'
check "a create with nothing written holds {}" sh -c ": >'$M/s/empty'"
check_eq "... {}" "$(cat "$M/s/empty")" '{}'
check_eq "only the good names are listed" "$(ls "$M/s" | tr '\n' ' ')" "empty made new "

if [ -n "${E2E_ONLY_CREATES:-}" ]; then
	check "clean unmount" umount_fs "$M"
	check "fsck" "$CARAVAN" fsck "$T/store"
	e2e_finish
	exit $?
fi

# ---- editors ----
# Each edits $M/s/ed in place from inside the space (scratch files are
# made next to the file), with a HOME of its own and no user config.
ED=$M/s/ed
EH=$T/home
mkdir -p "$EH"
echo '{"n":0,"who":"nobody"}' >"$ED"
# stray: names in the space other than the documents made above
stray() {
	ls -A "$M/s" | grep -vxE 'empty|made|new|ed' | tr '\n' ' '
}

# vim in ex mode (-es), with vim's defaults (swap file, writebackup)
(cd "$M/s" && HOME=$EH timeout 60 vim -u DEFAULTS -i NONE -N -es \
	-c '%s/"n":0/"n":1/' -c 'wq' ed) >"$T/vim.out" 2>&1
check_eq "vim -es edits a document and exits 0" "$?" 0
check_eq "... the document holds the edit" "$(cat "$ED")" '{"n":1,"who":"nobody"}'
check_eq "... no swap, backup or probe file is left as a document" "$(stray)" ""
check_eq "... and it printed nothing" "$(cat "$T/vim.out")" ""
(cd "$M/s" && HOME=$EH timeout 60 vim -u DEFAULTS -i NONE -N -es \
	-c '%s/"n":1/"n":2/' -c 'wq' ed) >"$T/vim.out" 2>&1
check_eq "a second vim finds no swap file (exit 0)" "$?" 0
check_eq "... and saves" "$(cat "$ED")" '{"n":2,"who":"nobody"}'
check_fails "a vim swap name cannot be created" touch "$M/s/.ed.swp"

# emacs in batch mode (lock file, backup on first save)
(cd "$M/s" && HOME=$EH timeout 120 emacs --batch -Q ed --eval \
	'(progn (goto-char (point-min)) (search-forward "\"n\":2") (replace-match "\"n\":3") (save-buffer))') \
	>"$T/emacs.out" 2>&1
check_eq "emacs --batch edits a document and exits 0" "$?" 0
check_eq "... the document holds the edit" "$(cat "$ED")" '{"n":3,"who":"nobody"}'
check_eq "... no lock or auto-save file is left as a document" "$(stray)" ""
check_fails "... emacs's lock name cannot be created" touch "$M/s/.#ed"
check_fails "... nor an auto-save name" touch "$M/s/#ed#"

# nano, interactive, driven through tmux: move to the digit, replace it,
# ^O Enter to write, ^X to leave; the exit status lands in a file
# nano_edit ARGS...: one nano session on ed; its exit status or "hung"
nano_edit() {
	rm -f "$T/nano.rc"
	(cd "$M/s" && HOME=$EH TERM=xterm tmux -L "caravan-e2e-$$" -f /dev/null \
		new-session -d -x 80 -y 24 "nano --ignorercfiles $*; echo \$? >'$T/nano.rc'")
	ne_t="tmux -L caravan-e2e-$$"
	# wait for nano to draw its file, then type
	wait_for sh -c "$ne_t capture-pane -p | grep -q 'who'" || { echo hung; return; }
	$ne_t send-keys Right Right Right Right Right Delete "$NANO_DIGIT" C-o
	wait_for sh -c "$ne_t capture-pane -p | grep -q 'File Name to Write'" || { echo hung; return; }
	$ne_t send-keys Enter
	wait_for sh -c "$ne_t capture-pane -p | grep -q 'Wrote'" || { echo hung; return; }
	$ne_t send-keys C-x
	wait_for test -s "$T/nano.rc" || { $ne_t kill-server; echo hung; return; }
	# the tmux server was started in the mount: it must go before the
	# unmount (it exits by itself once its session is over, a moment
	# later; umount_fs waits for that)
	$ne_t kill-server 2>/dev/null
	cat "$T/nano.rc"
}
NANO_DIGIT=4
check_eq "nano edits a document and exits 0" "$(nano_edit ed)" 0
check_eq "... the document holds the edit" "$(cat "$ED")" '{"n":4,"who":"nobody"}'
check_eq "... nothing stray" "$(stray)" ""
NANO_DIGIT=5
check_eq "nano --locking saves too (its lock file is refused, it says so and goes on)" \
	"$(nano_edit --locking ed)" 0
check_eq "... the document holds the edit" "$(cat "$ED")" '{"n":5,"who":"nobody"}'
check_eq "... no lock file is left as a document" "$(stray)" ""

check "clean unmount" umount_fs "$M"
check "fsck" "$CARAVAN" fsck "$T/store"
e2e_finish
