/*
 * check_store_grow_order.c - an inline growth does its file step without
 * the store lock, and the eviction order survives a remount (issue 17).
 *
 * Inline growth (store/grow.c): a change that finds no room grows the
 * data file itself; a power cut at any sync point of it loses nothing
 * synced (the crash simulator).  Through a test seam run inside its file step
 * (s->grow_file_seam: grow_mu held), a reader and a checkpoint must
 * complete while the growth is held there, and another writer must wait
 * for the growing change (its append lands after, with the next seq).
 *
 * Order of use (store/evict.c, store/use.c): documents written in a
 * known order, with a checkpoint between, come out of
 * store_evict_candidates in that order after a kill -9; a use since the
 * open moves a document last, and a clean close keeps it; a damaged
 * "use" file is ignored.
 */
#include "config.h"

#include "store/evict.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "tests/crashsim/io_crashsim.h"
#include "tests/testutil.h"
#include "util/clock.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

static struct store *open_at(const char *dir, uint64_t cap, uint64_t max)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = cap;
	o.max_capacity_bytes = max;
	o.min_free_bytes = 0;
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

static uint64_t mkdoc(struct store *s, uint64_t sp, const char *key)
{
	uint64_t id;

	ck_assert_int_eq(store_doc_create(s, sp, key, &M, &id, NULL), 0);
	return id;
}

static void fill(char *buf, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (v * 3 + i / 97) % 26);
}

/* Reads a document back into a list of (seq, bytes) checked against
 * fill(). */
struct expect {
	const size_t *lens;
	const int *vals;
	size_t n, seen;
	int bad;
};

static int expect_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct expect *e = arg;
	char *want;

	if (e->seen >= e->n || seq != e->seen + 1 || len != e->lens[e->seen]) {
		e->bad++;
		e->seen++;
		return 0;
	}
	want = malloc(len + 1);
	ck_assert_ptr_nonnull(want);
	fill(want, len, e->vals[e->seen]);
	if (memcmp(buf, want, len) != 0)
		e->bad++;
	free(want);
	e->seen++;
	return 0;
}

static void expect_doc(struct store *s, uint64_t id, const size_t *lens,
		       const int *vals, size_t n)
{
	struct expect e = { lens, vals, n, 0, 0 };

	ck_assert_int_eq(store_read(s, id, expect_fn, &e), 0);
	ck_assert_int_eq(e.bad, 0);
	ck_assert_uint_eq(e.seen, n);
}

/* ---- inline growth without the lock ---- */

#define SMALL 100
/* below STORE_LARGE_ENTRY: a one-step change, whose frame is half
 * encoded when it grows inline (a large entry takes its space in a step
 * of its own and lets other changes in before its commit: docs.c) */
#define BIG ((256 << 10) - 4096)
#define GAP_WAIT_S 10

_Static_assert(BIG < STORE_LARGE_ENTRY, "BIG must be a one-step append");

struct gap {
	struct store *s;
	uint64_t r, a;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int seam_calls;
	bool helper_done, done_in_gap;
	int read_rc, cut_rc, write_rc;
	uint64_t write_seq;
	pthread_t helper, writer;
};

