/*
 * passthrough_ll.c - the FUSE floor: a minimal low-level passthrough of a
 * directory, built only so bench/bench_floor.sh can say how fast any FUSE
 * filesystem can be on this kernel and this disk, next to caravanfs and a
 * plain directory, in the same run.
 *
 *   passthrough_ll [-o writeback] [-o timeout=SECS] [-o threads=N] \
 *                  SOURCE_DIR MOUNT_POINT
 *
 * It stays in the foreground; unmount with fusermount3 -u MOUNT_POINT.
 *
 * Nodes.  A FUSE node id is the address of a struct pnode, keyed by
 * (st_dev, st_ino) in a hash table, so two names of one file (or one file
 * looked up twice) share a node.  A directory's node holds an O_PATH
 * descriptor (the parent of lookups, creates, renames); any other file's
 * holds a file handle (name_to_handle_at) and is opened by it
 * (open_by_handle_at, as virtiofsd's inode-file-handles mode does), so
 * no descriptor is held per file: libfuse's passthrough examples hold an
 * O_PATH descriptor per node, which caps a tree at the process' descriptor
 * limit (20,000 here, and raising it takes CAP_SYS_RESOURCE).  Opening by
 * handle needs CAP_DAC_READ_SEARCH: run it as root.
 * Invariants:
 *   1. nlookup is the number of lookups the kernel holds (every reply
 *      carrying an entry adds one, forget takes them away); a node is
 *      freed, its descriptor closed, when nlookup reaches zero.  The root
 *      is never freed.
 *   2. The table and every nlookup are guarded by tab_mu; a node's fd,
 *      handle and key never change while it is in the table.
 *   3. A request on a node id may run while the node is in the table only
 *      (the kernel sends no request on a node after forgetting it).
 * A lookup of a name whose file already has a node costs one fstatat.
 * A directory handle is a DIR* of its own with telldir offsets, which stay
 * valid across seekdir.
 *
 * Kernel caching: the choices caravanfs makes (fs/ops.c "Kernel
 * caching", fs/options.c defaults), so that the two differ only in what
 * each does per request:
 *   - entry and attribute timeouts 30 s (caravanfs' entry_timeout and
 *     attr_timeout defaults; libfuse's example uses 1 s), positive entries
 *     only (ENOENT replies are not cached);
 *   - readdirplus always, not the kernel's heuristic (FUSE_CAP_READDIRPLUS
 *     without READDIRPLUS_AUTO), so ls -l, tar, find and rsync need no
 *     LOOKUP per name;
 *   - page cache for reads: every open keeps its pages (keep_cache), the
 *     kernel refreshes them on a size or mtime change (AUTO_INVAL_DATA);
 *   - read-only opens are noflush (their close sends no FLUSH), as
 *     caravanfs' are;
 *   - no write-back cache (each write(2) is one WRITE request, as through
 *     caravanfs); -o writeback turns it on for comparison;
 *   - no splice; a multi-threaded request loop of up to 64 workers, one
 *     /dev/fuse descriptor (caravanfs' max_threads default, clone_fd off).
 *
 * Errors are the system calls' errnos, replied unchanged.  Nothing here is
 * product code: it serves benchmarks, keeps no state across mounts, and
 * trusts the directory it passes through.
 */
#include "config.h"

#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct pnode {
	struct pnode *next; /* hash chain */
	int fd; /* directories: O_PATH, owned; others: -1 */
	struct file_handle *fh; /* others: owned; directories: NULL */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup; /* guarded by tab_mu */
};

struct pdir {
	DIR *dp;
	off_t off; /* offset of the next entry dp returns */
	struct dirent *de; /* read but not yet replied, or NULL */
};

static struct {
	pthread_mutex_t tab_mu;
	struct pnode **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	struct pnode root;
	int mount_fd; /* the source directory, not O_PATH: open_by_handle_at */
	double timeout_s;
	bool writeback;
} pt = { .tab_mu = PTHREAD_MUTEX_INITIALIZER, .timeout_s = 30.0 };

/* ---- the node table ---- */

static size_t bucket_of(dev_t dev, ino_t ino, size_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (size_t)(h ^ h >> 29) & (nbuckets - 1);
}

/* Double the table when it is full on average.  Caller holds tab_mu. */
static void table_grow(void)
{
	size_t n = pt.nbuckets ? pt.nbuckets * 2 : 1024;
	struct pnode **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* chains just get longer */
	for (size_t i = 0; i < pt.nbuckets; i++) {
		struct pnode *p = pt.buckets[i], *next;

		for (; p; p = next) {
			size_t k = bucket_of(p->dev, p->ino, n);

			next = p->next;
			p->next = b[k];
			b[k] = p;
		}
	}
	free(pt.buckets);
	pt.buckets = b;
	pt.nbuckets = n;
}

