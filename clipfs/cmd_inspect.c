#include "config.h"
#include <stdio.h>
#include "clipfs/cli.h"
int
cmd_inspect(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "clipfs: inspect: not yet implemented\n");
	return EXIT_FAILURE_GENERIC;
}
