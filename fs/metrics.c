/*
 * metrics.c - Prometheus text format (version 0.0.4) metrics.
 *
 * Where they are: the hidden read-only file MOUNTPOINT/.caravan-metrics
 * (reserved name: never listed, so tar and rsync do not copy it; a read
 * gets the values at open), with -o metrics_listen=ADDR:PORT at
 * http://ADDR:PORT/metrics (fs/metrics_http.c: each series labelled with
 * store and mountpoint, for a scraper that watches many mounts; the file
 * in the mount names its mount and carries no labels), and with -o metrics_file=PATH a file rewritten
 * every metrics_ms (written to a new PATH.XXXXXX made by mkstemp, so
 * never through a planted link, mode 0644, then renamed over PATH, so a
 * scraper such as node_exporter's textfile collector never reads half a
 * file) and removed at a clean unmount.
 *
 * Sources: the counters of struct fs (fs/counters.h: atomics, updated by
 * the request handlers), store_stats(), doc_stats() and
 * cloud_glue_stats().  The rewriting thread is one per process (a
 * process serves one mount); its state below is guarded by mx.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/cloud_glue.h"
#include "fs/counters.h"
#include "fs/follow_glue.h"
#include "fs/fs.h"
#include "fs/metrics.h"
#include "util/clock.h"
#include "store/evict.h"
#include "store/snapshot.h"
#include "util/log.h"

/* Where one rendering goes: the stream and the labels every series
 * carries ("" or 'store="...",mountpoint="..."', already escaped). */
struct out {
	FILE *f;
	const char *labels;
};

static void metric(struct out *o, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	fprintf(o->f,
		"# HELP caravanfs_%s %s\n# TYPE caravanfs_%s %s\n"
		"caravanfs_%s%s%s%s %" PRIu64 "\n",
		name, help, name, type, name, o->labels[0] ? "{" : "",
		o->labels, o->labels[0] ? "}" : "", v);
}

#define COUNTER(o, name, help, v) metric(o, name, "counter", help, v)
#define GAUGE(o, name, help, v) metric(o, name, "gauge", help, v)
#define LOAD(x) ((uint64_t)atomic_load(&(x)))

static void render_fsync(struct out *o, struct fs *fs)
{
	const char *sep = o->labels[0] ? "," : "";
	uint64_t count = LOAD(fs->c.fsyncs);
	int i;

	fprintf(o->f,
		"# HELP caravanfs_fsync_seconds Latency of fsync, fdatasync and fsyncdir.\n"
		"# TYPE caravanfs_fsync_seconds histogram\n");
	for (i = 0; i < FS_LAT_BUCKETS; i++)
		fprintf(o->f,
			"caravanfs_fsync_seconds_bucket{le=\"%g\"%s%s} %" PRIu64
			"\n",
			(double)fs_counters_fsync_le_ns[i] / 1e9, sep,
			o->labels, LOAD(fs->c.fsync_le[i]));
	fprintf(o->f,
		"caravanfs_fsync_seconds_bucket{le=\"+Inf\"%s%s} %" PRIu64 "\n",
		sep, o->labels, count);
	fprintf(o->f, "caravanfs_fsync_seconds_sum%s%s%s %.9f\n",
		o->labels[0] ? "{" : "", o->labels, o->labels[0] ? "}" : "",
		(double)LOAD(fs->c.fsync_ns_sum) / 1e9);
	fprintf(o->f, "caravanfs_fsync_seconds_count%s%s%s %" PRIu64 "\n",
		o->labels[0] ? "{" : "", o->labels, o->labels[0] ? "}" : "",
		count);
}

