/*
 * powercut_workload.c - the store side of the real power-cut test
 * (tests/powercut/powercut.sh).
 *
 *   powercut_workload run DIR SEED
 *     Open (or create) the store in DIR and append from THREADS threads,
 *     each to its own documents, each append followed by store_sync (the
 *     threads share flushes: group commit).  A small cut-over size makes
 *     the log cut over about every hundred appends; old entries are trimmed
 *     now and then.  After each acknowledged append one line goes to
 *     stdout, written whole with one write(2):
 *         A DOC SEQ LEN TAG
 *     Runs until killed, or until the store fails (the file system was
 *     shut down under it).
 *
 *   powercut_workload run DIR SEED grow
 *     The same on a store created with 64 KiB of capacity that grows
 *     online (no trims: the data only grows), while a fifth thread grows
 *     it by 64 KiB at a time with store_grow (up to GROW_TO), so that the
 *     cut strikes in the middle of growths: preallocation, header copies,
 *     map extension, appends into the new space.  One growth is done
 *     before the writers start, so each round leaves its store at least
 *     64 KiB larger than the round before, however early the cut.
 *
 *   powercut_workload run DIR SEED evict CLOUD
 *     The same (no trims) while documents are backed up and evicted:
 *     after an acknowledged append a writer now and then uploads the
 *     document (its last entry, the whole content in this model, written
 *     and fsync'd to CLOUD/dK.SEQ, a directory outside the file system
 *     that is cut: the cloud survives the power cut), records the
 *     confirmation (store_backup_mark, synced) and prints
 *         B DOC SEQ
 *     and an evictor thread evicts confirmed documents, least recently
 *     used first (store_evict_candidates, store_doc_evict with the cloud
 *     copy's size, synced), concurrently with the appends, printing
 *         E DOC SEQ
 *     An append that finds its document evicted refills it from
 *     CLOUD/dK.SEQ first (store_doc_refill, synced) and prints
 *         R DOC SEQ
 *     Before the writers start, one document is appended to, uploaded
 *     and evicted, so that every round evicts at least once however
 *     early the cut (powercut.sh checks it).
 *
 *   powercut_workload shutdown MOUNTPOINT
 *     ioctl(FS_IOC_SHUTDOWN, FS_GOING_DOWN_NOLOGFLUSH) on the file system
 *     holding MOUNTPOINT: from now on it writes nothing, not even its
 *     journal; what the disk holds is what a power cut would leave.
 *
 *   powercut_workload verify DIR ACKS [INFLIGHT [CLOUD]]
 *     fsck the store as the cut left it, open it (recovery), and check
 *     every line of ACKS (all rounds so far): the document holds at least
 *     that sequence number, and when the entry is still held (not
 *     trimmed) its bytes are exactly those acknowledged.  Every held
 *     entry names its document and sequence number, held sequence numbers
 *     have no hole and end at the document's last one.  Close, fsck again.
 *     The lines of INFLIGHT (acknowledged while the cut took effect, see
 *     powercut.sh) are only counted: present or not.  With CLOUD (the
 *     eviction scenario), for every document also: its seq is at least
 *     every acknowledged B, E and R's; its backed-up seq at least every
 *     acknowledged B's.  Evicted, it holds no entries (reads -ENODATA),
 *     is confirmed at its seq (backup time set, backed-up seq >= seq),
 *     and CLOUD holds its content at that seq with the size the eviction
 *     recorded and the acknowledged bytes.  Local after an acknowledged
 *     eviction at S, it was refilled: it holds nothing older than S (an
 *     eviction lost in the cut would show the older entries).  Exit 0
 *     when all holds; prints one summary line.
 */
#include "store/evict.h"
#include "store/store.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#define FS_GOING_DOWN_NOLOGFLUSH 0x2

#define THREADS 4
#define DOCS_PER_THREAD 2
#define NDOCS (THREADS * DOCS_PER_THREAD)
#define MAX_LEN 3000
#define TRIM_EVERY 40
#define MAX_APPENDS 200000

#define GROW_STEP (64u << 10)
#define GROW_TO (48u << 20)

#define UPLOAD_ONE_IN 4 /* appends followed by an upload */
#define EVICT_ONE_IN 2 /* candidates the evictor takes */

