/*
 * backup_internal.h - what the files of the uploader share (cloud/ only,
 * and tests).  The uploader is split by concept:
 *
 *   backup.c     the change queue, the workers, start/flush/stop, stats
 *   upload.c     one document's upload: name claims, retries until the
 *                target confirms, the mark, conflicts with what the cloud
 *                held unknown to us
 *   tombstone.c  deleting the cloud copies of deleted or renamed-away
 *                documents
 *   restore.c    fetching, verifying and importing a document
 *   writer.c     the writer lease: taken before the first write, checked,
 *                released at a clean stop
 *   catalog.c    what the cloud holds (its own header: fs/ asks it)
 *   history_backup.c  the change feed: marks and tombstone clears wait
 *                for the feed batch holding their record
 *
 * struct backup and its invariants are described in backup.c; every
 * field below is guarded by b->lock unless it is set once at start.
 */
#ifndef CLOUD_BACKUP_INTERNAL_H
#define CLOUD_BACKUP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cloud/backup.h"
#include "cloud/catalog.h"
#include "util/u64map.h"

#define BACKUP_BUSY_RETRY_MS 50
#define BACKUP_WINDOWS 64 /* delay windows told apart (backup.c) */
#define BACKUP_SENT_RECENT 64 /* forgotten sends remembered (backup.c) */

/* The writer lease as the uploader holds it (writer.c). */
enum backup_lease {
	BACKUP_LEASE_WANTED, /* not taken yet: workers wait */
	BACKUP_LEASE_HELD, /* ours: workers write */
	BACKUP_LEASE_LOST, /* another store's: never written again */
	BACKUP_LEASE_OFF /* options.read_only: never written */
};

struct backup_entry {
	uint64_t id;
	int64_t due_ns;
	bool queued;
	bool inflight;
	bool dirty; /* changed while in flight ... */
	int64_t dirty_due; /* ... first in the window ending then, */
	uint64_t dirty_win; /* ... of this number */
	uint64_t win; /* its window, counted in b->win_open ... */
	bool counted; /* ... while queued or uploading (not handed over) */
	bool skip_if_clean; /* just restored: no upload unless changed */
	bool adopting; /* its state was found in the cloud (no PUT): its
			  mark counts as adopted (cloud/upload.c) */
	/* The state its last upload marked (name, seq, metadata): a change
	 * noted while that upload was in flight which the upload already
	 * carried re-queues it, and the state is not sent (nor fed) twice. */
	bool sent;
	struct cloud_doc_meta sent_meta;
	char sent_space[STORE_NAME_MAX + 1];
	char sent_key[STORE_NAME_MAX + 1];
	struct backup_entry *qnext;
};

/* The state a finished entry's last upload marked, kept after the entry
 * left the table (backup.c: "Late hooks"). */
struct backup_sent {
	uint64_t id; /* 0: none */
	struct cloud_doc_meta meta;
	char space[STORE_NAME_MAX + 1];
	char key[STORE_NAME_MAX + 1];
};

/* The name a worker uploads to or deletes. */
struct backup_slot {
	bool busy;
	char space[STORE_NAME_MAX + 1];
	char key[STORE_NAME_MAX + 1];
};

struct backup_worker {
	struct backup *b;
	pthread_t thread;
	struct backup_slot slot; /* under b->lock */
};

/* A name being restored (on the restoring thread's stack). */
struct backup_restoring {
	const char *space, *key;
	struct backup_restoring *next;
};

struct backup {
	/* set at start */
	struct store *store;
	struct cloud_target *target;
	struct backup_options o;
	struct catalog *cat;

	pthread_mutex_t lock;
	pthread_cond_t work; /* workers: something to do, or stop */
	pthread_cond_t idle; /* flushers: an entry or pass finished */
	struct u64map table; /* document id -> struct backup_entry */
	struct backup_entry *head, *tail;
	size_t inflight;
	bool tomb_pass, tomb_running;
	int flushing;
	bool stopping;
	uint64_t kick; /* bumped when the target answers again */
	struct backup_worker *workers;
	uint32_t nthreads;
	struct backup_restoring *restoring;
	uint64_t rng;
	int64_t win_end; /* the current delay window (backup.c) */
	uint64_t win_no;
	/* entries queued or uploading per window (win % BACKUP_WINDOWS), and
	 * the oldest window that may have some */
	uint32_t win_open[BACKUP_WINDOWS];
	uint64_t win_lo;
	struct backup_stats st;
	/* the last BACKUP_SENT_RECENT entries forgotten after a marked
	 * upload, oldest overwritten first (backup.c: "Late hooks") */
	struct backup_sent recent[BACKUP_SENT_RECENT];
	uint32_t recent_next;
	/* writer.c */
	enum backup_lease lease;
	uint8_t store_id[STORE_UUID_LEN]; /* set at start */
	pthread_cond_t lease_cv; /* the lease thread: stop */
	pthread_t lease_thread;
	bool lease_thread_started;
	/* history (history_backup.c): the feed writer (NULL: none) and the
	 * names held until their feed record is confirmed */
	struct history *hist;
	size_t feed_wait;
	size_t feed_docs; /* of those, entries in flight (uploads done) */
	/* the start's comparison of history, store and cloud runs on its own
	 * thread; uploads wait for it (their records come after its) */
	pthread_t hist_thread;
	bool hist_thread_started;
	bool hist_reconciling;
};

