/*
 * json_internal.h - declarations shared by the files of json/ and by its
 * tests.  Never included outside json/ and tests/.
 */
#ifndef JSON_JSON_INTERNAL_H
#define JSON_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/*
 * The single pass of json_value_compact() alone (compact.c): 0, -EINVAL or
 * -ENOMEM exactly as json_value_compact() returns them, or
 * JSON_COMPACT_FALLBACK (nothing allocated) when the text holds what the
 * pass leaves to jansson: a key repeated within one object (or a real,
 * should the process be unable to make the "C" locale its conversion
 * uses).  The tests call it to tell which path a text takes.
 */
#define JSON_COMPACT_FALLBACK 1
int json_compact_fast(const char *buf, size_t len, char **out, size_t *out_len);

/*
 * String scanning (utf8.c's table, splitter.c and compact.c).
 * json_str_plain[b] is 1 for the bytes a string holds as they are with no
 * second look: 0x20..0x7F but '"' and '\\'.
 */
extern const uint8_t json_str_plain[256];

static inline bool json_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* The value of hex digit c, or -1. */
static inline int json_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The bytes of w (loaded little-endian) that need a look in a string:
 * '"', '\\', below 0x20 or non-ASCII, as the high bit of each such byte.
 * The classic SWAR tests ("has a zero byte", "has a byte less than n")
 * can flag a byte above the first match spuriously, but never one below
 * it, so the lowest set bit is always the first byte to look at.
 */
static inline uint64_t json_str_special8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull;
	uint64_t lt = (w - ones * 0x20) & ~w;
	uint64_t q = w ^ (ones * '"');
	uint64_t b = w ^ (ones * '\\');

	q = (q - ones) & ~q;
	b = (b - ones) & ~b;
	return (lt | q | b | w) & 0x8080808080808080ull;
}

/* Index of the first byte of p[0..len) that needs a look in a string, or
 * len when there is none. */
static inline size_t json_str_scan(const unsigned char *p, size_t len)
{
	size_t i = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; len - i >= 8; i += 8) {
		uint64_t w, m;

		memcpy(&w, p + i, 8);
		m = json_str_special8(w);
		if (m)
			return i + (size_t)(__builtin_ctzll(m) >> 3);
	}
#endif
	while (i < len && json_str_plain[p[i]])
		i++;
	return i;
}

/* Length of the valid multi-byte UTF-8 sequence at p (avail bytes there,
 * p[0] a lead byte), 0 when it is invalid or does not fit in avail. */
static inline size_t json_utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned need = json_utf8_need[p[0]];

	if (need == 0 || avail <= need)
		return 0;
	if (p[1] < json_utf8_lo[p[0]] || p[1] > json_utf8_hi[p[0]])
		return 0;
	for (unsigned k = 2; k <= need; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
	}
	return need + 1;
}

#endif