static void *helper_main(void *arg)
{
	struct gap *g = arg;
	static const size_t lens[] = { SMALL };
	static const int vals[] = { 1 };
	struct expect e = { lens, vals, 1, 0, 0 };
	int rc = store_read(g->s, g->r, expect_fn, &e);

	if (!rc && (e.bad || e.seen != 1))
		rc = -EIO;
	pthread_mutex_lock(&g->mu);
	g->read_rc = rc;
	pthread_mutex_unlock(&g->mu);
	rc = store_checkpoint(g->s);
	pthread_mutex_lock(&g->mu);
	g->cut_rc = rc;
	g->helper_done = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct gap *g = arg;
	char buf[SMALL];
	uint64_t seq = 0;
	int rc;

	fill(buf, SMALL, 3);
	rc = store_append(g->s, g->a, buf, SMALL, &seq, NULL);
	pthread_mutex_lock(&g->mu);
	g->write_rc = rc;
	g->write_seq = seq;
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* In the file step of the inline growth: start a reader + checkpoint
 * and a writer, and wait (up to GAP_WAIT_S) for the first to finish. */
static void gap_seam(void *arg)
{
	struct gap *g = arg;
	struct timespec dl;
	bool first;

	pthread_mutex_lock(&g->mu);
	first = g->seam_calls++ == 0;
	pthread_mutex_unlock(&g->mu);
	if (!first)
		return;
	ck_assert_int_eq(pthread_create(&g->writer, NULL, writer_main, g), 0);
	ck_assert_int_eq(pthread_create(&g->helper, NULL, helper_main, g), 0);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += GAP_WAIT_S;
	pthread_mutex_lock(&g->mu);
	while (!g->helper_done)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT)
			break;
	g->done_in_gap = g->helper_done;
	pthread_mutex_unlock(&g->mu);
}

START_TEST(test_store_inline_growth_lets_readers_and_checkpoints_run)
{
	char *dir = test_tmpdir();
	struct gap g = { .mu = PTHREAD_MUTEX_INITIALIZER,
			 .cv = PTHREAD_COND_INITIALIZER };
	struct store_stats st;
	char *big = malloc(BIG), small[SMALL];
	static const size_t lens[] = { SMALL, BIG, SMALL };
	static const int vals[] = { 2, 4, 3 };
	static const size_t rlens[] = { SMALL };
	static const int rvals[] = { 1 };
	uint64_t sp, seq = 0, cap0;
	struct store *s = open_at(dir, 64 << 10, 0);

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	g.s = s;
	g.r = mkdoc(s, sp, "r");
	g.a = mkdoc(s, sp, "a");
	fill(small, SMALL, 1);
	ck_assert_int_eq(store_append(s, g.r, small, SMALL, NULL, NULL), 0);
	fill(small, SMALL, 2);
	ck_assert_int_eq(store_append(s, g.a, small, SMALL, NULL, NULL), 0);
	store_stats(s, &st);
	cap0 = st.capacity_bytes;
	ck_assert_uint_lt(cap0, BIG); /* the next append must grow inline */
	s->grow_file_seam = gap_seam;
	s->grow_file_seam_arg = &g;
	fill(big, BIG, 4);
	ck_assert_int_eq(store_append(s, g.a, big, BIG, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 2);
	pthread_join(g.helper, NULL);
	pthread_join(g.writer, NULL);
	s->grow_file_seam = NULL;
	ck_assert_int_eq(g.seam_calls, 1);
	/* the reader and the checkpoint ran while the growth was held in its
	 * file step (the old code held the exclusive lock there) */
	ck_assert(g.done_in_gap);
	ck_assert_int_eq(g.read_rc, 0);
	ck_assert_int_eq(g.cut_rc, 0);
	/* the other writer waited for the growing change: the next seq */
	ck_assert_int_eq(g.write_rc, 0);
	ck_assert_uint_eq(g.write_seq, 3);
	store_stats(s, &st);
	ck_assert_uint_eq(st.grows_inline, 1);
	ck_assert_uint_ge(st.capacity_bytes, cap0 + BIG);
	ck_assert_uint_ge(st.cutovers, 1);
	expect_doc(s, g.a, lens, vals, 3);
	ck_assert_int_eq(store_close(s), 0);
	/* all of it after a reopen (the checkpoint ran mid-change) */
	s = open_at(dir, 64 << 10, 0);
	expect_doc(s, g.a, lens, vals, 3);
	expect_doc(s, g.r, rlens, rvals, 1);
	ck_assert_int_eq(store_close(s), 0);
	free(big);
	test_rmdir(dir);
}
END_TEST

/*
 * Power cuts in an inline growth: a store with synced entries and others
 * written since, then an append that grows it inline (file step without
 * the lock), then a sync.  At every sync point of that (the growth's
 * synced header writes, the log's sync) the crash simulator writes the
 * states a power cut could leave (every unsynced change dropped, kept,
 * and three random mixes); each opens fsck-clean with every synced entry
 * exact, and the big entry, when present, exact too.
 */
#define PC_N 20
#define PC_BIG (200 << 10)
#define PC_MAX_STATES 64

struct pc {
	char base[600];
	char states[PC_MAX_STATES][700];
	int nstates;
};

static void pc_hook(void *arg, unsigned long n)
{
	struct pc *p = arg;
	static const enum io_crash_mode modes[] = {
		IO_CRASH_ALL_DROPPED, IO_CRASH_ALL_KEPT, IO_CRASH_RANDOM,
		IO_CRASH_RANDOM, IO_CRASH_RANDOM
	};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char out[sizeof(p->states[0])];

		if (p->nstates == PC_MAX_STATES)
			return;
		snprintf(out, sizeof(out), "%s/cut-%lu-%zu", p->base, n, m);
		if (io_crashsim_write_state(out, modes[m], n * 8 + m) == 0)
			memcpy(p->states[p->nstates++], out, sizeof(out));
	}
}

