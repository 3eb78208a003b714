/*
 * target.c - the cloud target interface: URL parsing, name checks and
 * encoding, dispatch to the kind (cloud/dir.c, cloud/s3.c), and the
 * interruptible sleep of the retry loops.
 *
 * Module design (cloud/):
 *
 *   target.h    the interface: put/get/head/delete/list of (space, key)
 *   s3.c        S3 over the transport seam (http.h; http_curl.c is
 *               libcurl), SigV4 (sigv4.c), credentials (creds.c), the
 *               retry policy and errno mapping (retry.c), the XML of
 *               list and error responses (s3_xml.c)
 *   dir.c       a directory: one file per object, written atomically
 *   archive.c   the bytes of one document's archive
 *
 * Invariants:
 *   1. Object names are the percent-encoding of valid names only;
 *      every entry point checks names before anything else.
 *   2. After cloud_target_interrupt() every sleep returns -ECANCELED at
 *      once and every transfer in progress is cut (the transport polls
 *      the flag), so no retry loop outlives a shutdown; after
 *      cloud_target_interrupt_lists() the same holds for listings.
 *   4. A listing ends: it is bounded in pages, names and bytes of names,
 *      and a repeated continuation token ends it with -EBADMSG.
 *   3. Nothing in cloud/ logs or returns credentials.
 */
#include "config.h"

#include "cloud/target_internal.h"

#include "cloud/sigv4.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cloud_options_default(struct cloud_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 300000;
	o->low_speed_time_s = 30;
	cloud_retry_policy_default(&o->retry);
	o->list_page_keys = 1000;
	o->list_max_pages = 2000;
	o->list_max_names = 1000000;
	o->list_max_bytes = (uint64_t)64 << 20;
	o->max_object_bytes = (size_t)1 << 30;
}

/* ---- names ---- */

#define SEG_HASH_PREFIX 128

_Static_assert(SEG_HASH_PREFIX + 1 + 64 <= CLOUD_SEG_MAX, "hashed segment");

static const char hexu[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

bool cloud_name_reserved(const char *name)
{
	return name && name_is_reserved(name, CLOUD_RESERVED_PREFIX);
}

bool cloud_name_valid(const char *name)
{
	return name && name_check(name, NULL) == 0;
}

int cloud_name_encode(const char *name, char out[CLOUD_ENC_MAX])
{
	size_t w = 0;

	if (!cloud_name_valid(name))
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (unreserved(*p)) {
			out[w++] = (char)*p;
			continue;
		}
		out[w++] = '%';
		out[w++] = hexu[*p >> 4];
		out[w++] = hexu[*p & 15];
	}
	out[w] = '\0';
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cloud_name_decode(const char *enc, size_t len, char out[CLOUD_NAME_MAX + 1])
{
	size_t w = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)enc[i];
		int hi, lo;

		if (w == CLOUD_NAME_MAX)
			return -EINVAL;
		if (unreserved(c)) {
			out[w++] = (char)c;
			continue;
		}
		if (c != '%' || len - i < 3)
			return -EINVAL;
		hi = hexval(enc[i + 1]);
		lo = hexval(enc[i + 2]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		c = (unsigned char)(hi * 16 + lo);
		/* Canonical only: an unreserved byte is never escaped. */
		if (unreserved(c) || c == '\0')
			return -EINVAL;
		out[w++] = (char)c;
		i += 2;
	}
	out[w] = '\0';
	return cloud_name_valid(out) ? 0 : -EINVAL;
}

int cloud_name_segment(const char *name, char out[CLOUD_SEG_MAX + 1])
{
	char enc[CLOUD_ENC_MAX], hex[65];
	size_t n, cut = SEG_HASH_PREFIX;
	int rc = cloud_name_encode(name, enc);

	if (rc)
		return rc;
	n = strlen(enc);
	if (n <= CLOUD_SEG_MAX) {
		memcpy(out, enc, n + 1);
		return 0;
	}
	if (enc[cut - 1] == '%')
		cut -= 1;
	else if (enc[cut - 2] == '%')
		cut -= 2;
	sigv4_sha256_hex(enc, n, hex);
	snprintf(out, CLOUD_SEG_MAX + 1, "%.*s#%s", (int)cut, enc, hex);
	return 0;
}

bool cloud_segment_hashed(const char *seg, size_t len)
{
	return memchr(seg, '#', len) != NULL;
}

/* ---- the common part ---- */

int cloud_target_base_init(struct cloud_target *t,
			   const struct cloud_target_ops *ops, const char *url,
			   const struct cloud_options *o)
{
	t->url = strdup(url);
	if (!t->url)
		return -ENOMEM;
	t->ops = ops;
	t->retry = o->retry;
	t->list_max_pages = o->list_max_pages;
	t->list_max_names = o->list_max_names;
	t->list_max_bytes = o->list_max_bytes;
	t->sleep_ms = o->sleep_ms;
	t->sleep_arg = o->sleep_arg;
	t->rng = o->jitter_seed;
	if (!t->rng)
		t->rng = (uint64_t)clock_real_ns() ^
			 ((uint64_t)getpid() << 40) ^ (uintptr_t)t;
	pthread_mutex_init(&t->lock, NULL);
	clock_cond_init(&t->wake);
	t->interrupted = false;
	t->lists_interrupted = false;
	return 0;
}

