/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every record and file.
 *
 * crc32c_extend(crc, buf, len) continues a running checksum; start with 0.
 * crc32c(buf, len) == crc32c_extend(0, buf, len).  Uses the SSE4.2 crc32
 * instruction when the CPU has it, a table otherwise; both give the same
 * result (tests/check_util.c compares them on random input).
 */
#ifndef UTIL_CRC32C_H
#define UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_extend_sw(uint32_t crc, const void *buf, size_t len);

static inline uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_extend(0, buf, len);
}

#endif
