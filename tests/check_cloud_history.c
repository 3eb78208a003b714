/*
 * check_cloud_history.c - the change feed, base snapshots, retention and
 * point-in-time replay, against a real store in a temporary directory
 * and a dir: target seen through a wrapper that counts feed PUTs and can
 * refuse them.  The wall clock of the writer is injected (a counter the
 * test moves), so days pass in milliseconds.
 *
 * What is checked: the namespace replayed at each recorded moment is
 * exactly what it was (content, seq, mode, mtime), deletes and renames
 * included; many changes share a feed PUT; a document is not marked
 * uploaded while its feed batch is refused, and is after; snapshots bound
 * the replay and retention prunes all but what the window needs; a
 * snapshot being written holds no later change back; a
 * corrupt, misnamed or missing feed object is -EIO, never used.
 */
#include "config.h"

#include "cloud/backup.h"
#include "cloud/backup_internal.h" /* the feed writer's counts */
#include "cloud/feed.h"
#include "cloud/history.h"
#include "cloud/pitr.h"
#include "cloud/target.h"
#include "cloud/target_internal.h"
#include "store/doc.h"
#include "store/store.h"
#include "store/store_internal.h" /* the change hook, wrapped */

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a wrapper target: counts feed PUTs, can refuse them ---- */

struct wrap {
	struct cloud_target base;
	struct cloud_target *inner;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool feed_down;
	int feed_puts;
	bool snap_gate; /* snapshot PUTs wait while set ... */
	int snap_waiting; /* ... counted here */
	bool doc_gate; /* document PUTs wait while set ... */
	int doc_waiting; /* ... counted here */
	int doc_puts; /* document PUTs */
};

static struct wrap *wr(struct cloud_target *t)
{
	return (struct wrap *)t;
}

static int w_put(struct cloud_target *t, const char *space, const char *key,
		 const void *buf, size_t len, uint64_t seq)
{
	struct wrap *w = wr(t);
	bool feed = cloud_name_reserved(space) && !strncmp(key, "feed-", 5);
	bool snap = cloud_name_reserved(space) && !strncmp(key, "snap-", 5);
	bool down;

	pthread_mutex_lock(&w->lock);
	while (snap && w->snap_gate) {
		w->snap_waiting++;
		pthread_cond_broadcast(&w->cv);
		pthread_cond_wait(&w->cv, &w->lock);
		w->snap_waiting--;
	}
	down = feed && w->feed_down;
	if (feed && !down)
		w->feed_puts++;
	pthread_mutex_unlock(&w->lock);
	if (down)
		return -EIO;
	return cloud_target_put(w->inner, space, key, buf, len, seq);
}

static int w_get(struct cloud_target *t, const char *space, const char *key,
		 void **buf, size_t *len, uint64_t *seq)
{
	return cloud_target_get(wr(t)->inner, space, key, buf, len, seq);
}

static int w_head(struct cloud_target *t, const char *space, const char *key,
		  struct cloud_object_info *info)
{
	return cloud_target_head(wr(t)->inner, space, key, info);
}

static int w_put_doc(struct cloud_target *t, const char *space, const char *key,
		     const void *body, size_t len,
		     const struct cloud_doc_meta *meta)
{
	struct wrap *w = wr(t);

	pthread_mutex_lock(&w->lock);
	w->doc_puts++;
	while (w->doc_gate) {
		w->doc_waiting++;
		pthread_cond_broadcast(&w->cv);
		pthread_cond_wait(&w->cv, &w->lock);
		w->doc_waiting--;
	}
	pthread_mutex_unlock(&w->lock);
	return cloud_target_put_doc(w->inner, space, key, body, len, meta);
}

static int w_get_doc(struct cloud_target *t, const char *space, const char *key,
		     void **body, size_t *len, struct cloud_doc_meta *meta)
{
	return cloud_target_get_doc(wr(t)->inner, space, key, body, len, meta);
}

static int w_head_doc(struct cloud_target *t, const char *space,
		      const char *key, struct cloud_doc_meta *meta,
		      uint64_t *size)
{
	return cloud_target_head_doc(wr(t)->inner, space, key, meta, size);
}

