/*
 * test_tree.c - the OCI layer merge: whiteouts, opaque directories,
 * replacement, implicit parents, hardlinks, paths through symlinked
 * directories; checked through the index the merged tree is written to.
 * Where symlinks are concerned, the expected trees are umoci unpack's
 * (0.4.7) for the same layers.
 */
#include "config.h"

#include <sys/stat.h>

#include "common/format/index.h"
#include "indexer/tree.h"
#include "tests/unit/test.h"

static void
add(struct layer_entries *le, const char *path, enum clip_tar_type type, uint32_t mode,
    const char *link, uint64_t size, uint64_t off)
{
	struct clip_tar_entry e;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.path_len = strlen(path);
	e.type = type;
	e.mode = mode;
	e.linkpath = link;
	e.linkpath_len = link ? strlen(link) : 0;
	e.size = size;
	e.data_offset = off;
	e.mtime_sec = 1000;
	if (layer_entries_add(le, &e, NULL) != CLIP_OK)
		abort();
}

/* Merges the layers and opens the result. */
static clip_index *
merge(struct layer_entries *layers, size_t n, uint8_t **buf, struct clip_error *err)
{
	struct merge_tree *t = NULL;
	clip_writer *w = NULL;
	clip_index *idx = NULL;
	size_t i, len;
	struct clip_layer_info li = { .digest = "sha256:x", .media_type = "t",
		.compressed_size = 1 << 20, .uncompressed_size = 1 << 20 };
	struct clip_checkpoint_info ci = { .kind = CLIP_CHECKPOINT_STORED };
	uint32_t l;

	*buf = NULL;
	if (merge_tree_new(&t, err) != CLIP_OK || clip_writer_new(&w, err) != CLIP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (merge_tree_apply(t, &layers[i], (uint32_t)i, err) != CLIP_OK)
			goto out;
		if (clip_writer_add_layer(w, &li, &l, err) != CLIP_OK ||
		    clip_writer_add_checkpoint(w, l, &ci, err) != CLIP_OK)
			goto out;
	}
	if (merge_tree_emit(t, w, err) == CLIP_OK &&
	    clip_writer_finish(w, buf, &len, err) == CLIP_OK)
		clip_index_open_buffer(*buf, len, &idx, err);
out:
	merge_tree_free(t);
	clip_writer_free(w);
	for (i = 0; i < n; i++)
		layer_entries_free(&layers[i]);
	return idx;
}

static uint32_t
ino_of(const clip_index *idx, const char *path)
{
	uint32_t ino = 0;

	clip_index_resolve(idx, path, &ino);
	return ino;
}

static struct clip_stat
stat_of(const clip_index *idx, const char *path)
{
	struct clip_stat st;

	memset(&st, 0, sizeof(st));
	clip_index_stat(idx, ino_of(idx, path), &st);
	return st;
}

/* The target of the symlink at path, or "" (not a symlink). */
static const char *
link_of(const clip_index *idx, const char *path)
{
	static char buf[256];
	struct clip_str s;

	if (clip_index_readlink(idx, ino_of(idx, path), &s) != CLIP_OK || s.len >= sizeof(buf))
		return "";
	memcpy(buf, s.ptr, s.len);
	buf[s.len] = '\0';
	return buf;
}

/* Merges the layers expecting failure; the message must hold want. */
static int
merge_fails(struct layer_entries *layers, size_t n, const char *want)
{
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx = merge(layers, n, &buf, &err);

	if (idx != NULL) {
		clip_index_close(idx);
		free(buf);
		fprintf(stderr, "merge succeeded, wanted an error holding '%s'\n", want);
		return 0;
	}
	if (err.code != CLIP_ERR_IMAGE || strstr(clip_error_message(&err), want) == NULL) {
		fprintf(stderr, "error %d '%s', wanted CLIP_ERR_IMAGE holding '%s'\n", (int)err.code,
		    clip_error_message(&err), want);
		return 0;
	}
	return 1;
}

