/* index_artifact.c - publish and find CLIP indexes in a registry. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci/manifest.h"
#include "common/registry/index_artifact.h"

void
clip_referrers_tag(const char *digest, char *buf, size_t bufsz)
{
	const char *colon = strchr(digest, ':');

	snprintf(buf, bufsz, "%.*s-%s", colon ? (int)(colon - digest) : 0, digest,
	    colon ? colon + 1 : digest);
}

/*
 * The referrer list of subject: from the referrers API, else (404) from
 * the referrers tag, each with the pages its Link headers name.  A
 * missing tag is an empty list (out->data NULL).  *from_tag tells which;
 * out->etag is the tag's ETag, if any.
 */
static clip_err
referrer_list(clip_registry *r, const char *subject, struct clip_fetched_manifest *out,
    int *from_tag, struct clip_error *err)
{
	char tag[80];
	clip_err rc;

	*from_tag = 0;
	rc = clip_registry_get_referrers(r, subject, out, err);
	if (rc != CLIP_ERR_NOTFOUND)
		return rc;
	*from_tag = 1;
	clip_referrers_tag(subject, tag, sizeof(tag));
	rc = clip_registry_get_manifest(r, tag, out, err);
	if (rc == CLIP_ERR_NOTFOUND) {
		memset(out, 0, sizeof(*out));
		return CLIP_OK;
	}
	if (rc == CLIP_OK)
		rc = clip_registry_follow_pages(r, out, err);
	return rc;
}

/* HEAD, and upload when missing. */
static clip_err
ensure_blob(clip_registry *r, const char *digest, const void *data, size_t len,
    struct clip_error *err)
{
	int exists;
	clip_err rc = clip_registry_blob_exists(r, digest, &exists, err);

	if (rc == CLIP_OK && !exists)
		rc = clip_registry_put_blob(r, digest, data, len, err);
	return rc;
}

/* One read-modify-write round of the referrers tag; *done once the
 * artifact is listed there when read back. */
static clip_err
tag_round(clip_registry *r, const char *subject, const char *manifest, const char *digest,
    char tag[80], int *done, struct clip_error *err)
{
	struct clip_fetched_manifest list;
	char *merged = NULL;
	long status = 0;
	int from_tag, handled;
	clip_err rc;

	*done = 0;
	clip_referrers_tag(subject, tag, 80);
	memset(&list, 0, sizeof(list));
	rc = clip_registry_get_manifest(r, tag, &list, err);
	if (rc == CLIP_ERR_NOTFOUND)
		rc = CLIP_OK;
	if (rc == CLIP_OK)
		rc = clip_referrers_add(list.data, list.len, manifest, strlen(manifest), &merged, err);
	if (rc == CLIP_OK)
		rc = clip_registry_put_manifest(r, tag, CLIP_MT_OCI_INDEX, merged, strlen(merged),
		    list.etag[0] ? list.etag : NULL, &status, &handled, err);
	if (rc != CLIP_OK && status == 412)
		rc = CLIP_OK;   /* someone else wrote it first: read it again */
	clip_fetched_manifest_free(&list);
	free(merged);
	if (rc != CLIP_OK)
		return rc;
	rc = referrer_list(r, subject, &list, &from_tag, err);
	if (rc == CLIP_OK)
		*done = list.data != NULL && clip_referrers_has(list.data, list.len, digest);
	clip_fetched_manifest_free(&list);
	return rc;
}

/* Lists the artifact in the referrers tag (read-modify-write, checked). */
static clip_err
update_tag(clip_registry *r, const char *subject, const char *manifest, const char *digest,
    struct clip_publish_report *rep, struct clip_error *err)
{
	int round, done = 0;
	clip_err rc = CLIP_OK;

	for (round = 0; round < CLIP_REFERRERS_TAG_TRIES && !done; round++)
		if ((rc = tag_round(r, subject, manifest, digest, rep->tag, &done, err)) != CLIP_OK)
			return rc;
	if (!done)
		return clip_error_set(err, CLIP_ERR_HTTP,
		    "referrers tag %s: other writers kept replacing it; push again", rep->tag);
	return CLIP_OK;
}

