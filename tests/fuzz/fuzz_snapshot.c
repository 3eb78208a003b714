/*
 * fuzz_snapshot.c - libFuzzer target: the OrganizationSnapshot (SNAP_*
 * records) through store replay, and the snapshot writer after it.
 *
 * The input is the payload of the first frame of a log.  Before writing
 * the log (valid header, valid frame checksum) beside a valid, empty
 * 64 KiB data file on tmpfs, the target recomputes the checksum and the
 * record count carried by every SNAP_END from the SNAP_* records before
 * it, so mutations get past the snapshot's own check into apply_snap().
 *
 * Checks: store_fsck never crashes; every entry an open store holds lies
 * inside the data file's map; a read-only and a writable open agree;
 * a store that opened writable closes (checkpoint: the snapshot writer
 * encodes the state again) and reopens holding the same namespace (names,
 * sequence numbers, entry counts and bytes, backup state, metadata).
 *
 * Seeds: tests/fuzz/corpus/snapshot (frame payloads of real logs).
 */
#include "store/store.h"
#include "store/store_internal.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/log.h"
#include "wal/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_HDR 64
#define FRAME_HDR 32
#define FRAME_MAGIC 0xC0A1F4A3u
#define DATA_HDR_BYTES 4096
#define CAPACITY (64u << 10)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static FILE *devnull;

static void clear_dir(void);