/* A usrmerge base: usr/lib/{orig,two,sub/deep}, lib -> usr/lib. */
static void
usrmerge(struct layer_entries *le)
{
	add(le, "usr", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(le, "usr/lib", CLIP_TAR_DIR, 0700, NULL, 0, 0);
	add(le, "usr/lib/orig", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(le, "usr/lib/two", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(le, "usr/lib/sub", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(le, "usr/lib/sub/deep", CLIP_TAR_REG, 0644, NULL, 1, 1536);
	add(le, "usr/share", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(le, "lib", CLIP_TAR_SYMLINK, 0777, "usr/lib", 0, 0);
}

TEST(test_whiteouts_opaque_and_replacement)
{
	struct layer_entries l[3];
	struct clip_error err;
	struct clip_stat st;
	struct clip_str s;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], "", CLIP_TAR_DIR, 0700, NULL, 0, 0);
	add(&l[0], "a", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "a/b", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "a/b/f", CLIP_TAR_REG, 0644, NULL, 10, 1024);
	add(&l[0], "a/keep", CLIP_TAR_REG, 0644, NULL, 3, 2048);
	add(&l[0], "x", CLIP_TAR_REG, 04755, NULL, 5, 4096);
	add(&l[0], "h", CLIP_TAR_HARDLINK, 0, "x", 0, 0);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, "a/b/f", 0, 0);
	add(&l[0], "y", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "y/z", CLIP_TAR_REG, 0600, NULL, 1, 8192);
	add(&l[0], "q", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "q/sub", CLIP_TAR_REG, 0600, NULL, 1, 9000);

	/* Layer 1: the opaque marker comes AFTER the layer's own new entry
	 * in a/, which must survive it; x is whited out, so h keeps the
	 * inode alone; deep/er/file makes its parents. */
	add(&l[1], "a/new", CLIP_TAR_REG, 0644, NULL, 7, 512);
	add(&l[1], "a/.wh..wh..opq", CLIP_TAR_REG, 0, NULL, 0, 1024);
	add(&l[1], ".wh.x", CLIP_TAR_REG, 0, NULL, 0, 1536);
	add(&l[1], "deep/er/file", CLIP_TAR_REG, 0644, NULL, 2, 2048);
	add(&l[1], "y", CLIP_TAR_DIR, 0711, NULL, 0, 0);
	add(&l[1], ".wh.nothing-there", CLIP_TAR_REG, 0, NULL, 0, 0);
	add(&l[1], "q", CLIP_TAR_REG, 0644, NULL, 4, 3000);   /* file over dir */

	/* Layer 2: a file in place of the directory s points into. */
	add(&l[2], "a", CLIP_TAR_SYMLINK, 0777, "/elsewhere", 0, 0);

	idx = merge(l, 3, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));

	st = stat_of(idx, "/");
	CHECK(st.mode == (S_IFDIR | 0700) && st.mtime_sec == 1000);
	CHECK(ino_of(idx, "/x") == 0);
	st = stat_of(idx, "/h");
	CHECK(st.mode == (S_IFREG | 04755) && st.nlink == 1 && st.size == 5);
	CHECK(st.layer == 0 && st.data_offset == 4096);
	st = stat_of(idx, "/a");
	CHECK(S_ISLNK(st.mode));
	CHECK(clip_index_readlink(idx, ino_of(idx, "/a"), &s) == CLIP_OK);
	CHECK(s.len == 10 && memcmp(s.ptr, "/elsewhere", 10) == 0);
	CHECK(ino_of(idx, "/a/new") == 0);   /* a is a symlink now */
	st = stat_of(idx, "/y");
	CHECK(st.mode == (S_IFDIR | 0711));          /* attributes updated... */
	CHECK(stat_of(idx, "/y/z").size == 1);       /* ...children kept */
	st = stat_of(idx, "/deep/er");
	CHECK(st.mode == (S_IFDIR | 0755) && st.uid == 0);
	st = stat_of(idx, "/deep/er/file");
	CHECK(st.layer == 1 && st.data_offset == 2048 && st.size == 2);
	st = stat_of(idx, "/q");
	CHECK(st.mode == (S_IFREG | 0644) && st.layer == 1);
	CHECK(ino_of(idx, "/q/sub") == 0);
	CHECK(ino_of(idx, "/.wh.x") == 0 && ino_of(idx, "/.wh.nothing-there") == 0);
	/* root: a(link) deep h q s y */
	CHECK(clip_index_dir_size(idx, 1) == 6);
	CHECK(stat_of(idx, "/").nlink == 4);   /* deep, y */
	clip_index_close(idx);
	free(buf);
}

TEST(test_opaque_keeps_own_layer)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], "d/old", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "d/sub/deeper", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "d/.wh..wh..opq", CLIP_TAR_REG, 0, NULL, 0, 0);
	add(&l[1], "d/mine", CLIP_TAR_REG, 0644, NULL, 1, 512);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(clip_index_dir_size(idx, ino_of(idx, "/d")) == 1);
	CHECK(ino_of(idx, "/d/mine") != 0 && ino_of(idx, "/d/old") == 0);
	CHECK(ino_of(idx, "/d/sub") == 0);
	clip_index_close(idx);
	free(buf);
}

