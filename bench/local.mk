# bench: benchmark programs, built by `make bench`, never run by make check.
# See bench/README.md for what they measure and the figures.
EXTRA_PROGRAMS = bench/bench_store bench/bench_fs
EXTRA_PROGRAMS += bench/bench_cloud
bench_bench_fs_SOURCES = bench/bench_fs.c
bench_bench_store_SOURCES = bench/bench_store.c
bench_bench_store_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) -DHAVE_SQLITE_BENCH
bench_bench_store_LDADD = store/libstore.a wal/libwal.a util/libutil.a $(SQLITE_LIBS)
bench_bench_cloud_SOURCES = bench/bench_cloud.c
bench_bench_cloud_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	$(CRYPTO_CFLAGS)
bench_bench_cloud_LDADD = cloud/libcloud.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(CURL_LIBS) $(CRYPTO_LIBS) \
	$(JANSSON_LIBS) -lm
EXTRA_PROGRAMS += bench/bench_history
bench_bench_history_SOURCES = bench/bench_history.c
bench_bench_history_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	$(CRYPTO_CFLAGS)
bench_bench_history_LDADD = cloud/libcloud.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(CURL_LIBS) $(CRYPTO_LIBS) \
	$(JANSSON_LIBS) -lm
EXTRA_PROGRAMS += bench/bench_follow
bench_bench_follow_SOURCES = bench/bench_follow.c
EXTRA_PROGRAMS += bench/bench_snapshot
bench_bench_snapshot_SOURCES = bench/bench_snapshot.c
bench_bench_snapshot_LDADD = store/libstore.a wal/libwal.a json/libjson.a \
	util/libutil.a $(JANSSON_LIBS) -lm
bench_bench_snapshot_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += bench/README.md bench/bench_fs.sh
EXTRA_DIST += bench/bench_cloud.sh bench/bench_list.sh bench/bench_history.sh
EXTRA_DIST += bench/bench_follow.sh
EXTRA_DIST += bench/bench_evict.sh

bench: $(EXTRA_PROGRAMS)
.PHONY: bench
EXTRA_DIST += bench/bench_doc_history.sh
EXTRA_DIST += bench/bench_memory.sh
# the FUSE floor, a minimal low-level passthrough of our own
EXTRA_PROGRAMS += bench/passthrough_ll
bench_passthrough_ll_SOURCES = bench/passthrough_ll.c
bench_passthrough_ll_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS)
bench_passthrough_ll_LDADD = $(FUSE_LIBS)
EXTRA_DIST += bench/bench_floor.sh
# create and delete cost against the size of the space (issue 20, goal 3)
EXTRA_PROGRAMS += bench/bench_space
bench_bench_space_SOURCES = bench/bench_space.c
bench_bench_space_LDADD = store/libstore.a wal/libwal.a util/libutil.a
# big namespaces through the mount (issue 20, goal 3)
EXTRA_DIST += bench/bench_big.sh
