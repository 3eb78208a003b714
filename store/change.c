/*
 * change.c - the mutation protocol every change of the store follows,
 * and the space a change freed, held back until its frame is durable.
 *
 * A mutation (docs.c, backup.c), under the exclusive lock:
 * store_change_begin (refused when the store or its log failed, or it is
 * read-only); validate; take space from the allocator
 * (store_take_space); encode the frame into s->scratch;
 * store_change_commit (or _spans, which hands the log the CRC-32C of each
 * Append's bytes, computed once for the record: wal_append_spans): check the frame against the state by the rules
 * replay applies (store_check_frame: a frame that would not apply is
 * refused before it reaches the log), wal_append() it, apply it with the
 * same code that replays it at open (store_apply_frame).  If the check or
 * the append fails nothing was applied and taken space is given back at
 * once.  When the allocator has no room, the data file grows (grow.c)
 * and the allocation is tried again: the growth releases the lock for
 * its file step and takes it again, holding other changes back meanwhile
 * (store_change_begin waits on gate_cv while gate_closed), so what the change
 * checked before still holds; readers and checkpoints go on.
 * store_change_end unlocks, then runs what follows a change: the copy
 * into the log of a frame the commit only reserved there (below), growth
 * ahead when space runs short (grow.c), the log's push back on the
 * change's own bytes (wal_throttle), the change hook, the -o sync wait,
 * and a cut-over when the log has grown past max(cutover_bytes, 2 x last
 * snapshot) (checkpoint.c).
 *
 * A large entry (STORE_LARGE_ENTRY or more: docs.c, append_large) holds
 * the lock for one copy of its bytes, into the map by the apply: its
 * frame is encoded in a buffer of its own before the lock; a first hold
 * takes its space and lets go (store_change_pause); the bytes are
 * written into that space through the file with no lock
 * (store_space_place: the space is free in every recoverable state, as
 * above), so that the pages are in the page cache; a second hold checks the
 * document again and commits with store_change_commit_frame, which
 * reserves the frame in the log (its LSN, header and CRC: wal.h,
 * wal_append_reserve) and applies it; store_change_end copies the frame
 * into the log after letting go of the lock (wal_append_fill).  Until
 * then no flush writes past it, so nobody can see it durable before its
 * bytes are in the log, and the apply under the lock orders it among the
 * other changes exactly as its LSN does.  The frame's buffer lives until
 * store_change_end returns.
 *
 * Why bytes are safe in the map before they are durable in the log: they
 * go only into space that is free in every state a crash could recover
 * (space freed by a Delete or Trim returns to the allocator only once that
 * frame is durable: store_release_durable, here), and replay writes every
 * logged Append into the map again.  A checkpoint msyncs the whole map
 * before the new log (which no longer carries those bytes) replaces the
 * old one; changes go on meanwhile (checkpoint.c).
 *
 * Fail-stop: an allocation failure while applying a logged frame sets
 * s->failed (the log already holds the frame): every later change is
 * refused.
 */
#include "store/datafile.h"
#include "store/store_internal.h"

#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* ---- pending frees ---- */

void store_release_durable(struct store *s)
{
	uint64_t d;

	if (s->pf_head == s->npf)
		return;
	d = wal_durable_lsn(s->wal);
	while (s->pf_head < s->npf && s->pf[s->pf_head].lsn <= d) {
		struct pending_free *p = &s->pf[s->pf_head++];
		if (alloc_release(s->alloc, p->off, p->len) == 0)
			s->pf_bytes -= p->len;
	}
	if (s->pf_head == s->npf)
		s->pf_head = s->npf = 0;
}

/* Have the warmer populate the pages ahead of space just taken,
 * [off, off + len): up to WARM_AHEAD past its end, asked again when the
 * takes come within half of that of the end of the range last asked for
 * (and at once when they jump outside it: a reused hole, the area after
 * a growth).  Space taken past what the warmer did is faulted in by the
 * writer itself, as without it (datafile.c).  A store opened with
 * commit_ms 0 runs no background thread, so no warmer either. */
