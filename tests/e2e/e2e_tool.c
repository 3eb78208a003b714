/*
 * e2e_tool.c - system-call level helper of the end-to-end tests: what the
 * shell cannot do or cannot report exactly (errno of one call, one byte
 * per write, pwrite at an offset, renameat2 flags, a snapshot read across
 * a change, threads, fsync acknowledgements).
 *
 * Results are printed as words: "OK" or the errno name (EINVAL, EFBIG, ...).
 *
 *   sys mkdir|rmdir|unlink|link|symlink|rename|rename_noreplace|
 *       rename_exchange|truncate|creat|fsync|fsyncdir|read|write|otrunc|
 *       ftruncate|chmod|chown|utimes|touchnow|getxattr|setxattr ARGS...
 *       one call (read/write/otrunc: an open and close; utimes sets
 *       explicit times, touchnow the current time); prints its result
 *   bigwrite FILE SIZE         one write of an unfinished SIZE-byte value
 *       and the retries of a short write; prints how the first went and
 *       the errno that ended the loop
 *   hold DIR COUNT SIZE        COUNT handles each holding SIZE bytes of an
 *       unfinished value; prints how many held, the errno of the next
 *   pin FILE COUNT             COUNT read handles each holding another
 *       version; prints how many opened, the errno of the next
 *   writes FILE MODE DATA...   open FILE (MODE: append, trunc, create,
 *       plain, rdwr), one write(2) per DATA (C escapes \n \t \\ \xHH are
 *       decoded), then close; prints one result per write and "close:R"
 *   bytewise FILE MODE         the same with stdin, one byte per write;
 *       prints the first failing write (its byte offset) and close
 *   pwrite FILE OFFSET DATA    open O_WRONLY, pwrite at OFFSET; result
 *   truncwrite FILE A B        open O_WRONLY, write A, ftruncate to 0,
 *       seek to 0, write B, close; prints the results
 *   snapread FILE DATA         open FILE for reading, read 3 bytes, append
 *       DATA through another descriptor, read the rest; prints what the
 *       first descriptor read (one version) and the file's content now
 *   concurrency DIR SECONDS    writers on a shared and on private documents
 *       while readers check every version they read; prints a summary and
 *       exits 1 on any bad read
 *   listrace DIR N             N listings of DIR while documents are
 *       created and deleted; every stable name exactly once in each
 *   crashwriter DIR DOCS ACK   one thread per document DIR/wN appends
 *       {"kI":I} and fsyncs; after each acknowledged fsync "N I" goes to
 *       ACK; runs until the filesystem stops answering
 *   crashcheck DIR DOCS ACK    every document parses, holds k1..kM with no
 *       hole and M >= the last acknowledged I
 *   patches FILE N BATCH       N patches {"n":I,"mJ":I} (J = I % 10) through
 *       one O_APPEND descriptor, BATCH per write; prints the expected
 *       document
 *   cacheread FILE HOW DATA    open FILE read-only, read 3 bytes, fstat;
 *       change the document (HOW: append DATA, trunc: rewrite with DATA
 *       through O_TRUNC, truncate: truncate(2) to 0, unlink, renameover:
 *       DATA written to FILE.new renamed over FILE); read the rest and
 *       fstat again; prints what the first descriptor read with its
 *       sizes and nlink, then what a new open reads with stat's size
 *   unlinked FILE              open FILE for reading and for appending,
 *       unlink it, then fstat, read and write through the descriptors;
 *       prints the results
 *   cachechurn DIR SECONDS [PAUSE_US]  writers change documents through
 *       short opens (O_APPEND patches, O_TRUNC rewrites; resting PAUSE_US
 *       after each, so readers also find them idle) while readers read
 *       them in small pieces, stat them, and read an open descriptor
 *       twice; every read is a whole state not older than the last
 *       acknowledged change, a descriptor reads the same twice, and stat
 *       never shows a size older than the last acknowledged change;
 *       prints a summary, exits 1 on any bad observation
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";

	return n ? n : "E?";
}

static const char *res(int rc)
{
	return ename(rc < 0 ? errno : 0);
}

static void die(const char *what)
{
	fprintf(stderr, "e2e_tool: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Decode \n \t \\ \xHH in place; returns the length. */
