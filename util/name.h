/*
 * name.h - the one rule for the name of a space or a document (SPEC 3).
 *
 * A name is 1 to NAME_MAX_BYTES bytes, any byte but '/' and NUL, neither
 * "." nor "..", and does not start with the caller's reserved prefix (the
 * filesystem reserves ".caravan"; the store and the cloud reserve nothing
 * of their own and are handed the prefix by whoever mounts).
 *
 * Precedence: the first rule broken, in this order, decides the errno.
 *   1. empty                                            -EINVAL
 *   2. longer than NAME_MAX_BYTES                       -ENAMETOOLONG
 *   3. holds '/' or NUL, is "." or "..", or starts with
 *      the reserved prefix                              -EINVAL
 * Length comes before content, as in the kernel, which refuses an
 * over-long path component before any filesystem sees its bytes: a
 * 300-byte name holding '/' is -ENAMETOOLONG everywhere.
 *
 * Every module that accepts a name (store, cloud, archive, fs) asks these
 * functions and nothing else.
 */
#ifndef UTIL_NAME_H
#define UTIL_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_BYTES 255

/* 0, -EINVAL or -ENAMETOOLONG for the NUL-terminated name, by the rule
 * above.  reserved_prefix: NULL or "" reserves nothing. */
int name_check(const char *name, const char *reserved_prefix);

/* The same for the len bytes at p, which need not be NUL-terminated (a
 * NUL among them is -EINVAL): names read from disk or the network. */
int name_check_bytes(const void *p, size_t len, const char *reserved_prefix);

/* Does name start with reserved_prefix (NULL or "": never)? */
bool name_is_reserved(const char *name, const char *reserved_prefix);

#endif
