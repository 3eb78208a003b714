/*
 * cloud_tool.c - look into a cloud target from the end-to-end tests
 * (tests/e2e_cloud.sh) through the product's own readers: the target
 * interface (cloud/target.h), the archive decoder of older builds
 * (cloud/archive.h) and the document entry format (store/doc.h).
 *
 *   cloud_tool [S3 OPTIONS] get URL SPACE KEY
 *       the object of SPACE/KEY: first line its sequence number, then
 *       the document as a reader of the mount sees it (compact JSON and
 *       '\n').  A readable object's body must match the checksum of its
 *       metadata; a legacy archive's seq must equal its metadata's and
 *       the archive must name SPACE/KEY.
 *   cloud_tool [S3 OPTIONS] get-all URL DIR
 *       every object as get prints it, into DIR/<space>/<key> (DIR is
 *       created); a failing object is named on stderr and the others
 *       are still fetched
 *   cloud_tool [S3 OPTIONS] get-raw URL SPACE KEY FILE
 *       the object's body to FILE (a document's JSON, or a legacy
 *       archive); prints its metadata seq
 *   cloud_tool [S3 OPTIONS] put-doc URL SPACE KEY FILE SEQ MODE [SHA256]
 *       store FILE's bytes as the readable object SPACE/KEY with seq SEQ,
 *       st_mode MODE (octal, e.g. 100644), uid and gid 0, times 1 s, and
 *       the checksum SHA256 (default: FILE's; hostile objects for tests)
 *   cloud_tool [S3 OPTIONS] put-raw URL SPACE KEY FILE [SEQ]
 *       store FILE's bytes as the opaque object SPACE/KEY with metadata
 *       seq SEQ (default 1), as an older build stored its archives
 *   cloud_tool [S3 OPTIONS] put-archive URL SPACE KEY SEQ MODE [ENTRY...]
 *       store an archive of SPACE/KEY made here: the ENTRY arguments
 *       (bytes as given, no check: hostile archives for the tests) with
 *       sequence numbers ending at SEQ, mode MODE (octal), uid 0, gid 0;
 *       metadata seq SEQ
 *   cloud_tool [S3 OPTIONS] list URL [SPACE]
 *       the spaces, or the keys of SPACE, one name a line
 *   cloud_tool [S3 OPTIONS] at URL GGGGGGGGGGGGGGGG-BBBBBBBBBBBBBBBB
 *       the namespace of the history at that feed position (generation
 *       and batch, hex: a follower's user.caravan.follow_position), one
 *       "SPACE/KEY SEQ" line per document in (space, key) order
 *   cloud_tool [S3 OPTIONS] delete URL SPACE KEY
 *       remove the object SPACE/KEY (a feed batch, for tests of a feed
 *       pruned while a follower was down)
 *   cloud_tool encode NAME
 *       the percent-encoding of NAME (as log lines show names)
 *
 * S3 OPTIONS: --s3-endpoint URL, --s3-region NAME, --s3-path-style;
 * credentials from the AWS environment.
 *
 * Exit status: 0 done, 3 no such object (get, get-raw), 1 any other
 * failure (with a message on stderr), 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/archive.h"
#include "cloud/pitr.h"
#include "cloud/target.h"
#include "json/json.h"
#include "store/doc.h"
#include "util/strlist.h"

enum {
	EXIT_ABSENT = 3,
	EXIT_USAGE = 2
};

static void usage(void)
{
	fprintf(stderr,
		"usage: cloud_tool [S3 OPTIONS] get URL SPACE KEY\n"
		"       cloud_tool [S3 OPTIONS] get-all URL DIR\n"
		"       cloud_tool [S3 OPTIONS] get-raw URL SPACE KEY FILE\n"
		"       cloud_tool [S3 OPTIONS] put-raw URL SPACE KEY FILE [SEQ]\n"
		"       cloud_tool [S3 OPTIONS] put-doc URL SPACE KEY FILE SEQ MODE [SHA256]\n"
		"       cloud_tool [S3 OPTIONS] put-archive URL SPACE KEY SEQ MODE [ENTRY...]\n"
		"       cloud_tool [S3 OPTIONS] list URL [SPACE]\n"
		"       cloud_tool [S3 OPTIONS] at URL GEN-BATCH\n"
		"       cloud_tool [S3 OPTIONS] delete URL SPACE KEY\n"
		"       cloud_tool encode NAME\n"
		"S3 OPTIONS: --s3-endpoint URL, --s3-region NAME, "
		"--s3-path-style\n");
}

static int fail(const char *what, const char *space, const char *key, int rc)
{
	if (rc == -ENOENT) {
		fprintf(stderr, "cloud_tool: no object '%s/%s'\n", space, key);
		return EXIT_ABSENT;
	}
	fprintf(stderr, "cloud_tool: cannot %s '%s/%s': %s\n", what, space, key,
		strerror(-rc));
	return 1;
}

/* The materialized document of an archive's entries, as doc.c builds it:
 * from {} apply 'P' as a merge patch, 'R' and 'S' as a replacement. */
