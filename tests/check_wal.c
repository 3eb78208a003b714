/*
 * check_wal.c - the write-ahead log: record codec, group commit, replay
 * of torn and corrupt logs, cut-over, fail-stop.
 */
#include "tests/io_fault.h"
#include "tests/testutil.h"
#include "util/log.h"
#include "util/crc32c.h"
#include "wal/record.h"
#include "wal/wal.h"
#include "wal/wal_internal.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXF 64

struct seen {
	int n;
	uint64_t lsn[4096];
	size_t len[4096];
	uint8_t first[4096];
};

static int collect(void *arg, uint64_t lsn, const uint8_t *p, size_t len)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 4096);
	s->lsn[s->n] = lsn;
	s->len[s->n] = len;
	s->first[s->n] = len ? p[0] : 0;
	s->n++;
	return 0;
}

static int empty_snap(void *arg, struct wal_snap *sn)
{
	(void)arg;
	return wal_snap_frame(sn, "S", 1);
}

static const struct wal_options no_committer = { .commit_ms = 0 };

/* Build a log of nframes frames (frame i is i+1 bytes of 'a'+i%26 after
 * the one-byte snapshot), syncing after each when sync_each. */
static void build_log(const char *dir, int nframes, bool sync_each)
{
	struct wal *w;
	char buf[256];

	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	for (int i = 0; i < nframes; i++) {
		uint64_t lsn;
		memset(buf, 'a' + i % 26, sizeof(buf));
		ck_assert_int_eq(
			wal_append(w, buf, (size_t)(i % 200) + 1, &lsn), 0);
		ck_assert_uint_eq(lsn, (uint64_t)i + 2);
		if (sync_each)
			ck_assert_int_eq(wal_sync(w, lsn), 0);
	}
	ck_assert_int_eq(wal_close(w), 0);
}

START_TEST(test_wal_records_round_trip)
{
	struct wal_buf b;
	struct wal_meta m = { 0644, 1, 2, 3, 4 };
	struct wal_ent ents[2] = { { 5, 4096, 10, 99 }, { 6, 5000, 0, 0 } };
	struct wal_rec r;
	size_t pos = 0;

	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_append(&b, 7, 8, 4096, 123, "hello", 5,
					crc32c("hello", 5)),
			 0);
	ck_assert_int_eq(wal_put_mapkey(&b, 9, 3, &m, "key"), 0);
	ck_assert_int_eq(wal_put_snap_doc(&b, 9, 3, 6, 5, 77, &m, "k", ents, 2),
			 0);
	ck_assert_int_eq(wal_put_tomb_add(&b, WAL_TOMB_ADD, 4, "sp", "ke"), 0);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_int_eq(r.type, WAL_APPEND);
	ck_assert_uint_eq(r.u.append.id, 7);
	ck_assert_uint_eq(r.u.append.seq, 8);
	ck_assert_int_eq(r.u.append.mtime_ns, 123);
	ck_assert_uint_eq(r.u.append.len, 5);
	ck_assert_mem_eq(r.u.append.bytes, "hello", 5);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_int_eq(r.type, WAL_MAPKEY);
	ck_assert_uint_eq(r.u.mapkey.space_id, 3);
	ck_assert_uint_eq(r.u.mapkey.meta.mode, 0644);
	ck_assert_int_eq(r.u.mapkey.meta.ctime_ns, 4);
	ck_assert_uint_eq(r.u.mapkey.key.len, 3);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_int_eq(r.type, WAL_SNAP_DOC);
	ck_assert_uint_eq(r.u.snap_doc.n, 2);
	{
		struct wal_ent e;
		wal_rec_ent(&r.u.snap_doc, 1, &e);
		ck_assert_uint_eq(e.seq, 6);
		ck_assert_uint_eq(e.offset, 5000);
	}
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_int_eq(r.type, WAL_TOMB_ADD);
	ck_assert_uint_eq(r.u.tomb.key.len, 2);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 0);
	wal_buf_release(&b);
}
END_TEST

/* Issue 19: a name is never cut to fit a record; an over-long one is
 * refused, and so is an empty one (the decoder would refuse both). */
START_TEST(test_wal_encoder_refuses_overlong_and_empty_names)
{
	struct wal_meta m = { 0644, 1, 2, 3, 4 };
	struct wal_ent e = { 1, 0, 0, 0 };
	char name[WAL_NAME_MAX + 2];
	struct wal_buf b;
	struct wal_rec r;
	size_t pos = 0;

	memset(name, 'n', sizeof(name) - 1);
	name[WAL_NAME_MAX + 1] = '\0';
	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_mkspace(&b, 9, &m, "sp"), 0);
	ck_assert_int_eq(wal_put_mkspace(&b, 9, &m, name), -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_mapkey(&b, 9, 3, &m, name), -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_rename(&b, 9, 3, name), -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_tomb_add(&b, WAL_TOMB_ADD, 4, "sp", name),
			 -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_tomb_add(&b, WAL_TOMB_ADD, 4, name, "k"),
			 -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_snap_space(&b, 9, &m, name), -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_snap_doc(&b, 9, 3, 1, 0, 0, &m, name, &e, 1),
			 -ENAMETOOLONG);
	ck_assert_int_eq(wal_put_mapkey(&b, 9, 3, &m, ""), -EINVAL);
	/* nothing of the refused records is in the buffer */
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_int_eq(r.type, WAL_MKSPACE);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 0);
	/* the longest name fits, whole */
	name[WAL_NAME_MAX] = '\0';
	ck_assert_int_eq(wal_put_mapkey(&b, 9, 3, &m, name), 0);
	ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
	ck_assert_uint_eq(r.u.mapkey.key.len, WAL_NAME_MAX);
	wal_buf_release(&b);
}
END_TEST

