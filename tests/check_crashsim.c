/*
 * check_crashsim.c - a power cut at every sync point of a store workload,
 * through the crash simulator (tests/crashsim/io_crashsim.h), and a second power
 * cut at every sync point of the recovery.
 *
 * The workload is a script generated from a seed by a model of the store
 * (two spaces, NSLOT keys): creates, appends, snapshot+trim appends,
 * trims, deletes, renames across spaces (also over an existing key),
 * evictions (a backup mark, then store_doc_evict) and refills of evicted
 * documents (store_doc_refill: one entry at the document's seq),
 * checkpoints, a capacity growth and a close+reopen, with a small
 * cut-over size so the log is cut over every few changes.  About half of
 * the changes are followed by store_sync; a sync, a checkpoint, a growth
 * and a close acknowledge every change before them.
 *
 * A child process runs the script with the simulator installed.  At each
 * sync point it writes crash states (all kept, all dropped, and RANDOM
 * ones by seed) into fresh directories, tells the parent which change is
 * the last acknowledged (a) and the last issued (i), and waits.  For each
 * state the parent checks:
 *   - fsck is clean before recovery (when a log exists at all);
 *   - the store opens, and its state equals the model after changes
 *     1..G for some a <= G <= i: every acknowledged change present, each
 *     document's history a prefix of what was written, no hole, no
 *     resurrected delete; every entry's bytes are exactly the bytes
 *     written (they name their change and sequence number);
 *   - it closes (checkpoint) and fsck is clean again;
 *   - a second power cut during recovery (store_open, one more append
 *     and store_sync, store_close of a pristine copy, in a child under
 *     the simulator) at each of its sync points leaves a store that opens
 *     fsck-clean in exactly the state the uninterrupted recovery reached,
 *     plus the new append when it was acknowledged before the cut (with
 *     or without it otherwise).
 *
 * A second test cuts the power right after a growth of a store whose map
 * holds unsynced entries: growth makes durable its size and header, not
 * the map (test_crashsim_growth_syncs_only_its_size_and_header).
 *
 * Figures go to stderr as the last line.  CARAVAN_LONG=1: more random
 * states per point and a longer script.  CARAVAN_VALGRIND=1: a sample of
 * points.  Under a sanitizer or valgrind, where a fork is costly, the
 * second cut runs for one crash state per sync point.
 */
#include "store/evict.h"
#include "store/store.h"
#include "tests/testutil.h"
#include "tests/crashsim/io_crashsim.h"
#include "util/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSPACE 2
#define NKEY 6
#define NSLOT (NSPACE * NKEY)
#define MAXE 12
#define MAXOPS 2000
#define MAXSTATES 16
#define CAPACITY (256u << 10)
#define GROWN (384u << 10)
#define CUTOVER 4096
#define RECOVERY_CRASHED 42
#define RECOVERY_CRASHED_ACKED 43

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

/* ---- the model and the script ---- */

struct op {
	char kind; /* S C A P T D R K G O E F, see exec_op() */
	int slot, slot2;
	uint32_t len, keep;
	bool sync;
};

struct ment {
	uint64_t seq, g;
	uint32_t len;
};

struct mdoc {
	uint64_t id, seq;
	bool evicted; /* no entries; the content is "in the cloud" */
	int n;
	struct ment e[MAXE];
};

struct model {
	uint64_t next_id;
	uint64_t sp[NSPACE];
	struct mdoc d[NSLOT];
};

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->next_id = STORE_ROOT_ID + 1;
}

static void push_ent(struct mdoc *d, uint64_t g, uint32_t len)
{
	ck_assert_int_lt(d->n, MAXE);
	d->seq++;
	d->e[d->n].seq = d->seq;
	d->e[d->n].g = g;
	d->e[d->n].len = len;
	d->n++;
}

