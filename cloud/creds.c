/*
 * creds.c - credentials from the environment or the shared file.  A
 * shared file that group or others may access is used, with a warning
 * (as ssh warns about keys): the secrets in it are not private.
 */
#include "config.h"

#include "cloud/creds.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREDS_FILE_MAX (1024 * 1024)

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void cloud_creds_release(struct cloud_creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key);
	wipe_free(c->secret_key);
	wipe_free(c->session_token);
	c->access_key = c->secret_key = c->session_token = NULL;
}

int cloud_creds_set(struct cloud_creds *out, const char *access_key,
		    const char *secret_key, const char *token)
{
	struct cloud_creds c = { NULL, NULL, NULL };

	if (!access_key || !access_key[0] || !secret_key || !secret_key[0])
		return -ENOKEY;
	c.access_key = strdup(access_key);
	c.secret_key = strdup(secret_key);
	if (token && token[0])
		c.session_token = strdup(token);
	if (!c.access_key || !c.secret_key ||
	    (token && token[0] && !c.session_token)) {
		cloud_creds_release(&c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim [*s, *e) in place. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static bool span_is(const char *s, const char *e, const char *want)
{
	size_t n = strlen(want);

	return (size_t)(e - s) == n && !strncasecmp(s, want, n);
}

/* Is [s, e) the section header of profile ("name" or "profile name")? */
static bool section_is(const char *s, const char *e, const char *profile)
{
	size_t n = strlen(profile);

	trim(&s, &e);
	if ((size_t)(e - s) == n && !memcmp(s, profile, n))
		return true;
	if (e - s > 8 && !memcmp(s, "profile ", 8)) {
		s += 8;
		trim(&s, &e);
		return (size_t)(e - s) == n && !memcmp(s, profile, n);
	}
	return false;
}

static int take(char **slot, const char *s, const char *e)
{
	char *v = strndup(s, (size_t)(e - s));

	if (!v)
		return -ENOMEM;
	wipe_free(*slot);
	*slot = v;
	return 0;
}

static int ini_line(const char *s, const char *e, const char *profile, bool *in,
		    struct cloud_creds *c)
{
	const char *eq, *ks, *ke, *vs, *ve;

	trim(&s, &e);
	if (s == e || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));

		*in = close && section_is(s + 1, close, profile);
		return 0;
	}
	if (!*in)
		return 0;
	eq = memchr(s, '=', (size_t)(e - s));
	if (!eq)
		return 0;
	ks = s;
	ke = eq;
	vs = eq + 1;
	ve = e;
	trim(&ks, &ke);
	trim(&vs, &ve);
	if (span_is(ks, ke, "aws_access_key_id"))
		return take(&c->access_key, vs, ve);
	if (span_is(ks, ke, "aws_secret_access_key"))
		return take(&c->secret_key, vs, ve);
	if (span_is(ks, ke, "aws_session_token") ||
	    span_is(ks, ke, "aws_security_token"))
		return take(&c->session_token, vs, ve);
	return 0;
}

int cloud_creds_parse_ini(const char *buf, size_t len, const char *profile,
			  struct cloud_creds *out)
{
	struct cloud_creds c = { NULL, NULL, NULL };
	const char *p = buf, *end = buf + len;
	bool in = false;
	int rc = 0;

	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			nl = end;
		rc = ini_line(p, nl, profile, &in, &c);
		p = nl + 1;
	}
	if (!rc && (!c.access_key || !c.access_key[0] || !c.secret_key ||
		    !c.secret_key[0]))
		rc = -ENOKEY;
	if (rc) {
		cloud_creds_release(&c);
		return rc;
	}
	if (c.session_token && !c.session_token[0]) {
		free(c.session_token);
		c.session_token = NULL;
	}
	*out = c;
	return 0;
}

static char *read_small_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size > CREDS_FILE_MAX) {
		close(fd);
		return NULL;
	}
	/* as ssh does for keys: secrets others can read are not secret */
	if (st.st_mode & 077)
		log_warn("unsafe permissions %04o on credentials file '%s': "
			 "group or others can read it (chmod 600 it)",
			 (unsigned)(st.st_mode & 07777), path);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static int from_file(const char *profile, struct cloud_creds *out)
{
	const char *env = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME");
	char path[4096];
	size_t len = 0;
	char *buf;
	int rc;

	if (env && env[0])
		snprintf(path, sizeof(path), "%s", env);
	else if (home && home[0])
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	else
		path[0] = '\0';
	buf = path[0] ? read_small_file(path, &len) : NULL;
	if (!buf) {
		log_error("no aws credentials: AWS_ACCESS_KEY_ID is not set "
			  "and '%s' cannot be read",
			  path[0] ? path : "~/.aws/credentials");
		return -ENOKEY;
	}
	rc = cloud_creds_parse_ini(buf, len, profile, out);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (rc == -ENOKEY)
		log_error("no aws credentials for profile '%s' in '%s'",
			  profile, path);
	return rc;
}

int cloud_creds_load(const char *profile, struct cloud_creds *out)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");

	if (ak && ak[0]) {
		if (!sk || !sk[0]) {
			log_error("no aws credentials: AWS_ACCESS_KEY_ID is "
				  "set but AWS_SECRET_ACCESS_KEY is not");
			return -ENOKEY;
		}
		return cloud_creds_set(out, ak, sk,
				       getenv("AWS_SESSION_TOKEN"));
	}
	if (!profile || !profile[0])
		profile = getenv("AWS_PROFILE");
	if (!profile || !profile[0])
		profile = "default";
	return from_file(profile, out);
}
