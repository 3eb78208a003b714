/*
 * log.c - the write-ahead log in memory: group commit, delivery of
 * durability, the committer thread.
 *
 * The log file's format, its creation, replay and cut-over are in
 * wal/file.c; struct wal, shared by both, is in wal/wal_internal.h.
 *
 * Invariants (under mu):
 *   1. durable_lsn <= written_lsn < next_lsn; none of them decreases.
 *   2. pend holds exactly the frames written_lsn+1 .. next_lsn-1, unless
 *      io_busy, when the frames being written are out of pend.
 *   3. Only the thread that set io_busy writes or syncs fd.
 *   4. Once err != 0 it never changes and no frame is accepted.
 *   5. The waiter list (wait_head) is in LSN order, and while mu is free
 *      every waiter on it has lsn > durable_lsn and err == 0: whoever
 *      moves durable_lsn or sets err runs settle_locked() before it lets
 *      go of mu, and that hands each satisfied waiter its result.
 *   6. While mu is free and the waiter list is not empty, a flush is on
 *      its way: io_busy or lead is set, a thread in wal_sync was woken
 *      to lead one, or want_sync asks the committer to.
 *   7. A waiter gets its result exactly once.  A thread in wal_sync is
 *      woken with it under mu; a callback waits on the fire list and is
 *      called without mu by the one thread that set firing, in list
 *      order, so callbacks never run concurrently and run in the order
 *      their frames became durable (LSN order within one flush).
 *   8. While filling != 0, pend is neither taken out (a flush, the
 *      switch of a fork cut-over) nor moved (grown): a frame reserved
 *      by wal_append_reserve has its header in pend but its payload is
 *      being copied in without mu.  Whoever would take pend out sets
 *      io_busy first and then waits for filling to drop to 0
 *      (wal_wait_fills_locked); an append that must grow pend waits
 *      for it too.  A fill needs no lock but mu for its end, so nobody
 *      holding mu, a caller's lock or io_busy waits for a fill that
 *      cannot end.
 * A debug build (configure --enable-debug, util/debug.h) checks 1, 2, 4
 * and 5 with wal_invariants() whenever a function takes or gives back mu
 * around a change (append, sync, notify, the flush, cut-over); 3 is what
 * io_busy means, and the checks see it kept by 2 (nobody else takes
 * frames out of pend while it is set).
 *
 * Group commit: wal_sync() and wal_notify() both put a waiter (LSN, and a
 * thread's condition variable or a callback) on one list; a flush (every
 * pending frame written and fdatasync'd) satisfies all the waiters it
 * covers at once.  Who flushes:
 *   - a thread that registers while no flush runs or is claimed leads one
 *     at once, in its own thread (a lone fsync waits for one fdatasync and
 *     no hand-off).  A thread in wal_sync first yields once when others
 *     are in wal_sync too (waiting, or woken and not yet gone), so that
 *     threads just woken can append to the flush;
 *   - when a flush ends and waiters remain (they came during it), the
 *     thread that ended it picks the next leader: the first thread
 *     waiting in wal_sync, else the committer (want_sync), else, with no
 *     committer, itself;
 *   - a callback registered while the last flush satisfied more callbacks
 *     than are now waiting is handed to the committer too: the clients
 *     that flush answered are on their way back.  Before it flushes, the
 *     committer gathers (lead): it waits until as many callbacks wait as
 *     the last flush satisfied, or half that flush's duration (at most
 *     GATHER_MAX_NS), or a thread enters wal_sync.  A steady set of N
 *     fsyncing clients thus shares each flush; a lone one never waits.
 *
 * Delivery: callbacks run without mu, and never in a thread that may
 * hold its caller's locks (a callback may take them: fs/sync.c's takes
 * the store's read lock to name a failed document).  So only three kinds
 * of thread call them: a thread in wal_notify (its caller holds no lock a
 * callback takes: wal.h), the committer, and wal_close.  A thread in
 * wal_sync, wal_append or a cut-over that completes a flush or fails the
 * log leaves the callbacks due on the fire list and asks the committer
 * (want_deliver).  Whoever delivers sets firing and calls the list until
 * it is empty; a thread that finds firing set leaves its callbacks to
 * that one.  Callbacks exist only with a committer: without one,
 * wal_notify is wal_sync followed by the call, in the caller's thread.
 * A registration after a failure gets the sticky error at once.
 *
 * A large payload (WAL_FILL_APART or more) is copied into pend without
 * mu: the frame is reserved under mu (LSN, header, CRC from the
 * caller's spans, room in pend) and filled after (invariant 8), so a
 * copy of megabytes holds up neither other appends nor wal_size nor the
 * committer.  The store reserves under its own lock and fills after
 * letting go of it (wal_append_reserve / wal_append_fill).
 *
 * Lock order: mu is the only lock here, and no callback runs under it; a
 * callback may call any function but wal_close (its wal_sync would lead a
 * flush or wait, never for the delivery it is part of).  kick_cv wakes the
 * committer (stop, kick, want_sync, want_deliver, and a gathered round);
 * cv tells of io_busy cleared; each thread in wal_sync waits on its own
 * condition variable, so a flush wakes exactly the threads it satisfied
 * and the one it asks to lead.
 *
 */
