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
 * Ownership: functions named *_new return a new reference the caller
 * releases with json_decref(); arguments are borrowed unless a comment
 * says "steals".
 */
#ifndef JSON_JSON_H
#define JSON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Parse exactly one JSON value from buf[0..len) (surrounding whitespace
 * allowed, nothing else).  On success *out is a new reference.
 * Returns 0, -EINVAL (not JSON, bad number, bad UTF-8, trailing bytes) or
 * -ENOMEM. */
int json_value_parse(const char *buf, size_t len, json_t **out);

/* Serialize compactly (no spaces) followed by one '\n'.  *out is malloc'd,
 * NUL-terminated for convenience, *len excludes the NUL.  Returns 0 or
 * -ENOMEM. */
int json_value_emit(const json_t *v, char **out, size_t *len);

/* Length json_value_emit would produce, without allocating the text.
 * Returns the byte count (including the trailing newline). */
size_t json_value_emit_len(const json_t *v);

/* RFC 7386: apply patch to *doc.  *doc is replaced (old reference released,
 * new one stored) when the patch is not an object or the document is not an
 * object.  The patch is borrowed.  Returns 0 or -ENOMEM. */
int json_merge_patch(json_t **doc, const json_t *patch);

/*
 * Streaming splitter: finds the boundaries of successive JSON values in a
 * byte stream that arrives in arbitrary pieces (NDJSON, pretty-printed,
 * one byte per write).  It does not build values; each complete value's
 * bytes are handed to the callback, which typically parses them with
 * json_value_parse().
 *
 * json_splitter_feed() returns 0, or -EINVAL when the bytes cannot be the
 * start or continuation of a JSON value (the splitter is then failed and
 * every later call returns -EINVAL), -EFBIG when one value exceeds
 * max_value_bytes, or the first negative value returned by the callback
 * (which also fails the splitter).  Values completed in this call before
 * the error were already delivered.
 *
 * A top-level number/true/false/null is complete when a delimiter follows
 * it or at json_splitter_finish().  json_splitter_finish() returns 0 when
 * the stream ends between values, -EINVAL when a value is incomplete.
 */
struct json_splitter;
typedef int (*json_value_fn)(void *arg, const char *buf, size_t len);

/* Returns NULL on allocation failure.  Free with json_splitter_free(). */
struct json_splitter *json_splitter_new(size_t max_value_bytes,
					json_value_fn fn, void *arg);
int json_splitter_feed(struct json_splitter *sp, const char *buf, size_t len);
int json_splitter_finish(struct json_splitter *sp);
/* Bytes consumed so far (the handle's logical write position). */
size_t json_splitter_offset(const struct json_splitter *sp);
/* True when the splitter sits between values (no partial value held). */
bool json_splitter_idle(const struct json_splitter *sp);
void json_splitter_free(struct json_splitter *sp);

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF). */
bool json_utf8_valid(const char *buf, size_t len);

#endif
