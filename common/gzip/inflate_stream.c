/*
 * inflate_stream.c - inflate a span while its compressed bytes arrive.
 *
 * clip_inflate_span() wants the whole span; this takes it piece by piece
 * (each piece already verified by the caller) so that inflating overlaps
 * the download and the first bytes of the span can be served before the
 * last ones arrive.  Only the common case streams: one deflate stream
 * from the checkpoint on.  Where that stream's member ends inside the
 * span (a multi-member blob), streaming stops and the caller inflates the
 * span whole once it has it, with the code that knows about members.
 */
#include "config.h"

#define ZLIB_CONST
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "common/gzip/inflate.h"
#include "common/format/index.h"

#define SLICE (1u << 30)   /* avail_in and avail_out are 32-bit */

/* At most SLICE of n. */
static uint32_t
slice(size_t n)
{
	return n > SLICE ? SLICE : (uint32_t)n;
}

struct clip_inflate_stream {
	enum clip_inflater which;
	int raw;
	uint8_t *out;
	size_t out_len;
	size_t made;
	size_t pos;             /* compressed bytes consumed */
	int stopped;
	z_stream z;
	int z_live;
#ifdef HAVE_ISAL
	struct inflate_state *isal;
#endif
};

void
clip_inflate_stream_free(struct clip_inflate_stream *s)
{
	if (s == NULL)
		return;
	if (s->z_live)
		inflateEnd(&s->z);
#ifdef HAVE_ISAL
	free(s->isal);
#endif
	free(s);
}

clip_err
clip_inflate_stream_new(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *first_byte, uint8_t *out, size_t out_len, struct clip_inflate_stream **sp,
    struct clip_error *err)
{
	struct clip_inflate_stream *s;

	*sp = NULL;
	if (cp == NULL || out == NULL || out_len == 0 ||
	    (cp->kind != CLIP_CHECKPOINT_DEFLATE && cp->kind != CLIP_CHECKPOINT_MEMBER) ||
	    cp->bits > 7 || (cp->kind == CLIP_CHECKPOINT_MEMBER && cp->bits != 0) ||
	    (cp->bits != 0 && first_byte == NULL) || cp->window_len > CLIP_WINDOW_SIZE ||
	    (cp->kind == CLIP_CHECKPOINT_DEFLATE && cp->window_len > 0 && window == NULL))
		return clip_error_set(err, CLIP_ERR_INVALID, "inflate stream: bad arguments");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	s->raw = cp->kind == CLIP_CHECKPOINT_DEFLATE;
	s->out = out;
	s->out_len = out_len;
	/* The odd bits come from the byte before in_offset: comp[0]. */
	s->pos = cp->bits != 0 ? 1 : 0;
	s->which = clip_inflate_use((enum clip_inflater)-1);
#ifdef HAVE_ISAL
	if (s->which == CLIP_INFLATER_ISAL) {
		s->isal = malloc(sizeof(*s->isal));
		if (s->isal == NULL)
			goto nomem;
		isal_inflate_init(s->isal);
		s->isal->crc_flag = s->raw ? ISAL_DEFLATE : ISAL_GZIP;
		if (s->raw && cp->window_len > 0 &&
		    isal_inflate_set_dict(s->isal, (uint8_t *)window, cp->window_len) != COMP_OK)
			goto bad;
		if (cp->bits != 0) {
			s->isal->read_in = (uint64_t)(*first_byte >> (8 - cp->bits));
			s->isal->read_in_length = cp->bits;
		}
		*sp = s;
		return CLIP_OK;
	}
#endif
	s->which = CLIP_INFLATER_ZLIB;
	if (inflateInit2(&s->z, s->raw ? -15 : 15 + 16) != Z_OK)
		goto nomem;
	s->z_live = 1;
	if (cp->bits != 0 && inflatePrime(&s->z, cp->bits, *first_byte >> (8 - cp->bits)) != Z_OK)
		goto bad;
	if (s->raw && cp->window_len > 0 &&
	    inflateSetDictionary(&s->z, window, cp->window_len) != Z_OK)
		goto bad;
	*sp = s;
	return CLIP_OK;
nomem:
	clip_inflate_stream_free(s);
	return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
bad:
	clip_inflate_stream_free(s);
	return clip_error_set(err, CLIP_ERR_GZIP, "inflate stream: cannot set up the checkpoint");
}

#ifdef HAVE_ISAL
static clip_err
feed_isal(struct clip_inflate_stream *s, const uint8_t *comp, size_t comp_len,
    struct clip_error *err)
{
	struct inflate_state *st = s->isal;
	uint32_t in_before, out_before;
	size_t used, made;
	int ret;

	while (s->made < s->out_len && !s->stopped) {
		in_before = slice(comp_len - s->pos);
		out_before = slice(s->out_len - s->made);
		st->next_in = (uint8_t *)comp + s->pos;
		st->avail_in = in_before;
		st->next_out = s->out + s->made;
		st->avail_out = out_before;
		ret = isal_inflate(st);
		used = in_before - st->avail_in;
		made = out_before - st->avail_out;
		s->pos += used;
		s->made += made;
		if (ret != ISAL_DECOMP_OK)
			return clip_error_set(err, CLIP_ERR_GZIP,
			    "span: corrupt deflate data (igzip %d)", ret);
		if (st->block_state == ISAL_BLOCK_FINISH && s->made < s->out_len)
			s->stopped = 1;         /* a member ends inside the span */
		if (used == 0 && made == 0)
			break;                  /* wants more input */
	}
	return CLIP_OK;
}
#endif

static clip_err
feed_zlib(struct clip_inflate_stream *s, const uint8_t *comp, size_t comp_len,
    struct clip_error *err)
{
	uInt in_before, out_before;
	size_t used, made;
	int ret;

	while (s->made < s->out_len && !s->stopped) {
		in_before = slice(comp_len - s->pos);
		out_before = slice(s->out_len - s->made);
		s->z.next_in = comp + s->pos;
		s->z.avail_in = in_before;
		s->z.next_out = s->out + s->made;
		s->z.avail_out = out_before;
		ret = inflate(&s->z, Z_NO_FLUSH);
		used = in_before - s->z.avail_in;
		made = out_before - s->z.avail_out;
		s->pos += used;
		s->made += made;
		if (ret == Z_STREAM_END) {
			if (s->made < s->out_len)
				s->stopped = 1;
			break;
		}
		if (ret == Z_MEM_ERROR)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		if (ret == Z_BUF_ERROR || (ret == Z_OK && used == 0 && made == 0))
			break;                  /* wants more input */
		if (ret != Z_OK)
			return clip_error_set(err, CLIP_ERR_GZIP, "span: %s",
			    s->z.msg != NULL ? s->z.msg : "corrupt deflate data");
	}
	return CLIP_OK;
}

clip_err
clip_inflate_stream_feed(struct clip_inflate_stream *s, const uint8_t *comp, size_t comp_len,
    size_t *made, int *stopped, struct clip_error *err)
{
	clip_err rc = CLIP_OK;

	if (s == NULL || (comp == NULL && comp_len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "inflate stream: bad arguments");
	if (comp_len > s->pos && s->made < s->out_len && !s->stopped) {
#ifdef HAVE_ISAL
		if (s->which == CLIP_INFLATER_ISAL)
			rc = feed_isal(s, comp, comp_len, err);
		else
#endif
			rc = feed_zlib(s, comp, comp_len, err);
	}
	*made = s->made;
	*stopped = s->stopped;
	return rc;
}
