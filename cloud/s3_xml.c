/*
 * s3_xml.c - a small XML reader and the S3 responses built on it.
 *
 * The reader walks the buffer once, keeping a stack of open element names
 * (at most XML_DEPTH deep, names at most XML_NAME_MAX bytes) and the
 * character data of the innermost element.  It reports two events to a
 * callback: an element opens, and an element closes (with its text when it
 * had no child elements).  Every read is checked against the end of the
 * buffer first; text is capped at XML_TEXT_MAX bytes.
 */
#include "config.h"

#include "cloud/s3_xml.h"

#include "util/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XML_DEPTH 16
#define XML_NAME_MAX 64
#define XML_TEXT_MAX (64 * 1024)

enum xml_event {
	XML_OPEN,
	XML_CLOSE
};

typedef int (*xml_fn)(void *arg, enum xml_event ev, const char *const *path,
		      int depth, const char *text, size_t len);

struct xml {
	const char *p, *end;
	char names[XML_DEPTH][XML_NAME_MAX + 1];
	const char *path[XML_DEPTH];
	bool had_child[XML_DEPTH];
	int depth;
	bool seen_root;
	struct cbuf text;
	xml_fn fn;
	void *arg;
};

static bool starts(const struct xml *x, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(x->end - x->p) >= n && !memcmp(x->p, s, n);
}

/* Move past the next occurrence of s; -EBADMSG when there is none. */
static int skip_past(struct xml *x, const char *s)
{
	size_t n = strlen(s);

	while ((size_t)(x->end - x->p) >= n) {
		if (!memcmp(x->p, s, n)) {
			x->p += n;
			return 0;
		}
		x->p++;
	}
	return -EBADMSG;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct xml *x)
{
	while (x->p < x->end && is_ws(*x->p))
		x->p++;
}

static bool name_char(char c)
{
	return c != '\0' && !is_ws(c) && c != '/' && c != '>' && c != '<' &&
	       c != '=' && c != '"' && c != '\'' && c != '&';
}

static int read_name(struct xml *x, char out[XML_NAME_MAX + 1])
{
	size_t n = 0;

	while (x->p < x->end && name_char(*x->p)) {
		if (n == XML_NAME_MAX)
			return -EBADMSG;
		out[n++] = *x->p++;
	}
	if (n == 0)
		return -EBADMSG;
	out[n] = '\0';
	return 0;
}

static void put_utf8(struct cbuf *b, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		cbuf_add(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		cbuf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		cbuf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		cbuf_add(b, u, 4);
	}
}

static int char_ref(const char *s, size_t n, uint32_t *cp)
{
	uint32_t v = 0;
	size_t i = 1;
	bool hex = n > 1 && s[1] == 'x';

	if (hex)
		i = 2;
	if (i >= n || n - i > 8)
		return -EBADMSG;
	for (; i < n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EBADMSG;
		v = v * (hex ? 16 : 10) + (uint32_t)d;
		if (v > 0x10ffff)
			return -EBADMSG;
	}
	if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
		return -EBADMSG;
	*cp = v;
	return 0;
}

/* An entity reference at x->p ('&'); appends its character. */
static int entity(struct xml *x)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "lt", '<' },
		      { "gt", '>' },
		      { "amp", '&' },
		      { "quot", '"' },
		      { "apos", '\'' } };
	const char *s = x->p + 1, *semi = s;
	size_t n;
	uint32_t cp;

	while (semi < x->end && semi - s <= 12 && *semi != ';')
		semi++;
	if (semi >= x->end || *semi != ';')
		return -EBADMSG;
	n = (size_t)(semi - s);
	x->p = semi + 1;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strlen(named[i].name) == n &&
		    !memcmp(s, named[i].name, n)) {
			cbuf_addc(&x->text, named[i].c);
			return 0;
		}
	}
	if (n < 2 || s[0] != '#' || char_ref(s, n, &cp))
		return -EBADMSG;
	put_utf8(&x->text, cp);
	return 0;
}

static int text_check(struct xml *x)
{
	if (cbuf_failed(&x->text))
		return -ENOMEM;
	if (x->text.len > XML_TEXT_MAX)
		return -EBADMSG;
	return 0;
}

