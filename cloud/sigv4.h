/*
 * sigv4.h - AWS Signature Version 4, as pure functions.
 *
 * sigv4_sign() turns a request description (method, raw path, raw query
 * parameters, headers, payload hash), credentials, region, service and a
 * time into the canonical request, the string to sign, the signature and
 * what must be sent: the Authorization header value (header signing) or
 * the complete query string (query, i.e. presigned, signing), the encoded
 * path, and the headers the signer added.  Nothing here does I/O or reads
 * the clock, so every step is tested byte for byte against the AWS test
 * suite (tests/data/aws-sigv4/).
 *
 * Encoding rules (the ones S3 checks):
 *   - the path is given raw (decoded bytes) and encoded exactly once:
 *     every byte but A-Z a-z 0-9 '-' '.' '_' '~' and '/' becomes %XX
 *     (upper-case hex).  Without SIGV4_NORMALIZE_PATH (S3) the path is
 *     kept as it is: "//" and "." / ".." segments are signed verbatim;
 *   - query names and values are given raw and encoded like the path but
 *     with '/' encoded too, then sorted by name, then value;
 *   - header names are lower-cased; values are trimmed and every run of
 *     white space (space, tab, CR, LF) becomes one space; repeated
 *     headers are joined with ',' in the order given;
 *   - the payload hash is hex SHA-256 of the body or "UNSIGNED-PAYLOAD".
 *
 * Secrets: the secret key and session token are read, never copied into
 * anything but the outputs that must carry them (the token is sent).
 */
#ifndef CLOUD_SIGV4_H
#define CLOUD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_EMPTY_SHA256                                                     \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_kv {
	const char *name;
	const char *value; /* query: NULL means a name without '=' */
};

struct sigv4_request {
	const char *method;
	const char *path; /* raw, starts with '/' */
	const struct sigv4_kv *query; /* raw names and values */
	size_t query_len;
	const struct sigv4_kv *headers; /* must include host */
	size_t headers_len;
	const char *payload_hash;
};

enum sigv4_mode {
	SIGV4_HEADER, /* Authorization header */
	SIGV4_QUERY, /* presigned URL: X-Amz-* query parameters */
};

enum sigv4_flags {
	SIGV4_NORMALIZE_PATH = 1 << 0, /* remove dot segments, '//' (not S3) */
	SIGV4_CONTENT_SHA256 = 1 << 1, /* header mode: send and sign
					   x-amz-content-sha256 (S3) */
	SIGV4_OMIT_TOKEN = 1 << 2, /* send the session token unsigned */
};

struct sigv4_params {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "": none */
	const char *region;
	const char *service;
	time_t when;
	enum sigv4_mode mode;
	unsigned expires_s; /* query mode: X-Amz-Expires */
	int flags; /* enum sigv4_flags */
};

#define SIGV4_MAX_ADDED 3

struct sigv4_result {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];
	char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
	char *path; /* encoded path, as sent */
	char *query; /* query string as sent (no '?'; may be "") */
	char *authorization; /* header mode: Authorization value; else NULL */
	/* Headers the signer added, to be sent too (x-amz-date,
	 * x-amz-content-sha256, x-amz-security-token). */
	struct {
		const char *name;
		char *value;
	} added[SIGV4_MAX_ADDED];
	size_t added_len;
};

/* Sign.  On success the strings in *out are owned by the caller: release
 * with sigv4_result_release().  -EINVAL for a missing method, path, host
 * header, key or region; -ENOMEM.  *out is zeroed first, always. */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_params *p,
	       struct sigv4_result *out);
void sigv4_result_release(struct sigv4_result *r);

/* Lower-case hex SHA-256 of buf into out (65 bytes with NUL). */
void sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
