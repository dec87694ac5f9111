/*
 * erofs_plan.c - the size and place of every EROFS inode record.
 *
 * A record is the 64-byte extended inode, its inline xattr area, then
 * its chunk indexes (8-aligned) or its inline symlink target.  Records
 * sit one after another in the metadata area on 32-byte slots (an
 * inode's nid is its slot number), the root first after one empty slot,
 * so that its nid fits the superblock's 16-bit root_nid and is not 0: the
 * kernel gives an inode its nid as inode number, and glibc's readdir
 * drops entries with inode number 0 (the root's "." and "..", and ".."
 * of every directory in it, would vanish).  An inline symlink target must not
 * cross a block (the kernel refuses it), so such a record that would
 * cross starts on the next block instead.
 */
#include "config.h"

#include <sys/stat.h>

#include "common/erofs/erofs_int.h"

#define INODE_BYTES sizeof(struct erofs_disk_inode)
#define INDEX_BYTES sizeof(struct erofs_disk_chunk_index)

/* The smallest power of two >= size, within [blocks, max_bits]. */
static uint8_t
chunk_bits_for(uint64_t size, unsigned max_bits)
{
	unsigned bits = EROFS_DISK_BLKBITS;

	while (bits < max_bits && ((uint64_t)1 << bits) < size)
		bits++;
	return (uint8_t)bits;
}

/* A regular file: its data must be whole blocks of its layer's stream. */
static clip_err
plan_file(struct erofs_plan *p, uint32_t ino, const struct clip_stat *st,
    struct erofs_node *n, uint64_t *rec, struct clip_error *err)
{
	struct clip_layer layer;

	if (st->size == 0) {
		n->kind = ERODATA_NONE;
		return CLIP_OK;
	}
	if (clip_index_layer(p->idx, st->layer, &layer) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_FORMAT, "inode %u: no layer %u", ino,
		    st->layer);
	if (st->data_offset % EROFS_DISK_BLKSZ != 0)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "inode %u: data at offset %llu of layer %u is not on a 512-byte "
		    "boundary", ino, (unsigned long long)st->data_offset, st->layer);
	if (layer.uncompressed_size > EROFS_MAX_BLOCKS * EROFS_DISK_BLKSZ)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "layer %u passes 2^32 blocks of 512 bytes (2 TiB)", st->layer);
	if (st->data_offset > layer.uncompressed_size ||
	    st->size > layer.uncompressed_size - st->data_offset)
		return clip_error_set(err, CLIP_ERR_FORMAT,
		    "inode %u: data past the end of layer %u", ino, st->layer);
	n->kind = ERODATA_CHUNKS;
	n->chunk_bits = chunk_bits_for(st->size, p->max_chunk_bits);
	n->nchunks = (st->size + ((uint64_t)1 << n->chunk_bits) - 1) >> n->chunk_bits;
	*rec = erofs_round_up(*rec, INDEX_BYTES) + n->nchunks * INDEX_BYTES;
	p->chunk_indexes += n->nchunks;
	return CLIP_OK;
}

/* A symlink's size is its target's length (the inode says so). */
static clip_err
plan_symlink(struct erofs_plan *p, uint32_t ino, const struct clip_stat *st,
    struct erofs_node *n, uint64_t *rec, struct clip_error *err)
{
	struct clip_str target;

	if (clip_index_readlink(p->idx, ino, &target) != CLIP_OK || target.len != st->size)
		return clip_error_set(err, CLIP_ERR_FORMAT,
		    "inode %u: no symlink target of the inode's size", ino);
	if (*rec + target.len <= EROFS_DISK_BLKSZ) {
		n->kind = ERODATA_INLINE;
		*rec += target.len;
	} else {
		n->kind = ERODATA_BLOCKS;
		n->nblocks = (uint32_t)erofs_round_up(target.len, EROFS_DISK_BLKSZ) /
		    EROFS_DISK_BLKSZ;
	}
	return CLIP_OK;
}

static clip_err
plan_dir(struct erofs_plan *p, uint32_t ino, struct erofs_node *n, struct clip_error *err)
{
	const struct erofs_dent *const *d;
	size_t count, i;
	clip_err rc = erofs_dir_entries(p, ino, &d, &count, err);

	if (rc != CLIP_OK)
		return rc;
	n->kind = ERODATA_BLOCKS;
	n->nblocks = erofs_dir_layout(d, count, &n->dir_tail);
	n->nlink = 2;
	for (i = 0; i < count; i++)
		if (d[i]->file_type == EROFS_DISK_FT_DIR && d[i]->ino != ino &&
		    !(d[i]->len == 2 && d[i]->name[0] == '.' && d[i]->name[1] == '.'))
			n->nlink++;
	return CLIP_OK;
}

static clip_err
plan_device(uint32_t ino, const struct clip_stat *st, struct clip_error *err)
{
	/* The kernel's new_decode_dev(): 12-bit major, 20-bit minor. */
	if (st->rdev_major > 0xfff || st->rdev_minor > 0xfffff)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "inode %u: device %u:%u does not fit EROFS's 32-bit dev_t", ino,
		    st->rdev_major, st->rdev_minor);
	return CLIP_OK;
}

/* The record of one inode: its size in *rec (head included). */
static clip_err
plan_kind(struct erofs_plan *p, uint32_t ino, const struct clip_stat *st,
    struct erofs_node *n, uint64_t *rec, struct clip_error *err)
{
	switch (st->mode & S_IFMT) {
	case S_IFREG:
		return plan_file(p, ino, st, n, rec, err);
	case S_IFLNK:
		return plan_symlink(p, ino, st, n, rec, err);
	case S_IFDIR:
		return plan_dir(p, ino, n, err);
	case S_IFCHR:
	case S_IFBLK:
		return plan_device(ino, st, err);
	case S_IFIFO:
	case S_IFSOCK:
		return CLIP_OK;
	default:
		return clip_error_set(err, CLIP_ERR_FORMAT, "inode %u: bad mode %o", ino,
		    st->mode);
	}
}

static clip_err
plan_one(struct erofs_plan *p, uint32_t ino, struct clip_error *err)
{
	struct erofs_node *n = &p->nodes[ino];
	struct clip_stat st;
	uint64_t rec, at = p->meta_bytes;
	clip_err rc = clip_index_stat(p->idx, ino, &st);

	if (rc != CLIP_OK)
		return clip_error_set(err, rc, "inode %u unreadable", ino);
	rc = erofs_xattr_size(p->idx, ino, st.xattr_count, &n->xattr_bytes, err);
	if (rc != CLIP_OK)
		return rc;
	n->nlink = st.nlink;
	rec = INODE_BYTES + n->xattr_bytes;
	rc = plan_kind(p, ino, &st, n, &rec, err);
	if (rc != CLIP_OK)
		return rc;
	if (n->kind == ERODATA_INLINE && at % EROFS_DISK_BLKSZ + rec > EROFS_DISK_BLKSZ)
		at = erofs_round_up(at, EROFS_DISK_BLKSZ);
	n->nid = at / EROFS_DISK_SLOT;
	p->meta_bytes = at + erofs_round_up(rec, EROFS_DISK_SLOT);
	return CLIP_OK;
}

clip_err
erofs_plan_inodes(struct erofs_plan *p, struct clip_error *err)
{
	uint32_t ino;

	p->meta_bytes = EROFS_DISK_SLOT;   /* nid 0 stays unused */
	/* Inode numbers run from CLIP_ROOT_INO, so the root comes first. */
	for (ino = CLIP_ROOT_INO; ino <= p->count; ino++) {
		clip_err rc = plan_one(p, ino, err);
		if (rc != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}