static void render_fs(struct out *f, struct fs *fs)
{
	uint64_t pinned;

	COUNTER(f, "appends_total", "Merge patches appended through the mount.",
		LOAD(fs->c.patches));
	COUNTER(f, "replaces_total",
		"Whole-document replacements written through the mount.",
		LOAD(fs->c.replaces));
	COUNTER(f, "reads_total", "Read requests served.", LOAD(fs->c.reads));
	COUNTER(f, "read_bytes_total", "Bytes returned by reads.",
		LOAD(fs->c.read_bytes));
	COUNTER(f, "writes_total", "Write requests.", LOAD(fs->c.writes));
	COUNTER(f, "write_bytes_total", "Bytes accepted by writes.",
		LOAD(fs->c.write_bytes));
	COUNTER(f, "write_errors_total",
		"Writes refused (bad JSON, too big, store full, ...).",
		LOAD(fs->c.write_errors));
	COUNTER(f, "incomplete_closes_total",
		"Closes refused because a value was incomplete.",
		LOAD(fs->c.incomplete_closes));
	COUNTER(f, "flushes_total",
		"Flush requests (one per close of a descriptor).",
		LOAD(fs->c.flushes));
	COUNTER(f, "opens_total", "Files opened.", LOAD(fs->c.opens));
	COUNTER(f, "cached_opens_total",
		"Read-only opens served through the kernel page cache.",
		LOAD(fs->c.cached_opens));
	COUNTER(f, "node_retirements_total",
		"Writers sent to a fresh node (ESTALE, retried by the kernel) because the old one's attributes or pages may be cached.",
		LOAD(fs->c.retirements));
	COUNTER(f, "lookups_total", "Name lookups.", LOAD(fs->c.lookups));
	COUNTER(f, "creates_total", "Documents created.", LOAD(fs->c.creates));
	COUNTER(f, "unlinks_total", "Documents deleted.", LOAD(fs->c.unlinks));
	COUNTER(f, "renames_total", "Documents renamed.", LOAD(fs->c.renames));
	GAUGE(f, "open_files", "Files open now.",
	      (uint64_t)atomic_load(&fs->c.open_handles));
	pthread_mutex_lock(&fs->handles.pin_mu);
	pinned = fs->handles.pinned_bytes;
	pthread_mutex_unlock(&fs->handles.pin_mu);
	GAUGE(f, "pinned_bytes",
	      "Document versions held by open read handles (max_pinned).",
	      pinned);
	GAUGE(f, "pending_bytes",
	      "Unfinished values held by write handles (max_pending).",
	      (uint64_t)atomic_load(&fs->handles.pending_bytes));
	GAUGE(f, "process_dumpable",
	      "1 when the daemon may dump core or be traced by its user (only with -d).",
	      (uint64_t)(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1));
	render_fsync(f, fs);
}

static void render_snapshots(struct out *f, struct fs *fs)
{
	struct store_snapshot_stats sn;

	store_snapshot_stats(fs->s, &sn);
	GAUGE(f, "snapshots", "Named snapshots of the store.", sn.snapshots);
	GAUGE(f, "snapshot_pinned_bytes",
	      "Data bytes only snapshots keep (freed when they are dropped).",
	      sn.pinned_bytes);
	GAUGE(f, "snapshot_pinned_states",
	      "Past states of documents and spaces kept for snapshots.",
	      sn.pinned_states);
	GAUGE(f, "history_pinned_bytes",
	      "Data bytes documents keep only for their history "
	      "(MNT/.caravan-history; bounded by -o history).",
	      sn.history_bytes);
}

static void render_store(struct out *f, struct fs *fs)
{
	struct store_stats ss;
	struct doc_stats ds;

	store_stats(fs->s, &ss);
	doc_stats(fs->doc, &ds);
	GAUGE(f, "capacity_bytes", "Data capacity of the store.",
	      ss.capacity_bytes);
	GAUGE(f, "bytes_free", "Free data bytes.", ss.free_bytes);
	GAUGE(f, "documents", "Documents in the store.", ss.documents);
	GAUGE(f, "spaces", "Spaces in the store.", ss.spaces);
	GAUGE(f, "log_entries", "Document log entries held.", ss.entries);
	GAUGE(f, "wal_bytes", "Size of the write-ahead log.", ss.log_bytes);
	GAUGE(f, "durable_lsn", "Last durable write-ahead log frame.",
	      ss.durable_lsn);
	COUNTER(f, "store_appends_total", "Entries appended to the store.",
		ss.appends);
	COUNTER(f, "store_flushes_total",
		"Disk flushes of the write-ahead log.", ss.flushes);
	COUNTER(f, "cutovers_total", "Write-ahead log cut-overs.", ss.cutovers);
	COUNTER(f, "cache_hits_total",
		"Document reads served from the materialized cache.", ds.hits);
	COUNTER(f, "cache_misses_total",
		"Documents materialized from their log.", ds.misses);
	COUNTER(f, "compactions_total", "Snapshots written by compaction.",
		ds.compactions);
	GAUGE(f, "cache_documents", "Documents in the materialized cache.",
	      ds.cached_docs);
	GAUGE(f, "cache_bytes", "Bytes charged to the materialized cache.",
	      ds.cached_bytes);
	render_snapshots(f, fs);
}

