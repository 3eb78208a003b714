/*
 * docmeta.h - the metadata of a readable document object, as bytes: the
 * dir: target's sidecar file and the values of the s3 x-amz-meta-*
 * headers (layouts in docmeta.c and docs/cloud.md).
 *
 * Decoders are pure functions of their input: every length is checked
 * against what remains, anything malformed is -EBADMSG, nothing outside
 * the input is read.  They check form only (a well-formed sidecar may
 * still carry an absurd mode or seq): cloud/verify.h judges meaning.
 */
#ifndef CLOUD_DOCMETA_H
#define CLOUD_DOCMETA_H

#include <stddef.h>
#include <stdint.h>

#include "cloud/target.h"

#define DOCMETA_MAGIC "CVDM"
#define DOCMETA_VERSION 1
#define DOCMETA_FIXED 92
/* Largest sidecar: fixed part, two names, CRC. */
#define DOCMETA_SIDECAR_MAX (DOCMETA_FIXED + 2 * CLOUD_NAME_MAX + 4)
/* A sidecar's file name is this prefix and the object's segment: a
 * hidden file (`ls` shows the documents only), and a reserved name
 * (CLOUD_RESERVED_PREFIX), so never a document's segment. */
#define DOCMETA_SIDECAR_PREFIX ".caravan-meta."

/* Encode the sidecar of a body of body_len bytes stored as (space, key)
 * (valid names) into out (DOCMETA_SIDECAR_MAX bytes); returns its length.
 * m->sha256 must be 64 hex digits (-EINVAL otherwise). */
int docmeta_sidecar_encode(uint8_t out[DOCMETA_SIDECAR_MAX],
			   const struct cloud_doc_meta *m, uint64_t body_len,
			   const char *space, const char *key, size_t *len);
/* Decode a sidecar of exactly len bytes: *m (legacy false), *body_len and
 * the names (CLOUD_NAME_MAX + 1 bytes each).  -EBADMSG for anything but
 * what docmeta_sidecar_encode writes. */
int docmeta_sidecar_decode(const void *buf, size_t len,
			   struct cloud_doc_meta *m, uint64_t *body_len,
			   char *space, char *key);

/* Header values.  A decimal number: 1 to 20 digits, no sign, no space,
 * no leading zero (but "0"); -EBADMSG otherwise or past max. */
int docmeta_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* A time "[-]SECONDS.NNNNNNNNN" (nine fraction digits) to nanoseconds
 * since the epoch; -EBADMSG when malformed or outside int64_t. */
int docmeta_parse_time(const char *s, int64_t *ns);
void docmeta_format_time(int64_t ns, char out[32]);
/* 64 lower-case hex digits, copied to out. */
int docmeta_parse_sha256(const char *s, char out[65]);

/* The s3 metadata of a document, parsed from its headers: get(arg, name,
 * out, cap) copies header name's value (0, or -ENOENT when absent).
 * Without x-amz-meta-sha256 the object is a legacy archive: only
 * x-amz-meta-seq is read and m->legacy is set.  -EBADMSG for a header
 * that is missing or malformed. */
typedef int (*docmeta_header_fn)(void *arg, const char *name, char *out,
				 size_t cap);
int docmeta_from_headers(docmeta_header_fn get, void *arg,
			 struct cloud_doc_meta *m);

#endif
