/* oci_digest.c - sha256 digest strings and hashing (OpenSSL EVP). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/oci/oci_digest.h"
#include "common/util/hex.h"

struct clip_sha256 {
	EVP_MD_CTX *ctx;
};

int
clip_digest_valid(const char *s)
{
	size_t i;

	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return 0;
	s += 7;
	for (i = 0; i < 64; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[64] == '\0';
}

clip_err
clip_digest_check(const char *s, const char *what, struct clip_error *err)
{
	const char *colon;
	size_t i;

	if (s == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "%s: missing", what);
	if (clip_digest_valid(s))
		return CLIP_OK;
	colon = strchr(s, ':');
	if (colon == NULL || colon == s)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "%s: not of the form ALGORITHM:HEX", what);
	for (i = 0; s + i < colon; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '.' || c == '_' || c == '-'))
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "%s: bad algorithm name", what);
	}
	if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6) != 0)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "%s: only sha256 digests are supported", what);
	return clip_error_set(err, CLIP_ERR_INVALID,
	    "%s: sha256 digest needs exactly 64 lowercase hex digits", what);
}

void
clip_digest_format(const uint8_t sha[32], char out[CLIP_DIGEST_BUFSZ])
{
	memcpy(out, "sha256:", 7);
	clip_hex_encode(sha, 32, out + 7);
}

void
clip_digest_of(const void *data, size_t len, char out[CLIP_DIGEST_BUFSZ])
{
	uint8_t sha[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	/* EVP_Digest only fails on allocation failure; an empty string then
	 * never matches a valid digest, so callers fail closed. */
	if (EVP_Digest(data, len, sha, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		out[0] = '\0';
		return;
	}
	clip_digest_format(sha, out);
}

clip_sha256 *
clip_sha256_new(void)
{
	clip_sha256 *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		clip_sha256_free(h);
		return NULL;
	}
	return h;
}

void
clip_sha256_update(clip_sha256 *h, const void *data, size_t len)
{
	if (len > 0)
		EVP_DigestUpdate(h->ctx, data, len);
}

void
clip_sha256_final(clip_sha256 *h, char out[CLIP_DIGEST_BUFSZ])
{
	uint8_t sha[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, sha, &n) != 1 || n != 32) {
		out[0] = '\0';
		return;
	}
	clip_digest_format(sha, out);
}

void
clip_sha256_reset(clip_sha256 *h)
{
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void
clip_sha256_free(clip_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}
