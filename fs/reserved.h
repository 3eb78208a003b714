/*
 * reserved.h - the names the filesystem keeps for itself.  No other
 * include: the caravan admin tool, which uses nothing else of fs/, opens
 * stores with the same reservation.
 */
#ifndef FS_RESERVED_H
#define FS_RESERVED_H

/* Names starting with this are reserved (never created, never listed). */
#define FS_RESERVED_PREFIX ".caravan"

#endif
