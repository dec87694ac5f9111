/*
 * layer_fs.c - the FUSE file system behind the EROFS mode: one read-only
 * file per layer, named by its index ("0", "1", ...), whose bytes are the
 * layer's uncompressed tar stream, zero-padded to whole 512-byte blocks
 * (the EROFS image addresses file data in those blocks, and a layer that
 * ends mid-block, such as a truncated whiteout layer, must still read as
 * whole blocks).
 *
 * The files are opened with direct I/O: EROFS keeps the file data it
 * reads in its own page cache, so a second copy in this file's cache
 * would hold every byte twice.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipfs/fs.h"
#include "clipfs/log.h"

#define LAYER_BLOCK 512u
#define LAYER_INO_FIRST 2   /* layer i is inode i + 2; 1 is the root */

static struct clipfs_fs *
lfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

uint64_t
layer_fs_file_size(const struct clip_layer *l)
{
	return (l->uncompressed_size + LAYER_BLOCK - 1) / LAYER_BLOCK * LAYER_BLOCK;
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
	if (layer_of(fs, ino, &l) < 0)
		return ENOENT;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_size = (off_t)layer_fs_file_size(&l);
	st->st_blocks = st->st_size / 512;
	return 0;
}

static void
lfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct clipfs_fs *fs = lfs_of(req);
	struct fuse_entry_param e;
	char *end;
	unsigned long i;

	atomic_fetch_add(&fs->counters.lookups, 1);
	memset(&e, 0, sizeof(e));
	errno = 0;
	i = strtoul(name, &end, 10);
	if (parent != FUSE_ROOT_ID || name[0] < '0' || name[0] > '9' || *end != '\0' ||
	    errno != 0 || (name[0] == '0' && name[1] != '\0') ||
	    i >= clip_index_layer_count(fs->idx)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = i + LAYER_INO_FIRST;
	e.attr_timeout = e.entry_timeout = fs->entry_timeout;
	if (lfs_stat(fs, e.ino, &e.attr) != 0) {
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
	if (layer_of(fs, ino, &l) < 0) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->direct_io = 1;
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

static void
lfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = lfs_of(req);
	uint32_t n = clip_index_layer_count(fs->idx);
	char *buf, name[16];
	size_t used = 0, len;
	struct stat st;
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
	for (k = off; k >= 0 && k < (off_t)n; k++) {
		snprintf(name, sizeof(name), "%lld", (long long)k);
		lfs_stat(fs, (fuse_ino_t)k + LAYER_INO_FIRST, &st);
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
