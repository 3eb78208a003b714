# Proof of the storage engine (wal/ and store/): power cuts at every sync
# point through the crash simulator, real power cuts of an ext4 file
# system on a loop device, failed allocations at every call, and the
# libFuzzer targets' seed corpora (tests/fuzz/run-engine.sh runs them).
ENGINE_PROOF_LIBS = tests/libtestutil.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) $(CHECK_LIBS) -lm

# The crash simulator is test machinery: a check-only library, linked by
# the tests that install it, never by a production library or program.
check_LIBRARIES += tests/crashsim/libcrashsim.a
tests_crashsim_libcrashsim_a_SOURCES = tests/crashsim/io_crashsim.c \
	tests/crashsim/io_crashsim.h

check_PROGRAMS += tests/check_crashsim
TESTS += tests/check_crashsim
tests_check_crashsim_SOURCES = tests/check_crashsim.c
tests_check_crashsim_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_crashsim_LDADD = tests/crashsim/libcrashsim.a $(ENGINE_PROOF_LIBS)

# Defines malloc and friends: the countdown fails the Nth allocation.
check_PROGRAMS += tests/check_store_oom
TESTS += tests/check_store_oom
tests_check_store_oom_SOURCES = tests/check_store_oom.c
tests_check_store_oom_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_oom_LDADD = $(ENGINE_PROOF_LIBS) -ldl

# Real power cuts: ext4 on a loop device shut down under the workload
# (needs root; fails without it).
check_PROGRAMS += tests/powercut/powercut_workload
tests_powercut_powercut_workload_SOURCES = tests/powercut/powercut_workload.c
tests_powercut_powercut_workload_LDADD = store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) -lm
TESTS += tests/powercut/powercut.sh
dist_check_SCRIPTS += tests/powercut/powercut.sh

# The libFuzzer targets without libFuzzer: every seed of their corpora
# (and each fixed crash's input kept there) replayed in make check.
# tests/fuzz/run-engine.sh builds them with libFuzzer and fuzzes.
check_PROGRAMS += tests/fuzz/fuzz_wal_record_replay \
	tests/fuzz/fuzz_wal_log_replay tests/fuzz/fuzz_snapshot_replay
TESTS += tests/fuzz/fuzz_wal_record_replay \
	tests/fuzz/fuzz_wal_log_replay tests/fuzz/fuzz_snapshot_replay
tests_fuzz_fuzz_wal_record_replay_SOURCES = tests/fuzz/fuzz_wal_record.c \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_wal_record_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"snapshot"'
tests_fuzz_fuzz_wal_record_replay_LDADD = wal/libwal.a util/libutil.a
tests_fuzz_fuzz_wal_log_replay_SOURCES = tests/fuzz/fuzz_wal_log.c \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_wal_log_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"wal"'
tests_fuzz_fuzz_wal_log_replay_LDADD = store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) -lm
tests_fuzz_fuzz_snapshot_replay_SOURCES = tests/fuzz/fuzz_snapshot.c \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_snapshot_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"snapshot"'
tests_fuzz_fuzz_snapshot_replay_LDADD = store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(JANSSON_LIBS) -lm
EXTRA_DIST += tests/fuzz/run-engine.sh tests/fuzz/lib.sh tests/fuzz/corpus/wal \
	tests/fuzz/corpus/snapshot
