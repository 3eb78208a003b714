/*
 * io_crashsim.c - a power-cut simulator behind the I/O seam (for tests).
 *
 * Every call still goes to the kernel, so the process runs normally and
 * sees its own writes.  Beside it the simulator keeps what a disk could
 * hold if the power were cut now, for the regular files of one watched
 * directory and for the directory itself.
 *
 * The model
 *
 *   1. A file's durable content is what it held at its last successful
 *      fsync or fdatasync (the whole file, size included), or, for the
 *      byte range of a shared mapping, at its last successful
 *      msync(MS_SYNC).  At install every file counts as durable.
 *
 *   2. Since then, the changes that went through the seam are kept in
 *      order: writes (pwrite), truncations (ftruncate, open with O_TRUNC)
 *      and extensions (fallocate).  At a crash each write is cut into
 *      pieces at 512-byte sector boundaries and each piece is, on its
 *      own, kept, dropped, or turned into garbage (random bytes: the
 *      write's bytes were torn; bytes that were durable before are never
 *      touched).  A truncation or extension is applied or not.  Pieces
 *      written beyond the size read as zeros where nothing was kept
 *      (holes).  Applying the changes in order on top of the durable
 *      content, with these choices, gives every state of "any subset of
 *      sectors reached the disk", including older versions of a sector
 *      written twice.
 *
 *   3. Changes made through a mapping never pass through the seam.  At a
 *      crash the file's current content is compared, sector by sector,
 *      with the durable content plus every seam change; each sector that
 *      differs was dirtied in the map after its last msync and is, on its
 *      own, the current content, what item 2 chose, or garbage in the
 *      bytes the map changed.  (This is
 *      finer than "each 4 KiB page old or new": a page write may tear at
 *      any sector.)
 *
 *   3a. A synced write (io_pwrite_dsync, RWF_DSYNC) is a write, then a
 *      sync point, then its bytes and the file's size are durable: every
 *      truncation and extension made before it (in order; a truncation
 *      cuts what earlier unsynced writes put beyond it), not the file's
 *      other unsynced writes nor its mapped changes.  A cut at its sync
 *      point sees the write unsynced (any of its sectors kept or not)
 *      and the size changes before it still undone or not: a file system
 *      may write the data before the commit that names the size.  Sizes
 *      set by writes past the end are not made durable by it (with
 *      delayed allocation the size on disk follows the writeback).
 *
 *   4. The directory's durable listing is what it held at its last
 *      successful fsync (io_fsync_dir opens the directory and calls
 *      io_fsync, which is how we see it).  Creations (open with O_CREAT
 *      of a name that did not exist), renames and unlinks since are kept
 *      in order; a crash keeps a prefix of them (file systems with a
 *      journal commit name changes in order).  A file's own fsync does
 *      not make its name durable.  A name in the crash listing holds the
 *      crash content (items 1-3) of the inode it names.
 *
 *   5. Modes: ALL_KEPT keeps every change (item 3: the current content),
 *      ALL_DROPPED none (the durable state), RANDOM draws every choice
 *      from a seeded generator, with a per-state bias toward keeping so
 *      that mostly-kept and mostly-dropped states both occur.
 *
 *   6. Sync points: fsync, fdatasync, msync and synced-write calls are
 *      numbered from 1;
 *      the hook runs at the entry of each, before it has any effect.  A
 *      power cut "at sync point n" is therefore the state after every
 *      change made before call n, with only calls 1..n-1 done.  A failed
 *      sync makes nothing durable.
 *
 * Files are tracked by inode: the simulator holds its own read-only
 * descriptor of every tracked inode, so an inode renamed over or unlinked
 * stays readable (its durable content may still be what a crash shows)
 * and its number cannot be reused while tracked.  Inodes that neither
 * listing names and no descriptor holds are forgotten at the next
 * directory fsync.
 *
 * Out of scope: files outside the watched directory, subdirectories,
 * writes not made through the seam other than through a mapping, and
 * metadata other than size (mode, times).
 *
 * Locking: one mutex guards all state; the kernel calls and the hook run
 * without it.
 */
