/* registry_write.c - blob uploads, manifest PUTs and the referrers API. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci/manifest.h"
#include "common/oci/reference.h"
#include "common/oci/referrers.h"
#include "common/registry/registry_int.h"

/* A request (large: it holds the response's headers) for method on
 * r->base/what; *url is its URL.  NULL with err set on ENOMEM. */
static struct clip_http_request *
request_new(clip_registry *r, const char *method, const char *what, char **url,
    struct clip_error *err)
{
	struct clip_http_request *q = calloc(1, sizeof(*q));

	if (q == NULL || asprintf(url, "%s/%s", r->base, what) < 0) {
		*url = NULL;
		free(q);
		clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	q->method = method;
	q->total_timeout_ms = r->request_timeout_s * 1000L;
	return q;
}

clip_err
clip_registry_blob_exists(clip_registry *r, const char *digest, int *exists,
    struct clip_error *err)
{
	struct clip_http_request *q;
	char *url = NULL, what[100];
	clip_err rc;

	*exists = 0;
	if ((rc = clip_digest_check(digest, "blob digest", err)) != CLIP_OK)
		return rc;
	snprintf(what, sizeof(what), "blobs/%s", digest);
	if ((q = request_new(r, "HEAD", what, &url, err)) == NULL)
		return CLIP_ERR_NOMEM;
	rc = registry_api_request(r, url, what, q, 0, NULL, err);
	if (rc == CLIP_OK)
		*exists = 1;
	else if (q->status == 404)
		rc = CLIP_OK;
	free(url);
	free(q);
	return rc;
}

/*
 * The absolute URL of an upload Location (distribution answers a path),
 * which must be on the registry's own host: the credentials go with it.
 */
static clip_err
upload_url(clip_registry *r, const char *location, const char *digest, char **out,
    struct clip_error *err)
{
	size_t origin = registry_origin_len(r);
	int n;

	*out = NULL;
	if (location[0] == '\0')
		return clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "%s: the upload POST gave no Location", r->host);
	if (location[0] == '/' && location[1] != '/')
		n = asprintf(out, "%.*s%s%cdigest=%s", (int)origin, r->base, location,
		    strchr(location, '?') ? '&' : '?', digest);
	else if (strncmp(location, r->base, origin) == 0 && location[origin] == '/')
		n = asprintf(out, "%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?',
		    digest);
	else
		return clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "%s: the upload Location points to another host; refusing to send "
		    "credentials there", r->host);
	if (n < 0) {
		*out = NULL;
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	return CLIP_OK;
}

clip_err
clip_registry_put_blob(clip_registry *r, const char *digest, const void *data, size_t len,
    struct clip_error *err)
{
	struct clip_http_request *q;
	char *url = NULL, *put = NULL, what[120];
	clip_err rc;

	if ((rc = clip_digest_check(digest, "blob digest", err)) != CLIP_OK)
		return rc;
	snprintf(what, sizeof(what), "blobs/uploads/");
	if ((q = request_new(r, "POST", what, &url, err)) == NULL)
		return CLIP_ERR_NOMEM;
	rc = registry_api_request(r, url, what, q, 0, NULL, err);
	if (rc == CLIP_OK)
		rc = upload_url(r, q->location, digest, &put, err);
	if (rc == CLIP_OK) {
		snprintf(what, sizeof(what), "blobs/uploads/ (PUT %s)", digest);
		q->method = "PUT";
		q->upload = data;
		q->upload_len = len;
		q->upload_type = "application/octet-stream";
		rc = registry_api_request(r, put, what, q, 0, NULL, err);
	}
	free(put);
	free(url);
	free(q);
	return rc;
}

clip_err
clip_registry_put_manifest(clip_registry *r, const char *ref, const char *media_type,
    const void *data, size_t len, const char *if_match, long *status, int *subject_handled,
    struct clip_error *err)
{
	struct clip_http_request *q;
	char *url = NULL, what[200];
	clip_err rc;

