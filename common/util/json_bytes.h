/*
 * json_bytes.h - byte strings (paths, image references) in JSON output,
 * without loss.
 *
 * A JSON string is Unicode text; a path is any bytes but NUL, and a string
 * read from an index may be anything.  clip_json_set_bytes stores bytes
 * under a key as a string: the bytes themselves when they are valid UTF-8
 * holding no NUL, else a readable copy in which each byte that is not part
 * of a valid UTF-8 sequence, and each NUL, is U+FFFD, and beside it the
 * member KEY_hex: every byte in lowercase hex.  A reader that needs the
 * exact bytes takes KEY_hex when it is there (clip_json_get_bytes does).
 * clipfs(1), JSON OUTPUT, documents this for scripts.
 */
#ifndef CLIP_JSON_BYTES_H
#define CLIP_JSON_BYTES_H

#include <stddef.h>

#include <jansson.h>

/* The longest key clip_json_set_bytes takes (KEY_hex must fit 64 bytes). */
#define CLIP_JSON_KEY_MAX 59

/* Sets obj[key] (and obj[key_hex] where needed) from the n bytes at p
 * (NULL only with n 0).  Returns 0, or -1 when out of memory or key is
 * longer than CLIP_JSON_KEY_MAX (obj then holds neither member). */
int clip_json_set_bytes(json_t *obj, const char *key, const void *p, size_t n);

/* The bytes clip_json_set_bytes stored under key: from key_hex when it is
 * there, else the string itself.  A malloc'ed copy with a NUL after the
 * *len bytes, which the caller frees; NULL when obj has no such string,
 * key_hex is not even-length lowercase hex, or memory runs out. */
char *clip_json_get_bytes(const json_t *obj, const char *key, size_t *len);

#endif
