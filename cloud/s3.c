/*
 * s3.c - the s3:// target: objects in an S3 or S3-compatible bucket.
 *
 * Requests: PUT, GET, HEAD, DELETE of PREFIX/<space>/<key> and
 * ListObjectsV2 (GET ?list-type=2&prefix=...&delimiter=/) with
 * continuation tokens.  Every request is signed with SigV4 (sigv4.c,
 * header mode, signed payload: x-amz-content-sha256 is the body's
 * SHA-256, so S3 refuses a body altered in transit; PUT also carries
 * Content-MD5).  The sequence number travels as the object metadata
 * x-amz-meta-seq; a document object (put_doc) is sent with Content-Type
 * application/json and its metadata as x-amz-meta-mode, -uid, -gid,
 * -mtime, -ctime and -sha256 (values: cloud/docmeta.c).
 *
 * Addressing: path style https://ENDPOINT/BUCKET/KEY or virtual-hosted
 * https://BUCKET.ENDPOINT/KEY.  The endpoint defaults to
 * https://s3.<region>.amazonaws.com.  The encoded path and query of the
 * URL are the signer's own, so what is sent is exactly what was signed.
 *
 * Retries (s3_call): each attempt is re-signed (fresh x-amz-date) and
 * performed through the transport seam; its outcome is mapped to an
 * errno by retry.c.  A retryable failure is logged as a warning and
 * retried after a full-jitter backoff until the policy's attempts run
 * out (then -EIO, logged as an error); any other failure is logged once
 * and returned.  -ENOENT of GET and HEAD is an answer, not a failure:
 * not logged.  Logs name the object as s3://BUCKET/KEY and give the HTTP
 * status and S3 error code, or the transport error; never a header.
 */
#include "config.h"

#include "cloud/docmeta.h"
#include "cloud/s3_xml.h"
#include "cloud/sigv4.h"
#include "cloud/target_internal.h"

#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HEADERS 24
#define MAX_META 10
#define CODE_MAX 64
/* A list page of 1000 keys of 1024 bytes is about 1.5 MB of XML. */
#define LIST_PAGE_MAX_BYTES ((size_t)8 << 20)

struct s3_target {
	struct cloud_target base;
	char *base_url; /* scheme://host[:port] */
	char *host; /* Host header: host[:port] */
	char *bucket;
	char *prefix; /* "" or "a/b/" (with the trailing '/') */
	char *region;
	bool path_style;
	struct cloud_creds_provider *creds; /* a snapshot signs each request */
	struct cloud_http *http;
	bool own_http;
	uint32_t page_keys;
	size_t max_object_bytes;
};

struct s3_req {
	const char *op; /* for messages: "put", "get", ... */
	const char *method;
	const char *object; /* object key, "" for the bucket */
	const char *what; /* for messages, when not the object */
	const struct sigv4_kv *query;
	size_t query_len;
	const void *body;
	size_t body_len;
	const char *content_md5;
	const char *content_type;
	/* x-amz-meta-* headers (lower-case names): the seq, a document's
	 * metadata, the encoded names of a hashed segment; and
	 * if-none-match for a put_new.  Signed, as every header we send. */
	struct sigv4_kv meta[MAX_META];
	size_t meta_len;
	bool quiet_404;
	bool quiet_exists; /* put_new: an object there is an answer */
	/* A listing, a download or a HEAD: cut by
	 * cloud_target_interrupt_lists() too (a stop never waits for one). */
	bool cut_at_stop;
	size_t max_bytes; /* response bound; 0: max_object_bytes */
};

static struct s3_target *s3_of(struct cloud_target *t)
{
	return (struct s3_target *)t;
}

/* ---- one request, with retries ---- */

static bool call_cancelled(void *arg)
{
	return cloud_target_interrupted(arg);
}

static bool list_cancelled(void *arg)
{
	return cloud_target_lists_interrupted(arg);
}

