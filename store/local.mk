# store: the durable list store (data file, allocator, index, key map,
# replay, snapshot, fsck).  Uses util and wal.
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = \
	store/store.c store/store.h store/store_internal.h \
	store/backup.c \
	store/change.c \
	store/checkpoint.c \
	store/docs.c \
	store/grow.c \
	store/evict.c store/evict.h \
	store/use.c \
	store/datafile.c store/datafile.h \
	store/alloc.c store/alloc.h \
	store/nodes.c \
	store/tombs.c \
	store/replay.c \
	store/snapshot.c store/snapshot.h \
	store/fsck.c

check_PROGRAMS += tests/check_store
TESTS += tests/check_store
tests_check_store_SOURCES = tests/check_store.c
tests_check_store_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_LDADD = tests/libtestutil.a tests/libiofault.a store/libstore.a wal/libwal.a util/libutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/check_store_crash
TESTS += tests/check_store_crash
tests_check_store_crash_SOURCES = tests/check_store_crash.c
tests_check_store_crash_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_crash_LDADD = tests/libtestutil.a store/libstore.a wal/libwal.a util/libutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/check_store_private
TESTS += tests/check_store_private
tests_check_store_private_SOURCES = tests/check_store_private.c
tests_check_store_private_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_private_LDADD = tests/libtestutil.a store/libstore.a wal/libwal.a util/libutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/check_store_space_rename
TESTS += tests/check_store_space_rename
tests_check_store_space_rename_SOURCES = tests/check_store_space_rename.c
tests_check_store_space_rename_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_space_rename_LDADD = tests/libtestutil.a store/libstore.a \
	wal/libwal.a util/libutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/check_store_evict_create
TESTS += tests/check_store_evict_create
tests_check_store_evict_create_SOURCES = tests/check_store_evict_create.c
tests_check_store_evict_create_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_evict_create_LDADD = tests/libtestutil.a store/libstore.a wal/libwal.a util/libutil.a $(CHECK_LIBS)
