/*
 * check_json_compact.c - json_value_compact() (json/compact.c): the
 * single pass gives byte for byte what json_value_parse() +
 * json_value_emit() give, refuses what json_value_parse() refuses, and
 * takes the jansson path only for a repeated key.
 *
 * Every case checks three things: the expected text (or -EINVAL) written
 * in the test, that jansson's parse + our emit agree with it, and which
 * path it takes (json_compact_fast answers it alone unless a key repeats).
 * The data cases of tests/data/json and random documents are compared
 * with jansson the same way.
 */
#include "json/json.h"
#include "json/json_internal.h"
#include "tests/json_fault.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef JSON_TEST_DATA_DIR
#define JSON_TEST_DATA_DIR "tests/data/json"
#endif

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so failures reproduce. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* jansson's answer: 0 and its text, or the parse error. */
static int reference(const char *in, size_t len, char **out, size_t *out_len)
{
	json_t *v;
	int rc = json_value_parse(in, len, &v);

	if (rc < 0)
		return rc;
	rc = json_value_emit(v, out, out_len);
	json_decref(v);
	return rc;
}

/* in[0..len) compacts as jansson says; want (NULL: refused) is what it
 * must give, fallback whether only the jansson path may answer. */
static void check_n(const char *in, size_t len, const char *want,
		    bool fallback)
{
	char *ref = NULL, *got = NULL, *fast = NULL;
	size_t ref_len = 0, got_len = 0, fast_len = 0;
	int rrc = reference(in, len, &ref, &ref_len);
	int grc = json_value_compact(in, len, &got, &got_len);
	int frc = json_compact_fast(in, len, &fast, &fast_len);

	if (want) {
		size_t wl = strlen(want);

		ck_assert_msg(rrc == 0, "jansson refuses '%.*s'", (int)len,
			      in);
		ck_assert_msg(ref_len == wl + 1 && memcmp(ref, want, wl) == 0 &&
				      ref[wl] == '\n',
			      "jansson gives '%s' for '%.*s', not '%s'", ref,
			      (int)len, in, want);
		ck_assert_msg(grc == 0, "compact refuses '%.*s': %d", (int)len,
			      in, grc);
		ck_assert_msg(got_len == ref_len &&
				      memcmp(got, ref, ref_len) == 0 &&
				      got[got_len] == '\0',
			      "compact gives '%s' for '%.*s', not '%s'", got,
			      (int)len, in, ref);
	} else {
		ck_assert_msg(rrc == -EINVAL, "jansson accepts '%.*s'",
			      (int)len, in);
		ck_assert_msg(grc == -EINVAL, "compact gives %d for '%.*s'",
			      grc, (int)len, in);
	}
	if (fallback) {
		ck_assert_msg(frc == JSON_COMPACT_FALLBACK,
			      "'%.*s' did not take the jansson path", (int)len,
			      in);
	} else {
		ck_assert_msg(frc == grc, "fast path gives %d for '%.*s'", frc,
			      (int)len, in);
		if (frc == 0)
			ck_assert(fast_len == got_len &&
				  memcmp(fast, got, got_len) == 0);
	}
	free(ref);
	free(got);
	free(fast);
}

static void check(const char *in, const char *want)
{
	check_n(in, strlen(in), want, false);
}

/* ---- cases ------------------------------------------------------------ */

START_TEST(test_compact_literals_and_structure)
{
	check("true", "true");
	check("false", "false");
	check("null", "null");
	check("{}", "{}");
	check("[]", "[]");
	check("{\"a\":[1,{\"b\":null}],\"c\":{}}", "{\"a\":[1,{\"b\":null}],\"c\":{}}");
	check("tru", NULL);
	check("truex", NULL);
	check("nul", NULL);
	check("[true false]", NULL);
	check("[1,]", NULL);
	check("[,1]", NULL);
	check("{\"a\":1,}", NULL);
	check("{\"a\" 1}", NULL);
	check("{\"a\":}", NULL);
	check("{1:2}", NULL);
	check("{]", NULL);
	check("[}", NULL);
	check("[1}", NULL);
	check("{\"a\":1]", NULL);
	check("[[]", NULL);
	check("[]]", NULL);
	check("[1 2]", NULL);
	check("[1x]", NULL);
	check("{}{}", NULL);
	check("1 2", NULL);
	check("'a'", NULL);
	check("[NaN]", NULL);
	check("/**/1", NULL);
}
END_TEST

