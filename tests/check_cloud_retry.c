/*
 * check_cloud_retry.c - the retry policy, the errno mapping and the S3
 * request path, over a scripted fake transport (the seam of
 * cloud/http.h): backoff bounds, which outcomes are retried, the errno
 * each gives, one log line per failure, interruption, and the shape of
 * what is sent (URL, signature headers, Content-MD5, x-amz-meta-seq).
 */
#include "config.h"

#include "cloud/http.h"
#include "cloud/retry.h"
#include "cloud/sigv4.h"
#include "cloud/target.h"
#include "util/strlist.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAKE_STEPS 128
#define FAKE_KEEP 16

struct fake_step {
	int curl_rc;
	long status;
	const char *headers; /* extra header lines, "\r\n"-separated */
	const char *body;
};

struct fake_http {
	struct cloud_http base;
	struct fake_step steps[FAKE_STEPS];
	size_t nsteps;
	size_t calls;
	/* The last FAKE_KEEP requests. */
	struct {
		char method[8];
		char *url;
		char *headers; /* '\n'-joined */
		char *body;
		size_t body_len;
	} seen[FAKE_KEEP];
};

static void fake_forget(struct fake_http *f, size_t slot)
{
	free(f->seen[slot].url);
	free(f->seen[slot].headers);
	free(f->seen[slot].body);
	memset(&f->seen[slot], 0, sizeof(f->seen[slot]));
}

static int fake_perform(struct cloud_http *h,
			const struct cloud_http_request *rq,
			struct cloud_http_response *rs)
{
	struct fake_http *f = (struct fake_http *)h;
	size_t slot = f->calls % FAKE_KEEP, hl = 1;
	const struct fake_step *st;
	char *hb;

	fake_forget(f, slot);
	snprintf(f->seen[slot].method, sizeof(f->seen[slot].method), "%s",
		 rq->method);
	f->seen[slot].url = strdup(rq->url);
	for (size_t i = 0; i < rq->headers_len; i++)
		hl += strlen(rq->headers[i]) + 1;
	hb = calloc(1, hl);
	for (size_t i = 0; i < rq->headers_len; i++) {
		strcat(hb, rq->headers[i]);
		strcat(hb, "\n");
	}
	f->seen[slot].headers = hb;
	f->seen[slot].body = malloc(rq->body_len + 1);
	if (rq->body_len)
		memcpy(f->seen[slot].body, rq->body, rq->body_len);
	f->seen[slot].body[rq->body_len] = '\0';
	f->seen[slot].body_len = rq->body_len;

	ck_assert_uint_gt(f->nsteps, 0);
	st = &f->steps[f->calls < f->nsteps ? f->calls : f->nsteps - 1];
	f->calls++;
	memset(rs, 0, sizeof(*rs));
	if (st->curl_rc) {
		snprintf(rs->error, sizeof(rs->error), "fake curl error %d",
			 st->curl_rc);
		return st->curl_rc;
	}
	rs->status = st->status;
	{
		const char *extra = st->headers ? st->headers : "";
		size_t n = strlen(extra) + 64;

		rs->headers = malloc(n);
		snprintf(rs->headers, n, "HTTP/1.1 %ld X\r\n%s\r\n", st->status,
			 extra);
		rs->headers_len = strlen(rs->headers);
	}
	rs->body = strdup(st->body ? st->body : "");
	rs->body_len = strlen(rs->body);
	return 0;
}

static void fake_destroy(struct cloud_http *h)
{
	struct fake_http *f = (struct fake_http *)h;

	for (size_t i = 0; i < FAKE_KEEP; i++)
		fake_forget(f, i);
}

static void fake_init(struct fake_http *f)
{
	memset(f, 0, sizeof(*f));
	f->base.perform = fake_perform;
	f->base.destroy = fake_destroy;
}

static void fake_push(struct fake_http *f, int curl_rc, long status,
		      const char *headers, const char *body)
{
	ck_assert_uint_lt(f->nsteps, FAKE_STEPS);
	f->steps[f->nsteps].curl_rc = curl_rc;
	f->steps[f->nsteps].status = status;
	f->steps[f->nsteps].headers = headers;
	f->steps[f->nsteps].body = body;
	f->nsteps++;
}

/* The n-th most recent request (0: the last). */
#define FAKE_SEEN(f, n) ((f)->seen[((f)->calls - 1 - (n)) % FAKE_KEEP])

