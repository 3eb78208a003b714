/*
 * check_store_snapshot.c - named snapshots of the store's namespace
 * (store/snapshot.h).
 *
 * The oracle: a seeded random workload (spaces made, renamed, removed;
 * documents made, appended to, trimmed, compacted, renamed over others,
 * deleted; metadata changed; cut-overs) takes snapshots at random points
 * and records the namespace as the live store shows it at that moment
 * (a canonical text: one line per space and per document with its mode,
 * mtime, seq and every entry).  Every snapshot read back must give the
 * same text: while the workload goes on, after a clean close and reopen,
 * and after the process is killed (SIGKILL, no close) and the store
 * recovered.  fsck must be clean throughout (the entries snapshots keep
 * are accounted), and deleting every snapshot frees all they kept.
 *
 * Entry times (store_entry_times): each entry keeps the time its append
 * was made, set by the test's clock, through cut-overs, a reopen and a
 * kill; an index written before entry times existed (SNAP_DOC) opens
 * with those entries' times unknown (0) and the ones after it known.
 *
 * CARAVAN_SNAPSHOT_SEED (a number) moves every workload's seed, for
 * campaigns beyond the fixed ones make check runs.
 */
#include "store/evict.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "tests/testutil.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "wal/record.h"
#include "wal/wal.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSPACES 4
#define NKEYS 8
#define MAXSNAPS 12

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

static struct store *open_store(const char *dir)
{
	struct store_options o;
	struct store *s = NULL;

	store_options_default(&o);
	o.capacity_bytes = 256 << 10;
	o.cutover_bytes = 24 << 10; /* many cut-overs */
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	return s;
}

/* ---- canonical text of a namespace ---- */

struct text {
	char **lines;
	size_t n, cap;
};

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *l;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&l, fmt, ap), 0);
	va_end(ap);
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->lines = realloc(t->lines, t->cap * sizeof(*t->lines));
		ck_assert_ptr_nonnull(t->lines);
	}
	t->lines[t->n++] = l;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the lines and join them; frees t. */
static char *text_done(struct text *t)
{
	size_t len = 1, at = 0;
	char *out;

	if (t->n)
		qsort(t->lines, t->n, sizeof(*t->lines), cmp_line);
	for (size_t i = 0; i < t->n; i++)
		len += strlen(t->lines[i]) + 1;
	out = malloc(len);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < t->n; i++) {
		size_t l = strlen(t->lines[i]);

		memcpy(out + at, t->lines[i], l);
		out[at + l] = '\n';
		at += l + 1;
		free(t->lines[i]);
	}
	out[at] = '\0';
	free(t->lines);
	return out;
}

struct ents_text {
	char buf[8192];
	size_t len;
};

static int ent_text(void *arg, uint64_t seq, const void *p, size_t len)
{
	struct ents_text *e = arg;
	int n = snprintf(e->buf + e->len, sizeof(e->buf) - e->len,
			 " %" PRIu64 ":%.*s", seq, (int)len, (const char *)p);

	ck_assert(n > 0 && (size_t)n < sizeof(e->buf) - e->len);
	e->len += (size_t)n;
	return 0;
}

struct ids {
	uint64_t id[64];
	char name[64][STORE_NAME_MAX + 1];
	size_t n;
};

static int collect(void *arg, uint64_t id, const char *name)
{
	struct ids *v = arg;

	ck_assert_uint_lt(v->n, 64);
	v->id[v->n] = id;
	snprintf(v->name[v->n], sizeof(v->name[0]), "%s", name);
	v->n++;
	return 0;
}

static void info_line(struct text *t, const char *path,
		      const struct store_doc_info *in, const char *ents)
{
	if (in->is_space)
		text_add(t, "S %s %o %" PRId64, path, in->meta.mode,
			 in->meta.mtime_ns);
	else
		text_add(t, "D %s %o %" PRId64 " seq=%" PRIu64 " n=%u%s", path,
			 in->meta.mode, in->meta.mtime_ns, in->seq, in->entries,
			 ents);
}

