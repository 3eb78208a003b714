/*
 * follow_state.c - the follower's position file (see follow.h), bytes
 * to and from a position.
 *
 * Format (text, exactly six lines, each ended by '\n'):
 *
 *   caravanfs follow 1
 *   gen <16 lower-case hex digits>
 *   batch <16 lower-case hex digits>
 *   time <decimal ns since the epoch, may be negative>
 *   state clean | applying | empty
 *   id <32 lower-case hex digits: the writer of the batch; zero: unknown>
 *
 * "empty" has gen, batch and time 0.  Validity rule
 * (follow_state_parse, fuzzed by tests/fuzz/fuzz_follow_state.c): the
 * bytes are exactly what follow_state_encode writes for the values they
 * name; nothing else is a position.
 */
#include "config.h"

#include "cloud/follow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t follow_state_encode(const struct follow_pos *p,
			   const uint8_t id[FEED_ID_LEN], bool applying,
			   char out[FOLLOW_STATE_MAX])
{
	char idhex[2 * FEED_ID_LEN + 1];
	const char *st = applying ? "applying" : p->any ? "clean" : "empty";
	int n;

	for (size_t i = 0; i < FEED_ID_LEN; i++)
		snprintf(idhex + 2 * i, 3, "%02x", id[i]);
	n = snprintf(out, FOLLOW_STATE_MAX,
		     "caravanfs follow 1\ngen %016" PRIx64 "\nbatch %016" PRIx64
		     "\ntime %" PRId64 "\nstate %s\nid %s\n",
		     p->any ? p->gen : 0, p->any ? p->batch : 0,
		     p->any ? p->time_ns : 0, st, idhex);
	return (size_t)n;
}

static int hex_get(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EBADMSG;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int follow_state_parse(const void *buf, size_t len, struct follow_pos *p,
		       uint8_t id[FEED_ID_LEN], bool *applying)
{
	char in[FOLLOW_STATE_MAX], again[FOLLOW_STATE_MAX];
	char st[16], idhex[2 * FEED_ID_LEN + 1], gen[17], batch[17];
	struct follow_pos q;
	uint8_t qid[FEED_ID_LEN];
	long long t;
	bool app;
	int n = 0;

	if (len == 0 || len >= sizeof(in) || memchr(buf, 0, len))
		return -EBADMSG;
	memcpy(in, buf, len);
	in[len] = 0;
	if (sscanf(in,
		   "caravanfs follow 1\ngen %16[0-9a-f]\nbatch %16[0-9a-f]\n"
		   "time %lld\nstate %15[a-z]\nid %32[0-9a-f]\n%n",
		   gen, batch, &t, st, idhex, &n) != 5 ||
	    n == 0 || (size_t)n != len || strlen(idhex) != 2 * FEED_ID_LEN)
		return -EBADMSG;
	memset(&q, 0, sizeof(q));
	q.gen = strtoull(gen, NULL, 16);
	q.batch = strtoull(batch, NULL, 16);
	q.time_ns = (int64_t)t;
	app = !strcmp(st, "applying");
	if (!strcmp(st, "empty"))
		q.any = false;
	else if (!strcmp(st, "clean") || app)
		q.any = true;
	else
		return -EBADMSG;
	if (hex_get(idhex, FEED_ID_LEN, qid))
		return -EBADMSG;
	/* the canonical form only: what encode writes for these values */
	if (follow_state_encode(&q, qid, app, again) != len ||
	    memcmp(again, in, len))
		return -EBADMSG;
	*p = q;
	memcpy(id, qid, FEED_ID_LEN);
	*applying = app;
	return 0;
}
