/*
 * bench_store.c - throughput of the durable list store beside baselines
 * measured in the same run on the same disk.
 *
 *   bench_store DIR [what...]     what: nowait cutover wait baseline sqlite
 *                                       grow growinline open compact
 *
 * nowait    appends/s of 100 B and 1 KiB entries, nobody waiting for
 *           durability (the background committer flushes)
 * nowait100 the same with 100 B entries only (to profile that path)
 * cutover   how long appends are held by cut-overs: one thread appends
 *           100 B round-robin to 100,000 documents (BENCH_CUT_DOCS; a
 *           snapshot of ~12 MB) with cut-overs at 16 MiB of log (or twice
 *           the snapshot), timing every append; the longest append, the
 *           99.9th percentile and the cut-overs done
 * wait      appends/s with 1, 4 and 16 threads, each waiting for
 *           durability (store_sync) after every append
 * baseline  the same bytes with write + fdatasync to a plain file,
 *           one stream
 * sqlite    SQLite in WAL mode, synchronous=FULL, one INSERT per
 *           transaction, 1 and 16 threads (connections)
 * open      time to open a store holding 1M documents after a clean
 *           close, and resident memory per document
 * mkmem N   (bench_memory.sh) make DIR/bench-store holding N documents
 *           of one small entry each in space "many", keys "doc%09d" (12
 *           bytes), and close it
 * mem1 N    open DIR/bench-store (made by mkmem N) and print resident
 *           memory (VmRSS, RssAnon) and malloc'd bytes (mallinfo2) per
 *           document, each the difference across store_open
 * grow      longest append while the store grows online: one thread
 *           appends 4 KiB entries round-robin to 100 documents, timing
 *           every append, into a store created at 4 MiB that grows to
 *           GROW_BYTES (growths, longest append, 99.9th percentile,
 *           longest hold of the store lock by growth), and the same into
 *           a store created at GROW_BYTES (the baseline: no growth);
 *           both as fast as appends go, then paced at 64 MiB/s, then
 *           with 1 MiB entries (which outrun growth ahead: inline
 *           growths); a reader beside the writer reads a 4 KiB document
 *           every ~100 us (its longest read); then the time to open each
 *           after a clean close
 * growinline  only the runs of 1 MiB entries of grow (not run by default;
 *           BENCH_GROW_ENTRY_KIB sets another size)
 * compact   longest append of 100 B (one thread, 1,000 documents) while
 *           another thread replaces a document with one entry of 8 MiB
 *           back to back (a compaction of a document that large), and
 *           with 100 B (baseline); BENCH_COMPACT_BYTES=N runs only the
 *           replacing entry of N bytes
 *
 * Each timed run lasts BENCH_SECONDS (2 by default).  Figures go to
 * stdout, one line each.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SQLITE_BENCH
#include <sqlite3.h>
#endif

static double seconds = 2.0;
static const char *base_dir;
static const struct store_meta M = { 0644, 0, 0, 1, 1 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread or of the process, in seconds. */
static double cpu_now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static struct store *open_store_cut(const char *dir, uint64_t cap, uint32_t ms,
				    uint64_t cutover)
{
	struct store_options o;
	struct store *s;
	int rc;

	store_options_default(&o);
	o.capacity_bytes = cap;
	o.commit_ms = ms;
	o.cutover_bytes = cutover;
	rc = store_open(dir, &o, &s);
	if (rc) {
		fprintf(stderr, "cannot open store %s: %s\n", dir,
			strerror(-rc));
		exit(1);
	}
	return s;
}

static struct store *fresh_store_cut(const char *dir, uint64_t cap, uint32_t ms,
				     uint64_t cutover)
{
	rm_rf(dir);
	return open_store_cut(dir, cap, ms, cutover);
}

static struct store *fresh_store(const char *dir, uint64_t cap, uint32_t ms)
{
	return fresh_store_cut(dir, cap, ms, 256ull << 20);
}

#define DOCS 1000

static void make_docs(struct store *s, uint64_t *ids, int n)
{
	uint64_t sp;
	char k[32];

	if (store_space_create(s, "bench", &M, &sp, NULL))
		exit(1);
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "doc%d", i);
		if (store_doc_create(s, sp, k, &M, &ids[i], NULL))
			exit(1);
	}
}

