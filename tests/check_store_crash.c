/*
 * check_store_crash.c - kill -9 at random moments, reopen, check.
 *
 * A child process opens the store and runs random operations on K keys
 * (create, append, trim, delete), most followed by a sync.  Before each
 * operation it tells the parent, over a pipe, what it is about to do
 * ("I g op key arg"); after a successful sync it reports "A g": operation
 * g and everything before it is acknowledged.  The parent SIGKILLs the
 * child after a random number of acknowledgements, reopens the store and
 * checks the oracle:
 *   - the recovered state equals the model after applying exactly the
 *     intents 1..G, for some G at least the last acknowledged g (every
 *     acknowledged change present, history a prefix, no resurrected
 *     delete, no hole);
 *   - every entry's bytes name its own key and sequence number;
 *   - fsck is clean.
 * The store directory carries over from round to round, so recoveries of
 * recoveries and cut-overs at every moment are covered.
 *
 * CARAVAN_CRASH_ROUNDS sets the number of rounds (200 by default).
 *
 * The second test races large replaces (what compaction appends; the
 * two-step append of docs.c, whose frame is copied into the log after
 * the lock) with small appends and cut-overs: a child replaces one
 * document with one entry of CARAVAN_CRASH_BIG_BYTES (512 KiB by
 * default) back to back in one thread, syncing each, while its main
 * thread appends small entries to four others; it is killed right after
 * a random number of acknowledged replaces.  Every acknowledged change
 * must be there, each entry whole (its bytes a pattern of its seq), the
 * large document one entry.  CARAVAN_CRASH_BIG_ROUNDS rounds (12).
 */
#include "store/store.h"
#include "tests/testutil.h"
#include "util/log.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define K 8
#define MAXE 64
#define MAXOPS 20000

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

struct key_state {
	bool exists;
	uint64_t seq;
	int n;
	uint64_t eseq[MAXE];
	uint64_t eg[MAXE];
};

struct op {
	uint64_t g;
	char kind; /* C reate, A ppend, T rim, D elete, S pace */
	int key;
	uint64_t arg;
};

static void model_apply(struct key_state *ks, const struct op *o)
{
	struct key_state *k = &ks[o->key];

	switch (o->kind) {
	case 'C':
		k->exists = true;
		k->seq = 0;
		k->n = 0;
		break;
	case 'A':
		k->seq++;
		ck_assert_int_lt(k->n, MAXE);
		k->eseq[k->n] = k->seq;
		k->eg[k->n] = o->g;
		k->n++;
		break;
	case 'T':
		if (k->n > (int)o->arg) {
			int drop = k->n - (int)o->arg;
			memmove(k->eseq, k->eseq + drop,
				(size_t)(k->n - drop) * sizeof(uint64_t));
			memmove(k->eg, k->eg + drop,
				(size_t)(k->n - drop) * sizeof(uint64_t));
			k->n -= drop;
		}
		break;
	case 'D':
		k->exists = false;
		k->n = 0;
		k->seq = 0;
		break;
	}
}

static bool same(const struct key_state *a, const struct key_state *b)
{
	for (int i = 0; i < K; i++) {
		if (a[i].exists != b[i].exists)
			return false;
		if (!a[i].exists)
			continue;
		if (a[i].seq != b[i].seq || a[i].n != b[i].n)
			return false;
		for (int j = 0; j < a[i].n; j++)
			if (a[i].eseq[j] != b[i].eseq[j] ||
			    a[i].eg[j] != b[i].eg[j])
				return false;
	}
	return true;
}

/* ---- the child ---- */

