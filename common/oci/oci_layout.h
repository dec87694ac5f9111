/*
 * oci_layout.h - read an OCI image layout directory
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
 * DIR/oci-layout, DIR/index.json, DIR/blobs/sha256/HEX.
 *
 * A handle is immutable after open and may be shared between threads.
 */
#ifndef CLIP_OCI_LAYOUT_H
#define CLIP_OCI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/oci/manifest.h"

typedef struct clip_oci_layout clip_oci_layout;

/*
 * Checks DIR/oci-layout (imageLayoutVersion 1.x) and parses
 * DIR/index.json.  CLIP_ERR_NOTFOUND if DIR is not a layout, CLIP_ERR_IO,
 * CLIP_ERR_PROTOCOL / CLIP_ERR_UNSUPPORTED for a bad index, NOMEM.
 */
clip_err clip_oci_layout_open(const char *dir, clip_oci_layout **out,
    struct clip_error *err);

/* NULL is fine. */
void clip_oci_layout_close(clip_oci_layout *l);

/* The parsed index.json (kind CLIP_MANIFEST_INDEX); owned by l. */
const struct clip_manifest *clip_oci_layout_index(const clip_oci_layout *l);

/*
 * The index.json entry whose org.opencontainers.image.ref.name is tag.
 * With tag NULL, the only entry (CLIP_ERR_INVALID, listing the tags, if
 * there are several).  CLIP_ERR_NOTFOUND lists the tags that exist.
 * *out points into l.
 */
clip_err clip_oci_layout_find(const clip_oci_layout *l, const char *tag,
    const struct clip_descriptor **out, struct clip_error *err);

/* "DIR/blobs/sha256/HEX", malloc'ed.  CLIP_ERR_INVALID for a bad digest. */
clip_err clip_oci_layout_blob_path(const clip_oci_layout *l, const char *digest,
    char **path, struct clip_error *err);

/*
 * Opens a blob read-only (O_CLOEXEC); *fd is the caller's, *size its
 * length.  No digest check (blobs can be large; hash while reading).
 */
clip_err clip_oci_layout_open_blob(const clip_oci_layout *l, const char *digest,
    int *fd, uint64_t *size, struct clip_error *err);

/*
 * Reads a whole blob of at most max bytes (CLIP_ERR_TOOBIG) and checks
 * its digest (CLIP_ERR_CHECKSUM).  *data is malloc'ed and NUL-terminated
 * (the NUL not counted in *len).
 */
clip_err clip_oci_layout_read_blob(const clip_oci_layout *l, const char *digest,
    size_t max, uint8_t **data, size_t *len, struct clip_error *err);

#endif
