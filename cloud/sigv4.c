/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h for the rules).
 *
 * The signature is computed in four steps, each kept as a string so the
 * tests compare them with the AWS suite byte for byte:
 *
 *   1. canonical request =
 *        METHOD '\n' encoded-path '\n' canonical-query '\n'
 *        (lower-name ':' canonical-value '\n')*  '\n'
 *        signed-header-names (';'-joined, sorted) '\n'
 *        payload-hash
 *   2. string to sign =
 *        "AWS4-HMAC-SHA256" '\n' amz-date '\n' scope '\n'
 *        hex(SHA-256(canonical request))
 *      with scope = YYYYMMDD '/' region '/' service '/' "aws4_request"
 *   3. signing key = HMAC(HMAC(HMAC(HMAC("AWS4" secret, YYYYMMDD),
 *        region), service), "aws4_request")
 *   4. signature = hex(HMAC(signing key, string to sign))
 *
 * The signing key of step 3 changes only with the day, the secret, the
 * region and the service, so each thread keeps the last one it derived
 * (key_cache below): an uploader signing thousands of requests a day
 * derives it once instead of four HMACs per request.  The cache holds a
 * copy of the secret to compare with, as the credentials themselves are
 * held; a thread's entry lives as long as the thread.
 *
 * In query mode the X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -Security-Token and -SignedHeaders parameters join the canonical query
 * before step 1, and X-Amz-Signature is appended to the query after
 * step 4.
 */
#include "config.h"

#include "cloud/sigv4.h"

#include "util/buf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

static const char hexu[] = "0123456789ABCDEF";
static const char hexl[] = "0123456789abcdef";

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static void uri_encode(struct cbuf *b, const char *s, size_t n, bool keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			cbuf_addc(b, (char)c);
			continue;
		}
		esc[0] = '%';
		esc[1] = hexu[c >> 4];
		esc[2] = hexu[c & 15];
		cbuf_add(b, esc, 3);
	}
}

static void hex_encode(const unsigned char *md, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexl[md[i] >> 4];
		out[2 * i + 1] = hexl[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32) {
		out[0] = '\0';
		return;
	}
	hex_encode(md, 32, out);
}

static int hmac(const void *key, size_t key_len, const void *msg,
		size_t msg_len, unsigned char out[32])
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) ||
	    n != 32)
		return -ENOMEM;
	return 0;
}

/*
 * Path normalization (not for S3): drop empty and "." segments, let ".."
 * remove the previous one, keep a trailing slash.
 */
static void normalize_path(struct cbuf *out, const char *path)
{
	size_t n = strlen(path), i = 0, depth = 0;
	size_t(*seg)[2] = calloc(n + 1, sizeof(*seg));
	bool trailing = false;

	if (!seg) {
		out->oom = true;
		return;
	}
	while (i <= n) {
		size_t j = i, len;

		while (j < n && path[j] != '/')
			j++;
		len = j - i;
		if (len == 0 || (len == 1 && path[i] == '.')) {
			trailing = true;
		} else if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (depth > 0)
				depth--;
			trailing = true;
		} else {
			seg[depth][0] = i;
			seg[depth][1] = len;
			depth++;
			trailing = false;
		}
		i = j + 1;
	}
	for (size_t k = 0; k < depth; k++) {
		cbuf_addc(out, '/');
		cbuf_add(out, path + seg[k][0], seg[k][1]);
	}
	if (depth == 0 || trailing)
		cbuf_addc(out, '/');
	free(seg);
}

