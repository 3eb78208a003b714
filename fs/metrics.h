/*
 * metrics.h - the Prometheus metrics of a mount (fs/metrics.c).
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct fs;

/* Render every metric in Prometheus text format into a new buffer (free
 * with free()).  Returns 0 or -ENOMEM. */
int fs_metrics_render(struct fs *fs, char **out, size_t *len);
/* The same, every series carrying labels (borrowed: 'name="value",...',
 * values already escaped; "" for none). */
int fs_metrics_render_labels(struct fs *fs, const char *labels, char **out,
			     size_t *len);
/* Start what cfg asks for: the HTTP endpoint of cfg.metrics_listen
 * (fs/metrics_http.c) and a thread rewriting cfg.metrics_file every
 * cfg.metrics_ms.  0, or -errno after a log line (a port that cannot be
 * bound fails the mount). */
int fs_metrics_start(struct fs *fs);
/* Stop both; the endpoint closes its socket and connections. */
void fs_metrics_stop(struct fs *fs);

/* ---- fs/metrics_http.c ---- */
/* Serve GET /metrics on cfg.metrics_listen from libmicrohttpd's thread.
 * 0 (also when metrics_listen is unset) or -errno after a log line. */
int fs_metrics_http_start(struct fs *fs);
/* Stop serving; returns when no request is being answered.  Idempotent. */
void fs_metrics_http_stop(struct fs *fs);
/* Escape a label value of the text format (\\, \", \n; bytes that are
 * not UTF-8 become U+FFFD).  New string (free()) or NULL. */
char *fs_metrics_label_escape(const char *s);

#endif
