/*
 * layer_reader.h - reading uncompressed layer bytes through the index.
 *
 * This is the mounter's read path without FUSE.  A read of bytes
 * [off, off + len) of a layer's tar stream (a file's data starts at its
 * clip_stat.data_offset) is served from the spans that cover it.  A span
 * not in memory is looked up in the disk cache, else its compressed bytes
 * are fetched from the blob source with one call, checked against the
 * span's SHA-256 from the index, and inflated whole from its checkpoint.
 * Bytes that fail the check are never served nor cached.
 *
 * One reader serves one index and may be used from any number of
 * threads at once.  Threads that want the same span share one fetch;
 * different spans are fetched in parallel, at most max_fetches at a time.
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
	/* Bound on inflated spans kept in memory (spans being read, and up
	 * to 8 waiting to be written to the disk cache, are kept regardless).
	 * Default 256 MiB. */
	uint64_t mem_cache_bytes;
	/* Concurrent calls into the blob source, >= 1.  Default 8. */
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
	/* Spans after a span that a read misses, loaded alongside it in the
	 * background (by the readahead threads): files read one after
	 * another often lie in neighbouring spans of a layer, and loading
	 * the next one while the miss is served turns a later miss into a
	 * hit.  0 turns it off.  Default 1. */
	unsigned predict_spans;
	/* A streamed miss fetches, in the same request, the spans from its
	 * own on (those not loaded yet) while their data adds up to at most
	 * this many bytes (its own span always; 16 spans at most), each
	 * usable as soon as it is whole.  With an index of small spans a
	 * miss then starts inflating close to the read and still brings in
	 * what follows.  Default 8 MiB; 0: the span alone. */
	uint64_t load_bytes;
	/* 1: a read that needs only the start of a span not yet loaded
	 * fetches and inflates only that start, when the index has chunk
	 * hashes to verify it with; 0: always whole spans.  Default 0: on
	 * the cold-start benchmark's Python imports nearly every prefix was
	 * extended to the whole span by a later read, so it saved ~5% of
	 * the bytes for ~40% more requests (bench/COLDSTART.md). */
	unsigned partial_loads;
	/* 1: a read that misses may be answered while its span is still
	 * arriving, when the source reports progress and the index has chunk
	 * hashes (the fetch then covers the chunks around the span: up to
	 * 128 KiB more).  Default 1. */
	unsigned stream_loads;
	/* Background loader threads for readahead.  Default 2. */
	unsigned readahead_threads;
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

/* A snapshot of the reader's counters (each read atomically; the set is
 * not one consistent instant). */
struct clip_reader_stats {
	uint64_t reads;              /* clip_reader_read() calls */
	uint64_t bytes_served;       /* bytes copied out to callers */
	uint64_t bytes_fetched;      /* compressed bytes from the blob source */
	uint64_t fetch_requests;     /* calls into the blob source */
	uint64_t fetch_errors;       /* of which failed */
	uint64_t checksum_errors;    /* fetched spans that failed the SHA-256 check */
	uint64_t spans_inflated;
	uint64_t mem_hits;           /* span lookups found ready in memory */
	uint64_t mem_misses;         /* ... not ready (loaded, or waited for) */
	uint64_t mem_waits;          /* misses that waited for another thread's load */
	uint64_t disk_hits;
	uint64_t disk_misses;
	uint64_t disk_damaged;       /* cache files found damaged and deleted */
	uint64_t disk_writes;        /* spans written to the disk cache */
	uint64_t disk_errors;        /* open/write failures (cache then memory-only) */
	uint64_t readahead_spans;    /* spans loaded by work_queue */
	uint64_t prefetch_spans;     /* spans loaded by clip_reader_prefetch */
	uint64_t prefetch_requests;  /* its (merged) fetches */
	uint64_t partial_loads;      /* span prefixes loaded for reads near a span's start */
	uint64_t stream_loads;       /* spans inflated while they arrived (span_stream.c) */
	uint64_t mem_bytes;          /* now: inflated bytes in memory */
	uint64_t mem_spans;          /* now: spans in memory */
	uint64_t disk_bytes;         /* now: bytes in the disk cache */
	uint64_t stream_threads;     /* now: helper threads not yet joined */
	/* Fetch latency: bucket b counts fetches that took [2^b, 2^(b+1))
	 * microseconds (bucket 0 also takes < 1 us, the last one the rest). */
	uint64_t fetch_latency_us[CLIP_READER_LATENCY_BUCKETS];
};

/*
 * Makes a reader over idx, fetching from src.  idx and the source must
 * outlive the reader; *src is copied.  o may be NULL for the defaults.
 * *out is NULL on failure (CLIP_ERR_INVALID for bad options,
 * CLIP_ERR_NOMEM).  A disk cache that cannot be opened is not a failure.
 */
clip_err clip_reader_new(const clip_index *idx, const struct clip_blob_source *src,
    const struct clip_reader_opts *o, clip_reader **out, struct clip_error *err);

/* No read may be running.  Waits for readahead in progress.  Accepts NULL. */
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
 * Loads spans [first, first + count) of layer into the caches ahead of
 * need.  Spans already in memory, being loaded, or on disk are skipped;
 * each run of consecutive missing spans is fetched with one request of
 * at most about max_request compressed bytes (0: no limit but 64 spans),
 * then every span is verified and inflated on its own.  Readers that want
 * a span being prefetched wait for it rather than fetch it again.
 * Returns the first error (the other spans are still tried).
 */
clip_err clip_reader_prefetch(clip_reader *r, uint32_t layer, uint32_t first, uint32_t count,
    uint64_t max_request, struct clip_error *err);

void clip_reader_stats(const clip_reader *r, struct clip_reader_stats *out);

/* Waits until the disk cache writes queued so far are done (a loaded
 * span goes to the disk cache from a writer thread, after the read that
 * loaded it has its bytes).  For statistics that add up, and tests. */
void clip_reader_flush(clip_reader *r);

/* The upper bound (us) of the latency bucket holding the p-th quantile
 * (0 < p <= 1) of fetches; 0 if there were none. */
uint64_t clip_reader_stats_latency_quantile(const struct clip_reader_stats *s, double p);

#endif
