/*
 * testutil.h - helpers the C unit tests and the fuzz targets share.
 * Deterministic data, small file and string helpers, and index surgery.
 */
#ifndef CLIP_TESTUTIL_H
#define CLIP_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/format/index.h"
#include "common/gzip/gzindex.h"

/* xorshift64*: deterministic across runs and platforms, one state per
 * caller (or thread).  test_rnd_seed makes a state from a small seed. */
uint64_t test_rnd(uint64_t *state);
uint64_t test_rnd_seed(uint64_t seed);

/* len bytes of segments (1 to max_seg bytes each) of text-like words,
 * random bytes and zeros, as *state gives them; words_only: text only,
 * very compressible.  malloc'ed; NULL on ENOMEM. */
uint8_t *test_gen_data(size_t len, uint64_t *state, size_t max_seg, int words_only);

/* Writes data to path; 0 or -1. */
int test_put(const char *path, const char *data);

/* Both NULL, or equal strings. */
int test_same(const char *a, const char *b);

/* Recomputes the SHA-256 in an index's header after the test changed
 * its bytes, so that the checks behind it are the ones that run. */
void test_reseal(uint8_t *buf, size_t len);

/* Checkpoint i of a finished clip_gzindex, as the reader sees it in an
 * index (blob_len: the blob's size). */
void test_reader_checkpoint(const clip_gzindex *gz, size_t i, size_t blob_len,
    struct clip_checkpoint *cp);

#endif
