/*
 * checkpoint.c - checkpoints: the log cut over to a new one that opens
 * with a snapshot of the index, and the checkpointer thread that runs
 * them off the path of changes.
 *
 * When: after a change (store_change_end) the log's size is compared with
 * max(cutover_bytes, 2 x the last snapshot's size); past it, the
 * checkpointer thread is asked (one request stands for any number), or
 * with commit_ms 0 (no thread) the changing thread checkpoints itself,
 * one at a time.  store_checkpoint() runs one on demand; growth and close
 * run one under the exclusive lock (store_checkpoint_locked).
 *
 * The checkpointer thread also runs growth ahead (grow.c) when a change
 * asks for it (grow_wanted), before any checkpoint asked meanwhile.
 *
 * Locks: cut_mu serializes checkpoints (growth never moves a map a
 * checkpoint msyncs: grow.c); req_mu guards the checkpointer's request
 * flags (cut_wanted, grow_wanted, cut_stop).
 */
#include "store/store_internal.h"

#include "util/clock.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static bool cutover_due(struct store *s)
{
	uint64_t limit = s->opt.cutover_bytes;
	uint64_t snap = __atomic_load_n(&s->last_snap_bytes, __ATOMIC_RELAXED);

	if (limit < 2 * snap)
		limit = 2 * snap;
	return wal_size(s->wal) >= limit;
}

/* After a change: past the cut-over size, hand the checkpoint to the
 * checkpointer thread, or without one run it here (once at a time). */
void store_maybe_cutover(struct store *s)
{
	if (!cutover_due(s))
		return;
	if (s->has_cut_thread) {
		pthread_mutex_lock(&s->req_mu);
		if (!s->cut_wanted) {
			s->cut_wanted = true;
			pthread_cond_signal(&s->req_cv);
		}
		pthread_mutex_unlock(&s->req_mu);
		return;
	}
	if (__atomic_exchange_n(&s->cutover_running, 1, __ATOMIC_ACQ_REL))
		return;
	store_checkpoint(s);
	__atomic_store_n(&s->cutover_running, 0, __ATOMIC_RELEASE);
}

static int checkpoint_in_child(struct store *s);

static void *checkpointer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->req_mu);
	for (;;) {
		while (!s->cut_wanted && !s->grow_wanted && !s->cut_stop)
			pthread_cond_wait(&s->req_cv, &s->req_mu);
		if (s->cut_stop)
			break;
		if (s->grow_wanted) {
			s->grow_wanted = false;
			pthread_mutex_unlock(&s->req_mu);
			store_grow_ahead(s);
			pthread_mutex_lock(&s->req_mu);
			continue;
		}
		s->cut_wanted = false;
		pthread_mutex_unlock(&s->req_mu);
		/* requests made while the last checkpoint ran saw the old
		 * log's size: look again */
		if (cutover_due(s))
			checkpoint_in_child(s);
		pthread_mutex_lock(&s->req_mu);
	}
	pthread_mutex_unlock(&s->req_mu);
	return NULL;
}

void store_grow_ask(struct store *s)
{
	if (!s->has_cut_thread) {
		store_grow_ahead(s);
		return;
	}
	pthread_mutex_lock(&s->req_mu);
	s->grow_wanted = true;
	pthread_cond_signal(&s->req_cv);
	pthread_mutex_unlock(&s->req_mu);
}

int store_checkpointer_start(struct store *s)
{
	if (s->opt.read_only || s->opt.commit_ms == 0)
		return 0;
	if (pthread_create(&s->cut_thread, NULL, checkpointer_main, s) != 0)
		return -EAGAIN;
	s->has_cut_thread = true;
	return 0;
}

void store_checkpointer_stop(struct store *s)
{
	if (!s->has_cut_thread)
		return;
	pthread_mutex_lock(&s->req_mu);
	s->cut_stop = true;
	pthread_cond_signal(&s->req_cv);
	pthread_mutex_unlock(&s->req_mu);
	pthread_join(s->cut_thread, NULL);
	s->has_cut_thread = false;
}

/*
 * A checkpoint, in three steps (cut_mu held throughout):
 *   begin, under the exclusive lock: the log is flushed and the new log,
 *     opened by a snapshot of the index, written (wal_cutover_begin);
 *   seal, with or without the lock: the whole map msync'd, which covers
 *     every entry the snapshot names, then the new log synced and renamed
 *     into place (wal_cutover_finish);
 *   done, under the lock again: freed space whose frames are now durable
 *     returns to the allocator.
 * Changes made between begin and seal go to the new log after the
 * snapshot and become durable only after the seal; they never touch the
 * space the snapshot's entries occupy (it is not free in the snapshot,
 * and space freed later waits for its frame to be durable).
 */