static size_t unescape(char *s)
{
	char *o = s, *p = s;

	while (*p) {
		if (*p != '\\' || !p[1]) {
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'n':
			*o++ = '\n';
			p++;
			break;
		case 't':
			*o++ = '\t';
			p++;
			break;
		case 'x': {
			char hex[3] = { p[1], p[2], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			p += 3;
			break;
		}
		default:
			*o++ = *p++;
			break;
		}
	}
	return (size_t)(o - s);
}

static int open_mode(const char *file, const char *mode)
{
	int flags;

	if (!strcmp(mode, "append"))
		flags = O_WRONLY | O_APPEND | O_CREAT;
	else if (!strcmp(mode, "trunc"))
		flags = O_WRONLY | O_TRUNC | O_CREAT;
	else if (!strcmp(mode, "create"))
		flags = O_WRONLY | O_CREAT | O_EXCL;
	else if (!strcmp(mode, "plain"))
		flags = O_WRONLY;
	else if (!strcmp(mode, "rdwr"))
		flags = O_RDWR;
	else {
		fprintf(stderr, "e2e_tool: unknown mode '%s'\n", mode);
		exit(2);
	}
	return open(file, flags, 0644);
}

static ssize_t write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* open FILE with flags, then close: -1 (errno set) or 0 */
static int open_close(const char *file, int flags)
{
	int fd = open(file, flags, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

/* The calls of the access-control tests; -2 for an unknown one. */
static int sys_more(const char *op, int argc, char **argv)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char buf[256];
	int fd, rc;

	if (!strcmp(op, "read") && argc == 2)
		return open_close(argv[1], O_RDONLY);
	if (!strcmp(op, "write") && argc == 2)
		return open_close(argv[1], O_WRONLY | O_APPEND);
	if (!strcmp(op, "otrunc") && argc == 2)
		return open_close(argv[1], O_WRONLY | O_TRUNC);
	if (!strcmp(op, "chmod") && argc == 3)
		return chmod(argv[1], (mode_t)strtol(argv[2], NULL, 8));
	if (!strcmp(op, "chown") && argc == 4)
		return chown(argv[1], (uid_t)atol(argv[2]),
			     (gid_t)atol(argv[3]));
	if (!strcmp(op, "utimes") && argc == 2)
		return utimensat(AT_FDCWD, argv[1], ts, 0);
	if (!strcmp(op, "touchnow") && argc == 2)
		return utimensat(AT_FDCWD, argv[1], NULL, 0);
	if (!strcmp(op, "getxattr") && argc == 3) {
		if (getxattr(argv[1], argv[2], buf, sizeof(buf)) < 0)
			return -1;
		return 0;
	}
	if (!strcmp(op, "setxattr") && argc == 3)
		return setxattr(argv[1], argv[2], "1", 1, 0);
	if (!strcmp(op, "ftruncate") && argc == 3) {
		fd = open(argv[1], O_WRONLY);
		if (fd < 0)
			return -1;
		rc = ftruncate(fd, atoll(argv[2]));
		if (rc < 0) {
			rc = errno;
			close(fd);
			errno = rc;
			return -1;
		}
		return close(fd);
	}
	return -2;
}

/* bigwrite FILE SIZE [complete]: one write(2) of SIZE bytes (a value
 * {"a":"xxx..., unfinished unless complete) through an overwrite handle,
 * and the retries of what a short write left, as write_all loops do;
 * prints how the first call went and the errno that ended the loop. */
static int cmd_bigwrite(int argc, char **argv)
{
	size_t size = (size_t)atoll(argv[1]), done = 0;
	ssize_t first = -2, n = 0;
	char *buf = malloc(size);
	const char *how;
	int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (!buf || size < 8 || fd < 0)
		die("bigwrite");
	memset(buf, 'x', size);
	memcpy(buf, "{\"a\":\"", 6);
	if (argc > 2 && !strcmp(argv[2], "complete"))
		memcpy(buf + size - 2, "\"}", 2);
	while (done < size) {
		n = write(fd, buf + done, size - done);
		if (first == -2)
			first = n;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	how = first == (ssize_t)size ? "whole" : "short";
	if (first < 0)
		how = "error";
	printf("first:%s %s\n", how, n < 0 ? ename(errno) : "OK");
	close(fd);
	free(buf);
	return 0;
}

/* hold DIR COUNT SIZE: COUNT write handles DIR/hN, each given SIZE bytes
 * of an unfinished value and kept open; prints how many took all of it
 * and the errno that stopped the next one.  Then the others close and
 * the first handle completes its value ("\"}") and closes; prints that. */
static int cmd_hold(int argc, char **argv)
{
	long count = atol(argv[1]), i, held = 0;
	size_t size = (size_t)atoll(argv[2]);
	char *buf = malloc(size), path[4096];
	const char *err = "none";
	int *fds = calloc((size_t)count, sizeof(int));

	if (!buf || !fds || size < 8)
		die("hold");
	memset(buf, 'x', size);
	memcpy(buf, "{\"a\":\"", 6);
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/h%ld", argv[0], i);
		fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fds[i] < 0)
			die("open");
		if (write_all(fds[i], buf, size) < 0) {
			err = ename(errno);
			break;
		}
		held++;
	}
	printf("held:%ld next:%s", held, err);
	for (i = 1; i < count; i++)
		if (fds[i] > 0)
			close(fds[i]); /* EINVAL: an incomplete value */
	printf(" finish:%s", res((int)write_all(fds[0], "\"}", 2)));
	printf(" close:%s\n", res(close(fds[0])));
	free(fds);
	free(buf);
	return 0;
}

/* pin FILE COUNT: COUNT read handles of FILE, each opened after a patch
 * {"pN":N} through another descriptor, so each holds another version;
 * prints how many opened and the errno that stopped the next one, then
 * whether a new open succeeds once they are closed. */
static int cmd_pin(int argc, char **argv)
{
	long count = atol(argv[1]), i, opened = 0;
	int *fds = calloc((size_t)count, sizeof(int)), w, fd;
	const char *err = "none";
	char patch[64];

	w = open(argv[0], O_WRONLY | O_APPEND);
	if (!fds || w < 0)
		die("pin");
	for (i = 0; i < count; i++) {
		snprintf(patch, sizeof(patch), "{\"p%ld\":%ld}\n", i, i);
		if (write_all(w, patch, strlen(patch)) < 0)
			die("write");
		fds[i] = open(argv[0], O_RDONLY);
		if (fds[i] < 0) {
			err = ename(errno);
			break;
		}
		opened++;
	}
	for (i = 0; i < opened; i++)
		close(fds[i]);
	fd = open(argv[0], O_RDONLY);
	printf("opened:%ld next:%s after:%s\n", opened, err,
	       fd < 0 ? ename(errno) : "OK");
	if (fd >= 0)
		close(fd);
	close(w);
	free(fds);
	return 0;
}

static int cmd_sys(int argc, char **argv)
{
	const char *op = argv[0];
	int rc = -1, fd;

	if (!strcmp(op, "mkdir") && argc == 2)
		rc = mkdir(argv[1], 0755);
	else if (!strcmp(op, "rmdir") && argc == 2)
		rc = rmdir(argv[1]);
	else if (!strcmp(op, "unlink") && argc == 2)
		rc = unlink(argv[1]);
	else if (!strcmp(op, "link") && argc == 3)
		rc = link(argv[1], argv[2]);
	else if (!strcmp(op, "symlink") && argc == 3)
		rc = symlink(argv[1], argv[2]);
	else if (!strcmp(op, "rename") && argc == 3)
		rc = rename(argv[1], argv[2]);
	else if (!strcmp(op, "rename_noreplace") && argc == 3)
		rc = renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2],
			       RENAME_NOREPLACE);
	else if (!strcmp(op, "rename_exchange") && argc == 3)
		rc = renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2],
			       RENAME_EXCHANGE);
	else if (!strcmp(op, "truncate") && argc == 3)
		rc = truncate(argv[1], atoll(argv[2]));
	else if (!strcmp(op, "creat") && argc == 2) {
		rc = fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0)
			rc = close(fd);
	} else if ((!strcmp(op, "fsync") || !strcmp(op, "fsyncdir")) &&
		   argc == 2) {
		rc = fd = open(argv[1], O_RDONLY);
		if (fd >= 0) {
			rc = fsync(fd);
			close(fd);
		}
	} else {
		rc = sys_more(op, argc, argv);
		if (rc == -2) {
			fprintf(stderr, "e2e_tool: bad sys call\n");
			return 2;
		}
	}
	printf("%s\n", res(rc));
	return 0;
}

