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
 * success *fd_out is the file (open for writing), *size its size and
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
	sn.fd = io_open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
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
	int fd = w->cut_fd;

	if (!rc)
		rc = new_log_seal(w, fd);
	pthread_mutex_lock(&w->mu);
	debug_assert(wal_invariants(w));
	w->io_busy = false;
	w->cut_fd = -1;
	if (rc) {
		io_close(fd);
		wal_fail_locked(w, rc, "cut-over");
	} else {
		io_close(w->fd);
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
	return rc;
}

int wal_cutover(struct wal *w, wal_snap_fn snap, void *arg)
{
	int rc = wal_cutover_begin(w, snap, arg);

	return rc ? rc : wal_cutover_finish(w, 0);
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
