/*
 * span_cache.h - byte buffers in memory by 64-bit key (the reader's
 * inflated spans, and its verified compressed chunks): LRU with a byte
 * bound, and single-flight loading.
 *
 * A lookup finds the entry ready, or finds nobody loading it and becomes
 * its loader, or finds another thread loading it and may wait for as
 * many of its first bytes as it needs (a loader publishes its bytes as
 * they become final), or for the load's error.  So N threads that want
 * one span cause one fetch, while different spans load in parallel (the
 * cache lock is never held during a load).
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
	SPAN_READY,    /* *sp: a reference to a filled span */
	SPAN_LOADING,  /* *sp: a reference to a span another thread loads (span_cache_wait) */
	SPAN_CLAIMED,  /* *sp: a new entry the caller must load (begin, advance, fill) or
	                * give up (fail, abandon) */
	SPAN_NOMEM,    /* *sp NULL: no memory for a new entry */
};

/* max_bytes: the bound on the bytes of unreferenced spans kept.  *out is
 * NULL on failure (CLIP_ERR_NOMEM). */
clip_err span_cache_new(uint64_t max_bytes, span_cache **out, struct clip_error *err);

/* Frees every span.  No references may be held.  Accepts NULL. */
void span_cache_free(span_cache *c);

/*
 * Looks key up; never waits.  For every result but SPAN_NOMEM the caller
 * owns one reference, to be passed to span_cache_release() (a claimed
 * entry: to span_cache_fill() and then release, or to span_cache_fail()
 * or span_cache_abandon()).
 */
enum span_lookup span_cache_lookup(span_cache *c, uint64_t key, struct span **sp);

/* Claims key if it is absent: a new entry as for SPAN_CLAIMED, or NULL
 * if the key is present or being loaded (or on ENOMEM).  For loads that
 * skip what others have. */
struct span *span_cache_try_claim(span_cache *c, uint64_t key);

enum span_wait {
	SPAN_WAIT_OK,      /* span_data(sp)[0, need) are final */
	SPAN_WAIT_FAILED,  /* the load failed: err holds its error */
	SPAN_WAIT_GONE,    /* the loader gave up the entry: look the key up again */
};

/* Waits, holding a reference from a lookup, until the first need bytes
 * of sp are final (the span is filled, or its loader has advanced that
 * far), or its load ends otherwise.  The reference stays the caller's. */
enum span_wait span_cache_wait(span_cache *c, struct span *sp, size_t need,
    struct clip_error *err);

/* The loader of a claimed entry: buf (malloc'ed, len bytes) is where the
 * span's bytes land, the entry's from now on; span_cache_advance says
 * that buf[0, avail) are final, which wakes the waiters that need no
 * more.  Bytes below avail are never written again. */
void span_cache_begin(span_cache *c, struct span *sp, uint8_t *buf, size_t len);
void span_cache_advance(span_cache *c, struct span *sp, size_t avail);

/* 1 if key is ready or being loaded.  Takes no reference. */
int span_cache_contains(span_cache *c, uint64_t key);

/* Another reference to a span the caller holds (filled); returns s. */
struct span *span_cache_ref(span_cache *c, struct span *s);

/* A reference to key if it is ready, else NULL; never waits or loads. */
struct span *span_cache_peek(span_cache *c, uint64_t key);

/* Publishes a loaded span: data (malloc'ed, len bytes; the buffer given
 * to span_cache_begin, or another one if the entry never advanced) now
 * belongs to the cache.  Wakes the waiters.  The caller keeps its
 * reference. */
void span_cache_fill(span_cache *c, struct span *sp, uint8_t *data, size_t len);

/* Gives up a load: waiters get a copy of e; the entry is dropped, and so
 * is the caller's reference. */
void span_cache_fail(span_cache *c, struct span *sp, const struct clip_error *e);

/* Gives up a load that never started: the entry is dropped with the
 * caller's reference, and waiters look again (SPAN_WAIT_GONE). */
void span_cache_abandon(span_cache *c, struct span *sp);

/* Drops a reference.  Accepts NULL. */
void span_cache_release(span_cache *c, struct span *sp);

/* The data of a span (filled, or advanced past what span_cache_wait was
 * asked for), valid while the reference is held. */
const uint8_t *span_data(const struct span *sp);
size_t span_len(const struct span *sp);

/* Current totals, for statistics. */
void span_cache_usage(span_cache *c, uint64_t *bytes, uint64_t *count);

#endif
