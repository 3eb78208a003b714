/*
 * framed.h - the second try of the fuzz targets of the cloud's framed
 * objects (an archive, cloud/archive.c; a change feed object,
 * cloud/feed.c): both carry their total length as a u64 at offset 8 and a
 * CRC32C of everything before it in their last 4 bytes.
 *
 * fuzz_framed() gives try_decode an input as it is (almost always refused
 * by the CRC), then, when it is long enough, a copy with its length and
 * CRC rewritten to match, so the fuzzer reaches the structural checks
 * behind the CRC.  Header-only: each target is built from its own file.
 */
#ifndef TESTS_FUZZ_FRAMED_H
#define TESTS_FUZZ_FRAMED_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"

static inline void fuzz_framed(const uint8_t *data, size_t size,
			       void (*try_decode)(const uint8_t *, size_t))
{
	uint8_t *copy;

	try_decode(data, size);
	if (size < 20)
		return;
	copy = malloc(size);
	if (!copy)
		return;
	memcpy(copy, data, size);
	le64_put(copy + 8, size);
	le32_put(copy + size - 4, crc32c(copy, size - 4));
	try_decode(copy, size);
	free(copy);
}

#endif
