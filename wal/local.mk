# wal: the write-ahead log (record codec, group-commit writer, replay,
# cut-over).  Uses util only.
noinst_LIBRARIES += wal/libwal.a
wal_libwal_a_SOURCES = \
	wal/record.c wal/record.h \
	wal/log.c wal/wal.h
