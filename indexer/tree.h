/*
 * tree.h - the merged root filesystem, built layer by layer with OCI
 * semantics, then written out as CLIP v2 inodes and directory entries.
 *
 * For each layer, in order:
 *   - ".wh..wh..opq" in directory D hides every entry of D that came from
 *     the layers below, wherever it stands in the tar;
 *   - ".wh.NAME" removes NAME (and its subtree) of the layers below;
 *   - every other entry is applied in tar order: missing parent
 *     directories are created, an entry replaces whatever had its name
 *     (a directory over a directory only updates its attributes and keeps
 *     the children), and a hardlink shares the inode of its target as the
 *     tree stands at that point (same layer or below).
 * Whiteout files themselves never appear in the tree.
 */
#ifndef CLIP_INDEXER_TREE_H
#define CLIP_INDEXER_TREE_H

#include <stdint.h>

#include "common/util/error.h"
#include "common/format/index_write.h"
#include "indexer/entry.h"

#define TREE_MAX_DEPTH 1024   /* path components; deeper paths are refused */

struct merge_tree;

clip_err merge_tree_new(struct merge_tree **out, struct clip_error *err);
void merge_tree_free(struct merge_tree *t);   /* accepts NULL */

/* Applies one layer's entries; layer is the index recorded for file data.
 * CLIP_ERR_IMAGE for a hardlink whose target is missing or a directory,
 * a name longer than 255 bytes or a path deeper than TREE_MAX_DEPTH. */
clip_err merge_tree_apply(struct merge_tree *t, const struct layer_entries *entries,
    uint32_t layer, struct clip_error *err);

/* Adds the whole tree to w (which must be empty of inodes): inodes are
 * numbered depth first in name order, root first. */
clip_err merge_tree_emit(struct merge_tree *t, clip_writer *w, struct clip_error *err);

/* Counts, for reports: nodes (names) and distinct inodes. */
void merge_tree_counts(const struct merge_tree *t, uint64_t *names, uint64_t *inodes);

#endif