static struct pnode *node_of(fuse_ino_t id)
{
	return id == FUSE_ROOT_ID ? &pt.root : (struct pnode *)(uintptr_t)id;
}

static fuse_ino_t id_of(struct pnode *p)
{
	return p == &pt.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)p;
}

/* The node of st, with one more lookup, when the table has it; else
 * NULL.  Caller holds tab_mu. */
static struct pnode *node_find(const struct stat *st)
{
	struct pnode *p;

	if (st->st_dev == pt.root.dev && st->st_ino == pt.root.ino)
		p = &pt.root;
	else if (!pt.nbuckets)
		return NULL;
	else
		for (p = pt.buckets[bucket_of(st->st_dev, st->st_ino,
					      pt.nbuckets)];
		     p; p = p->next)
			if (p->dev == st->st_dev && p->ino == st->st_ino)
				break;
	if (p)
		p->nlookup++;
	return p;
}

/* The node of st, with one more lookup; takes ownership of fd and fh
 * (freed when the node already exists).  Returns NULL when out of memory
 * (both freed). */
static struct pnode *node_get(int fd, struct file_handle *fh,
			      const struct stat *st)
{
	struct pnode *p;
	size_t k;

	pthread_mutex_lock(&pt.tab_mu);
	p = node_find(st);
	if (p)
		goto found;
	if (pt.count >= pt.nbuckets)
		table_grow();
	k = bucket_of(st->st_dev, st->st_ino, pt.nbuckets);
	p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&pt.tab_mu);
		goto found;
	}
	p->fd = fd;
	p->fh = fh;
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->nlookup = 1;
	p->next = pt.buckets[k];
	pt.buckets[k] = p;
	pt.count++;
	pthread_mutex_unlock(&pt.tab_mu);
	return p;
found:
	pthread_mutex_unlock(&pt.tab_mu);
	if (fd >= 0)
		close(fd);
	free(fh);
	return p;
}

/* Drop n lookups of p; free it at zero (invariant 1). */
static void node_forget(struct pnode *p, uint64_t n)
{
	struct pnode **at;

	pthread_mutex_lock(&pt.tab_mu);
	if (p == &pt.root || n > p->nlookup) {
		if (p != &pt.root)
			p->nlookup = 0; /* the kernel never sends more */
		pthread_mutex_unlock(&pt.tab_mu);
		return;
	}
	p->nlookup -= n;
	if (p->nlookup) {
		pthread_mutex_unlock(&pt.tab_mu);
		return;
	}
	at = &pt.buckets[bucket_of(p->dev, p->ino, pt.nbuckets)];
	while (*at != p)
		at = &(*at)->next;
	*at = p->next;
	pt.count--;
	pthread_mutex_unlock(&pt.tab_mu);
	if (p->fd >= 0)
		close(p->fd);
	free(p->fh);
	free(p);
}

/* ---- helpers ---- */

/* A new file handle of name in dir (free it), or NULL with errno set. */
static struct file_handle *handle_of(int dir, const char *name)
{
	union {
		struct file_handle h;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	struct file_handle *fh;
	int mount_id;

	u.h.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dir, name, &u.h, &mount_id, 0) < 0)
		return NULL;
	fh = malloc(sizeof(*fh) + u.h.handle_bytes);
	if (!fh) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(fh, &u.h, sizeof(*fh) + u.h.handle_bytes);
	return fh;
}