/* Character data up to the next '<'. */
static int char_data(struct xml *x)
{
	while (x->p < x->end && *x->p != '<') {
		int rc;

		if (x->depth == 0) {
			if (!is_ws(*x->p))
				return -EBADMSG;
			x->p++;
			continue;
		}
		if (*x->p == '&') {
			rc = entity(x);
		} else {
			cbuf_addc(&x->text, *x->p++);
			rc = 0;
		}
		if (!rc)
			rc = text_check(x);
		if (rc)
			return rc;
	}
	return 0;
}

static int skip_attributes(struct xml *x, bool *self_closing)
{
	for (;;) {
		char name[XML_NAME_MAX + 1], q;

		skip_ws(x);
		if (x->p >= x->end)
			return -EBADMSG;
		if (*x->p == '>') {
			x->p++;
			*self_closing = false;
			return 0;
		}
		if (starts(x, "/>")) {
			x->p += 2;
			*self_closing = true;
			return 0;
		}
		if (read_name(x, name))
			return -EBADMSG;
		skip_ws(x);
		if (x->p >= x->end || *x->p != '=')
			return -EBADMSG;
		x->p++;
		skip_ws(x);
		if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
			return -EBADMSG;
		q = *x->p++;
		while (x->p < x->end && *x->p != q && *x->p != '<')
			x->p++;
		if (x->p >= x->end || *x->p != q)
			return -EBADMSG;
		x->p++;
	}
}

static int emit_close(struct xml *x)
{
	int d = x->depth;
	int rc;

	rc = x->fn(x->arg, XML_CLOSE, x->path, d,
		   x->had_child[d - 1] ? "" : (x->text.p ? x->text.p : ""),
		   x->had_child[d - 1] ? 0 : x->text.len);
	x->depth--;
	x->text.len = 0;
	if (x->text.p)
		x->text.p[0] = '\0';
	return rc;
}

static int open_tag(struct xml *x)
{
	bool self_closing;
	int d = x->depth, rc;

	if (d == XML_DEPTH || (d == 0 && x->seen_root))
		return -EBADMSG;
	x->p++;
	rc = read_name(x, x->names[d]);
	if (!rc)
		rc = skip_attributes(x, &self_closing);
	if (rc)
		return rc;
	if (d > 0)
		x->had_child[d - 1] = true;
	x->seen_root = true;
	x->path[d] = x->names[d];
	x->had_child[d] = false;
	x->depth = d + 1;
	x->text.len = 0;
	if (x->text.p)
		x->text.p[0] = '\0';
	rc = x->fn(x->arg, XML_OPEN, x->path, x->depth, "", 0);
	if (!rc && self_closing)
		rc = emit_close(x);
	return rc;
}

static int close_tag(struct xml *x)
{
	char name[XML_NAME_MAX + 1];

	x->p += 2;
	if (read_name(x, name))
		return -EBADMSG;
	skip_ws(x);
	if (x->p >= x->end || *x->p != '>')
		return -EBADMSG;
	x->p++;
	if (x->depth == 0 || strcmp(name, x->names[x->depth - 1]) != 0)
		return -EBADMSG;
	return emit_close(x);
}

static int markup(struct xml *x)
{
	if (starts(x, "<?"))
		return skip_past(x, "?>");
	if (starts(x, "<!--"))
		return skip_past(x, "-->");
	if (starts(x, "<![CDATA[")) {
		const char *s;

		if (x->depth == 0)
			return -EBADMSG;
		x->p += 9;
		s = x->p;
		if (skip_past(x, "]]>"))
			return -EBADMSG;
		cbuf_add(&x->text, s, (size_t)(x->p - 3 - s));
		return text_check(x);
	}
	if (starts(x, "<!"))
		return -EBADMSG;
	if (starts(x, "</"))
		return close_tag(x);
	return open_tag(x);
}

static int xml_walk(const char *buf, size_t len, xml_fn fn, void *arg)
{
	struct xml *x = calloc(1, sizeof(*x));
	int rc = 0;

	if (!x)
		return -ENOMEM;
	x->p = buf;
	x->end = buf + len;
	x->fn = fn;
	x->arg = arg;
	while (!rc && x->p < x->end) {
		if (*x->p == '<')
			rc = markup(x);
		else
			rc = char_data(x);
	}
	if (!rc && (x->depth != 0 || !x->seen_root))
		rc = -EBADMSG;
	cbuf_release(&x->text);
	free(x);
	return rc;
}

