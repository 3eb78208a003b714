/*
 * json_internal.h - declarations shared by the files of json/ and by its
 * tests.  Never included outside json/ and tests/.
 */
#ifndef JSON_JSON_INTERNAL_H
#define JSON_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Allocation seam (alloc.c).  Every allocation of the module, jansson's
 * included (the module installs these as jansson's allocator when the
 * program starts), goes through json_malloc/json_free, so that
 * json_value_parse() can tell "out of memory" from "not JSON" (jansson
 * reports both as a failed parse).
 */
void *json_malloc(size_t size);
void *json_realloc(void *p, size_t size);
void json_free(void *p);

/* Clears the calling thread's "an allocation failed" flag. */
void json_alloc_failed_clear(void);
/* True when an allocation of the calling thread failed since the last
 * json_alloc_failed_clear(). */
bool json_alloc_failed(void);

/* Where json_malloc/json_realloc take memory from.  Both must return C
 * library memory (json_free calls free()) or NULL. */
struct json_alloc_ops {
	void *(*malloc)(size_t size);
	void *(*realloc)(void *p, size_t size);
};

/* Tests: take memory from ops from now on; NULL restores the C library.
 * The pointer is borrowed and must stay valid while installed.  Not
 * thread-safe with concurrent allocations: install before starting
 * threads.  The fault countdown the tests install is tests/json_fault.h. */
void json_alloc_set_ops(const struct json_alloc_ops *ops);

/*
 * Shortest round-trip formatting of a finite double (emit.c).  Writes at
 * most JSON_REAL_BUF_LEN - 1 bytes plus a NUL to buf and returns the
 * length.  The text always reads back as a real: it contains '.' or 'e'.
 */
#define JSON_REAL_BUF_LEN 40
size_t json_real_format(double d, char *buf);

/*
 * UTF-8 lead bytes (utf8.c, splitter.c).  For a byte that can start a
 * multi-byte sequence, json_utf8_need[b] is the number of continuation
 * bytes that follow (1..3) and [json_utf8_lo[b], json_utf8_hi[b]] the
 * range allowed for the first of them; later continuation bytes are
 * 0x80..0xBF.  json_utf8_need[b] == 0 for ASCII and for bytes that never
 * start a sequence (continuations, 0xC0, 0xC1, 0xF5..0xFF).
 * This is Unicode 15 table 3-7 ("well-formed UTF-8 byte sequences"): it
 * excludes overlongs, the surrogates U+D800..U+DFFF and code points above
 * U+10FFFF.
 */
extern const uint8_t json_utf8_need[256];
extern const uint8_t json_utf8_lo[256];
extern const uint8_t json_utf8_hi[256];

#endif
