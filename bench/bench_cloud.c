/*
 * bench_cloud.c - the cloud backup of a store against an S3-compatible
 * server: how long a change takes to reach the bucket under a steady
 * stream of changes, and how fast the uploader empties a backlog.
 *
 *   bench_cloud ENDPOINT URL DIR latency [DELAY_MS]
 *   bench_cloud ENDPOINT URL DIR upload
 *   bench_cloud ENDPOINT URL DIR verify SPACE COUNT BYTES
 *
 * ENDPOINT is the server (http://127.0.0.1:PORT, path-style addressing),
 * URL the target (s3://BUCKET/PREFIX, a prefix of its own per run), DIR a
 * scratch directory (a store under DIR/store, removed at the end).
 * Credentials come from the environment (AWS_ACCESS_KEY_ID, ...).
 *
 * latency  A store of BENCH_LAT_DOCS (1,000) documents is uploaded, then
 *          changed BENCH_RATE (1,000) times a second for BENCH_SECONDS
 *          (10): every 10 ms tick, rate/100 merge patches of ~200 B
 *          (doc_patch, as the filesystem writes them) to documents
 *          picked at random.  Each change's time and sequence number are
 *          recorded; a poller reads every changed document's backup_seq
 *          and backup_time_ns (store_doc_info) and, once backup_seq
 *          reaches the change's seq, takes backup_time_ns - change time
 *          as the change's delay: the uploader records the mark right
 *          after the server confirmed the PUT of an archive at that seq.
 *          One mark in 20 is confirmed by a HEAD of the object (its
 *          x-amz-meta-seq at least the marked seq), and after the run
 *          every object is HEADed for the document's last seq.
 *          backup_delay_ms is DELAY_MS (default: the product's default).
 * upload   A fresh store of BENCH_UP_DOCS (2,000) documents of
 *          BENCH_UP_BYTES (4,096) bytes each (one replacement entry) is
 *          uploaded by a backup started on it (backup_start queues every
 *          pending document; backup_flush waits for the last): objects/s
 *          and MB/s (10^6 bytes of archive).  Every object is then HEADed
 *          (seq, size) and one archive is saved as DIR/archive.bin, so a
 *          baseline can PUT the same bytes.
 * verify   HEAD SPACE/doc000000.. of URL: all COUNT present with BYTES
 *          bytes each (checks a baseline's uploads).
 *
 * BENCH_UPLOADS sets the uploads in flight of both (default: the
 * product's, 4).
 *
 * Figures go to stdout as "name key=value ..." lines for bench_cloud.sh.
 */
#include "config.h"

#include "cloud/backup.h"
#include "cloud/target.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 10
#define POLL_MS 5
#define HEAD_EVERY 20
#define PATCH_BYTES 200

static const struct store_meta M = { 0644, 0, 0, 1, 1 };
static const char *endpoint, *url, *work;
static char store_dir[4200];

/* ---- helpers ---- */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* The clock of backup_time_ns. */
static int64_t real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000),
			       (long)(ns % 1000000000) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static void sleep_ms(uint32_t ms)
{
	sleep_until(mono_ns() + (int64_t)ms * 1000000);
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && v[0] ? strtoul(v, NULL, 10) : def;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_cloud: cannot %s: %s\n", what, strerror(-rc));
	exit(1);
}

static void rm_rf(const char *dir)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_cloud: cannot remove '%s'\n", dir);
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static struct cloud_target *open_target(void)
{
	struct cloud_options o;
	struct cloud_target *t;
	int rc;

	cloud_options_default(&o);
	o.s3_endpoint = endpoint;
	o.s3_region = "us-east-1";
	o.s3_path_style = true;
	rc = cloud_target_open(url, &o, &t);
	if (rc)
		die("open the target", rc);
	return t;
}

static void open_store(struct store **s, struct doc **d)
{
	struct store_options so;
	int rc;

	rm_rf(store_dir);
	store_options_default(&so);
	so.capacity_bytes = 256ull << 20;
	rc = store_open(store_dir, &so, s);
	if (rc)
		die("open the store", rc);
	rc = doc_open(*s, NULL, d);
	if (rc)
		die("open the document layer", rc);
}