static const struct store_meta M = { 0644, 0, 0, 1, 1 };
static bool grow_mode;
static const char *cloud; /* evict mode: the cloud's directory */

static void store_opts(struct store_options *o)
{
	store_options_default(o);
	o->capacity_bytes = grow_mode ? GROW_STEP : 16u << 20;
	o->cutover_bytes = 128u << 10;
	o->commit_ms = 5;
}

/* grow mode: grow by GROW_STEP at a time until GROW_TO or an error */
static void *grower(void *arg)
{
	struct store *s = arg;
	struct store_stats st;

	do
		store_stats(s, &st);
	while (st.capacity_bytes < GROW_TO &&
	       store_grow(s, st.capacity_bytes + GROW_STEP) == 0);
	return NULL;
}

/* ---- the cloud (evict mode) ---- */

static void cloud_path(char *out, size_t len, int doc, uint64_t seq)
{
	snprintf(out, len, "%s/d%d.%" PRIu64, cloud, doc, seq);
}

/* Upload: the content of doc at seq (buf, len) durable in the cloud,
 * whole or not at all (temporary name, fsync, rename, directory
 * fsync). */
static int cloud_put(int doc, uint64_t seq, const void *buf, size_t len)
{
	char path[4096], tmp[4200];
	int fd, dfd, rc = 0;

	cloud_path(path, sizeof(path), doc, seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	dfd = rc ? -1 : open(cloud, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && (dfd < 0 || fsync(dfd) < 0))
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Read the cloud's copy of doc at seq into buf (MAX_LEN bytes); its
 * length, or -errno. */
static ssize_t cloud_get(int doc, uint64_t seq, char *buf)
{
	char path[4096];
	ssize_t n;
	int fd;

	cloud_path(path, sizeof(path), doc, seq);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, MAX_LEN);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The bytes of an entry: a header naming it, then a fill from the tag. */
static void make_entry(char *buf, int doc, uint64_t seq, uint32_t len,
		       uint32_t tag)
{
	int h = snprintf(buf, 64, "doc=d%d seq=%" PRIu64 " tag=%u|", doc, seq,
			 tag);

	for (uint32_t i = (uint32_t)h; i < len; i++)
		buf[i] = (char)('A' + (tag + i * 13) % 26);
}

/* ---- run ---- */

struct worker;
static int evict_first(struct store *s, struct worker *w, unsigned seed);

struct worker {
	struct store *s;
	int first_doc;
	uint64_t id[DOCS_PER_THREAD];
	uint64_t seq[DOCS_PER_THREAD];
	uint32_t rng;
	uint32_t tag_base;
	int err;
};

static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void say(const char *line, size_t len)
{
	if (write(STDOUT_FILENO, line, len) != (ssize_t)len)
		exit(3);
}

/* ---- backups, evictions and refills (evict mode) ---- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static uint64_t ev_marks; /* confirmations so far */
static bool ev_stop;

static void evict_kick(bool stop)
{
	pthread_mutex_lock(&ev_mu);
	if (stop)
		ev_stop = true;
	else
		ev_marks++;
	pthread_cond_signal(&ev_cv);
	pthread_mutex_unlock(&ev_mu);
}

static void say_event(char what, int doc, uint64_t seq)
{
	char line[64];
	int m = snprintf(line, sizeof(line), "%c d%d %" PRIu64 "\n", what, doc,
			 seq);

	say(line, (size_t)m);
}

/* Back doc up at seq (its content buf, len) and confirm it. */
static int upload(struct store *s, uint64_t id, int doc, uint64_t seq,
		  const void *buf, size_t len)
{
	int rc = cloud_put(doc, seq, buf, len);

	if (!rc)
		rc = store_backup_mark(s, id, seq, now_ns());
	if (!rc)
		rc = store_sync(s, 0);
	if (rc)
		return rc;
	say_event('B', doc, seq);
	evict_kick(false);
	return 0;
}

/* Give evicted doc its content at seq back from the cloud. */
static int refill(struct store *s, uint64_t id, int doc, uint64_t seq)
{
	char buf[MAX_LEN];
	ssize_t n = cloud_get(doc, seq, buf);
	uint64_t lsn;
	int rc;

	if (n < 0)
		return (int)n;
	rc = store_doc_refill(s, id, seq, buf, (size_t)n, &lsn);
	if (!rc)
		rc = store_sync(s, lsn);
	if (rc)
		return rc;
	say_event('R', doc, seq);
	return 0;
}

/* Evict document id when it is still confirmed at its seq: 0 also when
 * a concurrent append or refill came first. */
static int evict_one(struct store *s, uint64_t id)
{
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1], path[4096];
	struct store_doc_info info;
	struct stat st;
	uint64_t lsn;
	int doc, rc;

	if (store_node_name(s, id, space, key) ||
	    sscanf(key, "d%d", &doc) != 1 || store_doc_info(s, id, &info))
		return 0;
	cloud_path(path, sizeof(path), doc, info.seq);
	if (stat(path, &st) < 0)
		return -errno; /* confirmed, and not in the cloud */
	rc = store_doc_evict(s, id, info.seq, (uint64_t)st.st_size, &lsn);
	if (rc == -EAGAIN || rc == -EBUSY || rc == -EALREADY)
		return 0;
	if (!rc)
		rc = store_sync(s, lsn);
	if (rc)
		return rc;
	say_event('E', doc, info.seq);
	return 0;
}

struct evictor_arg {
	struct store *s;
	uint32_t rng;
	int err;
};

/* After each confirmation: evict some of the candidates, least recently
 * used first, while the writers append. */
static void *evictor(void *arg)
{
	struct evictor_arg *e = arg;
	uint64_t seen = 0, ids[8];
	size_t n;

	for (;;) {
		pthread_mutex_lock(&ev_mu);
		while (!ev_stop && ev_marks == seen)
			pthread_cond_wait(&ev_cv, &ev_mu);
		seen = ev_marks;
		if (ev_stop) {
			pthread_mutex_unlock(&ev_mu);
			return NULL;
		}
		pthread_mutex_unlock(&ev_mu);
		e->err = store_evict_candidates(e->s, ids, 8, &n);
		for (size_t i = 0; i < n && !e->err; i++)
			if (next_rand(&e->rng) % EVICT_ONE_IN == 0)
				e->err = evict_one(e->s, ids[i]);
		if (e->err)
			return NULL;
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char buf[MAX_LEN], line[128];

	for (uint32_t n = 1; n <= MAX_APPENDS / THREADS; n++) {
		int k = (int)(next_rand(&w->rng) % DOCS_PER_THREAD);
		int doc = w->first_doc + k;
		uint32_t len = 64 + next_rand(&w->rng) % (MAX_LEN - 64);
		uint32_t tag = w->tag_base + n;
		uint64_t seq, lsn;
		int rc, m;

		make_entry(buf, doc, w->seq[k] + 1, len, tag);
		rc = store_append(w->s, w->id[k], buf, len, &seq, &lsn);
		while (rc == -ENODATA && cloud) {
			/* evicted: its content back from the cloud first (the
			 * evictor may take it again before the append) */
			rc = refill(w->s, w->id[k], doc, w->seq[k]);
			if (!rc)
				rc = store_append(w->s, w->id[k], buf, len,
						  &seq, &lsn);
		}
		if (!rc && seq != w->seq[k] + 1)
			rc = -EPROTO;
		if (!rc)
			rc = store_sync(w->s, lsn);
		if (rc) {
			w->err = rc;
			return NULL;
		}
		w->seq[k] = seq;
		m = snprintf(line, sizeof(line), "A d%d %" PRIu64 " %u %u\n",
			     doc, seq, len, tag);
		say(line, (size_t)m);
		if (cloud && next_rand(&w->rng) % UPLOAD_ONE_IN == 0)
			rc = upload(w->s, w->id[k], doc, seq, buf, len);
		if (rc) {
			w->err = rc;
			return NULL;
		}
		if (!grow_mode && !cloud && seq % TRIM_EVERY == 0)
			store_trim(w->s, w->id[k], 10, NULL);
	}
	return NULL;
}

static int run(const char *dir, unsigned seed)
{
	struct store_options o;
	struct store *s;
	struct worker w[THREADS];
	struct evictor_arg ev = { 0 };
	pthread_t t[THREADS], g, e;
	uint64_t sp;
	int rc;

	store_opts(&o);
	rc = store_open(dir, &o, &s);
	if (rc) {
		fprintf(stderr, "run: cannot open store '%s': %s\n", dir,
			strerror(-rc));
		return 1;
	}
	if (store_space_lookup(s, "pc", &sp) &&
	    (rc = store_space_create(s, "pc", &M, &sp, NULL)) != 0)
		goto fail;
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].first_doc = i * DOCS_PER_THREAD;
		w[i].rng = seed * 2654435761u + (uint32_t)i * 40503u + 1;
		w[i].tag_base =
			(seed % 4096) * 1000000u + (uint32_t)i * 100000u;
		for (int k = 0; k < DOCS_PER_THREAD; k++) {
			struct store_doc_info info;
			char key[16];

			snprintf(key, sizeof(key), "d%d", w[i].first_doc + k);
			if (store_doc_lookup(s, sp, key, &w[i].id[k]) &&
			    (rc = store_doc_create(s, sp, key, &M, &w[i].id[k],
						   NULL)) != 0)
				goto fail;
			rc = store_doc_info(s, w[i].id[k], &info);
			if (rc)
				goto fail;
			w[i].seq[k] = info.seq;
		}
	}
	rc = store_sync(s, 0);
	if (rc)
		goto fail;
	if (grow_mode) {
		/* One growth done before the first acknowledgement: a cut that
		 * comes early still leaves a store that grew in this round,
		 * and powercut.sh checks that every such growth survived. */
		struct store_stats st;

		store_stats(s, &st);
		rc = store_grow(s, st.capacity_bytes + GROW_STEP);
		if (rc)
			goto fail;
	}
	if (cloud) {
		/* likewise one eviction before the first acknowledgement of
		 * the writers: every round evicts, however early the cut */
		rc = evict_first(s, w, seed);
		if (rc)
			goto fail;
		ev.s = s;
		ev.rng = seed * 2246822519u + 7;
		pthread_create(&e, NULL, evictor, &ev);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, work, &w[i]);
	if (grow_mode)
		pthread_create(&g, NULL, grower, s);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (grow_mode)
		pthread_join(g, NULL);
	if (cloud) {
		evict_kick(true);
		pthread_join(e, NULL);
		if (ev.err)
			fprintf(stderr, "run: the evictor stopped: %s\n",
				strerror(-ev.err));
	}
	for (int i = 0; i < THREADS; i++)
		if (w[i].err)
			fprintf(stderr, "run: thread %d stopped: %s\n", i,
				strerror(-w[i].err));
	store_close(s);
	return 0;
fail:
	fprintf(stderr, "run: cannot set up the documents: %s\n",
		strerror(-rc));
	store_close(s);
	return 1;
}