static int cmd_writes(int argc, char **argv)
{
	int fd = open_mode(argv[0], argv[1]), i;

	if (fd < 0) {
		printf("open:%s\n", ename(errno));
		return 0;
	}
	for (i = 2; i < argc; i++) {
		size_t len = unescape(argv[i]);
		ssize_t n = write(fd, argv[i], len);

		printf("%s ", n < 0 ? ename(errno) : "OK");
	}
	printf("close:%s\n", res(close(fd)));
	return 0;
}

static int cmd_bytewise(int argc, char **argv)
{
	int fd = open_mode(argv[0], argv[1]), c;
	long off = 0, bad = -1;
	int err = 0;

	if (fd < 0) {
		printf("open:%s\n", ename(errno));
		return 0;
	}
	while ((c = getchar()) != EOF) {
		char ch = (char)c;

		if (write(fd, &ch, 1) != 1 && bad < 0) {
			bad = off;
			err = errno;
		}
		off++;
	}
	if (bad >= 0)
		printf("write:%s@%ld ", ename(err), bad);
	else
		printf("writes:OK ");
	printf("close:%s\n", res(close(fd)));
	return 0;
}

static int cmd_pwrite(int argc, char **argv)
{
	int fd = open(argv[0], O_WRONLY);
	size_t len;
	ssize_t n;

	if (fd < 0) {
		printf("open:%s\n", ename(errno));
		return 0;
	}
	len = unescape(argv[2]);
	n = pwrite(fd, argv[2], len, atoll(argv[1]));
	printf("%s ", n < 0 ? ename(errno) : "OK");
	printf("close:%s\n", res(close(fd)));
	return 0;
}

static int cmd_truncwrite(int argc, char **argv)
{
	int fd = open(argv[0], O_WRONLY);
	size_t la = unescape(argv[1]), lb = unescape(argv[2]);

	if (fd < 0) {
		printf("open:%s\n", ename(errno));
		return 0;
	}
	printf("%s ", res(write(fd, argv[1], la) < 0 ? -1 : 0));
	printf("%s ", res(ftruncate(fd, 0)));
	printf("%s ", res(lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0));
	printf("%s ", res(write(fd, argv[2], lb) < 0 ? -1 : 0));
	printf("close:%s\n", res(close(fd)));
	return 0;
}

static char *read_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	if (!buf)
		die("malloc");
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("realloc");
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0)
			return free(buf), NULL;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	char *buf;

	if (fd < 0)
		return NULL;
	buf = read_fd(fd, len);
	close(fd);
	return buf;
}

