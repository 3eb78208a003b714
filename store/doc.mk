# store/doc: materialized documents over the list store (entry format,
# cache, per-document locks, compaction).  Part of the store library; uses
# json and store/store.h.
store_libstore_a_SOURCES += store/doc.c store/doc.h
