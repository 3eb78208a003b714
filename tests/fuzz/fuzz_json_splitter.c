/*
 * fuzz_json_splitter.c - libFuzzer target: a write stream cut into pieces.
 *
 * The first input byte seeds how the rest is cut into feeds (1..64 bytes,
 * sometimes larger) and, when small, sets a small value limit; the rest
 * is the stream.  Every value the splitter
 * delivers is parsed with json_value_parse(), as the filesystem does.
 *
 * Oracles (each an abort on violation):
 *   1. Cutting does not matter: the stream fed in pieces and fed whole
 *      gives the same values (a hash of their emitted texts), the same
 *      result and the same offset.
 *   2. A delivered value the parser refuses is refused only for a number
 *      out of range (the splitter checks all the rest of the syntax).
 *   3. Round trip: each parsed value emits a text that parses again and
 *      emits the identical text; emit_len matches.
 *   4. Merge: each value is applied as an RFC 7386 patch to a running
 *      document; applying the same patch twice changes nothing (merge
 *      patches are idempotent), and the document round-trips too.  This
 *      check costs a pass over the whole document, so it runs after the
 *      1st, 2nd, 4th, 8th... value and after the last: a stream of n
 *      values costs O(n log n) document passes instead of O(n^2), which
 *      kept long streams at a few hundred executions a second.
 *
 * Build and run: tests/fuzz/run-json.sh.
 */
#include "json/json.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

struct run {
	uint64_t hash;  /* FNV-1a over the emitted values */
	size_t count;
	json_t *doc;    /* the document the values patch */
	json_t *last;   /* the last patch applied, not yet checked */
};

static void hash_bytes(struct run *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		r->hash ^= (unsigned char)p[i];
		r->hash *= 0x100000001b3ull;
	}
}

/* Emits v, checks the round trip, returns the text (free()). */
static char *emit_checked(const json_t *v, size_t *len)
{
	char *a, *b;
	size_t blen;
	json_t *w;

	CHECK(json_value_emit(v, &a, len) == 0);
	CHECK(json_value_emit_len(v) == *len);
	CHECK(json_value_parse(a, *len, &w) == 0);
	CHECK(json_value_emit(w, &b, &blen) == 0);
	CHECK(*len == blen && memcmp(a, b, blen) == 0);
	free(b);
	json_decref(w);
	return a;
}

/* Oracle 4 for the last patch applied to r->doc. */
static void check_merge(struct run *r)
{
	json_t *again = json_deep_copy(r->doc);
	char *text, *t2;
	size_t n, n2;

	CHECK(again);
	CHECK(json_merge_patch(&again, r->last) == 0);
	text = emit_checked(r->doc, &n);
	t2 = emit_checked(again, &n2);
	CHECK(n == n2 && memcmp(text, t2, n) == 0);
	free(text);
	free(t2);
	json_decref(again);
	json_decref(r->last);
	r->last = NULL;
}

static int on_value(void *arg, const char *buf, size_t len)
{
	struct run *r = arg;
	json_t *v;
	char *text;
	size_t n;
	int rc = json_value_parse(buf, len, &v);

	if (rc) {
		json_error_t err;
		json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
				       &err);
		CHECK(rc == -EINVAL && j == NULL);
		CHECK(json_error_code(&err) == json_error_numeric_overflow);
		return rc;
	}
	text = emit_checked(v, &n);
	hash_bytes(r, text, n);
	r->count++;
	free(text);

	CHECK(json_merge_patch(&r->doc, v) == 0);
	json_decref(r->last);
	r->last = v;
	if ((r->count & (r->count - 1)) == 0)
		check_merge(r);
	return 0;
}

/* Feeds the stream in pieces; cut == 0: in one piece. */
static int run_stream(const char *in, size_t size, size_t max, uint32_t cut,
		      struct run *r, size_t *offset)
{
	struct json_splitter *sp = json_splitter_new(max, on_value, r);
	size_t i = 0;
	int rc = 0;

	CHECK(sp);
	r->hash = 0xcbf29ce484222325ull;
	r->count = 0;
	r->doc = json_object();
	r->last = NULL;
	CHECK(r->doc);
	while (i < size && rc == 0) {
		size_t n = size - i;
		if (cut) {
			cut ^= cut << 13;
			cut ^= cut >> 17;
			cut ^= cut << 5;
			size_t piece = cut % 8 == 0 ? 1 + cut % 4096 : 1 + cut % 64;
			if (piece < n)
				n = piece;
		}
		rc = json_splitter_feed(sp, in + i, n);
		i += n;
	}
	if (rc == 0)
		rc = json_splitter_finish(sp);
	else
		CHECK(json_splitter_finish(sp) == -EINVAL);
	*offset = json_splitter_offset(sp);
	CHECK(json_splitter_idle(sp) == (rc == 0));
	json_splitter_free(sp);
	if (r->last)
		check_merge(r);
	json_decref(r->doc);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, cut;
	size_t off_whole, off_cut;
	int rc_whole, rc_cut;

	size_t max;

	if (size == 0)
		return 0;
	/* a small value limit now and then, to reach -EFBIG */
	max = data[0] < 16 ? 8 + 4 * (size_t)data[0] : 0;
	rc_whole = run_stream((const char *)data + 1, size - 1, max, 0, &whole,
			      &off_whole);
	rc_cut = run_stream((const char *)data + 1, size - 1, max,
			    0x9E3779B9u ^ data[0], &cut, &off_cut);
	CHECK(rc_whole == 0 || rc_whole == -EINVAL || rc_whole == -EFBIG);
	CHECK(rc_whole == rc_cut);
	CHECK(whole.count == cut.count && whole.hash == cut.hash);
	CHECK(off_whole == off_cut);
	return 0;
}
