/*
 * zoo.c - a reference index with every field type, for the format unit
 * tests and for the CLI tests (tests/mkzoo writes it to a file).
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "tests/unit/zoo.h"


uint8_t zoo_window[CLIP_WINDOW_SIZE];
const uint8_t zoo_xattr_value[5] = { 0x00, 0xff, 0x01, 0x00, 0x80 };
uint8_t zoo_chunks[(ZOO_CHUNKS0 + ZOO_CHUNKS1) * 32];

clip_err
zoo_build(clip_writer *w, struct clip_error *err)
{
	return zoo_build_chunks(w, 1, err);
}

/* Builds the reference tree; the inode numbers are noted in comments. */
clip_err
zoo_build_chunks(clip_writer *w, int with_chunks, struct clip_error *err)
{
	struct clip_inode_attr a;
	struct clip_layer_info li;
	struct clip_checkpoint_info ci;
	struct clip_image_info ii;
	uint32_t root, etc, f, deep, ino, layer, i;
	char name[256];
	clip_err rc;

	for (i = 0; i < sizeof(zoo_window); i++)
		zoo_window[i] = (uint8_t)(i * 7 + i / 300);
	for (i = 0; i < sizeof(zoo_chunks); i++)
		zoo_chunks[i] = (uint8_t)(i / 32 * 5 + i % 32 + 1);
#define TRY(x) do { if ((rc = (x)) != CLIP_OK) return rc; } while (0)
	memset(&a, 0, sizeof(a));
	a.mode = S_IFDIR | 0755;
	a.mtime_sec = 1700000000;
	TRY(clip_writer_add_inode(w, &a, &root, err));                       /* 1 */

	memset(&li, 0, sizeof(li));
	li.digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	li.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	li.compressed_size = 3000000;
	li.uncompressed_size = ZOO_BIG_SIZE + 4096;
	li.compression = CLIP_COMPRESSION_GZIP;
	if (with_chunks) {
		li.chunk_shift = CLIP_CHUNK_SHIFT;
		li.chunk_count = ZOO_CHUNKS0;
		li.chunk_sha256 = zoo_chunks;
	}
	TRY(clip_writer_add_layer(w, &li, &layer, err));
	for (i = 0; i < 3; i++) {
		memset(&ci, 0, sizeof(ci));
		ci.in_offset = i * 1000000 + (i ? 17 : 0);
		ci.out_offset = i * (ZOO_BIG_SIZE / 2);
		ci.bits = i ? (uint8_t)(i + 2) : 0;
		ci.kind = i ? CLIP_CHECKPOINT_DEFLATE : CLIP_CHECKPOINT_MEMBER;
		ci.window = zoo_window;
		ci.window_len = i ? CLIP_WINDOW_SIZE - i : 0;
		memset(ci.span_sha256, 0xa0 + i, 32);
		TRY(clip_writer_add_checkpoint(w, layer, &ci, err));
	}
	li.digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	li.media_type = "application/vnd.oci.image.layer.v1.tar";
	li.compressed_size = li.uncompressed_size = 10240;
	li.compression = CLIP_COMPRESSION_NONE;
	if (with_chunks) {
		li.chunk_count = ZOO_CHUNKS1;
		li.chunk_sha256 = zoo_chunks + ZOO_CHUNKS0 * 32;
	}
	TRY(clip_writer_add_layer(w, &li, &layer, err));
	memset(&ci, 0, sizeof(ci));
	ci.kind = CLIP_CHECKPOINT_STORED;
	TRY(clip_writer_add_checkpoint(w, layer, &ci, err));

	a.mode = S_IFDIR | 01777;   /* sticky */
	a.uid = 7;
	a.gid = 8;
	TRY(clip_writer_add_inode(w, &a, &etc, err));                        /* 2 */
	TRY(clip_writer_add_dirent(w, root, "etc", 3, etc, err));

	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 04755;   /* setuid */
	a.uid = 1000;
	a.gid = 100000;
	a.size = ZOO_BIG_SIZE;
	a.mtime_sec = -5;           /* before 1970 */
	a.mtime_nsec = 999999999;
	a.layer = 0;
	a.data_offset = 512;
	TRY(clip_writer_add_inode(w, &a, &f, err));                          /* 3 */
	TRY(clip_writer_add_dirent(w, etc, "big", 3, f, err));
	TRY(clip_writer_add_dirent(w, root, "hardlink", 8, f, err));
	TRY(clip_writer_add_xattr(w, f, "user.bin", zoo_xattr_value, sizeof(zoo_xattr_value), err));
	TRY(clip_writer_add_xattr(w, f, "security.capability", "cap", 3, err));

	a.mode = S_IFREG | 02644;   /* setgid */
	a.size = 0;
	a.layer = 1;
	a.data_offset = 0;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 4 */
	TRY(clip_writer_add_dirent(w, root, "empty", 5, ino, err));
	/* Same xattr set as "big": stored once. */
	TRY(clip_writer_add_xattr(w, ino, "security.capability", "cap", 3, err));
	TRY(clip_writer_add_xattr(w, ino, "user.bin", zoo_xattr_value, sizeof(zoo_xattr_value), err));

	memset(&a, 0, sizeof(a));
	a.mode = S_IFLNK | 0777;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 5 */
	TRY(clip_writer_set_symlink(w, ino, "../does/not/exist", 17, err));
	TRY(clip_writer_add_dirent(w, root, "dangling", 8, ino, err));

	a.mode = S_IFCHR | 0666;
	a.rdev_major = 1;
	a.rdev_minor = 3;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 6 */
	TRY(clip_writer_add_dirent(w, root, "null", 4, ino, err));
	a.mode = S_IFBLK | 0660;
	a.rdev_major = 259;
	a.rdev_minor = 70000;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 7 */
	TRY(clip_writer_add_dirent(w, root, "blk", 3, ino, err));
	a.mode = S_IFIFO | 0600;
	a.rdev_major = a.rdev_minor = 0;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 8 */
	TRY(clip_writer_add_dirent(w, root, "fifo", 4, ino, err));
	a.mode = S_IFSOCK | 0600;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 9 */
	TRY(clip_writer_add_dirent(w, root, "sock", 4, ino, err));

	/* A 250-byte name and a non-UTF-8 name. */
	memset(name, 'n', 250);
	a.mode = S_IFREG | 0644;
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 10 */
	TRY(clip_writer_add_dirent(w, root, name, 250, ino, err));
	TRY(clip_writer_add_inode(w, &a, &ino, err));                        /* 11 */
	TRY(clip_writer_add_dirent(w, root, "caf\xe9\xff", 5, ino, err));

	/* A 20-deep path d/d/.../d. */
	deep = root;
	for (i = 0; i < 20; i++) {
		a.mode = S_IFDIR | 0700;
		TRY(clip_writer_add_inode(w, &a, &ino, err));                /* 12..31 */
		TRY(clip_writer_add_dirent(w, deep, "d", 1, ino, err));
		deep = ino;
	}

	memset(&ii, 0, sizeof(ii));
	ii.source_ref = "oci:/tmp/layout:v1";
	ii.storage_registry = "127.0.0.1:5000";
	ii.storage_repository = "test/zoo";
	ii.manifest_digest = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
	ii.manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
	ii.config_digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
	ii.os = "linux";
	ii.architecture = "arm64";
	ii.variant = "v8";
	ii.config_json = "{\"Cmd\":[\"/bin/sh\"]}";
	ii.storage_flags = CLIP_STORAGE_PLAIN_HTTP;
	TRY(clip_writer_set_image(w, &ii, err));
#undef TRY
	return CLIP_OK;
}