static int cmd_snapread(int argc, char **argv)
{
	int fd = open(argv[0], O_RDONLY), wfd;
	char head[4] = { 0 };
	size_t len, dlen;
	char *rest, *now;

	if (fd < 0 || read(fd, head, 3) != 3)
		die("open/read");
	wfd = open(argv[0], O_WRONLY | O_APPEND);
	dlen = unescape(argv[1]);
	if (wfd < 0 || write_all(wfd, argv[1], dlen) < 0 || close(wfd) < 0)
		die("append");
	rest = read_fd(fd, &len);
	close(fd);
	now = read_file(argv[0], &len);
	if (!rest || !now)
		die("read");
	printf("%s%s%s", head, rest, now);
	free(rest);
	free(now);
	return 0;
}

/* ---- caching: one version per descriptor, stat after a change ---- */

static void write_file(const char *path, int flags, const char *data,
		       size_t len)
{
	int fd = open(path, flags, 0644);

	if (fd < 0 || write_all(fd, data, len) < 0 || close(fd) < 0)
		die(path);
}

static int cmd_cacheread(int argc, char **argv)
{
	const char *file = argv[0], *how = argv[1];
	char head[4] = { 0 }, tmp[4096];
	size_t len = 0, dlen, nlen = 0;
	struct stat s0, s1, s2;
	char *rest, *now;
	int fd;

	dlen = argc > 2 ? unescape(argv[2]) : 0;
	fd = open(file, O_RDONLY);
	if (fd < 0 || read(fd, head, 3) != 3 || fstat(fd, &s0) < 0)
		die("open/read/fstat");
	if (!strcmp(how, "append")) {
		write_file(file, O_WRONLY | O_APPEND, argv[2], dlen);
	} else if (!strcmp(how, "trunc")) {
		write_file(file, O_WRONLY | O_TRUNC, argv[2], dlen);
	} else if (!strcmp(how, "truncate")) {
		if (truncate(file, 0) < 0)
			die("truncate");
	} else if (!strcmp(how, "unlink")) {
		if (unlink(file) < 0)
			die("unlink");
	} else if (!strcmp(how, "renameover")) {
		snprintf(tmp, sizeof(tmp), "%s.new", file);
		write_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, argv[2], dlen);
		if (rename(tmp, file) < 0)
			die("rename");
	} else {
		fprintf(stderr, "e2e_tool: unknown change '%s'\n", how);
		return 2;
	}
	rest = read_fd(fd, &len);
	if (!rest || fstat(fd, &s1) < 0)
		die("read/fstat");
	close(fd);
	printf("old=%s%s", head, rest);
	printf("old_len=%zu fstat_before=%lld fstat_after=%lld nlink=%lu\n",
	       len + 3, (long long)s0.st_size, (long long)s1.st_size,
	       (unsigned long)s1.st_nlink);
	now = read_file(file, &nlen);
	if (!now) {
		printf("new:%s\n", ename(errno));
	} else {
		if (stat(file, &s2) < 0)
			die("stat");
		printf("new=%snew_len=%zu stat=%lld\n", now, nlen,
		       (long long)s2.st_size);
	}
	free(rest);
	free(now);
	return 0;
}

static int cmd_unlinked(int argc, char **argv)
{
	int r = open(argv[0], O_RDONLY), w = open(argv[0], O_WRONLY | O_APPEND);
	const char *p = "{\"after\":1}\n";
	struct stat st;
	size_t len;
	char *text;

	if (r < 0 || w < 0)
		die("open");
	if (unlink(argv[0]) < 0)
		die("unlink");
	printf("fstat:%s", res(fstat(r, &st)));
	printf(" size=%lld nlink=%lu", (long long)st.st_size,
	       (unsigned long)st.st_nlink);
	text = read_fd(r, &len);
	printf(" read=%zu", text ? len : 0);
	printf(" write:%s", write(w, p, strlen(p)) < 0 ? ename(errno) : "OK");
	printf(" fstat_w:%s", res(fstat(w, &st)));
	printf(" close_w:%s", res(close(w)));
	printf(" close_r:%s\n", res(close(r)));
	free(text);
	return 0;
}

/* Documents of cachechurn: state k is {"n":k,"pad":"xx..."} with a pad
 * length that goes up and down with k, so a size taken from another
 * version, or a torn read, does not pass for it. */
enum {
	CC_DOCS = 2, /* doc0: O_APPEND patches, doc1: O_TRUNC rewrites */
	CC_READERS = 3
};

struct cc {
	const char *dir;
	atomic_int stop;
	atomic_long acked[CC_DOCS]; /* last state whose close returned */
	atomic_long reads, stats, rereads, bad, writes;
	long pause_us; /* writers rest this long after each change */
	char msg[512];
};

static size_t cc_pad(long k)
{
	return (size_t)((k * 37) % 500);
}

static size_t cc_state(char *buf, size_t cap, long k)
{
	size_t n = (size_t)snprintf(buf, cap, "{\"n\":%ld,\"pad\":\"", k);
	size_t pad = cc_pad(k);

	memset(buf + n, 'x', pad);
	n += pad;
	memcpy(buf + n, "\"}\n", 3);
	return n + 3;
}

static void cc_path(const struct cc *c, int d, char *path, size_t cap)
{
	snprintf(path, cap, "%s/doc%d", c->dir, d);
}

__attribute__((format(printf, 2, 3))) static void cc_fail(struct cc *c,
							  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&c->bad, 1);
}

