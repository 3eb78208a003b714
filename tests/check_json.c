/*
 * check_json.c - the json module: parsing rules, the compact serializer,
 * RFC 7386 merge patches, the streaming splitter and UTF-8 validation.
 *
 * Data-driven cases live in tests/data/json/ (JSON_TEST_DATA_DIR, or the
 * environment variable of the same name):
 *   valid/<case>/input, output    one document and its compact form
 *   invalid/<case>/input          refused by the parser and the splitter
 *   stream/<case>/input, output   a write stream and its values, one
 *                                 compact value a line
 */
#include "json/json.h"
#include "json/json_internal.h"
#include "tests/json_fault.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef JSON_TEST_DATA_DIR
#define JSON_TEST_DATA_DIR "tests/data/json"
#endif

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so failures reproduce. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static json_t *parse_ok(const char *s)
{
	json_t *v = NULL;
	int rc = json_value_parse(s, strlen(s), &v);

	ck_assert_msg(rc == 0, "parse of '%s' failed: %d", s, rc);
	return v;
}

static int parse_rc(const char *s)
{
	json_t *v = NULL;
	int rc = json_value_parse(s, strlen(s), &v);

	if (rc == 0)
		json_decref(v);
	return rc;
}

/* The emitted text of v, checked against json_value_emit_len(). Free with
 * free(). */
static char *emit(const json_t *v)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(json_value_emit(v, &out, &len), 0);
	ck_assert_uint_eq(len, strlen(out));
	ck_assert_uint_eq(json_value_emit_len(v), len);
	ck_assert(len > 0 && out[len - 1] == '\n');
	return out;
}

/* Emitted text of v with length (for strings holding NUL, which emit
 * escapes, the text has none). */
static void assert_emits(const json_t *v, const char *want)
{
	char *out = emit(v);
	size_t n = strlen(want);

	ck_assert_msg(strlen(out) == n + 1 && memcmp(out, want, n) == 0,
		      "emitted '%s', want '%s'", out, want);
	free(out);
}

/* parse(in) emits want (without the newline). */
static void assert_reads_back(const char *in, const char *want)
{
	json_t *v = parse_ok(in);

	assert_emits(v, want);
	json_decref(v);
}

static char *real_text(double d)
{
	json_t *v = json_real(d);
	char *out;

	ck_assert_ptr_nonnull(v);
	out = emit(v);
	json_decref(v);
	out[strlen(out) - 1] = '\0';
	return out;
}

static bool same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Collects what a splitter delivers: the values' bytes, one per line. */
struct collect {
	char *text;
	size_t len;
	size_t cap;
	size_t count;
	int fail_at;  /* return -EIO for the value with this 1-based index */
	bool parse;   /* parse each value and store its emitted form */
};

static void collect_put(struct collect *c, const char *p, size_t n)
{
	if (c->cap - c->len < n + 1) {
		c->cap = (c->cap + n + 1) * 2;
		c->text = realloc(c->text, c->cap);
		ck_assert_ptr_nonnull(c->text);
	}
	memcpy(c->text + c->len, p, n);
	c->len += n;
	c->text[c->len] = '\0';
}

static int collect_fn(void *arg, const char *buf, size_t len)
{
	struct collect *c = arg;
	json_t *v;
	char *out;
	size_t n;
	int rc;

	c->count++;
	if (c->fail_at && (int)c->count == c->fail_at)
		return -EIO;
	if (!c->parse) {
		collect_put(c, buf, len);
		collect_put(c, "\n", 1);
		return 0;
	}
	rc = json_value_parse(buf, len, &v);
	if (rc)
		return rc;
	rc = json_value_emit(v, &out, &n);
	json_decref(v);
	if (rc)
		return rc;
	collect_put(c, out, n);
	free(out);
	return 0;
}

static void collect_reset(struct collect *c)
{
	free(c->text);
	memset(c, 0, sizeof(*c));
}

/*
 * Feeds in[0..len) in pieces: cut at `split` when split < len, else in
 * chunks of `chunk` bytes; then finishes.  Returns the first error.
 */
static int split_stream(const char *in, size_t len, size_t chunk, size_t split,
			size_t max, struct collect *c)
{
	struct json_splitter *sp = json_splitter_new(max, collect_fn, c);
	int rc = 0;

	ck_assert_ptr_nonnull(sp);
	if (split < len) {
		rc = json_splitter_feed(sp, in, split);
		if (!rc)
			rc = json_splitter_feed(sp, in + split, len - split);
	} else {
		for (size_t i = 0; i < len && !rc; i += chunk) {
			size_t n = len - i < chunk ? len - i : chunk;
			rc = json_splitter_feed(sp, in + i, n);
		}
	}
	if (!rc)
		rc = json_splitter_finish(sp);
	if (!rc) {
		ck_assert(json_splitter_idle(sp));
		ck_assert_uint_eq(json_splitter_offset(sp), len);
	}
	json_splitter_free(sp);
	return rc;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap * 2 + 4096;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *data_dir(void)
{
	const char *d = getenv("JSON_TEST_DATA_DIR");

	return d && *d ? d : JSON_TEST_DATA_DIR;
}

/* Calls fn for every case directory of data_dir()/kind; returns the count. */
static int for_each_case(const char *kind,
			 void (*fn)(const char *name, const char *in,
				    size_t in_len, const char *out, size_t out_len))
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir(), kind);
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open '%s'", path);
	while ((de = readdir(d))) {
		char *in, *out;
		size_t in_len, out_len = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s/input", data_dir(), kind,
			 de->d_name);
		in = read_file(path, &in_len);
		ck_assert_msg(in != NULL, "cannot read '%s'", path);
		snprintf(path, sizeof(path), "%s/%s/%s/output", data_dir(), kind,
			 de->d_name);
		out = read_file(path, &out_len);
		fn(de->d_name, in, in_len, out, out_len);
		free(in);
		free(out);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- parse ------------------------------------------------------------ */

