/*
 * atomic_file.h - write a whole file so that readers see the old one or
 * the new one, never a part: a temporary file in the same directory,
 * fsync'ed, then renamed over the target.  On failure nothing is left.
 */
#ifndef CLIP_ATOMIC_FILE_H
#define CLIP_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/util/error.h"

clip_err clip_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    struct clip_error *err);

/* Reads a whole regular file of at most max bytes into a malloc'ed,
 * 8-byte aligned buffer.  CLIP_ERR_IO, CLIP_ERR_TOOBIG, CLIP_ERR_NOMEM. */
clip_err clip_read_file(const char *path, size_t max, void **buf, size_t *len,
    struct clip_error *err);

#endif
