/*
 * image.h - from a reference and a platform to an image manifest and its
 * config, from a registry or a local OCI layout.
 *
 * When the reference names an index (manifest list), the entry for the
 * platform is chosen (clip_index_select) and fetched by digest.  Every
 * document is verified against the digest it was asked for; the config
 * blob must be an OCI or Docker image config whose rootfs.diff_ids has
 * one entry per layer.
 */
#ifndef CLIP_IMAGE_H
#define CLIP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util/error.h"
#include "common/oci/manifest.h"
#include "common/oci/oci_layout.h"
#include "common/registry/registry.h"

/* All owned by the struct; free with clip_image_free(). */
struct clip_image {
	uint8_t *manifest_data;          /* the image manifest's bytes */
	size_t manifest_len;
	char manifest_digest[CLIP_DIGEST_BUFSZ];
	char *manifest_media_type;
	char index_digest[CLIP_DIGEST_BUFSZ]; /* "" unless reached via an index */
	struct clip_manifest *manifest;  /* kind CLIP_MANIFEST_IMAGE */
	uint8_t *config_data;            /* the config blob's bytes */
	size_t config_len;
	json_t *config;                  /* parsed config (one reference) */
};

/*
 * tag_or_digest as for clip_registry_get_manifest().  platform NULL means
 * this machine (clip_platform_host).  Errors of the fetches, plus
 * CLIP_ERR_NOTFOUND (no such platform), CLIP_ERR_UNSUPPORTED (not a
 * container image), CLIP_ERR_IMAGE (sizes or layer counts disagree).
 */
clip_err clip_image_resolve_registry(clip_registry *r, const char *tag_or_digest,
    const struct clip_platform *platform, struct clip_image **out,
    struct clip_error *err);

/* tag as for clip_oci_layout_find() (NULL: the only image). */
clip_err clip_image_resolve_layout(const clip_oci_layout *l, const char *tag,
    const struct clip_platform *platform, struct clip_image **out,
    struct clip_error *err);

void clip_image_free(struct clip_image *img);

#endif