struct pair {
	char *name;
	char *value;
	size_t order;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	c = strcmp(x->value, y->value);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int header_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void pairs_free(struct pair *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

/* Store name a and value b (both taken over) as pair *n, or release both
 * when building either ran out of memory. */
static int pair_take(struct pair *v, size_t *n, struct cbuf *a, struct cbuf *b)
{
	if (cbuf_failed(a) || cbuf_failed(b)) {
		cbuf_release(a);
		cbuf_release(b);
		return -ENOMEM;
	}
	v[*n].name = cbuf_detach(a, NULL);
	v[*n].value = cbuf_detach(b, NULL);
	v[*n].order = *n;
	(*n)++;
	return 0;
}

/* Append one encoded query pair. */
static int query_push(struct pair *v, size_t *n, const char *name,
		      const char *value)
{
	struct cbuf a = CBUF_INIT, b = CBUF_INIT;

	uri_encode(&a, name, strlen(name), false);
	cbuf_grow(&b, 0);
	if (value)
		uri_encode(&b, value, strlen(value), false);
	return pair_take(v, n, &a, &b);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Lower-case name, trimmed value with white-space runs collapsed. */
static int header_push(struct pair *v, size_t *n, const char *name,
		       const char *value)
{
	struct cbuf a = CBUF_INIT, b = CBUF_INIT;
	const char *s = value, *e = value + strlen(value);

	for (const char *q = name; *q; q++) {
		char c = *q;

		cbuf_addc(&a, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
	}
	while (s < e && is_space(*s))
		s++;
	while (e > s && is_space(e[-1]))
		e--;
	cbuf_grow(&b, 0);
	while (s < e) {
		if (is_space(*s)) {
			cbuf_addc(&b, ' ');
			while (s < e && is_space(*s))
				s++;
			continue;
		}
		cbuf_addc(&b, *s++);
	}
	return pair_take(v, n, &a, &b);
}

static bool has_header(const struct sigv4_request *r, const char *lname)
{
	for (size_t i = 0; i < r->headers_len; i++)
		if (!strcasecmp(r->headers[i].name, lname))
			return true;
	return false;
}

static bool has_token(const struct sigv4_params *p)
{
	return p->session_token && p->session_token[0];
}

static int add_header_out(struct sigv4_result *out, const char *name,
			  const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	out->added[out->added_len].name = name;
	out->added[out->added_len].value = v;
	out->added_len++;
	return 0;
}

/*
 * The headers to sign: the request's plus the ones the signer adds in
 * header mode.  Sorted by name; repeated names merged with ','.  Writes
 * the canonical header block and the signed header list.
 */
static int canonical_headers(const struct sigv4_request *r,
			     const struct sigv4_params *p,
			     struct sigv4_result *out, struct cbuf *block,
			     struct cbuf *names)
{
	size_t cap = r->headers_len + SIGV4_MAX_ADDED, n = 0;
	struct pair *v = calloc(cap, sizeof(*v));
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->headers_len && !rc; i++)
		rc = header_push(v, &n, r->headers[i].name,
				 r->headers[i].value);
	for (size_t i = 0; i < out->added_len && !rc; i++) {
		bool token =
			!strcmp(out->added[i].name, "x-amz-security-token");

		if (token && (p->flags & SIGV4_OMIT_TOKEN))
			continue;
		rc = header_push(v, &n, out->added[i].name,
				 out->added[i].value);
	}
	if (rc)
		goto out_free;
	qsort(v, n, sizeof(*v), header_cmp);
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && !strcmp(v[i].name, v[i - 1].name);

		if (same) {
			cbuf_addc(block, ',');
		} else {
			if (i > 0)
				cbuf_addc(block, '\n');
			cbuf_adds(block, v[i].name);
			cbuf_addc(block, ':');
			if (names->len)
				cbuf_addc(names, ';');
			cbuf_adds(names, v[i].name);
		}
		cbuf_adds(block, v[i].value);
	}
	if (n)
		cbuf_addc(block, '\n');
	if (cbuf_failed(block) || cbuf_failed(names))
		rc = -ENOMEM;
out_free:
	pairs_free(v, n);
	return rc;
}

static int canonical_query(const struct sigv4_request *r,
			   const struct sigv4_params *p, const char *cred,
			   const char *date, const char *signed_names,
			   struct cbuf *q)
{
	size_t cap = r->query_len + 6, n = 0;
	struct pair *v = calloc(cap, sizeof(*v));
	char expires[16];
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->query_len && !rc; i++)
		rc = query_push(v, &n, r->query[i].name, r->query[i].value);
	if (!rc && p->mode == SIGV4_QUERY) {
		snprintf(expires, sizeof(expires), "%u", p->expires_s);
		rc = query_push(v, &n, "X-Amz-Algorithm", ALGORITHM);
		if (!rc)
			rc = query_push(v, &n, "X-Amz-Credential", cred);
		if (!rc)
			rc = query_push(v, &n, "X-Amz-Date", date);
		if (!rc)
			rc = query_push(v, &n, "X-Amz-Expires", expires);
		if (!rc && has_token(p) && !(p->flags & SIGV4_OMIT_TOKEN))
			rc = query_push(v, &n, "X-Amz-Security-Token",
					p->session_token);
		if (!rc)
			rc = query_push(v, &n, "X-Amz-SignedHeaders",
					signed_names);
	}
	if (rc)
		goto out_free;
	qsort(v, n, sizeof(*v), pair_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			cbuf_addc(q, '&');
		cbuf_adds(q, v[i].name);
		cbuf_addc(q, '=');
		cbuf_adds(q, v[i].value);
	}
	cbuf_grow(q, 0);
	if (cbuf_failed(q))
		rc = -ENOMEM;
out_free:
	pairs_free(v, n);
	return rc;
}

/* The last signing key this thread derived, and what it was derived
 * from. */
struct key_cache {
	bool valid;
	char date8[8];
	char secret[128];
	char region[64];
	char service[32];
	unsigned char key[32];
};

static __thread struct key_cache key_cache;

static bool key_cache_fits(size_t size, const char *v)
{
	return strlen(v) < size;
}

static bool key_cache_hit(const struct sigv4_params *p, const char *date8)
{
	const struct key_cache *c = &key_cache;

	return c->valid && memcmp(c->date8, date8, 8) == 0 &&
	       strcmp(c->secret, p->secret_key) == 0 &&
	       strcmp(c->region, p->region) == 0 &&
	       strcmp(c->service, p->service) == 0;
}

/* Remember key for p and date8 (unless a field is too long to keep). */
static void key_cache_put(const struct sigv4_params *p, const char *date8,
			  const unsigned char key[32])
{
	struct key_cache *c = &key_cache;

	OPENSSL_cleanse(c, sizeof(*c));
	if (!key_cache_fits(sizeof(c->secret), p->secret_key) ||
	    !key_cache_fits(sizeof(c->region), p->region) ||
	    !key_cache_fits(sizeof(c->service), p->service))
		return;
	memcpy(c->date8, date8, 8);
	strcpy(c->secret, p->secret_key);
	strcpy(c->region, p->region);
	strcpy(c->service, p->service);
	memcpy(c->key, key, 32);
	c->valid = true;
}

static int derive_signing_key(const struct sigv4_params *p, const char *date8,
			      unsigned char key[32])
{
	size_t sl = strlen(p->secret_key);
	unsigned char *k0 = malloc(sl + 4);
	int rc;

	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, p->secret_key, sl);
	rc = hmac(k0, sl + 4, date8, 8, key);
	OPENSSL_cleanse(k0, sl + 4);
	free(k0);
	if (!rc)
		rc = hmac(key, 32, p->region, strlen(p->region), key);
	if (!rc)
		rc = hmac(key, 32, p->service, strlen(p->service), key);
	if (!rc)
		rc = hmac(key, 32, "aws4_request", 12, key);
	return rc;
}

