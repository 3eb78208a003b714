/*
 * check_cloud_follow.c - the follower (cloud/follow.h) against a real
 * store in a temporary directory and a dir: target whose feed objects
 * the test writes itself (feed_writer_*: batches exactly as the writer
 * makes them, or damaged, missing, of another identity) and whose base
 * snapshots come from pitr_snapshot.
 *
 * What is checked: batches are applied in order, each whole and only
 * between the follower's lock and unlock (the lock callback compares the
 * store with the expected namespace at every lock and unlock); a
 * restarted follower resumes from its position file, and one stopped in
 * the middle of a batch (file says "applying") rebuilds before it is
 * ready; a damaged batch, a record with a reserved name or a body that is
 * no document, and a batch of another identity within a generation are
 * refused whole; a missing batch falls back to the newest base snapshot
 * past the position, and with none the follower keeps its position; a
 * new generation is followed from its batch 0.
 */
#include "config.h"

#include "cloud/feed.h"
#include "cloud/follow.h"
#include "cloud/pitr.h"
#include "cloud/target.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/log.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[] = "/tmp/caravan-follow-XXXXXX";
static int fixture_n;

static const uint8_t id_a[FEED_ID_LEN] = { 0xa1, 1, 2, 3 };
static const uint8_t id_b[FEED_ID_LEN] = { 0xb2, 4, 5, 6 };

#define GEN1 UINT64_C(0x1000)
#define GEN2 UINT64_C(0x2000)

/* The namespace the follower must show after a position: names and
 * seqs ("space/key=seq" sorted, ';'-joined). */
struct fix {
	char store_dir[512], cloud_dir[512], state[600];
	struct store *s;
	struct cloud_target *t;
	struct follow *f;
	int locks, unlocks;
	bool locked;
	char at_lock[4096]; /* the store's namespace at the last lock */
	char file_at_lock[2][600]; /* the position file at the first locks */
};

static int dump_doc(void *arg, uint64_t id, const char *name)
{
	char **acc = arg;
	(void)id;
	strcat(acc[0], acc[1]);
	strcat(acc[0], "/");
	strcat(acc[0], name);
	strcat(acc[0], ";");
	return 0;
}

static int dump_space(void *arg, uint64_t id, const char *name)
{
	char **acc = arg;

	(void)id;
	snprintf(acc[2] + strlen(acc[2]), 4096 - strlen(acc[2]), "%s\n", name);
	return 0;
}

