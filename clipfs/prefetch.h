/*
 * prefetch.h - prefetch lists: reading them (a --trace file, or a list of
 * paths with optional ranges) against an index, and the daemon's
 * background fetcher that loads them, in order, right after mounting.
 */
#ifndef CLIPFS_PREFETCH_H
#define CLIPFS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/format/index.h"
#include "common/reader/layer_reader.h"

/*
 * Reads a list file: one entry per line, '#' starts a comment.  A line is
 * PATH, or PATH<TAB>SECONDS<TAB>OFFSET as clipfs mount --trace writes it
 * (the whole file is fetched), or PATH<TAB>OFFSET<TAB>LENGTH (that range).
 * Paths are resolved in the image, following symlinks.  Paths that do not
 * name a regular file are counted in *skipped and left out.  Returns 0, or
 * -1 with a message in msg.  *out is malloc'ed.
 */
int prefetch_list_load(const clip_index *idx, const char *path,
    struct clip_prefetch_entry **out, size_t *n, size_t *skipped, char *msg, size_t msglen);

/*
 * The paths of a list file read as above, normalised like tar entry paths
 * (no leading "/"), sorted by strcmp and without repeats: for clipfs index
 * --prefetch, which puts checkpoints around those files.  Nothing is
 * resolved (there is no index yet): a path through a symlink matches no
 * entry and only costs nothing.  Returns 0, or -1 with a message in msg.
 * Free with prefetch_paths_free().
 */
int prefetch_list_paths(const char *path, char ***out, size_t *n, char *msg, size_t msglen);
void prefetch_paths_free(char **v, size_t n);

struct prefetcher;

/*
 * Starts fetching the index's prefetch list in the background (in list
 * order, adjacent spans merged into one request, `workers` at a time),
 * then, with background_rate > 0, the rest of the image at most that many
 * bytes per second.  NULL if there is nothing to do.
 */
struct prefetcher *prefetcher_start(const clip_index *idx, clip_reader *r, unsigned workers,
    uint64_t background_rate);
/* Calls layer_done(ctx, layer) (from the background fetcher's thread)
 * each time the background fetch has gone through a layer.  Before any
 * layer is done: call it right after prefetcher_start.  Accepts NULL. */
void prefetcher_on_layer_done(struct prefetcher *p, void (*layer_done)(void *ctx, uint32_t layer),
    void *ctx);
/* Stops (between requests) and joins.  Accepts NULL. */
void prefetcher_stop(struct prefetcher *p);

int cmd_prefetch(int argc, char **argv);

#endif
