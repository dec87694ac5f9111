/*
 * loader.c - the one way spans are loaded: a run of consecutive spans of
 * a layer in one request, checked as the bytes arrive, inflated, and
 * published as they come out.
 *
 * Misses, readahead and predict, prefetch lists and the background
 * fetch all come here (loader_start), and differ only in the class of
 * their job on the loader's thread pool.  A load, top to bottom:
 *
 *   loader_start   queues the job; a miss claims the run's spans in the
 *                  memory cache at once (readers that want one of them
 *                  wait on its entry from then on), other loads claim
 *                  theirs when they run (claim_run);
 *   load_run       on a loader thread: checks the spans' sizes against
 *                  the cap, gives each its output buffer, plans which
 *                  compressed bytes to fetch (plan_range) and fetches
 *                  them in one request;
 *   on_progress    as bytes land: checks each whole 64 KiB chunk
 *                  against the index's chunk hash (check_chunks), and
 *                  inflates what checked bytes give (feed_spans), so a
 *                  waiting read is answered as soon as its bytes are out;
 *                  a span is published as soon as it is whole;
 *   finish_spans   once the request is over: the spans not yet whole are
 *                  inflated whole, checked by their own SHA-256 where the
 *                  chunks could not vouch for them, or failed.
 *
 * Requests never overlap: a request starts and ends on chunk boundaries
 * (so every piece can be checked on its own), and the chunks at its two
 * ends, which it shares with the spans before and after the run, are
 * kept in a small cache of their own (r->chunks), from which the next
 * load takes them instead of fetching them again.  A load whose edge
 * chunk another load is still fetching waits for it once its own bytes
 * are in and it has let go of its own edges (so a waiting load owns
 * nothing anyone waits for, and waits cannot form a cycle).
 *
 * Nothing unchecked is inflated into what readers see.  When anything is
 * off (a chunk that does not match, a retry that starts the transfer
 * again) streaming stops, and each span not finished is checked against
 * its own hash once all bytes are in, so a bad byte fails only the span
 * it is in.  An exact load (a prefetch, or an index without chunk
 * hashes) fetches the spans' own bytes only, and checks each span by its
 * hash as soon as its bytes are in.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "common/gzip/inflate.h"
#include "common/reader/reader_int.h"

struct load_span {
	uint32_t i;
	struct clip_checkpoint cp;
	struct span *sp;              /* our claim, until published or failed */
	uint8_t *out;                 /* the entry's buffer (span_cache_begin) */
	size_t out_len;
	uint8_t *window;              /* the checkpoint's window, when it has one */
	struct clip_inflate_stream *inf;
	size_t made;                  /* out[0, made) final */
	int begun;                    /* out is the entry's (span_cache_begin) */
	int whole;                    /* finish with one inflate (the stream stopped) */
	int ended;                    /* published or failed */
	int hash_ok;                  /* its bytes, as they are now, match its hash */
};

enum edge_state {
	EDGE_FETCH,   /* we fetch it and keep it to ourselves */
	EDGE_OWN,     /* we fetch it and publish it in r->chunks (ch: our claim) */
	EDGE_HAVE,    /* in comp, checked */
	EDGE_WAIT,    /* another load fetches it (ch: a reference to its entry) */
};

/* A chunk at one end of the request. */
struct edge {
	uint64_t at, len;             /* its bytes in the blob; len 0: no such edge */
	enum edge_state state;
	struct span *ch;
};

struct load {
	struct work_item item;
	clip_reader *r;
	struct clip_layer L;
	enum load_kind kind;
	/* What to claim when the load runs (kinds but LOAD_MISS). */
	uint32_t first, end;
	unsigned max_spans;
	uint64_t max_out, max_comp;
	struct load_done *done;
	uint32_t next;                /* the first span after those taken */
	clip_err rc;                  /* the first span's error, for done */
	struct clip_error err;
	uint64_t cs;                  /* chunk size; 0: the index has no chunk hashes */
	/* The request is the spans' exact bytes, each span checked by its own
	 * hash (no chunk hashes; or a prefetch, whose neighbours are usually
	 * not wanted: whole chunks would fetch up to 64 KiB of them at each
	 * end).  Chunks at its edges that memory holds are still used. */
	int exact;
	unsigned n;
	struct load_span s[LOAD_MAX_SPANS];
	uint64_t from, to;            /* comp holds the blob's bytes [from, to) */
	uint8_t *comp;
	struct edge head, tail;
	uint64_t fetch_from, fetch_to;    /* the bytes requested */
	uint64_t landed;              /* [fetch_from, landed) arrived */
	uint64_t checked;             /* [fetch_from, checked) match their chunk hashes */
	uint64_t ok_to;               /* [from, ok_to) checked, without a gap */
	int off_track;                /* stop streaming: finish by span hashes */
	int bad_chunk;                /* a chunk did not match (counted) */
	int attempt_bad;              /* ... in the bytes of the host trying now */
};

