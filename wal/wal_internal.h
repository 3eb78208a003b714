/*
 * wal_internal.h - what wal/log.c and wal/file.c share; never included
 * outside wal/ except by tests.
 *
 * log.c owns struct wal's group commit (its invariants and rules are at
 * the top of log.c); file.c owns the log file: its format (the table at
 * the top of file.c, whose frame layout wal_frame_put encodes), creation,
 * replay and cut-over.  The functions below named _locked are called with
 * mu held, as log.c describes.
 */
#ifndef WAL_WAL_INTERNAL_H
#define WAL_WAL_INTERNAL_H

#include "wal/record.h"
#include "wal/wal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC "CRVNWAL"
#define WAL_VERSION 1
#define WAL_HDR 64
#define FRAME_MAGIC 0xC0A1F4A3u
#define FRAME_HDR 32
#define WAL_FRAME_MAX (1u << 30)

struct wal_waiter;

struct wal {
	char *dir;
	char *path;
	int fd;
	uint64_t gen, salt;
	uint32_t seed;
	struct wal_options opt;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* io finished, or stop requested */
	struct wal_buf pend; /* frames not yet written */
	struct wal_buf spare;
	uint64_t next_lsn;
	uint64_t written_lsn;
	uint64_t durable_lsn;
	uint64_t file_size;
	uint64_t flushes;
	bool io_busy;
	uint64_t io_len; /* bytes the flush holding io_busy writes */
	/* pend.len as the last append left it (atomic; written under mu):
	 * wal_throttle's look without mu, never lower than pend.len */
	size_t pend_hint;
	/* frames reserved in pend whose payload is being copied in without
	 * mu (wal_append_reserve .. wal_append_fill); while it is not 0
	 * pend is neither taken out (a flush, a cut-over's switch) nor
	 * moved (grown): log.c invariant 8 */
	unsigned filling;
	int err;

	pthread_t committer;
	bool has_committer;
	bool stop;
	bool kick; /* pend passed buffer_bytes: write it out */
	int in_sync; /* threads inside wal_sync, satisfied or not */
	bool yielded; /* the next leader already yielded once */
	pthread_cond_t kick_cv;

	/* Durability waiters: invariants 5-7 of log.c. */
	struct wal_waiter *wait_head, *wait_last; /* in LSN order */
	unsigned nwait_sync; /* threads in wal_sync on the list */
	unsigned nwait_async; /* callbacks on the list */
	struct wal_waiter *fire_head, **fire_tail; /* satisfied callbacks */
	bool firing; /* a thread is calling the fire list's callbacks */
	bool lead; /* the committer has claimed the next flush (gathers) */
	bool want_sync; /* the committer is asked to lead a flush */
	bool want_deliver; /* the committer is asked to call the fire list */
	unsigned round_expect; /* callbacks the last flush satisfied */
	int64_t flush_ns; /* how long the last fdatasync flush took */

	/* Between wal_cutover_begin and wal_cutover_finish (io_busy is
	 * held all along): the new file, written but not yet durable, and
	 * the LSN of its last snapshot frame. */
	char *tmp_path;
	int cut_fd;
	uint64_t cut_size;
	uint64_t cut_last_lsn;

	/* Debug builds: what the last wal_invariants() saw (invariants 1
	 * and 4 say how these may move).  Untouched otherwise. */
	struct {
		uint64_t next_lsn, written_lsn, durable_lsn;
		int err;
	} seen;
};

/* Encode a frame header for payload (len bytes) at h (FRAME_HDR bytes):
 * the frame layout at the top of file.c. */
void wal_frame_put(uint8_t *h, uint32_t seed, uint64_t lsn, uint64_t epoch,
		   const void *payload, size_t len);
/* The same, the CRC continued over each span with its crc (wal.h:
 * wal_append_spans; spans checked by the caller). */
void wal_frame_put_spans(uint8_t *h, uint32_t seed, uint64_t lsn,
			 uint64_t epoch, const void *payload, size_t len,
			 const struct wal_span *sp, size_t nsp);

/* log.c: construction.  wal_alloc returns a log with no file (fd -1), or
 * NULL; wal_free undoes it (and closes fd); wal_start_committer starts
 * the committer thread when the options ask for one. */
struct wal *wal_alloc(const char *dir, const struct wal_options *o);
void wal_free(struct wal *w);
int wal_start_committer(struct wal *w);

/* log.c: group commit, under mu (see its opening comment). */
bool wal_invariants(struct wal *w);
void wal_fail_locked(struct wal *w, int rc, const char *what);
void wal_io_locked(struct wal *w, bool sync);
void wal_wait_fills_locked(struct wal *w);
bool wal_settle_locked(struct wal *w);
void wal_unlock_handoff(struct wal *w);

/* DIR/NAME, owned by the caller (free with free()), or NULL. */
char *wal_path_join(const char *dir, const char *name);

#endif
