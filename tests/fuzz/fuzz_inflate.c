/*
 * fuzz_inflate.c - libFuzzer target for gzip checkpoints: the read side
 * (clip_inflate_span_at, clip_inflate_span_prefix, the streaming
 * clip_inflate_stream fed in pieces; with ISA-L and zlib where built with
 * both) and the indexer (clip_gzindex, whose windows are made sparse).
 *
 * Read side: at startup a fixed two-member gzip stream is generated and
 * indexed.  Each input then picks one of its checkpoints and damages it
 * as the input says (bit count, kind, window, span end, the compressed
 * bytes themselves, how many of them there are, skip and length), and
 * inflates.  Errors are fine; a crash or a read outside the exact-size
 * buffers handed over is not.  With no damage the output must be the
 * original data.
 *
 * Indexer: the raw input is also indexed as a gzip blob (or as an
 * uncompressed one when it does not start like gzip).  When that
 * succeeds, every span it recorded must have the recorded SHA-256 and
 * inflate, through the read side, to exactly the bytes the indexer
 * reported.  And since random bytes rarely pass gzip's CRC, the input
 * also drives zlib to make a valid stream (index_generated), which must
 * index, and whose spans must all inflate back.
 */
#include "config.h"

#define ZLIB_CONST
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "common/gzip/gzindex.h"
#include "common/gzip/inflate.h"
#include "common/format/index.h"
#include "tests/unit/testutil.h"
#include "tests/fuzz/fuzz.h"

/* The checkpoint's window, inflated (the indexer keeps it compressed). */
static uint8_t win_buf_[CLIP_WINDOW_SIZE];
#define WIN(ci) clip_checkpoint_info_window((ci), win_buf_)

#define DATA_LEN   (160u * 1024)
#define SPAN       (16u * 1024)
#define RAW_SPAN   (8u * 1024)
#define RAW_OUTMAX (1u << 20)
#define GZ_CAP     (1u << 20)

/* The fixed stream, its data and its checkpoints. */
static uint8_t *data_orig;
static uint8_t *gz_blob;
static size_t gz_len;
static clip_gzindex *gz_fixed;
static size_t ncp;

struct outbuf {
	uint8_t *p;
	size_t len, cap, max;
	clip_gzindex *gz;
};

static clip_err
collect(void *ctx, const uint8_t *buf, size_t len, uint64_t off, struct clip_error *err)
{
	struct outbuf *o = ctx;

	FUZZ_ASSERT(off == o->len && len > 0);
	if (len > o->max - o->len)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "fuzz: output cap");
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		uint8_t *p;
		while (cap < o->len + len)
			cap *= 2;
		if ((p = realloc(o->p, cap)) == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "fuzz: out of memory");
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, len);
	o->len += len;
	/* Like the tar scanner asking for a checkpoint where a file starts. */
	if (o->gz != NULL)
		clip_gzindex_mark(o->gz, off + len / 2);
	return CLIP_OK;
}

/* Appends a gzip member of in to gz_blob (GZ_CAP bytes, plenty for
 * DATA_LEN); sync > 0 adds a sync flush every sync bytes, which gives
 * byte-aligned boundaries (the others are not). */
static void
add_member(const uint8_t *in, size_t len, int level, size_t sync)
{
	z_stream s;
	size_t pos = 0, n;
	int flush, ret;

	memset(&s, 0, sizeof(s));
	FUZZ_ASSERT(deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	do {
		n = sync && len - pos > sync ? sync : len - pos;
		flush = pos + n == len ? Z_FINISH : sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		s.next_in = (const Bytef *)(in + pos);
		s.avail_in = (uInt)n;
		s.next_out = gz_blob + gz_len;
		s.avail_out = (uInt)(GZ_CAP - gz_len);
		pos += n;
		ret = deflate(&s, flush);
		FUZZ_ASSERT(ret != Z_STREAM_ERROR && s.avail_out > 0);
		gz_len = GZ_CAP - s.avail_out;
	} while (pos < len);
	FUZZ_ASSERT(ret == Z_STREAM_END);
	deflateEnd(&s);
}

static uint8_t *
dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	FUZZ_ASSERT(q != NULL);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char words[] = "usr/lib/x86_64-linux-gnu/libc.so.6 ELF \x7f\0\0 ustar  root ";
	struct outbuf o;
	struct clip_error err;
	uint32_t x = 12345;
	size_t i;

	(void)argc;
	(void)argv;
	/* Text-like runs and noise, so blocks of every kind appear. */
	data_orig = malloc(DATA_LEN);
	FUZZ_ASSERT(data_orig != NULL);
	for (i = 0; i < DATA_LEN; i++) {
		x = x * 1103515245u + 12345u;
		data_orig[i] = (i / 8192) % 3 == 2 ? (uint8_t)(x >> 16) :
		    (uint8_t)words[(i + (x >> 28)) % (sizeof(words) - 1)];
	}
	gz_blob = malloc(GZ_CAP);
	FUZZ_ASSERT(gz_blob != NULL);
	add_member(data_orig, DATA_LEN / 2, 6, 20000);
	add_member(data_orig + DATA_LEN / 2, DATA_LEN - DATA_LEN / 2, 1, 0);

	memset(&o, 0, sizeof(o));
	o.max = DATA_LEN;
	FUZZ_ASSERT(clip_gzindex_new(CLIP_COMPRESSION_GZIP, SPAN, collect, &o, &gz_fixed,
	    &err) == CLIP_OK);
	FUZZ_ASSERT(clip_gzindex_feed(gz_fixed, gz_blob, gz_len, &err) == CLIP_OK);
	FUZZ_ASSERT(clip_gzindex_finish(gz_fixed, &err) == CLIP_OK);
	FUZZ_ASSERT(o.len == DATA_LEN && memcmp(o.p, data_orig, DATA_LEN) == 0);
	free(o.p);
	ncp = clip_gzindex_checkpoint_count(gz_fixed);
	FUZZ_ASSERT(ncp > 4);
	return 0;
}

