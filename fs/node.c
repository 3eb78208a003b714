/*
 * node.c - the kernel's inodes of documents: node ids, lookup counts, the
 * handles open on each node, and the rules that decide which handle may
 * read through the kernel's page cache and which attributes the kernel may
 * cache.  Why the rules are what they are, and the races they close, is
 * the "Kernel caching" part of the design comment at the top of ops.c;
 * this file holds the bookkeeping.  It is an object of its own (struct
 * fs_nodes, node.h) that uses the store and the FUSE session, borrowed,
 * and nothing else of fs/.
 *
 * Node ids.  The kernel keeps one inode, one page cache and one i_size
 * per node id.  A document is shown under its store id (also st_ino) until
 * that node is retired; from then on lookups give the document a fresh
 * node id from FS_NODE_BASE up (never reused), while the retired node
 * lives on, unchanged, for the handles still open on it, until the kernel
 * forgets it.  Spaces and the root are always their store id and are not
 * kept here (they hold no state).
 *
 * State (nt->mu guards all of it):
 *   nodes   the struct fs_node of every document node the kernel holds a
 *           lookup of or that has open handles, by node id (util/pmap.h);
 *           a node's handle counts, pinned snapshot and cache_seq live in
 *           its struct fs_handles (n->h), only while it has handles or
 *           cache_known (struct fs_node);
 *   cur     store id -> struct fs_node, the document's current node, only
 *           when that is not the node with the store id itself.
 *
 * Handles of a node, counted by kind:
 *   cached   read-only, reading through the page cache; all of them read
 *            one snapshot, pinned (the version the cache holds);
 *   direct   read-only with direct_io (each reads its own snapshot);
 *   writers  open for writing (direct_io), plus a truncate in progress.
 *
 * Invariants:
 *   1. cached > 0 implies writers == 0 and direct == 0 on that node, and
 *      pinned is the snapshot every cached handle reads.
 *   2. writers > 0 only on the document's current node.
 *   3. A retired node never gets a writer or a new direct handle while
 *      cached > 0; a read open of it shares pinned.
 *   4. While a node is current and has writers == 0 (under nt->mu), the
 *      document's content does not change: every change goes through a
 *      registered writer (a write handle, an O_TRUNC open, a truncate).
 *   5. cache_seq is the only version whose pages the kernel may hold for
 *      the node when cache_known; any direct or writing open clears
 *      cache_known (a private mmap of a direct_io file fills the page
 *      cache with that handle's version).
 *   6. A node that ever had a writer is dirty, for good: the kernel may
 *      hold an i_size of it that it computed itself, so its attributes are
 *      replied with timeout 0, and so are its names (entry timeout 0,
 *      fs_entry): every path walk to it asks for a lookup.  A dirty
 *      current node without writers is retired by the next lookup, which
 *      gets a fresh, clean node.  (The kernel's dentries of dirty nodes
 *      were once dropped by a thread of ours when the last writer closed,
 *      fuse_lowlevel_notify_inval_entry: that call waits for the
 *      directory's lock, and when the daemon was killed while a caller
 *      held it waiting for our reply, the half-dead daemon kept the
 *      connection open and the caller hung until killed with SIGKILL.
 *      The names' timeout 0 needs no thread.)
 *   7. A retired node's attributes are replied with timeout 0 too: the
 *      document changes (or is deleted) through other nodes, whose
 *      requests never tell the kernel about this one.
 *   8. A writer registers only on a dirty node or on one made for it
 *      (writer_pending: its attributes are replied with timeout 0 from
 *      the start), never on a clean node, whose attributes the kernel may
 *      hold valid.  The kernel sets i_size of the node a writer opens by
 *      itself (0 at an O_TRUNC open, old size + bytes after a write), and
 *      a stat that judged the attributes valid just before the writer's
 *      registration invalidated them reads that i_size: size 0 for a
 *      document that was never empty (seen once in e2e_fs_cache's racing
 *      readers, a stat during an O_TRUNC rewrite).  So a writer arriving
 *      on a clean node gets ESTALE as with cached readers: the node is
 *      retired, unchanged (its i_size stays a size the document had), and
 *      the kernel's retry finds the fresh node.  writer_pending counts
 *      the writers told ESTALE whose retry may still come, and no lookup
 *      retires a node while it is not 0: the kernel retries once, and a
 *      second ESTALE (the node retired again after another writer came
 *      and went) would reach the program.
 *
 * A node is freed when the kernel holds no lookup of it and no handle is
 * open on it (a current node waiting for a writer told ESTALE is kept
 * until its document is deleted or the kernel forgets it).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/node.h"
#include "util/grow.h"

/* The state of a node's handles and page cache (see n->h below). */
struct fs_handles {
	unsigned cached, direct, writers;
	bool cache_known;
	uint64_t cache_seq;
	struct doc_snap *pinned; /* cached > 0 */
};

