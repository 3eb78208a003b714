/*
 * handle.h - the open handles of a mount: the lists of open file handles
 * (fs/file.c) and directory handles (fs/dir.c), and the memory that open
 * file handles pin (SPEC 7c, charged by fs/file.c).
 *
 * The lists exist only so the mount can free the handles the kernel never
 * released (a session that ends with files still open); requests reach a
 * handle through fi->fh, never through a list.  Each kind of handle embeds
 * a struct fs_handle_link.
 *
 * Locks: each list's mu guards its links; pin_mu guards pins and
 * pinned_bytes; pending_bytes is an atomic.  Each is a leaf lock: nothing
 * else is locked while one is held.
 */
#ifndef FS_HANDLE_H
#define FS_HANDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/u64map.h"

struct fs_handle_link {
	struct fs_handle_link *prev, *next;
};

/* The struct of type holding link ptr as its member. */
#define fs_handle_container(ptr, type, member)                                 \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct fs_handle_list {
	pthread_mutex_t mu; /* guards head and every link on the list */
	struct fs_handle_link *head;
};

struct fs_handles {
	struct fs_handle_list files; /* struct fs_handle, fs/file.c */
	struct fs_handle_list dirs; /* struct dir_handle, fs/dir.c */
	pthread_mutex_t pin_mu; /* guards pins and pinned_bytes */
	struct u64map pins; /* snapshot address -> handles holding it */
	uint64_t pinned_bytes; /* text of the snapshots in pins */
	atomic_uint_fast64_t pending_bytes; /* held by write handles' splitters */
};

/* Empty lists, nothing pinned; release after the last handle is freed. */
void fs_handles_init(struct fs_handles *hs);
void fs_handles_release(struct fs_handles *hs);

/* Put link on list l / take it off (it must be on l). */
void fs_handle_list_add(struct fs_handle_list *l, struct fs_handle_link *link);
void fs_handle_list_remove(struct fs_handle_list *l,
			   struct fs_handle_link *link);
/* Take the first link off l and return it; NULL when l is empty. */
struct fs_handle_link *fs_handle_list_pop(struct fs_handle_list *l);

#endif
