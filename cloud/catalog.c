/*
 * catalog.c - what the cloud holds (see catalog.h).
 *
 * State, all guarded by c->lock:
 *   - dirs: one struct listing per directory asked about ("" for the
 *     spaces, else a space), by name.  A listing's names are the last
 *     fetch's, sorted (base, a struct sorted: one block, the pointers then
 *     the strings; membership by binary search), plus the names put since
 *     (added, a strset) minus those deleted since (deleted): 100k names
 *     gather in O(n log n), with no allocation per name;
 *   - negative: "space" or "space/key" ('/' is in no name) -> expiry in
 *     monotonic ns, negated for a refused object; bounded by NEG_MAX
 *     entries (emptied when full);
 *   - removed: spaces removed or renamed away here (and, at open, spaces
 *     that are not local but have tombstones);
 *   - gen: bumped by every local removal or rename; a listing fetched
 *     under an older gen is stale;
 *   - down, stopping: the down thread's state.
 *
 * A listing is fresh when it was fetched under the current gen and less
 * than list_cache_ms ago.
 *
 * catalog_list answers from a sorted snapshot of a listing's names (a
 * struct sorted, shared and counted): base itself while nothing was put
 * or deleted since the fetch, else base merged with added minus deleted,
 * built by the first catalog_list after a change and kept until the next
 * one.  An `ls` of a cached listing copies and sorts nothing, a first one
 * sorts once (profiled at 100k names: the per-name records, copies, sets
 * and sorts were most of an `ls`; see bench/README.md).  Fetches run
 * without the lock (a 100k-name listing takes a while) into a new base
 * that replaces the old one under the lock, after the puts and deletes
 * noted meanwhile (raced) are applied to it: they are confirmed, whether
 * or not the fetch saw them.
 *
 * Invariants:
 *   1. A name tombstoned in the store, or a space in removed, is never
 *      answered present nor listed: no stale listing recreates anything.
 *   2. A lookup of a key makes at most one request (HEAD) on the quick
 *      target, a lookup of a space one listing of the spaces, and none
 *      while down.
 *   3. catalog_vouches_absent is true only on evidence from this mount: a
 *      fresh listing or an unexpired negative entry.
 *
 * Lock order: c->lock is a leaf; no store or cloud call is made with it
 * held.
 */
#include "config.h"

#include "cloud/catalog.h"

#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/strset.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	NEG_MAX = 65536
};

/* Sorted names, each once; refs guarded by c->lock. */
struct sorted {
	size_t refs;
	size_t n;
	char *v[];
};

struct listing {
	struct sorted *base; /* the last fetch's names, or NULL (a ref) */
	struct strset added; /* put since: none of them in base */
	struct strset deleted; /* deleted since: each of them in base */
	uint64_t version; /* bumped when the names change */
	struct sorted *sorted; /* the names at version, or NULL (a ref) */
	bool listed; /* fetched completely once at least */
	int64_t fetched_ns;
	uint64_t gen; /* c->gen when fetched; 0: stale */
	int fetching; /* fetches in flight */
	/* Puts (1) and deletes (-1) noted while a fetch was in flight, applied
	 * to what it brings (the fetch may have read before or after them). */
	struct strset raced;
};

struct catalog {
	struct store *s;
	struct cloud_target *t, *quick;
	struct catalog_options o;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* the down thread: stop, or down */
	struct strset dirs; /* name -> struct listing * */
	struct strset negative;
	struct strset removed;
	uint64_t gen;
	bool down, stopping;
	pthread_t thread;
	bool thread_started;
};

void catalog_options_default(struct catalog_options *o)
{
	memset(o, 0, sizeof(*o));
	o->list_cache_ms = 5000;
	o->negative_ms = 30000;
	o->down_retry_ms = 1000;
}

/* "space" or "space/key". */
static void neg_name(const char *space, const char *key,
		     char out[2 * CLOUD_NAME_MAX + 2])
{
	snprintf(out, 2 * CLOUD_NAME_MAX + 2, "%s%s%s", space, key ? "/" : "",
		 key ? key : "");
}

/* ---- listings (c->lock held) ---- */

