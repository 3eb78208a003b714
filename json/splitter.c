/*
 * splitter.c - cuts the byte stream written through a file handle into
 * JSON values, one byte at a time.
 *
 * Design
 *
 * The filesystem receives a document's new content in write() calls of any
 * size: NDJSON, pretty-printed JSON, a value split across many writes, or
 * many values in one write.  The splitter is a pushdown automaton over the
 * bytes that recognises exactly jansson's JSON syntax (RFC 8259 plus
 * jansson's two restrictions, below).  It never builds values and never
 * looks at a byte twice: each byte costs one state transition, so a
 * stream costs O(total bytes) however it is cut.  When a value is
 * complete its exact bytes (no surrounding whitespace) go to the callback,
 * which normally parses them with json_value_parse().
 *
 * Because the automaton checks the full syntax, the write that makes the
 * stream invalid is the one that fails (SPEC 4), at the offending byte.
 * The only errors it leaves to the parser are numeric ranges: an integer
 * beyond 64 bits or a real beyond a double is well-formed syntax that
 * json_value_parse() refuses once the number is complete.
 *
 * What it checks, per lexical element:
 *   structure  '{' key ':' value (',' key ':' value)* '}',
 *              '[' (value (',' value)*)? ']', closers matching openers;
 *   strings    no raw byte below 0x20; escapes \" \\ \/ \b \f \n \r \t
 *              and \uXXXX; a high surrogate escape immediately followed
 *              by a low one, no lone low surrogate; no \u0000 inside a
 *              key (jansson keeps keys as C strings); well-formed UTF-8
 *              (utf8.c's tables, one byte at a time);
 *   numbers    -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 *   literals   true, false, null
 *   nesting    at most JSON_PARSER_MAX_DEPTH (2048) values deep, counted
 *              as jansson counts: a container's members are one deeper
 *              than the container, and the top-level value is at depth 1;
 *   between    whitespace is space, \t, \n and \r; nothing else.
 *
 * Where a value ends.  An object, array or string ends at its closing
 * byte, and the next value may follow immediately ({"a":1}{"b":2}).  A
 * top-level number or literal has no closing byte: it ends at the first
 * byte that cannot continue it, which must be whitespace or the start of
 * an object, array or string ("1 2", "1[2]", 'true"x"'), or at
 * json_splitter_finish().  Any other byte there is an error: "1-2",
 * "0123", "truefalse", "1x" are refused rather than read as two values,
 * as every JSON tokenizer would.
 *
 * Buffering.  A value that is complete within one feed is handed to the
 * callback straight from the caller's buffer.  Only the bytes of a value
 * still incomplete at the end of a feed are copied into `held`, so memory
 * is bounded by the largest value (max_value_bytes, -EFBIG beyond it).
 * The limit is exact: a value whose (max_value_bytes + 1)th byte arrives
 * fails with -EFBIG, also when that byte or a later one is a syntax
 * error, so the outcome never depends on how the stream was cut.
 *
 * State diagram, with the function behind each transition:
 *
 *   TOP --value start (start_value)--> a string, number or literal state,
 *       or OBJ_FIRST / ARR_FIRST (a container opened)
 *   OBJ_FIRST --'"'--> key STR --'"'--> COLON --':'--> VALUE  (step_structure,
 *       step_string)
 *   OBJ_FIRST/AFTER --'}'--> pop; ARR_FIRST/AFTER --']'--> pop  (step_structure)
 *   AFTER --','--> KEY (object) | VALUE (array)  (step_structure)
 *   STR <--> ESC, HEX, LOW_BS, UTF8  (step_string, step_string_byte)
 *   NUM_* (step_number), LIT (step_literal)
 *   a value ends (EV_DONE / EV_SCALAR): AFTER when inside a container;
 *       at the top, a string or container is delivered (deliver) -> TOP,
 *       a number or literal waits in SCALAR_END for its delimiter
 *   any error (fail, fail_at) --> FAILED, sticky
 *
 * Invariants
 *   1. state == ST_TOP  <=>  no value is in progress (held_len == 0).
 *   2. depth is the number of open containers; bit d-1 of `stack` is 1
 *      when the container at depth d is an object.
 *   3. In a feed, a value in progress began at vstart (in this feed) or
 *      in an earlier feed, in which case held holds all its earlier bytes
 *      and vstart is 0.
 *   4. offset counts the bytes of all successful feeds; after a failure it
 *      is the stream position the failure is reported at.
 */
