/* test_main.c - runs the cases of one unit test program (see test.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/test.h"

static int
remove_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	/* Test directories are ours and made by mkdtemp: rm -rf is fine. */
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= (int)sizeof(cmd))
		return -1;
	return system(cmd);
}

int
test_run(const char *prog, const struct test_case *cases, size_t n)
{
	char top[PATH_MAX], dir[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	const char *only = getenv("TEST_ONLY");
	size_t i, passed = 0, failed = 0;

	if (getcwd(top, sizeof(top)) == NULL) {
		perror("getcwd");
		return 99;
	}
	for (i = 0; i < n; i++) {
		if (only != NULL && strcmp(only, cases[i].name) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/clipfs-test-XXXXXX", tmp ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
			perror("test directory");
			return 99;
		}
		test_failed = 0;
		cases[i].fn();
		if (chdir(top) != 0) {
			perror("chdir");
			return 99;
		}
		if (test_failed) {
			printf("FAIL: %s %s (files kept in %s)\n", prog, cases[i].name, dir);
			failed++;
		} else {
			printf("PASS: %s %s\n", prog, cases[i].name);
			remove_tree(dir);
			passed++;
		}
	}
	printf("%s: %zu passed, %zu failed\n", prog, passed, failed);
	return failed ? 1 : 0;
}
