/*
 * reader_held.c - reading only what the reader already holds (memory or
 * the disk cache), for copying whole layers into layer files
 * (layer_file.h) without fetching anything or disturbing the caches.
 */
#include "config.h"

#include <string.h>

#include "common/reader/reader_int.h"

int
clip_reader_layer_held(clip_reader *r, uint32_t layer)
{
	struct clip_checkpoint cp;
	struct disk_cache_key key;
	struct clip_layer L;
	uint32_t i;

	if (r == NULL || clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return 0;
	for (i = 0; i < L.checkpoint_count; i++) {
		if (clip_index_checkpoint(r->idx, layer, i, &cp) != CLIP_OK)
			return 0;
		key = reader_disk_key(&L, i, &cp);
		if (!(r->disk != NULL && disk_cache_holds(r->disk, &key,
		    (size_t)(cp.out_end - cp.out_offset))) &&
		    !span_cache_contains(r->mem, reader_span_key(layer, i)))
			return 0;
	}
	return 1;
}

/* Bytes [at, at + n) of span i from memory (a ready span only) or from
 * the disk cache.  CLIP_ERR_NOTFOUND if neither holds them. */
static clip_err
held_span(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, uint64_t at, size_t n, uint8_t *out,
    struct clip_error *err)
{
	struct span *sp = span_cache_peek(r->mem, reader_span_key(L->index, i));
	struct disk_cache_key key;
	int damaged = 0;
	clip_err rc;

	if (sp != NULL) {
		memcpy(out, span_data(sp) + at, n);
		span_cache_release(r->mem, sp);
		return CLIP_OK;
	}
	if (r->disk == NULL)
		return clip_error_set(err, CLIP_ERR_NOTFOUND, "layer %s: span %u is not held",
		    L->digest.ptr, i);
	key = reader_disk_key(L, i, cp);
	rc = disk_cache_read(r->disk, &key, (size_t)(cp->out_end - cp->out_offset), (size_t)at, n,
	    out, &damaged, err);
	if (damaged) {
		COUNT(r, disk_damaged, 1);
		reader_warn(r, "disk cache: layer %s span %u was damaged; deleted", L->digest.ptr, i);
	}
	if (rc == CLIP_ERR_NOTFOUND)
		return clip_error_set(err, CLIP_ERR_NOTFOUND, "layer %s: span %u is not held",
		    L->digest.ptr, i);
	return rc;
}

clip_err
clip_reader_read_held(clip_reader *r, uint32_t layer, uint64_t off, size_t len, uint8_t *buf,
    struct clip_error *err)
{
	struct clip_layer L;
	struct clip_checkpoint cp;
	uint64_t end, pos, n;
	uint32_t i;
	clip_err rc;

	if (r == NULL || clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "read: no layer %u", layer);
	if (off > L.uncompressed_size || len > L.uncompressed_size - off)
		return clip_error_set(err, CLIP_ERR_INVALID, "read: past the end of layer %u", layer);
	if (len == 0)
		return CLIP_OK;
	end = off + len;
	if (clip_index_find_checkpoint(r->idx, layer, off, &i) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_FORMAT, "layer %s: no span holds offset %llu",
		    L.digest.ptr, (unsigned long long)off);
	for (pos = off; pos < end; i++, pos += n) {
		if ((rc = reader_span_at(r, &L, i, pos, &cp, err)) != CLIP_OK)
			return rc;
		n = (end < cp.out_end ? end : cp.out_end) - pos;
		rc = held_span(r, &L, i, &cp, pos - cp.out_offset, (size_t)n, buf + (pos - off), err);
		if (rc != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}
