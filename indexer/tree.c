/* tree.c - the merged root filesystem (see tree.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "indexer/tree.h"
#include "indexer/tree_nodes.h"
#include "indexer/tree_resolve.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

clip_err
merge_tree_new(struct merge_tree **out, struct clip_error *err)
{
	struct merge_tree *t = calloc(1, sizeof(*t));
	struct tree_inode *in;

	*out = NULL;
	if (t == NULL || (in = tree_inode_new(t, S_IFDIR | 0755)) == NULL ||
	    (t->root = tree_node_new(t, NULL, "", 0, in)) == NULL) {
		free(t);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	*out = t;
	return CLIP_OK;
}

void
merge_tree_free(struct merge_tree *t)
{
	if (t == NULL)
		return;
	tree_node_remove(t, t->root);
	free(t);
}

void
merge_tree_counts(const struct merge_tree *t, uint64_t *names, uint64_t *inodes)
{
	*names = t->names;
	*inodes = t->inodes;
}

/* Splits "a/b/c" into "a/b" and "c"; "c" into "" and "c". */
static void
split(const char *path, size_t len, size_t *dirlen, const char **base, size_t *baselen)
{
	const char *slash = memrchr(path, '/', len);

	if (slash == NULL) {
		*dirlen = 0;
		*base = path;
		*baselen = len;
	} else {
		*dirlen = (size_t)(slash - path);
		*base = slash + 1;
		*baselen = len - *dirlen - 1;
	}
}

static int
is_whiteout(const struct layer_entry *e, const char **base, size_t *baselen, size_t *dirlen)
{
	split(e->path, e->path_len, dirlen, base, baselen);
	return *baselen >= 4 && memcmp(*base, WHITEOUT_PREFIX, 4) == 0;
}

/* A whiteout or opaque marker, against the tree as it stands now: its
 * directory is resolved like an entry's parent; where that is missing or
 * not a directory there is nothing below to hide. */
static clip_err
apply_whiteout(struct merge_tree *t, const struct layer_entry *e, size_t dirlen,
    const char *base, size_t baselen, struct clip_error *err)
{
	struct tree_place pl;
	struct tree_node *n;
	clip_err rc;

	if ((rc = tree_resolve(t, e->path, dirlen, e->path, &pl, err)) != CLIP_OK)
		return rc;
	if (pl.npending > 0 || !tree_is_dir(pl.node))
		return CLIP_OK;
	if (baselen == strlen(WHITEOUT_OPAQUE) && memcmp(base, WHITEOUT_OPAQUE, baselen) == 0)
		tree_sweep(t, pl.node);
	else if (baselen > 4 && (n = tree_child(pl.node, base + 4, baselen - 4)) != NULL)
		tree_whiteout(t, n);
	return CLIP_OK;
}