static int w_del(struct cloud_target *t, const char *space, const char *key)
{
	return cloud_target_delete(wr(t)->inner, space, key);
}

static int w_list(struct cloud_target *t, const char *space, const char *token,
		  char **next, cloud_name_fn fn, void *arg)
{
	return cloud_target_list(wr(t)->inner, space, token, next, fn, arg);
}

static void w_destroy(struct cloud_target *t)
{
	struct wrap *w = wr(t);

	cloud_target_free(w->inner);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	cloud_target_base_release(t);
	free(w);
}

static const struct cloud_target_ops wrap_ops = {
	.put = w_put,
	.get = w_get,
	.head = w_head,
	.put_doc = w_put_doc,
	.get_doc = w_get_doc,
	.head_doc = w_head_doc,
	.del = w_del,
	.list = w_list,
	.destroy = w_destroy,
};

/* ---- a gate on an upload worker once it handed a record to the feed ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint64_t id; /* the document whose worker waits (0: none) */
	bool shut;
	int waiting;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0 };

static void handed_over(void *arg, uint64_t id)
{
	(void)arg;
	pthread_mutex_lock(&gate.lock);
	if (gate.shut && id == gate.id) {
		gate.waiting++;
		pthread_cond_broadcast(&gate.cv);
		while (gate.shut)
			pthread_cond_wait(&gate.cv, &gate.lock);
		gate.waiting--;
	}
	pthread_mutex_unlock(&gate.lock);
}

static void gate_shut(uint64_t id)
{
	pthread_mutex_lock(&gate.lock);
	gate.id = id;
	gate.shut = true;
	pthread_mutex_unlock(&gate.lock);
}

/* Until a worker waits at the gate (anti-hang: 60 s). */
static void gate_wait_held(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&gate.lock);
	while (!gate.waiting)
		ck_assert_int_eq(pthread_cond_timedwait(&gate.cv, &gate.lock,
							&until),
				 0);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.shut = false;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.lock);
}

/* ---- fixture ---- */

static char tmp_root[] = "/tmp/caravan-history-XXXXXX";
static int fixture_n;

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t clock_now = 1800000000LL * 1000000000; /* 2027 */

static int64_t test_clock(void *arg)
{
	int64_t v;

	(void)arg;
	pthread_mutex_lock(&clock_lock);
	v = clock_now;
	pthread_mutex_unlock(&clock_lock);
	return v;
}

static int64_t advance(int64_t ns)
{
	int64_t v;

	pthread_mutex_lock(&clock_lock);
	clock_now += ns;
	v = clock_now;
	pthread_mutex_unlock(&clock_lock);
	return v;
}

#define SEC INT64_C(1000000000)

static const struct store_meta meta = { 0640, 1000, 1000, 1700000000123456789LL,
					1700000000123456789LL };

struct fix {
	char store_dir[512], cloud_dir[512];
	struct store *s;
	struct doc *d;
	struct wrap *w;
	struct backup *b;
	uint64_t space;
};

static void fix_open(struct fix *x, uint64_t retention_ns,
		     uint32_t snap_batches)
{
	struct store_options so;
	struct cloud_options co;
	struct backup_options o;
	struct doc_options dopt;
	char url[600];

	memset(x, 0, sizeof(*x));
	snprintf(x->store_dir, sizeof(x->store_dir), "%s/store%d", tmp_root,
		 fixture_n);
	snprintf(x->cloud_dir, sizeof(x->cloud_dir), "%s/cloud%d", tmp_root,
		 fixture_n++);
	store_options_default(&so);
	so.capacity_bytes = 8u << 20;
	so.commit_ms = 20;
	ck_assert_int_eq(store_open(x->store_dir, &so, &x->s), 0);
	doc_options_default(&dopt);
	ck_assert_int_eq(doc_open(x->s, &dopt, &x->d), 0);
	x->w = calloc(1, sizeof(*x->w));
	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s", x->cloud_dir);
	ck_assert_int_eq(cloud_target_open(url, &co, &x->w->inner), 0);
	ck_assert_int_eq(
		cloud_target_base_init(&x->w->base, &wrap_ops, url, &co), 0);
	pthread_mutex_init(&x->w->lock, NULL);
	pthread_cond_init(&x->w->cv, NULL);
	backup_options_default(&o);
	o.delay_ms = 30;
	o.retry.base_ms = 5;
	o.retry.cap_ms = 20;
	o.list_cache_ms = 0;
	o.retention_ns = retention_ns;
	o.clock_ns = test_clock;
	o.snap_batches = snap_batches;
	o.prune_ms = 1;
	o.handed_over = handed_over;
	ck_assert_int_eq(backup_start(x->s, &x->w->base, &o, &x->b), 0);
	ck_assert_int_eq(store_space_create(x->s, "sp", &meta, &x->space, NULL),
			 0);
}