static void bench_nowait(const char *dir, size_t size)
{
	struct store *s = fresh_store(dir, 2ull << 30, 200);
	static uint64_t ids[DOCS];
	char *buf = malloc(size);
	uint64_t n = 0;
	double t0, t, c0, c, p0, p;

	memset(buf, 'x', size);
	make_docs(s, ids, DOCS);
	c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	p0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now();
	do {
		for (int i = 0; i < 1000; i++, n++) {
			int rc = store_append(s, ids[n % DOCS], buf, size, NULL,
					      NULL);
			if (rc == -ENOSPC) {
				/* keep the store from filling: trim all */
				for (int d = 0; d < DOCS; d++)
					store_trim(s, ids[d], 1, NULL);
				continue;
			}
			if (rc)
				exit(1);
		}
		t = now();
	} while (t - t0 < seconds);
	c = cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
	p = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - p0;
	printf("store append nowait %5zu B: %10.0f appends/s (%" PRIu64
	       " in %.2f s; appending thread %.2f s CPU: %.0f appends per "
	       "CPU-s; all threads %.2f s CPU)\n",
	       size, (double)n / (t - t0), n, t - t0, c, (double)n / c, p);
	store_close(s);
	rm_rf(dir);
	free(buf);
}

#define CUT_DOCS 100000

/* Bucket b holds latencies in [2^b, 2^(b+1)) microseconds (b = 0: below
 * 2 us). */
static int lat_bucket(double us)
{
	int b = 0;

	while (us >= 2.0 && b < 31) {
		us /= 2.0;
		b++;
	}
	return b;
}

static void bench_cutover(const char *dir)
{
	const char *env = getenv("BENCH_CUT_DOCS");
	int ndocs = env ? atoi(env) : CUT_DOCS;
	uint64_t *ids = calloc((size_t)(ndocs > 0 ? ndocs : 1), sizeof(*ids));
	uint64_t hist[32] = { 0 }, n = 0, slow = 0, seen = 0, cut0;
	struct store *s = fresh_store_cut(dir, 2ull << 30, 200, 16ull << 20);
	struct store_stats st;
	double t0, t = 0, prev, worst = 0;
	char buf[100];
	int rc, b;

	if (!ids || ndocs <= 0)
		exit(1);
	memset(buf, 'c', sizeof(buf));
	make_docs(s, ids, ndocs);
	for (int i = 0; i < ndocs; i++)
		if (store_append(s, ids[i], buf, sizeof(buf), NULL, NULL))
			exit(1);
	/* closed (a checkpoint) and opened again: a fresh log, and the
	 * longest hold counts the window's cut-overs only */
	if (store_close(s))
		exit(1);
	s = open_store_cut(dir, 2ull << 30, 200, 16ull << 20);
	store_stats(s, &st);
	cut0 = st.cutovers;
	t0 = prev = now();
	do {
		rc = store_append(s, ids[n % (uint64_t)ndocs], buf, sizeof(buf),
				  NULL, NULL);
		if (rc == -ENOSPC) {
			for (int d = 0; d < ndocs; d++)
				store_trim(s, ids[d], 1, NULL);
			prev = now();
			continue;
		}
		if (rc)
			exit(1);
		n++;
		t = now();
		if (t - prev > worst)
			worst = t - prev;
		if (t - prev > 1e-3)
			slow++;
		hist[lat_bucket((t - prev) * 1e6)]++;
		prev = t;
	} while (t - t0 < seconds);
	store_stats(s, &st);
	for (b = 0; b < 32; b++) {
		seen += hist[b];
		if (seen * 1000 >= n * 999)
			break;
	}
	printf("store append during cut-overs: %.0f appends/s, %" PRIu64
	       " cut-overs, longest append %.1f ms, %" PRIu64
	       " appends over 1 ms, 99.9%% under %.0f us, longest hold by a "
	       "cut-over %.2f ms\n",
	       (double)n / (t - t0), st.cutovers - cut0, worst * 1e3, slow,
	       (double)(2u << (b < 31 ? b : 31)),
	       (double)st.cutover_pause_max_ns / 1e6);
	store_close(s);
	free(ids);
	rm_rf(dir);
}

