/*
 * datafile.c - the preallocated, memory-mapped data file.
 *
 * Growth (datafile_grow): the file is extended and preallocated
 * (fallocate), then the header copies are rewritten with the new
 * capacity, each write made durable on its own with io_pwrite_dsync: that
 * commits the write and the file's new size and allocation, and nothing
 * else.  No fsync or fdatasync of the whole file: that would write back
 * every dirty page of the map first (14-356 ms measured under load, while
 * writers waited; bench/README.md), and growth needs none of them durable
 * (replay writes every logged entry into the map again; checkpoints msync
 * it).  The states a crash can leave:
 *   - the old header (both copies) over a file of any length: the old
 *     capacity, the bytes beyond unused;
 *   - the copy at 512 naming the new capacity while the new size is not
 *     durable (the first synced write's data may reach the disk before
 *     its commit): that copy is not covered by the file, and the open
 *     takes the other, which names the old capacity (below);
 *   - both copies, or only the one at 512, naming the new capacity over
 *     a file that holds it: the new capacity, with a log whose snapshot
 *     may name a smaller one (accepted: the space beyond is free).
 * No entry is placed beyond the old capacity before datafile_grow has
 * returned (store/grow.c), so no logged entry ever lies outside the data
 * area the open chooses.
 *
 * The header is kept twice, in two 512-byte sectors (offsets 0 and 512),
 * so that a rewrite torn by a power cut (or a short write) leaves one
 * valid copy: a rewrite writes and syncs the copy at 512, then the copy
 * at 0.  At open the valid copy with the larger capacity that the file's
 * length covers wins (capacity only grows; the identity is the same in
 * both); a file shorter than both is refused.  A data file written
 * before the second copy existed holds zeros at 512 and is read from the
 * copy at 0; its first rewrite writes both.
 *
 * Layout: a 4096-byte header page, then the data area of `capacity`
 * bytes.  Header (little-endian):
 *
 *   0   8  magic "CRVNDATA"
 *   8   4  format version (1)
 *   12  4  header size (4096)
 *   16  8  capacity of the data area
 *   24  16 store identity (random, made when the store is created)
 *   40  20 zero
 *   60  4  CRC-32C of bytes 0..60
 *   512 64 the second copy of bytes 0..64 (written first)
 *
 * The identity names the store wherever it leaves a trace outside its
 * directory (the writer lease and change feed of a cloud target).  A data
 * file written before the identity existed holds zeros there; the first
 * writable open gives it one (header rewritten and synced, as growth
 * does).  An identity is never all zero.
 *
 * The file is created whole: allocated with posix_fallocate (so a later
 * write into the map cannot fail for lack of disk, which would be a
 * SIGBUS), header copies written and synced (with the size), directory
 * fsync'd, all before the
 * first log exists.  A store directory is initialised when its log
 * exists; a data file without a log is the remains of an interrupted
 * creation and is created again.
 *
 * The map is shared and writable when the store is open for writing;
 * private (changes stay in memory) when it is opened read-only.
 */
#include "store/datafile.h"

#include "store/store_internal.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void header_encode(uint8_t *h, uint64_t capacity,
			  const uint8_t id[DATA_ID_LEN])
{
	memset(h, 0, 64);
	memcpy(h, DATA_MAGIC, 8);
	le32_put(h + 8, DATA_VERSION);
	le32_put(h + 12, DATA_HDR);
	le64_put(h + 16, capacity);
	memcpy(h + DATA_ID_OFF, id, DATA_ID_LEN);
	le32_put(h + 60, crc32c(h, 60));
}

static bool id_is_zero(const uint8_t id[DATA_ID_LEN])
{
	for (int i = 0; i < DATA_ID_LEN; i++)
		if (id[i])
			return false;
	return true;
}

/* A fresh identity: 16 bytes from the kernel's generator. */
static int id_make(uint8_t id[DATA_ID_LEN])
{
	ssize_t n;

	do {
		n = getrandom(id, DATA_ID_LEN, 0);
	} while (n < 0 && errno == EINTR);
	if (n != DATA_ID_LEN)
		return n < 0 ? -errno : -EIO;
	if (id_is_zero(id))
		id[0] = 1;
	return 0;
}

#define HDR_COPY2 512

/* Rewrite the header of fd (capacity, id), each copy durable with the
 * file's size before the next is written: the second copy first, so that
 * one valid copy survives a torn write of either. */
