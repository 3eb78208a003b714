/*
 * io.h - the narrow I/O seam of the storage engine.
 *
 * Every write, sync, rename and allocation of the files that hold data goes
 * through io_*() here, which forwards to the installed struct io_ops.  The
 * default ops call the kernel; tests install others, built only into the
 * tests (tests/io_fault.h fails the Nth call; the crash simulator,
 * tests/crashsim/io_crashsim.h, records and drops unsynced writes).
 *
 * All functions return 0 (or a byte count) on success and a negative errno
 * on failure; errno itself is never the channel.
 */
#ifndef UTIL_IO_H
#define UTIL_IO_H

#include <stddef.h>
#include <sys/types.h>

struct io_ops {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*msync)(void *addr, size_t len, int flags);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*fallocate)(int fd, off_t off, off_t len);
	int (*ftruncate)(int fd, off_t len);
	/* NULL (ops that predate it): the kernel's renameat. */
	int (*renameat)(int from_dir, const char *from, int to_dir,
			const char *to);
	/* Write, then make durable the bytes written and the file's size and
	 * allocation, not its other unsynced data (RWF_DSYNC).  NULL (ops
	 * that predate it): the installed pwrite, then fdatasync. */
	ssize_t (*pwrite_dsync)(int fd, const void *buf, size_t len, off_t off);
};

/* The kernel's ops.  Borrowed, static. */
const struct io_ops *io_real_ops(void);

/* Install ops for every later io_*() call; NULL restores io_real_ops().
 * The pointer is borrowed and must stay valid while installed.  Not
 * thread-safe with concurrent io_*() calls: install before opening. */
void io_set_ops(const struct io_ops *ops);

int io_open(const char *path, int flags, mode_t mode);
int io_close(int fd);
ssize_t io_pread(int fd, void *buf, size_t len, off_t off);
ssize_t io_pwrite(int fd, const void *buf, size_t len, off_t off);
int io_fsync(int fd);
int io_fdatasync(int fd);
int io_msync(void *addr, size_t len, int flags);
int io_rename(const char *from, const char *to);
int io_unlink(const char *path);
int io_fallocate(int fd, off_t off, off_t len);
int io_ftruncate(int fd, off_t len);
/* rename(2) relative to directory fds (never follows the last component). */
int io_renameat(int from_dir, const char *from, int to_dir, const char *to);

/* pwrite whose bytes, and the file's size and allocation (what
 * fallocate and extending writes changed), are durable when it returns;
 * the file's other unsynced changes (writes elsewhere, the pages of a
 * shared mapping) are not written back.  Where the kernel or file system
 * has no RWF_DSYNC: pwrite then fdatasync (everything durable). */
ssize_t io_pwrite_dsync(int fd, const void *buf, size_t len, off_t off);
/* All of buf at off through io_pwrite_dsync (a short write continues
 * with another).  Returns 0 or -errno. */
int io_pwrite_dsync_all(int fd, const void *buf, size_t len, off_t off);

/* Write all of buf at off, retrying short writes.  A write that makes no
 * progress is -EIO.  Returns 0 or -errno. */
int io_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Read exactly len bytes at off; -EIO on a short file.  Returns 0 or -errno. */
int io_pread_all(int fd, void *buf, size_t len, off_t off);

/* Open the directory at path and fsync it (makes renames and creations in
 * it durable).  Returns 0 or -errno. */
int io_fsync_dir(const char *path);

#endif
