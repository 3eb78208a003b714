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
/* Count one fsync that took ns. */
void fs_metrics_fsync(struct fs *fs, int64_t ns);
/* Rewrite cfg.metrics_file every cfg.metrics_ms from a thread. */
int fs_metrics_start(struct fs *fs);
void fs_metrics_stop(struct fs *fs);

#endif
