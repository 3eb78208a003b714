/*
 * dir.c - the dir: target: objects as files in a local or network
 * directory.
 *
 * Layout: ROOT/<space>/<key>, each name as its segment (target.h: the
 * percent-encoding, hashed when longer than 200 bytes).  Every object
 * file's header holds the real names, so a listing reads a hashed key's
 * name from its file and a hashed space's name from any object in it.
 * Segments never start with '#', so "#tmp.*" temporaries are ours.
 *
 * Object file (version 1), integers little-endian:
 *
 *   offset  size  field
 *   0       4     magic "CVDO"
 *   4       2     version (1)
 *   6       2     header length H = 32 + S + K
 *   8       8     sequence number
 *   16      8     body length (must be the file size - H)
 *   24      2     space name length S
 *   26      2     key length K
 *   28      S+K   space name, key (raw bytes)
 *   28+S+K  4     CRC-32C of the header bytes before it
 *   H       ...   body
 *
 * The body is not checksummed here: archives carry their own CRC.  A
 * header that fails any check is -EBADMSG (logged).
 *
 * Durability ordering of a put: write header and body to a new
 * "#tmp.<pid>.<n>" file in the space directory, fsync it, rename it over
 * the object, fsync the space directory.  The rename is the commit: a
 * reader or a crash sees the old object or the new one, never a torn
 * one.  A new space directory is fsynced into ROOT before use.  A delete
 * unlinks, fsyncs the directory, and removes the space directory when it
 * became empty (a racing put re-creates it), so a space is listed while
 * it holds objects, as in S3.  Leftover "#tmp.*" files of a crash are
 * ignored by listings.
 */
#include "config.h"

#include "cloud/target_internal.h"

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/io.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OBJ_MAGIC "CVDO"
#define OBJ_VERSION 1
#define OBJ_FIXED 28
#define OBJ_HDR_MAX (OBJ_FIXED + 2 * CLOUD_NAME_MAX + 4)

/* A listing between two pages: the directory's names collected and
 * sorted once, and where the next page starts (see dir_list). */
struct dir_cursor {
	char *dir;
	struct listed *v;
	size_t n, i;
};

struct dir_target {
	struct cloud_target base;
	char *root;
	uint32_t page_keys;
	size_t max_object_bytes;
	pthread_mutex_t cursor_lock; /* guards cursor */
	struct dir_cursor cursor; /* dir NULL: none */
};

static atomic_ulong tmp_counter;

static struct dir_target *dir_of(struct cloud_target *t)
{
	return (struct dir_target *)t;
}

struct obj_paths {
	char seg_space[CLOUD_SEG_MAX + 1], seg_key[CLOUD_SEG_MAX + 1];
	char dir[PATH_MAX];
	char file[PATH_MAX];
};

static int paths_of(struct dir_target *d, const char *space, const char *key,
		    struct obj_paths *p)
{
	int rc = cloud_name_segment(space, p->seg_space);

	p->seg_key[0] = '\0';
	if (!rc && key)
		rc = cloud_name_segment(key, p->seg_key);
	if (rc)
		return rc;
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", d->root,
			     p->seg_space) >= sizeof(p->dir))
		return -ENAMETOOLONG;
	if (!key)
		return 0;
	if ((size_t)snprintf(p->file, sizeof(p->file), "%s/%s", p->dir,
			     p->seg_key) >= sizeof(p->file))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- object header ---- */

static size_t header_encode(uint8_t *h, uint64_t seq, uint64_t body_len,
			    const char *space, const char *key)
{
	size_t sl = strlen(space), kl = strlen(key);
	size_t hl = OBJ_FIXED + sl + kl + 4;

	memcpy(h, OBJ_MAGIC, 4);
	le16_put(h + 4, OBJ_VERSION);
	le16_put(h + 6, (uint16_t)hl);
	le64_put(h + 8, seq);
	le64_put(h + 16, body_len);
	le16_put(h + 24, (uint16_t)sl);
	le16_put(h + 26, (uint16_t)kl);
	memcpy(h + OBJ_FIXED, space, sl);
	memcpy(h + OBJ_FIXED + sl, key, kl);
	le32_put(h + hl - 4, crc32c(h, hl - 4));
	return hl;
}

struct obj_header {
	uint64_t seq;
	uint64_t body_len;
	size_t header_len;
	char space[CLOUD_NAME_MAX + 1];
	char key[CLOUD_NAME_MAX + 1];
};