static void remove_dir(void)
{
	clear_dir();
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/dev/shm/caravan-fuzz-snap-%d",
		 (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		abort();
	atexit(remove_dir);
	devnull = fopen("/dev/null", "w");
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

/* Make every SNAP_END carry the checksum and count of the SNAP_* records
 * from the SNAP_BEGIN before it. */
static void fix_snap_end(uint8_t *p, size_t len)
{
	struct wal_rec r;
	size_t pos = 0;
	uint32_t crc = 0;
	uint64_t count = 0;
	bool in = false;

	while (wal_rec_next(p, len, &pos, &r) == 1) {
		if (r.type == WAL_SNAP_BEGIN) {
			in = true;
			crc = 0;
			count = 0;
		}
		if (!in)
			continue;
		if (r.type == WAL_SNAP_END) {
			uint8_t *body = p + (r.body - p);

			le32_put(body, crc);
			le64_put(body + 4, count);
			in = false;
			continue;
		}
		if (r.type >= WAL_SNAP_BEGIN) {
			crc = crc32c_extend(crc, r.body, r.body_len);
			count++;
		}
	}
}

static int write_file(const char *name, const void *p, size_t len)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	n = len ? write(fd, p, len) : 0;
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void write_store(const uint8_t *payload, size_t len)
{
	static uint8_t data[DATA_HDR_BYTES + CAPACITY];
	uint64_t gen = 7, salt = 0xabcdef;
	uint8_t *log = malloc(LOG_HDR + FRAME_HDR + len), sb[16], *h, *f;
	uint32_t seed, crc;

	if (!log)
		abort();
	memset(data, 0, sizeof(data));
	memcpy(data, "CRVNDATA", 8);
	le32_put(data + 8, 1);
	le32_put(data + 12, DATA_HDR_BYTES);
	le64_put(data + 16, CAPACITY);
	le32_put(data + 60, crc32c(data, 60));
	h = log;
	memset(h, 0, LOG_HDR);
	memcpy(h, "CRVNWAL", 8);
	le32_put(h + 8, 1);
	le32_put(h + 12, LOG_HDR);
	le64_put(h + 16, gen);
	le64_put(h + 24, salt);
	le64_put(h + 32, 1);
	/* the snapshot frame is sealed (written before the log was renamed
	 * into place); logs without the field read it as 0 */
	le64_put(h + 40, LOG_HDR + FRAME_HDR + len);
	le32_put(h + 60, crc32c(h, 60));
	le64_put(sb, gen);
	le64_put(sb + 8, salt);
	seed = crc32c(sb, sizeof(sb));
	f = log + LOG_HDR;
	le32_put(f, FRAME_MAGIC);
	le32_put(f + 4, (uint32_t)len);
	le64_put(f + 8, 1);
	le64_put(f + 16, 1);
	le32_put(f + 24, 0);
	if (len)
		memcpy(f + FRAME_HDR, payload, len);
	crc = crc32c_extend(seed, f, 28);
	crc = crc32c_extend(crc, f + FRAME_HDR, len);
	le32_put(f + 28, crc);
	clear_dir();
	if (write_file("data", data, sizeof(data)) ||
	    write_file("wal", log, LOG_HDR + FRAME_HDR + len))
		abort();
	free(log);
}

/* Every entry the index holds lies in the map: readers are handed
 * s->map + off (an empty entry may sit at offset 0). */
static void check_index(struct store *s)
{
	size_t pos = 0;
	void *v;

	while (node_next(s, &pos, NULL, &v)) {
		struct node *n = v;

		for (uint32_t k = 0; k < n->nent; k++) {
			const struct ent *e = &n->ents[k];

			if (e->len == 0 && e->off == 0)
				continue;
			if (e->off < DATA_HDR || e->off > s->map_len ||
			    e->len > s->map_len - e->off)
				abort();
		}
	}
}

/* ---- a digest of the whole namespace ---- */

struct digest {
	struct store *s;
	uint32_t crc;
	uint64_t n;
};

static void mix(struct digest *d, const void *p, size_t len)
{
	d->crc = crc32c_extend(d->crc, p, len);
}

static int doc_fn(void *arg, uint64_t id, const char *name)
{
	struct digest *d = arg;
	struct store_doc_info i;

	mix(d, name, strlen(name) + 1);
	if (store_doc_info(d->s, id, &i))
		abort();
	mix(d, &i.seq, sizeof(i.seq));
	mix(d, &i.entries, sizeof(i.entries));
	mix(d, &i.stored_bytes, sizeof(i.stored_bytes));
	mix(d, &i.backup_seq, sizeof(i.backup_seq));
	mix(d, &i.backup_time_ns, sizeof(i.backup_time_ns));
	mix(d, &i.meta.mode, sizeof(i.meta.mode));
	mix(d, &i.meta.mtime_ns, sizeof(i.meta.mtime_ns));
	d->n++;
	return 0;
}

static int space_fn(void *arg, uint64_t id, const char *name)
{
	struct digest *d = arg;

	mix(d, name, strlen(name) + 1);
	if (store_doc_list(d->s, id, 0, doc_fn, d))
		abort();
	return 0;
}

static int tomb_fn(void *arg, uint64_t id, const char *space, const char *key)
{
	struct digest *d = arg;

	mix(d, &id, sizeof(id));
	mix(d, space, strlen(space) + 1);
	mix(d, key, strlen(key) + 1);
	return 0;
}

static uint64_t digest(struct store *s)
{
	struct digest d = { s, 0, 0 };

	if (store_space_list(s, 0, space_fn, &d) ||
	    store_tombstone_list(s, tomb_fn, &d))
		abort();
	return (uint64_t)d.crc << 32 ^ d.n;
}

static void opts(struct store_options *o, bool read_only)
{
	store_options_default(o);
	o->commit_ms = 0;
	o->read_only = read_only;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_options o;
	struct store *s;
	uint64_t a = 0, b, c;
	uint8_t *p = malloc(size ? size : 1);
	int ro, rw;

	if (!p)
		abort();
	if (size)
		memcpy(p, data, size);
	fix_snap_end(p, size);
	write_store(p, size);
	free(p);
	store_fsck(dir, devnull);

	opts(&o, true);
	ro = store_open(dir, &o, &s);
	if (ro == 0) {
		check_index(s);
		a = digest(s);
		store_close(s);
	}
	opts(&o, false);
	rw = store_open(dir, &o, &s);
	if ((ro == 0) != (rw == 0))
		abort(); /* the two opens disagree */
	if (rw)
		return 0;
	check_index(s);
	b = digest(s);
	if (a != b)
		abort();
	if (store_close(s))
		return 0;
	opts(&o, true);
	if (store_open(dir, &o, &s))
		abort(); /* the snapshot it wrote does not open */
	check_index(s);
	c = digest(s);
	store_close(s);
	if (b != c)
		abort(); /* the snapshot lost or changed something */
	return 0;
}
