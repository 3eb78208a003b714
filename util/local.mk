# util: leaf helpers shared by every module (checksums, byte order, the I/O
# seam and its fault injector, logging, names, the containers: the hash
# map and its typed maps, growable arrays and byte strings, string lists;
# the debug build's debug_assert).  Includes no other module.  The crash simulator
# behind the I/O seam is test machinery: tests/crashsim/
# (tests/engine-proof.mk).
noinst_LIBRARIES += util/libutil.a
util_libutil_a_SOURCES = \
	util/buf.c util/buf.h \
	util/crc32c.c util/crc32c.h \
	util/debug.h \
	util/endian.h \
	util/grow.c util/grow.h \
	util/hmap.c util/hmap.h \
	util/io.c util/io.h \
	util/io_fault.c util/io_fault.h \
	util/log.c util/log.h \
	util/name.c util/name.h \
	util/strlist.c util/strlist.h \
	util/strset.c util/strset.h \
	util/u64map.h

check_PROGRAMS += tests/check_util
TESTS += tests/check_util
tests_check_util_SOURCES = tests/check_util.c
tests_check_util_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_util_LDADD = util/libutil.a $(CHECK_LIBS)
