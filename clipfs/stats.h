/*
 * stats.h - clipfs stats: the daemon answers on a private unix socket
 * (nothing appears in the mounted tree); the client finds it from the
 * mountpoint's path.
 */
#ifndef CLIPFS_STATS_H
#define CLIPFS_STATS_H

#include <stddef.h>

#include "clipfs/fs.h"

struct stats_server;

/* The socket for mountpoint (made absolute): RUNDIR/<hash>.sock, with
 * RUNDIR /run/clipfs for root, else $XDG_RUNTIME_DIR/clipfs.  -1 if it
 * does not fit. */
int stats_socket_path(const char *mountpoint, char *buf, size_t len);

/* Where clipfs restart --binary leaves the binary's path for the mount's
 * keeper: the socket's path and ".binary".  -1 if it does not fit. */
int stats_binary_path(const char *mountpoint, char *buf, size_t len);

/* Starts answering; NULL on failure (errno set). */
struct stats_server *stats_server_start(struct clipfs_fs *fs, const char *mountpoint,
    const char *index_path);
void stats_server_stop(struct stats_server *s);

/* The daemon's JSON for mountpoint (malloc'ed), or NULL if none answers. */
char *stats_query(const char *mountpoint, size_t *len);

int cmd_stats(int argc, char **argv);

#endif
