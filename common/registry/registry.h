/*
 * registry.h - a client for one repository on an OCI distribution
 * registry (https://github.com/opencontainers/distribution-spec).
 *
 * One clip_registry handle per (registry host, repository).  It keeps a
 * small pool of libcurl easy handles (each keeps its connections alive,
 * HTTP/2 when the server offers it over TLS), a shared DNS and TLS
 * session cache, and the Bearer token (fetched on the first 401, reused
 * until it expires, refreshed on a 401).
 *
 * Thread safety: after clip_registry_open() returns, every function
 * below may be called from any number of threads at once on the same
 * handle; clip_registry_close() must not race with them.  The program
 * must call clip_registry_global_init() once, before it starts threads,
 * and may call clip_registry_global_cleanup() at exit.
 *
 * Requests: redirects are followed (at most 5; an https registry is only
 * redirected to https); Authorization is never sent to a host other than
 * the registry's (libcurl's auth rules, never a hand-made header).
 * Connection failures, timeouts, 429 and 5xx are retried with
 * exponential backoff up to max_retries times; a streamed blob resumes
 * where it stopped with a Range request.  Nothing waits forever: connect
 * timeout, stall timeout (less than 1 byte/s for low_speed_time_s), and a
 * total timeout for small requests.  Bodies read into memory are capped
 * (manifests CLIP_MANIFEST_MAX, configs CLIP_CONFIG_MAX, token replies
 * 64 KiB).  Error messages carry the URL path and the registry's error
 * code, never credentials or tokens.
 */
#ifndef CLIP_REGISTRY_H
#define CLIP_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/oci/blob_source.h"
#include "common/util/error.h"
#include "common/oci/oci_digest.h"

typedef struct clip_registry clip_registry;

struct clip_registry_opts {
	int plain_http;            /* http:// instead of https:// */
	int tls_verify;            /* verify certificate and host name (default 1) */
	const char *cacert;        /* PEM CA file; NULL: CERTS_DIR/HOST/ca.crt if
	                              it exists, else the system store */
	const char *certs_dir;     /* NULL: /etc/containers/certs.d */
	const char *username;      /* NULL: anonymous */
	const char *password;
	long connect_timeout_s;    /* default 15 */
	long low_speed_time_s;     /* a transfer stalled this long fails; default 30 */
	long request_timeout_s;    /* total, for manifests/configs/tokens; default 120 */
	int max_retries;           /* default 4; 0 = one attempt */
	int push;                  /* ask tokens for pull,push (default: pull) */
	int whole_blob_fails;      /* a 200 (the whole blob) to a ranged read
	                              that does not start at byte 0 fails at
	                              once, CLIP_ERR_UNSUPPORTED, its body
	                              unread: for a mirror that has not cached
	                              the blob yet, when another host can serve
	                              the range (default 0: skip to the range) */
};

/* Fills in the defaults above. */
void clip_registry_opts_init(struct clip_registry_opts *o);

/* curl_global_init(); call once from main() before any thread starts. */
clip_err clip_registry_global_init(struct clip_error *err);
void clip_registry_global_cleanup(void);

/*
 * api_host is "HOST[:PORT]" (struct clip_reference.api_host), repository
 * "library/alpine".  Copies everything it needs from opts (the strings
 * too).  No network traffic happens here.  CLIP_ERR_INVALID, NOMEM.
 */
clip_err clip_registry_open(const char *api_host, const char *repository,
    const struct clip_registry_opts *opts, clip_registry **out,
    struct clip_error *err);

/* NULL is fine. */
void clip_registry_close(clip_registry *r);

/*
 * GET /v2/ on r's host, once, without credentials, in at most
 * timeout_ms: CLIP_OK for any HTTP answer (a 401 too: the host speaks
 * this scheme), else the transport's error (CLIP_ERR_NETWORK,
 * CLIP_ERR_TIMEOUT).  For deciding how to talk to a host.
 */
clip_err clip_registry_ping(clip_registry *r, long timeout_ms, struct clip_error *err);

/* 1 when r talks plain HTTP, 0 for HTTPS. */
int clip_registry_plain_http(const clip_registry *r);

/* A fetched manifest.  Free with clip_fetched_manifest_free(). */
struct clip_fetched_manifest {
	uint8_t *data;
	size_t len;
	char *media_type;   /* Content-Type without parameters, or the
	                       document's mediaType when Content-Type is not a
	                       manifest type; never NULL on success */
	char digest[CLIP_DIGEST_BUFSZ];  /* sha256 of data */
	char etag[256];     /* the response's ETag, or "" */
	char next[1024];    /* the response's Link rel="next" URI, or "" */
};

void clip_fetched_manifest_free(struct clip_fetched_manifest *m);

/*
 * GET /v2/REPO/manifests/TAG_OR_DIGEST with an Accept header for OCI
 * manifests and indexes and Docker schema 2 manifests and lists.  When
 * tag_or_digest is a digest the bytes are verified against it
 * (CLIP_ERR_CHECKSUM).  Errors: CLIP_ERR_NOTFOUND (404),
 * CLIP_ERR_AUTH (401/403 after auth), CLIP_ERR_TOOBIG, CLIP_ERR_HTTP,
 * CLIP_ERR_NETWORK, CLIP_ERR_TIMEOUT, CLIP_ERR_INVALID (bad tag).
 */
