/*
 * grow.c - online growth of the data file.
 *
 * When a change needs space the allocator cannot give, even after space
 * waiting on a durable Delete/Trim was released (change.c), the store
 * grows the data file and the change goes on: no unmount, no error.
 * When a change leaves less free than the mark (half the capacity, at
 * most GROW_MARK_HALF_MAX, and at least a quarter of it), or than
 * the runway (what changes would take in GROW_LEAD_NS at the rate of the
 * last RATE_WINDOW_NS or more), growth is done ahead, off the path of
 * changes (on the checkpointer thread; without one, in the changing
 * thread after it unlocked), so that writers seldom wait for the disk.
 * A growth's file step syncs only the new size and the header (two
 * RWF_DSYNC writes: datafile.c), never the map's dirty pages: about two
 * journal commits rather than the writeback of everything written since
 * the last checkpoint (14-356 ms measured with fsyncs; bench/README.md).
 * No growth holds the store lock through its file step.
 *
 * Policy (grow_target): the capacity doubles, in steps of at least
 * GROW_STEP_MIN and at most GROW_STEP_MAX, and by at least what the
 * request lacks (its length less the free region at the end of the
 * area, rounded up to 4 KiB; for growth ahead, the runway); the target is capped at max_capacity_bytes
 * (0: no cap) and at what the file system can give while keeping
 * min_free_bytes free (statvfs of the store directory: blocks available
 * to unprivileged users).  A capped target that does not cover the
 * request means growth cannot help: -ENOSPC, nothing changed.  Explicit
 * growth (store_grow: capacity= at mount, caravan grow) takes the size
 * it is given, bounded by the disk alone.
 *
 * A growth has two steps:
 *   file step (grow_mu held, the store lock not): datafile_grow
 *     preallocates the file, then rewrites the header copies, each
 *     write durable with the new size; file_capacity is set once that is
 *     durable.  A crash
 *     anywhere in it leaves a store that opens (datafile.c says why).
 *   map step (exclusive lock): the map extended to file_capacity, then
 *     the allocator, then s->capacity.  Only now can an entry be placed
 *     beyond the old capacity, so every logged entry lies inside the
 *     capacity a durable header names.
 * Growth ahead runs the file step with no store lock: changes and reads
 * go on while the disk works and pause only for the map step (an
 * mremap).  A change that must grow inline (store_grow_for, from
 * store_take_space under the exclusive lock, with the state it checked
 * and a frame half encoded in s->scratch) closes the gate (gate_closed
 * set) and releases the lock for its file step: readers,
 * growth ahead's map step and a checkpoint go on, other changes wait in
 * store_change_begin, so nothing its change checked moves.  It takes the
 * lock again, opens the gate and does the map step.  Durability is the
 * same either way: the map step, whatever thread does it, only follows a
 * durable header.  A checkpoint that begins in the gap snapshots a state
 * without the waiting change (it logs after it, into the new log) and
 * keeps the map it msyncs (cut_mu): the map step maps anew beside it.
 * No checkpoint is needed: the snapshot's capacity may be below the
 * header's (replay.c accepts that, the space beyond is free).
 *
 * Extending the map: in place when the address space after it is free;
 * else moved, when no checkpoint is running (cut_mu taken with trylock:
 * a checkpoint msyncs its map without the store lock); else the file is
 * mapped anew and the old map kept (s->old_maps) until no checkpoint can
 * be msyncing it: the next checkpoint's begin, or close, unmaps it.  Both
 * maps share the file's page cache, so a checkpoint's msync through the
 * old one writes back what was written through the new one.
 *
 * Errors: a failed fallocate changes nothing (the header still names the
 * old capacity): not sticky, -ENOSPC when the disk is full.  A failed
 * fsync or header write is sticky (s->failed): what the disk holds is
 * unknown.  A failed map step (no address space or memory) changes
 * nothing on disk and is not sticky: the next growth maps again.  After
 * a failed growth ahead none is tried for GROW_RETRY_NS.
 *
 * Lock order: cut_mu, lock, gate_mu.  grow_mu is taken with no store
 * lock held and released before the lock is taken again; gate_mu is held
 * only for a moment (a change waiting at the gate holds nothing else).
 * grow_mu guards the file step and file_capacity's writes; gate_mu
 * guards gate_closed's writes (made under lock too) and gate_cv; lock
 * guards capacity, the map, old_maps, grows, grow_asked and
 * grow_retry_ns.
 */
