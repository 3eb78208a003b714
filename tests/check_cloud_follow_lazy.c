/*
 * check_cloud_follow_lazy.c - a follower's lazy start from a base
 * snapshot's index (cloud/pitr.h "base snapshot indexes", cloud/follow.h
 * follow_refill) against a real store and a dir: target whose feed the
 * test writes itself.
 *
 * What is checked:
 *   - the index the writer puts beside a snapshot decodes to the
 *     snapshot's documents (names, seq, metadata, size, SHA-256, part);
 *   - a follower starts from it reading the index and the feed after the
 *     snapshot only (bytes read counted, and every snapshot part removed
 *     before the start and put back after it): the snapshot's documents
 *     are evicted, the feed's hold their bodies;
 *   - a first access reads the body from the current object when it is
 *     the position's state, from the snapshot part when the current
 *     object is newer than the position (never the newer body), and
 *     fails with EIO (nothing changed) when neither holds that state;
 *   - a restarted follower finds the index again for its refills;
 *   - a batch carrying the state an evicted document shows gives it that
 *     body;
 *   - a hostile index (cut short, bad checksum, absurd counts, names with
 *     '/' or "..", a part out of range, names out of order, another
 *     snapshot's) is refused with a log line and the snapshot is imported
 *     whole as before: the same namespace, nothing evicted;
 *   - a snapshot without an index (an older writer) is imported whole.
 */
#include "config.h"

#include "cloud/feed.h"
#include "cloud/follow.h"
#include "cloud/pitr.h"
#include "cloud/target.h"
#include "store/doc.h"
#include "store/evict.h"
#include "store/store.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/log.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[] = "/tmp/caravan-follow-lazy-XXXXXX";
static int fixture_n;

static const uint8_t id_a[FEED_ID_LEN] = { 0xa1, 1, 2, 3 };

#define GEN1 UINT64_C(0x1000)
#define MTIME (1700000000LL * 1000000000)

struct fix {
	char store_dir[512], cloud_dir[512], state[600];
	struct store *s;
	struct cloud_target *t;
	struct follow *f;
};

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
	so.reserved_prefix = CLOUD_RESERVED_PREFIX;
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
	ck_assert_int_eq(follow_open(x->t, x->s, &o, &x->f), 0);
}

static void follower_close(struct fix *x)
{
	follow_close(x->f);
	x->f = NULL;
}

static void fix_close(struct fix *x)
{
	follower_close(x);
	cloud_target_free(x->t);
	ck_assert_int_eq(store_close(x->s), 0);
}

struct rec {
	char kind;
	const char *space, *key;
	uint64_t seq;
	const char *body;
};

static int64_t rec_time = 1800000000LL * 1000000000;

