/*
 * handle.c - the lists of a mount's open handles and its pin budget's
 * state (see handle.h).  Each list is a doubly linked list of links
 * embedded in the handles, under the list's own mutex; adding and removing
 * are O(1), so opening and closing never scan.
 */
#include "config.h"

#include <string.h>

#include "fs/handle.h"

static void list_init(struct fs_handle_list *l)
{
	pthread_mutex_init(&l->mu, NULL);
	l->head = NULL;
}

void fs_handles_init(struct fs_handles *hs)
{
	memset(hs, 0, sizeof(*hs));
	list_init(&hs->files);
	list_init(&hs->dirs);
	pthread_mutex_init(&hs->pin_mu, NULL);
	u64map_init(&hs->pins);
}

void fs_handles_release(struct fs_handles *hs)
{
	pthread_mutex_destroy(&hs->files.mu);
	pthread_mutex_destroy(&hs->dirs.mu);
	u64map_release(&hs->pins);
	pthread_mutex_destroy(&hs->pin_mu);
}

void fs_handle_list_add(struct fs_handle_list *l, struct fs_handle_link *link)
{
	pthread_mutex_lock(&l->mu);
	link->prev = NULL;
	link->next = l->head;
	if (l->head)
		l->head->prev = link;
	l->head = link;
	pthread_mutex_unlock(&l->mu);
}

static void list_unlink(struct fs_handle_list *l, struct fs_handle_link *link)
{
	if (link->prev)
		link->prev->next = link->next;
	else
		l->head = link->next;
	if (link->next)
		link->next->prev = link->prev;
	link->prev = link->next = NULL;
}

void fs_handle_list_remove(struct fs_handle_list *l,
			   struct fs_handle_link *link)
{
	pthread_mutex_lock(&l->mu);
	list_unlink(l, link);
	pthread_mutex_unlock(&l->mu);
}

struct fs_handle_link *fs_handle_list_pop(struct fs_handle_list *l)
{
	struct fs_handle_link *link;

	pthread_mutex_lock(&l->mu);
	link = l->head;
	if (link)
		list_unlink(l, link);
	pthread_mutex_unlock(&l->mu);
	return link;
}
