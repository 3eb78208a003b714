/*
 * feed.h - the objects of a store's history in its cloud target: change
 * feed batches and base snapshot parts.
 *
 * A feed batch holds the changes the uploader confirmed, in order: each
 * record is a document's state after a change (its materialized JSON and
 * metadata) or a delete.  A base snapshot is the whole namespace as it was
 * after one feed batch, split into parts.  Both carry the writing store's
 * identity, a generation (one per start of the backup) and the batch
 * number, and are sealed by a CRC-32C.  The byte layout and the validity
 * rule are at the top of feed.c; the object names are feed_key_*.
 *
 * Encoding: feed_writer_init(), feed_writer_add() per record,
 * feed_writer_finish().  Decoding: feed_decode() is a pure function of
 * (buf, len): every length is checked against what remains, anything
 * malformed, truncated or corrupt is -EBADMSG, and it never reads outside
 * buf.  It does not check what a body means (JSON, limits): importing
 * code does (cloud/pitr.c).
 */
#ifndef CLOUD_FEED_H
#define CLOUD_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/name.h"

#define FEED_ID_LEN 16
#define FEED_NAME_MAX NAME_MAX_BYTES
/* The longest object name feed_key_* write, with its NUL. */
#define FEED_KEY_MAX 64

enum feed_kind {
	FEED_BATCH = 1, /* "CVFD": a batch of the change feed */
	FEED_SNAP = 2, /* "CVSN": a part of a base snapshot */
};

enum feed_rec_kind {
	FEED_REC_DOC = 'D', /* the document's state after a change */
	FEED_REC_DEL = 'X', /* the name was deleted (or renamed away) */
};

struct feed_record {
	uint8_t kind; /* enum feed_rec_kind */
	char space[FEED_NAME_MAX + 1];
	char key[FEED_NAME_MAX + 1];
	uint64_t seq; /* the document's sequence number (0 for a delete) */
	uint32_t mode, uid, gid;
	int64_t mtime_ns, ctime_ns;
	int64_t time_ns; /* when the change entered the feed */
	const uint8_t *body; /* DOC: materialized JSON (borrowed); DEL: NULL */
	size_t body_len;
};

struct feed_object {
	enum feed_kind kind;
	uint8_t id[FEED_ID_LEN]; /* the writing store's identity */
	uint64_t gen, batch;
	int64_t first_ns, last_ns; /* BATCH: first and last record's time;
				      SNAP: both the snapshot's time */
	uint32_t part, parts; /* SNAP: this part, of parts (BATCH: 0, 1) */
	size_t n;
	struct feed_record *rec; /* owned: feed_release() */
};

/* Decode.  On success *out holds the object; record bodies point into buf
 * and are valid while buf is; release with feed_release().  On failure
 * (-EBADMSG, -ENOMEM) *out is left empty. */
int feed_decode(const void *buf, size_t len, struct feed_object *out);
void feed_release(struct feed_object *o);

struct feed_writer {
	struct cbuf b;
	enum feed_kind kind;
	uint32_t n;
	int64_t first_ns, last_ns;
	int err;
};

/* Start an object.  For a batch, part 0 of 1 and snap_ns ignored; for a
 * snapshot part, snap_ns is the snapshot's time.  -EINVAL for a bad
 * kind or part. */
int feed_writer_init(struct feed_writer *w, enum feed_kind kind,
		     const uint8_t id[FEED_ID_LEN], uint64_t gen,
		     uint64_t batch, uint32_t part, uint32_t parts,
		     int64_t snap_ns);
/* Append a record (copied).  -EINVAL for a bad name or kind, a record
 * time going back (batch) or past the snapshot's time (snapshot), a body
 * on a delete or none on a document; -EFBIG for a body of 4 GiB or more;
 * -ENOMEM.  Errors are sticky. */
int feed_writer_add(struct feed_writer *w, const struct feed_record *r);
/* Bytes so far (to bound a snapshot part). */
size_t feed_writer_len(const struct feed_writer *w);
uint32_t feed_writer_count(const struct feed_writer *w);
/* Seal: *out (free with free()) and *len.  A batch needs at least one
 * record (-EINVAL).  Releases the writer either way. */
int feed_writer_finish(struct feed_writer *w, void **out, size_t *len);
void feed_writer_release(struct feed_writer *w);

/* Object names in the reserved space (CLOUD_RESERVED_PREFIX): fixed-width
 * lower-case hex, so name order is (gen, batch, part) order. */
void feed_key_batch(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch);
void feed_key_snap(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch,
		   uint32_t part);
/* Parse a name: FEED_BATCH or FEED_SNAP with the numbers, or 0 for a name
 * that is neither (exactly as feed_key_* write them). */
int feed_key_parse(const char *name, uint64_t *gen, uint64_t *batch,
		   uint32_t *part);

#endif