#define WARM_AHEAD (UINT64_C(4) << 20)

static void warm_ahead(struct store *s, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, lim = DATA_HDR + s->capacity, from, to;

	if (s->opt.commit_ms == 0) /* no background threads (store.h) */
		return;
	if (off >= s->warm_from && end + WARM_AHEAD / 2 <= s->warm_to)
		return;
	if (!s->warm) {
		if (s->warm_failed)
			return;
		if (datafile_warm_new(s->data_fd, &s->warm)) {
			s->warm_failed = true;
			return;
		}
	}
	from = off >= s->warm_from && off < s->warm_to ? s->warm_to : end;
	to = end + WARM_AHEAD < lim ? end + WARM_AHEAD : lim;
	if (from >= to)
		return;
	s->warm_from = off;
	s->warm_to = to;
	datafile_warm_ask(s->warm, from, to);
}

int store_take_space(struct store *s, uint64_t len, uint64_t *off)
{
	int rc;

	*off = 0;
	if (len == 0)
		return 0;
	rc = alloc_take(s->alloc, len, off);
	if (rc == -ENOSPC && s->pf_head < s->npf) {
		/* Space is waiting for its Delete/Trim to become durable:
		 * make it so (no store state changes meanwhile: we hold the
		 * exclusive lock) and try again. */
		rc = wal_sync(s->wal, s->pf[s->npf - 1].lsn);
		if (rc)
			return rc;
		store_release_durable(s);
		rc = alloc_take(s->alloc, len, off);
	}
	if (rc == -ENOSPC) {
		/* then the data file grows, when it may (grow.c) */
		rc = store_grow_for(s, len);
		if (!rc)
			rc = alloc_take(s->alloc, len, off);
	}
	if (!rc) {
		s->taken_bytes += len;
		/* a large entry brings its own pages in, off the lock
		 * (store_space_place): warming past it would spend a core
		 * on pages the next one may not take */
		if (len < STORE_LARGE_ENTRY)
			warm_ahead(s, *off, len);
	}
	if (rc == -ENOSPC && store_snapshot_pinned_bytes(s))
		log_warn("store '%s' is full: snapshots keep %" PRIu64
			 " bytes that no document holds (drop one to free "
			 "them)",
			 s->dir, store_snapshot_pinned_bytes(s));
	return rc;
}

/* ---- the mutation protocol ---- */

/* The exclusive lock, once no inline growth's file step (grow.c) holds
 * the gate closed: changes wait for its end. */
static void wrlock_past_gate(struct store *s)
{
	store_wrlock(s);
	while (s->gate_closed) {
		pthread_rwlock_unlock(&s->lock);
		pthread_mutex_lock(&s->gate_mu);
		while (s->gate_closed)
			pthread_cond_wait(&s->gate_cv, &s->gate_mu);
		pthread_mutex_unlock(&s->gate_mu);
		store_wrlock(s);
	}
}

int store_change_begin(struct store *s)
{
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	wrlock_past_gate(s);
	rc = s->failed ? s->failed : wal_error(s->wal);
	if (rc) {
		pthread_rwlock_unlock(&s->lock);
		return rc;
	}
	s->scratch.len = 0;
	s->change_bytes = 0;
	return 0;
}

/* Check, log and apply s->scratch.  On failure nothing changed, in memory
 * or in the log: the frame is checked against the state by the rules of
 * replay before wal_append(), so a frame that would not apply is never
 * logged (and never replayed). */
int store_change_commit(struct store *s, uint64_t *lsn)
{
	return store_change_commit_spans(s, NULL, 0, lsn);
}

/* Check, log (copied in now, or with apart reserved for
 * store_change_end to fill) and apply the frame p. */
