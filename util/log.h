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
/* The program named at the start of each stderr line (default
 * "caravanfs"); name is borrowed and must stay valid. */
void log_set_ident(const char *name);
/* How many error lines were logged so far (a caller that reports a
 * failure itself can tell whether the code below already did). */
unsigned long log_errors(void);
/* fn runs before each line written to stderr (a progress display clears
 * its line there); NULL: none. */
void log_set_prelude(void (*fn)(void));
/* Send later lines to syslog (ident "caravanfs") instead of stderr. */
void log_use_syslog(bool on);
/* Lines below this level are dropped. */
bool log_enabled(enum log_level level);

/* While on, the calling thread's lines are written at debug level
 * whatever level they were logged at (and are not counted by
 * log_errors): a caller that retries a failing call every round and
 * says so once itself quiets the repeats of the layers below.  Per
 * thread; off by default. */
void log_thread_demote(bool on);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Longest escaped name, with its NUL (see log_escape_name). */
#define LOG_NAME_ESC_MAX (3 * 255 + sizeof("..."))

/* name made safe for a log line, into out: every byte but A-Z a-z 0-9
 * '-' '.' '_' '~' becomes %XX (upper-case hex), the percent-encoding of
 * cloud object names, so a name can never forge a line, a quote or a
 * field, and reads the same in a log and in the cloud target.  At most
 * 255 bytes of name are written; a longer one ends in "...".  Returns
 * out.  Every document or space name that reaches a log line goes
 * through here. */
const char *log_escape_name(const char *name, char out[LOG_NAME_ESC_MAX]);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