START_TEST(test_parse_accepts_any_top_level_value)
{
	const char *in[] = { "1", "-2.5", "\"s\"", "true", "false", "null",
			     "[]", "{}" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		json_decref(parse_ok(in[i]));
}
END_TEST

START_TEST(test_parse_keeps_int64_extremes_exact)
{
	json_t *v = parse_ok("9223372036854775807");

	ck_assert(json_is_integer(v));
	ck_assert(json_integer_value(v) == INT64_MAX);
	json_decref(v);
	v = parse_ok("-9223372036854775808");
	ck_assert(json_is_integer(v));
	ck_assert(json_integer_value(v) == INT64_MIN);
	json_decref(v);
	assert_reads_back("9223372036854775807", "9223372036854775807");
	assert_reads_back("-9223372036854775808", "-9223372036854775808");
}
END_TEST

START_TEST(test_parse_keeps_9007199254740993_exact)
{
	json_t *v = parse_ok("9007199254740993");

	ck_assert(json_is_integer(v));
	ck_assert(json_integer_value(v) == 9007199254740993LL);
	assert_emits(v, "9007199254740993");
	json_decref(v);
}
END_TEST

START_TEST(test_parse_refuses_int_above_int64)
{
	ck_assert_int_eq(parse_rc("9223372036854775808"), -EINVAL);
	ck_assert_int_eq(parse_rc("[18446744073709551616]"), -EINVAL);
	ck_assert_int_eq(parse_rc("{\"a\":100000000000000000000000000}"),
			 -EINVAL);
}
END_TEST

START_TEST(test_parse_refuses_int_below_int64)
{
	ck_assert_int_eq(parse_rc("-9223372036854775809"), -EINVAL);
}
END_TEST

START_TEST(test_parse_accepts_1e308_refuses_1e309)
{
	assert_reads_back("1e308", "1e308");
	assert_reads_back("-1e308", "-1e308");
	ck_assert_int_eq(parse_rc("1e309"), -EINVAL);
	ck_assert_int_eq(parse_rc("-1e309"), -EINVAL);
	ck_assert_int_eq(parse_rc("1e400"), -EINVAL);
	ck_assert_int_eq(parse_rc("[1.8e308]"), -EINVAL);
}
END_TEST

START_TEST(test_parse_underflow_reads_nearest_double)
{
	assert_reads_back("1e-400", "0.0");
	assert_reads_back("-1e-400", "-0.0");
	assert_reads_back("4.9406564584124654e-324", "5e-324");
}
END_TEST

START_TEST(test_parse_fraction_or_exponent_makes_real)
{
	const char *in[] = { "1.0", "1e2", "1E2", "1e+2", "0.0", "-0.0", "2e0" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		json_t *v = parse_ok(in[i]);
		ck_assert_msg(json_is_real(v), "'%s' is not a real", in[i]);
		json_decref(v);
	}
	assert_reads_back("1.0", "1.0");
	assert_reads_back("1e2", "100.0");
	assert_reads_back("1E+2", "100.0");
}
END_TEST

START_TEST(test_parse_minus_zero_is_integer_zero)
{
	json_t *v = parse_ok("-0");

	ck_assert(json_is_integer(v));
	assert_emits(v, "0");
	json_decref(v);
}
END_TEST

START_TEST(test_parse_refuses_trailing_garbage)
{
	ck_assert_int_eq(parse_rc("{}x"), -EINVAL);
	ck_assert_int_eq(parse_rc("1 2"), -EINVAL);
	ck_assert_int_eq(parse_rc("[] []"), -EINVAL);
	ck_assert_int_eq(parse_rc("[]]"), -EINVAL);
	ck_assert_int_eq(parse_rc("truefalse"), -EINVAL);
	json_t *v = NULL;
	ck_assert_int_eq(json_value_parse("{}\0", 3, &v), -EINVAL);
}
END_TEST

START_TEST(test_parse_refuses_raw_nul_that_jansson_skips)
{
	json_t *v = NULL;

	/* jansson 2.14 drops a NUL it reads ahead after a number */
	ck_assert_int_eq(json_value_parse("0\0", 2, &v), -EINVAL);
	ck_assert_int_eq(json_value_parse("[1\0]", 4, &v), -EINVAL);
	ck_assert_int_eq(json_value_parse("{\"a\":1.5\0}", 9, &v), -EINVAL);
	ck_assert_int_eq(json_value_parse("\"a\0\"", 4, &v), -EINVAL);
}
END_TEST

START_TEST(test_parse_allows_surrounding_whitespace_only)
{
	assert_reads_back(" \t\r\n[1] \n", "[1]");
	ck_assert_int_eq(parse_rc(""), -EINVAL);
	ck_assert_int_eq(parse_rc(" \n"), -EINVAL);
	ck_assert_int_eq(parse_rc("\f[]"), -EINVAL);
}
END_TEST

START_TEST(test_parse_reads_only_len_bytes)
{
	json_t *v = NULL;

	ck_assert_int_eq(json_value_parse("[1]xyz", 3, &v), 0);
	assert_emits(v, "[1]");
	json_decref(v);
	ck_assert_int_eq(json_value_parse("12345", 2, &v), 0);
	assert_emits(v, "12");
	json_decref(v);
}
END_TEST

START_TEST(test_parse_refuses_invalid_utf8)
{
	const char *bad[] = {
		"\"\xc0\xaf\"",         /* overlong '/' */
		"\"\xc1\xbf\"",         /* overlong U+007F */
		"\"\xe0\x80\xaf\"",     /* overlong, 3 bytes */
		"\"\xe0\x9f\xbf\"",     /* overlong U+07FF */
		"\"\xf0\x80\x80\xaf\"", /* overlong, 4 bytes */
		"\"\xf0\x8f\xbf\xbf\"", /* overlong U+FFFF */
		"\"\xed\xa0\x80\"",     /* surrogate U+D800 */
		"\"\xed\xbf\xbf\"",     /* surrogate U+DFFF */
		"\"\xf4\x90\x80\x80\"", /* U+110000 */
		"\"\xf5\x80\x80\x80\"", /* lead byte beyond F4 */
		"\"\xff\"",
		"\"\x80\"",             /* lone continuation */
		"\"\xc3\"",             /* truncated */
		"\"\xe2\x82\"",
		"\"\xf0\x9d\x84\"",
		"{\"\xc0\x80\":1}",     /* in a key */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_rc(bad[i]) == -EINVAL, "case %zu accepted",
			      i);
}
END_TEST

START_TEST(test_parse_accepts_utf8_boundaries)
{
	assert_reads_back("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
			  "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
			  "\xf4\x8f\xbf\xbf\"",
			  "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
			  "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
			  "\xf4\x8f\xbf\xbf\"");
}
END_TEST

START_TEST(test_parse_surrogate_escapes)
{
	assert_reads_back("\"\\ud834\\udd1e\"", "\"\xf0\x9d\x84\x9e\"");
	ck_assert_int_eq(parse_rc("\"\\ud800\""), -EINVAL);
	ck_assert_int_eq(parse_rc("\"\\udc00\""), -EINVAL);
	ck_assert_int_eq(parse_rc("\"\\ud800\\u0041\""), -EINVAL);
	ck_assert_int_eq(parse_rc("\"\\ud800\\n\""), -EINVAL);
}
END_TEST

START_TEST(test_parse_duplicate_key_last_wins_at_first_position)
{
	json_t *v = parse_ok("{\"a\":1,\"b\":2,\"a\":3}");

	ck_assert_uint_eq(json_object_size(v), 2);
	assert_emits(v, "{\"a\":3,\"b\":2}");
	json_decref(v);
	assert_reads_back("{\"a\":{\"x\":1},\"b\":0,\"a\":{\"y\":2}}",
			  "{\"a\":{\"y\":2},\"b\":0}");
}
END_TEST

START_TEST(test_parse_keeps_insertion_order)
{
	assert_reads_back("{\"z\":1,\"a\":2,\"m\":3,\"b\":{\"y\":1,\"x\":2}}",
			  "{\"z\":1,\"a\":2,\"m\":3,\"b\":{\"y\":1,\"x\":2}}");
}
END_TEST

START_TEST(test_parse_nul_kept_in_values_refused_in_keys)
{
	json_t *v = parse_ok("\"a\\u0000b\"");

	ck_assert_uint_eq(json_string_length(v), 3);
	ck_assert(memcmp(json_string_value(v), "a\0b", 3) == 0);
	assert_emits(v, "\"a\\u0000b\"");
	json_decref(v);
	ck_assert_int_eq(parse_rc("{\"a\\u0000\":1}"), -EINVAL);
}
END_TEST

static char *nested(int depth, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc(2 * (size_t)depth + n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', (size_t)depth);
	memcpy(s + depth, inner, n);
	memset(s + depth + n, ']', (size_t)depth);
	s[2 * depth + n] = '\0';
	return s;
}

START_TEST(test_parse_depth_limit_is_2048_values)
{
	char *s = nested(2048, "");

	ck_assert_int_eq(parse_rc(s), 0);
	free(s);
	s = nested(2047, "1");
	ck_assert_int_eq(parse_rc(s), 0);
	free(s);
	s = nested(2049, "");
	ck_assert_int_eq(parse_rc(s), -EINVAL);
	free(s);
	s = nested(2048, "1");
	ck_assert_int_eq(parse_rc(s), -EINVAL);
	free(s);
}
END_TEST

START_TEST(test_parse_refuses_what_rfc8259_refuses)
{
	const char *bad[] = { "NaN", "Infinity", "-Infinity", "'a'", "01",
			      "+1", ".5", "1.", "1e", "0x10", "[1,]",
			      "{\"a\":1,}", "{a:1}", "/**/1", "\xef\xbb\xbf{}",
			      "\"a\nb\"", "\"\\x\"", "tru", "True" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_rc(bad[i]) == -EINVAL, "'%s' accepted",
			      bad[i]);
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

START_TEST(test_emit_keeps_0_1_shortest)
{
	assert_reads_back("0.1", "0.1");
	assert_reads_back("[0.1,0.2,0.30000000000000004]",
			  "[0.1,0.2,0.30000000000000004]");
	json_t *v = json_real(0.1 + 0.2);
	assert_emits(v, "0.30000000000000004");
	json_decref(v);
}
END_TEST

START_TEST(test_emit_real_layout)
{
	static const struct {
		double d;
		const char *text;
	} t[] = {
		{ 0.0, "0.0" },
		{ -0.0, "-0.0" },
		{ 1.0, "1.0" },
		{ -1.0, "-1.0" },
		{ 100.0, "100.0" },
		{ 123.456, "123.456" },
		{ 0.5, "0.5" },
		{ 1e15, "1000000000000000.0" },
		{ 1234567890123456.7, "1234567890123456.8" },
		{ 1e16, "10000000000000000.0" },
		{ 99999999999999968.0, "99999999999999970.0" },
		{ 1e17, "1e17" },
		{ 1.5e17, "1.5e17" },
		{ 0.0001, "0.0001" },
		{ 0.00012, "0.00012" },
		{ 0.00001, "1e-5" },
		{ 1.5e-7, "1.5e-7" },
		{ 1e100, "1e100" },
		{ -2.5e-300, "-2.5e-300" },
		{ DBL_MAX, "1.7976931348623157e308" },
		{ DBL_MIN, "2.2250738585072014e-308" },
		{ 4.9406564584124654e-324, "5e-324" },
		{ 9007199254740992.0, "9007199254740992.0" },
		{ 3.141592653589793, "3.141592653589793" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *s = real_text(t[i].d);
		ck_assert_msg(strcmp(s, t[i].text) == 0, "%.17g printed '%s', want '%s'",
			      t[i].d, s, t[i].text);
		free(s);
	}
}
END_TEST

/* Significant digits of a real's text: the mantissa without sign, point,
 * leading and trailing zeros. */
static int significant_digits(const char *s)
{
	char d[64];
	int n = 0, start = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	}
	while (start < n && d[start] == '0')
		start++;
	while (n > start && d[n - 1] == '0')
		n--;
	return n - start;
}

/* The fewest significant digits that identify d, found independently of
 * the module with "%.*g". */
static int fewest_digits(double d)
{
	char b[64];

	for (int p = 1; p <= 17; p++) {
		snprintf(b, sizeof(b), "%.*g", p, d);
		if (same_bits(strtod(b, NULL), d))
			return p;
	}
	return 17;
}

static double random_double(void)
{
	uint64_t bits;
	double d;

	do {
		bits = rng();
		switch (bits % 4) {
		case 0: /* any finite double */
			break;
		case 1: /* short decimals, the values users write */
			d = (double)(int64_t)(rng() % 2000001 - 1000000) /
			    pow(10, (double)(rng() % 12));
			memcpy(&bits, &d, sizeof(d));
			break;
		case 2: /* subnormals */
			bits = (bits >> 12) | (bits & 0x8000000000000000ull);
			break;
		case 3: /* near powers of ten */
			d = pow(10, (double)(int)(rng() % 600) - 300);
			memcpy(&bits, &d, sizeof(d));
			bits += rng() % 5 - 2;
			break;
		}
		memcpy(&d, &bits, sizeof(d));
	} while (!isfinite(d));
	return d;
}

START_TEST(test_emit_random_doubles_round_trip_shortest)
{
	for (int i = 0; i < 8000; i++) {
		double d = random_double();
		char g17[64];
		char *s = real_text(d);
		double back = strtod(s, NULL);

		ck_assert_msg(same_bits(back, d), "%.17g printed '%s'", d, s);
		snprintf(g17, sizeof(g17), "%.17g", d);
		/* ".0" may be added to keep the value a real. */
		ck_assert_msg(strlen(s) <= strlen(g17) + 2,
			      "'%s' longer than '%s'", s, g17);
		if (d != 0)
			ck_assert_msg(significant_digits(s) == fewest_digits(d),
				      "'%s' is not the shortest for %.17g", s, d);
		ck_assert_msg(strchr(s, '.') || strchr(s, 'e'),
			      "'%s' would read back as an integer", s);
		/* and the parser agrees */
		json_t *v = parse_ok(s);
		ck_assert(json_is_real(v));
		ck_assert(same_bits(json_real_value(v), d));
		json_decref(v);
		free(s);
	}
}
END_TEST

START_TEST(test_emit_integers_exact)
{
	const json_int_t t[] = { 0, 1, -1, 9, 10, -10, 2147483648LL,
				 9007199254740993LL, INT64_MAX, INT64_MIN,
				 INT64_MIN + 1 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char want[32];
		json_t *v = json_integer(t[i]);
		snprintf(want, sizeof(want), "%lld", (long long)t[i]);
		assert_emits(v, want);
		json_decref(v);
	}
}
END_TEST

START_TEST(test_emit_escapes_per_rfc8259)
{
	char all[32];
	json_t *v;

	for (int i = 0; i < 32; i++)
		all[i] = (char)i;
	v = json_stringn(all, sizeof(all));
	ck_assert_ptr_nonnull(v);
	assert_emits(v, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006"
			"\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010"
			"\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
			"\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e"
			"\\u001f\"");
	json_decref(v);
	v = json_string("quote\" backslash\\ slash/ del\x7f \xc3\xa9\xe2\x82\xac"
			"\xf0\x9d\x84\x9e");
	assert_emits(v, "\"quote\\\" backslash\\\\ slash/ del\x7f \xc3\xa9"
			"\xe2\x82\xac\xf0\x9d\x84\x9e\"");
	json_decref(v);
}
END_TEST

START_TEST(test_emit_escapes_keys)
{
	json_t *v = json_object();

	json_object_set_new(v, "a\"b\n", json_true());
	assert_emits(v, "{\"a\\\"b\\n\":true}");
	json_decref(v);
}
END_TEST

START_TEST(test_emit_is_compact_in_insertion_order)
{
	json_t *v = json_object();

	json_object_set_new(v, "z", json_integer(1));
	json_object_set_new(v, "a", json_pack("[i,s,n,b,f]", 1, "x", 0, 2.5));
	json_object_set_new(v, "m", json_object());
	json_object_set_new(v, "z", json_integer(2)); /* keeps its place */
	assert_emits(v, "{\"z\":2,\"a\":[1,\"x\",null,false,2.5],\"m\":{}}");
	json_decref(v);
}
END_TEST

/* A random value, depth-limited; strings mix ASCII, controls, UTF-8. */
static json_t *random_value(int depth)
{
	static const char *pieces[] = { "a", "\"", "\\", "\n", "\x01", "/",
					"\xc3\xa9", "\xe2\x82\xac",
					"\xf0\x9d\x84\x9e", "\x7f", " " };
	char s[64];
	size_t n = 0;
	int kind = (int)(rng() % (depth > 0 ? 9 : 7));

	switch (kind) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(rng() & 1);
	case 2:
		return json_integer((json_int_t)rng());
	case 3:
		return json_real(random_double());
	case 4:
	case 5:
	case 6:
		for (int k = (int)(rng() % 8); k > 0; k--) {
			const char *p = pieces[rng() % 11];
			memcpy(s + n, p, strlen(p));
			n += strlen(p);
		}
		if (rng() % 10 == 0)
			s[n++] = '\0';
		return json_stringn(s, n);
	case 7: {
		json_t *a = json_array();
		for (int k = (int)(rng() % 5); k > 0; k--)
			json_array_append_new(a, random_value(depth - 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int k = (int)(rng() % 5); k > 0; k--) {
			char key[16];
			snprintf(key, sizeof(key), "k%u\xc3\xa9\t",
				 (unsigned)(rng() % 7));
			json_object_set_new(o, key, random_value(depth - 1));
		}
		return o;
	}
	}
}

START_TEST(test_emit_len_matches_emit_on_random_values)
{
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(4);
		char *out = NULL;
		size_t len = 0;

		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(json_value_emit(v, &out, &len), 0);
		ck_assert_uint_eq(json_value_emit_len(v), len);
		ck_assert(out[len] == '\0');
		/* and the text reads back to a value that emits the same */
		json_t *back = NULL;
		ck_assert_int_eq(json_value_parse(out, len, &back), 0);
		ck_assert(json_equal(v, back));
		char *again = emit(back);
		ck_assert_str_eq(again, out);
		free(again);
		json_decref(back);
		free(out);
		json_decref(v);
	}
}
END_TEST

START_TEST(test_emit_ignores_locale_decimal_point)
{
	/* Only locales installed on this machine can be tried; C.UTF-8 and
	 * C use '.', so this exercises the path without a comma locale. */
	const char *names[] = { "de_DE.UTF-8", "fr_FR.UTF-8", "de_DE",
				"C.UTF-8" };
	const char *got = NULL;

	for (size_t i = 0; i < 4 && !got; i++)
		got = setlocale(LC_NUMERIC, names[i]);
	char *s = real_text(1234.5);
	ck_assert_str_eq(s, "1234.5");
	free(s);
	assert_reads_back("[0.25,1e-7]", "[0.25,1e-7]");
	setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---- merge ------------------------------------------------------------ */

static void assert_merge(const char *doc, const char *patch, const char *want)
{
	json_t *d = parse_ok(doc), *p = parse_ok(patch);
	char *before = emit(p);

	ck_assert_int_eq(json_merge_patch(&d, p), 0);
	assert_emits(d, want);
	/* the patch is borrowed and left unchanged */
	char *after = emit(p);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	json_decref(d);
	json_decref(p);
}

START_TEST(test_merge_rfc7386_appendix_a)
{
	/* RFC 7386, Appendix A "Example Test Cases", every row, in order. */
	assert_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	assert_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	assert_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	assert_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	assert_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	assert_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	assert_merge("{\"a\": {\"b\": \"c\"}}",
		     "{\"a\": {\"b\": \"d\", \"c\": null}}",
		     "{\"a\":{\"b\":\"d\"}}");
	assert_merge("{\"a\": [{\"b\":\"c\"}]}", "{\"a\": [1]}", "{\"a\":[1]}");
	assert_merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
	assert_merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
	assert_merge("{\"a\":\"foo\"}", "null", "null");
	assert_merge("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
	assert_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
	assert_merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
	assert_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}",
		     "{\"a\":{\"bb\":{}}}");
}
END_TEST

START_TEST(test_merge_rfc7386_section_3_example)
{
	/* RFC 7386 section 3: the patch of the example document. */
	assert_merge("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\","
		     "\"familyName\":\"Doe\"},\"tags\":[\"example\",\"sample\"],"
		     "\"content\":\"This will be unchanged\"}",
		     "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
		     "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
		     "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},"
		     "\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
		     "\"phoneNumber\":\"+01-123-456-7890\"}");
}
END_TEST

START_TEST(test_merge_appends_new_members_keeps_existing_position)
{
	assert_merge("{\"a\":1,\"b\":2,\"c\":3}", "{\"z\":0,\"b\":20,\"y\":9}",
		     "{\"a\":1,\"b\":20,\"c\":3,\"z\":0,\"y\":9}");
	/* removed, then added again: a new member, at the end */
	json_t *d = parse_ok("{\"a\":1,\"b\":2}");
	json_t *p1 = parse_ok("{\"a\":null}"), *p2 = parse_ok("{\"a\":3}");
	ck_assert_int_eq(json_merge_patch(&d, p1), 0);
	ck_assert_int_eq(json_merge_patch(&d, p2), 0);
	assert_emits(d, "{\"b\":2,\"a\":3}");
	json_decref(d);
	json_decref(p1);
	json_decref(p2);
}
END_TEST

START_TEST(test_merge_null_member_absent_in_doc_is_not_added)
{
	assert_merge("{\"a\":1}", "{\"b\":null}", "{\"a\":1}");
	assert_merge("{\"a\":1}", "{\"b\":{\"c\":null,\"d\":[null]}}",
		     "{\"a\":1,\"b\":{\"d\":[null]}}");
}
END_TEST

START_TEST(test_merge_object_patch_on_non_object_starts_empty)
{
	assert_merge("5", "{\"a\":{\"b\":null}}", "{\"a\":{}}");
	assert_merge("\"s\"", "{}", "{}");
	assert_merge("{\"a\":[1]}", "{\"a\":{\"x\":1,\"y\":null}}",
		     "{\"a\":{\"x\":1}}");
}
END_TEST

START_TEST(test_merge_absent_doc_is_undefined)
{
	json_t *d = NULL, *p = parse_ok("{\"a\":null,\"b\":{\"c\":null}}");

	ck_assert_int_eq(json_merge_patch(&d, p), 0);
	assert_emits(d, "{\"b\":{}}");
	json_decref(d);
	json_decref(p);
}
END_TEST

START_TEST(test_merge_same_singleton_as_doc_and_patch)
{
	/* jansson's true, false and null are shared singletons */
	json_t *d = json_true();

	ck_assert_int_eq(json_merge_patch(&d, json_true()), 0);
	assert_emits(d, "true");
	json_decref(d);
	d = json_null();
	ck_assert_int_eq(json_merge_patch(&d, json_null()), 0);
	assert_emits(d, "null");
	json_decref(d);
}
END_TEST

START_TEST(test_merge_result_does_not_alias_patch_objects)
{
	json_t *d = parse_ok("{}");
	json_t *p = parse_ok("{\"a\":{\"b\":1}}");
	json_t *p2 = parse_ok("{\"a\":{\"c\":2}}");

	ck_assert_int_eq(json_merge_patch(&d, p), 0);
	ck_assert_ptr_ne(json_object_get(d, "a"), json_object_get(p, "a"));
	ck_assert_int_eq(json_merge_patch(&d, p2), 0);
	assert_emits(d, "{\"a\":{\"b\":1,\"c\":2}}");
	assert_emits(p, "{\"a\":{\"b\":1}}");
	json_decref(d);
	json_decref(p);
	json_decref(p2);
}
END_TEST

/* ---- splitter --------------------------------------------------------- */

static const char stream_mix[] =
	"{\"a\":1}\n{\"b\":[1,2,{\"c\":\"d\\\"}\"}]}  [1]\t\"str\\u00e9\""
	"12 -3.5e+2 true false null{}[]\"\xf0\x9d\x84\x9e\"\r\n"
	"{\n  \"pretty\": [\n    1,\n    2\n  ]\n}\n0 7";

START_TEST(test_splitter_every_split_position_yields_same_values)
{
	size_t len = sizeof(stream_mix) - 1;
	struct collect whole = { 0 }, c = { 0 };

	ck_assert_int_eq(split_stream(stream_mix, len, len, len, 0, &whole), 0);
	ck_assert_uint_eq(whole.count, 15);
	for (size_t k = 0; k <= len; k++) {
		ck_assert_int_eq(split_stream(stream_mix, len, len, k, 0, &c), 0);
		ck_assert_str_eq(c.text, whole.text);
		collect_reset(&c);
	}
	collect_reset(&whole);
}
END_TEST

START_TEST(test_splitter_one_byte_at_a_time_yields_same_values)
{
	size_t len = sizeof(stream_mix) - 1;
	struct collect whole = { 0 }, c = { 0 };

	ck_assert_int_eq(split_stream(stream_mix, len, len, len, 0, &whole), 0);
	for (size_t chunk = 1; chunk < 8; chunk++) {
		ck_assert_int_eq(split_stream(stream_mix, len, chunk, len, 0, &c),
				 0);
		ck_assert_str_eq(c.text, whole.text);
		collect_reset(&c);
	}
	ck_assert_str_eq(whole.text,
			 "{\"a\":1}\n{\"b\":[1,2,{\"c\":\"d\\\"}\"}]}\n[1]\n"
			 "\"str\\u00e9\"\n12\n-3.5e+2\ntrue\nfalse\nnull\n{}\n"
			 "[]\n\"\xf0\x9d\x84\x9e\"\n"
			 "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}\n0\n7\n");
	collect_reset(&whole);
}
END_TEST

START_TEST(test_splitter_delivers_exact_bytes_without_whitespace)
{
	struct collect c = { 0 };
	const char *in = "  {\"a\" : [ 1 , 2 ] }  \n\n  7\t";

	ck_assert_int_eq(split_stream(in, strlen(in), 3, SIZE_MAX, 0, &c), 0);
	ck_assert_str_eq(c.text, "{\"a\" : [ 1 , 2 ] }\n7\n");
	collect_reset(&c);
}
END_TEST

static int split_rc(const char *in)
{
	struct collect c = { 0 };
	int rc = split_stream(in, strlen(in), strlen(in) + 1, SIZE_MAX, 0, &c);

	collect_reset(&c);
	return rc;
}

START_TEST(test_splitter_top_level_scalars_need_a_delimiter)
{
	struct collect c = { 0 };

	ck_assert_int_eq(split_stream("1 2", 3, 3, SIZE_MAX, 0, &c), 0);
	ck_assert_str_eq(c.text, "1\n2\n");
	collect_reset(&c);
	ck_assert_int_eq(split_stream("1[2]true\"x\"", 11, 1, SIZE_MAX, 0, &c), 0);
	ck_assert_str_eq(c.text, "1\n[2]\ntrue\n\"x\"\n");
	collect_reset(&c);
	ck_assert_int_eq(split_rc("1-2"), -EINVAL);
	ck_assert_int_eq(split_rc("0123"), -EINVAL);
	ck_assert_int_eq(split_rc("truefalse"), -EINVAL);
	ck_assert_int_eq(split_rc("1x"), -EINVAL);
	ck_assert_int_eq(split_rc("null1"), -EINVAL);
	ck_assert_int_eq(split_rc("1}"), -EINVAL);
}
END_TEST

START_TEST(test_splitter_scalar_completes_at_finish)
{
	struct collect c = { 0 };
	struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);

	ck_assert_int_eq(json_splitter_feed(sp, "12", 2), 0);
	ck_assert_int_eq(json_splitter_feed(sp, "34", 2), 0);
	ck_assert_uint_eq(c.count, 0);
	ck_assert(!json_splitter_idle(sp));
	ck_assert_int_eq(json_splitter_finish(sp), 0);
	ck_assert_uint_eq(c.count, 1);
	ck_assert_str_eq(c.text, "1234\n");
	ck_assert(json_splitter_idle(sp));
	json_splitter_free(sp);
	collect_reset(&c);
	ck_assert_int_eq(split_rc("true"), 0);
	ck_assert_int_eq(split_rc("-"), -EINVAL);
	ck_assert_int_eq(split_rc("1."), -EINVAL);
	ck_assert_int_eq(split_rc("1e+"), -EINVAL);
	ck_assert_int_eq(split_rc("nul"), -EINVAL);
}
END_TEST

START_TEST(test_splitter_refuses_bytes_that_cannot_start_a_value)
{
	const char *bad[] = { "}", "]", "x", ",", ":", "'a'", "\x01", "\xc3\xa9",
			      "+1", ".5", "\f", "\v", "/" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(split_rc(bad[i]) == -EINVAL, "'%s' accepted",
			      bad[i]);
}
END_TEST

START_TEST(test_splitter_refuses_mismatched_closer)
{
	ck_assert_int_eq(split_rc("[}"), -EINVAL);
	ck_assert_int_eq(split_rc("{]"), -EINVAL);
	ck_assert_int_eq(split_rc("{\"a\":[1}"), -EINVAL);
	ck_assert_int_eq(split_rc("[{\"a\":1]"), -EINVAL);
	ck_assert_int_eq(split_rc("[1]]"), -EINVAL);
}
END_TEST

START_TEST(test_splitter_refuses_control_chars_in_strings)
{
	for (int ch = 0; ch < 0x20; ch++) {
		char in[4] = { '"', (char)ch, '"', 0 };
		struct collect c = { 0 };
		ck_assert_int_eq(split_stream(in, 3, 3, SIZE_MAX, 0, &c), -EINVAL);
		collect_reset(&c);
	}
	ck_assert_int_eq(split_rc("\"\x7f\""), 0);
}
END_TEST

START_TEST(test_splitter_refuses_bad_structure_early)
{
	const char *bad[] = { "{\"a\" 1}", "{\"a\":}", "{a:1}", "[1,]",
			      "{\"a\":1,}", "[1 2]", "{\"a\":1 \"b\":2}", "[,1]",
			      "{,}", "{\"a\"::1}", "[\"a\":1]", "{1:2}",
			      "[01]", "[1.]", "[-]", "[tru]", "[true1]",
			      "[nulll]", "[\"\\x\"]", "[\"\\u12g4\"]" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* refused by the feed, not only at finish */
		struct collect c = { 0 };
		struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);
		ck_assert_msg(json_splitter_feed(sp, bad[i], strlen(bad[i])) ==
				      -EINVAL,
			      "'%s' not refused by the feed", bad[i]);
		json_splitter_free(sp);
		collect_reset(&c);
	}
}
END_TEST

START_TEST(test_splitter_refuses_bad_utf8_and_surrogates)
{
	const char *bad[] = { "\"\xc0\xaf\"", "\"\xe0\x9f\xbf\"",
			      "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
			      "\"\xf5\"", "\"\x80\"", "\"\xc3\"",
			      "\"\\ud800\"", "\"\\udc00\"",
			      "\"\\ud800\\u0041\"", "\"\\ud800\\n\"",
			      "\"\\ud800x\"", "{\"\\u0000\":1}" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		for (size_t k = 0; k <= len; k++) {
			struct collect c = { 0 };
			ck_assert_msg(split_stream(bad[i], len, len, k, 0, &c) ==
					      -EINVAL,
				      "case %zu split at %zu accepted", i, k);
			ck_assert_uint_eq(c.count, 0);
			collect_reset(&c);
		}
	}
	ck_assert_int_eq(split_rc("\"\\ud834\\udd1e\" \"\\u0000\""), 0);
}
END_TEST

START_TEST(test_splitter_error_is_sticky)
{
	struct collect c = { 0 };
	struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);

	ck_assert_int_eq(json_splitter_feed(sp, "{\"a\":1} x {\"b\":2}", 17),
			 -EINVAL);
	/* the value completed before the bad byte was delivered */
	ck_assert_uint_eq(c.count, 1);
	ck_assert_uint_eq(json_splitter_offset(sp), 8);
	ck_assert(!json_splitter_idle(sp));
	ck_assert_int_eq(json_splitter_feed(sp, "{}", 2), -EINVAL);
	ck_assert_int_eq(json_splitter_feed(sp, "", 0), -EINVAL);
	ck_assert_int_eq(json_splitter_finish(sp), -EINVAL);
	ck_assert_uint_eq(c.count, 1);
	json_splitter_free(sp);
	collect_reset(&c);
}
END_TEST

