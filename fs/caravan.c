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
 *   caravan restore --cloud URL DIR, caravan backup DIR
 *                                 not in this build (exit 2)
 *
 * dump and stats open the store read-only (no lock, no recovery writes),
 * so they also work on a mounted store, showing its last durable state.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "store/doc.h"
#include "store/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: caravan fsck DIR\n"
		"       caravan dump DIR SPACE/KEY [--values]\n"
		"       caravan stats DIR [--json]\n"
		"       caravan restore --cloud URL DIR\n"
		"       caravan backup DIR\n");
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
		fprintf(stderr, "caravan: expected SPACE/KEY, got '%s'\n", argv[1]);
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
		fprintf(stderr, "caravan: %d entr%s of '%s' not valid\n", ds.bad,
			ds.bad == 1 ? "y" : "ies", argv[1]);
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
		       st.capacity_bytes, st.free_bytes, st.documents, st.spaces,
		       st.entries, st.log_bytes, st.durable_lsn,
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

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "fsck"))
		return cmd_fsck(argc - 2, argv + 2);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc - 2, argv + 2);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 2, argv + 2);
	if (!strcmp(cmd, "restore") || !strcmp(cmd, "backup")) {
		fprintf(stderr,
			"caravan: '%s' is not available in this build (cloud backup is not built in yet)\n",
			cmd);
		return 2;
	}
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
