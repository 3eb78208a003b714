/*
 * bench_space.c - what creating and removing a document costs as its
 * space grows (issue 20, goal 3: no linear insertions).
 *
 *   bench_space DIR [SIZES...]   (default 1000 100000 1000000)
 *
 * For each size N, a fresh store in DIR with one space of N empty
 * documents (created in one go, not timed); then, timed, 20,000 rounds of
 * one delete of a document chosen at random among the space's N (spread
 * through the listing, so an array that moves its tail moves half of it
 * on average) followed by one create of a new name (which takes the
 * newest id: the end of the listing), so the space keeps N documents.  Reports the mean and the longest
 * delete and create in microseconds, nobody waiting for durability
 * (commit_ms 1000, the default: the committer writes in the background).
 *
 * Then, with "tombs" as the first size argument (bench_space DIR tombs
 * SIZES...): for each N, N documents marked uploaded and deleted (N
 * tombstones waiting, as after N deletes while the target is away), then
 * 20,000 creates of new names timed: mean and longest.
 * Big namespaces (bench_big.sh drives these):
 *   bench_space build STORE N PER   make the store STORE (a new
 *       directory) of N documents in spaces "s0", "s1", ... of PER each,
 *       keys "doc%09d" (12 bytes), one small entry each in the document
 *       format, closed cleanly; prints the time it took.
 *   bench_space tail STORE MIB      open STORE, append 100 B entries to
 *       random documents until the log has grown by MIB MiB, wait for
 *       them to be durable, then kill the process (SIGKILL): the store is
 *       left with a log tail of MIB MiB to replay.
 *   bench_space open STORE          open and close STORE: the engine's
 *       share of a mount's start, and resident memory per document.
 * The figures go to bench/README.md with the command that made them.
 */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh store in base with one space "sp"; NULL on failure. */
static struct store *bench_open(const char *base, char *dir, size_t dlen,
				uint64_t *sp)
{
	struct store_options o;
	struct store *s;
	int rc;

	snprintf(dir, dlen, "%s/bench-space.%d", base, (int)getpid());
	store_options_default(&o);
	o.capacity_bytes = 64ull << 20;
	rc = store_open(dir, &o, &s);
	if (rc) {
		fprintf(stderr, "store_open: %s\n", strerror(-rc));
		return NULL;
	}
	if (store_space_create(s, "sp", &M, sp, NULL)) {
		store_close(s);
		return NULL;
	}
	return s;
}

/* Close the store and remove its directory: 0 or 1. */
static int bench_close(struct store *s, const char *dir)
{
	char cmd[4200];

	if (store_close(s))
		return 1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

static int run(const char *base, uint64_t n)
{
	const int rounds = 20000;
	char dir[4096], key[32];
	struct store *s;
	uint64_t sp, *ids, id;
	double del_sum = 0, del_max = 0, cre_sum = 0, cre_max = 0, t0, t;
	unsigned seed = 7;
	int rc;

	s = bench_open(base, dir, sizeof(dir), &sp);
	if (!s)
		return 1;
	ids = malloc(n * sizeof(*ids));
	if (!ids)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%" PRIu64, i);
		if (store_doc_create(s, sp, key, &M, &ids[i], NULL))
			return 1;
	}
	for (int r = 0; r < rounds; r++) {
		uint64_t at = (uint64_t)rand_r(&seed) * (RAND_MAX + 1ull) +
			      (uint64_t)rand_r(&seed);

		at %= n;
		t0 = now();
		rc = store_doc_delete(s, ids[at], NULL);
		t = now() - t0;
		if (rc)
			return 1;
		del_sum += t;
		if (t > del_max)
			del_max = t;
		snprintf(key, sizeof(key), "new%d", r);
		t0 = now();
		rc = store_doc_create(s, sp, key, &M, &id, NULL);
		t = now() - t0;
		if (rc)
			return 1;
		ids[at] = id;
		cre_sum += t;
		if (t > cre_max)
			cre_max = t;
	}
	printf("| %" PRIu64 " | %.2f | %.0f | %.2f | %.0f |\n", n,
	       del_sum / rounds * 1e6, del_max * 1e6, cre_sum / rounds * 1e6,
	       cre_max * 1e6);
	fflush(stdout);
	free(ids);
	return bench_close(s, dir);
}

static int run_tombs(const char *base, uint64_t n)
{
	const int rounds = 20000;
	char dir[4096], key[32];
	struct store *s;
	uint64_t sp, id;
	double sum = 0, max = 0, t0, t;
	int rc;

	s = bench_open(base, dir, sizeof(dir), &sp);
	if (!s)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "gone%" PRIu64, i);
		if (store_doc_create(s, sp, key, &M, &id, NULL) ||
		    store_backup_mark(s, id, 0, 1) ||
		    store_doc_delete(s, id, NULL))
			return 1;
	}
	for (int r = 0; r < rounds; r++) {
		snprintf(key, sizeof(key), "new%d", r);
		t0 = now();
		rc = store_doc_create(s, sp, key, &M, &id, NULL);
		t = now() - t0;
		if (rc)
			return 1;
		sum += t;
		if (t > max)
			max = t;
	}
	printf("| %" PRIu64 " | %.2f | %.0f |\n", n, sum / rounds * 1e6,
	       max * 1e6);
	fflush(stdout);
	return bench_close(s, dir);
}

