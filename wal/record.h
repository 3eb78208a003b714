/*
 * record.h - the records of the write-ahead log and their byte encoding.
 *
 * A WAL frame's payload is a sequence of records; a frame is applied all
 * or nothing, so a multi-record change (Delete + DelKey, a rename over a
 * target, snapshot + trim) is written as one frame.  Every record is
 *
 *   offset size field
 *   0      1    type (enum wal_rec_type)
 *   1      4    body length B (little-endian)
 *   5      B    body, fields little-endian in the order listed below
 *
 * Bodies (u64 unless noted; "name" is u16 length + bytes; "meta" is
 * mode u32, uid u32, gid u32, mtime_ns i64, ctime_ns i64 = 28 bytes):
 *
 *   APPEND      id, seq, offset, mtime_ns i64, len u32, crc32c u32 of the
 *               bytes, bytes
 *   DELETE      id                      (drop the entries, free the space)
 *   TRIM        id, first_kept_seq       (drop entries with seq below it)
 *   MAPKEY      id, space_id, meta, name (a new document under a key)
 *   DELKEY      id                      (forget the document's key)
 *   META        id, meta                 (document or space)
 *   MKSPACE     id, meta, name
 *   RMSPACE     id
 *   RENAME      id, space_id, name (space_id 0: space id renamed)
 *   BACKUP      id, seq, time_ns i64     (cloud holds the entries to seq)
 *   TOMB_ADD    tomb_id, space name, key name (cloud copy to delete)
 *   TOMB_DEL    tomb_id
 *   TARGET      target id               (the cloud target backed up to; a
 *               different one makes every document pending again)
 *   SNAPSHOT_ADD lsn, time_ns i64, name (a named snapshot of the
 *               namespace as of frame lsn; 0: the frame holding it)
 *   SNAPSHOT_DEL name                    (the snapshot is dropped)
 *   PIN         id, space_id, from_lsn, to_lsn, seq, meta, name, n u32,
 *               then n x (seq, offset, len u32, crc u32): the state a node
 *               (space_id 0: a space) had from frame from_lsn until frame
 *               to_lsn changed it, kept for a snapshot (only after the
 *               OrganizationSnapshot of a log, written by its cut-over)
 *   NODE_LSN    id, lsn                  (the frame of the node's last
 *               change; likewise only after an OrganizationSnapshot)
 *   HIST_BASE   id, seq                  (the document's base: its
 *               entries before seq are kept only for its history;
 *               likewise only after an OrganizationSnapshot)
 *   EVICT       id, seq, size_bytes     (the document's entries freed: its
 *               content at seq is the cloud's copy; size_bytes is the
 *               size its content had; an APPEND at that same seq
 *               restores it)
 *   SNAP_BEGIN  next_id, next_tomb_id, capacity_bytes, then what the
 *               snapshot holds (u64 each): spaces (SNAP_SPACE records),
 *               docs (SNAP_DOC records), entries (the sum of their n),
 *               tombs (SNAP_TOMB records); replay checks them at SNAP_END
 *   SNAP_SPACE  id, meta, name
 *   SNAP_DOC    id, space_id, seq, backup_seq, backup_time_ns i64, meta,
 *               name, n u32, then n x (seq, offset, len u32, crc u32)
 *               (written by stores before entry times: its entries'
 *               times read back as 0, unknown)
 *   SNAP_DOC_T  the same, each entry followed by time_ns i64 (when its
 *               Append was made: n x 32 bytes); what a cut-over writes
 *   SNAP_TOMB   tomb_id, space name, key name
 *   SNAP_TARGET target id               (the target, no reset; absent in
 *               logs written before it existed: target 0, none known)
 *   SNAP_EVICT  id, seq, size_bytes     (after the document's SNAP_DOC,
 *               which holds no entries: it is evicted)
 *   SNAP_END    crc32c u32 of every snapshot record body before it, in
 *               order, and the record count u64
 *
 * An OrganizationSnapshot is SNAP_BEGIN, the SNAP_* records, SNAP_END,
 * spread over as many frames as needed; it only opens a log file.
 *
 * Decoding is bounds-checked: wal_rec_next() never reads past the payload
 * and returns -EBADMSG for any malformed record.  A decoded record is a
 * struct wal_rec whose union member, named after its kind, holds the
 * fields above by name.
 */
#ifndef WAL_RECORD_H
#define WAL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wal_rec_type {
	WAL_APPEND = 1,
	WAL_DELETE = 2,
	WAL_TRIM = 3,
	WAL_MAPKEY = 4,
	WAL_DELKEY = 5,
	WAL_META = 6,
	WAL_MKSPACE = 7,
	WAL_RMSPACE = 8,
	WAL_RENAME = 9,
	WAL_BACKUP = 10,
	WAL_TOMB_ADD = 11,
	WAL_TOMB_DEL = 12,
	WAL_TARGET = 13,
	WAL_SNAPSHOT_ADD = 14,
	WAL_SNAPSHOT_DEL = 15,
	WAL_PIN = 16,
	WAL_NODE_LSN = 17,
	WAL_HIST_BASE = 18,
	WAL_EVICT = 19,
	WAL_SNAP_BEGIN = 20,
	WAL_SNAP_SPACE = 21,
	WAL_SNAP_DOC = 22,
	WAL_SNAP_TOMB = 23,
	WAL_SNAP_END = 24,
	WAL_SNAP_TARGET = 25,
	WAL_SNAP_EVICT = 26,
	WAL_SNAP_DOC_T = 27,
};