START_TEST(test_compact_whitespace_everywhere)
{
	check(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n"
	      "true \t\r\n] \t\r\n, \"b\" : \"x y\" } \t\r\n",
	      "{\"a\":[1,true],\"b\":\"x y\"}");
	check("  5  ", "5");
	check("[ ]", "[]");
	check("{ }", "{}");
	check("", NULL);
	check("   ", NULL);
	check("\xEF\xBB\xBF{}", NULL); /* a byte-order mark */
	check("\f1", NULL); /* form feed is not whitespace */
	check("1\v", NULL);
}
END_TEST

START_TEST(test_compact_escapes)
{
	check("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
	      "\"\\\" \\\\ / \\b \\f \\n \\r \\t\"");
	check("\"\\u0041\\u0062\"", "\"Ab\"");
	check("\"\\u0022\\u005c\\u005C\\u002F\"", "\"\\\"\\\\\\\\/\"");
	check("\"\\u0008\\u0009\\u000a\\u000C\\u000d\"", "\"\\b\\t\\n\\f\\r\"");
	check("\"\\u0001\\u001F\\u000b\"", "\"\\u0001\\u001f\\u000b\"");
	check("\"\\u007f\"", "\"\x7f\"");
	check("\"\x7f\"", "\"\x7f\"");
	check("\"\\u00e9\\u00E9\"", "\"\xC3\xA9\xC3\xA9\"");
	check("\"\\u0800\\uFFFF\"", "\"\xE0\xA0\x80\xEF\xBF\xBF\"");
	check("\"\\x\"", NULL);
	check("\"\\U0041\"", NULL);
	check("\"\\u004\"", NULL);
	check("\"\\u00G1\"", NULL);
	check("\"\\", NULL);
	check("\"\\u00", NULL);
	check("\"abc", NULL);
	check("\"a\tb\"", NULL); /* a raw control byte */
	check("\"a\nb\"", NULL);
}
END_TEST

START_TEST(test_compact_surrogate_pairs)
{
	check("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\"");
	check("\"\\uD800\\uDC00\"", "\"\xF0\x90\x80\x80\"");
	check("\"\\uDBFF\\uDFFF\"", "\"\xF4\x8F\xBF\xBF\"");
	check("\"\\ud83d\"", NULL); /* lone high */
	check("\"\\ude00\"", NULL); /* lone low */
	check("\"\\ud83dx\"", NULL);
	check("\"\\ud83d\\n\"", NULL);
	check("\"\\ud83d\\u0041\"", NULL); /* high, then not a low */
	check("\"\\ud83d\\ud83d\"", NULL);
	check("\"\\ude00\\ud83d\"", NULL); /* the wrong order */
	check("\"\\ud83d\\ude0\"", NULL);
}
END_TEST

START_TEST(test_compact_nul)
{
	/* "\u0000" is a character of a value, never of a key */
	check("\"a\\u0000b\"", "\"a\\u0000b\"");
	check("{\"k\":[\"\\u0000\"]}", "{\"k\":[\"\\u0000\"]}");
	check("{\"a\\u0000\":1}", NULL);
	check("{\"\\u0000\":1}", NULL);
	/* a raw NUL byte is refused anywhere, "[1\0]" too (which
	 * json_loadb() alone would read as [1]) */
	check_n("[1\0]", 4, NULL, false);
	check_n("1\0", 2, NULL, false);
	check_n("\"a\0b\"", 5, NULL, false);
	check_n("{}\0", 3, NULL, false);
	check_n("\0", 1, NULL, false);
	check_n("[1,\0 2]", 6, NULL, false);
}
END_TEST

START_TEST(test_compact_invalid_utf8)
{
	check("\"\xC3\xA9\"", "\"\xC3\xA9\"");
	check("\"\xF4\x8F\xBF\xBF\"", "\"\xF4\x8F\xBF\xBF\"");
	check("\"\xC3\"", NULL); /* truncated */
	check("\"\xC3", NULL);
	check("\"\xC0\x80\"", NULL); /* overlong NUL */
	check("\"\xE0\x80\xAF\"", NULL); /* overlong */
	check("\"\xED\xA0\x80\"", NULL); /* surrogate */
	check("\"\xF4\x90\x80\x80\"", NULL); /* above U+10FFFF */
	check("\"\xF5\x80\x80\x80\"", NULL);
	check("\"\x80\"", NULL); /* a lone continuation */
	check("\"\xFF\"", NULL);
	check("[\xC3\xA9]", NULL); /* outside a string */
	check("{\"\xE2\x82\xAC\":1}", "{\"\xE2\x82\xAC\":1}");
	check("{\"\xE2\x82\":1}", NULL);
}
END_TEST

