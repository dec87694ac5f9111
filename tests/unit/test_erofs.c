/*
 * test_erofs.c - clip_erofs_write() on small hand-made indexes: a good
 * tree gives the same image twice, and every input EROFS cannot hold is
 * a clear error that writes nothing.  (tests/erofs.test checks the
 * images themselves, with fsck.erofs and the kernel.)
 */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>

#include "common/erofs/erofs_write.h"
#include "common/format/index.h"
#include "common/format/index_write.h"
#include "tests/unit/test.h"

/* What a test changes in the tree below. */
struct variant {
	uint64_t data_offset;           /* of /f; 512 by default */
	uint32_t rdev_major, rdev_minor;
	const char *xattr;              /* an extra xattr of /f */
	size_t xattr_len;               /* its value's length */
};

static const uint8_t big_value[65536];

static clip_err
add(clip_writer *w, uint32_t dir, const char *name, const struct clip_inode_attr *a,
    uint32_t *ino, struct clip_error *err)
{
	clip_err rc = clip_writer_add_inode(w, a, ino, err);

	if (rc == CLIP_OK)
		rc = clip_writer_add_dirent(w, dir, name, strlen(name), *ino, err);
	return rc;
}

/* / with f (1000 bytes of layer 0), e (empty), d/ holding a device and
 * a symlink; one 10000-byte layer. */
static clip_err
build(const struct variant *v, uint8_t **buf, size_t *len, struct clip_error *err)
{
	struct clip_inode_attr dir = { .mode = S_IFDIR | 0755, .mtime_sec = 1 };
	struct clip_inode_attr f = { .mode = S_IFREG | 0644, .size = 1000,
		.data_offset = v->data_offset ? v->data_offset : 512, .mtime_nsec = 5 };
	struct clip_inode_attr e = { .mode = S_IFREG | 0600 };
	struct clip_inode_attr dev = { .mode = S_IFCHR | 0666,
		.rdev_major = v->rdev_major, .rdev_minor = v->rdev_minor };
	struct clip_inode_attr ln = { .mode = S_IFLNK | 0777, .size = 3 };
	struct clip_layer_info li = { .digest = "sha256:ab", .media_type = "x",
		.compressed_size = 100, .uncompressed_size = 10000,
		.compression = CLIP_COMPRESSION_GZIP };
	struct clip_checkpoint_info ci = { .kind = CLIP_CHECKPOINT_MEMBER };
	clip_writer *w;
	uint32_t root, fi, ei, d, di, li_ino, layer;
	clip_err rc = clip_writer_new(&w, err);

	if (rc != CLIP_OK)
		return rc;
	if ((rc = clip_writer_add_inode(w, &dir, &root, err)) == CLIP_OK &&
	    (rc = add(w, root, "f", &f, &fi, err)) == CLIP_OK &&
	    (rc = add(w, root, "e", &e, &ei, err)) == CLIP_OK &&
	    (rc = add(w, root, "d", &dir, &d, err)) == CLIP_OK &&
	    (rc = add(w, d, "dev", &dev, &di, err)) == CLIP_OK &&
	    (rc = add(w, d, "ln", &ln, &li_ino, err)) == CLIP_OK &&
	    (rc = clip_writer_set_symlink(w, li_ino, "../f", 3, err)) == CLIP_OK &&
	    (rc = clip_writer_add_xattr(w, fi, "user.a", "\0\1", 2, err)) == CLIP_OK &&
	    (!v->xattr || (rc = clip_writer_add_xattr(w, fi, v->xattr, big_value,
	    v->xattr_len, err)) == CLIP_OK) &&
	    (rc = clip_writer_add_layer(w, &li, &layer, err)) == CLIP_OK &&
	    (rc = clip_writer_add_checkpoint(w, layer, &ci, err)) == CLIP_OK)
		rc = clip_writer_finish(w, buf, len, err);
	clip_writer_free(w);
	return rc;
}

/* Writes the image of variant v into a temporary file; *size is what
 * landed there. */