clip_err clip_registry_get_manifest(clip_registry *r, const char *tag_or_digest,
    struct clip_fetched_manifest *out, struct clip_error *err);

/*
 * GET a whole blob into memory (at most max bytes, else CLIP_ERR_TOOBIG)
 * and verify its digest.  *data is malloc'ed (NUL-terminated for
 * convenience, the NUL not counted in *len).
 */
clip_err clip_registry_get_blob(clip_registry *r, const char *digest, size_t max,
    uint8_t **data, size_t *len, struct clip_error *err);

/*
 * Called with the blob's bytes in order, as they arrive.  Return 0 to go
 * on, anything else to stop (clip_registry_stream_blob then returns
 * CLIP_ERR_CANCELLED).
 */
typedef int (*clip_blob_sink)(void *ctx, const void *buf, size_t len);

/*
 * Streams a whole blob to sink, verifying the digest at the end (so the
 * sink has seen every byte before it learns of a CLIP_ERR_CHECKSUM; it
 * must not trust them before this returns CLIP_OK).  If expected_size is
 * not UINT64_MAX, a blob of another length fails (CLIP_ERR_IMAGE).  A
 * connection lost mid-way is resumed from the next byte.
 */
clip_err clip_registry_stream_blob(clip_registry *r, const char *digest,
    uint64_t expected_size, clip_blob_sink sink, void *ctx,
    struct clip_error *err);

/*
 * Reads exactly len bytes at offset off of a blob into buf (no digest
 * check: the caller verifies ranges its own way).  Uses Range; a server
 * that answers 200 with the whole blob is handled (the slice is taken,
 * the rest is not downloaded), or refused (opts.whole_blob_fails).  A blob that ends before off+len gives
 * CLIP_ERR_PROTOCOL ("short body") or CLIP_ERR_HTTP (416).  len 0 is a
 * no-op.
 */
clip_err clip_registry_read_range(clip_registry *r, const char *digest,
    uint64_t off, size_t len, void *buf, struct clip_error *err);
/* The same, calling progress(arg, have) as the bytes land in buf (see
 * blob_source.h: a retry may start lower again). */
clip_err clip_registry_read_range_progress(clip_registry *r, const char *digest,
    uint64_t off, size_t len, void *buf, clip_fetch_progress_fn progress, void *arg,
    struct clip_error *err);

/* Fills src so that the reader fetches layer bytes from r (ranged reads,
 * with progress); valid until clip_registry_close(r). */
void clip_registry_blob_source(clip_registry *r, struct clip_blob_source *src);

/* ---- writing (registry_write.c); open the handle with opts.push ---- */

/* HEAD /v2/REPO/blobs/DIGEST: *exists 1 (2xx) or 0 (404). */
clip_err clip_registry_blob_exists(clip_registry *r, const char *digest, int *exists,
    struct clip_error *err);

/*
 * Uploads len bytes as blob digest (POST, then one monolithic PUT; the
 * caller checked the digest, and the registry checks it again).  The
 * upload URL must stay on the registry's host (CLIP_ERR_PROTOCOL).
 */
clip_err clip_registry_put_blob(clip_registry *r, const char *digest, const void *data,
    size_t len, struct clip_error *err);

/*
 * PUT /v2/REPO/manifests/REF (a tag or the digest of data) with
 * Content-Type media_type.  if_match: an ETag the stored manifest must
 * still have (If-Match), or NULL.  *status is the last HTTP status
 * (412 when if_match no longer holds); *subject_handled is set when the
 * registry answered OCI-Subject (it keeps the referrers list itself).
 */
clip_err clip_registry_put_manifest(clip_registry *r, const char *ref, const char *media_type,
    const void *data, size_t len, const char *if_match, long *status, int *subject_handled,
    struct clip_error *err);

/*
 * GET /v2/REPO/referrers/DIGEST (the OCI distribution 1.1 referrers API):
 * an image index of the manifests whose subject is digest, all its pages
 * (clip_registry_follow_pages).  CLIP_ERR_NOTFOUND when the registry has
 * no such API (a 404).
 */
clip_err clip_registry_get_referrers(clip_registry *r, const char *digest,
    struct clip_fetched_manifest *out, struct clip_error *err);

/* Pages of a referrer list followed at most (the first one counted). */
#define CLIP_REFERRERS_PAGES_MAX 64

/*
 * out is an image index fetched from r whose answer named a next page
 * (out->next; nothing to do when ""): GETs each next page in turn and
 * appends its manifests to out's (clip_referrers_concat), until a page
 * names none.  A next page must be on r's host (a path, or r's own
 * scheme://host/): CLIP_ERR_PROTOCOL otherwise, and for a page named
 * twice (a loop) or a page that is not an image index; CLIP_ERR_TOOBIG
 * past CLIP_REFERRERS_PAGES_MAX pages.  out->digest and out->etag stay
 * the first page's; out->next ends "".  out is freed on error.
 */
clip_err clip_registry_follow_pages(clip_registry *r, struct clip_fetched_manifest *out,
    struct clip_error *err);

#endif