START_TEST(test_compact_integers)
{
	check("0", "0");
	check("-0", "0");
	check("[-0,-0]", "[0,0]");
	check("-1", "-1");
	check("9223372036854775807", "9223372036854775807");
	check("-9223372036854775808", "-9223372036854775808");
	check("9223372036854775808", NULL);
	check("-9223372036854775809", NULL);
	check("10000000000000000000", NULL);
	check("99999999999999999999999999", NULL);
	check("9007199254740993", "9007199254740993");
	check("1000000000000000000", "1000000000000000000");
	check("01", NULL);
	check("-01", NULL);
	check("00", NULL);
	check("-", NULL);
	check("+1", NULL);
	check("--1", NULL);
	check("1-2", NULL);
	check("[1-2]", NULL);
}
END_TEST

START_TEST(test_compact_reals)
{
	check("1.0", "1.0");
	check("1e2", "100.0");
	check("1E+2", "100.0");
	check("0.1", "0.1");
	check("0.10000000000000001", "0.1");
	check("-0.0", "-0.0");
	check("-0e0", "-0.0");
	check("1e16", "10000000000000000.0");
	check("1e17", "1e17");
	check("1.5e-7", "1.5e-7");
	check("0.0001", "0.0001");
	check("0.00001", "1e-5");
	check("1e308", "1e308");
	check("1e400", NULL); /* overflows a double */
	check("-1e400", NULL);
	check("1e-400", "0.0"); /* underflows: the nearest double */
	check("-1e-400", "-0.0");
	check("4.9e-324", "5e-324");
	check("1.7976931348623157e308", "1.7976931348623157e308");
	check("[1e16,2]", "[10000000000000000.0,2]");
	check("1.", NULL);
	check("1.e1", NULL);
	check(".5", NULL);
	check("1e", NULL);
	check("1e+", NULL);
	check("1ee1", NULL);
	check("1.5.5", NULL);
	/* a number longer than the stack buffer of the conversion */
	char big[300];
	memset(big, '0', sizeof(big));
	big[0] = '1';
	big[1] = '.';
	big[sizeof(big) - 1] = '\0';
	check(big, "1.0");
	/* reals longer than what they were written as, many of them: the
	 * output buffer grows past the input's length */
	char many[4096] = "[";
	size_t n = 1;
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "1e%d,",
				      i % 17);
	many[n - 1] = ']';
	many[n] = '\0';
	char *ref, *got;
	size_t ref_len, got_len;
	ck_assert_int_eq(reference(many, n, &ref, &ref_len), 0);
	ck_assert_int_eq(json_compact_fast(many, n, &got, &got_len), 0);
	ck_assert_uint_gt(got_len, n + 1);
	ck_assert(got_len == ref_len && memcmp(got, ref, ref_len) == 0);
	free(ref);
	free(got);
}
END_TEST

START_TEST(test_compact_reals_in_a_comma_locale)
{
	/* jansson reads "1.5" as 1.5 whatever LC_NUMERIC says; so does the
	 * single pass (a "C" locale of its own).  Only installed locales
	 * can be tried; without a comma locale this runs in C. */
	const char *names[] = { "de_DE.UTF-8", "fr_FR.UTF-8", "de_DE",
				"C.UTF-8" };
	const char *got = NULL;

	for (size_t i = 0; i < 4 && !got; i++)
		got = setlocale(LC_NUMERIC, names[i]);
	check("[1.5,0.25e1,1e-7]", "[1.5,2.5,1e-7]");
	setlocale(LC_NUMERIC, "C");
}
END_TEST