START_TEST(test_wal_record_decoder_refuses_every_truncation_and_flip)
{
	struct wal_buf b;
	struct wal_meta m = { 0644, 1, 2, 3, 4 };
	struct wal_rec r;

	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_append(&b, 7, 8, 4096, 1, "hello", 5, 1), 0);
	ck_assert_int_eq(wal_put_mkspace(&b, 9, &m, "space"), 0);
	ck_assert_int_eq(wal_put_rename(&b, 9, 3, "x"), 0);
	/* Every strict prefix that cuts a record fails cleanly. */
	for (size_t cut = 0; cut < b.len; cut++) {
		size_t pos = 0;
		int rc;
		while ((rc = wal_rec_next(b.p, cut, &pos, &r)) > 0)
			;
		ck_assert(rc == 0 || rc == -EBADMSG);
		if (rc == 0)
			ck_assert_uint_eq(pos, cut);
	}
	/* Flipped bits never crash the decoder. */
	for (size_t i = 0; i < b.len * 8; i++) {
		size_t pos = 0;
		b.p[i / 8] ^= (uint8_t)(1u << (i % 8));
		while (wal_rec_next(b.p, b.len, &pos, &r) > 0)
			;
		b.p[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	wal_buf_release(&b);
}
END_TEST

/* wal_crc_skip continues a CRC over bytes from their own CRC exactly as
 * reading them does, on both paths, for every length to 4 KiB, larger
 * ones, and any seed; and both paths agree for lengths of every size. */
START_TEST(test_wal_crc_skip_equals_reading_the_bytes)
{
	static const size_t big[] = { 65535, 65536, 65537, 1u << 20,
				      (1u << 20) + 12345, (16u << 20) + 1 };
	size_t cap = (16u << 20) + 1;
	uint8_t *b = malloc(cap);
	uint64_t r = 88172645463325252ull;

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < cap; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		b[i] = (uint8_t)r;
	}
	for (size_t n = 0; n <= 4096 + sizeof(big) / sizeof(big[0]); n++) {
		size_t len = n <= 4096 ? n : big[n - 4097];
		const uint8_t *p = b + (n * 7) % 64;
		uint32_t seed = (uint32_t)(r ^ n), want, c;

		if (len > cap - 64)
			p = b;
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		c = crc32c(p, len);
		want = crc32c_extend(seed, p, len);
		ck_assert_uint_eq(wal_crc_skip(seed, c, len), want);
		ck_assert_uint_eq(wal_crc_skip_sw(seed, c, len), want);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t len;

		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		len = r >> (i % 64);
		ck_assert_uint_eq(wal_crc_skip((uint32_t)r, (uint32_t)i, len),
				  wal_crc_skip_sw((uint32_t)r, (uint32_t)i,
						  len));
	}
	free(b);
}
END_TEST

/* Frames appended with spans (the bytes' CRC given, not read) replay as
 * valid frames with their payloads; a span whose CRC is wrong makes a
 * frame replay rejects (its bytes are still read and checked there);
 * spans out of order or outside the payload are refused. */
START_TEST(test_wal_append_spans_replays_and_is_checked_in_full)
{
	char *dir = test_tmpdir();
	struct seen s = { 0 };
	struct wal_span sp[3];
	struct wal *w;
	uint8_t buf[3000];
	uint64_t lsn;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	for (int i = 0; i < 200; i++) {
		size_t len = 1 + (size_t)i * 13 % 2999, a = len / 3,
		       bl = len / 4;

		sp[0] = (struct wal_span){ a / 2, a / 2, 0 };
		sp[1] = (struct wal_span){ a, bl, 0 };
		sp[2] = (struct wal_span){ a + bl, len - a - bl, 0 };
		for (int k = 0; k < 3; k++)
			sp[k].crc = crc32c(buf + sp[k].off, sp[k].len);
		buf[0] = (uint8_t)i;
		ck_assert_int_eq(wal_append_spans(w, buf, len, sp,
						  (size_t)(1 + i % 3), &lsn),
				 0);
		ck_assert_uint_eq(lsn, (uint64_t)i + 2);
	}
	sp[0] = (struct wal_span){ 10, 10, 0 };
	sp[1] = (struct wal_span){ 5, 10, 0 };
	ck_assert_int_eq(wal_append_spans(w, buf, 100, sp, 2, &lsn), -EINVAL);
	sp[0] = (struct wal_span){ 95, 10, 0 };
	ck_assert_int_eq(wal_append_spans(w, buf, 100, sp, 1, &lsn), -EINVAL);
	ck_assert_int_eq(wal_close(w), 0);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 201);
	for (int i = 0; i < 200; i++) {
		ck_assert_uint_eq(s.len[i + 1], 1 + (size_t)i * 13 % 2999);
		ck_assert_uint_eq(s.first[i + 1], (uint8_t)i);
	}
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

/* A large frame reserved (wal_append_reserve) and filled later: a flush
 * that a wal_sync leads meanwhile claims the pending frames and waits
 * for the fill (wal/log.c invariant 8) rather than writing a frame whose
 * payload is not there yet; the frame then replays whole, with the ones
 * around it. */
#define FILL_LEN ((size_t)1 << 20)

struct fill_sync {
	struct wal *w;
	uint64_t lsn;
	int rc;
	bool done;
};

static void *fill_sync_main(void *p)
{
	struct fill_sync *f = p;

	f->rc = wal_sync(f->w, f->lsn);
	__atomic_store_n(&f->done, true, __ATOMIC_RELEASE);
	return NULL;
}

struct fill_seen {
	int n;
	bool big_ok;
};

static int fill_collect(void *arg, uint64_t lsn, const uint8_t *p, size_t len)
{
	struct fill_seen *s = arg;

	s->n++;
	if (lsn == 3) {
		s->big_ok = len == FILL_LEN;
		for (size_t i = 0; s->big_ok && i < len; i++)
			s->big_ok = p[i] == (uint8_t)(i * 7 + 3);
	}
	return 0;
}

START_TEST(test_wal_flush_waits_for_the_fill_of_a_reserved_frame)
{
	char *dir = test_tmpdir();
	struct fill_sync f = { 0 };
	struct fill_seen seen = { 0 };
	struct wal_slot slot;
	uint8_t *big = malloc(FILL_LEN);
	uint64_t lsn;
	pthread_t th;
	bool claimed = false;

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < FILL_LEN; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &f.w),
			 0);
	ck_assert_int_eq(wal_append(f.w, "before", 6, &lsn), 0);
	ck_assert_uint_eq(lsn, 2);
	ck_assert_int_eq(wal_append_reserve(f.w, big, FILL_LEN, NULL, 0,
					    &f.lsn, &slot),
			 0);
	ck_assert_uint_eq(f.lsn, 3);
	ck_assert_ptr_nonnull(slot.dst);
	ck_assert_int_eq(pthread_create(&th, NULL, fill_sync_main, &f), 0);
	/* the sync's flush has claimed the frames and waits for the fill */
	for (int i = 0; i < 20000 && !claimed; i++) {
		pthread_mutex_lock(&f.w->mu);
		claimed = f.w->io_busy && f.w->filling == 1;
		pthread_mutex_unlock(&f.w->mu);
		if (!claimed)
			usleep(500);
	}
	ck_assert_msg(claimed, "no flush came to wait for the fill");
	ck_assert(!__atomic_load_n(&f.done, __ATOMIC_ACQUIRE));
	ck_assert_uint_lt(wal_durable_lsn(f.w), 3);
	wal_append_fill(f.w, &slot, big);
	ck_assert_ptr_null(slot.dst);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_uint_ge(wal_durable_lsn(f.w), 3);
	ck_assert_int_eq(wal_append(f.w, "after", 5, &lsn), 0);
	ck_assert_uint_eq(lsn, 4);
	ck_assert_int_eq(wal_close(f.w), 0);
	ck_assert_int_eq(wal_open(dir, &no_committer, fill_collect, &seen,
				  &f.w),
			 0);
	ck_assert_int_eq(seen.n, 4); /* snapshot, before, big, after */
	ck_assert(seen.big_ok);
	ck_assert_int_eq(wal_close(f.w), 0);
	free(big);
	test_rmdir(dir);
}
END_TEST