static void say(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(int fd, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

static void child(const char *dir, int fd, unsigned seed, uint64_t g0)
{
	struct store_options o;
	struct store *s;
	uint64_t sp, g = g0;
	char buf[400];

	srand(seed);
	store_options_default(&o);
	o.capacity_bytes = 256 << 10;
	o.cutover_bytes = 16 << 10;
	o.commit_ms = 3;
	if (store_open(dir, &o, &s))
		_exit(2);
	if (store_space_lookup(s, "sp", &sp)) {
		say(fd, "I %" PRIu64 " S 0 0\n", ++g);
		if (store_space_create(s, "sp", &M, &sp, NULL))
			_exit(2);
	}
	for (int i = 0; i < 400; i++) {
		int key = rand() % K, r = rand() % 100, rc = 0;
		char name[8];
		uint64_t id, lsn = 0;
		struct store_doc_info info;

		snprintf(name, sizeof(name), "k%d", key);
		if (store_doc_lookup(s, sp, name, &id)) {
			say(fd, "I %" PRIu64 " C %d 0\n", ++g, key);
			rc = store_doc_create(s, sp, name, &M, &id, &lsn);
		} else if (r < 5) {
			say(fd, "I %" PRIu64 " D %d 0\n", ++g, key);
			rc = store_doc_delete(s, id, &lsn);
		} else if (store_doc_info(s, id, &info) == 0 &&
			   (r < 15 || info.entries >= MAXE - 4)) {
			say(fd, "I %" PRIu64 " T %d 3\n", ++g, key);
			rc = store_trim(s, id, 3, &lsn);
		} else {
			int len;
			store_doc_info(s, id, &info);
			len = snprintf(buf, sizeof(buf),
				       "g=%" PRIu64 " k=%d s=%" PRIu64 "|",
				       g + 1, key, info.seq + 1);
			len += rand() % 300;
			memset(buf + strlen(buf), 'x',
			       (size_t)len - strlen(buf));
			say(fd, "I %" PRIu64 " A %d 0\n", ++g, key);
			rc = store_append(s, id, buf, (size_t)len, NULL, &lsn);
		}
		if (rc)
			_exit(4);
		if (rand() % 10 < 7) {
			if (store_sync(s, lsn))
				_exit(5);
			say(fd, "A %" PRIu64 "\n", g);
		}
	}
	store_close(s);
	_exit(0);
}

/* ---- the parent ---- */

struct entry_check {
	struct key_state *k;
	int key;
	bool bad;
};

static int read_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct entry_check *c = arg;
	char text[64];
	uint64_t g, s;
	int key;

	memcpy(text, buf, len < 63 ? len : 63);
	text[len < 63 ? len : 63] = '\0';
	if (sscanf(text, "g=%" SCNu64 " k=%d s=%" SCNu64 "|", &g, &key, &s) !=
		    3 ||
	    key != c->key || s != seq || c->k->n >= MAXE) {
		c->bad = true;
		return 0;
	}
	c->k->eseq[c->k->n] = seq;
	c->k->eg[c->k->n] = g;
	c->k->n++;
	return 0;
}

static void read_state(const char *dir, struct key_state *out)
{
	struct store_options o;
	struct store *s;
	uint64_t sp;

	memset(out, 0, sizeof(struct key_state) * K);
	store_options_default(&o);
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	if (store_space_lookup(s, "sp", &sp) == 0) {
		for (int i = 0; i < K; i++) {
			char name[8];
			uint64_t id;
			struct store_doc_info info;
			struct entry_check c = { &out[i], i, false };

			snprintf(name, sizeof(name), "k%d", i);
			if (store_doc_lookup(s, sp, name, &id))
				continue;
			out[i].exists = true;
			ck_assert_int_eq(store_doc_info(s, id, &info), 0);
			out[i].seq = info.seq;
			ck_assert_int_eq(store_read(s, id, read_entry, &c), 0);
			ck_assert_msg(!c.bad, "entry of k%d names another", i);
		}
	}
	ck_assert_int_eq(store_close(s), 0);
}

START_TEST(test_store_crash_rounds_keep_every_acknowledged_change)
{
	char *dir = test_tmpdir();
	const char *env = getenv("CARAVAN_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : 200;
	static struct op ops[MAXOPS];
	struct key_state model[K], got[K], try[K];
	uint64_t g = 0, acked_total = 0;
	FILE *devnull = fopen("/dev/null", "w");

	memset(model, 0, sizeof(model));
	srand(12345);
	for (int round = 0; round < rounds; round++) {
		int p[2], status, nops = 0, target = rand() % 120;
		uint64_t acked = 0, acks = 0;
		pid_t pid;
		FILE *in;
		char line[128];

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			child(dir, p[1], (unsigned)rand() ^ (unsigned)round, g);
		}
		close(p[1]);
		in = fdopen(p[0], "r");
		while (fgets(line, sizeof(line), in)) {
			struct op o = { 0 };
			if (line[0] == 'A') {
				acked = strtoull(line + 2, NULL, 10);
				if (++acks >= (uint64_t)target)
					kill(pid, SIGKILL);
				continue;
			}
			ck_assert_int_eq(sscanf(line,
						"I %" SCNu64 " %c %d %" SCNu64,
						&o.g, &o.kind, &o.key, &o.arg),
					 4);
			ck_assert_int_lt(nops, MAXOPS);
			ops[nops++] = o;
		}
		fclose(in);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) || (WIFEXITED(status) &&
						      WEXITSTATUS(status) == 0),
			      "child failed with status %d", status);
		acked_total += acks;

		ck_assert_int_eq(store_fsck(dir, devnull), 0);
		read_state(dir, got);
		/* find the prefix G the store recovered */
		memcpy(try, model, sizeof(try));
		{
			int matched = -1;
			for (int i = 0; i <= nops; i++) {
				if (i > 0)
					model_apply(try, &ops[i - 1]);
				if ((i == 0 ? g : ops[i - 1].g) >= acked &&
				    same(try, got)) {
					matched = i;
					break;
				}
			}
			ck_assert_msg(matched >= 0,
				      "round %d: recovered state is no prefix "
				      "at or after acknowledged op %" PRIu64,
				      round, acked);
			memcpy(model, try, sizeof(model));
			/* intents beyond the prefix are gone: the next child
			 * numbers on from the last recovered one */
			g = matched == 0 ? g : ops[matched - 1].g;
		}
	}
	fclose(devnull);
	fprintf(stderr,
		"crash rounds: %d, acknowledged changes verified: %" PRIu64
		", losses: 0\n",
		rounds, acked_total);
	test_rmdir(dir);
}
END_TEST

