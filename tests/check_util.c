/*
 * check_util.c - checksums, byte order, the fault-injecting I/O seam,
 * names and the containers (hash map, id map, string set, string list,
 * byte string, the growth rule).
 */
#include "util/buf.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/pmap.h"
#include "util/io.h"
#include "tests/io_fault.h"
#include "util/log.h"
#include "util/name.h"
#include "util/strlist.h"
#include "util/strset.h"
#include "util/u64map.h"
#include "util/u64shards.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_crc32c_known_vectors)
{
	/* Check values from RFC 3720 appendix B.4 and the common "123456789". */
	uint8_t zeros[32] = { 0 }, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c(zeros, 32), 0x8A9136AAu);
	ck_assert_uint_eq(crc32c(ones, 32), 0x62A8AB43u);
	ck_assert_uint_eq(crc32c(inc, 32), 0x46DD794Eu);
	ck_assert_uint_eq(crc32c("", 0), 0);
}
END_TEST

START_TEST(test_crc32c_hw_matches_table_and_extends)
{
	uint8_t buf[4096];
	srand(7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t len = 0; len < 200; len++) {
		for (size_t start = 0; start < 9; start++) {
			uint32_t a = crc32c_extend(0, buf + start, len);
			uint32_t b = crc32c_extend_sw(0, buf + start, len);
			ck_assert_uint_eq(a, b);
		}
	}
	uint32_t whole = crc32c(buf, sizeof(buf));
	uint32_t part = crc32c_extend(crc32c(buf, 1000), buf + 1000, 3096);
	ck_assert_uint_eq(whole, part);
}
END_TEST

START_TEST(test_endian_roundtrip_is_little_endian)
{
	uint8_t b[8];

	le64_put(b, 0x0102030405060708ull);
	ck_assert_uint_eq(b[0], 0x08);
	ck_assert_uint_eq(b[7], 0x01);
	ck_assert_uint_eq(le64_get(b), 0x0102030405060708ull);
	le32_put(b, 0xdeadbeefu);
	ck_assert_uint_eq(le32_get(b), 0xdeadbeefu);
	le16_put(b, 0xabcd);
	ck_assert_uint_eq(b[0], 0xcd);
	ck_assert_uint_eq(le16_get(b), 0xabcd);
}
END_TEST

static int tmpfile_fd(char *path)
{
	strcpy(path, "/tmp/caravan-util-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_io_fault_fails_nth_call_then_passes)
{
	char path[64];
	int fd = tmpfile_fd(path);

	io_fault_install();
	io_fault_arm(IO_OP_FDATASYNC, 3, EIO, IO_FAULT_ONCE);
	ck_assert_int_eq(io_fdatasync(fd), 0);
	ck_assert_int_eq(io_fdatasync(fd), 0);
	ck_assert(!io_fault_fired());
	ck_assert_int_eq(io_fdatasync(fd), -EIO);
	ck_assert(io_fault_fired());
	ck_assert_int_eq(io_fdatasync(fd), 0);
	ck_assert_uint_eq(io_fault_calls(IO_OP_FDATASYNC), 4);
	io_fault_uninstall();
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_io_fault_short_write_then_enospc)
{
	char path[64], buf[100];
	int fd = tmpfile_fd(path);

	memset(buf, 'x', sizeof(buf));
	io_fault_install();
	io_fault_arm(IO_OP_PWRITE, 1, IO_FAULT_SHORT, IO_FAULT_STICKY);
	ck_assert_int_eq(io_pwrite_all(fd, buf, sizeof(buf), 0), -ENOSPC);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 50);
	io_fault_uninstall();
	ck_assert_int_eq(io_pwrite_all(fd, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 100);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_io_sticky_fault_keeps_failing)
{
	char path[64];
	int fd = tmpfile_fd(path);

	io_fault_install();
	io_fault_arm(IO_OP_FSYNC, 1, ENOSPC, IO_FAULT_STICKY);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(io_fsync(fd), -ENOSPC);
	io_fault_uninstall();
	ck_assert_int_eq(io_fsync(fd), 0);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_strlist_copies_grows_clears)
{
	struct strlist l = STRLIST_INIT;
	char name[16];

	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ck_assert_int_eq(strlist_collect(&l, name), 0);
	}
	/* the list holds copies, in order */
	snprintf(name, sizeof(name), "changed");
	ck_assert_uint_eq(l.n, 100);
	ck_assert_str_eq(l.v[0], "n0");
	ck_assert_str_eq(l.v[99], "n99");
	ck_assert(strlist_has(&l, "n57"));
	ck_assert(!strlist_has(&l, "n100"));
	ck_assert(!strlist_has(&l, "changed"));
	ck_assert(strlist_remove(&l, "n1"));
	ck_assert(!strlist_remove(&l, "n1"));
	ck_assert_uint_eq(l.n, 99);
	ck_assert_str_eq(l.v[0], "n0");
	ck_assert_str_eq(l.v[1], "n2"); /* order kept */
	ck_assert_str_eq(l.v[98], "n99");
	strlist_clear(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert(!strlist_has(&l, "n0"));
	ck_assert_int_eq(strlist_add(&l, ""), 0);
	ck_assert(strlist_has(&l, ""));
	strlist_release(&l);
	ck_assert_ptr_null(l.v);
	ck_assert_uint_eq(l.n + l.cap, 0);
	strlist_release(&l); /* twice is harmless */
}
END_TEST

/* 20k names go in and out in linear time; deletion keeps every other
 * name reachable (backward shift); iteration visits each name once. */
START_TEST(test_strset_holds_many_names_and_deletes_cleanly)
{
	struct strset m = STRSET_INIT;
	char name[32];
	int64_t v = 0;
	size_t pos = 0, seen = 0;
	const char *s;

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "doc-%d", i);
		ck_assert_int_eq(strset_put(&m, name, i), 0);
	}
	ck_assert_int_eq(strset_put(&m, "doc-7", 70), 0); /* replaces */
	ck_assert_uint_eq(strset_count(&m), 20000);
	ck_assert(strset_get(&m, "doc-7", &v));
	ck_assert_int_eq(v, 70);
	ck_assert(!strset_get(&m, "doc-20000", NULL));
	for (int i = 0; i < 20000; i += 2) {
		snprintf(name, sizeof(name), "doc-%d", i);
		ck_assert(strset_del(&m, name));
		ck_assert(!strset_del(&m, name));
	}
	for (int i = 1; i < 20000; i += 2) {
		snprintf(name, sizeof(name), "doc-%d", i);
		ck_assert(strset_get(&m, name, &v));
		ck_assert_int_eq(v, i == 7 ? 70 : i);
	}
	while ((s = strset_next(&m, &pos, &v)))
		seen++;
	ck_assert_uint_eq(seen, 10000);
	strset_clear(&m);
	ck_assert_uint_eq(strset_count(&m), 0);
	ck_assert(!strset_get(&m, "doc-1", NULL));
	ck_assert_int_eq(strset_collect(&m, ""), 0);
	ck_assert(strset_get(&m, "", NULL));
	strset_release(&m);
	ck_assert_uint_eq(strset_count(&m), 0);
	ck_assert_ptr_null(m.h.hashes);
	strset_release(&m); /* twice is harmless */
}
END_TEST

