/*
 * check_cloud_lease.c - one writer per prefix: the writer lease format
 * (cloud/lease_format.c), its protocol (cloud/lease.c) and the uploader's
 * hold on it (cloud/writer.c), against real stores and a dir: target.
 */
#include "config.h"

#include "cloud/backup.h"
#include "cloud/lease.h"
#include "cloud/target.h"
#include "cloud/target_internal.h"
#include "store/store.h"
#include "tests/testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct store_meta M = { 0640, 0, 0, 1, 1 };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* test_tmpdir's directories hold subdirectories here: remove them all
 * (the path itself stays test_tmpdir's). */
static void rm_tree(const char *root)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

struct side {
	char dir[600];
	struct store *s;
	struct cloud_target *t;
	struct backup *b;
	uint64_t space;
};

static void side_open(struct side *x, const char *root, const char *name,
		      const char *cloud)
{
	struct store_options so;
	struct cloud_options co;
	char url[700];

	memset(x, 0, sizeof(*x));
	snprintf(x->dir, sizeof(x->dir), "%s/%s", root, name);
	store_options_default(&so);
	so.capacity_bytes = 1u << 20;
	so.commit_ms = 10;
	ck_assert_int_eq(store_open(x->dir, &so, &x->s), 0);
	ck_assert_int_eq(store_space_create(x->s, "sp", &M, &x->space, NULL),
			 0);
	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s", cloud);
	ck_assert_int_eq(cloud_target_open(url, &co, &x->t), 0);
}

static int side_start(struct side *x, bool takeover, uint32_t check_ms,
		      bool read_only)
{
	struct backup_options o;

	backup_options_default(&o);
	o.delay_ms = 0;
	o.retry.base_ms = 5;
	o.retry.cap_ms = 20;
	o.lease_takeover = takeover;
	o.lease_check_ms = check_ms;
	o.read_only = read_only;
	return backup_start(x->s, x->t, &o, &x->b);
}

static void side_stop(struct side *x)
{
	backup_stop(x->b, 5000);
	x->b = NULL;
}

static void side_close(struct side *x)
{
	side_stop(x);
	cloud_target_free(x->t);
	ck_assert_int_eq(store_close(x->s), 0);
}

/* The fixture of the protocol tests: a fresh root holding store a and a
 * second store (named by second, or none) on one dir: target. */
struct sides {
	char *root;
	char cloud[600];
	struct side a, b;
};

static void sides_open(struct sides *w, const char *second)
{
	memset(w, 0, sizeof(*w));
	w->root = test_tmpdir();
	snprintf(w->cloud, sizeof(w->cloud), "%s/cloud", w->root);
	side_open(&w->a, w->root, "a", w->cloud);
	if (second)
		side_open(&w->b, w->root, second, w->cloud);
}

/* Close the second store, then a (a stopped side is closed the same),
 * and remove the root. */
static void sides_close(struct sides *w)
{
	if (w->b.s)
		side_close(&w->b);
	side_close(&w->a);
	rm_tree(w->root);
}

static uint64_t doc(struct side *x, const char *key, const char *patch)
{
	uint64_t id;
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "P%s", patch);

	ck_assert_int_eq(store_doc_create(x->s, x->space, key, &M, &id, NULL),
			 0);
	ck_assert_int_eq(store_append(x->s, id, buf, (size_t)n, NULL, NULL), 0);
	return id;
}

static int read_lease(struct cloud_target *t, struct lease_info *li)
{
	void *buf;
	size_t len;
	uint64_t seq;
	int rc = cloud_target_get(t, CLOUD_RESERVED_PREFIX, "writer", &buf,
				  &len, &seq);

	if (rc)
		return rc;
	rc = lease_parse(buf, len, li);
	free(buf);
	return rc;
}

/* The lease on t is active and names store x. */
static void assert_holder(struct cloud_target *t, struct side *x)
{
	uint8_t id[STORE_UUID_LEN];
	struct lease_info li;

	store_uuid(x->s, id);
	ck_assert_int_eq(read_lease(t, &li), 0);
	ck_assert(li.active);
	ck_assert(!memcmp(li.store, id, sizeof(id)));
}

static int put_lease_text(struct cloud_target *t, const char *text)
{
	return cloud_target_put(t, CLOUD_RESERVED_PREFIX, "writer", text,
				strlen(text), 1);
}

/* ---- the format ---- */

