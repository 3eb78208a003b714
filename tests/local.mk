# tests: end-to-end scripts that need the built programs live here; the
# unit suites are declared in their module's local.mk.

# libFuzzer targets of the cloud decoders (built and run by
# tests/fuzz/run-cloud.sh from the test command, not by make check).
EXTRA_DIST += tests/fuzz/fuzz_archive.c tests/fuzz/fuzz_s3_list.c \
	tests/fuzz/run-cloud.sh tests/fuzz/corpus/cloud
