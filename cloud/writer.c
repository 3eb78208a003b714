/*
 * writer.c - the uploader's hold on its target: the writer lease
 * (cloud/lease.h) taken, kept and given up.
 *
 * States of b->lease (guarded by b->lock):
 *
 *   WANTED --lease_acquire 0--------------> HELD
 *   WANTED --another store's lease--------> LOST   (found after the mount:
 *                                                   the target was down)
 *   HELD   --lease_check -ESTALE----------> LOST   (taken over)
 *   HELD   --lease_check -ENOENT----------> WANTED (target emptied)
 *   OFF                                            (options.read_only:
 *                                                   never writes)
 *
 * Workers take work only in HELD (backup.c next_work), so nothing is
 * written to a prefix before its lease is ours, nor after it was lost;
 * what was not uploaded stays pending in the store.  backup_writer_start
 * tries once with the quick target: another store's active lease fails
 * the start (the mount refuses, naming the holder), a target that cannot
 * answer leaves WANTED for the lease thread, which retries with backoff.
 * In HELD the thread checks the lease every options.lease_check_ms.
 * backup_writer_release, at a clean stop after the drain, marks it
 * released so another store may take the prefix without takeover.
 *
 * Invariant: b->lease leaves LOST and OFF never.
 */
#include "config.h"

#include "cloud/backup_internal.h"
#include "cloud/lease.h"

#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define LEASE_RETRY_MIN_MS 1000
#define LEASE_RETRY_MAX_MS 60000

static void wait_ms(struct backup *b, uint32_t ms)
{
	struct timespec ts;
	uint64_t kick = b->kick;
	int rc = 0;

	clock_deadline_ns(&ts, (int64_t)ms * 1000000);
	while (!b->stopping && kick == b->kick && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&b->lease_cv, &b->lock, &ts);
}

static void lost(struct backup *b, const struct lease_info *holder)
{
	char who[160];

	lease_describe(holder, who, sizeof(who));
	b->lease = BACKUP_LEASE_LOST;
	b->st.fenced = 1;
	pthread_cond_broadcast(&b->idle); /* flushers: nothing more comes */
	log_error("backup target '%s' is now written by another store (%s): "
		  "this store stops writing to it; its changes stay local and "
		  "pending (remount with -o cloud_takeover to take the "
		  "prefix back)",
		  cloud_target_url(b->target), holder->host[0] ? who : "?");
}

/* b->lock held; returns with it held. */
static void try_acquire(struct backup *b, uint32_t *backoff)
{
	struct lease_info holder;
	int rc;

	pthread_mutex_unlock(&b->lock);
	rc = lease_acquire(b->target, b->store_id, b->o.lease_takeover,
			   &holder);
	pthread_mutex_lock(&b->lock);
	if (b->stopping)
		return;
	if (rc == 0) {
		b->lease = BACKUP_LEASE_HELD;
		b->st.lease_held = 1;
		log_info("took the writer lease of '%s'",
			 cloud_target_url(b->target));
		pthread_cond_broadcast(&b->work); /* workers: go */
		*backoff = LEASE_RETRY_MIN_MS;
	} else if (rc == -EBUSY || rc == -EBADMSG) {
		lost(b, &holder);
	} else {
		log_warn("cannot take the writer lease of '%s' now (%s): "
			 "uploads wait",
			 cloud_target_url(b->target), strerror(-rc));
		wait_ms(b, *backoff);
		*backoff = *backoff * 2 > LEASE_RETRY_MAX_MS
				   ? LEASE_RETRY_MAX_MS
				   : *backoff * 2;
	}
}