static int signing_key(const struct sigv4_params *p, const char *date8,
		       unsigned char key[32])
{
	int rc;

	if (key_cache_hit(p, date8)) {
		memcpy(key, key_cache.key, 32);
		return 0;
	}
	rc = derive_signing_key(p, date8, key);
	if (!rc)
		key_cache_put(p, date8, key);
	return rc;
}

static bool request_ok(const struct sigv4_request *r,
		       const struct sigv4_params *p)
{
	if (!r->method || !r->path || r->path[0] != '/' || !r->payload_hash)
		return false;
	if (!p->access_key || !p->secret_key || !p->region || !p->service)
		return false;
	return has_header(r, "host");
}

static int amz_date(time_t when, char out[17])
{
	struct tm tm;

	if (!gmtime_r(&when, &tm))
		return -EINVAL;
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	return 0;
}

/* Header mode: the x-amz-* headers every signed request carries. */
static int add_signer_headers(const struct sigv4_request *r,
			      const struct sigv4_params *p,
			      struct sigv4_result *out)
{
	int rc = 0;

	if (p->mode != SIGV4_HEADER)
		return 0;
	if (!has_header(r, "x-amz-date"))
		rc = add_header_out(out, "x-amz-date", out->amz_date);
	if (!rc && (p->flags & SIGV4_CONTENT_SHA256) &&
	    !has_header(r, "x-amz-content-sha256"))
		rc = add_header_out(out, "x-amz-content-sha256",
				    r->payload_hash);
	if (!rc && has_token(p) && !has_header(r, "x-amz-security-token"))
		rc = add_header_out(out, "x-amz-security-token",
				    p->session_token);
	return rc;
}

static int build_canonical_request(const struct sigv4_request *r,
				   const struct sigv4_params *p,
				   struct sigv4_result *out, const char *scope,
				   struct cbuf *names)
{
	struct cbuf path = CBUF_INIT, hdrs = CBUF_INIT, q = CBUF_INIT;
	struct cbuf cred = CBUF_INIT, cr = CBUF_INIT;
	int rc;