/* A large frame through wal_append_spans (copied in without the log's
 * lock) while other threads append small ones and sync: every frame
 * replays, in LSN order, each whole. */
struct mixed_arg {
	struct wal *w;
	int id;
};

static void *mixed_main(void *p)
{
	struct mixed_arg *a = p;
	size_t len = a->id == 0 ? FILL_LEN : 64;
	uint8_t *buf = malloc(len);
	uint64_t lsn;

	ck_assert_ptr_nonnull(buf);
	for (int r = 0; r < (a->id == 0 ? 40 : 2000); r++) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 7 + 3);
		buf[0] = (uint8_t)a->id;
		ck_assert_int_eq(wal_append(a->w, buf, len, &lsn), 0);
		if (r % 7 == 0)
			ck_assert_int_eq(wal_sync(a->w, lsn), 0);
	}
	free(buf);
	return NULL;
}

struct mixed_seen {
	int n[3];
	uint64_t last;
	bool ok;
};

static int mixed_collect(void *arg, uint64_t lsn, const uint8_t *p,
			 size_t len)
{
	struct mixed_seen *s = arg;

	if (lsn == 1)
		return 0; /* the snapshot */
	s->ok = s->ok && lsn == s->last + 1 && len && p[0] < 3 &&
		len == (p[0] == 0 ? FILL_LEN : 64);
	for (size_t i = 1; s->ok && i < len; i++)
		s->ok = p[i] == (uint8_t)(i * 7 + 3);
	if (s->ok)
		s->n[p[0]]++;
	s->last = lsn;
	return 0;
}

START_TEST(test_wal_large_frames_copied_apart_replay_whole_in_order)
{
	static const struct wal_options o = { .commit_ms = 2,
					      .buffer_bytes = 256 << 10 };
	char *dir = test_tmpdir();
	struct mixed_arg a[3];
	struct mixed_seen seen = { .last = 1, .ok = true };
	pthread_t th[3];
	struct wal *w;

	ck_assert_int_eq(wal_create(dir, &o, empty_snap, NULL, &w), 0);
	for (int i = 0; i < 3; i++) {
		a[i] = (struct mixed_arg){ w, i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, mixed_main, &a[i]),
				 0);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_int_eq(wal_close(w), 0);
	ck_assert_int_eq(wal_open(dir, &no_committer, mixed_collect, &seen,
				  &w),
			 0);
	ck_assert(seen.ok);
	ck_assert_int_eq(seen.n[0], 40);
	ck_assert_int_eq(seen.n[1], 2000);
	ck_assert_int_eq(seen.n[2], 2000);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

/* The push back (wal_throttle) falls on whoever brings the bytes: with a
 * flush held up (io_busy, as while the disk is slow) and 9 x buffer_bytes
 * pending, a change that logged a few bytes goes on at once (its limit is
 * 16 x), one that logged a large frame waits for the disk (8 x) and,
 * once the flush is let go, writes the pending frames out itself. */
#define THR_BUF ((size_t)64 << 10)

struct thr_arg {
	struct wal *w;
	bool done;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;

	wal_throttle(a->w, THR_BUF);
	__atomic_store_n(&a->done, true, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_wal_throttle_holds_back_the_writer_that_brought_the_bytes)
{
	static const struct wal_options o = { .commit_ms = 600000,
					      .buffer_bytes = THR_BUF,
					      .throttle_apart = true };
	char *dir = test_tmpdir();
	struct thr_arg a = { 0 };
	struct seen s = { 0 };
	char *buf = malloc(THR_BUF);
	pthread_t th;
	uint64_t lsn;
	size_t pend;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(wal_create(dir, &o, empty_snap, NULL, &a.w), 0);
	pthread_mutex_lock(&a.w->mu);
	while (a.w->io_busy)
		pthread_cond_wait(&a.w->cv, &a.w->mu);
	a.w->io_busy = true; /* a flush that the disk holds up */
	pthread_mutex_unlock(&a.w->mu);
	for (int i = 0; i < 9; i++) {
		memset(buf, 'a' + i, THR_BUF);
		ck_assert_int_eq(wal_append(a.w, buf, THR_BUF - 32, &lsn), 0);
	}
	pthread_mutex_lock(&a.w->mu);
	pend = a.w->pend.len;
	pthread_mutex_unlock(&a.w->mu);
	ck_assert_uint_ge(pend, 9 * THR_BUF - 9 * 32);
	/* a small change: past 8 x but under 16 x, no wait */
	wal_throttle(a.w, 100);
	ck_assert_int_eq(pthread_create(&th, NULL, thr_main, &a), 0);
	/* a large change waits for the flush under way (it cannot end while
	 * io_busy is held here) */
	ck_assert(!__atomic_load_n(&a.done, __ATOMIC_ACQUIRE));
	pthread_mutex_lock(&a.w->mu);
	a.w->io_busy = false;
	pthread_cond_broadcast(&a.w->cv);
	pthread_mutex_unlock(&a.w->mu);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert(a.done);
	pthread_mutex_lock(&a.w->mu);
	pend = a.w->pend.len;
	pthread_mutex_unlock(&a.w->mu);
	ck_assert_uint_lt(pend, 8 * THR_BUF);
	ck_assert_int_eq(wal_close(a.w), 0);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &a.w), 0);
	ck_assert_int_eq(s.n, 10);
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(s.first[i + 1], 'a' + i);
	ck_assert_int_eq(wal_close(a.w), 0);
	free(buf);
	test_rmdir(dir);
}
END_TEST

/* A span whose CRC is wrong (a caller's bug): the frame it makes is
 * damaged, and replay, which reads and checks every byte, cuts the tail
 * there.  A debug build checks each span's CRC at the append and aborts
 * (util/debug.h): registered to expect SIGABRT there. */
START_TEST(test_wal_span_with_a_wrong_crc_is_a_damaged_frame)
{
	char *dir = test_tmpdir();
	struct seen s = { 0 };
	struct wal_span sp;
	struct wal *w;
	uint8_t buf[100];
	uint64_t lsn;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_append(w, buf, sizeof(buf), &lsn), 0);
	sp = (struct wal_span){ 10, 50, crc32c(buf + 10, 50) ^ 1 };
	ck_assert_int_eq(wal_append_spans(w, buf, 100, &sp, 1, &lsn), 0);
	ck_assert_int_eq(wal_close(w), 0);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 2); /* the snapshot and the good frame */
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_replays_every_frame_in_order)
{
	char *dir = test_tmpdir();
	struct seen s = { 0 };
	struct wal *w;

	build_log(dir, 50, false);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 51);
	for (int i = 0; i < 51; i++)
		ck_assert_uint_eq(s.lsn[i], (uint64_t)i + 1);
	ck_assert_uint_eq(s.len[50], 50);
	ck_assert_uint_eq(wal_next_lsn(w), 52);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Offsets where each frame starts, from the log's own layout. */