static void model_apply(struct model *m, const struct op *o, uint64_t g)
{
	struct mdoc *d = &m->d[o->slot];
	int drop;

	switch (o->kind) {
	case 'S':
		m->sp[o->slot] = m->next_id++;
		break;
	case 'C':
		memset(d, 0, sizeof(*d));
		d->id = m->next_id++;
		break;
	case 'A':
		push_ent(d, g, o->len);
		break;
	case 'P':
		d->n = 0;
		push_ent(d, g, o->len);
		break;
	case 'T':
		drop = d->n > (int)o->keep ? d->n - (int)o->keep : 0;
		memmove(d->e, d->e + drop,
			(size_t)(d->n - drop) * sizeof(*d->e));
		d->n -= drop;
		break;
	case 'D':
		memset(d, 0, sizeof(*d));
		break;
	case 'R':
		m->d[o->slot2] = *d;
		memset(d, 0, sizeof(*d));
		break;
	case 'E':
		d->evicted = true;
		d->n = 0;
		break;
	case 'F': /* one entry at the document's own seq */
		d->evicted = false;
		d->seq--;
		push_ent(d, g, o->len);
		break;
	}
}

static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* A script of n changes; models[g] is the state after changes 1..g. */
static int make_script(uint64_t seed, int n, struct op *ops,
		       struct model *models)
{
	uint64_t r = seed;
	struct model m;
	int k = 0;

	model_init(&m);
	models[0] = m;
	while (k < n) {
		struct op o = { 0 };
		int slot = (int)(mix(&r) % NSLOT), p = (int)(mix(&r) % 100);
		struct mdoc *d = &m.d[slot];

		o.slot = slot;
		o.len = 24 + (uint32_t)(mix(&r) % 480);
		o.sync = mix(&r) % 2;
		if (k < NSPACE) {
			o.kind = 'S';
			o.slot = k;
		} else if (k == n / 2) {
			o.kind = 'G';
		} else if (k == n / 3 || k == (2 * n) / 3 + 1) {
			o.kind = 'O';
		} else if (p < 3) {
			o.kind = 'K';
		} else if (!d->id) {
			o.kind = 'C';
		} else if (d->evicted) {
			o.kind = p < 60 ? 'F' : 'D';
		} else if (p >= 30 && p < 36 && d->n) {
			o.kind = 'E';
		} else if (d->n >= MAXE - 1) {
			o.kind = 'T';
			o.keep = 2;
		} else if (p < 9) {
			o.kind = 'D';
		} else if (p < 16) {
			o.kind = 'R';
			o.slot2 = (slot + 1 + (int)(mix(&r) % (NSLOT - 1))) %
				  NSLOT;
		} else if (p < 24) {
			o.kind = 'T';
			o.keep = (uint32_t)(mix(&r) % 4);
		} else if (p < 30) {
			o.kind = 'P';
		} else {
			o.kind = 'A';
		}
		ops[k] = o;
		model_apply(&m, &o, (uint64_t)k + 1);
		models[++k] = m;
	}
	return k;
}

static void slot_name(int slot, char *space, char *key)
{
	sprintf(space, "s%d", slot / NKEY);
	sprintf(key, "k%d", slot % NKEY);
}

/* The bytes of the entry change g appends as sequence number seq. */
static void make_entry(char *buf, uint64_t g, uint64_t seq, uint32_t len)
{
	int h = snprintf(buf, 32, "g=%06" PRIu64 " s=%06" PRIu64 "|", g, seq);

	for (uint32_t i = (uint32_t)h; i < len; i++)
		buf[i] = (char)('a' + (g * 7 + i) % 26);
}

static void store_opts(struct store_options *o)
{
	store_options_default(o);
	o->capacity_bytes = CAPACITY;
	o->cutover_bytes = CUTOVER;
	o->commit_ms = 0;
}

/* ---- the child: run the script under the simulator ---- */

struct exec {
	const char *dir;
	struct store_options o;
	struct store *s;
	struct model m;
	uint64_t issued, acked;
};

