/*
 * log.c - line logger.  The level and sink are process-wide settings
 * changed at start-up; each line is formatted into a local buffer and
 * written with one write(2) so lines from threads never interleave.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static enum log_level level = LOG_LVL_INFO;
static bool to_syslog;
static const char *ident = "caravanfs";
static unsigned long errors; /* error lines so far */

static void (*prelude)(void);
static _Thread_local bool demoted; /* log_thread_demote */

void log_set_prelude(void (*fn)(void))
{
	prelude = fn;
}

void log_set_ident(const char *name)
{
	ident = name;
}

unsigned long log_errors(void)
{
	return __atomic_load_n(&errors, __ATOMIC_RELAXED);
}

void log_set_level(enum log_level l)
{
	level = l;
}

void log_use_syslog(bool on)
{
	if (on && !to_syslog)
		openlog("caravanfs", LOG_PID, LOG_DAEMON);
	to_syslog = on;
}

void log_thread_demote(bool on)
{
	demoted = on;
}

bool log_enabled(enum log_level l)
{
	return l <= level;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warning", "info",
					   "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;
	int n;

	if (demoted)
		l = LOG_LVL_DEBUG;
	if (!log_enabled(l))
		return;
	if (l == LOG_LVL_ERROR)
		__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	if (to_syslog) {
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(prio[l], "%s", line);
		va_end(ap);
		return;
	}
	if (prelude)
		prelude();
	n = snprintf(line, sizeof(line), "%s: %s: ", ident, tag[l]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

const char *log_escape_name(const char *name, char out[LOG_NAME_ESC_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)name;
	size_t w = 0, i;

	if (!name) {
		memcpy(out, "(null)", 7);
		return out;
	}
	for (i = 0; p[i] && i < 255; i++) {
		if (unreserved(p[i])) {
			out[w++] = (char)p[i];
			continue;
		}
		out[w++] = '%';
		out[w++] = hex[p[i] >> 4];
		out[w++] = hex[p[i] & 15];
	}
	if (p[i]) {
		memcpy(out + w, "...", 3);
		w += 3;
	}
	out[w] = '\0';
	return out;
}