START_TEST(test_splitter_offset_counts_consumed_bytes)
{
	struct collect c = { 0 };
	struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);

	ck_assert_uint_eq(json_splitter_offset(sp), 0);
	ck_assert_int_eq(json_splitter_feed(sp, "{\"a\":", 5), 0);
	ck_assert_uint_eq(json_splitter_offset(sp), 5);
	ck_assert_int_eq(json_splitter_feed(sp, "1}\n", 3), 0);
	ck_assert_uint_eq(json_splitter_offset(sp), 8);
	ck_assert_int_eq(json_splitter_feed(sp, NULL, 0), 0);
	ck_assert_uint_eq(json_splitter_offset(sp), 8);
	ck_assert_int_eq(json_splitter_feed(sp, "[1,}", 4), -EINVAL);
	ck_assert_uint_eq(json_splitter_offset(sp), 11); /* the '}' */
	json_splitter_free(sp);
	collect_reset(&c);
}
END_TEST

START_TEST(test_splitter_efbig_beyond_max_value_bytes)
{
	struct collect c = { 0 };
	struct json_splitter *sp;

	/* exactly the limit is fine, one more is not */
	ck_assert_int_eq(split_stream("[1,2] [1,23]", 12, 12, SIZE_MAX, 5, &c),
			 -EFBIG);
	ck_assert_uint_eq(c.count, 1);
	collect_reset(&c);
	/* across feeds, even before the value completes */
	sp = json_splitter_new(4, collect_fn, &c);
	ck_assert_int_eq(json_splitter_feed(sp, "\"ab", 3), 0);
	ck_assert_int_eq(json_splitter_feed(sp, "cd", 2), -EFBIG);
	ck_assert_uint_eq(json_splitter_offset(sp), 4);
	ck_assert_int_eq(json_splitter_feed(sp, "\"", 1), -EINVAL);
	json_splitter_free(sp);
	collect_reset(&c);
	/* a scalar held until finish */
	sp = json_splitter_new(3, collect_fn, &c);
	ck_assert_int_eq(json_splitter_feed(sp, "12", 2), 0);
	ck_assert_int_eq(json_splitter_feed(sp, "34", 2), -EFBIG);
	json_splitter_free(sp);
	collect_reset(&c);
	/* the limit wins over a syntax error beyond it, however it is cut */
	for (size_t chunk = 1; chunk <= 12; chunk++) {
		ck_assert_int_eq(split_stream("[1,2,3,4,5x]", 12, chunk, SIZE_MAX, 6,
					      &c),
				 -EFBIG);
		collect_reset(&c);
		ck_assert_int_eq(split_stream("[1,x,3,4,5]", 11, chunk, SIZE_MAX, 6,
					      &c),
				 -EINVAL);
		collect_reset(&c);
	}
	/* a delimiter after a scalar of exactly the limit is not part of it */
	ck_assert_int_eq(split_stream("12x", 3, 3, SIZE_MAX, 2, &c), -EINVAL);
	collect_reset(&c);
	/* but a scalar beyond the limit is too big, whatever follows it */
	for (size_t chunk = 1; chunk <= 4; chunk++) {
		ck_assert_int_eq(split_stream("123x", 4, chunk, SIZE_MAX, 2, &c),
				 -EFBIG);
		collect_reset(&c);
	}
	/* many values each under the limit, in one feed */
	ck_assert_int_eq(split_stream("[1] [2] [3] [4]", 15, 15, SIZE_MAX, 3, &c),
			 0);
	ck_assert_uint_eq(c.count, 4);
	collect_reset(&c);
}
END_TEST

