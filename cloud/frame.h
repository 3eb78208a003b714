/*
 * frame.h - the frame our binary cloud objects share (cloud/archive.c's
 * document archives, cloud/feed.c's feed batches and snapshot parts):
 * a header that holds, at byte 8, the object's total length in bytes as
 * a little-endian u64 (the trailer included), and a trailer of 4 bytes,
 * the CRC-32C of everything before it, little-endian.  Each format owns
 * the rest of its header; names inside follow util/name.h.
 */
#ifndef CLOUD_FRAME_H
#define CLOUD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define FRAME_OFF_TOTAL 8
#define FRAME_CRC_LEN 4
#define FRAME_MIN_HDR (FRAME_OFF_TOTAL + 8)

/* Seal b (a header of at least FRAME_MIN_HDR bytes, then the body): set
 * the total length, append the CRC and hand the bytes to *out (the
 * caller's, free()).  -ENOMEM (b is left to the caller to release). */
int frame_seal(struct cbuf *b, void **out, size_t *len);

/* Whether p[0..len) is a whole frame: at least min_len bytes (header
 * and trailer), its total length len, its CRC right. */
bool frame_intact(const uint8_t *p, size_t len, size_t min_len);

/* Whether n bytes at p are a valid name (util/name.h). */
bool frame_name_ok(const void *p, size_t n);

#endif
