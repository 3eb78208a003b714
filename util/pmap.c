/*
 * pmap.c - see pmap.h.
 *
 * Invariants:
 *   1. Every value sits in the probe run that starts at its home slot
 *      (home(hash(value))), with no empty slot between the home slot and
 *      the value; backward-shift deletion keeps it.
 *   2. A non-empty slot is the value's address with tag(hash(value)) in
 *      its low 4 bits; a slot is 0 only when empty.
 *   3. count is the number of non-empty slots; count * 10 < cap * 7 after
 *      every put (growth at 70% load), so a run always ends.
 */
#include "util/pmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/debug.h"
#include "util/grow.h"
#include "util/huge.h"

#define TAG_MASK ((uintptr_t)15)

static uint64_t mix(uint64_t h)
{
	return h * 0x9E3779B97F4A7C15ull;
}

static size_t home(uint64_t h, size_t cap)
{
	return (size_t)(mix(h) >> 17) & (cap - 1);
}

static uintptr_t tag(uint64_t h)
{
	return (uintptr_t)(mix(h) >> 8) & TAG_MASK;
}

static void *slot_val(uintptr_t slot)
{
	return (void *)(slot & ~TAG_MASK);
}

void pmap_init(struct pmap *m, pmap_hash_fn *hash)
{
	m->slots = NULL;
	m->cap = m->count = 0;
	m->hash = hash;
}

void pmap_release(struct pmap *m)
{
	huge_free(m->slots, m->cap * sizeof(*m->slots));
	pmap_init(m, m->hash);
}

static int rehash(struct pmap *m, size_t cap)
{
	uintptr_t *slots = huge_alloc(cap * sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i])
			continue;
		j = home(m->hash(slot_val(m->slots[i])), cap);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	huge_free(m->slots, m->cap * sizeof(*m->slots));
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int pmap_reserve(struct pmap *m, size_t n)
{
	size_t cap;

	/* Room for n at under 70% load: n * 10 < cap * 7. */
	if (n > SIZE_MAX / 10)
		return -ENOMEM;
	cap = grow_cap(m->cap, n * 10 / 7 + 1, 16, sizeof(*m->slots));
	if (!cap)
		return -ENOMEM;
	return cap == m->cap ? 0 : rehash(m, cap);
}

/* The slot of the value looked for, or the empty slot that ends its run.
 * m->cap is not 0. */