#include "tests/crashsim/io_crashsim.h"

#include "util/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define SECTOR 512u
#define MAX_FDS 4096

enum op_kind {
	OP_WRITE,
	OP_TRUNCATE,
	OP_EXTEND
};

/* An unsynced change of a file.  WRITE: bytes data[0..len) at off.
 * TRUNCATE: the size becomes off.  EXTEND: the size becomes at least off. */
struct op {
	enum op_kind kind;
	uint64_t off, len;
	uint8_t *data;
};

struct file {
	int rfd; /* our read-only descriptor of the inode */
	dev_t dev;
	ino_t ino;
	uint8_t *dur; /* durable content */
	uint64_t dur_len, dur_cap;
	struct op *ops; /* unsynced changes, in order */
	size_t nops, ops_cap;
};

enum ns_kind {
	NS_CREATE,
	NS_RENAME,
	NS_UNLINK
};

struct ns_op {
	enum ns_kind kind;
	char *a, *b; /* CREATE, UNLINK: a; RENAME: a to b */
	int file; /* CREATE: the new inode */
};

struct ns_ent {
	char *name;
	int file;
};

struct ns {
	struct ns_ent *e;
	size_t n, cap;
};

/* A growable image of a file being assembled for a crash state. */
struct img {
	uint8_t *p;
	uint64_t len, cap;
};

static struct {
	pthread_mutex_t mu;
	bool installed;
	char *dir;
	dev_t dir_dev;
	ino_t dir_ino;
	struct file **files;
	size_t nfiles, files_cap;
	int fd_file[MAX_FDS]; /* file index + 1; 0: not tracked */
	struct ns durable, current;
	struct ns_op *ops; /* name changes since the last directory fsync */
	size_t nops, ops_cap;
	unsigned long points;
	io_crashsim_point_fn hook;
	void *hook_arg;
	struct io_crashsim_stats stats;
	struct io_ops wrap;
} cs = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- small helpers (allocation failure is fatal in a test tool) ---- */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "io_crashsim: out of memory\n");
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xrealloc(NULL, n), s, n);
}

/* arr with room for element n (of size bytes each), capacity in *cap. */
static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? 2 * *cap : 8;
	return xrealloc(arr, *cap * size);
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Read the whole file behind fd into a new buffer. */
static uint8_t *read_all(int fd, uint64_t *len)
{
	struct stat st;
	uint8_t *p;
	uint64_t done = 0;

	if (fstat(fd, &st) < 0)
		abort();
	p = xrealloc(NULL, (size_t)st.st_size);
	while (done < (uint64_t)st.st_size) {
		ssize_t n = pread(fd, p + done, (size_t)st.st_size - done,
				  (off_t)done);
		if (n <= 0)
			abort();
		done += (uint64_t)n;
	}
	*len = done;
	return p;
}

static void img_resize(struct img *m, uint64_t len)
{
	if (len > m->cap) {
		uint64_t cap = m->cap ? m->cap : 4096;
		while (cap < len)
			cap *= 2;
		m->p = xrealloc(m->p, cap);
		m->cap = cap;
	}
	if (len > m->len)
		memset(m->p + m->len, 0, len - m->len);
	m->len = len;
}

static void img_put(struct img *m, uint64_t off, const uint8_t *p, uint64_t len)
{
	if (off + len > m->len)
		img_resize(m, off + len);
	if (len)
		memcpy(m->p + off, p, len);
}

static void img_garble(struct img *m, uint64_t off, uint64_t len, uint64_t *rng)
{
	if (off + len > m->len)
		img_resize(m, off + len);
	for (uint64_t i = 0; i < len; i++)
		m->p[off + i] = (uint8_t)splitmix(rng);
}

/* ---- listings ---- */

