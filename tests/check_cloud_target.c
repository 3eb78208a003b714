/*
 * check_cloud_target.c - the target interface against both kinds: a dir:
 * target in a fresh temporary directory, and s3:// against a real
 * S3-compatible server (s3rver, started here on a free loopback port,
 * path-style and virtual-hosted addressing).  The same tests run against
 * each; a few more check what only one kind has (atomic files and
 * corrupt objects for dir:, credentials and an unreachable endpoint for
 * s3).
 *
 * s3rver is found at $CARAVAN_S3RVER (its bin/s3rver.js), else under
 * tests/s3/node_modules of the source or build tree (scripts/
 * s3rver-install.sh puts it there).  Missing node or s3rver is a failure,
 * never a skip.
 */
#include "config.h"

#include "cloud/lease.h"
#include "cloud/target.h"

#include "util/io.h"
#include "tests/io_fault.h"
#include "util/strlist.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif
#ifndef TOP_BUILDDIR
#define TOP_BUILDDIR "."
#endif

#define BUCKET "caravan"

enum kind {
	KIND_DIR,
	KIND_S3_PATH,
	KIND_S3_VHOST,
	KIND_COUNT
};
static const char *const kind_name[] = { "dir", "s3-path", "s3-vhost" };

static char s3_root[] = "/tmp/caravan-s3rver-XXXXXX";
static pid_t s3_pid = -1;
static int s3_port;
static char dir_root[] = "/tmp/caravan-dirtarget-XXXXXX";
static int opened;

/* ---- s3rver ---- */

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static const char *find_s3rver(void)
{
	static char path[4096];
	const char *env = getenv("CARAVAN_S3RVER");
	const char *roots[] = { TOP_SRCDIR, TOP_BUILDDIR };

	if (env && env[0])
		return access(env, R_OK) == 0 ? env : NULL;
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path),
			 "%s/tests/s3/node_modules/s3rver/bin/s3rver.js",
			 roots[i]);
		if (access(path, R_OK) == 0)
			return path;
	}
	return NULL;
}

static int start_s3rver(void)
{
	const char *js = find_s3rver();
	char data[sizeof(s3_root) + 16], logf[sizeof(s3_root) + 16];
	char port[16];
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	if (!js) {
		fprintf(stderr,
			"s3rver not found: run scripts/s3rver-install.sh "
			"or set CARAVAN_S3RVER to its bin/s3rver.js\n");
		return -1;
	}
	if (!mkdtemp(s3_root))
		return -1;
	snprintf(data, sizeof(data), "%s/data", s3_root);
	snprintf(logf, sizeof(logf), "%s/log", s3_root);
	mkdir(data, 0700);
	s3_port = free_port();
	snprintf(port, sizeof(port), "%d", s3_port);
	s3_pid = fork();
	if (s3_pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		/* s3rver's continuation tokens use DES, which OpenSSL 3
		 * keeps in its legacy provider. */
		execlp("node", "node", "--openssl-legacy-provider", js,
		       "--directory", data, "--address", "127.0.0.1", "--port",
		       port, "--silent", "--configure-bucket", BUCKET,
		       "--service-endpoint", "localhost", (char *)NULL);
		fprintf(stderr, "cannot run 'node': %s\n", strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 1500; i++) { /* up to 30 s on a busy machine */
		int status;

		if (port_open(s3_port))
			return 0;
		if (waitpid(s3_pid, &status, WNOHANG) == s3_pid) {
			char cmd[256];

			s3_pid = -1;
			fprintf(stderr, "s3rver exited (status %d); its log:\n",
				status);
			snprintf(cmd, sizeof(cmd), "cat '%s' >&2", logf);
			if (system(cmd) != 0)
				fprintf(stderr, "(no log)\n");
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "s3rver did not listen on port %d\n", s3_port);
	return -1;
}

static void stop_s3rver(void)
{
	char cmd[256];

	if (s3_pid > 0) {
		kill(s3_pid, SIGTERM);
		waitpid(s3_pid, NULL, 0);
		s3_pid = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s3_root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", s3_root);
}

/* ---- opening targets ---- */

static struct cloud_target *open_kind(enum kind k, uint32_t page_keys,
				      const char *access_key)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	char url[512], endpoint[64];
	int n = opened++;

	cloud_options_default(&o);
	o.list_page_keys = page_keys;
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 20000;
	o.retry.base_ms = 10;
	o.retry.cap_ms = 100;
	o.retry.max_attempts = 3;
	if (k == KIND_DIR) {
		snprintf(url, sizeof(url), "dir:%s/t%d-%d", dir_root,
			 (int)getpid(), n);
	} else {
		/* A prefix of its own per test keeps tests apart. */
		snprintf(url, sizeof(url), "s3://" BUCKET "/t%d-%d/p",
			 (int)getpid(), n);
		ck_assert_int_eq(
			cloud_creds_set(&creds, access_key, "S3RVER", NULL), 0);
		o.creds = &creds;
		o.s3_region = "us-east-1";
		if (k == KIND_S3_PATH) {
			snprintf(endpoint, sizeof(endpoint),
				 "http://127.0.0.1:%d", s3_port);
			o.s3_path_style = true;
		} else {
			snprintf(endpoint, sizeof(endpoint),
				 "http://s3.localhost:%d", s3_port);
		}
		o.s3_endpoint = endpoint;
	}
	ck_assert_int_eq(cloud_target_open(url, &o, &t), 0);
	if (k != KIND_DIR)
		cloud_creds_release(&creds);
	return t;
}

static struct cloud_target *open_target(int i)
{
	return open_kind((enum kind)i, 1000, "S3RVER");
}

static void expect_object(struct cloud_target *t, const char *space,
			  const char *key, const void *body, size_t len,
			  uint64_t seq)
{
	void *buf = NULL;
	size_t got_len = 0;
	uint64_t got_seq = 0;
	int rc = cloud_target_get(t, space, key, &buf, &got_len, &got_seq);

	ck_assert_msg(rc == 0, "get '%s'/'%s': %d", space, key, rc);
	ck_assert_uint_eq(got_len, len);
	ck_assert(len == 0 || !memcmp(buf, body, len));
	ck_assert_uint_eq(got_seq, seq);
	free(buf);
}

/* ---- the shared tests (loop index: enum kind) ---- */

START_TEST(test_target_put_get_overwrite)
{
	struct cloud_target *t = open_target(_i);

	ck_assert_int_eq(cloud_target_put(t, "s", "k", "first", 5, 7), 0);
	expect_object(t, "s", "k", "first", 5, 7);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "second!", 7, 9), 0);
	expect_object(t, "s", "k", "second!", 7, 9);
	ck_assert_int_eq(cloud_target_put(t, "s", "empty", "", 0, 1), 0);
	expect_object(t, "s", "empty", "", 0, 1);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_large_binary_object)
{
	struct cloud_target *t = open_target(_i);
	size_t len = 1 << 20;
	unsigned char *body = malloc(len);

	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 2654435761u >> 13);
	ck_assert_int_eq(
		cloud_target_put(t, "s", "big", body, len, UINT64_MAX - 1), 0);
	expect_object(t, "s", "big", body, len, UINT64_MAX - 1);
	free(body);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_head_and_missing_objects)
{
	struct cloud_target *t = open_target(_i);
	struct cloud_object_info info;
	void *buf;
	size_t len;
	uint64_t seq;

	ck_assert_int_eq(cloud_target_get(t, "s", "nope", &buf, &len, &seq),
			 -ENOENT);
	ck_assert_int_eq(cloud_target_head(t, "s", "nope", &info), -ENOENT);
	ck_assert_int_eq(cloud_target_head(t, "no-space", "nope", &info),
			 -ENOENT);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "12345", 5, 33), 0);
	ck_assert_int_eq(cloud_target_head(t, "s", "k", &info), 0);
	ck_assert_uint_eq(info.seq, 33);
	ck_assert_uint_eq(info.size_bytes, 5);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_delete_is_idempotent)
{
	struct cloud_target *t = open_target(_i);
	struct cloud_object_info info;
	struct strlist n = STRLIST_INIT;

	ck_assert_int_eq(cloud_target_put(t, "s", "a", "x", 1, 1), 0);
	ck_assert_int_eq(cloud_target_put(t, "s", "b", "y", 1, 1), 0);
	ck_assert_int_eq(cloud_target_delete(t, "s", "a"), 0);
	ck_assert_int_eq(cloud_target_head(t, "s", "a", &info), -ENOENT);
	ck_assert_int_eq(cloud_target_delete(t, "s", "a"), 0);
	ck_assert_int_eq(cloud_target_delete(t, "never", "was"), 0);
	ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "b");
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

