/*
 * check_store_oom.c - every allocation of a store workload fails once.
 *
 * This binary defines malloc, calloc, realloc, strdup and strndup; each
 * forwards to the next definition (the C library's, or the sanitizer's
 * when it has one) unless the countdown says this is the allocation to
 * fail.  The countdown counts only while armed, and it is armed only
 * around store calls (Check itself allocates).
 *
 * For N = 1, 2, ... the workload (open, spaces, creates, appends, snapshot
 * + trim, trims, renames over a target, deletes leaving a tombstone,
 * metadata, backup marks, import, checkpoints, growth, syncs, close and
 * reopen) runs in a fresh store with the Nth allocation failing, until a
 * run makes fewer than N allocations.  A model keyed by name holds what
 * the store must contain.  Each run checks:
 *   - every call returns 0 or a negative errno, and never crashes;
 *   - a call that returned 0 took effect (no false acknowledgement); a
 *     call refused while the store was healthy changed nothing;
 *   - after the failing call, a store that is still healthy holds exactly
 *     the model; a store that turned failed (fail-stop) is closed, is
 *     fsck-clean, and reopens holding the model either without or with
 *     the failed call (a change that reached the log is replayed whole);
 *   - a store_sync that returned 0 is durable: a copy of the files taken
 *     then recovers the model;
 *   - at the end the store closes, is fsck-clean and reopens holding the
 *     model.
 * The store's error lines go to a file in the scratch directory (named on
 * stderr); the last line gives the figures.  Under valgrind
 * (CARAVAN_VALGRIND=1), which replaces malloc, calloc and realloc itself,
 * only strdup and strndup fail.
 */
#include "store/store.h"
#include "store/store_internal.h"
#include "tests/testutil.h"
#include "util/log.h"

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the allocation interposer ---- */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);

static int armed;
static unsigned long nth_now; /* the run in progress, for messages */
static unsigned long countdown; /* fail the allocation that reaches 0 */
static unsigned long seen; /* allocations while armed */
static int fired;

static void resolve(void)
{
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (!next_malloc || !next_calloc || !next_realloc)
		abort();
}

