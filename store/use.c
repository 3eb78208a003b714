/*
 * use.c - the order of use kept across a clean close: the file "use" in
 * the store directory.
 *
 * The eviction order (evict.c) places each document by the later of its
 * last use since open (used_tick: the wall-clock time of its last read,
 * open through the mount, or write) and the time of its newest entry.
 * Entries carry their time in the log and every snapshot; uses are not
 * logged.  So that reads are not forgotten by a remount, a clean close
 * writes the use times that are later than the document's newest entry
 * to "use", and the next open loads them into used_tick.
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

static int use_apply(struct store *s, const uint8_t *p, size_t len)
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
	}
	return 0;
}

void store_use_load(struct store *s)
{
	char path[4096];
	struct stat st;
	uint8_t *p = NULL;
	int fd, rc = use_path(s, "use", path, sizeof(path));

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
		rc = use_apply(s, p, (size_t)st.st_size);
	io_close(fd);
	free(p);
	if (rc)
		log_warn("store '%s': ignoring its order of use ('%s': %s); "
			 "documents are ordered by their last writes",
			 s->dir, path, strerror(-rc));
}

void store_use_save(struct store *s)
{
	char tmp[4096], path[4096];
	uint8_t *p;
	size_t len = USE_HDR, pos = 0;
	uint32_t crc;
	void *v;
	int fd, rc;

	if (s->opt.read_only || use_path(s, "use.tmp", tmp, sizeof(tmp)) ||
	    use_path(s, "use", path, sizeof(path)))
		return;
	p = malloc(USE_HDR + (s->ndocs + 1) * USE_ENT);
	if (!p)
		return;
	memset(p, 0, USE_HDR);
	memcpy(p, USE_MAGIC, 8);
	memcpy(p + 8, s->id, DATA_ID_LEN);
	while (node_next(s, &pos, NULL, &v)) {
		const struct node *n = v;
		uint64_t t = n->used_tick;

		if (!n->space_id || t == 0 ||
		    (int64_t)t <= newest_entry_ns(n) ||
		    len + USE_ENT > USE_HDR + (s->ndocs + 1) * USE_ENT)
			continue;
		le64_put(p + len, n->id);
		le64_put(p + len + 8, t);
		len += USE_ENT;
	}
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