#include "json/json.h"
#include "json/json_internal.h"
#include "util/grow.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH JSON_PARSER_MAX_DEPTH

enum sp_state {
	ST_TOP, /* between top-level values */
	ST_VALUE, /* a value must follow (after ':' or an array's ',') */
	ST_ARR_FIRST, /* after '[': a value or ']' */
	ST_OBJ_FIRST, /* after '{': a key or '}' */
	ST_KEY, /* after an object's ',': a key */
	ST_COLON, /* after a key: ':' */
	ST_AFTER, /* after a member or element: ',' or the closer */
	ST_STR, /* inside a string */
	ST_ESC, /* after a backslash */
	ST_HEX, /* inside the four hex digits of \uXXXX */
	ST_LOW_BS, /* after a high surrogate escape: '\\' must follow */
	ST_UTF8, /* inside a multi-byte UTF-8 sequence */
	ST_NUM_MINUS, /* after a leading '-' */
	ST_NUM_ZERO, /* integer part "0" */
	ST_NUM_INT, /* integer part [1-9][0-9]* */
	ST_NUM_DOT, /* after '.' */
	ST_NUM_FRAC, /* fraction digits */
	ST_NUM_E, /* after 'e' or 'E' */
	ST_NUM_ESIGN, /* after the exponent's sign */
	ST_NUM_EXP, /* exponent digits */
	ST_LIT, /* inside true, false or null */
	ST_SCALAR_END, /* a top-level number or literal waits for a delimiter */
	ST_FAILED,
};

/* Buffer kept between values at most (a larger one is freed). */
#define HELD_KEEP (64 * 1024)

struct json_splitter {
	json_value_fn fn;
	void *arg;
	size_t max_bytes; /* longest value accepted */
	size_t offset; /* stream position of the next byte */
	size_t value_start; /* stream position of the value in progress */
	char *held; /* bytes of the value in progress from earlier feeds */
	size_t held_len;
	size_t held_cap;
	enum sp_state state;
	unsigned depth; /* open containers */
	bool str_key; /* the string in progress is an object key */
	bool want_low; /* the \u escape in progress must be a low surrogate */
	uint8_t hex_left; /* ST_HEX: digits still to come */
	uint16_t code_unit; /* ST_HEX: value of the digits so far */
	uint8_t u8_left; /* ST_UTF8: continuation bytes still to come */
	uint8_t u8_lo, u8_hi; /* ST_UTF8: range of the next one */
	const char *lit; /* ST_LIT: the rest of the literal */
	uint8_t stack[MAX_DEPTH / 8]; /* 1 bit per level: object? */
};

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Index of the first non-whitespace byte of p[i..len), or len. */
static size_t skip_ws(const unsigned char *p, size_t i, size_t len)
{
	while (i < len && is_ws(p[i]))
		i++;
	return i;
}

static bool top_is_object(const struct json_splitter *sp)
{
	unsigned d = sp->depth - 1;

	return sp->stack[d / 8] & (1u << (d % 8));
}

struct json_splitter *json_splitter_new(size_t max_value_bytes,
					json_value_fn fn, void *arg)
{
	struct json_splitter *sp = json_malloc(sizeof(*sp));

	if (!sp)
		return NULL;
	memset(sp, 0, sizeof(*sp));
	sp->fn = fn;
	sp->arg = arg;
	sp->max_bytes = max_value_bytes ? max_value_bytes : SIZE_MAX;
	sp->state = ST_TOP;
	return sp;
}

