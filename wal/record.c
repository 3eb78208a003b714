/*
 * record.c - encoding and bounds-checked decoding of WAL records.
 *
 * The layout of each record is documented in record.h.  The decoder reads
 * through a cursor that checks every length against what remains, so no
 * input can make it read outside the payload; a record whose body has
 * bytes left over, or too few, is malformed.
 */
#include "wal/record.h"

#include "util/endian.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void wal_buf_init(struct wal_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void wal_buf_release(struct wal_buf *b)
{
	free(b->p);
	wal_buf_init(b);
}

int wal_buf_reserve(struct wal_buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= more)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Writers: the caller reserved enough room. */
static uint8_t *w8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}

static uint8_t *w32(uint8_t *p, uint32_t v)
{
	le32_put(p, v);
	return p + 4;
}

static uint8_t *w64(uint8_t *p, uint64_t v)
{
	le64_put(p, v);
	return p + 8;
}

static uint8_t *wmeta(uint8_t *p, const struct wal_meta *m)
{
	p = w32(p, m->mode);
	p = w32(p, m->uid);
	p = w32(p, m->gid);
	p = w64(p, (uint64_t)m->mtime_ns);
	return w64(p, (uint64_t)m->ctime_ns);
}

static uint8_t *wname(uint8_t *p, const char *s, size_t n)
{
	le16_put(p, (uint16_t)n);
	memcpy(p + 2, s, n);
	return p + 2 + n;
}

/* Start a record of type t with body length body; returns where the body
 * goes, or NULL on allocation failure. */
static uint8_t *begin(struct wal_buf *b, enum wal_rec_type t, size_t body)
{
	uint8_t *p;

	if (body > UINT32_MAX || wal_buf_reserve(b, WAL_REC_HDR + body))
		return NULL;
	p = b->p + b->len;
	p = w8(p, (uint8_t)t);
	p = w32(p, (uint32_t)body);
	b->len += WAL_REC_HDR + body;
	return p;
}

static size_t namelen(const char *s)
{
	size_t n = strlen(s);
	return n > WAL_NAME_MAX ? WAL_NAME_MAX : n;
}

int wal_put_append(struct wal_buf *b, uint64_t id, uint64_t seq,
		   uint64_t offset, int64_t mtime_ns, const void *data,
		   uint32_t len, uint32_t crc)
{
	uint8_t *p = begin(b, WAL_APPEND, 40 + (size_t)len);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, seq);
	p = w64(p, offset);
	p = w64(p, (uint64_t)mtime_ns);
	p = w32(p, len);
	p = w32(p, crc);
	if (len)
		memcpy(p, data, len);
	return 0;
}

int wal_put_id(struct wal_buf *b, enum wal_rec_type t, uint64_t id)
{
	uint8_t *p = begin(b, t, 8);

	if (!p)
		return -ENOMEM;
	w64(p, id);
	return 0;
}

int wal_put_trim(struct wal_buf *b, uint64_t id, uint64_t first_kept_seq)
{
	uint8_t *p = begin(b, WAL_TRIM, 16);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	w64(p, first_kept_seq);
	return 0;
}

int wal_put_mapkey(struct wal_buf *b, uint64_t id, uint64_t space_id,
		   const struct wal_meta *m, const char *name)
{
	size_t n = namelen(name);
	uint8_t *p = begin(b, WAL_MAPKEY, 16 + WAL_META_BYTES + 2 + n);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, space_id);
	p = wmeta(p, m);
	wname(p, name, n);
	return 0;
}

int wal_put_meta(struct wal_buf *b, uint64_t id, const struct wal_meta *m)
{
	uint8_t *p = begin(b, WAL_META, 8 + WAL_META_BYTES);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	wmeta(p, m);
	return 0;
}

int wal_put_mkspace(struct wal_buf *b, uint64_t id, const struct wal_meta *m,
		    const char *name)
{
	size_t n = namelen(name);
	uint8_t *p = begin(b, WAL_MKSPACE, 8 + WAL_META_BYTES + 2 + n);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = wmeta(p, m);
	wname(p, name, n);
	return 0;
}

int wal_put_rename(struct wal_buf *b, uint64_t id, uint64_t space_id,
		   const char *name)
{
	size_t n = namelen(name);
	uint8_t *p = begin(b, WAL_RENAME, 16 + 2 + n);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, space_id);
	wname(p, name, n);
	return 0;
}