static int frame_offsets(int nframes, off_t *offs)
{
	off_t at = 64;
	offs[0] = at;
	at += 32 + 1; /* snapshot frame */
	for (int i = 0; i < nframes; i++) {
		offs[i + 1] = at;
		at += 32 + (i % 200) + 1;
	}
	offs[nframes + 1] = at;
	return nframes + 2;
}

START_TEST(test_wal_recover_accepts_exactly_the_prefix_at_every_cut)
{
	char *dir = test_tmpdir(), *work = test_tmpdir();
	char path[512], wpath[512];
	off_t offs[MAXF + 2];
	const int nf = 12;

	build_log(dir, nf, false);
	snprintf(path, sizeof(path), "%s/wal", dir);
	snprintf(wpath, sizeof(wpath), "%s/wal", work);
	frame_offsets(nf, offs);
	ck_assert_int_eq(file_size(path), offs[nf + 1]);
	/* Cut anywhere inside the last four frames. */
	for (off_t cut = offs[nf - 3]; cut <= offs[nf + 1]; cut++) {
		struct seen s = { 0 };
		struct wal *w;
		int whole = 0;

		test_copy_file(path, wpath, cut);
		ck_assert_int_eq(wal_open(work, &no_committer, collect, &s, &w),
				 0);
		for (int i = 0; i <= nf + 1; i++)
			if (offs[i] <= cut)
				whole = i;
		/* frames [0, whole) end at or before the cut */
		ck_assert_int_eq(s.n, whole);
		ck_assert_int_eq(file_size(wpath), offs[whole]);
		/* and the log takes appends after the valid prefix */
		ck_assert_int_eq(wal_append(w, "z", 1, NULL), 0);
		ck_assert_int_eq(wal_close(w), 0);
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(wal_open(work, &no_committer, collect, &s, &w),
				 0);
		ck_assert_int_eq(s.n, whole + 1);
		ck_assert_int_eq(s.first[whole], 'z');
		wal_close(w);
		test_clear_dir(work);
	}
	test_rmdir(dir);
	test_rmdir(work);
}
END_TEST

START_TEST(test_wal_bit_flip_in_unsynced_tail_is_dropped_in_synced_body_refused)
{
	char *dir = test_tmpdir(), *work = test_tmpdir();
	char path[512], wpath[512];
	off_t offs[MAXF + 2];
	const int nf = 6;

	/* Every frame synced: damage before the last frame is corruption. */
	build_log(dir, nf, true);
	snprintf(path, sizeof(path), "%s/wal", dir);
	snprintf(wpath, sizeof(wpath), "%s/wal", work);
	frame_offsets(nf, offs);
	for (off_t bit = offs[nf - 1] * 8; bit < offs[nf + 1] * 8; bit++) {
		struct seen s = { 0 };
		struct wal *w = NULL;
		int rc, damaged;

		test_copy_file(path, wpath, -1);
		test_flip_bit(wpath, bit);
		rc = wal_open(work, &no_committer, collect, &s, &w);
		damaged = bit / 8 >= offs[nf] ? nf : nf - 1;
		if (damaged == nf) {
			/* last frame: a torn tail, dropped */
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(s.n, nf);
			wal_close(w);
		} else {
			/* a synced frame followed by a later one: refused */
			ck_assert_int_eq(rc, -EBADMSG);
			ck_assert_int_eq(s.n, nf - 1);
		}
		test_clear_dir(work);
	}
	test_rmdir(dir);
	test_rmdir(work);
}
END_TEST

START_TEST(test_wal_bit_flip_in_one_unsynced_batch_drops_the_rest)
{
	char *dir = test_tmpdir(), *work = test_tmpdir();
	char path[512], wpath[512];
	off_t offs[MAXF + 2];
	const int nf = 6;

	/* Nothing synced after the snapshot: any damage is a torn tail. */
	build_log(dir, nf, false);
	snprintf(path, sizeof(path), "%s/wal", dir);
	snprintf(wpath, sizeof(wpath), "%s/wal", work);
	frame_offsets(nf, offs);
	for (off_t bit = offs[1] * 8; bit < offs[nf + 1] * 8; bit += 3) {
		struct seen s = { 0 };
		struct wal *w = NULL;
		int k = 0;

		for (int i = 0; i <= nf; i++)
			if (offs[i] * 8 <= bit)
				k = i;
		test_copy_file(path, wpath, -1);
		test_flip_bit(wpath, bit);
		ck_assert_int_eq(wal_open(work, &no_committer, collect, &s, &w),
				 0);
		ck_assert_int_eq(s.n, k);
		wal_close(w);
		test_clear_dir(work);
	}
	test_rmdir(dir);
	test_rmdir(work);
}
END_TEST

START_TEST(test_wal_damaged_header_is_refused)
{
	char *dir = test_tmpdir();
	char path[512];
	struct seen s = { 0 };
	struct wal *w;

	build_log(dir, 3, true);
	snprintf(path, sizeof(path), "%s/wal", dir);
	test_flip_bit(path, 17 * 8);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w),
			 -EBADMSG);
	test_rmdir(dir);
}
END_TEST

static int big_snap(void *arg, struct wal_snap *sn);

START_TEST(test_wal_damage_in_sealed_snapshot_is_refused_not_truncated)
{
	char *dir = test_tmpdir();
	char path[512];
	struct seen s = { 0 };
	struct wal *w;
	int n = 3;
	off_t before;

	/* A log that holds nothing but its snapshot: damage in the last
	 * snapshot frame is not a torn tail. */
	ck_assert_int_eq(wal_create(dir, &no_committer, big_snap, &n, &w), 0);
	ck_assert_int_eq(wal_close(w), 0);
	snprintf(path, sizeof(path), "%s/wal", dir);
	before = file_size(path);
	test_flip_bit(path, (before - 10) * 8);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w),
			 -EBADMSG);
	ck_assert_int_eq(file_size(path), before);
	test_rmdir(dir);
}
END_TEST

struct gc_arg {
	struct wal *w;
	int n;
};

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;

	for (int i = 0; i < a->n; i++) {
		uint64_t lsn;
		ck_assert_int_eq(wal_append(a->w, "0123456789", 10, &lsn), 0);
		ck_assert_int_eq(wal_sync(a->w, lsn), 0);
		ck_assert_uint_ge(wal_durable_lsn(a->w), lsn);
	}
	return NULL;
}

