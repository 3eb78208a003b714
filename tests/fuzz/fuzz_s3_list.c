/*
 * fuzz_s3_list.c - libFuzzer target for the S3 XML readers
 * (ListObjectsV2 results and error documents).  Oracle: never read outside
 * the input (ASan), every name handed to the callback is NUL-terminated
 * at the reported length, a failed parse leaves nothing to free, and a
 * successful one never hands back an empty continuation token nor a
 * truncated page without one (the listing bounds rely on it).
 */
#include "cloud/s3_xml.h"

#include <stdint.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_name(void *arg, const char *name, size_t len, bool is_prefix)
{
	size_t *count = arg;

	(void)is_prefix;
	if (strlen(name) > len || name[len] != '\0')
		abort();
	(*count)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[64];
	char *token = NULL;
	bool truncated = false;
	size_t count = 0;

	if (s3_xml_parse_list((const char *)data, size, on_name, &count,
			      &truncated, &token) == 0) {
		if ((truncated && !token) || (token && !token[0]))
			abort();
		free(token);
	} else if (token)
		abort();
	s3_xml_parse_error((const char *)data, size, code, sizeof(code));
	return 0;
}
