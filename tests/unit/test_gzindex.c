/*
 * test_gzindex.c - gzip checkpoints: indexing and inflating spans.
 *
 * The references are independent of the code under test: zlib's deflate
 * makes the gzip streams from known data, EVP hashes the slices of the
 * compressed buffer, and every span is inflated and compared with the
 * original bytes; windows are compared with the original bytes too (a
 * window may have zeros where nothing after it copies from:
 * window_sparse.h).
 */
#include "config.h"

#include <zlib.h>
#include <openssl/evp.h>

#include "common/gzip/gzindex.h"
#include "common/gzip/inflate.h"
#include "common/format/index.h"
#include "common/gzip/window_sparse.h"
#include "tests/unit/testutil.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

/* The checkpoint's window, inflated (the indexer keeps it compressed). */
static uint8_t win_buf_[CLIP_WINDOW_SIZE];
#define WIN(ci) clip_checkpoint_info_window((ci), win_buf_)

#define KiB 1024u
#define MiB (1024u * 1024u)

/* ---- data ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	return test_rnd(&rng_state);
}

static void
seed(uint64_t s)
{
	rng_state = test_rnd_seed(s);
}

/* Segments (up to 200 KiB) of text-like words, random bytes and zeros. */
static uint8_t *
gen_data(size_t len)
{
	return test_gen_data(len, &rng_state, 200 * KiB, 0);
}

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static int
buf_add(struct buf *b, const void *p, size_t n)
{
	uint8_t *q;

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Appends one gzip member of data to out.  sync_every > 0: a Z_SYNC_FLUSH
 * after every that many input bytes and once more before Z_FINISH (which
 * leaves an empty stored block just before the final block). */
static int
gzip_member(struct buf *out, const uint8_t *data, size_t len, int level, size_t sync_every)
{
	z_stream s;
	uint8_t tmp[64 * 1024];
	size_t pos = 0, n;
	int ret, flush;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	do {
		n = len - pos;
		if (sync_every > 0 && n > sync_every)
			n = sync_every;
		flush = pos + n == len ? (sync_every ? Z_SYNC_FLUSH : Z_FINISH) :
		    (sync_every ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		s.next_in = (Bytef *)(uintptr_t)(data + pos);
		s.avail_in = (uInt)n;
		pos += n;
		do {
			s.next_out = tmp;
			s.avail_out = sizeof(tmp);
			ret = deflate(&s, flush);
			if (ret == Z_STREAM_ERROR || buf_add(out, tmp, sizeof(tmp) - s.avail_out) != 0) {
				deflateEnd(&s);
				return -1;
			}
		} while (s.avail_out == 0);
	} while (pos < len);
	if (sync_every) {
		do {
			s.next_out = tmp;
			s.avail_out = sizeof(tmp);
			ret = deflate(&s, Z_FINISH);
			if (buf_add(out, tmp, sizeof(tmp) - s.avail_out) != 0) {
				deflateEnd(&s);
				return -1;
			}
		} while (ret == Z_OK);
	}
	deflateEnd(&s);
	return 0;
}

static void
sha256(const uint8_t *p, size_t n, uint8_t md[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, p, n);
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
}

/* ---- indexing -------------------------------------------------------------- */

struct sink {
	struct buf out;
	clip_gzindex *gz;
	int bad_offset;
	const uint64_t *marks;  /* ascending */
	size_t nmarks;
	size_t next_mark;
	clip_err fail_with;     /* make the callback fail at its 3rd call */
	int calls;
	int after;              /* marks go to clip_gzindex_mark_after() */
};

static clip_err
sink_fn(void *ctx, const uint8_t *buf, size_t len, uint64_t off, struct clip_error *err)
{
	struct sink *s = ctx;

	if (s->fail_with != CLIP_OK && ++s->calls == 3)
		return clip_error_set(err, s->fail_with, "sink says no");
	if (off != s->out.len || len == 0)
		s->bad_offset = 1;
	if (buf_add(&s->out, buf, len) != 0)
		return clip_error_set(err, CLIP_ERR_NOMEM, "sink");
	/* Like a tar parser that just saw where a big file's data starts. */
	while (s->next_mark < s->nmarks && s->marks[s->next_mark] <= off + len) {
		if (s->after)
			clip_gzindex_mark_after(s->gz, s->marks[s->next_mark]);
		else if (s->marks[s->next_mark] >= off)
			clip_gzindex_mark(s->gz, s->marks[s->next_mark]);
		s->next_mark++;
	}
	return CLIP_OK;
}

/* Chunk sizes cycle through this list; 0 ends it. */
static const size_t chunks_mixed[] = { 1, 7, 65536, 3, 4093, 100000, 0 };
static const size_t chunks_64k[] = { 65536, 0 };
static const size_t chunks_1[] = { 1, 0 };
static const size_t chunks_7[] = { 7, 0 };
static const size_t chunks_all[] = { (size_t)-1, 0 };

static clip_err
run_index(const uint8_t *blob, size_t len, uint32_t compression, uint64_t span,
    const size_t *chunks, struct sink *sink, clip_gzindex **gzp, struct clip_error *err)
{
	clip_gzindex *gz;
	size_t pos = 0, n, ci = 0;
	clip_err rc;

	*gzp = NULL;
	rc = clip_gzindex_new(compression, span, sink_fn, sink, &gz, err);
	if (rc != CLIP_OK)
		return rc;
	*gzp = gz;
	sink->gz = gz;
	while (pos < len) {
		n = chunks[ci];
		if (chunks[++ci] == 0)
			ci = 0;
		if (n > len - pos)
			n = len - pos;
		rc = clip_gzindex_feed(gz, blob + pos, n, err);
		if (rc != CLIP_OK)
			return rc;
		pos += n;
	}
	return clip_gzindex_finish(gz, err);
}

/* The span's bytes in a buffer of exactly their size, so that any read
 * past the end shows up under AddressSanitizer/valgrind. */
static uint8_t *
span_copy(const uint8_t *blob, const struct clip_checkpoint *cp)
{
	size_t n = (size_t)(cp->span_end - cp->span_start);
	uint8_t *p = malloc(n ? n : 1);

	if (p != NULL)
		memcpy(p, blob + cp->span_start, n);
	return p;
}

/*
 * Everything a finished index must satisfy, checked against the blob and
 * the original data.  Returns 0 if fine; reports with CHECKs otherwise.
 */
static int verify_failed;

/* Each byte of w is the original's, or a zero. */
static int
window_matches(const uint8_t *w, const uint8_t *orig, size_t len)
{
	size_t i;

	if (len > 0 && w == NULL)
		return 0;
	for (i = 0; i < len; i++)
		if (w[i] != orig[i] && w[i] != 0)
			return 0;
	return 1;
}

#define VCHECK(cond) do { if (!(cond)) { verify_failed = 1; CHECK(cond); } } while (0)

/* The chunk hashes are the SHA-256s of the blob's 64 KiB pieces, the last
 * one shorter, hashed here on their own. */
static int
chunks_match(const clip_gzindex *gz, const uint8_t *blob, size_t blob_len)
{
	const uint8_t *h;
	uint8_t md[32];
	size_t count, k, n;
	uint32_t shift;

	h = clip_gzindex_chunk_sha256s(gz, &count, &shift);
	if (shift != 16 || count != (blob_len + 65535) / 65536 || (count > 0 && h == NULL))
		return 0;
	for (k = 0; k < count; k++) {
		n = blob_len - k * 65536 < 65536 ? blob_len - k * 65536 : 65536;
		sha256(blob + k * 65536, n, md);
		if (memcmp(md, h + k * 32, 32) != 0)
			return 0;
	}
	return 1;
}

static void
verify_index(const clip_gzindex *gz, const uint8_t *blob, size_t blob_len,
    const uint8_t *orig, size_t orig_len, uint32_t compression)
{
	size_t n = clip_gzindex_checkpoint_count(gz), i;
	struct clip_checkpoint cp;
	const struct clip_checkpoint_info *ci, *prev = NULL;
	struct clip_error err;
	uint8_t md[32], *comp, *out;
	uint64_t skip, len;

	verify_failed = 0;
	clip_error_clear(&err);
	VCHECK(clip_gzindex_compressed_size(gz) == blob_len);
	VCHECK(clip_gzindex_uncompressed_size(gz) == orig_len);
	sha256(blob, blob_len, md);
	VCHECK(clip_gzindex_blob_sha256(gz) != NULL);
	VCHECK(memcmp(clip_gzindex_blob_sha256(gz), md, 32) == 0);
	VCHECK(chunks_match(gz, blob, blob_len));
	VCHECK(n >= 1);
	VCHECK(clip_gzindex_checkpoint(gz, n) == NULL);
	ci = clip_gzindex_checkpoint(gz, 0);
	VCHECK(ci->in_offset == 0 && ci->out_offset == 0 && ci->bits == 0);
	VCHECK(ci->kind == (compression == CLIP_COMPRESSION_GZIP ? CLIP_CHECKPOINT_MEMBER :
	    CLIP_CHECKPOINT_STORED));

	for (i = 0; i < n; i++) {
		ci = clip_gzindex_checkpoint(gz, i);
		test_reader_checkpoint(gz, i, blob_len, &cp);
		if (prev != NULL) {
			VCHECK(ci->in_offset > prev->in_offset);
			VCHECK(ci->out_offset > prev->out_offset);
		}
		VCHECK(cp.out_end > cp.out_offset);       /* no empty span */
		VCHECK(cp.span_end > cp.span_start && cp.span_end <= blob_len);
		VCHECK(ci->bits <= 7 && ci->window_len <= CLIP_WINDOW_SIZE);
		switch (ci->kind) {
		case CLIP_CHECKPOINT_DEFLATE:
			VCHECK(compression == CLIP_COMPRESSION_GZIP);
			VCHECK(ci->window_len > 0 || WIN(ci) == NULL);
			/* The window is the output right before the checkpoint,
			 * with zeros where nothing copies from it. */
			VCHECK(ci->window_len <= ci->out_offset);
			VCHECK(window_matches(WIN(ci), orig + ci->out_offset - ci->window_len,
			    ci->window_len));
			break;
		case CLIP_CHECKPOINT_MEMBER:
			VCHECK(ci->bits == 0 && ci->window_len == 0);
			VCHECK(blob[ci->in_offset] == 0x1f && blob[ci->in_offset + 1] == 0x8b);
			break;
		case CLIP_CHECKPOINT_STORED:
			VCHECK(compression == CLIP_COMPRESSION_NONE);
			VCHECK(ci->in_offset == ci->out_offset && ci->bits == 0);
			VCHECK(ci->window_len == 0);
			break;
		default:
			VCHECK(!"unknown kind");
		}

		sha256(blob + cp.span_start, (size_t)(cp.span_end - cp.span_start), md);
		VCHECK(memcmp(md, ci->span_sha256, 32) == 0);

		comp = span_copy(blob, &cp);
		len = cp.out_end - cp.out_offset;
		out = malloc((size_t)len);
		VCHECK(comp != NULL && out != NULL);
		if (clip_inflate_span(&cp, WIN(ci), comp, (size_t)(cp.span_end - cp.span_start),
		    out, (size_t)len, &err) != CLIP_OK) {
			fprintf(stderr, "span %zu: %s\n", i, clip_error_message(&err));
			free(comp);
			free(out);
			VCHECK(!"inflate span");
		}
		if (memcmp(out, orig + cp.out_offset, (size_t)len) != 0) {
			free(comp);
			free(out);
			VCHECK(!"span output differs");
		}
		/* A read that starts inside the span. */
		skip = rnd() % len;
		len = 1 + rnd() % (len - skip);
		if (clip_inflate_span_at(&cp, WIN(ci), comp,
		    (size_t)(cp.span_end - cp.span_start), skip, out, (size_t)len, &err) != CLIP_OK) {
			fprintf(stderr, "span %zu skip %llu: %s\n", i, (unsigned long long)skip,
			    clip_error_message(&err));
			free(comp);
			free(out);
			VCHECK(!"inflate span at");
		}
		if (memcmp(out, orig + cp.out_offset + skip, (size_t)len) != 0) {
			free(comp);
			free(out);
			VCHECK(!"mid-span output differs");
		}
		/* A partial load: the first cut compressed bytes give a prefix
		 * of the output, exact as far as it goes; all of them give all. */
		{
			size_t clen = (size_t)(cp.span_end - cp.span_start), made = 0;
			size_t cut = (size_t)(rnd() % (clen + 1));
			size_t olen = (size_t)(cp.out_end - cp.out_offset);
			clip_err prc;
			free(out);
			out = malloc(olen);
			VCHECK(out != NULL);
			prc = clip_inflate_span_prefix(&cp, WIN(ci), comp, cut, out, olen, &made, &err);
			if (prc != CLIP_OK || made > olen || memcmp(out, orig + cp.out_offset, made) != 0) {
				fprintf(stderr, "span %zu prefix of %zu/%zu bytes: %s, made %zu\n", i,
				    cut, clen, prc == CLIP_OK ? "wrong output" : clip_error_message(&err),
				    made);
				free(comp);
				free(out);
				VCHECK(!"span prefix");
			}
			prc = clip_inflate_span_prefix(&cp, WIN(ci), comp, clen, out, olen, &made, &err);
			if (prc != CLIP_OK || made != olen || memcmp(out, orig + cp.out_offset, olen) != 0) {
				free(comp);
				free(out);
				VCHECK(!"span prefix of all its bytes");
			}
		}
		free(comp);
		free(out);
		prev = ci;
	}
}

/* Checkpoint lists are identical (the placement must not depend on how
 * the blob was cut into chunks). */
static int
same_checkpoints(const clip_gzindex *a, const clip_gzindex *b)
{
	size_t i, n = clip_gzindex_checkpoint_count(a);
	const struct clip_checkpoint_info *x, *y;

	if (n != clip_gzindex_checkpoint_count(b))
		return 0;
	for (i = 0; i < n; i++) {
		x = clip_gzindex_checkpoint(a, i);
		y = clip_gzindex_checkpoint(b, i);
		if (x->in_offset != y->in_offset || x->out_offset != y->out_offset ||
		    x->bits != y->bits || x->kind != y->kind || x->window_len != y->window_len ||
		    memcmp(x->span_sha256, y->span_sha256, 32) != 0)
			return 0;
	}
	return 1;
}

static void
sink_reset(struct sink *s)
{
	free(s->out.p);
	memset(s, 0, sizeof(*s));
}

/* The multi-member blob used by several tests, and where members start
 * (uncompressed offsets). */
struct corpus {
	uint8_t *data;
	size_t len;
	struct buf gz;
	uint64_t member_out[8];
	uint64_t member_in[8];
	size_t members;
};

static int
make_corpus(struct corpus *c, size_t len, int multi)
{
	/* size fraction (per mille), level, sync_every */
	static const struct { unsigned permille; int level; size_t sync; } parts[] = {
		{ 450, 6, 0 }, { 0, 6, 0 }, { 250, 1, 0 }, { 60, 0, 0 }, { 140, 9, 0 },
		{ 100, 6, 20 * KiB },
	};
	size_t i, pos = 0, n;

	memset(c, 0, sizeof(*c));
	seed(len + (size_t)multi);
	c->data = gen_data(len);
	c->len = len;
	if (c->data == NULL)
		return -1;
	if (!multi) {
		c->members = 1;
		return gzip_member(&c->gz, c->data, len, 6, 0);
	}
	/* The last part ends with zeros so it compresses into one block,
	 * followed by a sync flush: a block boundary right at the end. */
	memset(c->data + len - 200 * KiB, 0, 200 * KiB);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		n = i + 1 == sizeof(parts) / sizeof(parts[0]) ? len - pos :
		    len / 1000 * parts[i].permille;
		c->member_out[i] = pos;
		c->member_in[i] = c->gz.len;
		if (gzip_member(&c->gz, c->data + pos, n, parts[i].level, parts[i].sync) != 0)
			return -1;
		pos += n;
	}
	c->members = i;
	return 0;
}

static void
free_corpus(struct corpus *c)
{
	free(c->data);
	free(c->gz.p);
}

/* A window never reaches back into an earlier member (it may be shorter:
 * the zeros in front of what is used are dropped). */
static int
windows_stay_in_member(const clip_gzindex *gz, const struct corpus *c)
{
	const struct clip_checkpoint_info *ci;
	uint64_t want;
	size_t i, m;

	for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++) {
		ci = clip_gzindex_checkpoint(gz, i);
		if (ci->kind != CLIP_CHECKPOINT_DEFLATE)
			continue;
		for (m = c->members; m-- > 0;)
			if (c->member_in[m] < ci->in_offset)
				break;
		want = ci->out_offset - c->member_out[m];
		if (want > CLIP_WINDOW_SIZE)
			want = CLIP_WINDOW_SIZE;
		if (ci->window_len > want)
			return 0;
	}
	return 1;
}