static int materialize(const struct archive *a, char **text, size_t *len)
{
	json_t *doc = json_object();
	size_t i;
	int rc = doc ? 0 : -ENOMEM;

	for (i = 0; rc == 0 && i < a->n; i++) {
		json_t *v;
		char kind;

		rc = doc_entry_decode(a->entries[i].buf, a->entries[i].len,
				      &kind, &v);
		if (rc < 0)
			break;
		if (kind == DOC_PATCH) {
			rc = json_merge_patch(&doc, v);
			json_decref(v);
		} else {
			json_decref(doc);
			doc = v;
		}
	}
	if (rc == 0)
		rc = json_value_emit(doc, text, len);
	json_decref(doc);
	return rc;
}

/* The object of (space, key) as "SEQ\nDOCUMENT" to out. */
static int get_doc(struct cloud_target *t, const char *space, const char *key,
		   FILE *out)
{
	struct cloud_doc_meta m;
	struct archive a;
	void *buf;
	size_t len, tlen;
	uint64_t seq;
	char *text, sum[65];
	int rc;

	rc = cloud_target_get_doc(t, space, key, &buf, &len, &m);
	if (rc < 0)
		return fail("get", space, key, rc);
	seq = m.seq;
	if (!m.legacy) {
		cloud_doc_checksum(buf, len, sum);
		rc = strcmp(sum, m.sha256) ? 1 : 0;
		if (rc)
			fprintf(stderr,
				"cloud_tool: '%s/%s': body does not match its "
				"checksum\n",
				space, key);
		else
			fprintf(out, "%" PRIu64 "\n%.*s", seq, (int)len,
				(const char *)buf);
		free(buf);
		return rc;
	}
	rc = archive_decode(buf, len, &a);
	if (rc < 0) {
		free(buf);
		return fail("decode the archive of", space, key, rc);
	}
	rc = 1;
	if (strcmp(a.space, space) || strcmp(a.key, key))
		fprintf(stderr,
			"cloud_tool: the archive of '%s/%s' names '%s/%s'\n",
			space, key, a.space, a.key);
	else if (a.seq != seq)
		fprintf(stderr,
			"cloud_tool: '%s/%s': metadata seq %" PRIu64
			" but archive seq %" PRIu64 "\n",
			space, key, seq, a.seq);
	else
		rc = materialize(&a, &text, &tlen);
	if (rc < 0) {
		rc = fail("materialize", space, key, rc);
	} else if (rc == 0) {
		fprintf(out, "%" PRIu64 "\n", a.seq);
		fwrite(text, 1, tlen, out);
		free(text);
	}
	archive_release(&a);
	free(buf);
	return rc;
}

/* Every document of space into dir/<space>/<key>.  0, or 1 when some
 * failed (each named on stderr). */
static int get_space(struct cloud_target *t, const char *dir, const char *space)
{
	struct strlist keys = STRLIST_INIT;
	char path[PATH_MAX];
	size_t i;
	int rc, bad = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, space);
	if (mkdir(path, 0755) != 0) {
		fprintf(stderr, "cloud_tool: cannot create '%s': %s\n", path,
			strerror(errno));
		return 1;
	}
	rc = cloud_target_list_all(t, space, strlist_collect, &keys);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot list '%s': %s\n", space,
			strerror(-rc));
		bad = 1;
	}
	for (i = 0; i < keys.n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s/%s", dir, space, keys.v[i]);
		f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "cloud_tool: cannot create '%s': %s\n",
				path, strerror(errno));
			bad = 1;
			continue;
		}
		if (get_doc(t, space, keys.v[i], f) != 0)
			bad = 1;
		if (fclose(f) != 0)
			bad = 1;
	}
	strlist_release(&keys);
	return bad;
}

static int cmd_get_all(struct cloud_target *t, const char *dir)
{
	struct strlist spaces = STRLIST_INIT;
	size_t i;
	int rc, bad = 0;

	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "cloud_tool: cannot create '%s': %s\n", dir,
			strerror(errno));
		return 1;
	}
	rc = cloud_target_list_all(t, NULL, strlist_collect, &spaces);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot list '/': %s\n",
			strerror(-rc));
		bad = 1;
	}
	for (i = 0; i < spaces.n; i++)
		if (!cloud_name_reserved(spaces.v[i])) /* the store marker */
			bad |= get_space(t, dir, spaces.v[i]);
	strlist_release(&spaces);
	return bad;
}

