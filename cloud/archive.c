/*
 * archive.c - encoder and bounds-checked decoder of document archives.
 *
 * Layout (version 1), every integer little-endian:
 *
 *   offset  size  field
 *   0       4     magic "CVAR"
 *   4       2     version (1)
 *   6       2     flags (0; anything else is refused)
 *   8       8     total length of the archive in bytes, CRC included
 *   16      8     document sequence number
 *   24      4     entry count N
 *   28      4     mode (permission bits)
 *   32      4     uid
 *   36      4     gid
 *   40      8     mtime (ns since the epoch, signed)
 *   48      8     ctime (ns since the epoch, signed)
 *   56      2     space name length S (1..255)
 *   58      2     key length K (1..255)
 *   60      S+K   space name, key (bytes, no NUL)
 *   ...           N entries: 8 sequence number, 4 length L, L bytes
 *   end-4   4     CRC-32C of every byte before it
 *
 * Validity rule (archive_decode): the buffer is exactly "total length"
 * bytes; magic, version and flags match; the CRC matches; both names are
 * valid (1..255 bytes, no '/' or NUL, not "." or ".."); N entries fit
 * exactly between the names and the CRC, each length checked against
 * what remains before it is used; entry sequence numbers are non-zero
 * and strictly increasing, and the last one is the document's.  Anything
 * else is -EBADMSG.  A single flipped bit anywhere is caught by the CRC
 * (CRC-32C detects every 1-bit error); a truncation by the total length.
 */
#include "config.h"

#include "cloud/archive.h"

#include "cloud/frame.h"

#include "util/endian.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ARCHIVE_MAGIC "CVAR"
#define ARCHIVE_VERSION 1
#define HDR_FIXED 60
#define OFF_SEQ 16
#define OFF_COUNT 24
#define ENTRY_HDR 12
#define CRC_LEN FRAME_CRC_LEN

_Static_assert(HDR_FIXED == 56 + 2 + 2, "fixed header layout");
_Static_assert(ENTRY_HDR == 8 + 4, "entry header layout");

int archive_writer_init(struct archive_writer *w, const char *space,
			const char *key, const struct archive_meta *m)
{
	size_t sl = strlen(space), kl = strlen(key);
	uint8_t h[HDR_FIXED];

	memset(w, 0, sizeof(*w));
	if (!frame_name_ok((const uint8_t *)space, sl) ||
	    !frame_name_ok((const uint8_t *)key, kl))
		return -EINVAL;
	memset(h, 0, sizeof(h));
	memcpy(h, ARCHIVE_MAGIC, 4);
	le16_put(h + 4, ARCHIVE_VERSION);
	le16_put(h + 6, 0);
	le32_put(h + 28, m->mode);
	le32_put(h + 32, m->uid);
	le32_put(h + 36, m->gid);
	le64_put(h + 40, (uint64_t)m->mtime_ns);
	le64_put(h + 48, (uint64_t)m->ctime_ns);
	le16_put(h + 56, (uint16_t)sl);
	le16_put(h + 58, (uint16_t)kl);
	cbuf_add(&w->b, h, sizeof(h));
	cbuf_add(&w->b, space, sl);
	cbuf_add(&w->b, key, kl);
	if (cbuf_failed(&w->b)) {
		cbuf_release(&w->b);
		return -ENOMEM;
	}
	return 0;
}

int archive_writer_add(struct archive_writer *w, uint64_t seq, const void *buf,
		       size_t len)
{
	uint8_t h[ENTRY_HDR];

	if (w->err)
		return w->err;
	if (seq == 0 || seq <= w->last_seq || w->n == UINT32_MAX)
		w->err = -EINVAL;
	else if (len > UINT32_MAX)
		w->err = -EFBIG;
	if (w->err)
		return w->err;
	le64_put(h, seq);
	le32_put(h + 8, (uint32_t)len);
	cbuf_add(&w->b, h, sizeof(h));
	cbuf_add(&w->b, buf, len);
	if (cbuf_failed(&w->b)) {
		w->err = -ENOMEM;
		return w->err;
	}
	w->n++;
	w->last_seq = seq;
	return 0;
}

