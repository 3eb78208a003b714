/*
 * name.c - the name rule of SPEC 3; the rule and its precedence are
 * documented in name.h.
 */
#include "util/name.h"

#include <errno.h>
#include <string.h>

static bool has_prefix(const char *p, size_t len, const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;

	return n && len >= n && memcmp(p, prefix, n) == 0;
}

int name_check_bytes(const void *p, size_t len, const char *reserved_prefix)
{
	const char *s = p;

	if (len == 0)
		return -EINVAL;
	if (len > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	if (memchr(s, '/', len) || memchr(s, '\0', len))
		return -EINVAL;
	if ((len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return -EINVAL;
	if (has_prefix(s, len, reserved_prefix))
		return -EINVAL;
	return 0;
}

int name_check(const char *name, const char *reserved_prefix)
{
	return name_check_bytes(name, strnlen(name, NAME_MAX_BYTES + 1),
				reserved_prefix);
}

bool name_is_reserved(const char *name, const char *reserved_prefix)
{
	return has_prefix(name, strlen(name), reserved_prefix);
}
