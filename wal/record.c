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
#include "util/grow.h"

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
	uint8_t *p;

	if (b->cap - b->len >= more)
		return 0;
	if (more > SIZE_MAX - b->len)
		return -ENOMEM;
	p = grow_array(b->p, &b->cap, b->len + more, 256, 1);
	if (!p)
		return -ENOMEM;
	b->p = p;
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

/* The length of a name to encode into *n: 0, or -ENAMETOOLONG past
 * WAL_NAME_MAX (a name is never cut) and -EINVAL when empty (the decoder
 * refuses both). */
static int namelen(const char *s, size_t *n)
{
	*n = strnlen(s, WAL_NAME_MAX + 1);
	if (*n > WAL_NAME_MAX)
		return -ENAMETOOLONG;
	return *n ? 0 : -EINVAL;
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

void wal_append_place(uint8_t *rec, uint64_t seq, uint64_t offset)
{
	w64(rec + WAL_REC_HDR + 8, seq);
	w64(rec + WAL_REC_HDR + 16, offset);
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
	size_t n;
	int rc = namelen(name, &n);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_MAPKEY, 16 + WAL_META_BYTES + 2 + n);
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
	size_t n;
	int rc = namelen(name, &n);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_MKSPACE, 8 + WAL_META_BYTES + 2 + n);
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
	size_t n;
	int rc = namelen(name, &n);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_RENAME, 16 + 2 + n);
	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, space_id);
	wname(p, name, n);
	return 0;
}

int wal_put_evict(struct wal_buf *b, enum wal_rec_type t, uint64_t id,
		  uint64_t seq, uint64_t size_bytes)
{
	uint8_t *p = begin(b, t, 24);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	p = w64(p, seq);
	w64(p, size_bytes);
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
	size_t ns, nk;
	int rc = namelen(space, &ns);
	uint8_t *p;

	if (!rc)
		rc = namelen(key, &nk);
	if (rc)
		return rc;
	p = begin(b, t, 8 + 2 + ns + 2 + nk);
	if (!p)
		return -ENOMEM;
	p = w64(p, tomb_id);
	p = wname(p, space, ns);
	wname(p, key, nk);
	return 0;
}

int wal_put_snap_begin(struct wal_buf *b, const struct wal_snap_begin *sb)
{
	uint8_t *p = begin(b, WAL_SNAP_BEGIN, 56);

	if (!p)
		return -ENOMEM;
	p = w64(p, sb->next_id);
	p = w64(p, sb->next_tomb_id);
	p = w64(p, sb->capacity_bytes);
	p = w64(p, sb->spaces);
	p = w64(p, sb->docs);
	p = w64(p, sb->entries);
	w64(p, sb->tombs);
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

static int put_snap_doc(struct wal_buf *b, enum wal_rec_type t, uint64_t id,
			uint64_t space_id, uint64_t seq, uint64_t backup_seq,
			int64_t backup_time_ns, const struct wal_meta *m,
			const char *name, const struct wal_ent *ents,
			const int64_t *times, uint32_t n)
{
	size_t nl, ent_bytes = t == WAL_SNAP_DOC_T ? 32 : 24;
	int rc = namelen(name, &nl);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, t,
		  40 + WAL_META_BYTES + 2 + nl + 4 + (size_t)n * ent_bytes);
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
		if (t == WAL_SNAP_DOC_T)
			p = w64(p, times ? (uint64_t)times[i] : 0);
	}
	return 0;
}

int wal_put_snap_doc(struct wal_buf *b, uint64_t id, uint64_t space_id,
		     uint64_t seq, uint64_t backup_seq, int64_t backup_time_ns,
		     const struct wal_meta *m, const char *name,
		     const struct wal_ent *ents, uint32_t n)
{
	return put_snap_doc(b, WAL_SNAP_DOC, id, space_id, seq, backup_seq,
			    backup_time_ns, m, name, ents, NULL, n);
}

int wal_put_snap_doc_t(struct wal_buf *b, uint64_t id, uint64_t space_id,
		       uint64_t seq, uint64_t backup_seq,
		       int64_t backup_time_ns, const struct wal_meta *m,
		       const char *name, const struct wal_ent *ents,
		       const int64_t *times, uint32_t n)
{
	return put_snap_doc(b, WAL_SNAP_DOC_T, id, space_id, seq, backup_seq,
			    backup_time_ns, m, name, ents, times, n);
}

int wal_put_snapshot_add(struct wal_buf *b, uint64_t lsn, int64_t time_ns,
			 const char *name)
{
	size_t nl;
	int rc = namelen(name, &nl);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_SNAPSHOT_ADD, 16 + 2 + nl);
	if (!p)
		return -ENOMEM;
	p = w64(p, lsn);
	p = w64(p, (uint64_t)time_ns);
	wname(p, name, nl);
	return 0;
}