/* ---- sleeping ---- */

struct fake_sleep {
	uint32_t ms[4096];
	size_t n;
	struct cloud_target *interrupt_target;
	size_t interrupt_after;
};

static void fake_sleep_fn(void *arg, uint32_t ms)
{
	struct fake_sleep *s = arg;

	if (s->n < sizeof(s->ms) / sizeof(s->ms[0]))
		s->ms[s->n] = ms;
	s->n++;
	if (s->interrupt_target && s->n >= s->interrupt_after)
		cloud_target_interrupt(s->interrupt_target);
}

/* ---- stderr capture ---- */

static int capture_saved = -1;
static char capture_path[64];

static void capture_start(void)
{
	int fd;

	strcpy(capture_path, "/tmp/caravan-cloud-log-XXXXXX");
	fd = mkstemp(capture_path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	capture_saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Stop capturing; the text written meanwhile (free with free()). */
static char *capture_end(void)
{
	FILE *f;
	char *buf;
	long n;

	fflush(stderr);
	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	f = fopen(capture_path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(capture_path);
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *l = s; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char *line = strndup(l, len);

		if (strstr(line, needle))
			n++;
		free(line);
		if (!e)
			break;
		l = e + 1;
	}
	return n;
}

/* ---- fixtures ---- */

static struct fake_http fake;
static struct fake_sleep sleeps;

static struct cloud_target *open_s3(const char *url, uint32_t attempts,
				    const char *endpoint, bool path_style)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;

	fake_init(&fake);
	memset(&sleeps, 0, sizeof(sleeps));
	ck_assert_int_eq(cloud_creds_set(&creds, "AKIDTEST",
					 "SECRETSECRETSECRET", NULL),
			 0);
	cloud_options_default(&o);
	o.s3_region = "eu-west-1";
	o.s3_endpoint = endpoint;
	o.s3_path_style = path_style;
	o.creds = &creds;
	o.http = &fake.base;
	o.sleep_ms = fake_sleep_fn;
	o.sleep_arg = &sleeps;
	o.jitter_seed = 42;
	o.retry.base_ms = 100;
	o.retry.cap_ms = 2000;
	o.retry.max_attempts = attempts;
	ck_assert_int_eq(cloud_target_open(url, &o, &t), 0);
	cloud_creds_release(&creds);
	return t;
}

static void close_s3(struct cloud_target *t)
{
	cloud_target_free(t);
	fake_destroy(&fake.base);
}

/* ---- the policy ---- */

START_TEST(test_backoff_bound_doubles_up_to_the_cap)
{
	struct cloud_retry_policy p = { 100, 5000, 6 };

	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 0), 100);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 1), 200);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 5), 3200);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 6), 5000);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 31), 5000);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, 64), 5000);
	ck_assert_uint_eq(cloud_backoff_bound_ms(&p, UINT32_MAX), 5000);
}
END_TEST

START_TEST(test_backoff_is_full_jitter_within_bounds)
{
	struct cloud_retry_policy p = { 100, 5000, 6 };
	uint64_t rng = 7;

	for (uint32_t a = 0; a < 10; a++) {
		uint32_t bound = cloud_backoff_bound_ms(&p, a), lo = bound,
			 hi = 0;
		double sum = 0;
		const int n = 20000;

		for (int i = 0; i < n; i++) {
			uint32_t d = cloud_backoff_ms(&p, a, &rng);

			ck_assert_uint_le(d, bound);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += d;
		}
		/* Uniform on [0, bound]: spans the range, mean near half. */
		ck_assert_uint_le(lo, bound / 50);
		ck_assert_uint_ge(hi, bound - bound / 50);
		ck_assert(sum / n > bound * 0.45 && sum / n < bound * 0.55);
	}
}
END_TEST

START_TEST(test_retry_more_counts_every_attempt_or_never_stops)
{
	struct cloud_retry_policy p = { 100, 5000, 3 };

	ck_assert(cloud_retry_more(&p, 1));
	ck_assert(cloud_retry_more(&p, 2));
	ck_assert(!cloud_retry_more(&p, 3));
	p.max_attempts = CLOUD_RETRY_FOREVER;
	ck_assert(cloud_retry_more(&p, 1000000));
	ck_assert(cloud_retry_more(&p, UINT32_MAX));
}
END_TEST