void json_splitter_free(struct json_splitter *sp)
{
	if (!sp)
		return;
	json_free(sp->held);
	json_free(sp);
}

size_t json_splitter_offset(const struct json_splitter *sp)
{
	return sp->offset;
}

bool json_splitter_idle(const struct json_splitter *sp)
{
	return sp->state == ST_TOP;
}

size_t json_splitter_held(const struct json_splitter *sp)
{
	return sp->held_cap;
}

/* Between values: a large buffer is given back rather than kept for the
 * next value, so an idle or failed splitter holds little. */
static void held_trim(struct json_splitter *sp)
{
	if (sp->held_cap <= HELD_KEEP)
		return;
	json_free(sp->held);
	sp->held = NULL;
	sp->held_cap = 0;
}

/* Enters the sticky failed state; pos is the stream position reported. */
static int fail(struct json_splitter *sp, int rc, size_t pos)
{
	sp->state = ST_FAILED;
	sp->offset = pos;
	sp->held_len = 0;
	held_trim(sp);
	return rc;
}

/* Appends buf[0..n) to held, growing it geometrically. */
static int held_append(struct json_splitter *sp, const char *buf, size_t n)
{
	if (sp->held_cap - sp->held_len < n) {
		size_t cap = n <= SIZE_MAX - sp->held_len
				     ? grow_cap(sp->held_cap, sp->held_len + n,
						256, 1)
				     : 0;
		char *p;

		if (!cap)
			return -ENOMEM;
		p = json_realloc(sp->held, cap);
		if (!p)
			return -ENOMEM;
		sp->held = p;
		sp->held_cap = cap;
	}
	memcpy(sp->held + sp->held_len, buf, n);
	sp->held_len += n;
	return 0;
}

/*
 * The value in progress ends before buf[end]: hands it to the callback.
 * base is the stream position of buf[0].  Returns 0 or the error the
 * splitter failed with.
 */
static int deliver(struct json_splitter *sp, const char *buf, size_t vstart,
		   size_t end, size_t base)
{
	size_t n = sp->held_len + (end - vstart);
	const char *p = buf + vstart;
	int rc;

	if (n > sp->max_bytes)
		return fail(sp, -EFBIG, sp->value_start + sp->max_bytes);
	if (sp->held_len) {
		if (end > vstart) {
			rc = held_append(sp, buf + vstart, end - vstart);
			if (rc)
				return fail(sp, rc, base + end);
		}
		p = sp->held;
	}
	sp->held_len = 0;
	sp->state = ST_TOP;
	rc = sp->fn(sp->arg, p, n);
	if (rc < 0)
		return fail(sp, rc, sp->value_start);
	held_trim(sp);
	return 0;
}

/* Opens a container or starts a scalar with byte c; false when c cannot
 * start a value here. */
static bool start_value(struct json_splitter *sp, unsigned char c)
{
	if (sp->depth == MAX_DEPTH)
		return false;
	switch (c) {
	case '{':
	case '[': {
		unsigned d = sp->depth++;
		uint8_t bit = (uint8_t)(1u << (d % 8));

		if (c == '{') {
			sp->stack[d / 8] |= bit;
			sp->state = ST_OBJ_FIRST;
		} else {
			sp->stack[d / 8] &= (uint8_t)~bit;
			sp->state = ST_ARR_FIRST;
		}
		return true;
	}
	case '"':
		sp->str_key = false;
		sp->state = ST_STR;
		return true;
	case '-':
		sp->state = ST_NUM_MINUS;
		return true;
	case '0':
		sp->state = ST_NUM_ZERO;
		return true;
	case 't':
		sp->lit = "rue";
		sp->state = ST_LIT;
		return true;
	case 'f':
		sp->lit = "alse";
		sp->state = ST_LIT;
		return true;
	case 'n':
		sp->lit = "ull";
		sp->state = ST_LIT;
		return true;
	default:
		if (c >= '1' && c <= '9') {
			sp->state = ST_NUM_INT;
			return true;
		}
		return false;
	}
}

