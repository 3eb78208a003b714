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