int archive_writer_finish(struct archive_writer *w, uint64_t doc_seq,
			  void **out, size_t *len)
{
	uint8_t *p;
	int rc = w->err;

	if (!rc && w->n > 0 && doc_seq != w->last_seq)
		rc = -EINVAL;
	if (!rc && w->b.len < HDR_FIXED)
		rc = -EINVAL;
	if (!rc) {
		p = (uint8_t *)w->b.p;
		le64_put(p + OFF_SEQ, doc_seq);
		le32_put(p + OFF_COUNT, w->n);
		rc = frame_seal(&w->b, out, len);
	}
	if (rc)
		archive_writer_release(w);
	return rc;
}

void archive_writer_release(struct archive_writer *w)
{
	if (!w)
		return;
	cbuf_release(&w->b);
	w->n = 0;
	w->last_seq = 0;
	w->err = 0;
}

/* Fixed header and names; *pos is left at the first entry. */
static int decode_header(const uint8_t *p, size_t len, struct archive *a,
			 size_t *pos, uint32_t *count)
{
	size_t sl, kl;

	if (!frame_intact(p, len, HDR_FIXED + CRC_LEN))
		return -EBADMSG;
	if (memcmp(p, ARCHIVE_MAGIC, 4) != 0 ||
	    le16_get(p + 4) != ARCHIVE_VERSION || le16_get(p + 6) != 0)
		return -EBADMSG;
	a->seq = le64_get(p + OFF_SEQ);
	*count = le32_get(p + OFF_COUNT);
	a->meta.mode = le32_get(p + 28);
	a->meta.uid = le32_get(p + 32);
	a->meta.gid = le32_get(p + 36);
	a->meta.mtime_ns = (int64_t)le64_get(p + 40);
	a->meta.ctime_ns = (int64_t)le64_get(p + 48);
	sl = le16_get(p + 56);
	kl = le16_get(p + 58);
	if (sl + kl > len - HDR_FIXED - CRC_LEN)
		return -EBADMSG;
	if (!frame_name_ok(p + HDR_FIXED, sl) ||
	    !frame_name_ok(p + HDR_FIXED + sl, kl))
		return -EBADMSG;
	memcpy(a->space, p + HDR_FIXED, sl);
	a->space[sl] = '\0';
	memcpy(a->key, p + HDR_FIXED + sl, kl);
	a->key[kl] = '\0';
	*pos = HDR_FIXED + sl + kl;
	return 0;
}

int archive_decode(const void *buf, size_t len, struct archive *out)
{
	const uint8_t *p = buf;
	struct archive a;
	size_t pos, end;
	uint32_t count;
	uint64_t last = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	rc = decode_header(p, len, &a, &pos, &count);
	if (rc)
		return rc;
	end = len - CRC_LEN;
	if (count > (end - pos) / ENTRY_HDR)
		return -EBADMSG;
	if (count) {
		a.entries = calloc(count, sizeof(*a.entries));
		if (!a.entries)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct archive_entry *e = &a.entries[i];

		if (end - pos < ENTRY_HDR)
			goto out_bad;
		e->seq = le64_get(p + pos);
		e->len = le32_get(p + pos + 8);
		pos += ENTRY_HDR;
		if (e->len > end - pos || e->seq == 0 || e->seq <= last)
			goto out_bad;
		e->buf = p + pos;
		pos += e->len;
		last = e->seq;
	}
	if (pos != end || (count > 0 && last != a.seq))
		goto out_bad;
	a.n = count;
	*out = a;
	return 0;
out_bad:
	free(a.entries);
	return -EBADMSG;
}

void archive_release(struct archive *a)
{
	if (!a)
		return;
	free(a->entries);
	a->entries = NULL;
	a->n = 0;
}