/* Whether an artifact of this very .clip is listed already. */
static clip_err
already_listed(clip_registry *r, const char *subject, const char *index_digest,
    struct clip_publish_report *rep, struct clip_error *err)
{
	struct clip_fetched_manifest list;
	struct clip_referrer ref;
	int from_tag;
	clip_err rc = referrer_list(r, subject, &list, &from_tag, err);

	if (rc == CLIP_OK && list.data != NULL &&
	    clip_referrers_pick(list.data, list.len, index_digest, &ref, NULL) == CLIP_OK) {
		rep->already = 1;
		snprintf(rep->artifact_digest, sizeof(rep->artifact_digest), "%s", ref.digest);
	}
	clip_fetched_manifest_free(&list);
	return rc;
}

clip_err
clip_index_publish(clip_registry *r, const void *clip, size_t len, const char *format,
    const char *created, const struct clip_fetched_manifest *subject,
    struct clip_publish_report *rep, struct clip_error *err)
{
	struct clip_artifact a;
	char *manifest = NULL;
	long status;
	clip_err rc;

	memset(rep, 0, sizeof(*rep));
	clip_digest_of(clip, len, rep->index_digest);
	rc = already_listed(r, subject->digest, rep->index_digest, rep, err);
	if (rc != CLIP_OK || rep->already)
		return rc;
	a.subject_media_type = subject->media_type;
	a.subject_digest = subject->digest;
	a.subject_size = subject->len;
	a.index_digest = rep->index_digest;
	a.index_size = len;
	a.format = format;
	a.created = created;
	if ((manifest = clip_artifact_manifest(&a)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	clip_digest_of(manifest, strlen(manifest), rep->artifact_digest);
	rc = ensure_blob(r, CLIP_EMPTY_DIGEST, CLIP_EMPTY_JSON, strlen(CLIP_EMPTY_JSON), err);
	if (rc == CLIP_OK)
		rc = ensure_blob(r, rep->index_digest, clip, len, err);
	if (rc == CLIP_OK)
		rc = clip_registry_put_manifest(r, rep->artifact_digest, CLIP_MT_OCI_MANIFEST,
		    manifest, strlen(manifest), NULL, &status, &rep->via_api, err);
	if (rc == CLIP_OK && !rep->via_api)
		rc = update_tag(r, subject->digest, manifest, rep->artifact_digest, rep, err);
	free(manifest);
	return rc;
}

clip_err
clip_index_find(clip_registry *r, const char *subject, char index_digest[CLIP_DIGEST_BUFSZ],
    uint64_t *index_size, struct clip_error *err)
{
	struct clip_fetched_manifest list, art;
	struct clip_referrer ref;
	char got_subject[CLIP_DIGEST_BUFSZ];
	int from_tag;
	clip_err rc;

	memset(&art, 0, sizeof(art));
	rc = referrer_list(r, subject, &list, &from_tag, err);
	if (rc == CLIP_OK)
		rc = clip_referrers_pick(list.data, list.len, NULL, &ref, err);
	clip_fetched_manifest_free(&list);
	if (rc == CLIP_OK)
		rc = clip_registry_get_manifest(r, ref.digest, &art, err);
	if (rc == CLIP_OK && art.len != ref.size)
		rc = clip_error_set(err, CLIP_ERR_CHECKSUM,
		    "index artifact %s: %zu bytes, the referrer list says %llu", ref.digest,
		    art.len, (unsigned long long)ref.size);
	if (rc == CLIP_OK)
		rc = clip_artifact_parse(art.data, art.len, index_digest, index_size, got_subject,
		    err);
	if (rc == CLIP_OK && strcmp(got_subject, subject) != 0)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "index artifact %s describes %s, not %s", ref.digest, got_subject, subject);
	clip_fetched_manifest_free(&art);
	return rc;
}
