/*
 * check_store_index.c - the in-memory index of a big store (issue 20):
 * what an open store knows of its last checkpoint, so that the first
 * change after a reopen does not rewrite the whole index; a node whose id
 * or name is taken is refused by the index itself (replay relies on it
 * instead of looking both up first).
 */
#include "config.h"

#include "store/store.h"
#include "store/store_internal.h"
#include "tests/testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

static struct store *open_with(const char *dir, uint64_t cutover)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = 4 << 20;
	o.cutover_bytes = cutover;
	o.commit_ms = 0; /* no checkpointer thread: a cut-over is inline */
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

/* A store whose index (its snapshot) outgrew the cut-over size: after a
 * clean close the log is that snapshot.  Reopened, the store knows the
 * snapshot it loaded, so its changes cut the log over only once it has
 * about doubled (the rule of a store that wrote the snapshot itself),
 * not at the first change: a first create after mounting a
 * store of ten million documents used to rewrite all of them. */
START_TEST(test_reopened_store_knows_its_snapshot_size)
{
	char *dir = test_tmpdir();
	struct store_stats st;
	struct store *s = open_with(dir, 64 << 10);
	uint64_t sp, id, log_after_close;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	for (int i = 0; i < 4000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "doc%09d", i);
		ck_assert_int_eq(store_doc_create(s, sp, key, &M, &id, NULL),
				 0);
	}
	ck_assert_int_eq(store_close(s), 0);

	s = open_with(dir, 64 << 10);
	store_stats(s, &st);
	log_after_close = st.log_bytes;
	/* the snapshot alone is past the cut-over size */
	ck_assert_uint_gt(log_after_close, 64 << 10);
	ck_assert_uint_eq(st.cutovers, 0);
	ck_assert_int_eq(store_doc_create(s, sp, "new", &M, &id, NULL), 0);
	store_stats(s, &st);
	ck_assert_uint_eq(st.cutovers, 0);
	/* and one cut-over when the log has about doubled (the rule counts
	 * the snapshot's payload, without frame headers) */
	for (int i = 0; st.cutovers == 0; i++) {
		char key[32];
		uint64_t before = st.log_bytes;

		ck_assert_uint_lt(before, 3 * log_after_close);
		snprintf(key, sizeof(key), "more%09d", i);
		ck_assert_int_eq(store_doc_create(s, sp, key, &M, &id, NULL),
				 0);
		store_stats(s, &st);
		if (st.cutovers)
			ck_assert_uint_gt(before, 3 * log_after_close / 2);
	}
	ck_assert_uint_eq(st.cutovers, 1);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

/* node_add refuses an id or a (space, name) already there and leaves the
 * index as it was: the node of that id or name is still found, nothing
 * was added, and the store closes and checks clean. */
START_TEST(test_index_refuses_a_taken_id_or_name)
{
	char *dir = test_tmpdir();
	struct store *s = open_with(dir, 64 << 20);
	struct wal_meta wm = { .mode = 0644 };
	uint64_t sp, a, b, id, docs;
	struct store_stats st;
	struct node *n = NULL;
	FILE *devnull;

	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &a, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "b", &M, &b, NULL), 0);
	store_stats(s, &st);
	docs = st.documents;
	store_wrlock(s);
	/* a's id under a new name, then a new id under b's name */
	ck_assert_int_eq(node_add(s, a, sp, "c", 1, &wm, &n), -EEXIST);
	ck_assert_int_eq(node_add(s, s->next_id, sp, "b", 1, &wm, &n), -EEXIST);
	/* the space's id as a document */
	ck_assert_int_eq(node_add(s, sp, sp, "d", 1, &wm, &n), -EEXIST);
	ck_assert_ptr_eq(node_get(s, a), node_by_name(s, sp, "a", 1));
	ck_assert_ptr_eq(node_get(s, b), node_by_name(s, sp, "b", 1));
	ck_assert_ptr_null(node_by_name(s, sp, "c", 1));
	ck_assert_ptr_null(node_by_name(s, sp, "d", 1));
	pthread_rwlock_unlock(&s->lock);
	store_stats(s, &st);
	ck_assert_uint_eq(st.documents, docs);
	ck_assert_int_eq(store_doc_lookup(s, sp, "b", &id), 0);
	ck_assert_uint_eq(id, b);
	ck_assert_int_eq(store_doc_create(s, sp, "c", &M, &id, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	devnull = fopen("/dev/null", "w");
	ck_assert_int_eq(store_fsck(dir, devnull), 0);
	fclose(devnull);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_index");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reopened_store_knows_its_snapshot_size);
	tcase_add_test(tc, test_index_refuses_a_taken_id_or_name);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
