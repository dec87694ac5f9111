/*
 * span_stream.c - a span that a read needs, loaded while it arrives.
 *
 * A cold read waits for its span's round trip, then for the whole span's
 * bytes, then for the whole span to inflate, although it may want only a
 * few KiB at the span's start.  Here a helper thread fetches the span
 * (from the 64 KiB chunk that holds its start to the one that holds its
 * end, so that every piece can be checked against the index's chunk
 * hashes), and as the bytes land it checks each chunk and inflates what
 * the checked bytes give.  The read is answered as soon as its bytes are
 * out; the helper finishes the span and publishes it in the memory cache
 * like any load.  The span's own hash is not computed again: the chunk
 * hashes have covered every compressed byte it was inflated from, and
 * that hash covers the same bytes.
 *
 * The same fetch may carry the spans after it (a run, up to the reader's
 * load_bytes of data): the helper inflates them one after the other and
 * publishes each as soon as it is whole, so a miss costs one round trip
 * however small the index's spans, and starts inflating near the read.
 *
 * Nothing unchecked is inflated into what readers see.  When anything is
 * off (a chunk that does not match, a retry that starts the transfer
 * again, a gzip member that ends inside a span) the helper stops
 * streaming and, once it has all the bytes, loads each span it has not
 * finished the usual way (one hash, one inflate), with the usual result
 * for the reads.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/gzip/inflate.h"
#include "common/reader/layer_reader_int.h"

/* One span of a run: what the reads of that span wait on. */
struct stream {
	struct stream *next;        /* on r->active while not done */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;                   /* the run and the waiting reads */
	clip_reader *r;
	uint32_t layer;
	uint32_t i;
	struct clip_checkpoint cp;
	struct span *sp;            /* the loading entry, held until freed */
	uint8_t *window;
	struct clip_inflate_stream *inf;
	uint8_t *out;
	size_t out_len;
	int out_given;              /* out is the span cache's now */
	/* Under lock: */
	size_t avail;               /* out[0, avail) are final */
	int done;
	clip_err rc;
	struct clip_error err;
	const uint8_t *final;       /* the published span's bytes, once done */
};

/* Consecutive spans of one layer brought in by one fetch, inflated one
 * after the other.  Only the helper thread touches it. */
struct run {
	clip_reader *r;
	struct clip_layer L;
	uint64_t from, to;          /* compressed bytes fetched */
	uint8_t *comp;
	size_t have;                /* bytes landed */
	size_t verified;            /* of which checked against chunk hashes */
	int off_track;              /* stop streaming (see above) */
	unsigned n;                 /* spans */
	unsigned cur;               /* st[0, cur) are done */
	struct stream *st[READER_RUN_MAX];
};

