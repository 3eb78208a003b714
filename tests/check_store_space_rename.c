/*
 * check_store_space_rename.c - store_space_rename: a space keeps its id
 * and its documents under the new name, the rename(2) rules for the
 * target (an empty one is replaced, a non-empty one ENOTEMPTY, NOREPLACE
 * EEXIST), the cloud bookkeeping (the old names of uploaded documents
 * tombstoned, every document pending again), and the one frame replayed
 * by a store that was never closed.
 */
#include "store/store.h"
#include "tests/testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct store_meta M = { 0755, 0, 0, 1, 1 };

static struct store *open_store(const char *dir)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	o.commit_ms = 0;
	o.reserved_prefix = ".caravan";
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

static void check_clean(const char *dir)
{
	FILE *devnull = fopen("/dev/null", "w");

	ck_assert_int_eq(store_fsck(dir, devnull), 0);
	fclose(devnull);
}

/* A space "old" with documents a, b, c (a uploaded at seq 1); ids out. */
static uint64_t populate(struct store *s, uint64_t doc[3])
{
	static const char *const keys[] = { "a", "b", "c" };
	uint64_t sp;
	int i;

	ck_assert_int_eq(store_space_create(s, "old", &M, &sp, NULL), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(
			store_doc_create(s, sp, keys[i], &M, &doc[i], NULL), 0);
		ck_assert_int_eq(store_append(s, doc[i], "{}", 2, NULL, NULL),
				 0);
	}
	ck_assert_int_eq(store_backup_mark(s, doc[0], 1, 1000), 0);
	return sp;
}

static int tomb_fn(void *arg, uint64_t id, const char *space, const char *key)
{
	char *out = arg;

	(void)id;
	snprintf(out + strlen(out), 64, "%s/%s ", space, key);
	return 0;
}

/* The space "new" holds doc[] under their keys, "old" is gone, the
 * uploaded document's old name is tombstoned and it is pending again. */
static void check_renamed(struct store *s, uint64_t sp, const uint64_t doc[3])
{
	struct store_doc_info info;
	char tombs[256] = "";
	uint64_t id;

	ck_assert_int_eq(store_space_lookup(s, "old", &id), -ENOENT);
	ck_assert_int_eq(store_space_lookup(s, "new", &id), 0);
	ck_assert_uint_eq(id, sp);
	ck_assert_int_eq(store_doc_lookup(s, sp, "a", &id), 0);
	ck_assert_uint_eq(id, doc[0]);
	ck_assert_int_eq(store_doc_lookup(s, sp, "c", &id), 0);
	ck_assert_uint_eq(id, doc[2]);
	ck_assert_int_eq(store_doc_info(s, doc[0], &info), 0);
	ck_assert_uint_eq(info.backup_seq, 0);
	ck_assert_int_eq(info.backup_time_ns, 0);
	ck_assert_uint_eq(info.seq, 1);
	ck_assert_int_eq(store_tombstone_list(s, tomb_fn, tombs), 0);
	ck_assert_str_eq(tombs, "old/a ");
}

START_TEST(test_space_rename_keeps_ids_and_follows_rename_rules)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir);
	uint64_t doc[3], sp, full, empty, *ids = NULL, x;
	size_t n = 0;

	sp = populate(s, doc);
	ck_assert_int_eq(store_space_create(s, "full", &M, &full, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, full, "x", &M, &x, NULL), 0);
	ck_assert_int_eq(store_space_create(s, "new", &M, &empty, NULL), 0);

	ck_assert_int_eq(store_space_rename(s, "none", "z", 0, &ids, &n, NULL),
			 -ENOENT);
	ck_assert_int_eq(store_space_rename(s, "old", "full", 0, &ids, &n,
					    NULL),
			 -ENOTEMPTY);
	ck_assert_int_eq(store_space_rename(s, "old", "new",
					    STORE_RENAME_NOREPLACE, &ids, &n,
					    NULL),
			 -EEXIST);
	ck_assert_int_eq(store_space_rename(s, "old", ".caravan-x", 0, &ids, &n,
					    NULL),
			 -EINVAL);
	ck_assert_int_eq(store_space_rename(s, "old", "old", 0, &ids, &n, NULL),
			 0);
	ck_assert_uint_eq(n, 0);
	/* over the empty space "new": replaced in the same frame */
	ck_assert_int_eq(store_space_rename(s, "old", "new", 0, &ids, &n, NULL),
			 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ids[0], doc[0]);
	ck_assert_uint_eq(ids[2], doc[2]);
	free(ids);
	check_renamed(s, sp, doc);
	ck_assert_int_eq(store_doc_info(s, empty,
					&(struct store_doc_info){ 0 }),
			 -ENOENT);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir); /* from the checkpoint */
	check_renamed(s, sp, doc);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_space_rename_is_one_frame_replayed_after_a_crash)
{
	char *dir = test_tmpdir();
	uint64_t doc[3], sp = 0;
	int fd[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_options o;
		uint64_t *ids = NULL;
		struct store *s;
		size_t n;

		store_options_default(&o);
		o.commit_ms = 0;
		if (store_open(dir, &o, &s))
			_exit(1);
		sp = populate(s, doc);
		if (store_space_rename(s, "old", "new", 0, &ids, &n, NULL) ||
		    store_sync(s, 0) ||
		    write(fd[1], &sp, sizeof(sp)) != sizeof(sp) ||
		    write(fd[1], doc, sizeof(doc)) != sizeof(doc))
			_exit(1);
		_exit(0); /* no close: the log is replayed */
	}
	close(fd[1]);
	ck_assert_int_eq(read(fd[0], &sp, sizeof(sp)), sizeof(sp));
	ck_assert_int_eq(read(fd[0], doc, sizeof(doc)), sizeof(doc));
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_clean(dir);
	{
		struct store *s = open_store(dir);

		check_renamed(s, sp, doc);
		ck_assert_int_eq(store_close(s), 0);
	}
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_space_rename");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
		       test_space_rename_keeps_ids_and_follows_rename_rules);
	tcase_add_test(tc,
		       test_space_rename_is_one_frame_replayed_after_a_crash);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