/* Keys of the collision test: every key has one of four hashes, so runs
 * hold many entries of the same hash that only match() tells apart. */
static bool match_int(const void *val, const void *key)
{
	return *(const int *)val == *(const int *)key;
}

static uint64_t weak_hash(int k)
{
	return (uint64_t)(k % 4) + 1;
}

START_TEST(test_hmap_tells_shared_hashes_apart_and_deletes_inside_runs)
{
	struct hmap m = HMAP_INIT;
	static int keys[600];
	void *old = &m, *v;
	uint64_t h;
	size_t pos = 0, seen = 0;

	for (int i = 0; i < 600; i++) {
		keys[i] = i;
		ck_assert_int_eq(hmap_put(&m, weak_hash(i), match_int, &keys[i],
					  &keys[i], &old),
				 0);
		ck_assert_ptr_null(old);
	}
	ck_assert_uint_eq(hmap_count(&m), 600);
	/* Replacing reports the old value and adds nothing. */
	ck_assert_int_eq(hmap_put(&m, weak_hash(9), match_int, &keys[9],
				  &keys[9], &old),
			 0);
	ck_assert_ptr_eq(old, &keys[9]);
	ck_assert_uint_eq(hmap_count(&m), 600);
	/* Delete every third key: the others stay reachable behind the
	 * holes (backward shift within runs of equal hashes). */
	for (int i = 0; i < 600; i += 3)
		ck_assert_ptr_eq(hmap_del(&m, weak_hash(i), match_int,
					  &keys[i]),
				 &keys[i]);
	for (int i = 0; i < 600; i++) {
		void *want = i % 3 ? &keys[i] : NULL;

		ck_assert_ptr_eq(
			hmap_get(&m, weak_hash(i), match_int, &keys[i]), want);
	}
	ck_assert_ptr_null(hmap_del(&m, weak_hash(0), match_int, &keys[0]));
	while (hmap_next(&m, &pos, &h, &v)) {
		ck_assert_uint_eq(h, weak_hash(*(int *)v));
		ck_assert_int_ne(*(int *)v % 3, 0);
		seen++;
	}
	ck_assert_uint_eq(seen, 400);
	ck_assert_uint_eq(hmap_count(&m), 400);
	hmap_clear(&m);
	ck_assert_uint_eq(hmap_count(&m), 0);
	ck_assert_ptr_null(hmap_get(&m, weak_hash(1), match_int, &keys[1]));
	hmap_release(&m);
	hmap_release(&m); /* twice is harmless */
	ck_assert_uint_eq(hmap_hash_bytes("", 0) != 0, 1);
}
END_TEST

/* Values of the pmap tests: 16-byte aligned (as malloc gives), each
 * holding its key. */
