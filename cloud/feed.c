/*
 * feed.c - encoder and bounds-checked decoder of change feed batches and
 * base snapshot parts (see feed.h).
 *
 * Layout (version 1), every integer little-endian, times in ns since the
 * epoch (signed):
 *
 *   offset  size  field
 *   0       4     magic "CVFD" (feed batch) or "CVSN" (snapshot part)
 *   4       2     version (1)
 *   6       2     flags (0; anything else is refused)
 *   8       8     total length of the object in bytes, CRC included
 *   16      16    identity of the writing store
 *   32      8     generation
 *   40      8     batch number (snapshot: the last feed batch it holds)
 *   48      8     first time (batch: the first record's; snapshot: its time)
 *   56      8     last time (batch: the last record's; snapshot: its time)
 *   64      4     part (batch: 0)
 *   68      4     parts (batch: 1)
 *   72      4     record count N
 *   76      ...   N records
 *   end-4   4     CRC-32C of every byte before it
 *
 * A record:
 *
 *   0       1     kind 'D' (document state) or 'X' (delete)
 *   1       1     space name length S (1..255)
 *   2       1     key length K (1..255)
 *   3       1     0
 *   4       8     the document's sequence number (delete: 0)
 *   12      4     mode
 *   16      4     uid
 *   20      4     gid
 *   24      8     mtime
 *   32      8     ctime
 *   40      8     change time (when the change entered the feed)
 *   48      4     body length L (document: >= 1; delete: 0)
 *   52      S+K   space name, key (bytes, no NUL)
 *   ...     L     body: the document's materialized JSON
 *
 * Validity rule (feed_decode): the buffer is exactly "total length"
 * bytes, at most FEED_MAX_OBJECT; magic, version and flags match; the CRC
 * matches; N records fit exactly between the header and the CRC, each
 * length checked against what remains before it is used; names are valid
 * (util/name.h), the reserved byte is 0, kinds are 'D' or 'X', a 'D' has
 * a body and an 'X' none and seq 0.  A batch has part 0 of 1, at least
 * one record, record times never going back, and its first and last
 * times equal its first and last record's.  A snapshot has part < parts,
 * parts <= FEED_MAX_PARTS, first time = last time, only 'D' records, each
 * no later than the snapshot's time.  Anything else is -EBADMSG.  What a
 * body means, whether the names are unique in a snapshot and whether
 * identity, generation and batch are the ones expected is the importer's
 * to check (cloud/pitr.c).
 */
#include "config.h"

#include "cloud/feed.h"

#include "cloud/frame.h"

#include "util/endian.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_BATCH "CVFD"
#define MAGIC_SNAP "CVSN"
#define FEED_VERSION 1
#define HDR_LEN 76
#define REC_FIXED 52
#define CRC_LEN FRAME_CRC_LEN
#define OFF_FIRST 48
#define OFF_LAST 56
#define OFF_COUNT 72
/* Larger objects are refused before anything else is read. */
#define FEED_MAX_OBJECT (UINT64_C(1) << 31)
#define FEED_MAX_PARTS (UINT32_C(1) << 20)

_Static_assert(HDR_LEN == 72 + 4, "header layout");
_Static_assert(REC_FIXED == 48 + 4, "record layout");

int feed_writer_init(struct feed_writer *w, enum feed_kind kind,
		     const uint8_t id[FEED_ID_LEN], uint64_t gen,
		     uint64_t batch, uint32_t part, uint32_t parts,
		     int64_t snap_ns)
{
	uint8_t h[HDR_LEN];

	memset(w, 0, sizeof(*w));
	if (kind == FEED_BATCH) {
		part = 0;
		parts = 1;
	} else if (kind != FEED_SNAP || parts == 0 || part >= parts ||
		   parts > FEED_MAX_PARTS) {
		return -EINVAL;
	}
	w->kind = kind;
	memset(h, 0, sizeof(h));
	memcpy(h, kind == FEED_BATCH ? MAGIC_BATCH : MAGIC_SNAP, 4);
	le16_put(h + 4, FEED_VERSION);
	memcpy(h + 16, id, FEED_ID_LEN);
	le64_put(h + 32, gen);
	le64_put(h + 40, batch);
	le32_put(h + 64, part);
	le32_put(h + 68, parts);
	if (kind == FEED_SNAP) {
		w->first_ns = w->last_ns = snap_ns;
		le64_put(h + OFF_FIRST, (uint64_t)snap_ns);
		le64_put(h + OFF_LAST, (uint64_t)snap_ns);
	}
	cbuf_add(&w->b, h, sizeof(h));
	if (cbuf_failed(&w->b)) {
		cbuf_release(&w->b);
		return -ENOMEM;
	}
	return 0;
}