static bool fail_now(void)
{
	if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
		return false;
	__atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED);
	if (countdown &&
	    __atomic_sub_fetch(&countdown, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_store_n(&fired, 1, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

void *malloc(size_t n)
{
	if (!next_malloc)
		resolve();
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return next_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (!next_calloc)
		resolve();
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return next_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (!next_realloc)
		resolve();
	if (fail_now()) {
		errno = ENOMEM;
		return NULL;
	}
	return next_realloc(p, n);
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void arm(void)
{
	__atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
}

static void disarm(void)
{
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
}

/* ---- the model ---- */

#define MAXS 4
#define MAXD 8
#define MAXE 8
#define NAMELEN 8

struct ment {
	uint64_t seq;
	uint32_t len;
	uint8_t tag;
};

struct mdoc {
	bool used;
	char space[NAMELEN], key[NAMELEN];
	uint32_t mode;
	uint64_t seq;
	int n;
	struct ment e[MAXE];
};

struct model {
	char spaces[MAXS][NAMELEN];
	int nspaces;
	struct mdoc d[MAXD];
};

enum kind {
	MK,
	RS,
	CR,
	AP,
	RP,
	TR,
	DL,
	RN,
	MT,
	BK,
	IM,
	CK,
	GR,
	SY,
	RO
};

struct op {
	enum kind k;
	const char *sp, *key, *sp2, *key2;
	uint32_t len, keep;
};

static const struct op script[] = {
	{ .k = MK, .sp = "sp" },
	{ .k = MK, .sp = "sp2" },
	{ .k = CR, .sp = "sp", .key = "a" },
	{ .k = CR, .sp = "sp", .key = "b" },
	{ .k = CR, .sp = "sp", .key = "c" },
	{ .k = AP, .sp = "sp", .key = "a", .len = 100 },
	{ .k = AP, .sp = "sp", .key = "a", .len = 3000 },
	{ .k = AP, .sp = "sp", .key = "a", .len = 0 },
	{ .k = AP, .sp = "sp", .key = "b", .len = 10 },
	{ .k = AP, .sp = "sp", .key = "c", .len = 500 },
	{ .k = SY },
	{ .k = RN, .sp = "sp", .key = "a", .sp2 = "sp2", .key2 = "a2" },
	{ .k = MT, .sp = "sp2", .key = "a2" },
	{ .k = BK, .sp = "sp", .key = "c" },
	{ .k = DL, .sp = "sp", .key = "c" },
	{ .k = CR, .sp = "sp", .key = "c" },
	{ .k = RN, .sp = "sp", .key = "b", .sp2 = "sp2", .key2 = "a2" },
	{ .k = AP, .sp = "sp2", .key = "a2", .len = 40 },
	{ .k = TR, .sp = "sp2", .key = "a2", .keep = 1 },
	{ .k = RP, .sp = "sp2", .key = "a2", .len = 64 },
	{ .k = CK },
	{ .k = IM, .sp = "sp3", .key = "imp", .len = 200 },
	{ .k = AP, .sp = "sp", .key = "c", .len = 77 },
	{ .k = SY },
	{ .k = RO },
	{ .k = AP, .sp = "sp2", .key = "a2", .len = 1500 },
	{ .k = GR },
	{ .k = DL, .sp = "sp3", .key = "imp" },
	{ .k = RS, .sp = "sp3" },
	{ .k = AP, .sp = "sp", .key = "c", .len = 9 },
	{ .k = SY },
};
#define NSCRIPT ((int)(sizeof(script) / sizeof(script[0])))

static const struct store_meta M = { 0644, 0, 0, 1, 1 };
static const struct store_meta M2 = { 0600, 7, 7, 2, 2 };

static int space_at(const struct model *m, const char *name)
{
	for (int i = 0; i < m->nspaces; i++)
		if (strcmp(m->spaces[i], name) == 0)
			return i;
	return -1;
}

static struct mdoc *doc_at(struct model *m, const char *sp, const char *key)
{
	for (int i = 0; i < MAXD; i++)
		if (m->d[i].used && strcmp(m->d[i].space, sp) == 0 &&
		    strcmp(m->d[i].key, key) == 0)
			return &m->d[i];
	return NULL;
}

static struct mdoc *doc_new(struct model *m, const char *sp, const char *key)
{
	for (int i = 0; i < MAXD; i++) {
		if (m->d[i].used)
			continue;
		memset(&m->d[i], 0, sizeof(m->d[i]));
		m->d[i].used = true;
		snprintf(m->d[i].space, NAMELEN, "%s", sp);
		snprintf(m->d[i].key, NAMELEN, "%s", key);
		m->d[i].mode = M.mode;
		return &m->d[i];
	}
	abort();
}

static void push(struct mdoc *d, uint64_t seq, uint32_t len, uint8_t tag)
{
	ck_assert_int_lt(d->n, MAXE);
	d->e[d->n].seq = seq;
	d->e[d->n].len = len;
	d->e[d->n].tag = tag;
	d->n++;
	d->seq = seq;
}

static void entry_bytes(uint8_t *buf, uint32_t len, uint8_t tag)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag * 31 + i);
}

/* Can op run against model m?  (Skipped when an earlier change it
 * depends on failed.) */
static bool applicable(struct model *m, const struct op *o)
{
	switch (o->k) {
	case MK:
		return space_at(m, o->sp) < 0;
	case RS:
		for (int i = 0; i < MAXD; i++)
			if (m->d[i].used && strcmp(m->d[i].space, o->sp) == 0)
				return false;
		return space_at(m, o->sp) >= 0;
	case CR:
		return space_at(m, o->sp) >= 0 && !doc_at(m, o->sp, o->key);
	case IM:
		return !doc_at(m, o->sp, o->key);
	case RN:
		return doc_at(m, o->sp, o->key) && space_at(m, o->sp2) >= 0;
	case AP:
	case RP:
	case TR:
	case DL:
	case MT:
	case BK:
		return doc_at(m, o->sp, o->key) != NULL;
	default:
		return true;
	}
}

static void model_apply(struct model *m, const struct op *o, uint8_t tag)
{
	struct mdoc *d = o->sp && o->key ? doc_at(m, o->sp, o->key) : NULL, *t;
	int drop;

	switch (o->k) {
	case MK:
		snprintf(m->spaces[m->nspaces++], NAMELEN, "%s", o->sp);
		break;
	case RS:
		drop = space_at(m, o->sp);
		memmove(m->spaces[drop], m->spaces[drop + 1],
			(size_t)(m->nspaces - drop - 1) * NAMELEN);
		m->nspaces--;
		break;
	case CR:
		doc_new(m, o->sp, o->key);
		break;
	case AP:
		push(d, d->seq + 1, o->len, tag);
		break;
	case RP:
		d->n = 0;
		push(d, d->seq + 1, o->len, tag);
		break;
	case TR:
		drop = d->n > (int)o->keep ? d->n - (int)o->keep : 0;
		memmove(d->e, d->e + drop,
			(size_t)(d->n - drop) * sizeof(*d->e));
		d->n -= drop;
		break;
	case DL:
		d->used = false;
		break;
	case RN:
		t = doc_at(m, o->sp2, o->key2);
		if (t && t != d)
			t->used = false;
		snprintf(d->space, NAMELEN, "%s", o->sp2);
		snprintf(d->key, NAMELEN, "%s", o->key2);
		break;
	case MT:
		d->mode = M2.mode;
		break;
	case IM:
		if (space_at(m, o->sp) < 0)
			snprintf(m->spaces[m->nspaces++], NAMELEN, "%s", o->sp);
		d = doc_new(m, o->sp, o->key);
		push(d, 4, o->len, tag);
		push(d, 5, o->len / 2, (uint8_t)(tag + 1));
		break;
	default:
		break;
	}
}

/* ---- reading a store back ---- */

struct got {
	struct model m;
	bool bad;
	struct store *s;
	uint64_t space_id;
	char space[NAMELEN];
};

struct entry_reader {
	struct mdoc *d;
	bool bad;
};

static int read_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct entry_reader *r = arg;
	const uint8_t *b = buf;
	uint8_t want[4096];
	/* byte 0 is tag * 31 (mod 256) and 223 * 31 = 1 (mod 256) */
	uint8_t tag = len ? (uint8_t)(b[0] * 223u) : 0;

	if (r->d->n >= MAXE || len > sizeof(want)) {
		r->bad = true;
		return 1;
	}
	entry_bytes(want, (uint32_t)len, tag);
	if (memcmp(want, b, len) != 0) {
		r->bad = true;
		return 1;
	}
	r->d->e[r->d->n].seq = seq;
	r->d->e[r->d->n].len = (uint32_t)len;
	r->d->e[r->d->n].tag = tag;
	r->d->n++;
	return 0;
}

static int list_doc(void *arg, uint64_t id, const char *name)
{
	struct got *g = arg;
	struct store_doc_info info;
	struct mdoc *d;
	struct entry_reader r;

	if (strlen(name) >= NAMELEN || store_doc_info(g->s, id, &info)) {
		g->bad = true;
		return 1;
	}
	d = doc_new(&g->m, g->space, name);
	d->seq = info.seq;
	d->mode = info.meta.mode;
	r.d = d;
	r.bad = false;
	if (store_read(g->s, id, read_entry, &r) || r.bad)
		g->bad = true;
	return 0;
}

static int list_space(void *arg, uint64_t id, const char *name)
{
	struct got *g = arg;

	if (strlen(name) >= NAMELEN || g->m.nspaces >= MAXS) {
		g->bad = true;
		return 1;
	}
	snprintf(g->m.spaces[g->m.nspaces++], NAMELEN, "%s", name);
	return 0;
}

/* Read the whole store into out (no allocation armed). */
static void read_store(struct store *s, struct model *out)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	g.s = s;
	ck_assert_int_eq(store_space_list(s, 0, list_space, &g), 0);
	for (int i = 0; i < g.m.nspaces && !g.bad; i++) {
		uint64_t sid;

		ck_assert_int_eq(store_space_lookup(s, g.m.spaces[i], &sid), 0);
		snprintf(g.space, NAMELEN, "%s", g.m.spaces[i]);
		ck_assert_int_eq(store_doc_list(s, sid, 0, list_doc, &g), 0);
	}
	ck_assert_msg(!g.bad, "store holds something the model cannot");
	*out = g.m;
}

