/*
 * caravan.c - the admin command for offline work on a store.
 *
 *   caravan fsck DIR              check integrity; exit 0 clean, 1 problems,
 *                                 2 could not run
 *   caravan dump DIR SPACE/KEY    a document's log, one entry a line:
 *                                 "SEQ KIND BYTES" (KIND: P patch,
 *                                 R replacement, S snapshot); with
 *                                 --values the entry's JSON follows
 *   caravan stats DIR [--json]    counts and sizes of the store
 *   caravan backup [--cloud URL] DIR
 *                                 upload every pending document and remove
 *                                 the cloud copies of deleted ones, now
 *                                 (default URL: dir:DIR.cloud, as the mount)
 *   caravan restore --cloud URL DIR
 *                                 restore every document of the cloud into
 *                                 the store DIR (created when new), with
 *                                 progress on standard error; documents
 *                                 present locally are kept as they are
 *   S3 options for both: --s3-endpoint URL, --s3-region NAME,
 *   --s3-path-style; credentials from the AWS environment or
 *   ~/.aws/credentials.
 *
 * Command line: the subcommand comes first; its options may stand
 * anywhere after it, before or after the operands (`caravan stats --json
 * DIR` and `caravan stats DIR --json`), `--` ends them, and every
 * subcommand takes --help.  Each subcommand is one row of the commands[]
 * table: its name, operands, options, summary and function; parse_args()
 * checks the line against the row before the function runs, so a
 * function only reads its parsed arguments (struct args).
 *
 * Exit status: 0 done, 1 problems found or some documents failed, 2 the
 * command could not run (a usage error, a store or target that cannot be
 * opened).  Every failure is one line on standard error starting with
 * "caravan: ".
 *
 * dump and stats open the store read-only (no lock, no recovery writes).
 * On a store that is mounted, they first ask the mount to make every
 * change it acknowledged durable (fsync of its mount point, found in
 * /proc/self/mountinfo by the store directory, which the mount names as
 * its source), so they read every acknowledged change; when the store is
 * in use but its mount point cannot be reached, they say what they may
 * miss.  backup and restore take the store's lock: unmount first (a
 * mounted store uploads by itself and restores on access).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/file.h>
#include <unistd.h>

#include "cloud/backup.h"
#include "cloud/target.h"
#include "fs/reserved.h"
#include "json/json.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strlist.h"

/* ---- the command line ---- */

enum {
	ARGS_MAX = 8, /* operands or options of one command line */
};

/* A command line checked against its command's row. */
struct args {
	const char *pos[ARGS_MAX]; /* operands, in order */
	int npos;
	const char *opt[ARGS_MAX]; /* options given ("--json") ... */
	const char *val[ARGS_MAX]; /* ... and their values (NULL: a flag) */
	int nopt;
};

struct command {
	const char *name;
	const char *operands; /* for usage: "DIR SPACE/KEY" */
	int min_pos, max_pos;
	/* options it takes, space-separated; "--x=" takes a value */
	const char *options;
	const char *summary;
	int (*run)(const struct args *a);
};

static int cmd_fsck(const struct args *a);
static int cmd_dump(const struct args *a);
static int cmd_stats(const struct args *a);
static int cmd_backup(const struct args *a);
static int cmd_restore(const struct args *a);

#define S3_OPTS "--s3-endpoint= --s3-region= --s3-path-style"

/* One row per subcommand. */
static const struct command commands[] = {
	{ "fsck", "DIR", 1, 1, "",
	  "Check the integrity of the store in DIR; print each problem, then "
	  "the verdict",
	  cmd_fsck },
	{ "dump", "DIR SPACE/KEY", 2, 2, "--values",
	  "Print a document's log, one entry a line (SEQ KIND BYTES; with "
	  "--values the entry's JSON)",
	  cmd_dump },
	{ "stats", "DIR", 1, 1, "--json",
	  "Print counts and sizes of the store (one JSON object with --json)",
	  cmd_stats },
	{ "backup", "DIR", 1, 1, "--cloud= " S3_OPTS,
	  "Upload every pending document now (default URL: dir:DIR.cloud)",
	  cmd_backup },
	{ "restore", "DIR", 1, 1, "--cloud= " S3_OPTS,
	  "Restore every document of the cloud target --cloud URL into DIR",
	  cmd_restore },
};
enum {
	NCOMMANDS = sizeof(commands) / sizeof(commands[0])
};

