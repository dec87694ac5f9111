/* image.c - reference + platform -> manifest + config, for both sources. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/registry/image.h"

/* Where documents come from: a registry or a layout. */
struct source {
	/* by digest; media_type may be NULL (unknown); *mt malloc'ed or NULL */
	clip_err (*get_manifest)(const void *ctx, const char *digest,
	    uint8_t **data, size_t *len, char **mt, struct clip_error *err);
	clip_err (*get_blob)(const void *ctx, const char *digest, size_t max,
	    uint8_t **data, size_t *len, struct clip_error *err);
	const void *ctx;
};

void
clip_image_free(struct clip_image *img)
{
	if (img == NULL)
		return;
	free(img->manifest_data);
	free(img->manifest_media_type);
	clip_manifest_free(img->manifest);
	free(img->config_data);
	json_decref(img->config);
	free(img);
}

static int
is_image_config(const char *mt)
{
	return mt == NULL || strcmp(mt, CLIP_MT_OCI_CONFIG) == 0 ||
	    strcmp(mt, CLIP_MT_DOCKER_CONFIG) == 0;
}

/*
 * Finishes resolution from a first document (owned by img already:
 * manifest_data, manifest_media_type, manifest_digest).
 */
static clip_err
resolve(const struct source *src, struct clip_image *img,
    const struct clip_platform *platform, struct clip_error *err)
{
	struct clip_platform host;
	struct clip_manifest *m = NULL;
	clip_err rc;

	if (platform == NULL) {
		clip_platform_host(&host);
		platform = &host;
	}
	rc = clip_manifest_parse(img->manifest_data, img->manifest_len,
	    img->manifest_media_type, &m, err);
	if (rc != CLIP_OK)
		return rc;
	if (m->kind == CLIP_MANIFEST_INDEX) {
		const struct clip_descriptor *d;
		char digest[CLIP_DIGEST_BUFSZ];
		uint64_t want_size;
		char *mt = NULL;

		rc = clip_index_select(m, platform, &d, err);
		if (rc != CLIP_OK) {
			clip_manifest_free(m);
			return rc;
		}
		memcpy(digest, d->digest, sizeof(digest));
		want_size = d->size;
		if (d->media_type && (mt = strdup(d->media_type)) == NULL) {
			clip_manifest_free(m);
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		}
		clip_manifest_free(m);
		m = NULL;
		memcpy(img->index_digest, img->manifest_digest, sizeof(img->index_digest));
		free(img->manifest_data);
		free(img->manifest_media_type);
		img->manifest_data = NULL;
		img->manifest_media_type = NULL;
		{
			char *got_mt = NULL;
			rc = src->get_manifest(src->ctx, digest, &img->manifest_data,
			    &img->manifest_len, &got_mt, err);
			img->manifest_media_type = got_mt ? got_mt : mt;
			if (got_mt)
				free(mt);
		}
		if (rc != CLIP_OK)
			return rc;
		memcpy(img->manifest_digest, digest, sizeof(digest));
		if (img->manifest_len != want_size)
			return clip_error_set(err, CLIP_ERR_IMAGE,
			    "manifest %s: %zu bytes, the index says %llu", digest,
			    img->manifest_len, (unsigned long long)want_size);
		rc = clip_manifest_parse(img->manifest_data, img->manifest_len,
		    img->manifest_media_type, &m, err);
		if (rc != CLIP_OK)
			return rc;
		if (m->kind != CLIP_MANIFEST_IMAGE) {
			clip_manifest_free(m);
			return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
			    "manifest %s: nested indexes are not supported", digest);
		}
	}
	img->manifest = m;
	if (!is_image_config(m->config.media_type))
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "not a container image (config media type %.100s)", m->config.media_type);
	if (m->config.size > CLIP_CONFIG_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "image config: %llu bytes",
		    (unsigned long long)m->config.size);
	rc = src->get_blob(src->ctx, m->config.digest, CLIP_CONFIG_MAX,
	    &img->config_data, &img->config_len, err);
	if (rc != CLIP_OK)
		return clip_error_prefix(err, "image config");
	if (img->config_len != m->config.size)
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "image config: %zu bytes, the manifest says %llu", img->config_len,
		    (unsigned long long)m->config.size);
	return clip_config_parse(img->config_data, img->config_len, m->n_layers,
	    &img->config, err);
}