struct pkey {
	_Alignas(16) int k;
};

static uint64_t pkey_weak_hash(const void *val)
{
	return weak_hash(((const struct pkey *)val)->k);
}

static bool pkey_match(const void *val, const void *key)
{
	return ((const struct pkey *)val)->k == *(const int *)key;
}

/* Runs of values sharing a hash (and so a tag) are told apart by match
 * alone; deleting inside them keeps every other value reachable. */
START_TEST(test_pmap_tells_shared_hashes_apart_and_deletes_inside_runs)
{
	static struct pkey keys[600];
	struct pmap m;
	void *old = &m, *v;
	size_t pos = 0, seen = 0;

	pmap_init(&m, pkey_weak_hash);
	ck_assert_ptr_null(pmap_get(&m, 1, pkey_match, &keys[0].k));
	ck_assert_ptr_null(pmap_del(&m, 1, pkey_match, &keys[0].k));
	for (int i = 0; i < 600; i++) {
		keys[i].k = i;
		ck_assert_int_eq(pmap_put(&m, weak_hash(i), pkey_match,
					  &keys[i].k, &keys[i], &old),
				 0);
		ck_assert_ptr_null(old);
	}
	ck_assert_uint_eq(pmap_count(&m), 600);
	ck_assert_int_eq(pmap_put(&m, weak_hash(9), pkey_match, &keys[9].k,
				  &keys[9], &old),
			 0);
	ck_assert_ptr_eq(old, &keys[9]);
	ck_assert_uint_eq(pmap_count(&m), 600);
	for (int i = 0; i < 600; i += 3)
		ck_assert_ptr_eq(pmap_del(&m, weak_hash(i), pkey_match,
					  &keys[i].k),
				 &keys[i]);
	for (int i = 0; i < 600; i++) {
		void *want = i % 3 ? &keys[i] : NULL;

		ck_assert_ptr_eq(
			pmap_get(&m, weak_hash(i), pkey_match, &keys[i].k),
			want);
	}
	while (pmap_next(&m, &pos, &v)) {
		ck_assert_int_ne(((struct pkey *)v)->k % 3, 0);
		seen++;
	}
	ck_assert_uint_eq(seen, 400);
	ck_assert_uint_eq(pmap_table_bytes(&m), m.cap * sizeof(uintptr_t));
	pmap_release(&m);
	ck_assert_uint_eq(pmap_count(&m), 0);
	ck_assert_ptr_null(pmap_get(&m, weak_hash(1), pkey_match, &keys[1].k));
	pmap_release(&m); /* twice is harmless */
}
END_TEST

static uint64_t pkey_id_hash(const void *val)
{
	return (uint64_t)((const struct pkey *)val)->k;
}

/* A random mix of puts, replaces and deletes (keys as their own hashes,
 * so the 4-bit tags collide often) agrees with a plain array at every
 * step, through growth, and iteration sees exactly the live values. */
START_TEST(test_pmap_agrees_with_a_plain_array)
{
	enum {
		KEYS = 3000,
		STEPS = 60000
	};
	static struct pkey vals[KEYS + 1];
	static bool in[KEYS + 1];
	struct pmap m;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	size_t live = 0, pos = 0, seen = 0;
	void *v, *old;

	memset(in, 0, sizeof(in));
	pmap_init(&m, pkey_id_hash);
	ck_assert_int_eq(pmap_reserve(&m, 10), 0);
	for (int i = 1; i <= KEYS; i++)
		vals[i].k = i;
	for (int i = 0; i < STEPS; i++) {
		int k;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (int)(rng % KEYS) + 1;
		if (rng >> 62) {
			ck_assert_int_eq(pmap_put(&m, (uint64_t)k, pkey_match,
						  &k, &vals[k], &old),
					 0);
			ck_assert_ptr_eq(old, in[k] ? &vals[k] : NULL);
			live += !in[k];
			in[k] = true;
		} else {
			ck_assert_ptr_eq(pmap_del(&m, (uint64_t)k, pkey_match,
						  &k),
					 in[k] ? &vals[k] : NULL);
			live -= in[k];
			in[k] = false;
		}
		ck_assert_uint_eq(pmap_count(&m), live);
		if (i % 5000 == 0)
			for (int j = 1; j <= KEYS; j++)
				ck_assert_ptr_eq(pmap_get(&m, (uint64_t)j,
							  pkey_match, &j),
						 in[j] ? &vals[j] : NULL);
	}
	while (pmap_next(&m, &pos, &v)) {
		ck_assert(in[((struct pkey *)v)->k]);
		seen++;
	}
	ck_assert_uint_eq(seen, live);
	/* At most 70% load after every put. */
	ck_assert_uint_lt(pmap_count(&m) * 10, m.cap * 7);
	pmap_release(&m);
}
END_TEST

/* pmap32 objects: the key, then a fill of the object's remaining bytes
 * (its size varies with the key) that a get checks. */
struct pobj {
	int k;
	uint8_t fill[];
};

