/*
 * layer_reader.c - the read path's front: a read is cut into the spans
 * that cover it, each served from memory, from the disk cache, or by
 * waiting on its load (loader.c, which a miss starts); then readahead
 * and predict decide what to load next.  Also the disk cache writer,
 * statistics and the reader's life cycle.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader/reader_int.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
/* Readahead and predict loads waiting for a thread; more are dropped. */
#define HINT_QUEUE 64
/* Loader threads kept for misses (when there are more than this). */
#define MISS_THREADS 2
/* The most spans a miss brings in with one request. */
#define MISS_RUN_MAX 16
/* Verified compressed chunks kept at the edges of requests. */
#define CHUNK_CACHE_BYTES (4 * MiB)
/* A lookup that keeps finding its load given up is an error after this. */
#define MAX_LOOKUPS 64

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
	o->max_span_bytes = 256 * MiB;
}

void
reader_warn(clip_reader *r, const char *fmt, ...)
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

int
reader_worth_loading(clip_reader *r, const struct clip_layer *L, uint32_t s,
    const struct clip_checkpoint *cp)
{
	struct disk_cache_key key;

	if (span_cache_contains(r->mem, reader_span_key(L->index, s)))
		return 0;
	key = reader_disk_key(L, s, cp);
	return r->disk == NULL || !disk_cache_contains(r->disk, &key);
}

clip_err
reader_span_at(clip_reader *r, const struct clip_layer *L, uint32_t i, uint64_t pos,
    struct clip_checkpoint *cp, struct clip_error *err)
{
	if (clip_index_checkpoint(r->idx, L->index, i, cp) != CLIP_OK ||
	    cp->out_offset > pos || cp->out_end <= pos)
		return clip_error_set(err, CLIP_ERR_FORMAT, "layer %s: spans do not cover offset "
		    "%llu", L->digest.ptr, (unsigned long long)pos);
	return CLIP_OK;
}

/* ---- the disk cache writer --------------------------------------------------- */

struct write_job {
	struct work_item item;
	clip_reader *r;
	uint32_t layer, span;
	struct span *sp;        /* a reference, held for the write */
};

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
			reader_warn(r, "%s; continuing with the memory cache only",
			    clip_error_message(&e));
	} else if (stored) {
		COUNT(r, disk_writes, 1);
	}
}

static void
write_job_end(struct write_job *j)
{
	atomic_fetch_sub(&j->r->write_backlog, span_len(j->sp));
	atomic_fetch_sub(&j->r->writes_pending, 1);
	span_cache_release(j->r->mem, j->sp);
	free(j);
}

static void
write_job_run(struct work_item *item)
{
	struct write_job *j = (struct write_job *)item;
	struct clip_layer L;

	if (clip_index_layer(j->r->idx, j->layer, &L) == CLIP_OK)
		disk_store(j->r, &L, j->span, span_data(j->sp), span_len(j->sp));
	write_job_end(j);
}

static void
write_job_drop(struct work_item *item)
{
	write_job_end((struct write_job *)item);
}

/*
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
	struct write_job *j;

	if (r->writer != NULL &&
	    atomic_fetch_add(&r->write_backlog, len) + len <= r->write_backlog_max &&
	    (j = calloc(1, sizeof(*j))) != NULL) {
		j->item.run = write_job_run;
		j->item.drop = write_job_drop;
		j->r = r;
		j->layer = L->index;
		j->span = i;
		j->sp = span_cache_ref(r->mem, sp);
		atomic_fetch_add(&r->writes_pending, 1);
		if (work_queue_push(r->writer, &j->item, WORK_NORMAL))
			return;
		atomic_fetch_sub(&r->writes_pending, 1);
		span_cache_release(r->mem, j->sp);
		free(j);
	}
	if (r->writer != NULL)
		atomic_fetch_sub(&r->write_backlog, len);
	disk_store(r, L, i, span_data(sp), (size_t)len);
}

/* ---- loading ahead ----------------------------------------------------------- */

/* Loads, in the background, the spans worth loading among
 * [first, first + count) that start before limit. */