/* Under the lock: the longest hold so far (t0: when it was taken). */
static void note_pause(struct store *s, int64_t t0)
{
	uint64_t ns = (uint64_t)(clock_mono_ns() - t0);

	if (ns > s->cutover_pause_max_ns)
		s->cutover_pause_max_ns = ns;
}

static int checkpoint_begin_locked(struct store *s)
{
	int rc = s->failed ? s->failed : wal_error(s->wal);

	/* no checkpoint runs (cut_mu): maps growth replaced can go */
	store_old_maps_free(s);
	s->cut_map = s->map;
	s->cut_len = s->map_len;
	return rc ? rc : wal_cutover_begin(s->wal, store_write_snapshot, s);
}

/* Returns 0, or the msync error (the caller records it in s->failed
 * under the lock) or the log's.  The map msync'd is the one begin saw
 * (growth may extend or replace s->map meanwhile, never unmap it). */
static int checkpoint_seal(struct store *s, bool *msync_failed)
{
	int rc = io_msync(s->cut_map, s->cut_len, MS_SYNC);

	*msync_failed = rc != 0;
	if (rc)
		log_error("store '%s' is failed and refuses changes: msync of "
			  "the data file: %s",
			  s->dir, strerror(-rc));
	return wal_cutover_finish(s->wal, rc);
}

static void checkpoint_done_locked(struct store *s, int rc, bool msync_failed)
{
	if (msync_failed && !s->failed)
		s->failed = rc;
	if (rc)
		return;
	s->cutovers++;
	store_release_durable(s);
}

/* The whole checkpoint under the exclusive lock (growth, close). */
int store_checkpoint_locked(struct store *s)
{
	bool msync_failed = false;
	int rc = checkpoint_begin_locked(s);

	if (rc)
		return rc;
	rc = checkpoint_seal(s, &msync_failed);
	checkpoint_done_locked(s, rc, msync_failed);
	return rc;
}

int store_checkpoint(struct store *s)
{
	bool msync_failed = false;
	int64_t t0;
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	pthread_mutex_lock(&s->cut_mu);
	/* Flush the log before holding changes back: begin then only has
	 * what came meanwhile. */
	wal_sync(s->wal, 0);
	store_wrlock(s);
	t0 = clock_mono_ns();
	rc = checkpoint_begin_locked(s);
	note_pause(s, t0);
	pthread_rwlock_unlock(&s->lock);
	if (!rc) {
		rc = checkpoint_seal(s, &msync_failed);
		store_wrlock(s);
		checkpoint_done_locked(s, rc, msync_failed);
		pthread_rwlock_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->cut_mu);
	return rc;
}

/*
 * A checkpoint written by a forked child (the checkpointer thread's way):
 * the exclusive lock is held only while the log notes where the snapshot
 * stands (L, the last frame applied) and the process forks.  The child
 * sees the index exactly as of L in its copy of memory, writes the
 * snapshot to wal.tmp and exits; changes go on meanwhile into the current
 * log.  Then, with no store lock: the whole map msync'd (the entries the
 * snapshot names), and the log copies the frames after L into the new
 * file, switches to it and seals it (wal_cutover_fork_finish).
 *
 * The pause is fork()'s copy of the page tables (proportional to the
 * daemon's resident memory); while the child runs, pages the daemon
 * writes are copied on first write.  Space freed after L may be reused
 * before the seal: the new log holds the snapshot, then the frame that
 * freed it, then the Append that reused it (with its bytes), so replay
 * ends in the same state as the running store.
 *
 * The child takes no lock, logs nothing and touches nothing but its own
 * memory and wal.tmp; it dies with the checkpointer thread
 * (PR_SET_PDEATHSIG), so no orphan writes wal.tmp after a crash.
 *
 * Two pipes join them: "go" (parent to child: the lock is released,
 * start) and "verdict" (child to parent: the snapshot's result as an
 * int, written before _exit).  The verdict, not the exit status, is the
 * result: whatever runs at the child's exit (a tool wrapping the daemon,
 * a leak checker) may change the status but not the snapshot already on
 * disk.  A child that ends without a verdict failed (-EIO), whatever
 * its exit status; the log says how it ended.
 */
