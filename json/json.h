/*
 * json.h - JSON values as caravanfs stores them, over jansson's json_t.
 *
 * jansson parses; everything else that decides what a user sees is ours:
 *
 *   - Numbers (SPEC 4): an integer in the signed 64-bit range is kept as a
 *     jansson integer and printed exactly; any other number is a real,
 *     printed in the shortest form that parses back to the same double
 *     (0.1 prints "0.1"), with ".0" added when that form looks like an
 *     integer so the value stays a real.  An integer outside 64 bits, or
 *     a number that overflows a double, is refused (-EINVAL).
 *   - Strings must be valid UTF-8 (-EINVAL otherwise).
 *   - Objects keep first-insertion order; a key repeated within one value:
 *     the last one wins, at the first one's position.
 *   - Merge patches follow RFC 7386; new members go to the end.
 *
 * Numbers in detail (the text a reader of a document sees):
 *   - A number without fraction or exponent is an integer: "-0" reads
 *     back "0", "9007199254740993" reads back "9007199254740993".
 *   - A number with a fraction or an exponent is a real, even when
 *     integral: "1.0" reads back "1.0", "1e2" reads back "100.0".
 *   - A real prints with the fewest significant digits (1..17) that read
 *     back as the same double; positionally when its decimal exponent x
 *     is in -4 <= x < 17 (0.0001, 123.456, 10000000000000000.0), else as
 *     d.ddde<x> without '+' or leading zeros (1e-5, 1.5e17, 5e-324).
 *     "-0.0" stays "-0.0".  Always '.' as the decimal point, whatever the
 *     locale.
 *   - A real that underflows ("1e-400") reads as the nearest double
 *     ("0.0"), like any rounding to a double; one that overflows
 *     ("1e309") is refused.
 *
 * Other limits, those of jansson: at most 2048 nested values (a scalar
 * inside 2048 arrays is one too many), and no "\u0000" inside an object
 * key ("\u0000" inside a string value is fine).  A byte-order mark is not
 * whitespace.
 *
 * Ownership: functions named *_new return a new reference the caller
 * releases with json_decref(); arguments are borrowed unless a comment
 * says "steals".
 *
 * Memory: the module installs its allocator as jansson's (before main(),
 * plain malloc/free underneath) to tell an allocation failure from bad
 * input; do not replace jansson's allocator elsewhere.
 */
#ifndef JSON_JSON_H
#define JSON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Parse exactly one JSON value from buf[0..len) (surrounding whitespace
 * allowed, nothing else; buf needs no NUL).  On success *out is a new
 * reference.  Returns 0, -EINVAL (not JSON, bad number, bad UTF-8,
 * trailing bytes) or -ENOMEM. */
int json_value_parse(const char *buf, size_t len, json_t **out);

/* Serialize compactly (no spaces) followed by one '\n'.  *out is malloc'd
 * (release with free()), NUL-terminated for convenience, *len excludes the
 * NUL.  A string's NUL characters are written as "\u0000", so the text
 * holds no NUL byte.  Returns 0 or -ENOMEM (nothing to free then). */
int json_value_emit(const json_t *v, char **out, size_t *len);

/* json_value_emit()'s text of the value json_value_parse() reads from
 * buf[0..len), without building the value (compact.c): the same bytes
 * (compact, one '\n', NUL-terminated, *len without the NUL; release
 * with free()) and the same errors (-EINVAL, -ENOMEM) as the two calls.
 * A text with a key repeated within one object is parsed and emitted. */
int json_value_compact(const char *buf, size_t len, char **out,
		       size_t *out_len);

/* Length json_value_emit would produce, without allocating the text.
 * Returns the byte count (including the trailing newline). */
size_t json_value_emit_len(const json_t *v);

/* RFC 7386: apply patch to *doc.  *doc is replaced (old reference released,
 * new one stored) when the patch is not an object or the document is not an
 * object; a NULL *doc is an absent document.  Otherwise the object *doc
 * is modified in place: copy it first (json_deep_copy) if anyone else
 * holds it.  The patch is borrowed and never modified; its arrays and
 * scalars may end up shared with *doc (reference-counted), its objects
 * never.  patch must not be *doc or part of it.  Returns 0 or -ENOMEM
 * (then *doc is a valid value holding part of the patch: drop it). */
int json_merge_patch(json_t **doc, const json_t *patch);

/*
 * Streaming splitter: finds the boundaries of successive JSON values in a
 * byte stream that arrives in arbitrary pieces (NDJSON, pretty-printed,
 * one byte per write).  It does not build values; each complete value's
 * bytes are handed to the callback, which typically parses them with
 * json_value_parse().
 *
 * It checks the full JSON syntax byte by byte (jansson's: structure,
 * strings, escapes, surrogate pairs, UTF-8, number and literal syntax,
 * nesting depth), so a feed fails at the byte that makes the stream
 * invalid.  Only numeric ranges (integer beyond 64 bits, real beyond a
 * double) are left to json_value_parse() in the callback.
 *
 * json_splitter_feed() returns 0, or -EINVAL when the bytes cannot be the
 * start or continuation of a JSON value (the splitter is then failed and
 * every later call returns -EINVAL), -EFBIG when one value exceeds
 * max_value_bytes, -ENOMEM, or the first negative value returned by the
 * callback (which also fails the splitter).  Values completed in this call
 * before the error were already delivered.
 *
 * Values may follow each other with or without whitespace in between:
 * {"a":1}{"b":2} is two values.  A top-level number/true/false/null is
 * complete when a delimiter follows it (whitespace, or the '{', '[' or '"'
 * of the next value: "1 2" and "1[2]" are two values each, while "1-2",
 * "0123", "truefalse" are -EINVAL) or at json_splitter_finish().
 * json_splitter_finish() returns 0 when the stream ends between values,
 * -EINVAL when a value is incomplete; it may deliver a final top-level
 * number or literal (and return the callback's error).
 *
 * The callback gets the value's exact bytes, without surrounding
 * whitespace; buf is valid only during the call (it points into the
 * caller's feed buffer or the splitter's own).  The callback must not
 * call back into the same splitter.  Memory held: only the bytes of the
 * value in progress, never more than max_value_bytes (0: no limit).
 */
struct json_splitter;
typedef int (*json_value_fn)(void *arg, const char *buf, size_t len);

/* Returns NULL on allocation failure.  Free with json_splitter_free(). */
struct json_splitter *json_splitter_new(size_t max_value_bytes,
					json_value_fn fn, void *arg);
int json_splitter_feed(struct json_splitter *sp, const char *buf, size_t len);
int json_splitter_finish(struct json_splitter *sp);
/* Bytes consumed so far (the handle's logical write position).  After a
 * failure: the stream position of the error (the offending byte for
 * -EINVAL, the first byte beyond the limit for -EFBIG, the start of the
 * refused value for a callback error). */
size_t json_splitter_offset(const struct json_splitter *sp);
/* Bytes of memory the splitter holds for values in progress (a buffer
 * of at most 64 KiB may stay allocated between values). */
size_t json_splitter_held(const struct json_splitter *sp);
/* True when the splitter sits between values (no partial value held);
 * false once it has failed. */
bool json_splitter_idle(const struct json_splitter *sp);
/* Accepts NULL. */
void json_splitter_free(struct json_splitter *sp);

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF). */
bool json_utf8_valid(const char *buf, size_t len);

#endif
