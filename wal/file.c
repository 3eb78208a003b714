/*
 * file.c - the write-ahead log's file: format, creation, replay and
 * cut-over.
 *
 * Group commit (what a struct wal does between opening and closing, and
 * its invariants) is in wal/log.c; struct wal is in wal/wal_internal.h.
 *
 * File format (all integers little-endian):
 *
 *   header, 64 bytes
 *     0   8  magic "CRVNWAL\0"
 *     8   4  format version (1)
 *     12  4  header size (64)
 *     16  8  generation (grows by one at every cut-over)
 *     24  8  salt (random, chosen when the file is written)
 *     32  8  LSN of the first frame in this file
 *     40  8  sealed length: the file's size when it was renamed into place
 *     48  12 zero
 *     60  4  CRC-32C of bytes 0..60
 *
 *   frames, back to back from offset 64
 *     0   4  frame magic 0xC0A1F4A3
 *     4   4  payload length L (at most WAL_FRAME_MAX)
 *     8   8  LSN (the previous frame's plus one)
 *     16  8  epoch: the lowest LSN not known durable when it was written
 *     24  4  zero
 *     28  4  CRC-32C over bytes 0..28 and the payload, seeded with the
 *            CRC-32C of (generation, salt)
 *     32  L  payload
 *
 * Validity: a frame is valid when its magic, length, LSN (exactly the
 * expected one) and checksum all hold.  The seed makes frames of an older
 * file, or of the same file before a cut-over, fail the checksum, so stale
 * bytes never validate.
 *
 * Recovery: frames are replayed up to the first invalid one, at offset X,
 * expected LSN E.  Damage below the sealed length (the snapshot that opens
 * the file, written and synced before the file was renamed into place)
 * can never be a torn write: it is corruption, and the open fails.  The rest of the file is then scanned for any frame with
 * a valid checksum.  If such a frame has epoch > E, frame E had been
 * synced before that frame was written, so the damage is corruption of
 * acknowledged data: the open fails with -EBADMSG and nothing is changed.
 * Otherwise the damage lies in the unsynced tail of a crash (a torn
 * write): the tail is saved to wal.damaged.<E>, the file is truncated at X
 * and fsync'd, and appends continue from X.  We never append after
 * garbage.
 *
 * Cut-over, in two steps.  wal_cutover_begin (no appends meanwhile):
 * every pending frame written and fdatasync'd; the new file written to
 * wal.tmp (not yet synced); the log switches to the new generation and
 * seed, and appends are accepted again: they queue in pend, after the
 * snapshot's LSNs, and are not written while io_busy is held.
 * wal_cutover_finish (caller: data file msync'd first): wal.tmp
 * fdatasync'd, renamed over the log, directory fsync'd; then the new file
 * is the log, the snapshot's frames are durable and the queued frames are
 * written by the next flush.  A crash before the rename recovers the old
 * log, which holds every frame acknowledged so far (frames queued during
 * the cut-over cannot be acknowledged before it ends).
 *
 * Cut-over from a forked writer (wal.h): the new file is the same, but its
 * snapshot is written by a child as of LSN L while appends go on into the
 * current file; its frames are numbered so that the last is L (the
 * header's first LSN is L + 1 - their count), then the frames after L are
 * copied in, re-checksummed for the new seed.  Validity and recovery are
 * unchanged: the file is renamed into place sealed, snapshot and copied
 * frames alike.  The switch, which takes the pending frames out to
 * re-checksum them, waits for the fills of frames reserved and not yet
 * filled (log.c invariant 8), as a flush does.
 */
#include "wal/wal_internal.h"

#include "util/clock.h"
#include "util/crc32c.h"
#include "util/debug.h"
#include "util/endian.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_CHUNK (1u << 20)

_Static_assert(WAL_HDR == 64, "log header is 64 bytes");
_Static_assert(FRAME_HDR == 32, "frame header is 32 bytes");

