/*
 * history.h - the caravan commands over a store's cloud history
 * (admin/history.c): point-in-time restore and versions.
 */
#ifndef ADMIN_HISTORY_H
#define ADMIN_HISTORY_H

#include <stdbool.h>

#include "cloud/target.h"

/* A command line as admin/caravan.c parsed it (borrowed strings). */
struct history_args {
	const char *url; /* --cloud */
	const char *at; /* --at TIME (RFC 3339), NULL: the latest */
	const char *only; /* --only SPACE[/KEY], NULL: everything */
	const char *pos; /* DIR (restore) or SPACE/KEY (versions) */
	bool force; /* --force: replace a non-empty DIR */
	struct cloud_options co;
};

/* caravan restore --at/--only: the exit status (0, 1, 2). */
int history_cmd_restore(const struct history_args *a);
/* caravan versions: the exit status. */
int history_cmd_versions(const struct history_args *a);

#endif