/* compact: one thread appends 100 B round-robin to DOCS documents, timing
 * every append, while another replaces one document's entries with one
 * entry of COMPACT_BYTES (what the document layer's compaction of a
 * document that large appends: store_append_keep), back to back; and the
 * same with the replacing thread writing 100 B (the baseline).  Longest
 * append of the first thread, and the replaces done. */
#define COMPACT_BYTES (8u << 20)

struct compact_arg {
	struct store *s;
	uint64_t id;
	size_t size;
	atomic_bool stop;
	uint64_t done;
	double worst;
};

static void *compact_thread(void *p)
{
	struct compact_arg *a = p;
	char *buf = malloc(a->size);
	uint64_t seq = 0;

	if (!buf)
		exit(1);
	memset(buf, 'k', a->size);
	while (!atomic_load(&a->stop)) {
		double t = now();

		if (store_append_replace(a->s, a->id, buf, a->size, seq, &seq,
					 NULL))
			exit(1);
		t = now() - t;
		if (t > a->worst)
			a->worst = t;
		a->done++;
	}
	free(buf);
	return NULL;
}

static void compact_run(const char *dir, size_t size)
{
	static uint64_t ids[DOCS + 1];
	struct store *s = fresh_store(dir, 1ull << 30, 200);
	struct compact_arg a = { .s = s, .size = size };
	struct store_stats st;
	uint64_t n = 0, slow = 0, slow5 = 0;
	double t0, t, prev, worst = 0;
	pthread_t th;
	char buf[100];

	memset(buf, 'c', sizeof(buf));
	make_docs(s, ids, DOCS + 1);
	a.id = ids[DOCS];
	if (pthread_create(&th, NULL, compact_thread, &a))
		exit(1);
	t0 = prev = now();
	do {
		if (store_append(s, ids[n % DOCS], buf, sizeof(buf), NULL,
				 NULL))
			exit(1);
		if (n % DOCS == DOCS - 1)
			for (int d = 0; d < DOCS; d++)
				if (store_trim(s, ids[d], 1, NULL))
					exit(1);
		n++;
		t = now();
		if (t - prev > worst)
			worst = t - prev;
		if (t - prev > 1e-3)
			slow++;
		if (t - prev > 5e-3)
			slow5++;
		prev = t;
	} while (t - t0 < seconds);
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	store_stats(s, &st);
	printf("store append while another thread replaces a document with "
	       "%zu B: %.0f appends/s, longest append %.2f ms, %" PRIu64
	       " over 1 ms, %" PRIu64 " over 5 ms; %" PRIu64
	       " replaces, longest %.2f ms; %" PRIu64
	       " cut-overs, longest hold %.2f ms; %" PRIu64
	       " growths, longest hold %.2f ms\n",
	       size, (double)n / (t - t0), worst * 1e3, slow, slow5, a.done,
	       a.worst * 1e3, st.cutovers, (double)st.cutover_pause_max_ns / 1e6,
	       st.grows, (double)st.grow_pause_max_ns / 1e6);
	store_close(s);
	rm_rf(dir);
}

static void bench_compact(const char *dir)
{
	const char *only = getenv("BENCH_COMPACT_BYTES");

	if (only) { /* one size only (to profile it) */
		compact_run(dir, (size_t)strtoull(only, NULL, 10));
		return;
	}
	compact_run(dir, 100);
	compact_run(dir, COMPACT_BYTES);
}

struct wait_arg {
	struct store *s;
	uint64_t id;
	size_t size;
	double until;
	uint64_t n;
};

static void *wait_thread(void *p)
{
	struct wait_arg *a = p;
	char buf[2048];

	memset(buf, 'y', sizeof(buf));
	while (now() < a->until) {
		uint64_t lsn;
		if (store_append(a->s, a->id, buf, a->size, NULL, &lsn) ||
		    store_sync(a->s, lsn))
			exit(1);
		a->n++;
	}
	return NULL;
}

