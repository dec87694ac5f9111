/*
 * erofs_emit.c - every byte of the image, into a zeroed buffer.
 *
 * The plan (erofs_plan.c, erofs_write.c) fixed where everything goes;
 * this writes the superblock, the device table, each inode record and
 * the directory and symlink blocks.  Directories are sorted and laid out
 * again here and must come out as planned.
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "common/erofs/erofs_int.h"

#define DEVT_OFFSET (EROFS_DISK_SB_OFFSET + sizeof(struct erofs_disk_super))

static void
emit_super(const struct erofs_plan *p, uint8_t *buf)
{
	struct erofs_disk_super sb;

	memset(&sb, 0, sizeof(sb));
	sb.magic = EROFS_DISK_MAGIC;
	sb.blkszbits = EROFS_DISK_BLKBITS;
	sb.root_nid = (uint16_t)p->nodes[CLIP_ROOT_INO].nid;
	sb.inos = p->count;
	sb.blocks = (uint32_t)p->primary_blocks;
	sb.meta_blkaddr = p->meta_blkaddr;
	sb.feature_incompat = EROFS_DISK_INCOMPAT_CHUNKED_FILE;
	if (p->layers > 0) {
		sb.feature_incompat |= EROFS_DISK_INCOMPAT_DEVICE_TABLE;
		sb.extra_devices = (uint16_t)p->layers;
		sb.devt_slotoff = (uint16_t)(DEVT_OFFSET / sizeof(struct erofs_disk_device));
	}
	memcpy(buf + EROFS_DISK_SB_OFFSET, &sb, sizeof(sb));
}

/*
 * One slot per layer.  The tag (the kernel's device path when no
 * device= option names it) is the layer digest's hex.  Each device also
 * gets its own block range after the image (mapped_blkaddr), so a mount
 * without device= options, which reads every device from the image
 * itself, fails past the image's end instead of reading wrong blocks.
 */
static void
emit_devices(const struct erofs_plan *p, uint8_t *buf)
{
	uint64_t mapped = p->primary_blocks;
	uint32_t i;

	for (i = 0; i < p->layers; i++) {
		struct erofs_disk_device d;
		struct clip_layer l;
		const char *hex;
		size_t len;

		memset(&d, 0, sizeof(d));
		if (clip_index_layer(p->idx, i, &l) != CLIP_OK)
			continue;   /* checked when the image was placed */
		hex = memchr(l.digest.ptr, ':', l.digest.len);
		hex = hex ? hex + 1 : l.digest.ptr;
		len = l.digest.len - (size_t)(hex - l.digest.ptr);
		memcpy(d.tag, hex, len < sizeof(d.tag) ? len : sizeof(d.tag));
		if (d.tag[0] == 0)
			d.tag[0] = 'L';
		d.blocks = (uint32_t)(clip_erofs_device_size(p->idx, i) / EROFS_DISK_BLKSZ);
		d.mapped_blkaddr = (uint32_t)mapped;
		mapped += d.blocks;
		memcpy(buf + DEVT_OFFSET + (size_t)i * sizeof(d), &d, sizeof(d));
	}
}

static uint16_t
data_layout(const struct erofs_node *n)
{
	switch (n->kind) {
	case ERODATA_CHUNKS: return EROFS_DISK_CHUNK_BASED;
	case ERODATA_INLINE: return EROFS_DISK_FLAT_INLINE;
	default: return EROFS_DISK_FLAT_PLAIN;
	}
}

static void
fill_inode(const struct erofs_node *n, uint32_t ino, const struct clip_stat *st,
    struct erofs_disk_inode *di)
{
	memset(di, 0, sizeof(*di));
	di->i_format = (uint16_t)EROFS_DISK_FORMAT(data_layout(n));
	if (n->xattr_bytes)
		di->i_xattr_icount = (uint16_t)(1 + (n->xattr_bytes -
		    sizeof(struct erofs_disk_xattr_ibody)) / 4);
	di->i_mode = (uint16_t)(st->mode & (S_IFMT | 07777));
	di->i_ino = ino;
	di->i_uid = st->uid;
	di->i_gid = st->gid;
	di->i_mtime = (uint64_t)st->mtime_sec;
	di->i_mtime_nsec = st->mtime_nsec;
	di->i_nlink = n->nlink;
	if (S_ISREG(st->mode) || S_ISLNK(st->mode))
		di->i_size = st->size;
	switch (n->kind) {
	case ERODATA_CHUNKS:
		di->i_u.chunk.format = (uint16_t)(EROFS_DISK_CHUNK_INDEXES |
		    (n->chunk_bits - EROFS_DISK_BLKBITS));
		break;
	case ERODATA_BLOCKS:
		di->i_u.raw_blkaddr = n->blkaddr;
		if (S_ISDIR(st->mode))
			di->i_size = (uint64_t)(n->nblocks - 1) * EROFS_DISK_BLKSZ + n->dir_tail;
		break;
	default:
		if (S_ISCHR(st->mode) || S_ISBLK(st->mode))
			di->i_u.rdev = (st->rdev_minor & 0xff) | (st->rdev_major << 8) |
			    ((st->rdev_minor & ~0xffu) << 12);
		else
			di->i_u.raw_blkaddr = EROFS_DISK_NULL_ADDR;
	}
}

