/*
 * inflate.h - the read side of gzip: inflating a span of a layer from its
 * checkpoint, whole, from an offset, or while its bytes arrive.  Needs
 * the index's checkpoint record only, not the index writer.
 */
#ifndef CLIP_INFLATE_H
#define CLIP_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

/*
 * The inflate code the read side uses: ISA-L's igzip where clipfs was
 * built with it (about four times zlib's speed), else zlib.  Both give the
 * same bytes.  clip_inflate_use() switches for the whole process (tests
 * run both; any other value only asks) and returns the one in use, which
 * stays zlib in a build without ISA-L.  The indexer always uses zlib: it needs to stop at each
 * deflate block boundary.
 */
enum clip_inflater { CLIP_INFLATER_ZLIB, CLIP_INFLATER_ISAL };
enum clip_inflater clip_inflate_use(enum clip_inflater want);
const char *clip_inflater_name(enum clip_inflater which);

/*
 * The read side: inflates one span.  comp holds the span's compressed
 * bytes [cp->span_start, cp->span_end) (already verified by the caller;
 * only comp[0 .. comp_len) is ever read), window the checkpoint's window
 * (cp->window_len bytes, may be NULL if 0).  Writes the first out_len
 * bytes of the span's output to out; out_len <= cp->out_end -
 * cp->out_offset (CLIP_ERR_INVALID otherwise).  A gzip member that ends
 * inside the span is followed into the next one.  CLIP_ERR_GZIP if the
 * bytes do not inflate to that much; CLIP_ERR_NOMEM.
 */
struct clip_checkpoint;
clip_err clip_inflate_span(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len,
    struct clip_error *err);

/*
 * The same, but the first skip bytes of the span's output are inflated and
 * thrown away, then the next out_len bytes are written to out: for a read
 * that starts inside the span.  skip + out_len <= cp->out_end -
 * cp->out_offset.  clip_inflate_span() is this with skip 0.
 */
clip_err clip_inflate_span_at(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len,
    struct clip_error *err);

/*
 * For a partial load, which fetched only the start of a span: inflates as
 * much of the span's output as comp (its first comp_len compressed bytes,
 * verified) allows, up to out_len bytes; *made says how many.  Running out
 * of input is not an error here; corrupt data still is.
 */
clip_err clip_inflate_span_prefix(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len, size_t *made,
    struct clip_error *err);

/*
 * Streaming: inflates span cp while its compressed bytes arrive, into out
 * (out_len bytes, at most the span's output).  first_byte: comp[0], the
 * byte before in_offset, needed when cp->bits != 0 (the stream is told it
 * again with the first feed).  Only DEFLATE and MEMBER checkpoints.
 */
struct clip_inflate_stream;
clip_err clip_inflate_stream_new(const struct clip_checkpoint *cp, const uint8_t *window,
    const uint8_t *first_byte, uint8_t *out, size_t out_len, struct clip_inflate_stream **s,
    struct clip_error *err);
/*
 * comp: the span's first comp_len compressed bytes (from span_start, as
 * for clip_inflate_span), the same buffer each time with comp_len
 * growing.  Inflates what the new bytes allow; *made: output bytes made
 * so far, out[0, *made) final.  *stopped: the member ended before out_len
 * (a multi-member blob): nothing more will come from this stream, and
 * the caller inflates the span whole instead.  CLIP_ERR_GZIP on corrupt
 * data (the stream is then of no further use).
 */
clip_err clip_inflate_stream_feed(struct clip_inflate_stream *s, const uint8_t *comp,
    size_t comp_len, size_t *made, int *stopped, struct clip_error *err);
void clip_inflate_stream_free(struct clip_inflate_stream *s);   /* accepts NULL */

#endif