/* One per node the kernel holds: what a mount costs per document once
 * the kernel has looked the names up (docs/engine.md, "Memory"), so the
 * handle state is apart, in h, allocated at the first open and freed when
 * no handle is open and cache_known is false; a node with h NULL has no
 * handle (cached, direct and writers 0) and cache_known false.  The
 * attributes last reported are kept field by field (no padding). */
struct fs_node {
	uint64_t nodeid;
	uint64_t id; /* store id */
	uint64_t nlookup;
	struct fs_handles *h;
	uint64_t last_size; /* attributes last reported */
	int64_t last_mtime_ns, last_ctime_ns;
	uint32_t last_mode, last_uid, last_gid;
	bool retired : 1;
	bool dirty : 1; /* has had a writer: the kernel's i_size may be its own */
	/* writers told ESTALE whose retry is expected here (saturates) */
	uint16_t writer_pending;
	bool has_last : 1;
};

static uint64_t nodeid_hash(const void *val)
{
	return ((const struct fs_node *)val)->nodeid;
}

static bool nodeid_match(const void *val, const void *key)
{
	return ((const struct fs_node *)val)->nodeid == *(const uint64_t *)key;
}

static struct fs_node *node_find(struct fs_nodes *nt, uint64_t nodeid)
{
	return pmap_get(&nt->nodes, nodeid, nodeid_match, &nodeid);
}

static unsigned n_cached(const struct fs_node *n)
{
	return n->h ? n->h->cached : 0;
}

static unsigned n_direct(const struct fs_node *n)
{
	return n->h ? n->h->direct : 0;
}

static unsigned n_writers(const struct fs_node *n)
{
	return n->h ? n->h->writers : 0;
}

/* n's handle state, made when missing; NULL when out of memory. */
static struct fs_handles *handles(struct fs_node *n)
{
	if (!n->h)
		n->h = calloc(1, sizeof(*n->h));
	return n->h;
}

/* Drop n's handle state when it holds nothing (no handle, cache_known
 * false). */
static void handles_maybe_free(struct fs_node *n)
{
	struct fs_handles *h = n->h;

	if (h && !h->cached && !h->direct && !h->writers && !h->cache_known) {
		doc_snap_put(h->pinned);
		free(h);
		n->h = NULL;
	}
}

int fs_nodes_init(struct fs_nodes *nt, atomic_uint_fast64_t *retirements)
{
	memset(nt, 0, sizeof(*nt));
	nt->retirements = retirements;
	pthread_mutex_init(&nt->mu, NULL);
	pmap_init(&nt->nodes, nodeid_hash);
	u64map_init(&nt->cur);
	nt->next_nodeid = FS_NODE_BASE;
	return 0;
}

void fs_nodes_release(struct fs_nodes *nt)
{
	size_t pos = 0;
	void *v;

	while (pmap_next(&nt->nodes, &pos, &v)) {
		struct fs_node *n = v;

		if (n->h)
			doc_snap_put(n->h->pinned);
		free(n->h);
		free(n);
	}
	pmap_release(&nt->nodes);
	u64map_release(&nt->cur);
	pthread_mutex_destroy(&nt->mu);
}

/* ---- the session ---- */

void fs_nodes_start(struct fs_nodes *nt, struct store *s,
		    struct fuse_session *se)
{
	nt->s = s;
	nt->se = se;
}

void fs_nodes_stop(struct fs_nodes *nt)
{
	nt->se = NULL; /* no notification to a session going away */
}

void fs_node_inval_attr(struct fs_nodes *nt, uint64_t nodeid)
{
	if (nt->se)
		fuse_lowlevel_notify_inval_inode(nt->se, nodeid, -1, 0);
}

uint64_t fs_node_doc(struct fs_nodes *nt, uint64_t nodeid)
{
	struct fs_node *n;
	uint64_t id = 0;

	if (nodeid < FS_NODE_BASE || nodeid >= FS_CLOUD_BASE)
		return nodeid;
	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (n)
		id = n->id;
	pthread_mutex_unlock(&nt->mu);
	return id;
}

