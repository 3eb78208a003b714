/*
 * ops.c - the caravanfs filesystem: its design, and the FUSE low-level
 * operations table that puts the handlers of the files below together
 * (with statfs, init and destroy, which belong to no one file).
 *
 * Files, each with its header (every handler is named fs_op_<operation>);
 * a file uses only those below it:
 *   ops.c        the table, statfs, init (capabilities)
 *   dir.c        opendir, readdir, readdirplus, releasedir, fsyncdir
 *   namespace.c  lookup, forget, mkdir, rmdir, mknod, create, unlink,
 *                rename, link, symlink
 *   attr.c       what a node is, stat, entry replies, getattr, setattr
 *   xattr.c      the read-only user.caravan.* attributes
 *   file.c       open files: open, read, write, flush, release, fsync
 *   sync.c       fsync and fsyncdir answered from the store's
 *                durability callback (struct fs_sync, sync.h)
 *   metrics.c    the metrics file and metrics_file
 *   cloud_glue.c cloud backup and restore as the filesystem sees them
 *   counters.c   the counters the metrics show (counters.h)
 *   snapdir.c    MNT/.caravan-snapshots, the read-only tree of the
 *                store's snapshots: its handlers stand in the table and
 *                pass every request about another node on
 *   node.c       the node table (struct fs_nodes, node.h): node ids,
 *                lookup counts, open handles per node, cache rules
 *   handle.c     the lists of open handles and the pin budget
 *                (struct fs_handles, handle.h)
 *   fs.c         clock, error replies, failure log lines, name rules
 * struct fs (fs.h) is the mount: options (fs_config.h), engine, node
 * table, handles, counters, the fsyncs waiting for the store (sync.h).
 * main.c and options.c make the program.  The design:
 *
 * Nodes.  st_ino of every node is its store id (STORE_ROOT_ID is
 * FUSE_ROOT_ID, 1), so it is stable for a document's lifetime and across
 * remounts.  The FUSE node id of the root and of a space is its store id;
 * a document's node id is its store id too until that node is retired for
 * the kernel's caches (below), after which lookups give the document node
 * ids from FS_NODE_BASE up, never reused, so the generation is constant.
 * node.c keeps the lookup count and the open handles of every document
 * node (forget counts down there); the root and spaces hold no state.
 * The root lists spaces, a space lists documents; nothing else exists
 * except the hidden metrics file FS_METRICS_NAME at the root (node
 * FS_METRICS_INO, above any store id).  The root's attributes are the
 * store's (store_doc_info and store_meta_set of STORE_ROOT_ID), as any
 * node's, so they survive remounts.
 *
 * Directory offsets (how a listing returns each name once, also while
 * names come and go, and lists cloud-only names after local ones) are
 * described at the top of dir.c.
 *
 * Kernel caching.  The contract (SPEC 4): a read-only handle sees one
 * version from open to close, st_size is what a read returns, and no
 * reader sees stale or torn content after a change made through the
 * mount.  The kernel keeps one page cache and one i_size per node id, and
 * it sets i_size itself around writes; the design follows from that.
 *
 *   1. A node id is a view of a document, not the document (node.c).
 *      Lookups give a document its current node; a node can be retired,
 *      after which it only serves the handles already open on it and the
 *      document gets a fresh node id.  st_ino is always the store id.
 *   2. Read-only opens use the page cache when that is safe, everything
 *      else is direct_io.  A read-only open is cached only when its node
 *      has no writer and no direct_io handle, is not retired, and the
 *      snapshot it took is still the document's content (checked under
 *      fs->nodes.mu, where no change can start); all cached handles of a node
 *      then read one snapshot, pinned, so whatever any of them brings into
 *      the page cache is that version.  keep_cache is set when the pages
 *      are known to hold it, otherwise the kernel drops them at open.
 *      Writers, O_RDWR, readers that find a writer or a direct_io handle,
 *      and the metrics file are direct_io, each reading its own snapshot.
 *      (A direct_io handle is kept off cached nodes because a private mmap
 *      of it fills the page cache with its own version.)
 *   3. A change never reaches a node with page-cache readers.  Every
 *      change of content goes through a registered writer: a write open,
 *      an O_TRUNC open, a truncate.  A writer arriving on a node with
 *      cached readers gets ESTALE: the node is retired with its readers,
 *      who keep their version, their i_size and their pages, and a fresh
 *      node is made.  The kernel answers ESTALE from open and truncate by
 *      looking the name up again (LOOKUP_REVAL), which replaces the dentry
 *      with the fresh node, and repeats the call there; the application
 *      sees nothing.  So an old reader's READ can only refill its own
 *      node's cache with its own version, and no reader opened after the
 *      change can reach that node (its name leads to the fresh one).
 *   4. Attributes are cached (attr_timeout, default 30 s); the kernel
 *      itself drops them after every write and truncate it sends, and
 *      discards a reply computed before a change (attr_version).  Two
 *      holes are closed here:
 *      a. The kernel sets i_size itself after a write (old size + bytes
 *         written) and at an O_TRUNC open (0), and a stat that runs while
 *         a later reply is applied can see the reply's validity before its
 *         size.  So a node that has ever had a writer is dirty: every
 *         reply about it carries attribute timeout 0 (the kernel never
 *         holds them valid, every stat asks us), and the first lookup or
 *         readdirplus after its writers left retires it for a fresh node
 *         whose attributes may be cached again.  (Its names are replied
 *         with entry timeout 0 as well, so that lookup comes at the next
 *         use of the name; dropping the dentry from a thread of ours
 *         waited for the directory's lock, which wedged a caller when the
 *         daemon was killed.)
 *         A retired node gets timeout 0 as well: its document changes, or
 *         is deleted, through other nodes.
 *      b. A writer's registration drops what the kernel cached before it
 *         came (fuse_lowlevel_notify_inval_inode, attributes only, which
 *         never blocks and is safe from within any request), and so does
 *         a value completed at close (flush).
 *      c. That drop comes too late for a stat that judged the attributes
 *         valid just before it: such a stat reads i_size as the kernel
 *         then holds it, which an O_TRUNC open has set to 0 (a stat of a
 *         document rewritten in a loop saw size 0).  So a writer never
 *         registers on a clean node (one whose attributes may be cached):
 *         it gets ESTALE as in 3, on a fresh node whose attributes are
 *         never cached, and the kernel sets i_size only there (node.c,
 *         invariant 8).  The price: a write open after a lookup costs
 *         one more LOOKUP.
 *   5. Cached reads refresh i_size first when the attributes are not valid
 *      (FUSE_CAP_AUTO_INVAL_DATA), so no cached reader reads against a
 *      size the kernel computed itself.  Without that capability, or with
 *      -o direct_io, every open is direct_io.
 *   6. readdirplus (always, not the kernel's heuristic) returns a node and
 *      attributes with every name, so `ls -l`, tar and rsync need no
 *      LOOKUP or GETATTR per file.  Names are cached for entry_timeout
 *      (default 30 s), positive ones only: names change only through this
 *      mount (the kernel updates its dentries for create, unlink, rename)
 *      or by a cloud restore, which only adds names.
 *   7. Read-only handles are opened noflush: their close sends no FLUSH.
 * The price: fstat on a direct_io descriptor shows the current size (the
 * kernel answers fstat per inode, not per descriptor); writing descriptors
 * never use the page cache, so shared writable mmap is not available.
 *
 * Locks.  The store and the doc module are thread-safe and serialize per
 * document.  fs->meta_mu serializes the read-modify-write of metadata in
 * setattr (attr.c); fs->nodes.mu guards node.c's tables; each open handle
 * has its own mutex (file.c), the handle lists and the pin budget theirs
 * (handle.h); counters are atomics.  meta_mu and fs->nodes.mu are held
 * across store calls (never both at once) and no store callback takes
 * either.  Kernel notifications are sent with no lock held.
 *
 * Errors are the store's negative errnos, sent unchanged except -EBADMSG
 * (a damaged entry), which the kernel gets as EIO after a log line.
 */
