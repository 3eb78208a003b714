/*
 * file.c - open files: read snapshots and write streams.
 *
 * Every open of a document makes a struct fs_handle (fi->fh):
 *
 *   read side (O_RDONLY, O_RDWR): a reference to the document's snapshot
 *     at open (doc_read); every read of the handle is served from it, so
 *     the handle sees one version from open to close whatever writers do.
 *
 *   write side (O_WRONLY, O_RDWR): a json_splitter over the bytes written
 *     through the handle.  Each complete value is checked and stored before
 *     the write(2) that completed it returns (visible to the next open);
 *     the patches completed by one write(2) are stored together, as one
 *     frame (doc_patch_batch), with the same result as one by one:
 *       - append handle (O_APPEND): every value is a merge patch; the
 *         offset the kernel passes (its idea of the file size) is ignored;
 *       - overwrite handle (any other write open: O_TRUNC, a new file,
 *         plain O_WRONLY): the first value replaces the document, later
 *         ones are merge patches; a write at an offset other than the end
 *         of what the handle has written so far is EINVAL and consumes
 *         nothing.
 *     A value that cannot be JSON, is too big, or cannot be stored fails
 *     the write that completes (or breaks) it; nothing of that value is
 *     stored, values before it stand, and the handle is failed: every later
 *     write fails with the same error (EINVAL, EFBIG, ENOSPC, ...: the
 *     kernel splits a large write, and the retry of the part after a short
 *     write must learn what went wrong).
 *
 * Truncation.  Opening an existing document with O_TRUNC resets it to {}
 * at open, as any filesystem empties the file at open (a reader between
 * open and the first value sees {}: valid, never torn); the first value
 * written is still a replacement.  A writing handle keeps the version it
 * emptied: when its stream fails before any value was stored
 * (`echo notjson > doc`), that version is put back at close
 * (handle_untruncate), unless something else changed the document since
 * the reset; so a failed overwrite leaves the document as it was.  A document just created is already {}.
 *
 * Failed creates.  A handle that created its document (open(O_CREAT) of
 * a new name) and failed before it stored anything deletes the document
 * at close (handle_discard), unless something else changed it since:
 * `echo notjson > new` fails with EINVAL and leaves no name behind.
 *
 * Close.  close(2) returns what flush returns, so flush is where the end
 * of the stream is judged: when a value is in progress,
 * json_splitter_finish() completes a trailing scalar ("5" without a
 * newline) or reports an incomplete value, which fails close with EINVAL
 * (nothing of it is stored; the handle is failed).  A flush between values
 * changes nothing, so the close of a duplicate descriptor (a shell's
 * `> file` opens, dup2s and closes before writing) does not disturb the
 * stream.  With -o close_sync flush also waits until the handle's changes
 * are durable.  release frees the handle and cannot report anything.
 *
 * Durability.  fsync waits for the frame of the document's last change
 * (store_doc_info().lsn, and the handle's own last frame): every change to
 * that document made before the call, through any handle.  The request is
 * answered from the store's durability callback (sync.c): no request
 * thread waits while the log's group commit flushes for it.
 *
 * Memory a client can pin (SPEC 7c) is charged to two budgets:
 *   max_pinned: every distinct version (snapshot) that open read handles
 *     hold, once however many handles share it (fs->handles.pins counts the
 *     handles of each); an open that would pass the budget fails with
 *     ENOMEM;
 *   max_pending: the splitter buffers of write handles (unfinished values).
 *     A write first reserves its length, so the total never passes the
 *     budget; past it the write fails with ENOMEM and consumes nothing
 *     (the handle stays usable), and after the feed the reservation is
 *     replaced by what the splitter really holds.
 *
 * Locks: h->mu serializes writes, flush and fsync bookkeeping of one
 * handle (the kernel already serializes writes to one inode); the list of
 * open handles (fs->handles.files, fs/handle.h) has its own mutex and is
 * used only to free them when the session ends with files still open;
 * fs->handles.pin_mu guards the max_pinned charges.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs/cloud_glue.h"
#include "fs/counters.h"
#include "fs/file.h"
#include "fs/metrics.h"
#include "fs/sync.h"
#include "json/json.h"
#include "util/grow.h"
#include "store/evict.h"
#include "util/log.h"

enum {
	FH_READ = 1 << 0,
	FH_WRITE = 1 << 1,
	FH_APPEND = 1 << 2,
	FH_TRUNC = 1 << 3,
};

struct fs_handle {
	struct fs_handle_link link; /* on fs->handles.files */
	struct fs *fs;
	uint64_t id;
	uint64_t nodeid; /* the kernel's node (fs/node.c) */
	enum fs_open_kind kind;
	bool registered; /* counted by the node */
	bool keep_cache;
	unsigned mode;
	struct doc_snap *snap; /* read side of a document */
	char *text; /* read side of the metrics file */
	size_t text_len;
	pthread_mutex_t mu;
	struct json_splitter *sp;
	int64_t base_off; /* stream offset where sp started */
	bool replaced; /* overwrite: first value stored */
	bool stored; /* a value of the stream was stored */
	struct doc_snap *before; /* O_TRUNC: the version it emptied */
	uint64_t reset_lsn; /* frame of that reset */
	int err; /* stream failed (a negative errno): later writes get it */
	bool pinned; /* snap is charged to max_pinned */
	uint64_t pending; /* bytes charged to max_pending */
	uint64_t lsn; /* frame of the handle's last change */
	uint64_t created_lsn; /* frame of the create that made the document
				 for this handle; 0: it existed */
	json_t **pend; /* patches of the current write, not stored yet */
	size_t npend, cappend;
};

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static size_t splitter_limit(const struct fs *fs)
{
	uint64_t m = fs->cfg.max_doc_bytes > fs->cfg.max_patch_bytes
			     ? fs->cfg.max_doc_bytes
			     : fs->cfg.max_patch_bytes;

	/* Raw input may carry whitespace; the compact sizes are checked
	 * exactly by the doc module. */
	return (size_t)(2 * m + 64);
}

