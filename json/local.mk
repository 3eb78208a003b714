# json: JSON values as caravanfs stores them (jansson underneath): parsing
# with our number and UTF-8 rules, the compact serializer, RFC 7386 merge
# patches and the streaming splitter of the write path.  Uses only util.
# The allocation fault countdown of the "oom" cases is test machinery,
# compiled into check_json only (tests/json_fault.c).
noinst_LIBRARIES += json/libjson.a
json_libjson_a_SOURCES = \
	json/json.h json/json_internal.h \
	json/alloc.c \
	json/compact.c \
	json/emit.c \
	json/merge.c \
	json/parse.c \
	json/splitter.c \
	json/utf8.c
json_libjson_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)

check_PROGRAMS += tests/check_json
TESTS += tests/check_json
tests_check_json_SOURCES = tests/check_json.c \
	tests/json_fault.c tests/json_fault.h
tests_check_json_CPPFLAGS = $(AM_CPPFLAGS) \
	-DJSON_TEST_DATA_DIR='"$(abs_top_srcdir)/tests/data/json"'
tests_check_json_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CHECK_CFLAGS)
tests_check_json_LDADD = json/libjson.a util/libutil.a $(JANSSON_LIBS) \
	$(CHECK_LIBS) -lm

# The single-pass compactor against jansson (edge cases, the data cases,
# random documents), and its differential fuzz target replaying the seeds
# of tests/fuzz/corpus/json without libFuzzer.
check_PROGRAMS += tests/check_json_compact tests/fuzz/fuzz_json_compact_replay
TESTS += tests/check_json_compact tests/fuzz/fuzz_json_compact_replay
tests_check_json_compact_SOURCES = tests/check_json_compact.c \
	tests/json_fault.c tests/json_fault.h
tests_check_json_compact_CPPFLAGS = $(AM_CPPFLAGS) \
	-DJSON_TEST_DATA_DIR='"$(abs_top_srcdir)/tests/data/json"'
tests_check_json_compact_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CHECK_CFLAGS)
tests_check_json_compact_LDADD = json/libjson.a util/libutil.a \
	$(JANSSON_LIBS) $(CHECK_LIBS) -lm
tests_fuzz_fuzz_json_compact_replay_SOURCES = tests/fuzz/fuzz_json_compact.c \
	tests/fuzz/replay_main.c
tests_fuzz_fuzz_json_compact_replay_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"json"'
tests_fuzz_fuzz_json_compact_replay_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_json_compact_replay_LDADD = json/libjson.a util/libutil.a \
	$(JANSSON_LIBS) -lm

# Data-driven cases read by tests/check_json, and the fuzz targets with
# their seed corpus and runner (built by tests/fuzz/run-json.sh, not by
# make check).
EXTRA_DIST += tests/data/json tests/fuzz/fuzz_json_splitter.c \
	tests/fuzz/fuzz_json_value.c tests/fuzz/fuzz_json_compact.c \
	tests/fuzz/run-json.sh \
	tests/fuzz/corpus/json
