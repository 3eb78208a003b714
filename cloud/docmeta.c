/*
 * docmeta.c - the metadata of a readable document object as bytes
 * (docmeta.h).
 *
 * Sidecar (dir: target, file ".caravan-meta.<key segment>" beside the
 * body),
 * integers little-endian:
 *
 *   offset  size  field
 *   0       4     magic "CVDM"
 *   4       2     version (1)
 *   6       2     sidecar length H = 96 + S + K (the file's size)
 *   8       8     seq
 *   16      8     body length (the body file's size)
 *   24      4     mode (S_IFREG | permission bits, as stored)
 *   28      4     uid
 *   32      4     gid
 *   36      4     reserved, 0
 *   40      8     mtime, ns since the epoch (signed)
 *   48      8     ctime, ns since the epoch (signed)
 *   56      32    SHA-256 of the body
 *   88      2     space name length S (1..255)
 *   90      2     key length K (1..255)
 *   92      S+K   space name, key (raw bytes)
 *   92+S+K  4     CRC-32C of every byte before it
 *
 * s3 headers (values ASCII): x-amz-meta-seq, -uid, -gid decimal;
 * x-amz-meta-mode decimal st_mode (S_IFREG | bits, as s3fs writes it);
 * x-amz-meta-mtime, -ctime "SECONDS.NNNNNNNNN"; x-amz-meta-sha256 the
 * body's SHA-256 in lower-case hex.  An object without x-amz-meta-sha256
 * is a legacy archive (cloud/archive.h), whose only metadata is seq.
 */
#include "config.h"

#include "cloud/docmeta.h"

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/name.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int docmeta_parse_sha256(const char *s, char out[65])
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (hex_val(s[i]) < 0)
			return -EBADMSG;
	if (s[64] != '\0')
		return -EBADMSG;
	memcpy(out, s, 65);
	return 0;
}

int docmeta_sidecar_encode(uint8_t out[DOCMETA_SIDECAR_MAX],
			   const struct cloud_doc_meta *m, uint64_t body_len,
			   const char *space, const char *key, size_t *len)
{
	size_t sl = strlen(space), kl = strlen(key);
	size_t hl = DOCMETA_FIXED + sl + kl + 4;
	char hex[65];

	if (sl < 1 || sl > CLOUD_NAME_MAX || kl < 1 || kl > CLOUD_NAME_MAX ||
	    docmeta_parse_sha256(m->sha256, hex))
		return -EINVAL;
	memcpy(out, DOCMETA_MAGIC, 4);
	le16_put(out + 4, DOCMETA_VERSION);
	le16_put(out + 6, (uint16_t)hl);
	le64_put(out + 8, m->seq);
	le64_put(out + 16, body_len);
	le32_put(out + 24, m->mode);
	le32_put(out + 28, m->uid);
	le32_put(out + 32, m->gid);
	le32_put(out + 36, 0);
	le64_put(out + 40, (uint64_t)m->mtime_ns);
	le64_put(out + 48, (uint64_t)m->ctime_ns);
	for (size_t i = 0; i < 32; i++)
		out[56 + i] = (uint8_t)(hex_val(hex[2 * i]) << 4 |
					hex_val(hex[2 * i + 1]));
	le16_put(out + 88, (uint16_t)sl);
	le16_put(out + 90, (uint16_t)kl);
	memcpy(out + DOCMETA_FIXED, space, sl);
	memcpy(out + DOCMETA_FIXED + sl, key, kl);
	le32_put(out + hl - 4, crc32c(out, hl - 4));
	*len = hl;
	return 0;
}

