# ops: what make install puts beside the programs: the manual pages, the
# bash completions, the systemd unit (caravanfs@NAME.service reads
# /etc/caravanfs/NAME.conf) and an example of that file.
dist_man8_MANS = ops/caravanfs.8 ops/caravan.8

bashcompletion_DATA = ops/bash-completion/caravanfs \
	ops/bash-completion/caravan

systemdsystemunit_DATA = ops/caravanfs@.service
ops/caravanfs@.service: $(srcdir)/ops/caravanfs@.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) ops && \
	sed -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@FUSERMOUNT3[@]|$(FUSERMOUNT3)|g' \
	    $(srcdir)/ops/caravanfs@.service.in >$@.tmp && mv $@.tmp $@
CLEANFILES += ops/caravanfs@.service

dist_doc_DATA = ops/caravanfs.conf.example

EXTRA_DIST += $(bashcompletion_DATA) ops/caravanfs@.service.in debian \
	tests/e2e_package.sh

# tests/e2e_fs_ops.sh checks all of the above with man, bash and
# systemd-analyze, and plays systemd's side of sd_notify with
# notify_listen.
check_PROGRAMS += tests/e2e/notify_listen
tests_e2e_notify_listen_SOURCES = tests/e2e/notify_listen.c
dist_check_SCRIPTS += tests/e2e_fs_ops.sh
TESTS += tests/e2e_fs_ops.sh