static int header_write(int fd, uint64_t capacity,
			const uint8_t id[DATA_ID_LEN])
{
	uint8_t h[64];
	int rc;

	header_encode(h, capacity, id);
	rc = io_pwrite_dsync_all(fd, h, sizeof(h), HDR_COPY2);
	if (!rc)
		rc = io_pwrite_dsync_all(fd, h, sizeof(h), 0);
	return rc;
}

static bool header_valid(const uint8_t *h)
{
	return memcmp(h, DATA_MAGIC, 8) == 0 &&
	       le32_get(h + 60) == crc32c(h, 60);
}

/* A valid copy whose data area fits in size bytes of file. */
static bool header_fits(const uint8_t *h, uint64_t size)
{
	uint64_t cap = le64_get(h + 16);

	return header_valid(h) && cap <= UINT64_MAX - DATA_HDR &&
	       DATA_HDR + cap <= size;
}

/* Read the header copies of fd, a file of size bytes, into h (64
 * bytes): the valid one with the larger capacity that the file covers.
 * -EBADMSG when neither is valid, -ENOSPC when neither valid one is
 * covered. */
static int header_read(int fd, uint64_t size, uint8_t *h)
{
	uint8_t h2[64];
	bool ok1, ok2;
	int rc;

	rc = io_pread_all(fd, h, 64, 0);
	if (!rc)
		rc = io_pread_all(fd, h2, sizeof(h2), HDR_COPY2);
	if (rc)
		return rc;
	if (!header_valid(h) && !header_valid(h2))
		return -EBADMSG;
	ok1 = header_fits(h, size);
	ok2 = header_fits(h2, size);
	/* the second copy is written first: it is the newer one when the
	 * copies differ (larger capacity, or an identity the first lacks) */
	if (ok2 &&
	    (!ok1 || le64_get(h2 + 16) > le64_get(h + 16) ||
	     (id_is_zero(h + DATA_ID_OFF) && !id_is_zero(h2 + DATA_ID_OFF))))
		memcpy(h, h2, sizeof(h2));
	return ok1 || ok2 ? 0 : -ENOSPC;
}

int datafile_create(const char *path, const char *dir, uint64_t capacity)
{
	uint8_t id[DATA_ID_LEN];
	int fd, rc;

	rc = id_make(id);
	if (rc)
		return rc;
	fd = io_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	rc = io_fallocate(fd, 0, (off_t)(DATA_HDR + capacity));
	if (rc) {
		log_error("cannot allocate %" PRIu64 " bytes for '%s': %s",
			  capacity, path, strerror(-rc));
		goto out;
	}
	rc = header_write(fd, capacity, id);
	if (!rc)
		rc = io_fsync_dir(dir);
out:
	io_close(fd);
	return rc;
}

