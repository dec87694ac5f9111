/*
 * test_tree.c - the OCI layer merge: whiteouts, opaque directories,
 * replacement, implicit parents, hardlinks; checked through the index
 * the merged tree is written to.
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

TEST_MAIN(test_whiteouts_opaque_and_replacement, test_opaque_keeps_own_layer, test_hardlinks,
    test_bad_links_and_depth, test_symlink_mode)