/* ---- tests ------------------------------------------------------------------- */

TEST(test_single_member)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	clip_err rc;

	CHECK(make_corpus(&c, 3 * MiB, 0) == 0);
	memset(&s, 0, sizeof(s));
	rc = run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 64 * KiB, chunks_64k, &s, &gz, &err);
	if (rc != CLIP_OK)
		fprintf(stderr, "%s\n", clip_error_message(&err));
	CHECK(rc == CLIP_OK);
	CHECK(!s.bad_offset);
	CHECK(s.out.len == c.len && memcmp(s.out.p, c.data, c.len) == 0);
	/* Many checkpoints, roughly one per span. */
	CHECK(clip_gzindex_checkpoint_count(gz) > c.len / (256 * KiB));
	CHECK(clip_gzindex_checkpoint_count(gz) <= c.len / (64 * KiB) + 1);
	verify_index(gz, c.gz.p, c.gz.len, c.data, c.len, CLIP_COMPRESSION_GZIP);
	clip_gzindex_free(gz);
	sink_reset(&s);
	free_corpus(&c);
	CHECK(!verify_failed);
}

TEST(test_multi_member)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	struct clip_checkpoint cp;
	size_t i, m, crossing = 0, member_cps = 0;
	uint64_t spans[] = { 64 * KiB, 1 * MiB };
	size_t si;

	CHECK(make_corpus(&c, 4 * MiB, 1) == 0);
	for (si = 0; si < 2; si++) {
		memset(&s, 0, sizeof(s));
		CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, spans[si], chunks_mixed,
		    &s, &gz, &err), &err);
		CHECK(!s.bad_offset);
		CHECK(s.out.len == c.len && memcmp(s.out.p, c.data, c.len) == 0);
		verify_index(gz, c.gz.p, c.gz.len, c.data, c.len, CLIP_COMPRESSION_GZIP);
		CHECK(!verify_failed);
		CHECK(windows_stay_in_member(gz, &c));
		/* Spans that run from one member into the next must occur, or
		 * the raw-mode trailer skip is not tested. */
		for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++) {
			test_reader_checkpoint(gz, i, c.gz.len, &cp);
			if (cp.kind == CLIP_CHECKPOINT_MEMBER)
				member_cps++;
			for (m = 1; m < c.members; m++)
				if (c.member_out[m] > cp.out_offset && c.member_out[m] < cp.out_end &&
				    cp.kind == CLIP_CHECKPOINT_DEFLATE)
					crossing++;
		}
		clip_gzindex_free(gz);
		sink_reset(&s);
	}
	CHECK(crossing > 0);
	CHECK(member_cps >= 2);
	free_corpus(&c);
}

