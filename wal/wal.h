/*
 * wal.h - the write-ahead log: frames, group commit, replay, cut-over.
 *
 * A log is one file, DIR/wal.  It holds a header and a sequence of frames;
 * each frame carries an opaque payload (a sequence of records, see
 * record.h) and is applied all or nothing.  Frames are numbered by a log
 * sequence number (LSN) that grows by one per frame and continues across
 * cut-overs.
 *
 * Writers call wal_append() (copies the payload into memory, returns the
 * frame's LSN) and, when they need durability, wal_sync(lsn) (blocks) or
 * wal_notify(lsn, fn, arg) (fn is called when it is durable).  One flush
 * at a time writes and fdatasyncs everything pending for every waiter of
 * either kind (group commit); a background committer does the same every
 * commit_ms.
 *
 * Fail-stop: the first failed write, fdatasync, fsync or rename makes the
 * log refuse every later mutation with that error, and every waiter gets
 * it.  A sync is never retried.
 *
 * Thread-safety: all functions may be called concurrently, except that
 * wal_cutover(), wal_cutover_begin() and wal_cutover_fork_begin() require
 * that no wal_append() runs at the same time (the store holds its write
 * lock), one cut-over runs at a time and its finish is called by the
 * thread that began it, and wal_close() is called once, last, with no
 * cut-over in progress.
 */
#ifndef WAL_WAL_H
#define WAL_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wal;

struct wal_options {
	uint32_t commit_ms; /* background commit interval; 0: no committer */
	bool read_only; /* replay only: never write, truncate or lock */
	size_t buffer_bytes; /* write pending frames out past this size */
	/* With a committer: wal_append never waits for room nor writes in
	 * its caller's thread (the caller holds a lock others need); the
	 * caller pushes back on itself with wal_throttle() once it let go
	 * of it. */
	bool throttle_apart;
};

/* Called for every valid frame at open, in LSN order.  The payload is
 * valid during the call only.  A negative return aborts the open with
 * that error. */
typedef int (*wal_frame_fn)(void *arg, uint64_t lsn, const uint8_t *payload,
			    size_t len);

/* Open DIR/wal and replay it through fn.  A torn tail (a damaged frame
 * after which no frame of an already-synced batch follows) is copied to
 * DIR/wal.damaged.<lsn>, reported, truncated away and fsync'd.  Damage
 * followed by frames written after a successful sync is corruption:
 * -EBADMSG with a log line, nothing changed.  -ENOENT when there is no
 * log.  On success *out owns the log (wal_close). */
int wal_open(const char *dir, const struct wal_options *o, wal_frame_fn fn,
	     void *arg, struct wal **out);

/* Create a new log in DIR whose first frames come from snap (see
 * wal_cutover), replacing any log there, and open it. */
struct wal_snap;
typedef int (*wal_snap_fn)(void *arg, struct wal_snap *sn);
int wal_create(const char *dir, const struct wal_options *o, wal_snap_fn snap,
	       void *arg, struct wal **out);

/* Queue one frame; *lsn receives its LSN.  Returns 0 or the sticky error
 * (-ENOMEM leaves the log usable). */
int wal_append(struct wal *w, const void *payload, size_t len, uint64_t *lsn);

/* A run of payload bytes whose CRC-32C the caller computed already. */
struct wal_span {
	size_t off, len;
	uint32_t crc; /* crc32c(payload + off, len) */
};

/* wal_append, with the frame's CRC continued over each span's bytes with
 * its crc instead of reading them again (wal/crc.c): one CRC pass over
 * an Append's bytes instead of two.  The frame is the same to the bit.
 * Spans are in payload order, disjoint and inside it (else -EINVAL,
 * nothing queued); each crc must be crc32c of its bytes: a wrong one
 * makes a frame that replay rejects as damaged (a debug build checks
 * every one). */
int wal_append_spans(struct wal *w, const void *payload, size_t len,
		     const struct wal_span *sp, size_t nsp, uint64_t *lsn);

