# tests: end-to-end scripts that need the built programs live here; the
# unit suites are declared in their module's local.mk.