static uint64_t
chunk_key(uint32_t layer, uint64_t chunk)
{
	return (uint64_t)layer << 32 | (chunk & 0xffffffffu);
}

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

/* One call into the source, timed and counted; progress (or NULL) as for
 * clip_blob_source.fetch_progress, called once at the end by a source
 * that cannot report it; verify (or NULL) as for fetch_verified, for a
 * source of several hosts. */
static clip_err
fetch(clip_reader *r, const char *digest, uint64_t off, size_t len, uint8_t *buf,
    clip_fetch_progress_fn progress, clip_fetch_verify_fn verify, void *arg,
    struct clip_error *err)
{
	uint64_t t0 = now_us();
	clip_err rc;

	if (r->src.fetch_verified != NULL)
		rc = r->src.fetch_verified(r->src.ctx, digest, off, len, buf, progress, verify, arg,
		    err);
	else if (progress != NULL && r->src.fetch_progress != NULL)
		rc = r->src.fetch_progress(r->src.ctx, digest, off, len, buf, progress, arg, err);
	else
		rc = r->src.fetch(r->src.ctx, digest, off, len, buf, err);
	record_latency(r, now_us() - t0);
	COUNT(r, fetch_requests, 1);
	if (rc != CLIP_OK) {
		if (err != NULL && err->code == CLIP_OK)
			clip_error_set(err, rc, "%s", clip_strerror(rc));
		COUNT(r, fetch_errors, 1);
		return rc;
	}
	COUNT(r, bytes_fetched, len);
	if (progress != NULL && r->src.fetch_progress == NULL && r->src.fetch_verified == NULL)
		progress(arg, len);
	return CLIP_OK;
}

static clip_err
sha256_matches(const uint8_t *buf, size_t len, const uint8_t *want, int *match,
    struct clip_error *err)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return clip_error_set(err, CLIP_ERR_NOMEM, "sha256 failed");
	*match = memcmp(md, want, 32) == 0;
	return CLIP_OK;
}

/* ---- claiming and queueing ------------------------------------------------- */

static void load_run(struct work_item *item);
static void load_drop(struct work_item *item);

/* Whether span j (checkpoint cp) may join a run whose last span is prev. */
static int
joins_run(clip_reader *r, const struct clip_layer *L, uint32_t j,
    const struct clip_checkpoint *cp, const struct clip_checkpoint *prev)
{
	return cp->span_start >= prev->span_start && cp->span_end > cp->span_start &&
	    cp->out_end > cp->out_offset && cp->span_end <= L->compressed_size &&
	    cp->span_end - cp->span_start <= r->o.max_span_bytes &&
	    cp->out_end - cp->out_offset <= r->o.max_span_bytes &&
	    reader_worth_loading(r, L, j, cp);
}

static void
abandon_claims(struct load *ld)
{
	unsigned k;

	for (k = 0; k < ld->n; k++) {
		if (ld->s[k].sp != NULL)
			span_cache_abandon(ld->r->mem, ld->s[k].sp);
		ld->s[k].sp = NULL;
	}
	ld->n = 0;
}

/* Claims the spans after s[0] while they fit the load's bounds. */
static void
claim_rest(struct load *ld)
{
	clip_reader *r = ld->r;
	struct clip_checkpoint cp;
	uint64_t out = ld->s[0].cp.out_end - ld->s[0].cp.out_offset;
	uint64_t comp = ld->s[0].cp.span_end - ld->s[0].cp.span_start;
	uint32_t j;

	for (j = ld->s[0].i + 1; ld->n < ld->max_spans && j < ld->end; j++) {
		if (clip_index_checkpoint(r->idx, ld->L.index, j, &cp) != CLIP_OK ||
		    !joins_run(r, &ld->L, j, &cp, &ld->s[ld->n - 1].cp) ||
		    out + (cp.out_end - cp.out_offset) > ld->max_out ||
		    (ld->max_comp > 0 && comp + (cp.span_end - cp.span_start) > ld->max_comp) ||
		    (ld->s[ld->n].sp = span_cache_try_claim(r->mem,
		    reader_span_key(ld->L.index, j))) == NULL)
			break;
		ld->s[ld->n].i = j;
		ld->s[ld->n].cp = cp;
		ld->n++;
		out += cp.out_end - cp.out_offset;
		comp += cp.span_end - cp.span_start;
	}
}

/* For a load that claims when it runs: the first span from ld->first
 * that is worth loading and nobody has, then the ones after it. */
