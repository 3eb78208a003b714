/*
 * buf.h - a growable byte string with a sticky out-of-memory flag.
 *
 * Appends after a failed allocation do nothing, so a builder appends
 * freely and checks cbuf_failed() once at the end.  The bytes are always
 * NUL-terminated (when p is not NULL), so a cbuf doubles as a C string.
 * cbuf_release() frees and resets; cbuf_detach() hands the bytes to the
 * caller (free with free()).
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct cbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

#define CBUF_INIT                                                              \
	{                                                                      \
		NULL, 0, 0, false                                              \
	}

void cbuf_add(struct cbuf *b, const void *buf, size_t len);
void cbuf_adds(struct cbuf *b, const char *s);
void cbuf_addc(struct cbuf *b, char c);
void cbuf_addf(struct cbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Ensure room for len more bytes (plus the terminator). */
void cbuf_grow(struct cbuf *b, size_t len);
static inline bool cbuf_failed(const struct cbuf *b)
{
	return b->oom;
}
/* The bytes, owned by the caller (free with free()); NULL after a failed
 * allocation.  Leaves b empty. */
char *cbuf_detach(struct cbuf *b, size_t *len);
void cbuf_release(struct cbuf *b);

#endif
