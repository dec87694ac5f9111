/*
 * strtab.h - the STRINGS section under construction: interned,
 * deduplicated byte strings, each followed by a NUL (see clip(5)).
 */
#ifndef CLIP_STRTAB_H
#define CLIP_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

struct clip_strtab;

clip_err clip_strtab_new(struct clip_strtab **out, struct clip_error *err);
void clip_strtab_free(struct clip_strtab *st);   /* accepts NULL */

/* Stores len bytes (binary-safe) once; *off is where they start.  The
 * empty string is always at offset 0.  CLIP_ERR_TOOBIG past 4 GiB. */
clip_err clip_strtab_add(struct clip_strtab *st, const char *s, size_t len,
    uint32_t *off, struct clip_error *err);

/* Hands over the bytes (caller frees *buf); the table is then empty. */
clip_err clip_strtab_take(struct clip_strtab *st, uint8_t **buf, size_t *len,
    struct clip_error *err);

#endif
