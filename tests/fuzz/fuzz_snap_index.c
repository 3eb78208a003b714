/*
 * fuzz_snap_index.c - libFuzzer target for the decoder of base snapshot
 * indexes (cloud/snap_index.c: what a follower starts from).
 *
 * Each input is decoded twice: as it is (almost always refused by the
 * CRC), and with its total length and CRC rewritten to match
 * (tests/fuzz/framed.h), so the fuzzer reaches the checks behind the CRC.
 * Oracle: a decode never reads outside the input (ASan); a decoded index
 * obeys the rule (every name valid by the rule of any name and outside
 * the reserved prefix, parts in range, seq 1..2^62, bodies of at least
 * one byte, names strictly increasing) and every entry is found again by
 * its name.
 */
#include "cloud/pitr.h"
#include "tests/fuzz/framed.h"
#include "util/name.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_decode(const uint8_t *buf, size_t len)
{
	struct pitr_index ix;
	const char *why = NULL;

	if (pitr_index_decode(buf, len, &ix, &why))
		return;
	if (why || ix.parts == 0 || ix.parts > (1u << 20))
		abort();
	for (size_t i = 0; i < ix.n; i++) {
		const struct pitr_index_entry *e = &ix.e[i];

		if (name_check(e->space, CLOUD_RESERVED_PREFIX) ||
		    name_check(e->key, CLOUD_RESERVED_PREFIX))
			abort();
		if (e->part >= ix.parts || e->seq == 0 ||
		    e->seq > (UINT64_C(1) << 62) || e->size == 0)
			abort();
		if (i && (strcmp(ix.e[i - 1].space, e->space) > 0 ||
			  (!strcmp(ix.e[i - 1].space, e->space) &&
			   strcmp(ix.e[i - 1].key, e->key) >= 0)))
			abort();
		if (pitr_index_find(&ix, e->space, e->key) != e)
			abort();
	}
	pitr_index_free(&ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_framed(data, size, try_decode);
	return 0;
}
