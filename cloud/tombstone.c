/*
 * tombstone.c - deleting the cloud copies of documents deleted or renamed
 * away here (see backup_internal.h for the split).
 *
 * The store keeps a tombstone (its old space and key) for every document
 * that had been uploaded and is gone from that name.  A pass lists them
 * (store_tombstone_list), and for each whose name no upload or restore
 * holds, DELETEs the cloud copy until confirmed, then clears the
 * tombstone.  One worker runs a pass at a time (b->tomb_running); a pass
 * is due after every processed entry and at start (b->tomb_pass).
 *
 * Before a pass DELETEs anything, the store is synced (store_sync to its
 * newest frame): every tombstone listed comes from a Delete or Rename
 * frame at or below it, so no cloud copy is deleted, and no delete fed to
 * the history, for a change a crash could still take back.  (A kill -9
 * before the committer wrote that frame would otherwise bring the
 * document back here while the cloud and every follower hold it deleted.)
 * Uploads keep the same order (upload.c, step 2).
 *
 * Invariants:
 *   1. A tombstone is cleared only after its DELETE was confirmed.
 *   2. A name re-created meanwhile (no longer tombstoned) is left to the
 *      new document's upload, which overwrites it.
 *   3. A cloud copy is deleted only for a delete durable here.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "util/grow.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct tomb {
	uint64_t id;
	char *space, *key;
};

struct tombs {
	struct tomb *v;
	size_t n, cap;
};

static int collect_tomb(void *arg, uint64_t tomb_id, const char *space,
			const char *key)
{
	struct tombs *t = arg;

	struct tomb *nv = grow_array(t->v, &t->cap, t->n + 1, 16, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	t->v = nv;
	t->v[t->n].id = tomb_id;
	t->v[t->n].space = strdup(space);
	t->v[t->n].key = strdup(key);
	if (!t->v[t->n].space || !t->v[t->n].key) {
		free(t->v[t->n].space);
		free(t->v[t->n].key);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

void backup_tomb_pass(struct backup *b, struct backup_slot *sl)
{
	struct tombs t = { NULL, 0, 0 };
	int rc = store_tombstone_list(b->store, collect_tomb, &t);

	if (rc)
		log_error("cannot list tombstones: %s", strerror(-rc));
	if (t.n && (rc = store_sync(b->store, 0)) != 0) {
		log_error("cannot make deletes durable before their cloud "
			  "copies are deleted: %s",
			  strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < t.n && !backup_stopping(b); i++) {
		if (backup_claim(b, sl, t.v[i].space, t.v[i].key, NULL, NULL))
			continue; /* an upload holds it: the next pass */
		/* Re-created meanwhile: the new document overwrites it. */
		if (store_tombstoned(b->store, t.v[i].space, t.v[i].key) &&
		    !backup_delete_confirmed(b, t.v[i].space, t.v[i].key)) {
			/* history: cleared once the feed holds the delete */
			rc = b->hist ? backup_feed_delete(b, sl, t.v[i].id,
							  t.v[i].space,
							  t.v[i].key)
				     : store_tombstone_clear(b->store,
							     t.v[i].id);
			if (rc == -EINPROGRESS)
				rc = 0;
			if (rc && rc != -ENOENT)
				log_error("cannot clear tombstone %" PRIu64
					  ": %s",
					  t.v[i].id, strerror(-rc));
			pthread_mutex_lock(&b->lock);
			b->st.deletes++;
			pthread_mutex_unlock(&b->lock);
		}
		backup_unclaim(b, sl);
	}
out:
	for (size_t i = 0; i < t.n; i++) {
		free(t.v[i].space);
		free(t.v[i].key);
	}
	free(t.v);
}
