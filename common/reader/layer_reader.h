/*
 * layer_reader.h - reading uncompressed layer bytes through the index.
 *
 * This is the mounter's read path without FUSE.  A read of bytes
 * [off, off + len) of a layer's tar stream (a file's data starts at its
 * clip_stat.data_offset) is served from the spans that cover it: from
 * memory, else from the disk cache, else by the loader (loader.c), which
 * fetches the span and the ones after it in one request, checks each
 * 64 KiB chunk against the index's chunk hashes as it arrives (or each
 * span against its SHA-256 where the index has no chunk hashes), inflates
 * from the span's checkpoint and publishes the bytes as they come out, so
 * the read is answered before its span is whole.  Bytes that fail a check
 * are never served nor cached.
 *
 * One reader serves one index and may be used from any number of
 * threads at once.  Threads that want the same span share one load;
 * loads run on a fixed pool of max_fetches threads, misses first.
 * There is no global state and nothing is printed: errors come back in
 * struct clip_error, and notable events (the disk cache giving up) go to
 * the warn callback.
 */
#ifndef CLIP_LAYER_READER_H
#define CLIP_LAYER_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/oci/blob_source.h"
#include "common/util/error.h"
#include "common/format/index.h"

typedef struct clip_reader clip_reader;

struct clip_reader_opts {
	/* Bound on inflated spans kept in memory beyond those in use (spans
	 * being read, and those waiting to be written to the disk cache, up
	 * to half the bound, are kept regardless); 0 keeps only those.
	 * Default 256 MiB. */
	uint64_t mem_cache_bytes;
	/* Loader threads, and so concurrent calls into the blob source,
	 * >= 1; two of them are kept for misses when there are three or
	 * more.  Default 8. */
	unsigned max_fetches;
	/* Disk cache directory (created 0700; its parent must exist), or
	 * NULL for none.  Default NULL.  If it cannot be opened the reader
	 * warns and runs memory-only. */
	const char *disk_cache_dir;
	/* Bound on the disk cache's files.  Default 4 GiB. */
	uint64_t disk_cache_bytes;
	/* Spans to load ahead when reads of a layer move sequentially from
	 * one span to the next; 0 turns readahead off.  Default 2. */
	unsigned readahead_spans;
	/* Spans after those a miss brings in, loaded in the background:
	 * files read one after another often lie in neighbouring spans of a
	 * layer, and loading the next one while the miss is served turns a
	 * later miss into a hit.  0 turns it off.  Default 1. */
	unsigned predict_spans;
	/* A miss fetches, in the same request, the spans from its own on
	 * (those not loaded yet) while their data adds up to at most this
	 * many bytes (its own span always; 16 spans at most), each usable as
	 * soon as its bytes come out.  Default 8 MiB; 0: the span alone. */
	uint64_t load_bytes;
	/* A span whose compressed or inflated size is larger than this is
	 * refused (CLIP_ERR_TOOBIG): the index is not trusted to size our
	 * allocations.  Default 256 MiB. */
	uint64_t max_span_bytes;
	/* Called (from any thread, possibly concurrently) with a one-line
	 * message worth logging.  NULL: no warnings. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/* Fills o with the defaults above. */
void clip_reader_opts_init(struct clip_reader_opts *o);

#define CLIP_READER_LATENCY_BUCKETS 32

/*
 * The reader's counters, each X(name, key, description): the one list
 * from which struct clip_reader_stats, its table below and both forms of
 * clipfs stats come (key: the member in clipfs stats --json, "a.b" for
 * member b of object a).  Counters only grow; gauges say how things are
 * now.
 */
#define CLIP_READER_COUNTERS(X) \
	X(reads, "reader_reads", "reads of layer bytes (one per FUSE read)") \
	X(bytes_served, "bytes_served", "bytes copied out to reads") \
	X(bytes_fetched, "bytes_fetched", "compressed bytes from the registry or layout") \
	X(fetch_requests, "requests", "requests to the registry or layout") \
	X(fetch_errors, "errors.fetch", "of which failed") \
	X(checksum_errors, "errors.checksum", "chunks or spans that did not match the index") \
	X(spans_inflated, "spans_inflated", "spans inflated") \
	X(stream_loads, "stream_loads", "of which served while their bytes arrived") \
	X(chunk_reuses, "chunk_reuses", "chunks at a request's edge taken from memory") \
	X(mem_hits, "cache.memory_hits", "span lookups ready in memory") \
	X(mem_misses, "cache.memory_misses", "span lookups not ready in memory") \
	X(mem_waits, "cache.memory_waits", "of which waited for a load under way") \
	X(disk_hits, "cache.disk_hits", "reads served from the disk cache") \
	X(disk_misses, "cache.disk_misses", "spans loaded that the disk cache lacked") \
	X(disk_damaged, "cache.disk_damaged", "disk cache files found damaged, deleted") \
	X(disk_writes, "cache.disk_writes", "spans written to the disk cache") \
	X(disk_errors, "errors.disk_cache", "disk cache failures (then memory only)") \
	X(readahead_spans, "readahead_spans", "spans loaded ahead of reads") \
	X(prefetch_spans, "prefetch_spans", "spans loaded by prefetch or background fetch") \
	X(prefetch_requests, "prefetch_requests", "requests of those")

#define CLIP_READER_GAUGES(X) \
	X(mem_bytes, "cache.memory_bytes", "inflated bytes in memory") \
	X(mem_spans, "cache.memory_spans", "spans in memory") \
	X(disk_bytes, "cache.disk_bytes", "bytes in the disk cache") \
	X(loads_queued, "loads_queued", "loads waiting for a loader thread") \
	X(loads_running, "loads_running", "loads under way") \
	X(disk_writes_pending, "cache.disk_writes_pending", "spans waiting for the disk cache")

/* A snapshot of the reader's counters (each read atomically; the set is
 * not one consistent instant). */
struct clip_reader_stats {
#define CLIP_READER_STAT_FIELD(name, key, what) uint64_t name;
	CLIP_READER_COUNTERS(CLIP_READER_STAT_FIELD)
	CLIP_READER_GAUGES(CLIP_READER_STAT_FIELD)
#undef CLIP_READER_STAT_FIELD
	/* Fetch latency: bucket b counts fetches that took [2^b, 2^(b+1))
	 * microseconds (bucket 0 also takes < 1 us, the last one the rest). */
	uint64_t fetch_latency_us[CLIP_READER_LATENCY_BUCKETS];
};

/* The fields of struct clip_reader_stats, in list order, for printing. */
struct clip_reader_stat_field {
	const char *name;
	const char *key;      /* in clipfs stats --json */
	const char *what;
	size_t offset;        /* of its uint64_t in struct clip_reader_stats */
	int gauge;
};
extern const struct clip_reader_stat_field clip_reader_stat_fields[];
extern const size_t clip_reader_stat_field_count;

/* The value of field f in s. */
uint64_t clip_reader_stat_value(const struct clip_reader_stats *s,
    const struct clip_reader_stat_field *f);

/*
 * Makes a reader over idx, fetching from src.  idx and the source must
 * outlive the reader; *src is copied.  o may be NULL for the defaults.
 * *out is NULL on failure (CLIP_ERR_INVALID for bad options,
 * CLIP_ERR_NOMEM).  A disk cache that cannot be opened is not a failure.
 */
clip_err clip_reader_new(const clip_index *idx, const struct clip_blob_source *src,
    const struct clip_reader_opts *o, clip_reader **out, struct clip_error *err);

/* No read may be running.  Waits for the loads under way (queued ones
 * are dropped) and the disk writes queued.  Accepts NULL. */
void clip_reader_free(clip_reader *r);

/*
 * Copies uncompressed bytes [off, off + len) of layer into buf, stopping
 * at the end of the layer; *got is the count copied (0 at or past the
 * end, which is not an error).  On error *got is what was copied before
 * it, and err says which layer and span failed: CLIP_ERR_INVALID (no
 * such layer), CLIP_ERR_CHECKSUM (the source's bytes do not match the
 * index), CLIP_ERR_GZIP, CLIP_ERR_TOOBIG, CLIP_ERR_NOMEM, or whatever
 * the blob source returned.  Errors are not cached: the next read tries
 * again.
 */
clip_err clip_reader_read(clip_reader *r, uint32_t layer, uint64_t off, size_t len,
    uint8_t *buf, size_t *got, struct clip_error *err);

/*
 * As clip_reader_read, for a read inside an extent of the layer (a file's
 * data) that ends at extent_end: readahead never loads spans that start
 * at or after it.
 */
clip_err clip_reader_read_extent(clip_reader *r, uint32_t layer, uint64_t off, size_t len,
    uint64_t extent_end, uint8_t *buf, size_t *got, struct clip_error *err);
/*
 * Loads spans [first, first + count) of layer into memory ahead of need,
 * and waits for them.  Spans in memory, being loaded, or on disk are
 * skipped; each run of consecutive missing spans is fetched with one
 * request of at most about max_request compressed bytes (0: no limit but
 * 64 spans), its spans published as their bytes come out.  Readers that
 * want a span being prefetched wait for it rather than fetch it again.
 * Returns the first error (the other spans are still tried).
 */
clip_err clip_reader_prefetch(clip_reader *r, uint32_t layer, uint32_t first, uint32_t count,
    uint64_t max_request, struct clip_error *err);

/* 1 if every span of layer is held: ready or loading in memory, or
 * whole in the disk cache (by size; the bytes are checked when read).
 * Never loads anything. */
int clip_reader_layer_held(clip_reader *r, uint32_t layer);

/*
 * Copies bytes [off, off + len) of layer, which must lie inside it, from
 * what the reader holds only: spans ready in memory, or the disk cache
 * (each 64 KiB block checked, as on a read).  Never loads, fetches or
 * fills the memory cache, and is not counted as a read: for copying
 * verified layers elsewhere (layer_file.h).  CLIP_ERR_NOTFOUND if a span
 * is not held (any more), CLIP_ERR_INVALID, CLIP_ERR_IO, CLIP_ERR_NOMEM.
 */
clip_err clip_reader_read_held(clip_reader *r, uint32_t layer, uint64_t off, size_t len,
    uint8_t *buf, struct clip_error *err);

/* Never waits for a load, a fetch or a disk write. */
void clip_reader_stats(const clip_reader *r, struct clip_reader_stats *out);

/* Waits until the loads and the disk cache writes queued so far are
 * done (a loaded span goes to the disk cache from a writer thread, after
 * the read that loaded it has its bytes).  For tests. */
void clip_reader_flush(clip_reader *r);

/* The upper bound (us) of the latency bucket holding the p-th quantile
 * (0 < p <= 1) of fetches; 0 if there were none. */
uint64_t clip_reader_stats_latency_quantile(const struct clip_reader_stats *s, double p);

#endif
