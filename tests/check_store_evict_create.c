/*
 * check_store_evict_create.c - a document created evicted
 * (store_doc_create_evicted, store/evict.h): what a follower makes of
 * each document of a base snapshot's index.
 *
 * What is checked: the document has its name, seq, metadata and size and
 * no content (reads get -ENODATA) until a refill at its seq; the change
 * is one frame, replayed at open (with and without a checkpoint in
 * between) and accepted by fsck; a process killed (SIGKILL) right after
 * the change is synced keeps it; a log cut anywhere inside the frame of
 * the creation (what a power cut before the disk held it all may leave)
 * opens with the document absent or whole, never half, and fsck stays
 * clean.
 */
#include "store/evict.h"
#include "store/store.h"
#include "tests/testutil.h"
#include "util/log.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct store_meta M = { 0100640, 1000, 1001, 1700000000123,
				     1700000000456 };

static struct store *open_store(const char *dir)
{
	struct store_options o;
	struct store *s;

	store_options_default(&o);
	o.capacity_bytes = 1 << 20;
	o.max_capacity_bytes = 1 << 20;
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

static int count_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	(void)seq;
	(void)buf;
	(void)len;
	++*(int *)arg;
	return 0;
}

/* The document space/key: -ENOENT, or 0 with it checked evicted at seq
 * with size and M. */
static int check_evicted(struct store *s, const char *space, const char *key,
			 uint64_t seq, uint64_t size)
{
	struct store_doc_info info;
	uint64_t sid, id;
	int n = 0;
	int rc = store_space_lookup(s, space, &sid);

	if (!rc)
		rc = store_doc_lookup(s, sid, key, &id);
	if (rc)
		return rc;
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert(info.evicted);
	ck_assert_uint_eq(info.seq, seq);
	ck_assert_uint_eq(info.evicted_bytes, size);
	ck_assert_uint_eq(info.backup_seq, seq);
	ck_assert_int_gt(info.backup_time_ns, 0);
	ck_assert_uint_eq(info.meta.mode, M.mode);
	ck_assert_uint_eq(info.meta.uid, M.uid);
	ck_assert_uint_eq(info.meta.gid, M.gid);
	ck_assert_int_eq(info.meta.mtime_ns, M.mtime_ns);
	ck_assert_int_eq(store_read(s, id, count_fn, &n), -ENODATA);
	ck_assert_int_eq(n, 0);
	return 0;
}