static void put_batch(struct fix *x, uint64_t gen, uint64_t batch,
		      const struct rec *r, size_t n)
{
	struct feed_writer w;
	char key[FEED_KEY_MAX];
	void *buf;
	size_t len;

	ck_assert_int_eq(
		feed_writer_init(&w, FEED_BATCH, id_a, gen, batch, 0, 1, 0),
		0);
	for (size_t i = 0; i < n; i++) {
		struct feed_record fr;

		memset(&fr, 0, sizeof(fr));
		fr.kind = (uint8_t)r[i].kind;
		snprintf(fr.space, sizeof(fr.space), "%s", r[i].space);
		snprintf(fr.key, sizeof(fr.key), "%s", r[i].key);
		fr.seq = r[i].kind == 'D' ? r[i].seq : 0;
		fr.mode = 0100644;
		fr.uid = fr.gid = 1000;
		fr.mtime_ns = fr.ctime_ns = MTIME + (int64_t)fr.seq;
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

/* The current object of (space, key) at seq with body, as the writer's
 * upload puts it (metadata as put_batch's records). */
static void put_current(struct fix *x, const char *space, const char *key,
			uint64_t seq, const char *body)
{
	struct cloud_doc_meta m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.mode = 0100644;
	m.uid = m.gid = 1000;
	m.mtime_ns = m.ctime_ns = MTIME + (int64_t)seq;
	cloud_doc_checksum(body, strlen(body), m.sha256);
	ck_assert_int_eq(cloud_target_put_doc(x->t, space, key, body,
					      strlen(body), &m),
			 0);
}

static void *get_obj(struct fix *x, const char *key, size_t *len)
{
	uint64_t seq;
	void *buf = NULL;

	ck_assert_int_eq(cloud_target_get(x->t, PITR_SPACE, key, &buf, len,
					  &seq),
			 0);
	return buf;
}

/* The bytes of a history object (what a read of it counts). */
static uint64_t obj_size(struct fix *x, const char *key)
{
	size_t len;

	free(get_obj(x, key, &len));
	return len;
}

static void put_obj(struct fix *x, const char *key, const void *buf,
		    size_t len)
{
	ck_assert_int_eq(cloud_target_put(x->t, PITR_SPACE, key, buf, len, 1),
			 0);
}

static uint64_t doc_id(struct fix *x, const char *space, const char *key)
{
	uint64_t sid, id;

	ck_assert_int_eq(store_space_lookup(x->s, space, &sid), 0);
	ck_assert_int_eq(store_doc_lookup(x->s, sid, key, &id), 0);
	return id;
}

static bool evicted(struct fix *x, const char *space, const char *key,
		    uint64_t *seq)
{
	struct store_doc_info info;

	ck_assert_int_eq(store_doc_info(x->s, doc_id(x, space, key), &info),
			 0);
	if (seq)
		*seq = info.seq;
	return info.evicted;
}

struct body {
	char b[256];
};

static int body_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct body *b = arg;

	(void)seq;
	snprintf(b->b, sizeof(b->b), "%.*s", (int)len, (const char *)buf);
	return 0;
}

/* The document's content as the store holds it ("S" + JSON). */
static const char *content(struct fix *x, const char *space, const char *key,
			   struct body *b)
{
	b->b[0] = 0;
	ck_assert_int_eq(store_read(x->s, doc_id(x, space, key), body_fn, b),
			 0);
	return b->b;
}

/* The writer's history: a snapshot at batch 1 (part per document), a
 * batch after it. */
static const struct rec h0[] = {
	{ 'D', "people", "ada", 3, "{\"n\":1}\n" },
	{ 'D', "people", "bob", 2, "{\"n\":2}\n" },
	{ 'D', "people", "cyd", 1, "true\n" },
	{ 'D', "pets", "rex", 7, "[1,2]\n" },
	{ 'D', "pets", "sam", 4, "\"s\"\n" },
};
static const struct rec h1[] = {
	{ 'D', "people", "ada", 4, "{\"n\":10}\n" },
	{ 'X', "pets", "sam", 0, NULL },
	{ 'D', "pets", "tom", 1, "1\n" },
};
static const struct rec h2[] = {
	{ 'D', "people", "bob", 3, "{\"n\":20}\n" },
	{ 'X', "people", "cyd", 0, NULL },
	{ 'D', "pets", "uma", 2, "null\n" },
};
/* after h2: ada=4 bob=3 rex=7 tom=1 uma=2 */

static void history(struct fix *x)
{
	put_batch(x, GEN1, 0, h0, 5);
	put_batch(x, GEN1, 1, h1, 3);
	/* parts of about 60 bytes: one document each */
	ck_assert_int_eq(pitr_snapshot(x->t, id_a, GEN1, 1, 60, NULL), 0);
	put_batch(x, GEN1, 2, h2, 3);
}

static void check_names(struct fix *x)
{
	uint64_t seq, sid, id;

	evicted(x, "people", "ada", &seq);
	ck_assert_uint_eq(seq, 4);
	evicted(x, "people", "bob", &seq);
	ck_assert_uint_eq(seq, 3);
	evicted(x, "pets", "rex", &seq);
	ck_assert_uint_eq(seq, 7);
	evicted(x, "pets", "tom", &seq);
	ck_assert_uint_eq(seq, 1);
	evicted(x, "pets", "uma", &seq);
	ck_assert_uint_eq(seq, 2);
	ck_assert_int_eq(store_space_lookup(x->s, "people", &sid), 0);
	ck_assert_int_eq(store_doc_lookup(x->s, sid, "cyd", &id), -ENOENT);
	ck_assert_int_eq(store_space_lookup(x->s, "pets", &sid), 0);
	ck_assert_int_eq(store_doc_lookup(x->s, sid, "sam", &id), -ENOENT);
}

START_TEST(test_snapshot_index_describes_the_snapshot)
{
	struct pitr_index ix;
	const struct pitr_index_entry *e;
	struct fix x;
	char sum[65], hex[65];

	fix_open(&x);
	history(&x);
	ck_assert_int_eq(pitr_index_get(x.t, GEN1, 1, &ix, NULL), 0);
	ck_assert_uint_eq(ix.gen, GEN1);
	ck_assert_uint_eq(ix.batch, 1);
	ck_assert_uint_eq(ix.n, 5); /* ada bob cyd rex tom (sam is gone) */
	ck_assert_uint_eq(ix.parts, 5);
	e = pitr_index_find(&ix, "people", "ada");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->seq, 4);
	ck_assert_uint_eq(e->size, strlen("{\"n\":10}\n"));
	ck_assert_uint_eq(e->mode, 0100644);
	ck_assert_uint_eq(e->uid, 1000);
	ck_assert_int_eq(e->mtime_ns, MTIME + 4);
	cloud_doc_checksum("{\"n\":10}\n", 9, sum);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", e->sha256[i]);
	ck_assert_str_eq(hex, sum);
	ck_assert_ptr_null(pitr_index_find(&ix, "pets", "sam"));
	ck_assert_ptr_nonnull(pitr_index_find(&ix, "pets", "tom"));
	ck_assert_uint_eq(pitr_index_find(&ix, "pets", "tom")->part, 4);
	pitr_index_free(&ix);
	fix_close(&x);
}
END_TEST

