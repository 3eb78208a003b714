/*
 * io_fault.h - fault injection through the I/O seam (for tests).
 *
 * io_fault_install() puts a wrapper around the kernel ops in place.  Each
 * operation kind has its own call counter; io_fault_arm(op, nth, err) makes
 * the nth call of that kind from now fail with -err, and with
 * IO_FAULT_STICKY every later call of that kind fails too (a dead disk).
 * For IO_OP_PWRITE and IO_OP_PWRITE_DSYNC, err == IO_FAULT_SHORT makes the call write half of its
 * buffer and report that, and later calls fail with -ENOSPC (a full disk).
 */
#ifndef TESTS_IO_FAULT_H
#define TESTS_IO_FAULT_H

#include <stdbool.h>

enum io_op {
	IO_OP_PWRITE,
	IO_OP_FSYNC,
	IO_OP_FDATASYNC,
	IO_OP_MSYNC,
	IO_OP_RENAME,
	IO_OP_FALLOCATE,
	IO_OP_PWRITE_DSYNC, /* io_pwrite_dsync: writes, its sync fails */
	IO_OP_COUNT
};

#define IO_FAULT_SHORT (-1)

enum io_fault_flags {
	IO_FAULT_ONCE = 0,
	IO_FAULT_STICKY = 1 << 0,
};

void io_fault_install(void);
void io_fault_uninstall(void);
void io_fault_arm(enum io_op op, unsigned long nth, int err, int flags);
void io_fault_disarm(void);
/* Calls of kind op since install or the last disarm. */
unsigned long io_fault_calls(enum io_op op);
/* Whether an armed fault has fired. */
bool io_fault_fired(void);
const char *io_op_name(enum io_op op);

#endif
