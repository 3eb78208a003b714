/*
 * history.h - the caravan commands over a store's cloud history
 * (admin/history.c): point-in-time restore and versions.
 */
#ifndef ADMIN_HISTORY_H
#define ADMIN_HISTORY_H

#include <stdbool.h>

/* Whether a restore command line asks for the history (--at, --only). */
bool history_restore_wanted(int argc, char **argv);
/* caravan restore --at ... (argv after "restore"): the exit status. */
int history_cmd_restore(int argc, char **argv);
/* caravan versions ... (argv after "versions"): the exit status. */
int history_cmd_versions(int argc, char **argv);

#endif