/* ---- registry source ---- */

static clip_err
reg_manifest(const void *ctx, const char *digest, uint8_t **data, size_t *len,
    char **mt, struct clip_error *err)
{
	struct clip_fetched_manifest fm;
	clip_err rc;

	rc = clip_registry_get_manifest((clip_registry *)ctx, digest, &fm, err);
	if (rc != CLIP_OK)
		return rc;
	*data = fm.data;
	*len = fm.len;
	*mt = fm.media_type;
	return CLIP_OK;
}

static clip_err
reg_blob(const void *ctx, const char *digest, size_t max, uint8_t **data,
    size_t *len, struct clip_error *err)
{
	return clip_registry_get_blob((clip_registry *)ctx, digest, max, data, len, err);
}

clip_err
clip_image_resolve_registry(clip_registry *r, const char *tag_or_digest,
    const struct clip_platform *platform, struct clip_image **out,
    struct clip_error *err)
{
	struct source src = { reg_manifest, reg_blob, r };
	struct clip_fetched_manifest fm;
	struct clip_image *img;
	clip_err rc;

	*out = NULL;
	img = calloc(1, sizeof(*img));
	if (img == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	rc = clip_registry_get_manifest(r, tag_or_digest, &fm, err);
	if (rc != CLIP_OK) {
		free(img);
		return rc;
	}
	img->manifest_data = fm.data;
	img->manifest_len = fm.len;
	img->manifest_media_type = fm.media_type;
	memcpy(img->manifest_digest, fm.digest, sizeof(fm.digest));
	rc = resolve(&src, img, platform, err);
	if (rc != CLIP_OK) {
		clip_image_free(img);
		return rc;
	}
	*out = img;
	return CLIP_OK;
}

/* ---- layout source ---- */

static clip_err
lay_manifest(const void *ctx, const char *digest, uint8_t **data, size_t *len,
    char **mt, struct clip_error *err)
{
	*mt = NULL;
	return clip_oci_layout_read_blob(ctx, digest, CLIP_MANIFEST_MAX, data, len, err);
}

static clip_err
lay_blob(const void *ctx, const char *digest, size_t max, uint8_t **data,
    size_t *len, struct clip_error *err)
{
	return clip_oci_layout_read_blob(ctx, digest, max, data, len, err);
}

clip_err
clip_image_resolve_layout(const clip_oci_layout *l, const char *tag,
    const struct clip_platform *platform, struct clip_image **out,
    struct clip_error *err)
{
	struct source src = { lay_manifest, lay_blob, l };
	const struct clip_descriptor *d;
	struct clip_image *img;
	clip_err rc;

	*out = NULL;
	rc = clip_oci_layout_find(l, tag, &d, err);
	if (rc != CLIP_OK)
		return rc;
	img = calloc(1, sizeof(*img));
	if (img == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	rc = clip_oci_layout_read_blob(l, d->digest, CLIP_MANIFEST_MAX,
	    &img->manifest_data, &img->manifest_len, err);
	if (rc == CLIP_OK && img->manifest_len != d->size)
		rc = clip_error_set(err, CLIP_ERR_IMAGE, "manifest %s: %zu bytes, index.json says %llu",
		    d->digest, img->manifest_len, (unsigned long long)d->size);
	if (rc == CLIP_OK && d->media_type != NULL &&
	    (img->manifest_media_type = strdup(d->media_type)) == NULL)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (rc == CLIP_OK) {
		memcpy(img->manifest_digest, d->digest, sizeof(img->manifest_digest));
		rc = resolve(&src, img, platform, err);
	}
	if (rc == CLIP_OK && img->manifest_media_type == NULL &&
	    (img->manifest_media_type = strdup(img->manifest->media_type)) == NULL)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (rc != CLIP_OK) {
		clip_image_free(img);
		return rc;
	}
	*out = img;
	return CLIP_OK;
}
