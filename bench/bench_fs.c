/*
 * bench_fs.c - file workloads for comparing a caravanfs mount with a plain
 * directory on the same disk (driven by bench/bench_fs.sh).
 *
 *   bench_fs append DIR SECONDS          200 B O_APPEND patches, 1 thread
 *   bench_fs fsync DIR THREADS SECONDS   patch + fsync, one file per thread
 *   bench_fs mkdocs DIR N SIZE           create N documents of SIZE bytes
 *   bench_fs cat DIR                     read every file in DIR once
 *
 * Each prints one line: the operation count and the rate per second.
 * The patches are JSON objects, so the same bytes are valid on both sides.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A JSON patch of exactly len bytes ending in '\n'. */
static size_t patch(char *buf, size_t len, unsigned long i)
{
	int n = snprintf(buf, len, "{\"n\":%lu,\"pad\":\"", i);
	size_t at = (size_t)n;

	while (at < len - 3)
		buf[at++] = 'x';
	buf[at++] = '"';
	buf[at++] = '}';
	buf[at++] = '\n';
	return at;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "bench_fs: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static int cmd_append(const char *dir, double secs)
{
	char path[4096], buf[256];
	unsigned long n = 0;
	double t0, t;
	int fd;

	snprintf(path, sizeof(path), "%s/append-doc", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		die("cannot open", path);
	t0 = now();
	do {
		for (int i = 0; i < 100; i++, n++) {
			size_t len = patch(buf, 200, n);
			if (write(fd, buf, len) != (ssize_t)len)
				die("cannot write", path);
		}
		t = now();
	} while (t - t0 < secs);
	close(fd);
	printf("append %lu %.0f\n", n, (double)n / (t - t0));
	return 0;
}

struct fsync_arg {
	char path[4096];
	double until;
	unsigned long n;
};

static void *fsync_thread(void *p)
{
	struct fsync_arg *a = p;
	char buf[256];
	int fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd < 0)
		die("cannot open", a->path);
	while (now() < a->until) {
		size_t len = patch(buf, 200, a->n);
		if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
			die("cannot write", a->path);
		a->n++;
	}
	close(fd);
	return NULL;
}

static int cmd_fsync(const char *dir, int threads, double secs)
{
	struct fsync_arg *a = calloc((size_t)threads, sizeof(*a));
	pthread_t *t = calloc((size_t)threads, sizeof(*t));
	unsigned long n = 0;
	double t0 = now();

	for (int i = 0; i < threads; i++) {
		snprintf(a[i].path, sizeof(a[i].path), "%s/fsync-%d", dir, i);
		a[i].until = t0 + secs;
		pthread_create(&t[i], NULL, fsync_thread, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		n += a[i].n;
	}
	printf("fsync%d %lu %.0f\n", threads, n, (double)n / (now() - t0));
	free(a);
	free(t);
	return 0;
}

static int cmd_mkdocs(const char *dir, long count, size_t size)
{
	char path[4096], *buf = malloc(size + 1);
	double t0 = now();

	for (long i = 0; i < count; i++) {
		size_t len = patch(buf, size, (unsigned long)i);
		int fd;

		snprintf(path, sizeof(path), "%s/doc-%07ld", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die("cannot create", path);
		if (write(fd, buf, len) != (ssize_t)len || close(fd))
			die("cannot write", path);
	}
	printf("mkdocs %ld %.0f\n", count, (double)count / (now() - t0));
	free(buf);
	return 0;
}

static int cmd_cat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096], buf[65536];
	unsigned long n = 0, bytes = 0;
	double t0 = now();

	if (!d)
		die("cannot list", dir);
	while ((e = readdir(d))) {
		ssize_t r;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("cannot open", path);
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			bytes += (unsigned long)r;
		close(fd);
		n++;
	}
	closedir(d);
	printf("cat %lu %.0f %lu\n", n, (double)n / (now() - t0), bytes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "append"))
		return cmd_append(argv[2], atof(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "fsync"))
		return cmd_fsync(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "mkdocs"))
		return cmd_mkdocs(argv[2], atol(argv[3]),
				  (size_t)atol(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "cat"))
		return cmd_cat(argv[2]);
	fprintf(stderr, "usage: bench_fs append|fsync|mkdocs|cat DIR ...\n");
	return 2;
}