/* Run change g; exit codes name what went wrong. */
static void exec_op(struct exec *x, const struct op *o, uint64_t g)
{
	struct mdoc *d = &x->m.d[o->slot];
	char space[16], key[16], buf[600];
	uint64_t id = 0, lsn = 0, seq = 0, want_seq = d->seq + 1, sp;

	if (o->kind == 'F')
		want_seq = d->seq; /* a refill keeps the seq */
	int rc = 0;

	x->issued = g;
	slot_name(o->slot2, space, key);
	sp = x->m.sp[o->slot2 / NKEY];
	if (o->kind != 'R') {
		slot_name(o->slot, space, key);
		sp = x->m.sp[o->slot / NKEY];
	}
	make_entry(buf, g, want_seq, o->len);
	switch (o->kind) {
	case 'S':
		sprintf(space, "s%d", o->slot);
		rc = store_space_create(x->s, space, &M, &id, &lsn);
		break;
	case 'C':
		rc = store_doc_create(x->s, sp, key, &M, &id, &lsn);
		break;
	case 'A':
		rc = store_append(x->s, d->id, buf, o->len, &seq, &lsn);
		break;
	case 'P':
		rc = store_append_replace(x->s, d->id, buf, o->len, d->seq,
					  &seq, &lsn);
		break;
	case 'T':
		rc = store_trim(x->s, d->id, o->keep, &lsn);
		break;
	case 'D':
		rc = store_doc_delete(x->s, d->id, &lsn);
		break;
	case 'R':
		rc = store_doc_rename(x->s, d->id, sp, key, 0, &lsn);
		break;
	case 'K':
		rc = store_checkpoint(x->s);
		break;
	case 'G':
		rc = store_grow(x->s, GROWN);
		break;
	case 'E':
		rc = store_backup_mark(x->s, d->id, d->seq, 1);
		if (!rc)
			rc = store_doc_evict(x->s, d->id, d->seq, 7, &lsn);
		break;
	case 'F':
		rc = store_doc_refill(x->s, d->id, d->seq, buf, o->len, &lsn);
		break;
	case 'O':
		rc = store_close(x->s);
		x->s = NULL;
		if (!rc)
			rc = store_open(x->dir, &x->o, &x->s);
		break;
	}
	if (rc) {
		fprintf(stderr, "change %" PRIu64 " (%c) failed: %s\n", g,
			o->kind, strerror(-rc));
		_exit(10);
	}
	model_apply(&x->m, o, g);
	if ((o->kind == 'S' && id != x->m.sp[o->slot]) ||
	    (o->kind == 'C' && id != x->m.d[o->slot].id) ||
	    ((o->kind == 'A' || o->kind == 'P') && seq != want_seq))
		_exit(11);
	if (strchr("KGO", o->kind)) {
		x->acked = g;
	} else if (o->sync) {
		if (store_sync(x->s, lsn))
			_exit(12);
		x->acked = g;
	}
}

struct point_msg {
	unsigned long n;
	uint64_t acked, issued;
	int nstates;
	struct io_crashsim_stats sim; /* the simulator's totals so far */
};

struct child_ctx {
	struct exec *x;
	const char *base;
	int to_parent, from_parent;
	int nstates;
	unsigned long stride;
	uint64_t seed;
};

static enum io_crash_mode state_mode(int j)
{
	return j == 0	? IO_CRASH_ALL_KEPT
	       : j == 1 ? IO_CRASH_ALL_DROPPED
			: IO_CRASH_RANDOM;
}

static uint64_t state_seed(uint64_t seed, unsigned long n, int j)
{
	uint64_t x = seed ^ ((uint64_t)n << 20) ^ (uint64_t)j;
	return mix(&x);
}

static void state_dir(char *out, size_t len, const char *base, unsigned long n,
		      int j)
{
	int k = snprintf(out, len, "%s/p%lu-%d", base, n, j);

	if (k < 0 || (size_t)k >= len)
		abort();
}

static void emit_point(struct child_ctx *c, unsigned long n)
{
	struct point_msg m;
	char path[512], go;

	memset(&m, 0, sizeof(m));
	m.n = n;
	m.acked = c->x->acked;
	m.issued = c->x->issued;
	m.nstates = c->nstates;

	for (int j = 0; j < c->nstates; j++) {
		state_dir(path, sizeof(path), c->base, n, j);
		if (io_crashsim_write_state(path, state_mode(j),
					    state_seed(c->seed, n, j)))
			_exit(20);
	}
	io_crashsim_stats(&m.sim);
	if (write(c->to_parent, &m, sizeof(m)) != (ssize_t)sizeof(m) ||
	    read(c->from_parent, &go, 1) != 1)
		_exit(21);
}

static void on_point(void *arg, unsigned long n)
{
	struct child_ctx *c = arg;

	if ((n - 1) % c->stride == 0)
		emit_point(c, n);
}

