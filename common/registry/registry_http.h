/*
 * registry_http.h - one HTTP request (GET, HEAD, POST or PUT) on a
 * pooled libcurl handle, for the registry client only (not a public API).
 *
 * The body of a 2xx response goes to a "body" that knows which absolute
 * blob bytes [pos, end) it still wants: it takes the right slice of a
 * 206 (by Content-Range) or of a 200 (skipping the prefix) and stops the
 * transfer as soon as it has them.  Bodies of other responses go to a
 * small error buffer, for the message.
 */
#ifndef CLIP_REGISTRY_HTTP_H
#define CLIP_REGISTRY_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/util/error.h"
#include "common/registry/www_auth.h"

#define CLIP_HTTP_POOL_MAX 16

/* The connection side of a clip_registry: pool and shared caches. */
struct clip_http {
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[CLIP_HTTP_POOL_MAX];
	int npool;
	/* settings applied to every request */
	int tls_verify;
	int https_only;            /* refuse redirects to http:// */
	char *cacert;              /* or NULL */
	long connect_timeout_s, low_speed_time_s;
};

clip_err clip_http_init(struct clip_http *h, struct clip_error *err);
void clip_http_cleanup(struct clip_http *h);

/* Where body bytes go.  consume() returns 0 or a clip_err to stop. */
struct clip_http_body {
	uint64_t pos;              /* next absolute byte wanted */
	uint64_t end;              /* stop before this (UINT64_MAX: to EOF) */
	clip_err (*consume)(void *ctx, const uint8_t *buf, size_t len,
	    struct clip_error *err);
	void *ctx;
};

#define CLIP_HTTP_ERRBODY_MAX 2048

struct clip_http_request {
	const char *url;
	const char *method;        /* NULL or "GET", "HEAD", "POST", "PUT" */
	const void *upload;        /* POST/PUT: the request body (may be NULL) */
	size_t upload_len;
	const char *upload_type;   /* its Content-Type, or NULL */
	const char *if_match;      /* an If-Match value (an ETag), or NULL */
	const char *accept;        /* or NULL */
	int use_range;             /* send Range: bytes=pos-[end-1] */
	int refuse_whole;          /* with use_range: a 200 (the whole body) is
	                              CLIP_ERR_UNSUPPORTED, not read */
	long total_timeout_ms;     /* the whole request; 0: none */
	/* authentication for this request (one of them, or none) */
	const char *bearer;
	const char *username, *password;
	struct clip_http_body *body;
	/* results */
	long status;
	char content_type[128];
	char www_auth[4096];       /* all WWW-Authenticate values, ", "-joined */
	long retry_after_s;
	char errbody[CLIP_HTTP_ERRBODY_MAX + 1];
	size_t errbody_len;
	char effective_url[4096];   /* empty if it did not fit */
	char location[4096];       /* the Location header, or "" */
	char etag[256];            /* the ETag header, or "" */
	char link_next[1024];      /* a Link header's rel="next" URI, or "" */
	int oci_subject;           /* an OCI-Subject header came back */
	/* private */
	int started, in_error, got_range;
	uint64_t resp_at;
	int done;
	clip_err sink_rc;
	struct clip_error sink_err;
};

/*
 * Performs the request (the name is historical: any method above).  Returns CLIP_OK when a response arrived (any
 * status; the caller looks at req->status) and, for 2xx, when the body
 * wanted was delivered or the response ended (body->pos tells how far
 * it got).  Transport failures: CLIP_ERR_NETWORK / CLIP_ERR_TIMEOUT with
 * *retryable set when trying again may help; a consume() error is
 * returned as is.
 */
clip_err clip_http_get(struct clip_http *h, struct clip_http_request *req,
    int *retryable, struct clip_error *err);

#endif
