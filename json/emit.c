/*
 * emit.c - the compact serializer: what `cat` shows for a document.
 *
 * Design
 *
 * jansson's json_dumps() prints reals with "%.17g" (0.1 becomes
 * 0.10000000000000001), so the text users read is produced here instead,
 * over jansson values.  The output is fully determined by the value:
 *
 *   null, true, false   as such
 *   integer             decimal, exact over the whole json_int_t (int64) range
 *   real                shortest round-trip form (below)
 *   string              '"' + escaped bytes + '"' (below)
 *   array               '[' elements joined by ',' ']'
 *   object              '{' "key":value joined by ',' '}' in jansson's
 *                       iteration order, which is first-insertion order
 *
 * no whitespace anywhere, and one '\n' after the top-level value.
 *
 * Strings (RFC 8259 section 7): '"' and '\\' are escaped with a backslash,
 * the control characters U+0000..U+001F as \b \f \n \r \t or \u00XX
 * (lower-case hex); everything else, '/', DEL and all non-ASCII UTF-8,
 * is copied unchanged.  Strings are assumed to be valid UTF-8, which
 * jansson guarantees for values it parsed or built with its checking
 * constructors.
 *
 * Reals: for precision p = 1, 2, ... 17, format "%.{p-1}e" (p significant
 * digits, correctly rounded by the C library) and keep the first p whose
 * text strtod() reads back as the same double; 17 digits always do.  The
 * digits and the decimal exponent x (value = d.ddd * 10^x) are then laid
 * out as
 *
 *   -4 <= x < 17   positional: 0.1, 0.0001, 3.14, 100.0,
 *                  1e16 -> 10000000000000000.0
 *   otherwise      exponent:   1e17, 1.5e-7, -2.5e300, 5e-324
 *
 * which is where "%.17g" switches too, so the text is never more than two
 * bytes (the ".0") longer than "%.17g" would print, and usually shorter.
 *
 * and a positional form without a '.' gets ".0", so a real always reads
 * back as a real ("1.0" stays "1.0", "1e2" reads back "100.0").  The
 * exponent is written without '+' or leading zeros.  -0.0 prints "-0.0".
 * NaN and the infinities cannot occur (jansson refuses to build them).
 * The round-trip check uses strtod() in the current locale on the text
 * snprintf() produced in that same locale; only the digits and the
 * exponent are kept, so the output always uses '.' whatever the locale.
 *
 * Length: json_value_emit_len() runs the very same code with a sink that
 * only counts, so it equals the length json_value_emit() produces by
 * construction.
 */
#include "json/json.h"
#include "json/json_internal.h"
#include "util/grow.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where output goes: a growing buffer, or nowhere (counting only). */
struct sink {
	char *buf; /* NULL when counting */
	size_t len; /* bytes produced so far */
	size_t cap; /* allocated size of buf */
	bool counting;
	int err; /* sticky: -ENOMEM once a reservation failed */
};

/* Makes room for n more bytes; false when the buffer cannot grow. */
static bool sink_reserve(struct sink *s, size_t n)
{
	size_t cap;
	char *p;

	if (s->counting)
		return true;
	if (s->err)
		return false;
	if (s->cap - s->len > n)
		return true;
	/* room for n bytes more and one spare (the test above) */
	cap = n < SIZE_MAX - s->len ? grow_cap(s->cap, s->len + n + 1, 256, 1)
				    : 0;
	if (!cap)
		goto out_nomem;
	p = json_realloc(s->buf, cap);
	if (!p)
		goto out_nomem;
	s->buf = p;
	s->cap = cap;
	return true;

out_nomem:
	s->err = -ENOMEM;
	return false;
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
	if (!sink_reserve(s, n))
		return;
	if (!s->counting)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void sink_putc(struct sink *s, char c)
{
	if (!sink_reserve(s, 1))
		return;
	if (!s->counting)
		s->buf[s->len] = c;
	s->len++;
}

/*
 * Bytes that a string copies unchanged are 0; the others map to the
 * character after the backslash ('u' for \u00XX).
 */
static const char escape_of[256] = {
	[0x00 ... 0x07] = 'u', ['\b'] = 'b',	      ['\t'] = 't',
	['\n'] = 'n',	       [0x0B] = 'u',	      ['\f'] = 'f',
	['\r'] = 'r',	       [0x0E ... 0x1F] = 'u', ['"'] = '"',
	['\\'] = '\\',
};

static void emit_string(struct sink *s, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)str;
	size_t run = 0; /* start of the pending unescaped run */

	sink_putc(s, '"');
	for (size_t i = 0; i < len; i++) {
		char e = escape_of[p[i]];

		if (!e)
			continue;
		sink_put(s, str + run, i - run);
		run = i + 1;
		if (e == 'u') {
			char u[6] = { '\\',	      'u',	     '0', '0',
				      hex[p[i] >> 4], hex[p[i] & 15] };
			sink_put(s, u, sizeof(u));
		} else {
			char b[2] = { '\\', e };
			sink_put(s, b, sizeof(b));
		}
	}
	sink_put(s, str + run, len - run);
	sink_putc(s, '"');
}

