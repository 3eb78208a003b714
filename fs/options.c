/*
 * options.c - parsing and checking the command line of caravanfs.
 *
 * Every option of ours is matched by a FUSE_OPT_KEY template and consumed
 * in opt_proc(); whatever is not ours stays in the argument vector for
 * libfuse (allow_other, default_permissions, ro, fsname=, subtype=, ...);
 * ro and allow_other are noted on the way, and allow_other brings
 * default_permissions with it: whenever other users can reach the mount
 * the kernel checks their access against mode and owner.
 * Options that mount(8) and systemd put into the option string but that
 * mean nothing to a FUSE daemon (defaults, noauto, nofail, _netdev, x-*,
 * ...) are dropped so an /etc/fstab line works.  Values are checked here,
 * with a message naming the option, before anything is created.
 */
#include "config.h"

#include "fs/options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fs/fs.h"
#include "store/doc.h"
#include "store/store.h"

enum opt_key {
	K_HELP,
	K_VERSION,
	K_FG,
	K_DEBUG,
	K_SINGLE,
	K_DROP,
	K_CAPACITY,
	K_CUTOVER,
	K_COMMIT_MS,
	K_SYNC,
	K_CACHE,
	K_MAX_DOC,
	K_MAX_PATCH,
	K_COMPACT_ENTRIES,
	K_COMPACT_RATIO,
	K_COMPACT_MIN,
	K_CLOUD,
	K_S3_ENDPOINT,
	K_S3_REGION,
	K_S3_PATH_STYLE,
	K_BACKUP_DELAY,
	K_CLOUD_TAKEOVER,
	K_CLOUD_LEASE_MS,
	K_ENTRY_TIMEOUT,
	K_ATTR_TIMEOUT,
	K_DIRECT_IO,
	K_MAX_THREADS,
	K_CLOSE_SYNC,
	K_METRICS_FILE,
	K_METRICS_MS,
	K_METRICS_LISTEN,
	K_RO,
	K_ALLOW_OTHER,
	K_DEFAULT_PERMISSIONS,
	K_MAX_PINNED,
	K_MAX_PENDING,
	K_RETENTION,
	K_MAX_CAPACITY,
	K_MIN_FREE,
	K_FOLLOW,
	K_FOLLOW_POLL_MS,
	K_EVICT,
	K_EVICT_LOW,
	K_HISTORY,
	K_HISTORY_AGE,
};