static void *cc_writer(void *arg)
{
	struct cc *c = ((void **)arg)[0];
	int d = (int)(intptr_t)((void **)arg)[1];
	char path[4096], buf[1024];
	long k;

	cc_path(c, d, path, sizeof(path));
	for (k = 1; !atomic_load(&c->stop); k++) {
		size_t n = cc_state(buf, sizeof(buf), k);
		int flags = d == 0 ? O_WRONLY | O_APPEND : O_WRONLY | O_TRUNC;
		int fd = open(path, flags);

		if (fd < 0 || write_all(fd, buf, n) < 0 || close(fd) < 0) {
			snprintf(c->msg, sizeof(c->msg), "writer %d: %s", d,
				 strerror(errno));
			atomic_fetch_add(&c->bad, 1);
			return NULL;
		}
		atomic_store(&c->acked[d], k);
		atomic_fetch_add(&c->writes, 1);
		if (c->pause_us)
			usleep((useconds_t)c->pause_us);
	}
	return NULL;
}

/* The state text holds: k (0 for {}), or -1 when it is no state. */
static long cc_parse(const char *text, size_t len)
{
	char want[1024];
	long k;

	if (len == 3 && !memcmp(text, "{}\n", 3))
		return 0;
	if (sscanf(text, "{\"n\":%ld,", &k) != 1 || k < 1)
		return -1;
	if (cc_state(want, sizeof(want), k) != len || memcmp(want, text, len))
		return -1;
	return k;
}

/* Is size that of some state k >= from (or of {} on doc1)? */
static bool cc_size_ok(int d, long from, long upto, off_t size)
{
	char buf[1024];
	long k;

	if (d == 1 && size == 3)
		return true;
	for (k = from < 1 ? 1 : from; k <= upto; k++)
		if ((off_t)cc_state(buf, sizeof(buf), k) == size)
			return true;
	return from == 0 && size == 3;
}

/* Read fd in small pieces, yielding now and then. */
static char *cc_read_slowly(int fd, size_t *len)
{
	size_t cap = 2048, n = 0, step = 1;
	char *buf = malloc(cap);
	ssize_t r;

	if (!buf)
		die("malloc");
	for (;;) {
		r = read(fd, buf + n, step);
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		step = step % 61 + 7;
		if (n % 5 == 0)
			sched_yield();
		if (n + step >= cap)
			die("document too long");
	}
	*len = n;
	return buf;
}

static void cc_read_once(struct cc *c, int d)
{
	char path[4096], *text, *again;
	long before = atomic_load(&c->acked[d]), k, k2;
	size_t len, len2;
	struct stat st;
	int fd;

	cc_path(c, d, path, sizeof(path));
	if (stat(path, &st) < 0) {
		cc_fail(c, "stat: %s", strerror(errno));
		return;
	}
	atomic_fetch_add(&c->stats, 1);
	if (!cc_size_ok(d, before, atomic_load(&c->acked[d]) + 1, st.st_size)) {
		struct stat st2;
		long now = atomic_load(&c->acked[d]);

		stat(path, &st2);
		cc_fail(c,
			"doc%d: stat size %lld older than acknowledged state %ld (now %ld; a second stat: %lld)",
			d, (long long)st.st_size, before, now,
			(long long)st2.st_size);
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		cc_fail(c, "open: %s", strerror(errno));
		return;
	}
	text = cc_read_slowly(fd, &len);
	k = text ? cc_parse(text, len) : -1;
	atomic_fetch_add(&c->reads, 1);
	if (k < 0)
		cc_fail(c, "torn or wrong read of doc%d (%zu bytes)", d,
			text ? len : 0);
	else if (k != 0 && k < before)
		cc_fail(c, "read state %ld older than acknowledged %ld", k,
			before);
	/* the same descriptor again, after the writers moved on */
	usleep(200);
	if (text && lseek(fd, 0, SEEK_SET) == 0) {
		again = cc_read_slowly(fd, &len2);
		k2 = again ? cc_parse(again, len2) : -1;
		atomic_fetch_add(&c->rereads, 1);
		if (k2 != k)
			cc_fail(c, "descriptor read state %ld, then %ld", k,
				k2);
		free(again);
	}
	close(fd);
	free(text);
}

static void *cc_reader(void *arg)
{
	struct cc *c = arg;
	int i;

	for (i = 0; !atomic_load(&c->stop); i++)
		cc_read_once(c, i % CC_DOCS);
	return NULL;
}

static int cmd_cachechurn(int argc, char **argv)
{
	struct cc *c = calloc(1, sizeof(*c));
	pthread_t th[CC_DOCS + CC_READERS];
	void *wargs[CC_DOCS][2];
	char path[4096];
	int i, nth = 0;

	if (!c)
		die("calloc");
	c->dir = argv[0];
	c->pause_us = argc > 2 ? atol(argv[2]) : 0;
	for (i = 0; i < CC_DOCS; i++) {
		cc_path(c, i, path, sizeof(path));
		write_file(path, O_WRONLY | O_CREAT | O_TRUNC, "{}\n", 3);
		wargs[i][0] = c;
		wargs[i][1] = (void *)(intptr_t)i;
		pthread_create(&th[nth++], NULL, cc_writer, wargs[i]);
	}
	for (i = 0; i < CC_READERS; i++)
		pthread_create(&th[nth++], NULL, cc_reader, c);
	usleep((useconds_t)(atof(argv[1]) * 1e6));
	atomic_store(&c->stop, 1);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	printf("writes=%ld reads=%ld rereads=%ld stats=%ld bad=%ld %s\n",
	       atomic_load(&c->writes), atomic_load(&c->reads),
	       atomic_load(&c->rereads), atomic_load(&c->stats),
	       atomic_load(&c->bad), c->msg);
	i = atomic_load(&c->bad) ? 1 : 0;
	free(c);
	return i;
}

