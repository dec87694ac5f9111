/*
 * layer_file.h - a layer's whole uncompressed tar stream as one local
 * file, so that the EROFS mode can give it to the kernel as a device and
 * its reads never reach the daemon.
 *
 * The file lives in the disk cache's "layers" directory, named by the
 * layer digest ("sha256-<hex>"), and holds the stream, zeros up to a
 * whole 512-byte block (as the layer files the daemon serves are), then
 * a 512-byte seal: magic and version, the layer digest, the stream's
 * size, a hash of how the index describes the layer (its checkpoints and
 * span hashes, so a seal made under another index does not match) and
 * the SHA-256 of the stream; the seal's own hash closes it.
 *
 * There is no fs-verity here, so trust rests on how the file is made:
 * its bytes come only from the verified reader, it is written under a
 * temporary name, fsync'ed and renamed into place, and a file whose seal
 * is missing or does not match is never used.  A seal is checked on
 * every open (cheap: 512 bytes); the stream is re-hashed against it only
 * when asked (check), which costs a read of the whole file.
 *
 * Nothing here prints; all functions are thread-safe.
 */
#ifndef CLIP_LAYER_FILE_H
#define CLIP_LAYER_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/format/index.h"
#include "common/util/error.h"

#define CLIP_LAYER_FILE_BLOCK 512u
#define CLIP_LAYER_SEAL_SIZE 512u
/* The directory inside the disk cache. */
#define CLIP_LAYER_FILES_DIR "layers"
/* Longest file name clip_layer_file_name makes, with its NUL. */
#define CLIP_LAYER_FILE_NAME_MAX 160

/* What a seal binds. */
struct clip_layer_file_id {
	const char *digest;          /* "sha256:<hex>": the index's, not copied */
	uint64_t stream_size;        /* uncompressed bytes */
	uint8_t index_sha256[32];    /* how the index describes the layer */
};

/* The id of layer in idx.  CLIP_ERR_INVALID for no such layer. */
clip_err clip_layer_file_id_of(const clip_index *idx, uint32_t layer,
    struct clip_layer_file_id *out, struct clip_error *err);

/* The file name for digest ("sha256:ab.." -> "sha256-ab.."); -1 if the
 * digest cannot safely be a file name. */
int clip_layer_file_name(const char *digest, char *out, size_t len);

/* The stream padded to whole blocks: where the seal starts. */
uint64_t clip_layer_file_padded(uint64_t stream_size);

/* Fills buf with stream bytes [off, off + len); len is never 0. */
typedef clip_err (*clip_layer_fill_fn)(void *ctx, uint64_t off, uint8_t *buf, size_t len,
    struct clip_error *err);

/*
 * Writes id's file in dirfd (0600): the stream from fill, in pieces of at
 * most 1 MiB (the only memory used), then the seal; fsync, rename over
 * any older file, fsync of the directory.  On any error nothing is left
 * but what was there before; the error is fill's, or CLIP_ERR_IO.
 */
clip_err clip_layer_file_write(int dirfd, const struct clip_layer_file_id *id,
    clip_layer_fill_fn fill, void *ctx, struct clip_error *err);

/* Removes the temporaries in dirfd that a write interrupted by a crash
 * left, those not modified for max_age seconds (a younger one may be
 * another process's write under way).  Returns how many. */
unsigned clip_layer_files_sweep(int dirfd, long max_age);

/*
 * Opens id's file in dirfd read-only and checks its seal; with check, it
 * also re-hashes the stream (and its padding) against the seal.  CLIP_OK:
 * *fd is the open file (O_CLOEXEC), the caller's to close.  Otherwise *fd
 * is -1 and: CLIP_ERR_NOTFOUND (no file), CLIP_ERR_FORMAT (no valid seal
 * for id: unsealed, truncated, another index's, a damaged seal; the file
 * is left for the next write to replace), CLIP_ERR_CHECKSUM (check: the
 * stream does not match its seal; the file has been removed, if the name
 * still pointed at it), CLIP_ERR_IO, CLIP_ERR_NOMEM.
 */
clip_err clip_layer_file_open(int dirfd, const struct clip_layer_file_id *id, int check,
    int *fd, struct clip_error *err);

#endif