/* The chunk indexes of a regular file: chunk k at block
 * data_offset / 512 + k * chunk_blocks of device layer + 1. */
static void
emit_chunks(const struct erofs_node *n, const struct clip_stat *st, uint8_t *dst)
{
	uint64_t first = st->data_offset / EROFS_DISK_BLKSZ;
	uint64_t step = (uint64_t)1 << (n->chunk_bits - EROFS_DISK_BLKBITS), k;

	for (k = 0; k < n->nchunks; k++) {
		struct erofs_disk_chunk_index ci = {
			.device_id = (uint16_t)(st->layer + 1),
			.blkaddr = (uint32_t)(first + k * step),
		};
		memcpy(dst + k * sizeof(ci), &ci, sizeof(ci));
	}
}

static clip_err
emit_dir(struct erofs_plan *p, uint32_t ino, uint8_t *buf, struct clip_error *err)
{
	const struct erofs_node *n = &p->nodes[ino];
	const struct erofs_dent *const *d;
	uint16_t tail;
	size_t count;
	clip_err rc = erofs_dir_entries(p, ino, &d, &count, err);

	if (rc != CLIP_OK)
		return rc;
	if (erofs_dir_layout(d, count, &tail) != n->nblocks || tail != n->dir_tail)
		return clip_error_set(err, CLIP_ERR_FORMAT,
		    "inode %u: directory changed between plan and write", ino);
	erofs_dir_fill(p, d, count, buf + (size_t)n->blkaddr * EROFS_DISK_BLKSZ);
	return CLIP_OK;
}

static clip_err
emit_data(struct erofs_plan *p, uint32_t ino, const struct clip_stat *st,
    uint8_t *buf, uint8_t *after_xattrs, uint8_t *rec, struct clip_error *err)
{
	const struct erofs_node *n = &p->nodes[ino];
	struct clip_str target = { "", 0 };

	if (n->kind == ERODATA_CHUNKS) {
		size_t at = erofs_round_up((size_t)(after_xattrs - rec),
		    sizeof(struct erofs_disk_chunk_index));
		emit_chunks(n, st, rec + at);
		return CLIP_OK;
	}
	if (S_ISDIR(st->mode))
		return emit_dir(p, ino, buf, err);
	if (S_ISLNK(st->mode)) {
		if (clip_index_readlink(p->idx, ino, &target) != CLIP_OK)
			return clip_error_set(err, CLIP_ERR_FORMAT, "inode %u: no target", ino);
		if (n->kind == ERODATA_INLINE)
			memcpy(after_xattrs, target.ptr, target.len);
		else
			memcpy(buf + (size_t)n->blkaddr * EROFS_DISK_BLKSZ, target.ptr,
			    target.len);
	}
	return CLIP_OK;
}

static clip_err
emit_inode(struct erofs_plan *p, uint32_t ino, uint8_t *buf, struct clip_error *err)
{
	const struct erofs_node *n = &p->nodes[ino];
	struct erofs_disk_inode di;
	struct clip_stat st;
	uint8_t *rec = buf + (size_t)p->meta_blkaddr * EROFS_DISK_BLKSZ +
	    (size_t)n->nid * EROFS_DISK_SLOT;

	if (clip_index_stat(p->idx, ino, &st) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_FORMAT, "inode %u unreadable", ino);
	fill_inode(n, ino, &st, &di);
	if (p->test_skew_mtime && S_ISREG(st.mode))
		di.i_mtime_nsec = (di.i_mtime_nsec + 1) % 1000000000u;
	memcpy(rec, &di, sizeof(di));
	erofs_xattr_fill(p->idx, ino, st.xattr_count, rec + sizeof(di));
	return emit_data(p, ino, &st, buf, rec + sizeof(di) + n->xattr_bytes, rec, err);
}

clip_err
erofs_emit(struct erofs_plan *p, uint8_t *buf, struct clip_error *err)
{
	uint32_t ino;

	emit_super(p, buf);
	emit_devices(p, buf);
	for (ino = CLIP_ROOT_INO; ino <= p->count; ino++) {
		clip_err rc = emit_inode(p, ino, buf, err);
		if (rc != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}