/* Fill e for name in parent (one lookup taken).  Returns 0 or -errno. */
static int do_lookup(struct pnode *parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct file_handle *fh = NULL;
	struct pnode *p;
	int fd = -1;

	memset(e, 0, sizeof(*e));
	if (fstatat(parent->fd, name, &e->attr, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	pthread_mutex_lock(&pt.tab_mu);
	p = node_find(&e->attr);
	pthread_mutex_unlock(&pt.tab_mu);
	if (p)
		goto done;
	if (S_ISDIR(e->attr.st_mode))
		fd = openat(parent->fd, name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW);
	else
		fh = handle_of(parent->fd, name);
	if (fd < 0 && !fh)
		return -errno;
	p = node_get(fd, fh, &e->attr);
	if (!p)
		return -ENOMEM;
done:
	e->ino = id_of(p);
	e->attr_timeout = pt.timeout_s;
	e->entry_timeout = pt.timeout_s;
	return 0;
}

/* A descriptor of p opened with flags (O_PATH for metadata), which the
 * caller closes, or -1 with errno set. */
static int node_open(struct pnode *p, int flags)
{
	char path[64];

	if (p->fh)
		return open_by_handle_at(pt.mount_fd, p->fh, flags);
	if (flags & O_PATH)
		return dup(p->fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p->fd);
	return open(path, flags);
}

static void reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = do_lookup(node_of(parent), name, &e);

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

/* ---- operations ---- */

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &=
		~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_MOVE |
			    FUSE_CAP_SPLICE_WRITE | FUSE_CAP_READDIRPLUS_AUTO |
			    FUSE_CAP_WRITEBACK_CACHE);
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (pt.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_entry(req, parent, name);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(node_of(ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(node_of(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pnode *p = node_of(ino);
	struct stat st;
	int fd, rc;

	if (fi)
		rc = fstat((int)fi->fh, &st);
	else if (!p->fh)
		rc = fstatat(p->fd, "", &st,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	else if ((fd = node_open(p, O_PATH)) < 0)
		rc = -1;
	else {
		rc = fstat(fd, &st);
		close(fd);
	}
	if (rc < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, pt.timeout_s);
}

/* Apply the changes valid asks for to the file behind fd (O_PATH, or the
 * handle's own descriptor when opened is set).  Returns 0 or -errno. */
static int apply_attr(int fd, bool opened, const struct stat *attr, int valid)
{
	struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_nsec = UTIME_OMIT } };
	char path[64];
	int wfd, rc = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((valid & FUSE_SET_ATTR_MODE) &&
	    (opened ? fchmod(fd, attr->st_mode) : chmod(path, attr->st_mode)) <
		    0)
		return -errno;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid
							: (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid
							: (gid_t)-1;

		if (fchownat(fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		wfd = opened ? fd : open(path, O_WRONLY);
		if (wfd < 0)
			return -errno;
		if (ftruncate(wfd, attr->st_size) < 0)
			rc = -errno;
		if (!opened)
			close(wfd);
		if (rc < 0)
			return rc;
	}
	if (!(valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		return 0;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if ((opened ? futimens(fd, tv) : utimensat(AT_FDCWD, path, tv, 0)) < 0)
		return -errno;
	return 0;
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct pnode *p = node_of(ino);
	int fd, rc;

	if (fi) {
		rc = apply_attr((int)fi->fh, true, attr, valid);
	} else {
		fd = node_open(p, O_PATH);
		if (fd < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		rc = apply_attr(fd, false, attr, valid);
		close(fd);
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pt_getattr(req, ino, fi);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	if (mkdirat(node_of(parent)->fd, name, mode) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, parent, name);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req,
		       unlinkat(node_of(parent)->fd, name, 0) < 0 ? errno : 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req,
		       unlinkat(node_of(parent)->fd, name, AT_REMOVEDIR) < 0
			       ? errno
			       : 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	int rc = renameat2(node_of(parent)->fd, name, node_of(newparent)->fd,
			   newname, flags);

	fuse_reply_err(req, rc < 0 ? errno : 0);
}

/* Open flags for the descriptor behind a handle: with the write-back cache
 * the kernel sends reads for write-only opens and places appends itself. */
static int open_flags(int flags)
{
	flags &= ~O_NOFOLLOW;
	if (pt.writeback) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

static void set_handle(struct fuse_file_info *fi, int fd)
{
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = node_open(node_of(ino), open_flags(fi->flags));

	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	set_handle(fi, fd);
	if (fuse_reply_open(req, fi) == -ENOENT)
		close(fd); /* the opener was interrupted */
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int fd, rc;

	fd = openat(node_of(parent)->fd, name, open_flags(fi->flags) | O_CREAT,
		    mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rc = do_lookup(node_of(parent), name, &e);
	if (rc < 0) {
		close(fd);
		fuse_reply_err(req, -rc);
		return;
	}
	set_handle(fi, fd);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		close(fd);
		node_forget(node_of(e.ino), 1);
	}
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, data, size, off);

	(void)ino;
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	(void)ino;
	/* close of a duplicate: what a close(2) of the file would report */
	fuse_reply_err(req, fd < 0 || close(fd) < 0 ? errno : 0);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;

	(void)ino;
	fuse_reply_err(req,
		       (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pdir *d = calloc(1, sizeof(*d));
	int fd;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(node_of(ino)->fd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static bool is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Fill up to size bytes of entries from off; with plus, each carries its
 * node and attributes (one lookup taken per entry replied). */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *at = buf;
	size_t left = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->off) {
		seekdir(d->dp, off);
		d->de = NULL;
		d->off = off;
	}
	for (;;) {
		struct fuse_entry_param e;
		size_t n;

		if (!d->de) {
			errno = 0;
			d->de = readdir(d->dp);
			if (!d->de) {
				err = errno;
				break;
			}
		}
		memset(&e, 0, sizeof(e));
		if (plus && !is_dot(d->de->d_name)) {
			int rc = do_lookup(node_of(ino), d->de->d_name, &e);

			if (rc == -ENOENT) { /* gone since readdir */
				d->off = d->de->d_off;
				d->de = NULL;
				continue;
			}
			if (rc < 0) {
				err = -rc;
				break;
			}
		} else {
			e.attr.st_ino = d->de->d_ino;
			e.attr.st_mode = (mode_t)d->de->d_type << 12;
		}
		n = plus ? fuse_add_direntry_plus(req, at, left, d->de->d_name,
						  &e, d->de->d_off)
			 : fuse_add_direntry(req, at, left, d->de->d_name,
					     &e.attr, d->de->d_off);
		if (n > left) {
			if (e.ino)
				node_forget(node_of(e.ino), 1);
			break; /* d->de stays for the next call */
		}
		at += n;
		left -= n;
		d->off = d->de->d_off;
		d->de = NULL;
	}
	if (err && at == buf)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(((struct pdir *)(uintptr_t)fi->fh)->dp);

	(void)ino;
	fuse_reply_err(req,
		       (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(pt.root.fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.open = pt_open,
	.create = pt_create,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
};

/* ---- main ---- */

/* One descriptor per directory node and per open file: raise the limit
 * to the system's ceiling (fs.nr_open, with CAP_SYS_RESOURCE), else to the
 * hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long max = 0;

	if (f) {
		if (fscanf(f, "%lu", &max) != 1)
			max = 0;
		fclose(f);
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)max;
	if (max && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct popts {
	char *timeout;
	int writeback;
	unsigned threads;
};

static const struct fuse_opt popt_spec[] = {
	{ "timeout=%s", offsetof(struct popts, timeout), 0 },
	{ "writeback", offsetof(struct popts, writeback), 1 },
	{ "threads=%u", offsetof(struct popts, threads), 0 },
	FUSE_OPT_END
};

static int usage(void)
{
	fprintf(stderr, "usage: passthrough_ll [-o writeback] "
			"[-o timeout=SECS] [-o threads=N] SOURCE_DIR "
			"MOUNT_POINT\n");
	return 2;
}

/* fuse_opt callback: keep the first two non-options as source and mount
 * point, pass everything else to libfuse. */
static int take_arg(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	char **paths = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (!paths[0])
		paths[0] = strdup(arg);
	else if (!paths[1])
		paths[1] = strdup(arg);
	else
		return -1;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct popts po = { .threads = 64 };
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se = NULL;
	char *paths[2] = { NULL, NULL };
	struct stat st;
	int rc = 1;

	if (fuse_opt_parse(&args, &po, popt_spec, NULL) < 0 ||
	    fuse_opt_parse(&args, paths, NULL, take_arg) < 0 || !paths[1]) {
		rc = usage();
		goto out;
	}
	raise_fd_limit();
	if (po.timeout)
		pt.timeout_s = strtod(po.timeout, NULL);
	pt.writeback = po.writeback;
	pt.root.fd = open(paths[0], O_PATH | O_DIRECTORY);
	if (pt.root.fd < 0 || fstat(pt.root.fd, &st) < 0) {
		fprintf(stderr, "passthrough_ll: cannot open '%s': %s\n",
			paths[0], strerror(errno));
		goto out;
	}
	pt.mount_fd = open(paths[0], O_RDONLY | O_DIRECTORY);
	if (pt.mount_fd < 0) {
		fprintf(stderr, "passthrough_ll: cannot open '%s': %s\n",
			paths[0], strerror(errno));
		goto out;
	}
	pt.root.dev = st.st_dev;
	pt.root.ino = st.st_ino;
	pt.root.nlookup = 2;
	fuse_opt_add_arg(&args, "-ofsname=passthrough_ll");
	se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_session;
	if (fuse_session_mount(se, paths[1]) < 0)
		goto out_signals;
	lc = fuse_loop_cfg_create();
	if (!lc)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, po.threads);
	rc = fuse_session_loop_mt(se, lc) ? 1 : 0;
	fuse_loop_cfg_destroy(lc);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	free(paths[0]);
	free(paths[1]);
	free(po.timeout);
	return rc;
}
