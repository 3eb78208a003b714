/*
 * check_cloud_claim.c - the first upload of a document whose name changes
 * hands between its snapshot and its claim (cloud/upload.c, "The claim"),
 * against a real store and a dir: target seen through a wrapper that can
 * hold the reconcile's HEAD of one name until the test lets it go.
 *
 * What is checked: a document deleted, or replaced by a rename over it,
 * while its first upload reconciles puts nothing under the name it lost;
 * the document that took the name is uploaded there with no conflict copy
 * (the copy the lost upload wrote was taken for an unknown object); a
 * document renamed away meanwhile is uploaded under its new name only;
 * a kill -9 (a child's _exit, its committer's buffer lost) right after a
 * first upload's PUT, with a change made between its snapshot and its
 * claim on disk, leaves no conflict copy at the restart (the claim is
 * durable before the PUT).
 */
#include "config.h"

#include "cloud/backup.h"
#include "cloud/target.h"
#include "cloud/target_internal.h"
#include "store/doc.h"
#include "store/store.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a target whose HEAD of one name waits for the test ---- */

struct gate {
	struct cloud_target base;
	struct cloud_target *inner;
	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t cv;
	char key[64]; /* the name whose first HEAD waits ("": none) */
	bool held; /* a HEAD of key is waiting */
	bool open; /* ... and may go on */
	int puts; /* PUTs of key */
	/* or, instead of waiting: on_head(arg) runs in that HEAD, and the
	 * process ends (_exit, as a kill -9) once a PUT of key is done */
	void (*on_head)(void *arg);
	void *on_head_arg;
	bool exit_after_put;
};

static struct gate *gt(struct cloud_target *t)
{
	return (struct gate *)t;
}

static int gate_put(struct cloud_target *t, const char *space, const char *key,
		    const void *buf, size_t len, uint64_t seq)
{
	return cloud_target_put(gt(t)->inner, space, key, buf, len, seq);
}

static int gate_put_doc(struct cloud_target *t, const char *space,
			const char *key, const void *buf, size_t len,
			const struct cloud_doc_meta *meta)
{
	struct gate *g = gt(t);

	bool exit_after;
	int rc;

	pthread_mutex_lock(&g->lock);
	exit_after = !strcmp(key, g->key) && g->exit_after_put;
	if (!strcmp(key, g->key))
		g->puts++;
	pthread_mutex_unlock(&g->lock);
	rc = cloud_target_put_doc(g->inner, space, key, buf, len, meta);
	if (exit_after && !rc)
		_exit(0); /* the PUT is out; frames not yet written are lost */
	return rc;
}

static int gate_get(struct cloud_target *t, const char *space, const char *key,
		    void **buf, size_t *len, uint64_t *seq)
{
	return cloud_target_get(gt(t)->inner, space, key, buf, len, seq);
}

static int gate_get_doc(struct cloud_target *t, const char *space,
			const char *key, void **buf, size_t *len,
			struct cloud_doc_meta *meta)
{
	return cloud_target_get_doc(gt(t)->inner, space, key, buf, len, meta);
}

static int gate_head(struct cloud_target *t, const char *space, const char *key,
		     struct cloud_object_info *info)
{
	return cloud_target_head(gt(t)->inner, space, key, info);
}