	if (p->flags & SIGV4_NORMALIZE_PATH) {
		struct cbuf raw = CBUF_INIT;

		normalize_path(&raw, r->path);
		if (!cbuf_failed(&raw))
			uri_encode(&path, raw.p, raw.len, true);
		cbuf_release(&raw);
	} else {
		uri_encode(&path, r->path, strlen(r->path), true);
	}
	rc = canonical_headers(r, p, out, &hdrs, names);
	if (rc)
		goto out_release;
	cbuf_addf(&cred, "%s/%s", p->access_key, scope);
	if (cbuf_failed(&cred)) {
		rc = -ENOMEM;
		goto out_release;
	}
	rc = canonical_query(r, p, cred.p, out->amz_date,
			     names->p ? names->p : "", &q);
	if (rc)
		goto out_release;
	cbuf_addf(&cr, "%s\n%s\n%s\n%s\n%s\n%s", r->method, path.p, q.p,
		  hdrs.p ? hdrs.p : "", names->p ? names->p : "",
		  r->payload_hash);
	if (cbuf_failed(&cr) || cbuf_failed(&path) || cbuf_failed(&q)) {
		rc = -ENOMEM;
		goto out_release;
	}
	out->canonical_request = cbuf_detach(&cr, NULL);
	out->path = cbuf_detach(&path, NULL);
	out->query = cbuf_detach(&q, NULL);
out_release:
	cbuf_release(&path);
	cbuf_release(&hdrs);
	cbuf_release(&q);
	cbuf_release(&cred);
	cbuf_release(&cr);
	return rc;
}

static int finish(const struct sigv4_params *p, struct sigv4_result *out,
		  const char *scope, const char *names)
{
	struct cbuf b = CBUF_INIT;

	if (p->mode == SIGV4_HEADER) {
		cbuf_addf(&b,
			  ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
				    "Signature=%s",
			  p->access_key, scope, names, out->signature);
		if (cbuf_failed(&b))
			return -ENOMEM;
		out->authorization = cbuf_detach(&b, NULL);
		return 0;
	}
	cbuf_adds(&b, out->query);
	if (b.len)
		cbuf_addc(&b, '&');
	cbuf_addf(&b, "X-Amz-Signature=%s", out->signature);
	if (has_token(p) && (p->flags & SIGV4_OMIT_TOKEN)) {
		cbuf_adds(&b, "&X-Amz-Security-Token=");
		uri_encode(&b, p->session_token, strlen(p->session_token),
			   false);
	}
	if (cbuf_failed(&b))
		return -ENOMEM;
	free(out->query);
	out->query = cbuf_detach(&b, NULL);
	return 0;
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_params *p,
	       struct sigv4_result *out)
{
	struct cbuf names = CBUF_INIT, sts = CBUF_INIT;
	unsigned char key[32], sig[32];
	char scope[256], crhash[65];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!request_ok(r, p))
		return -EINVAL;
	rc = amz_date(p->when, out->amz_date);
	if (rc)
		return rc;
	if ((size_t)snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request",
			     out->amz_date, p->region,
			     p->service) >= sizeof(scope))
		return -EINVAL;
	rc = add_signer_headers(r, p, out);
	if (!rc)
		rc = build_canonical_request(r, p, out, scope, &names);
	if (rc)
		goto out_fail;
	sigv4_sha256_hex(out->canonical_request, strlen(out->canonical_request),
			 crhash);
	cbuf_addf(&sts, ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope, crhash);
	if (cbuf_failed(&sts)) {
		rc = -ENOMEM;
		goto out_fail;
	}
	out->string_to_sign = cbuf_detach(&sts, NULL);
	rc = signing_key(p, out->amz_date, key);
	if (!rc)
		rc = hmac(key, 32, out->string_to_sign,
			  strlen(out->string_to_sign), sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc)
		goto out_fail;
	hex_encode(sig, 32, out->signature);
	rc = finish(p, out, scope, names.p ? names.p : "");
	if (rc)
		goto out_fail;
	cbuf_release(&names);
	return 0;
out_fail:
	cbuf_release(&names);
	cbuf_release(&sts);
	sigv4_result_release(out);
	return rc;
}

void sigv4_result_release(struct sigv4_result *r)
{
	if (!r)
		return;
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->path);
	free(r->query);
	free(r->authorization);
	for (size_t i = 0; i < r->added_len; i++) {
		if (!strcmp(r->added[i].name, "x-amz-security-token"))
			OPENSSL_cleanse(r->added[i].value,
					strlen(r->added[i].value));
		free(r->added[i].value);
	}
	memset(r, 0, sizeof(*r));
}