START_TEST(test_compact_duplicate_keys_take_the_jansson_path)
{
	check_n("{\"a\":1,\"b\":2,\"a\":3}", 19, "{\"a\":3,\"b\":2}", true);
	check_n("{\"a\":{\"x\":1},\"a\":{\"y\":2}}", 25, "{\"a\":{\"y\":2}}",
		true);
	/* the same key written two ways is the same key */
	check_n("{\"A\":1,\"\\u0041\":2}", 18, "{\"A\":2}", true);
	check_n("{\"/\":1,\"\\/\":2}", 14, "{\"/\":2}", true);
	/* a repeated key then invalid bytes: refused all the same */
	check_n("{\"a\":1,\"a\":2x}", 14, NULL, true);
	/* the same key in different objects is no repetition */
	check("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}",
	      "{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}");
	check("[{\"a\":1},{\"a\":2}]", "[{\"a\":1},{\"a\":2}]");
	check("{\"x\":[{\"a\":1}],\"a\":2}", "{\"x\":[{\"a\":1}],\"a\":2}");
	check("{\"a\":1,\"A\":2,\"a \":3}", "{\"a\":1,\"A\":2,\"a \":3}");

	/* an object of many keys (the key set grows), then one repeated */
	char buf[40000];
	size_t n = 0;
	buf[n++] = '{';
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"k%d\":%d,",
				      i, i);
	buf[n - 1] = '}';
	buf[n] = '\0';
	char *ref, *got;
	size_t ref_len, got_len;
	ck_assert_int_eq(reference(buf, n, &ref, &ref_len), 0);
	ck_assert_int_eq(json_compact_fast(buf, n, &got, &got_len), 0);
	ck_assert(got_len == ref_len && memcmp(got, ref, ref_len) == 0);
	free(ref);
	free(got);
	/* the same object with "k1234" again at the end */
	n += (size_t)snprintf(buf + n - 1, sizeof(buf) - n + 1, ",\"k1234\":0}");
	n--;
	ck_assert_int_eq(reference(buf, n, &ref, &ref_len), 0);
	ck_assert(strstr(ref, ",\"k1234\":0,\"k1235\":1235,") != NULL);
	ck_assert_int_eq(json_compact_fast(buf, n, &got, &got_len),
			 JSON_COMPACT_FALLBACK);
	ck_assert_int_eq(json_value_compact(buf, n, &got, &got_len), 0);
	ck_assert(got_len == ref_len && memcmp(got, ref, ref_len) == 0);
	free(ref);
	free(got);
}
END_TEST

/* depth levels of arrays around inner, e.g. "[[[1]]]" */
static char *nested(unsigned depth, const char *inner)
{
	size_t il = strlen(inner);
	char *s = malloc(2 * depth + il + 1);

	ck_assert(s);
	memset(s, '[', depth);
	memcpy(s + depth, inner, il);
	memset(s + depth + il, ']', depth);
	s[2 * depth + il] = '\0';
	return s;
}

START_TEST(test_compact_depth_limit_is_2048_values)
{
	char *s;

	s = nested(2048, ""); /* 2048 arrays, the innermost empty */
	check(s, s);
	free(s);
	s = nested(2047, "1"); /* a scalar at depth 2048 */
	check(s, s);
	free(s);
	s = nested(2048, "1"); /* a scalar at depth 2049 */
	check(s, NULL);
	free(s);
	s = nested(2049, ""); /* 2049 arrays */
	check(s, NULL);
	free(s);
	s = nested(2047, "{}");
	check(s, s);
	free(s);
	s = nested(2047, "{\"a\":1}"); /* a member at depth 2049 */
	check(s, NULL);
	free(s);
	/* objects all the way down: the enclosing objects' keys come back */
	char *o = malloc(6 * 2048 + 16);
	size_t n = 0;
	for (int i = 0; i < 2047; i++) {
		memcpy(o + n, "{\"a\":", 5);
		n += 5;
	}
	o[n++] = '1';
	memset(o + n, '}', 2047);
	n += 2047;
	o[n] = '\0';
	check(o, o);
	free(o);
}
END_TEST

/* ---- the data cases and random documents ------------------------------- */