static int ns_find(const struct ns *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int ns_get(const struct ns *s, const char *name)
{
	int i = ns_find(s, name);
	return i < 0 ? -1 : s->e[i].file;
}

static void ns_set(struct ns *s, const char *name, int file)
{
	int i = ns_find(s, name);

	if (i >= 0) {
		s->e[i].file = file;
		return;
	}
	s->e = grow(s->e, s->n, &s->cap, sizeof(*s->e));
	s->e[s->n].name = xstrdup(name);
	s->e[s->n].file = file;
	s->n++;
}

static void ns_del(struct ns *s, const char *name)
{
	int i = ns_find(s, name);

	if (i < 0)
		return;
	free(s->e[i].name);
	s->e[i] = s->e[--s->n];
}

static void ns_release(struct ns *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static void ns_copy(struct ns *dst, const struct ns *src)
{
	ns_release(dst);
	for (size_t i = 0; i < src->n; i++)
		ns_set(dst, src->e[i].name, src->e[i].file);
}

static void ns_apply(struct ns *s, const struct ns_op *o)
{
	int f;

	switch (o->kind) {
	case NS_CREATE:
		ns_set(s, o->a, o->file);
		break;
	case NS_RENAME:
		f = ns_get(s, o->a);
		if (f >= 0) {
			ns_del(s, o->a);
			ns_set(s, o->b, f);
		}
		break;
	case NS_UNLINK:
		ns_del(s, o->a);
		break;
	}
}

static void ns_push(enum ns_kind kind, const char *a, const char *b, int file)
{
	struct ns_op *o;

	cs.ops = grow(cs.ops, cs.nops, &cs.ops_cap, sizeof(*cs.ops));
	o = &cs.ops[cs.nops++];
	o->kind = kind;
	o->a = xstrdup(a);
	o->b = b ? xstrdup(b) : NULL;
	o->file = file;
	ns_apply(&cs.current, o);
}

static void ns_ops_clear(void)
{
	for (size_t i = 0; i < cs.nops; i++) {
		free(cs.ops[i].a);
		free(cs.ops[i].b);
	}
	cs.nops = 0;
}

/* ---- files ---- */

static void ops_clear(struct file *f)
{
	for (size_t i = 0; i < f->nops; i++)
		free(f->ops[i].data);
	f->nops = 0;
}

static void file_free(struct file *f)
{
	if (!f)
		return;
	ops_clear(f);
	free(f->ops);
	free(f->dur);
	close(f->rfd);
	free(f);
}

/* Track the inode behind rfd (taken over); durable content empty. */
static int file_new(int rfd)
{
	struct file *f = xrealloc(NULL, sizeof(*f));
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (fstat(rfd, &st) < 0)
		abort();
	f->rfd = rfd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	cs.files = grow(cs.files, cs.nfiles, &cs.files_cap, sizeof(*cs.files));
	cs.files[cs.nfiles] = f;
	return (int)cs.nfiles++;
}

static int file_find(dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < cs.nfiles; i++)
		if (cs.files[i] && cs.files[i]->dev == dev &&
		    cs.files[i]->ino == ino)
			return (int)i;
	return -1;
}

static void file_push(struct file *f, enum op_kind kind, uint64_t off,
		      uint64_t len, const void *data)
{
	struct op *o;

	f->ops = grow(f->ops, f->nops, &f->ops_cap, sizeof(*f->ops));
	o = &f->ops[f->nops++];
	o->kind = kind;
	o->off = off;
	o->len = len;
	o->data = NULL;
	if (data) {
		o->data = xrealloc(NULL, (size_t)len);
		memcpy(o->data, data, (size_t)len);
	}
}

/* Everything the file holds now is durable. */
static void file_commit(struct file *f)
{
	free(f->dur);
	f->dur = read_all(f->rfd, &f->dur_len);
	f->dur_cap = f->dur_len;
	ops_clear(f);
}

/* Bytes [off, off + len) of the file as it is now are durable (msync). */
static void file_commit_range(struct file *f, uint64_t off, uint64_t len)
{
	struct stat st;
	uint64_t end;
	struct img m = { f->dur, f->dur_len, f->dur_cap };
	struct op *keep = NULL;
	size_t nkeep = 0, cap = 0;

	if (fstat(f->rfd, &st) < 0)
		abort();
	end = off + len < (uint64_t)st.st_size ? off + len
					       : (uint64_t)st.st_size;
	if (end <= off)
		return;
	if (end > m.len)
		img_resize(&m, end);
	if (pread(f->rfd, m.p + off, (size_t)(end - off), (off_t)off) !=
	    (ssize_t)(end - off))
		abort();
	f->dur = m.p;
	f->dur_len = m.len;
	f->dur_cap = m.cap;
	/* Cut the synced range out of every pending write. */
	for (size_t i = 0; i < f->nops; i++) {
		struct op o = f->ops[i];
		uint64_t a = o.off, b = o.off + o.len;

		if (o.kind != OP_WRITE || b <= off || a >= end) {
			keep = grow(keep, nkeep, &cap, sizeof(*keep));
			keep[nkeep++] = o;
			continue;
		}
		if (a < off) {
			keep = grow(keep, nkeep, &cap, sizeof(*keep));
			keep[nkeep] = (struct op){ OP_WRITE, a, off - a, NULL };
			keep[nkeep].data = xrealloc(NULL, (size_t)(off - a));
			memcpy(keep[nkeep].data, o.data, (size_t)(off - a));
			nkeep++;
		}
		if (b > end) {
			keep = grow(keep, nkeep, &cap, sizeof(*keep));
			keep[nkeep] =
				(struct op){ OP_WRITE, end, b - end, NULL };
			keep[nkeep].data = xrealloc(NULL, (size_t)(b - end));
			memcpy(keep[nkeep].data, o.data + (end - a),
			       (size_t)(b - end));
			nkeep++;
		}
		free(o.data);
	}
	free(f->ops);
	f->ops = keep;
	f->nops = nkeep;
	f->ops_cap = cap;
}

/* The sizes that f's unsynced truncations and extensions set are durable
 * (3a): applied in order to the durable content, and taken out of the
 * pending changes. */
static void file_commit_size(struct file *f)
{
	struct img m = { f->dur, f->dur_len, f->dur_cap };
	size_t k = 0;

	for (size_t i = 0; i < f->nops; i++) {
		struct op o = f->ops[i];

		if (o.kind == OP_WRITE) {
			f->ops[k++] = o;
			continue;
		}
		if (o.kind == OP_TRUNCATE || o.off > m.len)
			img_resize(&m, o.off);
		if (o.kind != OP_TRUNCATE)
			continue;
		/* what earlier writes put beyond it is gone */
		for (size_t j = 0; j < k; j++) {
			struct op *w = &f->ops[j];

			if (w->off >= o.off)
				w->len = 0;
			else if (w->off + w->len > o.off)
				w->len = o.off - w->off;
		}
	}
	f->nops = k;
	f->dur = m.p;
	f->dur_len = m.len;
	f->dur_cap = m.cap;
}

/* Forget inodes that no listing names, no descriptor holds and no pending
 * name change mentions. */
static void gc(void)
{
	for (size_t i = 0; i < cs.nfiles; i++) {
		bool used = false;

		if (!cs.files[i])
			continue;
		for (size_t j = 0; j < cs.durable.n && !used; j++)
			used = cs.durable.e[j].file == (int)i;
		for (size_t j = 0; j < cs.current.n && !used; j++)
			used = cs.current.e[j].file == (int)i;
		for (size_t j = 0; j < cs.nops && !used; j++)
			used = cs.ops[j].file == (int)i;
		for (int fd = 0; fd < MAX_FDS && !used; fd++)
			used = cs.fd_file[fd] == (int)i + 1;
		if (!used) {
			file_free(cs.files[i]);
			cs.files[i] = NULL;
		}
	}
}

/* ---- which paths are ours ---- */

/* Is path a name directly inside the watched directory?  *name points
 * into path. */
static bool in_dir(const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	char *dir;
	bool yes;

	if (!slash) {
		dir = xstrdup(".");
		*name = path;
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		dir = xrealloc(NULL, n + 1);
		memcpy(dir, path, n);
		dir[n] = '\0';
		*name = slash + 1;
	}
	yes = **name && stat(dir, &st) == 0 && st.st_dev == cs.dir_dev &&
	      st.st_ino == cs.dir_ino;
	free(dir);
	return yes;
}

static struct file *fd_tracked(int fd)
{
	if (fd < 0 || fd >= MAX_FDS || !cs.fd_file[fd])
		return NULL;
	return cs.files[cs.fd_file[fd] - 1];
}

/* ---- the wrapped ops ---- */

static void sync_point(void)
{
	io_crashsim_point_fn fn;
	unsigned long n;
	void *arg;

	pthread_mutex_lock(&cs.mu);
	n = ++cs.points;
	fn = cs.hook;
	arg = cs.hook_arg;
	pthread_mutex_unlock(&cs.mu);
	if (fn)
		fn(arg, n);
}

static void track_open(int fd, const char *path, const char *name, bool existed,
		       int flags)
{
	struct stat st;
	int i;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (fd >= MAX_FDS) {
		fprintf(stderr, "io_crashsim: descriptor %d too high\n", fd);
		abort();
	}
	pthread_mutex_lock(&cs.mu);
	i = file_find(st.st_dev, st.st_ino);
	if (i < 0) {
		int rfd = open(path, O_RDONLY | O_CLOEXEC);

		if (rfd < 0)
			abort();
		i = file_new(rfd);
		if (existed) {
			/* made outside the seam: take it as durable */
			file_commit(cs.files[i]);
			ns_set(&cs.current, name, i);
			if (ns_get(&cs.durable, name) < 0)
				ns_set(&cs.durable, name, i);
		} else {
			ns_push(NS_CREATE, name, NULL, i);
		}
	}
	if ((flags & O_TRUNC) && existed)
		file_push(cs.files[i], OP_TRUNCATE, 0, 0, NULL);
	cs.fd_file[fd] = i + 1;
	pthread_mutex_unlock(&cs.mu);
}

static int w_open(const char *path, int flags, mode_t mode)
{
	const char *name;
	struct stat st;
	bool in = in_dir(path, &name);
	bool existed = in && lstat(path, &st) == 0;
	int fd = io_real_ops()->open(path, flags, mode);

	if (fd >= 0 && in)
		track_open(fd, path, name, existed, flags);
	return fd;
}

static int w_close(int fd)
{
	pthread_mutex_lock(&cs.mu);
	if (fd >= 0 && fd < MAX_FDS)
		cs.fd_file[fd] = 0;
	pthread_mutex_unlock(&cs.mu);
	return io_real_ops()->close(fd);
}

static ssize_t w_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = io_real_ops()->pwrite(fd, buf, len, off);
	struct file *f;

	if (n <= 0)
		return n;
	pthread_mutex_lock(&cs.mu);
	f = fd_tracked(fd);
	if (f)
		file_push(f, OP_WRITE, (uint64_t)off, (uint64_t)n, buf);
	pthread_mutex_unlock(&cs.mu);
	return n;
}

