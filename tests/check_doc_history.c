/*
 * check_doc_history.c - document history (doc_history, doc_read_version;
 * compaction and replacement keep what history=N needs).
 *
 * The oracle: a seeded random workload (merge patches, replacements,
 * deletes and new documents, cut-overs) over a few documents with a small
 * compact_entries, so compactions come often.  After every change the
 * text doc_read gives is recorded for each seq the change made (a patch
 * followed by its compaction makes two seqs with one text).  Then, for
 * every document: the readable versions are exactly its last seq and the
 * history before it (as far back as the document goes), each reads back
 * as the recorded text, and the store's history_bytes is the sum, over
 * the documents, of the bytes of the entries held before the newest whole
 * document.  All of it again after a clean reopen, and after the process
 * is killed (SIGKILL) and the store recovered, against the record the
 * child wrote once each change was durable.
 *
 * Times: the test's clock (util/clock.h) moves on by a few seconds at
 * every step, so each version is made at its own time; every readable
 * version's time (doc_version_time) is the one recorded when it was made,
 * through compactions, cut-overs, the reopen and the crash.  Half the
 * reopen runs bound history by age as well (history_age_ns): the readable
 * versions are then exactly those the rule of doc_history_age gives from
 * the recorded times, the compactions keep no more, and moving the clock
 * on past the bound leaves the last version alone.
 *
 * CARAVAN_HISTORY_SEED (a number) moves every workload's seed.
 */
#include "store/doc.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "tests/testutil.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "wal/record.h"
#include "wal/wal.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NDOCS 4
#define MAXSEQ 4096

static const struct store_meta M = { 0644, 0, 0, 1, 1 };
static const uint32_t HISTORIES[] = { 0, 3, 16 };
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * SEC)
#define AGE (60 * SEC) /* the age bound of the runs that have one */

/* The test's clock: wall time is what the test sets. */
static int64_t fake_real_ns = T0;

static int64_t fake_now_ns(enum clock_kind kind)
{
	if (kind == CLOCK_KIND_REAL)
		return __atomic_load_n(&fake_real_ns, __ATOMIC_RELAXED);
	return clock_real_ops()->now_ns(kind);
}

static const struct clock_ops fake_clock = { .now_ns = fake_now_ns };

static void clock_to(int64_t t)
{
	__atomic_store_n(&fake_real_ns, t, __ATOMIC_RELAXED);
}

struct hdoc {
	uint64_t id;
	char *text[MAXSEQ]; /* recorded text of each seq (index seq) */
	int64_t time[MAXSEQ]; /* and when it was made */
	uint64_t seq;
};

struct run {
	struct store *s;
	struct doc *d;
	uint64_t space;
	uint32_t history;
	uint64_t age_ns; /* history_age_ns */
	unsigned seed;
	struct hdoc docs[NDOCS];
	FILE *dump; /* the child's record (crash test) */
};

static unsigned seed_base(void)
{
	const char *e = getenv("CARAVAN_HISTORY_SEED");

	return e ? (unsigned)strtoul(e, NULL, 10) : 0u;
}

static unsigned rnd(struct run *r, unsigned n)
{
	r->seed = r->seed * 1103515245u + 12345u;
	return (r->seed >> 16) % n;
}

static void open_run(struct run *r, const char *dir)
{
	struct store_options so;
	struct doc_options o;

	store_options_default(&so);
	so.capacity_bytes = 1 << 20;
	so.cutover_bytes = 16 << 10; /* many cut-overs */
	so.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &so, &r->s), 0);
	doc_options_default(&o);
	o.compact_entries = 6;
	o.history = r->history;
	o.history_age_ns = r->age_ns;
	ck_assert_int_eq(doc_open(r->s, &o, &r->d), 0);
}

static void close_run(struct run *r)
{
	doc_close(r->d);
	ck_assert_int_eq(store_close(r->s), 0);
	r->d = NULL;
	r->s = NULL;
}