/* ---- documents: readable objects ---- */

static void doc_meta(struct cloud_doc_meta *m, uint64_t seq, const void *body,
		     size_t len)
{
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->mode = S_IFREG | 0640;
	m->uid = 1000;
	m->gid = 1001;
	m->mtime_ns = 1700000000123456789LL;
	m->ctime_ns = -5; /* before the epoch: signed times round trip */
	cloud_doc_checksum(body, len, m->sha256);
}

static void expect_doc(struct cloud_target *t, const char *space,
		       const char *key, const char *body,
		       const struct cloud_doc_meta *want)
{
	struct cloud_doc_meta m;
	struct cloud_object_info info;
	void *buf = NULL;
	size_t len = 0;
	uint64_t size = 0;

	ck_assert_int_eq(cloud_target_get_doc(t, space, key, &buf, &len, &m),
			 0);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert(!memcmp(buf, body, len));
	ck_assert(!m.legacy);
	ck_assert_uint_eq(m.seq, want->seq);
	ck_assert_uint_eq(m.mode, want->mode);
	ck_assert_uint_eq(m.uid, want->uid);
	ck_assert_uint_eq(m.gid, want->gid);
	ck_assert(m.mtime_ns == want->mtime_ns);
	ck_assert(m.ctime_ns == want->ctime_ns);
	ck_assert_str_eq(m.sha256, want->sha256);
	free(buf);
	ck_assert_int_eq(cloud_target_head_doc(t, space, key, &m, &size), 0);
	ck_assert_uint_eq(size, strlen(body));
	ck_assert_uint_eq(m.seq, want->seq);
	ck_assert_str_eq(m.sha256, want->sha256);
	/* the head the catalog uses sees documents too */
	ck_assert_int_eq(cloud_target_head(t, space, key, &info), 0);
	ck_assert_uint_eq(info.seq, want->seq);
	ck_assert_uint_eq(info.size_bytes, strlen(body));
}

START_TEST(test_target_doc_round_trip)
{
	struct cloud_target *t = open_target(_i);
	struct cloud_doc_meta m;
	struct strlist n = STRLIST_INIT;
	char long_key[CLOUD_NAME_MAX + 1];
	const char *a = "{\"a\":1}\n", *b = "[1,2,\"\u00e9\"]\n";
	void *buf;
	size_t len;

	memset(long_key, 'y', CLOUD_NAME_MAX);
	long_key[0] = ' '; /* a hashed segment */
	long_key[CLOUD_NAME_MAX] = '\0';
	doc_meta(&m, 3, a, strlen(a));
	ck_assert_int_eq(cloud_target_put_doc(t, "sp ace", "k", a, strlen(a),
					      &m),
			 0);
	expect_doc(t, "sp ace", "k", a, &m);
	doc_meta(&m, 9, b, strlen(b));
	ck_assert_int_eq(cloud_target_put_doc(t, "sp ace", "k", b, strlen(b),
					      &m),
			 0);
	expect_doc(t, "sp ace", "k", b, &m);
	ck_assert_int_eq(cloud_target_put_doc(t, "sp ace", long_key, b,
					      strlen(b), &m),
			 0);
	expect_doc(t, "sp ace", long_key, b, &m);
	/* listings show each document once, by its real name */
	ck_assert_int_eq(
		cloud_target_list_all(t, "sp ace", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 2);
	ck_assert(!strcmp(n.v[0], long_key) || !strcmp(n.v[1], long_key));
	ck_assert(!strcmp(n.v[0], "k") || !strcmp(n.v[1], "k"));
	strlist_release(&n);
	ck_assert_int_eq(cloud_target_delete(t, "sp ace", "k"), 0);
	ck_assert_int_eq(cloud_target_get_doc(t, "sp ace", "k", &buf, &len, &m),
			 -ENOENT);
	ck_assert_int_eq(cloud_target_delete(t, "sp ace", long_key), 0);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n),
			 0);
	ck_assert_int_eq(n.n, 0); /* the space went with its last object */
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

