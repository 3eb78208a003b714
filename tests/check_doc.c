/*
 * check_doc.c - materialized documents (store/doc.h): the entry format,
 * merge order, replacement, snapshots that outlive later changes, the
 * cache (no rematerializing, coherence with changes made around it,
 * budget), size limits, compaction by count and by bytes, concurrent
 * patches to one document, damaged entries, and several patches in one
 * frame (doc_patch_batch).
 */
#include "store/doc.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json/json.h"
#include "store/store.h"

static const struct store_meta M = { 0644, 0, 0, 1, 1 };

struct fixture {
	char dir[64];
	struct store *s;
	struct doc *d;
	uint64_t space;
};

static void fx_open(struct fixture *fx, const struct doc_options *o,
		    uint64_t capacity)
{
	struct store_options so;

	store_options_default(&so);
	so.commit_ms = 0;
	if (capacity) {
		so.capacity_bytes = capacity;
		so.max_capacity_bytes = capacity; /* full means full here */
	}
	ck_assert_int_eq(store_open(fx->dir, &so, &fx->s), 0);
	ck_assert_int_eq(doc_open(fx->s, o, &fx->d), 0);
}

static void fx_init(struct fixture *fx, const struct doc_options *o,
		    uint64_t capacity)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->dir, sizeof(fx->dir), "%s/check_doc.XXXXXX",
		 tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	fx_open(fx, o, capacity);
	ck_assert_int_eq(store_space_create(fx->s, "sp", &M, &fx->space, NULL),
			 0);
}

static void fx_close(struct fixture *fx)
{
	doc_close(fx->d);
	ck_assert_int_eq(store_close(fx->s), 0);
	fx->d = NULL;
	fx->s = NULL;
}

static void fx_done(struct fixture *fx)
{
	char cmd[128];

	if (fx->s)
		fx_close(fx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static uint64_t mkdoc(struct fixture *fx, const char *key)
{
	uint64_t id;

	ck_assert_int_eq(store_doc_create(fx->s, fx->space, key, &M, &id, NULL),
			 0);
	return id;
}

static json_t *J(const char *text)
{
	json_t *v;

	ck_assert_int_eq(json_value_parse(text, strlen(text), &v), 0);
	return v;
}

static int patch(struct fixture *fx, uint64_t id, const char *text)
{
	json_t *v = J(text);
	int rc = doc_patch(fx->d, id, v, NULL);

	json_decref(v);
	return rc;
}

static int replace(struct fixture *fx, uint64_t id, const char *text)
{
	json_t *v = J(text);
	int rc = doc_replace(fx->d, id, v, NULL);

	json_decref(v);
	return rc;
}

/* The document's text, checked against doc_size. */
static void expect_doc(struct fixture *fx, uint64_t id, const char *want)
{
	struct doc_snap *sn;
	const char *text;
	uint64_t size;
	size_t len;

	ck_assert_int_eq(doc_read(fx->d, id, &sn), 0);
	text = doc_snap_text(sn, &len);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(text, want);
	ck_assert_int_eq(doc_size(fx->d, id, &size), 0);
	ck_assert_uint_eq(size, len);
	doc_snap_put(sn);
}

/* The document equals want as a JSON value (member order aside). */
static void expect_equal(struct fixture *fx, uint64_t id, const char *want)
{
	struct doc_snap *sn;
	const char *text;
	json_t *a, *b = J(want);
	size_t len;

	ck_assert_int_eq(doc_read(fx->d, id, &sn), 0);
	text = doc_snap_text(sn, &len);
	ck_assert_int_eq(json_value_parse(text, len, &a), 0);
	ck_assert_msg(json_equal(a, b), "got %s", text);
	json_decref(a);
	json_decref(b);
	doc_snap_put(sn);
}

static struct store_doc_info info_of(struct fixture *fx, uint64_t id)
{
	struct store_doc_info in;

	ck_assert_int_eq(store_doc_info(fx->s, id, &in), 0);
	return in;
}

START_TEST(test_doc_empty_document_reads_as_empty_object)
{
	struct fixture fx;
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	expect_doc(&fx, id, "{}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_patches_merge_in_order)
{
	struct fixture fx;
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"a\":1,\"b\":{\"x\":1}}"), 0);
	ck_assert_int_eq(patch(&fx, id, "{\"c\":3,\"b\":{\"y\":2}}"), 0);
	ck_assert_int_eq(patch(&fx, id, "{\"a\":null}"), 0);
	expect_doc(&fx, id, "{\"b\":{\"x\":1,\"y\":2},\"c\":3}\n");
	ck_assert_uint_eq(info_of(&fx, id).entries, 3);
	/* a patch that is not an object replaces the document */
	ck_assert_int_eq(patch(&fx, id, "[1,2]"), 0);
	expect_doc(&fx, id, "[1,2]\n");
	ck_assert_int_eq(patch(&fx, id, "{\"z\":9007199254740993}"), 0);
	expect_doc(&fx, id, "{\"z\":9007199254740993}\n");
	fx_done(&fx);
}
END_TEST

struct kinds {
	char k[16];
	int n;
};

static int kinds_fn(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct kinds *ks = arg;
	char kind;

	ck_assert_int_eq(doc_entry_decode(buf, len, &kind, NULL), 0);
	if (ks->n < 15)
		ks->k[ks->n++] = kind;
	return 0;
}

START_TEST(test_doc_entries_use_the_documented_format)
{
	struct fixture fx;
	struct kinds ks = { { 0 }, 0 };
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(replace(&fx, id, "{\"r\":1}"), 0);
	ck_assert_int_eq(patch(&fx, id, "{\"p\":2}"), 0);
	ck_assert_int_eq(store_read(fx.s, id, kinds_fn, &ks), 0);
	ck_assert_str_eq(ks.k, "RP");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_replace_drops_older_entries)
{
	struct fixture fx;
	struct doc_options o;
	uint64_t id;
	int i;

	doc_options_default(&o);
	o.history = 0; /* no version kept: every older entry goes */
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(patch(&fx, id, "{\"k\":[1,2,3]}"), 0);
	ck_assert_int_eq(replace(&fx, id, "{\"x\":{\"a\":null}}"), 0);
	/* a replacement keeps null members (a patch would drop them) */
	expect_doc(&fx, id, "{\"x\":{\"a\":null}}\n");
	ck_assert_uint_eq(info_of(&fx, id).entries, 1);
	ck_assert_int_eq(doc_reset(fx.d, id, NULL), 0);
	expect_doc(&fx, id, "{}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_snapshot_keeps_its_version)
{
	struct fixture fx;
	struct doc_snap *sn;
	const char *text;
	size_t len;
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"v\":1}"), 0);
	ck_assert_int_eq(doc_read(fx.d, id, &sn), 0);
	ck_assert_int_eq(patch(&fx, id, "{\"v\":2}"), 0);
	ck_assert_int_eq(replace(&fx, id, "\"other\""), 0);
	ck_assert_int_eq(store_doc_delete(fx.s, id, NULL), 0);
	doc_forget(fx.d, id);
	text = doc_snap_text(sn, &len);
	ck_assert_str_eq(text, "{\"v\":1}\n");
	ck_assert_uint_eq(len, 8);
	ck_assert_uint_eq(doc_snap_seq(sn), 1);
	doc_snap_put(sn);
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_cache_serves_repeated_reads)
{
	struct fixture fx;
	struct doc_stats st;
	uint64_t id, size;
	int i;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"v\":1}"), 0);
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.misses, 1); /* the patch materialized {} */
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(doc_size(fx.d, id, &size), 0);
		expect_doc(&fx, id, "{\"v\":1}\n");
	}
	ck_assert_int_eq(patch(&fx, id, "{\"v\":2}"), 0);
	expect_doc(&fx, id, "{\"v\":2}\n");
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.misses, 1);
	/* the reads hit the cache; the sizes, known since the first
	 * materialization, do not even ask it */
	ck_assert_uint_ge(st.hits, 100);
	fx_done(&fx);
}
END_TEST

