/* referrers.c - index artifacts and referrer lists (referrers.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/oci/manifest.h"
#include "common/oci/referrers.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

char *
clip_artifact_manifest(const struct clip_artifact *a)
{
	json_t *m;
	char *out;

	m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:I}],"
	    "s:{s:s,s:s,s:I},s:{s:s,s:s,s:s}}",
	    "schemaVersion", 2,
	    "mediaType", CLIP_MT_OCI_MANIFEST,
	    "artifactType", CLIP_ARTIFACT_TYPE,
	    "config", "mediaType", CLIP_MT_OCI_EMPTY, "digest", CLIP_EMPTY_DIGEST,
	    "size", (int)strlen(CLIP_EMPTY_JSON),
	    "layers", "mediaType", CLIP_ARTIFACT_TYPE, "digest", a->index_digest,
	    "size", (json_int_t)a->index_size,
	    "subject", "mediaType", a->subject_media_type, "digest", a->subject_digest,
	    "size", (json_int_t)a->subject_size,
	    "annotations", CLIP_ANN_CREATED, a->created, CLIP_ANN_FORMAT, a->format,
	    CLIP_ANN_INDEX_DIGEST, a->index_digest);
	if (m == NULL)
		return NULL;
	out = json_dumps(m, DUMP_FLAGS);
	json_decref(m);
	return out;
}

/* The referrer list in data, or a new empty one; NULL with err set. */
static json_t *
list_load(const void *data, size_t len, struct clip_error *err)
{
	json_t *root;

	if (data == NULL || len == 0) {
		root = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
		    CLIP_MT_OCI_INDEX, "manifests");
		if (root == NULL)
			clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		return root;
	}
	root = json_loadb(data, len, 0, NULL);
	if (!json_is_object(root) || !json_is_array(json_object_get(root, "manifests"))) {
		json_decref(root);
		clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "the referrer list is not an image index (no manifests array)");
		return NULL;
	}
	return root;
}

/* The descriptor of the artifact manifest, annotations and all. */
static json_t *
artifact_descriptor(const void *manifest, size_t len)
{
	json_t *m = json_loadb(manifest, len, 0, NULL), *d;
	char digest[CLIP_DIGEST_BUFSZ];

	if (m == NULL)
		return NULL;
	clip_digest_of(manifest, len, digest);
	d = json_pack("{s:s,s:s,s:I,s:O*,s:O*}", "mediaType", CLIP_MT_OCI_MANIFEST,
	    "digest", digest, "size", (json_int_t)len,
	    "artifactType", json_object_get(m, "artifactType"),
	    "annotations", json_object_get(m, "annotations"));
	json_decref(m);
	return d;
}

clip_err
clip_referrers_add(const void *list, size_t len, const void *manifest, size_t manifest_len,
    char **out, struct clip_error *err)
{
	json_t *root, *arr, *d, *e;
	const char *digest;
	size_t i;

	*out = NULL;
	if ((root = list_load(list, len, err)) == NULL)
		return err != NULL ? err->code : CLIP_ERR_PROTOCOL;
	arr = json_object_get(root, "manifests");
	if ((d = artifact_descriptor(manifest, manifest_len)) == NULL) {
		json_decref(root);
		return clip_error_set(err, CLIP_ERR_INVALID, "the artifact manifest is not JSON");
	}
	digest = json_string_value(json_object_get(d, "digest"));
	for (i = json_array_size(arr); i-- > 0;) {
		e = json_array_get(arr, i);
		if (json_is_string(json_object_get(e, "digest")) &&
		    strcmp(json_string_value(json_object_get(e, "digest")), digest) == 0)
			json_array_remove(arr, i);
	}
	if (json_array_append_new(arr, d) == 0)
		*out = json_dumps(root, DUMP_FLAGS);
	json_decref(root);
	return *out != NULL ? CLIP_OK : clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
}

clip_err
clip_referrers_concat(const void *list, size_t len, const void *page, size_t page_len,
    char **out, struct clip_error *err)
{
	json_t *root = NULL, *more = NULL, *arr;
	clip_err rc = CLIP_OK;

	*out = NULL;
	if ((root = list_load(list, len, err)) == NULL ||
	    (more = list_load(page, page_len, err)) == NULL) {
		rc = err != NULL ? err->code : CLIP_ERR_PROTOCOL;
		goto out;
	}
	arr = json_object_get(root, "manifests");
	if (json_array_size(arr) + json_array_size(json_object_get(more, "manifests")) >
	    CLIP_REFERRERS_MAX) {
		rc = clip_error_set(err, CLIP_ERR_TOOBIG, "the referrer list has more than %d "
		    "entries", CLIP_REFERRERS_MAX);
		goto out;
	}
	if (json_array_extend(arr, json_object_get(more, "manifests")) != 0 ||
	    (*out = json_dumps(root, DUMP_FLAGS)) == NULL)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
out:
	json_decref(root);
	json_decref(more);
	return rc;
}