START_TEST(test_http_status_maps_to_errno)
{
	struct {
		long status;
		const char *code;
		int err;
		bool retry;
	} t[] = {
		{ 200, "", 0, false },
		{ 204, "", 0, false },
		{ 206, "", 0, false },
		{ 404, "NoSuchKey", -ENOENT, false },
		{ 404, "", -ENOENT, false },
		{ 404, "NoSuchBucket", -ENXIO, false },
		{ 403, "AccessDenied", -EACCES, false },
		{ 403, "InvalidAccessKeyId", -EACCES, false },
		{ 403, "SignatureDoesNotMatch", -EACCES, false },
		{ 401, "", -EACCES, false },
		{ 400, "InvalidArgument", -EINVAL, false },
		{ 400, "RequestTimeout", -EIO, true },
		{ 400, "BadDigest", -EIO, true },
		{ 400, "XAmzContentSHA256Mismatch", -EIO, true },
		{ 405, "MethodNotAllowed", -ENOTSUP, false },
		{ 409, "OperationAborted", -EBUSY, false },
		{ 411, "MissingContentLength", -EINVAL, false },
		{ 412, "PreconditionFailed", -EEXIST, false },
		{ 413, "EntityTooLarge", -EFBIG, false },
		{ 408, "", -EIO, true },
		{ 429, "", -EIO, true },
		{ 500, "InternalError", -EIO, true },
		{ 500, "", -EIO, true },
		{ 501, "NotImplemented", -ENOTSUP, false },
		{ 502, "", -EIO, true },
		{ 503, "SlowDown", -EIO, true },
		{ 503, "ServiceUnavailable", -EIO, true },
		{ 504, "", -EIO, true },
		{ 301, "PermanentRedirect", -EIO, false },
		{ 307, "TemporaryRedirect", -EIO, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool retry = !t[i].retry;

		ck_assert_msg(cloud_http_errno(t[i].status, t[i].code,
					       &retry) == t[i].err &&
				      retry == t[i].retry,
			      "status %ld %s", t[i].status, t[i].code);
	}
}
END_TEST

START_TEST(test_curl_codes_map_to_errno)
{
	struct {
		CURLcode c;
		int err;
		bool retry;
	} t[] = {
		{ CURLE_OK, 0, false },
		{ CURLE_COULDNT_CONNECT, -EIO, true },
		{ CURLE_COULDNT_RESOLVE_HOST, -EIO, true },
		{ CURLE_OPERATION_TIMEDOUT, -EIO, true },
		{ CURLE_SEND_ERROR, -EIO, true },
		{ CURLE_RECV_ERROR, -EIO, true },
		{ CURLE_GOT_NOTHING, -EIO, true },
		{ CURLE_PARTIAL_FILE, -EIO, true },
		{ CURLE_SSL_CONNECT_ERROR, -EIO, true },
		{ CURLE_PEER_FAILED_VERIFICATION, -EKEYREJECTED, false },
		{ CURLE_SSL_CACERT_BADFILE, -EKEYREJECTED, false },
		{ CURLE_SSL_CERTPROBLEM, -EKEYREJECTED, false },
		{ CURLE_OUT_OF_MEMORY, -ENOMEM, false },
		{ CURLE_FILESIZE_EXCEEDED, -EFBIG, false },
		{ CURLE_URL_MALFORMAT, -EINVAL, false },
		{ CURLE_UNSUPPORTED_PROTOCOL, -EINVAL, false },
		{ CURLE_ABORTED_BY_CALLBACK, -ECANCELED, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool retry = !t[i].retry;

		ck_assert_msg(cloud_curl_errno((int)t[i].c, &retry) ==
					      t[i].err &&
				      retry == t[i].retry,
			      "curl code %d", (int)t[i].c);
	}
}
END_TEST

/* ---- retries through the S3 target ---- */

static const struct {
	int curl_rc;
	long status;
	const char *body;
} transient[] = {
	{ 0, 500, "" },
	{ 0, 502, "" },
	{ 0, 503, "" },
	{ 0, 504, "" },
	{ 0, 429, "" },
	{ 0, 503,
	  "<Error><Code>SlowDown</Code><Message>Reduce your request "
	  "rate.</Message></Error>" },
	{ 0, 400,
	  "<?xml version=\"1.0\"?><Error><Code>RequestTimeout</Code>"
	  "</Error>" },
	{ 0, 500, "<Error><Code>InternalError</Code></Error>" },
	{ CURLE_COULDNT_CONNECT, 0, NULL },
	{ CURLE_COULDNT_RESOLVE_HOST, 0, NULL },
	{ CURLE_OPERATION_TIMEDOUT, 0, NULL },
	{ CURLE_SEND_ERROR, 0, NULL },
	{ CURLE_RECV_ERROR, 0, NULL },
	{ CURLE_GOT_NOTHING, 0, NULL },
};

START_TEST(test_transient_failure_is_retried_then_succeeds)
{
	struct cloud_target *t = open_s3("s3://bucket/pfx", 5, NULL, false);
	char *log;

	fake_push(&fake, transient[_i].curl_rc, transient[_i].status, NULL,
		  transient[_i].body);
	fake_push(&fake, transient[_i].curl_rc, transient[_i].status, NULL,
		  transient[_i].body);
	fake_push(&fake, 0, 200, NULL, "");
	capture_start();
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3), 0);
	log = capture_end();
	ck_assert_uint_eq(fake.calls, 3);
	ck_assert_uint_eq(sleeps.n, 2);
	ck_assert_uint_le(sleeps.ms[0], 100);
	ck_assert_uint_le(sleeps.ms[1], 200);
	/* One warning per failed attempt, naming the object. */
	ck_assert_int_eq(
		count_lines(log, "warning: cannot put 's3://bucket/pfx/s/k'"),
		2);
	ck_assert_int_eq(count_lines(log, "error:"), 0);
	free(log);
	close_s3(t);
}
END_TEST