static void forget_doc(struct hdoc *h)
{
	for (size_t i = 0; i < MAXSEQ; i++) {
		free(h->text[i]);
		h->text[i] = NULL;
		h->time[i] = 0;
	}
	h->id = 0;
	h->seq = 0;
}

/* Record the text of the seqs after h->seq up to the document's now. */
static void record(struct run *r, int k, uint64_t lsn)
{
	struct hdoc *h = &r->docs[k];
	struct doc_snap *sn;
	const char *t;
	size_t len;
	uint64_t seq;

	ck_assert_int_eq(doc_read(r->d, h->id, &sn), 0);
	t = doc_snap_text(sn, &len);
	seq = doc_snap_seq(sn);
	ck_assert_uint_lt(seq, MAXSEQ);
	if (r->dump)
		ck_assert_int_eq(store_sync(r->s, lsn), 0);
	for (uint64_t q = h->seq + 1; q <= seq; q++) {
		free(h->text[q]);
		h->text[q] = strdup(t);
		ck_assert_ptr_nonnull(h->text[q]);
		h->time[q] = fake_now_ns(CLOCK_KIND_REAL);
		if (r->dump)
			fprintf(r->dump,
				"%" PRIu64 " %" PRIu64 " %" PRId64 " %s", h->id,
				q, h->time[q], t);
	}
	if (r->dump)
		ck_assert_int_eq(fflush(r->dump), 0);
	h->seq = seq;
	doc_snap_put(sn);
}

static void step(struct run *r, unsigned g)
{
	int k = (int)rnd(r, NDOCS);
	struct hdoc *h = &r->docs[k];
	uint64_t lsn = 0;
	char key[32], text[128];
	json_t *v;

	/* every step at its own time, 1 to 4 s after the last */
	clock_to(fake_now_ns(CLOCK_KIND_REAL) + (1 + (int64_t)rnd(r, 4)) * SEC);
	if (!h->id) {
		snprintf(key, sizeof(key), "d%d-%u", k, g);
		ck_assert_int_eq(store_doc_create(r->s, r->space, key, &M,
						  &h->id, NULL),
				 0);
	}
	switch (rnd(r, 12)) {
	case 0: /* a new document in its place */
		ck_assert_int_eq(store_doc_delete(r->s, h->id, NULL), 0);
		forget_doc(h);
		return;
	case 1:
	case 2:
		snprintf(text, sizeof(text), "{\"r\":%u,\"a\":{\"x\":%u}}", g,
			 rnd(r, 100));
		v = json_loads(text, 0, NULL);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(doc_replace(r->d, h->id, v, &lsn), 0);
		break;
	case 3:
		ck_assert_int_eq(store_checkpoint(r->s), 0);
		return;
	default:
		snprintf(text, sizeof(text), "{\"k%u\":%u,\"a\":{\"y\":%u}}",
			 rnd(r, 5), g, rnd(r, 3));
		v = json_loads(text, 0, NULL);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(doc_patch(r->d, h->id, v, &lsn), 0);
		break;
	}
	json_decref(v);
	record(r, k, lsn);
}

/* The newest whole document ('R' or 'S') held, and the bytes before it. */
struct base_scan {
	uint64_t base, bytes_before, bytes;
};

static int base_entry(void *arg, uint64_t seq, const void *p, size_t len)
{
	struct base_scan *b = arg;

	if (len && ((const char *)p)[0] != DOC_PATCH) {
		b->base = seq;
		b->bytes_before = b->bytes;
	}
	b->bytes += len;
	return 0;
}

/* Every document's history against the record; docs[k].text may be
 * missing above last_known (the crash: changes not yet recorded). */
