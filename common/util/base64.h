/*
 * base64.h - standard base64 (RFC 4648 section 4) decoding.
 *
 * Docker's auth files hold "user:password" in it, and libarchive writes
 * binary xattr values in it without the '=' padding, so padding is
 * optional (at most two '=', as in the encoding).
 */
#ifndef CLIP_BASE64_H
#define CLIP_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes n base64 characters decode to. */
#define CLIP_BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 2)

/* Decodes the n characters at in into out (CLIP_BASE64_DECODED_MAX(n)
 * bytes) and sets *outlen.  false if in is not base64. */
bool clip_base64_decode_into(const char *in, size_t n, uint8_t *out, size_t *outlen);

/* The same into a malloc'ed buffer with a NUL after the bytes; NULL if in
 * is not base64 or memory ran out.  *outlen (if outlen is not NULL) is
 * the length without the NUL. */
char *clip_base64_decode(const char *in, size_t *outlen);

#endif
