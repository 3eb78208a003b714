/*
 * restore.c - a document missing locally, fetched from the cloud,
 * verified and imported (see backup.h, backup_internal.h for the split).
 *
 * backup_restore_doc registers the name in b->restoring for the time of
 * the restore, so no upload or deletion of that name runs meanwhile, and
 * marks the imported document's queue entry skip_if_clean: the import is
 * a change (the hook queues it) but its cloud copy is what it came from.
 *
 * Validity: a readable object (cloud_target_get_doc) must pass
 * cloud_doc_verify (checksum, seq, mode, owner, JSON within max_doc) and
 * is imported as one snapshot entry at its seq; a legacy archive (older
 * builds) must decode (checksum, bounds), name exactly the space and key
 * asked for, carry the seq of the object's metadata, and hold no more
 * entries than its seq (cloud_archive_verify).  Anything else is
 * refused: -EIO, a log line, nothing imported, and the catalog remembers
 * the refusal
 * (catalog_note_refused) so a repeated lookup does not fetch it again
 * until its negative entry expires.
 *
 * Invariant: a tombstoned name (deleted here, cloud copy not yet removed)
 * is never restored: deletes never come back.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/archive.h"
#include "cloud/verify.h"
#include "store/evict.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int restore_import(struct backup *b, const char *space, const char *key,
			  const char *name, uint64_t *id, bool *legacy);

int backup_restore_doc(struct backup *b, const char *space, const char *key,
		       uint64_t *id)
{
	char name[2 * CLOUD_ENC_MAX];
	struct backup_restoring me;
	bool legacy = false;
	uint64_t sid;
	int rc;

	if (!store_space_lookup(b->store, space, &sid) &&
	    !store_doc_lookup(b->store, sid, key, id))
		return 0;
	if (store_tombstoned(b->store, space, key))
		return -ENOENT;
	backup_log_name(space, key, name);
	me.space = space;
	me.key = key;
	pthread_mutex_lock(&b->lock);
	me.next = b->restoring;
	b->restoring = &me;
	pthread_mutex_unlock(&b->lock);
	rc = restore_import(b, space, key, name, id, &legacy);
	pthread_mutex_lock(&b->lock);
	for (struct backup_restoring **p = &b->restoring; *p; p = &(*p)->next) {
		if (*p == &me) {
			*p = me.next;
			break;
		}
	}
	/* The name deleted while it was held here: its tombstone may have
	 * been skipped by a pass meanwhile, so one more pass is due. */
	if (store_tombstoned(b->store, space, key)) {
		b->tomb_pass = true;
		pthread_cond_broadcast(&b->work);
	}
	if (!rc) {
		struct backup_entry *e = backup_table_get(b, *id);

		/* The import queued it: no upload unless it changes, or
		 * unless it came as a legacy archive (uploaded again, as a
		 * readable object). */
		if (e && !legacy)
			e->skip_if_clean = true;
		b->st.restores++;
	} else if (rc != -ENOENT) {
		b->st.restore_failures++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* A legacy archive (the format of older builds), verified and imported
 * entry by entry as before. */
static int import_legacy(struct backup *b, const char *space, const char *key,
			 const char *name, const void *buf, size_t len,
			 uint64_t seq, const struct doc_options *dopt,
			 uint64_t *id)
{
	struct store_import_entry *ents;
	struct store_meta m;
	const char *why;
	struct archive a;
	int rc = archive_decode(buf, len, &a);

	if (rc) {
		log_error("cannot restore '%s': corrupt archive (%s), not "
			  "imported",
			  name, strerror(-rc));
		catalog_note_refused(b->cat, space, key);
		return -EIO;
	}
	rc = cloud_archive_verify(&a, space, key, seq, dopt, &m, &why);
	if (rc) {
		archive_release(&a);
		log_error("cannot restore '%s': invalid archive (%s), not "
			  "imported",
			  name, why);
		if (rc != -ENOMEM)
			catalog_note_refused(b->cat, space, key);
		return rc == -ENOMEM ? rc : -EIO;
	}
	ents = calloc(a.n ? a.n : 1, sizeof(*ents));
	if (!ents) {
		archive_release(&a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a.n; i++) {
		ents[i].buf = a.entries[i].buf;
		ents[i].len = a.entries[i].len;
	}
	rc = store_import(b->store, space, key, &m, ents, a.n, a.seq, id, NULL);
	archive_release(&a);
	free(ents);
	return rc;
}

/* A readable object: checksum, metadata and JSON verified, imported as
 * one snapshot entry at its seq. */
static int import_doc(struct backup *b, const char *space, const char *key,
		      const char *name, const void *buf, size_t len,
		      const struct cloud_doc_meta *meta,
		      const struct doc_options *dopt, uint64_t *id)
{
	struct store_import_entry e;
	struct store_meta m;
	const char *why;
	char sum[65];
	void *entry = NULL;
	size_t elen = 0;
	int rc;

	cloud_doc_checksum(buf, len, sum);
	rc = cloud_doc_verify(buf, len, meta, sum, dopt, &m, &entry, &elen,
			      &why);
	if (rc) {
		log_error("cannot restore '%s': invalid object (%s), not "
			  "imported",
			  name, why);
		if (rc != -ENOMEM)
			catalog_note_refused(b->cat, space, key);
		return rc == -ENOMEM ? rc : -EIO;
	}
	e.buf = entry;
	e.len = elen;
	rc = store_import(b->store, space, key, &m, &e, 1, meta->seq, id, NULL);
	free(entry);
	return rc;
}

/* Fetch, verify, import.  0, -ENOENT, or the restore's errno.  *legacy:
 * the object was a legacy archive (to be uploaded again, readable). */
static int restore_import(struct backup *b, const char *space, const char *key,
			  const char *name, uint64_t *id, bool *legacy)
{
	struct cloud_doc_meta meta;
	struct doc_options dopt;
	uint64_t sid;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = cloud_target_get_doc(b->target, space, key, &buf, &len, &meta);
	if (rc == -ENOENT || rc == -EINVAL)
		return -ENOENT;
	if (rc == -EBADMSG) {
		log_error("cannot restore '%s': unreadable object, not "
			  "imported",
			  name);
		catalog_note_refused(b->cat, space, key);
	}
	if (rc)
		goto out_failed;
	doc_options_default(&dopt);
	dopt.max_doc_bytes = b->o.max_doc_bytes;
	dopt.max_patch_bytes = b->o.max_patch_bytes;
	*legacy = meta.legacy;
	if (meta.legacy)
		rc = import_legacy(b, space, key, name, buf, len, meta.seq,
				   &dopt, id);
	else
		rc = import_doc(b, space, key, name, buf, len, &meta, &dopt,
				id);
	if (rc == -EIO)
		goto out_failed;
	if (rc == -EEXIST && !store_space_lookup(b->store, space, &sid) &&
	    !store_doc_lookup(b->store, sid, key, id)) {
		rc = 0; /* restored by someone else meanwhile */
	} else if (!rc) {
		log_info("restored '%s' (seq %" PRIu64 ") from the cloud", name,
			 meta.seq);
	} else {
		if (rc != -ENOMEM)
			log_error("cannot restore '%s': %s", name,
				  strerror(-rc));
		goto out_failed;
	}
	free(buf);
	return 0;
out_failed:
	free(buf);
	if (rc != -ENOSPC && rc != -EFBIG && rc != -ENOMEM)
		rc = -EIO;
	return rc;
}

/* ---- refilling an evicted document (store/evict.h) ----
 *
 * The document is local (its node, name and seq) but its content is the
 * cloud's copy at seq.  That copy is fetched, verified like a restore
 * (cloud_doc_verify), and must carry exactly the document's seq: a copy
 * at another seq is not its content (-EIO, logged, nothing changed).
 * It is then given back to the document (store_doc_refill), whose id,
 * name and metadata stay. */
int backup_refill_doc(struct backup *b, uint64_t id)
{
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	char name[2 * CLOUD_ENC_MAX], sum[65];
	struct store_doc_info info;
	struct cloud_doc_meta meta;
	struct doc_options dopt;
	struct store_meta m;
	const char *why = NULL;
	void *buf = NULL, *entry = NULL;
	size_t len = 0, elen = 0;
	int rc;

	rc = store_doc_info(b->store, id, &info);
	if (!rc && info.is_space)
		rc = -EISDIR;
	if (!rc && !info.evicted)
		return 0;
	if (!rc)
		rc = store_node_name(b->store, id, space, key);
	if (rc)
		return rc;
	backup_log_name(space, key, name);
	rc = cloud_target_get_doc(b->target, space, key, &buf, &len, &meta);
	if (rc == 0 && meta.legacy)
		why = "a legacy archive";
	else if (rc == 0 && meta.seq != info.seq)
		why = "another seq than the evicted one";
	if (rc == 0 && !why) {
		doc_options_default(&dopt);
		dopt.max_doc_bytes = b->o.max_doc_bytes;
		dopt.max_patch_bytes = b->o.max_patch_bytes;
		cloud_doc_checksum(buf, len, sum);
		rc = cloud_doc_verify(buf, len, &meta, sum, &dopt, &m, &entry,
				      &elen, &why);
	}
	if (rc == 0 && why)
		rc = -EBADMSG;
	if (rc == 0)
		rc = store_doc_refill(b->store, id, info.seq, entry, elen,
				      NULL);
	if (rc == -EAGAIN)
		rc = 0; /* refilled by another thread, or changed meanwhile */
	pthread_mutex_lock(&b->lock);
	if (rc == 0)
		b->st.restores++;
	else
		b->st.restore_failures++;
	pthread_mutex_unlock(&b->lock);
	if (rc && rc != -ENOMEM && rc != -ENOSPC)
		log_error("cannot bring '%s' back from the cloud: %s", name,
			  why ? why : strerror(-rc));
	free(entry);
	free(buf);
	if (rc && rc != -ENOSPC && rc != -ENOMEM)
		rc = -EIO;
	return rc;
}
