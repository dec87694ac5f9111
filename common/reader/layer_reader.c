/*
 * layer_reader.c - the read path: spans from memory, disk or the blob
 * source, verified and inflated (see layer_reader.h).
 *
 * The pieces: span_cache.c (memory LRU and single-flight), disk_cache.c,
 * readahead.c (background loads) and the blob source.  This file ties
 * them together: find the spans of a read, load each one that is
 * missing, copy out, and decide whether to read ahead.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "common/reader/disk_cache.h"
#include "common/gzip/inflate.h"
#include "common/reader/layer_reader.h"
#include "common/reader/layer_reader_int.h"
#include "common/reader/work_queue.h"
#include "common/reader/span_cache.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define READAHEAD_QUEUE 64
/* Spans waiting for the disk cache writer.  Each is pinned in memory
 * until written, so their bytes are bounded too (write_backlog_max). */
#define WRITE_QUEUE 64
#define NO_SPAN UINT32_MAX


void
clip_reader_opts_init(struct clip_reader_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mem_cache_bytes = 256 * MiB;
	o->max_fetches = 8;
	o->disk_cache_dir = NULL;
	o->disk_cache_bytes = 4 * GiB;
	o->readahead_spans = 2;
	o->predict_spans = 1;
	o->load_bytes = 8 * MiB;
	o->readahead_threads = 2;
	o->partial_loads = 0;
	o->stream_loads = 1;
	o->max_span_bytes = 256 * MiB;
}

