# store/doc: materialized documents over the list store (entry format,
# cache, per-document locks, compaction).  Part of the store library; uses
# json and store/store.h.
store_libstore_a_SOURCES += store/doc.c store/doc.h \
	store/doc_entry.c store/doc_fsck.c

check_PROGRAMS += tests/check_doc
TESTS += tests/check_doc
tests_check_doc_SOURCES = tests/check_doc.c
tests_check_doc_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CHECK_CFLAGS)
tests_check_doc_LDADD = store/libstore.a wal/libwal.a json/libjson.a \
	util/libutil.a $(JANSSON_LIBS) $(CHECK_LIBS) -lm