static int sign(struct s3_target *s, const struct s3_req *rq,
		const char *payload_hash, struct sigv4_result *res)
{
	struct sigv4_kv h[MAX_META + 3];
	struct sigv4_request r;
	struct sigv4_params p;
	struct cloud_creds snap;
	struct cbuf path = CBUF_INIT;
	size_t nh = 0;
	int rc;

	h[nh].name = "host";
	h[nh++].value = s->host;
	if (rq->content_md5) {
		h[nh].name = "content-md5";
		h[nh++].value = rq->content_md5;
	}
	if (rq->content_type) {
		h[nh].name = "content-type";
		h[nh++].value = rq->content_type;
	}
	for (size_t i = 0; i < rq->meta_len; i++)
		h[nh++] = rq->meta[i];
	if (s->path_style)
		cbuf_addf(&path, "/%s%s%s", s->bucket, rq->object[0] ? "/" : "",
			  rq->object);
	else
		cbuf_addf(&path, "/%s", rq->object);
	if (cbuf_failed(&path))
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	r.method = rq->method;
	r.path = path.p;
	r.query = rq->query;
	r.query_len = rq->query_len;
	r.headers = h;
	r.headers_len = nh;
	r.payload_hash = payload_hash;
	rc = cloud_creds_provider_get(s->creds, &snap);
	if (rc)
		goto out_path;
	memset(&p, 0, sizeof(p));
	p.access_key = snap.access_key;
	p.secret_key = snap.secret_key;
	p.session_token = snap.session_token;
	p.region = s->region;
	p.service = "s3";
	p.when = (time_t)(clock_real_ns() / 1000000000);
	p.mode = SIGV4_HEADER;
	p.flags = SIGV4_CONTENT_SHA256;
	rc = sigv4_sign(&r, &p, res);
	cloud_creds_release(&snap);
out_path:
	cbuf_release(&path);
	return rc;
}

/* Build the header lines of a signed request into lines[]/store. */
static int header_lines(struct s3_target *s, const struct s3_req *rq,
			const struct sigv4_result *res, struct cbuf *store,
			const char *lines[MAX_HEADERS], size_t *n)
{
	size_t offs[MAX_HEADERS];
	size_t k = 0;

	offs[k++] = store->len;
	cbuf_addf(store, "Host: %s", s->host);
	cbuf_addc(store, '\0');
	for (size_t i = 0; i < res->added_len; i++) {
		offs[k++] = store->len;
		cbuf_addf(store, "%s: %s", res->added[i].name,
			  res->added[i].value);
		cbuf_addc(store, '\0');
	}
	if (rq->content_md5) {
		offs[k++] = store->len;
		cbuf_addf(store, "Content-MD5: %s", rq->content_md5);
		cbuf_addc(store, '\0');
	}
	if (rq->content_type) {
		offs[k++] = store->len;
		cbuf_addf(store, "Content-Type: %s", rq->content_type);
		cbuf_addc(store, '\0');
	}
	for (size_t i = 0; i < rq->meta_len; i++) {
		offs[k++] = store->len;
		cbuf_addf(store, "%s: %s", rq->meta[i].name, rq->meta[i].value);
		cbuf_addc(store, '\0');
	}
	offs[k++] = store->len;
	cbuf_addf(store, "Authorization: %s", res->authorization);
	cbuf_addc(store, '\0');
	if (cbuf_failed(store))
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		lines[i] = store->p + offs[i];
	*n = k;
	return 0;
}

/* One attempt: sign, send.  Returns the CURLcode; *rs on CURLE_OK. */
static int attempt_once(struct s3_target *s, const struct s3_req *rq,
			const char *payload_hash,
			struct cloud_http_response *rs)
{
	struct sigv4_result res;
	struct cloud_http_request hr;
	struct cbuf url = CBUF_INIT, store = CBUF_INIT;
	const char *lines[MAX_HEADERS];
	size_t n = 0;
	int rc;