static double bench_wait(const char *dir, int threads, size_t size)
{
	struct store *s = fresh_store(dir, 1ull << 30, 1000);
	static uint64_t ids[64];
	struct wait_arg a[64];
	pthread_t t[64];
	uint64_t n = 0;
	double t0;

	make_docs(s, ids, threads);
	t0 = now();
	for (int i = 0; i < threads; i++) {
		a[i] = (struct wait_arg){ s, ids[i], size, t0 + seconds, 0 };
		pthread_create(&t[i], NULL, wait_thread, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		n += a[i].n;
	}
	t0 = now() - t0;
	printf("store append+sync %2d threads %4zu B: %8.0f appends/s\n",
	       threads, size, (double)n / t0);
	store_close(s);
	rm_rf(dir);
	return (double)n / t0;
}

static double bench_baseline(const char *dir, size_t size)
{
	char path[4200], buf[2048];
	uint64_t n = 0;
	double t0, t;
	int fd;

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/plain", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (fd < 0)
		exit(1);
	memset(buf, 'z', sizeof(buf));
	t0 = now();
	do {
		if (write(fd, buf, size) != (ssize_t)size || fdatasync(fd))
			exit(1);
		n++;
		t = now();
	} while (t - t0 < seconds);
	close(fd);
	printf("baseline write+fdatasync  1 stream %4zu B: %8.0f appends/s\n",
	       size, (double)n / (t - t0));
	rm_rf(dir);
	return (double)n / (t - t0);
}

#ifdef HAVE_SQLITE_BENCH
struct sq_arg {
	const char *path;
	size_t size;
	double until;
	uint64_t n;
};

static void *sq_thread(void *p)
{
	struct sq_arg *a = p;
	sqlite3 *db;
	sqlite3_stmt *st;
	char buf[2048];

	memset(buf, 'q', sizeof(buf));
	if (sqlite3_open(a->path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_busy_timeout(db, 60000);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
		     NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "INSERT INTO t(doc, body) VALUES (?, ?)", -1,
			       &st, NULL) != SQLITE_OK)
		exit(1);
	while (now() < a->until) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)a->n);
		sqlite3_bind_blob(st, 2, buf, (int)a->size, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			exit(1);
		sqlite3_reset(st);
		a->n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

static double bench_sqlite(const char *dir, int threads, size_t size)
{
	char path[4200];
	sqlite3 *db;
	struct sq_arg a[64];
	pthread_t t[64];
	uint64_t n = 0;
	double t0;

	rm_rf(dir);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/bench.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(
		db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, doc INTEGER, body BLOB);",
		NULL, NULL, NULL);
	sqlite3_close(db);
	t0 = now();
	for (int i = 0; i < threads; i++) {
		a[i] = (struct sq_arg){ path, size, t0 + seconds, 0 };
		pthread_create(&t[i], NULL, sq_thread, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		n += a[i].n;
	}
	t0 = now() - t0;
	printf("sqlite WAL synchronous=FULL %2d threads %4zu B: %8.0f inserts/s\n",
	       threads, size, (double)n / t0);
	rm_rf(dir);
	return (double)n / t0;
}
#endif

/* A field of /proc/self/status in KiB ("VmRSS", "RssAnon"), or -1. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(field);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long rss_kib(void)
{
	return status_kib("VmRSS");
}

static void bench_open(const char *dir, int ndocs)
{
	struct store *s = fresh_store(dir, 1ull << 30, 1000);
	uint64_t sp, id;
	char k[32], body[64];
	double t0, t;

	if (store_space_create(s, "many", &M, &sp, NULL))
		exit(1);
	for (int i = 0; i < ndocs; i++) {
		int len = snprintf(body, sizeof(body), "{\"n\":%d}", i);
		snprintf(k, sizeof(k), "document-%08d", i);
		if (store_doc_create(s, sp, k, &M, &id, NULL) ||
		    store_append(s, id, body, (size_t)len, NULL, NULL))
			exit(1);
	}
	t0 = now();
	if (store_close(s))
		exit(1);
	t = now();
	printf("close (checkpoint) with %d documents: %.2f s\n", ndocs, t - t0);
	/* Open in a fresh process so its memory is the store's alone. */
	fflush(stdout);
	{
		char cmd[8400];
		snprintf(cmd, sizeof(cmd), "/proc/%d/exe '%s' open1 %d",
			 (int)getpid(), base_dir, ndocs);
		if (system(cmd) != 0)
			fprintf(stderr, "open1 failed\n");
	}
	rm_rf(dir);
}

