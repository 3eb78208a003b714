/*
 * check_cloud_archive.c - the document archive: round trip, the golden
 * version-1 bytes, and refusal (-EBADMSG, never a crash) of every
 * truncation, every single-bit flip, structurally bad archives with a
 * valid checksum, and random garbage.
 */
#include "config.h"

#include "cloud/archive.h"

#include "util/crc32c.h"
#include "util/endian.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define SPACE                                                                  \
	"sp\xc3\xa9"                                                           \
	"ce" /* 6 bytes */
#define KEY "k\xe2\x82\xac y" /* 6 bytes */

static const struct archive_meta meta = { 0640, 1000, 100, -1234567890123LL,
					  1700000000000000000LL };

/* A document with three entries, one empty. */
static void *sample(size_t *len)
{
	struct archive_writer w;
	void *out = NULL;

	ck_assert_int_eq(archive_writer_init(&w, SPACE, KEY, &meta), 0);
	ck_assert_int_eq(archive_writer_add(&w, 7, "{\"a\":1}", 7), 0);
	ck_assert_int_eq(archive_writer_add(&w, 8, "", 0), 0);
	ck_assert_int_eq(archive_writer_add(&w, 10, "{\"b\":[1,2]}", 11), 0);
	ck_assert_int_eq(archive_writer_finish(&w, 10, &out, len), 0);
	return out;
}

START_TEST(test_archive_round_trip_keeps_everything)
{
	size_t len;
	void *buf = sample(&len);
	struct archive a;

	ck_assert_int_eq(archive_decode(buf, len, &a), 0);
	ck_assert_uint_eq(a.seq, 10);
	ck_assert_str_eq(a.space, SPACE);
	ck_assert_str_eq(a.key, KEY);
	ck_assert_uint_eq(a.meta.mode, 0640);
	ck_assert_uint_eq(a.meta.uid, 1000);
	ck_assert_uint_eq(a.meta.gid, 100);
	ck_assert(a.meta.mtime_ns == -1234567890123LL);
	ck_assert(a.meta.ctime_ns == 1700000000000000000LL);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_uint_eq(a.entries[0].seq, 7);
	ck_assert_uint_eq(a.entries[0].len, 7);
	ck_assert(!memcmp(a.entries[0].buf, "{\"a\":1}", 7));
	ck_assert_uint_eq(a.entries[1].seq, 8);
	ck_assert_uint_eq(a.entries[1].len, 0);
	ck_assert_uint_eq(a.entries[2].seq, 10);
	ck_assert(!memcmp(a.entries[2].buf, "{\"b\":[1,2]}", 11));
	archive_release(&a);
	archive_release(&a);
	free(buf);
}
END_TEST

START_TEST(test_archive_without_entries_round_trips)
{
	struct archive_writer w;
	struct archive a;
	void *buf;
	size_t len;

	ck_assert_int_eq(archive_writer_init(&w, "s", "k", &meta), 0);
	ck_assert_int_eq(archive_writer_finish(&w, 42, &buf, &len), 0);
	ck_assert_int_eq(archive_decode(buf, len, &a), 0);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_uint_eq(a.seq, 42);
	ck_assert_ptr_null(a.entries);
	archive_release(&a);
	free(buf);
}
END_TEST

START_TEST(test_archive_matches_golden_version_1_bytes)
{
	char path[4096], line[256];
	size_t len, n = 0;
	uint8_t *buf = sample(&len), want[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/cloud/archive-v1.hex",
		 TOP_SRCDIR);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open '%s'", path);
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		for (char *p = line; *p;) {
			unsigned v;
			int used;

			if (sscanf(p, " %2x%n", &v, &used) != 1)
				break;
			ck_assert_uint_lt(n, sizeof(want));
			want[n++] = (uint8_t)v;
			p += used;
		}
	}
	fclose(f);
	ck_assert_uint_eq(n, len);
	ck_assert(!memcmp(want, buf, len));
	free(buf);
}
END_TEST

