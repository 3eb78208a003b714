/*
 * check_store.c - the durable list store: the flow of the original
 * DurableListStore tests with exact free-byte counts, namespace rules,
 * reopen after close and after cut-overs, the lock, fail-stop under
 * injected I/O faults, and fsck.
 */
#include "store/evict.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "tests/io_fault.h"
#include "tests/testutil.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/log.h"
#include "wal/wal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

/* A store of capacity cap that does not grow by itself (growth has its
 * own tests below). */
static struct store *open_store(const char *dir, uint64_t cap)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = cap;
	o.max_capacity_bytes = cap;
	o.commit_ms = 0;
	o.reserved_prefix = ".caravan"; /* as the mount passes it */
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

static uint64_t free_bytes(struct store *s)
{
	struct store_stats st;
	store_stats(s, &st);
	return st.free_bytes;
}

static uint64_t mkdoc(struct store *s, uint64_t sp, const char *key)
{
	uint64_t id;
	ck_assert_int_eq(store_doc_create(s, sp, key, &M, &id, NULL), 0);
	return id;
}

static void fill(char *buf, size_t n, int v)
{
	memset(buf, 'a' + v % 26, n);
}

struct collect {
	int n;
	uint64_t seq[2048];
	size_t len[2048];
	char first[2048];
};

static int collect_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct collect *c = arg;
	c->seq[c->n] = seq;
	c->len[c->n] = len;
	c->first[c->n] = len ? *(const char *)buf : 0;
	c->n++;
	return 0;
}

static void check_clean(const char *dir)
{
	FILE *devnull = fopen("/dev/null", "w");
	ck_assert_int_eq(store_fsck(dir, devnull), 0);
	fclose(devnull);
}