static int w_ftruncate(int fd, off_t len)
{
	int rc = io_real_ops()->ftruncate(fd, len);
	struct file *f;

	if (rc)
		return rc;
	pthread_mutex_lock(&cs.mu);
	f = fd_tracked(fd);
	if (f)
		file_push(f, OP_TRUNCATE, (uint64_t)len, 0, NULL);
	pthread_mutex_unlock(&cs.mu);
	return 0;
}

static int w_fallocate(int fd, off_t off, off_t len)
{
	int rc = io_real_ops()->fallocate(fd, off, len);
	struct file *f;

	if (rc)
		return rc;
	pthread_mutex_lock(&cs.mu);
	f = fd_tracked(fd);
	if (f)
		file_push(f, OP_EXTEND, (uint64_t)(off + len), 0, NULL);
	pthread_mutex_unlock(&cs.mu);
	return 0;
}

static int w_rename(const char *from, const char *to)
{
	const char *a, *b;
	bool in = in_dir(from, &a) && in_dir(to, &b);
	int rc = io_real_ops()->rename(from, to);

	if (rc || !in)
		return rc;
	pthread_mutex_lock(&cs.mu);
	if (ns_get(&cs.current, a) >= 0)
		ns_push(NS_RENAME, a, b, -1);
	pthread_mutex_unlock(&cs.mu);
	return 0;
}

