/*
 * strlist.c - growable list of owned strings (see strlist.h).  The array
 * doubles from 16 slots; a failed copy or growth leaves the list as it
 * was.
 */
#include "util/strlist.h"

#include "util/grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strlist_add(struct strlist *l, const char *s)
{
	char *copy;

	if (l->n == l->cap) {
		char **grown =
			grow_array(l->v, &l->cap, l->n + 1, 16, sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		l->v = grown;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	l->v[l->n++] = copy;
	return 0;
}

int strlist_collect(void *arg, const char *name)
{
	return strlist_add(arg, name);
}

bool strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

bool strlist_remove(struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i], s)) {
			free(l->v[i]);
			memmove(&l->v[i], &l->v[i + 1],
				(l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return true;
		}
	}
	return false;
}

void strlist_clear(struct strlist *l)
{
	while (l->n)
		free(l->v[--l->n]);
}

void strlist_release(struct strlist *l)
{
	strlist_clear(l);
	free(l->v);
	l->v = NULL;
	l->cap = 0;
}
