/*
 * fuzz_feed.c - libFuzzer target for the decoder of change feed batches
 * and base snapshot parts (cloud/feed.c).
 *
 * Each input is decoded twice: as it is (almost always refused by the
 * CRC), and with its total length and CRC fields rewritten to match, so
 * the fuzzer reaches the structural checks behind the CRC
 * (tests/fuzz/framed.h).  Oracle: a
 * decode never reads outside the input (ASan); a decoded object obeys the
 * validity rule (names valid, bodies where they belong, batch times in
 * order, snapshot records no later than the snapshot); and encoding it
 * again gives the same bytes back.
 */
#include "cloud/feed.h"
#include "tests/fuzz/framed.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct feed_object *o, const uint8_t *buf, size_t len)
{
	struct feed_writer w;
	void *out;
	size_t olen;

	if (o->kind == FEED_BATCH && (o->n == 0 || o->parts != 1))
		abort();
	for (size_t i = 0; i < o->n; i++) {
		const struct feed_record *r = &o->rec[i];

		if (!r->space[0] || !r->key[0])
			abort();
		if ((r->kind == FEED_REC_DOC) != (r->body_len > 0))
			abort();
		if (r->body &&
		    (r->body < buf || r->body + r->body_len > buf + len))
			abort();
		if (o->kind == FEED_SNAP && r->time_ns > o->last_ns)
			abort();
		if (o->kind == FEED_BATCH && i && r->time_ns < r[-1].time_ns)
			abort();
	}
	if (feed_writer_init(&w, o->kind, o->id, o->gen, o->batch, o->part,
			     o->parts, o->last_ns))
		abort();
	for (size_t i = 0; i < o->n; i++)
		if (feed_writer_add(&w, &o->rec[i]))
			abort();
	if (feed_writer_finish(&w, &out, &olen))
		abort();
	if (olen != len || memcmp(out, buf, len))
		abort();
	free(out);
}

static void try_decode(const uint8_t *buf, size_t len)
{
	struct feed_object o;

	if (feed_decode(buf, len, &o) == 0) {
		check(&o, buf, len);
		feed_release(&o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_framed(data, size, try_decode);
	return 0;
}
