/*
 * blob_source.h - where the reader gets compressed layer bytes from.
 *
 * The reader does not know whether a layer blob sits in a registry or in
 * a local OCI layout: it calls fetch() for exactly the byte range of one
 * span and verifies what comes back itself.  A source must be safe to
 * call from many threads at once.
 */
#ifndef CLIP_BLOB_SOURCE_H
#define CLIP_BLOB_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

/* During a fetch: buf[0, have) hold the bytes received so far.  A retry
 * may start lower again (have goes down) and write those bytes anew. */
typedef void (*clip_fetch_progress_fn)(void *arg, size_t have);

/* After a host has put all the bytes in buf: 1 if they are the right
 * ones, 0 if not (the caller's own check, by its hashes).  After a 0
 * the bytes come again from the start, from another host. */
typedef int (*clip_fetch_verify_fn)(void *arg);

struct clip_blob_source {
	/*
	 * Fills buf with bytes [off, off + len) of the blob named digest
	 * ("sha256:<hex>").  All len bytes or an error: a blob that ends
	 * early is an error (CLIP_ERR_IO for a local file).  buf's contents
	 * are unspecified after an error.
	 */
	clip_err (*fetch)(void *ctx, const char *digest, uint64_t off, size_t len,
	    void *buf, struct clip_error *err);
	void *ctx;
	/*
	 * Optional (NULL: not offered): fetch, calling progress(arg, have)
	 * from the fetching thread as the bytes land in buf, in order, so
	 * that the caller can use them before the last ones arrive.
	 */
	clip_err (*fetch_progress)(void *ctx, const char *digest, uint64_t off, size_t len,
	    void *buf, clip_fetch_progress_fn progress, void *arg, struct clip_error *err);
	/*
	 * Optional (NULL: not offered), for a source of several hosts
	 * (mirrors.h): fetch_progress (progress may be NULL) that asks
	 * verify(arg) (may be NULL) about each host's bytes and, when they
	 * are wrong, skips that host and fetches them again from the next.
	 * CLIP_ERR_CHECKSUM when the last host's bytes are wrong too.
	 */
	clip_err (*fetch_verified)(void *ctx, const char *digest, uint64_t off, size_t len,
	    void *buf, clip_fetch_progress_fn progress, clip_fetch_verify_fn verify, void *arg,
	    struct clip_error *err);
};

typedef struct clip_layout_source clip_layout_source;

/*
 * A source over a local OCI image layout: the blob "sha256:<hex>" is the
 * file DIR/blobs/sha256/<hex>, read with pread().  Opened files are kept
 * open (one per digest, up to a bound) until clip_layout_source_free().
 * Only "sha256:" followed by 64 lowercase hex digits is accepted as a
 * digest (CLIP_ERR_INVALID otherwise), so a digest can never name a path
 * outside the layout.  A missing blob is CLIP_ERR_NOTFOUND.
 *
 * *out is NULL on failure.  dir is copied.  src is filled in with
 * fetch/ctx that stay valid until clip_layout_source_free().
 */
clip_err clip_layout_source_new(const char *dir, clip_layout_source **out,
    struct clip_blob_source *src, struct clip_error *err);

/* Closes the files.  No fetch may be running.  Accepts NULL. */
void clip_layout_source_free(clip_layout_source *ls);

#endif