TEST(test_chunking_does_not_matter)
{
	struct corpus c;
	struct sink s1, s2;
	clip_gzindex *a, *b;
	struct clip_error err;
	const size_t *patterns[] = { chunks_7, chunks_mixed, chunks_all };
	size_t p;

	CHECK(make_corpus(&c, 1 * MiB + 12345, 1) == 0);
	memset(&s1, 0, sizeof(s1));
	CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 64 * KiB, chunks_1, &s1, &a,
	    &err), &err);
	CHECK(s1.out.len == c.len && memcmp(s1.out.p, c.data, c.len) == 0);
	verify_index(a, c.gz.p, c.gz.len, c.data, c.len, CLIP_COMPRESSION_GZIP);
	CHECK(!verify_failed);
	for (p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		memset(&s2, 0, sizeof(s2));
		CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 64 * KiB, patterns[p],
		    &s2, &b, &err), &err);
		CHECK(s2.out.len == c.len && memcmp(s2.out.p, c.data, c.len) == 0);
		CHECK(same_checkpoints(a, b));
		CHECK(chunks_match(b, c.gz.p, c.gz.len));
		clip_gzindex_free(b);
		sink_reset(&s2);
	}
	clip_gzindex_free(a);
	sink_reset(&s1);
	free_corpus(&c);
}

