/*
 * lease_format.c - encoder and bounds-checked decoder of the writer lease
 * object (the protocol that uses it is in lease.c).
 *
 * Object (".caravan", "writer"), stored with cloud_target_put like the
 * store marker.  Text, exactly these six lines in this order, each ended
 * by '\n', nothing before, between or after:
 *
 *   line  content
 *   1     "caravanfs writer lease 1"      (format name and version)
 *   2     "store " + 32 lower-case hex    (the holder's store identity)
 *   3     "host " + 1..64 bytes of A-Z a-z 0-9 '.' '-' '_'
 *   4     "pid " + 1..10 decimal digits
 *   5     "since " + 1..19 decimal digits (ns since the epoch)
 *   6     "state active" or "state released"
 *
 * Validity rule (lease_parse): the object is at most LEASE_OBJECT_MAX
 * bytes and is exactly that; anything else is -EBADMSG.  A host name with
 * other bytes is written with '_' in their place (it only informs).
 */
#include "config.h"

#include "cloud/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LEASE_HEAD "caravanfs writer lease 1"

/* The line at *p (up to end) starting with tag: its value in *v, *vl.
 * Advances *p past the '\n'.  false when the line is missing or
 * unterminated. */
static bool take_line(const char **p, const char *end, const char *tag,
		      const char **v, size_t *vl)
{
	size_t tl = strlen(tag);
	const char *nl;

	if ((size_t)(end - *p) < tl || memcmp(*p, tag, tl) != 0)
		return false;
	nl = memchr(*p + tl, '\n', (size_t)(end - *p - (ptrdiff_t)tl));
	if (!nl)
		return false;
	*v = *p + tl;
	*vl = (size_t)(nl - *v);
	*p = nl + 1;
	return true;
}

static bool host_byte(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* Decimal digits only, 1..max of them, into *out. */
static bool digits(const char *v, size_t n, size_t max, int64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > INT64_MAX)
		return false;
	*out = (int64_t)x;
	return true;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int lease_parse(const void *buf, size_t len, struct lease_info *out)
{
	const char *p = buf, *end = p + len, *v;
	struct lease_info li;
	size_t vl;

	memset(&li, 0, sizeof(li));
	if (len > LEASE_OBJECT_MAX)
		return -EBADMSG;
	if (!take_line(&p, end, LEASE_HEAD, &v, &vl) || vl != 0)
		return -EBADMSG;
	if (!take_line(&p, end, "store ", &v, &vl) || vl != 2 * LEASE_STORE_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < LEASE_STORE_LEN; i++) {
		int hi = hex_nibble(v[2 * i]), lo = hex_nibble(v[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		li.store[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!take_line(&p, end, "host ", &v, &vl) || vl == 0 ||
	    vl > LEASE_HOST_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < vl; i++)
		if (!host_byte(v[i]))
			return -EBADMSG;
	memcpy(li.host, v, vl);
	if (!take_line(&p, end, "pid ", &v, &vl) || !digits(v, vl, 10, &li.pid))
		return -EBADMSG;
	if (!take_line(&p, end, "since ", &v, &vl) ||
	    !digits(v, vl, 19, &li.since_ns))
		return -EBADMSG;
	if (!take_line(&p, end, "state ", &v, &vl))
		return -EBADMSG;
	if (vl == 6 && !memcmp(v, "active", 6))
		li.active = true;
	else if (!(vl == 8 && !memcmp(v, "released", 8)))
		return -EBADMSG;
	if (p != end)
		return -EBADMSG;
	*out = li;
	return 0;
}

size_t lease_encode(const struct lease_info *li, char out[LEASE_OBJECT_MAX])
{
	char hex[2 * LEASE_STORE_LEN + 1], host[LEASE_HOST_MAX + 1];
	size_t i;
	int n;

	for (i = 0; i < LEASE_STORE_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", li->store[i]);
	for (i = 0; i < LEASE_HOST_MAX && li->host[i]; i++)
		host[i] = host_byte(li->host[i]) ? li->host[i] : '_';
	if (i == 0)
		host[i++] = '_';
	host[i] = '\0';
	n = snprintf(out, LEASE_OBJECT_MAX,
		     LEASE_HEAD "\nstore %s\nhost %s\npid %" PRId64
				"\nsince %" PRId64 "\nstate %s\n",
		     hex, host, li->pid < 0 ? 0 : li->pid,
		     li->since_ns < 0 ? 0 : li->since_ns,
		     li->active ? "active" : "released");
	return (size_t)n; /* at most ~190 bytes: never truncated */
}

void lease_describe(const struct lease_info *li, char *out, size_t n)
{
	time_t secs = (time_t)(li->since_ns / 1000000000);
	char when[32] = "?";
	struct tm tm;

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, n,
		 "store %02x%02x%02x%02x on host %s, pid %" PRId64
		 ", since %s%s",
		 li->store[0], li->store[1], li->store[2], li->store[3],
		 li->host[0] ? li->host : "?", li->pid, when,
		 li->active ? "" : " (released)");
}