/* An object written by an older build (an archive through the opaque
 * put, as it wrote documents) reads as legacy, with its seq. */
START_TEST(test_target_legacy_object_reads_as_legacy)
{
	struct cloud_target *t = open_target(_i);
	struct cloud_doc_meta m;
	void *buf = NULL;
	size_t len = 0;

	ck_assert_int_eq(cloud_target_put(t, "s", "old", "CVARxyz", 7, 12), 0);
	ck_assert_int_eq(cloud_target_get_doc(t, "s", "old", &buf, &len, &m),
			 0);
	ck_assert(m.legacy);
	ck_assert_uint_eq(m.seq, 12);
	ck_assert_uint_eq(len, 7);
	ck_assert(!memcmp(buf, "CVARxyz", 7));
	free(buf);
	cloud_target_free(t);
}
END_TEST

static void long_names(char *ascii, char *multi)
{
	memset(ascii, 'x', CLOUD_NAME_MAX);
	ascii[0] = ' '; /* encodes to 257 bytes: a long file name */
	ascii[CLOUD_NAME_MAX] = '\0';
	for (int i = 0; i < 85; i++)
		memcpy(multi + 3 * i, "\xe2\x82\xac", 3); /* 255 bytes of € */
	multi[CLOUD_NAME_MAX] = '\0';
}

START_TEST(test_target_any_name_round_trips)
{
	struct cloud_target *t = open_target(_i);
	static char ascii[CLOUD_NAME_MAX + 1], multi[CLOUD_NAME_MAX + 1];
	const char *keys[] = { "plain",
			       "with space",
			       "\xc3\xbc\xe2\x82\xac\xe6\x97\xa5\xe6\x9c\xac",
			       "a%b",
			       "%41",
			       "a+b=c&d?e#f",
			       "...",
			       ".hidden",
			       "#hash-first",
			       "-",
			       "~tilde",
			       "ctl\x01\x1f\x7f\xff",
			       "quote\"'<>&;:@,!$()*[]{}|\\^`",
			       ascii,
			       multi };
	const char *spaces[] = { "space \xc3\xa9!", multi };
	struct strlist n = STRLIST_INIT;

	long_names(ascii, multi);
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			ck_assert_msg(cloud_target_put(t, spaces[s], keys[i],
						       keys[i], strlen(keys[i]),
						       i + 1) == 0,
				      "put key %zu", i);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			expect_object(t, spaces[s], keys[i], keys[i],
				      strlen(keys[i]), i + 1);
		strlist_clear(&n);
		ck_assert_int_eq(
			cloud_target_list_all(t, spaces[s], strlist_collect, &n), 0);
		ck_assert_int_eq(n.n, (int)(sizeof(keys) / sizeof(keys[0])));
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			ck_assert_msg(strlist_has(&n, keys[i]),
				      "key %zu not listed", i);
	}
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 2);
	ck_assert(strlist_has(&n, spaces[0]) && strlist_has(&n, spaces[1]));
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_list_pages_see_each_name_once_in_order)
{
	struct cloud_target *t = open_kind((enum kind)_i, 2, "S3RVER");
	const char *keys[] = { "g", "a", "e b", "c", "f", "d", "b" };
	const char *sorted[] = { "a", "b", "c", "d", "e b", "f", "g" };
	struct strlist n = STRLIST_INIT;
	char *token = NULL, *next = NULL;
	int pages = 0;

	for (size_t i = 0; i < 7; i++)
		ck_assert_int_eq(cloud_target_put(t, "s", keys[i], "v", 1, 1),
				 0);
	do {
		size_t before = n.n;

		ck_assert_int_eq(cloud_target_list(t, "s", token, &next,
						   strlist_collect, &n),
				 0);
		ck_assert_int_le(n.n - before, 2);
		free(token);
		token = next;
		pages++;
	} while (token);
	ck_assert_int_ge(pages, 4);
	ck_assert_int_eq(n.n, 7);
	for (int i = 0; i < 7; i++)
		ck_assert_str_eq(n.v[i], sorted[i]);
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 7);
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, "empty", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 0);
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_spaces_come_and_go_with_their_objects)
{
	struct cloud_target *t = open_kind((enum kind)_i, 2, "S3RVER");
	struct strlist n = STRLIST_INIT;

	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 0);
	ck_assert_int_eq(cloud_target_put(t, "one", "k", "v", 1, 1), 0);
	ck_assert_int_eq(cloud_target_put(t, "two", "k", "v", 1, 1), 0);
	ck_assert_int_eq(cloud_target_put(t, "two", "l", "v", 1, 1), 0);
	ck_assert_int_eq(cloud_target_put(t, "th ree", "k", "v", 1, 1), 0);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 3);
	ck_assert(strlist_has(&n, "one") && strlist_has(&n, "two") &&
		  strlist_has(&n, "th ree"));
	ck_assert_int_eq(cloud_target_delete(t, "two", "k"), 0);
	ck_assert_int_eq(cloud_target_delete(t, "two", "l"), 0);
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 2);
	ck_assert(!strlist_has(&n, "two"));
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_target_refuses_bad_names)
{
	struct cloud_target *t = open_target(_i);
	struct strlist n = STRLIST_INIT;

	ck_assert_int_eq(cloud_target_put(t, "a/b", "k", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_put(t, "s", "..", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_put(t, "s", "", "", 0, 1), -EINVAL);
	ck_assert_int_eq(cloud_target_delete(t, ".", "k"), -EINVAL);
	ck_assert_int_eq(cloud_target_list_all(t, "x/y", strlist_collect, &n),
			 -EINVAL);
	cloud_target_free(t);
}
END_TEST

struct writer_arg {
	struct cloud_target *t;
	int id;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	char key[32], body[64];

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		snprintf(body, sizeof(body), "{\"w\":%d,\"i\":%d}", w->id, i);
		if (cloud_target_put(w->t, "conc", key, body, strlen(body),
				     (uint64_t)i + 1))
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_target_concurrent_puts)
{
	struct cloud_target *t = open_target(_i);
	struct writer_arg args[4];
	pthread_t th[4];
	struct strlist n = STRLIST_INIT;

	for (int i = 0; i < 4; i++) {
		args[i].t = t;
		args[i].id = i;
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		pthread_join(th[i], &rv);
		ck_assert_ptr_null(rv);
	}
	ck_assert_int_eq(cloud_target_list_all(t, "conc", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 40);
	expect_object(t, "conc", "w3-9", "{\"w\":3,\"i\":9}", 13, 10);
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

/* ---- dir: only ---- */

static int count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "#tmp.", 5);
	closedir(d);
	return n;
}

START_TEST(test_dir_put_is_atomic_under_io_faults)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	const enum io_op ops[] = { IO_OP_PWRITE, IO_OP_FSYNC, IO_OP_RENAME };
	char spacedir[512];

	snprintf(spacedir, sizeof(spacedir), "%s/s",
		 cloud_target_url(t) + strlen("dir:"));
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "old", 3, 1), 0);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		io_fault_install();
		io_fault_arm(ops[i], 1, EIO, IO_FAULT_ONCE);
		ck_assert_int_eq(cloud_target_put(t, "s", "k", "new!", 4, 2),
				 -EIO);
		ck_assert(io_fault_fired());
		io_fault_uninstall();
		expect_object(t, "s", "k", "old", 3, 1);
		ck_assert_int_eq(count_tmp_files(spacedir), 0);
	}
	/* A short write (disk full) also leaves the old object. */
	io_fault_install();
	io_fault_arm(IO_OP_PWRITE, 1, IO_FAULT_SHORT, IO_FAULT_STICKY);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "new!", 4, 2), -ENOSPC);
	io_fault_uninstall();
	expect_object(t, "s", "k", "old", 3, 1);
	ck_assert_int_eq(count_tmp_files(spacedir), 0);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "new!", 4, 2), 0);
	expect_object(t, "s", "k", "new!", 4, 2);
	cloud_target_free(t);
}
END_TEST