static clip_err
write_image(const struct variant *v, const struct clip_erofs_opts *opts,
    uint8_t **image, long *size, struct clip_error *err)
{
	clip_index *idx = NULL;
	uint8_t *buf = NULL;
	size_t len;
	FILE *f = tmpfile();
	clip_err rc = f ? build(v, &buf, &len, err) : CLIP_ERR_IO;

	if (rc == CLIP_OK)
		rc = clip_index_open_buffer(buf, len, &idx, err);
	if (rc == CLIP_OK)
		rc = clip_erofs_write(idx, fileno(f), opts, NULL, err);
	*size = f ? lseek(fileno(f), 0, SEEK_END) : -1;
	*image = *size > 0 ? malloc((size_t)*size) : NULL;
	if (*image && pread(fileno(f), *image, (size_t)*size, 0) != *size) {
		free(*image);
		*image = NULL;
	}
	clip_index_close(idx);
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

TEST(test_good_tree_deterministic)
{
	static const uint8_t magic[4] = { 0xe2, 0xe1, 0xf5, 0xe0 };
	struct variant v = { .rdev_major = 4095, .rdev_minor = 1048575 };
	struct clip_error err = { 0 };
	uint8_t *a = NULL, *b = NULL;
	long na, nb;

	CHECK_OK(write_image(&v, NULL, &a, &na, &err), &err);
	CHECK_OK(write_image(&v, NULL, &b, &nb, &err), &err);
	CHECK(a != NULL && b != NULL && na == nb && na % 512 == 0);
	CHECK(memcmp(a, b, (size_t)na) == 0);
	CHECK(memcmp(a + 1024, magic, 4) == 0);
	CHECK(a[1024 + 12] == 9);                  /* 512-byte blocks */
	free(a);
	free(b);
}

/* The call fails with code, its message holds what, and nothing was
 * written. */
static void
expect_error(const struct variant *v, const struct clip_erofs_opts *opts,
    clip_err code, const char *what)
{
	struct clip_error err = { 0 };
	uint8_t *image = NULL;
	long size;
	clip_err rc = write_image(v, opts, &image, &size, &err);

	free(image);
	CHECK_MSG(rc == code, "got %s, want %s", clip_strerror(rc), clip_strerror(code));
	CHECK_MSG(strstr(err.msg, what) != NULL, "message \"%s\" lacks \"%s\"", err.msg, what);
	CHECK_MSG(size == 0, "%ld bytes written on an error", size);
}

TEST(test_refuses_what_erofs_cannot_hold)
{
	struct variant v = { 0 };
	struct clip_erofs_opts o = { 0 };

	v.data_offset = 700;
	expect_error(&v, NULL, CLIP_ERR_UNSUPPORTED, "512-byte boundary");
	v.data_offset = 9216;
	expect_error(&v, NULL, CLIP_ERR_FORMAT, "past the end of layer 0");
	v = (struct variant){ .rdev_major = 4096 };
	expect_error(&v, NULL, CLIP_ERR_UNSUPPORTED, "4096:0");
	v = (struct variant){ .rdev_minor = 1048576 };
	expect_error(&v, NULL, CLIP_ERR_UNSUPPORTED, "0:1048576");
	v = (struct variant){ .xattr = "os2.x", .xattr_len = 1 };
	expect_error(&v, NULL, CLIP_ERR_UNSUPPORTED, "\"os2.x\"");
	v = (struct variant){ .xattr = "system.other", .xattr_len = 1 };
	expect_error(&v, NULL, CLIP_ERR_UNSUPPORTED, "\"system.other\"");
	v = (struct variant){ .xattr = "user.big", .xattr_len = 65536 };
	expect_error(&v, NULL, CLIP_ERR_TOOBIG, "65536-byte value");
	v = (struct variant){ 0 };
	o.max_chunk_bits = CLIP_EROFS_CHUNK_BITS_MIN - 1;
	expect_error(&v, &o, CLIP_ERR_INVALID, "chunk size");
	o.max_chunk_bits = CLIP_EROFS_CHUNK_BITS_MAX + 1;
	expect_error(&v, &o, CLIP_ERR_INVALID, "chunk size");
}

TEST(test_limits_that_fit)
{
	struct variant v = { .xattr = "user.big", .xattr_len = 65535 };
	struct clip_erofs_opts o = { .max_chunk_bits = CLIP_EROFS_CHUNK_BITS_MIN };
	struct clip_error err = { 0 };
	uint8_t *image = NULL;
	long size;

	CHECK_OK(write_image(&v, &o, &image, &size, &err), &err);
	CHECK(size > 65535);
	free(image);
	v = (struct variant){ .xattr = "system.posix_acl_access", .xattr_len = 4 };
	CHECK_OK(write_image(&v, NULL, &image, &size, &err), &err);
	free(image);
}

TEST_MAIN(test_good_tree_deterministic, test_refuses_what_erofs_cannot_hold,
    test_limits_that_fit)