/* b->lock held; returns with it held. */
static void check(struct backup *b)
{
	struct lease_info holder;
	int rc;

	pthread_mutex_unlock(&b->lock);
	rc = lease_check(b->target, b->store_id, &holder);
	pthread_mutex_lock(&b->lock);
	if (b->stopping || b->lease != BACKUP_LEASE_HELD)
		return;
	if (rc == -ESTALE) {
		b->st.lease_held = 0;
		lost(b, &holder);
	} else if (rc == -ENOENT) {
		log_warn("the writer lease of '%s' is gone: taking it again",
			 cloud_target_url(b->target));
		b->lease = BACKUP_LEASE_WANTED;
		b->st.lease_held = 0;
	}
	/* another error: the target cannot say now; keep writing */
}

static void *lease_main(void *arg)
{
	struct backup *b = arg;
	uint32_t backoff = LEASE_RETRY_MIN_MS;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		switch (b->lease) {
		case BACKUP_LEASE_WANTED:
			try_acquire(b, &backoff);
			break;
		case BACKUP_LEASE_HELD:
			wait_ms(b, b->o.lease_check_ms ? b->o.lease_check_ms
						       : 10000);
			if (!b->stopping)
				check(b);
			break;
		default:
			pthread_cond_wait(&b->lease_cv, &b->lock);
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int backup_writer_start(struct backup *b)
{
	struct cloud_target *t = b->o.quick ? b->o.quick : b->target;
	struct lease_info holder;
	char who[160];
	int rc;

	if (b->o.read_only) {
		b->lease = BACKUP_LEASE_OFF;
		return 0;
	}
	store_uuid(b->store, b->store_id);
	rc = lease_acquire(t, b->store_id, b->o.lease_takeover, &holder);
	if (rc == -EBUSY) {
		lease_describe(&holder, who, sizeof(who));
		log_error(
			"backup target '%s' is written by another store (%s); "
			"one store writes a prefix at a time: -o "
			"cloud_takeover hands it over (after that machine "
			"is lost)",
			cloud_target_url(b->target), who);
		return -EBUSY;
	}
	if (rc == -EBADMSG) {
		log_error("backup target '%s' holds a malformed writer lease: "
			  "-o cloud_takeover replaces it",
			  cloud_target_url(b->target));
		return -EBUSY;
	}
	if (rc == 0) {
		b->lease = BACKUP_LEASE_HELD;
		b->st.lease_held = 1;
		if (b->o.lease_takeover && holder.active &&
		    memcmp(holder.store, b->store_id, sizeof(b->store_id))) {
			lease_describe(&holder, who, sizeof(who));
			log_warn("took backup target '%s' over from %s",
				 cloud_target_url(b->target), who);
		}
	} else {
		b->lease = BACKUP_LEASE_WANTED;
		log_warn("cannot take the writer lease of '%s' now (%s): "
			 "uploads wait until it is taken",
			 cloud_target_url(b->target), strerror(-rc));
	}
	rc = -pthread_create(&b->lease_thread, NULL, lease_main, b);
	if (rc) {
		log_error("cannot start the lease thread: %s", strerror(-rc));
		return rc;
	}
	b->lease_thread_started = true;
	return 0;
}

void backup_writer_join(struct backup *b)
{
	if (!b->lease_thread_started)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->lease_cv);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->lease_thread, NULL);
	b->lease_thread_started = false;
}

void backup_writer_release(struct backup *b)
{
	bool held;
	int rc;

	pthread_mutex_lock(&b->lock);
	held = b->lease == BACKUP_LEASE_HELD;
	pthread_mutex_unlock(&b->lock);
	if (!held)
		return;
	if (catalog_is_down(b->cat)) {
		log_warn("cannot release the writer lease of '%s': the target "
			 "is down (this store takes it back at its next start; "
			 "another store needs -o cloud_takeover)",
			 cloud_target_url(b->target));
		return;
	}
	/* b->target: the quick one may be interrupted by now (the mount cuts
	 * lookups first) */
	rc = lease_release(b->target, b->store_id);
	if (rc)
		log_warn("cannot release the writer lease of '%s' (%s): "
			 "another store needs -o cloud_takeover to write it",
			 cloud_target_url(b->target), strerror(-rc));
}