TEST(test_marks)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	uint64_t marks[64];
	size_t nmarks = 0, i, j, n;
	const struct clip_checkpoint_info *ci, *best;
	const size_t *patterns[] = { chunks_64k, chunks_mixed };
	size_t p;

	CHECK(make_corpus(&c, 4 * MiB, 1) == 0);
	/* Marks at random places ~300 KiB apart, plus exactly at the start of
	 * member 2 (after the empty member 1), which must become a MEMBER
	 * checkpoint there. */
	for (i = 1; i < 14; i++) {
		marks[nmarks] = i * 300 * KiB + rnd() % (100 * KiB);
		/* Not so close to the member mark that one of them is ignored. */
		if ((marks[nmarks] + 128 * KiB > c.member_out[2] &&
		    marks[nmarks] < c.member_out[2] + 128 * KiB) ||
		    (marks[nmarks] + 128 * KiB > c.member_out[5] &&
		    marks[nmarks] < c.member_out[5] + 128 * KiB))
			continue;
		nmarks++;
	}
	marks[nmarks++] = c.member_out[2];
	/* Just past a sync-flush boundary 20 KiB into the last member: a
	 * DEFLATE checkpoint whose window is shorter than 32 KiB. */
	marks[nmarks++] = c.member_out[5] + 25 * KiB;
	for (i = 0; i < nmarks; i++)          /* sort */
		for (j = i + 1; j < nmarks; j++)
			if (marks[j] < marks[i]) {
				uint64_t t = marks[i];
				marks[i] = marks[j];
				marks[j] = t;
			}

	for (p = 0; p < 2; p++) {
		memset(&s, 0, sizeof(s));
		s.marks = marks;
		s.nmarks = nmarks;
		/* A span larger than the blob: only marks add checkpoints. */
		CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 64 * MiB, patterns[p],
		    &s, &gz, &err), &err);
		CHECK(s.next_mark == nmarks);
		n = clip_gzindex_checkpoint_count(gz);
		CHECK(n > 1 && n <= nmarks + 1);
		for (i = 0; i < nmarks; i++) {
			best = NULL;
			for (j = 0; j < n; j++) {
				ci = clip_gzindex_checkpoint(gz, j);
				if (ci->out_offset <= marks[i])
					best = ci;
			}
			/* The checkpoint at or before the mark is close to it:
			 * the boundary before it, not some earlier one. */
			CHECK_MSG(best != NULL && marks[i] - best->out_offset < 200 * KiB,
			    "mark %llu: nearest checkpoint at %llu",
			    (unsigned long long)marks[i],
			    (unsigned long long)(best ? best->out_offset : 0));
			if (marks[i] == c.member_out[2]) {
				CHECK(best->out_offset == marks[i]);
				CHECK(best->kind == CLIP_CHECKPOINT_MEMBER);
				CHECK(best->in_offset == c.member_in[2]);
			}
			if (marks[i] == c.member_out[5] + 25 * KiB) {
				CHECK(best->kind == CLIP_CHECKPOINT_DEFLATE);
				CHECK(best->out_offset == c.member_out[5] + 20 * KiB);
			}
		}
		verify_index(gz, c.gz.p, c.gz.len, c.data, c.len, CLIP_COMPRESSION_GZIP);
		CHECK(!verify_failed);
		CHECK(windows_stay_in_member(gz, &c));
		clip_gzindex_free(gz);
		sink_reset(&s);
	}
	free_corpus(&c);
}

/* A mark_after lands on the first block boundary at or after its offset:
 * with a sync flush every 50 KiB, no later than the next multiple. */
TEST(test_marks_after)
{
	const size_t len = 2 * MiB, every = 50 * KiB;
	struct buf z = { 0 };
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	uint64_t marks[16], next;
	size_t nmarks = 0, i, k;
	const struct clip_checkpoint_info *ci;
	uint8_t *data;
	int found;

	seed(11);
	data = gen_data(len);
	CHECK(data != NULL && gzip_member(&z, data, len, 6, every) == 0);
	for (i = 1; i < 10; i++)
		marks[nmarks++] = i * 200 * KiB + rnd() % (60 * KiB);
	memset(&s, 0, sizeof(s));
	s.marks = marks;
	s.nmarks = nmarks;
	s.after = 1;
	CHECK_OK(run_index(z.p, z.len, CLIP_COMPRESSION_GZIP, 64 * MiB, chunks_mixed, &s, &gz,
	    &err), &err);
	CHECK(clip_gzindex_checkpoint_count(gz) >= nmarks + 1);
	for (i = 0; i < nmarks; i++) {
		next = (marks[i] + every - 1) / every * every;
		for (k = 0, found = 0; k < clip_gzindex_checkpoint_count(gz); k++) {
			ci = clip_gzindex_checkpoint(gz, k);
			found |= ci->out_offset >= marks[i] && ci->out_offset <= next;
		}
		CHECK_MSG(found, "no checkpoint in [%llu, %llu]", (unsigned long long)marks[i],
		    (unsigned long long)next);
	}
	verify_index(gz, z.p, z.len, data, len, CLIP_COMPRESSION_GZIP);
	clip_gzindex_free(gz);
	sink_reset(&s);
	free(z.p);
	free(data);
	CHECK(!verify_failed);
}

