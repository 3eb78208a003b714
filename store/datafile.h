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

/* Open and map path.  On success the caller owns *fd_out and the mapping
 * of DATA_HDR + *capacity bytes at *map_out. */
int datafile_open(const char *path, bool read_only, int *fd_out,
		  uint8_t **map_out, uint64_t *capacity);

/* Extend the data file behind fd to a data area of capacity bytes
 * (preallocated) and rewrite its header; durable on return. */
int datafile_grow(int fd, const char *path, uint64_t capacity);

#endif
