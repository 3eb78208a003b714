/*
 * buf.c - growable byte strings (see buf.h).
 */
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

void cbuf_grow(struct cbuf *b, size_t len)
{
	size_t want, cap;
	char *p;

	if (b->oom)
		return;
	if (len > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return;
	}
	want = b->len + len + 1;
	if (want <= b->cap)
		return;
	cap = grow_cap(b->cap, want, 64, 1);
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->p[b->len] = '\0';
	b->cap = cap;
}

void cbuf_add(struct cbuf *b, const void *buf, size_t len)
{
	cbuf_grow(b, len);
	if (b->oom)
		return;
	if (len)
		memcpy(b->p + b->len, buf, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void cbuf_adds(struct cbuf *b, const char *s)
{
	cbuf_add(b, s, strlen(s));
}

void cbuf_addc(struct cbuf *b, char c)
{
	cbuf_add(b, &c, 1);
}

void cbuf_addf(struct cbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	cbuf_grow(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *cbuf_detach(struct cbuf *b, size_t *len)
{
	char *p = b->oom ? NULL : b->p;

	if (!p && !b->oom) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	}
	if (b->oom)
		free(b->p);
	if (len)
		*len = p ? b->len : 0;
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
	return p;
}

void cbuf_release(struct cbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
