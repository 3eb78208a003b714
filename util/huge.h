/*
 * huge.h - zeroed memory for the big tables of the index (the maps by
 * id and by name), in 2 MiB pages where the kernel gives them.
 *
 * A random access into a table of tens of MB in 4 KiB pages misses the
 * TLB as well as the cache; and fork() (the checkpoint's child, see
 * store/checkpoint.c) copies one page-table entry per 4 KiB page of the
 * process while the store's lock is held.  Memory of at least
 * HUGE_BYTES is mapped on its own, aligned to 2 MiB and advised
 * MADV_HUGEPAGE (transparent huge pages in "madvise" or "always" mode):
 * one entry per 2 MiB.  Smaller sizes come from calloc.  Where huge
 * pages are off, the mapping is ordinary memory.
 *
 * The node pool (util/pmap.h, 184 bytes a document) stays in ordinary
 * pages: on the virtual machines we measure on, the first touch of a
 * fresh huge page costs the host's faults for 2 MiB at once (a 3M-
 * document open spent 2.1 s in the kernel against 0.5-1.5 s, most of it
 * zeroing pages: `perf`, clear_page_erms 22-25%), more than its fewer TLB
 * misses and shorter fork() gave back.  The tables are a tenth of the
 * pool's size and probed at random, where TLB misses cost the most.
 *
 * Ownership: the caller owns what huge_alloc returns and gives it back
 * with huge_free and the same byte count.
 */
#ifndef UTIL_HUGE_H
#define UTIL_HUGE_H

#include <stddef.h>

#define HUGE_BYTES ((size_t)2 << 20)

/* bytes (>= 1) of zeroed memory, 2 MiB-aligned from HUGE_BYTES up, or
 * NULL when out of memory. */
void *huge_alloc(size_t bytes);
/* Give back p (may be NULL) of bytes, as allocated. */
void huge_free(void *p, size_t bytes);

#endif