#include "wal/wal_internal.h"

#include "util/clock.h"
#include "util/debug.h"
#include "util/endian.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GATHER_MAX_NS 2000000 /* longest wait for a round to fill */
/* payloads this large are copied into pend without mu (invariant 8) */
#define WAL_FILL_APART ((size_t)256 << 10)

/* One durability waiter: a thread in wal_sync (fn NULL, woken through
 * cv, on its stack) or a callback (allocated by wal_notify, freed after
 * the call). */
struct wal_waiter {
	struct wal_waiter *next;
	uint64_t lsn;
	wal_notify_fn fn;
	void *arg;
	pthread_cond_t *cv;
	int rc;
	bool done;
};

char *wal_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Invariant 2: pend's frames are numbered consecutively up to next_lsn-1,
 * from written_lsn+1 unless io_busy (then from later), and fill it. */
static bool pend_ok(const struct wal *w)
{
	uint64_t off = 0, lsn = 0, first = 0;

	while (off < w->pend.len) {
		const uint8_t *h = w->pend.p + off;

		if (w->pend.len - off < FRAME_HDR || le32_get(h) != FRAME_MAGIC)
			return false;
		if (first == 0)
			first = le64_get(h + 8);
		else if (le64_get(h + 8) != lsn + 1)
			return false;
		lsn = le64_get(h + 8);
		off += FRAME_HDR + le32_get(h + 4);
	}
	if (off != w->pend.len)
		return false;
	if (first == 0)
		return w->io_busy || w->written_lsn == w->next_lsn - 1;
	if (lsn != w->next_lsn - 1)
		return false;
	return w->io_busy ? first > w->written_lsn
			  : first == w->written_lsn + 1;
}

/* Invariant 5: the waiters are in LSN order, none satisfied, and the
 * counts match. */
static bool waiters_ok(const struct wal *w)
{
	const struct wal_waiter *n, *last = NULL;
	unsigned ns = 0, na = 0;

	for (n = w->wait_head; n; n = n->next) {
		if (w->err || n->lsn <= w->durable_lsn || n->done)
			return false;
		if (last && last->lsn > n->lsn)
			return false;
		if (n->fn)
			na++;
		else
			ns++;
		last = n;
	}
	return last == w->wait_last && ns == w->nwait_sync &&
	       na == w->nwait_async;
}

/* Invariants 1, 2 (while healthy), 4 and 5, against what the previous
 * call saw, which it then records.  mu held.  Allocates nothing. */
bool wal_invariants(struct wal *w)
{
	bool ok = w->durable_lsn <= w->written_lsn &&
		  w->written_lsn < w->next_lsn &&
		  w->next_lsn >= w->seen.next_lsn &&
		  w->written_lsn >= w->seen.written_lsn &&
		  w->durable_lsn >= w->seen.durable_lsn;

	if (w->seen.err)
		ok = ok && w->err == w->seen.err &&
		     w->next_lsn == w->seen.next_lsn;
	else if (!w->err)
		ok = ok && pend_ok(w);
	ok = ok && waiters_ok(w);
	w->seen.next_lsn = w->next_lsn;
	w->seen.written_lsn = w->written_lsn;
	w->seen.durable_lsn = w->durable_lsn;
	w->seen.err = w->err;
	return ok;
}

