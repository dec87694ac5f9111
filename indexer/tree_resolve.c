/* tree_resolve.c - paths through symlinks inside the tree (see tree_resolve.h). */
#include "config.h"

#include <string.h>

#include "indexer/tree_resolve.h"

/* A resolution under way: t->segs[0..nseg) is the path still to walk, the
 * last pushed (the innermost symlink's target) first. */
struct walk {
	struct tree_node *cur;
	size_t nseg, npend, depth, links, steps;
};

/* Takes the next component off the top segment: *c, *clen (0 for an
 * empty one), dropping the segment once it is used up. */
static void
next_component(struct merge_tree *t, struct walk *w, const char **c, size_t *clen)
{
	struct tree_seg *s = &t->segs[w->nseg - 1];
	const char *slash = memchr(s->p, '/', s->len);
	size_t n = slash != NULL ? (size_t)(slash - s->p) : s->len;

	*c = s->p;
	*clen = n;
	s->p += n + (slash != NULL);
	s->len -= n + (slash != NULL);
	if (s->len == 0)
		w->nseg--;
}

/* "..": up one, lexically after a component that does not exist (as
 * umoci's securejoin does; the kernel would say ENOENT or ENOTDIR), and
 * never above the root. */
static void
step_up(struct walk *w)
{
	if (w->npend > 0)
		w->npend--;
	else if (w->cur->parent != NULL)
		w->cur = w->cur->parent;
	if (w->depth > 0)
		w->depth--;
}

/* A name: into an existing child, through a symlink, or below what does
 * not exist. */
static clip_err
step_name(struct merge_tree *t, struct walk *w, const char *c, size_t clen, const char *what,
    struct clip_error *err)
{
	struct tree_node *n = NULL;

	if (clen > 255)
		return clip_error_set(err, CLIP_ERR_IMAGE, "bad name in path: %.300s", what);
	if (w->npend == 0 && tree_is_dir(w->cur))
		n = tree_child(w->cur, c, clen);
	if (n != NULL && tree_is_symlink(n)) {
		if (w->links++ == TREE_MAX_LINKS)
			return clip_error_set(err, CLIP_ERR_IMAGE,
			    "too many levels of symbolic links (more than %d) in '%.200s'",
			    TREE_MAX_LINKS, what);
		if (n->inode->target_len > 0 && n->inode->target[0] == '/') {
			w->cur = t->root;
			w->depth = 0;
		}
		if (n->inode->target_len > 0)
			t->segs[w->nseg++] = (struct tree_seg){ n->inode->target, n->inode->target_len };
		return CLIP_OK;
	}
	if (++w->depth > TREE_MAX_DEPTH)
		return clip_error_set(err, CLIP_ERR_IMAGE, "path deeper than %d levels: %.200s",
		    TREE_MAX_DEPTH, what);
	if (n != NULL)
		w->cur = n;
	else
		t->pending[w->npend++] = (struct tree_seg){ c, clen };
	return CLIP_OK;
}

clip_err
tree_resolve(struct merge_tree *t, const char *path, size_t len, const char *what,
    struct tree_place *out, struct clip_error *err)
{
	struct walk w = { .cur = t->root };
	const char *c;
	size_t clen;
	clip_err rc;

	out->node = NULL;
	out->npending = 0;
	out->depth = 0;
	if (len > 0)
		t->segs[w.nseg++] = (struct tree_seg){ path, len };
	while (w.nseg > 0) {
		next_component(t, &w, &c, &clen);
		if (++w.steps > TREE_MAX_STEPS)
			return clip_error_set(err, CLIP_ERR_IMAGE,
			    "resolving '%.200s' walks more than %d path components through symbolic links",
			    what, TREE_MAX_STEPS);
		if (clen == 0 || (clen == 1 && c[0] == '.'))
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.')
			step_up(&w);
		else if ((rc = step_name(t, &w, c, clen, what, err)) != CLIP_OK)
			return rc;
	}
	out->node = w.cur;
	out->npending = w.npend;
	out->depth = w.depth;
	return CLIP_OK;
}

clip_err
tree_make_dirs(struct merge_tree *t, const struct tree_place *pl, const char *what,
    struct tree_node **dir, struct clip_error *err)
{
	struct tree_node *cur = pl->node, *n;
	struct tree_inode *in;
	char where[256];
	size_t i;

	*dir = NULL;
	if (!tree_is_dir(cur))
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "'%.200s': its parent path resolves through '%s', which is not a directory",
		    what, tree_node_path(cur, where, sizeof(where)));
	for (i = 0; i < pl->npending; i++) {
		in = tree_inode_new(t, S_IFDIR | 0755);
		if (in == NULL || (n = tree_node_new(t, cur, t->pending[i].p, t->pending[i].len,
		    in)) == NULL) {
			tree_inode_unref(t, in);
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		}
		cur = n;
	}
	*dir = cur;
	return CLIP_OK;
}