START_TEST(test_wal_group_commit_shares_flushes)
{
	char *dir = test_tmpdir();
	struct wal *w;
	pthread_t t[8];
	struct gc_arg a;

	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	a.w = w;
	a.n = 100;
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, gc_thread, &a);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(wal_durable_lsn(w), 801);
	ck_assert_uint_lt(wal_flushes(w), 800);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_committer_makes_changes_durable_without_sync)
{
	char *dir = test_tmpdir();
	struct wal_options o = { .commit_ms = 5 };
	struct wal *w;
	uint64_t lsn;

	ck_assert_int_eq(wal_create(dir, &o, empty_snap, NULL, &w), 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	/* Nobody calls wal_sync: the committer must get there. */
	while (wal_durable_lsn(w) < lsn)
		test_wait_ms(1);
	ck_assert_uint_ge(wal_flushes(w), 1);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

static int big_snap(void *arg, struct wal_snap *sn)
{
	int *n = arg;
	char buf[1000];

	memset(buf, 's', sizeof(buf));
	for (int i = 0; i < *n; i++)
		if (wal_snap_frame(sn, buf, sizeof(buf)))
			return -EIO;
	return 0;
}

START_TEST(test_wal_cutover_starts_new_log_with_snapshot)
{
	char *dir = test_tmpdir();
	struct wal *w;
	struct seen s = { 0 };
	int n = 3000;

	build_log(dir, 10, false);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(wal_cutover(w, big_snap, &n), 0);
	ck_assert_int_eq(wal_append(w, "after", 5, NULL), 0);
	ck_assert_int_eq(wal_close(w), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, n + 1);
	ck_assert_uint_eq(s.lsn[0], 12);
	ck_assert_int_eq(s.first[0], 's');
	ck_assert_int_eq(s.first[n], 'a');
	wal_close(w);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_appends_during_cutover_follow_the_snapshot)
{
	char *dir = test_tmpdir();
	struct wal *w;
	struct seen s = { 0 };
	uint64_t lsn[3];
	int n = 5;

	build_log(dir, 10, false);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(wal_cutover_begin(w, big_snap, &n), 0);
	/* accepted at once, numbered after the snapshot's frames 12..16,
	 * and not durable before the new file is in place */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(wal_append(w, i == 0 ? "x" : "y", 1, &lsn[i]),
				 0);
		ck_assert_uint_eq(lsn[i], 17 + (uint64_t)i);
	}
	ck_assert_uint_lt(wal_durable_lsn(w), 12);
	ck_assert_int_eq(wal_cutover_finish(w, 0), 0);
	ck_assert_uint_eq(wal_durable_lsn(w), 16);
	ck_assert_int_eq(wal_sync(w, lsn[2]), 0);
	ck_assert_uint_eq(wal_durable_lsn(w), 19);
	ck_assert_int_eq(wal_close(w), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, n + 3);
	for (int i = 0; i < n + 3; i++)
		ck_assert_uint_eq(s.lsn[i], 12 + (uint64_t)i);
	ck_assert_int_eq(s.first[0], 's');
	ck_assert_int_eq(s.first[n], 'x');
	ck_assert_int_eq(s.first[n + 2], 'y');
	wal_close(w);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_abandoned_cutover_fails_and_keeps_the_old_log)
{
	char *dir = test_tmpdir();
	struct wal *w;
	struct seen s = { 0 };
	uint64_t lsn;
	int n = 5;

	build_log(dir, 10, true);
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(wal_cutover_begin(w, big_snap, &n), 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	/* the caller's msync failed: the new file must not take over */
	ck_assert_int_eq(wal_cutover_finish(w, -EIO), -EIO);
	ck_assert_int_eq(wal_error(w), -EIO);
	ck_assert_int_eq(wal_sync(w, lsn), -EIO);
	ck_assert_int_eq(wal_append(w, "y", 1, NULL), -EIO);
	ck_assert_int_eq(wal_close(w), -EIO);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 11); /* the old log: snapshot and 10 frames */
	ck_assert_uint_eq(s.lsn[10], 11);
	ck_assert_int_eq(s.first[0], 'S');
	wal_close(w);
	test_rmdir(dir);
}
END_TEST

/* ---- cut-over from a forked writer ---- */

/* What a forked process inherits stays reachable from here: valgrind
 * checks a child's leaks when it exits (and fails it on one), and the
 * parent's locals are no roots in the child. */
static void *volatile fork_keep[3]; /* volatile: never read */

/* In a forked child: write the snapshot (big_snap of *n frames) and end
 * with the result (0 ok, 7 -ERANGE, 1 other). */
static void fork_child(struct wal_cut *c, int n)
{
	int rc = wal_cutover_child(c, big_snap, &n);

	_exit(rc == 0 ? 0 : rc == -ERANGE ? 7 : 1);
}

static int fork_wait(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Frame i appended during a forked cut-over: its length and first byte
 * (two of them pass a copy round's 1 MiB chunk). */
static size_t fork_len(int i)
{
	return i == 100 || i == 200 ? (3u << 20) + (size_t)i
				    : (size_t)(i % 300) + 1;
}

START_TEST(test_wal_fork_cutover_keeps_the_frames_appended_meanwhile)
{
	char *dir = test_tmpdir();
	const struct wal_options o = { .commit_ms = 2, .buffer_bytes = 4096 };
	static struct seen s;
	struct wal_cut *c;
	struct wal *w;
	uint64_t lsn = 0, bytes = 0;
	char *buf = malloc(4u << 20);
	pid_t pid;

	ck_assert_ptr_nonnull(buf);
	build_log(dir, 10, false); /* frames 1..11 */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &o, collect, &s, &w), 0);
	for (int i = 0; i < 5; i++) /* 12..16 */
		ck_assert_int_eq(wal_append(w, "p", 1, NULL), 0);
	ck_assert_int_eq(wal_cutover_fork_begin(w, &c), 0);
	fork_keep[0] = w;
	fork_keep[1] = c;
	fork_keep[2] = buf;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		fork_child(c, 5);
	/* appends go on into the current file meanwhile: 17..316 */
	for (int i = 0; i < 300; i++) {
		memset(buf, 'a' + i % 26, fork_len(i));
		ck_assert_int_eq(wal_append(w, buf, fork_len(i), &lsn), 0);
		ck_assert_uint_eq(lsn, 17 + (uint64_t)i);
		if (i % 50 == 0)
			ck_assert_int_eq(wal_sync(w, lsn), 0);
	}
	ck_assert_int_eq(fork_wait(pid), 0);
	ck_assert_int_eq(wal_cutover_fork_finish(w, c, 0, &bytes), 0);
	ck_assert_uint_eq(bytes, 5 * (32 + 1000));
	ck_assert_uint_ge(wal_durable_lsn(w), 316);
	ck_assert_int_eq(wal_append(w, "z", 1, &lsn), 0);
	ck_assert_uint_eq(lsn, 317);
	ck_assert_int_eq(wal_close(w), 0);

	/* the new log: the snapshot as of 16 (frames numbered 12..16), then
	 * every frame from 17 on, whole */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 5 + 300 + 1);
	for (int i = 0; i < s.n; i++)
		ck_assert_uint_eq(s.lsn[i], 12 + (uint64_t)i);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(s.first[i], 's');
	for (int i = 0; i < 300; i++) {
		ck_assert_uint_eq(s.len[5 + i], fork_len(i));
		ck_assert_int_eq(s.first[5 + i], 'a' + i % 26);
	}
	ck_assert_int_eq(s.first[305], 'z');
	wal_close(w);
	free(buf);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_fork_cutover_with_more_snapshot_than_log_changes_nothing)
{
	char *dir = test_tmpdir();
	struct seen s = { 0 };
	struct wal_cut *c;
	struct wal *w;
	pid_t pid;
	int rc;

	build_log(dir, 2, true); /* frames 1..3: 5 frames cannot end at 3 */
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(wal_cutover_fork_begin(w, &c), 0);
	fork_keep[0] = w;
	fork_keep[1] = c;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		fork_child(c, 5);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL), 0);
	ck_assert_int_eq(fork_wait(pid), 7);
	rc = wal_cutover_fork_finish(w, c, -ERANGE, NULL);
	ck_assert_int_eq(rc, -ERANGE);
	ck_assert_int_eq(wal_error(w), 0);
	ck_assert_int_eq(wal_append(w, "y", 1, NULL), 0);
	ck_assert_int_eq(wal_close(w), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w), 0);
	ck_assert_int_eq(s.n, 5);
	ck_assert_int_eq(s.first[0], 'S');
	ck_assert_int_eq(s.first[3], 'x');
	ck_assert_int_eq(s.first[4], 'y');
	wal_close(w);
	test_rmdir(dir);
}
END_TEST