START_TEST(test_splitter_finish_with_incomplete_value_is_einval)
{
	const char *inc[] = { "{", "[1,", "{\"a\"", "{\"a\":", "\"abc",
			      "\"\\", "\"\\u12", "\"\xe2\x82", "[true", "tr" };

	for (size_t i = 0; i < sizeof(inc) / sizeof(inc[0]); i++) {
		struct collect c = { 0 };
		struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);
		ck_assert_int_eq(json_splitter_feed(sp, inc[i], strlen(inc[i])), 0);
		ck_assert(!json_splitter_idle(sp));
		ck_assert_msg(json_splitter_finish(sp) == -EINVAL,
			      "'%s' finished", inc[i]);
		ck_assert_int_eq(json_splitter_finish(sp), -EINVAL);
		ck_assert_uint_eq(c.count, 0);
		json_splitter_free(sp);
		collect_reset(&c);
	}
}
END_TEST

START_TEST(test_splitter_callback_error_fails_the_splitter)
{
	struct collect c = { .fail_at = 2 };
	struct json_splitter *sp = json_splitter_new(0, collect_fn, &c);

	ck_assert_int_eq(json_splitter_feed(sp, "[1] [2] [3]", 11), -EIO);
	ck_assert_uint_eq(c.count, 2);
	ck_assert_uint_eq(json_splitter_offset(sp), 4); /* where [2] starts */
	ck_assert_int_eq(json_splitter_feed(sp, "[4]", 3), -EINVAL);
	json_splitter_free(sp);
	collect_reset(&c);
}
END_TEST

