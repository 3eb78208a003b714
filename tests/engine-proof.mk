# Proof of the storage engine (wal/ and store/): power cuts at every sync
# point through the crash simulator, real power cuts of an ext4 file
# system on a loop device, failed allocations at every call, and the
# libFuzzer targets' seed corpora (tests/fuzz/run-engine.sh runs them).
ENGINE_PROOF_LIBS = tests/libtestutil.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) $(CHECK_LIBS) -lm

check_PROGRAMS += tests/check_crashsim
TESTS += tests/check_crashsim
tests_check_crashsim_SOURCES = tests/check_crashsim.c \
	util/io_crashsim.c util/io_crashsim.h
tests_check_crashsim_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_crashsim_LDADD = $(ENGINE_PROOF_LIBS)

# Defines malloc and friends: the countdown fails the Nth allocation.
check_PROGRAMS += tests/check_store_oom
TESTS += tests/check_store_oom
tests_check_store_oom_SOURCES = tests/check_store_oom.c
tests_check_store_oom_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_oom_LDADD = $(ENGINE_PROOF_LIBS) -ldl
