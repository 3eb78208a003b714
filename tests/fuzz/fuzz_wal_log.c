/*
 * fuzz_wal_log.c - libFuzzer target: a whole log replayed by the store.
 *
 * The input becomes DIR/wal beside a valid, empty data file of 64 KiB in
 * a directory on tmpfs:
 *
 *   byte 0   flags: bit 0 FRAMES, bit 1 WRITABLE, bit 2 SEALED
 *   FRAMES clear: the rest is the log file, byte for byte (header and
 *            frame checksums as they come: the damage paths);
 *   FRAMES set: the rest is frames that are written with a valid header
 *            and valid checksums (so mutations reach the records), each
 *              u8 fflags, u32 length (little-endian), payload
 *            (a short last frame takes what remains); fflags bit 0
 *            writes a wrong checksum, bit 1 skips an LSN, bits 2-7 lower
 *            the frame's epoch by that much; with SEALED the header's
 *            sealed length (bytes 40..48) covers the first frame.
 *
 * Checks: store_fsck (read-only open: frame validation, damage
 * classification, replay of every record, snapshot checks, allocator
 * rebuild, then the fsck checks) never crashes; every entry a store that
 * opened holds lies inside the data file's map.  With WRITABLE also: a
 * read-only and a writable open agree on success and on the counts; a
 * store that opened writable (recovery: torn tail saved and truncated)
 * and closed (checkpoint: a new snapshot) reopens with the same counts.
 *
 * Built with -DFUZZ_SEED_MAIN instead, this file is the program that
 * writes the seed corpora from real logs:
 *   fuzz_wal_log_seeds WAL_CORPUS_DIR SNAPSHOT_CORPUS_DIR
 */
#include "store/evict.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/log.h"

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
#define F_FRAMES 1
#define F_WRITABLE 2
#define F_SEALED 4

/* ---- writing logs and data files in their documented formats ---- */

struct obuf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct obuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static uint32_t log_seed(uint64_t gen, uint64_t salt)
{
	uint8_t b[16];

	le64_put(b, gen);
	le64_put(b + 8, salt);
	return crc32c(b, sizeof(b));
}

static void log_header(struct obuf *b, uint64_t gen, uint64_t salt,
		       uint64_t first_lsn, uint64_t sealed)
{
	uint8_t h[LOG_HDR];

	memset(h, 0, sizeof(h));
	memcpy(h, "CRVNWAL", 8);
	le32_put(h + 8, 1);
	le32_put(h + 12, LOG_HDR);
	le64_put(h + 16, gen);
	le64_put(h + 24, salt);
	le64_put(h + 32, first_lsn);
	le64_put(h + 40, sealed);
	le32_put(h + 60, crc32c(h, 60));
	put(b, h, sizeof(h));
}

static void log_frame(struct obuf *b, uint32_t seed, uint64_t lsn,
		      uint64_t epoch, const void *payload, size_t len,
		      bool bad_crc)
{
	uint8_t h[FRAME_HDR];
	uint32_t crc;

	le32_put(h, FRAME_MAGIC);
	le32_put(h + 4, (uint32_t)len);
	le64_put(h + 8, lsn);
	le64_put(h + 16, epoch);
	le32_put(h + 24, 0);
	crc = crc32c_extend(seed, h, 28);
	crc = crc32c_extend(crc, payload, len);
	le32_put(h + 28, bad_crc ? ~crc : crc);
	put(b, h, sizeof(h));
	put(b, payload, len);
}