START_TEST(test_splitter_parse_errors_surface_through_callback)
{
	struct collect c = { .parse = true };
	const char *in = "{\"a\":1} 99999999999999999999 {\"b\":2}";

	ck_assert_int_eq(split_stream(in, strlen(in), 4, SIZE_MAX, 0, &c),
			 -EINVAL);
	ck_assert_str_eq(c.text, "{\"a\":1}\n");
	collect_reset(&c);
}
END_TEST

START_TEST(test_splitter_depth_limit_matches_parser)
{
	char *s;

	s = nested(2048, "");
	ck_assert_int_eq(split_rc(s), 0);
	free(s);
	s = nested(2047, "1");
	ck_assert_int_eq(split_rc(s), 0);
	free(s);
	s = nested(2049, "");
	ck_assert_int_eq(split_rc(s), -EINVAL);
	free(s);
	s = nested(2048, "{}");
	ck_assert_int_eq(split_rc(s), -EINVAL);
	free(s);
}
END_TEST

START_TEST(test_splitter_many_values_in_one_feed_are_zero_copy_and_linear)
{
	/* 1 MiB of small values in a single feed, then the same fed in
	 * 4097-byte pieces: the same values either way. */
	size_t n = 1 << 20, len = 0;
	char *buf = malloc(n + 64);
	struct collect a = { 0 }, b = { 0 };

	ck_assert_ptr_nonnull(buf);
	for (unsigned i = 0; len < n; i++)
		len += (size_t)sprintf(buf + len, "{\"i\":%u,\"s\":\"x\\n\"}\n", i);
	ck_assert_int_eq(split_stream(buf, len, len, SIZE_MAX, 0, &a), 0);
	ck_assert_int_eq(split_stream(buf, len, 4097, SIZE_MAX, 0, &b), 0);
	ck_assert_uint_eq(a.count, b.count);
	ck_assert(a.len == b.len && memcmp(a.text, b.text, a.len) == 0);
	collect_reset(&a);
	collect_reset(&b);
	free(buf);
}
END_TEST

