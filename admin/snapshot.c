/*
 * snapshot.c - caravan snapshot create|list|delete DIR [NAME]: the named
 * snapshots of an unmounted store (store/snapshot.h), the same ones
 * MNT/.caravan-snapshots shows.
 *
 *   create DIR NAME  take a snapshot of the namespace now (durable when
 *                    the command returns)
 *   list DIR         one line per snapshot, oldest first:
 *                    NAME<TAB>creation time (RFC 3339, UTC)<TAB>log position
 *   delete DIR NAME  drop it; what only it kept is freed
 *
 * list opens the store read-only (it works beside fsck); create and delete
 * take the store's lock like any writer (EBUSY while it is mounted: use
 * mkdir and rmdir in MNT/.caravan-snapshots then).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/snapshot.h"
#include "fs/reserved.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "util/log.h"

static int print_one(void *arg, const char *name, uint64_t lsn, int64_t time_ns)
{
	time_t t = (time_t)(time_ns / 1000000000);
	char when[64];
	struct tm tm;

	(void)arg;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "%" PRId64, time_ns);
	printf("%s\t%s\t%" PRIu64 "\n", name, when, lsn);
	return 0;
}

int snapshot_cmd(const char *action, const char *dir, const char *name)
{
	unsigned long errs = log_errors();
	bool list = !strcmp(action, "list");
	struct store_options so;
	char data[PATH_MAX];
	struct store *s;
	int rc;

	if (!list && strcmp(action, "create") && strcmp(action, "delete")) {
		fprintf(stderr,
			"caravan: snapshot: unknown action '%s' (create, "
			"list or delete)\n",
			action);
		return 2;
	}
	if (list != !name) {
		fprintf(stderr, "caravan: snapshot %s: %s\n", action,
			list ? "takes no NAME" : "needs a NAME");
		return 2;
	}
	/* an existing store only: store_open would make a new one */
	if (snprintf(data, sizeof(data), "%s/data", dir) >= (int)sizeof(data) ||
	    access(data, F_OK) < 0) {
		fprintf(stderr, "caravan: cannot open '%s': no store there\n",
			dir);
		return 2;
	}
	store_options_default(&so);
	so.reserved_prefix = FS_RESERVED_PREFIX;
	so.read_only = list;
	so.commit_ms = 0;
	rc = store_open(dir, &so, &s);
	if (rc < 0) {
		if (log_errors() == errs)
			fprintf(stderr, "caravan: cannot open store '%s': %s\n",
				dir, strerror(-rc));
		return 2;
	}
	if (list)
		rc = store_snapshot_list(s, print_one, NULL);
	else if (!strcmp(action, "create"))
		rc = store_snapshot_create(s, name, NULL);
	else
		rc = store_snapshot_delete(s, name);
	if (rc < 0 && log_errors() == errs)
		fprintf(stderr,
			"caravan: cannot %s snapshot '%s' of '%s': %s\n",
			action, name ? name : "", dir, strerror(-rc));
	if (store_close(s) < 0 && rc == 0)
		rc = -EIO;
	return rc < 0 ? 1 : 0;
}