/* ---- large replaces racing small appends ---- */

#define NK 4

static uint8_t big_byte(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 12));
}

struct big_run {
	struct store *s;
	uint64_t id;
	size_t len;
	int fd;
};

static void *big_replacer(void *p)
{
	struct big_run *r = p;
	uint8_t *buf = malloc(r->len);
	struct store_doc_info info;

	if (!buf)
		_exit(6);
	for (;;) {
		uint64_t seq, lsn = 0;

		if (store_doc_info(r->s, r->id, &info))
			_exit(6);
		for (size_t i = 0; i < r->len; i++)
			buf[i] = big_byte(info.seq + 1, i);
		if (store_append_replace(r->s, r->id, buf, r->len, info.seq,
					 &seq, &lsn))
			_exit(6);
		if (store_sync(r->s, lsn))
			_exit(7);
		say(r->fd, "R %" PRIu64 "\n", seq);
	}
	return NULL;
}

static void big_child(const char *dir, int fd, unsigned seed, size_t len)
{
	struct store_options o;
	struct big_run r = { .len = len, .fd = fd };
	struct store *s;
	uint64_t sp, ids[NK];
	pthread_t th;
	char buf[300], name[8];

	srand(seed);
	store_options_default(&o);
	o.capacity_bytes = 16 * len + (4 << 20);
	o.cutover_bytes = 3 * len;
	o.commit_ms = 3;
	if (store_open(dir, &o, &s))
		_exit(2);
	if (store_space_lookup(s, "sp", &sp) &&
	    store_space_create(s, "sp", &M, &sp, NULL))
		_exit(2);
	for (int k = 0; k <= NK; k++) {
		uint64_t *id = k < NK ? &ids[k] : &r.id;

		snprintf(name, sizeof(name), k < NK ? "k%d" : "big", k);
		if (store_doc_lookup(s, sp, name, id) &&
		    store_doc_create(s, sp, name, &M, id, NULL))
			_exit(2);
	}
	if (store_sync(s, 0))
		_exit(5);
	r.s = s;
	if (pthread_create(&th, NULL, big_replacer, &r))
		_exit(2);
	for (int i = 0; i < 200000; i++) {
		int key = rand() % NK, n;
		struct store_doc_info info;
		uint64_t seq, lsn = 0;

		if (store_doc_info(s, ids[key], &info))
			_exit(4);
		n = snprintf(buf, sizeof(buf), "k=%d s=%" PRIu64 "|", key,
			     info.seq + 1);
		memset(buf + n, 'y', (size_t)(rand() % 200));
		n += rand() % 200;
		if (store_append(s, ids[key], buf, (size_t)n, &seq, &lsn))
			_exit(4);
		if (rand() % 10 < 7) {
			if (store_sync(s, lsn))
				_exit(5);
			say(fd, "A %d %" PRIu64 "\n", key, seq);
		}
	}
	_exit(0); /* the parent kills long before */
}

struct small_check {
	int key;
	uint64_t next;
	bool bad;
};

static int small_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct small_check *c = arg;
	char text[40];
	uint64_t s;
	int key;

	memcpy(text, buf, len < 39 ? len : 39);
	text[len < 39 ? len : 39] = '\0';
	if (sscanf(text, "k=%d s=%" SCNu64 "|", &key, &s) != 2 ||
	    key != c->key || s != seq || seq != c->next)
		c->bad = true;
	c->next = seq + 1;
	return 0;
}

struct big_check {
	size_t len;
	int n;
	bool bad;
};