START_TEST(test_exhausted_retries_give_eio_with_one_error_line)
{
	struct cloud_target *t = open_s3("s3://bucket/pfx", 4, NULL, false);
	char *log;

	fake_push(&fake, 0, 503, NULL, "<Error><Code>SlowDown</Code></Error>");
	capture_start();
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3), -EIO);
	log = capture_end();
	ck_assert_uint_eq(fake.calls, 4);
	ck_assert_uint_eq(sleeps.n, 3);
	for (size_t i = 0; i < sleeps.n; i++)
		ck_assert_uint_le(sleeps.ms[i], 100u << i);
	ck_assert_int_eq(
		count_lines(log, "warning: cannot put 's3://bucket/pfx/s/k': "
				 "http 503 SlowDown"),
		3);
	ck_assert_int_eq(count_lines(log,
				     "error: cannot put 's3://bucket/pfx/s/k': "
				     "http 503 SlowDown, giving up after 4"),
			 1);
	free(log);
	close_s3(t);
}
END_TEST

START_TEST(test_client_errors_are_not_retried)
{
	struct {
		long status;
		const char *body;
		int err;
	} c[] = {
		{ 403, "<Error><Code>AccessDenied</Code></Error>", -EACCES },
		{ 403, "<Error><Code>InvalidAccessKeyId</Code></Error>",
		  -EACCES },
		{ 400, "<Error><Code>InvalidArgument</Code></Error>", -EINVAL },
		{ 404, "<Error><Code>NoSuchBucket</Code></Error>", -ENXIO },
		{ 413, "<Error><Code>EntityTooLarge</Code></Error>", -EFBIG },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct cloud_target *t =
			open_s3("s3://bucket/pfx", 5, NULL, false);
		char *log;

		fake_push(&fake, 0, c[i].status, NULL, c[i].body);
		capture_start();
		ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3),
				 c[i].err);
		log = capture_end();
		ck_assert_uint_eq(fake.calls, 1);
		ck_assert_uint_eq(sleeps.n, 0);
		ck_assert_int_eq(count_lines(log,
					     "error: cannot put "
					     "'s3://bucket/pfx/s/k': http"),
				 1);
		free(log);
		close_s3(t);
	}
}
END_TEST

START_TEST(test_missing_object_is_enoent_and_not_logged)
{
	struct cloud_target *t = open_s3("s3://bucket/pfx", 5, NULL, false);
	struct cloud_object_info info;
	void *buf;
	size_t len;
	uint64_t seq;
	char *log;

	fake_push(&fake, 0, 404, NULL, "<Error><Code>NoSuchKey</Code></Error>");
	capture_start();
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq),
			 -ENOENT);
	ck_assert_int_eq(cloud_target_head(t, "s", "k", &info), -ENOENT);
	ck_assert_int_eq(cloud_target_delete(t, "s", "k"), 0);
	log = capture_end();
	ck_assert_uint_eq(fake.calls, 3);
	ck_assert_str_eq(log, "");
	free(log);
	close_s3(t);
}
END_TEST

