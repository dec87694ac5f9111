/*
 * tree.h - the merged root filesystem, built layer by layer with OCI
 * semantics, then written out as CLIP v2 inodes and directory entries.
 *
 * Each layer's entries are applied in tar order, each to the tree as it
 * stands at that point, the way containerd's and umoci's appliers unpack
 * a layer onto a rootfs:
 *   - the parent path of an entry is resolved inside the tree: every
 *     symlink on it is followed (relative to the directory it is in; an
 *     absolute target starts again at the root), ".." never climbs above
 *     the root, at most TREE_MAX_LINKS symlinks are followed; the last
 *     component is never followed.  A component that does not exist (or
 *     stands below a non-directory) is taken as it is, and a later ".."
 *     removes it again, as umoci does;
 *   - ".wh..wh..opq" in directory D empties the directory D resolves to
 *     of what the layers below left there; ".wh.NAME" removes NAME (and
 *     its subtree) of the layers below; what this layer itself put there,
 *     before or after the marker in the tar, stays;
 *   - every other entry: missing parent directories are created (0755,
 *     owned by root, mtime 0), an entry replaces whatever had its name
 *     (a directory over a directory only updates its attributes and keeps
 *     the children; over a symlink to a directory it replaces the link),
 *     and a hardlink shares the inode of its target as the tree stands at
 *     that point, once the old entry at the link's path is gone (same
 *     layer or below; the target's parent is resolved like an entry's,
 *     its last component is not followed).
 * Whiteout files themselves never appear in the tree.
 */
#ifndef CLIP_INDEXER_TREE_H
#define CLIP_INDEXER_TREE_H

#include <stdint.h>

#include "common/util/error.h"
#include "common/format/index_write.h"
#include "indexer/entry.h"

#define TREE_MAX_DEPTH 1024   /* path components; deeper paths are refused */
/* Symlinks followed resolving one path: more is a loop (ELOOP), as in
 * containerd's and umoci's appliers. */
#define TREE_MAX_LINKS 255
/* Path components walked resolving one path, through all its symlinks: a
 * bound on the work a hostile chain of links can ask for. */
#define TREE_MAX_STEPS 16384

struct merge_tree;

clip_err merge_tree_new(struct merge_tree **out, struct clip_error *err);
void merge_tree_free(struct merge_tree *t);   /* accepts NULL */

/* Applies one layer's entries; layer is the index recorded for file data.
 * CLIP_ERR_IMAGE, naming the entry, for: a parent that resolves to a
 * non-directory (a file, or a symlink to one), a symlink loop or more
 * than TREE_MAX_LINKS links (or TREE_MAX_STEPS components) on the way; a
 * hardlink whose target is missing or a directory once the hardlink's own
 * path is cleared (a link to itself, say); a name longer than 255 bytes or a path
 * deeper than TREE_MAX_DEPTH.  The tree is then only partly merged: free
 * it. */
clip_err merge_tree_apply(struct merge_tree *t, const struct layer_entries *entries,
    uint32_t layer, struct clip_error *err);

/* Adds the whole tree to w (which must be empty of inodes): inodes are
 * numbered depth first in name order, root first. */
clip_err merge_tree_emit(struct merge_tree *t, clip_writer *w, struct clip_error *err);

/* Counts, for reports: nodes (names) and distinct inodes. */
void merge_tree_counts(const struct merge_tree *t, uint64_t *names, uint64_t *inodes);

#endif
