/*
 * dir.c - the dir: target: objects as files in a local or network
 * directory.
 *
 * Layout: ROOT/<space>/<key>, each name as its segment (target.h: the
 * percent-encoding, hashed when longer than 200 bytes).  A document
 * (put_doc) is two files: ROOT/<space>/<key> holds its JSON and nothing
 * else (`cat` prints it), and the sidecar ROOT/<space>/.caravan-meta.<key>
 * its metadata and the real names (format in docmeta.c).  An opaque
 * object (put: the store's own, and the documents of older builds) is one
 * file with the header below.  Either way the real names are beside the
 * object, so a listing reads a hashed key's name from its header or
 * sidecar and a hashed space's name from any object in it.  Segments
 * never start with '#', so "#tmp.*" temporaries are ours, and never with
 * ".caravan-meta." (a reserved name), so sidecars are ours; listings skip
 * both.  A file starting with "CVDO" is an opaque object (no JSON text
 * starts with 'C'): get_doc returns it as legacy.
 *
 * Documents: the sidecar is written (temporary, fsync, rename) before
 * the body (the same, then the directory's fsync), and carries the
 * body's length and SHA-256; a reader that finds the pair not matching
 * reads it once more, then gives -EBADMSG with a log line (read_doc).  A
 * delete removes the body, then the sidecar.
 *
 * Opaque object file (version 1), integers little-endian:
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
 * The body is not checksummed here: archives and the store's objects
 * carry their own checks.  A
 * header that fails any check is -EBADMSG (logged).  A body longer than
 * max_object_bytes is -EFBIG, found from the header before anything of
 * the body is read.
 *
 * Confinement: each operation opens the root by its path (ROOT itself may
 * be a symlink the admin chose, or a mount point that changes: an
 * operation sees the directory there now) and every path below it
 * relative to a directory fd with O_NOFOLLOW (openat, mkdirat, renameat, unlinkat,
 * fstatat with AT_SYMLINK_NOFOLLOW), one component at a time.  A space
 * that is not a real directory or an object that is not a regular file
 * (a symlink, a FIFO, a device) is refused with -ELOOP and a log line,
 * and listings skip it (logged too): nothing outside ROOT is ever read,
 * written, listed or removed, whatever the target's directory holds.
 * Objects are opened O_NONBLOCK (a FIFO never blocks us) and checked
 * with fstat after the open.
 *
 * Modes: ROOT and space directories are created 0700 and object files
 * 0600 (cloud copies are as private as the store).  An existing ROOT
 * keeps the mode its admin gave it, looser or not.
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

#include "cloud/docmeta.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/grow.h"
#include "util/io.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

/* A listing between two pages: the names of a directory collected and
 * sorted once, and where the next page starts (see dir_list).  dir names
 * the listing: the space's segment, or "/" for the spaces (no segment
 * holds a '/').  The strings live in one arena, v points into it. */
struct dir_cursor {
	char *dir;
	char *arena;
	struct listed *v;
	size_t n, i;
};

#define DIR_MODE 0700
#define OBJ_MODE 0600

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

/* The root directory, opened now (closed by the caller); -errno. */
static int root_open(struct dir_target *d)
{
	int fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

struct obj_paths {
	char seg_space[CLOUD_SEG_MAX + 1], seg_key[CLOUD_SEG_MAX + 1];
};

static int paths_of(const char *space, const char *key, struct obj_paths *p)
{
	int rc = cloud_name_segment(space, p->seg_space);

	p->seg_key[0] = '\0';
	if (!rc && key)
		rc = cloud_name_segment(key, p->seg_key);
	return rc;
}

/* ---- confinement ---- */

static void log_refused(struct dir_target *d, const char *space_seg,
			const char *seg, const char *what)
{
	log_error("refusing '%s/%s%s%s': %s", d->base.url, space_seg,
		  seg ? "/" : "", seg ? seg : "", what);
}

/* Open the directory name in dir_fd without following a symlink.
 * -ENOENT when absent; -ELOOP (logged) when it is not a directory. */
static int dir_openat(struct dir_target *d, int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ELOOP || errno == ENOTDIR) {
		log_refused(d, name, NULL, "not a directory");
		return -ELOOP;
	}
	return -errno;
}

/* Open the regular file name in dir_fd for reading, without following a
 * symlink or blocking on a FIFO.  -ELOOP (logged) for anything but a
 * regular file. */