/* ---- group commit ---- */

void wal_fail_locked(struct wal *w, int rc, const char *what)
{
	if (w->err)
		return;
	w->err = rc;
	log_error("wal '%s' is failed and refuses changes: %s: %s", w->path,
		  what, strerror(-rc));
}

/* Write out (and with sync, fdatasync) every pending frame.  Called with
 * mu held and io_busy clear; drops mu during the I/O.  The caller then
 * settles the waiters (flush_locked). */
void wal_wait_fills_locked(struct wal *w)
{
	while (w->filling)
		pthread_cond_wait(&w->cv, &w->mu);
}

void wal_io_locked(struct wal *w, bool sync)
{
	struct wal_buf batch;
	uint64_t last, off;
	const char *what = "write";
	int64_t t0 = 0;
	int rc = 0;

	w->io_busy = true;
	wal_wait_fills_locked(w); /* invariant 8 */
	batch = w->pend;
	last = w->next_lsn - 1;
	off = w->file_size;
	w->io_len = batch.len;
	w->pend = w->spare;
	w->pend.len = 0;
	pthread_mutex_unlock(&w->mu);

	if (sync)
		t0 = clock_mono_ns();
	if (batch.len)
		rc = io_pwrite_all(w->fd, batch.p, batch.len, (off_t)off);
	if (!rc && sync) {
		what = "fdatasync";
		rc = io_fdatasync(w->fd);
	}

	pthread_mutex_lock(&w->mu);
	w->io_busy = false;
	w->io_len = 0;
	if (rc) {
		wal_fail_locked(w, rc, what);
	} else {
		w->file_size += batch.len;
		w->written_lsn = last;
		if (sync) {
			__atomic_store_n(&w->durable_lsn, last,
					 __ATOMIC_RELEASE);
			w->flushes++;
			w->flush_ns = clock_mono_ns() - t0;
		}
	}
	batch.len = 0;
	w->spare = batch;
	pthread_cond_broadcast(&w->cv);
}

/* Put waiter n on the list (mu held), after those of the same LSN. */
static void waiter_insert(struct wal *w, struct wal_waiter *n)
{
	struct wal_waiter **p = &w->wait_head;

	n->next = NULL;
	if (!w->wait_last || w->wait_last->lsn <= n->lsn) {
		if (w->wait_last)
			p = &w->wait_last->next;
		w->wait_last = n;
	} else {
		while ((*p)->lsn <= n->lsn)
			p = &(*p)->next;
		n->next = *p;
	}
	*p = n;
	if (n->fn)
		w->nwait_async++;
	else
		w->nwait_sync++;
}

/* Hand the list's first waiter (satisfied) its result: wake its thread,
 * or queue its callback on the fire list.  mu held. */
static void waiter_done(struct wal *w, int rc)
{
	struct wal_waiter *n = w->wait_head;

	w->wait_head = n->next;
	if (!w->wait_head)
		w->wait_last = NULL;
	n->rc = rc;
	n->done = true;
	if (!n->fn) {
		w->nwait_sync--;
		pthread_cond_signal(n->cv); /* n is gone once mu is free */
		return;
	}
	w->nwait_async--;
	n->next = NULL;
	*w->fire_tail = n;
	w->fire_tail = &n->next;
}

/* After durable_lsn or err moved or io_busy was cleared (mu held): give
 * every satisfied waiter its result (invariant 5), then see that a flush
 * is on its way for the others (invariant 6).  Returns true when nobody
 * else can lead it: the caller must. */
