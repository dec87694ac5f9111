/* testutil.c - helpers the C tests and fuzz targets share (testutil.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "common/format/format.h"
#include "tests/unit/testutil.h"

uint64_t
test_rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

uint64_t
test_rnd_seed(uint64_t seed)
{
	return seed * 0x9E3779B97F4A7C15ULL + 1;
}

/* n bytes of words from the list, separated by spaces, at d. */
static void
put_words(uint8_t *d, size_t n, uint64_t *st)
{
	static const char *words[] = { "the", "quick", "brown", "fox", "jumps", "over",
	    "lazy", "dog", "usr/lib/x86_64-linux-gnu", "libc.so.6", "etc", "passwd",
	    "container", "layer", "checkpoint", "{\"key\": 42}", "\n", "\t", "clipfs" };
	size_t i = 0, w;

	while (i < n) {
		const char *s = words[test_rnd(st) % (sizeof(words) / sizeof(words[0]))];
		for (w = 0; s[w] != '\0' && i < n; w++)
			d[i++] = (uint8_t)s[w];
		if (i < n)
			d[i++] = ' ';
	}
}

uint8_t *
test_gen_data(size_t len, uint64_t *st, size_t max_seg, int words_only)
{
	uint8_t *d = malloc(len ? len : 1);
	size_t pos = 0, seg, i;
	uint64_t r;

	if (d == NULL)
		return NULL;
	while (pos < len) {
		seg = 1 + (size_t)(test_rnd(st) % max_seg);
		if (seg > len - pos)
			seg = len - pos;
		r = words_only ? 0 : test_rnd(st) % 10;
		if (r < 6) {
			put_words(d + pos, seg, st);
		} else if (r < 9) {
			for (i = 0; i < seg; i++)
				d[pos + i] = (uint8_t)(test_rnd(st) >> 56);
		} else {
			memset(d + pos, 0, seg);
		}
		pos += seg;
	}
	return d;
}

int
test_put(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	fputs(data, f);
	return fclose(f);
}

int
test_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

void
test_reseal(uint8_t *buf, size_t len)
{
	struct clip_disk_header *h = (void *)buf;
	unsigned int mdlen;

	memset(h->sha256, 0, sizeof(h->sha256));
	EVP_Digest(buf, len, h->sha256, &mdlen, EVP_sha256(), NULL);
}

void
test_reader_checkpoint(const clip_gzindex *gz, size_t i, size_t blob_len,
    struct clip_checkpoint *cp)
{
	const struct clip_checkpoint_info *ci = clip_gzindex_checkpoint(gz, i);
	const struct clip_checkpoint_info *next = clip_gzindex_checkpoint(gz, i + 1);

	memset(cp, 0, sizeof(*cp));
	cp->in_offset = ci->in_offset;
	cp->out_offset = ci->out_offset;
	cp->bits = ci->bits;
	cp->kind = ci->kind;
	cp->window_len = ci->window_len;
	cp->span_sha256 = ci->span_sha256;
	cp->span_start = ci->in_offset - (ci->bits ? 1 : 0);
	cp->span_end = next ? next->in_offset : blob_len;
	cp->out_end = next ? next->out_offset : clip_gzindex_uncompressed_size(gz);
}