/* wal_append_spans in two steps, for a large payload whose copy should
 * hold nobody up.  _reserve frames it under the log's lock (its LSN, its
 * header and CRC, read from payload, which must hold the final bytes
 * already) and makes room for it among the pending frames, copying
 * nothing; _fill copies the payload into that room holding no lock.  The
 * frame counts as appended from _reserve on (its LSN orders it), but no
 * flush, cut-over or growth of the pending buffer goes past it until it
 * is filled: a wal_sync, a flush or another append that must grow the
 * buffer waits for the fill.  So the caller fills every slot it
 * reserved, soon and exactly once, and calls no wal_sync, wal_throttle
 * or cut-over in between (it would wait for itself); it may hold its own
 * locks meanwhile, as long as the fill needs none of them.  _reserve
 * fails like wal_append_spans, leaving nothing to fill. */
struct wal_slot {
	uint8_t *dst; /* where the payload goes; NULL: nothing to fill */
	size_t len;
};
int wal_append_reserve(struct wal *w, const void *payload, size_t len,
		       const struct wal_span *sp, size_t nsp, uint64_t *lsn,
		       struct wal_slot *slot);
void wal_append_fill(struct wal *w, struct wal_slot *slot, const void *payload);

/* crc32c_extend(crc, B) for bytes B of length len whose crc32c is b_crc,
 * without B (wal/crc.c); _sw is the portable path, which wal_crc_skip
 * takes on CPUs without carry-less multiplication. */
uint32_t wal_crc_skip(uint32_t crc, uint32_t b_crc, uint64_t len);
uint32_t wal_crc_skip_sw(uint32_t crc, uint32_t b_crc, uint64_t len);

/* The push back of wal_append (options.throttle_apart): while the frames
 * waiting to be written pass 8 x buffer_bytes (the disk is slower than
 * the writers), write them out or wait for the write in progress.  The
 * push back falls on whoever brings the bytes: a caller whose change
 * logged fewer than buffer_bytes / 64 (bytes: its frames' length) waits
 * only past 16 x buffer_bytes, so a small change does not wait behind the
 * disk write of a large one's frames (the large writer, held at 8 x,
 * keeps the buffer under that unless the small ones themselves outrun the
 * disk).  Call it holding no lock that a writer needs. */
void wal_throttle(struct wal *w, size_t bytes);
/* Wait until frame lsn (0: every frame so far) is durable.  Returns 0
 * or the sticky error.  With nobody flushing, the caller flushes. */
int wal_sync(struct wal *w, uint64_t lsn);

/* Durability notification.  fn(arg, rc) is called exactly once: with rc
 * 0 when frame lsn (0: every frame so far) is durable, or with the sticky
 * error when the log failed first (also for a registration made after
 * the failure).  Returns 0, or -ENOMEM: nothing registered, fn is never
 * called.  Call it holding no lock that fn takes.
 *
 * When lsn is already durable (or the log failed), fn runs before
 * wal_notify returns.  With no flush running, the caller flushes at once
 * in its own thread and fn runs before wal_notify returns, unless the
 * last flush satisfied more callbacks than now wait: then the committer
 * gathers them (up to half a flush), flushes, and calls them.  Otherwise
 * fn runs later, without the log's lock, in the thread that completed
 * the flush covering lsn when that is a wal_notify caller or the
 * committer, else (a thread in wal_sync, wal_append or a cut-over, which
 * may hold its caller's locks) in the committer.  fn may call into the
 * log (but not wal_close), should not block for long, and its arg must
 * stay valid until it runs.  Callbacks never run concurrently, and run
 * in the order their frames became durable (within one flush in LSN
 * order, then registration order).
 *
 * Without a committer (commit_ms 0) there is no thread to deliver from
 * but the caller's: wal_notify is wal_sync(lsn) followed by the call. */
typedef void (*wal_notify_fn)(void *arg, int rc);
int wal_notify(struct wal *w, uint64_t lsn, wal_notify_fn fn, void *arg);