static int w_unlink(const char *path)
{
	const char *name;
	bool in = in_dir(path, &name);
	int rc = io_real_ops()->unlink(path);

	if (rc || !in)
		return rc;
	pthread_mutex_lock(&cs.mu);
	if (ns_get(&cs.current, name) >= 0)
		ns_push(NS_UNLINK, name, NULL, -1);
	pthread_mutex_unlock(&cs.mu);
	return 0;
}

/* A sync of fd succeeded: make what it covers durable. */
static void commit_fd(int fd)
{
	struct stat st;
	struct file *f;
	int i;

	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&cs.mu);
	if (S_ISDIR(st.st_mode)) {
		if (st.st_dev == cs.dir_dev && st.st_ino == cs.dir_ino) {
			ns_copy(&cs.durable, &cs.current);
			ns_ops_clear();
			gc();
		}
	} else {
		f = fd_tracked(fd);
		if (!f && (i = file_find(st.st_dev, st.st_ino)) >= 0)
			f = cs.files[i];
		if (f)
			file_commit(f);
	}
	pthread_mutex_unlock(&cs.mu);
}

static int w_fsync(int fd)
{
	int rc;

	sync_point();
	rc = io_real_ops()->fsync(fd);
	if (!rc)
		commit_fd(fd);
	return rc;
}

