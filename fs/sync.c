/*
 * sync.c - fsync requests wait on one thread.
 *
 * An fsync must not return before every change to its document made
 * before the call is durable: the frame of the document's last change
 * (and of the handle's own last change) is known when the request comes
 * (fs_fsync in file.c), so the request only has to wait for that frame.
 * An fsync that finds nobody syncing syncs in its own request thread
 * (no hand-off: a lone fsync costs what it always did).  One that comes
 * while a sync runs is queued instead of blocking a request thread; when
 * the running sync ends, the thread below takes the queue: it syncs the
 * store once, up to the largest frame queued, and answers every request
 * of that round, then the next round, until the queue is empty.  That is
 * the store's group commit with one waiting thread instead of one per
 * fsync: no request thread is held (max_threads no longer bounds how many
 * fsyncs share a flush) and no thread is woken per fsync just to send its
 * reply.
 *
 * Gathering: the clients a round answers come back with their next write
 * and fsync a few tens of microseconds later, just after the next round
 * began, and would wait for that round and then one more: each client
 * would get one fsync per two flushes.  So before a round the thread waits
 * until as many requests are queued as the last round answered, or until
 * half the last flush's duration (at most GATHER_MAX_NS) has passed,
 * whichever comes first.  A steady set of N fsyncing clients thus shares
 * every flush; when clients leave, the round starts at the deadline and
 * the next round expects the smaller number.  A lone fsync never waits
 * (it syncs in its own thread, above).
 *
 * Errors: store_sync()'s result goes to every request of the round (after
 * a failure the store is failed for good, so every later one fails too).
 * Lock: fs->sync_mu guards the queue, sync_busy (a sync is running: in a
 * request thread, or the thread's rounds), sync_stop and the gathering
 * counts (sync_queued, sync_last_round, sync_last_ns).  Without the
 * thread (it could not start) fs_sync_wait() always syncs in the caller.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/metrics.h"

enum {
	GATHER_MAX_NS = 2000000 /* longest wait for a round to fill */
};

struct fs_sync_wait {
	struct fs_sync_wait *next;
	fuse_req_t req;
	uint64_t ino;
	uint64_t lsn; /* 0: everything logged so far */
	int64_t t0;
};

static void sync_reply(struct fs *fs, struct fs_sync_wait *w, int rc)
{
	fs_metrics_fsync(fs, fs_now_ns() - w->t0);
	if (rc < 0)
		fs_log_failure(fs, fs_node_doc(&fs->nodes, w->ino), "fsync", rc);
	if (rc == -EBADMSG)
		rc = -EIO;
	fuse_reply_err(w->req, -rc);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait (sync_mu held) until the queue holds as many requests as the last
 * round answered, the deadline passes, or the mount stops. */
static void gather(struct fs *fs)
{
	int64_t wait = fs->sync_last_ns / 2, end;
	struct timespec ts;

	if (fs->sync_queued >= fs->sync_last_round || wait <= 0)
		return;
	if (wait > GATHER_MAX_NS)
		wait = GATHER_MAX_NS;
	end = mono_ns() + wait;
	ts.tv_sec = end / 1000000000;
	ts.tv_nsec = end % 1000000000;
	fs->sync_gathering = true;
	while (fs->sync_queued < fs->sync_last_round && !fs->sync_stop)
		if (pthread_cond_timedwait(&fs->sync_cv, &fs->sync_mu, &ts))
			break; /* ETIMEDOUT: go with what came */
	fs->sync_gathering = false;
}

/* One round: sync up to the largest frame waited for, answer all.
 * Returns how long the sync took. */
static int64_t sync_round(struct fs *fs, struct fs_sync_wait *list)
{
	struct fs_sync_wait *w, *next;
	uint64_t lsn = 0;
	bool all = false;
	int64_t t0;
	int rc;

	for (w = list; w; w = w->next) {
		if (w->lsn == 0)
			all = true;
		if (w->lsn > lsn)
			lsn = w->lsn;
	}
	t0 = mono_ns();
	rc = store_sync(fs->s, all ? 0 : lsn);
	t0 = mono_ns() - t0;
	for (w = list; w; w = next) {
		next = w->next;
		sync_reply(fs, w, rc);
		free(w);
	}
	return t0;
}

/* The thread runs rounds while requests are queued, then marks the
 * store idle again (sync_busy). */
static void *sync_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_sync_wait *list;
	int64_t took;

	pthread_mutex_lock(&fs->sync_mu);
	for (;;) {
		if (!fs->sync_head) {
			fs->sync_busy = false;
			if (fs->sync_stop)
				break;
			pthread_cond_wait(&fs->sync_cv, &fs->sync_mu);
			continue;
		}
		gather(fs);
		list = fs->sync_head;
		fs->sync_head = NULL;
		fs->sync_tail = &fs->sync_head;
		fs->sync_last_round = fs->sync_queued;
		fs->sync_queued = 0;
		pthread_mutex_unlock(&fs->sync_mu);
		took = sync_round(fs, list);
		pthread_mutex_lock(&fs->sync_mu);
		fs->sync_last_ns = took;
	}
	pthread_mutex_unlock(&fs->sync_mu);
	return NULL;
}

