/*
 * creds_internal.h - the parts of the credential chain (cloud/creds*.c),
 * shared between its files and with tests/check_cloud_creds.c.  Never
 * included elsewhere.
 *
 * Everything read from a credential_process or an HTTP endpoint is
 * hostile until checked: bounded in size (CREDS_RESPONSE_MAX), parsed as
 * JSON with jansson, each field checked (creds_check_field) before it is
 * copied, the expiration parsed strictly (creds_parse_time).
 */
#ifndef CLOUD_CREDS_INTERNAL_H
#define CLOUD_CREDS_INTERNAL_H

#include "cloud/creds.h"
#include "cloud/http.h"

#include <stdbool.h>
#include <stdint.h>

#define CREDS_RESPONSE_MAX (64 * 1024) /* process output, HTTP body */
#define CREDS_KEY_MAX 128 /* access key id and secret, bytes */
#define CREDS_TOKEN_MAX (16 * 1024) /* session token, bytes */
#define CREDS_PROCESS_TIMEOUT_MS 60000
#define CREDS_HTTP_CONNECT_MS 1000
#define CREDS_HTTP_TIMEOUT_MS 3000
#define CREDS_IMDS_TOKEN_TTL_S 21600
/* Temporary credentials are fetched again this long before they expire
 * (or halfway through their life when that is shorter), and a refresh
 * that failed is tried again after CREDS_RETRY_S. */
#define CREDS_REFRESH_MARGIN_S 300
#define CREDS_RETRY_S 10

enum creds_source {
	CREDS_FIXED,
	CREDS_ENV,
	CREDS_SHARED_FILE,
	CREDS_PROCESS,
	CREDS_CONFIG_FILE,
	CREDS_CONTAINER,
	CREDS_IMDS,
};

/* Test seams: set before a provider is made; NULL/0 fields take the
 * defaults (libcurl with CREDS_HTTP_* timeouts and no proxy, time(NULL),
 * CREDS_PROCESS_TIMEOUT_MS).  Not thread-safe: tests only. */
struct creds_seams {
	struct cloud_http *http; /* borrowed */
	int64_t (*now)(void);
	unsigned process_timeout_ms;
};
void creds_seams_set(const struct creds_seams *s);
int64_t creds_now(void);

/* JSON documents with credentials.  PROCESS: credential_process output
 * ({"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
 * "Expiration"?}).  METADATA: the container endpoint's and IMDS's answer
 * ({"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code"?});
 * a "Code" other than "Success" is refused.  0, -EBADMSG (with a reason
 * in why, never a value) or -ENOMEM. */
enum creds_json {
	CREDS_JSON_PROCESS,
	CREDS_JSON_METADATA,
};
int creds_parse_json(const char *buf, size_t len, enum creds_json kind,
		     struct cloud_creds *out, char *why, size_t whylen);

/* An RFC 3339 time ("2026-12-06T22:21:28Z", fraction and "+HH:MM"
 * offsets allowed) in unix seconds.  0 or -EINVAL. */
int creds_parse_time(const char *s, int64_t *out);

/* A field from a hostile source: 1..max bytes, printable ASCII without
 * spaces (so it can go into a header line). */
bool creds_field_ok(const char *s, size_t max);

/* The key id's last four characters ("...WXYZ") for a log line. */
void creds_key_hint(const char *key, char *buf, size_t len);

/* The shared files' view of one profile (creds.c). */
struct creds_profile {
	bool found; /* a section for the profile in either file */
	struct cloud_creds file; /* keys in the credentials file */
	struct cloud_creds config; /* keys in the config file */
	char *process; /* credential_process; the credentials file wins */
	char cred_path[4096];
	char config_path[4096];
};
/* Read both files for profile.  0 (found or not), -ENOMEM. */
int creds_profile_read(const char *profile, struct creds_profile *out);
void creds_profile_release(struct creds_profile *p);

/* Run cmd with /bin/sh -c (stdin /dev/null, stderr ours, its own process
 * group), read at most CREDS_RESPONSE_MAX bytes of its stdout within
 * timeout_ms and parse them (creds_process.c).  0, -ENOKEY after a log
 * line, -ENOMEM. */
int creds_process_fetch(const char *cmd, unsigned timeout_ms,
			struct cloud_creds *out);

/* The container endpoint (creds_http.c).  configured: one of its
 * variables is set.  0, -ENOKEY after a log line, -ENOMEM. */
bool creds_container_configured(void);
int creds_container_fetch(struct cloud_http *h, struct cloud_creds *out);

/* IMDSv2 (creds_http.c).  0, -ENOKEY after a log line (quiet when
 * quiet is set: probing at start-up), -ENOMEM. */
bool creds_imds_disabled(void);
const char *creds_imds_endpoint(void);
int creds_imds_fetch(struct cloud_http *h, bool quiet, struct cloud_creds *out);

#endif
