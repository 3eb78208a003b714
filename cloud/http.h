/*
 * http.h - the HTTP transport seam of the S3 client.
 *
 * The S3 target performs every request through a struct cloud_http, one
 * attempt per call; the retry policy and the errno mapping live above it
 * (cloud/s3.c, cloud/retry.h).  The real transport is libcurl
 * (cloud_http_curl_new); tests install a fake that returns scripted
 * statuses, bodies and network errors.
 *
 * perform() returns a libcurl result code (CURLcode as int): 0 when a
 * response arrived, whatever its status, and then *rs holds the status,
 * the response headers and the body.  It is called from many threads at
 * once.
 */
#ifndef CLOUD_HTTP_H
#define CLOUD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct cloud_http_request {
	const char *method; /* GET, PUT, HEAD, DELETE */
	const char *url; /* scheme://host[:port]/path?query, encoded */
	const char *const *headers; /* "Name: value" lines */
	size_t headers_len;
	const void *body; /* PUT body (may be NULL when body_len is 0) */
	size_t body_len;
	size_t max_response_bytes; /* larger bodies fail the attempt; a
				      Content-Length above it fails before
				      the body is read */
	/* NULL, or polled during the transfer (about once a second at
	 * least): true aborts it with CURLE_ABORTED_BY_CALLBACK. */
	bool (*cancelled)(void *arg);
	void *cancel_arg;
};

struct cloud_http_response {
	long status;
	char *headers; /* raw header block, NUL-terminated, owned */
	size_t headers_len;
	char *body; /* NUL-terminated, owned */
	size_t body_len;
	char error[256]; /* transport detail for the log, when perform fails */
};

struct cloud_http {
	int (*perform)(struct cloud_http *h,
		       const struct cloud_http_request *rq,
		       struct cloud_http_response *rs);
	void (*destroy)(struct cloud_http *h);
};

struct cloud_http_curl_options {
	unsigned connect_timeout_ms;
	unsigned timeout_ms; /* whole transfer; 0: none */
	unsigned low_speed_time_s; /* abort below 1 byte/s for this long */
	const char *ca_file; /* NULL: the system's CA store */
	bool no_proxy; /* ignore http_proxy & co (credential endpoints) */
};

/* The libcurl transport: HTTPS with peer and host verification, no
 * redirects, a pool of reusable handles (connection reuse), no signals.
 * Owned by the caller (destroy with h->destroy(h)). */
int cloud_http_curl_new(const struct cloud_http_curl_options *o,
			struct cloud_http **out);

/* The value of response header name (case-insensitive), trimmed, copied
 * into out (cap bytes with NUL).  -ENOENT when absent, -ERANGE when it
 * does not fit. */
int cloud_http_header(const struct cloud_http_response *rs, const char *name,
		      char *out, size_t cap);

void cloud_http_response_release(struct cloud_http_response *rs);

#endif