static size_t pobj_size(int k)
{
	return sizeof(struct pobj) + (size_t)(k % 97) * 5 + 1;
}

/* Three keys share each hash: runs of equal hashes. */
static uint64_t pobj_weak_hash(int k)
{
	return (uint64_t)(k / 3) + 1;
}

static uint64_t pobj_hash(const void *val)
{
	return pobj_weak_hash(((const struct pobj *)val)->k);
}

static bool pobj_match(const void *val, const void *key)
{
	return ((const struct pobj *)val)->k == *(const int *)key;
}

static void pobj_check(const struct pobj *o, int k)
{
	size_t bad = 0;

	ck_assert_int_eq(o->k, k);
	for (size_t i = 0; i < pobj_size(k) - sizeof(*o); i++)
		bad += o->fill[i] != (uint8_t)(k + (int)i);
	ck_assert_uint_eq(bad, 0);
}

/* Objects of many sizes in a ppool, found through a pmap32 whose hashes
 * collide in runs: a random mix of adds and removes agrees with a plain
 * array at every step, every object keeps its bytes, freed objects are
 * reused (the pool stops growing once churn is steady), handles are
 * never 0, and sizes out of range are refused. */
START_TEST(test_pmap32_and_pool_agree_with_a_plain_array)
{
	enum {
		KEYS = 4000,
		STEPS = 80000
	};
	static uint32_t handle[KEYS + 1];
	struct ppool pool;
	struct pmap32 m;
	uint64_t rng = 0x2545F4914F6CDD1Dull;
	size_t live = 0, pos = 0, seen = 0, bytes_mid = 0;
	uint32_t h, old;
	void *p;

	memset(handle, 0, sizeof(handle));
	ppool_init(&pool);
	pmap32_init(&m, &pool, pobj_hash);
	ck_assert_int_eq(ppool_alloc(&pool, 0, &h, &p), -ENOMEM);
	ck_assert_int_eq(ppool_alloc(&pool, PPOOL_MAX_BYTES + 1, &h, &p),
			 -ENOMEM);
	ck_assert_ptr_null(pmap32_get(&m, 1, pobj_match, &(int){ 1 }));
	ck_assert_uint_eq(pmap32_del(&m, 1, pobj_match, &(int){ 1 }), 0);
	for (int i = 0; i < STEPS; i++) {
		int k;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (int)(rng % KEYS) + 1;
		if (i == STEPS / 2)
			bytes_mid = pool.bytes;
		if (!handle[k]) {
			struct pobj *o;

			ck_assert_int_eq(
				ppool_alloc(&pool, pobj_size(k), &h, &p), 0);
			ck_assert_uint_ne(h, 0);
			ck_assert_ptr_eq(ppool_ptr(&pool, h), p);
			ck_assert_uint_eq((uintptr_t)p % PPOOL_UNIT, 0);
			o = p;
			ck_assert_int_eq(o->k, 0); /* zeroed */
			o->k = k;
			for (size_t j = 0; j < pobj_size(k) - sizeof(*o); j++)
				o->fill[j] = (uint8_t)(k + (int)j);
			ck_assert_int_eq(pmap32_put(&m, pobj_weak_hash(k),
						    pobj_match, &k, h, &old),
					 0);
			ck_assert_uint_eq(old, 0);
			handle[k] = h;
			live++;
		} else {
			pobj_check(pmap32_get(&m, pobj_weak_hash(k), pobj_match,
					      &k),
				   k);
			ck_assert_uint_eq(pmap32_handle(&m, pobj_weak_hash(k),
							pobj_match, &k),
					  handle[k]);
			ck_assert_uint_eq(pmap32_del(&m, pobj_weak_hash(k),
						     pobj_match, &k),
					  handle[k]);
			ppool_free(&pool, handle[k], pobj_size(k));
			handle[k] = 0;
			live--;
		}
		ck_assert_uint_eq(pmap32_count(&m), live);
		if (i % 8000 == 0)
			for (int j = 1; j <= KEYS; j++) {
				void *v = pmap32_get(&m, pobj_weak_hash(j),
						     pobj_match, &j);

				if (handle[j])
					pobj_check(v, j);
				else
					ck_assert_ptr_null(v);
			}
	}
	/* Steady churn over the same keys reuses freed objects: no block
	 * was added in the second half. */
	ck_assert_uint_eq(pool.bytes, bytes_mid);
	while (pmap32_next(&m, &pos, &h, &p)) {
		const struct pobj *o = p;

		ck_assert_uint_eq(handle[o->k], h);
		pobj_check(o, o->k);
		seen++;
	}
	ck_assert_uint_eq(seen, live);
	ck_assert_uint_lt(pmap32_count(&m) * 10, m.cap * 7);
	ck_assert_uint_eq(pmap32_table_bytes(&m), m.cap * sizeof(uint32_t));
	pmap32_release(&m);
	ppool_release(&pool);
	ck_assert_uint_eq(pool.bytes, 0);
	ck_assert_uint_eq(pmap32_count(&m), 0);
}
END_TEST