#include "config.h"

#include <string.h>
#include <sys/statvfs.h>

#include "fs/attr.h"
#include "fs/dir.h"
#include "fs/file.h"
#include "fs/namespace.h"
#include "fs/ops.h"
#include "fs/snapdir.h"
#include "fs/xattr.h"

/* ---- the filesystem ---- */

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_stats ss;
	struct statvfs sv;

	store_stats(fs->s, &ss);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = ss.capacity_bytes / 4096;
	sv.f_bfree = ss.free_bytes / 4096;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = ss.documents + ss.spaces + 1 + sv.f_bfree;
	sv.f_ffree = sv.f_bfree;
	sv.f_favail = sv.f_bfree;
	sv.f_namemax = STORE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* Capabilities (see "Kernel caching" above): readdirplus always (not the
 * kernel's heuristic), attributes refreshed on read when invalid
 * (AUTO_INVAL_DATA), which the page cache of read-only handles relies on;
 * without it every open stays direct_io. */
static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &=
		~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			    FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS_AUTO |
			    FUSE_CAP_EXPLICIT_INVAL_DATA);
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	fs->page_cache = false;
	if (!fs->cfg.direct_io && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)) {
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
		fs->page_cache = true;
	}
}

static void fs_op_destroy(void *userdata)
{
	fs_snapdir_free(userdata);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.destroy = fs_op_destroy,
	.lookup = fs_snap_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_snap_op_getattr,
	.setattr = fs_snap_op_setattr,
	.mknod = fs_snap_op_mknod,
	.mkdir = fs_snap_op_mkdir,
	.unlink = fs_snap_op_unlink,
	.rmdir = fs_snap_op_rmdir,
	.symlink = fs_snap_op_symlink,
	.rename = fs_snap_op_rename,
	.link = fs_snap_op_link,
	.open = fs_snap_op_open,
	.read = fs_snap_op_read,
	.write = fs_snap_op_write,
	.flush = fs_snap_op_flush,
	.release = fs_snap_op_release,
	.fsync = fs_snap_op_fsync,
	.opendir = fs_snap_op_opendir,
	.readdir = fs_snap_op_readdir,
	.readdirplus = fs_snap_op_readdirplus,
	.releasedir = fs_snap_op_releasedir,
	.fsyncdir = fs_snap_op_fsyncdir,
	.statfs = fs_op_statfs,
	.setxattr = fs_snap_op_setxattr,
	.getxattr = fs_snap_op_getxattr,
	.listxattr = fs_snap_op_listxattr,
	.removexattr = fs_snap_op_removexattr,
	.create = fs_snap_op_create,
};