/* ---- data-driven cases -------------------------------------------------- */

static void run_valid_case(const char *name, const char *in, size_t in_len,
			   const char *out, size_t out_len)
{
	json_t *v = NULL;
	char *text;
	struct collect c = { .parse = true };

	ck_assert_msg(out != NULL, "valid/%s has no output", name);
	ck_assert_msg(json_value_parse(in, in_len, &v) == 0,
		      "valid/%s refused", name);
	text = emit(v);
	ck_assert_msg(strlen(text) == out_len && memcmp(text, out, out_len) == 0,
		      "valid/%s emitted '%s', want '%.*s'", name, text,
		      (int)out_len, out);
	free(text);
	json_decref(v);
	/* the splitter finds the one value, however the input is cut */
	const size_t chunks[] = { 1, 2, 3, 7, 64, in_len + 1 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		size_t chunk = chunks[i];
		ck_assert_msg(split_stream(in, in_len, chunk, SIZE_MAX, 0, &c) == 0,
			      "valid/%s refused by the splitter", name);
		ck_assert_msg(c.count == 1 && c.len == out_len &&
				      memcmp(c.text, out, out_len) == 0,
			      "valid/%s split into '%s'", name, c.text);
		collect_reset(&c);
		c.parse = true;
	}
}

static void run_invalid_case(const char *name, const char *in, size_t in_len,
			     const char *out, size_t out_len)
{
	json_t *v = NULL;
	struct collect c = { .parse = true };

	ck_assert_msg(json_value_parse(in, in_len, &v) == -EINVAL,
		      "invalid/%s accepted", name);
	/* values completed before the error stand ("{}x" delivers {}), but
	 * the stream fails, however it is cut */
	const size_t chunks[] = { 1, 2, 3, 7, 64, in_len + 1 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		ck_assert_msg(split_stream(in, in_len, chunks[i], SIZE_MAX, 0,
					   &c) == -EINVAL,
			      "invalid/%s accepted by the splitter", name);
		collect_reset(&c);
		c.parse = true;
	}
}