static bool same(struct model *a, struct model *b)
{
	int na = 0, nb = 0;

	if (a->nspaces != b->nspaces)
		return false;
	for (int i = 0; i < a->nspaces; i++)
		if (space_at(b, a->spaces[i]) < 0)
			return false;
	for (int i = 0; i < MAXD; i++) {
		struct mdoc *x = &a->d[i], *y;

		nb += b->d[i].used;
		if (!x->used)
			continue;
		na++;
		y = doc_at(b, x->space, x->key);
		if (!y || x->seq != y->seq || x->n != y->n ||
		    x->mode != y->mode)
			return false;
		for (int j = 0; j < x->n; j++)
			if (x->e[j].seq != y->e[j].seq ||
			    x->e[j].len != y->e[j].len ||
			    (x->e[j].len && x->e[j].tag != y->e[j].tag))
				return false;
	}
	return na == nb;
}

static void dump(const char *what, const struct model *m)
{
	printf("%s: %d spaces:", what, m->nspaces);
	for (int i = 0; i < m->nspaces; i++)
		printf(" %s", m->spaces[i]);
	printf("\n");
	for (int i = 0; i < MAXD; i++) {
		const struct mdoc *d = &m->d[i];

		if (!d->used)
			continue;
		printf("  %s/%s mode %o seq %" PRIu64 ":", d->space, d->key,
		       d->mode, d->seq);
		for (int j = 0; j < d->n; j++)
			printf(" %" PRIu64 "(%u,%u)", d->e[j].seq, d->e[j].len,
			       d->e[j].tag);
		printf("\n");
	}
}