static void render_cloud(struct out *f, struct fs *fs)
{
	struct cloud_glue_stats cs;

	cloud_glue_stats(fs, &cs);
	GAUGE(f, "upload_queue", "Documents waiting for upload.", cs.queue);
	COUNTER(f, "uploads_total", "Document uploads confirmed.", cs.uploads);
	COUNTER(f, "upload_failures_total", "Failed upload attempts (retried).",
		cs.upload_failures);
	COUNTER(f, "cloud_deletes_total",
		"Cloud copies of deleted documents removed.", cs.deletes);
	COUNTER(f, "restores_total", "Documents restored from the cloud.",
		cs.restores);
	COUNTER(f, "restore_failures_total", "Failed restores.",
		cs.restore_failures);
	GAUGE(f, "cloud_writer",
	      "1 while this store holds the cloud prefix's writer lease.",
	      cs.writer);
	GAUGE(f, "cloud_fenced",
	      "1 once another store took the cloud prefix over (uploads stop).",
	      cs.fenced);
	COUNTER(f, "cloud_conflicts_total",
		"Cloud copies kept under a conflict name (a name held by "
		"the cloud and created here meanwhile).",
		cs.conflicts);
	COUNTER(f, "cloud_adopted_total",
		"Documents whose state the cloud held already (a store made "
		"writer by cloud_takeover): marked uploaded, no PUT.",
		cs.adopted);
}

/* Eviction (store/evict.h) and growth (store/grow.c). */
static void render_evict(struct out *f, struct fs *fs)
{
	struct store_evict_stats es;
	struct store_stats ss;

	store_evict_stats(fs->s, &es);
	store_stats(fs->s, &ss);
	GAUGE(f, "docs_local", "Documents whose content is held locally.",
	      es.docs_local);
	GAUGE(f, "docs_evicted",
	      "Documents evicted: content in the cloud only, brought back on open.",
	      es.docs_evicted);
	GAUGE(f, "local_bytes", "Data bytes held by the documents here.",
	      es.bytes_local);
	GAUGE(f, "evicted_bytes", "Sizes of the evicted documents' contents.",
	      es.bytes_evicted);
	COUNTER(f, "evictions_total", "Documents evicted since the mount.",
		es.evictions);
	COUNTER(f, "refills_total",
		"Evicted documents brought back from the cloud since the mount.",
		es.refills);
	COUNTER(f, "grows_total", "Growths of the data file since the mount.",
		ss.grows);
	COUNTER(f, "grows_inline_total",
		"Growths a change waited for (no room and no growth ahead).",
		ss.grows_inline);
	fprintf(f->f,
		"# HELP caravanfs_grow_pause_max_seconds Longest hold of the store lock by a growth (its map step; during an inline growth's file step readers go on and other changes wait).\n"
		"# TYPE caravanfs_grow_pause_max_seconds gauge\n"
		"caravanfs_grow_pause_max_seconds%s%s%s %.9f\n",
		f->labels[0] ? "{" : "", f->labels, f->labels[0] ? "}" : "",
		(double)ss.grow_pause_max_ns / 1e9);
	fprintf(f->f,
		"# HELP caravanfs_cutover_pause_max_seconds Longest pause of changes for a log cut-over (the fork of the process writing the index, or all of a cut-over written under the lock).\n"
		"# TYPE caravanfs_cutover_pause_max_seconds gauge\n"
		"caravanfs_cutover_pause_max_seconds%s%s%s %.9f\n",
		f->labels[0] ? "{" : "", f->labels, f->labels[0] ? "}" : "",
		(double)ss.cutover_pause_max_ns / 1e9);
}

