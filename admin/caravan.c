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
#include <time.h>
#include <unistd.h>

#include "admin/history.h"
#include "cloud/backup.h"
#include "cloud/target.h"
#include "fs/reserved.h"
#include "json/json.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/clock.h"
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
static int cmd_versions(const struct args *a);
static int cmd_grow(const struct args *a);

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
	{ "backup", "DIR", 1, 1, "--cloud= --takeover " S3_OPTS,
	  "Upload every pending document now (default URL: dir:DIR.cloud); "
	  "--takeover becomes the writer of a prefix another store wrote",
	  cmd_backup },
	{ "grow", "DIR SIZE", 2, 2, "",
	  "Grow the data capacity of the unmounted store DIR to SIZE (K, M, G, "
	  "T); a store never shrinks",
	  cmd_grow },
	{ "restore", "DIR", 1, 1, "--cloud= --at= --only= --force " S3_OPTS,
	  "Restore every document of the cloud target --cloud URL into DIR; "
	  "with --at TIME (RFC 3339) the namespace as it was then, from the "
	  "target's history, --only SPACE[/KEY] a part of it, into a missing "
	  "or empty DIR (--force replaces it)",
	  cmd_restore },
	{ "versions", "SPACE/KEY", 1, 1, "--cloud= " S3_OPTS,
	  "List the times and seqs a document of the cloud target --cloud URL "
	  "can be restored to",
	  cmd_versions },
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

/* ---- grow ---- */

/* SIZE: digits with an optional K, M, G or T (binary).  0 or -EINVAL. */
static int parse_size(const char *v, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	unsigned long long n;
	int shift = 0;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end);
		if (!u || end[1])
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
	}
	if (n > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)n << shift;
	return 0;
}

static int cmd_grow(const struct args *a)
{
	unsigned long errs = log_errors();
	const char *dir = a->pos[0];
	struct store_options so;
	struct store_stats st;
	char data[PATH_MAX];
	struct store *s;
	uint64_t size;
	int rc;

	if (parse_size(a->pos[1], &size) < 0) {
		fprintf(stderr, "caravan: grow: invalid SIZE '%s'\n",
			a->pos[1]);
		return 2;
	}
	/* an existing store only: store_open would make a new one */
	if (snprintf(data, sizeof(data), "%s/data", dir) >= (int)sizeof(data) ||
	    access(data, F_OK) < 0) {
		fprintf(stderr, "caravan: cannot grow '%s': no store there\n",
			dir);
		return 2;
	}
	store_options_default(&so);
	so.reserved_prefix = FS_RESERVED_PREFIX;
	rc = store_open(dir, &so, &s);
	if (rc < 0) {
		if (log_errors() == errs)
			fprintf(stderr, "caravan: cannot open store '%s': %s\n",
				dir, strerror(-rc));
		return 2;
	}
	store_stats(s, &st);
	if (size < st.capacity_bytes) {
		fprintf(stderr,
			"caravan: cannot grow store '%s' to %" PRIu64
			" bytes: it holds %" PRIu64
			" already and a store never shrinks\n",
			dir, size, st.capacity_bytes);
		store_close(s);
		return 2;
	}
	rc = store_grow(s, size);
	if (rc < 0 && log_errors() == errs)
		fprintf(stderr, "caravan: cannot grow store '%s': %s\n", dir,
			strerror(-rc));
	if (store_close(s) < 0 && rc == 0)
		rc = -EIO;
	if (rc < 0)
		return 1;
	printf("store '%s': capacity %" PRIu64 " bytes\n", dir,
	       size > st.capacity_bytes ? size : st.capacity_bytes);
	return 0;
}

/* ---- backup and restore ---- */

struct cloud_args {
	const char *url;
	const char *dir;
	struct cloud_options co;
	char *default_url;
	bool takeover; /* --takeover: become the prefix's writer */
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
	a->takeover = arg_flag(in, "--takeover");
	a->dir = in->pos[0];
}

/* Open the store (read-write: takes its lock), the target and the
 * uploader; a restore (writes false) never writes to the target, so it
 * needs no writer lease and never disturbs the store that writes it. */
