/*
 * archive.h - the cloud archive of one document.
 *
 * A document goes to the cloud as one archive: its name, metadata,
 * sequence number and the entries the store holds for it (each with its
 * own sequence number), sealed by a CRC-32C.  The byte layout and the
 * validity rule are at the top of archive.c.
 *
 * Encoding: archive_writer_init(), archive_writer_add() per entry (oldest
 * first, sequence numbers strictly increasing), archive_writer_finish().
 * Decoding: archive_decode() is a pure function of (buf, len): it checks
 * every length against what remains and returns -EBADMSG for anything
 * malformed, truncated or corrupt; it never reads outside buf.
 */
#ifndef CLOUD_ARCHIVE_H
#define CLOUD_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/name.h"

#define ARCHIVE_NAME_MAX NAME_MAX_BYTES

struct archive_meta {
	uint32_t mode; /* permission bits */
	uint32_t uid, gid;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

struct archive_entry {
	uint64_t seq;
	const uint8_t *buf; /* borrowed: points into the decoded buffer */
	size_t len;
};

struct archive {
	uint64_t seq; /* the document's sequence number */
	struct archive_meta meta;
	char space[ARCHIVE_NAME_MAX + 1];
	char key[ARCHIVE_NAME_MAX + 1];
	size_t n;
	struct archive_entry *entries; /* owned: archive_release() */
};

/* Decode.  On success *out holds the archive; its entries point into buf
 * and are valid while buf is; release with archive_release().  On failure
 * (-EBADMSG, -ENOMEM) *out is left empty. */
int archive_decode(const void *buf, size_t len, struct archive *out);
void archive_release(struct archive *a);

struct archive_writer {
	struct cbuf b;
	uint32_t n;
	uint64_t last_seq;
	int err;
};

/* Start an archive for (space, key): -EINVAL for a bad name. */
int archive_writer_init(struct archive_writer *w, const char *space,
			const char *key, const struct archive_meta *m);
/* Append an entry (copied).  -EINVAL when seq does not increase, -EFBIG
 * for an entry of 4 GiB or more, -ENOMEM; errors are sticky. */
int archive_writer_add(struct archive_writer *w, uint64_t seq, const void *buf,
		       size_t len);
/* Seal with the document's sequence number: the last entry's when there
 * are entries (else -EINVAL), any value when there are none.
 * On success *out (free with free()) and *len hold the archive.  Releases
 * the writer either way. */
int archive_writer_finish(struct archive_writer *w, uint64_t doc_seq,
			  void **out, size_t *len);
void archive_writer_release(struct archive_writer *w);

#endif
