/*
 * creds_http.c - credentials from HTTP endpoints: the container endpoint
 * (ECS, EKS Pod Identity) and EC2 instance metadata (IMDSv2), and the
 * JSON both they and credential_process answer with.
 *
 * Container: GET $AWS_CONTAINER_CREDENTIALS_FULL_URI (or
 * http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) with
 * "Authorization: TOKEN" when $AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 * $AWS_CONTAINER_AUTHORIZATION_TOKEN gives one.  As the SDKs do, a full
 * URI over plain http must name a loopback host or the ECS/EKS agents
 * (169.254.170.2, 169.254.170.23, [fd00:ec2::23]): a token never travels
 * in clear text elsewhere.
 *
 * IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds,
 * then GET /latest/meta-data/iam/security-credentials/ (the role name,
 * first line) and .../ROLE, both with X-aws-ec2-metadata-token.  The
 * endpoint is $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://[fd00:ec2::254]
 * when $AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is IPv6, else
 * http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true turns it off.
 * There is no IMDSv1 fallback: a metadata service that will not hand out
 * a session token hands out no credentials.
 *
 * Every answer is hostile: bodies at most CREDS_RESPONSE_MAX bytes (the
 * transport stops reading past it), status 200 required, the token and
 * the role name checked before they go into a header or a path, the
 * credentials parsed by creds_parse_json().  No redirects, no proxy (the
 * transport's), and log lines give the status or the transport's error,
 * never a header or a body.
 */
#include "config.h"

#include "cloud/creds_internal.h"

#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ECS_HOST "http://169.254.170.2"
#define IMDS_V4 "http://169.254.169.254"
#define IMDS_V6 "http://[fd00:ec2::254]"
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"
#define IMDS_ROLE_MAX 128
#define URL_MAX 2048

/* ---- parsing ---- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int creds_parse_time(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	const char *p;
	time_t t;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		const char *f = ++p;

		while (*p >= '0' && *p <= '9' && p - f < 9)
			p++;
		if (p == f)
			return -EINVAL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
		   !digits(p + 1, 2, &oh) && p[3] == ':' &&
		   !digits(p + 4, 2, &om) && oh < 24 && om < 60) {
		sign = *p == '+' ? 1 : -1;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*out = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* obj[name] as a checked string: NULL when absent; *bad when present
 * but not a string or not acceptable. */
static const char *field(json_t *obj, const char *name, size_t max, bool *bad)
{
	json_t *v = json_object_get(obj, name);
	const char *s;

	if (!v)
		return NULL;
	s = json_string_value(v);
	if (!s || !creds_field_ok(s, max) || strlen(s) != json_string_length(v))
		*bad = true;
	return *bad ? NULL : s;
}

static int parse_fields(json_t *root, enum creds_json kind,
			struct cloud_creds *out, char *why, size_t whylen)
{
	bool bad = false, meta = kind == CREDS_JSON_METADATA;
	const char *ak, *sk, *tok, *exp, *code;
	int64_t when = 0;
	json_t *ver;
	int rc;

	if (!json_is_object(root)) {
		snprintf(why, whylen, "not a JSON object");
		return -EBADMSG;
	}
	ver = json_object_get(root, "Version");
	if (!meta && (!json_is_integer(ver) || json_integer_value(ver) != 1)) {
		snprintf(why, whylen, "\"Version\" is not 1");
		return -EBADMSG;
	}
	code = meta ? field(root, "Code", 64, &bad) : NULL;
	if (code && strcmp(code, "Success") != 0) {
		snprintf(why, whylen, "\"Code\" is not \"Success\"");
		return -EBADMSG;
	}
	ak = field(root, "AccessKeyId", CREDS_KEY_MAX, &bad);
	sk = field(root, "SecretAccessKey", CREDS_KEY_MAX, &bad);
	tok = field(root, meta ? "Token" : "SessionToken", CREDS_TOKEN_MAX,
		    &bad);
	exp = field(root, "Expiration", 64, &bad);
	if (bad || !ak || !sk) {
		snprintf(why, whylen,
			 "AccessKeyId or SecretAccessKey missing, or a field "
			 "is not a short printable string");
		return -EBADMSG;
	}
	if (exp && creds_parse_time(exp, &when) < 0) {
		snprintf(why, whylen, "\"Expiration\" is not an RFC 3339 time");
		return -EBADMSG;
	}
	if (meta && !exp) {
		snprintf(why, whylen, "\"Expiration\" is missing");
		return -EBADMSG;
	}
	rc = cloud_creds_set(out, ak, sk, tok);
	if (!rc)
		out->expiration = when;
	return rc;
}

int creds_parse_json(const char *buf, size_t len, enum creds_json kind,
		     struct cloud_creds *out, char *why, size_t whylen)
{
	json_error_t err;
	json_t *root;
	int rc;