START_TEST(test_lease_format_round_trips_and_is_exact)
{
	static const char good[] = "caravanfs writer lease 1\n"
				   "store 00112233445566778899aabbccddeeff\n"
				   "host web-2.example\n"
				   "pid 812\n"
				   "since 1796550000000000000\n"
				   "state active\n";
	static const char *const bad[] = {
		"",
		"caravanfs writer lease 2\n",
		/* one line missing */
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost h\npid 1\nsince 1\n",
		/* upper-case hex, short hex */
		"caravanfs writer lease 1\nstore 00112233445566778899AABBCCDDEE"
		"FF\nhost h\npid 1\nsince 1\nstate active\n",
		"caravanfs writer lease 1\nstore 0011\nhost h\npid 1\nsince "
		"1\nstate active\n",
		/* empty host, a byte outside the host alphabet */
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost \npid 1\nsince 1\nstate active\n",
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost a/b\npid 1\nsince 1\nstate active\n",
		/* pid too long, since past int64, unknown state */
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost h\npid 12345678901\nsince 1\nstate active\n",
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost h\npid 1\nsince 9999999999999999999\nstate active\n",
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost h\npid 1\nsince 1\nstate held\n",
		/* trailing bytes */
		"caravanfs writer lease 1\nstore 00112233445566778899aabbccddee"
		"ff\nhost h\npid 1\nsince 1\nstate active\nx",
	};
	struct lease_info li, back;
	char out[LEASE_OBJECT_MAX];
	size_t n;

	ck_assert_int_eq(lease_parse(good, strlen(good), &li), 0);
	ck_assert_uint_eq(li.store[0], 0x00);
	ck_assert_uint_eq(li.store[15], 0xff);
	ck_assert_str_eq(li.host, "web-2.example");
	ck_assert(li.pid == 812);
	ck_assert(li.since_ns == 1796550000000000000LL);
	ck_assert(li.active);
	n = lease_encode(&li, out);
	ck_assert_uint_eq(n, strlen(good));
	ck_assert(!memcmp(out, good, n));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(lease_parse(bad[i], strlen(bad[i]), &back) ==
				      -EBADMSG,
			      "accepted bad lease %zu", i);
	/* every truncation of a good lease is refused */
	for (size_t i = 0; i < strlen(good); i++)
		ck_assert_int_eq(lease_parse(good, i, &back), -EBADMSG);
	/* a host name with other bytes is written with '_' */
	strcpy(li.host, "a b/c");
	n = lease_encode(&li, out);
	ck_assert_int_eq(lease_parse(out, n, &back), 0);
	ck_assert_str_eq(back.host, "a_b_c");
}
END_TEST

/* ---- the protocol through the uploader ---- */

/* A second store on a prefix that a live store writes is refused, and
 * nothing of it reaches the prefix; after a clean stop of the first, the
 * second takes it. */
START_TEST(test_lease_second_writer_is_refused_until_the_first_stops)
{
	struct sides w;
	struct side *a = &w.a, *b = &w.b;
	struct lease_info li;
	uint8_t ida[STORE_UUID_LEN];

	sides_open(&w, "b");
	store_uuid(a->s, ida);
	ck_assert_int_eq(side_start(a, false, 0, false), 0);
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	ck_assert(li.active);
	ck_assert(!memcmp(li.store, ida, sizeof(ida)));
	ck_assert(li.pid == getpid());

	doc(b, "from-b", "{\"b\":1}");
	ck_assert_int_eq(side_start(b, false, 0, false), -EBUSY);
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	ck_assert(!memcmp(li.store, ida, sizeof(ida)));

	side_stop(a); /* clean: released */
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	ck_assert(!li.active);
	ck_assert_int_eq(side_start(b, false, 0, false), 0);
	ck_assert_int_eq(backup_flush(b->b, 20000), 0);
	assert_holder(b->t, b);
	sides_close(&w);
}
END_TEST

/* A lease left active by a crash: the same store takes it back at its
 * next start; another store is refused unless it takes the prefix over. */
START_TEST(test_lease_left_by_a_crash_is_the_same_stores_again)
{
	struct sides w;
	struct side *a = &w.a, *b = &w.b;
	struct lease_info li;
	char text[LEASE_OBJECT_MAX];
	size_t n;

	sides_open(&w, "b");
	ck_assert_int_eq(side_start(a, false, 0, false), 0);
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	side_stop(a);
	/* what a kill -9 leaves: the lease still active */
	li.active = true;
	li.pid = 999999;
	n = lease_encode(&li, text);
	text[n] = '\0';
	ck_assert_int_eq(put_lease_text(a->t, text), 0);

	ck_assert_int_eq(side_start(b, false, 0, false), -EBUSY);
	ck_assert_int_eq(side_start(a, false, 0, false), 0);
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	ck_assert(li.pid == getpid());
	side_stop(a);
	li.active = true;
	n = lease_encode(&li, text);
	text[n] = '\0';
	ck_assert_int_eq(put_lease_text(a->t, text), 0);
	ck_assert_int_eq(side_start(b, true, 0, false), 0);
	sides_close(&w);
}
END_TEST

