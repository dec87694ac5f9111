/*
 * index_artifact.h - a CLIP index stored next to its image in a registry
 * (clip(5), PUBLISHING): publish one, find one.
 *
 * The artifact's documents are built and read by common/oci/referrers.h;
 * this file does the requests.  Referrers are looked up through the
 * referrers API (GET /v2/REPO/referrers/DIGEST) and, where the registry
 * has none (a 404, as from distribution 2.8), through the referrers tag
 * sha256-HEX of the OCI distribution spec 1.1.
 */
#ifndef CLIP_INDEX_ARTIFACT_H
#define CLIP_INDEX_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

#include "common/oci/referrers.h"
#include "common/registry/registry.h"

/* Read-modify-write rounds of the referrers tag before giving up. */
#define CLIP_REFERRERS_TAG_TRIES 4

struct clip_publish_report {
	char artifact_digest[CLIP_DIGEST_BUFSZ];   /* the artifact manifest's */
	char index_digest[CLIP_DIGEST_BUFSZ];      /* the .clip blob's */
	int already;         /* an artifact of this very .clip was listed: nothing done */
	int via_api;         /* the registry keeps the referrers (OCI-Subject) */
	char tag[80];        /* the referrers tag written, or "" */
};

/*
 * Publishes the index (clip, len bytes; format "2.MINOR") for the image
 * manifest subject (as fetched from r's repository) in r's repository:
 * both blobs (each skipped when HEAD finds it), the artifact manifest by
 * digest, then, unless the registry keeps referrers itself, the referrers
 * tag, read-modify-write with If-Match when the registry gave an ETag, and
 * read back to check the artifact is listed (else another round, at most
 * CLIP_REFERRERS_TAG_TRIES).  created is an RFC 3339 UTC time.  r must
 * have been opened with opts.push.  Errors of the requests;
 * CLIP_ERR_PROTOCOL when the referrers tag holds no image index.
 */
clip_err clip_index_publish(clip_registry *r, const void *clip, size_t len,
    const char *format, const char *created, const struct clip_fetched_manifest *subject,
    struct clip_publish_report *rep, struct clip_error *err);

/*
 * Finds the index artifact for image manifest subject in r's repository
 * (clip_referrers_pick's rule when there are several), fetches its
 * manifest by digest (verified) and checks it (clip_artifact_parse) and
 * that its subject is the one asked for.  Gives the .clip blob's digest
 * and size.  CLIP_ERR_NOTFOUND when no index artifact is listed;
 * CLIP_ERR_CHECKSUM / CLIP_ERR_PROTOCOL for one that does not check.
 */
clip_err clip_index_find(clip_registry *r, const char *subject,
    char index_digest[CLIP_DIGEST_BUFSZ], uint64_t *index_size, struct clip_error *err);

/* The referrers tag of a digest: "sha256-HEX". */
void clip_referrers_tag(const char *digest, char *buf, size_t bufsz);

#endif