static void
claim_run(struct load *ld)
{
	clip_reader *r = ld->r;
	uint32_t j;

	for (j = ld->first; j < ld->end; j++) {
		if (clip_index_checkpoint(r->idx, ld->L.index, j, &ld->s[0].cp) != CLIP_OK)
			break;
		if (!reader_worth_loading(r, &ld->L, j, &ld->s[0].cp) ||
		    (ld->s[0].sp = span_cache_try_claim(r->mem, reader_span_key(ld->L.index, j))) ==
		    NULL)
			continue;
		ld->s[0].i = j;
		ld->n = 1;
		claim_rest(ld);
		return;
	}
}

void
loader_done_init(struct load_done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	clip_error_clear(&d->err);
}

clip_err
loader_done_wait(struct load_done *d)
{
	pthread_mutex_lock(&d->lock);
	while (!d->finished)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	return d->rc;
}

/* Tells the load's waiter (if any) that it is over. */
static void
tell_done(struct load *ld)
{
	struct load_done *d = ld->done;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->next = ld->next;
	d->rc = ld->rc;
	d->err = ld->err;
	d->finished = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* A claim the caller handed over that cannot be loaded: its waiters get
 * the reason (abandoning it would send them round again). */
static void
refuse_claim(clip_reader *r, struct span *claimed, const char *why)
{
	struct clip_error e;

	clip_error_set(&e, CLIP_ERR_NOMEM, "%s", why);
	span_cache_fail(r->mem, claimed, &e);
}

unsigned
loader_start(clip_reader *r, const struct clip_layer *L, uint32_t first, uint32_t end,
    struct span *claimed, unsigned max_spans, uint64_t max_out, uint64_t max_comp,
    enum load_kind kind, struct span **want, struct load_done *done)
{
	static const enum work_class cls[] = {
		[LOAD_MISS] = WORK_URGENT, [LOAD_PREFETCH] = WORK_NORMAL, [LOAD_AHEAD] = WORK_HINT,
	};
	struct load *ld = calloc(1, sizeof(*ld));
	unsigned n = 1;

	if (want != NULL)
		*want = NULL;
	if (ld == NULL || (claimed != NULL &&
	    clip_index_checkpoint(r->idx, L->index, first, &ld->s[0].cp) != CLIP_OK)) {
		if (claimed != NULL)
			refuse_claim(r, claimed, ld == NULL ? "out of memory" : "no such span");
		free(ld);
		if (done != NULL) {
			pthread_mutex_lock(&done->lock);
			done->rc = clip_error_set(&done->err, CLIP_ERR_NOMEM, "out of memory");
			done->next = end;
			done->finished = 1;
			pthread_mutex_unlock(&done->lock);
		}
		return 0;
	}
	ld->r = r;
	ld->L = *L;
	ld->kind = kind;
	ld->item.run = load_run;
	ld->item.drop = load_drop;
	ld->first = first;
	ld->end = end < L->checkpoint_count ? end : L->checkpoint_count;
	ld->max_spans = max_spans < LOAD_MAX_SPANS ? max_spans : LOAD_MAX_SPANS;
	ld->max_out = max_out;
	ld->max_comp = max_comp;
	ld->done = done;
	if (claimed != NULL) {
		ld->s[0].i = first;
		ld->s[0].sp = claimed;
		ld->n = 1;
		claim_rest(ld);
		n = ld->n;
		if (want != NULL)
			*want = span_cache_ref(r->mem, claimed);
	}
	if (work_queue_push(r->loads, &ld->item, cls[kind]))
		return n;
	if (want != NULL && *want != NULL) {
		span_cache_release(r->mem, *want);
		*want = NULL;
	}
	if (claimed != NULL) {
		refuse_claim(r, claimed, "the reader is shutting down");
		ld->s[0].sp = NULL;
	}
	load_drop(&ld->item);
	return 0;
}

/* ---- planning the request -------------------------------------------------- */

/* What to do about the chunk at edge e: take it from memory, wait for
 * the load that fetches it, or fetch it (and publish it if we can). */
static void
plan_edge(struct load *ld, struct edge *e)
{
	clip_reader *r = ld->r;
	struct span *ch;

	e->state = EDGE_FETCH;
	e->ch = NULL;
	if (e->len == 0 || r->chunks == NULL)
		return;
	switch (span_cache_lookup(r->chunks, chunk_key(ld->L.index, e->at / ld->cs), &ch)) {
	case SPAN_READY:
		memcpy(ld->comp + (e->at - ld->from), span_data(ch), (size_t)e->len);
		span_cache_release(r->chunks, ch);
		COUNT(r, chunk_reuses, 1);
		e->state = EDGE_HAVE;
		break;
	case SPAN_LOADING:
		e->state = EDGE_WAIT;
		e->ch = ch;
		break;
	case SPAN_CLAIMED:
		e->state = EDGE_OWN;
		e->ch = ch;
		break;
	case SPAN_NOMEM:
		break;
	}
}

static int
edge_fetched(const struct edge *e)
{
	return e->state == EDGE_FETCH || e->state == EDGE_OWN;
}

/* For an exact load: the parts of its edge chunks that memory holds are
 * copied, and not fetched. */
static void
exact_edges(struct load *ld)
{
	uint64_t cs = ld->cs, k = ld->from / cs, lo, hi;
	struct span *ch;

	if (ld->r->chunks == NULL)
		return;
	ch = span_cache_peek(ld->r->chunks, chunk_key(ld->L.index, k));
	if (ch != NULL) {
		hi = (k + 1) * cs < ld->to ? (k + 1) * cs : ld->to;
		memcpy(ld->comp, span_data(ch) + (ld->from - k * cs), (size_t)(hi - ld->from));
		span_cache_release(ld->r->chunks, ch);
		COUNT(ld->r, chunk_reuses, 1);
		ld->fetch_from = hi;
	}
	k = (ld->to - 1) / cs;
	if (ld->fetch_from >= ld->to ||
	    (ch = span_cache_peek(ld->r->chunks, chunk_key(ld->L.index, k))) == NULL)
		return;
	lo = k * cs > ld->fetch_from ? k * cs : ld->fetch_from;
	memcpy(ld->comp + (lo - ld->from), span_data(ch) + (lo - k * cs), (size_t)(ld->to - lo));
	span_cache_release(ld->r->chunks, ch);
	COUNT(ld->r, chunk_reuses, 1);
	ld->fetch_to = lo;
}

/* The compressed bytes the load needs ([from, to): whole chunks, or the
 * spans' own bytes for an exact load) and, of those, the ones to fetch. */
static clip_err
plan_range(struct load *ld, struct clip_error *err)
{
	const struct clip_checkpoint *a = &ld->s[0].cp, *b = &ld->s[ld->n - 1].cp;
	uint64_t cs = ld->cs, cl;

	if (ld->exact) {
		ld->from = ld->fetch_from = a->span_start;
		ld->to = ld->fetch_to = b->span_end;
	} else {
		ld->from = a->span_start / cs * cs;
		cl = (b->span_end - 1) / cs;
		ld->to = (cl + 1) * cs < ld->L.compressed_size ? (cl + 1) * cs : ld->L.compressed_size;
		ld->head.at = ld->from;
		ld->head.len = ld->to - ld->from < cs ? ld->to - ld->from : cs;
		ld->tail.at = cl * cs;
		ld->tail.len = cl * cs > ld->from ? ld->to - cl * cs : 0;
	}
	if ((ld->comp = malloc((size_t)(ld->to - ld->from))) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (ld->exact) {
		if (cs > 0)
			exact_edges(ld);
		ld->landed = ld->fetch_from;
		ld->ok_to = ld->from;
		return CLIP_OK;
	}
	plan_edge(ld, &ld->head);
	plan_edge(ld, &ld->tail);
	ld->fetch_from = edge_fetched(&ld->head) ? ld->from : ld->from + ld->head.len;
	if (ld->tail.len == 0)
		ld->fetch_to = edge_fetched(&ld->head) ? ld->to : ld->fetch_from;
	else
		ld->fetch_to = edge_fetched(&ld->tail) ? ld->to : ld->tail.at;
	if (ld->fetch_to < ld->fetch_from)
		ld->fetch_to = ld->fetch_from;
	ld->landed = ld->checked = ld->fetch_from;
	ld->ok_to = ld->from;
	return CLIP_OK;
}

/* ---- as the bytes land ----------------------------------------------------- */

/* Checks the whole chunks among the bytes landed; a mismatch stops
 * streaming (the spans' own hashes will say which ones are bad). */
static void
check_chunks(struct load *ld)
{
	clip_reader *r = ld->r;
	const uint8_t *want;
	struct clip_error e;
	uint64_t n;
	int match;

	clip_error_clear(&e);
	while (!ld->off_track && ld->checked < ld->fetch_to) {
		n = ld->fetch_to - ld->checked < ld->cs ? ld->fetch_to - ld->checked : ld->cs;
		if (ld->checked + n > ld->landed)
			break;
		want = clip_index_chunk_sha256(r->idx, ld->L.index, ld->checked / ld->cs);
		if (want == NULL || sha256_matches(ld->comp + (ld->checked - ld->from), (size_t)n,
		    want, &match, &e) != CLIP_OK || !match) {
			if (want != NULL && e.code == CLIP_OK) {
				COUNT(r, checksum_errors, 1);
				ld->bad_chunk = ld->attempt_bad = 1;
			}
			ld->off_track = 1;
			return;
		}
		ld->checked += n;
	}
}

/* Publishes an edge we own once its bytes are checked. */
static void
publish_edge(struct load *ld, struct edge *e)
{
	uint8_t *copy;

	if (e->state != EDGE_OWN || ld->checked < e->at + e->len || ld->fetch_from > e->at)
		return;
	if ((copy = malloc((size_t)e->len)) == NULL) {
		span_cache_abandon(ld->r->chunks, e->ch);
	} else {
		memcpy(copy, ld->comp + (e->at - ld->from), (size_t)e->len);
		span_cache_fill(ld->r->chunks, e->ch, copy, (size_t)e->len);
		span_cache_release(ld->r->chunks, e->ch);
	}
	e->ch = NULL;
	e->state = EDGE_HAVE;
}

/* How far from `from` the checked bytes reach without a gap. */
static void
update_ok_to(struct load *ld)
{
	uint64_t ok = ld->from;

	if (ld->head.state == EDGE_HAVE && ld->head.len > 0)
		ok = ld->head.at + ld->head.len;
	if (ok >= ld->fetch_from && ld->checked > ok)
		ok = ld->checked;
	if (ld->tail.len > 0 && ld->tail.state == EDGE_HAVE && ok >= ld->tail.at)
		ok = ld->tail.at + ld->tail.len;
	ld->ok_to = ok;
}

/* Publishes a whole span: readers take it from the memory cache now. */
static void
publish(struct load *ld, struct load_span *st)
{
	clip_reader *r = ld->r;

	span_cache_fill(r->mem, st->sp, st->out, st->out_len);
	st->out = NULL;
	st->begun = 0;
	if (r->disk != NULL)
		reader_disk_store_later(r, &ld->L, st->i, st->sp);
	span_cache_release(r->mem, st->sp);
	st->sp = NULL;
	st->ended = 1;
	if (ld->kind == LOAD_PREFETCH)
		COUNT(r, prefetch_spans, 1);
	else if (ld->kind == LOAD_AHEAD || st != &ld->s[0])
		COUNT(r, readahead_spans, 1);
}

static void
fail(struct load *ld, struct load_span *st, struct clip_error *e)
{
	clip_error_prefix(e, "layer %s: span %u", ld->L.digest.ptr, st->i);
	if (ld->rc == CLIP_OK) {
		ld->rc = e->code != CLIP_OK ? e->code : CLIP_ERR_IO;
		ld->err = *e;
	}
	span_cache_fail(ld->r->mem, st->sp, e);
	st->sp = NULL;
	if (st->begun)
		st->out = NULL;   /* freed with the entry */
	st->begun = 0;
	st->ended = 1;
}

/* Inflates what the first usable checked bytes of span st give. */
static void
stream_span(struct load *ld, struct load_span *st, size_t usable)
{
	const uint8_t *in = ld->comp + (st->cp.span_start - ld->from);
	struct clip_error e;
	size_t made = st->made;
	int stopped = 0;

	clip_error_clear(&e);
	if (st->cp.kind == CLIP_CHECKPOINT_STORED) {
		made = usable < st->out_len ? usable : st->out_len;
		memcpy(st->out + st->made, in + st->made, made - st->made);
	} else if ((st->inf == NULL && clip_inflate_stream_new(&st->cp, st->window, in, st->out,
	    st->out_len, &st->inf, &e) != CLIP_OK) ||
	    clip_inflate_stream_feed(st->inf, in, usable, &made, &stopped, &e) != CLIP_OK ||
	    stopped) {
		st->whole = 1;   /* what came out so far is still right */
	}
	if (made > st->made) {
		st->made = made;
		span_cache_advance(ld->r->mem, st->sp, made);
	}
}

/* Inflates what the checked bytes give of every span still open, and
 * publishes those that are whole. */
static void
feed_spans(struct load *ld)
{
	struct load_span *st;
	unsigned k;

	for (k = 0; k < ld->n && !ld->off_track; k++) {
		st = &ld->s[k];
		if (st->ended || st->whole)
			continue;
		if (st->cp.span_start >= ld->ok_to)
			break;
		stream_span(ld, st, (size_t)((ld->ok_to < st->cp.span_end ? ld->ok_to :
		    st->cp.span_end) - st->cp.span_start));
		if (st->made == st->out_len) {
			if (st->cp.kind != CLIP_CHECKPOINT_STORED)
				COUNT(ld->r, spans_inflated, 1);
			COUNT(ld->r, stream_loads, 1);
			publish(ld, st);
		}
	}
}

static clip_err finish_span(struct load *ld, struct load_span *st, struct clip_error *err);

/* An exact load: each span whose bytes are all in is checked by its own
 * hash and inflated, in order. */
static void
feed_whole_spans(struct load *ld)
{
	uint64_t in_to = ld->landed >= ld->fetch_to ? ld->to : ld->landed;
	struct clip_error e;
	unsigned k;

	for (k = 0; k < ld->n && !ld->off_track; k++) {
		struct load_span *st = &ld->s[k];
		if (st->ended)
			continue;
		if (st->cp.span_end > in_to && st->cp.span_end > ld->fetch_from)
			break;
		clip_error_clear(&e);
		if (finish_span(ld, st, &e) == CLIP_OK) {
			publish(ld, st);
		} else if (e.code == CLIP_ERR_CHECKSUM) {
			/* another host may have the right bytes: the span ends
			 * when the request does (finish_spans) */
			ld->bad_chunk = ld->attempt_bad = ld->off_track = 1;
		} else {
			fail(ld, st, &e);
		}
	}
}

static void
on_progress(void *arg, size_t have)
{
	struct load *ld = arg;

	if (ld->fetch_from + have < ld->landed) {
		ld->off_track = 1;   /* a retry: these bytes come again */
		ld->attempt_bad = 0;
	}
	ld->landed = ld->fetch_from + have;
	if (ld->exact) {
		feed_whole_spans(ld);
		return;
	}
	check_chunks(ld);
	publish_edge(ld, &ld->head);
	publish_edge(ld, &ld->tail);
	update_ok_to(ld);
	feed_spans(ld);
}

/* ---- a host's bytes, checked before the next host is asked --------------- */

/* Whether the fetched whole chunks match their hashes: those streaming
 * has not checked yet, all of them after a restart.  1 when the index
 * cannot tell (no chunk hash): the spans' hashes decide later. */
static int
chunks_right(struct load *ld)
{
	uint64_t at = ld->off_track ? ld->fetch_from : ld->checked, n;
	const uint8_t *want;
	int match;

	for (; at < ld->fetch_to; at += n) {
		n = ld->fetch_to - at < ld->cs ? ld->fetch_to - at : ld->cs;
		want = clip_index_chunk_sha256(ld->r->idx, ld->L.index, at / ld->cs);
		if (want == NULL || sha256_matches(ld->comp + (at - ld->from), (size_t)n, want,
		    &match, NULL) != CLIP_OK)
			return 1;
		if (!match)
			return 0;
	}
	return 1;
}

/* Whether each open span's bytes match its hash (an exact load). */
static int
spans_right(struct load *ld)
{
	unsigned k;
	int match;

	for (k = 0; k < ld->n; k++) {
		struct load_span *st = &ld->s[k];
		if (st->ended || st->hash_ok)
			continue;
		if (sha256_matches(ld->comp + (st->cp.span_start - ld->from),
		    (size_t)(st->cp.span_end - st->cp.span_start), st->cp.span_sha256, &match,
		    NULL) != CLIP_OK)
			return 1;
		if (!match)
			return 0;
		st->hash_ok = 1;
	}
	return 1;
}

/* clip_fetch_verify_fn of a load's request.  Wrong bytes: counted, and
 * what streaming knew is forgotten (the next host's bytes overwrite
 * them); the spans are then finished by their own hashes. */
static int
on_verify(void *arg)
{
	struct load *ld = arg;
	unsigned k;
	int right = !ld->attempt_bad;

	if (right)
		right = ld->exact ? spans_right(ld) : chunks_right(ld);
	if (right)
		return 1;
	if (!ld->attempt_bad)
		COUNT(ld->r, checksum_errors, 1);
	ld->bad_chunk = ld->off_track = 1;
	ld->attempt_bad = 0;
	ld->landed = ld->fetch_from;
	for (k = 0; k < ld->n; k++)
		ld->s[k].hash_ok = 0;
	return 0;
}

/* ---- once the request is over ---------------------------------------------- */

/* One edge chunk fetched alone, and its hash. */
struct edge_fetch {
	clip_reader *r;
	const uint8_t *dst, *want;
	size_t len;
	int match;
};

/* clip_fetch_verify_fn of an edge's request (wrong bytes counted). */
static int
edge_right(void *arg)
{
	struct edge_fetch *ef = arg;

	ef->match = 0;
	if (ef->want == NULL)
		return 1;
	if (sha256_matches(ef->dst, ef->len, ef->want, &ef->match, NULL) == CLIP_OK && !ef->match)
		COUNT(ef->r, checksum_errors, 1);
	return ef->match;
}

/* Fetches and checks edge e alone (the load that was fetching it failed). */
static clip_err
fetch_edge(struct load *ld, struct edge *e, struct clip_error *err)
{
	struct edge_fetch ef = {
		.r = ld->r, .dst = ld->comp + (e->at - ld->from), .len = (size_t)e->len,
		.want = clip_index_chunk_sha256(ld->r->idx, ld->L.index, e->at / ld->cs),
	};
	clip_err rc;

	rc = fetch(ld->r, ld->L.digest.ptr, e->at, ef.len, ld->comp + (e->at - ld->from), NULL,
	    edge_right, &ef, err);
	if (rc == CLIP_OK && ef.want != NULL && !ef.match && !edge_right(&ef)) {
		rc = clip_error_set(err, CLIP_ERR_CHECKSUM, "chunk %llu (compressed bytes %llu-%llu): "
		    "sha256 mismatch, the source's bytes are not the indexed ones",
		    (unsigned long long)(e->at / ld->cs), (unsigned long long)e->at,
		    (unsigned long long)(e->at + e->len));
	}
	return rc;
}

/* After the request: our own edges not published (streaming stopped)
 * are given up first, so that a load that waits owns nothing anyone
 * could be waiting for (waits can never form a cycle); then the edges
 * other loads were to bring are waited for, and fetched here if theirs
 * failed.  fetch_missing 0: the request failed, do not wait or fetch. */
static clip_err
settle_edges(struct load *ld, int fetch_missing, struct clip_error *err)
{
	struct edge *edges[2] = { &ld->head, &ld->tail }, *e;
	clip_err rc = CLIP_OK;
	unsigned k;

	for (k = 0; k < 2; k++)
		if (edges[k]->state == EDGE_OWN) {
			span_cache_abandon(ld->r->chunks, edges[k]->ch);
			edges[k]->ch = NULL;
			edges[k]->state = EDGE_FETCH;
		}
	for (k = 0; k < 2; k++) {
		e = edges[k];
		if (e->state != EDGE_WAIT)
			continue;
		e->state = EDGE_FETCH;
		if (fetch_missing && span_cache_wait(ld->r->chunks, e->ch, (size_t)e->len, NULL) ==
		    SPAN_WAIT_OK) {
			memcpy(ld->comp + (e->at - ld->from), span_data(e->ch), (size_t)e->len);
			COUNT(ld->r, chunk_reuses, 1);
			e->state = EDGE_HAVE;
		} else if (fetch_missing && rc == CLIP_OK) {
			rc = fetch_edge(ld, e, err);
			if (rc == CLIP_OK)
				e->state = EDGE_HAVE;
		}
		span_cache_release(ld->r->chunks, e->ch);
		e->ch = NULL;
	}
	return rc;
}

/* Span st from its bytes, all in comp: checked by its own hash unless
 * chunk hashes covered them, then inflated (what streaming left). */
static clip_err
finish_span(struct load *ld, struct load_span *st, struct clip_error *err)
{
	const uint8_t *in = ld->comp + (st->cp.span_start - ld->from);
	size_t in_len = (size_t)(st->cp.span_end - st->cp.span_start);
	int match = 1;
	clip_err rc = CLIP_OK;

	if ((ld->ok_to < st->cp.span_end || ld->off_track) && !st->hash_ok) {
		rc = sha256_matches(in, in_len, st->cp.span_sha256, &match, err);
		if (rc == CLIP_OK && !match) {
			if (!ld->bad_chunk)   /* the same bad bytes, counted once */
				COUNT(ld->r, checksum_errors, 1);
			return clip_error_set(err, CLIP_ERR_CHECKSUM,
			    "compressed bytes %llu-%llu: sha256 mismatch, the source's bytes are "
			    "not the indexed ones", (unsigned long long)st->cp.span_start,
			    (unsigned long long)st->cp.span_end);
		}
	}
	if (rc == CLIP_OK && st->cp.kind == CLIP_CHECKPOINT_STORED) {
		if (in_len != st->out_len)
			return clip_error_set(err, CLIP_ERR_FORMAT, "stored span: %zu compressed "
			    "bytes for %zu uncompressed", in_len, st->out_len);
		memcpy(st->out + st->made, in + st->made, st->out_len - st->made);
	} else if (rc == CLIP_OK) {
		rc = clip_inflate_span_at(&st->cp, st->window, in, in_len, st->made,
		    st->out + st->made, st->out_len - st->made, err);
		if (rc == CLIP_OK)
			COUNT(ld->r, spans_inflated, 1);
	}
	return rc;
}

/* Ends every span still open: finished from the bytes, or failed with
 * the request's error (rc, fe). */
static void
finish_spans(struct load *ld, clip_err rc, const struct clip_error *fe)
{
	struct clip_error e;
	unsigned k;

	for (k = 0; k < ld->n; k++) {
		struct load_span *st = &ld->s[k];
		if (st->ended)
			continue;
		e = *fe;
		if (rc == CLIP_OK || ld->ok_to >= st->cp.span_end) {
			clip_error_clear(&e);
			if (finish_span(ld, st, &e) == CLIP_OK) {
				publish(ld, st);
				continue;
			}
		}
		fail(ld, st, &e);
	}
}

/* ---- the job ---------------------------------------------------------------- */

/* Checks span st's sizes against the cap and gives it its buffers. */
static clip_err
prepare_span(struct load *ld, struct load_span *st, struct clip_error *err)
{
	const struct clip_checkpoint *cp = &st->cp;
	uint64_t comp_len = cp->span_end - cp->span_start, out_len = cp->out_end - cp->out_offset;

	if (cp->span_end <= cp->span_start || cp->out_end <= cp->out_offset ||
	    cp->span_end > ld->L.compressed_size)
		return clip_error_set(err, CLIP_ERR_FORMAT, "bad span bounds");
	if (comp_len > ld->r->o.max_span_bytes || out_len > ld->r->o.max_span_bytes)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "%llu compressed / %llu uncompressed bytes exceeds the %llu byte limit",
		    (unsigned long long)comp_len, (unsigned long long)out_len,
		    (unsigned long long)ld->r->o.max_span_bytes);
	st->out_len = (size_t)out_len;
	st->out = malloc(st->out_len);
	if (cp->window_len > 0)
		st->window = malloc(CLIP_WINDOW_SIZE);
	if (st->out == NULL || (cp->window_len > 0 && st->window == NULL))
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (cp->window_len > 0 && clip_index_window(cp, st->window, err) != CLIP_OK)
		return err != NULL ? err->code : CLIP_ERR_FORMAT;
	span_cache_begin(ld->r->mem, st->sp, st->out, st->out_len);
	st->begun = 1;
	if (ld->r->disk != NULL)
		COUNT(ld->r, disk_misses, 1);
	return CLIP_OK;
}

/* Prepares every span; one that cannot be loaded fails, and ends the run
 * before it (the spans after it are given up, for others to load). */
static void
prepare_spans(struct load *ld)
{
	struct clip_error e;
	unsigned k, j;

	for (k = 0; k < ld->n; k++) {
		clip_error_clear(&e);
		if (prepare_span(ld, &ld->s[k], &e) == CLIP_OK)
			continue;
		fail(ld, &ld->s[k], &e);
		for (j = k + 1; j < ld->n; j++) {
			span_cache_abandon(ld->r->mem, ld->s[j].sp);
			ld->s[j].sp = NULL;
		}
		ld->n = k;
		break;
	}
}

static void
load_free(struct load *ld)
{
	unsigned k;

	for (k = 0; k < LOAD_MAX_SPANS; k++) {
		clip_inflate_stream_free(ld->s[k].inf);
		free(ld->s[k].window);
		if (!ld->s[k].begun)
			free(ld->s[k].out);   /* else it is the entry's */
	}
	free(ld->comp);
	free(ld);
}

static void
load_run(struct work_item *item)
{
	struct load *ld = (struct load *)item;
	clip_reader *r = ld->r;
	struct clip_error e;
	clip_err rc;

	clip_error_clear(&e);
	ld->cs = r->chunks != NULL ? clip_index_chunk_size(r->idx) : 0;
	ld->exact = ld->cs == 0 || ld->kind == LOAD_PREFETCH;
	if (ld->n == 0)
		claim_run(ld);
	ld->next = ld->n > 0 ? ld->s[ld->n - 1].i + 1 : ld->end;
	prepare_spans(ld);
	if (ld->n == 0) {
		tell_done(ld);
		load_free(ld);
		return;
	}
	rc = plan_range(ld, &e);
	if (rc == CLIP_OK && ld->fetch_to > ld->fetch_from) {
		if (ld->kind == LOAD_PREFETCH)
			COUNT(r, prefetch_requests, 1);
		rc = fetch(r, ld->L.digest.ptr, ld->fetch_from, (size_t)(ld->fetch_to - ld->fetch_from),
		    ld->comp + (ld->fetch_from - ld->from), on_progress, on_verify, ld, &e);
		if (rc != CLIP_OK)
			clip_error_prefix(&e, "fetch");
	} else if (rc == CLIP_OK) {
		on_progress(ld, 0);
	}
	if (!ld->exact && ld->comp != NULL) {
		if (rc == CLIP_OK)
			rc = settle_edges(ld, 1, &e);
		else
			settle_edges(ld, 0, NULL);
		update_ok_to(ld);
		if (rc == CLIP_OK)
			feed_spans(ld);
	}
	finish_spans(ld, rc, &e);
	tell_done(ld);
	load_free(ld);
}

/* A load still queued when the reader is freed. */
static void
load_drop(struct work_item *item)
{
	struct load *ld = (struct load *)item;

	abandon_claims(ld);
	ld->next = ld->end;
	ld->rc = clip_error_set(&ld->err, CLIP_ERR_IO, "the reader is shutting down");
	tell_done(ld);
	load_free(ld);
}