int fs_sync_start(struct fs *fs)
{
	pthread_condattr_t ca;
	int rc;

	pthread_mutex_init(&fs->sync_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->sync_cv, &ca);
	pthread_condattr_destroy(&ca);
	fs->sync_head = NULL;
	fs->sync_queued = fs->sync_last_round = 0;
	fs->sync_last_ns = 0;
	fs->sync_gathering = false;
	fs->sync_tail = &fs->sync_head;
	fs->sync_stop = false;
	fs->sync_busy = false;
	rc = pthread_create(&fs->sync_thread, NULL, sync_main, fs);
	if (rc) {
		pthread_cond_destroy(&fs->sync_cv);
		pthread_mutex_destroy(&fs->sync_mu);
		return -rc;
	}
	fs->sync_running = true;
	return 0;
}

void fs_sync_stop(struct fs *fs)
{
	if (!fs->sync_running)
		return;
	pthread_mutex_lock(&fs->sync_mu);
	fs->sync_stop = true;
	pthread_cond_signal(&fs->sync_cv);
	pthread_mutex_unlock(&fs->sync_mu);
	pthread_join(fs->sync_thread, NULL); /* answers what is queued */
	fs->sync_running = false;
	pthread_cond_destroy(&fs->sync_cv);
	pthread_mutex_destroy(&fs->sync_mu);
}

void fs_sync_wait(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t lsn,
		  int64_t t0)
{
	struct fs_sync_wait one = { NULL, req, ino, lsn, t0 }, *w;

	if (!fs->sync_running) {
		sync_reply(fs, &one, store_sync(fs->s, lsn));
		return;
	}
	pthread_mutex_lock(&fs->sync_mu);
	if (!fs->sync_busy) {
		/* Nobody is syncing: do it here, without a hand-off. */
		fs->sync_busy = true;
		pthread_mutex_unlock(&fs->sync_mu);
		sync_reply(fs, &one, store_sync(fs->s, lsn));
		pthread_mutex_lock(&fs->sync_mu);
		if (fs->sync_head)
			pthread_cond_signal(
				&fs->sync_cv); /* the thread goes on */
		else
			fs->sync_busy = false;
		pthread_mutex_unlock(&fs->sync_mu);
		return;
	}
	w = malloc(sizeof(*w));
	if (w) {
		*w = one;
		*fs->sync_tail = w;
		fs->sync_tail = &w->next;
		fs->sync_queued++;
		if (fs->sync_gathering &&
		    fs->sync_queued >= fs->sync_last_round)
			pthread_cond_signal(&fs->sync_cv);
	}
	pthread_mutex_unlock(&fs->sync_mu);
	if (!w) /* no memory to queue: wait here */
		sync_reply(fs, &one, store_sync(fs->s, lsn));
}
