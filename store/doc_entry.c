/*
 * doc_entry.c - the meaning of one stored entry (the format is in doc.h),
 * and the check of entries that did not come through doc_patch() or
 * doc_replace(): a cloud archive before it is imported, and every stored
 * document when fsck runs (doc_fsck.c).  A leaf: it uses json/ only, so
 * the fuzz targets of cloud input link it alone.
 *
 * The rules are those of a write through the mount (SPEC 4), by the same
 * code: each entry decodes (doc_entry_decode: a known kind byte and one
 * JSON text, parsed by json_value_parse, so numbers are in range and
 * strings valid UTF-8); a patch's compact text fits max_patch_bytes; a
 * replacement or snapshot fits max_doc_bytes; and the document that the
 * entries materialize (merged in order by json_merge_patch, as
 * materialization does) fits max_doc_bytes.  Intermediate states are not
 * bounded: only what a reader can ever see, the final document, is.
 */
#include "store/doc.h"

#include "json/json.h"
#include "store/store.h"

#include <errno.h>

int doc_entry_decode(const void *buf, size_t len, char *kind, json_t **value)
{
	const char *p = buf;
	json_t *v;
	int rc;

	if (len < 2)
		return -EBADMSG;
	if (p[0] != DOC_PATCH && p[0] != DOC_REPLACE && p[0] != DOC_SNAPSHOT)
		return -EBADMSG;
	*kind = p[0];
	if (!value)
		return 0;
	rc = json_value_parse(p + 1, len - 1, &v);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return -EBADMSG;
	*value = v;
	return 0;
}

int doc_entries_check(const struct doc_options *o,
		      const struct store_import_entry *e, size_t n)
{
	json_t *doc = json_object(), *v;
	char kind;
	int rc = 0;

	if (!doc)
		return -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = doc_entry_decode(e[i].buf, e[i].len, &kind, &v);
		if (rc)
			break;
		if (kind == DOC_PATCH) {
			if (json_value_emit_len(v) - 1 > o->max_patch_bytes)
				rc = -EFBIG;
			else
				rc = json_merge_patch(&doc, v);
			json_decref(v);
		} else if (json_value_emit_len(v) > o->max_doc_bytes) {
			rc = -EFBIG;
			json_decref(v);
		} else {
			json_decref(doc);
			doc = v;
		}
	}
	if (!rc && json_value_emit_len(doc) > o->max_doc_bytes)
		rc = -EFBIG;
	json_decref(doc);
	return rc;
}