TEST(test_hardlinks)
{
	struct layer_entries l[2];
	struct clip_error err;
	struct clip_stat a, b, c;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], "f", CLIP_TAR_REG, 0640, NULL, 9, 512);
	add(&l[0], "dir/g", CLIP_TAR_HARDLINK, 0, "f", 0, 0);
	/* Layer 1 links to a lower-layer file, then replaces the target:
	 * the link keeps the old inode. */
	add(&l[1], "k", CLIP_TAR_HARDLINK, 0, "dir/g", 0, 0);
	add(&l[1], "f", CLIP_TAR_REG, 0600, NULL, 4, 1024);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	a = stat_of(idx, "/dir/g");
	b = stat_of(idx, "/k");
	c = stat_of(idx, "/f");
	CHECK(a.ino == b.ino && a.nlink == 2 && a.size == 9 && a.layer == 0);
	CHECK(c.ino != a.ino && c.nlink == 1 && c.size == 4 && c.layer == 1);
	clip_index_close(idx);
	free(buf);
}

TEST(test_bad_links_and_depth)
{
	struct layer_entries l[1];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;
	char *deep;
	size_t i;

	memset(l, 0, sizeof(l));
	add(&l[0], "a", CLIP_TAR_HARDLINK, 0, "missing", 0, 0);
	idx = merge(l, 1, &buf, &err);
	CHECK(idx == NULL && err.code == CLIP_ERR_IMAGE);
	CHECK(strstr(clip_error_message(&err), "'missing', which does not exist") != NULL);

	memset(l, 0, sizeof(l));
	add(&l[0], "d", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "a", CLIP_TAR_HARDLINK, 0, "d", 0, 0);
	idx = merge(l, 1, &buf, &err);
	CHECK(idx == NULL && err.code == CLIP_ERR_IMAGE);

	deep = malloc(2 * (TREE_MAX_DEPTH + 2) + 1);
	for (i = 0; i <= TREE_MAX_DEPTH + 1; i++)
		memcpy(deep + 2 * i, "d/", 2);
	deep[2 * TREE_MAX_DEPTH + 3] = 0;
	memset(l, 0, sizeof(l));
	add(&l[0], deep, CLIP_TAR_REG, 0644, NULL, 0, 0);
	idx = merge(l, 1, &buf, &err);
	CHECK(idx == NULL && err.code == CLIP_ERR_IMAGE);
	CHECK(strstr(clip_error_message(&err), "deeper") != NULL);
	free(deep);
}

/* Symlinks are 0777 whatever the tar header says, as umoci and
 * containerd unpack them (Linux has no symlink permissions); a later
 * layer's symlink over a file gets 0777 too. */
