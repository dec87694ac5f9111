/*
 * tree_resolve.h - where a path leads inside the merged tree, following
 * symlinks the way containerd's and umoci's appliers do when they unpack
 * a layer onto a rootfs (private to indexer/tree*.c; rules in tree.h).
 */
#ifndef CLIP_INDEXER_TREE_RESOLVE_H
#define CLIP_INDEXER_TREE_RESOLVE_H

#include "indexer/tree_nodes.h"

/* The end of a resolution: the deepest existing node reached and the
 * names below it that do not exist (t->pending[0..npending), pointing
 * into the path and into symlink targets; valid until the tree changes),
 * and how many components below the root the place is (the root: 0). */
struct tree_place {
	struct tree_node *node;
	size_t npending;
	size_t depth;
};

/* Resolves every component of path[0..len) from the root, following every
 * symlink; what names the path in messages.  CLIP_ERR_IMAGE for a loop
 * (more than TREE_MAX_LINKS links), more than TREE_MAX_STEPS components
 * walked, a place deeper than TREE_MAX_DEPTH or a name over 255 bytes. */
clip_err tree_resolve(struct merge_tree *t, const char *path, size_t len, const char *what,
    struct tree_place *out, struct clip_error *err);

/* The directory pl stands for, made with its missing directories (0755,
 * root, mtime 0) as os.MkdirAll does: *dir.  CLIP_ERR_IMAGE when pl's node
 * is not a directory (nothing made); what names the entry in messages. */
clip_err tree_make_dirs(struct merge_tree *t, const struct tree_place *pl, const char *what,
    struct tree_node **dir, struct clip_error *err);

#endif