int wal_put_snapshot_del(struct wal_buf *b, const char *name)
{
	size_t nl;
	int rc = namelen(name, &nl);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_SNAPSHOT_DEL, 2 + nl);
	if (!p)
		return -ENOMEM;
	wname(p, name, nl);
	return 0;
}

int wal_put_pin(struct wal_buf *b, const struct wal_pin *pin, const char *name,
		const struct wal_ent *ents)
{
	size_t nl;
	int rc = namelen(name, &nl);
	uint8_t *p;

	if (rc)
		return rc;
	p = begin(b, WAL_PIN,
		  40 + WAL_META_BYTES + 2 + nl + 4 + (size_t)pin->n * 24);
	if (!p)
		return -ENOMEM;
	p = w64(p, pin->id);
	p = w64(p, pin->space_id);
	p = w64(p, pin->from_lsn);
	p = w64(p, pin->to_lsn);
	p = w64(p, pin->seq);
	p = wmeta(p, &pin->meta);
	p = wname(p, name, nl);
	p = w32(p, pin->n);
	for (uint32_t i = 0; i < pin->n; i++) {
		p = w64(p, ents[i].seq);
		p = w64(p, ents[i].offset);
		p = w32(p, ents[i].len);
		p = w32(p, ents[i].crc);
	}
	return 0;
}

int wal_put_node_lsn(struct wal_buf *b, uint64_t id, uint64_t lsn)
{
	uint8_t *p = begin(b, WAL_NODE_LSN, 16);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	w64(p, lsn);
	return 0;
}