int wal_put_backup(struct wal_buf *b, uint64_t id, uint64_t seq,
		   int64_t time_ns)
{
	uint8_t *p = begin(b, WAL_BACKUP, 24);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, seq);
	w64(p, (uint64_t)time_ns);
	return 0;
}

int wal_put_tomb_add(struct wal_buf *b, enum wal_rec_type t, uint64_t tomb_id,
		     const char *space, const char *key)
{
	size_t ns = namelen(space), nk = namelen(key);
	uint8_t *p = begin(b, t, 8 + 2 + ns + 2 + nk);

	if (!p)
		return -ENOMEM;
	p = w64(p, tomb_id);
	p = wname(p, space, ns);
	wname(p, key, nk);
	return 0;
}

int wal_put_snap_begin(struct wal_buf *b, uint64_t next_id,
		       uint64_t next_tomb_id, uint64_t capacity,
		       uint64_t spaces, uint64_t docs, uint64_t entries,
		       uint64_t tombs)
{
	uint8_t *p = begin(b, WAL_SNAP_BEGIN, 56);

	if (!p)
		return -ENOMEM;
	p = w64(p, next_id);
	p = w64(p, next_tomb_id);
	p = w64(p, capacity);
	p = w64(p, spaces);
	p = w64(p, docs);
	p = w64(p, entries);
	w64(p, tombs);
	return 0;
}

int wal_put_snap_space(struct wal_buf *b, uint64_t id, const struct wal_meta *m,
		       const char *name)
{
	size_t start = b->len;
	int rc = wal_put_mkspace(b, id, m, name);

	if (rc == 0)
		b->p[start] = WAL_SNAP_SPACE;
	return rc;
}

int wal_put_snap_doc(struct wal_buf *b, uint64_t id, uint64_t space_id,
		     uint64_t seq, uint64_t backup_seq, int64_t backup_time_ns,
		     const struct wal_meta *m, const char *name,
		     const struct wal_ent *ents, uint32_t n)
{
	size_t nl = namelen(name);
	size_t body = 40 + WAL_META_BYTES + 2 + nl + 4 + (size_t)n * 24;
	uint8_t *p = begin(b, WAL_SNAP_DOC, body);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, space_id);
	p = w64(p, seq);
	p = w64(p, backup_seq);
	p = w64(p, (uint64_t)backup_time_ns);
	p = wmeta(p, m);
	p = wname(p, name, nl);
	p = w32(p, n);
	for (uint32_t i = 0; i < n; i++) {
		p = w64(p, ents[i].seq);
		p = w64(p, ents[i].offset);
		p = w32(p, ents[i].len);
		p = w32(p, ents[i].crc);
	}
	return 0;
}

int wal_put_snap_end(struct wal_buf *b, uint32_t crc, uint64_t count)
{
	uint8_t *p = begin(b, WAL_SNAP_END, 12);

	if (!p)
		return -ENOMEM;
	p = w32(p, crc);
	w64(p, count);
	return 0;
}

/* ---- decoding ---- */