static void bench_open1(const char *dir, int ndocs)
{
	struct store_options o;
	struct store *s;
	struct store_stats st;
	long before, after;
	double t0, t;

	store_options_default(&o);
	before = rss_kib();
	t0 = now();
	if (store_open(dir, &o, &s))
		exit(1);
	t = now();
	after = rss_kib();
	store_stats(s, &st);
	printf("open with %d documents: %.2f s; resident memory %.0f bytes "
	       "per document\n",
	       ndocs, t - t0, (double)(after - before) * 1024.0 / ndocs);
	printf("log after clean close: %" PRIu64 " bytes (%.1f per "
	       "document)\n",
	       st.log_bytes, (double)st.log_bytes / ndocs);
	store_close(s);
}

static void bench_mkmem(const char *dir, int ndocs)
{
	struct store *s = fresh_store(dir, 1ull << 30, 1000);
	uint64_t sp, id;
	char k[32], body[64];

	/* Mounted as a file system, so modes of a directory and of files,
	 * and entries in the document format (store/doc.h: a replacement,
	 * kind 'R', then its JSON text). */
	static const struct store_meta dir_meta = { 0755, 0, 0, 1, 1 };

	if (store_space_create(s, "many", &dir_meta, &sp, NULL))
		exit(1);
	for (int i = 0; i < ndocs; i++) {
		int len = snprintf(body, sizeof(body), "R{\"n\":%d}", i);
		snprintf(k, sizeof(k), "doc%09d", i);
		if (store_doc_create(s, sp, k, &M, &id, NULL) ||
		    store_append(s, id, body, (size_t)len, NULL, NULL))
			exit(1);
	}
	if (store_close(s))
		exit(1);
	printf("made %s: %d documents, keys of 12 bytes\n", dir, ndocs);
}

static void bench_mem1(const char *dir, int ndocs)
{
	struct store_options o;
	struct store *s;
	struct mallinfo2 m0, m1;
	long rss0, anon0, rss1, anon1;
	double per = ndocs > 0 ? (double)ndocs : 1.0;

	store_options_default(&o);
	m0 = mallinfo2();
	rss0 = status_kib("VmRSS");
	anon0 = status_kib("RssAnon");
	if (store_open(dir, &o, &s))
		exit(1);
	m1 = mallinfo2();
	rss1 = status_kib("VmRSS");
	anon1 = status_kib("RssAnon");
	printf("engine, %d documents: VmRSS %.1f B/doc, RssAnon %.1f B/doc, "
	       "malloc'd %.1f B/doc (in use %zu -> %zu bytes)\n",
	       ndocs, (double)(rss1 - rss0) * 1024.0 / per,
	       (double)(anon1 - anon0) * 1024.0 / per,
	       (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) /
		       per,
	       m0.uordblks + m0.hblkhd, m1.uordblks + m1.hblkhd);
	store_close(s);
}

#define GROW_BYTES (256ull << 20)
#define GROW_DOCS 100

struct lat {
	uint64_t hist[32], n, slow;
	double worst, secs;
};

static void lat_print(const char *what, const struct lat *l, size_t entry,
		      uint64_t grows)
{
	uint64_t seen = 0;
	int b;

	for (b = 0; b < 31; b++) {
		seen += l->hist[b];
		if (seen * 1000 >= l->n * 999)
			break;
	}
	printf("%s: %" PRIu64 " appends of %zu KiB in %.2f s, %" PRIu64
	       " growths, longest append %.2f ms, %" PRIu64
	       " over 1 ms, 99.9%% under %u us\n",
	       what, l->n, entry >> 10, l->secs, grows, l->worst * 1e3, l->slow,
	       2u << b);
}

