/*
 * tree_nodes.h - the nodes of the merged tree (private to indexer/tree*.c):
 * names in directories, the inodes they share, and which of them the layer
 * being applied has touched.
 *
 * A layer's whiteouts hide only what the layers below it left, never what
 * the layer itself wrote, wherever the two stand in the tar.  Like umoci's
 * "upper paths", every node the layer creates or updates is stamped with
 * the layer's generation, and so are all its ancestors (stamping walks up
 * and stops at the first node already stamped, so each node is stamped at
 * most once a layer and a stamped node's ancestors are always stamped).
 * A whiteout removes an unstamped node; in a stamped directory it removes
 * the unstamped nodes below instead (tree_sweep).
 */
#ifndef CLIP_INDEXER_TREE_NODES_H
#define CLIP_INDEXER_TREE_NODES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <uthash.h>

#include "common/format/index_write.h"
#include "indexer/entry.h"
#include "indexer/tree.h"

struct tree_inode {
	struct clip_inode_attr attr;
	char *target;             /* symlink */
	size_t target_len;
	struct layer_xattr *xattrs;
	size_t nxattrs;
	uint32_t refs;            /* names pointing here */
	uint32_t ino;             /* assigned by emit */
};

struct tree_node {
	UT_hash_handle hh;        /* in the parent's children */
	char *name;
	size_t len;
	struct tree_node *parent;
	struct tree_node *children;
	struct tree_inode *inode;
	uint32_t stamp;           /* generation of the last layer that touched it */
	uint32_t swept;           /* generation whose whiteout swept this subtree */
};

/* One piece of a path still to resolve: the rest of the entry's path or
 * of a symlink's target (tree_resolve.c). */
struct tree_seg {
	const char *p;
	size_t len;
};

struct merge_tree {
	struct tree_node *root;
	uint64_t names, inodes;
	uint32_t gen;             /* the layer being applied */
	/* tree_resolve's scratch, kept here so that resolving allocates
	 * nothing: the components below the deepest existing node, and the
	 * pieces of path still to walk (the entry's, then one per link). */
	struct tree_seg pending[TREE_MAX_DEPTH];
	struct tree_seg segs[TREE_MAX_LINKS + 1];
};

static inline int
tree_is_dir(const struct tree_node *n)
{
	return (n->inode->attr.mode & S_IFMT) == S_IFDIR;
}

static inline int
tree_is_symlink(const struct tree_node *n)
{
	return (n->inode->attr.mode & S_IFMT) == S_IFLNK;
}

/* A new inode of type mode with one reference, or NULL (out of memory). */
struct tree_inode *tree_inode_new(struct merge_tree *t, uint32_t mode);
/* Drops one reference; frees the inode with the last.  Accepts NULL. */
void tree_inode_unref(struct merge_tree *t, struct tree_inode *in);

/* A new node named name[0..len) in parent (NULL for the root), holding
 * the caller's reference to in; NULL when out of memory (in untouched). */
struct tree_node *tree_node_new(struct merge_tree *t, struct tree_node *parent,
    const char *name, size_t len, struct tree_inode *in);
/* Takes n (and its subtree) out of its parent's children; it stays
 * allocated, for tree_node_remove. */
void tree_node_detach(struct tree_node *n);
/* Frees n and its subtree, unlinking it from its parent first. */
void tree_node_remove(struct merge_tree *t, struct tree_node *n);

/* dir's child named name[0..len), or NULL. */
struct tree_node *tree_child(struct tree_node *dir, const char *name, size_t len);

/* Marks n and its ancestors as touched by the layer being applied. */
void tree_stamp(struct merge_tree *t, struct tree_node *n);
/* What a whiteout of n does: removes n if this layer has not touched it,
 * else every untouched node below n (n itself stays). */
void tree_whiteout(struct merge_tree *t, struct tree_node *n);
/* What an opaque marker in dir does: every untouched node below dir goes. */
void tree_sweep(struct merge_tree *t, struct tree_node *dir);

/* n's path from the root ("" for the root), written into buf and cut to
 * size - 1 bytes (the end kept, "..." in front); returns where it starts
 * in buf.  size must be at least 4. */
const char *tree_node_path(const struct tree_node *n, char *buf, size_t size);

#endif
