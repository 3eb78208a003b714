/*
 * replay_main.c - the main() of a libFuzzer target built without
 * libFuzzer, for make check: every regular file of the corpus
 * directories named on the command line (by default
 * $srcdir/tests/fuzz/corpus/FUZZ_CORPUS) goes through
 * LLVMFuzzerTestOneInput once.  The seeds and the reproducers of fixed
 * crashes kept there thereby run on every build, sanitizers and valgrind
 * included.  A target's oracle aborts on a failure; exit status 1 means
 * a corpus could not be read or held no input.
 *
 * Build: link with the target's file and -DFUZZ_CORPUS='"name"'.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef FUZZ_CORPUS
#error "FUZZ_CORPUS must name the default corpus directory"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional in a target, as with libFuzzer */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path, int *n)
{
	struct stat st;
	uint8_t *buf;
	size_t len;
	FILE *f;
	int rc = 1;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	f = fopen(path, "rb");
	if (buf && f && fread(buf, 1, len, f) == len) {
		LLVMFuzzerTestOneInput(buf, len);
		(*n)++;
		rc = 0;
	} else {
		fprintf(stderr, "cannot read '%s'\n", path);
	}
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	const char *src = getenv("srcdir");
	char def[1024], path[2048];
	int n = 0;

	snprintf(def, sizeof(def), "%s/tests/fuzz/corpus/%s", src ? src : ".",
		 FUZZ_CORPUS);
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc || (argc == 1 && i == 1); i++) {
		const char *d = argc > 1 ? argv[i] : def;
		DIR *dp = opendir(d);
		struct dirent *e;

		if (!dp) {
			fprintf(stderr, "cannot open corpus '%s'\n", d);
			return 1;
		}
		while ((e = readdir(dp))) {
			snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
			if (replay_file(path, &n)) {
				closedir(dp);
				return 1;
			}
		}
		closedir(dp);
	}
	printf("%s: %d inputs replayed, 0 crashes\n", argv[0], n);
	return n ? 0 : 1;
}