static void fix_close(struct fix *x)
{
	backup_stop(x->b, 0);
	doc_close(x->d);
	ck_assert_int_eq(store_close(x->s), 0);
	cloud_target_free(&x->w->base);
}

static void flush(struct fix *x)
{
	ck_assert_int_eq(backup_flush(x->b, 60000), 0);
}

static uint64_t put_doc(struct fix *x, const char *key, const char *json)
{
	uint64_t id;
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);

	ck_assert_ptr_nonnull(v);
	if (store_doc_lookup(x->s, x->space, key, &id))
		ck_assert_int_eq(store_doc_create(x->s, x->space, key, &meta,
						  &id, NULL),
				 0);
	ck_assert_int_eq(doc_replace(x->d, id, v, NULL), 0);
	json_decref(v);
	return id;
}

/* The namespace as text: "space/key seq mode mtime body" per line. */
static int dump_rec(void *arg, const struct feed_record *r)
{
	FILE *f = arg;

	fprintf(f, "%s/%s %llu %o %lld %.*s", r->space, r->key,
		(unsigned long long)r->seq, r->mode, (long long)r->mtime_ns,
		(int)r->body_len, (const char *)r->body);
	return 0;
}

static char *replay(struct fix *x, int64_t at)
{
	struct pitr_limit lim = { at, false, 0, 0, NULL, NULL };
	struct pitr_state *st;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc = pitr_build(x->w->inner, &lim, &st, NULL);

	ck_assert_int_eq(rc, 0);
	f = open_memstream(&text, &len);
	ck_assert_int_eq(pitr_each(st, dump_rec, f), 0);
	fclose(f);
	pitr_free(st);
	return text;
}

struct lstate {
	struct fix *x;
	FILE *f;
};