/* ---- concurrency ---- */

enum {
	CW_SHARED = 2,
	CW_PRIVATE = 2,
	CR = 3
};

struct conc {
	const char *dir;
	atomic_int stop;
	atomic_long shared_done[CW_SHARED]; /* patches acknowledged */
	atomic_long priv_done[CW_PRIVATE];
	atomic_long reads, bad, writes;
	char msg[512];
};

struct warg {
	struct conc *c;
	int t;
	bool shared;
};

static void *conc_writer(void *arg)
{
	struct warg *w = arg;
	struct conc *c = w->c;
	char path[4096], p[128];
	long i;
	int fd;

	if (w->shared)
		snprintf(path, sizeof(path), "%s/shared", c->dir);
	else
		snprintf(path, sizeof(path), "%s/priv%d", c->dir, w->t);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		die("open writer");
	for (i = 1; !atomic_load(&c->stop); i++) {
		int n;

		if (w->shared)
			n = snprintf(p, sizeof(p), "{\"t%d\":%ld}\n", w->t, i);
		else
			n = snprintf(p, sizeof(p), "{\"n\":%ld,\"h%ld\":%ld}\n",
				     i, i % 8, i);
		if (write_all(fd, p, (size_t)n) < 0) {
			snprintf(c->msg, sizeof(c->msg), "write %.400s: %s",
				 path, strerror(errno));
			atomic_fetch_add(&c->bad, 1);
			break;
		}
		atomic_fetch_add(&c->writes, 1);
		if (w->shared)
			atomic_store(&c->shared_done[w->t], i);
		else
			atomic_store(&c->priv_done[w->t], i);
	}
	close(fd);
	return NULL;
}

/* A private document after i patches, exactly. */
static bool priv_ok(json_t *v, long *n_out)
{
	json_t *n = json_object_get(v, "n");
	long i, j, want_keys;

	if (!json_is_object(v))
		return false;
	if (!n) /* not written yet */
		return json_object_size(v) == 0 && (*n_out = 0, true);
	i = (long)json_integer_value(n);
	want_keys = 1 + (i < 8 ? i : 8);
	if ((long)json_object_size(v) != want_keys)
		return false;
	for (j = 0; j < 8 && j <= i; j++) {
		char k[32];
		long last = i - ((i - j) % 8 + 8) % 8;
		json_t *h;

		if (last < 1)
			continue;
		snprintf(k, sizeof(k), "h%ld", j);
		h = json_object_get(v, k);
		if (!h || json_integer_value(h) != last)
			return false;
	}
	*n_out = i;
	return true;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	long last_shared[CW_SHARED] = { 0 }, last_priv[CW_PRIVATE] = { 0 };
	char path[4096];
	int round = 0;

	while (!atomic_load(&c->stop)) {
		bool shared = round % (CW_PRIVATE + 1) == 0;
		int t = round % (CW_PRIVATE + 1) - 1;
		json_error_t jerr;
		long before[CW_SHARED], n;
		size_t len;
		char *text;
		json_t *v;
		int k;

		round++;
		for (k = 0; k < CW_SHARED; k++)
			before[k] = atomic_load(&c->shared_done[k]);
		if (shared)
			snprintf(path, sizeof(path), "%s/shared", c->dir);
		else
			snprintf(path, sizeof(path), "%s/priv%d", c->dir, t);
		text = read_file(path, &len);
		if (!text) {
			snprintf(c->msg, sizeof(c->msg), "read %.400s: %s",
				 path, strerror(errno));
			atomic_fetch_add(&c->bad, 1);
			break;
		}
		atomic_fetch_add(&c->reads, 1);
		v = json_loadb(text, len, 0, &jerr);
		if (!v || len == 0 || text[len - 1] != '\n') {
			snprintf(c->msg, sizeof(c->msg),
				 "not a document: %.200s", text);
			atomic_fetch_add(&c->bad, 1);
			free(text);
			json_decref(v);
			continue;
		}
		if (shared) {
			for (k = 0; k < CW_SHARED; k++) {
				char key[32];
				json_t *x;
				long val;

				snprintf(key, sizeof(key), "t%d", k);
				x = json_object_get(v, key);
				val = x ? (long)json_integer_value(x) : 0;
				/* never behind what was acknowledged before
				 * the read, never ahead of the writer,
				 * never backwards */
				if (val < before[k] || val < last_shared[k] ||
				    val > atomic_load(&c->shared_done[k]) + 1) {
					snprintf(
						c->msg, sizeof(c->msg),
						"shared t%d=%ld (acked %ld, last %ld)",
						k, val, before[k],
						last_shared[k]);
					atomic_fetch_add(&c->bad, 1);
				}
				last_shared[k] = val;
			}
		} else if (!priv_ok(v, &n) || n < last_priv[t]) {
			snprintf(c->msg, sizeof(c->msg), "priv%d state: %.200s",
				 t, text);
			atomic_fetch_add(&c->bad, 1);
		} else {
			last_priv[t] = n;
		}
		json_decref(v);
		free(text);
	}
	return NULL;
}

