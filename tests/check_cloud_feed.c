/*
 * check_cloud_feed.c - change feed batches and base snapshot parts: round
 * trip, refusal (-EBADMSG, never a crash) of every truncation, every
 * single-bit flip, structural damage behind a valid checksum (huge
 * lengths, times going back, kinds out of place), and the object names.
 *
 * With FEED_WRITE_SEEDS=DIR set it also writes the fuzz seed corpus
 * (tests/fuzz/corpus/feed) to DIR.
 */
#include "config.h"

#include "cloud/feed.h"

#include "util/crc32c.h"
#include "util/endian.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ID[FEED_ID_LEN] = { 1, 2,	3,  4,	5,  6,	7,  8,
					 9, 10, 11, 12, 13, 14, 15, 16 };

static struct feed_record rec(uint8_t kind, const char *space, const char *key,
			      uint64_t seq, int64_t t, const char *body)
{
	struct feed_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	snprintf(r.space, sizeof(r.space), "%s", space);
	snprintf(r.key, sizeof(r.key), "%s", key);
	r.seq = seq;
	r.mode = 0640;
	r.uid = 1000;
	r.gid = 100;
	r.mtime_ns = t - 5;
	r.ctime_ns = t - 3;
	r.time_ns = t;
	r.body = (const uint8_t *)body;
	r.body_len = body ? strlen(body) : 0;
	return r;
}

static void make_batch(void **out, size_t *len)
{
	struct feed_writer w;
	struct feed_record r;

	ck_assert_int_eq(feed_writer_init(&w, FEED_BATCH, ID, 7, 3, 0, 0, 0),
			 0);
	r = rec('D', "sp\xc3\xa9", "k1", 4, 100, "{\"a\":1}\n");
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	r = rec('X', "sp\xc3\xa9", "k2", 0, 100, NULL);
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	r = rec('D', "s", "k \xe2\x82\xac", 1, 250, "[]\n");
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	ck_assert_int_eq(feed_writer_finish(&w, out, len), 0);
}

static void make_snap(void **out, size_t *len)
{
	struct feed_writer w;
	struct feed_record r;

	ck_assert_int_eq(feed_writer_init(&w, FEED_SNAP, ID, 7, 3, 1, 2, 300),
			 0);
	r = rec('D', "a", "b", 9, 300, "{}\n");
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	r = rec('D', "a", "c", 2, 10, "\"x\"\n");
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	ck_assert_int_eq(feed_writer_finish(&w, out, len), 0);
}

START_TEST(test_feed_batch_round_trip)
{
	struct feed_object o;
	void *buf;
	size_t len;

	make_batch(&buf, &len);
	ck_assert_int_eq(feed_decode(buf, len, &o), 0);
	ck_assert_int_eq(o.kind, FEED_BATCH);
	ck_assert_mem_eq(o.id, ID, FEED_ID_LEN);
	ck_assert_uint_eq(o.gen, 7);
	ck_assert_uint_eq(o.batch, 3);
	ck_assert_int_eq(o.first_ns, 100);
	ck_assert_int_eq(o.last_ns, 250);
	ck_assert_uint_eq(o.n, 3);
	ck_assert_str_eq(o.rec[0].space, "sp\xc3\xa9");
	ck_assert_uint_eq(o.rec[0].seq, 4);
	ck_assert_uint_eq(o.rec[0].mode, 0640);
	ck_assert_int_eq(o.rec[0].mtime_ns, 95);
	ck_assert_uint_eq(o.rec[0].body_len, 8);
	ck_assert_mem_eq(o.rec[0].body, "{\"a\":1}\n", 8);
	ck_assert_int_eq(o.rec[1].kind, FEED_REC_DEL);
	ck_assert_ptr_null(o.rec[1].body);
	ck_assert_str_eq(o.rec[2].key, "k \xe2\x82\xac");
	feed_release(&o);
	free(buf);
}
END_TEST