START_TEST(test_forever_mode_never_gives_up)
{
	struct cloud_target *t =
		open_s3("s3://bucket/pfx", CLOUD_RETRY_FOREVER, NULL, false);
	char *log;

	for (int i = 0; i < 60; i++)
		fake_push(&fake, i % 2 ? CURLE_COULDNT_CONNECT : 0, 503, NULL,
			  "");
	fake_push(&fake, 0, 200, NULL, "");
	capture_start();
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3), 0);
	log = capture_end();
	ck_assert_uint_eq(fake.calls, 61);
	ck_assert_uint_eq(sleeps.n, 60);
	for (size_t i = 0; i < sleeps.n; i++)
		ck_assert_uint_le(sleeps.ms[i], 2000);
	ck_assert_int_eq(count_lines(log, "warning:"), 60);
	free(log);
	close_s3(t);
}
END_TEST

START_TEST(test_interrupt_ends_a_forever_retry)
{
	struct cloud_target *t =
		open_s3("s3://bucket/pfx", CLOUD_RETRY_FOREVER, NULL, false);
	char *log;

	fake_push(&fake, 0, 503, NULL, "");
	sleeps.interrupt_target = t;
	sleeps.interrupt_after = 5;
	capture_start();
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3), -ECANCELED);
	/* Later calls give up before their first attempt. */
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "{}", 2, 3), -ECANCELED);
	log = capture_end();
	ck_assert_uint_eq(fake.calls, 5);
	ck_assert_int_eq(count_lines(log, "interrupted"), 2);
	free(log);
	close_s3(t);
}
END_TEST

struct interrupter {
	struct cloud_target *t;
};

static void *interrupt_soon(void *arg)
{
	struct interrupter *x = arg;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	cloud_target_interrupt(x->t);
	return NULL;
}

START_TEST(test_real_sleep_wakes_on_interrupt)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	struct interrupter x;
	struct timespec a, b;
	pthread_t th;
	char *log;

	fake_init(&fake);
	fake_push(&fake, 0, 503, NULL, "");
	cloud_creds_set(&creds, "AKIDTEST", "SECRET", NULL);
	cloud_options_default(&o);
	o.creds = &creds;
	o.http = &fake.base;
	o.retry.base_ms = 60000;
	o.retry.cap_ms = 60000;
	o.retry.max_attempts = 3;
	o.jitter_seed = 1;
	ck_assert_int_eq(cloud_target_open("s3://bucket", &o, &t), 0);
	cloud_creds_release(&creds);
	x.t = t;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_create(&th, NULL, interrupt_soon, &x);
	capture_start();
	/* The jittered delay may be 0: keep failing until interrupted. */
	ck_assert_int_eq(
		cloud_target_put(t, "s", "k", "", 0, 1) == -ECANCELED ||
			cloud_target_put(t, "s", "k", "", 0, 1) == -ECANCELED,
		1);
	log = capture_end();
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(th, NULL);
	ck_assert_int_lt(b.tv_sec - a.tv_sec, 5);
	free(log);
	close_s3(t);
}
END_TEST

/* ---- what is sent ---- */

static bool has_line(const char *headers, const char *line)
{
	char *want;
	bool found;

	ck_assert_int_ge(asprintf(&want, "%s\n", line), 0);
	found = !strncmp(headers, want, strlen(want)) || strstr(headers, want);
	free(want);
	return found;
}