START_TEST(test_lazy_start_reads_the_index_not_the_bodies)
{
	struct follow_status st;
	struct body b;
	struct fix x;
	char key[FEED_KEY_MAX];
	void *parts[5];
	size_t plen[5];
	uint64_t seq, before;

	fix_open(&x);
	history(&x);
	/* current objects: ada at the position's seq; bob newer than the
	 * position (uploaded, its batch not yet written); rex older than
	 * the position (its new upload not yet there: never the case for
	 * a writer, but the follower must not take it); tom absent */
	put_current(&x, "people", "ada", 4, "{\"n\":10}\n");
	put_current(&x, "people", "bob", 4, "{\"n\":30}\n");
	put_current(&x, "pets", "rex", 6, "[0]\n");
	/* the snapshot's parts are not there at the start */
	for (uint32_t p = 1; p < 5; p++) {
		feed_key_snap(key, GEN1, 1, p);
		parts[p] = get_obj(&x, key, &plen[p]);
		ck_assert_int_eq(cloud_target_delete(x.t, PITR_SPACE, key), 0);
	}
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	for (uint32_t p = 1; p < 5; p++) {
		feed_key_snap(key, GEN1, 1, p);
		put_obj(&x, key, parts[p], plen[p]);
		free(parts[p]);
	}
	check_names(&x);
	follow_status(x.f, &st);
	ck_assert(st.lazy);
	ck_assert_uint_eq(st.pos.gen, GEN1);
	ck_assert_uint_eq(st.pos.batch, 2);
	pitr_key_index(key, GEN1, 1);
	before = obj_size(&x, key);
	feed_key_batch(key, GEN1, 2);
	/* the index and the batch after the snapshot: nothing else */
	ck_assert_uint_eq(st.start_bytes, before + obj_size(&x, key));
	/* from the index: evicted; from the feed after it: bodies */
	ck_assert(evicted(&x, "people", "ada", NULL));
	ck_assert(evicted(&x, "pets", "rex", NULL));
	ck_assert(evicted(&x, "pets", "tom", NULL));
	ck_assert(!evicted(&x, "people", "bob", NULL));
	ck_assert(!evicted(&x, "pets", "uma", NULL));
	ck_assert_str_eq(content(&x, "people", "bob", &b), "S{\"n\":20}");
	/* ada: the current object is the position's state */
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "people", "ada")), 0);
	ck_assert(!evicted(&x, "people", "ada", &seq));
	ck_assert_uint_eq(seq, 4);
	ck_assert_str_eq(content(&x, "people", "ada", &b), "S{\"n\":10}");
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.refills, 1);
	ck_assert_uint_eq(st.refill_bytes, 9);
	/* rex: the current object is another state: the snapshot part */
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "rex")), 0);
	ck_assert_str_eq(content(&x, "pets", "rex", &b), "S[1,2]");
	/* tom: no current object: the snapshot part */
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "tom")), 0);
	ck_assert_str_eq(content(&x, "pets", "tom", &b), "S1");
	evicted(&x, "pets", "tom", &seq);
	ck_assert_uint_eq(seq, 1);
	/* not evicted: nothing to do */
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "tom")), 0);
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.refills, 3);
	fix_close(&x);
}
END_TEST

