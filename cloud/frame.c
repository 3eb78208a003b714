/*
 * frame.c - total length and CRC-32C trailer of our binary cloud objects
 * (see frame.h).
 */
#include "config.h"

#include "cloud/frame.h"

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/name.h"

#include <errno.h>

int frame_seal(struct cbuf *b, void **out, size_t *len)
{
	uint8_t crc[FRAME_CRC_LEN];
	uint8_t *p = (uint8_t *)b->p;

	if (cbuf_failed(b) || b->len < FRAME_MIN_HDR)
		return cbuf_failed(b) ? -ENOMEM : -EINVAL;
	le64_put(p + FRAME_OFF_TOTAL, (uint64_t)b->len + FRAME_CRC_LEN);
	le32_put(crc, crc32c(p, b->len));
	cbuf_add(b, crc, sizeof(crc));
	if (cbuf_failed(b))
		return -ENOMEM;
	*out = cbuf_detach(b, len);
	return 0;
}

bool frame_intact(const uint8_t *p, size_t len, size_t min_len)
{
	if (min_len < FRAME_MIN_HDR + FRAME_CRC_LEN)
		min_len = FRAME_MIN_HDR + FRAME_CRC_LEN;
	return len >= min_len &&
	       le64_get(p + FRAME_OFF_TOTAL) == (uint64_t)len &&
	       le32_get(p + len - FRAME_CRC_LEN) ==
		       crc32c(p, len - FRAME_CRC_LEN);
}

bool frame_name_ok(const void *p, size_t n)
{
	return name_check_bytes(p, n, NULL) == 0;
}
