/*
 * inflate_span.c - the read side of gzindex: inflate one span from its
 * checkpoint.
 *
 * A DEFLATE checkpoint resumes raw inflate in the middle of a member: the
 * unused high bits of the byte before in_offset are primed, the window is
 * preset as the dictionary.  A MEMBER checkpoint starts at a gzip header.
 * A span may run past the end of its member: in raw mode the 8-byte
 * trailer is skipped (the span's SHA-256 already vouches for it, and the
 * CRC covers bytes before the checkpoint that we do not have); then the
 * next member is read in gzip mode, where zlib checks each trailer.
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

#define SKIP_BUF  (64u * 1024)   /* scratch for output that is thrown away */
#define IN_SLICE  (1u << 30)     /* avail_in and avail_out are uInts */
#define GZ_TRAILER 8

#ifdef HAVE_ISAL
static _Atomic enum clip_inflater inflater = CLIP_INFLATER_ISAL;
#else
static _Atomic enum clip_inflater inflater = CLIP_INFLATER_ZLIB;
#endif

enum clip_inflater
clip_inflate_use(enum clip_inflater want)
{
#ifdef HAVE_ISAL
	if (want == CLIP_INFLATER_ZLIB || want == CLIP_INFLATER_ISAL)
		inflater = want;
#else
	(void)want;
#endif
	return inflater;
}

const char *
clip_inflater_name(enum clip_inflater which)
{
	return which == CLIP_INFLATER_ISAL ? "isa-l" : "zlib";
}

/* Checks shared by both inflaters. */
static clip_err
check_start(const struct clip_checkpoint *cp, const uint8_t *window, size_t comp_len,
    struct clip_error *err)
{
	int raw = cp->kind == CLIP_CHECKPOINT_DEFLATE;