START_TEST(test_archive_every_truncation_is_refused)
{
	size_t len;
	uint8_t *buf = sample(&len);

	for (size_t cut = 0; cut < len; cut++) {
		struct archive a;
		/* A copy of exactly cut bytes so ASan sees any overread. */
		uint8_t *t = malloc(cut ? cut : 1);

		memcpy(t, buf, cut);
		ck_assert_int_eq(archive_decode(t, cut, &a), -EBADMSG);
		ck_assert_ptr_null(a.entries);
		free(t);
	}
	free(buf);
}
END_TEST

START_TEST(test_archive_every_bit_flip_is_refused)
{
	size_t len;
	uint8_t *buf = sample(&len);
	struct archive a;

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(archive_decode(buf, len, &a) == -EBADMSG,
				      "flip byte %zu bit %d accepted", i, bit);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	ck_assert_int_eq(archive_decode(buf, len, &a), 0);
	archive_release(&a);
	free(buf);
}
END_TEST

/* Recompute the total length and CRC after a structural edit. */
static void reseal(uint8_t *buf, size_t len)
{
	le64_put(buf + 8, len);
	le32_put(buf + len - 4, crc32c(buf, len - 4));
}

START_TEST(test_archive_structural_damage_with_valid_crc_is_refused)
{
	size_t len;
	uint8_t *orig = sample(&len), *buf = malloc(len + 16);
	struct archive a;
	/* Offsets in the sample: names at 60, then the entries: seq 7 len
	 * 7, seq 8 len 0, seq 10 len 11. */
	const size_t sl = strlen(SPACE), kl = strlen(KEY);
	const size_t e0 = 60 + sl + kl, e1 = e0 + 12 + 7, e2 = e1 + 12;
	struct {
		const char *what;
		size_t off;
		int width;
		uint64_t value;
	} cases[] = {
		{ "version 2", 4, 2, 2 },
		{ "flags set", 6, 2, 1 },
		{ "count too big", 24, 4, 4 },
		{ "count huge", 24, 4, UINT32_MAX },
		{ "count too small", 24, 4, 2 },
		{ "space name empty", 56, 2, 0 },
		{ "space name too long", 56, 2, 300 },
		{ "names past end", 58, 2, 0xffff },
		{ "entry length past end", e0 + 8, 4, 1000 },
		{ "entry length huge", e2 + 8, 4, UINT32_MAX },
		{ "sequence zero", e0, 8, 0 },
		{ "sequence repeats", e1, 8, 7 },
		{ "sequence goes back", e2, 8, 3 },
		{ "last sequence is not the document's", 16, 8, 11 },
		{ "slash in key", 60 + sl + 1, 1, '/' },
		{ "nul in space name", 61, 1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, orig, len);
		switch (cases[i].width) {
		case 1:
			buf[cases[i].off] = (uint8_t)cases[i].value;
			break;
		case 2:
			le16_put(buf + cases[i].off, (uint16_t)cases[i].value);
			break;
		case 4:
			le32_put(buf + cases[i].off, (uint32_t)cases[i].value);
			break;
		default:
			le64_put(buf + cases[i].off, cases[i].value);
		}
		reseal(buf, len);
		ck_assert_msg(archive_decode(buf, len, &a) == -EBADMSG,
			      "accepted: %s", cases[i].what);
	}
	/* Trailing bytes after the last entry. */
	memcpy(buf, orig, len - 4);
	memset(buf + len - 4, 0, 4);
	reseal(buf, len + 4);
	ck_assert_int_eq(archive_decode(buf, len + 4, &a), -EBADMSG);
	free(buf);
	/* A key ".." (written as "ab", then patched). */
	{
		struct archive_writer w;
		size_t n;

		ck_assert_int_eq(archive_writer_init(&w, "s", "ab", &meta), 0);
		ck_assert_int_eq(
			archive_writer_finish(&w, 1, (void **)&buf, &n), 0);
		ck_assert_int_eq(archive_decode(buf, n, &a), 0);
		memcpy(buf + 61, "..", 2);
		reseal(buf, n);
		ck_assert_int_eq(archive_decode(buf, n, &a), -EBADMSG);
		free(buf);
	}
	free(orig);
}
END_TEST