static int local_doc(void *arg, uint64_t id, const char *key)
{
	struct lstate *l = arg;
	struct store_doc_info info;
	struct doc_snap *sn;
	size_t len;
	const char *t;

	ck_assert_int_eq(store_doc_info(l->x->s, id, &info), 0);
	ck_assert_int_eq(doc_read(l->x->d, id, &sn), 0);
	t = doc_snap_text(sn, &len);
	fprintf(l->f, "sp/%s %llu %o %lld %.*s", key,
		(unsigned long long)info.seq, info.meta.mode,
		(long long)info.meta.mtime_ns, (int)len, t);
	doc_snap_put(sn);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The local namespace in the same form, sorted like the replay. */
static char *local(struct fix *x)
{
	struct lstate l = { x, NULL };
	char *text = NULL, *lines[4096], *sorted = NULL, *save = NULL, *p;
	size_t len = 0, n = 0, slen = 0;
	FILE *f;

	l.f = open_memstream(&text, &len);
	ck_assert_int_eq(store_doc_list(x->s, x->space, 0, local_doc, &l), 0);
	fclose(l.f);
	for (p = strtok_r(text, "\n", &save); p && n < 4096;
	     p = strtok_r(NULL, "\n", &save))
		lines[n++] = p;
	qsort(lines, n, sizeof(*lines), cmp_str);
	f = open_memstream(&sorted, &slen);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
	free(text);
	return sorted;
}

/* ---- tests ---- */

/* The latest replay of the history is the local namespace. */
static void expect_latest(struct fix *x)
{
	char *got = replay(x, INT64_MAX), *want = local(x);

	ck_assert_str_eq(got, want);
	free(got);
	free(want);
}

START_TEST(test_history_replays_every_recorded_moment)
{
	struct fix x;
	char *want[6];
	int64_t at[6];
	uint64_t id;
	int n = 0;

	fix_open(&x, 7 * 86400 * SEC, 0);
	put_doc(&x, "a", "{\"v\":1}");
	put_doc(&x, "b", "[1,2]");
	flush(&x);
	at[n] = advance(SEC);
	want[n++] = local(&x);
	advance(SEC);
	put_doc(&x, "a", "{\"v\":2}");
	ck_assert_int_eq(store_doc_lookup(x.s, x.space, "b", &id), 0);
	ck_assert_int_eq(store_doc_delete(x.s, id, NULL), 0);
	flush(&x);
	at[n] = advance(SEC);
	want[n++] = local(&x);
	advance(SEC);
	id = put_doc(&x, "c", "\"x\"");
	ck_assert_int_eq(store_doc_rename(x.s, id, x.space, "d", 0, NULL), 0);
	flush(&x);
	at[n] = advance(SEC);
	want[n++] = local(&x);
	for (int i = 0; i < n; i++) {
		char *got = replay(&x, at[i]);

		ck_assert_str_eq(got, want[i]);
		free(got);
		free(want[i]);
	}
	/* before anything: empty */
	{
		char *got = replay(&x, at[0] - 10 * SEC);

		ck_assert_str_eq(got, "");
		free(got);
	}
	fix_close(&x);
}
END_TEST

START_TEST(test_history_batches_many_changes_per_put)
{
	struct fix x;
	char key[16];
	int puts;
	struct timespec t0, t1;
	int64_t ms;

	fix_open(&x, 7 * 86400 * SEC, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put_doc(&x, key, "{\"n\":1}");
	}
	/* no flush (a flush sends at once): poll until all is confirmed */
	for (int i = 0;; i++) {
		struct backup_stats bs;
		struct timespec ts = { 0, 10000000 };

		backup_stats(x.b, &bs);
		if (bs.queue == 0)
			break;
		ck_assert_int_lt(i, 6000); /* anti-hang: 60 s */
		nanosleep(&ts, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&x.w->lock);
	puts = x.w->feed_puts;
	pthread_mutex_unlock(&x.w->lock);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	/* at most one feed PUT per delay (30 ms), the first at once */
	ck_assert_int_ge(puts, 1);
	ck_assert_int_lt(puts, 200);
	ck_assert_int_le(puts, 2 + ms / 30);
	expect_latest(&x);
	fix_close(&x);
}
END_TEST

START_TEST(test_history_mark_waits_for_the_feed)
{
	struct fix x;
	struct store_doc_info info;
	uint64_t id;

	fix_open(&x, 7 * 86400 * SEC, 0);
	pthread_mutex_lock(&x.w->lock);
	x.w->feed_down = true;
	pthread_mutex_unlock(&x.w->lock);
	id = put_doc(&x, "a", "{\"v\":1}");
	ck_assert_int_eq(backup_flush(x.b, 300), -ETIMEDOUT);
	ck_assert_int_eq(store_doc_info(x.s, id, &info), 0);
	/* object up (its copy claimed: time -1, seq 0), feed not: not
	 * marked uploaded */
	ck_assert_int_le(info.backup_time_ns, 0);
	ck_assert_uint_eq(info.backup_seq, 0);
	pthread_mutex_lock(&x.w->lock);
	x.w->feed_down = false;
	pthread_mutex_unlock(&x.w->lock);
	flush(&x);
	ck_assert_int_eq(store_doc_info(x.s, id, &info), 0);
	ck_assert_int_ne(info.backup_time_ns, 0);
	ck_assert_uint_eq(info.backup_seq, info.seq);
	fix_close(&x);
}
END_TEST

struct names {
	int batches, snaps, floor;
};

static int count_name(void *arg, const char *name)
{
	struct names *n = arg;
	uint64_t g, b;
	uint32_t p;
	int k = feed_key_parse(name, &g, &b, &p);

	n->batches += k == FEED_BATCH;
	n->snaps += k == FEED_SNAP;
	n->floor += !strcmp(name, PITR_FLOOR_KEY);
	return 0;
}

START_TEST(test_history_snapshots_and_retention_prune)
{
	struct fix x;
	struct names nm = { 0, 0, 0 };
	int64_t early = 0, inside = 0;
	char *want_inside = NULL, *got;
	struct pitr_state *st;
	struct pitr_limit lim = { 0, false, 0, 0, NULL, NULL };

	/* a snapshot every 4 batches, a 1 hour window */
	fix_open(&x, 3600 * SEC, 4);
	for (int round = 0; round < 40; round++) {
		char key[16], val[32];

		snprintf(key, sizeof(key), "k%d", round % 7);
		snprintf(val, sizeof(val), "{\"r\":%d}", round);
		put_doc(&x, key, val);
		flush(&x);
		advance(10 * 60 * SEC); /* 10 minutes a round */
		if (round == 5)
			early = test_clock(NULL);
		if (round == 36) {
			inside = test_clock(NULL);
			want_inside = local(&x);
		}
		advance(1); /* later changes are later than the moment */
	}
	/* one more batch so that the writer prunes at the current time */
	put_doc(&x, "last", "{}");
	flush(&x);
	ck_assert_int_eq(cloud_target_list_all(x.w->inner, PITR_SPACE,
					       count_name, &nm),
			 0);
	ck_assert_int_ge(nm.snaps, 1);
	ck_assert_int_eq(nm.floor, 1);
	/* 41 batches written; what is left is the window's tail */
	ck_assert_int_lt(nm.batches, 20);
	/* inside the window: exact */
	got = replay(&x, inside);
	ck_assert_str_eq(got, want_inside);
	free(got);
	free(want_inside);
	/* outside it: refused, not wrong */
	lim.at_ns = early;
	ck_assert_int_eq(pitr_build(x.w->inner, &lim, &st, NULL), -ERANGE);
	fix_close(&x);
}
END_TEST

/* Whether document id is marked uploaded at its seq. */
static bool marked(struct fix *x, uint64_t id)
{
	struct store_doc_info info;

	ck_assert_int_eq(store_doc_info(x->s, id, &info), 0);
	return info.backup_time_ns != 0 && info.backup_seq == info.seq;
}

/* A base snapshot is written off the feed writer's path: while one is
 * held (its PUT waits), later changes still reach the feed and are
 * marked uploaded. */
START_TEST(test_history_batches_go_on_while_a_snapshot_is_written)
{
	struct fix x;
	struct names nm = { 0, 0, 0 };
	struct timespec ts = { 0, 10000000 };
	uint64_t id = 0;
	int i;

	fix_open(&x, 7 * 86400 * SEC, 2); /* a snapshot every 2 batches */
	pthread_mutex_lock(&x.w->lock);
	x.w->snap_gate = true;
	pthread_mutex_unlock(&x.w->lock);
	/* batches until the snapshot they ask for is held */
	for (i = 0;; i++) {
		char val[32];
		int waiting;

		snprintf(val, sizeof(val), "{\"r\":%d}", i);
		id = put_doc(&x, "a", val);
		for (int j = 0; j < 3000 && !marked(&x, id); j++)
			nanosleep(&ts, NULL); /* anti-hang: 30 s */
		ck_assert(marked(&x, id));
		pthread_mutex_lock(&x.w->lock);
		waiting = x.w->snap_waiting;
		pthread_mutex_unlock(&x.w->lock);
		if (waiting)
			break;
		ck_assert_int_lt(i, 50);
		nanosleep(&ts, NULL);
	}
	/* while it is held, more changes go through the feed */
	for (i = 0; i < 3; i++) {
		char key[16];

		snprintf(key, sizeof(key), "b%d", i);
		id = put_doc(&x, key, "{\"during\":true}");
		for (int j = 0; j < 3000 && !marked(&x, id); j++)
			nanosleep(&ts, NULL); /* anti-hang: 30 s */
		ck_assert_msg(marked(&x, id),
			      "a change waited for the snapshot");
	}
	pthread_mutex_lock(&x.w->lock);
	ck_assert_int_gt(x.w->snap_waiting, 0); /* still held */
	x.w->snap_gate = false;
	pthread_cond_broadcast(&x.w->cv);
	pthread_mutex_unlock(&x.w->lock);
	flush(&x); /* waits for the snapshot too */
	ck_assert_int_eq(cloud_target_list_all(x.w->inner, PITR_SPACE,
					       count_name, &nm),
			 0);
	ck_assert_int_ge(nm.snaps, 1);
	/* the snapshot asked for while the first was held counted the
	 * first's batches: once both are written, what is left since the
	 * last is at most what was confirmed (it used to wrap below 0, and
	 * every later batch asked for a snapshot) */
	{
		struct history_stats st;

		history_stats(x.b->hist, &st);
		ck_assert_uint_le(st.since_snap_batches, st.puts);
		ck_assert_uint_le(st.since_snap_bytes, st.bytes);
	}
	expect_latest(&x);
	fix_close(&x);
}
END_TEST

static void corrupt_first_batch(const char *cloud_dir, const char *how)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "f=$(ls %s/.caravan/feed-* | head -1) && %s",
		 cloud_dir, how);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_history_refuses_corrupt_feed_objects)
{
	static const char *hows[] = {
		/* a bit flip near the end of the file */
		"sz=$(stat -c %s \"$f\") && printf '\\377' | dd of=\"$f\" "
		"bs=1 seek=$((sz - 10)) conv=notrunc status=none",
		/* truncated */
		"truncate -s -7 \"$f\"",
		/* renamed to another batch number: out of order */
		"mv \"$f\" \"${f%?}9\"",
		/* removed: a batch missing */
		"rm \"$f\"",
	};

	for (size_t i = 0; i < sizeof(hows) / sizeof(*hows); i++) {
		struct fix x;
		struct pitr_state *st = NULL;
		struct pitr_limit lim = { INT64_MAX, false, 0, 0, NULL, NULL };

		fix_open(&x, 7 * 86400 * SEC, 0);
		put_doc(&x, "a", "{\"v\":1}");
		flush(&x);
		put_doc(&x, "a", "{\"v\":2}");
		flush(&x);
		corrupt_first_batch(x.cloud_dir, hows[i]);
		ck_assert_int_eq(pitr_build(x.w->inner, &lim, &st, NULL), -EIO);
		ck_assert_ptr_null(st);
		fix_close(&x);
	}
}
END_TEST