/* A document's size at its seq is remembered by the store once it was
 * materialized: a stat after the document left the cache materializes
 * nothing; a change forgets the size; a size told for a seq that is no
 * longer the document's is ignored; after a reopen it is unknown again. */
START_TEST(test_doc_size_is_known_without_the_cache)
{
	struct fixture fx;
	struct store_doc_info in;
	struct doc_stats st;
	uint64_t id, size, seq;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"v\":1}"), 0);
	expect_doc(&fx, id, "{\"v\":1}\n");
	ck_assert_int_eq(store_doc_info(fx.s, id, &in), 0);
	ck_assert(in.size_known);
	ck_assert_uint_eq(in.size, 8);
	seq = in.seq;
	doc_forget(fx.d, id);
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.cached_docs, 0);
	ck_assert_int_eq(doc_size(fx.d, id, &size), 0);
	ck_assert_uint_eq(size, 8);
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.misses, 1);
	ck_assert_uint_eq(st.cached_docs, 0);

	ck_assert_int_eq(patch(&fx, id, "{\"v\":22}"), 0);
	doc_forget(fx.d, id);
	ck_assert_int_eq(store_doc_info(fx.s, id, &in), 0);
	ck_assert(!in.size_known);
	store_doc_note_size(fx.s, id, seq, 8); /* late: seq is gone */
	ck_assert_int_eq(store_doc_info(fx.s, id, &in), 0);
	ck_assert(!in.size_known);
	ck_assert_int_eq(doc_size(fx.d, id, &size), 0);
	ck_assert_uint_eq(size, 9);
	ck_assert_int_eq(store_doc_info(fx.s, id, &in), 0);
	ck_assert(in.size_known);
	ck_assert_uint_eq(in.size, 9);

	fx_close(&fx);
	fx_open(&fx, NULL, 0);
	ck_assert_int_eq(store_doc_info(fx.s, id, &in), 0);
	ck_assert(!in.size_known);
	ck_assert_int_eq(doc_size(fx.d, id, &size), 0);
	ck_assert_uint_eq(size, 9);
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_cache_sees_changes_made_around_it)
{
	struct fixture fx;
	const char entry[] = "P{\"b\":2}";
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"a\":1}"), 0);
	expect_doc(&fx, id, "{\"a\":1}\n");
	ck_assert_int_eq(
		store_append(fx.s, id, entry, strlen(entry), NULL, NULL), 0);
	expect_doc(&fx, id, "{\"a\":1,\"b\":2}\n");
	ck_assert_int_eq(store_doc_delete(fx.s, id, NULL), 0);
	{
		struct doc_snap *sn;
		uint64_t size;

		ck_assert_int_eq(doc_read(fx.d, id, &sn), -ENOENT);
		ck_assert_int_eq(doc_size(fx.d, id, &size), -ENOENT);
	}
	ck_assert_int_eq(patch(&fx, id, "{\"c\":3}"), -ENOENT);
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_survives_reopen)
{
	struct fixture fx;
	uint64_t id;
	int i;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	for (i = 0; i < 50; i++) {
		char p[64];

		snprintf(p, sizeof(p), "{\"k%d\":%d,\"n\":%d}", i % 7, i, i);
		ck_assert_int_eq(patch(&fx, id, p), 0);
	}
	fx_close(&fx);
	fx_open(&fx, NULL, 0);
	expect_doc(&fx, id,
		   "{\"k0\":49,\"n\":49,\"k1\":43,\"k2\":44,\"k3\":45,"
		   "\"k4\":46,\"k5\":47,\"k6\":48}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_limits_refuse_and_keep_the_document)
{
	struct fixture fx;
	struct doc_options o;
	char big[200];
	uint64_t id;

	doc_options_default(&o);
	o.max_doc_bytes = 64;
	o.max_patch_bytes = 40;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(patch(&fx, id, "{\"a\":\"0123456789\"}"), 0);
	/* patch over max_patch */
	snprintf(big, sizeof(big), "{\"b\":\"%050d\"}", 0);
	ck_assert_int_eq(patch(&fx, id, big), -EFBIG);
	/* patches under max_patch until the document would pass max_doc */
	ck_assert_int_eq(patch(&fx, id, "{\"b\":\"0123456789\"}"), 0);
	ck_assert_int_eq(patch(&fx, id,
			       "{\"c\":\"012345678901234567890123456789\"}"),
			 -EFBIG);
	expect_doc(&fx, id, "{\"a\":\"0123456789\",\"b\":\"0123456789\"}\n");
	ck_assert_uint_eq(info_of(&fx, id).entries, 2);
	snprintf(big, sizeof(big), "[\"%070d\"]", 0);
	ck_assert_int_eq(replace(&fx, id, big), -EFBIG);
	expect_doc(&fx, id, "{\"a\":\"0123456789\",\"b\":\"0123456789\"}\n");
	/* the cache was not left holding the refused state */
	fx_close(&fx);
	fx_open(&fx, &o, 0);
	expect_doc(&fx, id, "{\"a\":\"0123456789\",\"b\":\"0123456789\"}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_full_store_is_enospc_and_keeps_the_document)
{
	struct fixture fx;
	char p[2100];
	uint64_t id;
	int i, rc = 0;

	fx_init(&fx, NULL, 64 << 10);
	id = mkdoc(&fx, "a");
	for (i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), "{\"k%d\":\"%02000d\"}", i, i);
		rc = patch(&fx, id, p);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	{
		struct doc_snap *sn;
		size_t len;
		json_t *v;

		const char *text;

		ck_assert_int_eq(doc_read(fx.d, id, &sn), 0);
		text = doc_snap_text(sn, &len);
		ck_assert_int_eq(json_value_parse(text, len, &v), 0);
		ck_assert_uint_eq(json_object_size(v), (size_t)i);
		json_decref(v);
		doc_snap_put(sn);
	}
	fx_close(&fx);
	fx_open(&fx, NULL, 0);
	{
		struct doc_snap *sn;
		size_t len;
		json_t *v;

		const char *text;

		ck_assert_int_eq(doc_read(fx.d, id, &sn), 0);
		text = doc_snap_text(sn, &len);
		ck_assert_int_eq(json_value_parse(text, len, &v), 0);
		ck_assert_uint_eq(json_object_size(v), (size_t)i);
		json_decref(v);
		doc_snap_put(sn);
	}
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_compaction_bounds_entries_by_count)
{
	struct fixture fx;
	struct doc_options o;
	struct doc_stats st;
	char p[64], want[64];
	uint64_t id;
	int i;

	doc_options_default(&o);
	o.compact_entries = 32;
	o.history = 0;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	for (i = 1; i <= 5000; i++) {
		snprintf(p, sizeof(p), "{\"n\":%d,\"m%d\":%d}", i, i % 3, i);
		ck_assert_int_eq(patch(&fx, id, p), 0);
		ck_assert_uint_le(info_of(&fx, id).entries, 33);
	}
	snprintf(want, sizeof(want),
		 "{\"n\":5000,\"m1\":4999,\"m2\":5000,\"m0\":4998}\n");
	expect_doc(&fx, id, want);
	ck_assert_uint_gt(info_of(&fx, id).seq, 5000);
	doc_stats(fx.d, &st);
	ck_assert_uint_ge(st.compactions, 5000 / 33);
	fx_close(&fx);
	fx_open(&fx, &o, 0);
	expect_doc(&fx, id, want);
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_compaction_bounds_stored_bytes)
{
	struct fixture fx;
	struct doc_options o;
	struct store_doc_info in;
	char p[600];
	uint64_t id;
	int i;

	doc_options_default(&o);
	o.compact_entries = 0;
	o.compact_ratio = 4;
	o.compact_min_bytes = 4096;
	o.history = 0;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	for (i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "{\"v\":\"%0500d\"}", i);
		ck_assert_int_eq(patch(&fx, id, p), 0);
		in = info_of(&fx, id);
		ck_assert_uint_le(in.stored_bytes, 4096 + 600);
	}
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_damaged_entry_is_ebadmsg)
{
	struct fixture fx;
	struct doc_snap *sn;
	char kind;
	uint64_t id;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "a");
	ck_assert_int_eq(store_append(fx.s, id, "X{}", 3, NULL, NULL), 0);
	ck_assert_int_eq(doc_read(fx.d, id, &sn), -EBADMSG);
	ck_assert_int_eq(patch(&fx, id, "{\"a\":1}"), -EBADMSG);
	ck_assert_int_eq(doc_entry_decode("P{", 2, &kind, NULL), 0);
	ck_assert_int_eq(doc_entry_decode("P", 1, &kind, NULL), -EBADMSG);
	{
		json_t *v;

		ck_assert_int_eq(doc_entry_decode("P{", 2, &kind, &v),
				 -EBADMSG);
		ck_assert_int_eq(doc_entry_decode("S[1]", 4, &kind, &v), 0);
		ck_assert_int_eq(kind, 'S');
		json_decref(v);
	}
	/* a replacement makes the document readable again */
	ck_assert_int_eq(replace(&fx, id, "{\"ok\":true}"), 0);
	expect_doc(&fx, id, "{\"ok\":true}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_cache_stays_within_budget)
{
	struct fixture fx;
	struct doc_options o;
	struct doc_stats st;
	char key[16], p[1100];
	uint64_t ids[200];
	int i;

	doc_options_default(&o);
	o.cache_bytes = 64 << 10;
	fx_init(&fx, &o, 0);
	snprintf(p, sizeof(p), "{\"v\":\"%01000d\"}", 7);
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "d%d", i);
		ids[i] = mkdoc(&fx, key);
		ck_assert_int_eq(patch(&fx, ids[i], p), 0);
		doc_stats(fx.d, &st);
		ck_assert_uint_le(st.cached_bytes, 64 << 10);
	}
	ck_assert_uint_lt(st.cached_docs, 200);
	/* evicted documents are materialized again, correctly */
	for (i = 0; i < 200; i++) {
		uint64_t size;

		ck_assert_int_eq(doc_size(fx.d, ids[i], &size), 0);
		ck_assert_uint_eq(size, strlen(p) + 1);
	}
	fx_done(&fx);
}
END_TEST

/* A document that is only read is cached as its text: about its length
 * plus a fixed overhead, not the parsed value as well (a cache that
 * charged three times the text held a third of the documents it could).
 * A patch after such a read parses the text back and merges correctly. */
START_TEST(test_doc_cache_charges_text_for_reads)
{
	struct fixture fx;
	struct doc_stats st;
	char key[16], p[1100];
	uint64_t ids[20];
	size_t len;
	int i;

	fx_init(&fx, NULL, 0);
	snprintf(p, sizeof(p), "{\"v\":\"%01000d\"}", 7);
	len = strlen(p) + 1;
	for (i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "d%d", i);
		ids[i] = mkdoc(&fx, key);
		ck_assert_int_eq(replace(&fx, ids[i], p), 0);
		doc_forget(fx.d, ids[i]);
	}
	for (i = 0; i < 20; i++) {
		struct doc_snap *sn;

		ck_assert_int_eq(doc_read(fx.d, ids[i], &sn), 0);
		doc_snap_put(sn);
	}
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.cached_docs, 20);
	ck_assert_uint_le(st.cached_bytes, 20 * (len + 256));
	ck_assert_uint_ge(st.cached_bytes, 20 * len);
	ck_assert_int_eq(patch(&fx, ids[3], "{\"w\":1}"), 0);
	snprintf(p, sizeof(p), "{\"v\":\"%01000d\",\"w\":1}\n", 7);
	expect_doc(&fx, ids[3], p);
	fx_done(&fx);
}
END_TEST