/* ---- one run ---- */

struct figures {
	unsigned long runs;
	unsigned long allocations; /* in the run without a fault */
	unsigned long refused; /* faulted calls returning an error */
	unsigned long absorbed; /* faulted calls returning 0 */
	unsigned long failstops; /* runs where the store turned failed */
	unsigned long replayed; /* ... and the failed change came back */
	unsigned long reopens; /* fsck-clean reopens checked */
	unsigned long syncs; /* acknowledged syncs verified on a copy */
};

struct run {
	const char *dir;
	const char *copy;
	struct store_options o;
	struct store *s;
	struct model m;
	struct figures *fig;
};

static void fsck_clean(const char *dir)
{
	FILE *devnull = fopen("/dev/null", "w");
	int rc = store_fsck(dir, devnull);

	fclose(devnull);
	if (rc)
		store_fsck(dir, stdout);
	ck_assert_int_eq(rc, 0);
}

static bool store_healthy(struct store *s)
{
	return s->failed == 0 && wal_error(s->wal) == 0;
}

/* Open dir with no fault armed; it must be fsck-clean. */
static struct store *reopen(struct run *r)
{
	struct store *s;

	fsck_clean(r->dir);
	ck_assert_int_eq(store_open(r->dir, &r->o, &s), 0);
	r->fig->reopens++;
	return s;
}

static void copy_store(const char *from, const char *to)
{
	char a[512], b[512];

	test_rmdir(to);
	ck_assert_int_eq(mkdir(to, 0755), 0);
	snprintf(a, sizeof(a), "%s/data", from);
	snprintf(b, sizeof(b), "%s/data", to);
	test_copy_file(a, b, -1);
	snprintf(a, sizeof(a), "%s/wal", from);
	snprintf(b, sizeof(b), "%s/wal", to);
	test_copy_file(a, b, -1);
}

/* A sync returned 0: the files as they are now must recover the model. */
static void check_sync(struct run *r)
{
	struct store *s;
	struct model got;

	copy_store(r->dir, r->copy);
	fsck_clean(r->copy);
	ck_assert_int_eq(store_open(r->copy, &r->o, &s), 0);
	read_store(s, &got);
	ck_assert_msg(same(&got, &r->m), "an acknowledged sync lost changes");
	ck_assert_int_eq(store_close(s), 0);
	r->fig->syncs++;
}

static int do_op(struct run *r, const struct op *o, uint8_t tag)
{
	struct store *s = r->s;
	uint8_t buf[4096];
	uint64_t sp = 0, sp2 = 0, id = 0;
	struct store_import_entry ie[2];

	entry_bytes(buf, o->len, tag);
	if (o->sp)
		store_space_lookup(s, o->sp, &sp);
	if (o->sp2)
		store_space_lookup(s, o->sp2, &sp2);
	if (sp && o->key)
		store_doc_lookup(s, sp, o->key, &id);
	arm();
	switch (o->k) {
	case MK:
		return store_space_create(s, o->sp, &M, NULL, NULL);
	case RS:
		return store_space_remove(s, o->sp, NULL);
	case CR:
		return store_doc_create(s, sp, o->key, &M, NULL, NULL);
	case AP:
		return store_append(s, id, buf, o->len, NULL, NULL);
	case RP:
		return store_append_replace(s, id, buf, o->len,
					    doc_at(&r->m, o->sp, o->key)->seq,
					    NULL, NULL);
	case TR:
		return store_trim(s, id, o->keep, NULL);
	case DL:
		return store_doc_delete(s, id, NULL);
	case RN:
		return store_doc_rename(s, id, sp2, o->key2, 0, NULL);
	case MT:
		return store_meta_set(s, id, &M2, NULL);
	case BK:
		return store_backup_mark(s, id, 1, 12345);
	case IM:
		ie[0].buf = buf;
		ie[0].len = o->len;
		entry_bytes(buf + 2048, o->len / 2, (uint8_t)(tag + 1));
		ie[1].buf = buf + 2048;
		ie[1].len = o->len / 2;
		return store_import(s, o->sp, o->key, &M, ie, 2, 5, NULL, NULL);
	case CK:
		return store_checkpoint(s);
	case GR:
		return store_grow(s, r->o.capacity_bytes * 2);
	case SY:
		return store_sync(s, 0);
	case RO:
		break;
	}
	return 0;
}

