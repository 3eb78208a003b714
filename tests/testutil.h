/*
 * testutil.h - helpers shared by the Check suites: temporary directories,
 * file surgery (copy a prefix, flip a bit), running a suite.
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <check.h>
#include <sys/types.h>

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path, never
 * freed (tests are short-lived). */
char *test_tmpdir(void);
/* Remove every file in dir (not recursive), then dir itself. */
void test_rmdir(const char *dir);
/* Remove every file in dir (not recursive). */
void test_clear_dir(const char *dir);
/* Copy src to dst, only the first len bytes when len >= 0. */
void test_copy_file(const char *src, const char *dst, off_t len);
/* Flip bit number `bit` (byte bit/8, bit bit%8) of the file at path. */
void test_flip_bit(const char *path, off_t bit);
/* Sleep for ms milliseconds (for polling loops that check a condition). */
void test_wait_ms(int ms);
/* Run the suite, print its summary line, return the exit status. */
int test_run_suite(Suite *s);

#endif