struct wal_snap {
	struct wal *w;
	int fd;
	uint64_t off;
	uint64_t lsn;
	uint64_t epoch;
	uint32_t seed;
	struct wal_buf buf;
};

static uint32_t seed_of(uint64_t gen, uint64_t salt)
{
	uint8_t b[16];

	le64_put(b, gen);
	le64_put(b + 8, salt);
	return crc32c(b, sizeof(b));
}

void wal_frame_put_spans(uint8_t *h, uint32_t seed, uint64_t lsn,
			 uint64_t epoch, const void *payload, size_t len,
			 const struct wal_span *sp, size_t nsp)
{
	const uint8_t *p = payload;
	size_t at = 0;
	uint32_t crc;

	le32_put(h, FRAME_MAGIC);
	le32_put(h + 4, (uint32_t)len);
	le64_put(h + 8, lsn);
	le64_put(h + 16, epoch);
	le32_put(h + 24, 0);
	crc = crc32c_extend(seed, h, 28);
	for (size_t i = 0; i < nsp; i++) {
		debug_assert(crc32c(p + sp[i].off, sp[i].len) == sp[i].crc);
		crc = crc32c_extend(crc, p + at, sp[i].off - at);
		crc = wal_crc_skip(crc, sp[i].crc, sp[i].len);
		at = sp[i].off + sp[i].len;
	}
	crc = crc32c_extend(crc, p + at, len - at);
	le32_put(h + 28, crc);
}

void wal_frame_put(uint8_t *h, uint32_t seed, uint64_t lsn, uint64_t epoch,
		   const void *payload, size_t len)
{
	wal_frame_put_spans(h, seed, lsn, epoch, payload, len, NULL, 0);
}

/* Is there a valid frame at p (any LSN)?  On success *lsn, *epoch and
 * *len describe it. */
static bool frame_valid(const uint8_t *p, size_t left, uint32_t seed,
			uint64_t *lsn, uint64_t *epoch, uint32_t *len)
{
	uint32_t n, crc;

	if (left < FRAME_HDR || le32_get(p) != FRAME_MAGIC)
		return false;
	n = le32_get(p + 4);
	if (n > WAL_FRAME_MAX || n > left - FRAME_HDR)
		return false;
	if (le32_get(p + 24) != 0)
		return false;
	crc = crc32c_extend(seed, p, 28);
	crc = crc32c_extend(crc, p + FRAME_HDR, n);
	if (crc != le32_get(p + 28))
		return false;
	*lsn = le64_get(p + 8);
	*epoch = le64_get(p + 16);
	*len = n;
	return true;
}

static void header_encode(uint8_t *h, uint64_t gen, uint64_t salt,
			  uint64_t first_lsn, uint64_t sealed)
{
	memset(h, 0, WAL_HDR);
	memcpy(h, WAL_MAGIC, 8);
	le32_put(h + 8, WAL_VERSION);
	le32_put(h + 12, WAL_HDR);
	le64_put(h + 16, gen);
	le64_put(h + 24, salt);
	le64_put(h + 32, first_lsn);
	le64_put(h + 40, sealed);
	le32_put(h + 60, crc32c(h, 60));
}

static int header_decode(const uint8_t *h, size_t len, uint64_t *gen,
			 uint64_t *salt, uint64_t *first_lsn, uint64_t *sealed)
{
	if (len < WAL_HDR || memcmp(h, WAL_MAGIC, 8) != 0)
		return -EBADMSG;
	if (le32_get(h + 60) != crc32c(h, 60))
		return -EBADMSG;
	if (le32_get(h + 8) != WAL_VERSION || le32_get(h + 12) != WAL_HDR)
		return -EPROTONOSUPPORT;
	*gen = le64_get(h + 16);
	*salt = le64_get(h + 24);
	*first_lsn = le64_get(h + 32);
	*sealed = le64_get(h + 40);
	return 0;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)clock_real_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