/* Bytes of the input, one at a time; zeros once it runs out. */
struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t
take(struct cursor *c)
{
	if (c->n == 0)
		return 0;
	c->n--;
	return *c->p++;
}

static uint32_t
take32(struct cursor *c)
{
	uint32_t v = take(c);

	v |= (uint32_t)take(c) << 8;
	v |= (uint32_t)take(c) << 16;
	return v | (uint32_t)take(c) << 24;
}

static void
damage_span(const uint8_t *in, size_t size)
{
	struct cursor c = { in, size };
	struct clip_checkpoint cp;
	const struct clip_checkpoint_info *ci;
	struct clip_error err;
	uint8_t flags, *comp, *win = NULL, *out;
	size_t clen, olen, i, nflip;
	uint64_t skip, span_out;
	int damaged = 0, harm = 0;   /* harm: any damage but cutting comp short */
	clip_err rc;

	i = take(&c) % ncp;
	flags = take(&c);
	/* Odd checkpoints through ISA-L (where built with it), even ones zlib. */
	clip_inflate_use(i & 1 ? CLIP_INFLATER_ISAL : CLIP_INFLATER_ZLIB);
	ci = clip_gzindex_checkpoint(gz_fixed, i);
	test_reader_checkpoint(gz_fixed, i, gz_len, &cp);
	clen = (size_t)(cp.span_end - cp.span_start);

	if (flags & 0x01) {
		cp.bits = take(&c);
		cp.bits = cp.bits & 0x80 ? cp.bits : cp.bits & 7;
		damaged |= cp.bits != ci->bits;
		harm = damaged;
	}
	if (flags & 0x02) {
		cp.kind = take(&c) % 4;
		damaged |= cp.kind != ci->kind;
		harm = damaged;
	}
	if (flags & 0x04) {
		/* Grow or shrink the span's claimed output. */
		uint32_t d = take32(&c) % (2 * SPAN);
		cp.out_end = cp.out_offset + d;
		damaged = harm = 1;
	}
	if (flags & 0x08) {
		clen = clen * take(&c) / 255;
		damaged = 1;
	}
	skip = 0;
	span_out = cp.out_end - cp.out_offset;
	olen = (size_t)span_out;
	if (flags & 0x10) {
		skip = take32(&c) % (span_out + 1);
		olen = (size_t)(take32(&c) % (span_out - skip + 1));
	}
	comp = dup_exact(gz_blob + cp.span_start, clen);
	if (flags & 0x20) {
		/* Flips: (offset, xor) pairs. */
		nflip = take(&c) % 16;
		while (nflip-- > 0 && clen > 0) {
			uint32_t at = take32(&c) % clen;
			uint8_t x = take(&c);
			comp[at] ^= x ? x : 1;
			damaged = harm = 1;
		}
	}
	if (flags & 0x40) {
		/* The window from the rest of the input (any length up to 32 KiB). */
		cp.window_len = (uint32_t)(c.n > CLIP_WINDOW_SIZE ? CLIP_WINDOW_SIZE : c.n);
		win = dup_exact(c.p, cp.window_len);
		damaged = harm = 1;
	} else if (flags & 0x80) {
		/* The compressed bytes from the rest of the input. */
		free(comp);
		clen = c.n;
		comp = dup_exact(c.p, clen);
		win = dup_exact(WIN(ci), ci->window_len);
		damaged = harm = 1;
	} else {
		win = dup_exact(WIN(ci), ci->window_len);
	}
	out = malloc(olen ? olen : 1);
	FUZZ_ASSERT(out != NULL);
	rc = clip_inflate_span_at(&cp, cp.window_len ? win : NULL, comp, clen, skip, out, olen,
	    &err);
	if (!damaged)
		FUZZ_ASSERT(rc == CLIP_OK &&
		    memcmp(out, data_orig + cp.out_offset + skip, olen) == 0);
	free(out);
	/* The partial-load path on the same bytes: never more than asked, and
	 * exact as far as it goes when the bytes were at most cut short. */
	if (cp.out_end >= cp.out_offset) {
		size_t made = 0;
		out = malloc(span_out ? (size_t)span_out : 1);
		FUZZ_ASSERT(out != NULL);
		rc = clip_inflate_span_prefix(&cp, cp.window_len ? win : NULL, comp, clen, out,
		    (size_t)span_out, &made, &err);
		FUZZ_ASSERT(made <= span_out);
		if (!harm)
			FUZZ_ASSERT(rc == CLIP_OK &&
			    memcmp(out, data_orig + cp.out_offset, made) == 0);
		if (!damaged)
			FUZZ_ASSERT(made == span_out);
		free(out);
	}
	/* The streaming path on the same bytes, fed in pieces the input
	 * picks: never more than the span, exact as far as it goes. */
	if (cp.out_end > cp.out_offset) {
		struct clip_inflate_stream *st = NULL;
		size_t made = 0, have = 0, step;
		int stopped = 0;
		out = malloc((size_t)span_out);
		FUZZ_ASSERT(out != NULL);
		if (clip_inflate_stream_new(&cp, cp.window_len ? win : NULL, clen ? comp : NULL, out,
		    (size_t)span_out, &st, &err) == CLIP_OK) {
			rc = CLIP_OK;
			while (have < clen && rc == CLIP_OK && !stopped) {
				step = take(&c);
				step = step ? step * 64 : 4096;
				have = clen - have < step ? clen : have + step;
				rc = clip_inflate_stream_feed(st, comp, have, &made, &stopped, &err);
				FUZZ_ASSERT(made <= span_out);
			}
			if (!harm && rc == CLIP_OK)
				FUZZ_ASSERT(memcmp(out, data_orig + cp.out_offset, made) == 0);
			if (!damaged)
				FUZZ_ASSERT(rc == CLIP_OK && (made == span_out || stopped));
			clip_inflate_stream_free(st);
		}
		free(out);
	}
	clip_inflate_use(CLIP_INFLATER_ISAL);
	free(win);
	free(comp);
}

