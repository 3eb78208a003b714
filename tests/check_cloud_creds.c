/*
 * check_cloud_creds.c - the credential chain (cloud/creds*.c): the
 * parsers of hostile answers (JSON, RFC 3339 times), the shared files
 * and their profiles, the order of the chain, credential_process run for
 * real (/bin/sh scripts in a temporary directory), the container and
 * IMDSv2 protocols over a fake transport that checks every request, and
 * refresh before expiry on a fake clock, also under concurrent signers.
 * Every case that handles a secret checks that the log never shows it.
 */
#include "config.h"

#include "cloud/creds_internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures: a temporary HOME-like directory, a captured log ---- */

static char dir[64];
static int log_fd = -1, saved_err = -1;

static char *path_in(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char *p = path_in(name);
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(p, mode), 0);
	free(p);
}

static void clear_env(void)
{
	static const char *vars[] = {
		"AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN",
		"AWS_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void setup(void)
{
	char *p;

	snprintf(dir, sizeof(dir), "/tmp/caravan-creds-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	clear_env();
	setenv("HOME", dir, 1);
	p = path_in("credentials");
	setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
	free(p);
	p = path_in("config");
	setenv("AWS_CONFIG_FILE", p, 1);
	free(p);
	p = path_in("log");
	log_fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(log_fd, 0);
	free(p);
	saved_err = dup(STDERR_FILENO);
	dup2(log_fd, STDERR_FILENO);
	creds_seams_set(NULL);
}

static void teardown(void)
{
	char cmd[128];

	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(log_fd);
	creds_seams_set(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The log so far (static buffer). */
static const char *log_text(void)
{
	static char text[16384];
	ssize_t n = pread(log_fd, text, sizeof(text) - 1, 0);

	text[n > 0 ? n : 0] = '\0';
	return text;
}

static void assert_logged(const char *what)
{
	const char *t = log_text();

	ck_assert_msg(strstr(t, what), "log lacks '%s': %s", what, t);
}

static void assert_not_logged(const char *what)
{
	const char *t = log_text();

	ck_assert_msg(!strstr(t, what), "log shows '%s': %s", what, t);
}

/* ---- parsers ---- */

START_TEST(test_creds_time_parses_rfc3339_strictly)
{
	int64_t t;

	ck_assert_int_eq(creds_parse_time("2026-12-06T22:21:28Z", &t), 0);
	ck_assert_int_eq(t, 1796595688);
	ck_assert_int_eq(creds_parse_time("2026-12-06T22:21:28.123Z", &t), 0);
	ck_assert_int_eq(t, 1796595688);
	ck_assert_int_eq(creds_parse_time("2026-12-06T23:21:28+01:00", &t), 0);
	ck_assert_int_eq(t, 1796595688);
	ck_assert_int_eq(creds_parse_time("2026-12-06T21:21:28-01:00", &t), 0);
	ck_assert_int_eq(t, 1796595688);
	ck_assert_int_eq(creds_parse_time("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	static const char *bad[] = {
		"",
		"2026-12-06",
		"2026-12-06T22:21:28",
		"2026-12-06 22:21:28Z",
		"2026-13-06T22:21:28Z",
		"2026-02-30T22:21:28Z",
		"2026-12-06T24:00:00Z",
		"2026-12-06T22:21:28ZZ",
		"2026-12-06T22:21:28.Z",
		"2026-12-06T22:21:28+0100",
		"1969-12-31T23:59:59Z",
		"+026-12-06T22:21:28Z",
		"2026-12-06T22:21:28.1234567890Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(creds_parse_time(bad[i], &t) == -EINVAL,
			      "accepted '%s'", bad[i]);
}
END_TEST

static int parse(const char *json, enum creds_json kind, struct cloud_creds *c)
{
	char why[160];

	memset(c, 0, sizeof(*c));
	return creds_parse_json(json, strlen(json), kind, c, why, sizeof(why));
}

START_TEST(test_creds_json_of_credential_process)
{
	struct cloud_creds c;

	ck_assert_int_eq(parse("{\"Version\":1,\"AccessKeyId\":\"AKIDP\","
			       "\"SecretAccessKey\":\"sec/ret+1\","
			       "\"SessionToken\":\"tok==\","
			       "\"Expiration\":\"2026-12-06T22:21:28Z\"}",
			       CREDS_JSON_PROCESS, &c),
			 0);
	ck_assert_str_eq(c.access_key, "AKIDP");
	ck_assert_str_eq(c.secret_key, "sec/ret+1");
	ck_assert_str_eq(c.session_token, "tok==");
	ck_assert_int_eq(c.expiration, 1796595688);
	cloud_creds_release(&c);
	/* long-lived: no token, no expiration */
	ck_assert_int_eq(parse("{\"Version\":1,\"AccessKeyId\":\"AKIDP\","
			       "\"SecretAccessKey\":\"s\"}",
			       CREDS_JSON_PROCESS, &c),
			 0);
	ck_assert_ptr_null(c.session_token);
	ck_assert_int_eq(c.expiration, 0);
	cloud_creds_release(&c);
}
END_TEST

START_TEST(test_creds_json_hostile_answers_are_refused)
{
	static const char *bad_process[] = {
		"",
		"[]",
		"\"AKID\"",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":\"1\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\"}",
		"{\"Version\":1,\"AccessKeyId\":7,\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A B\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\\r\\nX-Evil: 1\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\\u0000B\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\\u00e9\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"tomorrow\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":1796595688}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\",\"SecretAccessKey\":\"s\"}",
		"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"} trailing",
	};
	static const char *bad_meta[] = {
		"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":\"2026-12-06T22:21:28Z\"}",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\"}",
		"{\"AccessKeyId\":\"A\",\"Token\":\"t\",\"Expiration\":\"2026-12-06T22:21:28Z\"}",
	};
	struct cloud_creds c;
	char big[CREDS_KEY_MAX + 80];
	char *huge;

	for (size_t i = 0; i < sizeof(bad_process) / sizeof(bad_process[0]);
	     i++)
		ck_assert_msg(parse(bad_process[i], CREDS_JSON_PROCESS, &c) ==
				      -EBADMSG,
			      "accepted %s", bad_process[i]);
	for (size_t i = 0; i < sizeof(bad_meta) / sizeof(bad_meta[0]); i++)
		ck_assert_msg(parse(bad_meta[i], CREDS_JSON_METADATA, &c) ==
				      -EBADMSG,
			      "accepted %s", bad_meta[i]);
	/* a key id longer than CREDS_KEY_MAX */
	snprintf(
		big, sizeof(big),
		"{\"Version\":1,\"SecretAccessKey\":\"s\",\"AccessKeyId\":\"%0*d\"}",
		CREDS_KEY_MAX + 1, 0);
	ck_assert_int_eq(parse(big, CREDS_JSON_PROCESS, &c), -EBADMSG);
	/* a body past CREDS_RESPONSE_MAX is not even parsed */
	huge = malloc(CREDS_RESPONSE_MAX + 2);
	memset(huge, ' ', CREDS_RESPONSE_MAX + 1);
	huge[CREDS_RESPONSE_MAX + 1] = '\0';
	ck_assert_int_eq(parse(huge, CREDS_JSON_PROCESS, &c), -EBADMSG);
	free(huge);
	/* metadata answers name the token "Token" and need Expiration */
	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"AccessKeyId\":\"A\","
			       "\"SecretAccessKey\":\"s\",\"Token\":\"t\","
			       "\"Expiration\":\"2026-12-06T22:21:28Z\"}",
			       CREDS_JSON_METADATA, &c),
			 0);
	ck_assert_str_eq(c.session_token, "t");
	cloud_creds_release(&c);
}
END_TEST

/* ---- the shared files and the order of the chain ---- */

static void assert_load(const char *profile, const char *key)
{
	struct cloud_creds c;

	ck_assert_int_eq(cloud_creds_load(profile, &c), 0);
	ck_assert_str_eq(c.access_key, key);
	cloud_creds_release(&c);
}

START_TEST(test_creds_profiles_of_both_files)
{
	write_file("credentials",
		   "[default]\naws_access_key_id = AKIDCREDDEF\n"
		   "aws_secret_access_key = s1\n"
		   "[both]\naws_access_key_id = AKIDCREDBOTH\n"
		   "aws_secret_access_key = s2\n",
		   0600);
	write_file("config",
		   "[default]\nregion = eu-west-1\n"
		   "[profile both]\naws_access_key_id = AKIDCONFBOTH\n"
		   "aws_secret_access_key = s3\n"
		   "[profile conf]\naws_access_key_id = AKIDCONF\n"
		   "aws_secret_access_key = s4\n",
		   0644);
	assert_load(NULL, "AKIDCREDDEF");
	assert_load("both", "AKIDCREDBOTH"); /* the credentials file wins */
	assert_load("conf", "AKIDCONF"); /* keys in the config file */
	setenv("AWS_PROFILE", "conf", 1);
	assert_load(NULL, "AKIDCONF");
	assert_load("both", "AKIDCREDBOTH"); /* the argument beats the env */
	/* environment keys come first, whatever the profile */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s5", 1);
	assert_load("both", "AKIDENV");
	/* keys in a config file others can read are not secret: warned */
	assert_logged("unsafe permissions 0644 on credentials file");
	assert_logged("/config'");
	assert_not_logged("s1");
	assert_not_logged("s4");
}
END_TEST

START_TEST(test_creds_named_profile_missing_or_partial_is_enokey)
{
	struct cloud_creds c;

	write_file("credentials",
		   "[half]\naws_access_key_id = AKIDHALF\n"
		   "[empty]\nregion = x\n",
		   0600);
	setenv("AWS_PROFILE", "nosuch", 1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("no aws profile 'nosuch'");
	ck_assert_int_eq(cloud_creds_load("half", &c), -ENOKEY);
	assert_logged("no aws credentials for profile 'half'");
	/* a profile that exists without credentials goes on down the
	 * chain: here to disabled instance metadata */
	ck_assert_int_eq(cloud_creds_load("empty", &c), -ENOKEY);
	assert_logged("instance metadata is disabled");
	assert_not_logged("AKIDHALF");
}
END_TEST

START_TEST(test_creds_configured_container_comes_after_files)
{
	write_file("credentials",
		   "[default]\naws_access_key_id = AKIDFILE\n"
		   "aws_secret_access_key = s\n",
		   0600);
	/* nothing listens there: taking the file must not ask it */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/c", 1);
	assert_load(NULL, "AKIDFILE");
}
END_TEST

/* ---- credential_process, run for real ---- */

static void script(const char *name, const char *body)
{
	char *text;

	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\n%s\n", body), 0);
	write_file(name, text, 0700);
	free(text);
}

static void process_profile(const char *cmd)
{
	char *text;

	ck_assert_int_ge(asprintf(&text,
				  "[profile proc]\ncredential_process = %s\n",
				  cmd),
			 0);
	write_file("config", text, 0644);
	free(text);
	setenv("AWS_PROFILE", "proc", 1);
}

START_TEST(test_creds_process_output_is_used)
{
	struct cloud_creds_provider *p;
	struct cloud_creds c;
	char *cmd;

	/* stdin is /dev/null, the environment is ours, the quoting is the
	 * shell's */
	script("helper", "read x && exit 9\n"
			 "[ \"$1\" = 'an arg' ] || exit 8\n"
			 "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\","
			 " \"SecretAccessKey\": \"procsecret\","
			 " \"SessionToken\": \"proctoken\"}'");
	ck_assert_int_ge(asprintf(&cmd, "%s/helper 'an arg'", dir), 0);
	process_profile(cmd);
	free(cmd);
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &p), 0);
	ck_assert_str_eq(cloud_creds_provider_source(p), "credential_process");
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDPROC");
	ck_assert_str_eq(c.secret_key, "procsecret");
	ck_assert_str_eq(c.session_token, "proctoken");
	cloud_creds_release(&c);
	cloud_creds_provider_free(p);
	assert_logged("credential_process (key id ...PROC)");
	assert_not_logged("procsecret");
	assert_not_logged("proctoken");
}
END_TEST

START_TEST(test_creds_process_failures_are_enokey_with_a_reason)
{
	struct {
		const char *body, *logged;
	} cases[] = {
		{ "echo nope; exit 3", "exit status 3" },
		{ "echo '{\"Version\":1,\"AccessKeyId\":\"A\"}'",
		  "refusing the output of credential_process" },
		{ "echo 'not json SECRETLEAK'", "not JSON" },
		{ "head -c 70000 /dev/zero | tr '\\0' x", "more than 65536" },
		{ "exec sleep 30", "did not finish within 300 ms" },
		/* a child keeping the pipe open past the deadline is killed
		 * with its group */
		{ "sleep 30 & echo '{}'; wait", "did not finish within" },
	};
	struct creds_seams seams = { .process_timeout_ms = 300 };
	struct cloud_creds c;
	char *cmd;

	creds_seams_set(&seams);
	ck_assert_int_ge(asprintf(&cmd, "%s/helper", dir), 0);
	process_profile(cmd);
	free(cmd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t0 = time(NULL);

		script("helper", cases[i].body);
		ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
		ck_assert_int_le(time(NULL) - t0, 5);
		assert_logged(cases[i].logged);
	}
	assert_not_logged("SECRETLEAK");
}
END_TEST

/* ---- container and IMDSv2 over a fake transport ---- */

#define FAKE_MAX 16

struct fake_answer {
	const char *method, *url; /* what must be asked */
	const char *header; /* a header line that must be sent, or NULL */
	long status;
	const char *body;
};

struct fake_http {
	struct cloud_http base;
	pthread_mutex_t mu;
	struct fake_answer a[FAKE_MAX];
	int n, next, loop_from; /* loop_from >= 0: replay from there */
	int calls;
	char bad[512]; /* the first unexpected request */
};

static int fake_perform(struct cloud_http *h,
			const struct cloud_http_request *rq,
			struct cloud_http_response *rs)
{
	struct fake_http *f = (struct fake_http *)h;
	const struct fake_answer *a;
	bool hdr;

	memset(rs, 0, sizeof(*rs));
	pthread_mutex_lock(&f->mu);
	f->calls++;
	if (f->next >= f->n && f->loop_from >= 0)
		f->next = f->loop_from;
	if (f->next >= f->n) {
		snprintf(f->bad, sizeof(f->bad), "extra %s %s", rq->method,
			 rq->url);
		pthread_mutex_unlock(&f->mu);
		snprintf(rs->error, sizeof(rs->error), "unexpected");
		return 7; /* CURLE_COULDNT_CONNECT */
	}
	a = &f->a[f->next++];
	hdr = !a->header;
	for (size_t i = 0; i < rq->headers_len; i++)
		hdr = hdr || !strcmp(rq->headers[i], a->header);
	if (!f->bad[0] &&
	    (strcmp(rq->method, a->method) || strcmp(rq->url, a->url) || !hdr))
		snprintf(f->bad, sizeof(f->bad), "got %s %s, want %s %s [%s]",
			 rq->method, rq->url, a->method, a->url,
			 a->header ? a->header : "");
	pthread_mutex_unlock(&f->mu);
	if (a->status == 0) {
		snprintf(rs->error, sizeof(rs->error), "connection refused");
		return 7;
	}
	rs->status = a->status;
	rs->body = strdup(a->body ? a->body : "");
	rs->body_len = strlen(rs->body);
	rs->headers = strdup("");
	return 0;
}

static void fake_destroy(struct cloud_http *h)
{
	(void)h;
}

static void fake_init(struct fake_http *f)
{
	memset(f, 0, sizeof(*f));
	f->base.perform = fake_perform;
	f->base.destroy = fake_destroy;
	f->loop_from = -1;
	pthread_mutex_init(&f->mu, NULL);
}

static void fake_add(struct fake_http *f, const char *method, const char *url,
		     const char *header, long status, const char *body)
{
	ck_assert_int_lt(f->n, FAKE_MAX);
	f->a[f->n++] =
		(struct fake_answer){ method, url, header, status, body };
}

/* Fake clock */
static int64_t fake_now_s;
static int64_t fake_now(void)
{
	return __atomic_load_n(&fake_now_s, __ATOMIC_SEQ_CST);
}

#define T0 1796595688 /* 2026-12-06T22:21:28Z */
#define EXP_T0_1H "2026-12-06T23:21:28Z"

static const char *meta_json(const char *key, const char *exp)
{
	static char buf[8][512];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, 512,
		 "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\","
		 "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s-secret\","
		 "\"Token\":\"%s-token\",\"Expiration\":\"%s\"}",
		 key, key, key, exp);
	return b;
}

START_TEST(test_creds_container_sends_its_token_and_checks_the_url)
{
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds_provider *p;
	struct cloud_creds c;
	char *tokfile;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
	       "http://127.0.0.1:8080/creds", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer ecs-auth", 1);
	fake_add(&f, "GET", "http://127.0.0.1:8080/creds",
		 "Authorization: Bearer ecs-auth", 200,
		 meta_json("AKIDECS1", EXP_T0_1H));
	ck_assert_msg(cloud_creds_provider_new(NULL, &p) == 0, "%s",
		      log_text());
	ck_assert_str_eq(f.bad, "");
	ck_assert_str_eq(cloud_creds_provider_source(p), "container endpoint");
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDECS1");
	ck_assert_str_eq(c.session_token, "AKIDECS1-token");
	ck_assert_int_eq(c.expiration, T0 + 3600);
	cloud_creds_release(&c);
	cloud_creds_provider_free(p);

	/* the token file wins over the variable; the relative URI goes to
	 * the ECS agent */
	tokfile = path_in("token");
	write_file("token", "from-file\n", 0600);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds/x", 1);
	fake_add(&f, "GET", "http://169.254.170.2/v2/creds/x",
		 "Authorization: from-file", 200,
		 meta_json("AKIDECS2", EXP_T0_1H));
	assert_load(NULL, "AKIDECS2");
	ck_assert_str_eq(f.bad, "");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	free(tokfile);

	/* a token never goes over plain http to another host, nor with a
	 * line break into the headers */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds",
	       1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("refusing the container credentials endpoint");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
	       "http://127.0.0.1.evil.example/creds", 1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
	       "http://127.0.0.1:8080/creds", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "x\r\nHost: evil", 1);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("refusing the container authorization token");
	/* an error status is an error, not a fall-through to IMDS */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ok", 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	fake_add(&f, "GET", "http://127.0.0.1:8080/creds", NULL, 403, "denied");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("container endpoint: HTTP 403");
	ck_assert_int_eq(f.calls, 3);
	ck_assert_str_eq(f.bad, "");
	assert_not_logged("ecs-auth");
	assert_not_logged("from-file");
	assert_not_logged("-secret");
	assert_not_logged("-token");
}
END_TEST