static int w_fdatasync(int fd)
{
	int rc;

	sync_point();
	rc = io_real_ops()->fdatasync(fd);
	if (!rc)
		commit_fd(fd);
	return rc;
}

/* A synced write (3a): the write, a sync point, then its bytes and the
 * file's size durable. */
static ssize_t w_pwrite_dsync(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = io_real_ops()->pwrite(fd, buf, len, off);
	struct file *f;

	if (n <= 0)
		return n;
	pthread_mutex_lock(&cs.mu);
	f = fd_tracked(fd);
	if (f)
		file_push(f, OP_WRITE, (uint64_t)off, (uint64_t)n, buf);
	pthread_mutex_unlock(&cs.mu);
	sync_point();
	pthread_mutex_lock(&cs.mu);
	f = fd_tracked(fd);
	if (f) {
		file_commit_range(f, (uint64_t)off, (uint64_t)n);
		file_commit_size(f);
	}
	pthread_mutex_unlock(&cs.mu);
	return n;
}

/* msync(MS_SYNC) of [addr, addr + len) succeeded: find the file mapped
 * there (from /proc/self/maps) and make that range durable. */
static void commit_map(void *addr, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	uintptr_t a = (uintptr_t)addr;
	char line[4096];

	if (!maps)
		abort();
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end, off, ino;
		unsigned maj, min;
		int i;

		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &start, &end,
			   &off, &maj, &min, &ino) != 6)
			continue;
		if (a < start || a >= end)
			continue;
		pthread_mutex_lock(&cs.mu);
		i = file_find(makedev(maj, min), (ino_t)ino);
		if (i >= 0)
			file_commit_range(cs.files[i], off + (a - start), len);
		pthread_mutex_unlock(&cs.mu);
		break;
	}
	fclose(maps);
}

static int w_msync(void *addr, size_t len, int flags)
{
	int rc;

	sync_point();
	rc = io_real_ops()->msync(addr, len, flags);
	if (!rc && (flags & MS_SYNC))
		commit_map(addr, len);
	return rc;
}

/* ---- crash states ---- */

enum fate {
	KEEP,
	DROP,
	GARBLE
};

struct chooser {
	enum io_crash_mode mode;
	uint64_t rng;
	unsigned keep_256; /* RANDOM: chance of keeping, out of 256 */
};

static enum fate choose(struct chooser *c)
{
	if (c->mode == IO_CRASH_ALL_KEPT)
		return KEEP;
	if (c->mode == IO_CRASH_ALL_DROPPED)
		return DROP;
	if ((splitmix(&c->rng) & 255) < c->keep_256)
		return KEEP;
	return (splitmix(&c->rng) & 7) == 0 ? GARBLE : DROP;
}

