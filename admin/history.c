/*
 * history.c - the caravan commands over a store's cloud history
 * (docs/cloud-history.md):
 *
 *   caravan restore --cloud URL --at TIME [--only SPACE[/KEY]] [--force]
 *                   [S3 OPTIONS] DIR
 *       rebuild the namespace as it was at TIME (RFC 3339) from the
 *       change feed and base snapshots: each document with its seq,
 *       content, mode, uid, gid and times.  DIR must be missing or empty
 *       unless --force (then it is replaced).  The store is built in a
 *       temporary directory beside DIR and renamed into place at the end:
 *       a restore that fails leaves nothing behind (and DIR as it was).
 *
 *       The restored scope (everything, SPACE, or SPACE/KEY) is complete:
 *       mounted on the target, the store shows exactly the namespace at
 *       TIME there, never a newer document lazily restored from the
 *       target's current objects.  So every name the target holds now in
 *       that scope and TIME did not gets a tombstone in the new store (a
 *       document imported, marked as the cloud's and deleted): the mount
 *       answers it absent, lists it not, and its uploader deletes the
 *       object and feeds the delete, so the target comes to hold the
 *       restored namespace too.  A space of the scope with no document
 *       at TIME is removed again.  Each restored document is marked as
 *       owning a stale cloud copy under its name (backup time -1): its
 *       upload replaces the target's newer object without keeping it as
 *       a conflict copy (the history keeps it).  The store records the
 *       target as the one it backs up to; mounted on another, every
 *       document is pending as usual (docs/cloud-history.md).
 *   caravan versions --cloud URL [S3 OPTIONS] SPACE/KEY
 *       the moments a document can be restored to: one line per change
 *       still in the history, "TIME seq N BYTES bytes" or "TIME deleted".
 *
 * Everything read from the target is checked (cloud/pitr.c for the
 * history's structure; here each document's content by the rules of a
 * write through the mount, doc_entries_check, and its name and seq):
 * anything wrong aborts the restore with a message, exit status 1.
 */
#include "config.h"

#include "admin/history.h"

#include "cloud/pitr.h"
#include "cloud/target.h"
#include "cloud/verify.h"
#include "fs/reserved.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strlist.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "SPACE/KEY" or "SPACE" into buffers of NAME_MAX_BYTES + 1. */
static int split_name(const char *s, char *space, char *key, bool need_key)
{
	const char *slash = strchr(s, '/');
	size_t sl = slash ? (size_t)(slash - s) : strlen(s);

	key[0] = '\0';
	if (sl == 0 || sl > NAME_MAX_BYTES || (need_key && !slash))
		return -EINVAL;
	memcpy(space, s, sl);
	space[sl] = '\0';
	if (slash) {
		if (strlen(slash + 1) > NAME_MAX_BYTES || !slash[1] ||
		    strchr(slash + 1, '/'))
			return -EINVAL;
		strcpy(key, slash + 1);
	}
	return cloud_name_valid(space) && (!key[0] || cloud_name_valid(key))
		       ? 0
		       : -EINVAL;
}

/* ---- restore ---- */

struct imp {
	struct store *s;
	struct doc_options dopt;
	size_t done, total;
	int err;
};

