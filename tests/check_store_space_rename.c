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
#include <sys/mman.h>
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

/* The expected state of the rename churn below. */
#define CHURN_DOCS 200

struct churn {
	uint64_t id[CHURN_DOCS];
	uint64_t sp[CHURN_DOCS];
	uint32_t entries[CHURN_DOCS];
	char key[CHURN_DOCS][256];
};

static int count_names(void *arg, uint64_t id, const char *name)
{
	(void)id;
	(void)name;
	(*(size_t *)arg)++;
	return 0;
}

static void churn_check(struct store *s, const struct churn *c,
			const uint64_t sp[2])
{
	size_t listed = 0;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];

	for (int i = 0; i < CHURN_DOCS; i++) {
		struct store_doc_info info;
		uint64_t id;

		ck_assert_int_eq(store_doc_lookup(s, c->sp[i], c->key[i], &id),
				 0);
		ck_assert_uint_eq(id, c->id[i]);
		ck_assert_int_eq(store_node_name(s, id, space, key), 0);
		ck_assert_str_eq(key, c->key[i]);
		ck_assert_int_eq(store_doc_info(s, id, &info), 0);
		ck_assert_uint_eq(info.space_id, c->sp[i]);
		ck_assert_uint_eq(info.entries, c->entries[i]);
	}
	for (int j = 0; j < 2; j++)
		ck_assert_int_eq(
			store_doc_list(s, sp[j], 0, count_names, &listed), 0);
	ck_assert_uint_eq(listed, CHURN_DOCS);
}

/* Nodes are objects of a pool sized for their names (store/nodes.c): a
 * rename to a name of another size moves the node, one of the same size
 * keeps it, and deletes free objects that creates reuse.  Random renames
 * across name lengths 1 to 255 and between two spaces, deletes and
 * creates keep every document findable by id and by name with its
 * entries, the listings exact, through a reopen (replay) and fsck. */
START_TEST(test_renames_across_name_sizes_keep_every_node)
{
	char *dir = test_tmpdir();
	struct churn *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *sp = mmap(NULL, 2 * sizeof(*sp), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	struct store *s;
	int status;
	pid_t pid;

	ck_assert_ptr_ne(c, MAP_FAILED);
	ck_assert_ptr_ne(sp, MAP_FAILED);
	/* the churn in a child that ends without closing the store (the
	 * log is replayed); the expected state in shared memory */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid) {
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		s = open_store(dir);
		churn_check(s, c, sp);
		ck_assert_int_eq(store_close(s), 0);
		check_clean(dir);
		s = open_store(dir);
		churn_check(s, c, sp);
		ck_assert_int_eq(store_close(s), 0);
		munmap(c, sizeof(*c));
		munmap(sp, 2 * sizeof(*sp));
		test_rmdir(dir);
		return;
	}
	s = open_store(dir);
	ck_assert_int_eq(store_space_create(s, "one", &M, &sp[0], NULL), 0);
	ck_assert_int_eq(store_space_create(s, "two", &M, &sp[1], NULL), 0);
	for (int i = 0; i < CHURN_DOCS; i++) {
		snprintf(c->key[i], sizeof(c->key[i]), "d%d", i);
		c->sp[i] = sp[0];
		ck_assert_int_eq(store_doc_create(s, sp[0], c->key[i], &M,
						  &c->id[i], NULL),
				 0);
		c->entries[i] = (uint32_t)(i % 3);
		for (uint32_t e = 0; e < c->entries[i]; e++)
			ck_assert_int_eq(store_append(s, c->id[i], "{}", 2,
						      NULL, NULL),
					 0);
	}
	for (int round = 0; round < 3000; round++) {
		int i, len, plen;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (int)(rng % CHURN_DOCS);
		len = (int)((rng >> 20) % 255) + 1;
		/* unique: the index and the round, then filler */
		plen = snprintf(c->key[i], sizeof(c->key[i]), "%d.%d", i,
				round);
		if (plen < len) {
			memset(c->key[i] + plen, 'a' + round % 26,
			       (size_t)(len - plen));
			c->key[i][len] = 0;
		}
		if ((rng >> 40) % 5 == 0) {
			/* delete and create again under the new name */
			ck_assert_int_eq(store_doc_delete(s, c->id[i], NULL),
					 0);
			c->sp[i] = sp[(rng >> 45) & 1];
			ck_assert_int_eq(store_doc_create(s, c->sp[i],
							  c->key[i], &M,
							  &c->id[i], NULL),
					 0);
			c->entries[i] = 0;
		} else {
			c->sp[i] = sp[(rng >> 45) & 1];
			ck_assert_int_eq(store_doc_rename(s, c->id[i], c->sp[i],
							  c->key[i], 0, NULL),
					 0);
		}
		if ((rng >> 50) % 4 == 0) {
			ck_assert_int_eq(store_append(s, c->id[i], "{}", 2,
						      NULL, NULL),
					 0);
			c->entries[i]++;
		}
		if (round % 500 == 0)
			churn_check(s, c, sp);
	}
	churn_check(s, c, sp);
	ck_assert_int_eq(store_sync(s, 0), 0);
	_exit(0);
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
	tcase_add_test(tc, test_renames_across_name_sizes_keep_every_node);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
