/*
 * compact.c - one JSON text to its compact form in a single pass, with
 * no jansson value in between.
 *
 * Design
 *
 * The write path stores what json_value_emit() prints for the value
 * json_value_parse() reads from what a user wrote.  For a replacement
 * that value is never needed as a tree: only its compact text is.  This
 * file produces that text straight from the input: one left-to-right
 * pass that checks the syntax exactly as json_value_parse() does (parse.c
 * lists jansson's rules) and writes each token in the form emit.c gives
 * it.  json_value_compact() returns byte for byte what parse + emit
 * return, and refuses exactly what json_value_parse() refuses.
 *
 * Token by token, input -> output:
 *
 *   whitespace     space, \t, \n, \r between tokens -> nothing
 *   { } [ ] : ,    as such
 *   true false null
 *                  as such
 *   integer        -?(0|[1-9][0-9]*) in [-2^63, 2^63-1] -> as such, but
 *                  "-0" -> "0" (the integer zero has no sign); beyond the
 *                  range -> refused, never rounded
 *   real           a number with a fraction or an exponent -> strtod() in
 *                  the "C" locale (what jansson computes, whatever the
 *                  process' locale: it swaps the '.' for the locale's
 *                  point first), refused on overflow, then
 *                  json_real_format(), emit.c's own formatting
 *   string         bytes 0x20..0x7F but '"' '\\' and valid UTF-8 -> as
 *                  such; escapes decoded and written again as emit.c
 *                  writes the character (below)
 *
 * Escapes, by the character c they stand for:
 *
 *   \" \\ and \u0022 \u005C          -> \" \\
 *   \b \f \n \r \t and their \u00XX  -> \b \f \n \r \t
 *   other c < 0x20 (\u0000 included) -> \u00xx, lower-case hex; \u0000
 *                                       inside a key is refused
 *   \/ and any other c < 0x80        -> the byte c
 *   c >= 0x80 (a \uD8xx\uDCxx pair   -> c in UTF-8; a lone or mismatched
 *   is one c)                           surrogate is refused
 *
 * Refused (-EINVAL), as by json_value_parse(): anything outside RFC 8259
 * (a NUL byte anywhere included: it is never valid outside a string and
 * a raw control byte inside one), invalid UTF-8, bad escapes, numbers out
 * of range, a value nested deeper than JSON_PARSER_MAX_DEPTH (the
 * top-level value is at depth 1, a container's members one deeper), bytes
 * after the value other than whitespace.
 *
 * The one case left to jansson: a key repeated within one object.  The
 * value then holds the last member at the first one's position, which a
 * single pass cannot write; json_compact_fast() detects it and answers
 * JSON_COMPACT_FALLBACK, and json_value_compact() parses and emits (as
 * it does for a real should newlocale() fail to make the "C" locale).
 * Detection: every key written goes into a hash set of (object, key
 * text); two keys are the same string exactly when their written texts
 * are equal (the output form of a string is a function of its
 * characters, and one-to-one), so the set compares output bytes.
 *
 * State, an explicit pushdown automaton (no recursion, so depth costs
 * 256 bytes of stack, not 2048 frames):
 *
 *   VALUE  --'{'--> push object; '}' closes at once, else KEY
 *          --'['--> push array;  ']' closes at once, else VALUE
 *          --scalar--> AFTER
 *   KEY    --string, ':'--> VALUE
 *   AFTER  --','--> KEY (object) | VALUE (array)
 *          --'}' or ']' matching the innermost container--> pop, AFTER
 *          --end of input, nothing open--> done
 *
 * Output buffer.  The output of every token but a real is at most as long
 * as its input (an escape never grows: \u0001 stays six bytes, \u00e9
 * shrinks to two).  So the buffer keeps room for the rest of the input
 * plus '\n' and the NUL (invariant 1), allocated once at len + 2, and only
 * a real longer than its input ("1e16" -> "10000000000000000.0") grows
 * it.
 *
 * Invariants
 *   1. Between tokens, cap - olen >= (end - p) + 2.
 *   2. depth is the number of open containers; bit d-1 of kind is set
 *      when the container at depth d is an object.
 *   3. Every key of the objects still open, and of those closed, is in
 *      the key set under the serial number of its object.
 */
