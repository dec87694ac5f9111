/*
 * index_write.h - building a CLIP v2 index.
 *
 * The caller describes the final (merged) tree and the layers; the
 * writer lays them out: it numbers nothing itself (inode numbers are
 * given in creation order, root first), sorts each directory's entries,
 * computes nlink (entries per inode, 2 + subdirectories for a
 * directory) and each directory's parent, deduplicates strings and
 * xattr sets, compresses windows, and writes the file atomically.  The
 * same calls in the same order give a byte-identical file.
 */
#ifndef CLIP_INDEX_WRITE_H
#define CLIP_INDEX_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/format/format.h"

typedef struct clip_writer clip_writer;

struct clip_inode_attr {
	uint32_t mode;            /* type and permission bits */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;            /* stored as given; for symlinks, the target length */
	int64_t  mtime_sec;
	uint32_t mtime_nsec;
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint32_t layer;           /* S_IFREG */
	uint64_t data_offset;     /* S_IFREG */
};

struct clip_layer_info {
	const char *digest;
	const char *media_type;
	uint64_t compressed_size;
	uint64_t uncompressed_size;
	uint32_t compression;     /* enum clip_compression */
	/* Optional chunk hashes (clip(5), CHUNKS): the SHA-256 of each
	 * 1 << chunk_shift byte piece of the blob, the last one shorter;
	 * chunk_count == ceil(compressed_size / chunk size), 32 bytes each,
	 * copied.  chunk_shift 0: none.  The section is written only when
	 * every layer has them; all layers must then use one chunk_shift. */
	uint32_t chunk_shift;     /* 0, or CLIP_CHUNK_SHIFT_MIN..MAX */
	uint64_t chunk_count;
	const uint8_t *chunk_sha256;
};

struct clip_checkpoint_info {
	uint64_t in_offset;
	uint64_t out_offset;
	uint8_t  bits;
	uint8_t  kind;            /* enum clip_checkpoint_kind */
	const uint8_t *window;    /* the window bytes, uncompressed */
	uint32_t window_len;      /* <= CLIP_WINDOW_SIZE */
	/* Or the window already zlib-compressed (window_len still says how
	 * long it is inflated); the writer then stores these bytes as is. */
	const uint8_t *window_z;
	uint32_t window_zlen;
	uint8_t  span_sha256[32];
};

/* Strings may be NULL (stored empty).  config_json is stored as given. */
struct clip_image_info {
	const char *source_ref;
	const char *storage_registry;
	const char *storage_repository;
	const char *manifest_digest;
	const char *manifest_media_type;
	const char *config_digest;
	const char *os;
	const char *architecture;
	const char *variant;
	const char *config_json;
	uint32_t storage_flags;
};

/* *out is NULL on failure. */
clip_err clip_writer_new(clip_writer **out, struct clip_error *err);
void clip_writer_free(clip_writer *w);   /* accepts NULL */

/*
 * Adds an inode and returns its number in *ino: 1 for the first call,
 * which must be the root directory, then 2, 3, ...
 */
clip_err clip_writer_add_inode(clip_writer *w, const struct clip_inode_attr *attr,
    uint32_t *ino, struct clip_error *err);

/* Names child in directory dir.  A directory may be named once only;
 * other inodes any number of times (hardlinks).  1 <= len <= 255, no '/',
 * not "." or "..", unique within dir. */
clip_err clip_writer_add_dirent(clip_writer *w, uint32_t dir, const char *name,
    size_t len, uint32_t child, struct clip_error *err);

clip_err clip_writer_set_symlink(clip_writer *w, uint32_t ino, const char *target,
    size_t len, struct clip_error *err);

/* Adds one xattr; names must be unique per inode. */
clip_err clip_writer_add_xattr(clip_writer *w, uint32_t ino, const char *name,
    const void *value, size_t len, struct clip_error *err);

/* Layers are numbered in the order added, from 0.  CLIP_ERR_INVALID for
 * chunk hashes that do not fit compressed_size or whose chunk_shift
 * differs from an earlier layer's. */
clip_err clip_writer_add_layer(clip_writer *w, const struct clip_layer_info *li,
    uint32_t *layer, struct clip_error *err);

/* Checkpoints of a layer, in order; the window is copied (compressed). */
clip_err clip_writer_add_checkpoint(clip_writer *w, uint32_t layer,
    const struct clip_checkpoint_info *ci, struct clip_error *err);

clip_err clip_writer_set_image(clip_writer *w, const struct clip_image_info *ii,
    struct clip_error *err);

/*
 * Serialises everything into a malloc'ed buffer (*buf, *len; the caller
 * frees it).  Checks the tree first: every directory but the root named
 * exactly once, every other inode named at least once.
 */
clip_err clip_writer_finish(clip_writer *w, uint8_t **buf, size_t *len,
    struct clip_error *err);

/* clip_writer_finish() into path, through a temporary file in the same
 * directory that is renamed over path only once complete and synced. */
clip_err clip_writer_write_file(clip_writer *w, const char *path, struct clip_error *err);

#endif