static void patch_file(const char *path, off_t off, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, b, n, off), (ssize_t)n);
	close(fd);
}

START_TEST(test_dir_corrupt_object_is_ebadmsg)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	char path[512], logpath[] = "/tmp/caravan-dirlog-XXXXXX";
	void *buf;
	size_t len;
	uint64_t seq;
	int logfd = mkstemp(logpath), saved = dup(STDERR_FILENO);
	char text[2048] = "";

	snprintf(path, sizeof(path), "%s/s/k",
		 cloud_target_url(t) + strlen("dir:"));
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "body", 4, 5), 0);
	dup2(logfd, STDERR_FILENO);
	patch_file(path, 9, "\x01", 1); /* inside the seq field */
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq),
			 -EBADMSG);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "body", 4, 5), 0);
	ck_assert_int_eq(truncate(path, 30), 0);
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq),
			 -EBADMSG);
	ck_assert_int_eq(truncate(path, 2), 0);
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq),
			 -EBADMSG);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(pread(logfd, text, sizeof(text) - 1, 0), 0);
	close(logfd);
	unlink(logpath);
	ck_assert_ptr_nonnull(strstr(text, "cannot read 'dir:"));
	ck_assert_ptr_nonnull(strstr(text, "/s/k': malformed object file"));
	cloud_target_free(t);
}
END_TEST

/* dir: `cat TARGET/space/key` is the JSON; the sidecar is beside it,
 * private, never listed.  A body or sidecar altered, or a sidecar
 * missing, is a pair that does not match: -EBADMSG with a log line. */
START_TEST(test_dir_doc_is_a_plain_file_and_a_torn_pair_is_ebadmsg)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	const char *root = cloud_target_url(t) + strlen("dir:");
	const char *body = "{\"x\":[1,2]}\n";
	char path[512], side[512], got[64] = "", logpath[] =
		"/tmp/caravan-dirlog-XXXXXX";
	char text[4096] = "";
	struct cloud_doc_meta m;
	struct strlist n = STRLIST_INIT;
	struct stat st;
	int fd, logfd, saved;
	void *buf;
	size_t len;

	doc_meta(&m, 4, body, strlen(body));
	ck_assert_int_eq(cloud_target_put_doc(t, "s", "k", body, strlen(body),
					      &m),
			 0);
	snprintf(path, sizeof(path), "%s/s/k", root);
	snprintf(side, sizeof(side), "%s/s/.caravan-meta.k", root);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, got, sizeof(got)), (ssize_t)strlen(body));
	close(fd);
	ck_assert_str_eq(got, body);
	ck_assert_int_eq(stat(side, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "k");
	strlist_release(&n);

	logfd = mkstemp(logpath);
	saved = dup(STDERR_FILENO);
	dup2(logfd, STDERR_FILENO);
	/* the body altered, same length */
	patch_file(path, 6, "3", 1);
	ck_assert_int_eq(cloud_target_get_doc(t, "s", "k", &buf, &len, &m),
			 -EBADMSG);
	/* the body of another length */
	ck_assert_int_eq(truncate(path, 3), 0);
	ck_assert_int_eq(cloud_target_get_doc(t, "s", "k", &buf, &len, &m),
			 -EBADMSG);
	/* the sidecar altered: its CRC */
	doc_meta(&m, 4, body, strlen(body));
	ck_assert_int_eq(cloud_target_put_doc(t, "s", "k", body, strlen(body),
					      &m),
			 0);
	patch_file(side, 9, "\x07", 1);
	ck_assert_int_eq(cloud_target_get_doc(t, "s", "k", &buf, &len, &m),
			 -EBADMSG);
	/* the sidecar missing */
	ck_assert_int_eq(unlink(side), 0);
	ck_assert_int_eq(cloud_target_get_doc(t, "s", "k", &buf, &len, &m),
			 -EBADMSG);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(pread(logfd, text, sizeof(text) - 1, 0), 0);
	close(logfd);
	unlink(logpath);
	ck_assert_ptr_nonnull(strstr(text, "/s/k': its body and its sidecar "
					   "do not match"));
	ck_assert_ptr_nonnull(strstr(text, ".caravan-meta.k': malformed sidecar"));
	/* a delete removes both */
	doc_meta(&m, 5, body, strlen(body));
	ck_assert_int_eq(cloud_target_put_doc(t, "s", "k", body, strlen(body),
					      &m),
			 0);
	ck_assert_int_eq(cloud_target_put_doc(t, "s", "j", body, strlen(body),
					      &m),
			 0);
	ck_assert_int_eq(cloud_target_delete(t, "s", "k"), 0);
	ck_assert_int_eq(stat(side, &st), -1);
	ck_assert_int_eq(stat(path, &st), -1);
	cloud_target_free(t);
}
END_TEST