/* A URL that lives as long as the fake needs it (a ring of buffers). */
static const char *url_of(const char *base, const char *path)
{
	static char urls[48][256];
	static int k;
	char *u = urls[k++ % 48];

	snprintf(u, 256, "%s%s", base, path);
	return u;
}

static void imds_script(struct fake_http *f, const char *base, const char *key,
			const char *exp)
{
	fake_add(f, "PUT", url_of(base, "/latest/api/token"),
		 "X-aws-ec2-metadata-token-ttl-seconds: 21600", 200,
		 "imds-session-token");
	fake_add(f, "GET",
		 url_of(base, "/latest/meta-data/iam/security-credentials/"),
		 "X-aws-ec2-metadata-token: imds-session-token", 200,
		 "my-role\n");
	fake_add(f, "GET",
		 url_of(base,
			"/latest/meta-data/iam/security-credentials/my-role"),
		 "X-aws-ec2-metadata-token: imds-session-token", 200,
		 meta_json(key, exp));
}

START_TEST(test_creds_imds_v2_token_role_then_credentials)
{
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds c;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	/* disabled: not a single request */
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	ck_assert_int_eq(f.calls, 0);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	imds_script(&f, "http://169.254.169.254", "AKIDIMDS1", EXP_T0_1H);
	assert_load(NULL, "AKIDIMDS1");
	ck_assert_str_eq(f.bad, "");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/",
	       1);
	imds_script(&f, "http://127.0.0.1:1338", "AKIDIMDS2", EXP_T0_1H);
	assert_load(NULL, "AKIDIMDS2");
	ck_assert_str_eq(f.bad, "");
	ck_assert_int_eq(f.calls, 6);
	assert_logged("instance metadata (key id ...MDS2, expiring "
		      "2026-12-06T23:21:28Z)");
	assert_not_logged("imds-session-token");
	assert_not_logged("-secret");
}
END_TEST