/* The store turned failed during op: close it, and the reopened store
 * must hold the model without or with op. */
static void recover_from_failstop(struct run *r, const struct op *o,
				  uint8_t tag)
{
	struct model without = r->m, with = r->m, got;
	int rc;

	model_apply(&with, o, tag);
	arm();
	rc = store_close(r->s);
	disarm();
	ck_assert_int_le(rc, 0);
	r->s = reopen(r);
	read_store(r->s, &got);
	if (same(&got, &with)) {
		r->m = with;
		r->fig->replayed++;
	} else {
		ck_assert_msg(same(&got, &without),
			      "after fail-stop the store recovered neither "
			      "without nor with the failed change");
	}
	r->fig->failstops++;
}

/* Run the workload failing the nth armed allocation (0: none).  Returns
 * whether the fault fired. */
static bool run_once(struct run *r, unsigned long nth)
{
	struct model got;
	int rc;

	countdown = nth;
	nth_now = nth;
	seen = 0;
	fired = 0;
	memset(&r->m, 0, sizeof(r->m));
	arm();
	rc = store_open(r->dir, &r->o, &r->s);
	disarm();
	ck_assert_int_le(rc, 0);
	if (rc) {
		/* nothing to lose yet; the next open must work */
		r->s = NULL;
		ck_assert_int_ne(fired, 0);
		r->fig->refused++;
		ck_assert_int_eq(store_open(r->dir, &r->o, &r->s), 0);
	}
	for (int i = 0; i < NSCRIPT; i++) {
		const struct op *o = &script[i];
		uint8_t tag = (uint8_t)(i + 1);
		int was_fired = fired;

		if (o->k == RO) {
			arm();
			rc = store_close(r->s);
			disarm();
			ck_assert_int_le(rc, 0);
			r->s = NULL;
			arm();
			rc = store_open(r->dir, &r->o, &r->s);
			disarm();
			ck_assert_int_le(rc, 0);
			if (rc) {
				ck_assert(fired && !was_fired);
				r->fig->refused++;
				r->s = reopen(r);
			}
			read_store(r->s, &got);
			if (!same(&got, &r->m)) {
				dump("model", &r->m);
				dump("store", &got);
			}
			ck_assert_msg(
				same(&got, &r->m),
				"allocation %lu: close and reopen changed "
				"the store",
				nth_now);
			continue;
		}
		if (!applicable(&r->m, o))
			continue;
		rc = do_op(r, o, tag);
		disarm();
		ck_assert_msg(rc <= 0 && rc > -4096, "change %d returned %d", i,
			      rc);
		if (rc == 0) {
			model_apply(&r->m, o, tag);
			if (fired && !was_fired)
				r->fig->absorbed++;
			if (o->k == SY)
				check_sync(r);
			continue;
		}
		/* only the injected fault may make a call fail */
		ck_assert_msg(fired,
			      "change %d failed with %s without a "
			      "fault",
			      i, strerror(-rc));
		if (!was_fired)
			r->fig->refused++;
		if (store_healthy(r->s)) {
			/* a refused change changed nothing */
			read_store(r->s, &got);
			ck_assert_msg(same(&got, &r->m),
				      "change %d was refused but changed the "
				      "store",
				      i);
		} else {
			recover_from_failstop(r, o, tag);
		}
	}
	arm();
	rc = store_close(r->s);
	disarm();
	ck_assert_int_le(rc, 0);
	r->s = reopen(r);
	read_store(r->s, &got);
	ck_assert_msg(same(&got, &r->m), "the reopened store is not the model");
	ck_assert_int_eq(store_close(r->s), 0);
	r->s = NULL;
	return fired;
}