static void check_all(struct run *r, bool exact)
{
	struct store_snapshot_stats st;
	uint64_t hist_bytes = 0;

	for (int k = 0; k < NDOCS; k++) {
		struct hdoc *h = &r->docs[k];
		struct base_scan b = { 0, 0, 0 };
		uint64_t first, last, want_first;
		int rc;

		if (!h->id)
			continue;
		ck_assert_int_eq(store_read(r->s, h->id, base_entry, &b), 0);
		hist_bytes += b.bytes_before;
		rc = doc_history_age(r->s, h->id, r->history, r->age_ns, &first,
				     &last);
		if (h->seq == 0) {
			ck_assert_int_eq(rc, -ENOENT);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		if (exact)
			ck_assert_uint_eq(last, h->seq);
		else
			ck_assert_uint_ge(last, h->seq);
		/* all the history asks for, and no more */
		want_first = last > r->history ? last - r->history : 1;
		/* ... and by age: version q - 1 goes once q is older */
		for (uint64_t q = 2; r->age_ns && exact && q <= last; q++)
			if (fake_now_ns(CLOCK_KIND_REAL) - h->time[q] >
				    (int64_t)r->age_ns &&
			    q > want_first)
				want_first = q;
		ck_assert_uint_eq(first, want_first);
		if (r->age_ns == 0)
			ck_assert_int_eq(doc_history(r->s, h->id, r->history,
						     &first, &last),
					 0);
		for (uint64_t q = first; q <= last; q++) {
			struct doc_snap *sn;
			size_t len;
			const char *t;
			int64_t tm;

			ck_assert_int_eq(doc_version_time(r->s, h->id, q, &tm),
					 0);
			if (q <= h->seq)
				ck_assert_msg(tm == h->time[q],
					      "doc %" PRIu64 " seq %" PRIu64
					      ": time %" PRId64
					      ", recorded %" PRId64,
					      h->id, q, tm, h->time[q]);

			ck_assert_int_eq(doc_read_version(r->s, h->id, q, &sn),
					 0);
			t = doc_snap_text(sn, &len);
			if (q <= h->seq) {
				ck_assert_ptr_nonnull(h->text[q]);
				ck_assert_msg(!strcmp(t, h->text[q]),
					      "doc %" PRIu64 " seq %" PRIu64
					      ": %s, recorded %s",
					      h->id, q, t, h->text[q]);
			}
			doc_snap_put(sn);
		}
		ck_assert_int_eq(doc_read_version(r->s, h->id, last + 1, NULL),
				 -ENOENT);
		ck_assert_int_eq(doc_version_time(r->s, h->id, last + 1,
						  &(int64_t){ 0 }),
				 -ENOENT);
	}
	store_snapshot_stats(r->s, &st);
	ck_assert_uint_eq(st.history_bytes, hist_bytes);
}

static void run_init(struct run *r, const char *dir, int i)
{
	memset(r, 0, sizeof(*r));
	r->history = HISTORIES[i % 3];
	r->age_ns = i >= 3 ? (uint64_t)AGE : 0;
	clock_set_ops(&fake_clock);
	clock_to(T0);
	r->seed = seed_base() + 100u + (unsigned)i;
	open_run(r, dir);
	ck_assert_int_eq(store_space_create(r->s, "sp", &M, &r->space, NULL),
			 0);
}

static void run_free(struct run *r)
{
	for (int k = 0; k < NDOCS; k++)
		forget_doc(&r->docs[k]);
}

static void assert_fsck_clean(const char *dir)
{
	FILE *out = tmpfile();

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(store_fsck(dir, out), 0);
	fclose(out);
}

START_TEST(test_history_oracle_reopen)
{
	char *dir = test_tmpdir();
	struct run r;

	run_init(&r, dir, _i);
	for (unsigned g = 0; g < 600; g++) {
		step(&r, g);
		if (g % 7 == 0)
			check_all(&r, true);
	}
	check_all(&r, true);
	close_run(&r);
	assert_fsck_clean(dir);
	open_run(&r, dir);
	check_all(&r, true);
	/* and it goes on after the reopen */
	for (unsigned g = 600; g < 800; g++)
		step(&r, g);
	check_all(&r, true);
	/* an hour later, nothing written: by age only the last versions
	 * stay readable */
	clock_to(fake_now_ns(CLOCK_KIND_REAL) + 3600 * SEC);
	check_all(&r, true);
	close_run(&r);
	run_free(&r);
	clock_set_ops(NULL);
	test_rmdir(dir);
}
END_TEST

/* ---- the bound by age, with a snapshot held ---- */

static void patch_at(struct doc *d, uint64_t id, int64_t t, int n)
{
	char text[64];
	json_t *v;

	clock_to(t);
	snprintf(text, sizeof(text), "{\"n\":%d,\"k%d\":true}", n, n % 5);
	v = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(doc_patch(d, id, v, NULL), 0);
	json_decref(v);
}

static void assert_history(struct store *s, uint64_t id, uint64_t age_ns,
			   uint64_t want_first, uint64_t want_last)
{
	uint64_t first, last;

	ck_assert_int_eq(doc_history_age(s, id, 16, age_ns, &first, &last), 0);
	ck_assert_uint_eq(first, want_first);
	ck_assert_uint_eq(last, want_last);
}

static int sum_bytes(void *arg, uint64_t seq, const void *p, size_t len)
{
	(void)seq;
	(void)p;
	*(uint64_t *)arg += len;
	return 0;
}

struct snap_src {
	struct store *s;
	uint64_t id;
};

static int snap_read(void *rarg, store_entry_fn fn, void *farg)
{
	struct snap_src *src = rarg;

	return store_snapshot_read(src->s, "past", src->id, fn, farg);
}

/* history=16 and history_age=10 s: a version stays readable only while
 * it was replaced at most 10 s ago (the boundary is inclusive), the last
 * always; compaction drops what neither the bound nor the last version
 * needs, but what a snapshot sees stays pinned until it is deleted; the
 * times survive the compactions and a reopen. */
START_TEST(test_history_age_bounds_versions_and_snapshots_pin)
{
	const uint64_t age = 10 * SEC;
	char *dir = test_tmpdir();
	struct store_snapshot_stats st;
	struct store_options so;
	struct store_doc_info info;
	struct doc_options o;
	struct snap_src src;
	struct doc_snap *sn, *past;
	struct store *s;
	struct doc *d;
	uint64_t sp, id, pinned = 0;
	int64_t tm;
	size_t l1, l2;

	clock_set_ops(&fake_clock);
	clock_to(T0);
	store_options_default(&so);
	so.capacity_bytes = 1 << 20;
	so.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &so, &s), 0);
	doc_options_default(&o);
	o.compact_entries = 4;
	o.history = 16;
	o.history_age_ns = age;
	ck_assert_int_eq(doc_open(s, &o, &d), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &id, NULL), 0);

	patch_at(d, id, T0, 1);
	patch_at(d, id, T0 + SEC, 2);
	patch_at(d, id, T0 + 2 * SEC, 3);
	assert_history(s, id, age, 1, 3);
	clock_to(T0 + 11 * SEC); /* 1 replaced 10 s ago: kept */
	assert_history(s, id, age, 1, 3);
	clock_to(T0 + 11 * SEC + 1); /* ... now longer */
	assert_history(s, id, age, 2, 3);
	assert_history(s, id, 0, 1, 3); /* no bound by age */
	clock_to(T0 + 13 * SEC);
	assert_history(s, id, age, 3, 3);
	for (uint64_t q = 1; q <= 3; q++) {
		ck_assert_int_eq(doc_version_time(s, id, q, &tm), 0);
		ck_assert_int_eq(tm, T0 + (int64_t)(q - 1) * SEC);
	}

	/* a snapshot of version 3, then compactions */
	ck_assert_int_eq(store_read(s, id, sum_bytes, &pinned), 0);
	ck_assert_int_eq(doc_read(d, id, &past), 0);
	ck_assert_int_eq(store_snapshot_create(s, "past", NULL), 0);
	patch_at(d, id, T0 + 100 * SEC, 4);
	patch_at(d, id, T0 + 100 * SEC, 5); /* compaction: S at 6 */
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_uint_eq(info.seq, 6);
	/* 4 .. 6 are new, 3 was replaced by 4 now; 1 and 2 are held (the
	 * patches need their first entry) but not readable */
	ck_assert_uint_eq(info.entries, 6);
	assert_history(s, id, age, 3, 6);
	for (int n = 7; n <= 10; n++) /* compaction at 10: S at 11 */
		patch_at(d, id, T0 + 200 * SEC, n);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_uint_eq(info.seq, 11);
	/* from the whole document at 6 on: 1 .. 5 were dropped */
	ck_assert_uint_eq(info.entries, 6);
	assert_history(s, id, age, 6, 11);
	ck_assert_int_eq(doc_version_time(s, id, 6, &tm), 0);
	ck_assert_int_eq(tm, T0 + 100 * SEC);
	ck_assert_int_eq(doc_version_time(s, id, 11, &tm), 0);
	ck_assert_int_eq(tm, T0 + 200 * SEC);

	/* the snapshot still reads version 3: its entries are pinned */
	store_snapshot_stats(s, &st);
	ck_assert_uint_eq(st.pinned_bytes, pinned);
	src = (struct snap_src){ s, id };
	ck_assert_int_eq(doc_read_from(snap_read, &src, &sn), 0);
	ck_assert_str_eq(doc_snap_text(sn, &l1), doc_snap_text(past, &l2));
	doc_snap_put(sn);
	doc_snap_put(past);
	ck_assert_int_eq(store_snapshot_delete(s, "past"), 0);
	store_snapshot_stats(s, &st);
	ck_assert_uint_eq(st.pinned_bytes, 0);

	/* the same after a reopen */
	doc_close(d);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	ck_assert_int_eq(store_open(dir, &so, &s), 0);
	assert_history(s, id, age, 6, 11);
	ck_assert_int_eq(doc_version_time(s, id, 6, &tm), 0);
	ck_assert_int_eq(tm, T0 + 100 * SEC);
	clock_to(T0 + 300 * SEC);
	assert_history(s, id, age, 11, 11);
	ck_assert_int_eq(store_close(s), 0);
	clock_set_ops(NULL);
	test_rmdir(dir);
}
END_TEST