/* Read and check the header of an open object file of size bytes. */
static int header_read(int fd, uint64_t size, struct obj_header *oh)
{
	uint8_t h[OBJ_HDR_MAX];
	size_t hl, sl, kl;

	if (size < OBJ_FIXED + 4)
		return -EBADMSG;
	if (io_pread_all(fd, h, OBJ_FIXED, 0))
		return -EIO;
	hl = le16_get(h + 6);
	sl = le16_get(h + 24);
	kl = le16_get(h + 26);
	if (memcmp(h, OBJ_MAGIC, 4) != 0 || le16_get(h + 4) != OBJ_VERSION ||
	    sl < 1 || sl > CLOUD_NAME_MAX || kl < 1 || kl > CLOUD_NAME_MAX ||
	    hl != OBJ_FIXED + sl + kl + 4 || hl > size)
		return -EBADMSG;
	if (io_pread_all(fd, h + OBJ_FIXED, hl - OBJ_FIXED, OBJ_FIXED))
		return -EIO;
	if (le32_get(h + hl - 4) != crc32c(h, hl - 4))
		return -EBADMSG;
	oh->seq = le64_get(h + 8);
	oh->body_len = le64_get(h + 16);
	oh->header_len = hl;
	if (oh->body_len != size - hl)
		return -EBADMSG;
	memcpy(oh->space, h + OBJ_FIXED, sl);
	oh->space[sl] = '\0';
	memcpy(oh->key, h + OBJ_FIXED + sl, kl);
	oh->key[kl] = '\0';
	if (!cloud_name_valid(oh->space) || !cloud_name_valid(oh->key) ||
	    strlen(oh->space) != sl || strlen(oh->key) != kl)
		return -EBADMSG;
	return 0;
}

/* Open (space, key) and read its header; -ENOENT when absent or when the
 * file holds another name (a long-name hash collision). */
static int obj_open(struct dir_target *d, const char *space, const char *key,
		    struct obj_paths *p, struct obj_header *oh, int *fdp)
{
	struct stat st;
	int fd, rc;

	rc = paths_of(d, space, key, p);
	if (rc)
		return rc;
	fd = io_open(p->file, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	rc = header_read(fd, (uint64_t)st.st_size, oh);
	if (rc == -EBADMSG)
		log_error("cannot read '%s/%s/%s': malformed object file",
			  d->base.url, p->seg_space, p->seg_key);
	if (!rc && (strcmp(oh->space, space) || strcmp(oh->key, key)))
		rc = -ENOENT;
	if (rc)
		goto out_close;
	*fdp = fd;
	return 0;
out_close:
	io_close(fd);
	return rc;
}

static int dir_get(struct cloud_target *t, const char *space, const char *key,
		   void **buf, size_t *len, uint64_t *seq)
{
	struct dir_target *d = dir_of(t);
	struct obj_paths p;
	struct obj_header oh;
	char *body;
	int fd, rc;

	rc = obj_open(d, space, key, &p, &oh, &fd);
	if (rc)
		goto out_log;
	if (oh.body_len > d->max_object_bytes) {
		rc = -EFBIG;
		goto out_close;
	}
	body = malloc((size_t)oh.body_len + 1);
	if (!body) {
		rc = -ENOMEM;
		goto out_close;
	}
	rc = io_pread_all(fd, body, (size_t)oh.body_len, (off_t)oh.header_len);
	if (rc) {
		free(body);
		goto out_close;
	}
	body[oh.body_len] = '\0';
	io_close(fd);
	*buf = body;
	*len = (size_t)oh.body_len;
	*seq = oh.seq;
	return 0;
out_close:
	io_close(fd);
out_log:
	if (rc != -ENOENT && rc != -EBADMSG)
		log_error("cannot get '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_head(struct cloud_target *t, const char *space, const char *key,
		    struct cloud_object_info *info)
{
	struct dir_target *d = dir_of(t);
	struct obj_paths p;
	struct obj_header oh;
	int fd, rc;

	rc = obj_open(d, space, key, &p, &oh, &fd);
	if (rc) {
		if (rc != -ENOENT && rc != -EBADMSG)
			log_error("cannot head '%s/%s/%s': %s", t->url,
				  p.seg_space, p.seg_key, strerror(-rc));
		return rc;
	}
	io_close(fd);
	info->seq = oh.seq;
	info->size_bytes = oh.body_len;
	return 0;
}

/* ---- writing ---- */

/* Write buf to a new temporary file in dir, fsync it, rename it to
 * final, fsync dir.  Removes the temporary on failure. */
static int write_atomic(const char *dir, const char *final, const void *hdr,
			size_t hl, const void *body, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/#tmp.%ld.%lu", dir,
			     (long)getpid(),
			     atomic_fetch_add(&tmp_counter, 1)) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = io_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	rc = io_pwrite_all(fd, hdr, hl, 0);
	if (!rc && len)
		rc = io_pwrite_all(fd, body, len, (off_t)hl);
	if (!rc)
		rc = io_fsync(fd);
	io_close(fd);
	if (!rc)
		rc = io_rename(tmp, final);
	if (rc) {
		io_unlink(tmp);
		return rc;
	}
	return io_fsync_dir(dir);
}

/* Make sure the space directory exists and is durable in ROOT. */
static int space_dir(struct dir_target *d, const struct obj_paths *p)
{
	if (mkdir(p->dir, 0755) != 0)
		return errno == EEXIST ? 0 : -errno;
	return io_fsync_dir(d->root);
}

static int dir_put(struct cloud_target *t, const char *space, const char *key,
		   const void *buf, size_t len, uint64_t seq)
{
	struct dir_target *d = dir_of(t);
	uint8_t hdr[OBJ_HDR_MAX];
	struct obj_paths p;
	size_t hl;
	int rc;

	rc = paths_of(d, space, key, &p);
	if (rc)
		goto out_log;
	hl = header_encode(hdr, seq, len, space, key);
	/* A concurrent delete may remove an empty space directory between
	 * our mkdir and our create: make it again. */
	for (int tries = 0; tries < 5; tries++) {
		rc = space_dir(d, &p);
		if (!rc)
			rc = write_atomic(p.dir, p.file, hdr, hl, buf, len);
		if (rc != -ENOENT)
			break;
	}
out_log:
	if (rc)
		log_error("cannot put '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_del(struct cloud_target *t, const char *space, const char *key)
{
	struct dir_target *d = dir_of(t);
	struct obj_paths p;
	int rc;

	rc = paths_of(d, space, key, &p);
	if (!rc)
		rc = io_unlink(p.file);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = io_fsync_dir(p.dir);
	if (rc) {
		log_error("cannot delete '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
		return rc;
	}
	if (rmdir(p.dir) == 0)
		io_fsync_dir(d->root);
	return 0;
}

/* ---- listing ---- */

struct listed {
	char seg[CLOUD_SEG_MAX + 1];
	char name[CLOUD_NAME_MAX + 1];
};

static int listed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->seg,
		      ((const struct listed *)b)->seg);
}

static bool is_kind(const char *dir, struct dirent *e, bool want_dir)
{
	char path[PATH_MAX];
	struct stat st;

	if (e->d_type == DT_DIR)
		return want_dir;
	if (e->d_type == DT_REG)
		return !want_dir;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    sizeof(path) ||
	    lstat(path, &st) != 0)
		return false;
	return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

static bool ours(const char *name)
{
	return name[0] != '#' && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) <= CLOUD_SEG_MAX;
}

/* The header of the object file dir/name. */
static int header_of(const char *dir, const char *name, struct obj_header *oh)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = io_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) != 0 ? -errno
				 : header_read(fd, (uint64_t)st.st_size, oh);
	io_close(fd);
	return rc;
}