static int pc_check_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	int *bad = arg;
	size_t want_len = seq <= PC_N ? SMALL : PC_BIG;
	char *want = malloc(want_len);

	if (!want || seq > PC_N + 1 || len != want_len) {
		(*bad)++;
		free(want);
		return 0;
	}
	fill(want, want_len, (int)seq);
	if (memcmp(buf, want, len) != 0)
		(*bad)++;
	free(want);
	return 0;
}

START_TEST(test_store_inline_growth_survives_a_power_cut_at_every_point)
{
	static struct pc p;
	char *base = test_tmpdir(), dir[700], buf[SMALL], *big;
	struct store_options o;
	struct store_stats st;
	struct store *s;
	uint64_t sp, id;

	memset(&p, 0, sizeof(p));
	snprintf(p.base, sizeof(p.base), "%s", base);
	snprintf(dir, sizeof(dir), "%s/store", base);
	store_options_default(&o);
	o.capacity_bytes = 64 << 10;
	o.min_free_bytes = 0;
	o.cutover_bytes = 64u << 20; /* no checkpoint meanwhile */
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "k", &M, &id, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);

	ck_assert_int_eq(io_crashsim_install(dir), 0);
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	for (int i = 1; i <= PC_N; i++) {
		fill(buf, SMALL, i);
		ck_assert_int_eq(store_append(s, id, buf, SMALL, NULL, NULL),
				 0);
		if (i == PC_N / 2)
			ck_assert_int_eq(store_sync(s, 0), 0);
	}
	ck_assert_int_eq(store_sync(s, 0), 0);
	big = malloc(PC_BIG);
	ck_assert_ptr_nonnull(big);
	fill(big, PC_BIG, PC_N + 1);
	io_crashsim_set_hook(pc_hook, &p);
	ck_assert_int_eq(store_append(s, id, big, PC_BIG, NULL, NULL), 0);
	ck_assert_int_eq(store_sync(s, 0), 0);
	io_crashsim_set_hook(NULL, NULL);
	store_stats(s, &st);
	ck_assert_uint_eq(st.grows_inline, 1);
	ck_assert_int_eq(store_close(s), 0);
	io_crashsim_uninstall();
	free(big);

	/* two synced header writes and the log's sync at least */
	ck_assert_int_ge(p.nstates, 15);
	for (int k = 0; k < p.nstates; k++) {
		struct store_doc_info info;
		int bad = 0;

		ck_assert_int_eq(store_fsck(p.states[k], stderr), 0);
		ck_assert_int_eq(store_open(p.states[k], &o, &s), 0);
		ck_assert_int_eq(store_doc_info(s, id, &info), 0);
		ck_assert_uint_ge(info.seq, PC_N);
		ck_assert_uint_le(info.seq, PC_N + 1);
		ck_assert_int_eq(store_read(s, id, pc_check_fn, &bad), 0);
		ck_assert_int_eq(bad, 0);
		ck_assert_int_eq(store_close(s), 0);
		ck_assert_int_eq(store_fsck(p.states[k], stderr), 0);
		test_rmdir(p.states[k]);
	}
	test_rmdir(dir);
	rmdir(base);
}
END_TEST

