/*
 * log.h - one line per event, to stderr or syslog.
 *
 * Messages follow the house rule: lower-case, failure first, subject
 * quoted, e.g. log_error("cannot map '%s': %s", path, strerror(-rc)).
 * Thread-safe; each call writes one whole line.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

void log_set_level(enum log_level level);
/* Send later lines to syslog (ident "caravanfs") instead of stderr. */
void log_use_syslog(bool on);
/* Lines below this level are dropped. */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
