/* zoo.h - the reference index of the unit tests (see zoo.c). */
#ifndef CLIP_TEST_ZOO_H
#define CLIP_TEST_ZOO_H

#include <stdint.h>

#include "common/index_write.h"

#define ZOO_BIG_SIZE (5ull << 30)   /* a file over 4 GiB */

extern uint8_t zoo_window[CLIP_WINDOW_SIZE];
extern const uint8_t zoo_xattr_value[5];

/* Adds the zoo tree, its two layers and its image to an empty writer. */
clip_err zoo_build(clip_writer *w, struct clip_error *err);

#endif
