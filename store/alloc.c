/*
 * alloc.c - see alloc.h.
 *
 * Invariants:
 *   1. Free regions are disjoint, inside [base, base+capacity), len > 0.
 *   2. No two free regions are adjacent (they would have been merged).
 *   3. Each free region is in by_start under off, in by_end under
 *      off+len, and in exactly the class list floor(log2(len)).
 *   4. free_bytes is the sum of the free lengths.
 *
 * alloc_check() verifies all four (fsck calls it).  A debug build
 * (configure --enable-debug, util/debug.h) checks them at entry and exit
 * of alloc_new, alloc_take, alloc_release and alloc_grow with
 * alloc_invariants(), which allocates nothing: disjointness needs the
 * regions sorted, which it does on the stack up to DEBUG_SORT_MAX regions
 * (every test workload stays below); adjacency is checked for any count
 * through the maps.
 */
#include "store/alloc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/debug.h"
#include "util/u64map.h"

#define CLASSES 64
#define DEBUG_SORT_MAX 1024

struct region {
	uint64_t off, len;
	struct region *prev, *next;
};

struct alloc {
	uint64_t base, capacity;
	uint64_t free_bytes;
	uint64_t count;
	struct u64map by_start; /* keys are off + 1 (0 is reserved) */
	struct u64map by_end; /* keys are off + len + 1 */
	struct region *cls[CLASSES];
};

static int class_of(uint64_t len)
{
	return 63 - __builtin_clzll(len);
}

static void list_add(struct alloc *a, struct region *r)
{
	int c = class_of(r->len);

	r->prev = NULL;
	r->next = a->cls[c];
	if (r->next)
		r->next->prev = r;
	a->cls[c] = r;
}