/* "space/key=seq:body;" for every document, in store order. */
static void dump(struct store *s, char *out, size_t n)
{
	char spaces[4096] = "", names[4096] = "", *acc[3], *line, *save;

	out[0] = 0;
	acc[2] = spaces;
	ck_assert_int_eq(store_space_list(s, 0, dump_space, acc), 0);
	for (line = strtok_r(spaces, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint64_t sid;
		char *k, *ksave;

		names[0] = 0;
		acc[0] = names;
		acc[1] = line;
		ck_assert_int_eq(store_space_lookup(s, line, &sid), 0);
		ck_assert_int_eq(store_doc_list(s, sid, 0, dump_doc, acc), 0);
		for (k = strtok_r(names, ";", &ksave); k;
		     k = strtok_r(NULL, ";", &ksave)) {
			struct store_doc_info info;
			char *slash = strchr(k, '/');
			uint64_t id;

			*slash = 0;
			ck_assert_int_eq(
				store_doc_lookup(s, sid, slash + 1, &id), 0);
			ck_assert_int_eq(store_doc_info(s, id, &info), 0);
			snprintf(out + strlen(out), n - strlen(out),
				 "%s/%s=%llu;", k, slash + 1,
				 (unsigned long long)info.seq);
		}
		if (!names[0])
			snprintf(out + strlen(out), n - strlen(out), "%s/;",
				 line);
	}
}

static void dump_sorted(struct store *s, char *out, size_t n);

/* Whether the position file says state ("applying", "clean"); its
 * text into text (600 bytes; may be NULL). */
static bool file_says(struct fix *x, const char *state, char *text)
{
	char buf[600], want[64];
	FILE *fp = fopen(x->state, "r");
	size_t n;

	if (!fp)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = 0;
	fclose(fp);
	if (text)
		memcpy(text, buf, n + 1);
	snprintf(want, sizeof(want), "state %s\n", state);
	return strstr(buf, want) != NULL;
}

static void t_lock(void *arg)
{
	struct fix *x = arg;

	ck_assert(!x->locked);
	x->locked = true;
	/* nothing is changed before the file says a crash must rebuild */
	ck_assert(file_says(x, "applying", x->file_at_lock[x->locks % 2]));
	x->locks++;
	dump_sorted(x->s, x->at_lock, sizeof(x->at_lock));
}

static void t_unlock(void *arg)
{
	struct fix *x = arg;

	ck_assert(x->locked);
	x->locked = false;
	x->unlocks++;
}

static void fix_open(struct fix *x)
{
	struct store_options so;
	struct cloud_options co;
	char url[600];

	memset(x, 0, sizeof(*x));
	snprintf(x->store_dir, sizeof(x->store_dir), "%s/store%d", tmp_root,
		 fixture_n);
	snprintf(x->cloud_dir, sizeof(x->cloud_dir), "%s/cloud%d", tmp_root,
		 fixture_n++);
	snprintf(x->state, sizeof(x->state), "%s.position", x->store_dir);
	store_options_default(&so);
	so.capacity_bytes = 8u << 20;
	so.commit_ms = 20;
	ck_assert_int_eq(store_open(x->store_dir, &so, &x->s), 0);
	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s", x->cloud_dir);
	ck_assert_int_eq(cloud_target_open(url, &co, &x->t), 0);
}

static void follower_open(struct fix *x)
{
	struct follow_options o;

	follow_options_default(&o);
	o.state_path = x->state;
	o.list_every = 1;
	o.lock = t_lock;
	o.unlock = t_unlock;
	o.lock_arg = x;
	ck_assert_int_eq(follow_open(x->t, x->s, &o, &x->f), 0);
}

static void fix_close(struct fix *x)
{
	follow_close(x->f);
	x->f = NULL;
	cloud_target_free(x->t);
	ck_assert_int_eq(store_close(x->s), 0);
}

/* ---- writing feed objects ---- */

struct rec {
	char kind;
	const char *space, *key;
	uint64_t seq;
	const char *body;
};

static int64_t rec_time = 1800000000LL * 1000000000;

static void put_batch_id(struct fix *x, const uint8_t *id, uint64_t gen,
			 uint64_t batch, const struct rec *r, size_t n)
{
	struct feed_writer w;
	char key[FEED_KEY_MAX];
	void *buf;
	size_t len;

	ck_assert_int_eq(
		feed_writer_init(&w, FEED_BATCH, id, gen, batch, 0, 1, 0), 0);
	for (size_t i = 0; i < n; i++) {
		struct feed_record fr;

		memset(&fr, 0, sizeof(fr));
		fr.kind = (uint8_t)r[i].kind;
		snprintf(fr.space, sizeof(fr.space), "%s", r[i].space);
		snprintf(fr.key, sizeof(fr.key), "%s", r[i].key);
		fr.seq = r[i].kind == 'D' ? r[i].seq : 0;
		fr.mode = 0100644;
		fr.uid = fr.gid = 1000;
		fr.mtime_ns = fr.ctime_ns = 1700000000LL * 1000000000;
		fr.time_ns = rec_time += 1000;
		if (r[i].kind == 'D') {
			fr.body = (const uint8_t *)r[i].body;
			fr.body_len = strlen(r[i].body);
		}
		ck_assert_int_eq(feed_writer_add(&w, &fr), 0);
	}
	ck_assert_int_eq(feed_writer_finish(&w, &buf, &len), 0);
	feed_key_batch(key, gen, batch);
	ck_assert_int_eq(cloud_target_put(x->t, PITR_SPACE, key, buf, len, 1),
			 0);
	free(buf);
}

static void put_batch(struct fix *x, uint64_t gen, uint64_t batch,
		      const struct rec *r, size_t n)
{
	put_batch_id(x, id_a, gen, batch, r, n);
}

static void drop_batch(struct fix *x, uint64_t gen, uint64_t batch)
{
	char key[FEED_KEY_MAX];

	feed_key_batch(key, gen, batch);
	ck_assert_int_eq(cloud_target_delete(x->t, PITR_SPACE, key), 0);
}

/* Flip one byte in the middle of batch (gen, batch). */
static void damage_batch(struct fix *x, uint64_t gen, uint64_t batch)
{
	char key[FEED_KEY_MAX];
	uint64_t seq;
	size_t len;
	void *buf;

	feed_key_batch(key, gen, batch);
	ck_assert_int_eq(
		cloud_target_get(x->t, PITR_SPACE, key, &buf, &len, &seq), 0);
	((uint8_t *)buf)[len / 2] ^= 0x20;
	ck_assert_int_eq(cloud_target_put(x->t, PITR_SPACE, key, buf, len, 1),
			 0);
	free(buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dump() sorted, so the order of ids does not matter. */
static void dump_sorted(struct store *s, char *out, size_t n)
{
	char raw[4096], *v[256], *save, *tok;
	size_t k = 0;

	dump(s, raw, sizeof(raw));
	for (tok = strtok_r(raw, ";", &save); tok && k < 256;
	     tok = strtok_r(NULL, ";", &save))
		v[k++] = tok;
	qsort(v, k, sizeof(v[0]), cmp_str);
	out[0] = 0;
	for (size_t i = 0; i < k; i++)
		snprintf(out + strlen(out), n - strlen(out), "%s;", v[i]);
}

static void check_ns(struct fix *x, const char *want)
{
	char got[4096];

	dump_sorted(x->s, got, sizeof(got));
	ck_assert_str_eq(got, want);
}

static void check_pos(struct fix *x, uint64_t gen, uint64_t batch)
{
	struct follow_status st;

	follow_status(x->f, &st);
	ck_assert(st.pos.any);
	ck_assert_uint_eq(st.pos.gen, gen);
	ck_assert_uint_eq(st.pos.batch, batch);
}

static const struct rec b0[] = {
	{ 'D', "people", "ada", 3, "{\"n\":1}\n" },
	{ 'D', "people", "bob", 1, "{\"n\":2}\n" },
	{ 'D', "pets", "rex", 7, "[1,2]\n" },
};
static const struct rec b1[] = {
	{ 'D', "people", "ada", 5, "{\"n\":3}\n" },
	{ 'X', "people", "bob", 0, NULL },
	{ 'X', "pets", "rex", 0, NULL },
};
static const struct rec b2[] = {
	{ 'D', "people", "cyd", 1, "true\n" },
};
static const struct rec b3[] = {
	{ 'D', "people", "ada", 9, "{\"n\":4}\n" },
};

#define NS0 "people/ada=3;people/bob=1;pets/rex=7;"
#define NS1 "people/ada=5;"
#define NS2 "people/ada=5;people/cyd=1;"
#define NS3 "people/ada=9;people/cyd=1;"

START_TEST(test_follow_applies_batches_in_order_each_whole)
{
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	follower_open(&x);
	ck_assert(!follow_ready(x.f)); /* nothing applied yet */
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(follow_ready(x.f));
	check_ns(&x, NS0);
	check_pos(&x, GEN1, 0);
	/* nothing new: nothing locked */
	x.locks = x.unlocks = 0;
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_int_eq(x.locks, 0);
	put_batch(&x, GEN1, 1, b1, 3);
	put_batch(&x, GEN1, 2, b2, 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	/* one lock per batch; at the second lock the first was whole */
	ck_assert_int_eq(x.locks, 2);
	ck_assert_int_eq(x.unlocks, 2);
	ck_assert_str_eq(x.at_lock, NS1);
	check_ns(&x, NS2);
	check_pos(&x, GEN1, 2);
	/* one "applying" mark for the round, at the position before it
	 * (not one save per batch), and "clean" once the round is over */
	ck_assert_str_eq(x.file_at_lock[0], x.file_at_lock[1]);
	ck_assert(file_says(&x, "clean", NULL));
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_restarted_resumes_from_its_position)
{
	struct fix x;
	struct store_options so;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	put_batch(&x, GEN1, 1, b1, 3);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_pos(&x, GEN1, 1);
	follow_close(x.f);
	put_batch(&x, GEN1, 2, b2, 1);
	x.locks = 0;
	follower_open(&x);
	ck_assert(follow_ready(x.f)); /* clean position: shown at once */
	check_pos(&x, GEN1, 1);
	check_ns(&x, NS1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_int_eq(x.locks, 1); /* only batch 2, no rebuild */
	check_ns(&x, NS2);
	follow_close(x.f);
	x.f = NULL;
	/* stopped in the middle of a batch: rebuilt before it is ready */
	{
		FILE *fp = fopen(x.state, "r");
		char buf[512], out[600];
		size_t n;
		char *st;

		ck_assert_ptr_nonnull(fp);
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = 0;
		st = strstr(buf, "state clean\n");
		ck_assert_ptr_nonnull(st);
		*st = 0;
		snprintf(out, sizeof(out), "%sstate applying\n%s", buf,
			 st + strlen("state clean\n"));
		fp = fopen(x.state, "w");
		ck_assert_ptr_nonnull(fp);
		ck_assert(fputs(out, fp) >= 0);
		fclose(fp);
	}
	/* and the store holds half a batch */
	ck_assert_int_eq(store_close(x.s), 0);
	store_options_default(&so);
	so.commit_ms = 20;
	ck_assert_int_eq(store_open(x.store_dir, &so, &x.s), 0);
	{
		uint64_t sid, id;

		ck_assert_int_eq(store_space_lookup(x.s, "people", &sid), 0);
		ck_assert_int_eq(store_doc_lookup(x.s, sid, "cyd", &id), 0);
		ck_assert_int_eq(store_doc_delete(x.s, id, NULL), 0);
	}
	follower_open(&x);
	ck_assert(!follow_ready(x.f));
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(follow_ready(x.f));
	check_ns(&x, NS2);
	check_pos(&x, GEN1, 2);
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_refuses_a_damaged_batch_whole)
{
	static const struct rec reserved[] = {
		{ 'D', "people", "eve", 1, "{}\n" },
		{ 'D', ".caravan", "store", 1, "{}\n" },
	};
	static const struct rec notjson[] = {
		{ 'D', "people", "eve", 1, "{}\n" },
		{ 'D', "people", "fay", 1, "{nope\n" },
	};
	struct follow_status st;
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	put_batch(&x, GEN1, 1, b1, 3);
	damage_batch(&x, GEN1, 1);
	x.locks = 0;
	/* read again for two more rounds (a server may serve an object it
	 * still writes), then damaged */
	ck_assert_int_eq(follow_poll(x.f), 0);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.damaged, 0);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_int_eq(x.locks, 0); /* nothing of it applied */
	check_ns(&x, NS0);
	check_pos(&x, GEN1, 0);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.damaged, 1);
	ck_assert(st.lag_ns >= 0);
	ck_assert(st.ready);
	/* the same with a reserved name, a body that is no document, and
	 * the identity of another store within the generation */
	put_batch(&x, GEN1, 1, reserved, 2);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS0);
	put_batch(&x, GEN1, 1, notjson, 2);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS0);
	put_batch_id(&x, id_b, GEN1, 1, b1, 3);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS0);
	ck_assert_int_eq(x.locks, 0);
	/* repaired: applied */
	put_batch(&x, GEN1, 1, b1, 3);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS1);
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_missing_batch_falls_back_to_a_snapshot)
{
	struct follow_status st;
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS0);
	follow_close(x.f);
	x.f = NULL;
	/* while it was down: three batches, a snapshot at the third, and
	 * retention removed the first two */
	put_batch(&x, GEN1, 1, b1, 3);
	put_batch(&x, GEN1, 2, b2, 1);
	put_batch(&x, GEN1, 3, b3, 1);
	follower_open(&x);
	drop_batch(&x, GEN1, 1);
	/* no snapshot past it yet: the position is kept */
	x.locks = 0;
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_int_eq(x.locks, 0);
	check_ns(&x, NS0);
	check_pos(&x, GEN1, 0);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.damaged, 1);
	/* the snapshot (made while the batch still existed) */
	put_batch(&x, GEN1, 1, b1, 3);
	ck_assert_int_eq(pitr_snapshot(x.t, id_a, GEN1, 2, 1 << 20, NULL), 0);
	drop_batch(&x, GEN1, 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	/* one rebuild at the snapshot, then batch 3 */
	ck_assert_int_eq(x.locks, 2);
	ck_assert_str_eq(x.at_lock, NS2);
	check_ns(&x, NS3);
	check_pos(&x, GEN1, 3);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.fallbacks, 1);
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_goes_on_into_a_new_generation)
{
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	/* another store took over: its generation, its identity */
	put_batch_id(&x, id_b, GEN2, 0, b1, 3);
	put_batch_id(&x, id_b, GEN2, 1, b2, 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS2);
	check_pos(&x, GEN2, 1);
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_starts_from_the_newest_snapshot)
{
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	put_batch(&x, GEN1, 1, b1, 3);
	put_batch(&x, GEN1, 2, b2, 1);
	ck_assert_int_eq(pitr_snapshot(x.t, id_a, GEN1, 2, 1 << 20, NULL), 0);
	/* the feed before the snapshot is gone */
	drop_batch(&x, GEN1, 0);
	drop_batch(&x, GEN1, 1);
	put_batch(&x, GEN1, 3, b3, 1);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS3);
	check_pos(&x, GEN1, 3);
	fix_close(&x);
}
END_TEST

