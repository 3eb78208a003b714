# End-to-end proof of cloud backup and restore: the same checks against a
# real S3-compatible server (s3rver on a loopback port, started by the
# test) and against a dir: target.  cloud_tool reads the target through
# the product's own target interface, archive decoder and entry format.
check_PROGRAMS += tests/cloud_tool
tests_cloud_tool_SOURCES = tests/cloud_tool.c
tests_cloud_tool_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	$(CRYPTO_CFLAGS)
tests_cloud_tool_LDADD = cloud/libcloud.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(CURL_LIBS) $(CRYPTO_LIBS) \
	$(JANSSON_LIBS) -lm

E2E_CLOUD_TESTS = tests/e2e_cloud.sh tests/e2e_cloud_readable.sh \
	tests/e2e_cloud_s3fs.sh \
	tests/e2e_cloud_upgrade.sh
TESTS += $(E2E_CLOUD_TESTS)
dist_check_SCRIPTS += $(E2E_CLOUD_TESTS)
