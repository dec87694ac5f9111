/*
 * erofs_write.h - an EROFS image of the tree of a CLIP v2 index.
 *
 * The image holds the whole merged tree (inodes, directories, symlink
 * targets, xattrs) but no file data: each regular file is a chunk-based
 * inode whose chunks point into its layer's uncompressed tar stream,
 * which the kernel reads from an extra device, one per layer, in layer
 * order (mount option device=PATH once per layer; device k is layer
 * k - 1).  Each such device must present the layer's uncompressed tar
 * stream padded with zeros to clip_erofs_device_size() bytes.
 *
 * Layout (man/clip.5, "EROFS image"): 512-byte blocks; the superblock at
 * byte 1024, the device table after it; then the metadata area, the
 * root directory's inode first (nid 0); then directory blocks and the
 * blocks of symlink targets too long to sit inline.  Every inode is an
 * extended (64-byte) inode, so uid/gid are 32-bit and mtimes keep their
 * nanoseconds.  Hardlinked names (one inode number in the index) share
 * one inode.  The image is deterministic: the same index gives the same
 * bytes.
 */
#ifndef CLIP_EROFS_WRITE_H
#define CLIP_EROFS_WRITE_H

#include <stdint.h>

#include "common/format/index.h"
#include "common/util/error.h"

/* Chunk size bounds (log2 bytes): a file gets the smallest power of two
 * that holds it whole, at least the block size, at most max_chunk_bits
 * (default CLIP_EROFS_CHUNK_BITS_DEFAULT), so most files need one chunk
 * index and a file past the maximum gets one index per chunk. */
#define CLIP_EROFS_CHUNK_BITS_MIN     12
#define CLIP_EROFS_CHUNK_BITS_DEFAULT 30
#define CLIP_EROFS_CHUNK_BITS_MAX     30

struct clip_erofs_opts {
	/* 0 for the default; else CLIP_EROFS_CHUNK_BITS_MIN..._MAX. */
	unsigned max_chunk_bits;
	/* Tests only: every regular file's mtime is 1 ns off, so a test can
	 * show that its comparison notices a wrong image. */
	int test_skew_mtime;
};

struct clip_erofs_info {
	uint64_t image_size;      /* bytes written to out_fd */
	uint64_t inode_count;     /* EROFS inodes (index inodes) */
	uint64_t meta_bytes;      /* of the metadata area (inodes) */
	uint64_t data_blocks;     /* directory and long symlink blocks */
	uint64_t chunk_indexes;   /* chunk indexes of all regular files */
	uint32_t device_count;    /* extra devices = layers of the index */
};

/*
 * Writes the image of idx to out_fd from its current position (the
 * caller opens, syncs and renames; a pipe is fine).  opts may be NULL.
 * On success fills *info if it is not NULL (zeroed on an error); idx
 * is only read, and may be used by other threads meanwhile.  Errors:
 *   CLIP_ERR_UNSUPPORTED an entry EROFS cannot hold: an xattr outside
 *                        the user., trusted., security. namespaces and
 *                        system.posix_acl_{access,default}, a device
 *                        number past 12-bit major / 20-bit minor, file
 *                        data not on a 512-byte boundary of its layer;
 *   CLIP_ERR_TOOBIG      an xattr value over 65535 bytes, a layer or an
 *                        image past 2^32 blocks (2 TiB);
 *   CLIP_ERR_FORMAT      the index contradicts itself (a file's data
 *                        past its layer's end, a bad layer number);
 *   CLIP_ERR_INVALID     bad options;
 *   CLIP_ERR_NOMEM, CLIP_ERR_IO.
 * The image is built in memory and written in one go at the end, so on
 * any error but a failed write (CLIP_ERR_IO) nothing has been written;
 * after a failed write the caller discards the output.  Memory and time
 * are linear in the index's entries (the image itself included).
 */
clip_err clip_erofs_write(const clip_index *idx, int out_fd,
    const struct clip_erofs_opts *opts, struct clip_erofs_info *info,
    struct clip_error *err);

/* The size in bytes the device of layer must have: its uncompressed size
 * rounded up to a whole 512-byte block.  0 for a bad layer number. */
uint64_t clip_erofs_device_size(const clip_index *idx, uint32_t layer);

#endif
