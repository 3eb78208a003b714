# bench: benchmark programs, built by `make bench`, never run by make check.
# See bench/README.md for what they measure and the figures.
EXTRA_PROGRAMS = bench/bench_store bench/bench_fs
bench_bench_fs_SOURCES = bench/bench_fs.c
bench_bench_store_SOURCES = bench/bench_store.c
bench_bench_store_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) -DHAVE_SQLITE_BENCH
bench_bench_store_LDADD = store/libstore.a wal/libwal.a util/libutil.a $(SQLITE_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += bench/README.md bench/bench_fs.sh

bench: $(EXTRA_PROGRAMS)
.PHONY: bench
