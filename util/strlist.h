/*
 * strlist.h - a growable list of owned C strings, in insertion order.
 *
 * The list owns every string it holds (strlist_add copies) and the array;
 * strlist_release frees both.  strlist_collect has the shape of the name
 * callbacks of listings (cloud_target_list_all, backup_list_space), so a
 * listing can be gathered with `strlist_collect, &list`.  Not thread-safe.
 */
#ifndef UTIL_STRLIST_H
#define UTIL_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;
	size_t n, cap;
};

#define STRLIST_INIT                                                           \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Append a copy of s.  0 or -ENOMEM (the list is unchanged then). */
int strlist_add(struct strlist *l, const char *s);
/* strlist_add with arg the list: a listing callback. */
int strlist_collect(void *arg, const char *name);
/* Remove the first s (freeing it); later strings move up one.  Returns
 * whether s was there. */
bool strlist_remove(struct strlist *l, const char *s);
/* Is s in the list (byte for byte)? */
bool strlist_has(const struct strlist *l, const char *s);
/* Free the strings and empty the list, keeping the array for reuse. */
void strlist_clear(struct strlist *l);
/* Free everything; the list is empty and may be used again. */
void strlist_release(struct strlist *l);

#endif
