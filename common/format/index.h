/*
 * index.h - reading a CLIP v2 index.
 *
 * clip_index_open() maps the file, checks the header, the SHA-256 of the
 * body, the section table and the structure of the tree (every index in
 * range, every directory reached from exactly one parent, so no loops).
 * It allocates nothing per entry.  After that the accessors below read
 * records in place; they still check their arguments, so a bad inode
 * number from a caller gives CLIP_ERR_INVALID, never a wild read.
 *
 * Pointers handed out (names, targets, xattr values, windows) point into
 * the mapping and stay valid until clip_index_close().  Strings are not
 * NUL-terminated in general; use the lengths.  A clip_index is read-only
 * after open and safe to use from many threads at once.
 */
#ifndef CLIP_INDEX_H
#define CLIP_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util/error.h"
#include "common/format/format.h"

typedef struct clip_index clip_index;

/* A string inside the index: bytes, length, NUL right after the end. */
struct clip_str {
	const char *ptr;
	uint32_t len;
};

struct clip_stat {
	uint32_t ino;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t  mtime_sec;
	uint32_t mtime_nsec;
	uint32_t rdev_major;      /* S_IFCHR, S_IFBLK */
	uint32_t rdev_minor;
	uint32_t layer;           /* S_IFREG */
	uint64_t data_offset;     /* S_IFREG: in the layer's tar stream */
	uint32_t parent;          /* S_IFDIR */
	uint32_t xattr_count;
};

struct clip_dirent {
	struct clip_str name;
	uint32_t ino;
	uint32_t mode_type;       /* S_IFMT bits of the child */
};

struct clip_layer {
	uint32_t index;
	struct clip_str digest;
	struct clip_str media_type;
	uint64_t compressed_size;
	uint64_t uncompressed_size;
	uint32_t first_checkpoint;
	uint32_t checkpoint_count;
	uint32_t compression;     /* enum clip_compression */
};

struct clip_checkpoint {
	uint64_t in_offset;
	uint64_t out_offset;
	uint8_t  bits;
	uint8_t  kind;            /* enum clip_checkpoint_kind */
	uint32_t window_len;
	uint32_t window_zlen;
	const uint8_t *window_z;  /* stored window, zlib format */
	const uint8_t *span_sha256;
	/* The span that starts here: compressed [span_start, span_end),
	 * uncompressed [out_offset, out_end). */
	uint64_t span_start;
	uint64_t span_end;
	uint64_t out_end;
};

struct clip_index_image {
	struct clip_str source_ref;
	struct clip_str storage_registry;
	struct clip_str storage_repository;
	struct clip_str manifest_digest;
	struct clip_str manifest_media_type;
	struct clip_str config_digest;
	struct clip_str os;
	struct clip_str architecture;
	struct clip_str variant;
	struct clip_str config_json;
	uint32_t storage_flags;
};

struct clip_section_info {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t length;
};

/*
 * Opens and checks path.  On success *out is the index; on failure *out
 * is NULL and the error says what is wrong and where (CLIP_ERR_IO,
 * CLIP_ERR_FORMAT, CLIP_ERR_VERSION, CLIP_ERR_CHECKSUM, CLIP_ERR_NOMEM).
 */
clip_err clip_index_open(const char *path, clip_index **out, struct clip_error *err);

/* The same over a caller's buffer, which must outlive the index. */
clip_err clip_index_open_buffer(const void *buf, size_t len, clip_index **out,
    struct clip_error *err);

/* Accepts NULL. */
void clip_index_close(clip_index *idx);

uint32_t clip_index_inode_count(const clip_index *idx);
uint32_t clip_index_dirent_count(const clip_index *idx);
uint32_t clip_index_layer_count(const clip_index *idx);
uint32_t clip_index_checkpoint_count(const clip_index *idx);
uint64_t clip_index_file_size(const clip_index *idx);
uint16_t clip_index_version_minor(const clip_index *idx);

/* The section table, in file order; i < count. */
uint32_t clip_index_section_count(const clip_index *idx);
clip_err clip_index_section(const clip_index *idx, uint32_t i, struct clip_section_info *out);
/* "strings", "inodes", ...; "unknown" for a type this reader skips. */
const char *clip_section_name(uint32_t type);