/* What an option's value is called in usage lines. */
static const char *placeholder(const char *opt, size_t len)
{
	if (len >= 6 && !strncmp(opt + len - 6, "region", 6))
		return "NAME";
	if ((len >= 5 && !strncmp(opt + len - 5, "cloud", 5)) ||
	    (len >= 8 && !strncmp(opt + len - 8, "endpoint", 8)))
		return "URL";
	return "VALUE";
}

/* Print the options of c for usage: "[--values]", "[--cloud URL]". */
static void usage_options(FILE *f, const struct command *c)
{
	const char *p = c->options;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (p[n - 1] == '=')
			fprintf(f, " [%.*s %s]", (int)(n - 1), p,
				placeholder(p, n - 1));
		else
			fprintf(f, " [%.*s]", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
}

static void usage_one(FILE *f, const char *lead, const struct command *c)
{
	fprintf(f, "%scaravan %s", lead, c->name);
	usage_options(f, c);
	fprintf(f, " %s\n", c->operands);
}

static void usage(FILE *f)
{
	int i;

	for (i = 0; i < NCOMMANDS; i++)
		usage_one(f, i ? "       " : "usage: ", &commands[i]);
	fprintf(f, "Each command takes --help; -V, --version: the version.\n"
		   "Exit status: 0 done, 1 problems found or some documents "
		   "failed, 2 the command could not run.\n");
}

static void usage_command(FILE *f, const struct command *c)
{
	usage_one(f, "usage: ", c);
	fprintf(f, "%s.\n", c->summary);
	if (strstr(c->options, "--s3-"))
		fprintf(f, "S3 options: --s3-endpoint URL, --s3-region NAME, "
			   "--s3-path-style; credentials from the AWS "
			   "environment or ~/.aws/credentials.\n");
	fprintf(f, "Exit status: 0 done, 1 problems found or some documents "
		   "failed, 2 the command could not run.\n");
}

/* Whether c takes option name (as given, "--json"); *value tells whether
 * it takes a value. */
static bool option_known(const struct command *c, const char *name, bool *value)
{
	const char *p = c->options;
	size_t len = strlen(name);

	while (*p) {
		size_t n = strcspn(p, " ");
		bool v = p[n - 1] == '=';

		if ((v ? n - 1 : n) == len && !strncmp(p, name, len)) {
			*value = v;
			return true;
		}
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* Check argv (what follows the subcommand) against c into *a.  0; 1
 * when --help was asked (printed); -EINVAL after one error line. */
static int parse_args(const struct command *c, int argc, char **argv,
		      struct args *a)
{
	bool opts_end = false, takes;
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (!opts_end && !strcmp(arg, "--")) {
			opts_end = true;
		} else if (!opts_end &&
			   (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
			usage_command(stdout, c);
			return 1;
		} else if (!opts_end && arg[0] == '-' && arg[1]) {
			if (!option_known(c, arg, &takes)) {
				fprintf(stderr,
					"caravan: %s: unknown option '%s' (see 'caravan %s --help')\n",
					c->name, arg, c->name);
				return -EINVAL;
			}
			if (takes && i + 1 >= argc) {
				fprintf(stderr,
					"caravan: %s: option '%s' needs a value\n",
					c->name, arg);
				return -EINVAL;
			}
			if (a->nopt == ARGS_MAX)
				goto too_many;
			a->opt[a->nopt] = arg;
			a->val[a->nopt++] = takes ? argv[++i] : NULL;
		} else {
			if (a->npos == ARGS_MAX)
				goto too_many;
			a->pos[a->npos++] = arg;
		}
	}
	if (a->npos < c->min_pos || a->npos > c->max_pos) {
		fprintf(stderr,
			"caravan: %s: expected %s, got %d operand%s (see 'caravan %s --help')\n",
			c->name, c->operands, a->npos, a->npos == 1 ? "" : "s",
			c->name);
		return -EINVAL;
	}
	return 0;
too_many:
	fprintf(stderr, "caravan: %s: too many arguments\n", c->name);
	return -EINVAL;
}

/* The value of option name, the last one given wins; NULL when absent. */
static const char *arg_value(const struct args *a, const char *name)
{
	const char *v = NULL;
	int i;

	for (i = 0; i < a->nopt; i++)
		if (!strcmp(a->opt[i], name))
			v = a->val[i];
	return v;
}

static bool arg_flag(const struct args *a, const char *name)
{
	int i;

	for (i = 0; i < a->nopt; i++)
		if (!strcmp(a->opt[i], name))
			return true;
	return false;
}

/* ---- reading a store that may be mounted ---- */

/* Undo the octal escapes of /proc/self/mountinfo (\040 ...) in place. */
static void mountinfo_unescape(char *p)
{
	char *o = p;

	while (*p) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
				      (p[3] - '0'));
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

/* The mount point of a caravanfs mount of store dir (resolved), in buf;
 * false when none is seen from here. */
static bool find_mount(const char *dir, char *buf, size_t len)
{
	char *line = NULL, *mnt, *sep, *type, *src, *save;
	size_t cap = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] - TYPE SRC */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = 0;
		type = strtok_r(sep + 3, " ", &save);
		src = strtok_r(NULL, " ", &save);
		if (!type || !src || strcmp(type, "fuse.caravanfs"))
			continue;
		mountinfo_unescape(src);
		if (strcmp(src, dir))
			continue;
		strtok_r(line, " ", &save);
		for (int i = 0; i < 3 && strtok_r(NULL, " ", &save); i++)
			;
		mnt = strtok_r(NULL, " ", &save);
		if (!mnt)
			continue;
		mountinfo_unescape(mnt);
		snprintf(buf, len, "%s", mnt);
		found = true;
	}
	free(line);
	fclose(f);
	return found;
}

/* Whether another process holds the store's lock (a mount). */
static bool store_in_use(const char *dir)
{
	char path[PATH_MAX];
	bool busy = false;
	int fd;

	if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		busy = true;
	close(fd);
	return busy;
}

/* Before dump or stats read a store: when it is mounted, have the mount
 * make every change it acknowledged durable (fsync of its root: the
 * mount's fsyncdir waits for everything logged so far), so the read-only
 * replay sees them; say so when that cannot be done. */
static void catch_up(const char *dir)
{
	char real[PATH_MAX], mnt[PATH_MAX];
	int fd;

	if (!realpath(dir, real) || !store_in_use(real))
		return;
	if (find_mount(real, mnt, sizeof(mnt))) {
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && fsync(fd) == 0) {
			close(fd);
			return;
		}
		if (fd >= 0)
			close(fd);
	}
	fprintf(stderr,
		"caravan: note: store '%s' is in use and its mount cannot be reached from here: changes made within its last commit interval may be missing\n",
		dir);
}

