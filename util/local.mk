# util: leaf helpers shared by every module (checksums, byte order, the I/O
# and clock seams, logging, names, the containers: the hash map and its
# typed maps, growable arrays and byte strings, string lists; the debug
# build's debug_assert).  Includes no other module.  What tests install
# behind the I/O seam is test machinery, in check-only libraries: the fault
# injector (tests/libiofault.a, below) and the crash simulator
# (tests/crashsim/, tests/engine-proof.mk).
noinst_LIBRARIES += util/libutil.a
util_libutil_a_SOURCES = \
	util/buf.c util/buf.h \
	util/clock.c util/clock.h \
	util/crc32c.c util/crc32c.h \
	util/debug.h \
	util/endian.h \
	util/grow.c util/grow.h \
	util/hmap.c util/hmap.h \
	util/huge.c util/huge.h \
	util/io.c util/io.h \
	util/log.c util/log.h \
	util/name.c util/name.h \
	util/pmap.c util/pmap.h \
	util/strlist.c util/strlist.h \
	util/strset.c util/strset.h \
	util/u64map.h util/u64shards.h

check_PROGRAMS += tests/check_util
TESTS += tests/check_util
tests_check_util_SOURCES = tests/check_util.c
tests_check_util_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_util_LDADD = tests/libiofault.a util/libutil.a $(CHECK_LIBS)

# The fault injector of the I/O seam: fails the Nth call of a kind.
# Check-only: linked by the suites that install it, never by a production
# library or program.
check_LIBRARIES += tests/libiofault.a
tests_libiofault_a_SOURCES = tests/io_fault.c tests/io_fault.h
