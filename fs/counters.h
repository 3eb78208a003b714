/*
 * counters.h - the counters of a mount (fs/counters.c): what the request
 * handlers count and fs/metrics.c renders.
 *
 * Every field is an atomic that a handler bumps with atomic_fetch_add()
 * (open_handles also goes down) and the metrics read with atomic_load();
 * no lock guards them and no two are read as one snapshot.  A struct
 * fs_counters is zeroed with the struct fs that embeds it.
 */
#ifndef FS_COUNTERS_H
#define FS_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

enum {
	FS_LAT_BUCKETS = 12
};
struct fs_counters {
	atomic_uint_fast64_t lookups, opens, reads, read_bytes;
	atomic_uint_fast64_t writes, write_bytes, patches, replaces;
	atomic_uint_fast64_t write_errors, flushes, incomplete_closes;
	atomic_uint_fast64_t fsyncs, fsync_ns_sum;
	atomic_uint_fast64_t fsync_le[FS_LAT_BUCKETS]; /* cumulative buckets */
	atomic_uint_fast64_t creates, unlinks, renames, restores;
	atomic_uint_fast64_t cached_opens, retirements;
	atomic_uint_fast64_t restore_failures;
	atomic_int open_handles;
};

/* Upper bounds of the fsync latency buckets (fsync_le), in nanoseconds. */
extern const int64_t fs_counters_fsync_le_ns[FS_LAT_BUCKETS];

/* Count one fsync or fsyncdir that took ns (its sum and its buckets). */
void fs_counters_fsync(struct fs_counters *c, int64_t ns);

#endif