/* The cache is scan resistant: documents read twice stay cached while
 * a scan of many more documents than the budget holds goes through it,
 * and a repeated scan hits the part of it that was cached first (a plain
 * LRU list evicts every document of a scan just before its next use). */
START_TEST(test_doc_cache_resists_a_scan)
{
	struct fixture fx;
	struct doc_options o;
	struct doc_stats st;
	char key[16], p[1100];
	uint64_t ids[208], hits;
	struct doc_snap *sn;
	int i, pass;

	doc_options_default(&o);
	o.cache_bytes = 64 << 10; /* ~48 documents of 1 KiB */
	fx_init(&fx, &o, 0);
	snprintf(p, sizeof(p), "{\"v\":\"%01000d\"}", 7);
	for (i = 0; i < 208; i++) {
		snprintf(key, sizeof(key), "d%d", i);
		ids[i] = mkdoc(&fx, key);
		ck_assert_int_eq(replace(&fx, ids[i], p), 0);
		doc_forget(fx.d, ids[i]);
	}
	/* the working set: ids[0..8), read twice */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < 8; i++) {
			ck_assert_int_eq(doc_read(fx.d, ids[i], &sn), 0);
			doc_snap_put(sn);
		}
	/* two scans of the other 200 */
	for (pass = 0; pass < 2; pass++) {
		doc_stats(fx.d, &st);
		hits = st.hits;
		for (i = 8; i < 208; i++) {
			ck_assert_int_eq(doc_read(fx.d, ids[i], &sn), 0);
			doc_snap_put(sn);
		}
		doc_stats(fx.d, &st);
		ck_assert_uint_le(st.cached_bytes, 64 << 10);
		if (pass == 1)
			ck_assert_uint_ge(st.hits - hits, 10);
	}
	doc_stats(fx.d, &st);
	hits = st.hits;
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(doc_read(fx.d, ids[i], &sn), 0);
		doc_snap_put(sn);
	}
	doc_stats(fx.d, &st);
	ck_assert_uint_eq(st.hits - hits, 8);
	fx_done(&fx);
}
END_TEST

