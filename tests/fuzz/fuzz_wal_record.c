/*
 * fuzz_wal_record.c - libFuzzer target: the WAL record decoder over
 * arbitrary bytes (a frame's payload).
 *
 * wal_rec_next() must never read outside the buffer (AddressSanitizer
 * watches) and must return 1, 0 or -EBADMSG.  Every record it accepts is
 * encoded again with the wal_put_*() function of its type, and the bytes
 * must be exactly the record's: decoder and encoder agree on the format,
 * so what replay reads is what the store wrote.
 *
 * Seeds: tests/fuzz/corpus/snapshot (payloads of real frames).
 */
#include "util/endian.h"
#include "wal/record.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *copy_name(char *dst, const struct wal_name *n)
{
	memcpy(dst, n->p, n->len);
	dst[n->len] = '\0';
	return dst;
}

static int encode_snap_doc(struct wal_buf *b, const struct wal_snap_doc *d)
{
	char n1[WAL_NAME_MAX + 1];
	struct wal_ent *ents = NULL;
	int64_t *times = NULL;
	int rc = -ENOMEM;

	if (d->n) {
		ents = malloc((size_t)d->n * sizeof(*ents));
		times = malloc((size_t)d->n * sizeof(*times));
		if (!ents || !times)
			goto out;
	}
	for (uint32_t i = 0; i < d->n; i++) {
		wal_rec_ent(d, i, &ents[i]);
		times[i] = wal_rec_ent_time(d, i);
	}
	if (d->timed)
		rc = wal_put_snap_doc_t(b, d->id, d->space_id, d->seq,
					d->backup_seq, d->backup_time_ns,
					&d->meta, copy_name(n1, &d->key), ents,
					times, d->n);
	else
		rc = wal_put_snap_doc(b, d->id, d->space_id, d->seq,
				      d->backup_seq, d->backup_time_ns,
				      &d->meta, copy_name(n1, &d->key), ents,
				      d->n);
out:
	free(ents);
	free(times);
	return rc;
}

static int encode_pin(struct wal_buf *b, const struct wal_pin *d)
{
	char n1[WAL_NAME_MAX + 1];
	struct wal_ent *ents = NULL;
	int rc;

	if (d->n) {
		ents = malloc((size_t)d->n * sizeof(*ents));
		if (!ents)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < d->n; i++)
		wal_rec_pin_ent(d, i, &ents[i]);
	rc = wal_put_pin(b, d, copy_name(n1, &d->name), ents);
	free(ents);
	return rc;
}

/* Encode r again into b (empty); -1 when the type has no encoder. */
static int encode(struct wal_buf *b, const struct wal_rec *r)
{
	char n1[WAL_NAME_MAX + 1], n2[WAL_NAME_MAX + 1];
	const struct wal_append *a = &r->u.append;

	switch (r->type) {
	case WAL_APPEND:
		return wal_put_append(b, a->id, a->seq, a->offset, a->mtime_ns,
				      a->bytes, a->len, a->crc);
	case WAL_DELETE:
	case WAL_DELKEY:
	case WAL_RMSPACE:
		return wal_put_id(b, r->type, r->u.node.id);
	case WAL_TOMB_DEL:
		return wal_put_id(b, r->type, r->u.tomb.tomb_id);
	case WAL_TARGET:
	case WAL_SNAP_TARGET:
		return wal_put_id(b, r->type, r->u.target.target);
	case WAL_TRIM:
		return wal_put_trim(b, r->u.trim.id, r->u.trim.first_kept_seq);
	case WAL_MAPKEY:
		return wal_put_mapkey(b, r->u.mapkey.id, r->u.mapkey.space_id,
				      &r->u.mapkey.meta,
				      copy_name(n1, &r->u.mapkey.key));
	case WAL_META:
		return wal_put_meta(b, r->u.meta.id, &r->u.meta.meta);
	case WAL_MKSPACE:
		return wal_put_mkspace(b, r->u.space.id, &r->u.space.meta,
				       copy_name(n1, &r->u.space.name));
	case WAL_SNAP_SPACE:
		return wal_put_snap_space(b, r->u.space.id, &r->u.space.meta,
					  copy_name(n1, &r->u.space.name));
	case WAL_RENAME:
		return wal_put_rename(b, r->u.rename.id, r->u.rename.space_id,
				      copy_name(n1, &r->u.rename.key));
	case WAL_BACKUP:
		return wal_put_backup(b, r->u.backup.id, r->u.backup.seq,
				      r->u.backup.time_ns);
	case WAL_TOMB_ADD:
	case WAL_SNAP_TOMB:
		return wal_put_tomb_add(b, r->type, r->u.tomb.tomb_id,
					copy_name(n1, &r->u.tomb.space),
					copy_name(n2, &r->u.tomb.key));
	case WAL_SNAPSHOT_ADD:
		return wal_put_snapshot_add(b, r->u.snapshot.lsn,
					    r->u.snapshot.time_ns,
					    copy_name(n1, &r->u.snapshot.name));
	case WAL_SNAPSHOT_DEL:
		return wal_put_snapshot_del(b,
					    copy_name(n1, &r->u.snapshot.name));
	case WAL_PIN:
		return encode_pin(b, &r->u.pin);
	case WAL_NODE_LSN:
		return wal_put_node_lsn(b, r->u.node_lsn.id, r->u.node_lsn.lsn);
	case WAL_HIST_BASE:
		return wal_put_hist_base(b, r->u.node_lsn.id,
					 r->u.node_lsn.lsn);
	case WAL_SNAP_BEGIN:
		return wal_put_snap_begin(b, &r->u.snap_begin);
	case WAL_SNAP_DOC:
	case WAL_SNAP_DOC_T:
		return encode_snap_doc(b, &r->u.snap_doc);
	case WAL_SNAP_END:
		return wal_put_snap_end(b, r->u.snap_end.crc,
					r->u.snap_end.count);
	case WAL_EVICT:
	case WAL_SNAP_EVICT:
		return wal_put_evict(b, r->type, r->u.evict.id, r->u.evict.seq,
				     r->u.evict.size_bytes);
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wal_buf b;
	struct wal_rec r;
	size_t pos = 0, start;
	int rc;

	wal_buf_init(&b);
	for (;;) {
		start = pos;
		rc = wal_rec_next(data, size, &pos, &r);
		if (rc <= 0)
			break;
		if (pos <= start || pos > size)
			abort();
		b.len = 0;
		if (encode(&b, &r) != 0)
			abort();
		if (b.len != pos - start || memcmp(b.p, data + start, b.len))
			abort();
		if (wal_rec_type_name(r.type)[0] == '?')
			abort();
	}
	if (rc != 0 && rc != -EBADMSG)
		abort();
	if (rc == 0 && pos != size)
		abort();
	wal_buf_release(&b);
	return 0;
}
