/*
 * snapshot.h - caravan snapshot create|list|delete (admin/snapshot.c):
 * the store's named snapshots, offline.
 */
#ifndef ADMIN_SNAPSHOT_H
#define ADMIN_SNAPSHOT_H

/* caravan snapshot ACTION DIR [NAME]: the exit status (0 done, 1 the
 * change failed, 2 the command could not run). */
int snapshot_cmd(const char *action, const char *dir, const char *name);

#endif
