/*
 * crc.c - continuing a CRC-32C over bytes whose own CRC-32C is known,
 * without reading them (wal_crc_skip, wal.h).
 *
 * Why: an Append record carries the CRC-32C of its bytes, and its frame's
 * CRC covers the same bytes again.  wal_append_spans (log.c) takes the
 * first from the caller and continues the frame's over those bytes with
 * it, so an append runs one CRC pass over its payload, not two.  What
 * lands on disk is the same frame, to the bit; replay checks every frame
 * by reading it all (file.c), as before.
 *
 * The algebra: CRC-32C is linear.  For a running CRC c (crc32c_extend's
 * convention: pre- and post-inverted) and bytes B of length n,
 *   crc32c_extend(c, B) = (c * x^(8n) mod P) ^ crc32c(B)
 * in the reflected representation (bit 31 of a value is x^0).  Only the
 * shift c * x^(8n) mod P needs work:
 *   - software: x^(8n) is the product of table entries, one per nonzero
 *     byte of n (S[j][b] = x^(8 b 256^j)), each multiplication a loop of
 *     up to 32 steps (zlib's multmodp);
 *   - x86-64 with PCLMULQDQ and SSE4.2: a carry-less multiply, then the
 *     crc32 instruction reduces the 64-bit product mod P, which also
 *     multiplies it by x^32; so the tables hold x^(e - 32) (T[j][b] = S[j]
 *     [b] * x^-32), whose products stay in that form:
 *     hw_mul(x^(a-32), x^(b-32)) = x^(a+b-32), hw_mul(c, x^(e-32)) =
 *     c x^e.  For n < 256, one table load and one multiply; one more
 *     per further nonzero byte of n.
 * tests/check_wal.c compares both against crc32c_extend over random
 * bytes of every length up to 4 KiB and larger ones.
 */
#include "wal/wal.h"

#include <pthread.h>
#include <stdbool.h>

#define POLY 0x82F63B78u
#define X0 0x80000000u /* x^0 */
#define XINV32 0xD610D67Eu /* x^-32 mod P: XINV32 * x^32 = 1 */

#define NB 8 /* bytes of a length */

static uint32_t S[NB][256], T[NB][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool have_hw;

/* a * b mod P, reflected (zlib's multmodp); a != 0 (here always a power
 * of x). */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = X0, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* a * k * x^32 mod P: carry-less product (63 bits, bit i is x^(62-i)),
 * one to the left to make it a 64-bit reflected value, reduced by the
 * crc32 instruction. */
__attribute__((target("pclmul,sse4.2"))) static inline uint32_t
hw_mul(uint32_t a, uint32_t k)
{
	__m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a),
					 _mm_cvtsi32_si128((int)k), 0x00);
	uint64_t v = (uint64_t)_mm_cvtsi128_si64(p) << 1;

	return (uint32_t)_mm_crc32_u64(0, v);
}

__attribute__((target("pclmul,sse4.2"))) static uint32_t hw_shift(uint32_t c,
								  uint64_t n)
{
	uint32_t k = 0;
	bool first = true;

	for (int j = 0; j < NB && n; j++, n >>= 8) {
		uint32_t b = (uint32_t)(n & 0xff);

		if (!b)
			continue;
		k = first ? T[j][b] : hw_mul(k, T[j][b]);
		first = false;
	}
	return first ? c : hw_mul(c, k);
}

static bool cpu_has_hw(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("pclmul") &&
	       __builtin_cpu_supports("sse4.2");
}
#else
static bool cpu_has_hw(void)
{
	return false;
}

static uint32_t hw_shift(uint32_t c, uint64_t n)
{
	(void)n;
	return c;
}
#endif

static void tables_build(void)
{
	uint32_t x8 = X0 >> 8; /* x^8 */

	for (int j = 0; j < NB; j++) {
		S[j][0] = X0;
		S[j][1] = x8;
		for (int b = 2; b < 256; b++)
			S[j][b] = multmodp(S[j][b - 1], x8);
		x8 = multmodp(S[j][255], x8); /* x^(8 * 256^(j+1)) */
	}
	for (int j = 0; j < NB; j++)
		for (int b = 0; b < 256; b++)
			T[j][b] = multmodp(S[j][b], XINV32);
	have_hw = cpu_has_hw();
}

static uint32_t sw_shift(uint32_t c, uint64_t n)
{
	for (int j = 0; j < NB && n; j++, n >>= 8)
		if (n & 0xff)
			c = multmodp(S[j][n & 0xff], c);
	return c;
}

uint32_t wal_crc_skip_sw(uint32_t crc, uint32_t b_crc, uint64_t len)
{
	pthread_once(&once, tables_build);
	return sw_shift(crc, len) ^ b_crc;
}

uint32_t wal_crc_skip(uint32_t crc, uint32_t b_crc, uint64_t len)
{
	pthread_once(&once, tables_build);
	return (have_hw ? hw_shift(crc, len) : sw_shift(crc, len)) ^ b_crc;
}
