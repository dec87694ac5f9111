/*
 * replay_main.c - runs a fuzz harness over files, without libFuzzer.
 *
 *   replay_FOO FILE|DIR...
 *
 * Every regular file named, or found (not recursively) in a directory
 * named, is passed once to LLVMFuzzerTestOneInput.  Used by
 * tests/fuzz/replay.test to replay the seed corpora and the saved
 * regressions in an ordinary build, and by hand to reproduce a crash in
 * a debugger or under valgrind.  Exits 0 when every input ran (a bug in
 * the code under test shows up as a crash, a sanitizer report or a
 * FUZZ_ASSERT abort), 1 if a file could not be read.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#define REPLAY_MAX (64u << 20)   /* no seed is anywhere near this */

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t len = 0, got;
	long end;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 ||
	    (unsigned long)end > REPLAY_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, f ? "unreadable or too big" :
		    strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* Exactly the file's size, so an over-read shows under ASan/valgrind. */
	buf = malloc(end > 0 ? (size_t)end : 1);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	while (len < (size_t)end && (got = fread(buf + len, 1, (size_t)end - len, f)) > 0)
		len += got;
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a directory in name order, so runs are reproducible. */
static int
replay_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	int bad = 0;
	struct stat st;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
			if (nn == NULL) {
				bad = -1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			bad = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) != 0)
				bad = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return bad;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	int i, bad = 0;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) != 0)
				bad = 1;
		} else if (replay_file(argv[i]) != 0) {
			bad = 1;
		} else {
			count++;
		}
	}
	printf("%s: %u inputs replayed\n", argv[0], count);
	return bad;
}