static int gate_head_doc(struct cloud_target *t, const char *space,
			 const char *key, struct cloud_doc_meta *meta,
			 uint64_t *size)
{
	struct gate *g = gt(t);

	if (!strcmp(key, g->key) && g->on_head) {
		void (*fn)(void *) = g->on_head;

		g->on_head = NULL; /* once */
		fn(g->on_head_arg);
	}
	pthread_mutex_lock(&g->lock);
	if (!strcmp(key, g->key) && !g->open) {
		g->held = true;
		pthread_cond_broadcast(&g->cv);
		while (!g->open)
			pthread_cond_wait(&g->cv, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return cloud_target_head_doc(g->inner, space, key, meta, size);
}

static int gate_del(struct cloud_target *t, const char *space, const char *key)
{
	return cloud_target_delete(gt(t)->inner, space, key);
}

static int gate_list(struct cloud_target *t, const char *space,
		     const char *token, char **next, cloud_name_fn fn,
		     void *arg)
{
	return cloud_target_list(gt(t)->inner, space, token, next, fn, arg);
}

static void gate_destroy(struct cloud_target *t)
{
	struct gate *g = gt(t);

	cloud_target_free(g->inner);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->lock);
	cloud_target_base_release(t);
	free(g);
}

static const struct cloud_target_ops gate_ops = {
	.put = gate_put,
	.get = gate_get,
	.head = gate_head,
	.put_doc = gate_put_doc,
	.get_doc = gate_get_doc,
	.head_doc = gate_head_doc,
	.del = gate_del,
	.list = gate_list,
	.destroy = gate_destroy,
};

static char tmp_root[] = "/tmp/caravan-claim-XXXXXX";
static int fixture_n, fixture_pid;

struct fix {
	char store_dir[512], cloud_dir[512];
	struct store *s;
	struct gate *g;
	struct backup *b;
	uint64_t space;
};

static const struct store_meta doc_meta = { 0640, 1000, 1000,
					    1700000000123456789LL,
					    1700000000123456789LL };

/* A store (commit_ms: its committer's interval) and a target whose HEAD
 * of key waits; no backup yet. */
static void fix_open_at(struct fix *x, const char *key, uint32_t commit_ms);

/* The store and target of the fixture's names (the last made by this
 * test, or a new pair), opened; the space made when missing. */
static void fix_attach(struct fix *x, const char *key, uint32_t commit_ms)
{
	struct store_options so;
	struct cloud_options o;
	char url[600];
	int rc;

	memset(x, 0, sizeof(*x));
	if (!fixture_pid) /* the test's process, also in a child it forks */
		fixture_pid = (int)getpid();
	snprintf(x->store_dir, sizeof(x->store_dir), "%s/store%d-%d", tmp_root,
		 fixture_pid, fixture_n);
	snprintf(x->cloud_dir, sizeof(x->cloud_dir), "%s/cloud%d-%d", tmp_root,
		 fixture_pid, fixture_n++);
	store_options_default(&so);
	so.capacity_bytes = 4u << 20;
	so.commit_ms = commit_ms;
	ck_assert_int_eq(store_open(x->store_dir, &so, &x->s), 0);
	rc = store_space_lookup(x->s, "sp", &x->space);
	if (rc == -ENOENT)
		rc = store_space_create(x->s, "sp", &doc_meta, &x->space, NULL);
	ck_assert_int_eq(rc, 0);
	x->g = calloc(1, sizeof(*x->g));
	ck_assert_ptr_nonnull(x->g);
	cloud_options_default(&o);
	snprintf(url, sizeof(url), "dir:%s", x->cloud_dir);
	ck_assert_int_eq(cloud_target_open(url, &o, &x->g->inner), 0);
	ck_assert_int_eq(
		cloud_target_base_init(&x->g->base, &gate_ops, url, &o), 0);
	pthread_mutex_init(&x->g->lock, NULL);
	pthread_cond_init(&x->g->cv, NULL);
	snprintf(x->g->key, sizeof(x->g->key), "%s", key);
}

static void fix_open_at(struct fix *x, const char *key, uint32_t commit_ms)
{
	fix_attach(x, key, commit_ms);
}

static void fix_open(struct fix *x, const char *key)
{
	fix_open_at(x, key, 20);
}

static void fix_start(struct fix *x)
{
	struct backup_options o;

	backup_options_default(&o);
	o.delay_ms = 0;
	o.uploads = 2;
	o.retry.base_ms = 5;
	o.retry.cap_ms = 20;
	o.list_cache_ms = 0; /* the catalog vouches for no name: a HEAD */
	ck_assert_int_eq(backup_start(x->s, &x->g->base, &o, &x->b), 0);
}

static void fix_close(struct fix *x)
{
	backup_stop(x->b, 0);
	ck_assert_int_eq(store_close(x->s), 0);
	cloud_target_free(&x->g->base);
}

static uint64_t new_doc(struct fix *x, const char *key, const char *patch)
{
	uint64_t id;

	ck_assert_int_eq(
		store_doc_create(x->s, x->space, key, &doc_meta, &id, NULL), 0);
	ck_assert_int_eq(
		store_append(x->s, id, patch, strlen(patch), NULL, NULL), 0);
	return id;
}

/* Wait (10 s at most) until the upload of the gated name is in its
 * reconcile's HEAD, after its snapshot and before its claim. */
static void wait_held(struct fix *x)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&x->g->lock);
	while (!x->g->held && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&x->g->cv, &x->g->lock, &until);
	pthread_mutex_unlock(&x->g->lock);
	ck_assert_msg(x->g->held, "no upload reached the HEAD of '%s'",
		      x->g->key);
}

static void release(struct fix *x)
{
	pthread_mutex_lock(&x->g->lock);
	x->g->open = true;
	pthread_cond_broadcast(&x->g->cv);
	pthread_mutex_unlock(&x->g->lock);
}

