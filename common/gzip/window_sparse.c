/*
 * window_sparse.c - find the window bytes a checkpoint's output copies.
 *
 * No deflate decoder of our own: the output after the checkpoint is
 * inflated three more times, each with a made-up window.  Deflate's
 * symbols do not depend on what the window holds, so every run makes the
 * same number of bytes, and a byte differs between runs only if it was
 * copied (directly, or through earlier copies) from the window:
 *
 *   - window ^ 0xff: the bytes that differ from the real output are
 *     exactly those that come from the window;
 *   - window[i] = i & 0xff, then i >> 8: for those bytes, the output
 *     spells the window position they come from.
 *
 * The sparse window is then inflated once more and must give the real
 * output, byte for byte, or the window is left alone.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/gzip/inflate.h"
#include "common/format/index.h"
#include "common/gzip/window_sparse.h"

/* Inflates exactly n bytes after c with window w into out. */
static int
inflate_n(const struct clip_checkpoint *c, const uint8_t *w, const uint8_t *comp,
    size_t comp_len, uint8_t *out, size_t n)
{
	struct clip_error err;
	size_t made = 0;

	clip_error_clear(&err);
	return clip_inflate_span_prefix(c, w, comp, comp_len, out, n, &made, &err) == CLIP_OK &&
	    made == n;
}

int
clip_window_sparsify(const struct clip_checkpoint *cp, uint8_t *window,
    const uint8_t *comp, size_t comp_len, const uint8_t *expect, size_t expect_len,
    uint32_t *new_len)
{
	struct clip_checkpoint c;
	uint32_t wlen, i, first;
	uint8_t *probe = NULL, *used = NULL, *from = NULL, *hi = NULL, *out = NULL;
	size_t j, pos;
	int ok = 0;

	if (cp == NULL || cp->kind != CLIP_CHECKPOINT_DEFLATE || window == NULL ||
	    cp->window_len == 0 || cp->window_len > CLIP_WINDOW_SIZE || expect_len == 0 ||
	    expect_len > CLIP_WINDOW_SIZE)
		return 0;
	wlen = cp->window_len;
	c = *cp;
	c.out_end = c.out_offset + expect_len;
	probe = malloc(wlen);
	used = calloc(wlen, 1);
	from = malloc(expect_len);
	hi = malloc(expect_len);
	out = malloc(expect_len);
	if (probe == NULL || used == NULL || from == NULL || hi == NULL || out == NULL)
		goto done;

	/* Which output bytes come from the window: they change with it. */
	for (i = 0; i < wlen; i++)
		probe[i] = window[i] ^ 0xff;
	if (!inflate_n(&c, probe, comp, comp_len, out, expect_len))
		goto done;
	for (j = 0; j < expect_len; j++)
		from[j] = out[j] != expect[j];
	/* Where in the window each one comes from: high byte, then low. */
	for (i = 0; i < wlen; i++)
		probe[i] = (uint8_t)(i >> 8);
	if (!inflate_n(&c, probe, comp, comp_len, hi, expect_len))
		goto done;
	for (i = 0; i < wlen; i++)
		probe[i] = (uint8_t)i;
	if (!inflate_n(&c, probe, comp, comp_len, out, expect_len))
		goto done;
	for (j = 0; j < expect_len; j++) {
		if (!from[j])
			continue;
		pos = (size_t)hi[j] << 8 | out[j];
		if (pos >= wlen)
			goto done;
		used[pos] = 1;
	}

	/* The sparse window, without its leading zeros, must give expect. */
	for (first = 0; first < wlen && !used[first]; first++)
		;
	for (i = first; i < wlen; i++)
		probe[i] = used[i] ? window[i] : 0;
	c.window_len = wlen - first;
	if (!inflate_n(&c, c.window_len ? probe + first : NULL, comp, comp_len, out, expect_len) ||
	    memcmp(out, expect, expect_len) != 0)
		goto done;
	memcpy(window, probe + first, c.window_len);
	*new_len = c.window_len;
	ok = 1;
done:
	free(probe);
	free(used);
	free(from);
	free(hi);
	free(out);
	return ok;
}