/* An index of the format before entry times (SNAP_DOC): space 2, and
 * document 3 holding two empty entries, seqs 1 and 2, times unknown. */
static int write_old_index(void *arg, struct wal_snap *sn)
{
	struct wal_snap_begin sb = { .next_id = 4,
				     .next_tomb_id = 1,
				     .spaces = 1,
				     .docs = 1,
				     .entries = 2 };
	struct wal_meta wm = { 0755, 0, 0, 1, 1 };
	struct wal_ent e[2] = { { 1, 0, 0, 0 }, { 2, 0, 0, 0 } };
	struct wal_buf b;
	uint32_t crc = 0;
	uint64_t count = 0;
	int rc;

	(void)arg;
	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_snap_begin(&b, &sb), 0);
	ck_assert_int_eq(wal_put_snap_space(&b, 2, &wm, "sp"), 0);
	ck_assert_int_eq(wal_put_snap_doc(&b, 3, 2, 2, 0, 0, &wm, "k", e, 2),
			 0);
	for (size_t pos = 0; pos < b.len; count++) {
		struct wal_rec r;

		ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
		crc = crc32c_extend(crc, r.body, r.body_len);
	}
	ck_assert_int_eq(wal_put_snap_end(&b, crc, count), 0);
	ck_assert_int_eq(wal_put_meta(&b, STORE_ROOT_ID, &wm), 0);
	rc = wal_snap_frame(sn, b.p, b.len);
	wal_buf_release(&b);
	return rc;
}

