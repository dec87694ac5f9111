/*
 * mount_run.h - what clipfs mount's two sides share: the keeper side
 * (cmd_mount.c: checks, the mount, the keeper's hooks) and the daemon
 * side (mount_daemon.c: one serving daemon's life, forked or run as
 * another binary by clipfs restart --binary).
 */
#ifndef CLIPFS_MOUNT_RUN_H
#define CLIPFS_MOUNT_RUN_H

#include <limits.h>

#include "clipfs/fs.h"
#include "clipfs/keeper.h"
#include "clipfs/mount_erofs.h"
#include "clipfs/mount_opts.h"
#include "clipfs/mount_source.h"

/* What a mount holds, from start to unmount. */
struct mount_run {
	struct fuse_args args;
	struct mount_source ds;
	struct clipfs_fs fs;
	struct stats_server *stats;
	struct prefetcher *prefetch;
	struct layer_writer *layer_writer;
	struct fuse_session *se;
	clip_index *idx;
	int mounted;
	enum mount_mode mode;
	struct erofs_mount em;      /* the EROFS mode's image and layer directory */
	int report_fd;              /* the waiting parent's pipe (EROFS mode), or -1 */
	int signalled;              /* the loop ended on SIGTERM, SIGINT or SIGHUP */
	int tree_mounted;           /* the EROFS tree is at the mountpoint */
	uint64_t tree_mnt_id;       /* ... as this mount */
	int erofs_refused;          /* --mode auto: the kernel refused the tree */
	int foreground;             /* -f: stdio stays where it is */
	int handlers;               /* libfuse's signal handlers are set for se */
	struct fuse_session *keeper_se;   /* in a daemon: the keeper's, left alone */
	char cwd[PATH_MAX];         /* where clipfs mount ran: its argv's paths */
	const struct mount_opts *m;
};

/* A new FUSE session with the mode's operations, not mounted yet.  An
 * exit status. */
int session_create(const struct mount_opts *m, struct mount_run *mr, struct fuse_session **se);
/* Ends mr's FUSE session (its mount too, if mr->mounted). */
void session_end(struct mount_run *mr);
/* Gives SIGTERM, SIGINT and SIGHUP back to their default. */
void remove_handlers(struct mount_run *mr);
/* Reports status on mr->report_fd (once), and on success lets go of the
 * terminal unless in the foreground. */
void report_to_parent(struct mount_run *mr, int status);

/* The keeper's hooks for a daemon (keeper.h): its life in the forked
 * child, and its life as another binary. */
int daemon_main(void *ctx, struct keeper *k);
int daemon_exec(void *ctx, struct keeper *k, const char *binary);
/* Keeps clipfs mount's command line for daemon_exec. */
void save_mount_argv(int argc, char **argv);
/* clipfs mount run by daemon_exec: the daemon, from KEEPER_ENV's value. */
int run_takeover(struct mount_opts *m, const char *env);

#endif