static const struct fuse_opt opt_spec[] = {
	FUSE_OPT_KEY("-h", K_HELP),
	FUSE_OPT_KEY("--help", K_HELP),
	FUSE_OPT_KEY("-V", K_VERSION),
	FUSE_OPT_KEY("--version", K_VERSION),
	FUSE_OPT_KEY("-f", K_FG),
	FUSE_OPT_KEY("-d", K_DEBUG),
	FUSE_OPT_KEY("debug", K_DEBUG),
	FUSE_OPT_KEY("-s", K_SINGLE),
	FUSE_OPT_KEY("capacity=%s", K_CAPACITY),
	FUSE_OPT_KEY("max_capacity=%s", K_MAX_CAPACITY),
	FUSE_OPT_KEY("min_free=%s", K_MIN_FREE),
	FUSE_OPT_KEY("cutover=%s", K_CUTOVER),
	FUSE_OPT_KEY("commit_ms=%s", K_COMMIT_MS),
	FUSE_OPT_KEY("sync", K_SYNC),
	FUSE_OPT_KEY("cache=%s", K_CACHE),
	FUSE_OPT_KEY("max_doc=%s", K_MAX_DOC),
	FUSE_OPT_KEY("max_patch=%s", K_MAX_PATCH),
	FUSE_OPT_KEY("compact_entries=%s", K_COMPACT_ENTRIES),
	FUSE_OPT_KEY("compact_ratio=%s", K_COMPACT_RATIO),
	FUSE_OPT_KEY("compact_min=%s", K_COMPACT_MIN),
	FUSE_OPT_KEY("cloud=%s", K_CLOUD),
	FUSE_OPT_KEY("s3_endpoint=%s", K_S3_ENDPOINT),
	FUSE_OPT_KEY("s3_region=%s", K_S3_REGION),
	FUSE_OPT_KEY("s3_path_style", K_S3_PATH_STYLE),
	FUSE_OPT_KEY("backup_delay_ms=%s", K_BACKUP_DELAY),
	FUSE_OPT_KEY("cloud_takeover", K_CLOUD_TAKEOVER),
	FUSE_OPT_KEY("cloud_lease_ms=%s", K_CLOUD_LEASE_MS),
	FUSE_OPT_KEY("retention=%s", K_RETENTION),
	FUSE_OPT_KEY("entry_timeout=%s", K_ENTRY_TIMEOUT),
	FUSE_OPT_KEY("attr_timeout=%s", K_ATTR_TIMEOUT),
	FUSE_OPT_KEY("direct_io", K_DIRECT_IO),
	FUSE_OPT_KEY("max_threads=%s", K_MAX_THREADS),
	FUSE_OPT_KEY("close_sync", K_CLOSE_SYNC),
	FUSE_OPT_KEY("metrics_file=%s", K_METRICS_FILE),
	FUSE_OPT_KEY("metrics_ms=%s", K_METRICS_MS),
	FUSE_OPT_KEY("metrics_listen=%s", K_METRICS_LISTEN),
	FUSE_OPT_KEY("max_pinned=%s", K_MAX_PINNED),
	FUSE_OPT_KEY("max_pending=%s", K_MAX_PENDING),
	FUSE_OPT_KEY("follow", K_FOLLOW),
	FUSE_OPT_KEY("follow_poll_ms=%s", K_FOLLOW_POLL_MS),
	FUSE_OPT_KEY("evict=%s", K_EVICT),
	FUSE_OPT_KEY("evict_low=%s", K_EVICT_LOW),
	FUSE_OPT_KEY("history=%s", K_HISTORY),
	FUSE_OPT_KEY("history_age=%s", K_HISTORY_AGE),
	/* libfuse's, noted on the way */
	FUSE_OPT_KEY("ro", K_RO),
	FUSE_OPT_KEY("allow_other", K_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", K_DEFAULT_PERMISSIONS),
	/* mount(8), fstab and systemd options without meaning here */
	FUSE_OPT_KEY("defaults", K_DROP),
	FUSE_OPT_KEY("auto", K_DROP),
	FUSE_OPT_KEY("noauto", K_DROP),
	FUSE_OPT_KEY("nofail", K_DROP),
	FUSE_OPT_KEY("_netdev", K_DROP),
	FUSE_OPT_KEY("user", K_DROP),
	FUSE_OPT_KEY("nouser", K_DROP),
	FUSE_OPT_KEY("users", K_DROP),
	FUSE_OPT_KEY("comment=%s", K_DROP),
	FUSE_OPT_END,
};

struct parse_state {
	struct fs_config *c;
	struct fs_cmdline *cl;
	int nonopt;
	int bad;
	bool default_permissions;
};

/* The default of max_pinned and max_pending: an eighth of the physical
 * memory each (1 GiB when it cannot be known). */
static uint64_t memory_share(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 1ull << 30;
	return ((uint64_t)pages * (uint64_t)psize / 8) & ~((1ull << 20) - 1);
}

void fs_config_default(struct fs_config *c)
{
	struct store_options so;
	struct doc_options dopt;

	memset(c, 0, sizeof(*c));
	store_options_default(&so);
	doc_options_default(&dopt);
	c->capacity_bytes = so.capacity_bytes;
	c->max_capacity_bytes = so.max_capacity_bytes;
	c->min_free_bytes = so.min_free_bytes;
	c->cutover_bytes = so.cutover_bytes;
	c->commit_ms = so.commit_ms;
	c->cache_bytes = dopt.cache_bytes;
	c->max_doc_bytes = dopt.max_doc_bytes;
	c->max_patch_bytes = dopt.max_patch_bytes;
	c->compact_entries = dopt.compact_entries;
	c->compact_ratio = dopt.compact_ratio;
	c->compact_min_bytes = dopt.compact_min_bytes;
	c->history = dopt.history;
	c->history_age_ns = dopt.history_age_ns;
	c->backup_delay_ms = 1000;
	c->cloud_lease_ms = 10000;
	c->retention_ns = UINT64_C(7) * 86400 * 1000000000;
	c->evict_low_pct = 20;
	c->entry_timeout_s = 30.0;
	c->attr_timeout_s = 30.0;
	c->max_threads = 64;
	c->metrics_ms = 10000;
	c->follow_poll_ms = 1000;
	c->max_pinned_bytes = c->max_pending_bytes = memory_share();
}

int fs_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "N" (seconds) or N followed by s, m, h, d or w, into ns; "0" is 0. */
static int parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		char unit;
		uint64_t ns;
	} units[] = { { 's', 1000000000ull },
		      { 'm', 60000000000ull },
		      { 'h', 3600000000000ull },
		      { 'd', 86400000000000ull },
		      { 'w', 604800000000000ull } };
	uint64_t n = 0, mul = 1000000000ull;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > UINT64_MAX / 10 - 9)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p) {
		mul = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
			if (*p == units[i].unit && !p[1])
				mul = units[i].ns;
		if (!mul)
			return -EINVAL;
	}
	if (n > UINT64_MAX / mul)
		return -EINVAL;
	*out = n * mul;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool bucket_ok(const char *b, size_t n)
{
	size_t i;

	if (n < 3 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char ch = b[i];

		if (!(islower((unsigned char)ch) ||
		      isdigit((unsigned char)ch) || ch == '-' || ch == '.'))
			return false;
	}
	return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

int fs_cloud_url_check(const char *url, char *err, size_t errlen)
{
	const char *b, *slash;

	if (!strcmp(url, "none"))
		return 0;
	if (!strncmp(url, "dir:", 4)) {
		if (!url[4]) {
			snprintf(err, errlen,
				 "empty directory in cloud target '%s'", url);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(url, "s3://", 5)) {
		b = url + 5;
		slash = strchr(b, '/');
		if (!bucket_ok(b, slash ? (size_t)(slash - b) : strlen(b))) {
			snprintf(err, errlen,
				 "invalid bucket name in cloud target '%s'",
				 url);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(
		err, errlen,
		"unknown cloud target '%s' (use s3://BUCKET/PREFIX, dir:/PATH or none)",
		url);
	return -EINVAL;
}

static const char *opt_value(const char *arg)
{
	const char *eq = strchr(arg, '=');

	return eq ? eq + 1 : "";
}

static int set_string(char **field, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* Options that take a value: parse it into its field. */
static int opt_value_set(struct fs_config *c, int key, const char *v)
{
	switch (key) {
	case K_CAPACITY:
		c->capacity_set = true;
		return fs_parse_size(v, &c->capacity_bytes);
	case K_MAX_CAPACITY:
		return fs_parse_size(v, &c->max_capacity_bytes);
	case K_MIN_FREE:
		return fs_parse_size(v, &c->min_free_bytes);
	case K_CUTOVER:
		return fs_parse_size(v, &c->cutover_bytes);
	case K_COMMIT_MS:
		return parse_u32(v, &c->commit_ms);
	case K_CACHE:
		return fs_parse_size(v, &c->cache_bytes);
	case K_MAX_DOC:
		return fs_parse_size(v, &c->max_doc_bytes);
	case K_MAX_PATCH:
		return fs_parse_size(v, &c->max_patch_bytes);
	case K_COMPACT_ENTRIES:
		return parse_u32(v, &c->compact_entries);
	case K_COMPACT_RATIO:
		return parse_u32(v, &c->compact_ratio);
	case K_COMPACT_MIN:
		return fs_parse_size(v, &c->compact_min_bytes);
	case K_HISTORY:
		return parse_u32(v, &c->history);
	case K_HISTORY_AGE:
		return parse_duration(v, &c->history_age_ns);
	case K_CLOUD:
		return set_string(&c->cloud, v);
	case K_S3_ENDPOINT:
		return set_string(&c->s3_endpoint, v);
	case K_S3_REGION:
		return set_string(&c->s3_region, v);
	case K_BACKUP_DELAY:
		return parse_u32(v, &c->backup_delay_ms);
	case K_CLOUD_LEASE_MS:
		return parse_u32(v, &c->cloud_lease_ms);
	case K_RETENTION:
		return parse_duration(v, &c->retention_ns);
	case K_ENTRY_TIMEOUT:
		return parse_seconds(v, &c->entry_timeout_s);
	case K_ATTR_TIMEOUT:
		return parse_seconds(v, &c->attr_timeout_s);
	case K_MAX_THREADS:
		return parse_u32(v, &c->max_threads);
	case K_METRICS_FILE:
		return set_string(&c->metrics_file, v);
	case K_METRICS_MS:
		return parse_u32(v, &c->metrics_ms);
	case K_METRICS_LISTEN: {
		struct sockaddr_storage sa;
		socklen_t len;

		if (fs_parse_listen(v, &sa, &len) < 0)
			return -EINVAL;
		return set_string(&c->metrics_listen, v);
	}
	case K_MAX_PINNED:
		return fs_parse_size(v, &c->max_pinned_bytes);
	case K_MAX_PENDING:
		return fs_parse_size(v, &c->max_pending_bytes);
	case K_FOLLOW_POLL_MS:
		return parse_u32(v, &c->follow_poll_ms) < 0 ||
				       c->follow_poll_ms == 0
			       ? -EINVAL
			       : 0;
	case K_EVICT:
		if (strcmp(v, "on") && strcmp(v, "off"))
			return -EINVAL;
		c->evict_off = !strcmp(v, "off");
		return 0;
	case K_EVICT_LOW:
		if (parse_u32(v, &c->evict_low_pct) < 0 ||
		    c->evict_low_pct < 1 || c->evict_low_pct > 90)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_port(const char *s, uint16_t *out)
{
	uint32_t v;

	if (parse_u32(s, &v) < 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int fs_parse_listen(const char *s, struct sockaddr_storage *sa,
		    socklen_t *salen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hl;
	uint16_t port;

	memset(sa, 0, sizeof(*sa));
	if (!colon) {
		colon = s - 1;
		hl = 0;
	} else {
		hl = (size_t)(colon - s);
	}
	if (parse_port(colon + 1, &port) < 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*salen = sizeof(*in6);
		return 0;
	}
	if (hl == 0 || !strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -EINVAL;
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*salen = sizeof(*in4);
	return 0;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct parse_state *ps = data;
	struct fs_config *c = ps->c;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (ps->nonopt == 0 && set_string(&c->store_dir, arg) == 0) {
			ps->nonopt++;
			return 0;
		}
		if (ps->nonopt == 1 && set_string(&c->mountpoint, arg) == 0) {
			ps->nonopt++;
			return 0;
		}
		fprintf(stderr, "caravanfs: unexpected argument '%s'\n", arg);
		ps->bad = 1;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (!strncmp(arg, "x-", 2))
			return 0; /* x-systemd.*, x-gvfs-*: for other programs */
		return 1; /* libfuse's */
	case K_HELP:
		ps->cl->action = FS_HELP;
		return 0;
	case K_VERSION:
		ps->cl->action = FS_VERSION;
		return 0;
	case K_FG:
		c->foreground = true;
		return 0;
	case K_DEBUG:
		c->foreground = c->debug = true;
		return 1; /* libfuse prints its requests too */
	case K_SINGLE:
		ps->cl->single_thread = true;
		return 0;
	case K_DROP:
		return 0;
	case K_SYNC:
		c->sync = true;
		return 0;
	case K_S3_PATH_STYLE:
		c->s3_path_style = true;
		return 0;
	case K_CLOUD_TAKEOVER:
		c->cloud_takeover = true;
		return 0;
	case K_CLOSE_SYNC:
		c->close_sync = true;
		return 0;
	case K_DIRECT_IO:
		c->direct_io = true;
		return 0;
	case K_RO:
		c->read_only = true;
		return 1;
	case K_ALLOW_OTHER:
		c->allow_other = true;
		return 1;
	case K_FOLLOW:
		c->follow = true;
		return 0;
	case K_DEFAULT_PERMISSIONS:
		ps->default_permissions = true;
		return 1;
	default:
		break;
	}
	if (opt_value_set(c, key, opt_value(arg)) < 0) {
		fprintf(stderr, "caravanfs: invalid value in option '%s'\n",
			arg);
		ps->bad = 1;
	}
	return 0;
}

static int config_check(struct fs_config *c)
{
	char err[256];

	if (!c->store_dir || !c->mountpoint) {
		fprintf(stderr,
			"caravanfs: missing %s (usage: caravanfs [options] STORE_DIR MOUNTPOINT)\n",
			c->store_dir ? "MOUNTPOINT" : "STORE_DIR");
		return -EINVAL;
	}
	if (!c->cloud) {
		size_t n = strlen(c->store_dir) + sizeof("dir:.cloud");

		c->cloud = malloc(n);
		if (!c->cloud)
			return -ENOMEM;
		snprintf(c->cloud, n, "dir:%s.cloud", c->store_dir);
	}
	if (c->follow &&
	    (c->read_only || c->cloud_takeover ||
	     (strncmp(c->cloud, "s3://", 5) && strncmp(c->cloud, "dir:", 4)))) {
		fprintf(stderr,
			"caravanfs: follow needs cloud=s3://... or dir:..., and "
			"neither ro nor cloud_takeover\n");
		return -EINVAL;
	}
	if (c->follow) {
		/* the store changes behind the kernel's back: it caches
		 * nothing (fs/follow_glue.c) */
		c->entry_timeout_s = c->attr_timeout_s = 0;
		c->direct_io = true;
	}
	if (c->read_only && strcmp(c->cloud, "none")) {
		/* uploads and restores write to the store */
		free(c->cloud);
		c->cloud = strdup("none");
		if (!c->cloud)
			return -ENOMEM;
	}
	if (fs_cloud_url_check(c->cloud, err, sizeof(err)) < 0) {
		fprintf(stderr, "caravanfs: %s\n", err);
		return -EINVAL;
	}
	if (c->s3_endpoint && strncmp(c->s3_endpoint, "http://", 7) &&
	    strncmp(c->s3_endpoint, "https://", 8)) {
		fprintf(stderr,
			"caravanfs: invalid s3_endpoint '%s' (expected http:// or https://)\n",
			c->s3_endpoint);
		return -EINVAL;
	}
	if (c->max_doc_bytes < 16 || c->max_patch_bytes < 16) {
		fprintf(stderr,
			"caravanfs: max_doc and max_patch must be at least 16 bytes\n");
		return -EINVAL;
	}
	if (c->max_threads < 2 || c->max_threads > 1024) {
		fprintf(stderr,
			"caravanfs: max_threads must be between 2 and 1024\n");
		return -EINVAL;
	}
	if (c->max_pinned_bytes == 0 || c->max_pending_bytes == 0) {
		fprintf(stderr,
			"caravanfs: max_pinned and max_pending must not be 0\n");
		return -EINVAL;
	}
	if (c->cache_bytes == 0 || c->capacity_bytes == 0) {
		fprintf(stderr,
			"caravanfs: cache and capacity must not be 0\n");
		return -EINVAL;
	}
	return 0;
}

int fs_config_parse(struct fuse_args *args, struct fs_config *c,
		    struct fs_cmdline *cl)
{
	struct parse_state ps = { .c = c, .cl = cl };

	cl->action = FS_RUN;
	cl->single_thread = false;
	if (fuse_opt_parse(args, &ps, opt_spec, opt_proc) < 0)
		return -EINVAL;
	if (ps.bad)
		return -EINVAL;
	if (cl->action != FS_RUN)
		return 0;
	/* Other users can reach the mount: the kernel checks every access
	 * against mode and owner (docs/security.md). */
	if (c->allow_other && !ps.default_permissions &&
	    fuse_opt_add_arg(args, "-odefault_permissions") < 0)
		return -ENOMEM;
	return config_check(c);
}

static void size_str(uint64_t v, char *buf, size_t len)
{
	static const char sfx[] = "KMGT";
	int i = -1;

	while (v && v % 1024 == 0 && i < 3) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, sfx[i]);
}

void fs_config_help(FILE *f, const char *prog)
{
	struct fs_config d;
	char cap[32], cut[32], cache[32], mdoc[32], mpatch[32], cmin[32];
	char pinned[32], pending[32];

	fs_config_default(&d);
	size_str(d.capacity_bytes, cap, sizeof(cap));
	size_str(d.cutover_bytes, cut, sizeof(cut));
	size_str(d.cache_bytes, cache, sizeof(cache));
	size_str(d.max_doc_bytes, mdoc, sizeof(mdoc));
	size_str(d.max_patch_bytes, mpatch, sizeof(mpatch));
	size_str(d.compact_min_bytes, cmin, sizeof(cmin));
	size_str(d.max_pinned_bytes, pinned, sizeof(pinned));
	size_str(d.max_pending_bytes, pending, sizeof(pending));
	fprintf(f,
		"usage: %s [options] STORE_DIR MOUNTPOINT\n"
		"\n"
		"Mount the caravanfs document store in STORE_DIR (created on first\n"
		"mount) on MOUNTPOINT.  Options are given as -o opt[,opt...].\n"
		"\n"
		"general:\n"
		"  -h, --help              print this help and exit\n"
		"  -V, --version           print the version and exit\n"
		"  -f                      stay in the foreground (log to stderr)\n"
		"  -d, -o debug            foreground, debug log, print FUSE requests\n"
		"  -s                      single-threaded request loop\n"
		"\n"
		"store:\n"
		"  -o capacity=SIZE        data capacity of a new store; an existing\n"
		"                          smaller store grows to it (default %s)\n"
		"  -o max_capacity=SIZE    the store grows up to SIZE when it runs short\n"
		"                          (default 0: no bound but the disk)\n"
		"  -o min_free=SIZE        disk space growth leaves free (default 5%% of the\n"
		"                          file system or 1G, whichever is smaller)\n"
		"  -o cutover=SIZE         cut the write-ahead log over past SIZE (default %s)\n"
		"  -o commit_ms=N          background commit interval in ms (default %u)\n"
		"  -o sync                 every write is durable before it returns (default off)\n"
		"  -o close_sync           close(2) waits until the file's changes are durable\n"
		"                          (default off: fsync does)\n"
		"\n"
		"documents:\n"
		"  -o cache=SIZE           memory for materialized documents (default %s)\n"
		"  -o max_doc=SIZE         largest document, compact JSON (default %s)\n"
		"  -o max_patch=SIZE       largest single write value, compact JSON (default %s)\n"
		"  -o compact_entries=N    compact a document holding more entries (default %u)\n"
		"  -o compact_ratio=N      ... or storing more than N times its size (default %u)\n"
		"  -o compact_min=SIZE     ... once it stores more than SIZE (default %s)\n"
		"  -o history=N            versions of a document kept readable in\n"
		"                          MNT/.caravan-history besides the newest (default 16)\n"
		"  -o history_age=DURATION ... and only while replaced at most DURATION ago:\n"
		"                          N s, m, h, d or w; 0 no bound by age (default 0)\n"
		"\n"
		"cloud backup:\n"
		"  -o cloud=URL            s3://BUCKET/PREFIX, dir:/PATH or none\n"
		"                          (default dir:STORE_DIR.cloud)\n"
		"  -o s3_endpoint=URL      S3 endpoint (default the AWS endpoint of the region)\n"
		"  -o s3_region=NAME       S3 region (default $AWS_REGION or us-east-1)\n"
		"  -o s3_path_style        path-style addressing (default virtual-host)\n"
		"  -o backup_delay_ms=N    longest wait before a change is uploaded (default %u)\n"
		"  -o cloud_takeover       become the writer of a prefix another store wrote\n"
		"                          (after its machine was lost; default off: refused)\n"
		"  -o cloud_lease_ms=N     how often the writer lease is checked (default %u)\n"
		"  -o retention=DURATION   how far back point-in-time restores reach: N s, m,\n"
		"                          h, d or w; 0 keeps no change feed (default 7d)\n"
		"  -o follow               a read-only follower of the store writing cloud=\n"
		"                          (its change feed applied as it comes; default off)\n"
		"  -o follow_poll_ms=N     how often a follower looks for changes (default 1000)\n"
		"  -o evict=on|off         with a cloud target, free the data of documents\n"
		"                          the cloud holds when space runs low (default on)\n"
		"  -o evict_low=PERCENT    evict when less than PERCENT of what the store may\n"
		"                          hold is free (1-90, default 20)\n"
		"\n"
		"kernel interface:\n"
		"  -o entry_timeout=SECS   how long the kernel caches names (default %g)\n"
		"  -o attr_timeout=SECS    how long the kernel caches attributes (default %g;\n"
		"                          changes through the mount invalidate them at once)\n"
		"  -o direct_io            every open bypasses the page cache (default off:\n"
		"                          read-only opens use it when that is safe)\n"
		"  -o max_threads=N        threads serving requests at most (default %u)\n"
		"  -o allow_other          let other users access the mount (default off;\n"
		"                          implies default_permissions)\n"
		"  -o default_permissions  let the kernel check permissions (default off,\n"
		"                          on with allow_other)\n"
		"  -o ro                   mount read-only: the store is opened read-only\n"
		"                          (also on read-only media), no cloud backup\n"
		"                          (default off)\n"
		"\n"
		"memory a client can pin (past it: ENOMEM):\n"
		"  -o max_pinned=SIZE      document versions held by open read handles\n"
		"                          (default 1/8 of RAM: %s)\n"
		"  -o max_pending=SIZE     unfinished values held by write handles\n"
		"                          (default 1/8 of RAM: %s)\n"
		"\n"
		"operations:\n"
		"  -o metrics_file=PATH    rewrite PATH with Prometheus metrics (default none;\n"
		"                          the metrics are always readable at\n"
		"                          MOUNTPOINT/" FS_METRICS_NAME ")\n"
		"  -o metrics_ms=N         metrics_file rewrite interval in ms (default %u)\n"
		"  -o metrics_listen=ADDR:PORT\n"
		"                          serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                          (default off; a PORT alone listens on 127.0.0.1;\n"
		"                          [ADDR6]:PORT for IPv6, 0.0.0.0:PORT for every\n"
		"                          interface)\n"
		"\n"
		"SIZE takes K, M, G or T (binary multiples).  Other libfuse options\n"
		"(fsname=, subtype=, ...) are passed through.\n",
		prog, cap, cut, d.commit_ms, cache, mdoc, mpatch,
		d.compact_entries, d.compact_ratio, cmin, d.backup_delay_ms,
		d.cloud_lease_ms, d.entry_timeout_s, d.attr_timeout_s,
		d.max_threads, pinned, pending, d.metrics_ms);
}

void fs_config_release(struct fs_config *c)
{
	if (!c)
		return;
	free(c->store_dir);
	free(c->mountpoint);
	free(c->cloud);
	free(c->s3_endpoint);
	free(c->s3_region);
	free(c->metrics_file);
	free(c->metrics_listen);
	c->metrics_listen = NULL;
	c->store_dir = c->mountpoint = c->cloud = NULL;
	c->s3_endpoint = c->s3_region = c->metrics_file = NULL;
}