/* Versions whose replacing entry has no known time count as recent for
 * history_age: only known times drop a version. */
START_TEST(test_history_age_counts_unknown_times_as_recent)
{
	char *dir = test_tmpdir();
	struct wal_options wo = { 0 };
	struct store_options so;
	struct store *s;
	struct wal *w;
	uint64_t seq;
	int64_t tm;

	store_options_default(&so);
	so.capacity_bytes = 1 << 20;
	so.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &so, &s), 0);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(wal_create(dir, &wo, write_old_index, NULL, &w), 0);
	ck_assert_int_eq(wal_close(w), 0);
	clock_set_ops(&fake_clock);
	clock_to(T0 + 100 * SEC);
	ck_assert_int_eq(store_open(dir, &so, &s), 0);
	ck_assert_int_eq(store_append(s, 3, "", 0, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 3);
	ck_assert_int_eq(doc_version_time(s, 3, 2, &tm), 0);
	ck_assert_int_eq(tm, 0);
	ck_assert_int_eq(doc_version_time(s, 3, 3, &tm), 0);
	ck_assert_int_eq(tm, T0 + 100 * SEC);
	/* 2 was replaced at T0 + 100 s, 1 at an unknown time */
	clock_to(T0 + 105 * SEC);
	assert_history(s, 3, 10 * SEC, 1, 3);
	clock_to(T0 + 111 * SEC);
	assert_history(s, 3, 10 * SEC, 3, 3);
	ck_assert_int_eq(store_close(s), 0);
	clock_set_ops(NULL);
	test_rmdir(dir);
}
END_TEST