/*
 * Indexes blob (gzip or not, as it starts) and checks every span the
 * indexer recorded: its SHA-256 is that of its bytes, and it inflates,
 * from exact-size copies, to exactly what the indexer output there.
 * want != NULL: the blob is known good and must index to want.
 */
static void
index_blob(const uint8_t *in, size_t size, const uint8_t *want, size_t want_len)
{
	uint32_t compression = size >= 2 && in[0] == 0x1f && in[1] == 0x8b ?
	    CLIP_COMPRESSION_GZIP : CLIP_COMPRESSION_NONE;
	struct outbuf o;
	struct clip_error err;
	struct clip_checkpoint cp;
	clip_gzindex *gz = NULL;
	size_t i, n, half = size / 2, clen, olen;
	uint8_t *part, *comp, *out, md[32];
	unsigned int mdlen;
	clip_err rc;

	memset(&o, 0, sizeof(o));
	o.max = RAW_OUTMAX;
	if (clip_gzindex_new(compression, RAW_SPAN, collect, &o, &gz, &err) != CLIP_OK)
		return;
	o.gz = gz;
	/* Two feeds from exact-size copies, so the split point moves. */
	part = dup_exact(in, half);
	rc = clip_gzindex_feed(gz, part, half, &err);
	free(part);
	if (rc == CLIP_OK) {
		part = dup_exact(in + half, size - half);
		rc = clip_gzindex_feed(gz, part, size - half, &err);
		free(part);
	}
	if (rc == CLIP_OK)
		rc = clip_gzindex_finish(gz, &err);
	if (want != NULL) {
		if (rc != CLIP_OK)
			fprintf(stderr, "good blob refused: %s\n", clip_error_message(&err));
		FUZZ_ASSERT(rc == CLIP_OK);
		FUZZ_ASSERT(o.len == want_len && memcmp(o.p, want, want_len) == 0);
	}
	if (rc == CLIP_OK) {
		FUZZ_ASSERT(clip_gzindex_compressed_size(gz) == size);
		FUZZ_ASSERT(clip_gzindex_uncompressed_size(gz) == o.len);
		n = clip_gzindex_checkpoint_count(gz);
		FUZZ_ASSERT(n > 0 || o.len == 0);
		for (i = 0; i < n; i++) {
			const struct clip_checkpoint_info *ci = clip_gzindex_checkpoint(gz, i);
			uint8_t *win;
			test_reader_checkpoint(gz, i, size, &cp);
			FUZZ_ASSERT(cp.span_start <= cp.span_end && cp.span_end <= size);
			/* No span is empty, but the one of a blob with no output. */
			FUZZ_ASSERT(cp.out_end <= o.len);
			FUZZ_ASSERT(cp.out_offset < cp.out_end || (n == 1 && o.len == 0));
			FUZZ_ASSERT(i > 0 || cp.out_offset == 0);
			clen = (size_t)(cp.span_end - cp.span_start);
			EVP_Digest(in + cp.span_start, clen, md, &mdlen, EVP_sha256(), NULL);
			FUZZ_ASSERT(memcmp(md, ci->span_sha256, 32) == 0);
			if (cp.out_offset == cp.out_end)
				continue;
			olen = (size_t)(cp.out_end - cp.out_offset);
			comp = dup_exact(in + cp.span_start, clen);
			win = dup_exact(WIN(ci), ci->window_len);
			out = malloc(olen);
			FUZZ_ASSERT(out != NULL);
			rc = clip_inflate_span(&cp, ci->window_len ? win : NULL, comp, clen, out,
			    olen, &err);
			if (rc != CLIP_OK)
				fprintf(stderr, "span %zu: %s\n", i, clip_error_message(&err));
			FUZZ_ASSERT(rc == CLIP_OK);
			FUZZ_ASSERT(memcmp(out, o.p + cp.out_offset, olen) == 0);
			free(out);
			free(win);
			free(comp);
		}
	}
	clip_gzindex_free(gz);
	free(o.p);
}