START_TEST(test_feed_snapshot_round_trip)
{
	struct feed_object o;
	void *buf;
	size_t len;

	make_snap(&buf, &len);
	ck_assert_int_eq(feed_decode(buf, len, &o), 0);
	ck_assert_int_eq(o.kind, FEED_SNAP);
	ck_assert_uint_eq(o.part, 1);
	ck_assert_uint_eq(o.parts, 2);
	ck_assert_int_eq(o.first_ns, 300);
	ck_assert_int_eq(o.last_ns, 300);
	ck_assert_uint_eq(o.n, 2);
	ck_assert_str_eq(o.rec[1].key, "c");
	feed_release(&o);
	free(buf);
}
END_TEST

START_TEST(test_feed_every_truncation_and_bit_flip_is_refused)
{
	void *bufs[2];
	size_t lens[2];

	make_batch(&bufs[0], &lens[0]);
	make_snap(&bufs[1], &lens[1]);
	for (int k = 0; k < 2; k++) {
		uint8_t *p = bufs[k];
		struct feed_object o;

		for (size_t n = 0; n < lens[k]; n++)
			ck_assert_int_eq(feed_decode(p, n, &o), -EBADMSG);
		for (size_t bit = 0; bit < lens[k] * 8; bit++) {
			p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ck_assert_int_eq(feed_decode(p, lens[k], &o), -EBADMSG);
			ck_assert_ptr_null(o.rec);
			p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		ck_assert_int_eq(feed_decode(p, lens[k], &o), 0);
		feed_release(&o);
		free(bufs[k]);
	}
}
END_TEST

/* Change byte off of buf to v (width bytes), reseal, expect a refusal. */
static void damaged(const void *buf, size_t len, size_t off, int width,
		    uint64_t v)
{
	uint8_t *p = malloc(len);
	struct feed_object o;

	memcpy(p, buf, len);
	if (width == 1)
		p[off] = (uint8_t)v;
	else if (width == 4)
		le32_put(p + off, (uint32_t)v);
	else
		le64_put(p + off, v);
	le32_put(p + len - 4, crc32c(p, len - 4));
	ck_assert_int_eq(feed_decode(p, len, &o), -EBADMSG);
	free(p);
}

START_TEST(test_feed_structural_damage_with_valid_crc_is_refused)
{
	void *b, *s;
	size_t bl, sl;
	size_t r0 = 76; /* first record */

	make_batch(&b, &bl);
	make_snap(&s, &sl);
	damaged(b, bl, 6, 1, 1); /* flags */
	damaged(b, bl, 4, 1, 2); /* version */
	damaged(b, bl, 72, 4, 0xffffffff); /* huge record count */
	damaged(b, bl, 72, 4, 0); /* a batch without records */
	damaged(b, bl, 72, 4, 2); /* fewer records than bytes */
	damaged(b, bl, 68, 4, 2); /* a batch in parts */
	damaged(b, bl, 48, 8, 99); /* first time not the first record's */
	damaged(b, bl, 56, 8, 251); /* last time not the last record's */
	damaged(b, bl, r0 + 48, 4, 0xffffffff); /* huge body */
	damaged(b, bl, r0 + 48, 4, 0); /* document without body */
	damaged(b, bl, r0 + 1, 1, 0); /* empty space name */
	damaged(b, bl, r0 + 1, 1, 255); /* name past the end */
	damaged(b, bl, r0 + 3, 1, 1); /* reserved byte */
	damaged(b, bl, r0, 1, 'Q'); /* unknown kind */
	damaged(b, bl, r0 + 40, 8, 101); /* times going back */
	damaged(b, bl, 8, 8, UINT64_MAX); /* total length */
	damaged(s, sl, 64, 4, 2); /* part past parts */
	damaged(s, sl, 68, 4, 0); /* no parts */
	damaged(s, sl, 56, 8, 299); /* first != last */
	damaged(s, sl, r0 + 40, 8, 301); /* a record after the snapshot */
	free(b);
	free(s);
}
END_TEST

START_TEST(test_feed_writer_refuses_bad_input)
{
	struct feed_writer w;
	struct feed_record r;
	void *out;
	size_t len;

	ck_assert_int_eq(feed_writer_init(&w, FEED_SNAP, ID, 1, 1, 2, 2, 0),
			 -EINVAL);
	ck_assert_int_eq(feed_writer_init(&w, FEED_BATCH, ID, 1, 1, 0, 0, 0),
			 0);
	ck_assert_int_eq(feed_writer_finish(&w, &out, &len), -EINVAL);
	ck_assert_int_eq(feed_writer_init(&w, FEED_BATCH, ID, 1, 1, 0, 0, 0),
			 0);
	r = rec('D', "s", "k", 1, 50, "{}");
	ck_assert_int_eq(feed_writer_add(&w, &r), 0);
	r = rec('D', "s", "k", 2, 49, "{}");
	ck_assert_int_eq(feed_writer_add(&w, &r), -EINVAL);
	ck_assert_int_eq(feed_writer_finish(&w, &out, &len), -EINVAL);
	ck_assert_int_eq(feed_writer_init(&w, FEED_BATCH, ID, 1, 1, 0, 0, 0),
			 0);
	r = rec('D', "s", "a/b", 1, 50, "{}");
	ck_assert_int_eq(feed_writer_add(&w, &r), -EINVAL);
	feed_writer_release(&w);
	ck_assert_int_eq(feed_writer_init(&w, FEED_SNAP, ID, 1, 1, 0, 1, 10),
			 0);
	r = rec('X', "s", "k", 0, 5, NULL);
	ck_assert_int_eq(feed_writer_add(&w, &r), -EINVAL);
	feed_writer_release(&w);
}
END_TEST

START_TEST(test_feed_keys_sort_and_parse)
{
	char a[FEED_KEY_MAX], b[FEED_KEY_MAX];
	uint64_t g, n;
	uint32_t part;

	feed_key_batch(a, 0x10, 0x9);
	feed_key_batch(b, 0x10, 0xa);
	ck_assert_int_lt(strcmp(a, b), 0);
	ck_assert_int_eq(feed_key_parse(b, &g, &n, &part), FEED_BATCH);
	ck_assert_uint_eq(g, 0x10);
	ck_assert_uint_eq(n, 0xa);
	feed_key_snap(a, UINT64_MAX, 5, 0xabc);
	ck_assert_int_eq(feed_key_parse(a, &g, &n, &part), FEED_SNAP);
	ck_assert_uint_eq(g, UINT64_MAX);
	ck_assert_uint_eq(part, 0xabc);
	ck_assert_int_eq(feed_key_parse("store", &g, &n, &part), 0);
	ck_assert_int_eq(
		feed_key_parse("feed-0000000000000010-000000000000000A", &g, &n,
			       &part),
		0);
	ck_assert_int_eq(feed_key_parse("feed-0000000000000010-00000000000000a",
					&g, &n, &part),
			 0);
}
END_TEST

static void write_seed(const char *dir, const char *name, const void *buf,
		       size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

START_TEST(test_feed_write_seeds)
{
	const char *dir = getenv("FEED_WRITE_SEEDS");
	void *b, *s;
	size_t bl, sl;

	make_batch(&b, &bl);
	make_snap(&s, &sl);
	if (dir) {
		write_seed(dir, "batch1.bin", b, bl);
		write_seed(dir, "snap1.bin", s, sl);
		write_seed(dir, "batch1-truncated.bin", b, bl / 2);
	}
	free(b);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_feed");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_feed_batch_round_trip);
	tcase_add_test(tc, test_feed_snapshot_round_trip);
	tcase_add_test(tc, test_feed_every_truncation_and_bit_flip_is_refused);
	tcase_add_test(tc,
		       test_feed_structural_damage_with_valid_crc_is_refused);
	tcase_add_test(tc, test_feed_writer_refuses_bad_input);
	tcase_add_test(tc, test_feed_keys_sort_and_parse);
	tcase_add_test(tc, test_feed_write_seeds);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