/* The live namespace. */
static char *live_text(struct store *s)
{
	struct text t = { 0 };
	struct ids sp = { 0 };

	ck_assert_int_eq(store_space_list(s, 0, collect, &sp), 0);
	for (size_t i = 0; i < sp.n; i++) {
		struct ids docs = { 0 };
		struct store_doc_info in;

		ck_assert_int_eq(store_doc_info(s, sp.id[i], &in), 0);
		info_line(&t, sp.name[i], &in, "");
		ck_assert_int_eq(store_doc_list(s, sp.id[i], 0, collect, &docs),
				 0);
		for (size_t j = 0; j < docs.n; j++) {
			struct ents_text e = { .len = 0 };
			char path[600];

			e.buf[0] = '\0';
			ck_assert_int_eq(store_doc_info(s, docs.id[j], &in), 0);
			ck_assert_int_eq(
				store_read(s, docs.id[j], ent_text, &e), 0);
			snprintf(path, sizeof(path), "%s/%s", sp.name[i],
				 docs.name[j]);
			info_line(&t, path, &in, e.buf);
		}
	}
	return text_done(&t);
}

/* The namespace as of snapshot name. */
static char *snap_text(struct store *s, const char *name)
{
	struct text t = { 0 };
	struct ids sp = { 0 };

	ck_assert_int_eq(store_snapshot_names(s, name, 0, collect, &sp), 0);
	for (size_t i = 0; i < sp.n; i++) {
		struct ids docs = { 0 };
		struct store_doc_info in;
		uint64_t id;

		ck_assert_int_eq(
			store_snapshot_lookup(s, name, 0, sp.name[i], &id), 0);
		ck_assert_uint_eq(id, sp.id[i]);
		ck_assert_int_eq(store_snapshot_info(s, name, sp.id[i], &in),
				 0);
		ck_assert(in.is_space);
		info_line(&t, sp.name[i], &in, "");
		ck_assert_int_eq(store_snapshot_names(s, name, sp.id[i],
						      collect, &docs),
				 0);
		for (size_t j = 0; j < docs.n; j++) {
			struct ents_text e = { .len = 0 };
			char path[600];

			e.buf[0] = '\0';
			ck_assert_int_eq(
				store_snapshot_lookup(s, name, sp.id[i],
						      docs.name[j], &id),
				0);
			ck_assert_uint_eq(id, docs.id[j]);
			ck_assert_int_eq(store_snapshot_info(s, name,
							     docs.id[j], &in),
					 0);
			ck_assert(!in.is_space);
			ck_assert_uint_eq(in.space_id, sp.id[i]);
			ck_assert_int_eq(store_snapshot_read(s, name,
							     docs.id[j],
							     ent_text, &e),
					 0);
			snprintf(path, sizeof(path), "%s/%s", sp.name[i],
				 docs.name[j]);
			info_line(&t, path, &in, e.buf);
		}
	}
	return text_done(&t);
}

/* ---- the random workload ---- */

struct rec {
	char name[32];
	char *text; /* the namespace when it was taken; NULL: none */
};

struct run {
	struct store *s;
	unsigned seed;
	unsigned nsnap; /* snapshots taken (names) */
	struct rec snaps[MAXSNAPS];
	const char *dump_dir; /* write each record here (crash test) */
};

static unsigned seed_base(void)
{
	const char *e = getenv("CARAVAN_SNAPSHOT_SEED");

	return e ? (unsigned)strtoul(e, NULL, 10) : 0;
}

static unsigned rnd(struct run *r, unsigned n)
{
	return (unsigned)rand_r(&r->seed) % n;
}

static uint64_t pick_space(struct run *r, char *name)
{
	uint64_t id = 0;

	snprintf(name, 16, "s%u", rnd(r, NSPACES));
	if (store_space_lookup(r->s, name, &id))
		return 0;
	return id;
}

static uint64_t pick_doc(struct run *r, uint64_t *sp)
{
	char sname[16], key[16];
	uint64_t id = 0;

	*sp = pick_space(r, sname);
	if (!*sp)
		return 0;
	snprintf(key, sizeof(key), "k%u", rnd(r, NKEYS));
	if (store_doc_lookup(r->s, *sp, key, &id))
		return 0;
	return id;
}