int datafile_open(const char *path, bool read_only, int *fd_out,
		  uint8_t **map_out, uint64_t *capacity)
{
	uint8_t h[64];
	struct stat st;
	uint64_t cap;
	void *map;
	int fd, rc;

	fd = io_open(path, read_only ? O_RDONLY : O_RDWR, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = header_read(fd, (uint64_t)st.st_size, h);
	if (rc == -EBADMSG)
		log_error("cannot open data file '%s': damaged header", path);
	if (rc == -ENOSPC) {
		log_error("cannot open data file '%s': shorter than its "
			  "capacity",
			  path);
		rc = -EBADMSG;
	}
	if (rc)
		goto out_close;
	if (le32_get(h + 8) != DATA_VERSION || le32_get(h + 12) != DATA_HDR) {
		log_error("cannot open data file '%s': unsupported version %u",
			  path, le32_get(h + 8));
		rc = -EPROTONOSUPPORT;
		goto out_close;
	}
	cap = le64_get(h + 16);
	if (!read_only && id_is_zero(h + DATA_ID_OFF)) {
		uint8_t id[DATA_ID_LEN];

		rc = id_make(id);
		if (!rc)
			rc = header_write(fd, cap, id);
		if (rc) {
			log_error("cannot give data file '%s' an identity: %s",
				  path, strerror(-rc));
			goto out_close;
		}
		log_info("data file '%s' had no store identity: made one",
			 path);
	}
	map = mmap(NULL, (size_t)(DATA_HDR + cap), PROT_READ | PROT_WRITE,
		   read_only ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out_close;
	}
	*fd_out = fd;
	*map_out = map;
	*capacity = cap;
	return 0;
out_close:
	io_close(fd);
	return rc;
}

int datafile_grow(int fd, const char *name, uint64_t capacity,
		  const uint8_t id[DATA_ID_LEN], bool *sticky)
{
	int rc;

	*sticky = false;
	rc = io_fallocate(fd, 0, (off_t)(DATA_HDR + capacity));
	if (rc) {
		log_error("cannot grow the data file of '%s' to %" PRIu64
			  " bytes: %s",
			  name, capacity, strerror(-rc));
		return rc;
	}
	*sticky = true;
	rc = header_write(fd, capacity, id);
	if (rc)
		log_error("store '%s' is failed and refuses changes: growth "
			  "of its data file: %s",
			  name, strerror(-rc));
	return rc;
}

/* ---- warming ahead of the allocator ----
 *
 * The first write into a page of the data area that the page cache does
 * not hold yet is a page fault that allocates and zero-fills the page
 * (the extent is preallocated and unwritten) and makes it writable:
 * about 1.5 us, paid by the writer once per 4 KiB, the largest single
 * cost of small appends (bench/README.md).  The warmer takes it off the
 * writer's path: a thread populates the range it is asked for through a
 * short-lived map of its own (mmap of the range, MADV_POPULATE_WRITE,
 * munmap), so the store's map, which growth may move, is never touched
 * by it and it takes no store lock.  The pages it populates are in the
 * page cache, dirty and allocated; the writer's first touch through the
 * store's map then finds them (a minor fault, no zeroing).  Population
 * never changes a byte: a writer writing the same page meanwhile is
 * unaffected, and what it writes is what the page holds.  Pages dirtied
 * ahead are written back as they are (zeros in free space, which no
 * reader looks at) by the kernel or the next checkpoint's msync.
 *
 * Asking never blocks on the work: a request replaces the one not yet
 * started, and a writer that gets ahead of the warmer faults the pages
 * in itself, as without it.  A kernel without MADV_POPULATE_WRITE (before
 * Linux 5.14) makes the warmer stop at its first attempt. */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define WARM_PIECE (UINT64_C(1) << 20) /* one map + populate + unmap */

struct datafile_warm {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t from, to; /* the range asked for, not yet done (mu) */
	bool stop; /* (mu) */
	bool off; /* the kernel cannot populate: asks are ignored (mu) */
};

static long page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? p : 4096;
}

/* Populate [off, off + len) of the file (page-aligned off).  0 or
 * -errno. */
static int warm_piece(int fd, uint64_t off, uint64_t len)
{
	void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, (off_t)off);
	int rc = 0;

	if (m == MAP_FAILED)
		return -errno;
	if (madvise(m, (size_t)len, MADV_POPULATE_WRITE) < 0)
		rc = -errno;
	munmap(m, (size_t)len);
	return rc;
}

static void *warm_main(void *arg)
{
	struct datafile_warm *w = arg;
	uint64_t pg = (uint64_t)page_size();

	pthread_mutex_lock(&w->mu);
	for (;;) {
		uint64_t from, len;
		int rc;

		while (!w->stop && w->from >= w->to)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		from = w->from / pg * pg;
		len = w->to - from;
		if (len > WARM_PIECE)
			len = WARM_PIECE;
		w->from = from + len;
		pthread_mutex_unlock(&w->mu);
		rc = warm_piece(w->fd, from, len);
		pthread_mutex_lock(&w->mu);
		if (rc == -EINVAL || rc == -ENOSYS) {
			/* no MADV_POPULATE_WRITE here: writers fault pages in
			 * themselves */
			log_info("data file pages cannot be populated ahead of "
				 "writes on this kernel: %s",
				 strerror(-rc));
			w->off = true;
			w->from = w->to = 0;
		}
		/* any other failure (no memory, a page that cannot be
		 * allocated) leaves those pages to the writer, whose own
		 * fault reports it as it would without the warmer */
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int datafile_warm_new(int fd, struct datafile_warm **out)
{
	struct datafile_warm *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	rc = -pthread_create(&w->thread, NULL, warm_main, w);
	if (rc) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void datafile_warm_ask(struct datafile_warm *w, uint64_t from, uint64_t to)
{
	if (!w || from >= to)
		return;
	pthread_mutex_lock(&w->mu);
	if (!w->off) {
		w->from = from;
		w->to = to;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void datafile_warm_free(struct datafile_warm *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