/* The child writes "id seq time text" lines once each change is durable and
 * is killed; the parent recovers and checks the history against them. */
START_TEST(test_history_oracle_crash)
{
	char *dir = test_tmpdir();
	char *dumps = test_tmpdir();
	char path[512], line[512];
	struct run r;
	pid_t pid;
	int status;
	FILE *f;

	snprintf(path, sizeof(path), "%s/record", dumps);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		run_init(&r, dir, _i);
		r.dump = fopen(path, "w");
		if (!r.dump)
			_exit(3);
		for (unsigned g = 0; g < 500 + (unsigned)_i * 50; g++)
			step(&r, g);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	memset(&r, 0, sizeof(r));
	r.history = HISTORIES[_i % 3];
	clock_set_ops(&fake_clock);
	open_run(&r, dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		uint64_t id, seq;
		int64_t tm;
		int n = 0, k;

		ck_assert_int_eq(
			sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNd64 " %n",
			       &id, &seq, &tm, &n),
			3);
		/* a document of the record that is still there */
		if (store_doc_info(r.s, id, &(struct store_doc_info){ 0 }))
			continue;
		for (k = 0; k < NDOCS && r.docs[k].id && r.docs[k].id != id;
		     k++)
			;
		ck_assert_int_lt(k, NDOCS);
		r.docs[k].id = id;
		ck_assert_uint_lt(seq, MAXSEQ);
		free(r.docs[k].text[seq]);
		r.docs[k].text[seq] = strdup(line + n);
		r.docs[k].time[seq] = tm;
		if (seq > r.docs[k].seq)
			r.docs[k].seq = seq;
	}
	fclose(f);
	check_all(&r, false);
	close_run(&r);
	assert_fsck_clean(dir);
	run_free(&r);
	clock_set_ops(NULL);
	test_rmdir(dir);
	test_clear_dir(dumps);
	test_rmdir(dumps);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("doc_history");
	TCase *tc = tcase_create("history");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_history_oracle_reopen, 0, 6);
	tcase_add_loop_test(tc, test_history_oracle_crash, 0, 3);
	tcase_add_test(tc, test_history_age_bounds_versions_and_snapshots_pin);
	tcase_add_test(tc, test_history_age_counts_unknown_times_as_recent);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