/* A whole entry already in emitted form is served as stored; any other
 * text is parsed and emitted again.  Either way a read gives exactly what
 * parse + emit gives (or the same error), for canonical texts and for
 * every near miss of the form (spacing, reals, escapes, a repeated key,
 * a leading zero, -0, an integer out of range, a patch after it). */
START_TEST(test_doc_whole_entry_reads_as_emitted)
{
	static const char *const texts[] = {
		"{\"a\":1}",
		"{}",
		"[]",
		"0",
		"-17",
		"\"x\\\"y\\\\z\\n\\t\\b\\f\\r\"",
		"[1,-2,9223372036854775807,-9223372036854775808]",
		"{\"a\":{\"b\":[true,false,null]},\"c\":\"\xc3\xa9\x7f\"}",
		"{ \"a\" : 1 }",
		"{\"a\":1.0}",
		"{\"a\":1e2}",
		"{\"a\":0.5}",
		"{\"a\":-0}",
		"{\"a\":01}",
		"{\"a\":\"\\u00e9\"}",
		"{\"a\":\"\\/\"}",
		"{\"a\":\"\\u0001\"}",
		"{\"a\":1,\"a\":2}",
		"{\"a\":1,\"b\":2,\"a\":3}",
		"[9223372036854775808]",
		"[-9223372036854775809]",
		"\"\\u0000\"",
		"\"\xc3\"",
		"\"\x01\"",
		"[1,]",
		"{\"a\"}",
		"truex",
		"{\"a\":1}\n",
	};
	struct fixture fx;
	char key[16];

	fx_init(&fx, NULL, 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char buf[128];
		json_t *v = NULL;
		char *want = NULL;
		size_t wlen = 0, n = strlen(texts[i]);
		struct doc_snap *sn;
		uint64_t id;
		int prc, rc;

		snprintf(key, sizeof(key), "d%zu", i);
		id = mkdoc(&fx, key);
		buf[0] = 'R';
		memcpy(buf + 1, texts[i], n);
		ck_assert_int_eq(store_append(fx.s, id, buf, n + 1, NULL, NULL),
				 0);
		prc = json_value_parse(texts[i], n, &v);
		if (prc == 0) {
			ck_assert_int_eq(json_value_emit(v, &want, &wlen), 0);
			json_decref(v);
		}
		rc = doc_read(fx.d, id, &sn);
		if (prc < 0) {
			ck_assert_msg(rc == -EBADMSG, "%s: %d", texts[i], rc);
		} else {
			size_t len;
			const char *got;

			ck_assert_msg(rc == 0, "%s: %d", texts[i], rc);
			got = doc_snap_text(sn, &len);
			ck_assert_uint_eq(len, wlen);
			ck_assert_msg(memcmp(got, want, len) == 0 &&
					      got[len] == '\0',
				      "%s read as %s", texts[i], got);
			doc_snap_put(sn);
			/* a patch after it: parsed from the text it read */
			if (texts[i][0] == '{' && texts[i][1] == '"') {
				json_t *doc;
				char *after;
				size_t alen;

				ck_assert_int_eq(patch(&fx, id, "{\"z\":[]}"),
						 0);
				ck_assert_int_eq(
					json_value_parse(want, wlen, &doc), 0);
				ck_assert_int_eq(
					json_object_set_new(doc, "z",
							    json_array()),
					0);
				ck_assert_int_eq(
					json_value_emit(doc, &after, &alen), 0);
				expect_doc(&fx, id, after);
				free(after);
				json_decref(doc);
			}
		}
		free(want);
	}
	fx_done(&fx);
}
END_TEST

