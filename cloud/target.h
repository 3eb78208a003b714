/*
 * target.h - where the cloud copies are kept: an S3 bucket or a
 * directory.
 *
 * A target stores objects named (space, key): documents, whose body is
 * the document's JSON with its metadata beside it (put_doc/get_doc
 * below; docs/cloud.md byte by byte), and the store's own opaque objects
 * under reserved names, each with a sequence number as metadata
 * (put/get).  Two kinds, chosen by URL:
 *
 *   s3://BUCKET/PREFIX   object PREFIX/<space>/<key> in an S3 (or
 *                        S3-compatible) bucket, metadata in x-amz-meta-*
 *   dir:/PATH            file PATH/<space>/<key>: a document's JSON with
 *                        a sidecar beside it, or an opaque object with a
 *                        small header (formats in cloud/dir.c, docmeta.c)
 *
 * In both, <space> and <key> stand for the names as segments (see
 * cloud_name_segment): the names percent-encoded (every byte but A-Z a-z
 * 0-9 '-' '.' '_' '~' becomes %XX, upper-case hex), so object keys and
 * file names hold only those characters and '%' whatever bytes the names
 * have (any but '/' and NUL).  An encoding longer than CLOUD_SEG_MAX bytes
 * (a 255-byte name can encode to 765) is hashed, so every segment fits a
 * file name and every object key stays within S3's 1024 bytes; the real
 * names of a hashed object then travel with it (dir: its header or
 * sidecar; s3:
 * x-amz-meta-space and x-amz-meta-key, percent-encoded) and listings read
 * them from there.
 *
 * Errors are negative errnos (the mapping from HTTP and libcurl is in
 * cloud/retry.h): -ENOENT no such object, -EACCES refused credentials,
 * -EIO a failure that outlived its retries, -EBADMSG a malformed object or
 * response, -EINVAL a bad name, -ECANCELED after cloud_target_interrupt(),
 * -EFBIG an object larger than max_object_bytes (refused from its size,
 * before its body is read), -EKEYREJECTED a server certificate that did
 * not verify (never retried), -E2BIG a listing past its bounds, -ELOOP
 * (dir:) a symlink or special file where a space directory or an object
 * should be.
 * Every failure other than -ENOENT is logged once with the object's URL
 * and the HTTP status or errno; credentials never are.
 *
 * Threads: every function may be called from any number of threads at
 * once on one target.
 */
#ifndef CLOUD_TARGET_H
#define CLOUD_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/creds.h"
#include "cloud/http.h"
#include "cloud/retry.h"
#include "util/name.h"

#define CLOUD_NAME_MAX NAME_MAX_BYTES
/* Longest encoded name, with its NUL. */
#define CLOUD_ENC_MAX (3 * CLOUD_NAME_MAX + 1)
/* Longest segment (below file name limits: 255 bytes, and s3rver's 236). */
#define CLOUD_SEG_MAX 200

struct cloud_target;

struct cloud_options {
	const char *s3_endpoint; /* NULL: https://s3.<region>.amazonaws.com */
	const char *s3_region; /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION,
				      else us-east-1 */
	bool s3_path_style; /* BUCKET in the path, not the host name */
	const char *aws_profile; /* NULL: $AWS_PROFILE, else "default" */
	const struct cloud_creds *creds; /* NULL: cloud_creds_load(); copied */
	const char *ca_file; /* NULL: the system's CA store */
	uint32_t connect_timeout_ms;
	uint32_t timeout_ms; /* one whole request; 0: none */
	uint32_t low_speed_time_s; /* a transfer stalled this long fails */
	struct cloud_retry_policy retry;
	uint32_t list_page_keys; /* names per list page */
	/* Bounds of one listing (cloud_target_list_all): more pages, names
	 * or bytes of names than these is -E2BIG. */
	uint32_t list_max_pages;
	uint64_t list_max_names;
	uint64_t list_max_bytes;
	size_t max_object_bytes; /* larger objects: -EFBIG */
	/* Seams for tests.  http: NULL for libcurl, else borrowed (must
	 * outlive the target).  sleep_ms: NULL for a real sleep that
	 * cloud_target_interrupt() cuts short.  jitter_seed: 0 for the
	 * clock. */
	struct cloud_http *http;
	void (*sleep_ms)(void *arg, uint32_t ms);
	void *sleep_arg;
	uint64_t jitter_seed;
};