static int write_file(const char *dir, const char *name, const void *p,
		      size_t len)
{
	char path[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	n = len ? write(fd, p, len) : 0;
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static void write_data_file(const char *dir)
{
	static uint8_t page[DATA_HDR_BYTES + CAPACITY];

	memset(page, 0, sizeof(page));
	memcpy(page, "CRVNDATA", 8);
	le32_put(page + 8, 1);
	le32_put(page + 12, DATA_HDR_BYTES);
	le64_put(page + 16, CAPACITY);
	le32_put(page + 60, crc32c(page, 60));
	if (write_file(dir, "data", page, sizeof(page)))
		abort();
}

static void clear_dir(const char *dir)
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

/* ---- the target ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static FILE *devnull;

static void remove_dir(void)
{
	clear_dir(dir);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/dev/shm/caravan-fuzz-log-%d",
		 (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		abort();
	atexit(remove_dir);
	devnull = fopen("/dev/null", "w");
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

/* Build the log the input describes. */
static void build_log(const uint8_t *data, size_t size, struct obuf *b)
{
	uint64_t lsn = 1, gen = 3, salt = 0x5eed;
	uint32_t seed = log_seed(gen, salt);
	size_t pos = 1;

	if (!(data[0] & F_FRAMES)) {
		put(b, data + 1, size - 1);
		return;
	}
	log_header(b, gen, salt, lsn, 0);
	while (pos < size) {
		uint8_t ff = data[pos++];
		uint32_t len = 0;
		uint64_t down = ff >> 2;

		if (size - pos >= 4) {
			len = le32_get(data + pos);
			pos += 4;
		}
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		if (ff & 2)
			lsn++;
		log_frame(b, seed, lsn, lsn > down ? lsn - down : 1, data + pos,
			  len, ff & 1);
		pos += len;
		lsn++;
		if ((data[0] & F_SEALED) && lsn == 2) {
			/* the sealed length covers the first frame */
			le64_put(b->p + 40, b->len);
			le32_put(b->p + 60, crc32c(b->p, 60));
		}
	}
}

static void opts(struct store_options *o, bool read_only)
{
	store_options_default(o);
	o->commit_ms = 0;
	o->read_only = read_only;
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

static void counts(struct store *s, uint64_t c[3])
{
	struct store_stats st;

	store_stats(s, &st);
	c[0] = st.spaces;
	c[1] = st.documents;
	c[2] = st.entries;
}

static void round_trip(void)
{
	struct store_options o;
	struct store *s;
	uint64_t a[3] = { 0 }, b[3] = { 0 }, c[3] = { 0 };
	int ro, rw, rc;

	opts(&o, true);
	ro = store_open(dir, &o, &s);
	if (ro == 0) {
		counts(s, a);
		store_close(s);
	}
	opts(&o, false);
	rw = store_open(dir, &o, &s);
	if ((ro == 0) != (rw == 0))
		abort(); /* the two opens disagree */
	if (rw)
		return;
	check_index(s);
	counts(s, b);
	if (memcmp(a, b, sizeof(a)))
		abort();
	rc = store_close(s);
	if (rc)
		return;
	opts(&o, true);
	if (store_open(dir, &o, &s))
		abort(); /* a store closed cleanly does not reopen */
	check_index(s);
	counts(s, c);
	store_close(s);
	if (memcmp(b, c, sizeof(b)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obuf b = { 0 };

	if (size < 1)
		return 0;
	build_log(data, size, &b);
	clear_dir(dir);
	write_data_file(dir);
	if (write_file(dir, "wal", b.p, b.len))
		abort();
	free(b.p);
	store_fsck(dir, devnull);
	if (data[0] & F_WRITABLE) {
		round_trip();
	} else {
		struct store_options o;
		struct store *s;

		opts(&o, true);
		if (store_open(dir, &o, &s) == 0) {
			check_index(s);
			store_close(s);
		}
	}
	return 0;
}

#ifdef FUZZ_SEED_MAIN

/* ---- the seed corpora, from the logs of a real workload ---- */

static const struct store_meta M = { 0644, 1, 2, 3, 4 };
static int nseeds;

static void seed_file(const char *out, const char *kind, uint8_t flags,
		      const void *p, size_t len)
{
	struct obuf b = { 0 };
	char name[64];

	if (flags != 0xff)
		put(&b, &flags, 1);
	put(&b, p, len);
	snprintf(name, sizeof(name), "%s-%03d", kind, nseeds++);
	if (write_file(out, name, b.p, b.len))
		abort();
	free(b.p);
}

static uint8_t *read_log(const char *store, size_t *len)
{
	char path[512];
	struct stat st;
	uint8_t *p;
	int fd;

	snprintf(path, sizeof(path), "%s/wal", store);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	p = malloc((size_t)st.st_size);
	if (!p || read(fd, p, (size_t)st.st_size) != st.st_size)
		abort();
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* Seeds from the log as it is now: the raw file (read-only and
 * writable), its frames re-encoded (a few with damage), and every frame
 * payload for the snapshot corpus. */
static void harvest(const char *store, const char *walc, const char *snapc,
		    bool payloads)
{
	size_t len, pos = LOG_HDR;
	uint8_t *log = read_log(store, &len);
	struct obuf fr = { 0 }, torn = { 0 };
	int i = 0;

	seed_file(walc, "raw", 0, log, len);
	seed_file(walc, "raw", F_WRITABLE, log, len);
	seed_file(walc, "torn", F_WRITABLE, log, len - len / 7);
	while (pos + FRAME_HDR <= len) {
		uint32_t n = le32_get(log + pos + 4);
		uint8_t ff = 0, lb[4];

		if (n > len - pos - FRAME_HDR)
			break;
		le32_put(lb, n);
		put(&fr, &ff, 1);
		put(&fr, lb, 4);
		put(&fr, log + pos + FRAME_HDR, n);
		ff = (uint8_t)(i == 2 ? 1 : 0);
		put(&torn, &ff, 1);
		put(&torn, lb, 4);
		put(&torn, log + pos + FRAME_HDR, n);
		if (payloads)
			seed_file(snapc, i == 0 ? "snap" : "payload", 0xff,
				  log + pos + FRAME_HDR, n);
		pos += FRAME_HDR + n;
		i++;
	}
	seed_file(walc, "frames", F_FRAMES | F_WRITABLE, fr.p, fr.len);
	seed_file(walc, "frames", F_FRAMES, fr.p, fr.len);
	seed_file(walc, "frames-bad", F_FRAMES | F_WRITABLE, torn.p, torn.len);
	seed_file(walc, "frames-sealed", F_FRAMES | F_WRITABLE | F_SEALED,
		  torn.p, torn.len);
	free(fr.p);
	free(torn.p);
	free(log);
}

static void must(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "seeds: %s: %s\n", what, strerror(-rc));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char store[] = "/dev/shm/caravan-seeds-XXXXXX";
	struct store_options o;
	struct store *s;
	uint64_t sp, sp2, a, b, c, d;
	char buf[700];
	struct store_import_entry ie[2] = { { "imported-1", 10 },
					    { "imported-2", 10 } };

	if (argc != 3) {
		fprintf(stderr, "usage: %s WAL_CORPUS SNAPSHOT_CORPUS\n",
			argv[0]);
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	if (!mkdtemp(store))
		abort();
	store_options_default(&o);
	o.capacity_bytes = CAPACITY;
	o.cutover_bytes = 1u << 30;
	o.commit_ms = 0;
	must(store_open(store, &o, &s), "open");
	must(store_space_create(s, "sp", &M, &sp, NULL), "space");
	must(store_space_create(s, "sp2", &M, &sp2, NULL), "space");
	must(store_doc_create(s, sp, "a", &M, &a, NULL), "create");
	must(store_doc_create(s, sp, "b", &M, &b, NULL), "create");
	must(store_doc_create(s, sp2, "c", &M, &c, NULL), "create");
	for (int i = 0; i < 12; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		must(store_append(s,
				  i % 3 == 0   ? a
				  : i % 3 == 1 ? b
					       : c,
				  buf, (size_t)(i * 53 % 700), NULL, NULL),
		     "append");
	}
	must(store_sync(s, 0), "sync");
	harvest(store, argv[1], argv[2], true);
	must(store_trim(s, a, 1, NULL), "trim");
	must(store_append_replace(s, b, "{}", 2, 4, NULL, NULL), "replace");
	must(store_backup_mark(s, c, 4, 99), "backup");
	must(store_meta_set(s, a, &M, NULL), "meta");
	must(store_doc_rename(s, a, sp2, "c", 0, NULL), "rename over");
	must(store_doc_create(s, sp, "d", &M, &d, NULL), "create");
	must(store_append_batch(s, d, ie, 2, NULL, NULL), "batch");
	must(store_backup_mark(s, d, 2, 77), "backup");
	must(store_doc_delete(s, d, NULL), "delete (tombstone)");
	must(store_meta_set(s, STORE_ROOT_ID, &M, NULL), "root meta");
	must(store_import(s, "sp3", "imp", &M, ie, 2, 7, NULL, NULL), "import");
	must(store_doc_create_evicted(s, "sp4", "lazy", &M, 5, 10, NULL, NULL),
	     "create evicted");
	must(store_sync(s, 0), "sync");
	harvest(store, argv[1], argv[2], false);
	/* a checkpoint: the new log opens with a full snapshot (spaces,
	 * documents with entries, tombstones) */
	must(store_checkpoint(s), "checkpoint");
	must(store_append(s, b, "after", 5, NULL, NULL), "append");
	must(store_doc_delete(s, b, NULL), "delete");
	must(store_space_create(s, "gone", &M, NULL, NULL), "space");
	must(store_space_remove(s, "gone", NULL), "rmspace");
	must(store_sync(s, 0), "sync");
	harvest(store, argv[1], argv[2], true);
	must(store_close(s), "close");
	harvest(store, argv[1], argv[2], true);
	printf("seeds: %d files\n", nseeds);
	clear_dir(store);
	rmdir(store);
	return 0;
}

#endif