/* backup.c */
/* "space/key" percent-encoded, safe to log whatever the bytes. */
void backup_log_name(const char *space, const char *key,
		     char out[2 * CLOUD_ENC_MAX]);
struct backup_entry *backup_table_get(struct backup *b, uint64_t id);
bool backup_stopping(struct backup *b);
/* The number of the latest ended delay window whose uploads (and those
 * of every window before it) have all been handed to the feed or are
 * done, and no tombstone pass is due; 0: none (b->lock held). */
uint64_t backup_window_done(struct backup *b);
/* Entry e no longer counts in its window: its record is handed to the
 * feed, or it finished (b->lock held; idempotent). */
void backup_window_leave(struct backup *b, struct backup_entry *e);

/* upload.c */
/* Claim (space, key) for sl; -EAGAIN when busy.  For an upload (e not
 * NULL), *skip receives and clears the entry's skip_if_clean in the same
 * critical section, so a restore finishing around it is never missed. */
int backup_claim(struct backup *b, struct backup_slot *sl, const char *space,
		 const char *key, struct backup_entry *e, bool *skip);
void backup_unclaim(struct backup *b, struct backup_slot *sl);
/* Whether a name is claimed by a worker or being restored (b->lock
 * held). */
bool backup_name_busy(struct backup *b, const char *space, const char *key);
/* DELETE (space, key) until confirmed or stopping: 0 or -ECANCELED. */
int backup_delete_confirmed(struct backup *b, const char *space,
			    const char *key);
/* Upload document e->id.  0 when done (or nothing to do), -EAGAIN when
 * its name is busy, -ECANCELED when stopping, -ESTALE when it changed
 * during an outage, another errno to retry later. */
int backup_upload_doc(struct backup *b, struct backup_slot *sl,
		      struct backup_entry *e);

/* writer.c */
/* Take the lease (or note that it is wanted) and start its thread;
 * -EBUSY when another store holds it (logged, naming it). */
int backup_writer_start(struct backup *b);
/* Set b->stopping, wake the lease thread and join it. */
void backup_writer_join(struct backup *b);
/* Give up a held lease (clean stop). */
void backup_writer_release(struct backup *b);
/* After a confirmed PUT of (space, key) for document id in the state meta
 * (entry e's): the mark, noted in e (or, renamed or deleted meanwhile, the
 * removal of the stale copy). */
int backup_upload_confirm(struct backup *b, struct backup_entry *e, uint64_t id,
			  const char *space, const char *key,
			  const struct cloud_doc_meta *meta);

/* backup.c: an entry a worker left in flight (-EINPROGRESS) is done with
 * rc (b->lock held). */
void backup_entry_finish(struct backup *b, struct backup_entry *e, int rc);

/* history_backup.c */
struct history;
/* Open the history when options.retention_ns > 0 (0 or an errno). */
int backup_history_start(struct backup *b);
/* Close it: records not confirmed complete with -ECANCELED. */
void backup_history_stop(struct backup *b);
/* The uploader may have become quiet (every upload due by now handed to
 * the feed): the feed writer looks again (b->lock held; none: no-op). */
void backup_history_kick(struct backup *b);
/* Hand the state of document id just uploaded (body, len, meta: the
 * readable object) to the feed: -EINPROGRESS (e finishes when the feed
 * confirms; the name stays held, and sl's claim on it, if any, is
 * released in the same step: the caller must not release it again), or
 * an errno to retry later (sl's claim may or may not be released:
 * backup_unclaim).  The feed records exactly what the object holds,
 * without reading the document again. */
int backup_feed_uploaded(struct backup *b, struct backup_slot *sl,
			 struct backup_entry *e, uint64_t id, const char *space,
			 const char *key, const char *body, size_t len,
			 const struct cloud_doc_meta *meta);
/* A confirmed DELETE of tombstone tomb_id's name: -EINPROGRESS (cleared
 * when the feed confirms; the name stays held and sl's claim is passed
 * over, as above) or an errno. */
int backup_feed_delete(struct backup *b, struct backup_slot *sl,
		       uint64_t tomb_id, const char *space, const char *key);
/* A conflict copy written (space, key): its state, read back, fed. */
void backup_feed_cloud(struct backup *b, const char *space, const char *key);
/* A stale copy removed: its delete record, not waited for. */
void backup_feed_deleted(struct backup *b, const char *space, const char *key);

/* tombstone.c */
/* Delete the cloud copy of every tombstone whose name is not busy. */
void backup_tomb_pass(struct backup *b, struct backup_slot *sl);

#endif