static int open_ro(const char *dir, struct store **s)
{
	unsigned long errs = log_errors();
	struct store_options o;
	int rc;

	catch_up(dir);
	store_options_default(&o);
	o.read_only = true;
	rc = store_open(dir, &o, s);
	/* one line per failure: the store's own when it gave one */
	if (rc < 0 && log_errors() == errs)
		fprintf(stderr, "caravan: cannot open store '%s': %s\n", dir,
			strerror(-rc));
	return rc;
}

/* Every document materializes (store_fsck checks the bytes; this checks
 * what they mean).  Returns the number of problems. */
static int fsck_documents(const char *dir)
{
	struct store_options o;
	struct store *s;
	int rc;

	store_options_default(&o);
	o.read_only = true;
	if (store_open(dir, &o, &s) < 0)
		return 0; /* store_fsck reported it */
	rc = doc_fsck(s, stdout);
	store_close(s);
	if (rc < 0) {
		printf("cannot check the documents: %s\n", strerror(-rc));
		return 1;
	}
	return rc;
}

/* store_fsck's report with its closing verdict (": clean" or ": PROBLEMS
 * FOUND") taken off its summary line: the command prints one verdict,
 * after the documents were checked too. */
static void print_report(const char *buf, size_t len)
{
	static const char *const verdicts[] = { ": clean\n",
						": PROBLEMS FOUND\n" };
	size_t i, n;

	for (i = 0; i < 2; i++) {
		n = strlen(verdicts[i]);
		if (len >= n && !memcmp(buf + len - n, verdicts[i], n)) {
			fwrite(buf, 1, len - n, stdout);
			putchar('\n');
			return;
		}
	}
	fwrite(buf, 1, len, stdout);
}

