/*
 * erofs_int.h - what the parts of the EROFS writer share.
 *
 * The writer works in three passes over the index's inodes: plan
 * (erofs_plan.c: the size and place of every inode record, the blocks of
 * every directory), place data (erofs_write.c: directory and symlink
 * blocks after the metadata area) and emit (erofs_emit.c: every byte
 * into one zeroed buffer).  Directories (erofs_dir.c) and xattrs
 * (erofs_xattr.c) are computed the same way in plan and in emit, so the
 * sizes planned are the sizes written; emit checks that they agree.
 */
#ifndef CLIP_EROFS_INT_H
#define CLIP_EROFS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/erofs/erofs_disk.h"
#include "common/erofs/erofs_write.h"

/* How an inode's data is held. */
enum erofs_data_kind {
	ERODATA_NONE,       /* devices, fifos, sockets, empty files */
	ERODATA_CHUNKS,     /* regular file: chunk indexes into its layer */
	ERODATA_INLINE,     /* short symlink target right after the inode */
	ERODATA_BLOCKS,     /* directory, long symlink: blocks of this image */
};

/* One per index inode (index ino n is nodes[n]; nodes[0] is unused). */
struct erofs_node {
	uint64_t nid;           /* its place in the metadata area, / 32 */
	uint64_t nchunks;       /* ERODATA_CHUNKS */
	uint32_t blkaddr;       /* ERODATA_BLOCKS: first block */
	uint32_t nblocks;       /* ERODATA_BLOCKS */
	uint32_t nlink;         /* directories: 2 + subdirectories */
	uint32_t xattr_bytes;   /* inline xattr area, 0 or >= 12 */
	uint16_t dir_tail;      /* bytes used in a directory's last block */
	uint8_t  kind;          /* enum erofs_data_kind */
	uint8_t  chunk_bits;    /* log2 of the chunk size, ERODATA_CHUNKS */
};

/* One directory entry as written: "." and ".." included. */
struct erofs_dent {
	const char *name;
	uint32_t len;
	uint32_t ino;           /* index inode number */
	uint8_t  file_type;     /* EROFS_DISK_FT_* */
};

struct erofs_plan {
	const clip_index *idx;
	uint32_t count;              /* index inodes */
	struct erofs_node *nodes;    /* count + 1 */
	unsigned max_chunk_bits;
	int test_skew_mtime;         /* opts->test_skew_mtime */
	uint32_t layers;
	uint32_t meta_blkaddr;       /* first block of the metadata area */
	uint64_t meta_bytes;         /* used bytes of the metadata area */
	uint64_t data_blocks;        /* directory + symlink blocks */
	uint64_t primary_blocks;     /* the whole image */
	uint64_t chunk_indexes;
	/* Scratch for one directory at a time (the largest one + 2). */
	struct erofs_dent *dents;
	size_t dents_cap;
	const struct erofs_dent **sorted;
};

/* erofs_plan.c: size and place every inode record (sets nid, kind,
 * xattr_bytes, nchunks, nblocks, dir_tail, nlink; meta_bytes). */
clip_err erofs_plan_inodes(struct erofs_plan *p, struct clip_error *err);

/* erofs_dir.c: the entries of directory ino, "." and ".." included,
 * sorted as the kernel's lookup needs (bytes, then length); *out points
 * into p's scratch, valid until the next call. */
clip_err erofs_dir_entries(struct erofs_plan *p, uint32_t ino,
    const struct erofs_dent *const **out, size_t *n, struct clip_error *err);
/* Blocks the sorted entries take (none crosses a block) and the bytes
 * used in the last one. */
uint32_t erofs_dir_layout(const struct erofs_dent *const *d, size_t n, uint16_t *tail);
/* Writes the blocks of erofs_dir_layout() at dst (zeroed, nblocks * 512). */
void erofs_dir_fill(const struct erofs_plan *p, const struct erofs_dent *const *d,
    size_t n, uint8_t *dst);

/* erofs_xattr.c: the size of ino's inline xattr area (0 if it has
 * none); CLIP_ERR_UNSUPPORTED / CLIP_ERR_TOOBIG for an xattr EROFS cannot
 * hold. */
clip_err erofs_xattr_size(const clip_index *idx, uint32_t ino, uint32_t count,
    uint32_t *bytes, struct clip_error *err);
/* Writes the area erofs_xattr_size() measured at dst (zeroed). */
void erofs_xattr_fill(const clip_index *idx, uint32_t ino, uint32_t count, uint8_t *dst);

/* erofs_emit.c: the whole image into buf (zeroed, primary_blocks * 512). */
clip_err erofs_emit(struct erofs_plan *p, uint8_t *buf, struct clip_error *err);

/* Block addresses are 32-bit and all ones is a hole. */
#define EROFS_MAX_BLOCKS ((uint64_t)UINT32_MAX)

static inline uint64_t
erofs_round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

#endif
