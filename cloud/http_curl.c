/*
 * http_curl.c - the libcurl transport of cloud/http.h.
 *
 * A pool of easy handles guarded by one mutex: a request takes an idle
 * handle (or makes one), resets its options (curl_easy_reset keeps the
 * handle's live connections, DNS and TLS session caches, so connections
 * are reused) and returns it afterwards.  Every request sets: no signals,
 * connect and transfer timeouts, a stall timeout, peer and host
 * certificate verification, http/https only, no redirects (a signed
 * request must not be replayed elsewhere), no "Expect: 100-continue", a
 * response size bound checked against Content-Length before the body
 * arrives (and against the bytes as they arrive), and, when the request
 * has one, a cancellation predicate polled by curl's progress callback.
 *
 * Nothing here logs: the caller logs with the object's name and never
 * the request headers (they carry the signature and session token).
 */
#include "config.h"

#include "cloud/http.h"

#include "util/buf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POOL_MAX 16

struct curl_http {
	struct cloud_http base;
	struct cloud_http_curl_options o;
	char *ca_file;
	pthread_mutex_t lock; /* guards idle, nidle */
	CURL *idle[POOL_MAX];
	size_t nidle;
};

struct xfer {
	const struct cloud_http_request *rq;
	size_t sent;
	struct cbuf body;
	struct cbuf headers;
	bool too_large;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *pool_take(struct curl_http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->nidle)
		c = h->idle[--h->nidle];
	pthread_mutex_unlock(&h->lock);
	if (c) {
		curl_easy_reset(c);
		return c;
	}
	return curl_easy_init();
}

static void pool_give(struct curl_http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	if (h->nidle < POOL_MAX) {
		h->idle[h->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->body.len + len > x->rq->max_response_bytes) {
		x->too_large = true;
		return 0;
	}
	cbuf_add(&x->body, p, len);
	return cbuf_failed(&x->body) ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	/* A new status line starts a new header block (e.g. after a
	 * 100 Continue): keep only the last one. */
	if (len >= 5 && !memcmp(p, "HTTP/", 5))
		x->headers.len = 0;
	if (x->headers.len + len > 64 * 1024)
		return 0;
	cbuf_add(&x->headers, p, len);
	return cbuf_failed(&x->headers) ? 0 : len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t room = size * n, left = x->rq->body_len - x->sent;
	size_t k = left < room ? left : room;

	if (k)
		memcpy(p, (const char *)x->rq->body + x->sent, k);
	x->sent += k;
	return k;
}

static int seek_read(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0 || (size_t)off > x->rq->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const struct xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return x->rq->cancelled(x->rq->cancel_arg) ? 1 : 0;
}

static int set_options(struct curl_http *h, CURL *c,
		       const struct cloud_http_request *rq, struct xfer *x,
		       struct curl_slist *hdrs, char *errbuf)
{
	int bad = 0;

	bad += curl_easy_setopt(c, CURLOPT_URL, rq->url) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
				(long)h->o.connect_timeout_ms) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->o.timeout_ms) !=
	       CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
				(long)h->o.low_speed_time_s) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (h->ca_file)
		bad += curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file) !=
		       CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	if (h->o.no_proxy)
		bad += curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	bad += curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	       CURLE_OK;
#endif
	bad += curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) !=
	       CURLE_OK;
	bad += curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK;
	if (rq->cancelled) {
		bad += curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
					on_progress) != CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_XFERINFODATA, x) != CURLE_OK;
	}
	if (!strcmp(rq->method, "GET") && rq->max_response_bytes)
		bad += curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
					(curl_off_t)rq->max_response_bytes) !=
		       CURLE_OK;
	if (!strcmp(rq->method, "HEAD")) {
		bad += curl_easy_setopt(c, CURLOPT_NOBODY, 1L) != CURLE_OK;
	} else if (!strcmp(rq->method, "PUT")) {
		bad += curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read) !=
		       CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_READDATA, x) != CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_read) !=
		       CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_SEEKDATA, x) != CURLE_OK;
		bad += curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
					(curl_off_t)rq->body_len) != CURLE_OK;
	} else if (strcmp(rq->method, "GET") != 0) {
		bad += curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method) !=
		       CURLE_OK;
	}
	return bad ? CURLE_FAILED_INIT : CURLE_OK;
}

