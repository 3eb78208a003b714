/*
 * fuzz_archive.c - libFuzzer target for the cloud archive decoder.
 *
 * Each input is decoded twice: as it is (almost always refused by the
 * CRC), and with its total length and CRC fields rewritten to match, so
 * the fuzzer reaches the structural checks behind the CRC
 * (tests/fuzz/framed.h).  Oracle: a
 * decode never reads outside the input (ASan) and, when it succeeds,
 * encoding the decoded archive again gives bytes that decode to the same
 * archive.
 *
 * A decoded archive then goes through the gate to the store
 * (cloud_archive_verify, with small limits so that the size rules are
 * reached).  Oracle: an archive it accepts has a sequence number within
 * STORE_SEQ_MAX and at least its entry count, a mode within 0777, and
 * entries that each decode as a document change.
 */
#include "cloud/archive.h"
#include "cloud/verify.h"
#include "tests/fuzz/framed.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct archive *a)
{
	struct archive_writer w;
	struct archive b;
	void *out;
	size_t len;

	if (archive_writer_init(&w, a->space, a->key, &a->meta))
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (archive_writer_add(&w, a->entries[i].seq, a->entries[i].buf,
				       a->entries[i].len))
			abort();
	if (archive_writer_finish(&w, a->seq, &out, &len))
		abort();
	if (archive_decode(out, len, &b))
		abort();
	if (b.seq != a->seq || b.n != a->n || strcmp(b.space, a->space) ||
	    strcmp(b.key, a->key) || memcmp(&b.meta, &a->meta, sizeof(b.meta)))
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (b.entries[i].seq != a->entries[i].seq ||
		    b.entries[i].len != a->entries[i].len ||
		    memcmp(b.entries[i].buf, a->entries[i].buf,
			   a->entries[i].len))
			abort();
	archive_release(&b);
	free(out);
}

static void verify(const struct archive *a)
{
	struct doc_options o = { .max_doc_bytes = 4096,
				 .max_patch_bytes = 1024 };
	struct store_meta m;
	const char *why;
	char kind;

	if (cloud_archive_verify(a, a->space, a->key, a->seq, &o, &m, &why))
		return;
	if (a->seq > STORE_SEQ_MAX || a->n > a->seq || (m.mode & ~0777u))
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (doc_entry_decode(a->entries[i].buf, a->entries[i].len,
				     &kind, NULL))
			abort();
}

static void try_decode(const uint8_t *buf, size_t len)
{
	struct archive a;

	if (archive_decode(buf, len, &a) == 0) {
		roundtrip(&a);
		verify(&a);
		archive_release(&a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_framed(data, size, try_decode);
	return 0;
}
