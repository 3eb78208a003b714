/*
 * retry.h - the retry policy and the errno mapping of the cloud edge.
 *
 * Backoff is exponential with full jitter: after the failed attempt
 * number k (0 for the first), wait a uniformly random time in
 * [0, min(cap_ms, base_ms * 2^k)].  max_attempts counts every attempt,
 * the first included; CLOUD_RETRY_FOREVER (0) never gives up (the
 * uploader's mode: a document is never dropped).
 *
 * Mapping, at this edge only (everything above sees negative errnos):
 *
 *   outcome                                   errno          retried
 *   2xx                                       0              -
 *   404 (NoSuchKey)                           -ENOENT        no
 *   404 NoSuchBucket                          -ENXIO         no
 *   401, 403                                  -EACCES        no
 *   400 RequestTimeout, BadDigest,
 *       XAmzContentSHA256Mismatch             -EIO           yes
 *   400, 411, 416, other 4xx codes we send    -EINVAL        no
 *   405, 501                                  -ENOTSUP       no
 *   409                                       -EBUSY         no
 *   413 (EntityTooLarge)                      -EFBIG         no
 *   408, 429, 500, 502, 503, 504, other 5xx,
 *     and the codes SlowDown, InternalError,
 *     ServiceUnavailable (any status)         -EIO           yes
 *   3xx (wrong region or endpoint)            -EIO           no
 *   network: cannot resolve / connect, timeout,
 *     send / receive error, empty reply,
 *     partial transfer, TLS handshake, HTTP/2  -EIO           yes
 *   certificate not verified (untrusted,
 *     wrong host, bad CA file, pinned key)    -EKEYREJECTED  no
 *   out of memory                             -ENOMEM        no
 *   response larger than allowed              -EFBIG         no
 *   malformed URL, unsupported protocol       -EINVAL        no
 *
 * A retried outcome that runs out of attempts is -EIO.
 */
#ifndef CLOUD_RETRY_H
#define CLOUD_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define CLOUD_RETRY_FOREVER 0

struct cloud_retry_policy {
	uint32_t base_ms; /* first delay bound */
	uint32_t cap_ms; /* no delay bound above this */
	uint32_t max_attempts; /* CLOUD_RETRY_FOREVER: no limit */
};

/* Defaults: 100 ms base, 20 s cap, 6 attempts. */
void cloud_retry_policy_default(struct cloud_retry_policy *p);

/* The delay bound after failed attempt number attempt (0-based). */
uint32_t cloud_backoff_bound_ms(const struct cloud_retry_policy *p,
				uint32_t attempt);
/* A full-jitter delay: uniform in [0, bound].  *rng is the state of a
 * xorshift64* generator (any non-zero seed). */
uint32_t cloud_backoff_ms(const struct cloud_retry_policy *p, uint32_t attempt,
			  uint64_t *rng);
/* Whether another attempt is allowed after attempts_done attempts. */
bool cloud_retry_more(const struct cloud_retry_policy *p,
		      uint32_t attempts_done);

/* errno of an HTTP status (with the S3 error code from the body, "" if
 * none); *retry tells whether the request should be tried again. */
int cloud_http_errno(long status, const char *s3_code, bool *retry);
/* errno of a libcurl result code (CURLcode as int; 0 is success). */
int cloud_curl_errno(int curl_code, bool *retry);

#endif
