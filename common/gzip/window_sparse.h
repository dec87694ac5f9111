/*
 * window_sparse.h - keep only the window bytes a checkpoint really uses.
 *
 * A deflate distance reaches at most 32 KiB back, so only the first
 * 32 KiB of output after a checkpoint can refer to its window, and such
 * output usually refers to a small part of it.  The rest can be zeroed:
 * the index stores windows zlib-compressed, and zeros cost next to
 * nothing there, so the same index budget pays for more checkpoints.
 * The reader is unchanged: it presets the window as before and never
 * looks at the zeroed bytes.
 */
#ifndef CLIP_WINDOW_SPARSE_H
#define CLIP_WINDOW_SPARSE_H

#include <stddef.h>
#include <stdint.h>

struct clip_checkpoint;

/*
 * cp: a DEFLATE checkpoint (its kind, bits and window_len are used);
 * window: its window_len bytes; comp: the compressed bytes from
 * cp->in_offset - (bits ? 1 : 0) on, comp_len of them; expect: the
 * output that follows the checkpoint, expect_len bytes, which must be
 * all of it up to CLIP_WINDOW_SIZE (less only where the blob ends).
 *
 * Finds which window bytes that output copies, zeroes the others, drops
 * the zeros in front (*new_len: the window's new length, its tail kept)
 * and checks that the result inflates to expect.  Returns 1 when the
 * window was changed; 0 when it was left exactly as it was (comp too
 * short to make expect, out of memory, or anything unexpected).
 */
int clip_window_sparsify(const struct clip_checkpoint *cp, uint8_t *window,
    const uint8_t *comp, size_t comp_len, const uint8_t *expect, size_t expect_len,
    uint32_t *new_len);

#endif
