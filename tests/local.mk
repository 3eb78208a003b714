# tests: end-to-end scripts that need the built programs live here; the
# unit suites are declared in their module's local.mk.  Test machinery
# lives under tests/ and is built only into the tests: the crash simulator
# (tests/crashsim/, tests/engine-proof.mk), the json allocation fault
# countdown (tests/json_fault.c, json/local.mk), tests/testutil.c.

# libFuzzer targets of the cloud decoders (built and run by
# tests/fuzz/run-cloud.sh from the test command, not by make check).
EXTRA_DIST += tests/fuzz/fuzz_archive.c tests/fuzz/fuzz_s3_list.c \
	tests/fuzz/run-cloud.sh tests/fuzz/corpus/cloud \
	tests/fuzz/fuzz_feed.c tests/fuzz/corpus/feed