/* ---- ListObjectsV2 ---- */

struct list_state {
	s3_list_fn fn;
	void *arg;
	struct cbuf name;
	bool have_name;
	bool truncated;
	char *token;
};

static bool at(const char *const *path, int depth, int want_depth,
	       const char *a, const char *b, const char *c)
{
	if (depth != want_depth || strcmp(path[0], a) != 0)
		return false;
	if (b && strcmp(path[1], b) != 0)
		return false;
	return !c || !strcmp(path[2], c);
}

static int list_event(void *arg, enum xml_event ev, const char *const *path,
		      int depth, const char *text, size_t len)
{
	struct list_state *s = arg;
	const char *root = "ListBucketResult";

	if (depth == 1 && strcmp(path[0], root) != 0)
		return -EBADMSG;
	if (ev == XML_OPEN) {
		if (at(path, depth, 2, root, "Contents", NULL) ||
		    at(path, depth, 2, root, "CommonPrefixes", NULL)) {
			s->name.len = 0;
			s->have_name = false;
		}
		return 0;
	}
	if (at(path, depth, 3, root, "Contents", "Key") ||
	    at(path, depth, 3, root, "CommonPrefixes", "Prefix")) {
		s->name.len = 0;
		cbuf_add(&s->name, text, len);
		if (cbuf_failed(&s->name))
			return -ENOMEM;
		s->have_name = true;
		return 0;
	}
	if (at(path, depth, 2, root, "Contents", NULL) ||
	    at(path, depth, 2, root, "CommonPrefixes", NULL)) {
		if (!s->have_name || memchr(s->name.p, '\0', s->name.len))
			return -EBADMSG;
		return s->fn(s->arg, s->name.p, s->name.len,
			     !strcmp(path[1], "CommonPrefixes"));
	}
	if (at(path, depth, 2, root, "IsTruncated", NULL)) {
		if (len == 4 && !memcmp(text, "true", 4))
			s->truncated = true;
		else if (len == 5 && !memcmp(text, "false", 5))
			s->truncated = false;
		else
			return -EBADMSG;
		return 0;
	}
	if (at(path, depth, 2, root, "NextContinuationToken", NULL)) {
		/* A token we could not send back as it is: malformed. */
		if (len == 0 || memchr(text, '\0', len))
			return -EBADMSG;
		free(s->token);
		s->token = strndup(text, len);
		return s->token ? 0 : -ENOMEM;
	}
	return 0;
}

int s3_xml_parse_list(const char *buf, size_t len, s3_list_fn fn, void *arg,
		      bool *truncated, char **next_token)
{
	struct list_state s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.fn = fn;
	s.arg = arg;
	rc = xml_walk(buf, len, list_event, &s);
	cbuf_release(&s.name);
	if (!rc && s.truncated && !s.token)
		rc = -EBADMSG; /* a truncated page must say where to go on */
	if (rc) {
		free(s.token);
		return rc;
	}
	*truncated = s.truncated;
	*next_token = s.token;
	return 0;
}

/* ---- error documents ---- */

struct error_state {
	char *code;
	size_t cap;
	bool found;
};

static int error_event(void *arg, enum xml_event ev, const char *const *path,
		       int depth, const char *text, size_t len)
{
	struct error_state *s = arg;

	if (depth == 1 && strcmp(path[0], "Error") != 0)
		return -ENOENT;
	if (ev == XML_CLOSE && at(path, depth, 2, "Error", "Code", NULL)) {
		size_t n = len < s->cap - 1 ? len : s->cap - 1;

		memcpy(s->code, text, n);
		s->code[n] = '\0';
		s->found = true;
	}
	return 0;
}

int s3_xml_parse_error(const char *buf, size_t len, char *code, size_t cap)
{
	struct error_state s = { code, cap, false };
	int rc;

	if (cap == 0)
		return -EINVAL;
	code[0] = '\0';
	rc = xml_walk(buf, len, error_event, &s);
	if (rc || !s.found) {
		code[0] = '\0';
		return -ENOENT;
	}
	return 0;
}