/* Four writers patch one document; a reader checks that every version it
 * sees parses and never goes back for any writer. */
struct race {
	struct fixture *fx;
	uint64_t id;
	int t;
	volatile int *stop;
};

enum {
	RACE_THREADS = 4,
	RACE_PATCHES = 400
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	char p[64];
	int i;

	for (i = 1; i <= RACE_PATCHES; i++) {
		snprintf(p, sizeof(p), "{\"t%d\":%d}", r->t, i);
		if (patch(r->fx, r->id, p) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	long last[RACE_THREADS] = { 0 };
	long bad = 0;

	while (!*r->stop) {
		struct doc_snap *sn;
		const char *text;
		size_t len;
		json_t *v;
		int t;

		if (doc_read(r->fx->d, r->id, &sn) != 0)
			return (void *)1;
		text = doc_snap_text(sn, &len);
		if (json_value_parse(text, len, &v) != 0)
			bad++;
		for (t = 0; t < RACE_THREADS && !bad; t++) {
			char k[8];
			json_t *n;

			snprintf(k, sizeof(k), "t%d", t);
			n = json_object_get(v, k);
			if (n && json_integer_value(n) < last[t])
				bad++;
			if (n)
				last[t] = (long)json_integer_value(n);
		}
		json_decref(v);
		doc_snap_put(sn);
	}
	return (void *)bad;
}

START_TEST(test_doc_concurrent_patches_apply_in_one_order)
{
	struct fixture fx;
	struct race r[RACE_THREADS + 1];
	pthread_t th[RACE_THREADS + 1];
	volatile int stop = 0;
	struct doc_options o;
	void *res;
	uint64_t id;
	int t;

	doc_options_default(&o);
	o.compact_entries = 50;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	for (t = 0; t <= RACE_THREADS; t++) {
		r[t] = (struct race){ &fx, id, t, &stop };
		ck_assert_int_eq(pthread_create(&th[t], NULL,
						t < RACE_THREADS ? race_writer
								 : race_reader,
						&r[t]),
				 0);
	}
	for (t = 0; t < RACE_THREADS; t++) {
		pthread_join(th[t], &res);
		ck_assert_ptr_null(res);
	}
	stop = 1;
	pthread_join(th[RACE_THREADS], &res);
	ck_assert_ptr_null(res);
	expect_equal(&fx, id, "{\"t0\":400,\"t1\":400,\"t2\":400,\"t3\":400}");
	fx_close(&fx);
	fx_open(&fx, &o, 0);
	expect_equal(&fx, id, "{\"t0\":400,\"t1\":400,\"t2\":400,\"t3\":400}");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_space_is_not_a_document)
{
	struct fixture fx;
	struct doc_snap *sn;

	fx_init(&fx, NULL, 0);
	ck_assert_int_eq(doc_read(fx.d, fx.space, &sn), -EISDIR);
	ck_assert_int_eq(patch(&fx, 999999, "{}"), -ENOENT);
	fx_done(&fx);
}
END_TEST

/* doc_patch_batch with the patches given as texts. */
static int batch(struct fixture *fx, uint64_t id, const char *const *texts,
		 size_t n, size_t *done, uint64_t *lsn)
{
	json_t *v[16];
	size_t i;
	int rc;

	ck_assert_uint_le(n, 16);
	for (i = 0; i < n; i++)
		v[i] = J(texts[i]);
	rc = doc_patch_batch(fx->d, id, v, n, done, lsn);
	for (i = 0; i < n; i++)
		json_decref(v[i]);
	return rc;
}

START_TEST(test_doc_patch_batch_is_one_frame_with_the_same_result)
{
	static const char *const p[] = {
		"{\"a\":1,\"b\":{\"c\":2}}",
		"{\"b\":{\"c\":null,\"d\":3}}",
		"{\"e\":[1,2]}",
		"{\"a\":null}",
		"{\"f\":\"x\"}",
	};
	struct fixture fx;
	uint64_t one, many, lsn = 0, before;
	size_t i, done = 99;

	fx_init(&fx, NULL, 0);
	one = mkdoc(&fx, "one");
	many = mkdoc(&fx, "many");
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(patch(&fx, one, p[i]), 0);
	before = info_of(&fx, one).lsn;
	ck_assert_int_eq(batch(&fx, many, p, 5, &done, &lsn), 0);
	ck_assert_uint_eq(done, 5);
	ck_assert_uint_eq(lsn, before + 1); /* one frame */
	expect_doc(&fx, many, "{\"b\":{\"d\":3},\"e\":[1,2],\"f\":\"x\"}\n");
	expect_doc(&fx, one, "{\"b\":{\"d\":3},\"e\":[1,2],\"f\":\"x\"}\n");
	ck_assert_uint_eq(info_of(&fx, many).entries, 5);
	ck_assert_uint_eq(info_of(&fx, many).seq, 5);
	/* the entries are ordinary patches: the same after a reopen */
	fx_close(&fx);
	fx_open(&fx, NULL, 0);
	expect_doc(&fx, many, "{\"b\":{\"d\":3},\"e\":[1,2],\"f\":\"x\"}\n");
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_patch_batch_stops_at_the_first_failing_patch)
{
	struct fixture fx;
	struct doc_options o;
	char big[200], mid[80];
	const char *p[4];
	size_t done = 99;
	uint64_t id;

	doc_options_default(&o);
	o.max_doc_bytes = 64;
	o.max_patch_bytes = 40;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	/* a patch over max_patch: the ones before it are stored */
	snprintf(big, sizeof(big), "{\"z\":\"%050d\"}", 0);
	p[0] = "{\"a\":1}";
	p[1] = "{\"b\":2}";
	p[2] = big;
	p[3] = "{\"c\":3}";
	ck_assert_int_eq(batch(&fx, id, p, 4, &done, NULL), -EFBIG);
	ck_assert_uint_eq(done, 2);
	expect_doc(&fx, id, "{\"a\":1,\"b\":2}\n");
	/* an intermediate state over max_doc, although the last one fits:
	 * refused at that patch, as one patch at a time would */
	snprintf(mid, sizeof(mid), "{\"m\":\"%030d\"}", 0);
	p[0] = "{\"c\":3}";
	p[1] = mid;
	p[2] = "{\"m\":null}";
	ck_assert_int_eq(batch(&fx, id, p, 3, &done, NULL), 0);
	ck_assert_uint_eq(done, 3);
	p[0] = mid;
	p[1] = "{\"n\":\"0123456789012345678901234\"}";
	p[2] = "{\"m\":null}";
	ck_assert_int_eq(batch(&fx, id, p, 3, &done, NULL), -EFBIG);
	ck_assert_uint_eq(done, 1);
	expect_doc(
		&fx, id,
		"{\"a\":1,\"b\":2,\"c\":3,\"m\":\"000000000000000000000000000000\"}\n");
	/* a document that is gone */
	ck_assert_int_eq(batch(&fx, 999999, p, 2, &done, NULL), -ENOENT);
	ck_assert_uint_eq(done, 0);
	fx_done(&fx);
}
END_TEST

START_TEST(test_doc_patch_batch_compacts)
{
	const char *p[16];
	char text[16][32];
	struct fixture fx;
	struct doc_options o;
	size_t done, i, round;
	uint64_t id;

	doc_options_default(&o);
	o.compact_entries = 8;
	o.history = 0;
	fx_init(&fx, &o, 0);
	id = mkdoc(&fx, "a");
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 16; i++) {
			snprintf(text[i], sizeof(text[i]), "{\"k%zu\":%zu}", i,
				 round * 16 + i);
			p[i] = text[i];
		}
		ck_assert_int_eq(batch(&fx, id, p, 16, &done, NULL), 0);
		ck_assert_uint_eq(done, 16);
		ck_assert_uint_le(info_of(&fx, id).entries, 8);
	}
	expect_equal(
		&fx, id,
		"{\"k0\":64,\"k1\":65,\"k2\":66,\"k3\":67,\"k4\":68,\"k5\":69,"
		"\"k6\":70,\"k7\":71,\"k8\":72,\"k9\":73,\"k10\":74,"
		"\"k11\":75,\"k12\":76,\"k13\":77,\"k14\":78,\"k15\":79}");
	fx_done(&fx);
}
END_TEST