#include "store/datafile.h"
#include "store/store_internal.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#define GROW_STEP_MIN (UINT64_C(1) << 20)
#define GROW_STEP_MAX (UINT64_C(1) << 30)
#define GROW_ALIGN UINT64_C(4096)
#define MIN_FREE_AUTO_MAX (UINT64_C(1) << 30)
#define GROW_RETRY_NS INT64_C(1000000000)
#define RATE_WINDOW_NS INT64_C(100000000)
#define GROW_LEAD_NS INT64_C(1000000000)
/* Below this, growth ahead keeps half the capacity free (a fast writer
 * on a small store eats a quarter before a growth ahead is done); above,
 * a quarter (slack on a large store costs disk). */
#define GROW_MARK_HALF_MAX (UINT64_C(64) << 20)

/* ---- policy ---- */

/* Bytes the file system holding the store can give to growth while
 * keeping min_free_bytes free. */
int store_disk_budget(struct store *s, uint64_t *out)
{
	uint64_t avail, total, keep = s->opt.min_free_bytes;
	struct statvfs v;

	*out = 0;
	if (statvfs(s->dir, &v) < 0) {
		int rc = -errno;
		log_error("cannot see the free space of '%s': %s", s->dir,
			  strerror(errno));
		return rc;
	}
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	total = (uint64_t)v.f_blocks * v.f_frsize;
	if (keep == STORE_MIN_FREE_AUTO)
		keep = total / 20 < MIN_FREE_AUTO_MAX ? total / 20
						      : MIN_FREE_AUTO_MAX;
	*out = avail > keep ? avail - keep : 0;
	return 0;
}

/* The capacity to grow to from cap (the file already holding file_cap)
 * so that need more bytes fit at the end (0: growth ahead), within max
 * (0: none) and budget bytes of disk; 0 when growth cannot help. */
static uint64_t grow_target(uint64_t cap, uint64_t file_cap, uint64_t need,
			    uint64_t max, uint64_t budget)
{
	uint64_t step = cap, want;

	if (step < GROW_STEP_MIN)
		step = GROW_STEP_MIN;
	if (step > GROW_STEP_MAX)
		step = GROW_STEP_MAX;
	if (need > step)
		step = (need + GROW_ALIGN - 1) / GROW_ALIGN * GROW_ALIGN;
	want = cap + step;
	if (max && want > max)
		want = max;
	if (want > file_cap && want - file_cap > budget)
		want = file_cap + budget;
	if (want <= cap || want - cap < need)
		return 0;
	return want;
}

/* ---- the two steps ---- */

/* grow_mu held.  *sticky tells a failure that leaves the disk unknown. */
static int file_step(struct store *s, uint64_t cap, bool *sticky)
{
	int rc;

	*sticky = false;
	if (cap <= __atomic_load_n(&s->file_capacity, __ATOMIC_ACQUIRE))
		return 0;
	rc = datafile_grow(s->data_fd, s->dir, cap, s->id, sticky);
	if (!rc)
		__atomic_store_n(&s->file_capacity, cap, __ATOMIC_RELEASE);
	return rc;
}

void store_old_maps_free(struct store *s)
{
	while (s->old_maps) {
		struct old_map *o = s->old_maps;

		s->old_maps = o->next;
		munmap(o->p, o->len);
		free(o);
	}
}

/* Extend the map to len bytes (see the top of the file).  Exclusive
 * lock held. */