TEST(test_symlink_mode)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], "plain", CLIP_TAR_SYMLINK, 0644, "target", 0, 0);
	add(&l[0], "odd", CLIP_TAR_SYMLINK, 04700, "target", 0, 0);
	add(&l[0], "was-file", CLIP_TAR_REG, 0600, NULL, 1, 512);
	add(&l[1], "was-file", CLIP_TAR_SYMLINK, 0, "plain", 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(stat_of(idx, "/plain").mode == (S_IFLNK | 0777));
	CHECK(stat_of(idx, "/odd").mode == (S_IFLNK | 0777));
	CHECK(stat_of(idx, "/was-file").mode == (S_IFLNK | 0777));
	clip_index_close(idx);
	free(buf);
}

/* Issue 14's report: layer 2 names only lib/x86_64-linux-gnu/libfoo.so.
 * The file lands in usr/lib, the symlink stays, usr/lib keeps its
 * entries and its attributes; the same through an absolute link, a link
 * made earlier in the same layer, and links several levels deep. */
TEST(test_parent_through_symlink)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	usrmerge(&l[0]);
	add(&l[0], "abs", CLIP_TAR_SYMLINK, 0777, "/usr/share", 0, 0);
	add(&l[0], "usr/share/up", CLIP_TAR_SYMLINK, 0777, "../lib/sub", 0, 0);
	add(&l[0], "chain", CLIP_TAR_SYMLINK, 0777, "abs/up", 0, 0);
	add(&l[1], "lib/x86_64-linux-gnu/libfoo.so", CLIP_TAR_REG, 0644, NULL, 3, 2048);
	add(&l[1], "abs/doc", CLIP_TAR_REG, 0644, NULL, 1, 2560);
	add(&l[1], "chain/three", CLIP_TAR_REG, 0644, NULL, 1, 3072);
	add(&l[1], "new", CLIP_TAR_SYMLINK, 0777, "usr/lib/sub", 0, 0);
	add(&l[1], "new/same-layer", CLIP_TAR_REG, 0644, NULL, 1, 3584);
	add(&l[1], "lib/sub", CLIP_TAR_DIR, 0711, NULL, 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));

	CHECK(strcmp(link_of(idx, "/lib"), "usr/lib") == 0);
	CHECK(stat_of(idx, "/usr/lib").mode == (S_IFDIR | 0700));
	CHECK(clip_index_dir_size(idx, ino_of(idx, "/usr/lib")) == 4);
	CHECK(ino_of(idx, "/usr/lib/orig") != 0 && ino_of(idx, "/usr/lib/two") != 0);
	CHECK(stat_of(idx, "/usr/lib/x86_64-linux-gnu/libfoo.so").data_offset == 2048);
	CHECK(stat_of(idx, "/usr/lib/x86_64-linux-gnu").mode == (S_IFDIR | 0755));
	CHECK(stat_of(idx, "/usr/share/doc").data_offset == 2560);
	CHECK(stat_of(idx, "/usr/lib/sub/three").data_offset == 3072);
	CHECK(stat_of(idx, "/usr/lib/sub/same-layer").data_offset == 3584);
	CHECK(stat_of(idx, "/usr/lib/sub").mode == (S_IFDIR | 0711));   /* through lib */
	CHECK(ino_of(idx, "/usr/lib/sub/deep") != 0);
	CHECK(S_ISLNK(stat_of(idx, "/abs").mode) && S_ISLNK(stat_of(idx, "/chain").mode));
	CHECK(S_ISLNK(stat_of(idx, "/new").mode));
	/* root: abs chain lib new usr */
	CHECK(clip_index_dir_size(idx, 1) == 5);
	clip_index_close(idx);
	free(buf);
}

/* ".." and absolute targets stop at the root; a dangling link's target
 * directories are made (umoci's MkdirAll); ".." after a name that does
 * not exist or is not a directory takes that name back, as umoci does. */
