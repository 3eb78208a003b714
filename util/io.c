/*
 * io.c - default (kernel) I/O ops and the dispatch through the seam.
 *
 * io_pwrite_dsync is pwritev2(RWF_DSYNC): on Linux a ranged
 * fdatasync of what it wrote, which also commits the inode's size and
 * allocation (ext4 and XFS force the journal/log for them), without the
 * writeback of the file's other dirty pages that an fsync or fdatasync
 * does.  Where RWF_DSYNC is refused (EOPNOTSUPP: an old kernel or a file
 * system without it), a pwrite and an fdatasync, which make more durable,
 * never less.
 *
 * The installed ops pointer is read with acquire semantics so a test that
 * installs ops before starting threads is seen by them.
 */
#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static int real_open(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int real_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

static ssize_t real_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t real_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pwrite(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int real_fsync(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

static int real_fdatasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int real_msync(void *addr, size_t len, int flags)
{
	return msync(addr, len, flags) < 0 ? -errno : 0;
}

static int real_rename(const char *from, const char *to)
{
	return rename(from, to) < 0 ? -errno : 0;
}

static int real_renameat(int from_dir, const char *from, int to_dir,
			 const char *to)
{
	return renameat(from_dir, from, to_dir, to) < 0 ? -errno : 0;
}

static int real_unlink(const char *path)
{
	return unlink(path) < 0 ? -errno : 0;
}

static int real_fallocate(int fd, off_t off, off_t len)
{
	return -posix_fallocate(fd, off, len);
}

static int real_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

static ssize_t real_pwrite_dsync(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };
	ssize_t n;

	do
		n = pwritev2(fd, &v, 1, off, RWF_DSYNC);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	n = real_pwrite(fd, buf, len, off);
	if (n > 0) {
		int rc = real_fdatasync(fd);

		if (rc)
			return rc;
	}
	return n;
}

static const struct io_ops real_ops = {
	.open = real_open,
	.close = real_close,
	.pread = real_pread,
	.pwrite = real_pwrite,
	.fsync = real_fsync,
	.fdatasync = real_fdatasync,
	.msync = real_msync,
	.rename = real_rename,
	.unlink = real_unlink,
	.fallocate = real_fallocate,
	.ftruncate = real_ftruncate,
	.renameat = real_renameat,
	.pwrite_dsync = real_pwrite_dsync,
};

static const struct io_ops *ops = &real_ops;

const struct io_ops *io_real_ops(void)
{
	return &real_ops;
}

void io_set_ops(const struct io_ops *o)
{
	__atomic_store_n(&ops, o ? o : &real_ops, __ATOMIC_RELEASE);
}

static const struct io_ops *cur(void)
{
	return __atomic_load_n(&ops, __ATOMIC_ACQUIRE);
}

int io_open(const char *path, int flags, mode_t mode)
{
	return cur()->open(path, flags, mode);
}

int io_close(int fd)
{
	return cur()->close(fd);
}

ssize_t io_pread(int fd, void *buf, size_t len, off_t off)
{
	return cur()->pread(fd, buf, len, off);
}

ssize_t io_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return cur()->pwrite(fd, buf, len, off);
}

int io_fsync(int fd)
{
	return cur()->fsync(fd);
}

int io_fdatasync(int fd)
{
	return cur()->fdatasync(fd);
}

int io_msync(void *addr, size_t len, int flags)
{
	return cur()->msync(addr, len, flags);
}

int io_rename(const char *from, const char *to)
{
	return cur()->rename(from, to);
}

int io_renameat(int from_dir, const char *from, int to_dir, const char *to)
{
	const struct io_ops *o = cur();

	if (!o->renameat)
		return real_renameat(from_dir, from, to_dir, to);
	return o->renameat(from_dir, from, to_dir, to);
}

ssize_t io_pwrite_dsync(int fd, const void *buf, size_t len, off_t off)
{
	const struct io_ops *o = cur();
	ssize_t n;

	if (o->pwrite_dsync)
		return o->pwrite_dsync(fd, buf, len, off);
	n = o->pwrite(fd, buf, len, off);
	if (n > 0) {
		int rc = o->fdatasync(fd);

		if (rc)
			return rc;
	}
	return n;
}

int io_unlink(const char *path)
{
	return cur()->unlink(path);
}

int io_fallocate(int fd, off_t off, off_t len)
{
	return cur()->fallocate(fd, off, len);
}

int io_ftruncate(int fd, off_t len)
{
	return cur()->ftruncate(fd, len);
}

enum rw_kind {
	RW_READ,
	RW_WRITE,
	RW_WRITE_DSYNC
};

static ssize_t rw_once(int fd, char *p, size_t len, off_t off,
		       enum rw_kind kind)
{
	switch (kind) {
	case RW_READ:
		return io_pread(fd, p, len, off);
	case RW_WRITE:
		return io_pwrite(fd, p, len, off);
	case RW_WRITE_DSYNC:
		return io_pwrite_dsync(fd, p, len, off);
	}
	return -EINVAL;
}

/* All len bytes at off through io_pread, io_pwrite or io_pwrite_dsync:
 * a short transfer continues, none at all (end of file, a full disk that
 * wrote nothing) is -EIO. */
static int rw_all(int fd, char *p, size_t len, off_t off, enum rw_kind kind)
{
	while (len > 0) {
		ssize_t n = rw_once(fd, p, len, off, kind);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	return rw_all(fd, (char *)buf, len, off, RW_WRITE);
}

int io_pwrite_dsync_all(int fd, const void *buf, size_t len, off_t off)
{
	return rw_all(fd, (char *)buf, len, off, RW_WRITE_DSYNC);
}

int io_pread_all(int fd, void *buf, size_t len, off_t off)
{
	return rw_all(fd, buf, len, off, RW_READ);
}

int io_fsync_dir(const char *path)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = io_fsync(fd);
	close(fd);
	return rc;
}
