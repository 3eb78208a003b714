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

static void copy_name(char *dst, const char *src, uint16_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Encode r again into b (empty); -1 when the type has no encoder. */
static int encode(struct wal_buf *b, const struct wal_rec *r)
{
	char n1[WAL_NAME_MAX + 1], n2[WAL_NAME_MAX + 1];
	struct wal_ent *ents = NULL;
	int rc;

	if (r->name)
		copy_name(n1, r->name, r->name_len);
	if (r->name2)
		copy_name(n2, r->name2, r->name2_len);
	switch (r->type) {
	case WAL_APPEND:
		return wal_put_append(b, r->id, r->seq, r->offset, r->time_ns,
				      r->bytes, r->len, r->crc);
	case WAL_DELETE:
	case WAL_DELKEY:
	case WAL_RMSPACE:
	case WAL_TOMB_DEL:
	case WAL_TARGET:
	case WAL_SNAP_TARGET:
		return wal_put_id(b, r->type, r->id);
	case WAL_TRIM:
		return wal_put_trim(b, r->id, r->seq);
	case WAL_MAPKEY:
		return wal_put_mapkey(b, r->id, r->id2, &r->meta, n1);
	case WAL_META:
		return wal_put_meta(b, r->id, &r->meta);
	case WAL_MKSPACE:
		return wal_put_mkspace(b, r->id, &r->meta, n1);
	case WAL_SNAP_SPACE:
		return wal_put_snap_space(b, r->id, &r->meta, n1);
	case WAL_RENAME:
		return wal_put_rename(b, r->id, r->id2, n1);
	case WAL_BACKUP:
		return wal_put_backup(b, r->id, r->seq, r->time_ns);
	case WAL_TOMB_ADD:
	case WAL_SNAP_TOMB:
		return wal_put_tomb_add(b, r->type, r->id, n1, n2);
	case WAL_SNAP_BEGIN:
		return wal_put_snap_begin(b, r->id, r->id2, r->offset, r->a,
					  r->b, r->c, r->d);
	case WAL_SNAP_DOC:
		if (r->n) {
			ents = malloc((size_t)r->n * sizeof(*ents));
			if (!ents)
				return -ENOMEM;
		}
		for (uint32_t i = 0; i < r->n; i++)
			wal_rec_ent(r, i, &ents[i]);
		rc = wal_put_snap_doc(b, r->id, r->id2, r->seq, r->a,
				      r->time_ns, &r->meta, n1, ents, r->n);
		free(ents);
		return rc;
	case WAL_SNAP_END:
		return wal_put_snap_end(b, r->crc, r->a);
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
