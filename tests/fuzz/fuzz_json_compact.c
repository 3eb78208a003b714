/*
 * fuzz_json_compact.c - libFuzzer target: the single-pass compactor
 * (json/compact.c) against jansson's parse + our emit, on one input.
 *
 * Oracles (each an abort on violation):
 *   1. json_value_compact() accepts exactly what json_value_parse()
 *      accepts (same return value, 0 or -EINVAL), and what it returns is
 *      byte for byte json_value_emit() of the parsed value.
 *   2. The single pass alone (json_compact_fast) either returns that
 *      same result, or JSON_COMPACT_FALLBACK only for a text that repeats
 *      a key within one object before any error (jansson's
 *      JSON_REJECT_DUPLICATES refuses it with json_error_duplicate_key;
 *      what follows the repeated key is then left to jansson).
 *   3. The same holds for the input wrapped in an array and an object
 *      ("[" in "]", {"k":in}), where the value is not at the top level.
 *
 * Build and run: tests/fuzz/run-json.sh.  make check replays the seeds
 * of tests/fuzz/corpus/json (tests/fuzz/fuzz_json_compact_replay).
 */
#include "json/json.h"
#include "json/json_internal.h"

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

static bool has_duplicate_key(const char *in, size_t len)
{
	json_error_t err;
	json_t *v = json_loadb(in, len,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL |
				       JSON_REJECT_DUPLICATES,
			       &err);

	json_decref(v);
	return v == NULL && json_error_code(&err) == json_error_duplicate_key;
}

static void check_one(const char *in, size_t len)
{
	char *ref = NULL, *got = NULL, *fast = NULL;
	size_t ref_len = 0, got_len = 0, fast_len = 0;
	json_t *v = NULL;
	int rc, grc, frc;

	rc = json_value_parse(in, len, &v);
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		CHECK(json_value_emit(v, &ref, &ref_len) == 0);
		json_decref(v);
	}

	/* 1 */
	grc = json_value_compact(in, len, &got, &got_len);
	CHECK(grc == rc);
	if (rc == 0) {
		CHECK(got_len == ref_len && memcmp(got, ref, ref_len) == 0);
		CHECK(got[got_len] == '\0');
	}

	/* 2 */
	frc = json_compact_fast(in, len, &fast, &fast_len);
	if (frc == JSON_COMPACT_FALLBACK) {
		CHECK(has_duplicate_key(in, len));
	} else {
		CHECK(frc == rc);
		if (rc == 0)
			CHECK(fast_len == ref_len &&
			      memcmp(fast, ref, ref_len) == 0);
	}
	free(ref);
	free(got);
	free(fast);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *w = malloc(size + 8);

	CHECK(w);
	check_one(in, size);

	/* 3 */
	w[0] = '[';
	memcpy(w + 1, in, size);
	w[size + 1] = ']';
	check_one(w, size + 2);
	memcpy(w, "{\"k\":", 5);
	memcpy(w + 5, in, size);
	w[size + 5] = '}';
	check_one(w, size + 6);
	free(w);
	return 0;
}