static void run_stream_case(const char *name, const char *in, size_t in_len,
			    const char *out, size_t out_len)
{
	struct collect c = { .parse = true };

	ck_assert_msg(out != NULL, "stream/%s has no output", name);
	for (size_t k = 0; k <= in_len; k++) {
		ck_assert_msg(split_stream(in, in_len, in_len, k, 0, &c) == 0,
			      "stream/%s split at %zu refused", name, k);
		ck_assert_msg(c.len == out_len &&
				      (out_len == 0 ||
				       memcmp(c.text, out, out_len) == 0),
			      "stream/%s split at %zu gave '%s'", name, k,
			      c.text ? c.text : "");
		collect_reset(&c);
		c.parse = true;
	}
}

START_TEST(test_data_valid_cases)
{
	ck_assert_int_gt(for_each_case("valid", run_valid_case), 40);
}
END_TEST

START_TEST(test_data_invalid_cases)
{
	ck_assert_int_gt(for_each_case("invalid", run_invalid_case), 60);
}
END_TEST

START_TEST(test_data_stream_cases)
{
	ck_assert_int_gt(for_each_case("stream", run_stream_case), 5);
}
END_TEST

/* ---- UTF-8 ------------------------------------------------------------ */

/* A reference decoder written from the definition: decode, then reject
 * overlongs, surrogates and values above U+10FFFF. */
static bool utf8_reference(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i], n, cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

START_TEST(test_utf8_valid_boundaries)
{
	ck_assert(json_utf8_valid("", 0));
	ck_assert(json_utf8_valid("plain ascii text, long enough for words", 39));
	static const char edges[] = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
				    "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80"
				    "\xf4\x8f\xbf\xbf";
	ck_assert(json_utf8_valid(edges, sizeof(edges) - 1));
	ck_assert(json_utf8_valid("a\0b", 3));
	ck_assert(!json_utf8_valid("\xc0\xaf", 2));
	ck_assert(!json_utf8_valid("\xe0\x80\xaf", 3));
	ck_assert(!json_utf8_valid("\xf0\x80\x80\xaf", 4));
	ck_assert(!json_utf8_valid("\xed\xa0\x80", 3));
	ck_assert(!json_utf8_valid("\xf4\x90\x80\x80", 4));
	ck_assert(!json_utf8_valid("\xf5\x80\x80\x80", 4));
	ck_assert(!json_utf8_valid("\x80", 1));
	ck_assert(!json_utf8_valid("abcdefgh\xe2\x82", 10));
	ck_assert(!json_utf8_valid("\xe2\x82\xac", 2));
}
END_TEST

START_TEST(test_utf8_valid_agrees_with_reference_decoder)
{
	unsigned char b[24];

	/* every 1- and 2-byte sequence */
	for (unsigned x = 0; x < 0x10000; x++) {
		b[0] = (unsigned char)(x >> 8), b[1] = (unsigned char)x;
		ck_assert(json_utf8_valid((char *)b, 1) == utf8_reference(b, 1));
		ck_assert(json_utf8_valid((char *)b, 2) == utf8_reference(b, 2));
	}
	/* 3- and 4-byte sequences over the bytes where the rules change */
	static const unsigned char set[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
					     0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
					     0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
					     0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5,
					     0xff };
	size_t ns = sizeof(set);

	for (size_t i = 0; i < ns; i++)
		for (size_t j = 0; j < ns; j++)
			for (size_t k = 0; k < ns; k++) {
				b[0] = set[i], b[1] = set[j], b[2] = set[k];
				ck_assert(json_utf8_valid((char *)b, 3) ==
					  utf8_reference(b, 3));
				if (set[i] < 0xf0)
					continue;
				for (size_t l = 0; l < ns; l++) {
					b[3] = set[l];
					ck_assert(json_utf8_valid((char *)b, 4) ==
						  utf8_reference(b, 4));
				}
			}
	/* and random mostly-valid strings, longer than the 8-byte fast path */
	for (int t = 0; t < 30000; t++) {
		size_t n = rng() % sizeof(b);
		for (size_t i = 0; i < n; i++)
			b[i] = rng() % 4 ? (unsigned char)(rng() % 0x80)
					 : set[rng() % ns];
		ck_assert(json_utf8_valid((char *)b, n) == utf8_reference(b, n));
	}
}
END_TEST

/* ---- out of memory ---------------------------------------------------- */

START_TEST(test_parse_survives_every_allocation_failure)
{
	const char *in = "{\"a\":[1,2.5,\"str\",{\"b\":null}],\"c\":\"\\u00e9\","
			 "\"d\":{\"e\":{\"f\":[true,false]}}}";
	unsigned long nth;

	for (nth = 1;; nth++) {
		json_t *v = NULL;
		json_alloc_fault_arm(nth, false);
		int rc = json_value_parse(in, strlen(in), &v);
		bool fired = json_alloc_fault_fired();
		json_alloc_fault_arm(0, false);
		if (!fired) {
			ck_assert_int_eq(rc, 0);
			json_decref(v);
			break;
		}
		ck_assert_msg(rc == -ENOMEM || rc == 0, "rc %d at %lu", rc, nth);
		if (rc == 0)
			json_decref(v);
	}
	ck_assert_uint_gt(nth, 5);
}
END_TEST

