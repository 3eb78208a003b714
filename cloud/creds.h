/*
 * creds.h - AWS credentials, found the way the AWS tools find them.
 *
 * The default chain, in the AWS SDKs' documented order; the first source
 * that is configured decides (a configured source that fails is an error,
 * not a reason to try the next):
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      optionally AWS_SESSION_TOKEN;
 *   2. the shared files, profile = the one asked for, else $AWS_PROFILE,
 *      else "default": the credentials file ($AWS_SHARED_CREDENTIALS_FILE,
 *      else ~/.aws/credentials, section [NAME]) and the config file
 *      ($AWS_CONFIG_FILE, else ~/.aws/config, section [profile NAME] or
 *      [default]); in this order: keys in the credentials file, then
 *      credential_process (either file; the credentials file wins), then
 *      keys in the config file (creds_process.c);
 *   3. the container endpoint: $AWS_CONTAINER_CREDENTIALS_FULL_URI (or
 *      http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), with
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN (or the content of
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) as Authorization
 *      (creds_http.c);
 *   4. EC2 instance metadata, IMDSv2 only ($AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *      default http://169.254.169.254; off with
 *      AWS_EC2_METADATA_DISABLED=true) (creds_http.c).
 *
 * Temporary credentials (those with an Expiration) are fetched again from
 * the same source before they expire (creds_chain.c); the signer takes a
 * consistent copy of key, secret and token under the provider's lock.
 *
 * Secrets are never logged or printed: log lines name where we looked
 * and the key id's last four characters, never a secret or token.
 * cloud_creds_release() wipes the memory.
 */
#ifndef CLOUD_CREDS_H
#define CLOUD_CREDS_H

#include <stddef.h>
#include <stdint.h>

struct cloud_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL: none */
	int64_t expiration; /* unix seconds; 0: does not expire */
};

/* One snapshot of the default chain into *out (owned by the caller:
 * cloud_creds_release).  profile may be NULL.  -ENOKEY (with a log line)
 * when none are found or they are incomplete; -ENOMEM. */
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

/*
 * A source of credentials that stays valid: the chain is resolved once
 * (cloud_creds_provider_new), then cloud_creds_provider_get() hands out
 * copies, fetching temporary credentials again from the same source
 * when they come close to their expiration.  Thread-safe.
 */
struct cloud_creds_provider;

/* Resolve the default chain for profile (NULL: $AWS_PROFILE or
 * "default").  *out owned by the caller (cloud_creds_provider_free).
 * -ENOKEY with a log line when no source has credentials. */
int cloud_creds_provider_new(const char *profile,
			     struct cloud_creds_provider **out);

/* A provider that always hands out a copy of c (copied now). */
int cloud_creds_provider_fixed(const struct cloud_creds *c,
			       struct cloud_creds_provider **out);

/* Copy the current credentials into *snap (owned by the caller:
 * cloud_creds_release), refreshing them first when due.  While a refresh
 * fails, credentials that have not expired yet are still handed out;
 * expired ones are -ENOKEY (logged once per failed refresh). */
int cloud_creds_provider_get(struct cloud_creds_provider *p,
			     struct cloud_creds *snap);

/* The source in words ("environment", "credential_process", ...);
 * static. */
const char *cloud_creds_provider_source(const struct cloud_creds_provider *p);

void cloud_creds_provider_free(struct cloud_creds_provider *p);

#endif