static void close_store(struct store *s, struct doc *d)
{
	doc_close(d);
	store_close(s);
	rm_rf(store_dir);
}

static void make_docs(struct store *s, const char *space, uint64_t *ids,
		      size_t n)
{
	uint64_t sp;
	char key[32];
	int rc;

	rc = store_space_create(s, space, &M, &sp, NULL);
	if (rc)
		die("create the space", rc);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "doc%06zu", i);
		rc = store_doc_create(s, sp, key, &M, &ids[i], NULL);
		if (rc)
			die("create a document", rc);
	}
}

/* Uploads in flight: BENCH_UPLOADS, else the product's default. */
static uint32_t in_flight(void)
{
	struct backup_options bo;

	backup_options_default(&bo);
	return (uint32_t)env_ul("BENCH_UPLOADS", bo.uploads);
}

static void start_backup(struct store *s, struct cloud_target *t,
			 uint32_t delay_ms, struct backup **b)
{
	struct backup_options bo;
	int rc;

	backup_options_default(&bo);
	if (delay_ms != UINT32_MAX)
		bo.delay_ms = delay_ms;
	bo.uploads = in_flight();
	rc = backup_start(s, t, &bo, b);
	if (rc)
		die("start the backup", rc);
}

/* HEAD every document of space: how many are at their store seq (or at
 * least at 1 when ids is NULL), with size_bytes when it is not 0.  The
 * sum of the sizes goes to *bytes. */
static size_t head_all(struct cloud_target *t, struct store *s,
		       const char *space, const uint64_t *ids, size_t n,
		       uint64_t size_bytes, uint64_t *bytes)
{
	struct cloud_object_info oi;
	struct store_doc_info di;
	char key[32];
	size_t good = 0;

	*bytes = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t want = 1;

		snprintf(key, sizeof(key), "doc%06zu", i);
		if (cloud_target_head(t, space, key, &oi))
			continue;
		if (ids && !store_doc_info(s, ids[i], &di))
			want = di.seq;
		*bytes += oi.size_bytes;
		if (oi.seq >= want && (ids == NULL || oi.seq == want) &&
		    (!size_bytes || oi.size_bytes == size_bytes))
			good++;
	}
	return good;
}

/* ---- latency ---- */

struct change {
	uint32_t doc;
	int32_t next; /* the poller's per-document queue */
	uint64_t seq;
	int64_t made_ns; /* CLOCK_REALTIME, after doc_patch returned */
	int64_t delay_ns; /* -1 until the object holding it is in */
};

struct lat {
	struct store *s;
	struct cloud_target *probe; /* HEADs of the poller, own handles */
	uint64_t *ids;
	size_t ndocs;
	struct change *ch;
	atomic_size_t made; /* changes published by the changer */
	atomic_bool changing; /* the changer still runs */
	int64_t deadline_ns; /* the poller gives up (monotonic) */
	/* the poller's own */
	int32_t *head, *tail;
	size_t taken, matched, marks, negative;
	size_t heads, heads_ok;
};

/* Take the changes published since the last call into the queues. */
static void poll_take(struct lat *l)
{
	size_t n = atomic_load_explicit(&l->made, memory_order_acquire);

	for (; l->taken < n; l->taken++) {
		struct change *c = &l->ch[l->taken];
		uint32_t d = c->doc;

		c->next = -1;
		if (l->tail[d] >= 0)
			l->ch[l->tail[d]].next = (int32_t)l->taken;
		else
			l->head[d] = (int32_t)l->taken;
		l->tail[d] = (int32_t)l->taken;
	}
}

/* A sampled mark confirmed by the bucket: the object's seq is at least
 * the marked one. */
static void poll_confirm(struct lat *l, uint32_t d, uint64_t seq)
{
	struct cloud_object_info oi;
	char key[32];

	snprintf(key, sizeof(key), "doc%06u", d);
	l->heads++;
	if (!cloud_target_head(l->probe, "bench", key, &oi) && oi.seq >= seq)
		l->heads_ok++;
}

