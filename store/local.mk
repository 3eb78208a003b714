# store: the durable list store (data file, allocator, index, key map,
# replay, snapshot, fsck).  Uses util and wal.
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = \
	store/store.c store/store.h store/store_internal.h \
	store/datafile.c store/datafile.h \
	store/alloc.c store/alloc.h \
	store/nodes.c \
	store/replay.c \
	store/fsck.c