static int map_extend(struct store *s, uint64_t len)
{
	struct old_map *o;
	void *m = mremap(s->map, s->map_len, len, 0);

	if (m != MAP_FAILED)
		goto done;
	if (pthread_mutex_trylock(&s->cut_mu) == 0) {
		store_old_maps_free(s);
		m = mremap(s->map, s->map_len, len, MREMAP_MAYMOVE);
		pthread_mutex_unlock(&s->cut_mu);
		if (m == MAP_FAILED)
			return -errno;
		goto done;
	}
	o = malloc(sizeof(*o));
	if (!o)
		return -ENOMEM;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->data_fd, 0);
	if (m == MAP_FAILED) {
		free(o);
		return -errno;
	}
	*o = (struct old_map){ s->map, s->map_len, s->old_maps };
	s->old_maps = o;
done:
	s->map = m;
	s->map_len = len;
	return 0;
}

/* Exclusive lock held: make the map and the allocator reach
 * file_capacity. */
static int map_step(struct store *s)
{
	uint64_t cap = __atomic_load_n(&s->file_capacity, __ATOMIC_ACQUIRE);
	int rc = 0;

	if (cap <= s->capacity)
		return 0;
	if (s->map_len < DATA_HDR + cap)
		rc = map_extend(s, DATA_HDR + cap);
	if (!rc)
		rc = alloc_grow(s->alloc, cap);
	if (rc) {
		log_error("cannot map the grown data file of store '%s': %s",
			  s->dir, strerror(-rc));
		return rc;
	}
	s->capacity = cap;
	s->grows++;
	log_info("store '%s' grew to %" PRIu64 " bytes", s->dir, cap);
	return 0;
}

/* Exclusive lock held: note a pause of changes that began at t0 (the
 * map step of a growth ahead, or a whole inline growth). */
static void pause_note(struct store *s, int64_t t0)
{
	uint64_t ns = (uint64_t)(clock_mono_ns() - t0);

	if (ns > s->grow_pause_max_ns)
		s->grow_pause_max_ns = ns;
}