/* Issue 12, defect 2: entries from outside are checked by the mount's
 * rules, and the whole document must materialize within the limits. */
START_TEST(test_doc_entries_check_applies_the_write_rules)
{
	struct doc_options o;
	struct store_import_entry e[3];
	static const char *const bad[] = {
		"Rnot json", "X{}", "P{\"s\":\"\xff\"}",
		"P",	     "",    "P{\"n\":1e999}",
		"R{} {}",    "S[1",
	};

	doc_options_default(&o);
	o.max_doc_bytes = 16;
	o.max_patch_bytes = 10;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0].buf = bad[i];
		e[0].len = strlen(bad[i]);
		ck_assert_msg(doc_entries_check(&o, e, 1) == -EBADMSG,
			      "entry %zu accepted", i);
	}
	e[0].buf = "P{\"a\":1}";
	e[0].len = 8;
	e[1].buf = "P{\"b\":2}";
	e[1].len = 8;
	e[2].buf = "P{\"c\":3}";
	e[2].len = 8;
	ck_assert_int_eq(doc_entries_check(&o, e, 0), 0);
	ck_assert_int_eq(doc_entries_check(&o, e, 2), 0); /* {"a":1,"b":2} */
	/* each patch fits, the document they make does not */
	ck_assert_int_eq(doc_entries_check(&o, e, 3), -EFBIG);
	e[0].buf = "P{\"abcdefgh\":1}";
	e[0].len = strlen(e[0].buf);
	ck_assert_int_eq(doc_entries_check(&o, e, 1), -EFBIG);
	e[0].buf = "R\"0123456789abcdef\"";
	e[0].len = strlen(e[0].buf);
	ck_assert_int_eq(doc_entries_check(&o, e, 1), -EFBIG);
	/* a snapshot within the limits */
	e[0].buf = "S{\"x\":null}";
	e[0].len = strlen(e[0].buf);
	ck_assert_int_eq(doc_entries_check(&o, e, 1), 0);
}
END_TEST

