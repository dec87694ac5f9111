/* tree.c - the merged root filesystem (see tree.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uthash.h>

#include "indexer/tree.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

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
};

struct merge_tree {
	struct tree_node *root;
	uint64_t names, inodes;
};

static void
inode_unref(struct merge_tree *t, struct tree_inode *in)
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

/* Frees node and its subtree, unlinking it from its parent first. */
static void
node_remove(struct merge_tree *t, struct tree_node *n)
{
	struct tree_node *c, *tmp;

	if (n->parent != NULL)
		HASH_DEL(n->parent->children, n);
	HASH_ITER(hh, n->children, c, tmp) {
		c->parent = NULL;
		HASH_DEL(n->children, c);
		node_remove(t, c);
	}
	inode_unref(t, n->inode);
	free(n->name);
	free(n);
	t->names--;
}

static int
is_dir(const struct tree_node *n)
{
	return (n->inode->attr.mode & S_IFMT) == S_IFDIR;
}

static struct tree_inode *
inode_new(struct merge_tree *t, uint32_t mode)
{
	struct tree_inode *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return NULL;
	in->attr.mode = mode;
	in->refs = 1;
	t->inodes++;
	return in;
}

static struct tree_node *
node_new(struct merge_tree *t, struct tree_node *parent, const char *name, size_t len,
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

clip_err
merge_tree_new(struct merge_tree **out, struct clip_error *err)
{
	struct merge_tree *t = calloc(1, sizeof(*t));
	struct tree_inode *in;

	*out = NULL;
	if (t == NULL || (in = inode_new(t, S_IFDIR | 0755)) == NULL ||
	    (t->root = node_new(t, NULL, "", 0, in)) == NULL) {
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
	node_remove(t, t->root);
	free(t);
}

void
merge_tree_counts(const struct merge_tree *t, uint64_t *names, uint64_t *inodes)
{
	*names = t->names;
	*inodes = t->inodes;
}

static struct tree_node *
child(struct tree_node *dir, const char *name, size_t len)
{
	struct tree_node *n = NULL;

	HASH_FIND(hh, dir->children, name, len, n);
	return n;
}

/* The node at path, or NULL; with create, makes missing directories
 * (and replaces a non-directory standing where one must be). */
static clip_err
walk(struct merge_tree *t, const char *path, size_t len, int create,
    struct tree_node **out, struct clip_error *err)
{
	struct tree_node *cur = t->root;
	size_t i = 0, depth = 0;

	*out = NULL;
	while (i < len) {
		const char *comp = path + i;
		const char *slash = memchr(comp, '/', len - i);
		size_t clen = slash ? (size_t)(slash - comp) : len - i;
		struct tree_node *next;

		if (++depth > TREE_MAX_DEPTH)
			return clip_error_set(err, CLIP_ERR_IMAGE, "path deeper than %d levels: %.200s",
			    TREE_MAX_DEPTH, path);
		if (clen == 0 || clen > 255)
			return clip_error_set(err, CLIP_ERR_IMAGE, "bad name in path: %.300s", path);
		if (!is_dir(cur))
			return CLIP_OK;   /* not found (only reached without create) */
		next = child(cur, comp, clen);
		if (create && (next == NULL || !is_dir(next))) {
			struct tree_inode *in;
			if (next != NULL)
				node_remove(t, next);
			in = inode_new(t, S_IFDIR | 0755);
			if (in == NULL || (next = node_new(t, cur, comp, clen, in)) == NULL) {
				if (in != NULL)
					inode_unref(t, in);
				return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
			}
		}
		if (next == NULL)
			return CLIP_OK;
		cur = next;
		i += clen + (slash ? 1 : 0);
	}
	*out = cur;
	return CLIP_OK;
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

static clip_err
apply_whiteouts(struct merge_tree *t, const struct layer_entries *le, struct clip_error *err)
{
	size_t i, dirlen, baselen;
	const char *base;
	struct tree_node *dir, *n, *c, *tmp;
	clip_err rc;

	for (i = 0; i < le->n; i++) {
		const struct layer_entry *e = &le->v[i];
		if (!is_whiteout(e, &base, &baselen, &dirlen))
			continue;
		if ((rc = walk(t, e->path, dirlen, 0, &dir, err)) != CLIP_OK)
			return rc;
		if (dir == NULL || !is_dir(dir))
			continue;   /* nothing below to hide */
		if (baselen == strlen(WHITEOUT_OPAQUE) &&
		    memcmp(base, WHITEOUT_OPAQUE, baselen) == 0) {
			HASH_ITER(hh, dir->children, c, tmp)
				node_remove(t, c);
		} else if (baselen > 4 && (n = child(dir, base + 4, baselen - 4)) != NULL) {
			node_remove(t, n);
		}
	}
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

static clip_err
apply_entry(struct merge_tree *t, const struct layer_entry *e, uint32_t layer,
    struct clip_error *err)
{
	struct tree_node *dir, *old, *target = NULL;
	struct tree_inode *in = NULL;
	const char *base;
	size_t dirlen, baselen;
	clip_err rc;

	if (e->path_len == 0) {
		/* The layer's "./": the root's attributes. */
		if (e->type != CLIP_TAR_DIR)
			return clip_error_set(err, CLIP_ERR_IMAGE, "the root is not a directory");
		return set_attrs(t->root->inode, e, layer, err);
	}
	if (e->type == CLIP_TAR_HARDLINK) {
		if ((rc = walk(t, e->linkpath, e->linkpath_len, 0, &target, err)) != CLIP_OK)
			return rc;
		if (target == NULL)
			return clip_error_set(err, CLIP_ERR_IMAGE,
			    "hardlink '%.200s' points to '%.200s', which does not exist",
			    e->path, e->linkpath);
		if (is_dir(target))
			return clip_error_set(err, CLIP_ERR_IMAGE,
			    "hardlink '%.200s' points to directory '%.200s'", e->path, e->linkpath);
		/* Hold the inode: making the parents or replacing the old
		 * name below may remove the target's node. */
		in = target->inode;
		in->refs++;
	}
	split(e->path, e->path_len, &dirlen, &base, &baselen);
	rc = walk(t, e->path, dirlen, 1, &dir, err);
	if (rc == CLIP_OK && baselen > 255)
		rc = clip_error_set(err, CLIP_ERR_IMAGE, "name longer than 255 bytes: %.300s", e->path);
	if (rc != CLIP_OK) {
		inode_unref(t, in);
		return rc;
	}
	old = child(dir, base, baselen);
	if (old != NULL && e->type == CLIP_TAR_DIR && is_dir(old))
		return set_attrs(old->inode, e, layer, err);
	if (in == NULL) {
		in = inode_new(t, type_bits(e->type));
		if (in == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		if ((rc = set_attrs(in, e, layer, err)) != CLIP_OK) {
			inode_unref(t, in);
			return rc;
		}
	}
	if (old != NULL)
		node_remove(t, old);
	if (node_new(t, dir, base, baselen, in) == NULL) {
		inode_unref(t, in);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	return CLIP_OK;
}

clip_err
merge_tree_apply(struct merge_tree *t, const struct layer_entries *le, uint32_t layer,
    struct clip_error *err)
{
	const char *base;
	size_t i, dirlen, baselen;
	clip_err rc;

	if ((rc = apply_whiteouts(t, le, err)) != CLIP_OK)
		return rc;
	for (i = 0; i < le->n; i++) {
		if (is_whiteout(&le->v[i], &base, &baselen, &dirlen))
			continue;
		if ((rc = apply_entry(t, &le->v[i], layer, err)) != CLIP_OK)
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
		if (is_dir(kids[i]))
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