static int import_doc(void *arg, const struct feed_record *r)
{
	struct imp *im = arg;
	struct store_import_entry e;
	struct store_meta m;
	char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];
	char *entry;
	size_t n = r->body_len;
	uint64_t id;
	int rc;

	while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == ' '))
		n--;
	if (cloud_name_reserved(r->space) || cloud_name_reserved(r->key) ||
	    r->seq > STORE_SEQ_MAX || n == 0) {
		fprintf(stderr,
			"caravan: the history holds an invalid document "
			"'%s/%s' (name or seq): restore aborted\n",
			log_escape_name(r->space, es),
			log_escape_name(r->key, ek));
		return -EIO;
	}
	entry = malloc(n + 1);
	if (!entry)
		return -ENOMEM;
	entry[0] = DOC_SNAPSHOT;
	memcpy(entry + 1, r->body, n);
	e.buf = entry;
	e.len = n + 1;
	rc = doc_entries_check(&im->dopt, &e, 1);
	if (rc) {
		fprintf(stderr,
			"caravan: the history holds an invalid document "
			"'%s/%s' (%s): restore aborted\n",
			log_escape_name(r->space, es),
			log_escape_name(r->key, ek), strerror(-rc));
		free(entry);
		return rc == -ENOMEM ? rc : -EIO;
	}
	m.mode = cloud_mode_sanitize(r->mode);
	m.uid = r->uid;
	m.gid = r->gid;
	m.mtime_ns = r->mtime_ns;
	m.ctime_ns = r->ctime_ns;
	/* seq 0: a document never written, {} */
	rc = store_import(im->s, r->space, r->key, &m, &e, r->seq ? 1 : 0,
			  r->seq, &id, NULL);
	free(entry);
	if (!rc) /* its upload replaces the target's newer copy */
		rc = store_backup_mark(im->s, id, 0, -1);
	if (rc) {
		fprintf(stderr, "caravan: cannot import '%s/%s': %s\n",
			log_escape_name(r->space, es),
			log_escape_name(r->key, ek), strerror(-rc));
		return rc;
	}
	im->done++;
	if (isatty(2) || im->done == im->total)
		fprintf(stderr, "%s%zu/%zu documents%s", isatty(2) ? "\r" : "",
			im->done, im->total, im->done == im->total ? "\n" : "");
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether dir exists and holds anything: 1, 0, or a negative errno. */
static int dir_nonempty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n = 1;
	closedir(d);
	return n;
}

static int sum_bytes(void *arg, const struct feed_record *r)
{
	*(uint64_t *)arg += r->body_len + 64;
	return 0;
}

/* ---- the scope made complete ---- */

struct scope {
	struct cloud_target *t;
	struct pitr_state *st;
	const char *space, *key; /* --only, or NULL */
	struct strlist gone; /* "space/key": in the target now, not at TIME */
	struct strlist spaces; /* the scope's spaces in the target now */
	const char *listing; /* the space being listed */
};

static int gone_key(void *arg, const char *key)
{
	struct scope *sc = arg;
	char name[2 * NAME_MAX_BYTES + 2];

	if (cloud_name_reserved(key) || !cloud_name_valid(key) ||
	    pitr_find(sc->st, sc->listing, key))
		return 0; /* the mount never shows it, or it is restored */
	snprintf(name, sizeof(name), "%s/%s", sc->listing, key);
	return strlist_add(&sc->gone, name);
}

static int scope_space(void *arg, const char *space)
{
	struct scope *sc = arg;

	if (cloud_name_reserved(space) || !cloud_name_valid(space) ||
	    (sc->space && strcmp(space, sc->space)))
		return 0;
	return strlist_add(&sc->spaces, space);
}

/* The names of the scope the target holds now and the state does not. */
static int scope_collect(struct scope *sc)
{
	struct cloud_object_info info;
	int rc;

	if (sc->key) {
		rc = cloud_target_head(sc->t, sc->space, sc->key, &info);
		if (rc == -ENOENT)
			return 0;
		if (rc || pitr_find(sc->st, sc->space, sc->key))
			return rc;
		sc->listing = sc->space;
		return gone_key(sc, sc->key);
	}
	rc = cloud_target_list_all(sc->t, NULL, scope_space, sc);
	for (size_t i = 0; !rc && i < sc->spaces.n; i++) {
		sc->listing = sc->spaces.v[i];
		rc = cloud_target_list_all(sc->t, sc->spaces.v[i], gone_key,
					   sc);
	}
	return rc;
}

static void scope_release(struct scope *sc)
{
	strlist_release(&sc->gone);
	strlist_release(&sc->spaces);
}