START_TEST(test_put_sends_signed_payload_md5_and_seq)
{
	struct cloud_target *t =
		open_s3("s3://bucket/pfx/sub/", 5, NULL, false);
	const char *body = "{\"a\":1}";
	char hash[65], line[200];

	fake_push(&fake, 0, 200, NULL, "");
	ck_assert_int_eq(cloud_target_put(t, "my space", "k#1", body,
					  strlen(body), 42),
			 0);
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).method, "PUT");
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).url,
			 "https://bucket.s3.eu-west-1.amazonaws.com/pfx/sub/"
			 "my%2520space/k%25231");
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).body, body);
	sigv4_sha256_hex(body, strlen(body), hash);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	ck_assert(has_line(FAKE_SEEN(&fake, 0).headers, line));
	/* base64(MD5("{"a":1}")), computed with openssl dgst -md5 -binary. */
	ck_assert(has_line(FAKE_SEEN(&fake, 0).headers,
			   "Content-MD5: u2y1xo30ZSlByvZSo2by2A=="));
	ck_assert(has_line(FAKE_SEEN(&fake, 0).headers, "x-amz-meta-seq: 42"));
	ck_assert(has_line(FAKE_SEEN(&fake, 0).headers,
			   "Host: bucket.s3.eu-west-1.amazonaws.com"));
	ck_assert_ptr_nonnull(strstr(FAKE_SEEN(&fake, 0).headers,
				     "Authorization: AWS4-HMAC-SHA256 "
				     "Credential=AKIDTEST/"));
	ck_assert_ptr_nonnull(
		strstr(FAKE_SEEN(&fake, 0).headers,
		       "/eu-west-1/s3/aws4_request, SignedHeaders="
		       "content-md5;host;x-amz-content-sha256;"
		       "x-amz-date;x-amz-meta-seq, Signature="));
	ck_assert_ptr_null(strstr(FAKE_SEEN(&fake, 0).headers, "SECRET"));
	close_s3(t);
}
END_TEST

START_TEST(test_path_style_endpoint_puts_bucket_in_path)
{
	struct cloud_target *t =
		open_s3("s3://bucket", 5, "http://127.0.0.1:9000/", true);

	fake_push(&fake, 0, 200, NULL, "");
	ck_assert_int_eq(cloud_target_delete(t, "s p", "\xc3\xbc"), 0);
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).method, "DELETE");
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).url,
			 "http://127.0.0.1:9000/bucket/s%2520p/%25C3%25BC");
	ck_assert(
		has_line(FAKE_SEEN(&fake, 0).headers, "Host: 127.0.0.1:9000"));
	close_s3(t);
}
END_TEST

START_TEST(test_session_token_is_sent_and_signed)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	char *log;

	fake_init(&fake);
	cloud_creds_set(&creds, "AKIDTEST", "SECRETSECRETSECRET",
			"TOKENTOKENTOKEN");
	cloud_options_default(&o);
	o.creds = &creds;
	o.http = &fake.base;
	o.sleep_ms = fake_sleep_fn;
	o.sleep_arg = &sleeps;
	o.retry.max_attempts = 2;
	ck_assert_int_eq(cloud_target_open("s3://bucket", &o, &t), 0);
	cloud_creds_release(&creds);
	fake_push(&fake, 0, 500, NULL,
		  "<Error><Code>InternalError</Code></Error>");
	capture_start();
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "x", 1, 1), -EIO);
	log = capture_end();
	ck_assert(has_line(FAKE_SEEN(&fake, 0).headers,
			   "x-amz-security-token: TOKENTOKENTOKEN"));
	ck_assert_ptr_nonnull(strstr(FAKE_SEEN(&fake, 0).headers,
				     ";x-amz-security-token, Signature="));
	/* Failures were logged, secrets never. */
	ck_assert_int_eq(count_lines(log, "cannot put"), 2);
	ck_assert_ptr_null(strstr(log, "SECRET"));
	ck_assert_ptr_null(strstr(log, "TOKEN"));
	ck_assert_ptr_null(strstr(log, "Signature"));
	free(log);
	close_s3(t);
}
END_TEST

START_TEST(test_get_returns_body_and_seq)
{
	struct cloud_target *t = open_s3("s3://bucket/p", 5, NULL, false);
	struct cloud_object_info info;
	void *buf = NULL;
	size_t len;
	uint64_t seq = 0;
	char *log;

	fake_push(&fake, 0, 200, "x-amz-meta-seq: 18446744073709551615\r\n",
		  "archive-bytes");
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq), 0);
	ck_assert_uint_eq(len, 13);
	ck_assert(!memcmp(buf, "archive-bytes", 13));
	ck_assert(seq == UINT64_MAX);
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).method, "GET");
	free(buf);
	fake.nsteps = 0;
	fake.calls = 0;
	fake_push(&fake, 0, 200,
		  "Content-Length: 77\r\nX-Amz-Meta-Seq:  9 \r\n", "");
	ck_assert_int_eq(cloud_target_head(t, "s", "k", &info), 0);
	ck_assert_uint_eq(info.seq, 9);
	ck_assert_uint_eq(info.size_bytes, 77);
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).method, "HEAD");
	/* A missing, negative or overflowing seq is a malformed answer. */
	{
		const char *bad[] = {
			"", "x-amz-meta-seq: -1\r\n",
			"x-amz-meta-seq: 18446744073709551616\r\n",
			"x-amz-meta-seq: 12a\r\n", "x-amz-meta-seq:\r\n"
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			fake.nsteps = 0;
			fake.calls = 0;
			fake_push(&fake, 0, 200, bad[i], "x");
			capture_start();
			ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf,
							  &len, &seq),
					 -EBADMSG);
			log = capture_end();
			ck_assert_int_eq(count_lines(log, "x-amz-meta-seq"), 1);
			free(log);
		}
	}
	close_s3(t);
}
END_TEST

