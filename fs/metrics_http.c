/*
 * metrics_http.c - GET /metrics over HTTP for a Prometheus scraper
 * (-o metrics_listen=ADDR:PORT), served by libmicrohttpd.
 *
 * The listening socket is ours: made, bound and put in listen state here
 * (close-on-exec, SO_REUSEADDR), so a failure is reported with its errno
 * and fails the mount ("cannot listen for metrics on '...': Address
 * already in use"); it is then handed to libmicrohttpd, which answers
 * from one internal polling thread and closes the socket at stop.
 *
 * Answers:
 *   GET or HEAD /metrics  200, text/plain; version=0.0.4 (the same series
 *                         as MOUNTPOINT/.caravan-metrics, each carrying
 *                         store="STORE_DIR",mountpoint="MOUNTPOINT", and
 *                         caravanfs_build_info{version=...})
 *   another method        405 with Allow: GET, HEAD
 *   another path          404
 * A request body is never read; connections are bounded in number
 * (HTTP_MAX_CONNECTIONS) and idle time (HTTP_IDLE_S), and libmicrohttpd
 * bounds the request head; the server holds no secrets and changes
 * nothing.
 *
 * State: one server per process (a process serves one mount), in hx;
 * started before the first request can come and stopped (joining
 * libmicrohttpd's thread) at unmount before the store closes.  hx.labels
 * is read by that thread and written only while it does not run.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/metrics.h"
#include "fs/options.h"
#include "util/log.h"

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_IDLE_S 10
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct {
	struct MHD_Daemon *d;
	char *labels; /* store="...",mountpoint="..." */
	char where[INET6_ADDRSTRLEN + 16]; /* ADDR:PORT bound */
} hx;

/* Length of the UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlongs, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	cp = s[0] & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return len;
}

char *fs_metrics_label_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, k;
	/* worst case: every byte becomes U+FFFD (3 bytes) */
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	while (i < n) {
		if (p[i] == '\\' || p[i] == '"' || p[i] == '\n') {
			out[o++] = '\\';
			out[o++] = p[i] == '\n' ? 'n' : (char)p[i];
			i++;
			continue;
		}
		k = utf8_len(p + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return out;
}

static char *labels_new(const struct fs_config *c)
{
	char *store = fs_metrics_label_escape(c->store_dir);
	char *mnt = fs_metrics_label_escape(c->mountpoint);
	char *labels = NULL;

	if (store && mnt &&
	    asprintf(&labels, "store=\"%s\",mountpoint=\"%s\"", store, mnt) < 0)
		labels = NULL;
	free(store);
	free(mnt);
	return labels;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     char *body, size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) ==
		    MHD_NO ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") ==
		     MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(conn, status, body, strlen(body),
		     "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct fs *fs = cls;
	char *text;
	size_t len;

	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "not found: the metrics are at /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed\n");
	if (fs_metrics_render_labels(fs, hx.labels, &text, &len) < 0)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot render the metrics: out of memory\n");
	return reply(conn, MHD_HTTP_OK, text, len, METRICS_CONTENT_TYPE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_warn("metrics endpoint: %s", line);
}

/* "ADDR:PORT" of a bound socket, for the log. */
static void addr_str(int fd, char *buf, size_t len)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char host[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		snprintf(buf, len, "?");
	} else if (sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&sa;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	}
}

/* Our listening socket, or -errno. */
static int listen_on(const struct sockaddr_storage *sa, socklen_t salen)
{
	int one = 1, fd, rc;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (sa->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) <
		     0) ||
	    bind(fd, (const struct sockaddr *)sa, salen) < 0 ||
	    listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int fs_metrics_http_start(struct fs *fs)
{
	const char *spec = fs->cfg.metrics_listen;
	struct sockaddr_storage sa;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	socklen_t salen;
	int fd;

	if (!spec)
		return 0;
	if (fs_parse_listen(spec, &sa, &salen) < 0) {
		log_error("invalid metrics_listen '%s'", spec);
		return -EINVAL;
	}
	hx.labels = labels_new(&fs->cfg);
	if (!hx.labels)
		return -ENOMEM;
	fd = listen_on(&sa, salen);
	if (fd < 0) {
		log_error("cannot listen for metrics on '%s': %s", spec,
			  strerror(-fd));
		goto out_labels;
	}
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	addr_str(fd, hx.where, sizeof(hx.where));
	hx.d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, fs,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)HTTP_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)HTTP_IDLE_S, MHD_OPTION_END);
	if (!hx.d) {
		log_error("cannot start the metrics endpoint on '%s'",
			  hx.where);
		close(fd);
		fd = -EIO;
		goto out_labels;
	}
	log_info("serving metrics on http://%s/metrics", hx.where);
	return 0;
out_labels:
	free(hx.labels);
	hx.labels = NULL;
	return fd;
}

void fs_metrics_http_stop(struct fs *fs)
{
	if (!hx.d)
		return;
	MHD_stop_daemon(hx.d);
	hx.d = NULL;
	free(hx.labels);
	hx.labels = NULL;
	log_info("metrics endpoint on '%s' stopped", hx.where);
}
