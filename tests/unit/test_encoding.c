/* test_encoding.c - hex and base64, against RFC 4648's test vectors. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/base64.h"
#include "common/util/hex.h"
#include "tests/unit/test.h"

/* RFC 4648 section 10, and each without its padding (libarchive's way). */
static const char *const rfc_vectors[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

TEST(test_base64_rfc_vectors)
{
	size_t i, n;
	char *s, unpadded[16];

	for (i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		CHECK((s = clip_base64_decode(rfc_vectors[i][1], &n)) != NULL);
		CHECK(s != NULL && n == strlen(rfc_vectors[i][0]) &&
		    strcmp(s, rfc_vectors[i][0]) == 0);
		free(s);
		snprintf(unpadded, sizeof(unpadded), "%s", rfc_vectors[i][1]);
		unpadded[strcspn(unpadded, "=")] = '\0';
		CHECK((s = clip_base64_decode(unpadded, &n)) != NULL);
		CHECK(s != NULL && strcmp(s, rfc_vectors[i][0]) == 0);
		free(s);
	}
}

TEST(test_base64_binary_and_bad)
{
	uint8_t out[CLIP_BASE64_DECODED_MAX(4)];
	size_t n;

	CHECK(clip_base64_decode_into("AAH/", 4, out, &n) && n == 3 &&
	    memcmp(out, "\0\1\377", 3) == 0);
	CHECK(clip_base64_decode("Y", &n) == NULL);        /* 6 bits: no byte */
	CHECK(clip_base64_decode("Zg===", &n) == NULL);    /* three '=' */
	CHECK(clip_base64_decode("Y*==", &n) == NULL);
	CHECK(clip_base64_decode("Zm9v\n", &n) == NULL);
	CHECK(clip_base64_decode("Zm=v", &n) == NULL);     /* '=' inside */
}

TEST(test_hex)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	uint8_t back[sizeof(bytes)];
	char hex[2 * sizeof(bytes) + 1];

	clip_hex_encode(bytes, sizeof(bytes), hex);
	CHECK(strcmp(hex, "00017f80abff") == 0);
	CHECK(clip_hex_decode(hex, sizeof(bytes), back) == 0 &&
	    memcmp(back, bytes, sizeof(bytes)) == 0);
	CHECK(clip_hex_decode("00017F80ABFF", sizeof(bytes), back) == 0 &&
	    memcmp(back, bytes, sizeof(bytes)) == 0);
	CHECK(clip_hex_decode("0g", 1, back) == -1);
	CHECK(clip_hex_decode(" 1", 1, back) == -1);
	CHECK(clip_hex_digit('f') == 15 && clip_hex_digit('F') == 15 && clip_hex_digit('/') == -1);
	clip_hex_encode(bytes, 0, hex);
	CHECK(hex[0] == '\0');
}

TEST_MAIN(test_base64_rfc_vectors, test_base64_binary_and_bad, test_hex)
