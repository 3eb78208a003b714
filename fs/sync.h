/*
 * sync.h - fsync and fsyncdir requests answered when the store says they
 * are durable (fs/sync.c; the design is at its top).
 *
 * struct fs_sync counts the requests registered with the store and not
 * yet answered, so the mount can wait for them before its session goes.
 * Locks: mu guards pending; cv is signalled when pending falls to 0;
 * running is set and cleared by the mount's thread only.
 */
#ifndef FS_SYNC_H
#define FS_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/fuse.h"

struct fs;

struct fs_sync {
	pthread_mutex_t mu; /* guards pending */
	pthread_cond_t cv; /* pending fell to 0 */
	unsigned pending; /* registered, not yet answered */
	bool running; /* set and cleared by the mount's thread */
};

/* Start and stop answering fsyncs from the store's durability callbacks
 * (stop before the session is destroyed: it waits until every request
 * was answered).  Before start, fsync waits in the request's thread. */
void fs_sync_start(struct fs *fs);
void fs_sync_stop(struct fs *fs);
/* Answer fsync or fsyncdir request req (of node ino, started at t0) once
 * every frame up to lsn (0: everything logged so far) is durable. */
void fs_sync_wait(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t lsn,
		  int64_t t0);

#endif