START_TEST(test_store_flow_of_the_original_with_exact_free_bytes)
{
	const uint64_t C = 1 << 20;
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, C);
	char buf[1000];
	uint64_t sp, a, b, c, c2, seq;
	struct collect col = { 0 };
	int k = 0, rc;

	memset(buf, 'q', sizeof(buf));
	ck_assert_uint_eq(free_bytes(s), C);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	for (int i = 0; i < 100; i++) {
		fill(buf, 100, i);
		ck_assert_int_eq(store_append(s, a, buf, 100, &seq, NULL), 0);
		ck_assert_uint_eq(seq, (uint64_t)i + 1);
	}
	ck_assert_uint_eq(free_bytes(s), C - 10000);
	ck_assert_int_eq(store_trim(s, a, 90, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), C - 9000);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 90);
	ck_assert_uint_eq(col.seq[0], 11);
	ck_assert_int_eq(col.first[0], 'a' + 10);

	b = mkdoc(s, sp, "b");
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(store_append(s, b, buf, 50, NULL, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), C - 9500);
	ck_assert_int_eq(store_doc_delete(s, b, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), C - 9000);
	ck_assert_int_eq(store_doc_lookup(s, sp, "b", &b), -ENOENT);

	c = mkdoc(s, sp, "c");
	while ((rc = store_append(s, c, buf, 1000, NULL, NULL)) == 0)
		k++;
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_uint_eq(free_bytes(s), C - 9000 - 1000 * (uint64_t)k);
	ck_assert_uint_lt(free_bytes(s), 1000);
	/* a full store changes nothing */
	{
		struct store_doc_info info;
		ck_assert_int_eq(store_doc_info(s, c, &info), 0);
		ck_assert_uint_eq(info.seq, (uint64_t)k);
		ck_assert_uint_eq(info.entries, (uint32_t)k);
	}
	ck_assert_int_eq(store_doc_delete(s, c, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), C - 9000);
	c2 = mkdoc(s, sp, "c2");
	ck_assert_int_eq(store_append(s, c2, buf, 1000, NULL, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), C - 10000);
	ck_assert_int_eq(store_close(s), 0);

	check_clean(dir);
	s = open_store(dir, C);
	ck_assert_uint_eq(free_bytes(s), C - 10000);
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 90);
	ck_assert_uint_eq(col.seq[89], 100);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_names_follow_the_contract)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	char longname[300];
	uint64_t sp;

	memset(longname, 'x', 256);
	longname[256] = '\0';
	ck_assert_int_eq(store_space_create(s, "", &M, NULL, NULL), -EINVAL);
	ck_assert_int_eq(store_space_create(s, ".", &M, NULL, NULL), -EINVAL);
	ck_assert_int_eq(store_space_create(s, "..", &M, NULL, NULL), -EINVAL);
	ck_assert_int_eq(store_space_create(s, "a/b", &M, NULL, NULL), -EINVAL);
	ck_assert_int_eq(store_space_create(s, ".caravan-x", &M, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_space_create(s, longname, &M, NULL, NULL),
			 -ENAMETOOLONG);
	longname[255] = '\0';
	ck_assert_int_eq(store_space_create(s, longname, &M, &sp, NULL), 0);
	ck_assert_int_eq(store_space_create(s, longname, &M, NULL, NULL),
			 -EEXIST);
	ck_assert_int_eq(
		store_doc_create(s, sp, "\xff\x01 odd", &M, NULL, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "\xff\x01 odd", &M, NULL,
					  NULL),
			 -EEXIST);
	ck_assert_int_eq(store_doc_create(s, 999, "k", &M, NULL, NULL),
			 -ENOENT);
	ck_assert_int_eq(store_space_remove(s, longname, NULL), -ENOTEMPTY);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

static int count_fn(void *arg, uint64_t id, const char *name)
{
	(void)id;
	(void)name;
	(*(int *)arg)++;
	return 0;
}

/* A node holds its name and its first entry inline (struct node): names
 * that outgrow that room and come back into it, entries that move from
 * the node to an array, and a space whose listing shares the entry's
 * bytes all stay findable and intact, live and after reopen. */
START_TEST(test_store_names_and_entries_outgrow_the_node)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	char longk[201], longsp[150];
	uint64_t sp, sp2, a, b, id, *ids = NULL;
	size_t nids = 0;
	struct collect col = { 0 };
	int n = 0;

	memset(longk, 'k', sizeof(longk) - 1);
	longk[sizeof(longk) - 1] = 0;
	memset(longsp, 's', sizeof(longsp) - 1);
	longsp[sizeof(longsp) - 1] = 0;
	ck_assert_int_eq(store_space_create(s, "p", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_space_create(s, "q", &M, &sp2, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	ck_assert_int_eq(store_append(s, a, "1", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, b, "X", 1, NULL, NULL), 0);
	/* One entry (in the node), then three (an array). */
	ck_assert_int_eq(store_append(s, a, "2", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, a, "3", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 3);
	ck_assert_int_eq(col.first[0], '1');
	ck_assert_int_eq(col.first[2], '3');
	/* A name longer than the node's room, then one that fits again,
	 * then long again, into another space. */
	ck_assert_int_eq(store_doc_rename(s, a, sp, longk, 0, NULL), 0);
	ck_assert_int_eq(store_doc_lookup(s, sp, longk, &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_doc_lookup(s, sp, "a", &id), -ENOENT);
	ck_assert_int_eq(store_doc_rename(s, a, sp, "z", 0, NULL), 0);
	ck_assert_int_eq(store_doc_lookup(s, sp, "z", &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_doc_lookup(s, sp, longk, &id), -ENOENT);
	ck_assert_int_eq(store_doc_rename(s, a, sp2, longk + 100, 0, NULL), 0);
	ck_assert_int_eq(store_doc_rename(s, b, sp, longk, 0, NULL), 0);
	/* A space renamed past its room keeps its listing. */
	ck_assert_int_eq(store_space_rename(s, "p", longsp, 0, &ids, &nids,
					    NULL),
			 0);
	free(ids);
	ck_assert_int_eq(store_space_lookup(s, longsp, &id), 0);
	ck_assert_uint_eq(id, sp);
	ck_assert_int_eq(store_doc_list(s, sp, 0, count_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_lookup(s, sp2, longk + 100, &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_doc_lookup(s, sp, longk, &id), 0);
	ck_assert_uint_eq(id, b);
	ck_assert_int_eq(store_space_lookup(s, longsp, &id), 0);
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 3);
	ck_assert_int_eq(col.first[1], '2');
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(store_read(s, b, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 1);
	ck_assert_int_eq(col.first[0], 'X');
	/* Trimmed to one entry and grown again. */
	ck_assert_int_eq(store_trim(s, a, 1, NULL), 0);
	ck_assert_int_eq(store_append(s, a, "4", 1, NULL, NULL), 0);
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 2);
	ck_assert_int_eq(col.first[0], '3');
	ck_assert_int_eq(col.first[1], '4');
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_rename_replaces_atomically_and_keeps_id)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	uint64_t s1, s2, a, b, id;
	struct collect col = { 0 };
	int n = 0;

	ck_assert_int_eq(store_space_create(s, "one", &M, &s1, NULL), 0);
	ck_assert_int_eq(store_space_create(s, "two", &M, &s2, NULL), 0);
	a = mkdoc(s, s1, "a");
	b = mkdoc(s, s2, "b");
	ck_assert_int_eq(store_append(s, a, "A", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, b, "B", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_doc_rename(s, a, s2, "b", STORE_RENAME_NOREPLACE,
					  NULL),
			 -EEXIST);
	ck_assert_int_eq(store_doc_rename(s, a, s2, "b", 0, NULL), 0);
	ck_assert_int_eq(store_doc_lookup(s, s2, "b", &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_doc_lookup(s, s1, "a", &id), -ENOENT);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.first[0], 'A');
	ck_assert_int_eq(store_doc_list(s, s1, 0, count_fn, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(store_doc_list(s, s2, 0, count_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_space_remove(s, "one", NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_lookup(s, s2, "b", &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_space_lookup(s, "one", &id), -ENOENT);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* Ids listed, in order (the listing's resume point is the last id + 1). */
struct ids_seen {
	uint64_t v[600];
	int n, stop_at;
};

static int ids_fn(void *arg, uint64_t id, const char *name)
{
	struct ids_seen *l = arg;

	(void)name;
	ck_assert_int_lt(l->n, 600);
	l->v[l->n++] = id;
	return l->n == l->stop_at ? 1 : 0;
}

/* A space's listing marks a removed document gone in place and squeezes
 * the gone slots out once they outnumber the members: a listing sees the
 * members exactly, in id order, resumed mid-way across removals and
 * compactions; a document moved out and back in is listed once; a space
 * whose documents are all gone is empty (rmdir); all of it as before
 * after reopen and fsck-clean. */
START_TEST(test_store_listing_keeps_members_across_removals)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 4 << 20);
	uint64_t sp, other, ids[500], id;
	struct ids_seen l = { .n = 0 };
	bool member[500];
	char key[16];
	int want, i;

	ck_assert_int_eq(store_space_create(s, "big", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_space_create(s, "other", &M, &other, NULL), 0);
	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ids[i] = mkdoc(s, sp, key);
		member[i] = true;
	}
	/* a listing stopped after 50 names, then documents before and
	 * after its position removed (enough to compact) */
	l.stop_at = 50;
	ck_assert_int_eq(store_doc_list(s, sp, 0, ids_fn, &l), 1);
	for (i = 0; i < 500; i++)
		if (i % 5 != 0) {
			ck_assert_int_eq(store_doc_delete(s, ids[i], NULL), 0);
			member[i] = false;
		}
	/* moved out and back: listed once, under its id */
	ck_assert_int_eq(store_doc_rename(s, ids[0], other, "k0", 0, NULL), 0);
	ck_assert_int_eq(store_doc_rename(s, ids[0], sp, "back", 0, NULL), 0);
	ck_assert_int_eq(store_doc_rename(s, ids[5], other, "k5", 0, NULL), 0);
	member[5] = false;
	l.stop_at = 0;
	ck_assert_int_eq(store_doc_list(s, sp, l.v[49] + 1, ids_fn, &l), 0);
	for (i = 0, want = 50; i < 500; i++)
		if (member[i] && ids[i] > l.v[49]) {
			ck_assert_uint_eq(l.v[want], ids[i]);
			want++;
		}
	ck_assert_int_eq(l.n, want);
	for (int pass = 0; pass < 2; pass++) {
		l.n = 0;
		ck_assert_int_eq(store_doc_list(s, sp, 0, ids_fn, &l), 0);
		for (i = 0, want = 0; i < 500; i++)
			if (member[i])
				ck_assert_uint_eq(l.v[want++], ids[i]);
		ck_assert_int_eq(l.n, want);
		ck_assert_int_eq(store_doc_lookup(s, sp, "back", &id), 0);
		ck_assert_uint_eq(id, ids[0]);
		ck_assert_int_eq(store_space_remove(s, "big", NULL),
				 -ENOTEMPTY);
		ck_assert_int_eq(store_close(s), 0);
		check_clean(dir);
		s = open_store(dir, 4 << 20);
	}
	for (i = 0; i < 500; i++)
		if (member[i])
			ck_assert_int_eq(store_doc_delete(s, ids[i], NULL), 0);
	l.n = 0;
	ck_assert_int_eq(store_doc_list(s, sp, 0, ids_fn, &l), 0);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(store_space_remove(s, "big", NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_second_open_is_refused)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20), *s2;
	struct store_options o;

	store_options_default(&o);
	ck_assert_int_eq(store_open(dir, &o, &s2), -EBUSY);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(store_open(dir, &o, &s2), 0);
	ck_assert_int_eq(store_close(s2), 0);
	test_rmdir(dir);
}
END_TEST

/* The snapshot seam of a checkpoint: tells that a snapshot started
 * (started), waits up to 10 s for a byte on go, and tells on done whether
 * it came ('r') or the wait ran out ('t').  It runs in the process that
 * writes the snapshot: the checkpoint's child. */
struct snap_gate {
	int started[2], go[2], done[2];
};

static void snap_gate_fn(void *arg)
{
	struct snap_gate *g = arg;
	struct pollfd p = { g->go[0], POLLIN, 0 };
	char c = 's';

	if (write(g->started[1], &c, 1) != 1)
		return;
	c = poll(&p, 1, 10000) == 1 && read(g->go[0], &c, 1) == 1 ? 'r' : 't';
	if (write(g->done[1], &c, 1) != 1)
		return;
}

/* While the checkpointer writes the index snapshot, the store takes
 * changes and makes them durable: the snapshot is written by a forked
 * child, not under the store's lock. */
START_TEST(test_store_changes_go_on_while_a_checkpoint_writes_its_snapshot)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store_doc_info info;
	struct store_stats st;
	struct snap_gate g;
	struct pollfd p;
	struct store *s;
	uint64_t sp, a, b, lsn, n = 0;
	int64_t until;
	char buf[100], c = 0;

	store_options_default(&o);
	o.capacity_bytes = 4 << 20;
	o.cutover_bytes = 64 << 10;
	o.commit_ms = 1000; /* a checkpointer thread */
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	ck_assert_int_eq(pipe(g.started), 0);
	ck_assert_int_eq(pipe(g.go), 0);
	ck_assert_int_eq(pipe(g.done), 0);
	pthread_rwlock_wrlock(&s->lock);
	s->snap_writing = snap_gate_fn;
	s->snap_writing_arg = &g;
	pthread_rwlock_unlock(&s->lock);
	p = (struct pollfd){ g.started[0], POLLIN, 0 };
	/* append past the cut-over size until a snapshot starts */
	until = clock_mono_ns() + 60 * 1000000000LL;
	while (poll(&p, 1, 0) == 0) {
		/* no check per round: a failed one ends the loop */
		fill(buf, sizeof(buf), (int)n);
		if (clock_mono_ns() > until ||
		    store_append(s, a, buf, sizeof(buf), NULL, NULL) != 0)
			break;
		n++;
	}
	ck_assert_msg(poll(&p, 1, 0) == 1,
		      "no snapshot started (%" PRIu64 " appends)", n);
	ck_assert_int_eq(read(g.started[0], &c, 1), 1);
	pthread_rwlock_wrlock(&s->lock);
	s->snap_writing = NULL;
	pthread_rwlock_unlock(&s->lock);
	/* the snapshot is being written: a change and its sync go through */
	ck_assert_int_eq(store_append(s, b, "meanwhile", 9, NULL, &lsn), 0);
	ck_assert_int_eq(store_sync(s, lsn), 0);
	c = 'g';
	ck_assert_int_eq(write(g.go[1], &c, 1), 1);
	ck_assert_int_eq(read(g.done[0], &c, 1), 1);
	ck_assert_msg(c == 'r', "the change waited for the snapshot");
	/* the cut-over completes */
	until = clock_mono_ns() + 60 * 1000000000LL;
	do {
		store_stats(s, &st);
		ck_assert_int_lt(clock_mono_ns(), until);
		sched_yield();
	} while (st.cutovers == 0);
	ck_assert_int_eq(store_append(s, b, "after", 5, NULL, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert_uint_eq(info.seq, n);
	ck_assert_int_eq(store_doc_info(s, b, &info), 0);
	ck_assert_uint_eq(info.seq, 2);
	ck_assert_int_eq(store_close(s), 0);
	for (int i = 0; i < 2; i++) {
		close(g.started[i]);
		close(g.go[i]);
		close(g.done[i]);
	}
	test_rmdir(dir);
}
END_TEST

/* The snapshot seam ending the checkpoint's child at once, with the exit
 * status of success but no snapshot written. */
static void snap_quit_fn(void *arg)
{
	(void)arg;
	_exit(0);
}

/* A checkpoint's child that ends without its verdict failed, whatever its
 * exit status: the store refuses changes from then on rather than switch
 * to a log without the snapshot, and a reopen finds every synced change. */
START_TEST(test_store_checkpoint_child_without_verdict_fails_the_store)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store_doc_info info;
	struct store *s;
	uint64_t sp, a, lsn, synced = 0;
	int64_t until;
	char buf[100];
	int rc = 0;

	store_options_default(&o);
	o.capacity_bytes = 4 << 20;
	o.cutover_bytes = 64 << 10;
	o.commit_ms = 1000; /* a checkpointer thread */
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	pthread_rwlock_wrlock(&s->lock);
	s->snap_writing = snap_quit_fn;
	pthread_rwlock_unlock(&s->lock);
	/* append past the cut-over size until the store refuses */
	until = clock_mono_ns() + 60 * 1000000000LL;
	while (clock_mono_ns() < until) {
		fill(buf, sizeof(buf), (int)synced);
		rc = store_append(s, a, buf, sizeof(buf), NULL, &lsn);
		if (rc == 0)
			rc = store_sync(s, lsn);
		if (rc)
			break;
		synced++;
	}
	ck_assert_int_eq(rc, -EIO);
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), -EIO);
	store_close(s);
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert_uint_ge(info.seq, synced);
	ck_assert_uint_le(info.seq, synced + 1);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_survives_many_cutovers_and_reopens)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store *s;
	uint64_t sp, ids[20];
	struct store_stats st;
	char buf[200];

	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	o.cutover_bytes = 8192;
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	for (int i = 0; i < 20; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		ids[i] = mkdoc(s, sp, k);
	}
	for (int i = 0; i < 2000; i++) {
		fill(buf, sizeof(buf), i);
		ck_assert_int_eq(store_append(s, ids[i % 20], buf,
					      (size_t)(i % 200), NULL, NULL),
				 0);
		if (i % 7 == 0)
			ck_assert_int_eq(store_trim(s, ids[i % 20], 3, NULL),
					 0);
	}
	store_stats(s, &st);
	ck_assert_uint_gt(st.cutovers, 10);
	ck_assert_uint_le(st.entries, 20 * 13);
	/* crash-free reopen without a final checkpoint: child exits hard */
	ck_assert_int_eq(store_sync(s, 0), 0);
	{
		struct store_doc_info before[20], after;
		for (int i = 0; i < 20; i++)
			ck_assert_int_eq(store_doc_info(s, ids[i], &before[i]),
					 0);
		ck_assert_int_eq(store_close(s), 0);
		check_clean(dir);
		ck_assert_int_eq(store_open(dir, &o, &s), 0);
		for (int i = 0; i < 20; i++) {
			ck_assert_int_eq(store_doc_info(s, ids[i], &after), 0);
			ck_assert_uint_eq(after.seq, before[i].seq);
			ck_assert_uint_eq(after.entries, before[i].entries);
			ck_assert_uint_eq(after.stored_bytes,
					  before[i].stored_bytes);
		}
	}
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_unclosed_store_recovers_synced_changes)
{
	char *dir = test_tmpdir();
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_options o;
		struct store *s;
		uint64_t sp, id;

		store_options_default(&o);
		o.commit_ms = 0;
		if (store_open(dir, &o, &s) ||
		    store_space_create(s, "sp", &M, &sp, NULL) ||
		    store_doc_create(s, sp, "k", &M, &id, NULL) ||
		    store_append(s, id, "hello", 5, NULL, NULL) ||
		    store_sync(s, 0))
			_exit(1);
		_exit(0); /* no close: the log is not checkpointed */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_clean(dir);
	{
		struct store *s = open_store(dir, 1 << 20);
		struct collect col = { 0 };
		uint64_t sp, id;
		ck_assert_int_eq(store_space_lookup(s, "sp", &sp), 0);
		ck_assert_int_eq(store_doc_lookup(s, sp, "k", &id), 0);
		ck_assert_int_eq(store_read(s, id, collect_fn, &col), 0);
		ck_assert_int_eq(col.n, 1);
		ck_assert_uint_eq(col.len[0], 5);
		ck_assert_int_eq(store_close(s), 0);
	}
	test_rmdir(dir);
}
END_TEST

static int tomb_count_fn(void *arg, uint64_t id, const char *space,
			 const char *key)
{
	(void)id;
	(void)space;
	(void)key;
	(*(int *)arg)++;
	return 0;
}

/* The test's clock (util/clock.h): wall time is what the test sets. */
static int64_t fake_real_ns;

static int64_t fake_now_ns(enum clock_kind kind)
{
	if (kind == CLOCK_KIND_REAL)
		return __atomic_load_n(&fake_real_ns, __ATOMIC_RELAXED);
	return clock_real_ops()->now_ns(kind);
}

static const struct clock_ops fake_clock = { .now_ns = fake_now_ns };

static int64_t mtime_of(struct store *s, uint64_t id)
{
	struct store_doc_info info;

	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_int_eq(info.meta.ctime_ns, info.meta.mtime_ns);
	return info.meta.mtime_ns;
}

/* A document's time is its last append's, stamped from the clock seam at
 * the append and carried by the log through replay and a checkpoint's
 * snapshot: a day passes between two appends without the test waiting. */
START_TEST(test_store_stamps_appends_with_the_clock_and_keeps_the_stamp)
{
	const int64_t t1 = 1700000000LL * 1000000000LL,
		      day = 86400LL * 1000000000LL;
	char *dir = test_tmpdir();
	struct store *s;
	uint64_t sp, a, b;

	fake_real_ns = t1;
	clock_set_ops(&fake_clock);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(mtime_of(s, STORE_ROOT_ID),
			 t1); /* the store's birth */
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, b, "y", 1, NULL, NULL), 0);
	ck_assert_int_eq(mtime_of(s, a), t1);
	__atomic_store_n(&fake_real_ns, t1 + day, __ATOMIC_RELAXED);
	ck_assert_int_eq(store_append(s, a, "z", 1, NULL, NULL), 0);
	ck_assert_int_eq(mtime_of(s, a), t1 + day);
	ck_assert_int_eq(mtime_of(s, b), t1);
	ck_assert_int_eq(store_close(s), 0);
	/* replayed from the log */
	__atomic_store_n(&fake_real_ns, t1 + 2 * day, __ATOMIC_RELAXED);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(mtime_of(s, a), t1 + day);
	ck_assert_int_eq(mtime_of(s, b), t1);
	ck_assert_int_eq(mtime_of(s, STORE_ROOT_ID), t1);
	/* from the checkpoint's snapshot */
	ck_assert_int_eq(store_checkpoint(s), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(mtime_of(s, a), t1 + day);
	ck_assert_int_eq(mtime_of(s, b), t1);
	ck_assert_int_eq(store_append(s, b, "w", 1, NULL, NULL), 0);
	ck_assert_int_eq(mtime_of(s, b), t1 + 2 * day);
	ck_assert_int_eq(store_close(s), 0);
	clock_set_ops(NULL);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_meta_backup_and_tombstones_persist)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_meta m = { 0600, 5, 6, 7, 8 };
	struct store_doc_info info;
	uint64_t sp, a;
	int n = 0;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_meta_set(s, a, &m, NULL), 0);
	ck_assert_int_eq(store_backup_mark(s, a, 1, 1234), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert_uint_eq(info.meta.mode, 0600);
	ck_assert_uint_eq(info.meta.uid, 5);
	ck_assert_uint_eq(info.backup_seq, 1);
	ck_assert_int_eq(info.backup_time_ns, 1234);
	ck_assert_int_eq(store_doc_delete(s, a, NULL), 0);
	ck_assert(store_tombstoned(s, "sp", "a"));
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert(store_tombstoned(s, "sp", "a"));
	ck_assert_int_eq(store_tombstone_list(s, tomb_count_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	n = 0;
	/* a new document with the name takes over the cloud name */
	a = mkdoc(s, sp, "a");
	ck_assert(!store_tombstoned(s, "sp", "a"));
	ck_assert_int_eq(store_tombstone_list(s, tomb_count_fn, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

struct tomb_seen {
	uint64_t id[3000];
	int state[3000]; /* per name: 1 tombstoned, 0 not */
	int n;
};

/* name i: space "a" key "b<i>" for even i, space "ab" key "<i>" for odd:
 * (a, b1) and (ab, 1) are different names with the same bytes */
static void tomb_name(int i, char *space, char *key)
{
	strcpy(space, i % 2 ? "ab" : "a");
	sprintf(key, "%s%d", i % 2 ? "" : "b", i / 2);
}

static int tomb_seen_fn(void *arg, uint64_t id, const char *space,
			const char *key)
{
	struct tomb_seen *t = arg;
	char sp[8], k[16];

	for (int i = 0; i < 3000; i++) {
		tomb_name(i, sp, k);
		if (!strcmp(sp, space) && !strcmp(k, key)) {
			ck_assert_int_eq(t->state[i], 1);
			t->id[i] = id;
			t->n++;
			return 0;
		}
	}
	ck_abort_msg("tombstone of a name never deleted: %s/%s", space, key);
	return 1;
}

static void check_tombs(struct store *s, struct tomb_seen *t)
{
	char sp[8], k[16];
	int want = 0;

	for (int i = 0; i < 3000; i++) {
		tomb_name(i, sp, k);
		ck_assert_int_eq(store_tombstoned(s, sp, k), t->state[i]);
		want += t->state[i];
	}
	ck_assert(!store_tombstoned(s, "a", "b1x"));
	ck_assert(!store_tombstoned(s, "abb", "1"));
	t->n = 0;
	ck_assert_int_eq(store_tombstone_list(s, tomb_seen_fn, t), 0);
	ck_assert_int_eq(t->n, want);
}

/* Thousands of tombstones (deletes made while the target is away): each
 * is found by its name and cleared by its id, names that share their
 * bytes across space and key are told apart, a new document takes its
 * name's tombstone away, and all of it is the same after reopen (the
 * cut-over's snapshot and the log) and fsck-clean. */
START_TEST(test_store_tombstones_found_by_name_and_cleared_by_id)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 4 << 20);
	static struct tomb_seen t;
	uint64_t sa, sab, id;
	char sp[8], k[16];

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(store_space_create(s, "a", &M, &sa, NULL), 0);
	ck_assert_int_eq(store_space_create(s, "ab", &M, &sab, NULL), 0);
	for (int i = 0; i < 3000; i++) {
		tomb_name(i, sp, k);
		id = mkdoc(s, i % 2 ? sab : sa, k);
		ck_assert_int_eq(store_append(s, id, "{}", 2, NULL, NULL), 0);
		ck_assert_int_eq(store_backup_mark(s, id, 1, 1234), 0);
		ck_assert_int_eq(store_doc_delete(s, id, NULL), 0);
		t.state[i] = 1;
	}
	check_tombs(s, &t);
	for (int i = 0; i < 3000; i += 3) {
		ck_assert_int_eq(store_tombstone_clear(s, t.id[i]), 0);
		ck_assert_int_eq(store_tombstone_clear(s, t.id[i]), -ENOENT);
		t.state[i] = 0;
	}
	for (int i = 1; i < 3000; i += 3) {
		tomb_name(i, sp, k);
		mkdoc(s, i % 2 ? sab : sa, k);
		t.state[i] = 0;
	}
	check_tombs(s, &t);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir, 4 << 20);
	check_tombs(s, &t);
	ck_assert_int_eq(store_checkpoint(s), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 4 << 20);
	check_tombs(s, &t);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

static int pending_fn(void *arg, uint64_t id)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_store_backup_pending_lists_unuploaded_documents)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	uint64_t sp, a, b;
	int n = 0;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_backup_pending(s, pending_fn, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_backup_mark(s, a, 1, 10), 0);
	ck_assert_int_eq(store_backup_mark(s, b, 0, 10), 0);
	n = 0;
	ck_assert_int_eq(store_backup_pending(s, pending_fn, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(store_append(s, a, "y", 1, NULL, NULL), 0);
	n = 0;
	ck_assert_int_eq(store_backup_pending(s, pending_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_import_creates_document_with_given_seqs)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_import_entry e[2] = { { "one", 3 }, { "two", 3 } };
	struct store_doc_info info;
	struct collect col = { 0 };
	uint64_t id;

	ck_assert_int_eq(store_import(s, "sp", "k", &M, e, 2, 9, &id, NULL), 0);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_uint_eq(info.seq, 9);
	ck_assert_uint_eq(info.backup_seq, 9);
	ck_assert_int_eq(store_read(s, id, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 2);
	ck_assert_uint_eq(col.seq[0], 8);
	ck_assert_int_eq(store_import(s, "sp", "k", &M, e, 2, 9, &id, NULL),
			 -EEXIST);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_append_replace_is_snapshot_plus_trim)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct collect col = { 0 };
	uint64_t sp, a, seq;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(store_append(s, a, "p", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_append_replace(s, a, "S", 1, 9, NULL, NULL),
			 -EAGAIN);
	ck_assert_int_eq(store_append_replace(s, a, "S", 1, 10, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 11);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 1);
	ck_assert_int_eq(col.first[0], 'S');
	ck_assert_uint_eq(free_bytes(s), (1 << 20) - 1);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

/*
 * Fault injection: fail the nth call of one I/O kind in a workload of
 * synced appends and checkpoints.  After the first error the store must
 * never acknowledge again; after reopening, every acknowledged append is
 * there and fsck is clean.
 */
static void fault_round(enum io_op op, unsigned long nth, int err, int *fired)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store *s;
	uint64_t sp = 0, ids[3] = { 0 }, acked[3] = { 0 };
	bool failed = false;
	int rc;

	store_options_default(&o);
	o.capacity_bytes = 1 << 16;
	o.commit_ms = 0;
	o.cutover_bytes = 2048;
	io_fault_install();
	io_fault_arm(op, nth, err, IO_FAULT_ONCE);
	rc = store_open(dir, &o, &s);
	if (rc) {
		ck_assert(io_fault_fired());
		io_fault_uninstall();
		*fired = 1;
		test_rmdir(dir);
		return;
	}
	if (store_space_create(s, "sp", &M, &sp, NULL) == 0)
		for (int i = 0; i < 3; i++) {
			char k[4] = { 'k', (char)('0' + i), 0, 0 };
			if (store_doc_create(s, sp, k, &M, &ids[i], NULL))
				failed = true;
		}
	else
		failed = true;
	if (!failed && store_sync(s, 0))
		failed = true;
	for (int i = 0; i < 60 && !failed; i++) {
		uint64_t seq, lsn;
		char buf[64];

		fill(buf, sizeof(buf), i);
		rc = store_append(s, ids[i % 3], buf, sizeof(buf), &seq, &lsn);
		if (!rc)
			rc = store_sync(s, lsn);
		if (!rc && i % 10 == 9)
			rc = store_checkpoint(s);
		if (rc) {
			failed = true;
			break;
		}
		acked[i % 3] = seq;
	}
	if (failed) {
		/* fail-stop: nothing is acknowledged any more */
		ck_assert_int_ne(store_append(s, ids[0], "z", 1, NULL, NULL),
				 0);
		ck_assert_int_ne(store_sync(s, 0), 0);
	}
	*fired = io_fault_fired();
	ck_assert(failed == *fired || !failed);
	store_close(s);
	io_fault_uninstall();

	check_clean(dir);
	s = open_store(dir, 1 << 16);
	if (ids[0]) {
		for (int i = 0; i < 3; i++) {
			struct store_doc_info info;
			if (!acked[i])
				continue;
			ck_assert_int_eq(store_doc_info(s, ids[i], &info), 0);
			ck_assert_uint_ge(info.seq, acked[i]);
		}
	}
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}

START_TEST(test_store_fails_stop_on_every_injected_fault)
{
	static const enum io_op ops[] = { IO_OP_PWRITE, IO_OP_FDATASYNC,
					  IO_OP_FSYNC,	IO_OP_MSYNC,
					  IO_OP_RENAME, IO_OP_FALLOCATE };
	int rounds = 0;

	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		for (unsigned long nth = 1; nth < 200; nth++) {
			int fired = 0;
			fault_round(ops[k], nth, k % 2 ? ENOSPC : EIO, &fired);
			rounds++;
			if (!fired)
				break; /* the workload makes fewer calls */
		}
	}
	/* short writes */
	for (unsigned long nth = 1; nth < 200; nth++) {
		int fired = 0;
		fault_round(IO_OP_PWRITE, nth, IO_FAULT_SHORT, &fired);
		rounds++;
		if (!fired)
			break;
	}
	ck_assert_int_gt(rounds, 50);
}
END_TEST

START_TEST(test_store_batch_append_is_all_or_nothing)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 4096);
	struct store_import_entry e[3] = { { "one", 3 },
					   { "two", 3 },
					   { "three", 5 } };
	struct store_import_entry big[2] = { { "x", 1 }, { NULL, 0 } };
	struct collect col = { 0 };
	static char huge[5000];
	uint64_t sp, a, seq;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	ck_assert_int_eq(store_append_batch(s, a, e, 3, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 3);
	big[1].buf = huge;
	big[1].len = sizeof(huge);
	ck_assert_int_eq(store_append_batch(s, a, big, 2, &seq, NULL), -ENOSPC);
	ck_assert_uint_eq(free_bytes(s), 4096 - 11);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 3);
	ck_assert_int_eq(col.first[2], 't');
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* Regression: a document created at a name whose older document's cloud
 * copy is still there must leave a tombstone when deleted before its own
 * upload, or the old copy would come back on restore. */
START_TEST(test_store_recreated_name_keeps_cloud_copy_ownership)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_doc_info info;
	uint64_t sp, a, b;
	int n = 0;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_backup_mark(s, a, 1, 99), 0);
	ck_assert_int_eq(store_doc_delete(s, a, NULL), 0);
	ck_assert(store_tombstoned(s, "sp", "a"));
	b = mkdoc(s, sp, "a");
	ck_assert(!store_tombstoned(s, "sp", "a"));
	ck_assert_int_eq(store_doc_info(s, b, &info), 0);
	ck_assert_int_eq(info.backup_time_ns, -1);
	ck_assert_int_eq(store_backup_pending(s, pending_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_delete(s, b, NULL), 0);
	ck_assert(store_tombstoned(s, "sp", "a"));
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_backup_mark_named_refuses_a_renamed_document)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_meta m = M;
	struct store_doc_info info;
	uint64_t sp, a;
	int n = 0;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_doc_rename(s, a, sp, "b", 0, NULL), 0);
	ck_assert_int_eq(store_backup_mark_named(s, a, "sp", "a", 1, 5),
			 -ESTALE);
	ck_assert_int_eq(store_backup_mark_named(s, a, "sp", "b", 1, 5), 0);
	/* a metadata change makes the copy stale, also after reopen */
	m.mode = 0600;
	ck_assert_int_eq(store_meta_set(s, a, &m, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert_int_eq(info.backup_time_ns, -1);
	ck_assert_int_eq(store_backup_pending(s, pending_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_root_metadata_persists)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_meta m = { 0700, 7, 8, 9, 10 };
	struct store_doc_info info;

	ck_assert_int_eq(store_doc_info(s, STORE_ROOT_ID, &info), 0);
	ck_assert(info.is_space);
	ck_assert_uint_eq(info.meta.mode, 0755);
	ck_assert_int_eq(store_meta_set(s, STORE_ROOT_ID, &m, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_info(s, STORE_ROOT_ID, &info), 0);
	ck_assert_uint_eq(info.meta.mode, 0700);
	ck_assert_uint_eq(info.meta.uid, 7);
	ck_assert_int_eq(info.meta.mtime_ns, 9);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/*
 * Checkpoints while other threads append: a checkpoint holds changes back
 * only while it writes the snapshot, so appends and syncs go on during
 * its msync, log sync and rename.  Two writers (one also trims) append
 * and sync while a third thread checkpoints in a loop, in a child that
 * ends with _exit (no clean close).  Every synced entry must be back,
 * byte for byte, after the parent reopens, and fsck must be clean.
 */
#define CW_N 400

struct cw {
	struct store *s;
	uint64_t id;
	bool trims;
	uint64_t acked; /* last synced seq */
	int done;
};

static void cw_entry(char *buf, size_t *len, uint64_t seq)
{
	*len = 64 + (size_t)(seq % 137);
	memset(buf, 'a' + (int)(seq % 26), *len);
}

static void *cw_writer(void *arg)
{
	struct cw *w = arg;
	char buf[256];
	size_t len;

	for (uint64_t seq = 1; seq <= CW_N; seq++) {
		uint64_t got, lsn;

		cw_entry(buf, &len, seq);
		if (store_append(w->s, w->id, buf, len, &got, &lsn) ||
		    got != seq)
			abort();
		if (w->trims && seq % 100 == 0 &&
		    store_trim(w->s, w->id, 50, &lsn))
			abort();
		if (seq % 3 == 0 || seq == CW_N) {
			if (store_sync(w->s, lsn))
				abort();
			w->acked = seq;
		}
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct cw_check {
	uint64_t next;
	int bad;
};

static int cw_check_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct cw_check *c = arg;
	char want[256];
	size_t wlen;

	cw_entry(want, &wlen, seq);
	if (seq != c->next || len != wlen || memcmp(buf, want, len))
		c->bad++;
	c->next++;
	return 0;
}

START_TEST(test_store_changes_go_on_during_checkpoints)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store *s;
	uint64_t sp, ids[2];
	int fds[2];
	pid_t pid;
	int status;

	store_options_default(&o);
	o.capacity_bytes = 4 << 20;
	o.cutover_bytes = 16384;
	o.commit_ms = 5;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ids[0] = mkdoc(s, sp, "plain");
	ids[1] = mkdoc(s, sp, "trimmed");
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct cw w[2] = { { NULL, ids[0], false, 0, 0 },
				   { NULL, ids[1], true, 0, 0 } };
		struct store_stats st;
		pthread_t t[2];
		uint64_t out[3];

		if (store_open(dir, &o, &s))
			_exit(1);
		w[0].s = w[1].s = s;
		for (int i = 0; i < 2; i++)
			if (pthread_create(&t[i], NULL, cw_writer, &w[i]))
				_exit(2);
		while (!__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE) ||
		       !__atomic_load_n(&w[1].done, __ATOMIC_ACQUIRE))
			if (store_checkpoint(s))
				_exit(3);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		store_stats(s, &st);
		out[0] = w[0].acked;
		out[1] = w[1].acked;
		out[2] = st.cutovers;
		if (write(fds[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(4);
		_exit(0); /* no close: recovery reads the last cut-over's log */
	}
	close(fds[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	{
		uint64_t in[3];
		struct cw_check c0 = { 1, 0 }, c1 = { CW_N - 49, 0 };

		ck_assert_int_eq(read(fds[0], in, sizeof(in)),
				 (ssize_t)sizeof(in));
		close(fds[0]);
		ck_assert_uint_eq(in[0], CW_N);
		ck_assert_uint_eq(in[1], CW_N);
		ck_assert_uint_gt(in[2], 2);
		check_clean(dir);
		ck_assert_int_eq(store_open(dir, &o, &s), 0);
		ck_assert_int_eq(store_read(s, ids[0], cw_check_fn, &c0), 0);
		ck_assert_int_eq(c0.bad, 0);
		ck_assert_uint_eq(c0.next, CW_N + 1);
		ck_assert_int_eq(store_read(s, ids[1], cw_check_fn, &c1), 0);
		ck_assert_int_eq(c1.bad, 0);
		ck_assert_uint_eq(c1.next, CW_N + 1);
	}
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_grows_and_keeps_growth_after_reopen)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 8192);
	char buf[4096];
	uint64_t sp, a;

	memset(buf, 'g', sizeof(buf));
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	ck_assert_int_eq(store_append(s, a, buf, 4096, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, a, buf, 4096, NULL, NULL), 0);
	ck_assert_int_eq(store_append(s, a, buf, 1, NULL, NULL), -ENOSPC);
	ck_assert_int_eq(store_grow(s, 65536), 0);
	ck_assert_uint_eq(free_bytes(s), 65536 - 8192);
	ck_assert_int_eq(store_append(s, a, buf, 4096, NULL, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir, 8192);
	ck_assert_uint_eq(free_bytes(s), 65536 - 3 * 4096);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

/* ---- online growth (store/grow.c) ---- */

static struct store *open_growing(const char *dir, uint64_t cap, uint64_t max,
				  uint64_t min_free, uint32_t commit_ms)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = cap;
	o.max_capacity_bytes = max;
	o.min_free_bytes = min_free;
	o.commit_ms = commit_ms;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

/* Entry i of a growth test: 4 KiB naming i in every byte. */
#define GE_LEN 4096
static void growth_entry(char *buf, uint64_t i)
{
	for (size_t k = 0; k < GE_LEN; k++)
		buf[k] = (char)('A' + (i * 7 + k / 512) % 26);
}

struct gcheck {
	uint64_t next;
	int bad;
};

static int gcheck_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct gcheck *c = arg;
	char want[GE_LEN];

	growth_entry(want, seq);
	if (seq != c->next || len != GE_LEN || memcmp(buf, want, len) != 0)
		c->bad++;
	c->next = seq + 1;
	return 0;
}

/* Every entry 1..n of document id reads back exactly. */
static void growth_check(struct store *s, uint64_t id, uint64_t n)
{
	struct gcheck c = { 1, 0 };

	ck_assert_int_eq(store_read(s, id, gcheck_fn, &c), 0);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_uint_eq(c.next, n + 1);
}

/* Append 4 KiB entries until the store refuses one; returns how many
 * were taken and the refusal in *rc. */
static uint64_t growth_fill(struct store *s, uint64_t id, uint64_t from,
			    int *rc)
{
	char buf[GE_LEN];
	uint64_t i = from, seq;

	for (;; i++) {
		growth_entry(buf, i);
		*rc = store_append(s, id, buf, GE_LEN, &seq, NULL);
		if (*rc)
			break;
		ck_assert_uint_eq(seq, i);
	}
	return i - 1;
}

static void growth_until_max(uint32_t commit_ms)
{
	const uint64_t cap = 1 << 20, max = 5 << 20;
	char *dir = test_tmpdir();
	struct store *s = open_growing(dir, cap, max, 0, commit_ms);
	struct store_stats st;
	uint64_t sp, a, n;
	int rc;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	n = growth_fill(s, a, 1, &rc);
	/* no refusal before max_capacity is all but used up */
	ck_assert_int_eq(rc, -ENOSPC);
	store_stats(s, &st);
	ck_assert_uint_eq(st.capacity_bytes, max);
	ck_assert_uint_lt(st.free_bytes, GE_LEN);
	ck_assert_uint_eq(n, max / GE_LEN);
	/* each growth at least doubles (1M, 2M, 4M, capped at 5M), more
	 * when the runway of a fast writer asks more: 3 growths at most */
	ck_assert_uint_ge(st.grows, 1);
	ck_assert_uint_le(st.grows, 3);
	growth_check(s, a, n);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_growing(dir, cap, max, 0, commit_ms);
	store_stats(s, &st);
	ck_assert_uint_eq(st.capacity_bytes, max);
	growth_check(s, a, n);
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), -ENOSPC);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}

START_TEST(test_store_grows_online_until_max_capacity)
{
	growth_until_max(0); /* growth ahead in the changing thread */
	growth_until_max(5); /* ... on the checkpointer thread */
}
END_TEST

/* A write larger than what doubling gives grows by at least the write;
 * growth made while a checkpoint runs keeps the old map alive for it;
 * an unsynced store killed after growth recovers every synced entry. */
START_TEST(test_store_growth_covers_large_writes_and_survives_kill)
{
	char *dir = test_tmpdir();
	struct store *s = open_growing(dir, 64 << 10, 0, 0, 0);
	static char big[3 << 20];
	struct store_stats st;
	uint64_t sp, a, lsn;
	pid_t pid;
	int status;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(store_append(s, a, big, sizeof(big), NULL, &lsn), 0);
	store_stats(s, &st);
	ck_assert_uint_ge(st.capacity_bytes, sizeof(big));
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[GE_LEN];
		uint64_t b;

		s = open_growing(dir, 64 << 10, 0, 0, 5);
		if (store_doc_create(s, sp, "b", &M, &b, NULL))
			_exit(2);
		for (uint64_t i = 1; i <= 2000; i++) {
			growth_entry(buf, i);
			if (store_append(s, b, buf, GE_LEN, NULL, &lsn) ||
			    store_sync(s, lsn))
				_exit(3);
		}
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	check_clean(dir);
	s = open_growing(dir, 64 << 10, 0, 0, 0);
	{
		uint64_t b;

		ck_assert_int_eq(store_doc_lookup(s, sp, "b", &b), 0);
		growth_check(s, b, 2000);
	}
	store_stats(s, &st);
	ck_assert_uint_ge(st.capacity_bytes, sizeof(big) + 2000 * GE_LEN);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* A private tmpfs of size_mib over dir (a mount namespace of this test
 * process only: Check runs each test in a child).  Root, or a user
 * namespace. */
static void private_tmpfs(const char *dir, int size_mib)
{
	char opt[32];

	if (unshare(CLONE_NEWNS) < 0) {
		uid_t u = getuid();
		gid_t g = getgid();
		char map[64];
		int fd;

		ck_assert_msg(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
			      "cannot make a mount namespace: %s",
			      strerror(errno));
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			ck_assert_int_eq(write(fd, "deny", 4), 4);
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)u);
		fd = open("/proc/self/uid_map", O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_gt(write(fd, map, strlen(map)), 0);
		close(fd);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)g);
		fd = open("/proc/self/gid_map", O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_gt(write(fd, map, strlen(map)), 0);
		close(fd);
	}
	/* a propagation change ignores source and type; named anyway, as
	 * valgrind checks them as strings */
	ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL),
			 0);
	snprintf(opt, sizeof(opt), "size=%dm", size_mib);
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, opt) == 0,
		      "cannot mount a tmpfs: %s", strerror(errno));
}

/* Growth stops short of min_free on a real (small) file system: ENOSPC
 * while the disk still holds min_free, nothing lost. */
START_TEST(test_store_growth_keeps_min_free_on_the_disk)
{
	const uint64_t min_free = 12 << 20;
	char *dir = test_tmpdir(), sdir[4096];
	struct store_options o;
	struct store_stats st;
	struct statvfs v;
	struct store *s;
	uint64_t sp, a, n, total, avail;
	int rc;

	private_tmpfs(dir, 32);
	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	o.min_free_bytes = min_free;
	o.cutover_bytes = 256 << 10;
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(sdir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	n = growth_fill(s, a, 1, &rc);
	ck_assert_int_eq(rc, -ENOSPC);
	store_stats(s, &st);
	ck_assert_int_eq(statvfs(sdir, &v), 0);
	total = (uint64_t)v.f_blocks * v.f_frsize;
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	ck_assert_uint_gt(st.grows, 0);
	/* the data file left min_free to the rest (the log included) */
	ck_assert_uint_le(st.capacity_bytes + 4096, total - min_free);
	/* and took nearly all it was allowed: what remains is the log's */
	ck_assert_uint_ge(st.capacity_bytes + 4096 + 2 * st.log_bytes +
				  (2 << 20),
			  total - min_free);
	ck_assert_uint_ge(avail + 2 * st.log_bytes, min_free);
	growth_check(s, a, n);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(sdir);
	ck_assert_int_eq(store_open(sdir, &o, &s), 0);
	growth_check(s, a, n);
	/* a smaller min_free lets it grow on */
	ck_assert_int_eq(store_close(s), 0);
	o.min_free_bytes = 4 << 20;
	ck_assert_int_eq(store_open(sdir, &o, &s), 0);
	{
		char buf[GE_LEN];

		growth_entry(buf, n + 1);
		ck_assert_int_eq(store_append(s, a, buf, GE_LEN, NULL, NULL),
				 0);
	}
	ck_assert_int_eq(store_close(s), 0);
	check_clean(sdir);
	ck_assert_int_eq(umount(dir), 0);
	test_rmdir(dir);
}
END_TEST

/*
 * A fault at every I/O call of a growth: the store is filled to just
 * above its growth mark, the fault is armed, and synced appends go on
 * through a growth (fallocate, header copies written with a sync each,
 * then appends in the new space).  A failed preallocation is invisible to
 * the writer (the growth is tried again when space is needed); any other
 * failure stops the store.  Reopened without faults, the store is
 * fsck-clean, holds every acknowledged entry exactly, and grows again.
 */
static void growth_fault_round(enum io_op op, unsigned long nth, int err,
			       int *fired)
{
	const uint64_t cap = 64 << 10;
	char *dir = test_tmpdir(), buf[GE_LEN];
	struct store_stats st;
	struct store *s;
	uint64_t sp, a, i, acked = 0, lsn, seq;
	int rc = 0;

	s = open_growing(dir, cap, 0, 0, 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	for (i = 1; i <= 12; i++) { /* 48K of 64K: the next one asks */
		growth_entry(buf, i);
		ck_assert_int_eq(store_append(s, a, buf, GE_LEN, NULL, &lsn),
				 0);
	}
	ck_assert_int_eq(store_sync(s, 0), 0);
	acked = 12;
	io_fault_install();
	io_fault_arm(op, nth, err, IO_FAULT_ONCE);
	for (; i <= 40; i++) {
		growth_entry(buf, i);
		rc = store_append(s, a, buf, GE_LEN, &seq, &lsn);
		if (!rc)
			rc = store_sync(s, lsn);
		if (rc)
			break;
		acked = i;
	}
	*fired = io_fault_fired();
	if (op == IO_OP_FALLOCATE)
		ck_assert_int_eq(rc,
				 0); /* tried again, the writer saw nothing */
	if (rc) {
		ck_assert(*fired);
		ck_assert_int_ne(store_append(s, a, "z", 1, NULL, NULL), 0);
	}
	store_close(s);
	io_fault_uninstall();

	check_clean(dir);
	s = open_growing(dir, cap, 0, 0, 0);
	store_stats(s, &st);
	{
		struct store_doc_info info;

		ck_assert_int_eq(store_doc_info(s, a, &info), 0);
		ck_assert_uint_ge(info.seq, acked);
		growth_check(s, a, info.seq);
		acked = info.seq;
	}
	/* it grows again */
	for (i = acked + 1; i <= acked + 300; i++) {
		growth_entry(buf, i);
		ck_assert_int_eq(store_append(s, a, buf, GE_LEN, NULL, NULL),
				 0);
	}
	growth_check(s, a, acked + 300);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}

START_TEST(test_store_growth_survives_a_fault_at_every_step)
{
	static const struct {
		enum io_op op;
		int err;
	} f[] = { { IO_OP_FALLOCATE, ENOSPC },
		  { IO_OP_FALLOCATE, EIO },
		  { IO_OP_FSYNC, EIO },
		  { IO_OP_PWRITE_DSYNC, EIO },
		  { IO_OP_PWRITE_DSYNC, IO_FAULT_SHORT },
		  { IO_OP_PWRITE, EIO },
		  { IO_OP_PWRITE, IO_FAULT_SHORT },
		  { IO_OP_FDATASYNC, EIO },
		  { IO_OP_MSYNC, EIO } };
	int rounds = 0, fired_rounds = 0;

	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		for (unsigned long nth = 1; nth < 100; nth++) {
			int fired = 0;

			growth_fault_round(f[k].op, nth, f[k].err, &fired);
			rounds++;
			fired_rounds += fired;
			if (!fired)
				break; /* past the workload's last call */
		}
	}
	/* fallocate 1 + synced header writes 2, twice (failed, short) +
	 * pwrite ~30 twice + fdatasync ~28 */
	ck_assert_int_gt(fired_rounds, 80);
}
END_TEST

/* The header is kept twice: either copy damaged (a torn rewrite), the
 * other opens the store with its capacity; both damaged, the open is
 * refused; a data file of the older format (nothing at 512) opens. */
START_TEST(test_store_header_copies_survive_one_damaged)
{
	char *dir = test_tmpdir(), path[4096];
	struct store_stats st;
	struct store *s;
	uint8_t b, b20;
	int fd;

	s = open_store(dir, 8192);
	ck_assert_int_eq(store_grow(s, 65536), 0);
	ck_assert_int_eq(store_close(s), 0);
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	/* the first copy torn */
	ck_assert_int_eq(pread(fd, &b20, 1, 20), 1);
	b = b20 ^ 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, 20), 1);
	s = open_store(dir, 8192);
	store_stats(s, &st);
	ck_assert_uint_eq(st.capacity_bytes, 65536);
	ck_assert_int_eq(store_close(s), 0);
	/* both torn */
	ck_assert_int_eq(pread(fd, &b, 1, 512 + 20), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, 512 + 20), 1);
	{
		struct store_options o;

		store_options_default(&o);
		o.commit_ms = 0;
		ck_assert_int_eq(store_open(dir, &o, &s), -EBADMSG);
	}
	/* the first copy whole again, the second gone (the older format) */
	ck_assert_int_eq(pwrite(fd, &b20, 1, 20), 1);
	{
		static const uint8_t zero[64];

		ck_assert_int_eq(pwrite(fd, zero, sizeof(zero), 512), 64);
	}
	close(fd);
	s = open_store(dir, 8192);
	store_stats(s, &st);
	ck_assert_uint_eq(st.capacity_bytes, 65536);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* The store's identity: made at creation, never zero, kept across reopens
 * and growth, different for another store; a data file made before
 * identities existed (zeros in the header) gets one at its first writable
 * open and keeps it, and reads as zero read-only before that. */
/* How many pages of [off, off + len) of the file at path the page cache
 * holds. */
static size_t pages_resident(const char *path, uint64_t off, uint64_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = len / pg, got = 0;
	unsigned char *v = calloc(n, 1);
	int fd = open(path, O_RDONLY);
	void *m;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_ge(fd, 0);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	ck_assert(m != MAP_FAILED);
	ck_assert_int_eq(mincore(m, len, v), 0);
	for (size_t i = 0; i < n; i++)
		got += v[i] & 1;
	munmap(m, len);
	close(fd);
	free(v);
	return got;
}

/* Does this kernel have MADV_POPULATE_WRITE (Linux 5.14)? */
static bool populate_works(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	ck_assert(m != MAP_FAILED);
	ok = madvise(m, 4096, 23 /* MADV_POPULATE_WRITE */) == 0;
	munmap(m, 4096);
	return ok;
}

struct sum {
	uint64_t n, bytes;
	uint32_t crc;
};

static int sum_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct sum *u = arg;

	(void)seq;
	u->n++;
	u->bytes += len;
	u->crc = crc32c_extend(u->crc, buf, len);
	return 0;
}

/* A store with its background threads (commit_ms not 0). */
static struct store *open_store_threads(const char *dir, uint64_t cap)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = cap;
	o.max_capacity_bytes = cap;
	o.reserved_prefix = ".caravan";
	ck_assert_uint_gt(o.commit_ms, 0);
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

/* The pages ahead of the space appends take are populated off the
 * appending thread (the warmer, store/datafile.c), and the entries
 * written meanwhile read back intact, before and after a reopen. */
START_TEST(test_store_pages_ahead_of_appends_are_populated)
{
	char *dir = test_tmpdir(), path[4096], buf[100];
	const uint64_t ahead = DATA_HDR + (2u << 20), span = 1u << 20;
	struct store *s = open_store_threads(dir, 32u << 20);
	struct sum want = { 0 }, got = { 0 };
	uint64_t sp, id;
	time_t deadline;

	/* no read-around: the first append's page fault reads in its page
	 * only, not the megabytes around it (read_ahead_kb) */
	ck_assert_int_eq(madvise(s->map, s->map_len, MADV_RANDOM), 0);
	snprintf(path, sizeof(path), "%s/data", dir);
	ck_assert_uint_eq(pages_resident(path, ahead, span), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	id = mkdoc(s, sp, "d");
	fill(buf, sizeof(buf), 1);
	ck_assert_int_eq(store_append(s, id, buf, sizeof(buf), NULL, NULL),
			 0);
	sum_entry(&want, 1, buf, sizeof(buf));
	deadline = time(NULL) + 20;
	while (populate_works() &&
	       pages_resident(path, ahead, span) < span / 4096 &&
	       time(NULL) < deadline)
		usleep(1000);
	/* a kernel without MADV_POPULATE_WRITE (before 5.14) has no warmer:
	 * the writer faults pages in itself, and the rest must hold */
	if (populate_works())
		ck_assert_uint_eq(pages_resident(path, ahead, span),
				  span / 4096);
	/* appends into the populated pages and past them (8 MiB) */
	for (int i = 0; i < 80000; i++) {
		fill(buf, sizeof(buf), i);
		buf[i % sizeof(buf)] = (char)i;
		ck_assert_int_eq(
			store_append(s, id, buf, sizeof(buf), NULL, NULL), 0);
		sum_entry(&want, 1, buf, sizeof(buf));
	}
	ck_assert_int_eq(store_read(s, id, sum_entry, &got), 0);
	ck_assert_uint_eq(got.n, want.n);
	ck_assert_uint_eq(got.crc, want.crc);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store_threads(dir, 32u << 20);
	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(store_read(s, id, sum_entry, &got), 0);
	ck_assert_uint_eq(got.n, want.n);
	ck_assert_uint_eq(got.bytes, want.bytes);
	ck_assert_uint_eq(got.crc, want.crc);
	ck_assert_int_eq(store_close(s), 0);
}
END_TEST

START_TEST(test_store_identity_is_made_once_and_kept)
{
	static const uint8_t zero[STORE_UUID_LEN];
	char *dir = test_tmpdir(), *dir2 = test_tmpdir();
	uint8_t a[STORE_UUID_LEN], b[STORE_UUID_LEN], c[STORE_UUID_LEN];
	struct store_options o;
	struct store *s;
	char path[4096];
	uint8_t h[64];
	int fd;

	s = open_store(dir, 8192);
	store_uuid(s, a);
	ck_assert(memcmp(a, zero, sizeof(a)) != 0);
	ck_assert_int_eq(store_grow(s, 65536), 0);
	store_uuid(s, b);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 8192);
	store_uuid(s, b);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(store_close(s), 0);

	s = open_store(dir2, 8192);
	store_uuid(s, c);
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
	ck_assert_int_eq(store_close(s), 0);

	/* an older data file: identity zeroed, header CRC made right, no
	 * second header copy */
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	memset(h + 24, 0, STORE_UUID_LEN);
	le32_put(h + 60, crc32c(h, 60));
	ck_assert_int_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	memset(h, 0, sizeof(h));
	ck_assert_int_eq(pwrite(fd, h, sizeof(h), 512), (ssize_t)sizeof(h));
	close(fd);
	store_options_default(&o);
	o.read_only = true;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	store_uuid(s, b);
	ck_assert_mem_eq(b, zero, sizeof(b));
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 8192);
	store_uuid(s, b);
	ck_assert(memcmp(b, zero, sizeof(b)) != 0);
	ck_assert(memcmp(b, a, sizeof(b)) != 0);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 8192);
	store_uuid(s, c);
	ck_assert_mem_eq(b, c, sizeof(b));
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
	test_rmdir(dir2);
}
END_TEST

static uint64_t log_bytes(struct store *s)
{
	struct store_stats st;
	store_stats(s, &st);
	return st.log_bytes;
}

/* Issue 12, defect 1: a sequence number near 2^64 (from a cloud archive)
 * is refused at import, and an append that would pass STORE_SEQ_MAX is
 * refused without a trace, so the store never wraps to 0 and never logs a
 * frame that cannot be replayed. */
START_TEST(test_store_seq_is_bounded_far_below_wrap)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_import_entry e[2] = { { "one", 3 }, { "two", 3 } };
	struct store_doc_info info;
	uint64_t id, other, sp, at;

	at = log_bytes(s);
	ck_assert_int_eq(store_import(s, "sp", "k", &M, e, 2, UINT64_MAX, &id,
				      NULL),
			 -EINVAL);
	ck_assert_int_eq(store_import(s, "sp", "k", &M, e, 2, STORE_SEQ_MAX + 1,
				      &id, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_import(s, "sp", "k", &M, NULL, 0, UINT64_MAX,
				      &id, NULL),
			 -EINVAL);
	ck_assert_uint_eq(log_bytes(s), at);
	ck_assert_int_eq(store_space_lookup(s, "sp", &sp), -ENOENT);

	ck_assert_int_eq(store_import(s, "sp", "k", &M, e, 2, STORE_SEQ_MAX,
				      &id, NULL),
			 0);
	at = log_bytes(s);
	ck_assert_int_eq(store_append(s, id, "x", 1, NULL, NULL), -EOVERFLOW);
	ck_assert_int_eq(store_append_batch(s, id, e, 2, NULL, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(store_append_replace(s, id, "x", 1, STORE_SEQ_MAX,
					      NULL, NULL),
			 -EOVERFLOW);
	ck_assert_uint_eq(log_bytes(s), at);
	/* the store is not failed: other documents go on */
	ck_assert_int_eq(store_space_lookup(s, "sp", &sp), 0);
	other = mkdoc(s, sp, "other");
	ck_assert_int_eq(store_append(s, other, "y", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_uint_eq(info.seq, STORE_SEQ_MAX);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

static int check_frame(struct store *s, struct wal_buf *b)
{
	int rc = store_check_frame(s, b->p, b->len);
	b->len = 0;
	return rc;
}

/* Issue 12, defect 1: the rules replay applies are checked over a whole
 * frame before it is logged, with the effect of its earlier records. */
START_TEST(test_store_frame_check_follows_replay_rules)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct wal_meta wm = { 0644, 0, 0, 1, 1 };
	struct wal_buf b;
	uint64_t sp, id, nid, at;

	wal_buf_init(&b);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	id = mkdoc(s, sp, "k");
	ck_assert_int_eq(store_append(s, id, "x", 1, NULL, NULL), 0);
	at = log_bytes(s);
	nid = s->next_id;

	/* an append to no document, a seq that does not increase, a wrap */
	wal_put_append(&b, nid + 5, 1, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_append(&b, id, 1, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_append(&b, id, STORE_SEQ_MAX + 1, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_append(&b, id, 2, 0, 0, "", 0, 0);
	wal_put_append(&b, id, 2, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_append(&b, id, 2, 0, 0, "", 0, 0);
	wal_put_append(&b, id, 3, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), 0);

	/* a space and a document in it, in one frame; a name taken twice */
	wal_put_mkspace(&b, nid, &wm, "new");
	wal_put_mapkey(&b, nid + 1, nid, &wm, "a");
	wal_put_append(&b, nid + 1, 7, 0, 0, "", 0, 0);
	ck_assert_int_eq(check_frame(s, &b), 0);
	wal_put_mapkey(&b, nid, sp, &wm, "a");
	wal_put_mapkey(&b, nid + 1, sp, &wm, "a");
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_mapkey(&b, nid, sp, &wm, "k");
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);

	/* a removed key frees its name; a space empties only without kids */
	wal_put_id(&b, WAL_DELETE, id);
	wal_put_id(&b, WAL_DELKEY, id);
	wal_put_mapkey(&b, nid, sp, &wm, "k");
	ck_assert_int_eq(check_frame(s, &b), 0);
	wal_put_id(&b, WAL_RMSPACE, sp);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);
	wal_put_id(&b, WAL_DELKEY, id);
	wal_put_id(&b, WAL_RMSPACE, sp);
	ck_assert_int_eq(check_frame(s, &b), 0);
	wal_put_id(&b, WAL_DELKEY, id);
	wal_put_id(&b, WAL_DELKEY, id);
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);

	/* a rename moves the name: the old one is free, the new one taken */
	wal_put_rename(&b, id, sp, "moved");
	wal_put_mapkey(&b, nid, sp, &wm, "k");
	ck_assert_int_eq(check_frame(s, &b), 0);
	wal_put_rename(&b, id, sp, "moved");
	wal_put_mapkey(&b, nid, sp, &wm, "moved");
	ck_assert_int_eq(check_frame(s, &b), -EBADMSG);

	/* checking changed nothing */
	ck_assert_uint_eq(log_bytes(s), at);
	ck_assert_uint_eq(s->next_id, nid);
	wal_buf_release(&b);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

static int count_id(void *arg, uint64_t id)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

static int pending(struct store *s)
{
	int n = 0;
	ck_assert_int_eq(store_backup_pending(s, count_id, &n), 0);
	return n;
}

/* Issue 12, defect 7: upload state belongs to a target.  Another target
 * makes every document pending again, durably (by replay and through a
 * checkpoint); the same target changes nothing. */
START_TEST(test_store_new_backup_target_makes_every_document_pending)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 1 << 20);
	struct store_doc_info info;
	uint64_t sp, a, b;
	bool changed;
	pid_t pid;
	int status;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_backup_target(s, 0, &changed), -EINVAL);
	/* the first target recorded is adopted: nothing becomes pending */
	ck_assert_int_eq(store_backup_mark(s, a, 1, 5), 0);
	ck_assert_int_eq(store_backup_mark(s, b, 0, 5), 0);
	ck_assert_int_eq(store_backup_target(s, 111, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(pending(s), 0);
	ck_assert_int_eq(store_backup_mark(s, a, 1, 5), 0);
	ck_assert_int_eq(store_backup_mark(s, b, 0, 5), 0);
	ck_assert_int_eq(pending(s), 0);
	ck_assert_int_eq(store_backup_target(s, 111, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(pending(s), 0);
	ck_assert_int_eq(store_checkpoint(s), 0);
	ck_assert_int_eq(store_close(s), 0);

	/* the change is logged: a process that dies after it (no
	 * checkpoint) leaves it to replay */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_options o;

		store_options_default(&o);
		o.commit_ms = 0;
		if (store_open(dir, &o, &s) ||
		    store_backup_target(s, 111, &changed) || changed ||
		    pending(s) != 0 || store_backup_target(s, 222, &changed) ||
		    !changed || pending(s) != 2 ||
		    store_doc_info(s, a, &info) || info.backup_seq != 0 ||
		    info.backup_time_ns != 0 || store_sync(s, 0))
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_clean(dir);

	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(pending(s), 2);
	ck_assert_int_eq(store_backup_target(s, 222, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(store_backup_mark(s, a, 1, 6), 0);
	ck_assert_int_eq(pending(s), 1);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* A crafted snapshot: one space and one document of one entry, announcing
 * the counts in *sb (the real ones are 1, 1, 1, 0). */
struct crafted_snap {
	struct wal_snap_begin sb;
};

static int write_crafted_snap(void *arg, struct wal_snap *sn)
{
	struct crafted_snap *c = arg;
	struct wal_meta wm = { 0755, 0, 0, 1, 1 };
	struct wal_ent e = { 1, 0, 0, 0 };
	struct wal_buf b;
	uint32_t crc = 0;
	uint64_t count = 0;
	size_t start = 0;
	int rc;

	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_snap_begin(&b, &c->sb), 0);
	ck_assert_int_eq(wal_put_snap_space(&b, 2, &wm, "sp"), 0);
	ck_assert_int_eq(wal_put_snap_doc(&b, 3, 2, 1, 0, 0, &wm, "k", &e, 1),
			 0);
	for (size_t pos = 0; pos < b.len; count++) {
		struct wal_rec r;

		ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
		crc = crc32c_extend(crc, r.body, r.body_len);
		start = pos;
	}
	ck_assert_uint_eq(start, b.len);
	ck_assert_int_eq(wal_put_snap_end(&b, crc, count), 0);
	ck_assert_int_eq(wal_put_meta(&b, STORE_ROOT_ID, &wm), 0);
	rc = wal_snap_frame(sn, b.p, b.len);
	wal_buf_release(&b);
	return rc;
}

/* Issue 19: SNAP_BEGIN's counts are checked at SNAP_END; a snapshot
 * that holds other than it announced is a format violation. */
START_TEST(test_store_snapshot_counts_are_checked_at_snap_end)
{
	static const struct {
		uint64_t spaces, docs, entries, tombs;
		int want;
	} cases[] = {
		{ 1, 1, 1, 0, 0 },	  { 2, 1, 1, 0, -EBADMSG },
		{ 0, 1, 1, 0, -EBADMSG }, { 1, 2, 1, 0, -EBADMSG },
		{ 1, 1, 0, 0, -EBADMSG }, { 1, 1, 2, 0, -EBADMSG },
		{ 1, 1, 1, 1, -EBADMSG },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = test_tmpdir();
		struct store *s = open_store(dir, 1 << 20);
		struct wal_options wo = { 0 };
		struct crafted_snap c = { 0 };
		struct store_options o;
		struct wal *w;
		uint64_t id;

		ck_assert_int_eq(store_close(s), 0);
		c.sb = (struct wal_snap_begin){ .next_id = 4,
						.next_tomb_id = 1,
						.spaces = cases[i].spaces,
						.docs = cases[i].docs,
						.entries = cases[i].entries,
						.tombs = cases[i].tombs };
		ck_assert_int_eq(
			wal_create(dir, &wo, write_crafted_snap, &c, &w), 0);
		ck_assert_int_eq(wal_close(w), 0);
		store_options_default(&o);
		o.commit_ms = 0;
		ck_assert_int_eq(store_open(dir, &o, &s), cases[i].want);
		if (cases[i].want == 0) {
			ck_assert_int_eq(store_space_lookup(s, "sp", &id), 0);
			ck_assert_uint_eq(id, 2);
			ck_assert_int_eq(store_close(s), 0);
		}
		test_rmdir(dir);
	}
}
END_TEST

struct async_note {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int rc;
};

static void async_fn(void *arg, int rc)
{
	struct async_note *a = arg;

	pthread_mutex_lock(&a->mu);
	a->calls++;
	a->rc = rc;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* ---- eviction (store/evict.h) ---- */

static int cand_ids(struct store *s, uint64_t *ids, size_t max)
{
	size_t n = 0;

	ck_assert_int_eq(store_evict_candidates(s, ids, max, &n), 0);
	return (int)n;
}

/* An eviction is refused until the document's seq is confirmed in the
 * cloud; it frees the entries and keeps node, seq and size; reads,
 * appends, renames and metadata changes are refused until a refill at
 * the same seq; all of it is replayed exactly after a crash (log) and
 * after a checkpoint (snapshot). */
/* A large entry's append takes the lock twice (docs.c, append_large);
 * other changes go on between.  Through the seam between the holds: a
 * small append to the same document makes a replace that expected the
 * old seq fail with -EAGAIN, giving its space back; a plain large append
 * takes the seq after the small one.  Every entry reads back, and after a
 * reopen. */
#define LARGE (300u << 10)

struct large_gap {
	struct store *s;
	uint64_t id;
	int calls;
	int rc;
};

static void large_gap_seam(void *arg)
{
	struct large_gap *g = arg;
	char small[100];

	g->calls++;
	fill(small, sizeof(small), 7);
	g->rc = store_append(g->s, g->id, small, sizeof(small), NULL, NULL);
}

struct large_seen {
	int n;
	size_t len[4];
	char first[4];
};

static int large_read(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct large_seen *ls = arg;
	const char *p = buf;

	(void)seq;
	ck_assert_int_lt(ls->n, 4);
	for (size_t i = 1; i < len; i++)
		ck_assert_int_eq(p[i], p[0]);
	ls->len[ls->n] = len;
	ls->first[ls->n] = len ? p[0] : 0;
	ls->n++;
	return 0;
}

static void large_expect(struct store *s, uint64_t id)
{
	struct large_seen ls = { 0 };

	ck_assert_int_eq(store_read(s, id, large_read, &ls), 0);
	ck_assert_int_eq(ls.n, 3);
	ck_assert_uint_eq(ls.len[0], LARGE);
	ck_assert_int_eq(ls.first[0], 'a' + 1);
	ck_assert_uint_eq(ls.len[1], 100);
	ck_assert_int_eq(ls.first[1], 'a' + 7);
	ck_assert_uint_eq(ls.len[2], LARGE);
	ck_assert_int_eq(ls.first[2], 'a' + 3);
}

START_TEST(test_store_large_append_lets_changes_in_between_its_two_steps)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir, 8 << 20);
	struct large_gap g = { .s = s };
	char *big = malloc(LARGE);
	uint64_t sp, seq = 0, before;

	ck_assert_ptr_nonnull(big);
	ck_assert_uint_ge(LARGE, STORE_LARGE_ENTRY);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	g.id = mkdoc(s, sp, "d");
	fill(big, LARGE, 1);
	ck_assert_int_eq(store_append(s, g.id, big, LARGE, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 1);
	before = free_bytes(s);
	s->large_seam = large_gap_seam;
	s->large_seam_arg = &g;
	/* the replace expected seq 1; the seam's append moved it to 2 */
	fill(big, LARGE, 2);
	ck_assert_int_eq(store_append_replace(s, g.id, big, LARGE, 1, &seq,
					      NULL),
			 -EAGAIN);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.rc, 0);
	/* its space came back: only the small entry took any */
	ck_assert_uint_eq(free_bytes(s), before - 100);
	/* a plain append goes after what came in between */
	s->large_seam = NULL;
	fill(big, LARGE, 3);
	ck_assert_int_eq(store_append(s, g.id, big, LARGE, &seq, NULL), 0);
	ck_assert_uint_eq(seq, 3);
	large_expect(s, g.id);
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir, 8 << 20);
	large_expect(s, g.id);
	ck_assert_int_eq(store_close(s), 0);
	free(big);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_evict_is_logged_and_replayed_exactly)
{
	char *dir = test_tmpdir();
	struct store_evict_stats es;
	struct store_doc_info info;
	struct collect col = { 0 };
	char buf[10000];
	uint64_t ids[8], sp, a, b, c, f0, *moved = NULL;
	size_t nmoved = 0;
	pid_t pid;
	int status;
	struct store *s = open_store(dir, 1 << 20);

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	a = mkdoc(s, sp, "a");
	b = mkdoc(s, sp, "b");
	c = mkdoc(s, sp, "c");
	for (int i = 0; i < 3; i++) {
		fill(buf, sizeof(buf), i);
		ck_assert_int_eq(
			store_append(s, a, buf, sizeof(buf), NULL, NULL), 0);
		ck_assert_int_eq(store_append(s, b, buf, 100, NULL, NULL), 0);
		ck_assert_int_eq(store_append(s, c, buf, 100, NULL, NULL), 0);
	}
	/* not confirmed, confirmed below its seq: refused */
	ck_assert_int_eq(store_doc_evict(s, a, 3, 30000, NULL), -EBUSY);
	ck_assert_int_eq(store_backup_mark(s, a, 2, 1000), 0);
	ck_assert_int_eq(store_doc_evict(s, a, 3, 30000, NULL), -EBUSY);
	ck_assert_int_eq(cand_ids(s, ids, 8), 0);
	ck_assert_int_eq(store_backup_mark(s, a, 3, 1000), 0);
	ck_assert_int_eq(store_backup_mark(s, b, 3, 1000), 0);
	ck_assert_int_eq(store_backup_mark(s, c, 3, 1000), 0);
	/* least recently used first: b read, then a appended to... */
	ck_assert_int_eq(store_read(s, c, collect_fn, &col), 0);
	ck_assert_int_eq(store_read(s, b, collect_fn, &col), 0);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(cand_ids(s, ids, 8), 3);
	ck_assert_uint_eq(ids[0], c);
	ck_assert_uint_eq(ids[1], b);
	ck_assert_uint_eq(ids[2], a);
	ck_assert_int_eq(cand_ids(s, ids, 1), 1);
	ck_assert_uint_eq(ids[0], c);

	f0 = free_bytes(s);
	ck_assert_int_eq(store_doc_evict(s, a, 2, 30000, NULL), -EAGAIN);
	ck_assert_int_eq(store_doc_evict(s, a, 3, 30001, NULL), 0);
	ck_assert_int_eq(store_doc_evict(s, a, 3, 30001, NULL), -EALREADY);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert(info.evicted);
	ck_assert_uint_eq(info.evicted_bytes, 30001);
	ck_assert_uint_eq(info.seq, 3);
	ck_assert_uint_eq(info.entries, 0);
	ck_assert_uint_eq(info.stored_bytes, 0);
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), -ENODATA);
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), -ENODATA);
	ck_assert_int_eq(store_append_replace(s, a, "x", 1, 3, NULL, NULL),
			 -ENODATA);
	ck_assert_int_eq(store_meta_set(s, a, &M, NULL), -ENODATA);
	ck_assert_int_eq(store_doc_rename(s, a, sp, "a2", 0, NULL), -ENODATA);
	ck_assert_int_eq(store_space_rename(s, "sp", "sp2", 0, &moved, &nmoved,
					    NULL),
			 -ENODATA);
	ck_assert_int_eq(cand_ids(s, ids, 8), 2);
	/* the 30000 bytes are free once the eviction is durable */
	ck_assert_int_eq(store_sync(s, 0), 0);
	ck_assert_int_eq(store_append(s, c, "y", 1, NULL, NULL), 0);
	ck_assert_uint_eq(free_bytes(s), f0 + 30000 - 1);
	ck_assert_int_eq(store_backup_mark(s, c, 4, 1000), 0);
	ck_assert_int_eq(store_sync(s, 0), 0);
	ck_assert_int_eq(store_close(s), 0);

	/* evict b, then crash (no close: only the log holds it) */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_options o;
		struct store *cs;

		store_options_default(&o);
		o.commit_ms = 0;
		o.max_capacity_bytes = 1 << 20;
		if (store_open(dir, &o, &cs) ||
		    store_doc_evict(cs, b, 3, 300, NULL) || store_sync(cs, 0))
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_clean(dir);
	s = open_store(dir, 1 << 20);
	store_evict_stats(s, &es);
	ck_assert_uint_eq(es.docs_evicted, 2);
	ck_assert_uint_eq(es.docs_local, 1);
	ck_assert_uint_eq(es.bytes_evicted, 30301);
	ck_assert_uint_eq(es.bytes_local, 301);
	ck_assert_int_eq(store_doc_info(s, b, &info), 0);
	ck_assert(info.evicted);
	ck_assert_uint_eq(info.evicted_bytes, 300);
	/* refill: only at its own seq, then it is a document like any */
	ck_assert_int_eq(store_doc_refill(s, a, 2, "Sfull", 5, NULL), -EAGAIN);
	ck_assert_int_eq(store_doc_refill(s, c, 4, "Sfull", 5, NULL), -EAGAIN);
	ck_assert_int_eq(store_doc_refill(s, a, 3, "Sfull", 5, NULL), 0);
	ck_assert_int_eq(store_doc_refill(s, a, 3, "Sfull", 5, NULL), -EAGAIN);
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(store_read(s, a, collect_fn, &col), 0);
	ck_assert_int_eq(col.n, 1);
	ck_assert_uint_eq(col.seq[0], 3);
	ck_assert_uint_eq(col.len[0], 5);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert(!info.evicted);
	ck_assert_uint_eq(info.backup_seq, 3); /* still confirmed */
	ck_assert_int_eq(store_append(s, a, "x", 1, NULL, NULL), 0);
	ck_assert_int_eq(store_doc_info(s, a, &info), 0);
	ck_assert_uint_eq(info.seq, 4);
	ck_assert_int_eq(store_close(s), 0); /* checkpoint: SNAP_EVICT */

	check_clean(dir);
	s = open_store(dir, 1 << 20);
	ck_assert_int_eq(store_doc_info(s, b, &info), 0);
	ck_assert(info.evicted);
	ck_assert_uint_eq(info.evicted_bytes, 300);
	ck_assert_uint_eq(info.seq, 3);
	store_evict_stats(s, &es);
	ck_assert_uint_eq(es.docs_evicted, 1);
	/* a delete of an evicted document needs no content */
	ck_assert_int_eq(store_doc_delete(s, b, NULL), 0);
	store_evict_stats(s, &es);
	ck_assert_uint_eq(es.docs_evicted, 0);
	ck_assert_uint_eq(es.bytes_evicted, 0);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_sync_async_reports_durability_once)
{
	char *dir = test_tmpdir();
	struct async_note a = { PTHREAD_MUTEX_INITIALIZER,
				PTHREAD_COND_INITIALIZER, 0, 1 };
	struct store_stats st;
	struct store *s = open_store(dir, 1 << 20);
	uint64_t sp, id, lsn;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	id = mkdoc(s, sp, "k");
	ck_assert_int_eq(store_append(s, id, "{\"a\":1}", 7, NULL, &lsn), 0);
	ck_assert_int_eq(store_sync_async(s, lsn, async_fn, &a), 0);
	pthread_mutex_lock(&a.mu);
	while (a.calls == 0)
		pthread_cond_wait(&a.cv, &a.mu);
	pthread_mutex_unlock(&a.mu);
	ck_assert_int_eq(a.rc, 0);
	store_stats(s, &st);
	ck_assert_uint_ge(st.durable_lsn, lsn);
	/* already durable: at once, in this thread */
	ck_assert_int_eq(store_sync_async(s, lsn, async_fn, &a), 0);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc,
		       test_store_flow_of_the_original_with_exact_free_bytes);
	tcase_add_test(tc, test_store_names_follow_the_contract);
	tcase_add_test(
		tc,
		test_store_stamps_appends_with_the_clock_and_keeps_the_stamp);
	tcase_add_test(tc, test_store_rename_replaces_atomically_and_keeps_id);
	tcase_add_test(tc, test_store_names_and_entries_outgrow_the_node);
	tcase_add_test(tc, test_store_listing_keeps_members_across_removals);
	tcase_add_test(tc, test_store_second_open_is_refused);
	tcase_add_test(tc, test_store_survives_many_cutovers_and_reopens);
	tcase_add_test(
		tc, test_store_changes_go_on_while_a_checkpoint_writes_its_snapshot);
	tcase_add_test(tc, test_store_checkpoint_child_without_verdict_fails_the_store);
	tcase_add_test(tc, test_store_changes_go_on_during_checkpoints);
	tcase_add_test(tc, test_store_unclosed_store_recovers_synced_changes);
	tcase_add_test(tc, test_store_meta_backup_and_tombstones_persist);
	tcase_add_test(tc,
		       test_store_tombstones_found_by_name_and_cleared_by_id);
	tcase_add_test(tc,
		       test_store_backup_pending_lists_unuploaded_documents);
	tcase_add_test(tc, test_store_import_creates_document_with_given_seqs);
	tcase_add_test(tc, test_store_append_replace_is_snapshot_plus_trim);
	tcase_add_test(tc, test_store_fails_stop_on_every_injected_fault);
	tcase_add_test(tc, test_store_grows_and_keeps_growth_after_reopen);
	tcase_add_test(tc, test_store_grows_online_until_max_capacity);
	tcase_add_test(tc,
		       test_store_growth_covers_large_writes_and_survives_kill);
	tcase_add_test(tc, test_store_growth_keeps_min_free_on_the_disk);
	tcase_add_test(tc, test_store_growth_survives_a_fault_at_every_step);
	tcase_add_test(tc, test_store_header_copies_survive_one_damaged);
	tcase_add_test(tc, test_store_identity_is_made_once_and_kept);
	tcase_add_test(tc, test_store_pages_ahead_of_appends_are_populated);
	tcase_add_test(tc, test_store_batch_append_is_all_or_nothing);
	tcase_add_test(tc, test_store_root_metadata_persists);
	tcase_add_test(tc,
		       test_store_recreated_name_keeps_cloud_copy_ownership);
	tcase_add_test(tc,
		       test_store_backup_mark_named_refuses_a_renamed_document);
	tcase_add_test(tc, test_store_seq_is_bounded_far_below_wrap);
	tcase_add_test(tc, test_store_frame_check_follows_replay_rules);
	tcase_add_test(
		tc, test_store_new_backup_target_makes_every_document_pending);
	tcase_add_test(tc, test_store_snapshot_counts_are_checked_at_snap_end);
	tcase_add_test(tc, test_store_sync_async_reports_durability_once);
	tcase_add_test(tc, test_store_evict_is_logged_and_replayed_exactly);
	tcase_add_test(
		tc, test_store_large_append_lets_changes_in_between_its_two_steps);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