START_TEST(test_dir_listing_ignores_foreign_and_temporary_files)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	const char *root = cloud_target_url(t) + strlen("dir:");
	char path[512];
	struct strlist n = STRLIST_INIT;
	int fd;

	ck_assert_int_eq(cloud_target_put(t, "s", "k", "v", 1, 1), 0);
	snprintf(path, sizeof(path), "%s/s/#tmp.1.2", root);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	snprintf(path, sizeof(path), "%s/s/not%%zzencoded", root);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	snprintf(path, sizeof(path), "%s/s/subdir", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/loose-file", root);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "k");
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "s");
	strlist_release(&n);
	cloud_target_free(t);
}
END_TEST

/* Run fn with stderr captured; the log lines go to text (cap bytes). */
static void capture_stderr_begin(char *path, int *logfd, int *saved)
{
	*logfd = mkstemp(path);
	*saved = dup(STDERR_FILENO);
	ck_assert_int_ge(*logfd, 0);
	dup2(*logfd, STDERR_FILENO);
}

static void capture_stderr_end(char *path, int logfd, int saved, char *text,
			       size_t cap)
{
	ssize_t n;

	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(logfd, text, cap - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	close(logfd);
	unlink(path);
}

static bool exists_nofollow(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

START_TEST(test_dir_never_leaves_its_root)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	struct cloud_target *out = open_kind(KIND_DIR, 1000, NULL);
	const char *root = cloud_target_url(t) + strlen("dir:");
	const char *oroot = cloud_target_url(out) + strlen("dir:");
	char path[512], target[512], logpath[] = "/tmp/caravan-dirlog-XXXXXX";
	char text[8192];
	struct strlist n = STRLIST_INIT;
	struct cloud_object_info info;
	void *buf = NULL;
	size_t len;
	uint64_t seq;
	int logfd, saved;

	/* Outside the root: OUT/x/victim, a real object. */
	ck_assert_int_eq(cloud_target_put(out, "x", "victim", "secret", 6, 9),
			 0);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "v", 1, 1), 0);
	/* ROOT/lnk -> OUT/x, ROOT/s/obj -> OUT/x/victim, ROOT/s/fifo. */
	snprintf(path, sizeof(path), "%s/lnk", root);
	snprintf(target, sizeof(target), "%s/x", oroot);
	ck_assert_int_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/s/obj", root);
	snprintf(target, sizeof(target), "%s/x/victim", oroot);
	ck_assert_int_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/s/fifo", root);
	ck_assert_int_eq(mkfifo(path, 0600), 0);

	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "s");
	strlist_clear(&n);
	ck_assert_int_eq(cloud_target_list_all(t, "lnk", strlist_collect, &n),
			 0);
	ck_assert_int_eq(n.n, 0);
	ck_assert_int_eq(cloud_target_list_all(t, "s", strlist_collect, &n), 0);
	ck_assert_int_eq(n.n, 1);
	ck_assert_str_eq(n.v[0], "k");
	strlist_release(&n);
	ck_assert_int_eq(cloud_target_get(t, "lnk", "victim", &buf, &len, &seq),
			 -ELOOP);
	ck_assert_int_eq(cloud_target_head(t, "lnk", "victim", &info), -ELOOP);
	ck_assert_int_eq(cloud_target_get(t, "s", "obj", &buf, &len, &seq),
			 -ELOOP);
	ck_assert_int_eq(cloud_target_get(t, "s", "fifo", &buf, &len, &seq),
			 -ELOOP);
	ck_assert_int_eq(cloud_target_put(t, "lnk", "new", "n", 1, 1), -ELOOP);
	ck_assert_int_eq(cloud_target_put(t, "s", "obj", "n", 1, 1), -ELOOP);
	ck_assert_int_eq(cloud_target_delete(t, "lnk", "victim"), -ELOOP);
	ck_assert_int_eq(cloud_target_delete(t, "s", "obj"), -ELOOP);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));

	/* Nothing outside was written or removed ... */
	snprintf(path, sizeof(path), "%s/x/new", oroot);
	ck_assert(!exists_nofollow(path));
	expect_object(out, "x", "victim", "secret", 6, 9);
	/* ... and the links themselves are still there. */
	snprintf(path, sizeof(path), "%s/s/obj", root);
	ck_assert(exists_nofollow(path));
	snprintf(path, sizeof(path), "%s/lnk", root);
	ck_assert(exists_nofollow(path));
	ck_assert_ptr_nonnull(strstr(text, "error: refusing 'dir:"));
	ck_assert_ptr_nonnull(strstr(text, "/lnk': not a directory"));
	ck_assert_ptr_nonnull(strstr(text, "/s/obj': not a regular file"));
	ck_assert_ptr_nonnull(strstr(text, "/s/fifo': not a regular file"));
	cloud_target_free(out);
	cloud_target_free(t);
}
END_TEST

static unsigned mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

START_TEST(test_dir_new_files_are_private_existing_root_keeps_its_mode)
{
	struct cloud_target *t = open_kind(KIND_DIR, 1000, NULL);
	const char *root = cloud_target_url(t) + strlen("dir:");
	char path[512], url[600];
	mode_t old = umask(0);

	ck_assert_int_eq(cloud_target_put(t, "s", "k", "v", 1, 1), 0);
	ck_assert_uint_eq(mode_of(root), 0700);
	snprintf(path, sizeof(path), "%s/s", root);
	ck_assert_uint_eq(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/s/k", root);
	ck_assert_uint_eq(mode_of(path), 0600);
	cloud_target_free(t);
	/* An admin's looser root stays as it was. */
	snprintf(path, sizeof(path), "%s/shared-%d", dir_root, (int)getpid());
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(url, sizeof(url), "dir:%s", path);
	ck_assert_int_eq(cloud_target_open(url, NULL, &t), 0);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "v", 1, 1), 0);
	ck_assert_uint_eq(mode_of(path), 0755);
	cloud_target_free(t);
	umask(old);
}
END_TEST

