/*
 * snap_index.c - the byte format of a base snapshot's index (pitr.h,
 * "base snapshot indexes"; docs/cloud.md, "The base snapshot index"):
 * its object names and its decoder, which takes hostile bytes (fuzzed
 * by tests/fuzz/fuzz_snap_index.c).  The writer's encoder is beside the
 * snapshot writer (pitr.c).  No state; any thread.
 */
#include "config.h"

#include "cloud/pitr.h"

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/name.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_PREFIX "sidx-"

void pitr_key_index(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch)
{
	snprintf(out, FEED_KEY_MAX, INDEX_PREFIX "%016" PRIx64 "-%016" PRIx64,
		 gen, batch);
}

static bool hex16(const char *p, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 16; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			*v = *v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	return true;
}

int pitr_key_index_parse(const char *name, uint64_t *gen, uint64_t *batch)
{
	size_t pl = strlen(INDEX_PREFIX);

	if (strlen(name) != pl + 33 || strncmp(name, INDEX_PREFIX, pl) ||
	    name[pl + 16] != '-' || !hex16(name + pl, gen) ||
	    !hex16(name + pl + 17, batch))
		return -EINVAL;
	return 0;
}

void pitr_index_free(struct pitr_index *ix)
{
	if (!ix)
		return;
	free(ix->e);
	free(ix->names);
	memset(ix, 0, sizeof(*ix));
}

static int cmp_names(const char *s1, const char *k1, const char *s2,
		     const char *k2)
{
	int c = strcmp(s1, s2);

	return c ? c : strcmp(k1, k2);
}

/* Checked in this order, every length before it is used: the header
 * (magic, version, flags, total length = the bytes, at most
 * PITR_INDEX_MAX), the CRC, parts 1..2^20, a count that fits the bytes;
 * then each entry: name lengths 1..255, reserved bytes 0, names by the
 * rule of any name (no '/', no NUL, not "." or "..", nothing under the
 * reserved prefix), part below parts, seq 1..2^62, a body of at least
 * one byte, names in strictly increasing (space, key) order (so none
 * twice); and the entries end exactly at the CRC. */
int pitr_index_decode(const void *buf, size_t len, struct pitr_index *out,
		      const char **why)
{
	const uint8_t *p = buf, *q, *end;
	uint64_t total, n;
	char *nm;

	memset(out, 0, sizeof(*out));
	*why = "too short";
	if (len < PITR_INDEX_HDR + 4)
		return -EBADMSG;
	*why = "not an index (magic, version or flags)";
	if (memcmp(p, PITR_INDEX_MAGIC, 4) || le16_get(p + 4) != 1 ||
	    le16_get(p + 6) != 0)
		return -EBADMSG;
	total = le64_get(p + 8);
	*why = "a length that is not its size";
	if (total != len || total > PITR_INDEX_MAX)
		return -EBADMSG;
	*why = "a bad checksum";
	if (crc32c(p, len - 4) != le32_get(p + len - 4))
		return -EBADMSG;
	memcpy(out->id, p + 16, FEED_ID_LEN);
	out->gen = le64_get(p + 32);
	out->batch = le64_get(p + 40);
	out->time_ns = (int64_t)le64_get(p + 48);
	out->parts = le32_get(p + 56);
	n = le32_get(p + 60);
	*why = "a part count out of range";
	if (out->parts == 0 || out->parts > (1u << 20))
		return -EBADMSG;
	*why = "more entries than its bytes can hold";
	if (n > (len - PITR_INDEX_HDR - 4) / PITR_INDEX_ENTRY)
		return -EBADMSG;
	out->e = calloc(n ? n : 1, sizeof(*out->e));
	/* the names with their NULs: at most the entries' bytes */
	out->names = malloc(len - PITR_INDEX_HDR - 4 + 1);
	if (!out->e || !out->names) {
		pitr_index_free(out);
		return -ENOMEM;
	}
	nm = out->names;
	q = p + PITR_INDEX_HDR;
	end = p + len - 4;
	for (uint64_t i = 0; i < n; i++) {
		struct pitr_index_entry *e = &out->e[i];
		size_t sl, kl;

		*why = "an entry cut short";
		if ((size_t)(end - q) < PITR_INDEX_ENTRY)
			goto bad;
		sl = q[0];
		kl = q[1];
		*why = "an entry with a bad name length";
		if (!sl || !kl || q[2] || q[3] ||
		    (size_t)(end - q) < PITR_INDEX_ENTRY + sl + kl)
			goto bad;
		*why = "an invalid name";
		if (name_check_bytes(q + PITR_INDEX_ENTRY, sl,
				     CLOUD_RESERVED_PREFIX) ||
		    name_check_bytes(q + PITR_INDEX_ENTRY + sl, kl,
				     CLOUD_RESERVED_PREFIX))
			goto bad;
		/* sl + kl + 2 <= PITR_INDEX_ENTRY + sl + kl: the arena holds */
		memcpy(nm, q + PITR_INDEX_ENTRY, sl);
		nm[sl] = 0;
		e->space = nm;
		nm += sl + 1;
		memcpy(nm, q + PITR_INDEX_ENTRY + sl, kl);
		nm[kl] = 0;
		e->key = nm;
		nm += kl + 1;
		e->part = le32_get(q + 4);
		e->seq = le64_get(q + 8);
		e->mode = le32_get(q + 16);
		e->uid = le32_get(q + 20);
		e->gid = le32_get(q + 24);
		e->size = le32_get(q + 28);
		e->mtime_ns = (int64_t)le64_get(q + 32);
		e->ctime_ns = (int64_t)le64_get(q + 40);
		memcpy(e->sha256, q + 48, 32);
		*why = "an entry out of range (part, seq or size)";
		if (e->part >= out->parts || e->seq == 0 ||
		    e->seq > (UINT64_C(1) << 62) || e->size == 0)
			goto bad;
		*why = "names out of order or twice";
		if (i && cmp_names(out->e[i - 1].space, out->e[i - 1].key,
				   e->space, e->key) >= 0)
			goto bad;
		q += PITR_INDEX_ENTRY + sl + kl;
	}
	*why = "bytes after its entries";
	if (q != end)
		goto bad;
	out->n = (size_t)n;
	*why = NULL;
	return 0;
bad:
	pitr_index_free(out);
	return -EBADMSG;
}

const struct pitr_index_entry *
pitr_index_find(const struct pitr_index *ix, const char *space, const char *key)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_names(ix->e[mid].space, ix->e[mid].key, space, key);

		if (!c)
			return &ix->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