/*
 * Random bytes rarely make a gzip stream whose CRC checks, so this makes
 * valid ones: the input's first bytes choose zlib's level, strategy,
 * window size, a flush kind and interval and the member count; the rest,
 * repeated with drift up to GEN_MAX bytes, is the data.  Every such
 * stream must index, and every span must inflate back.
 */
#define GEN_MAX (40u * 1024)   /* > the 32 KiB window, and a few spans */

static void
index_generated(const uint8_t *in, size_t size)
{
	static const int flushes[] = { Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_PARTIAL_FLUSH,
		Z_BLOCK };
	static const int strategies[] = { Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
		Z_FIXED };
	int level, strategy, wbits, flush;
	size_t every, members, dlen, i, pos, m, cap, blen = 0;
	uint8_t *d, *blob;
	z_stream s;

	if (size < 8)
		return;
	level = in[0] % 10;
	strategy = strategies[in[1] % 5];
	wbits = 9 + (in[1] / 5) % 7;          /* 9..15: small windows too */
	flush = flushes[in[2] % 5];
	every = 1 + (size_t)in[3] * 97;
	members = 1 + in[4] % 3;
	dlen = (size - 6) * (1 + (size_t)in[5]);
	if (dlen > GEN_MAX)
		dlen = GEN_MAX;
	d = malloc(dlen ? dlen : 1);
	FUZZ_ASSERT(d != NULL);
	for (i = 0; i < dlen; i++)
		d[i] = (uint8_t)(in[6 + i % (size - 6)] + (in[5] & 1 ? i / (size - 6) : 0));
	/* Fixed codes take 9 bits a byte; a flush at most ~10 bytes more. */
	cap = 2 * dlen + 16 * (dlen / every + 2 * members) + 65536;
	blob = malloc(cap);
	FUZZ_ASSERT(blob != NULL);
	for (m = 0; m < members; m++) {
		size_t start = dlen * m / members, end = dlen * (m + 1) / members;
		int ret;
		memset(&s, 0, sizeof(s));
		FUZZ_ASSERT(deflateInit2(&s, level, Z_DEFLATED, wbits + 16, 8, strategy) == Z_OK);
		pos = start;
		do {
			size_t n = end - pos > every ? every : end - pos;
			s.next_in = d + pos;
			s.avail_in = (uInt)n;
			pos += n;
			s.next_out = blob + blen;
			s.avail_out = (uInt)(cap - blen);
			ret = deflate(&s, pos == end ? Z_FINISH : flush);
			FUZZ_ASSERT(ret != Z_STREAM_ERROR && s.avail_out > 0 && s.avail_in == 0);
			blen = cap - s.avail_out;
		} while (pos < end);
		FUZZ_ASSERT(ret == Z_STREAM_END);
		deflateEnd(&s);
	}
	index_blob(blob, blen, d, dlen);
	free(blob);
	free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	damage_span(data, size);
	index_blob(data, size, NULL, 0);
	index_generated(data, size);
	return 0;
}
