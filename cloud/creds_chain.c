/*
 * creds_chain.c - the default credential chain and the provider that
 * keeps its answer fresh.
 *
 * Resolution (cloud_creds_provider_new), once, in the SDKs' order (see
 * creds.h): environment; shared files for the profile (credentials-file
 * keys, credential_process, config-file keys); container endpoint;
 * instance metadata.  The first source that is configured decides: keys
 * half set, a credential_process or a container endpoint that fails, is
 * an error (-ENOKEY), never a silent fall-through to another identity.
 * A profile named explicitly (argument or $AWS_PROFILE) that neither
 * file holds is an error too.  Only instance metadata is probed: when it
 * does not answer, the error names every place we looked.
 *
 * Refresh: credentials with an expiration (credential_process with
 * Expiration, container, instance metadata) are fetched again from the
 * same source at refresh_at = max(expiration - CREDS_REFRESH_MARGIN_S,
 * fetched + lifetime / 2), by the first caller of
 * cloud_creds_provider_get() after it.  A failed refresh is logged and
 * tried again CREDS_RETRY_S later; meanwhile unexpired credentials are
 * still handed out, expired ones are -ENOKEY.
 *
 * Sharing: while a provider lives, cloud_creds_provider_new() for the
 * same profile argument returns it again (reference-counted), so the
 * targets of one mount share one cache and one refresh.  Once the last
 * reference is gone the next call resolves the chain anew.
 *
 * Locking: reg_mu guards the registry (reg_head, next, refs) and is held
 * while a new provider resolves the chain.  mu guards cur, refresh_at and
 * retry_at, and is held across a refresh, so every caller gets one
 * consistent (key, secret, token) triple and at most one fetch runs at a
 * time.  kind, cmd and http are set at creation and read-only after.
 *
 * Log lines name the source and the key id's last four characters,
 * never a secret or a token.
 */
#include "config.h"

#include "cloud/creds_internal.h"

#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cloud_creds_provider {
	/* registry of chain providers: guarded by reg_mu */
	struct cloud_creds_provider *next;
	char *profile_arg; /* the profile asked for ("" for none) */
	unsigned refs;
	bool shared;
	enum creds_source kind;
	char *cmd; /* CREDS_PROCESS */
	struct cloud_http *http; /* CREDS_CONTAINER, CREDS_IMDS */
	bool own_http;
	unsigned timeout_ms; /* credential_process */
	pthread_mutex_t mu;
	struct cloud_creds cur; /* guarded by mu */
	int64_t refresh_at; /* guarded by mu; 0: never */
	int64_t retry_at; /* guarded by mu */
};

static struct creds_seams seams;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cloud_creds_provider *reg_head; /* guarded by reg_mu */

void creds_seams_set(const struct creds_seams *s)
{
	if (s)
		seams = *s;
	else
		memset(&seams, 0, sizeof(seams));
}

int64_t creds_now(void)
{
	return seams.now ? seams.now() : clock_real_ns() / 1000000000;
}

static const char *source_name(enum creds_source k)
{
	switch (k) {
	case CREDS_FIXED:
		return "configuration";
	case CREDS_ENV:
		return "environment";
	case CREDS_SHARED_FILE:
		return "shared credentials file";
	case CREDS_PROCESS:
		return "credential_process";
	case CREDS_CONFIG_FILE:
		return "config file";
	case CREDS_CONTAINER:
		return "container endpoint";
	case CREDS_IMDS:
		return "instance metadata";
	}
	return "?";
}

const char *cloud_creds_provider_source(const struct cloud_creds_provider *p)
{
	return source_name(p->kind);
}

static void plan_refresh(struct cloud_creds_provider *p, int64_t now)
{
	int64_t exp = p->cur.expiration, a, b;

	if (!exp) {
		p->refresh_at = 0;
		return;
	}
	a = exp - CREDS_REFRESH_MARGIN_S;
	b = now + (exp - now) / 2;
	p->refresh_at = a > b ? a : b;
}

/* Fetch from p's source (refreshable kinds only). */
static int fetch(struct cloud_creds_provider *p, bool quiet,
		 struct cloud_creds *out)
{
	switch (p->kind) {
	case CREDS_PROCESS:
		return creds_process_fetch(p->cmd, p->timeout_ms, out);
	case CREDS_CONTAINER:
		return creds_container_fetch(p->http, out);
	case CREDS_IMDS:
		return creds_imds_fetch(p->http, quiet, out);
	default:
		return -ENOKEY;
	}
}

static void log_got(const struct cloud_creds_provider *p, const char *verb)
{
	char hint[16], when[32] = "";
	time_t t = (time_t)p->cur.expiration;
	struct tm tm;

	creds_key_hint(p->cur.access_key, hint, sizeof(hint));
	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), ", expiring %Y-%m-%dT%H:%M:%SZ",
			 &tm);
	/* static keys are no event; fetching temporary ones is */
	log_msg(strcmp(verb, "taken") ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		"aws credentials %s from the %s (key id %s%s)", verb,
		source_name(p->kind), hint, when);
}