/* One document of w (from seed on, the first that is local) gets an
 * append, is uploaded and evicted, each acknowledged. */
static int evict_first(struct store *s, struct worker *w, unsigned seed)
{
	char buf[MAX_LEN];
	struct store_doc_info info;
	uint64_t seq, lsn;
	int rc, doc = -1, i = 0, k = 0;
	uint32_t len = 100 + seed % 1000;

	for (int j = 0; j < NDOCS && doc < 0; j++) {
		int d = (int)((seed + (unsigned)j) % NDOCS);

		i = d / DOCS_PER_THREAD;
		k = d % DOCS_PER_THREAD;
		rc = store_doc_info(s, w[i].id[k], &info);
		if (rc)
			return rc;
		if (!info.evicted)
			doc = d;
	}
	if (doc < 0) { /* all evicted: refill the first */
		doc = (int)(seed % NDOCS);
		i = doc / DOCS_PER_THREAD;
		k = doc % DOCS_PER_THREAD;
		rc = refill(s, w[i].id[k], doc, w[i].seq[k]);
		if (rc)
			return rc;
	}
	/* tag_base + 0: no writer's append uses it */
	make_entry(buf, doc, w[i].seq[k] + 1, len, w[i].tag_base);
	rc = store_append(s, w[i].id[k], buf, len, &seq, &lsn);
	if (!rc && seq != w[i].seq[k] + 1)
		rc = -EPROTO;
	if (!rc)
		rc = store_sync(s, lsn);
	if (rc)
		return rc;
	w[i].seq[k] = seq;
	{
		char line[128];
		int m = snprintf(line, sizeof(line),
				 "A d%d %" PRIu64 " %u %u\n", doc, seq, len,
				 w[i].tag_base);

		say(line, (size_t)m);
	}
	rc = upload(s, w[i].id[k], doc, seq, buf, len);
	if (rc)
		return rc;
	rc = store_doc_evict(s, w[i].id[k], seq, len, &lsn);
	if (!rc)
		rc = store_sync(s, lsn);
	if (rc)
		return rc;
	say_event('E', doc, seq);
	return 0;
}

