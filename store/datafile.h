/*
 * datafile.h - create and map the store's data file (format in
 * datafile.c).  Internal to store/.
 */
#ifndef STORE_DATAFILE_H
#define STORE_DATAFILE_H

#include <stdbool.h>
#include <stdint.h>

/* Create path with a data area of capacity bytes, durable (file and
 * directory dir fsync'd).  Returns 0 or -errno. */
int datafile_create(const char *path, const char *dir, uint64_t capacity);

/* The store identity in the header (format in datafile.c) */
#define DATA_ID_OFF 24
#define DATA_ID_LEN 16

/* Open and map path.  A writable open gives a data file without an
 * identity one.  On success the caller owns *fd_out and the mapping
 * of DATA_HDR + *capacity bytes at *map_out. */
int datafile_open(const char *path, bool read_only, int *fd_out,
		  uint8_t **map_out, uint64_t *capacity);

/* The identity in a mapped header (DATA_ID_LEN bytes; all zero in a
 * read-only map of a data file that has none yet). */
#define datafile_id(map) ((const uint8_t *)(map) + DATA_ID_OFF)

/* Extend the data file behind fd to a data area of capacity bytes
 * (preallocated) and rewrite its header copies, keeping identity id;
 * the new size and header are durable on return, the file's other
 * unsynced changes (the map's dirty pages) are not written back.  name names the store in messages.  On failure
 * *sticky is false when nothing changed (the preallocation failed: the
 * header names the old capacity), true when a sync or header write
 * failed (the disk's state is unknown). */
int datafile_grow(int fd, const char *name, uint64_t capacity,
		  const uint8_t id[DATA_ID_LEN], bool *sticky);

/* The warmer (datafile.c): a thread that populates the page cache with
 * the pages of a range of the data file behind fd (allocated, zeroed,
 * dirty), off the writers' path, so that their first write into those
 * pages does not fault them in.  fd must stay open until
 * datafile_warm_free.  _ask replaces the request not yet done by
 * [from, to) (file offsets, inside the file) and returns at once; it
 * accepts NULL.  _free stops and joins the thread; it accepts NULL. */
struct datafile_warm;
int datafile_warm_new(int fd, struct datafile_warm **out);
void datafile_warm_ask(struct datafile_warm *w, uint64_t from, uint64_t to);
void datafile_warm_free(struct datafile_warm *w);

#endif