/* Defaults: 10 s connect, 300 s per request, 30 s stall, the retry
 * defaults of retry.h, 1000 names per page, listings of at most 2000
 * pages, 1,000,000 names and 64 MiB of names, 1 GiB objects. */
void cloud_options_default(struct cloud_options *o);

/* Open the target named by url ("s3://BUCKET[/PREFIX]" or "dir:PATH").
 * A dir: target creates PATH when missing.  An s3 target needs
 * credentials (-ENOKEY otherwise) and does not contact the server here.
 * On success *out is owned by the caller (cloud_target_free).  -EINVAL
 * for a malformed URL or option, with a log line. */
int cloud_target_open(const char *url, const struct cloud_options *o,
		      struct cloud_target **out);
/* Accepts NULL.  No call may be in progress. */
void cloud_target_free(struct cloud_target *t);

/* The URL the target was opened with (no secrets), for messages. */
const char *cloud_target_url(const struct cloud_target *t);

/* Store buf as (space, key) with sequence number seq, replacing any
 * object there.  Atomic: a reader sees the old object or the new one. */
int cloud_target_put(struct cloud_target *t, const char *space, const char *key,
		     const void *buf, size_t len, uint64_t seq);
/* The same, only when no object is there: -EEXIST (nothing written) when
 * one is.  dir: decides atomically (a link); s3 sends If-None-Match: *,
 * which S3 decides atomically (HTTP 412, or 409 for a concurrent
 * conditional write); a server that ignores the header replaces. */
int cloud_target_put_new(struct cloud_target *t, const char *space,
			 const char *key, const void *buf, size_t len,
			 uint64_t seq);

/* Fetch (space, key): *buf (owned by the caller, free with free(); also
 * NUL-terminated for convenience), *len and *seq.  -ENOENT when absent
 * (not logged). */
int cloud_target_get(struct cloud_target *t, const char *space, const char *key,
		     void **buf, size_t *len, uint64_t *seq);

struct cloud_object_info {
	uint64_t seq;
	uint64_t size_bytes;
};
/* Metadata of (space, key), an opaque object or a document's (its seq
 * and body size); -ENOENT when absent (not logged). */
int cloud_target_head(struct cloud_target *t, const char *space,
		      const char *key, struct cloud_object_info *info);

/* ---- documents: readable objects ----
 *
 * A document's object holds its current materialized JSON (the bytes
 * `cat` prints through the mount) and beside it this metadata: s3 as
 * x-amz-meta-* headers, dir: in a sidecar file (docs/cloud.md has both
 * byte by byte).  The put/get/head above are for the store's own opaque
 * objects (reserved names: the marker, the change feed); these are for
 * documents.  A target written by an older build holds archives
 * (cloud/archive.h) instead: get_doc returns them with legacy set. */
struct cloud_doc_meta {
	uint64_t seq; /* the document's sequence number */
	uint32_t mode; /* as st_mode: S_IFREG | permission bits */
	uint32_t uid, gid;
	int64_t mtime_ns, ctime_ns;
	char sha256[65]; /* lower-case hex SHA-256 of the body */
	/* get_doc, head_doc: the object is a legacy archive (only seq is
	 * set, sha256 is ""); the body is the archive. */
	bool legacy;
};

/* Store the document body (len bytes of JSON) with meta (sha256 must be
 * the body's: cloud_doc_checksum) as (space, key), replacing any object
 * there.  A reader sees the old object or the new one, whole (dir: a
 * torn pair of body and sidecar is detected by the checksum). */
int cloud_target_put_doc(struct cloud_target *t, const char *space,
			 const char *key, const void *body, size_t len,
			 const struct cloud_doc_meta *meta);