static int cmd_get_raw(struct cloud_target *t, const char *space,
		       const char *key, const char *path)
{
	struct cloud_doc_meta m;
	void *buf;
	size_t len;
	uint64_t seq;
	FILE *f;
	int rc;

	rc = cloud_target_get_doc(t, space, key, &buf, &len, &m);
	seq = m.seq;
	if (rc < 0)
		return fail("get", space, key, rc);
	f = fopen(path, "wb");
	rc = f && fwrite(buf, 1, len, f) == len ? 0 : 1;
	if (f && fclose(f) != 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "cloud_tool: cannot write '%s': %s\n", path,
			strerror(errno));
	else
		printf("%" PRIu64 "\n", seq);
	free(buf);
	return rc;
}

static int read_file(const char *path, void **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *grown;
	size_t n = 0, cap = 0, got;
	int rc = 0;

	if (!f)
		return -errno;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			grown = realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (rc == 0 && ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int cmd_put_raw(struct cloud_target *t, const char *space,
		       const char *key, const char *path, const char *seq_arg)
{
	uint64_t seq = seq_arg ? strtoull(seq_arg, NULL, 10) : 1;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot read '%s': %s\n", path,
			strerror(-rc));
		return 1;
	}
	rc = cloud_target_put(t, space, key, buf, len, seq);
	free(buf);
	return rc < 0 ? fail("put", space, key, rc) : 0;
}

static int cmd_put_doc(struct cloud_target *t, const char *space,
		       const char *key, const char *path, const char *seq_arg,
		       const char *mode_arg, const char *sum)
{
	struct cloud_doc_meta m;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot read '%s': %s\n", path,
			strerror(-rc));
		return 1;
	}
	memset(&m, 0, sizeof(m));
	m.seq = strtoull(seq_arg, NULL, 10);
	m.mode = (uint32_t)strtoul(mode_arg, NULL, 8);
	m.mtime_ns = m.ctime_ns = 1000000000;
	if (sum)
		snprintf(m.sha256, sizeof(m.sha256), "%s", sum);
	else
		cloud_doc_checksum(buf, len, m.sha256);
	rc = cloud_target_put_doc(t, space, key, buf, len, &m);
	free(buf);
	return rc < 0 ? fail("put", space, key, rc) : 0;
}

static int cmd_put_archive(struct cloud_target *t, const char *space,
			   const char *key, const char *seq_arg,
			   const char *mode_arg, char **ents, int n)
{
	struct archive_meta am = { 0, 0, 0, 1, 1 };
	struct archive_writer w;
	uint64_t seq = strtoull(seq_arg, NULL, 10);
	void *buf;
	size_t len;
	int rc;

	am.mode = (uint32_t)strtoul(mode_arg, NULL, 8);
	rc = archive_writer_init(&w, space, key, &am);
	for (int i = 0; !rc && i < n; i++)
		rc = archive_writer_add(&w, seq - (uint64_t)(n - 1 - i),
					ents[i], strlen(ents[i]));
	if (rc) {
		archive_writer_release(&w);
		return fail("encode", space, key, rc);
	}
	rc = archive_writer_finish(&w, seq, &buf, &len);
	if (rc)
		return fail("encode", space, key, rc);
	rc = cloud_target_put(t, space, key, buf, len, seq);
	free(buf);
	return rc < 0 ? fail("put", space, key, rc) : 0;
}

/* Names of spaces and documents: the store's own objects (its marker,
 * cloud/backup.c) are neither. */
static int print_name(void *arg, const char *name)
{
	(void)arg;
	if (cloud_name_reserved(name))
		return 0;
	return puts(name) == EOF ? -EIO : 0;
}

static int cmd_list(struct cloud_target *t, const char *space)
{
	int rc = cloud_target_list_all(t, space, print_name, NULL);

	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot list '%s': %s\n",
			space ? space : "/", strerror(-rc));
		return 1;
	}
	return 0;
}

static int cmd_encode(const char *name)
{
	char enc[CLOUD_ENC_MAX];

	if (cloud_name_encode(name, enc) < 0) {
		fprintf(stderr, "cloud_tool: invalid name '%s'\n", name);
		return 1;
	}
	puts(enc);
	return 0;
}

static int print_at(void *arg, const struct feed_record *r)
{
	(void)arg;
	return printf("%s/%s %llu\n", r->space, r->key,
		      (unsigned long long)r->seq) < 0
		       ? -EIO
		       : 0;
}