static int cmd_fsck(const struct args *a)
{
	unsigned long errs = log_errors();
	const char *dir = a->pos[0];
	char *report = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	catch_up(dir);
	mem = open_memstream(&report, &len);
	if (!mem) {
		fprintf(stderr, "caravan: cannot check store '%s': %s\n", dir,
			strerror(errno));
		return 2;
	}
	rc = store_fsck(dir, mem);
	fclose(mem);
	print_report(report, len);
	free(report);
	if (rc < 0) {
		if (log_errors() == errs)
			fprintf(stderr,
				"caravan: cannot check store '%s': %s\n", dir,
				strerror(-rc));
		return 2;
	}
	rc += fsck_documents(dir);
	if (rc > 0) {
		printf("%d problem%s found\n", rc, rc == 1 ? "" : "s");
		return 1;
	}
	printf("clean\n");
	return 0;
}

struct dump_state {
	bool values;
	int bad;
};

static int dump_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct dump_state *ds = arg;
	char kind = '?';
	int rc;

	rc = doc_entry_decode(buf, len, &kind, NULL);
	if (rc < 0) {
		kind = '?';
		ds->bad++;
	}
	printf("%" PRIu64 " %c %zu", seq, kind, len);
	if (ds->values && rc == 0)
		printf(" %.*s", (int)(len - 1), (const char *)buf + 1);
	putchar('\n');
	return 0;
}

static int cmd_dump(const struct args *a)
{
	struct dump_state ds = { 0 };
	const char *dir = a->pos[0], *name = a->pos[1];
	struct store *s;
	char *space, *key;
	uint64_t sid, id;
	int rc, status = 1;

	ds.values = arg_flag(a, "--values");
	space = strdup(name);
	if (!space)
		return 2;
	key = strchr(space, '/');
	if (!key || !key[1] || key == space) {
		fprintf(stderr, "caravan: dump: expected SPACE/KEY, got '%s'\n",
			name);
		free(space);
		return 2;
	}
	*key++ = 0;
	if (open_ro(dir, &s) < 0) {
		free(space);
		return 2;
	}
	rc = store_space_lookup(s, space, &sid);
	if (rc == 0)
		rc = store_doc_lookup(s, sid, key, &id);
	if (rc == 0)
		rc = store_read(s, id, dump_entry, &ds);
	if (rc < 0)
		fprintf(stderr, "caravan: cannot dump '%s': %s\n", name,
			strerror(-rc));
	else if (ds.bad)
		fprintf(stderr, "caravan: %d entr%s of '%s' not valid\n",
			ds.bad, ds.bad == 1 ? "y" : "ies", name);
	else
		status = 0;
	store_close(s);
	free(space);
	return status;
}

static int cmd_stats(const struct args *a)
{
	struct store_stats st;
	struct store *s;
	bool json = arg_flag(a, "--json");

	if (open_ro(a->pos[0], &s) < 0)
		return 2;
	store_stats(s, &st);
	store_close(s);
	if (json) {
		printf("{\"capacity_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64
		       ",\"documents\":%" PRIu64 ",\"spaces\":%" PRIu64
		       ",\"entries\":%" PRIu64 ",\"log_bytes\":%" PRIu64
		       ",\"durable_lsn\":%" PRIu64
		       ",\"max_entry_bytes\":%" PRIu64 "}\n",
		       st.capacity_bytes, st.free_bytes, st.documents,
		       st.spaces, st.entries, st.log_bytes, st.durable_lsn,
		       st.max_entry_bytes);
		return 0;
	}
	printf("capacity_bytes  %" PRIu64 "\n"
	       "free_bytes      %" PRIu64 "\n"
	       "documents       %" PRIu64 "\n"
	       "spaces          %" PRIu64 "\n"
	       "entries         %" PRIu64 "\n"
	       "log_bytes       %" PRIu64 "\n"
	       "durable_lsn     %" PRIu64 "\n"
	       "max_entry_bytes %" PRIu64 "\n",
	       st.capacity_bytes, st.free_bytes, st.documents, st.spaces,
	       st.entries, st.log_bytes, st.durable_lsn, st.max_entry_bytes);
	return 0;
}