/* ---- the table (nt->mu held) ---- */

static struct fs_node *node_new(struct fs_nodes *nt, uint64_t nodeid,
				uint64_t id)
{
	struct fs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->nodeid = nodeid;
	n->id = id;
	if (pmap_put(&nt->nodes, nodeid, nodeid_match, &nodeid, n, NULL) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

static bool node_is_current(struct fs_nodes *nt, const struct fs_node *n)
{
	struct fs_node *c = u64map_get(&nt->cur, n->id);

	return c ? c == n : n->nodeid == n->id && !n->retired;
}

static void node_maybe_free(struct fs_nodes *nt, struct fs_node *n)
{
	if (n->nlookup || n_cached(n) || n_direct(n) || n_writers(n))
		return;
	if (n->writer_pending && node_is_current(nt, n))
		return;
	if (u64map_get(&nt->cur, n->id) == n)
		u64map_del(&nt->cur, n->id);
	pmap_del(&nt->nodes, n->nodeid, nodeid_match, &n->nodeid);
	if (n->h)
		doc_snap_put(n->h->pinned);
	free(n->h);
	free(n);
}

/* Retire the current node n of a document (it keeps serving its open
 * handles, unchanged) and make a fresh current node.  Returns the new
 * node or NULL (out of memory: n stays current and the caller answers
 * ENOMEM). */
static struct fs_node *node_retire(struct fs_nodes *nt, struct fs_node *n)
{
	struct fs_node *fresh = node_new(nt, nt->next_nodeid, n->id);

	if (!fresh)
		return NULL;
	if (u64map_put(&nt->cur, n->id, fresh) < 0) {
		pmap_del(&nt->nodes, fresh->nodeid, nodeid_match,
			 &fresh->nodeid);
		free(fresh);
		return NULL;
	}
	nt->next_nodeid++;
	n->retired = true;
	return fresh;
}

/* The current node of document id, made when missing.  A dirty current
 * node whose writers are gone is retired on the way (invariant 6): the
 * kernel gets a fresh node whose attributes it may cache. */
static struct fs_node *node_current(struct fs_nodes *nt, uint64_t id)
{
	struct fs_node *n = u64map_get(&nt->cur, id);

	if (!n) {
		n = node_find(nt, id);
		if (!n)
			return node_new(nt, id, id);
		if (n->retired) {
			/* The store id's node is retired and still held. */
			n = node_new(nt, nt->next_nodeid, id);
			if (n && u64map_put(&nt->cur, id, n) < 0) {
				pmap_del(&nt->nodes, n->nodeid, nodeid_match,
					 &n->nodeid);
				free(n);
				n = NULL;
			}
			if (n)
				nt->next_nodeid++;
			return n;
		}
	}
	if (n->dirty && !n_writers(n) && !n->writer_pending) {
		struct fs_node *fresh = node_retire(nt, n);

		if (fresh)
			return fresh;
	}
	return n;
}

/* Retire the current node n for a writer told ESTALE: the fresh node
 * waits for that writer (readers of it stay direct until it comes). */
static struct fs_node *node_retire_for_writer(struct fs_nodes *nt,
					      struct fs_node *n)
{
	struct fs_node *fresh = node_retire(nt, n);

	if (fresh) {
		fresh->writer_pending = 1;
		atomic_fetch_add(nt->retirements, 1);
	}
	return fresh;
}

/* A writer registers on n (nt->mu held): 0 or -ENOMEM (nothing
 * changed). */
static int writer_join(struct fs_node *n)
{
	struct fs_handles *h = handles(n);

	if (!h)
		return -ENOMEM;
	h->writers++;
	n->dirty = true;
	if (n->writer_pending)
		n->writer_pending--;
	h->cache_known = false;
	return 0;
}

/* ---- lookups ---- */

int fs_node_lookup(struct fs_nodes *nt, uint64_t id, uint64_t *nodeid)
{
	struct fs_node *n;
	int rc = -ENOMEM;

	pthread_mutex_lock(&nt->mu);
	n = node_current(nt, id);
	if (n) {
		n->nlookup++;
		*nodeid = n->nodeid;
		rc = 0;
	}
	pthread_mutex_unlock(&nt->mu);
	return rc;
}

void fs_node_forget(struct fs_nodes *nt, uint64_t nodeid, uint64_t nlookup)
{
	struct fs_node *n;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (n) {
		n->nlookup = nlookup < n->nlookup ? n->nlookup - nlookup : 0;
		node_maybe_free(nt, n);
	}
	pthread_mutex_unlock(&nt->mu);
}

void fs_node_deleted(struct fs_nodes *nt, uint64_t id)
{
	struct fs_node *n;

	pthread_mutex_lock(&nt->mu);
	n = u64map_get(&nt->cur, id);
	if (n) {
		n->writer_pending = 0;
		node_maybe_free(nt, n);
	}
	pthread_mutex_unlock(&nt->mu);
}

/* ---- opens ---- */

/* A writer on n (nt->mu held): 0, or -ESTALE after making sure the
 * document's current node is fit for the writer's retry.  *retired
 * receives the node id retired on the way, if any. */
static int writer_add(struct fs_nodes *nt, struct fs_node *n, uint64_t *retired)
{
	struct fs_node *c;

	if (!n->retired && n_cached(n) == 0 && (n->dirty || n->writer_pending))
		return writer_join(n);
	c = n->retired ? node_current(nt, n->id) : n;
	/* cached readers, or clean and held by the kernel (invariant 8): a
	 * fresh node; one the kernel holds nothing of can wait as it is */
	if (c && (n_cached(c) > 0 ||
		  (!c->dirty && !c->writer_pending && c->nlookup))) {
		*retired = c->nodeid;
		c = node_retire_for_writer(nt, c);
	} else if (c && c->writer_pending < UINT16_MAX) {
		c->writer_pending++;
	}
	return c ? -ESTALE : -ENOMEM;
}

/* A node retired for a writer keeps serving its readers, but whatever
 * happens to the document from now on happens through other nodes: the
 * attributes the kernel caches for it are dropped (and never cached again,
 * fs_node_attr_volatile), so fstat on its descriptors stays true, nlink 0
 * included once the document is deleted. */
static void retired_inval(struct fs_nodes *nt, uint64_t nodeid)
{
	if (nodeid)
		fs_node_inval_attr(nt, nodeid);
}

int fs_node_open_write(struct fs_nodes *nt, uint64_t nodeid, uint64_t id)
{
	uint64_t retired = 0;
	struct fs_node *n;
	int rc = -ENOMEM;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (!n && nodeid == id)
		n = node_new(nt, id, id); /* not held: make it */
	else if (!n)
		rc = -ESTALE;
	if (n)
		rc = writer_add(nt, n, &retired);
	if (rc == -ENOMEM && n)
		node_maybe_free(nt, n); /* one made here holds nothing */
	pthread_mutex_unlock(&nt->mu);
	retired_inval(nt, retired);
	return rc;
}

int fs_node_create(struct fs_nodes *nt, uint64_t id, uint64_t *nodeid)
{
	uint64_t retired = 0;
	struct fs_node *n;
	int rc = -ENOMEM;

	pthread_mutex_lock(&nt->mu);
	n = node_current(nt, id);
	if (n && n_cached(n) > 0) {
		retired = n->nodeid;
		n = node_retire_for_writer(nt, n);
	}
	if (n && writer_join(n) == 0) {
		n->nlookup++;
		*nodeid = n->nodeid;
		rc = 0;
	} else if (n) {
		node_maybe_free(nt, n);
	}
	pthread_mutex_unlock(&nt->mu);
	retired_inval(nt, retired);
	return rc;
}

/* May n, with no cached handle open, serve a cached handle of snapshot
 * sn?  nt->mu held. */
static bool cache_allowed(struct fs_nodes *nt, struct fs_node *n,
			  const struct doc_snap *sn)
{
	struct store_doc_info info;

	if (n->retired || n_writers(n) || n_direct(n) || n->writer_pending)
		return false;
	/* No writer is registered, so the document cannot change while we
	 * hold nt->mu (invariant 4): sn must still be its content. */
	return store_doc_info(nt->s, n->id, &info) == 0 &&
	       info.seq == doc_snap_seq(sn);
}

int fs_node_open_read(struct fs_nodes *nt, uint64_t nodeid, uint64_t id,
		      struct doc_snap *sn, bool may_cache,
		      struct fs_node_open *out)
{
	struct fs_node *n;
	struct fs_handles *h;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (!n && nodeid == id)
		n = node_new(nt, id, id);
	if (!n) {
		pthread_mutex_unlock(&nt->mu);
		return nodeid == id ? -ENOMEM : -ESTALE;
	}
	h = handles(n);
	if (!h) {
		node_maybe_free(nt, n); /* one made here holds nothing */
		pthread_mutex_unlock(&nt->mu);
		return -ENOMEM;
	}
	if (h->cached) {
		/* Share the version the node's cache and i_size hold (on a
		 * current node that is the document's content, invariant
		 * 4; a retired node is frozen). */
		out->kind = FS_OPEN_CACHED;
		out->keep_cache = true;
		out->snap = doc_snap_get(h->pinned);
		h->cached++;
	} else if (may_cache && cache_allowed(nt, n, sn)) {
		out->kind = FS_OPEN_CACHED;
		out->keep_cache = h->cache_known &&
				  h->cache_seq == doc_snap_seq(sn);
		h->pinned = doc_snap_get(sn);
		out->snap = doc_snap_get(sn);
		h->cache_seq = doc_snap_seq(sn);
		h->cache_known = true;
		h->cached++;
	} else {
		out->kind = FS_OPEN_DIRECT;
		out->keep_cache = false;
		out->snap = doc_snap_get(sn);
		h->direct++;
		h->cache_known = false;
	}
	pthread_mutex_unlock(&nt->mu);
	return 0;
}

void fs_node_close(struct fs_nodes *nt, uint64_t nodeid, enum fs_open_kind kind)
{
	struct fs_node *n;
	struct fs_handles *h;
	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (!n || !n->h) {
		pthread_mutex_unlock(&nt->mu);
		return;
	}
	h = n->h;
	if (kind == FS_OPEN_CACHED && h->cached && --h->cached == 0) {
		doc_snap_put(h->pinned);
		h->pinned = NULL;
	} else if (kind == FS_OPEN_DIRECT && h->direct) {
		h->direct--;
	} else if (kind == FS_OPEN_WRITE && h->writers) {
		h->writers--;
	}
	handles_maybe_free(n);
	node_maybe_free(nt, n);
	pthread_mutex_unlock(&nt->mu);
}

/* ---- attributes ---- */

bool fs_node_attr_volatile(struct fs_nodes *nt, uint64_t nodeid)
{
	struct fs_node *n;
	bool vol;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	vol = n && (n->dirty || n->retired || n->writer_pending);
	pthread_mutex_unlock(&nt->mu);
	return vol;
}

bool fs_node_pinned_size(struct fs_nodes *nt, uint64_t nodeid, uint64_t *size)
{
	struct fs_node *n;
	size_t len = 0;
	bool pinned = false;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (n && n_cached(n)) {
		doc_snap_text(n->h->pinned, &len);
		pinned = true;
	}
	pthread_mutex_unlock(&nt->mu);
	*size = len;
	return pinned;
}

void fs_node_remember(struct fs_nodes *nt, uint64_t nodeid,
		      const struct store_meta *m, uint64_t size)
{
	struct fs_node *n;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (n) {
		n->last_mode = m->mode;
		n->last_uid = m->uid;
		n->last_gid = m->gid;
		n->last_mtime_ns = m->mtime_ns;
		n->last_ctime_ns = m->ctime_ns;
		n->last_size = size;
		n->has_last = true;
	}
	pthread_mutex_unlock(&nt->mu);
}

int fs_node_last(struct fs_nodes *nt, uint64_t nodeid, struct store_meta *m,
		 uint64_t *size)
{
	struct fs_node *n;
	size_t len;
	int rc = -ENOENT;

	pthread_mutex_lock(&nt->mu);
	n = node_find(nt, nodeid);
	if (n && n->has_last && (n_cached(n) || n_direct(n) || n_writers(n))) {
		m->mode = n->last_mode;
		m->uid = n->last_uid;
		m->gid = n->last_gid;
		m->mtime_ns = n->last_mtime_ns;
		m->ctime_ns = n->last_ctime_ns;
		*size = n->last_size;
		if (n_cached(n)) {
			doc_snap_text(n->h->pinned, &len);
			*size = len;
		}
		rc = 0;
	}
	pthread_mutex_unlock(&nt->mu);
	return rc;
}

bool fs_node_busy(struct fs_nodes *nt, uint64_t id)
{
	struct fs_node *n;
	bool busy;

	pthread_mutex_lock(&nt->mu);
	n = u64map_get(&nt->cur, id);
	if (!n)
		n = node_find(nt, id);
	busy = n && (n_cached(n) || n_direct(n) || n_writers(n));
	pthread_mutex_unlock(&nt->mu);
	return busy;
}