/* Resident anonymous memory of this process in KiB (0 unknown). */
static long anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static struct store *open_big(const char *dir, uint64_t cutover)
{
	struct store_options o;
	struct store *s;
	int rc;

	store_options_default(&o);
	o.capacity_bytes = 1ull << 30;
	if (cutover)
		o.cutover_bytes = cutover;
	rc = store_open(dir, &o, &s);
	if (rc) {
		fprintf(stderr, "store_open %s: %s\n", dir, strerror(-rc));
		return NULL;
	}
	return s;
}

static int build(const char *dir, uint64_t n, uint64_t per)
{
	static const struct store_meta dir_meta = { 0755, 0, 0, 1, 1 };
	struct store *s;
	uint64_t sp = 0, id;
	char k[32], body[64];
	double t0 = now();

	if (!per)
		return 1;
	s = open_big(dir, 0);
	if (!s)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		int len;

		if (i % per == 0) {
			snprintf(k, sizeof(k), "s%" PRIu64, i / per);
			if (store_space_create(s, k, &dir_meta, &sp, NULL))
				return 1;
		}
		len = snprintf(body, sizeof(body), "R{\"n\":%" PRIu64 "}", i);
		snprintf(k, sizeof(k), "doc%09" PRIu64, i);
		if (store_doc_create(s, sp, k, &M, &id, NULL) ||
		    store_append(s, id, body, (size_t)len, NULL, NULL))
			return 1;
	}
	if (store_close(s))
		return 1;
	printf("built %s: %" PRIu64 " documents, %" PRIu64
	       " per space, in %.1f s\n",
	       dir, n, per, now() - t0);
	return 0;
}

static int tail(const char *dir, uint64_t mib)
{
	struct store_stats st;
	struct store *s;
	uint64_t start, lsn = 0, appends = 0;
	unsigned seed = 11;
	char body[101];
	double t0 = now();

	/* a cut-over would empty the log: none before the tail is made */
	s = open_big(dir, (mib + 64) << 20);
	if (!s)
		return 1;
	store_stats(s, &st);
	start = st.log_bytes;
	if (st.documents == 0)
		return 1;
	memset(body, 'x', sizeof(body));
	body[0] = 'R';
	body[1] = '"';
	body[99] = '"';
	while (st.log_bytes - start < (mib << 20)) {
		/* ids of documents: the store's ids are dense from 2 up
		 * (spaces among them); a miss just draws again */
		uint64_t id = 2 + ((uint64_t)rand_r(&seed) * (RAND_MAX + 1ull) +
				   (uint64_t)rand_r(&seed)) %
					  (st.documents + st.spaces);
		int rc = store_append(s, id, body, 100, NULL, &lsn);

		if (rc == -ENOENT || rc == -EISDIR)
			continue;
		if (rc)
			return 1;
		if (++appends % 4096 == 0)
			store_stats(s, &st);
	}
	if (store_sync(s, lsn))
		return 1;
	store_stats(s, &st);
	printf("tail %s: %" PRIu64 " appends of 100 B, log %.1f MiB past "
	       "its start, in %.1f s; killing\n",
	       dir, appends, (double)(st.log_bytes - start) / (1 << 20),
	       now() - t0);
	fflush(stdout);
	raise(SIGKILL);
	return 1;
}

static int open_once(const char *dir)
{
	struct store_stats st;
	struct store *s;
	long a0 = anon_kib();
	double t0 = now(), t1;

	s = open_big(dir, 0);
	if (!s)
		return 1;
	t1 = now();
	store_stats(s, &st);
	printf("open %s: %" PRIu64 " documents in %.2f s (%.2f s per "
	       "million), RssAnon %.1f B per document\n",
	       dir, st.documents, t1 - t0,
	       (t1 - t0) * 1e6 / (double)(st.documents + 1),
	       (double)(anon_kib() - a0) * 1024 / (double)(st.documents + 1));
	t0 = now();
	if (store_close(s))
		return 1;
	printf("close: %.2f s\n", now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint64_t def[] = { 1000, 100000, 1000000 };

	if (argc < 2) {
		fprintf(stderr,
			"usage: %s DIR [SIZES...] | DIR tombs SIZES... | "
			"build STORE N PER | tail STORE MIB | open STORE\n",
			argv[0]);
		return 2;
	}
	if (argc == 5 && !strcmp(argv[1], "build"))
		return build(argv[2], strtoull(argv[3], NULL, 10),
			     strtoull(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "tail"))
		return tail(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "open"))
		return open_once(argv[2]);
	if (argc > 2 && !strcmp(argv[2], "tombs")) {
		printf("| tombstones waiting | create, mean us | create, "
		       "longest us |\n| --- | --- | --- |\n");
		for (int i = 3; i < argc; i++)
			if (run_tombs(argv[1], strtoull(argv[i], NULL, 10)))
				return 1;
		return 0;
	}
	printf("| documents in the space | delete, mean us | delete, longest "
	       "us | create, mean us | create, longest us |\n"
	       "| --- | --- | --- | --- | --- |\n");
	if (argc == 2) {
		for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
			if (run(argv[1], def[i]))
				return 1;
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (run(argv[1], strtoull(argv[i], NULL, 10)))
			return 1;
	return 0;
}