/*
 * What a step function tells the feed loop.  A step consumes bytes from
 * p[*i] on and leaves *i at the first byte it did not consume.
 */
enum event {
	EV_NONE, /* keep going */
	EV_INVALID, /* p[*i] cannot continue the stream */
	EV_DONE, /* a string or container value ended just before p[*i] */
	EV_SCALAR, /* a number or literal is complete; p[*i] must delimit it */
};

/* The four hex digits of a \u escape are in code_unit: checks surrogate
 * pairing and NUL in keys. */
static bool escape_done(struct json_splitter *sp)
{
	unsigned cu = sp->code_unit;
	bool low = cu >= 0xDC00 && cu <= 0xDFFF;

	if (sp->want_low) {
		sp->want_low = false;
		sp->state = ST_STR;
		return low;
	}
	if (low || (cu == 0 && sp->str_key))
		return false;
	sp->state = (cu >= 0xD800 && cu <= 0xDBFF) ? ST_LOW_BS : ST_STR;
	return true;
}

/* A byte after a backslash. */
static bool escape_char(struct json_splitter *sp, unsigned char c)
{
	if (sp->want_low && c != 'u')
		return false;
	switch (c) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		sp->state = ST_STR;
		return true;
	case 'u':
		sp->hex_left = 4;
		sp->code_unit = 0;
		sp->state = ST_HEX;
		return true;
	default:
		return false;
	}
}

/* ST_STR: a run of string bytes, up to a byte that changes state. */
static enum event step_string(struct json_splitter *sp, const unsigned char *p,
			      size_t len, size_t *i)
{
	size_t k = *i, n;
	unsigned char c;

	/* The common case: plain ASCII 8 bytes at a time, complete UTF-8
	 * sequences whole. */
	for (;;) {
		k += json_str_scan(p + k, len - k);
		if (k == len) {
			*i = k;
			return EV_NONE;
		}
		if (p[k] < 0x80)
			break;
		n = json_utf8_seq(p + k, len - k);
		if (n == 0)
			break; /* invalid, or cut by the end of the feed */
		k += n;
	}
	*i = k;
	c = p[k];
	if (c == '"') {
		*i = k + 1;
		if (!sp->str_key)
			return EV_DONE;
		sp->state = ST_COLON;
		return EV_NONE;
	}
	if (c == '\\') {
		sp->state = ST_ESC;
	} else if (json_utf8_need[c]) {
		sp->u8_left = json_utf8_need[c];
		sp->u8_lo = json_utf8_lo[c];
		sp->u8_hi = json_utf8_hi[c];
		sp->state = ST_UTF8;
	} else {
		return EV_INVALID; /* control character or bad UTF-8 */
	}
	*i = k + 1;
	return EV_NONE;
}

/* ST_ESC, ST_HEX, ST_LOW_BS, ST_UTF8: one byte inside a string. */
static enum event step_string_byte(struct json_splitter *sp, unsigned char c)
{
	int h;

	switch (sp->state) {
	case ST_ESC:
		return escape_char(sp, c) ? EV_NONE : EV_INVALID;
	case ST_HEX:
		h = json_hex_value(c);
		if (h < 0)
			return EV_INVALID;
		sp->code_unit = (uint16_t)(sp->code_unit << 4 | h);
		if (--sp->hex_left == 0 && !escape_done(sp))
			return EV_INVALID;
		return EV_NONE;
	case ST_LOW_BS:
		if (c != '\\')
			return EV_INVALID;
		sp->want_low = true;
		sp->state = ST_ESC;
		return EV_NONE;
	default: /* ST_UTF8 */
		if (c < sp->u8_lo || c > sp->u8_hi)
			return EV_INVALID;
		sp->u8_lo = 0x80;
		sp->u8_hi = 0xBF;
		if (--sp->u8_left == 0)
			sp->state = ST_STR;
		return EV_NONE;
	}
}