/* ---- s3 only ---- */

START_TEST(test_s3_wrong_credentials_are_eacces_with_a_log_line)
{
	struct cloud_target *t = open_kind(KIND_S3_PATH, 1000, "WRONGKEY");
	char logpath[] = "/tmp/caravan-s3log-XXXXXX";
	int logfd = mkstemp(logpath), saved = dup(STDERR_FILENO);
	char text[4096] = "";
	void *buf;
	size_t len;
	uint64_t seq;

	dup2(logfd, STDERR_FILENO);
	ck_assert_int_eq(cloud_target_put(t, "s", "k", "v", 1, 1), -EACCES);
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq),
			 -EACCES);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(pread(logfd, text, sizeof(text) - 1, 0), 0);
	close(logfd);
	unlink(logpath);
	ck_assert_ptr_nonnull(
		strstr(text, "error: cannot put 's3://" BUCKET "/t"));
	ck_assert_ptr_nonnull(
		strstr(text, "/p/s/k': http 403 InvalidAccessKeyId"));
	ck_assert_ptr_nonnull(strstr(text, "error: cannot get 's3://"));
	ck_assert_ptr_null(strstr(text, "S3RVER"));
	cloud_target_free(t);
}
END_TEST

START_TEST(test_s3_unreachable_endpoint_is_eio_after_retries)
{
	struct cloud_options o;
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	char endpoint[64], logpath[] = "/tmp/caravan-s3log-XXXXXX";
	int logfd = mkstemp(logpath), saved = dup(STDERR_FILENO);
	char text[4096] = "";
	void *buf;
	size_t len;
	uint64_t seq;

	cloud_options_default(&o);
	cloud_creds_set(&creds, "S3RVER", "S3RVER", NULL);
	o.creds = &creds;
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d",
		 free_port());
	o.s3_endpoint = endpoint;
	o.s3_path_style = true;
	o.retry.base_ms = 1;
	o.retry.cap_ms = 5;
	o.retry.max_attempts = 3;
	ck_assert_int_eq(cloud_target_open("s3://" BUCKET "/x", &o, &t), 0);
	cloud_creds_release(&creds);
	dup2(logfd, STDERR_FILENO);
	ck_assert_int_eq(cloud_target_get(t, "s", "k", &buf, &len, &seq), -EIO);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_gt(pread(logfd, text, sizeof(text) - 1, 0), 0);
	close(logfd);
	unlink(logpath);
	ck_assert_ptr_nonnull(strstr(text, "warning: cannot get 's3://" BUCKET
					   "/x/s/k': curl error 7"));
	ck_assert_ptr_nonnull(strstr(text, "giving up after 3 attempts"));
	cloud_target_free(t);
}
END_TEST

/* ---- a misbehaving endpoint (tests/cloud_hostile_server.js) ---- */

struct hostile {
	pid_t pid;
	int port;
};

static void hostile_start(struct hostile *h, const char *mode,
			  const char *names, const char *cert, const char *key)
{
	char script[1024], line[32] = "";
	int fds[2];
	ssize_t n = 0, r;

	snprintf(script, sizeof(script), "%s/tests/cloud_hostile_server.js",
		 TOP_SRCDIR);
	ck_assert_int_eq(pipe(fds), 0);
	h->pid = fork();
	ck_assert_int_ge(h->pid, 0);
	if (h->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		setenv("NAMES", names ? names : "0", 1);
		setenv("BASE", "p/", 1);
		execlp("node", "node", script, mode, cert, key, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n < (ssize_t)sizeof(line) - 1 &&
	       (r = read(fds[0], line + n, sizeof(line) - 1 - (size_t)n)) > 0 &&
	       !memchr(line, '\n', (size_t)(n + r)))
		n += r;
	close(fds[0]);
	h->port = atoi(line);
	ck_assert_msg(h->port > 0, "the hostile server did not start");
}

static void hostile_stop(struct hostile *h)
{
	kill(h->pid, SIGTERM);
	waitpid(h->pid, NULL, 0);
}

/* The server's count of requests of kind ("lists" or "gets"). */
static int hostile_count(const struct hostile *h, const char *kind)
{
	char buf[4096], want[32];
	struct sockaddr_in a;
	ssize_t n = 0, r;
	const char *p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)h->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	dprintf(fd, "GET /__stats HTTP/1.0\r\nHost: x\r\n\r\n");
	while (n < (ssize_t)sizeof(buf) - 1 &&
	       (r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "\"%s\":", kind);
	p = strstr(buf, want);
	ck_assert_ptr_nonnull(p);
	return atoi(p + strlen(want));
}

static struct cloud_target *hostile_open(const struct hostile *h,
					 const char *scheme,
					 struct cloud_options *o)
{
	struct cloud_creds creds;
	struct cloud_target *t = NULL;
	char endpoint[64];

	cloud_creds_set(&creds, "HOSTILE", "HOSTILE", NULL);
	o->creds = &creds;
	snprintf(endpoint, sizeof(endpoint), "%s://127.0.0.1:%d", scheme,
		 h->port);
	o->s3_endpoint = endpoint;
	o->s3_path_style = true;
	o->s3_region = "us-east-1";
	o->retry.base_ms = 1;
	o->retry.cap_ms = 5;
	ck_assert_int_eq(cloud_target_open("s3://" BUCKET "/p", o, &t), 0);
	cloud_creds_release(&creds);
	return t;
}

static int count_name(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_s3_endless_listing_is_bounded)
{
	struct hostile h;
	struct cloud_options o;
	struct cloud_target *t;
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	int logfd, saved, n = 0;

	/* Empty pages, each with a fresh token: the page bound ends it. */
	hostile_start(&h, "endless", "0", NULL, NULL);
	cloud_options_default(&o);
	o.list_max_pages = 50;
	t = hostile_open(&h, "http", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, count_name, &n),
			 -E2BIG);
	ck_assert_int_eq(hostile_count(&h, "lists"), 50);
	cloud_target_free(t);
	hostile_stop(&h);
	/* Pages full of new names: the name bound ends it. */
	hostile_start(&h, "endless", "10", NULL, NULL);
	cloud_options_default(&o);
	o.list_max_names = 95;
	t = hostile_open(&h, "http", &o);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, count_name, &n),
			 -E2BIG);
	ck_assert_int_eq(n, 95);
	ck_assert_int_eq(hostile_count(&h, "lists"), 10);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "more pages than a listing may"));
	ck_assert_ptr_nonnull(strstr(text, "more names than a listing may"));
	cloud_target_free(t);
	hostile_stop(&h);
}
END_TEST

