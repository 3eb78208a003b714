/*
 * parse.c - one JSON text to a jansson value, with caravanfs' rules.
 *
 * Design
 *
 * jansson's decoder does the work; this file fixes its flags and maps its
 * failures to errno values.  json_loadb() is called with:
 *
 *   JSON_DECODE_ANY   any value may be a document (SPEC 4, RFC 7386: a
 *                     patch that is not an object replaces the document);
 *   JSON_ALLOW_NUL    "\u0000" is a valid character of a string value, kept
 *                     and written back as "\u0000";
 *
 * and without JSON_REJECT_DUPLICATES (a repeated key: the last value wins,
 * at the first occurrence's position, which is what jansson's hashtable
 * does when a key is set again), without JSON_DECODE_INT_AS_REAL (integers
 * stay integers) and without JSON_DISABLE_EOF_CHECK (trailing bytes other
 * than whitespace are refused).
 *
 * What jansson refuses, and so do we (-EINVAL):
 *   - integers outside [-2^63, 2^63-1] ("too big integer"): never rounded;
 *   - reals whose magnitude overflows a double ("real number overflow");
 *     a real that underflows reads as the nearest double (0.0 or a
 *     subnormal), like any other rounding to binary64;
 *   - invalid UTF-8 anywhere in the text (overlongs, surrogates, code
 *     points above U+10FFFF, truncated sequences), and "\u" escapes that
 *     are lone or mismatched surrogates;
 *   - a "\u0000" inside an object key (jansson keeps keys as C strings);
 *   - nesting deeper than JSON_PARSER_MAX_DEPTH (2048) values;
 *   - anything RFC 8259 does not allow (comments, NaN, leading zeros,
 *     single quotes, control characters in strings, a byte-order mark).
 *
 * A raw NUL byte is refused before jansson sees the text.  JSON never
 * allows one (inside a string it must be written "\u0000"), but jansson's
 * reader uses NUL as its "buffer empty" mark, so a NUL right after a
 * number, which the lexer reads ahead and puts back, is silently dropped:
 * json_loadb() accepts "[1\0]" as [1] (jansson 2.14, found by
 * tests/fuzz/fuzz_json_value.c).
 *
 * A number with a fraction or an exponent is a real even when integral
 * ("1.0", "1e2"); one without is an integer ("-0" is the integer 0).
 *
 * Out of memory: jansson returns NULL for an allocation failure too, with
 * whatever message the next check produced.  The module's allocator
 * (alloc.c) records failures per thread; a failed parse during which an
 * allocation failed is -ENOMEM, otherwise -EINVAL.
 */
#include "json/json.h"
#include "json/json_internal.h"

#include <errno.h>
#include <string.h>

#define JSON_PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

int json_value_parse(const char *buf, size_t len, json_t **out)
{
	json_error_t error;
	json_t *v;

	if (memchr(buf, '\0', len))
		return -EINVAL;
	json_alloc_failed_clear();
	v = json_loadb(buf, len, JSON_PARSE_FLAGS, &error);
	if (!v) {
		if (json_alloc_failed() ||
		    json_error_code(&error) == json_error_out_of_memory)
			return -ENOMEM;
		return -EINVAL;
	}
	*out = v;
	return 0;
}