	*status = 0;
	*subject_handled = 0;
	if (strchr(ref, ':') != NULL ? clip_digest_check(ref, "manifest digest", err) != CLIP_OK :
	    !clip_ref_tag_valid(ref))
		return clip_error_set(err, CLIP_ERR_INVALID, "bad manifest reference \"%.130s\"",
		    ref);
	if (len > CLIP_MANIFEST_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "manifest of %zu bytes", len);
	snprintf(what, sizeof(what), "manifests/%s", ref);
	if ((q = request_new(r, "PUT", what, &url, err)) == NULL)
		return CLIP_ERR_NOMEM;
	q->upload = data;
	q->upload_len = len;
	q->upload_type = media_type;
	q->if_match = if_match;
	rc = registry_api_request(r, url, what, q, 0, NULL, err);
	*status = q->status;
	*subject_handled = rc == CLIP_OK && q->oci_subject;
	free(url);
	free(q);
	return rc;
}

clip_err
clip_registry_get_referrers(clip_registry *r, const char *digest,
    struct clip_fetched_manifest *out, struct clip_error *err)
{
	char path[120];
	clip_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = clip_digest_check(digest, "subject digest", err)) != CLIP_OK)
		return rc;
	snprintf(path, sizeof(path), "referrers/%s", digest);
	rc = registry_get_document(r, path, CLIP_MT_OCI_INDEX, out, err);
	if (rc == CLIP_OK)
		rc = clip_registry_follow_pages(r, out, err);
	return rc;
}

/* The URL of a next page named link: a path on r's host, or a URL on
 * it (r's scheme and host); malloc'ed, or NULL with err set. */
static char *
page_url(clip_registry *r, const char *link, struct clip_error *err)
{
	const char *host_end = strchr(strstr(r->base, "://") + 3, '/');
	size_t origin = (size_t)(host_end - r->base);
	char *url = NULL;

	if (link[0] == '/' && link[1] != '/') {
		if (asprintf(&url, "%.*s%s", (int)origin, r->base, link) < 0)
			url = NULL;
	} else if (strncmp(link, r->base, origin) == 0 && link[origin] == '/') {
		url = strdup(link);
	} else {
		clip_error_set(err, CLIP_ERR_PROTOCOL, "referrers: the next page %.200s is not on "
		    "%s", link, r->host);
		return NULL;
	}
	if (url == NULL)
		clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	return url;
}

/* Appends the page at url to out's list; out->next becomes the page's. */
static clip_err
append_page(clip_registry *r, const char *url, struct clip_fetched_manifest *out,
    struct clip_error *err)
{
	struct clip_fetched_manifest page;
	char *merged = NULL;
	clip_err rc;

	rc = registry_get_document_at(r, url, "referrers (next page)", CLIP_MT_OCI_INDEX, &page,
	    err);
	if (rc == CLIP_OK)
		rc = clip_referrers_concat(out->data, out->len, page.data, page.len, &merged, err);
	if (rc == CLIP_OK) {
		free(out->data);
		out->data = (uint8_t *)merged;
		out->len = strlen(merged);
		snprintf(out->next, sizeof(out->next), "%s", page.next);
	}
	clip_fetched_manifest_free(&page);
	return rc;
}

clip_err
clip_registry_follow_pages(clip_registry *r, struct clip_fetched_manifest *out,
    struct clip_error *err)
{
	char *seen[CLIP_REFERRERS_PAGES_MAX];
	size_t n = 0, i;
	clip_err rc = CLIP_OK;

	while (rc == CLIP_OK && out->next[0] != '\0') {
		if (n + 1 >= CLIP_REFERRERS_PAGES_MAX) {
			rc = clip_error_set(err, CLIP_ERR_TOOBIG, "referrers: more than %d pages",
			    CLIP_REFERRERS_PAGES_MAX);
			break;
		}
		if ((seen[n] = page_url(r, out->next, err)) == NULL) {
			rc = err != NULL ? err->code : CLIP_ERR_PROTOCOL;
			break;
		}
		for (i = 0; i < n && strcmp(seen[i], seen[n]) != 0; i++)
			;
		if (i < n) {
			rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "referrers: page %zu links back "
			    "to page %zu (%.200s)", n + 2, i + 2, out->next);
			n++;
			break;
		}
		rc = append_page(r, seen[n++], out, err);
	}
	while (n > 0)
		free(seen[--n]);
	if (rc != CLIP_OK)
		clip_fetched_manifest_free(out);
	return rc;
}