/* A process that dies after the child wrote its snapshot and before the
 * switch: the old log, with every frame synced meanwhile, is what opens
 * (the new file is left as wal.tmp and ignored). */
START_TEST(test_wal_crash_during_fork_cutover_keeps_the_old_log)
{
	char *dir = test_tmpdir();
	struct seen s = { 0 };
	pid_t pid;

	build_log(dir, 10, true);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct wal_cut *c;
		struct wal *w;
		pid_t kid;
		int st;

		if (wal_open(dir, &no_committer, collect, &s, &w) ||
		    wal_cutover_fork_begin(w, &c))
			_exit(2);
		fork_keep[0] = w;
		fork_keep[1] = c;
		kid = fork();
		if (kid == 0)
			fork_child(c, 3);
		for (int i = 0; i < 20; i++)
			if (wal_append(w, "m", 1, NULL))
				_exit(3);
		if (wal_sync(w, 0) || waitpid(kid, &st, 0) != kid ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			_exit(4);
		_exit(0); /* no finish: the crash */
	}
	ck_assert_int_eq(fork_wait(pid), 0);
	{
		char *tmp = NULL;
		struct wal *w;

		ck_assert_int_gt(asprintf(&tmp, "%s/wal.tmp", dir), 0);
		ck_assert_int_eq(access(tmp, F_OK), 0);
		free(tmp);
		ck_assert_int_eq(wal_open(dir, &no_committer, collect, &s, &w),
				 0);
		ck_assert_int_eq(s.n, 11 + 20);
		ck_assert_int_eq(s.first[0], 'S');
		ck_assert_int_eq(s.first[30], 'm');
		ck_assert_uint_eq(s.lsn[30], 31);
		wal_close(w);
	}
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_failed_fdatasync_is_sticky)
{
	char *dir = test_tmpdir();
	struct wal *w;
	uint64_t lsn;

	io_fault_install();
	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	io_fault_arm(IO_OP_FDATASYNC, 1, EIO, IO_FAULT_ONCE);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	ck_assert_int_eq(wal_sync(w, lsn), -EIO);
	/* The next fdatasync would succeed; the log must not use it. */
	ck_assert_int_eq(wal_sync(w, lsn), -EIO);
	ck_assert_int_eq(wal_append(w, "y", 1, &lsn), -EIO);
	ck_assert_int_eq(wal_error(w), -EIO);
	ck_assert_int_eq(wal_close(w), -EIO);
	io_fault_uninstall();
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_failed_cutover_rename_is_sticky)
{
	char *dir = test_tmpdir();
	struct wal *w;
	int n = 1;

	io_fault_install();
	ck_assert_int_eq(wal_create(dir, &no_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL), 0);
	io_fault_arm(IO_OP_RENAME, 1, EIO, IO_FAULT_ONCE);
	ck_assert_int_eq(wal_cutover(w, big_snap, &n), -EIO);
	ck_assert_int_eq(wal_append(w, "y", 1, NULL), -EIO);
	wal_close(w);
	io_fault_uninstall();
	test_rmdir(dir);
}
END_TEST

/* ---- durability notification (wal_notify) ---- */

struct note {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n; /* callbacks seen */
	int order[256]; /* tag of each, in call order */
	int rc[256];
	pthread_t thread[256];
};

struct note_arg {
	struct note *note;
	int tag;
};

static void note_init(struct note *nt)
{
	memset(nt, 0, sizeof(*nt));
	pthread_mutex_init(&nt->mu, NULL);
	pthread_cond_init(&nt->cv, NULL);
}

static void note_release(struct note *nt)
{
	pthread_cond_destroy(&nt->cv);
	pthread_mutex_destroy(&nt->mu);
}

static void note_fn(void *arg, int rc)
{
	struct note_arg *a = arg;
	struct note *nt = a->note;

	pthread_mutex_lock(&nt->mu);
	ck_assert_int_lt(nt->n, 256);
	nt->order[nt->n] = a->tag;
	nt->rc[nt->n] = rc;
	nt->thread[nt->n] = pthread_self();
	nt->n++;
	pthread_cond_broadcast(&nt->cv);
	pthread_mutex_unlock(&nt->mu);
}

/* Callbacks exist with a committer; this one never flushes by itself. */
static const struct wal_options idle_committer = { .commit_ms = 600000 };

static void note_wait(struct note *nt, int n)
{
	pthread_mutex_lock(&nt->mu);
	while (nt->n < n)
		pthread_cond_wait(&nt->cv, &nt->mu);
	pthread_mutex_unlock(&nt->mu);
}