/* ---- shutdown ---- */

static int shutdown_fs(const char *mnt)
{
	uint32_t how = FS_GOING_DOWN_NOLOGFLUSH;
	int fd = open(mnt, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || ioctl(fd, FS_IOC_SHUTDOWN, &how) < 0) {
		fprintf(stderr, "shutdown: cannot shut down '%s': %s\n", mnt,
			strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

/* ---- verify ---- */

struct acked {
	uint64_t seq;
	uint32_t len, tag;
};

struct docv {
	struct acked *a; /* indexed by seq; len 0: not acknowledged */
	uint64_t cap;
	uint64_t max_acked;
	uint64_t first_held, last_held, held;
	struct acked *h; /* held entries, from first_held on */
	uint64_t last_seq; /* the document's, after recovery */
	/* evict mode: the largest acknowledged B (backed up), E (evicted)
	 * and R (refilled) sequence numbers */
	uint64_t max_backup, max_evict, max_refill;
};

static struct docv dv[NDOCS];
static int problems;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	va_list ap;

	if (problems++ >= 20)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static uint64_t read_acks(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint64_t n = 0;

	if (!f) {
		note("cannot read '%s': %s", path, strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		int doc;
		uint64_t seq;
		uint32_t len, tag;
		struct docv *d;
		char what;

		if (sscanf(line, "%c d%d %" SCNu64, &what, &doc, &seq) == 3 &&
		    (what == 'B' || what == 'E' || what == 'R') && doc >= 0 &&
		    doc < NDOCS && seq > 0) {
			uint64_t *m = what == 'B'   ? &dv[doc].max_backup
				      : what == 'E' ? &dv[doc].max_evict
						    : &dv[doc].max_refill;
			if (seq > *m)
				*m = seq;
			n++;
			continue;
		}
		if (sscanf(line, "A d%d %" SCNu64 " %u %u", &doc, &seq, &len,
			   &tag) != 4 ||
		    doc < 0 || doc >= NDOCS || seq == 0 || len > MAX_LEN) {
			note("malformed acknowledgement line '%s'", line);
			continue;
		}
		d = &dv[doc];
		if (seq >= d->cap) {
			uint64_t cap = d->cap ? d->cap : 1024;
			while (cap <= seq)
				cap *= 2;
			d->a = realloc(d->a, cap * sizeof(*d->a));
			if (!d->a)
				abort();
			memset(d->a + d->cap, 0,
			       (cap - d->cap) * sizeof(*d->a));
			d->cap = cap;
		}
		/* a later round may reuse a sequence number whose entry a cut
		 * lost unacknowledged; an acknowledged one is never reused */
		if (d->a[seq].len &&
		    (d->a[seq].len != len || d->a[seq].tag != tag))
			note("d%d seq %" PRIu64 " acknowledged twice with "
			     "different bytes",
			     doc, seq);
		d->a[seq].seq = seq;
		d->a[seq].len = len;
		d->a[seq].tag = tag;
		if (seq > d->max_acked)
			d->max_acked = seq;
		n++;
	}
	fclose(f);
	return n;
}

struct held_ctx {
	int doc;
};

static int check_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct held_ctx *c = arg;
	struct docv *d = &dv[c->doc];
	char want[MAX_LEN], head[64];
	unsigned tag;
	int doc;
	uint64_t s;

	if (d->held && seq != d->last_held + 1)
		note("d%d: hole: seq %" PRIu64 " follows %" PRIu64, c->doc, seq,
		     d->last_held);
	if (!d->held)
		d->first_held = seq;
	d->last_held = seq;
	d->held++;
	d->h = realloc(d->h, d->held * sizeof(*d->h));
	if (!d->h)
		abort();
	d->h[d->held - 1].seq = seq;
	d->h[d->held - 1].len = 0;
	d->h[d->held - 1].tag = 0;
	memcpy(head, buf, len < sizeof(head) - 1 ? len : sizeof(head) - 1);
	head[len < sizeof(head) - 1 ? len : sizeof(head) - 1] = '\0';
	if (len > MAX_LEN ||
	    sscanf(head, "doc=d%d seq=%" SCNu64 " tag=%u|", &doc, &s, &tag) !=
		    3 ||
	    doc != c->doc || s != seq) {
		note("d%d seq %" PRIu64 ": foreign or damaged bytes", c->doc,
		     seq);
		return 0;
	}
	make_entry(want, doc, seq, (uint32_t)len, tag);
	if (memcmp(want, buf, len) != 0)
		note("d%d seq %" PRIu64 ": damaged bytes", c->doc, seq);
	d->h[d->held - 1].len = (uint32_t)len;
	d->h[d->held - 1].tag = tag;
	if (seq < d->cap && d->a[seq].len &&
	    (d->a[seq].len != len || d->a[seq].tag != tag))
		note("d%d seq %" PRIu64 ": not the acknowledged entry (len %zu "
		     "tag %u, acknowledged len %u tag %u)",
		     c->doc, seq, len, tag, d->a[seq].len, d->a[seq].tag);
	return 0;
}

/* How many lines of path (appends acknowledged while the cut took
 * effect) the store kept.  One that was kept and is still held must have
 * exactly its bytes: nothing can follow it within the round. */
static uint64_t inflight_kept(const char *path, uint64_t *total)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char line[256];
	uint64_t n = 0;

	*total = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		struct docv *d;
		struct acked *h;
		int doc;
		uint64_t seq;
		uint32_t len, tag;

		if (sscanf(line, "A d%d %" SCNu64 " %u %u", &doc, &seq, &len,
			   &tag) != 4 ||
		    doc < 0 || doc >= NDOCS)
			continue;
		(*total)++;
		d = &dv[doc];
		if (d->last_seq < seq)
			continue;
		n++;
		h = NULL;
		for (uint64_t i = 0; i < d->held && !h; i++)
			if (d->h[i].seq == seq)
				h = &d->h[i];
		if (h && (h->len != len || h->tag != tag))
			note("d%d seq %" PRIu64
			     ": kept in-flight append has other "
			     "bytes",
			     doc, seq);
	}
	fclose(f);
	return n;
}

/* evict mode: the document's state against its acknowledged backups,
 * evictions and refills (see the top of the file). */
static void check_evict(int i, const struct store_doc_info *info,
			uint64_t *evicted)
{
	struct docv *d = &dv[i];
	char buf[MAX_LEN + 1];
	uint64_t need = d->max_backup;
	ssize_t n;

	if (d->max_evict > need)
		need = d->max_evict;
	if (d->max_refill > need)
		need = d->max_refill;
	if (info->seq < need)
		note("d%d: seq %" PRIu64 " below an acknowledged backup, "
		     "eviction or refill at %" PRIu64,
		     i, info->seq, need);
	if (info->backup_seq < d->max_backup ||
	    (d->max_backup && info->backup_time_ns <= 0))
		note("d%d: backed up at %" PRIu64 " (time %" PRId64
		     "), acknowledged %" PRIu64,
		     i, info->backup_seq, info->backup_time_ns, d->max_backup);
	if (!info->evicted) {
		/* an acknowledged eviction freed everything before it: what
		 * is held now came back with a refill at or after it */
		if (d->max_evict && d->held && d->first_held < d->max_evict)
			note("d%d: holds seq %" PRIu64 " although evicted at "
			     "%" PRIu64 " (the eviction was lost)",
			     i, d->first_held, d->max_evict);
		return;
	}
	(*evicted)++;
	if (info->backup_time_ns <= 0 || info->backup_seq < info->seq)
		note("d%d: evicted at seq %" PRIu64 " but confirmed only at "
		     "%" PRIu64 " (time %" PRId64 ")",
		     i, info->seq, info->backup_seq, info->backup_time_ns);
	if (d->held || info->entries) {
		note("d%d: evicted and still holds %" PRIu64 " entries", i,
		     d->held);
		return;
	}
	n = cloud_get(i, info->seq, buf);
	if (n < 0) {
		note("d%d: evicted at seq %" PRIu64 " and the cloud has no "
		     "copy of it: %s",
		     i, info->seq, strerror((int)-n));
		return;
	}
	if ((uint64_t)n != info->evicted_bytes)
		note("d%d: evicted with size %" PRIu64 ", its cloud copy has "
		     "%zd bytes",
		     i, info->evicted_bytes, n);
	/* the copy is the entry at seq, with the acknowledged bytes:
	 * checked as the one entry held (none is) */
	{
		struct held_ctx c = { i };

		check_entry(&c, info->seq, buf, (size_t)n);
		free(d->h);
		d->h = NULL;
		d->held = 0;
	}
}

static int verify(const char *dir, const char *acks, const char *inflight)
{
	struct store_options o;
	struct store *s;
	uint64_t sp, nacks, held = 0, nin = 0, nin_kept = 0, evicted = 0;
	int rc;

	nacks = read_acks(acks);
	rc = store_fsck(dir, stdout);
	if (rc)
		note("fsck of the store as the power cut left it: %d", rc);
	store_opts(&o);
	rc = store_open(dir, &o, &s);
	if (rc) {
		note("cannot open the store after the power cut: %s",
		     strerror(-rc));
		goto out;
	}
	if (store_space_lookup(s, "pc", &sp)) {
		if (nacks)
			note("space 'pc' is gone");
		store_close(s);
		goto out;
	}
	for (int i = 0; i < NDOCS; i++) {
		struct store_doc_info info;
		struct held_ctx c = { i };
		char key[16];
		uint64_t id;

		snprintf(key, sizeof(key), "d%d", i);
		if (store_doc_lookup(s, sp, key, &id) ||
		    store_doc_info(s, id, &info)) {
			if (dv[i].max_acked)
				note("d%d is gone", i);
			continue;
		}
		dv[i].last_seq = info.seq;
		if (info.seq < dv[i].max_acked)
			note("d%d: lost acknowledged appends: seq %" PRIu64
			     ", acknowledged %" PRIu64,
			     i, info.seq, dv[i].max_acked);
		rc = store_read(s, id, check_entry, &c);
		if (rc != (info.evicted ? -ENODATA : 0))
			note("d%d: read%s: %s", i,
			     info.evicted ? " of an evicted document" : "",
			     strerror(-rc));
		if (dv[i].held && dv[i].last_held != info.seq)
			note("d%d: last held seq %" PRIu64 " is not the "
			     "document's %" PRIu64,
			     i, dv[i].last_held, info.seq);
		if (cloud)
			check_evict(i, &info, &evicted);
		held += dv[i].held;
	}
	rc = store_close(s);
	nin_kept = inflight_kept(inflight, &nin);
	if (rc)
		note("close after recovery: %s", strerror(-rc));
	rc = store_fsck(dir, stdout);
	if (rc)
		note("fsck after recovery: %d", rc);
out:
	printf("verify: %" PRIu64 " acknowledged changes, %" PRIu64
	       " in flight at the cut (%" PRIu64 " kept), %" PRIu64
	       " entries held, %" PRIu64 " documents evicted, %d problems\n",
	       nacks, nin, nin_kept, held, evicted, problems);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* verify reports a dropped torn tail (a warning) */
	log_set_level(argc > 1 && strcmp(argv[1], "verify") == 0
			      ? LOG_LVL_WARN
			      : LOG_LVL_ERROR);
	if ((argc == 4 || (argc == 5 && strcmp(argv[4], "grow") == 0) ||
	     (argc == 6 && strcmp(argv[4], "evict") == 0)) &&
	    strcmp(argv[1], "run") == 0) {
		grow_mode = argc == 5;
		cloud = argc == 6 ? argv[5] : NULL;
		return run(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	}
	if (argc == 3 && strcmp(argv[1], "shutdown") == 0)
		return shutdown_fs(argv[2]);
	if (argc >= 4 && argc <= 6 && strcmp(argv[1], "verify") == 0) {
		cloud = argc == 6 ? argv[5] : NULL;
		return verify(argv[2], argv[3], argc >= 5 ? argv[4] : NULL);
	}
	fprintf(stderr,
		"usage: %s run DIR SEED [grow | evict CLOUD] | shutdown "
		"MOUNTPOINT | verify DIR ACKS [INFLIGHT [CLOUD]]\n",
		argv[0]);
	return 2;
}
