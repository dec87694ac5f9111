/* layer_scan.c - one pass over a layer blob (see layer_scan.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci/oci_digest.h"
#include "common/tar/tar.h"
#include "indexer/layer_scan.h"
#include "indexer/xattr_check.h"

struct layer_scan {
	clip_gzindex *gz;
	clip_tar *tar;
	uint64_t big_file;
	const char *const *mark_paths;
	size_t nmark_paths;
	struct layer_entries entries;
};

static int
path_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* Uncompressed bytes flow from the inflater straight into the parser. */
static clip_err
on_data(void *ctx, const uint8_t *buf, size_t len, uint64_t out_offset, struct clip_error *err)
{
	struct layer_scan *s = ctx;

	(void)out_offset;
	return clip_tar_feed(s->tar, buf, len, err);
}

static clip_err
on_entry(void *ctx, const struct clip_tar_entry *e, struct clip_error *err)
{
	struct layer_scan *s = ctx;
	int listed;
	clip_err rc;

	if ((rc = xattr_check_entry(e, err)) != CLIP_OK)
		return rc;
	listed = e->type == CLIP_TAR_REG && e->size > 0 && s->nmark_paths > 0 &&
	    bsearch(e->path, s->mark_paths, s->nmark_paths, sizeof(*s->mark_paths),
	    path_cmp) != NULL;

	/* A big file gets a checkpoint right before its data, so reading
	 * its start does not inflate the files in front of it.  A listed
	 * file gets one there too, and one soon after its end, so that its
	 * span holds little else. */
	if ((s->big_file > 0 && e->type == CLIP_TAR_REG && e->size >= s->big_file) || listed)
		clip_gzindex_mark(s->gz, e->data_offset);
	if (listed)
		clip_gzindex_mark_after(s->gz, e->data_offset + e->size);
	return layer_entries_add(&s->entries, e, err);
}

clip_err
layer_scan_new(uint32_t compression, uint64_t span, uint64_t big_file,
    const char *const *mark_paths, size_t nmark_paths, struct layer_scan **out,
    struct clip_error *err)
{
	struct layer_scan *s;
	clip_err rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	s->big_file = big_file;
	s->mark_paths = mark_paths;
	s->nmark_paths = mark_paths != NULL ? nmark_paths : 0;
	if ((rc = clip_gzindex_new(compression, span, on_data, s, &s->gz, err)) != CLIP_OK ||
	    (rc = clip_tar_new(on_entry, s, &s->tar, err)) != CLIP_OK) {
		layer_scan_free(s);
		return rc;
	}
	*out = s;
	return CLIP_OK;
}

void
layer_scan_free(struct layer_scan *s)
{
	if (s == NULL)
		return;
	clip_gzindex_free(s->gz);
	clip_tar_free(s->tar);
	layer_entries_free(&s->entries);
	free(s);
}

clip_err
layer_scan_feed(struct layer_scan *s, const uint8_t *buf, size_t len, struct clip_error *err)
{
	return clip_gzindex_feed(s->gz, buf, len, err);
}

clip_err
layer_scan_finish(struct layer_scan *s, const char *digest, struct clip_error *err)
{
	char got[CLIP_DIGEST_BUFSZ];
	clip_err rc;

	if ((rc = clip_gzindex_finish(s->gz, err)) != CLIP_OK)
		return rc;
	if ((rc = clip_tar_finish(s->tar, err)) != CLIP_OK)
		return rc;
	clip_digest_format(clip_gzindex_blob_sha256(s->gz), got);
	if (digest != NULL && strcmp(digest, got) != 0)
		return clip_error_set(err, CLIP_ERR_CHECKSUM,
		    "blob digest mismatch: expected %s, got %s", digest, got);
	return CLIP_OK;
}

const struct layer_entries *
layer_scan_entries(const struct layer_scan *s)
{
	return &s->entries;
}

void
layer_scan_drop_entries(struct layer_scan *s)
{
	layer_entries_free(&s->entries);
}

const clip_gzindex *
layer_scan_gzindex(const struct layer_scan *s)
{
	return s->gz;
}

clip_err
layer_media_compression(const char *mt, uint32_t *compression, struct clip_error *err)
{
	static const struct {
		const char *media_type;
		uint32_t compression;
	} known[] = {
		{ "application/vnd.oci.image.layer.v1.tar+gzip", CLIP_COMPRESSION_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", CLIP_COMPRESSION_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", CLIP_COMPRESSION_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", CLIP_COMPRESSION_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar", CLIP_COMPRESSION_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", CLIP_COMPRESSION_NONE },
		{ "application/vnd.docker.image.rootfs.diff.tar", CLIP_COMPRESSION_NONE },
	};
	size_t i;

	*compression = CLIP_COMPRESSION_NONE;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(mt, known[i].media_type) == 0) {
			*compression = known[i].compression;
			return CLIP_OK;
		}
	if (strstr(mt, "zstd") != NULL)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "layer media type %s: zstd layers are not supported yet", mt);
	return clip_error_set(err, CLIP_ERR_UNSUPPORTED, "unknown layer media type '%.200s'", mt);
}