void cloud_target_base_release(struct cloud_target *t)
{
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t->url);
	t->url = NULL;
}

uint32_t cloud_target_backoff_ms(struct cloud_target *t, uint32_t attempt)
{
	uint32_t ms;

	pthread_mutex_lock(&t->lock);
	ms = cloud_backoff_ms(&t->retry, attempt, &t->rng);
	pthread_mutex_unlock(&t->lock);
	return ms;
}

bool cloud_target_interrupted(struct cloud_target *t)
{
	bool v;

	pthread_mutex_lock(&t->lock);
	v = t->interrupted;
	pthread_mutex_unlock(&t->lock);
	return v;
}

bool cloud_target_lists_interrupted(struct cloud_target *t)
{
	bool v;

	pthread_mutex_lock(&t->lock);
	v = t->interrupted || t->lists_interrupted;
	pthread_mutex_unlock(&t->lock);
	return v;
}

static bool stop_locked(const struct cloud_target *t, bool listing)
{
	return t->interrupted || (listing && t->lists_interrupted);
}

int cloud_target_sleep(struct cloud_target *t, uint32_t ms, bool listing)
{
	struct timespec until;
	int rc = 0;

	if (t->sleep_ms) {
		if (listing ? cloud_target_lists_interrupted(t)
			    : cloud_target_interrupted(t))
			return -ECANCELED;
		t->sleep_ms(t->sleep_arg, ms);
		if (listing)
			return cloud_target_lists_interrupted(t) ? -ECANCELED
								 : 0;
		return cloud_target_interrupted(t) ? -ECANCELED : 0;
	}
	clock_deadline_ns(&until, (int64_t)ms * 1000000);
	pthread_mutex_lock(&t->lock);
	while (!stop_locked(t, listing) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&t->wake, &t->lock, &until);
	rc = stop_locked(t, listing) ? -ECANCELED : 0;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void cloud_target_interrupt(struct cloud_target *t)
{
	pthread_mutex_lock(&t->lock);
	t->interrupted = true;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void cloud_target_interrupt_lists(struct cloud_target *t)
{
	pthread_mutex_lock(&t->lock);
	t->lists_interrupted = true;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

/* ---- opening ---- */

static int open_s3(const char *url, const struct cloud_options *o,
		   struct cloud_target **out)
{
	const char *b = url + strlen("s3://"), *slash = strchr(b, '/');
	char *bucket, *prefix;
	size_t pl;
	int rc;

	bucket = strndup(b, slash ? (size_t)(slash - b) : strlen(b));
	prefix = strdup(slash ? slash + 1 : "");
	if (!bucket || !prefix) {
		rc = -ENOMEM;
		goto out_free;
	}
	/* Strip the slashes around the prefix: objects are PREFIX/... */
	pl = strlen(prefix);
	while (pl > 0 && prefix[pl - 1] == '/')
		prefix[--pl] = '\0';
	if (!bucket[0] || prefix[0] == '/') {
		log_error("invalid cloud url '%s': expected s3://BUCKET/PREFIX",
			  url);
		rc = -EINVAL;
		goto out_free;
	}
	rc = cloud_s3_open(bucket, prefix, o, url, out);
out_free:
	free(bucket);
	free(prefix);
	return rc;
}

int cloud_target_open(const char *url, const struct cloud_options *o,
		      struct cloud_target **out)
{
	struct cloud_options defaults;

	if (!o) {
		cloud_options_default(&defaults);
		o = &defaults;
	}
	if (!url) {
		log_error("invalid cloud url: none given");
		return -EINVAL;
	}
	if (!strncmp(url, "s3://", 5))
		return open_s3(url, o, out);
	if (!strncmp(url, "dir:", 4) && url[4])
		return cloud_dir_open(url + 4, o, url, out);
	log_error("invalid cloud url '%s': expected s3://BUCKET/PREFIX or "
		  "dir:/PATH",
		  url);
	return -EINVAL;
}

void cloud_target_free(struct cloud_target *t)
{
	if (t)
		t->ops->destroy(t);
}

const char *cloud_target_url(const struct cloud_target *t)
{
	return t->url;
}

/* ---- dispatch ---- */

static int check_names(const char *space, const char *key)
{
	if (!cloud_name_valid(space) || !cloud_name_valid(key))
		return -EINVAL;
	return 0;
}

int cloud_target_put(struct cloud_target *t, const char *space, const char *key,
		     const void *buf, size_t len, uint64_t seq)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	return t->ops->put(t, space, key, buf, len, seq);
}

int cloud_target_put_new(struct cloud_target *t, const char *space,
			 const char *key, const void *buf, size_t len,
			 uint64_t seq)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	if (!t->ops->put_new) /* a kind that cannot tell: replaces */
		return t->ops->put(t, space, key, buf, len, seq);
	return t->ops->put_new(t, space, key, buf, len, seq);
}

int cloud_target_get(struct cloud_target *t, const char *space, const char *key,
		     void **buf, size_t *len, uint64_t *seq)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	return t->ops->get(t, space, key, buf, len, seq);
}