START_TEST(test_creds_imds_hostile_or_failing_answers_are_refused)
{
	static const char *base = "http://127.0.0.1:1338";
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds c;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	/* no session token (an IMDSv1-only service): no credentials */
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 403,
		 "");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("no instance metadata at 'http://127.0.0.1:1338'");
	/* a role name that would walk the path */
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 200,
		 "tok");
	fake_add(&f, "GET",
		 "http://127.0.0.1:1338/latest/meta-data/iam/"
		 "security-credentials/",
		 NULL, 200, "../../user-data\n");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("not an IAM role name");
	/* a token with a space */
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 200,
		 "tok en");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("refusing the instance metadata session token");
	/* credentials that expired already */
	imds_script(&f, base, "AKIDOLD", "2026-12-06T22:21:27Z");
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	assert_logged("they expired already");
	/* a connection refused on the way */
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 0,
		 NULL);
	ck_assert_int_eq(cloud_creds_load(NULL, &c), -ENOKEY);
	ck_assert_str_eq(f.bad, "");
}
END_TEST

/* ---- refresh ---- */

START_TEST(test_creds_refreshed_before_expiry_and_kept_while_refresh_fails)
{
	static const char *base = "http://127.0.0.1:1338";
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds_provider *p;
	struct cloud_creds c;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	imds_script(&f, base, "AKIDONE", EXP_T0_1H);
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &p), 0);
	/* 55 minutes in: still the first ones, nothing asked */
	fake_now_s = T0 + 3600 - CREDS_REFRESH_MARGIN_S - 1;
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDONE");
	cloud_creds_release(&c);
	ck_assert_int_eq(f.calls, 3);
	/* the margin reached: fetched again */
	fake_now_s = T0 + 3600 - CREDS_REFRESH_MARGIN_S;
	imds_script(&f, base, "AKIDTWO", "2026-12-07T00:21:28Z");
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDTWO");
	ck_assert_str_eq(c.secret_key, "AKIDTWO-secret");
	ck_assert_str_eq(c.session_token, "AKIDTWO-token");
	cloud_creds_release(&c);
	ck_assert_int_eq(f.calls, 6);
	assert_logged("aws credentials refreshed from the instance metadata "
		      "(key id ...DTWO");
	/* the service goes away: the held ones serve until they expire,
	 * one attempt per CREDS_RETRY_S */
	fake_now_s = T0 + 7200 - CREDS_REFRESH_MARGIN_S;
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 0,
		 NULL);
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDTWO");
	cloud_creds_release(&c);
	assert_logged("using those held (key id ...DTWO) for 300 s more");
	ck_assert_int_eq(f.calls, 7);
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	cloud_creds_release(&c);
	ck_assert_int_eq(f.calls, 7); /* not before CREDS_RETRY_S */
	/* expired and still no service: no credentials */
	fake_now_s = T0 + 7200;
	fake_add(&f, "PUT", "http://127.0.0.1:1338/latest/api/token", NULL, 0,
		 NULL);
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), -ENOKEY);
	assert_logged("have expired");
	/* back: fresh ones */
	fake_now_s = T0 + 7200 + CREDS_RETRY_S;
	imds_script(&f, base, "AKIDTHREE", "2026-12-07T01:21:28Z");
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDTHREE");
	cloud_creds_release(&c);
	ck_assert_str_eq(f.bad, "");
	cloud_creds_provider_free(p);
	assert_not_logged("-secret");
	assert_not_logged("-token");
}
END_TEST

