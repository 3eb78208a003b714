/*
 * merge.c - RFC 7386 JSON merge patch: how an append changes a document.
 *
 * Design
 *
 * RFC 7386 section 2 defines the result recursively:
 *
 *   MergePatch(Target, Patch):
 *     if Patch is an object:
 *       if Target is not an object: Target = {}
 *       for each (Name, Value) in Patch:
 *         if Value is null: remove Name from Target (if present)
 *         else: Target[Name] = MergePatch(Target[Name], Value)
 *       return Target
 *     else:
 *       return Patch
 *
 * Ordering (SPEC 4): a member that already exists in the target keeps its
 * position when its value changes (jansson replaces the value of an
 * existing key in place); a new member is appended after the existing
 * ones, in the patch's order.  A member removed and added again by later
 * patches is new, so it goes to the end.
 *
 * Sharing: the document is modified in place.  An object of the patch is
 * never put into the document: where the target has no object to merge
 * into, the patch object is rebuilt member by member (this is also what
 * drops its null members, RFC 7386 "{}" + {"a":{"b":null}} = {"a":{}}).
 * Arrays and scalars of the patch are put into the document by reference
 * (json_incref), never copied; merging never modifies an array or a
 * scalar, so the patch stays unchanged and the shared parts are safe as
 * long as nobody else modifies them either.
 *
 * Invariants
 *   1. Every object reachable from *doc after a merge was in *doc before
 *      or was created by the merge: merging never aliases a patch object.
 *   2. Depth: the result is no deeper than the deeper of the two inputs,
 *      so a merge of parsed values can always be emitted and parsed again.
 *
 * A NULL *doc is an absent document (RFC 7386 "undefined"): the result is
 * then the patch's value with null members dropped.
 *
 * Failure: on -ENOMEM *doc is still a valid value, holding some of the
 * patch's changes but not all; the caller must drop it and rebuild (the
 * store materializes from its log).
 */
#include "json/json.h"
#include "json/json_internal.h"

#include <assert.h>
#include <errno.h>

static int merge_object(json_t *target, const json_t *patch);

/* A new object that is patch with its null members dropped recursively,
 * i.e. MergePatch({}, patch); NULL when out of memory. */
static json_t *object_from_patch(const json_t *patch)
{
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	if (merge_object(obj, patch)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Target[Name] = MergePatch(Target[Name], value) for a non-null value. */
static int merge_member(json_t *target, const char *key, size_t key_len,
			const json_t *value)
{
	json_t *cur = json_object_getn(target, key, key_len);
	json_t *nv;

	if (!json_is_object(value)) {
		nv = json_incref((json_t *)value);
	} else if (json_is_object(cur)) {
		return merge_object(cur, value);
	} else {
		nv = object_from_patch(value);
		if (!nv)
			return -ENOMEM;
	}
	/* Steals nv even on failure. */
	if (json_object_setn_new_nocheck(target, key, key_len, nv))
		return -ENOMEM;
	return 0;
}

/* Applies an object patch to an object target in place. */
static int merge_object(json_t *target, const json_t *patch)
{
	json_t *p = (json_t *)patch; /* the iterator API is not const */
	int rc;

	assert(json_is_object(target) && json_is_object(patch));
	for (void *it = json_object_iter(p); it;
	     it = json_object_iter_next(p, it)) {
		const char *key = json_object_iter_key(it);
		size_t key_len = json_object_iter_key_len(it);
		json_t *value = json_object_iter_value(it);

		if (json_is_null(value)) {
			/* Absent already is fine: -1 from deln means "no such key". */
			json_object_deln(target, key, key_len);
			continue;
		}
		rc = merge_member(target, key, key_len, value);
		if (rc)
			return rc;
	}
	return 0;
}

int json_merge_patch(json_t **doc, const json_t *patch)
{
	json_t *nv;

	/* The same object as both would be modified while iterated; the same
	 * scalar (jansson's true/false/null are singletons) is harmless. */
	assert(doc && patch && !(json_is_object(patch) && patch == *doc));
	if (!json_is_object(patch)) {
		nv = json_incref((json_t *)patch);
	} else if (json_is_object(*doc)) {
		return merge_object(*doc, patch);
	} else {
		nv = object_from_patch(patch);
		if (!nv)
			return -ENOMEM;
	}
	json_decref(*doc);
	*doc = nv;
	return 0;
}