/* Takeover: the old writer finds out at its next check and writes
 * nothing more; its changes stay pending locally. */
START_TEST(test_lease_takeover_fences_the_old_writer)
{
	struct sides w;
	struct side *a = &w.a, *b = &w.b;
	struct backup_stats st;
	struct store_doc_info info;
	uint64_t id;
	struct cloud_doc_meta dm;
	void *buf;
	size_t len;
	int64_t deadline;

	sides_open(&w, "b");
	ck_assert_int_eq(side_start(a, false, 50, false), 0);
	id = doc(a, "doc", "{\"v\":1}");
	ck_assert_int_eq(backup_flush(a->b, 20000), 0);
	ck_assert_int_eq(side_start(b, true, 0, false), 0);

	deadline = now_ms() + 30000; /* an anti-hang bound, not a speed */
	for (;;) {
		backup_stats(a->b, &st);
		if (st.fenced || now_ms() > deadline)
			break;
		test_wait_ms(10);
	}
	ck_assert_uint_eq(st.fenced, 1);
	ck_assert_uint_eq(st.lease_held, 0);

	/* a change after the fence stays local */
	ck_assert_int_eq(store_append(a->s, id, "P{\"v\":2}", 8, NULL, NULL),
			 0);
	ck_assert_int_eq(backup_flush(a->b, 2000), -EBUSY);
	ck_assert_int_eq(store_doc_info(a->s, id, &info), 0);
	ck_assert_uint_lt(info.backup_seq, info.seq);
	ck_assert_int_eq(
		cloud_target_get_doc(b->t, "sp", "doc", &buf, &len, &dm), 0);
	ck_assert_uint_lt(dm.seq, info.seq);
	free(buf);
	/* stopping a fenced writer leaves the new writer's lease alone */
	side_stop(a);
	assert_holder(b->t, b);
	sides_close(&w);
}
END_TEST

/* Bytes that are no lease: refused (the prefix may be someone else's)
 * unless taken over, which replaces them. */
START_TEST(test_lease_malformed_object_is_refused_unless_taken_over)
{
	struct sides w;
	struct side *a = &w.a;
	struct lease_info li;

	sides_open(&w, NULL);
	ck_assert_int_eq(put_lease_text(a->t, "not a lease at all\n"), 0);
	ck_assert_int_eq(side_start(a, false, 0, false), -EBUSY);
	ck_assert_int_eq(side_start(a, true, 0, false), 0);
	ck_assert_int_eq(read_lease(a->t, &li), 0);
	ck_assert(li.active);
	sides_close(&w);
}
END_TEST

/* A read-only backup (caravan restore) takes no lease and writes
 * nothing, so it never disturbs the store that writes the prefix. */
START_TEST(test_lease_read_only_backup_writes_nothing)
{
	struct sides w;
	struct side *a = &w.a, *r = &w.b;
	uint64_t rid;

	sides_open(&w, "r");
	ck_assert_int_eq(side_start(a, false, 0, false), 0);
	doc(a, "doc", "{\"v\":1}");
	ck_assert_int_eq(backup_flush(a->b, 20000), 0);

	doc(r, "local-only", "{\"r\":1}");
	ck_assert_int_eq(side_start(r, false, 0, true), 0);
	ck_assert_int_eq(backup_restore_doc(r->b, "sp", "doc", &rid), 0);
	ck_assert_int_eq(backup_flush(r->b, 2000), -EROFS);
	side_stop(r);
	assert_holder(a->t, a);
	{
		struct cloud_doc_meta dm;
		void *buf;
		size_t len;

		ck_assert_int_eq(cloud_target_get_doc(a->t, "sp", "local-only",
						      &buf, &len, &dm),
				 -ENOENT);
	}
	sides_close(&w);
}
END_TEST

/* ---- the conditional PUT ---- */

/* dir: put_new writes when absent and is -EEXIST, changing nothing, when
 * an object is there. */
START_TEST(test_lease_put_new_never_replaces_on_dir)
{
	char *root = test_tmpdir(), url[700];
	struct cloud_options co;
	struct cloud_target *t;
	void *buf;
	size_t len;
	uint64_t seq;

	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s/cloud", root);
	ck_assert_int_eq(cloud_target_open(url, &co, &t), 0);
	ck_assert_int_eq(cloud_target_put_new(t, CLOUD_RESERVED_PREFIX, "x",
					      "first", 5, 1),
			 0);
	ck_assert_int_eq(cloud_target_put_new(t, CLOUD_RESERVED_PREFIX, "x",
					      "second", 6, 2),
			 -EEXIST);
	ck_assert_int_eq(cloud_target_get(t, CLOUD_RESERVED_PREFIX, "x", &buf,
					  &len, &seq),
			 0);
	ck_assert_uint_eq(len, 5);
	ck_assert(!memcmp(buf, "first", 5));
	ck_assert_uint_eq(seq, 1);
	free(buf);
	cloud_target_free(t);
	rm_tree(root);
}
END_TEST