/* ---- backup and restore ---- */

struct cloud_args {
	const char *url;
	const char *dir;
	struct cloud_options co;
	char *default_url;
};

static void cloud_args_get(const struct args *in, struct cloud_args *a)
{
	memset(a, 0, sizeof(*a));
	cloud_options_default(&a->co);
	a->url = arg_value(in, "--cloud");
	if (arg_value(in, "--s3-endpoint"))
		a->co.s3_endpoint = arg_value(in, "--s3-endpoint");
	if (arg_value(in, "--s3-region"))
		a->co.s3_region = arg_value(in, "--s3-region");
	if (arg_flag(in, "--s3-path-style"))
		a->co.s3_path_style = true;
	a->dir = in->pos[0];
}

/* Open the store (read-write: takes its lock), the target and the
 * uploader. */
static int cloud_begin(const struct cloud_args *a, struct store **s,
		       struct cloud_target **t, struct backup **b)
{
	unsigned long errs = log_errors();
	struct store_options so;
	struct backup_options bo;
	int rc;

	store_options_default(&so);
	so.reserved_prefix = FS_RESERVED_PREFIX; /* what the mount reserves */
	rc = store_open(a->dir, &so, s);
	if (rc < 0 && log_errors() != errs)
		return rc; /* the store said why, in one line */
	if (rc < 0) {
		fprintf(stderr, "caravan: cannot open store '%s': %s\n", a->dir,
			strerror(-rc));
		return rc;
	}
	rc = cloud_target_open(a->url, &a->co, t);
	if (rc < 0) {
		fprintf(stderr, "caravan: cannot open cloud target '%s': %s\n",
			a->url, strerror(-rc));
		goto out_store;
	}
	backup_options_default(&bo);
	bo.delay_ms = 0;
	rc = backup_start(*s, *t, &bo, b);
	if (rc == 0)
		return 0;
	fprintf(stderr, "caravan: cannot start backup to '%s': %s\n", a->url,
		strerror(-rc));
	cloud_target_free(*t);
out_store:
	store_close(*s);
	return rc;
}

static int cloud_end(struct store *s, struct cloud_target *t, struct backup *b)
{
	int rc;

	backup_stop(b, 0);
	cloud_target_free(t);
	rc = store_close(s);
	if (rc < 0)
		fprintf(stderr, "caravan: cannot close the store cleanly: %s\n",
			strerror(-rc));
	return rc;
}

static int cmd_backup(const struct args *in)
{
	struct cloud_args a;
	struct backup_stats st;
	struct cloud_target *t;
	struct backup *b;
	struct store *s;
	size_t n;
	int rc;

	cloud_args_get(in, &a);
	if (!a.url) {
		n = strlen(a.dir) + sizeof("dir:.cloud");
		a.default_url = malloc(n);
		if (!a.default_url)
			return 2;
		snprintf(a.default_url, n, "dir:%s.cloud", a.dir);
		a.url = a.default_url;
	}
	if (cloud_begin(&a, &s, &t, &b) < 0) {
		free(a.default_url);
		return 2;
	}
	rc = backup_flush(b, 0);
	backup_stats(b, &st);
	if (cloud_end(s, t, b) < 0 && rc == 0)
		rc = -EIO;
	printf("%" PRIu64 " document%s uploaded, %" PRIu64
	       " deleted cop%s removed from '%s'\n",
	       st.uploads, st.uploads == 1 ? "" : "s", st.deletes,
	       st.deletes == 1 ? "y" : "ies", a.url);
	free(a.default_url);
	return rc < 0 ? 1 : 0;
}

