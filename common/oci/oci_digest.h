/*
 * oci_digest.h - "sha256:<64 hex>" content digests.
 *
 * Only sha256 is supported: it is what every registry and OCI layout
 * uses.  A digest that passes clip_digest_valid() is safe to put into a
 * URL path or a file name (blobs/sha256/<hex>): it has no '/', '.' or
 * anything else that could escape.
 */
#ifndef CLIP_OCI_DIGEST_H
#define CLIP_OCI_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

/* "sha256:" + 64 hex + NUL */
#define CLIP_DIGEST_LEN 71
#define CLIP_DIGEST_BUFSZ 72

/* 1 if s is "sha256:" followed by exactly 64 lowercase hex digits. */
int clip_digest_valid(const char *s);

/*
 * Checks s like clip_digest_valid() and explains what is wrong:
 * CLIP_ERR_INVALID for a malformed digest, CLIP_ERR_UNSUPPORTED for a
 * well-formed digest of another algorithm (sha512:...).  what names the
 * digest in the message ("layer digest").
 */
clip_err clip_digest_check(const char *s, const char *what, struct clip_error *err);

/* Writes "sha256:<hex of data>" into out. */
void clip_digest_of(const void *data, size_t len, char out[CLIP_DIGEST_BUFSZ]);

/* Formats a raw 32-byte SHA-256 as "sha256:<hex>". */
void clip_digest_format(const uint8_t sha[32], char out[CLIP_DIGEST_BUFSZ]);

/* Incremental SHA-256 for streamed blobs (EVP underneath). */
typedef struct clip_sha256 clip_sha256;

/* Returns NULL when out of memory. */
clip_sha256 *clip_sha256_new(void);
void clip_sha256_update(clip_sha256 *h, const void *data, size_t len);
/* Writes the digest string; h can be fed again only after _reset. */
void clip_sha256_final(clip_sha256 *h, char out[CLIP_DIGEST_BUFSZ]);
void clip_sha256_reset(clip_sha256 *h);
void clip_sha256_free(clip_sha256 *h);

#endif