static int obj_openat(struct dir_target *d, int dir_fd, const char *space_seg,
		      const char *name, struct stat *st)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno != ELOOP)
		return -errno;
	if (fd >= 0 && fstat(fd, st) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (fd < 0 || !S_ISREG(st->st_mode)) {
		if (fd >= 0)
			close(fd);
		log_refused(d, space_seg, name, "not a regular file");
		return -ELOOP;
	}
	return fd;
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
	int rfd, sfd, fd, rc;

	rc = paths_of(space, key, p);
	if (rc)
		return rc;
	rfd = root_open(d);
	if (rfd < 0)
		return rfd;
	sfd = dir_openat(d, rfd, p->seg_space);
	close(rfd);
	if (sfd < 0)
		return sfd;
	fd = obj_openat(d, sfd, p->seg_space, p->seg_key, &st);
	close(sfd);
	if (fd < 0)
		return fd;
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
		log_error("cannot get '%s/%s/%s': object of %" PRIu64
			  " bytes, larger than the %zu allowed",
			  t->url, p.seg_space, p.seg_key, oh.body_len,
			  d->max_object_bytes);
		io_close(fd);
		return -EFBIG;
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
	if (rc != -ENOENT && rc != -EBADMSG && rc != -ELOOP)
		log_error("cannot get '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_head_doc(struct cloud_target *t, const char *space,
			const char *key, struct cloud_doc_meta *meta,
			uint64_t *size);

/* An opaque object's header, or a document's sidecar. */
static int dir_head(struct cloud_target *t, const char *space, const char *key,
		    struct cloud_object_info *info)
{
	struct cloud_doc_meta m;
	int rc = dir_head_doc(t, space, key, &m, &info->size_bytes);

	if (!rc)
		info->seq = m.seq;
	return rc;
}

/* ---- writing ---- */

/* Write hdr and body to a new temporary file in the directory sfd, fsync
 * it, rename it to final (exclusive: link it there, -EEXIST when final
 * exists), fsync the directory.  Removes the temporary on failure. */
static int write_new(int sfd, const char *final, const void *hdr, size_t hl,
		     const void *body, size_t len, bool sync_dir,
		     bool exclusive)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "#tmp.%ld.%lu", (long)getpid(),
		 atomic_fetch_add(&tmp_counter, 1));
	fd = openat(sfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    OBJ_MODE);
	if (fd < 0)
		return -errno;
	rc = hl ? io_pwrite_all(fd, hdr, hl, 0) : 0;
	if (!rc && len)
		rc = io_pwrite_all(fd, body, len, (off_t)hl);
	if (!rc)
		rc = io_fsync(fd);
	io_close(fd);
	if (!rc && exclusive) {
		rc = linkat(sfd, tmp, sfd, final, 0) == 0 ? 0 : -errno;
		unlinkat(sfd, tmp, 0);
		if (rc)
			return rc;
	} else if (!rc) {
		rc = io_renameat(sfd, tmp, sfd, final);
	}
	if (rc) {
		unlinkat(sfd, tmp, 0);
		return rc;
	}
	return sync_dir ? io_fsync(sfd) : 0;
}

static int write_atomic(int sfd, const char *final, const void *hdr, size_t hl,
			const void *body, size_t len, bool sync_dir)
{
	return write_new(sfd, final, hdr, hl, body, len, sync_dir, false);
}

/* Open the space directory, creating it (durably in ROOT) when missing. */
static int space_dir(struct dir_target *d, const struct obj_paths *p)
{
	int rfd = root_open(d), rc = 0;

	if (rfd < 0)
		return rfd;
	if (mkdirat(rfd, p->seg_space, DIR_MODE) == 0)
		rc = io_fsync(rfd);
	else if (errno != EEXIST)
		rc = -errno;
	if (!rc)
		rc = dir_openat(d, rfd, p->seg_space);
	close(rfd);
	return rc;
}

/* Whether an existing entry name of the directory dir_fd may be replaced
 * or removed: absent or a regular file.  -ELOOP (logged) otherwise. */
static int replaceable(struct dir_target *d, int dir_fd, const char *space_seg,
		       const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	log_refused(d, space_seg, name, "not a regular file");
	return -ELOOP;
}