static void progress(size_t done, size_t total, const char *space,
		     const char *key)
{
	enum {
		WIDTH = 30
	};
	size_t fill = total ? done * WIDTH / total : WIDTH, i;
	char bar[WIDTH + 1], es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

	for (i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = 0;
	fprintf(stderr, "%s[%s] %zu/%zu %.40s%s%.40s\033[K",
		isatty(2) ? "\r" : "", bar, done, total,
		log_escape_name(space, es), key[0] ? "/" : "",
		key[0] ? log_escape_name(key, ek) : "");
	if (!isatty(2) || done == total)
		fputc('\n', stderr);
}

/* Restore every document of one space; counts into *ok and *bad. */
static int restore_space(struct backup *b, const char *space, size_t *done,
			 size_t total, size_t *bad)
{
	struct strlist keys = STRLIST_INIT;
	uint64_t id;
	size_t i;
	int rc;

	rc = backup_list_space(b, space, strlist_collect, &keys);
	for (i = 0; rc == 0 && i < keys.n; i++) {
		int r = backup_restore_doc(b, space, keys.v[i], &id);

		(*done)++;
		if (r < 0 && r != -ENOENT) {
			char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

			fprintf(stderr, "caravan: cannot restore '%s/%s': %s\n",
				log_escape_name(space, es),
				log_escape_name(keys.v[i], ek), strerror(-r));
			(*bad)++;
		}
		progress(*done, total, space, keys.v[i]);
	}
	strlist_release(&keys);
	return rc;
}

static int count_keys(void *arg, const char *name)
{
	(*(size_t *)arg)++;
	return 0;
}

static int cmd_restore(const struct args *in)
{
	struct strlist spaces = STRLIST_INIT;
	size_t total = 0, done = 0, bad = 0, i;
	struct cloud_args a;
	struct cloud_target *t;
	struct backup *b;
	struct store *s;
	int rc;

	cloud_args_get(in, &a);
	if (!a.url) {
		fprintf(stderr, "caravan: restore: --cloud URL is required "
				"(see 'caravan restore --help')\n");
		return 2;
	}
	if (cloud_begin(&a, &s, &t, &b) < 0)
		return 2;
	rc = backup_list_spaces(b, strlist_collect, &spaces);
	for (i = 0; rc == 0 && i < spaces.n; i++)
		rc = backup_list_space(b, spaces.v[i], count_keys, &total);
	for (i = 0; rc == 0 && i < spaces.n; i++) {
		uint64_t sid;
		struct store_meta m = { 0755, (uint32_t)getuid(),
					(uint32_t)getgid(), 0, 0 };

		/* a space the cloud lists without documents is made too */
		if (store_space_lookup(s, spaces.v[i], &sid) == -ENOENT)
			store_space_create(s, spaces.v[i], &m, &sid, NULL);
		rc = restore_space(b, spaces.v[i], &done, total, &bad);
	}
	if (rc < 0)
		fprintf(stderr, "caravan: cannot list '%s': %s\n", a.url,
			strerror(-rc));
	if (total == 0)
		progress(0, 0, "", "");
	strlist_release(&spaces);
	if (cloud_end(s, t, b) < 0 && rc == 0)
		rc = -EIO;
	printf("%zu document%s restored from '%s', %zu failed\n", done - bad,
	       done - bad == 1 ? "" : "s", a.url, bad);
	return rc < 0 || bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct args a;
	int i, rc;

	log_set_ident("caravan");
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		rc = parse_args(&commands[i], argc - 2, argv + 2, &a);
		if (rc)
			return rc > 0 ? 0 : 2;
		return commands[i].run(&a);
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("caravan %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (cmd[0])
		fprintf(stderr,
			"caravan: unknown command '%s' (see 'caravan --help')\n",
			cmd);
	else
		fprintf(stderr,
			"caravan: no command given (see 'caravan --help')\n");
	return 2;
}
