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
 *   caravan grow DIR SIZE         grow the data capacity of an unmounted
 *                                 store to SIZE (K, M, G, T suffixes)
 *   caravan backup [--cloud URL] DIR
 *                                 upload every pending document and remove
 *                                 the cloud copies of deleted ones, now
 *                                 (default URL: dir:DIR.cloud, as the mount)
 *   caravan restore --cloud URL DIR
 *                                 restore every document of the cloud into
 *                                 the store DIR (created when new), with a
 *                                 progress bar; documents present locally
 *                                 are kept as they are
 *   S3 options for both: --s3-endpoint URL, --s3-region NAME,
 *   --s3-path-style; credentials from the AWS environment or
 *   ~/.aws/credentials.
 *
 * Exit status: 0 done, 1 problems found or some documents failed, 2 the
 * command could not run.
 *
 * dump and stats open the store read-only (no lock, no recovery writes),
 * so they also work on a mounted store, showing its last durable state.
 * backup and restore take the store's lock: unmount first (a mounted store
 * uploads by itself and restores on access).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cloud/backup.h"
#include "cloud/target.h"
#include "fs/reserved.h"
#include "json/json.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strlist.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: caravan fsck DIR\n"
		"       caravan dump DIR SPACE/KEY [--values]\n"
		"       caravan stats DIR [--json]\n"
		"       caravan grow DIR SIZE\n"
		"       caravan backup [--cloud URL] [S3 OPTIONS] DIR\n"
		"       caravan restore --cloud URL [S3 OPTIONS] DIR\n"
		"S3 OPTIONS: --s3-endpoint URL, --s3-region NAME, --s3-path-style\n");
}