struct cur {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || c->left < n) {
		c->bad = true;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static uint64_t r64(struct cur *c)
{
	const uint8_t *p = take(c, 8);
	return p ? le64_get(p) : 0;
}

static uint32_t r32(struct cur *c)
{
	const uint8_t *p = take(c, 4);
	return p ? le32_get(p) : 0;
}

static void rmeta(struct cur *c, struct wal_meta *m)
{
	m->mode = r32(c);
	m->uid = r32(c);
	m->gid = r32(c);
	m->mtime_ns = (int64_t)r64(c);
	m->ctime_ns = (int64_t)r64(c);
}

static void rname(struct cur *c, const char **s, uint16_t *n)
{
	const uint8_t *p = take(c, 2);
	uint16_t len = p ? le16_get(p) : 0;

	if (len == 0 || len > WAL_NAME_MAX)
		c->bad = true;
	*n = len;
	*s = (const char *)take(c, len);
	if (*s && memchr(*s, '\0', len))
		c->bad = true;
}

int wal_rec_next(const uint8_t *buf, size_t len, size_t *pos, struct wal_rec *r)
{
	struct cur c;
	uint32_t body;

	if (*pos == len)
		return 0;
	if (*pos > len || len - *pos < WAL_REC_HDR)
		return -EBADMSG;
	memset(r, 0, sizeof(*r));
	r->type = buf[*pos];
	body = le32_get(buf + *pos + 1);
	if (body > len - *pos - WAL_REC_HDR)
		return -EBADMSG;
	c.p = buf + *pos + WAL_REC_HDR;
	c.left = body;
	c.bad = false;
	r->body = c.p;
	r->body_len = body;

	switch (r->type) {
	case WAL_APPEND:
		r->id = r64(&c);
		r->seq = r64(&c);
		r->offset = r64(&c);
		r->time_ns = (int64_t)r64(&c);
		r->len = r32(&c);
		r->crc = r32(&c);
		r->bytes = take(&c, r->len);
		break;
	case WAL_DELETE:
	case WAL_DELKEY:
	case WAL_RMSPACE:
		r->id = r64(&c);
		break;
	case WAL_TRIM:
		r->id = r64(&c);
		r->seq = r64(&c);
		break;
	case WAL_MAPKEY:
		r->id = r64(&c);
		r->id2 = r64(&c);
		rmeta(&c, &r->meta);
		rname(&c, &r->name, &r->name_len);
		break;
	case WAL_META:
		r->id = r64(&c);
		rmeta(&c, &r->meta);
		break;
	case WAL_MKSPACE:
	case WAL_SNAP_SPACE:
		r->id = r64(&c);
		rmeta(&c, &r->meta);
		rname(&c, &r->name, &r->name_len);
		break;
	case WAL_RENAME:
		r->id = r64(&c);
		r->id2 = r64(&c);
		rname(&c, &r->name, &r->name_len);
		break;
	case WAL_BACKUP:
		r->id = r64(&c);
		r->seq = r64(&c);
		r->time_ns = (int64_t)r64(&c);
		break;
	case WAL_TOMB_ADD:
	case WAL_SNAP_TOMB:
		r->id = r64(&c);
		rname(&c, &r->name, &r->name_len);
		rname(&c, &r->name2, &r->name2_len);
		break;
	case WAL_TOMB_DEL:
	case WAL_TARGET:
	case WAL_SNAP_TARGET:
		r->id = r64(&c);
		break;
	case WAL_SNAP_BEGIN:
		r->id = r64(&c);
		r->id2 = r64(&c);
		r->offset = r64(&c);
		r->a = r64(&c);
		r->b = r64(&c);
		r->c = r64(&c);
		r->d = r64(&c);
		break;
	case WAL_SNAP_DOC:
		r->id = r64(&c);
		r->id2 = r64(&c);
		r->seq = r64(&c);
		r->a = r64(&c);
		r->time_ns = (int64_t)r64(&c);
		rmeta(&c, &r->meta);
		rname(&c, &r->name, &r->name_len);
		r->n = r32(&c);
		if (!c.bad && (uint64_t)r->n * 24 != c.left)
			c.bad = true;
		r->ents = take(&c, (size_t)r->n * 24);
		break;
	case WAL_SNAP_END:
		r->crc = r32(&c);
		r->a = r64(&c);
		break;
	default:
		return -EBADMSG;
	}
	if (c.bad || c.left != 0)
		return -EBADMSG;
	*pos += WAL_REC_HDR + body;
	return 1;
}

void wal_rec_ent(const struct wal_rec *r, uint32_t i, struct wal_ent *e)
{
	const uint8_t *p = r->ents + (size_t)i * 24;

	e->seq = le64_get(p);
	e->offset = le64_get(p + 8);
	e->len = le32_get(p + 16);
	e->crc = le32_get(p + 20);
}

const char *wal_rec_type_name(enum wal_rec_type t)
{
	switch (t) {
	case WAL_APPEND:
		return "Append";
	case WAL_DELETE:
		return "Delete";
	case WAL_TRIM:
		return "Trim";
	case WAL_MAPKEY:
		return "MapKey";
	case WAL_DELKEY:
		return "DelKey";
	case WAL_META:
		return "Meta";
	case WAL_MKSPACE:
		return "MkSpace";
	case WAL_RMSPACE:
		return "RmSpace";
	case WAL_RENAME:
		return "Rename";
	case WAL_BACKUP:
		return "Backup";
	case WAL_TOMB_ADD:
		return "TombAdd";
	case WAL_TOMB_DEL:
		return "TombDel";
	case WAL_TARGET:
		return "Target";
	case WAL_SNAP_BEGIN:
		return "SnapBegin";
	case WAL_SNAP_SPACE:
		return "SnapSpace";
	case WAL_SNAP_DOC:
		return "SnapDoc";
	case WAL_SNAP_TOMB:
		return "SnapTomb";
	case WAL_SNAP_END:
		return "SnapEnd";
	case WAL_SNAP_TARGET:
		return "SnapTarget";
	}
	return "?";
}