bool wal_settle_locked(struct wal *w)
{
	struct wal_waiter *n;
	unsigned fired = 0;

	while (w->wait_head &&
	       (w->err || w->wait_head->lsn <= w->durable_lsn)) {
		if (w->wait_head->fn)
			fired++;
		waiter_done(w, w->err);
	}
	if (fired)
		w->round_expect = fired;
	if (!w->wait_head || w->io_busy || w->lead)
		return false;
	if (w->nwait_sync) {
		for (n = w->wait_head; n->fn; n = n->next)
			;
		pthread_cond_signal(n->cv);
		return false;
	}
	if (w->has_committer && !w->stop) {
		if (!w->want_sync) {
			w->want_sync = true;
			pthread_cond_signal(&w->kick_cv);
		}
		return false;
	}
	return true;
}

/* Write out (with sync, and fdatasync) every pending frame, settle the
 * waiters and lead the flushes nobody else can.  mu held, io_busy clear;
 * drops mu during the I/O. */
static void flush_locked(struct wal *w, bool sync)
{
	debug_assert(wal_invariants(w));
	wal_io_locked(w, sync);
	while (wal_settle_locked(w))
		wal_io_locked(w, true);
	debug_assert(wal_invariants(w));
}

/* Call the callbacks on the fire list, without mu, unless another thread
 * is already at it (it will call these too).  mu held on entry and exit. */
static void deliver_locked(struct wal *w)
{
	struct wal_waiter *list, *n;

	if (w->firing)
		return;
	w->firing = true;
	while (w->fire_head) {
		list = w->fire_head;
		w->fire_head = NULL;
		w->fire_tail = &w->fire_head;
		pthread_mutex_unlock(&w->mu);
		while (list) {
			n = list;
			list = n->next;
			n->fn(n->arg, n->rc);
			free(n);
		}
		pthread_mutex_lock(&w->mu);
	}
	w->firing = false;
}

/* Give back mu, calling the callbacks due first (only from wal_notify,
 * whose caller holds no lock a callback takes). */
static void unlock_deliver(struct wal *w)
{
	deliver_locked(w);
	pthread_mutex_unlock(&w->mu);
}

/* Give back mu, leaving the callbacks due to the committer: the caller
 * (wal_append, wal_sync, a cut-over) may hold its own locks, which a
 * callback may take.  (Callbacks exist only with a committer; at stop,
 * wal_close calls them.) */