#define WAL_REC_HDR 5
/* The bytes of an Append record start this far from the record's first
 * byte (header, then id, seq, offset, mtime_ns, len, crc). */
#define WAL_APPEND_BYTES_AT (WAL_REC_HDR + 40)
#define WAL_META_BYTES 28
#define WAL_NAME_MAX 255

struct wal_meta {
	uint32_t mode, uid, gid;
	int64_t mtime_ns, ctime_ns;
};

struct wal_ent {
	uint64_t seq, offset;
	uint32_t len, crc;
};

/* A name in a decoded record: len (1..WAL_NAME_MAX) bytes at p, no NUL
 * among them and none after (not NUL-terminated). */
struct wal_name {
	const char *p;
	uint16_t len;
};

/*
 * The decoded body of each record kind, fields named and in the order of
 * the table above.  Pointers (bytes, names, ents) point into the payload
 * given to wal_rec_next() and are valid as long as it is.
 */
struct wal_append { /* APPEND */
	uint64_t id, seq, offset;
	int64_t mtime_ns; /* 0: leave the document's times */
	uint32_t len, crc;
	const uint8_t *bytes;
};

struct wal_node_id { /* DELETE, DELKEY, RMSPACE */
	uint64_t id;
};

struct wal_trim { /* TRIM */
	uint64_t id, first_kept_seq;
};

struct wal_mapkey { /* MAPKEY */
	uint64_t id, space_id;
	struct wal_meta meta;
	struct wal_name key;
};

struct wal_setmeta { /* META */
	uint64_t id;
	struct wal_meta meta;
};

struct wal_space { /* MKSPACE, SNAP_SPACE */
	uint64_t id;
	struct wal_meta meta;
	struct wal_name name;
};

struct wal_rename { /* RENAME */
	uint64_t id, space_id;
	struct wal_name key;
};

struct wal_backup { /* BACKUP */
	uint64_t id, seq;
	int64_t time_ns;
};

struct wal_tomb { /* TOMB_ADD, SNAP_TOMB; TOMB_DEL carries tomb_id only */
	uint64_t tomb_id;
	struct wal_name space, key;
};

struct wal_target { /* TARGET, SNAP_TARGET */
	uint64_t target;
};

struct wal_evict { /* EVICT, SNAP_EVICT */
	uint64_t id, seq, size_bytes;
};

struct wal_snapshot { /* SNAPSHOT_ADD; SNAPSHOT_DEL carries name only */
	uint64_t lsn;
	int64_t time_ns;
	struct wal_name name;
};

struct wal_pin { /* PIN */
	uint64_t id, space_id, from_lsn, to_lsn, seq;
	struct wal_meta meta;
	struct wal_name name;
	uint32_t n; /* entries: wal_rec_pin_ent() decodes the i-th */
	const uint8_t *ents; /* n x 24 encoded entries */
};

struct wal_node_lsn { /* NODE_LSN */
	uint64_t id, lsn;
};

struct wal_snap_begin { /* SNAP_BEGIN */
	uint64_t next_id, next_tomb_id, capacity_bytes;
	uint64_t spaces, docs, entries, tombs; /* what the snapshot holds */
};

struct wal_snap_doc { /* SNAP_DOC, SNAP_DOC_T */
	uint64_t id, space_id, seq, backup_seq;
	int64_t backup_time_ns;
	struct wal_meta meta;
	struct wal_name key;
	uint32_t n; /* entries: wal_rec_ent() decodes the i-th */
	const uint8_t *ents; /* n x 24 encoded entries (SNAP_DOC_T: 32) */
	bool timed; /* SNAP_DOC_T: each entry carries its time */
};

struct wal_snap_end { /* SNAP_END */
	uint32_t crc; /* CRC-32C of the snapshot's record bodies */
	uint64_t count; /* and their number */
};

/* A decoded record: type says which member of the union holds it. */
struct wal_rec {
	enum wal_rec_type type;
	const uint8_t *body; /* the raw body (SNAP_END crc input) */
	uint32_t body_len;
	union {
		struct wal_append append;
		struct wal_node_id node; /* DELETE, DELKEY, RMSPACE */
		struct wal_trim trim;
		struct wal_mapkey mapkey;
		struct wal_setmeta meta;
		struct wal_space space; /* MKSPACE, SNAP_SPACE */
		struct wal_rename rename;
		struct wal_backup backup;
		struct wal_tomb tomb; /* TOMB_ADD, SNAP_TOMB, TOMB_DEL */
		struct wal_target target; /* TARGET, SNAP_TARGET */
		struct wal_evict evict; /* EVICT, SNAP_EVICT */
		struct wal_snapshot snapshot; /* SNAPSHOT_ADD, SNAPSHOT_DEL */
		struct wal_pin pin;
		struct wal_node_lsn node_lsn; /* NODE_LSN; HIST_BASE: lsn is
						 the seq */
		struct wal_snap_begin snap_begin;
		struct wal_snap_doc snap_doc; /* SNAP_DOC, SNAP_DOC_T */
		struct wal_snap_end snap_end;
	} u;
};