static int cmd_concurrency(int argc, char **argv)
{
	struct conc *c = calloc(1, sizeof(*c));
	struct warg w[CW_SHARED + CW_PRIVATE];
	pthread_t th[CW_SHARED + CW_PRIVATE + CR];
	int nth = 0, i;
	char path[4096];
	double secs = atof(argv[1]);

	if (!c)
		die("calloc");
	c->dir = argv[0];
	snprintf(path, sizeof(path), "%s/shared", c->dir);
	close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	for (i = 0; i < CW_PRIVATE; i++) {
		snprintf(path, sizeof(path), "%s/priv%d", c->dir, i);
		close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	}
	for (i = 0; i < CW_SHARED + CW_PRIVATE; i++) {
		w[i] = (struct warg){ c, i < CW_SHARED ? i : i - CW_SHARED,
				      i < CW_SHARED };
		pthread_create(&th[nth++], NULL, conc_writer, &w[i]);
	}
	for (i = 0; i < CR; i++)
		pthread_create(&th[nth++], NULL, conc_reader, c);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&c->stop, 1);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	/* the final state holds every acknowledged patch */
	{
		size_t len;
		char *text;
		json_t *v;

		snprintf(path, sizeof(path), "%s/shared", c->dir);
		text = read_file(path, &len);
		v = text ? json_loadb(text, len, 0, NULL) : NULL;
		for (i = 0; i < CW_SHARED; i++) {
			char key[32];

			snprintf(key, sizeof(key), "t%d", i);
			if (!v || json_integer_value(json_object_get(v, key)) !=
					  atomic_load(&c->shared_done[i])) {
				snprintf(c->msg, sizeof(c->msg),
					 "final shared misses t%d", i);
				atomic_fetch_add(&c->bad, 1);
			}
		}
		json_decref(v);
		free(text);
	}
	printf("writes=%ld reads=%ld bad=%ld %s\n", atomic_load(&c->writes),
	       atomic_load(&c->reads), atomic_load(&c->bad), c->msg);
	i = atomic_load(&c->bad) ? 1 : 0;
	free(c);
	return i;
}

/* ---- readdir under change ---- */

struct churn {
	const char *dir;
	atomic_int stop;
};

static void *churner(void *arg)
{
	struct churn *ch = arg;
	char path[4096];
	long i = 0;

	while (!atomic_load(&ch->stop)) {
		snprintf(path, sizeof(path), "%s/tmp%ld", ch->dir, i % 50);
		if (i % 100 < 50)
			close(open(path, O_WRONLY | O_CREAT, 0644));
		else
			unlink(path);
		i++;
	}
	return NULL;
}

static int cmd_listrace(int argc, char **argv)
{
	struct churn ch = { argv[0], 0 };
	int rounds = atoi(argv[1]), r, i, bad = 0;
	enum {
		STABLE = 300
	};
	char path[4096];
	pthread_t th;

	for (i = 0; i < STABLE; i++) {
		snprintf(path, sizeof(path), "%s/stable%03d", argv[0], i);
		close(open(path, O_WRONLY | O_CREAT, 0644));
	}
	pthread_create(&th, NULL, churner, &ch);
	for (r = 0; r < rounds; r++) {
		int seen[STABLE] = { 0 };
		char names[64][16];
		int ntmp = 0, t;
		struct dirent *de;
		DIR *d = opendir(argv[0]);

		if (!d)
			die("opendir");
		while ((de = readdir(d))) {
			if (!strncmp(de->d_name, "stable", 6)) {
				seen[atoi(de->d_name + 6)]++;
				continue;
			}
			if (strncmp(de->d_name, "tmp", 3))
				continue;
			for (t = 0; t < ntmp; t++)
				if (!strcmp(names[t], de->d_name)) {
					bad++; /* a name twice */
					fprintf(stderr, "round %d: %s twice\n",
						r, de->d_name);
				}
			if (ntmp < 64)
				snprintf(names[ntmp++], 16, "%.15s",
					 de->d_name);
		}
		closedir(d);
		for (i = 0; i < STABLE; i++)
			if (seen[i] != 1) {
				bad++;
				fprintf(stderr,
					"round %d: stable%03d seen %d times\n",
					r, i, seen[i]);
			}
	}
	atomic_store(&ch.stop, 1);
	pthread_join(th, NULL);
	printf("%s\n", bad ? "BAD" : "OK");
	return bad ? 1 : 0;
}

/* ---- crash ---- */

struct cw {
	const char *dir;
	int n;
	int ack;
	pthread_mutex_t *mu;
};