	memset(rs, 0, sizeof(*rs));
	rc = sign(s, rq, payload_hash, &res);
	if (rc) {
		snprintf(rs->error, sizeof(rs->error), "cannot sign: %s",
			 strerror(-rc));
		return rc == -ENOMEM ? CURLE_OUT_OF_MEMORY
				     : CURLE_URL_MALFORMAT;
	}
	cbuf_addf(&url, "%s%s%s%s", s->base_url, res.path,
		  res.query[0] ? "?" : "", res.query);
	rc = header_lines(s, rq, &res, &store, lines, &n);
	if (rc || cbuf_failed(&url)) {
		rc = CURLE_OUT_OF_MEMORY;
		goto out_release;
	}
	memset(&hr, 0, sizeof(hr));
	hr.method = rq->method;
	hr.url = url.p;
	hr.headers = lines;
	hr.headers_len = n;
	hr.body = rq->body;
	hr.body_len = rq->body_len;
	hr.max_response_bytes = rq->max_bytes ? rq->max_bytes
					      : s->max_object_bytes;
	hr.cancelled = rq->cut_at_stop ? list_cancelled : call_cancelled;
	hr.cancel_arg = &s->base;
	rc = s->http->perform(s->http, &hr, rs);
out_release:
	/* The header store holds the signature and maybe a token. */
	if (store.p)
		memset(store.p, 0, store.len);
	cbuf_release(&store);
	cbuf_release(&url);
	sigv4_result_release(&res);
	return rc;
}

/* Map an attempt's outcome; fills detail for the log. */
static int outcome(int curl_rc, const struct cloud_http_response *rs,
		   bool *retry, char *detail, size_t cap)
{
	char code[CODE_MAX] = "";
	int err;

	if (curl_rc != CURLE_OK) {
		err = cloud_curl_errno(curl_rc, retry);
		snprintf(detail, cap, "%s",
			 rs->error[0] ? rs->error
				      : curl_easy_strerror((CURLcode)curl_rc));
		return err;
	}
	if (rs->status >= 300 && rs->body_len)
		s3_xml_parse_error(rs->body, rs->body_len, code, sizeof(code));
	err = cloud_http_errno(rs->status, code, retry);
	snprintf(detail, cap, "http %ld%s%s", rs->status, code[0] ? " " : "",
		 code);
	return err;
}

static int s3_call(struct s3_target *s, const struct s3_req *rq,
		   struct cloud_http_response *rs)
{
	struct cloud_target *t = &s->base;
	const char *name = rq->what ? rq->what : rq->object;
	char hash[65], detail[300];
	uint32_t attempt;

	sigv4_sha256_hex(rq->body ? rq->body : "", rq->body_len, hash);
	for (attempt = 0;; attempt++) {
		bool retry = false;
		uint32_t ms;
		int rc, err;

		if (rq->cut_at_stop ? cloud_target_lists_interrupted(t)
				    : cloud_target_interrupted(t)) {
			log_error("cannot %s 's3://%s/%s': interrupted", rq->op,
				  s->bucket, name);
			return -ECANCELED;
		}
		rc = attempt_once(s, rq, hash, rs);
		err = outcome(rc, rs, &retry, detail, sizeof(detail));
		if (!err)
			return 0;
		cloud_http_response_release(rs);
		if (err == -ENOENT && rq->quiet_404)
			return err;
		if ((err == -EEXIST || err == -EBUSY) && rq->quiet_exists)
			return err;
		if (!retry) {
			log_error("cannot %s 's3://%s/%s': %s", rq->op,
				  s->bucket, name, detail);
			return err;
		}
		if (!cloud_retry_more(&t->retry, attempt + 1)) {
			log_error("cannot %s 's3://%s/%s': %s, giving up after "
				  "%" PRIu32 " attempts",
				  rq->op, s->bucket, name, detail, attempt + 1);
			return -EIO;
		}
		ms = cloud_target_backoff_ms(t, attempt);
		log_warn("cannot %s 's3://%s/%s': %s, attempt %" PRIu32
			 ", retrying in %" PRIu32 " ms",
			 rq->op, s->bucket, name, detail, attempt + 1, ms);
		if (cloud_target_sleep(t, ms, rq->cut_at_stop)) {
			log_error("cannot %s 's3://%s/%s': interrupted", rq->op,
				  s->bucket, name);
			return -ECANCELED;
		}
	}
}

/* ---- operations ---- */

