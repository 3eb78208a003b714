/*
 * fuzz_json_value.c - libFuzzer target: one input, one JSON document.
 *
 * Oracles (each an abort on violation):
 *   1. Round trip: a document that parses emits a text that parses again
 *      and emits the identical text; json_value_emit_len() equals the
 *      emitted length; the text holds no NUL and ends with one '\n'.
 *   2. Parser and splitter agree: when the document parses, the splitter
 *      (one feed + finish) finds exactly one value, the input without its
 *      surrounding whitespace; when the splitter finds exactly one value
 *      spanning the input and nothing else, the parser accepts it unless
 *      a number is out of range (jansson's numeric-overflow error).
 *   3. json_utf8_valid() agrees with jansson's own check (json_stringn()
 *      refuses exactly the invalid UTF-8) on the raw input bytes.
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

struct seen {
	size_t count;
	const char *base; /* the input, to locate a zero-copy value */
	size_t len;       /* length of the first value */
	char *first;      /* copy of the first value */
};

static int on_value(void *arg, const char *buf, size_t len)
{
	struct seen *s = arg;

	if (s->count++ == 0) {
		s->first = malloc(len ? len : 1);
		CHECK(s->first);
		memcpy(s->first, buf, len);
		s->len = len;
	}
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static void check_round_trip(const json_t *v)
{
	char *a, *b;
	size_t alen, blen;
	json_t *w;

	CHECK(json_value_emit(v, &a, &alen) == 0);
	CHECK(json_value_emit_len(v) == alen);
	CHECK(alen >= 2 && a[alen - 1] == '\n' && a[alen] == '\0');
	CHECK(memchr(a, '\0', alen) == NULL);
	CHECK(json_value_parse(a, alen, &w) == 0);
	CHECK(json_value_emit(w, &b, &blen) == 0);
	CHECK(alen == blen && memcmp(a, b, alen) == 0);
	CHECK(json_equal((json_t *)v, w));
	free(a);
	free(b);
	json_decref(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct seen s = { .base = in };
	struct json_splitter *sp;
	json_t *v = NULL, *str;
	int rc, src;
	size_t lo = 0, hi = size;

	/* 3 */
	str = json_stringn(in, size);
	CHECK((str != NULL) == json_utf8_valid(in, size));
	json_decref(str);

	rc = json_value_parse(in, size, &v);
	CHECK(rc == 0 || rc == -EINVAL);

	sp = json_splitter_new(0, on_value, &s);
	CHECK(sp);
	src = json_splitter_feed(sp, in, size);
	if (src == 0)
		src = json_splitter_finish(sp);
	CHECK(src == 0 || src == -EINVAL);
	json_splitter_free(sp);

	while (lo < hi && is_ws(in[lo]))
		lo++;
	while (hi > lo && is_ws(in[hi - 1]))
		hi--;

	if (rc == 0) {
		/* 1, 2 */
		check_round_trip(v);
		CHECK(src == 0 && s.count == 1);
		CHECK(s.len == hi - lo && memcmp(s.first, in + lo, s.len) == 0);
		json_decref(v);
	} else if (src == 0 && s.count == 1 && s.len == hi - lo) {
		/* 2: the splitter took it as one value; only a number out of
		 * range may make the parser refuse it */
		json_error_t err;
		json_t *j = json_loadb(in, size, JSON_DECODE_ANY | JSON_ALLOW_NUL,
				       &err);
		CHECK(j == NULL);
		CHECK(json_error_code(&err) == json_error_numeric_overflow);
	}
	free(s.first);
	return 0;
}