START_TEST(test_list_follows_continuation_and_decodes_names)
{
	struct cloud_target *t = open_s3("s3://bucket/pfx", 5, NULL, false);
	struct strlist got = STRLIST_INIT;

	fake_push(
		&fake, 0, 200, NULL,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/"
		"2006-03-01/\"><Name>bucket</Name><Prefix>pfx/my%20sp/</Prefix>"
		"<KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>"
		"<IsTruncated>true</IsTruncated>"
		"<Contents><Key>pfx/my%20sp/a%26b</Key><Size>3</Size></Contents>"
		"<Contents><Key>pfx/my%20sp/not%zzours</Key></Contents>"
		"<Contents><Key>pfx/my%20sp/%C3%BC</Key></Contents>"
		"<NextContinuationToken>1ueGc/x+y=</NextContinuationToken>"
		"</ListBucketResult>");
	fake_push(&fake, 0, 200, NULL,
		  "<ListBucketResult><IsTruncated>false</IsTruncated>"
		  "<Contents><Key>pfx/my%20sp/z</Key></Contents>"
		  "<Contents><Key>other/z</Key></Contents>"
		  "</ListBucketResult>");
	ck_assert_int_eq(
		cloud_target_list_all(t, "my sp", strlist_collect, &got), 0);
	ck_assert_int_eq(got.n, 3);
	ck_assert_str_eq(got.v[0], "a&b");
	ck_assert_str_eq(got.v[1], "\xc3\xbc");
	ck_assert_str_eq(got.v[2], "z");
	strlist_release(&got);
	ck_assert_uint_eq(fake.calls, 2);
	ck_assert_str_eq(
		FAKE_SEEN(&fake, 1).url,
		"https://bucket.s3.eu-west-1.amazonaws.com/?delimiter=%2F&"
		"list-type=2&max-keys=1000&prefix=pfx%2Fmy%2520sp%2F");
	ck_assert_str_eq(FAKE_SEEN(&fake, 0).url,
			 "https://bucket.s3.eu-west-1.amazonaws.com/?"
			 "continuation-token=1ueGc%2Fx%2By%3D&delimiter=%2F&"
			 "list-type=2&max-keys=1000&prefix=pfx%2Fmy%2520sp%2F");
	close_s3(t);
}
END_TEST

START_TEST(test_list_of_spaces_reads_common_prefixes)
{
	struct cloud_target *t = open_s3("s3://bucket", 5, NULL, false);
	struct strlist got = STRLIST_INIT;

	fake_push(&fake, 0, 200, NULL,
		  "<ListBucketResult><IsTruncated>false</IsTruncated>"
		  "<Contents><Key>loose-object</Key></Contents>"
		  "<CommonPrefixes><Prefix>alpha/</Prefix></CommonPrefixes>"
		  "<CommonPrefixes><Prefix>b%2Fc/</Prefix></CommonPrefixes>"
		  "<CommonPrefixes><Prefix>sp%20ace/</Prefix></CommonPrefixes>"
		  "</ListBucketResult>");
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &got),
			 0);
	/* "b%2Fc" would decode to a name with '/': not one of ours. */
	ck_assert_int_eq(got.n, 2);
	ck_assert_str_eq(got.v[0], "alpha");
	ck_assert_str_eq(got.v[1], "sp ace");
	strlist_release(&got);
	close_s3(t);
}
END_TEST

START_TEST(test_malformed_list_response_is_ebadmsg)
{
	const char *bad[] = {
		"",
		"not xml",
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"</ListBucketResult>", /* truncated without a token */
		"<ListBucketResult><Contents><Key>a</Key></Contents>",
		"<Other/>",
		"<ListBucketResult><IsTruncated>maybe</IsTruncated>"
		"</ListBucketResult>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cloud_target *t = open_s3("s3://bucket", 5, NULL, false);
		struct strlist got = STRLIST_INIT;
		char *log;

		fake_push(&fake, 0, 200, NULL, bad[i]);
		capture_start();
		ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect,
						       &got),
				 -EBADMSG);
		log = capture_end();
		ck_assert_int_eq(count_lines(log, "malformed"), 1);
		free(log);
		strlist_release(&got);
		close_s3(t);
	}
}
END_TEST

