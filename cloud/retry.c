/*
 * retry.c - backoff and errno mapping (see retry.h for the table).
 */
#include "config.h"

#include "cloud/retry.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>

void cloud_retry_policy_default(struct cloud_retry_policy *p)
{
	p->base_ms = 100;
	p->cap_ms = 20000;
	p->max_attempts = 6;
}

uint32_t cloud_backoff_bound_ms(const struct cloud_retry_policy *p,
				uint32_t attempt)
{
	uint64_t b = p->base_ms;

	if (attempt >= 32)
		return p->cap_ms;
	b <<= attempt;
	return b > p->cap_ms ? p->cap_ms : (uint32_t)b;
}

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint32_t cloud_backoff_ms(const struct cloud_retry_policy *p, uint32_t attempt,
			  uint64_t *rng)
{
	uint64_t bound = cloud_backoff_bound_ms(p, attempt);

	return (uint32_t)(xorshift64s(rng) % (bound + 1));
}

bool cloud_retry_more(const struct cloud_retry_policy *p,
		      uint32_t attempts_done)
{
	return p->max_attempts == CLOUD_RETRY_FOREVER ||
	       attempts_done < p->max_attempts;
}

static bool code_is(const char *code, const char *want)
{
	return code && !strcmp(code, want);
}

int cloud_http_errno(long status, const char *code, bool *retry)
{
	*retry = false;
	if (status >= 200 && status < 300)
		return 0;
	if (code_is(code, "SlowDown") || code_is(code, "RequestTimeout") ||
	    code_is(code, "InternalError") || code_is(code, "BadDigest") ||
	    code_is(code, "XAmzContentSHA256Mismatch") ||
	    code_is(code, "ServiceUnavailable")) {
		*retry = true;
		return -EIO;
	}
	if (status == 429 || status == 408 || status >= 500) {
		if (status == 501)
			return -ENOTSUP;
		*retry = true;
		return -EIO;
	}
	switch (status) {
	case 404:
		return code_is(code, "NoSuchBucket") ? -ENXIO : -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 405:
		return -ENOTSUP;
	case 409:
		return -EBUSY;
	case 412: /* a condition (If-None-Match) did not hold */
		return -EEXIST;
	case 413:
		return -EFBIG;
	default:
		break;
	}
	if (status >= 400 && status < 500)
		return -EINVAL;
	return -EIO;
}

int cloud_curl_errno(int curl_code, bool *retry)
{
	*retry = false;
	switch ((CURLcode)curl_code) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_READ_ERROR:
		*retry = true;
		return -EIO;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return -EKEYREJECTED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;
	}
}