static const char *data_dir(void)
{
	const char *d = getenv("JSON_TEST_DATA_DIR");

	return d ? d : JSON_TEST_DATA_DIR;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Every input of tests/data/json/KIND: the same answer as jansson. */
static int data_cases(const char *kind)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir(), kind);
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open '%s'", path);
	while ((de = readdir(d))) {
		char *in, *ref = NULL, *got = NULL;
		size_t in_len = 0, ref_len = 0, got_len = 0;
		int rrc, grc;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s/input", data_dir(), kind,
			 de->d_name);
		in = read_file(path, &in_len);
		ck_assert_msg(in != NULL, "cannot read '%s'", path);
		rrc = reference(in, in_len, &ref, &ref_len);
		grc = json_value_compact(in, in_len, &got, &got_len);
		ck_assert_msg(grc == rrc, "%s/%s: %d, jansson %d", kind,
			      de->d_name, grc, rrc);
		if (rrc == 0)
			ck_assert_msg(got_len == ref_len &&
					      memcmp(got, ref, ref_len) == 0,
				      "%s/%s: '%s', jansson '%s'", kind,
				      de->d_name, got, ref);
		free(in);
		free(ref);
		free(got);
		n++;
	}
	closedir(d);
	return n;
}

START_TEST(test_compact_data_cases_agree_with_jansson)
{
	ck_assert_int_gt(data_cases("valid"), 40);
	ck_assert_int_gt(data_cases("invalid"), 60);
}
END_TEST

struct gen {
	char *buf;
	size_t len, cap;
};

static void gen_put(struct gen *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->buf = realloc(g->buf, g->cap);
		ck_assert(g->buf);
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
	g->buf[g->len] = '\0';
}

static void gen_s(struct gen *g, const char *s)
{
	gen_put(g, s, strlen(s));
}

static void gen_ws(struct gen *g)
{
	static const char *ws[] = { "", "", "", " ", "\n", "\t", "\r\n  " };

	gen_s(g, ws[rng() % 7]);
}

/* Pieces of strings: plain, escapes of every kind, UTF-8, and now and
 * then something invalid. */
static void gen_string(struct gen *g, bool key)
{
	static const char *pieces[] = {
		"a", "key", "x y", "\\\"", "\\\\", "\\/", "\\b", "\\f",
		"\\n", "\\r", "\\t", "\\u0041", "\\u00e9", "\\u001f",
		"\\u0000", "\\u005C", "\\u0022", "\\uD83D\\uDE00", "\xC3\xA9",
		"\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\x7f", "/", "0123456789",
		"\\uDE00", "\xC3", "\\q", "\x01",
	};
	unsigned n = (unsigned)(rng() % 5);
	size_t np = sizeof(pieces) / sizeof(pieces[0]);

	gen_s(g, "\"");
	for (unsigned i = 0; i < n; i++) {
		/* the last three pieces are invalid: rarely */
		size_t k = rng() % (rng() % 50 ? np - 3 : np);

		if (key && k == 14 && rng() % 4)
			k = 0; /* \u0000 in a key, sometimes */
		gen_s(g, pieces[k]);
	}
	gen_s(g, "\"");
}

static void gen_number(struct gen *g)
{
	static const char *nums[] = {
		"0", "-0", "1", "-1", "42", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "1.5", "-0.0",
		"1e2", "1E-7", "0.1", "1e16", "1e17", "1e400", "1e-400",
		"123.456e3", "5e-324", "2.2250738585072014e-308", "01", "1.",
	};
	size_t n = sizeof(nums) / sizeof(nums[0]);

	gen_s(g, nums[rng() % (rng() % 50 ? n - 2 : n)]);
}

static void gen_value(struct gen *g, unsigned depth)
{
	unsigned k = (unsigned)(rng() % (depth > 6 ? 4 : 6));
	unsigned n, i;

	gen_ws(g);
	switch (k) {
	case 0:
		gen_string(g, false);
		break;
	case 1:
		gen_number(g);
		break;
	case 2: {
		static const char *lits[] = { "true", "false", "null" };
		gen_s(g, lits[rng() % 3]);
		break;
	}
	case 3:
		gen_number(g);
		break;
	case 4:
		n = (unsigned)(rng() % 5);
		gen_s(g, "[");
		for (i = 0; i < n; i++) {
			if (i)
				gen_s(g, ",");
			gen_value(g, depth + 1);
		}
		gen_ws(g);
		gen_s(g, "]");
		break;
	default:
		n = (unsigned)(rng() % 5);
		gen_s(g, "{");
		for (i = 0; i < n; i++) {
			if (i)
				gen_s(g, ",");
			gen_ws(g);
			/* few distinct keys: repeated ones now and then */
			if (rng() % 3)
				gen_string(g, true);
			else
				gen_s(g, rng() % 2 ? "\"a\"" : "\"b\"");
			gen_ws(g);
			gen_s(g, ":");
			gen_value(g, depth + 1);
		}
		gen_ws(g);
		gen_s(g, "}");
		break;
	}
	gen_ws(g);
}

