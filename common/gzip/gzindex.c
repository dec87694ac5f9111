/*
 * gzindex.c - one pass over a layer blob: inflate it, hash it, and record
 * zran-style checkpoints at deflate block boundaries.
 *
 * How it works:
 *
 * Output goes straight into a ring buffer (RING_SIZE), OUT_CHUNK bytes
 * at most per inflate() call, and the callback reads it there, so output
 * is never copied except for the windows of the checkpoints actually
 * placed.  A window is cut from the ring, which still holds the last
 * RING_SIZE bytes of output.
 *
 * inflate() runs with Z_BLOCK, so it returns at every block boundary.
 * Only the most recent boundary is remembered (struct boundary).  A
 * checkpoint is placed there later, once output past it exists: that
 * way no span is ever empty (a sync-flush block right before the end
 * would otherwise give one), and clip_gzindex_mark() can put one there
 * retroactively from the data callback.
 *
 * Hashing: span_md holds the SHA-256 state of the current span up to
 * the most recent boundary exactly; the compressed bytes consumed since
 * then wait in `tail` and are hashed when the next boundary is reached.
 * So splitting the span at that boundary, now or after the fact, is:
 * finish span_md (the previous span), start it again (with the boundary's
 * partial byte when bits != 0), keep the tail.  If a block is so long
 * that the tail would pass TAIL_MAX, the tail is hashed early and the
 * boundary can no longer take a checkpoint (a mark there is ignored; a
 * due periodic checkpoint goes to the next boundary).
 *
 * Sparse windows: a placed checkpoint's window waits, uncompressed, with
 * the compressed bytes from the checkpoint on (at most SPARSE_IN_MAX),
 * until 32 KiB of output follow it (or the blob ends); then the bytes
 * that output never copies are zeroed (window_sparse.h) and the window
 * is compressed.  Only one waits at a time: placing the next checkpoint
 * stores a window still waiting whole.
 *
 * Chunk hashes: every byte fed also goes through chunk_md, which is
 * finished into the chunk list at each multiple of CHUNK_SIZE of blob
 * offset, and at the end for a last, shorter chunk.
 *
 * Memory: the ring, the tail, the waiting window and zlib's state are
 * bounded; what grows is the checkpoint list, one compressed window
 * (<= 32 KiB) per checkpoint, and the count is capped by MAX_CHECKPOINTS.
 * Checkpoints are at least `span` bytes of output apart, or MARK_MIN_DIST
 * for marks.  The chunk list
 * grows by 32 bytes per CHUNK_SIZE of input (512 KiB for a 1 GB blob),
 * capped by MAX_CHUNKS.
 */
#include "config.h"

#define ZLIB_CONST
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "common/gzip/gzindex.h"
#include "common/format/index.h"
#include "common/gzip/window_sparse.h"

#define RING_SIZE       (1u << 20)   /* output history */
#define OUT_CHUNK       (256u << 10) /* most output per inflate() call */
#define TAIL_MAX        (1u << 20)   /* compressed bytes since a boundary */
#define MARK_MIN_DIST   (16u << 10)  /* marks closer than this to the previous checkpoint are ignored */
#define MAX_CHECKPOINTS (1u << 20)
#define FEED_SLICE      (1u << 30)   /* avail_in is a uInt */
#define CHUNK_SIZE      ((uint64_t)1 << CLIP_CHUNK_SHIFT)
#define MAX_CHUNKS      (1u << 22)   /* a 256 GiB blob; 128 MiB of hashes */
#define SPARSE_IN_MAX   (256u << 10) /* compressed bytes kept to make a window sparse */

_Static_assert(OUT_CHUNK + CLIP_WINDOW_SIZE <= RING_SIZE,
    "a boundary's window must survive the next inflate() call");

/* The most recent place where a checkpoint could go. */
struct boundary {
	uint64_t in;
	uint64_t out;
	uint8_t  bits;
	uint8_t  kind;          /* CLIP_CHECKPOINT_DEFLATE or _MEMBER */
	uint8_t  last_byte;     /* byte in - 1, primed when bits != 0 */
	int      valid;         /* span_md is exactly at `in` (tail not flushed early) */
	int      pending;       /* place a checkpoint here once output follows */
};

struct clip_gzindex {
	uint32_t compression;
	uint64_t span;
	clip_gzindex_data_fn fn;
	void *fn_ctx;