static int commit_frame(struct store *s, const uint8_t *p, size_t len,
			const struct wal_span *sp, size_t nsp, bool apart,
			uint64_t *lsn)
{
	int rc = store_check_frame(s, p, len);

	if (rc) {
		log_error("store '%s' refuses a change that does not apply to "
			  "its state: %s",
			  s->dir, strerror(-rc));
		return -EINVAL;
	}
	if (apart) {
		rc = wal_append_reserve(s->wal, p, len, sp, nsp, lsn, &s->fill);
		s->fill_src = p;
	} else {
		rc = wal_append_spans(s->wal, p, len, sp, nsp, lsn);
	}
	if (rc)
		return rc;
	s->change_bytes += len;
	rc = store_apply_frame(s, *lsn, p, len, true);
	if (rc) {
		s->failed = rc == -ENOMEM ? -ENOMEM : -EIO;
		log_error("store '%s' is failed and refuses changes: frame "
			  "%" PRIu64 " could not be applied: %s",
			  s->dir, *lsn, strerror(-rc));
		return s->failed;
	}
	store_release_durable(s);
	return 0;
}

int store_change_commit_spans(struct store *s, const struct wal_span *sp,
			      size_t nsp, uint64_t *lsn)
{
	return commit_frame(s, s->scratch.p, s->scratch.len, sp, nsp, false,
			    lsn);
}

int store_change_commit_frame(struct store *s, const uint8_t *p, size_t len,
			      const struct wal_span *sp, size_t nsp,
			      uint64_t *lsn)
{
	return commit_frame(s, p, len, sp, nsp, true, lsn);
}

void store_change_pause(struct store *s)
{
	bool grow = store_grow_due(s);

	pthread_rwlock_unlock(&s->lock);
	if (grow)
		store_grow_ask(s);
}

void store_space_giveback(struct store *s, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	/* not while an inline growth works from the allocator it checked */
	wrlock_past_gate(s);
	if (!s->failed)
		alloc_release(s->alloc, off, len);
	pthread_rwlock_unlock(&s->lock);
}

void store_space_place(struct store *s, uint64_t off, const void *buf,
		       uint64_t len)
{
	const uint8_t *p = buf;

	if (s->opt.read_only)
		return;
	/* Through the file, not a map: no map is made or unmade here, so
	 * no other thread's page fault queues behind this (the process's
	 * map lock), and the store's map, which growth may move, is not
	 * touched.  The bytes land in the page cache the map shares; a
	 * failure leaves them to the copy under the lock, as without this
	 * (a plain pwrite: these bytes need no durability of their own). */
	while (len) {
		ssize_t n = pwrite(s->data_fd, p, (size_t)len, (off_t)off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
}

/* Unlock, then run what follows a change.  Returns rc, or the sync
 * error. */
int store_change_end(struct store *s, int rc, uint64_t id, uint64_t lsn,
		     uint64_t *lsn_out)
{
	bool grow = !rc && store_grow_due(s);
	struct wal_slot fill = s->fill;
	const void *src = s->fill_src;
	size_t bytes = s->change_bytes;

	s->fill.dst = NULL;
	s->fill_src = NULL;
	s->change_bytes = 0;
	pthread_rwlock_unlock(&s->lock);
	/* a frame reserved by the commit: its copy into the log holds
	 * nobody up (also after a failed apply: the log has the frame) */
	wal_append_fill(s->wal, &fill, src);
	if (grow)
		store_grow_ask(s);
	/* a change never waits for the disk under the lock: the log's push
	 * back comes here (wal_throttle), on whoever brought the bytes */
	wal_throttle(s->wal, bytes);
	if (rc)
		return rc;
	if (lsn_out)
		*lsn_out = lsn;
	if (s->hook && id)
		s->hook(s->hook_arg, id);
	if (s->opt.sync && lsn)
		rc = wal_sync(s->wal, lsn);
	if (!rc)
		store_maybe_cutover(s);
	return rc;
}

struct node *store_doc_node(struct store *s, uint64_t id, int *rc)
{
	struct node *n = node_get(s, id);

	if (!n || id == STORE_ROOT_ID) {
		*rc = -ENOENT;
		return NULL;
	}
	if (!n->space_id) {
		*rc = -EISDIR;
		return NULL;
	}
	return n;
}
