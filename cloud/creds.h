/*
 * creds.h - AWS credentials, found the way the AWS tools find them.
 *
 * Order: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * optionally AWS_SESSION_TOKEN), then the shared credentials file
 * ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) in the profile
 * asked for, else $AWS_PROFILE, else "default".
 *
 * Secrets are never logged or printed: log lines name where we looked,
 * never what we found.  cloud_creds_release() wipes the memory.
 */
#ifndef CLOUD_CREDS_H
#define CLOUD_CREDS_H

#include <stddef.h>

struct cloud_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL: none */
};

/* Load into *out (owned by the caller: cloud_creds_release).  profile may
 * be NULL.  -ENOKEY (with a log line) when none are found or they are
 * incomplete; -ENOMEM. */
int cloud_creds_load(const char *profile, struct cloud_creds *out);

/* Parse the text of a credentials file (INI: [profile] sections,
 * "name = value" lines, '#' and ';' comment lines) for profile.  Pure.
 * -ENOKEY when the profile is missing or lacks the key id or secret. */
int cloud_creds_parse_ini(const char *buf, size_t len, const char *profile,
			  struct cloud_creds *out);

/* Copy explicit credentials (token may be NULL or ""). */
int cloud_creds_set(struct cloud_creds *out, const char *access_key,
		    const char *secret_key, const char *token);

void cloud_creds_release(struct cloud_creds *c);

#endif
