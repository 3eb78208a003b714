/*
 * use.c - the order of use kept across a clean close: the file "use" in
 * the store directory.
 *
 * The eviction order (evict.c) places a document used since open by the
 * tick of its last use, after every other, and any other by the later of
 * its last use before (a time) and the time of its newest entry.  Entries
 * carry their time in the log and every snapshot; uses are not logged.
 * So that reads are not forgotten by a remount, a clean close turns the
 * ticks into times (uses_since_open: from the open's time on, in tick
 * order, each at least its document's newest entry's time and after the
 * one before, so that a use after a write stays after it), writes the
 * times later than each document's newest entry to "use", and the next
 * open loads them into used_tick.
 *
 * Format (little-endian):
 *   header, USE_HDR bytes: magic "CRVNUSE1", the store identity
 *     (DATA_ID_LEN bytes), count (u64), CRC-32C (u32) of the header with
 *     this field zero followed by the entries, 4 zero bytes;
 *   count entries of 16 bytes: document id (u64), use time (i64 ns).
 *
 * It is a hint, never a source of truth: it is written as "use.tmp" then
 * renamed over "use" without a sync (a power cut may leave the old one,
 * none, or a torn one), and read as hostile bytes: a file of the wrong
 * size, magic, identity or checksum, or larger than the documents could
 * fill, is ignored as a whole (logged); an entry naming no document, or a
 * time not above 0, is skipped.  Without it (a kill -9 since the last
 * clean close keeps the older file; a store never closed cleanly has
 * none) documents fall back to the time of their newest entry.
 * A read-only open loads it and writes nothing.
 *
 * Single-threaded: load runs in store_open before any other thread, save
 * in store_close after the checkpointer stopped.
 */
#include "store/datafile.h"
#include "store/store_internal.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USE_MAGIC "CRVNUSE1"
#define USE_HDR (8 + DATA_ID_LEN + 8 + 4 + 4)
#define USE_ENT 16
#define USE_CRC_AT (8 + DATA_ID_LEN + 8)

static int use_path(const struct store *s, const char *name, char *out,
		    size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", s->dir, name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The newest entry's time of document n (0: unknown). */
static int64_t newest_entry_ns(const struct node *n)
{
	return n->nent ? n->ents[n->nent - 1].time_ns : 0;
}

/* Load the uses of p (len bytes); *max receives the latest. */
static int use_apply(struct store *s, const uint8_t *p, size_t len,
		     uint64_t *max)
{
	uint8_t hdr[USE_HDR];
	uint64_t count;
	uint32_t crc;

	if (len < USE_HDR || memcmp(p, USE_MAGIC, 8) != 0 ||
	    memcmp(p + 8, s->id, DATA_ID_LEN) != 0)
		return -EBADMSG;
	count = le64_get(p + 8 + DATA_ID_LEN);
	if (count > (len - USE_HDR) / USE_ENT ||
	    len != USE_HDR + count * USE_ENT)
		return -EBADMSG;
	memcpy(hdr, p, USE_HDR);
	memset(hdr + USE_CRC_AT, 0, 4);
	crc = crc32c_extend(crc32c(hdr, USE_HDR), p + USE_HDR, len - USE_HDR);
	if (crc != le32_get(p + USE_CRC_AT))
		return -EBADMSG;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *e = p + USE_HDR + i * USE_ENT;
		struct node *n = node_get(s, le64_get(e));
		int64_t t = (int64_t)le64_get(e + 8);

		if (!n || !n->space_id || t <= 0)
			continue;
		if ((uint64_t)t > n->used_tick)
			n->used_tick = (uint64_t)t;
		if ((uint64_t)t > *max)
			*max = (uint64_t)t;
	}
	return 0;
}

