/*
 * disk_cache.h - inflated spans on local disk, shared across mounts.
 *
 * An entry is keyed by layer digest, span index and the span's SHA-256,
 * so two images sharing a base layer share its entries, and an index
 * that describes a layer's spans differently never picks up the wrong
 * bytes.  The entry holds the INFLATED span behind a small header and a
 * table of SHA-256 hashes, one per 64 KiB block: a warm read costs a read
 * and a hash of only the blocks it touches (no inflate, no whole span),
 * and a damaged block or table is caught (the file is deleted and the
 * span refetched, never served).  The price is disk space: roughly the layer's uncompressed
 * size for a fully read layer.
 *
 * Only bytes that were already verified against the index are stored.
 * Files are written to a temporary name and renamed into place, so a
 * crash leaves at worst a stale temporary that a later open removes.
 * The directory is created 0700 and files 0600.
 *
 * Eviction is by total size, least recently accessed first; access times
 * are kept in memory and mirrored into each file's mtime so the order
 * survives a restart (the directory is scanned at open).  Several
 * processes may share a directory; each keeps its own size accounting,
 * so the bound is per process.
 *
 * After a write fails (disk full, I/O error, permissions) the cache stops
 * writing for good and only serves what it has: the caller degrades to
 * memory-only rather than failing reads.  All functions are thread-safe.
 */
#ifndef CLIP_DISK_CACHE_H
#define CLIP_DISK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

typedef struct disk_cache disk_cache;

struct disk_cache_key {
	const char *layer_digest;    /* "sha256:<hex>" */
	uint32_t span;               /* checkpoint index within the layer */
	const uint8_t *span_sha256;  /* 32 bytes: the compressed span's hash */
};

/*
 * Opens (creating it 0700 if needed; not its parents) the cache in dir,
 * learns its size, deletes stale temporaries and evicts down to
 * max_bytes.  CLIP_ERR_IO if dir cannot be created or read; *out is then
 * NULL.
 */
clip_err disk_cache_open(const char *dir, uint64_t max_bytes, disk_cache **out,
    struct clip_error *err);

/* Accepts NULL.  No get/put may be running. */
void disk_cache_close(disk_cache *dc);

/*
 * Looks up key, expecting len inflated bytes.  CLIP_OK: *data is a
 * malloc'ed copy (the caller frees it), already checked against the
 * header's hash.  CLIP_ERR_NOTFOUND: a miss; if the file was there but
 * damaged (short, wrong size, bad header, hash mismatch) it has been
 * deleted and *damaged is 1.  Other codes: NOMEM, IO on a read error.
 */
clip_err disk_cache_get(disk_cache *dc, const struct disk_cache_key *key, size_t len,
    uint8_t **data, int *damaged, struct clip_error *err);

/*
 * Reads bytes [off, off + n) of key's span (len bytes in all) into out,
 * checking only the blocks it touches.  Results as for disk_cache_get;
 * an entry that holds only a prefix of the span serves reads inside it
 * (disk_cache_get wants the whole span and misses on a prefix).  The
 * blocks read stay in the page cache, without readahead around them:
 * the kernel asks for a file in pieces, and the next piece is often in
 * the same block.  The caller drops them with disk_cache_drop_pages.
 */
clip_err disk_cache_read(disk_cache *dc, const struct disk_cache_key *key, size_t len,
    size_t off, size_t n, uint8_t *out, int *damaged, struct clip_error *err);

/* Drops key's file from the page cache (nothing if it is not there):
 * what is read from it is kept where it is served from, and its own
 * pages would be a second copy. */
void disk_cache_drop_pages(disk_cache *dc, const struct disk_cache_key *key);

/*
 * Stores len bytes for key, evicting older entries to make room: the
 * whole span, or a prefix of it (the first len bytes, from a partial
 * load).  An entry already there that is at least as long is kept.
 * *stored says whether a file was written: 0 when writes are off, the
 * entry alone exceeds the bound, or the digest cannot be a file name.
 * A write failure returns CLIP_ERR_IO (with the cause) and turns writes
 * off; later puts return CLIP_OK with *stored 0.
 */
clip_err disk_cache_put(disk_cache *dc, const struct disk_cache_key *key,
    const uint8_t *data, size_t len, int *stored, struct clip_error *err);

/* 1 if a file for key is there (whole or prefix; not checked). */
int disk_cache_contains(disk_cache *dc, const struct disk_cache_key *key);

/* 1 if a file for key holds the whole span of len bytes (by its size;
 * the bytes are checked when read). */
int disk_cache_holds(disk_cache *dc, const struct disk_cache_key *key, size_t len);

/* Bytes and files this process accounts for. */
void disk_cache_usage(disk_cache *dc, uint64_t *bytes, uint64_t *files);

#endif
