/*
 * main.c - the clipfs command: dispatch to subcommands.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "clipfs/cli.h"
#include "common/gzip/inflate.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "bundle",  cmd_bundle,  "write an OCI runtime bundle that runs a mounted image" },
	{ "index",   cmd_index,   "build an index from an image (registry or OCI layout)" },
	{ "inspect", cmd_inspect, "print a summary of an index" },
	{ "ls",      cmd_ls,      "list the tree inside an index" },
	{ "mount",   cmd_mount,   "serve an index over FUSE, fetching data lazily" },
	{ "prefetch", cmd_prefetch, "store a prefetch list (e.g. a --trace file) in an index" },
	{ "push",    cmd_push,    "store an index in its image's repository (an OCI artifact)" },
	{ "umount",  cmd_umount,  "unmount a clipfs mount" },
	{ "restart", cmd_restart, "replace a mount's daemon, failing no request" },
	{ "stats",   cmd_stats,   "show the counters of a mounted clipfs" },
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out,
	    "Usage: clipfs COMMAND [OPTIONS] [ARGS]\n"
	    "       clipfs COMMAND --help\n"
	    "\n"
	    "Lazily mount OCI container images from a small CLIP v2 index.\n"
	    "\n"
	    "Commands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out,
	    "\n"
	    "Options:\n"
	    "  -h, --help     show this help\n"
	    "  -V, --version  show the version\n"
	    "\n"
	    "See clipfs(1) and clip(5).\n");
}

int
main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	size_t i;

	/* mount(8) runs mount.clipfs for "-t clipfs". */
	if (strcmp(base ? base + 1 : argv[0], "mount.clipfs") == 0)
		return mount_helper_main(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("clipfs %s (index format %d, span inflate: %s)\n", PACKAGE_VERSION, 2,
		    clip_inflater_name(clip_inflate_use((enum clip_inflater)-1)));
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0) {
			/* getopt names argv[0] in its messages: "clipfs ls: ..." */
			char name[64];
			snprintf(name, sizeof(name), "clipfs %s", subcommands[i].name);
			argv[1] = name;
			return subcommands[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "clipfs: unknown command '%s' (see clipfs --help)\n", argv[1]);
	return EXIT_USAGE;
}