/* Handles that need more and more bits: the tag narrows from 8 bits to 1
 * while the map holds objects, and every object stays found.  The pool
 * is made by hand, its 2^14 blocks all one buffer, so handles reach 31
 * bits without 16 GiB; each object has its own units in that buffer. */
START_TEST(test_pmap32_tag_narrows_as_handles_grow)
{
	enum {
		KEYS = 3000
	};
	static uint8_t *blocks[PPOOL_MAX_BLOCKS];
	static uint32_t handle[KEYS + 1];
	struct ppool pool;
	struct pmap32 m;
	unsigned last_bits = PMAP32_TAG_BITS_MAX + 1;
	size_t pos = 0, seen = 0;
	uint8_t *buf;
	uint32_t h, old;
	void *p;

	buf = calloc((size_t)1 << PPOOL_BLOCK_SHIFT, PPOOL_UNIT);
	ck_assert_ptr_nonnull(buf);
	for (size_t b = 0; b < PPOOL_MAX_BLOCKS; b++)
		blocks[b] = buf;
	memset(&pool, 0, sizeof(pool));
	pool.blocks = blocks;
	pool.nblocks = pool.cap = PPOOL_MAX_BLOCKS;
	pmap32_init(&m, &pool, pobj_hash);
	for (int k = 1; k <= KEYS; k++) {
		uint32_t block = (uint32_t)((uint64_t)k * (PPOOL_MAX_BLOCKS - 1) /
					    KEYS);
		uint32_t unit = (uint32_t)k * 2; /* 16 bytes each */
		struct pobj *o;

		h = block << PPOOL_BLOCK_SHIFT | unit;
		o = ppool_ptr(&pool, h);
		o->k = k;
		ck_assert_int_eq(pmap32_put(&m, pobj_weak_hash(k), pobj_match,
					    &k, h, &old),
				 0);
		ck_assert_uint_eq(old, 0);
		handle[k] = h;
		ck_assert_uint_le(m.tag_bits, last_bits);
		ck_assert_uint_ge(m.tag_bits, 1);
		if (m.tag_bits != last_bits) {
			/* narrowed: every object so far is still found */
			for (int j = 1; j <= k; j++)
				ck_assert_uint_eq(
					pmap32_handle(&m, pobj_weak_hash(j),
						      pobj_match, &j),
					handle[j]);
			last_bits = m.tag_bits;
		}
	}
	ck_assert_uint_eq(m.tag_bits, 1);
	for (int k = 1; k <= KEYS; k += 2)
		ck_assert_uint_eq(pmap32_del(&m, pobj_weak_hash(k), pobj_match,
					     &k),
				  handle[k]);
	for (int k = 1; k <= KEYS; k++) {
		struct pobj *o = pmap32_get(&m, pobj_weak_hash(k), pobj_match,
					    &k);

		if (k % 2)
			ck_assert_ptr_null(o);
		else
			ck_assert_int_eq(o->k, k);
	}
	while (pmap32_next(&m, &pos, &h, &p)) {
		ck_assert_uint_eq(handle[((struct pobj *)p)->k], h);
		seen++;
	}
	ck_assert_uint_eq(seen, KEYS / 2);
	pmap32_release(&m);
	free(buf);
}
END_TEST

/* Objects fill a block to its last granule and the next one starts a
 * new block; handles address both. */
START_TEST(test_ppool_spans_blocks)
{
	struct ppool pool;
	size_t per_block = ((size_t)1 << PPOOL_BLOCK_SHIFT) * PPOOL_UNIT;
	size_t n = per_block / PPOOL_MAX_BYTES * 2 + 3;
	uint32_t *hs = calloc(n, sizeof(*hs));
	void *p;

	ck_assert_ptr_nonnull(hs);
	ppool_init(&pool);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(ppool_alloc(&pool, PPOOL_MAX_BYTES, &hs[i], &p),
				 0);
		memset(p, (int)(i & 0xff), PPOOL_MAX_BYTES);
	}
	ck_assert_uint_eq(pool.nblocks, 3);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = ppool_ptr(&pool, hs[i]);

		ck_assert_uint_eq(b[0], i & 0xff);
		ck_assert_uint_eq(b[PPOOL_MAX_BYTES - 1], i & 0xff);
	}
	ppool_release(&pool);
	free(hs);
}
END_TEST

/* A random mix of puts, replaces and deletes agrees with a plain array
 * at every step, and iteration sees exactly the live keys. */