/* The first value of an overwrite stream replaces the document at once.
 * A replacement needs only the value's compact text, which
 * json_value_compact() makes in one pass without building the value. */
static int handle_replace(struct fs_handle *h, const char *buf, size_t len)
{
	struct fs *fs = h->fs;
	uint64_t lsn = 0;
	char *text;
	size_t tlen;
	int rc;

	rc = json_value_compact(buf, len, &text, &tlen);
	if (rc < 0)
		return rc;
	for (unsigned tries = 0;;) {
		rc = doc_replace_text(fs->doc, h->id, text, tlen, &lsn);
		/* evicted: brought back; no room: room made */
		if (rc != -ENODATA && rc != -ENOSPC)
			break;
		rc = cloud_glue_retry(fs, h->id, rc, &tries);
		if (rc)
			break;
	}
	free(text);
	if (rc < 0) {
		fs_log_failure(fs, h->id, "write", rc);
		return rc;
	}
	h->replaced = true;
	h->stored = true;
	atomic_fetch_add(&fs->c.replaces, 1);
	if (lsn > h->lsn)
		h->lsn = lsn;
	return 0;
}

/* Splitter callback: one complete value of the stream.  The first value
 * of an overwrite stream replaces the document (handle_replace); patches
 * are collected and stored together when the write's bytes are consumed
 * (handle_commit), one frame for all the values of one write(2). */
static int handle_value(void *arg, const char *buf, size_t len)
{
	struct fs_handle *h = arg;
	json_t **grown;
	json_t *v;
	int rc;

	if (!(h->mode & FH_APPEND) && !h->replaced)
		return handle_replace(h, buf, len);
	rc = json_value_parse(buf, len, &v);
	if (rc < 0)
		return rc;
	grown = grow_array(h->pend, &h->cappend, h->npend + 1, 8,
			   sizeof(*grown));
	if (!grown) {
		json_decref(v);
		return -ENOMEM;
	}
	h->pend = grown;
	h->pend[h->npend++] = v;
	return 0;
}

/* Store the patches handle_value collected, in order; several are one
 * frame (doc_patch_batch).  Returns 0 or the error of the first one not
 * stored (those before it stand).  h->mu held. */
