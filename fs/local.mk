# fs: the FUSE filesystem (libfs.a) and the caravanfs program; and the
# end-to-end tests that mount for real.
# Uses everything below it: cloud, store, wal, json, util.
noinst_LIBRARIES += fs/libfs.a
fs_libfs_a_SOURCES = \
	fs/fs.c fs/fs.h fs/fs_config.h fs/fuse.h fs/reserved.h \
	fs/counters.c fs/counters.h \
	fs/ops.c fs/ops.h \
	fs/attr.c fs/attr.h \
	fs/namespace.c fs/namespace.h \
	fs/snapdir.c fs/snapdir.h \
	fs/dir.c fs/dir.h \
	fs/file.c fs/file.h \
	fs/handle.c fs/handle.h \
	fs/node.c fs/node.h \
	fs/sync.c fs/sync.h \
	fs/xattr.c fs/xattr.h \
	fs/metrics.c fs/metrics.h \
	fs/metrics_http.c \
	fs/options.c fs/options.h \
	fs/cloud_glue.c fs/cloud_glue.h \
	fs/follow_glue.c fs/follow_glue.h
fs_libfs_a_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) $(CRYPTO_CFLAGS) $(MHD_CFLAGS)

FS_LDADD = fs/libfs.a cloud/libcloud.a store/libstore.a wal/libwal.a \
	json/libjson.a util/libutil.a $(FUSE_LIBS) $(JANSSON_LIBS) \
	$(CURL_LIBS) $(CRYPTO_LIBS) $(MHD_LIBS) -lm

bin_PROGRAMS += caravanfs
caravanfs_SOURCES = fs/main.c
caravanfs_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) $(JANSSON_CFLAGS) \
	$(SYSTEMD_CFLAGS)
caravanfs_LDADD = $(FS_LDADD) $(SYSTEMD_LIBS)

# End-to-end tests: each script mounts caravanfs for real in a fresh
# temporary directory (tests/e2e/lib.sh) and prints "N passed, N failed".
check_PROGRAMS += tests/e2e/e2e_tool
tests_e2e_e2e_tool_SOURCES = tests/e2e/e2e_tool.c
tests_e2e_e2e_tool_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_e2e_e2e_tool_LDADD = $(JANSSON_LIBS)

E2E_FS_TESTS = \
	tests/e2e_fs_namespace.sh \
	tests/e2e_fs_documents.sh \
	tests/e2e_fs_concurrency.sh \
	tests/e2e_fs_cache.sh \
	tests/e2e_fs_tools.sh \
	tests/e2e_fs_editors.sh \
	tests/e2e_fs_space_rename.sh \
	tests/e2e_fs_crash.sh \
	tests/e2e_fs_compaction.sh \
	tests/e2e_fs_cloud.sh \
	tests/e2e_fs_catalog.sh \
	tests/e2e_fs_cloud_hostile.sh \
	tests/e2e_fs_s3.sh \
	tests/e2e_fs_s3_down.sh \
	tests/e2e_fs_security.sh \
	tests/e2e_fs_metrics.sh \
	tests/e2e_fs_creds.sh \
	tests/e2e_fs_writer.sh \
	tests/e2e_fs_growth.sh \
	tests/e2e_fs_snapshots.sh \
	tests/e2e_fs_history.sh
# eviction: 64 MiB through a 16 MiB bound, on dir: and on s3rver
E2E_FS_TESTS += tests/e2e_fs_evict.sh tests/e2e_fs_evict_s3.sh
# hostile archives against the store (needs cloud_tool)
E2E_FS_TESTS += tests/e2e_cloud_integrity.sh
dist_check_SCRIPTS += $(E2E_FS_TESTS)
TESTS += $(E2E_FS_TESTS)
EXTRA_DIST += tests/e2e/lib.sh tests/creds/aws_endpoints.js