START_TEST(test_bad_names_are_refused_before_any_request)
{
	struct cloud_target *t = open_s3("s3://bucket", 5, NULL, false);
	char long_name[300];
	void *buf;
	size_t len;
	uint64_t seq;

	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	fake_push(&fake, 0, 200, NULL, "");
	ck_assert_int_eq(cloud_target_put(t, "a/b", "k", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_put(t, "s", "..", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_put(t, ".", "k", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_put(t, "", "k", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_get(t, "s", long_name, &buf, &len, &seq),
			 -EINVAL);
	ck_assert_int_eq(cloud_target_delete(t, "s", NULL), -EINVAL);
	ck_assert_uint_eq(fake.calls, 0);
	close_s3(t);
}
END_TEST

START_TEST(test_open_refuses_bad_urls_and_endpoints)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	const char *urls[] = { "s3://", "s3:///pfx", "ftp://x",		 "dir:",
			       "",	"s3://a",    "s3://bad bucket/x" };
	const char *endpoints[] = { "ftp://host", "http://", "http://h/path",
				    "https://user@h" };
	char *log;

	cloud_creds_set(&creds, "AKIDTEST", "SECRET", NULL);
	cloud_options_default(&o);
	o.creds = &creds;
	capture_start();
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		ck_assert_msg(cloud_target_open(urls[i], &o, &t) == -EINVAL,
			      "accepted '%s'", urls[i]);
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		o.s3_endpoint = endpoints[i];
		ck_assert_msg(cloud_target_open("s3://bucket", &o, &t) ==
				      -EINVAL,
			      "accepted endpoint '%s'", endpoints[i]);
	}
	log = capture_end();
	ck_assert_int_eq(count_lines(log, "error: invalid"),
			 (int)(sizeof(urls) / sizeof(urls[0]) +
			       sizeof(endpoints) / sizeof(endpoints[0])));
	free(log);
	cloud_creds_release(&creds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_retry");
	TCase *policy = tcase_create("policy");
	TCase *retry = tcase_create("retry");
	TCase *wire = tcase_create("wire");
	SRunner *sr;
	int failed;

	tcase_add_test(policy, test_backoff_bound_doubles_up_to_the_cap);
	tcase_add_test(policy, test_backoff_is_full_jitter_within_bounds);
	tcase_add_test(policy,
		       test_retry_more_counts_every_attempt_or_never_stops);
	tcase_add_test(policy, test_http_status_maps_to_errno);
	tcase_add_test(policy, test_curl_codes_map_to_errno);
	tcase_add_loop_test(retry,
			    test_transient_failure_is_retried_then_succeeds, 0,
			    (int)(sizeof(transient) / sizeof(transient[0])));
	tcase_add_test(retry,
		       test_exhausted_retries_give_eio_with_one_error_line);
	tcase_add_test(retry, test_client_errors_are_not_retried);
	tcase_add_test(retry, test_missing_object_is_enoent_and_not_logged);
	tcase_add_test(retry, test_forever_mode_never_gives_up);
	tcase_add_test(retry, test_interrupt_ends_a_forever_retry);
	tcase_add_test(retry, test_real_sleep_wakes_on_interrupt);
	tcase_add_test(wire, test_put_sends_signed_payload_md5_and_seq);
	tcase_add_test(wire, test_path_style_endpoint_puts_bucket_in_path);
	tcase_add_test(wire, test_session_token_is_sent_and_signed);
	tcase_add_test(wire, test_get_returns_body_and_seq);
	tcase_add_test(wire, test_list_follows_continuation_and_decodes_names);
	tcase_add_test(wire, test_list_of_spaces_reads_common_prefixes);
	tcase_add_test(wire, test_malformed_list_response_is_ebadmsg);
	tcase_add_test(wire, test_bad_names_are_refused_before_any_request);
	tcase_add_test(wire, test_open_refuses_bad_urls_and_endpoints);
	suite_add_tcase(s, policy);
	suite_add_tcase(s, retry);
	suite_add_tcase(s, wire);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