static void checkpoint_child(struct store *s, struct wal_cut *c, pid_t parent,
			     const int go[2], const int verdict[2])
{
	sigset_t all;
	char b;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(ECHILD);
	/* Start once the parent has let go of the lock: until then the
	 * two would share the cores while changes wait. */
	close(go[1]);
	close(verdict[0]);
	if (read(go[0], &b, 1) != 1)
		_exit(ECHILD);
	rc = wal_cutover_child(c, store_write_snapshot, s);
	if (write(verdict[1], &rc, sizeof(rc)) != (ssize_t)sizeof(rc))
		_exit(EIO);
	_exit(0);
}

/* The child's verdict, read until it comes or the child ends (EOF), then
 * the child reaped. */
static int child_wait(struct store *s, pid_t pid, int verdict_fd)
{
	int v, st;
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(v)) {
		n = read(verdict_fd, (char *)&v + got, sizeof(v) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (got == sizeof(v))
		return v > 0 || v < -4095 ? -EIO : v;
	if (WIFEXITED(st))
		log_error("store '%s': the process writing a checkpoint "
			  "ended (status %d) without its result",
			  s->dir, WEXITSTATUS(st));
	else
		log_error("store '%s': the process writing a checkpoint died "
			  "of signal %d",
			  s->dir, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return -EIO;
}

/* Returns 0, or the failure, after which the store has failed (sticky)
 * unless the failure leaves the log as it was and may pass (-ENOMEM,
 * -EAGAIN from fork, -ERANGE: the caller checkpoints the ordinary way). */
static int checkpoint_forked(struct store *s)
{
	struct wal_cut *c = NULL;
	bool msync_failed = false;
	uint64_t bytes = 0;
	pid_t parent = getpid(), pid = -1;
	int go[2], verdict[2];
	int64_t t0;
	int rc;

	if (pipe2(go, O_CLOEXEC) < 0)
		return errno == EMFILE || errno == ENFILE ? -EAGAIN : -errno;
	if (pipe2(verdict, O_CLOEXEC) < 0) {
		rc = errno == EMFILE || errno == ENFILE ? -EAGAIN : -errno;
		close(go[0]);
		close(go[1]);
		return rc;
	}
	store_wrlock(s);
	t0 = clock_mono_ns();
	rc = s->failed ? s->failed : wal_error(s->wal);
	if (!rc)
		rc = wal_cutover_fork_begin(s->wal, &c);
	if (!rc) {
		store_old_maps_free(s);
		s->cut_map = s->map;
		s->cut_len = s->map_len;
		pid = fork();
		if (pid == 0)
			checkpoint_child(s, c, parent, go, verdict);
		if (pid < 0)
			rc = -errno;
	}
	note_pause(s, t0);
	pthread_rwlock_unlock(&s->lock);
	if (pid > 0 && write(go[1], "g", 1) != 1)
		kill(pid, SIGKILL); /* cannot happen: it reads; it ends */
	close(go[0]);
	close(go[1]);
	close(verdict[1]);
	if (pid > 0)
		rc = child_wait(s, pid, verdict[0]);
	close(verdict[0]);
	if (!rc) {
		rc = io_msync(s->cut_map, s->cut_len, MS_SYNC);
		msync_failed = rc != 0;
		if (rc)
			log_error("store '%s' is failed and refuses changes: "
				  "msync of the data file: %s",
				  s->dir, strerror(-rc));
	}
	if (c)
		rc = wal_cutover_fork_finish(s->wal, c, rc, &bytes);
	if (rc == -ENOMEM || rc == -EAGAIN || rc == -ERANGE)
		return rc;
	if (rc && !msync_failed)
		log_error("store '%s' is failed and refuses changes: "
			  "checkpoint: %s",
			  s->dir, strerror(-rc));
	store_wrlock(s);
	checkpoint_done_locked(s, rc, rc != 0);
	pthread_rwlock_unlock(&s->lock);
	if (!rc)
		/* read without the lock by cutover_due() */
		__atomic_store_n(&s->last_snap_bytes, bytes, __ATOMIC_RELAXED);
	return rc;
}

/* The checkpointer's checkpoint: forked, or the ordinary way when a fork
 * cannot be had or the snapshot outnumbers the log's frames. */
static int checkpoint_in_child(struct store *s)
{
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	pthread_mutex_lock(&s->cut_mu);
	rc = checkpoint_forked(s);
	pthread_mutex_unlock(&s->cut_mu);
	if (rc == -ENOMEM || rc == -EAGAIN || rc == -ERANGE)
		rc = store_checkpoint(s);
	return rc;
}