static int puts_of_key(struct fix *x)
{
	int n;

	pthread_mutex_lock(&x->g->lock);
	n = x->g->puts;
	pthread_mutex_unlock(&x->g->lock);
	return n;
}

static int find_conflict(void *arg, const char *name)
{
	if (strstr(name, ".caravan-conflict-"))
		snprintf(arg, 256, "%s", name);
	return 0;
}

/* The cloud's body of (sp, key), "" when absent. */
static void cloud_body(struct fix *x, const char *key, char *out, size_t cap)
{
	struct cloud_doc_meta m;
	void *body = NULL;
	size_t len = 0;
	int rc = cloud_target_get_doc(x->g->inner, "sp", key, &body, &len, &m);

	out[0] = 0;
	if (rc == -ENOENT)
		return;
	ck_assert_int_eq(rc, 0);
	snprintf(out, cap, "%.*s", (int)len, (const char *)body);
	free(body);
}

static void expect_no_conflict(struct fix *x)
{
	struct backup_stats st;
	char conflict[256] = "";

	backup_stats(x->b, &st);
	ck_assert_int_eq(cloud_target_list_all(x->g->inner, "sp", find_conflict,
					       conflict),
			 0);
	ck_assert_msg(!conflict[0], "a conflict copy: '%s'", conflict);
	ck_assert_uint_eq(st.conflicts, 0);
}

/* `mv b a` while a's first upload reconciles: a's state is not PUT under
 * the name b took (the old code did, and b's upload then kept it as a
 * conflict copy: e2e_cloud_history_crash); b is uploaded there. */
START_TEST(test_claim_rename_over_a_first_upload_puts_nothing_there)
{
	struct fix x;
	char body[128];
	uint64_t a, b;
	struct store_doc_info info;

	fix_open(&x, "a");
	a = new_doc(&x, "a", "P{\"who\":\"a\"}");
	fix_start(&x);
	wait_held(&x);
	b = new_doc(&x, "b", "P{\"who\":\"b\"}");
	ck_assert_int_eq(store_doc_rename(x.s, b, x.space, "a", 0, NULL), 0);
	ck_assert_int_eq(store_doc_info(x.s, a, &info), -ENOENT);
	release(&x);
	ck_assert_int_eq(backup_flush(x.b, 10000), 0);
	expect_no_conflict(&x);
	cloud_body(&x, "a", body, sizeof(body));
	ck_assert_str_eq(body, "{\"who\":\"b\"}\n");
	cloud_body(&x, "b", body, sizeof(body));
	ck_assert_str_eq(body, "");
	ck_assert_int_eq(puts_of_key(&x), 1); /* b's, not a's */
	ck_assert_int_eq(store_doc_info(x.s, b, &info), 0);
	ck_assert_uint_eq(info.backup_seq, info.seq);
	ck_assert(info.backup_time_ns > 0);
	fix_close(&x);
}
END_TEST

/* Deleted while its first upload reconciles, then made again: the new
 * document is the only one ever PUT under the name, with no conflict. */
START_TEST(test_claim_delete_during_a_first_upload_puts_nothing)
{
	struct fix x;
	char body[128];
	uint64_t a;

	fix_open(&x, "a");
	a = new_doc(&x, "a", "P{\"v\":1}");
	fix_start(&x);
	wait_held(&x);
	ck_assert_int_eq(store_doc_delete(x.s, a, NULL), 0);
	new_doc(&x, "a", "P{\"v\":2}");
	release(&x);
	ck_assert_int_eq(backup_flush(x.b, 10000), 0);
	expect_no_conflict(&x);
	cloud_body(&x, "a", body, sizeof(body));
	ck_assert_str_eq(body, "{\"v\":2}\n");
	ck_assert_int_eq(puts_of_key(&x), 1);
	fix_close(&x);
}
END_TEST

/* Renamed away while its first upload reconciles: uploaded under the new
 * name only, nothing left under the old one. */
START_TEST(test_claim_rename_away_during_a_first_upload)
{
	struct fix x;
	char body[128];
	uint64_t a;
	struct store_doc_info info;

	fix_open(&x, "a");
	a = new_doc(&x, "a", "P{\"v\":1}");
	fix_start(&x);
	wait_held(&x);
	ck_assert_int_eq(store_doc_rename(x.s, a, x.space, "z", 0, NULL), 0);
	release(&x);
	ck_assert_int_eq(backup_flush(x.b, 10000), 0);
	expect_no_conflict(&x);
	cloud_body(&x, "a", body, sizeof(body));
	ck_assert_str_eq(body, "");
	cloud_body(&x, "z", body, sizeof(body));
	ck_assert_str_eq(body, "{\"v\":1}\n");
	ck_assert_int_eq(store_doc_info(x.s, a, &info), 0);
	ck_assert_uint_eq(info.backup_seq, info.seq);
	fix_close(&x);
}
END_TEST

