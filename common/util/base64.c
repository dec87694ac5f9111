/* base64.c - standard base64 decoding (see base64.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/base64.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool
clip_base64_decode_into(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
	size_t i, o = 0, unpadded = n;
	uint32_t acc = 0;
	int bits = 0;

	while (unpadded > 0 && in[unpadded - 1] == '=')
		unpadded--;
	/* One character alone carries less than a byte: not base64. */
	if (n - unpadded > 2 || unpadded % 4 == 1)
		return false;
	for (i = 0; i < unpadded; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return true;
}

char *
clip_base64_decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), len;
	char *out = malloc(CLIP_BASE64_DECODED_MAX(n) + 1);

	if (out == NULL)
		return NULL;
	if (!clip_base64_decode_into(in, n, (uint8_t *)out, &len)) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	if (outlen != NULL)
		*outlen = len;
	return out;
}