static void child_main(struct child_ctx *c, const struct op *ops, int nops)
{
	struct exec *x = c->x;

	log_set_level(LOG_LVL_ERROR);
	if (mkdir(x->dir, 0755) < 0 || io_crashsim_install(x->dir))
		_exit(30);
	io_crashsim_set_hook(on_point, c);
	if (store_open(x->dir, &x->o, &x->s))
		_exit(31);
	for (int k = 0; k < nops; k++)
		exec_op(x, &ops[k], (uint64_t)k + 1);
	if (store_close(x->s))
		_exit(32);
	x->acked = x->issued;
	/* after a clean close everything is durable */
	emit_point(c, io_crashsim_points() + 1);
	io_crashsim_uninstall();
	_exit(0);
}

/* ---- the parent: check a crash state ---- */

struct figures {
	unsigned long points;
	uint64_t states;
	uint64_t recovery_states;
	uint64_t recovery_acked; /* second cuts after the new append's ack */
	uint64_t acked_verified;
	uint64_t losses;
	struct io_crashsim_stats sim;
};

/* out = dir/name; paths here are short, a longer one is a test bug. */
static void path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < len);
}

static void rm_dir(const char *dir)
{
	test_rmdir(dir);
}

static void copy_dir(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;
	char a[600], b[600];

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(mkdir(to, 0755), 0);
	while ((e = readdir(d))) {
		struct stat st;

		path_join(a, sizeof(a), from, e->d_name);
		path_join(b, sizeof(b), to, e->d_name);
		if (lstat(a, &st) == 0 && S_ISREG(st.st_mode))
			test_copy_file(a, b, -1);
	}
	closedir(d);
}

static bool has_log(const char *dir)
{
	char p[600];
	struct stat st;

	path_join(p, sizeof(p), dir, "wal");
	return stat(p, &st) == 0;
}

static int fsck_quiet(const char *dir)
{
	FILE *devnull = fopen("/dev/null", "w");
	int rc = store_fsck(dir, devnull);

	fclose(devnull);
	if (rc)
		store_fsck(dir, stderr);
	return rc;
}

struct reader {
	struct mdoc *d;
	bool bad;
};

static int read_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct reader *r = arg;
	char head[32], want[600];
	uint64_t g, s;

	memcpy(head, buf, len < 31 ? len : 31);
	head[len < 31 ? len : 31] = '\0';
	if (len < 24 || len > sizeof(want) || r->d->n >= MAXE ||
	    sscanf(head, "g=%" SCNu64 " s=%" SCNu64 "|", &g, &s) != 2 ||
	    s != seq) {
		r->bad = true;
		return 1;
	}
	make_entry(want, g, seq, (uint32_t)len);
	if (memcmp(want, buf, len) != 0) {
		r->bad = true;
		return 1;
	}
	r->d->e[r->d->n].seq = seq;
	r->d->e[r->d->n].g = g;
	r->d->e[r->d->n].len = (uint32_t)len;
	r->d->n++;
	return 0;
}

/* Open dir (recovering it), read its state into r, close.  0, or a
 * description of the problem in why. */
