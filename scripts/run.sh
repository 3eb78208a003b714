#!/bin/sh
# run.sh - the README's run command: install what is missing, build, create
# a store in ./run/store and mount it on ./run/mnt with the embedded default
# configuration (cloud backup to the directory ./run/cloud).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/deps.sh
[ -f configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p build-run && cd build-run
[ -f Makefile ] || "$top/configure" -q
make -s -j"$(nproc)" >/dev/null
cd "$top"
# the store and the backup are private (0700; caravanfs and the dir:
# target create them so); only the mount point is made here
mkdir -p run/mnt
if mountpoint -q run/mnt; then fusermount3 -u run/mnt; fi
build-run/caravanfs -o "cloud=dir:$top/run/cloud" run/store run/mnt
cat <<MSG
caravanfs is mounted on $top/run/mnt (store: run/store, backup: run/cloud)

try:
  mkdir run/mnt/notes
  echo '{"title":"hello","n":1}' > run/mnt/notes/first
  echo '{"n":2,"tags":["a"]}' >> run/mnt/notes/first
  cat run/mnt/notes/first            # {"title":"hello","n":2,"tags":["a"]}
  ls -l run/mnt/notes
  getfattr -d -m - run/mnt/notes/first
  build-run/caravan dump run/store notes/first
  fusermount3 -u run/mnt             # clean unmount
MSG
