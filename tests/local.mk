# tests: end-to-end scripts that need the built programs live here; the
# unit suites are declared in their module's local.mk.  Test machinery
# lives under tests/ and is built only into the tests: the crash simulator
# (tests/crashsim/, tests/engine-proof.mk), the json allocation fault
# countdown (tests/json_fault.c, json/local.mk), tests/testutil.c.

# libFuzzer targets of the cloud decoders (built and run by
# tests/fuzz/run-cloud.sh from the test command, not by make check).
EXTRA_DIST += tests/fuzz/fuzz_archive.c tests/fuzz/fuzz_s3_list.c \
	tests/fuzz/run-cloud.sh tests/fuzz/corpus/cloud \
	tests/fuzz/fuzz_feed.c tests/fuzz/corpus/feed \
	tests/fuzz/fuzz_follow_state.c tests/fuzz/corpus/follow \
	tests/fuzz/fuzz_snap_index.c tests/fuzz/corpus/snap_index
EXTRA_DIST += tests/fuzz/framed.h

# The cloud history (cloud/history.h, cloud/pitr.h): the point-in-time
# oracle through real mounts, on a dir: target and on s3rver; a restored
# store mounted on its target; the writer lease's conditional create
# raced on s3rver behind a proxy that honours If-None-Match.
E2E_HISTORY_TESTS = tests/e2e_cloud_history.sh tests/e2e_cloud_history_s3.sh \
	tests/e2e_cloud_history_retention.sh \
	tests/e2e_cloud_history_crash.sh tests/e2e_cloud_restore_mount.sh \
	tests/e2e_cloud_lease_race.sh tests/e2e_cloud_delete_durable.sh
EXTRA_DIST += tests/e2e/history.sh tests/cloud_cond_proxy.js
dist_check_SCRIPTS += $(E2E_HISTORY_TESTS)
TESTS += $(E2E_HISTORY_TESTS)

# Followers and hand-over (cloud/follow.c, fs/follow_glue.c): one writer
# and two followers against s3rver, kill -9 and takeover, a pruned feed.
E2E_FOLLOW_TESTS = tests/e2e_cloud_follow.sh
# ... a follower's lazy start from a base snapshot's index
E2E_FOLLOW_TESTS += tests/e2e_cloud_follow_lazy.sh
dist_check_SCRIPTS += $(E2E_FOLLOW_TESTS)
TESTS += $(E2E_FOLLOW_TESTS)
check_PROGRAMS += tests/check_store_snapshot
TESTS += tests/check_store_snapshot
tests_check_store_snapshot_SOURCES = tests/check_store_snapshot.c
tests_check_store_snapshot_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_snapshot_LDADD = tests/libtestutil.a store/libstore.a \
	wal/libwal.a util/libutil.a $(CHECK_LIBS)

check_PROGRAMS += tests/check_doc_history
TESTS += tests/check_doc_history
tests_check_doc_history_SOURCES = tests/check_doc_history.c
tests_check_doc_history_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CHECK_CFLAGS)
tests_check_doc_history_LDADD = tests/libtestutil.a store/libstore.a \
	wal/libwal.a json/libjson.a util/libutil.a $(JANSSON_LIBS) \
	$(CHECK_LIBS) -lm

# Issue 17: an inline growth's file step without the store lock, and the
# eviction order across a kill -9 and a clean remount.
check_PROGRAMS += tests/check_store_grow_order
TESTS += tests/check_store_grow_order
tests_check_store_grow_order_SOURCES = tests/check_store_grow_order.c
tests_check_store_grow_order_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_grow_order_LDADD = tests/crashsim/libcrashsim.a \
	tests/libtestutil.a store/libstore.a wal/libwal.a util/libutil.a \
	$(CHECK_LIBS)

check_PROGRAMS += tests/check_store_index
TESTS += tests/check_store_index
tests_check_store_index_SOURCES = tests/check_store_index.c
tests_check_store_index_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_index_LDADD = tests/libtestutil.a store/libstore.a \
	wal/libwal.a util/libutil.a $(CHECK_LIBS)
