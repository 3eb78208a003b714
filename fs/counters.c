/*
 * counters.c - the fsync latency histogram of a mount's counters (see
 * counters.h): each fsync is counted in every bucket whose bound it does
 * not pass, as Prometheus histograms are cumulative.
 */
#include "config.h"

#include "fs/counters.h"

const int64_t fs_counters_fsync_le_ns[FS_LAT_BUCKETS] = {
	100000,	  250000,   500000,   1000000,	 2500000,   5000000,
	10000000, 25000000, 50000000, 100000000, 500000000, 1000000000,
};

void fs_counters_fsync(struct fs_counters *c, int64_t ns)
{
	int i;

	atomic_fetch_add(&c->fsyncs, 1);
	atomic_fetch_add(&c->fsync_ns_sum, (uint64_t)(ns > 0 ? ns : 0));
	for (i = 0; i < FS_LAT_BUCKETS; i++)
		if (ns <= fs_counters_fsync_le_ns[i])
			atomic_fetch_add(&c->fsync_le[i], 1);
}