int wal_put_hist_base(struct wal_buf *b, uint64_t id, uint64_t seq)
{
	uint8_t *p = begin(b, WAL_HIST_BASE, 16);

	if (!p)
		return -ENOMEM;
	p = w64(p, id);
	w64(p, seq);
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

static void rname(struct cur *c, struct wal_name *nm)
{
	const uint8_t *p = take(c, 2);
	uint16_t len = p ? le16_get(p) : 0;

	if (len == 0 || len > WAL_NAME_MAX)
		c->bad = true;
	nm->len = len;
	nm->p = (const char *)take(c, len);
	if (nm->p && memchr(nm->p, '\0', len))
		c->bad = true;
}

static void dec_append(struct cur *c, struct wal_append *a)
{
	a->id = r64(c);
	a->seq = r64(c);
	a->offset = r64(c);
	a->mtime_ns = (int64_t)r64(c);
	a->len = r32(c);
	a->crc = r32(c);
	a->bytes = take(c, a->len);
}

static void dec_snap_begin(struct cur *c, struct wal_snap_begin *sb)
{
	sb->next_id = r64(c);
	sb->next_tomb_id = r64(c);
	sb->capacity_bytes = r64(c);
	sb->spaces = r64(c);
	sb->docs = r64(c);
	sb->entries = r64(c);
	sb->tombs = r64(c);
}

static void dec_snap_doc(struct cur *c, struct wal_snap_doc *d, bool timed)
{
	size_t ent_bytes = timed ? 32 : 24;

	d->timed = timed;
	d->id = r64(c);
	d->space_id = r64(c);
	d->seq = r64(c);
	d->backup_seq = r64(c);
	d->backup_time_ns = (int64_t)r64(c);
	rmeta(c, &d->meta);
	rname(c, &d->key);
	d->n = r32(c);
	if (!c->bad && (uint64_t)d->n * ent_bytes != c->left)
		c->bad = true;
	d->ents = take(c, (size_t)d->n * ent_bytes);
}

static void dec_pin(struct cur *c, struct wal_pin *d)
{
	d->id = r64(c);
	d->space_id = r64(c);
	d->from_lsn = r64(c);
	d->to_lsn = r64(c);
	d->seq = r64(c);
	rmeta(c, &d->meta);
	rname(c, &d->name);
	d->n = r32(c);
	if (!c->bad && (uint64_t)d->n * 24 != c->left)
		c->bad = true;
	d->ents = take(c, (size_t)d->n * 24);
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
		dec_append(&c, &r->u.append);
		break;
	case WAL_DELETE:
	case WAL_DELKEY:
	case WAL_RMSPACE:
		r->u.node.id = r64(&c);
		break;
	case WAL_TRIM:
		r->u.trim.id = r64(&c);
		r->u.trim.first_kept_seq = r64(&c);
		break;
	case WAL_MAPKEY:
		r->u.mapkey.id = r64(&c);
		r->u.mapkey.space_id = r64(&c);
		rmeta(&c, &r->u.mapkey.meta);
		rname(&c, &r->u.mapkey.key);
		break;
	case WAL_META:
		r->u.meta.id = r64(&c);
		rmeta(&c, &r->u.meta.meta);
		break;
	case WAL_MKSPACE:
	case WAL_SNAP_SPACE:
		r->u.space.id = r64(&c);
		rmeta(&c, &r->u.space.meta);
		rname(&c, &r->u.space.name);
		break;
	case WAL_RENAME:
		r->u.rename.id = r64(&c);
		r->u.rename.space_id = r64(&c);
		rname(&c, &r->u.rename.key);
		break;
	case WAL_BACKUP:
		r->u.backup.id = r64(&c);
		r->u.backup.seq = r64(&c);
		r->u.backup.time_ns = (int64_t)r64(&c);
		break;
	case WAL_EVICT:
	case WAL_SNAP_EVICT:
		r->u.evict.id = r64(&c);
		r->u.evict.seq = r64(&c);
		r->u.evict.size_bytes = r64(&c);
		break;
	case WAL_TOMB_ADD:
	case WAL_SNAP_TOMB:
		r->u.tomb.tomb_id = r64(&c);
		rname(&c, &r->u.tomb.space);
		rname(&c, &r->u.tomb.key);
		break;
	case WAL_TOMB_DEL:
		r->u.tomb.tomb_id = r64(&c);
		break;
	case WAL_TARGET:
	case WAL_SNAP_TARGET:
		r->u.target.target = r64(&c);
		break;
	case WAL_SNAPSHOT_ADD:
		r->u.snapshot.lsn = r64(&c);
		r->u.snapshot.time_ns = (int64_t)r64(&c);
		rname(&c, &r->u.snapshot.name);
		break;
	case WAL_SNAPSHOT_DEL:
		rname(&c, &r->u.snapshot.name);
		break;
	case WAL_PIN:
		dec_pin(&c, &r->u.pin);
		break;
	case WAL_NODE_LSN:
	case WAL_HIST_BASE:
		r->u.node_lsn.id = r64(&c);
		r->u.node_lsn.lsn = r64(&c);
		break;
	case WAL_SNAP_BEGIN:
		dec_snap_begin(&c, &r->u.snap_begin);
		break;
	case WAL_SNAP_DOC:
	case WAL_SNAP_DOC_T:
		dec_snap_doc(&c, &r->u.snap_doc, r->type == WAL_SNAP_DOC_T);
		break;
	case WAL_SNAP_END:
		r->u.snap_end.crc = r32(&c);
		r->u.snap_end.count = r64(&c);
		break;
	default:
		return -EBADMSG;
	}
	if (c.bad || c.left != 0)
		return -EBADMSG;
	*pos += WAL_REC_HDR + body;
	return 1;
}

void wal_rec_ent(const struct wal_snap_doc *d, uint32_t i, struct wal_ent *e)
{
	const uint8_t *p = d->ents + (size_t)i * (d->timed ? 32 : 24);

	e->seq = le64_get(p);
	e->offset = le64_get(p + 8);
	e->len = le32_get(p + 16);
	e->crc = le32_get(p + 20);
}

int64_t wal_rec_ent_time(const struct wal_snap_doc *d, uint32_t i)
{
	return d->timed ? (int64_t)le64_get(d->ents + (size_t)i * 32 + 24) : 0;
}

void wal_rec_pin_ent(const struct wal_pin *d, uint32_t i, struct wal_ent *e)
{
	const uint8_t *p = d->ents + (size_t)i * 24;

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
	case WAL_SNAPSHOT_ADD:
		return "SnapshotAdd";
	case WAL_SNAPSHOT_DEL:
		return "SnapshotDel";
	case WAL_PIN:
		return "Pin";
	case WAL_NODE_LSN:
		return "NodeLsn";
	case WAL_HIST_BASE:
		return "HistBase";
	case WAL_SNAP_BEGIN:
		return "SnapBegin";
	case WAL_SNAP_SPACE:
		return "SnapSpace";
	case WAL_SNAP_DOC:
		return "SnapDoc";
	case WAL_SNAP_DOC_T:
		return "SnapDocT";
	case WAL_SNAP_TOMB:
		return "SnapTomb";
	case WAL_SNAP_END:
		return "SnapEnd";
	case WAL_SNAP_TARGET:
		return "SnapTarget";
	case WAL_EVICT:
		return "Evict";
	case WAL_SNAP_EVICT:
		return "SnapEvict";
	}
	return "?";
}