static int handle_commit(struct fs_handle *h)
{
	struct fs *fs = h->fs;
	uint64_t lsn = 0, l;
	size_t done = 0, at, i;
	unsigned tries = 0;
	int rc = 0;

	/* An evicted document is brought back first (the patches apply to
	 * its whole content); a change that finds no room waits for room
	 * (cloud_glue_retry), then the patches not stored yet go on. */
	for (at = 0; at < h->npend;) {
		l = 0;
		done = 0;
		if (h->npend - at == 1) {
			rc = doc_patch(fs->doc, h->id, h->pend[at], &l);
			done = rc == 0;
		} else {
			rc = doc_patch_batch(fs->doc, h->id, h->pend + at,
					     h->npend - at, &done, &l);
		}
		at += done;
		if (l > lsn)
			lsn = l;
		if (rc == 0)
			continue;
		if (rc != -ENODATA && rc != -ENOSPC)
			break;
		rc = cloud_glue_retry(fs, h->id, rc, &tries);
		if (rc)
			break;
	}
	done = at;
	for (i = 0; i < h->npend; i++)
		json_decref(h->pend[i]);
	h->npend = 0;
	if (done)
		h->stored = true;
	atomic_fetch_add(&fs->c.patches, done);
	if (rc < 0)
		fs_log_failure(fs, h->id, "write", rc);
	if (lsn > h->lsn)
		h->lsn = lsn;
	return rc;
}

/* Charge snapshot sn to max_pinned for one more handle holding it.  0 or
 * -ENOMEM. */
static int pin_take(struct fs *fs, struct doc_snap *sn)
{
	uint64_t key = (uint64_t)(uintptr_t)sn, n;
	size_t len;
	int rc = 0;

	doc_snap_text(sn, &len);
	pthread_mutex_lock(&fs->handles.pin_mu);
	n = (uint64_t)(uintptr_t)u64map_get(&fs->handles.pins, key);
	if (n == 0 && len > fs->cfg.max_pinned_bytes - fs->handles.pinned_bytes)
		rc = -ENOMEM;
	if (rc == 0)
		rc = u64map_put(&fs->handles.pins, key,
				(void *)(uintptr_t)(n + 1));
	if (rc == 0 && n == 0)
		fs->handles.pinned_bytes += len;
	pthread_mutex_unlock(&fs->handles.pin_mu);
	return rc;
}

/* A handle holding sn lets go of it (before its reference is put). */
static void pin_drop(struct fs *fs, struct doc_snap *sn)
{
	uint64_t key = (uint64_t)(uintptr_t)sn, n;
	size_t len;

	doc_snap_text(sn, &len);
	pthread_mutex_lock(&fs->handles.pin_mu);
	n = (uint64_t)(uintptr_t)u64map_get(&fs->handles.pins, key);
	if (n > 1) {
		u64map_put(&fs->handles.pins, key, (void *)(uintptr_t)(n - 1));
	} else if (n == 1) {
		u64map_del(&fs->handles.pins, key);
		fs->handles.pinned_bytes -= len;
	}
	pthread_mutex_unlock(&fs->handles.pin_mu);
}

/* Reserve len bytes of max_pending for a write.  0 or -ENOMEM. */
static int pending_reserve(struct fs_handle *h, size_t len)
{
	struct fs *fs = h->fs;
	uint64_t before = atomic_fetch_add(&fs->handles.pending_bytes, len);

	if (before + len > fs->cfg.max_pending_bytes) {
		atomic_fetch_sub(&fs->handles.pending_bytes, len);
		return -ENOMEM;
	}
	h->pending += len;
	return 0;
}

/* Charge what the handle's splitter holds now instead of what was
 * charged and reserved. */
static void pending_settle(struct fs_handle *h)
{
	struct fs *fs = h->fs;
	uint64_t held = h->sp ? json_splitter_held(h->sp) : 0;

	if (held >= h->pending)
		atomic_fetch_add(&fs->handles.pending_bytes, held - h->pending);
	else
		atomic_fetch_sub(&fs->handles.pending_bytes, h->pending - held);
	h->pending = held;
}

