/*
 * lease.c - the writer lease of a cloud target (see lease.h).
 *
 * Object (".caravan", "writer") in the format of lease_format.c, stored
 * with cloud_target_put like the store marker.
 *
 * Taking the lease (lease_acquire):
 *   1. GET the object: absent, released, or our own store's (a restart
 *      after a crash) may be taken; another store's active lease is
 *      -EBUSY, and bytes that are no lease are -EBADMSG, unless takeover;
 *   2. PUT ours (active, our host, pid and the time), conditionally
 *      (cloud_target_put_new: If-None-Match: * on s3, a link on dir:)
 *      when step 1 found none, so of two stores taking a free prefix at
 *      once only one writes;
 *   3. GET it again: if it is not ours, another store wrote between 1
 *      and 3 and we yield (-EBUSY); if it is gone, the target cannot be
 *      trusted to keep it and the lease is unknown (-EIO: retried).
 * Replacing a released lease (or taking one over) is an unconditional
 * PUT, and a server that ignores If-None-Match replaces too: then two
 * stores taking the prefix at the same instant can both pass step 3
 * (each read back its own write before the other's landed); the loser
 * finds out at its next check (writer.c) and stops writing.  The window
 * is one round trip plus the check interval; documented in
 * docs/cloud.md.
 */
#include "config.h"

#include "cloud/lease.h"

#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEASE_SPACE CLOUD_RESERVED_PREFIX
#define LEASE_KEY "writer"

/* Reads of a lease that does not parse, before it is called malformed:
 * an S3-compatible server may answer a GET that races an overwrite of
 * the object (ours, a moment before, or another store's) with an empty
 * or partial body (seen with s3rver: 0 bytes right after a PUT).  The
 * pauses between them are LEASE_REREAD_MS, doubling. */
#define LEASE_READS 4
#define LEASE_REREAD_MS 25

/* GET and parse: 0, -ENOENT, -EBADMSG (not a lease, LEASE_READS times),
 * or the target's. */
static int lease_read(struct cloud_target *t, struct lease_info *li)
{
	size_t len = 0;
	int rc = 0;

	for (int i = 0; i < LEASE_READS; i++) {
		void *buf = NULL;
		uint64_t seq;

		if (i) {
			long ms = (long)LEASE_REREAD_MS << (i - 1);
			struct timespec pause = { 0, ms * 1000000L };

			nanosleep(&pause, NULL);
		}
		memset(li, 0, sizeof(*li));
		len = 0;
		rc = cloud_target_get(t, LEASE_SPACE, LEASE_KEY, &buf, &len,
				      &seq);
		if (rc)
			return rc;
		rc = lease_parse(buf, len, li);
		free(buf);
		if (rc != -EBADMSG)
			return rc;
	}
	log_warn("the writer lease in '%s' is malformed (%zu bytes, read %d "
		 "times)",
		 cloud_target_url(t), len, LEASE_READS);
	return rc;
}

static int lease_write(struct cloud_target *t, const struct lease_info *li)
{
	char body[LEASE_OBJECT_MAX];
	size_t n = lease_encode(li, body);

	return cloud_target_put(t, LEASE_SPACE, LEASE_KEY, body, n, 1);
}

static int lease_write_new(struct cloud_target *t, const struct lease_info *li)
{
	char body[LEASE_OBJECT_MAX];
	size_t n = lease_encode(li, body);

	return cloud_target_put_new(t, LEASE_SPACE, LEASE_KEY, body, n, 1);
}

static bool is_ours(const struct lease_info *li,
		    const uint8_t store[LEASE_STORE_LEN])
{
	return !memcmp(li->store, store, LEASE_STORE_LEN);
}

int lease_acquire(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN],
		  bool takeover, struct lease_info *holder)
{
	struct lease_info cur, mine;
	bool absent;
	int rc;

	memset(holder, 0, sizeof(*holder));
	rc = lease_read(t, &cur);
	absent = rc == -ENOENT;
	if (rc == 0) {
		*holder = cur;
		if (cur.active && !is_ours(&cur, store) && !takeover)
			return -EBUSY;
	} else if (rc == -EBADMSG) {
		if (!takeover)
			return -EBADMSG;
	} else if (rc != -ENOENT) {
		return rc;
	}
	memset(&mine, 0, sizeof(mine));
	memcpy(mine.store, store, LEASE_STORE_LEN);
	if (gethostname(mine.host, sizeof(mine.host) - 1) < 0)
		strcpy(mine.host, "_");
	mine.host[LEASE_HOST_MAX] = '\0';
	mine.pid = (int64_t)getpid();
	mine.since_ns = clock_real_ns();
	mine.active = true;
	/* A free prefix is taken with a conditional PUT where the target
	 * can decide it (step 2); another store that won meanwhile is
	 * -EBUSY, read back as in step 3. */
	rc = absent ? lease_write_new(t, &mine) : lease_write(t, &mine);
	if (rc && rc != -EEXIST)
		return rc;
	rc = lease_read(t, &cur);
	if (rc == -ENOENT) {
		/* a target that loses what it just confirmed: unknown */
		log_warn("the writer lease just written to '%s' cannot be read "
			 "back",
			 cloud_target_url(t));
		return -EIO;
	}
	if (rc == -EBADMSG)
		return -EBUSY; /* someone else wrote it since */
	if (rc)
		return rc;
	if (!is_ours(&cur, store) || cur.since_ns != mine.since_ns) {
		*holder = cur;
		return -EBUSY;
	}
	return 0;
}

int lease_check(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN],
		struct lease_info *holder)
{
	struct lease_info cur;
	int rc = lease_read(t, &cur);

	memset(holder, 0, sizeof(*holder));
	if (rc == -EBADMSG)
		return -ESTALE;
	if (rc)
		return rc;
	*holder = cur;
	return is_ours(&cur, store) && cur.active ? 0 : -ESTALE;
}

int lease_release(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN])
{
	struct lease_info cur;
	int rc = lease_read(t, &cur);

	if (rc == -EBADMSG || rc == -ENOENT)
		return -ESTALE;
	if (rc)
		return rc;
	if (!is_ours(&cur, store) || !cur.active)
		return -ESTALE;
	cur.active = false;
	return lease_write(t, &cur);
}