static int snap_flush(struct wal_snap *sn)
{
	int rc;

	if (sn->buf.len == 0)
		return 0;
	rc = io_pwrite_all(sn->fd, sn->buf.p, sn->buf.len, (off_t)sn->off);
	if (rc)
		return rc;
	sn->off += sn->buf.len;
	sn->buf.len = 0;
	return 0;
}

int wal_snap_frame(struct wal_snap *sn, const void *payload, size_t len)
{
	int rc;

	if (len > WAL_FRAME_MAX)
		return -EFBIG;
	rc = wal_buf_reserve(&sn->buf, FRAME_HDR + len);
	if (rc)
		return rc;
	wal_frame_put(sn->buf.p + sn->buf.len, sn->seed, sn->lsn, sn->epoch,
		      payload, len);
	memcpy(sn->buf.p + sn->buf.len + FRAME_HDR, payload, len);
	sn->buf.len += FRAME_HDR + len;
	sn->lsn++;
	if (sn->buf.len >= SNAP_CHUNK)
		return snap_flush(sn);
	return 0;
}

/* Write DIR/wal.tmp: a header and snap's frames, numbered from the log's
 * next LSN and checksummed for (gen, salt).  Nothing is synced.  On
 * success *fd_out is the file (open for reading and writing: a forked
 * cut-over copies frames out of the log), *size its size and
 * *next_lsn the LSN after its last frame. */