static size_t find(const struct pmap *m, uint64_t h, hmap_match_fn *match,
		   const void *key)
{
	size_t i = home(h, m->cap);
	uintptr_t t = tag(h);

	while (m->slots[i] && ((m->slots[i] & TAG_MASK) != t ||
			       !match(slot_val(m->slots[i]), key)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *pmap_get(const struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	return m->slots[i] ? slot_val(m->slots[i]) : NULL;
}

int pmap_put(struct pmap *m, uint64_t h, hmap_match_fn *match, const void *key,
	     void *val, void **old)
{
	size_t i;
	int rc;

	debug_assert(val && ((uintptr_t)val & TAG_MASK) == 0);
	debug_assert(m->hash(val) == h);
	rc = pmap_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = find(m, h, match, key);
	if (old)
		*old = m->slots[i] ? slot_val(m->slots[i]) : NULL;
	if (!m->slots[i])
		m->count++;
	m->slots[i] = (uintptr_t)val | tag(h);
	return 0;
}

void *pmap_del(struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	if (!m->slots[i])
		return NULL;
	val = slot_val(m->slots[i]);
	/* Backward shift: pull later members of the run into the hole when
	 * the hole lies on their probe path. */
	j = i;
	for (;;) {
		size_t hj;

		j = (j + 1) & mask;
		if (!m->slots[j])
			break;
		hj = home(m->hash(slot_val(m->slots[j])), m->cap);
		if (((j - hj) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = 0;
	m->count--;
	return val;
}

bool pmap_next(const struct pmap *m, size_t *pos, void **val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->slots[*pos]) {
			*val = slot_val(m->slots[*pos]);
			(*pos)++;
			return true;
		}
	}
	return false;
}

/*
 * ppool and pmap32.
 *
 * Invariants (ppool):
 *   1. blocks[0 .. nblocks) are blocks of 2^17 units; units [0, used) of
 *      the last are taken or on a free list, the rest untouched; unit 0
 *      of block 0 is never handed out (handle 0 means none).
 *   2. free[u] heads a list of freed objects of u units, each holding
 *      the next one's handle in its first 4 bytes (0 ends it).
 * pmap32 keeps pmap's invariants 1 and 3, and:
 *   4. a non-empty slot is the object's handle << tag_bits with
 *      tag32(hash), the top tag_bits bits of mix(hash), below it; every
 *      handle in the map fits in 32 - tag_bits bits.  Narrowing the tag
 *      to make room for a bigger handle keeps the slot's top tag bits,
 *      which are the narrower tag: no slot moves (narrow32).
 * Under AddressSanitizer the bytes of a freed object (past its link) and
 * of a block beyond used are poisoned, so a node used after its removal
 * is caught as it would be with malloc.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PPOOL_ASAN 1
#endif
#endif
#ifdef PPOOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define BLOCK_UNITS (1u << PPOOL_BLOCK_SHIFT)
#define BLOCK_BYTES ((size_t)BLOCK_UNITS * PPOOL_UNIT)

void ppool_init(struct ppool *p)
{
	memset(p, 0, sizeof(*p));
}

void ppool_release(struct ppool *p)
{
	for (uint32_t i = 0; i < p->nblocks; i++) {
		UNPOISON(p->blocks[i], BLOCK_BYTES);
		free(p->blocks[i]);
	}
	free(p->blocks);
	ppool_init(p);
}

static int ppool_new_block(struct ppool *p)
{
	uint8_t *b;

	if (p->nblocks == PPOOL_MAX_BLOCKS)
		return -ENOMEM;
	if (p->nblocks == p->cap) {
		uint8_t **bl = grow_array32(p->blocks, &p->cap, p->nblocks + 1,
					    16, sizeof(*bl));
		if (!bl)
			return -ENOMEM;
		p->blocks = bl;
	}
	b = malloc(BLOCK_BYTES);
	if (!b)
		return -ENOMEM;
	POISON(b, BLOCK_BYTES);
	p->blocks[p->nblocks++] = b;
	p->used = p->nblocks == 1 ? 1 : 0;
	p->bytes += BLOCK_BYTES;
	return 0;
}

int ppool_alloc(struct ppool *p, size_t size, uint32_t *h, void **ptr)
{
	uint32_t units, got;
	uint8_t *o;

	if (size == 0 || size > PPOOL_MAX_BYTES)
		return -ENOMEM;
	units = ppool_units(size);
	if (p->free[units]) {
		got = p->free[units];
		o = ppool_ptr(p, got);
		UNPOISON(o, (size_t)units * PPOOL_UNIT);
		memcpy(&p->free[units], o, sizeof(uint32_t));
	} else {
		if (!p->nblocks || p->used + units > BLOCK_UNITS) {
			int rc = ppool_new_block(p);
			if (rc)
				return rc;
		}
		got = ((p->nblocks - 1) << PPOOL_BLOCK_SHIFT) | p->used;
		p->used += units;
		o = ppool_ptr(p, got);
		UNPOISON(o, (size_t)units * PPOOL_UNIT);
	}
	memset(o, 0, (size_t)units * PPOOL_UNIT);
	*h = got;
	*ptr = o;
	return 0;
}

void ppool_free(struct ppool *p, uint32_t h, size_t size)
{
	uint32_t units = ppool_units(size);
	uint8_t *o;

	if (!h)
		return;
	debug_assert(size && size <= PPOOL_MAX_BYTES);
	o = ppool_ptr(p, h);
	memcpy(o, &p->free[units], sizeof(uint32_t));
	p->free[units] = h;
	POISON(o + sizeof(uint32_t),
	       (size_t)units * PPOOL_UNIT - sizeof(uint32_t));
}

/* The top bits of the mixed hash: home() takes bits 17 and up to the
 * table's size (below 2^31 slots), so the two do not overlap, and the tag
 * of a narrower width is this one shifted right. */
static uint32_t tag32(const struct pmap32 *m, uint64_t h)
{
	return (uint32_t)(mix(h) >> (64 - m->tag_bits));
}

static uint32_t slot32_handle(const struct pmap32 *m, uint32_t slot)
{
	return slot >> m->tag_bits;
}

static uint32_t slot32_tag(const struct pmap32 *m, uint32_t slot)
{
	return slot & ((1u << m->tag_bits) - 1);
}

static void *slot32_val(const struct pmap32 *m, uint32_t slot)
{
	return ppool_ptr(m->pool, slot32_handle(m, slot));
}

void pmap32_init(struct pmap32 *m, const struct ppool *pool, pmap_hash_fn *hash)
{
	m->slots = NULL;
	m->cap = m->count = 0;
	m->tag_bits = PMAP32_TAG_BITS_MAX;
	m->hash = hash;
	m->pool = pool;
}

/* Make room for handle: the tag gives up the bits the handle needs, in
 * place (invariant 4: a narrower tag is the wider one's top bits). */
static void narrow32(struct pmap32 *m, uint32_t handle)
{
	unsigned bits = 32 - (unsigned)__builtin_clz(handle);
	unsigned nt = 32 - bits, drop;

	if (nt >= m->tag_bits)
		return;
	drop = m->tag_bits - nt;
	for (size_t i = 0; i < m->cap; i++) {
		uint32_t s = m->slots[i];

		if (s)
			m->slots[i] = slot32_handle(m, s) << nt |
				      slot32_tag(m, s) >> drop;
	}
	m->tag_bits = nt;
}

void pmap32_release(struct pmap32 *m)
{
	huge_free(m->slots, m->cap * sizeof(*m->slots));
	pmap32_init(m, m->pool, m->hash);
}

static int rehash32(struct pmap32 *m, size_t cap)
{
	uint32_t *slots = huge_alloc(cap * sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i])
			continue;
		j = home(m->hash(slot32_val(m, m->slots[i])), cap);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	huge_free(m->slots, m->cap * sizeof(*m->slots));
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int pmap32_reserve(struct pmap32 *m, size_t n)
{
	size_t cap;

	if (n > SIZE_MAX / 10)
		return -ENOMEM;
	cap = grow_cap(m->cap, n * 10 / 7 + 1, 16, sizeof(*m->slots));
	if (!cap)
		return -ENOMEM;
	return cap == m->cap ? 0 : rehash32(m, cap);
}

static size_t find32(const struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		     const void *key)
{
	size_t i = home(h, m->cap);
	uint32_t t = tag32(m, h);

	while (m->slots[i] && (slot32_tag(m, m->slots[i]) != t ||
			       !match(slot32_val(m, m->slots[i]), key)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *pmap32_get(const struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		 const void *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = find32(m, h, match, key);
	return m->slots[i] ? slot32_val(m, m->slots[i]) : NULL;
}

int pmap32_put(struct pmap32 *m, uint64_t h, hmap_match_fn *match,
	       const void *key, uint32_t handle, uint32_t *old)
{
	size_t i;
	int rc;

	debug_assert(handle && handle < (1u << 31));
	debug_assert(m->hash(ppool_ptr(m->pool, handle)) == h);
	rc = pmap32_reserve(m, m->count + 1);
	if (rc)
		return rc;
	narrow32(m, handle);
	i = find32(m, h, match, key);
	if (old)
		*old = slot32_handle(m, m->slots[i]);
	if (!m->slots[i])
		m->count++;
	m->slots[i] = handle << m->tag_bits | tag32(m, h);
	return 0;
}

void pmap32_prefetch(const struct pmap32 *m, uint64_t h)
{
	if (m->cap)
		__builtin_prefetch(&m->slots[home(h, m->cap)], 1);
}

uint32_t pmap32_handle(const struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		       const void *key)
{
	if (!m->cap)
		return 0;
	return slot32_handle(m, m->slots[find32(m, h, match, key)]);
}

uint32_t pmap32_del(struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		    const void *key)
{
	size_t i, j, mask = m->cap - 1;
	uint32_t handle;

	if (!m->cap)
		return 0;
	i = find32(m, h, match, key);
	if (!m->slots[i])
		return 0;
	handle = slot32_handle(m, m->slots[i]);
	j = i;
	for (;;) {
		size_t hj;

		j = (j + 1) & mask;
		if (!m->slots[j])
			break;
		hj = home(m->hash(slot32_val(m, m->slots[j])), m->cap);
		if (((j - hj) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = 0;
	m->count--;
	return handle;
}

bool pmap32_next(const struct pmap32 *m, size_t *pos, uint32_t *h, void **val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->slots[*pos]) {
			if (h)
				*h = slot32_handle(m, m->slots[*pos]);
			*val = slot32_val(m, m->slots[*pos]);
			(*pos)++;
			return true;
		}
	}
	return false;
}