#include "json/json.h"
#include "json/json_internal.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH JSON_PARSER_MAX_DEPTH

/* Keys kept without an allocation (the set's first table). */
#define KEYS_INLINE 32

struct key_slot {
	size_t obj; /* serial number of the object, 0: empty slot */
	size_t off; /* the key's output text: out[off .. off + len) */
	size_t len;
	uint64_t hash;
};

struct cx {
	const unsigned char *p, *end;
	char *out;
	size_t olen, cap;
	unsigned depth;
	uint8_t kind[MAX_DEPTH / 8]; /* invariant 2 */
	size_t obj; /* serial number of the innermost open object */
	size_t objs; /* objects opened so far */
	size_t obj_stack_len;
	size_t *obj_stack; /* serial numbers of the open outer objects */
	size_t obj_stack_cap;
	struct key_slot *keys;
	size_t nkeys, keys_cap; /* keys_cap: a power of two */
	struct key_slot keys_inline[KEYS_INLINE];
};

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static void skip_ws(struct cx *c)
{
	while (c->p < c->end && is_ws(*c->p))
		c->p++;
}

/* ---- the key set ---- */

static uint64_t key_hash(const char *s, size_t len, size_t obj)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)obj;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static struct key_slot *key_find(struct key_slot *t, size_t cap, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	while (t[i].obj)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static int keys_grow(struct cx *c)
{
	size_t cap = c->keys_cap * 2;
	struct key_slot *t;

	if (cap > SIZE_MAX / sizeof(*t))
		return -ENOMEM;
	t = json_malloc(cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0, cap * sizeof(*t));
	for (size_t i = 0; i < c->keys_cap; i++) {
		if (c->keys[i].obj)
			*key_find(t, cap, c->keys[i].hash) = c->keys[i];
	}
	if (c->keys != c->keys_inline)
		json_free(c->keys);
	c->keys = t;
	c->keys_cap = cap;
	return 0;
}

/* The key just written at out[off..olen) into the set of the innermost
 * object.  0, JSON_COMPACT_FALLBACK when the object already has it, or
 * -ENOMEM. */
static int key_add(struct cx *c, size_t off)
{
	size_t len = c->olen - off;
	uint64_t h = key_hash(c->out + off, len, c->obj);
	size_t i;
	int rc;

	if ((c->nkeys + 1) * 2 > c->keys_cap) {
		rc = keys_grow(c);
		if (rc)
			return rc;
	}
	for (i = (size_t)h & (c->keys_cap - 1); c->keys[i].obj;
	     i = (i + 1) & (c->keys_cap - 1)) {
		const struct key_slot *k = &c->keys[i];

		if (k->hash == h && k->obj == c->obj && k->len == len &&
		    memcmp(c->out + k->off, c->out + off, len) == 0)
			return JSON_COMPACT_FALLBACK;
	}
	c->keys[i] = (struct key_slot){
		.obj = c->obj, .off = off, .len = len, .hash = h
	};
	c->nkeys++;
	return 0;
}

/* ---- containers ---- */

static bool top_is_object(const struct cx *c)
{
	unsigned d = c->depth - 1;

	return c->kind[d / 8] & (1u << (d % 8));
}

/* Opens a container ('{' or '[' at c->p); invariant 2.  An object gets
 * the next serial number, the enclosing one's is saved. */
static int open_container(struct cx *c, unsigned char b)
{
	unsigned d = c->depth++;
	uint8_t bit = (uint8_t)(1u << (d % 8));

	c->out[c->olen++] = (char)b;
	c->p++;
	if (b == '[') {
		c->kind[d / 8] &= (uint8_t)~bit;
		return 0;
	}
	c->kind[d / 8] |= bit;
	if (c->obj) {
		if (c->obj_stack_len == c->obj_stack_cap) {
			size_t cap = c->obj_stack_cap ? 2 * c->obj_stack_cap
						      : 16;
			size_t *s =
				json_realloc(c->obj_stack, cap * sizeof(*s));

			if (!s)
				return -ENOMEM;
			c->obj_stack = s;
			c->obj_stack_cap = cap;
		}
		c->obj_stack[c->obj_stack_len++] = c->obj;
	}
	c->obj = ++c->objs;
	return 0;
}

/* Closes the innermost container with b ('}' or ']'); -EINVAL when b
 * does not match it. */
static int close_container(struct cx *c, unsigned char b)
{
	bool object = top_is_object(c);

	if ((b != '}' && b != ']') || (b == '}') != object)
		return -EINVAL;
	c->out[c->olen++] = (char)b;
	c->p++;
	c->depth--;
	if (object)
		c->obj = c->obj_stack_len ? c->obj_stack[--c->obj_stack_len]
					  : 0;
	return 0;
}

/* ---- strings ---- */

/* The four hex digits at p (at least 4 bytes there), or -1. */
static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int k = 0; k < 4; k++) {
		int h = json_hex_value(p[k]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* Writes character cp (decoded from a \u escape) as emit.c writes it. */
static void put_char(struct cx *c, uint32_t cp)
{
	static const char hex[] = "0123456789abcdef";
	static const char short_esc[0x20] = {
		['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
		['\f'] = 'f', ['\r'] = 'r',
	};
	char *o = c->out + c->olen;

	if (cp < 0x20) {
		o[0] = '\\';
		if (short_esc[cp]) {
			o[1] = short_esc[cp];
			c->olen += 2;
			return;
		}
		memcpy(o + 1, "u00", 3);
		o[4] = hex[cp >> 4];
		o[5] = hex[cp & 15];
		c->olen += 6;
	} else if (cp == '"' || cp == '\\') {
		o[0] = '\\';
		o[1] = (char)cp;
		c->olen += 2;
	} else if (cp < 0x80) {
		o[0] = (char)cp;
		c->olen += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		c->olen += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		c->olen += 3;
	} else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char)(0x80 | (cp & 0x3F));
		c->olen += 4;
	}
}

/* A \u escape at c->p (the backslash); a surrogate pair is one. */
static int unicode_escape(struct cx *c, bool key)
{
	const unsigned char *p = c->p;
	size_t left = (size_t)(c->end - p);
	int cp, lo;

	if (left < 6 || (cp = hex4(p + 2)) < 0)
		return -EINVAL;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return -EINVAL; /* a low surrogate first */
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (left < 12 || p[6] != '\\' || p[7] != 'u')
			return -EINVAL;
		lo = hex4(p + 8);
		if (lo < 0xDC00 || lo > 0xDFFF)
			return -EINVAL;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		c->p += 12;
	} else {
		c->p += 6;
	}
	if (cp == 0 && key)
		return -EINVAL; /* jansson keeps keys as C strings */
	put_char(c, (uint32_t)cp);
	return 0;
}