START_TEST(test_wal_notify_of_durable_lsn_fires_at_once)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a[2];
	struct wal *w;
	uint64_t lsn;

	note_init(&nt);
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	ck_assert_int_eq(wal_sync(w, lsn), 0);
	a[0] = (struct note_arg){ &nt, 0 };
	a[1] = (struct note_arg){ &nt, 1 };
	ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[0]), 0);
	ck_assert_int_eq(nt.n, 1); /* before wal_notify returned */
	ck_assert_int_eq(nt.rc[0], 0);
	ck_assert(pthread_equal(nt.thread[0], pthread_self()));
	ck_assert_int_eq(wal_notify(w, 1, note_fn, &a[1]), 0); /* older */
	ck_assert_int_eq(nt.n, 2);
	ck_assert_uint_eq(wal_flushes(w), 1);
	ck_assert_int_eq(wal_close(w), 0);
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_notify_alone_flushes_at_once_in_its_thread)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a = { &nt, 7 };
	struct wal *w;
	uint64_t lsn;

	note_init(&nt);
	/* the committer would not flush for minutes: no waiting on it */
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
		ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a), 0);
		ck_assert_int_eq(nt.n, i + 1);
		ck_assert_int_eq(nt.rc[i], 0);
		ck_assert(pthread_equal(nt.thread[i], pthread_self()));
		ck_assert_uint_ge(wal_durable_lsn(w), lsn);
		ck_assert_uint_eq(wal_flushes(w), (uint64_t)i + 1);
	}
	ck_assert_int_eq(wal_close(w), 0);
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

/* While a cut-over holds the log (between begin and finish), frames and
 * registrations queue; after the finish one flush satisfies them all. */
START_TEST(test_wal_notify_waiters_share_one_flush_in_lsn_order)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a[100];
	uint64_t lsn[10], flushes;
	struct wal *w;
	int n = 1;

	note_init(&nt);
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_cutover_begin(w, big_snap, &n), 0);
	flushes = wal_flushes(w);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(wal_append(w, "x", 1, &lsn[i]), 0);
	/* registered newest first, two per frame: called in LSN order,
	 * then in registration order */
	for (int i = 0; i < 100; i++) {
		a[i] = (struct note_arg){ &nt, i };
		ck_assert_int_eq(wal_notify(w, lsn[9 - i % 10], note_fn, &a[i]),
				 0);
	}
	ck_assert_int_eq(nt.n, 0);
	ck_assert_int_eq(wal_cutover_finish(w, 0), 0);
	note_wait(&nt, 100); /* the committer flushes and calls them */
	ck_assert_uint_eq(wal_flushes(w), flushes + 1);
	for (int i = 0; i < 100; i++) {
		int f = i / 10, k = i % 10; /* frame f, k-th registration */

		ck_assert_int_eq(nt.rc[i], 0);
		ck_assert_int_eq(nt.order[i], (9 - f) + 10 * k);
	}
	ck_assert_uint_eq(wal_durable_lsn(w), lsn[9]);
	ck_assert_int_eq(wal_close(w), 0);
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

struct nt_thread {
	struct wal *w;
	int n;
	int failures;
};

static void sem_fn(void *arg, int rc)
{
	struct note_arg *a = arg;

	pthread_mutex_lock(&a->note->mu);
	a->note->rc[0] |= rc;
	a->tag = 1;
	pthread_cond_broadcast(&a->note->cv);
	pthread_mutex_unlock(&a->note->mu);
}

/* Each thread appends and waits for its callback, n times. */
static void *nt_main(void *p)
{
	struct nt_thread *t = p;
	struct note nt;
	struct note_arg a = { &nt, 0 };

	note_init(&nt);
	for (int i = 0; i < t->n; i++) {
		uint64_t lsn;

		ck_assert_int_eq(wal_append(t->w, "0123456789", 10, &lsn), 0);
		a.tag = 0;
		ck_assert_int_eq(wal_notify(t->w, lsn, sem_fn, &a), 0);
		pthread_mutex_lock(&nt.mu);
		while (!a.tag)
			pthread_cond_wait(&nt.cv, &nt.mu);
		pthread_mutex_unlock(&nt.mu);
		ck_assert_uint_ge(wal_durable_lsn(t->w), lsn);
	}
	t->failures = nt.rc[0];
	note_release(&nt);
	return NULL;
}

static void notify_threads_share(const struct wal_options *o)
{
	char *dir = test_tmpdir();
	struct nt_thread t[8];
	pthread_t th[8];
	struct wal *w;

	ck_assert_int_eq(wal_create(dir, o, empty_snap, NULL, &w), 0);
	for (int i = 0; i < 8; i++) {
		t[i] = (struct nt_thread){ w, 100, 0 };
		pthread_create(&th[i], NULL, nt_main, &t[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(t[i].failures, 0);
	}
	ck_assert_uint_eq(wal_durable_lsn(w), 801);
	ck_assert_uint_lt(wal_flushes(w), 800);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}

START_TEST(test_wal_notify_threads_share_flushes_with_committer)
{
	struct wal_options o = { .commit_ms = 1000 };

	notify_threads_share(&o);
}
END_TEST

/* Without a committer wal_notify waits like wal_sync, then calls. */
START_TEST(test_wal_notify_threads_share_flushes_without_committer)
{
	notify_threads_share(&no_committer);
}
END_TEST

/* Blocking and callback waiters on one list: one flush serves both, and
 * the callbacks are called by the committer. */
struct sync_arg {
	struct wal *w;
	uint64_t lsn;
	int rc;
};

static void *sync_main(void *p)
{
	struct sync_arg *a = p;

	a->rc = wal_sync(a->w, a->lsn);
	return NULL;
}

START_TEST(test_wal_notify_and_sync_waiters_are_served_together)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a[4];
	struct sync_arg sa;
	pthread_t th;
	uint64_t lsn;
	struct wal *w;
	int n = 1;

	note_init(&nt);
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_cutover_begin(w, big_snap, &n), 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	sa = (struct sync_arg){ w, lsn, 1 };
	pthread_create(&th, NULL, sync_main, &sa);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct note_arg){ &nt, i };
		ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[i]), 0);
	}
	test_wait_ms(20); /* let the thread wait behind the cut-over */
	ck_assert_int_eq(wal_cutover_finish(w, 0), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(sa.rc, 0);
	note_wait(&nt, 4);
	/* never in the thread of wal_sync (or of the cut-over): its caller
	 * may hold locks a callback takes */
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(nt.order[i], i);
		ck_assert_int_eq(nt.rc[i], 0);
		ck_assert(!pthread_equal(nt.thread[i], th));
		ck_assert(!pthread_equal(nt.thread[i], pthread_self()));
	}
	ck_assert_int_eq(wal_close(w), 0);
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_notify_failure_reaches_every_waiter_and_later_ones)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a[12];
	uint64_t lsn, old;
	struct wal *w;
	int n = 1;

	note_init(&nt);
	for (int i = 0; i < 12; i++)
		a[i] = (struct note_arg){ &nt, i };
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &old), 0);
	ck_assert_int_eq(wal_sync(w, old), 0);
	ck_assert_int_eq(wal_cutover_begin(w, big_snap, &n), 0);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
		ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[i]), 0);
	}
	/* the caller's msync failed: every waiter gets its error */
	ck_assert_int_eq(wal_cutover_finish(w, -EIO), -EIO);
	note_wait(&nt, 10);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(nt.order[i], i);
		ck_assert_int_eq(nt.rc[i], -EIO);
	}
	/* later registrations too, even of a frame durable before */
	ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[10]), 0);
	ck_assert_int_eq(wal_notify(w, old, note_fn, &a[11]), 0);
	/* at once, or by the committer if it is still calling the others */
	note_wait(&nt, 12);
	ck_assert_int_eq(nt.rc[10], -EIO);
	ck_assert_int_eq(nt.rc[11], -EIO);
	ck_assert_int_eq(wal_close(w), -EIO);
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_wal_notify_failed_fdatasync_is_sticky)
{
	char *dir = test_tmpdir();
	struct note nt;
	struct note_arg a[2];
	struct wal *w;
	uint64_t lsn;

	note_init(&nt);
	a[0] = (struct note_arg){ &nt, 0 };
	a[1] = (struct note_arg){ &nt, 1 };
	io_fault_install();
	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	io_fault_arm(IO_OP_FDATASYNC, 1, EIO, IO_FAULT_ONCE);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[0]), 0);
	ck_assert_int_eq(nt.n, 1);
	ck_assert_int_eq(nt.rc[0], -EIO);
	/* the next fdatasync would succeed; the log must not use it */
	ck_assert_int_eq(wal_notify(w, lsn, note_fn, &a[1]), 0);
	ck_assert_int_eq(nt.rc[1], -EIO);
	ck_assert_int_eq(wal_close(w), -EIO);
	io_fault_uninstall();
	note_release(&nt);
	test_rmdir(dir);
}
END_TEST