void wal_unlock_handoff(struct wal *w)
{
	if (w->fire_head && !w->firing && !w->want_deliver) {
		w->want_deliver = true;
		pthread_cond_signal(&w->kick_cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void wal_throttle(struct wal *w, size_t bytes)
{
	size_t lim = 8 * w->opt.buffer_bytes;

	if (bytes < w->opt.buffer_bytes / 64)
		lim *= 2; /* a small change: see wal.h */
	if (__atomic_load_n(&w->pend_hint, __ATOMIC_RELAXED) < lim)
		return; /* the common case: no lock taken */
	pthread_mutex_lock(&w->mu);
	while (w->pend.len >= lim && !w->err) {
		if (!w->io_busy)
			flush_locked(w, false);
		else
			pthread_cond_wait(&w->cv, &w->mu);
	}
	wal_unlock_handoff(w);
}

/* Past buffer_bytes of pending frames: let the committer write them on
 * another core; write them here only when they have grown far beyond
 * (the disk is slower than the writers: push back on them), unless the
 * caller throttles apart (wal_throttle).  mu held. */
static void push_back_locked(struct wal *w)
{
	if (w->pend.len < w->opt.buffer_bytes)
		return;
	if (w->has_committer && !w->kick) {
		w->kick = true;
		pthread_cond_signal(&w->kick_cv);
	}
	if (w->opt.throttle_apart && w->has_committer)
		return; /* the caller throttles: wal_throttle */
	while (w->pend.len >= 8 * w->opt.buffer_bytes && w->io_busy && !w->err)
		pthread_cond_wait(&w->cv, &w->mu);
	if ((!w->has_committer || w->pend.len >= 8 * w->opt.buffer_bytes) &&
	    !w->io_busy && !w->err && w->pend.len)
		flush_locked(w, false);
}

static int spans_check(size_t len, const struct wal_span *sp, size_t nsp)
{
	size_t at = 0;

	if (len > WAL_FRAME_MAX)
		return -EFBIG;
	for (size_t i = 0; i < nsp; i++) {
		if (sp[i].off < at || sp[i].len > len ||
		    sp[i].off > len - sp[i].len)
			return -EINVAL;
		at = sp[i].off + sp[i].len;
	}
	return 0;
}

/* Queue a frame for payload in pend (mu held): copied in, or with slot
 * only reserved (its header written, slot->dst where the payload goes,
 * filling counted: invariant 8). */
static int append_locked(struct wal *w, const void *payload, size_t len,
			 const struct wal_span *sp, size_t nsp, uint64_t *lsn,
			 struct wal_slot *slot)
{
	uint8_t *h;
	int rc;

	for (;;) {
		if (w->err)
			return w->err;
		if (w->opt.read_only)
			return -EROFS;
		if (!w->filling || w->pend.cap - w->pend.len >= FRAME_HDR + len)
			break;
		/* growing pend would move it under a fill: invariant 8 */
		pthread_cond_wait(&w->cv, &w->mu);
	}
	rc = wal_buf_reserve(&w->pend, FRAME_HDR + len);
	if (rc)
		return rc;
	h = w->pend.p + w->pend.len;
	wal_frame_put_spans(h, w->seed, w->next_lsn, w->durable_lsn + 1,
			    payload, len, sp, nsp);
	if (slot) {
		slot->dst = len ? h + FRAME_HDR : NULL;
		slot->len = len;
		if (len)
			w->filling++;
	} else if (len) {
		memcpy(h + FRAME_HDR, payload, len);
	}
	w->pend.len += FRAME_HDR + len;
	__atomic_store_n(&w->pend_hint, w->pend.len, __ATOMIC_RELAXED);
	if (lsn)
		*lsn = w->next_lsn;
	w->next_lsn++;
	return 0;
}

int wal_append_reserve(struct wal *w, const void *payload, size_t len,
		       const struct wal_span *sp, size_t nsp, uint64_t *lsn,
		       struct wal_slot *slot)
{
	int rc = spans_check(len, sp, nsp);

	slot->dst = NULL;
	slot->len = 0;
	if (rc)
		return rc;
	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	rc = append_locked(w, payload, len, sp, nsp, lsn, slot);
	if (!rc && w->pend.len >= w->opt.buffer_bytes && w->has_committer &&
	    !w->kick) {
		/* the committer's write waits for the fill (invariant 8) */
		w->kick = true;
		pthread_cond_signal(&w->kick_cv);
	}
	debug_assert(wal_invariants(w));
	wal_unlock_handoff(w);
	return rc;
}

void wal_append_fill(struct wal *w, struct wal_slot *slot, const void *payload)
{
	if (!slot->dst)
		return;
	memcpy(slot->dst, payload, slot->len);
	pthread_mutex_lock(&w->mu);
	if (--w->filling == 0)
		pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	slot->dst = NULL;
}

int wal_append(struct wal *w, const void *payload, size_t len, uint64_t *lsn)
{
	return wal_append_spans(w, payload, len, NULL, 0, lsn);
}

int wal_append_spans(struct wal *w, const void *payload, size_t len,
		     const struct wal_span *sp, size_t nsp, uint64_t *lsn)
{
	struct wal_slot slot = { 0 };
	int rc = spans_check(len, sp, nsp);

	if (rc)
		return rc;
	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	rc = append_locked(w, payload, len, sp, nsp, lsn,
			   len >= WAL_FILL_APART ? &slot : NULL);
	if (!rc && slot.dst) {
		/* a large payload: copied without mu (invariant 8) */
		pthread_mutex_unlock(&w->mu);
		memcpy(slot.dst, payload, len);
		pthread_mutex_lock(&w->mu);
		if (--w->filling == 0)
			pthread_cond_broadcast(&w->cv);
	}
	if (!rc)
		push_back_locked(w);
	debug_assert(wal_invariants(w));
	wal_unlock_handoff(w);
	return rc;
}

int wal_sync(struct wal *w, uint64_t lsn)
{
	struct wal_waiter me = { 0 };
	pthread_cond_t cv;
	int rc;

	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	w->in_sync++;
	if (lsn == 0 || lsn >= w->next_lsn)
		lsn = w->next_lsn - 1;
	if (w->durable_lsn >= lsn || w->err) {
		rc = w->err;
		goto out;
	}
	pthread_cond_init(&cv, NULL);
	me.lsn = lsn;
	me.cv = &cv;
	waiter_insert(w, &me);
	if (w->lead)
		pthread_cond_signal(&w->kick_cv); /* stop gathering */
	while (!me.done) {
		if (w->io_busy || w->lead) {
			pthread_cond_wait(&cv, &w->mu);
			continue;
		}
		if (w->in_sync > 1 && !w->yielded) {
			/* Threads just released by the previous flush (still
			 * in here) are about to append again: let them, so
			 * this flush carries their frames too (once per
			 * flush). */
			w->yielded = true;
			pthread_mutex_unlock(&w->mu);
			sched_yield();
			pthread_mutex_lock(&w->mu);
			continue;
		}
		w->yielded = false;
		flush_locked(w, true);
	}
	pthread_cond_destroy(&cv);
	rc = me.rc;
out:
	w->in_sync--;
	debug_assert(wal_invariants(w));
	wal_unlock_handoff(w);
	return rc;
}

int wal_notify(struct wal *w, uint64_t lsn, wal_notify_fn fn, void *arg)
{
	struct wal_waiter *n;

	if (!w->has_committer) {
		/* no thread to deliver from but this one (see wal.h) */
		fn(arg, wal_sync(w, lsn));
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fn = fn;
	n->arg = arg;
	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	if (lsn == 0 || lsn >= w->next_lsn)
		lsn = w->next_lsn - 1;
	n->lsn = lsn;
	waiter_insert(w, n);
	if (w->err || w->durable_lsn >= lsn) {
		if (wal_settle_locked(w)) /* due at once */
			flush_locked(w, true);
	} else if (w->lead) {
		if (w->nwait_async >= w->round_expect)
			pthread_cond_signal(&w->kick_cv); /* round full */
	} else if (!w->io_busy) {
		if (w->has_committer && !w->stop &&
		    w->nwait_async < w->round_expect) {
			/* more are on their way: the committer gathers */
			w->want_sync = true;
			pthread_cond_signal(&w->kick_cv);
		} else {
			flush_locked(w, true);
		}
	}
	debug_assert(wal_invariants(w));
	unlock_deliver(w);
	return 0;
}

uint64_t wal_durable_lsn(struct wal *w)
{
	uint64_t v;

	/* Written under mu with a release store; a reader may see a value
	 * that is already stale, never one that is not yet true. */
	v = __atomic_load_n(&w->durable_lsn, __ATOMIC_ACQUIRE);
	return v;
}

uint64_t wal_next_lsn(struct wal *w)
{
	uint64_t v;

	pthread_mutex_lock(&w->mu);
	v = w->next_lsn;
	pthread_mutex_unlock(&w->mu);
	return v;
}

uint64_t wal_size(struct wal *w)
{
	uint64_t v;

	pthread_mutex_lock(&w->mu);
	v = w->file_size + w->pend.len;
	pthread_mutex_unlock(&w->mu);
	return v;
}

uint64_t wal_flushes(struct wal *w)
{
	uint64_t v;

	pthread_mutex_lock(&w->mu);
	v = w->flushes;
	pthread_mutex_unlock(&w->mu);
	return v;
}

int wal_error(struct wal *w)
{
	int v;

	pthread_mutex_lock(&w->mu);
	v = w->err;
	pthread_mutex_unlock(&w->mu);
	return v;
}

/* The committer, asked to lead a flush for callbacks (mu held): wait
 * until as many callbacks wait as the last flush satisfied, half that
 * flush's duration (at most GATHER_MAX_NS) passed, a thread waits in
 * wal_sync, or the log stops. */
static void gather_locked(struct wal *w)
{
	int64_t wait = w->flush_ns / 2;
	struct timespec ts;

	if (w->nwait_async >= w->round_expect || wait <= 0)
		return;
	if (wait > GATHER_MAX_NS)
		wait = GATHER_MAX_NS;
	clock_deadline_ns(&ts, wait);
	while (w->nwait_async < w->round_expect && !w->nwait_sync && !w->stop &&
	       !w->err)
		if (pthread_cond_timedwait(&w->kick_cv, &w->mu, &ts) ==
		    ETIMEDOUT)
			break; /* go with what came */
}

/* want_sync: lead a flush for the waiters, after gathering. */
static void committer_lead(struct wal *w)
{
	w->want_sync = false;
	if (w->io_busy || w->lead || w->err || !w->wait_head)
		return; /* whoever ends the flush under way settles */
	w->lead = true;
	gather_locked(w);
	w->lead = false;
	if (!w->io_busy && !w->err && !w->stop && w->wait_head)
		flush_locked(w, true);
	/* otherwise: the cut-over or write under way settles when it ends,
	 * or wal_close flushes */
	deliver_locked(w);
}

/* Every commit_ms a flush; between them, what the other threads ask for:
 * calls of callbacks due (want_deliver), a flush for callbacks
 * (want_sync), a write of a full buffer (kick). */
static void *committer_main(void *arg)
{
	struct wal *w = arg;
	struct timespec ts;
	int rc = ETIMEDOUT;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (rc == ETIMEDOUT)
			clock_deadline_ns(&ts,
					  (int64_t)w->opt.commit_ms * 1000000);
		rc = 0;
		while (!w->stop && !w->kick && !w->want_sync &&
		       !w->want_deliver && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&w->kick_cv, &w->mu, &ts);
		if (w->stop)
			break;
		if (w->want_deliver) {
			w->want_deliver = false;
			deliver_locked(w);
		}
		if (w->want_sync)
			committer_lead(w);
		if (w->kick) {
			/* the buffer is full: write it (durability comes at
			 * the interval or from a waiter) */
			w->kick = false;
			if (!w->err && !w->io_busy && w->pend.len)
				flush_locked(w, false);
			deliver_locked(w);
		}
		if (rc == ETIMEDOUT && !w->err && !w->io_busy &&
		    w->durable_lsn + 1 < w->next_lsn) {
			flush_locked(w, true);
			deliver_locked(w);
		}
	}
	deliver_locked(w);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- construction ---- */

struct wal *wal_alloc(const char *dir, const struct wal_options *o)
{
	struct wal *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = -1;
	w->opt = *o;
	if (w->opt.buffer_bytes == 0)
		w->opt.buffer_bytes = 4u << 20;
	w->cut_fd = -1;
	w->dir = strdup(dir);
	w->path = wal_path_join(dir, "wal");
	w->tmp_path = wal_path_join(dir, "wal.tmp");
	if (!w->dir || !w->path || !w->tmp_path) {
		free(w->dir);
		free(w->path);
		free(w->tmp_path);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	clock_cond_init(&w->cv);
	clock_cond_init(&w->kick_cv);
	w->fire_tail = &w->fire_head;
	wal_buf_init(&w->pend);
	wal_buf_init(&w->spare);
	w->next_lsn = 1;
	return w;
}

void wal_free(struct wal *w)
{
	/* wal_close's flush settled every waiter and delivered it */
	debug_assert(!w->wait_head && !w->fire_head && !w->firing);
	if (w->fd >= 0)
		io_close(w->fd);
	wal_buf_release(&w->pend);
	wal_buf_release(&w->spare);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->kick_cv);
	free(w->dir);
	free(w->path);
	free(w->tmp_path);
	free(w);
}

int wal_start_committer(struct wal *w)
{
	if (w->opt.read_only || w->opt.commit_ms == 0)
		return 0;
	if (pthread_create(&w->committer, NULL, committer_main, w) != 0)
		return -EAGAIN;
	w->has_committer = true;
	return 0;
}

int wal_close(struct wal *w)
{
	int rc = 0;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_cond_broadcast(&w->kick_cv);
	pthread_mutex_unlock(&w->mu);
	if (w->has_committer)
		pthread_join(w->committer, NULL);
	if (!w->opt.read_only)
		rc = wal_sync(w, 0);
	pthread_mutex_lock(&w->mu); /* the committer is gone: call the rest */
	unlock_deliver(w);
	wal_free(w);
	return rc;
}
