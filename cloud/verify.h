/*
 * verify.h - what the store may take from the cloud.
 *
 * Everything that comes from a target is hostile until checked (SPEC 6).
 * cloud_archive_verify() is the one gate between a decoded archive
 * (cloud/archive.h: bytes well-formed and sealed) and store_import(): it
 * checks what the archive means, by the rules a write through the mount
 * obeys, and turns its metadata into what the store will keep.
 *
 * The target's identity (cloud_target_identity) names the target a store
 * backs up to, so that upload state belongs to one target
 * (store_backup_target).
 */
#ifndef CLOUD_VERIFY_H
#define CLOUD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "cloud/archive.h"
#include "cloud/target.h"
#include "store/doc.h"
#include "store/store.h"

/* Check archive a (borrowed), fetched as (space, key) with sequence
 * number meta_seq in the object's metadata, against the limits in o
 * (max_doc_bytes, max_patch_bytes):
 *   - it names (space, key) and carries meta_seq;
 *   - its seq is at most STORE_SEQ_MAX and at least its entry count;
 *   - its entries pass doc_entries_check() (kind byte, JSON, numbers,
 *     UTF-8, sizes) and the whole document materializes.
 * On success *m receives the metadata to import (cloud_mode_sanitize
 * applied; uid, gid and times as archived) and 0 is returned; otherwise
 * -EBADMSG (or -EFBIG, -ENOMEM) with *why (static text) saying what is
 * wrong, and *m is untouched. */
int cloud_archive_verify(const struct archive *a, const char *space,
			 const char *key, uint64_t meta_seq,
			 const struct doc_options *o, struct store_meta *m,
			 const char **why);

/* Check a readable document object fetched as (space, key): body (len
 * bytes, borrowed), its metadata meta as the target parsed it, and sum,
 * the body's SHA-256 computed by the caller:
 *   - sum equals meta->sha256 (a body altered or torn is refused);
 *   - seq is 1..STORE_SEQ_MAX;
 *   - mode is a regular file's (S_IFREG, or no type bits) and its
 *     permission bits are kept by cloud_mode_sanitize (set-uid, set-gid,
 *     sticky dropped); any other file type (a device, a directory) is
 *     refused;
 *   - uid and gid are not (uid_t)-1;
 *   - the body is one JSON text (json_value_parse: numbers, UTF-8) whose
 *     compact form passes doc_entries_check() as a snapshot entry
 *     (max_doc_bytes).
 * On success *entry (free() it) and *entry_len receive the one snapshot
 * entry ('S' and the compact JSON) to import at meta->seq and *m the
 * metadata to import; otherwise -EBADMSG (or -EFBIG, -ENOMEM) with *why
 * (static text) and nothing is allocated. */
struct cloud_doc_meta;
int cloud_doc_verify(const void *body, size_t len,
		     const struct cloud_doc_meta *meta, const char *sum,
		     const struct doc_options *o, struct store_meta *m,
		     void **entry, size_t *entry_len, const char **why);

/* The mode a document restored from an archive gets: the permission bits
 * 0777 of the archived mode (set-uid, set-gid and sticky are dropped);
 * an archived mode with bits above 07777 is no mode at all and gives
 * 0600.  A mode of 0 stays 0 (a user's chmod 000 is kept). */
uint32_t cloud_mode_sanitize(uint32_t mode);

/* A non-zero 64-bit identity of the target named by url (its canonical
 * form: trailing '/' ignored).  Two URLs naming different targets differ
 * (up to hash collisions, FNV-1a). */
uint64_t cloud_target_identity(const char *url);

#endif