/* Both steps, the file step without the store lock. */
static int grow_to(struct store *s, uint64_t cap)
{
	int64_t t0;
	bool sticky;
	int rc;

	pthread_mutex_lock(&s->grow_mu);
	rc = file_step(s, cap, &sticky);
	pthread_mutex_unlock(&s->grow_mu);
	store_wrlock(s);
	t0 = clock_mono_ns();
	if (rc && sticky && !s->failed)
		s->failed = rc;
	if (!rc)
		rc = s->failed ? s->failed : map_step(s);
	pause_note(s, t0);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* Exclusive lock held: the same for an inline growth's hold. */
static void inline_hold_note(struct store *s, int64_t t0)
{
	uint64_t ns = (uint64_t)(clock_mono_ns() - t0);

	if (ns > s->grow_inline_hold_max_ns)
		s->grow_inline_hold_max_ns = ns;
	pause_note(s, t0);
}

/* ---- the three ways to grow ---- */

/* Exclusive lock held on entry and on return, not between: the file step
 * to target with the lock released and other changes held back
 * (gate_closed: store_change_begin), then the map step.  *t0 is when the
 * lock was taken again. */
static int grow_inline(struct store *s, uint64_t target, int64_t *t0)
{
	bool sticky;
	int rc;

	pthread_mutex_lock(&s->gate_mu);
	s->gate_closed = true;
	pthread_mutex_unlock(&s->gate_mu);
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_lock(&s->grow_mu);
	if (s->grow_file_seam)
		s->grow_file_seam(s->grow_file_seam_arg);
	rc = file_step(s, target, &sticky);
	pthread_mutex_unlock(&s->grow_mu);
	store_wrlock(s);
	*t0 = clock_mono_ns();
	pthread_mutex_lock(&s->gate_mu);
	s->gate_closed = false;
	pthread_cond_broadcast(&s->gate_cv);
	pthread_mutex_unlock(&s->gate_mu);
	if (rc) {
		if (sticky && !s->failed)
			s->failed = rc;
		return rc;
	}
	/* a checkpoint that ran meanwhile may have failed the store */
	return s->failed ? s->failed : map_step(s);
}

static int grow_for(struct store *s, uint64_t len, int64_t *t0)
{
	uint64_t tail = alloc_tail_free(s->alloc);
	uint64_t need = len > tail ? len - tail : 0, budget, target;

	if (__atomic_load_n(&s->file_capacity, __ATOMIC_ACQUIRE) >=
	    s->capacity + need)
		return map_step(s); /* a growth ahead did the file step */
	if (store_disk_budget(s, &budget))
		return -ENOSPC;
	target = grow_target(s->capacity,
			     __atomic_load_n(&s->file_capacity,
					     __ATOMIC_ACQUIRE),
			     need, s->opt.max_capacity_bytes, budget);
	if (!target)
		return -ENOSPC;
	return grow_inline(s, target, t0);
}

int store_grow_for(struct store *s, uint64_t len)
{
	uint64_t cap = s->capacity;
	int64_t t0 = clock_mono_ns();
	int rc = grow_for(s, len, &t0);

	if (!rc && s->capacity > cap) {
		s->grows_inline++;
		inline_hold_note(s, t0);
	}
	return rc;
}

/* The runway: what the changes of the last window would take in
 * GROW_LEAD_NS at the same rate, at most GROW_STEP_MAX (lock held). */
static uint64_t runway(struct store *s, int64_t now)
{
	int64_t dt = now - s->rate_t0;

	if (dt >= RATE_WINDOW_NS) {
		double per_ns =
			(double)(s->taken_bytes - s->rate_mark) / (double)dt;

		s->runway = (uint64_t)(per_ns * (double)GROW_LEAD_NS);
		if (s->runway > GROW_STEP_MAX)
			s->runway = GROW_STEP_MAX;
		s->rate_t0 = now;
		s->rate_mark = s->taken_bytes;
	}
	return s->runway;
}

bool store_grow_due(struct store *s)
{
	uint64_t free = alloc_free_bytes(s->alloc) + s->pf_bytes;
	uint64_t max = s->opt.max_capacity_bytes, mark = s->capacity / 4;
	int64_t now = clock_mono_ns();

	if (mark < GROW_MARK_HALF_MAX)
		mark = s->capacity / 2 < GROW_MARK_HALF_MAX
			       ? s->capacity / 2
			       : GROW_MARK_HALF_MAX;
	if (runway(s, now) > mark)
		mark = s->runway;
	if (s->grow_asked || free >= mark || (max && s->capacity >= max))
		return false;
	if (s->grow_retry_ns && now < s->grow_retry_ns)
		return false;
	s->grow_asked = true;
	return true;
}

void store_grow_ahead(struct store *s)
{
	uint64_t budget, target = 0, fc, max = s->opt.max_capacity_bytes;
	int rc = store_disk_budget(s, &budget);

	pthread_rwlock_rdlock(&s->lock);
	fc = __atomic_load_n(&s->file_capacity, __ATOMIC_ACQUIRE);
	if (!rc && !s->failed) {
		/* by the runway at least, when that fits; else what fits */
		target = grow_target(s->capacity, fc, s->runway, max, budget);
		if (!target)
			target = grow_target(s->capacity, fc, 0, max, budget);
	}
	pthread_rwlock_unlock(&s->lock);
	rc = target ? grow_to(s, target) : -ENOSPC;
	store_wrlock(s);
	s->grow_asked = false;
	s->grow_retry_ns = rc ? clock_mono_ns() + GROW_RETRY_NS : 0;
	pthread_rwlock_unlock(&s->lock);
}

int store_grow(struct store *s, uint64_t capacity)
{
	uint64_t cur;
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	pthread_rwlock_rdlock(&s->lock);
	rc = s->failed ? s->failed : wal_error(s->wal);
	cur = s->capacity;
	pthread_rwlock_unlock(&s->lock);
	if (rc || capacity <= cur)
		return rc;
	rc = grow_to(s, capacity);
	/* as it always did: every change before it is durable too */
	return rc ? rc : store_sync(s, 0);
}