/* Issue 12, defect 2: fsck names every document that does not
 * materialize. */
START_TEST(test_doc_fsck_reports_documents_that_do_not_materialize)
{
	struct fixture fx;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	uint64_t good, bad;

	fx_init(&fx, NULL, 0);
	good = mkdoc(&fx, "good");
	bad = mkdoc(&fx, "bad");
	ck_assert_int_eq(patch(&fx, good, "{\"a\":1}"), 0);
	out = open_memstream(&text, &len);
	ck_assert_int_eq(doc_fsck(fx.s, out), 0);
	ck_assert_int_eq(store_append(fx.s, bad, "Rnot json", 9, NULL, NULL),
			 0);
	ck_assert_int_eq(doc_fsck(fx.s, out), 1);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "'sp/bad'"));
	ck_assert_ptr_null(strstr(text, "'sp/good'"));
	free(text);
	fx_done(&fx);
}
END_TEST

/* Issue 15 item 4: the undo of a failed write is conditional, atomically:
 * doc_replace_if and store_doc_delete_if do nothing (-EAGAIN) once another
 * change came after the frame they expect, and act when none did. */
START_TEST(test_doc_conditional_replace_and_delete_yield_to_a_later_change)
{
	struct fixture fx;
	struct store_doc_info info;
	struct doc_snap *snap;
	uint64_t id, reset_lsn = 0, lsn = 0;
	json_t *old = J("{\"kept\":1}"), *p = J("{\"other\":2}");
	const char *text;
	size_t len;

	fx_init(&fx, NULL, 0);
	id = mkdoc(&fx, "d");
	ck_assert_int_eq(doc_replace(fx.d, id, old, NULL), 0);
	ck_assert_int_eq(doc_reset(fx.d, id, &reset_lsn), 0);
	/* another handle stores a value after the reset: the undo yields */
	ck_assert_int_eq(doc_patch(fx.d, id, p, NULL), 0);
	ck_assert_int_eq(doc_replace_if(fx.d, id, old, reset_lsn, &lsn),
			 -EAGAIN);
	ck_assert_int_eq(doc_read(fx.d, id, &snap), 0);
	text = doc_snap_text(snap, &len);
	ck_assert(len >= 11 && !memcmp(text, "{\"other\":2}", 11));
	doc_snap_put(snap);
	/* nothing came between: the undo acts */
	ck_assert_int_eq(doc_reset(fx.d, id, &reset_lsn), 0);
	ck_assert_int_eq(doc_replace_if(fx.d, id, old, reset_lsn, &lsn), 0);
	ck_assert_int_eq(doc_read(fx.d, id, &snap), 0);
	text = doc_snap_text(snap, &len);
	ck_assert(len >= 10 && !memcmp(text, "{\"kept\":1}", 10));
	doc_snap_put(snap);

	/* delete only while the expected frame is the last change */
	ck_assert_int_eq(store_doc_info(fx.s, id, &info), 0);
	ck_assert_int_eq(doc_patch(fx.d, id, p, NULL), 0);
	ck_assert_int_eq(store_doc_delete_if(fx.s, id, info.lsn, NULL),
			 -EAGAIN);
	ck_assert_int_eq(store_doc_info(fx.s, id, &info), 0);
	ck_assert_int_eq(store_doc_delete_if(fx.s, id, info.lsn, NULL), 0);
	ck_assert_int_eq(store_doc_info(fx.s, id, &info), -ENOENT);
	json_decref(old);
	json_decref(p);
	fx_done(&fx);
}
END_TEST

