/*
 * lease.h - one writer per prefix: the writer lease kept in a cloud
 * target.
 *
 * Two stores backing up to one prefix would overwrite each other's
 * documents and interleave their history, so a target names the store
 * that writes it in one object of ours, (".caravan", "writer") (format
 * and protocol in lease.c).  A store takes the lease before its first
 * upload and gives it up at a clean stop; while another store's lease is
 * active, taking it is refused (-EBUSY, with the holder described) unless
 * the caller hands the prefix over (takeover: after the holder's machine
 * was lost).  A writer that finds the lease taken from it stops writing
 * (the uploader checks it periodically: cloud/writer.c).
 *
 * Every function talks to the target through cloud_target_get/put only;
 * the object's bytes are hostile until lease_parse accepted them.
 * Threads: no state of its own; safe from any thread.
 */
#ifndef CLOUD_LEASE_H
#define CLOUD_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/target.h"

#define LEASE_STORE_LEN 16
#define LEASE_HOST_MAX 64
/* Longest lease object accepted (the encoding is far shorter). */
#define LEASE_OBJECT_MAX 1024

struct lease_info {
	uint8_t store[LEASE_STORE_LEN]; /* the holder's store identity */
	char host[LEASE_HOST_MAX + 1]; /* its host name, printable ASCII */
	int64_t pid; /* its process */
	int64_t since_ns; /* when it took the lease (ns since the epoch) */
	bool active; /* false: released at a clean stop */
};

/* Decode a lease object; -EBADMSG for anything but the exact format. */
int lease_parse(const void *buf, size_t len, struct lease_info *out);
/* Encode li into out (LEASE_OBJECT_MAX bytes); returns the length. */
size_t lease_encode(const struct lease_info *li, char out[LEASE_OBJECT_MAX]);

/* A one-line description of a holder for messages ("store 3f..a1 on
 * host web-2, pid 812, since 2026-12-06T10:00:00Z"). */
void lease_describe(const struct lease_info *li, char *out, size_t n);

/* Take the lease of t for store.  0: ours (written and read back);
 * -EBUSY: another store's lease is active and takeover is false
 * (*holder describes it); -EBADMSG: the object there is not a lease and
 * takeover is false; else the target's error (-EIO, -ECANCELED, ...), the
 * lease unknown.  With takeover another store's lease is replaced (and
 * *holder, when there was one, names it; holder->active tells). */
int lease_acquire(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN],
		  bool takeover, struct lease_info *holder);

/* Is the lease still store's?  0 yes; -ESTALE: another store holds it,
 * or it was released, or the object is no lease (*holder describes it
 * when it could be read, else is zeroed); -ENOENT: there is no lease (the
 * target was emptied: take it again); else the target's error (not
 * judged). */
int lease_check(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN],
		struct lease_info *holder);

/* Mark store's lease released (a clean stop: another store may take the
 * prefix without takeover).  Nothing is written when the lease is not
 * store's.  0, -ESTALE, or the target's error. */
int lease_release(struct cloud_target *t, const uint8_t store[LEASE_STORE_LEN]);

#endif
