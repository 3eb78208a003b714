/*
 * io_crashsim.h - a power-cut simulator behind the I/O seam (for tests).
 *
 * io_crashsim_install(dir) wraps the kernel's ops: every call still goes
 * to the kernel (the process sees its own writes), and the simulator
 * remembers, for the files of one directory, what a power cut could leave
 * on the disk: the content of each file as of its last sync, the writes,
 * truncations and extensions since, the changes made through a shared
 * mapping since its last msync, and the creations, renames and unlinks in
 * the directory since its last fsync.  The model is written at the top of
 * io_crashsim.c.
 *
 * Sync points: every fsync, fdatasync, msync and synced write
 * (io_pwrite_dsync) call (a directory fsync through io_fsync_dir is an
 * fsync) is numbered from 1 and, before its sync has any effect, calls
 * the hook: that is the instant a power cut may strike.
 * The hook may call io_crashsim_write_state() to materialise one possible
 * crash state, and may _exit() to abandon the process state.
 *
 * Not for concurrent use: one test process, one watched directory.
 *
 * Test machinery only: built into the check-only library
 * tests/crashsim/libcrashsim.a (tests/engine-proof.mk), which only the
 * tests that install the simulator link; no production library or
 * program contains it.
 */
#ifndef TESTS_CRASHSIM_IO_CRASHSIM_H
#define TESTS_CRASHSIM_IO_CRASHSIM_H

#include <stdint.h>

enum io_crash_mode {
	IO_CRASH_ALL_KEPT, /* every unsynced change reached the disk */
	IO_CRASH_ALL_DROPPED, /* none did */
	IO_CRASH_RANDOM, /* per sector and per operation, by seed */
};

struct io_crashsim_stats {
	uint64_t states; /* crash states written */
	uint64_t sectors_kept; /* unsynced 512-byte pieces kept */
	uint64_t sectors_dropped; /* ... dropped */
	uint64_t sectors_garbled; /* ... turned into garbage */
	uint64_t meta_undone; /* truncations/extensions not applied */
	uint64_t names_undone; /* creations/renames/unlinks undone */
};

/* Install over the kernel's ops, watching directory dir (which must
 * exist): every regular file in it now counts as durable, as does the
 * directory's listing.  Resets the sync point counter and the statistics.
 * Returns 0 or -errno. */
int io_crashsim_install(const char *dir);
/* Restore the kernel's ops and forget everything. */
void io_crashsim_uninstall(void);

/* Called at every sync point n (1, 2, ...) before the sync takes effect,
 * from the thread making the call, with no simulator lock held. */
typedef void (*io_crashsim_point_fn)(void *arg, unsigned long n);
void io_crashsim_set_hook(io_crashsim_point_fn fn, void *arg);

/* Sync points passed since install. */
unsigned long io_crashsim_points(void);

/*
 * Write the watched directory as a power cut now could leave it into
 * out_dir (created; it must not exist).  mode chooses the fate of each
 * unsynced change; with IO_CRASH_RANDOM, seed makes the choice repeatable.
 * Only plain syscalls are used (never the seam), so this may run inside a
 * hook.  Returns 0 or -errno.
 */
int io_crashsim_write_state(const char *out_dir, enum io_crash_mode mode,
			    uint64_t seed);

/* Totals since install. */
void io_crashsim_stats(struct io_crashsim_stats *out);

#endif