static void
warn(clip_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn(clip_reader *r, const char *fmt, ...)
{
	char msg[CLIP_ERROR_MSG_MAX + 128];
	va_list ap;

	if (r->o.warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->o.warn(r->o.warn_ctx, msg);
}

uint64_t
reader_span_key(uint32_t layer, uint32_t span)
{
	return (uint64_t)layer << 32 | span;
}

struct disk_cache_key
reader_disk_key(const struct clip_layer *L, uint32_t i, const struct clip_checkpoint *cp)
{
	struct disk_cache_key key;

	key.layer_digest = L->digest.ptr;
	key.span = i;
	key.span_sha256 = cp->span_sha256;
	return key;
}

/* The memory cache key of a span's prefix from a partial load: apart from
 * the whole span's, so the two never stand in for each other. */
#define PARTIAL_KEY (UINT64_C(1) << 63)

/* A prefix entry's data: the inflated prefix, then the compressed bytes it
 * came from (so that loading the whole span later fetches only the rest),
 * then this. */
struct partial_tail {
	uint64_t from, to;     /* the layer's compressed bytes [from, to) held */
	uint64_t made;         /* inflated bytes at the start of the data */
};

static struct partial_tail
partial_tail(const struct span *sp)
{
	struct partial_tail t;

	memcpy(&t, span_data(sp) + span_len(sp) - sizeof(t), sizeof(t));
	return t;
}

/* ---- fetching ------------------------------------------------------------- */

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
record_latency(clip_reader *r, uint64_t us)
{
	unsigned b = 0;

	while (us > 1 && b < CLIP_READER_LATENCY_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	COUNT(r, latency[b], 1);
}

clip_err
reader_fetch(clip_reader *r, const char *digest, uint64_t off, size_t len, uint8_t *buf,
    clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	uint64_t t0;
	clip_err rc;

	pthread_mutex_lock(&r->fetch_lock);
	while (r->fetching >= r->o.max_fetches)
		pthread_cond_wait(&r->fetch_free, &r->fetch_lock);
	r->fetching++;
	pthread_mutex_unlock(&r->fetch_lock);

	t0 = now_us();
	if (progress != NULL && r->src.fetch_progress != NULL)
		rc = r->src.fetch_progress(r->src.ctx, digest, off, len, buf, progress, arg, err);
	else
		rc = r->src.fetch(r->src.ctx, digest, off, len, buf, err);
	record_latency(r, now_us() - t0);

	pthread_mutex_lock(&r->fetch_lock);
	r->fetching--;
	pthread_cond_signal(&r->fetch_free);
	pthread_mutex_unlock(&r->fetch_lock);

	COUNT(r, fetch_requests, 1);
	if (rc != CLIP_OK) {
		if (err != NULL && err->code == CLIP_OK)
			clip_error_set(err, rc, "%s", clip_strerror(rc));
		COUNT(r, fetch_errors, 1);
	} else {
		COUNT(r, bytes_fetched, len);
	}
	return rc;
}

/* ---- loading one span ----------------------------------------------------- */

/* Turns verified compressed bytes into the span's uncompressed bytes.
 * Takes comp (freed or handed on as *data). */
static clip_err
inflate_whole(const struct clip_checkpoint *cp, uint8_t *comp, size_t comp_len,
    size_t out_len, uint8_t **data, struct clip_error *err)
{
	uint8_t *window = NULL, *out;
	clip_err rc;

	if (cp->kind == CLIP_CHECKPOINT_STORED) {
		if (comp_len != out_len) {
			free(comp);
			return clip_error_set(err, CLIP_ERR_FORMAT,
			    "stored span: %zu compressed bytes for %zu uncompressed", comp_len,
			    out_len);
		}
		*data = comp;
		return CLIP_OK;
	}
	out = malloc(out_len ? out_len : 1);
	if (cp->window_len > 0)
		window = malloc(CLIP_WINDOW_SIZE);
	if (out == NULL || (cp->window_len > 0 && window == NULL)) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	rc = clip_index_window(cp, window, err);
	if (rc == CLIP_OK)
		rc = clip_inflate_span(cp, window, comp, comp_len, out, out_len, err);
	if (rc != CLIP_OK)
		goto fail;
	free(window);
	free(comp);
	*data = out;
	return CLIP_OK;
fail:
	free(window);
	free(comp);
	free(out);
	return rc;
}

clip_err
reader_verify_and_inflate(clip_reader *r, const struct clip_checkpoint *cp, uint32_t i,
    uint8_t *comp, size_t comp_len, uint8_t **data, struct clip_error *err)
{
	uint8_t md[32];
	unsigned int mdlen = 0;
	clip_err rc;

	if (EVP_Digest(comp, comp_len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(comp);
		return clip_error_set(err, CLIP_ERR_NOMEM, "span %u: sha256 failed", i);
	}
	if (memcmp(md, cp->span_sha256, 32) != 0) {
		free(comp);
		COUNT(r, checksum_errors, 1);
		return clip_error_set(err, CLIP_ERR_CHECKSUM,
		    "span %u (compressed bytes %llu-%llu): sha256 mismatch, the source's bytes "
		    "are not the indexed ones", i, (unsigned long long)cp->span_start,
		    (unsigned long long)cp->span_end);
	}
	rc = inflate_whole(cp, comp, comp_len, (size_t)(cp->out_end - cp->out_offset), data, err);
	if (rc != CLIP_OK)
		return clip_error_prefix(err, "span %u", i);
	if (cp->kind != CLIP_CHECKPOINT_STORED)
		COUNT(r, spans_inflated, 1);
	return CLIP_OK;
}

/*
 * If a prefix of span i from a partial load is in memory, copies the
 * compressed bytes it holds from the span's start into comp and returns
 * how many: the whole span's load then fetches only the rest (and checks
 * all of it against the span's hash, as always).
 */
static uint64_t
reuse_prefix(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, uint8_t *comp)
{
	struct span *sp = span_cache_peek(r->mem, reader_span_key(L->index, i) | PARTIAL_KEY);
	struct partial_tail t;
	uint64_t have = 0;

	if (sp == NULL)
		return 0;
	t = partial_tail(sp);
	if (t.from <= cp->span_start && t.to > cp->span_start && t.to < cp->span_end) {
		have = t.to - cp->span_start;
		memcpy(comp, span_data(sp) + t.made + (cp->span_start - t.from), (size_t)have);
	}
	span_cache_release(r->mem, sp);
	return have;
}

/* Loads span i of a layer from the disk cache (*from_disk = 1) or the
 * source.  *data is malloc'ed, *len bytes: the span's whole uncompressed
 * output. */
static clip_err
load_span(clip_reader *r, const struct clip_layer *L, uint32_t i, uint8_t **data,
    size_t *len, int *from_disk, struct clip_error *err)
{
	struct clip_checkpoint cp;
	struct disk_cache_key key;
	uint8_t *comp;
	uint64_t comp_len, out_len, have;
	int damaged;
	clip_err rc;

	*data = NULL;
	*len = 0;
	*from_disk = 0;
	if (clip_index_checkpoint(r->idx, L->index, i, &cp) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "no span %u", i);
	if (cp.span_end < cp.span_start || cp.out_end <= cp.out_offset)
		return clip_error_set(err, CLIP_ERR_FORMAT, "span %u has a negative size", i);
	comp_len = cp.span_end - cp.span_start;
	out_len = cp.out_end - cp.out_offset;
	if (comp_len > r->o.max_span_bytes || out_len > r->o.max_span_bytes)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "span %u: %llu compressed / %llu uncompressed bytes exceeds the %llu byte limit",
		    i, (unsigned long long)comp_len, (unsigned long long)out_len,
		    (unsigned long long)r->o.max_span_bytes);

	if (r->disk != NULL) {
		key = reader_disk_key(L, i, &cp);
		rc = disk_cache_get(r->disk, &key, (size_t)out_len, data, &damaged, NULL);
		if (rc == CLIP_OK) {
			COUNT(r, disk_hits, 1);
			*len = (size_t)out_len;
			*from_disk = 1;
			return CLIP_OK;
		}
		COUNT(r, disk_misses, 1);
		if (damaged) {
			COUNT(r, disk_damaged, 1);
			warn(r, "disk cache: layer %s span %u was damaged; deleted, refetching",
			    L->digest.ptr, i);
		}
	}

	comp = malloc(comp_len ? (size_t)comp_len : 1);
	if (comp == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	have = reuse_prefix(r, L, i, &cp, comp);
	rc = reader_fetch(r, L->digest.ptr, cp.span_start + have, (size_t)(comp_len - have),
	    comp + have, NULL, NULL, err);
	if (rc != CLIP_OK) {
		free(comp);
		return clip_error_prefix(err, "span %u: fetch", i);
	}
	rc = reader_verify_and_inflate(r, &cp, i, comp, (size_t)comp_len, data, err);
	if (rc == CLIP_OK)
		*len = (size_t)out_len;
	return rc;
}

static void
disk_store(clip_reader *r, const struct clip_layer *L, uint32_t i, const uint8_t *data,
    size_t len)
{
	struct clip_checkpoint cp;
	struct disk_cache_key key;
	struct clip_error e;
	int stored;

	if (clip_index_checkpoint(r->idx, L->index, i, &cp) != CLIP_OK)
		return;
	key = reader_disk_key(L, i, &cp);
	clip_error_clear(&e);
	if (disk_cache_put(r->disk, &key, data, len, &stored, &e) != CLIP_OK) {
		COUNT(r, disk_errors, 1);
		if (atomic_exchange(&r->disk_warned, 1) == 0)
			warn(r, "%s; continuing with the memory cache only",
			    clip_error_message(&e));
	} else if (stored) {
		COUNT(r, disk_writes, 1);
	}
}

/* A queued disk write: arg is a reference to the span, held for it. */
static void
write_job(void *ctx, uint32_t layer, uint32_t span, void *arg)
{
	clip_reader *r = ctx;
	struct clip_layer L;
	struct span *sp = arg;

	if (clip_index_layer(r->idx, layer, &L) == CLIP_OK)
		disk_store(r, &L, span, span_data(sp), span_len(sp));
	atomic_fetch_sub(&r->write_backlog, span_len(sp));
	span_cache_release(r->mem, sp);
}

/*
 * Writes span i (sp, a filled span the caller holds) to the disk cache.
 * Hashing and writing a span costs more than inflating it (a third of
 * the daemon's CPU on a cold start, measured), so a writer thread does
 * it, holding its own reference, on CPU time nothing else wants: reads
 * and loads go first, and the writes catch up when the workload waits.
 * With the writer's backlog full, the caller writes the span itself.
 */
void
reader_disk_store_later(clip_reader *r, const struct clip_layer *L, uint32_t i, struct span *sp)
{
	uint64_t len = span_len(sp);
	struct span *ref;

	if (r->writer != NULL) {
		if (atomic_fetch_add(&r->write_backlog, len) + len <= r->write_backlog_max) {
			ref = span_cache_ref(r->mem, sp);
			if (work_queue_push_arg(r->writer, L->index, i, ref))
				return;
			span_cache_release(r->mem, ref);
		}
		atomic_fetch_sub(&r->write_backlog, len);
	}
	disk_store(r, L, i, span_data(sp), (size_t)len);
}

/* Our load of *sp failed with e: the waiters get e, and so does the
 * caller; *sp is gone. */
static clip_err
give_up(clip_reader *r, const struct clip_layer *L, struct span **sp, struct clip_error *e,
    struct clip_error *err, clip_err rc)
{
	clip_error_prefix(e, "layer %s", L->digest.ptr);
	span_cache_fail(r->mem, *sp, e);
	*sp = NULL;
	if (err != NULL)
		*err = *e;
	return rc;
}

/* Another thread's load we waited for failed with e. */
static clip_err
other_failed(const struct clip_error *e, struct clip_error *err)
{
	if (err != NULL)
		*err = *e;
	return e->code != CLIP_OK ? e->code : CLIP_ERR_IO;
}

/* Whether span s of L is to be loaded in the background: not in memory,
 * and not on disk, where reads are served from the blocks they touch
 * (loading the whole span into memory would only cost more hashing). */
static int
worth_loading(clip_reader *r, const struct clip_layer *L, uint32_t s,
    const struct clip_checkpoint *cp)
{
	struct disk_cache_key key;

	if (span_cache_contains(r->mem, reader_span_key(L->index, s)))
		return 0;
	key = reader_disk_key(L, s, cp);
	return r->disk == NULL || !disk_cache_contains(r->disk, &key);
}

void
reader_predict(clip_reader *r, const struct clip_layer *L, uint32_t i, unsigned after)
{
	struct clip_checkpoint cp;
	uint32_t k, s;

	for (k = 1; r->ra != NULL && k <= r->o.predict_spans; k++) {
		if ((uint64_t)i + after + k >= L->checkpoint_count)
			break;
		s = i + after + k;
		if (clip_index_checkpoint(r->idx, L->index, s, &cp) == CLIP_OK &&
		    worth_loading(r, L, s, &cp))
			work_queue_push(r->ra, L->index, s);
	}
}

/* A caller's read of [at, at + n) of a span (checkpoint cp), into dst. */
struct read_want {
	const struct clip_checkpoint *cp;
	uint64_t at;
	size_t n;
	uint8_t *dst;
	int served;             /* out: dst was filled, no span returned */
};

/* A streamed load answered want: no span to hand back. */
static clip_err
streamed(struct read_want *want, struct span **sp, clip_err rc, const struct clip_error *e,
    struct clip_error *err)
{
	*sp = NULL;
	want->served = 1;
	if (rc != CLIP_OK && err != NULL)
		*err = *e;
	return rc;
}

/*
 * Gets a reference to span i of L, loading it if needed (once, however
 * many threads ask).  want: a caller's read, counted as a memory hit or
 * miss, which a streamed load (span_stream.c) may answer before the span
 * is complete: then want->served is 1 and *sp NULL.  NULL: readahead,
 * streamed when it can be (*sp is then NULL: the load goes on alone).
 */
static clip_err
get_span(clip_reader *r, const struct clip_layer *L, uint32_t i, struct read_want *want,
    struct span **sp, struct clip_error *err)
{
	int foreground = want != NULL;
	struct clip_checkpoint cp;
	struct clip_error e;
	uint8_t *data, none[1];
	size_t len;
	int waited, from_disk;
	clip_err rc;

	clip_error_clear(&e);
	/* A streamed load of this span is running: wait on it as its starter
	 * does, not for the whole span. */
	if (want != NULL && atomic_load(&r->nactive) > 0 &&
	    reader_stream_join(r, L->index, i, want->at, want->n, want->dst, &rc, &e)) {
		COUNT(r, mem_misses, 1);
		COUNT(r, mem_waits, 1);
		return streamed(want, sp, rc, &e, err);
	}
	switch (span_cache_get(r->mem, reader_span_key(L->index, i), sp, &waited, &e)) {
	case SPAN_READY:
		if (foreground) {
			if (waited) {
				COUNT(r, mem_misses, 1);
				COUNT(r, mem_waits, 1);
			} else {
				COUNT(r, mem_hits, 1);
			}
		}
		return CLIP_OK;
	case SPAN_FAILED:
		if (foreground) {
			COUNT(r, mem_misses, 1);
			COUNT(r, mem_waits, 1);
		}
		return other_failed(&e, err);
	case SPAN_LOAD:
		break;
	}

	if (foreground)
		COUNT(r, mem_misses, 1);
	if (want != NULL && reader_stream(r, L, i, want->cp, *sp, r->o.load_bytes, want->at,
	    want->n, want->dst, &rc, &e))
		return streamed(want, sp, rc, &e, err);   /* it predicted too */
	if (foreground)
		reader_predict(r, L, i, 0);
	/* In the background too, so that a read that comes for this span
	 * while it arrives is answered as soon as its own bytes are out. */
	if (want == NULL && clip_index_checkpoint(r->idx, L->index, i, &cp) == CLIP_OK &&
	    reader_stream(r, L, i, &cp, *sp, 0, 0, 0, none, &rc, &e)) {
		*sp = NULL;
		COUNT(r, readahead_spans, 1);
		return CLIP_OK;
	}
	rc = load_span(r, L, i, &data, &len, &from_disk, &e);
	if (rc != CLIP_OK)
		return give_up(r, L, sp, &e, err, rc);
	span_cache_fill(r->mem, *sp, data, len);
	if (!foreground)
		COUNT(r, readahead_spans, 1);
	/* After the fill, so that waiters do not wait for the disk. */
	if (r->disk != NULL && !from_disk)
		reader_disk_store_later(r, L, i, *sp);
	return CLIP_OK;
}

/*
 * Serves part of span i straight from the disk cache, checking only the
 * 64 KiB blocks it touches, when the span is not in memory: a warm read
 * then costs about what reading those bytes from a local file does.
 * 1 if out was filled; 0 to go the usual way (memory, then fetch).
 */
static int
read_from_disk(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, uint64_t at, size_t n, uint8_t *out)
{
	struct disk_cache_key key;
	int damaged = 0;

	if (r->disk == NULL || span_cache_contains(r->mem, reader_span_key(L->index, i)))
		return 0;
	key = reader_disk_key(L, i, cp);
	if (disk_cache_read(r->disk, &key, (size_t)(cp->out_end - cp->out_offset), (size_t)at, n,
	    out, &damaged, NULL) == CLIP_OK) {
		COUNT(r, disk_hits, 1);
		COUNT(r, mem_misses, 1);
		return 1;
	}
	if (damaged) {
		COUNT(r, disk_damaged, 1);
		warn(r, "disk cache: layer %s span %u was damaged; deleted, refetching",
		    L->digest.ptr, i);
	}
	return 0;
}

/* ---- partial loads ---------------------------------------------------------- */

/*
 * A read that needs only the start of a span that is nowhere yet fetches
 * only the start: from the chunk that holds the checkpoint to the chunk
 * that should hold the compressed end of the bytes needed (each chunk is
 * checked against the index's chunk hashes, so nothing unverified is
 * used), inflates what those bytes give, and keeps that prefix under its
 * own key.  A later read past the prefix loads the whole span as before.
 * Worth it only for reads in the first part of a span: past that, the
 * whole span costs little more and serves every later read of it.
 */
#define PARTIAL_MAX_NEED_NUM 1    /* need at most a quarter of the span's output */
#define PARTIAL_MAX_NEED_DEN 4

/* The chunk-aligned compressed range [*from, *to) to fetch for the first
 * need bytes of span cp's output; 0 if a partial load is not worth it. */
static int
partial_plan(clip_reader *r, const struct clip_layer *L, const struct clip_checkpoint *cp,
    uint64_t need, uint64_t *from, uint64_t *to)
{
	uint64_t cs = clip_index_chunk_size(r->idx), comp_len, out_len, est;

	if (!r->o.partial_loads || cs == 0 || L->index >= (UINT32_C(1) << 31) ||
	    cp->span_end <= cp->span_start || cp->out_end <= cp->out_offset)
		return 0;
	comp_len = cp->span_end - cp->span_start;
	out_len = cp->out_end - cp->out_offset;
	if (comp_len > r->o.max_span_bytes || out_len > r->o.max_span_bytes ||
	    need * PARTIAL_MAX_NEED_DEN > out_len * PARTIAL_MAX_NEED_NUM)
		return 0;
	/* The span's average ratio, a quarter more, and a chunk. */
	est = comp_len * need / out_len;
	est += est / 4 + cs;
	*from = cp->span_start / cs * cs;
	*to = (cp->span_start + est + cs - 1) / cs * cs;
	if (*to > L->compressed_size)
		*to = L->compressed_size;
	return *to < cp->span_end && (*to - *from) * 4 <= comp_len * 3;
}

clip_err
reader_verify_chunks(clip_reader *r, const struct clip_layer *L, uint64_t from,
    const uint8_t *buf, size_t len, struct clip_error *err)
{
	uint64_t cs = clip_index_chunk_size(r->idx), at, n;
	const uint8_t *want;
	uint8_t md[32];
	unsigned int mdlen = 0;

	for (at = from; at < from + len; at += cs) {
		n = at + cs > L->compressed_size ? L->compressed_size - at : cs;
		want = clip_index_chunk_sha256(r->idx, L->index, at / cs);
		if (at + n > from + len || want == NULL)
			return clip_error_set(err, CLIP_ERR_FORMAT,
			    "compressed bytes %llu-%llu: no whole chunk hash",
			    (unsigned long long)at, (unsigned long long)(at + n));
		if (EVP_Digest(buf + (at - from), (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
		    mdlen != 32)
			return clip_error_set(err, CLIP_ERR_NOMEM, "sha256 failed");
		if (memcmp(md, want, 32) != 0) {
			COUNT(r, checksum_errors, 1);
			return clip_error_set(err, CLIP_ERR_CHECKSUM,
			    "chunk %llu (compressed bytes %llu-%llu): sha256 mismatch, the "
			    "source's bytes are not the indexed ones", (unsigned long long)(at / cs),
			    (unsigned long long)at, (unsigned long long)(at + n));
		}
	}
	return CLIP_OK;
}

/* Fetches [from, to), verifies it and inflates the prefix of span i it
 * holds: *data (malloc'ed, *len bytes) is a prefix entry (struct
 * partial_tail), its prefix maybe shorter than hoped. */
static clip_err
load_partial(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, uint64_t from, uint64_t to, uint8_t **data, size_t *len,
    struct clip_error *err)
{
	size_t out_len = (size_t)(cp->out_end - cp->out_offset), made = 0;
	uint8_t *buf, *out = NULL, *window = NULL, *p;
	struct partial_tail t;
	clip_err rc;

	buf = malloc((size_t)(to - from));
	if (buf == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	rc = reader_fetch(r, L->digest.ptr, from, (size_t)(to - from), buf, NULL, NULL, err);
	if (rc != CLIP_OK) {
		clip_error_prefix(err, "span %u: fetch", i);
		goto out;
	}
	if ((rc = reader_verify_chunks(r, L, from, buf, (size_t)(to - from), err)) != CLIP_OK) {
		clip_error_prefix(err, "span %u", i);
		goto out;
	}
	/* The entry is built in place: the prefix is inflated into its
	 * start, then the compressed bytes and the tail go after it. */
	out = malloc(out_len + (size_t)(to - from) + sizeof(t));
	if (cp->window_len > 0)
		window = malloc(CLIP_WINDOW_SIZE);
	if (out == NULL || (cp->window_len > 0 && window == NULL)) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = clip_index_window(cp, window, err);
	if (rc == CLIP_OK)
		rc = clip_inflate_span_prefix(cp, window, buf + (cp->span_start - from),
		    (size_t)(to - cp->span_start), out, out_len, &made, err);
	if (rc != CLIP_OK) {
		clip_error_prefix(err, "span %u", i);
		goto out;
	}
	if (cp->kind != CLIP_CHECKPOINT_STORED)
		COUNT(r, spans_inflated, 1);
	COUNT(r, partial_loads, 1);
	t.from = from;
	t.to = to;
	t.made = made;
	*len = made + (size_t)(to - from) + sizeof(t);
	memcpy(out + made, buf, (size_t)(to - from));
	memcpy(out + made + (to - from), &t, sizeof(t));
	if ((p = realloc(out, *len)) != NULL)   /* shrinking: failure keeps out */
		out = p;
	*data = out;
	out = NULL;
out:
	free(window);
	free(out);
	free(buf);
	return rc;
}

/*
 * For a read that needs the first need bytes of span i: a reference to a
 * prefix of at least that much in *sp, loading it if it is worth it; *sp
 * NULL (and CLIP_OK) when the caller should load the whole span instead.
 */
static clip_err
get_partial(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, uint64_t need, struct span **sp, struct clip_error *err)
{
	struct clip_error e;
	uint64_t from, to, made;
	uint8_t *data = NULL;
	size_t len = 0;
	int waited;
	clip_err rc;

	*sp = NULL;
	if (!partial_plan(r, L, cp, need, &from, &to) ||
	    span_cache_contains(r->mem, reader_span_key(L->index, i)))
		return CLIP_OK;
	clip_error_clear(&e);
	switch (span_cache_get(r->mem, reader_span_key(L->index, i) | PARTIAL_KEY, sp, &waited,
	    &e)) {
	case SPAN_READY:
		if (waited)
			COUNT(r, mem_misses, 1);
		else
			COUNT(r, mem_hits, 1);
		if (partial_tail(*sp).made < need) {   /* too short: the whole span, then */
			span_cache_release(r->mem, *sp);
			*sp = NULL;
		}
		return CLIP_OK;
	case SPAN_FAILED:
		COUNT(r, mem_misses, 1);
		return other_failed(&e, err);
	case SPAN_LOAD:
		break;
	}
	COUNT(r, mem_misses, 1);
	rc = load_partial(r, L, i, cp, from, to, &data, &len, &e);
	if (rc != CLIP_OK)
		return give_up(r, L, sp, &e, err, rc);
	span_cache_fill(r->mem, *sp, data, len);
	made = partial_tail(*sp).made;
	if (r->disk != NULL && made > 0)
		disk_store(r, L, i, data, (size_t)made);
	if (made < need) {
		span_cache_release(r->mem, *sp);
		*sp = NULL;
	}
	return CLIP_OK;
}

/* ---- readahead ------------------------------------------------------------- */

static void
readahead_job(void *ctx, uint32_t layer, uint32_t span, void *arg)
{
	clip_reader *r = ctx;
	struct clip_layer L;
	struct span *sp;

	(void)arg;
	if (clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return;
	/* A failure is left to the foreground read that needs the span; a
	 * streamed load (sp NULL) goes on in its own thread. */
	if (get_span(r, &L, span, NULL, &sp, NULL) == CLIP_OK && sp != NULL)
		span_cache_release(r->mem, sp);
}

/* A read touched spans [first, last]: if the previous read of this layer
 * ended just before, the reader is streaming; queue what comes next, but
 * only spans that start before limit (the end of the file being read):
 * two small files in neighbouring spans are not a stream, and loading
 * spans past the file would fetch bytes nobody asked for. */
static void
maybe_read_ahead(clip_reader *r, const struct clip_layer *L, uint32_t first, uint32_t last,
    uint64_t limit)
{
	struct clip_checkpoint cp;
	uint32_t prev, s, k;

	prev = atomic_exchange(&r->last_span[L->index], last);
	if (r->ra == NULL || prev == NO_SPAN || prev + 1 < first || prev + 1 > last)
		return;
	for (k = 1; k <= r->o.readahead_spans; k++) {
		if ((uint64_t)last + k >= L->checkpoint_count)
			break;
		s = last + k;
		if (clip_index_checkpoint(r->idx, L->index, s, &cp) != CLIP_OK ||
		    cp.out_offset >= limit)
			break;
		if (worth_loading(r, L, s, &cp))
			work_queue_push(r->ra, L->index, s);
	}
}

/* ---- prefetch --------------------------------------------------------------- */

#define PREFETCH_RUN_MAX 64

/* Span i from the disk cache straight into its claimed entry; 1 if done. */
static int
prefetch_from_disk(clip_reader *r, const struct clip_layer *L, uint32_t i, struct span *sp)
{
	struct clip_checkpoint cp;
	struct disk_cache_key key;
	uint8_t *data;
	int damaged;

	if (r->disk == NULL || clip_index_checkpoint(r->idx, L->index, i, &cp) != CLIP_OK)
		return 0;
	key = reader_disk_key(L, i, &cp);
	if (disk_cache_get(r->disk, &key, (size_t)(cp.out_end - cp.out_offset), &data, &damaged,
	    NULL) != CLIP_OK) {
		if (damaged)
			COUNT(r, disk_damaged, 1);
		return 0;
	}
	COUNT(r, disk_hits, 1);
	span_cache_fill(r->mem, sp, data, (size_t)(cp.out_end - cp.out_offset));
	span_cache_release(r->mem, sp);
	return 1;
}

/* One prefetch request for claimed spans [first, first + n) of L: the
 * spans are published one by one as their bytes arrive. */
struct prefetch_req {
	clip_reader *r;
	const struct clip_layer *L;
	uint32_t first;
	struct span **sp;
	size_t n;
	uint64_t base;              /* compressed offset of buf[0] */
	const uint8_t *buf;
	size_t done;                /* spans published or failed */
	size_t have;                /* bytes landed */
	int off_track;              /* a retry: the rest waits for the end */
	clip_err rc;                /* the first span's error */
	struct clip_error err;
};

/* Verifies, inflates and publishes span done of the run (or fails it). */
static void
run_publish(struct prefetch_req *ru)
{
	clip_reader *r = ru->r;
	size_t k = ru->done++;
	uint32_t i = ru->first + (uint32_t)k;
	struct clip_checkpoint cp;
	struct clip_error e;
	uint8_t *comp, *data;

	clip_error_clear(&e);
	if (clip_index_checkpoint(r->idx, ru->L->index, i, &cp) != CLIP_OK ||
	    (comp = malloc(cp.span_end - cp.span_start + 1)) == NULL) {
		span_cache_fail(r->mem, ru->sp[k], NULL);
		return;
	}
	/* Spans overlap by the byte that holds a boundary's bits. */
	memcpy(comp, ru->buf + (cp.span_start - ru->base), cp.span_end - cp.span_start);
	if (reader_verify_and_inflate(r, &cp, i, comp, cp.span_end - cp.span_start, &data, &e) !=
	    CLIP_OK) {
		clip_error_prefix(&e, "layer %s", ru->L->digest.ptr);
		if (ru->rc == CLIP_OK) {
			ru->rc = e.code;
			ru->err = e;
		}
		span_cache_fail(r->mem, ru->sp[k], &e);
		return;
	}
	span_cache_fill(r->mem, ru->sp[k], data, (size_t)(cp.out_end - cp.out_offset));
	COUNT(r, prefetch_spans, 1);
	if (r->disk != NULL)
		reader_disk_store_later(r, ru->L, i, ru->sp[k]);
	span_cache_release(r->mem, ru->sp[k]);
}

/* Bytes landed: publish the spans they complete, so that a read waiting
 * for the run's first span does not wait for its last. */
static void
run_progress(void *arg, size_t have)
{
	struct prefetch_req *ru = arg;
	struct clip_checkpoint cp;

	if (have < ru->have)
		ru->off_track = 1;
	ru->have = have;
	while (!ru->off_track && ru->done < ru->n &&
	    clip_index_checkpoint(ru->r->idx, ru->L->index, ru->first + (uint32_t)ru->done,
	    &cp) == CLIP_OK && cp.span_end - ru->base <= have)
		run_publish(ru);
}

/* Fetches claimed spans [first, first + n) of L with one request, and
 * verifies, inflates and publishes each as it arrives; fails those not
 * published on an error. */
static clip_err
prefetch_run(clip_reader *r, const struct clip_layer *L, uint32_t first, struct span **sp,
    size_t n, struct clip_error *err)
{
	struct clip_checkpoint a, b;
	struct prefetch_req ru;
	uint8_t *buf = NULL;
	uint64_t len;
	clip_err rc = CLIP_OK;
	size_t k;

	memset(&ru, 0, sizeof(ru));
	if (clip_index_checkpoint(r->idx, L->index, first, &a) != CLIP_OK ||
	    clip_index_checkpoint(r->idx, L->index, first + (uint32_t)(n - 1), &b) != CLIP_OK ||
	    b.span_end < a.span_start) {
		rc = clip_error_set(err, CLIP_ERR_INVALID, "bad prefetch run");
		goto fail;
	}
	len = b.span_end - a.span_start;
	if (len > r->o.max_span_bytes * PREFETCH_RUN_MAX || (buf = malloc(len ? len : 1)) == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	ru.r = r;
	ru.L = L;
	ru.first = first;
	ru.sp = sp;
	ru.n = n;
	ru.base = a.span_start;
	ru.buf = buf;
	clip_error_clear(&ru.err);
	rc = reader_fetch(r, L->digest.ptr, a.span_start, (size_t)len, buf, run_progress, &ru,
	    err);
	if (rc != CLIP_OK) {
		clip_error_prefix(err, "layer %s: spans %u-%zu: fetch", L->digest.ptr, first,
		    first + n - 1);
		goto fail;
	}
	COUNT(r, prefetch_requests, 1);
	while (ru.done < n)
		run_publish(&ru);
	free(buf);
	if (ru.rc != CLIP_OK && err != NULL)
		*err = ru.err;
	return ru.rc;
fail:
	for (k = ru.done; k < n; k++)
		span_cache_fail(r->mem, sp[k], err);
	free(buf);
	return rc;
}

clip_err
clip_reader_prefetch(clip_reader *r, uint32_t layer, uint32_t first, uint32_t count,
    uint64_t max_request, struct clip_error *err)
{
	struct span *claimed[PREFETCH_RUN_MAX];
	struct clip_layer L;
	struct clip_checkpoint cp;
	uint32_t i, end, run_first;
	uint64_t bytes;
	size_t n;
	clip_err rc, first_rc = CLIP_OK;

	if (clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "no layer %u", layer);
	if (first >= L.checkpoint_count)
		return CLIP_OK;
	end = count > L.checkpoint_count - first ? L.checkpoint_count : first + count;
	i = first;
	while (i < end) {
		/* A run: consecutive spans that nobody has, up to max_request. */
		n = 0;
		bytes = 0;
		run_first = i;
		for (; i < end && n < PREFETCH_RUN_MAX; i++) {
			struct span *sp = span_cache_try_claim(r->mem, reader_span_key(L.index, i));
			if (sp == NULL || prefetch_from_disk(r, &L, i, sp)) {
				if (n > 0) {
					i++;
					break;
				}
				run_first = i + 1;
				continue;
			}
			claimed[n++] = sp;
			if (clip_index_checkpoint(r->idx, L.index, i, &cp) == CLIP_OK)
				bytes += cp.span_end - cp.span_start;
			if (max_request > 0 && bytes >= max_request) {
				i++;
				break;
			}
		}
		if (n == 0)
			continue;
		rc = prefetch_run(r, &L, run_first, claimed, n, err);
		if (rc != CLIP_OK && first_rc == CLIP_OK)
			first_rc = rc;
	}
	return first_rc;
}

/* ---- the API --------------------------------------------------------------- */

clip_err
clip_reader_read(clip_reader *r, uint32_t layer, uint64_t off, size_t len, uint8_t *buf,
    size_t *got, struct clip_error *err)
{
	return clip_reader_read_extent(r, layer, off, len, UINT64_MAX, buf, got, err);
}

clip_err
clip_reader_read_extent(clip_reader *r, uint32_t layer, uint64_t off, size_t len,
    uint64_t extent_end, uint8_t *buf, size_t *got, struct clip_error *err)
{
	struct clip_layer L;
	struct clip_checkpoint cp;
	struct read_want want;
	struct span *sp;
	uint64_t end, pos, n;
	uint32_t i, first;
	clip_err rc;

	if (got != NULL)
		*got = 0;
	if (r == NULL || got == NULL || (buf == NULL && len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "read: bad arguments");
	COUNT(r, reads, 1);
	if (clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "read: no layer %u", layer);
	if (len == 0 || off >= L.uncompressed_size)
		return CLIP_OK;
	end = L.uncompressed_size - off < len ? L.uncompressed_size : off + len;
	if (clip_index_find_checkpoint(r->idx, layer, off, &i) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_FORMAT, "layer %s: no span holds offset %llu",
		    L.digest.ptr, (unsigned long long)off);

	first = i;
	for (pos = off; pos < end; i++) {
		if (clip_index_checkpoint(r->idx, layer, i, &cp) != CLIP_OK ||
		    cp.out_offset > pos || cp.out_end <= pos)
			return clip_error_set(err, CLIP_ERR_FORMAT,
			    "layer %s: spans do not cover offset %llu", L.digest.ptr,
			    (unsigned long long)pos);
		n = (end < cp.out_end ? end : cp.out_end) - pos;
		if (read_from_disk(r, &L, i, &cp, pos - cp.out_offset, (size_t)n,
		    buf + (pos - off))) {
			pos += n;
			*got += (size_t)n;
			COUNT(r, bytes_served, n);
			continue;
		}
		want.cp = &cp;
		want.at = pos - cp.out_offset;
		want.n = (size_t)n;
		want.dst = buf + (pos - off);
		want.served = 0;
		rc = get_partial(r, &L, i, &cp, pos + n - cp.out_offset, &sp, err);
		if (rc == CLIP_OK && sp == NULL)
			rc = get_span(r, &L, i, &want, &sp, err);
		if (rc != CLIP_OK)
			return rc;
		if (!want.served) {
			memcpy(want.dst, span_data(sp) + want.at, want.n);
			span_cache_release(r->mem, sp);
		}
		pos += n;
		*got += (size_t)n;
		COUNT(r, bytes_served, n);
	}
	if (r->ra != NULL)
		maybe_read_ahead(r, &L, first, i - 1, extent_end);
	return CLIP_OK;
}

clip_err
clip_reader_new(const clip_index *idx, const struct clip_blob_source *src,
    const struct clip_reader_opts *o, clip_reader **out, struct clip_error *err)
{
	struct clip_reader_opts defaults;
	struct clip_error e;
	clip_reader *r;
	uint32_t i;
	clip_err rc;

	*out = NULL;
	if (o == NULL) {
		clip_reader_opts_init(&defaults);
		o = &defaults;
	}
	if (idx == NULL || src == NULL || src->fetch == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "reader: no index or source");
	if (o->max_fetches == 0 || o->max_span_bytes == 0 ||
	    ((o->readahead_spans > 0 || o->predict_spans > 0) && o->readahead_threads == 0))
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "reader: max_fetches, max_span_bytes and readahead_threads must be > 0");
	if (o->max_span_bytes > SIZE_MAX / 2)
		return clip_error_set(err, CLIP_ERR_INVALID, "reader: max_span_bytes too large");

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	r->idx = idx;
	r->src = *src;
	r->o = *o;
	r->o.disk_cache_dir = NULL;   /* not kept: the caller's string */
	pthread_mutex_init(&r->fetch_lock, NULL);
	pthread_cond_init(&r->fetch_free, NULL);
	pthread_mutex_init(&r->stream_lock, NULL);
	pthread_cond_init(&r->stream_idle, NULL);
	r->nlayers = clip_index_layer_count(idx);
	r->last_span = calloc(r->nlayers ? r->nlayers : 1, sizeof(*r->last_span));
	if (r->last_span == NULL) {
		clip_reader_free(r);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < r->nlayers; i++)
		atomic_init(&r->last_span[i], NO_SPAN);

	rc = span_cache_new(o->mem_cache_bytes, &r->mem, err);
	if (rc != CLIP_OK) {
		clip_reader_free(r);
		return rc;
	}
	if (o->disk_cache_dir != NULL) {
		clip_error_clear(&e);
		if (disk_cache_open(o->disk_cache_dir, o->disk_cache_bytes, &r->disk, &e) != CLIP_OK) {
			COUNT(r, disk_errors, 1);
			warn(r, "%s; continuing with the memory cache only", clip_error_message(&e));
		}
	}
	if (r->disk != NULL) {
		/* Pinned spans stay out of the LRU's reach: half the cache. */
		r->write_backlog_max = o->mem_cache_bytes / 2;
		rc = work_queue_new(1, WRITE_QUEUE, WORK_QUEUE_IDLE, write_job, r, &r->writer, err);
		if (rc != CLIP_OK) {
			clip_reader_free(r);
			return rc;
		}
	}
	if (o->readahead_spans > 0 || o->predict_spans > 0) {
		rc = work_queue_new(o->readahead_threads, READAHEAD_QUEUE, 0, readahead_job, r,
		    &r->ra, err);
		if (rc != CLIP_OK) {
			clip_reader_free(r);
			return rc;
		}
	}
	*out = r;
	return CLIP_OK;
}

void
clip_reader_free(clip_reader *r)
{
	if (r == NULL)
		return;
	work_queue_free(r->ra);     /* first: its jobs use everything below */
	reader_streams_wait(r);    /* then the streamed loads reads and jobs began */
	work_queue_drain(r->writer);   /* then the writes they all queued */
	work_queue_free(r->writer);
	span_cache_free(r->mem);
	disk_cache_close(r->disk);
	free(r->last_span);
	pthread_cond_destroy(&r->fetch_free);
	pthread_mutex_destroy(&r->fetch_lock);
	pthread_cond_destroy(&r->stream_idle);
	pthread_mutex_destroy(&r->stream_lock);
	free(r->ended);
	free(r);
}

void
clip_reader_flush(clip_reader *r)
{
	if (r != NULL) {
		work_queue_drain(r->ra);   /* jobs may start streamed loads */
		reader_streams_wait(r);   /* they queue writes when done */
		work_queue_drain(r->writer);
	}
}

void
clip_reader_stats(const clip_reader *cr, struct clip_reader_stats *s)
{
	clip_reader *r = (clip_reader *)cr;   /* the caches lock to read totals */
	uint64_t files;
	unsigned b;

	memset(s, 0, sizeof(*s));
	if (r == NULL)
		return;
#define LOAD(field) s->field = atomic_load_explicit(&r->c.field, memory_order_relaxed)
	LOAD(reads);
	LOAD(bytes_served);
	LOAD(bytes_fetched);
	LOAD(fetch_requests);
	LOAD(fetch_errors);
	LOAD(checksum_errors);
	LOAD(spans_inflated);
	LOAD(mem_hits);
	LOAD(mem_misses);
	LOAD(mem_waits);
	LOAD(disk_hits);
	LOAD(disk_misses);
	LOAD(disk_damaged);
	LOAD(disk_writes);
	LOAD(disk_errors);
	LOAD(readahead_spans);
	LOAD(prefetch_spans);
	LOAD(partial_loads);
	LOAD(stream_loads);
	LOAD(prefetch_requests);
#undef LOAD
	for (b = 0; b < CLIP_READER_LATENCY_BUCKETS; b++)
		s->fetch_latency_us[b] = atomic_load_explicit(&r->c.latency[b],
		    memory_order_relaxed);
	span_cache_usage(r->mem, &s->mem_bytes, &s->mem_spans);
	pthread_mutex_lock(&r->stream_lock);
	s->stream_threads = r->streams + r->nended;
	pthread_mutex_unlock(&r->stream_lock);
	if (r->disk != NULL)
		disk_cache_usage(r->disk, &s->disk_bytes, &files);
}

uint64_t
clip_reader_stats_latency_quantile(const struct clip_reader_stats *s, double p)
{
	uint64_t total = 0, want, seen = 0;
	unsigned b;

	for (b = 0; b < CLIP_READER_LATENCY_BUCKETS; b++)
		total += s->fetch_latency_us[b];
	if (total == 0 || p <= 0)
		return 0;
	if (p > 1)
		p = 1;
	want = (uint64_t)(p * (double)total + 0.999999);
	if (want == 0)
		want = 1;
	for (b = 0; b < CLIP_READER_LATENCY_BUCKETS; b++) {
		seen += s->fetch_latency_us[b];
		if (seen >= want)
			break;
	}
	if (b >= CLIP_READER_LATENCY_BUCKETS)
		b = CLIP_READER_LATENCY_BUCKETS - 1;
	return UINT64_C(2) << b;
}