/* A target whose first GET of the lease misses it, as when another store
 * creates the lease between our GET and our PUT. */
struct late {
	struct cloud_target base;
	struct cloud_target *inner;
	int gets;
};

static struct cloud_target *late_inner(struct cloud_target *t)
{
	return ((struct late *)t)->inner;
}

static int late_put(struct cloud_target *t, const char *space, const char *key,
		    const void *buf, size_t len, uint64_t seq)
{
	return cloud_target_put(late_inner(t), space, key, buf, len, seq);
}

static int late_put_new(struct cloud_target *t, const char *space,
			const char *key, const void *buf, size_t len,
			uint64_t seq)
{
	return cloud_target_put_new(late_inner(t), space, key, buf, len, seq);
}

static int late_get(struct cloud_target *t, const char *space, const char *key,
		    void **buf, size_t *len, uint64_t *seq)
{
	if (((struct late *)t)->gets++ == 0)
		return -ENOENT;
	return cloud_target_get(late_inner(t), space, key, buf, len, seq);
}

static int late_head(struct cloud_target *t, const char *space, const char *key,
		     struct cloud_object_info *info)
{
	return cloud_target_head(late_inner(t), space, key, info);
}

static int late_del(struct cloud_target *t, const char *space, const char *key)
{
	return cloud_target_delete(late_inner(t), space, key);
}

static int late_list(struct cloud_target *t, const char *space,
		     const char *token, char **next, cloud_name_fn fn,
		     void *arg)
{
	return cloud_target_list(late_inner(t), space, token, next, fn, arg);
}

static void late_destroy(struct cloud_target *t)
{
	cloud_target_free(late_inner(t));
	cloud_target_base_release(t);
	free(t);
}

static const struct cloud_target_ops late_ops = {
	.put = late_put,
	.put_new = late_put_new,
	.get = late_get,
	.head = late_head,
	.del = late_del,
	.list = late_list,
	.destroy = late_destroy,
};

/* Two stores take a free prefix at once: the one whose GET found nothing
 * but whose conditional PUT found the other's lease yields (-EBUSY,
 * naming it), and the other's lease stands. */
START_TEST(test_lease_conditional_put_settles_a_race_for_a_free_prefix)
{
	char *root = test_tmpdir(), url[700];
	static const uint8_t a[LEASE_STORE_LEN] = { 0xa },
			     b[LEASE_STORE_LEN] = { 0xb };
	struct cloud_options co;
	struct lease_info holder, li;
	struct late *l = calloc(1, sizeof(*l));

	ck_assert_ptr_nonnull(l);
	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s/cloud", root);
	ck_assert_int_eq(cloud_target_open(url, &co, &l->inner), 0);
	ck_assert_int_eq(cloud_target_base_init(&l->base, &late_ops, url, &co),
			 0);
	/* store a takes the free prefix first */
	ck_assert_int_eq(lease_acquire(l->inner, a, false, &holder), 0);
	/* store b looked before a's lease landed (its GET misses it) */
	ck_assert_int_eq(lease_acquire(&l->base, b, false, &holder), -EBUSY);
	ck_assert(!memcmp(holder.store, a, LEASE_STORE_LEN));
	ck_assert(holder.active);
	ck_assert_int_eq(read_lease(l->inner, &li), 0);
	ck_assert(!memcmp(li.store, a, LEASE_STORE_LEN));
	cloud_target_free(&l->base);
	rm_tree(root);
}
END_TEST

static Suite *lease_suite(void)
{
	Suite *s = suite_create("cloud_lease");
	TCase *tc = tcase_create("lease");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lease_format_round_trips_and_is_exact);
	tcase_add_test(
		tc, test_lease_second_writer_is_refused_until_the_first_stops);
	tcase_add_test(tc, test_lease_left_by_a_crash_is_the_same_stores_again);
	tcase_add_test(tc, test_lease_takeover_fences_the_old_writer);
	tcase_add_test(
		tc, test_lease_malformed_object_is_refused_unless_taken_over);
	tcase_add_test(tc, test_lease_read_only_backup_writes_nothing);
	tcase_add_test(tc, test_lease_put_new_never_replaces_on_dir);
	tcase_add_test(
		tc,
		test_lease_conditional_put_settles_a_race_for_a_free_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(lease_suite());
}