START_TEST(test_lazy_refill_never_takes_a_newer_state)
{
	struct follow_status st;
	struct body b;
	struct fix x;
	char key[FEED_KEY_MAX];
	uint64_t id;

	fix_open(&x);
	history(&x);
	/* rex's current object is newer than the position, and its
	 * snapshot part is gone: its state is nowhere */
	put_current(&x, "pets", "rex", 8, "[9]\n");
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	{
		struct pitr_index ix;
		const struct pitr_index_entry *e;

		ck_assert_int_eq(pitr_index_get(x.t, GEN1, 1, &ix, NULL), 0);
		e = pitr_index_find(&ix, "pets", "rex");
		ck_assert_ptr_nonnull(e);
		feed_key_snap(key, GEN1, 1, e->part);
		pitr_index_free(&ix);
	}
	ck_assert_int_eq(cloud_target_delete(x.t, PITR_SPACE, key), 0);
	id = doc_id(&x, "pets", "rex");
	ck_assert_int_eq(follow_refill(x.f, id), -EIO);
	ck_assert(evicted(&x, "pets", "rex", NULL)); /* nothing changed */
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.refills, 0);
	/* once its batch is applied the follower shows seq 8, its body */
	{
		const struct rec h3[] = {
			{ 'D', "pets", "rex", 8, "[9]\n" },
		};

		put_batch(&x, GEN1, 3, h3, 1);
	}
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(!evicted(&x, "pets", "rex", NULL));
	ck_assert_str_eq(content(&x, "pets", "rex", &b), "S[9]");
	fix_close(&x);
}
END_TEST

START_TEST(test_lazy_refill_from_a_later_snapshot_of_the_same_state)
{
	const struct rec h3[] = { { 'D', "people", "ada", 5, "{\"n\":50}\n" } };
	struct body b;
	struct fix x;
	char key[FEED_KEY_MAX];

	fix_open(&x);
	history(&x);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0); /* at batch 2, holding the
						  index of batch 1 */
	/* the writer goes on: a snapshot at batch 3 (rex and tom
	 * unchanged); the base snapshot's parts are pruned; rex's and tom's
	 * current objects are newer than the follower's position */
	put_batch(&x, GEN1, 3, h3, 1);
	ck_assert_int_eq(pitr_snapshot(x.t, id_a, GEN1, 3, 60, NULL), 0);
	for (uint32_t p = 0; p < 5; p++) {
		feed_key_snap(key, GEN1, 1, p);
		ck_assert_int_eq(cloud_target_delete(x.t, PITR_SPACE, key), 0);
	}
	put_current(&x, "pets", "rex", 8, "[8]\n");
	put_current(&x, "pets", "tom", 2, "2\n");
	/* the same state (tom at seq 1) from the later snapshot */
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "tom")), 0);
	ck_assert_str_eq(content(&x, "pets", "tom", &b), "S1");
	/* and after a restart (no index held) */
	follower_close(&x);
	follower_open(&x);
	ck_assert(follow_ready(x.f));
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "rex")), 0);
	ck_assert_str_eq(content(&x, "pets", "rex", &b), "S[1,2]");
	fix_close(&x);
}
END_TEST