static void list_del(struct alloc *a, struct region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		a->cls[class_of(r->len)] = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

/* Index r everywhere.  On failure nothing is indexed. */
static int index_add(struct alloc *a, struct region *r)
{
	if (u64map_put(&a->by_start, r->off + 1, r))
		return -ENOMEM;
	if (u64map_put(&a->by_end, r->off + r->len + 1, r)) {
		u64map_del(&a->by_start, r->off + 1);
		return -ENOMEM;
	}
	list_add(a, r);
	a->count++;
	return 0;
}

static void index_del(struct alloc *a, struct region *r)
{
	u64map_del(&a->by_start, r->off + 1);
	u64map_del(&a->by_end, r->off + r->len + 1);
	list_del(a, r);
	a->count--;
}

/* ---- invariants ---- */

/* Invariants 1 to 4, all but "disjoint": every region is non-empty, inside
 * the area, in the class list of its length and in both maps; no free
 * region ends where another starts; counts and byte sum agree.  Prints
 * the first violation.  Allocates nothing. */
static bool regions_ok(const struct alloc *a)
{
	uint64_t n = 0, sum = 0;

	for (int c = 0; c < CLASSES; c++) {
		for (struct region *r = a->cls[c]; r; r = r->next) {
			if (n == a->count || r->len == 0 ||
			    class_of(r->len) != c ||
			    u64map_get(&a->by_start, r->off + 1) != r ||
			    u64map_get(&a->by_end, r->off + r->len + 1) != r ||
			    u64map_get(&a->by_end, r->off + 1) ||
			    u64map_get(&a->by_start, r->off + r->len + 1) ||
			    r->off < a->base ||
			    r->off + r->len > a->base + a->capacity) {
				fprintf(stderr,
					"alloc: bad free region %" PRIu64
					"+%" PRIu64 "\n",
					r->off, r->len);
				return false;
			}
			n++;
			sum += r->len;
		}
	}
	if (n != a->count || sum != a->free_bytes ||
	    u64map_count(&a->by_start) != n || u64map_count(&a->by_end) != n) {
		fprintf(stderr, "alloc: counts disagree\n");
		return false;
	}
	return true;
}

static int cmp_region(const void *x, const void *y)
{
	const struct region *a = *(struct region *const *)x;
	const struct region *b = *(struct region *const *)y;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* Invariant 1's "disjoint" (and 2 again): all[0..n) holds every free
 * region; sorted by offset, none reaches the next. */
static bool regions_apart(const struct alloc *a, struct region **all)
{
	uint64_t n = 0;

	for (int c = 0; c < CLASSES; c++)
		for (struct region *r = a->cls[c]; r; r = r->next)
			all[n++] = r;
	qsort(all, n, sizeof(*all), cmp_region);
	for (uint64_t i = 1; i < n; i++) {
		if (all[i - 1]->off + all[i - 1]->len >= all[i]->off) {
			fprintf(stderr,
				"alloc: free regions touch at %" PRIu64 "\n",
				all[i]->off);
			return false;
		}
	}
	return true;
}

bool alloc_check(const struct alloc *a)
{
	struct region **all;
	bool ok;

	if (!regions_ok(a))
		return false;
	all = malloc((a->count + 1) * sizeof(*all));
	if (!all)
		return false;
	ok = regions_apart(a, all);
	free(all);
	return ok;
}

/* The debug build's check (see the top of the file). */
static bool alloc_invariants(const struct alloc *a)
{
	struct region *all[DEBUG_SORT_MAX];

	if (!regions_ok(a))
		return false;
	return a->count > DEBUG_SORT_MAX || regions_apart(a, all);
}

/* ---- the allocator ---- */

struct alloc *alloc_new_empty(uint64_t base, uint64_t capacity)
{
	struct alloc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->base = base;
	a->capacity = capacity;
	u64map_init(&a->by_start);
	u64map_init(&a->by_end);
	return a;
}

struct alloc *alloc_new(uint64_t base, uint64_t capacity)
{
	struct alloc *a = alloc_new_empty(base, capacity);

	if (a && capacity && alloc_release(a, base, capacity)) {
		alloc_free(a);
		return NULL;
	}
	debug_assert(!a || alloc_invariants(a));
	return a;
}

void alloc_free(struct alloc *a)
{
	if (!a)
		return;
	for (int c = 0; c < CLASSES; c++) {
		struct region *r = a->cls[c], *n;
		for (; r; r = n) {
			n = r->next;
			free(r);
		}
	}
	u64map_release(&a->by_start);
	u64map_release(&a->by_end);
	free(a);
}

static struct region *find_fit(struct alloc *a, uint64_t len)
{
	int c = class_of(len);
	int up = (len & (len - 1)) ? c + 1 : c;

	for (int k = up; k < CLASSES; k++)
		if (a->cls[k])
			return a->cls[k];
	for (struct region *r = a->cls[c]; r; r = r->next)
		if (r->len >= len)
			return r;
	return NULL;
}

int alloc_take(struct alloc *a, uint64_t len, uint64_t *off)
{
	struct region *r;
	int rc = 0;

	debug_assert(alloc_invariants(a));
	if (len == 0)
		return -EINVAL;
	r = find_fit(a, len);
	if (!r)
		return -ENOSPC;
	index_del(a, r);
	*off = r->off;
	if (r->len == len) {
		free(r);
	} else {
		r->off += len;
		r->len -= len;
		/* Re-indexing a smaller region cannot fail for lack of room:
		 * both maps just had an entry removed. */
		if (index_add(a, r)) {
			free(r);
			rc = -ENOMEM;
			goto out;
		}
	}
	a->free_bytes -= len;
out:
	debug_assert(alloc_invariants(a));
	return rc;
}

int alloc_release(struct alloc *a, uint64_t off, uint64_t len)
{
	struct region *left, *right, *r;

	debug_assert(alloc_invariants(a));
	if (len == 0)
		return 0;
	assert(off >= a->base && off + len <= a->base + a->capacity);
	debug_assert(!alloc_overlaps_free(a, off, len));
	left = u64map_get(&a->by_end, off + 1);
	right = u64map_get(&a->by_start, off + len + 1);
	if (left) {
		index_del(a, left);
		left->len += len;
		r = left;
		if (right) {
			index_del(a, right);
			r->len += right->len;
			free(right);
		}
	} else if (right) {
		index_del(a, right);
		right->off = off;
		right->len += len;
		r = right;
	} else {
		r = malloc(sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->off = off;
		r->len = len;
	}
	if (index_add(a, r)) {
		free(r);
		return -ENOMEM;
	}
	a->free_bytes += len;
	debug_assert(alloc_invariants(a));
	return 0;
}

int alloc_grow(struct alloc *a, uint64_t new_capacity)
{
	uint64_t old = a->capacity;
	int rc;

	debug_assert(alloc_invariants(a));
	if (new_capacity <= old)
		return 0;
	a->capacity = new_capacity;
	rc = alloc_release(a, a->base + old, new_capacity - old);
	if (rc)
		a->capacity = old;
	debug_assert(alloc_invariants(a));
	return rc;
}

uint64_t alloc_free_bytes(const struct alloc *a)
{
	return a->free_bytes;
}

uint64_t alloc_regions(const struct alloc *a)
{
	return a->count;
}

uint64_t alloc_largest(const struct alloc *a)
{
	for (int c = CLASSES - 1; c >= 0; c--) {
		uint64_t best = 0;
		for (struct region *r = a->cls[c]; r; r = r->next)
			if (r->len > best)
				best = r->len;
		if (best)
			return best;
	}
	return 0;
}

uint64_t alloc_tail_free(const struct alloc *a)
{
	const struct region *r =
		u64map_get(&a->by_end, a->base + a->capacity + 1);

	return r ? r->len : 0;
}

bool alloc_overlaps_free(const struct alloc *a, uint64_t off, uint64_t len)
{
	for (int c = 0; c < CLASSES; c++)
		for (struct region *r = a->cls[c]; r; r = r->next)
			if (r->off < off + len && off < r->off + r->len)
				return true;
	return false;
}