	if (len > CREDS_RESPONSE_MAX) {
		snprintf(why, whylen, "more than %d bytes", CREDS_RESPONSE_MAX);
		return -EBADMSG;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		/* err.text may quote the input: say where, not what */
		snprintf(why, whylen, "not JSON (line %d, column %d)", err.line,
			 err.column);
		return -EBADMSG;
	}
	rc = parse_fields(root, kind, out, why, whylen);
	json_decref(root);
	return rc;
}

/* ---- one request ---- */

/* Perform and demand 200.  On success *rs holds the answer (release it);
 * otherwise a log line names what and why (quiet: debug level). */
static int fetch(struct cloud_http *h, const char *what, const char *method,
		 const char *url, const char *const *hdrs, size_t nh,
		 bool quiet, struct cloud_http_response *rs)
{
	struct cloud_http_request rq;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = hdrs;
	rq.headers_len = nh;
	rq.max_response_bytes = CREDS_RESPONSE_MAX;
	rc = h->perform(h, &rq, rs);
	if (rc != 0) {
		log_msg(quiet ? LOG_LVL_DEBUG : LOG_LVL_ERROR,
			"cannot get aws credentials from the %s: %s", what,
			rs->error[0] ? rs->error : "transport error");
		return -ENOKEY;
	}
	if (rs->status != 200) {
		log_msg(quiet ? LOG_LVL_DEBUG : LOG_LVL_ERROR,
			"cannot get aws credentials from the %s: HTTP %ld",
			what, rs->status);
		cloud_http_response_release(rs);
		return -ENOKEY;
	}
	return 0;
}

static void wipe_response(struct cloud_http_response *rs)
{
	if (rs->body)
		OPENSSL_cleanse(rs->body, rs->body_len);
	cloud_http_response_release(rs);
}

static int parse_answer(struct cloud_http_response *rs, const char *what,
			struct cloud_creds *out)
{
	char why[160];
	int rc = creds_parse_json(rs->body, rs->body_len, CREDS_JSON_METADATA,
				  out, why, sizeof(why));

	wipe_response(rs);
	if (rc == -EBADMSG) {
		log_error("refusing aws credentials from the %s: %s", what,
			  why);
		return -ENOKEY;
	}
	return rc;
}

/* ---- container ---- */

bool creds_container_configured(void)
{
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");

	return (rel && rel[0]) || (full && full[0]);
}

static bool host_is(const char *h, size_t n, const char *want)
{
	return n == strlen(want) && !strncasecmp(h, want, n);
}

static bool is_loopback4(const char *h, size_t n)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &a) == 1 &&
	       (ntohl(a.s_addr) >> 24) == 127;
}

/* May a token go to url?  https anywhere; http only to loopback and the
 * ECS/EKS agents. */
static bool container_url_ok(const char *url)
{
	const char *h;
	size_t n;

	if (!creds_field_ok(url, URL_MAX))
		return false;
	if (!strncasecmp(url, "https://", 8))
		return url[8] != '\0';
	if (strncasecmp(url, "http://", 7))
		return false;
	h = url + 7;
	if (*h == '[') {
		n = strcspn(h, "]");
		if (h[n] != ']')
			return false;
		n++;
	} else {
		n = strcspn(h, ":/?#");
	}
	return is_loopback4(h, n) || host_is(h, n, "localhost") ||
	       host_is(h, n, "[::1]") || host_is(h, n, "169.254.170.2") ||
	       host_is(h, n, "169.254.170.23") ||
	       host_is(h, n, "[fd00:ec2::23]");
}

/* A header value: 1..CREDS_TOKEN_MAX printable ASCII bytes, inner
 * spaces allowed ("Bearer ..."), no control byte that could end the
 * header line. */
static bool header_value_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CREDS_TOKEN_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < ' ' || s[i] > '~')
			return false;
	return true;
}

/* The authorization token, or NULL (none); *bad on a bad one. */
static char *container_token(bool *bad)
{
	const char *path = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *env = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char buf[CREDS_TOKEN_MAX + 2];
	char *tok = NULL;
	ssize_t n;
	int fd;

	if (path && path[0]) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n < 0) {
			log_error(
				"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '%s'",
				path);
			*bad = true;
			return NULL;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		buf[n] = '\0';
		tok = strdup(buf);
		OPENSSL_cleanse(buf, sizeof(buf));
	} else if (env && env[0]) {
		tok = strdup(env);
	} else {
		return NULL;
	}
	if (!tok || !header_value_ok(tok)) {
		log_error("refusing the container authorization token: "
			  "not a short printable string");
		*bad = true;
		if (tok)
			OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
		return NULL;
	}
	return tok;
}