START_TEST(test_emit_survives_every_allocation_failure)
{
	json_t *v = json_pack("{s:[i,f,s],s:{s:s}}", "a", 1, 0.1, "x", "b", "c",
			      "d");
	char big[1000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(v, "big", json_string(big));
	for (unsigned long nth = 1;; nth++) {
		char *out = NULL;
		size_t len = 0;
		json_alloc_fault_arm(nth, false);
		int rc = json_value_emit(v, &out, &len);
		bool fired = json_alloc_fault_fired();
		json_alloc_fault_arm(0, false);
		if (!fired) {
			ck_assert_int_eq(rc, 0);
			free(out);
			break;
		}
		ck_assert_int_eq(rc, -ENOMEM);
	}
	json_decref(v);
}
END_TEST

START_TEST(test_merge_survives_every_allocation_failure)
{
	json_t *p = parse_ok("{\"a\":{\"b\":{\"c\":1,\"n\":null},\"d\":[1]},"
			     "\"x\":null,\"e\":{\"f\":2},\"g\":3}");
	unsigned long nth;

	for (nth = 1;; nth++) {
		json_t *d = parse_ok("{\"x\":1,\"a\":{\"b\":5},\"g\":{}}");
		json_alloc_fault_arm(nth, false);
		int rc = json_merge_patch(&d, p);
		bool fired = json_alloc_fault_fired();
		json_alloc_fault_arm(0, false);
		/* whatever happened, d is a value that can be emitted */
		char *out = emit(d);
		if (!fired) {
			ck_assert_int_eq(rc, 0);
			ck_assert_str_eq(out, "{\"a\":{\"b\":{\"c\":1},\"d\":[1]},"
					      "\"g\":3,\"e\":{\"f\":2}}\n");
			free(out);
			json_decref(d);
			break;
		}
		ck_assert_int_eq(rc, -ENOMEM);
		free(out);
		json_decref(d);
	}
	ck_assert_uint_gt(nth, 2);
	json_decref(p);
}
END_TEST

START_TEST(test_splitter_survives_every_allocation_failure)
{
	const char *in = "[1,2,3] {\"a\":\"long enough to be held\"} 42";

	for (unsigned long nth = 1;; nth++) {
		struct collect c = { 0 };
		struct json_splitter *sp;
		int rc = 0;

		json_alloc_fault_arm(nth, false);
		sp = json_splitter_new(0, collect_fn, &c);
		if (sp) {
			for (size_t i = 0; i < strlen(in) && !rc; i += 5) {
				size_t n = strlen(in) - i < 5 ? strlen(in) - i : 5;
				rc = json_splitter_feed(sp, in + i, n);
			}
			if (!rc)
				rc = json_splitter_finish(sp);
		}
		bool fired = json_alloc_fault_fired();
		json_alloc_fault_arm(0, false);
		json_splitter_free(sp);
		collect_reset(&c);
		if (!fired) {
			ck_assert_ptr_nonnull(sp);
			ck_assert_int_eq(rc, 0);
			break;
		}
		ck_assert(!sp || rc == -ENOMEM);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *parse = tcase_create("parse");
	TCase *emit_tc = tcase_create("emit");
	TCase *merge = tcase_create("merge");
	TCase *split = tcase_create("splitter");
	TCase *data = tcase_create("data");
	TCase *utf8 = tcase_create("utf8");
	TCase *oom = tcase_create("oom");
	SRunner *sr;
	int failed;

	/* The "oom" cases fail the Nth allocation through this countdown;
	 * disarmed, it passes every allocation on. */
	json_alloc_fault_install();
	tcase_add_test(parse, test_parse_accepts_any_top_level_value);
	tcase_add_test(parse, test_parse_keeps_int64_extremes_exact);
	tcase_add_test(parse, test_parse_keeps_9007199254740993_exact);
	tcase_add_test(parse, test_parse_refuses_int_above_int64);
	tcase_add_test(parse, test_parse_refuses_int_below_int64);
	tcase_add_test(parse, test_parse_accepts_1e308_refuses_1e309);
	tcase_add_test(parse, test_parse_underflow_reads_nearest_double);
	tcase_add_test(parse, test_parse_fraction_or_exponent_makes_real);
	tcase_add_test(parse, test_parse_minus_zero_is_integer_zero);
	tcase_add_test(parse, test_parse_refuses_trailing_garbage);
	tcase_add_test(parse, test_parse_refuses_raw_nul_that_jansson_skips);
	tcase_add_test(parse, test_parse_allows_surrounding_whitespace_only);
	tcase_add_test(parse, test_parse_reads_only_len_bytes);
	tcase_add_test(parse, test_parse_refuses_invalid_utf8);
	tcase_add_test(parse, test_parse_accepts_utf8_boundaries);
	tcase_add_test(parse, test_parse_surrogate_escapes);
	tcase_add_test(parse, test_parse_duplicate_key_last_wins_at_first_position);
	tcase_add_test(parse, test_parse_keeps_insertion_order);
	tcase_add_test(parse, test_parse_nul_kept_in_values_refused_in_keys);
	tcase_add_test(parse, test_parse_depth_limit_is_2048_values);
	tcase_add_test(parse, test_parse_refuses_what_rfc8259_refuses);
	suite_add_tcase(s, parse);

	tcase_add_test(emit_tc, test_emit_keeps_0_1_shortest);
	tcase_add_test(emit_tc, test_emit_real_layout);
	tcase_add_test(emit_tc, test_emit_random_doubles_round_trip_shortest);
	tcase_add_test(emit_tc, test_emit_integers_exact);
	tcase_add_test(emit_tc, test_emit_escapes_per_rfc8259);
	tcase_add_test(emit_tc, test_emit_escapes_keys);
	tcase_add_test(emit_tc, test_emit_is_compact_in_insertion_order);
	tcase_add_test(emit_tc, test_emit_len_matches_emit_on_random_values);
	tcase_add_test(emit_tc, test_emit_ignores_locale_decimal_point);
	tcase_set_timeout(emit_tc, 300);
	suite_add_tcase(s, emit_tc);

	tcase_add_test(merge, test_merge_rfc7386_appendix_a);
	tcase_add_test(merge, test_merge_rfc7386_section_3_example);
	tcase_add_test(merge, test_merge_appends_new_members_keeps_existing_position);
	tcase_add_test(merge, test_merge_null_member_absent_in_doc_is_not_added);
	tcase_add_test(merge, test_merge_object_patch_on_non_object_starts_empty);
	tcase_add_test(merge, test_merge_absent_doc_is_undefined);
	tcase_add_test(merge, test_merge_same_singleton_as_doc_and_patch);
	tcase_add_test(merge, test_merge_result_does_not_alias_patch_objects);
	suite_add_tcase(s, merge);

	tcase_add_test(split, test_splitter_every_split_position_yields_same_values);
	tcase_add_test(split, test_splitter_one_byte_at_a_time_yields_same_values);
	tcase_add_test(split, test_splitter_delivers_exact_bytes_without_whitespace);
	tcase_add_test(split, test_splitter_top_level_scalars_need_a_delimiter);
	tcase_add_test(split, test_splitter_scalar_completes_at_finish);
	tcase_add_test(split, test_splitter_refuses_bytes_that_cannot_start_a_value);
	tcase_add_test(split, test_splitter_refuses_mismatched_closer);
	tcase_add_test(split, test_splitter_refuses_control_chars_in_strings);
	tcase_add_test(split, test_splitter_refuses_bad_structure_early);
	tcase_add_test(split, test_splitter_refuses_bad_utf8_and_surrogates);
	tcase_add_test(split, test_splitter_error_is_sticky);
	tcase_add_test(split, test_splitter_offset_counts_consumed_bytes);
	tcase_add_test(split, test_splitter_efbig_beyond_max_value_bytes);
	tcase_add_test(split, test_splitter_finish_with_incomplete_value_is_einval);
	tcase_add_test(split, test_splitter_callback_error_fails_the_splitter);
	tcase_add_test(split, test_splitter_parse_errors_surface_through_callback);
	tcase_add_test(split, test_splitter_depth_limit_matches_parser);
	tcase_add_test(split,
		       test_splitter_many_values_in_one_feed_are_zero_copy_and_linear);
	tcase_set_timeout(split, 300);
	suite_add_tcase(s, split);

	tcase_add_test(data, test_data_valid_cases);
	tcase_add_test(data, test_data_invalid_cases);
	tcase_add_test(data, test_data_stream_cases);
	tcase_set_timeout(data, 300);
	suite_add_tcase(s, data);

	tcase_add_test(utf8, test_utf8_valid_boundaries);
	tcase_add_test(utf8, test_utf8_valid_agrees_with_reference_decoder);
	tcase_set_timeout(utf8, 300);
	suite_add_tcase(s, utf8);

	tcase_add_test(oom, test_parse_survives_every_allocation_failure);
	tcase_add_test(oom, test_emit_survives_every_allocation_failure);
	tcase_add_test(oom, test_merge_survives_every_allocation_failure);
	tcase_add_test(oom, test_splitter_survives_every_allocation_failure);
	tcase_set_timeout(oom, 300);
	suite_add_tcase(s, oom);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