static void
load_ahead(clip_reader *r, const struct clip_layer *L, uint32_t first, unsigned count,
    uint64_t limit)
{
	struct clip_checkpoint cp;
	uint64_t end = (uint64_t)first + count;
	uint32_t k;

	if (end > L->checkpoint_count)
		end = L->checkpoint_count;
	/* Only spans that start before limit; from the first one worth
	 * loading (checked here: a load that finds nothing to do still costs
	 * a loader thread's wake-up, which on a warm read is most of it). */
	for (k = first; k < end; k++) {
		if (clip_index_checkpoint(r->idx, L->index, k, &cp) != CLIP_OK || cp.out_offset >= limit)
			break;
		if (k == first && !reader_worth_loading(r, L, k, &cp))
			first++;
	}
	if (k > first)
		loader_start(r, L, first, k, NULL, k - first, UINT64_MAX, 0, LOAD_AHEAD, NULL, NULL);
}

/* A read touched spans [first, last]: if the previous read of this layer
 * ended just before, the reader is streaming; load what comes next, but
 * only spans that start before limit (the end of the file being read):
 * two small files in neighbouring spans are not a stream, and loading
 * spans past the file would fetch bytes nobody asked for. */
static void
maybe_read_ahead(clip_reader *r, const struct clip_layer *L, uint32_t first, uint32_t last,
    uint64_t limit)
{
	uint32_t prev = atomic_exchange(&r->last_span[L->index], last);

	if (r->o.readahead_spans == 0 || prev == NO_SPAN || prev + 1 < first || prev + 1 > last)
		return;
	load_ahead(r, L, last + 1, r->o.readahead_spans, limit);
}

/* ---- one span of a read -------------------------------------------------------- */

/*
 * Serves part of span i straight from the disk cache, checking only the
 * 64 KiB blocks it touches, when the span is not in memory: a warm read
 * then costs about what reading those bytes from a local file does.
 * 1 if out was filled; 0 to go the usual way (memory, then a load).
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
		kept_pages_note(r, L, i);
		return 1;
	}
	if (damaged) {
		COUNT(r, disk_damaged, 1);
		reader_warn(r, "disk cache: layer %s span %u was damaged; deleted, refetching",
		    L->digest.ptr, i);
	}
	return 0;
}

/* A miss on span i, claimed as sp: its load (with the spans after it)
 * goes to the loader, and the spans after those are predicted.  *want:
 * the entry to wait on. */
static clip_err
start_miss(clip_reader *r, const struct clip_layer *L, uint32_t i, struct span *sp,
    struct span **want, struct clip_error *err)
{
	unsigned n;

	COUNT(r, mem_misses, 1);
	n = loader_start(r, L, i, UINT32_MAX, sp, MISS_RUN_MAX, r->o.load_bytes, 0, LOAD_MISS, want,
	    NULL);
	if (*want == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "layer %s: span %u: cannot start its "
		    "load", L->digest.ptr, i);
	if (r->o.predict_spans > 0)
		load_ahead(r, L, i + n, r->o.predict_spans, UINT64_MAX);
	return CLIP_OK;
}

/* Copies bytes [at, at + n) of span i of L into dst from memory, loading
 * the span (or waiting for its load) as needed. */