START_TEST(test_u64map_agrees_with_a_plain_array)
{
	enum {
		KEYS = 3000,
		STEPS = 60000
	};
	static void *ref[KEYS + 1];
	struct u64map m;
	uint64_t rng = 0x2545F4914F6CDD1Dull, key;
	size_t live = 0, pos = 0, seen = 0;
	void *v;

	memset(ref, 0, sizeof(ref));
	u64map_init(&m);
	ck_assert_int_eq(u64map_reserve(&m, 100), 0);
	for (int i = 0; i < STEPS; i++) {
		uint64_t k;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = rng % KEYS + 1;
		if (rng >> 62) {
			void *val = (void *)(uintptr_t)(i + 1);

			live += !ref[k];
			ref[k] = val;
			ck_assert_int_eq(u64map_put(&m, k, val), 0);
		} else {
			ck_assert_ptr_eq(u64map_del(&m, k), ref[k]);
			live -= !!ref[k];
			ref[k] = NULL;
		}
		ck_assert_ptr_eq(u64map_get(&m, rng % KEYS + 1),
				 ref[rng % KEYS + 1]);
		ck_assert_uint_eq(u64map_count(&m), live);
	}
	for (uint64_t k = 1; k <= KEYS; k++)
		ck_assert_ptr_eq(u64map_get(&m, k), ref[k]);
	while (u64map_next(&m, &pos, &key, &v)) {
		ck_assert(key >= 1 && key <= KEYS);
		ck_assert_ptr_eq(v, ref[key]);
		seen++;
	}
	ck_assert_uint_eq(seen, live);
	u64map_release(&m);
	ck_assert_ptr_null(u64map_get(&m, 1));
	ck_assert_ptr_null(u64map_del(&m, 1));
}
END_TEST

/* The sharded map agrees with a plain array too, its keys spread over
 * every shard, and a growth rehashes one shard: its shape moves while
 * the other shards' tables stay where they were. */
START_TEST(test_u64shards_agrees_with_a_plain_array_and_grows_one_shard)
{
	enum {
		KEYS = 20000,
		STEPS = 100000
	};
	static void *ref[KEYS + 1];
	struct u64shards m;
	uint64_t rng = 0x9E3779B97F4A7C15ull, key;
	size_t live = 0, pos = 0, seen = 0, shape, moved;
	void *v;

	memset(ref, 0, sizeof(ref));
	u64shards_init(&m);
	for (int i = 0; i < STEPS; i++) {
		uint64_t k;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = rng % KEYS + 1;
		if (rng >> 62) {
			void *val = (void *)(uintptr_t)(i + 1);

			live += !ref[k];
			ref[k] = val;
			ck_assert_int_eq(u64shards_put(&m, k, val), 0);
		} else {
			ck_assert_ptr_eq(u64shards_del(&m, k), ref[k]);
			live -= !!ref[k];
			ref[k] = NULL;
		}
		ck_assert_uint_eq(u64shards_count(&m), live);
	}
	for (uint64_t k = 1; k <= KEYS; k++)
		ck_assert_ptr_eq(u64shards_get(&m, k), ref[k]);
	while (u64shards_next(&m, &pos, &key, &v)) {
		ck_assert(key >= 1 && key <= KEYS);
		ck_assert_ptr_eq(v, ref[key]);
		seen++;
	}
	ck_assert_uint_eq(seen, live);
	ck_assert(!u64shards_next(&m, &pos, &key, &v)); /* stays at the end */
	for (int i = 0; i < U64SHARDS; i++)
		ck_assert_uint_gt(u64map_count(&m.m[i]), 0);
	/* fill one shard past its load: only its table is replaced */
	shape = u64shards_shape(&m);
	moved = 0;
	for (uint64_t k = KEYS + 1; moved == 0; k++) {
		struct u64map *one = u64shards_of(&m, k);
		size_t cap = one->h.cap;

		ck_assert_int_eq(u64shards_put(&m, k, (void *)1), 0);
		if (one->h.cap != cap)
			moved = one->h.cap - cap;
	}
	ck_assert_uint_eq(u64shards_shape(&m), shape + moved);
	u64shards_release(&m);
	ck_assert_ptr_null(u64shards_get(&m, 1));
}
END_TEST

