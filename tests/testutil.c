/*
 * testutil.c - see testutil.h.
 */
#include "tests/testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Paths handed out are freed at exit: tests may simply drop them. */
static char *dirs[1024];
static size_t ndirs;

static void free_dirs(void)
{
	for (size_t i = 0; i < ndirs; i++)
		free(dirs[i]);
	ndirs = 0;
}

char *test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/caravan-test-XXXXXX", base) < 0)
		abort();
	ck_assert_ptr_nonnull(mkdtemp(p));
	if (ndirs == 0)
		atexit(free_dirs);
	if (ndirs < sizeof(dirs) / sizeof(dirs[0]))
		dirs[ndirs++] = p;
	return p;
}

void test_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

void test_rmdir(const char *dir)
{
	test_clear_dir(dir);
	rmdir(dir);
}

void test_copy_file(const char *src, const char *dst, off_t len)
{
	int in = open(src, O_RDONLY), out;
	char buf[65536];
	off_t done = 0;

	ck_assert_int_ge(in, 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(out, 0);
	for (;;) {
		size_t want = sizeof(buf);
		ssize_t n;

		if (len >= 0 && (off_t)want > len - done)
			want = (size_t)(len - done);
		if (want == 0)
			break;
		n = read(in, buf, want);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
		done += n;
	}
	close(in);
	close(out);
}

void test_flip_bit(const char *path, off_t bit)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, bit / 8), 1);
	c ^= (unsigned char)(1u << (bit % 8));
	ck_assert_int_eq(pwrite(fd, &c, 1, bit / 8), 1);
	close(fd);
}

void test_wait_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