void store_use_load(struct store *s)
{
	char path[4096];
	struct stat st;
	uint8_t *p = NULL;
	uint64_t max = 0;
	int fd, rc = use_path(s, "use", path, sizeof(path));

	s->use_open_ns = clock_real_ns();
	if (rc)
		return;
	fd = io_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return; /* none: every document by its newest entry */
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	/* one entry per document, with room for documents deleted since */
	if (!rc &&
	    ((uint64_t)st.st_size < USE_HDR ||
	     (uint64_t)st.st_size > USE_HDR + (2 * s->ndocs + 4096) * USE_ENT))
		rc = -EBADMSG;
	if (!rc) {
		p = malloc((size_t)st.st_size);
		rc = p ? io_pread_all(fd, p, (size_t)st.st_size, 0) : -ENOMEM;
	}
	if (!rc)
		rc = use_apply(s, p, (size_t)st.st_size, &max);
	io_close(fd);
	free(p);
	/* uses since open come after every use loaded, whatever the clock */
	if (max > (uint64_t)s->use_open_ns)
		s->use_open_ns = (int64_t)max;
	if (rc)
		log_warn("store '%s': ignoring its order of use ('%s': %s); "
			 "documents are ordered by their last writes",
			 s->dir, path, strerror(-rc));
}

struct used {
	uint64_t tick;
	const struct node *n;
};

static int cmp_used(const void *a, const void *b)
{
	const struct used *x = a, *y = b;

	return x->tick < y->tick ? -1 : x->tick > y->tick;
}

/* The documents used since open, in the order of their uses, and given
 * times: from the open's time on, each at least its newest entry's time
 * and after the one before (a use after a write comes after it).  *out
 * (malloc'd), *n. */
static int uses_since_open(struct store *s, struct used **out, size_t *n)
{
	struct used *u = malloc((s->ndocs + 1) * sizeof(*u));
	uint64_t cur = (uint64_t)s->use_open_ns;
	size_t k = 0, pos = 0;
	void *v;

	*out = u;
	*n = 0;
	if (!u)
		return -ENOMEM;
	while (node_next(s, &pos, NULL, &v)) {
		const struct node *nd = v;

		if (nd->space_id && (nd->used_tick & STORE_USE_TICK) &&
		    k <= s->ndocs)
			u[k++] = (struct used){ nd->used_tick, nd };
	}
	qsort(u, k, sizeof(*u), cmp_used);
	for (size_t i = 0; i < k; i++) {
		int64_t w = newest_entry_ns(u[i].n);

		cur = w > 0 && (uint64_t)w > cur + 1 ? (uint64_t)w : cur + 1;
		u[i].tick = cur; /* now the time */
	}
	*n = k;
	return 0;
}

static void put_use(uint8_t *p, size_t *len, const struct node *n, uint64_t t)
{
	if (t == 0 || (int64_t)t <= newest_entry_ns(n))
		return; /* the entry places it as well */
	le64_put(p + *len, n->id);
	le64_put(p + *len + 8, t);
	*len += USE_ENT;
}

void store_use_save(struct store *s)
{
	char tmp[4096], path[4096];
	struct used *u = NULL;
	uint8_t *p;
	size_t len = USE_HDR, pos = 0, nu = 0;
	uint32_t crc;
	void *v;
	int fd, rc;

	if (s->opt.read_only || use_path(s, "use.tmp", tmp, sizeof(tmp)) ||
	    use_path(s, "use", path, sizeof(path)))
		return;
	p = malloc(USE_HDR + (s->ndocs + 1) * USE_ENT);
	if (!p || uses_since_open(s, &u, &nu)) {
		free(p);
		free(u);
		return;
	}
	memset(p, 0, USE_HDR);
	memcpy(p, USE_MAGIC, 8);
	memcpy(p + 8, s->id, DATA_ID_LEN);
	for (size_t i = 0; i < nu; i++)
		put_use(p, &len, u[i].n, u[i].tick);
	/* uses before this open that nothing since replaced */
	while (node_next(s, &pos, NULL, &v)) {
		const struct node *n = v;

		if (n->space_id && !(n->used_tick & STORE_USE_TICK) &&
		    len + USE_ENT <= USE_HDR + (s->ndocs + 1) * USE_ENT)
			put_use(p, &len, n, n->used_tick);
	}
	free(u);
	le64_put(p + 8 + DATA_ID_LEN, (len - USE_HDR) / USE_ENT);
	crc = crc32c(p, len);
	le32_put(p + USE_CRC_AT, crc);
	fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? fd : io_pwrite_all(fd, p, len, 0);
	if (fd >= 0 && io_close(fd) < 0 && !rc)
		rc = -EIO;
	if (!rc)
		rc = io_rename(tmp, path);
	if (rc) {
		log_warn("store '%s': cannot keep its order of use ('%s': %s)",
			 s->dir, path, strerror(-rc));
		if (fd >= 0)
			io_unlink(tmp);
	}
	free(p);
}
