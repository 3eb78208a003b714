/*
 * utf8.c - UTF-8 validation.
 *
 * Design
 *
 * A byte sequence is valid UTF-8 when it is a concatenation of the
 * well-formed sequences of Unicode 15 table 3-7:
 *
 *   code points          byte 1   byte 2   byte 3   byte 4
 *   U+0000..U+007F       00..7F
 *   U+0080..U+07FF       C2..DF   80..BF
 *   U+0800..U+0FFF       E0       A0..BF   80..BF
 *   U+1000..U+CFFF       E1..EC   80..BF   80..BF
 *   U+D000..U+D7FF       ED       80..9F   80..BF
 *   U+E000..U+FFFF       EE..EF   80..BF   80..BF
 *   U+10000..U+3FFFF     F0       90..BF   80..BF   80..BF
 *   U+40000..U+FFFFF     F1..F3   80..BF   80..BF   80..BF
 *   U+100000..U+10FFFF   F4       80..8F   80..BF   80..BF
 *
 * The restricted second-byte ranges are what exclude overlong forms (C0,
 * C1, E0 80..9F, F0 80..8F), the UTF-16 surrogates (ED A0..BF) and code
 * points above U+10FFFF (F4 90.., F5..FF).  The tables below encode the
 * first column and the second byte's range; the splitter uses them too,
 * one byte at a time, so both agree by construction.  It is the same rule
 * jansson applies when it reads a document (utf8_check_full).
 */
#include "json/json.h"
#include "json/json_internal.h"

#include <string.h>

const uint8_t json_utf8_need[256] = {
	[0xC2 ... 0xDF] = 1,
	[0xE0 ... 0xEF] = 2,
	[0xF0 ... 0xF4] = 3,
};

const uint8_t
	json_utf8_lo[256] = {
		[0xC2 ... 0xDF] = 0x80, [0xE0] = 0xA0,
		[0xE1 ... 0xEF] = 0x80, [0xF0] = 0x90,
		[0xF1 ... 0xF4] = 0x80,
	};

const uint8_t json_utf8_hi[256] = {
	[0xC2 ... 0xEC] = 0xBF,
	[0xED] = 0x9F,
	[0xEE ... 0xF3] = 0xBF,
	[0xF4] = 0x8F,
};

const uint8_t json_str_plain[256] = {
	[0x20 ... 0x21] = 1, /* '"' is 0x22 */
	[0x23 ... 0x5B] = 1, /* '\\' is 0x5C */
	[0x5D ... 0x7F] = 1,
};

bool json_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint64_t w;

		/* ASCII runs eight bytes at a time. */
		if (len - i >= 8) {
			memcpy(&w, p + i, 8);
			if ((w & 0x8080808080808080ull) == 0) {
				i += 8;
				continue;
			}
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		unsigned need = json_utf8_need[c];
		if (need == 0 || len - i - 1 < need)
			return false;
		if (p[i + 1] < json_utf8_lo[c] || p[i + 1] > json_utf8_hi[c])
			return false;
		for (unsigned k = 2; k <= need; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += need + 1;
	}
	return true;
}