START_TEST(test_creds_short_lived_are_refreshed_halfway)
{
	static const char *base = "http://127.0.0.1:1338";
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds_provider *p;
	struct cloud_creds c;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	/* 60 s to live: inside the margin from the start */
	imds_script(&f, base, "AKIDSHORT1", "2026-12-06T22:22:28Z");
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &p), 0);
	fake_now_s = T0 + 29;
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDSHORT1");
	cloud_creds_release(&c);
	ck_assert_int_eq(f.calls, 3);
	fake_now_s = T0 + 30;
	imds_script(&f, base, "AKIDSHORT2", "2026-12-06T22:23:28Z");
	ck_assert_int_eq(cloud_creds_provider_get(p, &c), 0);
	ck_assert_str_eq(c.access_key, "AKIDSHORT2");
	cloud_creds_release(&c);
	cloud_creds_provider_free(p);
}
END_TEST

START_TEST(test_creds_one_provider_per_profile_while_it_lives)
{
	static const char *base = "http://127.0.0.1:1338";
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds_provider *a, *b, *c;

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	imds_script(&f, base, "AKIDSHARED1", EXP_T0_1H);
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &a), 0);
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &b), 0);
	ck_assert_ptr_eq(a, b); /* the mount's targets share one */
	ck_assert_int_eq(f.calls, 3);
	cloud_creds_provider_free(a);
	cloud_creds_provider_free(b);
	/* gone with its last user: the next one asks again */
	imds_script(&f, base, "AKIDSHARED2", EXP_T0_1H);
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &c), 0);
	ck_assert_int_eq(f.calls, 6);
	cloud_creds_provider_free(c);
	ck_assert_str_eq(f.bad, "");
}
END_TEST

