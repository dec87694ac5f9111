/*
 * layer_fs.c - the FUSE file system behind the EROFS mode: one read-only
 * file per layer, named by its index ("0", "1", ...), whose bytes are the
 * layer's uncompressed tar stream, zero-padded to whole 512-byte blocks
 * (the EROFS image addresses file data in those blocks, and a layer that
 * ends mid-block, such as a truncated whiteout layer, must still read as
 * whole blocks).
 *
 * The layer files are opened with direct I/O: EROFS keeps the file data
 * it reads in its own page cache, so a second copy in this file's cache
 * would hold every byte twice.  Beside them, the EROFS image itself
 * (IMAGE_NAME, from fs->erofs_image_fd): served from here, it needs no
 * file system that can back EROFS (tmpfs cannot), and nobody can change
 * it under the kernel; its pages are cached, as EROFS reads its metadata
 * through this file's page cache.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipfs/fs.h"
#include "clipfs/log.h"
#include "common/reader/layer_file.h"

#define IMAGE_INO 2         /* the EROFS image; 1 is the root */
#define LAYER_INO_FIRST 3   /* layer i is inode i + 3 */

static struct clipfs_fs *
lfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* As a local layer file pads it (common/reader/layer_file.h), so the
 * image addresses both alike. */
uint64_t
layer_fs_file_size(const struct clip_layer *l)
{
	return clip_layer_file_padded(l->uncompressed_size);
}

/* The layer of ino; -1 for the root or an unknown inode. */
static int64_t
layer_of(const struct clipfs_fs *fs, fuse_ino_t ino, struct clip_layer *l)
{
	uint64_t i;

	if (ino < LAYER_INO_FIRST)
		return -1;
	i = ino - LAYER_INO_FIRST;
	if (i >= clip_index_layer_count(fs->idx) || clip_index_layer(fs->idx, (uint32_t)i, l) != CLIP_OK)
		return -1;
	return (int64_t)i;
}

static int
lfs_stat(const struct clipfs_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct clip_layer l;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0500;
		st->st_nlink = 2;
		return 0;
	}
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	if (ino == IMAGE_INO)
		st->st_size = (off_t)fs->erofs_image_size;
	else if (layer_of(fs, ino, &l) >= 0)
		st->st_size = (off_t)layer_fs_file_size(&l);
	else
		return ENOENT;
	st->st_blocks = st->st_size / 512;
	return 0;
}

/* The inode of name in the root; 0 if there is none. */
static fuse_ino_t
lfs_find(const struct clipfs_fs *fs, const char *name)
{
	unsigned long i;
	char *end;

	if (strcmp(name, IMAGE_NAME) == 0)
		return IMAGE_INO;
	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1] != '\0'))
		return 0;
	errno = 0;
	i = strtoul(name, &end, 10);
	if (*end != '\0' || errno != 0 || i >= clip_index_layer_count(fs->idx))
		return 0;
	return i + LAYER_INO_FIRST;
}

static void
lfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct clipfs_fs *fs = lfs_of(req);
	struct fuse_entry_param e;

	atomic_fetch_add(&fs->counters.lookups, 1);
	memset(&e, 0, sizeof(e));
	e.ino = parent == FUSE_ROOT_ID ? lfs_find(fs, name) : 0;
	e.attr_timeout = e.entry_timeout = fs->entry_timeout;
	if (e.ino == 0 || lfs_stat(fs, e.ino, &e.attr) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void
lfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = lfs_of(req);
	struct stat st;
	int rc;

	(void)fi;
	atomic_fetch_add(&fs->counters.getattrs, 1);
	if ((rc = lfs_stat(fs, ino, &st)) != 0)
		fuse_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, fs->entry_timeout);
}

static void
lfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = lfs_of(req);
	struct clip_layer l;

	atomic_fetch_add(&fs->counters.opens, 1);
	if (ino != IMAGE_INO && layer_of(fs, ino, &l) < 0) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->direct_io = ino != IMAGE_INO;
	fi->keep_cache = ino == IMAGE_INO;
	fuse_reply_open(req, fi);
}

