/*
 * fuzz_lease.c - libFuzzer target for the writer lease decoder
 * (cloud/lease.c), which reads an object any writer of the bucket may
 * have put there.
 *
 * Oracle: a decode never reads outside the input (ASan) and, when it
 * succeeds, the lease encoded again decodes to the same lease, within
 * LEASE_OBJECT_MAX bytes.
 */
#include "cloud/lease.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lease_info a, b;
	char out[LEASE_OBJECT_MAX];
	size_t n;

	if (lease_parse(data, size, &a))
		return 0;
	n = lease_encode(&a, out);
	if (n == 0 || n >= LEASE_OBJECT_MAX || lease_parse(out, n, &b))
		abort();
	if (memcmp(a.store, b.store, sizeof(a.store)) ||
	    strcmp(a.host, b.host) || a.pid != b.pid ||
	    a.since_ns != b.since_ns || a.active != b.active)
		abort();
	return 0;
}