/* A tombstone for each gone name; the scope's spaces left empty go. */
static int scope_tombstones(struct store *s, const struct scope *sc)
{
	static const struct store_meta m = { 0644, 0, 0, 0, 0 };
	char space[NAME_MAX_BYTES + 1], key[NAME_MAX_BYTES + 1];
	uint64_t id;
	int rc = 0;

	for (size_t i = 0; !rc && i < sc->gone.n; i++) {
		const char *slash = strchr(sc->gone.v[i], '/');

		snprintf(space, sizeof(space), "%.*s",
			 (int)(slash - sc->gone.v[i]), sc->gone.v[i]);
		snprintf(key, sizeof(key), "%s", slash + 1);
		rc = store_import(s, space, key, &m, NULL, 0, 0, &id, NULL);
		if (rc == -EINVAL || rc == -ENAMETOOLONG) {
			rc = 0; /* a name no store holds: never shown */
			continue;
		}
		if (!rc) /* the cloud's copy, stale: deleting it tombstones */
			rc = store_backup_mark(s, id, 0, -1);
		if (!rc)
			rc = store_doc_delete(s, id, NULL);
	}
	for (size_t i = 0; !rc && !sc->key && i < sc->spaces.n; i++) {
		rc = store_space_remove(s, sc->spaces.v[i], NULL);
		if (rc == -ENOTEMPTY || rc == -ENOENT)
			rc = 0; /* documents at TIME, or no gone name */
	}
	if (rc)
		fprintf(stderr,
			"caravan: cannot record the names deleted since: %s\n",
			strerror(-rc));
	return rc;
}

static int build_store(const char *tmp, struct pitr_state *st,
		       const struct scope *sc, uint64_t target_id)
{
	struct store_options so;
	struct imp im;
	int rc, rc2;

	memset(&im, 0, sizeof(im));
	doc_options_default(&im.dopt);
	store_options_default(&so);
	so.reserved_prefix = FS_RESERVED_PREFIX;
	im.total = pitr_count(st);
	/* room for what the history holds, at least the default */
	{
		uint64_t need = 0;

		pitr_each(st, sum_bytes, &need);
		need = 2 * need + (16u << 20);
		if (need > so.capacity_bytes)
			so.capacity_bytes = need;
	}
	rc = store_open(tmp, &so, &im.s);
	if (rc) {
		fprintf(stderr, "caravan: cannot create store '%s': %s\n", tmp,
			strerror(-rc));
		return rc;
	}
	rc = store_backup_target(im.s, target_id, NULL);
	if (!rc)
		rc = pitr_each(st, import_doc, &im);
	if (!rc)
		rc = scope_tombstones(im.s, sc);
	if (!rc)
		rc = store_sync(im.s, UINT64_MAX);
	rc2 = store_close(im.s);
	return rc ? rc : rc2;
}