static void record_write(struct run *r, const struct rec *c)
{
	char path[512], tmp[520];
	FILE *f;

	if (!r->dump_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", r->dump_dir, c->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(c->text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void record_forget(struct run *r, const struct rec *c)
{
	char path[512];

	if (!r->dump_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", r->dump_dir, c->name);
	ck_assert_int_eq(unlink(path), 0);
}

static void snap_take(struct run *r)
{
	struct rec *c = NULL;

	for (size_t i = 0; i < MAXSNAPS && !c; i++)
		if (!r->snaps[i].text)
			c = &r->snaps[i];
	if (!c)
		return;
	snprintf(c->name, sizeof(c->name), "snap-%u", r->nsnap++);
	c->text = live_text(r->s);
	ck_assert_int_eq(store_snapshot_create(r->s, c->name, NULL), 0);
	ck_assert_int_eq(store_snapshot_create(r->s, c->name, NULL), -EEXIST);
	record_write(r, c);
}

static void snap_drop(struct run *r)
{
	struct rec *c = &r->snaps[rnd(r, MAXSNAPS)];

	if (!c->text)
		return;
	record_forget(r, c);
	ck_assert_int_eq(store_snapshot_delete(r->s, c->name), 0);
	ck_assert_int_eq(store_snapshot_delete(r->s, c->name), -ENOENT);
	free(c->text);
	c->text = NULL;
}

static void check_all(struct run *r)
{
	for (size_t i = 0; i < MAXSNAPS; i++) {
		char *got;

		if (!r->snaps[i].text)
			continue;
		got = snap_text(r->s, r->snaps[i].name);
		ck_assert_msg(
			!strcmp(got, r->snaps[i].text),
			"snapshot %s differs:\n--- recorded\n%s--- read\n%s",
			r->snaps[i].name, r->snaps[i].text, got);
		free(got);
	}
}

static void step_op(struct run *r, unsigned g, unsigned op)
{
	struct store_meta m = { 0644, 0, 0, 0, 0 };
	char name[16], key[16], buf[64];
	uint64_t sp, id, seq;
	struct store_doc_info in;
	uint64_t *ids = NULL;
	size_t nids = 0;
	int len;

	m.mtime_ns = m.ctime_ns = 1000 + g;
	len = snprintf(buf, sizeof(buf), "g%u-%u", g, rnd(r, 1000));
	switch (op) {
	case 0:
		snprintf(name, sizeof(name), "s%u", rnd(r, NSPACES));
		store_space_create(r->s, name, &m, &id, NULL);
		break;
	case 1:
		snprintf(name, sizeof(name), "s%u", rnd(r, NSPACES));
		store_space_remove(r->s, name, NULL);
		break;
	case 2:
		pick_space(r, name);
		snprintf(key, sizeof(key), "s%u", rnd(r, NSPACES));
		store_space_rename(r->s, name, key, 0, &ids, &nids, NULL);
		free(ids);
		break;
	case 3:
	case 4:
		sp = pick_space(r, name);
		snprintf(key, sizeof(key), "k%u", rnd(r, NKEYS));
		if (sp)
			store_doc_create(r->s, sp, key, &m, &id, NULL);
		break;
	case 5:
	case 6:
	case 7:
	case 8:
		id = pick_doc(r, &sp);
		if (id)
			ck_assert_int_eq(store_append(r->s, id, buf,
						      (size_t)len, &seq, NULL),
					 0);
		break;
	case 9:
		id = pick_doc(r, &sp);
		if (id)
			ck_assert_int_eq(store_trim(r->s, id, rnd(r, 3), NULL),
					 0);
		break;
	case 10:
		id = pick_doc(r, &sp);
		if (id && !store_doc_info(r->s, id, &in))
			ck_assert_int_eq(
				store_append_replace(r->s, id, buf, (size_t)len,
						     in.seq, &seq, NULL),
				0);
		break;
	case 11:
		id = pick_doc(r, &sp);
		if (id)
			ck_assert_int_eq(store_doc_delete(r->s, id, NULL), 0);
		break;
	case 12:
		id = pick_doc(r, &sp);
		sp = pick_space(r, name);
		snprintf(key, sizeof(key), "k%u", rnd(r, NKEYS));
		if (id && sp)
			store_doc_rename(r->s, id, sp, key, 0, NULL);
		break;
	case 13:
		id = pick_doc(r, &sp);
		m.mode = 0600 | rnd(r, 0100);
		if (id)
			ck_assert_int_eq(store_meta_set(r->s, id, &m, NULL), 0);
		else if (sp)
			ck_assert_int_eq(store_meta_set(r->s, sp, &m, NULL), 0);
		break;
	case 14:
	case 15:
		snap_take(r);
		break;
	case 16:
		snap_drop(r);
		break;
	case 17:
		if (rnd(r, 4) == 0)
			ck_assert_int_eq(store_checkpoint(r->s), 0);
		break;
	default:
		check_all(r);
		break;
	}
}

static void step(struct run *r, unsigned g)
{
	step_op(r, g, rnd(r, 20));
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < MAXSNAPS; i++)
		free(r->snaps[i].text);
	memset(r->snaps, 0, sizeof(r->snaps));
}

static void assert_fsck_clean(const char *dir)
{
	FILE *out = tmpfile();

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(store_fsck(dir, out), 0);
	fclose(out);
}

/* ---- tests ---- */

START_TEST(test_snapshot_sees_the_past_only)
{
	const char *dir = test_tmpdir();
	struct store *s = open_store(dir);
	struct store_meta m = { 0644, 0, 0, 5, 5 };
	struct store_doc_info in;
	uint64_t sp, a, b, id, seq, lsn;
	int64_t t;

	ck_assert_int_eq(store_space_create(s, "sp", &m, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &m, &a, NULL), 0);
	ck_assert_int_eq(store_append(s, a, "one", 3, &seq, NULL), 0);
	ck_assert_int_eq(store_snapshot_create(s, "first", &lsn), 0);
	ck_assert_int_eq(store_snapshot_get(s, "first", &id, &t), 0);
	ck_assert_uint_eq(id, lsn);
	ck_assert_int_gt(t, 0);
	ck_assert_int_eq(store_snapshot_create(s, "bad/name", NULL), -EINVAL);
	/* changes after it */
	ck_assert_int_eq(store_append(s, a, "two", 3, &seq, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "b", &m, &b, NULL), 0);
	ck_assert_int_eq(store_snapshot_lookup(s, "first", sp, "b", &id),
			 -ENOENT);
	ck_assert_int_eq(store_snapshot_info(s, "first", b, &in), -ENOENT);
	ck_assert_int_eq(store_snapshot_info(s, "first", a, &in), 0);
	ck_assert_uint_eq(in.seq, 1);
	ck_assert_uint_eq(in.entries, 1);
	ck_assert_int_eq(store_doc_delete(s, a, NULL), 0);
	ck_assert_int_eq(store_snapshot_lookup(s, "first", sp, "a", &id), 0);
	ck_assert_uint_eq(id, a);
	ck_assert_int_eq(store_snapshot_info(s, "first", a, &in), 0);
	ck_assert_uint_eq(in.stored_bytes, 3);
	ck_assert_int_eq(store_snapshot_read(s, "no-such", a, ent_text, NULL),
			 -ENOENT);
	ck_assert_int_eq(store_snapshot_read(s, "first", sp, ent_text, NULL),
			 -EISDIR);
	ck_assert_int_eq(store_snapshot_delete(s, "first"), 0);
	ck_assert_int_eq(store_snapshot_info(s, "first", a, &in), -ENOENT);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* Eviction (store/evict.h) frees a document's entries; a snapshot that
 * sees the document keeps them, and reads them after a reopen too. */
START_TEST(test_snapshot_keeps_an_evicted_document)
{
	const char *dir = test_tmpdir();
	struct store *s = open_store(dir);
	struct ents_text e = { .len = 0 };
	char big[4000];
	uint64_t sp, a, b, seq;

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &a, NULL), 0);
	ck_assert_int_eq(store_append(s, a, "{\"v\":1}", 7, &seq, NULL), 0);
	ck_assert_int_eq(store_append(s, a, "{\"w\":2}", 7, &seq, NULL), 0);
	ck_assert_int_eq(store_snapshot_create(s, "before", NULL), 0);
	ck_assert_int_eq(store_backup_mark(s, a, seq, 1000), 0);
	ck_assert_int_eq(store_doc_evict(s, a, seq, 13, NULL), 0);
	ck_assert_int_eq(store_read(s, a, ent_text, &e), -ENODATA);
	/* new data may take any space eviction freed */
	ck_assert_int_eq(store_doc_create(s, sp, "b", &M, &b, NULL), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(
			store_append(s, b, big, sizeof(big), NULL, NULL), 0);
	ck_assert_int_eq(store_snapshot_read(s, "before", a, ent_text, &e), 0);
	ck_assert_str_eq(e.buf, " 1:{\"v\":1} 2:{\"w\":2}");
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	s = open_store(dir);
	e.len = 0;
	e.buf[0] = 0;
	ck_assert_int_eq(store_snapshot_read(s, "before", a, ent_text, &e), 0);
	ck_assert_str_eq(e.buf, " 1:{\"v\":1} 2:{\"w\":2}");
	ck_assert_int_eq(store_snapshot_delete(s, "before"), 0);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	test_rmdir(dir);
}
END_TEST

static int count_snap(void *arg, const char *name, uint64_t lsn, int64_t t)
{
	(void)name;
	(void)lsn;
	(void)t;
	(*(int *)arg)++;
	return 0;
}

/* A snapshot keeps the bytes of what it sees; deleting it frees them. */
START_TEST(test_snapshot_pins_and_frees)
{
	const char *dir = test_tmpdir();
	struct store *s = open_store(dir);
	struct store_snapshot_stats st;
	struct store_stats ss;
	uint64_t sp, a, seq, free0;
	char buf[1000];
	int n = 0;

	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &a, NULL), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(
			store_append(s, a, buf, sizeof(buf), &seq, NULL), 0);
	ck_assert_int_eq(store_sync(s, 0), 0);
	store_stats(s, &ss);
	free0 = ss.free_bytes;
	ck_assert_int_eq(store_snapshot_create(s, "keep", NULL), 0);
	ck_assert_int_eq(store_trim(s, a, 0, NULL), 0);
	store_snapshot_stats(s, &st);
	ck_assert_uint_eq(st.snapshots, 1);
	ck_assert_uint_eq(st.pinned_states, 1);
	ck_assert_uint_eq(st.pinned_bytes, 10 * sizeof(buf));
	ck_assert_int_eq(store_sync(s, 0), 0);
	store_stats(s, &ss);
	ck_assert_uint_eq(ss.free_bytes, free0); /* nothing freed */
	ck_assert_int_eq(store_snapshot_list(s, count_snap, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);

	s = open_store(dir);
	store_snapshot_stats(s, &st);
	ck_assert_uint_eq(st.pinned_bytes, 10 * sizeof(buf));
	ck_assert_int_eq(store_snapshot_delete(s, "keep"), 0);
	store_snapshot_stats(s, &st);
	ck_assert_uint_eq(st.snapshots, 0);
	ck_assert_uint_eq(st.pinned_states, 0);
	ck_assert_uint_eq(st.pinned_bytes, 0);
	ck_assert_int_eq(store_sync(s, 0), 0);
	ck_assert_int_eq(store_append(s, a, "y", 1, &seq, NULL), 0);
	store_stats(s, &ss);
	ck_assert_uint_eq(ss.free_bytes, free0 + 10 * sizeof(buf) - 1);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* A store that cannot grow fills up: what a snapshot keeps stays kept
 * (ENOSPC, nothing dropped silently) until the snapshot is deleted. */
START_TEST(test_snapshot_full_store)
{
	const char *dir = test_tmpdir();
	struct store_options o;
	struct store *s = NULL;
	uint64_t sp, a, seq;
	char buf[4000];
	int n = 0, rc;

	store_options_default(&o);
	o.capacity_bytes = 64 << 10;
	o.max_capacity_bytes = 64 << 10; /* no growth */
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	memset(buf, 'z', sizeof(buf));
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &a, NULL), 0);
	while ((rc = store_append(s, a, buf, sizeof(buf), &seq, NULL)) == 0)
		n++;
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_gt(n, 4);
	ck_assert_int_eq(store_snapshot_create(s, "full", NULL), 0);
	ck_assert_int_eq(store_trim(s, a, 0, NULL), 0);
	ck_assert_int_eq(store_sync(s, 0), 0);
	/* the trimmed entries are the snapshot's: still no room */
	ck_assert_int_eq(store_append(s, a, buf, sizeof(buf), &seq, NULL),
			 -ENOSPC);
	ck_assert_int_eq(store_snapshot_delete(s, "full"), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(
			store_append(s, a, buf, sizeof(buf), &seq, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	test_rmdir(dir);
}
END_TEST

/* A snapshot's name index is gathered in steps with changes going on
 * between them (store_snapshot_view_steps: a step per name, and the
 * test's changes run between every two steps): spaces made, renamed,
 * removed; documents made, appended to, trimmed, moved, deleted;
 * metadata; cut-overs.  What the first read of a fresh snapshot gives is
 * still exactly the namespace recorded when the snapshot was taken. */
struct between {
	struct run r;
	unsigned g, changes;
};

static void change_between(void *arg)
{
	struct between *b = arg;

	for (unsigned k = rnd(&b->r, 3); k > 0; k--, b->g++) {
		unsigned op = rnd(&b->r, 15); /* mutations only: 0-13, 17 */

		step_op(&b->r, b->g, op == 14 ? 17 : op);
		b->changes++;
	}
}

START_TEST(test_snapshot_first_read_while_the_namespace_changes)
{
	const char *dir = test_tmpdir();
	struct run r = { .seed = seed_base() + 3000u + (unsigned)_i };
	static struct between b;

	r.s = open_store(dir);
	for (unsigned g = 0; g < 400; g++)
		step(&r, g);
	memset(&b, 0, sizeof(b));
	b.r = (struct run){ .s = r.s, .seed = seed_base() + 4000u + _i };
	for (int round = 0; round < 60; round++) {
		struct rec *c = NULL;
		bool had[MAXSNAPS];
		char *got;

		c = &r.snaps[(unsigned)round % MAXSNAPS]; /* make room */
		if (c->text) {
			ck_assert_int_eq(store_snapshot_delete(r.s, c->name),
					 0);
			free(c->text);
			c->text = NULL;
		}
		c = NULL;
		for (size_t i = 0; i < MAXSNAPS; i++)
			had[i] = r.snaps[i].text != NULL;
		snap_take(&r);
		for (size_t i = 0; i < MAXSNAPS; i++)
			if (r.snaps[i].text && !had[i])
				c = &r.snaps[i]; /* the new one: never read */
		ck_assert_ptr_nonnull(c);
		store_snapshot_view_steps(r.s, 1 + (unsigned)round % 3,
					  change_between, &b);
		got = snap_text(r.s, c->name);
		store_snapshot_view_steps(r.s, 0, NULL, NULL);
		ck_assert_msg(!strcmp(got, c->text),
			      "round %d: snapshot %s differs:\n--- recorded\n%s"
			      "--- read\n%s",
			      round, c->name, c->text, got);
		free(got);
		ck_assert_int_eq(store_snapshot_delete(r.s, c->name), 0);
		free(c->text);
		c->text = NULL;
		check_all(&r);
	}
	ck_assert_uint_gt(b.changes, 500);
	ck_assert_int_eq(store_close(r.s), 0);
	assert_fsck_clean(dir);
	run_free(&r);
	test_rmdir(dir);
}
END_TEST

START_TEST(test_snapshot_oracle_reopen)
{
	const char *dir = test_tmpdir();
	struct run r = { .seed = seed_base() + 1000u + (unsigned)_i };

	r.s = open_store(dir);
	for (unsigned g = 0; g < 1500; g++) {
		step(&r, g);
		if (g % 500 == 499) {
			check_all(&r);
			ck_assert_int_eq(store_close(r.s), 0);
			assert_fsck_clean(dir);
			r.s = open_store(dir);
			check_all(&r);
		}
	}
	/* deleting every snapshot frees all they kept */
	for (size_t i = 0; i < MAXSNAPS; i++)
		if (r.snaps[i].text)
			ck_assert_int_eq(
				store_snapshot_delete(r.s, r.snaps[i].name), 0);
	{
		struct store_snapshot_stats st;

		store_snapshot_stats(r.s, &st);
		ck_assert_uint_eq(st.snapshots, 0);
		ck_assert_uint_eq(st.pinned_states, 0);
		ck_assert_uint_eq(st.pinned_bytes, 0);
	}
	ck_assert_int_eq(store_close(r.s), 0);
	assert_fsck_clean(dir);
	run_free(&r);
	test_rmdir(dir);
}
END_TEST

/* The child runs the workload, writing each snapshot's record to
 * dumps/ once the snapshot is durable, and is killed; the parent
 * recovers and reads every recorded snapshot back. */
START_TEST(test_snapshot_oracle_crash)
{
	char *dir = test_tmpdir();
	char *dumps = test_tmpdir();
	struct run r = { .seed = seed_base() + 7000u + (unsigned)_i };
	unsigned ops = 200 + (unsigned)_i * 97;
	unsigned checked = 0;
	struct store *s;
	pid_t pid;
	int status;

	for (int round = 0; round < 3; round++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			r.seed += (unsigned)round * 31u;
			r.dump_dir = dumps;
			r.nsnap = (unsigned)round * 1000u;
			r.s = open_store(dir);
			for (unsigned g = 0; g < ops; g++)
				step(&r, g);
			kill(getpid(), SIGKILL);
			_exit(4);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		s = open_store(dir);
		for (unsigned k = 0; k < (round + 1) * 1000u; k++) {
			char path[512], name[32], *want, *got;
			FILE *f;
			long len;

			snprintf(name, sizeof(name), "snap-%u", k);
			snprintf(path, sizeof(path), "%s/%s", dumps, name);
			f = fopen(path, "r");
			if (!f)
				continue;
			ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
			len = ftell(f);
			rewind(f);
			want = calloc(1, (size_t)len + 1);
			ck_assert_uint_eq(fread(want, 1, (size_t)len, f),
					  (size_t)len);
			fclose(f);
			got = snap_text(s, name);
			ck_assert_msg(!strcmp(got, want),
				      "snapshot %s differs after the crash",
				      name);
			free(got);
			free(want);
			checked++;
		}
		ck_assert_int_eq(store_close(s), 0);
		assert_fsck_clean(dir);
		/* the next child starts from this store, its snapshots and
		 * records carried over (it never deletes those) */
	}
	ck_assert_uint_gt(checked, 0);
	test_rmdir(dir);
	test_clear_dir(dumps);
	test_rmdir(dumps);
}
END_TEST

/* ---- entry times ---- */

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * SEC)

static int64_t fake_real_ns = T0;

static int64_t fake_now_ns(enum clock_kind kind)
{
	if (kind == CLOCK_KIND_REAL)
		return __atomic_load_n(&fake_real_ns, __ATOMIC_RELAXED);
	return clock_real_ops()->now_ns(kind);
}

static const struct clock_ops fake_clock = { .now_ns = fake_now_ns };

struct times {
	uint64_t seq[64];
	int64_t t[64];
	size_t n;
};

static int times_add(void *arg, uint64_t seq, int64_t time_ns)
{
	struct times *x = arg;

	ck_assert_uint_lt(x->n, 64);
	x->seq[x->n] = seq;
	x->t[x->n++] = time_ns;
	return 0;
}

/* The entries of id are seqs first..first + n - 1, entry k made at
 * want[k]. */
static void assert_times(struct store *s, uint64_t id, uint64_t first,
			 const int64_t *want, size_t n)
{
	struct times x = { .n = 0 };

	ck_assert_int_eq(store_entry_times(s, id, times_add, &x), 0);
	ck_assert_uint_eq(x.n, n);
	for (size_t k = 0; k < n; k++) {
		ck_assert_uint_eq(x.seq[k], first + k);
		ck_assert_int_eq(x.t[k], want[k]);
	}
}

static void append_at(struct store *s, uint64_t id, int64_t t)
{
	uint64_t seq, lsn;

	__atomic_store_n(&fake_real_ns, t, __ATOMIC_RELAXED);
	ck_assert_int_eq(store_append(s, id, "e", 1, &seq, &lsn), 0);
	ck_assert_int_eq(store_sync(s, lsn), 0);
}

START_TEST(test_entry_times_survive_cutover_reopen_and_kill)
{
	char *dir = test_tmpdir();
	int64_t want[8];
	struct store *s;
	uint64_t sp, a;
	pid_t pid;
	int status;

	clock_set_ops(&fake_clock);
	s = open_store(dir);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "a", &M, &a, NULL), 0);
	for (int k = 0; k < 8; k++)
		want[k] = T0 + k * 3601 * SEC + k; /* all distinct */
	append_at(s, a, want[0]);
	append_at(s, a, want[1]);
	append_at(s, a, want[2]);
	ck_assert_int_eq(store_checkpoint(s), 0); /* in the index now */
	append_at(s, a, want[3]);
	assert_times(s, a, 1, want, 4);
	/* a trim keeps the times of what it keeps */
	ck_assert_int_eq(store_trim(s, a, 3, NULL), 0);
	assert_times(s, a, 2, want + 1, 3);
	ck_assert_int_eq(store_close(s), 0);

	s = open_store(dir);
	assert_times(s, a, 2, want + 1, 3);
	ck_assert_int_eq(store_checkpoint(s), 0);
	ck_assert_int_eq(store_close(s), 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		s = open_store(dir);
		append_at(s, a, want[4]);
		ck_assert_int_eq(store_checkpoint(s), 0);
		append_at(s, a, want[5]);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	s = open_store(dir);
	assert_times(s, a, 2, want + 1, 5);
	ck_assert_int_eq(store_close(s), 0);
	assert_fsck_clean(dir);
	clock_set_ops(NULL);
	test_rmdir(dir);
}
END_TEST

/* An index of the format before entry times: one space, one document of
 * one entry (SNAP_DOC). */
static int write_old_index(void *arg, struct wal_snap *sn)
{
	struct wal_snap_begin sb = { .next_id = 4,
				     .next_tomb_id = 1,
				     .spaces = 1,
				     .docs = 1,
				     .entries = 1 };
	struct wal_meta wm = { 0755, 0, 0, 1, 1 };
	struct wal_ent e = { 1, 0, 0, 0 };
	struct wal_buf b;
	uint32_t crc = 0;
	uint64_t count = 0;
	int rc;

	(void)arg;
	wal_buf_init(&b);
	ck_assert_int_eq(wal_put_snap_begin(&b, &sb), 0);
	ck_assert_int_eq(wal_put_snap_space(&b, 2, &wm, "sp"), 0);
	ck_assert_int_eq(wal_put_snap_doc(&b, 3, 2, 1, 0, 0, &wm, "k", &e, 1),
			 0);
	for (size_t pos = 0; pos < b.len; count++) {
		struct wal_rec r;

		ck_assert_int_eq(wal_rec_next(b.p, b.len, &pos, &r), 1);
		ck_assert_int_eq(r.type == WAL_SNAP_DOC_T, 0);
		crc = crc32c_extend(crc, r.body, r.body_len);
	}
	ck_assert_int_eq(wal_put_snap_end(&b, crc, count), 0);
	ck_assert_int_eq(wal_put_meta(&b, STORE_ROOT_ID, &wm), 0);
	rc = wal_snap_frame(sn, b.p, b.len);
	wal_buf_release(&b);
	return rc;
}

START_TEST(test_entry_times_of_an_older_index_are_unknown)
{
	char *dir = test_tmpdir();
	const int64_t want[2] = { 0, T0 + 42 * SEC };
	struct wal_options wo = { 0 };
	struct store *s;
	struct wal *w;

	/* a store, its log replaced by one holding the older index */
	s = open_store(dir);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(wal_create(dir, &wo, write_old_index, NULL, &w), 0);
	ck_assert_int_eq(wal_close(w), 0);
	clock_set_ops(&fake_clock);
	s = open_store(dir);
	assert_times(s, 3, 1, want, 1);
	append_at(s, 3, want[1]);
	assert_times(s, 3, 1, want, 2);
	ck_assert_int_eq(store_checkpoint(s), 0); /* now SNAP_DOC_T */
	ck_assert_int_eq(store_close(s), 0);
	s = open_store(dir);
	assert_times(s, 3, 1, want, 2);
	ck_assert_int_eq(store_entry_times(s, 2, times_add,
					   &(struct times){ .n = 0 }),
			 -EISDIR);
	ck_assert_int_eq(store_close(s), 0);
	clock_set_ops(NULL);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_snapshot_sees_the_past_only);
	tcase_add_test(tc, test_entry_times_survive_cutover_reopen_and_kill);
	tcase_add_test(tc, test_entry_times_of_an_older_index_are_unknown);
	tcase_add_test(tc, test_snapshot_keeps_an_evicted_document);
	tcase_add_test(tc, test_snapshot_pins_and_frees);
	tcase_add_test(tc, test_snapshot_full_store);
	tcase_add_loop_test(tc,
			    test_snapshot_first_read_while_the_namespace_changes,
			    0, 3);
	tcase_add_loop_test(tc, test_snapshot_oracle_reopen, 0, 4);
	tcase_add_loop_test(tc, test_snapshot_oracle_crash, 0, 3);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