START_TEST(test_s3_repeated_continuation_token_is_ebadmsg)
{
	struct hostile h;
	struct cloud_options o;
	struct cloud_target *t;
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	int logfd, saved, n = 0;

	hostile_start(&h, "loop", NULL, NULL, NULL);
	cloud_options_default(&o);
	t = hostile_open(&h, "http", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(cloud_target_list_all(t, "sp", count_name, &n),
			 -EBADMSG);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_int_eq(hostile_count(&h, "lists"), 2);
	ck_assert_ptr_nonnull(
		strstr(text, "(space 'sp'): the server repeated a continuation"));
	cloud_target_free(t);
	hostile_stop(&h);
}
END_TEST

struct lister {
	struct cloud_target *t;
	int rc;
	int n;
};

static void *list_thread(void *arg)
{
	struct lister *l = arg;

	l->rc = cloud_target_list_all(l->t, NULL, count_name, &l->n);
	return NULL;
}

/* Join th within 20 s (a listing that is not cut fails the test). */
static void join_within(pthread_t th)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	ck_assert_msg(pthread_timedjoin_np(th, NULL, &until) == 0,
		      "the listing was not cut");
}

/* Poll the server until it has served at least n list requests. */
static void wait_lists(const struct hostile *h, int n)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 2000 && hostile_count(h, "lists") < n; i++)
		nanosleep(&pause, NULL);
	ck_assert_int_ge(hostile_count(h, "lists"), n);
}