int feed_writer_add(struct feed_writer *w, const struct feed_record *r)
{
	size_t sl = strlen(r->space), kl = strlen(r->key);
	uint8_t h[REC_FIXED];

	if (w->err)
		return w->err;
	if (!frame_name_ok((const uint8_t *)r->space, sl) ||
	    !frame_name_ok((const uint8_t *)r->key, kl) || w->n == UINT32_MAX)
		w->err = -EINVAL;
	else if (r->kind == FEED_REC_DOC && r->body_len == 0)
		w->err = -EINVAL;
	else if (r->kind == FEED_REC_DEL && (r->body_len || r->seq))
		w->err = -EINVAL;
	else if (r->kind != FEED_REC_DOC &&
		 (r->kind != FEED_REC_DEL || w->kind == FEED_SNAP))
		w->err = -EINVAL;
	else if (w->kind == FEED_BATCH && w->n && r->time_ns < w->last_ns)
		w->err = -EINVAL;
	else if (w->kind == FEED_SNAP && r->time_ns > w->last_ns)
		w->err = -EINVAL;
	else if (r->body_len >= UINT32_MAX)
		w->err = -EFBIG;
	if (w->err)
		return w->err;
	memset(h, 0, sizeof(h));
	h[0] = r->kind;
	h[1] = (uint8_t)sl;
	h[2] = (uint8_t)kl;
	le64_put(h + 4, r->seq);
	le32_put(h + 12, r->mode);
	le32_put(h + 16, r->uid);
	le32_put(h + 20, r->gid);
	le64_put(h + 24, (uint64_t)r->mtime_ns);
	le64_put(h + 32, (uint64_t)r->ctime_ns);
	le64_put(h + 40, (uint64_t)r->time_ns);
	le32_put(h + 48, (uint32_t)r->body_len);
	cbuf_add(&w->b, h, sizeof(h));
	cbuf_add(&w->b, r->space, sl);
	cbuf_add(&w->b, r->key, kl);
	if (r->body_len)
		cbuf_add(&w->b, r->body, r->body_len);
	if (cbuf_failed(&w->b)) {
		w->err = -ENOMEM;
		return w->err;
	}
	if (w->kind == FEED_BATCH) {
		if (w->n == 0)
			w->first_ns = r->time_ns;
		w->last_ns = r->time_ns;
	}
	w->n++;
	return 0;
}

size_t feed_writer_len(const struct feed_writer *w)
{
	return w->b.len + CRC_LEN;
}

uint32_t feed_writer_count(const struct feed_writer *w)
{
	return w->n;
}

int feed_writer_finish(struct feed_writer *w, void **out, size_t *len)
{
	uint8_t *p;
	int rc = w->err;

	if (!rc && (w->b.len < HDR_LEN || (w->kind == FEED_BATCH && !w->n)))
		rc = -EINVAL;
	if (!rc && (uint64_t)w->b.len + CRC_LEN > FEED_MAX_OBJECT)
		rc = -EFBIG;
	if (!rc) {
		p = (uint8_t *)w->b.p;
		le64_put(p + OFF_FIRST, (uint64_t)w->first_ns);
		le64_put(p + OFF_LAST, (uint64_t)w->last_ns);
		le32_put(p + OFF_COUNT, w->n);
		rc = frame_seal(&w->b, out, len);
	}
	if (rc)
		feed_writer_release(w);
	return rc;
}

void feed_writer_release(struct feed_writer *w)
{
	if (!w)
		return;
	cbuf_release(&w->b);
	w->n = 0;
	w->err = 0;
}

static int decode_header(const uint8_t *p, size_t len, struct feed_object *o,
			 uint32_t *count)
{
	if (len < HDR_LEN + CRC_LEN || (uint64_t)len > FEED_MAX_OBJECT)
		return -EBADMSG;
	if (!memcmp(p, MAGIC_BATCH, 4))
		o->kind = FEED_BATCH;
	else if (!memcmp(p, MAGIC_SNAP, 4))
		o->kind = FEED_SNAP;
	else
		return -EBADMSG;
	if (le16_get(p + 4) != FEED_VERSION || le16_get(p + 6) != 0)
		return -EBADMSG;
	if (!frame_intact(p, len, HDR_LEN + CRC_LEN))
		return -EBADMSG;
	memcpy(o->id, p + 16, FEED_ID_LEN);
	o->gen = le64_get(p + 32);
	o->batch = le64_get(p + 40);
	o->first_ns = (int64_t)le64_get(p + OFF_FIRST);
	o->last_ns = (int64_t)le64_get(p + OFF_LAST);
	o->part = le32_get(p + 64);
	o->parts = le32_get(p + 68);
	*count = le32_get(p + OFF_COUNT);
	if (o->kind == FEED_BATCH) {
		if (o->part != 0 || o->parts != 1 || *count == 0 ||
		    o->first_ns > o->last_ns)
			return -EBADMSG;
	} else if (o->parts == 0 || o->part >= o->parts ||
		   o->parts > FEED_MAX_PARTS || o->first_ns != o->last_ns) {
		return -EBADMSG;
	}
	return 0;
}