TEST(test_parent_clamped_and_dangling)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	usrmerge(&l[0]);
	add(&l[0], "f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "up", CLIP_TAR_SYMLINK, 0777, "../../../usr/lib", 0, 0);
	add(&l[0], "rootup", CLIP_TAR_SYMLINK, 0777, "/../../usr/./share/", 0, 0);
	add(&l[0], "dangling", CLIP_TAR_SYMLINK, 0777, "nowhere/deep", 0, 0);
	add(&l[0], "viafile", CLIP_TAR_SYMLINK, 0777, "f/../usr/share", 0, 0);
	add(&l[0], "viamissing", CLIP_TAR_SYMLINK, 0777, "missing/../usr/lib", 0, 0);
	add(&l[0], "vialink", CLIP_TAR_SYMLINK, 0777, "lib/../share", 0, 0);
	add(&l[0], "dot", CLIP_TAR_SYMLINK, 0777, ".", 0, 0);
	add(&l[0], "opt/a", CLIP_TAR_SYMLINK, 0777, "/usr/lib", 0, 0);
	add(&l[0], "opt/l", CLIP_TAR_SYMLINK, 0777, "a/../share", 0, 0);
	add(&l[1], "up/a", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "rootup/b", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "dangling/c", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "viafile/d", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "viamissing/e", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "vialink/g", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "dot/dot/dot/h", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], "opt/l/i", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(ino_of(idx, "/usr/lib/a") != 0 && ino_of(idx, "/usr/share/b") != 0);
	CHECK(ino_of(idx, "/nowhere/deep/c") != 0);
	CHECK(stat_of(idx, "/nowhere").mode == (S_IFDIR | 0755));
	CHECK(strcmp(link_of(idx, "/dangling"), "nowhere/deep") == 0);
	CHECK(ino_of(idx, "/usr/share/d") != 0 && ino_of(idx, "/usr/lib/e") != 0);
	/* lib/.. is usr (the link is followed first), not the root. */
	CHECK(ino_of(idx, "/usr/share/g") != 0 && ino_of(idx, "/share") == 0);
	CHECK(ino_of(idx, "/h") != 0);
	/* Below the root too (containerd would make opt/share/i). */
	CHECK(ino_of(idx, "/usr/share/i") != 0 && ino_of(idx, "/opt/share") == 0);
	clip_index_close(idx);
	free(buf);
}

/* Whiteouts and opaque markers in a symlinked directory act on the
 * target's children; the symlink stays.  A whiteout's own name is not
 * followed: .wh.lib removes the link, not usr/lib. */
TEST(test_whiteouts_through_symlink)
{
	struct layer_entries l[3];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	usrmerge(&l[0]);
	add(&l[0], "lib2", CLIP_TAR_SYMLINK, 0777, "/usr/lib", 0, 0);
	add(&l[0], "sub", CLIP_TAR_SYMLINK, 0777, "usr/lib/sub", 0, 0);
	add(&l[1], "lib/.wh.orig", CLIP_TAR_REG, 0, NULL, 0, 0);
	add(&l[1], "sub/new", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[1], "sub/.wh..wh..opq", CLIP_TAR_REG, 0, NULL, 0, 0);
	add(&l[1], ".wh.lib2", CLIP_TAR_REG, 0, NULL, 0, 0);
	/* Layer 2: a link made in the layer, then a whiteout through it. */
	add(&l[2], "share", CLIP_TAR_SYMLINK, 0777, "usr/lib", 0, 0);
	add(&l[2], "share/.wh.two", CLIP_TAR_REG, 0, NULL, 0, 0);
	idx = merge(l, 3, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(ino_of(idx, "/usr/lib/orig") == 0 && ino_of(idx, "/usr/lib/two") == 0);
	CHECK(ino_of(idx, "/usr/lib/sub/deep") == 0 && ino_of(idx, "/usr/lib/sub/new") != 0);
	CHECK(S_ISDIR(stat_of(idx, "/usr/lib/sub").mode) && S_ISLNK(stat_of(idx, "/sub").mode));
	CHECK(S_ISLNK(stat_of(idx, "/lib").mode) && S_ISLNK(stat_of(idx, "/share").mode));
	CHECK(ino_of(idx, "/lib2") == 0 && S_ISDIR(stat_of(idx, "/usr/lib").mode));
	clip_index_close(idx);
	free(buf);
}

/* A whiteout hides what the layers below left, not what its own layer
 * put there before it: .wh.x after x/mine keeps x (with its attributes
 * from below) and x/mine, and removes x/old. */
TEST(test_whiteout_after_own_entries)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], "x", CLIP_TAR_DIR, 0700, NULL, 0, 0);
	add(&l[0], "x/old", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "x/sub", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "x/sub/old", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[1], "x/sub/mine", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[1], ".wh.x", CLIP_TAR_REG, 0, NULL, 0, 0);
	add(&l[1], ".wh.x", CLIP_TAR_REG, 0, NULL, 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(stat_of(idx, "/x").mode == (S_IFDIR | 0700));
	CHECK(ino_of(idx, "/x/sub/mine") != 0 && ino_of(idx, "/x/sub/old") == 0);
	CHECK(ino_of(idx, "/x/old") == 0);
	CHECK(clip_index_dir_size(idx, ino_of(idx, "/x")) == 1);
	clip_index_close(idx);
	free(buf);
}