/* Take c as p's current credentials.  -ENOKEY when already expired. */
static int adopt(struct cloud_creds_provider *p, struct cloud_creds *c,
		 const char *verb)
{
	int64_t now = creds_now();

	if (c->expiration && c->expiration <= now) {
		log_error("refusing aws credentials from the %s: they expired "
			  "already",
			  source_name(p->kind));
		cloud_creds_release(c);
		return -ENOKEY;
	}
	cloud_creds_release(&p->cur);
	p->cur = *c;
	memset(c, 0, sizeof(*c));
	plan_refresh(p, now);
	log_got(p, verb);
	return 0;
}

static struct cloud_creds_provider *provider_alloc(enum creds_source kind)
{
	struct cloud_creds_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	p->timeout_ms = seams.process_timeout_ms ? seams.process_timeout_ms
						 : CREDS_PROCESS_TIMEOUT_MS;
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

static void provider_destroy(struct cloud_creds_provider *p)
{
	free(p->profile_arg);
	cloud_creds_release(&p->cur);
	free(p->cmd);
	if (p->own_http && p->http)
		p->http->destroy(p->http);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void cloud_creds_provider_free(struct cloud_creds_provider *p)
{
	struct cloud_creds_provider **pp;

	if (!p)
		return;
	if (p->shared) {
		pthread_mutex_lock(&reg_mu);
		if (--p->refs > 0) {
			pthread_mutex_unlock(&reg_mu);
			return;
		}
		for (pp = &reg_head; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		pthread_mutex_unlock(&reg_mu);
	}
	provider_destroy(p);
}

int cloud_creds_provider_fixed(const struct cloud_creds *c,
			       struct cloud_creds_provider **out)
{
	struct cloud_creds_provider *p = provider_alloc(CREDS_FIXED);
	int rc;

	if (!p)
		return -ENOMEM;
	rc = cloud_creds_set(&p->cur, c->access_key, c->secret_key,
			     c->session_token);
	if (rc) {
		cloud_creds_provider_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static int use_http(struct cloud_creds_provider *p)
{
	struct cloud_http_curl_options co;
	int rc;

	if (seams.http) {
		p->http = seams.http;
		return 0;
	}
	memset(&co, 0, sizeof(co));
	co.connect_timeout_ms = CREDS_HTTP_CONNECT_MS;
	co.timeout_ms = CREDS_HTTP_TIMEOUT_MS;
	co.low_speed_time_s = CREDS_HTTP_TIMEOUT_MS / 1000;
	co.no_proxy = true;
	rc = cloud_http_curl_new(&co, &p->http);
	p->own_http = rc == 0;
	return rc;
}

/* The first step of the chain. */
static int from_env(struct cloud_creds_provider *p, bool *done)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	int rc;

	if (!ak || !ak[0])
		return 0;
	*done = true;
	p->kind = CREDS_ENV;
	if (!sk || !sk[0]) {
		log_error("no aws credentials: AWS_ACCESS_KEY_ID is set but "
			  "AWS_SECRET_ACCESS_KEY is not");
		return -ENOKEY;
	}
	rc = cloud_creds_set(&p->cur, ak, sk, getenv("AWS_SESSION_TOKEN"));
	if (!rc)
		log_got(p, "taken");
	return rc;
}

static bool partial(const struct cloud_creds *c)
{
	return (c->access_key && c->access_key[0]) !=
	       (c->secret_key && c->secret_key[0]);
}

static int take_keys(struct cloud_creds_provider *p, enum creds_source k,
		     struct cloud_creds *c)
{
	p->kind = k;
	cloud_creds_release(&p->cur);
	if (c->session_token && !c->session_token[0]) {
		free(c->session_token);
		c->session_token = NULL;
	}
	p->cur = *c;
	memset(c, 0, sizeof(*c));
	log_got(p, "taken");
	return 0;
}

/* The second step: the shared files. */
static int from_files(struct cloud_creds_provider *p, const char *profile,
		      bool explicit, bool *done, struct creds_profile *fp)
{
	struct cloud_creds c;
	int rc = creds_profile_read(profile, fp);

	if (rc)
		return rc;
	if (partial(&fp->file) ||
	    (!fp->file.access_key && !fp->process && partial(&fp->config))) {
		*done = true;
		log_error("no aws credentials for profile '%s' in '%s': the "
			  "key id or the secret is missing",
			  profile,
			  partial(&fp->file) ? fp->cred_path : fp->config_path);
		return -ENOKEY;
	}
	if (fp->file.access_key) {
		*done = true;
		return take_keys(p, CREDS_SHARED_FILE, &fp->file);
	}
	if (fp->process) {
		*done = true;
		p->kind = CREDS_PROCESS;
		p->cmd = strdup(fp->process);
		if (!p->cmd)
			return -ENOMEM;
		memset(&c, 0, sizeof(c));
		rc = creds_process_fetch(p->cmd, p->timeout_ms, &c);
		return rc ? rc : adopt(p, &c, "fetched");
	}
	if (fp->config.access_key) {
		*done = true;
		return take_keys(p, CREDS_CONFIG_FILE, &fp->config);
	}
	if (explicit && !fp->found) {
		*done = true;
		log_error("no aws profile '%s' in '%s' or '%s'", profile,
			  fp->cred_path, fp->config_path);
		return -ENOKEY;
	}
	return 0;
}

/* Steps three and four. */
static int from_endpoints(struct cloud_creds_provider *p,
			  const struct creds_profile *fp, const char *profile)
{
	struct cloud_creds c;
	int rc;

	memset(&c, 0, sizeof(c));
	p->kind = creds_container_configured() ? CREDS_CONTAINER : CREDS_IMDS;
	if (p->kind == CREDS_IMDS && creds_imds_disabled()) {
		log_error("no aws credentials: AWS_ACCESS_KEY_ID is not set, "
			  "no profile '%s' with credentials in '%s' or '%s', "
			  "no container endpoint, and instance metadata is "
			  "disabled (AWS_EC2_METADATA_DISABLED)",
			  profile, fp->cred_path, fp->config_path);
		return -ENOKEY;
	}
	rc = use_http(p);
	if (!rc)
		rc = fetch(p, p->kind == CREDS_IMDS, &c);
	if (rc == -ENOKEY && p->kind == CREDS_IMDS)
		log_error("no aws credentials: AWS_ACCESS_KEY_ID is not set, "
			  "no profile '%s' with credentials in '%s' or '%s', "
			  "no container endpoint, and no instance metadata at "
			  "'%s'",
			  profile, fp->cred_path, fp->config_path,
			  creds_imds_endpoint());
	return rc ? rc : adopt(p, &c, "fetched");
}

/* The chain resolved anew. */
static int resolve(const char *profile, struct cloud_creds_provider **out)
{
	struct cloud_creds_provider *p = provider_alloc(CREDS_ENV);
	struct creds_profile fp;
	bool explicit = true, done = false;
	int rc;

	if (!p)
		return -ENOMEM;
	memset(&fp, 0, sizeof(fp));
	if (!profile || !profile[0])
		profile = getenv("AWS_PROFILE");
	if (!profile || !profile[0]) {
		profile = "default";
		explicit = false;
	}
	rc = from_env(p, &done);
	if (!rc && !done)
		rc = from_files(p, profile, explicit, &done, &fp);
	if (!rc && !done)
		rc = from_endpoints(p, &fp, profile);
	creds_profile_release(&fp);
	if (rc) {
		provider_destroy(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Providers are shared while they live: the targets one process opens
 * for the same profile (the mount opens more than one) use one cache of
 * credentials and one refresh, as one AWS SDK client would. */
int cloud_creds_provider_new(const char *profile,
			     struct cloud_creds_provider **out)
{
	const char *key = profile ? profile : "";
	struct cloud_creds_provider *p;
	int rc = 0;

	pthread_mutex_lock(&reg_mu);
	for (p = reg_head; p; p = p->next)
		if (!strcmp(p->profile_arg, key))
			break;
	if (p) {
		p->refs++;
	} else {
		rc = resolve(profile, &p);
		if (!rc && !(p->profile_arg = strdup(key))) {
			provider_destroy(p);
			rc = -ENOMEM;
		}
		if (!rc) {
			p->shared = true;
			p->refs = 1;
			p->next = reg_head;
			reg_head = p;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	if (!rc)
		*out = p;
	return rc;
}

/* With mu held: fetch again when due. */
static void refresh_if_due(struct cloud_creds_provider *p, int64_t now)
{
	struct cloud_creds c;
	char hint[16];

	if (!p->refresh_at || now < p->refresh_at || now < p->retry_at)
		return;
	memset(&c, 0, sizeof(c));
	if (fetch(p, false, &c) == 0 && adopt(p, &c, "refreshed") == 0)
		return;
	p->retry_at = now + CREDS_RETRY_S;
	creds_key_hint(p->cur.access_key, hint, sizeof(hint));
	if (now >= p->cur.expiration)
		log_error("cannot refresh aws credentials from the %s: those "
			  "held (key id %s) have expired; trying again in %d s",
			  source_name(p->kind), hint, CREDS_RETRY_S);
	else
		log_warn("cannot refresh aws credentials from the %s: using "
			 "those held (key id %s) for %lld s more",
			 source_name(p->kind), hint,
			 (long long)(p->cur.expiration - now));
}

int cloud_creds_provider_get(struct cloud_creds_provider *p,
			     struct cloud_creds *snap)
{
	int64_t now = creds_now();
	int rc;

	pthread_mutex_lock(&p->mu);
	refresh_if_due(p, now);
	if (p->cur.expiration && now >= p->cur.expiration)
		rc = -ENOKEY;
	else
		rc = cloud_creds_set(snap, p->cur.access_key, p->cur.secret_key,
				     p->cur.session_token);
	if (!rc)
		snap->expiration = p->cur.expiration;
	pthread_mutex_unlock(&p->mu);
	return rc;
}