static clip_err
read_span(clip_reader *r, const struct clip_layer *L, uint32_t i, uint64_t at, size_t n,
    uint8_t *dst, struct clip_error *err)
{
	struct span *sp;
	enum span_wait w;
	unsigned tries;
	clip_err rc;

	for (tries = 0; tries < MAX_LOOKUPS; tries++) {
		switch (span_cache_lookup(r->mem, reader_span_key(L->index, i), &sp)) {
		case SPAN_READY:
			COUNT(r, mem_hits, 1);
			memcpy(dst, span_data(sp) + at, n);
			span_cache_release(r->mem, sp);
			return CLIP_OK;
		case SPAN_NOMEM:
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		case SPAN_CLAIMED:
			if ((rc = start_miss(r, L, i, sp, &sp, err)) != CLIP_OK)
				return rc;
			break;
		case SPAN_LOADING:
			COUNT(r, mem_misses, 1);
			COUNT(r, mem_waits, 1);
			break;
		}
		w = span_cache_wait(r->mem, sp, (size_t)(at + n), err);
		if (w == SPAN_WAIT_OK)
			memcpy(dst, span_data(sp) + at, n);
		span_cache_release(r->mem, sp);
		if (w == SPAN_WAIT_OK)
			return CLIP_OK;
		if (w == SPAN_WAIT_FAILED)
			return err != NULL && err->code != CLIP_OK ? err->code : CLIP_ERR_IO;
	}
	return clip_error_set(err, CLIP_ERR_IO, "layer %s: span %u: its loads kept being given up",
	    L->digest.ptr, i);
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
		if ((rc = reader_span_at(r, &L, i, pos, &cp, err)) != CLIP_OK)
			return rc;
		n = (end < cp.out_end ? end : cp.out_end) - pos;
		if (!read_from_disk(r, &L, i, &cp, pos - cp.out_offset, (size_t)n,
		    buf + (pos - off)) &&
		    (rc = read_span(r, &L, i, pos - cp.out_offset, (size_t)n, buf + (pos - off),
		    err)) != CLIP_OK)
			return rc;
		pos += n;
		*got += (size_t)n;
		COUNT(r, bytes_served, n);
	}
	maybe_read_ahead(r, &L, first, i - 1, extent_end);
	return CLIP_OK;
}

clip_err
clip_reader_prefetch(clip_reader *r, uint32_t layer, uint32_t first, uint32_t count,
    uint64_t max_request, struct clip_error *err)
{
	struct load_done done;
	struct clip_layer L;
	uint32_t i, end;
	clip_err rc, first_rc = CLIP_OK;

	if (clip_index_layer(r->idx, layer, &L) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "no layer %u", layer);
	if (first >= L.checkpoint_count)
		return CLIP_OK;
	end = count > L.checkpoint_count - first ? L.checkpoint_count : first + count;
	for (i = first; i < end; i = done.next > i ? done.next : i + 1) {
		loader_done_init(&done);
		loader_start(r, &L, i, end, NULL, LOAD_MAX_SPANS, UINT64_MAX, max_request,
		    LOAD_PREFETCH, NULL, &done);
		rc = loader_done_wait(&done);
		if (rc != CLIP_OK && first_rc == CLIP_OK) {
			first_rc = rc;
			if (err != NULL)
				*err = done.err;
		}
	}
	return first_rc;
}

/* The caches and the threads of a new reader. */
static clip_err
reader_start(clip_reader *r, struct clip_error *err)
{
	const struct clip_reader_opts *o = &r->o;
	unsigned background;
	struct clip_error e;
	clip_err rc;

	if ((rc = span_cache_new(o->mem_cache_bytes, &r->mem, err)) != CLIP_OK)
		return rc;
	if (clip_index_chunk_size(r->idx) > 0 &&
	    (rc = span_cache_new(CHUNK_CACHE_BYTES, &r->chunks, err)) != CLIP_OK)
		return rc;
	if (r->disk_dir != NULL) {
		clip_error_clear(&e);
		if (disk_cache_open(r->disk_dir, o->disk_cache_bytes, &r->disk, &e) != CLIP_OK) {
			COUNT(r, disk_errors, 1);
			reader_warn(r, "%s; continuing with the memory cache only",
			    clip_error_message(&e));
		}
	}
	if (r->disk != NULL) {
		/* Pinned spans stay out of the LRU's reach: half the cache. */
		r->write_backlog_max = o->mem_cache_bytes / 2;
		rc = work_queue_new(1, 1, 1, WORK_QUEUE_IDLE, &r->writer, err);
		if (rc != CLIP_OK)
			return rc;
	}
	background = o->max_fetches > MISS_THREADS ? o->max_fetches - MISS_THREADS : o->max_fetches;
	return work_queue_new(o->max_fetches, background, HINT_QUEUE, 0, &r->loads, err);
}

