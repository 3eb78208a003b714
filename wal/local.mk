# wal: the write-ahead log (record codec, group-commit writer, replay,
# cut-over).  Uses util only.
noinst_LIBRARIES += wal/libwal.a
wal_libwal_a_SOURCES = \
	wal/record.c wal/record.h wal/crc.c \
	wal/log.c wal/file.c wal/wal.h wal/wal_internal.h

check_LIBRARIES += tests/libtestutil.a
tests_libtestutil_a_SOURCES = tests/testutil.c tests/testutil.h
tests_libtestutil_a_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

check_PROGRAMS += tests/check_wal
TESTS += tests/check_wal
tests_check_wal_SOURCES = tests/check_wal.c
tests_check_wal_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_wal_LDADD = tests/libtestutil.a tests/libiofault.a wal/libwal.a util/libutil.a $(CHECK_LIBS)