static int open_ro(const char *dir, struct store **s)
{
	struct store_options o;
	int rc;

	store_options_default(&o);
	o.read_only = true;
	rc = store_open(dir, &o, s);
	if (rc < 0)
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

static int cmd_fsck(int argc, char **argv)
{
	int rc;

	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	rc = store_fsck(argv[0], stdout);
	if (rc < 0) {
		fprintf(stderr, "caravan: cannot check store '%s': %s\n",
			argv[0], strerror(-rc));
		return 2;
	}
	rc += fsck_documents(argv[0]);
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

static int cmd_dump(int argc, char **argv)
{
	struct dump_state ds = { 0 };
	struct store *s;
	char *space, *key;
	uint64_t sid, id;
	int rc, status = 1;

	if (argc == 3 && !strcmp(argv[2], "--values"))
		ds.values = true;
	else if (argc != 2) {
		usage(stderr);
		return 2;
	}
	space = strdup(argv[1]);
	if (!space)
		return 2;
	key = strchr(space, '/');
	if (!key || !key[1] || key == space) {
		fprintf(stderr, "caravan: expected SPACE/KEY, got '%s'\n",
			argv[1]);
		free(space);
		return 2;
	}
	*key++ = 0;
	if (open_ro(argv[0], &s) < 0) {
		free(space);
		return 2;
	}
	rc = store_space_lookup(s, space, &sid);
	if (rc == 0)
		rc = store_doc_lookup(s, sid, key, &id);
	if (rc == 0)
		rc = store_read(s, id, dump_entry, &ds);
	if (rc < 0)
		fprintf(stderr, "caravan: cannot dump '%s': %s\n", argv[1],
			strerror(-rc));
	else if (ds.bad)
		fprintf(stderr, "caravan: %d entr%s of '%s' not valid\n",
			ds.bad, ds.bad == 1 ? "y" : "ies", argv[1]);
	else
		status = 0;
	store_close(s);
	free(space);
	return status;
}

static int cmd_stats(int argc, char **argv)
{
	struct store_stats st;
	struct store *s;
	bool json = false;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if (open_ro(argv[0], &s) < 0)
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

/* caravan grow DIR SIZE: the store's lock is taken (unmount first); the
 * data file grows as the mount would grow it (store_grow), beyond
 * max_capacity if need be; a SIZE not above the capacity changes
 * nothing. */
static int cmd_grow(int argc, char **argv)
{
	static const char sfx[] = "KMGT";
	struct store_options o;
	struct store_stats st;
	unsigned long long v;
	struct store *s;
	const char *p;
	char *end;
	int rc;

	if (argc != 2 || !isdigit((unsigned char)argv[1][0])) {
		usage(stderr);
		return 2;
	}
	errno = 0;
	v = strtoull(argv[1], &end, 10);
	p = *end ? strchr(sfx, toupper((unsigned char)*end)) : NULL;
	if (p && *p) {
		int shift = 10 * (int)(p - sfx + 1);
		if (v > (ULLONG_MAX >> shift))
			errno = ERANGE;
		v <<= shift;
		end++;
	}
	if (errno || *end || v < 4096) {
		fprintf(stderr, "caravan: bad size '%s'\n", argv[1]);
		return 2;
	}
	store_options_default(&o);
	o.commit_ms = 0;
	o.max_capacity_bytes = 1; /* no growth but the one asked */
	o.reserved_prefix = FS_RESERVED_PREFIX;
	rc = store_open(argv[0], &o, &s);
	if (rc < 0) {
		fprintf(stderr, "caravan: cannot open store '%s': %s\n",
			argv[0], strerror(-rc));
		return 2;
	}
	rc = store_grow(s, v);
	store_stats(s, &st);
	if (store_close(s) < 0 && rc == 0)
		rc = -EIO;
	if (rc < 0) {
		fprintf(stderr, "caravan: cannot grow store '%s': %s\n",
			argv[0], strerror(-rc));
		return 1;
	}
	printf("capacity_bytes  %" PRIu64 "\n", st.capacity_bytes);
	return 0;
}

/* ---- backup and restore ---- */

struct cloud_args {
	const char *url;
	const char *dir;
	struct cloud_options co;
	char *default_url;
};

static int cloud_args_parse(int argc, char **argv, struct cloud_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	cloud_options_default(&a->co);
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--cloud") && i + 1 < argc)
			a->url = argv[++i];
		else if (!strcmp(arg, "--s3-endpoint") && i + 1 < argc)
			a->co.s3_endpoint = argv[++i];
		else if (!strcmp(arg, "--s3-region") && i + 1 < argc)
			a->co.s3_region = argv[++i];
		else if (!strcmp(arg, "--s3-path-style"))
			a->co.s3_path_style = true;
		else if (arg[0] != '-' && !a->dir)
			a->dir = arg;
		else
			return -EINVAL;
	}
	return a->dir ? 0 : -EINVAL;
}

/* Open the store (read-write: takes its lock), the target and the
 * uploader. */
static int cloud_begin(const struct cloud_args *a, struct store **s,
		       struct cloud_target **t, struct backup **b)
{
	struct store_options so;
	struct backup_options bo;
	int rc;

	store_options_default(&so);
	so.reserved_prefix = FS_RESERVED_PREFIX; /* what the mount reserves */
	rc = store_open(a->dir, &so, s);
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

static int cmd_backup(int argc, char **argv)
{
	struct cloud_args a;
	struct backup_stats st;
	struct cloud_target *t;
	struct backup *b;
	struct store *s;
	size_t n;
	int rc;

	if (cloud_args_parse(argc, argv, &a) < 0) {
		usage(stderr);
		return 2;
	}
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

static int cmd_restore(int argc, char **argv)
{
	struct strlist spaces = STRLIST_INIT;
	size_t total = 0, done = 0, bad = 0, i;
	struct cloud_args a;
	struct cloud_target *t;
	struct backup *b;
	struct store *s;
	int rc;

	if (cloud_args_parse(argc, argv, &a) < 0 || !a.url) {
		usage(stderr);
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

	if (!strcmp(cmd, "fsck"))
		return cmd_fsck(argc - 2, argv + 2);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc - 2, argv + 2);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 2, argv + 2);
	if (!strcmp(cmd, "grow"))
		return cmd_grow(argc - 2, argv + 2);
	if (!strcmp(cmd, "backup"))
		return cmd_backup(argc - 2, argv + 2);
	if (!strcmp(cmd, "restore"))
		return cmd_restore(argc - 2, argv + 2);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("caravan %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
