/*
 * history.c - the feed writer's queue, its thread, snapshots and pruning
 * (see history.h).
 *
 * State, guarded by h->lock: the queue of records added and not yet in a
 * batch (FIFO, each a copy with its done callback), the next batch
 * number, the time of the last PUT, the byte and batch counts since the
 * last snapshot, and the flags urgent / closing.
 *
 * The thread takes the whole queue as one batch once it is due: when the
 * last PUT is delay_ms old (so one PUT per delay_ms at most), at once
 * when the uploader's delay window is complete (options.quiet: once per
 * window), at once when the queue holds max_batch_bytes or urgent > 0.
 * It encodes and PUTs the batch with the lock released, retrying until
 * confirmed or closing, then runs the done callbacks in order, then asks
 * the upkeep thread for a snapshot and a prune when due (see "upkeep"
 * below).  While a batch is in flight new records queue behind it: they
 * go in the next batch, so batch order is record order and a record's
 * time is never earlier than any record before it.
 *
 * Invariants:
 *   1. A done callback with rc 0 runs only after the target confirmed
 *      the batch holding its record.
 *   2. Batches of one generation are numbered 0, 1, 2, ... with no gap:
 *      batch n + 1 is PUT only after batch n was confirmed.
 *   3. Every record added gets exactly one done callback.
 */
#include "config.h"

#include "cloud/history.h"

#include "cloud/pitr.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hrec {
	struct feed_record r;
	uint8_t *body; /* owned copy; r.body points here */
	history_done_fn fn;
	void *arg;
	struct hrec *next;
};

struct history {
	struct cloud_target *t;
	uint8_t id[FEED_ID_LEN];
	struct history_options o;
	uint64_t gen;

	pthread_mutex_t lock;
	pthread_cond_t work; /* the thread: records, urgency, closing */
	pthread_cond_t done; /* flushers: a batch finished */
	struct hrec *head, *tail;
	size_t queued, queued_bytes;
	size_t inflight; /* records of the batch being PUT */
	uint64_t batch; /* next batch number */
	int64_t last_put_mono; /* 0: none yet */
	int64_t last_time; /* newest record time handed out */
	uint64_t since_snap_batches, since_snap_bytes, last_snap_bytes;
	int64_t last_prune_mono;
	/* upkeep: a snapshot (at snap_batch) and a prune asked for, one in
	 * hand */
	pthread_cond_t upkeep; /* the upkeep thread: a request, or closing */
	bool snap_req, prune_req, upkeep_busy;
	uint64_t snap_batch, snap_batches_at, snap_bytes_at;
	pthread_t upkeep_thread;
	int urgent;
	uint64_t kicks; /* history_add and history_kick: look again */
	uint64_t window; /* the uploader's last window sent (options.quiet) */
	bool closing;
	uint64_t rng;
	struct history_stats st;
	pthread_t thread;
};

void history_options_default(struct history_options *o)
{
	memset(o, 0, sizeof(*o));
	o->delay_ms = 1000;
	o->max_batch_bytes = 8u << 20;
	o->retention_ns = INT64_C(7) * 86400 * 1000000000;
	o->prune_ms = 60000;
	o->snap_batches = 256;
	o->snap_min_bytes = 1u << 20;
	o->snap_part_bytes = 4u << 20;
	o->retry.base_ms = 500;
	o->retry.cap_ms = 60000;
	o->retry.max_attempts = CLOUD_RETRY_FOREVER;
}

static int64_t now_ns(struct history *h)
{
	if (h->o.clock_ns)
		return h->o.clock_ns(h->o.clock_arg);
	return clock_real_ns();
}

static void free_hrecs(struct hrec *r, int rc)
{
	while (r) {
		struct hrec *next = r->next;

		if (r->fn)
			r->fn(r->arg, rc);
		free(r->body);
		free(r);
		r = next;
	}
}