clip_err
clip_reader_new(const clip_index *idx, const struct clip_blob_source *src,
    const struct clip_reader_opts *o, clip_reader **out, struct clip_error *err)
{
	struct clip_reader_opts defaults;
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
	if (o->max_fetches == 0 || o->max_fetches > 256 || o->max_span_bytes == 0)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "reader: max_fetches must be 1-256 and max_span_bytes > 0");
	if (o->max_span_bytes > SIZE_MAX / 2)
		return clip_error_set(err, CLIP_ERR_INVALID, "reader: max_span_bytes too large");

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	r->idx = idx;
	r->src = *src;
	r->o = *o;
	r->o.disk_cache_dir = NULL;   /* not kept: the caller's string */
	r->disk_dir = o->disk_cache_dir;
	r->nlayers = clip_index_layer_count(idx);
	r->last_span = calloc(r->nlayers ? r->nlayers : 1, sizeof(*r->last_span));
	if (r->last_span == NULL) {
		clip_reader_free(r);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < r->nlayers; i++)
		atomic_init(&r->last_span[i], NO_SPAN);
	if (kept_pages_init(r) != 0) {
		clip_reader_free(r);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	rc = reader_start(r, err);
	r->disk_dir = NULL;
	if (rc != CLIP_OK) {
		clip_reader_free(r);
		return rc;
	}
	*out = r;
	return CLIP_OK;
}

void
clip_reader_free(clip_reader *r)
{
	if (r == NULL)
		return;
	work_queue_free(r->loads);     /* first: loads use everything below */
	work_queue_drain(r->writer);   /* then the writes they queued */
	work_queue_free(r->writer);
	span_cache_free(r->chunks);
	span_cache_free(r->mem);
	kept_pages_free(r);
	disk_cache_close(r->disk);
	free(r->last_span);
	free(r);
}

void
clip_reader_flush(clip_reader *r)
{
	if (r != NULL) {
		work_queue_drain(r->loads);    /* loads queue writes when done */
		work_queue_drain(r->writer);
	}
}

/* ---- statistics -------------------------------------------------------------- */

const struct clip_reader_stat_field clip_reader_stat_fields[] = {
#define COUNTER_ROW(name, key, what) \
	{ #name, key, what, offsetof(struct clip_reader_stats, name), 0 },
#define GAUGE_ROW(name, key, what) \
	{ #name, key, what, offsetof(struct clip_reader_stats, name), 1 },
	CLIP_READER_COUNTERS(COUNTER_ROW)
	CLIP_READER_GAUGES(GAUGE_ROW)
#undef COUNTER_ROW
#undef GAUGE_ROW
};
const size_t clip_reader_stat_field_count =
    sizeof(clip_reader_stat_fields) / sizeof(clip_reader_stat_fields[0]);

uint64_t
clip_reader_stat_value(const struct clip_reader_stats *s, const struct clip_reader_stat_field *f)
{
	uint64_t v;

	memcpy(&v, (const char *)s + f->offset, sizeof(v));
	return v;
}

void
clip_reader_stats(const clip_reader *cr, struct clip_reader_stats *s)
{
	clip_reader *r = (clip_reader *)cr;   /* the caches lock to read totals */
	unsigned queued, running, b;
	uint64_t files;

	memset(s, 0, sizeof(*s));
	if (r == NULL)
		return;
#define LOAD_COUNTER(name, key, what) \
	s->name = atomic_load_explicit(&r->c.name, memory_order_relaxed);
	CLIP_READER_COUNTERS(LOAD_COUNTER)
#undef LOAD_COUNTER
	for (b = 0; b < CLIP_READER_LATENCY_BUCKETS; b++)
		s->fetch_latency_us[b] = atomic_load_explicit(&r->c.latency[b],
		    memory_order_relaxed);
	span_cache_usage(r->mem, &s->mem_bytes, &s->mem_spans);
	work_queue_counts(r->loads, &queued, &running);
	s->loads_queued = queued;
	s->loads_running = running;
	s->disk_writes_pending = atomic_load(&r->writes_pending);
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