void fs_file_free(struct fs_handle *h)
{
	if (!h)
		return;
	if (h->registered)
		fs_node_close(&h->fs->nodes, h->nodeid, h->kind);
	if (h->pinned)
		pin_drop(h->fs, h->snap);
	if (h->pending)
		atomic_fetch_sub(&h->fs->handles.pending_bytes, h->pending);
	doc_snap_put(h->snap);
	doc_snap_put(h->before);
	free(h->text);
	json_splitter_free(h->sp);
	while (h->npend)
		json_decref(h->pend[--h->npend]);
	free(h->pend);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int handle_new(struct fs *fs, uint64_t nodeid, uint64_t id, int flags,
		      struct fs_handle **out)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	int acc = flags & O_ACCMODE;

	if (!h)
		return -ENOMEM;
	h->fs = fs;
	h->id = id;
	h->nodeid = nodeid;
	h->kind = FS_OPEN_DIRECT;
	pthread_mutex_init(&h->mu, NULL);
	if (acc != O_WRONLY)
		h->mode |= FH_READ;
	if (acc != O_RDONLY)
		h->mode |= FH_WRITE;
	if ((h->mode & FH_WRITE) && (flags & O_APPEND))
		h->mode |= FH_APPEND;
	/* O_TRUNC empties the file whatever the access mode (the kernel
	 * has already emptied its idea of it). */
	if (flags & O_TRUNC)
		h->mode |= FH_TRUNC;
	if (h->mode & FH_WRITE) {
		h->sp = json_splitter_new(splitter_limit(fs), handle_value, h);
		if (!h->sp) {
			fs_file_free(h);
			return -ENOMEM;
		}
	}
	*out = h;
	return 0;
}

static void handle_link(struct fs *fs, struct fs_handle *h)
{
	fs_handle_list_add(&fs->handles.files, &h->link);
	atomic_fetch_add(&fs->c.open_handles, 1);
}

static void handle_unlink(struct fs *fs, struct fs_handle *h)
{
	fs_handle_list_remove(&fs->handles.files, &h->link);
	atomic_fetch_sub(&fs->c.open_handles, 1);
}

void fs_handle_truncated(struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);

	if (!h || !h->sp)
		return;
	pthread_mutex_lock(&h->mu);
	if (!json_splitter_idle(h->sp) && !h->err)
		h->err = -EINVAL; /* a value cut in two by the truncate */
	h->base_off = -(int64_t)json_splitter_offset(h->sp);
	h->replaced = false;
	pthread_mutex_unlock(&h->mu);
}

void fs_files_free(struct fs *fs)
{
	struct fs_handle_link *link = fs_handle_list_pop(&fs->handles.files);

	while (link) {
		fs_file_free(fs_handle_container(link, struct fs_handle, link));
		link = fs_handle_list_pop(&fs->handles.files);
	}
}

/* doc_read, an evicted document brought back from the cloud first
 * (cloud_glue_retry). */
static int read_local(struct fs *fs, uint64_t id, struct doc_snap **sn)
{
	unsigned tries = 0;
	int rc;

	store_doc_touch(fs->s, id); /* least recently used is evicted first */
	while ((rc = doc_read(fs->doc, id, sn)) == -ENODATA) {
		rc = cloud_glue_retry(fs, id, rc, &tries);
		if (rc)
			return rc;
	}
	return rc;
}

/* The read side of a document handle: the snapshot to read, and whether
 * through the page cache (read-only opens only, see node.c). */
static int handle_read_side(struct fs *fs, struct fs_handle *h)
{
	struct fs_node_open no;
	struct doc_snap *sn;
	int rc;

	rc = read_local(fs, h->id, &sn);
	if (rc < 0)
		return rc;
	if (h->kind == FS_OPEN_WRITE) {
		h->snap = sn;
		goto out_pin;
	}
	rc = fs_node_open_read(&fs->nodes, h->nodeid, h->id, sn, fs->page_cache,
			       &no);
	doc_snap_put(sn);
	if (rc < 0)
		return rc;
	h->registered = true;
	h->kind = no.kind;
	h->keep_cache = no.keep_cache;
	h->snap = no.snap;
	if (no.kind == FS_OPEN_CACHED)
		atomic_fetch_add(&fs->c.cached_opens, 1);
out_pin:
	rc = pin_take(fs, h->snap);
	if (rc < 0) {
		fs_log_failure(fs, h->id, "open within max_pinned", rc);
		return rc;
	}
	h->pinned = true;
	return 0;
}

