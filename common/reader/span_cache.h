/*
 * span_cache.h - inflated spans in memory: LRU with a byte bound, and
 * single-flight loading.
 *
 * A lookup either finds the span ready, or finds nobody loading it and
 * becomes its loader, or finds another thread loading it and waits for
 * that thread's result (the data, or the same error).  So N threads that
 * want one span cause one fetch, while different spans load in parallel
 * (the cache lock is never held during a load).
 *
 * Spans are reference counted: a span a caller holds is never freed,
 * even when that pushes the cache over its bound; the bound is enforced
 * again as soon as references are dropped.  A failed load leaves nothing
 * behind, so the next lookup tries again.
 */
#ifndef CLIP_SPAN_CACHE_H
#define CLIP_SPAN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

typedef struct span_cache span_cache;
struct span;

enum span_lookup {
	SPAN_READY,   /* *sp: a reference to a filled span */
	SPAN_LOAD,    /* *sp: a new entry the caller must fill or fail */
	SPAN_FAILED,  /* another thread's load failed: err holds its error */
};

/* max_bytes: the bound on the bytes of unreferenced spans kept.  *out is
 * NULL on failure (CLIP_ERR_NOMEM). */
clip_err span_cache_new(uint64_t max_bytes, span_cache **out, struct clip_error *err);

/* Frees every span.  No references may be held.  Accepts NULL. */
void span_cache_free(span_cache *c);

/*
 * Looks up key, waiting while another thread loads it.  *waited is set
 * to 1 if the call had to wait for another thread's load.  For
 * SPAN_FAILED, *sp is NULL; otherwise the caller owns one reference and
 * must pass it to span_cache_release() (or, for SPAN_LOAD, to
 * span_cache_fill() and then release, or to span_cache_fail()).
 */
enum span_lookup span_cache_get(span_cache *c, uint64_t key, struct span **sp,
    int *waited, struct clip_error *err);

/* Like span_cache_get for an absent key (a LOADING entry the caller must
 * fill or fail), but never waits: NULL if the key is present or being
 * loaded, or on ENOMEM.  For prefetching and runs, which skip what others
 * have. */
struct span *span_cache_try_claim(span_cache *c, uint64_t key);

/* 1 if key is ready or being loaded.  Takes no reference. */
int span_cache_contains(span_cache *c, uint64_t key);

/* Another reference to a span the caller holds (filled); returns s. */
struct span *span_cache_ref(span_cache *c, struct span *s);

/* A reference to key if it is ready, else NULL; never waits or loads. */
struct span *span_cache_peek(span_cache *c, uint64_t key);

/* Publishes a loaded span: data (malloc'ed, len bytes) now belongs to
 * the cache.  Wakes the waiters.  The caller keeps its reference. */
void span_cache_fill(span_cache *c, struct span *sp, uint8_t *data, size_t len);

/* Gives up a load: waiters get a copy of e; the entry is dropped, and so
 * is the caller's reference. */
void span_cache_fail(span_cache *c, struct span *sp, const struct clip_error *e);

/* Drops a reference.  Accepts NULL. */
void span_cache_release(span_cache *c, struct span *sp);

/* The data of a filled span, valid while the reference is held. */
const uint8_t *span_data(const struct span *sp);
size_t span_len(const struct span *sp);

/* Current totals, for statistics. */
void span_cache_usage(span_cache *c, uint64_t *bytes, uint64_t *count);

#endif