static int cmd_at(struct cloud_target *t, const char *pos)
{
	struct pitr_limit lim = { INT64_MAX, true, 0, 0, NULL, NULL };
	struct pitr_state *st = NULL;
	struct pitr_info info;
	char g[17], b[17];
	int rc, n = 0;

	if (sscanf(pos, "%16[0-9a-f]-%16[0-9a-f]%n", g, b, &n) != 2 || pos[n] ||
	    strlen(g) != 16 || strlen(b) != 16) {
		fprintf(stderr, "cloud_tool: '%s' is no feed position\n", pos);
		return 1;
	}
	lim.gen = strtoull(g, NULL, 16);
	lim.batch = strtoull(b, NULL, 16);
	rc = pitr_build(t, &lim, &st, &info);
	if (!rc)
		rc = pitr_each(st, print_at, NULL);
	pitr_free(st);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot replay to '%s': %s\n", pos,
			strerror(-rc));
		return 1;
	}
	return 0;
}

static int cmd_delete(struct cloud_target *t, const char *space,
		      const char *key)
{
	int rc = cloud_target_delete(t, space, key);

	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot delete '%s/%s': %s\n",
			space, key, strerror(-rc));
		return 1;
	}
	return 0;
}

/* Run command argv[0] with argc - 1 arguments on target url. */
static int run(int argc, char **argv, const struct cloud_options *o)
{
	struct cloud_target *t;
	const char *cmd = argv[0];
	int rc;

	if (argc < 2)
		return -1;
	if (!((!strcmp(cmd, "get") && argc == 4) ||
	      (!strcmp(cmd, "get-all") && argc == 3) ||
	      (!strcmp(cmd, "get-raw") && argc == 5) ||
	      (!strcmp(cmd, "put-raw") && (argc == 5 || argc == 6)) ||
	      (!strcmp(cmd, "put-archive") && argc >= 6) ||
	      (!strcmp(cmd, "put-doc") && (argc == 7 || argc == 8)) ||
	      (!strcmp(cmd, "list") && (argc == 2 || argc == 3)) ||
	      (!strcmp(cmd, "at") && argc == 3) ||
	      (!strcmp(cmd, "delete") && argc == 4)))
		return -1;
	rc = cloud_target_open(argv[1], o, &t);
	if (rc < 0) {
		fprintf(stderr, "cloud_tool: cannot open '%s': %s\n", argv[1],
			strerror(-rc));
		return 1;
	}
	if (!strcmp(cmd, "get"))
		rc = get_doc(t, argv[2], argv[3], stdout);
	else if (!strcmp(cmd, "get-all"))
		rc = cmd_get_all(t, argv[2]);
	else if (!strcmp(cmd, "get-raw"))
		rc = cmd_get_raw(t, argv[2], argv[3], argv[4]);
	else if (!strcmp(cmd, "put-archive"))
		rc = cmd_put_archive(t, argv[2], argv[3], argv[4], argv[5],
				     argv + 6, argc - 6);
	else if (!strcmp(cmd, "put-doc"))
		rc = cmd_put_doc(t, argv[2], argv[3], argv[4], argv[5], argv[6],
				 argc == 8 ? argv[7] : NULL);
	else if (!strcmp(cmd, "put-raw"))
		rc = cmd_put_raw(t, argv[2], argv[3], argv[4],
				 argc == 6 ? argv[5] : NULL);
	else if (!strcmp(cmd, "at"))
		rc = cmd_at(t, argv[2]);
	else if (!strcmp(cmd, "delete"))
		rc = cmd_delete(t, argv[2], argv[3]);
	else
		rc = cmd_list(t, argc == 3 ? argv[2] : NULL);
	cloud_target_free(t);
	return rc;
}

int main(int argc, char **argv)
{
	struct cloud_options o;
	int i = 1, rc;

	cloud_options_default(&o);
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 30000;
	while (i < argc && !strncmp(argv[i], "--", 2)) {
		if (!strcmp(argv[i], "--s3-endpoint") && i + 1 < argc)
			o.s3_endpoint = argv[++i];
		else if (!strcmp(argv[i], "--s3-region") && i + 1 < argc)
			o.s3_region = argv[++i];
		else if (!strcmp(argv[i], "--s3-path-style"))
			o.s3_path_style = true;
		else
			break;
		i++;
	}
	if (i + 1 < argc && !strcmp(argv[i], "encode") && i + 2 == argc)
		return cmd_encode(argv[i + 1]);
	rc = i < argc ? run(argc - i, argv + i, &o) : -1;
	if (rc < 0) {
		usage();
		return EXIT_USAGE;
	}
	if (fflush(stdout) != 0)
		return 1;
	return rc;
}