START_TEST(test_create_evicted_survives_replay_and_refills)
{
	char *dir = test_tmpdir();
	struct store *s = open_store(dir);
	struct store_evict_stats es;
	struct store_doc_info info;
	uint64_t id, id2, sid;
	int n = 0;

	ck_assert_int_eq(store_doc_create_evicted(s, "people", "ada", &M, 7,
						  12, &id, NULL),
			 0);
	ck_assert_int_eq(store_doc_create_evicted(s, "people", "ada", &M, 7,
						  12, NULL, NULL),
			 -EEXIST);
	ck_assert_int_eq(store_doc_create_evicted(s, "people", "x", &M, 0, 1,
						  NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_doc_create_evicted(s, "people", "x", &M,
						  STORE_SEQ_MAX + 1, 1, NULL,
						  NULL),
			 -EINVAL);
	ck_assert_int_eq(store_doc_create_evicted(s, "pe/ople", "x", &M, 1, 1,
						  NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_doc_create_evicted(s, "people", "..", &M, 1, 1,
						  NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_doc_create_evicted(s, ".caravan", "x", &M, 1,
						  1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_doc_create_evicted(s, "people", "bob", &M, 3,
						  5, &id2, NULL),
			 0);
	ck_assert_int_eq(check_evicted(s, "people", "ada", 7, 12), 0);
	store_evict_stats(s, &es);
	ck_assert_uint_eq(es.docs_evicted, 2);
	ck_assert_uint_eq(es.bytes_evicted, 17);
	ck_assert_uint_eq(es.bytes_local, 0);
	/* replayed from the log (no checkpoint: the process goes away) */
	ck_assert_int_eq(store_sync(s, 0), 0);
	check_clean(dir);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir);
	ck_assert_int_eq(check_evicted(s, "people", "ada", 7, 12), 0);
	ck_assert_int_eq(check_evicted(s, "people", "bob", 3, 5), 0);
	/* a refill only at its own seq */
	ck_assert_int_eq(store_doc_refill(s, id, 6, "S{\"n\":1}", 8, NULL),
			 -EAGAIN);
	ck_assert_int_eq(store_doc_refill(s, id, 7, "S{\"n\":1}", 8, NULL), 0);
	ck_assert_int_eq(store_read(s, id, count_fn, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert(!info.evicted);
	ck_assert_uint_eq(info.seq, 7);
	/* deleting one never refilled needs no content */
	ck_assert_int_eq(store_doc_delete(s, id2, NULL), 0);
	ck_assert_int_eq(store_space_lookup(s, "people", &sid), 0);
	ck_assert_int_eq(store_close(s), 0);
	check_clean(dir);
	s = open_store(dir);
	ck_assert_int_eq(check_evicted(s, "people", "bob", 3, 5), -ENOENT);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert(!info.evicted);
	ck_assert_int_eq(store_close(s), 0);
	test_rmdir(dir);
}
END_TEST

static off_t file_size(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

START_TEST(test_create_evicted_killed_keeps_synced_and_never_half)
{
	char *dir = test_tmpdir(), *copy = test_tmpdir();
	char src[4096], dst[4096];
	int fds[2], status, whole = 0, absent = 0;
	off_t synced = 0, full;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_options o;
		struct store *cs;
		struct stat st;
		char p[4096];

		close(fds[0]);
		store_options_default(&o);
		o.capacity_bytes = 1 << 20;
		o.commit_ms = 0;
		o.reserved_prefix = ".caravan";
		snprintf(p, sizeof(p), "%s/wal", dir);
		if (store_open(dir, &o, &cs) ||
		    store_doc_create_evicted(cs, "sp", "synced", &M, 4, 40,
					     NULL, NULL) ||
		    store_sync(cs, 0) || stat(p, &st))
			_exit(1);
		if (write(fds[1], &st.st_size, sizeof(st.st_size)) !=
		    sizeof(st.st_size))
			_exit(1);
		/* the second change reaches the log file (a sync), then the
		 * process dies; the parent cuts that frame anywhere, as a
		 * power cut before the disk held it all may */
		if (store_doc_create_evicted(cs, "sp2", "loose", &M, 9, 90,
					     NULL, NULL) ||
		    store_sync(cs, 0))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &synced, sizeof(synced)),
			 (ssize_t)sizeof(synced));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	full = file_size(dir, "wal");
	ck_assert_int_gt(full, synced);
	/* every cut of the log between the synced change and the end */
	for (off_t cut = synced; cut <= full; cut++) {
		struct store *s;
		int rc;

		test_clear_dir(copy);
		snprintf(src, sizeof(src), "%s/data", dir);
		snprintf(dst, sizeof(dst), "%s/data", copy);
		test_copy_file(src, dst, -1);
		snprintf(src, sizeof(src), "%s/wal", dir);
		snprintf(dst, sizeof(dst), "%s/wal", copy);
		test_copy_file(src, dst, cut);
		check_clean(copy);
		s = open_store(copy);
		ck_assert_int_eq(check_evicted(s, "sp", "synced", 4, 40), 0);
		rc = check_evicted(s, "sp2", "loose", 9, 90);
		if (rc == 0) {
			whole++;
		} else {
			uint64_t sid;

			ck_assert_int_eq(rc, -ENOENT);
			/* the space of the same frame went with it */
			ck_assert_int_eq(store_space_lookup(s, "sp2", &sid),
					 -ENOENT);
			absent++;
		}
		ck_assert_int_eq(store_close(s), 0);
		check_clean(copy);
	}
	ck_assert_int_eq(whole, 1); /* only the whole log has it */
	ck_assert_int_gt(absent, 0);
	/* and the store itself, as the kill left it */
	{
		struct store *s = open_store(dir);

		ck_assert_int_eq(check_evicted(s, "sp", "synced", 4, 40), 0);
		ck_assert_int_eq(check_evicted(s, "sp2", "loose", 9, 90), 0);
		ck_assert_int_eq(store_close(s), 0);
	}
	check_clean(dir);
	test_rmdir(copy);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_evict_create");
	TCase *tc = tcase_create("core");

	log_set_level(LOG_LVL_ERROR);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_evicted_survives_replay_and_refills);
	tcase_add_test(tc,
		       test_create_evicted_killed_keeps_synced_and_never_half);
	suite_add_tcase(su, tc);
	return test_run_suite(su);
}
