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
 * Nothing unchecked is inflated into what readers see.  When anything is
 * off (a chunk that does not match, a retry that starts the transfer
 * again, a gzip member that ends inside the span) the helper stops
 * streaming and, once it has all the bytes, loads the span the usual way
 * (one hash, one inflate), with the usual result for the read.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/gzindex.h"
#include "common/layer_reader_int.h"

struct stream {
	struct stream *next;        /* on r->active while not done */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;                   /* the helper and the waiting read */
	clip_reader *r;
	struct clip_layer L;
	uint32_t i;
	struct clip_checkpoint cp;
	struct span *sp;            /* the loading entry, held until freed */
	uint64_t from, to;          /* compressed bytes fetched */
	uint8_t *comp;
	uint8_t *window;
	struct clip_inflate_stream *inf;
	/* Only the helper thread touches these three. */
	size_t have;                /* bytes landed */
	size_t verified;            /* of which checked against chunk hashes */
	int off_track;              /* stop streaming (see above) */
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
	free(st->comp);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* Bytes landed: check the whole chunks among them, inflate what they give. */
static void
on_progress(void *arg, size_t have)
{
	struct stream *st = arg;
	uint64_t cs = clip_index_chunk_size(st->r->idx);
	size_t total = (size_t)(st->to - st->from), n, span_off, usable, made = 0;
	struct clip_error e;
	int stopped = 0;

	if (have < st->have)
		st->off_track = 1;     /* a retry: these bytes come again */
	st->have = have;
	if (st->off_track)
		return;
	clip_error_clear(&e);
	while (st->verified < have) {
		n = total - st->verified < cs ? total - st->verified : (size_t)cs;
		if (st->verified + n > have)
			break;
		if (reader_verify_chunks(st->r, &st->L, st->from + st->verified,
		    st->comp + st->verified, n, &e) != CLIP_OK) {
			st->off_track = 1;   /* the whole load will say why */
			return;
		}
		st->verified += n;
	}
	span_off = (size_t)(st->cp.span_start - st->from);
	if (st->verified <= span_off)
		return;
	usable = st->verified - span_off;
	if (usable > st->cp.span_end - st->cp.span_start)
		usable = (size_t)(st->cp.span_end - st->cp.span_start);
	if (st->inf == NULL && clip_inflate_stream_new(&st->cp, st->window, st->comp + span_off,
	    st->out, st->out_len, &st->inf, &e) != CLIP_OK) {
		st->off_track = 1;
		return;
	}
	if (clip_inflate_stream_feed(st->inf, st->comp + span_off, usable, &made, &stopped, &e) !=
	    CLIP_OK || stopped)
		st->off_track = 1;     /* what came out so far is still right */
	pthread_mutex_lock(&st->lock);
	if (made > st->avail) {
		st->avail = made;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
}

static void *
stream_main(void *arg)
{
	struct stream *st = arg;
	clip_reader *r = st->r;
	size_t comp_len = (size_t)(st->cp.span_end - st->cp.span_start);
	uint8_t *data = NULL, *c;
	struct stream **pp;
	struct clip_error e;
	clip_err rc;

	/* Joinable from here until done (the helper alone adds and removes
	 * it, so the list never holds a stream that has ended). */
	pthread_mutex_lock(&r->stream_lock);
	st->next = r->active;
	r->active = st;
	atomic_fetch_add(&r->nactive, 1);
	pthread_mutex_unlock(&r->stream_lock);

	clip_error_clear(&e);
	rc = reader_fetch(r, st->L.digest.ptr, st->from, (size_t)(st->to - st->from), st->comp,
	    on_progress, st, &e);
	if (rc != CLIP_OK) {
		clip_error_prefix(&e, "span %u: fetch", st->i);
	} else if (!st->off_track && st->avail == st->out_len) {
		/* Whole, and only from checked chunks (on_progress). */
		data = st->out;
		st->out_given = 1;
		COUNT(r, spans_inflated, 1);
		COUNT(r, stream_loads, 1);
	} else if ((c = malloc(comp_len ? comp_len : 1)) == NULL) {
		rc = clip_error_set(&e, CLIP_ERR_NOMEM, "out of memory");
	} else {
		/* The usual way: one hash, one inflate (takes c). */
		memcpy(c, st->comp + (st->cp.span_start - st->from), comp_len);
		rc = reader_verify_and_inflate(r, &st->cp, st->i, c, comp_len, &data, &e);
	}
	if (rc == CLIP_OK) {
		span_cache_fill(r->mem, st->sp, data, st->out_len);
		if (r->disk != NULL)
			reader_disk_store_later(r, &st->L, st->i, st->sp);
	} else {
		clip_error_prefix(&e, "layer %s", st->L.digest.ptr);
		span_cache_fail(r->mem, st->sp, &e);   /* drops our reference */
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
	st->err = e;
	st->final = rc == CLIP_OK ? data : NULL;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	stream_unref(st);

	pthread_mutex_lock(&r->stream_lock);
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
		if (st->L.index == layer && st->i == i)
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

int
reader_stream(clip_reader *r, const struct clip_layer *L, uint32_t i,
    const struct clip_checkpoint *cp, struct span *sp, uint64_t at, size_t n, uint8_t *dst,
    clip_err *rc, struct clip_error *err)
{
	uint64_t cs = clip_index_chunk_size(r->idx), need = at + n;
	struct disk_cache_key key;
	struct clip_error e;
	struct stream *st;
	pthread_attr_t attr;
	pthread_t tid;
	int started;

	if (!streamable(r, L, cp) || need > cp->out_end - cp->out_offset)
		return 0;
	if (r->disk != NULL) {
		key = reader_disk_key(L, i, cp);
		if (disk_cache_contains(r->disk, &key))
			return 0;           /* the usual load reads it from disk */
		COUNT(r, disk_misses, 1);
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return 0;
	st->r = r;
	st->L = *L;
	st->i = i;
	st->cp = *cp;
	st->from = cp->span_start / cs * cs;
	st->to = (cp->span_end + cs - 1) / cs * cs;
	if (st->to > L->compressed_size)
		st->to = L->compressed_size;
	st->out_len = (size_t)(cp->out_end - cp->out_offset);
	st->comp = malloc((size_t)(st->to - st->from));
	st->out = malloc(st->out_len);
	if (cp->window_len > 0)
		st->window = malloc(CLIP_WINDOW_SIZE);
	clip_error_clear(&e);
	if (st->comp == NULL || st->out == NULL || (cp->window_len > 0 && st->window == NULL) ||
	    clip_index_window(cp, st->window, &e) != CLIP_OK) {
		free(st->window);
		free(st->out);
		free(st->comp);
		free(st);
		return 0;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->refs = 2;
	st->sp = sp;                    /* the helper's once it runs */

	pthread_mutex_lock(&r->stream_lock);
	r->streams++;
	pthread_mutex_unlock(&r->stream_lock);
	started = pthread_attr_init(&attr) == 0;
	if (started) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&tid, &attr, stream_main, st) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started) {
		pthread_mutex_lock(&r->stream_lock);
		if (--r->streams == 0)
			pthread_cond_broadcast(&r->stream_idle);
		pthread_mutex_unlock(&r->stream_lock);
		st->refs = 1;
		st->sp = NULL;          /* still the caller's */
		stream_unref(st);
		return 0;
	}

	*rc = stream_wait(st, at, n, dst, err);
	return 1;
}

void
reader_streams_wait(clip_reader *r)
{
	pthread_mutex_lock(&r->stream_lock);
	while (r->streams > 0)
		pthread_cond_wait(&r->stream_idle, &r->stream_lock);
	pthread_mutex_unlock(&r->stream_lock);
}