/* Decode the record at *pos in buf[0..len); advance *pos.  Returns 1 with
 * *r filled, 0 at the end of the buffer, -EBADMSG on malformed bytes. */
int wal_rec_next(const uint8_t *buf, size_t len, size_t *pos,
		 struct wal_rec *r);

/* The i-th entry of a decoded SNAP_DOC or SNAP_DOC_T record (i < d->n). */
void wal_rec_ent(const struct wal_snap_doc *d, uint32_t i, struct wal_ent *e);
/* Its time: SNAP_DOC_T's, 0 (unknown) for SNAP_DOC. */
int64_t wal_rec_ent_time(const struct wal_snap_doc *d, uint32_t i);

/* The i-th entry of a decoded PIN record (i < p->n). */
void wal_rec_pin_ent(const struct wal_pin *p, uint32_t i, struct wal_ent *e);

/*
 * Encoding into a growable buffer.  Each put returns 0, -ENOMEM, or
 * -ENAMETOOLONG for a name longer than WAL_NAME_MAX (never cut) or empty
 * (-EINVAL); a failed put leaves the buffer's previous contents intact.
 * Names are NUL-terminated C strings.
 */
struct wal_buf {
	uint8_t *p;
	size_t len, cap;
};

void wal_buf_init(struct wal_buf *b);
void wal_buf_release(struct wal_buf *b);
int wal_buf_reserve(struct wal_buf *b, size_t more);

int wal_put_append(struct wal_buf *b, uint64_t id, uint64_t seq,
		   uint64_t offset, int64_t mtime_ns, const void *data,
		   uint32_t len, uint32_t crc);
/* Set the seq and the offset of the Append record put at rec (by
 * wal_put_append): a large entry's record is encoded, bytes and all,
 * before its place is known (store/docs.c). */
void wal_append_place(uint8_t *rec, uint64_t seq, uint64_t offset);
int wal_put_id(struct wal_buf *b, enum wal_rec_type t, uint64_t id);
int wal_put_trim(struct wal_buf *b, uint64_t id, uint64_t first_kept_seq);
int wal_put_mapkey(struct wal_buf *b, uint64_t id, uint64_t space_id,
		   const struct wal_meta *m, const char *name);
int wal_put_meta(struct wal_buf *b, uint64_t id, const struct wal_meta *m);
int wal_put_mkspace(struct wal_buf *b, uint64_t id, const struct wal_meta *m,
		    const char *name);
int wal_put_rename(struct wal_buf *b, uint64_t id, uint64_t space_id,
		   const char *name);
int wal_put_backup(struct wal_buf *b, uint64_t id, uint64_t seq,
		   int64_t time_ns);
int wal_put_evict(struct wal_buf *b, enum wal_rec_type t, uint64_t id,
		  uint64_t seq, uint64_t size_bytes);
int wal_put_tomb_add(struct wal_buf *b, enum wal_rec_type t, uint64_t tomb_id,
		     const char *space, const char *key);
int wal_put_snap_begin(struct wal_buf *b, const struct wal_snap_begin *sb);
int wal_put_snap_space(struct wal_buf *b, uint64_t id, const struct wal_meta *m,
		       const char *name);
int wal_put_snap_doc(struct wal_buf *b, uint64_t id, uint64_t space_id,
		     uint64_t seq, uint64_t backup_seq, int64_t backup_time_ns,
		     const struct wal_meta *m, const char *name,
		     const struct wal_ent *ents, uint32_t n);
/* The same as SNAP_DOC_T: entry i with its time times[i] (times NULL:
 * all 0). */
int wal_put_snap_doc_t(struct wal_buf *b, uint64_t id, uint64_t space_id,
		       uint64_t seq, uint64_t backup_seq,
		       int64_t backup_time_ns, const struct wal_meta *m,
		       const char *name, const struct wal_ent *ents,
		       const int64_t *times, uint32_t n);
int wal_put_snapshot_add(struct wal_buf *b, uint64_t lsn, int64_t time_ns,
			 const char *name);
int wal_put_snapshot_del(struct wal_buf *b, const char *name);
int wal_put_pin(struct wal_buf *b, const struct wal_pin *pin, const char *name,
		const struct wal_ent *ents);
int wal_put_node_lsn(struct wal_buf *b, uint64_t id, uint64_t lsn);
int wal_put_hist_base(struct wal_buf *b, uint64_t id, uint64_t seq);
int wal_put_snap_end(struct wal_buf *b, uint32_t crc, uint64_t count);

const char *wal_rec_type_name(enum wal_rec_type t);

#endif