TEST(test_marks_ignored)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	/* Too close to the first checkpoint; and ahead of the output. */
	uint64_t marks[] = { 1000, 10 * KiB };

	CHECK(make_corpus(&c, 1 * MiB, 0) == 0);
	memset(&s, 0, sizeof(s));
	s.marks = marks;
	s.nmarks = 2;
	CHECK_OK(clip_gzindex_new(CLIP_COMPRESSION_GZIP, 64 * MiB, sink_fn, &s, &gz, &err), &err);
	s.gz = gz;
	clip_gzindex_mark(gz, 10 * MiB);
	CHECK_OK(clip_gzindex_feed(gz, c.gz.p, c.gz.len, &err), &err);
	clip_gzindex_mark(gz, 10 * MiB);
	CHECK_OK(clip_gzindex_finish(gz, &err), &err);
	CHECK(clip_gzindex_checkpoint_count(gz) == 1);
	clip_gzindex_mark(NULL, 0);
	clip_gzindex_free(gz);
	clip_gzindex_free(NULL);
	sink_reset(&s);
	free_corpus(&c);
}

TEST(test_stored_layer)
{
	size_t len = 1 * MiB + 777, i;
	uint8_t *data;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	const struct clip_checkpoint_info *ci;

	seed(7);
	data = gen_data(len);
	CHECK(data != NULL);
	memset(&s, 0, sizeof(s));
	CHECK_OK(run_index(data, len, CLIP_COMPRESSION_NONE, 64 * KiB, chunks_mixed, &s, &gz,
	    &err), &err);
	CHECK(!s.bad_offset);
	CHECK(s.out.len == len && memcmp(s.out.p, data, len) == 0);
	CHECK(clip_gzindex_checkpoint_count(gz) == len / (64 * KiB) + 1);
	for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++) {
		ci = clip_gzindex_checkpoint(gz, i);
		CHECK(ci->out_offset == i * 64 * KiB);
	}
	verify_index(gz, data, len, data, len, CLIP_COMPRESSION_NONE);
	CHECK(!verify_failed);
	clip_gzindex_free(gz);
	sink_reset(&s);

	/* Exactly two spans: no empty third one at the end. */
	CHECK_OK(run_index(data, 128 * KiB, CLIP_COMPRESSION_NONE, 64 * KiB, chunks_all, &s, &gz,
	    &err), &err);
	CHECK(clip_gzindex_checkpoint_count(gz) == 2);
	verify_index(gz, data, 128 * KiB, data, 128 * KiB, CLIP_COMPRESSION_NONE);
	CHECK(chunks_match(gz, data, 128 * KiB));   /* two whole chunks, no empty third */
	CHECK(!verify_failed);
	clip_gzindex_free(gz);
	sink_reset(&s);

	/* An empty uncompressed blob is fine and has no checkpoints. */
	CHECK_OK(run_index(data, 0, CLIP_COMPRESSION_NONE, 64 * KiB, chunks_all, &s, &gz, &err),
	    &err);
	CHECK(clip_gzindex_checkpoint_count(gz) == 0);
	CHECK(clip_gzindex_uncompressed_size(gz) == 0);
	CHECK(chunks_match(gz, data, 0));
	clip_gzindex_free(gz);
	sink_reset(&s);
	free(data);
}

/* Chunk hashes for every way of cutting the input, gzip and stored,
 * around chunk boundaries (a blob of exactly n * 64 KiB, one byte more
 * or less); none before finish. */
TEST(test_chunk_hashes)
{
	const size_t *patterns[] = { chunks_1, chunks_7, chunks_64k, chunks_mixed, chunks_all };
	const size_t lens[] = { 1, 65535, 65536, 65537, 3 * 65536, 300000 };
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	size_t p, l, count;
	uint32_t shift;
	uint8_t *data;

	CHECK(make_corpus(&c, 1 * MiB + 4321, 1) == 0);
	for (p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		memset(&s, 0, sizeof(s));
		CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 256 * KiB, patterns[p],
		    &s, &gz, &err), &err);
		CHECK(chunks_match(gz, c.gz.p, c.gz.len));
		clip_gzindex_free(gz);
		sink_reset(&s);
	}
	free_corpus(&c);

	seed(99);
	data = gen_data(300000);
	CHECK(data != NULL);
	for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
		for (p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
			memset(&s, 0, sizeof(s));
			CHECK_OK(run_index(data, lens[l], CLIP_COMPRESSION_NONE, 64 * KiB,
			    patterns[p], &s, &gz, &err), &err);
			CHECK_MSG(chunks_match(gz, data, lens[l]), "stored, %zu bytes, pattern %zu",
			    lens[l], p);
			clip_gzindex_free(gz);
			sink_reset(&s);
		}

	memset(&s, 0, sizeof(s));
	CHECK_OK(clip_gzindex_new(CLIP_COMPRESSION_NONE, 64 * KiB, sink_fn, &s, &gz, &err), &err);
	s.gz = gz;
	CHECK_OK(clip_gzindex_feed(gz, data, 70000, &err), &err);
	CHECK(clip_gzindex_chunk_sha256s(gz, &count, &shift) == NULL && count == 0 && shift == 0);
	CHECK_OK(clip_gzindex_finish(gz, &err), &err);
	CHECK(clip_gzindex_chunk_sha256s(gz, &count, &shift) != NULL && count == 2 && shift == 16);
	CHECK(clip_gzindex_chunk_sha256s(NULL, &count, &shift) == NULL && count == 0);
	clip_gzindex_free(gz);
	sink_reset(&s);
	free(data);
}

