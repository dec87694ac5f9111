/*
 * mount_opts.h - clipfs mount's options: tables (opt_table.h) from which
 * the long options, the -o keys (cache-dir and cache_dir alike), the
 * parser and --help all come: mount's own, and the registry options it
 * shares with clipfs index (registry_opts.h).  Defaults live only in
 * mount_opts_init, registry_cli_opts_init and clip_reader_opts_init, so
 * --help shows the real ones.
 */
#ifndef CLIPFS_MOUNT_OPTS_H
#define CLIPFS_MOUNT_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "clipfs/registry_opts.h"
#include "common/reader/layer_reader.h"

#define MOUNT_DEFAULT_CACHE_DIR "/var/cache/clipfs"
#define MOUNT_MAX_PATHS 8

struct mount_opts {
	const char *index_path;
	const char *mountpoint;
	int foreground, debug;
	const char *layout;
	const char *mode;           /* auto, erofs or fuse (mount_erofs.h) */
	struct registry_cli_opts registry;
	const char *cache_dir;
	int no_disk_cache;
	int check_layers;           /* re-hash layer files before using them */
	/* mem_cache_bytes, disk_cache_bytes, readahead_spans, predict_spans
	 * and load_bytes are set by options; the rest stays as
	 * clip_reader_opts_init made it. */
	struct clip_reader_opts reader;
	unsigned timeout_s;
	const char *trace;
	int no_prefetch;
	int partial_loads;          /* accepted and ignored */
	uint64_t background_rate;   /* bytes/s; 0: no background fetch */
	int log_level;              /* -1: as it is */
	char fuse_opts[4096];       /* -o options passed on to FUSE */
	char *made[MOUNT_MAX_PATHS];   /* paths made absolute (mount_opts_absolute) */
	const char *platform;       /* mount REF: os/arch[/variant]; NULL: this machine */
	char *fetched_index;        /* mount REF: the cached index (mount_ref_fetch) */
	int ref_by_tag;             /* mount REF: the REF names a tag (pull-from-mirror) */
	clip_index *fetched;        /* ... opened and checked once; the mount takes it */
};

/* The defaults. */
void mount_opts_init(struct mount_opts *m);
/* Frees what mount_opts_absolute made. */
void mount_opts_free(struct mount_opts *m);

/* Parses clipfs mount's command line (optind from 1) into m, which
 * mount_opts_init prepared.  0; 1 for --help (printed to stdout); -1 on
 * a usage error (said on stderr). */
int mount_opts_parse(int argc, char **argv, struct mount_opts *m);

/* Applies an -o list: clipfs's own keys to m, the rest to m->fuse_opts.
 * 0, or -1 with a message on stderr.  list is modified and kept. */
int mount_opts_apply_o(struct mount_opts *m, char *list);

/* Makes every path option absolute (the daemon runs in /); -1 on ENOMEM. */
int mount_opts_absolute(struct mount_opts *m);

/* clipfs mount --help, with the defaults of a freshly initialised m. */
void mount_usage(FILE *out);

#endif
