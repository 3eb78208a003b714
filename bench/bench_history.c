/*
 * bench_history.c - the cloud history (docs/cloud-history.md) measured:
 *
 *   bench_history delay WORK SECONDS RATE DOCS DELAY_MS
 *       RATE changes/s for SECONDS over DOCS documents of a store backed
 *       up with history to dir:WORK/cloud.  A wrapper target sees every
 *       confirmed PUT: an object PUT confirms its document's changes up to
 *       its seq (the baseline: change-to-object delay), a feed batch PUT
 *       confirms each record's (change-to-feed delay).  Prints p50/p99/max
 *       of both, the feed PUTs, and the feed PUTs per backup_delay_ms.
 *   bench_history day WORK HOURS RATE BATCH_S RETENTION_S
 *       HOURS of simulated time at RATE changes/s over 1,000 documents,
 *       straight into the feed writer with an injected clock (one batch
 *       every BATCH_S simulated seconds), retention RETENTION_S; prints
 *       the feed bytes written and the bytes and objects left in the
 *       bucket (dir:WORK/cloud) at the end.
 *   bench_history fill WORK DOCS
 *       a store WORK/store of DOCS documents (~200 bytes each) backed up
 *       with history to dir:WORK/cloud, flushed (for restore timings:
 *       bench_history.sh).
 */
#include "config.h"

#include "cloud/backup.h"
#include "cloud/feed.h"
#include "cloud/history.h"
#include "cloud/pitr.h"
#include "cloud/target.h"
#include "cloud/target_internal.h"
#include "json/json.h"
#include "store/doc.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_history: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

/* ---- the wrapper target: confirmations ---- */

struct pend {
	uint64_t seq;
	int64_t t;
};

struct docq {
	struct pend *v;
	size_t head, n, cap;
};

struct wrap {
	struct cloud_target base;
	struct cloud_target *inner;
	pthread_mutex_t lock;
	struct docq *obj, *feed; /* per document: changes not confirmed */
	int64_t *lat_obj, *lat_feed;
	size_t nobj, nfeed, cap;
	uint64_t feed_puts;
	uint32_t ndocs;
};

static void q_push(struct docq *q, uint64_t seq, int64_t t)
{
	if (q->head + q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		q->v = realloc(q->v, q->cap * sizeof(*q->v));
		if (!q->v)
			die("realloc", -ENOMEM);
	}
	q->v[q->head + q->n++] = (struct pend){ seq, t };
}

static void q_confirm(struct docq *q, uint64_t seq, int64_t now, int64_t *lat,
		      size_t *nlat, size_t cap)
{
	while (q->n && q->v[q->head].seq <= seq) {
		if (*nlat < cap)
			lat[(*nlat)++] = now - q->v[q->head].t;
		q->head++;
		q->n--;
	}
}

static int doc_index(const char *key)
{
	unsigned d;

	return sscanf(key, "d%05u", &d) == 1 ? (int)d : -1;
}