/* Register a writing handle with its node (a create did already:
 * registered), before an O_TRUNC reset, so the reset is a registered
 * change too. */
static int handle_write_side(struct fs *fs, struct fs_handle *h,
			     bool registered)
{
	int rc = 0;

	h->kind = FS_OPEN_WRITE;
	if (!registered)
		rc = fs_node_open_write(&fs->nodes, h->nodeid, h->id);
	if (rc < 0)
		return rc;
	h->registered = true;
	/* Attributes the kernel cached before the writer came must not
	 * stay valid: it is about to set i_size itself. */
	fs_node_inval_attr(&fs->nodes, h->nodeid);
	return 0;
}

/* The O_TRUNC reset at open; a writing handle keeps the version it
 * empties (see "Truncation"). */
static int handle_truncate(struct fs *fs, struct fs_handle *h)
{
	int rc;

	if (h->mode & FH_WRITE) {
		rc = read_local(fs, h->id, &h->before);
		if (rc < 0)
			return rc;
	}
	for (unsigned tries = 0;;) {
		rc = doc_reset(fs->doc, h->id, &h->lsn);
		if (rc != -ENODATA && rc != -ENOSPC)
			break;
		rc = cloud_glue_retry(fs, h->id, rc, &tries);
		if (rc)
			break;
	}
	h->reset_lsn = h->lsn;
	return rc;
}

/* Prepare the handle of an open document or of the metrics file.  With
 * registered (a create) the node already counts a writer for this open,
 * which the handle takes over (or gives back on failure).  created_lsn:
 * the frame of the create that made the document (0: it existed). */
static int handle_open(struct fs *fs, uint64_t nodeid, int flags,
		       uint64_t created_lsn, bool registered,
		       struct fs_handle **out)
{
	bool fresh = created_lsn != 0;
	struct store_doc_info info;
	struct fs_handle *h = NULL;
	uint64_t id = fs_node_doc(&fs->nodes, nodeid);
	int rc = 0;