static void poll_doc(struct lat *l, uint32_t d)
{
	struct store_doc_info di;
	bool marked = false;

	if (store_doc_info(l->s, l->ids[d], &di))
		return;
	while (l->head[d] >= 0 && l->ch[l->head[d]].seq <= di.backup_seq &&
	       di.backup_time_ns > 0) {
		struct change *c = &l->ch[l->head[d]];

		c->delay_ns = di.backup_time_ns - c->made_ns;
		if (c->delay_ns < 0) {
			l->negative++;
			c->delay_ns = 0;
		}
		l->matched++;
		marked = true;
		l->head[d] = c->next;
		if (l->head[d] < 0)
			l->tail[d] = -1;
	}
	if (marked && l->marks++ % HEAD_EVERY == 0)
		poll_confirm(l, d, di.backup_seq);
}

static void *poller(void *arg)
{
	struct lat *l = arg;

	for (;;) {
		bool changing = atomic_load(&l->changing);

		poll_take(l);
		for (uint32_t d = 0; d < l->ndocs; d++)
			if (l->head[d] >= 0)
				poll_doc(l, d);
		if (!changing && l->matched == l->taken)
			break;
		if (!changing && mono_ns() > l->deadline_ns)
			break;
		sleep_ms(POLL_MS);
	}
	return NULL;
}

/* One merge patch of PATCH_BYTES compact bytes. */
static json_t *make_patch(uint64_t n)
{
	char pad[PATCH_BYTES];
	json_t *p = json_pack("{s:I,s:I,s:s}", "n", (json_int_t)n, "t",
			      (json_int_t)real_ns(), "note", "");
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : PATCH_BYTES;

	if (len < PATCH_BYTES) {
		memset(pad, 'a' + (int)(n % 26), PATCH_BYTES - len);
		pad[PATCH_BYTES - len] = '\0';
		json_object_set_new(p, "note", json_string(pad));
	}
	free(text);
	return p;
}

/* Make per_tick changes every TICK_MS for secs seconds.  Returns the
 * largest lag behind the schedule in ns. */
static int64_t change_loop(struct lat *l, struct doc *d, uint32_t per_tick,
			   uint32_t secs)
{
	uint64_t ticks = (uint64_t)secs * 1000 / TICK_MS,
		 x = 0x2545f4914f6cdd1d;
	int64_t t0 = mono_ns(), lag = 0;
	size_t n = 0;

	for (uint64_t k = 0; k < ticks; k++) {
		int64_t due = t0 + (int64_t)k * TICK_MS * 1000000;

		sleep_until(due);
		if (mono_ns() - due > lag)
			lag = mono_ns() - due;
		for (uint32_t i = 0; i < per_tick; i++, n++) {
			struct change *c = &l->ch[n];
			struct store_doc_info di;
			json_t *p = make_patch(n);
			int rc;

			c->doc = (uint32_t)(rng_next(&x) % l->ndocs);
			rc = p ? doc_patch(d, l->ids[c->doc], p, NULL)
			       : -ENOMEM;
			c->made_ns = real_ns();
			json_decref(p);
			if (!rc)
				rc = store_doc_info(l->s, l->ids[c->doc], &di);
			if (rc)
				die("change a document", rc);
			c->seq = di.seq;
			c->delay_ns = -1;
			atomic_store_explicit(&l->made, n + 1,
					      memory_order_release);
		}
	}
	return lag;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? (double)v[i] / 1e6 : 0;
}

