/*
 * huge.c - see huge.h.
 *
 * A mapping of HUGE_BYTES more than wanted is trimmed at both ends to
 * the 2 MiB-aligned span inside it: the kernel places huge pages only at
 * 2 MiB-aligned virtual addresses.  madvise failing (a kernel without
 * transparent huge pages) leaves ordinary pages: not an error.
 */
#include "util/huge.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static size_t huge_len(size_t bytes)
{
	return (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
}

void *huge_alloc(size_t bytes)
{
	size_t len, head;
	uint8_t *p, *a;

	if (bytes < HUGE_BYTES)
		return calloc(1, bytes);
	if (bytes > SIZE_MAX - 2 * HUGE_BYTES)
		return NULL;
	len = huge_len(bytes);
	p = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	head = (HUGE_BYTES - (uintptr_t)p % HUGE_BYTES) % HUGE_BYTES;
	a = p + head;
	if (head)
		munmap(p, head);
	munmap(a + len, HUGE_BYTES - head);
	(void)madvise(a, len, MADV_HUGEPAGE);
	return a;
}

void huge_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < HUGE_BYTES)
		free(p);
	else
		munmap(p, huge_len(bytes));
}
