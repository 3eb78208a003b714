/*
 * fsck.c - offline integrity check of a store.
 *
 * Opening the store read-only already proves the log: every frame's
 * checksum, the snapshot's own checksum and count, and that every frame
 * applies to the state before it (replay.c).  fsck then checks what
 * replay does not: each entry's bytes in the data file against the
 * CRC-32C recorded when it was appended; the allocator's invariants after
 * rebuilding it (no two entries overlap, free space is coherent); the
 * index (entries ordered by sequence, every document's space exists and
 * lists it, counters agree, names obey the rules).
 */
#include "store/store.h"

#include "store/store_internal.h"
#include "util/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static int check_doc(struct store *s, struct node *n, FILE *out)
{
	int bad = 0;
	struct node *sp = node_get(s, n->space_id);
	uint64_t bytes = 0;

	if (!sp || sp->space_id) {
		fprintf(out,
			"document %" PRIu64 " '%s': its space %" PRIu64
			" does not exist\n",
			n->id, n->name, n->space_id);
		return 1;
	}
	if (store_name_check(s, n->name)) {
		fprintf(out, "document %" PRIu64 ": invalid name '%s'\n", n->id,
			n->name);
		bad++;
	}
	{
		if (!kids_has(&sp->kids, n->id)) {
			fprintf(out,
				"document '%s/%s' is missing from its "
				"space's listing\n",
				sp->name, n->name);
			bad++;
		}
	}
	for (uint32_t i = 0; i < n->nent; i++) {
		const struct ent *e = &n->ents[i];

		if (i && e->seq <= n->ents[i - 1].seq) {
			fprintf(out,
				"document '%s/%s': entries out of order at "
				"seq %" PRIu64 "\n",
				sp->name, n->name, e->seq);
			bad++;
		}
		if (e->seq > n->seq) {
			fprintf(out,
				"document '%s/%s': entry seq %" PRIu64
				" above the document's %" PRIu64 "\n",
				sp->name, n->name, e->seq, n->seq);
			bad++;
		}
		if (crc32c(s->map + e->off, e->len) != e->crc) {
			fprintf(out,
				"document '%s/%s': entry seq %" PRIu64
				" at offset %" PRIu64 " fails its checksum\n",
				sp->name, n->name, e->seq, e->off);
			bad++;
		}
		if (e->len && alloc_overlaps_free(s->alloc, e->off, e->len)) {
			fprintf(out,
				"document '%s/%s': entry seq %" PRIu64
				" lies in free space\n",
				sp->name, n->name, e->seq);
			bad++;
		}
		bytes += e->len;
	}
	if (bytes != n->stored_bytes) {
		fprintf(out, "document '%s/%s': stored bytes disagree\n",
			sp->name, n->name);
		bad++;
	}
	return bad;
}

int store_fsck(const char *dir, FILE *out)
{
	struct store_options o;
	struct store *s;
	uint64_t docs = 0, spaces = 0, entries = 0, used = 0;
	void *nv;
	int bad = 0, rc;

	store_options_default(&o);
	o.read_only = true;
	rc = store_open(dir, &o, &s);
	if (rc) {
		fprintf(out, "fsck: cannot open store '%s': %s\n", dir,
			strerror(-rc));
		return rc == -EBADMSG || rc == -EPROTONOSUPPORT ? 1 : rc;
	}
	for (size_t pos = 0; node_next(s, &pos, NULL, &nv);) {
		struct node *n = nv;

		if (n->space_id) {
			docs++;
			entries += n->nent;
			used += n->stored_bytes;
			bad += check_doc(s, n, out);
		} else {
			uint32_t live = 0;
			uint64_t id, prev = 0;

			spaces++;
			for (uint32_t k = 0; k < n->kids.n; k++)
				live += kids_at(&n->kids, k, &id);
			if (live != n->kids.live) {
				fprintf(out,
					"space '%s': %" PRIu32
					" documents listed, %" PRIu32
					" counted\n",
					n->name, live, n->kids.live);
				bad++;
			}
			for (uint32_t k = 0; k < n->kids.n; k++) {
				kids_at(&n->kids, k, &id); /* gone ones too */
				if (k && prev >= id) {
					fprintf(out,
						"space '%s': listing out "
						"of order\n",
						n->name);
					bad++;
					break;
				}
				prev = id;
			}
		}
	}
	if (docs != s->ndocs || spaces != s->nspaces ||
	    entries != s->nentries) {
		fprintf(out, "counters disagree with the index\n");
		bad++;
	}
	if (!alloc_check(s->alloc)) {
		fprintf(out, "allocator invariants broken\n");
		bad++;
	}
	used += store_snapshot_pinned_bytes(s); /* kept for snapshots */
	if (alloc_free_bytes(s->alloc) + used != s->capacity) {
		fprintf(out,
			"free space (%" PRIu64 ") plus used (%" PRIu64
			") is not the capacity (%" PRIu64 ")\n",
			alloc_free_bytes(s->alloc), used, s->capacity);
		bad++;
	}
	fprintf(out,
		"%s: %" PRIu64 " spaces, %" PRIu64 " documents, %" PRIu64
		" entries, %" PRIu64 " bytes used, %" PRIu64 " free of %" PRIu64
		", log %" PRIu64 " bytes: %s\n",
		dir, spaces, docs, entries, used, alloc_free_bytes(s->alloc),
		s->capacity, wal_size(s->wal),
		bad ? "PROBLEMS FOUND" : "clean");
	store_close(s);
	return bad;
}
