/*
 * gzindex.h - one pass over a layer blob that records gzip checkpoints.
 *
 * Feed the blob (gzip, one or more members, or an uncompressed tar) in
 * chunks of any size.  The indexer inflates it, hands every byte of
 * output to a callback in order, and records checkpoints (zran style: at
 * deflate block boundaries, with the bit offset and the 32 KiB of output
 * before the boundary) roughly every `span` bytes of output, plus where
 * the caller asks for one with clip_gzindex_mark().  For each span (the
 * compressed bytes between two checkpoints, see format.h) it computes the
 * SHA-256 while the bytes stream past, and it also computes the SHA-256
 * of the whole blob so the caller can check the layer digest, and the
 * SHA-256 of each 64 KiB piece of the blob (chunk hashes).
 *
 * An uncompressed layer gets CLIP_CHECKPOINT_STORED checkpoints every
 * `span` bytes (no window) so its ranges can be verified too.
 */
#ifndef CLIP_GZINDEX_H
#define CLIP_GZINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/format/format.h"
#include "common/format/index_write.h"

typedef struct clip_gzindex clip_gzindex;

/* Receives the uncompressed stream; out_offset is that of buf[0].  A
 * non-OK return stops the pass and comes back from clip_gzindex_feed(). */
typedef clip_err (*clip_gzindex_data_fn)(void *ctx, const uint8_t *buf, size_t len,
    uint64_t out_offset, struct clip_error *err);

/* compression: enum clip_compression.  span: target output bytes between
 * checkpoints (> 0). */
clip_err clip_gzindex_new(uint32_t compression, uint64_t span,
    clip_gzindex_data_fn fn, void *ctx, clip_gzindex **out, struct clip_error *err);
void clip_gzindex_free(clip_gzindex *gz);   /* accepts NULL */

clip_err clip_gzindex_feed(clip_gzindex *gz, const uint8_t *buf, size_t len,
    struct clip_error *err);

/*
 * Asks for a checkpoint at the last block boundary at or before
 * out_offset (typically: a big file's data starts there), so that reading
 * that data does not inflate what comes before it.  Only meaningful from
 * the data callback, for an offset at most a little behind the output
 * already produced; ignored when no such boundary is still known or when
 * it would be too close (16 KiB of output) to the previous checkpoint.
 * Ignored for an uncompressed layer, where a read can start anywhere.
 */
void clip_gzindex_mark(clip_gzindex *gz, uint64_t out_offset);

/*
 * Asks for a checkpoint at the first block boundary at or after
 * out_offset (typically: where a file's data ends), however close to the
 * previous checkpoint, so that the span holding the file ends soon after
 * it.  One request is remembered: a second one moves it to the later
 * offset.  Ignored for an uncompressed layer.
 */
void clip_gzindex_mark_after(clip_gzindex *gz, uint64_t out_offset);

/* End of the blob: CLIP_ERR_GZIP if the stream is incomplete, a trailer
 * does not match, or non-gzip bytes follow the last member. */
clip_err clip_gzindex_finish(clip_gzindex *gz, struct clip_error *err);

/* After finish (before it, or after an error: 0 checkpoints, NULL).
 * Checkpoint windows are uncompressed and owned by gz until
 * clip_gzindex_free(). */
size_t clip_gzindex_checkpoint_count(const clip_gzindex *gz);
const struct clip_checkpoint_info *clip_gzindex_checkpoint(const clip_gzindex *gz, size_t i);
uint64_t clip_gzindex_compressed_size(const clip_gzindex *gz);
uint64_t clip_gzindex_uncompressed_size(const clip_gzindex *gz);
/* A checkpoint's window, inflated into buf (CLIP_WINDOW_SIZE bytes):
 * the indexer keeps windows compressed (window_z).  Returns buf, or
 * ci->window when the caller gave one uncompressed, or NULL when the
 * checkpoint has no window or it does not inflate. */
const uint8_t *clip_checkpoint_info_window(const struct clip_checkpoint_info *ci, uint8_t *buf);

/* The SHA-256 of every byte fed. */
const uint8_t *clip_gzindex_blob_sha256(const clip_gzindex *gz);

/*
 * After finish: the SHA-256s (32 bytes each, *count of them) of the blob's
 * pieces of 1 << *chunk_shift bytes (CLIP_CHUNK_SHIFT: 64 KiB), aligned to
 * offset 0, the last one shorter: ceil(compressed size / chunk size) of
 * them, for clip_layer_info.chunk_sha256 (clip(5), CHUNKS).  Owned by gz.
 * Before finish or after an error: NULL, *count and *chunk_shift 0; NULL
 * with *count 0 and a non-zero *chunk_shift for an empty blob.  A blob of
 * more than 2^22 chunks (256 GiB) fails with CLIP_ERR_TOOBIG.
 */
const uint8_t *clip_gzindex_chunk_sha256s(const clip_gzindex *gz, size_t *count,
    uint32_t *chunk_shift);

#endif