/* A hardlink's target path goes through symlinks; its last component is
 * not followed (a link to a symlink shares the symlink's inode).  The
 * target is looked up once the link's own path is cleared, as the
 * unpackers do: replacing the link d/s changes where a -> d/s/.. goes. */
TEST(test_hardlink_through_symlink)
{
	struct layer_entries l[2];
	struct clip_error err;
	struct clip_stat a, b, c, d;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	usrmerge(&l[0]);
	add(&l[1], "h", CLIP_TAR_HARDLINK, 0, "lib/orig", 0, 0);
	add(&l[1], "lib/h2", CLIP_TAR_HARDLINK, 0, "lib/sub/deep", 0, 0);
	add(&l[1], "hl", CLIP_TAR_HARDLINK, 0, "lib", 0, 0);
	add(&l[0], "f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "usr/f", CLIP_TAR_REG, 0644, NULL, 1, 1024);
	add(&l[0], "usr/s", CLIP_TAR_SYMLINK, 0777, "/usr", 0, 0);
	add(&l[0], "a", CLIP_TAR_SYMLINK, 0777, "usr/s/..", 0, 0);
	add(&l[1], "usr/s", CLIP_TAR_HARDLINK, 0, "a/f", 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	a = stat_of(idx, "/h");
	b = stat_of(idx, "/usr/lib/orig");
	CHECK(a.ino == b.ino && a.nlink == 2);
	c = stat_of(idx, "/usr/lib/h2");
	CHECK(c.ino == stat_of(idx, "/usr/lib/sub/deep").ino && c.nlink == 2);
	d = stat_of(idx, "/hl");
	CHECK(S_ISLNK(d.mode) && d.ino == stat_of(idx, "/lib").ino && d.nlink == 2);
	/* With usr/s gone, a -> usr/s/.. is usr, not the root: a/f is usr/f. */
	CHECK(stat_of(idx, "/usr/s").ino == stat_of(idx, "/usr/f").ino);
	CHECK(stat_of(idx, "/f").nlink == 1);
	clip_index_close(idx);
	free(buf);
}

/* The last component is never followed: a directory entry replaces a
 * symlink to a directory (umoci and containerd; GNU tar's
 * --keep-directory-symlink would keep it), a symlink replaces a symlink. */
TEST(test_last_component_not_followed)
{
	struct layer_entries l[2];
	struct clip_error err;
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	usrmerge(&l[0]);
	add(&l[0], "lib64", CLIP_TAR_SYMLINK, 0777, "usr/lib", 0, 0);
	add(&l[1], "lib", CLIP_TAR_DIR, 0750, NULL, 0, 0);
	add(&l[1], "lib/n", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[1], "lib64", CLIP_TAR_SYMLINK, 0777, "usr/share", 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(stat_of(idx, "/lib").mode == (S_IFDIR | 0750));
	CHECK(clip_index_dir_size(idx, ino_of(idx, "/lib")) == 1);
	CHECK(ino_of(idx, "/usr/lib/n") == 0 && ino_of(idx, "/usr/lib/orig") != 0);
	CHECK(strcmp(link_of(idx, "/lib64"), "usr/share") == 0);
	clip_index_close(idx);
	free(buf);
}

/* What every unpacker refuses (umoci, containerd, GNU tar): a parent that
 * is a symlink loop, a symlink to a file, or a file; a hardlink to
 * itself or into the directory it replaces (umoci and containerd remove
 * the old path first; GNU tar keeps a file linked to itself). */
TEST(test_bad_symlinked_parents)
{
	struct layer_entries l[2];
	char name[16], target[16];
	int i;

	memset(l, 0, sizeof(l));
	add(&l[0], "a", CLIP_TAR_SYMLINK, 0777, "b", 0, 0);
	add(&l[0], "b", CLIP_TAR_SYMLINK, 0777, "/a", 0, 0);
	add(&l[1], "a/x", CLIP_TAR_REG, 0644, NULL, 1, 512);
	CHECK(merge_fails(l, 2, "too many levels of symbolic links (more than 255) in 'a/x'"));

	memset(l, 0, sizeof(l));
	add(&l[0], "a", CLIP_TAR_SYMLINK, 0777, "a/b", 0, 0);
	add(&l[1], "a/.wh.x", CLIP_TAR_REG, 0, NULL, 0, 0);
	CHECK(merge_fails(l, 2, "too many levels of symbolic links"));

	memset(l, 0, sizeof(l));
	add(&l[0], "f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, "f", 0, 0);
	add(&l[1], "s/x", CLIP_TAR_REG, 0644, NULL, 1, 512);
	CHECK(merge_fails(l, 2, "'s/x': its parent path resolves through 'f', which is not a directory"));

	memset(l, 0, sizeof(l));
	add(&l[0], "d/f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[1], "d/f/x/y", CLIP_TAR_REG, 0644, NULL, 1, 512);
	CHECK(merge_fails(l, 2, "through 'd/f', which is not a directory"));

	memset(l, 0, sizeof(l));
	add(&l[0], "f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, ".", 0, 0);
	add(&l[1], "s/f", CLIP_TAR_HARDLINK, 0, "f", 0, 0);
	CHECK(merge_fails(l, 2, "hardlink 's/f' points to 'f', which replacing 's/f' removes"));

	memset(l, 0, sizeof(l));
	add(&l[0], "d/f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[1], "d", CLIP_TAR_HARDLINK, 0, "d/f", 0, 0);
	CHECK(merge_fails(l, 2, "which replacing 'd' removes"));

	memset(l, 0, sizeof(l));
	add(&l[0], "d/f", CLIP_TAR_REG, 0644, NULL, 1, 512);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, "d", 0, 0);
	add(&l[1], "s", CLIP_TAR_HARDLINK, 0, "s/f", 0, 0);   /* through the link it replaces */
	CHECK(merge_fails(l, 2, "which replacing 's' removes"));

	memset(l, 0, sizeof(l));
	add(&l[0], "a", CLIP_TAR_SYMLINK, 0777, "a", 0, 0);
	add(&l[1], "h", CLIP_TAR_HARDLINK, 0, "a/f", 0, 0);
	CHECK(merge_fails(l, 2, "hardlink 'h': too many levels of symbolic links"));

	/* 255 links are followed, the 256th is one too many. */
	for (i = 0; i < 2; i++) {
		int k, n = 255 + i;
		memset(l, 0, sizeof(l));
		add(&l[0], "d", CLIP_TAR_DIR, 0755, NULL, 0, 0);
		for (k = 0; k < n; k++) {
			snprintf(name, sizeof(name), "l%d", k);
			snprintf(target, sizeof(target), k + 1 < n ? "l%d" : "d", k + 1);
			add(&l[0], name, CLIP_TAR_SYMLINK, 0777, target, 0, 0);
		}
		add(&l[1], "l0/x", CLIP_TAR_REG, 0644, NULL, 1, 512);
		if (i == 0) {
			struct clip_error err;
			uint8_t *buf;
			clip_index *idx = merge(l, 2, &buf, &err);
			CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
			CHECK(ino_of(idx, "/d/x") != 0);
			clip_index_close(idx);
			free(buf);
		} else {
			CHECK(merge_fails(l, 2, "more than 255"));
		}
	}
}

/* A chain of links that never loops but expands without end ("s" ->
 * "s/s/s/...") is bounded by the components walked, not by time. */
TEST(test_symlink_work_bound)
{
	struct layer_entries l[2];
	char target[4096];
	size_t i;

	for (i = 0; i + 2 < sizeof(target); i += 2)
		memcpy(target + i, "./", 2);
	memcpy(target + i - 2, "s", 2);
	memset(l, 0, sizeof(l));
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, target, 0, 0);
	add(&l[1], "s/x", CLIP_TAR_REG, 0644, NULL, 1, 512);
	CHECK(merge_fails(l, 2, "walks more than 16384 path components"));
}

/* clipfs(1): paths deeper than 1024 components are refused, so exactly
 * 1024 is accepted and 1025 is not, also where a symlink leads there. */
static char *
deep_path(size_t n)
{
	char *p = malloc(2 * n);
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(p + 2 * i, "d/", 2);
	p[2 * n - 1] = '\0';
	return p;
}

TEST(test_depth_limit)
{
	struct layer_entries l[2];
	struct clip_error err;
	char *ok = deep_path(TREE_MAX_DEPTH), *over = deep_path(TREE_MAX_DEPTH + 1);
	char *parent = deep_path(TREE_MAX_DEPTH - 1);
	uint8_t *buf;
	clip_index *idx;

	memset(l, 0, sizeof(l));
	add(&l[0], ok, CLIP_TAR_REG, 0644, NULL, 0, 0);
	idx = merge(l, 1, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	CHECK(ino_of(idx, ok) != 0);
	clip_index_close(idx);
	free(buf);

	memset(l, 0, sizeof(l));
	add(&l[0], over, CLIP_TAR_REG, 0644, NULL, 0, 0);
	CHECK(merge_fails(l, 1, "path deeper than 1024 levels"));

	/* s -> a directory 1023 deep: s/x is 1024 deep, s/x/y 1025. */
	memset(l, 0, sizeof(l));
	add(&l[0], parent, CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, parent, 0, 0);
	add(&l[1], "s/x", CLIP_TAR_DIR, 0755, NULL, 0, 0);
	idx = merge(l, 2, &buf, &err);
	CHECK_MSG(idx != NULL, "%s", clip_error_message(&err));
	clip_index_close(idx);
	free(buf);
	memset(l, 0, sizeof(l));
	add(&l[0], parent, CLIP_TAR_DIR, 0755, NULL, 0, 0);
	add(&l[0], "s", CLIP_TAR_SYMLINK, 0777, parent, 0, 0);
	add(&l[1], "s/x/y", CLIP_TAR_REG, 0644, NULL, 0, 0);
	CHECK(merge_fails(l, 2, "path deeper than 1024 levels"));
	free(ok);
	free(over);
	free(parent);
}

TEST_MAIN(test_whiteouts_opaque_and_replacement, test_opaque_keeps_own_layer, test_hardlinks,
    test_bad_links_and_depth, test_symlink_mode, test_parent_through_symlink,
    test_parent_clamped_and_dangling, test_whiteouts_through_symlink,
    test_whiteout_after_own_entries, test_hardlink_through_symlink,
    test_last_component_not_followed, test_bad_symlinked_parents, test_symlink_work_bound,
    test_depth_limit)