static void *crash_writer(void *arg)
{
	struct cw *w = arg;
	char path[4096], p[64], line[64];
	long i;
	int fd;

	snprintf(path, sizeof(path), "%s/w%d", w->dir, w->n);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return NULL;
	for (i = 1;; i++) {
		int n = snprintf(p, sizeof(p), "{\"k%ld\":%ld}\n", i, i), m;

		if (write_all(fd, p, (size_t)n) < 0 || fsync(fd) < 0)
			break;
		m = snprintf(line, sizeof(line), "%d %ld\n", w->n, i);
		pthread_mutex_lock(w->mu);
		if (write(w->ack, line, (size_t)m) != m)
			i = -1;
		pthread_mutex_unlock(w->mu);
		if (i < 0)
			break;
	}
	close(fd);
	return NULL;
}

static int cmd_crashwriter(int argc, char **argv)
{
	int docs = atoi(argv[1]), i;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int ack = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	struct cw w[64];
	pthread_t th[64];

	if (ack < 0 || docs < 1 || docs > 64)
		die("crashwriter args");
	for (i = 0; i < docs; i++) {
		w[i] = (struct cw){ argv[0], i, ack, &mu };
		pthread_create(&th[i], NULL, crash_writer, &w[i]);
	}
	for (i = 0; i < docs; i++)
		pthread_join(th[i], NULL);
	close(ack);
	return 0;
}

static int cmd_crashcheck(int argc, char **argv)
{
	int docs = atoi(argv[1]), i, bad = 0;
	long acked[64] = { 0 }, total = 0;
	FILE *f = fopen(argv[2], "r");
	int n;
	long v;

	if (!f || docs < 1 || docs > 64)
		die("crashcheck args");
	while (fscanf(f, "%d %ld", &n, &v) == 2)
		if (n >= 0 && n < docs && v > acked[n])
			acked[n] = v;
	fclose(f);
	for (i = 0; i < docs; i++) {
		char path[4096];
		size_t len, keys;
		char *text;
		json_t *doc;
		long k;

		snprintf(path, sizeof(path), "%s/w%d", argv[0], i);
		text = read_file(path, &len);
		doc = text ? json_loadb(text, len, 0, NULL) : NULL;
		if (!doc) {
			printf("w%d: unreadable (%s)\n", i,
			       text ? "bad JSON" : strerror(errno));
			bad++;
			free(text);
			continue;
		}
		keys = json_object_size(doc);
		for (k = 1; k <= (long)keys; k++) {
			char key[32];

			snprintf(key, sizeof(key), "k%ld", k);
			if (json_integer_value(json_object_get(doc, key)) !=
			    k) {
				printf("w%d: hole at k%ld of %zu\n", i, k,
				       keys);
				bad++;
				break;
			}
		}
		if ((long)keys < acked[i]) {
			printf("w%d: %zu patches, %ld acknowledged\n", i, keys,
			       acked[i]);
			bad++;
		}
		total += acked[i];
		json_decref(doc);
		free(text);
	}
	printf("%s acknowledged=%ld\n", bad ? "BAD" : "OK", total);
	return bad ? 1 : 0;
}

/* ---- many patches ---- */

static int cmd_patches(int argc, char **argv)
{
	long n = atol(argv[1]), batch = atol(argv[2]), i, j;
	int fd = open(argv[0], O_WRONLY | O_APPEND | O_CREAT, 0644);
	size_t cap = (size_t)batch * 64 + 64, len = 0;
	char *buf = malloc(cap);
	long last[10] = { 0 };

	if (fd < 0 || !buf || batch < 1)
		die("patches");
	for (i = 1; i <= n; i++) {
		len += (size_t)snprintf(buf + len, cap - len,
					"{\"n\":%ld,\"m%ld\":%ld}\n", i, i % 10,
					i);
		last[i % 10] = i;
		if (i % batch == 0 || i == n) {
			if (write_all(fd, buf, len) < 0)
				die("write");
			len = 0;
		}
	}
	if (close(fd) < 0)
		die("close");
	/* members in first-insertion order: n, m1, m2, ..., m9, m0 */
	printf("{\"n\":%ld", n);
	for (j = 1; j <= 10; j++)
		if (last[j % 10])
			printf(",\"m%ld\":%ld", j % 10, last[j % 10]);
	printf("}\n");
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs; /* minimum */
		int (*fn)(int, char **);
	} cmds[] = {
		{ "sys", 2, cmd_sys },
		{ "writes", 2, cmd_writes },
		{ "bytewise", 2, cmd_bytewise },
		{ "pwrite", 3, cmd_pwrite },
		{ "snapread", 2, cmd_snapread },
		{ "truncwrite", 3, cmd_truncwrite },
		{ "concurrency", 2, cmd_concurrency },
		{ "listrace", 2, cmd_listrace },
		{ "crashwriter", 3, cmd_crashwriter },
		{ "crashcheck", 3, cmd_crashcheck },
		{ "patches", 3, cmd_patches },
		{ "cacheread", 2, cmd_cacheread },
		{ "unlinked", 1, cmd_unlinked },
		{ "cachechurn", 2, cmd_cachechurn },
		{ "bigwrite", 2, cmd_bigwrite },
		{ "hold", 3, cmd_hold },
		{ "pin", 2, cmd_pin },
	};
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			if (argc - 2 < cmds[i].nargs)
				break;
			return cmds[i].fn(argc - 2, argv + 2);
		}
	fprintf(stderr, "usage: e2e_tool COMMAND ARGS (see the source)\n");
	return 2;
}