static void lat_report(struct lat *l, uint32_t delay_ms, uint32_t rate,
		       double secs, int64_t lag, const struct backup_stats *bs)
{
	int64_t *v = malloc((l->taken ? l->taken : 1) * sizeof(*v));
	size_t n = 0;
	double sum = 0;

	if (!v)
		die("report", -ENOMEM);
	for (size_t i = 0; i < l->taken; i++) {
		if (l->ch[i].delay_ns >= 0) {
			v[n++] = l->ch[i].delay_ns;
			sum += (double)l->ch[i].delay_ns;
		}
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	printf("latency backup_delay_ms=%" PRIu32 " in_flight=%" PRIu32
	       " rate=%" PRIu32
	       " changes=%zu made_per_s=%.0f max_lag_ms=%.1f in_bucket=%zu "
	       "p50_ms=%.0f p90_ms=%.0f p99_ms=%.0f max_ms=%.0f mean_ms=%.0f "
	       "uploads=%" PRIu64 " upload_failures=%" PRIu64
	       " head_confirmed=%zu/%zu negative=%zu\n",
	       delay_ms, in_flight(), rate, l->taken, (double)l->taken / secs,
	       (double)lag / 1e6, n, pct_ms(v, n, 0.50), pct_ms(v, n, 0.90),
	       pct_ms(v, n, 0.99), n ? (double)v[n - 1] / 1e6 : 0,
	       n ? sum / (double)n / 1e6 : 0, bs->uploads, bs->upload_failures,
	       l->heads_ok, l->heads, l->negative);
	free(v);
}

static void bench_latency(uint32_t delay_ms)
{
	uint32_t secs = (uint32_t)env_ul("BENCH_SECONDS", 10);
	uint32_t rate = (uint32_t)env_ul("BENCH_RATE", 1000);
	size_t ndocs = env_ul("BENCH_LAT_DOCS", 1000);
	uint32_t per_tick = rate * TICK_MS / 1000;
	struct cloud_target *t = open_target();
	struct lat l = { 0 };
	struct backup_stats bs;
	struct backup *b;
	struct store *s;
	struct doc *d;
	pthread_t th;
	int64_t t0, lag;
	double secs_made;
	uint64_t bytes;
	size_t good;
	int rc;

	if (delay_ms == UINT32_MAX) {
		struct backup_options bo;

		backup_options_default(&bo);
		delay_ms = bo.delay_ms;
	}
	open_store(&s, &d);
	l.s = s;
	l.probe = open_target();
	l.ndocs = ndocs;
	l.ids = calloc(ndocs, sizeof(*l.ids));
	l.head = malloc(ndocs * sizeof(*l.head));
	l.tail = malloc(ndocs * sizeof(*l.tail));
	l.ch = calloc((size_t)per_tick * secs * 1000 / TICK_MS + 1,
		      sizeof(*l.ch));
	if (!l.ids || !l.head || !l.tail || !l.ch)
		die("allocate", -ENOMEM);
	memset(l.head, 0xff, ndocs * sizeof(*l.head));
	memset(l.tail, 0xff, ndocs * sizeof(*l.tail));
	make_docs(s, "bench", l.ids, ndocs);
	start_backup(s, t, delay_ms, &b);
	rc = backup_flush(b, 120000);
	if (rc)
		die("upload the documents before the run", rc);
	backup_stats(b, &bs);
	fprintf(stderr,
		"bench_cloud: %zu documents uploaded; changing %" PRIu32
		" a second for %" PRIu32 " s\n",
		ndocs, rate, secs);
	atomic_store(&l.changing, true);
	l.deadline_ns = mono_ns() +
			((int64_t)secs * 1000 + delay_ms + 120000) * 1000000;
	if (pthread_create(&th, NULL, poller, &l))
		die("start the poller", -EAGAIN);
	t0 = mono_ns();
	lag = change_loop(&l, d, per_tick, secs);
	secs_made = (double)(mono_ns() - t0) / 1e9;
	atomic_store(&l.changing, false);
	pthread_join(th, NULL);
	{
		struct backup_stats after;

		backup_stats(b, &after);
		after.uploads -= bs.uploads;
		after.upload_failures -= bs.upload_failures;
		lat_report(&l, delay_ms, rate, secs_made, lag, &after);
	}
	rc = backup_flush(b, 120000);
	good = head_all(l.probe, s, "bench", l.ids, ndocs, 0, &bytes);
	printf("latency_check flush=%s objects_at_last_seq=%zu/%zu\n",
	       rc ? strerror(-rc) : "ok", good, ndocs);
	backup_stop(b, 0);
	cloud_target_free(l.probe);
	cloud_target_free(t);
	close_store(s, d);
	free(l.ids);
	free(l.head);
	free(l.tail);
	free(l.ch);
}

/* ---- upload throughput ---- */

/* A JSON value whose compact text is len - 1 bytes (the entry adds its
 * kind byte), not the same for any two documents. */
static json_t *make_body(size_t len, uint64_t *x)
{
	size_t n = len > 12 ? len - 12 : 1; /* {"body":"..."} */
	char *s = malloc(n + 1);
	json_t *v;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = "0123456789abcdef"[rng_next(x) & 15];
	s[n] = '\0';
	v = json_pack("{s:s}", "body", s);
	free(s);
	return v;
}

static void save_archive(struct cloud_target *t, const char *space)
{
	char path[4300];
	uint64_t seq;
	size_t len;
	void *buf;
	FILE *f;
	int rc = cloud_target_get(t, space, "doc000000", &buf, &len, &seq);

	if (rc)
		die("get an archive", rc);
	snprintf(path, sizeof(path), "%s/archive.bin", work);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		die("save the archive", -EIO);
	free(buf);
}

static void bench_upload(void)
{
	size_t ndocs = env_ul("BENCH_UP_DOCS", 2000);
	size_t size = env_ul("BENCH_UP_BYTES", 4096);
	struct cloud_target *t = open_target();
	struct backup_stats bs;
	struct backup *b;
	struct store *s;
	struct doc *d;
	uint64_t *ids = calloc(ndocs, sizeof(*ids)), x = 88172645463325252ull;
	uint64_t bytes;
	int64_t t0, t1;
	double secs;
	size_t good;
	int rc;

	if (!ids)
		die("allocate", -ENOMEM);
	open_store(&s, &d);
	make_docs(s, "tput", ids, ndocs);
	for (size_t i = 0; i < ndocs; i++) {
		json_t *v = make_body(size, &x);

		rc = v ? doc_replace(d, ids[i], v, NULL) : -ENOMEM;
		json_decref(v);
		if (rc)
			die("write a document", rc);
	}
	rc = store_sync(s, 0);
	if (rc)
		die("sync the store", rc);
	t0 = mono_ns();
	start_backup(s, t, UINT32_MAX, &b);
	rc = backup_flush(b, 0);
	t1 = mono_ns();
	if (rc)
		die("flush the backup", rc);
	backup_stats(b, &bs);
	backup_stop(b, 0);
	/* backup_stop interrupts the target: check through a fresh one */
	cloud_target_free(t);
	t = open_target();
	secs = (double)(t1 - t0) / 1e9;
	good = head_all(t, s, "tput", ids, ndocs, 0, &bytes);
	printf("upload objects=%zu entry_bytes=%zu archive_bytes=%" PRIu64
	       " in_flight=%" PRIu32 " seconds=%.3f objects_per_s=%.1f "
	       "mb_per_s=%.2f uploads=%" PRIu64 " upload_failures=%" PRIu64
	       " objects_at_last_seq=%zu\n",
	       ndocs, size, ndocs ? bytes / ndocs : 0, in_flight(), secs,
	       (double)ndocs / secs, (double)bytes / secs / 1e6, bs.uploads,
	       bs.upload_failures, good);
	save_archive(t, "tput");
	cloud_target_free(t);
	close_store(s, d);
	free(ids);
}

static void bench_verify(const char *space, size_t n, uint64_t size)
{
	struct cloud_target *t = open_target();
	uint64_t bytes;
	size_t good = head_all(t, NULL, space, NULL, n, size, &bytes);

	printf("verify space=%s objects=%zu/%zu bytes=%" PRIu64 "\n", space,
	       good, n, bytes);
	cloud_target_free(t);
	if (good != n)
		exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr,
			"usage: bench_cloud ENDPOINT URL DIR latency [DELAY_MS]\n"
			"       bench_cloud ENDPOINT URL DIR upload\n"
			"       bench_cloud ENDPOINT URL DIR verify SPACE COUNT "
			"BYTES\n");
		return 2;
	}
	endpoint = argv[1];
	url = argv[2];
	work = argv[3];
	snprintf(store_dir, sizeof(store_dir), "%s/store", work);
	mkdir(work, 0755);
	log_set_level(LOG_LVL_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[4], "latency"))
		bench_latency(argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10)
				       : UINT32_MAX);
	else if (!strcmp(argv[4], "upload"))
		bench_upload();
	else if (!strcmp(argv[4], "verify") && argc == 8)
		bench_verify(argv[5], strtoul(argv[6], NULL, 10),
			     strtoull(argv[7], NULL, 10));
	else
		return 2;
	return 0;
}