/* The space name of a hashed space directory: from any object in it. */
static int space_name_of(const char *root, const char *seg,
			 char out[CLOUD_NAME_MAX + 1])
{
	char dir[PATH_MAX];
	struct obj_header oh;
	struct dirent *e;
	DIR *dh;
	int rc = -ENOENT;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", root, seg) >=
	    sizeof(dir))
		return -ENAMETOOLONG;
	dh = opendir(dir);
	if (!dh)
		return -errno;
	while (rc && (e = readdir(dh))) {
		if (!ours(e->d_name) || !is_kind(dir, e, false))
			continue;
		rc = header_of(dir, e->d_name, &oh);
	}
	closedir(dh);
	if (!rc)
		snprintf(out, CLOUD_NAME_MAX + 1, "%s", oh.space);
	return rc;
}

/* The name behind a segment listed in dir. */
static int name_of(const char *dir, const char *seg, bool spaces,
		   char out[CLOUD_NAME_MAX + 1])
{
	struct obj_header oh;
	int rc;

	if (!cloud_segment_hashed(seg, strlen(seg)))
		return cloud_name_decode(seg, strlen(seg), out);
	if (spaces)
		return space_name_of(dir, seg, out);
	rc = header_of(dir, seg, &oh);
	if (!rc)
		snprintf(out, CLOUD_NAME_MAX + 1, "%s", oh.key);
	return rc;
}

/* Read dir and collect the names of its objects (or spaces). */
static int collect(const char *dir, bool spaces, struct listed **out,
		   size_t *n_out)
{
	struct listed *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dh = opendir(dir);

	*out = NULL;
	*n_out = 0;
	if (!dh)
		return errno == ENOENT && !spaces ? 0 : -errno;
	while ((e = readdir(dh))) {
		struct listed *l;

		if (!ours(e->d_name) || !is_kind(dir, e, spaces))
			continue;
		if (n == cap) {
			struct listed *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(dh);
				return -ENOMEM;
			}
			v = nv;
		}
		l = &v[n];
		/* ours() checked the length. */
		memcpy(l->seg, e->d_name, strlen(e->d_name) + 1);
		if (name_of(dir, l->seg, spaces, l->name))
			continue; /* not ours, or an empty space */
		n++;
	}
	closedir(dh);
	if (n)
		qsort(v, n, sizeof(*v), listed_cmp);
	*out = v;
	*n_out = n;
	return 0;
}