/* ---- the order of use across remounts ---- */

static void write_one(struct store *s, uint64_t id, int v)
{
	char buf[SMALL];
	int64_t t1;

	fill(buf, SMALL, v);
	ck_assert_int_eq(store_append(s, id, buf, SMALL, NULL, NULL), 0);
	/* the entry's stamp is at most t1; the next one will be above it */
	t1 = clock_real_ns();
	while (clock_real_ns() <= t1)
		;
}

static void confirm_all(struct store *s, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct store_doc_info info;

		ck_assert_int_eq(store_doc_info(s, ids[i], &info), 0);
		ck_assert_int_eq(store_backup_mark(s, ids[i], info.seq, 1000),
				 0);
	}
}

static void expect_order(struct store *s, const uint64_t *want, size_t n)
{
	uint64_t got[8];
	size_t k = 0;

	ck_assert_int_eq(store_evict_candidates(s, got, 8, &k), 0);
	ck_assert_uint_eq(k, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(got[i], want[i]);
}

static int noop_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	(void)arg;
	(void)seq;
	(void)buf;
	(void)len;
	return 0;
}

START_TEST(test_store_eviction_order_survives_kill_and_clean_remount)
{
	char *dir = test_tmpdir(), path[4200];
	uint64_t sp, d[4], a, b, c, e;
	struct store *s = open_at(dir, 1 << 20, 1 << 20);
	pid_t pid;
	int status;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = d[0] = mkdoc(s, sp, "a");
	b = d[1] = mkdoc(s, sp, "b");
	c = d[2] = mkdoc(s, sp, "c");
	e = d[3] = mkdoc(s, sp, "e");
	ck_assert_int_eq(store_close(s), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* written c, a, then (after a checkpoint: the snapshot holds
		 * them) e, b; killed with the log synced */
		s = open_at(dir, 1 << 20, 1 << 20);
		write_one(s, c, 1);
		write_one(s, a, 2);
		if (store_checkpoint(s))
			_exit(2);
		write_one(s, e, 3);
		write_one(s, b, 4);
		confirm_all(s, d, 4);
		if (store_sync(s, 0))
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	s = open_at(dir, 1 << 20, 1 << 20);
	{
		const uint64_t want[] = { c, a, e, b };

		expect_order(s, want, 4);
	}
	/* a read since the open moves c last */
	ck_assert_int_eq(store_read(s, c, noop_fn, NULL), 0);
	{
		const uint64_t want[] = { a, e, b, c };

		expect_order(s, want, 4);
	}
	/* written again: a is the newest; a clean close keeps the read of c
	 * (the file "use") */
	write_one(s, a, 5);
	confirm_all(s, d, 4);
	ck_assert_int_eq(store_close(s), 0);
	s = open_at(dir, 1 << 20, 1 << 20);
	{
		const uint64_t want[] = { e, b, c, a };

		expect_order(s, want, 4);
	}
	/* a read of e, kept by the next clean close */
	ck_assert_int_eq(store_read(s, e, noop_fn, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_at(dir, 1 << 20, 1 << 20);
	{
		const uint64_t want[] = { b, c, a, e };

		expect_order(s, want, 4);
	}
	ck_assert_int_eq(store_close(s), 0);
	/* a damaged "use" is ignored as a whole: the order of the last
	 * writes, and the store opens as ever */
	snprintf(path, sizeof(path), "%s/use", dir);
	test_flip_bit(path, 8 * 40 + 3);
	s = open_at(dir, 1 << 20, 1 << 20);
	{
		const uint64_t want[] = { c, e, b, a };

		expect_order(s, want, 4);
	}
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(store_fsck(dir, stderr), 0);
	test_rmdir(dir);
}
END_TEST

/* Hostile "use" files: each is ignored as a whole (the order of the last
 * writes) and the store opens and closes as ever; a valid file of
 * another store is not taken either. */
static void write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_store_hostile_use_file_is_ignored)
{
	char *dir = test_tmpdir(), *other = test_tmpdir(), path[4200];
	char opath[4200];
	uint64_t sp, d[3], osp, od;
	uint8_t b[64 + 16 * 4];
	struct store *s = open_at(dir, 1 << 20, 1 << 20);

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	d[0] = mkdoc(s, sp, "a");
	d[1] = mkdoc(s, sp, "b");
	d[2] = mkdoc(s, sp, "c");
	write_one(s, d[2], 1);
	write_one(s, d[0], 2);
	write_one(s, d[1], 3);
	confirm_all(s, d, 3);
	ck_assert_int_eq(store_close(s), 0);
	/* another store whose "use" names the same ids, c read last */
	s = open_at(other, 1 << 20, 1 << 20);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &osp, NULL), 0);
	for (int i = 0; i < 3; i++) {
		char k[8];

		snprintf(k, sizeof(k), "%c", 'a' + i);
		od = mkdoc(s, osp, k);
		write_one(s, od, 1);
	}
	ck_assert_int_eq(store_read(s, od, noop_fn, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	snprintf(path, sizeof(path), "%s/use", dir);
	snprintf(opath, sizeof(opath), "%s/use", other);
	for (int k = 0; k < 6; k++) {
		const uint64_t want[] = { d[2], d[0], d[1] };

		memset(b, 0, sizeof(b));
		memcpy(b, "CRVNUSE1", 8);
		switch (k) {
		case 0: /* empty */
			write_file(path, b, 0);
			break;
		case 1: /* a header alone, count past the end */
			memset(b + 24, 0xff, 8);
			write_file(path, b, 40);
			break;
		case 2: /* random bytes */
			for (size_t i = 0; i < sizeof(b); i++)
				b[i] = (uint8_t)(i * 131 + 7);
			write_file(path, b, sizeof(b));
			break;
		case 3: /* another store's valid file */
			test_copy_file(opath, path, -1);
			break;
		case 4: /* larger than the documents could fill */
			write_file(path, b, 40);
			{
				FILE *f = fopen(path, "ab");
				static uint8_t z[1 << 20];

				ck_assert_ptr_nonnull(f);
				ck_assert_uint_eq(fwrite(z, 1, sizeof(z), f),
						  sizeof(z));
				ck_assert_int_eq(fclose(f), 0);
			}
			break;
		case 5: /* a directory in its place */
			ck_assert_int_eq(unlink(path), 0);
			ck_assert_int_eq(mkdir(path, 0700), 0);
			break;
		}
		s = open_at(dir, 1 << 20, 1 << 20);
		expect_order(s, want, 3);
		ck_assert_int_eq(store_close(s), 0);
		if (k == 5) {
			/* the close could not replace it: still a directory */
			ck_assert_int_eq(rmdir(path), 0);
		}
	}
	ck_assert_int_eq(store_fsck(dir, stderr), 0);
	test_rmdir(dir);
	test_rmdir(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_grow_order");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(
		tc, test_store_inline_growth_lets_readers_and_checkpoints_run);
	tcase_add_test(
		tc,
		test_store_inline_growth_survives_a_power_cut_at_every_point);
	tcase_add_test(
		tc, test_store_eviction_order_survives_kill_and_clean_remount);
	tcase_add_test(tc, test_store_hostile_use_file_is_ignored);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