START_TEST(test_history_times_parse_rfc3339_only)
{
	int64_t ns;
	char out[40];

	ck_assert_int_eq(pitr_parse_time("2026-12-06T10:00:00Z", &ns), 0);
	ck_assert_int_eq(ns, INT64_C(1796551200) * 1000000000);
	ck_assert_int_eq(pitr_parse_time("2026-12-06T11:30:00.5+01:30", &ns),
			 0);
	ck_assert_int_eq(ns, INT64_C(1796551200) * 1000000000 + 500000000);
	pitr_format_time(ns, out);
	ck_assert_str_eq(out, "2026-12-06T10:00:00.500000000Z");
	ck_assert_int_eq(pitr_parse_time("2026-12-06T10:00:00", &ns), -EINVAL);
	ck_assert_int_eq(pitr_parse_time("2026-13-06T10:00:00Z", &ns), -EINVAL);
	ck_assert_int_eq(pitr_parse_time("yesterday", &ns), -EINVAL);
	ck_assert_int_eq(pitr_parse_time("2026-12-06T10:00:00Zjunk", &ns),
			 -EINVAL);
	ck_assert_int_eq(pitr_parse_time("2026-12-06T10:00:00.Z", &ns),
			 -EINVAL);
}
END_TEST

static int count_version(void *arg, const struct feed_record *r)
{
	int *n = arg;

	ck_assert_str_eq(r->key, "a");
	n[r->kind == FEED_REC_DEL]++;
	return 0;
}