static clip_err
copy_xattrs(struct tree_inode *in, const struct layer_entry *e, struct clip_error *err)
{
	size_t i;

	if (e->nxattrs == 0)
		return CLIP_OK;
	in->xattrs = calloc(e->nxattrs, sizeof(*in->xattrs));
	if (in->xattrs == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	for (i = 0; i < e->nxattrs; i++) {
		in->xattrs[i].name = strdup(e->xattrs[i].name);
		in->xattrs[i].value = malloc(e->xattrs[i].len ? e->xattrs[i].len : 1);
		in->xattrs[i].len = e->xattrs[i].len;
		in->nxattrs = i + 1;
		if (in->xattrs[i].name == NULL || in->xattrs[i].value == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		memcpy(in->xattrs[i].value, e->xattrs[i].value, e->xattrs[i].len);
	}
	return CLIP_OK;
}

static uint32_t
type_bits(enum clip_tar_type type)
{
	switch (type) {
	case CLIP_TAR_REG: case CLIP_TAR_HARDLINK: return S_IFREG;
	case CLIP_TAR_SYMLINK: return S_IFLNK;
	case CLIP_TAR_CHR: return S_IFCHR;
	case CLIP_TAR_BLK: return S_IFBLK;
	case CLIP_TAR_DIR: return S_IFDIR;
	case CLIP_TAR_FIFO: return S_IFIFO;
	}
	return S_IFREG;
}

/* Sets in's attributes from e (all but the type, which in already has). */
static clip_err
set_attrs(struct tree_inode *in, const struct layer_entry *e, uint32_t layer,
    struct clip_error *err)
{
	size_t i;

	in->attr.mode = (in->attr.mode & S_IFMT) | (e->mode & 07777);
	/* Linux has no symlink permissions: every unpacker (umoci,
	 * containerd, tar) gets 0777 whatever the tar header says, and the
	 * mount must show what they show. */
	if ((in->attr.mode & S_IFMT) == S_IFLNK)
		in->attr.mode = S_IFLNK | 0777;
	in->attr.uid = e->uid;
	in->attr.gid = e->gid;
	in->attr.mtime_sec = e->mtime_sec;
	in->attr.mtime_nsec = e->mtime_nsec;
	for (i = 0; i < in->nxattrs; i++) {
		free(in->xattrs[i].name);
		free(in->xattrs[i].value);
	}
	free(in->xattrs);
	in->xattrs = NULL;
	in->nxattrs = 0;
	switch (in->attr.mode & S_IFMT) {
	case S_IFREG:
		in->attr.size = e->size;
		in->attr.layer = layer;
		in->attr.data_offset = e->data_offset;
		break;
	case S_IFCHR:
	case S_IFBLK:
		in->attr.rdev_major = e->devmajor;
		in->attr.rdev_minor = e->devminor;
		break;
	case S_IFLNK:
		in->target = malloc(e->linkpath_len + 1);
		if (in->target == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		memcpy(in->target, e->linkpath ? e->linkpath : "", e->linkpath_len);
		in->target[e->linkpath_len] = '\0';
		in->target_len = e->linkpath_len;
		break;
	}
	return copy_xattrs(in, e, err);
}

/* A hardlink's target as the tree stands now: its parent resolved, its
 * last component not followed (a link to a symlink links the symlink). */
static clip_err
link_target(struct merge_tree *t, const struct layer_entry *e, struct tree_node **out,
    struct clip_error *err)
{
	struct tree_place pl;
	const char *base;
	size_t dirlen, baselen;
	clip_err rc;

	*out = NULL;
	split(e->linkpath, e->linkpath_len, &dirlen, &base, &baselen);
	if ((rc = tree_resolve(t, e->linkpath, dirlen, e->linkpath, &pl, err)) != CLIP_OK)
		return clip_error_prefix(err, "hardlink '%.200s'", e->path);
	if (pl.npending == 0 && tree_is_dir(pl.node) && baselen > 0)
		*out = tree_child(pl.node, base, baselen);
	if (*out == NULL)
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "hardlink '%.200s' points to '%.200s', which does not exist",
		    e->path, e->linkpath);
	if (tree_is_dir(*out))
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "hardlink '%.200s' points to directory '%.200s'", e->path, e->linkpath);
	return CLIP_OK;
}

/* A hardlink's target the way the unpackers find it: after the old entry
 * at the link's own path is gone (they remove it first), so a link to
 * itself, into the directory it replaces or through the symlink it
 * replaces finds nothing.  old (if any) is detached from the tree here;
 * the caller removes it. */
static clip_err
link_target_without(struct merge_tree *t, const struct layer_entry *e, struct tree_node *old,
    struct tree_node **target, struct clip_error *err)
{
	struct tree_node *before;
	clip_err rc;

	*target = NULL;
	if (old == NULL)
		return link_target(t, e, target, err);
	rc = link_target(t, e, &before, err);
	tree_node_detach(old);
	if (rc == CLIP_OK && (rc = link_target(t, e, target, err)) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "hardlink '%.200s' points to '%.200s', which replacing '%.200s' removes",
		    e->path, e->linkpath, e->path);
	return rc;
}

/* The directory an entry goes in: its parent path resolved, the missing
 * directories made; *base, *baselen its own name. */
static clip_err
entry_dir(struct merge_tree *t, const struct layer_entry *e, struct tree_node **dir,
    const char **base, size_t *baselen, struct clip_error *err)
{
	struct tree_place pl;
	size_t dirlen;
	clip_err rc;

	*dir = NULL;
	split(e->path, e->path_len, &dirlen, base, baselen);
	if (*baselen > 255)
		return clip_error_set(err, CLIP_ERR_IMAGE, "name longer than 255 bytes: %.300s",
		    e->path);
	if ((rc = tree_resolve(t, e->path, dirlen, e->path, &pl, err)) != CLIP_OK)
		return rc;
	/* The entry itself is one component below its parent: a parent at
	 * the limit leaves no room for it. */
	if (pl.depth + 1 > TREE_MAX_DEPTH)
		return clip_error_set(err, CLIP_ERR_IMAGE, "path deeper than %d levels: %.200s",
		    TREE_MAX_DEPTH, e->path);
	return tree_make_dirs(t, &pl, e->path, dir, err);
}

/* A new inode for e (a hardlink: target's, one more reference). */
static clip_err
entry_inode(struct merge_tree *t, const struct layer_entry *e, uint32_t layer,
    struct tree_node *target, struct tree_inode **out, struct clip_error *err)
{
	struct tree_inode *in;
	clip_err rc;

	*out = NULL;
	if (target != NULL) {
		in = target->inode;
		in->refs++;
	} else {
		if ((in = tree_inode_new(t, type_bits(e->type))) == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		if ((rc = set_attrs(in, e, layer, err)) != CLIP_OK) {
			tree_inode_unref(t, in);
			return rc;
		}
	}
	*out = in;
	return CLIP_OK;
}

static clip_err
apply_entry(struct merge_tree *t, const struct layer_entry *e, uint32_t layer,
    struct clip_error *err)
{
	struct tree_node *dir, *old, *n, *target = NULL;
	struct tree_inode *in = NULL;
	const char *base;
	size_t baselen;
	clip_err rc = CLIP_OK;

	if (e->path_len == 0) {
		/* The layer's "./": the root's attributes. */
		if (e->type != CLIP_TAR_DIR)
			return clip_error_set(err, CLIP_ERR_IMAGE, "the root is not a directory");
		return set_attrs(t->root->inode, e, layer, err);
	}
	if ((rc = entry_dir(t, e, &dir, &base, &baselen, err)) != CLIP_OK)
		return rc;
	old = tree_child(dir, base, baselen);
	if (old != NULL && e->type == CLIP_TAR_DIR && tree_is_dir(old)) {
		tree_stamp(t, old);
		return set_attrs(old->inode, e, layer, err);
	}
	if (e->type == CLIP_TAR_HARDLINK)
		rc = link_target_without(t, e, old, &target, err);
	if (rc == CLIP_OK)
		rc = entry_inode(t, e, layer, target, &in, err);
	if (old != NULL)
		tree_node_remove(t, old);
	if (rc != CLIP_OK)
		return rc;
	if ((n = tree_node_new(t, dir, base, baselen, in)) == NULL) {
		tree_inode_unref(t, in);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	tree_stamp(t, n);
	return CLIP_OK;
}

clip_err
merge_tree_apply(struct merge_tree *t, const struct layer_entries *le, uint32_t layer,
    struct clip_error *err)
{
	const char *base;
	size_t i, dirlen, baselen;
	clip_err rc;

	t->gen++;
	for (i = 0; i < le->n; i++) {
		const struct layer_entry *e = &le->v[i];
		if (is_whiteout(e, &base, &baselen, &dirlen))
			rc = apply_whiteout(t, e, dirlen, base, baselen, err);
		else
			rc = apply_entry(t, e, layer, err);
		if (rc != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}

static int
node_cmp(const void *pa, const void *pb)
{
	const struct tree_node *a = *(const struct tree_node *const *)pa;
	const struct tree_node *b = *(const struct tree_node *const *)pb;

	return clip_name_cmp(a->name, a->len, b->name, b->len);
}

static clip_err
emit_inode(clip_writer *w, struct tree_inode *in, struct clip_error *err)
{
	clip_err rc;
	size_t i;

	if ((rc = clip_writer_add_inode(w, &in->attr, &in->ino, err)) != CLIP_OK)
		return rc;
	if ((in->attr.mode & S_IFMT) == S_IFLNK &&
	    (rc = clip_writer_set_symlink(w, in->ino, in->target, in->target_len, err)) != CLIP_OK)
		return rc;
	for (i = 0; i < in->nxattrs; i++)
		if ((rc = clip_writer_add_xattr(w, in->ino, in->xattrs[i].name, in->xattrs[i].value,
		    in->xattrs[i].len, err)) != CLIP_OK)
			return clip_error_prefix(err, "xattr");
	return CLIP_OK;
}

static clip_err
emit_dir(clip_writer *w, struct tree_node *dir, struct clip_error *err)
{
	struct tree_node **kids, *c, *tmp;
	size_t n = HASH_COUNT(dir->children), i = 0;
	clip_err rc = CLIP_OK;

	if (n == 0)
		return CLIP_OK;
	kids = malloc(n * sizeof(*kids));
	if (kids == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	HASH_ITER(hh, dir->children, c, tmp)
		kids[i++] = c;
	qsort(kids, n, sizeof(*kids), node_cmp);
	/* Number this directory's children before descending, so a
	 * directory's entries get neighbouring inode numbers. */
	for (i = 0; i < n && rc == CLIP_OK; i++) {
		if (kids[i]->inode->ino == 0)
			rc = emit_inode(w, kids[i]->inode, err);
		if (rc == CLIP_OK)
			rc = clip_writer_add_dirent(w, dir->inode->ino, kids[i]->name, kids[i]->len,
			    kids[i]->inode->ino, err);
	}
	for (i = 0; i < n && rc == CLIP_OK; i++)
		if (tree_is_dir(kids[i]))
			rc = emit_dir(w, kids[i], err);
	free(kids);
	return rc;
}

clip_err
merge_tree_emit(struct merge_tree *t, clip_writer *w, struct clip_error *err)
{
	clip_err rc;

	if ((rc = emit_inode(w, t->root->inode, err)) != CLIP_OK)
		return rc;
	return emit_dir(w, t->root, err);
}