/* ST_NUM_*: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static enum event step_number(struct json_splitter *sp, const unsigned char *p,
			      size_t len, size_t *i)
{
	unsigned char c = p[*i];

	switch (sp->state) {
	case ST_NUM_MINUS:
		if (c == '0')
			sp->state = ST_NUM_ZERO;
		else if (c >= '1' && c <= '9')
			sp->state = ST_NUM_INT;
		else
			return EV_INVALID;
		break;
	case ST_NUM_INT:
	case ST_NUM_FRAC:
	case ST_NUM_EXP:
		while (json_is_digit(p[*i])) {
			if (++*i == len)
				return EV_NONE;
		}
		c = p[*i];
		if (sp->state == ST_NUM_EXP)
			return EV_SCALAR;
		/* fall through */
	case ST_NUM_ZERO:
		if (c == '.' && sp->state != ST_NUM_FRAC)
			sp->state = ST_NUM_DOT;
		else if (c == 'e' || c == 'E')
			sp->state = ST_NUM_E;
		else
			return EV_SCALAR;
		break;
	case ST_NUM_DOT:
		if (!json_is_digit(c))
			return EV_INVALID;
		sp->state = ST_NUM_FRAC;
		break;
	case ST_NUM_E:
		if (c == '+' || c == '-') {
			sp->state = ST_NUM_ESIGN;
			break;
		}
		/* fall through */
	default: /* ST_NUM_ESIGN */
		if (!json_is_digit(c))
			return EV_INVALID;
		sp->state = ST_NUM_EXP;
		break;
	}
	++*i;
	return EV_NONE;
}

/* ST_LIT: the rest of true, false or null. */
static enum event step_literal(struct json_splitter *sp, unsigned char c)
{
	if (c != (unsigned char)*sp->lit)
		return EV_INVALID;
	return *++sp->lit ? EV_NONE : EV_SCALAR;
}

/* ST_VALUE .. ST_AFTER: structure between tokens inside a container. */
static enum event step_structure(struct json_splitter *sp, unsigned char c)
{
	switch (sp->state) {
	case ST_OBJ_FIRST:
	case ST_KEY:
		if (c == '"') {
			sp->str_key = true;
			sp->state = ST_STR;
			return EV_NONE;
		}
		if (c == '}' && sp->state == ST_OBJ_FIRST)
			break;
		return EV_INVALID;
	case ST_COLON:
		if (c != ':')
			return EV_INVALID;
		sp->state = ST_VALUE;
		return EV_NONE;
	case ST_ARR_FIRST:
		if (c == ']')
			break;
		/* fall through */
	case ST_VALUE:
		return start_value(sp, c) ? EV_NONE : EV_INVALID;
	default: /* ST_AFTER */
		if (c == ',') {
			sp->state = top_is_object(sp) ? ST_KEY : ST_VALUE;
			return EV_NONE;
		}
		if (c != '}' && c != ']')
			return EV_INVALID;
		break;
	}
	/* c closes the innermost container. */
	if ((c == '}') != top_is_object(sp))
		return EV_INVALID;
	sp->depth--;
	return EV_DONE;
}

/* ST_SCALAR_END: the byte after a top-level number or literal. */
static bool delimits_scalar(unsigned char c)
{
	return is_ws(c) || c == '{' || c == '[' || c == '"';
}

/* The error for the byte at stream position pos: -EFBIG when the value
 * in progress is already beyond the limit (so that the outcome does not
 * depend on how the stream was cut; the byte that fails to delimit a
 * top-level scalar is not part of it), else -EINVAL. */
static int fail_at(struct json_splitter *sp, size_t pos)
{
	if (sp->state != ST_TOP) {
		size_t n = pos - sp->value_start;

		if (sp->state != ST_SCALAR_END)
			n++;
		if (n > sp->max_bytes)
			return fail(sp, -EFBIG,
				    sp->value_start + sp->max_bytes);
	}
	return fail(sp, -EINVAL, pos);
}

