/* mkzoo.c - writes the unit tests' reference index to a file, for the
 * CLI tests: mkzoo OUT.clip */
#include "config.h"

#include <stdio.h>

#include "common/format/index_write.h"
#include "tests/unit/zoo.h"

int
main(int argc, char **argv)
{
	struct clip_error err;
	clip_writer *w = NULL;
	clip_err rc;

	if (argc != 2) {
		fprintf(stderr, "usage: mkzoo OUT.clip\n");
		return 2;
	}
	rc = clip_writer_new(&w, &err);
	if (rc == CLIP_OK)
		rc = zoo_build(w, &err);
	if (rc == CLIP_OK)
		rc = clip_writer_write_file(w, argv[1], &err);
	clip_writer_free(w);
	if (rc != CLIP_OK) {
		fprintf(stderr, "mkzoo: %s\n", clip_error_message(&err));
		return 1;
	}
	return 0;
}