static void count(enum fate fate)
{
	if (fate == KEEP)
		cs.stats.sectors_kept++;
	else if (fate == DROP)
		cs.stats.sectors_dropped++;
	else
		cs.stats.sectors_garbled++;
}

/* Apply op to m; with c, by its choices, else all of it. */
static void apply_op(struct img *m, const struct op *o, struct chooser *c)
{
	uint64_t a = o->off, end = o->off + o->len;
	bool keep;

	switch (o->kind) {
	case OP_WRITE:
		while (a < end) {
			uint64_t b = (a / SECTOR + 1) * SECTOR;
			enum fate fate = c ? choose(c) : KEEP;

			if (b > end)
				b = end;
			if (fate == KEEP)
				img_put(m, a, o->data + (a - o->off), b - a);
			else if (fate == GARBLE)
				img_garble(m, a, b - a, &c->rng);
			if (c)
				count(fate);
			a = b;
		}
		break;
	case OP_TRUNCATE:
	case OP_EXTEND:
		keep = !c || choose(c) == KEEP;
		if (c && !keep)
			cs.stats.meta_undone++;
		if (keep && (o->kind == OP_TRUNCATE || o->off > m->len))
			img_resize(m, o->off);
		break;
	}
}

/* The content file f could hold after a crash now. */
static void crash_image(struct file *f, struct chooser *c, struct img *out)
{
	struct img all = { 0 };
	uint64_t clen, n;
	uint8_t *cur;

	out->len = 0;
	img_put(out, 0, f->dur, f->dur_len);
	out->len = f->dur_len;
	img_put(&all, 0, f->dur, f->dur_len);
	all.len = f->dur_len;
	for (size_t i = 0; i < f->nops; i++) {
		apply_op(&all, &f->ops[i], NULL);
		apply_op(out, &f->ops[i], c);
	}
	/* Sectors that differ from every seam change: dirtied in a map. */
	cur = read_all(f->rfd, &clen);
	n = clen < all.len ? clen : all.len;
	for (uint64_t a = 0; a < n; a += SECTOR) {
		uint64_t len = n - a < SECTOR ? n - a : SECTOR;
		enum fate fate;

		if (memcmp(cur + a, all.p + a, (size_t)len) == 0)
			continue;
		fate = choose(c);
		count(fate);
		if (fate == KEEP) {
			img_put(out, a, cur + a, len);
		} else if (fate == GARBLE) {
			/* only the bytes the map changed are torn */
			if (a + len > out->len)
				img_resize(out, a + len);
			for (uint64_t i = a; i < a + len; i++)
				if (cur[i] != all.p[i])
					out->p[i] = (uint8_t)splitmix(&c->rng);
		}
	}
	free(cur);
	free(all.p);
}

static int write_file(const char *dir, const char *name, const struct img *m)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = xrealloc(NULL, n);
	uint64_t done = 0;
	int fd, rc = 0;

	snprintf(path, n, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -errno;
	while (done < m->len && !rc) {
		ssize_t k = write(fd, m->p + done, (size_t)(m->len - done));
		if (k <= 0)
			rc = k < 0 ? -errno : -EIO;
		else
			done += (uint64_t)k;
	}
	close(fd);
	return rc;
}