/* Entry e as a referrer, if it is a valid index artifact descriptor. */
static int
referrer_of(json_t *e, struct clip_referrer *r)
{
	const char *digest = json_string_value(json_object_get(e, "digest"));
	const char *type = json_string_value(json_object_get(e, "artifactType"));
	json_t *ann = json_object_get(e, "annotations"), *size = json_object_get(e, "size");
	const char *created = json_string_value(json_object_get(ann, CLIP_ANN_CREATED));
	const char *idx = json_string_value(json_object_get(ann, CLIP_ANN_INDEX_DIGEST));

	if (digest == NULL || !clip_digest_valid(digest) || type == NULL ||
	    strcmp(type, CLIP_ARTIFACT_TYPE) != 0 || !json_is_integer(size) ||
	    json_integer_value(size) <= 0 || json_integer_value(size) > CLIP_MANIFEST_MAX)
		return 0;
	memset(r, 0, sizeof(*r));
	snprintf(r->digest, sizeof(r->digest), "%s", digest);
	r->size = (uint64_t)json_integer_value(size);
	if (created != NULL && strlen(created) < sizeof(r->created))
		snprintf(r->created, sizeof(r->created), "%s", created);
	if (idx != NULL && clip_digest_valid(idx))
		snprintf(r->index_digest, sizeof(r->index_digest), "%s", idx);
	return 1;
}

clip_err
clip_referrers_pick(const void *list, size_t len, const char *index_digest,
    struct clip_referrer *out, struct clip_error *err)
{
	json_t *root, *arr;
	struct clip_referrer r;
	size_t i;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (list == NULL || len == 0)
		return clip_error_set(err, CLIP_ERR_NOTFOUND, "no index artifact listed");
	if ((root = list_load(list, len, err)) == NULL)
		return err != NULL ? err->code : CLIP_ERR_PROTOCOL;
	arr = json_object_get(root, "manifests");
	for (i = 0; i < json_array_size(arr); i++) {
		if (!referrer_of(json_array_get(arr, i), &r))
			continue;
		if (index_digest != NULL && strcmp(r.index_digest, index_digest) != 0)
			continue;
		/* RFC 3339 in UTC compares as text; the later (or equal) wins */
		if (!found || strcmp(r.created, out->created) >= 0)
			*out = r;
		found = 1;
	}
	json_decref(root);
	return found ? CLIP_OK : clip_error_set(err, CLIP_ERR_NOTFOUND,
	    "no index artifact listed");
}

int
clip_referrers_has(const void *list, size_t len, const char *digest)
{
	json_t *root = json_loadb(list, len, 0, NULL), *e;
	const char *d;
	size_t i;
	int found = 0;

	json_array_foreach(json_object_get(root, "manifests"), i, e) {
		d = json_string_value(json_object_get(e, "digest"));
		if (d != NULL && strcmp(d, digest) == 0)
			found = 1;
	}
	json_decref(root);
	return found;
}

clip_err
clip_artifact_parse(const void *data, size_t len, char layer[CLIP_DIGEST_BUFSZ],
    uint64_t *layer_size, char subject[CLIP_DIGEST_BUFSZ], struct clip_error *err)
{
	json_t *m = json_loadb(data, len, 0, NULL), *layers, *l0;
	const char *type, *ld, *lt, *sd;
	json_int_t size;
	clip_err rc = CLIP_OK;

	layers = json_object_get(m, "layers");
	l0 = json_array_get(layers, 0);
	type = json_string_value(json_object_get(m, "artifactType"));
	ld = json_string_value(json_object_get(l0, "digest"));
	lt = json_string_value(json_object_get(l0, "mediaType"));
	size = json_integer_value(json_object_get(l0, "size"));
	sd = json_string_value(json_object_get(json_object_get(m, "subject"), "digest"));
	if (m == NULL)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "index artifact: not JSON");
	else if (type == NULL || strcmp(type, CLIP_ARTIFACT_TYPE) != 0)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "index artifact: artifactType is not %s",
		    CLIP_ARTIFACT_TYPE);
	else if (json_array_size(layers) != 1 || lt == NULL || strcmp(lt, CLIP_ARTIFACT_TYPE) != 0)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "index artifact: not exactly one layer of type %s", CLIP_ARTIFACT_TYPE);
	else if (ld == NULL || !clip_digest_valid(ld) || size <= 0 ||
	    (uint64_t)size > CLIP_ARTIFACT_MAX)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "index artifact: bad layer digest or size");
	else if (sd == NULL || !clip_digest_valid(sd))
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "index artifact: no subject digest");
	if (rc == CLIP_OK) {
		snprintf(layer, CLIP_DIGEST_BUFSZ, "%s", ld);
		snprintf(subject, CLIP_DIGEST_BUFSZ, "%s", sd);
		*layer_size = (uint64_t)size;
	}
	json_decref(m);
	return rc;
}