	z_stream strm;
	int strm_live;
	int member_done;        /* the current member's trailer has been read */
	int in_deflate;         /* the current member's header has been read */
	uint32_t members;       /* members started */
	uint64_t member_out;    /* out offset where the current member started */

	uint64_t fed;           /* bytes given to feed() */
	uint64_t in_total;      /* bytes consumed by inflate() */
	uint64_t out_total;
	uint8_t last_byte;

	uint8_t *ring;          /* out offset x is at ring[x % RING_SIZE] */
	uint8_t *tail;
	size_t tail_len;
	size_t tail_cap;

	struct boundary b;
	int chunk_ends_at_boundary; /* during the callback */
	int mark_end;           /* a mark at mark_end_at awaits that boundary */
	uint64_t mark_end_at;
	int mark_after;         /* a checkpoint at the first boundary at or after mark_after_at */
	uint64_t mark_after_at;

	struct clip_checkpoint_info *cps;
	size_t ncp;
	size_t cps_cap;

	/* The newest DEFLATE checkpoint's window waits here, uncompressed,
	 * until the 32 KiB of output after it are known and it can be made
	 * sparse (window_sparse.h); comp: the compressed bytes from the
	 * checkpoint on. */
	struct {
		int live;
		size_t cp;
		uint8_t *window;
		uint8_t *comp;
		size_t comp_len;
		size_t comp_cap;
	} sp;

	EVP_MD_CTX *span_md;
	EVP_MD_CTX *blob_md;
	uint8_t blob_sha256[32];

	EVP_MD_CTX *chunk_md;   /* the chunk that fed ends in */
	uint8_t *chunks;        /* 32 bytes per finished chunk */
	size_t nchunks;
	size_t chunks_cap;

	int finished;
	struct clip_error fail; /* sticky: once failed, every call says so */
};