START_TEST(test_grow_doubles_from_the_minimum_and_refuses_overflow)
{
	size_t cap = 0;
	int *a = NULL, *grown;

	ck_assert_uint_eq(grow_cap(0, 1, 16, 4), 16);
	ck_assert_uint_eq(grow_cap(16, 16, 16, 4), 16);
	ck_assert_uint_eq(grow_cap(16, 17, 16, 4), 32);
	ck_assert_uint_eq(grow_cap(16, 1000, 16, 4), 1024);
	ck_assert_uint_eq(grow_cap(0, 5, 0, 1), 8);
	ck_assert_uint_eq(grow_cap(0, SIZE_MAX / 8 + 1, 16, 8), 0);
	/* Near the top the doubling stops at what is needed. */
	ck_assert_uint_eq(grow_cap(1, SIZE_MAX / 2 + 2, 1, 1),
			  SIZE_MAX / 2 + 2);
	ck_assert_uint_eq(grow_cap(SIZE_MAX / 2 + 1, SIZE_MAX, 1, 1), SIZE_MAX);
	for (int i = 0; i < 5000; i++) {
		if ((size_t)i == cap) {
			grown = grow_array(a, &cap, (size_t)i + 1, 16,
					   sizeof(*a));
			ck_assert_ptr_nonnull(grown);
			a = grown;
		}
		a[i] = i;
	}
	ck_assert_uint_eq(cap, 8192);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(a[i], i);
	/* A size whose bytes overflow leaves the array as it was. */
	ck_assert_ptr_null(grow_array(a, &cap, SIZE_MAX / 2, 16, sizeof(*a)));
	ck_assert_uint_eq(cap, 8192);
	ck_assert_int_eq(a[4999], 4999);
	free(a);
	/* The uint32_t-counted variant follows the same rule. */
	{
		uint32_t cap32 = 0;
		uint64_t *v = grow_array32(NULL, &cap32, 1, 2, sizeof(*v));

		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(cap32, 2);
		v[1] = 7;
		v = grow_array32(v, &cap32, 3, 2, sizeof(*v));
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(cap32, 4);
		ck_assert_uint_eq(v[1], 7);
		ck_assert_ptr_eq(grow_array32(v, &cap32, 4, 2, sizeof(*v)), v);
		ck_assert_ptr_null(
			grow_array32(v, &cap32, UINT32_MAX, 2, SIZE_MAX / 4));
		ck_assert_uint_eq(cap32, 4);
		free(v);
	}
}
END_TEST

