/*
 * layer_scan.h - the one pass over a layer blob: verify its digest,
 * inflate it while recording checkpoints, and parse its tar stream into
 * entries.  Bytes go in as they arrive from the registry or the disk.
 */
#ifndef CLIP_INDEXER_LAYER_SCAN_H
#define CLIP_INDEXER_LAYER_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/gzip/gzindex.h"
#include "indexer/entry.h"

struct layer_scan;

/*
 * compression: enum clip_compression.  span: checkpoint spacing in
 * uncompressed bytes.  big_file: a regular file at least this large gets
 * a checkpoint of its own just before its data (0: never).  mark_paths:
 * nmark_paths sorted paths (or NULL) whose regular files get a checkpoint
 * just before their data and one at the first block boundary after it.
 */
clip_err layer_scan_new(uint32_t compression, uint64_t span, uint64_t big_file,
    const char *const *mark_paths, size_t nmark_paths, struct layer_scan **out,
    struct clip_error *err);
void layer_scan_free(struct layer_scan *s);   /* accepts NULL */

clip_err layer_scan_feed(struct layer_scan *s, const uint8_t *buf, size_t len,
    struct clip_error *err);

/* End of the blob.  digest ("sha256:<hex>") is checked against what was
 * fed: CLIP_ERR_CHECKSUM on a mismatch. */
clip_err layer_scan_finish(struct layer_scan *s, const char *digest, struct clip_error *err);

/* After finish: the entries (owned by s) and the checkpoints. */
const struct layer_entries *layer_scan_entries(const struct layer_scan *s);
const clip_gzindex *layer_scan_gzindex(const struct layer_scan *s);

/* Frees the entries once they are merged (the checkpoints stay). */
void layer_scan_drop_entries(struct layer_scan *s);

/* Maps a layer media type to a compression; CLIP_ERR_UNSUPPORTED (naming
 * it) for zstd and anything unknown. */
clip_err layer_media_compression(const char *media_type, uint32_t *compression,
    struct clip_error *err);

#endif