int docmeta_sidecar_decode(const void *buf, size_t len,
			   struct cloud_doc_meta *m, uint64_t *body_len,
			   char *space, char *key)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = buf;
	size_t hl, sl, kl;

	if (len < DOCMETA_FIXED + 4 || len > DOCMETA_SIDECAR_MAX)
		return -EBADMSG;
	hl = le16_get(p + 6);
	sl = le16_get(p + 88);
	kl = le16_get(p + 90);
	if (memcmp(p, DOCMETA_MAGIC, 4) != 0 ||
	    le16_get(p + 4) != DOCMETA_VERSION || hl != len || sl < 1 ||
	    sl > CLOUD_NAME_MAX || kl < 1 || kl > CLOUD_NAME_MAX ||
	    hl != DOCMETA_FIXED + sl + kl + 4 || le32_get(p + 36) != 0)
		return -EBADMSG;
	if (le32_get(p + hl - 4) != crc32c(p, hl - 4))
		return -EBADMSG;
	memcpy(space, p + DOCMETA_FIXED, sl);
	space[sl] = '\0';
	memcpy(key, p + DOCMETA_FIXED + sl, kl);
	key[kl] = '\0';
	if (strlen(space) != sl || strlen(key) != kl ||
	    name_check(space, NULL) || name_check(key, NULL))
		return -EBADMSG;
	memset(m, 0, sizeof(*m));
	m->seq = le64_get(p + 8);
	*body_len = le64_get(p + 16);
	m->mode = le32_get(p + 24);
	m->uid = le32_get(p + 28);
	m->gid = le32_get(p + 32);
	m->mtime_ns = (int64_t)le64_get(p + 40);
	m->ctime_ns = (int64_t)le64_get(p + 48);
	for (size_t i = 0; i < 32; i++) {
		m->sha256[2 * i] = digits[p[56 + i] >> 4];
		m->sha256[2 * i + 1] = digits[p[56 + i] & 15];
	}
	m->sha256[64] = '\0';
	return 0;
}

int docmeta_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t n = 0;

	if (!s[0] || (s[0] == '0' && s[1]))
		return -EBADMSG;
	for (; s[n]; n++) {
		uint64_t d = (uint64_t)(s[n] - '0');

		if (s[n] < '0' || s[n] > '9' || n >= 20 ||
		    x > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		x = x * 10 + d;
	}
	if (x > max)
		return -EBADMSG;
	*out = x;
	return 0;
}

/* Seconds whose nanoseconds fit int64_t, either sign. */
#define TIME_SEC_MAX ((uint64_t)INT64_MAX / 1000000000 - 1)

int docmeta_parse_time(const char *s, int64_t *ns)
{
	char sec[24];
	const char *dot = strchr(s, '.');
	bool neg = s[0] == '-';
	uint64_t whole, frac;
	size_t n;

	if (!dot)
		return -EBADMSG;
	if (neg)
		s++;
	n = (size_t)(dot - s);
	if (n < 1 || n >= sizeof(sec) || strlen(dot + 1) != 9)
		return -EBADMSG;
	memcpy(sec, s, n);
	sec[n] = '\0';
	if (docmeta_parse_u64(sec, TIME_SEC_MAX, &whole))
		return -EBADMSG;
	frac = 0;
	for (const char *f = dot + 1; *f; f++) {
		if (*f < '0' || *f > '9')
			return -EBADMSG;
		frac = frac * 10 + (uint64_t)(*f - '0');
	}
	*ns = (int64_t)(whole * 1000000000 + frac);
	if (neg)
		*ns = -*ns;
	return 0;
}

void docmeta_format_time(int64_t ns, char out[32])
{
	uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

	snprintf(out, 32, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "",
		 a / 1000000000, a % 1000000000);
}

static int header_u64(docmeta_header_fn get, void *arg, const char *name,
		      uint64_t max, uint64_t *out)
{
	char v[64];

	if (get(arg, name, v, sizeof(v)))
		return -EBADMSG;
	return docmeta_parse_u64(v, max, out);
}

int docmeta_from_headers(docmeta_header_fn get, void *arg,
			 struct cloud_doc_meta *m)
{
	char v[80];
	uint64_t x;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = header_u64(get, arg, "x-amz-meta-seq", UINT64_MAX, &m->seq);
	if (rc)
		return rc;
	rc = get(arg, "x-amz-meta-sha256", v, sizeof(v));
	if (rc == -ENOENT) {
		m->legacy = true;
		return 0;
	}
	if (rc || docmeta_parse_sha256(v, m->sha256))
		return -EBADMSG;
	if (header_u64(get, arg, "x-amz-meta-mode", UINT32_MAX, &x))
		return -EBADMSG;
	m->mode = (uint32_t)x;
	if (header_u64(get, arg, "x-amz-meta-uid", UINT32_MAX, &x))
		return -EBADMSG;
	m->uid = (uint32_t)x;
	if (header_u64(get, arg, "x-amz-meta-gid", UINT32_MAX, &x))
		return -EBADMSG;
	m->gid = (uint32_t)x;
	if (get(arg, "x-amz-meta-mtime", v, sizeof(v)) ||
	    docmeta_parse_time(v, &m->mtime_ns))
		return -EBADMSG;
	if (get(arg, "x-amz-meta-ctime", v, sizeof(v)) ||
	    docmeta_parse_time(v, &m->ctime_ns))
		return -EBADMSG;
	return 0;
}
