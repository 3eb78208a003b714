# cloud: the S3 client (SigV4 over libcurl + OpenSSL), the dir: target, the
# archive format of a document, and (phase 2) the uploader and restore.
# Uses util/ and store/store.h only.
noinst_LIBRARIES += cloud/libcloud.a
cloud_libcloud_a_SOURCES = \
	cloud/archive.c cloud/archive.h \
	cloud/backup.c cloud/backup.h cloud/backup_internal.h \
	cloud/catalog.c cloud/catalog.h \
	cloud/creds.c cloud/creds.h cloud/creds_internal.h \
	cloud/creds_chain.c cloud/creds_http.c cloud/creds_process.c \
	cloud/dir.c \
	cloud/feed.c cloud/feed.h \
	cloud/follow.c cloud/follow.h cloud/follow_state.c \
	cloud/frame.c cloud/frame.h \
	cloud/history.c cloud/history.h cloud/history_backup.c \
	cloud/pitr.c cloud/pitr.h \
	cloud/docmeta.c cloud/docmeta.h \
	cloud/http.h cloud/http_curl.c \
	cloud/lease.c cloud/lease.h cloud/lease_format.c \
	cloud/restore.c \
	cloud/retry.c cloud/retry.h \
	cloud/s3.c \
	cloud/s3_xml.c cloud/s3_xml.h \
	cloud/snap_index.c \
	cloud/sigv4.c cloud/sigv4.h \
	cloud/target.c cloud/target.h cloud/target_internal.h \
	cloud/tombstone.c \
	cloud/upload.c \
	cloud/verify.c cloud/verify.h \
	cloud/writer.c
cloud_libcloud_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) \
	$(JANSSON_CFLAGS)

CLOUD_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CURL_CFLAGS) \
	$(CRYPTO_CFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DTOP_BUILDDIR='"$(abs_top_builddir)"'
CLOUD_TEST_LDADD = cloud/libcloud.a util/libutil.a $(CURL_LIBS) \
	$(CRYPTO_LIBS) $(JANSSON_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/check_cloud_sigv4
TESTS += tests/check_cloud_sigv4
tests_check_cloud_sigv4_SOURCES = tests/check_cloud_sigv4.c
tests_check_cloud_sigv4_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_sigv4_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_creds
TESTS += tests/check_cloud_creds
tests_check_cloud_creds_SOURCES = tests/check_cloud_creds.c
tests_check_cloud_creds_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_creds_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_archive
TESTS += tests/check_cloud_archive
tests_check_cloud_archive_SOURCES = tests/check_cloud_archive.c
tests_check_cloud_archive_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_archive_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_feed
TESTS += tests/check_cloud_feed
tests_check_cloud_feed_SOURCES = tests/check_cloud_feed.c
tests_check_cloud_feed_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_feed_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_retry
TESTS += tests/check_cloud_retry
tests_check_cloud_retry_SOURCES = tests/check_cloud_retry.c
tests_check_cloud_retry_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_retry_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_parse
TESTS += tests/check_cloud_parse
tests_check_cloud_parse_SOURCES = tests/check_cloud_parse.c
tests_check_cloud_parse_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_parse_LDADD = $(CLOUD_TEST_LDADD)

check_PROGRAMS += tests/check_cloud_target
TESTS += tests/check_cloud_target
tests_check_cloud_target_SOURCES = tests/check_cloud_target.c
tests_check_cloud_target_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_target_LDADD = tests/libiofault.a $(CLOUD_TEST_LDADD)

# The uploader and restore run against a real store: this suite links the
# store and what it uses.
check_PROGRAMS += tests/check_cloud_backup
TESTS += tests/check_cloud_backup
tests_check_cloud_backup_SOURCES = tests/check_cloud_backup.c
tests_check_cloud_backup_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_backup_LDADD = cloud/libcloud.a store/libstore.a \
	wal/libwal.a json/libjson.a util/libutil.a $(JANSSON_LIBS) \
	$(CURL_LIBS) $(CRYPTO_LIBS) $(CHECK_LIBS) -lm

# The first upload's claim against a name that changes hands meanwhile.
check_PROGRAMS += tests/check_cloud_claim
TESTS += tests/check_cloud_claim
tests_check_cloud_claim_SOURCES = tests/check_cloud_claim.c
tests_check_cloud_claim_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_claim_LDADD = $(tests_check_cloud_backup_LDADD)

check_PROGRAMS += tests/check_cloud_lease
TESTS += tests/check_cloud_lease
tests_check_cloud_lease_SOURCES = tests/check_cloud_lease.c
tests_check_cloud_lease_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_check_cloud_lease_LDADD = tests/libtestutil.a \
	$(tests_check_cloud_backup_LDADD)
check_PROGRAMS += tests/check_cloud_history
TESTS += tests/check_cloud_history
tests_check_cloud_history_SOURCES = tests/check_cloud_history.c
tests_check_cloud_history_CFLAGS = $(CLOUD_TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_check_cloud_history_LDADD = cloud/libcloud.a store/libstore.a \
	wal/libwal.a json/libjson.a util/libutil.a $(JANSSON_LIBS) \
	$(CURL_LIBS) $(CRYPTO_LIBS) $(CHECK_LIBS) -lm

EXTRA_DIST += tests/data/aws-sigv4 tests/data/cloud tests/cloud_hostile_server.js

# The follower (cloud/follow.c) against a real store and a dir: target.
check_PROGRAMS += tests/check_cloud_follow
TESTS += tests/check_cloud_follow
tests_check_cloud_follow_SOURCES = tests/check_cloud_follow.c
tests_check_cloud_follow_CFLAGS = $(CLOUD_TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_check_cloud_follow_LDADD = $(tests_check_cloud_history_LDADD)

check_PROGRAMS += tests/check_cloud_follow_lazy
TESTS += tests/check_cloud_follow_lazy
tests_check_cloud_follow_lazy_SOURCES = tests/check_cloud_follow_lazy.c
tests_check_cloud_follow_lazy_CFLAGS = $(CLOUD_TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_check_cloud_follow_lazy_LDADD = $(tests_check_cloud_history_LDADD)