int creds_container_fetch(struct cloud_http *h, struct cloud_creds *out)
{
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct cloud_http_response rs;
	const char *hdr[1];
	char url[URL_MAX + sizeof(ECS_HOST)];
	char *tok, *line = NULL;
	bool bad = false;
	int rc;

	if (rel && rel[0])
		snprintf(url, sizeof(url), ECS_HOST "%s", rel);
	else
		snprintf(url, sizeof(url), "%s", full ? full : "");
	if ((rel && rel[0] &&
	     (rel[0] != '/' || !creds_field_ok(rel, URL_MAX))) ||
	    !container_url_ok(url)) {
		log_error(
			"refusing the container credentials endpoint: it must "
			"be https, or http to a loopback address or the "
			"ECS/EKS agent");
		return -ENOKEY;
	}
	tok = container_token(&bad);
	if (bad)
		return -ENOKEY;
	if (tok && asprintf(&line, "Authorization: %s", tok) < 0)
		line = NULL;
	if (tok) {
		OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
		if (!line)
			return -ENOMEM;
	}
	hdr[0] = line;
	rc = fetch(h, "container endpoint", "GET", url, hdr, line ? 1 : 0,
		   false, &rs);
	if (line) {
		OPENSSL_cleanse(line, strlen(line));
		free(line);
	}
	if (rc)
		return rc;
	return parse_answer(&rs, "container endpoint", out);
}

/* ---- IMDSv2 ---- */

bool creds_imds_disabled(void)
{
	const char *v = getenv("AWS_EC2_METADATA_DISABLED");

	return v && !strcasecmp(v, "true");
}

const char *creds_imds_endpoint(void)
{
	const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

	if (e && e[0])
		return e;
	return mode && !strcasecmp(mode, "IPv6") ? IMDS_V6 : IMDS_V4;
}

/* The first line of the role listing, checked as an IAM role name. */
static int role_name(const struct cloud_http_response *rs, char *role)
{
	size_t n = rs->body ? strcspn(rs->body, "\r\n") : 0;

	if (n == 0 || n > IMDS_ROLE_MAX || n > rs->body_len)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		char c = rs->body[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("+=,.@_-", c)))
			return -EBADMSG;
	}
	memcpy(role, rs->body, n);
	role[n] = '\0';
	return 0;
}

/* PUT /latest/api/token: the session token header line into *line. */
static int imds_token(struct cloud_http *h, const char *base, bool quiet,
		      char **line)
{
	struct cloud_http_response rs;
	char url[URL_MAX + 64], ttl[96];
	const char *hdr[1] = { ttl };
	size_t n;
	int rc;

	snprintf(url, sizeof(url), "%s/latest/api/token", base);
	snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d",
		 CREDS_IMDS_TOKEN_TTL_S);
	rc = fetch(h, "instance metadata", "PUT", url, hdr, 1, quiet, &rs);
	if (rc)
		return rc;
	if (rs.body) {
		n = strcspn(rs.body, "\r\n");
		rs.body[n] = '\0';
	}
	if (!creds_field_ok(rs.body, 4096)) {
		log_error("refusing the instance metadata session token: not "
			  "a short printable string");
		wipe_response(&rs);
		return -ENOKEY;
	}
	if (asprintf(line, "X-aws-ec2-metadata-token: %s", rs.body) < 0)
		*line = NULL;
	wipe_response(&rs);
	return *line ? 0 : -ENOMEM;
}

int creds_imds_fetch(struct cloud_http *h, bool quiet, struct cloud_creds *out)
{
	const char *ep = creds_imds_endpoint();
	struct cloud_http_response rs;
	char base[URL_MAX], url[URL_MAX + 256], role[IMDS_ROLE_MAX + 1];
	const char *hdr[1];
	char *line = NULL;
	size_t n = strlen(ep);
	int rc;

	while (n && ep[n - 1] == '/')
		n--;
	if (n >= sizeof(base) || !creds_field_ok(ep, URL_MAX) ||
	    (strncasecmp(ep, "http://", 7) && strncasecmp(ep, "https://", 8))) {
		log_error("invalid AWS_EC2_METADATA_SERVICE_ENDPOINT: expected "
			  "http[s]://HOST[:PORT]");
		return -ENOKEY;
	}
	memcpy(base, ep, n);
	base[n] = '\0';
	rc = imds_token(h, base, quiet, &line);
	if (rc)
		return rc;
	hdr[0] = line;
	snprintf(url, sizeof(url), "%s" IMDS_CREDS_PATH, base);
	rc = fetch(h, "instance metadata", "GET", url, hdr, 1, quiet, &rs);
	if (rc)
		goto out_line;
	rc = role_name(&rs, role);
	cloud_http_response_release(&rs);
	if (rc) {
		log_error("refusing the instance metadata role name: not an "
			  "IAM role name");
		rc = -ENOKEY;
		goto out_line;
	}
	snprintf(url, sizeof(url), "%s" IMDS_CREDS_PATH "%s", base, role);
	rc = fetch(h, "instance metadata", "GET", url, hdr, 1, false, &rs);
	if (!rc)
		rc = parse_answer(&rs, "instance metadata", out);
out_line:
	OPENSSL_cleanse(line, strlen(line));
	free(line);
	return rc;
}