static int cloud_begin(const struct cloud_args *a, bool writes,
		       struct store **s, struct cloud_target **t,
		       struct backup **b)
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
	bo.read_only = !writes;
	bo.lease_takeover = a->takeover;
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
	if (cloud_begin(&a, true, &s, &t, &b) < 0) {
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

/* ---- restore progress ----
 *
 * On a terminal: one line, redrawn in place at most every
 * PROGRESS_TTY_MS (and at the end): a bar, documents done of all, bytes
 * restored, the rate and the time left.  Anything else written to
 * standard error meanwhile (an error of ours, a log line of the engine,
 * through log_set_prelude) first clears that line, which is drawn again
 * with the next document.  Not on a terminal: a plain line every
 * PROGRESS_PLAIN_MS, and one at the end. */

enum {
	PROGRESS_TTY_MS = 100,
	PROGRESS_PLAIN_MS = 2000,
	BAR_WIDTH = 20,
};

static struct progress {
	size_t done, total, bad;
	size_t shown; /* done when last drawn */
	int64_t plain_ms; /* between plain lines */
	uint64_t bytes;
	int64_t start_ns, last_ns;
	bool tty;
	bool drawn; /* a line is on the terminal */
	bool any; /* something was shown */
} pg;

static int64_t mono_ns(void)
{
	return clock_mono_ns();
}

static void human_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_secs(double s, char *buf, size_t len)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60,
			 t % 60);
	else
		snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* "12/40 documents, 1.2 MiB, 35.0 documents/s, ETA 0:01" */
static void progress_text(char *buf, size_t len, int64_t now)
{
	double secs = (double)(now - pg.start_ns) / 1e9;
	double rate = secs > 0 ? (double)pg.done / secs : 0;
	char bytes[32], eta[32];

	human_bytes(pg.bytes, bytes, sizeof(bytes));
	if (pg.done == pg.total)
		human_secs(secs, eta, sizeof(eta));
	else if (rate > 0)
		human_secs((double)(pg.total - pg.done) / rate, eta,
			   sizeof(eta));
	else
		snprintf(eta, sizeof(eta), "?");
	snprintf(buf, len, "%zu/%zu documents, %s, %.1f documents/s, %s %s",
		 pg.done, pg.total, bytes, rate,
		 pg.done == pg.total ? "took" : "ETA", eta);
}

/* The log's prelude: clear the progress line before another line. */
static void progress_clear(void)
{
	if (pg.tty && pg.drawn && write(STDERR_FILENO, "\r\033[K", 4) == 4)
		pg.drawn = false;
}

static void progress_start(size_t total)
{
	const char *env;

	memset(&pg, 0, sizeof(pg));
	pg.total = total;
	pg.tty = isatty(STDERR_FILENO);
	pg.plain_ms = PROGRESS_PLAIN_MS;
	/* CARAVAN_PROGRESS_MS: another interval for plain lines (0: one
	 * line per document; the suite uses it) */
	env = getenv("CARAVAN_PROGRESS_MS");
	if (env && *env)
		pg.plain_ms = strtol(env, NULL, 10);
	pg.start_ns = pg.last_ns = mono_ns();
	log_set_prelude(progress_clear);
}

/* Show progress now if it is due (always when final). */
static void progress_show(bool final)
{
	char text[160], bar[BAR_WIDTH + 1];
	int64_t now = mono_ns();
	size_t fill, i;

	if (!final &&
	    now - pg.last_ns <
		    (pg.tty ? PROGRESS_TTY_MS : pg.plain_ms) * 1000000 &&
	    (!pg.tty || pg.drawn))
		return;
	if (final && pg.any && pg.shown == pg.done && (!pg.tty || pg.drawn)) {
		/* what was shown last is the final state: end its line */
		if (pg.tty && pg.drawn)
			fputc('\n', stderr);
		pg.drawn = false;
		return;
	}
	pg.last_ns = now;
	pg.shown = pg.done;
	pg.any = true;
	progress_text(text, sizeof(text), now);
	if (!pg.tty) {
		fprintf(stderr, "caravan: restore: %s\n", text);
		return;
	}
	fill = pg.total ? pg.done * BAR_WIDTH / pg.total : BAR_WIDTH;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = 0;
	fprintf(stderr, "\r[%s] %s\033[K%s", bar, text, final ? "\n" : "");
	fflush(stderr);
	pg.drawn = !final;
}