START_TEST(test_lazy_follower_restarted_refills_from_the_index)
{
	struct follow_status st;
	struct body b;
	struct fix x;

	fix_open(&x);
	history(&x);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	follower_close(&x);
	/* a clean position: no rebuild; the index is found again */
	follower_open(&x);
	ck_assert(follow_ready(x.f));
	ck_assert_int_eq(follow_refill(x.f, doc_id(&x, "pets", "rex")), 0);
	ck_assert_str_eq(content(&x, "pets", "rex", &b), "S[1,2]");
	follow_status(x.f, &st);
	ck_assert_uint_eq(st.refills, 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	check_names(&x);
	fix_close(&x);
}
END_TEST

START_TEST(test_a_batch_with_the_state_shown_gives_its_body)
{
	const struct rec again[] = { { 'D', "pets", "rex", 7, "[1,2]\n" } };
	struct body b;
	struct fix x;
	char key[FEED_KEY_MAX];

	fix_open(&x);
	history(&x);
	/* every part gone: only the batch can give rex its body */
	for (uint32_t p = 1; p < 5; p++) {
		feed_key_snap(key, GEN1, 1, p);
		ck_assert_int_eq(cloud_target_delete(x.t, PITR_SPACE, key), 0);
	}
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(evicted(&x, "pets", "rex", NULL));
	/* a batch carrying the state rex shows (a state recorded twice) */
	put_batch(&x, GEN1, 3, again, 1);
	ck_assert_int_eq(follow_poll(x.f), 0);
	ck_assert(!evicted(&x, "pets", "rex", NULL));
	ck_assert_str_eq(content(&x, "pets", "rex", &b), "S[1,2]");
	check_names(&x);
	fix_close(&x);
}
END_TEST

/* ---- hostile indexes ---- */

static void reseal(uint8_t *p, size_t len)
{
	le32_put(p + len - 4, crc32c(p, len - 4));
}

enum damage {
	CUT,
	BAD_CRC,
	HUGE_COUNT,
	HUGE_PARTS,
	SLASH_NAME,
	DOTDOT_NAME,
	RESERVED_NAME,
	PART_OUT_OF_RANGE,
	OUT_OF_ORDER,
	ZERO_SEQ,
	OTHER_SNAPSHOT,
	NAME_LEN_PAST_END,
	TRAILING,
	DAMAGE_N
};

/* The first entry's fixed part starts at PITR_INDEX_HDR; its names at
 * PITR_INDEX_HDR + PITR_INDEX_ENTRY ("people" then "ada"). */
static size_t damage(uint8_t *p, size_t len, enum damage d)
{
	uint8_t *e0 = p + PITR_INDEX_HDR, *n0 = e0 + PITR_INDEX_ENTRY;

	switch (d) {
	case CUT:
		return len / 2;
	case BAD_CRC:
		p[len / 2] ^= 0x40;
		return len;
	case HUGE_COUNT:
		le32_put(p + 60, 0xffffffffu);
		break;
	case HUGE_PARTS:
		le32_put(p + 56, 0xffffffffu);
		break;
	case SLASH_NAME:
		n0[2] = '/';
		break;
	case DOTDOT_NAME:
		/* key "ada" becomes ".." and a shorter length */
		e0[1] = 2;
		memmove(n0 + 6 + 2, n0 + 6 + 3, len - (size_t)(n0 + 9 - p));
		len--;
		le64_put(p + 8, len);
		memcpy(n0 + 6, "..", 2);
		break;
	case RESERVED_NAME:
		/* "people" "ada" becomes ".caravan" "x" */
		e0[0] = 8;
		e0[1] = 1;
		memcpy(n0, ".caravanx", 9);
		break;
	case PART_OUT_OF_RANGE:
		le32_put(e0 + 4, le32_get(p + 56));
		break;
	case OUT_OF_ORDER:
		n0[0] = 'z'; /* "zeople/ada" before "people/bob" */
		break;
	case ZERO_SEQ:
		le64_put(e0 + 8, 0);
		break;
	case OTHER_SNAPSHOT:
		le64_put(p + 40, 7);
		break;
	case NAME_LEN_PAST_END:
		e0[0] = 255;
		break;
	case TRAILING:
		/* one byte more than the entries (kept inside the length) */
		memmove(p + len - 3, p + len - 4, 4);
		len++;
		le64_put(p + 8, len);
		break;
	default:
		break;
	}
	reseal(p, len);
	return len;
}

START_TEST(test_hostile_index_falls_back_to_the_eager_start)
{
	for (int d = 0; d < DAMAGE_N; d++) {
		struct follow_status st;
		struct pitr_index ix;
		const char *why = NULL;
		struct body b;
		struct fix x;
		char key[FEED_KEY_MAX];
		uint8_t *p;
		size_t len;

		fix_open(&x);
		history(&x);
		pitr_key_index(key, GEN1, 1);
		p = get_obj(&x, key, &len);
		p = realloc(p, len + 1);
		len = damage(p, len, (enum damage)d);
		if (d != OTHER_SNAPSHOT)
			ck_assert_int_eq(pitr_index_decode(p, len, &ix, &why),
					 -EBADMSG);
		put_obj(&x, key, p, len);
		free(p);
		follower_open(&x);
		ck_assert_int_eq(follow_poll(x.f), 0);
		follow_status(x.f, &st);
		ck_assert_msg(!st.lazy, "damage %d: started lazily", d);
		ck_assert(follow_ready(x.f));
		check_names(&x);
		ck_assert(!evicted(&x, "pets", "rex", NULL));
		ck_assert(!evicted(&x, "people", "ada", NULL));
		ck_assert_str_eq(content(&x, "people", "ada", &b),
				 "S{\"n\":10}");
		fix_close(&x);
	}
}
END_TEST

START_TEST(test_snapshot_without_index_is_imported_whole)
{
	struct follow_status st;
	struct fix x;
	char key[FEED_KEY_MAX];

	fix_open(&x);
	history(&x);
	pitr_key_index(key, GEN1, 1);
	ck_assert_int_eq(cloud_target_delete(x.t, PITR_SPACE, key), 0);
	follower_open(&x);
	ck_assert_int_eq(follow_poll(x.f), 0);
	follow_status(x.f, &st);
	ck_assert(!st.lazy);
	check_names(&x);
	ck_assert(!evicted(&x, "pets", "rex", NULL));
	fix_close(&x);
}
END_TEST

START_TEST(test_index_pruned_with_its_snapshot)
{
	struct fix x;
	char key[FEED_KEY_MAX];
	struct pitr_index ix;
	const struct rec h3[] = { { 'D', "pets", "rex", 8, "[9]\n" } };

	fix_open(&x);
	history(&x);
	put_batch(&x, GEN1, 3, h3, 1);
	ck_assert_int_eq(pitr_snapshot(x.t, id_a, GEN1, 3, 1 << 20, NULL), 0);
	ck_assert_int_eq(pitr_prune(x.t, INT64_MAX, NULL), 0);
	ck_assert_int_eq(pitr_index_get(x.t, GEN1, 1, &ix, NULL), -ENOENT);
	ck_assert_int_eq(pitr_index_get(x.t, GEN1, 3, &ix, NULL), 0);
	ck_assert_uint_eq(pitr_index_find(&ix, "pets", "rex")->seq, 8);
	pitr_index_free(&ix);
	pitr_key_index(key, GEN1, 3);
	ck_assert_int_eq(pitr_key_index_parse(key, &ix.gen, &ix.batch), 0);
	ck_assert_uint_eq(ix.batch, 3);
	ck_assert_int_eq(pitr_key_index_parse("sidx-1-2", &ix.gen, &ix.batch),
			 -EINVAL);
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
	Suite *s = suite_create("cloud_follow_lazy");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_index_describes_the_snapshot);
	tcase_add_test(tc, test_lazy_start_reads_the_index_not_the_bodies);
	tcase_add_test(tc, test_lazy_refill_never_takes_a_newer_state);
	tcase_add_test(tc, test_lazy_follower_restarted_refills_from_the_index);
	tcase_add_test(tc,
		       test_lazy_refill_from_a_later_snapshot_of_the_same_state);
	tcase_add_test(tc, test_a_batch_with_the_state_shown_gives_its_body);
	tcase_add_test(tc, test_hostile_index_falls_back_to_the_eager_start);
	tcase_add_test(tc, test_snapshot_without_index_is_imported_whole);
	tcase_add_test(tc, test_index_pruned_with_its_snapshot);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