static void render_build_info(struct out *o)
{
	fprintf(o->f,
		"# HELP caravanfs_build_info The version of caravanfs serving the mount (always 1).\n"
		"# TYPE caravanfs_build_info gauge\n"
		"caravanfs_build_info{version=\"%s\"%s%s} 1\n",
		PACKAGE_VERSION, o->labels[0] ? "," : "", o->labels);
}

int fs_metrics_render_labels(struct fs *fs, const char *labels, char **out,
			     size_t *len)
{
	struct out o = { NULL, labels ? labels : "" };
	char *buf = NULL;
	size_t n = 0;

	o.f = open_memstream(&buf, &n);
	if (!o.f)
		return -ENOMEM;
	render_build_info(&o);
	render_fs(&o, fs);
	render_store(&o, fs);
	render_cloud(&o, fs);
	follow_glue_metrics(fs, o.f, o.labels);
	render_evict(&o, fs);
	if (fclose(o.f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}

int fs_metrics_render(struct fs *fs, char **out, size_t *len)
{
	return fs_metrics_render_labels(fs, "", out, len);
}

/* ---- metrics_file ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC, made by fs_metrics_start */
	pthread_t thread;
	bool running;
	bool stop;
} mx = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Write all of buf to fd.  0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A fresh file PATH.XXXXXX made by mkstemp (O_CREAT|O_EXCL: never
 * through a link someone planted), given the text and mode 0644 (a
 * textfile collector runs as another user), then renamed over PATH (which
 * replaces a link there, never follows it). */
static int metrics_write(struct fs *fs)
{
	const char *path = fs->cfg.metrics_file;
	size_t n = strlen(path) + sizeof(".XXXXXX"), len;
	char *tmp = malloc(n), *text;
	int fd, rc;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, n, "%s.XXXXXX", path);
	rc = fs_metrics_render(fs, &text, &len);
	if (rc < 0)
		goto out_tmp;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_text;
	}
	rc = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (rc == 0)
		rc = write_all(fd, text, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
out_text:
	free(text);
out_tmp:
	free(tmp);
	return rc;
}

static void *metrics_main(void *arg)
{
	struct fs *fs = arg;
	struct timespec ts;
	int last = 0, rc;

	pthread_mutex_lock(&mx.mu);
	while (!mx.stop) {
		pthread_mutex_unlock(&mx.mu);
		rc = metrics_write(fs);
		if (rc < 0 && rc != last)
			log_warn("cannot write metrics file '%s': %s",
				 fs->cfg.metrics_file, strerror(-rc));
		last = rc;
		pthread_mutex_lock(&mx.mu);
		clock_deadline_ns(&ts, (int64_t)fs->cfg.metrics_ms * 1000000);
		while (!mx.stop &&
		       pthread_cond_timedwait(&mx.cv, &mx.mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&mx.mu);
	return NULL;
}

int fs_metrics_start(struct fs *fs)
{
	int rc;

	rc = fs_metrics_http_start(fs);
	if (rc < 0)
		return rc;
	if (!fs->cfg.metrics_file)
		return 0;
	if (fs->cfg.metrics_ms == 0)
		fs->cfg.metrics_ms = 1000;
	mx.stop = false;
	rc = -clock_cond_init(&mx.cv);
	if (rc == 0) {
		rc = pthread_create(&mx.thread, NULL, metrics_main, fs);
		if (rc)
			pthread_cond_destroy(&mx.cv);
	}
	if (rc) {
		log_error("cannot start the metrics writer: %s", strerror(rc));
		fs_metrics_http_stop(fs);
		return -rc;
	}
	mx.running = true;
	return 0;
}

void fs_metrics_stop(struct fs *fs)
{
	fs_metrics_http_stop(fs);
	if (!mx.running)
		return;
	pthread_mutex_lock(&mx.mu);
	mx.stop = true;
	pthread_cond_signal(&mx.cv);
	pthread_mutex_unlock(&mx.mu);
	pthread_join(mx.thread, NULL);
	pthread_cond_destroy(&mx.cv);
	mx.running = false;
	/* No stale numbers for a scraper once the mount is gone. */
	if (unlink(fs->cfg.metrics_file) < 0 && errno != ENOENT)
		log_warn("cannot remove metrics file '%s': %s",
			 fs->cfg.metrics_file, strerror(errno));
}