/* PREFIX/<space>/<key>, or PREFIX/<space>/ without a key. */
static int object_key(struct s3_target *s, const char *space, const char *key,
		      struct cbuf *out)
{
	char es[CLOUD_SEG_MAX + 1], ek[CLOUD_SEG_MAX + 1];
	int rc = cloud_name_segment(space, es);

	if (!rc && key)
		rc = cloud_name_segment(key, ek);
	if (rc)
		return rc;
	if (key)
		cbuf_addf(out, "%s%s/%s", s->prefix, es, ek);
	else
		cbuf_addf(out, "%s%s/", s->prefix, es);
	return cbuf_failed(out) ? -ENOMEM : 0;
}

static void md5_base64(const void *buf, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (EVP_Digest(buf, len, md, &n, EVP_md5(), NULL) && n == 16)
		EVP_EncodeBlock((unsigned char *)out, md, 16);
}

/* A decimal header value; -EBADMSG for anything else. */
static int header_u64(const struct cloud_http_response *rs, const char *name,
		      uint64_t *out)
{
	char v[32];
	uint64_t x = 0;

	if (cloud_http_header(rs, name, v, sizeof(v)) || !v[0])
		return -EBADMSG;
	for (const char *p = v; *p; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (*p < '0' || *p > '9' || x > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

static void add_meta(struct s3_req *rq, const char *name, const char *value)
{
	rq->meta[rq->meta_len].name = name;
	rq->meta[rq->meta_len++].value = value;
}

/* The values of a PUT's metadata headers. */
struct put_meta {
	char seq[24], mode[16], uid[16], gid[16], mtime[32], ctime[32];
	char es[CLOUD_ENC_MAX], ek[CLOUD_ENC_MAX];
};

/* PUT body as (space, key) with seq and, for a document (dm not NULL),
 * its metadata; if_absent: If-None-Match: * (-EEXIST when S3 refuses). */
static int put_object(struct cloud_target *t, const char *space,
		      const char *key, const void *buf, size_t len,
		      uint64_t seq, const struct cloud_doc_meta *dm,
		      bool if_absent)
{
	struct s3_target *s = s3_of(t);
	struct cloud_http_response rs;
	struct cbuf obj = CBUF_INIT;
	struct s3_req rq;
	struct put_meta pm;
	char md5[32];
	int rc;

	rc = object_key(s, space, key, &obj);
	if (rc)
		goto out_release;
	md5_base64(buf ? buf : "", len, md5);
	snprintf(pm.seq, sizeof(pm.seq), "%" PRIu64, seq);
	memset(&rq, 0, sizeof(rq));
	rq.op = "put";
	rq.method = "PUT";
	rq.object = obj.p;
	rq.body = buf;
	rq.body_len = len;
	rq.content_md5 = md5;
	add_meta(&rq, "x-amz-meta-seq", pm.seq);
	if (if_absent) { /* signed like the others */
		add_meta(&rq, "if-none-match", "*");
		rq.quiet_exists = true;
	}
	if (dm) {
		rq.content_type = "application/json";
		snprintf(pm.mode, sizeof(pm.mode), "%" PRIu32, dm->mode);
		snprintf(pm.uid, sizeof(pm.uid), "%" PRIu32, dm->uid);
		snprintf(pm.gid, sizeof(pm.gid), "%" PRIu32, dm->gid);
		docmeta_format_time(dm->mtime_ns, pm.mtime);
		docmeta_format_time(dm->ctime_ns, pm.ctime);
		add_meta(&rq, "x-amz-meta-mode", pm.mode);
		add_meta(&rq, "x-amz-meta-uid", pm.uid);
		add_meta(&rq, "x-amz-meta-gid", pm.gid);
		add_meta(&rq, "x-amz-meta-mtime", pm.mtime);
		add_meta(&rq, "x-amz-meta-ctime", pm.ctime);
		add_meta(&rq, "x-amz-meta-sha256", dm->sha256);
	}
	if (cloud_segment_hashed(obj.p, obj.len)) {
		/* Listings read a hashed name back from here. */
		cloud_name_encode(space, pm.es);
		cloud_name_encode(key, pm.ek);
		add_meta(&rq, "x-amz-meta-space", pm.es);
		add_meta(&rq, "x-amz-meta-key", pm.ek);
	}
	rc = s3_call(s, &rq, &rs);
	if (!rc)
		cloud_http_response_release(&rs);
	if (if_absent && rc == -EBUSY)
		rc = -EEXIST; /* 409: a concurrent conditional write won */
out_release:
	cbuf_release(&obj);
	return rc;
}

static int s3_put(struct cloud_target *t, const char *space, const char *key,
		  const void *buf, size_t len, uint64_t seq)
{
	return put_object(t, space, key, buf, len, seq, NULL, false);
}

static int s3_put_new(struct cloud_target *t, const char *space,
		      const char *key, const void *buf, size_t len,
		      uint64_t seq)
{
	return put_object(t, space, key, buf, len, seq, NULL, true);
}

static int s3_put_doc(struct cloud_target *t, const char *space,
		      const char *key, const void *body, size_t len,
		      const struct cloud_doc_meta *meta)
{
	return put_object(t, space, key, body, len, meta->seq, meta, false);
}

static int header_get(void *arg, const char *name, char *out, size_t cap)
{
	int rc = cloud_http_header(arg, name, out, cap);

	return rc == -ENOENT ? rc : rc ? -EBADMSG : 0;
}

/* The document metadata of a GET or HEAD response. */
static int doc_meta_of(struct s3_target *s, const char *op, const char *obj,
		       struct cloud_http_response *rs,
		       struct cloud_doc_meta *meta)
{
	int rc = docmeta_from_headers(header_get, rs, meta);

	if (rc)
		log_error("cannot %s 's3://%s/%s': malformed or missing "
			  "x-amz-meta-* headers of a document",
			  op, s->bucket, obj);
	return rc;
}

/* A GET or HEAD (method) of object: on success *rs is the response
 * (free with cloud_http_response_release); -ENOENT (quiet) when absent.
 * cut: a stop cuts the transfer. */
static int object_call(struct s3_target *s, const char *method,
		       const char *object, bool cut,
		       struct cloud_http_response *rs)
{
	struct s3_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.op = strcmp(method, "GET") ? "head" : "get";
	rq.method = method;
	rq.object = object;
	rq.quiet_404 = true;
	rq.cut_at_stop = cut;
	return s3_call(s, &rq, rs);
}

/* What a GET or HEAD of a document or object hands back; a NULL field
 * is not wanted.  A document has its metadata (meta), an object its seq
 * (x-amz-meta-seq). */
struct obj_want {
	struct cloud_doc_meta *meta;
	uint64_t *seq;
	uint64_t *size; /* content-length */
	void **body; /* GET: the body (free with free()), of *len bytes */
	size_t *len;
};

/* object_call on the object of (space, key), then what w wants from the
 * response.  0 or a negative errno (-EBADMSG for a response that lacks
 * it). */
static int keyed_read(struct s3_target *s, const char *method,
		      const char *space, const char *key, bool cut,
		      const struct obj_want *w)
{
	const char *op = strcmp(method, "GET") ? "head" : "get";
	struct cloud_http_response rs;
	struct cbuf obj = CBUF_INIT;
	int rc;

	rc = object_key(s, space, key, &obj);
	if (!rc)
		rc = object_call(s, method, obj.p, cut, &rs);
	if (rc)
		goto out_release;
	rc = w->meta ? doc_meta_of(s, op, obj.p, &rs, w->meta)
		     : header_u64(&rs, "x-amz-meta-seq", w->seq);
	if (!rc && w->size)
		rc = header_u64(&rs, "content-length", w->size);
	if (rc && !w->meta)
		log_error("cannot %s 's3://%s/%s': no valid x-amz-meta-seq%s",
			  op, s->bucket, obj.p,
			  w->size ? " or content-length" : "");
	if (!rc && w->body) {
		*w->body = rs.body;
		*w->len = rs.body_len;
		rs.body = NULL;
	}
	cloud_http_response_release(&rs);
out_release:
	cbuf_release(&obj);
	return rc;
}

static int s3_get_doc(struct cloud_target *t, const char *space,
		      const char *key, void **body, size_t *len,
		      struct cloud_doc_meta *meta)
{
	struct obj_want w = { .meta = meta, .body = body, .len = len };

	/* a restore: cut at a stop */
	return keyed_read(s3_of(t), "GET", space, key, true, &w);
}

static int s3_get(struct cloud_target *t, const char *space, const char *key,
		  void **buf, size_t *len, uint64_t *seq)
{
	struct obj_want w = { .seq = seq, .body = buf, .len = len };

	/* a restore is cut at a stop; the store's own objects (the writer
	 * lease, released at a clean stop) are not */
	return keyed_read(s3_of(t), "GET", space, key,
			  !cloud_name_reserved(space), &w);
}

static int s3_head(struct cloud_target *t, const char *space, const char *key,
		   struct cloud_object_info *info)
{
	struct obj_want w = { .seq = &info->seq, .size = &info->size_bytes };

	return keyed_read(s3_of(t), "HEAD", space, key, true, &w);
}

static int s3_head_doc(struct cloud_target *t, const char *space,
		       const char *key, struct cloud_doc_meta *meta,
		       uint64_t *size)
{
	struct obj_want w = { .meta = meta, .size = size };

	return keyed_read(s3_of(t), "HEAD", space, key, true, &w);
}

static int s3_del(struct cloud_target *t, const char *space, const char *key)
{
	struct s3_target *s = s3_of(t);
	struct cloud_http_response rs;
	struct cbuf obj = CBUF_INIT;
	struct s3_req rq;
	int rc;

	rc = object_key(s, space, key, &obj);
	if (rc)
		goto out_release;
	memset(&rq, 0, sizeof(rq));
	rq.op = "delete";
	rq.method = "DELETE";
	rq.object = obj.p;
	rq.quiet_404 = true;
	rc = s3_call(s, &rq, &rs);
	if (rc == -ENOENT)
		rc = 0;
	else if (!rc)
		cloud_http_response_release(&rs);
out_release:
	cbuf_release(&obj);
	return rc;
}

/* One ListObjectsV2 request under prefix (delimiter '/'). */
static int list_call(struct s3_target *s, const char *prefix, const char *token,
		     uint32_t max_keys, s3_list_fn fn, void *arg,
		     bool *truncated, char **next)
{
	struct cloud_http_response rs;
	struct sigv4_kv q[5];
	struct s3_req rq;
	char maxkeys[16];
	size_t nq = 0;
	int rc;

	*next = NULL;
	snprintf(maxkeys, sizeof(maxkeys), "%" PRIu32, max_keys);
	q[nq++] = (struct sigv4_kv){ "list-type", "2" };
	q[nq++] = (struct sigv4_kv){ "prefix", prefix };
	q[nq++] = (struct sigv4_kv){ "delimiter", "/" };
	q[nq++] = (struct sigv4_kv){ "max-keys", maxkeys };
	if (token)
		q[nq++] = (struct sigv4_kv){ "continuation-token", token };
	memset(&rq, 0, sizeof(rq));
	rq.op = "list";
	rq.method = "GET";
	rq.object = "";
	rq.what = prefix;
	rq.cut_at_stop = true;
	rq.max_bytes = LIST_PAGE_MAX_BYTES;
	rq.query = q;
	rq.query_len = nq;
	rc = s3_call(s, &rq, &rs);
	if (rc)
		return rc;
	rc = s3_xml_parse_list(rs.body, rs.body_len, fn, arg, truncated, next);
	if (rc == -EBADMSG)
		log_error("cannot list 's3://%s/%s': malformed response",
			  s->bucket, prefix);
	cloud_http_response_release(&rs);
	return rc;
}

/* The real name of a hashed segment, from an object's metadata. */
static int meta_name(struct s3_target *s, const char *object,
		     const char *header, char out[CLOUD_NAME_MAX + 1])
{
	struct cloud_http_response rs;
	char enc[CLOUD_ENC_MAX];
	int rc = object_call(s, "HEAD", object, true, &rs);

	if (rc)
		return rc;
	rc = cloud_http_header(&rs, header, enc, sizeof(enc));
	if (!rc)
		rc = cloud_name_decode(enc, strlen(enc), out);
	cloud_http_response_release(&rs);
	return rc;
}

static int first_key(void *arg, const char *name, size_t len, bool is_prefix)
{
	char **out = arg;

	if (is_prefix || *out)
		return 0;
	*out = strndup(name, len);
	return *out ? 0 : -ENOMEM;
}

/* The name of a hashed space: from the metadata of any object in it. */
static int space_meta_name(struct s3_target *s, const char *prefix,
			   char out[CLOUD_NAME_MAX + 1])
{
	char *object = NULL, *next = NULL;
	bool truncated;
	int rc = list_call(s, prefix, NULL, 1, first_key, &object, &truncated,
			   &next);

	free(next);
	if (!rc && !object)
		rc = -ENOENT;
	if (!rc)
		rc = meta_name(s, object, "x-amz-meta-space", out);
	free(object);
	return rc;
}

struct list_ctx {
	struct s3_target *s;
	const char *prefix; /* what every listed name starts with */
	size_t prefix_len;
	bool spaces;
	cloud_name_fn fn;
	void *arg;
};

static int list_one(void *arg, const char *name, size_t len, bool is_prefix)
{
	struct list_ctx *c = arg;
	char dec[CLOUD_NAME_MAX + 1];
	const char *rest;
	size_t n;
	int rc;

	if (is_prefix != c->spaces || len <= c->prefix_len ||
	    memcmp(name, c->prefix, c->prefix_len) != 0)
		return 0;
	rest = name + c->prefix_len;
	n = len - c->prefix_len;
	if (c->spaces) {
		if (rest[n - 1] != '/')
			return 0;
		n--;
	}
	if (n > CLOUD_SEG_MAX || memchr(rest, '/', n))
		return 0; /* not one of ours */
	if (!cloud_segment_hashed(rest, n))
		rc = cloud_name_decode(rest, n, dec);
	else if (c->spaces)
		rc = space_meta_name(c->s, name, dec);
	else
		rc = meta_name(c->s, name, "x-amz-meta-key", dec);
	if (rc == -ENOMEM || rc == -EIO || rc == -EACCES || rc == -ECANCELED)
		return rc;
	if (rc)
		return 0; /* not one of ours, or gone meanwhile */
	return c->fn(c->arg, dec);
}

static int s3_list(struct cloud_target *t, const char *space, const char *token,
		   char **next, cloud_name_fn fn, void *arg)
{
	struct s3_target *s = s3_of(t);
	struct cbuf pfx = CBUF_INIT;
	struct list_ctx c;
	bool truncated = false;
	int rc;

	if (space)
		rc = object_key(s, space, NULL, &pfx);
	else {
		cbuf_adds(&pfx, s->prefix);
		rc = cbuf_failed(&pfx) ? -ENOMEM : 0;
	}
	if (rc)
		goto out_release;
	c.s = s;
	c.prefix = pfx.p;
	c.prefix_len = pfx.len;
	c.spaces = space == NULL;
	c.fn = fn;
	c.arg = arg;
	rc = list_call(s, pfx.p, token, s->page_keys, list_one, &c, &truncated,
		       next);
	if (!rc && !truncated) {
		free(*next);
		*next = NULL;
	}
out_release:
	cbuf_release(&pfx);
	return rc;
}

static void s3_destroy(struct cloud_target *t)
{
	struct s3_target *s = s3_of(t);

	if (s->own_http && s->http)
		s->http->destroy(s->http);
	cloud_creds_provider_free(s->creds);
	free(s->base_url);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	cloud_target_base_release(t);
	free(s);
}

static const struct cloud_target_ops s3_ops = {
	.put = s3_put,
	.put_new = s3_put_new,
	.get = s3_get,
	.head = s3_head,
	.put_doc = s3_put_doc,
	.get_doc = s3_get_doc,
	.head_doc = s3_head_doc,
	.del = s3_del,
	.list = s3_list,
	.destroy = s3_destroy,
};

/* ---- opening ---- */

static bool bucket_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_' ||
		      (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

/* scheme://host[:port][/] into base URL and Host header. */
static int parse_endpoint(struct s3_target *s, const char *endpoint)
{
	const char *hs;
	char *scheme, *host;
	size_t hl;

	if (!strncmp(endpoint, "https://", 8))
		hs = endpoint + 8;
	else if (!strncmp(endpoint, "http://", 7))
		hs = endpoint + 7;
	else
		return -EINVAL;
	hl = strcspn(hs, "/?#");
	if (hl == 0 || strspn(hs + hl, "/") != strlen(hs + hl))
		return -EINVAL;
	for (size_t i = 0; i < hl; i++)
		if (hs[i] == '@' || hs[i] == ' ' || (unsigned char)hs[i] < 0x20)
			return -EINVAL;
	scheme = strndup(endpoint, (size_t)(hs - endpoint));
	if (s->path_style)
		host = strndup(hs, hl);
	else if (asprintf(&host, "%s.%.*s", s->bucket, (int)hl, hs) < 0)
		host = NULL;
	if (!scheme || !host) {
		free(scheme);
		free(host);
		return -ENOMEM;
	}
	s->host = host;
	if (asprintf(&s->base_url, "%s%s", scheme, host) < 0)
		s->base_url = NULL;
	free(scheme);
	return s->base_url ? 0 : -ENOMEM;
}

static const char *pick_region(const struct cloud_options *o)
{
	const char *r = o->s3_region;

	if (!r || !r[0])
		r = getenv("AWS_REGION");
	if (!r || !r[0])
		r = getenv("AWS_DEFAULT_REGION");
	if (!r || !r[0])
		r = "us-east-1";
	return r;
}

static int setup(struct s3_target *s, const char *bucket, const char *prefix,
		 const struct cloud_options *o, const char *url)
{
	char *endpoint = NULL;
	int rc;

	s->bucket = strdup(bucket);
	s->region = strdup(pick_region(o));
	if (prefix[0])
		rc = asprintf(&s->prefix, "%s/", prefix) < 0 ? -ENOMEM : 0;
	else
		rc = (s->prefix = strdup("")) ? 0 : -ENOMEM;
	if (rc || !s->bucket || !s->region)
		return -ENOMEM;
	if (!bucket_ok(bucket) || (!s->path_style && strchr(bucket, '_'))) {
		log_error("invalid cloud url '%s': bad bucket name", url);
		return -EINVAL;
	}
	if (o->s3_endpoint && o->s3_endpoint[0])
		endpoint = strdup(o->s3_endpoint);
	else if (asprintf(&endpoint, "https://s3.%s.amazonaws.com", s->region) <
		 0)
		endpoint = NULL;
	if (!endpoint)
		return -ENOMEM;
	rc = parse_endpoint(s, endpoint);
	if (rc == -EINVAL)
		log_error("invalid s3 endpoint '%s': expected "
			  "http[s]://HOST[:PORT]",
			  endpoint);
	free(endpoint);
	if (rc)
		return rc;
	if (o->creds)
		rc = cloud_creds_provider_fixed(o->creds, &s->creds);
	else
		rc = cloud_creds_provider_new(o->aws_profile, &s->creds);
	return rc;
}

int cloud_s3_open(const char *bucket, const char *prefix,
		  const struct cloud_options *o, const char *url,
		  struct cloud_target **out)
{
	struct s3_target *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	rc = cloud_target_base_init(&s->base, &s3_ops, url, o);
	if (rc) {
		free(s);
		return rc;
	}
	s->path_style = o->s3_path_style;
	s->page_keys = o->list_page_keys ? o->list_page_keys : 1000;
	s->max_object_bytes = o->max_object_bytes;
	rc = setup(s, bucket, prefix, o, url);
	if (!rc && o->http) {
		s->http = o->http;
	} else if (!rc) {
		struct cloud_http_curl_options co = { o->connect_timeout_ms,
						      o->timeout_ms,
						      o->low_speed_time_s,
						      o->ca_file, false };

		rc = cloud_http_curl_new(&co, &s->http);
		s->own_http = rc == 0;
	}
	if (rc) {
		s3_destroy(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}
