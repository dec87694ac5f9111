/*
 * fuzz_tar.c - libFuzzer target for the push tar parser.
 *
 * Input: 4 control bytes, then the tar stream.  The control bytes give
 * the sizes of the chunks the stream is fed in (cycled), so the fuzzer
 * explores headers, PAX records and long names split across feeds; the
 * top bit of the first one makes the entry callback fail after a few
 * entries, to exercise the error path.  The callback reads every byte of
 * what it is handed, so an entry pointing outside its buffers shows up
 * under ASan, and checks the promises of tar.h (normalised paths, data
 * offsets inside the stream).
 */
#include "config.h"

#include <string.h>

#include "common/tar/tar.h"
#include "tests/fuzz/fuzz.h"

#define CONTROL 4

struct ctx {
	unsigned entries;
	unsigned fail_after;    /* 0: never */
	uint64_t stream_len;
	volatile unsigned sum;
};

/* 0: the rest at once; 1..127: that many bytes; else multiples of 509
 * (odd, so block boundaries move around). */
static size_t
chunk_size(uint8_t v)
{
	if (v == 0)
		return SIZE_MAX;
	if (v < 0x80)
		return v;
	return (size_t)(v - 0x7f) * 509;
}

static clip_err
on_entry(void *arg, const struct clip_tar_entry *e, struct clip_error *err)
{
	struct ctx *c = arg;
	size_t i;

	FUZZ_ASSERT(e->path != NULL && e->path[e->path_len] == '\0');
	FUZZ_ASSERT(strlen(e->path) == e->path_len);
	/* Normalised: no leading or trailing '/', no empty, "." or ".." parts. */
	if (e->path_len > 0) {
		FUZZ_ASSERT(e->path[0] != '/' && e->path[e->path_len - 1] != '/');
		FUZZ_ASSERT(strstr(e->path, "//") == NULL);
		FUZZ_ASSERT(strcmp(e->path, ".") != 0 && strncmp(e->path, "./", 2) != 0);
		FUZZ_ASSERT(strstr(e->path, "/./") == NULL);
		FUZZ_ASSERT(strcmp(e->path, "..") != 0 && strncmp(e->path, "../", 3) != 0);
		FUZZ_ASSERT(strstr(e->path, "/../") == NULL);
		FUZZ_ASSERT(e->path_len < 3 || strcmp(e->path + e->path_len - 3, "/..") != 0);
		FUZZ_ASSERT(e->path_len < 2 || strcmp(e->path + e->path_len - 2, "/.") != 0);
	}
	if (e->linkpath != NULL)
		for (i = 0; i <= e->linkpath_len; i++)
			c->sum += (uint8_t)e->linkpath[i];
	FUZZ_ASSERT((e->linkpath != NULL) ==
	    (e->type == CLIP_TAR_SYMLINK || e->type == CLIP_TAR_HARDLINK));
	FUZZ_ASSERT(e->mode <= 07777);
	FUZZ_ASSERT(e->type == CLIP_TAR_REG || e->size == 0);
	FUZZ_ASSERT(e->mtime_nsec < 1000000000u);
	/* The data lies in what has been fed (or is about to be). */
	FUZZ_ASSERT(e->data_offset <= c->stream_len + 512);
	for (i = 0; i < e->nxattrs; i++) {
		size_t k;
		FUZZ_ASSERT(e->xattrs[i].name != NULL);
		c->sum += (uint8_t)e->xattrs[i].name[strlen(e->xattrs[i].name)];
		for (k = 0; k < e->xattrs[i].len; k++)
			c->sum += e->xattrs[i].value[k];
	}
	if (c->fail_after != 0 && ++c->entries >= c->fail_after)
		return clip_error_set(err, CLIP_ERR_CANCELLED, "stop");
	return CLIP_OK;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c;
	struct clip_error err;
	clip_tar *t = NULL;
	const uint8_t *ctl = data;
	size_t pos = 0, n, len, k = 0;
	uint8_t *chunk;
	clip_err rc = CLIP_OK;

	if (size < CONTROL)
		return 0;
	memset(&c, 0, sizeof(c));
	c.fail_after = ctl[0] & 0x80 ? 1 + (ctl[1] & 7) : 0;
	data += CONTROL;
	len = size - CONTROL;
	c.stream_len = len;
	if (clip_tar_new(on_entry, &c, &t, &err) != CLIP_OK)
		return 0;
	while (pos < len && rc == CLIP_OK) {
		n = chunk_size(k == 0 ? (uint8_t)(ctl[0] & 0x7f) : ctl[k % CONTROL]);
		k++;
		if (n > len - pos)
			n = len - pos;
		/* Each chunk in its own exact-size buffer: a read past it is caught. */
		chunk = malloc(n);
		if (chunk == NULL)
			break;
		memcpy(chunk, data + pos, n);
		rc = clip_tar_feed(t, chunk, n, &err);
		free(chunk);
		pos += n;
		if (rc == CLIP_OK)
			FUZZ_ASSERT(clip_tar_offset(t) == pos);
	}
	if (rc == CLIP_OK)
		(void)clip_tar_finish(t, &err);
	clip_tar_free(t);
	return 0;
}
