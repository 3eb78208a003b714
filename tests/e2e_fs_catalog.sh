#!/bin/sh
# e2e_fs_catalog.sh - what the cloud holds, as the mount shows it, against
# a dir: target (issue 12): a space of 100k cloud-only names lists within
# an anti-hang bound that tells linear from quadratic (its speed is
# bench/bench_list.sh's) and a create there asks for one name, not the
# listing (defect 5); a removed space does not come back from a cached
# listing, neither in `ls` nor by a lookup, nor after a remount (defect
# 8); `rmdir` of a space whose documents are all cloud-only is ENOTEMPTY,
# not a removal the next mount undoes; a bogus object is downloaded once,
# then refused from the negative cache (defect 9a).
. "$(dirname "$0")/e2e/lib.sh"

C=$T/cloud
A=$T/a
B=$T/b
ms() { echo $(($(date +%s%N) / 1000000)); }
# Not speed targets (bench/bench_list.sh measures those): bounds that tell
# the old quadratic cost (65-74 s here, more under the sanitizers) from a
# linear one on a loaded CI machine.
if grep -q __asan_init "$CARAVANFS"; then SLOW=2; else SLOW=1; fi
CREATE_MS=$((20000 * SLOW))
LS_MS=$((30000 * SLOW))

# ---- a target holding a space "gone" and a bogus object ----
mount_fs "$T/store-a" "$A" "cloud=dir:$C,backup_delay_ms=50" || not_ok "mount with a dir: target"
mkdir "$A/gone" "$A/x"
echo '{"a":1}' >"$A/gone/a"
echo '{"b":1}' >"$A/gone/b"
echo '{"bad":1}' >"$A/x/bad"
echo '{"ok":1}' >"$A/x/ok"
check "everything is uploaded" wait_for sh -c 'for d in gone/a gone/b x/bad x/ok; do getfattr --absolute-names --only-values -n user.caravan.backup "$1/$d" | grep -q "^uploaded" || exit 1; done' sh "$A"
check "clean unmount" umount_fs "$A"
size=$(stat -c %s "$C/x/bad")
flip_bit "$C/x/bad" $((size - 3))

# 100k names in space "big", written straight into the target (a listing
# reads names, not bodies)
mkdir -p "$C/big"
(cd "$C/big" && seq -f "n%06g" 1 100000 | xargs touch)

mount_fs "$T/store-b" "$B" "cloud=dir:$C" || not_ok "mount an empty store against the target"

# ---- defect 5: listing cost ----
t0=$(ms)
echo '{"new":1}' >"$B/big/fresh"
t1=$(ms)
check "a create in a never-listed space of 100k cloud names takes under $CREATE_MS ms ($((t1 - t0)) ms)" test $((t1 - t0)) -lt $CREATE_MS
check_eq "... and holds what was written" "$(cat "$B/big/fresh")" '{"new":1}'
t0=$(ms)
n=$(ls -f "$B/big" | grep -vc '^\.')
t1=$(ms)
check_eq "ls of the space shows 100k cloud names and the new one" "$n" 100001
check "... in under $LS_MS ms ($((t1 - t0)) ms)" test $((t1 - t0)) -lt $LS_MS
t0=$(ms)
echo '{"new":2}' >"$B/big/fresh2"
t1=$(ms)
check "a second create takes under $CREATE_MS ms ($((t1 - t0)) ms)" test $((t1 - t0)) -lt $CREATE_MS

# ---- defect 8: a removed space does not come back ----
check_eq "the root lists the cloud's spaces" "$(ls "$B" | tr '\n' ' ')" "big gone x "
check_eq "the space lists its cloud documents" "$(ls "$B/gone" | tr '\n' ' ')" "a b "
check "rm -r of the space" rm -r "$B/gone"
check "ls at once does not show it" sh -c '! ls "$1" | grep -qx gone' sh "$B"
check_fails "a lookup at once does not recreate it" stat "$B/gone"
check "its cloud copies are deleted" wait_for sh -c '! test -e "$1/gone"' sh "$C"
check "ls after the deletes does not show it" sh -c '! ls "$1" | grep -qx gone' sh "$B"
check "mkdir of the name makes a new empty space" mkdir "$B/gone"
check_eq "... empty" "$(ls -A "$B/gone" | wc -l)" 0
check "rmdir of it" rmdir "$B/gone"
check "clean unmount" umount_fs "$B"
mount_fs "$T/store-b" "$B" "cloud=dir:$C" || not_ok "remount"
check "after a remount it is still gone" sh -c '! ls "$1" | grep -qx gone' sh "$B"
check_fails "... also by lookup" stat "$B/gone"

# ---- rmdir of a space whose documents are only in the cloud ----
check_eq "space x holds only cloud documents" "$(ls "$B/x" | tr '\n' ' ')" "bad ok "
check_eq "rmdir of it is ENOTEMPTY" "$(rmdir "$B/x" 2>&1 | grep -c 'Directory not empty')" 1
check_eq "... and it stays, with its documents" "$(ls "$B/x" | tr '\n' ' ')" "bad ok "
check "clean unmount" umount_fs "$B"
mount_fs "$T/store-b" "$B" "cloud=dir:$C" || not_ok "remount"
check_eq "... also after a remount" "$(ls "$B/x" | tr '\n' ' ')" "bad ok "

# ---- defect 9(a): a bogus object is downloaded once ----
failures() { awk '$1 == "caravanfs_restore_failures_total" { print $2 }' "$B/.caravan-metrics"; }
check_eq "a bogus object: EIO" "$(cat "$B/x/bad" 2>&1 | grep -c 'Input/output error')" 1
check_eq "... counted once" "$(failures)" 1
check_eq "asked again: EIO" "$(cat "$B/x/bad" 2>&1 | grep -c 'Input/output error')" 1
check_eq "... from the negative cache: not downloaded again" "$(failures)" 1
check_eq "... logged once" "$(grep -c "cannot restore 'x/bad'" "$T/caravanfs.log")" 1
check_eq "a good neighbour is restored" "$(cat "$B/x/ok")" '{"ok":1}'
check "clean unmount" umount_fs "$B"
check "fsck" "$CARAVAN" fsck "$T/store-b"

e2e_finish
