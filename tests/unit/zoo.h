/* zoo.h - the reference index of the unit tests (see zoo.c). */
#ifndef CLIP_TEST_ZOO_H
#define CLIP_TEST_ZOO_H

#include <stdint.h>

#include "common/format/index_write.h"

#define ZOO_BIG_SIZE (5ull << 30)   /* a file over 4 GiB */

/* Chunk hashes (made up) of the two layers: 3000000 and 10240 bytes. */
#define ZOO_CHUNKS0 46
#define ZOO_CHUNKS1 1

extern uint8_t zoo_window[CLIP_WINDOW_SIZE];
extern const uint8_t zoo_xattr_value[5];
extern uint8_t zoo_chunks[(ZOO_CHUNKS0 + ZOO_CHUNKS1) * 32];

/* Adds the zoo tree, its two layers (with chunk hashes) and its image to
 * an empty writer. */
clip_err zoo_build(clip_writer *w, struct clip_error *err);
/* The same, with or without the chunk hashes (an index as written before
 * format 2.2). */
clip_err zoo_build_chunks(clip_writer *w, int with_chunks, struct clip_error *err);

#endif