int history_cmd_restore(const struct history_args *ha)
{
	char space[NAME_MAX_BYTES + 1], key[NAME_MAX_BYTES + 1];
	char tmp[PATH_MAX], old[PATH_MAX], when[40];
	struct pitr_limit lim = { INT64_MAX, false, 0, 0, NULL, NULL };
	struct pitr_state *st = NULL;
	struct pitr_info info;
	struct cloud_target *t = NULL;
	struct history_args a = *ha;
	struct scope sc;
	uint64_t target_id;
	int rc, ne;

	memset(&sc, 0, sizeof(sc));
	if (!a.url) {
		fprintf(stderr, "caravan: restore needs --cloud URL\n");
		return 2;
	}
	if (a.at && pitr_parse_time(a.at, &lim.at_ns) < 0) {
		fprintf(stderr,
			"caravan: '%s' is no time (RFC 3339, e.g. "
			"2026-12-06T10:00:00Z)\n",
			a.at);
		return 2;
	}
	if (a.only && split_name(a.only, space, key, false) < 0) {
		fprintf(stderr, "caravan: '%s' is no SPACE or SPACE/KEY\n",
			a.only);
		return 2;
	}
	if (a.only) {
		lim.space = space;
		lim.key = key[0] ? key : NULL;
	}
	ne = dir_nonempty(a.pos);
	if (ne < 0 || (ne > 0 && !a.force)) {
		fprintf(stderr,
			"caravan: '%s' %s: restore refused (--force replaces "
			"it)\n",
			a.pos, ne < 0 ? strerror(-ne) : "is not empty");
		return 2;
	}
	rc = cloud_target_open(a.url, &a.co, &t);
	if (rc) {
		fprintf(stderr, "caravan: cannot open cloud target '%s': %s\n",
			a.url, strerror(-rc));
		return 2;
	}
	rc = pitr_build(t, &lim, &st, &info);
	if (rc) {
		cloud_target_free(t);
		fprintf(stderr,
			"caravan: cannot rebuild the namespace from "
			"'%s': %s\n",
			a.url,
			rc == -ERANGE ? "TIME is before the oldest restore "
					"point kept (retention)"
				      : strerror(-rc));
		return 1;
	}
	sc.t = t;
	sc.st = st;
	sc.space = lim.space;
	sc.key = lim.key;
	rc = scope_collect(&sc);
	target_id = cloud_target_identity(cloud_target_url(t));
	cloud_target_free(t);
	if (rc) {
		fprintf(stderr,
			"caravan: cannot list what '%s' holds now: %s "
			"(nothing was changed)\n",
			a.url, strerror(-rc));
		scope_release(&sc);
		pitr_free(st);
		return 1;
	}
	if (!info.any)
		fprintf(stderr,
			"caravan: '%s' holds no history at or before "
			"that time: the store will be empty\n",
			a.url);
	snprintf(tmp, sizeof(tmp), "%s.restore-%d", a.pos, (int)getpid());
	snprintf(old, sizeof(old), "%s.replaced-%d", a.pos, (int)getpid());
	rm_tree(tmp);
	rc = build_store(tmp, st, &sc, target_id);
	scope_release(&sc);
	if (!rc && ne > 0 && rename(a.pos, old) < 0)
		rc = -errno;
	if (!rc && ne == 0)
		rmdir(a.pos); /* an empty directory: replaced */
	if (!rc && rename(tmp, a.pos) < 0) {
		rc = -errno;
		if (ne > 0)
			rename(old, a.pos);
	}
	if (rc) {
		fprintf(stderr,
			"caravan: restore into '%s' failed: %s "
			"(nothing was changed)\n",
			a.pos, strerror(-rc));
		rm_tree(tmp);
		pitr_free(st);
		return 1;
	}
	if (ne > 0)
		rm_tree(old);
	pitr_format_time(info.time_ns, when);
	printf("%zu document%s restored from '%s' as of %s\n", pitr_count(st),
	       pitr_count(st) == 1 ? "" : "s", a.url,
	       info.any ? when : "(no history)");
	pitr_free(st);
	return 0;
}

/* ---- versions ---- */

static int print_version(void *arg, const struct feed_record *r)
{
	char when[40];

	(*(size_t *)arg)++;
	pitr_format_time(r->time_ns, when);
	if (r->kind == FEED_REC_DEL)
		printf("%s deleted\n", when);
	else
		printf("%s seq %" PRIu64 " %zu bytes\n", when, r->seq,
		       r->body_len);
	return 0;
}

int history_cmd_versions(const struct history_args *ha)
{
	char space[NAME_MAX_BYTES + 1], key[NAME_MAX_BYTES + 1];
	struct cloud_target *t = NULL;
	struct history_args a = *ha;
	size_t n = 0;
	int rc;

	if (!a.url) {
		fprintf(stderr, "caravan: versions needs --cloud URL\n");
		return 2;
	}
	if (split_name(a.pos, space, key, true) < 0) {
		fprintf(stderr, "caravan: '%s' is no SPACE/KEY\n", a.pos);
		return 2;
	}
	rc = cloud_target_open(a.url, &a.co, &t);
	if (rc) {
		fprintf(stderr, "caravan: cannot open cloud target '%s': %s\n",
			a.url, strerror(-rc));
		return 2;
	}
	rc = pitr_versions(t, space, key, print_version, &n);
	cloud_target_free(t);
	if (rc) {
		fprintf(stderr,
			"caravan: cannot read the history in '%s': %s\n", a.url,
			strerror(-rc));
		return 1;
	}
	if (!n)
		fprintf(stderr, "caravan: no version of '%s' in the history\n",
			a.pos);
	return 0;
}