START_TEST(test_history_versions_of_a_document)
{
	struct fix x;
	int n[2] = { 0, 0 };
	uint64_t id;

	fix_open(&x, 7 * 86400 * SEC, 0);
	put_doc(&x, "a", "{\"v\":1}");
	put_doc(&x, "b", "{}");
	flush(&x);
	put_doc(&x, "a", "{\"v\":2}");
	flush(&x);
	ck_assert_int_eq(store_doc_lookup(x.s, x.space, "a", &id), 0);
	ck_assert_int_eq(store_doc_delete(x.s, id, NULL), 0);
	flush(&x);
	ck_assert_int_eq(pitr_versions(x.w->inner, "sp", "a", count_version, n),
			 0);
	ck_assert_int_eq(n[0], 2); /* two states */
	ck_assert_int_eq(n[1], 1); /* and the delete */
	fix_close(&x);
}
END_TEST

/* The feed may confirm a document's record, and a flush return, before the
 * upload worker that handed the record over runs again.  A delete of the
 * document then must still reach the feed: the worker's claim on the name
 * went to the record's hold when it handed it over, so the tombstone pass
 * does not find the name busy (and skip its delete with no pass due
 * after).  The worker is held right after the hand-over until the end. */
START_TEST(test_history_delete_while_the_uploader_lags)
{
	struct fix x;
	int n[2] = { 0, 0 };
	uint64_t id;

	fix_open(&x, 7 * 86400 * SEC, 0);
	id = put_doc(&x, "a", "{\"v\":1}");
	flush(&x);
	gate_shut(id);
	put_doc(&x, "a", "{\"v\":2}");
	flush(&x); /* the feed confirmed v2 ... */
	gate_wait_held(); /* ... and its worker has not run on */
	ck_assert_int_eq(store_doc_delete(x.s, id, NULL), 0);
	flush(&x);
	ck_assert_int_eq(pitr_versions(x.w->inner, "sp", "a", count_version, n),
			 0);
	ck_assert_int_eq(n[1], 1); /* the delete is in the feed */
	ck_assert(!store_tombstoned(x.s, "sp", "a")); /* and cleared */
	gate_open();
	fix_close(&x);
}
END_TEST