static int recover_and_read(const char *dir, struct model *r, char *why,
			    size_t whylen)
{
	struct store_options o;
	struct store_stats st;
	struct store *s;
	uint64_t docs = 0, spaces = 0;
	int rc;

	store_opts(&o);
	model_init(r);
	rc = store_open(dir, &o, &s);
	if (rc) {
		snprintf(why, whylen, "open: %s", strerror(-rc));
		return -1;
	}
	for (int i = 0; i < NSPACE; i++) {
		char name[16];

		sprintf(name, "s%d", i);
		if (store_space_lookup(s, name, &r->sp[i]) == 0)
			spaces++;
	}
	for (int i = 0; i < NSLOT; i++) {
		char space[16], key[16];
		struct store_doc_info info;
		struct reader rd = { &r->d[i], false };

		slot_name(i, space, key);
		if (!r->sp[i / NKEY] ||
		    store_doc_lookup(s, r->sp[i / NKEY], key, &r->d[i].id))
			continue;
		docs++;
		if (store_doc_info(s, r->d[i].id, &info) ||
		    (info.evicted &&
		     store_read(s, r->d[i].id, read_entry, &rd) != -ENODATA) ||
		    (!info.evicted &&
		     store_read(s, r->d[i].id, read_entry, &rd)) ||
		    rd.bad) {
			snprintf(why, whylen,
				 "document %s/%s: unreadable or "
				 "foreign bytes",
				 space, key);
			store_close(s);
			return -1;
		}
		r->d[i].seq = info.seq;
		r->d[i].evicted = info.evicted;
	}
	store_stats(s, &st);
	rc = store_close(s);
	if (st.documents != docs || st.spaces != spaces) {
		snprintf(why, whylen,
			 "%" PRIu64 " documents and %" PRIu64
			 " spaces, %" PRIu64 " and %" PRIu64 " by name",
			 st.documents, st.spaces, docs, spaces);
		return -1;
	}
	if (rc) {
		snprintf(why, whylen, "close: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

static bool same_state(const struct model *a, const struct model *b)
{
	for (int i = 0; i < NSPACE; i++)
		if (a->sp[i] != b->sp[i])
			return false;
	for (int i = 0; i < NSLOT; i++) {
		const struct mdoc *x = &a->d[i], *y = &b->d[i];

		if (x->id != y->id)
			return false;
		if (!x->id)
			continue;
		if (x->seq != y->seq || x->n != y->n ||
		    x->evicted != y->evicted)
			return false;
		for (int j = 0; j < x->n; j++)
			if (x->e[j].seq != y->e[j].seq ||
			    x->e[j].g != y->e[j].g ||
			    x->e[j].len != y->e[j].len)
				return false;
	}
	return true;
}

/* The change number written into the entry the recovery appends. */
#define RECOVERY_G 999999

struct recovery_hook {
	unsigned long at;
	const char *out;
	uint64_t seed;
	bool acked; /* the recovery's own append was acknowledged */
	int fd; /* where the cut's outcome goes */
};

/* The power cut: the outcome goes to the parent through the pipe and the
 * process dies by SIGKILL, as a machine losing power stops mid-call.  An
 * _exit here would let valgrind's exit-time leak check count buffers the
 * interrupted call still held as lost, and turn the status into its
 * error code. */
static void on_recovery_point(void *arg, unsigned long n)
{
	struct recovery_hook *h = arg;
	char code;

	if (n != h->at)
		return;
	if (io_crashsim_write_state(h->out, IO_CRASH_RANDOM, h->seed))
		_exit(3);
	code = (char)(h->acked ? RECOVERY_CRASHED_ACKED : RECOVERY_CRASHED);
	if (write(h->fd, &code, 1) != 1)
		_exit(3);
	kill(getpid(), SIGKILL);
	_exit(3); /* not reached */
}

/* Recover a copy of pristine under the simulator: open, append one entry
 * of len bytes to document doc (0: none) and sync it, close; cut the
 * power at recovery sync point at into out.  Returns 0 when the recovery
 * had fewer sync points, RECOVERY_CRASHED, or RECOVERY_CRASHED_ACKED
 * when the append had been acknowledged before the cut. */
static int crash_recovery(const char *pristine, const char *work,
			  const char *out, unsigned long at, uint64_t seed,
			  uint64_t doc, uint64_t seq, uint32_t len)
{
	int status, fds[2];
	pid_t pid;
	char code;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct recovery_hook h = { at, out, seed, false, fds[1] };
		struct store_options o;
		struct store *s;
		uint64_t lsn;
		char buf[600];

		copy_dir(pristine, work);
		if (io_crashsim_install(work))
			_exit(4);
		io_crashsim_set_hook(on_recovery_point, &h);
		store_opts(&o);
		if (store_open(work, &o, &s))
			_exit(5);
		if (doc) {
			make_entry(buf, RECOVERY_G, seq, len);
			if (store_append(s, doc, buf, len, NULL, &lsn) ||
			    store_sync(s, lsn))
				_exit(7);
			h.acked = true;
		}
		if (store_close(s))
			_exit(6);
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		ck_assert_int_eq(read(fds[0], &code, 1), 1);
		close(fds[0]);
		ck_assert(code == RECOVERY_CRASHED ||
			  code == RECOVERY_CRASHED_ACKED);
		return code;
	}
	close(fds[0]);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "recovery child failed with status %d", status);
	return 0;
}

struct checker {
	const char *base;
	const struct model *models;
	int nops;
	uint64_t seed;
	bool second_cut_all; /* else only for the first RANDOM state */
	struct figures fig;
};

static void loss(struct checker *c, const char *dir, unsigned long n, int j,
		 const char *what, const char *why)
{
	char keep[600];

	/* report and keep the first few; count them all */
	if (c->fig.losses++ >= 10)
		return;
	ck_assert_int_lt(snprintf(keep, sizeof(keep), "%s-failed-%" PRIu64,
				  c->base, c->fig.losses),
			 (int)sizeof(keep));
	fprintf(stderr,
		"LOSS at sync point %lu, state %d: %s: %s (state "
		"kept in %s)\n",
		n, j, what, why, keep);
	copy_dir(dir, keep);
}

/* The second cut: every sync point of a recovery of the state in
 * pristine that also appends one entry and syncs it.  The cut must leave
 * want (the uninterrupted recovery), with the new entry when it was
 * acknowledged, and with or without it otherwise. */
static void check_recoveries(struct checker *c, const char *pristine,
			     const struct model *want, unsigned long n, int j)
{
	char work[600], out[600], why[200];
	struct model with = *want;
	uint64_t doc = 0, seq = 0;
	uint32_t len = 24 + (uint32_t)(n % 400);
	int slot;

	for (slot = 0; slot < NSLOT && !doc; slot++) {
		if (want->d[slot].id && want->d[slot].n < MAXE &&
		    !want->d[slot].evicted) {
			doc = want->d[slot].id;
			seq = want->d[slot].seq + 1;
			push_ent(&with.d[slot], RECOVERY_G, len);
		}
	}
	path_join(work, sizeof(work), c->base, "rw");
	path_join(out, sizeof(out), c->base, "ry");
	for (unsigned long at = 1;; at++) {
		struct model got;
		int cut = crash_recovery(pristine, work, out, at,
					 state_seed(c->seed, n * 131 + at, j),
					 doc, seq, len);

		rm_dir(work);
		if (!cut)
			break;
		c->fig.recovery_states++;
		if (cut == RECOVERY_CRASHED_ACKED)
			c->fig.recovery_acked++;
		if (has_log(out) && fsck_quiet(out))
			loss(c, out, n, j, "second cut", "fsck not clean");
		else if (recover_and_read(out, &got, why, sizeof(why)))
			loss(c, out, n, j, "second cut", why);
		else if (!(doc && same_state(&got, &with)) &&
			 (cut == RECOVERY_CRASHED_ACKED ||
			  !same_state(&got, want)))
			loss(c, out, n, j, "second cut",
			     cut == RECOVERY_CRASHED_ACKED
				     ? "the append acknowledged after recovery "
				       "is lost"
				     : "state is neither the recovered one nor "
				       "it plus the new append");
		rm_dir(out);
	}
}

static void check_state(struct checker *c, const char *dir, unsigned long n,
			int j, uint64_t acked, uint64_t issued)
{
	char pristine[600], why[200];
	struct model got;
	uint64_t g;

	path_join(pristine, sizeof(pristine), c->base, "pristine");
	copy_dir(dir, pristine);
	c->fig.states++;
	if (has_log(dir) && fsck_quiet(dir)) {
		loss(c, dir, n, j, "before recovery", "fsck not clean");
		goto out;
	}
	if (recover_and_read(dir, &got, why, sizeof(why))) {
		loss(c, dir, n, j, "recovery", why);
		goto out;
	}
	for (g = acked; g <= issued; g++)
		if (same_state(&got, &c->models[g]))
			break;
	if (g > issued) {
		snprintf(why, sizeof(why),
			 "state is no prefix 1..G with "
			 "%" PRIu64 " <= G <= %" PRIu64,
			 acked, issued);
		loss(c, dir, n, j, "oracle", why);
		goto out;
	}
	c->fig.acked_verified += acked;
	if (fsck_quiet(dir)) {
		loss(c, dir, n, j, "after recovery", "fsck not clean");
		goto out;
	}
	if (c->second_cut_all || j == 2)
		check_recoveries(c, pristine, &got, n, j);
out:
	rm_dir(pristine);
	rm_dir(dir);
}

static char *scratch_base(void)
{
	struct stat st;
	char *p;

	/* tmpfs: fsync is free, and the states are many */
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0) {
		p = strdup("/dev/shm/caravan-crashsim-XXXXXX");
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(mkdtemp(p));
		return p;
	}
	return test_tmpdir();
}