/* Fills buf with bytes [off, off + size) of layer i's padded stream. */
static clip_err
lfs_fill(struct clipfs_fs *fs, uint32_t i, const struct clip_layer *l, uint64_t off,
    size_t size, uint8_t *buf, struct clip_error *err)
{
	size_t want = 0, got = 0;
	clip_err rc = CLIP_OK;

	if (off < l->uncompressed_size)
		want = l->uncompressed_size - off < size ? (size_t)(l->uncompressed_size - off) : size;
	if (want > 0 && (rc = clip_reader_read(fs->reader, i, off, want, buf, &got, err)) == CLIP_OK &&
	    got != want)
		rc = clip_error_set(err, CLIP_ERR_IO, "layer %u ends at %llu, before its recorded size",
		    i, (unsigned long long)(off + got));
	memset(buf + want, 0, size - want);
	return rc;
}

/* The image, from the daemon's own copy (a file nobody else can reach). */
static void
lfs_read_image(fuse_req_t req, struct clipfs_fs *fs, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	if ((uint64_t)off >= fs->erofs_image_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > fs->erofs_image_size - (uint64_t)off)
		size = (size_t)(fs->erofs_image_size - (uint64_t)off);
	bv.buf[0].size = size;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fs->erofs_image_fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void
lfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = lfs_of(req);
	struct clip_error err;
	struct clip_layer l;
	uint64_t end;
	int64_t i;
	uint8_t *buf;

	(void)fi;
	atomic_fetch_add(&fs->counters.reads, 1);
	if (ino == IMAGE_INO && off >= 0) {
		lfs_read_image(req, fs, size, off);
		return;
	}
	if ((i = layer_of(fs, ino, &l)) < 0 || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	end = layer_fs_file_size(&l);
	if ((uint64_t)off >= end || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > end - (uint64_t)off)
		size = (size_t)(end - (uint64_t)off);
	fs_trace_layer_read(fs, (uint32_t)i, (uint64_t)off);
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	clip_error_clear(&err);
	if (lfs_fill(fs, (uint32_t)i, &l, (uint64_t)off, size, buf, &err) != CLIP_OK) {
		atomic_fetch_add(&fs->counters.read_errors, 1);
		log_error("read of layer %lld at %lld (+%zu): %s", (long long)i, (long long)off,
		    size, clip_error_message(&err));
		fuse_reply_err(req, EIO);
	} else {
		fuse_reply_buf(req, (const char *)buf, size);
	}
	free(buf);
}

/* Entry k of the root: the image, then the layers.  0 past the end. */
static fuse_ino_t
lfs_entry(const struct clipfs_fs *fs, off_t k, char *name, size_t len)
{
	if (k == 0) {
		snprintf(name, len, "%s", IMAGE_NAME);
		return IMAGE_INO;
	}
	if (k < 0 || k - 1 >= (off_t)clip_index_layer_count(fs->idx))
		return 0;
	snprintf(name, len, "%lld", (long long)(k - 1));
	return (fuse_ino_t)(k - 1) + LAYER_INO_FIRST;
}

static void
lfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = lfs_of(req);
	char *buf, name[32];
	size_t used = 0, len;
	struct stat st;
	fuse_ino_t child;
	off_t k;

	(void)fi;
	atomic_fetch_add(&fs->counters.readdirs, 1);
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (k = off; (child = lfs_entry(fs, k, name, sizeof(name))) != 0; k++) {
		lfs_stat(fs, child, &st);
		len = fuse_add_direntry(req, buf + used, size - used, name, &st, k + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

const struct fuse_lowlevel_ops clipfs_layer_ops = {
	.lookup = lfs_lookup,
	.getattr = lfs_getattr,
	.open = lfs_open,
	.read = lfs_read,
	.readdir = lfs_readdir,
};