static void emit_integer(struct sink *s, json_int_t v)
{
	char b[24];
	size_t i = sizeof(b);
	/* Work in unsigned so that the most negative value negates exactly. */
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
				     : (unsigned long long)v;

	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		b[--i] = '-';
	sink_put(s, b + i, sizeof(b) - i);
}

/* Smallest precision whose "%.*e" text reads back as d; the text is left
 * in buf. */
static void shortest_e(double d, char *buf, size_t size)
{
	for (int prec = 0; prec < 17; prec++) {
		snprintf(buf, size, "%.*e", prec, d);
		double back = strtod(buf, NULL);
		if (memcmp(&back, &d, sizeof(d)) == 0)
			return;
	}
	/* 17 significant digits identify every double (IEEE 754 5.12.2). */
	snprintf(buf, size, "%.16e", d);
}

size_t json_real_format(double d, char *buf)
{
	char e[JSON_REAL_BUF_LEN];
	char digits[20];
	size_t nd = 0, n = 0;
	const char *p;
	int x;

	assert(isfinite(d));
	shortest_e(d, e, sizeof(e));

	/* "-d.ddde-xx" in any locale: collect the digits, then the exponent. */
	p = e;
	if (*p == '-')
		buf[n++] = *p++;
	for (; *p && *p != 'e'; p++) {
		if (*p >= '0' && *p <= '9' && nd < sizeof(digits))
			digits[nd++] = *p;
	}
	x = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	if (x >= -4 && x < 17) {
		if (x < 0) {
			buf[n++] = '0';
			buf[n++] = '.';
			for (int k = -1; k > x; k--)
				buf[n++] = '0';
			memcpy(buf + n, digits, nd);
			n += nd;
		} else {
			size_t ip = (size_t)x + 1; /* digits before the point */
			for (size_t k = 0; k < ip; k++)
				buf[n++] = k < nd ? digits[k] : '0';
			buf[n++] = '.';
			if (nd > ip) {
				memcpy(buf + n, digits + ip, nd - ip);
				n += nd - ip;
			} else {
				buf[n++] = '0';
			}
		}
	} else {
		buf[n++] = digits[0];
		if (nd > 1) {
			buf[n++] = '.';
			memcpy(buf + n, digits + 1, nd - 1);
			n += nd - 1;
		}
		n += (size_t)snprintf(buf + n, JSON_REAL_BUF_LEN - n, "e%d", x);
	}
	buf[n] = '\0';
	return n;
}

static void emit_real(struct sink *s, double d)
{
	char b[JSON_REAL_BUF_LEN];

	sink_put(s, b, json_real_format(d, b));
}

static void emit_value(struct sink *s, const json_t *v);

static void emit_array(struct sink *s, const json_t *v)
{
	size_t n = json_array_size(v);

	sink_putc(s, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sink_putc(s, ',');
		emit_value(s, json_array_get(v, i));
	}
	sink_putc(s, ']');
}

static void emit_object(struct sink *s, const json_t *v)
{
	/* jansson's iterator API takes a non-const object but does not
	 * modify it. */
	json_t *obj = (json_t *)v;
	bool first = true;

	sink_putc(s, '{');
	for (void *it = json_object_iter(obj); it;
	     it = json_object_iter_next(obj, it)) {
		if (!first)
			sink_putc(s, ',');
		first = false;
		emit_string(s, json_object_iter_key(it),
			    json_object_iter_key_len(it));
		sink_putc(s, ':');
		emit_value(s, json_object_iter_value(it));
	}
	sink_putc(s, '}');
}

static void emit_value(struct sink *s, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		emit_object(s, v);
		break;
	case JSON_ARRAY:
		emit_array(s, v);
		break;
	case JSON_STRING:
		emit_string(s, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		emit_integer(s, json_integer_value(v));
		break;
	case JSON_REAL:
		emit_real(s, json_real_value(v));
		break;
	case JSON_TRUE:
		sink_put(s, "true", 4);
		break;
	case JSON_FALSE:
		sink_put(s, "false", 5);
		break;
	case JSON_NULL:
		sink_put(s, "null", 4);
		break;
	}
}

int json_value_emit(const json_t *v, char **out, size_t *len)
{
	struct sink s = { 0 };

	assert(v);
	emit_value(&s, v);
	sink_putc(&s, '\n');
	if (!sink_reserve(&s, 1)) /* room for the terminating NUL */
		goto out_free;
	s.buf[s.len] = '\0';
	*out = s.buf;
	*len = s.len;
	return 0;

out_free:
	json_free(s.buf);
	return s.err;
}

size_t json_value_emit_len(const json_t *v)
{
	struct sink s = { .counting = true };

	assert(v);
	emit_value(&s, v);
	return s.len + 1;
}