/* A change noted while a document's upload is in flight re-queues it; when
 * the upload already carried the document's state (here: its metadata set
 * again as they were, while its PUT waits), the state is not sent, nor
 * recorded in the feed, a second time. */
START_TEST(test_history_a_state_is_recorded_once)
{
	struct fix x;
	struct store_doc_info info;
	int n[2] = { 0, 0 };
	uint64_t id;

	fix_open(&x, 7 * 86400 * SEC, 0);
	pthread_mutex_lock(&x.w->lock);
	x.w->doc_gate = true;
	pthread_mutex_unlock(&x.w->lock);
	id = put_doc(&x, "a", "{\"v\":1}");
	for (int i = 0;; i++) { /* its PUT is under way */
		struct timespec ts = { 0, 10000000 };
		bool waiting;

		pthread_mutex_lock(&x.w->lock);
		waiting = x.w->doc_waiting > 0;
		pthread_mutex_unlock(&x.w->lock);
		if (waiting)
			break;
		ck_assert_int_lt(i, 6000); /* anti-hang: 60 s */
		nanosleep(&ts, NULL);
	}
	ck_assert_int_eq(store_doc_info(x.s, id, &info), 0);
	ck_assert_int_eq(store_meta_set(x.s, id, &info.meta, NULL), 0);
	pthread_mutex_lock(&x.w->lock);
	x.w->doc_gate = false;
	pthread_cond_broadcast(&x.w->cv);
	pthread_mutex_unlock(&x.w->lock);
	flush(&x);
	ck_assert_int_eq(pitr_versions(x.w->inner, "sp", "a", count_version, n),
			 0);
	ck_assert_int_eq(n[0], 1);
	ck_assert_int_eq(n[1], 0);
	pthread_mutex_lock(&x.w->lock);
	ck_assert_int_eq(x.w->doc_puts, 1);
	pthread_mutex_unlock(&x.w->lock);
	/* and the document is uploaded: clean in the store */
	ck_assert_int_eq(store_doc_info(x.s, id, &info), 0);
	ck_assert_int_gt(info.backup_time_ns, 0);
	ck_assert_uint_eq(info.backup_seq, info.seq);
	fix_close(&x);
}
END_TEST

/* ---- a hold on the store's next change hook ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	store_change_fn fn; /* the uploader's hook */
	void *arg;
	bool armed; /* the next hook waits */
	bool held, open;
	uint64_t held_id; /* the document whose hook waits */
} hook = { PTHREAD_MUTEX_INITIALIZER,
	   PTHREAD_COND_INITIALIZER,
	   NULL,
	   NULL,
	   false,
	   false,
	   false,
	   0 };

