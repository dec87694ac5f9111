/*
 * cli.h - what the subcommands of clipfs share: exit codes and helpers.
 */
#ifndef CLIPFS_CLI_H
#define CLIPFS_CLI_H

#include <stdint.h>

#include "common/util/error.h"
#include "common/format/index.h"

/* Exit codes, documented in clipfs(1). */
enum clipfs_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1, /* anything not listed below */
	EXIT_USAGE = 2,           /* bad command line */
	EXIT_BAD_INDEX = 3,       /* the index file is damaged or unreadable */
	EXIT_REGISTRY = 4,        /* the registry could not be reached or refused */
	EXIT_BAD_IMAGE = 5,       /* the image is corrupt, hostile or unsupported */
	EXIT_MOUNT = 6,           /* mounting failed */
	EXIT_NO_INDEX = 7,        /* mount REF: no index is published for the image */
};

/* Maps a library error to the exit code above. */
int clipfs_exit_code(clip_err code);

/* Prints "clipfs: <what>: <detail>" to stderr. */
void clipfs_report(const char *what, const struct clip_error *err);

/*
 * --creds USER:PASS: returns a copy to use (kept for the process's life)
 * and overwrites the password in arg, which is argv's own memory, with
 * '*', so that ps and /proc/PID/cmdline do not show it for as long as the
 * command, or the mount's daemon, runs.  On ENOMEM, or past the 8th
 * call, arg itself, not overwritten.
 */
const char *clipfs_hide_secret(char *arg);

/* The same, in place, for every creds=USER:PASS of an -o list. */
void clipfs_hide_secret_opts(char *list);

/*
 * Option values (cli_args.c); each returns 0, or -1 and leaves *out alone.
 * A SIZE is a decimal number of bytes with an optional K, M or G (powers
 * of 1024), at most max; a boolean is true/false, 1/0 or yes/no; a count
 * is a whole decimal number from 0 to max.  None takes an empty string.
 */
int clipfs_parse_size(const char *s, uint64_t max, uint64_t *out);
int clipfs_parse_bool(const char *s, int *out);
int clipfs_parse_count(const char *s, unsigned max, unsigned *out);

/* Opens an index, reporting a failure; returns EXIT_OK or the exit code. */
int clipfs_index_open(const char *path, clip_index **idx);

int cmd_bundle(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_prefetch(int argc, char **argv);
int cmd_push(int argc, char **argv);
struct registry_cli_opts;
/* Publishes the index at path (clipfs push; clipfs index --push) in ref's
 * repository, or (ref NULL) the one the index names.  An exit status;
 * errors are reported on stderr. */
int clipfs_push_index(const char *path, const char *ref, const struct registry_cli_opts *o);
/* Resolves LIST against the index and stores it (clipfs prefetch). */
int prefetch_apply(const char *index_path, const char *list);
int cmd_umount(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int mount_helper_main(int argc, char **argv);

#endif