int io_crashsim_write_state(const char *out_dir, enum io_crash_mode mode,
			    uint64_t seed)
{
	struct chooser c = { mode, seed ^ 0x5DEECE66Dull, 128 };
	struct ns ns = { 0 };
	struct img m = { 0 };
	size_t k;
	int rc = 0;

	if (mkdir(out_dir, 0755) < 0)
		return -errno;
	pthread_mutex_lock(&cs.mu);
	if (mode == IO_CRASH_RANDOM)
		c.keep_256 = 16 + (unsigned)(splitmix(&c.rng) % 225);
	ns_copy(&ns, &cs.durable);
	k = mode == IO_CRASH_ALL_KEPT ? cs.nops
	    : mode == IO_CRASH_ALL_DROPPED
		    ? 0
		    : (size_t)(splitmix(&c.rng) % (cs.nops + 1));
	for (size_t i = 0; i < k; i++)
		ns_apply(&ns, &cs.ops[i]);
	cs.stats.names_undone += cs.nops - k;
	for (size_t i = 0; i < ns.n && !rc; i++) {
		crash_image(cs.files[ns.e[i].file], &c, &m);
		rc = write_file(out_dir, ns.e[i].name, &m);
	}
	cs.stats.states++;
	pthread_mutex_unlock(&cs.mu);
	ns_release(&ns);
	free(m.p);
	return rc;
}

/* ---- install ---- */

static void forget_all(void)
{
	for (size_t i = 0; i < cs.nfiles; i++)
		file_free(cs.files[i]);
	free(cs.files);
	cs.files = NULL;
	cs.nfiles = cs.files_cap = 0;
	ns_release(&cs.durable);
	ns_release(&cs.current);
	ns_ops_clear();
	free(cs.ops);
	cs.ops = NULL;
	cs.ops_cap = 0;
	free(cs.dir);
	cs.dir = NULL;
	memset(cs.fd_file, 0, sizeof(cs.fd_file));
}

static int scan(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		size_t n = strlen(dir) + strlen(e->d_name) + 2;
		char *path = xrealloc(NULL, n);
		struct stat st;
		int rfd, i;

		snprintf(path, n, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rfd = open(path, O_RDONLY | O_CLOEXEC);
			if (rfd < 0)
				abort();
			i = file_new(rfd);
			file_commit(cs.files[i]);
			ns_set(&cs.durable, e->d_name, i);
			ns_set(&cs.current, e->d_name, i);
		}
		free(path);
	}
	closedir(d);
	return 0;
}

int io_crashsim_install(const char *dir)
{
	struct stat st;
	int rc;

	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	io_set_ops(NULL);
	pthread_mutex_lock(&cs.mu);
	forget_all();
	cs.dir = xstrdup(dir);
	cs.dir_dev = st.st_dev;
	cs.dir_ino = st.st_ino;
	cs.points = 0;
	memset(&cs.stats, 0, sizeof(cs.stats));
	rc = scan(dir);
	cs.wrap = *io_real_ops();
	cs.wrap.open = w_open;
	cs.wrap.close = w_close;
	cs.wrap.pwrite = w_pwrite;
	cs.wrap.fsync = w_fsync;
	cs.wrap.fdatasync = w_fdatasync;
	cs.wrap.msync = w_msync;
	cs.wrap.rename = w_rename;
	cs.wrap.unlink = w_unlink;
	cs.wrap.fallocate = w_fallocate;
	cs.wrap.ftruncate = w_ftruncate;
	cs.wrap.pwrite_dsync = w_pwrite_dsync;
	cs.installed = rc == 0;
	pthread_mutex_unlock(&cs.mu);
	if (rc)
		return rc;
	io_set_ops(&cs.wrap);
	return 0;
}

void io_crashsim_uninstall(void)
{
	io_set_ops(NULL);
	pthread_mutex_lock(&cs.mu);
	forget_all();
	cs.installed = false;
	cs.hook = NULL;
	cs.hook_arg = NULL;
	pthread_mutex_unlock(&cs.mu);
}

void io_crashsim_set_hook(io_crashsim_point_fn fn, void *arg)
{
	pthread_mutex_lock(&cs.mu);
	cs.hook = fn;
	cs.hook_arg = arg;
	pthread_mutex_unlock(&cs.mu);
}

unsigned long io_crashsim_points(void)
{
	unsigned long n;

	pthread_mutex_lock(&cs.mu);
	n = cs.points;
	pthread_mutex_unlock(&cs.mu);
	return n;
}

void io_crashsim_stats(struct io_crashsim_stats *out)
{
	pthread_mutex_lock(&cs.mu);
	*out = cs.stats;
	pthread_mutex_unlock(&cs.mu);
}