/* The highest durable LSN, and the LSN the next frame will get. */
uint64_t wal_durable_lsn(struct wal *w);
uint64_t wal_next_lsn(struct wal *w);

/* Bytes in the log file plus pending frames. */
uint64_t wal_size(struct wal *w);
/* Flushes (fdatasyncs) done since open. */
uint64_t wal_flushes(struct wal *w);

/* The sticky error, or 0. */
int wal_error(struct wal *w);

/*
 * Cut-over: make everything pending durable, then write a new log to
 * DIR/wal.tmp that starts with the frames emitted by snap (an
 * OrganizationSnapshot), fdatasync it, rename it over DIR/wal and fsync
 * DIR.  The caller must have made the data file durable (msync) before
 * the fdatasync, and must not append while snap runs.  Any failure but
 * -ENOMEM is sticky (fail-stop).
 *
 * In two steps, so that appends need not wait for the sync and rename:
 * wal_cutover_begin() flushes the log, writes wal.tmp (unsynced) and
 * switches the log to it; from its return, wal_append() is accepted again
 * and the frames queue behind the snapshot's, durable only after the
 * finish (a wal_sync() meanwhile waits).  wal_cutover_finish(w, 0) then
 * seals wal.tmp and puts it in place; wal_cutover_finish(w, err) with the
 * caller's error (its msync failed) abandons the new file and fails the
 * log with err.  Every successful begin must be followed by one finish.
 * A begin that finds a frame appended after its own flush changes
 * nothing and returns -EBUSY (the caller let an append run).
 * wal_cutover() is both steps at once.
 *
 * Inside snap, call wal_snap_frame() for each payload to write.
 */
int wal_cutover(struct wal *w, wal_snap_fn snap, void *arg);
int wal_cutover_begin(struct wal *w, wal_snap_fn snap, void *arg);
int wal_cutover_finish(struct wal *w, int err);
int wal_snap_frame(struct wal_snap *sn, const void *payload, size_t len);

/*
 * Cut-over from a forked writer: the snapshot is written by a child
 * process that sees the index as of one LSN while appends go on into the
 * current log.  Three steps:
 *   wal_cutover_fork_begin(w, &c), with no wal_append() running (the
 *     store holds its write lock): opens DIR/wal.tmp and notes the last
 *     LSN L so far and where frame L+1 will be in the current file;
 *   wal_cutover_child(c, snap, arg), in a child forked right after
 *     (nothing of the log's state is touched, no lock taken, nothing
 *     logged): writes snap's frames, numbered so that the last is L,
 *     and fdatasyncs them.  -ERANGE when L is smaller than the number of
 *     frames (the caller cuts over the ordinary way);
 *   wal_cutover_fork_finish(w, c, err), in the parent once the child has
 *     ended (err: its failure, or the caller's msync failure; the data
 *     file must be durable first, as for wal_cutover): copies the frames
 *     after L from the current file into the new one (re-checksummed for
 *     the new file), switches appends to it, then seals it like
 *     wal_cutover_finish.  A failure after the switch (copy, seal) fails
 *     the log.  With err, or when a copy before the switch fails, the
 *     new file is abandoned, the log goes on unchanged and the error is
 *     returned.  On success *snap_bytes (may be NULL) is the size of the
 *     child's frames.  Frees c.
 * A crash before the seal's rename recovers the old log, which holds
 * every frame; after it, the new log holds the snapshot and every frame
 * after L.
 */
struct wal_cut;
int wal_cutover_fork_begin(struct wal *w, struct wal_cut **out);
int wal_cutover_child(struct wal_cut *c, wal_snap_fn snap, void *arg);
int wal_cutover_fork_finish(struct wal *w, struct wal_cut *c, int err,
			    uint64_t *snap_bytes);

/* Stop the committer, make everything durable, close.  Returns the
 * sticky error or 0.  Accepts NULL. */
int wal_close(struct wal *w);

#endif