static void cursor_free(struct dir_cursor *c)
{
	free(c->dir);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Take the cursor that continues a listing of dir after token, if it is
 * the one kept. */
static bool cursor_take(struct dir_target *d, const char *dir,
			const char *token, struct dir_cursor *out)
{
	struct dir_cursor *c = &d->cursor;
	bool hit;

	pthread_mutex_lock(&d->cursor_lock);
	hit = token && c->dir && c->i > 0 && c->i < c->n &&
	      !strcmp(c->dir, dir) && !strcmp(c->v[c->i - 1].seg, token);
	if (hit) {
		*out = *c;
		memset(c, 0, sizeof(*c));
	}
	pthread_mutex_unlock(&d->cursor_lock);
	return hit;
}

/* Keep c for the next page (replacing any other), or free it. */
static void cursor_keep(struct dir_target *d, struct dir_cursor *c)
{
	struct dir_cursor old;

	pthread_mutex_lock(&d->cursor_lock);
	old = d->cursor;
	d->cursor = *c;
	pthread_mutex_unlock(&d->cursor_lock);
	cursor_free(&old);
}

/* A page of the names of a directory.  The first page collects and sorts
 * the whole directory; the rest of the listing is kept in the target's
 * cursor, so the page that continues it (token: the last segment sent)
 * costs only its names, not another read and sort of the directory: a
 * listing of n names is O(n log n), not O(n^2 / page).  A continuation
 * that is not the kept one (another listing came between) collects
 * again and starts after token, as before. */
static int dir_list(struct cloud_target *t, const char *space,
		    const char *token, char **next, cloud_name_fn fn, void *arg)
{
	struct dir_target *d = dir_of(t);
	struct dir_cursor c = { NULL, NULL, 0, 0 };
	struct obj_paths p;
	const char *dir = d->root;
	size_t sent = 0;
	int rc;

	if (space) {
		rc = paths_of(d, space, NULL, &p);
		if (rc)
			return rc;
		dir = p.dir;
	}
	if (!cursor_take(d, dir, token, &c)) {
		rc = collect(dir, space == NULL, &c.v, &c.n);
		if (rc) {
			log_error("cannot list '%s': %s", t->url,
				  strerror(-rc));
			return rc;
		}
		while (token && c.i < c.n && strcmp(c.v[c.i].seg, token) <= 0)
			c.i++;
	}
	rc = 0;
	for (; !rc && c.i < c.n && sent < d->page_keys; c.i++, sent++)
		rc = fn(arg, c.v[c.i].name);
	if (!rc && c.i < c.n) {
		*next = strdup(c.v[c.i - 1].seg);
		if (*next && !c.dir)
			c.dir = strdup(dir);
		rc = *next && c.dir ? 0 : -ENOMEM;
		if (rc) {
			free(*next);
			*next = NULL;
		}
	}
	if (!rc && c.i < c.n)
		cursor_keep(d, &c);
	else
		cursor_free(&c);
	return rc;
}

static void dir_destroy(struct cloud_target *t)
{
	struct dir_target *d = dir_of(t);

	cloud_target_base_release(t);
	cursor_free(&d->cursor);
	pthread_mutex_destroy(&d->cursor_lock);
	free(d->root);
	free(d);
}

static const struct cloud_target_ops dir_ops = {
	.put = dir_put,
	.get = dir_get,
	.head = dir_head,
	.del = dir_del,
	.list = dir_list,
	.destroy = dir_destroy,
};

int cloud_dir_open(const char *path, const struct cloud_options *o,
		   const char *url, struct cloud_target **out)
{
	struct dir_target *d;
	size_t n = strlen(path);
	int rc;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0 || n >= PATH_MAX - 2 * CLOUD_SEG_MAX - 32) {
		log_error("invalid cloud url '%s': bad directory", url);
		return -EINVAL;
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cannot create cloud directory '%s': %s", path,
			  strerror(errno));
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->root = strndup(path, n);
	if (!d->root) {
		free(d);
		return -ENOMEM;
	}
	d->page_keys = o->list_page_keys ? o->list_page_keys : 1000;
	d->max_object_bytes = o->max_object_bytes;
	pthread_mutex_init(&d->cursor_lock, NULL);
	rc = cloud_target_base_init(&d->base, &dir_ops, url, o);
	if (rc) {
		pthread_mutex_destroy(&d->cursor_lock);
		free(d->root);
		free(d);
		return rc;
	}
	*out = &d->base;
	return 0;
}