START_TEST(test_compact_random_documents_agree_with_jansson)
{
	struct gen g = { 0 };
	unsigned fast = 0, fallback = 0, refused = 0;

	for (int t = 0; t < 20000; t++) {
		char *ref = NULL, *got = NULL;
		size_t ref_len = 0, got_len = 0;
		int rrc, grc, frc;

		g.len = 0;
		gen_value(&g, 0);
		/* now and then a byte changed anywhere */
		if (g.len && rng() % 10 == 0)
			g.buf[rng() % g.len] = (char)(rng() % 256);
		rrc = reference(g.buf, g.len, &ref, &ref_len);
		grc = json_value_compact(g.buf, g.len, &got, &got_len);
		ck_assert_msg(grc == rrc, "'%s': %d, jansson %d", g.buf, grc,
			      rrc);
		if (rrc == 0)
			ck_assert_msg(got_len == ref_len &&
					      memcmp(got, ref, ref_len) == 0,
				      "'%s': '%s', jansson '%s'", g.buf, got,
				      ref);
		free(got);
		frc = json_compact_fast(g.buf, g.len, &got, &got_len);
		if (frc == JSON_COMPACT_FALLBACK) {
			fallback++;
		} else {
			ck_assert_int_eq(frc, rrc);
			if (frc == 0) {
				fast++;
				free(got);
			} else {
				refused++;
			}
		}
		free(ref);
	}
	free(g.buf);
	/* the generator reaches every path */
	ck_assert_uint_gt(fast, 5000);
	ck_assert_uint_gt(fallback, 100);
	ck_assert_uint_gt(refused, 1000);
}
END_TEST

START_TEST(test_compact_survives_every_allocation_failure)
{
	/* reals that grow, many keys (the key set grows), a nested object
	 * (the stack of enclosing objects), a repeated key at the end (the
	 * jansson path) */
	char in[4096];
	size_t n = 0;
	unsigned long nth;

	n += (size_t)snprintf(in + n, sizeof(in) - n, "{\"r\":[");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "1e16,");
	n += (size_t)snprintf(in + n, sizeof(in) - n, "1],\"o\":{\"p\":{}}");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, ",\"k%d\":%d", i,
				      i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, ",\"r\":0}");

	for (nth = 1;; nth++) {
		char *out = NULL;
		size_t len = 0;
		json_alloc_fault_arm(nth, false);
		int rc = json_value_compact(in, n, &out, &len);
		bool fired = json_alloc_fault_fired();
		json_alloc_fault_arm(0, false);
		if (!fired) {
			ck_assert_int_eq(rc, 0);
			free(out);
			break;
		}
		ck_assert_msg(rc == -ENOMEM || rc == 0, "rc %d at %lu", rc, nth);
		free(out);
	}
	ck_assert_uint_gt(nth, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json_compact");
	TCase *tc = tcase_create("compact");
	SRunner *sr;
	int failed;

	json_alloc_fault_install();
	tcase_add_test(tc, test_compact_literals_and_structure);
	tcase_add_test(tc, test_compact_whitespace_everywhere);
	tcase_add_test(tc, test_compact_escapes);
	tcase_add_test(tc, test_compact_surrogate_pairs);
	tcase_add_test(tc, test_compact_nul);
	tcase_add_test(tc, test_compact_invalid_utf8);
	tcase_add_test(tc, test_compact_integers);
	tcase_add_test(tc, test_compact_reals);
	tcase_add_test(tc, test_compact_reals_in_a_comma_locale);
	tcase_add_test(tc, test_compact_duplicate_keys_take_the_jansson_path);
	tcase_add_test(tc, test_compact_depth_limit_is_2048_values);
	tcase_add_test(tc, test_compact_data_cases_agree_with_jansson);
	tcase_add_test(tc, test_compact_random_documents_agree_with_jansson);
	tcase_add_test(tc, test_compact_survives_every_allocation_failure);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