static int curl_perform(struct cloud_http *base,
			const struct cloud_http_request *rq,
			struct cloud_http_response *rs)
{
	struct curl_http *h = (struct curl_http *)base;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	CURL *c;
	int rc;

	memset(rs, 0, sizeof(*rs));
	memset(&x, 0, sizeof(x));
	x.rq = rq;
	errbuf[0] = '\0';
	for (size_t i = 0; i < rq->headers_len; i++) {
		struct curl_slist *n = curl_slist_append(hdrs, rq->headers[i]);

		if (!n) {
			curl_slist_free_all(hdrs);
			return CURLE_OUT_OF_MEMORY;
		}
		hdrs = n;
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	c = pool_take(h);
	if (!c || !hdrs) {
		curl_slist_free_all(hdrs);
		if (c)
			curl_easy_cleanup(c);
		return CURLE_OUT_OF_MEMORY;
	}
	rc = set_options(h, c, rq, &x, hdrs, errbuf);
	if (rc == CURLE_OK)
		rc = (int)curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
		rs->body = cbuf_detach(&x.body, &rs->body_len);
		rs->headers = cbuf_detach(&x.headers, &rs->headers_len);
		if (!rs->body || !rs->headers)
			rc = CURLE_OUT_OF_MEMORY;
	} else if (x.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		rc = CURLE_FILESIZE_EXCEEDED;
		snprintf(rs->error, sizeof(rs->error),
			 "response larger than %zu bytes",
			 rq->max_response_bytes);
	} else {
		snprintf(rs->error, sizeof(rs->error), "curl error %d: %s", rc,
			 errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)rc));
	}
	cbuf_release(&x.body);
	cbuf_release(&x.headers);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	pool_give(h, c);
	if (rc != CURLE_OK)
		cloud_http_response_release(rs);
	return rc;
}

static void curl_destroy(struct cloud_http *base)
{
	struct curl_http *h = (struct curl_http *)base;

	if (!h)
		return;
	for (size_t i = 0; i < h->nidle; i++)
		curl_easy_cleanup(h->idle[i]);
	pthread_mutex_destroy(&h->lock);
	free(h->ca_file);
	free(h);
}

int cloud_http_curl_new(const struct cloud_http_curl_options *o,
			struct cloud_http **out)
{
	struct curl_http *h;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->o = *o;
	if (o->ca_file) {
		h->ca_file = strdup(o->ca_file);
		if (!h->ca_file) {
			free(h);
			return -ENOMEM;
		}
	}
	h->o.ca_file = h->ca_file;
	pthread_mutex_init(&h->lock, NULL);
	h->base.perform = curl_perform;
	h->base.destroy = curl_destroy;
	*out = &h->base;
	return 0;
}

int cloud_http_header(const struct cloud_http_response *rs, const char *name,
		      char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = rs->headers, *end = p ? p + rs->headers_len : NULL;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v, *ve;

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    !strncasecmp(p, name, nl)) {
			v = p + nl + 1;
			ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && isspace((unsigned char)ve[-1]))
				ve--;
			if ((size_t)(ve - v) + 1 > cap)
				return -ERANGE;
			memcpy(out, v, (size_t)(ve - v));
			out[ve - v] = '\0';
			return 0;
		}
		p = eol + 1;
	}
	return -ENOENT;
}

void cloud_http_response_release(struct cloud_http_response *rs)
{
	if (!rs)
		return;
	free(rs->headers);
	free(rs->body);
	rs->headers = rs->body = NULL;
	rs->headers_len = rs->body_len = 0;
}