START_TEST(test_store_every_failed_allocation_is_a_clean_error)
{
	char *base = test_tmpdir();
	char dir[512], copy[512], errlog[512];
	struct figures fig = { 0 };
	struct run r;
	const char *vg = getenv("CARAVAN_VALGRIND");
	bool under_valgrind = vg && *vg && strcmp(vg, "0") != 0;
	unsigned long n;
	int saved_err, fd;

	snprintf(dir, sizeof(dir), "%s/store", base);
	snprintf(copy, sizeof(copy), "%s/copy", base);
	snprintf(errlog, sizeof(errlog), "%s/store-errors.log", base);
	memset(&r, 0, sizeof(r));
	r.dir = dir;
	r.copy = copy;
	r.fig = &fig;
	store_options_default(&r.o);
	r.o.capacity_bytes = 64 << 10;
	r.o.cutover_bytes = 4096;
	r.o.commit_ms = 0;

	/* the store logs every refused change: keep that out of the way */
	fprintf(stderr, "store error lines go to %s\n", errlog);
	saved_err = dup(STDERR_FILENO);
	fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	dup2(fd, STDERR_FILENO);
	close(fd);

	n = getenv("CARAVAN_OOM_FROM")
		    ? strtoul(getenv("CARAVAN_OOM_FROM"), NULL, 10)
		    : 1;
	for (;; n++) {
		bool hit;

		test_rmdir(dir);
		hit = run_once(&r, n);
		if (!hit) {
			fig.allocations = seen;
			break;
		}
		fig.runs++;
	}
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	test_rmdir(dir);
	test_rmdir(copy);
	unlink(errlog);
	rmdir(base);
	fprintf(stderr,
		"oom: %lu runs, each failing one of the workload's %lu "
		"allocations: %lu refused with an error, %lu absorbed, %lu "
		"fail-stops (%lu replayed the change), %lu fsck-clean reopens, "
		"%lu acknowledged syncs verified, 0 crashes\n",
		fig.runs, fig.allocations, fig.refused, fig.absorbed,
		fig.failstops, fig.replayed, fig.reopens, fig.syncs);
	ck_assert_uint_ge(fig.runs + 1, n);
	if (under_valgrind) {
		/* valgrind replaces malloc, calloc and realloc even where the
		 * program defines them: only strdup and strndup fail here;
		 * the plain and sanitizer builds fail every allocation */
		fprintf(stderr, "oom: under valgrind only strdup and strndup "
				"were failed\n");
	} else {
		ck_assert_uint_gt(fig.allocations, 50);
	}
}
END_TEST

/* Regression: a failed allocation while store_open decided whether the
 * directory held a store made it create a new, empty store over the
 * existing one (data file truncated, log replaced). */
START_TEST(test_store_open_failing_allocation_never_recreates_the_store)
{
	char *dir = test_tmpdir();
	struct store_options o;
	struct store *s;
	uint64_t sp, id;
	unsigned long n;

	store_options_default(&o);
	o.capacity_bytes = 64 << 10;
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "k", &M, &id, NULL), 0);
	ck_assert_int_eq(store_append(s, id, "kept", 4, NULL, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);
	for (n = 1;; n++) {
		int rc;

		countdown = n;
		fired = 0;
		arm();
		rc = store_open(dir, &o, &s);
		disarm();
		ck_assert_msg(rc == 0 || rc == -ENOMEM,
			      "allocation %lu: open returned %d", n, rc);
		if (rc == 0) {
			uint64_t sp2, id2;
			struct store_doc_info info;

			ck_assert_msg(store_space_lookup(s, "sp", &sp2) == 0 &&
					      store_doc_lookup(s, sp2, "k",
							       &id2) == 0,
				      "allocation %lu: the store was recreated",
				      n);
			ck_assert_int_eq(store_doc_info(s, id2, &info), 0);
			ck_assert_uint_eq(info.seq, 1);
			ck_assert_int_eq(store_close(s), 0);
		}
		if (!fired)
			break;
	}
	countdown = 0;
	fsck_clean(dir);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_oom");
	TCase *tc = tcase_create("oom");

	log_set_level(LOG_LVL_ERROR);
	tcase_set_timeout(tc, 1200);
	tcase_add_test(
		tc,
		test_store_open_failing_allocation_never_recreates_the_store);
	tcase_add_test(tc, test_store_every_failed_allocation_is_a_clean_error);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