/* A callback may register again: the log's lock is not held. */
struct chain {
	struct wal *w;
	uint64_t next_lsn;
	int calls;
	int rc;
};

static void chain_fn(void *arg, int rc)
{
	struct chain *c = arg;

	c->calls++;
	c->rc |= rc;
	if (c->calls == 1)
		ck_assert_int_eq(wal_notify(c->w, c->next_lsn, chain_fn, c), 0);
}

START_TEST(test_wal_notify_callback_may_register_again)
{
	char *dir = test_tmpdir();
	struct chain c = { 0 };
	uint64_t lsn;
	struct wal *w;

	ck_assert_int_eq(wal_create(dir, &idle_committer, empty_snap, NULL, &w),
			 0);
	ck_assert_int_eq(wal_append(w, "x", 1, &lsn), 0);
	ck_assert_int_eq(wal_append(w, "y", 1, &c.next_lsn), 0);
	c.w = w;
	ck_assert_int_eq(wal_notify(w, lsn, chain_fn, &c), 0);
	/* the first flush covered both frames: the second registration
	 * is due at once and delivered by the same loop */
	ck_assert_int_eq(c.calls, 2);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_int_eq(wal_close(w), 0);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	/* expected damage and faults log warnings by the thousand */
	log_set_level(LOG_LVL_ERROR);
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_wal_records_round_trip);
	tcase_add_test(tc, test_wal_encoder_refuses_overlong_and_empty_names);
	tcase_add_test(
		tc, test_wal_record_decoder_refuses_every_truncation_and_flip);
	tcase_add_test(tc, test_wal_replays_every_frame_in_order);
	tcase_add_test(tc, test_wal_crc_skip_equals_reading_the_bytes);
	tcase_add_test(tc, test_wal_append_spans_replays_and_is_checked_in_full);
	tcase_add_test(tc,
		       test_wal_flush_waits_for_the_fill_of_a_reserved_frame);
	tcase_add_test(tc,
		       test_wal_large_frames_copied_apart_replay_whole_in_order);
	tcase_add_test(
		tc, test_wal_throttle_holds_back_the_writer_that_brought_the_bytes);
#ifdef CARAVAN_DEBUG
	tcase_add_test_raise_signal(
		tc, test_wal_span_with_a_wrong_crc_is_a_damaged_frame, SIGABRT);
#else
	tcase_add_test(tc, test_wal_span_with_a_wrong_crc_is_a_damaged_frame);
#endif
	tcase_add_test(
		tc, test_wal_recover_accepts_exactly_the_prefix_at_every_cut);
	tcase_add_test(
		tc,
		test_wal_bit_flip_in_unsynced_tail_is_dropped_in_synced_body_refused);
	tcase_add_test(tc,
		       test_wal_bit_flip_in_one_unsynced_batch_drops_the_rest);
	tcase_add_test(tc, test_wal_damaged_header_is_refused);
	tcase_add_test(
		tc,
		test_wal_damage_in_sealed_snapshot_is_refused_not_truncated);
	tcase_add_test(tc, test_wal_group_commit_shares_flushes);
	tcase_add_test(tc,
		       test_wal_committer_makes_changes_durable_without_sync);
	tcase_add_test(tc, test_wal_cutover_starts_new_log_with_snapshot);
	tcase_add_test(tc, test_wal_appends_during_cutover_follow_the_snapshot);
	tcase_add_test(tc,
		       test_wal_abandoned_cutover_fails_and_keeps_the_old_log);
	tcase_add_test(tc, test_wal_failed_fdatasync_is_sticky);
	tcase_add_test(tc, test_wal_failed_cutover_rename_is_sticky);
	tcase_add_test(tc,
		       test_wal_fork_cutover_keeps_the_frames_appended_meanwhile);
	tcase_add_test(
		tc,
		test_wal_fork_cutover_with_more_snapshot_than_log_changes_nothing);
	tcase_add_test(tc, test_wal_crash_during_fork_cutover_keeps_the_old_log);
	tcase_add_test(tc, test_wal_notify_of_durable_lsn_fires_at_once);
	tcase_add_test(tc, test_wal_notify_alone_flushes_at_once_in_its_thread);
	tcase_add_test(tc,
		       test_wal_notify_waiters_share_one_flush_in_lsn_order);
	tcase_add_test(tc,
		       test_wal_notify_threads_share_flushes_with_committer);
	tcase_add_test(tc,
		       test_wal_notify_threads_share_flushes_without_committer);
	tcase_add_test(tc,
		       test_wal_notify_and_sync_waiters_are_served_together);
	tcase_add_test(
		tc,
		test_wal_notify_failure_reaches_every_waiter_and_later_ones);
	tcase_add_test(tc, test_wal_notify_failed_fdatasync_is_sticky);
	tcase_add_test(tc, test_wal_notify_callback_may_register_again);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