/* Open the space directory of p (made when missing) and check that p's
 * object there is ours to replace: 0 with *sfd open (the caller closes
 * it), or -errno with nothing open. */
static int open_replaceable(struct dir_target *d, const struct obj_paths *p,
			    int *sfd)
{
	int rc;

	*sfd = space_dir(d, p);
	if (*sfd < 0)
		return *sfd;
	rc = replaceable(d, *sfd, p->seg_space, p->seg_key);
	if (rc)
		close(*sfd);
	return rc;
}

static int put_opaque(struct cloud_target *t, const char *space,
		      const char *key, const void *buf, size_t len,
		      uint64_t seq, bool exclusive)
{
	struct dir_target *d = dir_of(t);
	uint8_t hdr[OBJ_HDR_MAX];
	struct obj_paths p;
	size_t hl;
	int rc, sfd;

	rc = paths_of(space, key, &p);
	if (rc)
		goto out_log;
	hl = header_encode(hdr, seq, len, space, key);
	/* A concurrent delete may remove an empty space directory between
	 * our mkdir and our create: make it again. */
	for (int tries = 0; tries < 5; tries++) {
		rc = open_replaceable(d, &p, &sfd);
		if (!rc) {
			rc = write_new(sfd, p.seg_key, hdr, hl, buf, len, true,
				       exclusive);
			close(sfd);
		}
		if (rc != -ENOENT)
			break;
	}
out_log:
	if (rc && rc != -ELOOP && !(exclusive && rc == -EEXIST))
		log_error("cannot put '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_put(struct cloud_target *t, const char *space, const char *key,
		   const void *buf, size_t len, uint64_t seq)
{
	return put_opaque(t, space, key, buf, len, seq, false);
}

static int dir_put_new(struct cloud_target *t, const char *space,
		       const char *key, const void *buf, size_t len,
		       uint64_t seq)
{
	return put_opaque(t, space, key, buf, len, seq, true);
}

/* ---- documents: body file and sidecar ---- */

/* ".caravan-meta.<key segment>" */
static void sidecar_name(const struct obj_paths *p,
			 char out[64 + CLOUD_SEG_MAX])
{
	snprintf(out, 64 + CLOUD_SEG_MAX, "%s%s", DOCMETA_SIDECAR_PREFIX,
		 p->seg_key);
}

static bool is_legacy_file(int fd, uint64_t size)
{
	char magic[4];

	return size >= 4 && !io_pread_all(fd, magic, 4, 0) &&
	       !memcmp(magic, OBJ_MAGIC, 4);
}

/* A legacy object file (the header of version 1, then an archive). */
static int read_legacy(struct dir_target *d, int fd, uint64_t fsize,
		       const struct obj_paths *p, const char *space,
		       const char *key, void **body, size_t *len,
		       struct cloud_doc_meta *m, uint64_t *size)
{
	struct obj_header oh;
	char *b;
	int rc = header_read(fd, fsize, &oh);

	if (rc == -EBADMSG)
		log_error("cannot read '%s/%s/%s': malformed object file",
			  d->base.url, p->seg_space, p->seg_key);
	if (!rc && (strcmp(oh.space, space) || strcmp(oh.key, key)))
		rc = -ENOENT;
	if (rc)
		return rc;
	m->legacy = true;
	m->seq = oh.seq;
	*size = oh.body_len;
	if (!body)
		return 0;
	if (oh.body_len > d->max_object_bytes)
		return -EFBIG;
	b = malloc((size_t)oh.body_len + 1);
	if (!b)
		return -ENOMEM;
	rc = io_pread_all(fd, b, (size_t)oh.body_len, (off_t)oh.header_len);
	if (rc) {
		free(b);
		return rc;
	}
	b[oh.body_len] = '\0';
	*body = b;
	*len = (size_t)oh.body_len;
	return 0;
}

/* The sidecar of the object p in the space directory sfd: -EAGAIN when
 * it is missing (a torn pair, or a delete in progress). */
static int read_sidecar(struct dir_target *d, int sfd,
			const struct obj_paths *p, struct cloud_doc_meta *m,
			uint64_t *body_len, char *space, char *key)
{
	char side[64 + CLOUD_SEG_MAX];
	uint8_t buf[DOCMETA_SIDECAR_MAX];
	struct stat st;
	int fd, rc;

	sidecar_name(p, side);
	fd = obj_openat(d, sfd, p->seg_space, side, &st);
	if (fd == -ENOENT)
		return -EAGAIN;
	if (fd < 0)
		return fd;
	if (st.st_size < 1 || (uint64_t)st.st_size > DOCMETA_SIDECAR_MAX)
		rc = -EBADMSG;
	else
		rc = io_pread_all(fd, buf, (size_t)st.st_size, 0);
	io_close(fd);
	if (!rc)
		rc = docmeta_sidecar_decode(buf, (size_t)st.st_size, m,
					    body_len, space, key);
	if (rc == -EBADMSG)
		log_error("cannot read '%s/%s/%s': malformed sidecar",
			  d->base.url, p->seg_space, side);
	return rc;
}

/* One read of (space, key): body and sidecar, or a legacy file.
 * -EAGAIN when the pair does not match (sizes or checksum). */
static int read_once(struct dir_target *d, int sfd, const struct obj_paths *p,
		     const char *space, const char *key, void **body,
		     size_t *len, struct cloud_doc_meta *m, uint64_t *size)
{
	char sname[CLOUD_NAME_MAX + 1], kname[CLOUD_NAME_MAX + 1];
	char sum[65];
	struct stat st;
	uint64_t blen;
	char *b = NULL;
	int fd, rc;

	fd = obj_openat(d, sfd, p->seg_space, p->seg_key, &st);
	if (fd < 0)
		return fd;
	if (is_legacy_file(fd, (uint64_t)st.st_size)) {
		rc = read_legacy(d, fd, (uint64_t)st.st_size, p, space, key,
				 body, len, m, size);
		goto out_close;
	}
	rc = read_sidecar(d, sfd, p, m, &blen, sname, kname);
	if (rc)
		goto out_close;
	if (strcmp(sname, space) || strcmp(kname, key)) {
		rc = -ENOENT; /* a long-name hash collision */
		goto out_close;
	}
	if (blen != (uint64_t)st.st_size) {
		rc = -EAGAIN;
		goto out_close;
	}
	*size = blen;
	if (!body)
		goto out_close;
	if (blen > d->max_object_bytes) {
		rc = -EFBIG;
		goto out_close;
	}
	b = malloc((size_t)blen + 1);
	if (!b) {
		rc = -ENOMEM;
		goto out_close;
	}
	rc = io_pread_all(fd, b, (size_t)blen, 0);
	if (rc)
		goto out_free;
	b[blen] = '\0';
	cloud_doc_checksum(b, (size_t)blen, sum);
	if (strcmp(sum, m->sha256)) {
		rc = -EAGAIN;
		goto out_free;
	}
	*body = b;
	*len = (size_t)blen;
	goto out_close;
out_free:
	free(b);
out_close:
	io_close(fd);
	return rc;
}

/* get_doc (body not NULL) or head_doc.  A pair found torn is read once
 * more (a put or delete may be between its two renames); torn again, it
 * is -EBADMSG with a log line. */
static int read_doc(struct cloud_target *t, const char *op, const char *space,
		    const char *key, void **body, size_t *len,
		    struct cloud_doc_meta *m, uint64_t *size)
{
	struct dir_target *d = dir_of(t);
	struct obj_paths p;
	int rfd, sfd, rc;

	rc = paths_of(space, key, &p);
	if (rc)
		return rc;
	rfd = root_open(d);
	if (rfd < 0) {
		rc = rfd;
		goto out_log;
	}
	sfd = dir_openat(d, rfd, p.seg_space);
	close(rfd);
	if (sfd < 0) {
		rc = sfd;
		goto out_log;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(m, 0, sizeof(*m));
		rc = read_once(d, sfd, &p, space, key, body, len, m, size);
		if (rc != -EAGAIN)
			break;
	}
	close(sfd);
	if (rc == -EAGAIN) {
		log_error("cannot %s '%s/%s/%s': its body and its sidecar do "
			  "not match (torn or altered)",
			  op, t->url, p.seg_space, p.seg_key);
		return -EBADMSG;
	}
	if (rc == -EFBIG)
		log_error("cannot %s '%s/%s/%s': larger than the %zu bytes "
			  "allowed",
			  op, t->url, p.seg_space, p.seg_key,
			  d->max_object_bytes);
out_log:
	if (rc && rc != -ENOENT && rc != -EBADMSG && rc != -ELOOP &&
	    rc != -EFBIG)
		log_error("cannot %s '%s/%s/%s': %s", op, t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_get_doc(struct cloud_target *t, const char *space,
		       const char *key, void **body, size_t *len,
		       struct cloud_doc_meta *meta)
{
	uint64_t size;

	return read_doc(t, "get", space, key, body, len, meta, &size);
}

static int dir_head_doc(struct cloud_target *t, const char *space,
			const char *key, struct cloud_doc_meta *meta,
			uint64_t *size)
{
	return read_doc(t, "head", space, key, NULL, NULL, meta, size);
}

/* The sidecar first (renamed into place, not yet synced into the
 * directory), then the body; the directory's fsync after the body's
 * rename makes both durable.  A crash between the renames leaves a pair
 * that does not match: readers refuse it (read_doc) and the document,
 * never marked uploaded, is put again at the next start. */
static int dir_put_doc(struct cloud_target *t, const char *space,
		       const char *key, const void *body, size_t len,
		       const struct cloud_doc_meta *meta)
{
	struct dir_target *d = dir_of(t);
	uint8_t side[DOCMETA_SIDECAR_MAX];
	char sname[64 + CLOUD_SEG_MAX];
	struct obj_paths p;
	size_t sl;
	int rc, sfd;

	rc = paths_of(space, key, &p);
	if (!rc)
		rc = docmeta_sidecar_encode(side, meta, len, space, key, &sl);
	if (rc)
		goto out_log;
	sidecar_name(&p, sname);
	for (int tries = 0; tries < 5; tries++) {
		rc = open_replaceable(d, &p, &sfd);
		if (!rc) {
			rc = replaceable(d, sfd, p.seg_space, sname);
			if (!rc)
				rc = write_atomic(sfd, sname, side, sl, NULL, 0,
						  false);
			if (!rc)
				rc = write_atomic(sfd, p.seg_key, NULL, 0, body,
						  len, true);
			close(sfd);
		}
		if (rc != -ENOENT)
			break;
	}
out_log:
	if (rc && rc != -ELOOP)
		log_error("cannot put '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

static int dir_del(struct cloud_target *t, const char *space, const char *key)
{
	struct dir_target *d = dir_of(t);
	struct obj_paths p;
	int rc, rfd, sfd = -1;

	rc = paths_of(space, key, &p);
	rfd = rc ? rc : root_open(d);
	if (rfd < 0)
		rc = rfd;
	if (!rc) {
		sfd = dir_openat(d, rfd, p.seg_space);
		rc = sfd < 0 ? sfd : 0;
	}
	if (!rc)
		rc = replaceable(d, sfd, p.seg_space, p.seg_key);
	if (!rc && unlinkat(sfd, p.seg_key, 0) != 0)
		rc = -errno;
	if (sfd >= 0 && (!rc || rc == -ENOENT)) {
		/* then its sidecar (absent for a legacy or opaque object) */
		char side[64 + CLOUD_SEG_MAX];
		int r2;

		sidecar_name(&p, side);
		r2 = replaceable(d, sfd, p.seg_space, side);
		if (!r2 && unlinkat(sfd, side, 0) == 0)
			rc = 0;
		else if (r2)
			rc = r2;
	}
	if (!rc)
		rc = io_fsync(sfd);
	if (sfd >= 0)
		close(sfd);
	if (!rc && unlinkat(rfd, p.seg_space, AT_REMOVEDIR) == 0)
		io_fsync(rfd);
	if (rfd >= 0)
		close(rfd);
	if (rc == -ENOENT)
		return 0;
	if (rc && rc != -ELOOP)
		log_error("cannot delete '%s/%s/%s': %s", t->url, p.seg_space,
			  p.seg_key, strerror(-rc));
	return rc;
}

/* ---- listing ---- */

/* A listed object (or space): its segment and its name, in the cursor's
 * arena (name == seg when the segment decodes to itself). */
struct listed {
	const char *seg;
	const char *name;
};

static int listed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->seg,
		      ((const struct listed *)b)->seg);
}

static bool ours(const char *name)
{
	return name[0] != '#' && strcmp(name, ".") && strcmp(name, "..") &&
	       strncmp(name, DOCMETA_SIDECAR_PREFIX,
		       sizeof(DOCMETA_SIDECAR_PREFIX) - 1) &&
	       strlen(name) <= CLOUD_SEG_MAX;
}

/* Whether the entry e of the directory dir_fd is what a listing wants (a
 * space directory, or an object file); anything else of ours is logged
 * and skipped. */
static bool is_kind(struct dir_target *d, int dir_fd, const char *space_seg,
		    struct dirent *e, bool want_dir)
{
	struct stat st;
	bool is_dir, is_reg;

	if (e->d_type != DT_UNKNOWN) {
		is_dir = e->d_type == DT_DIR;
		is_reg = e->d_type == DT_REG;
	} else if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		is_dir = S_ISDIR(st.st_mode);
		is_reg = S_ISREG(st.st_mode);
	} else {
		return false;
	}
	if (!is_dir && !is_reg)
		log_refused(d, space_seg ? space_seg : e->d_name,
			    space_seg ? e->d_name : NULL,
			    "neither a directory nor a regular file, skipped");
	return want_dir ? is_dir : is_reg;
}

/* The header of the object file name in dir_fd. */
static int header_of(struct dir_target *d, int dir_fd, const char *space_seg,
		     const char *name, struct obj_header *oh)
{
	struct stat st;
	int fd, rc;

	fd = obj_openat(d, dir_fd, space_seg, name, &st);
	if (fd < 0)
		return fd;
	if (is_legacy_file(fd, (uint64_t)st.st_size)) {
		rc = header_read(fd, (uint64_t)st.st_size, oh);
	} else {
		/* a document: its names are in its sidecar */
		struct obj_paths p;
		struct cloud_doc_meta m;

		snprintf(p.seg_space, sizeof(p.seg_space), "%s", space_seg);
		snprintf(p.seg_key, sizeof(p.seg_key), "%s", name);
		rc = read_sidecar(d, dir_fd, &p, &m, &oh->body_len, oh->space,
				  oh->key);
		if (rc == -EAGAIN)
			rc = -ENOENT;
	}
	io_close(fd);
	return rc;
}

/* A DIR stream of the directory name in dir_fd ("." for dir_fd itself, a
 * fresh open file description so that threads never share a position).
 * NULL with errno set. */
static DIR *dir_stream(struct dir_target *d, int dir_fd, const char *name)
{
	int fd = dir_openat(d, dir_fd, name);
	DIR *dh;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	dh = fdopendir(fd);
	if (!dh) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return dh;
}

/* The space name of a hashed space directory: from any object in it. */
static int space_name_of(struct dir_target *d, int rfd, const char *seg,
			 char out[CLOUD_NAME_MAX + 1])
{
	struct obj_header oh;
	struct dirent *e;
	DIR *dh = dir_stream(d, rfd, seg);
	int rc = -ENOENT;

	if (!dh)
		return -errno;
	while (rc && (e = readdir(dh))) {
		if (!ours(e->d_name) || !is_kind(d, dirfd(dh), seg, e, false))
			continue;
		rc = header_of(d, dirfd(dh), seg, e->d_name, &oh);
	}
	closedir(dh);
	if (!rc)
		snprintf(out, CLOUD_NAME_MAX + 1, "%s", oh.space);
	return rc;
}

/* The name behind a segment listed in the directory dir_fd (the root
 * when space_seg is NULL). */
static int name_of(struct dir_target *d, int dir_fd, const char *space_seg,
		   const char *seg, char out[CLOUD_NAME_MAX + 1])
{
	struct obj_header oh;
	int rc;

	if (!cloud_segment_hashed(seg, strlen(seg)))
		return cloud_name_decode(seg, strlen(seg), out);
	if (!space_seg)
		return space_name_of(d, dir_fd, seg, out);
	rc = header_of(d, dir_fd, space_seg, seg, &oh);
	if (!rc)
		snprintf(out, CLOUD_NAME_MAX + 1, "%s", oh.key);
	return rc;
}

/* What collect gathers while the arena may still move: offsets. */
struct gather {
	struct cbuf arena; /* the strings, each with its NUL */
	size_t (*at)[2]; /* segment, name offsets */
	size_t n, cap;
};

static int gather_str(struct gather *g, const char *str, size_t len,
		      size_t *off)
{
	*off = g->arena.len;
	cbuf_add(&g->arena, str, len);
	cbuf_addc(&g->arena, '\0');
	return cbuf_failed(&g->arena) ? -ENOMEM : 0;
}

/* Add the segment seg (len bytes) with its name. */
static int gather_add(struct gather *g, const char *seg, size_t len,
		      const char *name)
{
	size_t seg_off, name_off;
	size_t(*grown)[2];
	int rc;

	grown = grow_array(g->at, &g->cap, g->n + 1, 256, sizeof(*g->at));
	if (!grown)
		return -ENOMEM;
	g->at = grown;
	rc = gather_str(g, seg, len, &seg_off);
	if (!rc && strcmp(seg, name))
		rc = gather_str(g, name, strlen(name), &name_off);
	else
		name_off = seg_off;
	if (rc)
		return rc;
	g->at[g->n][0] = seg_off;
	g->at[g->n][1] = name_off;
	g->n++;
	return 0;
}

/* Read the space directory space_seg (ROOT when NULL) and collect the
 * names of its objects (or of the spaces) into c (arena, v, n), sorted by
 * segment.  Profiled at 100k names: what costs is the memory touched, so
 * the strings go to one arena and the sort moves 16-byte records. */
static int collect(struct dir_target *d, const char *space_seg,
		   struct dir_cursor *c)
{
	struct gather g = { CBUF_INIT, NULL, 0, 0 };
	char name[CLOUD_NAME_MAX + 1];
	struct dirent *e;
	int rfd = root_open(d);
	DIR *dh = NULL;
	int rc = 0;

	c->arena = NULL;
	c->v = NULL;
	c->n = 0;
	if (rfd < 0)
		return rfd;
	dh = dir_stream(d, rfd, space_seg ? space_seg : ".");
	close(rfd);
	if (!dh)
		/* A missing space has no objects; one that is not a
		 * directory (logged) has none of ours. */
		return space_seg && (errno == ENOENT || errno == ELOOP)
			       ? 0
			       : -errno;
	while (!rc && (e = readdir(dh))) {
		if (!ours(e->d_name) ||
		    !is_kind(d, dirfd(dh), space_seg, e, !space_seg))
			continue;
		if (name_of(d, dirfd(dh), space_seg, e->d_name, name))
			continue; /* not ours, or an empty space */
		rc = gather_add(&g, e->d_name, strlen(e->d_name), name);
	}
	closedir(dh);
	if (!rc && g.n) {
		c->v = malloc(g.n * sizeof(*c->v));
		rc = c->v ? 0 : -ENOMEM;
	}
	if (!rc) {
		for (size_t i = 0; i < g.n; i++) {
			c->v[i].seg = g.arena.p + g.at[i][0];
			c->v[i].name = g.arena.p + g.at[i][1];
		}
		if (g.n)
			qsort(c->v, g.n, sizeof(*c->v), listed_cmp);
		c->arena = cbuf_detach(&g.arena, NULL);
		c->n = g.n;
	}
	free(g.at);
	cbuf_release(&g.arena);
	return rc;
}

static void cursor_free(struct dir_cursor *c)
{
	free(c->dir);
	free(c->v);
	free(c->arena);
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
	struct dir_cursor c = { NULL, NULL, NULL, 0, 0 };
	struct obj_paths p;
	const char *dir = "/";
	size_t sent = 0;
	int rc;

	if (space) {
		rc = paths_of(space, NULL, &p);
		if (rc)
			return rc;
		dir = p.seg_space;
	}
	if (!cursor_take(d, dir, token, &c)) {
		rc = collect(d, space ? p.seg_space : NULL, &c);
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
	.put_new = dir_put_new,
	.get = dir_get,
	.head = dir_head,
	.put_doc = dir_put_doc,
	.get_doc = dir_get_doc,
	.head_doc = dir_head_doc,
	.del = dir_del,
	.list = dir_list,
	.destroy = dir_destroy,
};

int cloud_dir_open(const char *path, const struct cloud_options *o,
		   const char *url, struct cloud_target **out)
{
	struct dir_target *d;
	int rc, fd;

	if (!path[0]) {
		log_error("invalid cloud url '%s': bad directory", url);
		return -EINVAL;
	}
	if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cannot create cloud directory '%s': %s", path,
			  strerror(errno));
		return rc;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_error("cannot open cloud directory '%s': %s", path,
			  strerror(errno));
		return rc;
	}
	close(fd);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->root = strdup(path);
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