static bool sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

static bool env_on(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

START_TEST(test_crashsim_every_sync_point_keeps_acknowledged_prefix)
{
	static struct op ops[MAXOPS];
	static struct model models[MAXOPS + 1];
	bool lng = env_on("CARAVAN_LONG"), vg = env_on("CARAVAN_VALGRIND");
	int nops = lng ? 900 : 220, nstates = lng ? 12 : 4;
	int evictions = 0, refills = 0;
	unsigned long stride = vg ? 40 : 1;
	uint64_t seed = 0xC0FFEE;
	struct checker c = { 0 };
	struct child_ctx cc = { 0 };
	struct exec x = { 0 };
	char *base = scratch_base(), dir[600];
	int up[2], down[2], status;
	pid_t pid;

	nops = make_script(seed, nops, ops, models);
	/* a fork under a sanitizer or valgrind is costly: the second cut
	 * then runs for one crash state per sync point */
	c.second_cut_all = !vg && !sanitized();
	c.base = base;
	c.models = models;
	c.nops = nops;
	c.seed = seed;
	path_join(dir, sizeof(dir), base, "store");
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		x.dir = dir;
		store_opts(&x.o);
		model_init(&x.m);
		cc.x = &x;
		cc.base = base;
		cc.to_parent = up[1];
		cc.from_parent = down[0];
		cc.nstates = nstates;
		cc.stride = stride;
		cc.seed = seed;
		child_main(&cc, ops, nops);
	}
	close(up[1]);
	close(down[0]);
	for (;;) {
		struct point_msg m;
		ssize_t r = read(up[0], &m, sizeof(m));

		if (r == 0)
			break;
		ck_assert_int_eq(r, sizeof(m));
		ck_assert_uint_le(m.acked, m.issued);
		ck_assert_int_le(m.issued, nops);
		c.fig.points++;
		c.fig.sim = m.sim;
		for (int j = 0; j < m.nstates; j++) {
			char sdir[600];

			state_dir(sdir, sizeof(sdir), base, m.n, j);
			check_state(&c, sdir, m.n, j, m.acked, m.issued);
		}
		ck_assert_int_eq(write(down[1], "g", 1), 1);
	}
	close(up[0]);
	close(down[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "workload child failed with status %d", status);
	rm_dir(dir);
	rmdir(base);
	free(base);
	fprintf(stderr,
		"crashsim: unsynced sectors kept %" PRIu64 ", dropped %" PRIu64
		", garbled %" PRIu64 "; truncations/extensions undone %" PRIu64
		"; name changes undone %" PRIu64 "\n",
		c.fig.sim.sectors_kept, c.fig.sim.sectors_dropped,
		c.fig.sim.sectors_garbled, c.fig.sim.meta_undone,
		c.fig.sim.names_undone);
	for (int k = 0; k < nops; k++) {
		evictions += ops[k].kind == 'E';
		refills += ops[k].kind == 'F';
	}
	fprintf(stderr,
		"crashsim: %d evictions and %d refills among the changes\n",
		evictions, refills);
	fprintf(stderr,
		"crashsim: %d changes, sync points enumerated: %lu, crash "
		"states checked: %" PRIu64 " (+%" PRIu64 " second cuts in "
		"recovery, %" PRIu64 " after its own append was acknowledged), "
		"acknowledged changes verified: %" PRIu64
		", losses found: %" PRIu64 "\n",
		nops, c.fig.points, c.fig.states, c.fig.recovery_states,
		c.fig.recovery_acked, c.fig.acked_verified, c.fig.losses);
	ck_assert_uint_eq(c.fig.losses, 0);
	ck_assert_uint_gt(c.fig.points, vg ? 5 : 100);
}
END_TEST

/*
 * A growth makes durable its new size and header copies and nothing else:
 * the map's unsynced pages stay unsynced (a growth that wrote them back,
 * with an fsync, held the store's lock for 14-356 ms under a writer:
 * bench/README.md).  Right after store_grow, the crash state with every
 * unsynced change dropped has the grown capacity in both header copies
 * over a file that holds it, still lacks the entries written into the map
 * since the last checkpoint (none of their bytes is in the data file),
 * and opens fsck-clean at the grown capacity with every entry (replayed
 * from the log).
 */
#define GS_LEN 1000
#define GS_N 40

static void gs_entry(char *buf, int i)
{
	memset(buf, 'Q', GS_LEN);
	snprintf(buf, 32, "growth-sync %d|", i);
}

struct gs_read {
	int n, bad;
};

static int gs_check(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct gs_read *r = arg;
	char want[GS_LEN];

	gs_entry(want, (int)seq);
	r->n++;
	r->bad += seq != (uint64_t)r->n || len != GS_LEN ||
		  memcmp(buf, want, GS_LEN) != 0;
	return 0;
}

START_TEST(test_crashsim_growth_syncs_only_its_size_and_header)
{
	char *base = scratch_base(), dir[600], out[600], data[700];
	char buf[GS_LEN], pat[64];
	struct store_options o;
	struct store_stats st;
	struct gs_read rd = { 0 };
	struct store *s;
	uint64_t sp, id;
	uint8_t h[64], *img;
	struct stat sb;
	int fd;

	path_join(dir, sizeof(dir), base, "store");
	path_join(out, sizeof(out), base, "cut");
	store_options_default(&o);
	o.capacity_bytes = CAPACITY;
	o.cutover_bytes = 64u << 20; /* no checkpoint meanwhile */
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_create(s, "sp", &M, &sp, NULL), 0);
	ck_assert_int_eq(store_doc_create(s, sp, "k", &M, &id, NULL), 0);
	ck_assert_int_eq(store_close(s), 0);

	ck_assert_int_eq(io_crashsim_install(dir), 0);
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	for (int i = 1; i <= GS_N; i++) {
		gs_entry(buf, i);
		ck_assert_int_eq(store_append(s, id, buf, GS_LEN, NULL, NULL),
				 0);
	}
	ck_assert_int_eq(store_sync(s, 0), 0);
	ck_assert_int_eq(store_grow(s, GROWN), 0);
	ck_assert_int_eq(io_crashsim_write_state(out, IO_CRASH_ALL_DROPPED, 1),
			 0);
	ck_assert_int_eq(store_close(s), 0);
	io_crashsim_uninstall();

	path_join(data, sizeof(data), out, "data");
	fd = open(data, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_uint_ge((uint64_t)sb.st_size, 4096 + GROWN);
	img = malloc((size_t)sb.st_size);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(pread(fd, img, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	for (int off = 0; off <= 512; off += 512) {
		memcpy(h, img + off, sizeof(h));
		ck_assert_uint_eq((uint64_t)h[16] | (uint64_t)h[17] << 8 |
					  (uint64_t)h[18] << 16,
				  GROWN);
	}
	memset(pat, 'Q', sizeof(pat));
	ck_assert_msg(!memmem(img, (size_t)sb.st_size, pat, sizeof(pat)),
		      "the growth wrote the map's unsynced pages back");
	ck_assert_msg(!memmem(img, (size_t)sb.st_size, "growth-sync", 11),
		      "the growth wrote the map's unsynced pages back");
	free(img);

	ck_assert_int_eq(store_fsck(out, stderr), 0);
	ck_assert_int_eq(store_open(out, &o, &s), 0);
	store_stats(s, &st);
	ck_assert_uint_eq(st.capacity_bytes, GROWN);
	ck_assert_int_eq(store_read(s, id, gs_check, &rd), 0);
	ck_assert_int_eq(rd.n, GS_N);
	ck_assert_int_eq(rd.bad, 0);
	ck_assert_int_eq(store_close(s), 0);
	ck_assert_int_eq(store_fsck(out, stderr), 0);
	rm_dir(out);
	rm_dir(dir);
	rmdir(base);
	free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crashsim");
	TCase *tc = tcase_create("power cuts");

	/* recovery of torn tails logs a warning per state */
	log_set_level(LOG_LVL_ERROR);
	tcase_set_timeout(tc, 3600);
	tcase_add_test(
		tc, test_crashsim_every_sync_point_keeps_acknowledged_prefix);
	tcase_add_test(tc, test_crashsim_growth_syncs_only_its_size_and_header);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