START_TEST(test_s3_interrupt_cuts_a_listing_in_progress)
{
	struct hostile h;
	struct cloud_options o;
	struct lister l = { NULL, 0, 0 };
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	int logfd, saved, n = 0;
	void *buf;
	size_t len;
	uint64_t seq;
	pthread_t th;

	/* Between pages: an endless listing within the default bounds. */
	hostile_start(&h, "endless", "0", NULL, NULL);
	cloud_options_default(&o);
	l.t = hostile_open(&h, "http", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(pthread_create(&th, NULL, list_thread, &l), 0);
	wait_lists(&h, 5);
	cloud_target_interrupt_lists(l.t);
	join_within(th);
	ck_assert_int_eq(l.rc, -ECANCELED);
	/* Uploads and deletes go on; downloads are cut too (a stop never
	 * waits for one). */
	ck_assert_int_eq(cloud_target_put(l.t, "s", "k", "x", 1, 1), 0);
	ck_assert_int_eq(cloud_target_delete(l.t, "s", "k"), 0);
	ck_assert_int_eq(cloud_target_get(l.t, "s", "k", &buf, &len, &seq),
			 -ECANCELED);
	ck_assert_int_eq(cloud_target_list_all(l.t, NULL, count_name, &n),
			 -ECANCELED);
	cloud_target_free(l.t);
	hostile_stop(&h);
	/* During a page: a response that never ends. */
	hostile_start(&h, "stall", NULL, NULL, NULL);
	cloud_options_default(&o);
	l.t = hostile_open(&h, "http", &o);
	ck_assert_int_eq(pthread_create(&th, NULL, list_thread, &l), 0);
	wait_lists(&h, 1);
	cloud_target_interrupt(l.t);
	join_within(th);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_int_eq(l.rc, -ECANCELED);
	ck_assert_int_eq(hostile_count(&h, "lists"), 1);
	cloud_target_free(l.t);
	hostile_stop(&h);
}
END_TEST

static void *get_thread(void *arg)
{
	struct lister *l = arg;
	void *buf = NULL;
	size_t len;
	uint64_t seq;

	l->rc = cloud_target_get(l->t, "sp", "doc", &buf, &len, &seq);
	free(buf);
	return NULL;
}

/* A download whose body never comes (the headers came) is cut by
 * cloud_target_interrupt_lists(), as a SIGTERM does (fs/cloud_glue.c),
 * and so are later GETs and HEADs; uploads go on (a stop drains them). */
START_TEST(test_s3_interrupt_lists_cuts_a_stalled_download)
{
	struct timespec pause = { 0, 10000000 };
	struct cloud_object_info info;
	struct lister l = { NULL, 0, 0 };
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	struct cloud_options o;
	struct hostile h;
	int logfd, saved;
	pthread_t th;

	hostile_start(&h, "stallget", NULL, NULL, NULL);
	cloud_options_default(&o);
	l.t = hostile_open(&h, "http", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(pthread_create(&th, NULL, get_thread, &l), 0);
	for (int i = 0; i < 2000 && hostile_count(&h, "stalled") < 1; i++)
		nanosleep(&pause, NULL);
	ck_assert_int_eq(hostile_count(&h, "stalled"), 1);
	cloud_target_interrupt_lists(l.t);
	join_within(th);
	ck_assert_int_eq(l.rc, -ECANCELED);
	ck_assert_int_eq(cloud_target_head(l.t, "sp", "doc", &info),
			 -ECANCELED);
	ck_assert_int_eq(cloud_target_put(l.t, "sp", "new", "x", 1, 1), 0);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_int_eq(hostile_count(&h, "stalled"), 1);
	cloud_target_free(l.t);
	hostile_stop(&h);
}
END_TEST

/* A server that answers the GET right after a PUT with an empty body
 * (s3rver does while the overwrite is under way): the writer lease read
 * back after it is written is read again, not taken for another
 * store's, and a store that held it takes it again after a release. */
START_TEST(test_s3_torn_lease_read_is_read_again)
{
	static const uint8_t store[LEASE_STORE_LEN] = { 7, 7, 7 };
	struct hostile h;
	struct cloud_options o;
	struct cloud_target *t;
	struct lease_info holder;

	hostile_start(&h, "tornread", "0", NULL, NULL);
	cloud_options_default(&o);
	t = hostile_open(&h, "http", &o);
	ck_assert_int_eq(lease_acquire(t, store, false, &holder), 0);
	ck_assert_int_eq(lease_check(t, store, &holder), 0);
	ck_assert(holder.active);
	ck_assert_int_eq(lease_release(t, store), 0);
	ck_assert_int_eq(lease_acquire(t, store, false, &holder), 0);
	ck_assert_int_ge(hostile_count(&h, "torn"), 2);
	cloud_target_free(t);
	hostile_stop(&h);
}
END_TEST

START_TEST(test_s3_huge_object_is_refused_before_its_body)
{
	struct hostile h;
	struct cloud_options o;
	struct cloud_target *t;
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	int logfd, saved;
	void *buf = NULL;
	size_t len;
	uint64_t seq;

	hostile_start(&h, "huge", NULL, NULL, NULL);
	cloud_options_default(&o);
	o.max_object_bytes = 1 << 20;
	o.low_speed_time_s = 5; /* the body never comes */
	t = hostile_open(&h, "http", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(cloud_target_get(t, "sp", "big", &buf, &len, &seq),
			 -EFBIG);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_int_eq(hostile_count(&h, "gets"), 1); /* not retried */
	ck_assert_ptr_nonnull(strstr(text, "/p/sp/big': response larger "
					   "than 1048576 bytes"));
	cloud_target_free(t);
	hostile_stop(&h);
}
END_TEST

START_TEST(test_s3_untrusted_certificate_is_ekeyrejected_not_retried)
{
	char dir[] = "/tmp/caravan-tls-XXXXXX", cmd[1024], cert[64], key[64];
	char logpath[] = "/tmp/caravan-s3log-XXXXXX", text[8192];
	struct hostile h;
	struct cloud_options o;
	struct cloud_target *t;
	int logfd, saved, n = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' "
		 "-out '%s' -days 1 -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
		 key, cert);
	ck_assert_int_eq(system(cmd), 0);
	hostile_start(&h, "tls", NULL, cert, key);
	cloud_options_default(&o);
	t = hostile_open(&h, "https", &o);
	capture_stderr_begin(logpath, &logfd, &saved);
	ck_assert_int_eq(cloud_target_list_all(t, NULL, count_name, &n),
			 -EKEYREJECTED);
	capture_stderr_end(logpath, logfd, saved, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "error: cannot list 's3://"));
	ck_assert_ptr_null(strstr(text, "retrying"));
	cloud_target_free(t);
	hostile_stop(&h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_target");
	TCase *shared = tcase_create("shared");
	TCase *dir = tcase_create("dir");
	TCase *s3 = tcase_create("s3");
	SRunner *sr;
	int failed;

	if (!mkdtemp(dir_root)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	if (start_s3rver() != 0) {
		stop_s3rver();
		return EXIT_FAILURE;
	}
	fprintf(stderr, "s3rver on 127.0.0.1:%d; targets:", s3_port);
	for (int k = 0; k < KIND_COUNT; k++)
		fprintf(stderr, " %s", kind_name[k]);
	fprintf(stderr, "\n");
	tcase_add_loop_test(shared, test_target_put_get_overwrite, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared, test_target_large_binary_object, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared, test_target_head_and_missing_objects, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared, test_target_delete_is_idempotent, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared, test_target_any_name_round_trips, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared,
			    test_target_list_pages_see_each_name_once_in_order,
			    0, KIND_COUNT);
	tcase_add_loop_test(shared,
			    test_target_spaces_come_and_go_with_their_objects,
			    0, KIND_COUNT);
	tcase_add_loop_test(shared, test_target_refuses_bad_names, 0,
			    KIND_COUNT);
	tcase_add_loop_test(shared, test_target_concurrent_puts, 0, KIND_COUNT);
	tcase_add_loop_test(shared, test_target_doc_round_trip, 0, KIND_COUNT);
	tcase_add_loop_test(shared, test_target_legacy_object_reads_as_legacy,
			    0, KIND_COUNT);
	tcase_set_timeout(shared, 120);
	tcase_add_test(dir, test_dir_put_is_atomic_under_io_faults);
	tcase_add_test(dir, test_dir_corrupt_object_is_ebadmsg);
	tcase_add_test(dir,
		       test_dir_doc_is_a_plain_file_and_a_torn_pair_is_ebadmsg);
	tcase_add_test(dir,
		       test_dir_listing_ignores_foreign_and_temporary_files);
	tcase_add_test(dir, test_dir_never_leaves_its_root);
	tcase_add_test(dir,
		       test_dir_new_files_are_private_existing_root_keeps_its_mode);
	tcase_add_test(s3,
		       test_s3_wrong_credentials_are_eacces_with_a_log_line);
	tcase_add_test(s3, test_s3_unreachable_endpoint_is_eio_after_retries);
	tcase_add_test(s3, test_s3_endless_listing_is_bounded);
	tcase_add_test(s3, test_s3_repeated_continuation_token_is_ebadmsg);
	tcase_add_test(s3, test_s3_interrupt_cuts_a_listing_in_progress);
	tcase_add_test(s3, test_s3_interrupt_lists_cuts_a_stalled_download);
	tcase_add_test(s3, test_s3_huge_object_is_refused_before_its_body);
	tcase_add_test(s3, test_s3_torn_lease_read_is_read_again);
	tcase_add_test(s3,
		       test_s3_untrusted_certificate_is_ekeyrejected_not_retried);
	tcase_set_timeout(s3, 60);
	suite_add_tcase(s, shared);
	suite_add_tcase(s, dir);
	suite_add_tcase(s, s3);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (waitpid(s3_pid, NULL, WNOHANG) == s3_pid) {
		char cmd[256];

		fprintf(stderr, "s3rver died during the tests; its log:\n");
		snprintf(cmd, sizeof(cmd), "cat '%s/log' >&2", s3_root);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
		s3_pid = -1;
		failed++;
	}
	stop_s3rver();
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir_root);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove '%s'\n", dir_root);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