static clip_err
index_bytes(const uint8_t *p, size_t len, const size_t *chunks, struct clip_error *err)
{
	struct sink s;
	clip_gzindex *gz;
	clip_err rc;

	memset(&s, 0, sizeof(s));
	clip_error_clear(err);
	rc = run_index(p, len, CLIP_COMPRESSION_GZIP, 64 * KiB, chunks, &s, &gz, err);
	clip_gzindex_free(gz);
	sink_reset(&s);
	return rc;
}

TEST(test_truncated)
{
	struct corpus c;
	struct clip_error err;
	size_t cuts[8], i;

	CHECK(make_corpus(&c, 1 * MiB, 1) == 0);
	cuts[0] = c.gz.len - 1;
	cuts[1] = c.gz.len - 8;
	cuts[2] = c.gz.len / 2;
	cuts[3] = 1;
	cuts[4] = 5;
	cuts[5] = 10;
	cuts[6] = c.member_in[3] + 3;   /* inside a later member's header */
	cuts[7] = 0;                    /* empty blob */
	for (i = 0; i < 8; i++) {
		CHECK_MSG(index_bytes(c.gz.p, cuts[i], chunks_mixed, &err) == CLIP_ERR_GZIP,
		    "cut at %zu", cuts[i]);
		CHECK(err.code == CLIP_ERR_GZIP && err.msg[0] != '\0');
	}
	/* Cutting exactly between members leaves a valid stream. */
	CHECK_OK(index_bytes(c.gz.p, c.member_in[3], chunks_mixed, &err), &err);
	free_corpus(&c);
}

TEST(test_corrupt_byte)
{
	struct corpus c;
	struct clip_error err;
	size_t i, at;
	uint8_t saved;
	clip_err rc;

	CHECK(make_corpus(&c, 300 * KiB, 0) == 0);
	seed(99);
	for (i = 0; i < 60; i++) {
		/* Past the 10-byte header (mtime, xfl and os are not checked). */
		at = 10 + (size_t)(rnd() % (c.gz.len - 10));
		saved = c.gz.p[at];
		c.gz.p[at] ^= (uint8_t)(1u << (rnd() % 8));
		rc = index_bytes(c.gz.p, c.gz.len, chunks_64k, &err);
		c.gz.p[at] = saved;
		CHECK_MSG(rc == CLIP_ERR_GZIP, "flip at %zu: %d %s", at, rc,
		    clip_error_message(&err));
	}
	CHECK_OK(index_bytes(c.gz.p, c.gz.len, chunks_64k, &err), &err);
	free_corpus(&c);
}

TEST(test_trailing_garbage)
{
	struct corpus c;
	struct clip_error err;
	static const struct { const char *bytes; size_t len; } tails[] = {
		{ "garbage!", 8 }, { "\0", 1 }, { "\x1f", 1 }, { "\x1f\x8b", 2 },
		{ "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10 }, { "x", 1 },
	};
	size_t i, base;
	uint8_t zeros[512];

	CHECK(make_corpus(&c, 256 * KiB, 0) == 0);
	base = c.gz.len;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		c.gz.len = base;
		CHECK(buf_add(&c.gz, tails[i].bytes, tails[i].len) == 0);
		CHECK_MSG(index_bytes(c.gz.p, c.gz.len, chunks_mixed, &err) == CLIP_ERR_GZIP,
		    "tail %zu", i);
		CHECK(err.msg[0] != '\0');
	}
	memset(zeros, 0, sizeof(zeros));
	c.gz.len = base;
	CHECK(buf_add(&c.gz, zeros, sizeof(zeros)) == 0);
	CHECK(index_bytes(c.gz.p, c.gz.len, chunks_all, &err) == CLIP_ERR_GZIP);
	CHECK(strstr(err.msg, "not a gzip member") != NULL);
	free_corpus(&c);
}

TEST(test_callback_error_sticks)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;

	CHECK(make_corpus(&c, 1 * MiB, 0) == 0);
	memset(&s, 0, sizeof(s));
	s.fail_with = CLIP_ERR_TAR;
	CHECK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 64 * KiB, chunks_64k, &s, &gz,
	    &err) == CLIP_ERR_TAR);
	CHECK(strcmp(err.msg, "sink says no") == 0);
	CHECK(clip_gzindex_feed(gz, c.gz.p, 10, &err) == CLIP_ERR_TAR);
	CHECK(clip_gzindex_finish(gz, NULL) == CLIP_ERR_TAR);
	CHECK(clip_gzindex_checkpoint_count(gz) == 0);
	clip_gzindex_free(gz);
	sink_reset(&s);
	CHECK(clip_gzindex_new(CLIP_COMPRESSION_GZIP, 0, sink_fn, &s, &gz, &err) ==
	    CLIP_ERR_INVALID && gz == NULL);
	CHECK(clip_gzindex_new(7, 1, sink_fn, &s, &gz, &err) == CLIP_ERR_UNSUPPORTED);
	free_corpus(&c);
}

/* Damaged spans, windows and checkpoints give errors, never crashes or
 * reads outside the buffers (run under ASan/valgrind to see the latter). */