static Suite *doc_suite(void)
{
	Suite *s = suite_create("doc");
	TCase *tc = tcase_create("doc");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_doc_empty_document_reads_as_empty_object);
	tcase_add_test(tc, test_doc_patches_merge_in_order);
	tcase_add_test(tc, test_doc_entries_use_the_documented_format);
	tcase_add_test(tc, test_doc_replace_drops_older_entries);
	tcase_add_test(tc, test_doc_snapshot_keeps_its_version);
	tcase_add_test(tc, test_doc_cache_serves_repeated_reads);
	tcase_add_test(tc, test_doc_size_is_known_without_the_cache);
	tcase_add_test(tc, test_doc_cache_sees_changes_made_around_it);
	tcase_add_test(tc, test_doc_survives_reopen);
	tcase_add_test(tc, test_doc_limits_refuse_and_keep_the_document);
	tcase_add_test(tc,
		       test_doc_full_store_is_enospc_and_keeps_the_document);
	tcase_add_test(tc, test_doc_compaction_bounds_entries_by_count);
	tcase_add_test(tc, test_doc_compaction_bounds_stored_bytes);
	tcase_add_test(tc, test_doc_damaged_entry_is_ebadmsg);
	tcase_add_test(tc, test_doc_cache_stays_within_budget);
	tcase_add_test(tc, test_doc_cache_charges_text_for_reads);
	tcase_add_test(tc, test_doc_cache_resists_a_scan);
	tcase_add_test(tc, test_doc_whole_entry_reads_as_emitted);
	tcase_add_test(tc, test_doc_concurrent_patches_apply_in_one_order);
	tcase_add_test(tc, test_doc_space_is_not_a_document);
	tcase_add_test(tc,
		       test_doc_patch_batch_is_one_frame_with_the_same_result);
	tcase_add_test(tc,
		       test_doc_patch_batch_stops_at_the_first_failing_patch);
	tcase_add_test(tc, test_doc_patch_batch_compacts);
	tcase_add_test(tc, test_doc_entries_check_applies_the_write_rules);
	tcase_add_test(tc,
		       test_doc_fsck_reports_documents_that_do_not_materialize);
	tcase_add_test(
		tc,
		test_doc_conditional_replace_and_delete_yield_to_a_later_change);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(doc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