/* A string from its opening quote at c->p. */
static int string(struct cx *c, bool key)
{
	const unsigned char *end = c->end;
	int rc;

	c->out[c->olen++] = '"';
	c->p++;
	for (;;) {
		size_t n = json_str_scan(c->p, (size_t)(end - c->p));
		unsigned char b;

		memcpy(c->out + c->olen, c->p, n);
		c->olen += n;
		c->p += n;
		if (c->p == end)
			return -EINVAL;
		b = *c->p;
		if (b == '"') {
			c->out[c->olen++] = '"';
			c->p++;
			return 0;
		}
		if (b >= 0x80) {
			n = json_utf8_seq(c->p, (size_t)(end - c->p));
			if (n == 0)
				return -EINVAL;
			memcpy(c->out + c->olen, c->p, n);
			c->olen += n;
			c->p += n;
			continue;
		}
		if (b != '\\' || end - c->p < 2)
			return -EINVAL; /* a control byte, or the end */
		switch (c->p[1]) {
		case '"':
		case '\\':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			memcpy(c->out + c->olen, c->p, 2);
			c->olen += 2;
			c->p += 2;
			break;
		case '/':
			c->out[c->olen++] = '/';
			c->p += 2;
			break;
		case 'u':
			rc = unicode_escape(c, key);
			if (rc)
				return rc;
			break;
		default:
			return -EINVAL;
		}
	}
}

