/*
 * manifest.h - parse OCI / Docker schema 2 manifests, indexes and image
 * configs from bytes, and pick a platform from an index.
 *
 * Pure (no I/O) so that the same code serves a registry and a local OCI
 * layout, and is unit-tested without a network.  Every digest that comes
 * out of here has passed clip_digest_valid(), so it is safe in URLs and
 * file names.  Thread-safe.
 */
#ifndef CLIP_MANIFEST_H
#define CLIP_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util/error.h"
#include "common/oci/oci_digest.h"

#define CLIP_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CLIP_MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define CLIP_MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define CLIP_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define CLIP_MT_DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define CLIP_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* The Accept header value for manifest GETs (all four kinds above). */
#define CLIP_MANIFEST_ACCEPT \
	CLIP_MT_OCI_MANIFEST ", " CLIP_MT_OCI_INDEX ", " \
	CLIP_MT_DOCKER_MANIFEST ", " CLIP_MT_DOCKER_LIST

/* Size caps for bytes fetched from anywhere. */
#define CLIP_MANIFEST_MAX (4u * 1024 * 1024)
#define CLIP_CONFIG_MAX   (8u * 1024 * 1024)

enum clip_manifest_kind {
	CLIP_MANIFEST_IMAGE = 1,  /* OCI image manifest / Docker schema 2 */
	CLIP_MANIFEST_INDEX = 2,  /* OCI index / Docker manifest list */
};

struct clip_platform {
	char os[32];       /* "linux" */
	char arch[32];     /* "amd64", "arm64", "arm", ... (GOARCH names) */
	char variant[16];  /* "", "v7", "v8" */
};

struct clip_descriptor {
	char *media_type;             /* may be NULL for index entries */
	char digest[CLIP_DIGEST_BUFSZ];
	uint64_t size;
	struct clip_platform platform;  /* index entries only; else empty */
	char *ref_name;               /* org.opencontainers.image.ref.name, or NULL */
};

/* An image manifest or an index.  Owned; free with clip_manifest_free(). */
struct clip_manifest {
	enum clip_manifest_kind kind;
	char *media_type;                /* never NULL */
	/* CLIP_MANIFEST_IMAGE: */
	struct clip_descriptor config;
	struct clip_descriptor *layers;
	size_t n_layers;
	/* CLIP_MANIFEST_INDEX: */
	struct clip_descriptor *manifests;
	size_t n_manifests;
};

/*
 * Parses data (len bytes, at most CLIP_MANIFEST_MAX).  content_type is
 * the HTTP Content-Type (parameters ignored) or NULL; when it names one
 * of the four media types it decides, otherwise the document's
 * "mediaType" field does, otherwise the shape ("manifests" -> index,
 * "layers" -> image).  Docker schema 1 and other types give
 * CLIP_ERR_UNSUPPORTED; bad JSON or missing/ill-typed fields
 * CLIP_ERR_PROTOCOL (with the field named); CLIP_ERR_TOOBIG; NOMEM.
 */
clip_err clip_manifest_parse(const void *data, size_t len,
    const char *content_type, struct clip_manifest **out,
    struct clip_error *err);

void clip_manifest_free(struct clip_manifest *m);

/* "linux/arm64/v8", "linux/amd64" -> *out.  CLIP_ERR_INVALID if bad. */
clip_err clip_platform_parse(const char *s, struct clip_platform *out,
    struct clip_error *err);

/* The platform of this machine: linux + uname -m mapped to GOARCH. */
void clip_platform_host(struct clip_platform *out);

/* Formats "os/arch[/variant]" into buf. */
void clip_platform_format(const struct clip_platform *p, char *buf, size_t bufsz);

/*
 * Picks the entry of index that runs on want: same os and arch, and an
 * exact variant match if there is one, else a compatible one (arm64
 * "" == "v8"; with no variant asked for, the first os/arch match; arm vN
 * also runs v(N-1)..v5, highest first).  Nested indexes and entries
 * whose media type is not an image manifest are skipped.  *out points
 * into index.  CLIP_ERR_NOTFOUND names the platforms that exist.
 */
clip_err clip_index_select(const struct clip_manifest *index,
    const struct clip_platform *want, const struct clip_descriptor **out,
    struct clip_error *err);

/*
 * Parses an image config blob into a JSON object (a new reference for
 * the caller) and checks that rootfs.diff_ids has n_layers entries
 * (pass n_layers = (size_t)-1 to skip that).  CLIP_ERR_IMAGE when the
 * shape is wrong, CLIP_ERR_PROTOCOL when it is not JSON, CLIP_ERR_TOOBIG
 * above CLIP_CONFIG_MAX.
 */
clip_err clip_config_parse(const void *data, size_t len, size_t n_layers,
    json_t **out, struct clip_error *err);

#endif