/* The change a crash test makes in the reconcile's HEAD, between the
 * snapshot being uploaded and its claim, made durable at once. */
struct crash_arg {
	struct store *s;
	uint64_t id;
};

/* A rewrite (an O_TRUNC open's reset) with -o history=0: the entries
 * uploaded are trimmed. */
static void rewrite_durably(void *arg)
{
	struct crash_arg *c = arg;
	struct doc_options o;
	struct doc *d;

	doc_options_default(&o);
	o.history = 0;
	if (doc_open(c->s, &o, &d) || doc_reset(d, c->id, NULL) ||
	    store_sync(c->s, 0))
		_exit(3);
	doc_close(d);
}

/* The first write after an empty create (the empty state uploaded, seq
 * 0, is no entry), with the default options. */
static void first_write_durably(void *arg)
{
	struct crash_arg *c = arg;

	if (store_append(c->s, c->id, "P{\"v\":2}", 8, NULL, NULL) ||
	    store_sync(c->s, 0))
		_exit(3);
}

/* kill -9 after a first upload's PUT, its claim still in the committer's
 * buffer, with change (made between its snapshot and its claim) on disk:
 * at the restart the document is never confirmed (backup_time 0) and in
 * a state whose entries do not hold the one the cloud has.  The claim is
 * durable before the PUT, so the restart knows the copy as the store's
 * own: no conflict copy (the old code kept it as one), and the cloud
 * ends with the document's JSON, want. */
static void kill_after_the_put(const char *patch, void (*change)(void *),
			       const char *want)
{
	struct fix x;
	struct crash_arg c;
	char body[128], conflict[256] = "";
	struct backup_stats st;
	pid_t pid;
	int status;

	if (!fixture_pid)
		fixture_pid = (int)getpid();
	fflush(NULL);
	pid = fork(); /* the process that crashes: it opens the store */
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* no frame written but by a sync */
		fix_open_at(&x, "a", 60000);
		c.s = x.s;
		if (store_doc_create(x.s, x.space, "a", &doc_meta, &c.id,
				     NULL) ||
		    (patch && store_append(x.s, c.id, patch, strlen(patch),
					   NULL, NULL)) ||
		    store_sync(x.s, 0))
			_exit(2);
		x.g->open = true; /* no waiting: the hook below */
		x.g->on_head = change;
		x.g->on_head_arg = &c;
		x.g->exit_after_put = true;
		fix_start(&x);
		sleep(30); /* the PUT's _exit ends it first */
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* the restart, on what the crash left (the child's names: its
	 * fixture_n was this process's) */
	fix_attach(&x, "", 20);
	fix_start(&x);
	ck_assert_int_eq(backup_flush(x.b, 10000), 0);
	ck_assert_int_eq(cloud_target_list_all(x.g->inner, "sp", find_conflict,
					       conflict),
			 0);
	ck_assert_msg(!conflict[0], "a conflict copy: '%s'", conflict);
	backup_stats(x.b, &st);
	ck_assert_uint_eq(st.conflicts, 0);
	cloud_body(&x, "a", body, sizeof(body));
	ck_assert_str_eq(body, want);
	fix_close(&x);
}

START_TEST(test_claim_survives_a_kill_after_the_put_rewrite)
{
	kill_after_the_put("P{\"v\":1}", rewrite_durably, "{}\n");
}
END_TEST

/* e2e_cloud_history_crash's case: `echo ... >name` caught between its
 * create and its write. */
START_TEST(test_claim_survives_a_kill_after_the_put_empty_create)
{
	kill_after_the_put(NULL, first_write_durably, "{\"v\":2}\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_claim");
	TCase *tc = tcase_create("claim");
	SRunner *sr;
	int failed;
	char cmd[256];

	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_add_test(
		tc, test_claim_rename_over_a_first_upload_puts_nothing_there);
	tcase_add_test(tc,
		       test_claim_delete_during_a_first_upload_puts_nothing);
	tcase_add_test(tc, test_claim_rename_away_during_a_first_upload);
	tcase_add_test(tc, test_claim_survives_a_kill_after_the_put_rewrite);
	tcase_add_test(tc,
		       test_claim_survives_a_kill_after_the_put_empty_create);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", tmp_root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
