/*
 * registry_int.h - what registry.c shares with registry_write.c: the
 * handle and the request loop (auth, retries, backoff).  Not a public API.
 */
#ifndef CLIP_REGISTRY_INT_H
#define CLIP_REGISTRY_INT_H

#include <pthread.h>
#include <time.h>

#include "common/registry/registry.h"
#include "common/registry/registry_http.h"
#include "common/registry/www_auth.h"

struct redirect;

struct clip_registry {
	struct clip_http http;
	char *host;
	char *repo;
	char *base;                /* "https://HOST/v2/REPO" */
	char *username, *password;
	long request_timeout_s;
	int max_retries;
	int push;                  /* tokens for pull,push */
	int whole_blob_fails;      /* opts.whole_blob_fails */

	/* Guarded by auth_lock.  gen changes whenever the credentials to
	 * send change, so that of many threads that got a 401 with the same
	 * credentials only one fetches a new token. */
	pthread_mutex_t auth_lock;
	enum clip_auth_scheme scheme;
	char *token;
	struct timespec token_expiry;
	unsigned gen;

	/* Where each blob was last redirected to (object storage), so that
	 * the next range of it skips the registry's round trip. */
	pthread_mutex_t redirect_lock;
	struct redirect *redirects;
};

/* The length of r->base's "SCHEME://HOST" (the registry's origin). */
size_t registry_origin_len(const clip_registry *r);

/* A response body in memory, at most max bytes (NUL-terminated). */
struct registry_membuf {
	uint8_t *data;
	size_t len, alloc, max;
};

/* A clip_http_body consume() for a registry_membuf. */
clip_err registry_membuf_consume(void *ctx, const uint8_t *buf, size_t len,
    struct clip_error *err);

/* The error for a non-2xx answer q to the request described by what. */
clip_err registry_status_error(clip_registry *r, const char *what,
    const struct clip_http_request *q, struct clip_error *err);

/*
 * One API request with auth, retries and backoff; q holds the method,
 * body and upload.  CLIP_OK for a 2xx (q->status), else the error.
 * restart: on a retry start the body over (pos 0, via reset) instead of
 * resuming with Range.
 */
clip_err registry_api_request(clip_registry *r, const char *url, const char *what,
    struct clip_http_request *q, int always_range, struct registry_membuf *restart,
    struct clip_error *err);

/* GET r->base/path (a manifest-like JSON document, at most
 * CLIP_MANIFEST_MAX) with Accept accept; digest and ETag filled in. */
clip_err registry_get_document(clip_registry *r, const char *path, const char *accept,
    struct clip_fetched_manifest *out, struct clip_error *err);

/* The same at url, a URL on r's host; path names it in messages. */
clip_err registry_get_document_at(clip_registry *r, const char *url, const char *path,
    const char *accept, struct clip_fetched_manifest *out, struct clip_error *err);

#endif