TEST(test_inflate_span_damage)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	struct clip_checkpoint cp;
	const struct clip_checkpoint_info *ci;
	uint8_t *comp, *out, win[CLIP_WINDOW_SIZE];
	size_t i, n, clen, k;
	uint64_t olen;

	CHECK(make_corpus(&c, 2 * MiB, 1) == 0);
	memset(&s, 0, sizeof(s));
	CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 128 * KiB, chunks_64k, &s,
	    &gz, &err), &err);
	n = clip_gzindex_checkpoint_count(gz);
	seed(5);
	for (i = 0; i < n; i++) {
		ci = clip_gzindex_checkpoint(gz, i);
		test_reader_checkpoint(gz, i, c.gz.len, &cp);
		clen = (size_t)(cp.span_end - cp.span_start);
		olen = cp.out_end - cp.out_offset;
		out = malloc((size_t)olen);
		CHECK(out != NULL);

		/* Half the bytes cannot make the whole output. */
		comp = span_copy(c.gz.p, &cp);
		CHECK(clip_inflate_span(&cp, WIN(ci), comp, clen / 2, out, (size_t)olen,
		    &err) == CLIP_ERR_GZIP);
		CHECK(clip_inflate_span(&cp, WIN(ci), comp, 0, out, (size_t)olen, &err) != CLIP_OK);
		/* Asking for more than the span holds. */
		CHECK(clip_inflate_span(&cp, WIN(ci), comp, clen, out, (size_t)olen + 1,
		    &err) == CLIP_ERR_INVALID);
		CHECK(clip_inflate_span_at(&cp, WIN(ci), comp, clen, olen, out, 1,
		    &err) == CLIP_ERR_INVALID);
		/* Flipped bytes: an error or wrong output, nothing worse. */
		for (k = 0; k < 4; k++) {
			size_t at = (size_t)(rnd() % clen);
			comp[at] ^= 0x5a;
			(void)clip_inflate_span(&cp, WIN(ci), comp, clen, out, (size_t)olen, &err);
			comp[at] ^= 0x5a;
		}
		/* A wrong window gives wrong output or an error. */
		if (ci->window_len > 0) {
			memset(win, 'z', sizeof(win));
			(void)clip_inflate_span(&cp, win, comp, clen, out, (size_t)olen, &err);
		}
		/* Wrong bit count. */
		cp.bits = (uint8_t)((cp.bits + 3) % 8);
		(void)clip_inflate_span(&cp, WIN(ci), comp, clen, out, (size_t)olen, &err);
		cp.bits = 9;
		CHECK(clip_inflate_span(&cp, WIN(ci), comp, clen, out, (size_t)olen,
		    &err) == CLIP_ERR_INVALID);
		cp.kind = 77;
		cp.bits = 0;
		CHECK(clip_inflate_span(&cp, WIN(ci), comp, clen, out, (size_t)olen,
		    &err) == CLIP_ERR_INVALID);
		/* Stored kind over a short buffer. */
		cp.kind = CLIP_CHECKPOINT_STORED;
		CHECK(clip_inflate_span(&cp, NULL, comp, 0, out, 1, &err) == CLIP_ERR_GZIP);
		free(comp);
		free(out);
	}
	clip_gzindex_free(gz);
	sink_reset(&s);
	free_corpus(&c);
}

/* ---- streaming -------------------------------------------------------------- */

/* Every span, fed to the stream in pieces of random sizes, gives the
 * original bytes as far as it goes; in one member, all of them. */
static void
stream_spans(int multi)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	struct clip_checkpoint cp;
	struct clip_inflate_stream *st;
	size_t i, have, step, made, prev, len, comp_len, whole = 0, stops = 0;
	uint8_t *comp, *out;
	int stopped;

	CHECK(make_corpus(&c, 3 * MiB, multi) == 0);
	memset(&s, 0, sizeof(s));
	CHECK_OK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 256 * KiB, chunks_64k, &s, &gz,
	    &err), &err);
	for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++) {
		test_reader_checkpoint(gz, i, c.gz.len, &cp);
		len = (size_t)(cp.out_end - cp.out_offset);
		comp_len = (size_t)(cp.span_end - cp.span_start);
		comp = span_copy(c.gz.p, &cp);
		out = malloc(len);
		CHECK(comp != NULL && out != NULL);
		CHECK_OK(clip_inflate_stream_new(&cp, WIN(clip_gzindex_checkpoint(gz, i)), comp, out,
		    len, &st, &err), &err);
		prev = 0;
		stopped = 0;
		for (have = 0; have < comp_len && !stopped;) {
			step = 1 + (size_t)(rnd() % (i % 2 ? 3000 : 70000));
			have = comp_len - have < step ? comp_len : have + step;
			CHECK_OK(clip_inflate_stream_feed(st, comp, have, &made, &stopped, &err), &err);
			CHECK(made >= prev && made <= len);
			CHECK(memcmp(out, c.data + cp.out_offset, made) == 0);
			prev = made;
		}
		if (stopped)
			stops++;
		else
			CHECK(prev == len);
		whole += prev == len;
		clip_inflate_stream_free(st);
		free(comp);
		free(out);
	}
	fprintf(stderr, "# %zu spans streamed whole, %zu stopped at a member's end\n", whole,
	    stops);
	CHECK(whole >= clip_gzindex_checkpoint_count(gz) / 2);
	CHECK(multi || stops == 0);
	clip_gzindex_free(gz);
	sink_reset(&s);
	free_corpus(&c);
}

TEST(test_stream_single_member) { stream_spans(0); }
TEST(test_stream_multi_member) { stream_spans(1); }

/* ---- sparse windows ------------------------------------------------------- */

/* The indexer's windows, on text-like data, are mostly zeros, and every
 * span still inflates right (verify_index). */
TEST(test_sparse_windows_in_index)
{
	struct corpus c;
	struct sink s;
	clip_gzindex *gz;
	struct clip_error err;
	const struct clip_checkpoint_info *ci;
	const uint8_t *w;
	size_t i, j, nonzero = 0, full = 0;

	CHECK(make_corpus(&c, 3 * MiB, 0) == 0);
	memset(&s, 0, sizeof(s));
	CHECK(run_index(c.gz.p, c.gz.len, CLIP_COMPRESSION_GZIP, 256 * KiB, chunks_64k, &s, &gz,
	    &err) == CLIP_OK);
	for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++) {
		ci = clip_gzindex_checkpoint(gz, i);
		if (ci->kind != CLIP_CHECKPOINT_DEFLATE)
			continue;
		full += ci->out_offset < CLIP_WINDOW_SIZE ? ci->out_offset : CLIP_WINDOW_SIZE;
		w = WIN(ci);
		for (j = 0; j < ci->window_len; j++)
			nonzero += w[j] != 0;
	}
	fprintf(stderr, "# window bytes kept: %zu of %zu\n", nonzero, full);
	CHECK(full >= 4 * CLIP_WINDOW_SIZE);
	CHECK(nonzero < full / 2);
	verify_index(gz, c.gz.p, c.gz.len, c.data, c.len, CLIP_COMPRESSION_GZIP);
	clip_gzindex_free(gz);
	sink_reset(&s);
	free_corpus(&c);
	CHECK(!verify_failed);
}

/* Raw deflate of a, a sync flush (a byte-aligned block boundary), then b:
 * *cut is where b's blocks start. */
static int
deflate_two(struct buf *out, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    size_t *cut)
{
	z_stream s;
	uint8_t tmp[64 * 1024];
	int ret = Z_OK, pass;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	for (pass = 0; pass < 2; pass++) {
		s.next_in = (Bytef *)(uintptr_t)(pass ? b : a);
		s.avail_in = (uInt)(pass ? blen : alen);
		do {
			s.next_out = tmp;
			s.avail_out = sizeof(tmp);
			ret = deflate(&s, pass ? Z_FINISH : Z_SYNC_FLUSH);
			if (ret == Z_STREAM_ERROR || buf_add(out, tmp, sizeof(tmp) - s.avail_out) != 0) {
				deflateEnd(&s);
				return -1;
			}
		} while (s.avail_out == 0 || (pass && ret == Z_OK));
		if (!pass)
			*cut = out->len;
	}
	deflateEnd(&s);
	return 0;
}