struct signer {
	struct cloud_creds_provider *p;
	int mismatches, fails;
};

static void *sign_loop(void *arg)
{
	struct signer *s = arg;
	struct cloud_creds c;
	char want[64];

	for (int i = 0; i < 2000; i++) {
		if (cloud_creds_provider_get(s->p, &c)) {
			s->fails++;
			continue;
		}
		/* key, secret and token always from one answer */
		snprintf(want, sizeof(want), "%s-secret", c.access_key);
		s->mismatches += strcmp(c.secret_key, want) != 0;
		snprintf(want, sizeof(want), "%s-token", c.access_key);
		s->mismatches += strcmp(c.session_token, want) != 0;
		cloud_creds_release(&c);
		if (i % 100 == 0)
			__atomic_add_fetch(&fake_now_s, 123, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

START_TEST(test_creds_concurrent_signers_get_consistent_snapshots)
{
	static const char *base = "http://127.0.0.1:1338";
	struct fake_http f;
	struct creds_seams seams;
	struct cloud_creds_provider *p;
	struct signer s[4];
	pthread_t th[4];

	fake_init(&f);
	fake_now_s = T0;
	seams = (struct creds_seams){ .http = &f.base, .now = fake_now };
	creds_seams_set(&seams);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base, 1);
	/* fetches answer A, B, A, ... expiring at T0 + 10000 s; the
	 * signers move the clock 9840 s past the refresh point */
	imds_script(&f, base, "AKIDA", "2026-12-07T01:08:08Z");
	imds_script(&f, base, "AKIDB", "2026-12-07T01:08:08Z");
	f.loop_from = 0;
	ck_assert_int_eq(cloud_creds_provider_new(NULL, &p), 0);
	for (int i = 0; i < 4; i++) {
		s[i] = (struct signer){ p, 0, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, sign_loop, &s[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(s[i].mismatches, 0);
	}
	ck_assert_int_gt(f.calls, 3); /* it did refresh */
	ck_assert_str_eq(f.bad, "");
	cloud_creds_provider_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_creds");
	TCase *parsers = tcase_create("parsers");
	TCase *files = tcase_create("files");
	TCase *process = tcase_create("process");
	TCase *http = tcase_create("http");
	TCase *refresh = tcase_create("refresh");
	SRunner *sr;
	int failed;

	tcase_add_test(parsers, test_creds_time_parses_rfc3339_strictly);
	tcase_add_test(parsers, test_creds_json_of_credential_process);
	tcase_add_test(parsers, test_creds_json_hostile_answers_are_refused);
	tcase_add_checked_fixture(files, setup, teardown);
	tcase_add_test(files, test_creds_profiles_of_both_files);
	tcase_add_test(files,
		       test_creds_named_profile_missing_or_partial_is_enokey);
	tcase_add_test(files,
		       test_creds_configured_container_comes_after_files);
	tcase_add_checked_fixture(process, setup, teardown);
	tcase_add_test(process, test_creds_process_output_is_used);
	tcase_add_test(process,
		       test_creds_process_failures_are_enokey_with_a_reason);
	tcase_set_timeout(process, 30);
	tcase_add_checked_fixture(http, setup, teardown);
	tcase_add_test(http,
		       test_creds_container_sends_its_token_and_checks_the_url);
	tcase_add_test(http, test_creds_imds_v2_token_role_then_credentials);
	tcase_add_test(http,
		       test_creds_imds_hostile_or_failing_answers_are_refused);
	tcase_add_checked_fixture(refresh, setup, teardown);
	tcase_add_test(
		refresh,
		test_creds_refreshed_before_expiry_and_kept_while_refresh_fails);
	tcase_add_test(refresh, test_creds_short_lived_are_refreshed_halfway);
	tcase_add_test(refresh,
		       test_creds_concurrent_signers_get_consistent_snapshots);
	tcase_add_test(refresh,
		       test_creds_one_provider_per_profile_while_it_lives);
	suite_add_tcase(s, parsers);
	suite_add_tcase(s, files);
	suite_add_tcase(s, process);
	suite_add_tcase(s, http);
	suite_add_tcase(s, refresh);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
