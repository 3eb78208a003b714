/*
 * fuzz_follow_state.c - libFuzzer target for the decoder of a follower's
 * position file (cloud/follow_state.c).
 *
 * Oracle: a decode never reads outside the input (ASan); an accepted
 * input is exactly what the encoder writes for the values decoded (the
 * file has one spelling per position), and an "empty" one names no
 * position.
 */
#include "cloud/follow.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char again[FOLLOW_STATE_MAX];
	struct follow_pos p;
	uint8_t id[FEED_ID_LEN];
	bool applying;
	size_t n;

	if (follow_state_parse(data, size, &p, id, &applying))
		return 0;
	n = follow_state_encode(&p, id, applying, again);
	if (n != size || memcmp(again, data, size))
		abort();
	if (!p.any && (p.gen || p.batch || p.time_ns || applying))
		abort();
	return 0;
}