int history_add(struct history *h, const struct feed_record *r,
		history_done_fn fn, void *arg)
{
	struct hrec *n;

	if (r->kind != FEED_REC_DOC && r->kind != FEED_REC_DEL)
		return -EINVAL;
	if ((r->kind == FEED_REC_DOC) != (r->body_len > 0) ||
	    r->body_len >= UINT32_MAX)
		return -EINVAL;
	if (!cloud_name_valid(r->space) || !cloud_name_valid(r->key))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->r = *r;
	if (r->body_len) {
		n->body = malloc(r->body_len);
		if (!n->body) {
			free(n);
			return -ENOMEM;
		}
		memcpy(n->body, r->body, r->body_len);
		n->r.body = n->body;
	}
	n->fn = fn;
	n->arg = arg;
	pthread_mutex_lock(&h->lock);
	if (h->closing) {
		pthread_mutex_unlock(&h->lock);
		free(n->body);
		free(n);
		return -ECANCELED;
	}
	n->r.time_ns = now_ns(h);
	if (n->r.time_ns < h->last_time)
		n->r.time_ns = h->last_time;
	h->last_time = n->r.time_ns;
	if (h->tail)
		h->tail->next = n;
	else
		h->head = n;
	h->tail = n;
	h->queued++;
	h->queued_bytes += 64 + strlen(r->space) + strlen(r->key) + r->body_len;
	h->kicks++;
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void history_kick(struct history *h)
{
	pthread_mutex_lock(&h->lock);
	h->kicks++;
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->lock);
}

void history_urgent(struct history *h, int delta)
{
	pthread_mutex_lock(&h->lock);
	h->urgent += delta;
	pthread_cond_broadcast(&h->work);
	pthread_mutex_unlock(&h->lock);
}

/* Records (with_records) or upkeep not done yet (lock held). */
static bool busy(const struct history *h, bool with_records)
{
	return (with_records && (h->queued || h->inflight)) || h->snap_req ||
	       h->prune_req || h->upkeep_busy;
}

