/*
 * referrers.h - the index artifact (clip(5), PUBLISHING) and referrer
 * lists, as JSON documents.
 *
 * A CLIP index travels in the image's repository as an OCI 1.1 artifact:
 * an image manifest with artifactType CLIP_ARTIFACT_TYPE, the empty config,
 * the .clip file as its one layer, and the image's platform manifest as its
 * subject.  Registries list it in the subject's referrers: through the
 * referrers API, or in an image index stored under the referrers tag
 * (sha256-HEX) that clients update themselves.
 *
 * Pure (no I/O) and thread-safe.  Documents read from a registry are
 * untrusted: every digest that comes out of here passed clip_digest_valid().
 */
#ifndef CLIP_REFERRERS_H
#define CLIP_REFERRERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/oci/oci_digest.h"

#define CLIP_ARTIFACT_TYPE "application/vnd.clipfs.index.v2"
#define CLIP_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
/* The empty config: the two bytes "{}". */
#define CLIP_EMPTY_JSON "{}"
#define CLIP_EMPTY_DIGEST \
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define CLIP_ANN_CREATED "org.opencontainers.image.created"
#define CLIP_ANN_FORMAT "org.clipfs.index.format"       /* "2.MINOR" */
#define CLIP_ANN_INDEX_DIGEST "org.clipfs.index.digest" /* the .clip blob's */
/* An index artifact's .clip is at most this large. */
#define CLIP_ARTIFACT_MAX (UINT64_C(1) << 30)

/* What goes into an index artifact. */
struct clip_artifact {
	const char *subject_media_type;   /* the image manifest's */
	const char *subject_digest;
	uint64_t subject_size;
	const char *index_digest;         /* the .clip file's */
	uint64_t index_size;
	const char *format;               /* "2.MINOR" */
	const char *created;              /* RFC 3339, UTC */
};

/* The artifact manifest for a, compact JSON, malloc'ed; NULL on ENOMEM. */
char *clip_artifact_manifest(const struct clip_artifact *a);

/* One index artifact in a referrer list. */
struct clip_referrer {
	char digest[CLIP_DIGEST_BUFSZ];   /* the artifact manifest's */
	uint64_t size;
	char created[40];                 /* "" if not annotated */
	char index_digest[CLIP_DIGEST_BUFSZ];   /* "" if not annotated */
};

/*
 * The referrer list list (an image index; NULL or len 0: an empty one)
 * with the descriptor of the artifact manifest (manifest, len bytes)
 * added at the end, in place of an entry with the same digest; every
 * other entry is kept as it is.  *out is compact JSON, malloc'ed.
 * CLIP_ERR_PROTOCOL if list is not an image index, CLIP_ERR_NOMEM.
 */
clip_err clip_referrers_add(const void *list, size_t len, const void *manifest,
    size_t manifest_len, char **out, struct clip_error *err);

/* Entries a referrer list may hold, all its pages together. */
#define CLIP_REFERRERS_MAX 10000

/*
 * The referrer list list (an image index) with the manifests of page
 * (the next page of it, an image index too) appended, as they are.  *out
 * is compact JSON, malloc'ed.  CLIP_ERR_PROTOCOL if either is not an
 * image index, CLIP_ERR_TOOBIG past CLIP_REFERRERS_MAX entries,
 * CLIP_ERR_NOMEM.
 */
clip_err clip_referrers_concat(const void *list, size_t len, const void *page,
    size_t page_len, char **out, struct clip_error *err);

/*
 * The index artifact to use from a referrer list: among the entries
 * whose artifactType is CLIP_ARTIFACT_TYPE, the one with the latest
 * created annotation, else (none annotated, or a tie) the last listed.
 * With index_digest not NULL, only entries annotated with that .clip
 * digest count.  CLIP_ERR_NOTFOUND if there is none, CLIP_ERR_PROTOCOL if
 * list is not an image index.
 */
clip_err clip_referrers_pick(const void *list, size_t len, const char *index_digest,
    struct clip_referrer *out, struct clip_error *err);

/* 1 if the referrer list has an entry for manifest digest, else 0. */
int clip_referrers_has(const void *list, size_t len, const char *digest);

/*
 * Checks an index artifact manifest: an OCI image manifest whose
 * artifactType is CLIP_ARTIFACT_TYPE, with one layer of that media type
 * and at most CLIP_ARTIFACT_MAX bytes.  Gives the layer's digest and size
 * and the subject's digest.  CLIP_ERR_PROTOCOL naming what is wrong.
 */
clip_err clip_artifact_parse(const void *data, size_t len, char layer[CLIP_DIGEST_BUFSZ],
    uint64_t *layer_size, char subject[CLIP_DIGEST_BUFSZ], struct clip_error *err);

#endif