static int new_log_write(struct wal *w, uint64_t gen, uint64_t salt,
			 wal_snap_fn snap, void *arg, int *fd_out,
			 uint64_t *size, uint64_t *next_lsn)
{
	struct wal_snap sn;
	uint8_t h[WAL_HDR];
	const char *what = "open";
	int rc;

	memset(&sn, 0, sizeof(sn));
	wal_buf_init(&sn.buf);
	sn.w = w;
	sn.lsn = w->next_lsn;
	sn.epoch = w->next_lsn;
	sn.seed = seed_of(gen, salt);
	sn.off = WAL_HDR;
	sn.fd = io_open(w->tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (sn.fd < 0) {
		rc = sn.fd;
		goto out;
	}
	what = "write";
	rc = snap(arg, &sn);
	if (rc)
		goto out;
	rc = snap_flush(&sn);
	if (rc)
		goto out;
	/* The header goes last: it records how much of the file is sealed. */
	header_encode(h, gen, salt, w->next_lsn, sn.off);
	rc = io_pwrite_all(sn.fd, h, WAL_HDR, 0);
	if (rc)
		goto out;
	*fd_out = sn.fd;
	*size = sn.off;
	*next_lsn = sn.lsn;
	sn.fd = -1;
out:
	if (sn.fd >= 0)
		io_close(sn.fd);
	if (rc && rc != -ENOMEM)
		log_error("cannot write new log '%s': %s: %s", w->tmp_path,
			  what, strerror(-rc));
	wal_buf_release(&sn.buf);
	return rc;
}

/* Make the written wal.tmp (fd) durable and put it in the log's place. */
static int new_log_seal(struct wal *w, int fd)
{
	const char *what = "fdatasync";
	int rc;

	rc = io_fdatasync(fd);
	if (!rc) {
		what = "rename";
		rc = io_rename(w->tmp_path, w->path);
	}
	if (!rc) {
		what = "directory fsync";
		rc = io_fsync_dir(w->dir);
	}
	if (rc)
		log_error("cannot write new log '%s': %s: %s", w->tmp_path,
			  what, strerror(-rc));
	return rc;
}

int wal_cutover_begin(struct wal *w, wal_snap_fn snap, void *arg)
{
	uint64_t gen, salt, size = 0, next = 0;
	int rc, fd = -1;

	if (w->opt.read_only)
		return -EROFS;
	rc = wal_sync(w, 0);
	if (rc)
		return rc;
	pthread_mutex_lock(&w->mu);
	while (w->io_busy)
		pthread_cond_wait(&w->cv, &w->mu);
	debug_assert(wal_invariants(w));
	rc = w->err;
	if (!rc && w->pend.len)
		rc = -EBUSY; /* a frame came in after the sync: see wal.h */
	if (rc) {
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	/* Held until wal_cutover_finish: no flush touches either file. */
	w->io_busy = true;
	gen = w->gen + 1;
	pthread_mutex_unlock(&w->mu);

	salt = random_u64();
	rc = new_log_write(w, gen, salt, snap, arg, &fd, &size, &next);

	pthread_mutex_lock(&w->mu);
	if (rc) {
		w->io_busy = false;
		if (rc != -ENOMEM)
			wal_fail_locked(w, rc, "cut-over");
		pthread_cond_broadcast(&w->cv);
		while (wal_settle_locked(w))
			wal_io_locked(w, true);
	} else {
		/* Appends from here on belong to the new file. */
		w->cut_fd = fd;
		w->cut_size = size;
		w->cut_last_lsn = next - 1;
		w->gen = gen;
		w->salt = salt;
		w->seed = seed_of(gen, salt);
		w->next_lsn = next;
	}
	debug_assert(wal_invariants(w));
	wal_unlock_handoff(w);
	return rc;
}

int wal_cutover_finish(struct wal *w, int rc)
{
	int fd = w->cut_fd, old = -1;

	if (!rc)
		rc = new_log_seal(w, fd);
	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	w->io_busy = false;
	w->cut_fd = -1;
	if (rc) {
		old = fd;
		wal_fail_locked(w, rc, "cut-over");
	} else {
		/* closed below, without mu: the last close of the replaced
		 * file frees its blocks (with discards, tens of ms) */
		old = w->fd;
		w->fd = fd;
		w->file_size = w->cut_size;
		w->written_lsn = w->cut_last_lsn;
		__atomic_store_n(&w->durable_lsn, w->cut_last_lsn,
				 __ATOMIC_RELEASE);
		if (w->has_committer && w->pend.len >= w->opt.buffer_bytes &&
		    !w->kick) {
			w->kick = true;
			pthread_cond_signal(&w->kick_cv);
		}
	}
	pthread_cond_broadcast(&w->cv);
	while (wal_settle_locked(w))
		wal_io_locked(w, true);
	debug_assert(wal_invariants(w));
	wal_unlock_handoff(w);
	io_close(old);
	return rc;
}

int wal_cutover(struct wal *w, wal_snap_fn snap, void *arg)
{
	int rc = wal_cutover_begin(w, snap, arg);

	return rc ? rc : wal_cutover_finish(w, 0);
}

/* ---- cut-over from a forked writer (wal.h) ----
 *
 * The new file is built in three parts: the snapshot's frames (written by
 * the child, numbered so that the last is L: the first LSN of the file is
 * L + 1 - their count), then the frames L+1.. of the current file copied
 * in rounds while appends go on (each re-checksummed with the new seed;
 * the frames are checked against the old seed first), then, at the
 * switch, the frames still in memory.  The switch itself only swaps
 * buffers and the seed under mu: from then on appends are framed for the
 * new file and wait in pend (io_busy held) until the seal.
 */
struct wal_cut {
	int fd;
	uint64_t gen, salt;
	uint32_t seed, old_seed;
	uint64_t last_lsn; /* L: the snapshot is the state after it */
	uint64_t tail_off; /* where the next frame to copy is, current file */
	uint64_t next_copy; /* its LSN */
	uint64_t size; /* of the new file so far */
};

#define CUT_ROUNDS 16 /* copy rounds before the switch, at most */
#define CUT_CLOSE (1u << 20) /* switch once less than this is left */

int wal_cutover_fork_begin(struct wal *w, struct wal_cut **out)
{
	struct wal_cut *c;
	int rc;

	if (w->opt.read_only)
		return -EROFS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&w->mu);
	rc = w->err;
	c->gen = w->gen + 1;
	c->old_seed = w->seed;
	c->last_lsn = w->next_lsn - 1;
	c->next_copy = w->next_lsn;
	/* a flush in progress writes its batch at file_size, pend follows */
	c->tail_off = w->file_size + w->io_len + w->pend.len;
	pthread_mutex_unlock(&w->mu);
	if (rc)
		goto fail;
	c->salt = random_u64();
	c->seed = seed_of(c->gen, c->salt);
	c->fd = io_open(w->tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (c->fd < 0) {
		rc = c->fd;
		log_error("cannot write new log '%s': open: %s", w->tmp_path,
			  strerror(-rc));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	free(c);
	return rc;
}

int wal_cutover_child(struct wal_cut *c, wal_snap_fn snap, void *arg)
{
	struct wal_snap sn;
	uint8_t h[WAL_HDR];
	uint64_t n, first, off = WAL_HDR;
	int rc;

	memset(&sn, 0, sizeof(sn));
	wal_buf_init(&sn.buf);
	sn.fd = c->fd;
	sn.off = WAL_HDR;
	sn.lsn = 1; /* provisional: renumbered below */
	sn.epoch = 1;
	sn.seed = c->seed;
	rc = snap(arg, &sn);
	if (!rc)
		rc = snap_flush(&sn);
	if (rc)
		goto out;
	n = sn.lsn - 1;
	if (n > c->last_lsn) {
		rc = -ERANGE;
		goto out;
	}
	first = c->last_lsn + 1 - n;
	for (uint64_t i = 0; i < n && !rc; i++) {
		uint8_t fh[FRAME_HDR];
		uint32_t len;

		rc = io_pread_all(c->fd, fh, FRAME_HDR, (off_t)off);
		if (rc)
			break;
		len = le32_get(fh + 4);
		sn.buf.len = 0;
		rc = wal_buf_reserve(&sn.buf, len);
		if (!rc)
			rc = io_pread_all(c->fd, sn.buf.p, len,
					  (off_t)(off + FRAME_HDR));
		if (rc)
			break;
		wal_frame_put(fh, c->seed, first + i, first, sn.buf.p, len);
		rc = io_pwrite_all(c->fd, fh, FRAME_HDR, (off_t)off);
		off += FRAME_HDR + len;
	}
	if (rc)
		goto out;
	header_encode(h, c->gen, c->salt, first, sn.off);
	rc = io_pwrite_all(c->fd, h, WAL_HDR, 0);
	if (!rc)
		rc = io_fdatasync(c->fd);
out:
	wal_buf_release(&sn.buf);
	return rc;
}

/* Re-checksum the frames at b[0, n) (LSNs from c->next_copy on) for the
 * new file, checking each against the current file's seed first when
 * they were read from it.  Returns the bytes of whole frames, or
 * -EBADMSG. */
static int64_t cut_reframe(struct wal_cut *c, uint8_t *b, size_t n,
			   bool from_file)
{
	size_t done = 0;

	while (n - done >= FRAME_HDR) {
		uint8_t *p = b + done;
		uint32_t len = le32_get(p + 4);
		uint64_t lsn, epoch;
		uint32_t flen;

		if (len > n - done - FRAME_HDR)
			break;
		if (from_file &&
		    !frame_valid(p, n - done, c->old_seed, &lsn, &epoch, &flen))
			return -EBADMSG;
		lsn = le64_get(p + 8);
		epoch = le64_get(p + 16);
		if (lsn != c->next_copy)
			return -EBADMSG;
		wal_frame_put(p, c->seed, lsn, epoch, p + FRAME_HDR, len);
		done += FRAME_HDR + len;
		c->next_copy++;
	}
	return (int64_t)done;
}

/* Copy the current file's frames from c->tail_off up to end into the new
 * file. */
static int cut_copy(struct wal *w, struct wal_cut *c, uint64_t end,
		    struct wal_buf *b)
{
	while (c->tail_off < end) {
		uint64_t left = end - c->tail_off;
		size_t n = left > SNAP_CHUNK ? SNAP_CHUNK : (size_t)left;
		int64_t done;
		int rc;

		b->len = 0;
		rc = wal_buf_reserve(b, n);
		if (!rc)
			rc = io_pread_all(w->fd, b->p, n, (off_t)c->tail_off);
		if (rc)
			return rc;
		if (n >= FRAME_HDR && le32_get(b->p + 4) > n - FRAME_HDR) {
			/* one frame longer than a chunk: read it whole */
			uint64_t whole =
				FRAME_HDR + (uint64_t)le32_get(b->p + 4);

			if (whole > left)
				return -EBADMSG;
			n = (size_t)whole;
			rc = wal_buf_reserve(b, n);
			if (!rc)
				rc = io_pread_all(w->fd, b->p, n,
						  (off_t)c->tail_off);
			if (rc)
				return rc;
		}
		done = cut_reframe(c, b->p, n, true);
		if (done <= 0)
			return done < 0 ? (int)done : -EBADMSG;
		rc = io_pwrite_all(c->fd, b->p, (size_t)done, (off_t)c->size);
		if (rc)
			return rc;
		c->size += (uint64_t)done;
		c->tail_off += (uint64_t)done;
	}
	return 0;
}

static void cut_abandon(struct wal *w, struct wal_cut *c)
{
	io_close(c->fd);
	io_unlink(w->tmp_path);
	free(c);
}

int wal_cutover_fork_finish(struct wal *w, struct wal_cut *c, int err,
			    uint64_t *snap_bytes)
{
	struct wal_buf b, batch;
	uint8_t h[WAL_HDR];
	uint64_t gen, salt, first = 0, sealed, end, last, snap, skip;
	struct stat st;
	int rc = err;

	wal_buf_init(&b);
	if (!rc && fstat(c->fd, &st) < 0)
		rc = -errno;
	if (!rc)
		rc = io_pread_all(c->fd, h, WAL_HDR, 0);
	if (!rc)
		rc = header_decode(h, WAL_HDR, &gen, &salt, &first, &sealed);
	if (!rc && (gen != c->gen || salt != c->salt ||
		    sealed != (uint64_t)st.st_size))
		rc = -EBADMSG;
	if (rc)
		goto abandon;
	c->size = snap = sealed;
	/* Copy in rounds while appends go on, until little is left. */
	for (int round = 0; round < CUT_ROUNDS; round++) {
		pthread_mutex_lock(&w->mu);
		end = w->file_size;
		rc = w->err;
		pthread_mutex_unlock(&w->mu);
		if (!rc)
			rc = cut_copy(w, c, end, &b);
		if (rc)
			goto abandon;
		pthread_mutex_lock(&w->mu);
		end = w->file_size + w->io_len + w->pend.len;
		pthread_mutex_unlock(&w->mu);
		if (end < c->tail_off + CUT_CLOSE)
			break;
	}
	/* What is copied so far is made durable before the switch, so that
	 * the seal (appends queue behind it) syncs only the last copy. */
	rc = io_fdatasync(c->fd);
	if (rc)
		goto abandon;
	/* The switch: what is in memory is taken out, appends from here on
	 * are framed for the new file and wait for the seal.  Frames
	 * reserved and not yet filled are waited for (log.c invariant 8). */
	pthread_mutex_lock(&w->mu);
	while (w->io_busy || w->filling)
		pthread_cond_wait(&w->cv, &w->mu);
	debug_assert(wal_invariants(w));
	rc = w->err;
	if (rc) {
		pthread_mutex_unlock(&w->mu);
		goto abandon;
	}
	w->io_busy = true;
	batch = w->pend;
	w->pend = w->spare;
	w->pend.len = 0;
	wal_buf_init(&w->spare);
	end = w->file_size;
	last = w->next_lsn - 1;
	w->gen = c->gen;
	w->salt = c->salt;
	w->seed = c->seed;
	debug_assert(wal_invariants(w));
	pthread_mutex_unlock(&w->mu);

	/* The batch would have gone at end: its frames up to L (never
	 * written, the snapshot holds them) are left out. */
	skip = c->tail_off > end ? c->tail_off - end : 0;
	rc = cut_copy(w, c, end, &b);
	if (!rc && (skip > batch.len ||
		    cut_reframe(c, batch.p + skip, batch.len - skip, false) !=
			    (int64_t)(batch.len - skip)))
		rc = -EBADMSG;
	if (!rc)
		rc = io_pwrite_all(c->fd, batch.p + skip, batch.len - skip,
				   (off_t)c->size);
	if (!rc && c->next_copy != last + 1)
		rc = -EBADMSG;
	if (!rc) {
		c->size += batch.len - skip;
		header_encode(h, c->gen, c->salt, first, c->size);
		rc = io_pwrite_all(c->fd, h, WAL_HDR, 0);
	}
	if (rc)
		log_error("cannot write new log '%s': copy of the frames "
			  "after %" PRIu64 ": %s",
			  w->tmp_path, c->last_lsn, strerror(-rc));
	pthread_mutex_lock(&w->mu);
	batch.len = 0;
	w->spare = batch;
	w->cut_fd = c->fd;
	w->cut_size = c->size;
	w->cut_last_lsn = last;
	pthread_mutex_unlock(&w->mu);
	wal_buf_release(&b);
	free(c);
	if (!rc && snap_bytes)
		*snap_bytes = snap - WAL_HDR;
	return wal_cutover_finish(w, rc);
abandon:
	if (rc != err)
		log_error("cannot write new log '%s': copy of the frames "
			  "after %" PRIu64 ": %s (the log goes on)",
			  w->tmp_path, c->last_lsn, strerror(-rc));
	wal_buf_release(&b);
	cut_abandon(w, c);
	return rc;
}

int wal_create(const char *dir, const struct wal_options *o, wal_snap_fn snap,
	       void *arg, struct wal **out)
{
	struct wal *w;
	uint64_t size, next;
	int rc, fd;

	if (o->read_only)
		return -EROFS;
	w = wal_alloc(dir, o);
	if (!w)
		return -ENOMEM;
	w->gen = 1;
	w->salt = random_u64();
	rc = new_log_write(w, w->gen, w->salt, snap, arg, &fd, &size, &next);
	if (rc)
		goto out_free;
	rc = new_log_seal(w, fd);
	if (rc) {
		io_close(fd);
		goto out_free;
	}
	w->fd = fd;
	w->seed = seed_of(w->gen, w->salt);
	w->file_size = size;
	w->next_lsn = next;
	w->written_lsn = w->durable_lsn = next - 1;
	rc = wal_start_committer(w);
	if (rc)
		goto out_free;
	*out = w;
	return 0;
out_free:
	wal_free(w);
	return rc;
}

/* ---- open and replay ---- */

/* Save bytes [off, size) of the mapped log to DIR/wal.damaged.<lsn>. */
static void save_damaged(struct wal *w, const uint8_t *map, uint64_t off,
			 uint64_t size, uint64_t lsn)
{
	char name[64];
	char *path;
	int fd, rc;

	snprintf(name, sizeof(name), "wal.damaged.%" PRIu64, lsn);
	path = wal_path_join(w->dir, name);
	if (!path)
		return;
	fd = io_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		rc = io_pwrite_all(fd, map + off, size - off, 0);
		if (!rc)
			rc = io_fsync(fd);
		io_close(fd);
		if (rc)
			log_warn("cannot save damaged log tail to '%s': %s",
				 path, strerror(-rc));
	}
	free(path);
}

/* Classify damage at off (expected LSN e): 0 torn tail, -EBADMSG when a
 * frame written after frame e was durable follows. */
static int classify_damage(const uint8_t *map, uint64_t off, uint64_t size,
			   uint32_t seed, uint64_t e, uint64_t *bad_lsn)
{
	for (uint64_t q = off + 1; q + FRAME_HDR <= size; q++) {
		uint64_t lsn, epoch;
		uint32_t len;

		if (map[q] != (FRAME_MAGIC & 0xff))
			continue;
		if (!frame_valid(map + q, size - q, seed, &lsn, &epoch, &len))
			continue;
		if (lsn > e && epoch > e) {
			*bad_lsn = lsn;
			return -EBADMSG;
		}
	}
	return 0;
}

static int replay(struct wal *w, const uint8_t *map, uint64_t size,
		  wal_frame_fn fn, void *arg, uint64_t *end)
{
	uint64_t first, sealed, off = WAL_HDR, e;
	int rc;

	rc = header_decode(map, size, &w->gen, &w->salt, &first, &sealed);
	if (rc) {
		log_error("cannot open log '%s': %s header", w->path,
			  rc == -EBADMSG ? "damaged" : "unsupported");
		return rc;
	}
	w->seed = seed_of(w->gen, w->salt);
	e = first;
	for (;;) {
		uint64_t lsn, epoch, bad;
		uint32_t len;

		if (off == size)
			break;
		if (!frame_valid(map + off, size - off, w->seed, &lsn, &epoch,
				 &len) ||
		    lsn != e) {
			if (off < sealed) {
				log_error("cannot open log '%s': frame %" PRIu64
					  " at offset %" PRIu64
					  " of the sealed snapshot is corrupt",
					  w->path, e, off);
				return -EBADMSG;
			}
			rc = classify_damage(map, off, size, w->seed, e, &bad);
			if (rc) {
				log_error("cannot open log '%s': frame %" PRIu64
					  " at offset %" PRIu64
					  " is corrupt but frame %" PRIu64
					  " after it was written later",
					  w->path, e, off, bad);
				return rc;
			}
			log_warn("log '%s': dropping damaged tail of %" PRIu64
				 " bytes at offset %" PRIu64
				 " (frames from %" PRIu64 ")",
				 w->path, size - off, off, e);
			break;
		}
		rc = fn(arg, lsn, map + off + FRAME_HDR, len);
		if (rc)
			return rc;
		off += FRAME_HDR + len;
		e++;
	}
	w->next_lsn = e;
	w->written_lsn = w->durable_lsn = e - 1;
	*end = off;
	return 0;
}

int wal_open(const char *dir, const struct wal_options *o, wal_frame_fn fn,
	     void *arg, struct wal **out)
{
	struct wal *w = wal_alloc(dir, o);
	uint8_t *map = MAP_FAILED;
	struct stat st;
	uint64_t end = 0;
	int rc;

	if (!w)
		return -ENOMEM;
	w->fd = io_open(w->path, o->read_only ? O_RDONLY : O_RDWR, 0);
	if (w->fd < 0) {
		rc = w->fd;
		goto out_free;
	}
	if (fstat(w->fd, &st) < 0) {
		rc = -errno;
		goto out_free;
	}
	if ((uint64_t)st.st_size < WAL_HDR) {
		log_error("cannot open log '%s': shorter than its header",
			  w->path);
		rc = -EBADMSG;
		goto out_free;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, w->fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out_free;
	}
	rc = replay(w, map, (uint64_t)st.st_size, fn, arg, &end);
	if (rc)
		goto out_unmap;
	if (end < (uint64_t)st.st_size && !o->read_only) {
		save_damaged(w, map, end, (uint64_t)st.st_size, w->next_lsn);
		rc = io_ftruncate(w->fd, (off_t)end);
		if (!rc)
			rc = io_fsync(w->fd);
		if (rc) {
			log_error("cannot truncate damaged log '%s': %s",
				  w->path, strerror(-rc));
			goto out_unmap;
		}
	}
	w->file_size = end;
	munmap(map, (size_t)st.st_size);
	map = MAP_FAILED;
	rc = wal_start_committer(w);
	if (rc)
		goto out_free;
	*out = w;
	return 0;
out_unmap:
	munmap(map, (size_t)st.st_size);
out_free:
	wal_free(w);
	return rc;
}
