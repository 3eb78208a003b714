/*
 * creds.c - credentials as values (set, release, checks) and the shared
 * files: the credentials file and the config file of the AWS tools, read
 * for one profile (creds_profile_read).  The chain that decides among
 * the sources is creds_chain.c.
 *
 * A shared file that group or others may access is used, with a warning
 * (as ssh warns about keys): the secrets in it are not private.  Files
 * are read whole, at most CREDS_FILE_MAX bytes; a missing file is no
 * error (the next source is tried).
 */
#include "config.h"

#include "cloud/creds_internal.h"

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
	struct cloud_creds c = { NULL, NULL, NULL, 0 };

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

/* What one section of an INI file holds for us. */
struct ini_out {
	struct cloud_creds c;
	char *process; /* credential_process */
	bool seen; /* the section exists */
};

static int ini_line(const char *s, const char *e, const char *profile, bool *in,
		    struct ini_out *o)
{
	const char *eq, *ks, *ke, *vs, *ve;

	trim(&s, &e);
	if (s == e || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));

		*in = close && section_is(s + 1, close, profile);
		o->seen = o->seen || *in;
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
		return take(&o->c.access_key, vs, ve);
	if (span_is(ks, ke, "aws_secret_access_key"))
		return take(&o->c.secret_key, vs, ve);
	if (span_is(ks, ke, "aws_session_token") ||
	    span_is(ks, ke, "aws_security_token"))
		return take(&o->c.session_token, vs, ve);
	if (span_is(ks, ke, "credential_process"))
		return take(&o->process, vs, ve);
	return 0;
}

static void ini_out_release(struct ini_out *o)
{
	cloud_creds_release(&o->c);
	wipe_free(o->process);
	o->process = NULL;
}

static int ini_parse(const char *buf, size_t len, const char *profile,
		     struct ini_out *o)
{
	const char *p = buf, *end = buf + len;
	bool in = false;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			nl = end;
		rc = ini_line(p, nl, profile, &in, o);
		p = nl + 1;
	}
	if (rc)
		ini_out_release(o);
	return rc;
}

static bool has_keys(const struct cloud_creds *c)
{
	return c->access_key && c->access_key[0] && c->secret_key &&
	       c->secret_key[0];
}

int cloud_creds_parse_ini(const char *buf, size_t len, const char *profile,
			  struct cloud_creds *out)
{
	struct ini_out o;
	int rc = ini_parse(buf, len, profile, &o);

	if (rc)
		return rc;
	if (!has_keys(&o.c)) {
		ini_out_release(&o);
		return -ENOKEY;
	}
	if (o.c.session_token && !o.c.session_token[0]) {
		free(o.c.session_token);
		o.c.session_token = NULL;
	}
	*out = o.c;
	o.c.access_key = o.c.secret_key = o.c.session_token = NULL;
	ini_out_release(&o);
	return 0;
}

static char *read_small_file(const char *path, size_t *len, mode_t *mode)
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
	*mode = st.st_mode;
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

static void file_path(char *path, size_t len, const char *env_name,
		      const char *home_rel)
{
	const char *env = getenv(env_name);
	const char *home = getenv("HOME");

	if (env && env[0])
		snprintf(path, len, "%s", env);
	else if (home && home[0])
		snprintf(path, len, "%s/%s", home, home_rel);
	else
		snprintf(path, len, "~/%s", home_rel);
}

/* Read path's section for profile into *o; a missing file is empty. */
static int read_profile(const char *path, const char *profile,
			struct ini_out *o)
{
	size_t len = 0;
	mode_t mode = 0;
	char *buf = path[0] == '~' ? NULL : read_small_file(path, &len, &mode);
	int rc;

	memset(o, 0, sizeof(*o));
	if (!buf)
		return 0;
	rc = ini_parse(buf, len, profile, o);
	OPENSSL_cleanse(buf, len);
	free(buf);
	/* as ssh does for keys: secrets others can read are not secret */
	if (!rc && (mode & 077) && (o->c.secret_key || o->c.session_token))
		log_warn("unsafe permissions %04o on credentials file '%s': "
			 "group or others can read it (chmod 600 it)",
			 (unsigned)(mode & 07777), path);
	return rc;
}

void creds_profile_release(struct creds_profile *p)
{
	if (!p)
		return;
	cloud_creds_release(&p->file);
	cloud_creds_release(&p->config);
	wipe_free(p->process);
	p->process = NULL;
}

int creds_profile_read(const char *profile, struct creds_profile *out)
{
	struct ini_out f, c;
	int rc;

	memset(out, 0, sizeof(*out));
	file_path(out->cred_path, sizeof(out->cred_path),
		  "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	file_path(out->config_path, sizeof(out->config_path), "AWS_CONFIG_FILE",
		  ".aws/config");
	rc = read_profile(out->cred_path, profile, &f);
	if (rc)
		return rc;
	rc = read_profile(out->config_path, profile, &c);
	if (rc) {
		ini_out_release(&f);
		return rc;
	}
	out->found = f.seen || c.seen;
	out->file = f.c;
	out->config = c.c;
	if (f.process && f.process[0]) {
		out->process = f.process;
		f.process = NULL;
	} else if (c.process && c.process[0]) {
		out->process = c.process;
		c.process = NULL;
	}
	wipe_free(f.process);
	wipe_free(c.process);
	return 0;
}

bool creds_field_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= max || s[n] <= ' ' || s[n] > '~')
			return false;
	return n > 0;
}

void creds_key_hint(const char *key, char *buf, size_t len)
{
	size_t n = key ? strlen(key) : 0;

	snprintf(buf, len, "...%s", n > 4 ? key + n - 4 : "");
}

int cloud_creds_load(const char *profile, struct cloud_creds *out)
{
	struct cloud_creds_provider *p;
	int rc = cloud_creds_provider_new(profile, &p);

	if (rc)
		return rc;
	rc = cloud_creds_provider_get(p, out);
	cloud_creds_provider_free(p);
	return rc;
}