/* ---- numbers ---- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The real whose text is s[0..n): formatted as emit.c formats it.
 * Invariant 1 holds before and after (the buffer grows when the output
 * is longer than the input). */
static int real(struct cx *c, const unsigned char *s, size_t n)
{
	char small[64], *text = small, fmt[JSON_REAL_BUF_LEN], *endp;
	size_t flen, need;
	double d;
	int rc = 0;

	pthread_once(&c_locale_once, c_locale_init);
	if (!c_locale)
		return JSON_COMPACT_FALLBACK;
	if (n >= sizeof(small)) {
		text = json_malloc(n + 1);
		if (!text)
			return -ENOMEM;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	errno = 0;
	d = strtod_l(text, &endp, c_locale);
	if (endp != text + n)
		rc = JSON_COMPACT_FALLBACK; /* not what jansson read */
	else if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
		rc = -EINVAL; /* jansson: "real number overflow" */
	if (text != small)
		json_free(text);
	if (rc)
		return rc;
	flen = json_real_format(d, fmt);
	/* invariant 1 after the real: room for the rest and "\n\0" */
	need = c->olen + flen + (size_t)(c->end - c->p) + 2;
	if (need > c->cap) {
		char *o = json_realloc(c->out, need);

		if (!o)
			return -ENOMEM;
		c->out = o;
		c->cap = need;
	}
	memcpy(c->out + c->olen, fmt, flen);
	c->olen += flen;
	return 0;
}

/* A number from its first byte at c->p. */
static int number(struct cx *c)
{
	static const char max[] = "9223372036854775807";
	static const char min[] = "9223372036854775808";
	const unsigned char *s = c->p, *p = c->p, *end = c->end, *digits;
	bool neg = false, is_real = false;
	size_t n;

	if (*p == '-') {
		neg = true;
		p++;
	}
	digits = p;
	if (p == end || !json_is_digit(*p))
		return -EINVAL;
	if (*p == '0')
		p++;
	else
		while (p < end && json_is_digit(*p))
			p++;
	n = (size_t)(p - digits);
	if (p < end && *p == '.') {
		is_real = true;
		if (++p == end || !json_is_digit(*p))
			return -EINVAL;
		while (p < end && json_is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		is_real = true;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !json_is_digit(*p))
			return -EINVAL;
		while (p < end && json_is_digit(*p))
			p++;
	}
	c->p = p;
	if (is_real)
		return real(c, s, (size_t)(p - s));
	/* An integer: within int64 or refused (jansson: "too big integer"). */
	if (n > sizeof(max) - 1 ||
	    (n == sizeof(max) - 1 && memcmp(digits, neg ? min : max, n) > 0))
		return -EINVAL;
	if (neg && n == 1 && digits[0] == '0')
		s++; /* "-0" is the integer 0 */
	memcpy(c->out + c->olen, s, (size_t)(p - s));
	c->olen += (size_t)(p - s);
	return 0;
}

/* ---- values ---- */

static bool literal(struct cx *c, const char *word, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	memcpy(c->out + c->olen, word, n);
	c->olen += n;
	c->p += n;
	return true;
}

/* A scalar, or the opening of a container, at c->p (not whitespace).
 * *opened tells which. */
static int value(struct cx *c, bool *opened)
{
	unsigned char b = *c->p;

	*opened = false;
	if (c->depth == MAX_DEPTH)
		return -EINVAL; /* this value would be one level too deep */
	switch (b) {
	case '{':
	case '[':
		*opened = true;
		return open_container(c, b);
	case '"':
		return string(c, false);
	case 't':
		return literal(c, "true", 4) ? 0 : -EINVAL;
	case 'f':
		return literal(c, "false", 5) ? 0 : -EINVAL;
	case 'n':
		return literal(c, "null", 4) ? 0 : -EINVAL;
	default:
		if (b == '-' || json_is_digit(b))
			return number(c);
		return -EINVAL;
	}
}

/* An object's key and its ':' from c->p (whitespace skipped). */
static int key(struct cx *c)
{
	size_t off = c->olen;
	int rc;

	if (c->p == c->end || *c->p != '"')
		return -EINVAL;
	rc = string(c, true);
	if (rc == 0)
		rc = key_add(c, off);
	if (rc)
		return rc;
	skip_ws(c);
	if (c->p == c->end || *c->p != ':')
		return -EINVAL;
	c->out[c->olen++] = ':';
	c->p++;
	return 0;
}

/* The automaton of the header; c->out has its invariant-1 room. */
static int run(struct cx *c)
{
	enum {
		VALUE,
		KEY,
		AFTER
	} st = VALUE;
	bool opened;
	int rc = 0;

	for (;;) {
		skip_ws(c);
		switch (st) {
		case VALUE:
			if (c->p == c->end)
				return -EINVAL;
			rc = value(c, &opened);
			if (rc)
				return rc;
			st = AFTER;
			if (!opened)
				break;
			skip_ws(c);
			if (c->p < c->end && (*c->p == '}' || *c->p == ']')) {
				rc = close_container(c, *c->p);
				if (rc)
					return rc;
			} else {
				st = top_is_object(c) ? KEY : VALUE;
			}
			break;
		case KEY:
			rc = key(c);
			if (rc)
				return rc;
			st = VALUE;
			break;
		case AFTER:
			if (c->depth == 0)
				return c->p == c->end ? 0 : -EINVAL;
			if (c->p == c->end)
				return -EINVAL;
			if (*c->p == ',') {
				c->out[c->olen++] = ',';
				c->p++;
				st = top_is_object(c) ? KEY : VALUE;
				break;
			}
			rc = close_container(c, *c->p);
			if (rc)
				return rc;
			break;
		}
	}
}

int json_compact_fast(const char *buf, size_t len, char **out, size_t *out_len)
{
	struct cx c;
	int rc;

	if (len > SIZE_MAX - 2)
		return -ENOMEM;
	c = (struct cx){
		.p = (const unsigned char *)buf,
		.end = (const unsigned char *)buf + len,
		.cap = len + 2, /* invariant 1 */
		.keys_cap = KEYS_INLINE,
	};
	c.keys = c.keys_inline;
	c.out = json_malloc(c.cap);
	rc = c.out ? run(&c) : -ENOMEM;
	if (rc == 0) {
		c.out[c.olen++] = '\n';
		c.out[c.olen] = '\0';
		*out = c.out;
		*out_len = c.olen;
	} else {
		json_free(c.out);
	}
	if (c.keys != c.keys_inline)
		json_free(c.keys);
	json_free(c.obj_stack);
	return rc;
}

int json_value_compact(const char *buf, size_t len, char **out, size_t *out_len)
{
	json_t *v;
	int rc = json_compact_fast(buf, len, out, out_len);

	if (rc != JSON_COMPACT_FALLBACK)
		return rc;
	rc = json_value_parse(buf, len, &v);
	if (rc < 0)
		return rc;
	rc = json_value_emit(v, out, out_len);
	json_decref(v);
	return rc;
}