START_TEST(test_follow_position_file_only_as_written)
{
	struct follow_pos p = { true, 0x18eedd1c4126517aULL, 7, -5 }, q;
	char buf[FOLLOW_STATE_MAX], bad[FOLLOW_STATE_MAX];
	uint8_t id[FEED_ID_LEN];
	bool applying;
	size_t n;
	struct fix x;
	FILE *fp;

	n = follow_state_encode(&p, id_a, false, buf);
	ck_assert_int_eq(follow_state_parse(buf, n, &q, id, &applying), 0);
	ck_assert(q.any && q.gen == p.gen && q.batch == 7 && q.time_ns == -5);
	ck_assert(!applying);
	ck_assert_mem_eq(id, id_a, FEED_ID_LEN);
	/* a byte more, a byte less, upper-case hex, a NUL: no position */
	ck_assert_int_eq(follow_state_parse(buf, n - 1, &q, id, &applying),
			 -EBADMSG);
	memcpy(bad, buf, n);
	bad[n] = '\n';
	ck_assert_int_eq(follow_state_parse(bad, n + 1, &q, id, &applying),
			 -EBADMSG);
	memcpy(bad, buf, n);
	*strstr(bad, "18eedd") = 'A';
	ck_assert_int_eq(follow_state_parse(bad, n, &q, id, &applying),
			 -EBADMSG);
	memcpy(bad, buf, n);
	bad[3] = 0;
	ck_assert_int_eq(follow_state_parse(bad, n, &q, id, &applying),
			 -EBADMSG);
	/* a follower whose file is malformed rebuilds before it is ready */
	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	fp = fopen(x.state, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert(fputs("caravanfs follow 1\ngen zz\n", fp) >= 0);
	fclose(fp);
	follower_open(&x);
	ck_assert(!follow_ready(x.f));
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(follow_ready(x.f));
	check_ns(&x, NS0);
	check_pos(&x, GEN1, 0);
	fix_close(&x);
}
END_TEST

static unsigned long lines; /* log lines written (log_set_prelude) */

static void count_line(void)
{
	lines++;
}

START_TEST(test_follow_says_an_unreadable_batch_once)
{
	char key[FEED_KEY_MAX], obj[1100], aside[1200];
	struct follow_status st;
	unsigned long before;
	struct fix x;

	fix_open(&x);
	put_batch(&x, GEN1, 0, b0, 3);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS0);
	/* batch 1 cannot be read: a directory where its object should be
	 * (the target refuses it with a log line every time it is asked) */
	put_batch(&x, GEN1, 1, b1, 3);
	feed_key_batch(key, GEN1, 1);
	snprintf(obj, sizeof(obj), "%s/%s/%s", x.cloud_dir, PITR_SPACE, key);
	snprintf(aside, sizeof(aside), "%s.aside", x.cloud_dir);
	ck_assert_int_eq(rename(obj, aside), 0);
	ck_assert_int_eq(mkdir(obj, 0700), 0);
	log_set_prelude(count_line);
	lines = 0;
	ck_assert_int_ne(follow_poll(x.f), 0);
	ck_assert_uint_ge(lines, 1); /* said (the target's line, ours) */
	ck_assert_uint_le(lines, 2);
	before = lines;
	for (int i = 0; i < 5; i++)
		ck_assert_int_ne(follow_poll(x.f), 0);
	ck_assert_uint_eq(lines, before); /* not again each poll */
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.read_errors, 6); /* but counted */
	ck_assert(st.ready);
	check_ns(&x, NS0);
	check_pos(&x, GEN1, 0);
	/* readable again: applied, and said once */
	ck_assert_int_eq(rmdir(obj), 0);
	ck_assert_int_eq(rename(aside, obj), 0);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_ns(&x, NS1);
	check_pos(&x, GEN1, 1);
	ck_assert_uint_eq(lines, before + 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert_uint_eq(lines, before + 1);
	log_set_prelude(NULL);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.read_errors, 6);
	fix_close(&x);
}
END_TEST

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmp_root));
}

static void teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_root);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(tmp_root + strlen(tmp_root) - 6, "XXXXXX", 6);
}

int main(void)
{
	Suite *s = suite_create("cloud_follow");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_follow_applies_batches_in_order_each_whole);
	tcase_add_test(tc, test_follow_restarted_resumes_from_its_position);
	tcase_add_test(tc, test_follow_refuses_a_damaged_batch_whole);
	tcase_add_test(tc, test_follow_missing_batch_falls_back_to_a_snapshot);
	tcase_add_test(tc, test_follow_goes_on_into_a_new_generation);
	tcase_add_test(tc, test_follow_starts_from_the_newest_snapshot);
	tcase_add_test(tc, test_follow_position_file_only_as_written);
	tcase_add_test(tc, test_follow_says_an_unreadable_batch_once);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