static int wait_idle(struct history *h, uint32_t timeout_ms, bool with_records)
{
	struct timespec until;
	int rc = 0;

	clock_deadline_ns(&until, (int64_t)timeout_ms * 1000000);
	pthread_mutex_lock(&h->lock);
	h->urgent += with_records;
	pthread_cond_broadcast(&h->work);
	while (busy(h, with_records) && !h->closing) {
		if (!timeout_ms) {
			pthread_cond_wait(&h->done, &h->lock);
		} else if (pthread_cond_timedwait(&h->done, &h->lock, &until) ==
			   ETIMEDOUT) {
			rc = busy(h, with_records) ? -ETIMEDOUT : 0;
			break;
		}
	}
	h->urgent -= with_records;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int history_flush(struct history *h, uint32_t timeout_ms)
{
	return wait_idle(h, timeout_ms, true);
}

int history_upkeep_wait(struct history *h, uint32_t timeout_ms)
{
	return wait_idle(h, timeout_ms, false);
}

size_t history_pending(struct history *h)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = h->queued + h->inflight;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void history_stats(struct history *h, struct history_stats *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->st;
	out->gen = h->gen;
	out->batch = h->batch;
	out->since_snap_batches = h->since_snap_batches;
	out->since_snap_bytes = h->since_snap_bytes;
	pthread_mutex_unlock(&h->lock);
}

/* ---- the thread ---- */

/* The uploader's latest complete window (options.quiet; 0: none), asked
 * with the lock released (the uploader's lock comes first). */
static uint64_t quiet(struct history *h)
{
	uint64_t v;

	if (!h->o.quiet)
		return 0;
	pthread_mutex_unlock(&h->lock);
	v = h->o.quiet(h->o.quiet_arg);
	pthread_mutex_lock(&h->lock);
	return v;
}

/* Take the queue as the batch in flight (lock held). */
static struct hrec *take(struct history *h)
{
	struct hrec *b = h->head;

	h->head = h->tail = NULL;
	h->inflight = h->queued;
	h->queued = 0;
	h->queued_bytes = 0;
	return b;
}

/* Wait until a batch is due (lock held): its records, or NULL when
 * closing.  Due: urgent, the first, large, a window of the uploader
 * completed since the last batch (so at most one PUT per window: the
 * uploads of a window leave together at its end, and their batch follows
 * as soon as they are all handed over), or the last PUT delay_ms old
 * (two delays with windows: they stalled). */
static struct hrec *next_batch(struct history *h)
{
	for (;;) {
		int64_t due, now;
		struct timespec until;
		uint64_t kicks, win;

		if (h->closing)
			return NULL;
		if (!h->head) {
			pthread_cond_wait(&h->work, &h->lock);
			continue;
		}
		/* with the uploader's windows, the delay alone sends only
		 * when windows stall (a retry, an outage): after two */
		due = h->last_put_mono +
		      (h->o.quiet ? 2 : 1) * (int64_t)h->o.delay_ms * 1000000;
		now = clock_mono_ns();
		if (h->urgent > 0 || h->last_put_mono == 0 ||
		    h->queued_bytes >= h->o.max_batch_bytes || now >= due)
			return take(h);
		kicks = h->kicks;
		win = quiet(h);
		if (win > h->window && h->head && !h->closing) {
			h->window = win;
			return take(h);
		}
		if (h->kicks != kicks || !h->head || h->closing)
			continue; /* something changed meanwhile */
		clock_deadline_ns(&until, due - now);
		pthread_cond_timedwait(&h->work, &h->lock, &until);
	}
}

/* Sleep ms unless closing: -ECANCELED when closing. */
static int backoff(struct history *h, uint32_t ms)
{
	struct timespec until;
	int rc = 0;

	clock_deadline_ns(&until, (int64_t)ms * 1000000);
	pthread_mutex_lock(&h->lock);
	while (!h->closing && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&h->work, &h->lock, &until);
	rc = h->closing ? -ECANCELED : 0;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static bool closing(struct history *h)
{
	bool v;

	pthread_mutex_lock(&h->lock);
	v = h->closing;
	pthread_mutex_unlock(&h->lock);
	return v;
}

/* Whether the writer may write now (options.may_write). */
static bool may_write(struct history *h)
{
	return !h->o.may_write || h->o.may_write(h->o.may_write_arg);
}

/* Wait until the writer may write: 0, or -ECANCELED when closing. */
static int writable(struct history *h)
{
	while (!may_write(h))
		if (backoff(h, 200))
			return -ECANCELED;
	return 0;
}

/* Encode and PUT batch number n until confirmed: 0, or -ECANCELED. */
static int put_batch(struct history *h, struct hrec *recs, uint64_t n,
		     size_t *bytes)
{
	char key[FEED_KEY_MAX];
	struct feed_writer w;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = feed_writer_init(&w, FEED_BATCH, h->id, h->gen, n, 0, 1, 0);
	for (struct hrec *r = recs; !rc && r; r = r->next)
		rc = feed_writer_add(&w, &r->r);
	if (!rc)
		rc = feed_writer_finish(&w, &buf, &len);
	else
		feed_writer_release(&w);
	if (rc) {
		/* history_add checked every record: only -ENOMEM is left */
		log_error("cannot encode feed batch %" PRIu64 ": %s", n,
			  strerror(-rc));
		return rc;
	}
	feed_key_batch(key, h->gen, n);
	for (uint32_t attempt = 0;; attempt++) {
		uint32_t ms;

		if (closing(h)) {
			rc = -ECANCELED;
			break;
		}
		rc = cloud_target_put(h->t, PITR_SPACE, key, buf, len, n + 1);
		if (!rc || rc == -ECANCELED)
			break;
		pthread_mutex_lock(&h->lock);
		h->st.put_failures++;
		ms = cloud_backoff_ms(&h->o.retry, attempt, &h->rng);
		pthread_mutex_unlock(&h->lock);
		log_error("cannot write feed batch %s to '%s': %s, retrying "
			  "in %" PRIu32 " ms",
			  key, cloud_target_url(h->t), strerror(-rc), ms);
		rc = backoff(h, ms);
		if (rc)
			break;
	}
	free(buf);
	*bytes = len;
	return rc;
}

/* ---- upkeep: snapshots and pruning, on their own thread ----
 *
 * After a confirmed batch the writer asks for a snapshot at that batch
 * and a prune when due (ask_upkeep); the upkeep thread writes them while
 * the writer goes on with the next batches, so no batch waits for a
 * snapshot.  A snapshot at batch n reads only batches 0..n, all
 * confirmed and never rewritten, so later batches do not disturb it; it
 * is complete only once all its parts are written (cloud/pitr.c), so a
 * crash midway leaves a partial snapshot that restores and pruning
 * ignore.  At most one snapshot is in hand at a time; one asked for
 * while another is written waits for it (the request then names the
 * newest batch).  A failed snapshot is asked for again after the next
 * batch (the counts since the last one are kept). */

/* Batch n was confirmed (lock held). */
static void ask_upkeep(struct history *h, uint64_t n)
{
	uint64_t limit = h->last_snap_bytes > h->o.snap_min_bytes
				 ? h->last_snap_bytes
				 : h->o.snap_min_bytes;
	int64_t mono = clock_mono_ns();

	if (h->since_snap_batches >= h->o.snap_batches ||
	    h->since_snap_bytes > limit) {
		h->snap_req = true;
		h->snap_batch = n;
		h->snap_batches_at = h->since_snap_batches;
		h->snap_bytes_at = h->since_snap_bytes;
	}
	if (h->o.retention_ns &&
	    (h->snap_req || h->last_prune_mono == 0 ||
	     mono - h->last_prune_mono >= (int64_t)h->o.prune_ms * 1000000))
		h->prune_req = true;
	if (h->snap_req || h->prune_req)
		pthread_cond_signal(&h->upkeep);
}

/* Write the snapshot at batch n, asked for when batches_at batches and
 * bytes_at bytes had been written since the last (the lock not held). */
static void snapshot(struct history *h, uint64_t n, uint64_t batches_at,
		     uint64_t bytes_at)
{
	uint64_t bytes = 0;
	int rc = pitr_snapshot(h->t, h->id, h->gen, n, h->o.snap_part_bytes,
			       &bytes);
	pthread_mutex_lock(&h->lock);
	if (!rc) {
		/* what came after the request counts towards the next */
		h->since_snap_batches -= batches_at;
		h->since_snap_bytes -= bytes_at;
		/* a request made while this one was written counted this
		 * one's batches too */
		if (h->snap_req) {
			h->snap_batches_at -= batches_at < h->snap_batches_at
						      ? batches_at
						      : h->snap_batches_at;
			h->snap_bytes_at -= bytes_at < h->snap_bytes_at
						    ? bytes_at
						    : h->snap_bytes_at;
		}
		h->last_snap_bytes = bytes;
		h->st.snapshots++;
	}
	pthread_mutex_unlock(&h->lock);
	if (rc && rc != -ECANCELED)
		log_error("cannot write the base snapshot at feed batch "
			  "%" PRIu64 ": %s",
			  n, strerror(-rc));
}

static void prune(struct history *h)
{
	int64_t mono = clock_mono_ns();
	int64_t horizon = now_ns(h) - (int64_t)h->o.retention_ns;
	uint64_t removed = 0;
	int rc = pitr_prune(h->t, horizon, &removed);

	pthread_mutex_lock(&h->lock);
	h->last_prune_mono = mono;
	h->st.pruned += removed;
	pthread_mutex_unlock(&h->lock);
	if (rc && rc != -ECANCELED)
		log_error("cannot prune the history in '%s': %s",
			  cloud_target_url(h->t), strerror(-rc));
}

static void *upkeep_main(void *arg)
{
	struct history *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		bool snap, prn;
		uint64_t n, batches_at, bytes_at;

		while (!h->closing && !h->snap_req && !h->prune_req)
			pthread_cond_wait(&h->upkeep, &h->lock);
		if (h->closing)
			break;
		snap = h->snap_req;
		prn = h->prune_req;
		n = h->snap_batch;
		batches_at = h->snap_batches_at;
		bytes_at = h->snap_bytes_at;
		h->snap_req = h->prune_req = false;
		h->upkeep_busy = true;
		pthread_mutex_unlock(&h->lock);
		if (may_write(h)) {
			if (snap)
				snapshot(h, n, batches_at, bytes_at);
			if (prn)
				prune(h);
		}
		pthread_mutex_lock(&h->lock);
		h->upkeep_busy = false;
		pthread_cond_broadcast(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void *run(void *arg)
{
	struct history *h = arg;
	struct hrec *b;

	pthread_mutex_lock(&h->lock);
	while ((b = next_batch(h))) {
		uint64_t n = h->batch, nrec = h->inflight;
		size_t bytes = 0;
		int rc;

		pthread_mutex_unlock(&h->lock);
		rc = writable(h);
		if (!rc)
			rc = put_batch(h, b, n, &bytes);
		while (rc == -ENOMEM && !closing(h) && !backoff(h, 1000))
			rc = put_batch(h, b, n, &bytes);
		pthread_mutex_lock(&h->lock);
		h->last_put_mono = clock_mono_ns();
		if (!rc) {
			h->batch = n + 1;
			h->st.puts++;
			h->st.records += nrec;
			h->st.bytes += bytes;
			h->since_snap_batches++;
			h->since_snap_bytes += bytes;
			/* before the callbacks: whoever they let go sees it */
			ask_upkeep(h, n);
		}
		pthread_mutex_unlock(&h->lock);
		free_hrecs(b, rc ? -ECANCELED : 0);
		pthread_mutex_lock(&h->lock);
		h->inflight = 0;
		pthread_cond_broadcast(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int history_open(struct cloud_target *target, const uint8_t id[FEED_ID_LEN],
		 const struct history_options *o, struct history **out)
{
	struct history_options defaults;
	struct history *h;
	uint64_t last = 0;
	int rc;

	if (!o) {
		history_options_default(&defaults);
		o = &defaults;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->t = target;
	memcpy(h->id, id, FEED_ID_LEN);
	h->o = *o;
	if (!h->o.delay_ms)
		h->o.delay_ms = 1;
	if (!h->o.snap_batches)
		h->o.snap_batches = 256;
	if (!h->o.snap_part_bytes)
		h->o.snap_part_bytes = 4u << 20;
	if (!h->o.max_batch_bytes)
		h->o.max_batch_bytes = 8u << 20;
	/* A generation above every one in the target, even when its clock
	 * went back; an unreachable target leaves the clock alone. */
	h->gen = (uint64_t)now_ns(h);
	rc = pitr_last_gen(o->quick ? o->quick : target, &last);
	if (rc)
		log_warn("cannot list the history in '%s' (%s): numbering "
			 "the new generation by the clock",
			 cloud_target_url(target), strerror(-rc));
	if (last >= h->gen)
		h->gen = last + 1;
	h->rng = (uint64_t)clock_mono_ns() ^ (uintptr_t)h;
	pthread_mutex_init(&h->lock, NULL);
	clock_cond_init(&h->work);
	clock_cond_init(&h->done);
	clock_cond_init(&h->upkeep);
	rc = -pthread_create(&h->upkeep_thread, NULL, upkeep_main, h);
	if (!rc) {
		rc = -pthread_create(&h->thread, NULL, run, h);
		if (rc) {
			pthread_mutex_lock(&h->lock);
			h->closing = true;
			pthread_cond_broadcast(&h->upkeep);
			pthread_mutex_unlock(&h->lock);
			pthread_join(h->upkeep_thread, NULL);
		}
	}
	if (rc) {
		pthread_cond_destroy(&h->work);
		pthread_cond_destroy(&h->done);
		pthread_cond_destroy(&h->upkeep);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return rc;
	}
	log_info("history of '%s': generation %016" PRIx64,
		 cloud_target_url(target), h->gen);
	*out = h;
	return 0;
}

void history_close(struct history *h)
{
	struct hrec *left;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->closing = true;
	pthread_cond_broadcast(&h->work);
	pthread_cond_broadcast(&h->done);
	pthread_cond_broadcast(&h->upkeep);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_join(h->upkeep_thread, NULL);
	left = h->head;
	h->head = h->tail = NULL;
	free_hrecs(left, -ECANCELED);
	pthread_cond_destroy(&h->work);
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->upkeep);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