static void held_hook(void *arg, uint64_t id)
{
	store_change_fn fn;
	void *fn_arg;

	(void)arg;
	pthread_mutex_lock(&hook.lock);
	fn = hook.fn;
	fn_arg = hook.arg;
	if (hook.armed) {
		hook.armed = false;
		hook.held = true;
		hook.held_id = id;
		pthread_cond_broadcast(&hook.cv);
		while (!hook.open)
			pthread_cond_wait(&hook.cv, &hook.lock);
	}
	pthread_mutex_unlock(&hook.lock);
	fn(fn_arg, id);
}

static void *create_a(void *arg)
{
	struct fix *x = arg;
	uint64_t id;

	ck_assert_int_eq(store_doc_create(x->s, x->space, "a", &meta, &id,
					  NULL),
			 0);
	return NULL;
}

/* The store runs its change hook after releasing its lock: an upload
 * queued by a later change may carry an earlier change, be confirmed and
 * its entry leave the queue before the earlier change's hook runs.  The
 * late hook must not send (nor feed) the same state again.  Here the
 * hook of a document's creation is held (so nothing of it is queued)
 * while its first content is written; that change's own hook queues the
 * upload, which carries the content and finishes; then the creation's
 * hook runs, late. */
START_TEST(test_history_a_late_hook_records_nothing_twice)
{
	struct fix x;
	struct timespec until;
	pthread_t t;
	int n[2] = { 0, 0 };
	json_t *v;
	uint64_t id;

	fix_open(&x, 7 * 86400 * SEC, 0);
	pthread_mutex_lock(&hook.lock);
	hook.fn = x.s->hook;
	hook.arg = x.s->hook_arg;
	hook.armed = true;
	hook.held = hook.open = false;
	pthread_mutex_unlock(&hook.lock);
	store_set_change_hook(x.s, held_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, create_a, &x), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60; /* anti-hang */
	pthread_mutex_lock(&hook.lock);
	while (!hook.held)
		ck_assert_int_eq(pthread_cond_timedwait(&hook.cv, &hook.lock,
							&until),
				 0);
	id = hook.held_id;
	pthread_mutex_unlock(&hook.lock);
	v = json_loads("{\"v\":1}", 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(doc_replace(x.d, id, v, NULL), 0);
	json_decref(v);
	flush(&x); /* v1 uploaded, fed and marked: its entry is gone */
	pthread_mutex_lock(&x.w->lock);
	ck_assert_int_eq(x.w->doc_puts, 1);
	pthread_mutex_unlock(&x.w->lock);
	pthread_mutex_lock(&hook.lock);
	hook.open = true;
	pthread_cond_broadcast(&hook.cv);
	pthread_mutex_unlock(&hook.lock);
	ck_assert_int_eq(pthread_join(t, NULL), 0); /* the late hook ran */
	flush(&x);
	ck_assert_int_eq(pitr_versions(x.w->inner, "sp", "a", count_version, n),
			 0);
	ck_assert_int_eq(n[0], 1);
	ck_assert_int_eq(n[1], 0);
	pthread_mutex_lock(&x.w->lock);
	ck_assert_int_eq(x.w->doc_puts, 1);
	pthread_mutex_unlock(&x.w->lock);
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
	Suite *s = suite_create("cloud_history");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_history_replays_every_recorded_moment);
	tcase_add_test(tc, test_history_batches_many_changes_per_put);
	tcase_add_test(tc, test_history_mark_waits_for_the_feed);
	tcase_add_test(tc, test_history_snapshots_and_retention_prune);
	tcase_add_test(tc,
		       test_history_batches_go_on_while_a_snapshot_is_written);
	tcase_add_test(tc, test_history_refuses_corrupt_feed_objects);
	tcase_add_test(tc, test_history_times_parse_rfc3339_only);
	tcase_add_test(tc, test_history_versions_of_a_document);
	tcase_add_test(tc, test_history_a_state_is_recorded_once);
	tcase_add_test(tc, test_history_a_late_hook_records_nothing_twice);
	tcase_add_test(tc, test_history_delete_while_the_uploader_lags);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
