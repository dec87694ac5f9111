/*
 * reader_int.h - what layer_reader.c (reads, caches, statistics) shares
 * with loader.c (loads).  Not an API.
 */
#ifndef CLIP_READER_INT_H
#define CLIP_READER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "common/reader/disk_cache.h"
#include "common/reader/layer_reader.h"
#include "common/reader/span_cache.h"
#include "common/reader/work_queue.h"

struct counters {
#define COUNTER_FIELD(name, key, what) atomic_uint_least64_t name;
	CLIP_READER_COUNTERS(COUNTER_FIELD)
#undef COUNTER_FIELD
	atomic_uint_least64_t latency[CLIP_READER_LATENCY_BUCKETS];
};

struct clip_reader {
	const clip_index *idx;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	span_cache *mem;        /* inflated spans, by reader_span_key */
	span_cache *chunks;     /* verified compressed chunks at the edges of
	                         * requests, by reader_chunk_key; NULL without
	                         * chunk hashes */
	disk_cache *disk;
	const char *disk_dir;   /* the caller's, while the reader starts */
	work_queue *loads;      /* the loader's threads */
	work_queue *writer;     /* disk cache writes, off the reader's path */
	/* Bytes of spans queued for the writer (each pinned in memory until
	 * written), and the most it may hold before loads write their own. */
	atomic_uint_least64_t write_backlog;
	atomic_uint_least64_t writes_pending;
	uint64_t write_backlog_max;
	atomic_uint_least64_t load_seq;   /* loads started, for their order */
	/* Per layer: the last span the previous read touched (NO_SPAN). */
	atomic_uint_least32_t *last_span;
	/* Per layer: the span files whose pages disk reads left cached
	 * (kept_pages.c), under kept_lock. */
	struct kept_spans *kept;
	pthread_mutex_t kept_lock;
	uint32_t nlayers;
	atomic_int disk_warned;
	struct counters c;
};

#define NO_SPAN UINT32_MAX

/* Span files per layer that keep their pages after a disk read: python's
 * imports, for one, alternate between a few spans of a layer. */
#define KEPT_SPANS 4
struct kept_spans {
	uint32_t span[KEPT_SPANS];   /* NO_SPAN: free */
	unsigned next;               /* the slot to reuse next */
};
#define COUNT(r, field, n) atomic_fetch_add_explicit(&(r)->c.field, (n), memory_order_relaxed)

uint64_t reader_span_key(uint32_t layer, uint32_t span);
/* The disk cache key of span i of L, whose checkpoint is cp. */
struct disk_cache_key reader_disk_key(const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp);

/* kept_pages.c: the span files whose pages a disk read leaves cached.
 * init: 0, or -1 out of memory.  note: span i of L was just read from
 * the disk cache.  free: drops every kept file's pages (before the disk
 * cache closes). */
int kept_pages_init(clip_reader *r);
void kept_pages_note(clip_reader *r, const struct clip_layer *L, uint32_t i);
void kept_pages_free(clip_reader *r);
/* Span i of L into *cp, which must hold offset pos (CLIP_ERR_FORMAT if
 * the index's spans do not). */
clip_err reader_span_at(clip_reader *r, const struct clip_layer *L, uint32_t i, uint64_t pos,
    struct clip_checkpoint *cp, struct clip_error *err);
/* Whether span s of L is worth loading ahead of need: not in memory or
 * being loaded, and not on disk (where reads are served from the blocks
 * they touch). */
int reader_worth_loading(clip_reader *r, const struct clip_layer *L, uint32_t s,
    const struct clip_checkpoint *cp);
/* Queues filled span i (sp, held by the caller) for the disk cache. */
void reader_disk_store_later(clip_reader *r, const struct clip_layer *L, uint32_t i,
    struct span *sp);
void reader_warn(clip_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* loader.c */

enum load_kind {
	LOAD_MISS,       /* a read waits for its first span: urgent */
	LOAD_PREFETCH,   /* clip_reader_prefetch waits for it */
	LOAD_AHEAD,      /* readahead or predict: a hint, dropped when the queue is full */
};

/* Most spans one load takes. */
#define LOAD_MAX_SPANS 64

/* Where a load says it is done (for clip_reader_prefetch, which waits):
 * init with loader_done_init, wait with loader_done_wait. */
struct load_done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished;
	uint32_t next;           /* the first span after those the load took */
	clip_err rc;             /* its first error */
	struct clip_error err;
};

void loader_done_init(struct load_done *d);
/* Waits until the load is over; frees what init made.  Returns d->rc. */
clip_err loader_done_wait(struct load_done *d);

/*
 * Queues a load of the spans of L from first (before end) as one
 * request: at most max_spans of them, their inflated bytes adding up to
 * at most max_out (the first always) and their compressed bytes to at
 * most max_comp (0: no bound).
 *
 * LOAD_MISS: claimed is the caller's claim of span first; it and the
 * spans after it that are worth loading are claimed now, and *want is a
 * reference to span first's entry for the caller to wait on (NULL if
 * the load could not be queued: the claim has then failed).  Returns
 * the spans taken.
 *
 * Other kinds (claimed NULL): the spans are claimed when the load runs,
 * starting at the first one worth loading, so that a read that wants one
 * of them before then loads it itself rather than wait behind background
 * work.  done (or NULL) is told when the load is over.  Returns 1 if
 * queued, 0 if not (done is then told at once).
 */
unsigned loader_start(clip_reader *r, const struct clip_layer *L, uint32_t first, uint32_t end,
    struct span *claimed, unsigned max_spans, uint64_t max_out, uint64_t max_comp,
    enum load_kind kind, struct span **want, struct load_done *done);

#endif
