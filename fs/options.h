/*
 * options.h - the command line of caravanfs: `caravanfs [options]
 * STORE_DIR MOUNTPOINT`, options as `-o name[=value],...` (also the way
 * mount(8) and /etc/fstab call it), plus -f, -d, -s, --help, --version.
 */
#ifndef FS_OPTIONS_H
#define FS_OPTIONS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "fs/fs_config.h"
#include "fs/fuse.h"

enum fs_action {
	FS_RUN,
	FS_HELP,
	FS_VERSION
};

struct fs_cmdline {
	enum fs_action action;
	bool single_thread;
};

void fs_config_default(struct fs_config *c);

/* Parse argv into c, removing what it consumed from args; what is left
 * (allow_other, default_permissions, ro, fsname=, ... and -d) is for
 * libfuse; allow_other adds default_permissions there.  Prints a clear message to stderr and returns -EINVAL on a bad
 * option or value.  c owns its strings: release with fs_config_release(). */
int fs_config_parse(struct fuse_args *args, struct fs_config *c,
		    struct fs_cmdline *cl);

/* Check a cloud target: "none", "dir:PATH", "s3://BUCKET[/PREFIX]".
 * Returns 0 or -EINVAL with a message in err (errlen bytes). */
int fs_cloud_url_check(const char *url, char *err, size_t errlen);

/* "64M", "4G", "1024", "512K": binary multiples.  0 or -EINVAL. */
int fs_parse_size(const char *s, uint64_t *out);

/* A listen address: "PORT" (loopback, 127.0.0.1), "ADDR:PORT" or
 * "[ADDR6]:PORT", ADDR numeric or "localhost"; PORT 0..65535 (0: any free
 * port).  0 or -EINVAL. */
int fs_parse_listen(const char *s, struct sockaddr_storage *sa,
		    socklen_t *salen);

void fs_config_help(FILE *f, const char *prog);
void fs_config_release(struct fs_config *c);

#endif