static int w_put(struct cloud_target *t, const char *space, const char *key,
		 const void *buf, size_t len, uint64_t seq)
{
	struct wrap *w = (struct wrap *)t;
	int rc = cloud_target_put(w->inner, space, key, buf, len, seq);
	int64_t now = mono_ns();
	struct feed_object o;

	if (rc)
		return rc;
	pthread_mutex_lock(&w->lock);
	if (!cloud_name_reserved(space)) {
		int d = doc_index(key);

		if (d >= 0 && (uint32_t)d < w->ndocs)
			q_confirm(&w->obj[d], seq, now, w->lat_obj, &w->nobj,
				  w->cap);
	} else if (!strncmp(key, "feed-", 5) && !feed_decode(buf, len, &o)) {
		w->feed_puts++;
		for (size_t i = 0; i < o.n; i++) {
			int d = doc_index(o.rec[i].key);

			if (d >= 0 && (uint32_t)d < w->ndocs &&
			    o.rec[i].kind == FEED_REC_DOC)
				q_confirm(&w->feed[d], o.rec[i].seq, now,
					  w->lat_feed, &w->nfeed, w->cap);
		}
		feed_release(&o);
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* A document object: its confirmation time (the baseline). */
static int w_put_doc(struct cloud_target *t, const char *space, const char *key,
		     const void *body, size_t len,
		     const struct cloud_doc_meta *meta)
{
	struct wrap *w = (struct wrap *)t;
	int rc = cloud_target_put_doc(w->inner, space, key, body, len, meta);
	int64_t now = mono_ns();
	int d = doc_index(key);

	if (rc)
		return rc;
	pthread_mutex_lock(&w->lock);
	if (d >= 0 && (uint32_t)d < w->ndocs)
		q_confirm(&w->obj[d], meta->seq, now, w->lat_obj, &w->nobj,
			  w->cap);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static int w_get_doc(struct cloud_target *t, const char *space, const char *key,
		     void **body, size_t *len, struct cloud_doc_meta *meta)
{
	return cloud_target_get_doc(((struct wrap *)t)->inner, space, key, body,
				    len, meta);
}

static int w_head_doc(struct cloud_target *t, const char *space,
		      const char *key, struct cloud_doc_meta *meta,
		      uint64_t *size)
{
	return cloud_target_head_doc(((struct wrap *)t)->inner, space, key,
				     meta, size);
}

static int w_get(struct cloud_target *t, const char *space, const char *key,
		 void **buf, size_t *len, uint64_t *seq)
{
	return cloud_target_get(((struct wrap *)t)->inner, space, key, buf, len,
				seq);
}

static int w_head(struct cloud_target *t, const char *space, const char *key,
		  struct cloud_object_info *info)
{
	return cloud_target_head(((struct wrap *)t)->inner, space, key, info);
}

static int w_del(struct cloud_target *t, const char *space, const char *key)
{
	return cloud_target_delete(((struct wrap *)t)->inner, space, key);
}

static int w_list(struct cloud_target *t, const char *space, const char *token,
		  char **next, cloud_name_fn fn, void *arg)
{
	return cloud_target_list(((struct wrap *)t)->inner, space, token, next,
				 fn, arg);
}

static void w_destroy(struct cloud_target *t)
{
	struct wrap *w = (struct wrap *)t;

	cloud_target_free(w->inner);
	cloud_target_base_release(t);
}

static const struct cloud_target_ops wrap_ops = {
	.put = w_put,
	.get = w_get,
	.head = w_head,
	.put_doc = w_put_doc,
	.get_doc = w_get_doc,
	.head_doc = w_head_doc,
	.del = w_del,
	.list = w_list,
	.destroy = w_destroy,
};

static struct cloud_target *open_target(const char *work, struct wrap *w)
{
	struct cloud_options co;
	char url[4200];
	int rc;

	cloud_options_default(&co);
	snprintf(url, sizeof(url), "dir:%s/cloud", work);
	if (!w) {
		struct cloud_target *t;

		rc = cloud_target_open(url, &co, &t);
		if (rc)
			die("open target", rc);
		return t;
	}
	rc = cloud_target_open(url, &co, &w->inner);
	if (!rc)
		rc = cloud_target_base_init(&w->base, &wrap_ops, url, &co);
	if (rc)
		die("open target", rc);
	pthread_mutex_init(&w->lock, NULL);
	return &w->base;
}

static void open_store(const char *work, struct store **s, struct doc **d)
{
	struct store_options so;
	struct doc_options dopt;
	char dir[4200];
	int rc;

	snprintf(dir, sizeof(dir), "%s/store", work);
	store_options_default(&so);
	so.capacity_bytes = 256u << 20;
	rc = store_open(dir, &so, s);
	if (rc)
		die("open store", rc);
	doc_options_default(&dopt);
	rc = doc_open(*s, &dopt, d);
	if (rc)
		die("doc_open", rc);
}

static uint64_t *make_docs(struct store *s, struct doc *d, uint32_t n)
{
	uint64_t sid, *ids = calloc(n, sizeof(*ids));
	char key[32];
	int rc = store_space_create(s, "bench", &M, &sid, NULL);

	if (rc || !ids)
		die("space", rc ? rc : -ENOMEM);
	for (uint32_t i = 0; i < n; i++) {
		json_t *v = json_pack("{s:i,s:s}", "n", (int)i, "text",
				      "a document of the history bench, about "
				      "two hundred bytes long once it has a "
				      "few fields like this one and a counter");

		snprintf(key, sizeof(key), "d%05u", i);
		rc = store_doc_create(s, sid, key, &M, &ids[i], NULL);
		if (!rc)
			rc = doc_replace(d, ids[i], v, NULL);
		json_decref(v);
		if (rc)
			die("create", rc);
	}
	return ids;
}

static void start_backup(struct store *s, struct cloud_target *t,
			 uint32_t delay_ms, struct backup **b)
{
	struct backup_options o;
	int rc;

	backup_options_default(&o);
	o.delay_ms = delay_ms;
	o.retention_ns = UINT64_C(7) * 86400 * 1000000000;
	rc = backup_start(s, t, &o, b);
	if (rc)
		die("backup_start", rc);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(int64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	return (double)v[(size_t)(p * (double)(n - 1))] / 1e6;
}

/* ---- delay ---- */

static void bench_delay(const char *work, uint32_t secs, uint32_t rate,
			uint32_t ndocs, uint32_t delay_ms)
{
	struct wrap w;
	struct store *s;
	struct doc *d;
	struct backup *b;
	struct cloud_target *t;
	uint64_t *ids, x = 88172645463325252ull;
	uint64_t total = (uint64_t)secs * rate;
	int64_t start, end, tick = 10000000; /* 10 ms */
	uint32_t per_tick = rate / 100 ? rate / 100 : 1;
	uint64_t puts0;

	memset(&w, 0, sizeof(w));
	w.ndocs = ndocs;
	w.cap = total;
	w.obj = calloc(ndocs, sizeof(*w.obj));
	w.feed = calloc(ndocs, sizeof(*w.feed));
	w.lat_obj = calloc(total, sizeof(int64_t));
	w.lat_feed = calloc(total, sizeof(int64_t));
	if (!w.obj || !w.feed || !w.lat_obj || !w.lat_feed)
		die("alloc", -ENOMEM);
	t = open_target(work, &w);
	open_store(work, &s, &d);
	ids = make_docs(s, d, ndocs);
	start_backup(s, t, delay_ms, &b);
	if (backup_flush(b, 0))
		die("flush", -ETIMEDOUT);
	pthread_mutex_lock(&w.lock);
	w.nobj = w.nfeed = 0;
	puts0 = w.feed_puts;
	pthread_mutex_unlock(&w.lock);
	start = mono_ns();
	for (uint64_t done = 0; done < total;) {
		int64_t due = start + (int64_t)(done / per_tick) * tick;
		struct timespec ts;

		while (mono_ns() < due) {
			int64_t left = due - mono_ns();

			ts.tv_sec = 0;
			ts.tv_nsec = left > 0 ? (long)left : 0;
			nanosleep(&ts, NULL);
		}
		for (uint32_t k = 0; k < per_tick && done < total; k++) {
			uint32_t di;
			json_t *p;
			struct store_doc_info info;
			int rc;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			di = (uint32_t)(x % ndocs);
			p = json_pack("{s:I}", "n", (json_int_t)done);
			rc = doc_patch(d, ids[di], p, NULL);
			json_decref(p);
			if (!rc)
				rc = store_doc_info(s, ids[di], &info);
			if (rc)
				die("patch", rc);
			pthread_mutex_lock(&w.lock);
			q_push(&w.obj[di], info.seq, mono_ns());
			q_push(&w.feed[di], info.seq, mono_ns());
			pthread_mutex_unlock(&w.lock);
			done++;
		}
	}
	end = mono_ns();
	/* wait for everything without flushing (a flush sends at once) */
	for (;;) {
		struct backup_stats bs;
		struct timespec ts = { 0, 20000000 };

		backup_stats(b, &bs);
		if (bs.queue == 0)
			break;
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&w.lock);
	qsort(w.lat_obj, w.nobj, sizeof(int64_t), cmp_i64);
	qsort(w.lat_feed, w.nfeed, sizeof(int64_t), cmp_i64);
	printf("delay backup_delay_ms=%" PRIu32 " rate=%" PRIu32
	       "/s docs=%" PRIu32 " changes=%" PRIu64 " seconds=%.1f\n",
	       delay_ms, rate, ndocs, total, (double)(end - start) / 1e9);
	printf("  change-to-object (baseline): confirmed=%zu p50_ms=%.0f "
	       "p99_ms=%.0f max_ms=%.0f\n",
	       w.nobj, pct_ms(w.lat_obj, w.nobj, 0.5),
	       pct_ms(w.lat_obj, w.nobj, 0.99), pct_ms(w.lat_obj, w.nobj, 1.0));
	printf("  change-to-feed: confirmed=%zu p50_ms=%.0f p99_ms=%.0f "
	       "max_ms=%.0f (bound delay+1s = %" PRIu32 " ms)\n",
	       w.nfeed, pct_ms(w.lat_feed, w.nfeed, 0.5),
	       pct_ms(w.lat_feed, w.nfeed, 0.99),
	       pct_ms(w.lat_feed, w.nfeed, 1.0), delay_ms + 1000);
	printf("  feed PUTs=%" PRIu64 " over %.1f s: %.2f per backup_delay_ms "
	       "(changes per PUT %.0f)\n",
	       w.feed_puts - puts0, (double)(mono_ns() - start) / 1e9,
	       (double)(w.feed_puts - puts0) /
		       ((double)(mono_ns() - start) / 1e6 / delay_ms),
	       (double)total /
		       (double)(w.feed_puts - puts0 ? w.feed_puts - puts0 : 1));
	pthread_mutex_unlock(&w.lock);
	backup_stop(b, 0);
	doc_close(d);
	store_close(s);
	cloud_target_free(t);
}

/* ---- day ---- */

static int64_t sim_now;

static int64_t sim_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&sim_now, __ATOMIC_RELAXED);
}

static void bench_day(const char *work, double hours, uint32_t rate,
		      uint32_t batch_s, uint64_t retention_s)
{
	struct history_options ho;
	struct history_stats st;
	struct history *h;
	struct cloud_target *t = open_target(work, NULL);
	uint8_t id[FEED_ID_LEN] = { 1 };
	uint64_t x = 2463534242ull, sim_secs = (uint64_t)(hours * 3600);
	int64_t start = mono_ns();
	char cmd[4400];
	int rc;

	sim_now = INT64_C(1800000000) * 1000000000;
	history_options_default(&ho);
	ho.delay_ms = 1;
	ho.retention_ns = retention_s * 1000000000;
	ho.prune_ms = 1;
	ho.clock_ns = sim_clock;
	rc = history_open(t, id, &ho, &h);
	if (rc)
		die("history_open", rc);
	for (uint64_t sec = 0; sec < sim_secs; sec++) {
		for (uint32_t k = 0; k < rate; k++) {
			struct feed_record r;
			char body[96];

			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			memset(&r, 0, sizeof(r));
			r.kind = FEED_REC_DOC;
			strcpy(r.space, "bench");
			snprintf(r.key, sizeof(r.key), "d%05u",
				 (unsigned)(x % 1000));
			r.seq = sec * rate + k + 1;
			r.mode = 0644;
			r.body_len = (size_t)snprintf(body, sizeof(body),
						      "{\"n\":%" PRIu64
						      ",\"text\":\"a change of "
						      "the simulated day\"}\n",
						      r.seq);
			r.body = (const uint8_t *)body;
			rc = history_add(h, &r, NULL, NULL);
			if (rc)
				die("history_add", rc);
		}
		__atomic_store_n(&sim_now, sim_now + 1000000000,
				 __ATOMIC_RELAXED);
		if ((sec + 1) % batch_s == 0 && history_flush(h, 0))
			die("flush", -ETIMEDOUT);
	}
	if (history_flush(h, 0))
		die("flush", -ETIMEDOUT);
	history_stats(h, &st);
	history_close(h);
	cloud_target_free(t);
	printf("day simulated_hours=%.1f rate=%" PRIu32 "/s batch_s=%" PRIu32
	       " retention_s=%" PRIu64 " wall_s=%.1f\n",
	       hours, rate, batch_s, retention_s,
	       (double)(mono_ns() - start) / 1e9);
	printf("  records=%" PRIu64 " feed PUTs=%" PRIu64
	       " feed bytes written=%" PRIu64 " snapshots=%" PRIu64
	       " objects pruned=%" PRIu64 "\n",
	       st.records, st.puts, st.bytes, st.snapshots, st.pruned);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd),
		 "printf '  bucket at the end: %%s bytes in %%s objects\\n' "
		 "$(find '%s/cloud' -type f -printf '%%s\\n' | awk '{s+=$1} "
		 "END {print s}') $(find '%s/cloud' -type f | wc -l)",
		 work, work);
	if (system(cmd) != 0)
		die("du", -EIO);
}