/* CLIP_ERR_INVALID for an inode number out of range. */
clip_err clip_index_stat(const clip_index *idx, uint32_t ino, struct clip_stat *st);

/*
 * Finds name in directory dir.  CLIP_ERR_NOTFOUND if absent (*child is
 * then 0), CLIP_ERR_INVALID if dir is not a directory.
 */
clip_err clip_index_lookup(const clip_index *idx, uint32_t dir, const char *name,
    size_t len, uint32_t *child);

/* Number of entries of dir (0 if dir is not a directory). */
uint32_t clip_index_dir_size(const clip_index *idx, uint32_t dir);
/* Entry i of dir, in name order. */
clip_err clip_index_readdir(const clip_index *idx, uint32_t dir, uint32_t i,
    struct clip_dirent *out);

/* Resolves an absolute or relative path ("/usr/bin", "usr/bin", "/") from
 * the root without following symlinks. */
clip_err clip_index_resolve(const clip_index *idx, const char *path, uint32_t *ino);

/* The target of a symlink; CLIP_ERR_INVALID if ino is not one. */
clip_err clip_index_readlink(const clip_index *idx, uint32_t ino, struct clip_str *target);

/* Xattr i of ino, in name order; i < clip_stat.xattr_count. */
clip_err clip_index_xattr(const clip_index *idx, uint32_t ino, uint32_t i,
    struct clip_str *name, struct clip_str *value);

clip_err clip_index_layer(const clip_index *idx, uint32_t layer, struct clip_layer *out);

/* Checkpoint i of a layer (0 <= i < checkpoint_count), with its span. */
clip_err clip_index_checkpoint(const clip_index *idx, uint32_t layer, uint32_t i,
    struct clip_checkpoint *out);

/* The checkpoint whose span holds uncompressed offset off of layer:
 * the last one with out_offset <= off.  CLIP_ERR_INVALID if off is past
 * the end of the layer. */
clip_err clip_index_find_checkpoint(const clip_index *idx, uint32_t layer,
    uint64_t off, uint32_t *i);

/* Inflates a checkpoint's window into buf (CLIP_WINDOW_SIZE bytes). */
clip_err clip_index_window(const struct clip_checkpoint *cp, uint8_t *buf,
    struct clip_error *err);

void clip_index_image(const clip_index *idx, struct clip_index_image *out);

/* The prefetch list (clip(5), PREFETCH): entry i names bytes
 * [*offset, *offset + *length) of regular file *ino, clamped to the file
 * (a length of 0 in the file means "to the end"). */
uint32_t clip_index_prefetch_count(const clip_index *idx);
clip_err clip_index_prefetch(const clip_index *idx, uint32_t i, uint32_t *ino,
    uint64_t *offset, uint64_t *length);

/*
 * Chunk hashes (CHUNKS section): the SHA-256 of each chunk-size piece of
 * a layer's compressed blob (the last piece shorter), so any chunk-aligned
 * range can be verified.  0 if the index has none (then only whole spans
 * can be verified).
 */
uint32_t clip_index_chunk_size(const clip_index *idx);
/* The SHA-256 (32 bytes, in the mapped file) of chunk k of layer: bytes
 * [k * size, min((k + 1) * size, compressed_size)).  NULL if the index has
 * no chunks or k or layer is out of range. */
const uint8_t *clip_index_chunk_sha256(const clip_index *idx, uint32_t layer, uint64_t k);

/*
 * Replaces (or adds) the PREFETCH section of the index at path with n
 * entries, rewriting the file atomically (temporary file, rename).  Every
 * other section is kept byte for byte.  CLIP_ERR_INVALID for an entry that
 * does not name a regular file; errors of clip_index_open otherwise.
 */
struct clip_prefetch_entry {
	uint32_t ino;
	uint64_t offset;
	uint64_t length;          /* 0: to the end of the file */
};
clip_err clip_index_set_prefetch(const char *path, const struct clip_prefetch_entry *v,
    size_t n, struct clip_error *err);

#endif
