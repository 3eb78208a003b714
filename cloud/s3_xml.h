/*
 * s3_xml.h - the few S3 XML responses we read: ListObjectsV2 results and
 * error documents.
 *
 * Both parsers are pure functions of (buf, len) over a small,
 * bounds-checked XML reader of our own (elements, attributes skipped,
 * character data with the five predefined entities and numeric character
 * references, CDATA, comments and the XML declaration; no DTD: a
 * <!DOCTYPE is refused).  Anything malformed is -EBADMSG; they never read
 * outside buf and are fuzz targets.
 */
#ifndef CLOUD_S3_XML_H
#define CLOUD_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

/* Called once per <Contents><Key> (is_prefix false) and per
 * <CommonPrefixes><Prefix> (is_prefix true), in document order.  name is
 * NUL-terminated, entity-decoded, valid during the call only.  A non-zero
 * return stops the parse and is returned. */
typedef int (*s3_list_fn)(void *arg, const char *name, size_t len,
			  bool is_prefix);

/* Parse a ListBucketResult.  *truncated receives IsTruncated and
 * *next_token the NextContinuationToken (owned by the caller, free with
 * free(); NULL when absent; never empty).  A truncated page without a
 * token, or a token that is empty or holds a NUL, is -EBADMSG.  -EBADMSG when the root is not
 * ListBucketResult or the XML is malformed; nothing is left to free then. */
int s3_xml_parse_list(const char *buf, size_t len, s3_list_fn fn, void *arg,
		      bool *truncated, char **next_token);

/* The <Code> of an <Error> document, copied into code (truncated to
 * cap - 1 bytes).  -ENOENT when buf is not an error document. */
int s3_xml_parse_error(const char *buf, size_t len, char *code, size_t cap);

#endif