static int big_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct big_check *c = arg;
	const uint8_t *p = buf;

	c->n++;
	if (len != c->len) {
		c->bad = true;
		return 0;
	}
	for (size_t i = 0; i < len && !c->bad; i++)
		c->bad = p[i] != big_byte(seq, i);
	return 0;
}

/* Open the store and check it against what was acknowledged. */
static void big_verify(const char *dir, size_t len, const uint64_t *acked,
		       uint64_t acked_big, int round)
{
	struct store_options o;
	struct store_doc_info info;
	struct store *s;
	uint64_t sp, id;
	char name[8];

	store_options_default(&o);
	o.commit_ms = 0;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_space_lookup(s, "sp", &sp), 0);
	for (int k = 0; k < NK; k++) {
		struct small_check c = { k, 1, false };

		snprintf(name, sizeof(name), "k%d", k);
		ck_assert_int_eq(store_doc_lookup(s, sp, name, &id), 0);
		ck_assert_int_eq(store_doc_info(s, id, &info), 0);
		ck_assert_msg(info.seq >= acked[k],
			      "round %d: k%d has seq %" PRIu64 ", %" PRIu64
			      " was acknowledged",
			      round, k, info.seq, acked[k]);
		ck_assert_int_eq(store_read(s, id, small_entry, &c), 0);
		ck_assert_msg(!c.bad && c.next == info.seq + 1,
			      "round %d: k%d's entries are not 1..%" PRIu64,
			      round, k, info.seq);
	}
	ck_assert_int_eq(store_doc_lookup(s, sp, "big", &id), 0);
	ck_assert_int_eq(store_doc_info(s, id, &info), 0);
	ck_assert_msg(info.seq >= acked_big,
		      "round %d: the large document has seq %" PRIu64
		      ", %" PRIu64 " was acknowledged",
		      round, info.seq, acked_big);
	{
		struct big_check c = { len, 0, false };

		ck_assert_int_eq(store_read(s, id, big_entry, &c), 0);
		ck_assert_msg(!c.bad, "round %d: a large entry is damaged",
			      round);
		ck_assert_int_eq(c.n, info.seq ? 1 : 0);
	}
	ck_assert_int_eq(store_close(s), 0);
}

START_TEST(test_store_crash_large_replaces_racing_appends_lose_nothing)
{
	char *dir = test_tmpdir();
	const char *env = getenv("CARAVAN_CRASH_BIG_ROUNDS");
	const char *envb = getenv("CARAVAN_CRASH_BIG_BYTES");
	int rounds = env ? atoi(env) : 12;
	size_t len = envb ? (size_t)strtoull(envb, NULL, 10) : 512 << 10;
	uint64_t acked[NK] = { 0 }, acked_big = 0, total = 0;
	FILE *devnull = fopen("/dev/null", "w");

	ck_assert_uint_ge(len, 1);
	srand(6789);
	for (int round = 0; round < rounds; round++) {
		int p[2], status, key, target = 1 + rand() % 4, rs = 0;
		unsigned seed = (unsigned)rand();
		uint64_t seq;
		pid_t pid;
		FILE *in;
		char line[128];

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			big_child(dir, p[1], seed, len);
		}
		close(p[1]);
		in = fdopen(p[0], "r");
		while (fgets(line, sizeof(line), in)) {
			if (sscanf(line, "A %d %" SCNu64, &key, &seq) == 2) {
				ck_assert(key >= 0 && key < NK);
				if (seq > acked[key])
					acked[key] = seq;
				total++;
			} else if (sscanf(line, "R %" SCNu64, &seq) == 1) {
				if (seq > acked_big)
					acked_big = seq;
				total++;
				if (++rs >= target)
					kill(pid, SIGKILL);
			} else {
				ck_abort_msg("child said '%s'", line);
			}
		}
		fclose(in);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status),
			      "child failed with status %d", status);
		ck_assert_int_eq(store_fsck(dir, devnull), 0);
		big_verify(dir, len, acked, acked_big, round);
	}
	fclose(devnull);
	fprintf(stderr,
		"large replace crash rounds: %d, acknowledged changes "
		"verified: %" PRIu64 " (%" PRIu64 " replaces of %zu B), "
		"losses: 0\n",
		rounds, total, acked_big, len);
	test_rmdir(dir);
}
END_TEST

int main(void)
{
	/* expected damage and faults log warnings by the thousand */
	log_set_level(LOG_LVL_ERROR);
	Suite *s = suite_create("store_crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc,
		       test_store_crash_rounds_keep_every_acknowledged_change);
	tcase_add_test(
		tc,
		test_store_crash_large_replaces_racing_appends_lose_nothing);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