	if (cp->bits > 7 || (!raw && cp->bits != 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "checkpoint: bad bit count %u",
		    cp->bits);
	if (raw && cp->window_len > 0 && (window == NULL || cp->window_len > CLIP_WINDOW_SIZE))
		return clip_error_set(err, CLIP_ERR_INVALID, "checkpoint: bad window");
	if (raw && cp->bits != 0 && comp_len == 0)
		return clip_error_set(err, CLIP_ERR_GZIP, "span: no compressed bytes");
	return CLIP_OK;
}

/* Scratch for skipped output: out itself when it is big enough, so small
 * reads do not need many small inflate calls.  NULL: out of memory. */
static uint8_t *
skip_buffer(uint64_t skip, uint8_t *out, size_t out_len, size_t *len)
{
	uint8_t *p;

	*len = 0;
	if (skip == 0)
		return out;
	if (out_len >= SKIP_BUF) {
		*len = out_len;
		return out;
	}
	if ((p = malloc(SKIP_BUF)) != NULL)
		*len = SKIP_BUF;
	return p;
}

/* The input ran out before the output did: an error, unless the caller
 * asked for a prefix (made_out), which is as far as the input goes. */
static clip_err
ended_early(struct clip_error *err, size_t *made_out, uint64_t missing)
{
	if (made_out != NULL)
		return CLIP_OK;
	return clip_error_set(err, CLIP_ERR_GZIP,
	    "span: compressed data ends %llu bytes short of the output",
	    (unsigned long long)missing);
}

/* Where the next output goes: into scratch while skipping, else into out
 * after the done bytes; at most IN_SLICE.  Returns the room at *dst. */
static size_t
next_room(uint64_t skip, uint8_t *scratch, size_t scratch_len, uint8_t *out, size_t out_len,
    size_t done, uint8_t **dst)
{
	size_t room;

	if (skip > 0) {
		room = skip < scratch_len ? (size_t)skip : scratch_len;
		*dst = scratch;
	} else {
		room = out_len - done;
		*dst = out + done;
	}
	return room > IN_SLICE ? IN_SLICE : room;
}

/* A raw-mode member ended inside the span: steps pos over its 8-byte
 * trailer (the span's SHA-256 already vouches for it, and the CRC covers
 * bytes before the checkpoint that we do not have). */
static clip_err
skip_trailer(size_t *pos, size_t comp_len, struct clip_error *err)
{
	if (comp_len - *pos < GZ_TRAILER)
		return clip_error_set(err, CLIP_ERR_GZIP, "span: gzip trailer cut short");
	*pos += GZ_TRAILER;
	return CLIP_OK;
}

#ifdef HAVE_ISAL
/*
 * The same walk as inflate_from() below with ISA-L's igzip, which
 * inflates about four times as fast as zlib here.  The primed bits go
 * into its bit buffer (read_in), which it consumes low bit first as zlib
 * does after inflatePrime().  At the end of a member igzip may hold bytes
 * it read ahead in that buffer; pos is moved back over them so that it
 * lands on the trailer (or the next member) as with zlib.
 */
static clip_err
inflate_from_isal(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len,
    size_t *made_out, struct clip_error *err)
{
	struct inflate_state *s;
	int raw = cp->kind == CLIP_CHECKPOINT_DEFLATE;
	uint8_t *scratch;
	size_t scratch_len, pos = 0, done = 0, used, made;
	uint32_t in_before, out_before;
	int ret;
	clip_err rc = CLIP_OK;

	if ((rc = check_start(cp, window, comp_len, err)) != CLIP_OK)
		return rc;
	scratch = skip_buffer(skip, out, out_len, &scratch_len);
	s = malloc(sizeof(*s));   /* about 40 KiB: not on a FUSE thread's stack */
	if (scratch == NULL || s == NULL) {
		if (scratch != out)
			free(scratch);
		free(s);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	isal_inflate_init(s);
	s->crc_flag = raw ? ISAL_DEFLATE : ISAL_GZIP;
	if (raw && cp->window_len > 0 &&
	    isal_inflate_set_dict(s, (uint8_t *)window, cp->window_len) != COMP_OK) {
		rc = clip_error_set(err, CLIP_ERR_GZIP, "isal_inflate_set_dict failed");
		goto out;
	}
	if (raw && cp->bits != 0) {
		s->read_in = (uint64_t)(comp[0] >> (8 - cp->bits));
		s->read_in_length = cp->bits;
		pos = 1;
	}

	while (done < out_len) {
		in_before = (uint32_t)(comp_len - pos > IN_SLICE ? IN_SLICE : comp_len - pos);
		s->next_in = (uint8_t *)comp + pos;
		s->avail_in = in_before;
		out_before = (uint32_t)next_room(skip, scratch, scratch_len, out, out_len, done,
		    &s->next_out);
		s->avail_out = out_before;

		ret = isal_inflate(s);

		used = in_before - s->avail_in;
		made = out_before - s->avail_out;
		pos += used;
		if (skip > 0)
			skip -= made;
		else
			done += made;
		if (ret != ISAL_DECOMP_OK) {
			rc = clip_error_set(err, CLIP_ERR_GZIP, "span: corrupt deflate data (igzip %d)",
			    ret);
			goto out;
		}
		if (s->block_state == ISAL_BLOCK_FINISH) {
			if (done == out_len)
				break;
			/* Whole bytes still in the bit buffer were read past
			 * the member's end (the odd bits are its padding). */
			if ((size_t)(s->read_in_length / 8) > pos) {
				rc = clip_error_set(err, CLIP_ERR_GZIP, "span: igzip lost its place");
				goto out;
			}
			pos -= (size_t)(s->read_in_length / 8);
			/* The member ended inside the span: on to the next. */
			if (raw) {
				if ((rc = skip_trailer(&pos, comp_len, err)) != CLIP_OK)
					goto out;
				raw = 0;
			}
			isal_inflate_reset(s);
			s->crc_flag = ISAL_GZIP;
			if (pos == comp_len) {
				rc = ended_early(err, made_out, skip + out_len - done);
				goto out;
			}
			continue;
		}
		if (used == 0 && made == 0) {
			rc = ended_early(err, made_out, skip + out_len - done);
			goto out;
		}
	}
out:
	if (made_out != NULL)
		*made_out = done;
	free(s);
	if (scratch != out)
		free(scratch);
	return rc;
}
#endif

static clip_err
inflate_from(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len,
    size_t *made_out, struct clip_error *err)
{
	z_stream s;
	int raw = cp->kind == CLIP_CHECKPOINT_DEFLATE;
	uint8_t *scratch = NULL;
	size_t scratch_len = 0, pos = 0, done = 0, used, made;
	uInt in_before, out_before;
	int ret;
	clip_err rc = CLIP_OK;

	if ((rc = check_start(cp, window, comp_len, err)) != CLIP_OK)
		return rc;
	scratch = skip_buffer(skip, out, out_len, &scratch_len);
	if (scratch == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, raw ? -15 : 15 + 16) != Z_OK) {
		if (scratch != out)
			free(scratch);
		return clip_error_set(err, CLIP_ERR_NOMEM, "inflateInit failed");
	}
	if (raw && cp->bits != 0) {
		if (inflatePrime(&s, cp->bits, comp[0] >> (8 - cp->bits)) != Z_OK) {
			rc = clip_error_set(err, CLIP_ERR_GZIP, "inflatePrime failed");
			goto out;
		}
		pos = 1;
	}
	if (raw && cp->window_len > 0 &&
	    inflateSetDictionary(&s, window, cp->window_len) != Z_OK) {
		rc = clip_error_set(err, CLIP_ERR_GZIP, "inflateSetDictionary failed");
		goto out;
	}

	while (done < out_len) {
		in_before = (uInt)(comp_len - pos > IN_SLICE ? IN_SLICE : comp_len - pos);
		s.next_in = comp + pos;
		s.avail_in = in_before;
		out_before = (uInt)next_room(skip, scratch, scratch_len, out, out_len, done,
		    &s.next_out);
		s.avail_out = out_before;

		ret = inflate(&s, Z_NO_FLUSH);

		used = in_before - s.avail_in;
		made = out_before - s.avail_out;
		pos += used;
		if (skip > 0)
			skip -= made;
		else
			done += made;

		if (ret == Z_STREAM_END) {
			if (done == out_len)
				break;
			/* The member ended inside the span: on to the next. */
			if (raw) {
				if ((rc = skip_trailer(&pos, comp_len, err)) != CLIP_OK)
					goto out;
				raw = 0;
				ret = inflateReset2(&s, 15 + 16);
			} else {
				ret = inflateReset(&s);
			}
			if (ret != Z_OK) {
				rc = clip_error_set(err, CLIP_ERR_GZIP, "inflateReset failed");
				goto out;
			}
			if (pos == comp_len) {
				rc = ended_early(err, made_out, skip + out_len - done);
				goto out;
			}
			continue;
		}
		if (ret == Z_MEM_ERROR) {
			rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (ret == Z_BUF_ERROR || (ret == Z_OK && used == 0 && made == 0)) {
			rc = ended_early(err, made_out, skip + out_len - done);
			goto out;
		}
		if (ret != Z_OK) {
			rc = clip_error_set(err, CLIP_ERR_GZIP, "span: %s",
			    s.msg != NULL ? s.msg : "corrupt deflate data");
			goto out;
		}
	}
out:
	if (made_out != NULL)
		*made_out = done;
	inflateEnd(&s);
	if (scratch != out)
		free(scratch);
	return rc;
}

clip_err
clip_inflate_span_at(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len,
    struct clip_error *err)
{
	uint64_t span_out;

	if (cp == NULL || (comp == NULL && comp_len > 0) || (out == NULL && out_len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "inflate span: bad arguments");
	if (cp->out_end < cp->out_offset)
		return clip_error_set(err, CLIP_ERR_INVALID, "checkpoint: span ends before it starts");
	span_out = cp->out_end - cp->out_offset;
	if (skip > span_out || out_len > span_out - skip)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "inflate span: %llu + %zu bytes asked of a %llu byte span",
		    (unsigned long long)skip, out_len, (unsigned long long)span_out);
	if (out_len == 0)
		return CLIP_OK;

	switch (cp->kind) {
	case CLIP_CHECKPOINT_STORED:
		if (comp_len < skip || comp_len - skip < out_len)
			return clip_error_set(err, CLIP_ERR_GZIP,
			    "stored span: %zu bytes, %llu needed", comp_len,
			    (unsigned long long)(skip + out_len));
		memcpy(out, comp + skip, out_len);
		return CLIP_OK;
	case CLIP_CHECKPOINT_DEFLATE:
	case CLIP_CHECKPOINT_MEMBER:
#ifdef HAVE_ISAL
		if (inflater == CLIP_INFLATER_ISAL)
			return inflate_from_isal(cp, window, comp, comp_len, skip, out, out_len,
			    NULL, err);
#endif
		return inflate_from(cp, window, comp, comp_len, skip, out, out_len, NULL, err);
	default:
		return clip_error_set(err, CLIP_ERR_INVALID, "checkpoint: unknown kind %u",
		    cp->kind);
	}
}

clip_err
clip_inflate_span(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len,
    struct clip_error *err)
{
	return clip_inflate_span_at(cp, window, comp, comp_len, 0, out, out_len, err);
}

clip_err
clip_inflate_span_prefix(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len, size_t *made,
    struct clip_error *err)
{
	*made = 0;
	if (cp == NULL || (comp == NULL && comp_len > 0) || (out == NULL && out_len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID, "inflate span: bad arguments");
	if (cp->out_end < cp->out_offset || out_len > cp->out_end - cp->out_offset)
		return clip_error_set(err, CLIP_ERR_INVALID, "inflate span: %zu bytes asked of "
		    "a %llu byte span", out_len, (unsigned long long)(cp->out_end - cp->out_offset));
	if (out_len == 0)
		return CLIP_OK;
	switch (cp->kind) {
	case CLIP_CHECKPOINT_STORED:
		*made = comp_len < out_len ? comp_len : out_len;
		memcpy(out, comp, *made);
		return CLIP_OK;
	case CLIP_CHECKPOINT_DEFLATE:
	case CLIP_CHECKPOINT_MEMBER:
		if (cp->kind == CLIP_CHECKPOINT_DEFLATE && cp->bits != 0 && comp_len == 0)
			return CLIP_OK;
#ifdef HAVE_ISAL
		if (inflater == CLIP_INFLATER_ISAL)
			return inflate_from_isal(cp, window, comp, comp_len, 0, out, out_len, made,
			    err);
#endif
		return inflate_from(cp, window, comp, comp_len, 0, out, out_len, made, err);
	default:
		return clip_error_set(err, CLIP_ERR_INVALID, "checkpoint: unknown kind %u",
		    cp->kind);
	}
}
