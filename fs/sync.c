/*
 * sync.c - fsync and fsyncdir requests answered when the store says they
 * are durable.
 *
 * An fsync must not return before every change to its document made
 * before the call is durable: the frame of the document's last change
 * (and of the handle's own last change) is known when the request comes
 * (fs_op_fsync in file.c), so the request only has to wait for that
 * frame.  An fsyncdir (fs_op_fsyncdir in dir.c) waits for every frame
 * logged so far (lsn 0) the same way.
 * fs_sync_wait() registers the request with store_sync_async() and
 * returns: the reply goes out from the callback, in whichever thread
 * completed the flush.  The log's group commit (wal/log.c, "Group
 * commit") decides who flushes: an fsync that finds nobody flushing
 * flushes in its own request thread and is answered before
 * fs_sync_wait() returns (a lone fsync costs one fdatasync and no
 * hand-off); one that comes while a flush runs is answered by a later
 * flush, holding no request thread meanwhile (max_threads does not bound
 * how many fsyncs share a flush), and the log's committer gathers the
 * fsyncs of clients coming back for the next round.  With commit_ms=0
 * the log has no committer to answer from: each fsync then waits in its
 * request thread (still sharing flushes).  The callback never runs in a
 * thread that holds a store lock (wal/log.c, "Delivery"): on failure it
 * takes the store's read lock to name the document.
 *
 * Errors: the store's result goes to the request (after a failure the
 * store is failed for good, so every later one fails too; -EBADMSG
 * becomes -EIO).  Without memory to register, the request waits for
 * store_sync() in its own thread.
 *
 * Stop: fs_sync_stop() makes everything durable and waits until every
 * registered request was answered (sync.pending back to 0), so no reply
 * goes to a destroyed session.  fs->sync.mu guards sync.pending.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/counters.h"
#include "fs/fs.h"
#include "fs/sync.h"

struct fs_sync_wait {
	struct fs *fs;
	fuse_req_t req;
	uint64_t ino;
	int64_t t0;
};

static void sync_reply(struct fs_sync_wait *w, int rc)
{
	struct fs *fs = w->fs;

	fs_counters_fsync(&fs->c, fs_now_ns() - w->t0);
	if (rc < 0)
		fs_log_failure(fs, fs_node_doc(&fs->nodes, w->ino), "fsync",
			       rc);
	if (rc == -EBADMSG)
		rc = -EIO;
	fuse_reply_err(w->req, -rc);
}

static void pending_add(struct fs *fs, int delta)
{
	pthread_mutex_lock(&fs->sync.mu);
	fs->sync.pending += (unsigned)delta;
	if (fs->sync.pending == 0)
		pthread_cond_broadcast(&fs->sync.cv);
	pthread_mutex_unlock(&fs->sync.mu);
}

/* The store's callback: answer, then let fs_sync_stop() know. */
static void sync_done(void *arg, int rc)
{
	struct fs_sync_wait *w = arg;
	struct fs *fs = w->fs;

	sync_reply(w, rc);
	free(w);
	pending_add(fs, -1);
}

void fs_sync_start(struct fs *fs)
{
	pthread_mutex_init(&fs->sync.mu, NULL);
	pthread_cond_init(&fs->sync.cv, NULL);
	fs->sync.pending = 0;
	fs->sync.running = true;
}

void fs_sync_stop(struct fs *fs)
{
	if (!fs->sync.running)
		return;
	/* Every registered frame becomes durable (or the store fails):
	 * each request is then answered or about to be. */
	store_sync(fs->s, 0);
	pthread_mutex_lock(&fs->sync.mu);
	while (fs->sync.pending)
		pthread_cond_wait(&fs->sync.cv, &fs->sync.mu);
	pthread_mutex_unlock(&fs->sync.mu);
	fs->sync.running = false;
	pthread_cond_destroy(&fs->sync.cv);
	pthread_mutex_destroy(&fs->sync.mu);
}

void fs_sync_wait(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t lsn,
		  int64_t t0)
{
	struct fs_sync_wait one = { fs, req, ino, t0 }, *w = NULL;

	if (fs->sync.running)
		w = malloc(sizeof(*w));
	if (!w) { /* not started or no memory: wait here */
		sync_reply(&one, store_sync(fs->s, lsn));
		return;
	}
	*w = one;
	pending_add(fs, 1); /* before: the callback may run at once */
	if (store_sync_async(fs->s, lsn, sync_done, w) == 0)
		return;
	pending_add(fs, -1);
	free(w);
	sync_reply(&one, store_sync(fs->s, lsn));
}