int cloud_target_head(struct cloud_target *t, const char *space,
		      const char *key, struct cloud_object_info *info)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	return t->ops->head(t, space, key, info);
}

int cloud_target_put_doc(struct cloud_target *t, const char *space,
			 const char *key, const void *body, size_t len,
			 const struct cloud_doc_meta *meta)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	return t->ops->put_doc(t, space, key, body, len, meta);
}

int cloud_target_get_doc(struct cloud_target *t, const char *space,
			 const char *key, void **body, size_t *len,
			 struct cloud_doc_meta *meta)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	/* A server may serve a body that is not the one its metadata
	 * describes (an overwrite in progress; s3rver does, now and then):
	 * read once more, then it is a malformed object.  Legacy archives
	 * carry their own checksum. */
	for (int tries = 0;; tries++) {
		char sum[65];

		memset(meta, 0, sizeof(*meta));
		rc = t->ops->get_doc(t, space, key, body, len, meta);
		if (rc || meta->legacy)
			return rc;
		cloud_doc_checksum(*body, *len, sum);
		if (!strcmp(sum, meta->sha256))
			return 0;
		free(*body);
		*body = NULL;
		*len = 0;
		if (tries == 1) {
			char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

			log_error("cannot get '%s/%s' from '%s': its body does "
				  "not match its checksum",
				  log_escape_name(space, es),
				  log_escape_name(key, ek), t->url);
			return -EBADMSG;
		}
	}
}

int cloud_target_head_doc(struct cloud_target *t, const char *space,
			  const char *key, struct cloud_doc_meta *meta,
			  uint64_t *size)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	memset(meta, 0, sizeof(*meta));
	return t->ops->head_doc(t, space, key, meta, size);
}

void cloud_doc_checksum(const void *buf, size_t len, char out[65])
{
	sigv4_sha256_hex(buf ? buf : "", len, out);
}

int cloud_target_delete(struct cloud_target *t, const char *space,
			const char *key)
{
	int rc = check_names(space, key);

	if (rc)
		return rc;
	return t->ops->del(t, space, key);
}

int cloud_target_list(struct cloud_target *t, const char *space,
		      const char *token, char **next, cloud_name_fn fn,
		      void *arg)
{
	*next = NULL;
	if (space && !cloud_name_valid(space))
		return -EINVAL;
	return t->ops->list(t, space, token, next, fn, arg);
}

/* One listing in progress: its bounds and what it has seen. */
struct list_walk {
	struct cloud_target *t;
	const char *space;
	cloud_name_fn fn;
	void *arg;
	uint64_t names, bytes;
	uint64_t *tokens; /* hashes of the tokens seen */
	size_t ntokens;
};

static uint64_t token_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static void log_list(const struct list_walk *w, const char *why)
{
	log_error("cannot list '%s'%s%s%s: %s", w->t->url,
		  w->space ? " (space '" : "", w->space ? w->space : "",
		  w->space ? "')" : "", why);
}

static int walk_name(void *arg, const char *name)
{
	struct list_walk *w = arg;

	w->names++;
	w->bytes += strlen(name);
	if (w->names > w->t->list_max_names ||
	    w->bytes > w->t->list_max_bytes) {
		log_list(w, "more names than a listing may hold, giving up");
		return -E2BIG;
	}
	return w->fn(w->arg, name);
}

/* Whether token was seen before in this listing; remembers it. */
static int token_seen(struct list_walk *w, const char *token, bool *seen)
{
	uint64_t h = token_hash(token), *grown;

	for (size_t i = 0; i < w->ntokens; i++) {
		if (w->tokens[i] == h) {
			*seen = true;
			return 0;
		}
	}
	grown = realloc(w->tokens, (w->ntokens + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	w->tokens = grown;
	w->tokens[w->ntokens++] = h;
	*seen = false;
	return 0;
}

int cloud_target_list_all(struct cloud_target *t, const char *space,
			  cloud_name_fn fn, void *arg)
{
	struct list_walk w = { t, NULL, fn, arg, 0, 0, NULL, 0 };
	char *token = NULL, *next = NULL;
	uint32_t pages = 0;
	char esc[LOG_NAME_ESC_MAX];
	bool seen = false;
	int rc;

	if (space) {
		log_escape_name(space, esc);
		w.space = esc;
	}
	do {
		if (cloud_target_lists_interrupted(t)) {
			rc = -ECANCELED;
			log_list(&w, "interrupted");
			break;
		}
		if (++pages > t->list_max_pages) {
			rc = -E2BIG;
			log_list(&w, "more pages than a listing may have, "
				     "giving up");
			break;
		}
		rc = cloud_target_list(t, space, token, &next, walk_name, &w);
		free(token);
		token = next;
		next = NULL;
		if (!rc && token)
			rc = token_seen(&w, token, &seen);
		if (!rc && seen) {
			rc = -EBADMSG;
			log_list(&w,
				 "the server repeated a continuation token");
		}
	} while (!rc && token);
	free(token);
	free(w.tokens);
	return rc;
}
