/*
 * doc_fsck.c - fsck of what the entries mean: every document of a store
 * materializes (doc_entries_check over its entries, without size limits:
 * the mount's limits are not known offline).  The bytes themselves are
 * store_fsck's.
 */
#include "store/doc.h"

#include "store/store.h"
#include "util/grow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct fsck_walk {
	struct store *s;
	FILE *out;
	const char *space;
	uint64_t space_id;
	struct store_import_entry *ents;
	size_t n, cap;
	int bad;
	int rc;
};

static int collect_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct fsck_walk *w = arg;
	void *copy;

	(void)seq;
	if (w->n == w->cap) {
		struct store_import_entry *ne =
			grow_array(w->ents, &w->cap, w->n + 1, 16, sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		w->ents = ne;
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	w->ents[w->n].buf = copy;
	w->ents[w->n].len = len;
	w->n++;
	return 0;
}

static void entries_free(struct fsck_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free((void *)w->ents[i].buf);
	w->n = 0;
}

static int check_one(void *arg, uint64_t id, const char *key)
{
	struct doc_options o = { .max_doc_bytes = UINT64_MAX,
				 .max_patch_bytes = UINT64_MAX };
	struct fsck_walk *w = arg;
	int rc;

	/* entries are copied out: store_read holds the store's lock */
	rc = store_read(w->s, id, collect_entry, w);
	if (rc == -ENODATA)
		return 0; /* evicted: its content is the cloud's */
	if (!rc)
		rc = doc_entries_check(&o, w->ents, w->n);
	entries_free(w);
	if (rc == -EBADMSG) {
		fprintf(w->out,
			"document '%s/%s' (%" PRIu64
			") does not materialize: an entry is not valid\n",
			w->space, key, id);
		w->bad++;
		return 0;
	}
	return rc;
}

static int check_space(void *arg, uint64_t id, const char *name)
{
	struct fsck_walk *w = arg;

	w->space = name;
	w->space_id = id;
	return store_doc_list(w->s, id, 0, check_one, w);
}

int doc_fsck(struct store *s, FILE *out)
{
	struct fsck_walk w = { .s = s, .out = out };
	int rc = store_space_list(s, 0, check_space, &w);

	entries_free(&w);
	free(w.ents);
	return rc < 0 ? rc : w.bad;
}
