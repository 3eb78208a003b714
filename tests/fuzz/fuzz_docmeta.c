/*
 * fuzz_docmeta.c - libFuzzer target for the metadata of readable document
 * objects (cloud/docmeta.h) and the gate behind them (cloud_doc_verify).
 *
 * Each input is used three ways:
 *   1. as a dir: sidecar, as it is (almost always refused by the CRC) and
 *      with its length and CRC fields rewritten to match, so the fuzzer
 *      reaches the checks behind the CRC.  Oracle: a decode never reads
 *      outside the input (ASan) and, when it succeeds, encoding the
 *      decoded sidecar gives the same bytes (the format is canonical).
 *   2. as an s3 response header block ("name: value" lines) read by
 *      docmeta_from_headers.  Oracle: accepted metadata has a 64-digit
 *      lower-case hex checksum (or is legacy), and its times print back
 *      to text that parses to the same value.
 *   3. as a document body behind valid metadata, through cloud_doc_verify
 *      with small limits.  Oracle: an accepted body gives one snapshot
 *      entry that decodes, within max_doc_bytes, and a mode within 0777.
 */
#include "cloud/docmeta.h"
#include "cloud/verify.h"
#include "util/crc32c.h"
#include "util/endian.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sidecar(const uint8_t *buf, size_t len)
{
	char space[CLOUD_NAME_MAX + 1], key[CLOUD_NAME_MAX + 1];
	uint8_t again[DOCMETA_SIDECAR_MAX];
	struct cloud_doc_meta m;
	uint64_t body_len;
	size_t n;

	if (docmeta_sidecar_decode(buf, len, &m, &body_len, space, key))
		return;
	if (docmeta_sidecar_encode(again, &m, body_len, space, key, &n) ||
	    n != len || memcmp(again, buf, len))
		abort();
}

struct block {
	const char *p;
	size_t len;
};

/* The value of header name in the block: the first line "name:" (any
 * case), trimmed. */
static int block_get(void *arg, const char *name, char *out, size_t cap)
{
	const struct block *b = arg;
	size_t nl = strlen(name), i = 0;

	while (i < b->len) {
		const char *line = b->p + i;
		const char *end = memchr(line, '\n', b->len - i);
		size_t ll = end ? (size_t)(end - line) : b->len - i;

		i += ll + 1;
		if (ll > nl && line[nl] == ':' &&
		    !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl && (*v == ' ' || *v == '\t'))
				v++, vl--;
			while (vl && isspace((unsigned char)v[vl - 1]))
				vl--;
			if (vl + 1 > cap || memchr(v, '\0', vl))
				return -ERANGE;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

static void check_time(int64_t ns)
{
	char text[32];
	int64_t back;

	docmeta_format_time(ns, text);
	if (docmeta_parse_time(text, &back) || back != ns)
		abort();
}

static void headers(const uint8_t *buf, size_t len)
{
	struct block b = { (const char *)buf, len };
	struct cloud_doc_meta m;
	char hex[65];

	if (docmeta_from_headers(block_get, &b, &m))
		return;
	if (m.legacy)
		return;
	if (docmeta_parse_sha256(m.sha256, hex))
		abort();
	check_time(m.mtime_ns);
	check_time(m.ctime_ns);
}

static void body(const uint8_t *buf, size_t len)
{
	struct doc_options o = { .max_doc_bytes = 4096,
				 .max_patch_bytes = 1024 };
	struct cloud_doc_meta m;
	struct store_meta sm;
	const char *why;
	void *entry = NULL;
	size_t elen = 0;
	char kind;

	memset(&m, 0, sizeof(m));
	m.seq = 1 + (len ? buf[0] : 0);
	m.mode = 0100000 | (len > 1 ? (uint32_t)buf[1] << 4 : 0644);
	memset(m.sha256, 'a', 64);
	if (cloud_doc_verify(buf, len, &m, m.sha256, &o, &sm, &entry, &elen,
			     &why))
		return;
	if (elen < 2 || elen > o.max_doc_bytes || (sm.mode & ~0777u) ||
	    doc_entry_decode(entry, elen, &kind, NULL) || kind != 'S')
		abort();
	free(entry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	sidecar(data, size);
	headers(data, size);
	body(data, size);
	if (size < DOCMETA_FIXED + 4 || size > DOCMETA_SIDECAR_MAX)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	le16_put(copy + 6, (uint16_t)size);
	le32_put(copy + size - 4, crc32c(copy, size - 4));
	sidecar(copy, size);
	free(copy);
	return 0;
}