START_TEST(test_cbuf_builds_a_string_and_keeps_a_failure)
{
	struct cbuf b = CBUF_INIT;
	char *p;
	size_t len;

	for (int i = 0; i < 100; i++)
		cbuf_addf(&b, "%d,", i);
	cbuf_adds(&b, "end");
	cbuf_addc(&b, '!');
	cbuf_add(&b, "\0x", 2);
	ck_assert(!cbuf_failed(&b));
	p = cbuf_detach(&b, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 290 + 3 + 1 + 2);
	ck_assert_int_eq(memcmp(p, "0,1,2,", 6), 0);
	ck_assert_int_eq(memcmp(p + 290, "end!\0x", 7), 0);
	free(p);
	/* Detached, b is empty and reusable; an empty detach is "". */
	p = cbuf_detach(&b, &len);
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(len, 0);
	free(p);
	/* A length that cannot fit sets the sticky flag: later appends do
	 * nothing and detach hands back NULL. */
	cbuf_adds(&b, "abc");
	cbuf_grow(&b, SIZE_MAX);
	ck_assert(cbuf_failed(&b));
	cbuf_adds(&b, "more");
	ck_assert(cbuf_failed(&b));
	ck_assert_ptr_null(cbuf_detach(&b, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert(!cbuf_failed(&b));
	cbuf_adds(&b, "again");
	ck_assert_str_eq(b.p, "again");
	cbuf_release(&b);
	cbuf_release(&b);
}
END_TEST

START_TEST(test_log_escape_name_leaves_no_line_break_or_quote)
{
	char out[LOG_NAME_ESC_MAX], longname[300];

	ck_assert_str_eq(log_escape_name("plain-Name_1.x~", out),
			 "plain-Name_1.x~");
	ck_assert_str_eq(log_escape_name("a\nerror: forged 'x'\r%", out),
			 "a%0Aerror%3A%20forged%20%27x%27%0D%25");
	ck_assert_str_eq(log_escape_name("\xff\x01", out), "%FF%01");
	ck_assert_str_eq(log_escape_name(NULL, out), "(null)");
	memset(longname, '\n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	log_escape_name(longname, out);
	ck_assert_uint_eq(strlen(out), 3 * 255 + 3);
	ck_assert_str_eq(out + 3 * 255, "...");
}
END_TEST

/* The name rule of SPEC 3, case by case: the name is head followed by
 * pad bytes 'x'; want is what name_check() returns with prefix. */
static const struct name_case {
	const char *why;
	const char *head;
	size_t pad;
	const char *prefix;
	int want;
} name_cases[] = {
	{ "one byte", "a", 0, NULL, 0 },
	{ "255 bytes", "", 255, NULL, 0 },
	{ "any byte but / and NUL", "\xff\x01 \t\\:*?", 0, NULL, 0 },
	{ "dots inside", "...", 0, NULL, 0 },
	{ "a dot file", ".a", 0, NULL, 0 },
	{ "empty", "", 0, NULL, -EINVAL },
	{ "dot", ".", 0, NULL, -EINVAL },
	{ "dot dot", "..", 0, NULL, -EINVAL },
	{ "a slash", "a/b", 0, NULL, -EINVAL },
	{ "only a slash", "/", 0, NULL, -EINVAL },
	{ "256 bytes", "", 256, NULL, -ENAMETOOLONG },
	{ "very long", "", 4096, NULL, -ENAMETOOLONG },
	{ "reserved", ".caravan", 0, ".caravan", -EINVAL },
	{ "reserved prefix", ".caravan-metrics", 0, ".caravan", -EINVAL },
	{ "prefix not reserved", ".caravan", 0, NULL, 0 },
	{ "empty prefix", ".caravan", 0, "", 0 },
	{ "shorter than the prefix", ".carava", 0, ".caravan", 0 },
	{ "prefix elsewhere", "x.caravan", 0, ".caravan", 0 },
	{ "case matters", ".Caravan", 0, ".caravan", 0 },
	{ "length before a slash", "a/", 298, NULL, -ENAMETOOLONG },
	{ "length before the prefix", ".caravan", 250, ".caravan",
	  -ENAMETOOLONG },
	{ "255 bytes with a slash", "/", 254, NULL, -EINVAL },
	{ "255 reserved bytes", ".caravan", 247, ".caravan", -EINVAL },
};

START_TEST(test_name_check_follows_the_table)
{
	const struct name_case *c = &name_cases[_i];
	size_t hl = strlen(c->head);
	char *name = malloc(hl + c->pad + 1);

	ck_assert_ptr_nonnull(name);
	memcpy(name, c->head, hl);
	memset(name + hl, 'x', c->pad);
	name[hl + c->pad] = '\0';
	ck_assert_msg(name_check(name, c->prefix) == c->want,
		      "%s: got %d, want %d", c->why,
		      name_check(name, c->prefix), c->want);
	ck_assert_msg(name_check_bytes(name, hl + c->pad, c->prefix) == c->want,
		      "%s (bytes): got %d, want %d", c->why,
		      name_check_bytes(name, hl + c->pad, c->prefix), c->want);
	ck_assert_int_eq(name_is_reserved(name, c->prefix),
			 c->prefix && *c->prefix &&
				 !strncmp(name, c->prefix, strlen(c->prefix)));
	free(name);
}
END_TEST

START_TEST(test_name_check_bytes_refuses_nul)
{
	ck_assert_int_eq(name_check_bytes("a\0b", 3, NULL), -EINVAL);
	ck_assert_int_eq(name_check_bytes("ab", 2, NULL), 0);
	ck_assert_int_eq(name_check_bytes("..x", 2, NULL), -EINVAL);
	ck_assert_int_eq(name_check_bytes(".caravan", 7, ".caravan"), 0);
}
END_TEST

static int64_t frozen_now_ns(enum clock_kind kind)
{
	return kind == CLOCK_KIND_REAL ? 86400LL * 1000000000 : 42;
}

START_TEST(test_clock_cond_times_out_under_any_clock)
{
	static const struct clock_ops frozen = { .now_ns = frozen_now_ns };
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts, t0, t1;
	pthread_cond_t cv;

	ck_assert_int_eq(clock_cond_init(&cv), 0);
	clock_set_ops(&frozen);
	ck_assert_int_eq(clock_real_ns(), 86400LL * 1000000000);
	ck_assert_int_eq(clock_mono_ns(), 42);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&mu);
	clock_deadline_ns(&ts, 2000000);
	while (pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&mu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_set_ops(NULL);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000000000LL +
				 (t1.tv_nsec - t0.tv_nsec),
			 2000000);
	ck_assert_int_ne(clock_mono_ns(), 42);
	pthread_cond_destroy(&cv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_crc32c_known_vectors);
	tcase_add_test(tc, test_crc32c_hw_matches_table_and_extends);
	tcase_add_test(tc, test_endian_roundtrip_is_little_endian);
	tcase_add_test(tc, test_io_fault_fails_nth_call_then_passes);
	tcase_add_test(tc, test_io_fault_short_write_then_enospc);
	tcase_add_test(tc, test_io_sticky_fault_keeps_failing);
	tcase_add_test(tc, test_strlist_copies_grows_clears);
	tcase_add_test(tc, test_strset_holds_many_names_and_deletes_cleanly);
	tcase_add_test(
		tc,
		test_hmap_tells_shared_hashes_apart_and_deletes_inside_runs);
	tcase_add_test(tc, test_u64map_agrees_with_a_plain_array);
	tcase_add_test(tc,
		       test_u64shards_agrees_with_a_plain_array_and_grows_one_shard);
	tcase_add_test(
		tc, test_pmap_tells_shared_hashes_apart_and_deletes_inside_runs);
	tcase_add_test(tc, test_pmap_agrees_with_a_plain_array);
	tcase_add_test(tc, test_pmap32_and_pool_agree_with_a_plain_array);
	tcase_add_test(tc, test_pmap32_tag_narrows_as_handles_grow);
	tcase_add_test(tc, test_ppool_spans_blocks);
	tcase_add_test(tc,
		       test_grow_doubles_from_the_minimum_and_refuses_overflow);
	tcase_add_test(tc, test_cbuf_builds_a_string_and_keeps_a_failure);
	tcase_add_test(tc, test_log_escape_name_leaves_no_line_break_or_quote);
	tcase_add_loop_test(tc, test_name_check_follows_the_table, 0,
			    (int)(sizeof(name_cases) / sizeof(name_cases[0])));
	tcase_add_test(tc, test_name_check_bytes_refuses_nul);
	tcase_add_test(tc, test_clock_cond_times_out_under_any_clock);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