/* Sparsifies the window a (its last 32 KiB) of the checkpoint before b. */
static int
sparsify_case(const uint8_t *a, const uint8_t *b, size_t blen, size_t comp_cut,
    uint8_t *window, uint32_t *wlen)
{
	struct buf z = { 0 };
	struct clip_checkpoint cp;
	size_t cut = 0;
	int r;

	if (deflate_two(&z, a, CLIP_WINDOW_SIZE, b, blen, &cut) != 0)
		return -1;
	memset(&cp, 0, sizeof(cp));
	cp.kind = CLIP_CHECKPOINT_DEFLATE;
	cp.in_offset = cut;
	cp.out_offset = CLIP_WINDOW_SIZE;
	cp.window_len = CLIP_WINDOW_SIZE;
	memcpy(window, a, CLIP_WINDOW_SIZE);
	*wlen = 12345;
	r = clip_window_sparsify(&cp, window, z.p + cut,
	    comp_cut ? comp_cut : z.len - cut, b, blen < CLIP_WINDOW_SIZE ? blen : CLIP_WINDOW_SIZE,
	    wlen);
	free(z.p);
	return r;
}

TEST(test_window_sparsify)
{
	uint8_t *a = malloc(CLIP_WINDOW_SIZE), *b = malloc(2 * CLIP_WINDOW_SIZE);
	uint8_t *w = malloc(CLIP_WINDOW_SIZE);
	uint32_t wlen, i, nonzero;

	CHECK(a != NULL && b != NULL && w != NULL);
	seed(7);
	for (i = 0; i < CLIP_WINDOW_SIZE; i++)
		a[i] = (uint8_t)rnd();

	/* b copies all of a but its first KiB (zlib's longest distance is
	 * 32 KiB less 262 bytes, so a straight copy of a would not be one):
	 * that much is kept, as it was. */
	memcpy(b, a + KiB, CLIP_WINDOW_SIZE - KiB);
	for (i = CLIP_WINDOW_SIZE - KiB; i < CLIP_WINDOW_SIZE; i++)
		b[i] = (uint8_t)rnd();
	CHECK(sparsify_case(a, b, CLIP_WINDOW_SIZE, 0, w, &wlen) == 1);
	CHECK(wlen == CLIP_WINDOW_SIZE - KiB);
	CHECK(memcmp(w, a + KiB, wlen) == 0);

	/* b copies a's second half only, then new bytes: the first half
	 * goes, the window shrinks to what is used. */
	memcpy(b, a + CLIP_WINDOW_SIZE / 2, CLIP_WINDOW_SIZE / 2);
	for (i = CLIP_WINDOW_SIZE / 2; i < 2 * CLIP_WINDOW_SIZE; i++)
		b[i] = (uint8_t)rnd();
	CHECK(sparsify_case(a, b, 2 * CLIP_WINDOW_SIZE, 0, w, &wlen) == 1);
	CHECK(wlen <= CLIP_WINDOW_SIZE / 2 && wlen > CLIP_WINDOW_SIZE / 2 - 64);
	CHECK(memcmp(w + wlen - CLIP_WINDOW_SIZE / 2 + 64, a + CLIP_WINDOW_SIZE / 2 + 64,
	    CLIP_WINDOW_SIZE / 2 - 64) == 0);

	/* b is all new: next to nothing is kept. */
	for (i = 0; i < CLIP_WINDOW_SIZE; i++)
		b[i] = (uint8_t)rnd();
	CHECK(sparsify_case(a, b, CLIP_WINDOW_SIZE, 0, w, &wlen) == 1);
	for (i = 0, nonzero = 0; i < wlen; i++)
		nonzero += w[i] != 0;
	CHECK(nonzero < 64);

	/* Too few compressed bytes to make the output: left alone. */
	memcpy(b, a, CLIP_WINDOW_SIZE);
	CHECK(sparsify_case(a, b, CLIP_WINDOW_SIZE, 100, w, &wlen) == 0);
	CHECK(wlen == 12345 && memcmp(w, a, CLIP_WINDOW_SIZE) == 0);
	free(a);
	free(b);
	free(w);
}

/*
 * The spans above were inflated with the build's default inflater (ISA-L
 * where built with it); run the inflating tests again with the other one,
 * so both are held to the same bytes and the same errors.
 */
static void
with_other_inflater(void (*fn)(void))
{
	enum clip_inflater was = clip_inflate_use(CLIP_INFLATER_ISAL);
	enum clip_inflater other = was == CLIP_INFLATER_ISAL ? CLIP_INFLATER_ZLIB :
	    CLIP_INFLATER_ISAL;

	if (clip_inflate_use(other) != other) {
		fprintf(stderr, "# only %s in this build\n", clip_inflater_name(was));
		return;
	}
	fprintf(stderr, "# again with %s\n", clip_inflater_name(other));
	fn();
	clip_inflate_use(was);
}

TEST(test_other_inflater_single_member) { with_other_inflater(test_single_member); }
TEST(test_other_inflater_multi_member) { with_other_inflater(test_multi_member); }
TEST(test_other_inflater_marks) { with_other_inflater(test_marks); }
TEST(test_other_inflater_damage) { with_other_inflater(test_inflate_span_damage); }
TEST(test_other_inflater_sparsify) { with_other_inflater(test_window_sparsify); }
TEST(test_other_inflater_stream) { with_other_inflater(test_stream_multi_member); }

TEST_MAIN(test_single_member, test_multi_member, test_chunking_does_not_matter,
    test_chunk_hashes, test_marks, test_marks_after,
    test_marks_ignored, test_stored_layer, test_truncated, test_corrupt_byte,
    test_trailing_garbage, test_callback_error_sticks, test_inflate_span_damage,
    test_other_inflater_single_member, test_other_inflater_multi_member,
    test_other_inflater_marks, test_other_inflater_damage, test_sparse_windows_in_index,
    test_window_sparsify, test_other_inflater_sparsify, test_stream_single_member,
    test_stream_multi_member, test_other_inflater_stream)