	if (nodeid == FS_METRICS_INO) {
		if ((flags & O_ACCMODE) != O_RDONLY)
			rc = -EACCES;
	} else {
		rc = id ? store_doc_info(fs->s, id, &info) : -ESTALE;
		/* The node's document is gone (deleted behind the kernel's
		 * dentry, see handle_discard): the kernel looks the name up
		 * again (LOOKUP_REVAL) and an O_CREAT open then creates. */
		if (rc == -ENOENT && !registered)
			rc = -ESTALE;
		if (rc == 0 && (info.is_space || id == STORE_ROOT_ID))
			rc = -EISDIR;
	}
	if (rc == 0)
		rc = handle_new(fs, nodeid, id, flags, &h);
	if (rc == 0)
		h->created_lsn = created_lsn;
	if (rc < 0) {
		if (registered)
			fs_node_close(&fs->nodes, nodeid, FS_OPEN_WRITE);
		return rc;
	}
	if (nodeid == FS_METRICS_INO) {
		rc = fs_metrics_render(fs, &h->text, &h->text_len);
		goto out;
	}
	if (registered || (h->mode & (FH_WRITE | FH_TRUNC)))
		rc = handle_write_side(fs, h, registered);
	if (rc == 0 && (h->mode & FH_TRUNC) && !fresh)
		rc = handle_truncate(fs, h);
	if (rc == 0 && (h->mode & FH_READ))
		rc = handle_read_side(fs, h);
out:
	if (rc < 0) {
		fs_file_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

int fs_file_new(struct fs *fs, uint64_t nodeid, int flags, uint64_t created_lsn,
		struct fs_handle **out)
{
	return handle_open(fs, nodeid, flags, created_lsn, true, out);
}

void fs_file_reply(fuse_req_t req, struct fs *fs, struct fs_handle *h,
		   struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	int rc;

	fi->fh = (uintptr_t)h;
	fi->direct_io = h->kind != FS_OPEN_CACHED;
	fi->keep_cache = h->keep_cache;
	/* A read-only handle has nothing to flush: no FLUSH at close. */
	fi->noflush = !(h->mode & FH_WRITE);
	handle_link(fs, h);
	atomic_fetch_add(&fs->c.opens, 1);
	rc = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	if (rc == -ENOENT) {
		/* The open was interrupted: release will never come, nor a
		 * forget of the created entry. */
		handle_unlink(fs, h);
		fs_file_free(h);
		if (e)
			fs_node_forget(&fs->nodes, e->ino, 1);
	}
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h;
	int rc;

	rc = handle_open(fs, ino, fi->flags, 0, false, &h);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fs_file_reply(req, fs, h, fi, NULL);
}

/* The reply is built from a reference of our own: once the kernel has the
 * data, the reader may close and release the handle before the sending
 * thread is done with the buffer. */
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fs *fs = h->fs;
	struct doc_snap *sn = NULL;
	const char *text, *out;
	char *copy = NULL;
	size_t len, n;

	if (h->snap) {
		sn = doc_snap_get(h->snap);
		text = doc_snap_text(sn, &len);
	} else if (h->text) {
		text = h->text;
		len = h->text_len;
	} else {
		fs_reply_err(req, -EBADF);
		return;
	}
	atomic_fetch_add(&fs->c.reads, 1);
	if (off < 0 || (uint64_t)off >= len) {
		doc_snap_put(sn);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	n = len - (size_t)off;
	if (n > size)
		n = size;
	atomic_fetch_add(&fs->c.read_bytes, n);
	out = text + off;
	if (!sn) {
		copy = malloc(n);
		if (!copy) {
			fs_reply_err(req, -ENOMEM);
			return;
		}
		memcpy(copy, out, n);
		out = copy;
	}
	fuse_reply_buf(req, out, n);
	doc_snap_put(sn);
	free(copy);
}

/* Feed a write's bytes to the handle's stream and store the values they
 * complete; an error other than the budget's fails the handle.  h->mu
 * held. */
static int handle_feed(struct fs_handle *h, const char *buf, size_t size)
{
	int rc, crc;

	rc = pending_reserve(h, size);
	if (rc < 0) {
		fs_log_failure(h->fs, h->id, "write within max_pending", rc);
		return rc;
	}
	rc = json_splitter_feed(h->sp, buf, size);
	crc = handle_commit(h);
	if (crc < 0) /* a value before the one that broke the feed */
		rc = crc;
	if (rc < 0)
		h->err = rc;
	pending_settle(h);
	return rc;
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fs *fs = h->fs;
	int rc;

	if (!h->sp) {
		fs_reply_err(req, -EBADF);
		return;
	}
	pthread_mutex_lock(&h->mu);
	rc = h->err;
	if (rc == 0 && !(h->mode & FH_APPEND) &&
	    off != h->base_off + (int64_t)json_splitter_offset(h->sp))
		rc = -EINVAL;
	if (rc == 0)
		rc = handle_feed(h, buf, size);
	pthread_mutex_unlock(&h->mu);
	atomic_fetch_add(&fs->c.writes, 1);
	if (rc < 0) {
		atomic_fetch_add(&fs->c.write_errors, 1);
		fs_reply_err(req, rc);
		return;
	}
	atomic_fetch_add(&fs->c.write_bytes, size);
	fuse_reply_write(req, size);
}

/* End the handle's current stream when a value is in progress (see the
 * top of the file).  h->mu held. */
static int stream_end(struct fs_handle *h)
{
	struct fs *fs = h->fs;
	struct json_splitter *sp;
	int rc;

	if (h->err || json_splitter_idle(h->sp))
		return 0;
	rc = json_splitter_finish(h->sp);
	if (rc == 0)
		rc = handle_commit(h);
	if (rc < 0) {
		h->err = rc;
		atomic_fetch_add(&fs->c.incomplete_closes, 1);
		pending_settle(h);
		return rc;
	}
	sp = json_splitter_new(splitter_limit(fs), handle_value, h);
	if (!sp) {
		h->err = -ENOMEM;
		return 0;
	}
	h->base_off += (int64_t)json_splitter_offset(h->sp);
	json_splitter_free(h->sp);
	h->sp = sp;
	pending_settle(h);
	return 0;
}

/* The handle created its document, stored nothing and failed (invalid
 * input, EFBIG, an incomplete value): the document it made is deleted,
 * so a failed `echo notjson > new` leaves no {} behind.  Only when
 * nothing else changed the document since its create (its last frame is
 * still the create's): a value another handle stored, a chmod, stand.
 * h->mu held. */
static void handle_discard(struct fs_handle *h)
{
	struct fs *fs = h->fs;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	struct store_doc_info info;
	uint64_t created = h->created_lsn;
	int rc;

	if (!h->err || !created || h->stored)
		return;
	h->created_lsn = 0; /* once */
	if (store_doc_info(fs->s, h->id, &info) < 0 || info.lsn != created ||
	    store_node_name(fs->s, h->id, space, key) < 0)
		return;
	/* conditional: a change another handle makes meanwhile stands */
	rc = store_doc_delete_if(fs->s, h->id, created, NULL);
	if (rc == -EAGAIN)
		return;
	if (rc < 0) {
		fs_log_failure(fs, h->id, "discard of a failed create", rc);
		return;
	}
	doc_forget(fs->doc, h->id);
	fs_node_deleted(&fs->nodes, h->id);
	atomic_fetch_add(&fs->c.unlinks, 1);
	cloud_glue_removed(fs, info.space_id, key);
}

/* The handle emptied its document at open (O_TRUNC) and failed before
 * it stored anything: the version it emptied is put back, when nothing
 * else changed the document since the reset.  h->mu held. */
static void handle_untruncate(struct fs_handle *h)
{
	struct fs *fs = h->fs;
	struct doc_snap *before = h->before;
	struct store_doc_info info;
	const char *text;
	uint64_t lsn = 0;
	size_t len;
	json_t *v;
	int rc;

	if (!before || !h->err || h->stored)
		return;
	h->before = NULL; /* once */
	text = doc_snap_text(before, &len);
	rc = store_doc_info(fs->s, h->id, &info);
	if (rc == 0 && info.lsn != h->reset_lsn)
		rc = -EAGAIN; /* changed since: what is there stands */
	if (rc == 0)
		rc = json_value_parse(text, len, &v);
	if (rc == 0) {
		/* conditional, atomically with the replacement: a value
		 * another handle stores meanwhile stands */
		rc = doc_replace_if(fs->doc, h->id, v, h->reset_lsn, &lsn);
		json_decref(v);
	}
	doc_snap_put(before);
	if (rc < 0 && rc != -EAGAIN)
		fs_log_failure(fs, h->id, "restore after a failed overwrite",
			       rc);
	if (lsn > h->lsn)
		h->lsn = lsn;
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fs *fs = h->fs;
	uint64_t lsn, before;
	int rc = 0;

	atomic_fetch_add(&fs->c.flushes, 1);
	if (!(h->mode & FH_WRITE)) {
		fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&h->mu);
	before = h->lsn;
	rc = stream_end(h);
	handle_discard(h);
	handle_untruncate(h);
	lsn = h->lsn;
	pthread_mutex_unlock(&h->mu);
	/* A value completed here (a trailing scalar) changed the document
	 * after the kernel's last WRITE reply, which was the last time it
	 * dropped the attributes it caches: drop them again (attributes
	 * only, which never blocks). */
	if (lsn != before)
		fs_node_inval_attr(&fs->nodes, ino);
	if (rc == 0 && fs->cfg.close_sync && lsn)
		rc = store_sync(fs->s, lsn);
	fs_reply_err(req, rc);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fs *fs = h->fs;

	handle_unlink(fs, h);
	fs_file_free(h);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fi ? handle_of(fi) : NULL;
	struct store_doc_info info;
	uint64_t lsn = 0;
	int64_t t0 = fs_now_ns();

	if (store_doc_info(fs->s, h ? h->id : fs_node_doc(&fs->nodes, ino),
			   &info) == 0)
		lsn = info.lsn;
	if (h) {
		pthread_mutex_lock(&h->mu);
		if (h->lsn > lsn)
			lsn = h->lsn;
		pthread_mutex_unlock(&h->mu);
	}
	/* lsn 0 (a deleted document): wait for everything so far. */
	fs_sync_wait(fs, req, ino, lsn, t0);
}
