/*
 * check_store_private.c - the store's files on disk (issue 14, SPEC 7c):
 * a new store directory is 0700 and its files 0600 whatever the umask,
 * an existing directory keeps the mode its admin gave it, and a read-only
 * mount holds the lock file shared: no writer opens the store under it and
 * it opens none under a writer.
 */
#include "config.h"

#include "store/store.h"
#include "tests/testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct store_meta M = { 0644, 1000, 1000, 0, 0 };

static unsigned mode_of(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", dir, name[0] ? "/" : "", name);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void check_files_private(const char *dir)
{
	ck_assert_uint_eq(mode_of(dir, "data"), 0600);
	ck_assert_uint_eq(mode_of(dir, "wal"), 0600);
	ck_assert_uint_eq(mode_of(dir, "LOCK"), 0600);
}

START_TEST(test_store_new_directory_and_files_are_private)
{
	char *parent = test_tmpdir(), dir[4096];
	mode_t old = umask(0);
	struct store_options o;
	struct store *s;
	uint64_t sp;

	snprintf(dir, sizeof(dir), "%s/s", parent);
	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	o.cutover_bytes = 4096; /* cut-overs write wal.tmp and rename it */
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_uint_eq(mode_of(dir, ""), 0700);
	check_files_private(dir);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	for (int i = 0; i < 50; i++) {
		char key[32];
		uint64_t id;

		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(store_doc_create(s, sp, key, &M, &id, NULL),
				 0);
		ck_assert_int_eq(
			store_append(s, id, "{\"a\":1}", 7, NULL, NULL), 0);
	}
	ck_assert_int_eq(store_close(s), 0);
	check_files_private(dir);
	umask(old);
	test_rmdir(dir);
	test_rmdir(parent);
}
END_TEST

START_TEST(test_store_existing_directory_keeps_its_mode)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store *s;

	ck_assert_int_eq(chmod(dir, 0750), 0);
	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_uint_eq(mode_of(dir, ""), 0750);
	check_files_private(dir);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_store_read_only_mount_shares_the_lock)
{
	char *dir = test_tmpdir();
	struct store_options rw, ro, dump;
	struct store *s, *r1, *r2, *d;

	store_options_default(&rw);
	rw.capacity_bytes = 1 << 20;
	ro = dump = rw;
	ro.read_only = ro.lock_shared = true;
	dump.read_only = true;
	ck_assert_int_eq(store_open(dir, &rw, &s), 0);
	ck_assert_int_eq(store_open(dir, &ro, &r1), -EBUSY);
	/* dump and stats take no lock: they work on a mounted store */
	ck_assert_int_eq(store_open(dir, &dump, &d), 0);
	ck_assert_int_eq(store_close(d), 0);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(store_open(dir, &ro, &r1), 0);
	ck_assert_int_eq(store_open(dir, &ro, &r2), 0);
	ck_assert_int_eq(store_open(dir, &rw, &s), -EBUSY);
	ck_assert_int_eq(store_close(r1), 0);
	ck_assert_int_eq(store_open(dir, &rw, &s), -EBUSY);
	ck_assert_int_eq(store_close(r2), 0);
	ck_assert_int_eq(store_open(dir, &rw, &s), 0);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_private");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_new_directory_and_files_are_private);
	tcase_add_test(tc, test_store_existing_directory_keeps_its_mode);
	tcase_add_test(tc, test_store_read_only_mount_shares_the_lock);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
