/*
 * hex.h - bytes as lowercase hex digits, and hex digits back to bytes.
 *
 * Digests, cache file names and exact byte strings in JSON are all
 * written in lowercase; reading accepts either case, as the formats that
 * carry hex from elsewhere (PAX %XX escapes, JSON \u escapes) do.
 */
#ifndef CLIP_HEX_H
#define CLIP_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes the n bytes at in as 2n lowercase hex digits and a NUL into out
 * (2n + 1 bytes). */
void clip_hex_encode(const void *in, size_t n, char *out);

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int clip_hex_digit(int c);

/* Decodes the 2n hex digits at in into the n bytes at out.  0, or -1 if
 * one of them is not a hex digit (out then holds a partial result). */
int clip_hex_decode(const char *in, size_t n, uint8_t *out);

#endif
