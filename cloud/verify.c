/*
 * verify.c - the gate between a cloud archive and the store (verify.h).
 *
 * Order of the checks, cheapest first: names and sequence numbers (the
 * archive's against the object's metadata and against STORE_SEQ_MAX, so
 * no later arithmetic on them can overflow), then the meaning of every
 * entry and the document they materialize (doc_entries_check, the code
 * the mount's writes go through).  Nothing here touches the store: a
 * refused archive is never imported, so it leaves no trace.
 */
#include "config.h"

#include "cloud/verify.h"

#include "json/json.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

uint32_t cloud_mode_sanitize(uint32_t mode)
{
	if (mode & ~(uint32_t)07777)
		return 0600;
	return mode & 0777;
}

static int entries_check(const struct archive *a, const struct doc_options *o,
			 const char **why)
{
	struct store_import_entry *e = calloc(a->n ? a->n : 1, sizeof(*e));
	int rc;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < a->n; i++) {
		e[i].buf = a->entries[i].buf;
		e[i].len = a->entries[i].len;
	}
	rc = doc_entries_check(o, e, a->n);
	free(e);
	if (rc == -EBADMSG)
		*why = "an entry is not a valid document change";
	else if (rc == -EFBIG)
		*why = "the document is larger than max_doc or max_patch";
	else if (rc)
		*why = "out of memory";
	return rc;
}

int cloud_archive_verify(const struct archive *a, const char *space,
			 const char *key, uint64_t meta_seq,
			 const struct doc_options *o, struct store_meta *m,
			 const char **why)
{
	int rc;

	*why = NULL;
	if (strcmp(a->space, space) || strcmp(a->key, key)) {
		*why = "it names another document";
		return -EBADMSG;
	}
	if (a->seq != meta_seq) {
		*why = "its sequence number differs from the object's metadata";
		return -EBADMSG;
	}
	if (a->seq > STORE_SEQ_MAX || a->n > a->seq) {
		*why = "its sequence number is out of range";
		return -EBADMSG;
	}
	rc = entries_check(a, o, why);
	if (rc)
		return rc;
	memset(m, 0, sizeof(*m));
	m->mode = cloud_mode_sanitize(a->meta.mode);
	m->uid = a->meta.uid;
	m->gid = a->meta.gid;
	m->mtime_ns = a->meta.mtime_ns;
	m->ctime_ns = a->meta.ctime_ns;
	return 0;
}

int cloud_doc_verify(const void *body, size_t len,
		     const struct cloud_doc_meta *meta, const char *sum,
		     const struct doc_options *o, struct store_meta *m,
		     void **entry, size_t *entry_len, const char **why)
{
	struct store_import_entry e;
	uint32_t type = meta->mode & ~(uint32_t)07777;
	json_t *v = NULL;
	char *text = NULL;
	size_t tlen = 0;
	int rc;

	*why = NULL;
	if (meta->legacy || strcmp(meta->sha256, sum)) {
		*why = "its body does not match the checksum in its metadata";
		return -EBADMSG;
	}
	if (meta->seq < 1 || meta->seq > STORE_SEQ_MAX) {
		*why = "its sequence number is out of range";
		return -EBADMSG;
	}
	if (type != 0 && type != S_IFREG) {
		*why = "its mode is not a regular file's";
		return -EBADMSG;
	}
	if (meta->uid == UINT32_MAX || meta->gid == UINT32_MAX) {
		*why = "its owner or group is not a valid id";
		return -EBADMSG;
	}
	if (len > o->max_doc_bytes) {
		*why = "the document is larger than max_doc";
		return -EFBIG;
	}
	rc = json_value_parse(body, len, &v);
	if (rc) {
		*why = rc == -ENOMEM ? "out of memory"
				     : "its body is not one JSON text";
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	rc = json_value_emit(v, &text, &tlen);
	json_decref(v);
	if (rc) {
		*why = "out of memory";
		return rc;
	}
	/* 'S' in place of the '\n' at the end */
	memmove(text + 1, text, tlen - 1);
	text[0] = DOC_SNAPSHOT;
	e.buf = text;
	e.len = tlen;
	rc = doc_entries_check(o, &e, 1);
	if (rc) {
		free(text);
		if (rc == -EFBIG)
			*why = "the document is larger than max_doc";
		else if (rc == -ENOMEM)
			*why = "out of memory";
		else
			*why = "its body is not a valid document";
		return rc;
	}
	memset(m, 0, sizeof(*m));
	m->mode = cloud_mode_sanitize(meta->mode & 07777);
	m->uid = meta->uid;
	m->gid = meta->gid;
	m->mtime_ns = meta->mtime_ns;
	m->ctime_ns = meta->ctime_ns;
	*entry = text;
	*entry_len = tlen;
	return 0;
}

uint64_t cloud_target_identity(const char *url)
{
	size_t n = strlen(url);
	uint64_t h = 0xcbf29ce484222325ull;

	while (n > 1 && url[n - 1] == '/')
		n--;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)url[i];
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}
