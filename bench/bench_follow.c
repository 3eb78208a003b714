/*
 * bench_follow.c - a follower's lag measured through real mounts
 * (bench/bench_follow.sh starts them):
 *
 *   bench_follow WRITER_MNT FOLLOWER_MNT SECONDS RATE DOCS
 *
 * Fills DOCS documents (space "b", keys d0..) on the writer's mount and
 * waits until the follower shows all of them, then writes RATE changes/s
 * for SECONDS, round-robin over the documents, each change a whole
 * document {"c":N} with N counting the changes.  A reader thread sweeps
 * the follower's mount meanwhile (every document read once per sweep);
 * a change N of document d is visible once d shows N or a later change
 * (a later value supersedes it), and its lag is the time from the end of
 * its write on the writer to the end of the sweep read that saw it.
 * Prints the changes made and seen, p50/p90/p99/max of the lag, and the
 * mean sweep time (the measurement's resolution).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *wmnt, *fmnt;
static long ndocs;
static int64_t *t_write; /* end of write of change N */
static atomic_long made; /* changes written */
static atomic_bool done;
static int64_t *lag; /* per change, -1 until seen */
static long *seen_upto; /* per document: highest change seen */
static uint64_t sweeps, sweep_ns;

static int write_doc(const char *mnt, long d, long c)
{
	char path[4096], buf[64];
	int fd, n;

	snprintf(path, sizeof(path), "%s/b/d%ld", mnt, d);
	n = snprintf(buf, sizeof(buf), "{\"c\":%ld}\n", c);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* The change number document d shows on the follower (-1: none). */
static long read_doc(long d)
{
	char path[4096], buf[128];
	long c = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/b/d%ld", fmnt, d);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "{\"c\":%ld}", &c) != 1)
		return -1;
	return c;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&done)) {
		int64_t t0 = mono_ns();

		for (long d = 0; d < ndocs; d++) {
			long c = read_doc(d);
			int64_t now = mono_ns();

			/* changes of d are d, d + ndocs, ...; the fill was
			 * -1 - d */
			for (long k = seen_upto[d] < 0 ? d
						       : seen_upto[d] + ndocs;
			     c >= 0 && k <= c; k += ndocs)
				if (lag[k] < 0)
					lag[k] = now - t_write[k];
			if (c > seen_upto[d])
				seen_upto[d] = c;
		}
		sweeps++;
		sweep_ns += (uint64_t)(mono_ns() - t0);
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long secs, rate, total, ok = 0;
	char path[4096];
	pthread_t th;
	int64_t t0, *v;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_follow WRITER_MNT FOLLOWER_MNT "
				"SECONDS RATE DOCS\n");
		return 2;
	}
	wmnt = argv[1];
	fmnt = argv[2];
	secs = atol(argv[3]);
	rate = atol(argv[4]);
	ndocs = atol(argv[5]);
	if (secs <= 0 || rate <= 0 || ndocs <= 0)
		return 2;
	total = secs * rate;
	t_write = calloc((size_t)total, sizeof(*t_write));
	lag = malloc((size_t)total * sizeof(*lag));
	seen_upto = malloc((size_t)ndocs * sizeof(*seen_upto));
	if (!t_write || !lag || !seen_upto)
		return 1;
	for (long i = 0; i < total; i++)
		lag[i] = -1;
	snprintf(path, sizeof(path), "%s/b", wmnt);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror("mkdir");
		return 1;
	}
	for (long d = 0; d < ndocs; d++)
		if (write_doc(wmnt, d, -1 - d) < 0) {
			perror("fill");
			return 1;
		}
	/* the follower shows the fill (3 minutes at most) */
	t0 = mono_ns();
	for (long d = 0; d < ndocs;) {
		if (read_doc(d) == -1 - d) {
			d++;
			continue;
		}
		if (mono_ns() - t0 > INT64_C(180) * 1000000000) {
			fprintf(stderr, "the follower never showed the fill\n");
			return 1;
		}
		usleep(20000);
	}
	for (long d = 0; d < ndocs; d++)
		seen_upto[d] = -1;
	pthread_create(&th, NULL, reader, NULL);
	t0 = mono_ns();
	for (long i = 0; i < total; i++) {
		int64_t due = t0 + i * (1000000000 / rate), now = mono_ns();

		if (due > now) {
			struct timespec ts = { 0, (long)(due - now) };

			nanosleep(&ts, NULL);
		}
		if (write_doc(wmnt, i % ndocs, i) < 0) {
			perror("write");
			return 1;
		}
		t_write[i] = mono_ns();
		atomic_store(&made, i + 1);
	}
	{
		double got_rate =
			(double)total * 1e9 / (double)(mono_ns() - t0);

		/* every change seen, 3 minutes at most */
		int64_t end = mono_ns() + INT64_C(180) * 1000000000;

		for (long d = 0; d < ndocs && d < total && mono_ns() < end;) {
			/* the last change of document d */
			long last = d + (total - 1 - d) / ndocs * ndocs;

			if (seen_upto[d] >= last)
				d++;
			else
				usleep(50000);
		}
		atomic_store(&done, true);
		pthread_join(th, NULL);
		v = malloc((size_t)total * sizeof(*v));
		if (!v)
			return 1;
		for (long i = 0; i < total; i++)
			if (lag[i] >= 0)
				v[ok++] = lag[i];
		if (!ok) {
			fprintf(stderr, "no change seen\n");
			return 1;
		}
		qsort(v, (size_t)ok, sizeof(*v), cmp_i64);
		printf("changes=%ld rate=%.0f/s seen=%ld p50_ms=%.0f "
		       "p90_ms=%.0f p99_ms=%.0f max_ms=%.0f sweep_ms=%.1f\n",
		       total, got_rate, ok, v[ok / 2] / 1e6,
		       v[ok * 9 / 10] / 1e6, v[ok * 99 / 100] / 1e6,
		       v[ok - 1] / 1e6,
		       sweeps ? (double)sweep_ns / (double)sweeps / 1e6 : 0);
		free(v);
	}
	free(t_write);
	free(lag);
	free(seen_upto);
	return ok == total ? 0 : 1;
}