/* Runs the step function of the current state on p[*i..len). */
static enum event step(struct json_splitter *sp, const unsigned char *p,
		       size_t len, size_t *i)
{
	enum event ev;

	switch (sp->state) {
	case ST_STR:
		return step_string(sp, p, len, i);
	case ST_ESC:
	case ST_HEX:
	case ST_LOW_BS:
	case ST_UTF8:
		ev = step_string_byte(sp, p[*i]);
		break;
	case ST_NUM_MINUS:
	case ST_NUM_ZERO:
	case ST_NUM_INT:
	case ST_NUM_DOT:
	case ST_NUM_FRAC:
	case ST_NUM_E:
	case ST_NUM_ESIGN:
	case ST_NUM_EXP:
		return step_number(sp, p, len, i);
	case ST_LIT:
		ev = step_literal(sp, p[*i]);
		break;
	default:
		if (is_ws(p[*i])) {
			*i = skip_ws(p, *i + 1, len);
			return EV_NONE;
		}
		ev = step_structure(sp, p[*i]);
		break;
	}
	if (ev != EV_INVALID)
		++*i;
	return ev;
}

int json_splitter_feed(struct json_splitter *sp, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	const size_t base = sp->offset;
	size_t vstart = 0; /* invariant 3 */
	size_t i = 0;
	int rc;

	if (sp->state == ST_FAILED)
		return -EINVAL;
	if (len == 0)
		return 0;

	while (i < len) {
		if (sp->state == ST_TOP) {
			i = skip_ws(p, i, len);
			if (i == len)
				break;
			if (!start_value(sp, p[i]))
				return fail_at(sp, base + i);
			vstart = i;
			sp->value_start = base + i;
			i++;
			continue;
		}
		if (sp->state == ST_SCALAR_END) {
			/* p[i] is not consumed: it delimits, then starts the
			 * next value or is skipped as whitespace. */
			if (!delimits_scalar(p[i]))
				return fail_at(sp, base + i);
			rc = deliver(sp, buf, vstart, i, base);
			if (rc)
				return rc;
			continue;
		}
		switch (step(sp, p, len, &i)) {
		case EV_NONE:
			break;
		case EV_INVALID:
			return fail_at(sp, base + i);
		case EV_SCALAR:
			sp->state = sp->depth ? ST_AFTER : ST_SCALAR_END;
			break;
		case EV_DONE:
			if (sp->depth) {
				sp->state = ST_AFTER;
				break;
			}
			rc = deliver(sp, buf, vstart, i, base);
			if (rc)
				return rc;
			break;
		}
	}

	if (sp->state != ST_TOP) {
		if (sp->held_len + (len - vstart) > sp->max_bytes)
			return fail(sp, -EFBIG,
				    sp->value_start + sp->max_bytes);
		rc = held_append(sp, buf + vstart, len - vstart);
		if (rc)
			return fail(sp, rc, base + len);
	}
	sp->offset = base + len;
	return 0;
}

/* True in a number state where the text so far is a complete number. */
static bool number_complete(enum sp_state st)
{
	return st == ST_NUM_ZERO || st == ST_NUM_INT || st == ST_NUM_FRAC ||
	       st == ST_NUM_EXP;
}

int json_splitter_finish(struct json_splitter *sp)
{
	switch (sp->state) {
	case ST_TOP:
		return 0;
	case ST_FAILED:
		return -EINVAL;
	case ST_SCALAR_END:
		break;
	default:
		if (sp->depth || !number_complete(sp->state))
			return fail(sp, -EINVAL, sp->offset);
		break;
	}
	/* A top-level number or literal ends with the stream: everything is
	 * held. */
	return deliver(sp, sp->held, 0, 0, sp->offset);
}