START_TEST(test_archive_random_garbage_never_crashes)
{
	size_t len;
	uint8_t *orig = sample(&len);
	unsigned seed = 12345;
	int rounds = getenv("CARAVAN_VALGRIND") ? 2000 : 20000;

	for (int r = 0; r < rounds; r++) {
		size_t n = (size_t)(rand_r(&seed) % (int)(len + 40));
		uint8_t *buf = malloc(n ? n : 1);
		struct archive a;
		int rc;

		/* Half the time mutate a valid archive and reseal it, so the
		 * structure checks (not only the CRC) get exercised. */
		if (r % 2 && n >= 64) {
			memcpy(buf, orig, n < len ? n : len);
			for (size_t i = len; i < n; i++)
				buf[i] = (uint8_t)rand_r(&seed);
			for (int k = 0; k < 3; k++)
				buf[(size_t)rand_r(&seed) % (n - 4)] =
					(uint8_t)rand_r(&seed);
			reseal(buf, n);
		} else {
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rand_r(&seed);
		}
		rc = archive_decode(buf, n, &a);
		ck_assert(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			for (size_t i = 0; i < a.n; i++)
				ck_assert(a.entries[i].buf + a.entries[i].len <=
					  buf + n);
			archive_release(&a);
		}
		free(buf);
	}
	free(orig);
}
END_TEST

START_TEST(test_archive_writer_refuses_bad_input)
{
	struct archive_writer w;
	void *out = NULL;
	size_t len;

	ck_assert_int_eq(archive_writer_init(&w, "", "k", &meta), -EINVAL);
	ck_assert_int_eq(archive_writer_init(&w, "a/b", "k", &meta), -EINVAL);
	ck_assert_int_eq(archive_writer_init(&w, "s", "..", &meta), -EINVAL);
	{
		char long_name[300];

		memset(long_name, 'x', 256);
		long_name[256] = '\0';
		ck_assert_int_eq(archive_writer_init(&w, "s", long_name, &meta),
				 -EINVAL);
		long_name[255] = '\0';
		ck_assert_int_eq(archive_writer_init(&w, "s", long_name, &meta),
				 0);
		archive_writer_release(&w);
	}
	ck_assert_int_eq(archive_writer_init(&w, "s", "k", &meta), 0);
	ck_assert_int_eq(archive_writer_add(&w, 5, "x", 1), 0);
	ck_assert_int_eq(archive_writer_add(&w, 5, "y", 1), -EINVAL);
	/* Sticky: a later valid add fails too, and so does finish. */
	ck_assert_int_eq(archive_writer_add(&w, 6, "y", 1), -EINVAL);
	ck_assert_int_eq(archive_writer_finish(&w, 6, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(archive_writer_init(&w, "s", "k", &meta), 0);
	ck_assert_int_eq(archive_writer_add(&w, 0, "x", 1), -EINVAL);
	archive_writer_release(&w);
	ck_assert_int_eq(archive_writer_init(&w, "s", "k", &meta), 0);
	ck_assert_int_eq(archive_writer_add(&w, 3, "x", 1), 0);
	ck_assert_int_eq(archive_writer_finish(&w, 4, &out, &len), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_archive");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_archive_round_trip_keeps_everything);
	tcase_add_test(tc, test_archive_without_entries_round_trips);
	tcase_add_test(tc, test_archive_matches_golden_version_1_bytes);
	tcase_add_test(tc, test_archive_every_truncation_is_refused);
	tcase_add_test(tc, test_archive_every_bit_flip_is_refused);
	tcase_add_test(
		tc, test_archive_structural_damage_with_valid_crc_is_refused);
	tcase_add_test(tc, test_archive_random_garbage_never_crashes);
	tcase_add_test(tc, test_archive_writer_refuses_bad_input);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
