/*
 * erofs_write.c - clip_erofs_write(): plan, place, emit, write.
 *
 * The image is built in one zeroed buffer: its size is known once every
 * record is planned, and it grows with the index's entries only (file
 * data stays in the layers).  Every count that sizes it comes from the
 * index's checked sections, and every block address is checked to fit
 * EROFS's 32 bits before anything is written.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/erofs/erofs_int.h"


uint64_t
clip_erofs_device_size(const clip_index *idx, uint32_t layer)
{
	struct clip_layer l;

	if (clip_index_layer(idx, layer, &l) != CLIP_OK ||
	    l.uncompressed_size > UINT64_MAX - EROFS_DISK_BLKSZ)
		return 0;
	return erofs_round_up(l.uncompressed_size, EROFS_DISK_BLKSZ);
}

/* Directory and long symlink blocks go after the metadata area, in
 * inode order; then checks that every device fits 32-bit addresses. */
static clip_err
place_data(struct erofs_plan *p, struct clip_error *err)
{
	uint64_t next, mapped;
	uint32_t ino, i;

	next = p->meta_blkaddr + erofs_round_up(p->meta_bytes, EROFS_DISK_BLKSZ) /
	    EROFS_DISK_BLKSZ;
	for (ino = CLIP_ROOT_INO; ino <= p->count; ino++) {
		struct erofs_node *n = &p->nodes[ino];
		if (n->kind != ERODATA_BLOCKS)
			continue;
		if (next + n->nblocks >= EROFS_MAX_BLOCKS)
			break;
		n->blkaddr = (uint32_t)next;
		next += n->nblocks;
		p->data_blocks += n->nblocks;
	}
	p->primary_blocks = next;
	if (ino <= p->count || next >= EROFS_MAX_BLOCKS)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "the EROFS image passes 2^32 blocks");
	/* Each device's range after the image (erofs_emit.c, emit_devices). */
	mapped = next;
	for (i = 0; i < p->layers; i++) {
		struct clip_layer l;
		if (clip_index_layer(p->idx, i, &l) != CLIP_OK)
			return clip_error_set(err, CLIP_ERR_FORMAT, "layer %u unreadable", i);
		if (l.uncompressed_size > EROFS_MAX_BLOCKS * EROFS_DISK_BLKSZ)
			return clip_error_set(err, CLIP_ERR_TOOBIG,
			    "layer %u passes 2^32 blocks of 512 bytes (2 TiB)", i);
		mapped += erofs_round_up(l.uncompressed_size, EROFS_DISK_BLKSZ) / EROFS_DISK_BLKSZ;
		if (mapped >= EROFS_MAX_BLOCKS)
			return clip_error_set(err, CLIP_ERR_TOOBIG,
			    "layers 0..%u pass 2^32 blocks of 512 bytes (2 TiB)", i);
	}
	return CLIP_OK;
}

static clip_err
write_all(int fd, const uint8_t *buf, size_t len, struct clip_error *err)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len > (1u << 30) ? (1u << 30) : len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return clip_error_set(err, CLIP_ERR_IO, "writing the EROFS image: %s",
			    n < 0 ? strerror(errno) : "short write");
		buf += n;
		len -= (size_t)n;
	}
	return CLIP_OK;
}

static clip_err
plan_init(struct erofs_plan *p, const clip_index *idx,
    const struct clip_erofs_opts *opts, struct clip_error *err)
{
	uint64_t head;

	memset(p, 0, sizeof(*p));
	p->idx = idx;
	p->count = clip_index_inode_count(idx);
	p->layers = clip_index_layer_count(idx);
	p->max_chunk_bits = CLIP_EROFS_CHUNK_BITS_DEFAULT;
	if (opts && opts->max_chunk_bits) {
		if (opts->max_chunk_bits < CLIP_EROFS_CHUNK_BITS_MIN ||
		    opts->max_chunk_bits > CLIP_EROFS_CHUNK_BITS_MAX)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "chunk size 2^%u is not in 2^%u..2^%u", opts->max_chunk_bits,
			    CLIP_EROFS_CHUNK_BITS_MIN, CLIP_EROFS_CHUNK_BITS_MAX);
		p->max_chunk_bits = opts->max_chunk_bits;
	}
	p->test_skew_mtime = opts ? opts->test_skew_mtime : 0;
	if (p->count < CLIP_ROOT_INO)
		return clip_error_set(err, CLIP_ERR_FORMAT, "the index has no root");
	if (p->layers > UINT16_MAX - 1)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "%u layers: EROFS has at most %u extra devices", p->layers, UINT16_MAX - 1);
	/* Superblock, then the device table, then the metadata area. */
	head = EROFS_DISK_SB_OFFSET + sizeof(struct erofs_disk_super) +
	    (uint64_t)p->layers * sizeof(struct erofs_disk_device);
	p->meta_blkaddr = (uint32_t)(erofs_round_up(head, EROFS_DISK_BLKSZ) / EROFS_DISK_BLKSZ);
	p->nodes = calloc((size_t)p->count + 1, sizeof(*p->nodes));
	if (!p->nodes)
		return clip_error_set(err, CLIP_ERR_NOMEM, "%u inodes", p->count);
	return CLIP_OK;
}

static void
plan_free(struct erofs_plan *p)
{
	free(p->nodes);
	free(p->dents);
	free(p->sorted);
}

static void
fill_info(const struct erofs_plan *p, struct clip_erofs_info *info)
{
	info->image_size = p->primary_blocks * EROFS_DISK_BLKSZ;
	info->inode_count = p->count;
	info->meta_bytes = p->meta_bytes;
	info->data_blocks = p->data_blocks;
	info->chunk_indexes = p->chunk_indexes;
	info->device_count = p->layers;
}

clip_err
clip_erofs_write(const clip_index *idx, int out_fd,
    const struct clip_erofs_opts *opts, struct clip_erofs_info *info,
    struct clip_error *err)
{
	struct erofs_plan p;
	uint8_t *buf = NULL;
	size_t len;
	clip_err rc;

	if (info)
		memset(info, 0, sizeof(*info));
	rc = plan_init(&p, idx, opts, err);
	if (rc == CLIP_OK)
		rc = erofs_plan_inodes(&p, err);
	if (rc == CLIP_OK)
		rc = place_data(&p, err);
	if (rc == CLIP_OK && p.nodes[CLIP_ROOT_INO].nid > UINT16_MAX)
		rc = clip_error_set(err, CLIP_ERR_FORMAT, "the root's nid passes 16 bits");
	if (rc == CLIP_OK && p.primary_blocks > SIZE_MAX / EROFS_DISK_BLKSZ)
		rc = clip_error_set(err, CLIP_ERR_TOOBIG, "the EROFS image is too big");
	if (rc == CLIP_OK) {
		len = (size_t)p.primary_blocks * EROFS_DISK_BLKSZ;
		buf = calloc(1, len);
		if (!buf)
			rc = clip_error_set(err, CLIP_ERR_NOMEM, "an EROFS image of %zu bytes", len);
	}
	if (rc == CLIP_OK)
		rc = erofs_emit(&p, buf, err);
	if (rc == CLIP_OK)
		rc = write_all(out_fd, buf, len, err);
	if (rc == CLIP_OK && info)
		fill_info(&p, info);
	free(buf);
	plan_free(&p);
	return rc;
}
