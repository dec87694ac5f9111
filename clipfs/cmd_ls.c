#include "config.h"
#include <stdio.h>
#include "clipfs/cli.h"
int
cmd_ls(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "clipfs: ls: not yet implemented\n");
	return EXIT_FAILURE_GENERIC;
}