/* ---- fill ---- */

static void bench_fill(const char *work, uint32_t ndocs)
{
	struct cloud_target *t = open_target(work, NULL);
	struct store *s;
	struct doc *d;
	struct backup *b;

	open_store(work, &s, &d);
	free(make_docs(s, d, ndocs));
	start_backup(s, t, 100, &b);
	if (backup_flush(b, 0))
		die("flush", -ETIMEDOUT);
	backup_stop(b, 0);
	doc_close(d);
	store_close(s);
	cloud_target_free(t);
	printf("fill docs=%" PRIu32 "\n", ndocs);
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "delay")) {
		bench_delay(argv[2], (uint32_t)atoi(argv[3]),
			    (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]),
			    (uint32_t)atoi(argv[6]));
		return 0;
	}
	if (argc == 7 && !strcmp(argv[1], "day")) {
		bench_day(argv[2], atof(argv[3]), (uint32_t)atoi(argv[4]),
			  (uint32_t)atoi(argv[5]),
			  (uint64_t)strtoull(argv[6], NULL, 10));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "fill")) {
		bench_fill(argv[2], (uint32_t)atoi(argv[3]));
		return 0;
	}
	fprintf(stderr, "usage: bench_history delay WORK SECONDS RATE DOCS "
			"DELAY_MS\n"
			"       bench_history day WORK HOURS RATE BATCH_S "
			"RETENTION_S\n"
			"       bench_history fill WORK DOCS\n");
	return 2;
}