static void
stream_unref(struct stream *st)
{
	int last;

	pthread_mutex_lock(&st->lock);
	last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (!last)
		return;
	if (st->sp != NULL)
		span_cache_release(st->r->mem, st->sp);
	clip_inflate_stream_free(st->inf);
	if (!st->out_given)
		free(st->out);
	free(st->window);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* A stream for span i (checkpoint cp) of layer, claimed as sp; NULL on
 * ENOMEM.  One reference, the run's. */
static struct stream *
stream_new(clip_reader *r, uint32_t layer, uint32_t i, const struct clip_checkpoint *cp,
    struct span *sp)
{
	struct stream *st = calloc(1, sizeof(*st));
	struct clip_error e;

	if (st == NULL)
		return NULL;
	st->r = r;
	st->layer = layer;
	st->i = i;
	st->cp = *cp;
	st->out_len = (size_t)(cp->out_end - cp->out_offset);
	st->out = malloc(st->out_len);
	if (cp->window_len > 0)
		st->window = malloc(CLIP_WINDOW_SIZE);
	clip_error_clear(&e);
	if (st->out == NULL || (cp->window_len > 0 && st->window == NULL) ||
	    clip_index_window(cp, st->window, &e) != CLIP_OK) {
		free(st->window);
		free(st->out);
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->refs = 1;
	st->sp = sp;
	if (r->disk != NULL)
		COUNT(r, disk_misses, 1);   /* stream_wanted looked */
	return st;
}

/*
 * Ends span st of the run: publishes data (st->out, or another buffer
 * the span cache takes) or fails it with e, takes it off the active
 * list, wakes its readers and drops the run's reference.
 */
static void
stream_finish(struct run *run, struct stream *st, clip_err rc, uint8_t *data,
    struct clip_error *e)
{
	clip_reader *r = run->r;
	struct stream **pp;

	if (rc == CLIP_OK) {
		if (data == st->out)
			st->out_given = 1;
		span_cache_fill(r->mem, st->sp, data, st->out_len);
		if (r->disk != NULL)
			reader_disk_store_later(r, &run->L, st->i, st->sp);
	} else {
		clip_error_prefix(e, "layer %s", run->L.digest.ptr);
		span_cache_fail(r->mem, st->sp, e);   /* drops our reference */
		st->sp = NULL;
	}
	pthread_mutex_lock(&r->stream_lock);
	for (pp = &r->active; *pp != NULL; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			atomic_fetch_sub(&r->nactive, 1);
			break;
		}
	pthread_mutex_unlock(&r->stream_lock);
	pthread_mutex_lock(&st->lock);
	st->done = 1;
	st->rc = rc;
	st->err = *e;
	st->final = rc == CLIP_OK ? data : NULL;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	stream_unref(st);
}

/* Inflates what the checked bytes give of span st; 1 once it is whole. */
static int
stream_feed(struct run *run, struct stream *st)
{
	size_t span_off = (size_t)(st->cp.span_start - run->from), usable, made = 0;
	struct clip_error e;
	int stopped = 0;

	if (run->verified <= span_off)
		return 0;
	usable = run->verified - span_off;
	if (usable > st->cp.span_end - st->cp.span_start)
		usable = (size_t)(st->cp.span_end - st->cp.span_start);
	clip_error_clear(&e);
	if (st->inf == NULL && clip_inflate_stream_new(&st->cp, st->window, run->comp + span_off,
	    st->out, st->out_len, &st->inf, &e) != CLIP_OK) {
		run->off_track = 1;
		return 0;
	}
	if (clip_inflate_stream_feed(st->inf, run->comp + span_off, usable, &made, &stopped, &e) !=
	    CLIP_OK || stopped)
		run->off_track = 1;    /* what came out so far is still right */
	pthread_mutex_lock(&st->lock);
	if (made > st->avail) {
		st->avail = made;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
	return !run->off_track && made == st->out_len;
}

/* Bytes landed: check the whole chunks among them, inflate what they
 * give, and publish each span as soon as it is whole (only from checked
 * chunks, so its own hash, over the same bytes, is not computed again). */
static void
on_progress(void *arg, size_t have)
{
	struct run *run = arg;
	uint64_t cs = clip_index_chunk_size(run->r->idx);
	size_t total = (size_t)(run->to - run->from), n;
	struct clip_error e;

	if (have < run->have)
		run->off_track = 1;    /* a retry: these bytes come again */
	run->have = have;
	if (run->off_track)
		return;
	clip_error_clear(&e);
	while (run->verified < have) {
		n = total - run->verified < cs ? total - run->verified : (size_t)cs;
		if (run->verified + n > have)
			break;
		if (reader_verify_chunks(run->r, &run->L, run->from + run->verified,
		    run->comp + run->verified, n, &e) != CLIP_OK) {
			run->off_track = 1;   /* the whole load will say why */
			return;
		}
		run->verified += n;
	}
	while (run->cur < run->n && stream_feed(run, run->st[run->cur])) {
		COUNT(run->r, spans_inflated, 1);
		COUNT(run->r, stream_loads, 1);
		stream_finish(run, run->st[run->cur], CLIP_OK, run->st[run->cur]->out, &e);
		run->cur++;
	}
}

/* Makes room on r's list of ended helpers for every helper not yet
 * joined plus one more, so that a helper can always put itself there
 * when it ends; 0 without memory.  Called with stream_lock held. */
static int
ended_reserve(clip_reader *r)
{
	size_t want = r->streams + r->nended + 1, cap;
	pthread_t *v;

	if (r->ended_cap >= want)
		return 1;
	cap = r->ended_cap ? 2 * r->ended_cap : 8;
	if (cap < want)
		cap = want;
	if ((v = realloc(r->ended, cap * sizeof(*v))) == NULL)
		return 0;
	r->ended = v;
	r->ended_cap = cap;
	return 1;
}

/* Joins the helpers that have ended.  Each let go of stream_lock before
 * it was listed and has nothing left to do but return, so joining them
 * with the lock held waits for no work and deadlocks on nothing. */
static void
ended_join(clip_reader *r)
{
	size_t k;

	pthread_mutex_lock(&r->stream_lock);
	for (k = 0; k < r->nended; k++)
		pthread_join(r->ended[k], NULL);
	r->nended = 0;
	pthread_mutex_unlock(&r->stream_lock);
}

static void *
run_main(void *arg)
{
	struct run *run = arg;
	clip_reader *r = run->r;
	struct stream *st;
	struct clip_error e, fe;
	uint8_t *data, *c;
	size_t comp_len;
	unsigned k;
	clip_err rc, frc;

	/* Joinable from here until done (the helper alone adds and removes
	 * them, so the list never holds a stream that has ended). */
	pthread_mutex_lock(&r->stream_lock);
	for (k = 0; k < run->n; k++) {
		run->st[k]->next = r->active;
		r->active = run->st[k];
		atomic_fetch_add(&r->nactive, 1);
	}
	pthread_mutex_unlock(&r->stream_lock);

	clip_error_clear(&fe);
	frc = reader_fetch(r, run->L.digest.ptr, run->from, (size_t)(run->to - run->from),
	    run->comp, on_progress, run, &fe);
	if (frc != CLIP_OK)
		clip_error_prefix(&fe, "span %u: fetch", run->st[run->cur < run->n ? run->cur : 0]->i);
	/* What streaming did not finish: the usual way, one hash and one
	 * inflate a span, or the fetch's error. */
	for (; run->cur < run->n; run->cur++) {
		st = run->st[run->cur];
		e = fe;
		rc = frc;
		data = NULL;
		comp_len = (size_t)(st->cp.span_end - st->cp.span_start);
		if (rc == CLIP_OK && (c = malloc(comp_len ? comp_len : 1)) == NULL) {
			rc = clip_error_set(&e, CLIP_ERR_NOMEM, "out of memory");
		} else if (rc == CLIP_OK) {
			memcpy(c, run->comp + (st->cp.span_start - run->from), comp_len);
			rc = reader_verify_and_inflate(r, &st->cp, st->i, c, comp_len, &data, &e);
		}
		stream_finish(run, st, rc, data, &e);
	}
	free(run->comp);
	free(run);

	/* To be joined, so that once reader_streams_wait returns no helper
	 * runs, not even its thread's destructors (libcrypto's per-thread
	 * state from hashing and TLS).  The launcher made room on the list. */
	pthread_mutex_lock(&r->stream_lock);
	r->ended[r->nended++] = pthread_self();
	if (--r->streams == 0)
		pthread_cond_broadcast(&r->stream_idle);
	pthread_mutex_unlock(&r->stream_lock);
	return NULL;
}

/* Waits until [at, at + n) of st's span is out, copies it to dst, and
 * drops the caller's reference. */
static clip_err
stream_wait(struct stream *st, uint64_t at, size_t n, uint8_t *dst, struct clip_error *err)
{
	uint64_t need = at + n;
	clip_err rc;

	pthread_mutex_lock(&st->lock);
	while (!st->done && st->avail < need)
		pthread_cond_wait(&st->cond, &st->lock);
	if (st->avail >= need) {
		pthread_mutex_unlock(&st->lock);
		memcpy(dst, st->out + at, n);    /* final bytes: no lock needed */
		rc = CLIP_OK;
	} else {
		rc = st->rc;
		if (st->rc == CLIP_OK)
			memcpy(dst, st->final + at, n);
		else if (err != NULL)
			*err = st->err;
		pthread_mutex_unlock(&st->lock);
	}
	stream_unref(st);
	return rc;
}

int
reader_stream_join(clip_reader *r, uint32_t layer, uint32_t i, uint64_t at, size_t n,
    uint8_t *dst, clip_err *rc, struct clip_error *err)
{
	struct stream *st;

	pthread_mutex_lock(&r->stream_lock);
	for (st = r->active; st != NULL; st = st->next)
		if (st->layer == layer && st->i == i)
			break;
	if (st != NULL && at + n <= st->out_len) {
		pthread_mutex_lock(&st->lock);
		st->refs++;
		pthread_mutex_unlock(&st->lock);
	} else {
		st = NULL;
	}
	pthread_mutex_unlock(&r->stream_lock);
	if (st == NULL)
		return 0;
	*rc = stream_wait(st, at, n, dst, err);
	return 1;
}

/* The span can be streamed: a source that reports progress, chunk hashes
 * to check pieces with, a deflate span of sane size. */
static int
streamable(const clip_reader *r, const struct clip_layer *L, const struct clip_checkpoint *cp)
{
	return r->src.fetch_progress != NULL && r->o.stream_loads && !r->o.partial_loads &&
	    clip_index_chunk_size(r->idx) > 0 &&
	    (cp->kind == CLIP_CHECKPOINT_DEFLATE || cp->kind == CLIP_CHECKPOINT_MEMBER) &&
	    cp->span_end > cp->span_start && cp->out_end > cp->out_offset &&
	    cp->span_end <= L->compressed_size &&
	    cp->span_end - cp->span_start <= r->o.max_span_bytes &&
	    cp->out_end - cp->out_offset <= r->o.max_span_bytes;
}

/* Undoes a run that did not start: the spans it claimed after the first
 * are given up; the first is still the caller's to load. */
static void
run_abandon(struct run *run)
{
	struct clip_error e;
	unsigned k;

	clip_error_set(&e, CLIP_ERR_NOMEM, "out of memory");
	for (k = 1; k < run->n; k++) {
		span_cache_fail(run->r->mem, run->st[k]->sp, &e);
		run->st[k]->sp = NULL;
		stream_unref(run->st[k]);
	}
	run->st[0]->sp = NULL;
	stream_unref(run->st[0]);
	free(run->comp);
	free(run);
}

/* Span i of L (checkpoint cp) is to be streamed: it can be, and it is
 * not on disk (the usual load reads it from there). */
static int
stream_wanted(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp)
{
	struct disk_cache_key key;

	if (!streamable(r, L, cp))
		return 0;
	if (r->disk != NULL) {
		key = reader_disk_key(L, i, cp);
		if (disk_cache_contains(r->disk, &key))
			return 0;
	}
	return 1;
}

/* Claims span j of L (checkpoint cpj, stream_wanted) for a run, unless
 * it is in memory or being loaded.  NULL if it is not to be taken. */
static struct stream *
run_claim(clip_reader *r, const struct clip_layer *L, uint32_t j,
    const struct clip_checkpoint *cpj)
{
	struct clip_error e;
	struct stream *st;
	struct span *sp;

	if ((sp = span_cache_try_claim(r->mem, reader_span_key(L->index, j))) == NULL)
		return NULL;
	if ((st = stream_new(r, L->index, j, cpj, sp)) == NULL) {
		clip_error_set(&e, CLIP_ERR_NOMEM, "out of memory");
		span_cache_fail(r->mem, sp, &e);
	}
	return st;
}

int
reader_stream(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, struct span *sp, uint64_t load_bytes, uint64_t at, size_t n,
    uint8_t *dst, clip_err *rc, struct clip_error *err)
{
	uint64_t cs = clip_index_chunk_size(r->idx), out_total;
	struct clip_checkpoint cpj;
	struct stream *first, *st;
	struct run *run;
	pthread_t tid;
	uint32_t j;
	unsigned taken;
	int started;

	if (!stream_wanted(r, L, i, cp) || at + n > cp->out_end - cp->out_offset)
		return 0;
	if ((run = calloc(1, sizeof(*run))) == NULL)
		return 0;
	if ((first = stream_new(r, L->index, i, cp, sp)) == NULL) {
		free(run);
		return 0;
	}
	out_total = first->out_len;
	run->r = r;
	run->L = *L;
	run->st[run->n++] = first;
	/* The spans after it that nothing holds yet come in the same fetch. */
	for (j = i + 1; n > 0 && run->n < READER_RUN_MAX && j < L->checkpoint_count; j++) {
		if (clip_index_checkpoint(r->idx, L->index, j, &cpj) != CLIP_OK ||
		    cpj.span_start < run->st[run->n - 1]->cp.span_start ||
		    !stream_wanted(r, L, j, &cpj) ||
		    out_total + (cpj.out_end - cpj.out_offset) > load_bytes ||
		    (st = run_claim(r, L, j, &cpj)) == NULL)
			break;
		out_total += st->out_len;
		COUNT(r, readahead_spans, 1);
		run->st[run->n++] = st;
	}
	run->from = cp->span_start / cs * cs;
	run->to = (run->st[run->n - 1]->cp.span_end + cs - 1) / cs * cs;
	if (run->to > L->compressed_size)
		run->to = L->compressed_size;
	if ((run->comp = malloc((size_t)(run->to - run->from))) == NULL) {
		run_abandon(run);
		return 0;
	}
	first->refs++;                  /* ours, to wait on */
	taken = run->n;                 /* run is the helper's once it starts */

	ended_join(r);
	pthread_mutex_lock(&r->stream_lock);
	if ((started = ended_reserve(r)))
		r->streams++;
	pthread_mutex_unlock(&r->stream_lock);
	if (started && pthread_create(&tid, NULL, run_main, run) != 0) {
		pthread_mutex_lock(&r->stream_lock);
		if (--r->streams == 0)
			pthread_cond_broadcast(&r->stream_idle);
		pthread_mutex_unlock(&r->stream_lock);
		started = 0;
	}
	if (!started) {
		first->refs--;
		run_abandon(run);
		return 0;
	}

	if (n > 0)
		reader_predict(r, L, i, taken - 1);
	*rc = stream_wait(first, at, n, dst, err);
	return 1;
}

void
reader_streams_wait(clip_reader *r)
{
	pthread_mutex_lock(&r->stream_lock);
	while (r->streams > 0)
		pthread_cond_wait(&r->stream_idle, &r->stream_lock);
	pthread_mutex_unlock(&r->stream_lock);
	ended_join(r);
}