/* A reader beside the writer: reads a 4 KiB document every ~100 us (it
 * sleeps between reads, so it takes little CPU), timing each read; a
 * growth holding the store lock holds it back. */
struct grow_reader {
	struct store *s;
	uint64_t id;
	int stop; /* atomic */
	uint64_t n;
	double worst;
};

static int grow_read_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	(void)arg;
	(void)seq;
	(void)buf;
	(void)len;
	return 0;
}

static void *grow_reader_main(void *arg)
{
	struct grow_reader *r = arg;
	const struct timespec pause = { 0, 100000 };

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		double t0 = now(), t;

		if (store_read(r->s, r->id, grow_read_fn, NULL))
			exit(1);
		t = now();
		if (t - t0 > r->worst)
			r->worst = t - t0;
		r->n++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Fill a store created at cap with appends of entry bytes up to
 * GROW_BYTES, timing each, while a reader reads beside it; then close
 * it and time its open. */
/* rate_mib: appends paced to this many MiB/s (0: as fast as they go) */
static void grow_run(const char *dir, uint64_t cap, uint64_t max,
		     double rate_mib, size_t entry, const char *what)
{
	static uint64_t ids[GROW_DOCS];
	struct grow_reader rd = { 0 };
	struct lat l = { 0 };
	struct store_options o;
	struct store_stats st;
	struct store *s;
	pthread_t rt;
	uint64_t rsp, count = (GROW_BYTES - (256ull << 10)) / entry;
	char *buf = malloc(entry);
	double t0, t, prev;

	if (!buf)
		exit(1);
	rm_rf(dir);
	store_options_default(&o);
	o.capacity_bytes = cap;
	o.max_capacity_bytes = max;
	o.commit_ms = 200;
	o.cutover_bytes = 1ull << 30; /* no cut-over: growth alone */
	if (store_open(dir, &o, &s))
		exit(1);
	memset(buf, 'g', entry);
	make_docs(s, ids, GROW_DOCS);
	if (store_space_create(s, "reader", &M, &rsp, NULL) ||
	    store_doc_create(s, rsp, "r", &M, &rd.id, NULL) ||
	    store_append(s, rd.id, buf, 4096, NULL, NULL))
		exit(1);
	rd.s = s;
	if (pthread_create(&rt, NULL, grow_reader_main, &rd))
		exit(1);
	t0 = prev = now();
	for (uint64_t i = 0; i < count; i++) {
		if (rate_mib > 0) {
			double due = t0 + (double)i * (double)entry /
						  (rate_mib * 1048576);

			while (now() < due)
				;
			prev = now();
		}
		if (store_append(s, ids[i % GROW_DOCS], buf, entry, NULL, NULL))
			exit(1);
		t = now();
		if (t - prev > l.worst)
			l.worst = t - prev;
		if (t - prev > 1e-3)
			l.slow++;
		l.hist[lat_bucket((t - prev) * 1e6)]++;
		l.n++;
		prev = t;
	}
	l.secs = now() - t0;
	__atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	store_stats(s, &st);
	lat_print(what, &l, entry, st.grows);
	printf("%s: longest hold of the store lock by a growth %.3f ms; "
	       "%" PRIu64 " appends had to grow the store themselves, "
	       "holding it %.3f ms at most; "
	       "reader beside it: %" PRIu64 " reads, longest %.3f ms\n",
	       what, (double)st.grow_pause_max_ns / 1e6, st.grows_inline,
	       (double)st.grow_inline_hold_max_ns / 1e6, rd.n, rd.worst * 1e3);
	if (store_close(s))
		exit(1);
	store_options_default(&o);
	t0 = now();
	if (store_open(dir, &o, &s))
		exit(1);
	t = now();
	store_stats(s, &st);
	printf("%s: open after clean close %.1f ms (capacity %" PRIu64
	       " MiB)\n",
	       what, (t - t0) * 1e3, st.capacity_bytes >> 20);
	store_close(s);
	rm_rf(dir);
	free(buf);
}

/* Entries of BENCH_GROW_ENTRY_KIB (default 1024) KiB. */
static void bench_grow_inline(const char *dir)
{
	const char *e = getenv("BENCH_GROW_ENTRY_KIB");
	size_t kib = e ? strtoul(e, NULL, 10) : 1024;
	char what[128];

	if (kib < 4 || kib > 16384)
		kib = 1024;
	snprintf(what, sizeof(what),
		 "grow baseline, %zu KiB entries (created at 256 MiB)", kib);
	grow_run(dir, GROW_BYTES, GROW_BYTES, 0, kib << 10, what);
	snprintf(what, sizeof(what),
		 "grow, %zu KiB entries (created at 4 MiB, grows online)", kib);
	grow_run(dir, 4ull << 20, GROW_BYTES, 0, kib << 10, what);
}

static void bench_grow(const char *dir)
{
	grow_run(dir, GROW_BYTES, GROW_BYTES, 0, 4096,
		 "grow baseline (created at 256 MiB)");
	grow_run(dir, 4ull << 20, GROW_BYTES, 0, 4096,
		 "grow (created at 4 MiB, grows online)");
	grow_run(dir, GROW_BYTES, GROW_BYTES, 64, 4096,
		 "grow baseline at 64 MiB/s (created at 256 MiB)");
	grow_run(dir, 4ull << 20, GROW_BYTES, 64, 4096,
		 "grow at 64 MiB/s (created at 4 MiB, grows online)");
	/* entries of 1 MiB outrun growth ahead: inline growths */
	bench_grow_inline(dir);
}

static bool want(int argc, char **argv, const char *what)
{
	if (argc <= 2)
		return true;
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], what) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	char dir[4096];
	const char *env = getenv("BENCH_SECONDS");
	double base1 = 0, w16 = 0, sq = 0;

	if (argc < 2) {
		fprintf(stderr,
			"usage: bench_store DIR [nowait|nowait100|cutover|wait|"
			"baseline|sqlite|grow|growinline|open|compact]...\n");
		return 2;
	}
	if (env)
		seconds = atof(env);
	base_dir = argv[1];
	snprintf(dir, sizeof(dir), "%s/bench-store", argv[1]);
	if (argc == 4 && strcmp(argv[2], "mkmem") == 0) {
		bench_mkmem(dir, atoi(argv[3]));
		return 0;
	}
	if (argc == 4 && strcmp(argv[2], "mem1") == 0) {
		bench_mem1(dir, atoi(argv[3]));
		return 0;
	}
	if (argc == 4 && strcmp(argv[2], "open1") == 0) {
		bench_open1(dir, atoi(argv[3]));
		return 0;
	}
	if (want(argc, argv, "nowait")) {
		bench_nowait(dir, 100);
		bench_nowait(dir, 1024);
	} else if (want(argc, argv, "nowait100")) {
		bench_nowait(dir, 100);
	}
	if (want(argc, argv, "cutover"))
		bench_cutover(dir);
	if (want(argc, argv, "baseline"))
		base1 = bench_baseline(dir, 100);
	if (want(argc, argv, "wait")) {
		bench_wait(dir, 1, 100);
		bench_wait(dir, 4, 100);
		w16 = bench_wait(dir, 16, 100);
		bench_wait(dir, 16, 1024);
	}
#ifdef HAVE_SQLITE_BENCH
	if (want(argc, argv, "sqlite")) {
		double a = bench_sqlite(dir, 1, 100);
		double b = bench_sqlite(dir, 16, 100);
		sq = a > b ? a : b;
	}
#endif
	if (base1 > 0 && w16 > 0)
		printf("ratio: 16 waiting threads / write+fdatasync = %.1fx\n",
		       w16 / base1);
	if (sq > 0 && w16 > 0)
		printf("ratio: 16 waiting threads / best sqlite = %.1fx\n",
		       w16 / sq);
	if (want(argc, argv, "compact"))
		bench_compact(dir);
	if (want(argc, argv, "grow"))
		bench_grow(dir);
	if (argc > 2 && want(argc, argv, "growinline"))
		bench_grow_inline(dir);
	if (want(argc, argv, "open"))
		bench_open(dir, 1000000);
	return 0;
}