/* One record at p[*pos .. end); advances *pos. */
static int decode_record(const uint8_t *p, size_t *pos, size_t end,
			 struct feed_record *r)
{
	size_t sl, kl, bl, at = *pos;

	if (end - at < REC_FIXED)
		return -EBADMSG;
	r->kind = p[at];
	sl = p[at + 1];
	kl = p[at + 2];
	if (p[at + 3] != 0)
		return -EBADMSG;
	r->seq = le64_get(p + at + 4);
	r->mode = le32_get(p + at + 12);
	r->uid = le32_get(p + at + 16);
	r->gid = le32_get(p + at + 20);
	r->mtime_ns = (int64_t)le64_get(p + at + 24);
	r->ctime_ns = (int64_t)le64_get(p + at + 32);
	r->time_ns = (int64_t)le64_get(p + at + 40);
	bl = le32_get(p + at + 48);
	at += REC_FIXED;
	if (sl + kl > end - at || bl > end - at - sl - kl)
		return -EBADMSG;
	if (!frame_name_ok(p + at, sl) || !frame_name_ok(p + at + sl, kl))
		return -EBADMSG;
	if (r->kind == FEED_REC_DOC) {
		if (bl == 0)
			return -EBADMSG;
	} else if (r->kind != FEED_REC_DEL || bl != 0 || r->seq != 0) {
		return -EBADMSG;
	}
	memcpy(r->space, p + at, sl);
	r->space[sl] = '\0';
	memcpy(r->key, p + at + sl, kl);
	r->key[kl] = '\0';
	at += sl + kl;
	r->body = bl ? p + at : NULL;
	r->body_len = bl;
	*pos = at + bl;
	return 0;
}

int feed_decode(const void *buf, size_t len, struct feed_object *out)
{
	const uint8_t *p = buf;
	struct feed_object o;
	size_t pos = HDR_LEN, end;
	uint32_t count;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&o, 0, sizeof(o));
	rc = decode_header(p, len, &o, &count);
	if (rc)
		return rc;
	end = len - CRC_LEN;
	if (count > (end - pos) / REC_FIXED)
		return -EBADMSG;
	if (count) {
		o.rec = calloc(count, sizeof(*o.rec));
		if (!o.rec)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct feed_record *r = &o.rec[i];

		if (decode_record(p, &pos, end, r))
			goto out_bad;
		if (o.kind == FEED_SNAP) {
			if (r->kind != FEED_REC_DOC || r->time_ns > o.last_ns)
				goto out_bad;
		} else if (i > 0 && r->time_ns < o.rec[i - 1].time_ns) {
			goto out_bad;
		}
	}
	if (pos != end)
		goto out_bad;
	if (o.kind == FEED_BATCH && (o.rec[0].time_ns != o.first_ns ||
				     o.rec[count - 1].time_ns != o.last_ns))
		goto out_bad;
	o.n = count;
	*out = o;
	return 0;
out_bad:
	free(o.rec);
	return -EBADMSG;
}

void feed_release(struct feed_object *o)
{
	if (!o)
		return;
	free(o->rec);
	o->rec = NULL;
	o->n = 0;
}

/* ---- object names ---- */

void feed_key_batch(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch)
{
	snprintf(out, FEED_KEY_MAX, "feed-%016" PRIx64 "-%016" PRIx64, gen,
		 batch);
}

void feed_key_snap(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch,
		   uint32_t part)
{
	snprintf(out, FEED_KEY_MAX,
		 "snap-%016" PRIx64 "-%016" PRIx64 "-%08" PRIx32, gen, batch,
		 part);
}

/* n lower-case hex digits at s into *v. */
static bool hex_field(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			x = x << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*v = x;
	return true;
}

int feed_key_parse(const char *name, uint64_t *gen, uint64_t *batch,
		   uint32_t *part)
{
	size_t len = strlen(name);
	uint64_t pv;

	if (len == 5 + 16 + 1 + 16 && !strncmp(name, "feed-", 5) &&
	    name[21] == '-' && hex_field(name + 5, 16, gen) &&
	    hex_field(name + 22, 16, batch)) {
		*part = 0;
		return FEED_BATCH;
	}
	if (len == 5 + 16 + 1 + 16 + 1 + 8 && !strncmp(name, "snap-", 5) &&
	    name[21] == '-' && name[38] == '-' &&
	    hex_field(name + 5, 16, gen) && hex_field(name + 22, 16, batch) &&
	    hex_field(name + 39, 8, &pv)) {
		*part = (uint32_t)pv;
		return FEED_SNAP;
	}
	return 0;
}
