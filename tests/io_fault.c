/*
 * io_fault.c - a fault-injecting struct io_ops over the kernel's.
 *
 * State is global and guarded by one mutex: tests arm a single fault, run a
 * workload, and inspect.  Counters count every call of a kind, so a test
 * can first run a workload to learn how many calls it makes and then fail
 * each one in turn.
 */
#include "tests/io_fault.h"

#include "util/io.h"

#include <errno.h>
#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long calls[IO_OP_COUNT];
static struct {
	bool armed;
	bool fired;
	enum io_op op;
	unsigned long at;
	int err;
	int flags;
} fault;

static const char *const names[IO_OP_COUNT] = {
	"pwrite", "fsync",     "fdatasync",    "msync",
	"rename", "fallocate", "pwrite_dsync",
};

const char *io_op_name(enum io_op op)
{
	return op < IO_OP_COUNT ? names[op] : "?";
}

/* Count a call and decide its fate: 0 pass, else the error to return
 * (IO_FAULT_SHORT for a short write). */
static int decide(enum io_op op)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	calls[op]++;
	if (fault.armed && fault.op == op) {
		if (fault.fired && (fault.flags & IO_FAULT_STICKY))
			rc = fault.err == IO_FAULT_SHORT ? ENOSPC : fault.err;
		else if (!fault.fired && calls[op] == fault.at) {
			fault.fired = true;
			rc = fault.err;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static ssize_t f_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	int e = decide(IO_OP_PWRITE);

	if (e == IO_FAULT_SHORT) {
		size_t half = len / 2;
		if (half == 0)
			return -ENOSPC;
		return io_real_ops()->pwrite(fd, buf, half, off);
	}
	if (e)
		return -e;
	return io_real_ops()->pwrite(fd, buf, len, off);
}

static ssize_t f_pwrite_dsync(int fd, const void *buf, size_t len, off_t off)
{
	int e = decide(IO_OP_PWRITE_DSYNC);

	if (e == IO_FAULT_SHORT) {
		size_t half = len / 2;
		if (half == 0)
			return -ENOSPC;
		return io_real_ops()->pwrite_dsync(fd, buf, half, off);
	}
	if (e) {
		/* the bytes reach the page cache, their sync fails */
		(void)io_real_ops()->pwrite(fd, buf, len, off);
		return -(e < 0 ? EIO : e);
	}
	return io_real_ops()->pwrite_dsync(fd, buf, len, off);
}

static int f_fsync(int fd)
{
	int e = decide(IO_OP_FSYNC);
	return e ? -(e < 0 ? EIO : e) : io_real_ops()->fsync(fd);
}

static int f_fdatasync(int fd)
{
	int e = decide(IO_OP_FDATASYNC);
	return e ? -(e < 0 ? EIO : e) : io_real_ops()->fdatasync(fd);
}

static int f_msync(void *addr, size_t len, int flags)
{
	int e = decide(IO_OP_MSYNC);
	return e ? -(e < 0 ? EIO : e) : io_real_ops()->msync(addr, len, flags);
}

static int f_rename(const char *from, const char *to)
{
	int e = decide(IO_OP_RENAME);
	return e ? -(e < 0 ? EIO : e) : io_real_ops()->rename(from, to);
}

static int f_renameat(int from_dir, const char *from, int to_dir,
		      const char *to)
{
	int e = decide(IO_OP_RENAME);
	return e ? -(e < 0 ? EIO : e)
		 : io_real_ops()->renameat(from_dir, from, to_dir, to);
}

static int f_fallocate(int fd, off_t off, off_t len)
{
	int e = decide(IO_OP_FALLOCATE);
	return e ? -(e < 0 ? EIO : e) : io_real_ops()->fallocate(fd, off, len);
}

static struct io_ops fault_ops;

void io_fault_install(void)
{
	fault_ops = *io_real_ops();
	fault_ops.pwrite = f_pwrite;
	fault_ops.fsync = f_fsync;
	fault_ops.fdatasync = f_fdatasync;
	fault_ops.msync = f_msync;
	fault_ops.rename = f_rename;
	fault_ops.renameat = f_renameat;
	fault_ops.fallocate = f_fallocate;
	fault_ops.pwrite_dsync = f_pwrite_dsync;
	io_fault_disarm();
	io_set_ops(&fault_ops);
}

void io_fault_uninstall(void)
{
	io_set_ops(NULL);
	io_fault_disarm();
}

void io_fault_arm(enum io_op op, unsigned long nth, int err, int flags)
{
	pthread_mutex_lock(&lock);
	fault.armed = true;
	fault.fired = false;
	fault.op = op;
	fault.at = calls[op] + nth;
	fault.err = err;
	fault.flags = flags;
	pthread_mutex_unlock(&lock);
}

void io_fault_disarm(void)
{
	pthread_mutex_lock(&lock);
	fault.armed = false;
	fault.fired = false;
	for (int i = 0; i < IO_OP_COUNT; i++)
		calls[i] = 0;
	pthread_mutex_unlock(&lock);
}

unsigned long io_fault_calls(enum io_op op)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = calls[op];
	pthread_mutex_unlock(&lock);
	return n;
}

bool io_fault_fired(void)
{
	bool f;

	pthread_mutex_lock(&lock);
	f = fault.fired;
	pthread_mutex_unlock(&lock);
	return f;
}
