/* tree_nodes.c - nodes and inodes of the merged tree (see tree_nodes.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "indexer/tree_nodes.h"

struct tree_inode *
tree_inode_new(struct merge_tree *t, uint32_t mode)
{
	struct tree_inode *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return NULL;
	in->attr.mode = mode;
	in->refs = 1;
	t->inodes++;
	return in;
}

void
tree_inode_unref(struct merge_tree *t, struct tree_inode *in)
{
	size_t i;

	if (in == NULL || --in->refs > 0)
		return;
	free(in->target);
	for (i = 0; i < in->nxattrs; i++) {
		free(in->xattrs[i].name);
		free(in->xattrs[i].value);
	}
	free(in->xattrs);
	free(in);
	t->inodes--;
}

struct tree_node *
tree_node_new(struct merge_tree *t, struct tree_node *parent, const char *name, size_t len,
    struct tree_inode *in)
{
	struct tree_node *n = calloc(1, sizeof(*n));

	if (n == NULL || (n->name = malloc(len + 1)) == NULL) {
		free(n);
		return NULL;
	}
	memcpy(n->name, name, len);
	n->name[len] = '\0';
	n->len = len;
	n->inode = in;
	n->parent = parent;
	if (parent != NULL)
		HASH_ADD_KEYPTR(hh, parent->children, n->name, len, n);
	t->names++;
	return n;
}

void
tree_node_detach(struct tree_node *n)
{
	if (n->parent != NULL)
		HASH_DEL(n->parent->children, n);
	n->parent = NULL;
}

void
tree_node_remove(struct merge_tree *t, struct tree_node *n)
{
	struct tree_node *c, *tmp;

	tree_node_detach(n);
	HASH_ITER(hh, n->children, c, tmp) {
		c->parent = NULL;
		HASH_DEL(n->children, c);
		tree_node_remove(t, c);
	}
	tree_inode_unref(t, n->inode);
	free(n->name);
	free(n);
	t->names--;
}

struct tree_node *
tree_child(struct tree_node *dir, const char *name, size_t len)
{
	struct tree_node *n = NULL;

	HASH_FIND(hh, dir->children, name, len, n);
	return n;
}

void
tree_stamp(struct merge_tree *t, struct tree_node *n)
{
	for (; n != NULL && n->stamp != t->gen; n = n->parent)
		n->stamp = t->gen;
}

void
tree_sweep(struct merge_tree *t, struct tree_node *dir)
{
	struct tree_node *c, *tmp;

	/* Once swept, a subtree holds only nodes of this layer, and nodes
	 * never move: a second whiteout over it has nothing to do.  This
	 * keeps many whiteouts over one big directory linear. */
	if (dir->swept == t->gen || !tree_is_dir(dir))
		return;
	HASH_ITER(hh, dir->children, c, tmp) {
		if (c->stamp != t->gen)
			tree_node_remove(t, c);
		else
			tree_sweep(t, c);
	}
	dir->swept = t->gen;
}

void
tree_whiteout(struct merge_tree *t, struct tree_node *n)
{
	if (n->stamp != t->gen)
		tree_node_remove(t, n);
	else
		tree_sweep(t, n);
}

const char *
tree_node_path(const struct tree_node *n, char *buf, size_t size)
{
	size_t end = size - 1, pos = end;
	int cut = 0;

	buf[end] = '\0';
	for (; n != NULL && n->parent != NULL; n = n->parent) {
		size_t need = n->len + (n->parent->parent != NULL ? 1 : 0);
		if (need > pos) {
			cut = 1;
			break;
		}
		pos -= n->len;
		memcpy(buf + pos, n->name, n->len);
		if (n->parent->parent != NULL)
			buf[--pos] = '/';
	}
	if (cut && end >= 3) {
		pos = pos < 3 ? 3 : pos;
		memcpy(buf + pos - 3, "...", 3);
		pos -= 3;
	}
	return buf + pos;
}