static void sorted_put(struct sorted *so)
{
	if (so && --so->refs == 0)
		free(so);
}

/* The names of l changed. */
static void changed(struct listing *l)
{
	l->version++;
	sorted_put(l->sorted);
	l->sorted = NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sorted_has(const struct sorted *so, const char *name)
{
	return so && so->n &&
	       bsearch(&name, so->v, so->n, sizeof(so->v[0]), cmp_names);
}

static bool listing_has(const struct listing *l, const char *name)
{
	return !strset_get(&l->deleted, name, NULL) &&
	       (strset_get(&l->added, name, NULL) || sorted_has(l->base, name));
}

/* A put (op 1) or delete (-1) of name in l. */
static int listing_note(struct listing *l, const char *name, int op)
{
	if (op > 0) {
		strset_del(&l->deleted, name);
		return sorted_has(l->base, name)
			       ? 0
			       : strset_put(&l->added, name, 0);
	}
	strset_del(&l->added, name);
	return sorted_has(l->base, name) ? strset_put(&l->deleted, name, 0) : 0;
}

static struct listing *dir_get(struct catalog *c, const char *space)
{
	int64_t v;

	return strset_get(&c->dirs, space, &v) ? (struct listing *)(intptr_t)v
					       : NULL;
}

static struct listing *dir_make(struct catalog *c, const char *space)
{
	struct listing *l = dir_get(c, space);

	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	strset_init(&l->added);
	strset_init(&l->deleted);
	strset_init(&l->raced);
	if (strset_put(&c->dirs, space, (int64_t)(intptr_t)l)) {
		free(l);
		return NULL;
	}
	return l;
}

static bool fresh(const struct catalog *c, const struct listing *l, int64_t now)
{
	return l && l->listed && l->gen == c->gen &&
	       now - l->fetched_ns <= (int64_t)c->o.list_cache_ms * 1000000;
}

static void neg_put(struct catalog *c, const char *space, const char *key,
		    bool refused)
{
	char n[2 * CLOUD_NAME_MAX + 2];
	int64_t until = clock_mono_ns() + (int64_t)c->o.negative_ms * 1000000;

	if (strset_count(&c->negative) >= NEG_MAX)
		strset_clear(&c->negative);
	neg_name(space, key, n);
	strset_put(&c->negative, n, refused ? -until : until);
}

/* 1 absent, 2 refused, 0 no entry. */
static int neg_get(struct catalog *c, const char *space, const char *key)
{
	char n[2 * CLOUD_NAME_MAX + 2];
	int64_t v;

	neg_name(space, key, n);
	if (!strset_get(&c->negative, n, &v))
		return 0;
	if ((v < 0 ? -v : v) < clock_mono_ns()) {
		strset_del(&c->negative, n);
		return 0;
	}
	return v < 0 ? 2 : 1;
}

/* ---- the down thread ---- */

static int one_name(void *arg, const char *name)
{
	(void)name;
	*(bool *)arg = true;
	return 0;
}

/* One page of the spaces: does the target answer? */
static int probe(struct catalog *c)
{
	char *next = NULL;
	bool any = false;
	int rc = cloud_target_list(c->quick, NULL, NULL, &next, one_name, &any);

	free(next);
	return rc;
}

static void *down_thread(void *arg)
{
	struct catalog *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct timespec ts;

		if (!c->down) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		clock_deadline_ns(&ts, (int64_t)c->o.down_retry_ms * 1000000);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		if (c->stopping || !c->down)
			continue;
		pthread_mutex_unlock(&c->lock);
		if (!probe(c)) {
			pthread_mutex_lock(&c->lock);
			c->down = false;
			c->gen++; /* what we knew may have changed meanwhile */
			pthread_mutex_unlock(&c->lock);
			log_info("the cloud target '%s' answers again",
				 cloud_target_url(c->t));
			if (c->o.on_up)
				c->o.on_up(c->o.on_up_arg);
		}
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void catalog_note_down(struct catalog *c)
{
	pthread_mutex_lock(&c->lock);
	if (!c->down) {
		c->down = true;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

bool catalog_is_down(struct catalog *c)
{
	bool v;

	pthread_mutex_lock(&c->lock);
	v = c->down;
	pthread_mutex_unlock(&c->lock);
	return v;
}

/* ---- open, close ---- */

static int note_tomb_space(void *arg, uint64_t tomb_id, const char *space,
			   const char *key)
{
	struct catalog *c = arg;
	uint64_t sid;

	(void)tomb_id;
	(void)key;
	if (store_space_lookup(c->s, space, &sid) == -ENOENT)
		return strset_put(&c->removed, space, 0);
	return 0;
}

int catalog_open(struct store *s, struct cloud_target *t,
		 const struct catalog_options *o, struct catalog **out)
{
	struct catalog_options defaults;
	struct catalog *c;
	int rc;

	if (!o) {
		catalog_options_default(&defaults);
		o = &defaults;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->s = s;
	c->t = t;
	c->quick = o->quick ? o->quick : t;
	c->o = *o;
	c->gen = 1;
	strset_init(&c->dirs);
	strset_init(&c->negative);
	strset_init(&c->removed);
	pthread_mutex_init(&c->lock, NULL);
	clock_cond_init(&c->cond);
	rc = store_tombstone_list(s, note_tomb_space, c);
	if (!rc)
		rc = -pthread_create(&c->thread, NULL, down_thread, c);
	if (rc) {
		catalog_close(c);
		return rc;
	}
	c->thread_started = true;
	*out = c;
	return 0;
}

void catalog_close(struct catalog *c)
{
	size_t pos = 0;
	int64_t v;

	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	while (strset_next(&c->dirs, &pos, &v)) {
		struct listing *l = (struct listing *)(intptr_t)v;

		sorted_put(l->base);
		strset_release(&l->added);
		strset_release(&l->deleted);
		strset_release(&l->raced);
		sorted_put(l->sorted);
		free(l);
	}
	strset_release(&c->dirs);
	strset_release(&c->negative);
	strset_release(&c->removed);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- fetching ---- */

/* The names of a fetch as they arrive: offsets into one arena. */
struct arrived {
	char *arena;
	size_t used, room;
	size_t *at;
	size_t n, cap;
};

static int arrived_add(void *arg, const char *name)
{
	struct arrived *a = arg;
	size_t len = strlen(name) + 1;

	if (a->n == a->cap) {
		size_t *grown = grow_array(a->at, &a->cap, a->n + 1, 256,
					   sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		a->at = grown;
	}
	if (a->room - a->used < len) {
		char *grown =
			grow_array(a->arena, &a->room, a->used + len, 65536, 1);

		if (!grown)
			return -ENOMEM;
		a->arena = grown;
	}
	memcpy(a->arena + a->used, name, len);
	a->at[a->n++] = a->used;
	a->used += len;
	return 0;
}

/* What arrived, sorted, each once, as a snapshot (NULL: out of memory).
 * A target lists in its own order, which for most names is already
 * strcmp order: then nothing is sorted. */
static struct sorted *arrived_sorted(const struct arrived *a)
{
	struct sorted *so =
		malloc(sizeof(*so) + a->n * sizeof(char *) + a->used);
	char *arena;
	bool in_order = true;
	size_t k = 0;

	if (!so)
		return NULL;
	arena = (char *)&so->v[a->n];
	if (a->used)
		memcpy(arena, a->arena, a->used);
	for (size_t i = 0; i < a->n; i++) {
		so->v[i] = arena + a->at[i];
		if (i && in_order && strcmp(so->v[i - 1], so->v[i]) > 0)
			in_order = false;
	}
	if (!in_order)
		qsort(so->v, a->n, sizeof(so->v[0]), cmp_names);
	for (size_t i = 0; i < a->n; i++)
		if (!k || strcmp(so->v[k - 1], so->v[i]))
			so->v[k++] = so->v[i];
	so->refs = 1;
	so->n = k;
	return so;
}

/* Fetch the listing of space ("" for the spaces) from t and install it:
 * the names are gathered into one arena, sorted (when the target did not
 * list them in order already) and become the listing's base.  c->lock
 * not held. */
static int fetch(struct catalog *c, struct cloud_target *t, const char *space)
{
	struct arrived a = { NULL, 0, 0, NULL, 0, 0 };
	struct sorted *so = NULL;
	const char *name;
	struct listing *l;
	size_t pos = 0;
	int64_t op;
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	l = dir_make(c, space);
	if (l)
		l->fetching++;
	pthread_mutex_unlock(&c->lock);
	if (!l)
		return -ENOMEM;
	rc = cloud_target_list_all(t, space[0] ? space : NULL, arrived_add, &a);
	if (!rc) {
		so = arrived_sorted(&a);
		rc = so ? 0 : -ENOMEM;
	}
	free(a.at);
	free(a.arena);
	pthread_mutex_lock(&c->lock);
	l = dir_get(c, space);
	if (!rc) {
		sorted_put(l->base);
		l->base = so; /* the fetch's reference */
		so = NULL;
		strset_clear(&l->added);
		strset_clear(&l->deleted);
		changed(l);
		while (!rc && (name = strset_next(&l->raced, &pos, &op)))
			rc = listing_note(l, name, (int)op);
		l->listed = true;
		l->fetched_ns =
			clock_mono_ns(); /* a slow listing is fresh when done */
		/* an invalidation raced with the fetch, or a raced note could
		 * not be taken: stale at once */
		l->gen = gen == c->gen && !rc ? gen : 0;
		rc = 0;
	}
	if (--l->fetching == 0)
		strset_clear(&l->raced);
	pthread_mutex_unlock(&c->lock);
	sorted_put(so);
	if (rc && rc != -ENOMEM && rc != -ECANCELED)
		catalog_note_down(c);
	return rc;
}

/* ---- answers ---- */

static bool shown(struct catalog *c, const char *space, const char *name)
{
	bool removed;

	if (cloud_name_reserved(name))
		return false; /* ours: the store marker */
	if (space[0])
		return !store_tombstoned(c->s, space, name);
	pthread_mutex_lock(&c->lock);
	removed = strset_get(&c->removed, name, NULL);
	pthread_mutex_unlock(&c->lock);
	return !removed;
}

/* The names of l (base minus deleted, then added) in one block, the
 * added ones not yet in order; c->lock held. */
static struct sorted *copy_names(const struct listing *l)
{
	size_t base_n = l->base ? l->base->n : 0;
	size_t n = base_n - strset_count(&l->deleted) + strset_count(&l->added);
	size_t pos = 0, bytes = 0, k = 0;
	const char *name;
	struct sorted *so;
	char *at;

	for (size_t i = 0; i < base_n; i++)
		bytes += strlen(l->base->v[i]) + 1;
	while ((name = strset_next(&l->added, &pos, NULL)))
		bytes += strlen(name) + 1;
	so = malloc(sizeof(*so) + n * sizeof(char *) + bytes);
	if (!so)
		return NULL;
	at = (char *)&so->v[n];
	for (size_t i = 0; i < base_n; i++) {
		size_t len = strlen(l->base->v[i]) + 1;

		if (strset_count(&l->deleted) &&
		    strset_get(&l->deleted, l->base->v[i], NULL))
			continue;
		memcpy(at, l->base->v[i], len);
		so->v[k++] = at;
		at += len;
	}
	pos = 0;
	while ((name = strset_next(&l->added, &pos, NULL))) {
		size_t len = strlen(name) + 1;

		memcpy(at, name, len);
		so->v[k++] = at;
		at += len;
	}
	so->refs = 1;
	so->n = k;
	return so;
}

/* Sort so, whose first n_sorted names are in order already: sort the
 * rest and merge.  -ENOMEM leaves it unsorted. */
static int sort_tail(struct sorted *so, size_t n_sorted)
{
	size_t i = 0, j = n_sorted, k = 0;
	char **out;

	if (so->n == n_sorted)
		return 0;
	qsort(so->v + n_sorted, so->n - n_sorted, sizeof(so->v[0]), cmp_names);
	out = malloc(so->n * sizeof(*out));
	if (!out)
		return -ENOMEM;
	while (i < n_sorted || j < so->n)
		out[k++] = j == so->n || (i < n_sorted &&
					  strcmp(so->v[i], so->v[j]) < 0)
				   ? so->v[i++]
				   : so->v[j++];
	memcpy(so->v, out, so->n * sizeof(*out));
	free(out);
	return 0;
}

/* A counted reference to the sorted names of the listing of d (release
 * with sorted_put under c->lock).  Built here when the listing has none:
 * copied under the lock, sorted without it, and kept in the listing if
 * its names did not change meanwhile. */
static int names_sorted(struct catalog *c, const char *d, struct sorted **out)
{
	struct listing *l;
	struct sorted *so;
	uint64_t version;
	size_t n_sorted;

	pthread_mutex_lock(&c->lock);
	l = dir_get(c, d);
	if (!l || !l->listed) {
		pthread_mutex_unlock(&c->lock);
		return -EIO; /* down, never listed */
	}
	if (!l->sorted && l->base && !strset_count(&l->added) &&
	    !strset_count(&l->deleted)) {
		l->sorted = l->base; /* the fetch's names, as they are */
		l->sorted->refs++;
	}
	so = l->sorted;
	if (so) {
		so->refs++;
		pthread_mutex_unlock(&c->lock);
		*out = so;
		return 0;
	}
	version = l->version;
	so = copy_names(l);
	n_sorted = so ? so->n - strset_count(&l->added) : 0;
	pthread_mutex_unlock(&c->lock);
	if (!so || sort_tail(so, n_sorted)) {
		free(so);
		return -ENOMEM;
	}
	pthread_mutex_lock(&c->lock);
	l = dir_get(c, d);
	if (l && l->version == version && !l->sorted) {
		l->sorted = so;
		so->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	*out = so;
	return 0;
}

int catalog_list(struct catalog *c, const char *space, cloud_name_fn fn,
		 void *arg)
{
	const char *d = space ? space : "";
	struct sorted *so = NULL;
	struct listing *l;
	bool stale, down;
	int rc = 0, got;

	if (space && !cloud_name_valid(space))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	l = dir_get(c, d);
	stale = !fresh(c, l, clock_mono_ns());
	down = c->down;
	pthread_mutex_unlock(&c->lock);
	/* Down: the last listing stands; with none, one quick try. */
	if (stale && (!down || !l || !l->listed)) {
		rc = fetch(c, down ? c->quick : c->t, d);
		if (rc) {
			char esc[LOG_NAME_ESC_MAX];

			log_warn("cannot list '%s' in the cloud: %s",
				 space ? log_escape_name(space, esc) : "/",
				 strerror(-rc));
		}
	}
	got = names_sorted(c, d, &so);
	if (got == 0)
		rc = 0; /* the last listing stands */
	else if (!rc || got == -ENOMEM)
		rc = got;
	for (size_t i = 0; !rc && so && i < so->n; i++)
		if (shown(c, d, so->v[i]))
			rc = fn(arg, so->v[i]);
	pthread_mutex_lock(&c->lock);
	sorted_put(so);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Ask the quick target about (space, key): one HEAD. */
static enum catalog_answer ask(struct catalog *c, const char *space,
			       const char *key)
{
	struct cloud_object_info info;
	int rc = cloud_target_head(c->quick, space, key, &info);

	if (!rc)
		return CATALOG_PRESENT;
	if (rc == -ENOENT || rc == -EINVAL) {
		pthread_mutex_lock(&c->lock);
		neg_put(c, space, key, false);
		pthread_mutex_unlock(&c->lock);
		return CATALOG_ABSENT;
	}
	if (rc != -ECANCELED)
		catalog_note_down(c);
	return CATALOG_UNKNOWN;
}

/* The target cannot be asked: a name the last listing holds, however
 * old, is present (its restore is EIO, as it should be while the cloud is
 * unreachable); any other is unknown. */
static enum catalog_answer last_known(struct catalog *c, const char *space,
				      const char *key)
{
	struct listing *l;
	bool has;

	pthread_mutex_lock(&c->lock);
	l = dir_get(c, key ? space : "");
	has = l && l->listed && listing_has(l, key ? key : space);
	pthread_mutex_unlock(&c->lock);
	return has ? CATALOG_PRESENT : CATALOG_UNKNOWN;
}

enum catalog_answer catalog_lookup(struct catalog *c, const char *space,
				   const char *key)
{
	enum catalog_answer a = CATALOG_UNKNOWN;
	struct listing *l;
	bool decided = true, down;
	int neg;

	if (cloud_name_reserved(space) || cloud_name_reserved(key))
		return CATALOG_ABSENT;
	if (key ? store_tombstoned(c->s, space, key) : !shown(c, "", space))
		return CATALOG_ABSENT;
	pthread_mutex_lock(&c->lock);
	neg = neg_get(c, space, key);
	l = dir_get(c, key ? space : "");
	if (neg)
		a = neg == 2 ? CATALOG_REFUSED : CATALOG_ABSENT;
	else if (fresh(c, l, clock_mono_ns()))
		a = listing_has(l, key ? key : space) ? CATALOG_PRESENT
						      : CATALOG_ABSENT;
	else
		decided = false;
	down = c->down;
	pthread_mutex_unlock(&c->lock);
	if (decided)
		return a;
	if (down)
		return last_known(c, space, key); /* no call */
	if (key) {
		a = ask(c, space, key);
		return a == CATALOG_UNKNOWN ? last_known(c, space, key) : a;
	}
	/* A space: the listing of the spaces (one page per thousand spaces,
	 * not a listing of the space's keys). */
	if (fetch(c, c->quick, ""))
		return last_known(c, space, key);
	pthread_mutex_lock(&c->lock);
	l = dir_get(c, "");
	a = listing_has(l, space) ? CATALOG_PRESENT : CATALOG_ABSENT;
	pthread_mutex_unlock(&c->lock);
	return a;
}

bool catalog_vouches_absent(struct catalog *c, const char *space,
			    const char *key)
{
	struct listing *l;
	bool v;

	pthread_mutex_lock(&c->lock);
	l = dir_get(c, space);
	v = neg_get(c, space, key) == 1 ||
	    (fresh(c, l, clock_mono_ns()) && !listing_has(l, key));
	pthread_mutex_unlock(&c->lock);
	return v;
}

/* ---- notes ---- */

static void neg_del(struct catalog *c, const char *space, const char *key)
{
	char n[2 * CLOUD_NAME_MAX + 2];

	neg_name(space, key, n);
	strset_del(&c->negative, n);
}

/* A put (op 1) or delete (-1) of name in listing l (may be NULL); a
 * listing that cannot take it is stale. */
static void note(struct listing *l, const char *name, int op)
{
	int rc;

	if (!l)
		return;
	rc = listing_note(l, name, op);
	changed(l);
	if (!rc && l->fetching)
		rc = strset_put(&l->raced, name, op);
	if (rc)
		l->gen = 0;
}

void catalog_note_put(struct catalog *c, const char *space, const char *key)
{
	uint64_t sid;
	bool local = !store_space_lookup(c->s, space, &sid);

	pthread_mutex_lock(&c->lock);
	neg_del(c, space, key);
	neg_del(c, space, NULL);
	if (local)
		strset_del(&c->removed, space); /* made here again */
	note(dir_get(c, space), key, 1);
	note(dir_get(c, ""), space, 1);
	pthread_mutex_unlock(&c->lock);
}

void catalog_note_delete(struct catalog *c, const char *space, const char *key)
{
	pthread_mutex_lock(&c->lock);
	neg_del(c, space, key);
	note(dir_get(c, space), key, -1);
	pthread_mutex_unlock(&c->lock);
}

void catalog_note_refused(struct catalog *c, const char *space, const char *key)
{
	pthread_mutex_lock(&c->lock);
	neg_put(c, space, key, true);
	pthread_mutex_unlock(&c->lock);
}

void catalog_note_removed(struct catalog *c, const char *space, const char *key)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	strset_clear(&c->negative);
	if (!key && strset_put(&c->removed, space, 0)) {
		char esc[LOG_NAME_ESC_MAX];

		log_warn("cannot remember that space '%s' was removed: "
			 "out of memory",
			 log_escape_name(space, esc));
	}
	pthread_mutex_unlock(&c->lock);
}