static void progress_end(void)
{
	progress_show(true);
	log_set_prelude(NULL);
}

/* Restore every document of one space (counted in pg). */
static int restore_space(struct store *s, struct backup *b, const char *space)
{
	struct strlist keys = STRLIST_INIT;
	uint64_t id;
	size_t i;
	int rc;

	rc = backup_list_space(b, space, strlist_collect, &keys);
	for (i = 0; rc == 0 && i < keys.n; i++) {
		struct store_doc_info info;
		int r = backup_restore_doc(b, space, keys.v[i], &id);

		pg.done++;
		if (r == 0 && store_doc_info(s, id, &info) == 0)
			pg.bytes += info.stored_bytes;
		if (r < 0 && r != -ENOENT) {
			char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

			progress_clear();
			fprintf(stderr, "caravan: cannot restore '%s/%s': %s\n",
				log_escape_name(space, es),
				log_escape_name(keys.v[i], ek), strerror(-r));
			pg.bad++;
		}
		progress_show(false);
	}
	strlist_release(&keys);
	return rc;
}

static int count_keys(void *arg, const char *name)
{
	(*(size_t *)arg)++;
	return 0;
}

/* restore --at / --only and versions: admin/history.c. */
static void history_args_get(const struct args *in, struct history_args *h)
{
	struct cloud_args a;

	cloud_args_get(in, &a);
	memset(h, 0, sizeof(*h));
	h->url = a.url;
	h->co = a.co;
	h->at = arg_value(in, "--at");
	h->only = arg_value(in, "--only");
	h->force = arg_flag(in, "--force");
	h->pos = in->pos[0];
}

static int cmd_versions(const struct args *in)
{
	struct history_args h;

	history_args_get(in, &h);
	return history_cmd_versions(&h);
}

static int cmd_restore(const struct args *in)
{
	struct strlist spaces = STRLIST_INIT;
	size_t total = 0, i;
	struct cloud_args a;
	struct cloud_target *t;
	struct backup *b;
	struct store *s;
	int rc;

	if (arg_value(in, "--at") || arg_value(in, "--only")) {
		struct history_args h;

		history_args_get(in, &h);
		return history_cmd_restore(&h);
	}
	if (arg_flag(in, "--force")) {
		fprintf(stderr, "caravan: restore: --force goes with --at or "
				"--only\n");
		return 2;
	}
	cloud_args_get(in, &a);
	if (!a.url) {
		fprintf(stderr, "caravan: restore: --cloud URL is required "
				"(see 'caravan restore --help')\n");
		return 2;
	}
	/* The progress says what is restored; the engine's line per
	 * document (and its note at the stop about uploads, which the
	 * restored documents do not need) would only bury it. */
	log_set_level(LOG_LVL_WARN);
	if (cloud_begin(&a, false, &s, &t, &b) < 0)
		return 2;
	rc = backup_list_spaces(b, strlist_collect, &spaces);
	for (i = 0; rc == 0 && i < spaces.n; i++)
		rc = backup_list_space(b, spaces.v[i], count_keys, &total);
	progress_start(total);
	for (i = 0; rc == 0 && i < spaces.n; i++) {
		uint64_t sid;
		struct store_meta m = { 0755, (uint32_t)getuid(),
					(uint32_t)getgid(), 0, 0 };

		/* a space the cloud lists without documents is made too */
		if (store_space_lookup(s, spaces.v[i], &sid) == -ENOENT)
			store_space_create(s, spaces.v[i], &m, &sid, NULL);
		rc = restore_space(s, b, spaces.v[i]);
	}
	progress_end();
	if (rc < 0)
		fprintf(stderr, "caravan: cannot list '%s': %s\n", a.url,
			strerror(-rc));
	strlist_release(&spaces);
	if (cloud_end(s, t, b) < 0 && rc == 0)
		rc = -EIO;
	printf("%zu document%s restored from '%s', %zu failed\n",
	       pg.done - pg.bad, pg.done - pg.bad == 1 ? "" : "s", a.url,
	       pg.bad);
	return rc < 0 || pg.bad ? 1 : 0;
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