/* Fetch the document (space, key): *body (owned by the caller, free();
 * NUL-terminated), *len and *meta as stored, parsed but not judged
 * (cloud/verify.h judges them; dir: has compared the checksum, s3 has
 * not).  -ENOENT when absent (not logged), -EBADMSG (logged) for
 * metadata that does not parse or a dir: pair that stays torn after a
 * second read. */
int cloud_target_get_doc(struct cloud_target *t, const char *space,
			 const char *key, void **body, size_t *len,
			 struct cloud_doc_meta *meta);
/* The metadata of (space, key) without its body; *size the body's
 * length. */
int cloud_target_head_doc(struct cloud_target *t, const char *space,
			  const char *key, struct cloud_doc_meta *meta,
			  uint64_t *size);
/* The hex SHA-256 of buf. */
void cloud_doc_checksum(const void *buf, size_t len, char out[65]);

/* Remove (space, key).  Removing an absent object succeeds. */
int cloud_target_delete(struct cloud_target *t, const char *space,
			const char *key);

/* One name per call, decoded; valid during the call only.  A non-zero
 * return stops the listing and is returned. */
typedef int (*cloud_name_fn)(void *arg, const char *name);

/* One page of names in encoded-name order: the spaces (space NULL) or
 * the keys of space.  token is NULL for the first page, else the *next
 * of the previous page.  *next receives the token of the next page
 * (owned by the caller, free with free()) or NULL after the last page.
 * Names that are not encodings of valid names are skipped. */
int cloud_target_list(struct cloud_target *t, const char *space,
		      const char *token, char **next, cloud_name_fn fn,
		      void *arg);
/* Every page, within the bounds of the options (-E2BIG past them, with a
 * log line).  A continuation token seen before in the same listing is
 * -EBADMSG (logged): a server that loops never keeps us.  Interruptible
 * between pages and during each request (-ECANCELED). */
int cloud_target_list_all(struct cloud_target *t, const char *space,
			  cloud_name_fn fn, void *arg);

/* Make sleeping, listings in progress and every later call give up with
 * -ECANCELED (shutdown); a transfer in progress is cut within about a
 * second. */
void cloud_target_interrupt(struct cloud_target *t);
/* The same for listings, downloads and HEADs only: one in progress is
 * cut (within about a second) and later ones are -ECANCELED, while uploads
 * and deletes go on (so that a stop can still drain uploads).  Safe to
 * call from any thread. */
void cloud_target_interrupt_lists(struct cloud_target *t);

/* ---- names ---- */

/* Names starting with this are the store's own objects in a target (the
 * store marker, see cloud/backup.c), never a space or document: listings
 * and lookups through the catalog never show them. */
#define CLOUD_RESERVED_PREFIX ".caravan"
bool cloud_name_reserved(const char *name);

/* Does name follow the name rule (util/name.h)?  Reserved names are
 * valid here: the catalog hides the cloud's, the mount hides its own from
 * listings and lookups, and the store it imports into refuses them. */
bool cloud_name_valid(const char *name);
/* Percent-encode name into out (CLOUD_ENC_MAX bytes).  -EINVAL for an
 * invalid name. */
int cloud_name_encode(const char *name, char out[CLOUD_ENC_MAX]);
/* Decode exactly the canonical encoding of a valid name (what
 * cloud_name_encode produces); -EINVAL for anything else. */
int cloud_name_decode(const char *enc, size_t len,
		      char out[CLOUD_NAME_MAX + 1]);
/* The segment of a name: its encoding when that is at most CLOUD_SEG_MAX
 * bytes, else the encoding's first 128 bytes (never splitting an escape),
 * '#', and the hex SHA-256 of the whole encoding.  Encodings never hold
 * '#', so a hashed segment is one that does.  -EINVAL for a bad name. */
int cloud_name_segment(const char *name, char out[CLOUD_SEG_MAX + 1]);
bool cloud_segment_hashed(const char *seg, size_t len);

#endif