static clip_err
gz_fail(clip_gzindex *gz, struct clip_error *err, clip_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static clip_err
gz_fail(clip_gzindex *gz, struct clip_error *err, clip_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	clip_error_setv(&gz->fail, code, fmt, ap);
	va_end(ap);
	if (err != NULL)
		*err = gz->fail;
	return code;
}

/* Keeps an error that came from elsewhere (the callback) as the sticky one. */
static clip_err
gz_fail_with(clip_gzindex *gz, struct clip_error *err, const struct clip_error *cause)
{
	gz->fail = *cause;
	if (gz->fail.code == CLIP_OK)
		gz->fail.code = CLIP_ERR_INVALID;
	if (err != NULL)
		*err = gz->fail;
	return gz->fail.code;
}

static clip_err
gz_sticky(const clip_gzindex *gz, struct clip_error *err)
{
	if (err != NULL)
		*err = gz->fail;
	return gz->fail.code;
}

static int
md_update(EVP_MD_CTX *md, const void *p, size_t n)
{
	return n == 0 || EVP_DigestUpdate(md, p, n) == 1;
}

clip_err
clip_gzindex_new(uint32_t compression, uint64_t span, clip_gzindex_data_fn fn, void *ctx,
    clip_gzindex **out, struct clip_error *err)
{
	clip_gzindex *gz;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || fn == NULL || span == 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "gzindex: bad arguments");
	if (compression != CLIP_COMPRESSION_NONE && compression != CLIP_COMPRESSION_GZIP)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "gzindex: unknown compression %u", compression);

	gz = calloc(1, sizeof(*gz));
	if (gz == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "gzindex: out of memory");
	gz->compression = compression;
	gz->span = span;
	gz->fn = fn;
	gz->fn_ctx = ctx;
	gz->span_md = EVP_MD_CTX_new();
	gz->blob_md = EVP_MD_CTX_new();
	gz->chunk_md = EVP_MD_CTX_new();
	if (gz->span_md == NULL || gz->blob_md == NULL || gz->chunk_md == NULL ||
	    EVP_DigestInit_ex(gz->span_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(gz->blob_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(gz->chunk_md, EVP_sha256(), NULL) != 1)
		goto nomem;

	if (compression == CLIP_COMPRESSION_GZIP) {
		gz->ring = malloc(RING_SIZE);
		gz->cps = calloc(16, sizeof(*gz->cps));
		if (gz->ring == NULL || gz->cps == NULL)
			goto nomem;
		gz->cps_cap = 16;
		/* 15 + 16: gzip only, so a zlib or raw stream is refused. */
		if (inflateInit2(&gz->strm, 15 + 16) != Z_OK)
			goto nomem;
		gz->strm_live = 1;
		gz->members = 1;
		/* The first member starts at 0; its header is parsed by the
		 * reader, so the first checkpoint needs no window. */
		gz->cps[0].kind = CLIP_CHECKPOINT_MEMBER;
		gz->ncp = 1;
		gz->b.kind = CLIP_CHECKPOINT_MEMBER;
		gz->b.valid = 1;
	}
	*out = gz;
	return CLIP_OK;

nomem:
	clip_gzindex_free(gz);
	return clip_error_set(err, CLIP_ERR_NOMEM, "gzindex: out of memory");
}

void
clip_gzindex_free(clip_gzindex *gz)
{
	size_t i;

	if (gz == NULL)
		return;
	if (gz->strm_live)
		inflateEnd(&gz->strm);
	for (i = 0; i < gz->ncp; i++)
		free((void *)gz->cps[i].window_z);
	free(gz->cps);
	free(gz->sp.window);
	free(gz->sp.comp);
	free(gz->ring);
	free(gz->tail);
	EVP_MD_CTX_free(gz->span_md);
	EVP_MD_CTX_free(gz->blob_md);
	EVP_MD_CTX_free(gz->chunk_md);
	free(gz->chunks);
	free(gz);
}

/* The current span ends here (exclusive): store its hash, start the next
 * one, which begins with byte in - 1 when bits != 0. */
static int
split_span(clip_gzindex *gz, uint8_t bits, uint8_t first_byte)
{
	struct clip_checkpoint_info *last = &gz->cps[gz->ncp - 1];

	if (EVP_DigestFinal_ex(gz->span_md, last->span_sha256, NULL) != 1 ||
	    EVP_DigestInit_ex(gz->span_md, EVP_sha256(), NULL) != 1)
		return 0;
	return bits == 0 || md_update(gz->span_md, &first_byte, 1);
}

static clip_err
append_checkpoint(clip_gzindex *gz, const struct clip_checkpoint_info *ci,
    struct clip_error *err)
{
	struct clip_checkpoint_info *n;

	if (gz->ncp >= MAX_CHECKPOINTS)
		return gz_fail(gz, err, CLIP_ERR_TOOBIG,
		    "gzindex: more than %u checkpoints in one layer", MAX_CHECKPOINTS);
	if (gz->ncp == gz->cps_cap) {
		n = realloc(gz->cps, 2 * gz->cps_cap * sizeof(*n));
		if (n == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		gz->cps = n;
		gz->cps_cap *= 2;
	}
	gz->cps[gz->ncp++] = *ci;
	return CLIP_OK;
}

/* Copies output bytes [from, from + n) out of the ring (still there). */
static void
ring_copy(const clip_gzindex *gz, uint64_t from, uint8_t *dst, size_t n)
{
	size_t at = (size_t)(from % RING_SIZE);
	size_t first = RING_SIZE - at < n ? RING_SIZE - at : n;

	memcpy(dst, gz->ring + at, first);
	memcpy(dst + first, gz->ring, n - first);
}

/* Stores checkpoint i's window, wlen bytes of w (taken over), compressed:
 * memory then grows with what the windows hold, not 32 KiB a checkpoint
 * (a gzip bomb of zeros costs bytes), and the work runs in the layer's
 * own thread. */
static clip_err
store_window(clip_gzindex *gz, size_t i, uint8_t *w, uint32_t wlen, struct clip_error *err)
{
	struct clip_checkpoint_info *ci = &gz->cps[i];
	uLongf zlen;
	uint8_t *z, *shrunk;

	ci->window_len = wlen;
	if (wlen == 0) {
		free(w);
		return CLIP_OK;
	}
	zlen = compressBound((uLong)wlen);
	z = malloc(zlen);
	if (z == NULL || compress2(z, &zlen, w, (uLong)wlen, Z_BEST_COMPRESSION) != Z_OK) {
		free(z);
		free(w);
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: compressing a window failed");
	}
	free(w);
	shrunk = realloc(z, zlen ? zlen : 1);
	ci->window_z = shrunk != NULL ? shrunk : z;
	ci->window_zlen = (uint32_t)zlen;
	return CLIP_OK;
}

/* Compressed bytes for the waiting window's check, up to SPARSE_IN_MAX. */
static clip_err
sparse_keep(clip_gzindex *gz, const uint8_t *p, size_t n, struct clip_error *err)
{
	size_t cap;
	uint8_t *c;

	if (n > SPARSE_IN_MAX - gz->sp.comp_len)
		n = SPARSE_IN_MAX - gz->sp.comp_len;
	if (n == 0)
		return CLIP_OK;
	if (gz->sp.comp_len + n > gz->sp.comp_cap) {
		cap = gz->sp.comp_cap ? gz->sp.comp_cap : 64 * 1024;
		while (cap < gz->sp.comp_len + n)
			cap *= 2;
		c = realloc(gz->sp.comp, cap);
		if (c == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		gz->sp.comp = c;
		gz->sp.comp_cap = cap;
	}
	memcpy(gz->sp.comp + gz->sp.comp_len, p, n);
	gz->sp.comp_len += n;
	return CLIP_OK;
}

/* Stores the waiting window, made sparse when all the output that can
 * refer to it is known: CLIP_WINDOW_SIZE bytes of it, or everything up to
 * the blob's end (ended).  Otherwise it is stored whole. */
static clip_err
sparse_done(clip_gzindex *gz, int ended, struct clip_error *err)
{
	const struct clip_checkpoint_info *ci;
	struct clip_checkpoint c;
	uint8_t *w = gz->sp.window, *expect = NULL;
	uint32_t wlen;
	uint64_t after;
	size_t n;

	if (!gz->sp.live)
		return CLIP_OK;
	gz->sp.live = 0;
	gz->sp.window = NULL;
	ci = &gz->cps[gz->sp.cp];
	wlen = ci->window_len;
	after = gz->out_total - ci->out_offset;
	n = after < CLIP_WINDOW_SIZE ? (size_t)after : CLIP_WINDOW_SIZE;
	if ((ended || n == CLIP_WINDOW_SIZE) && n > 0 && after <= RING_SIZE &&
	    (expect = malloc(n)) != NULL) {
		ring_copy(gz, ci->out_offset, expect, n);
		memset(&c, 0, sizeof(c));
		c.in_offset = ci->in_offset;
		c.out_offset = ci->out_offset;
		c.bits = ci->bits;
		c.kind = ci->kind;
		c.window_len = wlen;
		(void)clip_window_sparsify(&c, w, gz->sp.comp, gz->sp.comp_len, expect, n, &wlen);
		free(expect);
	}
	gz->sp.comp_len = 0;
	return store_window(gz, gz->sp.cp, w, wlen, err);
}

/* Places the checkpoint the current boundary asked for, if output now
 * follows it and it can still be placed. */
static clip_err
place_pending(clip_gzindex *gz, struct clip_error *err)
{
	struct boundary *b = &gz->b;
	struct clip_checkpoint_info ci;
	uint64_t wstart;
	uint8_t *w = NULL;
	size_t wlen = 0;
	clip_err rc;

	if (!b->pending || gz->out_total <= b->out)
		return CLIP_OK;
	b->pending = 0;
	if (!b->valid)
		return CLIP_OK;
	if (b->kind == CLIP_CHECKPOINT_DEFLATE) {
		wlen = b->out - gz->member_out;
		if (wlen > CLIP_WINDOW_SIZE)
			wlen = CLIP_WINDOW_SIZE;
	}
	wstart = b->out - wlen;
	if (gz->out_total - wstart > RING_SIZE)
		return CLIP_OK;         /* the window is gone from the ring */

	/* An earlier window still waiting goes first (it is stored whole if
	 * its 32 KiB of output are not all there yet). */
	if ((rc = sparse_done(gz, 0, err)) != CLIP_OK)
		return rc;
	if (wlen > 0) {
		w = malloc(wlen);
		if (w == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		ring_copy(gz, wstart, w, wlen);
	}
	if (!split_span(gz, b->bits, b->last_byte)) {
		free(w);
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	}
	memset(&ci, 0, sizeof(ci));
	ci.in_offset = b->in;
	ci.out_offset = b->out;
	ci.bits = b->bits;
	ci.kind = b->kind;
	ci.window_len = (uint32_t)wlen;
	rc = append_checkpoint(gz, &ci, err);
	if (rc != CLIP_OK || wlen == 0) {
		free(w);
		return rc;
	}
	/* The window waits for the output after it; the compressed bytes
	 * since the boundary are in the tail (b->valid). */
	gz->sp.live = 1;
	gz->sp.cp = gz->ncp - 1;
	gz->sp.window = w;
	gz->sp.comp_len = 0;
	if (b->bits != 0 && (rc = sparse_keep(gz, &b->last_byte, 1, err)) != CLIP_OK)
		return rc;
	return sparse_keep(gz, gz->tail, gz->tail_len, err);
}

/* A block boundary or member start at the current position: hash the tail
 * so the span state sits exactly here, and remember it. */
static clip_err
new_boundary(clip_gzindex *gz, uint8_t kind, uint8_t bits, struct clip_error *err)
{
	struct boundary *b = &gz->b;
	uint64_t since = gz->out_total - gz->cps[gz->ncp - 1].out_offset;
	/* A request at a boundary with no output since moves here: the same
	 * output offset, less input to read (empty blocks, empty members). */
	int carried = b->pending && b->out == gz->out_total;
	int after = gz->mark_after && gz->out_total >= gz->mark_after_at;

	if (!md_update(gz->span_md, gz->tail, gz->tail_len))
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	gz->tail_len = 0;
	b->in = gz->in_total;
	b->out = gz->out_total;
	b->bits = bits;
	b->kind = kind;
	b->last_byte = gz->last_byte;
	b->valid = 1;
	b->pending = carried || since >= gz->span || (after && since > 0) ||
	    (gz->mark_end && gz->mark_end_at == b->out && since >= MARK_MIN_DIST);
	gz->mark_end = 0;
	if (after)
		gz->mark_after = 0;
	return CLIP_OK;
}

/* Compressed bytes just consumed: they wait in the tail until the next
 * boundary, unless that would take more than TAIL_MAX. */
static clip_err
consumed(clip_gzindex *gz, const uint8_t *p, size_t n, struct clip_error *err)
{
	size_t cap;
	uint8_t *t;
	clip_err rc;

	gz->in_total += n;
	gz->last_byte = p[n - 1];
	if (gz->sp.live && (rc = sparse_keep(gz, p, n, err)) != CLIP_OK)
		return rc;
	if (gz->b.valid && gz->tail_len + n > TAIL_MAX) {
		if (!md_update(gz->span_md, gz->tail, gz->tail_len))
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
		gz->tail_len = 0;
		gz->b.valid = 0;
	}
	if (!gz->b.valid) {
		if (!md_update(gz->span_md, p, n))
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
		return CLIP_OK;
	}
	if (gz->tail_len + n > gz->tail_cap) {
		cap = gz->tail_cap ? gz->tail_cap : 64 * 1024;
		while (cap < gz->tail_len + n)
			cap *= 2;
		if (cap > TAIL_MAX)
			cap = TAIL_MAX;
		t = realloc(gz->tail, cap);
		if (t == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		gz->tail = t;
		gz->tail_cap = cap;
	}
	memcpy(gz->tail + gz->tail_len, p, n);
	gz->tail_len += n;
	return CLIP_OK;
}

static clip_err
deliver(clip_gzindex *gz, const uint8_t *p, size_t n, uint64_t off, struct clip_error *err)
{
	struct clip_error cb_err;
	clip_err rc;

	clip_error_clear(&cb_err);
	rc = gz->fn(gz->fn_ctx, p, n, off, &cb_err);
	if (rc != CLIP_OK) {
		cb_err.code = rc;
		return gz_fail_with(gz, err, &cb_err);
	}
	return CLIP_OK;
}

static clip_err
feed_gzip(clip_gzindex *gz, const uint8_t *buf, size_t len, struct clip_error *err)
{
	z_stream *s = &gz->strm;
	size_t pos = 0, room, used, made, ring_at;
	uInt in_before;
	const uint8_t *in_start;
	int ret, header_was_done, at_block_end;
	uint64_t chunk_off;
	clip_err rc;

	while (pos < len) {
		if (gz->member_done) {
			/* More bytes after a member: the next member's header. */
			if (inflateReset(s) != Z_OK)
				return gz_fail(gz, err, CLIP_ERR_GZIP, "gzindex: inflateReset failed");
			gz->member_done = 0;
			gz->in_deflate = 0;
			gz->members++;
			gz->member_out = gz->out_total;
		}
		ring_at = (size_t)(gz->out_total % RING_SIZE);
		room = RING_SIZE - ring_at;
		if (room > OUT_CHUNK)
			room = OUT_CHUNK;
		in_start = buf + pos;
		in_before = (uInt)(len - pos > FEED_SLICE ? FEED_SLICE : len - pos);
		s->next_in = in_start;
		s->avail_in = in_before;
		s->next_out = gz->ring + ring_at;
		s->avail_out = (uInt)room;
		header_was_done = gz->in_deflate;

		ret = inflate(s, Z_BLOCK);

		used = in_before - s->avail_in;
		made = room - s->avail_out;
		if (used > 0) {
			pos += used;
			rc = consumed(gz, in_start, used, err);
			if (rc != CLIP_OK)
				return rc;
		}
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
			if (ret == Z_MEM_ERROR)
				return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
			if (gz->members > 1 && !gz->in_deflate)
				return gz_fail(gz, err, CLIP_ERR_GZIP,
				    "offset %llu: data after gzip member %u is not a gzip member (%s)",
				    (unsigned long long)(gz->in_total), gz->members - 1,
				    s->msg ? s->msg : "bad header");
			return gz_fail(gz, err, CLIP_ERR_GZIP,
			    "gzip member %u, near compressed offset %llu: %s", gz->members,
			    (unsigned long long)gz->in_total,
			    s->msg ? s->msg : (ret == Z_NEED_DICT ? "needs a dictionary" :
			    "inflate failed"));
		}
		if (used == 0 && made == 0 && ret != Z_STREAM_END && !(s->data_type & 128))
			return gz_fail(gz, err, CLIP_ERR_GZIP,
			    "gzip member %u: inflate made no progress at offset %llu",
			    gz->members, (unsigned long long)gz->in_total);

		at_block_end = ret != Z_STREAM_END && (s->data_type & 128) && header_was_done;
		if ((s->data_type & 128) && !header_was_done)
			gz->in_deflate = 1;     /* stopped at the end of the header */

		if (made > 0) {
			chunk_off = gz->out_total;
			gz->out_total += made;
			gz->chunk_ends_at_boundary = at_block_end;
			rc = deliver(gz, gz->ring + ring_at, made, chunk_off, err);
			gz->chunk_ends_at_boundary = 0;
			if (rc != CLIP_OK)
				return rc;
			rc = place_pending(gz, err);
			if (rc != CLIP_OK)
				return rc;
			if (gz->sp.live && gz->out_total - gz->cps[gz->sp.cp].out_offset >=
			    CLIP_WINDOW_SIZE && (rc = sparse_done(gz, 0, err)) != CLIP_OK)
				return rc;
		}
		/* The end of the last block is no place to resume raw inflate
		 * (the trailer follows); the member start after it is. */
		if (at_block_end && !(s->data_type & 64)) {
			rc = new_boundary(gz, CLIP_CHECKPOINT_DEFLATE, (uint8_t)(s->data_type & 7),
			    err);
			if (rc != CLIP_OK)
				return rc;
		}
		if (ret == Z_STREAM_END) {
			gz->member_done = 1;
			rc = new_boundary(gz, CLIP_CHECKPOINT_MEMBER, 0, err);
			if (rc != CLIP_OK)
				return rc;
		}
	}
	return CLIP_OK;
}

static clip_err
place_stored(clip_gzindex *gz, struct clip_error *err)
{
	struct clip_checkpoint_info ci;

	if (gz->ncp > 0 && !split_span(gz, 0, 0))
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	memset(&ci, 0, sizeof(ci));
	ci.in_offset = gz->out_total;
	ci.out_offset = gz->out_total;
	ci.kind = CLIP_CHECKPOINT_STORED;
	if (gz->cps_cap == 0) {
		gz->cps = calloc(16, sizeof(*gz->cps));
		if (gz->cps == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		gz->cps_cap = 16;
	}
	return append_checkpoint(gz, &ci, err);
}

/* An uncompressed layer: output is input; a checkpoint every span bytes,
 * placed only once a byte exists at its offset. */
static clip_err
feed_stored(clip_gzindex *gz, const uint8_t *buf, size_t len, struct clip_error *err)
{
	uint64_t left;
	size_t n;
	clip_err rc;

	while (len > 0) {
		if (gz->ncp == 0 ||
		    gz->out_total - gz->cps[gz->ncp - 1].out_offset == gz->span) {
			rc = place_stored(gz, err);
			if (rc != CLIP_OK)
				return rc;
		}
		left = gz->cps[gz->ncp - 1].out_offset + gz->span - gz->out_total;
		n = left < len ? (size_t)left : len;
		if (!md_update(gz->span_md, buf, n))
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
		rc = deliver(gz, buf, n, gz->out_total, err);
		gz->out_total += n;
		gz->in_total += n;
		if (rc != CLIP_OK)
			return rc;
		buf += n;
		len -= n;
	}
	return CLIP_OK;
}

/* The chunk being hashed is complete (or the blob ended): keep its hash
 * and start the next one. */
static clip_err
end_chunk(clip_gzindex *gz, struct clip_error *err)
{
	uint8_t *n;
	size_t cap;

	if (gz->nchunks >= MAX_CHUNKS)
		return gz_fail(gz, err, CLIP_ERR_TOOBIG,
		    "gzindex: a layer blob over %llu bytes",
		    (unsigned long long)(MAX_CHUNKS * CHUNK_SIZE));
	if (gz->nchunks == gz->chunks_cap) {
		cap = gz->chunks_cap ? 2 * gz->chunks_cap : 64;
		n = realloc(gz->chunks, cap * 32);
		if (n == NULL)
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: out of memory");
		gz->chunks = n;
		gz->chunks_cap = cap;
	}
	if (EVP_DigestFinal_ex(gz->chunk_md, gz->chunks + gz->nchunks * 32, NULL) != 1 ||
	    EVP_DigestInit_ex(gz->chunk_md, EVP_sha256(), NULL) != 1)
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	gz->nchunks++;
	return CLIP_OK;
}

/* Hashes buf into the chunks; gz->fed is the blob offset of buf[0]. */
static clip_err
hash_chunks(clip_gzindex *gz, const uint8_t *buf, size_t len, struct clip_error *err)
{
	uint64_t at = gz->fed;
	size_t n;
	clip_err rc;

	while (len > 0) {
		n = CHUNK_SIZE - at % CHUNK_SIZE < len ? (size_t)(CHUNK_SIZE - at % CHUNK_SIZE) : len;
		if (!md_update(gz->chunk_md, buf, n))
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
		at += n;
		buf += n;
		len -= n;
		if (at % CHUNK_SIZE == 0 && (rc = end_chunk(gz, err)) != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}

clip_err
clip_gzindex_feed(clip_gzindex *gz, const uint8_t *buf, size_t len, struct clip_error *err)
{
	clip_err rc;

	if (gz == NULL || (buf == NULL && len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "gzindex: bad arguments");
	if (gz->fail.code != CLIP_OK)
		return gz_sticky(gz, err);
	if (gz->finished)
		return clip_error_set(err, CLIP_ERR_INVALID, "gzindex: feed after finish");
	if (len == 0)
		return CLIP_OK;
	if (!md_update(gz->blob_md, buf, len))
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	if ((rc = hash_chunks(gz, buf, len, err)) != CLIP_OK)
		return rc;
	gz->fed += len;
	if (gz->compression == CLIP_COMPRESSION_NONE)
		return feed_stored(gz, buf, len, err);
	return feed_gzip(gz, buf, len, err);
}

/*
 * The target is the last boundary at or before out_offset.  While the
 * callback runs, the chunk it sees lies after the remembered boundary and
 * may end at a new one that is recorded only after the callback returns;
 * a mark exactly at the chunk's end waits for that one (for the end of a
 * member's last block: the next member's start).
 */
void
clip_gzindex_mark(clip_gzindex *gz, uint64_t out_offset)
{
	struct boundary *b;

	if (gz == NULL || gz->compression != CLIP_COMPRESSION_GZIP ||
	    gz->fail.code != CLIP_OK || gz->finished || out_offset > gz->out_total)
		return;
	if (gz->chunk_ends_at_boundary && out_offset == gz->out_total) {
		gz->mark_end = 1;
		gz->mark_end_at = out_offset;
		return;
	}
	b = &gz->b;
	if (out_offset < b->out || !b->valid)
		return;         /* that boundary is forgotten */
	if (b->out - gz->cps[gz->ncp - 1].out_offset < MARK_MIN_DIST)
		return;
	b->pending = 1;
}

void
clip_gzindex_mark_after(clip_gzindex *gz, uint64_t out_offset)
{
	if (gz == NULL || gz->compression != CLIP_COMPRESSION_GZIP ||
	    gz->fail.code != CLIP_OK || gz->finished)
		return;
	if (!gz->mark_after || out_offset > gz->mark_after_at)
		gz->mark_after_at = out_offset;
	gz->mark_after = 1;
}

clip_err
clip_gzindex_finish(clip_gzindex *gz, struct clip_error *err)
{
	clip_err rc;

	if (gz == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "gzindex: bad arguments");
	if (gz->fail.code != CLIP_OK)
		return gz_sticky(gz, err);
	if (gz->finished)
		return CLIP_OK;

	if (gz->compression == CLIP_COMPRESSION_GZIP) {
		if (gz->fed == 0)
			return gz_fail(gz, err, CLIP_ERR_GZIP, "empty blob: not a gzip stream");
		if (!gz->member_done) {
			if (gz->members > 1 && !gz->in_deflate)
				return gz_fail(gz, err, CLIP_ERR_GZIP,
				    "%llu trailing bytes after gzip member %u are not a "
				    "complete gzip member",
				    (unsigned long long)(gz->fed - gz->b.in), gz->members - 1);
			return gz_fail(gz, err, CLIP_ERR_GZIP,
			    "truncated gzip stream: member %u ends early at offset %llu",
			    gz->members, (unsigned long long)gz->fed);
		}
		rc = place_pending(gz, err);
		if (rc == CLIP_OK)
			rc = sparse_done(gz, 1, err);
		if (rc != CLIP_OK)
			return rc;
		if (!md_update(gz->span_md, gz->tail, gz->tail_len))
			return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
		gz->tail_len = 0;
	}
	if (gz->ncp > 0 &&
	    EVP_DigestFinal_ex(gz->span_md, gz->cps[gz->ncp - 1].span_sha256, NULL) != 1)
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	if (EVP_DigestFinal_ex(gz->blob_md, gz->blob_sha256, NULL) != 1)
		return gz_fail(gz, err, CLIP_ERR_NOMEM, "gzindex: sha256 failed");
	if (gz->fed % CHUNK_SIZE != 0 && (rc = end_chunk(gz, err)) != CLIP_OK)
		return rc;      /* the last, shorter chunk */
	gz->finished = 1;

	/* Only the checkpoints are needed from here on. */
	if (gz->strm_live) {
		inflateEnd(&gz->strm);
		gz->strm_live = 0;
	}
	free(gz->ring);
	gz->ring = NULL;
	free(gz->tail);
	gz->tail = NULL;
	gz->tail_cap = 0;
	return CLIP_OK;
}

size_t
clip_gzindex_checkpoint_count(const clip_gzindex *gz)
{
	return gz != NULL && gz->finished ? gz->ncp : 0;
}

const struct clip_checkpoint_info *
clip_gzindex_checkpoint(const clip_gzindex *gz, size_t i)
{
	if (gz == NULL || !gz->finished || i >= gz->ncp)
		return NULL;
	return &gz->cps[i];
}

uint64_t
clip_gzindex_compressed_size(const clip_gzindex *gz)
{
	return gz != NULL ? gz->fed : 0;
}

uint64_t
clip_gzindex_uncompressed_size(const clip_gzindex *gz)
{
	return gz != NULL ? gz->out_total : 0;
}

const uint8_t *
clip_gzindex_blob_sha256(const clip_gzindex *gz)
{
	return gz != NULL && gz->finished ? gz->blob_sha256 : NULL;
}

const uint8_t *
clip_gzindex_chunk_sha256s(const clip_gzindex *gz, size_t *count, uint32_t *chunk_shift)
{
	*count = 0;
	*chunk_shift = 0;
	if (gz == NULL || !gz->finished)
		return NULL;
	*count = gz->nchunks;
	*chunk_shift = CLIP_CHUNK_SHIFT;
	return gz->chunks;
}

const uint8_t *
clip_checkpoint_info_window(const struct clip_checkpoint_info *ci, uint8_t *buf)
{
	uLongf len = CLIP_WINDOW_SIZE;

	if (ci->window_len == 0)
		return NULL;
	if (ci->window != NULL)
		return ci->window;
	if (ci->window_z == NULL ||
	    uncompress(buf, &len, ci->window_z, ci->window_zlen) != Z_OK || len != ci->window_len)
		return NULL;
	return buf;
}
