/*
 * layer_reader_int.h - what layer_reader.c shares with span_stream.c,
 * which loads a span while its bytes arrive.  Not an API.
 */
#ifndef CLIP_LAYER_READER_INT_H
#define CLIP_LAYER_READER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/reader/disk_cache.h"
#include "common/reader/layer_reader.h"
#include "common/reader/work_queue.h"
#include "common/reader/span_cache.h"

struct counters {
	atomic_uint_least64_t reads, bytes_served, bytes_fetched, fetch_requests,
	    fetch_errors, checksum_errors, spans_inflated, mem_hits, mem_misses,
	    mem_waits, disk_hits, disk_misses, disk_damaged, disk_writes, disk_errors,
	    readahead_spans, prefetch_spans, prefetch_requests, partial_loads,
	    stream_loads;
	atomic_uint_least64_t latency[CLIP_READER_LATENCY_BUCKETS];
};

struct clip_reader {
	const clip_index *idx;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	span_cache *mem;
	disk_cache *disk;
	work_queue *ra;
	work_queue *writer;      /* disk cache writes, off the reader's path */
	/* Bytes of spans queued for the writer (each pinned in memory until
	 * written), and the most it may hold before loads write their own. */
	atomic_uint_least64_t write_backlog;
	uint64_t write_backlog_max;

	/* A counting semaphore on calls into the blob source. */
	pthread_mutex_t fetch_lock;
	pthread_cond_t fetch_free;
	unsigned fetching;

	/* Per layer: the last span the previous read touched (NO_SPAN). */
	atomic_uint_least32_t *last_span;
	uint32_t nlayers;

	atomic_int disk_warned;
	struct counters c;

	/* Streamed loads running (span_stream.c): each has a thread; those
	 * not yet done are on the active list, for other reads to join. */
	pthread_mutex_t stream_lock;
	pthread_cond_t stream_idle;
	unsigned streams;
	struct stream *active;
	atomic_uint nactive;    /* on the list: a read checks this first */
	/* Helper threads that have ended and wait to be joined: by the next
	 * load that starts one, or by reader_streams_wait.  Those not yet
	 * joined are streams + nended; there is always room for all of them
	 * (ended_reserve). */
	pthread_t *ended;
	size_t nended, ended_cap;
};

#define COUNT(r, field, n) atomic_fetch_add_explicit(&(r)->c.field, (n), memory_order_relaxed)

uint64_t reader_span_key(uint32_t layer, uint32_t span);
/* The disk cache key of span i of L, whose checkpoint is cp. */
struct disk_cache_key reader_disk_key(const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp);
/* One call into the source, inside a fetch slot, timed and counted;
 * progress (or NULL) as for clip_blob_source.fetch_progress. */
clip_err reader_fetch(clip_reader *r, const char *digest, uint64_t off, size_t len,
    uint8_t *buf, clip_fetch_progress_fn progress, void *arg, struct clip_error *err);
/* Checks buf, the layer's compressed bytes [from, from + len) with from
 * chunk-aligned, against the chunk hashes. */
clip_err reader_verify_chunks(clip_reader *r, const struct clip_layer *L, uint64_t from,
    const uint8_t *buf, size_t len, struct clip_error *err);
/* Checks a span's compressed bytes against its hash and inflates them.
 * Takes comp (freed, or handed on as *data for a stored span). */
clip_err reader_verify_and_inflate(clip_reader *r, const struct clip_checkpoint *cp,
    uint32_t i, uint8_t *comp, size_t comp_len, uint8_t **data, struct clip_error *err);
/* Queues span i (sp, filled, held by the caller) for the disk cache. */
void reader_disk_store_later(clip_reader *r, const struct clip_layer *L, uint32_t i,
    struct span *sp);

/* A read missed span i of L, whose fetch brings in the next `after`
 * spans too: queues the predict_spans spans after those. */
void reader_predict(clip_reader *r, const struct clip_layer *L, uint32_t i, unsigned after);

/*
 * span_stream.c.  A foreground read of [at, at + n) of span i of L,
 * which found the span absent and claimed it (sp, loading): when the
 * source can report progress and the index has chunk hashes, a helper
 * thread takes the load over and the read returns as soon as its bytes
 * are verified and inflated, copied to dst.  The same fetch brings in
 * the spans after i that are nowhere yet, while the data of all adds up
 * to at most load_bytes (each joinable, and published as soon as it is
 * whole); a read (n > 0) then queues its predicted spans after those.
 * n == 0: a background load of span i alone.  1: taken over (*rc is the
 * read's result, err its error; sp is the helper's now); 0: not
 * streamed, the caller loads sp as usual.
 */
#define READER_RUN_MAX 16
int reader_stream(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, struct span *sp, uint64_t load_bytes, uint64_t at, size_t n,
    uint8_t *dst, clip_err *rc, struct clip_error *err);
/* A read of [at, at + n) of span i of layer that another read's streamed
 * load is bringing in: waits on that load as its starter does (same
 * result as reader_stream's 1).  0: no such load. */
int reader_stream_join(clip_reader *r, uint32_t layer, uint32_t i, uint64_t at, size_t n,
    uint8_t *dst, clip_err *rc, struct clip_error *err);
/* Waits until no streamed load is running. */
void reader_streams_wait(clip_reader *r);

#endif
